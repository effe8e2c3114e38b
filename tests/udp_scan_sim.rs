//! `nettool scan --udp` with several targets, on the in-memory link and
//! its virtual clock: no root, no namespace. Two simulated Linux hosts,
//! each with its own ICMP token bucket for us (a burst of 6, then one a
//! second, as `icmp_ratelimit` keeps it per destination): an echo service
//! on port 7, silence on 9, port unreachable elsewhere. Their one-at-a-time
//! phases overlap, so two hosts take about as long as one.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use clap::Parser;
use nettool::cli::{Cli, Command};
use nettool::clock::Clock;
use nettool::cmd::probe::scan_over;
use nettool::cmd::{Captured, Given};
use nettool::link::mem::{MemLink, Responder, VirtualClock};
use nettool::outcome::Outcome;
use nettool::setup::Path;
use nettool::time::Instant;
use nettool::wire::MacAddr;
use nettool::wire::ethernet::{self, EthernetRepr};
use nettool::wire::ipv4::{IpProtocol, Ipv4Repr};
use nettool::wire::tcp::ChecksumMode;
use nettool::wire::testing;
use nettool::wire::udp::UdpRepr;
use serde_json::Value;

const US_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const PEER_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const US: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 9, 0, 1), 40000);
const B: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const C: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 3);
const RTT: Duration = Duration::from_micros(250);

/// One host's ICMP bucket for us.
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// B and C, each limited on its own; nobody else answers.
#[derive(Default)]
struct Hosts {
    buckets: HashMap<Ipv4Addr, Bucket>,
}

impl Responder for Hosts {
    fn on_frame(&mut self, now: Instant, sent: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        let Ok((_, body)) = EthernetRepr::parse(sent) else {
            return Vec::new();
        };
        let Ok((ip, _)) = Ipv4Repr::parse(body) else {
            return Vec::new();
        };
        if ![B, C].contains(&ip.dst) || ip.protocol != IpProtocol::Udp {
            return Vec::new();
        }
        let (_, _, udp) = UdpRepr::from_frame(sent, ChecksumMode::Verify).unwrap();
        match udp.dst_port {
            9 => Vec::new(),
            7 => {
                let back = UdpRepr {
                    src_port: 7,
                    dst_port: udp.src_port,
                    payload: udp.payload,
                };
                let rip = Ipv4Repr::new(ip.dst, ip.src, IpProtocol::Udp, 0);
                vec![(RTT, back.to_frame(PEER_MAC, US_MAC, &rip))]
            }
            _ => {
                let b = self.buckets.entry(ip.dst).or_insert(Bucket {
                    tokens: 6.0,
                    last: now,
                });
                b.tokens = (b.tokens + (now - b.last).as_secs_f64()).min(6.0);
                b.last = now;
                if b.tokens < 1.0 {
                    return Vec::new();
                }
                b.tokens -= 1.0;
                let msg = testing::icmp_error(3, 3, &sent[ethernet::HEADER_LEN..]);
                let frame = testing::ipv4_frame(
                    (PEER_MAC, US_MAC),
                    (ip.dst, ip.src),
                    IpProtocol::Icmp,
                    &msg,
                );
                vec![(RTT, frame)]
            }
        }
    }
}

/// `nettool scan --udp ARGV` against B and C: the outcome, stdout and
/// how long it took on the virtual clock.
fn scan(argv: &[&str]) -> (Outcome, String, Duration) {
    let mut all = vec!["nettool", "scan", "--udp"];
    all.extend(argv);
    let Command::Scan(args) = Cli::try_parse_from(all).unwrap().command else {
        unreachable!()
    };
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone()).with(Hosts::default());
    let mut captured = Captured::default();
    let path = Path::simulated(US_MAC, *US.ip(), B, PEER_MAC);
    let given = Given {
        path: &path,
        local: US.into(),
        link: &mut link,
        clock: &mut clock.clone(),
    };
    let start = clock.clone().now();
    let outcome = scan_over(&args, given, &mut captured.env()).unwrap();
    let took = clock.clone().now() - start;
    (outcome, captured.stdout(), took)
}

fn want(port: u64) -> &'static str {
    match port {
        7 => "open",
        9 => "open|filtered",
        _ => "closed",
    }
}

#[test]
fn two_rate_limited_hosts_are_scanned_exactly_side_by_side() {
    let (outcome, out, took) = scan(&["--json", "10.9.0.2", "10.9.0.3", "1-20"]);
    assert_eq!(outcome, Outcome::Success, "{out}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for host in ["10.9.0.2", "10.9.0.3"] {
        let got: Vec<(u64, &str)> = lines
            .iter()
            .filter(|v| v["event"] == "port" && v["ip"] == host)
            .map(|v| (v["port"].as_u64().unwrap(), v["outcome"].as_str().unwrap()))
            .collect();
        let expected: Vec<(u64, &str)> = (1..=20).map(|p| (p, want(p))).collect();
        assert_eq!(got, expected, "{host}: {out}");
    }
    let starts: Vec<&Value> = lines.iter().filter(|v| v["event"] == "start").collect();
    assert_eq!(starts.len(), 2, "{out}");
    let results: Vec<&Value> = lines.iter().filter(|v| v["event"] == "result").collect();
    assert_eq!(results.len(), 3, "one per host, one over all: {out}");
    let last = results[2];
    assert_eq!(last["targets"], 2, "{out}");
    assert_eq!(last["down"], 0, "{out}");
    assert_eq!(last["open"], 2, "{out}");
    // 18 closed ports per host, 6 from each burst, 12 at one a second:
    // about 12 s side by side (one after the other: 24 s).
    let secs = took.as_secs_f64();
    assert!((11.0..16.0).contains(&secs), "took {secs} s: {out}");
}

#[test]
fn each_host_gets_its_block_and_a_line_over_all() {
    let (outcome, out, _) = scan(&["10.9.0.2", "10.9.0.3", "--ports", "7,9,30-31"]);
    assert_eq!(outcome, Outcome::Success, "{out}");
    let heads: Vec<&str> = out.lines().filter(|l| l.starts_with("SCAN ")).collect();
    assert_eq!(heads.len(), 2, "{out}");
    assert!(heads[0].starts_with("SCAN 10.9.0.2 UDP: 4 ports"), "{out}");
    assert!(heads[1].starts_with("SCAN 10.9.0.3 UDP: 4 ports"), "{out}");
    let summaries: Vec<&str> = out.lines().filter(|l| l.starts_with("--- ")).collect();
    assert_eq!(summaries.len(), 2, "{out}");
    for s in summaries {
        assert!(
            s.contains("1 open, 2 closed, 0 filtered, 1 open|filtered"),
            "{s}"
        );
        assert!(s.contains("side by side with 1 other host"), "{s}");
    }
    assert!(
        out.contains("=== 2 targets: 2 with an open port, 0 without"),
        "{out}"
    );
}

#[test]
fn one_host_keeps_its_single_block() {
    let (outcome, out, _) = scan(&["10.9.0.3", "7,40"]);
    assert_eq!(outcome, Outcome::Success, "{out}");
    assert!(!out.contains("==="), "{out}");
    assert!(!out.contains("side by side"), "{out}");
}

#[test]
fn a_udp_scan_without_ports_says_how_to_give_them() {
    let mut all = vec!["nettool", "scan", "--udp", "10.9.0.3"];
    let Command::Scan(args) = Cli::try_parse_from(all.drain(..)).unwrap().command else {
        unreachable!()
    };
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone()).with(Hosts::default());
    let mut captured = Captured::default();
    let path = Path::simulated(US_MAC, *US.ip(), B, PEER_MAC);
    let given = Given {
        path: &path,
        local: US.into(),
        link: &mut link,
        clock: &mut clock.clone(),
    };
    let err = scan_over(&args, given, &mut captured.env()).unwrap_err();
    assert!(err.to_string().contains("PORTS"), "{err}");
}
