//! Clocks: where "now" comes from, monotonic and wall. The engine never
//! reads one; the driver and the links do, so this sits below both (the
//! in-memory link's virtual clock implements [`Clock`] too). Commands
//! take theirs from the caller ([`ClockSource`], in their `Env`), so the
//! same command runs on the system's clocks or on a virtual one. Also
//! the bridge that carries kernel packet timestamps, taken on the wall
//! clock, onto the monotonic time line.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::time::Instant;

/// A source of "now".
pub trait Clock {
    fn now(&mut self) -> Instant;

    /// The wall clock now, for what must outlive the process (the dates
    /// of ARP cache entries). A clock with no wall clock of its own (a
    /// test's) counts its time line from the Unix epoch.
    fn wall(&mut self) -> SystemTime {
        UNIX_EPOCH + (self.now() - Instant::ZERO)
    }

    /// [`Clock::wall`] in milliseconds since the Unix epoch, as the ARP
    /// cache dates its entries.
    fn unix_ms(&mut self) -> u64 {
        millis_since_epoch(self.wall())
    }

    /// The wall clock read against this one, to carry kernel packet
    /// stamps onto its time line; `None` for a clock that has no wall
    /// clock beside it (a virtual one).
    fn anchor(&self) -> Option<WallAnchor> {
        None
    }
}

/// Hands out clocks on one time line: the system's, or a test's virtual
/// one. A command takes its clocks from here (its `Env` holds one) and
/// never makes its own, so the same command runs on either; each handle
/// is a clock of its own for the driver to hold while the command writes.
pub trait ClockSource {
    fn clock(&self) -> Box<dyn Clock>;
}

/// A clock whose clones read one time line is a source of them.
impl<C: Clock + Clone + 'static> ClockSource for C {
    fn clock(&self) -> Box<dyn Clock> {
        Box::new(self.clone())
    }
}

/// The system's monotonic clock, with its epoch at construction (a clone
/// keeps the epoch, so two clones read one time line).
#[derive(Clone)]
pub struct SystemClock {
    epoch: std::time::Instant,
}

impl SystemClock {
    pub fn new() -> SystemClock {
        SystemClock {
            epoch: std::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&mut self) -> Instant {
        Instant::from_micros(u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    fn wall(&mut self) -> SystemTime {
        SystemTime::now()
    }

    fn anchor(&self) -> Option<WallAnchor> {
        Some(self.wall_anchor())
    }
}

impl SystemClock {
    /// Reads the wall clock between two readings of this clock, to carry
    /// kernel packet timestamps (taken on `CLOCK_REALTIME`) onto this
    /// clock's time line. A reading that was interrupted (the two
    /// monotonic readings more than [`WallAnchor::TIGHT`] apart) is taken
    /// again, up to three times; the tightest is kept.
    pub fn wall_anchor(&self) -> WallAnchor {
        let mut best: Option<WallAnchor> = None;
        for _ in 0..3 {
            let t0 = self.epoch.elapsed();
            let wall = std::time::SystemTime::now();
            let t1 = self.epoch.elapsed();
            let anchor = WallAnchor::new(wall, t0, t1);
            if best.is_none_or(|b| anchor.slack < b.slack) {
                best = Some(anchor);
            }
            if anchor.slack <= WallAnchor::TIGHT / 2 {
                break;
            }
        }
        best.expect("at least one reading")
    }
}

/// The wall clock and the monotonic clock read at (nearly) one moment.
///
/// Linux slews `CLOCK_REALTIME` and `CLOCK_MONOTONIC` alike, so their
/// difference changes only when the wall clock is stepped: a stamp carried
/// over through any anchor lands within the anchors' [`WallAnchor::slack`]
/// (tens of nanoseconds) of where any other would put it, and the
/// difference of two carried stamps is the difference the kernel measured.
/// A step between a stamp and its anchor shifts it by the step; callers
/// bound the result by monotonic readings of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallAnchor {
    /// Wall-clock nanoseconds since the Unix epoch.
    wall_ns: i128,
    /// Nanoseconds since the clock's epoch, halfway between the readings
    /// before and after the wall clock's.
    mono_ns: i128,
    /// Half the time between those two readings: how far off the pairing
    /// can be.
    slack: Duration,
}

impl WallAnchor {
    /// Readings further apart than this were interrupted.
    pub const TIGHT: Duration = Duration::from_micros(1);

    /// The wall clock read at `wall`, between this clock's readings
    /// `before` and `after` (durations since its epoch).
    pub fn new(wall: std::time::SystemTime, before: Duration, after: Duration) -> WallAnchor {
        let (b, a) = (before.as_nanos() as i128, after.as_nanos() as i128);
        WallAnchor {
            wall_ns: unix_nanos(wall),
            mono_ns: (b + a) / 2,
            slack: after.saturating_sub(before) / 2,
        }
    }

    /// How far off the pairing of the two clocks can be.
    pub fn slack(&self) -> Duration {
        self.slack
    }

    /// `stamp` on the monotonic time line, or `None` when that falls
    /// before the clock's epoch.
    pub fn instant(&self, stamp: std::time::SystemTime) -> Option<Instant> {
        let mono_ns = self.mono_ns + (unix_nanos(stamp) - self.wall_ns);
        u64::try_from(mono_ns.div_euclid(1000))
            .ok()
            .map(Instant::from_micros)
    }
}

/// Carries kernel stamps onto the monotonic time line through the
/// tightest [`WallAnchor`] seen so far.
///
/// One reading of the two clocks can be interrupted between its parts
/// (by an interrupt, by the hypervisor), and is then off by up to the
/// interruption. Since the difference of the clocks holds until the wall
/// clock is stepped, the tightest reading serves for every stamp after it;
/// a fresh reading is taken for each stamp anyway, only to notice a step.
#[derive(Debug, Clone, Copy, Default)]
pub struct WallBridge {
    kept: Option<WallAnchor>,
}

impl WallBridge {
    /// Gaps between the clocks that two readings may disagree on beyond
    /// their slack before the wall clock counts as stepped.
    const STEP: Duration = Duration::from_micros(1);

    /// The anchor to carry a stamp with, given a `fresh` reading: the kept
    /// one, unless the fresh one is tighter or disagrees with it (the wall
    /// clock was stepped), in which case the fresh one is kept instead.
    pub fn anchor(&mut self, fresh: WallAnchor) -> WallAnchor {
        let keep = match self.kept {
            Some(kept) if kept.agrees(&fresh) && kept.slack <= fresh.slack => kept,
            _ => fresh,
        };
        self.kept = Some(keep);
        keep
    }
}

impl WallAnchor {
    /// Whether both readings see the same difference between the clocks,
    /// as far as their slack lets them tell.
    fn agrees(&self, other: &WallAnchor) -> bool {
        let gap = ((self.wall_ns - self.mono_ns) - (other.wall_ns - other.mono_ns)).unsigned_abs();
        gap <= (self.slack + other.slack + WallBridge::STEP).as_nanos()
    }
}

/// Nanoseconds from the Unix epoch to `t`, negative before it.
fn unix_nanos(t: std::time::SystemTime) -> i128 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// Wall-clock milliseconds since the Unix epoch, for what must outlive the
/// process (cache entries) where no [`Clock`] is at hand; commands ask
/// theirs ([`Clock::unix_ms`]).
pub fn unix_now_ms() -> u64 {
    millis_since_epoch(SystemTime::now())
}

/// Milliseconds from the Unix epoch to `t` (0 before it).
fn millis_since_epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    fn wall(ns: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(ns)
    }

    #[test]
    fn stamps_keep_their_distance_from_the_anchor() {
        // Wall 1 000 s + 500 ns read between monotonic 20.000 and 20.001 ms.
        let a = WallAnchor::new(
            wall(1_000_000_000_500),
            Duration::from_micros(20_000),
            Duration::from_micros(20_001),
        );
        assert_eq!(a.slack(), Duration::from_nanos(500));
        // The anchor's own instant: 20 000.5 µs, counted in whole µs.
        assert_eq!(
            a.instant(wall(1_000_000_000_500)),
            Some(Instant::from_micros(20_000))
        );
        // 85.25 µs earlier and 3 s later, to the nanosecond before rounding.
        assert_eq!(
            a.instant(wall(1_000_000_000_500 - 85_250)),
            Some(Instant::from_micros(19_915))
        );
        assert_eq!(
            a.instant(wall(1_003_000_000_500)),
            Some(Instant::from_micros(3_020_000))
        );
        // Before the clock's epoch, even by a nanosecond: no instant.
        assert_eq!(a.instant(wall(999_000_000_000)), None);
        assert_eq!(a.instant(wall(1_000_000_000_500 - 20_000_501)), None);
        assert_eq!(
            a.instant(wall(1_000_000_000_500 - 20_000_500)),
            Some(Instant::ZERO)
        );
    }

    #[test]
    fn the_difference_of_two_stamps_survives_two_anchors() {
        // Two anchors of the same clocks, taken 1 s apart.
        let a = WallAnchor::new(
            wall(5_000_000_000_000),
            Duration::from_millis(10),
            Duration::from_millis(10),
        );
        let b = WallAnchor::new(
            wall(5_001_000_000_000),
            Duration::from_millis(1010),
            Duration::from_millis(1010),
        );
        let sent = wall(5_000_500_000_000);
        let back = wall(5_000_500_042_000);
        let rtt = b.instant(back).unwrap() - a.instant(sent).unwrap();
        assert_eq!(rtt, Duration::from_micros(42));
    }

    #[test]
    fn the_bridge_keeps_the_tightest_reading_until_the_wall_clock_steps() {
        let mono = |us: u64| Duration::from_micros(us);
        // Wall = monotonic + 1 000 s, read with 10 µs, then 0, then 4 µs of slack.
        let loose = WallAnchor::new(wall(1_000_000_050_000), mono(40), mono(60));
        let tight = WallAnchor::new(wall(1_000_000_100_000), mono(100), mono(100));
        let later = WallAnchor::new(wall(1_000_000_205_000), mono(200), mono(208));
        let mut b = WallBridge::default();
        assert_eq!(b.anchor(loose), loose);
        assert_eq!(b.anchor(tight), tight, "tighter: kept from now on");
        assert_eq!(
            b.anchor(later),
            tight,
            "agrees within its slack: the tight one serves"
        );
        // The wall clock jumps 1 s ahead: the old reading no longer holds.
        let stepped = WallAnchor::new(wall(1_001_000_300_000), mono(300), mono(302));
        assert_eq!(b.anchor(stepped), stepped);
        assert_eq!(
            b.anchor(later),
            later,
            "and back: the reading now is what holds"
        );
    }

    /// A clock with no wall clock of its own.
    struct Fixed(Instant);

    impl Clock for Fixed {
        fn now(&mut self) -> Instant {
            self.0
        }
    }

    #[test]
    fn a_clock_without_a_wall_clock_counts_from_the_unix_epoch() {
        let mut c = Fixed(Instant::from_micros(1_234_567));
        assert_eq!(c.wall(), wall(1_234_567_000));
        assert_eq!(c.unix_ms(), 1234);
    }

    #[test]
    fn handles_from_a_source_read_one_time_line() {
        let source = SystemClock::new();
        let (mut a, mut b) = (source.clock(), source.clock());
        let first = a.now();
        assert!(b.now() >= first);
        // Both near the source's epoch, not each at one of its own.
        assert!(a.now() < Instant::from_micros(60_000_000));
        let wall = a.unix_ms();
        assert!(wall.abs_diff(unix_now_ms()) < 60_000, "{wall}");
    }

    #[test]
    fn a_live_anchor_is_tight_and_places_now_now() {
        let clock = SystemClock::new();
        let a = clock.wall_anchor();
        let now = clock.epoch.elapsed();
        let placed = a.instant(SystemTime::now()).unwrap();
        let later = clock.epoch.elapsed();
        // Only a machine preempted three times in a row fails this.
        assert!(a.slack() <= Duration::from_millis(1), "{a:?}");
        let (lo, hi) = (now.as_micros() as u64, later.as_micros() as u64);
        let slack = a.slack().as_micros() as u64 + 1;
        assert!(
            (lo.saturating_sub(slack)..=hi + slack).contains(&placed.total_micros()),
            "{placed:?} not within {lo}..={hi} µs"
        );
    }
}
