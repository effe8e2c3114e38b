//! Retransmission timeout estimation, RFC 6298.
//!
//! The estimator only does arithmetic. Karn's rule (§3: never take an RTT
//! sample from a retransmitted segment) is the caller's side of the
//! contract: the connection times one segment at a time and forgets the
//! measurement as soon as anything is retransmitted.

use std::time::Duration;

/// RFC 6298 §2.1: the RTO before any measurement.
pub const INITIAL_RTO: Duration = Duration::from_secs(1);
/// Lower bound. RFC 6298 §2.4 says 1 s; Linux uses 200 ms, and so does
/// nettool by default (configurable).
pub const MIN_RTO: Duration = Duration::from_millis(200);
/// Upper bound (RFC 6298 §2.5 allows a maximum of at least 60 s).
pub const MAX_RTO: Duration = Duration::from_secs(60);
/// Clock granularity G of §2: nettool's clock has microseconds, but a
/// floor keeps `4*RTTVAR` from collapsing to zero on a perfectly steady
/// simulated link.
pub const GRANULARITY: Duration = Duration::from_millis(1);

/// Bounds for the estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtoConfig {
    pub initial: Duration,
    pub min: Duration,
    pub max: Duration,
}

impl Default for RtoConfig {
    fn default() -> Self {
        RtoConfig {
            initial: INITIAL_RTO,
            min: MIN_RTO,
            max: MAX_RTO,
        }
    }
}

/// SRTT, RTTVAR and RTO of RFC 6298. The bounds ([`RtoConfig`]) are
/// passed in rather than kept: every connection has an estimator, and
/// the bounds are the (shared) configuration's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
}

impl RttEstimator {
    pub fn new(config: RtoConfig) -> Self {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: config.initial.clamp(config.min, config.max),
        }
    }

    /// SRTT, once a measurement exists.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// The current RTO, backoff included.
    pub fn rto(&self) -> Duration {
        self.rto
    }

    /// Folds in one measurement R (§2.2, §2.3) and recomputes the RTO,
    /// which also undoes any backoff (§5.7).
    pub fn sample(&mut self, r: Duration, bounds: &RtoConfig) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                // RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|, then
                // SRTT <- 7/8 SRTT + 1/8 R' (RTTVAR first, with the old SRTT).
                let delta = srtt.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + r) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        let rto = srtt + (self.rttvar * 4).max(GRANULARITY);
        self.rto = rto.clamp(bounds.min, bounds.max);
    }

    /// §5.5: on a retransmission timeout, double the RTO (up to the max).
    pub fn back_off(&mut self, bounds: &RtoConfig) {
        self.rto = (self.rto * 2).min(bounds.max);
    }
}

impl Default for RttEstimator {
    fn default() -> Self {
        RttEstimator::new(RtoConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn starts_at_one_second_and_doubles_up_to_the_max() {
        let mut e = RttEstimator::default();
        assert_eq!(e.rto(), ms(1000));
        let seen: Vec<u64> = (0..8)
            .map(|_| {
                e.back_off(&RtoConfig::default());
                e.rto().as_millis() as u64
            })
            .collect();
        assert_eq!(seen, [2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
    }

    #[test]
    fn first_sample_sets_srtt_and_half_rttvar() {
        let mut e = RttEstimator::default();
        e.sample(ms(100), &RtoConfig::default());
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), ms(50));
        // 100 + 4*50 = 300 ms.
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn later_samples_are_smoothed() {
        let mut e = RttEstimator::default();
        e.sample(ms(100), &RtoConfig::default());
        e.sample(ms(200), &RtoConfig::default());
        // RTTVAR = 3/4*50 + 1/4*100 = 62.5; SRTT = 7/8*100 + 1/8*200 = 112.5
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(362_500));
    }

    #[test]
    fn rto_is_clamped_to_the_minimum_and_a_sample_undoes_backoff() {
        let mut e = RttEstimator::default();
        e.back_off(&RtoConfig::default());
        e.back_off(&RtoConfig::default());
        assert_eq!(e.rto(), ms(4000));
        e.sample(ms(1), &RtoConfig::default());
        assert_eq!(e.rto(), MIN_RTO);
        let bounds = RtoConfig {
            min: ms(5),
            ..RtoConfig::default()
        };
        let mut fast = RttEstimator::new(bounds);
        fast.sample(ms(1), &bounds);
        assert_eq!(fast.rto(), ms(5));
    }
}
