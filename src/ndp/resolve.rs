//! Resolving one IPv6 address with the NUD cache in front of the wire.
//!
//! - a **REACHABLE** entry answers at once; no frame leaves;
//! - a **STALE** entry (or one a dead run left in DELAY or PROBE) is
//!   probed at once by unicast, as NUD's PROBE state does: a one-shot
//!   resolution has no upper-layer traffic that DELAY could wait for. If
//!   the cached address stays silent the entry is gone and the address is
//!   solicited by multicast (the neighbour may have changed its card);
//! - **no entry**: INCOMPLETE, multicast solicitations to the target's
//!   solicited-node group;
//! - with `use_cache = false` the wire is asked by multicast whatever the
//!   cache holds, and an answer that contradicts the old entry is
//!   reported as a conflict;
//! - **ping** (`-c N`): N multicast solicitations, `interval` apart, every
//!   advertisement reported with its round trip.
//!
//! The cache's timers drive the solicitations (see [`super::cache`]); this
//! machine turns its `Solicit` events into frames and feeds it the
//! advertisements that answer. Two link-layer addresses answering one
//! resolution leave no answer: neither is believed.

use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::time::Duration;

use super::cache::{self, Cache, Entry, Learned, SolicitTo, State, Timing};
use crate::arp::resolve::WallClock;
use crate::machine::{Machine, RxChecksum};
use crate::time::Instant;
use crate::wire::icmpv6::{Icmpv6Repr, parse_frame};
use crate::wire::ipv6::{multicast_mac, solicited_node};
use crate::wire::ndp::{NaFlags, NdpRepr};
use crate::wire::{MacAddr, WireError};

/// How to resolve.
#[derive(Debug, Clone)]
pub struct Settings {
    pub iface: String,
    pub ifindex: u32,
    /// Our link-layer address and the IPv6 address we solicit from.
    pub mac: MacAddr,
    pub source: Ipv6Addr,
    pub target: Ipv6Addr,
    pub use_cache: bool,
    /// Solicitations (`max_multicast`), their spacing and the last wait.
    pub timing: Timing,
    /// Ping mode: this many solicitations, all sent.
    pub ping: Option<u32>,
}

/// What happened, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A REACHABLE entry answered; nothing was sent.
    CacheHit { entry: Entry, left: Duration },
    /// The cache moved the target's entry from one state to another.
    Transition {
        mac: Option<MacAddr>,
        from: Option<State>,
        to: State,
    },
    /// A solicitation left.
    Sent { nth: u32, to: SolicitTo },
    /// An advertisement for the target, with the round trip from the
    /// latest solicitation, and what the cache made of it.
    Advert {
        mac: MacAddr,
        flags: NaFlags,
        rtt: Duration,
        nth: u32,
        learned: Learned,
    },
    /// With `use_cache = false`: the wire answered otherwise than the
    /// entry the cache held.
    CacheConflict { cached: MacAddr, mac: MacAddr },
    /// Two link-layer addresses answered: neither is believed.
    Conflict { first: MacAddr, other: MacAddr },
    /// The cached address did not answer its unicast probes: the entry is
    /// gone, and the address is solicited by multicast.
    ProbeFailed { entry: Entry },
    /// Every solicitation went unanswered.
    Unanswered { sent: u32 },
}

/// One address being resolved.
pub struct Resolution<'c> {
    cache: &'c mut Cache,
    settings: Settings,
    wall: WallClock,
    outgoing: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    answer: Option<MacAddr>,
    /// The entry the cache held when `use_cache` is false.
    previous: Option<MacAddr>,
    conflicted: bool,
    /// The latest solicitation: when, and its number.
    last_sent: Option<(Instant, u32)>,
    sent: u64,
    /// Ping mode: the next solicitation's time and number, and the end.
    ping_next: Option<(Instant, u32)>,
    ping_end: Option<Instant>,
    malformed: u64,
    done: bool,
}

impl<'c> Resolution<'c> {
    pub fn new(
        now: Instant,
        wall: WallClock,
        cache: &'c mut Cache,
        settings: Settings,
    ) -> Resolution<'c> {
        cache.set_timing(settings.timing);
        let now_ms = wall.unix_ms(now);
        // What a previous run left has aged since it was saved.
        cache.handle_timeout(now_ms);
        while cache.poll_event().is_some() {}
        let mut r = Resolution {
            cache,
            settings,
            wall,
            outgoing: VecDeque::new(),
            events: VecDeque::new(),
            answer: None,
            previous: None,
            conflicted: false,
            last_sent: None,
            sent: 0,
            ping_next: None,
            ping_end: None,
            malformed: 0,
            done: false,
        };
        let (iface, idx, target) = (
            r.settings.iface.clone(),
            r.settings.ifindex,
            r.settings.target,
        );
        let entry = r.cache.lookup(&iface, idx, target).cloned();
        if let Some(n) = r.settings.ping {
            r.previous = entry.as_ref().and_then(|e| e.mac);
            if entry.is_none() {
                r.cache.solicit(now_ms, &iface, idx, target);
                // The resolver paces a ping itself: the cache's own first
                // solicitation is dropped, its timers are never run.
                while r.cache.poll_event().is_some() {}
            }
            r.ping_next = (n > 0).then_some((now, 1));
            if n == 0 {
                r.done = true;
            }
            return r;
        }
        match entry {
            Some(e) if r.settings.use_cache && e.state == State::Reachable => {
                r.answer = e.mac;
                let left = e.reachable_left(now_ms).unwrap_or_default();
                r.events.push_back(Event::CacheHit { entry: e, left });
                r.done = true;
            }
            Some(_) if r.settings.use_cache => r.cache.probe_now(now_ms, &iface, target),
            Some(e) => {
                r.previous = e.mac;
                r.cache.remove(&iface, target);
                r.cache.solicit(now_ms, &iface, idx, target);
            }
            None => r.cache.solicit(now_ms, &iface, idx, target),
        }
        r.pump(now);
        r
    }

    /// The link-layer address the target resolved to, once known; `None`
    /// after a conflict.
    pub fn answer(&self) -> Option<MacAddr> {
        self.answer.filter(|_| !self.conflicted)
    }

    /// Solicitations sent so far.
    pub fn frames_sent(&self) -> u64 {
        self.sent
    }

    /// Frames received that were not valid IPv6 neighbour discovery.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    fn now_ms(&self, now: Instant) -> u64 {
        self.wall.unix_ms(now)
    }

    /// A Neighbor Solicitation for the target, to its solicited-node
    /// group or to `to`'s address, from our address with our link-layer
    /// address (RFC 4861 §7.2.2).
    fn solicitation(&self, to: SolicitTo) -> Vec<u8> {
        let s = &self.settings;
        let (dst_ip, dst_mac) = match to {
            SolicitTo::Multicast => {
                let g = solicited_node(s.target);
                (g, multicast_mac(g))
            }
            SolicitTo::Unicast(mac) => (s.target, mac),
        };
        Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
            target: s.target,
            source_lladdr: Some(s.mac),
        })
        .frame((s.mac, dst_mac), (s.source, dst_ip))
    }

    fn send(&mut self, now: Instant, nth: u32, to: SolicitTo) {
        let frame = self.solicitation(to);
        self.outgoing.push_back(frame);
        self.sent += 1;
        self.last_sent = Some((now, nth));
        self.events.push_back(Event::Sent { nth, to });
    }

    /// Moves the cache's events into frames and ours, and decides whether
    /// the resolution is over.
    fn pump(&mut self, now: Instant) {
        let target = self.settings.target;
        while let Some(ev) = self.cache.poll_event() {
            match ev {
                cache::Event::Solicit { ip, to, nth, .. } if ip == target => {
                    self.send(now, nth, to)
                }
                cache::Event::Transition {
                    ip, mac, from, to, ..
                } if ip == target => self.events.push_back(Event::Transition { mac, from, to }),
                cache::Event::Gone { entry } if entry.ip == target => {
                    if entry.state == State::Probe {
                        self.events.push_back(Event::ProbeFailed { entry });
                        let now_ms = self.now_ms(now);
                        let (iface, idx) = (self.settings.iface.clone(), self.settings.ifindex);
                        self.cache.solicit(now_ms, &iface, idx, target);
                    } else {
                        self.events.push_back(Event::Unanswered {
                            sent: entry.solicits,
                        });
                        self.done = true;
                    }
                }
                _ => {}
            }
        }
    }

    fn handle_ndp(&mut self, now: Instant, dst: Ipv6Addr, ndp: &NdpRepr) {
        let NdpRepr::NeighborAdvert {
            flags,
            target,
            target_lladdr,
        } = ndp
        else {
            return;
        };
        let s = &self.settings;
        if *target != s.target || self.done {
            return;
        }
        // Solicited answers come back to the address we solicited from;
        // anything else is overheard.
        let ours = dst == s.source && self.last_sent.is_some();
        let (iface, idx) = (s.iface.clone(), s.ifindex);
        // An answer to a unicast solicitation may leave the address out
        // (RFC 4861 §7.2.4; Linux does): it is the one the entry holds.
        let cached = self.cache.lookup(&iface, idx, *target).and_then(|e| e.mac);
        let Some(mac) = target_lladdr.or(cached) else {
            return; // nothing to learn or report
        };
        let now_ms = self.now_ms(now);
        let learned =
            self.cache
                .handle_advert(now_ms, (&iface, idx), *target, *flags, *target_lladdr, ours);
        let (rtt, nth) = self
            .last_sent
            .map_or((Duration::ZERO, 0), |(at, n)| (now - at, n));
        if learned == Learned::Ignored {
            self.pump(now);
            return;
        }
        self.events.push_back(Event::Advert {
            mac,
            flags: *flags,
            rtt,
            nth,
            learned: learned.clone(),
        });
        // RFC 4861 §7.2.5: O=0 with another address updates nothing; the
        // cache kept its address, so the new one is no answer either.
        if matches!(
            learned,
            Learned::Conflict {
                replaced: false,
                ..
            }
        ) {
            self.pump(now);
            return;
        }
        match self.answer {
            Some(first) if first != mac => {
                self.conflicted = true;
                self.cache.remove(&iface, *target);
                self.events.push_back(Event::Conflict { first, other: mac });
                self.done = true;
            }
            Some(_) => {}
            None => {
                self.answer = Some(mac);
                if let Some(cached) = self.previous.filter(|c| *c != mac) {
                    self.events.push_back(Event::CacheConflict { cached, mac });
                }
                if self.settings.ping.is_none() {
                    self.done = true;
                }
            }
        }
        self.pump(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.done {
            return;
        }
        if let Some(n) = self.settings.ping {
            if let Some((_, nth)) = self.ping_next.filter(|(at, _)| *at <= now) {
                self.send(now, nth, SolicitTo::Multicast);
                self.ping_next = (nth < n).then(|| (now + self.settings.timing.retrans, nth + 1));
                if nth == n {
                    self.ping_end = Some(now + self.settings.timing.last_wait);
                }
            }
            if self.ping_end.is_some_and(|end| end <= now) {
                self.done = true;
                let iface = self.settings.iface.clone();
                let target = self.settings.target;
                if self.answer.is_none() {
                    self.events.push_back(Event::Unanswered {
                        sent: u32::try_from(self.sent).unwrap_or(u32::MAX),
                    });
                }
                // An INCOMPLETE entry nobody answered is not kept.
                if self
                    .cache
                    .lookup(&iface, self.settings.ifindex, target)
                    .is_some_and(|e| e.state == State::Incomplete)
                {
                    self.cache.remove(&iface, target);
                }
            }
            return;
        }
        let now_ms = self.now_ms(now);
        self.cache.handle_timeout(now_ms);
        self.pump(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        if self.settings.ping.is_some() {
            return match (self.ping_next, self.ping_end) {
                (Some((at, _)), _) => Some(at),
                (None, end) => end,
            };
        }
        let at_ms = self.cache.poll_timeout()?;
        let start_ms = self.wall.unix_ms(self.wall.at);
        Some(self.wall.at + Duration::from_millis(at_ms.saturating_sub(start_ms)))
    }
}

impl Machine for Resolution<'_> {
    type Event = Event;

    fn handle_frame(&mut self, now: Instant, frame: &[u8], checksum: RxChecksum) {
        match parse_frame(frame, !checksum.kernel_vouches()) {
            Ok((_, ip, Icmpv6Repr::Ndp(ndp))) => self.handle_ndp(now, ip.dst, &ndp),
            // Other IPv6 traffic, and ARP, which the link's filter lets by.
            Ok(_) | Err(WireError::Unsupported(_)) => {}
            Err(_) => self.malformed += 1,
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        Resolution::handle_timeout(self, now)
    }
    fn poll_transmit(&mut self, _now: Instant) -> Option<Vec<u8>> {
        self.outgoing.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Resolution::poll_timeout(self)
    }
    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
    fn is_done(&self) -> bool {
        self.done && self.outgoing.is_empty()
    }
}

#[cfg(test)]
mod tests;
