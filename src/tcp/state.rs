//! The eleven connection states of RFC 9293 §3.3.2.

use std::fmt;

/// A connection state, printed in RFC spelling (`SYN-SENT`, `FIN-WAIT-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl State {
    /// The RFC name.
    pub const fn name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
        }
    }

    /// "Synchronized" states (§3.5.2): both ISNs are known, so a stray
    /// segment gets an ACK rather than a RST.
    pub const fn is_synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }

    /// States in which our data or FIN can still be in flight or waiting
    /// for the window: ESTABLISHED and CLOSE-WAIT send, FIN-WAIT-1,
    /// CLOSING and LAST-ACK still owe the peer what was sent before the
    /// FIN (and the FIN itself).
    pub const fn may_have_data_in_flight(self) -> bool {
        matches!(
            self,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(State::Closed, "CLOSED")]
    #[case(State::Listen, "LISTEN")]
    #[case(State::SynSent, "SYN-SENT")]
    #[case(State::SynReceived, "SYN-RECEIVED")]
    #[case(State::Established, "ESTABLISHED")]
    #[case(State::FinWait1, "FIN-WAIT-1")]
    #[case(State::FinWait2, "FIN-WAIT-2")]
    #[case(State::CloseWait, "CLOSE-WAIT")]
    #[case(State::Closing, "CLOSING")]
    #[case(State::LastAck, "LAST-ACK")]
    #[case(State::TimeWait, "TIME-WAIT")]
    fn displays_rfc_spelling(#[case] s: State, #[case] want: &str) {
        assert_eq!(s.to_string(), want);
    }

    #[test]
    fn synchronized_states() {
        assert!(!State::SynReceived.is_synchronized());
        assert!(State::Established.is_synchronized());
        assert!(State::TimeWait.is_synchronized());
    }
}
