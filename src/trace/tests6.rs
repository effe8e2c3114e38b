//! The trace machine over IPv6 on fabricated answers: the hop limit
//! raised hop by hop, ICMPv6 errors matched by what they quote, and each
//! kind's end (SYN-ACK or RST, port unreachable, echo reply).

use super::*;
use crate::machine::{Feed, RxChecksum};
use rstest::rstest;

use crate::wire::ethernet::{self, EthernetRepr, Protocol};
use crate::wire::tcp::ChecksumMode;
use std::net::SocketAddrV6;

const US: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0x11, 0, 0, 0, 0, 1);
const R1: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0x11, 0, 0, 0, 0, 2);
const R2: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0x12, 0, 0, 0, 0, 2);
const DST: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0x13, 0, 0, 0, 0, 2);
const MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const GW: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const WAIT: Duration = Duration::from_secs(1);

fn trace(kind: TraceKind, port: u16, queries: u8) -> Trace {
    Trace::new(Config {
        mac: MAC,
        next_hop_mac: GW,
        local: SocketAddrV6::new(US, 40000, 0, 0).into(),
        remote: SocketAddrV6::new(DST, port, 0, 0).into(),
        first_ttl: 1,
        max_ttl: 30,
        queries,
        wait: WAIT,
        iss: SeqNum(0xfff0_0000),
        mss: 1440,
    })
    .with_kind(kind)
}

fn at(ms: u64) -> Instant {
    Instant::from_micros(ms * 1000)
}

/// A probe as it left: its hop limit, its IPv6 packet, and its parsed
/// header.
struct Sent {
    hop_limit: u8,
    ip: Ipv6Repr,
    packet: Vec<u8>,
}

fn send(t: &mut Trace, now: Instant) -> Sent {
    let frame = t.poll_transmit(now).expect("a probe is due");
    let (eth, rest) = EthernetRepr::parse(&frame).unwrap();
    assert_eq!((eth.src, eth.dst, eth.protocol), (MAC, GW, Protocol::Ipv6));
    let (ip, _) = Ipv6Repr::parse(rest).unwrap();
    assert_eq!((ip.src, ip.dst), (US, DST));
    Sent {
        hop_limit: ip.hop_limit,
        ip,
        packet: frame[ethernet::HEADER_LEN..].to_vec(),
    }
}

/// An ICMPv6 error of `ty`/`code` from `from` quoting `probe`.
fn icmp6(from: Ipv6Addr, ty: u8, code: u8, probe: &Sent) -> Vec<u8> {
    use pnet::packet::icmpv6::{Icmpv6Packet, checksum};
    let mut msg = vec![ty, code, 0, 0, 0, 0, 0, 0];
    msg.extend_from_slice(&probe.packet);
    let sum = checksum(&Icmpv6Packet::new(&msg).unwrap(), &from, &US);
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    Ipv6Repr::new(from, US, NextHeader::Icmpv6, 64, msg.len()).frame(GW, MAC, &msg)
}

fn time_exceeded(from: Ipv6Addr, probe: &Sent) -> Vec<u8> {
    icmp6(from, 3, 0, probe)
}

/// The destination's TCP answer to the SYN `probe` carried.
fn tcp_answer(probe: &Sent, flags: Flags) -> Vec<u8> {
    let (_, syn) = TcpRepr::from_ipv6_packet(&probe.packet, ChecksumMode::Verify).unwrap();
    let tcp = TcpRepr {
        src_port: syn.dst_port,
        dst_port: syn.src_port,
        seq: SeqNum(777),
        ack: Some(syn.seq + 1u32),
        flags,
        window: 100,
        urgent: 0,
        options: vec![],
        payload: &[],
    };
    let ip = Ipv6Repr::new(DST, US, NextHeader::Tcp, 64, 0);
    tcp.to_ipv6_frame_with(GW, MAC, &ip, ChecksumFill::Complete)
}

/// The destination's echo reply to the echo request `probe` carried.
fn echo_reply(probe: &Sent) -> Vec<u8> {
    let msg = &probe.packet[crate::wire::ipv6::HEADER_LEN..];
    let reply = Icmpv6Repr::EchoReply {
        ident: u16::from_be_bytes([msg[4], msg[5]]),
        seq: u16::from_be_bytes([msg[6], msg[7]]),
        data: msg[8..].to_vec(),
    };
    reply.frame((GW, MAC), (DST, US))
}

fn events(t: &mut Trace) -> Vec<Event> {
    std::iter::from_fn(|| t.poll_event()).collect()
}

fn replies(evs: &[Event]) -> Vec<(u8, IpAddr, Answer)> {
    evs.iter()
        .filter_map(|e| match e {
            Event::Reply {
                ttl, from, answer, ..
            } => Some((*ttl, *from, *answer)),
            _ => None,
        })
        .collect()
}

const TE: Answer = Answer::TimeExceeded { code: 0 };

/// Each kind, three hops: the routers' time exceeded, then the
/// destination's own end of it.
#[rstest]
#[case::tcp_open(TraceKind::Tcp, 80, Answer::Open, true)]
#[case::tcp_closed(TraceKind::Tcp, 81, Answer::Closed, false)]
#[case::udp(TraceKind::Udp, 33434, Answer::PortUnreachable, false)]
#[case::icmp(TraceKind::Icmp, 0, Answer::EchoReply, true)]
fn three_hops_over_ipv6_end_at_the_destination(
    #[case] kind: TraceKind,
    #[case] port: u16,
    #[case] last: Answer,
    #[case] open: bool,
) {
    let mut t = trace(kind, port, 1);
    for (hop, from) in [(1u8, R1), (2, R2), (3, DST)] {
        let p = send(&mut t, at(u64::from(hop) * 10));
        assert_eq!(p.hop_limit, hop, "the hop limit is the TTL");
        let want = match kind {
            TraceKind::Tcp => NextHeader::Tcp,
            TraceKind::Udp => NextHeader::Udp,
            TraceKind::Icmp => NextHeader::Icmpv6,
        };
        assert_eq!(p.ip.next_header, want);
        let answer = match (from == DST, kind) {
            (false, _) => time_exceeded(from, &p),
            (true, TraceKind::Tcp) => {
                let flags = if open { Flags::SYN } else { Flags::RST };
                tcp_answer(&p, flags)
            }
            (true, TraceKind::Udp) => icmp6(DST, 1, 4, &p),
            (true, TraceKind::Icmp) => echo_reply(&p),
        };
        t.handle_frame(at(u64::from(hop) * 10 + 2), &answer, RxChecksum::Unknown);
    }
    if last == Answer::Open {
        // The SYN-ACK is reset at once, over IPv6.
        let frame = t.poll_transmit(at(32)).expect("a RST");
        let (_, rst) = TcpRepr::from_ipv6_packet(&frame[14..], ChecksumMode::Verify).unwrap();
        assert_eq!(rst.flags, Flags::RST);
    }
    let evs = events(&mut t);
    assert_eq!(
        replies(&evs),
        vec![
            (1, R1.into(), TE),
            (2, R2.into(), TE),
            (3, DST.into(), last)
        ]
    );
    assert_eq!(
        evs.last(),
        Some(&Event::Done(Ending::Reached { ttl: 3, open }))
    );
    assert!(t.is_done());
}

/// A port unreachable from a router (code 4 there too) is not the
/// destination's: an unreachable that ends the trace at its hop, named
/// in ICMPv6's words.
#[test]
fn a_routers_unreachable_ends_the_trace_as_unreachable() {
    let mut t = trace(TraceKind::Udp, 33434, 1);
    let p = send(&mut t, at(0));
    t.handle_frame(at(1), &icmp6(R1, 1, 4, &p), RxChecksum::Unknown);
    assert_eq!(
        t.ending(),
        Some(Ending::Unreachable {
            ttl: 1,
            from: R1.into(),
            code: 4
        })
    );
    let a = Answer::Unreachable { code: 1 };
    assert_eq!(
        a.describe(true).as_deref(),
        Some("administratively prohibited (ICMPv6 type 1, code 1)")
    );
}

/// Errors quoting another probe, another port or another flow, and a
/// packet too big, answer nothing: the probe times out.
#[rstest]
#[case::other_sequence(TraceKind::Tcp, |p: &Sent| { let mut q = Sent { packet: p.packet.clone(), ..*p }; q.packet[40 + 4] ^= 1; time_exceeded(R1, &q) })]
#[case::other_source_port(TraceKind::Tcp, |p: &Sent| { let mut q = Sent { packet: p.packet.clone(), ..*p }; q.packet[40] ^= 1; time_exceeded(R1, &q) })]
#[case::other_destination(TraceKind::Tcp, |p: &Sent| { let mut q = Sent { packet: p.packet.clone(), ..*p }; q.packet[39] ^= 1; time_exceeded(R1, &q) })]
#[case::other_udp_port(TraceKind::Udp, |p: &Sent| { let mut q = Sent { packet: p.packet.clone(), ..*p }; q.packet[40 + 3] ^= 0x80; time_exceeded(R1, &q) })]
#[case::other_echo(TraceKind::Icmp, |p: &Sent| { let mut q = Sent { packet: p.packet.clone(), ..*p }; q.packet[40 + 7] ^= 1; time_exceeded(R1, &q) })]
#[case::packet_too_big(TraceKind::Tcp, |p: &Sent| icmp6(R1, 2, 0, p))]
#[case::echo_reply_from_a_router(TraceKind::Icmp, |p: &Sent| {
    let mut f = echo_reply(p);
    let ip = Ipv6Repr::new(R1, US, NextHeader::Icmpv6, 64, f.len() - 54);
    ip.emit(&mut f[14..]);
    f
})]
fn foreign_answers_over_ipv6_are_ignored(
    #[case] kind: TraceKind,
    #[case] make: fn(&Sent) -> Vec<u8>,
) {
    let mut t = trace(kind, 80, 1);
    let p = send(&mut t, at(0));
    t.handle_frame(at(1), &make(&p), RxChecksum::Unknown);
    assert!(replies(&events(&mut t)).is_empty());
    assert!(t.poll_transmit(at(1)).is_none(), "no next probe yet");
    t.handle_timeout(at(1000));
    assert!(events(&mut t).contains(&Event::Timeout { ttl: 1, query: 0 }));
}

#[test]
#[should_panic(expected = "a trace between")]
fn a_trace_between_families_is_refused() {
    let _ = Trace::new(Config {
        remote: "10.0.0.1:80".parse().unwrap(),
        ..trace(TraceKind::Tcp, 80, 1).config().clone()
    });
}
