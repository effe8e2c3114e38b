//! What the two IP families share for a sender: the header nettool writes
//! before a transport message, and the pseudo-header the message's
//! checksum covers. [`IpHeader`] names them, so that a transport's frame
//! writer is written once for both families (see
//! [`UdpRepr::write_frame`](super::udp::UdpRepr::write_frame)).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::MacAddr;
use super::checksum;
use super::ethernet::{self, EthernetRepr, Protocol};
use super::ipv4::{self, Ipv4Repr};
use super::ipv6::{self, Ipv6Repr};

/// An IP header as nettool sends it ([`Ipv4Repr`] or [`Ipv6Repr`]): no
/// options, no extension headers.
pub trait IpHeader: Copy {
    /// The family's address.
    type Addr: Copy + Into<IpAddr>;
    /// The EtherType of a frame that carries this header.
    const ETHER_TYPE: Protocol;
    /// Bytes of the header.
    const HEADER_LEN: usize;
    /// The most upper-layer bytes one packet carries: what the 16-bit
    /// length field leaves (IPv4's total length counts the header, IPv6's
    /// payload length does not).
    const MAX_PAYLOAD: usize;
    /// Whether UDP may leave its checksum out (a zero meaning "none"):
    /// over IPv4 (RFC 768), not over IPv6 (RFC 8200 §8.1).
    const UDP_CHECKSUM_OPTIONAL: bool;

    /// This header, carrying `payload_len` bytes of the upper-layer
    /// `protocol` (its IANA number: IPv4's protocol, IPv6's next header).
    fn carrying(&self, protocol: u8, payload_len: usize) -> Self;
    fn src(&self) -> Self::Addr;
    fn dst(&self) -> Self::Addr;
    /// Writes the header into the first [`IpHeader::HEADER_LEN`] bytes
    /// of `buf`.
    fn emit(&self, buf: &mut [u8]);
    /// The checksum of an upper-layer message of `len` bytes whose words
    /// add up to `sum` ([`checksum::add`]), under this family's
    /// pseudo-header of `protocol` from `src` to `dst`.
    fn pseudo_sum(src: Self::Addr, dst: Self::Addr, protocol: u8, len: usize, sum: u64) -> u16;
}

impl IpHeader for Ipv4Repr {
    type Addr = Ipv4Addr;
    const ETHER_TYPE: Protocol = Protocol::Ipv4;
    const HEADER_LEN: usize = ipv4::HEADER_LEN;
    const MAX_PAYLOAD: usize = 65535 - ipv4::HEADER_LEN;
    const UDP_CHECKSUM_OPTIONAL: bool = true;

    fn carrying(&self, protocol: u8, payload_len: usize) -> Self {
        Ipv4Repr {
            protocol: protocol.into(),
            payload_len,
            ..*self
        }
    }

    fn src(&self) -> Ipv4Addr {
        self.src
    }

    fn dst(&self) -> Ipv4Addr {
        self.dst
    }

    fn emit(&self, buf: &mut [u8]) {
        Ipv4Repr::emit(self, buf);
    }

    fn pseudo_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: usize, sum: u64) -> u16 {
        checksum::ipv4_pseudo_sum(src, dst, protocol, len, sum)
    }
}

impl IpHeader for Ipv6Repr {
    type Addr = Ipv6Addr;
    const ETHER_TYPE: Protocol = Protocol::Ipv6;
    const HEADER_LEN: usize = ipv6::HEADER_LEN;
    const MAX_PAYLOAD: usize = 65535;
    const UDP_CHECKSUM_OPTIONAL: bool = false;

    fn carrying(&self, protocol: u8, payload_len: usize) -> Self {
        Ipv6Repr {
            next_header: protocol.into(),
            payload_len,
            ..*self
        }
    }

    fn src(&self) -> Ipv6Addr {
        self.src
    }

    fn dst(&self) -> Ipv6Addr {
        self.dst
    }

    fn emit(&self, buf: &mut [u8]) {
        Ipv6Repr::emit(self, buf);
    }

    fn pseudo_sum(src: Ipv6Addr, dst: Ipv6Addr, protocol: u8, len: usize, sum: u64) -> u16 {
        checksum::ipv6_pseudo_sum(src, dst, protocol, len, sum)
    }
}

/// Writes into `frame`, resized to fit, an Ethernet header from `src` to
/// `dst` and `ip` carrying `payload_len` bytes of `protocol`; returns the
/// IP header as written. The payload's bytes, at
/// `ethernet::HEADER_LEN + H::HEADER_LEN`, are the caller's to write.
pub fn write_headers<H: IpHeader>(
    frame: &mut Vec<u8>,
    (src, dst): (MacAddr, MacAddr),
    ip: &H,
    protocol: u8,
    payload_len: usize,
) -> H {
    let ip = ip.carrying(protocol, payload_len);
    frame.resize(ethernet::HEADER_LEN + H::HEADER_LEN + payload_len, 0);
    EthernetRepr {
        src,
        dst,
        protocol: H::ETHER_TYPE,
    }
    .emit(frame);
    ip.emit(&mut frame[ethernet::HEADER_LEN..]);
    ip
}
