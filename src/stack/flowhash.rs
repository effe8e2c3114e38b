//! The flow table's hasher: fast, and keyed with a secret drawn from the
//! kernel's random source once per process (and once more per table).
//!
//! Every frame that arrives costs a lookup of its 4-tuple, and `nettool
//! load` makes a million of them a few seconds apart: std's SipHash-1-3
//! was near the top of its profile. foldhash is chosen over ahash because
//! it is as fast or faster for keys this small (a 4-tuple is two or three
//! words), has no dependencies and no unsafe CPU-feature detection, and is
//! already in the build (serde_json uses it), so it adds no crate. Its
//! `quality` variant, not `fast`: a table indexes its buckets by a hash's
//! low bits, and a load's keys differ only in a port, one apart. With
//! `fast`, 2,048 such keys fell into about half of 1,024 buckets for one
//! seed in four (56 runs in 200 of the spread test below); `quality`'s
//! final mixing spread them over the expected ~885 every time (300 of 300).
//!
//! The keys come from the network: a spoofed-SYN flood picks the remote
//! ends of the flows a listener creates. A hash anyone can compute would
//! let it pick keys that all collide (hash flooding), and turn every
//! lookup into a walk. foldhash mixes every word with secret seeds, so
//! colliding keys cannot be chosen without them; foldhash seeds itself
//! from address-space layout and the clock, which is why the seeds here
//! come from getrandom(2) instead. (foldhash does not claim to resist an
//! attacker who can observe hash values and learn the seeds, e.g. through
//! table iteration order; the interface never shows either to the peer,
//! and what a listener keeps from strangers is bounded by its half-open
//! queue.)

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::OnceLock;

use foldhash::SharedSeed;
use foldhash::quality::{FoldHasher, SeedableRandomState};

use crate::sys::random_u64;

/// A map keyed by flow ends (or anything else from the network).
pub type FlowMap<K, V> = HashMap<K, V, FlowHasher>;

/// Builds the flow table's hashers: a per-table seed and the process's
/// shared one, both secret.
#[derive(Clone, Debug)]
pub struct FlowHasher(SeedableRandomState);

/// The seed every table of this process shares, drawn once.
fn shared() -> &'static SharedSeed {
    static SEED: OnceLock<SharedSeed> = OnceLock::new();
    SEED.get_or_init(|| SharedSeed::from_u64(random_u64()))
}

impl Default for FlowHasher {
    fn default() -> FlowHasher {
        FlowHasher(SeedableRandomState::with_seed(random_u64(), shared()))
    }
}

impl BuildHasher for FlowHasher {
    type Hasher = FoldHasher<'static>;

    fn build_hasher(&self) -> FoldHasher<'static> {
        self.0.build_hasher()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;

    fn key(port: u16) -> (SocketAddrV4, SocketAddrV4) {
        (
            SocketAddrV4::new([10, 0, 0, 1].into(), port),
            SocketAddrV4::new([10, 0, 0, 2].into(), 80),
        )
    }

    #[test]
    fn two_tables_hash_the_same_key_differently() {
        // Seeded per table: what one table's order would reveal says
        // nothing of another's.
        let (a, b) = (FlowHasher::default(), FlowHasher::default());
        let same = (1..=64)
            .filter(|p| a.hash_one(key(*p)) == b.hash_one(key(*p)))
            .count();
        assert_eq!(same, 0);
    }

    #[test]
    fn one_table_hashes_a_key_the_same_every_time() {
        let a = FlowHasher::default();
        assert_eq!(a.hash_one(key(40_000)), a.clone().hash_one(key(40_000)));
    }

    #[test]
    fn neighbouring_ports_spread_over_the_buckets() {
        // A load's keys differ only in their port, one apart: their low
        // bits (the bucket of a table of 1,024) must still spread.
        let a = FlowHasher::default();
        let buckets: std::collections::HashSet<u64> =
            (1024..3072).map(|p| a.hash_one(key(p)) & 1023).collect();
        assert!(buckets.len() > 800, "{} of 1024 buckets", buckets.len());
    }

    #[test]
    fn a_flow_map_works_as_a_map() {
        let mut m: FlowMap<(SocketAddrV4, SocketAddrV4), u32> = FlowMap::default();
        for p in 1..=1000 {
            m.insert(key(p), u32::from(p));
        }
        assert_eq!(m.len(), 1000);
        assert_eq!(m.get(&key(777)), Some(&777));
        assert_eq!(m.remove(&key(1)), Some(1));
        assert_eq!(m.get(&key(1)), None);
    }
}
