//! An in-memory link on a virtual clock, for tests that need no root and
//! finish in microseconds.
//!
//! Frames sent through [`MemLink`] are shown to each [`Responder`] (a
//! scripted neighbour); what they answer is delivered after the delay they
//! choose. Waiting in [`Link::recv`] moves the shared [`VirtualClock`]
//! straight to the next delivery or to the end of the wait, so a test of
//! "three requests one second apart" takes no real time at all.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use super::{Link, Received, RxChecksum};
use crate::clock::{Clock, WallAnchor};
use crate::time::Instant;
use crate::wire::MacAddr;
use crate::wire::arp::ArpRepr;

/// What a poll of the link that finds nothing costs in virtual time.
pub const POLL_COST: Duration = Duration::from_micros(1);

/// A clock that only moves when the link waits.
#[derive(Debug, Clone, Default)]
pub struct VirtualClock(Rc<Cell<Instant>>);

impl VirtualClock {
    /// The wall clock at virtual time zero, in milliseconds since the
    /// Unix epoch (2023-11-14 22:13:20 UTC): fixed, so that what a test
    /// writes dated (a cache file) is exact.
    pub const WALL_EPOCH_MS: u64 = 1_700_000_000_000;

    /// The wall clock at virtual time `t`.
    pub fn wall_at(t: Instant) -> SystemTime {
        let epoch = Duration::from_millis(VirtualClock::WALL_EPOCH_MS);
        SystemTime::UNIX_EPOCH + epoch + (t - Instant::ZERO)
    }

    pub fn get(&self) -> Instant {
        self.0.get()
    }

    fn advance_to(&self, t: Instant) {
        if t > self.0.get() {
            self.0.set(t);
        }
    }
}

impl Clock for VirtualClock {
    fn now(&mut self) -> Instant {
        self.get()
    }

    fn wall(&mut self) -> SystemTime {
        VirtualClock::wall_at(self.get())
    }

    /// Exact: both time lines are this one, so stamps on its wall clock
    /// land where they were taken.
    fn anchor(&self) -> Option<WallAnchor> {
        let t = self.get() - Instant::ZERO;
        Some(WallAnchor::new(VirtualClock::wall_at(self.get()), t, t))
    }
}

/// A scripted neighbour: sees every frame sent, answers some, and may
/// keep timers of its own (a TCP peer retransmitting).
pub trait Responder {
    /// Frames to deliver back, each after its own delay.
    fn on_frame(&mut self, now: Instant, frame: &[u8]) -> Vec<(Duration, Vec<u8>)>;

    /// When the responder next wants [`Responder::on_time`].
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Its timers fired at `now`: frames to deliver, each after its delay.
    fn on_time(&mut self, _now: Instant) -> Vec<(Duration, Vec<u8>)> {
        Vec::new()
    }
}

/// The in-memory link.
pub struct MemLink {
    clock: VirtualClock,
    responders: Vec<Box<dyn Responder>>,
    inflight: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
    next_id: u64,
    delivered: Vec<u8>,
    /// Frames still to deliver before receiving fails, when it is to.
    fail_after: Option<usize>,
    /// Every frame sent, with the virtual time it left.
    pub sent: Vec<(Instant, Vec<u8>)>,
}

impl MemLink {
    pub fn new(clock: VirtualClock) -> MemLink {
        MemLink {
            clock,
            responders: Vec::new(),
            inflight: BinaryHeap::new(),
            next_id: 0,
            delivered: Vec::new(),
            fail_after: None,
            sent: Vec::new(),
        }
    }

    /// After `frames` more frames received, every receive fails (as when
    /// the interface goes away: `ENETDOWN`); sending still works, so what
    /// a machine says on its way out is seen.
    pub fn failing_after(mut self, frames: usize) -> MemLink {
        self.fail_after = Some(frames);
        self
    }

    pub fn with(mut self, responder: impl Responder + 'static) -> MemLink {
        self.responders.push(Box::new(responder));
        self
    }

    /// Queues a frame to arrive at `at`, as if some host had sent it.
    pub fn inject(&mut self, at: Instant, frame: Vec<u8>) {
        self.inflight.push(Reverse((at, self.next_id, frame)));
        self.next_id += 1;
    }
}

impl Link for MemLink {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        let now = self.clock.get();
        self.sent.push((now, frame.to_vec()));
        let replies: Vec<_> = self
            .responders
            .iter_mut()
            .flat_map(|r| r.on_frame(now, frame))
            .collect();
        for (delay, reply) in replies {
            self.inject(now + delay, reply);
        }
        Ok(())
    }

    fn recv(&mut self, timeout: Duration) -> io::Result<Option<Received<'_>>> {
        if self.fail_after == Some(0) {
            return Err(io::Error::from_raw_os_error(libc::ENETDOWN));
        }
        let deadline = self.clock.get() + timeout;
        // Responder timers due before the next delivery and the end of the
        // wait fire first; what they send may be the next delivery.
        loop {
            let next_delivery = self.inflight.peek().map(|Reverse((at, _, _))| *at);
            let Some(timer) = self
                .responders
                .iter()
                .filter_map(|r| r.poll_timeout())
                .min()
            else {
                break;
            };
            if timer > deadline || next_delivery.is_some_and(|d| d <= timer) {
                break;
            }
            self.clock.advance_to(timer);
            let now = self.clock.get();
            let frames: Vec<_> = self
                .responders
                .iter_mut()
                .filter(|r| r.poll_timeout().is_some_and(|t| t <= now))
                .flat_map(|r| r.on_time(now))
                .collect();
            for (delay, frame) in frames {
                self.inject(now + delay, frame);
            }
        }
        match self.inflight.peek() {
            Some(Reverse((at, _, _))) if *at <= deadline => {
                let Reverse((at, _, frame)) = self.inflight.pop().expect("peeked");
                if let Some(n) = &mut self.fail_after {
                    *n -= 1;
                }
                self.clock.advance_to(at);
                self.delivered = frame;
                Ok(Some(Received {
                    frame: &self.delivered,
                    checksum: RxChecksum::Unknown,
                    stamp: None,
                }))
            }
            // A poll that finds nothing takes a moment, as a real one does:
            // a loop that polls until a deadline (the driver's spin after a
            // send) reaches it.
            _ if timeout.is_zero() => {
                self.clock.advance_to(deadline + POLL_COST);
                Ok(None)
            }
            _ => {
                self.clock.advance_to(deadline);
                Ok(None)
            }
        }
    }
}

/// A neighbour that answers ARP the way Linux does: a unicast reply to the
/// requester for each address it owns, DAD probes answered to 0.0.0.0.
pub struct ArpNeighbour {
    pub mac: MacAddr,
    pub ips: Vec<Ipv4Addr>,
    pub latency: Duration,
    /// Requests to ignore before answering (a host slow to wake up).
    pub ignore_first: u32,
    /// Requests seen, answered or not.
    pub requests_seen: Rc<Cell<u32>>,
}

impl ArpNeighbour {
    pub fn new(mac: MacAddr, ips: impl IntoIterator<Item = Ipv4Addr>) -> ArpNeighbour {
        ArpNeighbour {
            mac,
            ips: ips.into_iter().collect(),
            latency: Duration::from_micros(80),
            ignore_first: 0,
            requests_seen: Rc::default(),
        }
    }
}

impl Responder for ArpNeighbour {
    fn on_frame(&mut self, _now: Instant, frame: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        let Ok((eth, arp)) = ArpRepr::from_frame(frame) else {
            return Vec::new();
        };
        let for_us = eth.dst.is_broadcast() || eth.dst == self.mac;
        let reply = self
            .ips
            .iter()
            .find_map(|ip| arp.reply_for(self.mac, *ip))
            .filter(|_| for_us);
        let Some(reply) = reply else {
            return Vec::new();
        };
        self.requests_seen.set(self.requests_seen.get() + 1);
        if self.ignore_first > 0 {
            self.ignore_first -= 1;
            return Vec::new();
        }
        vec![(self.latency, reply.to_frame(self.mac, arp.sender_mac))]
    }
}
