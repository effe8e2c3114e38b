//! What `nettool load` needs beyond the engine, pure and on the caller's
//! clock: a [`Pacer`] that says how many connections may open now, and
//! [`Latencies`], the connect times and their percentiles.

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

/// Connect times (SYN sent to ESTABLISHED), kept as microseconds: four
/// bytes a connection, sorted once for the summary.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    micros: Vec<u32>,
}

/// The summary's percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Latencies {
    pub fn record(&mut self, took: Duration) {
        self.micros
            .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
    }

    pub fn len(&self) -> usize {
        self.micros.len()
    }

    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// Nearest-rank percentiles; `None` before any connection.
    pub fn percentiles(&mut self) -> Option<Percentiles> {
        if self.micros.is_empty() {
            return None;
        }
        self.micros.sort_unstable();
        let n = self.micros.len();
        let rank = |p: usize| {
            let i = (p * n).div_ceil(100).max(1) - 1;
            Duration::from_micros(u64::from(self.micros[i]))
        };
        Some(Percentiles {
            p50: rank(50),
            p90: rank(90),
            p99: rank(99),
            max: Duration::from_micros(u64::from(self.micros[n - 1])),
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
        for ms in (1..=100).rev() {
            l.record(Duration::from_millis(ms));
        }
        let p = l.percentiles().unwrap();
        assert_eq!(p.p50, Duration::from_millis(50));
        assert_eq!(p.p90, Duration::from_millis(90));
        assert_eq!(p.p99, Duration::from_millis(99));
        assert_eq!(p.max, Duration::from_millis(100));
        assert_eq!(l.len(), 100);
    }

    #[test]
    fn one_latency_is_every_percentile() {
        let mut l = Latencies::default();
        l.record(Duration::from_micros(7));
        let p = l.percentiles().unwrap();
        let d = Duration::from_micros(7);
        assert_eq!((p.p50, p.p99, p.max), (d, d, d));
    }
}
