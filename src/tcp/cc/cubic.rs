//! CUBIC's congestion avoidance (RFC 9438). Windows are in segments, as
//! in the RFC; time in seconds. The caller owns cwnd and ssthresh in
//! octets and converts.

use std::time::Duration;

use crate::time::Instant;

/// C (RFC 9438 §5.1): how fast the window grows back, segments/s³.
pub const C: f64 = 0.4;
/// β_cubic (RFC 9438 §4.6): the window after a congestion event, as a
/// fraction of the window before it.
pub const BETA: f64 = 0.7;
/// α_cubic (RFC 9438 §4.3) below cwnd_prior: the additive increase, per
/// RTT, that gives the same average window as Reno's 1 and 0.5.
pub const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// W_cubic(t) = C·(t − K)³ + W_max (RFC 9438 §4.2, figure 1).
pub fn w_cubic(t: f64, k: f64, w_max: f64) -> f64 {
    C * (t - k).powi(3) + w_max
}

/// K = ∛((W_max − cwnd_epoch) / C) (RFC 9438 §4.2, figure 2): the time
/// the curve takes to come back to W_max. After a reduction by β it is
/// ∛(W_max·(1−β)/C). It is negative when the epoch starts above W_max
/// (after an undo, say), which puts the start on the convex side.
pub fn k(w_max: f64, cwnd_epoch: f64) -> f64 {
    ((w_max - cwnd_epoch) / C).cbrt()
}

/// One congestion avoidance stage ("epoch"): it starts at the first ACK
/// in congestion avoidance and ends at the next congestion event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Epoch {
    /// When the stage began; t of figure 1 counts from here.
    pub start: Instant,
    /// K of figure 2, seconds.
    pub k: f64,
    /// W_max this stage climbs back to.
    pub w_max: f64,
    /// W_est (RFC 9438 §4.3): the window Reno would have now.
    pub w_est: f64,
}

/// CUBIC's own state, kept across congestion avoidance stages.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cubic {
    /// W_max (RFC 9438 §4.6, §4.7): the window at the last congestion
    /// event, lowered by fast convergence. `None` before the first one and
    /// after a timeout (§4.8) or a slow start that ended without loss
    /// (§4.10): the next stage then takes its starting window as W_max,
    /// with K = 0.
    pub w_max: Option<f64>,
    /// cwnd_prior (§4.6): cwnd just before the last reduction; W_est
    /// grows at α_cubic until it reaches it, then at 1 (§4.3).
    pub cwnd_prior: f64,
    /// The current congestion avoidance stage, if one has begun.
    pub epoch: Option<Epoch>,
    /// Growth in octets not yet added to cwnd (a fraction of an octet
    /// per ACK would otherwise be lost to rounding).
    pub carry: f64,
}

impl Cubic {
    /// A congestion event (RFC 9438 §4.6, §4.7) with `cwnd` segments: W_max
    /// is the window now, or with fast convergence, when the window did not
    /// reach the previous W_max (another flow took bandwidth), less:
    /// cwnd·(1+β)/2, so the flow gives some up. The caller sets ssthresh.
    pub fn on_congestion_event(&mut self, cwnd: f64) {
        self.w_max = Some(match self.w_max {
            Some(prev) if cwnd < prev => cwnd * (1.0 + BETA) / 2.0,
            _ => cwnd,
        });
        self.cwnd_prior = cwnd;
        self.epoch = None;
        self.carry = 0.0;
    }

    /// A retransmission timeout (RFC 9438 §4.8): cwnd restarts from one
    /// segment, and the stage after the slow start that follows grows from
    /// its own starting window with K = 0.
    pub fn on_timeout(&mut self, cwnd: f64) {
        self.w_max = None;
        self.cwnd_prior = cwnd;
        self.epoch = None;
        self.carry = 0.0;
    }

    /// Slow start ended without loss (HyStart++): W_max is undefined
    /// (RFC 9438 §4.10); the next stage starts from the window it has.
    pub fn on_slow_start_exit(&mut self, cwnd: f64) {
        self.w_max = None;
        self.cwnd_prior = cwnd;
        self.epoch = None;
    }

    /// An ACK of `acked` segments in congestion avoidance with the window
    /// at `cwnd` segments; returns the new window in segments.
    ///
    /// The target is W_cubic one RTT ahead, bounded to [cwnd, 1.5·cwnd]
    /// (§4.2) so the window never shrinks and at most grows by half per
    /// RTT; cwnd moves (target − cwnd)/cwnd per acknowledged segment (the
    /// concave region below W_max, §4.4, and the convex one above, §4.5,
    /// alike). Where W_cubic(t) is below W_est the flow is in the
    /// Reno-friendly region (§4.3) and cwnd follows W_est.
    pub fn on_ack(&mut self, now: Instant, acked: f64, cwnd: f64, rtt: Duration) -> f64 {
        let epoch = *self.epoch.get_or_insert_with(|| {
            let w_max = self.w_max.unwrap_or(cwnd);
            Epoch {
                start: now,
                k: k(w_max, cwnd),
                w_max,
                w_est: cwnd,
            }
        });
        let t = now.saturating_duration_since(epoch.start).as_secs_f64();
        let alpha = if epoch.w_est >= self.cwnd_prior {
            1.0
        } else {
            ALPHA
        };
        let w_est = epoch.w_est + alpha * acked / cwnd;
        if let Some(e) = &mut self.epoch {
            e.w_est = w_est;
        }
        if w_cubic(t, epoch.k, epoch.w_max) < w_est {
            return cwnd.max(w_est);
        }
        let ahead = w_cubic(t + rtt.as_secs_f64(), epoch.k, epoch.w_max);
        let target = ahead.clamp(cwnd, 1.5 * cwnd);
        cwnd + (target - cwnd) / cwnd * acked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[rstest]
    #[case::wmax_100(100.0, 4.2172)]
    #[case::wmax_10(10.0, 1.9574)]
    #[case::wmax_1000(1000.0, 9.0856)]
    fn k_after_a_reduction_by_beta(#[case] w_max: f64, #[case] expect: f64) {
        let got = k(w_max, w_max * BETA);
        assert!(close(got, expect, 1e-3), "K = {got}");
        // The same as the brief form ∛(W_max·(1−β)/C).
        assert!(close(got, (w_max * (1.0 - BETA) / C).cbrt(), 1e-9));
    }

    /// W_max = 100, K = ∛75: the curve starts at β·W_max, is flat at K,
    /// and mirrors itself around it.
    #[rstest]
    #[case::start(0.0, 70.0)]
    #[case::concave(2.0, 100.0 - 0.4 * 2.2172f64 * 2.2172 * 2.2172)]
    #[case::at_k(4.2172, 100.0)]
    #[case::convex(6.2172, 100.0 + 0.4 * 2.0f64.powi(3))]
    #[case::far(10.0, 100.0 + 0.4 * 5.7828f64.powi(3))]
    fn the_curve_follows_figure_1(#[case] t: f64, #[case] expect: f64) {
        let k = k(100.0, 70.0);
        assert!(close(w_cubic(t, k, 100.0), expect, 0.01));
    }

    /// Drives on_ack with an ACK of one segment every `rtt / cwnd`, as a
    /// window-limited sender sees them; returns (t, cwnd) once per RTT.
    fn run(c: &mut Cubic, mut cwnd: f64, rtt: Duration, secs: f64) -> Vec<(f64, f64)> {
        let mut now = Instant::ZERO;
        let mut out = Vec::new();
        let mut next_report = 0.0;
        while now.total_micros() as f64 / 1e6 < secs {
            let t = now.total_micros() as f64 / 1e6;
            if t >= next_report {
                out.push((t, cwnd));
                next_report += rtt.as_secs_f64();
            }
            cwnd = c.on_ack(now, 1.0, cwnd, rtt);
            now += Duration::from_secs_f64(rtt.as_secs_f64() / cwnd);
        }
        out
    }

    #[test]
    fn congestion_avoidance_tracks_the_curve_one_rtt_ahead() {
        let mut c = Cubic::default();
        c.on_congestion_event(1000.0);
        let rtt = Duration::from_millis(100);
        let k = k(1000.0, 700.0);
        for (t, cwnd) in run(&mut c, 700.0, rtt, 15.0) {
            // Before the first RTT the window cannot have reached the
            // curve; afterwards it tracks W_cubic(t) (it aims at t+RTT
            // but gets there over an RTT).
            if t < 0.2 {
                continue;
            }
            let curve = w_cubic(t, k, 1000.0);
            assert!(
                cwnd >= curve - 1.0 && cwnd <= w_cubic(t + 0.1, k, 1000.0) + 1.0,
                "t {t:.2}: cwnd {cwnd:.1}, curve {curve:.1}"
            );
        }
    }

    #[test]
    fn growth_is_concave_before_k_and_convex_after() {
        let mut c = Cubic::default();
        c.on_congestion_event(1000.0);
        let rtt = Duration::from_millis(100);
        let k = k(1000.0, 700.0);
        let trace = run(&mut c, 700.0, rtt, 2.0 * k);
        let growth: Vec<(f64, f64)> = trace
            .windows(2)
            .map(|w| (w[0].0, w[1].1 - w[0].1))
            .collect();
        let before: Vec<f64> = growth
            .iter()
            .filter(|g| g.0 > 0.3 && g.0 < k - 0.3)
            .map(|g| g.1)
            .collect();
        let after: Vec<f64> = growth
            .iter()
            .filter(|g| g.0 > k + 0.3)
            .map(|g| g.1)
            .collect();
        assert!(before.windows(2).all(|w| w[1] <= w[0] + 0.5), "{before:?}");
        assert!(after.windows(2).all(|w| w[1] >= w[0] - 0.5), "{after:?}");
        assert!(before[0] > 5.0 * before[before.len() - 1], "{before:?}");
    }

    #[test]
    fn growth_per_rtt_is_at_most_half_the_window() {
        // Far past K the curve runs away; the target caps at 1.5·cwnd, so
        // each acknowledged segment adds at most half a segment.
        let mut c = Cubic {
            w_max: Some(10.0),
            epoch: Some(Epoch {
                start: Instant::ZERO,
                k: 0.0,
                w_max: 10.0,
                w_est: 10.0,
            }),
            ..Cubic::default()
        };
        let now = Instant::from_millis(60_000);
        let mut cwnd = 10.0;
        for _ in 0..10 {
            cwnd = c.on_ack(now, 1.0, cwnd, Duration::from_millis(100));
        }
        assert!(close(cwnd, 15.0, 1e-9), "{cwnd}");
    }

    #[test]
    fn reno_friendly_region_takes_over_at_a_small_bdp() {
        // W_max = 10 segments, RTT 1 ms: the cubic curve needs K ≈ 2 s
        // (2000 RTTs) to climb 3 segments, Reno adds ~0.53 a round.
        let mut c = Cubic::default();
        c.on_congestion_event(10.0);
        let rtt = Duration::from_millis(1);
        let trace = run(&mut c, 7.0, rtt, 0.2);
        let (t, cwnd) = *trace.last().unwrap();
        let k = k(10.0, 7.0);
        assert!(w_cubic(t, k, 10.0) < 8.0);
        // 200 RTTs at α ≈ 0.53 up to cwnd_prior = 10, then 1 per RTT.
        assert!(cwnd > 100.0, "W_est drives cwnd: {cwnd}");
        assert!(c.epoch.unwrap().w_est >= cwnd - 1.0);
    }

    #[test]
    fn alpha_is_one_once_w_est_reaches_cwnd_prior() {
        let mut c = Cubic::default();
        c.on_congestion_event(10.0);
        let rtt = Duration::from_millis(1);
        // One RTT of ACKs (7 of them) below cwnd_prior: +α.
        let mut now = Instant::ZERO;
        let mut cwnd = 7.0;
        c.on_ack(now, 0.0, cwnd, rtt);
        let before = c.epoch.unwrap().w_est;
        for _ in 0..7 {
            cwnd = c.on_ack(now, 1.0, 7.0, rtt);
            now += Duration::from_micros(100);
        }
        let grown = c.epoch.unwrap().w_est - before;
        assert!(close(grown, ALPHA, 1e-9), "{grown}");
        assert!(cwnd >= 7.0);
        c.epoch.as_mut().unwrap().w_est = 10.0;
        for _ in 0..10 {
            c.on_ack(now, 1.0, 10.0, rtt);
        }
        assert!(close(c.epoch.unwrap().w_est, 11.0, 1e-9));
    }

    #[rstest]
    #[case::first_event(None, 100.0, 100.0)]
    #[case::grew_past(Some(90.0), 100.0, 100.0)]
    #[case::fast_convergence(Some(120.0), 100.0, 85.0)]
    fn w_max_with_fast_convergence(
        #[case] prev: Option<f64>,
        #[case] cwnd: f64,
        #[case] expect: f64,
    ) {
        let mut c = Cubic {
            w_max: prev,
            ..Cubic::default()
        };
        c.on_congestion_event(cwnd);
        assert!(close(c.w_max.unwrap(), expect, 1e-9));
        assert_eq!(c.cwnd_prior, cwnd);
        assert!(c.epoch.is_none());
    }

    #[test]
    fn after_a_timeout_the_stage_starts_with_k_zero_at_its_own_window() {
        let mut c = Cubic::default();
        c.on_congestion_event(100.0);
        c.on_timeout(100.0);
        assert_eq!(c.w_max, None);
        c.on_ack(
            Instant::from_millis(5),
            1.0,
            30.0,
            Duration::from_millis(10),
        );
        let e = c.epoch.unwrap();
        assert_eq!(e.w_max, 30.0);
        assert_eq!(e.k, 0.0);
        assert_eq!(e.start, Instant::from_millis(5));
    }
}
