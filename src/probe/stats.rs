//! Round-trip statistics, kept online (Welford's method): a flood of
//! millions of probes needs no list of samples.

use std::time::Duration;

/// min/avg/max/stddev of the round trips seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RttStats {
    count: u64,
    min: Duration,
    max: Duration,
    /// Running mean and sum of squared deviations, in microseconds.
    mean: f64,
    m2: f64,
}

impl RttStats {
    pub fn new() -> RttStats {
        RttStats::default()
    }

    pub fn add(&mut self, rtt: Duration) {
        self.count += 1;
        if self.count == 1 {
            self.min = rtt;
            self.max = rtt;
        } else {
            self.min = self.min.min(rtt);
            self.max = self.max.max(rtt);
        }
        let x = rtt.as_secs_f64() * 1e6;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn min(&self) -> Option<Duration> {
        (self.count > 0).then_some(self.min)
    }

    pub fn max(&self) -> Option<Duration> {
        (self.count > 0).then_some(self.max)
    }

    pub fn avg(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_secs_f64(self.mean / 1e6))
    }

    /// The population standard deviation, as ping prints it (`mdev`).
    pub fn stddev(&self) -> Option<Duration> {
        (self.count > 0)
            .then(|| Duration::from_secs_f64((self.m2 / self.count as f64).sqrt() / 1e6))
    }
}

/// Loss in percent: probes that got no answer, of those sent.
pub fn loss_percent(sent: u64, answered: u64) -> f64 {
    if sent == 0 {
        0.0
    } else {
        100.0 * sent.saturating_sub(answered) as f64 / sent as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn no_samples_no_figures() {
        let s = RttStats::new();
        assert_eq!(
            (s.min(), s.avg(), s.max(), s.stddev()),
            (None, None, None, None)
        );
    }

    #[rstest]
    #[case(&[100], 100, 100, 100, 0.0)]
    #[case(&[100, 200, 300], 100, 200, 300, 81.65)]
    #[case(&[2, 4, 4, 4, 5, 5, 7, 9], 2, 5, 9, 2.0)]
    #[case(&[50, 50, 50, 50], 50, 50, 50, 0.0)]
    fn figures_match_the_textbook(
        #[case] samples: &[u64],
        #[case] min: u64,
        #[case] avg: u64,
        #[case] max: u64,
        #[case] stddev_us: f64,
    ) {
        let mut s = RttStats::new();
        samples.iter().for_each(|&x| s.add(us(x)));
        assert_eq!(s.count(), samples.len() as u64);
        assert_eq!(s.min(), Some(us(min)));
        assert_eq!(s.max(), Some(us(max)));
        let avg_got = s.avg().unwrap().as_secs_f64() * 1e6;
        assert!((avg_got - avg as f64).abs() < 0.01, "{avg_got}");
        let sd = s.stddev().unwrap().as_secs_f64() * 1e6;
        assert!((sd - stddev_us).abs() < 0.01, "{sd}");
    }

    #[rstest]
    #[case(0, 0, 0.0)]
    #[case(4, 4, 0.0)]
    #[case(4, 3, 25.0)]
    #[case(3, 0, 100.0)]
    fn loss_is_a_percentage(#[case] sent: u64, #[case] got: u64, #[case] want: f64) {
        assert_eq!(loss_percent(sent, got), want);
    }
}
