//! What `nettool load` needs beyond the engine, pure and on the caller's
//! clock: a [`Pacer`] that says how many connections may open now, and
//! [`Latencies`], the connect times in a fixed histogram and their
//! percentiles.

use std::time::Duration;

use crate::time::Instant;

/// How many openings are allowed: at most `rate` per second (a token
/// bucket holding at most a tenth of a second's worth, so a late turn
/// catches up without a burst), and at most `window` in handshake at
/// once (which alone paces the run when there is no rate: as fast as
/// the peer answers).
#[derive(Debug, Clone)]
pub struct Pacer {
    rate: Option<u32>,
    window: usize,
    tokens: f64,
    last: Option<Instant>,
}

impl Pacer {
    pub fn new(rate: Option<u32>, window: usize) -> Pacer {
        Pacer {
            rate: rate.filter(|r| *r > 0),
            window: window.max(1),
            tokens: 0.0,
            last: None,
        }
    }

    fn burst(rate: u32) -> f64 {
        (f64::from(rate) / 10.0).max(1.0)
    }

    /// How many may open at `now` with `in_handshake` under way; the
    /// caller opens them and says so with [`Pacer::opened`].
    pub fn allowed(&mut self, now: Instant, in_handshake: usize) -> usize {
        let room = self.window.saturating_sub(in_handshake);
        let Some(rate) = self.rate else {
            return room;
        };
        match self.last {
            // The first turn: one may go at once.
            None => self.tokens = 1.0,
            Some(last) if now > last => {
                let dt = (now - last).as_secs_f64();
                self.tokens = (self.tokens + dt * f64::from(rate)).min(Self::burst(rate));
            }
            Some(_) => {}
        }
        self.last = Some(self.last.map_or(now, |l| l.max(now)));
        room.min(self.tokens as usize)
    }

    /// `n` were opened.
    pub fn opened(&mut self, n: usize) {
        if self.rate.is_some() {
            self.tokens = (self.tokens - n as f64).max(0.0);
        }
    }

    /// When the next opening is allowed, if the rate is what holds it
    /// back (the window frees when a handshake ends, an event).
    pub fn next_at(&self) -> Option<Instant> {
        let rate = self.rate?;
        let last = self.last?;
        let missing = (1.0 - self.tokens).max(0.0);
        Some(last + Duration::from_secs_f64(missing / f64::from(rate)))
    }
}

/// Sub-buckets per power of two in [`Latencies`]: a bucket is at most
/// 1/128 of the values it holds wide.
const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
/// Buckets for every `u32` of microseconds: exact below 256 µs, then
/// 128 per power of two (the last, 2^31 to 2^32 - 1, ends at index 3327).
const BUCKETS: usize = (33 - SUB_BITS as usize) * SUB;

/// Connect times (SYN sent to ESTABLISHED) in a fixed log-linear
/// histogram of microseconds: 13 KiB whatever the count, where a sample
/// a connection (four bytes each, in a vector that doubles) grew with
/// the run and stayed held through it. Below 256 µs each microsecond has
/// its bucket; above, each power of two is cut in 128, so a percentile
/// read as its bucket's upper end is never below the exact nearest-rank
/// value and above it by less than 1/128 of it ([`ERROR_BOUND`]). The
/// largest is kept exactly.
#[derive(Debug, Clone)]
pub struct Latencies {
    counts: Box<[u32; BUCKETS]>,
    n: u64,
    max: u32,
}

/// How far above the exact nearest-rank value a percentile of
/// [`Latencies`] may be, as a fraction of it.
pub const ERROR_BOUND: f64 = 1.0 / SUB as f64;

/// The summary's percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Default for Latencies {
    fn default() -> Latencies {
        Latencies {
            counts: Box::new([0; BUCKETS]),
            n: 0,
            max: 0,
        }
    }
}

/// The bucket of `v` µs, and back: the values a bucket holds, `lo` to
/// `hi` inclusive.
fn bucket(v: u32) -> usize {
    let shift = (31 - v.max(1).leading_zeros()).saturating_sub(SUB_BITS);
    shift as usize * SUB + (v >> shift) as usize
}

fn bounds(index: usize) -> (u32, u32) {
    let shift = (index / SUB).saturating_sub(1) as u32;
    let lo = ((index - shift as usize * SUB) as u64) << shift;
    let hi = lo + (1u64 << shift) - 1;
    (lo as u32, hi.min(u64::from(u32::MAX)) as u32)
}

impl Latencies {
    pub fn record(&mut self, took: Duration) {
        let v = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        let b = &mut self.counts[bucket(v)];
        *b = b.saturating_add(1);
        self.n += 1;
        self.max = self.max.max(v);
    }

    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The nearest-rank `p`th percentile, as its bucket's upper end (never
    /// above the largest seen); `None` before any connection.
    fn percentile(&self, p: u64) -> Option<u32> {
        if self.n == 0 {
            return None;
        }
        let rank = (p * self.n).div_ceil(100).max(1);
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                return Some(bounds(i).1.min(self.max));
            }
        }
        Some(self.max)
    }

    /// p50, p90, p99 (within [`ERROR_BOUND`] above the exact ones) and the
    /// exact maximum; `None` before any connection.
    pub fn percentiles(&self) -> Option<Percentiles> {
        let us = |v: u32| Duration::from_micros(u64::from(v));
        Some(Percentiles {
            p50: us(self.percentile(50)?),
            p90: us(self.percentile(90)?),
            p99: us(self.percentile(99)?),
            max: us(self.max),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn without_a_rate_the_window_alone_paces() {
        let mut p = Pacer::new(None, 100);
        assert_eq!(p.allowed(at(0), 0), 100);
        assert_eq!(p.allowed(at(0), 60), 40);
        assert_eq!(p.allowed(at(0), 100), 0);
        assert_eq!(p.allowed(at(0), 150), 0);
        assert_eq!(p.next_at(), None);
    }

    #[test]
    fn a_rate_allows_that_many_a_second() {
        let mut p = Pacer::new(Some(1000), 1_000_000);
        let mut opened = 0;
        // A turn every millisecond for a second.
        for ms in 0..=1000 {
            let n = p.allowed(at(ms), 0);
            p.opened(n);
            opened += n;
        }
        assert!((990..=1010).contains(&opened), "{opened} in a second");
    }

    #[test]
    fn a_late_turn_catches_up_only_a_tenth_of_a_second() {
        let mut p = Pacer::new(Some(1000), 1_000_000);
        let n = p.allowed(at(0), 0);
        p.opened(n);
        // Five seconds without a turn: a burst of 100, not 5000.
        assert_eq!(p.allowed(at(5000), 0), 100);
    }

    #[test]
    fn the_window_bounds_a_rate_too() {
        let mut p = Pacer::new(Some(1000), 10);
        p.allowed(at(0), 0);
        assert_eq!(p.allowed(at(1000), 5), 5);
    }

    #[test]
    fn the_next_opening_is_a_token_away() {
        let mut p = Pacer::new(Some(100), 10);
        let n = p.allowed(at(0), 0);
        p.opened(n);
        assert_eq!(p.next_at(), Some(at(10)));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut l = Latencies::default();
        assert_eq!(l.percentiles(), None);
        // Below 256 µs the buckets are exact.
        for us in (1..=100).rev() {
            l.record(Duration::from_micros(us));
        }
        let p = l.percentiles().unwrap();
        assert_eq!(p.p50, Duration::from_micros(50));
        assert_eq!(p.p90, Duration::from_micros(90));
        assert_eq!(p.p99, Duration::from_micros(99));
        assert_eq!(p.max, Duration::from_micros(100));
        assert_eq!(l.len(), 100);
    }

    #[test]
    fn one_latency_is_every_percentile() {
        let mut l = Latencies::default();
        l.record(Duration::from_micros(7_777_777));
        let p = l.percentiles().unwrap();
        let d = Duration::from_micros(7_777_777);
        assert_eq!((p.p50, p.p99, p.max), (d, d, d));
    }

    #[test]
    fn every_value_falls_in_a_bucket_that_holds_it() {
        let mut v = 0u32;
        loop {
            let (lo, hi) = bounds(bucket(v));
            assert!(lo <= v && v <= hi, "{v} in {lo}..={hi}");
            assert!(
                f64::from(hi - lo) <= f64::from(v) * ERROR_BOUND,
                "{v}: bucket {lo}..={hi} too wide"
            );
            if v == u32::MAX {
                break;
            }
            v = v.saturating_add(1 + v / 1000);
        }
        assert_eq!(bucket(u32::MAX), BUCKETS - 1);
        // Neighbouring buckets meet.
        for i in 1..BUCKETS {
            assert_eq!(bounds(i - 1).1 + 1, bounds(i).0, "bucket {i}");
        }
    }

    /// Exact nearest-rank percentiles of `samples`.
    fn exact(samples: &[u32], p: usize) -> u32 {
        let mut s = samples.to_vec();
        s.sort_unstable();
        s[(p * s.len()).div_ceil(100).max(1) - 1]
    }

    #[rstest::rstest]
    #[case::uniform_ms(10_000, 1, |i: u32| 1_000 + i % 9_000)]
    #[case::long_tail(100_000, 2, |i: u32| 300 + (i % 1000).pow(3) / 100)]
    #[case::seconds(5_000, 3, |i: u32| 1_000_000 + i % 5_000_000)]
    #[case::all_equal(1_000, 4, |_| 123_456)]
    #[case::tiny(1_000, 5, |i: u32| i % 300)]
    fn percentiles_are_the_exact_ones_within_the_bound(
        #[case] n: u32,
        #[case] seed: u32,
        #[case] f: fn(u32) -> u32,
    ) {
        // A fixed shuffle: the order of arrival does not matter.
        let samples: Vec<u32> = (0..n)
            .map(|i| f(i.wrapping_mul(2_654_435_761) ^ seed))
            .collect();
        let mut l = Latencies::default();
        for s in &samples {
            l.record(Duration::from_micros(u64::from(*s)));
        }
        let p = l.percentiles().unwrap();
        for (got, pct) in [(p.p50, 50), (p.p90, 90), (p.p99, 99)] {
            let want = exact(&samples, pct);
            let got = got.as_micros() as u32;
            assert!(got >= want, "p{pct}: {got} below the exact {want}");
            assert!(
                f64::from(got - want) <= f64::from(want) * ERROR_BOUND,
                "p{pct}: {got} for the exact {want}"
            );
        }
        assert_eq!(p.max.as_micros() as u32, *samples.iter().max().unwrap());
        assert_eq!(l.len(), u64::from(n));
    }
}
