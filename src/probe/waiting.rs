//! Which probes wait for which answer: a map from the answer a reply
//! must carry to the probes expecting it, oldest first.
//!
//! A flood puts hundreds of thousands of probes a second through this
//! map, so two costs matter: the hash (std's SipHash guards against keys
//! an attacker chooses, but every key inserted here is one nettool drew
//! itself, and a reply can only look one up) and an allocation per key
//! (almost every key is expected by exactly one probe, so that one is
//! kept inline and only the rare rest in a queue).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};

use super::mix;

/// The probes expecting one key, oldest first.
#[derive(Debug)]
struct Queue {
    first: u64,
    /// Later probes with the same key (a fixed `--seq`); empty, and so
    /// unallocated, otherwise.
    rest: VecDeque<u64>,
}

/// Probe indexes by the key their answer must carry.
#[derive(Debug)]
pub struct Waiting<K> {
    map: HashMap<K, Queue, BuildHasherDefault<KeyHasher>>,
}

impl<K: Hash + Eq + Copy> Default for Waiting<K> {
    fn default() -> Self {
        Waiting {
            map: HashMap::default(),
        }
    }
}

impl<K: Hash + Eq + Copy> Waiting<K> {
    /// Probe `index` (larger than any before it) waits for `key`.
    pub fn push(&mut self, key: K, index: u64) {
        match self.map.entry(key) {
            Entry::Occupied(mut e) => e.get_mut().rest.push_back(index),
            Entry::Vacant(e) => {
                e.insert(Queue {
                    first: index,
                    rest: VecDeque::new(),
                });
            }
        }
    }

    /// Takes the oldest probe waiting for `key`.
    pub fn pop(&mut self, key: &K) -> Option<u64> {
        let q = self.map.get_mut(key)?;
        let index = q.first;
        match q.rest.pop_front() {
            Some(next) => q.first = next,
            None => {
                self.map.remove(key);
            }
        }
        Some(index)
    }

    /// Takes probe `index` off `key` if it is the oldest waiting for it
    /// (an expired probe always is: probes expire oldest first, and an
    /// answered one was taken already).
    pub fn remove_oldest(&mut self, key: &K, index: u64) {
        if self.map.get(key).is_some_and(|q| q.first == index) {
            self.pop(key);
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// A multiply-rotate hash over the key's fields, finished with a full
/// avalanche so that the table's bucket bits depend on every input bit.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl KeyHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn finish(&self) -> u64 {
        mix(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    type Key = (bool, u16, u16, u32);

    #[test]
    fn oldest_first_per_key() {
        let mut w = Waiting::<Key>::default();
        let a = (false, 1, 2, 3);
        let b = (true, 1, 2, 3);
        w.push(a, 1);
        w.push(b, 2);
        w.push(a, 3);
        w.push(a, 4);
        assert_eq!(w.len(), 2);
        assert_eq!(w.pop(&a), Some(1));
        assert_eq!(w.pop(&b), Some(2));
        assert_eq!(w.pop(&b), None);
        assert_eq!(w.pop(&a), Some(3));
        assert_eq!(w.pop(&a), Some(4));
        assert_eq!(w.pop(&a), None);
        assert!(w.is_empty());
    }

    #[rstest]
    #[case::the_oldest(1, vec![3])]
    #[case::not_the_oldest(3, vec![1, 3])]
    #[case::not_waiting(7, vec![1, 3])]
    fn remove_oldest_only_takes_the_head(#[case] index: u64, #[case] left: Vec<u64>) {
        let mut w = Waiting::<Key>::default();
        let k = (false, 9, 9, 9);
        w.push(k, 1);
        w.push(k, 3);
        w.remove_oldest(&k, index);
        let mut got = Vec::new();
        while let Some(i) = w.pop(&k) {
            got.push(i);
        }
        assert_eq!(got, left);
    }

    #[test]
    fn many_keys_round_trip() {
        let mut w = Waiting::<Key>::default();
        for i in 0..10_000u64 {
            w.push((i % 2 == 0, 40000, 80, mix(i) as u32), i);
        }
        for i in 0..10_000u64 {
            assert_eq!(w.pop(&(i % 2 == 0, 40000, 80, mix(i) as u32)), Some(i));
        }
        assert!(w.is_empty());
    }

    #[test]
    fn keys_differing_in_one_field_hash_apart() {
        let h = |k: Key| {
            let mut s = KeyHasher::default();
            k.hash(&mut s);
            s.finish()
        };
        let base = (false, 40000, 80, 1000);
        assert_ne!(h(base), h((true, 40000, 80, 1000)));
        assert_ne!(h(base), h((false, 40001, 80, 1000)));
        assert_ne!(h(base), h((false, 40000, 81, 1000)));
        assert_ne!(h(base), h((false, 40000, 80, 1001)));
        // The low bits (bucket index) differ too for consecutive numbers.
        let low: std::collections::HashSet<u64> =
            (0..64u32).map(|s| h((false, 1, 1, s)) & 0x3f).collect();
        assert!(low.len() > 32, "only {} of 64 buckets used", low.len());
    }
}
