//! `nettool probe` as a whole (arguments in, the lines a user reads out,
//! the outcome) on the in-memory link and its virtual clock: no root, no
//! namespace, exact timings. The scripted peer listens on one port,
//! answers RST on another, drops SYNs to a third and has a router say
//! "port unreachable" for a fourth.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use nettool::cli::{Cli, Command, ProbeArgs};
use nettool::cmd::probe::probe_over;
use nettool::cmd::{Captured, Env, Given};
use nettool::link::mem::{MemLink, Responder, VirtualClock};
use nettool::outcome::Outcome;
use nettool::setup::Path;
use nettool::time::Instant;
use nettool::wire::MacAddr;
use nettool::wire::SeqNum;
use nettool::wire::arp::{ArpRepr, Operation};
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
    /// Ask who has our address before the first answer, as a host that
    /// lost its neighbour entry does.
    ask_arp: bool,
    /// ARP replies nettool sent.
    arp_replies: std::rc::Rc<std::cell::Cell<u32>>,
    /// Ctrl-C: the flag raised when the peer sees the Nth probe.
    ctrl_c: Option<(u32, Rc<AtomicBool>)>,
    /// Probes (segments other than RSTs) seen.
    probes: u32,
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
        if let Ok((_, arp)) = ArpRepr::from_frame(sent) {
            let to_us = arp.operation == Operation::Reply && arp.target_ip == PEER;
            if to_us && (arp.sender_ip, arp.sender_mac) == (*US.ip(), US_MAC) {
                self.arp_replies.set(self.arp_replies.get() + 1);
            }
            return Vec::new();
        }
        let Ok((_, ip, seg)) = TcpRepr::from_frame(sent, ChecksumMode::Verify) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if std::mem::take(&mut self.ask_arp) {
            let who_has = ArpRepr::request(PEER_MAC, PEER, *US.ip());
            out.push((RTT / 2, who_has.to_frame(PEER_MAC, MacAddr::broadcast())));
        }
        if seg.flags.contains(Flags::RST) {
            self.resets.set(self.resets.get() + 1);
            return Vec::new();
        }
        if ip.dst != PEER {
            // Nobody is at any other address.
            return out;
        }
        self.probes += 1;
        if let Some((at, flag)) = &self.ctrl_c
            && self.probes == *at
        {
            flag.store(true, Ordering::Relaxed);
            return out;
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
        out.extend(match seg.dst_port {
            OPEN => answer(Flags::SYN, PEER_ISS, RTT),
            FILTERED => Vec::new(),
            UNREACHABLE => vec![(RTT, unreachable(ROUTER, sent))],
            SLOW => answer(Flags::RST, 0, SLOW_RTT),
            _ => answer(Flags::RST, 0, RTT),
        });
        out
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
    arp_replies: u32,
}

/// Runs `nettool probe ARGS` against the peer.
fn probe(argv: &[&str]) -> Ran {
    probe_with(argv, Peer::default())
}

/// Runs `nettool probe ARGS` against `peer`.
fn probe_with(argv: &[&str], peer: Peer) -> Ran {
    let mut all = vec!["nettool", "probe"];
    all.extend(argv);
    let Command::Probe(args) = Cli::try_parse_from(all).unwrap().command else {
        unreachable!()
    };
    let args: ProbeArgs = args;
    let clock = VirtualClock::default();
    let (resets, arp_replies) = (peer.resets.clone(), peer.arp_replies.clone());
    let interrupt = peer
        .ctrl_c
        .as_ref()
        .map(|(_, f)| f.clone())
        .unwrap_or_default();
    let mut link = MemLink::new(clock.clone()).with(peer);
    let mut captured = Captured::default();
    let given = Given {
        path: &path(),
        local: US.into(),
        link: &mut link,
        clock: &mut clock.clone(),
    };
    let mut env = Env {
        out: &mut captured.out,
        err: &mut captured.err,
        interrupt: &interrupt,
        pcap: None,
        clock: &captured.clock,
    };
    let outcome = probe_over(&args, given, &mut env).unwrap();
    Ran {
        outcome,
        out: captured.stdout(),
        sent: link.sent,
        resets: resets.get(),
        arp_replies: arp_replies.get(),
    }
}

const HEADER: &str = "PROBE 10.9.0.2 port {P} from 10.9.0.1 port 40000 on sim0: Flags [S], \
                      40 bytes (10.9.0.1 is not the kernel's)";

fn header(ports: &str) -> String {
    HEADER.replace("{P}", ports)
}

#[test]
fn an_open_port_answers_each_probe_and_each_half_open_connection_is_reset() {
    let r = probe(&[
        "-c",
        "3",
        "--interval",
        "1s",
        "--seq",
        "1000",
        "10.9.0.2:80",
    ]);
    assert_eq!(r.outcome, Outcome::Success, "{}", r.out);
    let syn_ack = "IP 10.9.0.2.80 > 10.9.0.1.40000: Flags [S.], seq 7000000, ack 1001, \
                   win 65160, length 0";
    let reset = "out   Flags [R], seq 1001: nettool resets the half-open connection 40000 > 80";
    let want = [
        header("80"),
        format!("  0.000250 in    {syn_ack}  probe 1 ttl 64 rtt 250 µs: port open"),
        format!("  0.000250 {reset}"),
        format!("  1.000250 in    {syn_ack}  probe 2 ttl 64 rtt 250 µs: port open"),
        format!("  1.000250 {reset}"),
        format!("  2.000250 in    {syn_ack}  probe 3 ttl 64 rtt 250 µs: port open"),
        format!("  2.000250 {reset}"),
        "--- 10.9.0.2 probe statistics ---".to_owned(),
        "3 probes sent, 3 answered, 0.0% loss, in 2.000 s (1 probes/s)".to_owned(),
        "rtt min/avg/max/stddev = 0.250/0.250/0.250/0.000 ms".to_owned(),
        "3 half-open connections reset".to_owned(),
    ];
    assert_eq!(r.out.lines().collect::<Vec<_>>(), want);
    assert_eq!(r.resets, 3);
    // Probes on the interval, each RST as its SYN-ACK arrives.
    let times: Vec<u64> = r.sent.iter().map(|(t, _)| t.total_micros()).collect();
    assert_eq!(times, [0, 250, 1_000_000, 1_000_250, 2_000_000, 2_000_250]);
}

#[rstest]
#[case::closed(
    "81",
    "  0.000250 in    IP 10.9.0.2.81 > 10.9.0.1.40000: Flags [R.], seq 0, ack 1001, win 0, \
     length 0  probe 1 ttl 64 rtt 250 µs: port closed"
)]
#[case::unreachable(
    "83",
    "  0.000250 icmp  port unreachable (type 3, code 3) from 10.9.0.254  probe 1 rtt 250 µs"
)]
fn a_negative_answer_is_still_an_answer(#[case] port: &str, #[case] line: &str) {
    let target = format!("10.9.0.2:{port}");
    let r = probe(&["-c", "1", "--seq", "1000", &target]);
    assert_eq!(r.outcome, Outcome::Success, "{}", r.out);
    let want = [
        header(port),
        line.to_owned(),
        "--- 10.9.0.2 probe statistics ---".to_owned(),
        "1 probe sent, 1 answered, 0.0% loss, in 250 µs".to_owned(),
        "rtt min/avg/max/stddev = 0.250/0.250/0.250/0.000 ms".to_owned(),
    ];
    assert_eq!(r.out.lines().collect::<Vec<_>>(), want);
    assert_eq!(r.resets, 0);
}

/// Ctrl-C is how a probe without -c ends, as ping's: the summary, then
/// exit 0 if a probe was answered and 1 if none was (not 130). The
/// Ctrl-C comes as the peer sees the third probe, two answered before.
#[rstest]
#[case::answered("80", Outcome::Success, "2 answered")]
#[case::silence("82", Outcome::Negative, "0 answered")]
fn ctrl_c_ends_a_probe_as_ping_by_its_answers(
    #[case] port: &str,
    #[case] want: Outcome,
    #[case] summary: &str,
) {
    let peer = Peer {
        ctrl_c: Some((3, Rc::default())),
        ..Peer::default()
    };
    let target = format!("10.9.0.2:{port}");
    let r = probe_with(&["--interval", "100ms", &target], peer);
    assert_eq!(r.outcome, want, "{}", r.out);
    assert!(
        r.out.contains("--- 10.9.0.2 probe statistics ---"),
        "{}",
        r.out
    );
    assert!(r.out.contains(summary), "{}", r.out);
}

#[test]
fn a_filtered_port_is_silence_until_the_wait_ends() {
    let r = probe(&[
        "-c",
        "2",
        "--interval",
        "100ms",
        "-W",
        "500ms",
        "10.9.0.2:82",
    ]);
    assert_eq!(r.outcome, Outcome::Negative, "{}", r.out);
    let want = [
        header("82"),
        "--- 10.9.0.2 probe statistics ---".to_owned(),
        // The second probe's wait ends 100 + 500 ms in.
        "2 probes sent, 0 answered, 100.0% loss, in 600.000 ms (3 probes/s)".to_owned(),
    ];
    assert_eq!(r.out.lines().collect::<Vec<_>>(), want);
}

#[test]
fn ports_are_probed_in_turn_and_each_answer_names_its_probe() {
    let r = probe(&[
        "-c",
        "4",
        "--interval",
        "10ms",
        "-W",
        "100ms",
        "--seq",
        "1000",
        "--id",
        "7",
        "-v",
        "10.9.0.2:80-83",
    ]);
    assert_eq!(r.outcome, Outcome::Success, "{}", r.out);
    let tail = "win 65160, length 0  probe 1 ttl 64 rtt 250 µs: port open";
    let want = [
        header("80-83"),
        "  0.000000 out   probe 1: port 40000 > 80, seq 1000, id 7".to_owned(),
        format!(
            "  0.000250 in    IP 10.9.0.2.80 > 10.9.0.1.40000: Flags [S.], seq 7000000, \
             ack 1001, {tail}"
        ),
        "  0.000250 out   Flags [R], seq 1001: nettool resets the half-open connection \
         40000 > 80"
            .to_owned(),
        "  0.010000 out   probe 2: port 40000 > 81, seq 1000, id 7".to_owned(),
        "  0.010250 in    IP 10.9.0.2.81 > 10.9.0.1.40000: Flags [R.], seq 0, ack 1001, win 0, \
         length 0  probe 2 ttl 64 rtt 250 µs: port closed"
            .to_owned(),
        "  0.020000 out   probe 3: port 40000 > 82, seq 1000, id 7".to_owned(),
        "  0.030000 out   probe 4: port 40000 > 83, seq 1000, id 7".to_owned(),
        "  0.030250 icmp  port unreachable (type 3, code 3) from 10.9.0.254  probe 4 rtt 250 µs"
            .to_owned(),
        "--- 10.9.0.2 probe statistics ---".to_owned(),
        // Probe 3's wait ends last: 20 + 100 ms.
        "4 probes sent, 3 answered, 25.0% loss, in 120.000 ms (33 probes/s)".to_owned(),
        "rtt min/avg/max/stddev = 0.250/0.250/0.250/0.000 ms".to_owned(),
        "1 half-open connection reset".to_owned(),
    ];
    assert_eq!(r.out.lines().collect::<Vec<_>>(), want);
}

#[test]
fn json_lines_carry_the_virtual_times_and_round_trips() {
    let r = probe(&[
        "-c",
        "2",
        "--interval",
        "10ms",
        "--seq",
        "1000",
        "--json",
        "10.9.0.2:81",
    ]);
    assert_eq!(r.outcome, Outcome::Success, "{}", r.out);
    let lines: Vec<serde_json::Value> = r
        .out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(names, ["start", "reply", "reply", "result"]);
    assert_eq!(lines[1]["t"], 0.00025);
    assert_eq!(lines[2]["t"], 0.01025);
    assert_eq!(lines[2]["probe"], 2);
    assert_eq!(lines[1]["rtt_us"], 250);
    assert_eq!(lines[3]["outcome"], "answered");
    assert_eq!(lines[3]["exit"], 0);
    assert_eq!(lines[3]["rtt_avg_us"], 250);
    assert_eq!(lines[3]["sent"], 2);
}

#[test]
fn an_answer_after_the_wait_matches_no_probe() {
    // Probe 1 gives up at 1 s; its RST comes at 2 s, while probe 2
    // (sent at 1.5 s, with a sequence number of its own) waits.
    let r = probe(&["-c", "2", "--interval", "1500ms", "-W", "1s", "10.9.0.2:84"]);
    assert_eq!(r.outcome, Outcome::Negative, "{}", r.out);
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(lines.len(), 5, "{}", r.out);
    assert!(
        lines[1].starts_with(
            "  2.000000 in    IP 10.9.0.2.84 > 10.9.0.1.40000: Flags [R.], seq 0, ack "
        ) && lines[1].ends_with(", win 0, length 0  (answers no outstanding probe)"),
        "{}",
        r.out
    );
    assert_eq!(
        lines[2..],
        [
            "--- 10.9.0.2 probe statistics ---",
            "2 probes sent, 0 answered, 100.0% loss, in 2.500 s (1 probes/s)",
            "1 answer matched no probe",
        ]
    );
}

#[test]
fn with_a_fixed_seq_a_late_answer_goes_to_the_probe_still_waiting() {
    // The same run with `--seq`: both probes expect the same RST, and the
    // oldest one still waiting (probe 2) takes it.
    let r = probe(&[
        "-c",
        "2",
        "--interval",
        "1500ms",
        "-W",
        "1s",
        "--seq",
        "1000",
        "10.9.0.2:84",
    ]);
    assert_eq!(r.outcome, Outcome::Success, "{}", r.out);
    assert!(
        r.out.contains(
            "  2.000000 in    IP 10.9.0.2.84 > 10.9.0.1.40000: Flags [R.], seq 0, ack 1001, \
             win 0, length 0  probe 2 ttl 64 rtt 500.000 ms: port closed"
        ),
        "{}",
        r.out
    );
    assert!(
        r.out
            .contains("2 probes sent, 1 answered, 50.0% loss, in 2.000 s"),
        "{}",
        r.out
    );
}

#[test]
fn an_arp_request_for_an_address_the_kernel_does_not_own_is_answered() {
    let peer = Peer {
        ask_arp: true,
        ..Peer::default()
    };
    let r = probe_with(&["-c", "1", "--seq", "1000", "--json", "10.9.0.2:81"], peer);
    assert_eq!(r.outcome, Outcome::Success, "{}", r.out);
    assert_eq!(r.arp_replies, 1);
    let lines: Vec<serde_json::Value> = r
        .out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(names, ["start", "arp-answered", "reply", "result"]);
    assert_eq!(lines[1]["t"], 0.000125);
    assert_eq!(lines[1]["ip"], "10.9.0.2");
    assert_eq!(lines[1]["mac"], "02:00:00:00:00:02");
    // The answer to the ARP request is the interface's, not a probe: the
    // probe's round trip still runs from its own departure.
    assert_eq!(lines[2]["rtt_us"], 250);
}

/// Several targets: one probe each (no -c), each its own summary, then
/// one line over all; the exit is 0 if any target answered.
#[test]
fn several_targets_get_one_probe_each_and_a_line_over_all() {
    let r = probe(&[
        "-w",
        "100ms",
        "--interval",
        "10ms",
        "10.9.0.3:80",
        "10.9.0.2:http",
    ]);
    assert_eq!(r.outcome, Outcome::Success, "{}", r.out);
    let lines: Vec<&str> = r.out.lines().collect();
    assert!(lines[0].starts_with("PROBE 10.9.0.3 port 80 "), "{}", r.out);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("PROBE 10.9.0.2 port 80 ")),
        "{}",
        r.out
    );
    let sums: Vec<&&str> = lines.iter().filter(|l| l.contains(" sent, ")).collect();
    assert_eq!(sums.len(), 2, "{}", r.out);
    assert!(sums[0].starts_with("1 probe sent, 0 answered"), "{}", r.out);
    assert!(sums[1].starts_with("1 probe sent, 1 answered"), "{}", r.out);
    assert_eq!(
        lines.last().copied(),
        Some("=== 2 targets: 1 answered, 1 did not")
    );
}

#[test]
fn several_targets_in_json_end_with_a_result_over_all() {
    let r = probe(&[
        "--json",
        "-c",
        "2",
        "-w",
        "100ms",
        "--interval",
        "10ms",
        "10.9.0.2:80",
        "10.9.0.3:80",
    ]);
    assert_eq!(r.outcome, Outcome::Success, "{}", r.out);
    let results: Vec<serde_json::Value> = r
        .out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["event"] == "result")
        .collect();
    assert_eq!(results.len(), 3, "{}", r.out);
    assert_eq!(
        (&results[0]["ip"], &results[0]["answered"]),
        (&"10.9.0.2".into(), &2.into())
    );
    assert_eq!(
        (&results[1]["ip"], &results[1]["exit"]),
        (&"10.9.0.3".into(), &1.into())
    );
    let last = &results[2];
    assert_eq!(last["targets"], 2);
    assert_eq!(last["answered"], 1);
    assert_eq!(
        (&last["outcome"], &last["exit"]),
        (&"answered".into(), &0.into())
    );
}

/// Ctrl-C during the first of two targets stops the run there: that
/// target's summary, then the line over all counting the one not reached;
/// the exit still says whether answers came, as for one target.
#[test]
fn ctrl_c_with_several_targets_stops_at_the_current_one() {
    let peer = Peer {
        ctrl_c: Some((3, Rc::default())),
        ..Peer::default()
    };
    let r = probe_with(
        &[
            "-c",
            "5",
            "--interval",
            "100ms",
            "10.9.0.2:80",
            "10.9.0.3:80",
        ],
        peer,
    );
    assert_eq!(r.outcome, Outcome::Success, "{}", r.out);
    assert!(!r.out.contains("PROBE 10.9.0.3"), "{}", r.out);
    assert_eq!(
        r.out.lines().last(),
        Some("=== 2 targets: 1 answered, 0 did not, 1 not reached (interrupted)"),
        "{}",
        r.out
    );
}
