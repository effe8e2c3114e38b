//! SEGMENT ARRIVES, RFC 9293 §3.10.7, one function per subsection and,
//! for §3.10.7.4, one per step, in the RFC's order. RFC 5961's mitigations
//! (§3 RST, §4 SYN, §5 ACK) replace the corresponding RFC 793 rules, as
//! RFC 9293 recommends, with §7's rate limit on the challenge ACKs they
//! draw (`challenge.rs`).

use std::net::IpAddr;

use crate::time::Instant;
use crate::wire::tcp::{Flags, TcpOption, TcpRepr};

use super::cc::Ack;
use super::conn::{
    Connection, DEFAULT_SEND_MSS, DropReason, Event, IssSource, MAX_WSCALE, Reason, rst_for,
};
use super::seq::{SeqNum, ack_is_acceptable, segment_is_acceptable};
use super::state::State;
use super::timer::TimerKind;

/// Whether processing continues with the next step.
type Step = Result<(), DropReason>;

/// How many ticks a TSval may lag TS.Recent and still pass PAWS (Linux's
/// `TCP_PAWS_WINDOW`): reordering by less than a tick of the peer's
/// timestamp clock is not an old duplicate.
const PAWS_WINDOW: i32 = 1;

impl Connection {
    /// SEGMENT ARRIVES for a segment from the connection's peer. While
    /// LISTENing, use [`handle_segment_from`](Self::handle_segment_from)
    /// so the connection learns the peer's address.
    pub fn handle_segment(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let from = self.ends.remote().ip();
        self.handle_segment_from(now, from, seg);
    }

    /// SEGMENT ARRIVES from `src_ip` (the source address of the packet).
    /// A LISTENing connection ignores a segment whose source is unspecified
    /// (as `handle_segment` passes while no peer is known): it could not
    /// answer it.
    pub fn handle_segment_from(
        &mut self,
        now: Instant,
        src_ip: impl Into<IpAddr>,
        seg: &TcpRepr<'_>,
    ) {
        let src_ip = src_ip.into();
        // A LISTENing connection takes its peer's family from the SYN; it
        // must be its own.
        let (local, remote) = (self.ends.local(), self.ends.remote());
        let same_family = src_ip.is_ipv4() == local.is_ipv4();
        let ours = seg.dst_port == local.port()
            && same_family
            && if self.state == State::Listen {
                !src_ip.is_unspecified()
            } else {
                seg.src_port == remote.port() && src_ip == remote.ip()
            };
        if !ours {
            self.drop_segment(DropReason::NotForUs);
            return;
        }
        let result = match self.state {
            State::Closed => self.segment_arrives_closed(src_ip, seg),
            State::Listen => self.segment_arrives_listen(now, src_ip, seg),
            State::SynSent => self.segment_arrives_syn_sent(now, seg),
            _ => self.segment_arrives_other(now, seg),
        };
        match result {
            Ok(()) if self.config.keepalive.is_some() => self.keepalive_heard(now),
            Ok(()) => {}
            Err(reason) => self.drop_segment(reason),
        }
    }

    /// §3.10.7.1 CLOSED: everything but a RST is answered with a RST.
    fn segment_arrives_closed(&mut self, src_ip: IpAddr, seg: &TcpRepr<'_>) -> Step {
        if let Some(rst) = rst_for(src_ip, self.ends.local().ip(), seg) {
            self.out.queued.push_back(rst);
        }
        Err(DropReason::NoConnection)
    }

    /// §3.10.7.2 LISTEN.
    fn segment_arrives_listen(&mut self, now: Instant, src_ip: IpAddr, seg: &TcpRepr<'_>) -> Step {
        // First, check for a RST: ignore it.
        if seg.flags.contains(Flags::RST) {
            return Err(DropReason::Unexpected);
        }
        // Second, an ACK: nothing has been sent, so it is bad: <SEQ=SEG.ACK><CTL=RST>.
        if seg.ack.is_some() {
            if let Some(rst) = rst_for(src_ip, self.ends.local().ip(), seg) {
                self.out.queued.push_back(rst);
            }
            return Err(DropReason::Unexpected);
        }
        // Third, a SYN: set up SYN-RECEIVED. Text and FIN on the SYN are
        // not queued; the peer retransmits them after the handshake.
        if !seg.flags.contains(Flags::SYN) {
            return Err(DropReason::Unexpected);
        }
        self.ends.set_remote(src_ip, seg.src_port);
        let iss = match self.iss_source {
            IssSource::Fixed(iss) => iss,
            IssSource::Generated(g) => g.isn(now, self.ends.local(), self.ends.remote()),
        };
        self.set_iss(iss);
        self.accept_syn(seg);
        self.arm_user_timer(now);
        self.set_state(State::SynReceived);
        Ok(())
    }

    /// The parts of receiving a SYN shared by LISTEN and SYN-SENT: IRS,
    /// RCV.NXT, the peer's window and the option negotiation.
    fn accept_syn(&mut self, seg: &TcpRepr<'_>) {
        self.tcb.rcv.irs = seg.seq;
        self.tcb.rcv.nxt = seg.seq + 1usize;
        self.last_ack_sent = self.tcb.rcv.nxt;
        let offer = self.negotiated;
        // RFC 7323 §2.2: window scaling only when both sides offer it.
        match (offer.wscale, seg.window_scale()) {
            (Some(ours), Some(theirs)) => {
                self.tcb.rcv.wscale = ours;
                self.tcb.snd.wscale = theirs.min(MAX_WSCALE);
            }
            _ => {
                self.negotiated.wscale = None;
                self.tcb.rcv.wscale = 0;
                self.tcb.snd.wscale = 0;
            }
        }
        self.negotiated.sack = offer.sack && seg.sack_permitted();
        self.negotiated.timestamps = offer.timestamps && seg.timestamps().is_some();
        if let Some((val, _)) = seg.timestamps() {
            self.ts_recent = val;
        }
        self.negotiated.peer_mss = seg.mss().unwrap_or(DEFAULT_SEND_MSS);
        self.update_eff_snd_mss();
        // The window of a SYN is never scaled.
        self.tcb.snd.wnd = usize::from(seg.window);
        self.max_snd_wnd = self.tcb.snd.wnd;
        self.tcb.snd.wl1 = seg.seq;
        self.tcb.snd.wl2 = seg.ack.unwrap_or(self.tcb.snd.iss);
    }

    /// §3.10.7.3 SYN-SENT.
    fn segment_arrives_syn_sent(&mut self, now: Instant, seg: &TcpRepr<'_>) -> Step {
        let rst = seg.flags.contains(Flags::RST);
        // First, check the ACK: it must acknowledge our SYN.
        if let Some(ack) = seg.ack
            && (ack.le(self.tcb.snd.iss) || ack.gt(self.snd_max))
        {
            if !rst {
                let reply = self.segment(ack, Flags::RST, false, Vec::new());
                self.out.queued.push_back(reply);
            }
            return Err(DropReason::BadAck);
        }
        // Second, the RST: only with an acceptable ACK ("connection refused";
        // RFC 5961 §3 keeps this rule for SYN-SENT).
        if rst {
            if seg.ack.is_some() {
                self.enter_closed(Reason::Reset);
                return Ok(());
            }
            return Err(DropReason::Unexpected);
        }
        // Fourth, the SYN.
        if !seg.flags.contains(Flags::SYN) {
            return Err(DropReason::Unexpected);
        }
        self.accept_syn(seg);
        match seg.ack {
            Some(ack) => {
                // Our SYN is acknowledged: ESTABLISHED, and ACK theirs.
                self.on_new_ack(now, ack, seg.timestamps().map(|(_, ecr)| ecr));
                self.establish();
                self.ack_pending = true;
                // "If there are other controls or text in the segment,
                // continue processing at the sixth step."
                let acked = self.process_segment_text(now, seg);
                self.check_fin(now, seg, acked);
            }
            None => {
                // Simultaneous open (§3.5, figure 8): resend our SYN as
                // <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
                self.tcb.snd.nxt = self.tcb.snd.iss;
                self.set_state(State::SynReceived);
            }
        }
        Ok(())
    }

    /// ESTABLISHED reached from SYN-SENT or SYN-RECEIVED. A CLOSE issued in
    /// SYN-RECEIVED takes effect now.
    fn establish(&mut self) {
        // Our SYN is acknowledged: it leaves the transmission log now, not
        // with the first ACK of data, so it never counts as in flight.
        self.flight.sent.advance(self.tcb.snd.una, &mut Vec::new());
        self.cc.start(
            self.tcb.eff_snd_mss,
            self.tcb.snd.iss,
            self.syn_retransmitted,
        );
        self.set_state(State::Established);
        self.out.events.push_back(Event::Connected);
        if self.fin_seq.is_some() {
            self.set_state(State::FinWait1);
        }
    }

    /// §3.10.7.4 Other States: the steps in order; each may end processing.
    ///
    /// A segment dropped at any step changes no state (design decision 12):
    /// TS.Recent in particular is taken from a segment only once its ACK
    /// has been accepted, as Linux does (`tcp_validate_incoming` checks,
    /// `tcp_ack` accepts, then `tcp_replace_ts_recent`). Taken earlier, a
    /// SYN or a bad ACK carrying a TSval far ahead would earn its challenge
    /// ACK and still leave PAWS rejecting every real segment after it.
    fn segment_arrives_other(&mut self, now: Instant, seg: &TcpRepr<'_>) -> Step {
        let ts_recent = self.check_sequence_number(now, seg)?;
        if seg.flags.contains(Flags::RST) {
            return self.check_rst(now, seg);
        }
        // Third step (security) does not apply: nettool sets no compartment.
        if seg.flags.contains(Flags::SYN) {
            return self.check_syn(now);
        }
        self.check_ack(now, seg)?;
        if let Some(val) = ts_recent {
            self.ts_recent = val;
        }
        match self.state {
            // LAST-ACK: our FIN was acknowledged, the TCB is gone.
            State::Closed => return Ok(()),
            // CLOSING, our FIN not acknowledged yet: "otherwise ignore the
            // segment", past its ACK. The segment is not discarded (the
            // ACK was taken), so no drop is reported.
            State::Closing => return Ok(()),
            _ => {}
        }
        // Sixth step, URG: parsed, never acted upon.
        let acked = self.process_segment_text(now, seg);
        self.check_fin(now, seg, acked);
        Ok(())
    }

    /// §3.10.7.4 first step: the four-case acceptability test. An
    /// unacceptable segment gets `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`
    /// unless it is a RST.
    ///
    /// Two retransmissions, which the test would call old duplicates, are
    /// recognised and answered, as Linux does. In SYN-RECEIVED, the peer's
    /// SYN again (our SYN,ACK was lost): resend the SYN,ACK at once rather
    /// than wait for our own timer. In TIME-WAIT, the peer's FIN again (our
    /// last ACK was lost): re-ACK it and restart the 2×MSL timer
    /// (§3.10.7.4 fifth and eighth steps), but only if it would pass every
    /// other check (see [`Self::is_fin_again`]). Neither is accepted: the
    /// answer is all that changes.
    ///
    /// An acceptable segment returns the TSval that TS.Recent takes if the
    /// later steps accept the segment too (RFC 7323 §4.3 (2)); this step
    /// does not take it itself.
    fn check_sequence_number(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
    ) -> Result<Option<u32>, DropReason> {
        let rst = seg.flags.contains(Flags::RST);
        let rcv = self.tcb.rcv;
        let len = seg.segment_len();
        if self.state == State::SynReceived
            && !rst
            && seg.flags.contains(Flags::SYN)
            && seg.ack.is_none()
            && seg.seq == rcv.irs
        {
            // TS.Recent stays: RFC 7323 §4.3 takes a TSval only from a
            // segment covering Last.ACK.sent, which is past the SYN.
            self.tcb.snd.nxt = self.tcb.snd.iss;
            return Err(DropReason::Retransmission);
        }
        // PAWS (RFC 7323 §5.3 R1): once the SYN set TS.Recent (so in
        // SYN-RECEIVED too, as Linux's tcp_check_req checks), a non-RST
        // segment whose TSval is older than TS.Recent is an old duplicate
        // from an earlier wrap of the sequence space or an earlier
        // incarnation: ACK and drop it.
        // Older by more than PAWS_WINDOW, as Linux reads it: a resend
        // that fills a hole moves TS.Recent to its own TSval, and the
        // segments sent a tick before it and reordered behind it are new
        // data. (TS.Recent is never invalidated by idleness here: RFC
        // 7323 §5.5's 24-day rule is left out.)
        if self.negotiated.timestamps
            && !rst
            && let Some((val, _)) = seg.timestamps()
            && (self.ts_recent.wrapping_sub(val) as i32) > PAWS_WINDOW
        {
            self.ack_pending = true;
            // Data wholly below RCV.NXT is a duplicate all the same: the
            // ACK owed reports it (RFC 2883), as Linux's does.
            let data = seg.payload.len();
            if self.negotiated.sack && data > 0 && (seg.seq + data).le(rcv.nxt) {
                self.flight.dsack = Some((seg.seq, seg.seq + data));
            }
            return Err(DropReason::OutOfWindow);
        }
        if self.is_fin_again(seg) {
            self.ack_pending = true;
            self.timers
                .set(TimerKind::TimeWait, now + self.config.msl * 2);
            return Err(DropReason::Retransmission);
        }
        // "If the RCV.WND is zero, no segments will be acceptable, but
        // special allowance should be made to accept valid ACKs, URGs, and
        // RSTs" (§3.10.7.4): a segment at RCV.NXT is taken for its control
        // bits, as Linux's tcp_sequence does, and its text is dropped in
        // the seventh step. Without it, a peer's ACKs riding on its window
        // probes are lost while our application is not reading, and our
        // own sending stalls behind them.
        let zero_window_probe = rcv.wnd == 0 && seg.seq == rcv.nxt;
        if segment_is_acceptable(seg.seq, len, rcv.nxt, rcv.wnd) || zero_window_probe {
            // RFC 7323 §4.3 (2): TS.Recent follows segments that start at
            // or before Last.ACK.sent, so a delayed ACK echoes the oldest
            // unacknowledged segment's TSval.
            // One a tick behind (inside PAWS_WINDOW) leaves it be.
            let ts_recent = seg
                .timestamps()
                .filter(|_| seg.seq.le(self.last_ack_sent))
                .map(|(val, _)| val)
                .filter(|&val| (val.wrapping_sub(self.ts_recent) as i32) >= 0);
            return Ok(ts_recent);
        }
        if !rst {
            self.ack_pending = true;
            // RFC 2883: data wholly below RCV.NXT is a duplicate; the ACK
            // owed reports its range as a D-SACK block. (Part of the
            // answer, like the ACK itself: nothing else moves.)
            let data = seg.payload.len();
            if self.negotiated.sack && data > 0 && (seg.seq + data).le(rcv.nxt) {
                self.flight.dsack = Some((seg.seq, seg.seq + data));
            }
        }
        Err(DropReason::OutOfWindow)
    }

    /// TIME-WAIT: the peer's FIN again, ending at RCV.NXT, and acceptable
    /// but for its place: no RST or SYN, an ACK in the range the fifth
    /// step accepts (PAWS has passed it already). Anything else there is
    /// an old duplicate, or forged: restarting 2×MSL for it would let such
    /// segments hold the connection in TIME-WAIT.
    fn is_fin_again(&self, seg: &TcpRepr<'_>) -> bool {
        self.state == State::TimeWait
            && seg.flags.contains(Flags::FIN)
            && !seg.flags.contains(Flags::RST)
            && !seg.flags.contains(Flags::SYN)
            && seg.seq + seg.segment_len() == self.tcb.rcv.nxt
            && seg.ack.is_some_and(|ack| self.ack_in_range(ack))
    }

    /// RFC 5961 §5 with RFC 9293's fifth step: SND.UNA − MAX.SND.WND ≤
    /// SEG.ACK ≤ SND.NXT (SND.NXT being the highest sent, since SND.NXT
    /// itself goes back on a retransmission timeout). An ACK beyond it
    /// "acks something not yet sent"; one below is an injection attempt or
    /// garbage.
    fn ack_in_range(&self, ack: SeqNum) -> bool {
        !ack.gt(self.snd_max) && !ack.lt(self.tcb.snd.una - self.max_snd_wnd)
    }

    /// §3.10.7.4 second step with RFC 5961 §3: only a RST exactly at
    /// RCV.NXT resets; one elsewhere in the window gets a challenge ACK.
    fn check_rst(&mut self, now: Instant, seg: &TcpRepr<'_>) -> Step {
        if seg.seq != self.tcb.rcv.nxt {
            self.challenge_ack(now);
            return Err(DropReason::RstNotExact);
        }
        match self.state {
            // A passive OPEN goes back to LISTEN (§3.10.7.4, SYN-RECEIVED).
            State::SynReceived if self.passive => self.return_to_listen(),
            // TIME-WAIT: the connection had already ended cleanly.
            State::TimeWait => self.enter_closed(Reason::Normal),
            _ => self.enter_closed(Reason::Reset),
        }
        Ok(())
    }

    /// RFC 5961's challenge ACK, `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`,
    /// unless the connection sent one less than
    /// [`CHALLENGE_ACK_INTERVAL`](super::CHALLENGE_ACK_INTERVAL) ago (§7).
    fn challenge_ack(&mut self, now: Instant) {
        if self.challenge.allow(now) {
            self.ack_pending = true;
        }
    }

    /// §3.10.7.4 fourth step with RFC 5961 §4: a SYN in a synchronized
    /// state (or a new SYN in SYN-RECEIVED of an active OPEN) gets a
    /// challenge ACK; a passive OPEN in SYN-RECEIVED returns to LISTEN.
    fn check_syn(&mut self, now: Instant) -> Step {
        if self.state == State::SynReceived && self.passive {
            self.return_to_listen();
            return Ok(());
        }
        self.challenge_ack(now);
        Err(DropReason::SynInWindow)
    }

    /// §3.10.7.4 fifth step, with RFC 5961 §5's range check.
    fn check_ack(&mut self, now: Instant, seg: &TcpRepr<'_>) -> Step {
        let Some(ack) = seg.ack else {
            return Err(DropReason::NoAck);
        };
        if self.state == State::SynReceived {
            if !ack_is_acceptable(self.tcb.snd.una, ack, self.snd_max) {
                // <SEQ=SEG.ACK><CTL=RST>
                let rst = self.segment(ack, Flags::RST, false, Vec::new());
                self.out.queued.push_back(rst);
                return Err(DropReason::BadAck);
            }
            self.on_new_ack(now, ack, seg.timestamps().map(|(_, ecr)| ecr));
            self.tcb.snd.wnd = usize::from(seg.window) << self.tcb.snd.wscale;
            self.max_snd_wnd = self.max_snd_wnd.max(self.tcb.snd.wnd);
            self.tcb.snd.wl1 = seg.seq;
            self.tcb.snd.wl2 = ack;
            self.establish();
        }
        let una = self.tcb.snd.una;
        // Outside the range: ACK (a challenge ACK below it) and drop.
        if !self.ack_in_range(ack) {
            self.challenge_ack(now);
            return Err(DropReason::AckOutOfRange);
        }
        self.acked_since_rto = true;
        let mut fresh = Vec::new();
        let (newly_sacked, dsack) = if self.negotiated.sack {
            self.take_sack_blocks(seg, ack, &mut fresh)
        } else {
            (0, None)
        };
        // RFC 5681 §2 duplicate ACK (with RFC 6675's "or SACKs new data"
        // in place of "the window is unchanged" when SACK is in use).
        let same_window = (usize::from(seg.window) << self.tcb.snd.wscale) == self.tcb.snd.wnd;
        if ack == una
            && una != self.snd_max
            && seg.payload.is_empty()
            && !seg.flags.contains(Flags::FIN)
            && (same_window || newly_sacked > 0)
        {
            self.cc.dupacks += 1;
            if self.cc.recovery.is_some() && !self.negotiated.sack {
                // RFC 6582 §3.2 step 4: inflate by the segment that left.
                self.cc.cwnd += self.tcb.eff_snd_mss;
            }
        }
        if una.lt(ack) {
            self.on_new_ack(now, ack, seg.timestamps().map(|(_, ecr)| ecr));
        }
        self.update_send_window(seg, ack);
        self.on_ack_loss_recovery(now, seg, una, &fresh, dsack);
        let fin_acked = self.fin_seq.is_some_and(|f| self.tcb.snd.una.gt(f));
        match self.state {
            State::FinWait1 if fin_acked => self.set_state(State::FinWait2),
            State::Closing if fin_acked => self.enter_time_wait(now),
            State::LastAck if fin_acked => self.enter_closed(Reason::Normal),
            _ => {}
        }
        Ok(())
    }

    /// RFC 2018 §4 / RFC 6675 §3: records the SACK blocks of an ACK on
    /// the scoreboard; returns the octets newly SACKed (their ranges in
    /// `fresh`), and the D-SACK block if the first one is one (RFC 2883
    /// §4: below SEG.ACK, or inside the second block) and a plausible one,
    /// as Linux requires: no longer than the largest window the peer
    /// offered, and not starting below SND.UNA by more than that (such a
    /// block reports nothing this connection could still have in flight,
    /// and must not feed undo or the reordering window).
    fn take_sack_blocks(
        &mut self,
        seg: &TcpRepr<'_>,
        ack: SeqNum,
        fresh: &mut Vec<(SeqNum, SeqNum)>,
    ) -> (usize, Option<(SeqNum, SeqNum)>) {
        let mut new = 0;
        let mut dsack = None;
        for opt in &seg.options {
            if let TcpOption::Sack(blocks) = opt {
                let una = self.tcb.snd.una;
                let max_wnd = self.max_snd_wnd;
                if let Some(&(l, r)) = blocks.first()
                    && l.lt(r)
                    && (r.le(ack) || blocks.get(1).is_some_and(|&(l2, r2)| l2.le(l) && r.le(r2)))
                    && r - l <= max_wnd
                    && !l.lt(una - max_wnd)
                    && !r.gt(self.snd_max)
                {
                    dsack = Some((l, r));
                }
                for &(l, r) in blocks {
                    new += self.flight.scoreboard.add_block(
                        self.tcb.snd.una,
                        self.snd_max,
                        l,
                        r,
                        fresh,
                    );
                }
            }
        }
        (new, dsack)
    }

    /// SND.UNA advances to `ack`: drop acknowledged bytes, take an RTT
    /// sample (from the echoed timestamp, RFC 7323 §4, once per round
    /// trip, or from the timed segment, Karn's algorithm), reset the retry
    /// count, grow or deflate cwnd, and restart or stop the retransmission
    /// timer (RFC 6298 §5.2, §5.3).
    pub(super) fn on_new_ack(&mut self, now: Instant, ack: SeqNum, tsecr: Option<u32>) {
        let acked = ack - self.tcb.snd.una;
        let buf_seq = self.snd_buf_seq();
        if ack.gt(buf_seq) {
            let n = (ack - buf_seq).min(self.snd_buf.len());
            self.snd_buf.drain(..n);
            super::idle::release_if_empty(&mut self.snd_buf);
        }
        self.tcb.snd.una = ack;
        if self.tcb.snd.nxt.lt(ack) {
            self.tcb.snd.nxt = ack;
        }
        self.retries = 0;
        self.flight.scoreboard.advance(ack);
        if self.cc.high_rxt.lt(ack) {
            self.cc.high_rxt = ack;
        }
        // This ACK's own RTT measurement, for HyStart++ (which wants one
        // per ACK, where the estimator takes one per round trip): from the
        // transmission log, in microseconds, or else from the timestamp
        // echo (whole milliseconds) or the timed segment.
        let logged_rtt = self.flight.sent.ack_rtt(ack, now);
        let mut ack_rtt = None;
        if self.negotiated.timestamps {
            // RTTM: TSecr is the TSval of the segment that made the peer
            // ACK, retransmission or not, so Karn's ambiguity is gone.
            let ms = tsecr
                .filter(|ecr| {
                    self.ts_rexmit
                        .is_none_or(|r| ecr.wrapping_sub(r) as i32 >= 0)
                })
                .map(|ecr| self.ts_val(now).wrapping_sub(ecr))
                .filter(|ms| *ms < 60_000)
                .map(|ms| std::time::Duration::from_millis(u64::from(ms)));
            if let Some(ecr) = tsecr
                && ack.gt(self.ts_rtt_mark)
                && self
                    .ts_rexmit
                    .is_none_or(|r| ecr.wrapping_sub(r) as i32 >= 0)
            {
                self.ts_rexmit = None;
                if let Some(ms) = ms {
                    self.rtt.sample(ms, &self.config.rto);
                    self.ts_rtt_mark = self.snd_max;
                }
            }
            ack_rtt = ms;
            self.rtt_probe = None;
        } else if let Some((end, sent)) = self.rtt_probe
            && ack.ge(end)
        {
            self.rtt.sample(now - sent, &self.config.rto);
            ack_rtt = Some(now - sent);
            self.rtt_probe = None;
        }
        let mss = self.tcb.eff_snd_mss;
        match self.cc.recovery {
            Some(point) if ack.ge(point) => {
                self.cc.exit_recovery(self.snd_max - ack, mss);
                if self.negotiated.sack {
                    self.on_sack_recovery_end();
                }
            }
            Some(_) => {
                if !self.negotiated.sack {
                    self.cc.partial_ack(acked, mss);
                }
            }
            None => {
                self.cc.dupacks = 0;
                if self.state.is_synchronized() {
                    let ack = Ack {
                        now,
                        acked,
                        ack,
                        snd_max: self.snd_max,
                        rtt: logged_rtt.or(ack_rtt),
                        srtt: self.rtt.srtt(),
                    };
                    if self.negotiated.sack && self.rack.reord {
                        // Counted by delivery, after loss detection.
                        self.flight.deferred_growth = Some(ack);
                    } else {
                        self.cc.on_ack(&ack, mss);
                    }
                }
            }
        }
        if ack == self.snd_max {
            self.timers.stop(TimerKind::Retransmission);
            self.timers.stop(TimerKind::User);
            self.timers.stop(TimerKind::Reorder);
            self.timers.stop(TimerKind::LossProbe);
        } else {
            self.timers
                .set(TimerKind::Retransmission, now + self.rtt.rto());
            self.arm_user_timer(now);
        }
    }

    /// The window update rule: take SEG.WND when the segment is newer
    /// than the one last used (`SND.WL1 < SEG.SEQ`, or equal and
    /// `SND.WL2 =< SEG.ACK`), for `SND.UNA =< SEG.ACK`.
    fn update_send_window(&mut self, seg: &TcpRepr<'_>, ack: SeqNum) {
        let snd = &mut self.tcb.snd;
        if ack.lt(snd.una) {
            return;
        }
        if snd.wl1.lt(seg.seq) || (snd.wl1 == seg.seq && snd.wl2.le(ack)) {
            let wnd = usize::from(seg.window) << snd.wscale;
            // The window reopens while octets sent into it when closed (a
            // probe) are unacknowledged: the peer dropped them, so resume
            // from SND.UNA rather than leave a hole behind.
            if snd.wnd == 0 && wnd > 0 && ack == snd.una && snd.nxt.gt(snd.una) {
                snd.nxt = snd.una;
            }
            snd.wnd = wnd;
            snd.wl1 = seg.seq;
            snd.wl2 = ack;
            self.max_snd_wnd = self.max_snd_wnd.max(snd.wnd);
        }
    }

    /// §3.10.7.4 seventh step: in ESTABLISHED, FIN-WAIT-1 and FIN-WAIT-2,
    /// put the text in the receive buffer: in order, it advances RCV.NXT
    /// (and with it any held data it reaches); after a gap it is held for
    /// reassembly. Either way only as much as the buffer holds. Text in
    /// other states is ignored.
    ///
    /// ACK policy (RFC 9293 §3.8.6.3, RFC 5681 §4.2): out-of-order text,
    /// text that fills a hole, and text that did not fit are acknowledged
    /// at once; other in-order text by the delayed-ACK rule. Out-of-order
    /// text with a FIN is acknowledged by the eighth step instead, once
    /// the FIN is remembered, so that the one ACK it draws SACKs both.
    /// Returns whether an ACK went out at once.
    fn process_segment_text(&mut self, now: Instant, seg: &TcpRepr<'_>) -> bool {
        if seg.payload.is_empty()
            || !matches!(
                self.state,
                State::Established | State::FinWait1 | State::FinWait2
            )
        {
            return false;
        }
        if self.tcb.rcv.wnd == 0 {
            // Let in by the first step for its ACK only: the window is
            // closed, so the text is out of it (a bare FIN is taken in the
            // eighth step, as Linux takes it).
            self.ack_pending = true;
            self.drop_segment(DropReason::OutOfWindow);
            return false;
        }
        let mut data = seg.payload;
        let mut seq = seg.seq + usize::from(seg.flags.contains(Flags::SYN));
        let rcv_nxt = self.tcb.rcv.nxt;
        let sack = self.negotiated.sack;
        if seq.lt(rcv_nxt) {
            let skip = rcv_nxt - seq;
            if sack {
                // RFC 2883 §4.1.1: the duplicate part goes first.
                self.flight.dsack = Some((seq, seq + skip.min(data.len())));
            }
            if skip >= data.len() {
                self.ack_pending = true;
                return false; // all duplicate
            }
            data = &data[skip..];
            seq = rcv_nxt;
        }
        let r = self.rcv.insert(seq - rcv_nxt, data);
        self.tcb.rcv.nxt += r.advanced;
        self.tcb.rcv.wnd = self.rcv.window();
        if r.duplicate && sack {
            // RFC 2883 §4.1.2: a duplicate of data held out of order.
            self.flight.dsack = Some((seq, seq + data.len()));
        }
        if r.out_of_order {
            if r.dropped && !r.duplicate {
                self.drop_segment(DropReason::ReassemblyFull);
            } else if !r.duplicate {
                self.out.events.push_back(Event::OutOfOrderQueued {
                    held: self.rcv.out_of_order_len(),
                });
            }
            if seg.flags.contains(Flags::FIN) {
                return false;
            }
            self.ack_now(now);
            return true;
        } else if r.filled_hole || r.dropped {
            self.ack_now(now);
            return true;
        } else if r.advanced > 0 {
            // A super-frame (many segments in one) says nothing about
            // the peer's segment size; a single segment does.
            if data.len() <= usize::from(self.config.mss) {
                self.rcv_mss_seen = self.rcv_mss_seen.max(data.len());
            }
            if data.len() < self.rcv_mss() {
                self.ack_pushed = true;
            }
            self.schedule_ack(now);
        }
        false
    }

    /// Delayed ACK: at the latest every second segment, or when the timer
    /// fires. "Every second full-sized segment" (RFC 5681 §4.2) is also
    /// counted in bytes: a peer whose offload hands over one super-frame
    /// of many segments (linux-facts: veth, loopback) is acknowledged for
    /// each at once, as Linux does, instead of every second super-frame,
    /// which would leave its congestion window waiting on our ACKs.
    fn schedule_ack(&mut self, now: Instant) {
        let Some(delay) = self.config.delayed_ack else {
            self.ack_pending = true;
            return;
        };
        self.delack_segs += 1;
        let unacked = self.tcb.rcv.nxt - self.last_ack_sent;
        if self.delack_segs >= 2 || unacked >= 2 * self.rcv_mss() {
            self.ack_now(now);
        } else if !self.timers.is_armed(TimerKind::DelayedAck) {
            self.timers.set(TimerKind::DelayedAck, now + delay);
        }
    }

    /// §3.10.7.4 eighth step: a FIN is processed only when it is the next
    /// thing expected (everything before it was received).
    /// A FIN beyond RCV.NXT is remembered and processed when the data
    /// before it has arrived. Like out-of-order text, it is acknowledged
    /// at once (RFC 5681 §4.2), and its sequence number is SACKed
    /// (`with_options`), as Linux's receiver does: without either, a
    /// sender whose last data segment was lost and whose FIN arrived
    /// learns nothing until its probe or its RTO, and the duplicate ACKs
    /// its probes draw say nothing about the hole.
    ///
    /// The peer's FIN is taken once. A FIN reaching this step after it
    /// (CLOSE-WAIT, LAST-ACK, TIME-WAIT) is none a real peer sends: its FIN
    /// again ends at RCV.NXT and is answered in the first step. It is
    /// acknowledged, and moves nothing: RCV.NXT over it would put every
    /// real segment of the peer below the window, each drawing an ACK
    /// of octets the peer never sent, which it answers in turn, for ever;
    /// and only the FIN again restarts TIME-WAIT.
    ///
    /// `acked`: the seventh step already sent this segment's ACK.
    fn check_fin(&mut self, now: Instant, seg: &TcpRepr<'_>, acked: bool) {
        if self.fin_received {
            if seg.flags.contains(Flags::FIN) {
                self.ack_pending = true;
            }
            return;
        }
        let receiving = matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        );
        let mut due = false;
        if seg.flags.contains(Flags::FIN) {
            let fin_seq = seg.seq + (seg.segment_len() - 1);
            let nxt = self.tcb.rcv.nxt;
            if fin_seq == nxt {
                due = true;
            } else if fin_seq.gt(nxt) && receiving {
                let ahead = fin_seq - nxt;
                if ahead <= self.rcv.window() {
                    self.rcv_fin = Some(self.rcv.nxt() + ahead as u64);
                }
                if !acked {
                    self.ack_now(now);
                }
            }
        }
        if !due && receiving && self.rcv_fin == Some(self.rcv.nxt()) {
            due = true;
        }
        if !due {
            return;
        }
        self.rcv_fin = None;
        self.tcb.rcv.nxt += 1usize;
        self.ack_pending = true;
        self.fin_received = true;
        self.out.events.push_back(Event::PeerClosed);
        match self.state {
            State::SynReceived | State::Established => self.set_state(State::CloseWait),
            // Our FIN is not acknowledged yet, or check_ack would have
            // moved us to FIN-WAIT-2: simultaneous close.
            State::FinWait1 => self.set_state(State::Closing),
            State::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }
}
