//! `nettool scan --udp` as a sans-IO raw flow: every port open, closed,
//! filtered or open|filtered, exactly, against a peer that rate-limits
//! its ICMP errors.
//!
//! **States.** Any UDP answer from a port: open. ICMP port unreachable
//! (3/3; over IPv6, ICMPv6 1/4) from the host: closed. Any other ICMP
//! unreachable about the port (ICMPv6's no route, administratively
//! prohibited, address unreachable, reject route...): filtered, as nmap
//! reads them. Silence after every try: open|filtered (a UDP service
//! may ignore what it cannot parse; a firewall may drop it). A time
//! exceeded or packet too big says nothing of the port.
//!
//! **IPv6.** The same scan between IPv6 addresses; Linux limits its
//! ICMPv6 errors as it does ICMP's, with a bucket of the same depth that
//! refills ten times as fast (`net.ipv6.icmp.ratelimit`, 100 ms: see
//! [`linux_interval`]), so the same two phases apply, ten times faster.
//!
//! **Payloads.** Open ports answer only what they understand, so a few
//! well-known ports get a request of their protocol ([`payload_for`]: a
//! DNS query, an NTP client request, an SNMP GetRequest); every other port
//! gets an empty datagram.
//!
//! **The peer's ICMP rate limit.** Linux answers at most a burst of about
//! six port unreachables per destination, then one per second
//! (`icmp_ratelimit`, 1000 ms; a token bucket that fills while nothing is
//! sent), so the silence of a closed port after the burst says nothing.
//! The scan runs in two phases:
//!
//! 1. **Sweep**: a first try to every port at `rate` (for open ports, and
//!    the closed ones the burst covers).
//! 2. If some ICMP error came and some ports stayed silent, the peer is
//!    taken to be limited: the silent ports are **asked one at a time**,
//!    each waiting for its answer (up to `wait`), and never sooner than
//!    `interval` after the last ICMP error (one token per interval;
//!    starting at Linux's 1 s). A port silent on a try and answered by
//!    ICMP on a later one proves the interval too short: it doubles
//!    (up to 8 s). Each silent port gets `retries` more tries.
//!    If no ICMP error came at all, nothing suggests a limiter: the
//!    silent ports get their retries in sweeps at `rate`.
//!
//! An honest scan of N closed ports therefore takes about N seconds
//! against a default Linux host (nmap -sU takes as long, for the same
//! reason).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::mix;
use crate::machine::{RawEvents, RawFlow, Selector};
use crate::time::{Instant, earliest};
use crate::wire::MacAddr;
use crate::wire::icmp::{ErrorKind, IcmpError, IcmpKind};
use crate::wire::icmpv6::{Icmpv6Error, Icmpv6Kind};
use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
use crate::wire::ipv6::{Ipv6Repr, NextHeader};
use crate::wire::udp::{UdpChecksum, UdpRepr};

/// The longest wait between two tries of the limited phase.
const MAX_INTERVAL: Duration = Duration::from_secs(8);

/// A default Linux host's refill interval for its errors to `dst`'s
/// family, the limited phase's first assumption: `icmp_ratelimit`, 1 s,
/// for ICMP; `net.ipv6.icmp.ratelimit`, 100 ms, for ICMPv6 (measured:
/// 100 datagrams to closed ports 50 ms apart drew 56 port unreachables,
/// the burst of 6 and then one per 100 ms). A slower host doubles it.
pub fn linux_interval(dst: IpAddr) -> Duration {
    match dst {
        IpAddr::V4(_) => Duration::from_secs(1),
        IpAddr::V6(_) => Duration::from_millis(100),
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    /// Both of one family: the scan is over IPv4 or IPv6.
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub ports: Vec<u16>,
    /// The sweep's datagrams per second.
    pub rate: u32,
    /// More tries for a silent port.
    pub retries: u32,
    /// How long each try waits for its answer.
    pub wait: Duration,
    /// The peer's ICMP refill interval, as first assumed.
    pub interval: Duration,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UdpState {
    Open,
    Closed,
    Filtered,
    OpenFiltered,
}

impl UdpState {
    pub fn name(self) -> &'static str {
        match self {
            UdpState::Open => "open",
            UdpState::Closed => "closed",
            UdpState::Filtered => "filtered",
            UdpState::OpenFiltered => "open|filtered",
        }
    }
}

/// Why a port got its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpWhy {
    /// A UDP answer of `len` bytes.
    Reply {
        len: usize,
    },
    Icmp {
        from: IpAddr,
        kind: ErrorKind,
    },
    NoResponse,
}

impl UdpWhy {
    pub fn text(self) -> String {
        match self {
            UdpWhy::Reply { len } => format!("udp-response ({len} bytes)"),
            UdpWhy::Icmp { from, kind } => format!("{} from {from}", kind.describe()),
            UdpWhy::NoResponse => "no-response".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPortResult {
    pub port: u16,
    pub state: UdpState,
    pub why: UdpWhy,
    pub tries: u32,
}

/// What the scan reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A port's result.
    Port(UdpPortResult),
    /// The sweep ended with ports silent and ICMP errors seen: the limited
    /// phase starts, with `silent` ports to ask one at a time.
    Limited { silent: usize, interval: Duration },
}

/// A request of the port's protocol that its server answers, or an empty
/// datagram: DNS (53: a query for the root's NS records), NTP (123: a
/// version 4 client request), SNMP (161: a v1 GetRequest for sysDescr.0,
/// community "public").
pub fn payload_for(port: u16, id: u16) -> Vec<u8> {
    match port {
        53 => {
            let mut q = id.to_be_bytes().to_vec();
            // RD; one question; the root name; type NS (2), class IN (1).
            q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
            q.extend_from_slice(&[0, 0, 2, 0, 1]);
            q
        }
        123 => {
            let mut p = vec![0u8; 48];
            p[0] = 0x23; // LI 0, version 4, mode 3 (client)
            p
        }
        161 => {
            // BER: tag, length (all short here), contents.
            let tlv = |tag: u8, body: &[u8]| {
                let mut v = vec![tag, body.len() as u8];
                v.extend_from_slice(body);
                v
            };
            let sys_descr = [0x2b, 6, 1, 2, 1, 1, 1, 0]; // 1.3.6.1.2.1.1.1.0
            let varbind = tlv(0x30, &[tlv(0x06, &sys_descr), vec![0x05, 0x00]].concat());
            let pdu = tlv(
                0xa0,
                &[
                    tlv(0x02, &u32::from(id).to_be_bytes()),
                    tlv(0x02, &[0]),
                    tlv(0x02, &[0]),
                    tlv(0x30, &varbind),
                ]
                .concat(),
            );
            tlv(0x30, &[tlv(0x02, &[0]), tlv(0x04, b"public"), pdu].concat())
        }
        _ => Vec::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Sweep,
    /// Retries at `rate` (no limiter seen).
    Resweep,
    /// One at a time (see the module docs).
    Limited,
}

struct PortState {
    tries: u32,
    done: bool,
    /// A try went unanswered (a later ICMP answer then proves the
    /// interval too short).
    silent_once: bool,
}

/// The scanner (see the module docs).
pub struct UdpScanner {
    config: Config,
    phase: Phase,
    ports: Vec<u16>,
    state: Vec<PortState>,
    /// Indexes (into `ports`) to send next, in order.
    queue: VecDeque<usize>,
    /// Sent and not answered: (deadline, index).
    outstanding: VecDeque<(Instant, usize)>,
    next_send: Instant,
    last_icmp: Option<Instant>,
    interval: Duration,
    icmp_seen: bool,
    /// Tries of the limited phase, silent and answered by ICMP, since the
    /// interval last changed.
    silent_limited: u32,
    answered_limited: u32,
    index_of: Vec<u32>,
    events: VecDeque<Event>,
    results: Vec<UdpPortResult>,
    pub sent: u64,
    ip_id: u16,
}

impl UdpScanner {
    pub fn new(now: Instant, config: Config) -> UdpScanner {
        let mut index_of = vec![u32::MAX; 65536];
        for (i, &p) in config.ports.iter().enumerate() {
            index_of[usize::from(p)] = i as u32;
        }
        let ports = config.ports.clone();
        UdpScanner {
            phase: Phase::Sweep,
            state: ports
                .iter()
                .map(|_| PortState {
                    tries: 0,
                    done: false,
                    silent_once: false,
                })
                .collect(),
            queue: (0..ports.len()).collect(),
            ports,
            outstanding: VecDeque::new(),
            next_send: now,
            last_icmp: None,
            interval: config.interval,
            icmp_seen: false,
            silent_limited: 0,
            answered_limited: 0,
            index_of,
            events: VecDeque::new(),
            results: Vec::new(),
            sent: 0,
            ip_id: mix(config.seed) as u16,
            config,
        }
    }

    /// The ports' results, sorted by port.
    pub fn results(&self) -> Vec<UdpPortResult> {
        let mut r = self.results.clone();
        r.sort_by_key(|r| r.port);
        r
    }

    /// Ports without a result yet.
    pub fn remaining(&self) -> usize {
        self.ports.len() - self.results.len()
    }

    /// The limited phase's interval between tries, as it stands.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Whether the scan asks one port at a time, for the peer's ICMP
    /// rate limit.
    pub fn limited(&self) -> bool {
        self.phase == Phase::Limited
    }

    fn gap(&self) -> Duration {
        Duration::from_secs_f64(1.0 / f64::from(self.config.rate.max(1)))
    }

    fn finish(&mut self, i: usize, state: UdpState, why: UdpWhy) {
        let s = &mut self.state[i];
        if s.done {
            return;
        }
        s.done = true;
        let result = UdpPortResult {
            port: self.ports[i],
            state,
            why,
            tries: s.tries,
        };
        self.results.push(result);
        self.events.push_back(Event::Port(result));
        self.outstanding.retain(|&(_, j)| j != i);
    }

    fn index(&self, port: u16) -> Option<usize> {
        match self.index_of[usize::from(port)] {
            u32::MAX => None,
            i => Some(i as usize),
        }
    }

    /// The sweep (or a resweep) is over: what comes next.
    fn next_phase(&mut self, now: Instant) {
        let silent: Vec<usize> = (0..self.ports.len())
            .filter(|&i| !self.state[i].done)
            .collect();
        if silent.is_empty() {
            return;
        }
        let tries_left = |s: &PortState, retries: u32| s.tries <= retries;
        if self.icmp_seen && self.phase != Phase::Limited {
            self.phase = Phase::Limited;
            self.events.push_back(Event::Limited {
                silent: silent.len(),
                interval: self.interval,
            });
        } else if self.phase == Phase::Sweep {
            self.phase = Phase::Resweep;
        }
        for i in silent {
            if tries_left(&self.state[i], self.config.retries) {
                self.queue.push_back(i);
            } else {
                self.finish(i, UdpState::OpenFiltered, UdpWhy::NoResponse);
            }
        }
        self.next_send = self.next_send.max(now);
    }

    /// The peer's tokens come slower than the interval assumed: it
    /// doubles, up to its cap. The silences under the short interval prove
    /// nothing: every port still waiting gets its retries back (at most
    /// three times, as the interval doubles up to its cap).
    fn slow_down(&mut self) {
        if self.interval >= MAX_INTERVAL {
            return;
        }
        self.interval = (self.interval * 2).min(MAX_INTERVAL);
        for s in self.state.iter_mut().filter(|s| !s.done) {
            s.tries = s.tries.min(1);
            s.silent_once = false;
        }
        self.silent_limited = 0;
        self.answered_limited = 0;
    }

    /// When the next datagram may leave.
    fn send_at(&self) -> Option<Instant> {
        self.queue.front()?;
        match self.phase {
            Phase::Sweep | Phase::Resweep => Some(self.next_send),
            Phase::Limited => {
                if !self.outstanding.is_empty() {
                    return None; // one at a time
                }
                let token = self.last_icmp.map_or(self.next_send, |t| t + self.interval);
                Some(self.next_send.max(token))
            }
        }
    }
}

impl UdpScanner {
    /// A UDP answer from port `udp.src_port`: open.
    fn datagram(&mut self, udp: &UdpRepr<'_>) {
        if let Some(i) = self.index(udp.src_port) {
            let len = udp.payload.len();
            self.finish(i, UdpState::Open, UdpWhy::Reply { len });
        }
    }

    /// An ICMP or ICMPv6 error (`kind`) from `from` about a datagram to
    /// port `port`: a port unreachable from the host is closed, any other
    /// unreachable filtered; anything else says nothing of the port.
    fn icmp_error(&mut self, now: Instant, from: IpAddr, kind: ErrorKind, port: u16) {
        let closed = match kind {
            ErrorKind::V4(IcmpKind::Unreachable(code)) => code == 3,
            ErrorKind::V6(Icmpv6Kind::Unreachable(code)) => code == 4,
            // Time exceeded, packet too big: the path's business.
            _ => return,
        };
        let Some(i) = self.index(port) else {
            return;
        };
        self.icmp_seen = true;
        self.last_icmp = Some(now);
        if self.phase == Phase::Limited
            && self.state[i].silent_once
            && !self.state[i].done
            && self.interval < MAX_INTERVAL
        {
            // Silent once, answered later: the tokens come slower.
            self.slow_down();
        }
        if self.phase == Phase::Limited {
            self.answered_limited += 1;
        }
        let state = if closed && from == self.config.dst {
            UdpState::Closed
        } else {
            UdpState::Filtered
        };
        self.finish(i, state, UdpWhy::Icmp { from, kind });
    }
}

impl RawFlow for UdpScanner {
    fn selector(&self) -> Selector {
        let lo = self.ports.iter().min().copied().unwrap_or(0);
        let hi = self.ports.iter().max().copied().unwrap_or(0);
        Selector {
            local: self.config.src,
            local_ports: (self.config.sport, self.config.sport),
            remote: self.config.dst,
            remote_ports: (lo, hi),
        }
    }

    fn protocol(&self) -> IpProtocol {
        IpProtocol::Udp
    }

    fn handle_datagram(&mut self, _now: Instant, _: MacAddr, _ip: &Ipv4Repr, udp: &UdpRepr<'_>) {
        self.datagram(udp);
    }

    fn handle_datagram6(&mut self, _now: Instant, _: MacAddr, _ip: &Ipv6Repr, udp: &UdpRepr<'_>) {
        self.datagram(udp);
    }

    fn handle_icmp(&mut self, now: Instant, from: Ipv4Addr, error: &IcmpError) {
        if error.protocol == IpProtocol::Udp {
            let kind = ErrorKind::V4(error.kind);
            self.icmp_error(now, from.into(), kind, error.quoted_dst.1);
        }
    }

    fn handle_icmp6(&mut self, now: Instant, from: Ipv6Addr, error: &Icmpv6Error) {
        if error.protocol == NextHeader::Udp {
            let kind = ErrorKind::V6(error.kind);
            self.icmp_error(now, from.into(), kind, error.quoted_dst.1);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(deadline, i)) = self.outstanding.front() {
            if deadline > now {
                break;
            }
            self.outstanding.pop_front();
            if self.phase == Phase::Limited {
                // Only the one-at-a-time phase's silences say anything
                // about the interval: the sweep's outrun the bucket.
                self.state[i].silent_once = true;
                self.silent_limited += 1;
                // As many silences as answers, once answers come: tokens
                // are missing, not ports filtered (a few filtered ports
                // among many closed ones stay far below).
                if self.answered_limited > 0 && self.silent_limited >= self.answered_limited.max(2)
                {
                    self.slow_down();
                }
                if self.state[i].tries <= self.config.retries {
                    self.queue.push_back(i);
                } else {
                    self.finish(i, UdpState::OpenFiltered, UdpWhy::NoResponse);
                }
            }
        }
        if self.phase != Phase::Limited && self.queue.is_empty() && self.outstanding.is_empty() {
            self.next_phase(now);
        }
    }

    fn poll_transmit_into(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool {
        let Some(at) = self.send_at() else {
            return false;
        };
        if now < at {
            return false;
        }
        let i = self.queue.pop_front().expect("send_at saw one");
        if self.state[i].done {
            return self.poll_transmit_into(now, buf);
        }
        let port = self.ports[i];
        let c = &self.config;
        let payload = payload_for(port, mix(c.seed ^ u64::from(port)) as u16);
        let udp = UdpRepr {
            src_port: c.sport,
            dst_port: port,
            payload: &payload,
        };
        let macs = (c.src_mac, c.dst_mac);
        match (c.src, c.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let mut ip = Ipv4Repr::new(src, dst, IpProtocol::Udp, 0);
                ip.dont_frag = false;
                ip.identification = self.ip_id;
                self.ip_id = self.ip_id.wrapping_add(1);
                udp.write_frame(buf, macs, &ip, UdpChecksum::Computed);
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let ip = Ipv6Repr::new(src, dst, NextHeader::Udp, 64, 0);
                udp.write_ipv6_frame(buf, macs, &ip, UdpChecksum::Computed);
            }
            (src, dst) => panic!("a UDP scan from {src} to {dst}"),
        }
        self.state[i].tries += 1;
        self.sent += 1;
        self.outstanding.push_back((now + c.wait, i));
        self.next_send = (self.next_send + self.gap()).max(now);
        true
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let deadline = self.outstanding.front().map(|&(t, _)| t);
        let sweep_over = self.phase != Phase::Limited
            && self.queue.is_empty()
            && self.outstanding.is_empty()
            && !self.is_done();
        let now_due = sweep_over.then_some(Instant::ZERO);
        earliest(earliest(self.send_at(), deadline), now_due)
    }

    fn is_done(&self) -> bool {
        self.results.len() == self.ports.len()
    }
}

impl RawEvents for UdpScanner {
    type Event = Event;

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

/// Several hosts' scans side by side on one interface, from one source
/// port: each host its own [`UdpScanner`], its own phases and limiter.
/// Linux keeps its ICMP token bucket per destination (`icmp_ratelimit`,
/// an inet_peer entry for the address the error goes to, in the peer's
/// network namespace), so two hosts' buckets fill independently and their
/// one-at-a-time phases may overlap: the scan takes about as long as its
/// slowest host, not the sum. (Two addresses of one host share its bucket
/// for us: their scanners then see silences, double their intervals, and
/// stay exact.) The global bucket (`icmp_msgs_per_sec` 1000/s, burst 50)
/// is each host's own too, far above one error per second per host.
pub struct UdpScans {
    scans: Vec<UdpScanner>,
    /// The scanner whose turn it is to send first: a sweep never starves
    /// the others.
    next: usize,
}

impl UdpScans {
    /// `configs`: one per host, all from the same source address and port.
    pub fn new(now: Instant, configs: Vec<Config>) -> UdpScans {
        UdpScans {
            scans: configs
                .into_iter()
                .map(|c| UdpScanner::new(now, c))
                .collect(),
            next: 0,
        }
    }

    /// The hosts' scanners, in the order given.
    pub fn scans(&self) -> &[UdpScanner] {
        &self.scans
    }

    /// The scanner for `host`, if it is one of ours.
    fn of(&mut self, host: IpAddr) -> Option<&mut UdpScanner> {
        self.scans.iter_mut().find(|s| s.config.dst == host)
    }

    /// Ports without a result yet, over all hosts.
    pub fn remaining(&self) -> usize {
        self.scans.iter().map(UdpScanner::remaining).sum()
    }

    /// Whether some host is asked one port at a time.
    pub fn limited(&self) -> bool {
        self.scans.iter().any(UdpScanner::limited)
    }

    /// About how long the limited hosts have left: the slowest one's
    /// ports times its interval (they run side by side).
    pub fn time_left(&self) -> Duration {
        self.scans
            .iter()
            .filter(|s| s.limited())
            .map(|s| s.interval() * s.remaining() as u32)
            .max()
            .unwrap_or_default()
    }
}

impl UdpScanner {
    /// The host this scanner asks.
    pub fn dst(&self) -> IpAddr {
        self.config.dst
    }
}

impl RawFlow for UdpScans {
    fn selector(&self) -> Selector {
        let Some(first) = self.scans.first() else {
            return Selector {
                local: Ipv4Addr::UNSPECIFIED.into(),
                local_ports: (1, 0),
                remote: Ipv4Addr::UNSPECIFIED.into(),
                remote_ports: (1, 0),
            };
        };
        let mut sel = first.selector();
        for s in &self.scans[1..] {
            let other = s.selector();
            if other.remote != sel.remote {
                // Any peer: the datagrams are handed to their host's
                // scanner below, and others' are ignored.
                sel.remote = match sel.remote {
                    IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
                    IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
                };
            }
            sel.remote_ports.0 = sel.remote_ports.0.min(other.remote_ports.0);
            sel.remote_ports.1 = sel.remote_ports.1.max(other.remote_ports.1);
        }
        sel
    }

    fn protocol(&self) -> IpProtocol {
        IpProtocol::Udp
    }

    fn handle_datagram(&mut self, now: Instant, mac: MacAddr, ip: &Ipv4Repr, udp: &UdpRepr<'_>) {
        if let Some(s) = self.of(ip.src.into()) {
            s.handle_datagram(now, mac, ip, udp);
        }
    }

    fn handle_datagram6(&mut self, now: Instant, mac: MacAddr, ip: &Ipv6Repr, udp: &UdpRepr<'_>) {
        if let Some(s) = self.of(ip.src.into()) {
            s.handle_datagram6(now, mac, ip, udp);
        }
    }

    fn handle_icmp(&mut self, now: Instant, from: Ipv4Addr, error: &IcmpError) {
        if let Some(s) = self.of(error.quoted_dst.0.into()) {
            s.handle_icmp(now, from, error);
        }
    }

    fn handle_icmp6(&mut self, now: Instant, from: Ipv6Addr, error: &Icmpv6Error) {
        if let Some(s) = self.of(error.quoted_dst.0.into()) {
            s.handle_icmp6(now, from, error);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        for s in &mut self.scans {
            s.handle_timeout(now);
        }
    }

    fn poll_transmit_into(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool {
        let n = self.scans.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            if self.scans[i].poll_transmit_into(now, buf) {
                self.next = (i + 1) % n;
                return true;
            }
        }
        false
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.scans
            .iter()
            .filter(|s| !s.is_done())
            .filter_map(UdpScanner::poll_timeout)
            .min()
    }

    fn is_done(&self) -> bool {
        self.scans.iter().all(UdpScanner::is_done)
    }
}

impl RawEvents for UdpScans {
    /// A host's scanner's event, with the host's index.
    type Event = (usize, Event);

    fn poll_event(&mut self) -> Option<(usize, Event)> {
        self.scans
            .iter_mut()
            .enumerate()
            .find_map(|(i, s)| s.poll_event().map(|e| (i, e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Machine, RxChecksum};
    use crate::stack::iface::InterfaceConfig;
    use crate::stack::raw::{Hosted, RawHost};
    use crate::wire::ethernet;
    use crate::wire::tcp::ChecksumMode;
    use crate::wire::testing;

    const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const THEM: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const MAC_US: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
    const MAC_THEM: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);

    /// A simulated Linux host: UDP echo on `open`, silence on `dropped`,
    /// port unreachable elsewhere, from a token bucket of `burst` tokens
    /// refilled one per `refill`.
    struct Peer {
        open: Vec<u16>,
        dropped: Vec<u16>,
        burst: f64,
        refill: Duration,
        tokens: f64,
        last: Instant,
        unreachables: u64,
    }

    impl Peer {
        fn new(open: &[u16], dropped: &[u16], burst: f64, refill: Duration) -> Peer {
            Peer {
                open: open.to_vec(),
                dropped: dropped.to_vec(),
                burst,
                refill,
                tokens: burst,
                last: Instant::ZERO,
                unreachables: 0,
            }
        }

        /// The answer to `frame` sent at `now`, if any: over IPv6 when
        /// the frame is IPv6, with ICMPv6's port unreachable.
        fn answer(&mut self, now: Instant, frame: &[u8]) -> Option<Vec<u8>> {
            if frame[12..14] == [0x86, 0xdd] {
                return self.answer6(now, frame);
            }
            let (_, ip, udp) = UdpRepr::from_frame(frame, ChecksumMode::Verify).unwrap();
            let port = udp.dst_port;
            if self.dropped.contains(&port) {
                return None;
            }
            if self.open.contains(&port) {
                let back = UdpRepr {
                    src_port: port,
                    dst_port: udp.src_port,
                    payload: udp.payload,
                };
                return Some(back.to_frame(
                    MAC_THEM,
                    MAC_US,
                    &Ipv4Repr::new(THEM, US, IpProtocol::Udp, 0),
                ));
            }
            if !self.token(now) {
                return None;
            }
            let body = testing::icmp_error(3, 3, &frame[ethernet::HEADER_LEN..]);
            let _ = ip;
            Some(testing::ipv4_frame(
                (MAC_THEM, MAC_US),
                (THEM, US),
                IpProtocol::Icmp,
                &body,
            ))
        }

        /// Whether the bucket holds a token for an error at `now` (one
        /// is taken).
        fn token(&mut self, now: Instant) -> bool {
            let elapsed = (now - self.last).as_secs_f64();
            self.last = now;
            self.tokens = (self.tokens + elapsed / self.refill.as_secs_f64()).min(self.burst);
            if self.tokens < 1.0 {
                return false;
            }
            self.tokens -= 1.0;
            self.unreachables += 1;
            true
        }

        /// [`Peer::answer`] over IPv6.
        fn answer6(&mut self, now: Instant, frame: &[u8]) -> Option<Vec<u8>> {
            let packet = &frame[ethernet::HEADER_LEN..];
            let (ip, body) = Ipv6Repr::parse(packet).unwrap();
            let udp = UdpRepr::parse_v6(body, ip.src, ip.dst, ChecksumMode::Verify).unwrap();
            let port = udp.dst_port;
            if self.dropped.contains(&port) {
                return None;
            }
            if self.open.contains(&port) {
                let back = UdpRepr {
                    src_port: port,
                    dst_port: udp.src_port,
                    payload: udp.payload,
                };
                let ip = Ipv6Repr::new(ip.dst, ip.src, NextHeader::Udp, 64, 0);
                return Some(back.to_ipv6_frame(MAC_THEM, MAC_US, &ip));
            }
            if !self.token(now) {
                return None;
            }
            Some(icmpv6_error(ip.dst, ip.src, (1, 4), packet))
        }
    }

    /// An ICMPv6 error `(type, code)` from `from` to `to` quoting `packet`.
    fn icmpv6_error(from: Ipv6Addr, to: Ipv6Addr, (ty, code): (u8, u8), packet: &[u8]) -> Vec<u8> {
        use pnet::packet::icmpv6::{Icmpv6Packet, checksum};
        let mut msg = vec![ty, code, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(packet);
        let sum = checksum(&Icmpv6Packet::new(&msg).unwrap(), &from, &to);
        msg[2..4].copy_from_slice(&sum.to_be_bytes());
        Ipv6Repr::new(from, to, NextHeader::Icmpv6, 64, msg.len()).frame(MAC_THEM, MAC_US, &msg)
    }

    fn config(ports: std::ops::RangeInclusive<u16>) -> Config {
        Config {
            src_mac: MAC_US,
            dst_mac: MAC_THEM,
            src: US.into(),
            dst: THEM.into(),
            sport: 40000,
            ports: ports.collect(),
            rate: 1000,
            retries: 2,
            wait: Duration::from_millis(500),
            interval: Duration::from_secs(1),
            seed: 1,
        }
    }

    /// Runs the scan against `peer` on virtual time (answers 100 µs after
    /// each datagram); the results and how long it took.
    fn scan(config: Config, peer: &mut Peer) -> (Vec<UdpPortResult>, Duration, Vec<Event>) {
        let ipv6 = match config.src {
            IpAddr::V6(ip) => Some(ip),
            IpAddr::V4(_) => None,
        };
        let iface = InterfaceConfig {
            ip: US,
            mac: MAC_US,
            ipv6,
            next_hop_mac: Some(MAC_THEM),
            answer_arp: false,
            trace: false,
        };
        let mut h = RawHost::new(iface, UdpScanner::new(Instant::ZERO, config));
        let mut now = Instant::ZERO;
        let mut pending: Vec<(Instant, Vec<u8>)> = Vec::new();
        let mut events = Vec::new();
        for _ in 0..1_000_000 {
            while let Some(frame) = h.poll_transmit(now) {
                if let Some(answer) = peer.answer(now, &frame) {
                    pending.push((now + Duration::from_micros(100), answer));
                }
            }
            events.extend(
                std::iter::from_fn(|| h.poll_event()).filter_map(|e| match e {
                    Hosted::Flow(e) => Some(e),
                    Hosted::Host(_) => None,
                }),
            );
            if h.is_done() {
                return (h.flow().results(), now - Instant::ZERO, events);
            }
            let next_answer = pending.iter().map(|(t, _)| *t).min();
            let next = earliest(next_answer, h.poll_timeout()).expect("something to wait for");
            now = now.max(next);
            let (due, later): (Vec<_>, Vec<_>) = pending.into_iter().partition(|(t, _)| *t <= now);
            pending = later;
            for (_, frame) in due {
                h.handle_frame(now, &frame, RxChecksum::Unknown);
            }
            h.handle_timeout(now);
        }
        panic!("the scan never ended");
    }

    fn states(results: &[UdpPortResult]) -> Vec<(u16, UdpState)> {
        results.iter().map(|r| (r.port, r.state)).collect()
    }

    #[test]
    fn a_rate_limited_linux_host_is_scanned_exactly() {
        let mut peer = Peer::new(&[7], &[9], 6.0, Duration::from_secs(1));
        let (results, took, events) = scan(config(1..=30), &mut peer);
        let want: Vec<(u16, UdpState)> = (1..=30)
            .map(|p| {
                let s = match p {
                    7 => UdpState::Open,
                    9 => UdpState::OpenFiltered,
                    _ => UdpState::Closed,
                };
                (p, s)
            })
            .collect();
        assert_eq!(states(&results), want);
        assert!(
            events.iter().any(|e| matches!(e, Event::Limited { .. })),
            "{events:?}"
        );
        // 28 closed ports: 6 from the burst, 22 at one a second; port 9's
        // two retries wait 0.5 s each, mostly while a token comes.
        let secs = took.as_secs_f64();
        assert!((21.0..26.0).contains(&secs), "took {secs} s");
        assert_eq!(peer.unreachables, 28, "one per closed port, none wasted");
    }

    #[test]
    fn a_slower_limiter_doubles_the_interval_and_stays_exact() {
        let mut peer = Peer::new(&[], &[], 2.0, Duration::from_secs(2));
        let (results, took, _) = scan(config(1..=8), &mut peer);
        assert!(
            results.iter().all(|r| r.state == UdpState::Closed),
            "{results:?}"
        );
        assert!(took < Duration::from_secs(20), "{took:?}");
    }

    #[test]
    fn without_a_limiter_the_scan_takes_a_sweep_and_silence_gets_its_retries() {
        let mut peer = Peer::new(&[5], &[6, 7], 1e9, Duration::from_micros(1));
        let (results, took, events) = scan(config(1..=100), &mut peer);
        let open_filtered: Vec<u16> = results
            .iter()
            .filter(|r| r.state == UdpState::OpenFiltered)
            .map(|r| r.port)
            .collect();
        assert_eq!(open_filtered, vec![6, 7]);
        assert!(
            results
                .iter()
                .filter(|r| r.state == UdpState::Closed)
                .count()
                == 97
        );
        assert!(results.iter().all(|r| r.port != 6 || r.tries == 3));
        // A limited phase starts (ICMP came, two ports silent): it costs
        // the silent ports' tries, one at a time, after the first token.
        assert!(took < Duration::from_secs(4), "{took:?}");
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Limited { silent: 2, .. }))
        );
    }

    #[test]
    fn a_host_that_never_answers_gives_open_filtered_after_resweeps() {
        let mut peer = Peer::new(
            &[],
            &(1..=50).collect::<Vec<_>>(),
            6.0,
            Duration::from_secs(1),
        );
        let (results, took, events) = scan(config(1..=50), &mut peer);
        assert!(
            results
                .iter()
                .all(|r| r.state == UdpState::OpenFiltered && r.tries == 3)
        );
        assert!(!events.iter().any(|e| matches!(e, Event::Limited { .. })));
        assert!(took < Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn service_payloads_are_well_formed() {
        let dns = payload_for(53, 0x1234);
        assert_eq!(dns.len(), 17);
        assert_eq!(&dns[..2], &[0x12, 0x34]);
        let ntp = payload_for(123, 0);
        assert_eq!((ntp.len(), ntp[0]), (48, 0x23));
        let snmp = payload_for(161, 7);
        assert_eq!(snmp[0], 0x30);
        assert_eq!(
            usize::from(snmp[1]) + 2,
            snmp.len(),
            "the outer length covers it all"
        );
        assert!(snmp.windows(6).any(|w| w == b"public"));
        assert!(payload_for(9, 0).is_empty());
    }

    const US6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 1);
    const THEM6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 2);
    const ROUTER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 9, 0, 0, 0, 0, 9);

    fn config6(ports: std::ops::RangeInclusive<u16>) -> Config {
        Config {
            src: US6.into(),
            dst: THEM6.into(),
            ..config(ports)
        }
    }

    /// A Linux host's ICMPv6 bucket refills every 100 ms, and the scan
    /// assumes as much from the start.
    #[test]
    fn a_rate_limited_linux_host_is_scanned_exactly_over_ipv6() {
        let refill = linux_interval(THEM6.into());
        assert_eq!(refill, Duration::from_millis(100));
        let mut peer = Peer::new(&[3, 22], &[7], 6.0, refill);
        let config = Config {
            interval: refill,
            ..config6(1..=30)
        };
        let (results, took, _) = scan(config, &mut peer);
        let want: Vec<(u16, UdpState)> = (1..=30)
            .map(|p| {
                let st = match p {
                    3 | 22 => UdpState::Open,
                    7 => UdpState::OpenFiltered,
                    _ => UdpState::Closed,
                };
                (p, st)
            })
            .collect();
        assert_eq!(states(&results), want);
        // 27 closed ports, 6 from the burst: about 100 ms for each of the
        // other 21, and the silent port's tries.
        assert!(took > Duration::from_millis(2100), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        let closed = results.iter().find(|r| r.port == 1).unwrap();
        assert_eq!(
            closed.why,
            UdpWhy::Icmp {
                from: THEM6.into(),
                kind: ErrorKind::V6(Icmpv6Kind::Unreachable(4))
            }
        );
    }

    /// ICMPv6 errors as nmap reads them: port unreachable from the host
    /// is closed, any other unreachable (or a router's port unreachable)
    /// filtered; time exceeded and packet too big say nothing.
    #[rstest::rstest]
    #[case::port_unreachable(THEM6, 1, 4, Some(UdpState::Closed))]
    #[case::a_routers_port_unreachable(ROUTER6, 1, 4, Some(UdpState::Filtered))]
    #[case::no_route(ROUTER6, 1, 0, Some(UdpState::Filtered))]
    #[case::admin_prohibited(THEM6, 1, 1, Some(UdpState::Filtered))]
    #[case::address_unreachable(ROUTER6, 1, 3, Some(UdpState::Filtered))]
    #[case::reject_route(ROUTER6, 1, 6, Some(UdpState::Filtered))]
    #[case::hop_limit_exceeded(ROUTER6, 3, 0, None)]
    #[case::packet_too_big(ROUTER6, 2, 0, None)]
    fn icmpv6_errors_sort_a_port(
        #[case] from: Ipv6Addr,
        #[case] ty: u8,
        #[case] code: u8,
        #[case] want: Option<UdpState>,
    ) {
        use crate::machine::Feed;
        let mut s = UdpScanner::new(Instant::ZERO, config6(5..=5));
        let frame = s.poll_transmit(Instant::ZERO).expect("a datagram");
        let (ip, _) = Ipv6Repr::parse(&frame[ethernet::HEADER_LEN..]).unwrap();
        assert_eq!(
            (ip.src, ip.dst, ip.next_header),
            (US6, THEM6, NextHeader::Udp)
        );
        let mut error = icmpv6_error(from, US6, (ty, code), &frame[ethernet::HEADER_LEN..]);
        if ty == 2 {
            // The MTU, then the checksum again.
            error[ethernet::HEADER_LEN + 40 + 4..][..4].copy_from_slice(&1280u32.to_be_bytes());
            let at = ethernet::HEADER_LEN + 40;
            error[at + 2..at + 4].fill(0);
            let msg = error[at..].to_vec();
            let pkt = pnet::packet::icmpv6::Icmpv6Packet::new(&msg).unwrap();
            let sum = pnet::packet::icmpv6::checksum(&pkt, &from, &US6);
            error[at + 2..at + 4].copy_from_slice(&sum.to_be_bytes());
        }
        s.handle_frame(Instant::from_millis(1), &error, RxChecksum::Unknown);
        assert_eq!(s.results().first().map(|r| r.state), want);
    }

    /// An error about a TCP segment between the same ports is not the
    /// scan's: the scanner checks the quoted protocol itself.
    #[test]
    fn an_error_quoting_another_protocol_sorts_nothing() {
        let mut s = UdpScanner::new(Instant::ZERO, config(5..=5));
        let _ = s.poll_transmit(Instant::ZERO).expect("a datagram");
        let error = IcmpError {
            kind: IcmpKind::Unreachable(3),
            protocol: IpProtocol::Tcp,
            quoted_src: (US, 40000),
            quoted_dst: (THEM, 5),
            quoted_seq: None,
        };
        s.handle_icmp(Instant::from_millis(1), THEM, &error);
        let error6 = Icmpv6Error {
            kind: Icmpv6Kind::Unreachable(4),
            protocol: NextHeader::Tcp,
            quoted_src: (US6, 40000),
            quoted_dst: (THEM6, 5),
            quoted_seq: None,
        };
        s.handle_icmp6(Instant::from_millis(1), THEM6, &error6);
        assert_eq!(s.results(), vec![]);
    }
}
