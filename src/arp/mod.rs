//! ARP (RFC 826) with a soft-state cache (RFC 1122 §2.3.2.1), sans-IO.
//!
//! - [`cache`]: learned bindings with lifetimes, the poisoning policy, and
//!   the stored form.
//! - [`probe`]: the request/reply engine behind every `nettool arp` mode.
//! - [`resolve`]: what to do for one address given the cache: answer from
//!   it, re-validate a stale entry by unicast, or ask the wire.

pub mod cache;
pub mod probe;
pub mod resolve;

use crate::machine::{Machine, RxChecksum};
use crate::time::Instant;
use crate::wire::arp::ArpRepr;

/// Frames that were not valid Ethernet/IPv4 ARP, counted rather than
/// trusted (the link filter lets only ARP through, so these are rare).
fn parse_arp(frame: &[u8]) -> Option<ArpRepr> {
    ArpRepr::from_frame(frame).ok().map(|(_, arp)| arp)
}

/// Both ARP engines take frames the same way: parse, count what is not
/// ARP, hand the rest on; everything else is their own method.
macro_rules! arp_machine {
    ($ty:ty, $event:ty) => {
        impl Machine for $ty {
            type Event = $event;

            fn handle_frame(&mut self, now: Instant, frame: &[u8], _checksum: RxChecksum) {
                match parse_arp(frame) {
                    Some(arp) => self.handle_arp(now, &arp),
                    None => self.count_malformed(),
                }
            }
            fn handle_timeout(&mut self, now: Instant) {
                <$ty>::handle_timeout(self, now)
            }
            fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
                <$ty>::poll_transmit(self, now)
            }
            fn poll_timeout(&self) -> Option<Instant> {
                <$ty>::poll_timeout(self)
            }
            fn poll_event(&mut self) -> Option<Self::Event> {
                <$ty>::poll_event(self)
            }
            fn is_done(&self) -> bool {
                <$ty>::is_done(self)
            }
        }
    };
}

arp_machine!(probe::Prober, probe::Event);
arp_machine!(resolve::Resolution<'_>, resolve::Event);
