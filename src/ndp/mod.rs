//! Neighbor Discovery for IPv6 (RFC 4861) and duplicate address
//! detection (RFC 4862 §5.4), sans-IO: the IPv6 counterpart of [`crate::arp`].
//!
//! - [`cache`]: the neighbour cache with its NUD states and timers, the
//!   poisoning policy, and the stored form.

pub mod cache;
