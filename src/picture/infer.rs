//! The RFC 9293 state each end of a connection is in, inferred from the
//! segments it sent and received (the state diagram of §3.3.2, driven by
//! what a capture shows). An inference, not an observation: a segment lost
//! after the capture point, or a timer the wire never shows (TIME-WAIT's
//! end), is not seen.

use super::conn::{Seg, Way};
use crate::tcp::State;
use crate::wire::tcp::Flags;

/// One end's state, as the segments tell it.
#[derive(Debug, Clone, Copy)]
pub struct End {
    pub state: State,
    /// Relative sequence number just past our FIN, once sent: an ACK at
    /// or beyond it acknowledges the FIN.
    fin_end: Option<u32>,
    /// Started in LISTEN.
    passive: bool,
}

impl End {
    pub fn new(state: State) -> End {
        End {
            state,
            fin_end: None,
            passive: state == State::Listen,
        }
    }

    fn fin_acked(&self, seg: &Seg) -> bool {
        match (self.fin_end, seg.ack) {
            (Some(end), Some(ack)) => ack.wrapping_sub(end) as i32 >= 0,
            _ => false,
        }
    }

    /// This end sent `seg`; the state it is in afterwards.
    pub fn sent(&mut self, seg: &Seg) -> State {
        use State::*;
        let f = seg.flags;
        if f.contains(Flags::RST) {
            self.state = Closed;
        } else if f.contains(Flags::SYN) {
            self.state = match (self.state, seg.ack.is_some()) {
                (Closed | Listen, false) => SynSent,
                (Closed | Listen, true) => SynReceived,
                (s, _) => s,
            };
        }
        if f.contains(Flags::FIN) && !f.contains(Flags::RST) {
            self.fin_end = Some(seg.seq.wrapping_add(seg.seg_len()));
            self.state = match self.state {
                Established | SynReceived => FinWait1,
                CloseWait => LastAck,
                s => s,
            };
        }
        self.state
    }

    /// This end received `seg`; the state it is in afterwards.
    pub fn received(&mut self, seg: &Seg) -> State {
        use State::*;
        let f = seg.flags;
        if f.contains(Flags::RST) {
            // A RST leaves a listener listening, and takes a connection
            // it opened passively back to LISTEN (§3.10.7.4).
            self.state = match self.state {
                Listen => Listen,
                SynReceived if self.passive => Listen,
                _ => Closed,
            };
            return self.state;
        }
        let syn = f.contains(Flags::SYN);
        let fin = f.contains(Flags::FIN);
        self.state = match self.state {
            Listen if syn && seg.ack.is_none() => SynReceived,
            SynSent if syn && seg.ack.is_some() => Established,
            SynSent if syn => SynReceived,
            SynReceived if seg.ack.is_some() && !syn => Established,
            s => s,
        };
        // The FIN, and the ACK of ours, once synchronized.
        let acked = self.fin_acked(seg);
        self.state = match self.state {
            Established if fin => CloseWait,
            FinWait1 if fin && acked => TimeWait,
            FinWait1 if fin => Closing,
            FinWait1 if acked => FinWait2,
            FinWait2 if fin => TimeWait,
            Closing if acked => TimeWait,
            LastAck if acked => Closed,
            s => s,
        };
        self.state
    }
}

/// Where each end starts: the left end (the opener) CLOSED; the right end
/// LISTEN if it ever answers a SYN with SYN-ACK, else CLOSED; both
/// ESTABLISHED in a capture that starts after the handshake.
pub fn initial(segs: &[Seg]) -> (State, State) {
    let opened = segs.iter().any(|s| s.flags.contains(Flags::SYN));
    if !opened && !segs.is_empty() {
        return (State::Established, State::Established);
    }
    let answers = segs
        .iter()
        .any(|s| s.way == Way::Left && s.flags.contains(Flags::SYN) && s.ack.is_some());
    let right = if answers {
        State::Listen
    } else {
        State::Closed
    };
    (State::Closed, right)
}

/// The states one end moved through on one segment's row, in order.
pub type Moves = Vec<State>;

/// For every segment, the states each end moved through on it (left,
/// right): empty where it stayed.
///
/// The left end is taken to be where the capture was taken (or where the
/// events were recorded): it receives a segment when the segment shows.
/// The right end's state is inferred from what it sent: a segment that
/// occupies sequence space (SYN, data, FIN) reaches it when it
/// acknowledges it, and a pure ACK or a RST right away unless an earlier
/// segment is still on its way (segments arrive in order). So FINs that
/// cross (a simultaneous close) are told from a FIN answered (the answer
/// acknowledges it).
pub fn changes(segs: &[Seg]) -> ((State, State), Vec<(Moves, Moves)>) {
    let (l0, r0) = initial(segs);
    let mut left = End::new(l0);
    let mut right = End::new(r0);
    // Segments to the right end not known to have reached it.
    let mut on_the_way: std::collections::VecDeque<Seg> = Default::default();
    let rows = segs
        .iter()
        .map(|seg| {
            let mut moves = (Vec::new(), Vec::new());
            let track = |end: &End, was: State, into: &mut Moves| {
                if end.state != was {
                    into.push(end.state);
                }
            };
            match seg.way {
                Way::Right => {
                    let was = left.state;
                    left.sent(seg);
                    track(&left, was, &mut moves.0);
                    if !seg.withheld {
                        on_the_way.push_back(seg.clone());
                    }
                    arrive(&mut right, &mut on_the_way, None, &mut moves.1);
                }
                Way::Left => {
                    arrive(&mut right, &mut on_the_way, seg.ack, &mut moves.1);
                    let was = right.state;
                    right.sent(seg);
                    track(&right, was, &mut moves.1);
                    if !seg.withheld {
                        let was = left.state;
                        left.received(seg);
                        track(&left, was, &mut moves.0);
                    }
                }
            }
            moves
        })
        .collect();
    ((l0, r0), rows)
}

/// Hands the right end, in order, the segments that have reached it: a
/// pure ACK or a RST at the head of the queue, or one that `acked` (the
/// ACK the right end is sending) covers.
fn arrive(
    end: &mut End,
    queue: &mut std::collections::VecDeque<Seg>,
    acked: Option<u32>,
    moves: &mut Moves,
) {
    while let Some(head) = queue.front() {
        let covered = acked
            .is_some_and(|a| a.wrapping_sub(head.seq.wrapping_add(head.seg_len())) as i32 >= 0);
        if head.seg_len() > 0 && !covered && !head.flags.contains(Flags::RST) {
            break;
        }
        let was = end.state;
        end.received(head);
        if end.state != was {
            moves.push(end.state);
        }
        queue.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn seg(way: Way, flags: Flags, seq: u32, ack: Option<u32>) -> Seg {
        Seg {
            t: Duration::ZERO,
            way,
            flags,
            seq,
            ack,
            win: 0,
            len: 0,
            withheld: false,
        }
    }

    /// A listener reset in SYN-RECEIVED goes back to LISTEN (§3.10.7.4);
    /// the opener that sent the RST is CLOSED.
    #[test]
    fn a_reset_half_open_listener_listens_again() {
        let segs = [
            seg(Way::Right, Flags::SYN, 0, None),
            seg(Way::Left, Flags::SYN, 0, Some(1)),
            seg(Way::Right, Flags::RST, 1, None),
        ];
        let ((l0, r0), rows) = changes(&segs);
        assert_eq!((l0, r0), (State::Closed, State::Listen));
        assert_eq!(rows[1].1, [State::SynReceived]);
        assert_eq!(rows[2], (vec![State::Closed], vec![State::Listen]));
    }

    /// A capture that starts after the handshake: both ESTABLISHED.
    #[test]
    fn a_capture_of_an_open_connection_starts_established() {
        let segs = [seg(Way::Right, Flags::FIN, 0, Some(0))];
        let ((l0, r0), rows) = changes(&segs);
        assert_eq!((l0, r0), (State::Established, State::Established));
        assert_eq!(rows[0].0, [State::FinWait1]);
    }
}
