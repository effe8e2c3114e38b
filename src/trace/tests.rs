//! The trace machine on fabricated answers: no sockets, no clock.

use super::*;
use crate::machine::{Feed, RxChecksum};
use rstest::rstest;

use crate::wire::ethernet;
use crate::wire::tcp::ChecksumMode;
use crate::wire::testing;
use std::net::{Ipv4Addr, SocketAddrV4};

const US: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const R1: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
const R2: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 2);
const DST: Ipv4Addr = Ipv4Addr::new(10, 3, 0, 2);
const MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const GW: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const WAIT: Duration = Duration::from_secs(1);

fn config(max_ttl: u8, queries: u8) -> Config {
    Config {
        mac: MAC,
        next_hop_mac: GW,
        local: SocketAddrV4::new(US, 40000).into(),
        remote: SocketAddrV4::new(DST, 80).into(),
        first_ttl: 1,
        max_ttl,
        queries,
        wait: WAIT,
        iss: SeqNum(0xfff0_0000),
        mss: 1460,
    }
}

fn at(ms: u64) -> Instant {
    Instant::from_micros(ms * 1000)
}

/// The probe `poll_transmit` sends, parsed.
struct Sent {
    ttl: u8,
    seq: SeqNum,
    ip_packet: Vec<u8>,
}

fn send(t: &mut Trace, now: Instant) -> Sent {
    let frame = t.poll_transmit(now).expect("a probe is due");
    let (_, ip, tcp) = TcpRepr::from_frame(&frame, ChecksumMode::Verify).unwrap();
    assert_eq!(tcp.flags, Flags::SYN);
    assert_eq!(tcp.src_port, 40000);
    assert_eq!(tcp.dst_port, 80);
    assert_eq!((ip.src, ip.dst), (US, DST));
    Sent {
        ttl: ip.ttl,
        seq: tcp.seq,
        ip_packet: frame[ethernet::HEADER_LEN..].to_vec(),
    }
}

fn wrap(from: Ipv4Addr, protocol: IpProtocol, body: &[u8]) -> Vec<u8> {
    testing::ipv4_frame((GW, MAC), (from, US), protocol, body)
}

fn icmp(from: Ipv4Addr, icmp_type: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    wrap(
        from,
        IpProtocol::Icmp,
        &testing::icmp_error(icmp_type, code, quoted),
    )
}

fn time_exceeded(from: Ipv4Addr, probe: &Sent) -> Vec<u8> {
    icmp(from, 11, 0, &probe.ip_packet)
}

/// A segment from the destination answering `probe` with `flags`.
fn answer(probe: &Sent, flags: Flags, ack: SeqNum, src_port: u16) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port,
        dst_port: 40000,
        seq: SeqNum(if flags.contains(Flags::RST) { 0 } else { 777 }),
        ack: Some(ack),
        flags,
        window: 100,
        urgent: 0,
        options: vec![],
        payload: &[],
    };
    let _ = probe;
    let ip = Ipv4Repr::new(DST, US, IpProtocol::Tcp, tcp.buffer_len());
    tcp.to_frame(GW, MAC, &ip)
}

fn syn_ack(probe: &Sent) -> Vec<u8> {
    answer(probe, Flags::SYN, probe.seq + 1u32, 80)
}

fn rst(probe: &Sent) -> Vec<u8> {
    answer(probe, Flags::RST, probe.seq + 1u32, 80)
}

fn events(t: &mut Trace) -> Vec<Event> {
    std::iter::from_fn(|| t.poll_event()).collect()
}

fn replies(evs: &[Event]) -> Vec<(u8, u8, Ipv4Addr, Answer)> {
    evs.iter()
        .filter_map(|e| match e {
            Event::Reply {
                ttl,
                query,
                from,
                answer,
                ..
            } => match from {
                IpAddr::V4(from) => Some((*ttl, *query, *from, *answer)),
                IpAddr::V6(from) => panic!("an IPv4 trace answered by {from}"),
            },
            _ => None,
        })
        .collect()
}

const TE: Answer = Answer::TimeExceeded { code: 0 };

#[rstest]
#[case::open(true)]
#[case::closed(false)]
fn three_hops_end_at_the_destination(#[case] open: bool) {
    let mut t = Trace::new(config(30, 2));
    let mut now = 0;
    let mut seqs = Vec::new();
    for (ttl, from) in [(1, R1), (2, R2), (3, DST)] {
        for _query in 0..2 {
            let p = send(&mut t, at(now));
            assert_eq!(p.ttl, ttl);
            assert!(t.poll_transmit(at(now)).is_none(), "one probe at a time");
            seqs.push(p.seq);
            now += 3;
            let reply = match (from == DST, open) {
                (false, _) => time_exceeded(from, &p),
                (true, true) => syn_ack(&p),
                (true, false) => rst(&p),
            };
            t.handle_frame(at(now), &reply, RxChecksum::Unknown);
            if from == DST && open {
                // The SYN-ACK is reset at once, at its acknowledgment number.
                let frame = t.poll_transmit(at(now)).expect("a RST");
                let (_, _, r) = TcpRepr::from_frame(&frame, ChecksumMode::Verify).unwrap();
                assert_eq!(r.flags, Flags::RST);
                assert_eq!(r.seq, p.seq + 1u32);
                assert_eq!(r.ack, None);
            }
        }
    }
    let mut uniq = seqs.clone();
    uniq.sort_by_key(|s| s.0);
    uniq.dedup();
    assert_eq!(
        uniq.len(),
        seqs.len(),
        "every probe has its own sequence number"
    );
    let evs = events(&mut t);
    let last = if open { Answer::Open } else { Answer::Closed };
    assert_eq!(
        replies(&evs),
        vec![
            (1, 0, R1, TE),
            (1, 1, R1, TE),
            (2, 0, R2, TE),
            (2, 1, R2, TE),
            (3, 0, DST, last),
            (3, 1, DST, last),
        ]
    );
    let rtts: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Reply { rtt, .. } => Some(*rtt),
            _ => None,
        })
        .collect();
    assert!(rtts.iter().all(|r| *r == Duration::from_millis(3)));
    assert_eq!(
        evs.last(),
        Some(&Event::Done(Ending::Reached { ttl: 3, open }))
    );
    assert!(t.is_done());
    assert!(t.poll_transmit(at(now + 5000)).is_none());
}

#[test]
fn silence_is_a_star_and_the_trace_stops_at_max_ttl() {
    let mut t = Trace::new(config(3, 2));
    let mut now = 0;
    let mut got = Vec::new();
    while !t.is_done() {
        let p = send(&mut t, at(now));
        let deadline = t.poll_timeout().expect("a deadline");
        assert_eq!(deadline, at(now) + WAIT);
        // Nothing before the deadline…
        t.handle_timeout(at(now + 999));
        assert!(t.poll_transmit(at(now + 999)).is_none());
        // …then a star, and the next probe.
        now += 1000;
        t.handle_timeout(at(now));
        got.push(p.ttl);
    }
    assert_eq!(got, vec![1, 1, 2, 2, 3, 3]);
    let evs = events(&mut t);
    let stars: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Timeout { ttl, query } => Some((*ttl, *query)),
            _ => None,
        })
        .collect();
    assert_eq!(stars, vec![(1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)]);
    assert_eq!(evs.last(), Some(&Event::Done(Ending::MaxTtl)));
    assert_eq!(t.ending(), Some(Ending::MaxTtl));
}

#[test]
fn a_silent_router_between_answering_ones() {
    let mut t = Trace::new(config(30, 1));
    let p1 = send(&mut t, at(0));
    t.handle_frame(at(1), &time_exceeded(R1, &p1), RxChecksum::Unknown);
    let _p2 = send(&mut t, at(1));
    t.handle_timeout(at(1001));
    let p3 = send(&mut t, at(1001));
    t.handle_frame(at(1002), &syn_ack(&p3), RxChecksum::Unknown);
    let evs = events(&mut t);
    assert!(evs.contains(&Event::Timeout { ttl: 2, query: 0 }));
    assert_eq!(
        replies(&evs),
        vec![(1, 0, R1, TE), (3, 0, DST, Answer::Open)]
    );
    assert_eq!(t.ending(), Some(Ending::Reached { ttl: 3, open: true }));
}

#[rstest]
#[case::host_unreachable(1)]
#[case::admin_prohibited(13)]
fn unreachable_from_a_router_stops_after_its_hop(#[case] code: u8) {
    let mut t = Trace::new(config(30, 2));
    let p1 = send(&mut t, at(0));
    t.handle_frame(at(1), &time_exceeded(R1, &p1), RxChecksum::Unknown);
    let p2 = send(&mut t, at(1));
    t.handle_frame(at(1), &time_exceeded(R1, &p2), RxChecksum::Unknown);
    let p3 = send(&mut t, at(2));
    t.handle_frame(
        at(3),
        &icmp(R2, 3, code, &p3.ip_packet),
        RxChecksum::Unknown,
    );
    assert!(!t.is_done(), "the hop's other queries still go");
    let p4 = send(&mut t, at(3));
    assert_eq!(p4.ttl, 2);
    t.handle_timeout(at(1003));
    let evs = events(&mut t);
    assert_eq!(
        evs.last(),
        Some(&Event::Done(Ending::Unreachable {
            ttl: 2,
            from: R2.into(),
            code
        }))
    );
    assert!(t.is_done());
}

/// Answers that quote someone else's probe are not ours.
#[rstest]
#[case::other_sequence(|p: &Sent| {
    let mut q = p.ip_packet.clone();
    q[24] ^= 0x01; // first byte of the quoted sequence number
    icmp(R1, 11, 0, &q)
})]
#[case::other_source_port(|p: &Sent| {
    let mut q = p.ip_packet.clone();
    q[20] ^= 0x01;
    icmp(R1, 11, 0, &q)
})]
#[case::other_destination_port(|p: &Sent| {
    let mut q = p.ip_packet.clone();
    q[23] ^= 0x01;
    icmp(R1, 11, 0, &q)
})]
#[case::other_destination(|p: &Sent| {
    let mut q = p.ip_packet.clone();
    q[19] ^= 0x01;
    icmp(R1, 11, 0, &q)
})]
#[case::syn_ack_with_a_wrong_ack(|p: &Sent| answer(p, Flags::SYN, p.seq + 2u32, 80))]
#[case::rst_from_another_port(|p: &Sent| answer(p, Flags::RST, p.seq + 1u32, 81))]
#[case::ack_without_syn_or_rst(|p: &Sent| answer(p, Flags::NONE, p.seq + 1u32, 80))]
fn foreign_answers_are_ignored(#[case] make: fn(&Sent) -> Vec<u8>) {
    let mut t = Trace::new(config(30, 1));
    let p = send(&mut t, at(0));
    t.handle_frame(at(1), &make(&p), RxChecksum::Unknown);
    assert!(t.poll_transmit(at(1)).is_none(), "no RST, no next probe");
    assert!(replies(&events(&mut t)).is_empty());
    t.handle_timeout(at(1000));
    assert!(events(&mut t).contains(&Event::Timeout { ttl: 1, query: 0 }));
}

#[test]
fn a_late_answer_is_not_counted_but_a_late_syn_ack_is_reset() {
    let mut t = Trace::new(config(30, 2));
    let p1 = send(&mut t, at(0));
    t.handle_timeout(at(1000));
    let p2 = send(&mut t, at(1000));
    // The first probe's answer arrives during the second's wait.
    t.handle_frame(at(1001), &syn_ack(&p1), RxChecksum::Unknown);
    let frame = t
        .poll_transmit(at(1001))
        .expect("the late SYN-ACK is reset");
    let (_, _, r) = TcpRepr::from_frame(&frame, ChecksumMode::Verify).unwrap();
    assert_eq!((r.flags, r.seq), (Flags::RST, p1.seq + 1u32));
    assert!(t.poll_transmit(at(1001)).is_none(), "p2 still waits");
    let evs = events(&mut t);
    assert!(evs.contains(&Event::Late {
        ttl: 1,
        query: 0,
        from: DST.into()
    }));
    assert!(replies(&evs).is_empty());
    t.handle_frame(at(1002), &time_exceeded(R1, &p2), RxChecksum::Unknown);
    assert_eq!(replies(&events(&mut t)), vec![(1, 1, R1, TE)]);
    assert!(!t.is_done(), "a late SYN-ACK does not end the hop");
}

#[test]
fn a_bad_checksum_is_refused_unless_the_kernel_vouches() {
    let mut t = Trace::new(config(30, 1));
    let p = send(&mut t, at(0));
    let mut frame = rst(&p);
    let n = frame.len();
    frame[n - 4] ^= 0xff; // the TCP checksum
    t.handle_frame(at(1), &frame, RxChecksum::Unknown);
    assert!(replies(&events(&mut t)).is_empty());
    t.handle_frame(at(1), &frame, RxChecksum::Partial);
    assert_eq!(replies(&events(&mut t)), vec![(1, 0, DST, Answer::Closed)]);
}

#[test]
fn first_ttl_and_queries_are_honoured() {
    let mut t = Trace::new(Config {
        first_ttl: 5,
        ..config(6, 3)
    });
    let mut ttls = Vec::new();
    let mut now = 0;
    while !t.is_done() {
        ttls.push(send(&mut t, at(now)).ttl);
        now += 1000;
        t.handle_timeout(at(now));
    }
    assert_eq!(ttls, vec![5, 5, 5, 6, 6, 6]);
}
