//! `nettool probe`, `ping`, `scan` and `nc -u -z` over IPv6 against the
//! Linux kernel: nettool in namespace A (fd00:6e74::1), the kernel in B
//! (fd00:6e74::2): python3 listeners (TCP) and a python3 echo service
//! (UDP) for open ports, nothing for closed ones, an nftables drop for
//! filtered ones and an ICMPv6 reject for prohibited ones; B's kernel
//! answers ICMPv6 echo requests itself. The header fields the probe
//! options set are checked in a tcpdump capture, JSON against the schema,
//! and no guard is left behind. Needs root, python3 and tcpdump; each
//! test builds and removes its own namespaces.

mod common;

use std::time::Duration;

use common::ipv6::{ULA_A, ULA_B, ipv6_hosts};
use common::{Capture, Ran, Scratch, Server, nettool, nft_load, nft_packets, run, sh};
use nettool::lab::testnet::TwoHosts;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

fn nt(hosts: &TwoHosts, scratch: &Scratch, args: &[&str]) -> Ran {
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(args).env("NETTOOL_ARP_CACHE", scratch.cache());
    run(cmd, LIMIT)
}

/// python3 listeners on `ports` of B's IPv6 address (kernel sockets that
/// never accept).
fn listen(hosts: &TwoHosts, ports: &[u16]) -> Server {
    let list = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let script = format!(
        "import socket, time\n\
         ss = []\n\
         for p in [{list}]:\n\
         \x20   s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         \x20   s.bind(('{ULA_B}', p)); s.listen(128); ss.append(s)\n\
         print('ready', flush=True)\n\
         time.sleep(120)\n"
    );
    let mut cmd = hosts.cmd_b("python3");
    cmd.args(["-c", &script]);
    let mut s = Server::spawn(cmd);
    s.wait_for("ready", Duration::from_secs(10));
    s
}

/// B drops SYNs to `drop` (filtered, silent), rejects those to `reject`
/// with an ICMPv6 administratively prohibited, and counts the RSTs from
/// A (nettool's own, for the open ports it reset).
fn firewall_b(hosts: &TwoHosts, drop: u16, reject: u16) {
    nft_load(
        hosts.cmd_b("nft"),
        &format!(
            "table inet t {{\n counter rst {{ }}\n chain in {{\n \
             type filter hook input priority -10;\n \
             ip6 saddr {ULA_A} tcp flags & rst == rst counter name rst\n \
             tcp dport {drop} drop\n \
             tcp dport {reject} reject with icmpv6 type admin-prohibited\n }}\n}}\n"
        ),
    );
}

fn rsts_in_b(hosts: &TwoHosts) -> u64 {
    let mut cmd = hosts.cmd_b("nft");
    cmd.args(["list", "counter", "inet", "t", "rst"]);
    nft_packets(&sh(cmd))
}

/// No nettool guard table is left in A.
fn assert_no_guard_left(hosts: &TwoHosts) {
    let mut cmd = hosts.cmd_a("nft");
    cmd.args(["list", "tables"]);
    let tables = sh(cmd);
    assert!(!tables.contains("nettool-guard"), "left behind: {tables}");
}

/// Every line against tests/events.schema.json.
fn assert_schema(r: &Ran) {
    let schema = common::schema::Schema::load();
    for line in r.stdout.lines() {
        schema
            .check_line(line)
            .unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}

/// The scanned ports of a JSON scan, `(port, outcome, reason)`, sorted.
fn ports(events: &[Value]) -> Vec<(u64, String, String)> {
    let mut got: Vec<(u64, String, String)> = events
        .iter()
        .filter(|e| e["event"] == "port")
        .map(|e| {
            (
                e["port"].as_u64().unwrap(),
                e["outcome"].as_str().unwrap().to_owned(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    got
}

#[test]
fn a_scan_over_ipv6_sorts_open_closed_filtered_and_prohibited_exactly() {
    let hosts = ipv6_hosts("scan6");
    let scratch = Scratch::new();
    let _l = listen(&hosts, &[22, 8080]);
    firewall_b(&hosts, 81, 82);
    // A bare address, its ports the last operand; --wait short, so the
    // silent port does not hold the test up.
    let r = nt(
        &hosts,
        &scratch,
        &[
            "scan",
            "--json",
            "--wait",
            "200ms",
            ULA_B,
            "20-23,80-83,8080",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_schema(&r);
    let events = r.json_lines();
    let start = &events[0];
    assert_eq!(start["event"], "start");
    assert_eq!(start["ip"], ULA_B);
    assert!(
        start["src"]
            .as_str()
            .unwrap()
            .starts_with(&format!("[{ULA_A}]:")),
        "{start}"
    );
    let got = ports(&events);
    let want_state = |p: u64| match p {
        22 | 8080 => "open",
        81 | 82 => "filtered",
        _ => "closed",
    };
    let want: Vec<u64> = vec![20, 21, 22, 23, 80, 81, 82, 83, 8080];
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        want,
        "{}",
        r.show()
    );
    for (port, outcome, reason) in &got {
        assert_eq!(outcome, want_state(*port), "port {port}: {reason}");
        let want_reason = match *port {
            22 | 8080 => "syn-ack".to_owned(),
            81 => "no-response".to_owned(),
            82 => format!("administratively prohibited (ICMPv6 type 1, code 1) from {ULA_B}"),
            _ => "reset".to_owned(),
        };
        assert_eq!(*reason, want_reason, "port {port}");
    }
    let result = events.last().unwrap();
    assert_eq!(
        (&result["open"], &result["closed"], &result["filtered"]),
        (&Value::from(2), &Value::from(5), &Value::from(2)),
        "{result}"
    );
    // nettool reset each open port's connection itself, once.
    assert_eq!(rsts_in_b(&hosts), 2);
    assert_no_guard_left(&hosts);
}

#[test]
fn probes_over_ipv6_are_answered_as_over_ipv4() {
    let hosts = ipv6_hosts("probe6");
    let scratch = Scratch::new();
    let _l = listen(&hosts, &[22]);
    firewall_b(&hosts, 81, 82);
    // Four probes, one to each port in turn: open, closed, silent,
    // prohibited.
    let target = format!("[{ULA_B}]:22,80,81,82");
    let r = nt(
        &hosts,
        &scratch,
        &[
            "probe",
            "--json",
            "-v",
            "-c",
            "4",
            "--interval",
            "50ms",
            "--wait",
            "300ms",
            &target,
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_schema(&r);
    let events = r.json_lines();
    let dport = |e: &Value| -> u16 {
        e["dst"]
            .as_str()
            .unwrap()
            .rsplit_once(':')
            .unwrap()
            .1
            .parse()
            .unwrap()
    };
    let probes: Vec<(u64, u16)> = events
        .iter()
        .filter(|e| e["event"] == "probe")
        .map(|e| (e["probe"].as_u64().unwrap(), dport(e)))
        .collect();
    assert_eq!(probes, [(1, 22), (2, 80), (3, 81), (4, 82)], "{}", r.show());
    for e in events.iter().filter(|e| e["event"] == "probe") {
        assert_eq!(e["id"], 0, "IPv6 has no identification: {e}");
    }
    let replies: Vec<(u64, String)> = events
        .iter()
        .filter(|e| e["event"] == "reply")
        .map(|e| {
            (
                e["probe"].as_u64().unwrap(),
                e["meaning"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        replies,
        [(1, "port open".to_owned()), (2, "port closed".to_owned())],
        "{}",
        r.show()
    );
    let reply = events.iter().find(|e| e["event"] == "reply").unwrap();
    assert!(
        reply["line"]
            .as_str()
            .unwrap()
            .starts_with(&format!("IP6 {ULA_B}.22 > {ULA_A}.")),
        "{reply}"
    );
    assert_eq!(reply["ttl"], 64, "the kernel's hop limit: {reply}");
    let icmp: Vec<&Value> = events.iter().filter(|e| e["event"] == "icmp").collect();
    assert_eq!(icmp.len(), 1, "{}", r.show());
    assert_eq!(icmp[0]["probe"], 4);
    assert_eq!(icmp[0]["ip"], ULA_B);
    assert_eq!(
        icmp[0]["what"],
        "administratively prohibited (ICMPv6 type 1, code 1)"
    );
    let result = events.last().unwrap();
    assert_eq!(
        (&result["sent"], &result["answered"]),
        (&Value::from(4), &Value::from(3)),
        "{result}"
    );
    assert_eq!(
        rsts_in_b(&hosts),
        1,
        "the open port's connection reset once"
    );
    assert_no_guard_left(&hosts);
}

#[test]
fn hop_limit_flow_label_and_traffic_class_are_on_the_wire() {
    let hosts = ipv6_hosts("probe6-fields");
    let scratch = Scratch::new();
    let _l = listen(&hosts, &[22]);
    let pcap = scratch.cache().with_file_name("fields.pcap");
    let capture = Capture::start_in_b(&hosts, pcap, &["ip6", "and", "tcp", "dst", "port", "22"]);
    let target = format!("[{ULA_B}]:22");
    let r = nt(
        &hosts,
        &scratch,
        &[
            "probe",
            "-c",
            "2",
            "--interval",
            "50ms",
            "--wait",
            "200ms",
            "--hop-limit",
            "7",
            "--flow-label",
            "0x12345",
            "--traffic-class",
            "0xb8",
            "-F",
            "-P",
            "-U",
            &target,
        ],
    );
    let pcap = capture.stop();
    // FIN, PSH, URG to a listener: no answer (RFC 9293 drops it).
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert!(r.stdout.contains("Flags [FPU]"), "{}", r.show());
    let mut cmd = std::process::Command::new("tcpdump");
    cmd.args(["-nn", "-v", "-r"]).arg(&pcap);
    let seen = sh(cmd);
    let line = seen
        .lines()
        .find(|l| l.contains("flowlabel"))
        .unwrap_or_else(|| panic!("no IPv6 probe in the capture:\n{seen}"));
    // tcpdump -v: "IP6 (class 0xb8, flowlabel 0x12345, hlim 7, next-header TCP ...".
    for want in [
        "class 0xb8",
        "flowlabel 0x12345",
        "hlim 7",
        "next-header TCP",
    ] {
        assert!(line.contains(want), "{want:?} missing: {line}");
    }
    assert!(seen.contains("Flags [FPU]"), "{seen}");
    assert_no_guard_left(&hosts);
}

/// A link-local target needs its interface: with -i it goes; the peer
/// answers from its link-local address.
#[test]
fn a_link_local_target_with_its_interface_is_scanned() {
    let hosts = ipv6_hosts("scan6-ll");
    let scratch = Scratch::new();
    let ll = common::ipv6::link_local(hosts.b()).expect("B's link-local address");
    let script = "import socket, time\n\
         s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('::', 22)); s.listen(8)\n\
         print('ready', flush=True)\n\
         time.sleep(120)\n";
    let mut cmd = hosts.cmd_b("python3");
    cmd.args(["-c", script]);
    let mut server = Server::spawn(cmd);
    server.wait_for("ready", Duration::from_secs(10));
    let ll = ll.to_string();
    let r = nt(
        &hosts,
        &scratch,
        &["scan", "--json", "-i", "eth0", &ll, "22,23"],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    let got = ports(&r.json_lines());
    assert_eq!(
        got,
        [
            (22, "open".to_owned(), "syn-ack".to_owned()),
            (23, "closed".to_owned(), "reset".to_owned())
        ],
        "{}",
        r.show()
    );
    // The zone names the interface as well as -i does.
    let zoned = format!("{ll}%eth0");
    let r = nt(&hosts, &scratch, &["scan", "--json", &zoned, "22"]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_no_guard_left(&hosts);
}

/// A name with both an A and an AAAA record (the hosts file `ip netns
/// exec` binds over /etc/hosts for A: /etc/netns/NAME/hosts): `-6` scans
/// its IPv6 address and probes it with HOST:PORT; `-4` takes its IPv4
/// address, B's too.
#[test]
fn a_name_with_an_aaaa_record_is_scanned_and_probed_over_ipv6_with_dash_6() {
    let hosts = ipv6_hosts("probe6-name");
    let scratch = Scratch::new();
    let _l = listen(&hosts, &[22]);
    let _name = common::ipv6::PeerName::new(&hosts);
    let r = nt(
        &hosts,
        &scratch,
        &["scan", "-6", "--json", "peer.nettool.test", "22,23"],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    let events = r.json_lines();
    assert_eq!(events[0]["ip"], ULA_B, "{}", r.show());
    let got = ports(&events);
    assert_eq!(
        got.iter()
            .map(|(p, o, _)| (*p, o.as_str()))
            .collect::<Vec<_>>(),
        [(22, "open"), (23, "closed")]
    );
    let r = nt(
        &hosts,
        &scratch,
        &["probe", "-6", "-c", "1", "peer.nettool.test:22"],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout.contains(&format!("PROBE {ULA_B} port 22")),
        "{}",
        r.show()
    );
    assert!(r.stdout.contains("port open"), "{}", r.show());
    // -4: the A record, B's IPv4 address (the listener is IPv6's only:
    // closed there).
    let r = nt(
        &hosts,
        &scratch,
        &["scan", "-4", "--json", "peer.nettool.test", "22"],
    );
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert_eq!(r.json_lines()[0]["ip"], hosts.addr_b.to_string());
    assert_no_guard_left(&hosts);
}

/// A python3 UDP echo service on `port` of B's IPv6 address: each
/// datagram goes back to its sender as it came.
fn udp_echo6(hosts: &TwoHosts, port: u16) -> Server {
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n\
         s.bind(('{ULA_B}', {port}))\n\
         print('ready', flush=True)\n\
         while True:\n\
         \x20   d, a = s.recvfrom(65535); s.sendto(d, a)\n"
    );
    let mut cmd = hosts.cmd_b("python3");
    cmd.args(["-c", &script]);
    let mut s = Server::spawn(cmd);
    s.wait_for("ready", Duration::from_secs(10));
    s
}

/// B drops UDP to `drop`, rejects UDP to `reject` with an ICMPv6
/// administratively prohibited, adds `more` (nft rules), and counts the
/// ICMPv6 destination unreachables A sends it (A's kernel answering what
/// it has no socket for).
fn udp_firewall_b(hosts: &TwoHosts, drop: u16, reject: u16, more: &str) {
    nft_load(
        hosts.cmd_b("nft"),
        &format!(
            "table inet u {{\n counter unreach {{ }}\n chain in {{\n \
             type filter hook input priority -10;\n \
             ip6 saddr {ULA_A} icmpv6 type destination-unreachable counter name unreach\n \
             udp dport {drop} drop\n \
             udp dport {reject} reject with icmpv6 type admin-prohibited\n \
             {more}\n }}\n}}\n"
        ),
    );
}

fn unreachables_from_a(hosts: &TwoHosts) -> u64 {
    let mut cmd = hosts.cmd_b("nft");
    cmd.args(["list", "counter", "inet", "u", "unreach"]);
    nft_packets(&sh(cmd))
}

fn result(events: &[Value]) -> &Value {
    events
        .iter()
        .find(|e| e["event"] == "result")
        .expect("a result line")
}

#[test]
fn udp_probes_over_ipv6_find_open_closed_filtered_and_prohibited_ports() {
    let hosts = ipv6_hosts("udp6-probe");
    let scratch = Scratch::new();
    let _echo = udp_echo6(&hosts, 7);
    udp_firewall_b(&hosts, 9, 10, "");
    // Four probes, one to each port in turn: open, closed, silent,
    // prohibited.
    let target = format!("[{ULA_B}]:7-10");
    let r = nt(
        &hosts,
        &scratch,
        &[
            "probe",
            "--udp",
            "--json",
            "-v",
            "-c",
            "4",
            "--interval",
            "50ms",
            "--wait",
            "300ms",
            "--data",
            "hello",
            &target,
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_schema(&r);
    let events = r.json_lines();
    let start = &events[0];
    assert_eq!(
        (&start["mode"], &start["ip"]),
        (&Value::from("udp"), &Value::from(ULA_B))
    );
    let probes: Vec<&Value> = events.iter().filter(|e| e["event"] == "probe").collect();
    assert_eq!(probes.len(), 4, "{}", r.show());
    for (p, port) in probes.iter().zip(7..) {
        assert_eq!(p["dst"], format!("[{ULA_B}]:{port}"), "{p}");
        assert_eq!(p["id"], 0, "IPv6 has no identification: {p}");
    }
    let replies: Vec<&Value> = events.iter().filter(|e| e["event"] == "reply").collect();
    assert_eq!(replies.len(), 1, "{}", r.show());
    let reply = replies[0];
    assert_eq!(
        (&reply["probe"], &reply["meaning"]),
        (&Value::from(1), &Value::from("port open"))
    );
    assert_eq!(reply["src"], format!("[{ULA_B}]:7"));
    assert_eq!(reply["len"], 5);
    assert_eq!(reply["ttl"], 64, "the kernel's hop limit: {reply}");
    assert!(
        reply["line"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{ULA_B}.7 > {ULA_A}.")),
        "{reply}"
    );
    let icmp: Vec<(u64, String)> = events
        .iter()
        .filter(|e| e["event"] == "icmp")
        .map(|e| {
            assert_eq!(e["ip"], ULA_B, "{e}");
            (
                e["probe"].as_u64().unwrap(),
                e["what"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        icmp,
        [
            (2, "port unreachable (ICMPv6 type 1, code 4)".to_owned()),
            (
                4,
                "administratively prohibited (ICMPv6 type 1, code 1)".to_owned()
            )
        ],
        "{}",
        r.show()
    );
    let result = result(&events);
    assert_eq!(
        (&result["sent"], &result["answered"]),
        (&Value::from(4), &Value::from(3)),
        "{result}"
    );
    // The echo reached A's kernel too, which has no reader for it: the
    // bound UDP socket holding the port kept it from answering with a
    // port unreachable.
    assert_eq!(unreachables_from_a(&hosts), 0, "{}", r.show());
    // For people: the closed port says so.
    let closed = format!("[{ULA_B}]:8");
    let r = nt(&hosts, &scratch, &["probe", "--udp", "-c", "1", &closed]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout
            .contains(&format!("PROBE {ULA_B} UDP port 8 from {ULA_A} port ")),
        "{}",
        r.show()
    );
    assert!(r.stdout.contains("port closed"), "{}", r.show());
    assert_no_guard_left(&hosts);
}

#[test]
fn a_udp_scan_over_ipv6_agrees_exactly_with_a_rate_limited_host() {
    let hosts = ipv6_hosts("udp6-scan");
    let scratch = Scratch::new();
    let _echo = udp_echo6(&hosts, 7);
    udp_firewall_b(&hosts, 9, 17, "");
    let r = nt(
        &hosts,
        &scratch,
        &["scan", "--udp", "--json", "--wait", "300ms", ULA_B, "1-20"],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_schema(&r);
    let events = r.json_lines();
    assert_eq!(events[0]["ip"], ULA_B, "{}", r.show());
    let got: Vec<(u64, String, String)> = ports(&events);
    for (port, outcome, reason) in &got {
        let (want, why) = match port {
            7 => ("open", "udp-response (0 bytes)".to_owned()),
            9 => ("open|filtered", "no-response".to_owned()),
            17 => (
                "filtered",
                format!("administratively prohibited (ICMPv6 type 1, code 1) from {ULA_B}"),
            ),
            _ => (
                "closed",
                format!("port unreachable (ICMPv6 type 1, code 4) from {ULA_B}"),
            ),
        };
        assert_eq!((outcome.as_str(), reason), (want, &why), "port {port}");
    }
    assert_eq!(got.len(), 20, "{}", r.show());
    let result = result(&events);
    assert_eq!(
        (&result["open"], &result["closed"], &result["filtered"]),
        (&Value::from(1), &Value::from(17), &Value::from(2)),
        "{result}"
    );
    // 17 ICMPv6 errors from Linux's bucket (net.ipv6.icmp.ratelimit,
    // 100 ms, a burst of 6): the 11 past the burst come one per 100 ms,
    // and the scan asks for them at that pace from the start (over IPv4
    // it would take 11 s).
    assert!(r.elapsed < Duration::from_secs(6), "{}", r.show());
    assert!(
        r.elapsed > Duration::from_millis(1100),
        "faster than the limiter allows? {}",
        r.show()
    );
    assert_eq!(unreachables_from_a(&hosts), 0, "{}", r.show());
}

#[test]
fn icmpv6_echo_is_answered_counted_silenced_and_refused() {
    let hosts = ipv6_hosts("icmp6-probe");
    let scratch = Scratch::new();
    let pcap = scratch.cache().with_file_name("echo6.pcap");
    let capture = Capture::start_in_b(&hosts, pcap, &["icmp6", "and", "ip6[40] == 128"]);
    let r = nt(
        &hosts,
        &scratch,
        &[
            "probe",
            "--icmp",
            "--json",
            "-c",
            "3",
            "--interval",
            "50ms",
            "--data-len",
            "56",
            "--hop-limit",
            "9",
            "--flow-label",
            "0x12345",
            "--traffic-class",
            "0xb8",
            "--icmp-id",
            "0x4242",
            ULA_B,
        ],
    );
    let pcap = capture.stop();
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_schema(&r);
    let events = r.json_lines();
    let replies: Vec<&Value> = events.iter().filter(|e| e["event"] == "reply").collect();
    assert_eq!(replies.len(), 3, "{}", r.show());
    for (reply, seq) in replies.iter().zip(1..) {
        assert_eq!(reply["probe"], seq);
        assert_eq!(reply["ip"], ULA_B);
        assert_eq!(
            reply["line"],
            format!("{ULA_B} > {ULA_A}: ICMP6, echo reply, id 16962, seq {seq}, length 64"),
        );
    }
    let result = result(&events);
    assert_eq!(
        (&result["sent"], &result["answered"]),
        (&Value::from(3), &Value::from(3))
    );
    let mut cmd = std::process::Command::new("tcpdump");
    cmd.args(["-nn", "-v", "-r"]).arg(&pcap);
    let seen = sh(cmd);
    let requests: Vec<&str> = seen.lines().filter(|l| l.contains("flowlabel")).collect();
    assert_eq!(requests.len(), 3, "{seen}");
    // tcpdump -v: "IP6 (class 0xb8, flowlabel 0x12345, hlim 9, next-header
    // ICMPv6 (58) payload length: 64) fd00:6e74::1 > fd00:6e74::2: [icmp6
    // sum ok] ICMP6, echo request, id 16962, seq 1".
    for want in ["class 0xb8", "flowlabel 0x12345", "hlim 9", "ICMPv6 (58)"] {
        assert!(requests[0].contains(want), "{want:?} missing: {seen}");
    }
    assert!(seen.contains("icmp6 sum ok"), "{seen}");
    assert!(
        seen.contains("ICMP6, echo request, id 16962, seq 3"),
        "{seen}"
    );
    // `ping` counts as ping does.
    let r = nt(
        &hosts,
        &scratch,
        &["ping", "-c", "4", "--interval", "20ms", ULA_B],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout.contains(&format!(
            "PING {ULA_B} from {ULA_A} on eth0: ICMP6 echo request"
        )),
        "{}",
        r.show()
    );
    assert_eq!(
        r.stdout.matches("ICMP6, echo reply").count(),
        4,
        "{}",
        r.show()
    );
    assert!(
        r.stdout.contains("4 probes sent, 4 answered, 0.0% loss"),
        "{}",
        r.show()
    );
    // Echo requests silenced in B (neighbour discovery still goes): no
    // answer, exit 1; then rejected: the error names the request.
    udp_firewall_b(
        &hosts,
        1,
        2,
        "icmpv6 type echo-request ip6 hoplimit 5 reject with icmpv6 type admin-prohibited\n \
         icmpv6 type echo-request drop",
    );
    let r = nt(
        &hosts,
        &scratch,
        &[
            "ping",
            "-c",
            "2",
            "--interval",
            "20ms",
            "-w",
            "300ms",
            ULA_B,
        ],
    );
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert!(
        r.stdout.contains("2 probes sent, 0 answered, 100.0% loss"),
        "{}",
        r.show()
    );
    let r = nt(
        &hosts,
        &scratch,
        &[
            "ping",
            "--json",
            "-c",
            "1",
            "--hop-limit",
            "5",
            "-w",
            "300ms",
            ULA_B,
        ],
    );
    assert_eq!(
        r.code,
        Some(0),
        "an error answers the request: {}",
        r.show()
    );
    let events = r.json_lines();
    let icmp: Vec<&Value> = events.iter().filter(|e| e["event"] == "icmp").collect();
    assert_eq!(icmp.len(), 1, "{}", r.show());
    assert_eq!(
        (&icmp[0]["probe"], &icmp[0]["what"]),
        (
            &Value::from(1),
            &Value::from("administratively prohibited (ICMPv6 type 1, code 1)")
        )
    );
    // ICMPv6 has no timestamp: refused before anything is sent.
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
            ULA_B,
        ],
    );
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(
        r.stderr.contains("ICMPv6 has no time stamp request"),
        "{}",
        r.show()
    );
    assert_no_guard_left(&hosts);
}

/// A link-local target with its interface (a zone or -i), and a name with
/// an AAAA record with -6, are pinged over IPv6.
#[test]
fn a_link_local_target_and_an_aaaa_name_are_pinged() {
    let hosts = ipv6_hosts("icmp6-ll");
    let scratch = Scratch::new();
    let ll = common::ipv6::link_local(hosts.b()).expect("B's link-local address");
    let zoned = format!("{ll}%eth0");
    let r = nt(&hosts, &scratch, &["ping", "-c", "1", &zoned]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stdout.contains(&format!("{ll} > fe80::")), "{}", r.show());
    let r = nt(
        &hosts,
        &scratch,
        &["probe", "--icmp", "-c", "1", "-i", "eth0", &ll.to_string()],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    // Without an interface, a link-local address cannot be reached.
    let r = nt(&hosts, &scratch, &["ping", "-c", "1", &ll.to_string()]);
    assert_eq!(r.code, Some(2), "{}", r.show());
    let _name = common::ipv6::PeerName::new(&hosts);
    let r = nt(
        &hosts,
        &scratch,
        &["ping", "-6", "-c", "1", "peer.nettool.test"],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stdout.contains(&format!("PING {ULA_B} ")), "{}", r.show());
    let r = nt(
        &hosts,
        &scratch,
        &["ping", "-4", "-c", "1", "peer.nettool.test"],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout.contains(&format!("PING {} ", hosts.addr_b)),
        "{}",
        r.show()
    );
    assert_no_guard_left(&hosts);
}

#[test]
fn nc_u_z_knocks_at_udp_ports_over_ipv6() {
    let hosts = ipv6_hosts("nc6-udp-z");
    let scratch = Scratch::new();
    let _echo = udp_echo6(&hosts, 7);
    let r = nt(
        &hosts,
        &scratch,
        &["nc", "-u", "-z", "-v", "-w", "300ms", ULA_B, "7-8"],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stderr
            .contains(&format!("Connection to {ULA_B} 7 port [udp/*] succeeded!")),
        "{}",
        r.show()
    );
    assert!(
        r.stderr.contains(&format!(
            "{ULA_B} port 8 (udp) closed: ICMPv6 port unreachable"
        )),
        "{}",
        r.show()
    );
    let r = nt(&hosts, &scratch, &["nc", "-u", "-z", ULA_B, "8"]);
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert_no_guard_left(&hosts);
}

/// A source A's kernel does not own.
const UNOWNED: &str = "fd00:6e74::99";

/// Fills the scratch cache with B's MAC by a resolution from A's own
/// address, so that a run from another source sends no solicitation of
/// its own (which would teach B the source's MAC): B then has to ask for
/// the source's, and nettool has to answer it for the replies to come.
fn cache_b(hosts: &TwoHosts, scratch: &Scratch) {
    let r = nt(hosts, scratch, &["ndp", "-q", ULA_B]);
    assert_eq!(r.code, Some(0), "{}", r.show());
}

/// B's neighbour entry for `ip` (empty when none).
fn neighbour_in_b(hosts: &TwoHosts, ip: &str) -> String {
    let mut cmd = hosts.cmd_b("ip");
    cmd.args(["-6", "neigh", "show", ip, "dev", "eth0"]);
    sh(cmd)
}

/// `ping -6` and `probe --udp` from an unowned source: B's kernel asks
/// for the source's MAC before it answers, nettool answers the
/// solicitation itself, and every probe is answered. (The probes print
/// no line for that answer, unlike `handshake`: B's neighbour entry is
/// the witness.)
#[rstest::rstest]
#[case::ping(&["ping", "-6", "-c", "3", "--interval", "50ms", "fd00:6e74::2"], "ICMP6, echo reply")]
#[case::udp(
    &["probe", "--udp", "-c", "3", "--interval", "50ms", "[fd00:6e74::2]:33434"],
    "port unreachable (ICMPv6 type 1, code 4)"
)]
fn probes_from_an_unowned_ipv6_source_are_answered_through_nettools_own_ndp(
    #[case] args: &[&str],
    #[case] answer: &str,
) {
    let hosts = ipv6_hosts(&format!("dg6-unowned-{}", args[0]));
    let scratch = Scratch::new();
    cache_b(&hosts, &scratch);
    assert_eq!(neighbour_in_b(&hosts, UNOWNED), "");
    let (target, options) = args.split_last().unwrap();
    let mut all = options.to_vec();
    all.extend(["-s", UNOWNED, target]);
    let r = nt(&hosts, &scratch, &all);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(
        r.stdout.matches(answer).count(),
        3,
        "every probe answered: {}",
        r.show()
    );
    // B had no entry for the source and nettool sent no solicitation
    // (B's MAC was cached): B's entry is from nettool's answer.
    let entry = neighbour_in_b(&hosts, UNOWNED);
    assert!(
        entry.contains(&hosts.mac_a().to_string()),
        "B learned nettool's answer: {entry}"
    );
    assert_no_guard_left(&hosts);
}
