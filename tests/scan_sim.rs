//! `nettool scan` as a whole (arguments in, the lines a user reads out,
//! the outcome) on the in-memory link and its virtual clock: no root, no
//! namespace, exact timings. The scripted peer listens on one port,
//! answers RST on the others, drops SYNs to one and has a router say
//! "port unreachable" for another.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use clap::Parser;
use nettool::cli::{Cli, Command, ScanArgs};
use nettool::cmd::probe::scan_over;
use nettool::cmd::{Captured, Given};
use nettool::link::mem::{MemLink, Responder, VirtualClock};
use nettool::outcome::Outcome;
use nettool::setup::Path;
use nettool::time::Instant;
use nettool::wire::MacAddr;
use nettool::wire::SeqNum;
use nettool::wire::ethernet;
use nettool::wire::ipv4::{IpProtocol, Ipv4Repr};
use nettool::wire::tcp::{ChecksumMode, Flags, TcpRepr};
use nettool::wire::testing;
use rstest::rstest;

const US_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const PEER_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const US: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 9, 0, 1), 40000);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 254);
const OPEN: u16 = 80;
// Every other port is closed: RST.
const FILTERED: u16 = 82;
const UNREACHABLE: u16 = 83;
/// Closed, but its RST takes [`SLOW_RTT`].
const SLOW: u16 = 84;
const SLOW_RTT: Duration = Duration::from_secs(2);
/// The round trip: the in-memory link shows a frame to the peer the
/// moment it leaves, and the answer arrives this much later.
const RTT: Duration = Duration::from_micros(250);
/// The peer's initial sequence number.
const PEER_ISS: u32 = 7_000_000;

/// A host as a kernel answers SYNs, plus a router in front of one port.
#[derive(Default)]
struct Peer {
    /// RSTs nettool sent the open port (its half-open connections).
    resets: std::rc::Rc<std::cell::Cell<u32>>,
}

/// `body` from `from` to us, in a frame from the peer.
fn ip_frame(from: Ipv4Addr, protocol: IpProtocol, body: &[u8]) -> Vec<u8> {
    testing::ipv4_frame((PEER_MAC, US_MAC), (from, *US.ip()), protocol, body)
}

/// ICMP port unreachable from `router`, quoting the probe's IP header
/// and the first 8 bytes of its TCP header.
fn unreachable(router: Ipv4Addr, probe: &[u8]) -> Vec<u8> {
    let msg = testing::icmp_error(3, 3, &probe[ethernet::HEADER_LEN..]);
    ip_frame(router, IpProtocol::Icmp, &msg)
}

impl Responder for Peer {
    fn on_frame(&mut self, _now: Instant, sent: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        let Ok((_, ip, seg)) = TcpRepr::from_frame(sent, ChecksumMode::Verify) else {
            return Vec::new();
        };
        if ip.dst != PEER {
            // Nobody is at any other address.
            return Vec::new();
        }
        if seg.flags.contains(Flags::RST) {
            self.resets.set(self.resets.get() + 1);
            return Vec::new();
        }
        let answer = |flags, seq, rtt| {
            let tcp = TcpRepr {
                src_port: seg.dst_port,
                dst_port: seg.src_port,
                seq: SeqNum(seq),
                ack: Some(seg.seq + (1 + seg.payload.len() as u32)),
                flags,
                window: if flags == Flags::RST { 0 } else { 65160 },
                urgent: 0,
                options: vec![],
                payload: &[],
            };
            let back = Ipv4Repr::new(ip.dst, ip.src, IpProtocol::Tcp, tcp.buffer_len());
            vec![(rtt, tcp.to_frame(PEER_MAC, US_MAC, &back))]
        };
        match seg.dst_port {
            OPEN => answer(Flags::SYN, PEER_ISS, RTT),
            FILTERED => Vec::new(),
            UNREACHABLE => vec![(RTT, unreachable(ROUTER, sent))],
            SLOW => answer(Flags::RST, 0, SLOW_RTT),
            _ => answer(Flags::RST, 0, RTT),
        }
    }
}

fn path() -> Path {
    Path::simulated(US_MAC, *US.ip(), PEER, PEER_MAC)
}

/// What a run gave: the outcome, stdout, the frames sent and when.
struct Ran {
    outcome: Outcome,
    out: String,
    sent: Vec<(Instant, Vec<u8>)>,
    resets: u32,
}

/// Runs `nettool scan ARGS` against the peer.
fn scan(argv: &[&str]) -> Ran {
    let mut all = vec!["nettool", "scan"];
    all.extend(argv);
    let Command::Scan(args) = Cli::try_parse_from(all).unwrap().command else {
        unreachable!()
    };
    let args: ScanArgs = args;
    let clock = VirtualClock::default();
    let peer = Peer::default();
    let resets = peer.resets.clone();
    let mut link = MemLink::new(clock.clone()).with(peer);
    let mut captured = Captured::default();
    let given = Given {
        path: &path(),
        local: US.into(),
        link: &mut link,
        clock: &mut clock.clone(),
    };
    let outcome = scan_over(&args, given, &mut captured.env()).unwrap();
    Ran {
        outcome,
        out: captured.stdout(),
        sent: link.sent,
        resets: resets.get(),
    }
}

/// Each frame sent: when (µs), to which port, and whether it was a RST.
fn timeline(r: &Ran) -> Vec<(u64, u16, bool)> {
    r.sent
        .iter()
        .map(|(t, f)| {
            let (_, _, tcp) = TcpRepr::from_frame(f, ChecksumMode::Verify).unwrap();
            (
                t.total_micros(),
                tcp.dst_port,
                tcp.flags.contains(Flags::RST),
            )
        })
        .collect()
}

const TABLE: [&str; 7] = [
    "PORT       STATE     REASON",
    "79/tcp     closed    reset",
    "80/tcp     open      syn-ack",
    "81/tcp     closed    reset",
    "82/tcp     filtered  no-response",
    "83/tcp     filtered  port unreachable (type 3, code 3) from 10.9.0.254",
    "84/tcp     filtered  no-response",
];

#[test]
fn a_fixed_rate_scan_keeps_its_schedule_to_the_microsecond() {
    let r = scan(&[
        "--rate",
        "1000",
        "--retries",
        "1",
        "--timeout",
        "100ms",
        "10.9.0.2",
        "79-84",
    ]);
    assert_eq!(r.outcome, Outcome::Success, "{}", r.out);
    let mut want =
        vec!["SCAN 10.9.0.2: 6 ports from 10.9.0.1:40000 on sim0, at 1000/s, 1 retry".to_owned()];
    want.extend(TABLE.map(str::to_owned));
    // The last try (84's second, at 105 ms) waits out its 100 ms.
    want.push(
        "--- 6 of 6 ports in 205.000 ms: 1 open, 2 closed, 3 filtered; 8 SYNs sent, at 1000/s"
            .to_owned(),
    );
    assert_eq!(r.out.lines().collect::<Vec<_>>(), want);
    // A SYN a millisecond; the open port's SYN-ACK (at 1.250 ms) is reset
    // once the answers waiting are read; the silent ports asked again
    // when their first try times out.
    assert_eq!(
        timeline(&r),
        [
            (0, 79, false),
            (1000, 80, false),
            (1251, 80, true),
            (2000, 81, false),
            (3000, 82, false),
            (4000, 83, false),
            (5000, 84, false),
            (103_000, 82, false),
            (105_000, 84, false),
        ]
    );
    assert_eq!(r.resets, 1);
}

#[test]
fn an_adaptive_scan_finds_the_same_and_asks_silent_ports_three_times() {
    let r = scan(&["10.9.0.2", "79-84"]);
    assert_eq!(r.outcome, Outcome::Success, "{}", r.out);
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(
        lines[0],
        "SCAN 10.9.0.2: 6 ports from 10.9.0.1:40000 on sim0, adaptive 100-100000/s, 2 retries"
    );
    assert_eq!(lines[1..8], TABLE);
    assert!(
        lines[8].starts_with("--- 6 of 6 ports in ")
            && lines[8].contains(": 1 open, 2 closed, 3 filtered; 10 SYNs sent, peak "),
        "{}",
        r.out
    );
    let tries = |port| {
        timeline(&r)
            .iter()
            .filter(|(_, p, rst)| *p == port && !rst)
            .count()
    };
    assert_eq!([79, 80, 81, 82, 83, 84].map(tries), [1, 1, 1, 3, 1, 3]);
}

#[test]
fn json_gives_each_port_its_reason_tries_and_round_trip() {
    let r = scan(&["--json", "--rate", "1000", "10.9.0.2", "80-83"]);
    assert_eq!(r.outcome, Outcome::Success, "{}", r.out);
    let lines: Vec<serde_json::Value> = r
        .out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(names, ["start", "port", "port", "port", "port", "result"]);
    let port = |i: usize| {
        let l = &lines[i];
        (
            l["port"].as_u64().unwrap(),
            l["outcome"].as_str().unwrap().to_owned(),
            l["tries"].as_u64().unwrap(),
            l["rtt_us"].as_u64(),
        )
    };
    assert_eq!(port(1), (80, "open".into(), 1, Some(250)));
    assert_eq!(port(2), (81, "closed".into(), 1, Some(250)));
    assert_eq!(port(3), (82, "filtered".into(), 3, None));
    assert_eq!(port(4), (83, "filtered".into(), 1, Some(250)));
    // The filtered port's third try left at 202 ms and waited 100 ms:
    // the floor (`--min-timeout`), as answers showed a short round trip.
    assert_eq!(lines[5]["t"], 0.302);
    assert_eq!(lines[5]["outcome"], "open");
    assert_eq!(lines[5]["exit"], 0);
    assert_eq!(
        (lines[5]["sent"].as_u64(), lines[5]["open"].as_u64()),
        (Some(6), Some(1))
    );
}

#[rstest]
#[case::closed(
    "81",
    "81/tcp     closed    reset",
    "0 open, 1 closed, 0 filtered; 1 SYN sent"
)]
#[case::filtered(
    "82",
    "82/tcp     filtered  no-response",
    "0 open, 0 closed, 1 filtered; 3 SYNs sent"
)]
fn no_open_port_is_a_negative_answer(#[case] port: &str, #[case] row: &str, #[case] counts: &str) {
    let r = scan(&["--rate", "1000", "10.9.0.2", port]);
    assert_eq!(r.outcome, Outcome::Negative, "{}", r.out);
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(lines[1..3], ["PORT       STATE     REASON", row]);
    assert!(lines[3].contains(counts), "{}", r.out);
    assert_eq!(lines.len(), 4, "{}", r.out);
}

#[test]
fn a_long_list_sums_up_its_most_common_state() {
    let r = scan(&["10.9.0.2", "1-1000"]);
    assert_eq!(r.outcome, Outcome::Success, "{}", r.out);
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(
        lines[1..7],
        [
            "PORT       STATE     REASON",
            "80/tcp     open      syn-ack",
            "82/tcp     filtered  no-response",
            "83/tcp     filtered  port unreachable (type 3, code 3) from 10.9.0.254",
            "84/tcp     filtered  no-response",
            "Not shown: 996 closed ports",
        ]
    );
    assert!(
        lines[7].contains("1 open, 996 closed, 3 filtered; 1004 SYNs sent"),
        "{}",
        r.out
    );
}

/// Several targets are scanned one after another, each with its table,
/// then one line over all; the exit is 0 if any target has an open port.
#[test]
fn several_targets_each_get_a_table_then_one_line_over_all() {
    let r = scan(&[
        "--rate",
        "1000",
        "--retries",
        "0",
        "-w",
        "100ms",
        "10.9.0.2",
        "10.9.0.3",
        "80-81",
    ]);
    assert_eq!(r.outcome, Outcome::Success, "{}", r.out);
    let lines: Vec<&str> = r.out.lines().collect();
    assert!(lines[0].starts_with("SCAN 10.9.0.2: 2 ports"), "{}", r.out);
    assert!(
        lines.contains(&""),
        "a blank line between targets:\n{}",
        r.out
    );
    let second = lines
        .iter()
        .position(|l| l.starts_with("SCAN 10.9.0.3: 2 ports"));
    assert!(second.is_some(), "{}", r.out);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(": 0 open, 0 closed, 2 filtered;")),
        "{}",
        r.out
    );
    assert_eq!(
        lines.last().copied(),
        Some("=== 2 targets: 1 with an open port, 1 without")
    );
}

#[test]
fn several_targets_in_json_carry_their_address_and_a_last_result_over_all() {
    let r = scan(&[
        "--json",
        "--rate",
        "1000",
        "--retries",
        "0",
        "-w",
        "100ms",
        "10.9.0.3",
        "10.9.0.2",
        "80",
    ]);
    assert_eq!(r.outcome, Outcome::Success, "{}", r.out);
    let lines: Vec<serde_json::Value> = r
        .out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["event"].as_str().unwrap().to_owned(),
                l["ip"].as_str().unwrap_or("-").to_owned(),
                l["outcome"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    let s = |e: &str, ip: &str, o: &str| (e.to_owned(), ip.to_owned(), o.to_owned());
    assert_eq!(
        summary,
        [
            s("start", "10.9.0.3", "-"),
            s("port", "10.9.0.3", "filtered"),
            s("result", "10.9.0.3", "filtered"),
            s("start", "10.9.0.2", "-"),
            s("port", "10.9.0.2", "open"),
            s("result", "10.9.0.2", "open"),
            s("result", "-", "open"),
        ]
    );
    assert_eq!(lines[2]["exit"], 1, "the first target's own exit");
    let last = lines.last().unwrap();
    assert_eq!(
        (last["targets"].as_u64(), last["open"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(last["exit"], 0);
}

#[test]
fn several_targets_none_open_exit_1() {
    let r = scan(&[
        "--rate",
        "1000",
        "--retries",
        "0",
        "-w",
        "100ms",
        "10.9.0.3",
        "10.9.0.4",
        "80",
    ]);
    assert_eq!(r.outcome, Outcome::Negative, "{}", r.out);
    assert_eq!(
        r.out.lines().last(),
        Some("=== 2 targets: 0 with an open port, 2 without")
    );
}
