//! `nettool probe --udp` and `probe --icmp` against the Linux kernel:
//! nettool in namespace A, the kernel in B (a python3 UDP echo service,
//! nothing for closed ports, nftables drops for filtered ones; the
//! kernel's own ICMP echo and timestamp answers). Each test builds and
//! removes its own namespaces. Needs root.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Capture, Ran, Scratch, Server, nettool, nft_load, nft_packets, run, sh};
use nettool::lab::testnet::{TestNamespace, TwoHosts};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

fn nt(hosts: &TwoHosts, scratch: &Scratch, args: &[&str]) -> Ran {
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(args).env("NETTOOL_ARP_CACHE", scratch.cache());
    run(cmd, LIMIT)
}

/// A python3 UDP echo service on `port` in B: each datagram goes back to
/// its sender as it came.
fn udp_echo(hosts: &TwoHosts, port: u16) -> Server {
    let mut cmd = hosts.cmd_b("python3");
    cmd.args(["-c", &echo_script(port)]);
    let mut s = Server::spawn(cmd);
    s.wait_for("ready", Duration::from_secs(10));
    s
}

/// The echo service's python3 script.
fn echo_script(port: u16) -> String {
    format!(
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.bind(('0.0.0.0', {port}))\n\
         print('ready', flush=True)\n\
         while True:\n\
         \x20   d, a = s.recvfrom(65535); s.sendto(d, a)\n"
    )
}

/// B drops UDP to `drop_port` and counts the ICMP errors A sends it (A's
/// kernel answering what it has no socket for).
fn firewall_b(hosts: &TwoHosts, drop_port: u16) {
    nft_load(
        hosts.cmd_b("nft"),
        &format!(
            "table inet t {{\n counter unreach {{ }}\n counter dropped {{ }}\n chain in {{\n \
             type filter hook input priority -10;\n \
             ip saddr {a} icmp type destination-unreachable counter name unreach\n \
             udp dport {drop_port} counter name dropped drop\n }}\n}}\n",
            a = hosts.addr_a
        ),
    );
}

fn counter(hosts: &TwoHosts, name: &str) -> u64 {
    let mut cmd = hosts.cmd_b("nft");
    cmd.args(["list", "counter", "inet", "t", name]);
    nft_packets(&sh(cmd))
}

fn summary(lines: &[Value]) -> &Value {
    lines
        .iter()
        .find(|v| v["event"] == "result")
        .expect("a result line")
}

#[test]
fn udp_probes_find_open_closed_and_filtered_ports_and_the_kernel_keeps_quiet() {
    let hosts = TwoHosts::new("udp-probe");
    let scratch = Scratch::new();
    let _echo = udp_echo(&hosts, 7);
    firewall_b(&hosts, 9);
    let open = format!("{}:7", hosts.addr_b);
    let r = nt(
        &hosts,
        &scratch,
        &[
            "probe",
            "--udp",
            "-c",
            "3",
            "--interval",
            "50ms",
            "--data",
            "hello",
            &open,
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(r.stdout.matches("UDP, length 5").count(), 3, "{}", r.show());
    assert_eq!(r.stdout.matches("port open").count(), 3, "{}", r.show());
    assert!(
        r.stdout.contains("3 probes sent, 3 answered, 0.0% loss"),
        "{}",
        r.show()
    );
    // The echoes reached A's kernel too, which has no reader for them:
    // the bound UDP socket holding the port kept it from answering
    // with port unreachables.
    assert_eq!(counter(&hosts, "unreach"), 0, "{}", r.show());
    // Without the socket, the kernel does answer: with --sport-inc only
    // the first source port is held, and the echoes to the next two draw
    // one port unreachable each from A's kernel (which changes nothing
    // for nettool: it read the echo already).
    let r = nt(
        &hosts,
        &scratch,
        &[
            "probe",
            "--udp",
            "-c",
            "3",
            "--interval",
            "50ms",
            "--sport-inc",
            &open,
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(r.stdout.matches("port open").count(), 3, "{}", r.show());
    assert_eq!(counter(&hosts, "unreach"), 2, "{}", r.show());

    let closed = format!("{}:8", hosts.addr_b);
    let r = nt(
        &hosts,
        &scratch,
        &["probe", "--udp", "-c", "2", "--interval", "50ms", &closed],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(
        r.stdout
            .matches("port unreachable (type 3, code 3)")
            .count(),
        2,
        "{}",
        r.show()
    );
    assert_eq!(r.stdout.matches("port closed").count(), 2, "{}", r.show());

    let filtered = format!("{}:9", hosts.addr_b);
    let r = nt(
        &hosts,
        &scratch,
        &[
            "probe",
            "--udp",
            "-c",
            "3",
            "--interval",
            "20ms",
            "-W",
            "300ms",
            "--json",
            &filtered,
        ],
    );
    assert_eq!(r.code, Some(1), "{}", r.show());
    let lines = r.json_lines();
    let s = summary(&lines);
    assert_eq!(
        (s["sent"].as_u64(), s["answered"].as_u64()),
        (Some(3), Some(0)),
        "{}",
        r.show()
    );
    assert_eq!(counter(&hosts, "dropped"), 3, "the datagrams did reach B");
}

#[test]
fn udp_checksums_go_out_as_asked_and_the_peer_judges_them() {
    let hosts = TwoHosts::new("udp-sum");
    let scratch = Scratch::new();
    let _echo = udp_echo(&hosts, 7);
    let open = format!("{}:7", hosts.addr_b);
    // No checksum at all is valid over IPv4: answered.
    let r = nt(
        &hosts,
        &scratch,
        &[
            "probe",
            "--udp",
            "-c",
            "1",
            "--zero-checksum",
            "--data",
            "x",
            &open,
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stdout.contains("port open"), "{}", r.show());
    // A wrong one is dropped by B's UDP: silence.
    let r = nt(
        &hosts,
        &scratch,
        &[
            "probe", "--udp", "-c", "1", "-W", "300ms", "--badsum", &open,
        ],
    );
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert!(
        r.stdout.contains("1 probe sent, 0 answered"),
        "{}",
        r.show()
    );
}

#[test]
fn icmp_echo_and_timestamp_requests_are_answered_by_the_kernel() {
    let hosts = TwoHosts::new("icmp-probe");
    let scratch = Scratch::new();
    let r = nt(
        &hosts,
        &scratch,
        &[
            "probe",
            "--icmp",
            "-c",
            "3",
            "--interval",
            "50ms",
            "--data-len",
            "56",
            &hosts.addr_b.to_string(),
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(
        r.stdout.matches("ICMP echo reply").count(),
        3,
        "{}",
        r.show()
    );
    for seq in 1..=3 {
        assert!(
            r.stdout.contains(&format!("seq {seq}, length 64")),
            "{}",
            r.show()
        );
    }
    assert!(
        r.stdout.contains("3 probes sent, 3 answered, 0.0% loss"),
        "{}",
        r.show()
    );
    let r = nt(
        &hosts,
        &scratch,
        &[
            "probe",
            "--icmp",
            "--icmp-type",
            "timestamp",
            "-c",
            "1",
            &hosts.addr_b.to_string(),
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stdout.contains("ICMP time stamp reply"), "{}", r.show());
    assert!(r.stdout.contains("ms since midnight UT"), "{}", r.show());
    // `nettool ping` is the same, with ping's 56 bytes of data.
    let r = nt(
        &hosts,
        &scratch,
        &[
            "ping",
            "-c",
            "2",
            "--interval",
            "50ms",
            &hosts.addr_b.to_string(),
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stdout.contains("seq 2, length 64"), "{}", r.show());
    assert!(
        r.stdout.contains("2 probes sent, 2 answered"),
        "{}",
        r.show()
    );
    // TCP's fields on an ICMP probe are refused, not ignored.
    let r = nt(
        &hosts,
        &scratch,
        &["probe", "--icmp", "--flags", "S", &hosts.addr_b.to_string()],
    );
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(
        r.stderr.contains("--flags sets a TCP field"),
        "{}",
        r.show()
    );
}

/// Echo requests and replies of the capture by sequence number, in
/// nanoseconds.
fn echo_times(file: &Path) -> (HashMap<u64, u128>, HashMap<u64, u128>) {
    let mut cmd = Command::new("tcpdump");
    cmd.args(["-nn", "-tt", "--time-stamp-precision", "nano", "-r"])
        .arg(file);
    let text = sh(cmd);
    let (mut req, mut rep) = (HashMap::new(), HashMap::new());
    for line in text.lines() {
        let (secs, nanos) = line
            .split_whitespace()
            .next()
            .and_then(|t| t.split_once('.'))
            .unwrap_or_else(|| panic!("no timestamp in {line}"));
        let t = secs.parse::<u128>().unwrap() * 1_000_000_000 + nanos.parse::<u128>().unwrap();
        let Some(at) = line.find(", seq ") else {
            continue;
        };
        let seq: u64 = line[at + 6..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap();
        if line.contains("ICMP echo request") {
            req.insert(seq, t);
        } else if line.contains("ICMP echo reply") {
            rep.insert(seq, t);
        }
    }
    (req, rep)
}

/// The ping's RTTs against a nanosecond capture on A's interface, as the
/// TCP probe's test does (see tests/probe_e2e.rs for the reasoning): the
/// median within a few µs, nearly every probe within 20 µs, none out by a
/// millisecond.
#[test]
fn ping_rtts_agree_with_a_capture() {
    let hosts = TwoHosts::new("icmp-rtt");
    let scratch = Scratch::new();
    let pcap = scratch.cache().with_file_name("ping.pcap");
    let capture = Capture::start(&hosts, pcap, &[&common::STAMPS[..], &["icmp"]].concat());
    let r = nt(
        &hosts,
        &scratch,
        &[
            "probe",
            "--icmp",
            "-c",
            "200",
            "--interval",
            "5ms",
            "--json",
            &hosts.addr_b.to_string(),
        ],
    );
    let pcap = capture.stop();
    assert_eq!(r.code, Some(0), "{}", r.show());
    let (req, rep) = echo_times(&pcap);
    let errors: Vec<f64> = r
        .json_lines()
        .iter()
        .filter(|v| v["event"] == "reply")
        .map(|v| {
            let seq = v["probe"].as_u64().unwrap();
            let (out, back) = (req[&seq], rep[&seq]);
            v["rtt_us"].as_f64().unwrap() - (back - out) as f64 / 1000.0
        })
        .collect();
    common::assert_rtts_agree_with_capture(errors, &r.show());
}

/// `scan --udp` must agree exactly with the host, whose kernel keeps its
/// default ICMP rate limit (a burst of 6, then one a second): an echo
/// service on 7, a drop on 9 (silence), a reject with "administratively
/// prohibited" on 17, nothing elsewhere.
#[test]
fn a_udp_scan_agrees_exactly_with_a_rate_limited_host() {
    let hosts = TwoHosts::new("udp-scan");
    let scratch = Scratch::new();
    let _echo = udp_echo(&hosts, 7);
    nft_load(
        hosts.cmd_b("nft"),
        "table inet t {\n chain in {\n type filter hook input priority -10;\n \
         udp dport 9 drop\n udp dport 17 reject with icmp type admin-prohibited\n }\n}\n",
    );
    let r = nt(
        &hosts,
        &scratch,
        &["scan", "--udp", "--json", &hosts.addr_b.to_string(), "1-20"],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    let lines = r.json_lines();
    let got: Vec<(u64, String)> = lines
        .iter()
        .filter(|v| v["event"] == "port")
        .map(|v| {
            (
                v["port"].as_u64().unwrap(),
                v["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(u64, String)> = (1..=20)
        .map(|p| {
            let s = match p {
                7 => "open",
                9 => "open|filtered",
                17 => "filtered",
                _ => "closed",
            };
            (p, s.to_owned())
        })
        .collect();
    assert_eq!(got, want, "{}", r.show());
    // 18 ICMP errors from a bucket of 6: about 12 s at one a second.
    assert!(r.elapsed < Duration::from_secs(25), "{}", r.show());
    assert!(
        r.elapsed > Duration::from_secs(8),
        "faster than the limiter allows? {}",
        r.show()
    );
}

/// A third host C, a namespace of its own (its own ICMP buckets), routed
/// through B: `ip` as B's `ethc` and C's `eth0` on 10.201.N.0/24, B
/// forwarding, A's route to it via B. Deleted on drop.
fn routed_host(hosts: &TwoHosts) -> (TestNamespace, std::net::Ipv4Addr) {
    let c = TestNamespace::new("udp-scan-c");
    let n = (std::process::id() % 200) as u8;
    let (gw, addr_c) = (format!("10.201.{n}.1"), format!("10.201.{n}.2"));
    let ip = |ns: Command, args: &[&str]| {
        let mut cmd = ns;
        cmd.args(args);
        sh(cmd);
    };
    ip(
        hosts.cmd_b("ip"),
        &[
            "link",
            "add",
            "ethc",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            c.name(),
        ],
    );
    ip(
        hosts.cmd_b("ip"),
        &["addr", "add", &format!("{gw}/24"), "dev", "ethc"],
    );
    ip(hosts.cmd_b("ip"), &["link", "set", "ethc", "up"]);
    ip(hosts.cmd_b("sysctl"), &["-qw", "net.ipv4.ip_forward=1"]);
    ip(
        c.cmd("ip"),
        &["addr", "add", &format!("{addr_c}/24"), "dev", "eth0"],
    );
    ip(c.cmd("ip"), &["link", "set", "eth0", "up"]);
    ip(c.cmd("ip"), &["route", "add", "default", "via", &gw]);
    ip(
        hosts.cmd_a("ip"),
        &[
            "route",
            "add",
            &format!("10.201.{n}.0/24"),
            "via",
            &hosts.addr_b.to_string(),
        ],
    );
    (c, addr_c.parse().unwrap())
}

/// `scan --udp` of two hosts, each with its own kernel's default ICMP
/// limit (a burst of 6, then one a second, per destination): both exact,
/// and side by side: 11 closed ports each leave 5 to the one-at-a-time
/// phase, 5 s or more per host, more than 10 s one after the other.
#[test]
fn a_udp_scan_of_two_hosts_runs_their_limited_phases_side_by_side() {
    let hosts = TwoHosts::new("udp-scan2");
    let scratch = Scratch::new();
    let (c, addr_c) = routed_host(&hosts);
    let _echo_b = udp_echo(&hosts, 7);
    let _echo_c = {
        let mut cmd = c.cmd("python3");
        cmd.args(["-c", &echo_script(7)]);
        let mut s = Server::spawn(cmd);
        s.wait_for("ready", Duration::from_secs(10));
        s
    };
    let (b, cc) = (hosts.addr_b.to_string(), addr_c.to_string());
    let r = nt(
        &hosts,
        &scratch,
        &["scan", "--udp", "--json", &b, &cc, "1-12"],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    let lines = r.json_lines();
    for host in [&b, &cc] {
        let got: Vec<(u64, String)> = lines
            .iter()
            .filter(|v| v["event"] == "port" && v["ip"] == host.as_str())
            .map(|v| {
                (
                    v["port"].as_u64().unwrap(),
                    v["outcome"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let want: Vec<(u64, String)> = (1..=12)
            .map(|p| (p, if p == 7 { "open" } else { "closed" }.to_owned()))
            .collect();
        assert_eq!(got, want, "{host}: {}", r.show());
    }
    let last = lines.last().expect("a last line");
    assert_eq!(last["event"], "result", "{}", r.show());
    assert_eq!(
        (
            last["targets"].as_u64(),
            last["down"].as_u64(),
            last["open"].as_u64()
        ),
        (Some(2), Some(0), Some(2)),
        "{}",
        r.show()
    );
    assert!(
        r.elapsed > Duration::from_secs(4),
        "faster than the limiter allows? {}",
        r.show()
    );
    assert!(
        r.elapsed < Duration::from_secs(10),
        "one after the other? {}",
        r.show()
    );
}

/// When nettool answers for an address the kernel does not own, a UDP
/// datagram to it that no flow takes draws nettool's own ICMP port
/// unreachable, which the peer's kernel accepts (its connected socket
/// reads ECONNREFUSED), rate-limited as Linux limits its own: of 12
/// datagrams sent at once, 6 are answered; a second later, one more.
#[test]
fn a_stray_datagram_to_an_address_nettool_answers_for_draws_its_port_unreachable() {
    let hosts = TwoHosts::new("udp-stray");
    let scratch = Scratch::new();
    let spare = std::net::Ipv4Addr::from(u32::from(hosts.subnet.network()) + 200);
    // nettool holds the spare address for 4 s: a ping run is its flow.
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args([
        "ping",
        "-s",
        &spare.to_string(),
        "-c",
        "40",
        "--interval",
        "100ms",
        &hosts.addr_b.to_string(),
    ])
    .env("NETTOOL_ARP_CACHE", scratch.cache());
    let pinger = std::thread::spawn(move || run(cmd, LIMIT));
    // B, once nettool answers: 12 datagrams to the spare address's port 9
    // at once, each followed by a non-blocking receive; then one more a
    // second later. A refused receive is a port unreachable.
    let script = format!(
        "import socket, time\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.connect(('{spare}', 9)); s.setblocking(False)\n\
         def ask():\n\
         \x20   s.send(b'x'); time.sleep(0.05)\n\
         \x20   try:\n\
         \x20       s.recv(100); return 'answer'\n\
         \x20   except ConnectionRefusedError:\n\
         \x20       return 'refused'\n\
         \x20   except BlockingIOError:\n\
         \x20       return 'silence'\n\
         for _ in range(100):\n\
         \x20   time.sleep(0.02)\n\
         \x20   if ask() == 'refused': break\n\
         time.sleep(1.2)\n\
         got = [ask() for _ in range(12)]\n\
         time.sleep(1.2)\n\
         got.append(ask())\n\
         print(' '.join(got))\n"
    );
    let mut py = hosts.cmd_b("python3");
    py.args(["-c", &script]);
    let r = run(py, LIMIT);
    let ping = pinger.join().unwrap();
    assert_eq!(r.code, Some(0), "{}\n{}", r.show(), ping.show());
    let got: Vec<&str> = r.stdout.split_whitespace().collect();
    // The first refusal (the wait for nettool) spent a token; 1.2 s
    // refilled it: 6 in the bucket again, then silence, then one a second.
    let mut want = vec!["refused"; 6];
    want.extend(["silence"; 6]);
    want.push("refused");
    assert_eq!(got, want, "{}\n{}", r.show(), ping.show());
    assert_eq!(ping.code, Some(0), "{}", ping.show());
}

/// `ping` takes several hosts, each its own path: the peer over the
/// link, then this host's loopback; one summary each, then a line over
/// all.
#[test]
fn ping_takes_several_hosts_each_on_its_own_path() {
    let hosts = TwoHosts::new("udp-ping2");
    let scratch = Scratch::new();
    let b = hosts.addr_b.to_string();
    let r = nt(
        &hosts,
        &scratch,
        &["ping", "-c", "2", "--interval", "100ms", &b, "127.0.0.1"],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    let heads: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("PING "))
        .collect();
    assert_eq!(heads.len(), 2, "{}", r.show());
    assert!(heads[0].starts_with(&format!("PING {b} ")), "{}", r.show());
    assert!(heads[1].starts_with("PING 127.0.0.1 "), "{}", r.show());
    let sums = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("2 probes sent, 2 answered"));
    assert_eq!(sums.count(), 2, "{}", r.show());
    assert!(
        r.stdout.contains("=== 2 targets: 2 answered, 0 did not"),
        "{}",
        r.show()
    );
}
