//! ICMPv6 (RFC 4443): echo, and the neighbour discovery messages of
//! [`super::ndp`], checksummed over the IPv6 pseudo-header (RFC 8200
//! §8.1); and the errors about a TCP segment, a UDP datagram or an echo
//! request nettool sent (destination unreachable, packet too big, time
//! exceeded: [`Icmpv6Error`]).

use std::net::Ipv6Addr;

use pnet::packet::icmpv6::{Icmpv6Packet, checksum};

use super::ethernet::{EthernetRepr, Protocol};
use super::ipv6::{Ipv6Repr, NextHeader};
use super::ndp::NdpRepr;
use super::seq::SeqNum;
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
        // pnet refuses fewer than the 4 octets of type, code and checksum.
        let pkt = Icmpv6Packet::new(msg).ok_or(WireError::Truncated)?;
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

pub const DESTINATION_UNREACHABLE: u8 = 1;
pub const PACKET_TOO_BIG: u8 = 2;
pub const TIME_EXCEEDED: u8 = 3;

/// What an ICMPv6 error says (RFC 4443 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv6Kind {
    /// Type 1, with its code (0 no route, 1 administratively prohibited,
    /// 3 address unreachable, 4 port unreachable, 5 source address failed
    /// policy, 6 reject route).
    Unreachable(u8),
    /// Type 2: the next link's MTU, which the path's is now at most.
    PacketTooBig(u32),
    /// Type 3, with its code (0 hop limit exceeded in transit, 1
    /// fragment reassembly time exceeded).
    TimeExceeded(u8),
}

/// The most an ICMPv6 error may take, its IPv6 header included: the
/// minimum IPv6 MTU (RFC 4443 §2.4 (c)), so that it is never fragmented.
pub const ERROR_MAX_LEN: usize = 1280;

impl Icmpv6Kind {
    /// The error message saying this about `packet` (the IPv6 packet that
    /// invoked it, its header included), sent from `src` to `dst`: type,
    /// code, checksum over the pseudo-header, the MTU (packet too big) or
    /// 32 unused bits, then as much of `packet` as fits
    /// [`ERROR_MAX_LEN`] (RFC 4443 §3).
    pub fn message(self, (src, dst): (Ipv6Addr, Ipv6Addr), packet: &[u8]) -> Vec<u8> {
        let (ty, code, word) = match self {
            Icmpv6Kind::Unreachable(code) => (DESTINATION_UNREACHABLE, code, 0),
            Icmpv6Kind::PacketTooBig(mtu) => (PACKET_TOO_BIG, 0, mtu),
            Icmpv6Kind::TimeExceeded(code) => (TIME_EXCEEDED, code, 0),
        };
        let room = ERROR_MAX_LEN - super::ipv6::HEADER_LEN - 8;
        let quoted = &packet[..packet.len().min(room)];
        let mut msg = Vec::with_capacity(8 + quoted.len());
        msg.extend_from_slice(&[ty, code, 0, 0]);
        msg.extend_from_slice(&word.to_be_bytes());
        msg.extend_from_slice(quoted);
        let sum = checksum(
            &Icmpv6Packet::new(&msg).expect("8 octets at least"),
            &src,
            &dst,
        );
        msg[2..4].copy_from_slice(&sum.to_be_bytes());
        msg
    }

    /// RFC 4443's names, as `ping -6` and `traceroute6` print them.
    pub fn describe(self) -> String {
        match self {
            Icmpv6Kind::Unreachable(code) => {
                let what = match code {
                    0 => "no route to destination",
                    1 => "administratively prohibited",
                    2 => "beyond scope of source address",
                    3 => "address unreachable",
                    4 => "port unreachable",
                    5 => "source address failed policy",
                    6 => "reject route to destination",
                    _ => "destination unreachable",
                };
                format!("{what} (ICMPv6 type 1, code {code})")
            }
            Icmpv6Kind::PacketTooBig(mtu) => format!("packet too big, mtu {mtu} (ICMPv6 type 2)"),
            Icmpv6Kind::TimeExceeded(code) => {
                format!("time exceeded in transit (ICMPv6 type 3, code {code})")
            }
        }
    }
}

/// An ICMPv6 error about a TCP segment, a UDP datagram or an echo
/// request: what it says, and the quoted packet's addresses, ports and
/// sequence number.
///
/// A quoted echo request has no ports: its identifier stands for the
/// local port and the remote port is 0, as for ICMP over IPv4
/// ([`super::icmp::IcmpError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv6Error {
    pub kind: Icmpv6Kind,
    /// What the quoted packet carried: TCP, UDP or ICMPv6 (an echo
    /// request).
    pub protocol: NextHeader,
    pub quoted_src: (Ipv6Addr, u16),
    pub quoted_dst: (Ipv6Addr, u16),
    /// The quoted SEG.SEQ, when the quote reaches it; for a quoted echo
    /// request, its sequence number; `None` for UDP.
    pub quoted_seq: Option<SeqNum>,
}

impl Icmpv6Error {
    /// Whether an ICMPv6 message of type `ty` is an error this module
    /// reads (the caller sorts it from echo and neighbour discovery).
    pub fn is_error_type(ty: u8) -> bool {
        matches!(ty, DESTINATION_UNREACHABLE | PACKET_TOO_BIG | TIME_EXCEEDED)
    }

    /// Parses the ICMPv6 message `msg` that `ip` carried, checksum
    /// verified unless `verify` is false. Anything but an unreachable,
    /// packet-too-big or time-exceeded message quoting a TCP segment or
    /// a UDP datagram (its ports at least) or an echo request (its
    /// identifier and sequence number) is refused.
    pub fn parse(ip: &Ipv6Repr, msg: &[u8], verify: bool) -> Result<Icmpv6Error> {
        if msg.len() < 8 {
            return Err(WireError::Truncated);
        }
        let pkt = Icmpv6Packet::new(msg).ok_or(WireError::Truncated)?;
        if verify && checksum(&pkt, &ip.src, &ip.dst) != pkt.get_checksum() {
            return Err(WireError::BadChecksum);
        }
        let word = u32::from_be_bytes([msg[4], msg[5], msg[6], msg[7]]);
        let kind = match msg[0] {
            DESTINATION_UNREACHABLE => Icmpv6Kind::Unreachable(msg[1]),
            // RFC 8201 §4: an MTU below IPv6's minimum is no reason to go
            // below 1280; RFC 4443 §3.2: the code is 0 from the sender.
            PACKET_TOO_BIG => Icmpv6Kind::PacketTooBig(word),
            TIME_EXCEEDED => Icmpv6Kind::TimeExceeded(msg[1]),
            _ => return Err(WireError::Unsupported("ICMPv6 type")),
        };
        let (quoted, rest) = Ipv6Repr::parse_quoted(&msg[8..])?;
        let port = |at: usize| {
            rest.get(at..at + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or(WireError::Truncated)
        };
        let (src_port, dst_port, quoted_seq) = match quoted.next_header {
            NextHeader::Tcp => (
                port(0)?,
                port(2)?,
                rest.get(4..8)
                    .map(|s| SeqNum(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))),
            ),
            NextHeader::Udp => (port(0)?, port(2)?, None),
            // Type, code, checksum, identifier, sequence number: only an
            // echo request is ever ours to have sent.
            NextHeader::Icmpv6 => {
                if rest.first() != Some(&ECHO_REQUEST) {
                    return Err(WireError::Unsupported(
                        "ICMPv6 error about an ICMPv6 message not an echo request",
                    ));
                }
                (port(4)?, 0, Some(SeqNum(u32::from(port(6)?))))
            }
            _ => {
                return Err(WireError::Unsupported(
                    "ICMPv6 error about a packet not TCP, UDP or an echo request",
                ));
            }
        };
        Ok(Icmpv6Error {
            kind,
            protocol: quoted.next_header,
            quoted_src: (quoted.src, src_port),
            quoted_dst: (quoted.dst, dst_port),
            quoted_seq,
        })
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

    /// An error made by [`Icmpv6Kind::message`] reads back as itself,
    /// quoting the datagram whole when it fits and cut at 1280 bytes in
    /// all when it does not.
    #[rstest]
    #[case::small(100, 40 + 8 + 100)]
    #[case::exactly_fits(1280 - 48 - 48, 1280 - 48)]
    #[case::cut(4000, 1280 - 48)]
    fn errors_read_back_and_fit_the_minimum_mtu(#[case] payload: usize, #[case] quoted: usize) {
        // A UDP datagram from B's port 40000 to A's port 9.
        let mut udp = vec![0u8; 8 + payload];
        udp[0..2].copy_from_slice(&40000u16.to_be_bytes());
        udp[2..4].copy_from_slice(&9u16.to_be_bytes());
        let ip = Ipv6Repr::new(B, A, NextHeader::Udp, 64, udp.len());
        let mut packet = vec![0u8; 40 + udp.len()];
        ip.emit(&mut packet);
        packet[40..].copy_from_slice(&udp);
        for kind in [
            Icmpv6Kind::Unreachable(4),
            Icmpv6Kind::TimeExceeded(1),
            Icmpv6Kind::PacketTooBig(1400),
        ] {
            let msg = kind.message((A, B), &packet);
            assert_eq!(msg.len(), 8 + quoted);
            assert!(40 + msg.len() <= ERROR_MAX_LEN);
            assert_eq!(&msg[8..], &packet[..quoted]);
            let outer = Ipv6Repr::new(A, B, NextHeader::Icmpv6, 64, msg.len());
            let got = Icmpv6Error::parse(&outer, &msg, true).unwrap();
            assert_eq!(got.kind, kind);
            assert_eq!(got.protocol, NextHeader::Udp);
            assert_eq!((got.quoted_src, got.quoted_dst), ((B, 40000), (A, 9)));
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

    /// An ICMPv6 error message of `ty`/`code` with `word` (the MTU of
    /// a packet-too-big) quoting `quote`, checksummed from B to A.
    fn error(ty: u8, code: u8, word: u32, quote: &[u8]) -> Vec<u8> {
        let mut msg = vec![ty, code, 0, 0];
        msg.extend_from_slice(&word.to_be_bytes());
        msg.extend_from_slice(quote);
        let sum = checksum(&Icmpv6Packet::new(&msg).unwrap(), &B, &A);
        msg[2..4].copy_from_slice(&sum.to_be_bytes());
        msg
    }

    /// The IPv6 packet of a segment from A:40000 to B:80, seq 1000.
    fn quoted_segment() -> Vec<u8> {
        let tcp = crate::wire::tcp::TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNum(1000),
            ..crate::wire::testing::syn()
        };
        let f = tcp.to_ipv6_frame_with(
            MA,
            MB,
            &Ipv6Repr::new(A, B, NextHeader::Tcp, 64, 0),
            crate::wire::tcp::ChecksumFill::Complete,
        );
        f[14..].to_vec()
    }

    /// The IPv6 packet of an echo message of type `ty` from A to B,
    /// identifier 0x1234, sequence 7.
    fn quoted_echo(ty: u8) -> Vec<u8> {
        let mut f = echo().frame((MA, MB), (A, B));
        f[14 + 40] = ty;
        f[14..].to_vec()
    }

    /// The IPv6 packet of a datagram from A:40000 to B:33434.
    fn quoted_datagram() -> Vec<u8> {
        let udp = crate::wire::udp::UdpRepr {
            src_port: 40000,
            dst_port: 33434,
            payload: b"probe",
        };
        udp.to_ipv6_frame(MA, MB, &Ipv6Repr::new(A, B, NextHeader::Udp, 1, 0))[14..].to_vec()
    }

    /// What an error says of a datagram and an echo request it quotes:
    /// UDP's ports, no sequence number; the echo's identifier as our
    /// port, 0 as theirs, its sequence number.
    #[rstest]
    #[case::datagram(quoted_datagram(), NextHeader::Udp, (A, 40000), (B, 33434), None)]
    #[case::echo(quoted_echo(ECHO_REQUEST), NextHeader::Icmpv6, (A, 0x1234), (B, 0), Some(SeqNum(7)))]
    fn errors_about_datagrams_and_echoes_name_what_they_quote(
        #[case] quote: Vec<u8>,
        #[case] protocol: NextHeader,
        #[case] src: (Ipv6Addr, u16),
        #[case] dst: (Ipv6Addr, u16),
        #[case] seq: Option<SeqNum>,
    ) {
        let e = Icmpv6Error::parse(&from_b(), &error(3, 0, 0, &quote), true).unwrap();
        assert_eq!(e.kind, Icmpv6Kind::TimeExceeded(0));
        assert_eq!(e.protocol, protocol);
        assert_eq!((e.quoted_src, e.quoted_dst, e.quoted_seq), (src, dst, seq));
    }

    fn from_b() -> Ipv6Repr {
        Ipv6Repr::new(B, A, NextHeader::Icmpv6, 64, 0)
    }

    #[rstest]
    #[case::no_route(1, 0, 0, Icmpv6Kind::Unreachable(0))]
    #[case::port_unreachable(1, 4, 0, Icmpv6Kind::Unreachable(4))]
    #[case::packet_too_big(2, 0, 1400, Icmpv6Kind::PacketTooBig(1400))]
    #[case::hop_limit(3, 0, 0, Icmpv6Kind::TimeExceeded(0))]
    fn errors_name_the_segment_they_quote(
        #[case] ty: u8,
        #[case] code: u8,
        #[case] word: u32,
        #[case] kind: Icmpv6Kind,
    ) {
        let msg = error(ty, code, word, &quoted_segment());
        let e = Icmpv6Error::parse(&from_b(), &msg, true).unwrap();
        assert_eq!((e.kind, e.protocol), (kind, NextHeader::Tcp));
        assert_eq!((e.quoted_src, e.quoted_dst), ((A, 40000), (B, 80)));
        assert_eq!(e.quoted_seq, Some(SeqNum(1000)));
        // A quote cut after the ports still names the flow.
        let short = error(ty, code, word, &quoted_segment()[..44]);
        let e = Icmpv6Error::parse(&from_b(), &short, true).unwrap();
        assert_eq!((e.quoted_dst, e.quoted_seq), ((B, 80), None));
    }

    #[rstest]
    #[case::bad_checksum({ let mut m = error(1, 4, 0, &quoted_segment()); m[2] ^= 1; m }, WireError::BadChecksum)]
    #[case::no_header(error(1, 4, 0, &[])[..6].to_vec(), WireError::Truncated)]
    #[case::quote_cut_in_the_header(error(1, 4, 0, &quoted_segment()[..39]), WireError::Truncated)]
    #[case::quote_cut_in_the_ports(error(1, 4, 0, &quoted_segment()[..42]), WireError::Truncated)]
    #[case::quote_not_ipv6({ let mut q = quoted_segment(); q[0] = 0x45; error(1, 4, 0, &q) }, WireError::Unsupported("IP version"))]
    #[case::quote_of_sctp({ let mut q = quoted_segment(); q[6] = 132; error(1, 4, 0, &q) }, WireError::Unsupported("ICMPv6 error about a packet not TCP, UDP or an echo request"))]
    #[case::quote_of_an_echo_reply(error(1, 4, 0, &quoted_echo(ECHO_REPLY)), WireError::Unsupported("ICMPv6 error about an ICMPv6 message not an echo request"))]
    #[case::quote_of_an_echo_cut(error(1, 4, 0, &quoted_echo(ECHO_REQUEST)[..46]), WireError::Truncated)]
    #[case::quote_with_a_fragment({ let mut q = quoted_segment(); q[6] = 44; q.splice(40..40, [6, 0, 0, 8, 0, 0, 0, 1]); error(1, 4, 0, &q) }, WireError::Unsupported("IPv6 fragment"))]
    #[case::not_an_error(error(128, 0, 0, &quoted_segment()), WireError::Unsupported("ICMPv6 type"))]
    fn malformed_errors_are_refused(#[case] msg: Vec<u8>, #[case] want: WireError) {
        assert_eq!(Icmpv6Error::parse(&from_b(), &msg, true), Err(want));
    }

    #[test]
    fn a_vouched_checksum_is_not_verified() {
        let mut f = echo().frame((MA, MB), (A, B));
        f[14 + 40 + 2] ^= 0xff;
        assert!(parse_frame(&f, true).is_err());
        assert_eq!(parse_frame(&f, false).unwrap().2, echo());
    }
}
