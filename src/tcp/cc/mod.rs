//! Congestion control: slow start with HyStart++ (RFC 9406), then CUBIC
//! (RFC 9438, the default) or Reno (RFC 5681) congestion avoidance, and
//! the fast recovery both share: NewReno's (RFC 6582), or RFC 6675's when
//! SACK is negotiated. The state lives here; the decisions that need the
//! connection (what to retransmit, when) live in `conn.rs` and
//! `input.rs`.
//!
//! The algorithms differ in two places only: how cwnd grows in congestion
//! avoidance (`reno.rs`, `cubic.rs`) and how far ssthresh falls on a
//! congestion event (Reno halves the flight, CUBIC keeps β = 0.7 of it).

mod cubic;
mod hystart;
mod reno;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::seq::SeqNum;
use crate::time::Instant;
use cubic::Cubic;
use hystart::{CSS_GROWTH_DIVISOR, Growth, HyStart};

/// Cap on cwnd: it only grows while ACKs arrive, and an application-
/// limited sender would otherwise grow it without bound.
const MAX_CWND: usize = 1 << 30;

/// The congestion avoidance algorithm ([`Config::cc`](super::Config::cc)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CongestionControl {
    /// RFC 5681: +1 segment per RTT, ssthresh = FlightSize/2 on loss.
    Reno,
    /// RFC 9438: the window follows a cubic function of the time since
    /// the last congestion event, ssthresh = 0.7·FlightSize on loss. Linux's
    /// default, and nettool's.
    #[default]
    Cubic,
}

impl CongestionControl {
    pub const ALL: [CongestionControl; 2] = [CongestionControl::Reno, CongestionControl::Cubic];

    pub fn name(self) -> &'static str {
        match self {
            CongestionControl::Reno => "reno",
            CongestionControl::Cubic => "cubic",
        }
    }
}

impl fmt::Display for CongestionControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CongestionControl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CongestionControl::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown congestion control {s:?}: use reno or cubic"))
    }
}

/// What an ACK of new data tells congestion control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub now: Instant,
    /// Octets newly acknowledged.
    pub acked: usize,
    /// SEG.ACK.
    pub ack: SeqNum,
    /// The highest sequence number sent (where HyStart++'s next round
    /// ends).
    pub snd_max: SeqNum,
    /// The RTT this ACK measured, if it measured one (HyStart++).
    pub rtt: Option<Duration>,
    /// SRTT (CUBIC looks one RTT ahead).
    pub srtt: Option<Duration>,
}

/// The largest FlightSize of the current and the previous round trip,
/// sampled as data goes out.
///
/// Loss is found from ACKs, and by the time an ACK reports it, ACKs that
/// arrived in the same burst may have drained the flight below the window
/// that caused the loss: on a fast link a whole window goes out, and comes
/// back, as one burst, and an ACK for a hole near its end finds only the
/// segments after the hole outstanding. β of that remnant collapses the
/// window (a 37-segment window ended at 2 in the simulator). β of the
/// flight the window actually carried is what RFC 9438 §4.6 means; Linux
/// takes β·cwnd, which RFC 9438 allows only where cwnd cannot outgrow the
/// flight. The peak of the last two rounds is the flight an application-
/// limited sender really had, so its cwnd does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlightPeak {
    /// The largest flight seen in this round.
    cur: usize,
    /// The largest of the previous round.
    prev: usize,
    /// The round ends when SND.UNA reaches it (SND.MAX when it began).
    round_end: SeqNum,
}

impl FlightPeak {
    /// Something was sent: SND.UNA is `una` and SND.MAX is now `max`.
    pub fn on_send(&mut self, una: SeqNum, max: SeqNum) {
        let flight = max - una;
        if una.ge(self.round_end) {
            self.prev = self.cur;
            self.cur = 0;
            self.round_end = max;
        }
        self.cur = self.cur.max(flight);
    }

    /// The largest flight of this round and the last.
    pub fn get(&self) -> usize {
        self.cur.max(self.prev)
    }

    /// A timeout: what was outstanding is gone; the rounds start over.
    fn reset(&mut self, max: SeqNum) {
        *self = FlightPeak {
            round_end: max,
            ..FlightPeak::default()
        };
    }
}

/// The algorithm's own state before the last congestion event, for
/// [`Congestion::undo_congestion_event`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Prior {
    cwnd: usize,
    ssthresh: usize,
    ca_acked: usize,
    curves: Curves,
}

/// CUBIC's and HyStart++'s state. Boxed, and only from the first change:
/// a connection that never had data acknowledged (an idle one, such as
/// each of a load test's million) holds none, their initial values
/// standing in, and is some 130 bytes smaller for it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Curves {
    cubic: Cubic,
    hystart: HyStart,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Congestion {
    /// cwnd (RFC 5681), octets.
    pub cwnd: usize,
    /// ssthresh (RFC 5681), octets; "arbitrarily high" at first.
    pub ssthresh: usize,
    /// Octets acknowledged in Reno's congestion avoidance since cwnd last
    /// grew (RFC 5681 §3.1, byte counting).
    pub ca_acked: usize,
    /// Duplicate ACKs in a row (RFC 5681 §2 definition).
    pub dupacks: usize,
    /// RecoveryPoint (RFC 6675) / the end of fast recovery (RFC 6582):
    /// `Some` while in fast recovery.
    pub recovery: Option<SeqNum>,
    /// `recover` of RFC 6582: the highest sequence number sent when the
    /// last recovery (or timeout) began; no new recovery for ACKs at or
    /// below it.
    pub recover: SeqNum,
    /// HighRxt (RFC 6675): one past the highest octet retransmitted in
    /// this recovery.
    pub high_rxt: SeqNum,
    /// NewReno: retransmit the segment at SND.UNA next.
    pub rexmit_una: bool,
    /// The flight the window carried lately (for ssthresh).
    pub flight_peak: FlightPeak,
    algorithm: CongestionControl,
    curves: Option<Box<Curves>>,
    /// Boxed: only after a congestion event, and it is large.
    prior: Option<Box<Prior>>,
}

impl Default for Congestion {
    fn default() -> Self {
        Congestion::new(CongestionControl::default())
    }
}

/// RFC 6928 initial window: min(10*MSS, max(2*MSS, 14600)).
pub fn initial_window(mss: usize) -> usize {
    (10 * mss).min((2 * mss).max(14600))
}

impl Congestion {
    pub fn new(algorithm: CongestionControl) -> Self {
        Congestion {
            cwnd: 0,
            ssthresh: usize::MAX,
            ca_acked: 0,
            dupacks: 0,
            recovery: None,
            recover: SeqNum(0),
            high_rxt: SeqNum(0),
            rexmit_una: false,
            flight_peak: FlightPeak::default(),
            algorithm,
            curves: None,
            prior: None,
        }
    }

    pub fn algorithm(&self) -> CongestionControl {
        self.algorithm
    }

    /// CUBIC's and HyStart++'s state as it stands.
    fn curves(&self) -> Curves {
        self.curves.as_deref().copied().unwrap_or_default()
    }

    /// The same, to change: boxed from now on.
    fn curves_mut(&mut self) -> &mut Curves {
        self.curves.get_or_insert_with(Box::default)
    }

    /// Starts a connection whose Eff.snd.MSS is `mss`. After a lost SYN
    /// or SYN,ACK the initial window is one segment (RFC 5681 §3.1, RFC
    /// 6298 §5.7).
    pub fn start(&mut self, mss: usize, iss: SeqNum, syn_lost: bool) {
        self.cwnd = if syn_lost { mss } else { initial_window(mss) };
        self.recover = iss;
        self.high_rxt = iss;
        self.flight_peak.reset(iss);
    }

    /// New octets acknowledged outside fast recovery. Below ssthresh, slow
    /// start (RFC 5681 §3.1, growing by at most 2*SMSS per ACK: the limit
    /// L of RFC 3465 §2.2, which suits a receiver that ACKs every second
    /// segment), watched by HyStart++, which may slow it down to
    /// Conservative Slow Start and end it; above, the algorithm's
    /// congestion avoidance.
    pub fn on_ack(&mut self, ack: &Ack, mss: usize) {
        if self.cwnd < self.ssthresh {
            let grow = ack.acked.min(2 * mss);
            match self
                .curves_mut()
                .hystart
                .on_ack(ack.ack, ack.snd_max, ack.rtt)
            {
                Growth::SlowStart => self.cwnd += grow,
                Growth::Conservative => self.cwnd += grow / CSS_GROWTH_DIVISOR,
                Growth::Exit => {
                    self.ssthresh = self.cwnd;
                    let cwnd = self.segments(mss);
                    self.curves_mut().cubic.on_slow_start_exit(cwnd);
                }
            }
        } else {
            match self.algorithm {
                CongestionControl::Reno => {
                    reno::congestion_avoidance(&mut self.cwnd, &mut self.ca_acked, ack.acked, mss)
                }
                CongestionControl::Cubic => self.cubic_avoidance(ack, mss),
            }
        }
        self.cwnd = self.cwnd.min(MAX_CWND);
    }

    fn cubic_avoidance(&mut self, ack: &Ack, mss: usize) {
        let seg = mss as f64;
        let cwnd = self.segments(mss);
        let rtt = ack.srtt.or(ack.rtt).unwrap_or(Duration::ZERO);
        let cubic = &mut self.curves_mut().cubic;
        let next = cubic.on_ack(ack.now, ack.acked as f64 / seg, cwnd, rtt);
        let grow = (next - cwnd).max(0.0) * seg + cubic.carry;
        let whole = grow.floor();
        cubic.carry = grow - whole;
        self.cwnd = self.cwnd.saturating_add(whole as usize);
    }

    /// cwnd in segments, CUBIC's unit.
    fn segments(&self, mss: usize) -> f64 {
        self.cwnd as f64 / mss as f64
    }

    /// A congestion event: remembers the state for an undo, ends
    /// HyStart++, and returns the new ssthresh: Reno's max(FlightSize/2,
    /// 2*SMSS) (RFC 5681 equation 4), or CUBIC's β_cubic·FlightSize (RFC
    /// 9438 §4.6), also at least 2*SMSS. FlightSize is the larger of
    /// `flight` (outstanding now) and the flight the window carried in the
    /// last two round trips, no more than cwnd ([`FlightPeak`]): not cwnd
    /// itself, which RFC 9438 allows only where cwnd cannot outgrow the
    /// flight; here it can, for an application-limited sender.
    fn congestion_event(&mut self, flight: usize, mss: usize) -> usize {
        let flight = flight.max(self.flight_peak.get().min(self.cwnd));
        self.prior = Some(Box::new(Prior {
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
            ca_acked: self.ca_acked,
            curves: self.curves(),
        }));
        self.curves_mut().hystart.stop();
        match self.algorithm {
            CongestionControl::Reno => reno::ssthresh(flight, mss),
            CongestionControl::Cubic => {
                let cwnd = self.segments(mss);
                self.curves_mut().cubic.on_congestion_event(cwnd);
                ((flight as f64 * cubic::BETA) as usize).max(2 * mss)
            }
        }
    }

    /// Loss detected by duplicate ACKs or SACK (RFC 5681 §3.2 step 2, RFC
    /// 6675 §5 step 4.2): ssthresh falls (see `congestion_event`); `max`
    /// is the highest sequence number sent (the RecoveryPoint).
    pub fn enter_recovery(
        &mut self,
        flight: usize,
        mss: usize,
        una: SeqNum,
        max: SeqNum,
        sack: bool,
    ) {
        self.ssthresh = self.congestion_event(flight, mss);
        self.recovery = Some(max);
        self.recover = max;
        self.ca_acked = 0;
        self.high_rxt = una;
        if sack {
            // RFC 6675 §5 step 4.2: cwnd = ssthresh; pipe does the rest.
            self.cwnd = self.ssthresh;
        } else {
            // RFC 6582 §3.2 step 2: retransmit, inflate by the three
            // segments that left the network.
            self.cwnd = self.ssthresh + 3 * mss;
            self.rexmit_una = true;
        }
    }

    /// A retransmission timeout with `flight` octets outstanding and
    /// `max` the highest sequence number sent. The first of a series
    /// lowers ssthresh as a loss does (RFC 5681 equation 4, RFC 9438
    /// §4.8); every one restarts from a window of one segment and ends
    /// fast recovery. After a timeout CUBIC's next congestion avoidance
    /// starts from its own window (K = 0).
    pub fn on_timeout(&mut self, flight: usize, mss: usize, max: SeqNum, first: bool) {
        if first {
            let in_recovery = self.recovery.is_some();
            let prior = self.prior.take();
            self.ssthresh = self.congestion_event(flight, mss);
            if in_recovery {
                // The same loss episode: an undo goes back to before it.
                self.prior = prior;
            }
            let cwnd = self.segments(mss);
            self.curves_mut().cubic.on_timeout(cwnd);
        }
        self.curves_mut().hystart.stop();
        self.cwnd = mss;
        self.flight_peak.reset(max);
        self.ca_acked = 0;
        self.recovery = None;
        // RFC 6582 §3.2 step 1: no fast retransmit for losses of the
        // window that timed out.
        self.recover = max;
        self.dupacks = 0;
        self.rexmit_una = false;
    }

    /// The last congestion event was spurious (the "lost" data had
    /// arrived): cwnd, ssthresh and the algorithm's own state (CUBIC's
    /// W_max, epoch, K, W_est; HyStart++'s rounds) go back to what they
    /// were before it (RFC 9438 §4.9). Recovery bookkeeping (`recovery`,
    /// `recover`, `high_rxt`, the scoreboard) is the caller's. Returns
    /// whether there was anything to undo.
    pub fn undo_congestion_event(&mut self) -> bool {
        let Some(p) = self.prior.take() else {
            return false;
        };
        self.cwnd = p.cwnd;
        self.ssthresh = p.ssthresh;
        self.ca_acked = p.ca_acked;
        *self.curves_mut() = p.curves;
        true
    }

    /// An ACK at or beyond the RecoveryPoint ends fast recovery (RFC 6582
    /// §3.2 step 3, "full acknowledgment", first option): cwnd =
    /// min(ssthresh, max(FlightSize, SMSS) + SMSS).
    pub fn exit_recovery(&mut self, flight: usize, mss: usize) {
        self.recovery = None;
        self.dupacks = 0;
        self.rexmit_una = false;
        self.cwnd = self.ssthresh.min(flight.max(mss) + mss);
    }

    /// NewReno partial acknowledgment (RFC 6582 §3.2 step 3): retransmit
    /// the next unacknowledged segment, deflate cwnd by the octets
    /// acknowledged, add back one SMSS if at least one SMSS was.
    pub fn partial_ack(&mut self, acked: usize, mss: usize) {
        self.rexmit_una = true;
        self.cwnd = self.cwnd.saturating_sub(acked);
        if acked >= mss {
            self.cwnd += mss;
        }
        self.cwnd = self.cwnd.max(mss);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const MSS: usize = 1000;

    fn reno() -> Congestion {
        Congestion::new(CongestionControl::Reno)
    }

    fn cubic() -> Congestion {
        Congestion::new(CongestionControl::Cubic)
    }

    /// An ACK of `acked` octets at `ms` with no RTT sample (HyStart++
    /// stays in slow start) and a 100 ms SRTT.
    fn ack_at(ms: u64, acked: usize) -> Ack {
        Ack {
            now: Instant::from_millis(ms),
            acked,
            ack: SeqNum(0),
            snd_max: SeqNum(0),
            rtt: None,
            srtt: Some(Duration::from_millis(100)),
        }
    }

    fn ack(acked: usize) -> Ack {
        ack_at(0, acked)
    }

    #[test]
    fn initial_window_follows_rfc_6928() {
        assert_eq!(initial_window(1460), 14600);
        assert_eq!(initial_window(536), 5360);
        assert_eq!(initial_window(9000), 18000);
    }

    #[test]
    fn a_lost_syn_means_a_one_segment_initial_window() {
        let mut c = Congestion::default();
        c.start(MSS, SeqNum(0), true);
        assert_eq!(c.cwnd, MSS);
    }

    #[rstest]
    fn slow_start_grows_per_ack_up_to_two_segments(
        #[values(CongestionControl::Reno, CongestionControl::Cubic)] cc: CongestionControl,
    ) {
        let mut c = Congestion::new(cc);
        c.start(MSS, SeqNum(0), false);
        assert_eq!(c.cwnd, 10_000);
        c.on_ack(&ack(2 * MSS), MSS);
        assert_eq!(c.cwnd, 12_000);
        c.on_ack(&ack(5 * MSS), MSS);
        assert_eq!(c.cwnd, 14_000, "at most 2*SMSS per ACK");
        c.on_ack(&ack(100), MSS);
        assert_eq!(c.cwnd, 14_100);
    }

    #[test]
    fn congestion_avoidance_adds_one_segment_per_window() {
        let mut c = Congestion {
            cwnd: 10 * MSS,
            ssthresh: 5 * MSS,
            ..reno()
        };
        for _ in 0..9 {
            c.on_ack(&ack(MSS), MSS);
        }
        assert_eq!(c.cwnd, 10 * MSS);
        c.on_ack(&ack(MSS), MSS);
        assert_eq!(c.cwnd, 11 * MSS);
        for _ in 0..11 {
            c.on_ack(&ack(MSS), MSS);
        }
        assert_eq!(c.cwnd, 12 * MSS);
    }

    #[test]
    fn newreno_recovery_halves_inflates_deflates_and_exits() {
        let mut c = Congestion {
            cwnd: 20 * MSS,
            ..reno()
        };
        c.enter_recovery(20 * MSS, MSS, SeqNum(0), SeqNum(20_000), false);
        assert_eq!(c.ssthresh, 10 * MSS);
        assert_eq!(c.cwnd, 13 * MSS);
        assert!(c.rexmit_una);
        assert_eq!(c.recovery, Some(SeqNum(20_000)));
        c.rexmit_una = false;
        c.partial_ack(3 * MSS, MSS);
        assert_eq!(c.cwnd, 11 * MSS);
        assert!(c.rexmit_una);
        c.exit_recovery(4 * MSS, MSS);
        assert_eq!(c.cwnd, 5 * MSS);
        assert_eq!(c.recovery, None);
        c.exit_recovery(30 * MSS, MSS);
        assert_eq!(c.cwnd, 10 * MSS, "never above ssthresh");
    }

    #[test]
    fn sack_recovery_sets_cwnd_to_ssthresh() {
        let mut c = Congestion {
            cwnd: 20 * MSS,
            ..reno()
        };
        c.enter_recovery(9 * MSS, MSS, SeqNum(5), SeqNum(9005), true);
        assert_eq!(c.cwnd, 4500);
        assert_eq!(c.high_rxt, SeqNum(5));
        assert!(!c.rexmit_una);
        c.enter_recovery(MSS, MSS, SeqNum(5), SeqNum(1005), true);
        assert_eq!(c.cwnd, 2 * MSS, "never below 2*SMSS");
    }

    /// Recovery entry keeps β of the flight: 0.5 for Reno, 0.7 for CUBIC.
    #[rstest]
    #[case::reno_sack(CongestionControl::Reno, true, 50 * MSS, 50 * MSS)]
    #[case::reno_newreno(CongestionControl::Reno, false, 50 * MSS, 53 * MSS)]
    #[case::cubic_sack(CongestionControl::Cubic, true, 70 * MSS, 70 * MSS)]
    #[case::cubic_newreno(CongestionControl::Cubic, false, 70 * MSS, 73 * MSS)]
    fn recovery_entry_multiplies_by_beta(
        #[case] cc: CongestionControl,
        #[case] sack: bool,
        #[case] ssthresh: usize,
        #[case] cwnd: usize,
    ) {
        let mut c = Congestion {
            cwnd: 100 * MSS,
            ..Congestion::new(cc)
        };
        c.enter_recovery(100 * MSS, MSS, SeqNum(0), SeqNum(100_000), sack);
        assert_eq!(c.ssthresh, ssthresh);
        assert_eq!(c.cwnd, cwnd);
    }

    #[test]
    fn cubic_recovery_sets_w_max_and_fast_convergence_lowers_it() {
        let mut c = Congestion {
            cwnd: 100 * MSS,
            ..cubic()
        };
        c.enter_recovery(100 * MSS, MSS, SeqNum(0), SeqNum(1), true);
        assert_eq!(c.curves().cubic.w_max, Some(100.0));
        c.exit_recovery(100 * MSS, MSS);
        assert_eq!(c.cwnd, 70 * MSS);
        // A second loss before the window is back at W_max: another flow
        // is taking bandwidth; W_max = 70·(1+0.7)/2 = 59.5.
        c.enter_recovery(70 * MSS, MSS, SeqNum(1), SeqNum(2), true);
        assert_eq!(c.curves().cubic.w_max, Some(59.5));
        assert_eq!(c.ssthresh, 49 * MSS);
    }

    /// After recovery CUBIC climbs the concave side of the curve back to
    /// W_max in K seconds, then goes on convex; Reno adds a segment per
    /// round trip all along.
    #[test]
    fn cubic_congestion_avoidance_follows_the_curve_from_the_reduced_window() {
        let mut c = Congestion {
            cwnd: 100 * MSS,
            ..cubic()
        };
        c.enter_recovery(100 * MSS, MSS, SeqNum(0), SeqNum(1), true);
        c.exit_recovery(100 * MSS, MSS);
        let k = cubic::k(100.0, 70.0);
        // 100 ms rounds of cwnd/MSS ACKs of one segment each.
        let mut now = 0;
        let mut at = Vec::new();
        while (now as f64) < 2.5 * k * 1000.0 {
            let segs = c.cwnd / MSS;
            for _ in 0..segs {
                c.on_ack(&ack_at(now, MSS), MSS);
            }
            now += 100;
            at.push((now as f64 / 1000.0, c.cwnd as f64 / MSS as f64));
        }
        let near = |t: f64| at.iter().find(|(s, _)| *s >= t).unwrap().1;
        // The epoch started at 0 and the window aims one RTT ahead.
        for t in [1.0, 2.0, k, k + 1.0, 2.0 * k] {
            let curve = cubic::w_cubic(t, k, 100.0);
            assert!(
                (near(t) - curve).abs() <= 2.0,
                "t {t:.2}: {} vs {curve:.1}",
                near(t)
            );
        }
        assert!((near(k) - 100.0).abs() < 2.0);
    }

    /// ssthresh comes from the flight the window carried in the last two
    /// rounds (no more than cwnd), not only from what is outstanding when
    /// the loss is found, which a burst of ACKs may have drained.
    #[rstest]
    // 40 segments went out; the ACK that found the loss left 3.
    #[case::drained_reno(CongestionControl::Reno, 40, 60, 3, 20)]
    #[case::drained_cubic(CongestionControl::Cubic, 40, 60, 3, 28)]
    // Application-limited: cwnd outgrew the flight; the flight counts.
    #[case::app_limited(CongestionControl::Cubic, 10, 100, 8, 7)]
    // The flight beyond cwnd (after a reduction): what is outstanding.
    #[case::above_cwnd(CongestionControl::Reno, 30, 20, 30, 15)]
    fn ssthresh_is_beta_of_the_recent_peak_flight(
        #[case] cc: CongestionControl,
        #[case] peak: u32,
        #[case] cwnd: usize,
        #[case] flight: usize,
        #[case] ssthresh: usize,
    ) {
        let mut c = Congestion {
            cwnd: cwnd * MSS,
            ..Congestion::new(cc)
        };
        let m = MSS as u32;
        c.flight_peak.on_send(SeqNum(0), SeqNum(peak * m));
        c.enter_recovery(flight * MSS, MSS, SeqNum(0), SeqNum(peak * m), true);
        assert_eq!(c.ssthresh, ssthresh * MSS);
    }

    #[test]
    fn the_flight_peak_forgets_rounds_older_than_the_last() {
        let mut p = FlightPeak::default();
        p.on_send(SeqNum(0), SeqNum(40_000));
        // Round 2 (SND.UNA reached 40 000) carries 10 000.
        p.on_send(SeqNum(40_000), SeqNum(50_000));
        assert_eq!(p.get(), 40_000, "the last round counts");
        // Round 3: round 1's peak is gone.
        p.on_send(SeqNum(50_000), SeqNum(55_000));
        assert_eq!(p.get(), 10_000);
        p.on_send(SeqNum(51_000), SeqNum(58_000));
        assert_eq!(p.get(), 10_000);
    }

    #[test]
    fn the_first_timeout_lowers_ssthresh_by_beta_and_restarts_from_one_segment() {
        let mut c = Congestion {
            cwnd: 100 * MSS,
            ..cubic()
        };
        c.on_timeout(80 * MSS, MSS, SeqNum(7), true);
        assert_eq!(c.ssthresh, 56 * MSS);
        assert_eq!(c.cwnd, MSS);
        assert_eq!(c.recover, SeqNum(7));
        assert_eq!(
            c.curves().cubic.w_max,
            None,
            "K = 0 from the next stage's window"
        );
        assert_eq!(c.curves().hystart.phase, hystart::Phase::Done);
        // Backed-off timeouts keep ssthresh.
        c.on_timeout(80 * MSS, MSS, SeqNum(7), false);
        assert_eq!(c.ssthresh, 56 * MSS);
        // Slow start up to ssthresh, then the curve starts at cwnd, K = 0.
        while c.cwnd < c.ssthresh {
            c.on_ack(&ack_at(1000, 2 * MSS), MSS);
        }
        let at_ssthresh = c.cwnd as f64 / MSS as f64;
        c.on_ack(&ack_at(1000, MSS), MSS);
        let e = c.curves().cubic.epoch.unwrap();
        assert_eq!(e.k, 0.0);
        assert_eq!(e.w_max, at_ssthresh);
    }

    #[test]
    fn reno_timeout_halves_the_flight() {
        let mut c = Congestion {
            cwnd: 100 * MSS,
            ..reno()
        };
        c.on_timeout(80 * MSS, MSS, SeqNum(7), true);
        assert_eq!(c.ssthresh, 40 * MSS);
        assert_eq!(c.cwnd, MSS);
    }

    #[rstest]
    fn undo_restores_the_state_before_the_congestion_event(
        #[values(CongestionControl::Reno, CongestionControl::Cubic)] cc: CongestionControl,
        #[values(true, false)] timeout: bool,
    ) {
        let mut c = Congestion {
            cwnd: 50 * MSS,
            ssthresh: 40 * MSS,
            ..Congestion::new(cc)
        };
        // A first event and some growth, so there is CUBIC state to keep.
        c.enter_recovery(50 * MSS, MSS, SeqNum(0), SeqNum(1), true);
        c.exit_recovery(50 * MSS, MSS);
        for i in 0..100 {
            c.on_ack(&ack_at(i * 10, MSS), MSS);
        }
        let before = c.clone();
        assert!(before.curves().cubic.epoch.is_some() || cc == CongestionControl::Reno);
        if timeout {
            c.on_timeout(c.cwnd, MSS, SeqNum(2), true);
        } else {
            c.enter_recovery(c.cwnd, MSS, SeqNum(1), SeqNum(2), true);
        }
        assert_ne!(c.cwnd, before.cwnd);
        assert!(c.undo_congestion_event());
        assert_eq!(c.cwnd, before.cwnd);
        assert_eq!(c.ssthresh, before.ssthresh);
        assert_eq!(c.curves().cubic, before.curves().cubic);
        assert_eq!(c.curves().hystart, before.curves().hystart);
        assert!(!c.undo_congestion_event(), "one undo per event");
    }

    #[test]
    fn a_timeout_during_recovery_undoes_to_before_the_recovery() {
        let mut c = Congestion {
            cwnd: 50 * MSS,
            ..cubic()
        };
        let before = c.clone();
        c.enter_recovery(50 * MSS, MSS, SeqNum(0), SeqNum(1), true);
        c.on_timeout(50 * MSS, MSS, SeqNum(1), true);
        assert!(c.undo_congestion_event());
        assert_eq!(c.cwnd, before.cwnd);
        assert_eq!(c.ssthresh, usize::MAX);
        assert_eq!(c.curves().hystart, before.curves().hystart);
    }

    /// HyStart++ inside on_ack: `rounds` of `per_round` ACKs of 2 SMSS,
    /// the RTT of round r given by `rtt(r)`.
    fn slow_start(c: &mut Congestion, rounds: u32, rtt: impl Fn(u32) -> u64) -> Vec<usize> {
        let mut cwnds = Vec::new();
        let round = 16 * MSS as u32;
        let mut seq = 0u32;
        for r in 0..rounds {
            for i in 0..8 {
                seq += 2 * MSS as u32;
                // The first ACK finds the first round's data out; later
                // ones, the next round's too.
                let max = if r == 0 && i == 0 { 1 } else { r + 2 };
                c.on_ack(
                    &Ack {
                        rtt: Some(Duration::from_millis(rtt(r))),
                        ack: SeqNum(seq),
                        snd_max: SeqNum(max * round),
                        ..ack(2 * MSS)
                    },
                    MSS,
                );
            }
            cwnds.push(c.cwnd);
        }
        cwnds
    }

    #[rstest]
    fn hystart_leaves_slow_start_through_css(
        #[values(CongestionControl::Reno, CongestionControl::Cubic)] cc: CongestionControl,
    ) {
        let mut c = Congestion::new(cc);
        c.start(MSS, SeqNum(0), false);
        // Rounds 0-1 at 20 ms, then 30 ms (≥ 20 + 4): CSS from round 2.
        let cwnds = slow_start(&mut c, 9, |r| if r < 2 { 20 } else { 30 });
        // Slow start: +16 SMSS a round; the round that saw the rise grows
        // 14 at full rate and the last ACK's 2 at a quarter.
        assert_eq!(cwnds[0], 26 * MSS);
        assert_eq!(cwnds[1], 42 * MSS);
        assert_eq!(cwnds[2], 56 * MSS + 500);
        // CSS: a quarter, +4 SMSS a round.
        assert_eq!(cwnds[3], 60 * MSS + 500);
        // Rounds 3 to 6 of CSS (round 2 was the first); the last ACK of
        // round 6 ends it without growing.
        assert_eq!(cwnds[6], 72 * MSS);
        assert_eq!(c.ssthresh, 72 * MSS, "set after CSS_ROUNDS");
        // Then congestion avoidance: Reno's +1 SMSS per window has not
        // come yet; CUBIC's Reno-friendly W_est adds 2/72 a segment per
        // ACK.
        assert!(cwnds[8] >= c.ssthresh && cwnds[8] < c.ssthresh + MSS);
    }

    #[test]
    fn hystart_returns_to_slow_start_when_the_rtt_falls_back() {
        let mut c = reno();
        c.start(MSS, SeqNum(0), false);
        let cwnds = slow_start(&mut c, 5, |r| match r {
            2 => 30,
            _ => 20,
        });
        // Round 3 at 20 ms is below the CSS baseline of 30 ms: slow start
        // again from its last ACK; round 4 grows at full rate.
        assert_eq!(cwnds[4] - cwnds[3], 16 * MSS);
        assert_eq!(c.ssthresh, usize::MAX);
    }
}
