//! What the wire layer's tests share, and the tests of the layers above
//! that fabricate frames: sample segments, frames and arbitrary bytes.

use std::net::Ipv4Addr;

use pnet::packet::icmp::{IcmpPacket, checksum};

use super::MacAddr;
use super::ethernet::{self, EthernetRepr, Protocol};
use super::ipv4::{IpProtocol, Ipv4Repr};
use super::seq::SeqNum;
use super::tcp::{Flags, TcpOption, TcpRepr};

/// An Ethernet frame from `src` to `dst` carrying `body` from `from` to
/// `to` over IPv4 (no options), as the network would hand it over.
pub fn ipv4_frame(
    (src, dst): (MacAddr, MacAddr),
    (from, to): (Ipv4Addr, Ipv4Addr),
    protocol: IpProtocol,
    body: &[u8],
) -> Vec<u8> {
    let ip = Ipv4Repr::new(from, to, protocol, body.len());
    let mut frame = vec![0u8; ethernet::HEADER_LEN + ip.total_len()];
    EthernetRepr {
        src,
        dst,
        protocol: Protocol::Ipv4,
    }
    .emit(&mut frame);
    ip.emit(&mut frame[ethernet::HEADER_LEN..]);
    frame[ethernet::HEADER_LEN + 20..].copy_from_slice(body);
    frame
}

/// An ICMP error message (`icmp_type`, `code`) quoting the first 28 bytes
/// of `packet` (its IPv4 header and 8 bytes of TCP), checksummed.
pub fn icmp_error(icmp_type: u8, code: u8, packet: &[u8]) -> Vec<u8> {
    let mut msg = vec![icmp_type, code, 0, 0, 0, 0, 0, 0];
    msg.extend_from_slice(&packet[..28]);
    let sum = checksum(&IcmpPacket::new(&msg).unwrap());
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    msg
}

/// A SYN from port 40000 to port 80 (sequence number 1, window 64240),
/// without options.
pub fn syn() -> TcpRepr<'static> {
    TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: SeqNum(1),
        ack: None,
        flags: Flags::SYN,
        window: 64240,
        urgent: 0,
        options: vec![],
        payload: &[],
    }
}

/// The options Linux puts on a SYN: MSS, SACK permitted, timestamps, NOP,
/// window scale.
pub fn linux_syn_options() -> Vec<TcpOption> {
    vec![
        TcpOption::Mss(1460),
        TcpOption::SackPermitted,
        TcpOption::Timestamps { val: 1, ecr: 0 },
        TcpOption::Nop,
        TcpOption::WindowScale(7),
    ]
}

/// `rounds` pseudo-random byte strings of every length below `max_len`
/// (xorshift from `seed`: the same strings every run), for the parsers'
/// never-panic tests.
pub fn arbitrary_bytes(seed: u32, max_len: usize, rounds: usize) -> impl Iterator<Item = Vec<u8>> {
    let mut x = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as u8
    };
    (0..max_len)
        .flat_map(move |len| (0..rounds).map(move |_| len))
        .map(move |len| (0..len).map(|_| next()).collect())
}
