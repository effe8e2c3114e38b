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
//! probe has its own source port, so the match is exact).
//!
//! **Expiry** is the TCP prober's: a probe unanswered `wait` after it left
//! counts as lost, and the run ends when every probe was sent and each has
//! been answered or has expired.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

use super::mix;
use super::prober::Summary;
use crate::machine::{RawEvents, RawFlow, Selector};
use crate::time::{Instant, earliest};
use crate::wire::MacAddr;
use crate::wire::ethernet::{self, EthernetRepr, Protocol};
use crate::wire::icmp::{IcmpError, IcmpKind, IcmpQuery, QUERY_HEADER_LEN, QueryKind};
use crate::wire::ipv4::{self, IpProtocol, Ipv4Repr};
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
    /// ICMP query requests of `query` (echo by default) with `code` and
    /// identifier `ident`; `bad_checksum` writes one that cannot verify.
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
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub kind: Kind,
    /// The UDP payload, or the ICMP body after the 8-byte header (for a
    /// timestamp or mask request, at least its 12 or 4 bytes of fields).
    pub payload: Vec<u8>,
    pub ttl: u8,
    pub tos: u8,
    pub dont_frag: bool,
    /// A fixed IP identification; otherwise it counts up from a random start.
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
    /// Bytes of one probe's IPv4 datagram.
    pub fn datagram_len(&self) -> usize {
        let header = match self.kind {
            Kind::Udp { .. } => crate::wire::udp::HEADER_LEN,
            Kind::Icmp { .. } => QUERY_HEADER_LEN,
        };
        ipv4::HEADER_LEN + header + self.payload.len()
    }

    /// Checks what writing a probe would otherwise panic on.
    pub fn validate(&self) -> Result<(), String> {
        let total = self.datagram_len();
        if total > 65535 {
            return Err(format!(
                "the datagram would be {total} bytes; IPv4 allows 65535"
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
        Ok(())
    }
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
    /// The reply to an ICMP query (its timestamps or mask, if any).
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
    /// number (0 for UDP).
    Sent {
        index: u64,
        sport: u16,
        dport: u16,
        seq: u16,
        id: u16,
    },
    /// An answer to probe `index`.
    Reply {
        index: u64,
        rtt: Duration,
        from: Ipv4Addr,
        ttl: u8,
        answer: Answer,
    },
    /// An ICMP error about one of our probes (`index` when it could be
    /// matched), from the host or a router on the way.
    Icmp {
        index: Option<u64>,
        rtt: Option<Duration>,
        from: Ipv4Addr,
        kind: IcmpKind,
    },
    /// An answer to our ports or identifier that matches no outstanding
    /// probe (a late reply, a duplicate).
    Unmatched {
        from: Ipv4Addr,
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
    /// and the IP identification of probe `index`.
    fn probe_fields(&self, index: u64) -> (u16, u16, u16, u16) {
        let n = index - 1;
        let id = self
            .config
            .id
            .unwrap_or_else(|| self.id_base.wrapping_add(n as u16));
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
        let (sport, dport, seq, id) = self.probe_fields(index);
        let ip = Ipv4Repr {
            src: c.src,
            dst: c.dst,
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

    fn reply(&mut self, now: Instant, hit: Option<(u64, Instant)>, ip: &Ipv4Repr, answer: Answer) {
        match hit {
            Some((index, sent_at)) => {
                let rtt = now - sent_at;
                self.summary.answered += 1;
                self.summary.rtt.add(rtt);
                if self.config.report {
                    self.events.push_back(Event::Reply {
                        index,
                        rtt,
                        from: ip.src,
                        ttl: ip.ttl,
                        answer,
                    });
                }
            }
            None => {
                self.summary.unmatched += 1;
                if self.config.report {
                    self.events.push_back(Event::Unmatched {
                        from: ip.src,
                        ttl: ip.ttl,
                        answer,
                    });
                }
            }
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
            local: c.src.into(),
            local_ports,
            remote: c.dst.into(),
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
        self.reply(now, hit, ip, answer);
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
        self.reply(now, hit, ip, answer);
    }

    fn handle_malformed(&mut self, _now: Instant) {
        self.summary.malformed += 1;
    }

    /// An error matches through the ports (UDP) or the sequence number
    /// (ICMP) of the packet it quotes.
    fn handle_icmp(&mut self, now: Instant, from: Ipv4Addr, error: &IcmpError) {
        let hit = match self.config.kind {
            Kind::Udp { .. } => self.take_ports(error.quoted_src.1, error.quoted_dst.1),
            Kind::Icmp { .. } => error.quoted_seq.and_then(|s| self.take_seq(s.get() as u16)),
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
                kind: error.kind,
            });
        }
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
            src: US,
            dst: THEM,
            kind,
            payload: b"ping".to_vec(),
            ttl: 64,
            tos: 0,
            dont_frag: false,
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
                from: THEM,
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
                from: ROUTER,
                kind
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
                from: ROUTER,
                kind: IcmpKind::Unreachable(1)
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
}
