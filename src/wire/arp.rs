//! ARP for IPv4 over Ethernet (RFC 826). Deliberately narrow: any other
//! hardware or protocol type, or address length, is refused at parse time,
//! so the resolver only ever sees the one combination it understands.

use std::net::Ipv4Addr;

use pnet::packet::arp::{ArpHardwareTypes, ArpOperation, ArpPacket, MutableArpPacket};
use pnet::packet::ethernet::EtherTypes;

use super::ethernet::{self, EthernetRepr, Protocol};
use super::{MacAddr, Result, WireError};

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;

/// The two operations of RFC 826.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Request,
    Reply,
}

/// A validated Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    pub operation: Operation,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// A who-has request as RFC 826 sends it: target hardware address zero.
    pub fn request(sender_mac: MacAddr, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> ArpRepr {
        ArpRepr {
            operation: Operation::Request,
            sender_mac,
            sender_ip,
            target_mac: MacAddr::zero(),
            target_ip,
        }
    }

    /// The reply a host with `mac` and `ip` owes this packet: `Some` when it
    /// is a request for `ip` (RFC 826), addressed back to the asker.
    pub fn reply_for(&self, mac: MacAddr, ip: Ipv4Addr) -> Option<ArpRepr> {
        (self.operation == Operation::Request && self.target_ip == ip).then_some(ArpRepr {
            operation: Operation::Reply,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: self.sender_mac,
            target_ip: self.sender_ip,
        })
    }

    /// Parses an ARP packet (the Ethernet payload, possibly padded).
    pub fn parse(bytes: &[u8]) -> Result<ArpRepr> {
        let pkt = ArpPacket::new(bytes).ok_or(WireError::Truncated)?;
        if pkt.get_hardware_type() != ArpHardwareTypes::Ethernet {
            return Err(WireError::Unsupported("ARP hardware type"));
        }
        if pkt.get_protocol_type() != EtherTypes::Ipv4 {
            return Err(WireError::Unsupported("ARP protocol type"));
        }
        if pkt.get_hw_addr_len() != 6 || pkt.get_proto_addr_len() != 4 {
            return Err(WireError::BadLength);
        }
        let operation = match pkt.get_operation().0 {
            1 => Operation::Request,
            2 => Operation::Reply,
            _ => return Err(WireError::Unsupported("ARP operation")),
        };
        let sender_mac = pkt.get_sender_hw_addr();
        // A group address can never own an IPv4 address (RFC 1812 §3.3.2):
        // such a packet is forged or broken, and must not reach the cache.
        if sender_mac.is_broadcast() || sender_mac.is_multicast() || sender_mac.is_zero() {
            return Err(WireError::Malformed("ARP sender hardware address"));
        }
        Ok(ArpRepr {
            operation,
            sender_mac,
            sender_ip: pkt.get_sender_proto_addr(),
            target_mac: pkt.get_target_hw_addr(),
            target_ip: pkt.get_target_proto_addr(),
        })
    }

    /// Bytes the packet takes.
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet into the first [`PACKET_LEN`] bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut pkt = MutableArpPacket::new(buf).expect("buffer shorter than an ARP packet");
        pkt.set_hardware_type(ArpHardwareTypes::Ethernet);
        pkt.set_protocol_type(EtherTypes::Ipv4);
        pkt.set_hw_addr_len(6);
        pkt.set_proto_addr_len(4);
        pkt.set_operation(ArpOperation(match self.operation {
            Operation::Request => 1,
            Operation::Reply => 2,
        }));
        pkt.set_sender_hw_addr(self.sender_mac);
        pkt.set_sender_proto_addr(self.sender_ip);
        pkt.set_target_hw_addr(self.target_mac);
        pkt.set_target_proto_addr(self.target_ip);
    }

    /// A whole Ethernet frame carrying this packet from `src` to `dst`.
    pub fn to_frame(&self, src: MacAddr, dst: MacAddr) -> Vec<u8> {
        let eth = EthernetRepr {
            src,
            dst,
            protocol: Protocol::Arp,
        };
        let mut frame = vec![0u8; ethernet::HEADER_LEN + PACKET_LEN];
        eth.emit(&mut frame);
        self.emit(&mut frame[ethernet::HEADER_LEN..]);
        frame
    }

    /// Parses a whole Ethernet frame; `None` when it is not a valid ARP frame.
    pub fn from_frame(frame: &[u8]) -> Result<(EthernetRepr, ArpRepr)> {
        let (eth, payload) = EthernetRepr::parse(frame)?;
        if eth.protocol != Protocol::Arp {
            return Err(WireError::Unsupported("EtherType"));
        }
        Ok((eth, ArpRepr::parse(payload)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testing;
    use rstest::rstest;

    // who-has 10.78.0.2 tell 10.78.0.1, as `arping` sends it.
    const REQUEST: [u8; PACKET_LEN] = [
        0x00, 0x01, // hardware type: Ethernet
        0x08, 0x00, // protocol type: IPv4
        6, 4, // address lengths
        0x00, 0x01, // operation: request
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // sender MAC
        10, 78, 0, 1, // sender IP
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // target MAC
        10, 78, 0, 2, // target IP
    ];

    fn request() -> ArpRepr {
        ArpRepr::request(
            MacAddr::new(2, 0, 0, 0, 0, 1),
            Ipv4Addr::new(10, 78, 0, 1),
            Ipv4Addr::new(10, 78, 0, 2),
        )
    }

    #[test]
    fn parse_fixture() {
        assert_eq!(ArpRepr::parse(&REQUEST), Ok(request()));
    }

    #[test]
    fn emit_overwrites_every_byte() {
        let mut buf = [0xa5u8; PACKET_LEN];
        request().emit(&mut buf);
        assert_eq!(buf, REQUEST);
    }

    #[test]
    fn ethernet_padding_is_ignored() {
        let mut padded = REQUEST.to_vec();
        padded.extend_from_slice(&[0u8; 18]);
        assert_eq!(ArpRepr::parse(&padded), Ok(request()));
    }

    #[test]
    fn frame_round_trip() {
        let reply = ArpRepr {
            operation: Operation::Reply,
            sender_mac: MacAddr::new(0xd6, 0x6d, 0x61, 0xa8, 0xbb, 0xf7),
            sender_ip: Ipv4Addr::new(10, 78, 0, 2),
            target_mac: MacAddr::new(2, 0, 0, 0, 0, 1),
            target_ip: Ipv4Addr::new(10, 78, 0, 1),
        };
        let frame = reply.to_frame(reply.sender_mac, reply.target_mac);
        assert_eq!(frame.len(), 42);
        let (eth, parsed) = ArpRepr::from_frame(&frame).unwrap();
        assert_eq!(parsed, reply);
        assert_eq!(eth.dst, reply.target_mac);
        assert_eq!(eth.protocol, Protocol::Arp);
    }

    fn patched(offset: usize, bytes: &[u8]) -> Vec<u8> {
        let mut p = REQUEST.to_vec();
        p[offset..offset + bytes.len()].copy_from_slice(bytes);
        p
    }

    #[rstest]
    #[case::empty(vec![], WireError::Truncated)]
    #[case::one_short(REQUEST[..27].to_vec(), WireError::Truncated)]
    #[case::token_ring(patched(0, &[0x00, 0x06]), WireError::Unsupported("ARP hardware type"))]
    #[case::ipv6_protocol(patched(2, &[0x86, 0xdd]), WireError::Unsupported("ARP protocol type"))]
    #[case::hlen_8(patched(4, &[8]), WireError::BadLength)]
    #[case::plen_16(patched(5, &[16]), WireError::BadLength)]
    #[case::rarp_opcode(patched(6, &[0x00, 0x03]), WireError::Unsupported("ARP operation"))]
    #[case::zero_opcode(patched(6, &[0x00, 0x00]), WireError::Unsupported("ARP operation"))]
    #[case::broadcast_sender(patched(8, &[0xff; 6]), WireError::Malformed("ARP sender hardware address"))]
    #[case::multicast_sender(patched(8, &[0x01, 0, 0x5e, 0, 0, 1]), WireError::Malformed("ARP sender hardware address"))]
    #[case::zero_sender(patched(8, &[0; 6]), WireError::Malformed("ARP sender hardware address"))]
    fn bad_packets_are_rejected(#[case] bytes: Vec<u8>, #[case] want: WireError) {
        assert_eq!(ArpRepr::parse(&bytes), Err(want));
    }

    #[test]
    fn only_a_request_for_our_address_gets_a_reply() {
        let us = MacAddr::new(0xd6, 0x6d, 0x61, 0xa8, 0xbb, 0xf7);
        let reply = request()
            .reply_for(us, Ipv4Addr::new(10, 78, 0, 2))
            .unwrap();
        assert_eq!(reply.operation, Operation::Reply);
        assert_eq!(
            (reply.sender_mac, reply.sender_ip),
            (us, Ipv4Addr::new(10, 78, 0, 2))
        );
        assert_eq!(
            (reply.target_mac, reply.target_ip),
            (request().sender_mac, request().sender_ip)
        );
        assert_eq!(request().reply_for(us, Ipv4Addr::new(10, 78, 0, 3)), None);
        assert_eq!(
            reply.reply_for(us, Ipv4Addr::new(10, 78, 0, 1)),
            None,
            "a reply is never answered"
        );
    }

    #[test]
    fn non_arp_frames_are_rejected() {
        let mut frame = request().to_frame(MacAddr::new(2, 0, 0, 0, 0, 1), MacAddr::broadcast());
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(
            ArpRepr::from_frame(&frame),
            Err(WireError::Unsupported("EtherType"))
        );
    }

    /// Every byte string up to 64 bytes long (a sample of them) parses or is
    /// refused without a panic.
    #[test]
    fn arbitrary_bytes_never_panic() {
        for bytes in testing::arbitrary_bytes(0x1234_5678, 64, 64) {
            let _ = ArpRepr::parse(&bytes);
            let _ = ArpRepr::from_frame(&bytes);
        }
    }
}
