//! The neighbour cache: soft state, as RFC 1122 §2.3.2.1 asks.
//!
//! Read RFC 826 and RFC 1122 §2.3.2 before changing this file.
//!
//! Every entry carries the wall-clock time it was learned and the lifetime
//! it was learned with. Its age decides what it is good for:
//!
//! | age                           | state     | use                                          |
//! |-------------------------------|-----------|----------------------------------------------|
//! | `< ttl`                       | fresh     | answered without touching the wire           |
//! | `ttl ..< STALE_FACTOR × ttl`  | stale     | a hint: re-validated with a unicast request  |
//! | `≥ STALE_FACTOR × ttl`        | expired   | dropped; the address is resolved again       |
//!
//! Time here is wall-clock milliseconds since the Unix epoch, passed in by
//! the caller: the cache outlives the process, so a monotonic clock (which
//! restarts with the machine) cannot date its entries. A clock that went
//! backwards makes an entry look as if it was learned in the future; such an
//! entry is treated as expired rather than trusted for an unknown time.
//!
//! **Poisoning policy.** The cache never learns from what it overhears:
//! gratuitous ARP, requests, and replies nobody asked for are ignored. The
//! resolver calls [`Cache::learn`] only for a reply that answers a request
//! nettool itself sent (right sender IP, addressed to our own IP and MAC,
//! while the request was outstanding). A reply that contradicts an entry is
//! reported as a conflict and not believed: both the entry and the new
//! answer are dropped, so the next run asks the wire afresh.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::wire::MacAddr;

/// A stale entry is kept, for unicast re-validation only, until it is this
/// many lifetimes old.
pub const STALE_FACTOR: u32 = 4;

/// Default lifetime of a fresh entry (Linux's base reachable time is 30 s,
/// randomised to 15–45 s; a debugging tool can afford a round minute).
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// Wall-clock milliseconds since the Unix epoch.
pub type UnixMillis = u64;

/// One learned binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub iface: String,
    /// The interface's kernel index when the entry was learned. An
    /// interface deleted and created again under the same name (a lab
    /// taken down and up) gets a new index, and with it a new neighbour
    /// on the other end: an entry from the old one is never used.
    /// Files written before the index was kept read as 0, which matches
    /// no interface.
    #[serde(default)]
    pub ifindex: u32,
    pub ip: Ipv4Addr,
    #[serde(with = "mac_serde")]
    pub mac: MacAddr,
    /// When the reply that taught us this arrived.
    pub learned_at_ms: UnixMillis,
    /// How long the entry stays fresh.
    pub ttl_ms: u64,
}

/// What an entry is good for at a given moment (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh { age: Duration, left: Duration },
    Stale { age: Duration },
    Expired,
}

impl Entry {
    /// The entry's state at `now`.
    pub fn freshness(&self, now: UnixMillis) -> Freshness {
        let Some(age_ms) = now.checked_sub(self.learned_at_ms) else {
            return Freshness::Expired; // learned "in the future": the clock moved back
        };
        let age = Duration::from_millis(age_ms);
        if age_ms < self.ttl_ms {
            Freshness::Fresh {
                age,
                left: Duration::from_millis(self.ttl_ms - age_ms),
            }
        } else if age_ms < self.ttl_ms.saturating_mul(STALE_FACTOR.into()) {
            Freshness::Stale { age }
        } else {
            Freshness::Expired
        }
    }
}

/// What [`Cache::learn`] did with an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Learned {
    /// No entry existed (or it had expired): the answer is now cached.
    New,
    /// The same MAC confirmed an existing entry, whose clock restarts.
    Confirmed,
    /// Another MAC answered for an address we had an entry for. Neither is
    /// believed: the old entry is gone and the new answer is not stored.
    Conflict { previous: Entry },
}

/// A change made to the cache in this run, replayed onto a freshly read
/// copy before saving so that concurrent runs do not undo each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Put(Entry),
    Remove { iface: String, ip: Ipv4Addr },
    Flush,
}

type Key = (String, Ipv4Addr);

/// The cache itself. Entries are keyed by interface and address: the same
/// address on two links names two different neighbours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cache {
    entries: BTreeMap<Key, Entry>,
    changes: Vec<Change>,
}

impl Cache {
    pub fn new() -> Cache {
        Cache::default()
    }

    /// The entry for `ip` on `iface` (kernel index `ifindex`), with its
    /// state at `now`. An entry learned on another incarnation of the
    /// interface is not returned.
    pub fn lookup(
        &self,
        iface: &str,
        ifindex: u32,
        ip: Ipv4Addr,
        now: UnixMillis,
    ) -> Option<(&Entry, Freshness)> {
        self.entries
            .get(&(iface.to_owned(), ip))
            .filter(|e| e.ifindex == ifindex)
            .map(|e| (e, e.freshness(now)))
    }

    /// Records a reply to one of our own requests (see the poisoning policy).
    pub fn learn(
        &mut self,
        iface: &str,
        ifindex: u32,
        ip: Ipv4Addr,
        mac: MacAddr,
        now: UnixMillis,
        ttl: Duration,
    ) -> Learned {
        let key = (iface.to_owned(), ip);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let entry = Entry {
            iface: iface.to_owned(),
            ifindex,
            ip,
            mac,
            learned_at_ms: now,
            ttl_ms,
        };
        // An entry from another incarnation of the interface says nothing
        // about this link's neighbour: it is simply replaced.
        match self.entries.get(&key).filter(|old| old.ifindex == ifindex) {
            Some(old) if old.freshness(now) != Freshness::Expired && old.mac != mac => {
                let previous = old.clone();
                self.remove(iface, ip);
                Learned::Conflict { previous }
            }
            Some(old) if old.freshness(now) != Freshness::Expired => {
                self.put(entry);
                Learned::Confirmed
            }
            _ => {
                self.put(entry);
                Learned::New
            }
        }
    }

    /// Drops one entry (a failed re-validation, an expired entry).
    pub fn remove(&mut self, iface: &str, ip: Ipv4Addr) -> Option<Entry> {
        let old = self.entries.remove(&(iface.to_owned(), ip));
        if old.is_some() {
            self.changes.push(Change::Remove {
                iface: iface.to_owned(),
                ip,
            });
        }
        old
    }

    /// Drops every entry that has expired at `now`, returning them.
    pub fn purge_expired(&mut self, now: UnixMillis) -> Vec<Entry> {
        let dead: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, e)| e.freshness(now) == Freshness::Expired)
            .map(|(k, _)| k.clone())
            .collect();
        dead.into_iter()
            .filter_map(|(iface, ip)| self.remove(&iface, ip))
            .collect()
    }

    /// Empties the cache.
    pub fn flush(&mut self) {
        self.entries.clear();
        self.changes.push(Change::Flush);
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

    /// What this run changed, in order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Replays changes made elsewhere (by [`Cache::changes`] of another
    /// copy) onto this one.
    pub fn apply(&mut self, changes: &[Change]) {
        for change in changes {
            match change {
                Change::Put(e) => {
                    self.entries.insert((e.iface.clone(), e.ip), e.clone());
                }
                Change::Remove { iface, ip } => {
                    self.entries.remove(&(iface.clone(), *ip));
                }
                Change::Flush => self.entries.clear(),
            }
        }
        self.changes.extend_from_slice(changes);
    }

    /// A cache holding `entries` as read from storage, re-keyed from their
    /// contents (the cache file keeps both families; see
    /// [`crate::cachefile`]).
    pub fn from_entries(entries: Vec<Entry>) -> Cache {
        Cache {
            entries: entries
                .into_iter()
                .map(|e| ((e.iface.clone(), e.ip), e))
                .collect(),
            changes: Vec::new(),
        }
    }

    fn put(&mut self, entry: Entry) {
        self.entries
            .insert((entry.iface.clone(), entry.ip), entry.clone());
        self.changes.push(Change::Put(entry));
    }
}

/// MACs are stored as text (`d6:6d:61:a8:bb:f7`) so the file reads well.
mod mac_serde {
    use super::MacAddr;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(mac: &MacAddr, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(mac)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MacAddr, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|_| D::Error::custom(format!("bad MAC address {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const IP: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);
    const T0: UnixMillis = 1_700_000_000_000;
    const TTL: Duration = Duration::from_secs(60);

    fn mac(last: u8) -> MacAddr {
        MacAddr::new(2, 0, 0, 0, 0, last)
    }

    fn cache_with_entry() -> Cache {
        let mut c = Cache::new();
        assert_eq!(c.learn("eth0", 7, IP, mac(1), T0, TTL), Learned::New);
        c
    }

    #[rstest]
    #[case::just_learned(0, Freshness::Fresh { age: Duration::ZERO, left: TTL })]
    #[case::last_fresh_ms(59_999, Freshness::Fresh { age: Duration::from_millis(59_999), left: Duration::from_millis(1) })]
    #[case::first_stale_ms(60_000, Freshness::Stale { age: Duration::from_secs(60) })]
    #[case::last_stale_ms(239_999, Freshness::Stale { age: Duration::from_millis(239_999) })]
    #[case::first_expired_ms(240_000, Freshness::Expired)]
    #[case::long_gone(10 * 240_000, Freshness::Expired)]
    fn lifetime_boundaries_are_exact(#[case] after_ms: u64, #[case] want: Freshness) {
        let c = cache_with_entry();
        let (entry, state) = c.lookup("eth0", 7, IP, T0 + after_ms).unwrap();
        assert_eq!(entry.mac, mac(1));
        assert_eq!(state, want);
    }

    #[test]
    fn clock_moved_back_means_expired() {
        let c = cache_with_entry();
        assert_eq!(
            c.lookup("eth0", 7, IP, T0 - 1).unwrap().1,
            Freshness::Expired
        );
    }

    #[test]
    fn entries_are_per_interface() {
        let c = cache_with_entry();
        assert!(c.lookup("eth1", 7, IP, T0).is_none());
        assert!(
            c.lookup("eth0", 7, Ipv4Addr::new(10, 78, 0, 3), T0)
                .is_none()
        );
    }

    #[test]
    fn same_mac_confirms_and_restarts_the_clock() {
        let mut c = cache_with_entry();
        let later = T0 + 70_000; // stale by now
        assert_eq!(
            c.learn("eth0", 7, IP, mac(1), later, TTL),
            Learned::Confirmed
        );
        assert!(matches!(
            c.lookup("eth0", 7, IP, later).unwrap().1,
            Freshness::Fresh { .. }
        ));
    }

    #[rstest]
    #[case::while_fresh(1_000)]
    #[case::while_stale(70_000)]
    fn another_mac_is_a_conflict_and_nothing_is_believed(#[case] after_ms: u64) {
        let mut c = cache_with_entry();
        let got = c.learn("eth0", 7, IP, mac(2), T0 + after_ms, TTL);
        assert!(matches!(got, Learned::Conflict { ref previous } if previous.mac == mac(1)));
        assert!(c.lookup("eth0", 7, IP, T0 + after_ms).is_none());
    }

    #[test]
    fn another_mac_after_expiry_is_simply_new() {
        let mut c = cache_with_entry();
        assert_eq!(
            c.learn("eth0", 7, IP, mac(2), T0 + 240_000, TTL),
            Learned::New
        );
        assert_eq!(c.lookup("eth0", 7, IP, T0 + 240_000).unwrap().0.mac, mac(2));
    }

    #[test]
    fn an_entry_from_a_recreated_interface_is_never_used() {
        // eth0 was deleted and created again (a lab down and up): new index.
        let mut c = cache_with_entry();
        assert!(c.lookup("eth0", 8, IP, T0).is_none());
        // Its neighbour is someone else now; that is news, not a conflict.
        assert_eq!(c.learn("eth0", 8, IP, mac(2), T0 + 1, TTL), Learned::New);
        assert_eq!(c.lookup("eth0", 8, IP, T0 + 1).unwrap().0.mac, mac(2));
        assert!(c.lookup("eth0", 7, IP, T0 + 1).is_none());
    }

    #[test]
    fn purge_drops_only_expired_entries() {
        let mut c = cache_with_entry();
        c.learn(
            "eth0",
            7,
            Ipv4Addr::new(10, 78, 0, 3),
            mac(3),
            T0 + 200_000,
            TTL,
        );
        let gone = c.purge_expired(T0 + 240_000);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].ip, IP);
        assert_eq!(c.len(), 1);
    }
}
