//! A scan against a simulated host on a simulated path, on virtual time,
//! so the rate's behaviour has tests that run without root in
//! milliseconds and give the same answer every time.
//!
//! [`Host`] answers as a kernel behind a firewall does: a SYN-ACK from a
//! listening port, a RST from a closed one, nothing from a dropped one.
//! [`Path`] carries frames with a fixed one-way delay, through an optional
//! [`Bottleneck`] in either direction: a link of limited rate with a
//! drop-tail queue, which is also the shape of a policer (a short queue)
//! and of a host that rate-limits its RSTs (a bottleneck on the way back).
//! [`run`] jumps from event to event (a send the scanner asks for, one of
//! its deadlines, a delivery), so a scan of minutes costs no real time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use super::{PaceStats, PortResult, Scanner};
use crate::machine::{RawEvents, RawFlow};
use crate::time::Instant;
use crate::wire::SeqNum;
use crate::wire::ethernet::EthernetRepr;
use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
use crate::wire::tcp::{ChecksumMode, Flags, TcpRepr};

/// What the host does with a SYN to each port.
#[derive(Debug, Clone, Default)]
pub struct Host {
    /// Listening: SYN-ACK.
    pub open: Vec<u16>,
    /// Dropped by a firewall, on every try: silence.
    pub dropped: Vec<u16>,
    /// (port, n): the port's first n SYNs are lost on the way, whatever
    /// the bottlenecks say (a scripted loss).
    pub lose_first: Vec<(u16, u32)>,
    // Every other port is closed: RST.
}

/// A link of `rate` frames per second with room for `queue` frames waiting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bottleneck {
    pub rate: f64,
    pub queue: usize,
}

/// The way between the scanner and the host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Path {
    /// Each way, on top of any queueing.
    pub delay: Duration,
    /// Towards the host (probes and resets).
    pub forward: Option<Bottleneck>,
    /// Back from the host (answers).
    pub back: Option<Bottleneck>,
}

impl Path {
    /// A path that drops nothing.
    pub fn clean(delay: Duration) -> Path {
        Path {
            delay,
            forward: None,
            back: None,
        }
    }
}

/// How a simulated scan went.
#[derive(Debug, Clone)]
pub struct Run {
    pub results: Vec<PortResult>,
    /// When each SYN left and to which port, retries included, in order.
    pub syns: Vec<(Instant, u16)>,
    /// RSTs the scanner sent to open ports.
    pub resets: u64,
    /// Frames lost on the way, both ways (bottlenecks and scripted losses).
    pub dropped: u64,
    pub pace: PaceStats,
    /// When the scan was done.
    pub end: Instant,
}

impl Run {
    /// SYNs per second over the whole scan.
    pub fn mean_rate(&self) -> f64 {
        let (Some(first), Some(last)) = (self.syns.first(), self.syns.last()) else {
            return 0.0;
        };
        let span = last.0.saturating_duration_since(first.0).as_secs_f64();
        (self.syns.len() - 1) as f64 / span.max(1e-6)
    }

    /// When each SYN to `port` left.
    pub fn syns_to(&self, port: u16) -> Vec<Instant> {
        self.syns
            .iter()
            .filter(|s| s.1 == port)
            .map(|s| s.0)
            .collect()
    }

    /// SYNs sent from `from` to `to`, per second.
    pub fn rate_between(&self, from: Instant, to: Instant) -> f64 {
        let n = self.syns.iter().filter(|s| s.0 >= from && s.0 < to).count();
        n as f64 / to.saturating_duration_since(from).as_secs_f64().max(1e-6)
    }
}

/// The state of one bottleneck: when its link is next free.
#[derive(Debug)]
struct Queue {
    shape: Bottleneck,
    /// In µs, as a float so that 1/rate does not round on every frame.
    free_at: f64,
}

impl Queue {
    fn new(shape: Bottleneck) -> Queue {
        Queue {
            shape,
            free_at: 0.0,
        }
    }

    /// When a frame arriving at `at` has crossed the link, or `None` when
    /// the queue is full and the frame is dropped.
    fn admit(&mut self, at: Instant) -> Option<Instant> {
        let t = at.total_micros() as f64;
        let gap = 1e6 / self.shape.rate;
        let start = self.free_at.max(t);
        // Frames ahead of this one, counting the one on the wire.
        let ahead = ((start - t) / gap).ceil();
        if ahead > self.shape.queue as f64 {
            return None;
        }
        self.free_at = start + gap;
        Some(Instant::from_micros(self.free_at.round() as u64))
    }
}

/// Whether the SYN just sent to `port` is one the script loses.
fn scripted_loss(host: &Host, syns: &[(Instant, u16)], port: u16) -> bool {
    host.lose_first
        .iter()
        .any(|&(p, n)| p == port && syns.iter().filter(|s| s.1 == port).count() <= n as usize)
}

fn admit(q: &mut Option<Queue>, at: Instant) -> Option<Instant> {
    match q {
        Some(q) => q.admit(at),
        None => Some(at),
    }
}

#[derive(Debug, Clone, Copy)]
enum Listening {
    Open,
    Closed,
    Dropped,
}

/// Every port's fate, looked up in O(1) (a scan of a host that drops
/// 60,000 ports sends 180,000 SYNs).
struct PortTable(Vec<Listening>);

impl PortTable {
    fn new(host: &Host) -> PortTable {
        let mut t = vec![Listening::Closed; 65536];
        for &p in &host.open {
            t[usize::from(p)] = Listening::Open;
        }
        for &p in &host.dropped {
            t[usize::from(p)] = Listening::Dropped;
        }
        PortTable(t)
    }
}

/// The host's answer to `syn`, if it answers.
fn answer(ports: &PortTable, eth: &EthernetRepr, ip: &Ipv4Repr, syn: &TcpRepr) -> Option<Vec<u8>> {
    let flags = match ports.0[usize::from(syn.dst_port)] {
        Listening::Dropped => return None,
        Listening::Open => Flags::SYN,
        Listening::Closed => Flags::RST,
    };
    let tcp = TcpRepr {
        src_port: syn.dst_port,
        dst_port: syn.src_port,
        seq: SeqNum(9),
        ack: Some(syn.seq + 1u32),
        flags,
        window: 0,
        urgent: 0,
        options: vec![],
        payload: &[],
    };
    let back = Ipv4Repr::new(ip.dst, ip.src, IpProtocol::Tcp, tcp.buffer_len());
    Some(tcp.to_frame(eth.dst, eth.src, &back))
}

/// Runs `scanner` from `start` against `host` over `path` until it is
/// done. Panics after `max_steps` events: a scan that never ends is a bug.
pub fn run(mut scanner: Scanner, start: Instant, host: &Host, path: Path, max_steps: u64) -> Run {
    let table = PortTable::new(host);
    let mut forward = path.forward.map(Queue::new);
    let mut back = path.back.map(Queue::new);
    // (delivery time, order sent, frame): ties go in sending order.
    let mut arrivals: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>> = BinaryHeap::new();
    let (mut syns, mut resets, mut dropped, mut order) = (Vec::new(), 0, 0, 0u64);
    let mut now = start;
    let mut buf = Vec::new();
    for _ in 0..max_steps {
        // Answers first, as the driver reads what has arrived before
        // firing timeouts.
        while let Some(Reverse((at, _, _))) = arrivals.peek()
            && *at <= now
        {
            let Reverse((_, _, frame)) = arrivals.pop().expect("peeked");
            // Demultiplexed already, as the interface would: every answer
            // is to the scanner's port.
            let (_, ip, tcp) =
                TcpRepr::from_frame(&frame, ChecksumMode::Verify).expect("the host answers well");
            scanner.handle_segment(now, &ip, &tcp);
        }
        if scanner.poll_timeout().is_some_and(|t| t <= now) {
            scanner.handle_timeout(now);
        }
        while scanner.poll_transmit_into(now, &mut buf) {
            let (eth, ip, tcp) = TcpRepr::from_frame(&buf, ChecksumMode::Verify)
                .expect("the scanner writes valid frames");
            if tcp.flags == Flags::RST {
                resets += 1;
            } else {
                syns.push((now, tcp.dst_port));
                if scripted_loss(host, &syns, tcp.dst_port) {
                    dropped += 1;
                    continue;
                }
            }
            let Some(there) = admit(&mut forward, now) else {
                dropped += 1;
                continue;
            };
            if tcp.flags == Flags::RST {
                continue; // the host's half-open connection is gone; no answer
            }
            let Some(reply) = answer(&table, &eth, &ip, &tcp) else {
                continue;
            };
            let Some(left) = admit(&mut back, there + path.delay) else {
                dropped += 1;
                continue;
            };
            order += 1;
            arrivals.push(Reverse((left + path.delay, order, reply)));
        }
        while scanner.poll_event().is_some() {}
        if scanner.is_done() {
            return Run {
                results: scanner.results(),
                syns,
                resets,
                dropped,
                pace: scanner.pace(),
                end: now,
            };
        }
        let next_arrival = arrivals.peek().map(|a| a.0.0);
        now = match (scanner.poll_timeout(), next_arrival) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).expect("a deadline or an answer while not done"),
        };
    }
    panic!("the scan did not finish in {max_steps} steps");
}
