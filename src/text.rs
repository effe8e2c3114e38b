//! How counts, ages and wall-clock times read in the lines nettool
//! prints for people: one place, so "1 probe", "2 probes", "1 address",
//! "41 ms ago" and "2026-12-06T16:30:01.234Z" read the same in every
//! command.

use std::time::{Duration, SystemTime};

/// `n` and its noun, singular or plural: `count(1, "probe")` is
/// "1 probe", `count(3, "address")` "3 addresses", `count(2, "entry")`
/// "2 entries", `count(0, "SYN")` "0 SYNs".
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {}", plural(noun))
    }
}

/// The plural of an English noun, by the regular rules (every noun
/// nettool counts follows them).
pub fn plural(noun: &str) -> String {
    let ends = |s: &str| noun.ends_with(s);
    if ends("s") || ends("x") || ends("ch") || ends("sh") {
        format!("{noun}es")
    } else if let Some(stem) = noun.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{stem}ies")
    } else {
        format!("{noun}s")
    }
}

/// An age or a time left, as a person reads it: "800 µs", "41 ms",
/// "1.5 s", "2 min 3 s", "1 h 5 min" (no more digits than say
/// something).
pub fn age(d: Duration) -> String {
    let us = d.as_micros();
    let s = d.as_secs();
    if us < 1000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{} ms", us / 1000)
    } else if s < 60 {
        let tenths = (us / 100_000) as u64;
        if tenths % 10 == 0 {
            format!("{} s", tenths / 10)
        } else {
            format!("{}.{} s", tenths / 10, tenths % 10)
        }
    } else if s < 3600 {
        match s % 60 {
            0 => format!("{} min", s / 60),
            r => format!("{} min {r} s", s / 60),
        }
    } else {
        match (s % 3600) / 60 {
            0 => format!("{} h", s / 3600),
            m => format!("{} h {m} min", s / 3600),
        }
    }
}

/// A wall-clock time as RFC 3339 in UTC with milliseconds
/// (`2026-12-06T16:30:01.234Z`): what a log line starts with, readable
/// by people and sortable, and lined up with a capture's times in any
/// time zone. Times before 1970 read as 1970.
pub fn utc(t: SystemTime) -> String {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, of_day) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01: the count is
/// moved to an era of 400 years (146,097 days) starting on a 1 March, so
/// that the leap day falls at the end of each year of the era.
fn civil(days: u64) -> (u64, u64, u64) {
    // 719,468 days from 0000-03-01 to 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // day of the era, 0..146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the year from 1 March
    let mp = (5 * doy + 2) / 153; // month from March, 0..11
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(0, "probe", "0 probes")]
    #[case(1, "probe", "1 probe")]
    #[case(2, "SYN", "2 SYNs")]
    #[case(1, "SYN", "1 SYN")]
    #[case(1, "address", "1 address")]
    #[case(253, "address", "253 addresses")]
    #[case(2, "entry", "2 entries")]
    #[case(2, "reply", "2 replies")]
    #[case(2, "retry", "2 retries")]
    #[case(3, "day", "3 days")]
    #[case(4, "hop", "4 hops")]
    fn counts_read_right(#[case] n: u64, #[case] noun: &str, #[case] want: &str) {
        assert_eq!(count(n, noun), want);
    }

    #[rstest]
    #[case(Duration::from_micros(800), "800 µs")]
    #[case(Duration::from_micros(41_000), "41 ms")]
    #[case(Duration::from_micros(41_999), "41 ms")]
    #[case(Duration::from_secs(1), "1 s")]
    #[case(Duration::from_millis(1500), "1.5 s")]
    #[case(Duration::from_secs(50), "50 s")]
    #[case(Duration::from_secs(123), "2 min 3 s")]
    #[case(Duration::from_secs(120), "2 min")]
    #[case(Duration::from_secs(3900), "1 h 5 min")]
    fn ages_read_right(#[case] d: Duration, #[case] want: &str) {
        assert_eq!(age(d), want);
    }

    #[rstest::rstest]
    #[case(0, 0, "1970-01-01T00:00:00.000Z")]
    #[case(951_782_400, 5, "2000-02-29T00:00:00.005Z")]
    #[case(1_709_164_799, 999, "2024-02-28T23:59:59.999Z")]
    #[case(1_709_251_200, 0, "2024-03-01T00:00:00.000Z")]
    #[case(1_798_761_600, 0, "2027-01-01T00:00:00.000Z")]
    #[case(4_107_542_400, 0, "2100-03-01T00:00:00.000Z")]
    fn wall_clock_times_read_as_rfc3339_utc(
        #[case] secs: u64,
        #[case] millis: u64,
        #[case] want: &str,
    ) {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis);
        assert_eq!(utc(t), want);
    }
}
