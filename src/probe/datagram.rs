//! `nettool probe --udp` and `probe --icmp` (and `nettool ping`) as a
//! sans-IO raw flow: hand-made UDP datagrams or ICMP queries on a
//! schedule, every answer matched to the probe it answers, RTT statistics
//! as the TCP prober keeps them ([`super::prober::Summary`]).
//!
//! **Matching.** An ICMP query carries our identifier and the probe's
//! sequence number (probe N has sequence number N, modulo 2^16, as `ping`
//! numbers them); its reply and any ICMP error quoting it name the probe
//! directly. UDP has no sequence number: a datagram from the probed port
//! back to ours, or an ICMP error quoting a datagram of those ports, answers
//! the oldest unanswered probe of those ports (with `--sport-inc`, each
//! probe has its own source port, so the match is exact). An error
//! answers a probe only when the packet it quotes is of the probes'
//! protocol: an error about a TCP segment or an echo between the same
//! ports or identifier is someone else's.
//!
//! **IPv6.** The same probes between IPv6 addresses: the hop limit stands
//! for the TTL, the traffic class for the TOS byte, and a flow label may
//! be set; ICMPv6 (RFC 4443) stands for ICMP: echo request and reply
//! (types 128 and 129, checksummed over the IPv6 pseudo-header, RFC 8200
//! §8.1), and its errors (destination unreachable, packet too big, time
//! exceeded), which quote as much of the probe as fits, so the same ports
//! and sequence numbers match them. ICMPv6 has no timestamp or address
//! mask query, and IPv6 no identification or DF bit: [`Config::validate`]
//! refuses them.
//!
//! **Expiry** is the TCP prober's: a probe unanswered `wait` after it left
//! counts as lost, and the run ends when every probe was sent and each has
//! been answered or has expired.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::prober::Summary;
use super::{MAX_FLOW_LABEL, bad_checksum, mix};
use crate::machine::{RawEvents, RawFlow, Selector};
use crate::time::{Instant, earliest};
use crate::wire::MacAddr;
use crate::wire::demux::Echo6;
use crate::wire::ethernet::{self, EthernetRepr, Protocol};
use crate::wire::icmp::{ErrorKind, IcmpError, IcmpQuery, QUERY_HEADER_LEN, QueryKind};
use crate::wire::icmpv6::{ECHO_REQUEST, Icmpv6Error};
use crate::wire::ipv4::{self, IpProtocol, Ipv4Repr};
use crate::wire::ipv6::{self, Ipv6Repr, NextHeader};
use crate::wire::udp::{UdpChecksum, UdpRepr};

/// What the probes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// UDP datagrams from `sport` (each from the next port with
    /// `sport_inc`) to `dports` in turn.
    Udp {
        sport: u16,
        sport_inc: bool,
        dports: Vec<u16>,
        checksum: UdpChecksum,
    },
    /// ICMP query requests of `query` (echo by default; over IPv6, echo
    /// only) with `code` and identifier `ident`; `bad_checksum` writes
    /// one that cannot verify.
    Icmp {
        query: QueryKind,
        code: u8,
        ident: u16,
        bad_checksum: bool,
    },
}

/// What to send, how often, and how long to wait for answers.
#[derive(Debug, Clone)]
pub struct Config {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    /// Both of one family: the probes are IPv4 or IPv6 packets.
    pub src: IpAddr,
    pub dst: IpAddr,
    pub kind: Kind,
    /// The UDP payload, or the ICMP body after the 8-byte header (for a
    /// timestamp or mask request, at least its 12 or 4 bytes of fields).
    pub payload: Vec<u8>,
    /// IPv4's TTL, IPv6's hop limit.
    pub ttl: u8,
    /// IPv4's TOS byte, IPv6's traffic class (the same DSCP and ECN bits).
    pub tos: u8,
    /// IPv4 only: the DF bit.
    pub dont_frag: bool,
    /// IPv6 only: the 20-bit flow label (RFC 6437).
    pub flow_label: u32,
    /// A fixed IP identification; otherwise it counts up from a random
    /// start. IPv4 only: an IPv6 header has none.
    pub id: Option<u16>,
    /// Probes to send; `None` until stopped.
    pub count: Option<u64>,
    pub interval: Duration,
    pub wait: Duration,
    /// Seeds the identifications.
    pub seed: u64,
    pub flood: bool,
    /// Report every probe and answer as an event (off for a flood).
    pub report: bool,
}

impl Config {
    /// Bytes of one probe's IP packet (IPv4 or IPv6 header included).
    pub fn datagram_len(&self) -> usize {
        let ip = match self.dst {
            IpAddr::V4(_) => ipv4::HEADER_LEN,
            IpAddr::V6(_) => ipv6::HEADER_LEN,
        };
        ip + self.message_len()
    }

    /// Bytes of the UDP datagram or ICMP message a probe carries.
    fn message_len(&self) -> usize {
        let header = match self.kind {
            Kind::Udp { .. } => crate::wire::udp::HEADER_LEN,
            Kind::Icmp { .. } => QUERY_HEADER_LEN,
        };
        header + self.payload.len()
    }

    /// Checks what writing a probe would otherwise panic on, and what the
    /// destination's family cannot carry.
    pub fn validate(&self) -> Result<(), String> {
        if self.src.is_ipv4() != self.dst.is_ipv4() {
            return Err(format!(
                "{} and {} are of two IP families: a probe goes from one to the other",
                self.src, self.dst
            ));
        }
        if let Kind::Udp { dports, .. } = &self.kind
            && dports.is_empty()
        {
            return Err("a UDP probe needs a destination port".into());
        }
        if let Kind::Icmp { query, .. } = self.kind
            && self.payload.len() < query.min_body()
        {
            return Err(format!(
                "an ICMP {} carries at least {} bytes of data",
                query.name(),
                query.min_body()
            ));
        }
        match self.dst {
            IpAddr::V4(dst) => {
                let total = self.datagram_len();
                if total > 65535 {
                    return Err(format!(
                        "the datagram would be {total} bytes; IPv4 allows 65535"
                    ));
                }
                if self.flow_label != 0 {
                    return Err(format!(
                        "--flow-label is IPv6's, and {dst} is an IPv4 address (IPv4 has no \
                         flow label)"
                    ));
                }
            }
            IpAddr::V6(dst) => self.validate_v6(dst)?,
        }
        Ok(())
    }

    /// What IPv6 lacks: a DF bit, an identification, ICMP's timestamp and
    /// address mask queries, a UDP datagram without a checksum.
    fn validate_v6(&self, dst: Ipv6Addr) -> Result<(), String> {
        let payload = self.message_len();
        if payload > 65535 {
            return Err(format!(
                "the probe's payload would be {payload} bytes; an IPv6 payload holds 65535"
            ));
        }
        if self.flow_label > MAX_FLOW_LABEL {
            return Err(format!(
                "flow label {} does not fit in 20 bits (at most {MAX_FLOW_LABEL}, 0xfffff)",
                self.flow_label
            ));
        }
        if self.dont_frag {
            return Err(format!(
                "--df is IPv4's, and {dst} is an IPv6 address (IPv6 routers never fragment: \
                 there is no DF bit)"
            ));
        }
        if self.id.is_some() {
            return Err(format!(
                "--id is IPv4's identification, and {dst} is an IPv6 address (an IPv6 header \
                 has none)"
            ));
        }
        match self.kind {
            Kind::Icmp { query, .. } if query != QueryKind::EchoRequest => {
                Err(no_such_query_v6(query, dst.into()))
            }
            Kind::Udp {
                checksum: UdpChecksum::Omitted,
                ..
            } => Err(format!(
                "{dst} is an IPv6 address, and IPv6 forbids a UDP datagram without a checksum \
                 (RFC 8200 §8.1: the peer drops it): leave --zero-checksum out (--badsum sends \
                 a wrong one)"
            )),
            _ => Ok(()),
        }
    }
}

/// Why an ICMP query other than echo cannot go to the IPv6 address `dst`.
pub fn no_such_query_v6(query: QueryKind, dst: IpAddr) -> String {
    format!(
        "{dst} is an IPv6 address, and ICMPv6 has no {} (RFC 4443 defines echo only; the \
         timestamp and address mask queries are IPv4's): leave --icmp-type out, or probe an \
         IPv4 address",
        query.name()
    )
}

/// An answer's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A UDP datagram from the probed port: something listens there.
    Datagram {
        sport: u16,
        dport: u16,
        payload: Vec<u8>,
    },
    /// The reply to an ICMP query (its timestamps or mask, if any); over
    /// IPv6, an ICMPv6 echo reply.
    Query {
        kind: QueryKind,
        ident: u16,
        seq: u16,
        len: usize,
        timestamps: Option<[u32; 3]>,
        mask: Option<Ipv4Addr>,
    },
}

/// What happened, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Probe number `index` (from 1) left. `sport`/`dport` are UDP's
    /// ports, or the identifier and 0 for ICMP; `seq` is the ICMP sequence
    /// number (0 for UDP); `id` the IPv4 identification (0 over IPv6).
    Sent {
        index: u64,
        sport: u16,
        dport: u16,
        seq: u16,
        id: u16,
    },
    /// An answer to probe `index`, with its TTL (IPv6: hop limit).
    Reply {
        index: u64,
        rtt: Duration,
        from: IpAddr,
        ttl: u8,
        answer: Answer,
    },
    /// An ICMP or ICMPv6 error about one of our probes (`index` when it
    /// could be matched), from the host or a router on the way.
    Icmp {
        index: Option<u64>,
        rtt: Option<Duration>,
        from: IpAddr,
        kind: ErrorKind,
    },
    /// An answer to our ports or identifier that matches no outstanding
    /// probe (a late reply, a duplicate).
    Unmatched {
        from: IpAddr,
        ttl: u8,
        answer: Answer,
    },
}

struct Pending {
    sent_at: Instant,
    answered: bool,
}

/// The UDP or ICMP probe machine (see the module docs).
pub struct DatagramProber {
    config: Config,
    next_index: u64,
    next_send: Instant,
    order: VecDeque<Pending>,
    first: u64,
    events: VecDeque<Event>,
    summary: Summary,
    id_base: u16,
    stopped: bool,
}

impl DatagramProber {
    /// A prober whose first probe is due at `now`. Panics on a config that
    /// [`Config::validate`] refuses.
    pub fn new(now: Instant, config: Config) -> DatagramProber {
        config.validate().expect("a valid configuration");
        let id_base = mix(config.seed ^ 0x1d) as u16;
        DatagramProber {
            config,
            next_index: 1,
            next_send: now,
            order: VecDeque::new(),
            first: 1,
            events: VecDeque::new(),
            summary: Summary::default(),
            id_base,
            stopped: false,
        }
    }

    pub fn summary(&self) -> Summary {
        self.summary
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Stops sending; the run ends once the outstanding probes are
    /// answered or expire.
    pub fn stop_sending(&mut self) {
        self.stopped = true;
    }

    /// Forgets the last `n` probes: returned for sending, they never left
    /// (a flood stopped while they waited in its send ring).
    pub fn unsend(&mut self, n: u64) {
        let n = n.min(self.order.len() as u64);
        for _ in 0..n {
            self.order.pop_back();
        }
        self.next_index -= n;
        self.summary.sent -= n;
    }

    fn all_sent(&self) -> bool {
        self.stopped || self.config.count.is_some_and(|c| self.next_index > c)
    }

    /// UDP's ports (or the identifier and 0), the ICMP sequence number
    /// and the IP identification of probe `index` (0 over IPv6, which has
    /// none).
    fn probe_fields(&self, index: u64) -> (u16, u16, u16, u16) {
        let n = index - 1;
        let id = match self.config.dst {
            IpAddr::V4(_) => self
                .config
                .id
                .unwrap_or_else(|| self.id_base.wrapping_add(n as u16)),
            IpAddr::V6(_) => 0,
        };
        match &self.config.kind {
            Kind::Udp {
                sport,
                sport_inc,
                dports,
                ..
            } => {
                let sport = if *sport_inc {
                    let span = 65536 - u64::from(*sport);
                    sport + (n % span) as u16
                } else {
                    *sport
                };
                let dport = dports[(n % dports.len() as u64) as usize];
                (sport, dport, 0, id)
            }
            Kind::Icmp { ident, .. } => (*ident, 0, index as u16, id),
        }
    }

    /// Writes probe `index`'s frame into `buf`.
    fn write(&self, buf: &mut Vec<u8>, index: u64) {
        let c = &self.config;
        let (src, dst) = match (c.src, c.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => (src, dst),
            (IpAddr::V6(src), IpAddr::V6(dst)) => return self.write_v6(buf, index, (src, dst)),
            (src, dst) => panic!("a probe from {src} to {dst}: validate() refuses it"),
        };
        let (sport, dport, seq, id) = self.probe_fields(index);
        let ip = Ipv4Repr {
            src,
            dst,
            protocol: IpProtocol::Udp,
            ttl: c.ttl,
            tos: c.tos,
            identification: id,
            dont_frag: c.dont_frag,
            payload_len: 0,
        };
        let macs = (c.src_mac, c.dst_mac);
        match &c.kind {
            Kind::Udp { checksum, .. } => {
                let udp = UdpRepr {
                    src_port: sport,
                    dst_port: dport,
                    payload: &c.payload,
                };
                udp.write_frame(buf, macs, &ip, *checksum);
            }
            Kind::Icmp {
                query,
                code,
                ident,
                bad_checksum,
            } => {
                let q = IcmpQuery {
                    kind: *query,
                    code: *code,
                    ident: *ident,
                    seq,
                    body: &c.payload,
                };
                let ip = Ipv4Repr {
                    protocol: IpProtocol::Icmp,
                    payload_len: q.buffer_len(),
                    ..ip
                };
                buf.resize(ethernet::HEADER_LEN + ip.total_len(), 0);
                EthernetRepr {
                    src: c.src_mac,
                    dst: c.dst_mac,
                    protocol: Protocol::Ipv4,
                }
                .emit(buf);
                ip.emit(&mut buf[ethernet::HEADER_LEN..]);
                q.emit(
                    &mut buf[ethernet::HEADER_LEN + ipv4::HEADER_LEN..],
                    *bad_checksum,
                );
            }
        }
    }

    /// [`DatagramProber::write`] over IPv6: the hop limit, traffic class
    /// and flow label in the header; a UDP datagram or an ICMPv6 echo
    /// request.
    fn write_v6(&self, buf: &mut Vec<u8>, index: u64, (src, dst): (Ipv6Addr, Ipv6Addr)) {
        let c = &self.config;
        let (sport, dport, seq, _) = self.probe_fields(index);
        let ip = Ipv6Repr {
            traffic_class: c.tos,
            flow_label: c.flow_label,
            ..Ipv6Repr::new(src, dst, NextHeader::Udp, c.ttl, 0)
        };
        let macs = (c.src_mac, c.dst_mac);
        match &c.kind {
            Kind::Udp { checksum, .. } => {
                let udp = UdpRepr {
                    src_port: sport,
                    dst_port: dport,
                    payload: &c.payload,
                };
                udp.write_ipv6_frame(buf, macs, &ip, *checksum);
            }
            Kind::Icmp {
                code,
                ident,
                bad_checksum: bad,
                ..
            } => {
                let ip = Ipv6Repr {
                    next_header: NextHeader::Icmpv6,
                    payload_len: self.config.message_len(),
                    ..ip
                };
                buf.resize(ethernet::HEADER_LEN + ip.total_len(), 0);
                EthernetRepr {
                    src: c.src_mac,
                    dst: c.dst_mac,
                    protocol: Protocol::Ipv6,
                }
                .emit(buf);
                ip.emit(&mut buf[ethernet::HEADER_LEN..]);
                let msg = &mut buf[ethernet::HEADER_LEN + ipv6::HEADER_LEN..];
                // RFC 4443 §4.1: type, code, checksum, identifier,
                // sequence number, data.
                msg[0] = ECHO_REQUEST;
                msg[1] = *code;
                msg[2..4].fill(0);
                msg[4..6].copy_from_slice(&ident.to_be_bytes());
                msg[6..8].copy_from_slice(&seq.to_be_bytes());
                msg[8..].copy_from_slice(&c.payload);
                let sum = crate::wire::checksum::ipv6_pseudo_sum(
                    src,
                    dst,
                    NextHeader::Icmpv6.into(),
                    msg.len(),
                    crate::wire::checksum::add(0, msg),
                );
                let sum = if *bad { bad_checksum(sum) } else { sum };
                msg[2..4].copy_from_slice(&sum.to_be_bytes());
            }
        }
    }

    fn pending_mut(&mut self, index: u64) -> Option<&mut Pending> {
        self.order
            .get_mut(usize::try_from(index.checked_sub(self.first)?).ok()?)
    }

    /// Marks probe `index` answered, if it is outstanding and unanswered.
    fn answer(&mut self, index: u64) -> Option<(u64, Instant)> {
        let p = self.pending_mut(index).filter(|p| !p.answered)?;
        p.answered = true;
        Some((index, p.sent_at))
    }

    /// The oldest unanswered probe from our port `ours` to their `theirs`.
    fn take_ports(&mut self, ours: u16, theirs: u16) -> Option<(u64, Instant)> {
        let at = (0..self.order.len()).find(|&i| {
            let index = self.first + i as u64;
            let (sport, dport, _, _) = self.probe_fields(index);
            !self.order[i].answered && (sport, dport) == (ours, theirs)
        })?;
        self.answer(self.first + at as u64)
    }

    /// The unanswered probe whose ICMP sequence number is `seq`: the
    /// outstanding probes span far fewer than 2^16 numbers.
    fn take_seq(&mut self, seq: u16) -> Option<(u64, Instant)> {
        let index = self.first + u64::from(seq.wrapping_sub(self.first as u16));
        if index >= self.next_index {
            return None;
        }
        self.answer(index)
    }

    /// Forgets answered probes at the front and expires unanswered ones
    /// older than `wait`.
    fn expire(&mut self, now: Instant) {
        while let Some(p) = self.order.front() {
            if !p.answered && now < p.sent_at + self.config.wait {
                break;
            }
            self.order.pop_front();
            self.first += 1;
        }
    }

    /// An answer from `from` that came with `ttl` (IPv6: its hop limit),
    /// to probe `hit` or to none.
    fn reply(
        &mut self,
        now: Instant,
        hit: Option<(u64, Instant)>,
        (from, ttl): (IpAddr, u8),
        answer: Answer,
    ) {
        match hit {
            Some((index, sent_at)) => {
                let rtt = now - sent_at;
                self.summary.answered += 1;
                self.summary.rtt.add(rtt);
                if self.config.report {
                    self.events.push_back(Event::Reply {
                        index,
                        rtt,
                        from,
                        ttl,
                        answer,
                    });
                }
            }
            None => {
                self.summary.unmatched += 1;
                if self.config.report {
                    self.events
                        .push_back(Event::Unmatched { from, ttl, answer });
                }
            }
        }
    }

    /// A UDP datagram from `from` (with its TTL or hop limit) to our ports.
    fn datagram(&mut self, now: Instant, from: (IpAddr, u8), udp: &UdpRepr<'_>) {
        let hit = self.take_ports(udp.dst_port, udp.src_port);
        let answer = Answer::Datagram {
            sport: udp.src_port,
            dport: udp.dst_port,
            payload: if self.config.report {
                udp.payload.to_vec()
            } else {
                Vec::new()
            },
        };
        self.reply(now, hit, from, answer);
    }

    /// An ICMP or ICMPv6 error (`kind`) from `from` about a packet of
    /// `protocol` (the probes' or another) that quotes our port (or
    /// identifier) `ours`, their port `theirs` (0 for a query) and, for a
    /// query, its sequence number.
    fn icmp_error(
        &mut self,
        now: Instant,
        from: IpAddr,
        kind: ErrorKind,
        protocol: IpProtocol,
        (ours, theirs, quoted_seq): (u16, u16, Option<u32>),
    ) {
        if protocol != self.protocol() {
            // Someone else's packet between the same ports (a TCP
            // segment, an echo of the same identifier as our ports).
            return;
        }
        let hit = match self.config.kind {
            Kind::Udp { .. } => self.take_ports(ours, theirs),
            Kind::Icmp { .. } => quoted_seq.and_then(|s| self.take_seq(s as u16)),
        };
        let rtt = hit.map(|(_, sent_at)| now - sent_at);
        match rtt {
            Some(rtt) => {
                self.summary.answered += 1;
                self.summary.rtt.add(rtt);
            }
            None => self.summary.unmatched += 1,
        }
        if self.config.report {
            self.events.push_back(Event::Icmp {
                index: hit.map(|(i, _)| i),
                rtt,
                from,
                kind,
            });
        }
    }
}

impl RawFlow for DatagramProber {
    /// UDP: from our port (or ports) to the destination's. ICMP: our
    /// identifier.
    fn selector(&self) -> Selector {
        let c = &self.config;
        let (local_ports, remote_ports) = match &c.kind {
            Kind::Udp {
                sport,
                sport_inc,
                dports,
                ..
            } => {
                let last = if *sport_inc { u16::MAX } else { *sport };
                let lo = dports.iter().min().copied().unwrap_or(0);
                let hi = dports.iter().max().copied().unwrap_or(0);
                ((*sport, last), (lo, hi))
            }
            Kind::Icmp { ident, .. } => ((*ident, *ident), (0, 0)),
        };
        Selector {
            local: c.src,
            local_ports,
            remote: c.dst,
            remote_ports,
        }
    }

    fn protocol(&self) -> IpProtocol {
        match self.config.kind {
            Kind::Udp { .. } => IpProtocol::Udp,
            Kind::Icmp { .. } => IpProtocol::Icmp,
        }
    }

    fn handle_datagram(&mut self, now: Instant, _: MacAddr, ip: &Ipv4Repr, udp: &UdpRepr<'_>) {
        self.datagram(now, (ip.src.into(), ip.ttl), udp);
    }

    fn handle_datagram6(&mut self, now: Instant, _: MacAddr, ip: &Ipv6Repr, udp: &UdpRepr<'_>) {
        self.datagram(now, (ip.src.into(), ip.hop_limit), udp);
    }

    fn handle_query(&mut self, now: Instant, ip: &Ipv4Repr, q: &IcmpQuery<'_>) {
        let Kind::Icmp { query, .. } = self.config.kind else {
            return;
        };
        if query.reply() != Some(q.kind) {
            return; // a request to us, or a reply to another kind
        }
        let hit = self.take_seq(q.seq);
        let answer = Answer::Query {
            kind: q.kind,
            ident: q.ident,
            seq: q.seq,
            len: q.buffer_len(),
            timestamps: q.timestamps(),
            mask: q.mask(),
        };
        self.reply(now, hit, (ip.src.into(), ip.ttl), answer);
    }

    fn handle_echo6(&mut self, now: Instant, ip: &Ipv6Repr, echo: &Echo6<'_>) {
        if !echo.reply || !matches!(self.config.kind, Kind::Icmp { .. }) {
            return; // a request to us: the interface's to answer
        }
        let hit = self.take_seq(echo.seq);
        let answer = Answer::Query {
            kind: QueryKind::EchoReply,
            ident: echo.ident,
            seq: echo.seq,
            len: QUERY_HEADER_LEN + echo.data.len(),
            timestamps: None,
            mask: None,
        };
        self.reply(now, hit, (ip.src.into(), ip.hop_limit), answer);
    }

    fn handle_malformed(&mut self, _now: Instant) {
        self.summary.malformed += 1;
    }

    /// An error matches through the ports (UDP) or the sequence number
    /// (ICMP) of the packet it quotes, when that packet is of the probes'
    /// protocol.
    fn handle_icmp(&mut self, now: Instant, from: Ipv4Addr, error: &IcmpError) {
        let quoted = (
            error.quoted_src.1,
            error.quoted_dst.1,
            error.quoted_seq.map(|s| s.get()),
        );
        let kind = ErrorKind::V4(error.kind);
        self.icmp_error(now, from.into(), kind, error.protocol, quoted);
    }

    fn handle_icmp6(&mut self, now: Instant, from: Ipv6Addr, error: &Icmpv6Error) {
        let protocol = match error.protocol {
            NextHeader::Udp => IpProtocol::Udp,
            NextHeader::Icmpv6 => IpProtocol::Icmp,
            NextHeader::Tcp => IpProtocol::Tcp,
            other => IpProtocol::Other(other.into()),
        };
        let quoted = (
            error.quoted_src.1,
            error.quoted_dst.1,
            error.quoted_seq.map(|s| s.get()),
        );
        let kind = ErrorKind::V6(error.kind);
        self.icmp_error(now, from.into(), kind, protocol, quoted);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    fn poll_transmit_into(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool {
        if self.all_sent() || (!self.config.flood && now < self.next_send) {
            return false;
        }
        let index = self.next_index;
        self.write(buf, index);
        self.next_index += 1;
        // Keep to the schedule, without bunching up after a late wake-up.
        self.next_send = (self.next_send + self.config.interval).max(now);
        self.order.push_back(Pending {
            sent_at: now,
            answered: false,
        });
        self.summary.sent += 1;
        if self.config.report {
            let (sport, dport, seq, id) = self.probe_fields(index);
            self.events.push_back(Event::Sent {
                index,
                sport,
                dport,
                seq,
                id,
            });
        }
        true
    }

    /// Corrects the send time of the probe just returned to `at`: the
    /// moment the link said it left.
    fn sent(&mut self, at: Instant) {
        if let Some(p) = self.order.back_mut() {
            p.sent_at = at;
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let next_send = if self.config.flood {
            Instant::ZERO
        } else {
            self.next_send
        };
        let send = (!self.all_sent()).then_some(next_send);
        let expiry = self
            .order
            .iter()
            .find(|p| !p.answered)
            .map(|p| p.sent_at + self.config.wait);
        earliest(send, expiry)
    }

    fn is_done(&self) -> bool {
        self.all_sent() && self.order.iter().all(|p| p.answered)
    }
}

impl RawEvents for DatagramProber {
    type Event = Event;

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::machine::{Machine, RxChecksum};
    use crate::stack::iface::InterfaceConfig;
    use crate::stack::raw::{Hosted, RawHost};
    use crate::wire::icmp::IcmpKind;
    use crate::wire::icmpv6::Icmpv6Kind;
    use crate::wire::tcp::ChecksumMode;
    use crate::wire::testing;

    const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const THEM: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 9, 9);
    const MAC_US: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
    const MAC_THEM: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn config(kind: Kind) -> Config {
        Config {
            src_mac: MAC_US,
            dst_mac: MAC_THEM,
            src: US.into(),
            dst: THEM.into(),
            kind,
            payload: b"ping".to_vec(),
            ttl: 64,
            tos: 0,
            dont_frag: false,
            flow_label: 0,
            id: None,
            count: Some(3),
            interval: Duration::from_millis(100),
            wait: Duration::from_secs(1),
            seed: 7,
            flood: false,
            report: true,
        }
    }

    fn udp(sport_inc: bool) -> Kind {
        Kind::Udp {
            sport: 40000,
            sport_inc,
            dports: vec![53],
            checksum: UdpChecksum::Computed,
        }
    }

    fn echo() -> Kind {
        Kind::Icmp {
            query: QueryKind::EchoRequest,
            code: 0,
            ident: 0x4242,
            bad_checksum: false,
        }
    }

    /// The prober on an interface of its own, as `nettool probe` runs it.
    fn host(config: Config) -> RawHost<DatagramProber> {
        let iface = InterfaceConfig {
            ip: US,
            mac: MAC_US,
            ipv6: None,
            next_hop_mac: Some(MAC_THEM),
            answer_arp: true,
            trace: false,
        };
        RawHost::new(iface, DatagramProber::new(ms(0), config))
    }

    fn events(h: &mut RawHost<DatagramProber>) -> Vec<Event> {
        std::iter::from_fn(|| h.poll_event())
            .filter_map(|e| match e {
                Hosted::Flow(e) => Some(e),
                Hosted::Host(_) => None,
            })
            .collect()
    }

    /// The IPv4 packets sent at `now`.
    fn sent(h: &mut RawHost<DatagramProber>, now: Instant) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| h.poll_transmit(now))
            .map(|f| f[ethernet::HEADER_LEN..].to_vec())
            .collect()
    }

    /// A UDP datagram from THEM:`sport` to US:`dport`.
    fn datagram(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let udp = UdpRepr {
            src_port: sport,
            dst_port: dport,
            payload,
        };
        let ip = Ipv4Repr::new(THEM, US, IpProtocol::Udp, 0);
        udp.to_frame(MAC_THEM, MAC_US, &ip)
    }

    /// The reply THEM's kernel would send to an ICMP query `packet`.
    fn query_reply(packet: &[u8], kind: QueryKind, body: &[u8]) -> Vec<u8> {
        let (_, icmp) = Ipv4Repr::parse(packet).unwrap();
        let q = IcmpQuery::parse(icmp).unwrap();
        let reply = IcmpQuery { kind, body, ..q };
        let mut bytes = vec![0u8; reply.buffer_len()];
        reply.emit(&mut bytes, false);
        testing::ipv4_frame((MAC_THEM, MAC_US), (THEM, US), IpProtocol::Icmp, &bytes)
    }

    fn error_from(from: Ipv4Addr, t: u8, code: u8, packet: &[u8]) -> Vec<u8> {
        let body = testing::icmp_error(t, code, packet);
        testing::ipv4_frame((MAC_THEM, MAC_US), (from, US), IpProtocol::Icmp, &body)
    }

    #[test]
    fn udp_probes_carry_what_was_asked_and_a_reply_is_matched_with_its_rtt() {
        let mut h = host(config(udp(false)));
        let first = sent(&mut h, ms(0));
        assert_eq!(first.len(), 1);
        let (ip, body) = Ipv4Repr::parse(&first[0]).unwrap();
        assert_eq!((ip.protocol, ip.dst, ip.ttl), (IpProtocol::Udp, THEM, 64));
        let udp = UdpRepr::parse(body, ip.src, ip.dst, ChecksumMode::Verify).unwrap();
        assert_eq!(
            (udp.src_port, udp.dst_port, udp.payload),
            (40000, 53, &b"ping"[..])
        );
        let _ = events(&mut h);
        h.handle_frame(ms(3), &datagram(53, 40000, b"pong"), RxChecksum::Unknown);
        let evs = events(&mut h);
        assert_eq!(
            evs,
            vec![Event::Reply {
                index: 1,
                rtt: Duration::from_millis(3),
                from: THEM.into(),
                ttl: 64,
                answer: Answer::Datagram {
                    sport: 53,
                    dport: 40000,
                    payload: b"pong".to_vec()
                }
            }]
        );
        // A second answer to the same probe is nobody's.
        h.handle_frame(ms(4), &datagram(53, 40000, b"pong"), RxChecksum::Unknown);
        assert!(matches!(&events(&mut h)[..], [Event::Unmatched { .. }]));
        assert_eq!(h.flow().summary().answered, 1);
        assert_eq!(h.flow().summary().unmatched, 1);
    }

    #[rstest]
    #[case::port_unreachable(3, 3, IcmpKind::Unreachable(3))]
    #[case::admin_prohibited(3, 13, IcmpKind::Unreachable(13))]
    #[case::ttl_exceeded(11, 0, IcmpKind::TimeExceeded(0))]
    fn an_icmp_error_about_a_udp_probe_answers_it(
        #[case] t: u8,
        #[case] code: u8,
        #[case] kind: IcmpKind,
    ) {
        let mut h = host(config(udp(true)));
        let _ = sent(&mut h, ms(0));
        let second = sent(&mut h, ms(100));
        let _ = events(&mut h);
        // About the second probe (source port 40001), from a router.
        h.handle_frame(
            ms(105),
            &error_from(ROUTER, t, code, &second[0]),
            RxChecksum::Unknown,
        );
        assert_eq!(
            events(&mut h),
            vec![Event::Icmp {
                index: Some(2),
                rtt: Some(Duration::from_millis(5)),
                from: ROUTER.into(),
                kind: ErrorKind::V4(kind)
            }]
        );
    }

    #[test]
    fn datagrams_of_other_ports_or_hosts_never_reach_the_prober() {
        let mut h = host(config(udp(false)));
        let _ = sent(&mut h, ms(0));
        let _ = events(&mut h);
        for frame in [datagram(54, 40000, b"x"), datagram(53, 40001, b"x"), {
            let udp = UdpRepr {
                src_port: 53,
                dst_port: 40000,
                payload: b"x",
            };
            udp.to_frame(
                MAC_THEM,
                MAC_US,
                &Ipv4Repr::new(ROUTER, US, IpProtocol::Udp, 0),
            )
        }] {
            h.handle_frame(ms(1), &frame, RxChecksum::Unknown);
        }
        assert_eq!(events(&mut h), vec![]);
        assert_eq!(h.flow().summary().unmatched, 0);
    }

    #[test]
    fn a_corrupted_datagram_is_counted_malformed_not_answered() {
        let mut h = host(config(udp(false)));
        let _ = sent(&mut h, ms(0));
        let mut bad = datagram(53, 40000, b"pong");
        *bad.last_mut().unwrap() ^= 1;
        h.handle_frame(ms(1), &bad, RxChecksum::Unknown);
        assert_eq!(h.flow().summary().malformed, 1);
        assert_eq!(h.flow().summary().answered, 0);
        // The kernel vouching for a partial checksum accepts it.
        h.handle_frame(ms(2), &bad, RxChecksum::Partial);
        assert_eq!(h.flow().summary().answered, 1);
    }

    #[test]
    fn echo_replies_are_matched_by_sequence_even_out_of_order() {
        let mut h = host(config(echo()));
        let mut packets = Vec::new();
        for t in [0, 100, 200] {
            packets.extend(sent(&mut h, ms(t)));
        }
        assert_eq!(packets.len(), 3);
        let (_, icmp) = Ipv4Repr::parse(&packets[1]).unwrap();
        let q = IcmpQuery::parse(icmp).unwrap();
        assert_eq!(
            (q.kind, q.ident, q.seq, q.body),
            (QueryKind::EchoRequest, 0x4242, 2, &b"ping"[..])
        );
        let _ = events(&mut h);
        for (i, t) in [(2, 210), (0, 220), (1, 230)] {
            let reply = query_reply(&packets[i], QueryKind::EchoReply, b"ping");
            h.handle_frame(ms(t), &reply, RxChecksum::Unknown);
        }
        let got: Vec<(u64, Duration)> = events(&mut h)
            .into_iter()
            .map(|e| match e {
                Event::Reply { index, rtt, .. } => (index, rtt),
                other => panic!("{other:?}"),
            })
            .collect();
        let d = Duration::from_millis;
        assert_eq!(got, vec![(3, d(10)), (1, d(220)), (2, d(130))]);
        let s = h.flow().summary();
        assert_eq!((s.sent, s.answered, s.rtt.count()), (3, 3, 3));
        assert!(h.is_done());
    }

    #[test]
    fn a_reply_of_another_identifier_or_kind_is_not_ours() {
        let mut h = host(config(echo()));
        let packet = sent(&mut h, ms(0)).remove(0);
        let _ = events(&mut h);
        // Another identifier: another ping's.
        let (_, icmp) = Ipv4Repr::parse(&packet).unwrap();
        let q = IcmpQuery::parse(icmp).unwrap();
        let other = IcmpQuery {
            kind: QueryKind::EchoReply,
            ident: 1,
            ..q
        };
        let mut bytes = vec![0u8; other.buffer_len()];
        other.emit(&mut bytes, false);
        let frame = testing::ipv4_frame((MAC_THEM, MAC_US), (THEM, US), IpProtocol::Icmp, &bytes);
        h.handle_frame(ms(1), &frame, RxChecksum::Unknown);
        // The right identifier, but a timestamp reply to an echo.
        let ts = query_reply(&packet, QueryKind::TimestampReply, &[0; 12]);
        h.handle_frame(ms(2), &ts, RxChecksum::Unknown);
        assert_eq!(events(&mut h), vec![]);
        assert_eq!(h.flow().summary().answered, 0);
    }

    #[test]
    fn a_timestamp_request_reads_back_the_peers_timestamps() {
        let mut c = config(Kind::Icmp {
            query: QueryKind::TimestampRequest,
            code: 0,
            ident: 9,
            bad_checksum: false,
        });
        c.payload = vec![0; 12];
        c.count = Some(1);
        let mut h = host(c);
        let packet = sent(&mut h, ms(0)).remove(0);
        let _ = events(&mut h);
        let body: Vec<u8> = [1u32, 2, 3].iter().flat_map(|v| v.to_be_bytes()).collect();
        let reply = query_reply(&packet, QueryKind::TimestampReply, &body);
        h.handle_frame(ms(1), &reply, RxChecksum::Unknown);
        match &events(&mut h)[..] {
            [
                Event::Reply {
                    answer: Answer::Query { timestamps, .. },
                    ..
                },
            ] => assert_eq!(*timestamps, Some([1, 2, 3])),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_error_quoting_an_echo_answers_it() {
        let mut h = host(config(echo()));
        let packet = sent(&mut h, ms(0)).remove(0);
        let _ = events(&mut h);
        h.handle_frame(
            ms(7),
            &error_from(ROUTER, 3, 1, &packet),
            RxChecksum::Unknown,
        );
        assert_eq!(
            events(&mut h),
            vec![Event::Icmp {
                index: Some(1),
                rtt: Some(Duration::from_millis(7)),
                from: ROUTER.into(),
                kind: ErrorKind::V4(IcmpKind::Unreachable(1))
            }]
        );
    }

    #[test]
    fn unanswered_probes_expire_and_end_the_run() {
        let mut h = host(config(echo()));
        for t in [0, 100, 200] {
            let _ = sent(&mut h, ms(t));
        }
        assert!(!h.is_done());
        assert_eq!(h.poll_timeout(), Some(ms(1000)));
        h.handle_timeout(ms(1200));
        assert!(h.is_done());
        let s = h.flow().summary();
        assert_eq!((s.sent, s.answered), (3, 0));
        assert_eq!(s.loss_percent(), 100.0);
    }

    #[rstest]
    #[case::udp_zero(udp(false), UdpChecksum::Omitted)]
    #[case::udp_bad(udp(false), UdpChecksum::Bad)]
    fn udp_checksums_go_out_as_asked(#[case] kind: Kind, #[case] fill: UdpChecksum) {
        let kind = match kind {
            Kind::Udp {
                sport,
                sport_inc,
                dports,
                ..
            } => Kind::Udp {
                sport,
                sport_inc,
                dports,
                checksum: fill,
            },
            k => k,
        };
        let mut h = host(config(kind));
        let packet = sent(&mut h, ms(0)).remove(0);
        let sum = u16::from_be_bytes([packet[26], packet[27]]);
        let parsed = {
            let (ip, body) = Ipv4Repr::parse(&packet).unwrap();
            UdpRepr::parse(body, ip.src, ip.dst, ChecksumMode::Verify)
        };
        match fill {
            UdpChecksum::Omitted => {
                assert_eq!(sum, 0);
                assert!(parsed.is_ok());
            }
            _ => assert!(parsed.is_err()),
        }
    }

    #[test]
    fn the_interface_answers_a_ping_to_an_address_it_owns_alone() {
        // No echo flow of ours takes a request: the interface answers it.
        let mut h = host(config(udp(false)));
        let _ = sent(&mut h, ms(0));
        let q = IcmpQuery {
            kind: QueryKind::EchoRequest,
            code: 0,
            ident: 5,
            seq: 6,
            body: b"abc",
        };
        let mut bytes = vec![0u8; q.buffer_len()];
        q.emit(&mut bytes, false);
        let frame = testing::ipv4_frame((MAC_THEM, MAC_US), (THEM, US), IpProtocol::Icmp, &bytes);
        h.handle_frame(ms(1), &frame, RxChecksum::Unknown);
        let reply = h.poll_transmit(ms(1)).expect("an echo reply");
        let (ip, icmp) = Ipv4Repr::parse(&reply[ethernet::HEADER_LEN..]).unwrap();
        assert_eq!((ip.src, ip.dst), (US, THEM));
        let r = IcmpQuery::parse(icmp).unwrap();
        assert_eq!(
            (r.kind, r.ident, r.seq, r.body),
            (QueryKind::EchoReply, 5, 6, &b"abc"[..])
        );
    }

    /// A probe's ICMP error quoting a packet of another protocol between
    /// the same ports (or identifier) is not an answer: the flow checks
    /// the quoted protocol itself, as the TCP prober does, whatever the
    /// caller filtered.
    #[rstest]
    #[case::tcp_quoted_to_a_udp_prober(udp(false), IpProtocol::Tcp, (40000, 53), None)]
    #[case::udp_quoted_to_an_echo_prober(echo(), IpProtocol::Udp, (0x4242, 0), Some(1))]
    fn an_error_quoting_another_protocol_answers_nothing(
        #[case] kind: Kind,
        #[case] quoted: IpProtocol,
        #[case] (ours, theirs): (u16, u16),
        #[case] seq: Option<u32>,
    ) {
        let mut p = DatagramProber::new(ms(0), config(kind));
        let _ = p.poll_transmit(ms(0)).expect("a probe");
        let _: Vec<Event> = std::iter::from_fn(|| p.poll_event()).collect();
        let error = IcmpError {
            kind: IcmpKind::Unreachable(3),
            protocol: quoted,
            quoted_src: (US, ours),
            quoted_dst: (THEM, theirs),
            quoted_seq: seq.map(crate::wire::SeqNum),
        };
        p.handle_icmp(ms(5), THEM, &error);
        let error6 = Icmpv6Error {
            kind: crate::wire::icmpv6::Icmpv6Kind::Unreachable(4),
            protocol: match quoted {
                IpProtocol::Tcp => NextHeader::Tcp,
                _ => NextHeader::Udp,
            },
            quoted_src: (US6, ours),
            quoted_dst: (THEM6, theirs),
            quoted_seq: seq.map(crate::wire::SeqNum),
        };
        p.handle_icmp6(ms(6), THEM6, &error6);
        let evs: Vec<Event> = std::iter::from_fn(|| p.poll_event()).collect();
        assert_eq!(evs, vec![]);
        let s = p.summary();
        assert_eq!((s.answered, s.unmatched), (0, 0));
    }

    const US6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 1);
    const THEM6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 2);
    const ROUTER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 9, 0, 0, 0, 0, 9);

    fn config6(kind: Kind) -> Config {
        Config {
            src: US6.into(),
            dst: THEM6.into(),
            ttl: 7,
            tos: 0xb8,
            flow_label: 0x12345,
            ..config(kind)
        }
    }

    /// The IPv6 packets the prober sends at `now` (Ethernet header off).
    fn sent6(p: &mut DatagramProber, now: Instant) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| p.poll_transmit(now))
            .map(|f| {
                let (eth, _) = EthernetRepr::parse(&f).unwrap();
                assert_eq!(
                    (eth.src, eth.dst, eth.protocol),
                    (MAC_US, MAC_THEM, Protocol::Ipv6)
                );
                f[ethernet::HEADER_LEN..].to_vec()
            })
            .collect()
    }

    fn events6(p: &mut DatagramProber) -> Vec<Event> {
        std::iter::from_fn(|| p.poll_event()).collect()
    }

    /// An ICMPv6 message `msg` from `from` to us, checksummed.
    fn icmp6_frame(from: Ipv6Addr, mut msg: Vec<u8>) -> Vec<u8> {
        use pnet::packet::icmpv6::{Icmpv6Packet, checksum};
        msg[2..4].fill(0);
        let sum = checksum(&Icmpv6Packet::new(&msg).unwrap(), &from, &US6);
        msg[2..4].copy_from_slice(&sum.to_be_bytes());
        Ipv6Repr::new(from, US6, NextHeader::Icmpv6, 61, msg.len()).frame(MAC_THEM, MAC_US, &msg)
    }

    /// THEM's echo reply to the echo request `packet` carried.
    fn echo_reply6(packet: &[u8]) -> Vec<u8> {
        let mut msg = packet[ipv6::HEADER_LEN..].to_vec();
        msg[0] = crate::wire::icmpv6::ECHO_REPLY;
        icmp6_frame(THEM6, msg)
    }

    /// An ICMPv6 error of `ty`/`code` from `from` quoting `packet`.
    fn error6(from: Ipv6Addr, ty: u8, code: u8, packet: &[u8]) -> Vec<u8> {
        let mut msg = vec![ty, code, 0, 0, 0, 0, 0, 0];
        if ty == 2 {
            msg[4..8].copy_from_slice(&1280u32.to_be_bytes());
        }
        msg.extend_from_slice(packet);
        icmp6_frame(from, msg)
    }

    #[test]
    fn icmpv6_echo_requests_carry_the_ipv6_fields_and_a_checksum_that_verifies() {
        let mut p = DatagramProber::new(ms(0), config6(echo()));
        let packet = sent6(&mut p, ms(0)).remove(0);
        let (ip, msg) = Ipv6Repr::parse(&packet).unwrap();
        assert_eq!(
            (ip.src, ip.dst, ip.next_header, ip.hop_limit),
            (US6, THEM6, NextHeader::Icmpv6, 7)
        );
        assert_eq!((ip.traffic_class, ip.flow_label), (0xb8, 0x12345));
        assert_eq!(
            crate::wire::icmpv6::Icmpv6Repr::parse(&ip, msg, true).unwrap(),
            crate::wire::icmpv6::Icmpv6Repr::EchoRequest {
                ident: 0x4242,
                seq: 1,
                data: b"ping".to_vec()
            }
        );
        assert_eq!(p.config().datagram_len(), packet.len());
        assert_eq!(
            events6(&mut p),
            vec![Event::Sent {
                index: 1,
                sport: 0x4242,
                dport: 0,
                seq: 1,
                id: 0
            }]
        );
    }

    #[test]
    fn a_bad_icmpv6_checksum_does_not_verify() {
        let mut p = DatagramProber::new(
            ms(0),
            config6(Kind::Icmp {
                query: QueryKind::EchoRequest,
                code: 3,
                ident: 1,
                bad_checksum: true,
            }),
        );
        let packet = sent6(&mut p, ms(0)).remove(0);
        let (ip, msg) = Ipv6Repr::parse(&packet).unwrap();
        assert_eq!(msg[1], 3, "the code asked for");
        assert!(crate::wire::icmpv6::Icmpv6Repr::parse(&ip, msg, true).is_err());
    }

    #[test]
    fn icmpv6_echo_replies_are_matched_by_sequence_even_out_of_order() {
        use crate::machine::Feed;
        let mut p = DatagramProber::new(ms(0), config6(echo()));
        let mut packets = Vec::new();
        for t in [0, 100, 200] {
            packets.extend(sent6(&mut p, ms(t)));
        }
        let _ = events6(&mut p);
        for (i, t) in [(2, 210), (0, 220), (1, 230)] {
            p.handle_frame(ms(t), &echo_reply6(&packets[i]), RxChecksum::Unknown);
        }
        // A duplicate answers nothing.
        p.handle_frame(ms(240), &echo_reply6(&packets[0]), RxChecksum::Unknown);
        let evs = events6(&mut p);
        let d = Duration::from_millis;
        let got: Vec<(Option<u64>, Option<Duration>)> = evs
            .iter()
            .map(|e| match e {
                Event::Reply {
                    index,
                    rtt,
                    from,
                    ttl,
                    answer: Answer::Query { kind, .. },
                } => {
                    assert_eq!(
                        (*from, *ttl, *kind),
                        (THEM6.into(), 61, QueryKind::EchoReply)
                    );
                    (Some(*index), Some(*rtt))
                }
                Event::Unmatched { .. } => (None, None),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(3), Some(d(10))),
                (Some(1), Some(d(220))),
                (Some(2), Some(d(130))),
                (None, None)
            ]
        );
        let s = p.summary();
        assert_eq!((s.sent, s.answered, s.unmatched), (3, 3, 1));
        assert!(p.is_done());
    }

    #[test]
    fn an_echo_request_to_us_is_not_a_reply() {
        use crate::machine::Feed;
        let mut p = DatagramProber::new(ms(0), config6(echo()));
        let packet = sent6(&mut p, ms(0)).remove(0);
        let _ = events6(&mut p);
        // The request itself, turned around: a request to us.
        let msg = packet[ipv6::HEADER_LEN..].to_vec();
        p.handle_frame(ms(1), &icmp6_frame(THEM6, msg), RxChecksum::Unknown);
        assert_eq!(events6(&mut p), vec![]);
        assert_eq!(p.summary().answered, 0);
    }

    #[rstest]
    #[case::port_unreachable(udp(true), 1, 4, Icmpv6Kind::Unreachable(4))]
    #[case::admin_prohibited(udp(true), 1, 1, Icmpv6Kind::Unreachable(1))]
    #[case::hop_limit_exceeded(udp(true), 3, 0, Icmpv6Kind::TimeExceeded(0))]
    #[case::packet_too_big(udp(true), 2, 0, Icmpv6Kind::PacketTooBig(1280))]
    #[case::echo_unreachable(echo(), 1, 3, Icmpv6Kind::Unreachable(3))]
    #[case::echo_hop_limit_exceeded(echo(), 3, 0, Icmpv6Kind::TimeExceeded(0))]
    fn an_icmpv6_error_about_a_probe_answers_it(
        #[case] kind: Kind,
        #[case] ty: u8,
        #[case] code: u8,
        #[case] says: Icmpv6Kind,
    ) {
        use crate::machine::Feed;
        let mut p = DatagramProber::new(ms(0), config6(kind));
        let _ = sent6(&mut p, ms(0));
        let second = sent6(&mut p, ms(100)).remove(0);
        let _ = events6(&mut p);
        // About the second probe (source port 40001, or sequence 2).
        let error = error6(ROUTER6, ty, code, &second);
        p.handle_frame(ms(105), &error, RxChecksum::Unknown);
        assert_eq!(
            events6(&mut p),
            vec![Event::Icmp {
                index: Some(2),
                rtt: Some(Duration::from_millis(5)),
                from: ROUTER6.into(),
                kind: ErrorKind::V6(says)
            }]
        );
    }

    #[test]
    fn a_udp_reply_over_ipv6_is_matched_with_its_hop_limit() {
        use crate::machine::Feed;
        let mut p = DatagramProber::new(ms(0), config6(udp(false)));
        let packet = sent6(&mut p, ms(0)).remove(0);
        let (ip, body) = Ipv6Repr::parse(&packet).unwrap();
        assert_eq!(
            (ip.next_header, ip.hop_limit, ip.flow_label),
            (NextHeader::Udp, 7, 0x12345)
        );
        let udp = UdpRepr::parse_v6(body, ip.src, ip.dst, ChecksumMode::Verify).unwrap();
        assert_eq!(
            (udp.src_port, udp.dst_port, udp.payload),
            (40000, 53, &b"ping"[..])
        );
        let _ = events6(&mut p);
        let back = UdpRepr {
            src_port: 53,
            dst_port: 40000,
            payload: b"pong",
        };
        let ip = Ipv6Repr::new(THEM6, US6, NextHeader::Udp, 60, 0);
        p.handle_frame(
            ms(2),
            &back.to_ipv6_frame(MAC_THEM, MAC_US, &ip),
            RxChecksum::Unknown,
        );
        assert_eq!(
            events6(&mut p),
            vec![Event::Reply {
                index: 1,
                rtt: Duration::from_millis(2),
                from: THEM6.into(),
                ttl: 60,
                answer: Answer::Datagram {
                    sport: 53,
                    dport: 40000,
                    payload: b"pong".to_vec()
                }
            }]
        );
    }

    /// What IPv6 lacks is refused, and each family's own fields only
    /// where they exist.
    #[rstest]
    #[case::timestamp_over_ipv6(true, |c: &mut Config| c.kind = Kind::Icmp { query: QueryKind::TimestampRequest, code: 0, ident: 1, bad_checksum: false }, "ICMPv6 has no time stamp request")]
    #[case::mask_over_ipv6(true, |c: &mut Config| c.kind = Kind::Icmp { query: QueryKind::AddressMaskRequest, code: 0, ident: 1, bad_checksum: false }, "ICMPv6 has no address mask request")]
    #[case::df_over_ipv6(true, |c: &mut Config| c.dont_frag = true, "no DF bit")]
    #[case::id_over_ipv6(true, |c: &mut Config| c.id = Some(5), "an IPv6 header has none")]
    #[case::no_udp_checksum_over_ipv6(true, |c: &mut Config| c.kind = Kind::Udp { sport: 1, sport_inc: false, dports: vec![7], checksum: UdpChecksum::Omitted }, "forbids a UDP datagram without a checksum")]
    #[case::flow_label_too_big(true, |c: &mut Config| c.flow_label = 1 << 20, "does not fit in 20 bits")]
    #[case::too_long_over_ipv6(true, |c: &mut Config| c.payload = vec![0; 65535 - 7], "an IPv6 payload holds 65535")]
    #[case::flow_label_over_ipv4(false, |c: &mut Config| c.flow_label = 1, "IPv4 has no flow label")]
    #[case::two_families(false, |c: &mut Config| c.src = US6.into(), "two IP families")]
    fn what_a_family_lacks_is_refused(
        #[case] v6: bool,
        #[case] change: fn(&mut Config),
        #[case] says: &str,
    ) {
        let mut c = if v6 {
            Config {
                payload: vec![0; 12],
                ..config6(echo())
            }
        } else {
            Config {
                flow_label: 0,
                ..config(echo())
            }
        };
        if v6 {
            c.flow_label = 0;
        }
        assert_eq!(c.validate(), Ok(()));
        change(&mut c);
        let err = c.validate().unwrap_err();
        assert!(err.contains(says), "{err}");
    }
}
