//! Congestion control: NewReno (RFC 5681 slow start and congestion
//! avoidance, RFC 6582 fast recovery) with the SACK-based recovery of RFC
//! 6675 when SACK is negotiated. The state lives here; the decisions that
//! need the connection (what to retransmit, when) live in `conn.rs` and
//! `input.rs`.

use super::seq::SeqNum;

/// Cap on cwnd: it only grows while ACKs arrive, and an application-
/// limited sender would otherwise grow it without bound.
const MAX_CWND: usize = 1 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Congestion {
    /// cwnd (RFC 5681), octets.
    pub cwnd: usize,
    /// ssthresh (RFC 5681), octets; "arbitrarily high" at first.
    pub ssthresh: usize,
    /// Octets acknowledged in congestion avoidance since cwnd last grew
    /// (RFC 5681 §3.1, byte counting).
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
}

impl Default for Congestion {
    fn default() -> Self {
        Congestion {
            cwnd: 0,
            ssthresh: usize::MAX,
            ca_acked: 0,
            dupacks: 0,
            recovery: None,
            recover: SeqNum(0),
            high_rxt: SeqNum(0),
            rexmit_una: false,
        }
    }
}

/// RFC 6928 initial window: min(10*MSS, max(2*MSS, 14600)).
pub fn initial_window(mss: usize) -> usize {
    (10 * mss).min((2 * mss).max(14600))
}

impl Congestion {
    /// Starts a connection whose Eff.snd.MSS is `mss`. After a lost SYN
    /// or SYN,ACK the initial window is one segment (RFC 5681 §3.1, RFC
    /// 6298 §5.7).
    pub fn start(&mut self, mss: usize, iss: SeqNum, syn_lost: bool) {
        self.cwnd = if syn_lost { mss } else { initial_window(mss) };
        self.recover = iss;
        self.high_rxt = iss;
    }

    /// `acked` new octets acknowledged outside fast recovery: slow start
    /// below ssthresh (RFC 5681 §3.1, growing by at most 2*SMSS per ACK:
    /// the limit L of RFC 3465 §2.2, which suits a receiver that ACKs every
    /// second segment), congestion avoidance above (one SMSS per cwnd of
    /// acknowledged octets).
    pub fn on_ack(&mut self, acked: usize, mss: usize) {
        if self.cwnd < self.ssthresh {
            self.cwnd += acked.min(2 * mss);
        } else {
            self.ca_acked += acked;
            if self.ca_acked >= self.cwnd {
                self.ca_acked -= self.cwnd;
                self.cwnd += mss;
            }
        }
        self.cwnd = self.cwnd.min(MAX_CWND);
    }

    /// Loss detected by duplicate ACKs or SACK (RFC 5681 §3.2 step 2, RFC
    /// 6675 §5 step 4.2): ssthresh = max(FlightSize / 2, 2*SMSS); `max` is
    /// the highest sequence number sent (the RecoveryPoint).
    pub fn enter_recovery(
        &mut self,
        flight: usize,
        mss: usize,
        una: SeqNum,
        max: SeqNum,
        sack: bool,
    ) {
        self.ssthresh = (flight / 2).max(2 * mss);
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

    const MSS: usize = 1000;

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

    #[test]
    fn slow_start_grows_per_ack_up_to_two_segments() {
        let mut c = Congestion::default();
        c.start(MSS, SeqNum(0), false);
        assert_eq!(c.cwnd, 10_000);
        c.on_ack(2 * MSS, MSS);
        assert_eq!(c.cwnd, 12_000);
        c.on_ack(5 * MSS, MSS);
        assert_eq!(c.cwnd, 14_000, "at most 2*SMSS per ACK");
        c.on_ack(100, MSS);
        assert_eq!(c.cwnd, 14_100);
    }

    #[test]
    fn congestion_avoidance_adds_one_segment_per_window() {
        let mut c = Congestion {
            cwnd: 10 * MSS,
            ssthresh: 5 * MSS,
            ..Congestion::default()
        };
        for _ in 0..9 {
            c.on_ack(MSS, MSS);
        }
        assert_eq!(c.cwnd, 10 * MSS);
        c.on_ack(MSS, MSS);
        assert_eq!(c.cwnd, 11 * MSS);
        for _ in 0..11 {
            c.on_ack(MSS, MSS);
        }
        assert_eq!(c.cwnd, 12 * MSS);
    }

    #[test]
    fn newreno_recovery_halves_inflates_deflates_and_exits() {
        let mut c = Congestion {
            cwnd: 20 * MSS,
            ..Congestion::default()
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
            ..Congestion::default()
        };
        c.enter_recovery(9 * MSS, MSS, SeqNum(5), SeqNum(9005), true);
        assert_eq!(c.cwnd, 4500);
        assert_eq!(c.high_rxt, SeqNum(5));
        assert!(!c.rexmit_una);
        c.enter_recovery(MSS, MSS, SeqNum(5), SeqNum(1005), true);
        assert_eq!(c.cwnd, 2 * MSS, "never below 2*SMSS");
    }
}
