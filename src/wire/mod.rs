//! The wire layer: frames as bytes, and the validated representations the
//! rest of nettool works with.
//!
//! Field access goes through pnet's packet views (`EthernetPacket`,
//! `ArpPacket`, …); this module adds what pnet leaves to its users:
//!
//! - **`Repr` types** (`EthernetRepr`, `ArpRepr`, …) are the only form the
//!   engine sees. `Repr::parse` checks every length and every field that
//!   pnet would clamp or accept blindly, verifies checksums, and rejects what
//!   nettool does not speak with a [`WireError`] — it never panics on any
//!   input. `Repr::emit` writes a complete header (checksums included) into a
//!   buffer of exactly `buffer_len()` bytes.
//! - **`demux`** sorts a received frame for one local identity (ARP, TCP
//!   and UDP to our address with their 4-tuples, ICMP queries such as echo
//!   replies, ICMP errors with the flow they quote): the parsing every
//!   machine on a raw link starts with.
//! - **`frag`** cuts IPv4 datagrams into fragments and puts received
//!   fragments back together (bounded, with a timeout).
//! - **`fmt`** renders representations as tcpdump-style one-liners.
//!
//! Nothing here does I/O, reads a clock or prints.

pub mod arp;
pub mod checksum;
pub mod demux;
pub mod ethernet;
pub mod fmt;
pub mod frag;
pub mod icmp;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod ndp;
pub mod seq;
pub mod tcp;
#[cfg(any(test, feature = "testkit"))]
pub mod testing;
pub mod udp;

use thiserror::Error;

/// Why a frame was refused. Callers count these; they never abort a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum WireError {
    /// Fewer bytes than the header (or a length field) requires.
    #[error("truncated")]
    Truncated,
    /// A length field that contradicts the header or the buffer.
    #[error("bad length field")]
    BadLength,
    /// A well-formed header for something nettool does not speak
    /// (another hardware type, an unknown opcode, …).
    #[error("unsupported {0}")]
    Unsupported(&'static str),
    /// The checksum does not match the contents.
    #[error("bad checksum")]
    BadChecksum,
    /// A value that no valid frame may carry (e.g. a multicast sender).
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// Result of parsing a header.
pub type Result<T> = std::result::Result<T, WireError>;

pub use pnet::util::MacAddr;
pub use seq::SeqNum;
