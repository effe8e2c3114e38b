//! HyStart++ (RFC 9406): leave slow start when the RTT starts to climb
//! (a queue is building), before the loss that would end it otherwise,
//! through a few rounds of Conservative Slow Start (CSS) in case the rise
//! was noise.
//!
//! It needs an RTT sample per ACK: the connection takes it from its log
//! of transmissions (the newest segment the ACK covers, never one sent
//! twice), or else from the timestamp echo. A round with fewer than
//! N_RTT_SAMPLE samples is not judged.

use std::time::Duration;

use crate::tcp::seq::SeqNum;

/// Fewest RTT samples in a round before its minimum is trusted.
pub const N_RTT_SAMPLE: u32 = 8;
/// Bounds and divisor of RttThresh (RFC 9406 §4.3).
pub const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
pub const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
pub const MIN_RTT_DIVISOR: u32 = 8;
/// CSS grows cwnd this many times slower than slow start.
pub const CSS_GROWTH_DIVISOR: usize = 4;
/// Rounds of CSS before congestion avoidance.
pub const CSS_ROUNDS: u32 = 5;

/// Where the sender is in slow start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// Ordinary slow start, watching the RTT.
    #[default]
    SlowStart,
    /// Conservative Slow Start after an RTT rise; `baseline` is
    /// cssBaselineMinRtt, `rounds` the rounds of CSS completed.
    Css { baseline: Duration, rounds: u32 },
    /// HyStart++ no longer applies: it runs in the first slow start only
    /// (RFC 9406 §4.3: later ones stop at the ssthresh found by a loss).
    Done,
}

/// What the ACK means for cwnd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Growth {
    /// Slow start: grow by what was acknowledged.
    SlowStart,
    /// CSS: grow by a CSS_GROWTH_DIVISOR-th of it.
    Conservative,
    /// CSS_ROUNDS rounds of CSS are over: ssthresh = cwnd, congestion
    /// avoidance from now on.
    Exit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HyStart {
    pub phase: Phase,
    /// windowEnd: the round ends when an ACK reaches it; `None` before
    /// the first round, or until the next ACK when the last one left
    /// nothing outstanding.
    pub window_end: Option<SeqNum>,
    /// lastRoundMinRTT, currentRoundMinRTT (`None` is "infinity").
    pub last_round_min_rtt: Option<Duration>,
    pub current_round_min_rtt: Option<Duration>,
    /// rttSampleCount in the current round.
    pub rtt_sample_count: u32,
}

/// RttThresh = clamp(lastRoundMinRTT / 8, 4 ms, 16 ms).
pub fn rtt_thresh(last_round_min_rtt: Duration) -> Duration {
    (last_round_min_rtt / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH)
}

impl HyStart {
    /// A congestion event (or a timeout) ends HyStart++ for good.
    pub fn stop(&mut self) {
        self.phase = Phase::Done;
    }

    /// An ACK of new data in slow start: `ack` is SEG.ACK, `snd_max` the
    /// highest sequence number sent (SND.NXT for the next round's
    /// windowEnd), `rtt` this ACK's RTT sample if it gave one.
    ///
    /// The ACK that reaches windowEnd still belongs to its round (its
    /// sample counts there); the round's end is handled after it, and a
    /// round in which CSS began counts towards CSS_ROUNDS (RFC 9406 §4.3).
    pub fn on_ack(&mut self, ack: SeqNum, snd_max: SeqNum, rtt: Option<Duration>) -> Growth {
        if self.phase == Phase::Done {
            return Growth::SlowStart;
        }
        let window_end = *self.window_end.get_or_insert(snd_max);
        if let Some(rtt) = rtt {
            self.current_round_min_rtt =
                Some(self.current_round_min_rtt.map_or(rtt, |m| m.min(rtt)));
            self.rtt_sample_count += 1;
        }
        let trusted = self
            .current_round_min_rtt
            .filter(|_| self.rtt_sample_count >= N_RTT_SAMPLE);
        match (self.phase, trusted) {
            (Phase::SlowStart, Some(current)) => {
                if let Some(last) = self.last_round_min_rtt
                    && current >= last + rtt_thresh(last)
                {
                    self.phase = Phase::Css {
                        baseline: current,
                        rounds: 0,
                    };
                }
            }
            (Phase::Css { baseline, .. }, Some(current)) if current < baseline => {
                // The rise was spurious: back to slow start.
                self.phase = Phase::SlowStart;
            }
            _ => {}
        }
        if ack.ge(window_end) {
            if let Phase::Css { baseline, rounds } = self.phase {
                if rounds + 1 >= CSS_ROUNDS {
                    self.phase = Phase::Done;
                    return Growth::Exit;
                }
                self.phase = Phase::Css {
                    baseline,
                    rounds: rounds + 1,
                };
            }
            self.last_round_min_rtt = self.current_round_min_rtt;
            self.current_round_min_rtt = None;
            self.rtt_sample_count = 0;
            // windowEnd = SND.NXT; when this ACK took everything sent (a
            // whole window acknowledged at once), the next round begins
            // with the next ACK, once the data this one releases is out.
            self.window_end = Some(snd_max).filter(|max| max.gt(ack));
        }
        match self.phase {
            Phase::Css { .. } => Growth::Conservative,
            _ => Growth::SlowStart,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Round r: `n` ACKs with RTT `rtt`, the last one at (r+1)*1000, the
    /// end of the round's data. While they arrive the next round's data,
    /// up to (r+2)*1000, goes out; at the first ACK only the first
    /// round's is out.
    fn round(h: &mut HyStart, r: u32, n: u32, rtt: Duration) -> Vec<Growth> {
        (0..n)
            .map(|i| {
                let ack = if i == n - 1 {
                    (r + 1) * 1000
                } else {
                    r * 1000 + 1 + i
                };
                let max = if r == 0 && i == 0 {
                    1000
                } else {
                    (r + 2) * 1000
                };
                h.on_ack(SeqNum(ack), SeqNum(max), Some(rtt))
            })
            .collect()
    }

    #[rstest]
    #[case::floor(ms(10), ms(4))]
    #[case::eighth(ms(80), ms(10))]
    #[case::ceiling(ms(400), ms(16))]
    fn rtt_thresh_is_an_eighth_clamped(#[case] last: Duration, #[case] expect: Duration) {
        assert_eq!(rtt_thresh(last), expect);
    }

    #[rstest]
    #[case::below_thresh(ms(53), Phase::SlowStart)]
    #[case::at_thresh(ms(54), Phase::Css { baseline: ms(54), rounds: 1 })]
    #[case::well_above(ms(90), Phase::Css { baseline: ms(90), rounds: 1 })]
    fn an_rtt_rise_of_rtt_thresh_enters_css(#[case] rtt: Duration, #[case] expect: Phase) {
        // lastRoundMinRTT = 48 ms, RttThresh = 6 ms. CSS begins at the
        // round's last ACK, and that round counts as one of CSS.
        let mut h = HyStart::default();
        round(&mut h, 0, 8, ms(48));
        let g = round(&mut h, 1, 8, rtt);
        assert_eq!(h.phase, expect);
        let expect_last = if expect == Phase::SlowStart {
            Growth::SlowStart
        } else {
            Growth::Conservative
        };
        assert_eq!(g[7], expect_last);
        // Seven samples are not enough to judge.
        assert!(g[..7].iter().all(|g| *g == Growth::SlowStart));
    }

    #[test]
    fn too_few_samples_never_leave_slow_start() {
        let mut h = HyStart::default();
        round(&mut h, 0, 7, ms(10));
        round(&mut h, 1, 7, ms(100));
        round(&mut h, 2, 7, ms(200));
        assert_eq!(h.phase, Phase::SlowStart);
    }

    #[test]
    fn an_rtt_back_below_the_baseline_resumes_slow_start() {
        let mut h = HyStart::default();
        round(&mut h, 0, 8, ms(20));
        round(&mut h, 1, 8, ms(30));
        assert!(matches!(h.phase, Phase::Css { .. }));
        let g = round(&mut h, 2, 8, ms(25));
        assert_eq!(g[6], Growth::Conservative);
        assert_eq!(g[7], Growth::SlowStart);
        assert_eq!(h.phase, Phase::SlowStart);
    }

    #[test]
    fn css_rounds_end_slow_start() {
        let mut h = HyStart::default();
        round(&mut h, 0, 8, ms(20));
        // CSS begins at the last ACK of round 1: that round counts.
        round(&mut h, 1, 8, ms(30));
        for r in 2..=4 {
            let g = round(&mut h, r, 8, ms(30));
            assert!(g.iter().all(|g| *g == Growth::Conservative), "round {r}");
        }
        let g = round(&mut h, 5, 8, ms(30));
        assert!(g[..7].iter().all(|g| *g == Growth::Conservative));
        assert_eq!(g[7], Growth::Exit, "the end of the fifth CSS round");
        assert_eq!(h.phase, Phase::Done);
        assert_eq!(
            h.on_ack(SeqNum(6001), SeqNum(8000), None),
            Growth::SlowStart
        );
    }

    #[test]
    fn a_round_that_acknowledged_everything_ends_at_the_next_ack() {
        let mut h = HyStart::default();
        round(&mut h, 0, 8, ms(20));
        // Everything sent is acknowledged: no windowEnd yet.
        h.on_ack(SeqNum(2000), SeqNum(2000), Some(ms(20)));
        assert_eq!(h.window_end, None);
        assert_eq!(h.last_round_min_rtt, Some(ms(20)));
        // The next ACK starts the round, its sample in it.
        h.on_ack(SeqNum(2100), SeqNum(3000), Some(ms(40)));
        assert_eq!(h.window_end, Some(SeqNum(3000)));
        assert_eq!(h.current_round_min_rtt, Some(ms(40)));
    }

    #[test]
    fn a_round_ends_with_the_ack_that_reaches_window_end() {
        let mut h = HyStart::default();
        h.on_ack(SeqNum(1), SeqNum(1000), Some(ms(20)));
        assert_eq!(h.window_end, Some(SeqNum(1000)));
        h.on_ack(SeqNum(999), SeqNum(3000), Some(ms(10)));
        assert_eq!(h.window_end, Some(SeqNum(1000)));
        assert_eq!(h.current_round_min_rtt, Some(ms(10)));
        assert_eq!(h.rtt_sample_count, 2);
        h.on_ack(SeqNum(1000), SeqNum(3000), Some(ms(5)));
        assert_eq!(h.window_end, Some(SeqNum(3000)));
        assert_eq!(h.last_round_min_rtt, Some(ms(5)));
        assert_eq!(h.current_round_min_rtt, None);
        assert_eq!(h.rtt_sample_count, 0);
    }
}
