//! TCP traceroute as a sans-IO [`RawFlow`]: SYNs to one `HOST:PORT` with
//! TTL 1, 2, …, each hop asked `queries` times. The stack's interface
//! hosts it ([`crate::stack::raw::RawHost`]): it answers ARP for an
//! address the kernel does not own, and hands the trace only the segments
//! of its 4-tuple and the ICMP errors quoting it.
//!
//! A router that decrements a probe's TTL to zero answers with ICMP time
//! exceeded, quoting the probe's IPv4 header and the first 8 bytes of its
//! TCP header (RFC 792): both ports and the sequence number. The
//! destination answers with SYN-ACK (port open) or RST (port closed), both
//! acknowledging the probe's sequence number + 1. A SYN-ACK is answered at
//! once with a RST, so the destination keeps no half-open connection.
//!
//! **Matching.** Every probe of a trace uses the same source port, so one
//! flow-scoped RST guard covers the whole trace; probes differ in their
//! sequence number (`iss + n·65536` for the n-th probe). An ICMP error is a
//! probe's when it quotes our address and port, the destination's address
//! and port, and that probe's sequence number; a SYN-ACK or RST is a
//! probe's when it comes from the destination's port to ours and
//! acknowledges that probe's sequence number + 1.
//!
//! **Pacing.** One probe is in flight at a time: the next one leaves when
//! the current one is answered or its `wait` has passed (then it counts as
//! `*`). An answer for an earlier probe that arrives late is not reported
//! (its slot was already `*`), but a late SYN-ACK is still reset.
//!
//! **UDP and ICMP** ([`TraceKind`], [`Trace::with_kind`]): classic
//! traceroute's UDP datagrams, each to the next destination port from
//! PORT up (33434 by default), matched by the port an ICMP error quotes,
//! the destination reached when it answers port unreachable; or ICMP echo
//! requests (identifier: the source port; sequence numbers 1, 2, …),
//! matched by the sequence number an error quotes, the destination reached
//! when it answers with an echo reply.
//!
//! **Stopping.** After the last query of a hop, the trace ends when any
//! query of that hop reached the destination (open or closed) or met an
//! ICMP destination unreachable; otherwise at `max_ttl`.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use crate::machine::{RawEvents, RawFlow, Selector};
use crate::time::Instant;
use crate::wire::icmp::{IcmpError, IcmpKind, IcmpQuery, QueryKind};
use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
use crate::wire::tcp::{Flags, TcpOption, TcpRepr};
use crate::wire::udp::UdpRepr;
use crate::wire::{MacAddr, SeqNum};

/// Distance between the sequence numbers of two consecutive probes.
const SEQ_STRIDE: u32 = 1 << 16;

/// What a trace needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// Our hardware address.
    pub mac: MacAddr,
    /// The next hop's hardware address: every probe goes there.
    pub next_hop_mac: MacAddr,
    /// Our address and the (single) source port of every probe.
    pub local: SocketAddrV4,
    /// The destination.
    pub remote: SocketAddrV4,
    /// The TTL of the first hop probed (1 unless hops are skipped).
    pub first_ttl: u8,
    /// The last TTL tried when the destination stays silent.
    pub max_ttl: u8,
    /// Probes per hop (at least 1).
    pub queries: u8,
    /// How long each probe waits for its answer.
    pub wait: Duration,
    /// Sequence number of the first probe.
    pub iss: SeqNum,
    /// MSS option carried by the probes (a SYN without one looks odd to
    /// some firewalls).
    pub mss: u16,
}

/// What a trace's probes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TraceKind {
    /// SYNs to one port (tcptraceroute).
    #[default]
    Tcp,
    /// UDP datagrams to consecutive ports (classic traceroute).
    Udp,
    /// ICMP echo requests (traceroute -I).
    Icmp,
}

/// What answered a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// ICMP time exceeded from a router on the path.
    TimeExceeded { code: u8 },
    /// ICMP destination unreachable (from a router or the destination).
    Unreachable { code: u8 },
    /// SYN-ACK from the destination: the port is open.
    Open,
    /// RST from the destination: the port is closed.
    Closed,
    /// ICMP mode: the destination's echo reply.
    EchoReply,
    /// UDP mode: a datagram from the destination's port.
    UdpReply,
    /// UDP mode: the destination's ICMP port unreachable (the classic
    /// traceroute's end).
    PortUnreachable,
}

impl Answer {
    /// Whether this answer ends the trace after its hop.
    pub fn is_final(self) -> bool {
        !matches!(self, Answer::TimeExceeded { .. })
    }

    /// The ICMP kind behind the answer, if it was ICMP.
    pub fn icmp_kind(self) -> Option<IcmpKind> {
        match self {
            Answer::TimeExceeded { code } => Some(IcmpKind::TimeExceeded(code)),
            Answer::PortUnreachable => Some(IcmpKind::Unreachable(3)),
            Answer::Unreachable { code } => Some(IcmpKind::Unreachable(code)),
            Answer::Open | Answer::Closed | Answer::EchoReply | Answer::UdpReply => None,
        }
    }
}

/// Why the trace ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The destination answered at hop `ttl`: SYN-ACK or RST.
    Reached { ttl: u8, open: bool },
    /// ICMP destination unreachable at hop `ttl`, from `from`.
    Unreachable { ttl: u8, from: Ipv4Addr, code: u8 },
    /// `max_ttl` was probed without reaching the destination.
    MaxTtl,
}

/// What happened, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A probe left.
    Sent { ttl: u8, query: u8, seq: SeqNum },
    /// A probe was answered after `rtt`.
    Reply {
        ttl: u8,
        query: u8,
        from: Ipv4Addr,
        answer: Answer,
        rtt: Duration,
    },
    /// A probe's wait passed without an answer.
    Timeout { ttl: u8, query: u8 },
    /// Every query of hop `ttl` is settled.
    HopDone { ttl: u8 },
    /// A RST went to the destination after its SYN-ACK.
    Reset { seq: SeqNum },
    /// An answer for a probe that had already timed out.
    Late { ttl: u8, query: u8, from: Ipv4Addr },
    /// The trace is over.
    Done(Ending),
}

/// One probe sent.
#[derive(Debug, Clone, Copy)]
struct Probe {
    ttl: u8,
    query: u8,
    seq: SeqNum,
    sent_at: Instant,
}

/// The trace.
pub struct Trace {
    config: Config,
    kind: TraceKind,
    /// TTL and query of the next probe to send, when one is due.
    next: Option<(u8, u8)>,
    /// The probe awaiting its answer, with its deadline.
    in_flight: Option<(Probe, Instant)>,
    /// Every probe sent, to recognise late answers.
    sent: Vec<Probe>,
    /// The final answer seen so far in the current hop.
    hop_final: Option<(Ipv4Addr, Answer)>,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    ending: Option<Ending>,
}

impl Trace {
    pub fn new(mut config: Config) -> Trace {
        config.queries = config.queries.max(1);
        config.first_ttl = config.first_ttl.max(1);
        config.max_ttl = config.max_ttl.max(config.first_ttl);
        let first = config.first_ttl;
        Trace {
            config,
            kind: TraceKind::Tcp,
            next: Some((first, 0)),
            in_flight: None,
            sent: Vec::new(),
            hop_final: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
            ending: None,
        }
    }

    /// The same trace with probes of `kind`.
    pub fn with_kind(mut self, kind: TraceKind) -> Trace {
        self.kind = kind;
        self
    }

    pub fn kind(&self) -> TraceKind {
        self.kind
    }

    /// The most probes a trace sends (UDP's port span).
    fn max_probes(&self) -> u16 {
        u16::from(self.config.max_ttl) * u16::from(self.config.queries)
    }

    /// How the trace ended, once it has.
    pub fn ending(&self) -> Option<Ending> {
        self.ending
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn probe_frame(&self, ttl: u8, seq: SeqNum, ident: u16) -> Vec<u8> {
        let (local, remote) = (self.config.local, self.config.remote);
        let ip = Ipv4Repr {
            ttl,
            identification: ident,
            dont_frag: false,
            ..Ipv4Repr::new(*local.ip(), *remote.ip(), IpProtocol::Udp, 0)
        };
        let macs = (self.config.mac, self.config.next_hop_mac);
        match self.kind {
            TraceKind::Tcp => {}
            TraceKind::Udp => {
                // The probe's key is its destination port.
                let udp = UdpRepr {
                    src_port: local.port(),
                    dst_port: seq.0 as u16,
                    payload: &[],
                };
                return udp.to_frame(macs.0, macs.1, &ip);
            }
            TraceKind::Icmp => {
                let q = IcmpQuery {
                    kind: QueryKind::EchoRequest,
                    code: 0,
                    ident: local.port(),
                    seq: seq.0 as u16,
                    body: &[],
                };
                let ip = Ipv4Repr {
                    protocol: IpProtocol::Icmp,
                    payload_len: q.buffer_len(),
                    ..ip
                };
                let mut body = vec![0u8; q.buffer_len()];
                q.emit(&mut body, false);
                let mut frame = vec![0u8; crate::wire::ethernet::HEADER_LEN + ip.total_len()];
                crate::wire::ethernet::EthernetRepr {
                    src: macs.0,
                    dst: macs.1,
                    protocol: crate::wire::ethernet::Protocol::Ipv4,
                }
                .emit(&mut frame);
                let at = crate::wire::ethernet::HEADER_LEN;
                ip.emit(&mut frame[at..]);
                frame[at + crate::wire::ipv4::HEADER_LEN..].copy_from_slice(&body);
                return frame;
            }
        }
        let tcp = TcpRepr {
            src_port: self.config.local.port(),
            dst_port: self.config.remote.port(),
            seq,
            ack: None,
            flags: Flags::SYN,
            window: 64240,
            urgent: 0,
            options: vec![TcpOption::Mss(self.config.mss)],
            payload: &[],
        };
        let ip = Ipv4Repr {
            ttl,
            identification: ident,
            ..Ipv4Repr::new(
                *self.config.local.ip(),
                *self.config.remote.ip(),
                IpProtocol::Tcp,
                tcp.buffer_len(),
            )
        };
        tcp.to_frame(self.config.mac, self.config.next_hop_mac, &ip)
    }

    fn reset_frame(&self, seq: SeqNum) -> Vec<u8> {
        let tcp = TcpRepr {
            src_port: self.config.local.port(),
            dst_port: self.config.remote.port(),
            seq,
            ack: None,
            flags: Flags::RST,
            window: 0,
            urgent: 0,
            options: vec![],
            payload: &[],
        };
        let ip = Ipv4Repr::new(
            *self.config.local.ip(),
            *self.config.remote.ip(),
            IpProtocol::Tcp,
            tcp.buffer_len(),
        );
        tcp.to_frame(self.config.mac, self.config.next_hop_mac, &ip)
    }

    /// The probe whose sequence number is `seq`.
    fn probe_with(&self, seq: SeqNum) -> Option<Probe> {
        self.sent.iter().rev().find(|p| p.seq == seq).copied()
    }

    /// A probe was answered (or timed out, `answer` `None`): record it and
    /// move on to the next query, hop, or the end.
    fn settle(&mut self, now: Instant, probe: Probe, answer: Option<(Ipv4Addr, Answer)>) {
        match answer {
            Some((from, answer)) => {
                self.events.push_back(Event::Reply {
                    ttl: probe.ttl,
                    query: probe.query,
                    from,
                    answer,
                    rtt: now.saturating_duration_since(probe.sent_at),
                });
                if answer.is_final() && self.hop_final.is_none() {
                    self.hop_final = Some((from, answer));
                }
            }
            None => self.events.push_back(Event::Timeout {
                ttl: probe.ttl,
                query: probe.query,
            }),
        }
        self.in_flight = None;
        if probe.query + 1 < self.config.queries {
            self.next = Some((probe.ttl, probe.query + 1));
            return;
        }
        self.events.push_back(Event::HopDone { ttl: probe.ttl });
        let ending = match self.hop_final.take() {
            Some((_, Answer::Open | Answer::EchoReply | Answer::UdpReply)) => {
                Some(Ending::Reached {
                    ttl: probe.ttl,
                    open: true,
                })
            }
            Some((_, Answer::Closed | Answer::PortUnreachable)) => Some(Ending::Reached {
                ttl: probe.ttl,
                open: false,
            }),
            Some((from, Answer::Unreachable { code })) => Some(Ending::Unreachable {
                ttl: probe.ttl,
                from,
                code,
            }),
            Some((_, Answer::TimeExceeded { .. })) => unreachable!("not final"),
            None if probe.ttl >= self.config.max_ttl => Some(Ending::MaxTtl),
            None => None,
        };
        match ending {
            Some(e) => {
                self.ending = Some(e);
                self.next = None;
                self.events.push_back(Event::Done(e));
            }
            None => self.next = Some((probe.ttl + 1, 0)),
        }
    }

    /// An answer for the probe with sequence number `seq`.
    fn answered(&mut self, now: Instant, seq: SeqNum, from: Ipv4Addr, answer: Answer) {
        let Some(probe) = self.probe_with(seq) else {
            return; // not one of ours
        };
        match self.in_flight {
            Some((p, _)) if p.seq == seq => self.settle(now, probe, Some((from, answer))),
            _ => self.events.push_back(Event::Late {
                ttl: probe.ttl,
                query: probe.query,
                from,
            }),
        }
    }

    /// A SYN-ACK or RST from the destination, answering a probe.
    fn handle_tcp(&mut self, now: Instant, from: Ipv4Addr, tcp: &TcpRepr<'_>) {
        let Some(ack) = tcp.ack else {
            return; // neither a SYN-ACK nor a RST answering a SYN
        };
        let seq = ack - 1usize;
        let answer = if tcp.flags.contains(Flags::RST) {
            Answer::Closed
        } else if tcp.flags.contains(Flags::SYN) {
            Answer::Open
        } else {
            return;
        };
        if self.probe_with(seq).is_none() {
            return;
        }
        if answer == Answer::Open {
            // No half-open connection left behind: RST at SEG.ACK.
            self.out.push_back(self.reset_frame(ack));
            self.events.push_back(Event::Reset { seq: ack });
        }
        self.answered(now, seq, from, answer);
    }

    /// An ICMP error quoting a probe: by the sequence number it quotes
    /// (TCP's, or an echo's), or for UDP by the destination port.
    fn handle_icmp_error(&mut self, now: Instant, from: Ipv4Addr, err: &IcmpError) {
        let seq = match self.kind {
            TraceKind::Udp => Some(SeqNum(u32::from(err.quoted_dst.1))),
            TraceKind::Tcp | TraceKind::Icmp => err.quoted_seq,
        };
        let Some(seq) = seq else {
            return;
        };
        let answer = match err.kind {
            IcmpKind::TimeExceeded(code) => Answer::TimeExceeded { code },
            IcmpKind::Unreachable(3)
                if self.kind == TraceKind::Udp && from == *self.config.remote.ip() =>
            {
                Answer::PortUnreachable
            }
            IcmpKind::Unreachable(code) => Answer::Unreachable { code },
        };
        self.answered(now, seq, from, answer);
    }
}

impl RawFlow for Trace {
    /// The trace's one 4-tuple.
    fn selector(&self) -> Selector {
        let (local, remote) = (self.config.local, self.config.remote);
        let remote_ports = match self.kind {
            TraceKind::Tcp => (remote.port(), remote.port()),
            TraceKind::Udp => (
                remote.port(),
                remote.port().saturating_add(self.max_probes()),
            ),
            TraceKind::Icmp => (0, 0),
        };
        Selector {
            local: (*local.ip()).into(),
            local_ports: (local.port(), local.port()),
            remote: (*remote.ip()).into(),
            remote_ports,
        }
    }

    fn protocol(&self) -> IpProtocol {
        match self.kind {
            TraceKind::Tcp => IpProtocol::Tcp,
            TraceKind::Udp => IpProtocol::Udp,
            TraceKind::Icmp => IpProtocol::Icmp,
        }
    }

    fn handle_datagram(&mut self, now: Instant, _: MacAddr, ip: &Ipv4Repr, udp: &UdpRepr<'_>) {
        let seq = SeqNum(u32::from(udp.src_port));
        self.answered(now, seq, ip.src, Answer::UdpReply);
    }

    fn handle_query(&mut self, now: Instant, ip: &Ipv4Repr, q: &IcmpQuery<'_>) {
        if q.kind == QueryKind::EchoReply && ip.src == *self.config.remote.ip() {
            self.answered(now, SeqNum(u32::from(q.seq)), ip.src, Answer::EchoReply);
        }
    }

    fn handle_segment(&mut self, now: Instant, ip: &Ipv4Repr, tcp: &TcpRepr<'_>) {
        self.handle_tcp(now, ip.src, tcp);
    }

    fn handle_icmp(&mut self, now: Instant, from: Ipv4Addr, error: &IcmpError) {
        self.handle_icmp_error(now, from, error);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if let Some((probe, deadline)) = self.in_flight
            && now >= deadline
        {
            self.settle(now, probe, None);
        }
    }

    fn poll_transmit_into(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool {
        let Some(frame) = self.next_frame(now) else {
            return false;
        };
        *buf = frame;
        true
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.in_flight.map(|(_, deadline)| deadline)
    }

    fn is_done(&self) -> bool {
        self.ending.is_some() && self.out.is_empty()
    }

    /// No more probes; the one still waiting may have reached the
    /// destination, whose SYN-ACK is on its way: a RST at the probe's
    /// SEG.SEQ + 1 (the destination's RCV.NXT) so it keeps no half-open
    /// connection. Where it died at a router, nothing answers a RST.
    fn abort(&mut self, _now: Instant) {
        self.next = None;
        if self.kind != TraceKind::Tcp {
            return; // no connection to release
        }
        if let Some((probe, _)) = self.in_flight.take() {
            let seq = probe.seq + 1usize;
            self.out.push_back(self.reset_frame(seq));
            self.events.push_back(Event::Reset { seq });
        }
    }
}

impl RawEvents for Trace {
    type Event = Event;

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

impl Trace {
    /// The next frame due at `now`: a RST owed to a SYN-ACK, else the
    /// next probe once the one in flight is settled.
    fn next_frame(&mut self, now: Instant) -> Option<Vec<u8>> {
        if let Some(frame) = self.out.pop_front() {
            return Some(frame);
        }
        if self.in_flight.is_some() || self.ending.is_some() {
            return None;
        }
        let (ttl, query) = self.next.take()?;
        let n = self.sent.len() as u32;
        let seq = match self.kind {
            TraceKind::Tcp => self.config.iss + n.wrapping_mul(SEQ_STRIDE),
            TraceKind::Udp => SeqNum(u32::from(self.config.remote.port().wrapping_add(n as u16))),
            TraceKind::Icmp => SeqNum(n + 1),
        };
        let probe = Probe {
            ttl,
            query,
            seq,
            sent_at: now,
        };
        self.sent.push(probe);
        self.in_flight = Some((probe, now + self.config.wait));
        self.events.push_back(Event::Sent { ttl, query, seq });
        Some(self.probe_frame(ttl, seq, n as u16))
    }
}

#[cfg(test)]
mod tests;
