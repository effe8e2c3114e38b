//! A connection recorded as it runs, for the pictures a command draws of
//! its own exchange (`nc --ladder`, `nc --plot`): the segments both ways,
//! our end's states as the engine reported them, and what only the sender
//! knows (its congestion window, slow start threshold and RTO over time,
//! and why it sent each retransmission).
//!
//! The command hands in what happened ([`Recorder::segment`],
//! [`Recorder::state`], [`Recorder::sender`]); the recorder keeps the
//! segments' header fields (no payload) and turns them into the same
//! models a capture gives: an [`Exchange`] for the ladder, a
//! [`Graph`] for the time–sequence plot.

use std::net::SocketAddrV4;
use std::time::Duration;

use super::capture::Captured;
use super::conn::{self, Ends, Relative, Seg, Way};
use super::ladder::{Exchange, Item};
use super::plot::{self, Graph, PlotError};
use crate::report::event::us;
use crate::report::event::{Retransmit, RetransmitCause, Sender};
use crate::tcp::{Connection, Segment, State};

/// A sender's state at one moment: what [`Sender`] reports, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderSample {
    /// Since the recording's first segment.
    pub t: Duration,
    pub state: Sender,
}

/// A retransmission and its cause, when it left: `[seq, seq + len)` in
/// relative sequence numbers, as the graph's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause {
    pub t: Duration,
    pub seq: i64,
    pub len: usize,
    pub cause: RetransmitCause,
}

/// What the sender knows: its window, threshold and timer over time, and
/// its retransmissions' causes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderTrace {
    pub samples: Vec<SenderSample>,
    pub causes: Vec<Cause>,
}

/// One connection, as it happens.
#[derive(Debug, Clone)]
pub struct Recorder {
    ends: Ends,
    seqs: Relative,
    items: Vec<Item>,
    captured: Vec<Captured>,
    samples: Vec<SenderSample>,
    retransmits: Vec<(Duration, Retransmit)>,
    causes: Causes,
}

/// What tells one retransmission's cause from another: the engine's
/// counts of timeouts and probes, and how far our data has gone.
#[derive(Debug, Clone, Copy, Default)]
struct Causes {
    /// The engine's counts at the last look ([`Recorder::engine`]), and
    /// the counts already put down to a segment.
    timeouts: (u32, u32),
    probes: (u32, u32),
    /// The highest sequence number sent (SND.MAX), absolute.
    snd_max: Option<u32>,
    /// After a timeout, SND.MAX when it fired: everything below it sent
    /// again is the timeout's go-back-N.
    rto_until: Option<u32>,
}

/// `a < b` in sequence space (RFC 9293 §3.4).
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Causes {
    /// Whether `seg`, leaving now, sends data again, and why.
    fn sent(&mut self, seg: &Segment) -> Option<RetransmitCause> {
        let len = seg.payload.len() as u32;
        if len == 0 {
            return None;
        }
        let seq = seg.seq.get();
        let end = seq.wrapping_add(len);
        let timed_out = self.timeouts.0 != self.timeouts.1;
        let probed = self.probes.0 != self.probes.1;
        self.timeouts.1 = self.timeouts.0;
        self.probes.1 = self.probes.0;
        if timed_out {
            self.rto_until = self.snd_max;
        }
        let again = self.snd_max.is_some_and(|m| before(seq, m));
        let cause = if !again {
            None
        } else if timed_out || self.rto_until.is_some_and(|u| before(seq, u)) {
            Some(RetransmitCause::Rto)
        } else if probed {
            Some(RetransmitCause::Tlp)
        } else {
            Some(RetransmitCause::Recovery)
        };
        if self.rto_until.is_some_and(|u| !before(seq, u)) {
            self.rto_until = None;
        }
        if self.snd_max.is_none_or(|m| before(m, end)) {
            self.snd_max = Some(end);
        }
        cause
    }
}

impl Recorder {
    /// A recording of the connection from `local` (drawn on the left) to
    /// `remote`.
    pub fn new(local: SocketAddrV4, remote: SocketAddrV4) -> Recorder {
        Recorder {
            ends: Ends {
                left: local,
                right: remote,
            },
            seqs: Relative::default(),
            items: Vec::new(),
            captured: Vec::new(),
            samples: Vec::new(),
            retransmits: Vec::new(),
            causes: Causes::default(),
        }
    }

    /// What our engine holds at `t`: its sender's state (kept when it
    /// changed), and the counts that tell why it sends a segment again.
    /// Called before each segment it sends is handed in, and whenever
    /// the connection may have changed.
    pub fn engine(&mut self, t: Duration, conn: &Connection) {
        self.causes.timeouts.0 = conn.timeouts();
        self.causes.probes.0 = conn.loss_probes();
        let ssthresh = conn.ssthresh();
        self.sender(
            t,
            Sender {
                cwnd: conn.cwnd() as u64,
                // The initial "arbitrarily high" value is no number to draw.
                ssthresh: (ssthresh < u32::MAX as usize).then_some(ssthresh as u64),
                rto_us: us(conn.rto()),
                srtt_us: conn.rtt().srtt().map(us),
                recovery: conn.in_recovery(),
            },
        );
    }

    /// `seg` went over the wire `t` after the run began (either way; a
    /// segment of another connection is ignored). A segment of ours that
    /// sends data again is a retransmission, its cause told from the
    /// engine's counts at the last [`Recorder::engine`]; it is returned.
    pub fn segment(&mut self, t: Duration, seg: &Segment) -> Option<Retransmit> {
        let way = self.ends.way(seg.src, seg.dst)?;
        let again = if way == Way::Right {
            self.causes.sent(seg).map(|cause| Retransmit {
                src: seg.src,
                dst: seg.dst,
                seq: seg.seq.get(),
                len: seg.payload.len(),
                cause,
            })
        } else {
            None
        };
        if let Some(r) = &again {
            self.retransmits.push((t, r.clone()));
        }
        let (seq, ack) = self
            .seqs
            .numbers(way, seg.seq.get(), seg.ack.map(|a| a.get()));
        self.items.push(Item::Seg(Seg {
            t,
            way,
            flags: seg.flags,
            seq,
            ack,
            win: seg.window,
            len: seg.payload.len(),
            withheld: false,
        }));
        self.captured
            .push(Captured::of(t, seg.src, seg.dst, &seg.as_repr()));
        again
    }

    /// Our end moved from `from` to `to` at `t`.
    pub fn state(&mut self, t: Duration, from: State, to: State) {
        self.items.push(Item::State { t, from, to });
    }

    /// A line across the ladder at `t`.
    pub fn note(&mut self, t: Duration, text: impl Into<String>) {
        self.items.push(Item::Note {
            t,
            text: text.into(),
        });
    }

    /// The sender's state at `t`; kept when it differs from the last.
    pub fn sender(&mut self, t: Duration, state: Sender) {
        if self.samples.last().is_some_and(|s| s.state == state) {
            return;
        }
        self.samples.push(SenderSample { t, state });
    }

    /// Segments recorded so far.
    pub fn segments(&self) -> usize {
        self.captured.len()
    }

    /// The exchange, for the ladder: our states as observed.
    pub fn exchange(&self) -> Exchange {
        Exchange {
            ends: self.ends,
            items: self.items.clone(),
            observed: true,
        }
    }

    /// The time–sequence graph of the direction that carried more data
    /// (ours on a tie), with the sender's trace when that direction is
    /// ours. Times count from the first segment, as a capture's do.
    pub fn graph(&self) -> Result<Graph, PlotError> {
        let conn = conn::build(self.ends, &self.captured);
        let raw: Vec<&Captured> = self.captured.iter().collect();
        let mut graph = plot::build(&conn, &raw, None)?;
        if graph.way == Way::Right {
            let t0 = self.captured.first().map_or(Duration::ZERO, |c| c.at);
            let shift = |t: Duration| t.saturating_sub(t0);
            // Our numbers count from our ISN, as the graph's do.
            let iss = self
                .captured
                .iter()
                .find(|c| c.src == self.ends.left)
                .map_or(0, |c| c.seq);
            graph.sender = Some(SenderTrace {
                samples: self
                    .samples
                    .iter()
                    .map(|s| SenderSample {
                        t: shift(s.t),
                        state: s.state.clone(),
                    })
                    .collect(),
                causes: self
                    .retransmits
                    .iter()
                    .map(|(t, r)| Cause {
                        t: shift(*t),
                        seq: i64::from(r.seq.wrapping_sub(iss)),
                        len: r.len,
                        cause: r.cause,
                    })
                    .collect(),
            });
        }
        Ok(graph)
    }
}
