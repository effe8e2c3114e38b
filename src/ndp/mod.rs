//! Neighbor Discovery for IPv6 (RFC 4861) and duplicate address
//! detection (RFC 4862 §5.4), sans-IO: the IPv6 counterpart of [`crate::arp`].
//!
//! - [`cache`]: the neighbour cache with its NUD states and timers, the
//!   poisoning policy, and the stored form.
//! - [`resolve`]: one address resolved through the cache (or pinged).
//! - [`claim`]: duplicate address detection and unsolicited
//!   advertisements.
//! - [`claims`]: duplicate address detection of several addresses at
//!   once.
//! - [`nodes`]: who answers an echo to every node on the link.

pub mod cache;
pub mod claim;
pub mod claims;
pub mod nodes;
pub mod resolve;
