//! Timers as data (quinn-proto's shape): one deadline per kind, the
//! connection's `poll_timeout` is their minimum, and `handle_timeout(now)`
//! fires the expired ones. RFC 9293 §3.10.8 names three timeouts; they map
//! to [`TimerKind::User`], [`TimerKind::Retransmission`] and
//! [`TimerKind::TimeWait`]. The others come from later RFCs: delayed ACK,
//! keepalive, persist, and RACK-TLP's reordering and probe timers.

use std::num::NonZeroU64;

use crate::time::Instant;

/// The connection's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// RETRANSMISSION TIMEOUT: resend from SND.UNA (SYN, data or FIN).
    Retransmission = 0,
    /// TIME-WAIT TIMEOUT: 2×MSL after entering TIME-WAIT, delete the TCB.
    TimeWait = 1,
    /// USER TIMEOUT: give up on a connection that makes no progress.
    User = 2,
    /// Delayed ACK (RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2): an ACK owed
    /// for a single in-order segment goes out when this fires.
    DelayedAck = 3,
    /// Keepalive (RFC 1122 §4.2.3.6): armed while the connection may sit
    /// idle and [`Config::keepalive`](super::Config::keepalive) is set;
    /// when it fires with nothing outstanding, a probe goes out.
    Keepalive = 4,
    /// Persist timer (RFC 9293 §3.8.6.1): the peer's window is closed,
    /// data waits and nothing is outstanding; when it fires, one octet is
    /// sent as a zero-window probe.
    Persist = 5,
    /// RACK reordering timer (RFC 8985 §6.2 step 5): a segment sent
    /// before one already delivered is not lost yet only because its
    /// reordering window has not passed; when it has, RACK runs again.
    Reorder = 6,
    /// Tail loss probe timeout, PTO (RFC 8985 §7.2): when the ACKs stop
    /// with data outstanding, one segment (new data, or the last one
    /// again) is sent to draw an ACK whose SACK blocks show the losses,
    /// long before the RTO.
    LossProbe = 7,
}

impl TimerKind {
    /// Every kind, in the order of their discriminants (the index of each
    /// deadline in [`TimerTable`]). `handle_timeout` fires expired timers
    /// in an order of its own.
    pub const ALL: [TimerKind; 8] = [
        TimerKind::Retransmission,
        TimerKind::TimeWait,
        TimerKind::User,
        TimerKind::DelayedAck,
        TimerKind::Keepalive,
        TimerKind::Persist,
        TimerKind::Reorder,
        TimerKind::LossProbe,
    ];
}

/// One optional deadline per [`TimerKind`], eight bytes each: a deadline
/// is kept as its microseconds plus one, so that `None` costs no tag (an
/// `Option<Instant>` takes 16). Every connection carries one, a load test
/// a million.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerTable {
    deadlines: [Option<NonZeroU64>; TimerKind::ALL.len()],
}

fn encode(at: Instant) -> NonZeroU64 {
    // The last microsecond of the time line (half a million years on)
    // reads back one earlier: never reached either way.
    NonZeroU64::new(at.total_micros().saturating_add(1)).expect("at least one")
}

fn decode(d: NonZeroU64) -> Instant {
    Instant::from_micros(d.get() - 1)
}

impl TimerTable {
    /// Arms (or re-arms) `kind` to fire at `at`.
    pub fn set(&mut self, kind: TimerKind, at: Instant) {
        self.deadlines[kind as usize] = Some(encode(at));
    }

    /// Disarms `kind`.
    pub fn stop(&mut self, kind: TimerKind) {
        self.deadlines[kind as usize] = None;
    }

    /// Disarms every timer.
    pub fn stop_all(&mut self) {
        self.deadlines = [None; TimerKind::ALL.len()];
    }

    /// When `kind` fires, if armed.
    pub fn get(&self, kind: TimerKind) -> Option<Instant> {
        self.deadlines[kind as usize].map(decode)
    }

    pub fn is_armed(&self, kind: TimerKind) -> bool {
        self.get(kind).is_some()
    }

    /// Whether `kind` is armed and its deadline is not after `now`.
    pub fn is_expired(&self, kind: TimerKind, now: Instant) -> bool {
        self.get(kind).is_some_and(|t| t <= now)
    }

    /// The earliest armed deadline.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied().map(decode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_timeout_is_the_earliest_armed() {
        let mut t = TimerTable::default();
        assert_eq!(t.next_timeout(), None);
        t.set(TimerKind::TimeWait, Instant::from_millis(60_000));
        t.set(TimerKind::Retransmission, Instant::from_millis(1000));
        assert_eq!(t.next_timeout(), Some(Instant::from_millis(1000)));
        t.stop(TimerKind::Retransmission);
        assert_eq!(t.next_timeout(), Some(Instant::from_millis(60_000)));
        assert!(!t.is_armed(TimerKind::Retransmission));
        t.stop_all();
        assert_eq!(t.next_timeout(), None);
    }

    #[test]
    fn expiry_is_inclusive() {
        let mut t = TimerTable::default();
        t.set(TimerKind::User, Instant::from_millis(5));
        assert!(!t.is_expired(TimerKind::User, Instant::from_micros(4999)));
        assert!(t.is_expired(TimerKind::User, Instant::from_millis(5)));
        assert!(!t.is_expired(TimerKind::Keepalive, Instant::from_millis(5)));
    }

    #[test]
    fn all_lists_every_kind_at_its_index() {
        for (i, k) in TimerKind::ALL.into_iter().enumerate() {
            assert_eq!(k as usize, i);
        }
    }
}
