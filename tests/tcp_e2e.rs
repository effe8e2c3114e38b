//! `nettool handshake` and `nettool close` against the Linux kernel's TCP:
//! nettool in namespace A, a python3 server on a kernel socket in B. Each
//! test builds and removes its own namespaces. Needs root.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Ran, Scratch, Server, nettool, nft_load, nft_packets, run, sh};
use nettool::lab::testnet::TwoHosts;

const LIMIT: Duration = Duration::from_secs(30);

fn nt(hosts: &TwoHosts, scratch: &Scratch, args: &[&str]) -> Ran {
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(args).env("NETTOOL_ARP_CACHE", scratch.cache());
    run(cmd, LIMIT)
}

fn nft_b(hosts: &TwoHosts, script: &str) {
    nft_load(hosts.cmd_b("nft"), script);
}

fn nft_counter(hosts: &TwoHosts, name: &str) -> u64 {
    let mut cmd = hosts.cmd_b("nft");
    cmd.args(["list", "counter", "inet", "t", name]);
    nft_packets(&sh(cmd))
}

/// Counts TCP RSTs arriving at B from A.
fn count_rsts(hosts: &TwoHosts) {
    nft_b(
        hosts,
        &format!(
            "table inet t {{\n counter rst {{ }}\n chain in {{\n type filter hook input priority 0;\n \
             ip saddr {} tcp flags & rst == rst counter name rst\n }}\n}}\n",
            hosts.addr_a
        ),
    );
}

fn target(hosts: &TwoHosts, port: u16) -> String {
    format!("{}:{port}", hosts.addr_b)
}

fn guard_tables(hosts: &TwoHosts) -> String {
    let mut cmd = hosts.cmd_a("nft");
    cmd.args(["list", "tables"]);
    sh(cmd)
}

#[test]
fn handshake_to_a_listening_port_is_seen_established_by_the_server() {
    let hosts = TwoHosts::new("tcp-open");
    let scratch = Scratch::new();
    let mut server = Server::start(&hosts, "hold", 8080, 0);
    let t = target(&hosts, 8080);
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["handshake", "--linger", "1500ms", &t])
        .env("NETTOOL_ARP_CACHE", scratch.cache())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    server.wait_for("accepted", Duration::from_secs(5));
    let mut ss = hosts.cmd_b("ss");
    ss.args(["-Htn", "state", "established", "sport", "= :8080"]);
    let established = sh(ss);
    assert!(
        established.contains(&hosts.addr_a.to_string()),
        "ss in B shows no ESTABLISHED connection from A: {established:?}"
    );
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "CLOSED → SYN-SENT",
        "Flags [S]",
        "Flags [S.]",
        "SYN-SENT → ESTABLISHED",
        "Flags [R]",
        "is open",
    ] {
        assert!(stdout.contains(want), "{want:?} missing:\n{stdout}");
    }
    // The release was our RST: the server saw a reset, not a hang.
    server.wait_for("reset", Duration::from_secs(5));
    assert!(
        !guard_tables(&hosts).contains("nettool-guard"),
        "the RST guard must be removed on exit"
    );
}

/// Whole, the guard drops the peer's segments at A's ingress (after
/// nettool's tap), so A's kernel never sees the SYN-ACK and sends no RST
/// at all; with its output rule alone (`NETTOOL_INGRESS_DROP=0`, what
/// loopback and kernels without netdev tables get) the kernel does reset
/// the SYN-ACK, and the rule drops that RST before it leaves. Either way
/// B receives no RST from A.
#[rstest::rstest]
#[case::ingress(true)]
#[case::output_rule_only(false)]
fn the_kernel_sends_no_rst_while_nettool_owns_the_flow(#[case] ingress: bool) {
    let hosts = TwoHosts::new(if ingress {
        "tcp-guard"
    } else {
        "tcp-guard-out"
    });
    let scratch = Scratch::new();
    let mut server = Server::start(&hosts, "echo", 7, 0);
    count_rsts(&hosts);
    let before = common::out_rsts(hosts.cmd_a("cat"));
    // A graceful close sends no RST of ours, so any RST B sees is the kernel's.
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["handshake", "--graceful", &target(&hosts, 7)])
        .env("NETTOOL_ARP_CACHE", scratch.cache())
        .env("NETTOOL_INGRESS_DROP", if ingress { "1" } else { "0" });
    let r = run(cmd, LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stdout.contains("TIME-WAIT → CLOSED"), "{}", r.show());
    assert_eq!(
        nft_counter(&hosts, "rst"),
        0,
        "B received a RST from A:\n{}",
        r.show()
    );
    let sent = common::out_rsts(hosts.cmd_a("cat")) - before;
    if ingress {
        assert!(
            r.stdout.contains("frames dropped at ingress"),
            "{}",
            r.show()
        );
        assert_eq!(sent, 0, "A's kernel sent RSTs:\n{}", r.show());
        assert!(!r.stdout.contains("the RST guard dropped"), "{}", r.show());
    } else {
        // The guard did have work: the kernel tried to reset the SYN-ACK.
        assert!(sent >= 1, "{}", r.show());
        assert!(r.stdout.contains("the RST guard dropped"), "{}", r.show());
    }
    server.wait_for("eof", Duration::from_secs(5));
    assert!(!guard_tables(&hosts).contains("nettool-guard"));
}

/// SIGKILL leaves nettool no code to run: both guard tables, the `inet`
/// one and the `netdev` one on A's eth0, go with its netlink socket.
#[test]
fn sigkill_removes_both_guard_tables() {
    let hosts = TwoHosts::new("tcp-sigkill");
    let scratch = Scratch::new();
    let mut server = Server::start(&hosts, "hold", 8080, 0);
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["handshake", "--linger", "30s", &target(&hosts, 8080)])
        .env("NETTOOL_ARP_CACHE", scratch.cache())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    server.wait_for("accepted", Duration::from_secs(5));
    let tables = guard_tables(&hosts);
    assert!(tables.contains("table inet nettool-guard"), "{tables}");
    assert!(tables.contains("table netdev nettool-guard"), "{tables}");
    let pid = find_nettool_pid(child.id());
    // SAFETY: signalling a process this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let tables = guard_tables(&hosts);
        if !tables.contains("nettool-guard") {
            break;
        }
        assert!(Instant::now() < deadline, "left behind: {tables}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_closed_port_answers_rst_and_exits_1() {
    let hosts = TwoHosts::new("tcp-refused");
    let scratch = Scratch::new();
    let r = nt(&hosts, &scratch, &["handshake", &target(&hosts, 81)]);
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert!(
        r.stdout.contains("Flags [R.]") && r.stdout.contains("is closed"),
        "{}",
        r.show()
    );
    let r = nt(
        &hosts,
        &scratch,
        &["handshake", "--json", &target(&hosts, 81)],
    );
    let last: serde_json::Value = serde_json::from_str(r.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["outcome"], "closed");
}

#[test]
fn a_dropped_syn_is_retried_then_exits_1() {
    let hosts = TwoHosts::new("tcp-filtered");
    let scratch = Scratch::new();
    nft_b(
        &hosts,
        "table inet f {\n chain in {\n type filter hook input priority 0;\n tcp dport 82 drop\n }\n}\n",
    );
    let r = nt(
        &hosts,
        &scratch,
        &["handshake", "--retries", "1", &target(&hosts, 82)],
    );
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert!(
        r.stdout.contains("no answer") && r.stdout.contains("after 2 SYNs"),
        "{}",
        r.show()
    );
    // SYNs at 0 and 1 s, then one more doubled RTO (2 s) of waiting.
    assert!(r.elapsed >= Duration::from_millis(2900), "{}", r.show());
    assert!(r.elapsed < Duration::from_secs(8), "{}", r.show());
}

#[test]
fn active_close_walks_fin_wait_and_time_wait_and_the_server_sees_eof() {
    let hosts = TwoHosts::new("tcp-close");
    let scratch = Scratch::new();
    let mut server = Server::start(&hosts, "echo", 7, 0);
    let r = nt(
        &hosts,
        &scratch,
        &["close", "--time-wait", "500ms", &target(&hosts, 7)],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    let order = [
        "ESTABLISHED → FIN-WAIT-1",
        "FIN-WAIT-1 → FIN-WAIT-2",
        "TIME-WAIT",
        "TIME-WAIT → CLOSED",
    ];
    let mut at = 0;
    for want in order {
        let found = r.stdout[at..]
            .find(want)
            .unwrap_or_else(|| panic!("{want:?} missing (in order):\n{}", r.stdout));
        at += found;
    }
    server.wait_for("eof", Duration::from_secs(5));
}

#[test]
fn passive_close_after_an_http_request() {
    let hosts = TwoHosts::new("tcp-passive");
    let scratch = Scratch::new();
    let _server = Server::start(&hosts, "http", 80, 100);
    let r = nt(
        &hosts,
        &scratch,
        &[
            "close",
            "--passive",
            "--data",
            "GET / HTTP/1.0\\r\\n\\r\\n",
            &target(&hosts, 80),
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    for want in [
        "HTTP/1.0 200 OK",
        "ESTABLISHED → CLOSE-WAIT",
        "CLOSE-WAIT → LAST-ACK",
        "LAST-ACK → CLOSED",
        "passive close",
    ] {
        assert!(r.stdout.contains(want), "{want:?} missing:\n{}", r.stdout);
    }
    assert!(
        !r.stdout.contains("TIME-WAIT"),
        "the side that closes second has no TIME-WAIT:\n{}",
        r.stdout
    );
}

#[test]
fn half_close_keeps_receiving_in_fin_wait_2() {
    let hosts = TwoHosts::new("tcp-half");
    let scratch = Scratch::new();
    let _server = Server::start(&hosts, "trickle", 19, 0);
    let r = nt(
        &hosts,
        &scratch,
        &[
            "close",
            "--half-close",
            "--time-wait",
            "200ms",
            &target(&hosts, 19),
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    let fw2 = r
        .stdout
        .find("FIN-WAIT-1 → FIN-WAIT-2")
        .unwrap_or_else(|| panic!("no FIN-WAIT-2:\n{}", r.stdout));
    let last_line = r
        .stdout
        .find("| line 4")
        .unwrap_or_else(|| panic!("the trickle never arrived:\n{}", r.stdout));
    assert!(
        last_line > fw2,
        "data must arrive after our FIN was acknowledged:\n{}",
        r.stdout
    );
    assert!(r.stdout.contains("TIME-WAIT → CLOSED"), "{}", r.stdout);
}

#[test]
fn abort_resets_and_the_server_sees_it() {
    let hosts = TwoHosts::new("tcp-abort");
    let scratch = Scratch::new();
    let mut server = Server::start(&hosts, "hold", 9000, 0);
    let r = nt(
        &hosts,
        &scratch,
        &["close", "--abort", &target(&hosts, 9000)],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stdout.contains("Flags [R]"), "{}", r.show());
    server.wait_for("reset", Duration::from_secs(5));
}

#[test]
fn super_frames_from_offloads_arrive_whole_and_intact() {
    let hosts = TwoHosts::new("tcp-gso");
    let scratch = Scratch::new();
    let body = 300_000;
    let _server = Server::start(&hosts, "http", 80, body);
    let r = nt(
        &hosts,
        &scratch,
        &[
            "close",
            "--passive",
            "--json",
            "--data",
            "GET / HTTP/1.0\\r\\n\\r\\n",
            &target(&hosts, 80),
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    let lines = r.json_lines();
    let result = lines.last().unwrap();
    let header = format!("HTTP/1.0 200 OK\r\nContent-Length: {body}\r\n\r\n").len();
    assert_eq!(
        result["received"],
        header + body,
        "every byte must arrive: {result}"
    );
    let largest = lines
        .iter()
        .filter(|v| v["event"] == "segment" && v["dir"] == "in")
        .map(|v| v["len"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(
        largest > 1460,
        "veth offloads deliver segments larger than the MTU; largest seen {largest}"
    );
    assert!(
        !r.stdout.contains("malformed"),
        "partial checksums must be accepted when the kernel vouches"
    );
}

#[test]
fn withholding_the_third_ack_shows_syn_ack_retransmissions() {
    let hosts = TwoHosts::new("tcp-noack");
    let scratch = Scratch::new();
    let _server = Server::start(&hosts, "hold", 8080, 0);
    let r = nt(
        &hosts,
        &scratch,
        &[
            "handshake",
            "--no-ack",
            "--observe",
            "2500ms",
            "--json",
            &target(&hosts, 8080),
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    let synacks: Vec<f64> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "segment" && v["dir"] == "in" && v["flags"] == "S.")
        .map(|v| v["t"].as_f64().unwrap())
        .collect();
    // The first SYN-ACK, then Linux's retransmission about 1 s later.
    assert!(
        synacks.len() >= 2,
        "expected a retransmitted SYN-ACK: {synacks:?}\n{}",
        r.stdout
    );
    let gap = synacks[1] - synacks[0];
    assert!(
        (0.8..1.6).contains(&gap),
        "first SYN-ACK retransmission after {gap:.3} s"
    );
    assert!(
        r.stdout.contains("\"withheld\":true"),
        "the withheld ACKs are reported as not sent"
    );
}

#[test]
fn a_late_third_ack_still_completes_the_handshake() {
    let hosts = TwoHosts::new("tcp-late");
    let scratch = Scratch::new();
    let mut server = Server::start(&hosts, "hold", 8080, 0);
    let r = nt(
        &hosts,
        &scratch,
        &[
            "handshake",
            "--ack-delay",
            "1200ms",
            "--graceful",
            &target(&hosts, 8080),
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout.contains("sending the withheld ACK now"),
        "{}",
        r.show()
    );
    // The server accepted (its kernel finished the handshake) and saw a clean close.
    server.wait_for("accepted", Duration::from_secs(1));
    server.wait_for("eof", Duration::from_secs(5));
}

#[test]
fn an_address_the_kernel_does_not_own_is_answered_by_nettool() {
    let hosts = TwoHosts::new("tcp-spoof");
    let scratch = Scratch::new();
    let mut server = Server::start(&hosts, "hold", 8080, 0);
    let own = std::net::Ipv4Addr::from(u32::from(hosts.subnet.network()) + 9).to_string();
    // Resolve B from A's own address first, so that B never hears of `own`
    // before its SYN arrives, and must ask who has it.
    assert_eq!(
        nt(&hosts, &scratch, &["arp", &hosts.addr_b.to_string()]).code,
        Some(0)
    );
    let r = nt(
        &hosts,
        &scratch,
        &[
            "handshake",
            "--graceful",
            "--source",
            &own,
            &target(&hosts, 8080),
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout.contains("answers ARP for it") && r.stdout.contains("answered who-has"),
        "{}",
        r.show()
    );
    assert!(
        !r.stdout.contains("RST guard"),
        "no guard is needed: {}",
        r.show()
    );
    let accepted = server.wait_for("accepted", Duration::from_secs(1));
    assert!(accepted.contains(&own), "{accepted}");
}

#[test]
fn icmp_unreachable_is_reported() {
    let hosts = TwoHosts::new("tcp-icmp");
    let scratch = Scratch::new();
    // A routes 10.206/16 through B; B forwards but has no route for it.
    let mut r = hosts.cmd_a("ip");
    r.args([
        "route",
        "add",
        "10.206.0.0/16",
        "via",
        &hosts.addr_b.to_string(),
    ]);
    sh(r);
    let mut f = hosts.cmd_b("sysctl");
    f.args(["-qw", "net.ipv4.ip_forward=1"]);
    sh(f);
    let mut u = hosts.cmd_b("ip");
    u.args(["route", "add", "unreachable", "10.206.0.0/16"]);
    sh(u);
    let r = nt(&hosts, &scratch, &["handshake", "10.206.0.7:80"]);
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert!(
        r.stdout.contains("unreachable") && r.stdout.contains(&format!("from {}", hosts.addr_b)),
        "{}",
        r.show()
    );
}

#[rstest::rstest]
#[case::sigint(libc::SIGINT)]
#[case::sigterm(libc::SIGTERM)]
fn a_signal_resets_the_connection_and_removes_the_guard(#[case] signal: i32) {
    let hosts = TwoHosts::new(if signal == libc::SIGINT {
        "tcp-sigint"
    } else {
        "tcp-sigterm"
    });
    let scratch = Scratch::new();
    let mut server = Server::start(&hosts, "hold", 8080, 0);
    // A stale guard from a run that was killed outright.
    nft_a_stale(&hosts);
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args([
        "handshake",
        "--json",
        "--linger",
        "30s",
        &target(&hosts, 8080),
    ])
    .env("NETTOOL_ARP_CACHE", scratch.cache())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let child = cmd.spawn().unwrap();
    server.wait_for("accepted", Duration::from_secs(5));
    // `ip netns exec` runs nettool as its child: signal the whole group of that process.
    let pid = find_nettool_pid(child.id());
    // SAFETY: signalling a process this test started.
    unsafe { libc::kill(pid, signal) };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // It dies of the signal, which a shell shows as 128 + its number, and
    // its result says that same exit code.
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(signal), "{stdout}");
    let result: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON result last:\n{stdout}"));
    assert_eq!(result["event"], "result", "{stdout}");
    assert_eq!(result["outcome"], "interrupted", "{stdout}");
    assert_eq!(result["exit"], 128 + signal, "{stdout}");
    server.wait_for("reset", Duration::from_secs(5));
    let tables = guard_tables(&hosts);
    assert!(
        !tables.contains("nettool-guard"),
        "guards left behind: {tables}"
    );
}

fn nft_a_stale(hosts: &TwoHosts) {
    let mut cmd = hosts.cmd_a("nft");
    cmd.args(["add", "table", "inet", "nettool-guard-999999999-0"]);
    sh(cmd);
}

/// The pid of nettool under `ip netns exec` (which execs it directly, so
/// usually the same pid).
fn find_nettool_pid(pid: u32) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "nettool" {
            return pid as i32;
        }
        assert!(
            Instant::now() < deadline,
            "nettool never started (comm {comm:?})"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `/etc/netns/NS/hosts`, which `ip netns exec NS` mounts over /etc/hosts;
/// removed on drop.
struct NetnsHosts(std::path::PathBuf);

impl NetnsHosts {
    fn new(ns: &str, text: &str) -> NetnsHosts {
        let dir = std::path::Path::new("/etc/netns").join(ns);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("hosts"), text).unwrap();
        NetnsHosts(dir)
    }
}

impl Drop for NetnsHosts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_host_name_is_resolved_by_the_system_resolver() {
    let hosts = TwoHosts::new("tcp-name");
    let scratch = Scratch::new();
    let _names = NetnsHosts::new(hosts.a(), &format!("{} web.nettool.test\n", hosts.addr_b));
    let _server = Server::start(&hosts, "hold", 8080, 0);
    let r = nt(&hosts, &scratch, &["handshake", "web.nettool.test:8080"]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout
            .contains(&format!("HANDSHAKE {}:8080", hosts.addr_b)),
        "{}",
        r.show()
    );
    let r = nt(
        &hosts,
        &scratch,
        &["handshake", "nowhere.nettool.test:8080"],
    );
    assert_eq!(
        r.code,
        Some(2),
        "an unknown name is a local error: {}",
        r.show()
    );
    assert!(
        r.stderr.contains("cannot resolve host name"),
        "{}",
        r.show()
    );
}
