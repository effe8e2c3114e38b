//! `nettool scan` as a sans-IO machine: a SYN to every port, paced by a
//! rate and at most `concurrency` unanswered at once, each silent port
//! asked again up to `retries` times.
//!
//! A SYN-ACK means open (and is reset at once), a RST closed, an ICMP
//! unreachable (host, protocol, port, prohibited) filtered, and silence
//! after the last try filtered. Each port's SYN carries a sequence number
//! drawn from the seed and the port, the same on every try, so a late
//! answer to an earlier try still counts.
//!
//! The rate is fixed, or adapts to the path between a floor and a ceiling
//! ([`pace`]: slow start, then a cut to 70 % on loss, where a loss is a
//! closed or open port that answered only a retry). Once an adaptive scan has
//! seen a loss, silence also gets more benefit of the doubt, since it may
//! be the path's and not a firewall's: retries back off
//! ([`Scanner::wait_for`]) and silent ports get as many tries as answering
//! ports have needed ([`Scanner::tries_allowed`]). On a clean path neither
//! costs anything. [`sim`] runs a scan against a simulated host behind a
//! simulated bottleneck, on virtual time.

pub mod pace;
pub mod sim;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

pub use pace::{PaceStats, Rate};

use super::{Template, mix, reset_for};
use crate::machine::{RawEvents, RawFlow, Selector};
use crate::time::{Instant, earliest};
use crate::wire::SeqNum;
use crate::wire::icmp::{ErrorKind, IcmpError, IcmpKind};
use crate::wire::icmpv6::{Icmpv6Error, Icmpv6Kind};
use crate::wire::ipv4::Ipv4Repr;
use crate::wire::ipv6::Ipv6Repr;
use crate::wire::tcp::{Flags, TcpRepr};
use pace::{Pace, Sent};

/// The most retries an adaptive scan adds to `retries` on a lossy path.
pub const MAX_EXTRA_RETRIES: u32 = 4;

#[derive(Debug, Clone)]
pub struct Config {
    /// The SYN every port gets (ports and seq are filled in).
    pub template: Template,
    pub sport: u16,
    pub ports: Vec<u16>,
    /// SYNs per second, retries included: fixed, or adapting to the path.
    pub rate: Rate,
    /// Most ports waiting for an answer at once.
    pub concurrency: usize,
    /// Extra SYNs for a silent port (more in an adaptive scan on a path
    /// that loses them: [`Scanner::tries_allowed`]).
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
    Icmp { from: IpAddr, kind: ErrorKind },
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

/// How many ports ended in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub open: usize,
    pub closed: usize,
    pub filtered: usize,
}

impl Tally {
    pub fn of(results: &[PortResult]) -> Tally {
        let count = |st| results.iter().filter(|r| r.state == st).count();
        Tally {
            open: count(PortState::Open),
            closed: count(PortState::Closed),
            filtered: count(PortState::Filtered),
        }
    }

    pub fn count(&self, state: PortState) -> usize {
        match state {
            PortState::Open => self.open,
            PortState::Closed => self.closed,
            PortState::Filtered => self.filtered,
        }
    }

    /// The state most ports are in, the one a long list sums up in a
    /// line (as nmap does); a tie goes to open, then filtered, so the
    /// rarer-looking states stay listed.
    pub fn most_common(&self) -> PortState {
        [PortState::Closed, PortState::Filtered, PortState::Open]
            .into_iter()
            .max_by_key(|&st| self.count(st))
            .expect("three states")
    }

    /// What the scan found, in one word: one open port makes the host
    /// open, else one closed port makes it closed; `None` with no ports.
    pub fn verdict(&self) -> Option<PortState> {
        [PortState::Open, PortState::Closed, PortState::Filtered]
            .into_iter()
            .find(|&st| self.count(st) > 0)
    }
}

struct Waiting {
    tries: u32,
    /// The last try.
    sent: Sent,
    /// The try before it, the one a late answer proves lost.
    before: Option<Sent>,
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
    pace: Pace,
    /// The highest try a closed or open port answered.
    most_tries_needed: u32,
    /// Ports finished by an answer (SYN-ACK, RST or ICMP).
    answered: usize,
}

impl Scanner {
    pub fn new(now: Instant, config: Config) -> Scanner {
        let mut wanted = vec![false; 65536];
        for &p in &config.ports {
            wanted[usize::from(p)] = true;
        }
        Scanner {
            pace: Pace::new(config.rate, config.timeout),
            most_tries_needed: 0,
            answered: 0,
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

    /// What the rate did so far.
    pub fn pace(&self) -> PaceStats {
        self.pace.stats()
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

    /// How many SYNs a port gets before its silence means filtered:
    /// `retries + 1`; in an adaptive scan, also one more than any closed
    /// or open port needed, up to [`MAX_EXTRA_RETRIES`] more. On a path
    /// that lost a port's first two SYNs, three may not be enough for the
    /// next one (nmap's scan engine reasons the same way).
    pub fn tries_allowed(&self) -> u32 {
        let base = self.config.retries.saturating_add(1);
        if !self.pace.adapts() {
            return base;
        }
        let wanted = self.most_tries_needed.saturating_add(1);
        base.max(wanted.min(base.saturating_add(MAX_EXTRA_RETRIES)))
    }

    /// How long try number `tries` of a port waits for its answer.
    ///
    /// Once an adaptive scan has seen a loss, each retry waits twice as
    /// long as the try before it (RFC 6298's backoff), up to `timeout`:
    /// congestion lasts a while (a queue takes time to drain, a cut rate
    /// shows only after a timeout), and tries one timeout apart could all
    /// fall into the same episode and leave an open port "filtered".
    pub fn wait_for(&self, tries: u32) -> Duration {
        let base = self.try_timeout();
        if tries <= 1 || !self.pace.adapts() || self.pace.stats().drops == 0 {
            return base;
        }
        let ceiling = self.config.timeout.max(base);
        (base * 2u32.saturating_pow(tries - 1)).min(ceiling)
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
        // A loss shows when a try's wait runs out.
        self.pace.set_feedback(self.try_timeout());
    }

    /// The share of finished ports that answered (the rest filtered by
    /// silence); 1 before any port is finished.
    fn answered_share(&self) -> f64 {
        if self.results.is_empty() {
            return 1.0;
        }
        (self.answered as f64 / self.results.len() as f64).min(1.0)
    }

    /// Every result so far, sorted by port.
    pub fn results(&self) -> Vec<PortResult> {
        let mut r = self.results.clone();
        r.sort_by_key(|r| r.port);
        r
    }

    /// Whether the in-flight bound, not the rate, holds the sending back.
    fn window_limited(&self) -> bool {
        self.waiting.len() >= self.config.concurrency
    }

    /// Feeds the answer that ended `w`'s wait (already removed from
    /// `waiting`) to the RTT estimator and the rate.
    fn learn(&mut self, now: Instant, w: &Waiting, why: Why) {
        let was_window_limited = self.waiting.len() + 1 >= self.config.concurrency;
        if why != Why::NoResponse {
            self.answered += 1;
            self.pace.on_delivered(now);
        }
        match (w.tries, why, w.before) {
            (_, Why::NoResponse, _) => {}
            (1, _, _) => {
                // Karn's rule: only a first try's answer is surely its own.
                self.sample(now.saturating_duration_since(w.sent.at));
                if !was_window_limited {
                    let share = self.answered_share();
                    self.pace.on_answer(share);
                }
            }
            // ICMP errors are rate-limited at their source, whatever we
            // send: one missing from a first try proves no congestion.
            (_, Why::Icmp { .. }, _) => {}
            (_, Why::SynAck | Why::Rst, Some(lost)) => {
                self.most_tries_needed = self.most_tries_needed.max(w.tries);
                let share = self.answered_share();
                self.pace.on_loss(now, lost, share);
            }
            (_, Why::SynAck | Why::Rst, None) => {}
        }
    }

    fn finish(&mut self, port: u16, state: PortState, why: Why, now: Instant) {
        // Free the slot before anything else: a port already finished (a
        // second try's answer) must never hold one.
        let w = self.waiting.remove(&port);
        if std::mem::replace(&mut self.done_ports[usize::from(port)], true) {
            return;
        }
        if let Some(w) = &w {
            self.learn(now, w, why);
        }
        let r = PortResult {
            port,
            state,
            why,
            tries: w.as_ref().map_or(0, |w| w.tries),
            rtt: w
                .filter(|_| why != Why::NoResponse)
                .map(|w| now.saturating_duration_since(w.sent.at)),
        };
        self.results.push(r);
        self.events.push_back(r);
    }

    /// The port the next SYN goes to: retries first (their ports already
    /// hold a slot), then new ports while fewer than `concurrency` wait.
    fn next_to_ask(&mut self) -> Option<u16> {
        while let Some(p) = self.queue.pop_front() {
            // An answer may have come between the timeout and the retry.
            if !self.done_ports[usize::from(p)] {
                return Some(p);
            }
        }
        if self.window_limited() {
            return None;
        }
        let p = *self.config.ports.get(self.next_port)?;
        self.next_port += 1;
        Some(p)
    }
}

impl Scanner {
    /// A SYN-ACK (open, reset at once) or a RST (closed) acknowledging
    /// the port's SYN.
    fn answer(&mut self, now: Instant, tcp: &TcpRepr<'_>) {
        if !self.wanted[usize::from(tcp.src_port)] {
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

    /// An unreachable (`kind`, from `from`) quoting the SYN to `port`
    /// with `seq`: the port is filtered, if that SYN was the port's.
    fn unreachable(
        &mut self,
        now: Instant,
        from: IpAddr,
        kind: ErrorKind,
        (port, seq): (u16, Option<SeqNum>),
    ) {
        if !self.wanted[usize::from(port)] || seq.map(|s| s.get()) != Some(self.seq(port)) {
            return;
        }
        self.finish(port, PortState::Filtered, Why::Icmp { from, kind }, now);
    }
}

impl RawFlow for Scanner {
    /// From our port to the scanned ports of the host.
    fn selector(&self) -> Selector {
        let c = &self.config;
        let lo = c.ports.iter().min().copied().unwrap_or(0);
        let hi = c.ports.iter().max().copied().unwrap_or(0);
        Selector {
            local: c.template.src,
            local_ports: (c.sport, c.sport),
            remote: c.template.dst,
            remote_ports: (lo, hi),
        }
    }

    /// A SYN-ACK (open, reset at once) or a RST (closed) acknowledging
    /// the port's SYN.
    fn handle_segment(&mut self, now: Instant, _ip: &Ipv4Repr, tcp: &TcpRepr<'_>) {
        self.answer(now, tcp);
    }

    fn handle_segment6(&mut self, now: Instant, _ip: &Ipv6Repr, tcp: &TcpRepr<'_>) {
        self.answer(now, tcp);
    }

    /// An unreachable quoting the port's SYN: filtered.
    fn handle_icmp(&mut self, now: Instant, from: Ipv4Addr, error: &IcmpError) {
        if let IcmpKind::Unreachable(1 | 2 | 3 | 9 | 10 | 13) = error.kind {
            let quoted = (error.quoted_dst.1, error.quoted_seq);
            self.unreachable(now, from.into(), ErrorKind::V4(error.kind), quoted);
        }
    }

    /// An ICMPv6 unreachable quoting the port's SYN: filtered, as nmap
    /// takes them (RFC 4443 §3.1: no route, administratively
    /// prohibited, beyond the source's scope, address or port
    /// unreachable, failed policy, reject route). A time exceeded or a
    /// packet too big says nothing of the port.
    fn handle_icmp6(&mut self, now: Instant, from: Ipv6Addr, error: &Icmpv6Error) {
        // Only a quoted SYN is ours: the raw flows also see errors quoting
        // UDP and echoes.
        if error.protocol != crate::wire::ipv6::NextHeader::Tcp {
            return;
        }
        if let Icmpv6Kind::Unreachable(0..=6) = error.kind {
            let quoted = (error.quoted_dst.1, error.quoted_seq);
            self.unreachable(now, from.into(), ErrorKind::V6(error.kind), quoted);
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
            if tries == 1 && !self.window_limited() {
                self.pace.on_silence();
            }
            if tries >= self.tries_allowed() {
                self.finish(port, PortState::Filtered, Why::NoResponse, now);
            } else {
                // Leave the concurrency slot held: the port is still ours.
                self.queue.push_back(port);
            }
        }
    }

    /// Writes the next frame due at `now`; `false` when nothing is due.
    fn poll_transmit_into(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool {
        if let Some(rst) = self.resets.pop_front() {
            buf.clear();
            buf.extend_from_slice(&rst);
            return true;
        }
        if now < self.next_send {
            return false;
        }
        let Some(port) = self.next_to_ask() else {
            return false;
        };
        let seq = self.seq(port);
        let id = mix(self.config.seed ^ self.sent) as u16;
        self.config
            .template
            .write(buf, self.config.sport, port, seq, id);
        let sent = Sent {
            at: now,
            rate: self.pace.rate(),
        };
        let w = self.waiting.entry(port).or_insert(Waiting {
            tries: 0,
            sent,
            before: None,
        });
        w.tries += 1;
        w.before = Some(w.sent).filter(|_| w.tries > 1);
        w.sent = sent;
        let tries = w.tries;
        let wait = self.wait_for(tries);
        self.deadlines.push(Reverse((now + wait, port, tries)));
        self.sent += 1;
        // Keep the average rate after a late wake-up (timer slack makes
        // short waits long) by sending the missed SYNs at once, but only
        // so many of them (`Pace::catch_up`).
        self.next_send = if now > self.next_send + self.pace.catch_up() {
            now
        } else {
            self.next_send + self.pace.spacing()
        };
        true
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let can_send = !self.queue.is_empty()
            || (self.next_port < self.config.ports.len()
                && self.waiting.len() < self.config.concurrency);
        let send = can_send.then_some(self.next_send);
        let deadline = self.deadlines.peek().map(|d| d.0.0);
        earliest(send, deadline)
    }

    fn is_done(&self) -> bool {
        self.results.len() == self.config.ports.len() && self.resets.is_empty()
    }
}

impl RawEvents for Scanner {
    type Event = PortResult;

    fn poll_event(&mut self) -> Option<PortResult> {
        self.events.pop_front()
    }
}
