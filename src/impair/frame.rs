//! The few header fields the relay needs, read from raw bytes.
//!
//! Deliberately independent of `crate::wire`: the relay exists to test the
//! engine, so it must not share the engine's parsing (a bug there would
//! otherwise hide on both sides of the wire). Only what classifying a frame
//! as IPv4/TCP, finding its payload and recomputing its checksum needs is
//! read here, with every length checked against the bytes present.

/// What the relay makes of one Ethernet frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An unfragmented IPv4 packet carrying a whole TCP header: the only
    /// frames the relay impairs.
    Tcp(TcpSpan),
    /// ARP, IPv6, other IPv4 protocols, fragments, anything malformed:
    /// passed through untouched.
    Other,
}

/// Byte offsets of one IPv4/TCP frame's parts, all within the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSpan {
    /// Start of the IPv4 header (after Ethernet, and a VLAN tag if any).
    pub ip: usize,
    /// Start of the TCP header.
    pub tcp: usize,
    /// Start of the TCP payload.
    pub payload: usize,
    /// End of the IPv4 packet (Ethernet padding excluded).
    pub end: usize,
}

impl TcpSpan {
    /// Offset of the TCP checksum field.
    pub fn checksum_at(&self) -> usize {
        self.tcp + 16
    }

    pub fn payload_len(&self) -> usize {
        self.end - self.payload
    }
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_VLAN: u16 = 0x8100;
const PROTO_TCP: u8 = 6;

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Classifies a frame. Never panics, whatever the bytes.
pub fn classify(frame: &[u8]) -> Kind {
    tcp_span(frame).map_or(Kind::Other, Kind::Tcp)
}

fn tcp_span(f: &[u8]) -> Option<TcpSpan> {
    if f.len() < 14 {
        return None;
    }
    let mut ip = 14;
    let mut ethertype = be16(f, 12);
    if ethertype == ETHERTYPE_VLAN {
        if f.len() < 18 {
            return None;
        }
        ethertype = be16(f, 16);
        ip = 18;
    }
    if ethertype != ETHERTYPE_IPV4 || f.len() < ip + 20 {
        return None;
    }
    let version = f[ip] >> 4;
    let ihl = usize::from(f[ip] & 0x0f) * 4;
    let total = usize::from(be16(f, ip + 2));
    let frag = be16(f, ip + 6);
    let more_fragments = frag & 0x2000 != 0;
    let offset = frag & 0x1fff;
    if version != 4
        || ihl < 20
        || total < ihl
        || ip + total > f.len()
        || f[ip + 9] != PROTO_TCP
        || more_fragments
        || offset != 0
    {
        return None;
    }
    let tcp = ip + ihl;
    let end = ip + total;
    if end < tcp + 20 {
        return None;
    }
    let doff = usize::from(f[tcp + 12] >> 4) * 4;
    if doff < 20 || tcp + doff > end {
        return None;
    }
    Some(TcpSpan {
        ip,
        tcp,
        payload: tcp + doff,
        end,
    })
}

/// What a decision trace shows of a TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub seq: u32,
    pub ack: u32,
    /// The flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10).
    pub flags: u8,
    pub len: usize,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub fn summary(frame: &[u8], span: &TcpSpan) -> Summary {
    Summary {
        seq: be32(frame, span.tcp + 4),
        ack: be32(frame, span.tcp + 8),
        flags: frame[span.tcp + 13],
        len: span.payload_len(),
    }
}

impl std::fmt::Display for Summary {
    /// `[P.] seq 1448 ack 1 len 1448`, flags in tcpdump's letters.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut letters = String::new();
        for (bit, c) in [
            (0x02, 'S'),
            (0x01, 'F'),
            (0x04, 'R'),
            (0x08, 'P'),
            (0x10, '.'),
        ] {
            if self.flags & bit != 0 {
                letters.push(c);
            }
        }
        write!(
            f,
            "[{letters}] seq {} ack {} len {}",
            self.seq, self.ack, self.len
        )
    }
}

/// Ones' complement sum of `data` (big-endian 16-bit words, odd byte padded).
fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The TCP checksum the segment should carry (RFC 9293 §3.1: over the
/// IPv4 pseudo-header, the header with a zero checksum field, and the data).
pub fn tcp_checksum(frame: &[u8], span: &TcpSpan) -> u16 {
    let ip = span.ip;
    let seg_len = (span.end - span.tcp) as u32;
    let mut acc = sum16(&frame[ip + 12..ip + 20], 0); // source and destination
    acc += u32::from(PROTO_TCP) + seg_len;
    acc = sum16(&frame[span.tcp..span.checksum_at()], acc);
    acc = sum16(&frame[span.checksum_at() + 2..span.end], acc);
    !fold(acc)
}

/// Whether the TCP checksum in the frame is right.
pub fn tcp_checksum_ok(frame: &[u8], span: &TcpSpan) -> bool {
    be16(frame, span.checksum_at()) == tcp_checksum(frame, span)
}

/// Writes the right TCP checksum (for frames a local kernel left with a
/// partial one, under checksum offload).
pub fn complete_tcp_checksum(frame: &mut [u8], span: &TcpSpan) {
    let c = tcp_checksum(frame, span);
    frame[span.checksum_at()..span.checksum_at() + 2].copy_from_slice(&c.to_be_bytes());
}

/// Flips one bit so that TCP's checksum catches it: a bit of the payload
/// (`pick` chooses which) when there is one, else a bit of the checksum
/// field itself. Lengths, addresses, ports and the IPv4 header are never
/// touched, so the receiver's IP layer hands the segment to TCP, which
/// counts it as a checksum error (`TcpInCsumErrors`). A single flipped bit
/// always changes a ones' complement sum, so the damage is always detectable.
/// Returns the offset of the byte changed.
pub fn flip_bit(frame: &mut [u8], span: &TcpSpan, pick: u64) -> usize {
    let (start, len) = if span.payload_len() > 0 {
        (span.payload, span.payload_len())
    } else {
        (span.checksum_at(), 2)
    };
    let bit = pick % (len as u64 * 8);
    let at = start + (bit / 8) as usize;
    frame[at] ^= 1 << (bit % 8);
    at
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal Ethernet/IPv4/TCP frame with a correct TCP checksum.
    pub(crate) fn tcp_frame(payload: &[u8], pad_to: usize) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let total = (40 + payload.len()) as u16;
        f[14] = 0x45;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f[20] = 0x40; // DF
        f[22] = 64;
        f[23] = PROTO_TCP;
        f[26..30].copy_from_slice(&[10, 0, 0, 1]);
        f[30..34].copy_from_slice(&[10, 0, 0, 2]);
        let ip_sum = !fold(sum16(&f[14..34], 0));
        f[24..26].copy_from_slice(&ip_sum.to_be_bytes());
        f[34..36].copy_from_slice(&40000u16.to_be_bytes());
        f[36..38].copy_from_slice(&80u16.to_be_bytes());
        f[46] = 5 << 4;
        f[47] = 0x18;
        f.extend_from_slice(payload);
        if f.len() < pad_to {
            f.resize(pad_to, 0);
        }
        let Kind::Tcp(span) = classify(&f) else {
            panic!("not TCP")
        };
        complete_tcp_checksum(&mut f, &span);
        f
    }

    #[test]
    fn a_tcp_frame_is_found_and_padding_is_not_payload() {
        let f = tcp_frame(b"", 60);
        assert_eq!(f.len(), 60);
        let Kind::Tcp(span) = classify(&f) else {
            panic!()
        };
        assert_eq!(
            (span.ip, span.tcp, span.payload, span.end),
            (14, 34, 54, 54)
        );
        assert!(tcp_checksum_ok(&f, &span));
    }

    #[test]
    fn checksum_matches_a_known_segment() {
        // Cross-check against pnet's independent implementation.
        use pnet::packet::Packet;
        use pnet::packet::ipv4::Ipv4Packet;
        use pnet::packet::tcp::{TcpPacket, ipv4_checksum};
        let f = tcp_frame(b"hello, world!", 0);
        let ip = Ipv4Packet::new(&f[14..]).unwrap();
        let tcp = TcpPacket::new(ip.payload()).unwrap();
        let want = ipv4_checksum(&tcp, &ip.get_source(), &ip.get_destination());
        let Kind::Tcp(span) = classify(&f) else {
            panic!()
        };
        assert_eq!(tcp_checksum(&f, &span), want);
    }

    #[test]
    fn every_flipped_bit_is_detectable() {
        for payload in [&b""[..], b"x", b"some bytes of payload"] {
            let f = tcp_frame(payload, 60);
            let Kind::Tcp(span) = classify(&f) else {
                panic!()
            };
            for pick in 0..200 {
                let mut g = f.clone();
                let at = flip_bit(&mut g, &span, pick);
                assert!(at >= span.tcp && at < span.end);
                if payload.is_empty() {
                    assert!(at == span.checksum_at() || at == span.checksum_at() + 1);
                } else {
                    assert!(at >= span.payload);
                }
                assert_eq!(classify(&g), Kind::Tcp(span), "lengths untouched");
                assert!(!tcp_checksum_ok(&g, &span), "pick {pick} undetected");
            }
        }
    }

    #[test]
    fn non_tcp_and_malformed_frames_are_other() {
        let good = tcp_frame(b"abc", 0);
        let mut arp = good.clone();
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        let mut udp = good.clone();
        udp[23] = 17;
        let mut frag = good.clone();
        frag[20] = 0x20; // MF
        let mut long = good.clone();
        long[16..18].copy_from_slice(&2000u16.to_be_bytes());
        let mut bad_doff = good.clone();
        bad_doff[46] = 15 << 4;
        let mut bad_ihl = good.clone();
        bad_ihl[14] = 0x44;
        for f in [&arp, &udp, &frag, &long, &bad_doff, &bad_ihl] {
            assert_eq!(classify(f), Kind::Other);
        }
        for n in 0..good.len() {
            let _ = classify(&good[..n]);
        }
        assert_eq!(classify(&good[..good.len() - 1]), Kind::Other);
    }
}
