//! `nettool probe --udp`, `probe --icmp` and `ping` with several targets,
//! as the TCP probe takes them, on the in-memory link and its virtual
//! clock: no root, no namespace. The scripted peer 10.9.0.2 answers echo
//! requests and echoes datagrams to port 7; nobody is at 10.9.0.3. Over
//! IPv6, the peer fd00:9::2 answers ICMPv6 echo requests, echoes
//! datagrams to port 7 and answers others with ICMPv6 port unreachable.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use clap::Parser;
use nettool::cli::{Cli, Command, nmap_spellings};
use nettool::cmd::probe::probe_over;
use nettool::cmd::{Captured, Env, Given};
use nettool::link::mem::{MemLink, Responder, VirtualClock};
use nettool::outcome::Outcome;
use nettool::setup::Path;
use nettool::time::Instant;
use nettool::wire::MacAddr;
use nettool::wire::ethernet::{EthernetRepr, Protocol};
use nettool::wire::icmp::{IcmpQuery, QueryKind};
use nettool::wire::ipv4::{IpProtocol, Ipv4Repr};
use nettool::wire::ipv6::{Ipv6Repr, NextHeader};
use nettool::wire::tcp::ChecksumMode;
use nettool::wire::testing;
use nettool::wire::udp::UdpRepr;

const US_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const PEER_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const US: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 9, 0, 1), 40000);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const RTT: Duration = Duration::from_micros(250);

/// Echoes ICMP echo requests and UDP datagrams to port 7, at PEER only.
struct Peer;

impl Responder for Peer {
    fn on_frame(&mut self, _now: Instant, sent: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        let Ok((eth, body)) = EthernetRepr::parse(sent) else {
            return Vec::new();
        };
        if eth.protocol == Protocol::Ipv6 {
            return on_packet6(body).into_iter().map(|f| (RTT, f)).collect();
        }
        let Ok((ip, payload)) = Ipv4Repr::parse(body) else {
            return Vec::new();
        };
        if ip.dst != PEER {
            return Vec::new();
        }
        match ip.protocol {
            IpProtocol::Icmp => {
                let Ok(q) = IcmpQuery::parse(payload) else {
                    return Vec::new();
                };
                let reply = IcmpQuery {
                    kind: QueryKind::EchoReply,
                    ..q
                };
                let mut msg = vec![0u8; reply.buffer_len()];
                reply.emit(&mut msg, false);
                let frame =
                    testing::ipv4_frame((PEER_MAC, US_MAC), (PEER, ip.src), IpProtocol::Icmp, &msg);
                vec![(RTT, frame)]
            }
            IpProtocol::Udp => {
                let Ok((_, _, udp)) = UdpRepr::from_frame(sent, ChecksumMode::Verify) else {
                    return Vec::new();
                };
                if udp.dst_port != 7 {
                    return Vec::new();
                }
                let back = UdpRepr {
                    src_port: 7,
                    dst_port: udp.src_port,
                    payload: udp.payload,
                };
                let ip = Ipv4Repr::new(PEER, ip.src, IpProtocol::Udp, 0);
                vec![(RTT, back.to_frame(PEER_MAC, US_MAC, &ip))]
            }
            _ => Vec::new(),
        }
    }
}

const US6: Ipv6Addr = Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, 1);
const PEER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, 2);

/// The peer's answer over IPv6 to `packet`: an echo reply, a datagram
/// back from port 7, or a port unreachable quoting it.
fn on_packet6(packet: &[u8]) -> Option<Vec<u8>> {
    use pnet::packet::icmpv6::{Icmpv6Packet, checksum};
    let (ip, payload) = Ipv6Repr::parse(packet).ok()?;
    if ip.dst != PEER6 {
        return None;
    }
    let icmp6 = |mut msg: Vec<u8>| {
        msg[2..4].fill(0);
        let sum = checksum(&Icmpv6Packet::new(&msg).unwrap(), &PEER6, &ip.src);
        msg[2..4].copy_from_slice(&sum.to_be_bytes());
        Ipv6Repr::new(PEER6, ip.src, NextHeader::Icmpv6, 64, msg.len())
            .frame(PEER_MAC, US_MAC, &msg)
    };
    match ip.next_header {
        NextHeader::Icmpv6 if payload.first() == Some(&128) => {
            let mut reply = payload.to_vec();
            reply[0] = 129;
            Some(icmp6(reply))
        }
        NextHeader::Udp => {
            let udp = UdpRepr::parse_v6(payload, ip.src, ip.dst, ChecksumMode::Verify).ok()?;
            if udp.dst_port != 7 {
                let mut msg = vec![1, 4, 0, 0, 0, 0, 0, 0];
                msg.extend_from_slice(packet);
                return Some(icmp6(msg));
            }
            let back = UdpRepr {
                src_port: 7,
                dst_port: udp.src_port,
                payload: udp.payload,
            };
            let ip = Ipv6Repr::new(PEER6, ip.src, NextHeader::Udp, 64, 0);
            Some(back.to_ipv6_frame(PEER_MAC, US_MAC, &ip))
        }
        _ => None,
    }
}

/// `nettool ARGV` (probe or ping) against the peer: the outcome and
/// stdout, or the error.
fn run(argv: &[&str]) -> anyhow::Result<(Outcome, String)> {
    let mut all = vec!["nettool"];
    all.extend(argv);
    let args = match Cli::try_parse_from(nmap_spellings(all)).unwrap().command {
        Command::Probe(args) => args,
        Command::Ping(args) => args.into_probe(),
        _ => unreachable!(),
    };
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone()).with(Peer);
    let mut captured = Captured::default();
    let (path, local) = if args.targets.iter().any(|t| t.contains("fd00:9::")) {
        let path = Path::simulated(US_MAC, US6, PEER6, PEER_MAC);
        (path, SocketAddr::new(US6.into(), US.port()))
    } else {
        (Path::simulated(US_MAC, *US.ip(), PEER, PEER_MAC), US.into())
    };
    let given = Given {
        path: &path,
        local,
        link: &mut link,
        clock: &mut clock.clone(),
    };
    let interrupt = Default::default();
    let mut env = Env {
        out: &mut captured.out,
        err: &mut captured.err,
        interrupt: &interrupt,
        pcap: None,
        clock: &captured.clock,
    };
    let outcome = probe_over(&args, given, &mut env)?;
    Ok((outcome, captured.stdout()))
}

/// The summary lines (`N probes sent, …`), in order.
fn summaries(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.contains(" sent, ")).collect()
}

#[test]
fn icmp_probes_take_several_targets_one_probe_each_without_a_count() {
    let (outcome, out) = run(&[
        "probe",
        "--icmp",
        "-w",
        "100ms",
        "--interval",
        "10ms",
        "10.9.0.3",
        "10.9.0.2",
    ])
    .unwrap();
    assert_eq!(outcome, Outcome::Success, "{out}");
    let heads: Vec<&str> = out.lines().filter(|l| l.starts_with("PING ")).collect();
    assert_eq!(heads.len(), 2, "{out}");
    assert!(heads[0].starts_with("PING 10.9.0.3 "), "{out}");
    assert!(heads[1].starts_with("PING 10.9.0.2 "), "{out}");
    let sums = summaries(&out);
    assert!(sums[0].starts_with("1 probe sent, 0 answered"), "{out}");
    assert!(sums[1].starts_with("1 probe sent, 1 answered"), "{out}");
    assert_eq!(
        out.lines().last(),
        Some("=== 2 targets: 1 answered, 1 did not"),
        "{out}"
    );
}

#[test]
fn udp_probes_take_several_targets_each_with_its_ports() {
    let (outcome, out) = run(&[
        "probe",
        "--udp",
        "-c",
        "2",
        "-w",
        "100ms",
        "--interval",
        "10ms",
        "10.9.0.2",
        "10.9.0.3:9",
        "10.9.0.2:echo,9",
    ])
    .unwrap();
    assert_eq!(outcome, Outcome::Success, "{out}");
    let heads: Vec<&str> = out.lines().filter(|l| l.starts_with("PROBE ")).collect();
    assert_eq!(heads.len(), 3, "{out}");
    assert!(heads[0].starts_with("PROBE 10.9.0.2 UDP port 7 "), "{out}");
    assert!(heads[1].starts_with("PROBE 10.9.0.3 UDP port 9 "), "{out}");
    assert!(
        heads[2].starts_with("PROBE 10.9.0.2 UDP port 7,9 "),
        "{out}"
    );
    let sums = summaries(&out);
    assert!(sums[0].starts_with("2 probes sent, 2 answered"), "{out}");
    assert!(sums[1].starts_with("2 probes sent, 0 answered"), "{out}");
    assert!(sums[2].starts_with("2 probes sent, 1 answered"), "{out}");
    assert_eq!(
        out.lines().last(),
        Some("=== 3 targets: 2 answered, 1 did not"),
        "{out}"
    );
}

#[test]
fn ping_takes_several_hosts_and_a_list() {
    let list = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(list.path(), "10.9.0.3  # nobody\n10.9.0.2\n").unwrap();
    let file = list.path().to_str().unwrap();
    let (outcome, out) = run(&["ping", "-c", "2", "--interval", "10ms", "-iL", file]).unwrap();
    assert_eq!(outcome, Outcome::Success, "{out}");
    let sums = summaries(&out);
    assert_eq!(sums.len(), 2, "{out}");
    assert!(sums[0].starts_with("2 probes sent, 0 answered"), "{out}");
    assert!(sums[1].starts_with("2 probes sent, 2 answered"), "{out}");
    let (_, out) = run(&[
        "ping",
        "--interval",
        "10ms",
        "10.9.0.2",
        "10.9.0.2",
        "10.9.0.3",
    ])
    .unwrap();
    assert_eq!(summaries(&out).len(), 2, "each address once: {out}");
}

#[test]
fn icmp_targets_with_ports_are_refused() {
    for argv in [
        &["probe", "--icmp", "10.9.0.2", "10.9.0.3:80"][..],
        &["probe", "--icmp", "--dport", "80", "10.9.0.2"][..],
    ] {
        let e = run(argv).unwrap_err();
        assert!(e.to_string().contains("ICMP has no ports"), "{e}");
    }
}

/// `ping` and the UDP probes over IPv6, through the command's whole path
/// on the virtual clock: ICMPv6 echo, a datagram back, a port unreachable.
#[test]
fn ping_and_udp_probes_speak_ipv6() {
    let (outcome, out) = run(&["ping", "-c", "3", "--interval", "10ms", "fd00:9::2"]).unwrap();
    assert_eq!(outcome, Outcome::Success, "{out}");
    assert!(
        out.starts_with("PING fd00:9::2 from fd00:9::1 on sim0: ICMP6 echo request, id "),
        "{out}"
    );
    assert_eq!(out.matches("ICMP6, echo reply").count(), 3, "{out}");
    assert!(out.contains("seq 3, length 64"), "{out}");
    assert!(
        summaries(&out)[0].starts_with("3 probes sent, 3 answered"),
        "{out}"
    );
    let (outcome, out) = run(&[
        "probe",
        "--udp",
        "-c",
        "2",
        "-w",
        "100ms",
        "--interval",
        "10ms",
        "[fd00:9::2]:7,9",
    ])
    .unwrap();
    assert_eq!(outcome, Outcome::Success, "{out}");
    assert!(
        out.contains("fd00:9::2.7 > fd00:9::1.40000: UDP, length 0"),
        "{out}"
    );
    assert!(
        out.contains("port unreachable (ICMPv6 type 1, code 4) from fd00:9::2  probe 2"),
        "{out}"
    );
    assert!(out.contains(": port closed"), "{out}");
    assert!(
        summaries(&out)[0].starts_with("2 probes sent, 2 answered"),
        "{out}"
    );
    // What ICMPv6 lacks is refused, not sent.
    let e = run(&["probe", "--icmp", "--icmp-type", "mask", "fd00:9::2"]).unwrap_err();
    assert!(
        e.to_string().contains("ICMPv6 has no address mask request"),
        "{e}"
    );
}
