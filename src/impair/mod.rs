//! The impairment relay: a seeded, counting, faulty wire for testing TCP.
//!
//! The relay bridges two interfaces at layer 2 (normally the two veths of a
//! middle network namespace) with one AF_PACKET socket on each. Every frame
//! read on one side is written to the other, except that IPv4/TCP frames go
//! through seeded per-direction decisions: drop, duplicate, corrupt (one
//! flipped bit, always caught by TCP's checksum), reorder (hold a frame
//! until K later frames have passed it, or for at most a hold time), delay,
//! and a blackhole scheduled by time or switched by a signal. ARP and
//! everything else pass untouched, so the two ends resolve each other
//! directly.
//!
//! Decisions come from one SplitMix64 generator per direction (the
//! simulator's [`crate::sim::Rng`]: a generator judges nothing, so unlike
//! the parsing and the sockets it need not be the relay's own), seeded from
//! `--seed`: the same seed and the same frame sequence give the same
//! decisions. Every decision is counted ([`Stats`]), written to a stats
//! file while the relay runs, and printed when it exits, so that a test can
//! prove the faults happened instead of passing vacuously.
//!
//! The relay parses frames itself ([`frame`]), independently of the
//! engine's `wire` module, and owns its sockets ([`socket`]) rather than
//! sharing `link`: a bug in either cannot hide a bug in the other.
//!
//! - [`core`]: the decisions, sans-IO (unit-tested without root);
//! - [`run`]: the event loop, signals and the stats file.

pub mod core;
pub mod frame;
pub mod run;
pub mod socket;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A direction across the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Read on the left interface, written to the right one.
    LeftToRight,
    /// Read on the right interface, written to the left one.
    RightToLeft,
}

impl Dir {
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dir::LeftToRight => "left→right",
            Dir::RightToLeft => "right→left",
        })
    }
}

/// The faults of one direction. Probabilities are per TCP frame.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    pub loss: f64,
    pub dup: f64,
    pub reorder: f64,
    pub corrupt: f64,
    /// Fixed delay added to every TCP frame (order is kept).
    pub delay: Duration,
}

/// Everything the relay does, apart from which interfaces it bridges.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub seed: u64,
    /// Indexed by [`Dir::index`].
    pub faults: [Faults; 2],
    /// A reordered frame is released once this many later frames of its
    /// direction have overtaken it…
    pub reorder_after: u32,
    /// …or when it has been held this long, whichever comes first.
    pub reorder_hold: Duration,
    /// The scheduled blackhole starts this long after the relay starts.
    pub blackhole_after: Option<Duration>,
    /// How long a blackhole lasts (scheduled or switched on by SIGUSR1);
    /// `None`: for ever (or, when switched on by hand, until the next SIGUSR1).
    pub blackhole_for: Option<Duration>,
    /// The blackhole swallows every frame, ARP included, not only IPv4/TCP.
    pub blackhole_all: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            seed: 1,
            faults: [Faults::default(); 2],
            reorder_after: 3,
            reorder_hold: Duration::from_millis(10),
            blackhole_after: None,
            blackhole_for: None,
            blackhole_all: false,
        }
    }
}

impl Config {
    /// The same faults in both directions.
    pub fn both(faults: Faults) -> Config {
        Config {
            faults: [faults; 2],
            ..Config::default()
        }
    }

    /// The command-line arguments of `nettool impair` that give this
    /// configuration (interfaces and stats file not included).
    pub fn to_args(&self) -> Vec<String> {
        let [l, r] = &self.faults;
        let mut args = vec!["--seed".to_string(), self.seed.to_string()];
        let pair = |a: String, b: String| if a == b { a } else { format!("{a}/{b}") };
        let ms = |d: Duration| format!("{}us", d.as_micros());
        for (flag, a, b) in [
            ("--loss", l.loss, r.loss),
            ("--dup", l.dup, r.dup),
            ("--reorder", l.reorder, r.reorder),
            ("--corrupt", l.corrupt, r.corrupt),
        ] {
            if a != 0.0 || b != 0.0 {
                args.push(flag.into());
                args.push(pair(a.to_string(), b.to_string()));
            }
        }
        if !l.delay.is_zero() || !r.delay.is_zero() {
            args.push("--delay".into());
            args.push(pair(ms(l.delay), ms(r.delay)));
        }
        args.push("--reorder-after".into());
        args.push(self.reorder_after.to_string());
        args.push("--reorder-hold".into());
        args.push(ms(self.reorder_hold));
        if let Some(d) = self.blackhole_after {
            args.push("--blackhole-after".into());
            args.push(ms(d));
        }
        if let Some(d) = self.blackhole_for {
            args.push("--blackhole-for".into());
            args.push(ms(d));
        }
        if self.blackhole_all {
            args.push("--blackhole-all".into());
        }
        args
    }
}

/// The counters of one direction. Every frame read is counted once in
/// `received`; then, for TCP, at most one of `blackholed` or `dropped`, or
/// it is forwarded (with a `duplicated` copy, `corrupted`, `reordered`,
/// `delayed` as decided). At any moment
/// `received + duplicated == forwarded + dropped + blackholed + queued`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirStats {
    /// Frames read.
    pub received: u64,
    /// Of those, IPv4/TCP frames (the ones impaired).
    pub tcp: u64,
    /// Of those, other frames (ARP, …), passed untouched unless blackholed.
    pub other: u64,
    /// Frames written (duplicates included).
    pub forwarded: u64,
    /// TCP frames dropped by `--loss`.
    pub dropped: u64,
    /// TCP frames sent twice.
    pub duplicated: u64,
    /// Copies with one bit flipped (payload, or the checksum of an empty segment).
    pub corrupted: u64,
    /// Copies held back for reordering…
    pub reordered: u64,
    /// …of which were overtaken by `--reorder-after` later frames (the
    /// rest were released by `--reorder-hold`).
    pub overtaken: u64,
    /// Copies put through `--delay`.
    pub delayed: u64,
    /// Frames swallowed by a blackhole.
    pub blackholed: u64,
    /// Partial (offloaded) TCP checksums the relay completed.
    pub checksum_completed: u64,
    /// Frames the kernel refused to send (counted out of `forwarded`).
    pub send_errors: u64,
    /// Frames longer than the read buffer.
    pub truncated: u64,
    /// Frames held or delayed right now.
    pub queued: u64,
}

/// Everything the relay has counted; the stats file holds one as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub elapsed_ms: u64,
    pub seed: u64,
    pub blackhole_active: bool,
    pub left_to_right: DirStats,
    pub right_to_left: DirStats,
    /// SIGUSR2s served so far: a reader that signals and then sees this
    /// number go up knows the file is newer than its signal.
    pub snapshots: u64,
    /// The relay has stopped; these are its last counts.
    pub finished: bool,
}

impl Stats {
    pub fn dir(&self, dir: Dir) -> &DirStats {
        match dir {
            Dir::LeftToRight => &self.left_to_right,
            Dir::RightToLeft => &self.right_to_left,
        }
    }

    /// The counts as a small table, for people.
    pub fn render(&self) -> String {
        type Row = (&'static str, fn(&DirStats) -> u64);
        let rows: [Row; 14] = [
            ("received", |s| s.received),
            ("tcp", |s| s.tcp),
            ("other", |s| s.other),
            ("forwarded", |s| s.forwarded),
            ("dropped", |s| s.dropped),
            ("duplicated", |s| s.duplicated),
            ("corrupted", |s| s.corrupted),
            ("reordered", |s| s.reordered),
            ("overtaken", |s| s.overtaken),
            ("delayed", |s| s.delayed),
            ("blackholed", |s| s.blackholed),
            ("checksum-completed", |s| s.checksum_completed),
            ("send-errors", |s| s.send_errors),
            ("queued", |s| s.queued),
        ];
        let mut out = format!(
            "{:<20}{:>12}{:>12}\n",
            format!("after {:.3} s", self.elapsed_ms as f64 / 1000.0),
            "left→right",
            "right→left"
        );
        for (name, get) in rows {
            let (a, b) = (get(&self.left_to_right), get(&self.right_to_left));
            out.push_str(&format!("{name:<20}{a:>12}{b:>12}\n"));
        }
        out
    }
}

/// Parses `P` (both directions) or `P/Q` (left→right P, right→left Q).
pub fn parse_pair<T: Copy>(
    text: &str,
    one: impl Fn(&str) -> Result<T, String>,
) -> Result<[T; 2], String> {
    match text.split_once('/') {
        Some((a, b)) => Ok([one(a)?, one(b)?]),
        None => {
            let v = one(text)?;
            Ok([v, v])
        }
    }
}

/// A probability, `0.02` or `2%`.
pub fn parse_probability(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (num, scale) = match t.strip_suffix('%') {
        Some(n) => (n, 0.01),
        None => (t, 1.0),
    };
    let p = num
        .parse::<f64>()
        .map_err(|_| format!("{text:?} is not a probability (try 0.02 or 2%)"))?
        * scale;
    if !(0.0..=1.0).contains(&p) {
        return Err(format!("{text:?} is not between 0 and 1"));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_probabilities_parse() {
        assert_eq!(parse_pair("0.02", parse_probability), Ok([0.02, 0.02]));
        assert_eq!(parse_pair("2%/0", parse_probability), Ok([0.02, 0.0]));
        assert!(parse_pair("1.5", parse_probability).is_err());
        assert!(parse_pair("x/0", parse_probability).is_err());
        assert!(parse_probability("-0.1").is_err());
    }

    #[test]
    fn stats_render_every_counter() {
        let mut s = Stats::default();
        s.left_to_right.corrupted = 7;
        let text = s.render();
        assert!(text.contains("corrupted"));
        assert!(
            text.lines()
                .any(|l| l.starts_with("corrupted") && l.contains(" 7 "))
        );
    }
}
