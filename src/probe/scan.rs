//! `nettool scan` as a sans-IO machine: a SYN to every port, at most
//! `rate` per second and `concurrency` unanswered at once, each silent
//! port asked again up to `retries` times.
//!
//! A SYN-ACK means open (and is reset at once), a RST closed, an ICMP
//! unreachable (host, protocol, port, prohibited) filtered, and silence
//! after the last try filtered. Each port's SYN carries a sequence number
//! drawn from the seed and the port, the same on every try, so a late
//! answer to an earlier try still counts.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::Duration;

use super::{Arrival, Template, arrival, mix, parse_icmp, reset_for};
use crate::machine::{Machine, RxChecksum};
use crate::time::Instant;
use crate::wire::icmp::IcmpKind;
use crate::wire::tcp::{Flags, TcpRepr};

#[derive(Debug, Clone)]
pub struct Config {
    /// The SYN every port gets (ports and seq are filled in).
    pub template: Template,
    pub sport: u16,
    pub ports: Vec<u16>,
    /// SYNs per second, retries included.
    pub rate: u32,
    /// Most ports waiting for an answer at once.
    pub concurrency: usize,
    /// Extra SYNs for a silent port.
    pub retries: u32,
    /// How long each try waits, at most. Once answers have come, a try
    /// waits `SRTT + 4 × RTTVAR` of the answers' round trips (RFC 6298's
    /// estimator, first tries only, as Karn's rule says), but never less
    /// than `min_timeout`.
    pub timeout: Duration,
    pub min_timeout: Duration,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortState {
    Open,
    Closed,
    Filtered,
}

impl PortState {
    pub fn name(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
        }
    }
}

/// Why a port got its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    SynAck,
    Rst,
    Icmp { from: Ipv4Addr, kind: IcmpKind },
    NoResponse,
}

impl Why {
    pub fn text(self) -> String {
        match self {
            Why::SynAck => "syn-ack".into(),
            Why::Rst => "reset".into(),
            Why::Icmp { from, kind } => format!("{} from {from}", kind.describe()),
            Why::NoResponse => "no-response".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortResult {
    pub port: u16,
    pub state: PortState,
    pub why: Why,
    /// SYNs sent to the port.
    pub tries: u32,
    /// From the last SYN to the answer.
    pub rtt: Option<Duration>,
}

struct Waiting {
    tries: u32,
    sent_at: Instant,
}

pub struct Scanner {
    config: Config,
    /// Ports not yet asked, then ports to ask again, in order.
    queue: VecDeque<u16>,
    next_port: usize,
    waiting: HashMap<u16, Waiting>,
    /// (deadline, port, try), earliest first (tries wait for different
    /// times, so the order of sending is not the order of deadlines).
    deadlines: BinaryHeap<Reverse<(Instant, u16, u32)>>,
    next_send: Instant,
    resets: VecDeque<Vec<u8>>,
    results: Vec<PortResult>,
    events: VecDeque<PortResult>,
    done_ports: Vec<bool>,
    wanted: Vec<bool>,
    pub sent: u64,
    /// Smoothed RTT and its variation, in µs, once an answer has come.
    srtt: Option<(f64, f64)>,
}

impl Scanner {
    pub fn new(now: Instant, config: Config) -> Scanner {
        let mut wanted = vec![false; 65536];
        for &p in &config.ports {
            wanted[usize::from(p)] = true;
        }
        Scanner {
            config,
            queue: VecDeque::new(),
            next_port: 0,
            waiting: HashMap::new(),
            deadlines: BinaryHeap::new(),
            next_send: now,
            resets: VecDeque::new(),
            results: Vec::new(),
            events: VecDeque::new(),
            done_ports: vec![false; 65536],
            wanted,
            sent: 0,
            srtt: None,
        }
    }

    fn seq(&self, port: u16) -> u32 {
        mix(self.config.seed ^ (u64::from(port) << 32)) as u32
    }

    fn spacing(&self) -> Duration {
        Duration::from_secs_f64(1.0 / f64::from(self.config.rate.max(1)))
    }

    /// How long the next try waits for its answer.
    pub fn try_timeout(&self) -> Duration {
        match self.srtt {
            None => self.config.timeout,
            Some((srtt, var)) => Duration::from_secs_f64((srtt + 4.0 * var) / 1e6).clamp(
                self.config.min_timeout,
                self.config.timeout.max(self.config.min_timeout),
            ),
        }
    }

    fn sample(&mut self, rtt: Duration) {
        let r = rtt.as_secs_f64() * 1e6;
        self.srtt = Some(match self.srtt {
            None => (r, r / 2.0),
            Some((srtt, var)) => (
                0.875 * srtt + 0.125 * r,
                0.75 * var + 0.25 * (srtt - r).abs(),
            ),
        });
    }

    /// Every result so far, sorted by port.
    pub fn results(&self) -> Vec<PortResult> {
        let mut r = self.results.clone();
        r.sort_by_key(|r| r.port);
        r
    }

    fn finish(&mut self, port: u16, state: PortState, why: Why, now: Instant) {
        if std::mem::replace(&mut self.done_ports[usize::from(port)], true) {
            return;
        }
        let w = self.waiting.remove(&port);
        if let Some(w) = &w
            && w.tries == 1
            && why != Why::NoResponse
        {
            self.sample(now - w.sent_at);
        }
        let r = PortResult {
            port,
            state,
            why,
            tries: w.as_ref().map_or(0, |w| w.tries),
            rtt: w
                .filter(|_| why != Why::NoResponse)
                .map(|w| now - w.sent_at),
        };
        self.results.push(r);
        self.events.push_back(r);
    }

    /// Writes the next frame due at `now`; `false` when nothing is due.
    pub fn poll_transmit_into(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool {
        if let Some(rst) = self.resets.pop_front() {
            buf.clear();
            buf.extend_from_slice(&rst);
            return true;
        }
        if now < self.next_send {
            return false;
        }
        // Retries first (their ports already hold a slot), then new ports
        // while fewer than `concurrency` wait.
        let port = match self.queue.pop_front() {
            Some(p) => p,
            None if self.waiting.len() < self.config.concurrency => {
                match self.config.ports.get(self.next_port) {
                    Some(&p) => {
                        self.next_port += 1;
                        p
                    }
                    None => return false,
                }
            }
            None => return false,
        };
        let seq = self.seq(port);
        let id = mix(self.config.seed ^ self.sent) as u16;
        self.config
            .template
            .write(buf, self.config.sport, port, seq, id);
        let w = self.waiting.entry(port).or_insert(Waiting {
            tries: 0,
            sent_at: now,
        });
        w.tries += 1;
        w.sent_at = now;
        let tries = w.tries;
        let timeout = self.try_timeout();
        self.deadlines.push(Reverse((now + timeout, port, tries)));
        self.sent += 1;
        // Keep the average rate after a late wake-up (timer slack makes
        // short waits long) by sending the missed SYNs at once, but never
        // more than 1 ms worth of them.
        self.next_send = if now > self.next_send + Duration::from_millis(1) {
            now
        } else {
            self.next_send + self.spacing()
        };
        true
    }

    fn handle_tcp(&mut self, now: Instant, tcp: &TcpRepr) {
        if tcp.dst_port != self.config.sport || !self.wanted[usize::from(tcp.src_port)] {
            return;
        }
        let port = tcp.src_port;
        let Some(ack) = tcp.ack else { return };
        if ack.get() != self.seq(port).wrapping_add(1) {
            return;
        }
        if tcp.flags.contains(Flags::SYN) {
            let t = &self.config.template;
            self.resets.push_back(reset_for(
                t.src_mac,
                t.dst_mac,
                t.src,
                t.dst,
                self.config.sport,
                port,
                ack,
            ));
            self.finish(port, PortState::Open, Why::SynAck, now);
        } else if tcp.flags.contains(Flags::RST) {
            self.finish(port, PortState::Closed, Why::Rst, now);
        }
    }

    fn handle_icmp(&mut self, now: Instant, from: Ipv4Addr, body: &[u8]) {
        let Some(q) = parse_icmp(body) else { return };
        let t = &self.config.template;
        let (port, sport) = (q.error.quoted_dst.1, q.error.quoted_src.1);
        if q.error.quoted_src.0 != t.src
            || q.error.quoted_dst.0 != t.dst
            || sport != self.config.sport
            || !self.wanted[usize::from(port)]
            || q.seq != Some(self.seq(port))
        {
            return;
        }
        if let IcmpKind::Unreachable(1 | 2 | 3 | 9 | 10 | 13) = q.error.kind {
            self.finish(
                port,
                PortState::Filtered,
                Why::Icmp {
                    from,
                    kind: q.error.kind,
                },
                now,
            );
        }
    }
}

impl Machine for Scanner {
    type Event = PortResult;

    fn handle_frame(&mut self, now: Instant, frame: &[u8], checksum: RxChecksum) {
        match arrival(&self.config.template, frame, checksum) {
            Some(Arrival::Tcp(_, Ok(tcp))) => self.handle_tcp(now, &tcp),
            Some(Arrival::Icmp(from, body)) => self.handle_icmp(now, from, body),
            Some(Arrival::Tcp(_, Err(_))) | None => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((deadline, port, tries))) = self.deadlines.peek() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            let current = self.waiting.get(&port).map(|w| w.tries);
            if current != Some(tries) {
                continue; // answered, or asked again since
            }
            if tries > self.config.retries {
                self.finish(port, PortState::Filtered, Why::NoResponse, now);
            } else {
                // Leave the concurrency slot held: the port is still ours.
                self.queue.push_back(port);
            }
        }
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        let mut buf = Vec::new();
        self.poll_transmit_into(now, &mut buf).then_some(buf)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let can_send = !self.queue.is_empty()
            || (self.next_port < self.config.ports.len()
                && self.waiting.len() < self.config.concurrency);
        let send = can_send.then_some(self.next_send);
        let deadline = self.deadlines.peek().map(|d| d.0.0);
        match (send, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn poll_event(&mut self) -> Option<PortResult> {
        self.events.pop_front()
    }

    fn is_done(&self) -> bool {
        self.results.len() == self.config.ports.len() && self.resets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
    use crate::wire::tcp::ChecksumMode;
    use crate::wire::{MacAddr, SeqNum};

    const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const THEM: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const MAC_US: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
    const MAC_THEM: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);

    fn config(ports: Vec<u16>) -> Config {
        Config {
            template: Template::syn(MAC_US, MAC_THEM, US, THEM),
            sport: 50000,
            ports,
            rate: 1000,
            concurrency: 2,
            retries: 1,
            timeout: Duration::from_millis(100),
            min_timeout: Duration::from_millis(100),
            seed: 3,
        }
    }

    fn answer(port: u16, ack: u32, flags: Flags) -> Vec<u8> {
        let tcp = TcpRepr {
            src_port: port,
            dst_port: 50000,
            seq: SeqNum(9),
            ack: Some(SeqNum(ack)),
            flags,
            window: 0,
            urgent: 0,
            options: vec![],
            payload: &[],
        };
        let ip = Ipv4Repr::new(THEM, US, IpProtocol::Tcp, tcp.buffer_len());
        tcp.to_frame(MAC_THEM, MAC_US, &ip)
    }

    /// Runs the scanner against a host where `open` listen, `closed`
    /// reset and everything else is dropped, on virtual time.
    fn scan(ports: Vec<u16>, open: &[u16], closed: &[u16]) -> (Vec<PortResult>, u64, Instant) {
        let mut s = Scanner::new(Instant::ZERO, config(ports));
        let mut now = Instant::ZERO;
        let mut buf = Vec::new();
        let mut resets = 0;
        for _ in 0..100_000 {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
            while s.poll_transmit_into(now, &mut buf) {
                let (_, _, tcp) = TcpRepr::from_frame(&buf, ChecksumMode::Verify).unwrap();
                if tcp.flags == Flags::RST {
                    resets += 1;
                    continue;
                }
                let (port, ack) = (tcp.dst_port, tcp.seq.get().wrapping_add(1));
                if open.contains(&port) {
                    s.handle_frame(now, &answer(port, ack, Flags::SYN), RxChecksum::Unknown);
                } else if closed.contains(&port) {
                    s.handle_frame(now, &answer(port, ack, Flags::RST), RxChecksum::Unknown);
                }
            }
            if s.is_done() {
                return (s.results(), resets, now);
            }
            now = s.poll_timeout().expect("a deadline while not done");
        }
        panic!("the scan never finished");
    }

    #[test]
    fn states_agree_with_the_host() {
        let (r, resets, _) = scan((1..=10).collect(), &[2, 7], &[1, 3, 4, 5, 6]);
        let by_state = |st| {
            r.iter()
                .filter(|x| x.state == st)
                .map(|x| x.port)
                .collect::<Vec<_>>()
        };
        assert_eq!(by_state(PortState::Open), vec![2, 7]);
        assert_eq!(by_state(PortState::Closed), vec![1, 3, 4, 5, 6]);
        assert_eq!(by_state(PortState::Filtered), vec![8, 9, 10]);
        assert_eq!(resets, 2, "every open port is reset");
        for f in r.iter().filter(|x| x.state == PortState::Filtered) {
            assert_eq!((f.tries, f.why), (2, Why::NoResponse), "one retry each");
        }
    }

    #[test]
    fn the_rate_bounds_the_sending() {
        // 10 closed ports at 1000/s: the last SYN leaves 9 ms after the first.
        let (_, _, end) = scan((1..=10).collect(), &[], &(1..=10).collect::<Vec<_>>());
        assert_eq!(end, Instant::from_millis(9));
    }

    #[test]
    fn a_wrong_ack_proves_nothing() {
        let mut s = Scanner::new(Instant::ZERO, config(vec![80]));
        let mut buf = Vec::new();
        assert!(s.poll_transmit_into(Instant::ZERO, &mut buf));
        let (_, _, tcp) = TcpRepr::from_frame(&buf, ChecksumMode::Verify).unwrap();
        let seq = tcp.seq.get();
        s.handle_frame(
            Instant::ZERO,
            &answer(80, seq, Flags::RST),
            RxChecksum::Unknown,
        );
        assert!(s.poll_event().is_none());
        s.handle_frame(
            Instant::ZERO,
            &answer(80, seq + 1, Flags::RST),
            RxChecksum::Unknown,
        );
        assert_eq!(s.poll_event().map(|r| r.state), Some(PortState::Closed));
    }

    #[test]
    fn the_timeout_follows_the_answers_round_trips() {
        let mut c = config(vec![1, 2]);
        c.timeout = Duration::from_secs(1);
        c.min_timeout = Duration::from_millis(20);
        let mut s = Scanner::new(Instant::ZERO, c);
        assert_eq!(s.try_timeout(), Duration::from_secs(1), "no answer yet");
        let mut buf = Vec::new();
        assert!(s.poll_transmit_into(Instant::ZERO, &mut buf));
        let (_, _, tcp) = TcpRepr::from_frame(&buf, ChecksumMode::Verify).unwrap();
        let at = Instant::from_millis(10);
        s.handle_frame(
            at,
            &answer(1, tcp.seq.get() + 1, Flags::RST),
            RxChecksum::Unknown,
        );
        // One sample of 10 ms: SRTT 10 ms, RTTVAR 5 ms, so 30 ms.
        assert_eq!(s.try_timeout(), Duration::from_millis(30));
        assert!(s.poll_transmit_into(at, &mut buf));
        // Port 1's stale deadline (1 s) does not hide port 2's.
        assert_eq!(s.poll_timeout(), Some(Instant::from_millis(40)));
    }

    #[test]
    fn concurrency_caps_the_ports_in_flight() {
        let mut s = Scanner::new(Instant::ZERO, config((1..=10).collect()));
        let mut buf = Vec::new();
        let mut n = 0;
        let mut now = Instant::ZERO;
        for _ in 0..10 {
            while s.poll_transmit_into(now, &mut buf) {
                n += 1;
            }
            now += Duration::from_millis(1);
        }
        assert_eq!(n, 2, "two ports at once, none answered yet");
    }
}
