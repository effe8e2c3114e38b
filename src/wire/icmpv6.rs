//! ICMPv6 (RFC 4443): echo, and the neighbour discovery messages of
//! [`super::ndp`], checksummed over the IPv6 pseudo-header (RFC 8200
//! §8.1). Errors (unreachable, packet too big, time exceeded) are for the
//! TCP-over-IPv6 work and refused here as unsupported.

use std::net::Ipv6Addr;

use pnet::packet::icmpv6::{Icmpv6Packet, checksum};

use super::ethernet::{EthernetRepr, Protocol};
use super::ipv6::{Ipv6Repr, NextHeader};
use super::ndp::NdpRepr;
use super::{MacAddr, Result, WireError};

pub const ECHO_REQUEST: u8 = 128;
pub const ECHO_REPLY: u8 = 129;

/// A validated ICMPv6 message of a kind nettool speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Icmpv6Repr {
    EchoRequest { ident: u16, seq: u16, data: Vec<u8> },
    EchoReply { ident: u16, seq: u16, data: Vec<u8> },
    Ndp(NdpRepr),
}

impl Icmpv6Repr {
    /// Parses the ICMPv6 message `msg` that `ip` carried, verifying its
    /// checksum unless `verify` is false (the kernel vouched for it).
    pub fn parse(ip: &Ipv6Repr, msg: &[u8], verify: bool) -> Result<Icmpv6Repr> {
        if ip.next_header != NextHeader::Icmpv6 {
            return Err(WireError::Unsupported("IPv6 payload other than ICMPv6"));
        }
        let pkt = Icmpv6Packet::new(msg).ok_or(WireError::Truncated)?;
        if msg.len() < 4 {
            return Err(WireError::Truncated);
        }
        if verify && checksum(&pkt, &ip.src, &ip.dst) != pkt.get_checksum() {
            return Err(WireError::BadChecksum);
        }
        let (ty, code) = (msg[0], msg[1]);
        match ty {
            ECHO_REQUEST | ECHO_REPLY => {
                if code != 0 {
                    return Err(WireError::Malformed("ICMPv6 echo code"));
                }
                let head = msg.get(4..8).ok_or(WireError::Truncated)?;
                let ident = u16::from_be_bytes([head[0], head[1]]);
                let seq = u16::from_be_bytes([head[2], head[3]]);
                let data = msg[8..].to_vec();
                Ok(if ty == ECHO_REQUEST {
                    Icmpv6Repr::EchoRequest { ident, seq, data }
                } else {
                    Icmpv6Repr::EchoReply { ident, seq, data }
                })
            }
            _ if NdpRepr::is_ndp_type(ty) => NdpRepr::parse(ip, msg).map(Icmpv6Repr::Ndp),
            _ => Err(WireError::Unsupported("ICMPv6 type")),
        }
    }

    /// Bytes the message takes.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv6Repr::EchoRequest { data, .. } | Icmpv6Repr::EchoReply { data, .. } => {
                8 + data.len()
            }
            Icmpv6Repr::Ndp(ndp) => ndp.buffer_len(),
        }
    }

    /// Writes the message, checksum included, for a packet from `src` to
    /// `dst`, into `buf` of exactly [`Icmpv6Repr::buffer_len`] bytes.
    pub fn emit(&self, src: Ipv6Addr, dst: Ipv6Addr, buf: &mut [u8]) {
        assert_eq!(buf.len(), self.buffer_len(), "ICMPv6 buffer length");
        match self {
            Icmpv6Repr::EchoRequest { ident, seq, data }
            | Icmpv6Repr::EchoReply { ident, seq, data } => {
                buf[0] = if matches!(self, Icmpv6Repr::EchoRequest { .. }) {
                    ECHO_REQUEST
                } else {
                    ECHO_REPLY
                };
                buf[1] = 0;
                buf[4..6].copy_from_slice(&ident.to_be_bytes());
                buf[6..8].copy_from_slice(&seq.to_be_bytes());
                buf[8..].copy_from_slice(data);
            }
            Icmpv6Repr::Ndp(ndp) => ndp.emit(buf),
        }
        buf[2..4].fill(0);
        let sum = checksum(&Icmpv6Packet::new(buf).expect("ICMPv6 header"), &src, &dst);
        buf[2..4].copy_from_slice(&sum.to_be_bytes());
    }

    /// The hop limit to send this message with: 255 for neighbour
    /// discovery (RFC 4861 §7.1: a receiver drops anything else, which
    /// proves the message was not routed in from afar), 64 otherwise.
    pub fn hop_limit(&self) -> u8 {
        match self {
            Icmpv6Repr::Ndp(_) => 255,
            _ => 64,
        }
    }

    /// A whole Ethernet frame carrying this message from `src` to `dst`.
    pub fn frame(
        &self,
        (src_mac, dst_mac): (MacAddr, MacAddr),
        (src, dst): (Ipv6Addr, Ipv6Addr),
    ) -> Vec<u8> {
        let mut msg = vec![0u8; self.buffer_len()];
        self.emit(src, dst, &mut msg);
        Ipv6Repr::new(src, dst, NextHeader::Icmpv6, self.hop_limit(), msg.len())
            .frame(src_mac, dst_mac, &msg)
    }
}

/// Parses a whole Ethernet frame down to its ICMPv6 message.
pub fn parse_frame(frame: &[u8], verify: bool) -> Result<(EthernetRepr, Ipv6Repr, Icmpv6Repr)> {
    let (eth, rest) = EthernetRepr::parse(frame)?;
    if eth.protocol != Protocol::Ipv6 {
        return Err(WireError::Unsupported("not IPv6"));
    }
    let (ip, msg) = Ipv6Repr::parse(rest)?;
    let icmp = Icmpv6Repr::parse(&ip, msg, verify)?;
    Ok((eth, ip, icmp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const A: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 1);
    const B: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 2);
    const MA: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
    const MB: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);

    fn echo() -> Icmpv6Repr {
        Icmpv6Repr::EchoRequest {
            ident: 0x1234,
            seq: 7,
            data: b"nettool".to_vec(),
        }
    }

    #[test]
    fn echo_round_trips_through_a_frame() {
        let f = echo().frame((MA, MB), (A, B));
        let (eth, ip, icmp) = parse_frame(&f, true).unwrap();
        assert_eq!((eth.src, eth.dst), (MA, MB));
        assert_eq!((ip.src, ip.dst, ip.hop_limit), (A, B, 64));
        assert_eq!(icmp, echo());
    }

    /// The checksum of an echo request (id 1, seq 1, no data) from A to
    /// B, against one worked out by hand from the pseudo-header's words.
    #[test]
    fn checksum_covers_the_pseudo_header() {
        let msg_for = |src, dst| {
            let mut m = vec![0u8; 8];
            Icmpv6Repr::EchoRequest {
                ident: 1,
                seq: 1,
                data: vec![],
            }
            .emit(src, dst, &mut m);
            u16::from_be_bytes([m[2], m[3]])
        };
        // Swapping in another source changes the sum: the addresses count.
        assert_ne!(msg_for(A, B), msg_for(B, B));
        // By hand: ones' complement sum of the pseudo-header words and the
        // message words, complemented.
        let words: u32 = [0xfd00u32, 0x6e74, 1, 0xfd00, 0x6e74, 2, 8, 58, 0x8000, 1, 1]
            .iter()
            .sum();
        let folded = (words & 0xffff) + (words >> 16);
        assert_eq!(msg_for(A, B), !(folded as u16));
    }

    #[rstest]
    #[case::bad_checksum(|f: &mut Vec<u8>| { let n = f.len(); f[n - 1] ^= 1 })]
    #[case::truncated_message(|f: &mut Vec<u8>| { f.truncate(14 + 40 + 3); f[14 + 5] = 3 })]
    #[case::echo_header_cut(|f: &mut Vec<u8>| { f.truncate(14 + 40 + 6); f[14 + 5] = 6 })]
    #[case::unknown_type(|f: &mut Vec<u8>| f[14 + 40] = 200)]
    #[case::not_icmpv6(|f: &mut Vec<u8>| f[14 + 6] = 17)]
    #[case::not_ipv6(|f: &mut Vec<u8>| f[13] = 0)]
    fn malformed_messages_are_refused(#[case] spoil: fn(&mut Vec<u8>)) {
        let mut f = echo().frame((MA, MB), (A, B));
        spoil(&mut f);
        assert!(parse_frame(&f, true).is_err());
    }

    #[test]
    fn a_vouched_checksum_is_not_verified() {
        let mut f = echo().frame((MA, MB), (A, B));
        f[14 + 40 + 2] ^= 0xff;
        assert!(parse_frame(&f, true).is_err());
        assert_eq!(parse_frame(&f, false).unwrap().2, echo());
    }
}
