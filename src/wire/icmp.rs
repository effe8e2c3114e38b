//! ICMP (RFC 792) as nettool speaks it:
//!
//! - [`IcmpError`]: destination unreachable and time exceeded, with the
//!   flow they quote: a TCP segment, a UDP datagram, or an ICMP query
//!   (an echo, timestamp or address mask request).
//! - [`IcmpQuery`]: the query messages that carry an identifier and a
//!   sequence number (RFC 1122 §3.2.2): echo (ping), timestamp and address
//!   mask (RFC 950), requests and replies, parsed and emitted.
//!
//! Nothing else of ICMP is parsed.

use std::net::Ipv4Addr;

use pnet::packet::icmp::{IcmpPacket, checksum};

use super::ipv4::{IpProtocol, Ipv4Repr};
use super::{Result, SeqNum, WireError};

/// The kinds of ICMP error nettool reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpKind {
    /// Type 3, with its code (0 net, 1 host, 2 protocol, 3 port, 4 fragmentation
    /// needed, 9–10 prohibited, 13 administratively prohibited, …).
    Unreachable(u8),
    /// Type 11, with its code (0 TTL exceeded in transit).
    TimeExceeded(u8),
}

impl IcmpKind {
    /// RFC 792 / RFC 1812 names, as `ping` and `traceroute` print them.
    pub fn describe(self) -> String {
        match self {
            IcmpKind::Unreachable(code) => {
                let what = match code {
                    0 => "network unreachable",
                    1 => "host unreachable",
                    2 => "protocol unreachable",
                    3 => "port unreachable",
                    4 => "fragmentation needed",
                    9 | 10 => "communication prohibited",
                    13 => "administratively prohibited",
                    _ => "destination unreachable",
                };
                format!("{what} (type 3, code {code})")
            }
            IcmpKind::TimeExceeded(code) => {
                format!("time exceeded in transit (type 11, code {code})")
            }
        }
    }
}

/// What an ICMP error says, over either IP version: an ICMPv4 error
/// (RFC 792) or an ICMPv6 one (RFC 4443).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    V4(IcmpKind),
    V6(super::icmpv6::Icmpv6Kind),
}

impl ErrorKind {
    /// The RFCs' names (RFC 792, RFC 4443), as `ping` prints them.
    pub fn describe(self) -> String {
        match self {
            ErrorKind::V4(k) => k.describe(),
            ErrorKind::V6(k) => k.describe(),
        }
    }
}

/// An ICMP error about a TCP segment, a UDP datagram or an ICMP query:
/// who sent it, what it says, and the flow of the packet it quotes.
///
/// A quoted ICMP query has no ports: its identifier stands for the local
/// port (as Linux's ping sockets bind it) and the remote port is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpError {
    pub kind: IcmpKind,
    /// What the quoted packet carried: TCP, UDP or ICMP.
    pub protocol: IpProtocol,
    /// The quoted packet's source and destination.
    pub quoted_src: (Ipv4Addr, u16),
    pub quoted_dst: (Ipv4Addr, u16),
    /// The quoted segment's sequence number: RFC 792 quotes 64 bits of
    /// the datagram, which is both ports and SEG.SEQ. For a quoted ICMP
    /// query, its sequence number. `None` for UDP, or when a sender
    /// quoted less.
    pub quoted_seq: Option<SeqNum>,
}

impl IcmpError {
    /// Parses the ICMP message carried by an IPv4 packet. Anything that is
    /// not an unreachable or time-exceeded message about TCP, UDP or an
    /// ICMP query request is refused.
    pub fn parse(icmp: &[u8]) -> Result<IcmpError> {
        let pkt = IcmpPacket::new(icmp).ok_or(WireError::Truncated)?;
        if checksum(&pkt) != pkt.get_checksum() {
            return Err(WireError::BadChecksum);
        }
        let kind = match pkt.get_icmp_type().0 {
            3 => IcmpKind::Unreachable(pkt.get_icmp_code().0),
            11 => IcmpKind::TimeExceeded(pkt.get_icmp_code().0),
            _ => return Err(WireError::Unsupported("ICMP type")),
        };
        // Type, code, checksum and 4 unused bytes, then the quoted header.
        let quoted = icmp.get(8..).ok_or(WireError::Truncated)?;
        let (ip, rest) = Ipv4Repr::parse_quoted(quoted)?;
        let word = |at: usize| {
            rest.get(at..at + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
        };
        match ip.protocol {
            // RFC 792 quotes at least the first 8 bytes: both ports, and
            // TCP's SEG.SEQ (UDP's length and checksum, which say nothing).
            IpProtocol::Tcp | IpProtocol::Udp => Ok(IcmpError {
                kind,
                protocol: ip.protocol,
                quoted_src: (ip.src, word(0).ok_or(WireError::Truncated)?),
                quoted_dst: (ip.dst, word(2).ok_or(WireError::Truncated)?),
                quoted_seq: rest
                    .get(4..8)
                    .filter(|_| ip.protocol == IpProtocol::Tcp)
                    .map(|s| SeqNum(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))),
            }),
            IpProtocol::Icmp => {
                // Type, code, checksum, identifier, sequence number.
                let head = rest.get(..8).ok_or(WireError::Truncated)?;
                if QueryKind::from_type(head[0]).is_none_or(QueryKind::is_reply) {
                    return Err(WireError::Unsupported("ICMP about an ICMP non-request"));
                }
                Ok(IcmpError {
                    kind,
                    protocol: IpProtocol::Icmp,
                    quoted_src: (ip.src, word(4).ok_or(WireError::Truncated)?),
                    quoted_dst: (ip.dst, 0),
                    quoted_seq: word(6).map(|s| SeqNum(u32::from(s))),
                })
            }
            IpProtocol::Other(_) => Err(WireError::Unsupported(
                "ICMP about a packet that is not TCP, UDP or ICMP",
            )),
        }
    }
}

/// The most of an ICMP error packet, IPv4 header included, that quotes
/// the datagram it is about: RFC 1812 §4.3.2.3's 576 octets (as Linux).
pub const ERROR_MAX_LEN: usize = 576;

impl IcmpKind {
    /// The ICMP message reporting this error about `datagram` (its IPv4
    /// header and payload, as it arrived): type, code, checksum, 4 unused
    /// octets, then as much of the datagram as keeps the error packet
    /// within [`ERROR_MAX_LEN`] (RFC 792 requires the header and 8 octets;
    /// RFC 1812 asks for as much as fits).
    pub fn message(self, datagram: &[u8]) -> Vec<u8> {
        let (icmp_type, code) = match self {
            IcmpKind::Unreachable(code) => (3, code),
            IcmpKind::TimeExceeded(code) => (11, code),
        };
        let room = ERROR_MAX_LEN - super::ipv4::HEADER_LEN - 8;
        let quoted = &datagram[..datagram.len().min(room)];
        let mut msg = Vec::with_capacity(8 + quoted.len());
        msg.extend_from_slice(&[icmp_type, code, 0, 0, 0, 0, 0, 0]);
        msg.extend_from_slice(quoted);
        let sum = checksum(&IcmpPacket::new(&msg).expect("8 octets at least"));
        msg[2..4].copy_from_slice(&sum.to_be_bytes());
        msg
    }
}

/// Length of an ICMP query's header: type, code, checksum, identifier,
/// sequence number.
pub const QUERY_HEADER_LEN: usize = 8;

/// The ICMP query messages (RFC 792, RFC 950).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryKind {
    EchoReply,
    EchoRequest,
    TimestampRequest,
    TimestampReply,
    AddressMaskRequest,
    AddressMaskReply,
}

impl QueryKind {
    pub fn from_type(t: u8) -> Option<QueryKind> {
        Some(match t {
            0 => QueryKind::EchoReply,
            8 => QueryKind::EchoRequest,
            13 => QueryKind::TimestampRequest,
            14 => QueryKind::TimestampReply,
            17 => QueryKind::AddressMaskRequest,
            18 => QueryKind::AddressMaskReply,
            _ => return None,
        })
    }

    pub fn icmp_type(self) -> u8 {
        match self {
            QueryKind::EchoReply => 0,
            QueryKind::EchoRequest => 8,
            QueryKind::TimestampRequest => 13,
            QueryKind::TimestampReply => 14,
            QueryKind::AddressMaskRequest => 17,
            QueryKind::AddressMaskReply => 18,
        }
    }

    pub fn is_reply(self) -> bool {
        matches!(
            self,
            QueryKind::EchoReply | QueryKind::TimestampReply | QueryKind::AddressMaskReply
        )
    }

    /// The reply a request of this kind expects (a reply expects none).
    pub fn reply(self) -> Option<QueryKind> {
        match self {
            QueryKind::EchoRequest => Some(QueryKind::EchoReply),
            QueryKind::TimestampRequest => Some(QueryKind::TimestampReply),
            QueryKind::AddressMaskRequest => Some(QueryKind::AddressMaskReply),
            _ => None,
        }
    }

    /// Bytes the body after the 8-byte header must hold at least: three
    /// 32-bit timestamps, or one address mask; an echo's data is free.
    pub fn min_body(self) -> usize {
        match self {
            QueryKind::EchoReply | QueryKind::EchoRequest => 0,
            QueryKind::TimestampRequest | QueryKind::TimestampReply => 12,
            QueryKind::AddressMaskRequest | QueryKind::AddressMaskReply => 4,
        }
    }

    /// As `ping` and tcpdump name them.
    pub fn name(self) -> &'static str {
        match self {
            QueryKind::EchoReply => "echo reply",
            QueryKind::EchoRequest => "echo request",
            QueryKind::TimestampRequest => "time stamp request",
            QueryKind::TimestampReply => "time stamp reply",
            QueryKind::AddressMaskRequest => "address mask request",
            QueryKind::AddressMaskReply => "address mask reply",
        }
    }
}

/// A validated ICMP query message: echo, timestamp or address mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpQuery<'a> {
    pub kind: QueryKind,
    /// Zero for every query RFC 792 defines; any value is sent as asked
    /// (`--icmp-code`) and read back as it came.
    pub code: u8,
    pub ident: u16,
    pub seq: u16,
    /// What follows the header: an echo's data, the timestamps, the mask.
    pub body: &'a [u8],
}

impl<'a> IcmpQuery<'a> {
    /// Parses the ICMP message carried by an IPv4 packet (its checksum
    /// verified). Anything that is not a query message is refused, and so
    /// is a timestamp or mask message too short for its fields.
    pub fn parse(icmp: &'a [u8]) -> Result<IcmpQuery<'a>> {
        if icmp.len() < QUERY_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let kind = QueryKind::from_type(icmp[0]).ok_or(WireError::Unsupported("ICMP type"))?;
        let pkt = IcmpPacket::new(icmp).ok_or(WireError::Truncated)?;
        if checksum(&pkt) != pkt.get_checksum() {
            return Err(WireError::BadChecksum);
        }
        let body = &icmp[QUERY_HEADER_LEN..];
        if body.len() < kind.min_body() {
            return Err(WireError::Truncated);
        }
        Ok(IcmpQuery {
            kind,
            code: icmp[1],
            ident: u16::from_be_bytes([icmp[4], icmp[5]]),
            seq: u16::from_be_bytes([icmp[6], icmp[7]]),
            body,
        })
    }

    pub const fn buffer_len(&self) -> usize {
        QUERY_HEADER_LEN + self.body.len()
    }

    /// Writes the message into the first [`IcmpQuery::buffer_len`] bytes
    /// of `buf`, checksum included (`bad`: one that cannot verify).
    ///
    /// Panics if `buf` is too short: the caller's contract.
    pub fn emit(&self, buf: &mut [u8], bad: bool) {
        let buf = &mut buf[..self.buffer_len()];
        buf[0] = self.kind.icmp_type();
        buf[1] = self.code;
        buf[2..4].fill(0);
        buf[4..6].copy_from_slice(&self.ident.to_be_bytes());
        buf[6..8].copy_from_slice(&self.seq.to_be_bytes());
        buf[QUERY_HEADER_LEN..].copy_from_slice(self.body);
        let mut sum = checksum(&IcmpPacket::new(buf).expect("checked length"));
        if bad {
            sum = sum.wrapping_add(1);
        }
        buf[2..4].copy_from_slice(&sum.to_be_bytes());
    }

    /// The three timestamps of a timestamp message (originate, receive,
    /// transmit: milliseconds since midnight UT, RFC 792).
    pub fn timestamps(&self) -> Option<[u32; 3]> {
        if !matches!(
            self.kind,
            QueryKind::TimestampRequest | QueryKind::TimestampReply
        ) {
            return None;
        }
        let b = self.body;
        let at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some([at(0), at(4), at(8)])
    }

    /// The address mask of a mask message.
    pub fn mask(&self) -> Option<Ipv4Addr> {
        if !matches!(
            self.kind,
            QueryKind::AddressMaskRequest | QueryKind::AddressMaskReply
        ) {
            return None;
        }
        let b = self.body;
        Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::Ipv4Repr;
    use crate::wire::seq::SeqNum;
    use rstest::rstest;

    const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const THEM: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// An ICMP error of `icmp_type`/`code` quoting a SYN from US:40000 to THEM:80.
    fn icmp_about_syn(icmp_type: u8, code: u8) -> Vec<u8> {
        let syn = crate::wire::testing::syn();
        let ip = Ipv4Repr::new(US, THEM, IpProtocol::Tcp, syn.buffer_len());
        let quoted = syn.to_ipv4_packet(&ip);
        let mut msg = vec![icmp_type, code, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&quoted[..28]); // header + 8 bytes, as routers quote
        let sum = checksum(&IcmpPacket::new(&msg).unwrap());
        msg[2..4].copy_from_slice(&sum.to_be_bytes());
        msg
    }

    #[rstest]
    #[case::port_unreachable(3, 3, IcmpKind::Unreachable(3), "port unreachable")]
    #[case::host_unreachable(3, 1, IcmpKind::Unreachable(1), "host unreachable")]
    #[case::admin_prohibited(3, 13, IcmpKind::Unreachable(13), "administratively prohibited")]
    #[case::ttl_exceeded(11, 0, IcmpKind::TimeExceeded(0), "time exceeded")]
    fn errors_quote_the_flow(
        #[case] t: u8,
        #[case] c: u8,
        #[case] kind: IcmpKind,
        #[case] words: &str,
    ) {
        let e = IcmpError::parse(&icmp_about_syn(t, c)).unwrap();
        assert_eq!(e.kind, kind);
        assert_eq!(e.quoted_src, (US, 40000));
        assert_eq!(e.quoted_dst, (THEM, 80));
        assert_eq!(e.quoted_seq, Some(SeqNum(1)));
        assert!(e.kind.describe().contains(words));
    }

    /// A message built by [`IcmpKind::message`] parses back, quoting the
    /// datagram whole when short, and cut so the packet stays within 576
    /// octets when long.
    #[rstest]
    #[case::short(10, 20 + 8 + 10)]
    #[case::fits_exactly(520, 548)]
    #[case::long(5000, 548)]
    fn messages_quote_as_much_as_576_octets_allow(#[case] payload: usize, #[case] quoted: usize) {
        let udp = crate::wire::udp::UdpRepr {
            src_port: 5000,
            dst_port: 9,
            payload: &vec![0xab; payload],
        };
        let ip = Ipv4Repr::new(THEM, US, IpProtocol::Udp, udp.buffer_len());
        let mut datagram = vec![0u8; ip.total_len()];
        ip.emit(&mut datagram);
        udp.emit(&mut datagram[20..], THEM, US);
        let msg = IcmpKind::Unreachable(3).message(&datagram);
        assert_eq!(msg.len(), 8 + quoted);
        assert!(20 + msg.len() <= ERROR_MAX_LEN);
        assert_eq!(&msg[8..], &datagram[..quoted]);
        let e = IcmpError::parse(&msg).unwrap();
        assert_eq!(e.kind, IcmpKind::Unreachable(3));
        assert_eq!((e.quoted_src, e.quoted_dst), ((THEM, 5000), (US, 9)));
    }

    #[test]
    fn a_bad_checksum_is_refused() {
        let mut msg = icmp_about_syn(3, 3);
        msg[2] ^= 0xff;
        assert_eq!(IcmpError::parse(&msg), Err(WireError::BadChecksum));
    }

    #[test]
    fn echo_and_truncated_quotes_are_refused() {
        let mut echo = icmp_about_syn(3, 3);
        echo[0] = 8;
        echo[2..4].copy_from_slice(&[0, 0]);
        let sum = checksum(&IcmpPacket::new(&echo).unwrap());
        echo[2..4].copy_from_slice(&sum.to_be_bytes());
        assert!(IcmpError::parse(&echo).is_err());
        for len in 0..30 {
            let mut short = icmp_about_syn(3, 3)[..len].to_vec();
            if short.len() >= 4 {
                short[2..4].copy_from_slice(&[0, 0]);
                let sum = checksum(&IcmpPacket::new(&short).unwrap());
                short[2..4].copy_from_slice(&sum.to_be_bytes());
            }
            assert!(IcmpError::parse(&short).is_err(), "length {len}");
        }
    }

    /// An ICMP error of `icmp_type`/`code` quoting `packet` (an IPv4
    /// datagram), its header and 8 bytes, as routers quote.
    fn icmp_about(icmp_type: u8, code: u8, packet: &[u8]) -> Vec<u8> {
        crate::wire::testing::icmp_error(icmp_type, code, packet)
    }

    fn udp_packet() -> Vec<u8> {
        let udp = crate::wire::udp::UdpRepr {
            src_port: 40000,
            dst_port: 53,
            payload: b"query",
        };
        let ip = Ipv4Repr::new(US, THEM, IpProtocol::Udp, udp.buffer_len());
        let mut bytes = vec![0u8; ip.total_len()];
        ip.emit(&mut bytes);
        udp.emit(&mut bytes[20..], US, THEM);
        bytes
    }

    fn query_packet(kind: QueryKind, ident: u16, seq: u16, body: &[u8]) -> Vec<u8> {
        let q = IcmpQuery {
            kind,
            code: 0,
            ident,
            seq,
            body,
        };
        let ip = Ipv4Repr::new(US, THEM, IpProtocol::Icmp, q.buffer_len());
        let mut bytes = vec![0u8; ip.total_len()];
        ip.emit(&mut bytes);
        q.emit(&mut bytes[20..], false);
        bytes
    }

    #[rstest]
    #[case::port_unreachable(3, 3)]
    #[case::admin_prohibited(3, 13)]
    #[case::ttl_exceeded(11, 0)]
    fn errors_about_udp_quote_its_ports_and_no_sequence(#[case] t: u8, #[case] c: u8) {
        let e = IcmpError::parse(&icmp_about(t, c, &udp_packet())).unwrap();
        assert_eq!(e.protocol, IpProtocol::Udp);
        assert_eq!((e.quoted_src, e.quoted_dst), ((US, 40000), (THEM, 53)));
        assert_eq!(e.quoted_seq, None);
    }

    #[rstest]
    #[case::echo(QueryKind::EchoRequest, &[][..])]
    #[case::timestamp(QueryKind::TimestampRequest, &[0; 12][..])]
    #[case::mask(QueryKind::AddressMaskRequest, &[0; 4][..])]
    fn errors_about_a_query_quote_its_identifier_and_sequence(
        #[case] kind: QueryKind,
        #[case] body: &[u8],
    ) {
        let e = IcmpError::parse(&icmp_about(3, 1, &query_packet(kind, 0x4242, 7, body))).unwrap();
        assert_eq!(e.protocol, IpProtocol::Icmp);
        assert_eq!((e.quoted_src, e.quoted_dst), ((US, 0x4242), (THEM, 0)));
        assert_eq!(e.quoted_seq, Some(SeqNum(7)));
    }

    #[test]
    fn errors_about_replies_or_other_protocols_are_refused() {
        let reply = query_packet(QueryKind::EchoReply, 1, 1, &[]);
        assert!(IcmpError::parse(&icmp_about(3, 1, &reply)).is_err());
        let mut gre = udp_packet();
        gre[9] = 47;
        assert_eq!(
            IcmpError::parse(&icmp_about(3, 2, &gre)),
            Err(WireError::Unsupported(
                "ICMP about a packet that is not TCP, UDP or ICMP"
            ))
        );
    }

    #[test]
    fn an_echo_request_is_byte_exact() {
        // Checksum summed independently (python3): 0800 + 1234 + 0001 +
        // 6869 → 0x82 9e, complement 0x7d61.
        let q = IcmpQuery {
            kind: QueryKind::EchoRequest,
            code: 0,
            ident: 0x1234,
            seq: 1,
            body: b"hi",
        };
        let mut buf = [0u8; 10];
        q.emit(&mut buf, false);
        assert_eq!(buf, [8, 0, 0x7d, 0x61, 0x12, 0x34, 0, 1, b'h', b'i']);
        assert_eq!(IcmpQuery::parse(&buf), Ok(q));
        q.emit(&mut buf, true);
        assert_eq!(IcmpQuery::parse(&buf), Err(WireError::BadChecksum));
    }

    #[rstest]
    #[case::echo_reply(QueryKind::EchoReply, vec![1, 2, 3])]
    #[case::timestamp_reply(QueryKind::TimestampReply, (1u8..=12).collect())]
    #[case::mask_reply(QueryKind::AddressMaskReply, vec![255, 255, 255, 0])]
    fn queries_round_trip(#[case] kind: QueryKind, #[case] body: Vec<u8>) {
        let q = IcmpQuery {
            kind,
            code: 0,
            ident: 9,
            seq: 65535,
            body: &body,
        };
        let mut buf = vec![0u8; q.buffer_len()];
        q.emit(&mut buf, false);
        let back = IcmpQuery::parse(&buf).unwrap();
        assert_eq!(back, q);
        match kind {
            QueryKind::TimestampReply => {
                assert_eq!(
                    back.timestamps(),
                    Some([0x0102_0304, 0x0506_0708, 0x090a_0b0c])
                )
            }
            QueryKind::AddressMaskReply => {
                assert_eq!(back.mask(), Some(Ipv4Addr::new(255, 255, 255, 0)))
            }
            _ => assert_eq!((back.timestamps(), back.mask()), (None, None)),
        }
    }

    /// An echo reply `hi`, then `edit`, then the checksum made right again
    /// (`fix`), so only the edit can be what is refused.
    fn edited_query(edit: fn(&mut Vec<u8>), fix: bool) -> Vec<u8> {
        let mut b = vec![0, 0, 0, 0, 0, 1, 0, 1, b'h', b'i'];
        edit(&mut b);
        if fix && b.len() >= 4 {
            b[2..4].fill(0);
            let sum = checksum(&IcmpPacket::new(&b).unwrap());
            b[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        b
    }

    #[rstest]
    #[case::empty(edited_query(|b| b.clear(), false), WireError::Truncated)]
    #[case::short_header(edited_query(|b| b.truncate(7), true), WireError::Truncated)]
    #[case::unreachable(edited_query(|b| b[0] = 3, true), WireError::Unsupported("ICMP type"))]
    #[case::redirect(edited_query(|b| b[0] = 5, true), WireError::Unsupported("ICMP type"))]
    #[case::bad_checksum(edited_query(|b| b[9] ^= 1, false), WireError::BadChecksum)]
    #[case::timestamp_short(edited_query(|b| b[0] = 14, true), WireError::Truncated)]
    #[case::mask_short(edited_query(|b| { b[0] = 18; b.truncate(11) }, true), WireError::Truncated)]
    fn malformed_queries_are_refused(#[case] bytes: Vec<u8>, #[case] why: WireError) {
        assert_eq!(IcmpQuery::parse(&bytes), Err(why));
    }

    #[test]
    fn no_input_panics() {
        for bytes in crate::wire::testing::arbitrary_bytes(0x1c3, 60, 64) {
            let _ = IcmpQuery::parse(&bytes);
            let _ = IcmpError::parse(&bytes);
        }
    }
}
