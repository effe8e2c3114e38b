//! Resolving one address with the cache in front of the wire.
//!
//! - a **fresh** entry answers at once; no frame leaves;
//! - a **stale** entry is re-validated with a unicast request to the MAC
//!   it names (RFC 1122 §2.3.2.1's "unicast poll"); if that MAC stays
//!   silent the entry is dropped and the address is asked for by broadcast
//!   (the neighbour may have changed its hardware);
//! - an **expired** entry is dropped and the address asked for by broadcast;
//! - with `use_cache = false` the wire is asked whatever the cache holds,
//!   and the answer still goes through [`Cache::learn`], so a contradiction
//!   is reported as a conflict.
//!
//! Every answer is recorded through [`Cache::learn`]; see the poisoning
//! policy in [`super::cache`]. Two MACs answering one request (within the
//! prober's [`probe::CONFLICT_WINDOW`]) leave no answer at all: neither is
//! cached, and [`Resolution::answer`] stays `None`.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

use super::cache::{Cache, Entry, Freshness, Learned, UnixMillis};
use super::probe::{self, Prober, Target, Until};
use crate::time::Instant;
use crate::wire::MacAddr;
use crate::wire::arp::ArpRepr;

/// Maps the driver's monotonic instants onto the wall clock that dates
/// cache entries, from one reading taken when the resolution started.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    pub at: Instant,
    pub unix_ms: UnixMillis,
}

impl WallClock {
    pub fn unix_ms(&self, now: Instant) -> UnixMillis {
        self.unix_ms + u64::try_from((now - self.at).as_millis()).unwrap_or(u64::MAX)
    }
}

/// How to resolve.
#[derive(Debug, Clone)]
pub struct Settings {
    pub iface: String,
    /// The interface's kernel index (see [`Entry::ifindex`]).
    pub ifindex: u32,
    pub target: Ipv4Addr,
    /// Lifetime given to what is learned.
    pub ttl: Duration,
    /// Consult the cache before the wire.
    pub use_cache: bool,
    /// Requests, spacing and timeout for the broadcast; the unicast
    /// re-validation uses the same spacing with at most two requests.
    pub probe: probe::Config,
}

/// What happened, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A fresh entry answered; nothing was sent.
    CacheHit {
        entry: Entry,
        age: Duration,
        left: Duration,
    },
    /// A stale entry is being re-validated by unicast.
    Revalidating { entry: Entry, age: Duration },
    /// The cached MAC did not answer; the entry is gone and the address
    /// is asked for by broadcast.
    RevalidationFailed { entry: Entry },
    /// An expired entry was dropped before asking the wire.
    Expired { entry: Entry },
    /// What the prober reported (requests, replies, conflicts, silence).
    Probe(probe::Event),
    /// What the cache made of an answer.
    Learned { mac: MacAddr, learned: Learned },
}

/// Records what a prober event teaches the cache, under the poisoning
/// policy of [`super::cache`]: a first reply from a MAC is learned, two MACs
/// for one address make both untrusted. Returns what the cache made of a
/// reply.
pub fn record(
    cache: &mut Cache,
    iface: &str,
    ifindex: u32,
    now_ms: UnixMillis,
    ttl: Duration,
    event: &probe::Event,
) -> Option<Learned> {
    match event {
        probe::Event::Reply {
            target,
            mac,
            repeat: false,
            ..
        } => Some(cache.learn(iface, ifindex, *target, *mac, now_ms, ttl)),
        probe::Event::Conflict { target, .. } => {
            cache.remove(iface, *target);
            None
        }
        _ => None,
    }
}

enum Phase {
    Revalidating(Prober, Entry),
    Broadcasting(Prober),
    Done,
}

/// One address being resolved.
pub struct Resolution<'c> {
    cache: &'c mut Cache,
    settings: Settings,
    wall: WallClock,
    phase: Phase,
    events: VecDeque<Event>,
    answer: Option<MacAddr>,
    /// Two MACs claimed the address: no answer is believed any more.
    conflicted: bool,
    frames_sent: u64,
    malformed: u64,
}

impl<'c> Resolution<'c> {
    pub fn new(
        now: Instant,
        wall: WallClock,
        cache: &'c mut Cache,
        settings: Settings,
    ) -> Resolution<'c> {
        let mut r = Resolution {
            cache,
            settings,
            wall,
            phase: Phase::Done,
            events: VecDeque::new(),
            answer: None,
            conflicted: false,
            frames_sent: 0,
            malformed: 0,
        };
        let now_ms = wall.unix_ms(now);
        let cached = r
            .cache
            .lookup(
                &r.settings.iface,
                r.settings.ifindex,
                r.settings.target,
                now_ms,
            )
            .map(|(e, f)| (e.clone(), f));
        r.phase = match cached {
            Some((entry, Freshness::Fresh { age, left })) if r.settings.use_cache => {
                r.answer = Some(entry.mac);
                r.events.push_back(Event::CacheHit { entry, age, left });
                Phase::Done
            }
            Some((entry, Freshness::Stale { age })) if r.settings.use_cache => {
                let mut cfg = r.settings.probe.clone();
                cfg.tries = cfg.tries.min(2);
                cfg.until = Until::FirstReply;
                let target = Target {
                    ip: r.settings.target,
                    dst: entry.mac,
                };
                r.events.push_back(Event::Revalidating {
                    entry: entry.clone(),
                    age,
                });
                Phase::Revalidating(Prober::new(now, cfg, [target]), entry)
            }
            Some((entry, Freshness::Expired)) => {
                r.cache.remove(&entry.iface, entry.ip);
                r.events.push_back(Event::Expired { entry });
                r.broadcast(now)
            }
            _ => r.broadcast(now),
        };
        r
    }

    fn broadcast(&self, now: Instant) -> Phase {
        Phase::Broadcasting(Prober::new(
            now,
            self.settings.probe.clone(),
            [Target::broadcast(self.settings.target)],
        ))
    }

    /// The MAC the address resolved to, once known; `None` after a
    /// conflict, whatever was heard before it.
    pub fn answer(&self) -> Option<MacAddr> {
        self.answer.filter(|_| !self.conflicted)
    }

    /// Requests sent so far (zero for a cache hit).
    pub fn frames_sent(&self) -> u64 {
        self.frames_sent + self.prober().map_or(0, Prober::frames_sent)
    }

    /// Frames received that were not valid ARP.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    pub(crate) fn count_malformed(&mut self) {
        self.malformed += 1;
    }

    fn prober(&self) -> Option<&Prober> {
        match &self.phase {
            Phase::Revalidating(p, _) | Phase::Broadcasting(p) => Some(p),
            Phase::Done => None,
        }
    }

    fn prober_mut(&mut self) -> Option<&mut Prober> {
        match &mut self.phase {
            Phase::Revalidating(p, _) | Phase::Broadcasting(p) => Some(p),
            Phase::Done => None,
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        let frame = self.prober_mut()?.poll_transmit(now);
        self.pump(now);
        frame
    }

    pub fn handle_arp(&mut self, now: Instant, arp: &ArpRepr) {
        if let Some(p) = self.prober_mut() {
            p.handle_arp(now, arp);
        }
        self.pump(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(p) = self.prober_mut() {
            p.handle_timeout(now);
        }
        self.pump(now);
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.prober()?.poll_timeout()
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Moves the prober's events through the cache and advances phases.
    fn pump(&mut self, now: Instant) {
        let now_ms = self.wall.unix_ms(now);
        let (iface, ttl) = (self.settings.iface.clone(), self.settings.ttl);
        let mut revalidation_failed = false;
        while let Some(ev) = self.prober_mut().and_then(Prober::poll_event) {
            let learned = record(self.cache, &iface, self.settings.ifindex, now_ms, ttl, &ev);
            match ev {
                probe::Event::Reply { mac, .. } => self.answer = Some(mac),
                probe::Event::Conflict { .. } => self.conflicted = true,
                _ => {}
            }
            if matches!(ev, probe::Event::Unanswered { .. })
                && matches!(self.phase, Phase::Revalidating(..))
            {
                revalidation_failed = true;
            }
            let mac = match ev {
                probe::Event::Reply { mac, .. } => Some(mac),
                _ => None,
            };
            self.events.push_back(Event::Probe(ev));
            if let (Some(mac), Some(learned)) = (mac, learned) {
                self.events.push_back(Event::Learned { mac, learned });
            }
        }
        let finished = self.prober().is_some_and(Prober::is_done);
        if !finished {
            return;
        }
        let sent = self.prober().map_or(0, Prober::frames_sent);
        self.frames_sent += sent;
        let old = std::mem::replace(&mut self.phase, Phase::Done);
        if let (Phase::Revalidating(_, entry), true) = (old, revalidation_failed) {
            self.cache.remove(&entry.iface, entry.ip);
            self.events.push_back(Event::RevalidationFailed { entry });
            self.phase = self.broadcast(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arp::probe::{CONFLICT_WINDOW, Mode};
    use crate::wire::arp::Operation;
    use rstest::rstest;

    const US: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
    const ME: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
    const PEER: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);
    const OLD: MacAddr = MacAddr(0xd6, 0, 0, 0, 0, 7);
    const NEW: MacAddr = MacAddr(0xd6, 0, 0, 0, 0, 8);
    const T0: UnixMillis = 1_700_000_000_000;
    const TTL: Duration = Duration::from_secs(60);

    fn settings(use_cache: bool) -> Settings {
        Settings {
            iface: "eth0".into(),
            ifindex: 7,
            target: PEER,
            ttl: TTL,
            use_cache,
            probe: probe::Config {
                mode: Mode::Request,
                until: Until::FirstReply,
                mac: US,
                sender_ip: ME,
                tries: 3,
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
                rate: None,
            },
        }
    }

    /// A cache whose entry for PEER was learned `age_ms` before T0.
    fn cache_aged(age_ms: u64) -> Cache {
        let mut c = Cache::new();
        c.learn("eth0", 7, PEER, OLD, T0 - age_ms, TTL);
        c
    }

    fn wall() -> WallClock {
        WallClock {
            at: Instant::ZERO,
            unix_ms: T0,
        }
    }

    fn reply(from: MacAddr) -> ArpRepr {
        ArpRepr {
            operation: Operation::Reply,
            sender_mac: from,
            sender_ip: PEER,
            target_mac: US,
            target_ip: ME,
        }
    }

    fn sent_to(r: &mut Resolution, now: Instant) -> Vec<MacAddr> {
        std::iter::from_fn(|| r.poll_transmit(now))
            .map(|f| ArpRepr::from_frame(&f).unwrap().0.dst)
            .collect()
    }

    fn drain(r: &mut Resolution) -> Vec<Event> {
        std::iter::from_fn(|| r.poll_event())
            .filter(|e| !matches!(e, Event::Probe(probe::Event::Sent { .. })))
            .collect()
    }

    #[test]
    fn fresh_entry_answers_without_a_frame() {
        let mut cache = cache_aged(10_000);
        let mut r = Resolution::new(Instant::ZERO, wall(), &mut cache, settings(true));
        assert!(r.is_done());
        assert_eq!(r.answer(), Some(OLD));
        assert!(sent_to(&mut r, Instant::ZERO).is_empty());
        assert_eq!(r.frames_sent(), 0);
        assert!(
            matches!(&drain(&mut r)[..], [Event::CacheHit { age, left, .. }]
            if *age == Duration::from_secs(10) && *left == Duration::from_secs(50))
        );
    }

    #[test]
    fn stale_entry_is_revalidated_by_unicast_and_refreshed() {
        let mut cache = cache_aged(70_000);
        let mut r = Resolution::new(Instant::ZERO, wall(), &mut cache, settings(true));
        assert_eq!(sent_to(&mut r, Instant::ZERO), vec![OLD]);
        r.handle_arp(Instant::from_millis(2), &reply(OLD));
        assert!(r.is_done());
        assert_eq!(r.answer(), Some(OLD));
        let ev = drain(&mut r);
        assert!(matches!(ev[0], Event::Revalidating { .. }));
        assert!(matches!(
            ev.last(),
            Some(Event::Learned {
                learned: Learned::Confirmed,
                ..
            })
        ));
        // The clock restarted: fresh again from the reply's time.
        let (_, f) = cache.lookup("eth0", 7, PEER, T0 + 2).unwrap();
        assert!(matches!(f, Freshness::Fresh { age, .. } if age == Duration::ZERO));
    }

    #[test]
    fn silent_stale_entry_is_dropped_and_the_address_broadcast_for() {
        let mut cache = cache_aged(70_000);
        let mut r = Resolution::new(Instant::ZERO, wall(), &mut cache, settings(true));
        assert_eq!(sent_to(&mut r, Instant::ZERO), vec![OLD]);
        assert_eq!(sent_to(&mut r, Instant::from_millis(1000)), vec![OLD]);
        r.handle_timeout(Instant::from_millis(2000));
        // Unicast gave up after two requests; the broadcast starts at once.
        assert_eq!(
            sent_to(&mut r, Instant::from_millis(2000)),
            vec![MacAddr::broadcast()]
        );
        r.handle_arp(Instant::from_millis(2001), &reply(NEW));
        r.handle_timeout(Instant::from_millis(2001) + CONFLICT_WINDOW);
        assert!(r.is_done());
        assert_eq!(r.answer(), Some(NEW));
        assert_eq!(r.frames_sent(), 3);
        let ev = drain(&mut r);
        assert!(
            ev.iter()
                .any(|e| matches!(e, Event::RevalidationFailed { entry } if entry.mac == OLD))
        );
        // The old entry was dropped before the new MAC came: it is new, not a conflict.
        assert!(matches!(
            ev.last(),
            Some(Event::Learned {
                mac: NEW,
                learned: Learned::New
            })
        ));
        assert_eq!(cache.lookup("eth0", 7, PEER, T0 + 2051).unwrap().0.mac, NEW);
    }

    #[test]
    fn expired_entry_is_dropped_and_resolved_again() {
        let mut cache = cache_aged(240_000);
        let mut r = Resolution::new(Instant::ZERO, wall(), &mut cache, settings(true));
        assert_eq!(sent_to(&mut r, Instant::ZERO), vec![MacAddr::broadcast()]);
        r.handle_arp(Instant::from_millis(1), &reply(NEW));
        r.handle_timeout(Instant::from_millis(1) + CONFLICT_WINDOW);
        let ev = drain(&mut r);
        assert!(matches!(ev[0], Event::Expired { .. }));
        assert!(matches!(
            ev.last(),
            Some(Event::Learned {
                learned: Learned::New,
                ..
            })
        ));
    }

    #[test]
    fn no_cache_asks_the_wire_and_reports_a_contradiction() {
        let mut cache = cache_aged(1_000);
        let mut r = Resolution::new(Instant::ZERO, wall(), &mut cache, settings(false));
        assert_eq!(sent_to(&mut r, Instant::ZERO), vec![MacAddr::broadcast()]);
        r.handle_arp(Instant::from_millis(1), &reply(NEW));
        r.handle_timeout(Instant::from_millis(1) + CONFLICT_WINDOW);
        let ev = drain(&mut r);
        assert!(
            matches!(ev.last(), Some(Event::Learned { learned: Learned::Conflict { previous }, .. }) if previous.mac == OLD)
        );
        assert!(
            cache.lookup("eth0", 7, PEER, T0 + 51).is_none(),
            "a conflict must not be believed"
        );
    }

    #[rstest]
    #[case::at_once(Duration::from_micros(40), true)]
    #[case::late_in_the_window(CONFLICT_WINDOW - Duration::from_micros(1), true)]
    #[case::as_the_window_closes(CONFLICT_WINDOW, false)]
    #[case::after_the_window(CONFLICT_WINDOW + Duration::from_millis(5), false)]
    fn two_macs_answering_one_request(#[case] lag: Duration, #[case] conflict: bool) {
        let mut cache = Cache::new();
        let mut r = Resolution::new(Instant::ZERO, wall(), &mut cache, settings(true));
        assert_eq!(sent_to(&mut r, Instant::ZERO), vec![MacAddr::broadcast()]);
        let first = Instant::from_millis(1);
        r.handle_arp(first, &reply(OLD));
        // The driver wakes at whichever comes first: the second reply or
        // the end of the window.
        let second = first + lag;
        if r.poll_timeout().is_some_and(|t| t <= second) {
            r.handle_timeout(r.poll_timeout().unwrap());
        }
        if !r.is_done() {
            r.handle_arp(second, &reply(NEW));
        }
        assert!(r.is_done());
        let ev = drain(&mut r);
        if conflict {
            assert_eq!(r.answer(), None, "neither MAC is believed");
            assert!(
                matches!(
                    &ev[..],
                    [Event::Probe(probe::Event::Conflict {
                        first: OLD,
                        other: NEW,
                        ..
                    })]
                ),
                "{ev:?}"
            );
            assert!(cache.is_empty(), "neither MAC is cached");
        } else {
            assert_eq!(r.answer(), Some(OLD));
            assert!(
                !ev.iter()
                    .any(|e| matches!(e, Event::Probe(probe::Event::Conflict { .. }))),
                "{ev:?}"
            );
            assert_eq!(cache.len(), 1);
        }
    }

    #[test]
    fn nobody_answers() {
        let mut cache = Cache::new();
        let mut r = Resolution::new(Instant::ZERO, wall(), &mut cache, settings(true));
        for t in [0, 1000, 2000] {
            assert_eq!(sent_to(&mut r, Instant::from_millis(t)).len(), 1);
        }
        assert_eq!(r.poll_timeout(), Some(Instant::from_millis(3000)));
        r.handle_timeout(Instant::from_millis(3000));
        assert!(r.is_done());
        assert_eq!(r.answer(), None);
        assert!(cache.is_empty());
    }
}
