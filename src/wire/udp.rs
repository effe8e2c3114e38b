//! UDP (RFC 768) over IPv4 and IPv6: the 8-byte header, its length field
//! checked against the datagram, and the checksum over the pseudo-header
//! of either family.
//!
//! Over IPv4 a sender may leave the checksum out: a zero in the field says
//! "not computed", and such a datagram is accepted unverified. A computed
//! checksum that comes out zero is therefore sent as 0xffff (its other
//! one's-complement spelling), so that it never reads as "none". Over
//! IPv6 the checksum is mandatory (RFC 8200 §8.1): a datagram with a zero
//! one is discarded on receipt, and none is sent without one.

use std::net::{Ipv4Addr, Ipv6Addr};

use pnet::packet::udp::UdpPacket;

use super::checksum;
use super::ethernet::{self, EthernetRepr, Protocol};
use super::ip::{self, IpHeader};
use super::ipv4::{IpProtocol, Ipv4Repr};
use super::ipv6::Ipv6Repr;
use super::tcp::ChecksumMode;
use super::{MacAddr, Result, WireError};

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

/// UDP's protocol number (IPv4's protocol, IPv6's next header).
const PROTOCOL: u8 = 17;

/// The largest payload one IPv4 datagram carries (65535 minus the IPv4 and
/// UDP headers).
pub const MAX_PAYLOAD: usize = <Ipv4Repr as IpHeader>::MAX_PAYLOAD - HEADER_LEN;

/// The largest payload one IPv6 packet without a jumbo option carries
/// (its payload length, 65535, less the UDP header).
pub const MAX_PAYLOAD_V6: usize = <Ipv6Repr as IpHeader>::MAX_PAYLOAD - HEADER_LEN;

/// How [`UdpRepr::emit_with`] fills the checksum field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UdpChecksum {
    /// Computed over the pseudo-header, header and payload.
    #[default]
    Computed,
    /// Zero: "no checksum", which RFC 768 allows over IPv4.
    Omitted,
    /// One that cannot verify (for probing a host's checks).
    Bad,
}

/// A validated UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

impl<'a> UdpRepr<'a> {
    /// Parses a UDP datagram: the IPv4 payload (already trimmed to the IPv4
    /// total length). `src` and `dst` are the pseudo-header's addresses.
    ///
    /// The length field must cover the header and fit the buffer; bytes
    /// past it (which IPv4 allows) are not payload. A zero checksum is
    /// "none sent" and is accepted; any other is verified unless `mode`
    /// says the kernel vouched for the frame.
    pub fn parse(
        bytes: &'a [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        mode: ChecksumMode,
    ) -> Result<UdpRepr<'a>> {
        UdpRepr::parse_over::<Ipv4Repr>(bytes, src, dst, mode)
    }

    /// [`UdpRepr::parse`] for a datagram an IPv6 packet carried from `src`
    /// to `dst` (its payload, past any extension headers). A zero checksum
    /// is refused (RFC 8200 §8.1: IPv6 has no "none sent"), whatever
    /// `mode` says; any other is verified unless the kernel vouched.
    pub fn parse_v6(
        bytes: &'a [u8],
        src: Ipv6Addr,
        dst: Ipv6Addr,
        mode: ChecksumMode,
    ) -> Result<UdpRepr<'a>> {
        UdpRepr::parse_over::<Ipv6Repr>(bytes, src, dst, mode)
    }

    /// [`UdpRepr::parse`] under the pseudo-header of the family `H`.
    pub fn parse_over<H: IpHeader>(
        bytes: &'a [u8],
        src: H::Addr,
        dst: H::Addr,
        mode: ChecksumMode,
    ) -> Result<UdpRepr<'a>> {
        let pkt = UdpPacket::new(bytes).ok_or(WireError::Truncated)?;
        let len = usize::from(pkt.get_length());
        if len < HEADER_LEN {
            return Err(WireError::BadLength);
        }
        if len > bytes.len() {
            return Err(WireError::Truncated);
        }
        let got = pkt.get_checksum();
        // Only IPv6 requires the checksum.
        if got == 0 && !H::UDP_CHECKSUM_OPTIONAL {
            return Err(WireError::Malformed("UDP over IPv6 without a checksum"));
        }
        if mode == ChecksumMode::Verify && got != 0 {
            // Sum over exactly the datagram the length field names.
            let mut sum = checksum::add(0, &bytes[..6]);
            sum = checksum::add(sum, &bytes[8..len]);
            let want = H::pseudo_sum(src, dst, PROTOCOL, len, sum);
            // 0xffff is how a computed zero is sent; the sum gives it as 0.
            if got != want && !(got == 0xffff && want == 0) {
                return Err(WireError::BadChecksum);
            }
        }
        Ok(UdpRepr {
            src_port: pkt.get_source(),
            dst_port: pkt.get_destination(),
            payload: &bytes[HEADER_LEN..len],
        })
    }

    /// Bytes of the whole datagram, header and payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Writes the datagram into the first [`UdpRepr::buffer_len`] bytes of
    /// `buf`, checksum computed.
    ///
    /// Panics if `buf` is too short or the payload exceeds
    /// [`MAX_PAYLOAD`]: both are the caller's contract.
    pub fn emit(&self, buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) {
        self.emit_with(buf, src, dst, UdpChecksum::Computed);
    }

    /// [`UdpRepr::emit`], with the checksum filled as `fill` says.
    pub fn emit_with(&self, buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, fill: UdpChecksum) {
        self.emit_over::<Ipv4Repr>(buf, src, dst, fill);
    }

    /// [`UdpRepr::emit_with`] for a datagram from `src` to `dst` over
    /// IPv6: the checksum under IPv6's pseudo-header. `Omitted` has no
    /// place over IPv6 (a receiver drops a zero checksum, RFC 8200 §8.1):
    /// the checksum is computed all the same.
    ///
    /// Panics if `buf` is too short or the payload exceeds
    /// [`MAX_PAYLOAD_V6`].
    pub fn emit_v6(&self, buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, fill: UdpChecksum) {
        self.emit_over::<Ipv6Repr>(buf, src, dst, fill);
    }

    /// [`UdpRepr::emit_with`] under the pseudo-header of the family `H`;
    /// `Omitted` is computed all the same where `H` requires the checksum.
    ///
    /// Panics if `buf` is too short or the payload exceeds what one
    /// packet of `H` carries.
    pub fn emit_over<H: IpHeader>(
        &self,
        buf: &mut [u8],
        src: H::Addr,
        dst: H::Addr,
        fill: UdpChecksum,
    ) {
        assert!(
            self.payload.len() <= H::MAX_PAYLOAD - HEADER_LEN,
            "UDP payload too long"
        );
        let total = self.buffer_len();
        let buf = &mut buf[..total];
        buf[HEADER_LEN..].copy_from_slice(self.payload);
        buf[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        buf[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        buf[4..6].copy_from_slice(&(total as u16).to_be_bytes());
        buf[6..8].copy_from_slice(&[0, 0]);
        let computed = || match H::pseudo_sum(src, dst, PROTOCOL, total, checksum::add(0, buf)) {
            0 => 0xffff,
            sum => sum,
        };
        let sum = match fill {
            UdpChecksum::Omitted if H::UDP_CHECKSUM_OPTIONAL => 0,
            UdpChecksum::Computed | UdpChecksum::Omitted => computed(),
            // Neither zero ("none") nor the right one.
            UdpChecksum::Bad => match computed() {
                0xffff => 0x1234,
                good => good.wrapping_add(1).max(1),
            },
        };
        buf[6..8].copy_from_slice(&sum.to_be_bytes());
    }

    /// A whole Ethernet frame carrying this datagram. `ip` supplies
    /// addresses, TTL, TOS, identification and DF; its protocol and
    /// payload length are set from the datagram.
    pub fn to_frame(&self, src: MacAddr, dst: MacAddr, ip: &Ipv4Repr) -> Vec<u8> {
        let mut frame = Vec::new();
        self.write_frame(&mut frame, (src, dst), ip, UdpChecksum::Computed);
        frame
    }

    /// A whole Ethernet frame carrying this datagram under `ip`, an IPv4
    /// or IPv6 header, into a reused buffer (resized to fit), with the
    /// checksum filled as `fill` says. `ip` supplies the addresses and the
    /// rest of its header (TTL, TOS, identification and DF; hop limit,
    /// traffic class and flow label); its protocol (next header) and
    /// payload length are set from the datagram.
    pub fn write_frame<H: IpHeader>(
        &self,
        frame: &mut Vec<u8>,
        macs: (MacAddr, MacAddr),
        ip: &H,
        fill: UdpChecksum,
    ) {
        let ip = ip::write_headers(frame, macs, ip, PROTOCOL, self.buffer_len());
        let at = ethernet::HEADER_LEN + H::HEADER_LEN;
        self.emit_over::<H>(&mut frame[at..], ip.src(), ip.dst(), fill);
    }

    /// Parses a whole Ethernet frame that must carry IPv4 and UDP.
    pub fn from_frame(
        frame: &'a [u8],
        mode: ChecksumMode,
    ) -> Result<(EthernetRepr, Ipv4Repr, UdpRepr<'a>)> {
        let (eth, payload) = EthernetRepr::parse(frame)?;
        if eth.protocol != Protocol::Ipv4 {
            return Err(WireError::Unsupported("EtherType"));
        }
        let (ip, body) = Ipv4Repr::parse(payload)?;
        if ip.protocol != IpProtocol::Udp {
            return Err(WireError::Unsupported("IP protocol"));
        }
        Ok((eth, ip, UdpRepr::parse(body, ip.src, ip.dst, mode)?))
    }

    /// [`UdpRepr::write_frame`] over IPv6, by the family's name.
    pub fn write_ipv6_frame(
        &self,
        frame: &mut Vec<u8>,
        macs: (MacAddr, MacAddr),
        ip: &Ipv6Repr,
        fill: UdpChecksum,
    ) {
        self.write_frame(frame, macs, ip, fill);
    }

    /// [`UdpRepr::write_frame`] over IPv6 into a new buffer, checksum
    /// computed.
    pub fn to_ipv6_frame(&self, src: MacAddr, dst: MacAddr, ip: &Ipv6Repr) -> Vec<u8> {
        let mut frame = Vec::new();
        self.write_frame(&mut frame, (src, dst), ip, UdpChecksum::Computed);
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv6::NextHeader;
    use rstest::rstest;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    // 10.0.0.1:40000 > 10.0.0.2:53, payload "hi"; checksum summed
    // independently (python3): pseudo-header 0a00+0001+0a00+0002+0011+000a,
    // header 9c40+0035+000a, data 6869 → 0x1907, complement 0xe6f8.
    const DATAGRAM: [u8; 10] = [0x9c, 0x40, 0x00, 0x35, 0x00, 0x0a, 0xe6, 0xf8, b'h', b'i'];

    #[test]
    fn a_known_datagram_parses_and_emits_byte_exact() {
        let udp = UdpRepr::parse(&DATAGRAM, SRC, DST, ChecksumMode::Verify).unwrap();
        assert_eq!(
            (udp.src_port, udp.dst_port, udp.payload),
            (40000, 53, &b"hi"[..])
        );
        let mut buf = [0u8; 10];
        udp.emit(&mut buf, SRC, DST);
        assert_eq!(buf, DATAGRAM);
    }

    #[test]
    fn a_zero_checksum_means_none_and_is_accepted() {
        let mut d = DATAGRAM;
        d[6..8].copy_from_slice(&[0, 0]);
        let udp = UdpRepr::parse(&d, SRC, DST, ChecksumMode::Verify).unwrap();
        assert_eq!(udp.payload, b"hi");
        let mut buf = [0u8; 10];
        udp.emit_with(&mut buf, SRC, DST, UdpChecksum::Omitted);
        assert_eq!(buf, d);
    }

    #[test]
    fn a_computed_zero_is_sent_as_ffff_and_verifies() {
        // Find a payload whose checksum comes out zero, then check both
        // directions.
        let found = (0..=u16::MAX).find_map(|w| {
            let payload = w.to_be_bytes();
            let udp = UdpRepr {
                src_port: 1,
                dst_port: 2,
                payload: &payload,
            };
            let mut buf = [0u8; 10];
            udp.emit(&mut buf, SRC, DST);
            (buf[6..8] == [0xff, 0xff]).then_some(buf)
        });
        let buf = found.expect("some 16-bit payload sums to zero");
        assert!(UdpRepr::parse(&buf, SRC, DST, ChecksumMode::Verify).is_ok());
    }

    #[test]
    fn a_bad_checksum_never_verifies_and_is_never_zero() {
        for w in 0..=u16::MAX {
            let payload = w.to_be_bytes();
            let udp = UdpRepr {
                src_port: 7,
                dst_port: 9,
                payload: &payload,
            };
            let mut buf = [0u8; 10];
            udp.emit_with(&mut buf, SRC, DST, UdpChecksum::Bad);
            assert_ne!(buf[6..8], [0, 0], "payload {w:#x}");
            assert_eq!(
                UdpRepr::parse(&buf, SRC, DST, ChecksumMode::Verify),
                Err(WireError::BadChecksum),
                "payload {w:#x}"
            );
        }
    }

    #[test]
    fn bytes_past_the_length_field_are_not_payload() {
        let mut d = DATAGRAM.to_vec();
        d.extend_from_slice(b"pad");
        let udp = UdpRepr::parse(&d, SRC, DST, ChecksumMode::Verify).unwrap();
        assert_eq!(udp.payload, b"hi");
    }

    /// `DATAGRAM` with `edit` applied.
    fn edited(edit: fn(&mut Vec<u8>)) -> Vec<u8> {
        let mut d = DATAGRAM.to_vec();
        edit(&mut d);
        d
    }

    #[rstest]
    #[case::empty(vec![], WireError::Truncated)]
    #[case::short_header(DATAGRAM[..7].to_vec(), WireError::Truncated)]
    #[case::length_below_header(edited(|d| d[4..6].copy_from_slice(&[0, 7])), WireError::BadLength)]
    #[case::length_zero(edited(|d| d[4..6].copy_from_slice(&[0, 0])), WireError::BadLength)]
    #[case::length_past_buffer(edited(|d| d[4..6].copy_from_slice(&[0, 11])), WireError::Truncated)]
    #[case::payload_cut(DATAGRAM[..9].to_vec(), WireError::Truncated)]
    #[case::payload_flipped(edited(|d| d[8] ^= 1), WireError::BadChecksum)]
    #[case::checksum_flipped(edited(|d| d[7] ^= 1), WireError::BadChecksum)]
    #[case::port_flipped(edited(|d| d[0] ^= 0x80), WireError::BadChecksum)]
    fn malformed_datagrams_are_refused(#[case] bytes: Vec<u8>, #[case] why: WireError) {
        assert_eq!(
            UdpRepr::parse(&bytes, SRC, DST, ChecksumMode::Verify),
            Err(why)
        );
    }

    #[test]
    fn a_wrong_pseudo_header_fails_and_skip_mode_trusts_the_kernel() {
        let other = Ipv4Addr::new(10, 0, 0, 3);
        assert_eq!(
            UdpRepr::parse(&DATAGRAM, SRC, other, ChecksumMode::Verify),
            Err(WireError::BadChecksum)
        );
        assert!(UdpRepr::parse(&DATAGRAM, SRC, other, ChecksumMode::Skip).is_ok());
    }

    #[test]
    fn a_frame_round_trips() {
        let udp = UdpRepr {
            src_port: 5353,
            dst_port: 7,
            payload: &[0, 1, 2, 0xff],
        };
        let ip = Ipv4Repr::new(SRC, DST, IpProtocol::Udp, 0);
        let mac = (MacAddr(2, 0, 0, 0, 0, 1), MacAddr(2, 0, 0, 0, 0, 2));
        let frame = udp.to_frame(mac.0, mac.1, &ip);
        let (eth, ip2, udp2) = UdpRepr::from_frame(&frame, ChecksumMode::Verify).unwrap();
        assert_eq!((eth.src, eth.dst), mac);
        assert_eq!((ip2.protocol, ip2.payload_len), (IpProtocol::Udp, 12));
        assert_eq!(udp2, udp);
    }

    const SRC6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 1);
    const DST6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 2);

    /// Over IPv6 the checksum covers IPv6's pseudo-header: pnet's own
    /// sum agrees, a zero one (IPv4's "none") is refused even where the
    /// kernel vouched (RFC 8200 §8.1), and the IPv4 pseudo-header's sum
    /// does not verify.
    #[test]
    fn over_ipv6_the_checksum_is_ipv6_s_and_never_zero() {
        let udp = UdpRepr {
            src_port: 40000,
            dst_port: 33434,
            payload: b"nettool",
        };
        let mut buf = [0u8; 15];
        udp.emit_v6(&mut buf, SRC6, DST6, UdpChecksum::Computed);
        let theirs = pnet::packet::udp::ipv6_checksum(&UdpPacket::new(&buf).unwrap(), &SRC6, &DST6);
        assert_eq!(u16::from_be_bytes([buf[6], buf[7]]), theirs);
        assert_eq!(
            UdpRepr::parse_v6(&buf, SRC6, DST6, ChecksumMode::Verify),
            Ok(udp)
        );
        assert_eq!(
            UdpRepr::parse_v6(&buf, DST6, SRC6, ChecksumMode::Verify).ok(),
            Some(udp),
            "swapping the ends keeps the sum"
        );
        let other = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 3);
        assert_eq!(
            UdpRepr::parse_v6(&buf, SRC6, other, ChecksumMode::Verify),
            Err(WireError::BadChecksum)
        );
        // "Omitted" is IPv4's: over IPv6 the sum goes all the same.
        let mut omitted = [0u8; 15];
        udp.emit_v6(&mut omitted, SRC6, DST6, UdpChecksum::Omitted);
        assert_eq!(omitted, buf);
        let mut zero = buf;
        zero[6..8].copy_from_slice(&[0, 0]);
        for mode in [ChecksumMode::Verify, ChecksumMode::Skip] {
            assert_eq!(
                UdpRepr::parse_v6(&zero, SRC6, DST6, mode),
                Err(WireError::Malformed("UDP over IPv6 without a checksum"))
            );
        }
        let mut bad = [0u8; 15];
        udp.emit_v6(&mut bad, SRC6, DST6, UdpChecksum::Bad);
        assert_eq!(
            UdpRepr::parse_v6(&bad, SRC6, DST6, ChecksumMode::Verify),
            Err(WireError::BadChecksum)
        );
    }

    #[test]
    fn an_ipv6_frame_round_trips() {
        let udp = UdpRepr {
            src_port: 5353,
            dst_port: 7,
            payload: &[0, 1, 2, 0xff],
        };
        let mac = (MacAddr(2, 0, 0, 0, 0, 1), MacAddr(2, 0, 0, 0, 0, 2));
        let ip = Ipv6Repr::new(SRC6, DST6, NextHeader::Udp, 7, 0);
        let frame = udp.to_ipv6_frame(mac.0, mac.1, &ip);
        let (eth, rest) = EthernetRepr::parse(&frame).unwrap();
        assert_eq!(
            (eth.src, eth.dst, eth.protocol),
            (mac.0, mac.1, Protocol::Ipv6)
        );
        let (ip2, body) = Ipv6Repr::parse(rest).unwrap();
        assert_eq!(
            (ip2.next_header, ip2.hop_limit, ip2.payload_len),
            (NextHeader::Udp, 7, 12)
        );
        assert_eq!(
            UdpRepr::parse_v6(body, SRC6, DST6, ChecksumMode::Verify),
            Ok(udp)
        );
    }

    #[test]
    fn no_input_panics() {
        for bytes in crate::wire::testing::arbitrary_bytes(0x0d9, 40, 64) {
            for mode in [ChecksumMode::Verify, ChecksumMode::Skip] {
                let _ = UdpRepr::parse(&bytes, SRC, DST, mode);
                let _ = UdpRepr::parse_v6(&bytes, SRC6, DST6, mode);
            }
        }
    }
}
