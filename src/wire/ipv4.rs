//! IPv4 (RFC 791), as much of it as a TCP endpoint needs: one unfragmented
//! datagram at a time. Options are skipped (never emitted). [`Ipv4Repr::parse`]
//! refuses fragments, since a first fragment's TCP or UDP header would
//! otherwise be checksummed against a partial payload; the reassembler
//! ([`super::frag`]) reads them with [`Ipv4Repr::parse_fragment`] and
//! writes them with [`Ipv4Repr::emit_fragment`].

use std::net::Ipv4Addr;

use pnet::packet::ip::IpNextHeaderProtocol;
use pnet::packet::ipv4::{self as pnet_ipv4, Ipv4Packet, MutableIpv4Packet};

use super::{Result, WireError};

/// Length of an IPv4 header without options (IHL = 5).
pub const HEADER_LEN: usize = 20;

/// The "don't fragment" bit in the 3-bit flags field.
const FLAG_DF: u8 = 0b010;
/// The "more fragments" bit in the 3-bit flags field.
const FLAG_MF: u8 = 0b001;

/// The IP protocol numbers nettool names, plus the raw value of any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    Icmp,
    Tcp,
    Udp,
    Other(u8),
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        match v {
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            other => IpProtocol::Other(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(p: IpProtocol) -> u8 {
        match p {
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Other(v) => v,
        }
    }
}

/// Where a fragment's data goes in its datagram (RFC 791 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Bytes from the start of the datagram's payload (the header's
    /// fragment offset times 8).
    pub offset: usize,
    /// The MF flag: more fragments follow this one.
    pub more: bool,
}

impl Fragment {
    /// A whole datagram: offset 0, no MF.
    pub const WHOLE: Fragment = Fragment {
        offset: 0,
        more: false,
    };

    /// Whether this is a piece of a datagram rather than all of it.
    pub fn is_piece(self) -> bool {
        self.more || self.offset != 0
    }
}

/// A validated IPv4 header of an unfragmented datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: IpProtocol,
    pub ttl: u8,
    /// The whole former TOS octet: DSCP in the upper six bits, ECN in the
    /// lower two.
    pub tos: u8,
    pub identification: u16,
    /// The DF flag. nettool sets it on everything it sends, as Linux does
    /// for TCP (path MTU discovery, RFC 1191).
    pub dont_frag: bool,
    /// Bytes after the header (total length minus header length).
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// A header as nettool sends it: TTL 64, DF set, TOS 0.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, payload_len: usize) -> Self {
        Ipv4Repr {
            src,
            dst,
            protocol,
            ttl: 64,
            tos: 0,
            identification: 0,
            dont_frag: true,
            payload_len,
        }
    }

    /// Parses an IPv4 datagram and returns the header with its payload,
    /// trimmed to the total length so Ethernet padding never becomes data.
    ///
    /// pnet's view clamps IHL and total length instead of rejecting them,
    /// so both are checked here against the buffer before any use.
    pub fn parse(bytes: &[u8]) -> Result<(Ipv4Repr, &[u8])> {
        let (repr, fragment, payload) = Ipv4Repr::parse_fragment(bytes)?;
        if fragment.is_piece() {
            return Err(WireError::Unsupported("IPv4 fragment"));
        }
        Ok((repr, payload))
    }

    /// [`Ipv4Repr::parse`] for a datagram that may be a fragment: its
    /// header (`payload_len` is the fragment's), where its data goes, and
    /// the data. [`Fragment::WHOLE`] for an unfragmented datagram.
    pub fn parse_fragment(bytes: &[u8]) -> Result<(Ipv4Repr, Fragment, &[u8])> {
        let (pkt, header_len) = Ipv4Repr::view(bytes)?;
        if header_len > bytes.len() {
            return Err(WireError::Truncated);
        }
        let total_len = usize::from(pkt.get_total_length());
        if total_len < header_len {
            return Err(WireError::BadLength);
        }
        if total_len > bytes.len() {
            return Err(WireError::Truncated);
        }
        // Checksum over the header only: a view limited to IHL*4 bytes
        // makes pnet's helper sum exactly the header, options included.
        let header = Ipv4Packet::new(&bytes[..header_len]).ok_or(WireError::Truncated)?;
        if pnet_ipv4::checksum(&header) != pkt.get_checksum() {
            return Err(WireError::BadChecksum);
        }
        let fragment = Fragment {
            offset: usize::from(pkt.get_fragment_offset()) * 8,
            more: pkt.get_flags() & FLAG_MF != 0,
        };
        let repr = Ipv4Repr::from_header(&pkt, total_len - header_len);
        Ok((repr, fragment, &bytes[header_len..total_len]))
    }

    /// Parses the IPv4 header an ICMP error quotes (RFC 792): the header
    /// and only the first bytes of its payload, so the total length is not
    /// checked against the buffer, and the checksum is not verified (a
    /// middlebox may have rewritten the quoted header). Returns the header
    /// and whatever of the payload was quoted.
    pub fn parse_quoted(bytes: &[u8]) -> Result<(Ipv4Repr, &[u8])> {
        let (pkt, header_len) = Ipv4Repr::view(bytes)?;
        let rest = bytes.get(header_len..).ok_or(WireError::Truncated)?;
        let payload_len = usize::from(pkt.get_total_length()).saturating_sub(header_len);
        Ok((Ipv4Repr::from_header(&pkt, payload_len), rest))
    }

    /// pnet's view of an IPv4 header, and its length from IHL once IHL is
    /// known to cover the fixed header (whether the buffer holds all of it
    /// is the caller's check: a quoted header may be cut short).
    fn view(bytes: &[u8]) -> Result<(Ipv4Packet<'_>, usize)> {
        let pkt = Ipv4Packet::new(bytes).ok_or(WireError::Truncated)?;
        if pkt.get_version() != 4 {
            return Err(WireError::Unsupported("IP version"));
        }
        let header_len = usize::from(pkt.get_header_length()) * 4;
        if header_len < HEADER_LEN {
            return Err(WireError::BadLength);
        }
        Ok((pkt, header_len))
    }

    /// The representation of a header whose lengths the caller checked.
    fn from_header(pkt: &Ipv4Packet, payload_len: usize) -> Ipv4Repr {
        Ipv4Repr {
            src: pkt.get_source(),
            dst: pkt.get_destination(),
            protocol: IpProtocol::from(pkt.get_next_level_protocol().0),
            ttl: pkt.get_ttl(),
            tos: (pkt.get_dscp() << 2) | pkt.get_ecn(),
            identification: pkt.get_identification(),
            dont_frag: pkt.get_flags() & FLAG_DF != 0,
            payload_len,
        }
    }

    /// Bytes the header takes (nettool never emits options).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Bytes of the whole datagram, header plus payload.
    pub const fn total_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header, checksum included, into the first [`HEADER_LEN`]
    /// bytes of `buf`.
    ///
    /// Panics if `buf` is shorter than the header or the datagram would not
    /// fit the 16-bit total length: both are the caller's contract.
    pub fn emit(&self, buf: &mut [u8]) {
        self.emit_fragment(buf, Fragment::WHOLE);
    }

    /// [`Ipv4Repr::emit`] for a fragment: `payload_len` is the fragment's
    /// data, which goes at `fragment.offset` of the datagram (a multiple
    /// of 8: the caller's contract, checked).
    pub fn emit_fragment(&self, buf: &mut [u8], fragment: Fragment) {
        assert!(
            fragment.offset % 8 == 0 && fragment.offset / 8 <= 0x1fff,
            "fragment offset {} not a 13-bit count of 8-octet units",
            fragment.offset
        );
        let total = u16::try_from(self.total_len()).expect("IPv4 datagram longer than 65535");
        let mut pkt = MutableIpv4Packet::new(&mut buf[..HEADER_LEN])
            .expect("buffer shorter than IPv4 header");
        pkt.set_version(4);
        pkt.set_header_length(5);
        pkt.set_dscp(self.tos >> 2);
        pkt.set_ecn(self.tos & 0b11);
        pkt.set_total_length(total);
        pkt.set_identification(self.identification);
        let df = if self.dont_frag { FLAG_DF } else { 0 };
        let mf = if fragment.more { FLAG_MF } else { 0 };
        pkt.set_flags(df | mf);
        pkt.set_fragment_offset((fragment.offset / 8) as u16);
        pkt.set_ttl(self.ttl);
        pkt.set_next_level_protocol(IpNextHeaderProtocol(self.protocol.into()));
        pkt.set_source(self.src);
        pkt.set_destination(self.dst);
        pkt.set_checksum(0);
        let sum = pnet_ipv4::checksum(&pkt.to_immutable());
        pkt.set_checksum(sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testing;
    use rstest::rstest;

    // 10.0.0.1 > 10.0.0.2, TCP, 4 bytes of payload, DF, TTL 64, id 0x1234.
    const DATAGRAM: [u8; 24] = [
        0x45, 0x00, // version 4, IHL 5, TOS 0
        0x00, 0x18, // total length 24
        0x12, 0x34, // identification
        0x40, 0x00, // DF, offset 0
        0x40, 0x06, // TTL 64, protocol TCP
        0x14, 0xaa, // header checksum
        10, 0, 0, 1, // source
        10, 0, 0, 2, // destination
        0xde, 0xad, 0xbe, 0xef, // payload
    ];

    fn repr() -> Ipv4Repr {
        Ipv4Repr {
            identification: 0x1234,
            ..Ipv4Repr::new(
                Ipv4Addr::new(10, 0, 0, 1),
                Ipv4Addr::new(10, 0, 0, 2),
                IpProtocol::Tcp,
                4,
            )
        }
    }

    #[test]
    fn parse_fixture() {
        let (r, payload) = Ipv4Repr::parse(&DATAGRAM).unwrap();
        assert_eq!(r, repr());
        assert_eq!(payload, &[0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn emit_overwrites_every_header_byte() {
        let mut buf = [0xa5u8; HEADER_LEN];
        repr().emit(&mut buf);
        assert_eq!(buf, DATAGRAM[..HEADER_LEN]);
    }

    #[test]
    fn ethernet_padding_is_trimmed() {
        let mut padded = DATAGRAM.to_vec();
        padded.extend_from_slice(&[0; 22]);
        let (_, payload) = Ipv4Repr::parse(&padded).unwrap();
        assert_eq!(payload, &[0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn options_are_skipped() {
        // IHL 6: one 4-byte option word (NOP NOP NOP EOL) before the payload.
        let mut bytes = DATAGRAM[..HEADER_LEN].to_vec();
        bytes.extend_from_slice(&[1, 1, 1, 0, 0xde, 0xad, 0xbe, 0xef]);
        bytes[0] = 0x46;
        bytes[3] = 28;
        refill_checksum(&mut bytes, 24);
        let (r, payload) = Ipv4Repr::parse(&bytes).unwrap();
        assert_eq!(r.payload_len, 4);
        assert_eq!(payload, &[0xde, 0xad, 0xbe, 0xef]);
    }

    fn refill_checksum(bytes: &mut [u8], header_len: usize) {
        bytes[10] = 0;
        bytes[11] = 0;
        let sum = pnet_ipv4::checksum(&Ipv4Packet::new(&bytes[..header_len]).unwrap());
        bytes[10..12].copy_from_slice(&sum.to_be_bytes());
    }

    fn patched(offset: usize, value: &[u8], fix_checksum: bool) -> Vec<u8> {
        let mut p = DATAGRAM.to_vec();
        p[offset..offset + value.len()].copy_from_slice(value);
        if fix_checksum {
            refill_checksum(&mut p, HEADER_LEN);
        }
        p
    }

    #[rstest]
    #[case::empty(vec![], WireError::Truncated)]
    #[case::short_header(DATAGRAM[..19].to_vec(), WireError::Truncated)]
    #[case::version_6(patched(0, &[0x65], true), WireError::Unsupported("IP version"))]
    #[case::ihl_4(patched(0, &[0x44], true), WireError::BadLength)]
    #[case::ihl_beyond_buffer(patched(0, &[0x4f], false), WireError::Truncated)]
    #[case::total_below_ihl(patched(2, &[0, 19], true), WireError::BadLength)]
    #[case::total_beyond_buffer(patched(2, &[0, 25], true), WireError::Truncated)]
    #[case::bad_checksum(patched(11, &[0x9e], false), WireError::BadChecksum)]
    #[case::more_fragments(patched(6, &[0x20, 0x00], true), WireError::Unsupported("IPv4 fragment"))]
    #[case::later_fragment(patched(6, &[0x00, 0x10], true), WireError::Unsupported("IPv4 fragment"))]
    fn bad_datagrams_are_rejected(#[case] bytes: Vec<u8>, #[case] want: WireError) {
        assert_eq!(Ipv4Repr::parse(&bytes).map(|(r, _)| r), Err(want));
    }

    #[rstest]
    #[case::first(Fragment { offset: 0, more: true })]
    #[case::middle(Fragment { offset: 1480, more: true })]
    #[case::last(Fragment { offset: 65528, more: false })]
    #[case::whole(Fragment::WHOLE)]
    fn fragments_round_trip(#[case] fragment: Fragment) {
        let r = Ipv4Repr {
            dont_frag: false,
            ..repr()
        };
        let mut buf = DATAGRAM;
        r.emit_fragment(&mut buf, fragment);
        assert_eq!(
            Ipv4Repr::parse_fragment(&buf),
            Ok((r, fragment, &DATAGRAM[HEADER_LEN..]))
        );
        assert_eq!(fragment.is_piece(), Ipv4Repr::parse(&buf).is_err());
    }

    #[test]
    fn tos_round_trips() {
        let r = Ipv4Repr {
            tos: 0xb9,
            ..repr()
        };
        let mut buf = [0u8; 24];
        r.emit(&mut buf);
        assert_eq!(Ipv4Repr::parse(&buf).unwrap().0, r);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        for bytes in testing::arbitrary_bytes(0x9e37_79b9, 48, 64) {
            let _ = Ipv4Repr::parse(&bytes);
        }
    }
}
