//! The host stack and the scripted sessions of `handshake`/`close`, on the
//! in-memory link with a virtual clock: the peer is nettool's own engine
//! in LISTEN with a small scripted application, so every scenario runs in
//! microseconds and with exact timings.

use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use nettool::driver;
use nettool::link::mem::{MemLink, Responder, VirtualClock};
use nettool::machine::{Machine, RxChecksum};
use nettool::stack::host::{Direction, HostConfig, HostEvent, TcpHost};
use nettool::stack::session::{End, Event, Note, Opening, Plan, Session, ThirdAck};
use nettool::tcp::{self, Connection, Event as TcpEvent, IssSource, Reason, SeqNum, State};
use nettool::time::Instant;
use nettool::wire::MacAddr;
use nettool::wire::arp::{ArpRepr, Operation};
use nettool::wire::tcp::{ChecksumMode, Flags, TcpRepr};
use rstest::rstest;

const US_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const PEER_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const US: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 9, 0, 1), 40000);
const PEER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 9, 0, 2), 80);
const LATENCY: Duration = Duration::from_micros(100);

/// The peer's state changes with their times, shared with the test.
type Timeline = Rc<RefCell<Vec<(Instant, State)>>>;

/// What the peer's application does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum App {
    /// Accept and hold; close when the client closes.
    Hold,
    /// Answer a request with a response, then close first (HTTP/1.0).
    Http,
    /// On the client's FIN, send a last line, then close (data in FIN-WAIT-2).
    TalkAfterFin,
}

/// The peer: nettool's engine in LISTEN, behind a scripted application.
struct Peer {
    conn: Connection,
    app: App,
    responded: bool,
    closed: bool,
    /// The peer's own state changes, with times.
    states: Timeline,
    now: Instant,
}

impl Peer {
    fn new(app: App) -> (Peer, Timeline) {
        let states = Rc::new(RefCell::new(Vec::new()));
        let conn = Connection::listen(
            tcp::Config::default(),
            PEER,
            IssSource::Fixed(SeqNum(7_000_000)),
        );
        let peer = Peer {
            conn,
            app,
            responded: false,
            closed: false,
            states: Rc::clone(&states),
            now: Instant::ZERO,
        };
        (peer, states)
    }

    fn run_app(&mut self) {
        let mut buf = [0u8; 4096];
        loop {
            match self.conn.recv(&mut buf) {
                Ok(0) => break,
                Ok(_) => {
                    if self.app == App::Http && !self.responded {
                        self.responded = true;
                        self.conn.send(b"HTTP/1.0 200 OK\r\n\r\nhello\n").unwrap();
                        self.conn.close(self.now);
                        self.closed = true;
                    }
                }
                Err(_) => {
                    // The client's FIN: nothing more will come.
                    if !self.closed {
                        if self.app == App::TalkAfterFin {
                            let _ = self.conn.send(b"one more line\n");
                        }
                        self.conn.close(self.now);
                        self.closed = true;
                    }
                    break;
                }
            }
        }
    }

    fn output(&mut self) -> Vec<(Duration, Vec<u8>)> {
        while let Some(ev) = self.conn.poll_event() {
            if let TcpEvent::StateChanged { to, .. } = ev {
                self.states.borrow_mut().push((self.now, to));
            }
        }
        std::iter::from_fn(|| self.conn.poll_transmit(self.now))
            .map(|seg| (LATENCY, seg.to_frame(PEER_MAC, US_MAC)))
            .collect()
    }
}

impl Responder for Peer {
    fn on_frame(&mut self, now: Instant, frame: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        self.now = now;
        if let Ok((_, ip, tcp)) = TcpRepr::from_frame(frame, ChecksumMode::Verify) {
            self.conn.handle_segment_from(now, ip.src, &tcp);
            self.run_app();
        }
        self.output()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.conn.poll_timeout()
    }

    fn on_time(&mut self, now: Instant) -> Vec<(Duration, Vec<u8>)> {
        self.now = now;
        self.conn.handle_timeout(now);
        self.run_app();
        self.output()
    }
}

/// A peer port nobody listens on: answers every SYN with RST (§3.5.2).
struct ClosedPort;

impl Responder for ClosedPort {
    fn on_frame(&mut self, _now: Instant, frame: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        let Ok((_, ip, tcp)) = TcpRepr::from_frame(frame, ChecksumMode::Verify) else {
            return Vec::new();
        };
        tcp::rst_for(ip.src, ip.dst, &tcp)
            .map(|rst| vec![(LATENCY, rst.to_frame(PEER_MAC, US_MAC))])
            .unwrap_or_default()
    }
}

fn config(msl: Duration, syn_retries: u32) -> tcp::Config {
    tcp::Config {
        msl,
        syn_retries,
        ..tcp::Config::default()
    }
}

fn session(plan: Plan, cfg: tcp::Config) -> Session {
    let conn = Connection::connect(Instant::ZERO, cfg, US, PEER, SeqNum(4_000_000_000));
    let host = TcpHost::new(
        HostConfig {
            mac: US_MAC,
            next_hop_mac: Some(PEER_MAC),
            answer_arp: false,
            trace: true,
        },
        conn,
    );
    Session::new(host, plan)
}

fn plan(third_ack: ThirdAck, end: End, payload: Option<&[u8]>) -> Plan {
    Plan {
        third_ack,
        payload: payload.map(<[u8]>::to_vec),
        end,
        linger: Duration::from_millis(100),
    }
}

/// Runs a session to its end on the in-memory link; returns the timed events.
fn run(
    mut s: Session,
    link: &mut MemLink,
    clock: &VirtualClock,
) -> (Session, Vec<(Instant, Event)>) {
    let mut events = Vec::new();
    driver::run(
        &mut s,
        link,
        &mut clock.clone(),
        &AtomicBool::new(false),
        |t, e| {
            events.push((t, e));
            Ok(())
        },
    )
    .unwrap();
    (s, events)
}

fn states(events: &[(Instant, Event)]) -> Vec<State> {
    let mut v = vec![State::Closed];
    for (_, e) in events {
        if let Event::Host(HostEvent::Tcp(TcpEvent::StateChanged { to, .. })) = e {
            v.push(*to);
        }
    }
    v
}

fn segments_in(events: &[(Instant, Event)]) -> Vec<(Instant, Flags, bool)> {
    events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::Host(HostEvent::Segment {
                dir: Direction::In,
                seg,
            }) => Some((*t, seg.flags, seg.ack.is_some())),
            _ => None,
        })
        .collect()
}

#[test]
fn handshake_then_reset() {
    let clock = VirtualClock::default();
    let (peer, peer_states) = Peer::new(App::Hold);
    let mut link = MemLink::new(clock.clone()).with(peer);
    let s = session(
        plan(ThirdAck::Send, End::Reset, None),
        config(Duration::from_secs(1), 3),
    );
    let (s, events) = run(s, &mut link, &clock);
    assert_eq!(s.opening(), Opening::Open);
    assert_eq!(s.closed(), Some(Reason::Aborted));
    assert_eq!(
        states(&events),
        vec![
            State::Closed,
            State::SynSent,
            State::Established,
            State::Closed
        ]
    );
    // The peer reached ESTABLISHED, then our RST closed it.
    let peer: Vec<State> = peer_states.borrow().iter().map(|(_, s)| *s).collect();
    assert_eq!(
        peer,
        vec![
            State::Listen,
            State::SynReceived,
            State::Established,
            State::Closed
        ],
        "{peer:?}"
    );
    // RST after the linger time (100 ms) once the SYN-ACK arrived (the
    // in-memory link delivers our frames at once, the peer's after LATENCY).
    let rst_at = link.sent.last().unwrap().0;
    assert_eq!(rst_at, Instant::ZERO + LATENCY + Duration::from_millis(100));
}

#[test]
fn a_closed_port_is_refused() {
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone()).with(ClosedPort);
    let s = session(
        plan(ThirdAck::Send, End::Reset, None),
        config(Duration::from_secs(1), 3),
    );
    let (s, events) = run(s, &mut link, &clock);
    assert_eq!(s.opening(), Opening::Refused);
    assert_eq!(s.closed(), Some(Reason::Reset));
    assert!(
        segments_in(&events)
            .iter()
            .any(|(_, f, ack)| f.contains(Flags::RST) && *ack)
    );
}

#[rstest]
#[case::one_retry(1, &[0, 1], 3)]
#[case::two_retries(2, &[0, 1, 3], 7)]
#[case::three_retries(3, &[0, 1, 3, 7], 15)]
fn silence_means_no_answer_after_exact_backoff(
    #[case] retries: u32,
    #[case] syn_at: &[u64],
    #[case] give_up: u64,
) {
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone());
    let s = session(
        plan(ThirdAck::Send, End::Reset, None),
        config(Duration::from_secs(1), retries),
    );
    let (s, _) = run(s, &mut link, &clock);
    assert_eq!(s.opening(), Opening::NoAnswer);
    let times: Vec<u64> = link
        .sent
        .iter()
        .map(|(t, _)| t.total_micros() / 1_000_000)
        .collect();
    assert_eq!(times, syn_at);
    assert_eq!(clock.get(), Instant::from_millis(give_up * 1000));
}

#[test]
fn a_withheld_third_ack_makes_the_peer_retransmit_its_syn_ack() {
    let clock = VirtualClock::default();
    let (peer, peer_states) = Peer::new(App::Hold);
    let mut link = MemLink::new(clock.clone()).with(peer);
    let observe = Duration::from_millis(3500);
    let s = session(
        plan(ThirdAck::Withhold { observe }, End::Reset, None),
        config(Duration::from_secs(1), 3),
    );
    let (s, events) = run(s, &mut link, &clock);
    assert_eq!(s.opening(), Opening::Open);
    let synacks: Vec<Instant> = segments_in(&events)
        .into_iter()
        .filter(|(_, f, ack)| f.contains(Flags::SYN) && *ack)
        .map(|(t, _, _)| t)
        .collect();
    // The first, then the peer's RTO doubling: 1 s, then 2 s later.
    let rel: Vec<u64> = synacks
        .iter()
        .map(|t| (*t - synacks[0]).as_millis() as u64)
        .collect();
    assert_eq!(rel, vec![0, 1000, 3000], "{synacks:?}");
    // Nothing but the SYN and the final RST left: every ACK was held.
    let sent: Vec<Flags> = link
        .sent
        .iter()
        .map(|(_, f)| {
            TcpRepr::from_frame(f, ChecksumMode::Verify)
                .unwrap()
                .2
                .flags
        })
        .collect();
    assert_eq!(sent, vec![Flags::SYN, Flags::RST]);
    let held = events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Host(HostEvent::Withheld { .. })))
        .count();
    assert_eq!(held, 3);
    // The peer never left SYN-RECEIVED until our RST.
    let peer: Vec<State> = peer_states.borrow().iter().map(|(_, s)| *s).collect();
    assert_eq!(
        peer,
        vec![State::Listen, State::SynReceived, State::Listen],
        "{peer:?}"
    );
}

#[test]
fn a_late_third_ack_completes_the_handshake_late() {
    let clock = VirtualClock::default();
    let (peer, peer_states) = Peer::new(App::Hold);
    let mut link = MemLink::new(clock.clone()).with(peer);
    let delay = Duration::from_millis(700);
    let s = session(
        plan(ThirdAck::Late { delay }, End::Close, None),
        config(Duration::from_millis(50), 3),
    );
    let (s, events) = run(s, &mut link, &clock);
    assert_eq!(s.closed(), Some(Reason::Normal));
    assert!(
        events
            .iter()
            .any(|(_, e)| matches!(e, Event::Note(Note::AckReleased)))
    );
    let established = peer_states
        .borrow()
        .iter()
        .find(|(_, s)| *s == State::Established)
        .map(|(t, _)| *t)
        .expect("the peer must reach ESTABLISHED");
    // The SYN-ACK arrives after LATENCY; our ACK leaves `delay` later and
    // reaches the peer at once (the in-memory link's outbound direction).
    assert_eq!(established, Instant::ZERO + LATENCY + delay);
}

#[test]
fn active_close_goes_through_time_wait_for_exactly_two_msl() {
    let clock = VirtualClock::default();
    let (peer, _) = Peer::new(App::Hold);
    let mut link = MemLink::new(clock.clone()).with(peer);
    let msl = Duration::from_millis(250);
    let s = session(plan(ThirdAck::Send, End::Close, None), config(msl, 3));
    let (s, events) = run(s, &mut link, &clock);
    assert_eq!(s.closed(), Some(Reason::Normal));
    let st = states(&events);
    assert_eq!(
        st,
        vec![
            State::Closed,
            State::SynSent,
            State::Established,
            State::FinWait1,
            State::FinWait2,
            State::TimeWait,
            State::Closed
        ]
    );
    let at = |state: State| {
        events
            .iter()
            .find_map(|(t, e)| match e {
                Event::Host(HostEvent::Tcp(TcpEvent::StateChanged { to, .. })) if *to == state => {
                    Some(*t)
                }
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(at(State::Closed) - at(State::TimeWait), 2 * msl);
}

#[test]
fn passive_close_after_the_server_answers_and_closes() {
    let clock = VirtualClock::default();
    let (peer, _) = Peer::new(App::Http);
    let mut link = MemLink::new(clock.clone()).with(peer);
    let s = session(
        plan(
            ThirdAck::Send,
            End::PassiveClose,
            Some(b"GET / HTTP/1.0\r\n\r\n"),
        ),
        config(Duration::from_secs(1), 3),
    );
    let (s, events) = run(s, &mut link, &clock);
    assert_eq!(s.closed(), Some(Reason::Normal));
    assert_eq!(
        states(&events),
        vec![
            State::Closed,
            State::SynSent,
            State::Established,
            State::CloseWait,
            State::LastAck,
            State::Closed
        ]
    );
    let data: Vec<u8> = events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Note(Note::Data(d)) => Some(d.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(data, b"HTTP/1.0 200 OK\r\n\r\nhello\n");
}

#[test]
fn half_close_receives_data_in_fin_wait_2() {
    let clock = VirtualClock::default();
    let (peer, _) = Peer::new(App::TalkAfterFin);
    let mut link = MemLink::new(clock.clone()).with(peer);
    let s = session(
        plan(ThirdAck::Send, End::HalfClose, Some(b"bye\n")),
        config(Duration::from_millis(100), 3),
    );
    let (s, events) = run(s, &mut link, &clock);
    assert_eq!(s.closed(), Some(Reason::Normal));
    let mut state = State::Closed;
    let mut data_state = None;
    for (_, e) in &events {
        match e {
            Event::Host(HostEvent::Tcp(TcpEvent::StateChanged { to, .. })) => state = *to,
            Event::Note(Note::Data(d)) if d == b"one more line\n" => data_state = Some(state),
            _ => {}
        }
    }
    // The peer's data and FIN arrive together: processed in FIN-WAIT-2
    // (our FIN already acknowledged), before the FIN moves us on.
    assert!(
        matches!(data_state, Some(State::FinWait2 | State::TimeWait)),
        "data arrived in {data_state:?}"
    );
    assert!(states(&events).contains(&State::FinWait2));
}

#[test]
fn an_icmp_unreachable_ends_the_opening() {
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone());
    // A router's "host unreachable" quoting our SYN, 5 ms after it left.
    let syn = TcpRepr {
        src_port: US.port(),
        dst_port: PEER.port(),
        seq: SeqNum(4_000_000_000),
        ack: None,
        flags: Flags::SYN,
        window: 65535,
        urgent: 0,
        options: vec![],
        payload: &[],
    };
    let ip = nettool::wire::ipv4::Ipv4Repr::new(
        *US.ip(),
        *PEER.ip(),
        nettool::wire::ipv4::IpProtocol::Tcp,
        syn.buffer_len(),
    );
    let quoted = syn.to_ipv4_packet(&ip);
    let router = Ipv4Addr::new(10, 9, 0, 254);
    link.inject(
        Instant::from_millis(5),
        icmp_frame(router, *US.ip(), 3, 1, &quoted[..28]),
    );
    let s = session(
        plan(ThirdAck::Send, End::Reset, None),
        config(Duration::from_secs(1), 3),
    );
    let (s, _) = run(s, &mut link, &clock);
    assert!(
        matches!(s.opening(), Opening::Unreachable { from, .. } if from == router),
        "{:?}",
        s.opening()
    );
    assert_eq!(
        link.sent.len(),
        1,
        "nothing after the SYN: the opening was answered"
    );
}

/// An Ethernet/IPv4/ICMP frame from `src` to `dst` quoting `quoted`.
fn icmp_frame(src: Ipv4Addr, dst: Ipv4Addr, t: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    use pnet::packet::icmp::{IcmpPacket, checksum};
    let mut icmp = vec![t, code, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(quoted);
    let sum = checksum(&IcmpPacket::new(&icmp).unwrap());
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let ip = nettool::wire::ipv4::Ipv4Repr::new(
        src,
        dst,
        nettool::wire::ipv4::IpProtocol::Icmp,
        icmp.len(),
    );
    let mut frame = vec![0u8; 14 + 20 + icmp.len()];
    nettool::wire::ethernet::EthernetRepr {
        src: PEER_MAC,
        dst: US_MAC,
        protocol: nettool::wire::ethernet::Protocol::Ipv4,
    }
    .emit(&mut frame);
    ip.emit(&mut frame[14..]);
    frame[34..].copy_from_slice(&icmp);
    frame
}

fn host(answer_arp: bool) -> TcpHost {
    let conn = Connection::connect(Instant::ZERO, tcp::Config::default(), US, PEER, SeqNum(1));
    TcpHost::new(
        HostConfig {
            mac: US_MAC,
            next_hop_mac: Some(PEER_MAC),
            answer_arp,
            trace: true,
        },
        conn,
    )
}

#[rstest]
#[case::kernel_does_not_own_the_address(true, 1)]
#[case::kernel_owns_it(false, 0)]
fn arp_for_our_address_is_answered_only_when_asked_to(
    #[case] answer: bool,
    #[case] replies: usize,
) {
    let mut h = host(answer);
    let _syn = h.poll_transmit(Instant::ZERO);
    let who_has =
        ArpRepr::request(PEER_MAC, *PEER.ip(), *US.ip()).to_frame(PEER_MAC, MacAddr::broadcast());
    h.handle_frame(Instant::ZERO, &who_has, RxChecksum::Unknown);
    let out: Vec<Vec<u8>> = std::iter::from_fn(|| h.poll_transmit(Instant::ZERO)).collect();
    assert_eq!(out.len(), replies);
    if let Some(f) = out.first() {
        let (eth, arp) = ArpRepr::from_frame(f).unwrap();
        assert_eq!(eth.dst, PEER_MAC);
        assert_eq!(
            (arp.operation, arp.sender_mac, arp.sender_ip),
            (Operation::Reply, US_MAC, *US.ip())
        );
    }
}

#[rstest]
#[case::unknown_status_is_verified(RxChecksum::Unknown, false)]
#[case::partial_is_vouched_for(RxChecksum::Partial, true)]
#[case::valid_is_vouched_for(RxChecksum::Valid, true)]
fn a_bad_tcp_checksum_passes_only_when_the_kernel_vouches(
    #[case] status: RxChecksum,
    #[case] accepted: bool,
) {
    let mut h = host(false);
    let syn = h.poll_transmit(Instant::ZERO).unwrap();
    let syn_seq = TcpRepr::from_frame(&syn, ChecksumMode::Verify)
        .unwrap()
        .2
        .seq;
    let synack = TcpRepr {
        src_port: PEER.port(),
        dst_port: US.port(),
        seq: SeqNum(99),
        ack: Some(syn_seq + 1u32),
        flags: Flags::SYN,
        window: 65535,
        urgent: 0,
        options: vec![],
        payload: &[],
    };
    let ip = nettool::wire::ipv4::Ipv4Repr::new(
        *PEER.ip(),
        *US.ip(),
        nettool::wire::ipv4::IpProtocol::Tcp,
        synack.buffer_len(),
    );
    let mut frame = synack.to_frame(PEER_MAC, US_MAC, &ip);
    // What a veth peer's kernel sends: only the pseudo-header sum (here, any wrong value).
    frame[14 + 20 + 16] ^= 0x5a;
    h.handle_frame(Instant::ZERO, &frame, status);
    let events: Vec<HostEvent> = std::iter::from_fn(|| h.poll_event()).collect();
    let malformed = events
        .iter()
        .any(|e| matches!(e, HostEvent::Malformed { .. }));
    assert_eq!(
        h.conn().state() == State::Established,
        accepted,
        "{events:?}"
    );
    assert_eq!(malformed, !accepted);
}

#[test]
fn the_timestamp_clock_starts_at_the_configured_offset() {
    let cfg = tcp::Config {
        ts_offset: 0xdead_0000,
        ..tcp::Config::default()
    };
    let mut conn = Connection::connect(Instant::from_millis(5), cfg, US, PEER, SeqNum(1));
    let syn = conn.poll_transmit(Instant::from_millis(5)).unwrap();
    let ts = syn
        .as_repr()
        .timestamps()
        .expect("the SYN offers timestamps");
    // The millisecond clock (5 ms) plus the offset, wrapping at 2^32.
    assert_eq!(ts.0, 0xdead_0000u32.wrapping_add(5));
}

/// An established host whose peer's window has room, after `data` was
/// handed to the engine (and `fin` asked for).
fn established_host_with(data: &[u8], fin: bool) -> TcpHost {
    let mut h = host(false);
    let t = Instant::ZERO;
    let syn = h.poll_transmit(t).unwrap();
    let syn_seq = TcpRepr::from_frame(&syn, ChecksumMode::Verify)
        .unwrap()
        .2
        .seq;
    let synack = TcpRepr {
        src_port: PEER.port(),
        dst_port: US.port(),
        seq: SeqNum(99),
        ack: Some(syn_seq + 1u32),
        flags: Flags::SYN,
        window: 65535,
        urgent: 0,
        options: vec![nettool::wire::tcp::TcpOption::Mss(1000)],
        payload: &[],
    };
    let ip = nettool::wire::ipv4::Ipv4Repr::new(
        *PEER.ip(),
        *US.ip(),
        nettool::wire::ipv4::IpProtocol::Tcp,
        synack.buffer_len(),
    );
    h.handle_frame(
        t,
        &synack.to_frame(PEER_MAC, US_MAC, &ip),
        RxChecksum::Unknown,
    );
    let _ack = h.poll_transmit(t);
    assert_eq!(h.conn().state(), State::Established);
    h.conn_mut().send(data).unwrap();
    if fin {
        h.conn_mut().close(t);
    }
    h
}

#[rstest]
#[case::data_only(false)]
#[case::data_then_fin(true)]
fn full_sized_segments_leave_as_one_super_frame(#[case] fin: bool) {
    // Less than any initial congestion window (RFC 6928: 10 segments), so
    // the engine may send all of it at once.
    let data: Vec<u8> = (0..5_500u32).map(|i| (i % 251) as u8).collect();
    let mut h = established_host_with(&data, fin);
    let (frame, mss) = h
        .poll_transmit_coalesced(Instant::ZERO, 65_000)
        .expect("data to send");
    // The peer's MSS (1000) is the size the kernel will cut it into.
    assert_eq!(mss, Some(1000));
    let (_, ip, tcp) = TcpRepr::from_frame(&frame, ChecksumMode::Skip).unwrap();
    assert!(
        tcp.payload == &data[..],
        "all {} bytes, in order, in one frame (got {})",
        data.len(),
        tcp.payload.len()
    );
    assert_eq!(tcp.flags.contains(Flags::FIN), fin);
    // Only the pseudo-header sum: the kernel finishes each segment's checksum.
    let field = u16::from_be_bytes([frame[14 + 20 + 16], frame[14 + 20 + 17]]);
    let tcp_len = tcp.buffer_len();
    assert_eq!(
        field,
        nettool::wire::tcp::pseudo_header_sum(ip.src, ip.dst, tcp_len)
    );
    // Accounted as the six segments the wire will carry.
    assert_eq!(
        h.stats().segments_sent,
        2 + 6,
        "SYN, ACK, then 6 data segments"
    );
    assert_eq!(h.stats().bytes_sent, data.len() as u64);
    assert!(h.poll_transmit_coalesced(Instant::ZERO, 65_000).is_none());
}

#[test]
fn a_super_frame_stops_at_its_size_and_the_rest_follows() {
    let data = vec![7u8; 8_000];
    let mut h = established_host_with(&data, false);
    let (first, mss) = h.poll_transmit_coalesced(Instant::ZERO, 4_000).unwrap();
    assert_eq!(mss, Some(1000));
    let first_len = TcpRepr::from_frame(&first, ChecksumMode::Skip)
        .unwrap()
        .2
        .payload
        .len();
    assert_eq!(first_len, 4_000);
    let mut rest = 0;
    while let Some((frame, _)) = h.poll_transmit_coalesced(Instant::ZERO, 4_000) {
        rest += TcpRepr::from_frame(&frame, ChecksumMode::Skip)
            .unwrap()
            .2
            .payload
            .len();
    }
    assert_eq!(
        first_len + rest,
        data.len(),
        "nothing lost between super-frames"
    );
}
