//! TCP segments (RFC 9293 §3.1), with the options nettool understands:
//! MSS (§3.2), window scale and timestamps (RFC 7323), SACK-permitted and
//! SACK blocks (RFC 2018).
//!
//! [`TcpRepr`] is a faithful, validated picture of any segment a peer can
//! send: every flag combination parses and prints (the engine decides what
//! makes sense, not the parser), options keep their order, NOP and EOL
//! included, and options nettool does not know (or known kinds with an odd
//! length) are kept as raw bytes. What is refused is what cannot be
//! interpreted at all: a data offset below 5 or past the segment, an option
//! whose length byte is 0 or 1 or runs past the header, a bad checksum,
//! port 0.
//!
//! The urgent pointer is parsed and printed, never acted upon (RFC 9293
//! §3.8.5 leaves urgent data to legacy applications; nettool's engine
//! ignores it).

use std::net::IpAddr;

use pnet::packet::tcp::{MutableTcpPacket, TcpPacket, ipv4_checksum, ipv6_checksum};

use super::ethernet::{self, EthernetRepr, Protocol};
use super::ip::{self, IpHeader};
use super::ipv4::{self, IpProtocol, Ipv4Repr};
use super::ipv6::{Ipv6Repr, NextHeader};
use super::seq::SeqNum;
use super::{MacAddr, Result, WireError};

/// Length of a TCP header without options (data offset 5).
pub const HEADER_LEN: usize = 20;

/// TCP's protocol number (IPv4's protocol, IPv6's next header).
const PROTOCOL: u8 = 6;

/// Most option bytes a header can carry (data offset 15).
pub const MAX_OPTIONS_LEN: usize = 40;

/// Whether `parse` verifies the TCP checksum.
///
/// Verification is the default. The datalink layer passes [`Skip`] for a
/// frame the kernel vouches for through `PACKET_AUXDATA`: `TP_STATUS_CSUMNOTREADY`
/// (a locally sent frame whose checksum the NIC would fill in, so the field
/// holds only the pseudo-header sum) or `TP_STATUS_CSUM_VALID` (already
/// checked by the kernel). Everything else must be verified.
///
/// [`Skip`]: ChecksumMode::Skip
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumMode {
    #[default]
    Verify,
    Skip,
}

/// How [`TcpRepr::emit_with`] fills the checksum field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumFill {
    /// The complete checksum, as every frame on a wire must carry.
    Complete,
    /// Only the (uncomplemented) sum of the pseudo-header, which is what
    /// the kernel expects in a frame it will finish itself
    /// (`CHECKSUM_PARTIAL`): a super-frame that generic segmentation
    /// offload cuts into segments, each checksum completed on the way.
    PseudoHeader,
}

/// The folded, uncomplemented one's-complement sum of the pseudo-header
/// for a TCP segment of `tcp_len` bytes: IPv4's (RFC 9293 §3.1) or
/// IPv6's (RFC 8200 §8.1: both addresses, the upper-layer length as 32
/// bits, three zero bytes and the next header, 6). The two hold the same
/// words in a different order, and a one's-complement sum ignores order.
///
/// Panics if `src` and `dst` are of different families: no packet
/// carries such a pair.
pub fn pseudo_header_sum(src: impl Into<IpAddr>, dst: impl Into<IpAddr>, tcp_len: usize) -> u16 {
    let words = |ip: IpAddr| -> u32 {
        let bytes = match ip {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        bytes
            .chunks_exact(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum()
    };
    let (src, dst) = (src.into(), dst.into());
    assert_eq!(
        src.is_ipv4(),
        dst.is_ipv4(),
        "pseudo-header of two families"
    );
    let mut sum = words(src) + words(dst) + 6 + (tcp_len as u32 & 0xffff) + (tcp_len as u32 >> 16);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The TCP control bits other than ACK.
///
/// ACK is not here on purpose: its presence is [`TcpRepr::ack`] being
/// `Some`, so a segment cannot claim an acknowledgment number without the
/// flag or the flag without the number. The reserved bits (including
/// RFC 9768's AE) are not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    pub const NONE: Flags = Flags(0);
    pub const FIN: Flags = Flags(0x01);
    pub const SYN: Flags = Flags(0x02);
    pub const RST: Flags = Flags(0x04);
    pub const PSH: Flags = Flags(0x08);
    pub const URG: Flags = Flags(0x20);
    pub const ECE: Flags = Flags(0x40);
    pub const CWR: Flags = Flags(0x80);
    /// The ACK bit's position in the header byte (not a member of `Flags`).
    const ACK_BIT: u8 = 0x10;

    /// The flags in a raw header byte, ACK stripped.
    pub const fn from_bits(bits: u8) -> Flags {
        Flags(bits & !Flags::ACK_BIT)
    }

    /// The header byte for these flags, ACK clear.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Both sets together.
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.union(rhs)
    }
}

/// One TCP option, in the order the segment carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpOption {
    /// Kind 0: end of option list. Parsing stops here; the rest of the
    /// header is padding.
    Eol,
    /// Kind 1: no-operation (alignment).
    Nop,
    /// Kind 2: maximum segment size the sender can receive.
    Mss(u16),
    /// Kind 3: window scale shift (RFC 7323 §2).
    WindowScale(u8),
    /// Kind 4: SACK permitted (RFC 2018).
    SackPermitted,
    /// Kind 5: SACK blocks, each `[left, right)` (RFC 2018 §3).
    Sack(Vec<(SeqNum, SeqNum)>),
    /// Kind 8: timestamps (RFC 7323 §3).
    Timestamps { val: u32, ecr: u32 },
    /// Any other kind, or a known kind with a length nettool cannot read,
    /// kept as its raw body (without kind and length bytes).
    Unknown { kind: u8, data: Vec<u8> },
}

impl TcpOption {
    /// Bytes this option takes in a header.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::Eol | TcpOption::Nop => 1,
            TcpOption::Mss(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Sack(blocks) => 2 + 8 * blocks.len(),
            TcpOption::Timestamps { .. } => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the start of `buf`; returns the bytes written.
    fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        // Length bytes fit in u8: option lists are capped at 40 bytes by
        // `TcpRepr::emit`, which checks the total before calling here.
        let len_byte = len as u8;
        match self {
            TcpOption::Eol => buf[0] = 0,
            TcpOption::Nop => buf[0] = 1,
            TcpOption::Mss(mss) => {
                buf[..2].copy_from_slice(&[2, 4]);
                buf[2..4].copy_from_slice(&mss.to_be_bytes());
            }
            TcpOption::WindowScale(shift) => buf[..3].copy_from_slice(&[3, 3, *shift]),
            TcpOption::SackPermitted => buf[..2].copy_from_slice(&[4, 2]),
            TcpOption::Sack(blocks) => {
                buf[..2].copy_from_slice(&[5, len_byte]);
                for (i, (l, r)) in blocks.iter().enumerate() {
                    let at = 2 + 8 * i;
                    buf[at..at + 4].copy_from_slice(&l.get().to_be_bytes());
                    buf[at + 4..at + 8].copy_from_slice(&r.get().to_be_bytes());
                }
            }
            TcpOption::Timestamps { val, ecr } => {
                buf[..2].copy_from_slice(&[8, 10]);
                buf[2..6].copy_from_slice(&val.to_be_bytes());
                buf[6..10].copy_from_slice(&ecr.to_be_bytes());
            }
            TcpOption::Unknown { kind, data } => {
                buf[..2].copy_from_slice(&[*kind, len_byte]);
                buf[2..len].copy_from_slice(data);
            }
        }
        len
    }

    /// Reads a known option from its kind and body; a body of the wrong
    /// size is kept raw rather than refused (Linux ignores such options
    /// too, and printing them faithfully helps debugging).
    fn from_body(kind: u8, body: &[u8]) -> TcpOption {
        let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        match (kind, body.len()) {
            (2, 2) => TcpOption::Mss(u16::from_be_bytes([body[0], body[1]])),
            (3, 1) => TcpOption::WindowScale(body[0]),
            (4, 0) => TcpOption::SackPermitted,
            (5, n) if n > 0 && n % 8 == 0 => TcpOption::Sack(
                body.chunks_exact(8)
                    .map(|c| (SeqNum(be32(&c[..4])), SeqNum(be32(&c[4..]))))
                    .collect(),
            ),
            (8, 8) => TcpOption::Timestamps {
                val: be32(&body[..4]),
                ecr: be32(&body[4..]),
            },
            _ => TcpOption::Unknown {
                kind,
                data: body.to_vec(),
            },
        }
    }
}

/// Parses the option bytes of a header (everything between byte 20 and the
/// data offset).
fn parse_options(mut bytes: &[u8]) -> Result<Vec<TcpOption>> {
    let mut options = Vec::new();
    while let Some(&kind) = bytes.first() {
        match kind {
            0 => {
                options.push(TcpOption::Eol);
                break;
            }
            1 => {
                options.push(TcpOption::Nop);
                bytes = &bytes[1..];
            }
            _ => {
                let len = usize::from(*bytes.get(1).ok_or(WireError::Malformed("TCP option"))?);
                // A length of 0 or 1 cannot even cover kind and length
                // bytes; looping on it would never advance.
                if len < 2 || len > bytes.len() {
                    return Err(WireError::Malformed("TCP option length"));
                }
                options.push(TcpOption::from_body(kind, &bytes[2..len]));
                bytes = &bytes[len..];
            }
        }
    }
    Ok(options)
}

/// A validated TCP segment; the payload borrows the buffer it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    /// SEG.SEQ.
    pub seq: SeqNum,
    /// SEG.ACK, present iff the ACK flag is set.
    pub ack: Option<SeqNum>,
    pub flags: Flags,
    /// SEG.WND as carried, before any window scaling.
    pub window: u16,
    /// SEG.UP; meaningful only with URG, never acted upon.
    pub urgent: u16,
    pub options: Vec<TcpOption>,
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Parses a TCP segment: exactly the IP payload (already trimmed to
    /// the IPv4 total length, or the IPv6 payload length past any
    /// extension headers). `src` and `dst` are the addresses of the
    /// pseudo-header: IPv4's (RFC 9293 §3.1) or IPv6's (RFC 8200 §8.1).
    pub fn parse(
        bytes: &'a [u8],
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
        checksum: ChecksumMode,
    ) -> Result<TcpRepr<'a>> {
        let pkt = TcpPacket::new(bytes).ok_or(WireError::Truncated)?;
        // pnet clamps the data offset instead of rejecting it.
        let header_len = usize::from(pkt.get_data_offset()) * 4;
        if header_len < HEADER_LEN || header_len > bytes.len() {
            return Err(WireError::BadLength);
        }
        if checksum == ChecksumMode::Verify {
            let want = match (src.into(), dst.into()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => ipv4_checksum(&pkt, &s, &d),
                (IpAddr::V6(s), IpAddr::V6(d)) => ipv6_checksum(&pkt, &s, &d),
                _ => return Err(WireError::Malformed("pseudo-header of two families")),
            };
            let got = pkt.get_checksum();
            // 0x0000 and 0xffff are the two one's-complement zeros; a
            // sender may legitimately write either.
            let same = got == want || (got | want == 0xffff && (got == 0 || want == 0));
            if !same {
                return Err(WireError::BadChecksum);
            }
        }
        let src_port = pkt.get_source();
        let dst_port = pkt.get_destination();
        if src_port == 0 || dst_port == 0 {
            return Err(WireError::Malformed("TCP port 0"));
        }
        let bits = pkt.get_flags();
        let ack = (bits & Flags::ACK_BIT != 0).then(|| SeqNum(pkt.get_acknowledgement()));
        Ok(TcpRepr {
            src_port,
            dst_port,
            seq: SeqNum(pkt.get_sequence()),
            ack,
            flags: Flags::from_bits(bits),
            window: pkt.get_window(),
            urgent: pkt.get_urgent_ptr(),
            options: parse_options(&bytes[HEADER_LEN..header_len])?,
            payload: &bytes[header_len..],
        })
    }

    /// SEG.LEN: payload bytes plus one for SYN and one for FIN (§3.4).
    pub fn segment_len(&self) -> usize {
        self.payload.len()
            + usize::from(self.flags.contains(Flags::SYN))
            + usize::from(self.flags.contains(Flags::FIN))
    }

    /// Option bytes, padded with zeros (EOL) to a multiple of four.
    pub fn options_len(&self) -> usize {
        self.options
            .iter()
            .map(TcpOption::buffer_len)
            .sum::<usize>()
            .next_multiple_of(4)
    }

    /// Header bytes, options included.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }

    /// Bytes of the whole segment.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// The options nettool cares about, by kind (the first of each wins).
    pub fn mss(&self) -> Option<u16> {
        self.options.iter().find_map(|o| match o {
            TcpOption::Mss(m) => Some(*m),
            _ => None,
        })
    }

    pub fn window_scale(&self) -> Option<u8> {
        self.options.iter().find_map(|o| match o {
            TcpOption::WindowScale(s) => Some(*s),
            _ => None,
        })
    }

    pub fn sack_permitted(&self) -> bool {
        self.options.contains(&TcpOption::SackPermitted)
    }

    pub fn timestamps(&self) -> Option<(u32, u32)> {
        self.options.iter().find_map(|o| match o {
            TcpOption::Timestamps { val, ecr } => Some((*val, *ecr)),
            _ => None,
        })
    }

    /// Writes the segment, checksum filled for the pseudo-header of `src`
    /// and `dst`, into the first [`buffer_len`](Self::buffer_len) bytes of
    /// `buf`. Option padding is written as zeros (EOL), so a list that does
    /// not end on a word boundary reads back with a trailing `Eol`.
    ///
    /// Panics if `buf` is too short or the options exceed 40 bytes, or if
    /// `src` and `dst` are of different families: all the caller's
    /// contract.
    pub fn emit(&self, buf: &mut [u8], src: impl Into<IpAddr>, dst: impl Into<IpAddr>) {
        self.emit_with(buf, src, dst, ChecksumFill::Complete);
    }

    /// [`TcpRepr::emit`], with the checksum filled as `fill` says.
    pub fn emit_with(
        &self,
        buf: &mut [u8],
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
        fill: ChecksumFill,
    ) {
        let (src, dst): (IpAddr, IpAddr) = (src.into(), dst.into());
        let options_len = self.options_len();
        assert!(
            options_len <= MAX_OPTIONS_LEN,
            "TCP options exceed 40 bytes"
        );
        let header_len = HEADER_LEN + options_len;
        let total = header_len + self.payload.len();
        let buf = &mut buf[..total];
        let mut at = HEADER_LEN;
        for opt in &self.options {
            at += opt.emit(&mut buf[at..]);
        }
        buf[at..header_len].fill(0);
        buf[header_len..].copy_from_slice(self.payload);
        let mut pkt = MutableTcpPacket::new(buf).expect("buffer shorter than a TCP header");
        pkt.set_source(self.src_port);
        pkt.set_destination(self.dst_port);
        pkt.set_sequence(self.seq.get());
        pkt.set_acknowledgement(self.ack.map_or(0, SeqNum::get));
        pkt.set_data_offset((header_len / 4) as u8);
        pkt.set_reserved(0);
        let ack_bit = if self.ack.is_some() {
            Flags::ACK_BIT
        } else {
            0
        };
        pkt.set_flags(self.flags.bits() | ack_bit);
        pkt.set_window(self.window);
        pkt.set_checksum(0);
        pkt.set_urgent_ptr(self.urgent);
        let sum = match (fill, src, dst) {
            (ChecksumFill::Complete, IpAddr::V4(s), IpAddr::V4(d)) => {
                ipv4_checksum(&pkt.to_immutable(), &s, &d)
            }
            (ChecksumFill::Complete, IpAddr::V6(s), IpAddr::V6(d)) => {
                ipv6_checksum(&pkt.to_immutable(), &s, &d)
            }
            (ChecksumFill::Complete, _, _) => panic!("pseudo-header of two families"),
            (ChecksumFill::PseudoHeader, _, _) => pseudo_header_sum(src, dst, total),
        };
        pkt.set_checksum(sum);
    }

    /// An IPv4 datagram carrying this segment. `ip` supplies addresses,
    /// TTL, TOS, identification and DF; its protocol and payload length are
    /// set from the segment.
    pub fn to_ipv4_packet(&self, ip: &Ipv4Repr) -> Vec<u8> {
        let ip = Ipv4Repr {
            protocol: IpProtocol::Tcp,
            payload_len: self.buffer_len(),
            ..*ip
        };
        let mut bytes = vec![0u8; ip.total_len()];
        ip.emit(&mut bytes);
        self.emit(&mut bytes[ipv4::HEADER_LEN..], ip.src, ip.dst);
        bytes
    }

    /// A whole Ethernet frame carrying this segment (see [`to_ipv4_packet`]).
    ///
    /// [`to_ipv4_packet`]: Self::to_ipv4_packet
    pub fn to_frame(&self, src: MacAddr, dst: MacAddr, ip: &Ipv4Repr) -> Vec<u8> {
        self.to_frame_with(src, dst, ip, ChecksumFill::Complete)
    }

    /// [`TcpRepr::to_frame`], with the TCP checksum filled as `fill`,
    /// in one allocation, under `ip`: an IPv4 or IPv6 header, which
    /// supplies the addresses and the rest of its fields; its protocol
    /// (next header) and payload length are set from the segment (nettool
    /// sends no options or extension headers).
    pub fn to_frame_with<H: IpHeader>(
        &self,
        src: MacAddr,
        dst: MacAddr,
        ip: &H,
        fill: ChecksumFill,
    ) -> Vec<u8> {
        let mut frame = Vec::new();
        let ip = ip::write_headers(&mut frame, (src, dst), ip, PROTOCOL, self.buffer_len());
        self.emit_with(
            &mut frame[ethernet::HEADER_LEN + H::HEADER_LEN..],
            ip.src(),
            ip.dst(),
            fill,
        );
        frame
    }

    /// [`TcpRepr::to_frame_with`] over IPv6, by the family's name.
    pub fn to_ipv6_frame_with(
        &self,
        src: MacAddr,
        dst: MacAddr,
        ip: &Ipv6Repr,
        fill: ChecksumFill,
    ) -> Vec<u8> {
        self.to_frame_with(src, dst, ip, fill)
    }

    /// Parses an IPv6 packet that must carry TCP (after any extension
    /// headers, which [`Ipv6Repr::parse`] walks).
    pub fn from_ipv6_packet(
        bytes: &'a [u8],
        checksum: ChecksumMode,
    ) -> Result<(Ipv6Repr, TcpRepr<'a>)> {
        let (ip, payload) = Ipv6Repr::parse(bytes)?;
        if ip.next_header != NextHeader::Tcp {
            return Err(WireError::Unsupported("IPv6 next header"));
        }
        Ok((ip, TcpRepr::parse(payload, ip.src, ip.dst, checksum)?))
    }

    /// Parses an IPv4 datagram that must carry TCP.
    pub fn from_ipv4_packet(
        bytes: &'a [u8],
        checksum: ChecksumMode,
    ) -> Result<(Ipv4Repr, TcpRepr<'a>)> {
        let (ip, payload) = Ipv4Repr::parse(bytes)?;
        if ip.protocol != IpProtocol::Tcp {
            return Err(WireError::Unsupported("IP protocol"));
        }
        Ok((ip, TcpRepr::parse(payload, ip.src, ip.dst, checksum)?))
    }

    /// Parses a whole Ethernet frame that must carry IPv4 and TCP.
    pub fn from_frame(
        frame: &'a [u8],
        checksum: ChecksumMode,
    ) -> Result<(EthernetRepr, Ipv4Repr, TcpRepr<'a>)> {
        let (eth, payload) = EthernetRepr::parse(frame)?;
        if eth.protocol != Protocol::Ipv4 {
            return Err(WireError::Unsupported("EtherType"));
        }
        let (ip, tcp) = TcpRepr::from_ipv4_packet(payload, checksum)?;
        Ok((eth, ip, tcp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ipv6, testing};
    use rstest::rstest;
    use std::net::Ipv4Addr;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    // A Linux-style SYN: 40000 > 80, seq 1, options mss 1460, sackOK,
    // TS val 1 ecr 0, nop, wscale 7 (20 option bytes, data offset 10).
    const SYN: [u8; 40] = [
        0x9c, 0x40, 0x00, 0x50, // ports 40000 > 80
        0x00, 0x00, 0x00, 0x01, // seq 1
        0x00, 0x00, 0x00, 0x00, // ack (flag clear)
        0xa0, 0x02, // data offset 10, SYN
        0xfa, 0xf0, // window 64240
        0x9c, 0x7a, // checksum
        0x00, 0x00, // urgent pointer
        0x02, 0x04, 0x05, 0xb4, // mss 1460
        0x04, 0x02, // sackOK
        0x08, 0x0a, 0, 0, 0, 1, 0, 0, 0, 0,    // TS val 1 ecr 0
        0x01, // nop
        0x03, 0x03, 0x07, // wscale 7
    ];

    /// Linux's SYN.
    fn syn() -> TcpRepr<'static> {
        TcpRepr {
            options: testing::linux_syn_options(),
            ..testing::syn()
        }
    }

    fn data() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 80,
            dst_port: 40000,
            seq: SeqNum(0xffff_fffe),
            ack: Some(SeqNum(2)),
            flags: Flags::PSH,
            window: 502,
            urgent: 0,
            options: vec![],
            payload: b"hello",
        }
    }

    #[test]
    fn parse_fixture() {
        let got = TcpRepr::parse(&SYN, SRC, DST, ChecksumMode::Verify).unwrap();
        assert_eq!(got, syn());
        assert_eq!(got.segment_len(), 1);
        assert_eq!(got.mss(), Some(1460));
        assert_eq!(got.window_scale(), Some(7));
        assert!(got.sack_permitted());
        assert_eq!(got.timestamps(), Some((1, 0)));
    }

    #[test]
    fn emit_overwrites_every_byte() {
        let mut buf = [0xa5u8; 40];
        syn().emit(&mut buf, SRC, DST);
        assert_eq!(buf, SYN);
    }

    #[rstest]
    #[case::syn(syn())]
    #[case::data(data())]
    #[case::every_flag(TcpRepr { flags: Flags::FIN | Flags::SYN | Flags::RST | Flags::PSH | Flags::URG | Flags::ECE | Flags::CWR, urgent: 7, ..data() })]
    #[case::sack_and_unknown(TcpRepr { options: vec![TcpOption::Nop, TcpOption::Nop, TcpOption::Sack(vec![(SeqNum(5), SeqNum(9)), (SeqNum(20), SeqNum(30))]), TcpOption::Unknown { kind: 30, data: vec![1, 2] }], ..data() })]
    fn round_trip(#[case] repr: TcpRepr<'static>) {
        let mut buf = vec![0xa5u8; repr.buffer_len()];
        repr.emit(&mut buf, SRC, DST);
        let back = TcpRepr::parse(&buf, SRC, DST, ChecksumMode::Verify).unwrap();
        assert_eq!(back, repr);
    }

    #[test]
    fn unaligned_options_read_back_with_eol_padding() {
        let repr = TcpRepr {
            options: vec![TcpOption::Mss(536)],
            ..syn()
        };
        let mut opts = repr.clone();
        opts.options.push(TcpOption::WindowScale(2));
        let mut buf = vec![0u8; opts.buffer_len()];
        opts.emit(&mut buf, SRC, DST);
        assert_eq!(buf.len(), 28);
        let back = TcpRepr::parse(&buf, SRC, DST, ChecksumMode::Verify).unwrap();
        assert_eq!(
            back.options,
            vec![
                TcpOption::Mss(536),
                TcpOption::WindowScale(2),
                TcpOption::Eol
            ]
        );
    }

    #[rstest]
    #[case::mss_short(&[2, 3, 5], TcpOption::Unknown { kind: 2, data: vec![5] })]
    #[case::wscale_long(&[3, 4, 7, 0], TcpOption::Unknown { kind: 3, data: vec![7, 0] })]
    #[case::sack_odd(&[5, 6, 1, 2, 3, 4], TcpOption::Unknown { kind: 5, data: vec![1, 2, 3, 4] })]
    #[case::md5(&[19, 4, 0xab, 0xcd], TcpOption::Unknown { kind: 19, data: vec![0xab, 0xcd] })]
    fn odd_options_are_kept_raw(#[case] bytes: &[u8], #[case] want: TcpOption) {
        assert_eq!(parse_options(bytes), Ok(vec![want]));
    }

    /// The SYN fixture with its option bytes replaced (data offset and
    /// checksum fixed up, so only the option rule can reject it).
    fn with_options(opts: &[u8]) -> Vec<u8> {
        let mut b = SYN[..20].to_vec();
        b.extend_from_slice(opts);
        b[12] = ((b.len() / 4) as u8) << 4;
        refill_checksum(&mut b);
        b
    }

    fn refill_checksum(b: &mut [u8]) {
        b[16] = 0;
        b[17] = 0;
        let sum = ipv4_checksum(&TcpPacket::new(b).unwrap(), &SRC, &DST);
        b[16..18].copy_from_slice(&sum.to_be_bytes());
    }

    fn patched(offset: usize, value: &[u8], fix: bool) -> Vec<u8> {
        let mut b = SYN.to_vec();
        b[offset..offset + value.len()].copy_from_slice(value);
        if fix {
            refill_checksum(&mut b);
        }
        b
    }

    #[rstest]
    #[case::empty(vec![], WireError::Truncated)]
    #[case::short(SYN[..19].to_vec(), WireError::Truncated)]
    #[case::offset_4(patched(12, &[0x42], true), WireError::BadLength)]
    #[case::offset_past_segment(patched(12, &[0xb2], true), WireError::BadLength)]
    #[case::option_len_0(with_options(&[2, 0, 0, 0]), WireError::Malformed("TCP option length"))]
    #[case::option_len_1(with_options(&[1, 1, 8, 1]), WireError::Malformed("TCP option length"))]
    #[case::option_past_header(with_options(&[1, 1, 2, 6]), WireError::Malformed("TCP option length"))]
    #[case::option_without_length(with_options(&[1, 1, 1, 8]), WireError::Malformed("TCP option"))]
    #[case::bad_checksum(patched(17, &[0xca], false), WireError::BadChecksum)]
    #[case::src_port_0(patched(0, &[0, 0], true), WireError::Malformed("TCP port 0"))]
    #[case::dst_port_0(patched(2, &[0, 0], true), WireError::Malformed("TCP port 0"))]
    fn bad_segments_are_rejected(#[case] bytes: Vec<u8>, #[case] want: WireError) {
        assert_eq!(
            TcpRepr::parse(&bytes, SRC, DST, ChecksumMode::Verify),
            Err(want)
        );
    }

    #[test]
    fn skipped_checksum_accepts_a_partial_one() {
        // What a local kernel hands to AF_PACKET with TX offload: a checksum
        // field that is not final. Only PACKET_AUXDATA can vouch for it.
        let bytes = patched(16, &[0x12, 0x34], false);
        assert_eq!(
            TcpRepr::parse(&bytes, SRC, DST, ChecksumMode::Verify),
            Err(WireError::BadChecksum)
        );
        assert_eq!(
            TcpRepr::parse(&bytes, SRC, DST, ChecksumMode::Skip),
            Ok(syn())
        );
    }

    #[test]
    fn checksum_covers_the_pseudo_header() {
        assert_eq!(
            TcpRepr::parse(&SYN, SRC, Ipv4Addr::new(10, 0, 0, 3), ChecksumMode::Verify),
            Err(WireError::BadChecksum)
        );
    }

    #[rstest]
    #[case::syn(syn(), 1)]
    #[case::data(data(), 5)]
    #[case::fin_data(TcpRepr { flags: Flags::FIN, ..data() }, 6)]
    #[case::syn_fin(TcpRepr { flags: Flags::SYN | Flags::FIN, payload: &[], ..data() }, 2)]
    #[case::rst(TcpRepr { flags: Flags::RST, payload: &[], ..data() }, 0)]
    fn segment_len_counts_syn_and_fin(#[case] seg: TcpRepr<'static>, #[case] want: usize) {
        assert_eq!(seg.segment_len(), want);
    }

    #[test]
    fn frame_round_trip_trims_padding() {
        let seg = TcpRepr {
            payload: b"",
            ..data()
        };
        let ip = Ipv4Repr::new(DST, SRC, IpProtocol::Tcp, 0);
        let mut frame = seg.to_frame(
            MacAddr::new(2, 0, 0, 0, 0, 2),
            MacAddr::new(2, 0, 0, 0, 0, 1),
            &ip,
        );
        assert_eq!(frame.len(), 54);
        frame.extend_from_slice(&[0; 6]); // Ethernet minimum frame padding
        let (eth, ip2, back) = TcpRepr::from_frame(&frame, ChecksumMode::Verify).unwrap();
        assert_eq!(eth.protocol, Protocol::Ipv4);
        assert_eq!(ip2.payload_len, 20);
        assert_eq!(ip2.src, DST);
        assert_eq!(back, seg);
    }

    #[test]
    fn non_tcp_datagrams_are_rejected() {
        let mut bytes = data().to_ipv4_packet(&Ipv4Repr::new(SRC, DST, IpProtocol::Tcp, 0));
        let ip = Ipv4Repr {
            protocol: IpProtocol::Udp,
            payload_len: bytes.len() - 20,
            ..Ipv4Repr::new(SRC, DST, IpProtocol::Udp, 0)
        };
        ip.emit(&mut bytes);
        assert_eq!(
            TcpRepr::from_ipv4_packet(&bytes, ChecksumMode::Verify),
            Err(WireError::Unsupported("IP protocol"))
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        for (round, mut bytes) in testing::arbitrary_bytes(0x2545_f491, 80, 64).enumerate() {
            let len = bytes.len();
            // Make half the inputs plausible headers so option parsing
            // is reached, not just the length checks.
            if round % 2 == 0 && len >= 20 {
                bytes[12] = ((len.min(60) / 4) as u8) << 4;
            }
            for mode in [ChecksumMode::Verify, ChecksumMode::Skip] {
                let _ = TcpRepr::parse(&bytes, SRC, DST, mode);
                let _ = TcpRepr::from_ipv4_packet(&bytes, mode);
            }
        }
    }

    const SRC6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 1);
    const DST6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 2);

    /// RFC 8200 §8.1 written out word by word, independently of
    /// `pseudo_header_sum` and pnet: the checksum a receiver computes.
    fn ipv6_checksum_by_hand(seg: &[u8]) -> u16 {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&SRC6.octets());
        bytes.extend_from_slice(&DST6.octets());
        bytes.extend_from_slice(&(seg.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 6]);
        bytes.extend_from_slice(seg);
        if bytes.len() % 2 == 1 {
            bytes.push(0);
        }
        let mut sum: u32 = bytes
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[rstest]
    #[case::syn(syn())]
    #[case::data(data())]
    #[case::odd_payload(TcpRepr { payload: b"odd", ..data() })]
    fn ipv6_round_trip_and_checksum(#[case] repr: TcpRepr<'static>) {
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf, SRC6, DST6);
        let mut zeroed = buf.clone();
        zeroed[16..18].fill(0);
        assert_eq!(
            u16::from_be_bytes([buf[16], buf[17]]),
            ipv6_checksum_by_hand(&zeroed)
        );
        assert_eq!(
            TcpRepr::parse(&buf, SRC6, DST6, ChecksumMode::Verify),
            Ok(repr)
        );
        // The pseudo-header covers both addresses.
        assert_eq!(
            TcpRepr::parse(&buf, DST6, DST6, ChecksumMode::Verify),
            Err(WireError::BadChecksum)
        );
        // An IPv4 pair cannot verify a segment summed over IPv6's.
        assert_eq!(
            TcpRepr::parse(&buf, SRC, DST, ChecksumMode::Verify),
            Err(WireError::BadChecksum)
        );
    }

    #[test]
    fn a_pseudo_header_of_two_families_is_refused() {
        let mut buf = vec![0u8; data().buffer_len()];
        data().emit(&mut buf, SRC6, DST6);
        assert_eq!(
            TcpRepr::parse(&buf, SRC, DST6, ChecksumMode::Verify),
            Err(WireError::Malformed("pseudo-header of two families"))
        );
    }

    #[test]
    fn ipv6_frame_round_trip() {
        let seg = data();
        let ip = Ipv6Repr::new(SRC6, DST6, NextHeader::Tcp, 64, 0);
        let mut frame = seg.to_ipv6_frame_with(
            MacAddr::new(2, 0, 0, 0, 0, 1),
            MacAddr::new(2, 0, 0, 0, 0, 2),
            &ip,
            ChecksumFill::Complete,
        );
        assert_eq!(frame.len(), 14 + 40 + 25);
        assert_eq!(&frame[12..14], &[0x86, 0xdd]);
        frame.extend_from_slice(&[0; 4]); // padding is no data
        let (ip2, back) = TcpRepr::from_ipv6_packet(&frame[14..], ChecksumMode::Verify).unwrap();
        assert_eq!((ip2.src, ip2.dst, ip2.hop_limit), (SRC6, DST6, 64));
        assert_eq!(ip2.payload_len, 25);
        assert_eq!(back, seg);
    }

    /// A segment behind IPv6 extension headers (`ext`: each header's
    /// bytes, its Next Header byte filled in here), with the fixed
    /// header's payload length covering them.
    fn behind(ext: &[Vec<u8>], first: u8) -> Vec<u8> {
        let seg = data();
        let mut tcp = vec![0u8; seg.buffer_len()];
        seg.emit(&mut tcp, SRC6, DST6);
        let mut payload: Vec<u8> = ext.concat();
        payload.extend_from_slice(&tcp);
        let mut bytes = vec![0u8; ipv6::HEADER_LEN];
        Ipv6Repr::new(SRC6, DST6, NextHeader::Tcp, 64, payload.len()).emit(&mut bytes);
        bytes[6] = first;
        bytes.extend_from_slice(&payload);
        bytes
    }

    /// An 8-byte option header (hop-by-hop, destination options or a
    /// routing header of type 0 with no segments left) before `next`.
    fn opts(next: u8) -> Vec<u8> {
        vec![next, 0, 1, 4, 0, 0, 0, 0]
    }

    #[test]
    fn a_segment_behind_extension_headers_is_found() {
        let bytes = behind(
            &[opts(60), opts(43), opts(44), vec![6, 0, 0, 0, 0, 0, 0, 9]],
            0,
        );
        let (ip, tcp) = TcpRepr::from_ipv6_packet(&bytes, ChecksumMode::Verify).unwrap();
        assert_eq!(ip.next_header, NextHeader::Tcp);
        assert_eq!(tcp, data());
    }

    #[rstest]
    #[case::extension_past_the_end({ let mut b = behind(&[opts(6)], 60); b[ipv6::HEADER_LEN + 1] = 40; b }, WireError::Truncated)]
    #[case::hop_by_hop_second(behind(&[opts(0), opts(6)], 60), WireError::Malformed("hop-by-hop header after the first"))]
    #[case::a_fragment(behind(&[vec![6, 0, 0, 1, 0, 0, 0, 9]], 44), WireError::Unsupported("IPv6 fragment"))]
    #[case::a_later_fragment(behind(&[vec![6, 0, 0, 8, 0, 0, 0, 9]], 44), WireError::Unsupported("IPv6 fragment"))]
    #[case::endless_options(behind(&vec![opts(60); 9], 60), WireError::Malformed("too many IPv6 extension headers"))]
    #[case::not_tcp(behind(&[opts(17)], 60), WireError::Unsupported("IPv6 next header"))]
    #[case::unknown_header(behind(&[], 253), WireError::Unsupported("IPv6 next header"))]
    #[case::no_next_header(behind(&[], 59), WireError::Unsupported("IPv6 next header"))]
    #[case::tcp_cut(behind(&[], 6)[..ipv6::HEADER_LEN + 19].to_vec(), WireError::Truncated)]
    #[case::payload_length_short({ let mut b = behind(&[], 6); b[5] -= 1; b }, WireError::BadChecksum)]
    #[case::payload_length_long({ let mut b = behind(&[], 6); b[5] += 1; b }, WireError::Truncated)]
    #[case::bad_checksum({ let mut b = behind(&[], 6); *b.last_mut().unwrap() ^= 1; b }, WireError::BadChecksum)]
    fn malformed_ipv6_segments_are_refused(#[case] bytes: Vec<u8>, #[case] want: WireError) {
        assert_eq!(
            TcpRepr::from_ipv6_packet(&bytes, ChecksumMode::Verify).map(|_| ()),
            Err(want)
        );
    }

    /// What the kernel does with a `CHECKSUM_PARTIAL` segment: sum the
    /// segment (whose checksum field holds the pseudo-header sum) and
    /// complement. That must give exactly the complete checksum.
    #[rstest]
    #[case::empty(0)]
    #[case::odd(1)]
    #[case::one_mss(1448)]
    #[case::super_frame(63_000)]
    fn a_pseudo_header_fill_finishes_into_the_complete_checksum(
        #[case] len: usize,
        #[values(false, true)] v6: bool,
    ) {
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            (SRC6.into(), DST6.into())
        } else {
            (SRC.into(), DST.into())
        };
        let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let seg = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNum(0xfff0_0000),
            ack: Some(SeqNum(7)),
            flags: Flags::PSH,
            window: 512,
            urgent: 0,
            options: vec![
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Timestamps { val: 1, ecr: 2 },
            ],
            payload: &payload,
        };
        let mut complete = vec![0u8; seg.buffer_len()];
        seg.emit_with(&mut complete, src, dst, ChecksumFill::Complete);
        let mut partial = vec![0u8; seg.buffer_len()];
        seg.emit_with(&mut partial, src, dst, ChecksumFill::PseudoHeader);
        let mut sum: u32 = partial
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let finished = !(sum as u16);
        assert_eq!(finished.to_be_bytes(), [complete[16], complete[17]]);
        assert_eq!(partial[..16], complete[..16]);
        assert_eq!(partial[18..], complete[18..]);
    }
}
