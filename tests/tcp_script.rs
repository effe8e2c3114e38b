//! Scripted engine tests: one connection, segments handed in by hand at
//! explicit times, every output segment checked as a tcpdump-style line
//! (absolute numbers). Per-state constructors reach each state through the
//! public API only, so they exercise the transitions they rely on.
#![allow(non_snake_case)] // names read `state__event_outcome`

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use nettool::tcp::{
    Config, CongestionControl, Connection, DropReason, Event, IssSource, Reason, RecvError,
    SendError, SeqNum, State, rst_for,
};
use nettool::time::Instant;
use nettool::wire::fmt::tcp_line_absolute;
use nettool::wire::tcp::{Flags, TcpOption, TcpRepr};
use rstest::rstest;

const LOCAL_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const REMOTE_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const LOCAL: SocketAddrV4 = SocketAddrV4::new(LOCAL_IP, 40000);
const REMOTE: SocketAddrV4 = SocketAddrV4::new(REMOTE_IP, 80);
const LOCAL_ISS: u32 = 1000;
const REMOTE_ISS: u32 = 5000;

/// No options beyond MSS, a 65535-byte receive buffer: lines stay short.
/// Every segment is acknowledged at once (delayed ACKs have their own
/// tests, which turn them on).
fn config() -> Config {
    Config {
        window_scale: None,
        sack_permitted: false,
        timestamps: false,
        recv_buffer: 65535,
        delayed_ack: None,
        ..Config::default()
    }
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// A segment from the peer, acknowledging our SYN, carrying nothing.
fn from_peer() -> TcpRepr<'static> {
    TcpRepr {
        src_port: REMOTE.port(),
        dst_port: LOCAL.port(),
        seq: SeqNum(REMOTE_ISS + 1),
        ack: Some(SeqNum(LOCAL_ISS + 1)),
        flags: Flags::NONE,
        window: 64240,
        urgent: 0,
        options: vec![],
        payload: &[],
    }
}

fn seg(seq: u32, ack: Option<u32>, flags: Flags, payload: &'static [u8]) -> TcpRepr<'static> {
    TcpRepr {
        seq: SeqNum(seq),
        ack: ack.map(SeqNum),
        flags,
        payload,
        ..from_peer()
    }
}

/// The line of a segment the connection sent, without the address prefix.
fn line(s: &nettool::tcp::Segment) -> String {
    let full = tcp_line_absolute(s.src.ip(), s.dst.ip(), &s.as_repr());
    full.split_once(": ")
        .map(|(_, rest)| rest.to_owned())
        .unwrap()
}

#[track_caller]
fn deliver(c: &mut Connection, ms: u64, s: TcpRepr<'_>) {
    c.handle_segment(at(ms), &s);
}

/// Fires timers due at `ms`, then checks everything sent is exactly `want`.
#[track_caller]
fn expect_out(c: &mut Connection, ms: u64, want: &[&str]) {
    if c.poll_timeout().is_some_and(|t| t <= at(ms)) {
        c.handle_timeout(at(ms));
    }
    let mut got = Vec::new();
    while let Some(s) = c.poll_transmit(at(ms)) {
        assert_eq!(s.src, c.local(), "source of {s:?}");
        got.push(line(&s));
        assert!(got.len() < 100, "poll_transmit never ends");
    }
    assert_eq!(got, want);
}

#[track_caller]
fn expect_nothing(c: &mut Connection, ms: u64) {
    expect_out(c, ms, &[]);
}

fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn drops(c: &mut Connection) -> Vec<DropReason> {
    events(c)
        .into_iter()
        .filter_map(|e| match e {
            Event::SegmentDropped { reason } => Some(reason),
            _ => None,
        })
        .collect()
}

// ----- per-state constructors -----

fn conn_syn_sent() -> Connection {
    let mut c = Connection::connect(at(0), config(), LOCAL, REMOTE, SeqNum(LOCAL_ISS));
    expect_out(
        &mut c,
        0,
        &["Flags [S], seq 1000, win 65535, options [mss 1460], length 0"],
    );
    events(&mut c);
    c
}

fn conn_established() -> Connection {
    let mut c = conn_syn_sent();
    deliver(
        &mut c,
        10,
        seg(REMOTE_ISS, Some(LOCAL_ISS + 1), Flags::SYN, b""),
    );
    expect_out(&mut c, 10, &["Flags [.], ack 5001, win 65535, length 0"]);
    assert_eq!(c.state(), State::Established);
    events(&mut c);
    c
}

/// An established connection with Reno congestion avoidance, for the
/// tests that check NewReno's exact numbers.
fn reno_established() -> Connection {
    established_with(
        Config {
            cc: CongestionControl::Reno,
            ..config()
        },
        Vec::new(),
    )
}

fn conn_listen() -> Connection {
    Connection::listen(config(), LOCAL, IssSource::Fixed(SeqNum(LOCAL_ISS)))
}

fn conn_syn_received() -> Connection {
    let mut c = conn_listen();
    c.handle_segment_from(at(0), REMOTE_IP, &seg(REMOTE_ISS, None, Flags::SYN, b""));
    expect_out(
        &mut c,
        0,
        &["Flags [S.], seq 1000, ack 5001, win 65535, options [mss 1460], length 0"],
    );
    assert_eq!(c.state(), State::SynReceived);
    events(&mut c);
    c
}

fn conn_fin_wait_1() -> Connection {
    let mut c = conn_established();
    c.close(at(20));
    expect_out(
        &mut c,
        20,
        &["Flags [F.], seq 1001, ack 5001, win 65535, length 0"],
    );
    assert_eq!(c.state(), State::FinWait1);
    events(&mut c);
    c
}

fn conn_fin_wait_2() -> Connection {
    let mut c = conn_fin_wait_1();
    deliver(
        &mut c,
        30,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 2), Flags::NONE, b""),
    );
    expect_nothing(&mut c, 30);
    assert_eq!(c.state(), State::FinWait2);
    events(&mut c);
    c
}

fn conn_close_wait() -> Connection {
    let mut c = conn_established();
    deliver(
        &mut c,
        20,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1), Flags::FIN, b""),
    );
    expect_out(&mut c, 20, &["Flags [.], ack 5002, win 65535, length 0"]);
    assert_eq!(c.state(), State::CloseWait);
    events(&mut c);
    c
}

fn conn_last_ack() -> Connection {
    let mut c = conn_close_wait();
    c.close(at(30));
    expect_out(
        &mut c,
        30,
        &["Flags [F.], seq 1001, ack 5002, win 65535, length 0"],
    );
    assert_eq!(c.state(), State::LastAck);
    events(&mut c);
    c
}

fn conn_closing() -> Connection {
    let mut c = conn_fin_wait_1();
    deliver(
        &mut c,
        30,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1), Flags::FIN, b""),
    );
    expect_out(&mut c, 30, &["Flags [.], ack 5002, win 65535, length 0"]);
    assert_eq!(c.state(), State::Closing);
    events(&mut c);
    c
}

/// TIME-WAIT entered at 40 ms.
fn conn_time_wait() -> Connection {
    let mut c = conn_fin_wait_2();
    deliver(
        &mut c,
        40,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 2), Flags::FIN, b""),
    );
    expect_out(&mut c, 40, &["Flags [.], ack 5002, win 65535, length 0"]);
    assert_eq!(c.state(), State::TimeWait);
    events(&mut c);
    c
}

// ----- OPEN -----

#[test]
fn closed__connect_offers_linux_style_options() {
    let mut c = Connection::connect(at(0), Config::default(), LOCAL, REMOTE, SeqNum(1));
    expect_out(
        &mut c,
        0,
        &[
            "Flags [S], seq 1, win 65535, options [mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 7], length 0",
        ],
    );
    assert_eq!(
        events(&mut c),
        [Event::StateChanged {
            from: State::Closed,
            to: State::SynSent
        }]
    );
}

#[test]
fn syn_sent__syn_ack_goes_to_established() {
    let mut c = conn_syn_sent();
    deliver(
        &mut c,
        10,
        seg(REMOTE_ISS, Some(LOCAL_ISS + 1), Flags::SYN, b""),
    );
    assert_eq!(
        events(&mut c),
        [
            Event::StateChanged {
                from: State::SynSent,
                to: State::Established
            },
            Event::Connected
        ]
    );
    expect_out(&mut c, 10, &["Flags [.], ack 5001, win 65535, length 0"]);
    let tcb = c.tcb();
    assert_eq!((tcb.snd.una, tcb.snd.nxt), (SeqNum(1001), SeqNum(1001)));
    assert_eq!((tcb.rcv.irs, tcb.rcv.nxt), (SeqNum(5000), SeqNum(5001)));
    assert_eq!(tcb.snd.wnd, 64240);
    // No MSS option from the peer: the RFC 9293 default of 536.
    assert_eq!(tcb.eff_snd_mss, 536);
    // The SYN was answered in 10 ms: RTO = 10 + 4*5 ms, clamped to 200 ms.
    assert_eq!(c.rto(), Duration::from_millis(200));
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn syn_sent__negotiates_window_scale_timestamps_and_mss() {
    let mut c = Connection::connect(at(0), Config::default(), LOCAL, REMOTE, SeqNum(LOCAL_ISS));
    let _ = c.poll_transmit(at(0));
    let syn_ack = TcpRepr {
        window: 65160,
        options: vec![
            TcpOption::Mss(1400),
            TcpOption::SackPermitted,
            TcpOption::Timestamps { val: 777, ecr: 0 },
            TcpOption::Nop,
            TcpOption::WindowScale(9),
        ],
        ..seg(REMOTE_ISS, Some(LOCAL_ISS + 1), Flags::SYN, b"")
    };
    deliver(&mut c, 5, syn_ack);
    let tcb = *c.tcb();
    assert_eq!((tcb.snd.wscale, tcb.rcv.wscale), (9, 7));
    assert_eq!(tcb.snd.wnd, 65160, "a SYN's window is never scaled");
    // min(1400+20, 1480) - 20 - 12 (timestamps)
    assert_eq!(tcb.eff_snd_mss, 1388);
    expect_out(
        &mut c,
        5,
        // The default 4 MiB receive buffer, shifted by 7.
        &["Flags [.], ack 5001, win 32768, options [nop,nop,TS val 5 ecr 777], length 0"],
    );
    // Later windows are scaled by the peer's shift.
    deliver(
        &mut c,
        6,
        TcpRepr {
            window: 100,
            ..from_peer()
        },
    );
    assert_eq!(c.tcb().snd.wnd, 100 << 9);
}

/// Under IPv6's 40-byte header the MTU leaves 20 bytes less for TCP:
/// the MSS offered and Eff.snd.MSS both shrink by them, and nothing else
/// changes.
#[rstest]
#[case::ipv4("10.0.0.1", "10.0.0.2", 1460, 1448)]
#[case::ipv6("fd00:6e74::1", "fd00:6e74::2", 1440, 1428)]
fn syn_sent__the_ip_header_length_bounds_the_mss(
    #[case] local: &str,
    #[case] remote: &str,
    #[case] offered: u16,
    #[case] eff: usize,
) {
    let config = Config {
        mss: 9000,
        ..Config::default()
    };
    let ip = |a: &str| a.parse::<std::net::IpAddr>().unwrap();
    let (local, remote) = (
        std::net::SocketAddr::new(ip(local), LOCAL.port()),
        std::net::SocketAddr::new(ip(remote), REMOTE.port()),
    );
    let mut c = Connection::connect(at(0), config, local, remote, SeqNum(LOCAL_ISS));
    let syn = c.poll_transmit(at(0)).unwrap();
    assert_eq!(syn.as_repr().mss(), Some(offered));
    let syn_ack = TcpRepr {
        options: vec![
            TcpOption::Mss(8960),
            TcpOption::Timestamps { val: 1, ecr: 0 },
        ],
        ..seg(REMOTE_ISS, Some(LOCAL_ISS + 1), Flags::SYN, b"")
    };
    deliver(&mut c, 5, syn_ack);
    // MTU - IP header - 20 (TCP) - 12 (timestamps).
    assert_eq!(c.tcb().eff_snd_mss, eff);
}

#[test]
fn syn_sent__rst_with_acceptable_ack_is_connection_refused() {
    let mut c = conn_syn_sent();
    deliver(&mut c, 10, seg(0, Some(LOCAL_ISS + 1), Flags::RST, b""));
    assert_eq!(c.state(), State::Closed);
    assert!(events(&mut c).contains(&Event::Closed(Reason::Reset)));
    expect_nothing(&mut c, 10);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn syn_sent__rst_without_ack_is_ignored() {
    let mut c = conn_syn_sent();
    deliver(&mut c, 10, seg(0, None, Flags::RST, b""));
    assert_eq!(c.state(), State::SynSent);
    assert_eq!(drops(&mut c), [DropReason::Unexpected]);
}

#[rstest]
#[case::acks_iss(LOCAL_ISS)]
#[case::acks_unsent(LOCAL_ISS + 2)]
#[case::far_off(LOCAL_ISS.wrapping_sub(100_000))]
fn syn_sent__bad_ack_gets_rst(#[case] ack: u32) {
    let mut c = conn_syn_sent();
    deliver(&mut c, 10, seg(REMOTE_ISS, Some(ack), Flags::SYN, b""));
    assert_eq!(c.state(), State::SynSent);
    expect_out(
        &mut c,
        10,
        &[&format!("Flags [R], seq {ack}, win 0, length 0")],
    );
    assert_eq!(drops(&mut c), [DropReason::BadAck]);
}

#[test]
fn syn_sent__bad_ack_on_rst_is_dropped_silently() {
    let mut c = conn_syn_sent();
    deliver(&mut c, 10, seg(0, Some(LOCAL_ISS + 7), Flags::RST, b""));
    assert_eq!(c.state(), State::SynSent);
    expect_nothing(&mut c, 10);
}

#[test]
fn syn_sent__syn_is_retransmitted_at_1_3_7_15_31_63_s_then_times_out() {
    // RTO doubles from 1 s; the seventh wait is capped by the 60 s maximum
    // RTO, so the connection gives up at 63 + 60 = 123 s (Linux, whose
    // maximum is 120 s, gives up at 127 s).
    let mut c = conn_syn_sent();
    let syn = "Flags [S], seq 1000, win 65535, options [mss 1460], length 0";
    for ms in [1000, 3000, 7000, 15000, 31000, 63000] {
        assert_eq!(c.poll_timeout(), Some(at(ms)));
        // One microsecond early: nothing.
        c.handle_timeout(Instant::from_micros(ms * 1000 - 1));
        assert!(
            c.poll_transmit(Instant::from_micros(ms * 1000 - 1))
                .is_none()
        );
        expect_out(&mut c, ms, &[syn]);
    }
    assert_eq!(c.poll_timeout(), Some(at(123_000)));
    c.handle_timeout(at(123_000));
    assert_eq!(c.state(), State::Closed);
    assert!(events(&mut c).contains(&Event::Closed(Reason::TimedOut)));
    expect_nothing(&mut c, 123_000);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn syn_sent__karns_rule_keeps_the_backed_off_rto() {
    let mut c = conn_syn_sent();
    expect_out(
        &mut c,
        1000,
        &["Flags [S], seq 1000, win 65535, options [mss 1460], length 0"],
    );
    // The SYN-ACK could answer either SYN: no sample is taken.
    deliver(
        &mut c,
        1050,
        seg(REMOTE_ISS, Some(LOCAL_ISS + 1), Flags::SYN, b""),
    );
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.rto(), Duration::from_secs(2));
}

#[test]
fn syn_sent__close_deletes_the_tcb() {
    let mut c = conn_syn_sent();
    c.close(at(5));
    assert_eq!(c.state(), State::Closed);
    assert!(events(&mut c).contains(&Event::Closed(Reason::Normal)));
    expect_nothing(&mut c, 5);
}

#[test]
fn syn_sent__syn_goes_to_syn_received_simultaneous_open() {
    let mut c = conn_syn_sent();
    deliver(&mut c, 10, seg(REMOTE_ISS, None, Flags::SYN, b""));
    assert_eq!(c.state(), State::SynReceived);
    expect_out(
        &mut c,
        10,
        &["Flags [S.], seq 1000, ack 5001, win 65535, options [mss 1460], length 0"],
    );
    // The peer's SYN,ACK crosses ours; it is not acceptable here (it lies
    // before RCV.NXT), so it is ACKed, and that ACK completes both sides.
    deliver(
        &mut c,
        20,
        seg(REMOTE_ISS, Some(LOCAL_ISS + 1), Flags::SYN, b""),
    );
    expect_out(&mut c, 20, &["Flags [.], ack 5001, win 65535, length 0"]);
    deliver(
        &mut c,
        30,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1), Flags::NONE, b""),
    );
    assert_eq!(c.state(), State::Established);
    assert!(events(&mut c).contains(&Event::Connected));
}

/// Two connections wired back to back, segments delivered in rounds.
fn pump(a: &mut Connection, b: &mut Connection, ms: u64) {
    for _ in 0..20 {
        let from_a: Vec<_> = std::iter::from_fn(|| a.poll_transmit(at(ms))).collect();
        let from_b: Vec<_> = std::iter::from_fn(|| b.poll_transmit(at(ms))).collect();
        if from_a.is_empty() && from_b.is_empty() {
            return;
        }
        for s in &from_a {
            b.handle_segment_from(at(ms), s.src.ip(), &s.as_repr());
        }
        for s in &from_b {
            a.handle_segment_from(at(ms), s.src.ip(), &s.as_repr());
        }
    }
    panic!("pump did not settle");
}

#[test]
fn simultaneous_open_and_simultaneous_close() {
    let mut a = Connection::connect(at(0), Config::default(), LOCAL, REMOTE, SeqNum(LOCAL_ISS));
    let mut b = Connection::connect(at(0), Config::default(), REMOTE, LOCAL, SeqNum(REMOTE_ISS));
    pump(&mut a, &mut b, 0);
    assert_eq!(
        (a.state(), b.state()),
        (State::Established, State::Established)
    );
    let a_states: Vec<State> = events(&mut a)
        .into_iter()
        .filter_map(|e| match e {
            Event::StateChanged { to, .. } => Some(to),
            _ => None,
        })
        .collect();
    assert_eq!(
        a_states,
        [State::SynSent, State::SynReceived, State::Established]
    );

    // Both close at once: the FINs cross, both go through CLOSING.
    a.close(at(100));
    b.close(at(100));
    let fa = a.poll_transmit(at(100)).unwrap();
    let fb = b.poll_transmit(at(100)).unwrap();
    b.handle_segment(at(101), &fa.as_repr());
    a.handle_segment(at(101), &fb.as_repr());
    assert_eq!((a.state(), b.state()), (State::Closing, State::Closing));
    pump(&mut a, &mut b, 102);
    assert_eq!((a.state(), b.state()), (State::TimeWait, State::TimeWait));
    assert_eq!(a.poll_timeout(), Some(at(102) + Duration::from_secs(60)));
}

// ----- LISTEN and SYN-RECEIVED -----

#[test]
fn listen__syn_goes_to_syn_received_and_echoes_offered_options() {
    let mut c = Connection::listen(
        Config::default(),
        LOCAL,
        IssSource::Fixed(SeqNum(LOCAL_ISS)),
    );
    let syn = TcpRepr {
        options: vec![
            TcpOption::Mss(1460),
            TcpOption::Nop,
            TcpOption::WindowScale(2),
        ],
        ..seg(REMOTE_ISS, None, Flags::SYN, b"")
    };
    c.handle_segment_from(at(3), REMOTE_IP, &syn);
    assert_eq!(c.state(), State::SynReceived);
    assert_eq!(c.remote(), REMOTE.into());
    // Only window scale was offered: no sackOK, no TS in the answer.
    expect_out(
        &mut c,
        3,
        &["Flags [S.], seq 1000, ack 5001, win 65535, options [mss 1460,nop,wscale 7], length 0"],
    );
}

#[test]
fn listen__generated_iss_follows_rfc_6528() {
    let key = [9u8; 16];
    let g = nettool::tcp::IsnGenerator::new(key);
    let mut c = Connection::listen(config(), LOCAL, IssSource::Generated(g));
    c.handle_segment_from(at(8), REMOTE_IP, &seg(REMOTE_ISS, None, Flags::SYN, b""));
    assert_eq!(c.tcb().snd.iss, g.isn(at(8), LOCAL, REMOTE));
}

#[rstest]
#[case::rst(seg(1, None, Flags::RST, b""), &[])]
#[case::ack(seg(1, Some(77), Flags::NONE, b""), &["Flags [R], seq 77, win 0, length 0"])]
#[case::bare_data(seg(1, None, Flags::PSH, b"x"), &[])]
fn listen__non_syn_is_dropped(#[case] s: TcpRepr<'static>, #[case] want: &[&str]) {
    let mut c = conn_listen();
    c.handle_segment_from(at(1), REMOTE_IP, &s);
    assert_eq!(c.state(), State::Listen);
    expect_out(&mut c, 1, want);
    assert_eq!(drops(&mut c), [DropReason::Unexpected]);
}

#[test]
fn syn_received__ack_goes_to_established() {
    let mut c = conn_syn_received();
    deliver(&mut c, 10, from_peer());
    assert_eq!(c.state(), State::Established);
    assert_eq!(
        events(&mut c),
        [
            Event::StateChanged {
                from: State::SynReceived,
                to: State::Established
            },
            Event::Connected
        ]
    );
    expect_nothing(&mut c, 10);
    assert_eq!(c.tcb().snd.una, SeqNum(LOCAL_ISS + 1));
}

#[test]
fn syn_received__bad_ack_gets_rst() {
    let mut c = conn_syn_received();
    deliver(
        &mut c,
        10,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 5), Flags::NONE, b""),
    );
    assert_eq!(c.state(), State::SynReceived);
    expect_out(&mut c, 10, &["Flags [R], seq 1005, win 0, length 0"]);
}

#[test]
fn syn_received__exact_rst_returns_to_listen() {
    let mut c = conn_syn_received();
    deliver(&mut c, 10, seg(REMOTE_ISS + 1, None, Flags::RST, b""));
    assert_eq!(c.state(), State::Listen);
    assert_eq!(c.poll_timeout(), None);
    // And it can accept a new SYN.
    c.handle_segment_from(at(20), REMOTE_IP, &seg(9000, None, Flags::SYN, b""));
    assert_eq!(c.state(), State::SynReceived);
}

/// Back in LISTEN after a RST, the connection is the passive OPEN again:
/// nothing of the failed handshake carries over. Before, the options the
/// first peer left out stayed out of every later SYN,ACK, and the RTO
/// stayed backed off.
#[test]
fn syn_received__rst_returns_to_a_fresh_listen() {
    let mut c = Connection::listen(
        Config::default(),
        LOCAL,
        IssSource::Fixed(SeqNum(LOCAL_ISS)),
    );
    // A first peer offering nothing, whose ACK never comes: the SYN,ACK
    // is retransmitted once, then the peer resets.
    c.handle_segment_from(at(0), REMOTE_IP, &seg(REMOTE_ISS, None, Flags::SYN, b""));
    let _ = sent(&mut c, 0);
    assert_eq!(sent(&mut c, 1000).len(), 1);
    deliver(&mut c, 1500, seg(REMOTE_ISS + 1, None, Flags::RST, b""));
    assert_eq!(c.state(), State::Listen);
    // A second peer offering everything is offered everything back, and
    // its SYN,ACK is retransmitted after the initial RTO, not a backed-off one.
    let syn = TcpRepr {
        options: vec![
            TcpOption::Mss(1460),
            TcpOption::SackPermitted,
            TcpOption::Timestamps { val: 7, ecr: 0 },
            TcpOption::Nop,
            TcpOption::WindowScale(7),
        ],
        ..seg(9000, None, Flags::SYN, b"")
    };
    c.handle_segment_from(at(2000), REMOTE_IP, &syn);
    let syn_ack = |ms| {
        format!(
            "Flags [S.], seq 1000, ack 9001, win 65535, options [mss 1460,sackOK,TS val {ms} ecr 7,nop,wscale 7], length 0"
        )
    };
    expect_out(&mut c, 2000, &[&syn_ack(2000)]);
    expect_nothing(&mut c, 2999);
    expect_out(&mut c, 3000, &[&syn_ack(3000)]);
}

/// A CLOSE issued in SYN-RECEIVED still holds when a RST sends the passive
/// OPEN back to LISTEN, and CLOSE in LISTEN deletes the TCB. Before, the
/// FIN stayed queued at a sequence number of the failed handshake.
#[test]
fn syn_received__rst_after_close_ends_in_closed() {
    let mut c = conn_syn_received();
    c.close(at(5));
    deliver(&mut c, 10, seg(REMOTE_ISS + 1, None, Flags::RST, b""));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(
        events(&mut c),
        [
            Event::StateChanged {
                from: State::SynReceived,
                to: State::Listen
            },
            Event::StateChanged {
                from: State::Listen,
                to: State::Closed
            },
            Event::Closed(Reason::Reset)
        ]
    );
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn syn_received__retransmitted_syn_resends_syn_ack_at_once() {
    let mut c = conn_syn_received();
    c.handle_segment_from(at(500), REMOTE_IP, &seg(REMOTE_ISS, None, Flags::SYN, b""));
    expect_out(
        &mut c,
        500,
        &["Flags [S.], seq 1000, ack 5001, win 65535, options [mss 1460], length 0"],
    );
    assert_eq!(drops(&mut c), [DropReason::Retransmission]);
    assert_eq!(c.state(), State::SynReceived);
}

/// PAWS runs in SYN-RECEIVED too: RFC 7323 §5.3 R1 applies once TS.Recent
/// is valid, and the SYN made it so (Linux's `tcp_check_req` checks it as
/// well). An ACK of our SYN,ACK whose TSval is older than the SYN's is an
/// old duplicate: answered with an ACK and dropped, it does not complete
/// the handshake; the real one after it does.
#[test]
fn syn_received__paws_old_ack_does_not_complete_the_handshake() {
    let mut c = Connection::listen(
        Config {
            timestamps: true,
            ..config()
        },
        LOCAL,
        IssSource::Fixed(SeqNum(LOCAL_ISS)),
    );
    let ts = |val| vec![TcpOption::Timestamps { val, ecr: 0 }];
    c.handle_segment_from(
        at(0),
        REMOTE_IP,
        &TcpRepr {
            options: ts(1000),
            ..seg(REMOTE_ISS, None, Flags::SYN, b"")
        },
    );
    let _ = sent(&mut c, 0);
    events(&mut c);
    let ack = |val| TcpRepr {
        options: ts(val),
        ..from_peer()
    };
    deliver(&mut c, 10, ack(500));
    assert_eq!(drops(&mut c), [DropReason::OutOfWindow]);
    assert_eq!(c.state(), State::SynReceived);
    expect_out(
        &mut c,
        10,
        &["Flags [.], ack 5001, win 65535, options [nop,nop,TS val 10 ecr 1000], length 0"],
    );
    deliver(&mut c, 20, ack(1001));
    assert_eq!(drops(&mut c), []);
    assert_eq!(c.state(), State::Established);
}

/// The peer's SYN again in SYN-RECEIVED is answered (the SYN,ACK at
/// once), not accepted, so TS.Recent keeps the first SYN's TSval: RFC 7323
/// §4.3 takes a TSval only from a segment covering Last.ACK.sent, which
/// is past the SYN (Linux's `tcp_check_req` likewise resends the SYN,ACK
/// with the TS.Recent it has). A forged one with a TSval far ahead would
/// otherwise make PAWS reject every real segment once ESTABLISHED.
#[rstest]
#[case::genuine(1500, 1510)]
#[case::forged_far_ahead(2_000_000_000, 1010)]
fn syn_received__retransmitted_syn_leaves_ts_recent_alone(
    #[case] resent_val: u32,
    #[case] ack_val: u32,
) {
    let mut c = Connection::listen(
        Config {
            timestamps: true,
            ..config()
        },
        LOCAL,
        IssSource::Fixed(SeqNum(LOCAL_ISS)),
    );
    let ts = |val| vec![TcpOption::Timestamps { val, ecr: 0 }];
    let syn = |val| TcpRepr {
        options: ts(val),
        ..seg(REMOTE_ISS, None, Flags::SYN, b"")
    };
    let syn_ack = |ms| {
        format!(
            "Flags [S.], seq 1000, ack 5001, win 65535, options [mss 1460,nop,nop,TS val {ms} ecr 1000], length 0"
        )
    };
    c.handle_segment_from(at(0), REMOTE_IP, &syn(1000));
    expect_out(&mut c, 0, &[&syn_ack(0)]);
    c.handle_segment_from(at(500), REMOTE_IP, &syn(resent_val));
    assert_eq!(drops(&mut c), [DropReason::Retransmission]);
    expect_out(&mut c, 500, &[&syn_ack(500)]);
    deliver(
        &mut c,
        510,
        TcpRepr {
            options: ts(ack_val),
            ..from_peer()
        },
    );
    assert_eq!(c.state(), State::Established);
    // The peer's first data after the handshake is accepted.
    deliver(
        &mut c,
        520,
        TcpRepr {
            options: ts(ack_val + 10),
            ..data(REMOTE_ISS + 1, b"new")
        },
    );
    assert_eq!(drops(&mut c), []);
    assert_eq!(c.recv_queue_len(), 3);
    expect_out(
        &mut c,
        520,
        &[&format!(
            "Flags [.], ack 5004, win 65532, options [nop,nop,TS val 520 ecr {}], length 0",
            ack_val + 10
        )],
    );
}

#[test]
fn syn_received__syn_ack_retransmitted_then_times_out() {
    let mut c = conn_syn_received();
    let syn_ack = "Flags [S.], seq 1000, ack 5001, win 65535, options [mss 1460], length 0";
    for ms in [1000, 3000, 7000, 15000, 31000, 63000] {
        expect_out(&mut c, ms, &[syn_ack]);
    }
    c.handle_timeout(at(122_999));
    assert_eq!(c.state(), State::SynReceived);
    c.handle_timeout(at(123_000));
    assert_eq!(c.state(), State::Closed);
}

#[test]
fn syn_received__close_waits_for_established_then_sends_fin() {
    let mut c = conn_syn_received();
    c.close(at(5));
    assert_eq!(c.state(), State::SynReceived);
    deliver(&mut c, 10, from_peer());
    assert_eq!(c.state(), State::FinWait1);
    expect_out(
        &mut c,
        10,
        &["Flags [F.], seq 1001, ack 5001, win 65535, length 0"],
    );
}

// ----- ESTABLISHED: data -----

#[test]
fn established__in_order_data_is_received_and_acked() {
    let mut c = conn_established();
    deliver(
        &mut c,
        20,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1), Flags::PSH, b"hello"),
    );
    expect_out(&mut c, 20, &["Flags [.], ack 5006, win 65530, length 0"]);
    let mut buf = [0u8; 16];
    assert_eq!(c.recv(&mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(c.recv(&mut buf), Ok(0));
    assert_eq!(c.tcb().rcv.wnd, 65535);
}

#[test]
fn established__overlapping_data_keeps_only_the_new_bytes() {
    let mut c = conn_established();
    deliver(
        &mut c,
        20,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1), Flags::NONE, b"abc"),
    );
    deliver(
        &mut c,
        21,
        seg(REMOTE_ISS + 2, Some(LOCAL_ISS + 1), Flags::NONE, b"bcdef"),
    );
    let mut buf = [0u8; 16];
    assert_eq!(c.recv(&mut buf), Ok(6));
    assert_eq!(&buf[..6], b"abcdef");
}

/// Data after a gap is no drop (issue 9): it is queued for reassembly,
/// reported as such, and acknowledged at once.
#[test]
fn established__out_of_order_data_is_queued_and_acked() {
    let mut c = conn_established();
    deliver(
        &mut c,
        20,
        seg(REMOTE_ISS + 4, Some(LOCAL_ISS + 1), Flags::NONE, b"later"),
    );
    expect_out(&mut c, 20, &["Flags [.], ack 5001, win 65535, length 0"]);
    assert_eq!(events(&mut c), [Event::OutOfOrderQueued { held: 5 }]);
    assert_eq!(c.recv_queue_len(), 0);
    assert_eq!(c.reassembly_len(), 5);
    // The gap fills: all of it is readable, nothing is held.
    deliver(
        &mut c,
        30,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1), Flags::NONE, b"abc"),
    );
    assert_eq!(c.recv_queue_len(), 8);
    assert_eq!(c.reassembly_len(), 0);
}

#[test]
fn established__duplicate_data_is_reacked() {
    let mut c = conn_established();
    deliver(
        &mut c,
        20,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1), Flags::NONE, b"abc"),
    );
    expect_out(&mut c, 20, &["Flags [.], ack 5004, win 65532, length 0"]);
    deliver(
        &mut c,
        30,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1), Flags::NONE, b"abc"),
    );
    expect_out(&mut c, 30, &["Flags [.], ack 5004, win 65532, length 0"]);
    assert_eq!(drops(&mut c), [DropReason::OutOfWindow]);
    assert_eq!(c.recv_queue_len(), 3);
}

#[test]
fn established__send_is_segmented_by_mss_and_acked() {
    let mut c = conn_established();
    let data = vec![7u8; 1000];
    assert_eq!(c.send(&data), Ok(1000));
    expect_out(
        &mut c,
        20,
        &[
            "Flags [.], seq 1001:1537, ack 5001, win 65535, length 536",
            "Flags [P.], seq 1537:2001, ack 5001, win 65535, length 464",
        ],
    );
    assert_eq!(
        c.poll_timeout(),
        Some(at(220)),
        "RTO 200 ms after the 10 ms SYN sample"
    );
    deliver(
        &mut c,
        40,
        seg(REMOTE_ISS + 1, Some(1537), Flags::NONE, b""),
    );
    assert_eq!(c.send_queue_len(), 464);
    deliver(
        &mut c,
        50,
        seg(REMOTE_ISS + 1, Some(2001), Flags::NONE, b""),
    );
    assert_eq!(c.send_queue_len(), 0);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn established__send_respects_the_peer_window() {
    let mut c = conn_established();
    deliver(
        &mut c,
        15,
        TcpRepr {
            window: 100,
            ..from_peer()
        },
    );
    assert_eq!(c.send(&[1u8; 300]), Ok(300));
    expect_out(
        &mut c,
        20,
        &["Flags [.], seq 1001:1101, ack 5001, win 65535, length 100"],
    );
    deliver(
        &mut c,
        30,
        TcpRepr {
            ack: Some(SeqNum(1101)),
            window: 500,
            ..from_peer()
        },
    );
    expect_out(
        &mut c,
        30,
        &["Flags [P.], seq 1101:1301, ack 5001, win 65535, length 200"],
    );
}

#[test]
fn established__lost_data_is_retransmitted_from_snd_una_with_backoff() {
    let mut c = conn_established();
    assert_eq!(c.send(b"abc"), Ok(3));
    expect_out(
        &mut c,
        100,
        &["Flags [P.], seq 1001:1004, ack 5001, win 65535, length 3"],
    );
    expect_nothing(&mut c, 299);
    expect_out(
        &mut c,
        300,
        &["Flags [P.], seq 1001:1004, ack 5001, win 65535, length 3"],
    );
    expect_nothing(&mut c, 699);
    expect_out(
        &mut c,
        700,
        &["Flags [P.], seq 1001:1004, ack 5001, win 65535, length 3"],
    );
    deliver(
        &mut c,
        710,
        seg(REMOTE_ISS + 1, Some(1004), Flags::NONE, b""),
    );
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn established__send_before_connected_waits_for_the_handshake() {
    let mut c = conn_syn_sent();
    assert_eq!(c.send(b"early"), Ok(5));
    expect_nothing(&mut c, 5);
    deliver(
        &mut c,
        10,
        seg(REMOTE_ISS, Some(LOCAL_ISS + 1), Flags::SYN, b""),
    );
    expect_out(
        &mut c,
        10,
        &["Flags [P.], seq 1001:1006, ack 5001, win 65535, length 5"],
    );
}

#[test]
fn established__fin_goes_to_close_wait_after_the_data() {
    let mut c = conn_established();
    deliver(
        &mut c,
        20,
        seg(
            REMOTE_ISS + 1,
            Some(LOCAL_ISS + 1),
            Flags::FIN | Flags::PSH,
            b"bye",
        ),
    );
    assert_eq!(c.state(), State::CloseWait);
    expect_out(&mut c, 20, &["Flags [.], ack 5005, win 65532, length 0"]);
    assert!(events(&mut c).contains(&Event::PeerClosed));
    let mut buf = [0u8; 8];
    assert_eq!(c.recv(&mut buf), Ok(3));
    assert_eq!(c.recv(&mut buf), Err(RecvError::Finished));
}

#[test]
fn established__fin_after_a_gap_is_not_processed() {
    let mut c = conn_established();
    deliver(
        &mut c,
        20,
        seg(REMOTE_ISS + 3, Some(LOCAL_ISS + 1), Flags::FIN, b"z"),
    );
    assert_eq!(c.state(), State::Established);
    expect_out(&mut c, 20, &["Flags [.], ack 5001, win 65535, length 0"]);
}

#[test]
fn established__segment_without_ack_is_dropped() {
    let mut c = conn_established();
    deliver(&mut c, 20, seg(REMOTE_ISS + 1, None, Flags::PSH, b"x"));
    assert_eq!(drops(&mut c), [DropReason::NoAck]);
    assert_eq!(c.recv_queue_len(), 0);
}

#[test]
fn established__abort_sends_rst() {
    let mut c = conn_established();
    c.abort(at(20));
    assert_eq!(c.state(), State::Closed);
    expect_out(&mut c, 20, &["Flags [R], seq 1001, win 0, length 0"]);
    assert!(events(&mut c).contains(&Event::Closed(Reason::Aborted)));
    assert_eq!(c.send(b"x"), Err(SendError::NotConnected));
}

#[test]
fn established__close_sends_fin_after_queued_data() {
    let mut c = conn_established();
    assert_eq!(c.send(b"tail"), Ok(4));
    c.close(at(20));
    assert_eq!(c.state(), State::FinWait1);
    expect_out(
        &mut c,
        20,
        &["Flags [FP.], seq 1001:1005, ack 5001, win 65535, length 4"],
    );
    assert_eq!(c.send(b"more"), Err(SendError::Closing));
}

// ----- RFC 5961 and the acceptability test in ESTABLISHED -----

#[rstest]
#[case::rst_exact(seg(REMOTE_ISS + 1, None, Flags::RST, b""), State::Closed, &[], None)]
#[case::rst_in_window(seg(REMOTE_ISS + 100, None, Flags::RST, b""), State::Established,
    &["Flags [.], ack 5001, win 65535, length 0"], Some(DropReason::RstNotExact))]
#[case::rst_out_of_window(seg(REMOTE_ISS + 100_000, None, Flags::RST, b""), State::Established,
    &[], Some(DropReason::OutOfWindow))]
#[case::rst_old(seg(REMOTE_ISS, None, Flags::RST, b""), State::Established,
    &[], Some(DropReason::OutOfWindow))]
#[case::syn_in_window(seg(REMOTE_ISS + 1, None, Flags::SYN, b""), State::Established,
    &["Flags [.], ack 5001, win 65535, length 0"], Some(DropReason::SynInWindow))]
#[case::ack_of_unsent(seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 50), Flags::NONE, b"x"), State::Established,
    &["Flags [.], ack 5001, win 65535, length 0"], Some(DropReason::AckOutOfRange))]
#[case::ack_too_old(seg(REMOTE_ISS + 1, Some(LOCAL_ISS.wrapping_sub(70_000)), Flags::NONE, b"x"), State::Established,
    &["Flags [.], ack 5001, win 65535, length 0"], Some(DropReason::AckOutOfRange))]
#[case::data_beyond_window(seg(REMOTE_ISS + 70_000, Some(LOCAL_ISS + 1), Flags::NONE, b"x"), State::Established,
    &["Flags [.], ack 5001, win 65535, length 0"], Some(DropReason::OutOfWindow))]
fn established__rfc_5961(
    #[case] s: TcpRepr<'static>,
    #[case] state: State,
    #[case] out: &[&str],
    #[case] dropped: Option<DropReason>,
) {
    let mut c = conn_established();
    deliver(&mut c, 20, s);
    assert_eq!(c.state(), state);
    expect_out(&mut c, 20, out);
    let evs = events(&mut c);
    match dropped {
        Some(r) => assert!(
            evs.contains(&Event::SegmentDropped { reason: r }),
            "{evs:?}"
        ),
        None => assert!(evs.contains(&Event::Closed(Reason::Reset)), "{evs:?}"),
    }
}

#[test]
fn established__old_ack_within_max_window_still_delivers_data() {
    let mut c = conn_established();
    deliver(
        &mut c,
        20,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS), Flags::NONE, b"ok"),
    );
    assert_eq!(c.recv_queue_len(), 2);
}

/// §3.10.7.4: "If the RCV.WND is zero, no segments will be acceptable,
/// but special allowance should be made to accept valid ACKs, URGs, and
/// RSTs." The peer's window probe at RCV.NXT carries an ACK of our data
/// and a window update: both are taken, its octet is not. Before, the
/// whole segment was dropped, and our sending waited on an ACK that kept
/// arriving.
#[rstest]
#[case::probe_acks_our_data(Flags::NONE, b"x", State::Established, 0)]
#[case::rst_at_rcv_nxt_resets(Flags::RST, b"", State::Closed, 0)]
#[case::bare_fin_is_taken(Flags::FIN, b"", State::CloseWait, 1)]
#[case::text_and_fin_are_not(Flags::FIN, b"x", State::Established, 0)]
fn established__zero_window_takes_the_control_bits_at_rcv_nxt(
    #[case] flags: Flags,
    #[case] text: &'static [u8],
    #[case] state: State,
    #[case] fin: usize,
) {
    let mut c = Connection::connect(
        at(0),
        Config {
            recv_buffer: 4,
            ..config()
        },
        LOCAL,
        REMOTE,
        SeqNum(LOCAL_ISS),
    );
    let _ = c.poll_transmit(at(0));
    deliver(
        &mut c,
        10,
        seg(REMOTE_ISS, Some(LOCAL_ISS + 1), Flags::SYN, b""),
    );
    assert_eq!(c.send(b"hello"), Ok(5));
    let _ = c.poll_transmit(at(10));
    deliver(
        &mut c,
        11,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1), Flags::NONE, b"full"),
    );
    assert_eq!(c.tcb().rcv.wnd, 0);
    events(&mut c);
    deliver(
        &mut c,
        12,
        TcpRepr {
            window: 9,
            ..seg(REMOTE_ISS + 5, Some(LOCAL_ISS + 6), flags, text)
        },
    );
    assert_eq!(c.state(), state);
    assert_eq!(c.recv_queue_len(), 4, "the closed window took no text");
    if state != State::Closed {
        assert_eq!(c.tcb().snd.una, SeqNum(LOCAL_ISS + 6), "our data is acked");
        assert_eq!(c.tcb().snd.wnd, 9);
        assert_eq!(c.tcb().rcv.nxt, SeqNum(REMOTE_ISS + 5 + fin as u32));
    }
    let dropped = drops(&mut c);
    assert_eq!(dropped.is_empty(), text.is_empty(), "{dropped:?}");
}

#[test]
fn established__zero_window_accepts_only_an_empty_segment_at_rcv_nxt() {
    let mut c = Connection::connect(
        at(0),
        Config {
            recv_buffer: 4,
            ..config()
        },
        LOCAL,
        REMOTE,
        SeqNum(LOCAL_ISS),
    );
    let _ = c.poll_transmit(at(0));
    deliver(
        &mut c,
        10,
        seg(REMOTE_ISS, Some(LOCAL_ISS + 1), Flags::SYN, b""),
    );
    deliver(
        &mut c,
        11,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1), Flags::NONE, b"full"),
    );
    expect_out(&mut c, 11, &["Flags [.], ack 5005, win 0, length 0"]);
    assert_eq!(c.tcb().rcv.wnd, 0);
    events(&mut c);
    // SEG.LEN > 0 with RCV.WND = 0: the text is not acceptable.
    deliver(
        &mut c,
        12,
        seg(REMOTE_ISS + 5, Some(LOCAL_ISS + 1), Flags::NONE, b"x"),
    );
    assert_eq!(drops(&mut c), [DropReason::OutOfWindow]);
    expect_out(&mut c, 12, &["Flags [.], ack 5005, win 0, length 0"]);
    assert_eq!(c.recv_queue_len(), 4);
    // SEG.LEN = 0 at RCV.NXT: acceptable (it may carry an ACK or window).
    deliver(
        &mut c,
        13,
        TcpRepr {
            window: 7,
            ..seg(REMOTE_ISS + 5, Some(LOCAL_ISS + 1), Flags::NONE, b"")
        },
    );
    assert_eq!(drops(&mut c), []);
    assert_eq!(c.tcb().snd.wnd, 7);
    // Reading reopens the window, and the new window is announced.
    expect_nothing(&mut c, 13);
    let mut buf = [0u8; 4];
    assert_eq!(c.recv(&mut buf), Ok(4));
    expect_out(&mut c, 14, &["Flags [.], ack 5005, win 4, length 0"]);
}

// ----- closing -----

#[test]
fn fin_wait_1__ack_of_fin_goes_to_fin_wait_2() {
    let mut c = conn_fin_wait_1();
    deliver(
        &mut c,
        30,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 2), Flags::NONE, b""),
    );
    assert_eq!(c.state(), State::FinWait2);
    assert_eq!(
        c.poll_timeout(),
        None,
        "FIN acknowledged: no retransmission timer"
    );
}

#[test]
fn fin_wait_1__fin_ack_goes_to_time_wait() {
    let mut c = conn_fin_wait_1();
    deliver(
        &mut c,
        30,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 2), Flags::FIN, b""),
    );
    assert_eq!(c.state(), State::TimeWait);
    expect_out(&mut c, 30, &["Flags [.], ack 5002, win 65535, length 0"]);
    let to: Vec<State> = events(&mut c)
        .into_iter()
        .filter_map(|e| match e {
            Event::StateChanged { to, .. } => Some(to),
            _ => None,
        })
        .collect();
    assert_eq!(to, [State::FinWait2, State::TimeWait]);
}

#[test]
fn fin_wait_1__fin_goes_to_closing_then_ack_to_time_wait() {
    let mut c = conn_closing();
    deliver(
        &mut c,
        40,
        seg(REMOTE_ISS + 2, Some(LOCAL_ISS + 2), Flags::NONE, b""),
    );
    assert_eq!(c.state(), State::TimeWait);
    assert_eq!(c.poll_timeout(), Some(at(60_040)));
}

#[test]
fn closing__ack_not_covering_the_fin_is_ignored() {
    let mut c = conn_closing();
    deliver(
        &mut c,
        40,
        seg(REMOTE_ISS + 2, Some(LOCAL_ISS + 1), Flags::NONE, b""),
    );
    assert_eq!(c.state(), State::Closing);
}

#[test]
fn fin_wait_1__fin_is_retransmitted_then_times_out() {
    let mut c = Connection::connect(
        at(0),
        Config {
            retries: 2,
            ..config()
        },
        LOCAL,
        REMOTE,
        SeqNum(LOCAL_ISS),
    );
    let _ = c.poll_transmit(at(0));
    deliver(
        &mut c,
        10,
        seg(REMOTE_ISS, Some(LOCAL_ISS + 1), Flags::SYN, b""),
    );
    let _ = c.poll_transmit(at(10));
    c.close(at(20));
    let fin = "Flags [F.], seq 1001, ack 5001, win 65535, length 0";
    expect_out(&mut c, 20, &[fin]);
    expect_out(&mut c, 220, &[fin]);
    expect_out(&mut c, 620, &[fin]);
    c.handle_timeout(at(1420));
    assert_eq!(c.state(), State::Closed);
    assert!(events(&mut c).contains(&Event::Closed(Reason::TimedOut)));
}

#[test]
fn fin_wait_2__still_receives_data_half_close() {
    let mut c = conn_fin_wait_2();
    deliver(
        &mut c,
        40,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 2), Flags::PSH, b"more"),
    );
    expect_out(&mut c, 40, &["Flags [.], ack 5005, win 65531, length 0"]);
    assert_eq!(c.recv_queue_len(), 4);
}

#[test]
fn fin_wait_2__fin_goes_to_time_wait() {
    let mut c = conn_time_wait();
    assert_eq!(c.poll_timeout(), Some(at(60_040)));
    assert!(c.poll_event().is_none());
}

#[test]
fn close_wait__can_still_send_then_close_goes_to_last_ack() {
    let mut c = conn_close_wait();
    assert_eq!(c.send(b"reply"), Ok(5));
    c.close(at(30));
    assert_eq!(c.state(), State::LastAck);
    expect_out(
        &mut c,
        30,
        &["Flags [FP.], seq 1001:1006, ack 5002, win 65535, length 5"],
    );
}

/// CLOSING, §3.10.7.4 fifth step: "in addition to the processing for the
/// ESTABLISHED state", an ACK of our FIN leads to TIME-WAIT; any other
/// acceptable ACK is still taken (here it acknowledges the data before the
/// FIN) and only the rest of the segment is ignored. Neither is a discard,
/// so neither is reported as a dropped segment: a drop report promises
/// that nothing changed (design decision 12).
#[rstest]
#[case::ack_of_the_data_only(LOCAL_ISS + 4, State::Closing, SeqNum(LOCAL_ISS + 4))]
#[case::ack_of_the_fin(LOCAL_ISS + 5, State::TimeWait, SeqNum(LOCAL_ISS + 5))]
fn closing__an_acceptable_ack_is_taken_and_not_reported_as_a_drop(
    #[case] ack: u32,
    #[case] state: State,
    #[case] una: SeqNum,
) {
    let mut c = conn_established();
    assert_eq!(c.send(b"abc"), Ok(3));
    c.close(at(20));
    expect_out(
        &mut c,
        20,
        &["Flags [FP.], seq 1001:1004, ack 5001, win 65535, length 3"],
    );
    // The peer's FIN crosses ours: CLOSING, nothing of ours acknowledged.
    deliver(
        &mut c,
        30,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1), Flags::FIN, b""),
    );
    expect_out(&mut c, 30, &["Flags [.], ack 5002, win 65535, length 0"]);
    assert_eq!(c.state(), State::Closing);
    events(&mut c);
    deliver(&mut c, 40, seg(REMOTE_ISS + 2, Some(ack), Flags::NONE, b""));
    assert_eq!(drops(&mut c), []);
    assert_eq!((c.state(), c.tcb().snd.una), (state, una));
}

#[test]
fn close_wait__data_is_ignored() {
    let mut c = conn_close_wait();
    deliver(
        &mut c,
        30,
        seg(REMOTE_ISS + 2, Some(LOCAL_ISS + 1), Flags::NONE, b"late"),
    );
    assert_eq!(c.recv_queue_len(), 0);
}

/// The peer's FIN is taken once. After it, a FIN at RCV.NXT (no real peer
/// sends one: its FIN again ends at RCV.NXT) passes the checks and is
/// answered with an ACK, but moves nothing: had RCV.NXT gone over it,
/// every real segment from the peer would start below RCV.NXT, be out of
/// the window and draw an ACK beyond anything the peer sent, which the
/// peer answers with an ACK of its own, and so on for ever. Nor does it
/// restart TIME-WAIT (only the FIN again does, see above), as Linux's
/// TIME-WAIT, which keeps RCV.NXT fixed, never moves it either.
#[rstest]
#[case::close_wait(conn_close_wait as Ctor)]
#[case::last_ack(conn_last_ack as Ctor)]
#[case::time_wait(conn_time_wait as Ctor)]
fn after_the_peers_fin__another_fin_moves_nothing(#[case] ctor: Ctor) {
    let mut c = ctor();
    let ack = c.tcb().snd.una.0;
    let timeout = c.poll_timeout();
    deliver(&mut c, 100, seg(REMOTE_ISS + 2, Some(ack), Flags::FIN, b""));
    assert_eq!(c.tcb().rcv.nxt, SeqNum(REMOTE_ISS + 2));
    assert_eq!(events(&mut c), []);
    expect_out(&mut c, 100, &["Flags [.], ack 5002, win 65535, length 0"]);
    assert_eq!(c.poll_timeout(), timeout);
    // The peer's next real segment (a pure ACK at its SND.NXT) is taken.
    deliver(
        &mut c,
        110,
        seg(REMOTE_ISS + 2, Some(ack), Flags::NONE, b""),
    );
    assert_eq!(drops(&mut c), []);
    expect_nothing(&mut c, 110);
}

#[test]
fn last_ack__ack_of_fin_goes_to_closed() {
    let mut c = conn_last_ack();
    deliver(
        &mut c,
        40,
        seg(REMOTE_ISS + 2, Some(LOCAL_ISS + 2), Flags::NONE, b""),
    );
    assert_eq!(c.state(), State::Closed);
    assert_eq!(
        events(&mut c),
        [
            Event::StateChanged {
                from: State::LastAck,
                to: State::Closed
            },
            Event::Closed(Reason::Normal)
        ]
    );
    expect_nothing(&mut c, 40);
}

#[test]
fn last_ack__rst_resets() {
    let mut c = conn_last_ack();
    deliver(&mut c, 40, seg(REMOTE_ISS + 2, None, Flags::RST, b""));
    assert!(events(&mut c).contains(&Event::Closed(Reason::Reset)));
}

#[test]
fn time_wait__expires_after_two_msl() {
    let mut c = conn_time_wait();
    c.handle_timeout(at(60_039));
    assert_eq!(c.state(), State::TimeWait);
    c.handle_timeout(at(60_040));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(
        events(&mut c),
        [
            Event::StateChanged {
                from: State::TimeWait,
                to: State::Closed
            },
            Event::Closed(Reason::Normal)
        ]
    );
}

#[test]
fn time_wait__retransmitted_fin_is_reacked_and_restarts_the_timer() {
    let mut c = conn_time_wait();
    deliver(
        &mut c,
        5000,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 2), Flags::FIN, b""),
    );
    expect_out(&mut c, 5000, &["Flags [.], ack 5002, win 65535, length 0"]);
    assert_eq!(drops(&mut c), [DropReason::Retransmission]);
    assert_eq!(c.state(), State::TimeWait);
    assert_eq!(c.poll_timeout(), Some(at(65_000)));
}

#[test]
fn time_wait__custom_msl() {
    let mut c = Connection::connect(
        at(0),
        Config {
            msl: Duration::from_millis(500),
            ..config()
        },
        LOCAL,
        REMOTE,
        SeqNum(LOCAL_ISS),
    );
    let _ = c.poll_transmit(at(0));
    deliver(
        &mut c,
        10,
        seg(REMOTE_ISS, Some(LOCAL_ISS + 1), Flags::SYN, b""),
    );
    c.close(at(10));
    let _ = std::iter::from_fn(|| c.poll_transmit(at(10))).count();
    deliver(
        &mut c,
        20,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 2), Flags::FIN, b""),
    );
    assert_eq!(c.state(), State::TimeWait);
    assert_eq!(c.poll_timeout(), Some(at(1020)));
}

#[test]
fn user_timeout_closes_a_stalled_connection() {
    let mut c = Connection::connect(
        at(0),
        Config {
            user_timeout: Some(Duration::from_secs(5)),
            ..config()
        },
        LOCAL,
        REMOTE,
        SeqNum(LOCAL_ISS),
    );
    let _ = c.poll_transmit(at(0));
    for ms in [1000, 3000] {
        expect_out(
            &mut c,
            ms,
            &["Flags [S], seq 1000, win 65535, options [mss 1460], length 0"],
        );
    }
    c.handle_timeout(at(5000));
    assert_eq!(c.state(), State::Closed);
    assert!(events(&mut c).contains(&Event::Closed(Reason::TimedOut)));
}

// ----- CLOSED and §3.5.2 -----

#[rstest]
#[case::with_ack(
    seg(42, Some(77), Flags::NONE, b"data"),
    Some("Flags [R], seq 77, win 0, length 0")
)]
#[case::without_ack(
    seg(42, None, Flags::SYN, b""),
    Some("Flags [R.], seq 0, ack 43, win 0, length 0")
)]
#[case::data_fin_without_ack(
    seg(42, None, Flags::FIN, b"abc"),
    Some("Flags [R.], seq 0, ack 46, win 0, length 0")
)]
#[case::rst(seg(42, Some(77), Flags::RST, b""), None)]
fn rst_generation_3_5_2(#[case] s: TcpRepr<'static>, #[case] want: Option<&str>) {
    let rst = rst_for(REMOTE_IP, LOCAL_IP, &s);
    assert_eq!(rst.as_ref().map(line).as_deref(), want);
    if let Some(r) = rst {
        assert_eq!((r.src, r.dst), (LOCAL.into(), REMOTE.into()));
    }
}

#[test]
fn closed__segments_are_answered_with_rst() {
    let mut c = conn_established();
    c.abort(at(1));
    let _ = c.poll_transmit(at(1));
    deliver(
        &mut c,
        2,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1), Flags::NONE, b"x"),
    );
    expect_out(&mut c, 2, &["Flags [R], seq 1001, win 0, length 0"]);
    assert!(drops(&mut c).contains(&DropReason::NoConnection));
}

/// Only an acceptable retransmission of the peer's FIN restarts 2×MSL
/// (RFC 9293 §3.10.7.4, TIME-WAIT in the fifth and eighth steps). One at
/// the same place that fails a check (an ACK of nothing sent, one below
/// SND.UNA − MAX.SND.WND, no ACK bit, a SYN) is an old duplicate like any
/// other: outside the window, answered with an ACK, and TIME-WAIT ends
/// when it would have. If it restarted the timer, such segments would
/// hold the connection (and its port pair) in TIME-WAIT for as long as
/// they kept coming.
#[rstest]
#[case::ack_beyond_snd_nxt(seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1_000_000), Flags::FIN, b""))]
#[case::ack_too_old(seg(REMOTE_ISS + 1, Some((LOCAL_ISS + 2).wrapping_sub(100_000)), Flags::FIN, b""))]
#[case::no_ack(seg(REMOTE_ISS + 1, None, Flags::FIN, b""))]
#[case::syn(seg(REMOTE_ISS, Some(LOCAL_ISS + 2), Flags::SYN | Flags::FIN, b""))]
#[case::text_and_fin_bad_ack(seg(REMOTE_ISS, Some(LOCAL_ISS + 1_000_000), Flags::FIN, b"x"))]
fn time_wait__unacceptable_fin_is_acked_and_leaves_the_timer(#[case] hostile: TcpRepr<'static>) {
    let mut c = conn_time_wait();
    deliver(&mut c, 5000, hostile);
    assert_eq!(drops(&mut c), [DropReason::OutOfWindow]);
    expect_out(&mut c, 5000, &["Flags [.], ack 5002, win 65535, length 0"]);
    assert_eq!(c.state(), State::TimeWait);
    assert_eq!(c.poll_timeout(), Some(at(60_040)), "2×MSL from 40 ms");
}

/// PAWS applies in TIME-WAIT before anything else (RFC 7323 §5.3 R1): a
/// FIN whose TSval is older than TS.Recent is an old duplicate from an
/// earlier incarnation, exactly what TIME-WAIT is there to absorb. It is
/// answered and leaves the timer; the real retransmission after it (a
/// current TSval) restarts it.
#[test]
fn time_wait__paws_old_fin_leaves_the_timer_and_a_current_one_restarts_it() {
    let mut c = established_with(
        Config {
            timestamps: true,
            ..config()
        },
        vec![TcpOption::Timestamps { val: 500, ecr: 0 }],
    );
    let fin = |val| TcpRepr {
        options: vec![TcpOption::Timestamps { val, ecr: 20 }],
        ..seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 2), Flags::FIN, b"")
    };
    c.close(at(20));
    let _ = sent(&mut c, 20);
    deliver(&mut c, 30, fin(600));
    assert_eq!(c.state(), State::TimeWait);
    let _ = sent(&mut c, 30);
    assert_eq!(c.poll_timeout(), Some(at(60_030)));
    events(&mut c);
    deliver(&mut c, 5000, fin(100));
    assert_eq!(drops(&mut c), [DropReason::OutOfWindow]);
    expect_out(
        &mut c,
        5000,
        &["Flags [.], ack 5002, win 65535, options [nop,nop,TS val 5000 ecr 600], length 0"],
    );
    assert_eq!(c.poll_timeout(), Some(at(60_030)));
    deliver(&mut c, 6000, fin(700));
    assert_eq!(drops(&mut c), [DropReason::Retransmission]);
    assert_eq!(sent(&mut c, 6000).len(), 1, "the FIN is ACKed again");
    assert_eq!(c.poll_timeout(), Some(at(66_000)));
}

#[test]
fn segments_for_other_ports_are_ignored() {
    let mut c = conn_established();
    deliver(
        &mut c,
        2,
        TcpRepr {
            src_port: 81,
            ..from_peer()
        },
    );
    assert_eq!(drops(&mut c), [DropReason::NotForUs]);
    expect_nothing(&mut c, 2);
}

// ----- sequence numbers wrapping at 2^32 -----

#[rstest]
#[case::both_at_top(u32::MAX, u32::MAX)]
#[case::local_wraps_in_data(u32::MAX - 3, 7)]
#[case::remote_wraps_in_data(12, u32::MAX - 2)]
#[case::fin_on_the_edge(u32::MAX - 10, u32::MAX - 1)]
fn wrap_around_through_handshake_data_and_close(#[case] a_iss: u32, #[case] b_iss: u32) {
    let mut a = Connection::connect(at(0), config(), LOCAL, REMOTE, SeqNum(a_iss));
    let mut b = Connection::listen(config(), REMOTE, IssSource::Fixed(SeqNum(b_iss)));
    pump(&mut a, &mut b, 0);
    assert_eq!(
        (a.state(), b.state()),
        (State::Established, State::Established)
    );
    assert_eq!(a.send(b"0123456789"), Ok(10));
    assert_eq!(b.send(b"abcdefghij"), Ok(10));
    pump(&mut a, &mut b, 10);
    let mut buf = [0u8; 32];
    assert_eq!(b.recv(&mut buf), Ok(10));
    assert_eq!(&buf[..10], b"0123456789");
    assert_eq!(a.recv(&mut buf), Ok(10));
    assert_eq!(&buf[..10], b"abcdefghij");
    a.close(at(20));
    pump(&mut a, &mut b, 20);
    b.close(at(30));
    pump(&mut a, &mut b, 30);
    assert_eq!((a.state(), b.state()), (State::TimeWait, State::Closed));
    assert_eq!(a.tcb().snd.una, SeqNum(a_iss) + 12usize);
    assert_eq!(a.tcb().rcv.nxt, SeqNum(b_iss) + 12usize);
}

// ----- every synchronized state against RST, SYN and ABORT -----

type Ctor = fn() -> Connection;

/// A RST exactly at RCV.NXT ends the connection from any synchronized
/// state (RFC 5961 §3 keeps this one case); TIME-WAIT had already ended
/// cleanly, so its reason stays `Normal`.
#[rstest]
#[case::syn_received_active(conn_simultaneous_syn_received as Ctor, Reason::Reset)]
#[case::established(conn_established as Ctor, Reason::Reset)]
#[case::fin_wait_1(conn_fin_wait_1 as Ctor, Reason::Reset)]
#[case::fin_wait_2(conn_fin_wait_2 as Ctor, Reason::Reset)]
#[case::close_wait(conn_close_wait as Ctor, Reason::Reset)]
#[case::closing(conn_closing as Ctor, Reason::Reset)]
#[case::last_ack(conn_last_ack as Ctor, Reason::Reset)]
#[case::time_wait(conn_time_wait as Ctor, Reason::Normal)]
fn any_state__exact_rst_closes(#[case] ctor: Ctor, #[case] reason: Reason) {
    let mut c = ctor();
    let from = c.state();
    let nxt = c.tcb().rcv.nxt.get();
    deliver(&mut c, 50, seg(nxt, None, Flags::RST, b""));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(
        events(&mut c),
        [
            Event::StateChanged {
                from,
                to: State::Closed
            },
            Event::Closed(reason)
        ]
    );
    expect_nothing(&mut c, 50);
    assert_eq!(c.poll_timeout(), None);
}

/// A RST inside the window but not at RCV.NXT only draws a challenge ACK.
#[rstest]
#[case::established(conn_established as Ctor)]
#[case::fin_wait_1(conn_fin_wait_1 as Ctor)]
#[case::fin_wait_2(conn_fin_wait_2 as Ctor)]
#[case::close_wait(conn_close_wait as Ctor)]
#[case::last_ack(conn_last_ack as Ctor)]
fn any_state__inexact_rst_draws_a_challenge_ack(#[case] ctor: Ctor) {
    let mut c = ctor();
    let state = c.state();
    let nxt = c.tcb().rcv.nxt.get();
    deliver(&mut c, 50, seg(nxt + 1, None, Flags::RST, b""));
    assert_eq!(c.state(), state);
    assert_eq!(drops(&mut c), [DropReason::RstNotExact]);
    let out: Vec<_> = std::iter::from_fn(|| c.poll_transmit(at(50))).collect();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].flags, Flags::NONE);
    assert_eq!(
        (out[0].seq, out[0].ack),
        (c.tcb().snd.nxt, Some(c.tcb().rcv.nxt))
    );
}

/// RFC 5961 §4: a SYN in a synchronized state, in window or not, draws a
/// challenge ACK and changes nothing.
#[rstest]
fn any_state__syn_draws_a_challenge_ack(
    #[values(
        conn_established as Ctor,
        conn_fin_wait_1 as Ctor,
        conn_fin_wait_2 as Ctor,
        conn_close_wait as Ctor,
        conn_closing as Ctor,
        conn_last_ack as Ctor
    )]
    ctor: Ctor,
    #[values(0, 1, 100)] offset: u32,
) {
    let mut c = ctor();
    let state = c.state();
    let tcb = *c.tcb();
    deliver(
        &mut c,
        50,
        seg(tcb.rcv.nxt.get() + offset, None, Flags::SYN, b""),
    );
    assert_eq!(c.state(), state);
    assert_eq!(*c.tcb(), tcb);
    assert_eq!(drops(&mut c), [DropReason::SynInWindow]);
    let out: Vec<_> = std::iter::from_fn(|| c.poll_transmit(at(50))).collect();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].ack, Some(tcb.rcv.nxt));
}

/// ABORT (§3.10.5): a RST where the peer has a TCB, silence elsewhere.
#[rstest]
#[case::listen(conn_listen as Ctor, None)]
#[case::syn_sent(conn_syn_sent as Ctor, None)]
#[case::syn_received(conn_syn_received as Ctor, Some("Flags [R], seq 1001, win 0, length 0"))]
#[case::established(conn_established as Ctor, Some("Flags [R], seq 1001, win 0, length 0"))]
#[case::fin_wait_1(conn_fin_wait_1 as Ctor, Some("Flags [R], seq 1002, win 0, length 0"))]
#[case::fin_wait_2(conn_fin_wait_2 as Ctor, Some("Flags [R], seq 1002, win 0, length 0"))]
#[case::close_wait(conn_close_wait as Ctor, Some("Flags [R], seq 1001, win 0, length 0"))]
#[case::closing(conn_closing as Ctor, None)]
#[case::last_ack(conn_last_ack as Ctor, None)]
#[case::time_wait(conn_time_wait as Ctor, None)]
fn any_state__abort(#[case] ctor: Ctor, #[case] rst: Option<&str>) {
    let mut c = ctor();
    events(&mut c);
    c.abort(at(60));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(events(&mut c).last(), Some(&Event::Closed(Reason::Aborted)));
    expect_out(&mut c, 60, rst.as_slice());
    assert_eq!(c.poll_timeout(), None);
    // A second ABORT is a no-op.
    c.abort(at(61));
    assert!(c.poll_event().is_none());
}

/// CLOSE is a no-op once a FIN is queued or the connection is gone.
#[rstest]
#[case::fin_wait_1(conn_fin_wait_1 as Ctor)]
#[case::fin_wait_2(conn_fin_wait_2 as Ctor)]
#[case::closing(conn_closing as Ctor)]
#[case::last_ack(conn_last_ack as Ctor)]
#[case::time_wait(conn_time_wait as Ctor)]
fn any_state__second_close_does_nothing(#[case] ctor: Ctor) {
    let mut c = ctor();
    let state = c.state();
    c.close(at(70));
    assert_eq!(c.state(), state);
    assert!(c.poll_event().is_none());
    expect_nothing(&mut c, 70);
}

fn conn_simultaneous_syn_received() -> Connection {
    let mut c = conn_syn_sent();
    deliver(&mut c, 10, seg(REMOTE_ISS, None, Flags::SYN, b""));
    let _ = c.poll_transmit(at(10));
    assert_eq!(c.state(), State::SynReceived);
    events(&mut c);
    c
}

#[test]
fn closed__listen_reports_the_transition_and_close_ends_it() {
    let mut c = conn_listen();
    assert_eq!(
        events(&mut c),
        [Event::StateChanged {
            from: State::Closed,
            to: State::Listen
        }]
    );
    assert_eq!(c.send(b"x"), Err(SendError::NotConnected));
    c.close(at(1));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(events(&mut c).last(), Some(&Event::Closed(Reason::Normal)));
}

#[test]
fn syn_received__in_window_syn_returns_a_passive_open_to_listen() {
    let mut c = conn_syn_received();
    deliver(&mut c, 10, seg(REMOTE_ISS + 3, None, Flags::SYN, b""));
    assert_eq!(c.state(), State::Listen);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn syn_received__ack_with_fin_goes_through_established_to_close_wait() {
    let mut c = conn_syn_received();
    deliver(
        &mut c,
        10,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1), Flags::FIN, b"hi"),
    );
    assert_eq!(c.state(), State::CloseWait);
    expect_out(&mut c, 10, &["Flags [.], ack 5004, win 65533, length 0"]);
    let evs = events(&mut c);
    assert!(evs.contains(&Event::Connected) && evs.contains(&Event::PeerClosed));
}

#[test]
fn syn_received__rst_of_an_active_open_is_a_reset() {
    let mut c = conn_simultaneous_syn_received();
    deliver(&mut c, 20, seg(REMOTE_ISS + 1, None, Flags::RST, b""));
    assert_eq!(c.state(), State::Closed);
    assert!(events(&mut c).contains(&Event::Closed(Reason::Reset)));
}

#[test]
fn syn_sent__acceptable_ack_without_syn_is_dropped() {
    let mut c = conn_syn_sent();
    deliver(
        &mut c,
        10,
        seg(REMOTE_ISS, Some(LOCAL_ISS + 1), Flags::NONE, b""),
    );
    assert_eq!(c.state(), State::SynSent);
    assert_eq!(drops(&mut c), [DropReason::Unexpected]);
    expect_nothing(&mut c, 10);
}

#[test]
fn syn_sent__syn_ack_with_data_and_fin_is_processed_past_the_handshake() {
    let mut c = conn_syn_sent();
    deliver(
        &mut c,
        10,
        seg(
            REMOTE_ISS,
            Some(LOCAL_ISS + 1),
            Flags::SYN | Flags::FIN,
            b"abc",
        ),
    );
    assert_eq!(c.state(), State::CloseWait);
    expect_out(&mut c, 10, &["Flags [.], ack 5005, win 65532, length 0"]);
    let mut buf = [0u8; 8];
    assert_eq!(c.recv(&mut buf), Ok(3));
    assert_eq!(&buf[..3], b"abc");
}

#[test]
fn established__data_beyond_the_window_is_trimmed() {
    let mut c = Connection::connect(
        at(0),
        Config {
            recv_buffer: 4,
            ..config()
        },
        LOCAL,
        REMOTE,
        SeqNum(LOCAL_ISS),
    );
    let _ = c.poll_transmit(at(0));
    deliver(
        &mut c,
        10,
        seg(REMOTE_ISS, Some(LOCAL_ISS + 1), Flags::SYN, b""),
    );
    let _ = c.poll_transmit(at(10));
    // Six bytes and a FIN into a four-byte window: four bytes kept, and
    // the FIN (beyond them) not processed.
    deliver(
        &mut c,
        20,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1), Flags::FIN, b"abcdef"),
    );
    assert_eq!(c.recv_queue_len(), 4);
    assert_eq!(c.state(), State::Established);
    expect_out(&mut c, 20, &["Flags [.], ack 5005, win 0, length 0"]);
}

#[test]
fn established__window_update_ignores_older_segments() {
    let mut c = conn_established();
    // A newer segment (higher SEG.SEQ) sets the window…
    deliver(
        &mut c,
        20,
        seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1), Flags::NONE, b"ab"),
    );
    deliver(
        &mut c,
        21,
        TcpRepr {
            window: 1000,
            ..seg(REMOTE_ISS + 3, Some(LOCAL_ISS + 1), Flags::NONE, b"")
        },
    );
    assert_eq!(c.tcb().snd.wnd, 1000);
    assert_eq!(
        (c.tcb().snd.wl1, c.tcb().snd.wl2),
        (SeqNum(REMOTE_ISS + 3), SeqNum(LOCAL_ISS + 1))
    );
    // …and a reordered older one (SEG.SEQ < SND.WL1) does not undo it.
    deliver(
        &mut c,
        22,
        TcpRepr {
            window: 9,
            ..seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1), Flags::NONE, b"ab")
        },
    );
    assert_eq!(c.tcb().snd.wnd, 1000);
}

#[test]
fn established__data_retries_exhausted_times_out() {
    let mut c = Connection::connect(
        at(0),
        Config {
            retries: 3,
            ..config()
        },
        LOCAL,
        REMOTE,
        SeqNum(LOCAL_ISS),
    );
    let _ = c.poll_transmit(at(0));
    deliver(
        &mut c,
        10,
        seg(REMOTE_ISS, Some(LOCAL_ISS + 1), Flags::SYN, b""),
    );
    let _ = c.poll_transmit(at(10));
    assert_eq!(c.send(b"x"), Ok(1));
    let data = "Flags [P.], seq 1001:1002, ack 5001, win 65535, length 1";
    // RTO 200 ms after the 10 ms handshake sample, then 400, 800.
    for ms in [10, 210, 610, 1410] {
        expect_out(&mut c, ms, &[data]);
    }
    c.handle_timeout(at(3009));
    assert_eq!(c.state(), State::Established);
    c.handle_timeout(at(3010));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(
        events(&mut c).last(),
        Some(&Event::Closed(Reason::TimedOut))
    );
}

// ----- robustness: arbitrary segments never panic or break invariants -----

#[rstest]
fn any_state__random_segments_keep_invariants(
    #[values(
        conn_listen as Ctor,
        conn_syn_sent as Ctor,
        conn_syn_received as Ctor,
        conn_established as Ctor,
        conn_fin_wait_1 as Ctor,
        conn_fin_wait_2 as Ctor,
        conn_close_wait as Ctor,
        conn_closing as Ctor,
        conn_last_ack as Ctor,
        conn_time_wait as Ctor
    )]
    ctor: Ctor,
) {
    let mut x: u64 = 0x0123_4567_89ab_cdef;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    const PAYLOAD: [u8; 64] = [0x5a; 64];
    for round in 0..300 {
        let mut c = ctor();
        let _ = c.send(b"pending");
        let mut ms = 100;
        for _ in 0..10 {
            let tcb = *c.tcb();
            let near = |base: SeqNum, r: u64| base + (r % 8) as usize - 4usize;
            let s = TcpRepr {
                seq: if rnd() % 4 == 0 {
                    SeqNum(rnd() as u32)
                } else {
                    near(tcb.rcv.nxt, rnd())
                },
                ack: (rnd() % 4 != 0).then(|| near(tcb.snd.nxt, rnd())),
                flags: Flags::from_bits(rnd() as u8),
                window: rnd() as u16,
                payload: &PAYLOAD[..(rnd() % 65) as usize],
                ..from_peer()
            };
            c.handle_segment_from(at(ms), REMOTE_IP, &s);
            while c.poll_transmit(at(ms)).is_some() {}
            ms += rnd() % 2000;
            if c.poll_timeout().is_some_and(|t| t <= at(ms)) {
                c.handle_timeout(at(ms));
            }
            while c.poll_transmit(at(ms)).is_some() {}
            let tcb = *c.tcb();
            assert!(tcb.snd.una.le(tcb.snd.nxt), "round {round}: {tcb:?}");
            assert_eq!(tcb.rcv.wnd + c.recv_queue_len(), 65535, "round {round}");
            if c.state() == State::Closed {
                assert_eq!(c.poll_timeout(), None);
            }
            let _ = c.recv(&mut [0u8; 16]);
            events(&mut c);
        }
    }
}

#[test]
fn listen__needs_the_peer_address() {
    let mut c = conn_listen();
    events(&mut c);
    // `handle_segment` knows no peer while LISTENing: nothing to answer.
    deliver(&mut c, 1, seg(REMOTE_ISS, None, Flags::SYN, b""));
    assert_eq!(c.state(), State::Listen);
    assert_eq!(drops(&mut c), [DropReason::NotForUs]);
}

#[test]
fn user_timeout_restarts_when_new_data_goes_out_after_idle() {
    let mut c = Connection::connect(
        at(0),
        Config {
            user_timeout: Some(Duration::from_secs(5)),
            ..config()
        },
        LOCAL,
        REMOTE,
        SeqNum(LOCAL_ISS),
    );
    let _ = c.poll_transmit(at(0));
    deliver(
        &mut c,
        10,
        seg(REMOTE_ISS, Some(LOCAL_ISS + 1), Flags::SYN, b""),
    );
    let _ = c.poll_transmit(at(10));
    assert_eq!(c.poll_timeout(), None, "idle: no timer at all");
    assert_eq!(c.send(b"x"), Ok(1));
    let _ = c.poll_transmit(at(100_000));
    // Retransmissions at 100.2, 100.6, 101.4, 103.0 s; the user timeout
    // at 105 s ends it first.
    for ms in [100_200, 100_600, 101_400, 103_000] {
        expect_out(
            &mut c,
            ms,
            &["Flags [P.], seq 1001:1002, ack 5001, win 65535, length 1"],
        );
    }
    c.handle_timeout(at(105_000));
    assert_eq!(
        events(&mut c).last(),
        Some(&Event::Closed(Reason::TimedOut))
    );
}

// ----- bulk-data mechanisms: receive side -----

/// ESTABLISHED through the public API with `cfg`; the peer's SYN,ACK
/// carries `options` and a 64240 window.
fn established_with(cfg: Config, options: Vec<TcpOption>) -> Connection {
    let mut c = Connection::connect(at(0), cfg, LOCAL, REMOTE, SeqNum(LOCAL_ISS));
    let _ = c.poll_transmit(at(0));
    deliver(
        &mut c,
        10,
        TcpRepr {
            options,
            ..seg(REMOTE_ISS, Some(LOCAL_ISS + 1), Flags::SYN, b"")
        },
    );
    while c.poll_transmit(at(10)).is_some() {}
    assert_eq!(c.state(), State::Established);
    events(&mut c);
    c
}

fn delack_config() -> Config {
    Config {
        delayed_ack: Some(Duration::from_millis(40)),
        ..config()
    }
}

fn data(seq: u32, payload: &'static [u8]) -> TcpRepr<'static> {
    seg(seq, Some(LOCAL_ISS + 1), Flags::NONE, payload)
}

static K: [u8; 4096] = [0x5a; 4096];

#[test]
fn delayed_ack__one_segment_is_acked_after_the_delay() {
    let mut c = established_with(delack_config(), vec![]);
    deliver(&mut c, 20, data(REMOTE_ISS + 1, &K[..100]));
    expect_nothing(&mut c, 20);
    assert_eq!(c.poll_timeout(), Some(at(60)));
    expect_nothing(&mut c, 59);
    expect_out(&mut c, 60, &["Flags [.], ack 5101, win 65435, length 0"]);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn delayed_ack__every_second_segment_is_acked_at_once() {
    let mut c = established_with(delack_config(), vec![]);
    deliver(&mut c, 20, data(REMOTE_ISS + 1, &K[..100]));
    expect_nothing(&mut c, 20);
    deliver(&mut c, 21, data(REMOTE_ISS + 101, &K[..100]));
    expect_out(&mut c, 21, &["Flags [.], ack 5201, win 65335, length 0"]);
    // The timer went with the ACK.
    assert_eq!(c.poll_timeout(), None);
    // Data we send carries the ACK too.
    deliver(&mut c, 30, data(REMOTE_ISS + 201, &K[..100]));
    assert_eq!(c.send(b"hi"), Ok(2));
    expect_out(
        &mut c,
        30,
        &["Flags [P.], seq 1001:1003, ack 5301, win 65235, length 2"],
    );
    expect_nothing(&mut c, 70);
}

/// A super-frame (offload left many segments in one frame) holds at
/// least two full-sized segments' worth and is acknowledged at once; one
/// frame of less still waits for the delay.
#[test]
fn delayed_ack__a_frame_of_two_full_segments_or_more_is_acked_at_once() {
    let mut c = established_with(delack_config(), vec![]);
    deliver(&mut c, 20, data(REMOTE_ISS + 1, &K[..2000]));
    expect_nothing(&mut c, 20);
    assert_eq!(c.poll_timeout(), Some(at(60)));
    expect_out(&mut c, 60, &["Flags [.], ack 7001, win 63535, length 0"]);
    deliver(&mut c, 70, data(REMOTE_ISS + 2001, &K[..4096]));
    expect_out(&mut c, 70, &["Flags [.], ack 11097, win 59439, length 0"]);
    assert_eq!(c.poll_timeout(), None);
}

/// A burst's short last segment, once the application has read up to
/// it, is acknowledged at once: the sender may have nothing else in
/// flight to draw an ACK. A full-sized segment read the same way waits.
#[test]
fn delayed_ack__a_short_segment_read_to_the_end_is_acked_at_once() {
    let mut buf = [0u8; 4096];
    let mut c = established_with(delack_config(), vec![]);
    deliver(&mut c, 20, data(REMOTE_ISS + 1, &K[..1460]));
    assert_eq!(c.recv(&mut buf), Ok(1460));
    expect_nothing(&mut c, 20);
    assert_eq!(c.poll_timeout(), Some(at(60)));
    expect_out(&mut c, 60, &["Flags [.], ack 6461, win 65535, length 0"]);

    let mut c = established_with(delack_config(), vec![]);
    deliver(&mut c, 20, data(REMOTE_ISS + 1, &K[..100]));
    // Unread, it waits for the delay like any other.
    expect_nothing(&mut c, 20);
    assert_eq!(c.recv(&mut buf), Ok(100));
    // (The right edge stays put: 100 octets is below the SWS threshold.)
    expect_out(&mut c, 20, &["Flags [.], ack 5101, win 65435, length 0"]);
    assert_eq!(c.poll_timeout(), None);
}

/// With timestamps agreed, a full segment from Linux carries 1448 octets
/// (the MSS less the option). Read as they arrive, such segments draw an
/// ACK every second one, not one each; a super-frame of exactly two of
/// them is acknowledged at once.
#[test]
fn delayed_ack__full_segments_are_judged_without_the_timestamps_option() {
    let cfg = || Config {
        timestamps: true,
        ..delack_config()
    };
    let syn_ts = || vec![TcpOption::Timestamps { val: 500, ecr: 0 }];
    let ts = |val| vec![TcpOption::Timestamps { val, ecr: 10 }];
    let mut buf = [0u8; 4096];
    let mut c = established_with(cfg(), syn_ts());
    let mut acks = 0;
    for i in 0..10u32 {
        let seg = TcpRepr {
            options: ts(1000 + i),
            ..data(REMOTE_ISS + 1 + i * 1448, &K[..1448])
        };
        deliver(&mut c, 20, seg);
        assert_eq!(c.recv(&mut buf), Ok(1448));
        while c.poll_transmit(at(20)).is_some() {
            acks += 1;
        }
    }
    assert_eq!(acks, 5);

    let mut c = established_with(cfg(), syn_ts());
    let seg = TcpRepr {
        options: ts(1000),
        ..data(REMOTE_ISS + 1, &K[..2896])
    };
    deliver(&mut c, 20, seg);
    let mut acks = 0;
    while c.poll_transmit(at(20)).is_some() {
        acks += 1;
    }
    assert_eq!(acks, 1, "two full segments' worth, acknowledged at once");
}

#[test]
fn delayed_ack__out_of_order_and_hole_filling_data_are_acked_at_once() {
    let mut c = established_with(delack_config(), vec![]);
    deliver(&mut c, 20, data(REMOTE_ISS + 101, &K[..100]));
    expect_out(&mut c, 20, &["Flags [.], ack 5001, win 65535, length 0"]);
    assert_eq!(events(&mut c), [Event::OutOfOrderQueued { held: 100 }]);
    assert_eq!(c.reassembly_len(), 100);
    deliver(&mut c, 21, data(REMOTE_ISS + 1, &K[..100]));
    expect_out(&mut c, 21, &["Flags [.], ack 5201, win 65335, length 0"]);
    assert_eq!(c.recv_queue_len(), 200);
    assert_eq!(c.reassembly_len(), 0);
}

#[test]
fn reassembly__holes_fill_in_any_order_and_overlaps_are_trimmed() {
    let mut c = conn_established();
    let text = b"0123456789abcdefghij";
    // Segments [10..15), [5..12) overlapping it, [15..20), then [0..6).
    deliver(&mut c, 20, data(REMOTE_ISS + 11, &text[10..15]));
    deliver(&mut c, 21, data(REMOTE_ISS + 6, &text[5..12]));
    deliver(&mut c, 22, data(REMOTE_ISS + 16, &text[15..20]));
    // A duplicate of held data changes nothing.
    deliver(&mut c, 23, data(REMOTE_ISS + 11, &text[10..15]));
    assert_eq!(c.recv_queue_len(), 0);
    assert_eq!(c.reassembly_len(), 15);
    // One duplicate ACK per out-of-order segment (RFC 5681 §4.2), even
    // when they arrive before the caller polls.
    expect_out(&mut c, 23, &["Flags [.], ack 5001, win 65535, length 0"; 4]);
    deliver(&mut c, 24, data(REMOTE_ISS + 1, &text[0..6]));
    expect_out(&mut c, 24, &["Flags [.], ack 5021, win 65515, length 0"]);
    let mut buf = [0u8; 32];
    assert_eq!(c.recv(&mut buf), Ok(20));
    assert_eq!(&buf[..20], text);
}

#[test]
fn reassembly__never_holds_more_than_the_receive_buffer() {
    let mut c = established_with(
        Config {
            recv_buffer: 1000,
            ..config()
        },
        vec![],
    );
    // 1500 octets starting 200 past RCV.NXT: only up to the buffer's end.
    deliver(&mut c, 20, data(REMOTE_ISS + 201, &K[..800]));
    assert_eq!(c.reassembly_len(), 800);
    deliver(&mut c, 21, data(REMOTE_ISS + 901, &K[..600]));
    assert_eq!(c.reassembly_len(), 800, "beyond RCV.NXT+RCV.WND: dropped");
    deliver(&mut c, 22, data(REMOTE_ISS + 1, &K[..200]));
    assert_eq!(c.recv_queue_len(), 1000);
    assert_eq!(c.tcb().rcv.wnd, 0);
    expect_out(
        &mut c,
        22,
        &[
            "Flags [.], ack 5001, win 1000, length 0",
            "Flags [.], ack 5001, win 1000, length 0",
            "Flags [.], ack 6001, win 0, length 0",
        ],
    );
}

#[test]
fn fin_ahead_of_a_hole_is_processed_when_the_hole_fills() {
    let mut c = conn_established();
    deliver(
        &mut c,
        20,
        seg(REMOTE_ISS + 4, Some(LOCAL_ISS + 1), Flags::FIN, b"def"),
    );
    assert_eq!(c.state(), State::Established);
    deliver(&mut c, 21, data(REMOTE_ISS + 1, b"abc"));
    assert_eq!(c.state(), State::CloseWait);
    expect_out(
        &mut c,
        21,
        &[
            "Flags [.], ack 5001, win 65535, length 0",
            "Flags [.], ack 5007, win 65529, length 0",
            "Flags [.], ack 5008, win 65529, length 0",
        ],
    );
    let mut buf = [0u8; 8];
    assert_eq!(c.recv(&mut buf), Ok(6));
    assert_eq!(c.recv(&mut buf), Err(RecvError::Finished));
}

/// Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): with RCV.BUFF 4000 the
/// threshold is min(4000/2, 1460) = 1460 octets; the right edge does not
/// move for less, and reading enough to pass it announces the window.
#[test]
fn sws__small_window_increases_are_not_advertised() {
    let mut c = established_with(
        Config {
            recv_buffer: 4000,
            ..config()
        },
        vec![],
    );
    for i in 0..4u32 {
        deliver(
            &mut c,
            20 + u64::from(i),
            data(REMOTE_ISS + 1 + i * 1000, &K[..1000]),
        );
    }
    expect_out(&mut c, 23, &["Flags [.], ack 9001, win 0, length 0"]);
    let mut buf = [0u8; 1000];
    assert_eq!(c.recv(&mut buf[..500]), Ok(500));
    expect_nothing(&mut c, 24);
    // An ACK owed for another reason still offers the old right edge.
    deliver(&mut c, 25, data(REMOTE_ISS + 1, &K[..10]));
    expect_out(&mut c, 25, &["Flags [.], ack 9001, win 0, length 0"]);
    assert_eq!(c.recv(&mut buf), Ok(1000));
    expect_out(&mut c, 26, &["Flags [.], ack 9001, win 1500, length 0"]);
}

#[test]
fn sack__blocks_report_held_data_newest_first() {
    let mut c = established_with(
        Config {
            sack_permitted: true,
            ..config()
        },
        vec![TcpOption::SackPermitted],
    );
    deliver(&mut c, 20, data(REMOTE_ISS + 101, &K[..100]));
    deliver(&mut c, 21, data(REMOTE_ISS + 301, &K[..100]));
    deliver(&mut c, 22, data(REMOTE_ISS + 201, &K[..50]));
    expect_out(
        &mut c,
        22,
        // The block holding the newest segment comes first; 5201:5251
        // merged into 5101:5251.
        &[
            "Flags [.], ack 5001, win 65535, options [nop,nop,sack 1 {5101:5201}], length 0",
            "Flags [.], ack 5001, win 65535, options [nop,nop,sack 2 {5301:5401}{5101:5201}], length 0",
            "Flags [.], ack 5001, win 65535, options [nop,nop,sack 2 {5101:5251}{5301:5401}], length 0",
        ],
    );
}

/// A FIN beyond a hole is acknowledged at once (RFC 5681 §4.2: an
/// out-of-order segment SHOULD draw an immediate duplicate ACK), with
/// delayed ACKs on, and its sequence number is SACKed, as Linux does:
/// alone, with the held data it follows (one ACK for a segment with
/// both), or extending their block. Once the hole fills, the FIN is taken
/// and no SACK block remains.
#[rstest]
#[case::bare_fin(&[(5101, "")], "{5101:5102}", 5102)]
#[case::text_and_fin_in_one_segment(&[(5101, "abc")], "{5101:5105}", 5105)]
#[case::fin_after_held_text(&[(5101, "abc"), (5104, "")], "{5101:5105}", 5105)]
#[case::fin_apart_from_held_text(&[(5051, "abc"), (5101, "")], "{5101:5102}{5051:5054}", 5102)]
fn sack__a_fin_beyond_a_hole_is_sacked_at_once(
    #[case] arrivals: &[(u32, &'static str)],
    #[case] blocks: &str,
    #[case] ack_at_the_end: u32,
) {
    let mut c = established_with(
        Config {
            sack_permitted: true,
            ..delack_config()
        },
        vec![TcpOption::SackPermitted],
    );
    let (&(seq, text), before) = arrivals.split_last().unwrap();
    for &(seq, text) in before {
        deliver(&mut c, 20, data(seq, text.as_bytes()));
        assert_eq!(sent(&mut c, 20).len(), 1, "out of order: an ACK at once");
    }
    deliver(
        &mut c,
        21,
        seg(seq, Some(LOCAL_ISS + 1), Flags::FIN, text.as_bytes()),
    );
    assert_eq!(c.state(), State::Established);
    // One ACK, at once (no delayed-ACK timer armed for it).
    assert_eq!(c.poll_timeout(), None);
    let n = blocks.matches('{').count();
    let out: Vec<String> = std::iter::from_fn(|| c.poll_transmit(at(21)))
        .map(|s| line(&s))
        .collect();
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        out[0].starts_with("Flags [.], ack 5001, ")
            && out[0].ends_with(&format!("options [nop,nop,sack {n} {blocks}], length 0")),
        "{out:?}"
    );
    // The hole fills: the FIN is taken, and nothing is held to SACK.
    deliver(&mut c, 30, data(REMOTE_ISS + 1, &K[..100]));
    assert_eq!(c.state(), State::CloseWait);
    assert!(events(&mut c).contains(&Event::PeerClosed));
    let out = sent(&mut c, 30);
    let last = out.last().expect("an ACK");
    assert!(
        last.starts_with(&format!("Flags [.], ack {ack_at_the_end}, ")) && !last.contains("sack"),
        "{out:?}"
    );
}

/// SACK blocks never push a data segment past the MTU: a full-sized one
/// goes without them, a short one carries as many as fit, and the pure
/// ACK carries them all (a full segment with SACK blocks was 1528 octets
/// on a 1500-octet link, and the kernel refused it: EMSGSIZE).
#[test]
fn sack__blocks_never_push_a_data_segment_past_the_mtu() {
    let mut c = established_with(
        Config {
            sack_permitted: true,
            ..config()
        },
        vec![TcpOption::SackPermitted, TcpOption::Mss(1460)],
    );
    deliver(&mut c, 20, data(REMOTE_ISS + 101, &K[..100]));
    deliver(&mut c, 20, data(REMOTE_ISS + 301, &K[..100]));
    let acks: Vec<nettool::tcp::Segment> = std::iter::from_fn(|| c.poll_transmit(at(20))).collect();
    assert!(
        acks.iter()
            .all(|a| a.payload.is_empty() && !a.options.is_empty())
    );
    assert_eq!(c.send(&K[..1460 + 1000]), Ok(2460));
    let mut sent = Vec::new();
    while let Some(s) = c.poll_transmit(at(21)) {
        sent.push(s);
        assert!(sent.len() < 10, "poll_transmit never ends");
    }
    let data: Vec<&nettool::tcp::Segment> = sent.iter().filter(|s| !s.payload.is_empty()).collect();
    assert_eq!(data.len(), 2, "{sent:?}");
    for s in &data {
        let len = 20 + s.as_repr().header_len() + s.payload.len();
        assert!(
            len <= 1500,
            "a {len}-octet segment, options {:?}",
            s.options
        );
    }
    // The full one has no room for a block; the short one has room for
    // both, newest first.
    assert!(data[0].options.is_empty(), "{:?}", data[0].options);
    assert_eq!(
        data[1].options,
        vec![
            TcpOption::Nop,
            TcpOption::Nop,
            TcpOption::Sack(vec![
                (SeqNum(REMOTE_ISS + 301), SeqNum(REMOTE_ISS + 401)),
                (SeqNum(REMOTE_ISS + 101), SeqNum(REMOTE_ISS + 201)),
            ])
        ]
    );
}

#[test]
fn paws__an_older_timestamp_is_rejected() {
    let mut c = established_with(
        Config {
            timestamps: true,
            ..config()
        },
        vec![TcpOption::Timestamps { val: 500, ecr: 0 }],
    );
    let ts = |val| vec![TcpOption::Timestamps { val, ecr: 10 }];
    deliver(
        &mut c,
        20,
        TcpRepr {
            options: ts(1000),
            ..data(REMOTE_ISS + 1, b"new")
        },
    );
    expect_out(
        &mut c,
        20,
        &["Flags [.], ack 5004, win 65532, options [nop,nop,TS val 20 ecr 1000], length 0"],
    );
    // An old duplicate from an earlier wrap: in the window, TSval older
    // by more than a tick (one tick is reordering: Linux's PAWS window).
    deliver(
        &mut c,
        21,
        TcpRepr {
            options: ts(998),
            ..data(REMOTE_ISS + 4, b"old")
        },
    );
    assert_eq!(drops(&mut c), [DropReason::OutOfWindow]);
    expect_out(
        &mut c,
        21,
        &["Flags [.], ack 5004, win 65532, options [nop,nop,TS val 21 ecr 1000], length 0"],
    );
    assert_eq!(c.recv_queue_len(), 3);
    // A RST is exempt (RFC 7323 §5.3 R1).
    deliver(
        &mut c,
        22,
        TcpRepr {
            options: ts(1),
            ..seg(REMOTE_ISS + 4, None, Flags::RST, b"")
        },
    );
    assert_eq!(c.state(), State::Closed);
}

/// A segment answered with a challenge ACK and dropped must not move
/// TS.Recent: if it did, its TSval (far ahead of the peer's clock) would
/// make PAWS reject every real segment after it, and the connection would
/// hang for good.
#[rstest]
#[case::syn_at_rcv_nxt(seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1), Flags::SYN, b""), DropReason::SynInWindow)]
#[case::ack_beyond_snd_nxt(seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1_000_001), Flags::NONE, b"bad"), DropReason::AckOutOfRange)]
#[case::no_ack(seg(REMOTE_ISS + 1, None, Flags::NONE, b"bad"), DropReason::NoAck)]
fn paws__a_dropped_segment_leaves_ts_recent_alone(
    #[case] hostile: TcpRepr<'static>,
    #[case] reason: DropReason,
) {
    let mut c = established_with(
        Config {
            timestamps: true,
            ..config()
        },
        vec![TcpOption::Timestamps { val: 500, ecr: 0 }],
    );
    let ts = |val| vec![TcpOption::Timestamps { val, ecr: 10 }];
    deliver(
        &mut c,
        20,
        TcpRepr {
            options: ts(2_000_000_000),
            ..hostile
        },
    );
    assert_eq!(drops(&mut c), [reason]);
    // The challenge ACK (or the plain drop) echoes the last real TSval.
    for s in sent(&mut c, 20) {
        assert!(s.contains("ecr 500"), "{s}");
    }
    // The peer's real next segment is accepted and acknowledged.
    deliver(
        &mut c,
        21,
        TcpRepr {
            options: ts(501),
            ..data(REMOTE_ISS + 1, b"new")
        },
    );
    assert_eq!(drops(&mut c), []);
    expect_out(
        &mut c,
        21,
        &["Flags [.], ack 5004, win 65532, options [nop,nop,TS val 21 ecr 501], length 0"],
    );
    assert_eq!(c.recv_queue_len(), 3);
}

// ----- bulk-data mechanisms: send side -----

fn ack_win(ack: u32, window: u16) -> TcpRepr<'static> {
    TcpRepr {
        ack: Some(SeqNum(ack)),
        window,
        ..from_peer()
    }
}

fn ack_sack(ack: u32, blocks: &[(u32, u32)]) -> TcpRepr<'static> {
    TcpRepr {
        ack: Some(SeqNum(ack)),
        options: vec![TcpOption::Sack(
            blocks
                .iter()
                .map(|&(l, r)| (SeqNum(l), SeqNum(r)))
                .collect(),
        )],
        ..from_peer()
    }
}

/// Lines of everything sent at `ms` (timers due then fired first).
fn sent(c: &mut Connection, ms: u64) -> Vec<String> {
    if c.poll_timeout().is_some_and(|t| t <= at(ms)) {
        c.handle_timeout(at(ms));
    }
    std::iter::from_fn(|| c.poll_transmit(at(ms)))
        .map(|s| line(&s))
        .collect()
}

/// RFC 9293 §3.8.6.1: a zero window with data waiting runs the persist
/// timer (one RTO, 200 ms after the 10 ms handshake sample); the probe is
/// one octet; answered probes back off and never time the connection out.
#[test]
fn persist__zero_window_is_probed_with_backoff_and_never_times_out() {
    let mut c = conn_established();
    deliver(&mut c, 15, ack_win(LOCAL_ISS + 1, 0));
    assert_eq!(c.send(&K[..300]), Ok(300));
    expect_nothing(&mut c, 20);
    assert_eq!(c.poll_timeout(), Some(at(220)));
    expect_out(
        &mut c,
        220,
        &["Flags [.], seq 1001:1002, ack 5001, win 65535, length 1"],
    );
    // The peer drops the probe and says the window is still zero; each
    // probe then waits twice as long. Far more probes than `retries` (15).
    // (The first retransmission timer runs from the probe with the
    // un-backed-off RTO.)
    let mut t = 220;
    let mut wait = 200;
    for _ in 0..20 {
        deliver(&mut c, t + 10, ack_win(LOCAL_ISS + 1, 0));
        expect_nothing(&mut c, t + 10);
        t += wait;
        wait = (wait * 2).min(60_000);
        assert_eq!(c.poll_timeout(), Some(at(t)), "probe after {wait} ms");
        expect_out(
            &mut c,
            t,
            &["Flags [.], seq 1001:1002, ack 5001, win 65535, length 1"],
        );
    }
    assert_eq!(c.state(), State::Established);
    // The window opens: everything goes, from SND.UNA.
    deliver(&mut c, t + 10, ack_win(LOCAL_ISS + 1, 1000));
    expect_out(
        &mut c,
        t + 10,
        &["Flags [P.], seq 1001:1301, ack 5001, win 65535, length 300"],
    );
}

/// A peer that stops answering probes is given up on like any other.
#[test]
fn persist__unanswered_probes_time_out() {
    let mut c = established_with(
        Config {
            retries: 3,
            ..config()
        },
        vec![],
    );
    deliver(&mut c, 15, ack_win(LOCAL_ISS + 1, 0));
    assert_eq!(c.send(&K[..300]), Ok(300));
    assert_eq!(sent(&mut c, 20), Vec::<String>::new());
    let mut t = 20;
    while c.state() != State::Closed {
        t = c.poll_timeout().unwrap().total_micros() / 1000;
        let _ = sent(&mut c, t);
    }
    assert!(events(&mut c).contains(&Event::Closed(Reason::TimedOut)));
    // Probe at 220, resent at +200, +400, +800, giving up 1600 ms later.
    assert_eq!(t, 220 + 200 + 400 + 800 + 1600);
}

/// The peer takes back window it offered (RFC 9293 §3.8.6.2.1 "shrinking
/// the window"): nothing new is sent beyond the new right edge, the head
/// is retransmitted on the timeout as a probe, and answered probes keep
/// the connection open.
#[test]
fn shrunk_window__no_new_data_beyond_it_and_the_head_is_probed() {
    let mut c = conn_established();
    deliver(&mut c, 15, ack_win(LOCAL_ISS + 1, 2000));
    assert_eq!(c.send(&K[..3000]), Ok(3000));
    assert_eq!(
        sent(&mut c, 20),
        [
            "Flags [.], seq 1001:1537, ack 5001, win 65535, length 536",
            "Flags [.], seq 1537:2073, ack 5001, win 65535, length 536",
            "Flags [.], seq 2073:2609, ack 5001, win 65535, length 536",
        ],
        "the last 392 octets of window would make a runt segment"
    );
    // Right edge moves from 3001 back to 1537.
    deliver(&mut c, 30, ack_win(1537, 0));
    expect_nothing(&mut c, 30);
    for t in [230, 630, 1430, 3030, 6230, 12630, 25430, 51030] {
        assert_eq!(c.poll_timeout(), Some(at(t)));
        expect_out(
            &mut c,
            t,
            &["Flags [.], seq 1537:2073, ack 5001, win 65535, length 536"],
        );
        deliver(&mut c, t + 5, ack_win(1537, 0));
    }
    assert_eq!(c.state(), State::Established);
    deliver(&mut c, 51040, ack_win(1537, 8000));
    // After the timeouts cwnd is one segment.
    assert_eq!(
        sent(&mut c, 51040),
        ["Flags [.], seq 1537:2073, ack 5001, win 65535, length 536"]
    );
}

/// RFC 6298 §5.5 backoff and Karn's algorithm: the ACK of a
/// retransmitted segment gives no RTT sample, so the backed-off RTO stays
/// until new data is timed.
#[test]
fn rto__backs_off_and_karn_ignores_retransmitted_samples() {
    let mut c = conn_established();
    assert_eq!(c.rto(), Duration::from_millis(200));
    assert_eq!(c.send(b"abc"), Ok(3));
    let _ = sent(&mut c, 100);
    assert_eq!(sent(&mut c, 300).len(), 1);
    assert_eq!(c.rto(), Duration::from_millis(400));
    deliver(&mut c, 310, ack_win(1004, 64240));
    assert_eq!(c.rto(), Duration::from_millis(400), "Karn: no sample");
    assert_eq!(c.send(b"def"), Ok(3));
    let _ = sent(&mut c, 320);
    deliver(&mut c, 350, ack_win(1007, 64240));
    // A fresh sample: SRTT 10 → 13.75 ms, RTO back at the 200 ms floor.
    assert_eq!(c.rto(), Duration::from_millis(200));
}

/// Slow start from the RFC 6928 initial window (10 segments of 536), two
/// segments' growth per ACK; congestion avoidance after a loss.
#[test]
fn cwnd__slow_start_from_the_initial_window() {
    let mut c = conn_established();
    assert_eq!(c.cwnd(), 5360);
    assert_eq!(c.send(&K[..4096]), Ok(4096));
    assert_eq!(c.send(&K[..4096]), Ok(4096));
    assert_eq!(sent(&mut c, 20).len(), 10, "IW10");
    // Two segments acknowledged: cwnd +1072, and four more may go.
    deliver(&mut c, 30, ack_win(1001 + 2 * 536, 64240));
    assert_eq!(c.cwnd(), 5360 + 1072);
    assert_eq!(sent(&mut c, 30).len(), 4);
    deliver(&mut c, 31, ack_win(1001 + 3 * 536, 64240));
    assert_eq!(c.cwnd(), 5360 + 1072 + 536);
}

/// Ten segments out, the first lost: the third duplicate ACK retransmits
/// it (RFC 5681 §3.2), ssthresh = FlightSize/2, cwnd = ssthresh + 3*SMSS,
/// and a fourth inflates cwnd by one SMSS. A partial ACK (RFC 6582)
/// retransmits the next hole at once; the full ACK ends recovery with
/// cwnd = min(ssthresh, FlightSize + SMSS).
#[test]
fn newreno__fast_retransmit_partial_ack_and_exit() {
    let mut c = reno_established();
    assert_eq!(c.send(&K[..4096]), Ok(4096));
    assert_eq!(c.send(&K[..1264]), Ok(1264));
    assert_eq!(sent(&mut c, 20).len(), 10);
    for i in 0..2 {
        deliver(&mut c, 30 + i, ack_win(1001, 64240));
        expect_nothing(&mut c, 30 + i);
    }
    deliver(&mut c, 32, ack_win(1001, 64240));
    assert!(c.in_recovery());
    assert_eq!(c.ssthresh(), 2680);
    assert_eq!(c.cwnd(), 2680 + 3 * 536);
    expect_out(
        &mut c,
        32,
        &["Flags [.], seq 1001:1537, ack 5001, win 65535, length 536"],
    );
    deliver(&mut c, 33, ack_win(1001, 64240));
    assert_eq!(c.cwnd(), 2680 + 4 * 536);
    expect_nothing(&mut c, 33);
    // Partial: 1001..2609 arrived, 2609 is the next hole.
    deliver(&mut c, 50, ack_win(2609, 64240));
    assert!(c.in_recovery());
    assert_eq!(c.cwnd(), 2680 + 4 * 536 - 1608 + 536);
    expect_out(
        &mut c,
        50,
        &["Flags [.], seq 2609:3145, ack 5001, win 65535, length 536"],
    );
    deliver(&mut c, 70, ack_win(6361, 64240));
    assert!(!c.in_recovery());
    assert_eq!(c.cwnd(), 1072);
    assert_eq!(c.poll_timeout(), None);
}

fn sack_conn() -> Connection {
    established_with(
        Config {
            sack_permitted: true,
            ..config()
        },
        vec![TcpOption::SackPermitted],
    )
}

/// RFC 6675 with three holes: the scoreboard records the blocks, the
/// holes below the IsLost boundary are all retransmitted within
/// cwnd - pipe, and nothing SACKed is sent again.
#[test]
fn sack__scoreboard_drives_retransmission_of_every_hole() {
    let mut c = established_with(
        Config {
            sack_permitted: true,
            cc: CongestionControl::Reno,
            ..config()
        },
        vec![TcpOption::SackPermitted],
    );
    assert_eq!(c.send(&K[..4096]), Ok(4096));
    assert_eq!(c.send(&K[..1264]), Ok(1264));
    assert_eq!(sent(&mut c, 20).len(), 10);
    // Holes: 1001:1537, 2073:2609, 3145:3681.
    deliver(&mut c, 30, ack_sack(1001, &[(1537, 2073)]));
    deliver(&mut c, 31, ack_sack(1001, &[(2609, 3145), (1537, 2073)]));
    expect_nothing(&mut c, 31);
    assert!(!c.in_recovery(), "two SACKed segments: nothing lost yet");
    deliver(
        &mut c,
        32,
        ack_sack(1001, &[(3681, 6361), (2609, 3145), (1537, 2073)]),
    );
    assert!(c.in_recovery());
    assert_eq!(
        c.sacked_ranges(),
        [
            (SeqNum(1537), SeqNum(2073)),
            (SeqNum(2609), SeqNum(3145)),
            (SeqNum(3681), SeqNum(6361))
        ]
    );
    assert_eq!(c.cwnd(), 2680);
    assert_eq!(
        sent(&mut c, 32),
        [
            "Flags [.], seq 1001:1537, ack 5001, win 65535, length 536",
            "Flags [.], seq 2073:2609, ack 5001, win 65535, length 536",
            "Flags [.], seq 3145:3681, ack 5001, win 65535, length 536",
        ]
    );
    // A partial ACK: the scoreboard shrinks; no retransmission repeats.
    deliver(&mut c, 40, ack_sack(2609, &[(3681, 6361), (2609, 3145)]));
    assert!(c.in_recovery());
    expect_nothing(&mut c, 40);
    deliver(&mut c, 41, ack_sack(6361, &[]));
    assert!(!c.in_recovery());
    assert_eq!(c.sacked_ranges(), []);
    assert_eq!(c.poll_timeout(), None);
}

/// SACK blocks outside SND.UNA..SND.MAX are ignored (RFC 2018 §4).
#[test]
fn sack__bogus_blocks_are_ignored() {
    let mut c = sack_conn();
    assert_eq!(c.send(&K[..1072]), Ok(1072));
    let _ = sent(&mut c, 20);
    deliver(&mut c, 30, ack_sack(1001, &[(900, 1000), (2073, 3000)]));
    assert_eq!(c.sacked_ranges(), []);
    assert_eq!(c.state(), State::Established);
}

/// RFC 5961 during a transfer, with data in flight both ways and a hole
/// in the reassembly queue: an in-window RST not at RCV.NXT, an in-window
/// SYN and data whose ACK is far below SND.UNA draw challenge ACKs and
/// change nothing; the exact RST still resets.
#[test]
fn rfc_5961_holds_during_bulk_transfer() {
    let mut c = sack_conn();
    assert_eq!(c.send(&K[..4096]), Ok(4096));
    assert_eq!(sent(&mut c, 20).len(), 8);
    deliver(&mut c, 21, data(REMOTE_ISS + 1001, &K[..500]));
    let _ = sent(&mut c, 21);
    events(&mut c);
    deliver(&mut c, 22, seg(REMOTE_ISS + 2000, None, Flags::RST, b""));
    deliver(&mut c, 23, seg(REMOTE_ISS + 3000, None, Flags::SYN, b""));
    deliver(
        &mut c,
        24,
        seg(
            REMOTE_ISS + 1,
            Some(LOCAL_ISS.wrapping_sub(100_000)),
            Flags::NONE,
            &K[..100],
        ),
    );
    assert_eq!(
        drops(&mut c),
        [
            DropReason::RstNotExact,
            DropReason::SynInWindow,
            DropReason::AckOutOfRange
        ]
    );
    // One challenge ACK owed; the held data and the queue are untouched.
    assert_eq!(
        sent(&mut c, 24),
        ["Flags [.], ack 5001, win 65535, options [nop,nop,sack 1 {6001:6501}], length 0"]
    );
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.reassembly_len(), 500);
    assert_eq!(c.recv_queue_len(), 0);
    assert_eq!(c.send_queue_len(), 4096);
    deliver(&mut c, 25, seg(REMOTE_ISS + 1, None, Flags::RST, b""));
    assert_eq!(c.state(), State::Closed);
}

/// RFC 1122 §4.2.3.6: off by default; when on, a silent connection is
/// probed with <SEQ=SND.NXT-1> after the idle time, an answer restarts
/// the idle time, and unanswered probes end it.
#[test]
fn keepalive__probes_after_idle_and_gives_up() {
    use nettool::tcp::Keepalive;
    assert_eq!(Config::default().keepalive, None);
    let mut c = established_with(
        Config {
            keepalive: Some(Keepalive {
                idle: Duration::from_secs(10),
                interval: Duration::from_secs(1),
                probes: 3,
            }),
            ..config()
        },
        vec![],
    );
    assert_eq!(c.poll_timeout(), Some(at(10_010)));
    let probe = |c: &mut Connection, ms| {
        c.handle_timeout(at(ms));
        let s = c.poll_transmit(at(ms)).expect("a probe");
        assert_eq!(line(&s), "Flags [.], ack 5001, win 65535, length 0");
        assert_eq!(s.seq, SeqNum(LOCAL_ISS), "SND.NXT - 1");
        assert!(c.poll_transmit(at(ms)).is_none());
    };
    probe(&mut c, 10_010);
    // Answered: the idle time starts again.
    deliver(&mut c, 10_020, ack_win(LOCAL_ISS + 1, 64240));
    assert_eq!(c.poll_timeout(), Some(at(20_020)));
    for t in [20_020, 21_020, 22_020] {
        probe(&mut c, t);
        assert_eq!(c.state(), State::Established);
    }
    expect_nothing(&mut c, 23_020);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(
        events(&mut c).last(),
        Some(&Event::Closed(Reason::TimedOut))
    );
}

/// RFC 5681 §3.1 after a loss: slow start below ssthresh (here 2680
/// after NewReno recovery), then congestion avoidance: one SMSS per
/// cwnd's worth of acknowledged octets.
#[test]
fn cwnd__congestion_avoidance_above_ssthresh() {
    let mut c = reno_established();
    assert_eq!(c.send(&K[..4096]), Ok(4096));
    assert_eq!(c.send(&K[..1264]), Ok(1264));
    let _ = sent(&mut c, 20);
    for i in 0..3 {
        deliver(&mut c, 30 + i, ack_win(1001, 64240));
    }
    let _ = sent(&mut c, 33);
    deliver(&mut c, 40, ack_win(6361, 64240));
    assert_eq!((c.cwnd(), c.ssthresh()), (1072, 2680));
    assert_eq!(c.send(&K[..4096]), Ok(4096));
    assert_eq!(c.send(&K[..4096]), Ok(4096));
    let mut una = 6361u32;
    let mut t = 50;
    let mut ack = |c: &mut Connection, n: u32| {
        let _ = sent(c, t);
        una += n;
        t += 1;
        deliver(c, t, ack_win(una, 64240));
        c.cwnd()
    };
    // Slow start: +min(acked, 2*SMSS) per ACK, overshooting ssthresh once.
    assert_eq!(ack(&mut c, 1072), 2144);
    assert_eq!(ack(&mut c, 1072), 3216);
    // Congestion avoidance: 3216 octets acknowledged grow cwnd by 536.
    assert_eq!(ack(&mut c, 1072), 3216);
    assert_eq!(ack(&mut c, 1072), 3216);
    assert_eq!(ack(&mut c, 1072), 3752);
    assert_eq!(ack(&mut c, 536), 3752);
}

/// RFC 5681 §3.1 / RFC 6298 §5.7: after a retransmitted SYN the initial
/// window is one segment.
#[test]
fn cwnd__one_segment_after_a_lost_syn() {
    let mut c = conn_syn_sent();
    assert_eq!(sent(&mut c, 1000).len(), 1, "SYN retransmitted");
    deliver(
        &mut c,
        1010,
        seg(REMOTE_ISS, Some(LOCAL_ISS + 1), Flags::SYN, b""),
    );
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.cwnd(), 536);
    assert_eq!(c.send(&K[..2000]), Ok(2000));
    // One segment (it carries the ACK of the SYN,ACK too).
    assert_eq!(
        sent(&mut c, 1010),
        ["Flags [.], seq 1001:1537, ack 5001, win 65535, length 536"]
    );
}

/// RFC 5961 §7: a blind attacker's RSTs, SYNs and bad ACKs draw one
/// challenge ACK per 500 ms (Linux's `tcp_invalid_ratelimit`), however
/// many arrive; each is dropped and reported all the same, and the
/// connection carries on.
#[test]
fn rfc_5961__challenge_acks_are_rate_limited() {
    use nettool::tcp::CHALLENGE_ACK_INTERVAL;
    assert_eq!(CHALLENGE_ACK_INTERVAL, Duration::from_millis(500));
    let mut c = conn_established();
    let nxt = c.tcb().rcv.nxt.get();
    let forged = [
        seg(nxt + 100, None, Flags::RST, b""),
        seg(nxt + 200, None, Flags::SYN, b""),
        seg(
            nxt,
            Some(LOCAL_ISS.wrapping_sub(1_000_000)),
            Flags::NONE,
            b"x",
        ),
    ];
    // 300 forged segments over 1.2 s of the virtual clock: challenge ACKs
    // go out at 0 ms, 500 ms and 1000 ms.
    let mut challenges = Vec::new();
    for i in 0..300u64 {
        let t = 1000 + i * 4;
        deliver(&mut c, t, forged[i as usize % 3].clone());
        let rcv_nxt = c.tcb().rcv.nxt;
        for s in std::iter::from_fn(|| c.poll_transmit(at(t))) {
            assert_eq!(s.ack, Some(rcv_nxt), "{s:?}");
            challenges.push(t);
        }
    }
    assert_eq!(challenges, [1000, 1500, 2000]);
    assert_eq!(c.challenge_acks_suppressed(), 297);
    assert_eq!(drops(&mut c).len(), 300);
    assert_eq!(c.state(), State::Established);
    // The real peer's data is taken and acknowledged as before.
    deliver(&mut c, 2300, data(nxt, b"real"));
    assert_eq!(drops(&mut c), []);
    assert_eq!(c.recv_queue_len(), 4);
}

/// RFC 7323 §2.3: a shift above 14 is taken as 14 (Linux logs it and
/// clamps), from a SYN,ACK as from a SYN; the hostile-peer suite sends
/// 15 on data segments too, where the option means nothing.
#[rstest]
fn window_scale_above_14_is_clamped(#[values(15, 255)] shift: u8) {
    let mut c = Connection::connect(at(0), Config::default(), LOCAL, REMOTE, SeqNum(LOCAL_ISS));
    let _ = c.poll_transmit(at(0));
    let syn_ack = TcpRepr {
        options: vec![TcpOption::Nop, TcpOption::WindowScale(shift)],
        ..seg(REMOTE_ISS, Some(LOCAL_ISS + 1), Flags::SYN, b"")
    };
    deliver(&mut c, 5, syn_ack);
    assert_eq!(c.tcb().snd.wscale, 14);
    // A window of 2 then means 2 << 14.
    deliver(
        &mut c,
        6,
        TcpRepr {
            window: 2,
            ..seg(REMOTE_ISS + 1, Some(LOCAL_ISS + 1), Flags::NONE, b"")
        },
    );
    assert_eq!(c.tcb().snd.wnd, 2 << 14);
}
