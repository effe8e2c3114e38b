//! How counts and ages read in the lines nettool prints for people: one
//! place, so "1 probe", "2 probes", "1 address" and "41 ms ago" read the
//! same in every command.

use std::time::Duration;

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
}
