//! Loss detection and recovery beyond the RTO, on the connection: RACK
//! (RFC 8985 §6, [`rack`](super::rack)) marks losses from the ACKs and its
//! reordering timer, the tail loss probe (RFC 8985 §7) draws an ACK when
//! the ACKs stop, PRR (RFC 6937, [`prr`](super::prr)) sets how much goes
//! out per ACK during SACK recovery, and a congestion event found
//! spurious (RFC 3522 Eifel detection with timestamps, RFC 3708 with
//! D-SACK) is undone. NewReno (RFC 6582) still serves connections without
//! SACK: RACK needs SACK to see anything but the cumulative ACK.
//!
//! Everything here runs from an ACK that `check_ack` accepted, or from a
//! timer; a segment the engine discards moves none of this state.

use std::time::Duration;

use crate::time::Instant;
use crate::wire::tcp::TcpRepr;

use super::cc::Ack;
use super::conn::Connection;
use super::flight::{Tlp, Undo};
use super::prr::Prr;
use super::rack::Sent;
use super::scoreboard::DUP_THRESH;
use super::seq::SeqNum;
use super::timer::TimerKind;

/// WCDelAckT of RFC 8985 §7.2: the worst-case delayed-ACK timer a PTO
/// allows for when only one segment is outstanding (its ACK may be
/// delayed; with two or more, the peer ACKs at once).
const WC_DEL_ACK_T: Duration = Duration::from_millis(200);

/// Added to 2·SRTT for the peer's ACK processing, as Linux does, so a
/// tiny SRTT does not make the probe race the ACK.
const PTO_SLACK: Duration = Duration::from_millis(2);

impl Connection {
    /// After an accepted ACK (`check_ack`, with SND.UNA already moved from
    /// `prior_una` and the SACK blocks on the scoreboard, `fresh` the
    /// ranges they newly SACKed): RACK takes the
    /// delivered pieces, undo and the probe episode look at the evidence,
    /// losses are marked, recovery may begin, PRR sets cwnd, and the probe
    /// timer is re-armed.
    pub(super) fn on_ack_loss_recovery(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        prior_una: SeqNum,
        fresh: &[(SeqNum, SeqNum)],
        dsack: Option<(SeqNum, SeqNum)>,
    ) {
        let una = self.tcb.snd.una;
        // Newly SACKed above SND.UNA (a block's part this very ACK also
        // covered cumulatively counts once, in the advance).
        let newly_sacked: usize = fresh
            .iter()
            .filter(|&&(_, r)| r.gt(una))
            .map(|&(l, r)| r - l.max(una))
            .sum();
        let mut delivered = Vec::new();
        self.flight.sent.advance(una, &mut delivered);
        if !self.negotiated.sack || !self.state.is_synchronized() {
            self.maybe_enter_recovery(now);
            return;
        }
        // In sequence order, as RACK.fack expects: an ACK lists its newest
        // block first, and a lower block taken after it would look like
        // reordering.
        let mut fresh = fresh.to_vec();
        fresh.sort_unstable_by_key(|&(l, _)| l.diff(una));
        self.flight.sent.take_sacks(&fresh, &mut delivered);
        let ecr = seg
            .timestamps()
            .map(|(_, ecr)| ecr)
            .filter(|_| self.negotiated.timestamps);
        for p in &delivered {
            let ambiguous = ecr.is_some_and(|e| (e.wrapping_sub(self.ts_val(p.xmit)) as i32) < 0);
            self.rack.on_delivered(p, now, ambiguous);
        }
        // A D-SACK is evidence only for octets we sent twice (dsack.rs).
        let resent = dsack.map_or(0, |(l, r)| {
            let floor = self
                .flight
                .undo
                .as_ref()
                .map_or(prior_una - self.max_snd_wnd, |u| u.una);
            self.flight.retransmitted.take(l, r, floor)
        });
        let dsack = dsack.filter(|_| resent > 0);
        self.rack.on_ack(una, self.snd_max, dsack.is_some());
        let advanced = una.gt(prior_una);
        self.check_undo(now, una, advanced, ecr, resent);
        self.check_tlp(una, dsack);
        self.rack_detect_loss(now);
        self.maybe_enter_recovery(now);
        if self.cc.recovery.is_some() {
            self.flight.deferred_growth = None;
            self.prr_update((una - prior_una) + newly_sacked);
        } else {
            self.grow_by_delivery(now, advanced, &delivered);
        }
        if delivered.is_empty() {
            self.keep_loss_probe(now);
        } else {
            self.schedule_loss_probe(now);
        }
    }

    /// cwnd growth once reordering has been seen (Linux's rule, its
    /// `tcp_may_raise_cwnd` with `tp->reordering` raised): every octet
    /// counts once, when first delivered, SACKed or cumulatively ACKed,
    /// and an ACK that only SACKs grows cwnd too. Counted only at the
    /// cumulative ACK (RFC 5681), the octets SACKed while RACK waited out
    /// its reordering window were lost for growth whenever a recovery
    /// took them in. In the simulator (8 MiB, seeds 0–7, summed) 5 %
    /// reordering with 2 % loss took 2811 ms that way, 2304 ms this way;
    /// tests/nc_faults.rs's mix 3734 against 3448 ms, 5 % reordering
    /// alone 587 against 566 ms. Before reordering is seen, growth stays
    /// with `on_new_ack`: a SACK then means a loss more often than not.
    /// Not on an ACK that starts or ends a recovery.
    fn grow_by_delivery(&mut self, now: Instant, advanced: bool, delivered: &[Sent]) {
        let deferred = self.flight.deferred_growth.take();
        if !self.rack.reord || (advanced && deferred.is_none()) {
            return;
        }
        let octets: usize = delivered.iter().map(|p| p.end - p.start).sum();
        if octets == 0 {
            return;
        }
        let ack = deferred.unwrap_or(Ack {
            now,
            acked: 0,
            ack: self.tcb.snd.una,
            snd_max: self.snd_max,
            rtt: None,
            srtt: self.rtt.srtt(),
        });
        let mss = self.tcb.eff_snd_mss;
        self.cc.on_ack(
            &Ack {
                acked: octets,
                ..ack
            },
            mss,
        );
    }

    /// RFC 8985 §6.2 step 5 with its timer: marks what RACK finds lost and
    /// arms the reordering timer for what may still be reordered.
    fn rack_detect_loss(&mut self, now: Instant) -> bool {
        let srtt = self.rtt.srtt().unwrap_or(self.rtt.rto());
        let reo_wnd = self.rack.reo_wnd(
            self.cc.recovery.is_some(),
            self.flight.sent.segs_sacked(),
            srtt,
        );
        let (lost, wait) = self.rack.detect_loss(&mut self.flight.sent, now, reo_wnd);
        match wait {
            Some(w) => self.timers.set(TimerKind::Reorder, now + w),
            None => self.timers.stop(TimerKind::Reorder),
        }
        lost
    }

    /// The reordering timer fired: the pieces it waited for are lost now
    /// unless an ACK came; that may start recovery without any ACK.
    pub(super) fn on_reorder_timeout(&mut self, now: Instant) {
        if !self.negotiated.sack || self.tcb.snd.una == self.snd_max {
            return;
        }
        let was_in_recovery = self.cc.recovery.is_some();
        self.rack_detect_loss(now);
        self.maybe_enter_recovery(now);
        if !was_in_recovery && self.cc.recovery.is_some() {
            self.prr_update(0);
        }
        self.schedule_loss_probe(now);
    }

    /// Fast retransmit: with SACK, any piece RACK marked lost (or, from a
    /// peer that agreed to SACK but sends no blocks, the third duplicate
    /// ACK); without SACK, the third duplicate ACK (RFC 5681 §3.2, RFC
    /// 6582 §3.2 step 2). Not for losses of a window already recovered
    /// (RFC 6582 §3.2 step 1: SND.UNA at or below `recover`; with SACK,
    /// whose marks are per segment, below it: data sent during a recovery
    /// and lost after it ended is a new window's loss).
    pub(super) fn maybe_enter_recovery(&mut self, now: Instant) {
        let una = self.tcb.snd.una;
        let sack = self.negotiated.sack;
        let recovered = if sack {
            una.lt(self.cc.recover)
        } else {
            !una.gt(self.cc.recover)
        };
        if self.cc.recovery.is_some()
            || una == self.snd_max
            || recovered
            || !self.state.is_synchronized()
        {
            return;
        }
        let mss = self.tcb.eff_snd_mss;
        let enter = if sack {
            self.flight.sent.any_lost()
                || (self.cc.dupacks >= DUP_THRESH
                    && self.flight.scoreboard.ranges().is_empty()
                    && self.flight.sent.mark_first_lost())
        } else {
            self.cc.dupacks >= DUP_THRESH
        };
        if !enter {
            return;
        }
        let flight = self.snd_max - una;
        self.open_undo(false);
        // ssthresh is congestion control's choice; PRR then paces the
        // reduction towards it. With SACK, new data goes out for SACKed
        // octets before recovery too (`data_segment`), so FlightSize may
        // exceed the window by what was SACKed: the reduction is from
        // the window the path held, no more (and PRR spreads it over
        // that window, as Linux takes its cwnd at the event).
        let reduce_from = if sack {
            flight.min(self.cc.cwnd)
        } else {
            flight
        };
        self.cc
            .enter_recovery(reduce_from, mss, una, self.snd_max, sack);
        if sack {
            self.flight.prr = Prr::start(reduce_from);
        }
        self.flight.tlp = None;
        self.timers.stop(TimerKind::LossProbe);
        self.timers
            .set(TimerKind::Retransmission, now + self.rtt.rto());
    }

    /// RFC 6937: cwnd for this ACK is pipe + sndcnt.
    fn prr_update(&mut self, delivered: usize) {
        let pipe = self.flight.sent.pipe();
        let mss = self.tcb.eff_snd_mss;
        let sndcnt = self
            .flight
            .prr
            .on_ack(delivered, pipe, self.cc.ssthresh, mss);
        self.cc.cwnd = pipe + sndcnt;
    }

    /// SACK-based recovery ended. cwnd stays as `exit_recovery` left it,
    /// min(ssthresh, FlightSize + SMSS) (RFC 6582): PRR has brought the
    /// flight to about ssthresh, and where it has not (an application-
    /// limited or bursty flight) setting cwnd = ssthresh, as Linux does,
    /// would release the difference as one unpaced burst.
    pub(super) fn on_sack_recovery_end(&mut self) {
        self.rack.on_recovery_end();
    }

    // ----- tail loss probe, RFC 8985 §7 -----

    /// TLP_schedule (RFC 8985 §7.2): with SACK, data outstanding, no
    /// SACKed piece and no probe episode open (and an open window: a
    /// closed one is the persist timer's), the PTO is 2·SRTT (plus
    /// WCDelAckT when one segment is outstanding), and never later than
    /// the RTO would fire.
    ///
    /// Unlike RFC 8985 §7.2, the probe is armed during fast recovery too
    /// (SACKed pieces notwithstanding), as QUIC's PTO is (RFC 9002 §6.2).
    /// There, PRR holds new data back, so when the last ACKs of a flight
    /// are lost nothing else is coming: RACK has no later delivery to
    /// time the retransmissions against, and only the RTO was left,
    /// hundreds of round trips away on a short path, to end in a window
    /// of one segment. Through nettool's relay with mixed faults this
    /// was 5 to 13 timeouts per 32 MiB, most of the sending time. The
    /// probe's ACK ends the recovery, or its SACK shows RACK what is still
    /// missing; it reduces nothing further (`check_tlp`).
    pub(super) fn schedule_loss_probe(&mut self, now: Instant) {
        let sending = self.state.may_have_data_in_flight();
        let recovering = self.cc.recovery.is_some();
        if !self.negotiated.sack
            || !sending
            || self.flight.tlp.is_some()
            || self.tcb.snd.una == self.snd_max
            || self.tcb.snd.nxt != self.snd_max
            || self.tcb.snd.wnd == 0
            || (self.flight.sent.segs_sacked() > 0 && !recovering)
        {
            self.timers.stop(TimerKind::LossProbe);
            return;
        }
        let pto = self.pto();
        self.arm_loss_probe(now, pto);
    }

    /// After an ACK that delivered nothing (a duplicate ACK, or one
    /// carrying only the peer's data or window): the probe timer is not
    /// restarted (RFC 8985 §7.2 restarts it on new data sent and on an
    /// ACK of new data, as Linux does when an ACK acknowledges or SACKs
    /// something), or a stream of such ACKs would push it back until it
    /// met the RTO. It is armed if none is, and stopped where none may
    /// run.
    fn keep_loss_probe(&mut self, now: Instant) {
        let armed = self.timers.get(TimerKind::LossProbe);
        self.schedule_loss_probe(now);
        if let (Some(was), Some(new)) = (armed, self.timers.get(TimerKind::LossProbe)) {
            self.timers.set(TimerKind::LossProbe, was.min(new));
        }
    }

    /// The PTO for what is outstanding now (RFC 8985 §7.2).
    fn pto(&self) -> Duration {
        let flight = self.snd_max - self.tcb.snd.una;
        match self.rtt.srtt() {
            Some(srtt) if flight <= self.tcb.eff_snd_mss => srtt * 2 + WC_DEL_ACK_T,
            Some(srtt) => srtt * 2 + PTO_SLACK,
            None => Duration::from_secs(1),
        }
    }

    /// The probe timer, `after` from now but never later than the RTO
    /// (RFC 8985 §7.2: PTO = min(PTO, RTO expiration - now)). Linux
    /// computes that expiration from the oldest outstanding segment's
    /// send time (`tcp_rto_delta_us`) because its probe takes the RTO's
    /// place on the one retransmission timer; here the RTO keeps its own
    /// timer, so its deadline is the expiration itself. What could still
    /// delay the RTO is a probe re-armed at that deadline over and over,
    /// each re-arming the RTO in turn: one probe per episode
    /// (`check_tlp`) and no restart on ACKs that deliver nothing
    /// (`keep_loss_probe`) rule it out.
    fn arm_loss_probe(&mut self, now: Instant, after: Duration) {
        let rto_at = self
            .timers
            .get(TimerKind::Retransmission)
            .unwrap_or(now + self.rtt.rto());
        self.timers
            .set(TimerKind::LossProbe, (now + after).min(rto_at));
    }

    /// TLP_send_probe (RFC 8985 §7.3): new data if the peer's window lets
    /// it go (cwnd notwithstanding), else the last piece sent again (data,
    /// or a FIN); then the RTO runs from now.
    ///
    /// A probe of new data still unanswered after twice the PTO is
    /// followed by a second one (QUIC backs its PTO off likewise, RFC 9002
    /// §6.2.4; RFC 8985 sends one probe per episode). A new segment after
    /// a flight whose ACKs were lost arrives alone, in order, and the
    /// receiver may delay its ACK (Linux by 40 ms, where the relay's
    /// round trip is tens of microseconds); a second segment draws an ACK
    /// at once (RFC 5681 §4.2), or a SACK if the first was lost. Without
    /// it the RTO fired, 200 ms later, 1 to 4 times per 32 MiB through the
    /// relay's mixed faults. A resent probe needs no second: it is a
    /// duplicate or fills a hole, and either draws an immediate ACK.
    pub(super) fn send_loss_probe(&mut self, now: Instant) {
        let una = self.tcb.snd.una;
        if una == self.snd_max || !self.state.is_synchronized() {
            return;
        }
        let mss = self.tcb.eff_snd_mss;
        let flight = self.snd_max - una;
        let nxt = self.tcb.snd.nxt;
        let end = self.snd_buf_seq() + self.snd_buf.len();
        let window_end = self.send_window_end();
        let room = if window_end.gt(nxt) {
            window_end - nxt
        } else {
            0
        };
        let fin_waits = self.fin_seq.is_some_and(|f| f == nxt);
        let new_data = nxt == self.snd_max
            && ((nxt.lt(end) && room >= (end - nxt).min(mss)) || (!nxt.lt(end) && fin_waits));
        let (seg, is_retrans) = if new_data {
            (self.send_range(now, nxt, mss.min(room)), false)
        } else {
            let Some(last) = self.flight.sent.last().copied() else {
                return;
            };
            let len = (last.end - last.start).min(mss);
            (self.send_range(now, last.start, len), true)
        };
        let first = self.flight.tlp;
        if let Some(seg) = seg {
            self.probes += 1;
            self.queue(seg);
            self.flight.tlp = Some(Tlp {
                end_seq: self.snd_max,
                is_retrans,
                // The episode's congestion response is for the flight
                // its first probe found.
                flight: first.map_or(flight, |t| t.flight),
                in_recovery: first.map_or(self.cc.recovery.is_some(), |t| t.in_recovery),
            });
        }
        self.timers
            .set(TimerKind::Retransmission, now + self.rtt.rto());
        if first.is_none() && !is_retrans && self.flight.tlp.is_some() {
            let pto = self.pto();
            self.arm_loss_probe(now, pto * 2);
        }
    }

    /// TLP's loss detection (RFC 8985 §7.4): once the ACKs reach the
    /// probe, a retransmitted probe that drew no D-SACK repaired a real
    /// loss, which calls for the congestion response fast recovery would
    /// have made (ssthresh from the FlightSize at the probe, cwnd =
    /// ssthresh); a D-SACK says the original had arrived too.
    ///
    /// Below the probe's end the episode stays open (RFC 8985 §7.4.2
    /// looks only at ACKs at or above TLP.end_seq): a duplicate ACK there
    /// says a hole is still below the probe, not that the probe was a
    /// duplicate. Ended by it, the episode let the next ACK arm another
    /// probe, at the RTO's own deadline, where it replaced the RTO again:
    /// a FIN beyond a lost segment, acknowledged by a receiver that does
    /// not SACK it, was probed every 200 ms until three duplicate ACKs
    /// made a fast retransmit, instead of being repaired by the RTO.
    fn check_tlp(&mut self, una: SeqNum, dsack: Option<(SeqNum, SeqNum)>) {
        let Some(t) = self.flight.tlp else {
            return;
        };
        if !t.is_retrans || dsack.is_some() {
            if !una.lt(t.end_seq) || dsack.is_some() {
                self.flight.tlp = None;
            }
            return;
        }
        if una.lt(t.end_seq) {
            return;
        }
        self.flight.tlp = None;
        // The ACK that reaches a probe sent in recovery may also have
        // ended that recovery: its reduction stands for the probe's.
        if self.cc.recovery.is_none() && !t.in_recovery {
            let mss = self.tcb.eff_snd_mss;
            self.cc
                .enter_recovery(t.flight, mss, una, self.snd_max, true);
            self.cc.recovery = None;
            self.cc.cwnd = self.cc.ssthresh;
        }
    }

    // ----- undo, RFC 3522 / RFC 3708 -----

    /// A congestion event begins (fast recovery, or the first RTO): keep
    /// the window it is about to cut. Inside an episode still open, the
    /// window from before the first event stays.
    pub(super) fn open_undo(&mut self, rto: bool) {
        let high = self.snd_max;
        if let Some(u) = &mut self.flight.undo
            && self.tcb.snd.una.lt(u.high)
        {
            u.rto |= rto;
            u.high = high;
            return;
        }
        self.flight.undo = Some(Undo {
            cwnd: self.cc.cwnd,
            ssthresh: self.cc.ssthresh,
            una: self.tcb.snd.una,
            high,
            ts: None,
            retrans: 0,
            any_retrans: false,
            rto,
            until: None,
        });
    }

    /// The evidence of one ACK: with timestamps, the first ACK to move
    /// SND.UNA past the retransmitted octets echoing a TSval older than
    /// the first retransmission was sent for the original (Eifel, RFC
    /// 3522 §2); with D-SACK, every retransmitted octet reported as a
    /// duplicate (RFC 3708 §3; `dsack_resent` octets of them by this ACK). Either makes the event spurious. The
    /// episode closes a round trip after SND.UNA reaches what was
    /// outstanding at the event: the D-SACK for a last retransmission
    /// arrives about then.
    fn check_undo(
        &mut self,
        now: Instant,
        una: SeqNum,
        advanced: bool,
        ecr: Option<u32>,
        dsack_resent: usize,
    ) {
        let Some(mut u) = self.flight.undo.take() else {
            return;
        };
        let mut spurious = false;
        if dsack_resent > 0 && u.any_retrans {
            u.retrans = u.retrans.saturating_sub(dsack_resent);
            spurious = u.retrans == 0;
        }
        if !spurious
            && advanced
            && una.gt(u.una)
            && let (Some(ecr), Some(ts)) = (ecr, u.ts)
        {
            spurious = (ecr.wrapping_sub(ts) as i32) < 0;
            // Eifel has spoken for this episode either way.
            u.ts = None;
        }
        if una.ge(u.high) {
            let srtt = self.rtt.srtt().unwrap_or(self.rtt.rto());
            let until = *u.until.get_or_insert(now + srtt * 2);
            if now > until && !spurious {
                self.flight.undo = None;
                return;
            }
        }
        self.flight.undo = Some(u);
        if spurious {
            self.undo_congestion_event();
        }
    }

    /// The congestion event was spurious: restore the window from before
    /// it (RFC 4015 §3 for an RTO: and stop going back over data that
    /// arrived), leave recovery.
    fn undo_congestion_event(&mut self) {
        let Some(u) = self.flight.undo.take() else {
            return;
        };
        // The single call site of congestion control's own undo (cwnd,
        // ssthresh and CUBIC's W_max, epoch, K, HyStart++'s rounds, from
        // before its last congestion event). Without one to undo, the
        // window saved when this episode began goes back.
        if !self.cc.undo_congestion_event() {
            self.cc.cwnd = self.cc.cwnd.max(u.cwnd);
            self.cc.ssthresh = self.cc.ssthresh.max(u.ssthresh);
        }
        if self.cc.recovery.is_some() {
            self.rack.on_recovery_end();
        }
        self.cc.recovery = None;
        // The episode reduced nothing, so it guards no window: a loss
        // among what it had outstanding is a new event (kept, RFC 6582's
        // `recover` left such a loss to the RTO).
        self.cc.recover = self.tcb.snd.una - 1usize;
        self.cc.dupacks = 0;
        self.cc.rexmit_una = false;
        self.flight.sent.forget_lost();
        if u.rto && self.tcb.snd.nxt.lt(self.snd_max) {
            self.tcb.snd.nxt = self.snd_max;
        }
        self.undos += 1;
    }
}
