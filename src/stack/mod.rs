//! A host around the TCP engine, sans-IO.
//!
//! - [`host`]: one TCP connection on one link: frames in, frames out. It
//!   validates and demultiplexes what arrives (TCP for our flow, ICMP
//!   errors about it, ARP requests for our address when the kernel does
//!   not own it), frames what the engine sends, and reports every segment.
//! - [`session`]: the scripted exchanges of `nettool handshake` and
//!   `nettool close` (send a payload, withhold or delay the third ACK,
//!   release by RST or by one of the closes), as a state machine of its own
//!   on top of the host.

pub mod host;
pub mod session;
