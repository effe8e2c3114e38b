//! Challenge-ACK rate limiting (RFC 5961 §7), per connection.
//!
//! Every challenge ACK (an in-window RST not at RCV.NXT, a SYN on a
//! synchronized connection, an ACK outside the acceptable range) is a
//! segment a blind attacker makes us send: unlimited, a flood of forged
//! segments becomes a flood of ACKs towards the peer. RFC 5961 §7 asks for
//! a limit and leaves its shape to the implementation. Linux keeps one per
//! socket (`tcp_invalid_ratelimit`, 500 ms between two such ACKs) under a
//! per-namespace budget (`tcp_challenge_ack_limit`); a nettool process
//! serves few connections, so the per-connection limit is the one kept.
//! The segment that earned a suppressed challenge ACK is dropped all the
//! same; the peer's own retransmission earns the next one.

use std::time::Duration;

use crate::time::Instant;

/// The least time between two challenge ACKs of one connection (Linux's
/// `tcp_invalid_ratelimit` default).
pub const CHALLENGE_ACK_INTERVAL: Duration = Duration::from_millis(500);

/// When the last challenge ACK was allowed, and how many were refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ChallengeLimit {
    last: Option<Instant>,
    suppressed: u64,
}

impl ChallengeLimit {
    /// Whether a challenge ACK may go out at `now`; each refusal is counted.
    pub(super) fn allow(&mut self, now: Instant) -> bool {
        if self.last.is_some_and(|t| now < t + CHALLENGE_ACK_INTERVAL) {
            self.suppressed += 1;
            return false;
        }
        self.last = Some(now);
        true
    }

    /// Challenge ACKs refused so far.
    pub(super) fn suppressed(&self) -> u64 {
        self.suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_interval() {
        let mut l = ChallengeLimit::default();
        let ms = Instant::from_millis;
        assert!(l.allow(ms(1000)));
        assert!(!l.allow(ms(1000)));
        assert!(!l.allow(ms(1499)));
        assert!(l.allow(ms(1500)));
        assert!(!l.allow(ms(1600)));
        assert_eq!(l.suppressed(), 3);
    }
}
