//! RACK (RFC 8985 §6): time-based loss detection. A segment is lost when
//! a segment sent after it has been delivered (cumulatively ACKed or
//! SACKed) and a reordering window has passed since that could have
//! happened. Because retransmissions get new transmission times, a lost
//! retransmission is detected like any other loss, without an RTO.
//!
//! [`SentLog`] is the send side's per-transmission record RACK needs:
//! every piece of sequence space between SND.UNA and SND.MAX with the
//! time it was last sent, whether it was retransmitted, SACKed, or is
//! marked lost and waits for its retransmission. Pieces are kept sorted
//! and disjoint; sending part of a piece again splits it. [`Rack`] holds
//! the RFC's RACK.* variables.

use std::collections::VecDeque;
use std::time::Duration;

use crate::time::Instant;

use super::scoreboard::DUP_THRESH;
#[cfg(test)]
use super::scoreboard::Scoreboard;
use super::seq::SeqNum;

/// One transmitted piece of sequence space, `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub start: SeqNum,
    pub end: SeqNum,
    /// Segment.xmit_ts: when it was last (re)transmitted.
    pub xmit: Instant,
    /// Sent more than once.
    pub retransmitted: bool,
    /// Reported held by the peer (SACK).
    pub sacked: bool,
    /// Marked lost and not retransmitted since.
    pub lost: bool,
}

/// The pieces of sequence space sent and not cumulatively acknowledged,
/// with running totals so pipe costs nothing to ask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentLog {
    pieces: VecDeque<Sent>,
    /// Pieces with `sacked` (RACK.segs_sacked).
    sacked: usize,
    /// Octets in pieces with `sacked`, and with `lost`.
    sacked_octets: usize,
    lost_octets: usize,
}

impl SentLog {
    pub const fn new() -> SentLog {
        SentLog {
            pieces: VecDeque::new(),
            sacked: 0,
            sacked_octets: 0,
            lost_octets: 0,
        }
    }

    /// Nothing outstanding.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = &Sent> {
        self.pieces.iter()
    }

    /// The highest piece sent (the tail).
    pub fn last(&self) -> Option<&Sent> {
        self.pieces.back()
    }

    /// Segments SACKed (RACK.segs_sacked).
    pub fn segs_sacked(&self) -> usize {
        self.sacked
    }

    /// Index of the piece holding `seq`, or where one starting there goes.
    fn find(&self, seq: SeqNum) -> usize {
        self.pieces.partition_point(|p| p.end.le(seq))
    }

    /// Makes `seq` a piece boundary (splits the piece holding it).
    fn split_at(&mut self, seq: SeqNum) {
        let i = self.find(seq);
        if let Some(p) = self.pieces.get(i).copied()
            && p.start.lt(seq)
            && seq.lt(p.end)
        {
            self.pieces[i].end = seq;
            if p.sacked {
                self.sacked += 1;
            }
            self.pieces.insert(i + 1, Sent { start: seq, ..p });
        }
    }

    /// `start..end` was (re)sent at `now`.
    pub fn on_send(&mut self, start: SeqNum, end: SeqNum, now: Instant) {
        if !start.lt(end) {
            return;
        }
        let top = self.pieces.back().map_or(start, |p| p.end);
        if start.lt(top) {
            self.split_at(start);
            self.split_at(end);
            let mut i = self.find(start);
            while let Some(p) = self.pieces.get_mut(i)
                && p.start.lt(end)
            {
                p.xmit = now;
                p.retransmitted = true;
                if p.lost {
                    p.lost = false;
                    self.lost_octets -= p.end - p.start;
                }
                i += 1;
            }
        }
        let from = if start.lt(top) { top } else { start };
        if from.lt(end) {
            self.pieces.push_back(Sent {
                start: from,
                end,
                xmit: now,
                retransmitted: false,
                sacked: false,
                lost: false,
            });
        }
    }

    /// The RTT an ACK of everything below `ack` measures, from the latest
    /// transmission it newly covers: pieces sent twice (Karn's rule) and
    /// pieces SACKed before (timed when they were) are left out. One
    /// sample per ACK, in microseconds, for HyStart++ (RFC 9406); call it
    /// before `advance`.
    pub fn ack_rtt(&self, ack: SeqNum, now: Instant) -> Option<Duration> {
        self.pieces
            .iter()
            .take_while(|p| p.start.lt(ack))
            .filter(|p| !p.retransmitted && !p.sacked)
            .map(|p| p.xmit)
            .max()
            .map(|xmit| now.saturating_duration_since(xmit))
    }

    /// SND.UNA moved to `una`: the pieces below it, as they were, are
    /// returned to the caller (they were delivered) and forgotten.
    pub fn advance(&mut self, una: SeqNum, delivered: &mut Vec<Sent>) {
        while let Some(p) = self.pieces.front().copied() {
            let gone = if p.end.le(una) {
                self.pieces.pop_front();
                if p.sacked {
                    self.sacked -= 1;
                }
                p
            } else if p.start.lt(una) {
                self.pieces[0].start = una;
                Sent { end: una, ..p }
            } else {
                break;
            };
            let len = gone.end - gone.start;
            if gone.sacked {
                self.sacked_octets -= len;
            } else {
                delivered.push(gone);
            }
            if gone.lost {
                self.lost_octets -= len;
            }
        }
        super::idle::release_if_empty(&mut self.pieces);
    }

    /// Flags the pieces in `ranges` (newly SACKed sequence space) as
    /// SACKed; they are added to `delivered`.
    pub fn take_sacks(&mut self, ranges: &[(SeqNum, SeqNum)], delivered: &mut Vec<Sent>) {
        for &(l, r) in ranges {
            self.split_at(l);
            self.split_at(r);
            let mut i = self.find(l);
            while let Some(p) = self.pieces.get_mut(i)
                && p.end.le(r)
            {
                if !p.sacked {
                    let len = p.end - p.start;
                    p.sacked = true;
                    self.sacked += 1;
                    self.sacked_octets += len;
                    if p.lost {
                        p.lost = false;
                        self.lost_octets -= len;
                    }
                    delivered.push(*p);
                }
                i += 1;
            }
        }
    }

    /// Forgets SACK and loss marks (after a timeout: the receiver may have
    /// reneged, RFC 2018 §8).
    pub fn forget_marks(&mut self) {
        for p in &mut self.pieces {
            p.sacked = false;
            p.lost = false;
        }
        self.sacked = 0;
        self.sacked_octets = 0;
        self.lost_octets = 0;
    }

    /// Marks `i` lost.
    fn mark_lost(&mut self, i: usize) {
        let p = &mut self.pieces[i];
        if !p.lost && !p.sacked {
            p.lost = true;
            self.lost_octets += p.end - p.start;
        }
    }

    /// Octets believed in the network (RFC 6675 SetPipe with RACK's
    /// marks): every piece neither SACKed nor marked lost. A lost piece
    /// that was retransmitted counts again (its mark is cleared).
    pub fn pipe(&self) -> usize {
        let outstanding = match (self.pieces.front(), self.pieces.back()) {
            (Some(first), Some(last)) => last.end - first.start,
            _ => 0,
        };
        outstanding - self.sacked_octets - self.lost_octets
    }

    /// NextSeg rule 1 with RACK: the first piece marked lost, and how many
    /// octets of lost pieces follow contiguously from it.
    pub fn next_lost(&self) -> Option<(SeqNum, usize)> {
        if self.lost_octets == 0 {
            return None;
        }
        let i = self.pieces.iter().position(|p| p.lost)?;
        let start = self.pieces[i].start;
        let mut end = start;
        for p in self.pieces.iter().skip(i) {
            if !p.lost || p.start != end {
                break;
            }
            end = p.end;
        }
        Some((start, end - start))
    }

    /// Marks the first piece lost, unless SACKed or marked already.
    pub fn mark_first_lost(&mut self) -> bool {
        match self.pieces.front() {
            Some(p) if !p.sacked && !p.lost => {
                self.mark_lost(0);
                true
            }
            _ => false,
        }
    }

    /// Forgets loss marks (the event was spurious).
    pub fn forget_lost(&mut self) {
        for p in &mut self.pieces {
            p.lost = false;
        }
        self.lost_octets = 0;
    }

    pub fn any_lost(&self) -> bool {
        self.lost_octets > 0
    }

    /// Where the first piece longer than `mss` octets starts (a segment
    /// sent before the path MTU fell), unless it was SACKed.
    pub fn first_larger_than(&self, mss: usize) -> Option<SeqNum> {
        self.pieces
            .iter()
            .find(|p| !p.sacked && p.end - p.start > mss)
            .map(|p| p.start)
    }

    /// Marks every piece longer than `mss` octets lost (those SACKed
    /// arrived, and stay as they are).
    pub fn mark_lost_larger_than(&mut self, mss: usize) {
        for i in 0..self.pieces.len() {
            let p = self.pieces[i];
            if p.end - p.start > mss {
                self.mark_lost(i);
            }
        }
    }
}

/// RFC 8985 RACK_sent_after: whether (t1, seq1) was sent after (t2, seq2).
fn sent_after(t1: Instant, seq1: SeqNum, t2: Instant, seq2: SeqNum) -> bool {
    t1 > t2 || (t1 == t2 && seq1.gt(seq2))
}

/// RACK.reo_wnd_persist's starting value (RFC 8985 §6.2 step 4).
const REO_WND_PERSIST: u32 = 16;

/// The RACK.* variables of RFC 8985 §6.1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rack {
    /// RACK.xmit_ts and RACK.end_seq: the most recently sent segment
    /// delivered so far.
    pub xmit_ts: Option<Instant>,
    pub end_seq: SeqNum,
    /// RACK.rtt: the RTT of that segment.
    pub rtt: Duration,
    /// RACK.min_RTT.
    pub min_rtt: Option<Duration>,
    /// RACK.fack: the highest sequence number delivered (none yet: every
    /// sequence number compares modulo 2^32, so no constant can start it).
    pub fack: Option<SeqNum>,
    /// RACK.reord: reordering was seen on this connection.
    pub reord: bool,
    /// RACK.reo_wnd_mult and RACK.reo_wnd_persist (D-SACK adaptation).
    pub reo_wnd_mult: u32,
    pub reo_wnd_persist: u32,
    /// RACK.dsack_round: SND.MAX when the reordering window last grew;
    /// one growth per round trip.
    pub dsack_round: Option<SeqNum>,
}

impl Rack {
    pub fn new() -> Rack {
        Rack {
            reo_wnd_mult: 1,
            ..Rack::default()
        }
    }

    /// RFC 8985 §6.2 steps 1–3 for one delivered piece: RACK_update and
    /// the reordering check. `ts_ambiguous` says the ACK's echoed
    /// timestamp shows it answers an earlier copy of a retransmitted
    /// piece.
    pub fn on_delivered(&mut self, p: &Sent, now: Instant, ts_ambiguous: bool) {
        match self.fack {
            Some(f) if !p.end.gt(f) => {
                if !p.retransmitted {
                    self.reord = true;
                }
            }
            _ => self.fack = Some(p.end),
        }
        let rtt = now.saturating_duration_since(p.xmit);
        if p.retransmitted && (ts_ambiguous || self.min_rtt.is_some_and(|m| rtt < m)) {
            // The ACK may be for the original: no timing from it.
            return;
        }
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
        match self.xmit_ts {
            Some(t) if !sent_after(p.xmit, p.end, t, self.end_seq) => {}
            _ => {
                self.rtt = rtt;
                self.xmit_ts = Some(p.xmit);
                self.end_seq = p.end;
            }
        }
    }

    /// RFC 8985 §6.2 step 4, RACK_update_reo_wnd: a D-SACK once per round
    /// trip widens the window by another min_RTT/4 for 16 recoveries.
    pub fn on_ack(&mut self, una: SeqNum, snd_max: SeqNum, dsack: bool) {
        if self.dsack_round.is_some_and(|r| una.ge(r)) {
            self.dsack_round = None;
        }
        if dsack && self.dsack_round.is_none() {
            self.dsack_round = Some(snd_max);
            self.reo_wnd_mult += 1;
            self.reo_wnd_persist = REO_WND_PERSIST;
        }
    }

    /// A recovery ended: the widened window decays after 16 of them.
    pub fn on_recovery_end(&mut self) {
        if self.reo_wnd_persist > 0 {
            self.reo_wnd_persist -= 1;
            if self.reo_wnd_persist == 0 {
                self.reo_wnd_mult = 1;
            }
        }
    }

    /// RACK.reo_wnd (RFC 8985 §6.2 step 4): zero while no reordering was
    /// seen and either recovery is under way or DupThresh segments are
    /// SACKed (so RACK is at least as fast as RFC 6675); otherwise
    /// min_RTT/4 per multiplier, at most SRTT.
    pub fn reo_wnd(&self, in_recovery: bool, segs_sacked: usize, srtt: Duration) -> Duration {
        if !self.reord && (in_recovery || segs_sacked >= DUP_THRESH) {
            return Duration::ZERO;
        }
        let min_rtt = self.min_rtt.unwrap_or(srtt);
        (min_rtt / 4 * self.reo_wnd_mult).min(srtt)
    }

    /// RFC 8985 §6.2 step 5, RACK_detect_loss: marks lost every piece sent
    /// before the most recently delivered one whose reordering window has
    /// passed; returns whether any was, and how long until the next piece
    /// would be (the reordering timer).
    pub fn detect_loss(
        &self,
        log: &mut SentLog,
        now: Instant,
        reo_wnd: Duration,
    ) -> (bool, Option<Duration>) {
        let Some(rack_ts) = self.xmit_ts else {
            return (false, None);
        };
        let mut lost = false;
        let mut wait: Option<Duration> = None;
        for i in 0..log.pieces.len() {
            let p = log.pieces[i];
            if !sent_after(rack_ts, self.end_seq, p.xmit, p.end) {
                if !p.retransmitted {
                    // Sent first no earlier than RACK's segment, and so
                    // was everything after it (a resend only moves a
                    // piece's time later): nothing further can be lost.
                    break;
                }
                continue;
            }
            if p.sacked || p.lost {
                continue;
            }
            let deadline = p.xmit + self.rtt + reo_wnd;
            if deadline <= now {
                log.mark_lost(i);
                lost = true;
            } else {
                let left = deadline.saturating_duration_since(now);
                wait = Some(wait.map_or(left, |w| w.max(left)));
            }
        }
        (lost, wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNum {
        SeqNum(n)
    }

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn log_of(pieces: &[(u32, u32, u64)]) -> SentLog {
        let mut log = SentLog::default();
        for &(a, b, t) in pieces {
            log.on_send(s(a), s(b), ms(t));
        }
        log
    }

    /// After the path MTU fell to segments of 60 octets: the pieces sent
    /// longer are lost (the SACKed one arrived), pipe drops by them, and
    /// the first is where resending starts.
    #[test]
    fn pieces_longer_than_a_new_mss_are_marked_lost() {
        let mut log = log_of(&[(0, 100, 0), (100, 150, 0), (150, 250, 0), (250, 350, 0)]);
        log.take_sacks(&[(s(250), s(350))], &mut Vec::new());
        assert_eq!(log.first_larger_than(60), Some(s(0)));
        assert_eq!(log.first_larger_than(100), None);
        log.mark_lost_larger_than(60);
        let lost: Vec<_> = log.iter().map(|p| p.lost).collect();
        assert_eq!(lost, [true, false, true, false]);
        assert_eq!(log.pipe(), 50);
        assert_eq!(log.next_lost(), Some((s(0), 100)));
    }

    #[test]
    fn a_resend_splits_and_restamps() {
        let mut log = log_of(&[(0, 100, 0), (100, 200, 1)]);
        log.on_send(s(50), s(150), ms(5));
        let got: Vec<_> = log
            .iter()
            .map(|p| (p.start.0, p.end.0, p.retransmitted))
            .collect();
        assert_eq!(
            got,
            [
                (0, 50, false),
                (50, 100, true),
                (100, 150, true),
                (150, 200, false)
            ]
        );
        // A resend that runs past the top appends the rest as new.
        log.on_send(s(150), s(250), ms(6));
        assert_eq!(log.last().map(|p| (p.start.0, p.end.0)), Some((200, 250)));
        let mut delivered = Vec::new();
        log.advance(s(120), &mut delivered);
        assert_eq!(delivered.len(), 3);
        assert_eq!(delivered[2].end, s(120));
        assert_eq!(log.iter().next().unwrap().start, s(120));
    }

    #[test]
    fn an_ack_times_the_newest_piece_it_covers_never_a_resent_one() {
        let mut log = log_of(&[(0, 100, 0), (100, 200, 3), (200, 300, 4)]);
        // Up to 150: the piece sent at 3 ms is the newest it covers.
        assert_eq!(log.ack_rtt(s(150), ms(10)), Some(Duration::from_millis(7)));
        assert_eq!(log.ack_rtt(s(0), ms(10)), None);
        // Resent at 8 ms: Karn's rule leaves it out.
        log.on_send(s(100), s(200), ms(8));
        assert_eq!(log.ack_rtt(s(200), ms(10)), Some(Duration::from_millis(10)));
        log.on_send(s(0), s(100), ms(9));
        assert_eq!(log.ack_rtt(s(200), ms(10)), None);
    }

    #[test]
    fn a_segment_is_lost_once_a_later_one_is_delivered_and_the_window_passed() {
        let mut log = log_of(&[(0, 100, 0), (100, 200, 0), (200, 300, 2)]);
        let mut rack = Rack::new();
        // The third piece is SACKed 10 ms after it left.
        let mut board = Scoreboard::default();
        let mut fresh = Vec::new();
        board.add_block(s(0), s(300), s(200), s(300), &mut fresh);
        let mut delivered = Vec::new();
        log.take_sacks(&fresh, &mut delivered);
        for p in &delivered {
            rack.on_delivered(p, ms(12), false);
        }
        assert_eq!(rack.rtt, Duration::from_millis(10));
        let reo = rack.reo_wnd(false, log.segs_sacked(), Duration::from_millis(10));
        assert_eq!(reo, Duration::from_micros(2500), "min_RTT/4");
        // At 12 ms the first two were due at 10 + 2.5 ms: not yet.
        let (lost, wait) = rack.detect_loss(&mut log, ms(12), reo);
        assert!(!lost);
        assert_eq!(wait, Some(Duration::from_micros(500)));
        let (lost, _) = rack.detect_loss(&mut log, Instant::from_micros(12_500), reo);
        assert!(lost);
        assert_eq!(log.next_lost(), Some((s(0), 200)));
        assert_eq!(log.pipe(), 0);
        // Retransmitted: it counts in the pipe again, and a later delivery
        // of something sent after the retransmission finds it lost again.
        log.on_send(s(0), s(100), ms(13));
        assert_eq!(log.pipe(), 100);
        assert_eq!(log.next_lost(), Some((s(100), 100)));
    }

    /// The running totals behind pipe and any_lost agree with the pieces
    /// through any mix of sends, resends, SACKs, losses and ACKs.
    #[test]
    fn running_totals_match_the_pieces() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = |n: u32| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % u64::from(n)) as u32
        };
        let base = u32::MAX - 5000; // across the wrap
        let mut log = SentLog::default();
        let mut board = Scoreboard::default();
        let rack = Rack {
            xmit_ts: Some(ms(1_000_000)),
            end_seq: SeqNum(base),
            ..Rack::new()
        };
        let (mut una, mut max) = (SeqNum(base), SeqNum(base));
        for step in 0..3000u64 {
            let now = ms(step);
            match rnd(6) {
                0 | 1 => {
                    let len = 1 + rnd(300) as usize;
                    log.on_send(max, max + len, now);
                    max += len;
                }
                2 if una.lt(max) => {
                    let from = una + rnd((max - una) as u32) as usize;
                    let len = (1 + rnd(400) as usize).min(max - from);
                    log.on_send(from, from + len, now);
                }
                3 if una.lt(max) => {
                    let l = una + rnd((max - una) as u32) as usize;
                    let r = l + (1 + rnd(500) as usize).min(max - l);
                    let mut fresh = Vec::new();
                    board.add_block(una, max, l, r, &mut fresh);
                    log.take_sacks(&fresh, &mut Vec::new());
                }
                4 if una.lt(max) => {
                    una += rnd((max - una) as u32 + 1) as usize;
                    board.advance(una);
                    log.advance(una, &mut Vec::new());
                }
                _ => {
                    if rnd(4) == 0 {
                        log.forget_lost();
                    } else {
                        // RACK with every piece behind it, no window.
                        rack.detect_loss(&mut log, ms(2_000_000), Duration::ZERO);
                    }
                }
            }
            let naive: usize = log
                .pieces
                .iter()
                .filter(|p| !p.sacked && !p.lost)
                .map(|p| p.end - p.start)
                .sum();
            assert_eq!(log.pipe(), naive, "step {step}");
            assert_eq!(log.any_lost(), log.pieces.iter().any(|p| p.lost));
            assert_eq!(
                log.segs_sacked(),
                log.pieces.iter().filter(|p| p.sacked).count()
            );
        }
    }

    /// The first delivery sets RACK.fack wherever the sequence space
    /// starts (a fixed zero would be "ahead" of half the ISNs).
    #[test]
    fn the_first_delivery_is_no_reordering_at_any_isn() {
        for isn in [0, 1 << 31, u32::MAX - 50, 0x8dc6_3a04] {
            let mut rack = Rack::new();
            let p = Sent {
                start: SeqNum(isn),
                end: SeqNum(isn) + 100usize,
                xmit: ms(0),
                retransmitted: false,
                sacked: false,
                lost: false,
            };
            rack.on_delivered(&p, ms(10), false);
            assert!(!rack.reord, "ISN {isn}");
        }
    }

    #[test]
    fn reordering_and_dsack_widen_the_window() {
        let mut rack = Rack::new();
        let p = |a, b| Sent {
            start: s(a),
            end: s(b),
            xmit: ms(0),
            retransmitted: false,
            sacked: false,
            lost: false,
        };
        rack.on_delivered(&p(100, 200), ms(8), false);
        assert!(!rack.reord);
        assert_eq!(
            rack.reo_wnd(true, 0, Duration::from_millis(8)),
            Duration::ZERO
        );
        rack.on_delivered(&p(0, 100), ms(9), false);
        assert!(rack.reord, "delivered below RACK.fack, never resent");
        assert_eq!(
            rack.reo_wnd(true, 5, Duration::from_millis(8)),
            Duration::from_millis(2)
        );
        rack.on_ack(s(0), s(500), true);
        rack.on_ack(s(100), s(600), true);
        assert_eq!(rack.reo_wnd_mult, 2, "one growth per round trip");
        rack.on_ack(s(500), s(700), true);
        assert_eq!(rack.reo_wnd_mult, 3);
        assert_eq!(
            rack.reo_wnd(true, 5, Duration::from_millis(5)),
            Duration::from_millis(5),
            "capped by SRTT"
        );
        for _ in 0..REO_WND_PERSIST {
            rack.on_recovery_end();
        }
        assert_eq!(rack.reo_wnd_mult, 1);
    }
}
