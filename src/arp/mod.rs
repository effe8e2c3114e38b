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

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

use crate::machine::{Machine, RxChecksum};
use crate::time::Instant;
use crate::wire::arp::ArpRepr;

/// RFC 5227 §1.1 PROBE_NUM: probes a host sends for an address before
/// it takes the address (duplicate address detection).
pub const PROBE_NUM: u32 = 3;

/// RFC 5227 §1.1 ANNOUNCE_NUM: announcements a host sends once it has
/// taken an address.
pub const ANNOUNCE_NUM: u32 = 2;

/// The host addresses of a subnet, which a sweep asks for: all but the
/// network and broadcast addresses, except in a /31, whose two addresses
/// are both hosts (RFC 3021), and a /32, which is one.
pub fn host_addresses(net: Ipv4Network) -> Vec<Ipv4Addr> {
    match net.prefix() {
        31 | 32 => net.iter().collect(),
        _ => net
            .iter()
            .filter(|ip| *ip != net.network() && *ip != net.broadcast())
            .collect(),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("10.0.0.0/24", 254, "10.0.0.1", "10.0.0.254")]
    #[case("10.0.0.0/30", 2, "10.0.0.1", "10.0.0.2")]
    #[case("10.0.0.0/31", 2, "10.0.0.0", "10.0.0.1")]
    #[case("10.0.0.7/32", 1, "10.0.0.7", "10.0.0.7")]
    fn sweeps_ask_for_host_addresses_only(
        #[case] net: &str,
        #[case] n: usize,
        #[case] first: &str,
        #[case] last: &str,
    ) {
        let t = host_addresses(net.parse().unwrap());
        assert_eq!(t.len(), n);
        assert_eq!(t.first().unwrap().to_string(), first);
        assert_eq!(t.last().unwrap().to_string(), last);
    }
}
