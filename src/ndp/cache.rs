//! The neighbour cache with neighbour unreachability detection (RFC 4861
//! §7.3), sans-IO.
//!
//! Read RFC 4861 §7.2, §7.3 and Appendix C before changing this file.
//!
//! ```text
//!            solicit ──► INCOMPLETE ──(MAX_MULTICAST_SOLICIT unanswered)──► gone
//!                            │ NA answering us (S=1): REACHABLE;
//!                            │ any other NA is ignored (policy below)
//!                            ▼
//!   ┌──────────────► REACHABLE ──(ReachableTime)──► STALE ──(240 s unused)──► gone
//!   │ solicited NA                                    │ used (a packet is sent)
//!   │ or confirmed                                    ▼
//!   ├──────────────────────────────────────────── DELAY ──(5 s)──► PROBE
//!   │                                                                │ unicast NS,
//!   └──────────────────────────────────────────────────────────────┘ 1 s apart;
//!                                       3 unanswered ──► gone
//! ```
//!
//! ReachableTime is drawn afresh, uniformly from 0.5–1.5 × the base
//! (30 s), every time an entry becomes REACHABLE (§6.3.2), from a seeded
//! generator the caller provides: the cache reads no clock and no
//! entropy of its own.
//!
//! Time is wall-clock milliseconds since the Unix epoch, as in the ARP
//! cache, because entries outlive the process in the cache file. Only
//! REACHABLE and STALE are stored: DELAY and PROBE belong to the run that
//! was waiting or probing, and are stored as STALE; INCOMPLETE has no
//! link-layer address to store. A STALE entry unused for
//! [`STALE_LIFETIME`] is dropped (RFC 4861 leaves the garbage collection
//! of STALE entries to the implementation; this is the ARP cache's
//! stale limit, so both families age alike on disk).
//!
//! **Poisoning policy** (the ARP cache's, in NDP's terms):
//!
//! - only a solicited advertisement (S=1) answering a solicitation
//!   nettool has outstanding creates an entry; advertisements and
//!   solicitations nobody asked for never do;
//! - for an existing entry, RFC 4861 §7.2.5 applies: an advertisement
//!   with O=1 and another link-layer address replaces it (REACHABLE if
//!   solicited by us, STALE if not); one with O=0 does not, and only
//!   demotes a REACHABLE entry to STALE. Either way the contradiction is
//!   reported as a [`Learned::Conflict`], never passed over in silence;
//! - S=1 counts only for an answer to our own solicitation: an
//!   advertisement marked solicited that answers nothing we sent is read
//!   as unsolicited.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::wire::MacAddr;
use crate::wire::ndp::NaFlags;

pub use crate::arp::cache::UnixMillis;

/// RFC 4861 §10 REACHABLE_TIME: the base of ReachableTime.
pub const BASE_REACHABLE_TIME: Duration = Duration::from_secs(30);
/// RFC 4861 §10 RETRANS_TIMER: between solicitations.
pub const RETRANS_TIMER: Duration = Duration::from_secs(1);
/// RFC 4861 §10 DELAY_FIRST_PROBE_TIME.
pub const DELAY_FIRST_PROBE_TIME: Duration = Duration::from_secs(5);
/// RFC 4861 §10 MAX_MULTICAST_SOLICIT.
pub const MAX_MULTICAST_SOLICIT: u32 = 3;
/// RFC 4861 §10 MAX_UNICAST_SOLICIT.
pub const MAX_UNICAST_SOLICIT: u32 = 3;
/// How long a STALE entry is kept unused (see the module notes).
pub const STALE_LIFETIME: Duration = Duration::from_secs(240);

/// The NUD states of RFC 4861 §7.3.2, printed by their RFC names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Incomplete => "INCOMPLETE",
            State::Reachable => "REACHABLE",
            State::Stale => "STALE",
            State::Delay => "DELAY",
            State::Probe => "PROBE",
        })
    }
}

/// The timers and counts of NUD. [`Timing::default`] is RFC 4861's; a
/// resolution run may space its solicitations otherwise (`--interval`),
/// ask more times (`-c`) or wait longer after the last (`-W`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub base_reachable: Duration,
    pub retrans: Duration,
    /// How long the last solicitation is waited for.
    pub last_wait: Duration,
    pub delay_first_probe: Duration,
    pub max_multicast: u32,
    pub max_unicast: u32,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            base_reachable: BASE_REACHABLE_TIME,
            retrans: RETRANS_TIMER,
            last_wait: RETRANS_TIMER,
            delay_first_probe: DELAY_FIRST_PROBE_TIME,
            max_multicast: MAX_MULTICAST_SOLICIT,
            max_unicast: MAX_UNICAST_SOLICIT,
        }
    }
}

/// One neighbour. `mac` is `None` only while INCOMPLETE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub iface: String,
    /// As in the ARP cache: an entry from another incarnation of the
    /// interface is never used.
    pub ifindex: u32,
    pub ip: Ipv6Addr,
    #[serde(with = "opt_mac")]
    pub mac: Option<MacAddr>,
    pub state: State,
    /// When the entry entered `state`.
    pub since_ms: UnixMillis,
    /// REACHABLE: this entry's ReachableTime, drawn when it got there.
    pub reachable_ms: u64,
    /// The neighbour said it is a router (R flag).
    #[serde(default)]
    pub router: bool,
    /// INCOMPLETE and PROBE: solicitations sent so far in this state.
    #[serde(skip)]
    pub solicits: u32,
}

impl Entry {
    /// How long the entry has been in its state at `now` (zero if the
    /// clock moved back).
    pub fn age(&self, now: UnixMillis) -> Duration {
        Duration::from_millis(now.saturating_sub(self.since_ms))
    }

    /// REACHABLE: how long it stays so after `now`.
    pub fn reachable_left(&self, now: UnixMillis) -> Option<Duration> {
        (self.state == State::Reachable).then(|| {
            let until = self.since_ms.saturating_add(self.reachable_ms);
            Duration::from_millis(until.saturating_sub(now))
        })
    }
}

/// Whom a solicitation goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SolicitTo {
    /// The target's solicited-node group (resolution, INCOMPLETE).
    Multicast,
    /// The cached link-layer address (NUD's PROBE).
    Unicast(MacAddr),
}

/// What the cache did, in order: state changes, and solicitations the
/// caller must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Transition {
        iface: String,
        ip: Ipv6Addr,
        /// The entry's link-layer address (none while INCOMPLETE).
        mac: Option<MacAddr>,
        from: Option<State>,
        to: State,
    },
    Solicit {
        iface: String,
        ip: Ipv6Addr,
        to: SolicitTo,
        /// The how-manieth in this state, from 1.
        nth: u32,
    },
    /// The entry is gone: unanswered solicitations, or STALE too long.
    Gone { entry: Entry },
}

/// What [`Cache::handle_advert`] made of an advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Learned {
    /// An answer to our solicitation created the entry.
    New,
    /// The same link-layer address (or none): the entry is confirmed
    /// (if solicited by us) or left as it was.
    Confirmed,
    /// Another link-layer address than the entry's. `replaced`: O=1, the
    /// entry now holds the new one; otherwise it kept `previous`.
    Conflict { previous: MacAddr, replaced: bool },
    /// Nothing we asked about: not believed, nothing changed.
    Ignored,
}

/// A change made in this run, replayed onto a freshly read copy before
/// saving (as the ARP cache's [`crate::arp::cache::Change`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Put(Entry),
    Remove { iface: String, ip: Ipv6Addr },
    Flush,
}

type Key = (String, Ipv6Addr);

/// The cache. Keyed by interface and address, as the ARP cache.
#[derive(Debug, Clone, Default)]
pub struct Cache {
    entries: BTreeMap<Key, Entry>,
    timing: Timing,
    rng: u64,
    events: std::collections::VecDeque<Event>,
    changes: Vec<Change>,
}

impl Cache {
    /// An empty cache whose ReachableTimes are drawn from `seed`.
    pub fn new(seed: u64) -> Cache {
        Cache {
            rng: seed,
            ..Cache::default()
        }
    }

    pub fn set_timing(&mut self, timing: Timing) {
        self.timing = timing;
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// splitmix64: small, and enough to spread ReachableTimes.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// RFC 4861 §6.3.2: a ReachableTime uniform in 0.5–1.5 × the base.
    fn draw_reachable_ms(&mut self) -> u64 {
        let base = u64::try_from(self.timing.base_reachable.as_millis()).unwrap_or(u64::MAX / 2);
        let r = self.next_random();
        base / 2
            + if base == 0 {
                0
            } else {
                r % base.saturating_add(1)
            }
    }

    /// The entry for `ip` on `iface` (index `ifindex`), as it stands.
    pub fn lookup(&self, iface: &str, ifindex: u32, ip: Ipv6Addr) -> Option<&Entry> {
        self.entries
            .get(&(iface.to_owned(), ip))
            .filter(|e| e.ifindex == ifindex)
    }

    /// All entries, ordered by interface then address.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Starts resolving `ip`: a new INCOMPLETE entry and its first
    /// multicast solicitation. Does nothing if an entry exists (of this
    /// interface's incarnation; one of another is replaced).
    pub fn solicit(&mut self, now: UnixMillis, iface: &str, ifindex: u32, ip: Ipv6Addr) {
        if self.lookup(iface, ifindex, ip).is_some() {
            return;
        }
        let entry = Entry {
            iface: iface.to_owned(),
            ifindex,
            ip,
            mac: None,
            state: State::Incomplete,
            since_ms: now,
            reachable_ms: 0,
            router: false,
            solicits: 0,
        };
        self.entries.insert((iface.to_owned(), ip), entry);
        self.transition_event(iface, ip, None, State::Incomplete);
        self.send_solicit(iface, ip);
    }

    /// RFC 4861 §7.3.3: a packet is sent to the neighbour. A STALE entry
    /// goes to DELAY, giving upper layers [`Timing::delay_first_probe`]
    /// to confirm it before NUD probes.
    pub fn use_entry(&mut self, now: UnixMillis, iface: &str, ip: Ipv6Addr) {
        if self.state_of(iface, ip) == Some(State::Stale) {
            self.set_state(now, iface, ip, State::Delay);
        }
    }

    /// Probes a STALE or DELAY entry now, without waiting out DELAY: what
    /// a one-shot resolution does, having no upper-layer traffic that
    /// could confirm the neighbour for free.
    pub fn probe_now(&mut self, now: UnixMillis, iface: &str, ip: Ipv6Addr) {
        if matches!(self.state_of(iface, ip), Some(State::Stale | State::Delay)) {
            self.set_state(now, iface, ip, State::Probe);
            self.send_solicit(iface, ip);
        }
    }

    /// RFC 4861 §7.3.1: an upper layer saw forward progress (a TCP ACK
    /// for new data): the entry is REACHABLE again.
    pub fn confirm(&mut self, now: UnixMillis, iface: &str, ip: Ipv6Addr) {
        if matches!(
            self.state_of(iface, ip),
            Some(State::Reachable | State::Stale | State::Delay | State::Probe)
        ) {
            self.set_reachable(now, iface, ip);
        }
    }

    /// A Neighbor Advertisement for `target` on `iface`; `ours`: it is
    /// addressed to us and answers a solicitation we have outstanding
    /// for `target` (see the poisoning policy).
    pub fn handle_advert(
        &mut self,
        now: UnixMillis,
        (iface, ifindex): (&str, u32),
        target: Ipv6Addr,
        flags: NaFlags,
        lladdr: Option<MacAddr>,
        ours: bool,
    ) -> Learned {
        let solicited = flags.solicited && ours;
        let Some(entry) = self.lookup(iface, ifindex, target).cloned() else {
            return Learned::Ignored;
        };
        if entry.state == State::Incomplete {
            // §7.2.5: without a link-layer address, nothing to learn.
            let (Some(mac), true) = (lladdr, solicited) else {
                return Learned::Ignored;
            };
            self.with_entry(iface, target, |e| {
                e.mac = Some(mac);
                e.router = flags.router;
            });
            self.set_reachable(now, iface, target);
            return Learned::New;
        }
        let cached = entry.mac.expect("only INCOMPLETE lacks an address");
        match lladdr.filter(|m| *m != cached) {
            None => {
                // §7.2.5: IsRouter follows the R flag, solicited or not.
                self.with_entry(iface, target, |e| e.router = flags.router);
                if solicited {
                    self.set_reachable(now, iface, target);
                } else if entry.router != flags.router {
                    if let Some(e) = self.lookup(iface, ifindex, target).cloned() {
                        self.changes.push(Change::Put(e));
                    }
                }
                Learned::Confirmed
            }
            Some(mac) if flags.override_ => {
                self.with_entry(iface, target, |e| {
                    e.mac = Some(mac);
                    e.router = flags.router;
                });
                if solicited {
                    self.set_reachable(now, iface, target);
                } else {
                    self.set_state(now, iface, target, State::Stale);
                }
                Learned::Conflict {
                    previous: cached,
                    replaced: true,
                }
            }
            Some(_) => {
                if entry.state == State::Reachable {
                    self.set_state(now, iface, target, State::Stale);
                }
                Learned::Conflict {
                    previous: cached,
                    replaced: false,
                }
            }
        }
    }

    /// Drops one entry.
    pub fn remove(&mut self, iface: &str, ip: Ipv6Addr) -> Option<Entry> {
        let old = self.entries.remove(&(iface.to_owned(), ip))?;
        if old.state != State::Incomplete {
            self.changes.push(Change::Remove {
                iface: iface.to_owned(),
                ip,
            });
        }
        Some(old)
    }

    /// Empties the cache.
    pub fn flush(&mut self) {
        self.entries.clear();
        self.changes.push(Change::Flush);
    }

    /// When [`Cache::handle_timeout`] next has something to do.
    pub fn poll_timeout(&self) -> Option<UnixMillis> {
        self.entries.values().filter_map(|e| self.deadline(e)).min()
    }

    /// Fires every timer due at `now`, in deadline order. A REACHABLE
    /// entry dated after `now` (the clock moved back since it was
    /// confirmed) is not trusted for an unknown time: it goes STALE, as
    /// the ARP cache expires such an entry.
    pub fn handle_timeout(&mut self, now: UnixMillis) {
        let future: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, e)| e.state == State::Reachable && e.since_ms > now)
            .map(|(k, _)| k.clone())
            .collect();
        for (iface, ip) in future {
            self.set_state(now, &iface, ip, State::Stale);
        }
        loop {
            let due = self
                .entries
                .values()
                .filter_map(|e| Some((self.deadline(e)?, (e.iface.clone(), e.ip))))
                .filter(|(at, _)| *at <= now)
                .min();
            let Some((at, (iface, ip))) = due else {
                return;
            };
            self.fire(at, &iface, ip);
        }
    }

    fn deadline(&self, e: &Entry) -> Option<UnixMillis> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4);
        let t = &self.timing;
        let solicit_deadline = |max: u32| {
            let wait = if e.solicits >= max {
                t.last_wait
            } else {
                t.retrans
            };
            u64::from(e.solicits.saturating_sub(1))
                .saturating_mul(ms(t.retrans))
                .saturating_add(ms(wait))
        };
        // Saturating: the file may hold any date, and a deadline that
        // wrapped round would fire at once.
        let after = match e.state {
            State::Incomplete => solicit_deadline(t.max_multicast),
            State::Reachable => e.reachable_ms,
            State::Stale => ms(STALE_LIFETIME),
            State::Delay => ms(t.delay_first_probe),
            State::Probe => solicit_deadline(t.max_unicast),
        };
        Some(e.since_ms.saturating_add(after))
    }

    /// The timer of the entry for `ip` fired at `at`.
    fn fire(&mut self, at: UnixMillis, iface: &str, ip: Ipv6Addr) {
        let Some(e) = self.entries.get(&(iface.to_owned(), ip)) else {
            return;
        };
        let (state, solicits) = (e.state, e.solicits);
        match state {
            State::Reachable => self.set_state(at, iface, ip, State::Stale),
            State::Delay => {
                self.set_state(at, iface, ip, State::Probe);
                self.send_solicit(iface, ip);
            }
            State::Incomplete if solicits < self.timing.max_multicast => {
                self.send_solicit(iface, ip)
            }
            State::Probe if solicits < self.timing.max_unicast => self.send_solicit(iface, ip),
            State::Incomplete | State::Probe | State::Stale => {
                if let Some(entry) = self.remove(iface, ip) {
                    self.events.push_back(Event::Gone { entry });
                }
            }
        }
    }

    fn state_of(&self, iface: &str, ip: Ipv6Addr) -> Option<State> {
        self.entries.get(&(iface.to_owned(), ip)).map(|e| e.state)
    }

    fn with_entry(&mut self, iface: &str, ip: Ipv6Addr, f: impl FnOnce(&mut Entry)) {
        if let Some(e) = self.entries.get_mut(&(iface.to_owned(), ip)) {
            f(e);
        }
    }

    fn set_reachable(&mut self, now: UnixMillis, iface: &str, ip: Ipv6Addr) {
        let reachable_ms = self.draw_reachable_ms();
        self.with_entry(iface, ip, |e| e.reachable_ms = reachable_ms);
        self.set_state(now, iface, ip, State::Reachable);
    }

    fn set_state(&mut self, now: UnixMillis, iface: &str, ip: Ipv6Addr, to: State) {
        let Some(e) = self.entries.get_mut(&(iface.to_owned(), ip)) else {
            return;
        };
        let from = e.state;
        e.state = to;
        e.since_ms = now;
        e.solicits = 0;
        let stored = e.clone();
        if to != State::Incomplete {
            self.changes.push(Change::Put(stored));
        }
        self.transition_event(iface, ip, Some(from), to);
    }

    fn transition_event(&mut self, iface: &str, ip: Ipv6Addr, from: Option<State>, to: State) {
        let mac = self
            .entries
            .get(&(iface.to_owned(), ip))
            .and_then(|e| e.mac);
        self.events.push_back(Event::Transition {
            iface: iface.to_owned(),
            ip,
            mac,
            from,
            to,
        });
    }

    fn send_solicit(&mut self, iface: &str, ip: Ipv6Addr) {
        let Some(e) = self.entries.get_mut(&(iface.to_owned(), ip)) else {
            return;
        };
        e.solicits += 1;
        let to = match (e.state, e.mac) {
            (State::Probe, Some(mac)) => SolicitTo::Unicast(mac),
            _ => SolicitTo::Multicast,
        };
        let nth = e.solicits;
        self.events.push_back(Event::Solicit {
            iface: iface.to_owned(),
            ip,
            to,
            nth,
        });
    }

    /// What this run changed, in order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Replays changes made elsewhere onto this copy.
    pub fn apply(&mut self, changes: &[Change]) {
        for change in changes {
            match change {
                Change::Put(e) => {
                    self.entries
                        .insert((e.iface.clone(), e.ip), stored_form(e.clone()));
                }
                Change::Remove { iface, ip } => {
                    self.entries.remove(&(iface.clone(), *ip));
                }
                Change::Flush => self.entries.clear(),
            }
        }
        self.changes.extend_from_slice(changes);
    }

    /// The entries as stored (see the module notes: no INCOMPLETE; DELAY
    /// and PROBE as STALE).
    pub fn stored_entries(&self) -> Vec<Entry> {
        self.entries
            .values()
            .filter(|e| e.state != State::Incomplete)
            .cloned()
            .map(stored_form)
            .collect()
    }

    /// A cache holding `entries` as read from storage, re-keyed from
    /// their contents; anything the file may not hold (INCOMPLETE, an
    /// entry without an address) is dropped.
    pub fn from_stored(entries: Vec<Entry>, seed: u64) -> Cache {
        let entries = entries
            .into_iter()
            .filter(|e| e.state != State::Incomplete && e.mac.is_some())
            .map(stored_form)
            .map(|e| ((e.iface.clone(), e.ip), e))
            .collect();
        Cache {
            entries,
            rng: seed,
            ..Cache::default()
        }
    }
}

fn stored_form(mut e: Entry) -> Entry {
    if matches!(e.state, State::Delay | State::Probe) {
        e.state = State::Stale;
    }
    e.solicits = 0;
    e
}

/// MACs as text, as in the ARP cache; `null` for none.
mod opt_mac {
    use super::MacAddr;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(mac: &Option<MacAddr>, s: S) -> Result<S::Ok, S::Error> {
        match mac {
            Some(m) => s.collect_str(m),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<MacAddr>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| {
            t.parse()
                .map_err(|_| D::Error::custom(format!("bad MAC address {t:?}")))
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests;
