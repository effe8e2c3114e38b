//! IPv6 (RFC 8200), as much of it as neighbour discovery and ICMPv6 echo
//! need: the fixed header, a walk over the extension headers to the
//! upper-layer payload, and the addresses IPv6 maps onto Ethernet.
//!
//! The walk never trusts a length: every extension header is checked
//! against what is left of the packet before it is stepped over, and a
//! chain that runs past the end, loops on itself in more headers than a
//! packet can hold, or carries a fragment is refused, never followed.

use std::net::Ipv6Addr;

use pnet::packet::ip::IpNextHeaderProtocol;
use pnet::packet::ipv6::{Ipv6Packet, MutableIpv6Packet};

use super::ethernet::{self, EthernetRepr, Protocol};
use super::{MacAddr, Result, WireError};

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;

/// RFC 8200 §4: the extension headers a node walks, by their Next Header
/// value, and the upper-layer protocols nettool names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NextHeader {
    HopByHop,
    Tcp,
    Udp,
    Routing,
    Fragment,
    Icmpv6,
    NoNextHeader,
    DestinationOptions,
    Other(u8),
}

impl From<u8> for NextHeader {
    fn from(v: u8) -> Self {
        match v {
            0 => NextHeader::HopByHop,
            6 => NextHeader::Tcp,
            17 => NextHeader::Udp,
            43 => NextHeader::Routing,
            44 => NextHeader::Fragment,
            58 => NextHeader::Icmpv6,
            59 => NextHeader::NoNextHeader,
            60 => NextHeader::DestinationOptions,
            other => NextHeader::Other(other),
        }
    }
}

impl From<NextHeader> for u8 {
    fn from(n: NextHeader) -> u8 {
        match n {
            NextHeader::HopByHop => 0,
            NextHeader::Tcp => 6,
            NextHeader::Udp => 17,
            NextHeader::Routing => 43,
            NextHeader::Fragment => 44,
            NextHeader::Icmpv6 => 58,
            NextHeader::NoNextHeader => 59,
            NextHeader::DestinationOptions => 60,
            NextHeader::Other(v) => v,
        }
    }
}

/// More extension headers than this is no packet a sender means: a
/// bound on the walk, whatever the lengths say.
const MAX_EXTENSION_HEADERS: usize = 8;

/// A validated IPv6 header, with the extension headers walked:
/// `next_header` is the upper-layer protocol the payload carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The upper-layer protocol, after any extension headers.
    pub next_header: NextHeader,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
    /// Bytes of the upper-layer payload (after the extension headers).
    pub payload_len: usize,
}

impl Ipv6Repr {
    /// A header as nettool sends it: no extension headers, class and
    /// flow label 0.
    pub fn new(
        src: Ipv6Addr,
        dst: Ipv6Addr,
        next_header: NextHeader,
        hop_limit: u8,
        payload_len: usize,
    ) -> Ipv6Repr {
        Ipv6Repr {
            src,
            dst,
            next_header,
            hop_limit,
            traffic_class: 0,
            flow_label: 0,
            payload_len,
        }
    }

    /// Parses an IPv6 packet and returns the header with its upper-layer
    /// payload, trimmed to the payload length so Ethernet padding never
    /// becomes data.
    pub fn parse(bytes: &[u8]) -> Result<(Ipv6Repr, &[u8])> {
        if bytes.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let pkt = Ipv6Packet::new(bytes).ok_or(WireError::Truncated)?;
        if pkt.get_version() != 6 {
            return Err(WireError::Unsupported("IP version"));
        }
        let payload_len = usize::from(pkt.get_payload_length());
        // A jumbogram (payload length 0 with a hop-by-hop option) is for
        // links nettool does not drive.
        let end = HEADER_LEN + payload_len;
        if end > bytes.len() {
            return Err(WireError::Truncated);
        }
        let (next_header, offset) = walk(pkt.get_next_header().0, &bytes[HEADER_LEN..end])?;
        let upper = &bytes[HEADER_LEN + offset..end];
        let repr = Ipv6Repr {
            src: pkt.get_source(),
            dst: pkt.get_destination(),
            next_header,
            hop_limit: pkt.get_hop_limit(),
            traffic_class: pkt.get_traffic_class(),
            flow_label: pkt.get_flow_label(),
            payload_len: upper.len(),
        };
        Ok((repr, upper))
    }

    /// Parses the packet an ICMPv6 error quotes (RFC 4443 §2.4 (c): as
    /// much of it as fits in the error's 1280 bytes): the payload length
    /// may promise more than was quoted, so the walk and the payload stop
    /// at what is there. Everything else is checked as in
    /// [`Ipv6Repr::parse`].
    pub fn parse_quoted(bytes: &[u8]) -> Result<(Ipv6Repr, &[u8])> {
        if bytes.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let pkt = Ipv6Packet::new(bytes).ok_or(WireError::Truncated)?;
        if pkt.get_version() != 6 {
            return Err(WireError::Unsupported("IP version"));
        }
        let end = (HEADER_LEN + usize::from(pkt.get_payload_length())).min(bytes.len());
        let (next_header, offset) = walk(pkt.get_next_header().0, &bytes[HEADER_LEN..end])?;
        let upper = &bytes[HEADER_LEN + offset..end];
        let repr = Ipv6Repr {
            src: pkt.get_source(),
            dst: pkt.get_destination(),
            next_header,
            hop_limit: pkt.get_hop_limit(),
            traffic_class: pkt.get_traffic_class(),
            flow_label: pkt.get_flow_label(),
            payload_len: upper.len(),
        };
        Ok((repr, upper))
    }

    /// Bytes the header and its payload take.
    pub const fn total_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the fixed header into the first [`HEADER_LEN`] bytes of
    /// `buf`. Panics if `buf` is shorter (the caller sizes it), or if the
    /// payload is longer than a non-jumbo packet may be.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut pkt = MutableIpv6Packet::new(buf).expect("buffer shorter than an IPv6 header");
        pkt.set_version(6);
        pkt.set_traffic_class(self.traffic_class);
        pkt.set_flow_label(self.flow_label);
        pkt.set_payload_length(u16::try_from(self.payload_len).expect("IPv6 payload over 64 KiB"));
        pkt.set_next_header(IpNextHeaderProtocol(self.next_header.into()));
        pkt.set_hop_limit(self.hop_limit);
        pkt.set_source(self.src);
        pkt.set_destination(self.dst);
    }

    /// A whole Ethernet frame from `src_mac` to `dst_mac` with this header
    /// and `payload` (which must be `payload_len` bytes).
    pub fn frame(&self, src_mac: MacAddr, dst_mac: MacAddr, payload: &[u8]) -> Vec<u8> {
        assert_eq!(payload.len(), self.payload_len, "payload length");
        let mut frame = vec![0u8; ethernet::HEADER_LEN + self.total_len()];
        EthernetRepr {
            src: src_mac,
            dst: dst_mac,
            protocol: Protocol::Ipv6,
        }
        .emit(&mut frame);
        self.emit(&mut frame[ethernet::HEADER_LEN..]);
        frame[ethernet::HEADER_LEN + HEADER_LEN..].copy_from_slice(payload);
        frame
    }
}

/// Steps over the extension headers at the start of `rest` (the bytes
/// after the fixed header), the first named by `first`. Returns the
/// upper-layer protocol and where its header starts in `rest`.
fn walk(first: u8, rest: &[u8]) -> Result<(NextHeader, usize)> {
    let mut next = NextHeader::from(first);
    let mut at = 0usize;
    for seen in 0..=MAX_EXTENSION_HEADERS {
        let len = match next {
            // RFC 8200 §4.1: hop-by-hop options only right after the
            // fixed header.
            NextHeader::HopByHop if seen > 0 => {
                return Err(WireError::Malformed("hop-by-hop header after the first"));
            }
            NextHeader::HopByHop | NextHeader::Routing | NextHeader::DestinationOptions => {
                let hdr = rest.get(at..at + 2).ok_or(WireError::Truncated)?;
                8 * (usize::from(hdr[1]) + 1)
            }
            NextHeader::Fragment => {
                let hdr = rest.get(at..at + 8).ok_or(WireError::Truncated)?;
                let offset_and_m = u16::from_be_bytes([hdr[2], hdr[3]]);
                // Offset 0 and M clear is an atomic fragment (RFC 6946):
                // the whole packet, to be read as if unfragmented.
                if offset_and_m & 0xfff9 != 0 {
                    return Err(WireError::Unsupported("IPv6 fragment"));
                }
                8
            }
            _ => return Ok((next, at)),
        };
        if rest.len() < at + len {
            return Err(WireError::Truncated);
        }
        next = NextHeader::from(rest[at]);
        at += len;
    }
    Err(WireError::Malformed("too many IPv6 extension headers"))
}

/// RFC 4291 §2.7.1: the solicited-node multicast group of `addr`,
/// ff02::1:ffXX:XXXX with its low 24 bits: where a Neighbor Solicitation
/// for `addr` is sent.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// RFC 2464 §7: the Ethernet address of IPv6 multicast group `group`,
/// 33:33 followed by its low 32 bits.
pub fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    MacAddr::new(0x33, 0x33, o[12], o[13], o[14], o[15])
}

/// ff02::1, every node on the link (RFC 4291 §2.7.1).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// ff02::2, every router on the link.
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// Whether `addr` is link-local unicast (fe80::/10), which names a
/// neighbour only together with an interface.
pub fn is_link_local(addr: Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

/// RFC 4291 §2.5.6 / RFC 4862 §5.3: the link-local address a host forms
/// from its MAC (modified EUI-64), as Linux does by default.
pub fn link_local_from_mac(mac: MacAddr) -> Ipv6Addr {
    let MacAddr(a, b, c, d, e, f) = mac;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        a ^ 0x02,
        b,
        c,
        0xff,
        0xfe,
        d,
        e,
        f,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const A: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    const B: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);

    /// A packet with extension headers `ext` (each: its Next Header is
    /// filled in) before an 8-byte ICMPv6 body.
    fn packet(first: u8, ext: &[Vec<u8>]) -> Vec<u8> {
        let body = [128u8, 0, 0, 0, 0, 1, 0, 1];
        let mut payload = Vec::new();
        for e in ext {
            payload.extend_from_slice(e);
        }
        payload.extend_from_slice(&body);
        let mut bytes = vec![0u8; HEADER_LEN + payload.len()];
        Ipv6Repr::new(A, B, NextHeader::Icmpv6, 255, payload.len()).emit(&mut bytes);
        bytes[6] = first;
        bytes[HEADER_LEN..].copy_from_slice(&payload);
        bytes
    }

    fn ext(next: u8, len8: u8) -> Vec<u8> {
        let mut e = vec![0u8; 8 * (usize::from(len8) + 1)];
        e[0] = next;
        e[1] = len8;
        if len8 == 0 {
            e[2] = 1; // a PadN option filling the header
            e[3] = 4;
        }
        e
    }

    /// A fragment header: `next`, then the offset and M flag word.
    fn frag(next: u8, offset_and_m: u16) -> Vec<u8> {
        let [hi, lo] = offset_and_m.to_be_bytes();
        vec![next, 0, hi, lo, 0, 0, 0, 7]
    }

    #[test]
    fn round_trip_without_extension_headers() {
        let bytes = packet(58, &[]);
        let (repr, upper) = Ipv6Repr::parse(&bytes).unwrap();
        assert_eq!((repr.src, repr.dst, repr.hop_limit), (A, B, 255));
        assert_eq!(repr.next_header, NextHeader::Icmpv6);
        assert_eq!(upper, &[128, 0, 0, 0, 0, 1, 0, 1]);
    }

    #[test]
    fn padding_after_the_payload_is_not_data() {
        let mut bytes = packet(58, &[]);
        bytes.extend_from_slice(&[0; 10]);
        assert_eq!(Ipv6Repr::parse(&bytes).unwrap().1.len(), 8);
    }

    #[test]
    fn extension_headers_are_walked_to_the_upper_layer() {
        let bytes = packet(0, &[ext(60, 0), ext(43, 1), ext(44, 0), frag(58, 0)]);
        // The fragment header has offset 0 and M clear: atomic (RFC 6946).
        let (repr, upper) = Ipv6Repr::parse(&bytes).unwrap();
        assert_eq!(repr.next_header, NextHeader::Icmpv6);
        assert_eq!(upper.len(), 8);
        assert_eq!(upper[0], 128);
    }

    #[rstest]
    #[case::empty(vec![], WireError::Truncated)]
    #[case::short_header(packet(58, &[])[..39].to_vec(), WireError::Truncated)]
    #[case::version_4({ let mut p = packet(58, &[]); p[0] = 0x45; p }, WireError::Unsupported("IP version"))]
    #[case::payload_length_past_the_end({ let mut p = packet(58, &[]); p[5] = 9; p }, WireError::Truncated)]
    #[case::extension_past_the_end({ let mut p = packet(60, &[ext(58, 0)]); p[HEADER_LEN + 1] = 200; p }, WireError::Truncated)]
    #[case::extension_header_cut({ let mut p = packet(60, &[]); p[5] = 1; p.truncate(HEADER_LEN + 1); p }, WireError::Truncated)]
    #[case::hop_by_hop_not_first(packet(60, &[ext(0, 0), ext(58, 0)]), WireError::Malformed("hop-by-hop header after the first"))]
    #[case::first_fragment(packet(44, &[frag(58, 1)]), WireError::Unsupported("IPv6 fragment"))]
    #[case::later_fragment(packet(44, &[frag(58, 8 << 3)]), WireError::Unsupported("IPv6 fragment"))]
    #[case::endless_chain(packet(60, &vec![ext(60, 0); 9]), WireError::Malformed("too many IPv6 extension headers"))]
    fn malformed_packets_are_refused(#[case] bytes: Vec<u8>, #[case] want: WireError) {
        assert_eq!(Ipv6Repr::parse(&bytes).unwrap_err(), want);
    }

    #[test]
    fn no_prefix_of_a_packet_panics() {
        let bytes = packet(0, &[ext(60, 0), ext(43, 1), ext(58, 0)]);
        for n in 0..bytes.len() {
            let _ = Ipv6Repr::parse(&bytes[..n]);
        }
        for i in 0..bytes.len() {
            for v in [0u8, 1, 0x2c, 0x3a, 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                let _ = Ipv6Repr::parse(&b);
            }
        }
    }

    #[rstest]
    #[case("fe80::1", "ff02::1:ff00:1", "33:33:ff:00:00:01")]
    #[case("2001:db8::2aa:ff:fe28:9c5a", "ff02::1:ff28:9c5a", "33:33:ff:28:9c:5a")]
    #[case("fd00:6e74::abcd:ef12", "ff02::1:ffcd:ef12", "33:33:ff:cd:ef:12")]
    fn solicited_node_groups_and_their_macs(
        #[case] addr: &str,
        #[case] group: &str,
        #[case] mac: &str,
    ) {
        let g = solicited_node(addr.parse().unwrap());
        assert_eq!(g, group.parse::<Ipv6Addr>().unwrap());
        assert_eq!(multicast_mac(g).to_string(), mac);
    }

    #[test]
    fn all_nodes_mac_and_link_local() {
        assert_eq!(multicast_mac(ALL_NODES).to_string(), "33:33:00:00:00:01");
        assert!(is_link_local("fe80::1".parse().unwrap()));
        assert!(is_link_local("febf::1".parse().unwrap()));
        assert!(!is_link_local("fec0::1".parse().unwrap()));
        assert!(!is_link_local("fd00:6e74::1".parse().unwrap()));
        assert_eq!(
            link_local_from_mac(MacAddr::new(0x52, 0x54, 0, 0x12, 0x34, 0x56)),
            "fe80::5054:ff:fe12:3456".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn frame_carries_the_ipv6_ethertype() {
        let repr = Ipv6Repr::new(A, B, NextHeader::Icmpv6, 255, 3);
        let f = repr.frame(MacAddr::new(2, 0, 0, 0, 0, 1), multicast_mac(B), &[1, 2, 3]);
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        let (eth, rest) = EthernetRepr::parse(&f).unwrap();
        assert_eq!(eth.protocol, Protocol::Ipv6);
        assert_eq!(Ipv6Repr::parse(rest).unwrap().1, &[1, 2, 3]);
    }
}
