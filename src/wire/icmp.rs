//! ICMP errors that answer a TCP segment (RFC 792): destination
//! unreachable and time exceeded, with the flow they quote. Nothing else
//! of ICMP is parsed.

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

/// An ICMP error about a TCP segment: who sent it, what it says, and the
/// flow of the segment it quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpError {
    pub kind: IcmpKind,
    /// The quoted segment's source and destination.
    pub quoted_src: (Ipv4Addr, u16),
    pub quoted_dst: (Ipv4Addr, u16),
    /// The quoted segment's sequence number: RFC 792 quotes 64 bits of
    /// the datagram, which is both ports and SEG.SEQ. `None` when a
    /// sender quoted less.
    pub quoted_seq: Option<SeqNum>,
}

impl IcmpError {
    /// Parses the ICMP message carried by an IPv4 packet. Anything that is
    /// not an unreachable or time-exceeded message about TCP is refused.
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
        if ip.protocol != IpProtocol::Tcp {
            return Err(WireError::Unsupported("ICMP about a non-TCP packet"));
        }
        // RFC 792 quotes at least the first 8 bytes: both TCP ports.
        let ports = rest.get(..4).ok_or(WireError::Truncated)?;
        Ok(IcmpError {
            kind,
            quoted_src: (ip.src, u16::from_be_bytes([ports[0], ports[1]])),
            quoted_dst: (ip.dst, u16::from_be_bytes([ports[2], ports[3]])),
            quoted_seq: rest
                .get(4..8)
                .map(|s| SeqNum(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))),
        })
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
}
