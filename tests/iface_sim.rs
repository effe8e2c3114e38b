//! The interface's flow table and listener, on a virtual clock: a server
//! interface listening, real clients (nettool's engine, as a kernel would
//! behave) and spoofed SYNs from addresses that never answer, on a wire
//! with a fixed one-way latency.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use nettool::machine::{Machine, RxChecksum};
use nettool::stack::iface::{
    DEFAULT_BACKLOG, Event, FlowKey, HostEvent, Interface, InterfaceConfig, ListenerConfig,
};
use nettool::tcp::{self, Connection, Event as TcpEvent, IssSource, SeqNum, State};
use nettool::time::Instant;
use nettool::wire::MacAddr;
use nettool::wire::ipv4::{IpProtocol, Ipv4Repr};
use nettool::wire::tcp::{ChecksumMode, Flags, TcpRepr};
use rstest::rstest;

const SERVER_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const CLIENT_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const SERVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 7, 0, 1), 9000);
const LATENCY: Duration = Duration::from_micros(100);

fn client_addr(i: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 7, 0, 2), 40000 + i)
}

/// A spoofed source: an address that is not on the wire.
fn spoofed(i: u32) -> SocketAddrV4 {
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(172, 16, 0, 0)) + i / 60000);
    SocketAddrV4::new(ip, 1024 + (i % 60000) as u16)
}

/// A frame carrying `seg` from `src` to the server.
fn frame_to_server(src: SocketAddrV4, seg: &TcpRepr<'_>) -> Vec<u8> {
    let ip = Ipv4Repr::new(*src.ip(), *SERVER.ip(), IpProtocol::Tcp, seg.buffer_len());
    seg.to_frame(CLIENT_MAC, SERVER_MAC, &ip)
}

fn syn(src: SocketAddrV4, seq: u32) -> Vec<u8> {
    frame_to_server(
        src,
        &TcpRepr {
            src_port: src.port(),
            dst_port: SERVER.port(),
            seq: SeqNum(seq),
            ack: None,
            flags: Flags::SYN,
            window: 64240,
            urgent: 0,
            options: vec![],
            payload: &[],
        },
    )
}

/// A frame in flight: (arrival, order sent, to the server?, frame).
type InFlight = Reverse<(Instant, u64, bool, Vec<u8>)>;

/// The server interface, its clients and the wire between them.
struct Net {
    now: Instant,
    server: Interface,
    clients: Vec<Connection>,
    wire: BinaryHeap<InFlight>,
    order: u64,
    /// The server's events, in order.
    events: Vec<Event>,
    /// Frames the server sent to addresses nobody answers from.
    to_nowhere: usize,
    /// Frames the server sent, by TCP flags, to clients and elsewhere.
    syn_acks: usize,
    rsts: usize,
    /// Where the server's RSTs went.
    rst_macs: Vec<MacAddr>,
    /// Most half-open connections and flows seen at once.
    peak_half_open: usize,
    peak_flows: usize,
}

fn server(backlog: usize, answer_arp: bool) -> Interface {
    let mut s = Interface::new(InterfaceConfig {
        ip: *SERVER.ip(),
        mac: SERVER_MAC,
        ipv6: None,
        next_hop_mac: None,
        answer_arp,
        trace: true,
    });
    s.listen(
        SERVER,
        ListenerConfig {
            tcp: tcp::Config {
                syn_retries: 3,
                ..tcp::Config::default()
            },
            iss: IssSource::Fixed(SeqNum(1_000_000)),
            backlog,
        },
    );
    s
}

impl Net {
    fn new(server: Interface) -> Net {
        Net {
            now: Instant::ZERO,
            server,
            clients: Vec::new(),
            wire: BinaryHeap::new(),
            order: 0,
            events: Vec::new(),
            to_nowhere: 0,
            syn_acks: 0,
            rsts: 0,
            rst_macs: Vec::new(),
            peak_half_open: 0,
            peak_flows: 0,
        }
    }

    fn send(&mut self, at: Instant, to_server: bool, frame: Vec<u8>) {
        self.order += 1;
        self.wire.push(Reverse((at, self.order, to_server, frame)));
    }

    /// A client connecting now.
    fn connect(&mut self, i: u16) -> usize {
        let conn = Connection::connect(
            self.now,
            tcp::Config::default(),
            client_addr(i),
            SERVER,
            SeqNum(5_000_000 + u32::from(i)),
        );
        self.clients.push(conn);
        self.clients.len() - 1
    }

    /// Everyone sends what they have; the server's events are collected.
    fn flush(&mut self) {
        let now = self.now;
        while let Some(frame) = self.server.poll_transmit(now) {
            if let Ok((eth, _, tcp)) = TcpRepr::from_frame(&frame, ChecksumMode::Verify) {
                if tcp.flags.contains(Flags::SYN) && tcp.ack.is_some() {
                    self.syn_acks += 1;
                }
                if tcp.flags.contains(Flags::RST) {
                    self.rsts += 1;
                    self.rst_macs.push(eth.dst);
                }
            }
            self.send(now + LATENCY, false, frame);
        }
        for i in 0..self.clients.len() {
            while let Some(seg) = self.clients[i].poll_transmit(now) {
                let frame = seg.to_frame(CLIENT_MAC, SERVER_MAC);
                self.send(now + LATENCY, true, frame);
            }
            while self.clients[i].poll_event().is_some() {}
        }
        while let Some(ev) = self.server.poll_event() {
            self.events.push(ev);
        }
        self.peak_half_open = self.peak_half_open.max(self.server.half_open(SERVER));
        self.peak_flows = self.peak_flows.max(self.server.flow_count());
    }

    /// Runs until nothing is left to do before `until`; time ends at `until`.
    fn run_until(&mut self, until: Instant) {
        loop {
            self.flush();
            let next = [
                self.wire.peek().map(|Reverse((t, ..))| *t),
                self.server.poll_timeout(),
            ]
            .into_iter()
            .chain(self.clients.iter().map(Connection::poll_timeout))
            .flatten()
            .min();
            let Some(next) = next.filter(|t| *t <= until) else {
                self.now = until;
                return;
            };
            self.now = self.now.max(next);
            let now = self.now;
            while self.wire.peek().is_some_and(|Reverse((t, ..))| *t <= now) {
                let Reverse((_, _, to_server, frame)) = self.wire.pop().expect("peeked");
                if to_server {
                    self.server.handle_frame(now, &frame, RxChecksum::Unknown);
                } else {
                    self.deliver_to_client(&frame);
                }
            }
            if self.server.poll_timeout().is_some_and(|t| t <= now) {
                self.server.handle_timeout(now);
            }
            for c in &mut self.clients {
                if c.poll_timeout().is_some_and(|t| t <= now) {
                    c.handle_timeout(now);
                }
            }
        }
    }

    fn deliver_to_client(&mut self, frame: &[u8]) {
        let Ok((_, ip, tcp)) = TcpRepr::from_frame(frame, ChecksumMode::Verify) else {
            return;
        };
        let dst = SocketAddrV4::new(ip.dst, tcp.dst_port);
        match self.clients.iter_mut().find(|c| c.local() == dst.into()) {
            Some(c) => c.handle_segment_from(self.now, ip.src, &tcp),
            None => self.to_nowhere += 1,
        }
    }

    /// Events of `flow`, in order.
    fn events_of(&self, flow: FlowKey) -> Vec<&HostEvent> {
        self.events
            .iter()
            .filter(|e| e.flow == Some(flow))
            .map(|e| &e.what)
            .collect()
    }
}

fn key_of(client: &Connection) -> FlowKey {
    FlowKey {
        local: SERVER.into(),
        remote: client.local(),
    }
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

#[test]
fn a_flood_of_spoofed_syns_does_not_keep_a_real_client_out() {
    let mut net = Net::new(server(DEFAULT_BACKLOG, false));
    // 5,000 spoofed SYNs, one every 100 µs for half a second.
    for i in 0..5000u32 {
        let at = Instant::from_micros(u64::from(i) * 100);
        net.send(at, true, syn(spoofed(i), i.wrapping_mul(7919)));
    }
    // A real client, in the middle of it.
    net.run_until(ms(250));
    let c = net.connect(1);
    let started = net.now;
    let mut accepted = None;
    while accepted.is_none() && net.now < ms(260) {
        let t = net.now + Duration::from_micros(50);
        net.run_until(t);
        accepted = net.server.accept(SERVER);
    }
    assert_eq!(accepted, Some(key_of(&net.clients[c])));
    assert_eq!(net.clients[c].state(), State::Established);
    let took = net.now - started;
    assert!(
        took <= Duration::from_millis(1),
        "accepted after {took:?}: one round trip is 200 µs"
    );
    net.run_until(ms(600));
    let stats = net.server.listener_stats(SERVER).unwrap();
    assert_eq!(stats.syns, 5001);
    assert_eq!(stats.established, 1);
    assert!(
        net.peak_half_open <= DEFAULT_BACKLOG,
        "{}",
        net.peak_half_open
    );
    // The accepted one, and at most a backlog of half-open ones.
    assert!(net.peak_flows <= DEFAULT_BACKLOG + 1, "{}", net.peak_flows);
    assert_eq!(stats.evicted, 5000 - DEFAULT_BACKLOG as u64);
    // Every SYN got its SYN-ACK, to nowhere but for the client's.
    assert!(net.syn_acks >= 5001);
}

#[rstest]
#[case::tiny(1, 50)]
#[case::small(16, 1000)]
#[case::default(DEFAULT_BACKLOG, 3000)]
fn the_backlog_bounds_the_half_open_queue(#[case] backlog: usize, #[case] syns: u32) {
    let mut net = Net::new(server(backlog, false));
    // One a microsecond: the server answers each before the next arrives.
    for i in 0..syns {
        net.send(Instant::from_micros(u64::from(i)), true, syn(spoofed(i), i));
    }
    net.run_until(ms(5));
    assert_eq!(net.server.half_open(SERVER), backlog);
    assert_eq!(net.server.flow_count(), backlog);
    assert_eq!(net.peak_half_open, backlog);
    let stats = net.server.listener_stats(SERVER).unwrap();
    assert_eq!(stats.evicted, u64::from(syns) - backlog as u64);
    assert_eq!(net.syn_acks, syns as usize, "each SYN was answered");
    // Half-open connections make no events the application sees.
    assert!(net.events.is_empty(), "{:?}", &net.events[..3]);
}

#[test]
fn half_open_connections_expire_after_their_syn_ack_retries() {
    let mut net = Net::new(server(8, false));
    for i in 0..5u32 {
        net.send(ms(1), true, syn(spoofed(i), i));
    }
    net.run_until(ms(2));
    assert_eq!(net.server.half_open(SERVER), 5);
    // syn_retries 3: SYN-ACKs at 0, 1, 3, 7 s; given up at 15 s.
    net.run_until(ms(14_000));
    assert_eq!(net.server.half_open(SERVER), 5);
    net.run_until(ms(16_000));
    assert_eq!(net.server.half_open(SERVER), 0);
    assert_eq!(net.server.flow_count(), 0);
    assert_eq!(net.syn_acks, 5 * 4);
    let stats = net.server.listener_stats(SERVER).unwrap();
    assert_eq!(stats.expired, 5);
    assert_eq!(net.server.poll_timeout(), None, "no timer left behind");
}

#[test]
fn two_simultaneous_clients_both_complete_their_handshakes() {
    let mut net = Net::new(server(DEFAULT_BACKLOG, false));
    let a = net.connect(1);
    let b = net.connect(2);
    net.run_until(ms(5));
    assert_eq!(net.clients[a].state(), State::Established);
    assert_eq!(net.clients[b].state(), State::Established);
    assert_eq!(net.server.acceptable(SERVER), 2);
    // Nothing was seen of them before they are accepted.
    assert!(net.events.is_empty());
    let first = net.server.accept(SERVER).unwrap();
    let second = net.server.accept(SERVER).unwrap();
    assert_eq!(net.server.accept(SERVER), None);
    assert_eq!(first, key_of(&net.clients[a]));
    assert_eq!(second, key_of(&net.clients[b]));
    net.flush();
    // Each one's handshake, in order, with the times it happened at.
    for flow in [first, second] {
        let evs: Vec<_> = net.events_of(flow);
        let states: Vec<_> = evs
            .iter()
            .filter_map(|e| match e {
                HostEvent::Tcp(TcpEvent::StateChanged { to, .. }) => Some(*to),
                _ => None,
            })
            .collect();
        assert_eq!(states, [State::SynReceived, State::Established]);
        assert!(evs.contains(&&HostEvent::Tcp(TcpEvent::Connected)));
        let times: Vec<_> = net
            .events
            .iter()
            .filter(|e| e.flow == Some(flow))
            .map(|e| e.at)
            .collect();
        assert_eq!(times.first(), Some(&(Instant::ZERO + LATENCY)));
        assert_eq!(times.last(), Some(&(Instant::ZERO + LATENCY * 3)));
    }
    // Both carry data, each on its own flow.
    net.clients[a].send(b"from a").unwrap();
    net.clients[b].send(b"from b").unwrap();
    net.run_until(ms(10));
    for (flow, want) in [(first, b"from a"), (second, b"from b")] {
        let mut buf = [0u8; 16];
        let n = net.server.conn_mut(flow).unwrap().recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], want);
    }
}

/// An Ethernet/IPv4/ICMP "port unreachable" to the server quoting a
/// segment the server sent on `flow`.
fn icmp_quoting(flow: FlowKey) -> Vec<u8> {
    use pnet::packet::icmp::{IcmpPacket, checksum};
    let seg = TcpRepr {
        src_port: flow.local.port(),
        dst_port: flow.remote.port(),
        seq: SeqNum(1),
        ack: Some(SeqNum(1)),
        flags: Flags::NONE,
        window: 1,
        urgent: 0,
        options: vec![],
        payload: &[],
    };
    let v4 = |a: std::net::SocketAddr| match a.ip() {
        std::net::IpAddr::V4(ip) => ip,
        std::net::IpAddr::V6(_) => unreachable!("an IPv4 flow"),
    };
    let ip = Ipv4Repr::new(
        v4(flow.local),
        v4(flow.remote),
        IpProtocol::Tcp,
        seg.buffer_len(),
    );
    let quoted = seg.to_ipv4_packet(&ip);
    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&quoted[..28]);
    let sum = checksum(&IcmpPacket::new(&icmp).unwrap());
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let ip = Ipv4Repr::new(
        v4(flow.remote),
        v4(flow.local),
        IpProtocol::Icmp,
        icmp.len(),
    );
    let mut frame = vec![0u8; 14 + 20 + icmp.len()];
    nettool::wire::ethernet::EthernetRepr {
        src: CLIENT_MAC,
        dst: SERVER_MAC,
        protocol: nettool::wire::ethernet::Protocol::Ipv4,
    }
    .emit(&mut frame);
    ip.emit(&mut frame[14..]);
    frame[34..].copy_from_slice(&icmp);
    frame
}

#[test]
fn an_icmp_error_reaches_the_flow_it_quotes_and_no_other() {
    let mut net = Net::new(server(DEFAULT_BACKLOG, false));
    net.connect(1);
    net.connect(2);
    net.run_until(ms(5));
    let a = net.server.accept(SERVER).unwrap();
    let b = net.server.accept(SERVER).unwrap();
    net.flush();
    net.events.clear();
    let at = net.now;
    net.send(at, true, icmp_quoting(b));
    // And one quoting a flow that does not exist: nobody hears of it.
    let stranger = FlowKey::v4(SERVER, client_addr(99));
    net.send(at, true, icmp_quoting(stranger));
    net.run_until(ms(6));
    let icmp = |f: FlowKey| {
        net.events_of(f)
            .iter()
            .filter(|e| matches!(e, HostEvent::Icmp { .. }))
            .count()
    };
    assert_eq!((icmp(a), icmp(b)), (0, 1));
    assert_eq!(
        net.events
            .iter()
            .filter(|e| matches!(e.what, HostEvent::Icmp { .. }))
            .count(),
        1
    );
}

#[rstest]
#[case::address_not_the_kernels(true, 1)]
#[case::the_kernel_owns_it(false, 0)]
fn a_segment_for_no_flow_and_no_listener(#[case] answer_arp: bool, #[case] rsts: usize) {
    let mut net = Net::new(server(DEFAULT_BACKLOG, answer_arp));
    let other_port = SocketAddrV4::new(*SERVER.ip(), 9999);
    let seg = TcpRepr {
        src_port: 1234,
        dst_port: other_port.port(),
        seq: SeqNum(77),
        ack: None,
        flags: Flags::SYN,
        window: 100,
        urgent: 0,
        options: vec![],
        payload: &[],
    };
    net.send(ms(1), true, frame_to_server(client_addr(1), &seg));
    net.run_until(ms(2));
    assert_eq!(net.rsts, rsts);
    assert_eq!(net.server.flow_count(), 0);
}

#[test]
fn an_ack_for_an_evicted_handshake_is_answered_with_rst() {
    // Backlog 1: the real client's half-open entry is evicted by a spoofed
    // SYN that arrives between its SYN and its ACK.
    let mut net = Net::new(server(1, false));
    let c = net.connect(1);
    net.send(Instant::from_micros(150), true, syn(spoofed(0), 0));
    net.run_until(ms(5));
    assert_eq!(net.server.accept(SERVER), None);
    assert_eq!(net.rsts, 1, "the listener refuses the ACK");
    assert_eq!(net.rst_macs, [CLIENT_MAC], "back the way the ACK came");
    assert_eq!(net.clients[c].state(), State::Closed);
    let stats = net.server.listener_stats(SERVER).unwrap();
    assert_eq!(stats.evicted, 1);
}

#[test]
fn a_waiting_connection_keeps_what_the_application_acts_on() {
    let mut net = Net::new(server(DEFAULT_BACKLOG, false));
    let c = net.connect(1);
    net.run_until(ms(5));
    // Many segments while it waits to be accepted, then the client's FIN.
    for i in 0..100u8 {
        net.clients[c].send(&[i; 100]).unwrap();
        let t = net.now + Duration::from_micros(10);
        net.run_until(t);
    }
    net.clients[c].close(net.now);
    net.run_until(ms(50));
    let stats = net.server.listener_stats(SERVER).unwrap();
    assert!(stats.events_dropped > 0, "the traces were cut short");
    let flow = net.server.accept(SERVER).unwrap();
    net.flush();
    let evs = net.events_of(flow);
    assert!(evs.contains(&&HostEvent::Tcp(TcpEvent::Connected)));
    assert!(evs.contains(&&HostEvent::Tcp(TcpEvent::PeerClosed)));
    assert_eq!(net.server.conn(flow).unwrap().state(), State::CloseWait);
    // And every byte is there to read.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = net.server.conn_mut(flow).unwrap().recv(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got.len(), 100 * 100);
}

#[test]
fn data_becoming_readable_is_an_event_each_time_the_buffer_was_empty() {
    let mut net = Net::new(server(DEFAULT_BACKLOG, false));
    let c = net.connect(1);
    net.run_until(ms(5));
    let flow = net.server.accept(SERVER).unwrap();
    let readable = |net: &Net| {
        net.events_of(flow)
            .iter()
            .filter(|e| matches!(e, HostEvent::Readable))
            .count()
    };
    net.clients[c].send(b"first").unwrap();
    net.run_until(ms(10));
    net.clients[c].send(b"second").unwrap();
    net.run_until(ms(100));
    assert_eq!(readable(&net), 1, "still unread: no new edge");
    let mut buf = [0u8; 64];
    let n = net.server.conn_mut(flow).unwrap().recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"firstsecond");
    net.clients[c].send(b"third").unwrap();
    net.run_until(ms(200));
    assert_eq!(readable(&net), 2);
}

/// A segment from `src` with the given flags, sequence and acknowledgment.
fn segment(src: SocketAddrV4, flags: Flags, seq: u32, ack: Option<u32>) -> Vec<u8> {
    frame_to_server(
        src,
        &TcpRepr {
            src_port: src.port(),
            dst_port: SERVER.port(),
            seq: SeqNum(seq),
            ack: ack.map(SeqNum),
            flags,
            window: 1000,
            urgent: 0,
            options: vec![],
            payload: &[],
        },
    )
}

#[rstest]
#[case(1)]
#[case(2)]
#[case(3)]
#[case(4)]
fn the_bookkeeping_holds_under_a_random_mix(#[case] seed: u64) {
    use nettool::sim::Rng;
    let mut rng = Rng::new(seed);
    let mut net = Net::new(server(8, false));
    let mut accepted: Vec<FlowKey> = Vec::new();
    for step in 0..3000 {
        let at = net.now + Duration::from_micros(rng.below(300));
        match rng.below(10) {
            // Spoofed SYNs from a small pool, so 4-tuples repeat.
            0..=3 => {
                let src = spoofed(rng.below(40) as u32);
                net.send(at, true, syn(src, rng.next_u64() as u32));
            }
            // Stray RSTs and ACKs from the same pool.
            4 => {
                let src = spoofed(rng.below(40) as u32);
                let flags = if rng.chance(0.5) {
                    Flags::RST
                } else {
                    Flags::NONE
                };
                let seq = rng.next_u64() as u32;
                net.send(at, true, segment(src, flags, seq, Some(1_000_001)));
            }
            5 if net.clients.len() < 30 => {
                net.connect(net.clients.len() as u16);
            }
            6 => {
                if let Some(k) = net.server.accept(SERVER) {
                    accepted.push(k);
                }
            }
            7 if !accepted.is_empty() => {
                let k = accepted[rng.below(accepted.len() as u64) as usize];
                let mut buf = [0u8; 512];
                if let Some(c) = net.server.conn_mut(k) {
                    let _ = c.recv(&mut buf);
                    match rng.below(3) {
                        0 => c.close(net.now),
                        1 => {
                            let _ = c.send(b"hello");
                        }
                        _ => {}
                    }
                }
            }
            8 if !net.clients.is_empty() => {
                let i = rng.below(net.clients.len() as u64) as usize;
                let now = net.now;
                let c = &mut net.clients[i];
                if rng.chance(0.3) {
                    c.close(now);
                } else {
                    let _ = c.send(b"data");
                }
            }
            _ => {}
        }
        let until = net.now + Duration::from_millis(rng.below(400));
        net.run_until(until);
        if let Err(e) = net.server.audit() {
            panic!("step {step}: {e}");
        }
        assert!(net.server.half_open(SERVER) <= 8);
    }
    // Everything ends: children expire, accepted flows close or stay ours.
    net.run_until(net.now + Duration::from_secs(600));
    net.server.audit().unwrap();
    assert_eq!(net.server.half_open(SERVER), 0);
    let stats = net.server.listener_stats(SERVER).unwrap();
    println!("{stats:?}, {} accepted, {} RSTs", accepted.len(), net.rsts);
    assert!(stats.evicted > 0 && stats.established > 0 && stats.expired > 0);
}

/// ICMP errors quoting a child come from anyone, as many as they send: a
/// child waiting to be accepted keeps only the latest, and counts the rest
/// as dropped, rather than holding thousands of events.
#[test]
fn an_icmp_flood_on_a_waiting_child_keeps_only_the_latest() {
    let mut net = Net::new(server(DEFAULT_BACKLOG, false));
    let c = net.connect(1);
    net.run_until(ms(5));
    let key = key_of(&net.clients[c]);
    let at = net.now;
    for _ in 0..5000 {
        net.send(at, true, icmp_quoting(key));
    }
    net.run_until(ms(6));
    let stats = net.server.listener_stats(SERVER).unwrap();
    let flow = net.server.accept(SERVER).unwrap();
    net.flush();
    let icmp = net
        .events_of(flow)
        .iter()
        .filter(|e| matches!(e, HostEvent::Icmp { .. }))
        .count();
    assert_eq!(icmp, 1, "ICMP events kept for one unaccepted child");
    assert_eq!(stats.events_dropped, 4999);
}

/// A child's log full of traces (segments without ACK, each dropped by
/// SYN-RECEIVED) still keeps `Connected`, which the application acts on.
#[test]
fn connected_survives_a_full_child_log() {
    let mut net = Net::new(server(DEFAULT_BACKLOG, false));
    // A SYN from client 1's address, by hand, so the handshake can wait.
    let src = client_addr(1);
    net.send(net.now, true, syn(src, 5_000_000));
    net.run_until(ms(1));
    for i in 0..40u32 {
        net.send(
            net.now,
            true,
            segment(src, Flags::NONE, 5_000_001 + i, None),
        );
    }
    net.run_until(ms(2));
    net.send(
        net.now,
        true,
        segment(src, Flags::NONE, 5_000_001, Some(1_000_001)),
    );
    net.run_until(ms(3));
    let stats = net.server.listener_stats(SERVER).unwrap();
    assert!(stats.events_dropped > 0, "the log did not fill: {stats:?}");
    let flow = net.server.accept(SERVER).expect("established");
    net.flush();
    let evs = net.events_of(flow);
    assert!(
        evs.contains(&&HostEvent::Tcp(TcpEvent::Connected)),
        "{evs:#?}"
    );
}

/// The backlog bounds the accept queue: an ACK that would complete a
/// handshake while it is full is dropped and the child stays half-open;
/// once the application accepts, the client's ACK of the retransmitted
/// SYN-ACK completes it.
#[test]
fn the_backlog_bounds_the_accept_queue() {
    let mut net = Net::new(server(4, false));
    for i in 1..=3 {
        net.connect(i);
    }
    net.run_until(ms(5));
    for i in 4..=7 {
        net.connect(i);
    }
    net.run_until(ms(10));
    assert_eq!(net.server.acceptable(SERVER), 4, "backlog 4");
    assert_eq!(net.server.half_open(SERVER), 3);
    let stats = net.server.listener_stats(SERVER).unwrap();
    assert_eq!(stats.acks_dropped, 3, "{stats:?}");
    net.server.audit().unwrap();
    let mut accepted = 0;
    while net.server.accept(SERVER).is_some() {
        accepted += 1;
    }
    assert_eq!(accepted, 4);
    net.run_until(ms(5_000));
    assert_eq!(net.server.acceptable(SERVER), 3, "the rest complete later");
    assert_eq!(net.server.half_open(SERVER), 0);
    net.server.audit().unwrap();
}
