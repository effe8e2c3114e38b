//! The host around the TCP engine, sans-IO.
//!
//! - [`iface`]: one local identity (IPv4 and IPv6 addresses, MAC) on one link, with a
//!   flow table of any number of TCP connections and listeners (bounded
//!   half-open and accept queues). It validates and demultiplexes what
//!   arrives (Ethernet, ARP requests for our address when the kernel does
//!   not own it, TCP by 4-tuple, ICMP errors to the flow they quote,
//!   through [`crate::wire::demux`]), frames what the engines send, and
//!   reports every segment. Beside the connections it hosts raw flows
//!   ([`RawFlow`](crate::machine::RawFlow): the probes, scans and traces
//!   that write their own segments), each handed only what its selector
//!   takes.
//! - [`addresses`]: the addresses an interface answers for beside its
//!   own (`load --sources`), and which one a frame is for.
//! - [`flowhash`]: the flow table's hasher, fast and secretly seeded
//!   (the keys come from the network).
//! - [`neighbor`]: the Neighbor Advertisement answering a solicitation
//!   for an IPv6 address nettool alone answers for.
//! - [`host`]: one actively opened connection: an interface with one flow.
//! - [`raw`]: one raw flow (`nettool probe`, `scan`, `trace`): an
//!   interface with one probe run, scan or trace.
//! - [`udp`]: a UDP endpoint (`nettool nc -u`), connected to one peer or
//!   listening for any, as a raw flow of the interface.
//! - [`unreachable`](mod@unreachable): the ICMP port unreachable the interface sends for a
//!   stray UDP datagram to an address it answers for, rate-limited as
//!   Linux limits its own.
//! - [`session`]: the scripted exchanges of `nettool handshake` and
//!   `nettool close` (send a payload, withhold or delay the third ACK,
//!   release by RST or by one of the closes), as a state machine of its own
//!   on top of the host.

pub mod addresses;
pub mod flowhash;
pub mod host;
pub mod iface;
mod keys;
pub mod neighbor;
pub mod raw;
pub mod session;
pub mod udp;
pub mod unreachable;
