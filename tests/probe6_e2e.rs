//! `nettool probe` and `nettool scan` over IPv6 against the Linux kernel:
//! nettool in namespace A (fd00:6e74::1), the kernel's TCP in B
//! (fd00:6e74::2): python3 listeners for open ports, nothing for closed
//! ones, an nftables drop for filtered ones and an ICMPv6 reject for
//! prohibited ones. The header fields the probe options set are checked
//! in a tcpdump capture, JSON against the schema, and no guard is left
//! behind. Needs root, python3 and tcpdump; each test builds and removes
//! its own namespaces.

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
    let dir = std::path::PathBuf::from("/etc/netns").join(hosts.a());
    std::fs::create_dir_all(&dir).unwrap();
    struct Gone(std::path::PathBuf);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _gone = Gone(dir.clone());
    std::fs::write(
        dir.join("hosts"),
        format!(
            "{} peer.nettool.test\n{ULA_B} peer.nettool.test\n",
            hosts.addr_b
        ),
    )
    .unwrap();
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
