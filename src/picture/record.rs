//! A connection recorded as it runs, for the pictures a command draws of
//! its own exchange (`nc --ladder`, `nc --plot`): the segments both ways,
//! our end's states as the engine reported them, and what only the sender
//! knows (its congestion window, slow start threshold and RTO over time,
//! and why it sent each retransmission).
//!
//! The command hands in what happened ([`Recorder::segment`],
//! [`Recorder::state`], and the engine itself, [`Recorder::engine`]);
//! the recorder keeps the
//! segments' header fields (no payload) and turns them into the same
//! models a capture gives: an [`Exchange`] for the ladder, a
//! [`Graph`] for the time–sequence plot.

use std::net::SocketAddr;
use std::time::Duration;

use super::capture::Captured;
use super::conn::{self, Ends, Relative, Seg, Way};
use super::ladder::{Exchange, Item};
use super::plot::{self, Graph, PlotError};
use super::sender::{Cause, SenderSample, SenderTrace};
use crate::report::event::us;
use crate::report::event::{Retransmit, RetransmitCause, Sender};
use crate::tcp::{Connection, Segment, State};

/// Segments a recording keeps, at most: about 140 MB of memory, 1.4 GB
/// of data in full-sized segments. Past it, segments are counted, not
/// kept (the pictures are of a prefix, and say so).
pub const MAX_SEGMENTS: usize = 1_000_000;

/// The sender's state `conn` holds now, as the `sender` event says it.
pub fn sender_of(conn: &Connection) -> Sender {
    let ssthresh = conn.ssthresh();
    Sender {
        cwnd: conn.cwnd() as u64,
        // The initial "arbitrarily high" value is no number to draw.
        ssthresh: (ssthresh < u32::MAX as usize).then_some(ssthresh as u64),
        rto_us: us(conn.rto()),
        srtt_us: conn.rtt().srtt().map(us),
        recovery: conn.in_recovery(),
    }
}

/// A connection's retransmissions, each with its cause, for a command
/// that reports them as it goes (`retransmit` events): SYNs and FINs
/// sent again count, as data does.
#[derive(Debug, Clone, Default)]
pub struct Retransmits {
    causes: Causes,
}

impl Retransmits {
    pub fn new() -> Retransmits {
        Retransmits {
            causes: Causes {
                control: true,
                ..Causes::default()
            },
        }
    }

    /// `seg` of ours leaving `conn` now: a retransmission, and why, or
    /// `None`.
    pub fn sent(&mut self, conn: &Connection, seg: &Segment) -> Option<Retransmit> {
        self.causes.look(conn);
        let cause = self.causes.sent(seg)?;
        Some(Retransmit {
            src: seg.src,
            dst: seg.dst,
            seq: seg.seq.get(),
            len: seg.len(),
            cause,
        })
    }
}

/// One connection, as it happens.
#[derive(Debug, Clone)]
pub struct Recorder {
    ends: Ends,
    seqs: Relative,
    items: Vec<Item>,
    captured: Vec<Captured>,
    /// [`MAX_SEGMENTS`], or less in tests.
    limit: usize,
    /// Segments past [`MAX_SEGMENTS`], and when the last of them went.
    unrecorded: u64,
    last_unrecorded: Duration,
    samples: Vec<SenderSample>,
    retransmits: Vec<(Duration, Retransmit)>,
    causes: Causes,
}

/// What tells one retransmission's cause from another: the engine's
/// counts of timeouts and probes, and how far our data has gone.
#[derive(Debug, Clone, Copy, Default)]
struct Causes {
    /// SYN and FIN count as sequence space (a resent SYN or bare FIN is
    /// a retransmission too), or only payload (the graph's bars).
    control: bool,
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
    /// The engine's counts now.
    fn look(&mut self, conn: &Connection) {
        self.timeouts.0 = conn.timeouts();
        self.probes.0 = conn.loss_probes();
    }

    /// Whether `seg`, leaving now, sends data again, and why.
    fn sent(&mut self, seg: &Segment) -> Option<RetransmitCause> {
        let len = if self.control {
            seg.len()
        } else {
            seg.payload.len()
        } as u32;
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
    pub fn new(local: SocketAddr, remote: SocketAddr) -> Recorder {
        Recorder {
            ends: Ends {
                left: local,
                right: remote,
            },
            seqs: Relative::default(),
            items: Vec::new(),
            captured: Vec::new(),
            limit: MAX_SEGMENTS,
            unrecorded: 0,
            last_unrecorded: Duration::ZERO,
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
        self.causes.look(conn);
        self.sender(t, sender_of(conn));
    }

    /// `seg` went over the wire `t` after the run began (either way; a
    /// segment of another connection is ignored). A segment of ours that
    /// sends data again is a retransmission, its cause told from the
    /// engine's counts at the last [`Recorder::engine`], for the graph.
    pub fn segment(&mut self, t: Duration, seg: &Segment) {
        let Some(way) = self.ends.way(seg.src, seg.dst) else {
            return;
        };
        if self.captured.len() >= self.limit {
            self.unrecorded += 1;
            self.last_unrecorded = t;
            return;
        }
        if way == Way::Right
            && let Some(cause) = self.causes.sent(seg)
        {
            let again = Retransmit {
                src: seg.src,
                dst: seg.dst,
                seq: seg.seq.get(),
                len: seg.payload.len(),
                cause,
            };
            self.retransmits.push((t, again));
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

    /// Segments seen past [`MAX_SEGMENTS`], not kept.
    pub fn unrecorded(&self) -> u64 {
        self.unrecorded
    }

    /// The exchange, for the ladder: our states as observed.
    pub fn exchange(&self) -> Exchange {
        let mut items = self.items.clone();
        if self.unrecorded > 0 {
            items.push(Item::Note {
                t: self.last_unrecorded,
                text: format!(
                    "{} more segments not recorded (a recording keeps {})",
                    self.unrecorded, self.limit
                ),
            });
        }
        Exchange {
            ends: self.ends,
            items,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SeqNum;
    use crate::wire::tcp::Flags;

    const US: &str = "10.0.0.1:40000";
    const PEER: &str = "10.0.0.2:80";

    fn data(seq: u32, len: usize) -> Segment {
        Segment {
            src: US.parse().unwrap(),
            dst: PEER.parse().unwrap(),
            seq: SeqNum(seq),
            ack: Some(SeqNum(1)),
            flags: Flags::NONE,
            window: 100,
            options: Vec::new(),
            payload: vec![0; len],
        }
    }

    /// A range sent again is put down to the timer when a timeout came
    /// since the last segment (and so is the go-back-N below what had
    /// been sent then), to a probe when a probe was sent, else to loss
    /// recovery. New data, and a probe of new data, are no retransmission.
    #[test]
    fn each_retransmission_gets_its_cause() {
        let mut c = Causes::default();
        let sent = |c: &mut Causes, seq: u32| c.sent(&data(seq, 10));
        for seq in [0, 10, 20, 30] {
            assert_eq!(sent(&mut c, seq), None);
        }
        assert_eq!(sent(&mut c, 10), Some(RetransmitCause::Recovery));
        c.timeouts.0 = 1;
        assert_eq!(sent(&mut c, 0), Some(RetransmitCause::Rto));
        assert_eq!(sent(&mut c, 10), Some(RetransmitCause::Rto));
        assert_eq!(sent(&mut c, 20), Some(RetransmitCause::Rto));
        // Past what had been sent when the timer fired: new data again,
        // and the go-back-N is over.
        assert_eq!(sent(&mut c, 40), None);
        assert_eq!(sent(&mut c, 30), Some(RetransmitCause::Recovery));
        c.probes.0 = 1;
        assert_eq!(sent(&mut c, 40), Some(RetransmitCause::Tlp));
        c.probes.0 = 2;
        assert_eq!(sent(&mut c, 50), None, "a probe of new data");
        assert_eq!(sent(&mut c, 40), Some(RetransmitCause::Recovery));
        // Pure ACKs neither count nor consume the engine's counts.
        c.timeouts.0 = 2;
        assert_eq!(c.sent(&data(60, 0)), None);
        assert_eq!(sent(&mut c, 0), Some(RetransmitCause::Rto));
    }

    /// Past its limit a recording counts segments and keeps none; the
    /// ladder says so at its end, and the graph is of what was kept.
    #[test]
    fn a_recording_past_its_limit_says_what_it_left_out() {
        let mut rec = Recorder::new(US.parse().unwrap(), PEER.parse().unwrap());
        rec.limit = 3;
        for i in 0..5u32 {
            rec.segment(Duration::from_millis(u64::from(i)), &data(i * 10, 10));
        }
        assert_eq!((rec.segments(), rec.unrecorded()), (3, 2));
        let ex = rec.exchange();
        assert!(matches!(
            ex.items.last(),
            Some(Item::Note { t, text }) if *t == Duration::from_millis(4)
                && text == "2 more segments not recorded (a recording keeps 3)"
        ));
        assert_eq!(rec.graph().unwrap().bars.len(), 3);
    }

    /// The sender's state is kept when it changes, from the engine.
    #[test]
    fn sender_samples_are_kept_when_they_change() {
        let mut rec = Recorder::new(US.parse().unwrap(), PEER.parse().unwrap());
        let state = |cwnd| Sender {
            cwnd,
            ssthresh: None,
            rto_us: 1_000_000,
            srtt_us: None,
            recovery: false,
        };
        for (ms, cwnd) in [(0, 10), (1, 10), (2, 20), (3, 20), (4, 10)] {
            rec.sender(Duration::from_millis(ms), state(cwnd));
        }
        let kept: Vec<(u64, u64)> = rec
            .samples
            .iter()
            .map(|s| (s.t.as_millis() as u64, s.state.cwnd))
            .collect();
        assert_eq!(kept, [(0, 10), (2, 20), (4, 10)]);
    }
}
