//! TCP over IPv6 through the one interface, on a virtual clock: two
//! interfaces, each with an IPv4 and an IPv6 address, joined by a
//! lossless wire. What goes over it is IPv6 (checked frame by frame),
//! the flows are keyed by their IPv6 4-tuples beside IPv4 ones, ICMPv6
//! errors reach the flow they quote, and what cannot be read is counted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use nettool::machine::{Machine, RxChecksum};
use nettool::stack::iface::{
    DEFAULT_BACKLOG, ErrorKind, Event, FlowKey, HostEvent, Interface, InterfaceConfig,
    ListenerConfig,
};
use nettool::tcp::{self, Connection, IssSource, SeqNum, State};
use nettool::time::Instant;
use nettool::wire::MacAddr;
use nettool::wire::ethernet::{EthernetRepr, Protocol};
use nettool::wire::icmpv6::Icmpv6Kind;
use nettool::wire::ipv6::{Ipv6Repr, NextHeader};
use nettool::wire::tcp::{ChecksumMode, TcpRepr};
use pnet::packet::icmpv6::{Icmpv6Packet, checksum};
use rstest::rstest;

const SERVER_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const CLIENT_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const SERVER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 1);
const CLIENT6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 2);
const SERVER4: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 1);
const CLIENT4: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 2);
const ROUTER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 1, 0, 0, 0, 0, 1);

fn iface(ip: Ipv4Addr, ipv6: Ipv6Addr, mac: MacAddr, peer: MacAddr) -> Interface {
    Interface::new(InterfaceConfig {
        ip,
        mac,
        ipv6: Some(ipv6),
        next_hop_mac: Some(peer),
        answer_arp: false,
        trace: true,
    })
}

fn listener() -> ListenerConfig {
    ListenerConfig {
        tcp: tcp::Config::default(),
        iss: IssSource::Fixed(SeqNum(7000)),
        backlog: DEFAULT_BACKLOG,
    }
}

/// Two interfaces and what crossed between them.
struct Net {
    now: Instant,
    client: Interface,
    server: Interface,
    /// Every frame, in order: (to the server?, frame).
    frames: Vec<(bool, Vec<u8>)>,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
}

impl Net {
    fn new() -> Net {
        let mut server = iface(SERVER4, SERVER6, SERVER_MAC, CLIENT_MAC);
        server.listen(SocketAddr::new(SERVER6.into(), 80), listener());
        server.listen(SocketAddr::new(SERVER4.into(), 80), listener());
        Net {
            now: Instant::ZERO,
            client: iface(CLIENT4, CLIENT6, CLIENT_MAC, SERVER_MAC),
            server,
            frames: Vec::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    /// Moves frames both ways until both sides are quiet, then advances
    /// the clock by 1 ms (and fires what is due).
    fn step(&mut self) {
        loop {
            let mut moved = false;
            while let Some(f) = self.client.poll_transmit(self.now) {
                self.server.handle_frame(self.now, &f, RxChecksum::Unknown);
                self.frames.push((true, f));
                moved = true;
            }
            while let Some(f) = self.server.poll_transmit(self.now) {
                self.client.handle_frame(self.now, &f, RxChecksum::Unknown);
                self.frames.push((false, f));
                moved = true;
            }
            self.client_events
                .extend(std::iter::from_fn(|| self.client.poll_event()));
            self.server_events
                .extend(std::iter::from_fn(|| self.server.poll_event()));
            if !moved {
                break;
            }
        }
        self.now += Duration::from_millis(1);
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }

    fn open(&mut self, local: SocketAddr, remote: SocketAddr) -> (FlowKey, FlowKey) {
        self.open_with(tcp::Config::default(), local, remote)
    }

    fn open_with(
        &mut self,
        config: tcp::Config,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> (FlowKey, FlowKey) {
        let conn = Connection::connect(self.now, config, local, remote, SeqNum(1000));
        let key = self.client.open(conn);
        for _ in 0..5 {
            self.step();
        }
        let accepted = self
            .server
            .accept(SocketAddr::new(remote.ip(), 80))
            .expect("the server accepted the connection");
        (key, accepted)
    }
}

fn v6(ip: Ipv6Addr, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

#[test]
fn a_connection_over_ipv6_opens_carries_data_and_closes() {
    let mut net = Net::new();
    let (key, accepted) = net.open(v6(CLIENT6, 40000), v6(SERVER6, 80));
    assert_eq!(key.remote, v6(SERVER6, 80));
    assert_eq!(accepted.local, v6(SERVER6, 80));
    assert_eq!(accepted.remote, v6(CLIENT6, 40000));
    assert_eq!(net.client.conn(key).unwrap().state(), State::Established);
    // The MSS each side offered leaves room for IPv6's 40-byte header.
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    for _ in 0..400 {
        if sent < data.len() {
            sent += net
                .client
                .conn_mut(key)
                .unwrap()
                .send(&data[sent..])
                .unwrap();
        }
        net.step();
        let mut buf = [0u8; 65536];
        while let Ok(n) = net.server.conn_mut(accepted).unwrap().recv(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() == data.len() {
            break;
        }
    }
    assert_eq!(got, data);
    net.client.conn_mut(key).unwrap().close(net.now);
    net.server.conn_mut(accepted).unwrap().close(net.now);
    for _ in 0..10 {
        net.step();
    }
    assert!(matches!(
        net.client.conn(key).unwrap().state(),
        State::TimeWait | State::Closed
    ));
    // Every frame was IPv6, and every segment in it verifies over the
    // IPv6 pseudo-header and fits a 1500-byte MTU.
    assert!(net.frames.len() > 70);
    for (_, f) in &net.frames {
        let (eth, rest) = EthernetRepr::parse(f).unwrap();
        assert_eq!(eth.protocol, Protocol::Ipv6);
        let (ip, tcp) = TcpRepr::from_ipv6_packet(rest, ChecksumMode::Verify).unwrap();
        assert!(ip.total_len() <= 1500, "{} bytes", ip.total_len());
        if let Some(mss) = tcp.mss() {
            assert_eq!(mss, 1440);
        }
    }
    // The traced segments carry IPv6 addresses.
    let traced = net
        .client_events
        .iter()
        .find_map(|e| match &e.what {
            HostEvent::Segment { seg, .. } => Some(seg.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        (traced.src, traced.dst),
        (v6(CLIENT6, 40000), v6(SERVER6, 80))
    );
}

#[test]
fn ipv4_and_ipv6_flows_with_the_same_ports_live_side_by_side() {
    let mut net = Net::new();
    let v4 = |ip: Ipv4Addr, port| SocketAddr::new(IpAddr::V4(ip), port);
    let (k6, a6) = net.open(v6(CLIENT6, 40000), v6(SERVER6, 80));
    let (k4, a4) = net.open(v4(CLIENT4, 40000), v4(SERVER4, 80));
    assert_ne!(a6, a4);
    net.client.conn_mut(k6).unwrap().send(b"six").unwrap();
    net.client.conn_mut(k4).unwrap().send(b"four").unwrap();
    for _ in 0..50 {
        net.step();
    }
    let mut buf = [0u8; 16];
    let n = net.server.conn_mut(a6).unwrap().recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"six");
    let n = net.server.conn_mut(a4).unwrap().recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"four");
    assert_eq!(net.server.flow_count(), 2);
    net.server.audit().unwrap();
    // A removed IPv6 flow's name is free again, and names nothing.
    assert!(net.client.remove(k6).is_some());
    assert!(net.client.conn(k6).is_none());
    assert!(net.client.conn(k4).is_some());
    net.client.audit().unwrap();
}

/// An ICMPv6 error from a router about the client's segment `quoted`.
fn icmpv6_error(ty: u8, code: u8, word: u32, quoted: &[u8]) -> Vec<u8> {
    let mut msg = vec![ty, code, 0, 0];
    msg.extend_from_slice(&word.to_be_bytes());
    msg.extend_from_slice(&quoted[14..]);
    msg.truncate(1280 - 40);
    let sum = checksum(&Icmpv6Packet::new(&msg).unwrap(), &ROUTER6, &CLIENT6);
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    Ipv6Repr::new(ROUTER6, CLIENT6, NextHeader::Icmpv6, 64, msg.len())
        .frame(SERVER_MAC, CLIENT_MAC, &msg)
}

#[rstest]
#[case::packet_too_big(2, 0, 1280, ErrorKind::V6(Icmpv6Kind::PacketTooBig(1280)))]
#[case::below_the_minimum(2, 0, 600, ErrorKind::V6(Icmpv6Kind::PacketTooBig(600)))]
#[case::unreachable(1, 4, 0, ErrorKind::V6(Icmpv6Kind::Unreachable(4)))]
#[case::time_exceeded(3, 0, 0, ErrorKind::V6(Icmpv6Kind::TimeExceeded(0)))]
fn icmpv6_errors_reach_the_flow_they_quote(
    #[case] ty: u8,
    #[case] code: u8,
    #[case] word: u32,
    #[case] want: ErrorKind,
) {
    let mut net = Net::new();
    let (key, _) = net.open(v6(CLIENT6, 40000), v6(SERVER6, 80));
    let before = net.client.conn(key).unwrap().tcb().eff_snd_mss;
    // A full-sized segment of the client's, which a router refuses.
    net.client
        .conn_mut(key)
        .unwrap()
        .send(&[7u8; 4000])
        .unwrap();
    let big = net.client.poll_transmit(net.now).unwrap();
    assert_eq!(big.len(), 14 + 1500);
    net.client.handle_frame(
        net.now,
        &icmpv6_error(ty, code, word, &big),
        RxChecksum::Unknown,
    );
    let events: Vec<Event> = std::iter::from_fn(|| net.client.poll_event()).collect();
    let icmp = events
        .iter()
        .find_map(|e| match e.what {
            HostEvent::Icmp { from, kind } => Some((e.flow, from, kind)),
            _ => None,
        })
        .expect("the flow heard of the error");
    assert_eq!(icmp, (Some(key), IpAddr::V6(ROUTER6), want));
    let conn = net.client.conn(key).unwrap();
    if ty == 2 {
        // RFC 8201: never below IPv6's minimum MTU of 1280.
        assert_eq!(conn.mtu(), 1280);
        // 1280 - 40 (IPv6) - 20 (TCP) - 12 (timestamps).
        assert_eq!(conn.tcb().eff_snd_mss, 1208);
        assert!(conn.tcb().eff_snd_mss < before);
        // What goes next fits the path.
        while let Some(f) = net.client.poll_transmit(net.now) {
            assert!(f.len() <= 14 + 1280, "{} bytes", f.len());
        }
    } else {
        assert_eq!(conn.tcb().eff_snd_mss, before);
        assert_eq!(conn.state(), State::Established, "the application decides");
    }
}

/// A router whose far link carries 1280 bytes drops a whole flight of
/// full-sized segments and says so with a packet too big about the
/// first: the client resends what was outstanding at once (the same
/// instant, well within one RTT, not after the RTO or duplicate ACKs),
/// cut to the new size, with cwnd and ssthresh as they were, and the
/// transfer completes without a timeout or a recovery.
#[rstest]
#[case::with_sack(true)]
#[case::without_sack(false)]
fn a_packet_too_big_resends_the_flight_at_once_re_cut(#[case] sack: bool) {
    let mut net = Net::new();
    let config = tcp::Config {
        sack_permitted: sack,
        ..tcp::Config::default()
    };
    let (key, accepted) = net.open_with(config, v6(CLIENT6, 40000), v6(SERVER6, 80));
    let data: Vec<u8> = (0..60_000u32).map(|i| (i * 13) as u8).collect();
    let queued = net.client.conn_mut(key).unwrap().send(&data).unwrap();
    assert_eq!(queued, data.len());
    let flight: Vec<Vec<u8>> = std::iter::from_fn(|| net.client.poll_transmit(net.now)).collect();
    assert!(flight.len() >= 4, "{} segments", flight.len());
    assert!(flight.iter().all(|f| f.len() == 14 + 1500));
    let conn = net.client.conn(key).unwrap();
    let (cwnd, ssthresh, una) = (conn.cwnd(), conn.ssthresh(), conn.tcb().snd.una);
    // The packet too big comes back a moment later; nothing arrived.
    net.now += Duration::from_micros(300);
    net.client.handle_frame(
        net.now,
        &icmpv6_error(2, 0, 1280, &flight[0]),
        RxChecksum::Unknown,
    );
    let again: Vec<Vec<u8>> = std::iter::from_fn(|| net.client.poll_transmit(net.now)).collect();
    assert!(again.len() >= flight.len(), "{} resent", again.len());
    let seqs: Vec<(u32, usize)> = again
        .iter()
        .map(|f| {
            assert!(f.len() <= 14 + 1280, "{} bytes", f.len());
            let (_, rest) = EthernetRepr::parse(f).unwrap();
            let (_, tcp) = TcpRepr::from_ipv6_packet(rest, ChecksumMode::Verify).unwrap();
            (tcp.seq.0, tcp.payload.len())
        })
        .collect();
    assert_eq!(seqs[0].0, una.0, "from SND.UNA");
    assert!(
        seqs.windows(2)
            .all(|w| w[1].0 == w[0].0.wrapping_add(w[0].1 as u32)),
        "in order, back to back: {seqs:?}"
    );
    let conn = net.client.conn(key).unwrap();
    assert_eq!((conn.cwnd(), conn.ssthresh()), (cwnd, ssthresh));
    assert!(!conn.in_recovery());
    assert_eq!(conn.timeouts(), 0);
    // The resent segments reach the server, and the rest follows.
    for f in &again {
        net.server.handle_frame(net.now, f, RxChecksum::Unknown);
    }
    let mut got = Vec::new();
    for _ in 0..200 {
        net.step();
        let mut buf = [0u8; 65536];
        while let Ok(n) = net.server.conn_mut(accepted).unwrap().recv(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() == data.len() {
            break;
        }
    }
    assert_eq!(got, data);
    let conn = net.client.conn(key).unwrap();
    assert_eq!(conn.timeouts(), 0);
    assert!(conn.cwnd() >= cwnd, "cwnd {} fell from {cwnd}", conn.cwnd());
    assert!(net.now < Instant::ZERO + Duration::from_millis(250));
}

/// An IPv4 destination unreachable from a router about the client's
/// segment `quoted`, with `mtu` in the second word (RFC 1191).
fn icmpv4_unreachable(code: u8, mtu: u16, quoted: &[u8]) -> Vec<u8> {
    use nettool::wire::ethernet::HEADER_LEN;
    use nettool::wire::ipv4::{IpProtocol, Ipv4Repr};
    let router = Ipv4Addr::new(10, 7, 1, 1);
    let mut msg = vec![3, code, 0, 0, 0, 0];
    msg.extend_from_slice(&mtu.to_be_bytes());
    msg.extend_from_slice(&quoted[14..14 + 28]);
    let sum = pnet::packet::icmp::checksum(&pnet::packet::icmp::IcmpPacket::new(&msg).unwrap());
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    let ip = Ipv4Repr::new(router, CLIENT4, IpProtocol::Icmp, msg.len());
    let mut f = vec![0u8; HEADER_LEN + ip.total_len()];
    EthernetRepr {
        src: SERVER_MAC,
        dst: CLIENT_MAC,
        protocol: Protocol::Ipv4,
    }
    .emit(&mut f);
    ip.emit(&mut f[HEADER_LEN..]);
    f[HEADER_LEN + 20..].copy_from_slice(&msg);
    f
}

/// IPv4's "fragmentation needed" with a next-hop MTU lowers the flow's
/// path MTU (never below Linux's floor of 552) and resends the too-big
/// segment at once, cut to fit; without an MTU (a pre-RFC 1191 router),
/// or for another unreachable, nothing changes but the report.
#[rstest]
#[case::frag_needed(4, 1400, Some(1400))]
#[case::below_the_floor(4, 300, Some(552))]
#[case::no_mtu_said(4, 0, None)]
#[case::port_unreachable(3, 1400, None)]
fn ipv4_fragmentation_needed_lowers_the_path_mtu(
    #[case] code: u8,
    #[case] mtu: u16,
    #[case] want: Option<usize>,
) {
    let mut net = Net::new();
    let v4 = |ip: Ipv4Addr, port| SocketAddr::new(IpAddr::V4(ip), port);
    let (key, _) = net.open(v4(CLIENT4, 40000), v4(SERVER4, 80));
    net.client
        .conn_mut(key)
        .unwrap()
        .send(&[9u8; 3000])
        .unwrap();
    let flight: Vec<Vec<u8>> = std::iter::from_fn(|| net.client.poll_transmit(net.now)).collect();
    assert_eq!(flight[0].len(), 14 + 1500);
    net.client.handle_frame(
        net.now,
        &icmpv4_unreachable(code, mtu, &flight[0]),
        RxChecksum::Unknown,
    );
    assert!(
        std::iter::from_fn(|| net.client.poll_event())
            .any(|e| matches!(e.what, HostEvent::Icmp { .. }))
    );
    let again: Vec<Vec<u8>> = std::iter::from_fn(|| net.client.poll_transmit(net.now)).collect();
    let conn = net.client.conn(key).unwrap();
    match want {
        Some(mtu) => {
            assert_eq!(conn.mtu(), mtu);
            assert!(!again.is_empty(), "resent at once");
            assert!(again.iter().all(|f| f.len() <= 14 + mtu));
        }
        None => {
            assert_eq!(conn.mtu(), 1500);
            assert!(again.is_empty());
        }
    }
}

#[test]
fn an_icmpv6_error_about_another_flow_reaches_nobody() {
    let mut net = Net::new();
    let (key, _) = net.open(v6(CLIENT6, 40000), v6(SERVER6, 80));
    net.client.conn_mut(key).unwrap().send(b"x").unwrap();
    let mut f = net.client.poll_transmit(net.now).unwrap();
    // The quoted segment's destination port is another one.
    f[14 + 40 + 3] ^= 1;
    net.client
        .handle_frame(net.now, &icmpv6_error(1, 4, 0, &f), RxChecksum::Unknown);
    assert!(
        std::iter::from_fn(|| net.client.poll_event())
            .all(|e| !matches!(e.what, HostEvent::Icmp { .. }))
    );
}

/// IPv6 to the server whose extension headers cannot be walked is
/// counted with its reason, never followed, and changes nothing.
#[rstest]
#[case::routing_header_past_the_end(43, vec![6, 30, 0, 0, 0, 0, 0, 0], "truncated")]
#[case::a_fragment(44, vec![6, 0, 0, 9, 0, 0, 0, 1], "unsupported IPv6 fragment")]
#[case::hop_by_hop_second(60, vec![0, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0], "malformed hop-by-hop header after the first")]
fn unreadable_ipv6_is_counted_with_its_reason(
    #[case] first: u8,
    #[case] ext: Vec<u8>,
    #[case] why: &str,
) {
    let mut net = Net::new();
    let (key, accepted) = net.open(v6(CLIENT6, 40000), v6(SERVER6, 80));
    net.client.conn_mut(key).unwrap().send(b"hello").unwrap();
    let mut f = net.client.poll_transmit(net.now).unwrap();
    f[14 + 6] = first;
    f.splice(14 + 40..14 + 40, ext.iter().copied());
    let len = u16::from_be_bytes([f[18], f[19]]) + ext.len() as u16;
    f[18..20].copy_from_slice(&len.to_be_bytes());
    let rcv_nxt = net.server.conn(accepted).unwrap().tcb().rcv.nxt;
    net.server.handle_frame(net.now, &f, RxChecksum::Unknown);
    assert_eq!(net.server.malformed(), 1);
    let said: Vec<String> = std::iter::from_fn(|| net.server.poll_event())
        .filter_map(|e| match e.what {
            HostEvent::Malformed { why } => Some(why.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(said, [why]);
    assert_eq!(net.server.conn(accepted).unwrap().tcb().rcv.nxt, rcv_nxt);
}

/// A Neighbor Solicitation for `target` to its solicited-node group, from
/// the server's address (or `::`, a DAD probe), with `hop_limit`.
fn solicitation(src: Ipv6Addr, target: Ipv6Addr, hop_limit: u8) -> Vec<u8> {
    use nettool::wire::icmpv6::Icmpv6Repr;
    use nettool::wire::ipv6::{multicast_mac, solicited_node};
    use nettool::wire::ndp::NdpRepr;
    let group = solicited_node(target);
    let ns = Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
        target,
        source_lladdr: (!src.is_unspecified()).then_some(SERVER_MAC),
    });
    let mut msg = vec![0u8; ns.buffer_len()];
    ns.emit(src, group, &mut msg);
    Ipv6Repr::new(src, group, NextHeader::Icmpv6, hop_limit, msg.len()).frame(
        SERVER_MAC,
        multicast_mac(group),
        &msg,
    )
}

/// An interface whose IPv6 address the kernel does not own answers
/// solicitations for it, and only for it, with hop limit 255 required;
/// one the kernel owns leaves them to the kernel. A solicitation that is
/// not answered changes nothing: no frame, no event, no count.
#[rstest]
#[case::resolution(SERVER6, CLIENT6, 255, true, true)]
#[case::dad_probe_for_our_address(Ipv6Addr::UNSPECIFIED, CLIENT6, 255, true, true)]
#[case::another_address(
    SERVER6,
    Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 9),
    255,
    true,
    false
)]
#[case::hop_limit_254(SERVER6, CLIENT6, 254, true, false)]
#[case::the_kernels_address(SERVER6, CLIENT6, 255, false, false)]
fn solicitations_are_answered_for_an_address_nettool_alone_answers_for(
    #[case] src: Ipv6Addr,
    #[case] target: Ipv6Addr,
    #[case] hop_limit: u8,
    #[case] alone: bool,
    #[case] answered: bool,
) {
    let mut client = Interface::new(InterfaceConfig {
        ip: Ipv4Addr::UNSPECIFIED,
        mac: CLIENT_MAC,
        ipv6: Some(CLIENT6),
        next_hop_mac: Some(SERVER_MAC),
        answer_arp: alone,
        trace: true,
    });
    let ns = solicitation(src, target, hop_limit);
    client.handle_frame(Instant::ZERO, &ns, RxChecksum::Unknown);
    let out: Vec<Vec<u8>> = std::iter::from_fn(|| client.poll_transmit(Instant::ZERO)).collect();
    let events: Vec<Event> = std::iter::from_fn(|| client.poll_event()).collect();
    assert_eq!(client.malformed(), 0);
    if !answered {
        assert!(out.is_empty() && events.is_empty(), "{events:?}");
        return;
    }
    let [na] = &out[..] else {
        panic!("{} frames", out.len())
    };
    let (eth, rest) = EthernetRepr::parse(na).unwrap();
    let (ip, _) = Ipv6Repr::parse(rest).unwrap();
    assert_eq!((eth.src, ip.src, ip.hop_limit), (CLIENT_MAC, CLIENT6, 255));
    let want_dst = if src.is_unspecified() {
        Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)
    } else {
        src
    };
    assert_eq!(ip.dst, want_dst);
    assert!(matches!(
        &events[..],
        [Event { flow: None, what: HostEvent::NeighborAnswered { asker, asker_mac }, .. }]
            if *asker == src && *asker_mac == SERVER_MAC
    ));
}
