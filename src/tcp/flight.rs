//! The connection's loss-recovery state (RFC 6675's scoreboard, RFC
//! 8985's per-segment log and tail loss probe, RFC 6937's PRR, undo and
//! D-SACK bookkeeping), kept in one box that exists only while it holds
//! something. While nothing is in flight all of it is empty, and an idle
//! connection (a load test holds a million) carries one pointer instead
//! of two hundred bytes. Reading an idle [`Flight`] sees the empty state;
//! writing allocates it; [`Flight::release_if_idle`] gives it back once
//! it is empty again, so behaviour is the same either way.

use std::ops::{Deref, DerefMut};

use super::cc::Ack;
use super::dsack::Retransmitted;
use super::prr::Prr;
use super::rack::SentLog;
use super::scoreboard::Scoreboard;
use super::seq::SeqNum;
use crate::time::Instant;

/// A tail loss probe's episode (RFC 8985 §7.4): TLP.end_seq,
/// TLP.is_retrans, and the FlightSize when it was sent (for the
/// congestion response if it turns out to have repaired a loss).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tlp {
    pub(super) end_seq: SeqNum,
    pub(super) is_retrans: bool,
    pub(super) flight: usize,
    /// Sent during fast recovery, whose reduction answers any loss the
    /// probe repairs: no response of its own.
    pub(super) in_recovery: bool,
}

/// A congestion event that may turn out spurious (RFC 3522 Eifel
/// detection with timestamps, RFC 3708 with D-SACK): the window before
/// it, and the evidence gathered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Undo {
    /// cwnd and ssthresh before the event.
    pub(super) cwnd: usize,
    pub(super) ssthresh: usize,
    /// SND.UNA and SND.MAX when it began.
    pub(super) una: SeqNum,
    pub(super) high: SeqNum,
    /// TSval of the first retransmission (Eifel: an ACK echoing an older
    /// TSval was sent for the original).
    pub(super) ts: Option<u32>,
    /// Octets retransmitted and not reported duplicate by D-SACK yet.
    pub(super) retrans: usize,
    /// Whether anything was retransmitted at all.
    pub(super) any_retrans: bool,
    /// The event was a retransmission timeout (go-back-N to stop).
    pub(super) rto: bool,
    /// Once SND.UNA reached `high`: when the episode closes.
    pub(super) until: Option<Instant>,
}

/// The state itself.
#[derive(Debug, Clone)]
pub(super) struct Recovery {
    /// SACK scoreboard (RFC 6675 §3).
    pub(super) scoreboard: Scoreboard,
    /// Every piece of sequence space outstanding, with its transmission
    /// time and marks (RFC 8985's per-segment state).
    pub(super) sent: SentLog,
    /// Recent retransmissions, which a D-SACK may report.
    pub(super) retransmitted: Retransmitted,
    /// Tail loss probe episode (RFC 8985 §7): `Some` from a probe until
    /// the ACK that tells whether it repaired a loss.
    pub(super) tlp: Option<Tlp>,
    /// PRR (RFC 6937) during SACK-based fast recovery.
    pub(super) prr: Prr,
    /// What a spurious retransmission would undo.
    pub(super) undo: Option<Undo>,
    /// Once reordering has been seen, an ACK of new data grows cwnd only
    /// after its loss detection, by all it delivered, SACKed octets
    /// included (`on_ack_loss_recovery`): this ACK's part, from
    /// `on_new_ack`.
    pub(super) deferred_growth: Option<Ack>,
    /// D-SACK (RFC 2883) to report in the next ACK: the range of a
    /// duplicate segment.
    pub(super) dsack: Option<(SeqNum, SeqNum)>,
}

impl Recovery {
    /// Nothing held: what a connection starts with.
    const EMPTY: Recovery = Recovery {
        scoreboard: Scoreboard::new(),
        sent: SentLog::new(),
        retransmitted: Retransmitted::new(),
        tlp: None,
        prr: Prr {
            delivered: 0,
            out: 0,
            recover_fs: 0,
        },
        undo: None,
        deferred_growth: None,
        dsack: None,
    };

    fn is_empty(&self) -> bool {
        self.scoreboard.is_empty()
            && self.sent.is_empty()
            && self.retransmitted.is_empty()
            && self.tlp.is_none()
            && self.prr == Recovery::EMPTY.prr
            && self.undo.is_none()
            && self.deferred_growth.is_none()
            && self.dsack.is_none()
    }
}

/// What every idle connection reads.
static EMPTY: Recovery = Recovery::EMPTY;

/// [`Recovery`], allocated only while it holds something.
#[derive(Debug, Clone, Default)]
pub(super) struct Flight(Option<Box<Recovery>>);

impl Flight {
    /// Gives the box back when everything in it is empty.
    pub(super) fn release_if_idle(&mut self) {
        if self.0.as_ref().is_some_and(|r| r.is_empty()) {
            self.0 = None;
        }
    }

    /// Whether the box is allocated (for tests of the memory it takes).
    #[cfg(test)]
    pub(super) fn is_allocated(&self) -> bool {
        self.0.is_some()
    }
}

impl Deref for Flight {
    type Target = Recovery;
    fn deref(&self) -> &Recovery {
        self.0.as_deref().unwrap_or(&EMPTY)
    }
}

impl DerefMut for Flight {
    fn deref_mut(&mut self) -> &mut Recovery {
        self.0.get_or_insert_with(|| Box::new(Recovery::EMPTY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_allocates_nothing_writing_does_and_empty_goes_back() {
        let mut f = Flight::default();
        assert!(f.sent.is_empty() && f.dsack.is_none());
        assert!(!f.is_allocated(), "a read sees the empty state");
        f.dsack = Some((SeqNum(1), SeqNum(2)));
        assert!(f.is_allocated());
        f.release_if_idle();
        assert!(f.is_allocated(), "holds a D-SACK: kept");
        assert_eq!(f.dsack, Some((SeqNum(1), SeqNum(2))));
        f.dsack = None;
        f.release_if_idle();
        assert!(!f.is_allocated());
    }
}
