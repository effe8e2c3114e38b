//! Hand-made TCP, UDP and ICMP probes and SYN scans, sans-IO.
//!
//! - [`Template`]: one segment as the user described it (any flags,
//!   sequence and acknowledgment numbers, window, options, payload, IPv4
//!   TTL/TOS/identification/DF or IPv6 hop limit/traffic class/flow
//!   label, a deliberately wrong checksum), written
//!   into a reused buffer with only the ports, sequence number and IP
//!   identification changing from probe to probe.
//! - [`prober::Prober`]: `nettool probe`, a [`RawFlow`](crate::machine::RawFlow)
//!   that sends probes on a schedule, matches every reply to the probe it
//!   answers (by ports and the seq/ack relationship), resets half-open
//!   connections, and keeps RTT statistics ([`stats::RttStats`]).
//! - [`datagram::DatagramProber`]: `nettool probe --udp` / `--icmp` and
//!   `nettool ping`, hand-made UDP datagrams or ICMP queries (echo,
//!   timestamp, address mask; over IPv6, ICMPv6 echo) with matched answers
//!   and the same RTT statistics, another raw flow.
//! - [`udpscan::UdpScans`]: `nettool scan --udp` and `nc -u -z`, each port
//!   open, closed, filtered or open|filtered, paced by the peer's ICMP (or
//!   ICMPv6) rate limit.
//! - [`scan::Scanner`]: `nettool scan`, a rate-limited SYN scan with
//!   retries, each port open, closed or filtered, another raw flow.
//!
//! Neither parses a frame: the stack's interface hosts them
//! ([`crate::stack::raw::RawHost`]), answers ARP, and hands each only the
//! segments and ICMP errors of its own ports.
//! - Parsers for the command line's flag letters, options and port lists.

pub mod datagram;
pub mod prober;
pub mod scan;
pub mod stats;
pub mod udpscan;
pub mod waiting;

use std::net::IpAddr;

use crate::wire::ethernet::{self, EthernetRepr, Protocol};
use crate::wire::ipv4::{self, IpProtocol, Ipv4Repr};
use crate::wire::ipv6::{self, Ipv6Repr, NextHeader};
use crate::wire::tcp::{Flags, HEADER_LEN, MAX_OPTIONS_LEN, TcpOption, TcpRepr};
use crate::wire::{MacAddr, SeqNum};

/// The control bits of a probe: [`Flags`] plus ACK, which a hand-made
/// segment may carry with any acknowledgment number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProbeFlags {
    pub flags: Flags,
    pub ack: bool,
}

impl ProbeFlags {
    pub const SYN: ProbeFlags = ProbeFlags {
        flags: Flags::SYN,
        ack: false,
    };
}

/// A number where a bit field goes: decimal, or hex with `0x` (as
/// hping3 and tcpdump's filters take it), or binary with `0b`.
pub fn parse_number(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, radix) = if let Some(h) = t.strip_prefix("0x").or(t.strip_prefix("0X")) {
        (h, 16)
    } else if let Some(b) = t.strip_prefix("0b").or(t.strip_prefix("0B")) {
        (b, 2)
    } else {
        (t, 10)
    };
    u64::from_str_radix(digits, radix)
        .map_err(|_| format!("{text:?} is not a number (e.g. 16, 0x10 or 0b10000)"))
}

/// Parses flag letters as tcpdump prints them and hping3 takes them:
/// `F` FIN, `S` SYN, `R` RST, `P` PSH, `A` (or `.`) ACK, `U` URG, `E` ECE,
/// `C` (or `W`) CWR, in any order and case. `none` (or nothing) is no flag.
/// A number (`0x12`, `18`) is the header's flags byte itself.
pub fn parse_flags(text: &str) -> Result<ProbeFlags, String> {
    let t = text.trim();
    let mut out = ProbeFlags::default();
    if t.eq_ignore_ascii_case("none") {
        return Ok(out);
    }
    if t.starts_with(|c: char| c.is_ascii_digit()) {
        let byte = parse_number(t)
            .ok()
            .and_then(|n| u8::try_from(n).ok())
            .ok_or_else(|| format!("{text:?} is not a flags byte (0 to 0xff, e.g. 0x12)"))?;
        return Ok(ProbeFlags {
            flags: Flags::from_bits(byte),
            ack: byte & 0x10 != 0,
        });
    }
    for c in t.chars() {
        let f = match c.to_ascii_uppercase() {
            'F' => Flags::FIN,
            'S' => Flags::SYN,
            'R' => Flags::RST,
            'P' => Flags::PSH,
            'U' => Flags::URG,
            'E' => Flags::ECE,
            'C' | 'W' => Flags::CWR,
            'A' | '.' => {
                out.ack = true;
                continue;
            }
            other => {
                return Err(format!(
                    "unknown flag {other:?} in {text:?} (use F S R P A U E C, e.g. SA)"
                ));
            }
        };
        out.flags = out.flags | f;
    }
    Ok(out)
}

/// Parses `--flow-label`: a number that fits IPv6's 20-bit field
/// (decimal, `0x` hex or `0b` binary).
pub fn parse_flow_label(text: &str) -> Result<u32, String> {
    let n = parse_number(text)?;
    u32::try_from(n)
        .ok()
        .filter(|&n| n <= MAX_FLOW_LABEL)
        .ok_or_else(|| {
            format!("{text:?} does not fit the 20-bit flow label (0 to {MAX_FLOW_LABEL}, 0xfffff)")
        })
}

/// Parses a raw option, `KIND:HEX` (the body without kind and length
/// bytes): `2:05b4` is MSS 1460, `1` a NOP, `0` an EOL, `30:` an empty
/// option of kind 30.
pub fn parse_raw_option(text: &str) -> Result<TcpOption, String> {
    let (kind, hex) = text.split_once(':').unwrap_or((text, ""));
    let kind: u8 = kind
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: the option kind must be 0 to 255 (KIND:HEX)"))?;
    let hex = hex.trim();
    if hex.len() % 2 != 0 {
        return Err(format!("{text:?}: odd number of hex digits"));
    }
    let data = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| format!("{text:?}: not hex after the colon"))?;
    match kind {
        0 | 1 if !data.is_empty() => Err(format!(
            "{text:?}: kinds 0 (EOL) and 1 (NOP) are one byte and carry no data"
        )),
        0 => Ok(TcpOption::Eol),
        1 => Ok(TcpOption::Nop),
        _ if data.len() > MAX_OPTIONS_LEN - 2 => {
            Err(format!("{text:?}: an option body holds at most 38 bytes"))
        }
        _ => Ok(TcpOption::Unknown { kind, data }),
    }
}

/// Parses `--ts VAL[:ECR]`.
pub fn parse_timestamps(text: &str) -> Result<TcpOption, String> {
    let (val, ecr) = text.split_once(':').unwrap_or((text, "0"));
    let n = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| format!("{text:?}: write --ts VAL[:ECR], two 32-bit numbers"))
    };
    Ok(TcpOption::Timestamps {
        val: n(val)?,
        ecr: n(ecr)?,
    })
}

/// A port list written back compactly (`1-3,7`), for headers.
pub fn format_ports(ports: &[u16]) -> String {
    let mut sorted = ports.to_vec();
    sorted.sort_unstable();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// The segment a probe carries, as the user described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    /// Both of one family: the probe is an IPv4 or an IPv6 packet.
    pub src: IpAddr,
    pub dst: IpAddr,
    pub flags: ProbeFlags,
    /// The acknowledgment number (sent only with the ACK flag; the field
    /// is zero otherwise, as every stack writes it).
    pub ack: u32,
    pub window: u16,
    pub urgent: u16,
    pub options: Vec<TcpOption>,
    pub payload: Vec<u8>,
    /// IPv4's TTL, IPv6's hop limit.
    pub ttl: u8,
    /// IPv4's TOS byte, IPv6's traffic class: the same DSCP and ECN bits
    /// (RFC 2474, RFC 3168).
    pub tos: u8,
    /// IPv4 only: the DF bit (IPv6 routers never fragment).
    pub dont_frag: bool,
    /// IPv6 only: the 20-bit flow label (RFC 6437).
    pub flow_label: u32,
    /// Write a TCP checksum that does not verify.
    pub bad_checksum: bool,
}

/// The largest IPv6 flow label: the field is 20 bits (RFC 8200 §6).
pub const MAX_FLOW_LABEL: u32 = (1 << 20) - 1;

impl Template {
    /// A SYN from `src` to `dst` with Linux's defaults: window 64240,
    /// TTL 64, no options.
    pub fn syn(
        src_mac: MacAddr,
        dst_mac: MacAddr,
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
    ) -> Template {
        Template {
            src_mac,
            dst_mac,
            src: src.into(),
            dst: dst.into(),
            flags: ProbeFlags::SYN,
            ack: 0,
            window: 64240,
            urgent: 0,
            options: Vec::new(),
            payload: Vec::new(),
            ttl: 64,
            tos: 0,
            dont_frag: false,
            flow_label: 0,
            bad_checksum: false,
        }
    }

    /// Bytes of the IP header the probe goes in.
    pub fn ip_header_len(&self) -> usize {
        match self.dst {
            IpAddr::V4(_) => ipv4::HEADER_LEN,
            IpAddr::V6(_) => ipv6::HEADER_LEN,
        }
    }

    /// Checks what [`Template::write`] would otherwise panic on.
    pub fn validate(&self) -> Result<(), String> {
        let opts: usize = self.options.iter().map(TcpOption::buffer_len).sum();
        if opts > MAX_OPTIONS_LEN {
            return Err(format!(
                "the TCP options take {opts} bytes; a header holds at most {MAX_OPTIONS_LEN}"
            ));
        }
        if self.src.is_ipv4() != self.dst.is_ipv4() {
            return Err(format!(
                "{} and {} are of two IP families: a probe goes from one to the other",
                self.src, self.dst
            ));
        }
        let segment = HEADER_LEN + opts.next_multiple_of(4) + self.payload.len();
        match self.dst {
            IpAddr::V4(_) if ipv4::HEADER_LEN + segment > 65535 => Err(format!(
                "the datagram would be {} bytes; IPv4 allows 65535",
                ipv4::HEADER_LEN + segment
            )),
            IpAddr::V6(_) if segment > 65535 => Err(format!(
                "the segment would be {segment} bytes; an IPv6 payload holds 65535"
            )),
            IpAddr::V4(_) if self.flow_label != 0 => Err(format!(
                "--flow-label is IPv6's, and {} is an IPv4 address (IPv4 has no flow label)",
                self.dst
            )),
            IpAddr::V6(_) if self.dont_frag => Err(format!(
                "--df is IPv4's, and {} is an IPv6 address (IPv6 routers never fragment: \
                 there is no DF bit)",
                self.dst
            )),
            _ if self.flow_label > MAX_FLOW_LABEL => Err(format!(
                "flow label {} does not fit in 20 bits (at most {MAX_FLOW_LABEL}, 0xfffff)",
                self.flow_label
            )),
            _ => Ok(()),
        }
    }

    /// SEG.LEN of every probe: payload, plus one each for SYN and FIN.
    pub fn segment_len(&self) -> u32 {
        self.payload.len() as u32
            + u32::from(self.flags.flags.contains(Flags::SYN))
            + u32::from(self.flags.flags.contains(Flags::FIN))
    }

    /// The TCP segment of one probe.
    pub fn repr(&self, sport: u16, dport: u16, seq: u32) -> TcpRepr<'_> {
        TcpRepr {
            src_port: sport,
            dst_port: dport,
            seq: SeqNum(seq),
            ack: self.flags.ack.then_some(SeqNum(self.ack)),
            flags: self.flags.flags,
            window: self.window,
            urgent: self.urgent,
            options: self.options.clone(),
            payload: &self.payload,
        }
    }

    /// Writes the whole Ethernet frame of one probe into `buf` (resized to
    /// fit; a buffer reused from probe to probe is never reallocated).
    pub fn write(&self, buf: &mut Vec<u8>, sport: u16, dport: u16, seq: u32, id: u16) {
        let tcp = self.repr(sport, dport, seq);
        let at = ethernet::HEADER_LEN;
        let tcp_at = at + self.ip_header_len();
        buf.resize(tcp_at + tcp.buffer_len(), 0);
        let protocol = match (self.src, self.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let ip = Ipv4Repr {
                    src,
                    dst,
                    protocol: IpProtocol::Tcp,
                    ttl: self.ttl,
                    tos: self.tos,
                    identification: id,
                    dont_frag: self.dont_frag,
                    payload_len: tcp.buffer_len(),
                };
                ip.emit(&mut buf[at..]);
                Protocol::Ipv4
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                // IPv6 has no identification: `id` is not sent.
                let ip = Ipv6Repr {
                    traffic_class: self.tos,
                    flow_label: self.flow_label,
                    ..Ipv6Repr::new(src, dst, NextHeader::Tcp, self.ttl, tcp.buffer_len())
                };
                ip.emit(&mut buf[at..]);
                Protocol::Ipv6
            }
            (src, dst) => panic!("a probe from {src} to {dst}: validate() refuses it"),
        };
        EthernetRepr {
            src: self.src_mac,
            dst: self.dst_mac,
            protocol,
        }
        .emit(buf);
        tcp.emit(&mut buf[tcp_at..], self.src, self.dst);
        if self.bad_checksum {
            let c = tcp_at + 16;
            let good = u16::from_be_bytes([buf[c], buf[c + 1]]);
            buf[c..c + 2].copy_from_slice(&bad_checksum(good).to_be_bytes());
        }
    }
}

/// A checksum that cannot verify where `good` does: 0x0000 and 0xffff
/// are the same one's-complement zero, so neither may replace the other.
pub fn bad_checksum(good: u16) -> u16 {
    match good {
        0x0000 | 0xffff => 0x1234,
        g => g.wrapping_add(1),
    }
}

/// The RST that releases a half-open connection a SYN-ACK opened:
/// `<SEQ=SEG.ACK><CTL=RST>` (RFC 9293 §3.10.7.3), from the probe's ports.
pub fn reset_for(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    seq: SeqNum,
) -> Vec<u8> {
    let rst = crate::tcp::Segment {
        src: std::net::SocketAddr::new(src, sport),
        dst: std::net::SocketAddr::new(dst, dport),
        seq,
        ack: None,
        flags: Flags::RST,
        window: 0,
        options: Vec::new(),
        payload: Vec::new(),
    };
    rst.to_frame(src_mac, dst_mac)
}

/// SplitMix64: the per-probe sequence numbers and identifications come
/// from a seed the caller injects, so a run is reproducible in tests.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp::ChecksumMode;
    use rstest::rstest;
    use std::net::Ipv4Addr;

    #[rstest]
    #[case("S", Flags::SYN, false)]
    #[case("SA", Flags::SYN, true)]
    #[case("sa", Flags::SYN, true)]
    #[case("S.", Flags::SYN, true)]
    #[case("FPU", Flags::FIN.union(Flags::PSH).union(Flags::URG), false)]
    #[case("SEC", Flags::SYN.union(Flags::ECE).union(Flags::CWR), false)]
    #[case("SEW", Flags::SYN.union(Flags::ECE).union(Flags::CWR), false)]
    #[case("R", Flags::RST, false)]
    #[case("A", Flags::NONE, true)]
    #[case("", Flags::NONE, false)]
    #[case("none", Flags::NONE, false)]
    #[case("0x12", Flags::SYN, true)]
    #[case("2", Flags::SYN, false)]
    #[case("0b10001", Flags::FIN, true)]
    #[case("0xc2", Flags::SYN.union(Flags::ECE).union(Flags::CWR), false)]
    fn flag_letters_parse(#[case] text: &str, #[case] flags: Flags, #[case] ack: bool) {
        assert_eq!(parse_flags(text), Ok(ProbeFlags { flags, ack }));
    }

    #[rstest]
    #[case("SX")]
    #[case("S A")]
    #[case("syn")]
    #[case("0x100")]
    #[case("0xZZ")]
    fn bad_flag_letters_are_refused(#[case] text: &str) {
        assert!(parse_flags(text).is_err());
    }

    #[rstest]
    #[case("0", Ok(0))]
    #[case("12345", Ok(12345))]
    #[case("0xfffff", Ok(0xfffff))]
    #[case("1048575", Ok(1_048_575))]
    #[case("0b101", Ok(5))]
    #[case("1048576", Err("20-bit"))]
    #[case("0x100000", Err("20-bit"))]
    #[case("99999999999", Err("20-bit"))]
    #[case("-1", Err("not a number"))]
    #[case("label", Err("not a number"))]
    fn flow_labels_parse(#[case] text: &str, #[case] want: Result<u32, &str>) {
        match (parse_flow_label(text), want) {
            (Ok(got), Ok(n)) => assert_eq!(got, n),
            (Err(e), Err(part)) => assert!(e.contains(part), "{e}"),
            (got, want) => panic!("{text}: {got:?}, wanted {want:?}"),
        }
    }

    #[rstest]
    #[case("2:05b4", TcpOption::Unknown { kind: 2, data: vec![5, 0xb4] })]
    #[case("1", TcpOption::Nop)]
    #[case("0", TcpOption::Eol)]
    #[case("30:", TcpOption::Unknown { kind: 30, data: vec![] })]
    #[case("254:DEADbeef", TcpOption::Unknown { kind: 254, data: vec![0xde, 0xad, 0xbe, 0xef] })]
    fn raw_options_parse(#[case] text: &str, #[case] want: TcpOption) {
        assert_eq!(parse_raw_option(text), Ok(want));
    }

    #[rstest]
    #[case("256:00")]
    #[case("2:5b4")]
    #[case("2:zz")]
    #[case("1:00")]
    #[case("x")]
    fn bad_raw_options_are_refused(#[case] text: &str) {
        assert!(parse_raw_option(text).is_err());
    }

    #[rstest]
    #[case("100", 100, 0)]
    #[case("100:7", 100, 7)]
    #[case("4294967295:1", u32::MAX, 1)]
    fn timestamps_parse(#[case] text: &str, #[case] val: u32, #[case] ecr: u32) {
        assert_eq!(
            parse_timestamps(text),
            Ok(TcpOption::Timestamps { val, ecr })
        );
    }

    #[rstest]
    #[case(vec![1, 2, 3, 7], "1-3,7")]
    #[case(vec![9, 8, 80], "8-9,80")]
    #[case(vec![5], "5")]
    fn port_lists_print_compactly(#[case] ports: Vec<u16>, #[case] want: &str) {
        assert_eq!(format_ports(&ports), want);
    }

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn template() -> Template {
        Template::syn(
            MacAddr::new(2, 0, 0, 0, 0, 1),
            MacAddr::new(2, 0, 0, 0, 0, 2),
            A,
            B,
        )
    }

    #[test]
    fn a_plain_syn_is_byte_exact() {
        // Checksums computed independently (RFC 1071 sum in python3).
        let mut buf = Vec::new();
        template().write(&mut buf, 40000, 80, 0x0102_0304, 0x1234);
        #[rustfmt::skip]
        let want: [u8; 54] = [
            2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
            0x45, 0x00, 0x00, 0x28, 0x12, 0x34, 0x00, 0x00, 0x40, 0x06, 0x54, 0x9a,
            10, 0, 0, 1, 10, 0, 0, 2,
            0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0, 0, 0, 0,
            0x50, 0x02, 0xfa, 0xf0, 0x00, 0x59, 0x00, 0x00,
        ];
        assert_eq!(buf, want);
    }

    #[test]
    fn every_field_lands_where_asked() {
        let mut t = template();
        t.flags = parse_flags("FPUA").unwrap();
        t.ack = 0xaabb_ccdd;
        t.window = 7;
        t.urgent = 3;
        t.ttl = 1;
        t.tos = 0xb8;
        t.dont_frag = true;
        t.payload = b"hello".to_vec();
        t.options = vec![
            TcpOption::Mss(1460),
            TcpOption::SackPermitted,
            TcpOption::Timestamps { val: 5, ecr: 6 },
            TcpOption::Nop,
            TcpOption::WindowScale(7),
        ];
        let mut buf = vec![0xee; 200]; // a dirty, larger buffer is reused
        t.write(&mut buf, 1, 2, 9, 77);
        let (_, ip, tcp) = TcpRepr::from_frame(&buf, ChecksumMode::Verify).unwrap();
        assert_eq!(
            (ip.ttl, ip.tos, ip.identification, ip.dont_frag),
            (1, 0xb8, 77, true)
        );
        assert_eq!((tcp.src_port, tcp.dst_port, tcp.seq.get()), (1, 2, 9));
        assert_eq!(tcp.ack, Some(SeqNum(0xaabb_ccdd)));
        assert_eq!(tcp.flags, Flags::FIN | Flags::PSH | Flags::URG);
        assert_eq!((tcp.window, tcp.urgent), (7, 3));
        assert_eq!(tcp.options, t.options);
        assert_eq!(tcp.payload, b"hello");
        assert_eq!(t.segment_len(), 6);
        assert_eq!(buf.len(), 14 + 20 + 40 + 5);
    }

    const A6: &str = "fd00:6e74::1";
    const B6: &str = "fd00:6e74::2";

    fn template6() -> Template {
        Template::syn(
            MacAddr::new(2, 0, 0, 0, 0, 1),
            MacAddr::new(2, 0, 0, 0, 0, 2),
            A6.parse::<std::net::Ipv6Addr>().unwrap(),
            B6.parse::<std::net::Ipv6Addr>().unwrap(),
        )
    }

    #[test]
    fn an_ipv6_probe_carries_hop_limit_class_and_label() {
        let mut t = template6();
        t.ttl = 3;
        t.tos = 0xb8;
        t.flow_label = 0xabcde;
        t.payload = b"hi".to_vec();
        let mut buf = vec![0xee; 200];
        t.write(&mut buf, 40000, 80, 7, 99);
        assert_eq!(&buf[12..14], &[0x86, 0xdd], "EtherType IPv6");
        let (ip, body) = Ipv6Repr::parse(&buf[14..]).unwrap();
        assert_eq!(
            (
                ip.hop_limit,
                ip.traffic_class,
                ip.flow_label,
                ip.next_header
            ),
            (3, 0xb8, 0xabcde, NextHeader::Tcp)
        );
        assert_eq!(
            (ip.src.to_string(), ip.dst.to_string()),
            (A6.into(), B6.into())
        );
        let tcp = TcpRepr::parse(body, ip.src, ip.dst, ChecksumMode::Verify).unwrap();
        assert_eq!((tcp.src_port, tcp.dst_port, tcp.seq.get()), (40000, 80, 7));
        assert_eq!((tcp.flags, tcp.payload), (Flags::SYN, &b"hi"[..]));
        assert_eq!(buf.len(), 14 + 40 + 20 + 2);
        assert_eq!(t.ip_header_len(), 40);
    }

    #[test]
    fn an_ipv6_bad_checksum_fails_only_tcp() {
        let mut t = template6();
        t.bad_checksum = true;
        let mut buf = Vec::new();
        t.write(&mut buf, 40000, 80, 7, 0);
        let (ip, body) = Ipv6Repr::parse(&buf[14..]).unwrap();
        assert!(TcpRepr::parse(body, ip.src, ip.dst, ChecksumMode::Verify).is_err());
    }

    #[test]
    fn the_reset_for_an_ipv6_syn_ack_is_ipv6() {
        let t = template6();
        let f = reset_for(t.src_mac, t.dst_mac, t.src, t.dst, 40000, 80, SeqNum(5));
        let (ip, body) = Ipv6Repr::parse(&f[14..]).unwrap();
        let tcp = TcpRepr::parse(body, ip.src, ip.dst, ChecksumMode::Verify).unwrap();
        assert_eq!((tcp.flags, tcp.seq, tcp.ack), (Flags::RST, SeqNum(5), None));
    }

    /// What one family has and the other lacks is refused, not dropped.
    #[rstest]
    #[case::label_on_ipv4(false, |t: &mut Template| t.flow_label = 1, "IPv4 has no flow label")]
    #[case::df_on_ipv6(true, |t: &mut Template| t.dont_frag = true, "there is no DF bit")]
    #[case::label_too_big(true, |t: &mut Template| t.flow_label = 1 << 20, "does not fit in 20 bits")]
    #[case::two_families(true, |t: &mut Template| t.src = A.into(), "two IP families")]
    fn family_fields_are_checked(
        #[case] v6: bool,
        #[case] change: fn(&mut Template),
        #[case] want: &str,
    ) {
        let mut t = if v6 { template6() } else { template() };
        assert!(t.validate().is_ok());
        change(&mut t);
        let err = t.validate().unwrap_err();
        assert!(err.contains(want), "{err}");
    }

    #[test]
    fn a_bad_checksum_never_verifies() {
        let mut t = template();
        t.bad_checksum = true;
        for seq in 0..2000u32 {
            let mut buf = Vec::new();
            t.write(&mut buf, 40000, 80, seq.wrapping_mul(2_654_435_761), 0);
            assert!(
                TcpRepr::from_frame(&buf, ChecksumMode::Verify).is_err(),
                "seq {seq}"
            );
            // Only the TCP checksum is wrong: the IP header still verifies.
            assert!(Ipv4Repr::parse(&buf[14..]).is_ok());
        }
        for good in [0u16, 0xffff, 0xfffe, 1] {
            let bad = bad_checksum(good);
            assert_ne!(bad, good);
            assert!(!(bad | good == 0xffff && (bad == 0 || good == 0)));
        }
    }

    #[test]
    fn options_past_forty_bytes_are_refused() {
        let mut t = template();
        t.options = vec![TcpOption::Timestamps { val: 0, ecr: 0 }; 5];
        assert!(t.validate().is_err());
        t.options.pop();
        assert!(t.validate().is_ok());
    }

    #[test]
    fn the_reset_for_a_syn_ack_is_exact() {
        let f = reset_for(
            MacAddr::new(2, 0, 0, 0, 0, 1),
            MacAddr::new(2, 0, 0, 0, 0, 2),
            A.into(),
            B.into(),
            40000,
            80,
            SeqNum(1001),
        );
        let (_, _, tcp) = TcpRepr::from_frame(&f, ChecksumMode::Verify).unwrap();
        assert_eq!(tcp.flags, Flags::RST);
        assert_eq!(tcp.ack, None);
        assert_eq!(tcp.seq, SeqNum(1001));
        assert_eq!((tcp.src_port, tcp.dst_port), (40000, 80));
    }
}
