//! A deterministic in-memory network for the TCP engine.
//!
//! Two endpoints, A and B, each a [`tcp::Connection`](crate::tcp::Connection)
//! with a small scripted application ([`App`]), exchange segments over a
//! simulated wire. Time is virtual: each [`Sim::step`] jumps straight to
//! the next event (a delivery or an endpoint's timer), so a 60 s TIME-WAIT
//! costs nothing.
//!
//! Segments cross the wire **serialized**: each one is emitted as an IPv4
//! datagram with real checksums, possibly corrupted (one flipped bit), and
//! parsed back on the far side, so the `wire` code is exercised and
//! corruption is rejected by `wire`, never by the engine. Copies the
//! simulator corrupted are parsed with checksum verification; intact
//! copies skip it by default (their checksums are right by construction,
//! and summing every octet twice dominated bulk runs in debug builds);
//! [`Sim::verify_all_checksums`] verifies every copy.
//!
//! Each direction has its own seeded PRNG and [`Impairments`] (loss,
//! duplication, reordering by extra delay, delay and jitter, corruption),
//! plus scripted faults: [`Sim::drop_next`], [`Sim::drop_if`],
//! [`Sim::hold`]/[`Sim::release`]. In-flight datagrams sit in a
//! `BinaryHeap` keyed by `(deliver_at, id)`, so ties resolve by send order
//! and two runs with the same seed produce the same [`Sim::trace`].

mod rng;

pub use rng::Rng;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use crate::tcp::{Config, Connection, Event, IssSource, SeqNum, State};
use crate::time::Instant;
use crate::wire::WireError;
use crate::wire::fmt::tcp_line_absolute;
use crate::wire::tcp::{ChecksumMode, TcpRepr};

/// A direction on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    AtoB,
    BtoA,
}

impl Dir {
    const fn index(self) -> usize {
        match self {
            Dir::AtoB => 0,
            Dir::BtoA => 1,
        }
    }

    /// The direction a segment sent by endpoint `side` (0 = A) travels.
    const fn from_sender(side: usize) -> Dir {
        if side == 0 { Dir::AtoB } else { Dir::BtoA }
    }
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dir::AtoB => "A>B",
            Dir::BtoA => "B>A",
        })
    }
}

/// Per-direction random impairments. Probabilities are per segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairments {
    /// Probability a segment is lost.
    pub loss: f64,
    /// Probability a segment is delivered twice (each copy with its own
    /// delay and its own corruption draw).
    pub duplicate: f64,
    /// Probability a copy gets an extra delay of up to `reorder_delay`,
    /// which lets later segments overtake it.
    pub reorder: f64,
    pub reorder_delay: Duration,
    /// One-way delay of every copy.
    pub delay: Duration,
    /// Extra uniform delay in `[0, jitter)`.
    pub jitter: Duration,
    /// Probability one bit of the serialized datagram is flipped.
    pub corrupt: f64,
}

impl Impairments {
    /// A perfect wire with a 10 ms one-way delay.
    pub const CLEAN: Impairments = Impairments {
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        reorder_delay: Duration::ZERO,
        delay: Duration::from_millis(10),
        jitter: Duration::ZERO,
        corrupt: 0.0,
    };
}

impl Default for Impairments {
    fn default() -> Self {
        Impairments::CLEAN
    }
}

/// What happened to a segment; one trace entry per decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Put on the wire (one entry per copy).
    Sent,
    /// Lost by random impairment.
    Lost,
    /// Dropped by a scripted fault.
    Dropped,
    /// An extra copy was made.
    Duplicated,
    /// A bit of this copy was flipped.
    Corrupted,
    /// Held by [`Sim::hold`] until [`Sim::release`].
    Held,
    /// Parsed and handed to the receiving endpoint.
    Delivered,
    /// Refused by the wire parser (checksum, length, …).
    Rejected(WireError),
}

impl fmt::Display for Fate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fate::Sent => f.write_str("sent"),
            Fate::Lost => f.write_str("lost"),
            Fate::Dropped => f.write_str("dropped"),
            Fate::Duplicated => f.write_str("duplicated"),
            Fate::Corrupted => f.write_str("corrupted"),
            Fate::Held => f.write_str("held"),
            Fate::Delivered => f.write_str("delivered"),
            Fate::Rejected(e) => write!(f, "rejected: {e}"),
        }
    }
}

/// One line of the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEntry {
    pub at: Instant,
    pub dir: Dir,
    /// tcpdump-style line with absolute sequence numbers.
    pub line: String,
    pub fate: Fate,
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} [{}]", self.at, self.dir, self.line, self.fate)
    }
}

/// A scripted application on one endpoint: it writes `to_send` as fast as
/// the send buffer takes it, reads everything that arrives into
/// `received`, and closes when told to.
#[derive(Debug, Clone, Default)]
pub struct App {
    pub to_send: Vec<u8>,
    pub sent: usize,
    pub received: Vec<u8>,
    /// CLOSE once everything in `to_send` has been handed to `send`.
    pub close_after_send: bool,
    /// CLOSE once the peer's FIN arrived (and everything was handed over).
    pub close_on_eof: bool,
    pub closed: bool,
    pub eof: bool,
    /// Stop reading (the receive buffer fills and the window closes).
    pub paused: bool,
    /// Every event the connection reported, in order.
    pub events: Vec<Event>,
}

/// One side of the simulation.
#[derive(Debug)]
pub struct Endpoint {
    pub conn: Connection,
    pub app: App,
}

impl Endpoint {
    pub fn state(&self) -> State {
        self.conn.state()
    }

    fn service(&mut self, now: Instant) {
        let app = &mut self.app;
        while app.sent < app.to_send.len() {
            match self.conn.send(&app.to_send[app.sent..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => app.sent += n,
            }
        }
        let mut buf = [0u8; 4096];
        while !app.paused
            && let Ok(n @ 1..) = self.conn.recv(&mut buf)
        {
            app.received.extend_from_slice(&buf[..n]);
        }
        while let Some(e) = self.conn.poll_event() {
            if e == Event::PeerClosed {
                app.eof = true;
            }
            app.events.push(e);
        }
        let all_sent = app.sent == app.to_send.len();
        let state = self.conn.state();
        let wants_close = (app.close_after_send
            && matches!(state, State::Established | State::CloseWait))
            || (app.close_on_eof && app.eof && state == State::CloseWait);
        if !app.closed && all_sent && wants_close {
            app.closed = true;
            self.conn.close(now);
        }
    }
}

/// Why a run stopped without reaching its goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// `max_steps` events processed and the goal still not reached.
    #[error("no progress after {0} steps (livelock?)")]
    Livelock(usize),
    /// Nothing in flight and no timer armed: the goal can never be reached.
    #[error("simulation went idle after {0} steps")]
    Idle(usize),
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    deliver_at: Instant,
    id: u64,
    dir: usize,
    corrupted: bool,
    line: String,
    bytes: Vec<u8>,
}

type Predicate = Box<dyn FnMut(&TcpRepr<'_>) -> bool>;

#[derive(Default)]
struct Script {
    drop_next: usize,
    drop_if: Vec<Predicate>,
    hold_next: usize,
    held: Vec<(String, Vec<u8>)>,
}

/// The simulator.
pub struct Sim {
    now: Instant,
    endpoints: [Endpoint; 2],
    impairments: [Impairments; 2],
    rng: [Rng; 2],
    script: [Script; 2],
    in_flight: BinaryHeap<Reverse<InFlight>>,
    next_id: u64,
    steps: usize,
    trace: Vec<TraceEntry>,
    /// With [`Sim::record_sent`]: every datagram put on the wire (not
    /// those a script dropped at the sender), with the time it left.
    sent: Option<Vec<(Instant, Vec<u8>)>>,
    verify_all: bool,
}

/// A's address in [`Sim::client_server`].
pub const CLIENT: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000);
/// B's address in [`Sim::client_server`].
pub const SERVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);

impl Sim {
    /// A simulation of `a` and `b` at virtual time zero. The two
    /// directions' PRNGs are derived from `seed`.
    pub fn new(seed: u64, a: Connection, b: Connection) -> Sim {
        let mut root = Rng::new(seed);
        Sim {
            now: Instant::ZERO,
            endpoints: [
                Endpoint {
                    conn: a,
                    app: App::default(),
                },
                Endpoint {
                    conn: b,
                    app: App::default(),
                },
            ],
            impairments: [Impairments::CLEAN; 2],
            rng: [Rng::new(root.next_u64()), Rng::new(root.next_u64())],
            script: [Script::default(), Script::default()],
            in_flight: BinaryHeap::new(),
            next_id: 0,
            steps: 0,
            trace: Vec::new(),
            sent: None,
            verify_all: false,
        }
    }

    /// A connecting to [`SERVER`] from [`CLIENT`], B listening, with ISSs
    /// drawn from `seed` (so many seeds cover many sequence-space
    /// positions, wrap-around included).
    pub fn client_server(seed: u64, config: Config) -> Sim {
        let mut isn = Rng::new(seed ^ 0x5eed_0f15_5eed_0f15);
        let a_iss = SeqNum(isn.next_u64() as u32);
        let b_iss = SeqNum(isn.next_u64() as u32);
        let a = Connection::connect(Instant::ZERO, config, CLIENT, SERVER, a_iss);
        let b = Connection::listen(config, SERVER, IssSource::Fixed(b_iss));
        Sim::new(seed, a, b)
    }

    /// Verifies the checksums of intact copies too, not only of the
    /// copies the simulator corrupted.
    pub fn verify_all_checksums(mut self) -> Sim {
        self.verify_all = true;
        self
    }

    pub fn set_impairments(&mut self, dir: Dir, imp: Impairments) {
        self.impairments[dir.index()] = imp;
    }

    /// The same impairments in both directions.
    pub fn with_impairments(mut self, imp: Impairments) -> Sim {
        self.impairments = [imp; 2];
        self
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// Events processed so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    pub fn a(&self) -> &Endpoint {
        &self.endpoints[0]
    }

    pub fn b(&self) -> &Endpoint {
        &self.endpoints[1]
    }

    pub fn a_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoints[0]
    }

    pub fn b_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoints[1]
    }

    pub fn trace(&self) -> &[TraceEntry] {
        &self.trace
    }

    /// Keeps a copy of every datagram sent (see [`Sim::sent`]); off by
    /// default, as a bulk run would keep every byte it moves.
    pub fn record_sent(mut self) -> Sim {
        self.sent = Some(Vec::new());
        self
    }

    /// With [`Sim::record_sent`], the IPv4 datagrams sent, each with the
    /// time it left: what a capture taken at the senders would hold (for
    /// pictures of a run).
    pub fn sent(&self) -> &[(Instant, Vec<u8>)] {
        self.sent.as_deref().unwrap_or_default()
    }

    /// The trace, one line per entry, for failure messages.
    pub fn trace_text(&self) -> String {
        self.trace.iter().map(|e| format!("{e}\n")).collect()
    }

    /// Drops the next `n` segments sent in `dir`.
    pub fn drop_next(&mut self, dir: Dir, n: usize) {
        self.script[dir.index()].drop_next += n;
    }

    /// Drops every segment in `dir` for which `pred` is true (until the
    /// simulation ends).
    pub fn drop_if(&mut self, dir: Dir, pred: impl FnMut(&TcpRepr<'_>) -> bool + 'static) {
        self.script[dir.index()].drop_if.push(Box::new(pred));
    }

    /// Holds the next `n` segments sent in `dir` until [`release`](Self::release).
    pub fn hold(&mut self, dir: Dir, n: usize) {
        self.script[dir.index()].hold_next += n;
    }

    /// Puts the held segments of `dir` on the wire now, in their order,
    /// with the direction's base delay.
    pub fn release(&mut self, dir: Dir) {
        let i = dir.index();
        self.script[i].hold_next = 0;
        let delay = self.impairments[i].delay;
        for (line, bytes) in std::mem::take(&mut self.script[i].held) {
            self.push(i, self.now + delay, line, bytes, false);
        }
    }

    /// Processes the next event: lets both applications act and drains
    /// both connections' output onto the wire, then advances virtual time
    /// to the earliest delivery or timer and handles everything due.
    /// Returns `false` when nothing is in flight and no timer is armed.
    pub fn step(&mut self) -> bool {
        self.flush_all();
        let next_delivery = self.in_flight.peek().map(|Reverse(p)| p.deliver_at);
        let next_timer = self
            .endpoints
            .iter()
            .filter_map(|e| e.conn.poll_timeout())
            .min();
        let Some(next) = [next_delivery, next_timer].into_iter().flatten().min() else {
            return false;
        };
        self.steps += 1;
        self.now = self.now.max(next);
        while self
            .in_flight
            .peek()
            .is_some_and(|Reverse(p)| p.deliver_at <= self.now)
        {
            let Some(Reverse(p)) = self.in_flight.pop() else {
                break;
            };
            self.deliver(p);
        }
        let now = self.now;
        for e in &mut self.endpoints {
            if e.conn.poll_timeout().is_some_and(|t| t <= now) {
                e.conn.handle_timeout(now);
            }
        }
        self.flush_all();
        true
    }

    /// Steps until `goal` holds; fails after `max_steps` steps (livelock)
    /// or when the simulation goes idle first.
    pub fn run_until(
        &mut self,
        mut goal: impl FnMut(&Sim) -> bool,
        max_steps: usize,
    ) -> Result<usize, SimError> {
        let start = self.steps;
        loop {
            self.flush_all();
            if goal(self) {
                return Ok(self.steps - start);
            }
            if self.steps - start >= max_steps {
                return Err(SimError::Livelock(self.steps - start));
            }
            if !self.step() {
                return if goal(self) {
                    Ok(self.steps - start)
                } else {
                    Err(SimError::Idle(self.steps - start))
                };
            }
        }
    }

    /// Both applications act, then both connections' segments go out.
    fn flush_all(&mut self) {
        for side in 0..2 {
            self.endpoints[side].service(self.now);
            while let Some(seg) = self.endpoints[side].conn.poll_transmit(self.now) {
                let bytes = seg.to_ipv4_packet();
                let line = tcp_line_absolute(seg.src.ip(), seg.dst.ip(), &seg.as_repr());
                self.transmit(side, line, bytes);
            }
            // Transmitting may have produced events (none today), and
            // events may make the app act: service once more.
            self.endpoints[side].service(self.now);
        }
    }

    fn record(&mut self, dir: usize, line: &str, fate: Fate) {
        self.trace.push(TraceEntry {
            at: self.now,
            dir: if dir == 0 { Dir::AtoB } else { Dir::BtoA },
            line: line.to_owned(),
            fate,
        });
    }

    /// Applies scripted faults, then random impairments, to one segment.
    fn transmit(&mut self, side: usize, line: String, bytes: Vec<u8>) {
        let d = Dir::from_sender(side).index();
        let script = &mut self.script[d];
        if script.drop_next > 0 {
            script.drop_next -= 1;
            self.record(d, &line, Fate::Dropped);
            return;
        }
        if !script.drop_if.is_empty() {
            // Our own bytes always parse; a failure here is a wire bug.
            let (_, tcp) = TcpRepr::from_ipv4_packet(&bytes, ChecksumMode::Verify)
                .expect("the simulator's own segment does not parse");
            if script.drop_if.iter_mut().any(|p| p(&tcp)) {
                self.record(d, &line, Fate::Dropped);
                return;
            }
        }
        if let Some(sent) = &mut self.sent {
            sent.push((self.now, bytes.clone()));
        }
        let script = &mut self.script[d];
        if script.hold_next > 0 {
            script.hold_next -= 1;
            script.held.push((line.clone(), bytes));
            self.record(d, &line, Fate::Held);
            return;
        }
        let imp = self.impairments[d];
        if self.rng[d].chance(imp.loss) {
            self.record(d, &line, Fate::Lost);
            return;
        }
        let copies = if self.rng[d].chance(imp.duplicate) {
            self.record(d, &line, Fate::Duplicated);
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut copy = bytes.clone();
            let corrupted = self.rng[d].chance(imp.corrupt);
            if corrupted {
                let bit = self.rng[d].below(copy.len() as u64 * 8) as usize;
                copy[bit / 8] ^= 1 << (bit % 8);
                self.record(d, &line, Fate::Corrupted);
            }
            let mut delay = imp.delay + random_upto(&mut self.rng[d], imp.jitter);
            if self.rng[d].chance(imp.reorder) {
                delay += random_upto(&mut self.rng[d], imp.reorder_delay);
            }
            self.record(d, &line, Fate::Sent);
            self.push(d, self.now + delay, line.clone(), copy, corrupted);
        }
    }

    fn push(
        &mut self,
        dir: usize,
        deliver_at: Instant,
        line: String,
        bytes: Vec<u8>,
        corrupted: bool,
    ) {
        self.in_flight.push(Reverse(InFlight {
            deliver_at,
            id: self.next_id,
            dir,
            corrupted,
            line,
            bytes,
        }));
        self.next_id += 1;
    }

    /// Parses a datagram as the receiving host would (checksums verified)
    /// and hands it to the receiving endpoint.
    fn deliver(&mut self, p: InFlight) {
        let mode = if p.corrupted || self.verify_all {
            ChecksumMode::Verify
        } else {
            ChecksumMode::Skip
        };
        match TcpRepr::from_ipv4_packet(&p.bytes, mode) {
            Ok((ip, tcp)) => {
                let line = tcp_line_absolute(ip.src, ip.dst, &tcp);
                self.record(p.dir, &line, Fate::Delivered);
                let receiver = 1 - p.dir;
                self.endpoints[receiver]
                    .conn
                    .handle_segment_from(self.now, ip.src, &tcp);
            }
            Err(e) => self.record(p.dir, &p.line, Fate::Rejected(e)),
        }
    }
}

fn random_upto(rng: &mut Rng, max: Duration) -> Duration {
    let us = max.as_micros() as u64;
    if us == 0 {
        Duration::ZERO
    } else {
        Duration::from_micros(rng.below(us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(sim: &Sim) -> bool {
        sim.a().state() == State::Established && sim.b().state() == State::Established
    }

    #[test]
    fn clean_handshake_takes_three_segments_and_one_rtt_and_a_half() {
        let mut sim = Sim::client_server(1, Config::default());
        sim.run_until(done, 100).unwrap();
        let sent: Vec<&TraceEntry> = sim
            .trace()
            .iter()
            .filter(|e| e.fate == Fate::Sent)
            .collect();
        assert_eq!(sent.len(), 3, "{}", sim.trace_text());
        assert!(sent[0].line.contains("Flags [S],"));
        assert!(sent[1].line.contains("Flags [S.],"));
        assert!(sent[2].line.contains("Flags [.],"));
        // A is established after one RTT (20 ms); B after the third segment.
        assert_eq!(sim.now(), Instant::from_millis(30));
    }

    #[test]
    fn idle_is_reported() {
        let mut sim = Sim::client_server(1, Config::default());
        sim.drop_if(Dir::AtoB, |_| true);
        let err = sim
            .run_until(|s| s.b().state() == State::Established, 1000)
            .unwrap_err();
        // A gives up after its SYN retries; then nothing is left to do.
        assert!(matches!(err, SimError::Idle(_)), "{err}");
        assert_eq!(sim.a().state(), State::Closed);
    }

    #[test]
    fn livelock_is_reported() {
        let mut sim = Sim::client_server(1, Config::default());
        sim.drop_if(Dir::AtoB, |_| true);
        assert_eq!(
            sim.run_until(|s| s.b().state() == State::Established, 3),
            Err(SimError::Livelock(3))
        );
    }
}
