//! tcpdump-style one-line summaries (`tcpdump -nn` grammar, see
//! shared/design/output-format.md), so a person can hold nettool's output
//! and a capture side by side.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::MacAddr;
use super::arp::{ArpRepr, Operation};
use super::icmpv6::Icmpv6Repr;
use super::ipv6::Ipv6Repr;
use super::ndp::NdpRepr;
use super::tcp::{Flags, TcpOption, TcpRepr};

/// `ARP, Request who-has 10.78.0.2 tell 10.78.0.1, length 28`, with the
/// target MAC in parentheses when it is not zero, as tcpdump prints it.
pub fn arp_line(arp: &ArpRepr) -> String {
    match arp.operation {
        Operation::Request => {
            let target_mac = if arp.target_mac == MacAddr::zero() {
                String::new()
            } else {
                format!(" ({})", arp.target_mac)
            };
            format!(
                "ARP, Request who-has {}{} tell {}, length 28",
                arp.target_ip, target_mac, arp.sender_ip
            )
        }
        Operation::Reply => format!(
            "ARP, Reply {} is-at {}, length 28",
            arp.sender_ip, arp.sender_mac
        ),
    }
}

/// An ICMPv6 message as `tcpdump -nn` prints it: `IP6 fe80::1 >
/// ff02::1:ff00:2: ICMP6, neighbor solicitation, who has fd00:6e74::2,
/// length 32` (`length` is the ICMPv6 message's).
pub fn icmpv6_line(ip: &Ipv6Repr, icmp: &Icmpv6Repr) -> String {
    let what = match icmp {
        Icmpv6Repr::EchoRequest { ident, seq, .. } => {
            format!("echo request, id {ident}, seq {seq}")
        }
        Icmpv6Repr::EchoReply { ident, seq, .. } => format!("echo reply, id {ident}, seq {seq}"),
        Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit { target, .. }) => {
            format!("neighbor solicitation, who has {target}")
        }
        Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert { target, .. }) => {
            format!("neighbor advertisement, tgt is {target}")
        }
        Icmpv6Repr::Ndp(NdpRepr::RouterSolicit { .. }) => "router solicitation".into(),
        Icmpv6Repr::Ndp(NdpRepr::RouterAdvert { .. }) => "router advertisement".into(),
    };
    format!(
        "IP6 {} > {}: ICMP6, {what}, length {}",
        ip.src, ip.dst, ip.payload_len
    )
}

/// tcpdump's flag letters in its fixed order `FSRP.UEW`; `none` when no
/// flag is set.
pub fn tcp_flags(tcp: &TcpRepr) -> String {
    flag_letters(tcp.flags, tcp.ack.is_some())
}

/// [`tcp_flags`] for flags and an ACK bit held apart from a segment (a
/// capture's summary of one): `.` stands for the ACK bit.
pub fn flag_letters(flags: Flags, ack: bool) -> String {
    let mut s = String::new();
    for (flag, c) in [
        (Flags::FIN, 'F'),
        (Flags::SYN, 'S'),
        (Flags::RST, 'R'),
        (Flags::PSH, 'P'),
    ] {
        if flags.contains(flag) {
            s.push(c);
        }
    }
    if ack {
        s.push('.');
    }
    for (flag, c) in [(Flags::URG, 'U'), (Flags::ECE, 'E'), (Flags::CWR, 'W')] {
        if flags.contains(flag) {
            s.push(c);
        }
    }
    if s.is_empty() {
        s.push_str("none");
    }
    s
}

/// `IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S.], seq 1, ack 2, win 64240,
/// options [mss 1460,...], length 0`, the `tcpdump -nn` line for a segment.
///
/// `seq` and `ack` are the numbers to print: the caller decides whether
/// they are absolute (`tcpdump -S`) or relative to the connection's ISNs.
/// `ack` is printed only when the segment has the ACK flag; SACK blocks are
/// shifted by the same offset as `ack` (tcpdump prints them relative to
/// the acknowledged side's ISN). The sequence number is printed, as
/// tcpdump does without `-v`, when the segment carries data, SYN, FIN or
/// RST; with data it reads `seq X:Y`, the half-open range `[X, Y)`.
///
/// Over IPv6 the line starts `IP6` instead of `IP`, the addresses in
/// their RFC 5952 text, as tcpdump prints them.
pub fn tcp_line(
    src: impl Into<IpAddr>,
    dst: impl Into<IpAddr>,
    tcp: &TcpRepr,
    seq: u32,
    ack: u32,
) -> String {
    let (src, dst) = (src.into(), dst.into());
    let family = if src.is_ipv6() { "IP6" } else { "IP" };
    let mut s = format!(
        "{family} {src}.{} > {dst}.{}: Flags [{}]",
        tcp.src_port,
        tcp.dst_port,
        tcp_flags(tcp)
    );
    let len = tcp.payload.len();
    // write! into a String cannot fail.
    if len > 0 {
        let _ = write!(s, ", seq {seq}:{}", seq.wrapping_add(len as u32));
    } else if tcp.flags.contains(Flags::SYN)
        || tcp.flags.contains(Flags::FIN)
        || tcp.flags.contains(Flags::RST)
    {
        let _ = write!(s, ", seq {seq}");
    }
    let sack_offset = match tcp.ack {
        Some(raw) => {
            let _ = write!(s, ", ack {ack}");
            raw.get().wrapping_sub(ack)
        }
        None => 0,
    };
    let _ = write!(s, ", win {}", tcp.window);
    if tcp.flags.contains(Flags::URG) {
        let _ = write!(s, ", urg {}", tcp.urgent);
    }
    if !tcp.options.is_empty() {
        let opts: Vec<String> = tcp
            .options
            .iter()
            .map(|o| tcp_option(o, sack_offset))
            .collect();
        let _ = write!(s, ", options [{}]", opts.join(","));
    }
    let _ = write!(s, ", length {len}");
    s
}

/// [`tcp_line`] with the segment's own, absolute numbers (`tcpdump -S`).
pub fn tcp_line_absolute(src: impl Into<IpAddr>, dst: impl Into<IpAddr>, tcp: &TcpRepr) -> String {
    let ack = tcp.ack.map_or(0, |a| a.get());
    tcp_line(src, dst, tcp, tcp.seq.get(), ack)
}

/// tcpdump's relative sequence numbers (its default; `-S` turns them off).
///
/// One entry per connection, both directions together, as tcpdump keeps
/// them: a segment without ACK (a SYN) prints absolute numbers and forgets
/// the entry; the first ACK-bearing segment of a connection, and any
/// SYN-ACK (a retransmitted one too), records the bases (its own SEQ, and ACK−1 for the other side) and still prints
/// absolute numbers; every later segment prints numbers relative to them,
/// so a handshake's third segment reads `ack 1`.
#[derive(Debug, Clone, Default)]
pub struct RelativeSeqs {
    /// Key: the two endpoints, lower first. Value: the ISN bases of the
    /// lower endpoint's and the higher endpoint's sequence spaces.
    bases: std::collections::HashMap<(SocketAddr, SocketAddr), (u32, u32)>,
}

impl RelativeSeqs {
    pub fn new() -> Self {
        Self::default()
    }

    /// The `(seq, ack)` pair tcpdump would print for `tcp` from `src` to
    /// `dst`, updating the table.
    pub fn numbers(
        &mut self,
        src: impl Into<SocketAddr>,
        dst: impl Into<SocketAddr>,
        tcp: &TcpRepr,
    ) -> (u32, u32) {
        let (src, dst) = (src.into(), dst.into());
        let seq = tcp.seq.get();
        let Some(ack) = tcp.ack.map(|a| a.get()) else {
            if tcp.flags.contains(Flags::SYN) {
                self.bases.remove(&key(src, dst));
            }
            return (seq, 0);
        };
        let forward = src <= dst;
        // Any SYN-bearing segment starts the conversation afresh, as in
        // tcpdump (`!th->nxt || (flags & TH_SYN)`): a retransmitted SYN-ACK
        // re-records the bases and prints absolute numbers again.
        let known = self.bases.get(&key(src, dst));
        match known.filter(|_| !tcp.flags.contains(Flags::SYN)) {
            None => {
                let (lo, hi) = if forward {
                    (seq, ack.wrapping_sub(1))
                } else {
                    (ack.wrapping_sub(1), seq)
                };
                self.bases.insert(key(src, dst), (lo, hi));
                (seq, ack)
            }
            Some(&(lo, hi)) => {
                let (mine, theirs) = if forward { (lo, hi) } else { (hi, lo) };
                (seq.wrapping_sub(mine), ack.wrapping_sub(theirs))
            }
        }
    }

    /// [`tcp_line`] with relative numbers.
    pub fn line(
        &mut self,
        src: impl Into<SocketAddr>,
        dst: impl Into<SocketAddr>,
        tcp: &TcpRepr,
    ) -> String {
        let (src, dst) = (src.into(), dst.into());
        let (seq, ack) = self.numbers(src, dst, tcp);
        tcp_line(src.ip(), dst.ip(), tcp, seq, ack)
    }
}

fn key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b { (a, b) } else { (b, a) }
}

/// One option as tcpdump prints it (`mss 1460`, `sackOK`, `TS val 1 ecr 0`),
/// SACK blocks shifted down by `sack_offset`.
pub fn tcp_option(opt: &TcpOption, sack_offset: u32) -> String {
    match opt {
        TcpOption::Eol => "eol".into(),
        TcpOption::Nop => "nop".into(),
        TcpOption::Mss(m) => format!("mss {m}"),
        TcpOption::WindowScale(w) => format!("wscale {w}"),
        TcpOption::SackPermitted => "sackOK".into(),
        TcpOption::Sack(blocks) => {
            let mut s = format!("sack {} ", blocks.len());
            for (l, r) in blocks {
                let _ = write!(
                    s,
                    "{{{}:{}}}",
                    l.get().wrapping_sub(sack_offset),
                    r.get().wrapping_sub(sack_offset)
                );
            }
            s
        }
        TcpOption::Timestamps { val, ecr } => format!("TS val {val} ecr {ecr}"),
        TcpOption::Unknown { kind, data } => {
            let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
            if hex.is_empty() {
                format!("unknown-{kind}")
            } else {
                format!("unknown-{kind} 0x{hex}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SeqNum;
    use rstest::rstest;
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

    const A: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);

    fn mac(last: u8) -> MacAddr {
        MacAddr::new(0xd6, 0x6d, 0x61, 0xa8, 0xbb, last)
    }

    #[rstest]
    #[case::kernel_request(
        ArpRepr::request(mac(1), A, B),
        "ARP, Request who-has 10.78.0.2 tell 10.78.0.1, length 28"
    )]
    #[case::unicast_probe(
        ArpRepr { target_mac: mac(0xf7), ..ArpRepr::request(mac(1), A, B) },
        "ARP, Request who-has 10.78.0.2 (d6:6d:61:a8:bb:f7) tell 10.78.0.1, length 28"
    )]
    #[case::dad_probe(
        ArpRepr::request(mac(1), Ipv4Addr::UNSPECIFIED, B),
        "ARP, Request who-has 10.78.0.2 tell 0.0.0.0, length 28"
    )]
    #[case::reply(
        ArpRepr { operation: Operation::Reply, sender_mac: mac(0xf7), sender_ip: B, target_mac: mac(1), target_ip: A },
        "ARP, Reply 10.78.0.2 is-at d6:6d:61:a8:bb:f7, length 28"
    )]
    fn lines_match_tcpdump(#[case] arp: ArpRepr, #[case] want: &str) {
        assert_eq!(arp_line(&arp), want);
    }
    fn seg(flags: Flags, ack: Option<u32>, payload: &'static [u8]) -> TcpRepr<'static> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNum(1000),
            ack: ack.map(SeqNum),
            flags,
            window: 502,
            urgent: 0,
            options: vec![],
            payload,
        }
    }

    const C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const S: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    #[rstest]
    #[case::syn_ack(
        TcpRepr {
            window: 64240,
            options: crate::wire::testing::linux_syn_options(),
            ..seg(Flags::SYN, Some(2), b"")
        },
        1, 2,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S.], seq 1, ack 2, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0"
    )]
    #[case::syn(
        seg(Flags::SYN, None, b""),
        1000,
        0,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1000, win 502, length 0"
    )]
    #[case::pure_ack_hides_seq(
        seg(Flags::NONE, Some(5), b""),
        1,
        1,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 1, win 502, length 0"
    )]
    #[case::data_range(
        seg(Flags::PSH, Some(5), b"0123456789"),
        1,
        1,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 1:11, ack 1, win 502, length 10"
    )]
    #[case::fin(
        seg(Flags::FIN, Some(5), b""),
        11,
        1,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [F.], seq 11, ack 1, win 502, length 0"
    )]
    #[case::fin_psh_data(seg(Flags::FIN | Flags::PSH, Some(5), b"ab"), 11, 1,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [FP.], seq 11:13, ack 1, win 502, length 2")]
    #[case::rst(
        seg(Flags::RST, None, b""),
        1000,
        0,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [R], seq 1000, win 502, length 0"
    )]
    #[case::rst_ack(
        seg(Flags::RST, Some(7), b""),
        0,
        7,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [R.], seq 0, ack 7, win 502, length 0"
    )]
    #[case::no_flags(
        seg(Flags::NONE, None, b""),
        1000,
        0,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [none], win 502, length 0"
    )]
    #[case::ecn_syn(seg(Flags::SYN | Flags::ECE | Flags::CWR, None, b""), 1000, 0,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [SEW], seq 1000, win 502, length 0")]
    #[case::urgent(TcpRepr { urgent: 3, ..seg(Flags::URG | Flags::PSH, Some(5), b"abc") }, 1, 1,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.U], seq 1:4, ack 1, win 502, urg 3, length 3")]
    #[case::relative_sack(
        TcpRepr { options: vec![TcpOption::Nop, TcpOption::Nop, TcpOption::Sack(vec![(SeqNum(5010), SeqNum(5020))])], ..seg(Flags::NONE, Some(5001), b"") },
        1, 1,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 1, win 502, options [nop,nop,sack 1 {10:20}], length 0"
    )]
    #[case::unknown_and_eol(
        TcpRepr { options: vec![TcpOption::Unknown { kind: 30, data: vec![0xab, 1] }, TcpOption::Eol], ..seg(Flags::NONE, Some(5), b"") },
        1, 1,
        "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 1, win 502, options [unknown-30 0xab01,eol], length 0"
    )]
    fn tcp_lines_match_tcpdump(
        #[case] tcp: TcpRepr<'static>,
        #[case] seq: u32,
        #[case] ack: u32,
        #[case] want: &str,
    ) {
        assert_eq!(tcp_line(C, S, &tcp, seq, ack), want);
    }

    #[test]
    fn absolute_line_uses_the_segment_numbers() {
        let tcp = TcpRepr {
            options: vec![TcpOption::Sack(vec![(SeqNum(10), SeqNum(20))])],
            ..seg(Flags::PSH, Some(4_000_000_000), b"x")
        };
        assert_eq!(
            tcp_line_absolute(C, S, &tcp),
            "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 1000:1001, ack 4000000000, win 502, options [sack 1 {10:20}], length 1"
        );
    }
    /// tcpdump's IPv6 line: `IP6`, the addresses in their short form,
    /// the port after a dot, the relative numbers as over IPv4.
    #[test]
    fn ipv6_lines_read_as_tcpdump_prints_them() {
        let c = SocketAddrV6::new(Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 1), 40000, 0, 0);
        let s = SocketAddrV6::new(Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 2), 80, 0, 0);
        let syn = seg(Flags::SYN, None, b"");
        assert_eq!(
            tcp_line_absolute(*c.ip(), *s.ip(), &syn),
            "IP6 fd00:6e74::1.40000 > fd00:6e74::2.80: Flags [S], seq 1000, win 502, length 0"
        );
        let mut t = RelativeSeqs::new();
        let syn_ack = TcpRepr {
            src_port: 80,
            dst_port: 40000,
            seq: SeqNum(7000),
            ..seg(Flags::SYN, Some(1001), b"")
        };
        t.line(c, s, &syn);
        t.line(s, c, &syn_ack);
        let data = TcpRepr {
            seq: SeqNum(1001),
            ..seg(Flags::PSH, Some(7001), b"abc")
        };
        assert_eq!(
            t.line(c, s, &data),
            "IP6 fd00:6e74::1.40000 > fd00:6e74::2.80: Flags [P.], seq 1:4, ack 1, win 502, length 3"
        );
    }

    #[test]
    fn relative_numbers_follow_tcpdump() {
        let c = SocketAddrV4::new(C, 40000);
        let s = SocketAddrV4::new(S, 80);
        let mut t = RelativeSeqs::new();
        let from = |src_port, dst_port, seq, ack: Option<u32>, flags, payload| TcpRepr {
            src_port,
            dst_port,
            seq: SeqNum(seq),
            ack: ack.map(SeqNum),
            flags,
            payload,
            window: 502,
            urgent: 0,
            options: vec![],
        };
        let lines = [
            t.line(c, s, &from(40000, 80, 1000, None, Flags::SYN, b"")),
            t.line(
                s,
                c,
                &from(80, 40000, u32::MAX, Some(1001), Flags::SYN, b""),
            ),
            t.line(c, s, &from(40000, 80, 1001, Some(0), Flags::NONE, b"")),
            t.line(c, s, &from(40000, 80, 1001, Some(0), Flags::PSH, b"abc")),
            t.line(s, c, &from(80, 40000, 0, Some(1004), Flags::FIN, b"")),
        ];
        assert_eq!(
            lines,
            [
                "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1000, win 502, length 0",
                "IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [S.], seq 4294967295, ack 1001, win 502, length 0",
                "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 1, win 502, length 0",
                "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 1:4, ack 1, win 502, length 3",
                "IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [F.], seq 1, ack 4, win 502, length 0",
            ]
        );
        // A new SYN forgets the connection: its SYN-ACK is absolute again.
        let _ = t.line(c, s, &from(40000, 80, 7, None, Flags::SYN, b""));
        assert_eq!(
            t.numbers(s, c, &from(80, 40000, 50, Some(8), Flags::SYN, b"")),
            (50, 8)
        );
        // So is a retransmitted SYN-ACK, without a new SYN in between.
        assert_eq!(
            t.numbers(s, c, &from(80, 40000, 50, Some(8), Flags::SYN, b"")),
            (50, 8)
        );
    }

    #[test]
    fn icmpv6_lines_read_as_tcpdump_prints_them() {
        use crate::wire::icmpv6::parse_frame;
        use crate::wire::ipv6::solicited_node;
        let me: std::net::Ipv6Addr = "fe80::1".parse().unwrap();
        let peer: std::net::Ipv6Addr = "fd00:6e74::2".parse().unwrap();
        let mac = MacAddr::new(2, 0, 0, 0, 0, 1);
        let ns = Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
            target: peer,
            source_lladdr: Some(mac),
        })
        .frame((mac, mac), (me, solicited_node(peer)));
        let (_, ip, icmp) = parse_frame(&ns, true).unwrap();
        assert_eq!(
            icmpv6_line(&ip, &icmp),
            "IP6 fe80::1 > ff02::1:ff00:2: ICMP6, neighbor solicitation, who has fd00:6e74::2, length 32"
        );
        let echo = Icmpv6Repr::EchoRequest {
            ident: 7,
            seq: 1,
            data: vec![0; 4],
        }
        .frame((mac, mac), (me, crate::wire::ipv6::ALL_NODES));
        let (_, ip, icmp) = parse_frame(&echo, true).unwrap();
        assert_eq!(
            icmpv6_line(&ip, &icmp),
            "IP6 fe80::1 > ff02::1: ICMP6, echo request, id 7, seq 1, length 12"
        );
    }
}
