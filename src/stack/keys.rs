//! The interface's own names for its flows: as small as an IPv4 4-tuple
//! whatever the family, so the flow table, the timer set and the queues
//! cost no more per connection than before IPv6 came (a load test holds
//! a million). An IPv4 flow's key is its 4-tuple; an IPv6 flow's is a
//! numbered slot holding its 4-tuple, with a generation that tells a
//! slot's successive flows apart (a stale key left in a queue names no
//! flow, never the next one in its slot).

use std::net::SocketAddr;

use super::flowhash::FlowMap;
use crate::wire::demux::FlowKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Key {
    V4(std::net::SocketAddrV4, std::net::SocketAddrV4),
    V6 { slot: u32, generation: u32 },
}

#[derive(Debug, Default)]
struct Slot {
    flow: Option<FlowKey>,
    generation: u32,
}

/// The IPv6 slots, and the way back from a 4-tuple to its slot.
#[derive(Debug, Default)]
pub(super) struct Keys {
    slots: Vec<Slot>,
    free: Vec<u32>,
    index: FlowMap<FlowKey, Key>,
}

impl Keys {
    /// The key of `flow`, if it has one (every IPv4 4-tuple has).
    pub(super) fn find(&self, flow: &FlowKey) -> Option<Key> {
        match (flow.local, flow.remote) {
            (SocketAddr::V4(l), SocketAddr::V4(r)) => Some(Key::V4(l, r)),
            _ => self.index.get(flow).copied(),
        }
    }

    /// The key of `flow`, given one if it had none.
    pub(super) fn intern(&mut self, flow: FlowKey) -> Key {
        if let Some(key) = self.find(&flow) {
            return key;
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Slot::default());
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 IPv6 flows")
            }
        };
        let entry = &mut self.slots[slot as usize];
        entry.flow = Some(flow);
        let key = Key::V6 {
            slot,
            generation: entry.generation,
        };
        self.index.insert(flow, key);
        key
    }

    /// The 4-tuple `key` names; `None` for a key whose flow is gone.
    pub(super) fn get(&self, key: Key) -> Option<FlowKey> {
        match key {
            Key::V4(l, r) => Some(FlowKey::v4(l, r)),
            Key::V6 { slot, generation } => self
                .slots
                .get(slot as usize)
                .filter(|s| s.generation == generation)
                .and_then(|s| s.flow),
        }
    }

    /// The flow `key` named is gone: its slot may serve another.
    pub(super) fn release(&mut self, key: Key) {
        let Key::V6 { slot, generation } = key else {
            return;
        };
        let Some(entry) = self.slots.get_mut(slot as usize) else {
            return;
        };
        if entry.generation != generation {
            return;
        }
        if let Some(flow) = entry.flow.take() {
            self.index.remove(&flow);
        }
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(port: u16) -> FlowKey {
        FlowKey {
            local: "[fd00:6e74::1]:40000".parse().unwrap(),
            remote: SocketAddr::new("fd00:6e74::2".parse().unwrap(), port),
        }
    }

    #[test]
    fn a_key_is_no_larger_than_an_ipv4_four_tuple_and_an_instant() {
        assert!(std::mem::size_of::<Key>() <= 16);
        assert!(std::mem::size_of::<(Key, Box<u8>)>() <= 24);
    }

    #[test]
    fn ipv4_keys_need_no_slot() {
        let keys = Keys::default();
        let flow = FlowKey {
            local: "10.0.0.1:1".parse().unwrap(),
            remote: "10.0.0.2:2".parse().unwrap(),
        };
        let key = keys.find(&flow).unwrap();
        assert_eq!(keys.get(key), Some(flow));
    }

    #[test]
    fn ipv6_slots_are_reused_and_stale_keys_name_nothing() {
        let mut keys = Keys::default();
        let a = keys.intern(v6(80));
        assert_eq!(keys.intern(v6(80)), a);
        assert_eq!(keys.get(a), Some(v6(80)));
        assert_eq!(keys.find(&v6(81)), None);
        keys.release(a);
        assert_eq!(keys.get(a), None);
        assert_eq!(keys.find(&v6(80)), None);
        let b = keys.intern(v6(81));
        assert_ne!(a, b, "same slot, a new generation");
        assert_eq!(keys.get(a), None);
        assert_eq!(keys.get(b), Some(v6(81)));
        keys.release(a); // stale: b stays
        assert_eq!(keys.get(b), Some(v6(81)));
    }
}
