//! The ARP prober: sends requests to a set of targets and matches replies,
//! sans-IO. One engine serves every mode of `nettool arp`:
//!
//! - resolve one address (stop at the first reply, retry until then),
//! - ping an address N times (report every reply),
//! - sweep a subnet (many targets, a bounded frame rate, retries),
//! - re-validate a stale cache entry (unicast to the cached MAC),
//! - duplicate address detection (RFC 5227 probes from 0.0.0.0),
//! - unsolicited announcements (gratuitous ARP; nothing to match).
//!
//! The caller feeds it frames and the time, and drains `poll_transmit`,
//! `poll_event` and `poll_timeout`, quinn-proto style.
//!
//! A broadcast request may be answered by more than one host. So that a
//! second answer is not lost when the first one would end the target, a
//! first reply (in [`Until::FirstReply`] mode) is held for
//! [`CONFLICT_WINDOW`]: a different MAC inside the window turns it into a
//! [`Event::Conflict`] and no [`Event::Reply`] is reported; otherwise the
//! reply is reported when the window closes, and what comes later is
//! ignored.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::time::{Instant, earliest};
use crate::wire::MacAddr;
use crate::wire::arp::{ArpRepr, Operation};

/// How long a first reply to a broadcast request is held, listening for a
/// second MAC, before it is believed.
///
/// A broadcast reaches every host of the segment at once, so two hosts
/// answering one request differ only by their own reply latency: tens of
/// microseconds for Linux, a few milliseconds for a busy or embedded host.
/// 50 ms covers that with a wide margin while costing a resolution less
/// than a human notices, and it is far below the 1 s between requests.
/// What it does not cover: a host that delays its answer on purpose (Linux
/// proxy ARP waits up to `proxy_delay`, 0.8 s); `nettool arp -c N` listens
/// for the whole run and reports those too.
pub const CONFLICT_WINDOW: Duration = Duration::from_millis(50);

/// What kind of frames to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// who-has requests from our address; replies are matched.
    Request,
    /// RFC 5227 probes: sender IP 0.0.0.0, so no neighbour learns from
    /// them. Any host that claims the target address is reported.
    Dad,
    /// Gratuitous requests (sender IP = target IP = the announced address).
    AnnounceRequest,
    /// Gratuitous replies, as `arping -A` sends them.
    AnnounceReply,
}

impl Mode {
    /// How many frames a run of this mode sends when the user does not
    /// say: three requests to resolve an address; RFC 5227's PROBE_NUM
    /// probes and ANNOUNCE_NUM announcements.
    pub fn default_count(self) -> u32 {
        match self {
            Mode::Request => 3,
            Mode::Dad => super::PROBE_NUM,
            Mode::AnnounceRequest | Mode::AnnounceReply => super::ANNOUNCE_NUM,
        }
    }

    /// When a claim of an address in this mode is done: DAD at the first
    /// host that says it owns the address; an announcement once every
    /// frame is sent, since nobody answers it.
    pub fn claim_until(self) -> Until {
        match self {
            Mode::Request | Mode::Dad => Until::FirstReply,
            Mode::AnnounceRequest | Mode::AnnounceReply => Until::AllSent,
        }
    }
}

/// When a target counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// At its first answer (resolve, sweep, DAD).
    FirstReply,
    /// After every request has been sent and waited for (ping mode).
    AllSent,
}

/// How to probe.
#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub until: Until,
    /// Our hardware address, as sender and as Ethernet source.
    pub mac: MacAddr,
    /// Our protocol address (ignored by `Dad`, which sends 0.0.0.0).
    pub sender_ip: Ipv4Addr,
    /// Requests per target, at most (≥ 1).
    pub tries: u32,
    /// Time between two requests to the same target.
    pub interval: Duration,
    /// Time to wait for an answer after a target's last request.
    pub timeout: Duration,
    /// Bound on frames per second over all targets; `None` for no bound.
    pub rate: Option<u32>,
}

/// Where to send a target's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub ip: Ipv4Addr,
    /// `MacAddr::broadcast()`, or the cached MAC for a unicast re-validation.
    pub dst: MacAddr,
}

impl Target {
    pub fn broadcast(ip: Ipv4Addr) -> Target {
        Target {
            ip,
            dst: MacAddr::broadcast(),
        }
    }
}

/// What happened, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A request left (useful for traces; `attempt` counts from 1).
    Sent {
        target: Ipv4Addr,
        attempt: u32,
        arp: ArpRepr,
        dst: MacAddr,
    },
    /// An answer to one of our requests. `rtt` runs from the latest
    /// request to this target; ARP carries no identifier to do better.
    Reply {
        target: Ipv4Addr,
        mac: MacAddr,
        rtt: Duration,
        attempt: u32,
        /// This MAC had answered this target before (ping mode repeats).
        repeat: bool,
    },
    /// A second, different MAC answered for a target: two hosts claim
    /// the address.
    Conflict {
        target: Ipv4Addr,
        first: MacAddr,
        other: MacAddr,
    },
    /// DAD only: a host announced or probed for the address itself.
    Claimed {
        target: Ipv4Addr,
        mac: MacAddr,
        arp: ArpRepr,
    },
    /// Every request went unanswered.
    Unanswered { target: Ipv4Addr, attempts: u32 },
}

struct TargetState {
    target: Target,
    sent: u32,
    last_sent: Option<Instant>,
    /// With [`Until::AllSent`], the requests no reply has been matched to
    /// yet (number, when sent): a reply answers the oldest one still
    /// waiting, so requests sent faster than replies come (`--interval
    /// 0`) are each answered in turn. ARP carries no identifier; this
    /// order is the link's.
    waiting: std::collections::VecDeque<(u32, Instant)>,
    /// The MACs that answered, in order, at most [`MAX_MACS`].
    macs: Vec<MacAddr>,
    /// A first reply held until the conflict window closes, with the
    /// moment it does (see [`CONFLICT_WINDOW`]).
    held: Option<(Instant, Event)>,
    done: bool,
}

/// The most answering MACs remembered per target. Anyone on the link may
/// answer with any MAC; without a bound, replies from ever new MACs would
/// grow the list without end, each one searched on every reply. Past the
/// bound, a MAC not among the first ones is reported each time it answers
/// (it cannot be told from a repeat without keeping more), which the
/// bound's 64 conflicts already say is a link under attack.
const MAX_MACS: usize = 64;

/// Whether `mac` is new among `macs`; a new one is kept while there is
/// room ([`MAX_MACS`]).
fn first_from(macs: &mut Vec<MacAddr>, mac: MacAddr) -> bool {
    if macs.contains(&mac) {
        return false;
    }
    if macs.len() < MAX_MACS {
        macs.push(mac);
    }
    true
}

/// The prober. See the module documentation.
pub struct Prober {
    config: Config,
    targets: Vec<TargetState>,
    by_ip: HashMap<Ipv4Addr, usize>,
    /// Due requests, (when, target index); entries for finished targets
    /// are skipped when they surface.
    sends: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Deadlines after a target's last request.
    give_ups: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Earliest moment the rate bound lets the next frame out.
    next_tx: Instant,
    events: VecDeque<Event>,
    remaining: usize,
    malformed: u64,
}

impl Prober {
    /// A prober whose first requests are due at `now`, in target order.
    pub fn new(now: Instant, config: Config, targets: impl IntoIterator<Item = Target>) -> Prober {
        assert!(config.tries >= 1, "a prober must send at least one request");
        let mut p = Prober {
            config,
            targets: Vec::new(),
            by_ip: HashMap::new(),
            sends: BinaryHeap::new(),
            give_ups: BinaryHeap::new(),
            next_tx: now,
            events: VecDeque::new(),
            remaining: 0,
            malformed: 0,
        };
        for target in targets {
            if p.by_ip.contains_key(&target.ip) {
                continue; // a duplicate target would only send twice as much
            }
            let idx = p.targets.len();
            p.by_ip.insert(target.ip, idx);
            p.targets.push(TargetState {
                target,
                sent: 0,
                last_sent: None,
                waiting: std::collections::VecDeque::new(),
                macs: Vec::new(),
                held: None,
                done: false,
            });
            p.sends.push(Reverse((now, idx)));
        }
        p.remaining = p.targets.len();
        p
    }

    /// True once every target is answered or given up on.
    pub fn is_done(&self) -> bool {
        self.remaining == 0
    }

    /// Frames received that were not valid ARP.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    pub(crate) fn count_malformed(&mut self) {
        self.malformed += 1;
    }

    /// Total requests sent so far.
    pub fn frames_sent(&self) -> u64 {
        self.targets.iter().map(|t| u64::from(t.sent)).sum()
    }

    /// The next frame to send now, if one is due and the rate bound allows.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if now < self.next_tx {
            return None;
        }
        while let Some(&Reverse((when, idx))) = self.sends.peek() {
            if when > now {
                return None;
            }
            self.sends.pop();
            let t = &self.targets[idx];
            if t.done || t.held.is_some() {
                continue; // answered: no more requests
            }
            return Some(self.send(now, idx));
        }
        None
    }

    fn send(&mut self, now: Instant, idx: usize) -> Vec<u8> {
        let cfg = &self.config;
        let t = &mut self.targets[idx];
        t.sent += 1;
        t.last_sent = Some(now);
        if cfg.until == Until::AllSent {
            t.waiting.push_back((t.sent, now));
        }
        let ip = t.target.ip;
        let arp = match cfg.mode {
            Mode::Request => ArpRepr::request(cfg.mac, cfg.sender_ip, ip),
            Mode::Dad => ArpRepr::request(cfg.mac, Ipv4Addr::UNSPECIFIED, ip),
            Mode::AnnounceRequest => ArpRepr::request(cfg.mac, ip, ip),
            Mode::AnnounceReply => ArpRepr {
                operation: Operation::Reply,
                sender_mac: cfg.mac,
                sender_ip: ip,
                target_mac: cfg.mac,
                target_ip: ip,
            },
        };
        // A unicast re-validation names the MAC it expects (as the kernel
        // and arping do); a broadcast request leaves the target MAC zero.
        let arp = if t.target.dst.is_broadcast() || cfg.mode != Mode::Request {
            arp
        } else {
            ArpRepr {
                target_mac: t.target.dst,
                ..arp
            }
        };
        let dst = t.target.dst;
        let attempt = t.sent;
        if t.sent < cfg.tries {
            self.sends.push(Reverse((now + cfg.interval, idx)));
        } else {
            let wait = match cfg.mode {
                Mode::AnnounceRequest | Mode::AnnounceReply => Duration::ZERO,
                _ => cfg.timeout,
            };
            self.give_ups.push(Reverse((now + wait, idx)));
        }
        if let Some(rate) = cfg.rate.filter(|r| *r > 0) {
            self.next_tx = now + Duration::from_nanos(1_000_000_000 / u64::from(rate));
        }
        self.events.push_back(Event::Sent {
            target: ip,
            attempt,
            arp,
            dst,
        });
        arp.to_frame(cfg.mac, dst)
    }

    /// Feeds one received ARP packet (already parsed and validated).
    pub fn handle_arp(&mut self, now: Instant, arp: &ArpRepr) {
        if arp.sender_mac == self.config.mac {
            return; // our own frame, looped back
        }
        let Some(&idx) = self.by_ip.get(&arp.sender_ip) else {
            if self.config.mode == Mode::Dad
                && arp.sender_ip.is_unspecified()
                && arp.operation == Operation::Request
            {
                // RFC 5227 §2.1.1: another host probing for the same
                // address at the same time is a conflict too.
                if let Some(&idx) = self.by_ip.get(&arp.target_ip) {
                    self.claimed(idx, arp);
                }
            }
            return;
        };
        match self.config.mode {
            Mode::Dad => self.claimed(idx, arp),
            Mode::Request => self.reply(now, idx, arp),
            Mode::AnnounceRequest | Mode::AnnounceReply => {}
        }
    }

    fn claimed(&mut self, idx: usize, arp: &ArpRepr) {
        let t = &mut self.targets[idx];
        if t.sent == 0 || !first_from(&mut t.macs, arp.sender_mac) {
            return;
        }
        let target = t.target.ip;
        self.events.push_back(Event::Claimed {
            target,
            mac: arp.sender_mac,
            arp: *arp,
        });
        self.finish(idx);
    }

    fn reply(&mut self, now: Instant, idx: usize, arp: &ArpRepr) {
        let cfg = &self.config;
        // Only a reply to a request of ours is believed: addressed to our
        // own IP and MAC, from the address we asked for, after we asked.
        let addressed_to_us = arp.target_ip == cfg.sender_ip && arp.target_mac == cfg.mac;
        let t = &mut self.targets[idx];
        if arp.operation != Operation::Reply || !addressed_to_us {
            return;
        }
        let Some(last_sent) = t.last_sent else {
            return;
        };
        // A unicast re-validation asked one particular MAC.
        if !t.target.dst.is_broadcast() && arp.sender_mac != t.target.dst {
            return;
        }
        if t.done && cfg.until == Until::FirstReply {
            // A duplicate of an answer already reported, or a second MAC
            // after the conflict window closed: not this resolution's.
            return;
        }
        if let Some(&first) = t.macs.first().filter(|m| **m != arp.sender_mac) {
            if first_from(&mut t.macs, arp.sender_mac) {
                // Neither MAC is believed: the held reply is never reported.
                t.held = None;
                let target = t.target.ip;
                self.events.push_back(Event::Conflict {
                    target,
                    first,
                    other: arp.sender_mac,
                });
                if cfg.until == Until::FirstReply {
                    self.finish(idx);
                }
            }
            return;
        }
        if t.held.is_some() {
            return; // the same MAC again, inside the window
        }
        // The first MAC, or that MAC again (ping mode): kept once.
        let repeat = !first_from(&mut t.macs, arp.sender_mac);
        let (attempt, asked) = match cfg.until {
            Until::AllSent => {
                // Requests whose wait ended unanswered are not this one's.
                while t
                    .waiting
                    .front()
                    .is_some_and(|&(_, at)| at + cfg.timeout < now)
                {
                    t.waiting.pop_front();
                }
                t.waiting.pop_front().unwrap_or((t.sent, last_sent))
            }
            Until::FirstReply => (t.sent, last_sent),
        };
        let event = Event::Reply {
            target: t.target.ip,
            mac: arp.sender_mac,
            rtt: now - asked,
            attempt,
            repeat,
        };
        match cfg.until {
            Until::AllSent => self.events.push_back(event),
            // A unicast re-validation believes one MAC only (above), so
            // there is no second one to wait for.
            Until::FirstReply if !t.target.dst.is_broadcast() => {
                self.events.push_back(event);
                self.finish(idx);
            }
            Until::FirstReply => {
                let closes = now + CONFLICT_WINDOW;
                t.held = Some((closes, event));
                self.give_ups.push(Reverse((closes, idx)));
            }
        }
    }

    fn finish(&mut self, idx: usize) {
        if !self.targets[idx].done {
            self.targets[idx].done = true;
            self.remaining -= 1;
        }
    }

    /// Fires the deadlines that have passed at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((when, idx))) = self.give_ups.peek() {
            if when > now {
                break;
            }
            self.give_ups.pop();
            let t = &mut self.targets[idx];
            if t.done {
                continue;
            }
            if let Some((closes, _)) = &t.held {
                if *closes > now {
                    continue; // the last request's deadline; the window outlasts it
                }
                let (_, reply) = t.held.take().expect("checked");
                self.events.push_back(reply);
                self.finish(idx);
                continue;
            }
            let answered = !t.macs.is_empty();
            let announcing = matches!(
                self.config.mode,
                Mode::AnnounceRequest | Mode::AnnounceReply
            );
            if !answered && !announcing {
                let event = Event::Unanswered {
                    target: t.target.ip,
                    attempts: t.sent,
                };
                self.events.push_back(event);
            }
            self.finish(idx);
        }
    }

    /// When the prober next needs the caller: a request falling due (no
    /// earlier than the rate bound allows) or a give-up deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_done() {
            return None;
        }
        let send = self
            .sends
            .peek()
            .map(|Reverse((when, _))| (*when).max(self.next_tx));
        let give_up = self.give_ups.peek().map(|Reverse((when, _))| *when);
        earliest(send, give_up)
    }

    /// The next event, in the order things happened.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const US: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
    const ME: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
    const PEER: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);

    fn mac(last: u8) -> MacAddr {
        MacAddr::new(0xd6, 0, 0, 0, 0, last)
    }

    fn config(mode: Mode, until: Until, tries: u32) -> Config {
        Config {
            mode,
            until,
            mac: US,
            sender_ip: ME,
            tries,
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            rate: None,
        }
    }

    /// A prober asking about PEER alone, from time 0.
    fn asking_peer(mode: Mode, until: Until, tries: u32) -> Prober {
        Prober::new(at(0), config(mode, until, tries), [Target::broadcast(PEER)])
    }

    fn reply_from(ip: Ipv4Addr, from: MacAddr) -> ArpRepr {
        ArpRepr {
            operation: Operation::Reply,
            sender_mac: from,
            sender_ip: ip,
            target_mac: US,
            target_ip: ME,
        }
    }

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// Sends everything due at `now`, returning the parsed requests.
    fn drain_sends(p: &mut Prober, now: Instant) -> Vec<(MacAddr, ArpRepr)> {
        let mut out = Vec::new();
        while let Some(frame) = p.poll_transmit(now) {
            let (eth, arp) = ArpRepr::from_frame(&frame).unwrap();
            assert_eq!(eth.src, US);
            out.push((eth.dst, arp));
        }
        out
    }

    fn events(p: &mut Prober) -> Vec<Event> {
        std::iter::from_fn(|| p.poll_event())
            .filter(|e| !matches!(e, Event::Sent { .. }))
            .collect()
    }

    #[test]
    fn resolve_stops_at_the_first_reply_with_its_rtt() {
        let mut p = asking_peer(Mode::Request, Until::FirstReply, 3);
        let sent = drain_sends(&mut p, at(0));
        assert_eq!(
            sent,
            vec![(MacAddr::broadcast(), ArpRepr::request(US, ME, PEER))]
        );
        assert_eq!(p.poll_timeout(), Some(at(1000)));
        let replied = at(0) + Duration::from_micros(85);
        p.handle_arp(replied, &reply_from(PEER, mac(7)));
        // Held for the conflict window: no more requests, no report yet.
        assert!(!p.is_done());
        assert_eq!(events(&mut p), vec![]);
        assert_eq!(p.poll_timeout(), Some(replied + CONFLICT_WINDOW));
        p.handle_timeout(replied + CONFLICT_WINDOW);
        assert!(p.is_done());
        assert_eq!(
            events(&mut p),
            vec![Event::Reply {
                target: PEER,
                mac: mac(7),
                rtt: Duration::from_micros(85),
                attempt: 1,
                repeat: false
            }]
        );
        assert_eq!(p.poll_transmit(at(1000)), None);
        assert_eq!(p.poll_timeout(), None);
    }

    #[test]
    fn unanswered_requests_are_retried_then_given_up_exactly_on_time() {
        let mut p = asking_peer(Mode::Request, Until::FirstReply, 3);
        assert_eq!(drain_sends(&mut p, at(0)).len(), 1);
        assert!(drain_sends(&mut p, at(999)).is_empty());
        assert_eq!(drain_sends(&mut p, at(1000)).len(), 1);
        assert_eq!(drain_sends(&mut p, at(2000)).len(), 1);
        // Third and last request at 2 s: give up at 2.5 s, not before.
        assert_eq!(p.poll_timeout(), Some(at(2500)));
        p.handle_timeout(at(2499));
        assert!(!p.is_done());
        p.handle_timeout(at(2500));
        assert!(p.is_done());
        assert_eq!(
            events(&mut p),
            vec![Event::Unanswered {
                target: PEER,
                attempts: 3
            }]
        );
        assert_eq!(p.frames_sent(), 3);
    }

    /// `-c 3 --interval 0`: three requests at once, three replies; each
    /// answers the oldest request still waiting (it said "request 3" for
    /// all three). A lost request's wait ends, and the next reply is not
    /// put on it.
    #[test]
    fn replies_in_a_count_answer_the_requests_in_turn() {
        let mut cfg = config(Mode::Request, Until::AllSent, 3);
        cfg.interval = Duration::ZERO;
        let mut p = Prober::new(at(0), cfg, [Target::broadcast(PEER)]);
        assert_eq!(drain_sends(&mut p, at(0)).len(), 3);
        for ms in [1, 2, 3] {
            p.handle_arp(at(ms), &reply_from(PEER, mac(7)));
        }
        let got: Vec<(u32, Duration)> = events(&mut p)
            .into_iter()
            .filter_map(|e| match e {
                Event::Reply { attempt, rtt, .. } => Some((attempt, rtt)),
                _ => None,
            })
            .collect();
        let ms = Duration::from_millis;
        assert_eq!(got, [(1, ms(1)), (2, ms(2)), (3, ms(3))]);

        // One second apart, the first request lost: the reply at 1.002 s
        // is the second request's, 2 ms after it.
        let mut p = asking_peer(Mode::Request, Until::AllSent, 2);
        let _ = drain_sends(&mut p, at(0));
        let _ = drain_sends(&mut p, at(1000));
        p.handle_arp(at(1002), &reply_from(PEER, mac(7)));
        assert!(
            matches!(events(&mut p)[..], [Event::Reply { rtt, attempt: 2, .. }] if rtt == ms(2))
        );
    }

    #[test]
    fn rtt_runs_from_the_latest_request() {
        let mut p = asking_peer(Mode::Request, Until::FirstReply, 3);
        let _ = drain_sends(&mut p, at(0));
        let _ = drain_sends(&mut p, at(1000));
        p.handle_arp(at(1003), &reply_from(PEER, mac(7)));
        p.handle_timeout(at(1003) + CONFLICT_WINDOW);
        assert!(
            matches!(events(&mut p)[..], [Event::Reply { rtt, attempt: 2, .. }] if rtt == Duration::from_millis(3))
        );
    }

    #[rstest]
    #[case::a_request_not_a_reply(ArpRepr { operation: Operation::Request, ..reply_from(PEER, mac(7)) })]
    #[case::addressed_to_another_ip(ArpRepr { target_ip: Ipv4Addr::new(10, 78, 0, 9), ..reply_from(PEER, mac(7)) })]
    #[case::addressed_to_another_mac(ArpRepr { target_mac: mac(9), ..reply_from(PEER, mac(7)) })]
    #[case::from_an_address_we_did_not_ask(reply_from(Ipv4Addr::new(10, 78, 0, 3), mac(7)))]
    #[case::gratuitous(ArpRepr { operation: Operation::Request, sender_mac: mac(7), sender_ip: PEER, target_mac: MacAddr::zero(), target_ip: PEER })]
    #[case::our_own_frame_looped_back(reply_from(PEER, US))]
    fn unsolicited_or_misaddressed_answers_are_ignored(#[case] arp: ArpRepr) {
        let mut p = asking_peer(Mode::Request, Until::FirstReply, 1);
        let _ = drain_sends(&mut p, at(0));
        p.handle_arp(at(1), &arp);
        assert!(!p.is_done());
        assert_eq!(events(&mut p), vec![]);
    }

    #[test]
    fn a_reply_before_any_request_is_ignored() {
        let mut p = asking_peer(Mode::Request, Until::FirstReply, 1);
        p.handle_arp(at(0), &reply_from(PEER, mac(7)));
        assert!(!p.is_done());
        assert_eq!(events(&mut p), vec![]);
    }

    #[rstest]
    #[case::at_once(Duration::from_micros(30))]
    #[case::just_inside_the_window(CONFLICT_WINDOW - Duration::from_micros(1))]
    fn two_macs_answering_one_request_is_a_conflict_and_no_reply(#[case] lag: Duration) {
        let mut p = asking_peer(Mode::Request, Until::FirstReply, 3);
        let _ = drain_sends(&mut p, at(0));
        p.handle_arp(at(1), &reply_from(PEER, mac(7)));
        p.handle_arp(at(1) + lag, &reply_from(PEER, mac(8)));
        assert!(p.is_done(), "a conflict settles the target");
        p.handle_arp(at(3), &reply_from(PEER, mac(8)));
        p.handle_arp(at(4), &reply_from(PEER, mac(7)));
        p.handle_timeout(at(1000));
        assert_eq!(
            events(&mut p),
            vec![Event::Conflict {
                target: PEER,
                first: mac(7),
                other: mac(8)
            }],
            "neither MAC may be reported as the answer"
        );
        assert_eq!(p.frames_sent(), 1, "no retry once answered");
    }

    #[test]
    fn a_second_mac_after_the_window_is_ignored() {
        let mut p = asking_peer(Mode::Request, Until::FirstReply, 3);
        let _ = drain_sends(&mut p, at(0));
        p.handle_arp(at(1), &reply_from(PEER, mac(7)));
        p.handle_arp(at(2), &reply_from(PEER, mac(7))); // a duplicate
        p.handle_timeout(at(1) + CONFLICT_WINDOW);
        assert!(p.is_done());
        p.handle_arp(at(1) + CONFLICT_WINDOW, &reply_from(PEER, mac(8)));
        assert!(matches!(
            events(&mut p)[..],
            [Event::Reply { mac: m, rtt, .. }] if m == mac(7) && rtt == Duration::from_millis(1)
        ));
    }

    #[test]
    fn the_window_outlasts_the_last_requests_deadline() {
        let mut p = asking_peer(Mode::Request, Until::FirstReply, 1);
        let _ = drain_sends(&mut p, at(0));
        // The deadline is 500 ms; the reply comes 1 ms before it.
        p.handle_arp(at(499), &reply_from(PEER, mac(7)));
        p.handle_timeout(at(500));
        assert!(!p.is_done());
        assert_eq!(events(&mut p), vec![]);
        assert_eq!(p.poll_timeout(), Some(at(499) + CONFLICT_WINDOW));
        p.handle_arp(at(520), &reply_from(PEER, mac(8)));
        p.handle_timeout(at(499) + CONFLICT_WINDOW);
        assert!(matches!(events(&mut p)[..], [Event::Conflict { .. }]));
    }

    #[test]
    fn ping_mode_sends_every_request_and_reports_every_reply() {
        let mut p = asking_peer(Mode::Request, Until::AllSent, 3);
        for t in [0, 1000, 2000] {
            assert_eq!(drain_sends(&mut p, at(t)).len(), 1);
            p.handle_arp(at(t + 1), &reply_from(PEER, mac(7)));
        }
        assert!(!p.is_done());
        p.handle_timeout(at(2500));
        assert!(p.is_done());
        let repeats: Vec<bool> = events(&mut p)
            .into_iter()
            .map(|e| match e {
                Event::Reply { repeat, .. } => repeat,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(repeats, vec![false, true, true]);
    }

    #[rstest]
    #[case::ping(Mode::Request, Until::AllSent)]
    #[case::dad(Mode::Dad, Until::AllSent)]
    fn replies_from_ever_new_macs_keep_a_bounded_list(#[case] mode: Mode, #[case] until: Until) {
        let mut p = asking_peer(mode, until, 3);
        let _ = drain_sends(&mut p, at(0));
        let flood = 10_000u32;
        for i in 0..flood {
            let [_, a, b, c] = i.to_be_bytes();
            let spoofed = MacAddr::new(0xd6, 1, 0, a, b, c);
            let arp = match mode {
                Mode::Dad => ArpRepr {
                    target_mac: MacAddr::zero(),
                    target_ip: PEER,
                    ..reply_from(PEER, spoofed)
                },
                _ => reply_from(PEER, spoofed),
            };
            p.handle_arp(at(1), &arp);
        }
        assert_eq!(p.targets[0].macs.len(), MAX_MACS);
        // Every new MAC is still reported, past the bound too.
        let reported = events(&mut p).len();
        assert_eq!(reported, flood as usize, "one event per spoofed MAC");
    }

    #[test]
    fn unicast_revalidation_names_the_expected_mac_and_believes_only_it() {
        let cached = mac(7);
        let target = Target {
            ip: PEER,
            dst: cached,
        };
        let mut p = Prober::new(at(0), config(Mode::Request, Until::FirstReply, 1), [target]);
        let sent = drain_sends(&mut p, at(0));
        assert_eq!(
            sent,
            vec![(
                cached,
                ArpRepr {
                    target_mac: cached,
                    ..ArpRepr::request(US, ME, PEER)
                }
            )]
        );
        p.handle_arp(at(1), &reply_from(PEER, mac(8)));
        assert!(!p.is_done());
        p.handle_arp(at(2), &reply_from(PEER, cached));
        assert!(p.is_done());
    }

    #[test]
    fn sweep_respects_the_rate_bound_and_finds_exactly_who_answers() {
        let mut cfg = config(Mode::Request, Until::FirstReply, 2);
        cfg.rate = Some(100); // one frame per 10 ms
        cfg.interval = Duration::from_millis(200);
        cfg.timeout = Duration::from_millis(200);
        let targets: Vec<Target> = (1..=20)
            .map(|i| Target::broadcast(Ipv4Addr::new(10, 9, 0, i)))
            .collect();
        let live = [3u8, 7, 19];
        let mut p = Prober::new(at(0), cfg, targets);
        let mut now = at(0);
        let mut send_times = Vec::new();
        while !p.is_done() {
            while let Some(frame) = p.poll_transmit(now) {
                let (_, arp) = ArpRepr::from_frame(&frame).unwrap();
                send_times.push(now);
                if live.contains(&arp.target_ip.octets()[3]) {
                    p.handle_arp(
                        now + Duration::from_micros(50),
                        &reply_from(arp.target_ip, mac(arp.target_ip.octets()[3])),
                    );
                }
            }
            now = p
                .poll_timeout()
                .expect("a prober that is not done has a deadline");
            p.handle_timeout(now);
        }
        // Never two frames closer than 10 ms.
        for w in send_times.windows(2) {
            assert!(w[1] - w[0] >= Duration::from_millis(10), "{:?}", w);
        }
        // 20 first tries + 17 retries for the silent ones.
        assert_eq!(send_times.len(), 37);
        let ev = events(&mut p);
        let mut found: Vec<u8> = ev
            .iter()
            .filter_map(|e| match e {
                Event::Reply { target, .. } => Some(target.octets()[3]),
                _ => None,
            })
            .collect();
        found.sort();
        assert_eq!(found, live);
        let silent = ev
            .iter()
            .filter(|e| matches!(e, Event::Unanswered { attempts: 2, .. }))
            .count();
        assert_eq!(silent, 17);
    }

    #[test]
    fn dad_probes_come_from_zero_and_any_claim_is_reported() {
        let mut p = asking_peer(Mode::Dad, Until::FirstReply, 3);
        let sent = drain_sends(&mut p, at(0));
        assert_eq!(sent[0].1.sender_ip, Ipv4Addr::UNSPECIFIED);
        assert_eq!(sent[0].1.target_ip, PEER);
        // Linux answers a DAD probe with a reply to 0.0.0.0.
        let owner = ArpRepr {
            target_ip: Ipv4Addr::UNSPECIFIED,
            ..reply_from(PEER, mac(7))
        };
        p.handle_arp(at(1), &owner);
        assert!(p.is_done());
        assert!(
            matches!(events(&mut p)[..], [Event::Claimed { target: PEER, mac: m, .. }] if m == mac(7))
        );
    }

    #[test]
    fn dad_sees_a_simultaneous_probe_as_a_conflict() {
        let mut p = asking_peer(Mode::Dad, Until::FirstReply, 3);
        let _ = drain_sends(&mut p, at(0));
        let their_probe = ArpRepr::request(mac(7), Ipv4Addr::UNSPECIFIED, PEER);
        p.handle_arp(at(1), &their_probe);
        assert!(p.is_done());
    }

    #[test]
    fn dad_on_a_free_address_ends_unanswered() {
        let mut p = asking_peer(Mode::Dad, Until::FirstReply, 2);
        let _ = drain_sends(&mut p, at(0));
        let _ = drain_sends(&mut p, at(1000));
        p.handle_timeout(at(1500));
        assert_eq!(
            events(&mut p),
            vec![Event::Unanswered {
                target: PEER,
                attempts: 2
            }]
        );
    }

    #[rstest]
    #[case::request(Mode::AnnounceRequest, Operation::Request)]
    #[case::reply(Mode::AnnounceReply, Operation::Reply)]
    fn announcements_claim_the_address_and_expect_nothing(
        #[case] mode: Mode,
        #[case] op: Operation,
    ) {
        let mut p = Prober::new(
            at(0),
            config(mode, Until::AllSent, 2),
            [Target::broadcast(ME)],
        );
        let first = drain_sends(&mut p, at(0));
        assert_eq!(first[0].0, MacAddr::broadcast());
        assert_eq!(first[0].1.operation, op);
        assert_eq!((first[0].1.sender_ip, first[0].1.target_ip), (ME, ME));
        let _ = drain_sends(&mut p, at(1000));
        p.handle_timeout(at(1000));
        assert!(p.is_done());
        assert_eq!(events(&mut p), vec![]);
    }
}
