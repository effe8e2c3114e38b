//! One TCP connection on one link. See the module docs of [`super`].

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use crate::machine::{Machine, RxChecksum};
use crate::tcp::{Connection, Event as TcpEvent, Segment, SeqNum, State};
use crate::time::Instant;
use crate::wire::arp::ArpRepr;
use crate::wire::ethernet::{EthernetRepr, Protocol};
use crate::wire::icmp::{IcmpError, IcmpKind};
use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
use crate::wire::tcp::{ChecksumFill, Flags, TcpRepr};
use crate::wire::{MacAddr, WireError};

/// Addresses of the host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Our hardware address.
    pub mac: MacAddr,
    /// The next hop's hardware address: every IPv4 frame goes there.
    /// `None` for a listener, which learns it from the frame that carried
    /// the peer's SYN (that frame came from the next hop).
    pub next_hop_mac: Option<MacAddr>,
    /// Answer ARP requests for the connection's local address ourselves,
    /// because the kernel does not own it (and so will not).
    pub answer_arp: bool,
    /// Report every segment as an event (costs a copy of each).
    pub trace: bool,
}

/// Which way a segment went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Out,
    In,
}

/// What happened on the host, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEvent {
    /// A segment left, or arrived for our flow (before the engine saw it).
    Segment { dir: Direction, seg: Segment },
    /// A pure ACK the engine sent that is being held back (see
    /// [`TcpHost::hold_acks`]).
    Withheld { seg: Segment },
    /// The engine's own events.
    Tcp(TcpEvent),
    /// We answered an ARP request for our address.
    ArpAnswered { asker: Ipv4Addr, asker_mac: MacAddr },
    /// An ICMP error quoting our flow.
    Icmp { from: Ipv4Addr, kind: IcmpKind },
    /// A frame addressed to us that failed validation.
    Malformed { why: WireError },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AckHold {
    Off,
    Forever,
    Until(Instant),
}

/// What crossed the wire, for summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub segments_sent: u64,
    pub segments_received: u64,
    /// Payload bytes sent, retransmissions included.
    pub bytes_sent: u64,
    /// Payload bytes received, duplicates included.
    pub bytes_received: u64,
    /// Segments that carried sequence space already sent before.
    pub retransmissions: u64,
    /// Payload bytes those segments carried.
    pub bytes_retransmitted: u64,
}

/// One connection on one link.
pub struct TcpHost {
    config: HostConfig,
    conn: Connection,
    arp_replies: VecDeque<Vec<u8>>,
    events: VecDeque<HostEvent>,
    hold: AckHold,
    held: Option<Segment>,
    malformed: u64,
    stats: Stats,
    /// The highest sequence number sent so far (end of the last new byte),
    /// to tell retransmissions from new data.
    snd_high: Option<SeqNum>,
    /// A segment pulled from the engine that did not fit the super-frame
    /// being built; it goes out next.
    spare: Option<Segment>,
}

/// Whether a segment is a pure acknowledgment: no data, no SYN/FIN/RST.
pub fn is_pure_ack(seg: &Segment) -> bool {
    seg.ack.is_some() && seg.payload.is_empty() && {
        !seg.flags.contains(Flags::SYN)
            && !seg.flags.contains(Flags::FIN)
            && !seg.flags.contains(Flags::RST)
    }
}

impl TcpHost {
    pub fn new(config: HostConfig, conn: Connection) -> TcpHost {
        TcpHost {
            config,
            conn,
            arp_replies: VecDeque::new(),
            events: VecDeque::new(),
            hold: AckHold::Off,
            held: None,
            malformed: 0,
            stats: Stats::default(),
            snd_high: None,
            spare: None,
        }
    }

    /// What crossed the wire so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The next segment to send: one pulled earlier that did not fit a
    /// super-frame, else the engine's next.
    fn next_segment(&mut self, now: Instant) -> Option<Segment> {
        if let Some(seg) = self.spare.take() {
            return Some(seg);
        }
        let seg = self.conn.poll_transmit(now);
        self.drain_tcp_events();
        seg
    }

    /// Like [`Machine::poll_transmit`], but runs of consecutive full-sized
    /// data segments come back as one TCP super-frame of at most
    /// `max_payload` bytes, with the segment size to cut it into
    /// (`Some(mss)`), for a link that segments in the kernel
    /// ([`Link::send_segmented`](crate::link::Link::send_segmented)). The
    /// kernel cuts it into exactly the segments the engine produced: each
    /// gets the same header with its own sequence number, PSH and FIN
    /// only on the last, and its checksum finished.
    pub fn poll_transmit_coalesced(
        &mut self,
        now: Instant,
        max_payload: usize,
    ) -> Option<(Vec<u8>, Option<u16>)> {
        if !self.arp_replies.is_empty() || self.hold != AckHold::Off {
            return self.poll_transmit(now).map(|f| (f, None));
        }
        let first = self.next_segment(now)?;
        let coalescible = |s: &Segment| {
            s.ack.is_some()
                && !s.payload.is_empty()
                && !s.flags.contains(Flags::SYN)
                && !s.flags.contains(Flags::RST)
                && !s.flags.contains(Flags::URG)
        };
        if !coalescible(&first) || first.flags.contains(Flags::FIN) {
            return Some((self.frame(first), None));
        }
        let mss = first.payload.len();
        let mut parts = vec![first];
        let mut total = mss;
        loop {
            let last = parts.last().expect("at least the first");
            if last.flags.contains(Flags::FIN) || last.payload.len() < mss {
                break; // only the last piece may be short or carry FIN
            }
            let Some(next) = self.next_segment(now) else {
                break;
            };
            let fits = coalescible(&next)
                && next.src == last.src
                && next.dst == last.dst
                && next.seq == last.seq + last.payload.len()
                && next.ack == last.ack
                && next.window == last.window
                && next.options == last.options
                && next.payload.len() <= mss
                && total + next.payload.len() <= max_payload;
            if !fits {
                self.spare = Some(next);
                break;
            }
            total += next.payload.len();
            parts.push(next);
        }
        if parts.len() == 1 {
            let seg = parts.pop().expect("one part");
            return Some((self.frame(seg), None));
        }
        for part in &parts {
            self.account(part);
        }
        let mut combined = parts[0].clone();
        combined.payload.reserve(total - mss);
        for part in &parts[1..] {
            combined.payload.extend_from_slice(&part.payload);
            combined.flags = combined.flags | part.flags;
        }
        let frame = combined.as_repr().to_frame_with(
            self.config.mac,
            self.next_hop(),
            &combined.ipv4(),
            ChecksumFill::PseudoHeader,
        );
        if self.config.trace {
            self.events.push_back(HostEvent::Segment {
                dir: Direction::Out,
                seg: combined,
            });
        }
        Some((frame, Some(mss as u16)))
    }

    /// Replaces the connection (a listener accepting the next one); the
    /// next hop is learned again from the next SYN when it was learned.
    pub fn replace_conn(&mut self, conn: Connection, learn_next_hop: bool) {
        self.conn = conn;
        self.snd_high = None;
        self.spare = None;
        if learn_next_hop {
            self.config.next_hop_mac = None;
        }
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Frames for us that failed validation.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// Holds back pure ACKs instead of sending them: forever (`None`), or
    /// until `until`, when the latest one held is sent. This is how a user
    /// withholds the handshake's third ACK and watches the peer retransmit
    /// its SYN-ACK, or sends it late.
    pub fn hold_acks(&mut self, until: Option<Instant>) {
        self.hold = until.map_or(AckHold::Forever, AckHold::Until);
    }

    /// Stops holding ACKs; the latest one held goes out with the next
    /// [`TcpHost::poll_transmit`].
    pub fn release_acks(&mut self, now: Instant) {
        self.hold = AckHold::Until(now);
    }

    /// Whether ACKs are being held back.
    pub fn holding_acks(&self) -> bool {
        self.hold != AckHold::Off
    }

    /// Counts a segment leaving (and whether it repeats sequence space).
    fn account(&mut self, seg: &Segment) {
        let len = seg.len();
        if len > 0 {
            let end = seg.seq + len;
            match self.snd_high {
                Some(high) if seg.seq.lt(high) => {
                    // Repeats sequence space: wholly, or (a segment rebuilt
                    // after a timeout, up to a full MSS) partly, its tail new.
                    self.stats.retransmissions += 1;
                    let old = (high - seg.seq).min(seg.payload.len());
                    self.stats.bytes_retransmitted += old as u64;
                    if high.lt(end) {
                        self.snd_high = Some(end);
                    }
                }
                _ => self.snd_high = Some(end),
            }
        }
        self.stats.segments_sent += 1;
        self.stats.bytes_sent += seg.payload.len() as u64;
    }

    fn next_hop(&self) -> MacAddr {
        self.config.next_hop_mac.unwrap_or(MacAddr::broadcast())
    }

    fn frame(&mut self, seg: Segment) -> Vec<u8> {
        self.account(&seg);
        let frame = seg.to_frame(self.config.mac, self.next_hop());
        if self.config.trace {
            self.events.push_back(HostEvent::Segment {
                dir: Direction::Out,
                seg,
            });
        }
        frame
    }

    fn drain_tcp_events(&mut self) {
        while let Some(ev) = self.conn.poll_event() {
            self.events.push_back(HostEvent::Tcp(ev));
        }
    }

    fn handle_arp(&mut self, arp: &ArpRepr) {
        if !self.config.answer_arp {
            return;
        }
        let Some(reply) = arp.reply_for(self.config.mac, *self.conn.local().ip()) else {
            return;
        };
        self.arp_replies
            .push_back(reply.to_frame(self.config.mac, arp.sender_mac));
        self.events.push_back(HostEvent::ArpAnswered {
            asker: arp.sender_ip,
            asker_mac: arp.sender_mac,
        });
    }

    fn bad(&mut self, why: WireError) {
        self.malformed += 1;
        self.events.push_back(HostEvent::Malformed { why });
    }

    fn handle_ipv4(&mut self, now: Instant, src_mac: MacAddr, bytes: &[u8], checksum: RxChecksum) {
        let (ip, body) = match Ipv4Repr::parse(bytes) {
            Ok(x) => x,
            Err(e) => return self.bad(e),
        };
        let local = self.conn.local();
        let remote = self.conn.remote();
        if ip.dst != *local.ip() {
            return;
        }
        match ip.protocol {
            IpProtocol::Tcp => {
                let mode = checksum.tcp_mode();
                let tcp = match TcpRepr::parse(body, ip.src, ip.dst, mode) {
                    Ok(t) => t,
                    Err(e) => return self.bad(e),
                };
                // A listener takes a SYN from anyone; afterwards, and for an
                // active open, only the connection's own 4-tuple.
                let listening = self.conn.state() == State::Listen;
                let ours = tcp.dst_port == local.port()
                    && (listening || (tcp.src_port == remote.port() && ip.src == *remote.ip()));
                if !ours {
                    return; // another flow: the kernel's business, not ours
                }
                if listening && self.config.next_hop_mac.is_none() && tcp.flags.contains(Flags::SYN)
                {
                    // The frame that carried the SYN came from the next hop.
                    self.config.next_hop_mac = Some(src_mac);
                }
                self.stats.segments_received += 1;
                self.stats.bytes_received += tcp.payload.len() as u64;
                if self.config.trace {
                    self.events.push_back(HostEvent::Segment {
                        dir: Direction::In,
                        seg: Segment::from_repr(ip.src, ip.dst, &tcp),
                    });
                }
                self.conn.handle_segment_from(now, ip.src, &tcp);
                self.drain_tcp_events();
            }
            IpProtocol::Icmp => match IcmpError::parse(body) {
                Ok(e)
                    if e.quoted_src == (*local.ip(), local.port())
                        && e.quoted_dst == (*remote.ip(), remote.port()) =>
                {
                    self.events.push_back(HostEvent::Icmp {
                        from: ip.src,
                        kind: e.kind,
                    });
                }
                Ok(_) | Err(_) => {} // about someone else, or not an error we report
            },
            _ => {}
        }
    }
}

impl Machine for TcpHost {
    type Event = HostEvent;

    fn handle_frame(&mut self, now: Instant, frame: &[u8], checksum: RxChecksum) {
        let (eth, payload) = match EthernetRepr::parse(frame) {
            Ok(x) => x,
            Err(_) => return, // not even Ethernet: nothing addressed to us
        };
        if eth.dst != self.config.mac && !eth.dst.is_broadcast() {
            return;
        }
        match eth.protocol {
            Protocol::Arp => {
                if let Ok(arp) = ArpRepr::parse(payload) {
                    self.handle_arp(&arp);
                }
            }
            Protocol::Ipv4 => self.handle_ipv4(now, eth.src, payload, checksum),
            Protocol::Other(_) => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.conn.handle_timeout(now);
        self.drain_tcp_events();
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if let Some(reply) = self.arp_replies.pop_front() {
            return Some(reply);
        }
        if let AckHold::Until(t) = self.hold
            && now >= t
        {
            self.hold = AckHold::Off;
            if let Some(seg) = self.held.take() {
                return Some(self.frame(seg));
            }
        }
        loop {
            let seg = self.next_segment(now)?;
            if self.hold != AckHold::Off && is_pure_ack(&seg) {
                self.events
                    .push_back(HostEvent::Withheld { seg: seg.clone() });
                self.held = Some(seg);
                continue;
            }
            if !seg.payload.is_empty() {
                // Data carries the same acknowledgment, which supersedes a
                // held one. (A session sends data only once ACKs flow.)
                self.held = None;
            }
            return Some(self.frame(seg));
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let release = match self.hold {
            AckHold::Until(t) if self.held.is_some() => Some(t),
            _ => None,
        };
        match (self.conn.poll_timeout(), release) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn poll_event(&mut self) -> Option<HostEvent> {
        self.events.pop_front()
    }

    fn is_done(&self) -> bool {
        self.conn.state() == State::Closed && self.arp_replies.is_empty() && self.spare.is_none()
    }
}
