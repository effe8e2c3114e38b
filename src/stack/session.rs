//! The scripted exchanges behind `nettool handshake` and `nettool close`.
//!
//! A [`Session`] opens a connection and plays a [`Plan`]: optionally hold
//! back the third ACK of the handshake (forever, to watch the peer
//! retransmit its SYN-ACK, or for a while, to show that a late ACK still
//! completes it), send a payload, and release the connection in one of the
//! textbook ways. It is a state machine like the engine: time comes in,
//! frames and events come out, and every decision is testable in memory.

use std::collections::VecDeque;
use std::time::Duration;

use super::host::{HostEvent, TcpHost};
use crate::machine::{Machine, RxChecksum};
use crate::stack::iface::ErrorKind;
use crate::tcp::{Event as TcpEvent, Reason};
use crate::time::{Instant, earliest};

/// What to do with the handshake's third ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThirdAck {
    /// Send it at once, as any stack does.
    Send,
    /// Never send it: watch the peer retransmit its SYN-ACK for `observe`,
    /// then reset.
    Withhold { observe: Duration },
    /// Send it `delay` after the SYN-ACK arrived.
    Late { delay: Duration },
}

/// How the connection ends once open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// RST, once the peer has been quiet for `linger` (a prober's
    /// release: the server is not left hanging, and no TIME-WAIT).
    Reset,
    /// Active close: our FIN first, once the peer has been quiet for
    /// `linger`: FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT, CLOSED.
    Close,
    /// Passive close: wait for the peer's FIN (CLOSE-WAIT), then ours
    /// (LAST-ACK). If it does not come within `linger`, close first.
    PassiveClose,
    /// Half-close: our FIN right after the payload; whatever the peer
    /// still sends arrives in FIN-WAIT-2.
    HalfClose,
}

/// The script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub third_ack: ThirdAck,
    /// Sent once the connection is open.
    pub payload: Option<Vec<u8>>,
    pub end: End,
    /// How long the peer must stay quiet before we end (`Reset`, `Close`),
    /// or how long to wait for its FIN (`PassiveClose`).
    pub linger: Duration,
}

/// What a session observed, beyond the host's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The held ACK is going out now.
    AckReleased,
    /// Data the peer sent, in order.
    Data(Vec<u8>),
    /// The payload was handed to the engine.
    PayloadQueued(usize),
    /// The peer did not close within the linger time; we close first.
    PeerStayedOpen,
    /// Ending the connection now, this way.
    Ending(End),
}

/// A session event: the host's, or the session's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Host(HostEvent),
    Note(Note),
}

/// How the opening went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// Still waiting.
    Pending,
    /// The handshake completed.
    Open,
    /// A RST answered the SYN: nothing listens there.
    Refused,
    /// Every SYN went unanswered.
    NoAnswer,
    /// An ICMP error answered for the destination.
    Unreachable {
        from: std::net::IpAddr,
        kind: ErrorKind,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Opening,
    /// Open, ACK held back; the deadline ends the hold.
    Holding {
        until: Instant,
    },
    /// Open; waiting for quiet (or the peer's FIN) until the deadline.
    Open {
        deadline: Instant,
    },
    /// Our side has acted (FIN or RST); waiting for CLOSED.
    Ending,
    Done,
}

/// The session. See the module documentation.
pub struct Session {
    host: TcpHost,
    plan: Plan,
    phase: Phase,
    opening: Opening,
    closed: Option<Reason>,
    events: VecDeque<Event>,
    received: usize,
    /// A passive close whose peer did not close within --linger: nettool
    /// closed first instead.
    peer_stayed_open: bool,
}

impl Session {
    /// A session over `host`, whose connection has just been opened (its
    /// SYN queued).
    pub fn new(mut host: TcpHost, plan: Plan) -> Session {
        if plan.third_ack != ThirdAck::Send {
            host.hold_acks(None);
        }
        Session {
            host,
            plan,
            phase: Phase::Opening,
            opening: Opening::Pending,
            closed: None,
            events: VecDeque::new(),
            received: 0,
            peer_stayed_open: false,
        }
    }

    pub fn host(&self) -> &TcpHost {
        &self.host
    }

    pub fn opening(&self) -> Opening {
        self.opening
    }

    /// Why the connection closed, once it has.
    pub fn closed(&self) -> Option<Reason> {
        self.closed
    }

    /// Whether the connection closed the way the plan asked: by our RST
    /// when it asked for one, else by a close that completed (FINs both
    /// ways acknowledged).
    pub fn closed_as_planned(&self) -> bool {
        !self.peer_stayed_open
            && matches!(
                (self.plan.end, self.closed),
                (End::Reset, Some(Reason::Aborted)) | (_, Some(Reason::Normal))
            )
    }

    /// Whether a passive close fell back to an active one: the peer did
    /// not close within --linger.
    pub fn peer_stayed_open(&self) -> bool {
        self.peer_stayed_open
    }

    /// Bytes of payload received from the peer.
    pub fn received(&self) -> usize {
        self.received
    }

    fn pump(&mut self, now: Instant) {
        // Act on the peer's FIN only after every event it caused (the
        // state change to CLOSE-WAIT among them) has been reported.
        let mut peer_closed = false;
        while let Some(ev) = self.host.poll_event() {
            match &ev {
                HostEvent::Tcp(TcpEvent::Connected) => {
                    self.opening = Opening::Open;
                    self.phase = match self.plan.third_ack {
                        ThirdAck::Send => self.opened(now),
                        ThirdAck::Withhold { observe } => Phase::Holding {
                            until: now + observe,
                        },
                        ThirdAck::Late { delay } => Phase::Holding { until: now + delay },
                    };
                }
                HostEvent::Tcp(TcpEvent::Closed(reason)) => {
                    self.closed = Some(*reason);
                    if self.opening == Opening::Pending {
                        self.opening = match reason {
                            Reason::Reset => Opening::Refused,
                            _ => Opening::NoAnswer,
                        };
                    }
                    self.phase = Phase::Done;
                }
                HostEvent::Tcp(TcpEvent::PeerClosed) => {
                    peer_closed = self.plan.end == End::PassiveClose
                        && matches!(self.phase, Phase::Open { .. });
                }
                HostEvent::Icmp { from, kind } if self.opening == Opening::Pending => {
                    self.opening = Opening::Unreachable {
                        from: *from,
                        kind: *kind,
                    };
                    self.events.push_back(Event::Host(ev.clone()));
                    // Nothing was synchronized: closing sends nothing.
                    self.host.conn_mut().abort(now);
                    continue;
                }
                _ => {}
            }
            self.events.push_back(Event::Host(ev));
        }
        self.read_data(now);
        if peer_closed {
            self.end(now, End::PassiveClose);
            // Our FIN and the state change it causes, in order.
            while let Some(ev) = self.host.poll_event() {
                self.events.push_back(Event::Host(ev));
            }
        }
    }

    /// The connection is open and ACKs flow: queue the payload and start
    /// waiting for the moment to end.
    fn opened(&mut self, now: Instant) -> Phase {
        if let Some(payload) = self.plan.payload.take() {
            match self.host.conn_mut().send(&payload) {
                Ok(n) => self.events.push_back(Event::Note(Note::PayloadQueued(n))),
                Err(_) => return Phase::Ending,
            }
        }
        if self.plan.end == End::HalfClose {
            self.end(now, End::HalfClose);
            return self.phase;
        }
        Phase::Open {
            deadline: now + self.plan.linger,
        }
    }

    fn read_data(&mut self, now: Instant) {
        let mut buf = [0u8; 16 * 1024];
        let mut got = Vec::new();
        while let Ok(n) = self.host.conn_mut().recv(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        if got.is_empty() {
            return;
        }
        self.received += got.len();
        self.events.push_back(Event::Note(Note::Data(got)));
        // Data restarts the quiet period.
        if let Phase::Open { .. } = self.phase {
            self.phase = Phase::Open {
                deadline: now + self.plan.linger,
            };
        }
    }

    fn end(&mut self, now: Instant, how: End) {
        self.events.push_back(Event::Note(Note::Ending(how)));
        match how {
            End::Reset => self.host.conn_mut().abort(now),
            End::Close | End::PassiveClose | End::HalfClose => self.host.conn_mut().close(now),
        }
        self.phase = Phase::Ending;
    }

    fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Holding { until } => Some(until),
            Phase::Open { deadline } => Some(deadline),
            _ => None,
        }
    }

    fn fire(&mut self, now: Instant) {
        match self.phase {
            Phase::Holding { until } if now >= until => match self.plan.third_ack {
                ThirdAck::Withhold { .. } => self.end(now, End::Reset),
                _ => {
                    self.events.push_back(Event::Note(Note::AckReleased));
                    self.host.release_acks(now);
                    self.phase = self.opened(now);
                }
            },
            Phase::Open { deadline } if now >= deadline => {
                // Wait for our own data to be acknowledged before ending.
                let tcb = self.host.conn().tcb();
                if tcb.snd.una != tcb.snd.nxt && self.plan.end != End::PassiveClose {
                    return;
                }
                match self.plan.end {
                    End::PassiveClose => {
                        self.peer_stayed_open = true;
                        self.events.push_back(Event::Note(Note::PeerStayedOpen));
                        self.end(now, End::Close);
                    }
                    how => self.end(now, how),
                }
            }
            _ => {}
        }
    }
}

impl Machine for Session {
    type Event = Event;

    fn handle_frame(&mut self, now: Instant, frame: &[u8], checksum: RxChecksum) {
        self.host.handle_frame(now, frame, checksum);
        self.pump(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.host.poll_timeout().is_some_and(|t| t <= now) {
            self.host.handle_timeout(now);
            self.pump(now);
        }
        self.fire(now);
        self.pump(now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        let frame = self.host.poll_transmit(now);
        self.pump(now);
        frame
    }

    fn poll_timeout(&self) -> Option<Instant> {
        earliest(self.host.poll_timeout(), self.deadline())
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn is_done(&self) -> bool {
        self.phase == Phase::Done || (self.host.is_done() && self.closed.is_some())
    }

    /// Ends the session now with a RST (Ctrl-C, a failed link), if the
    /// connection is open.
    fn abort(&mut self, now: Instant) {
        self.host.conn_mut().abort(now);
        self.phase = Phase::Ending;
    }
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            End::Reset => "reset (RST)",
            End::Close => "active close (our FIN first)",
            End::PassiveClose => "passive close (the peer's FIN first)",
            End::HalfClose => "half-close (our FIN right after the payload)",
        })
    }
}
