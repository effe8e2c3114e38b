//! `nettool load` over IPv6 end to end: nettool in namespace A
//! (fd00:6e74::1), a kernel sink in B (fd00:6e74::2, a listener that
//! never accepts, its queue raised inside the namespace), IPv6 on in both
//! without DAD for their own addresses. From two addresses nobody owns,
//! taken from a /64 (checked free by duplicate address detection, then
//! answered for by nettool's own NDP), and from A's own address behind
//! the guard. Needs root and python3; the namespaces go on drop, also
//! when an assertion fails.

mod common;

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use common::ipv6::{ULA_A, ULA_B, ipv6_hosts};
use common::load::{guard_tables, sockets, ss_established};
use common::{Scratch, Server, nettool, run, sh};
use nettool::lab::services::sink::raise_backlog_limits;
use nettool::lab::testnet::{TwoHosts, require_root};

/// The sink's port in B (the namespace is the test's own).
const PORT: u16 = 9000;

/// Connections opened from the unowned sources: 20,000 by default;
/// `NETTOOL_LOAD6_E2E_N` asks for another count, for a run by hand.
fn connections() -> u32 {
    std::env::var("NETTOOL_LOAD6_E2E_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000)
        .clamp(2, 1_000_000)
}

/// A kernel listener on [ULA_B]:PORT in B that holds `backlog`
/// connections in its accept queue and never accepts.
fn sink6(hosts: &TwoHosts, backlog: u32) -> Server {
    hosts.run_in_b(|| raise_backlog_limits(backlog).expect("raising somaxconn in B"));
    let mut cmd = hosts.cmd_b("python3");
    cmd.args([
        "-c",
        "import socket, sys, time\n\
         s = socket.socket(socket.AF_INET6)\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind((sys.argv[1], int(sys.argv[2])))\n\
         s.listen(int(sys.argv[3]))\n\
         print('ready', flush=True)\n\
         time.sleep(3600)\n",
        ULA_B,
        &PORT.to_string(),
        &backlog.to_string(),
    ]);
    let mut s = Server::spawn(cmd);
    s.wait_for("ready", Duration::from_secs(10));
    s
}

/// Waits until nothing of the run is left connected in B.
fn assert_nothing_left(hosts: &TwoHosts) {
    let limit = Instant::now() + Duration::from_secs(10);
    while sockets(hosts, "-6", "connected") > 0 && Instant::now() < limit {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(sockets(hosts, "-6", "connected"), 0, "left in B");
    assert_eq!(ss_established(hosts), 0, "ss -s after the resets");
    let tables = guard_tables(hosts);
    assert!(!tables.contains("nettool-guard"), "guard left: {tables}");
}

/// Runs `cmd` while counting B's established connections: the run, and
/// the most `ss -s` saw.
fn run_counting(hosts: &TwoHosts, cmd: std::process::Command, n: u32) -> (common::Ran, usize) {
    std::thread::scope(|s| {
        let watch = s.spawn(|| {
            let limit = Instant::now() + Duration::from_secs(120);
            let mut most = 0;
            while Instant::now() < limit && most < n as usize {
                most = most.max(ss_established(hosts));
                std::thread::sleep(Duration::from_millis(200));
            }
            most
        });
        let ran = run(cmd, Duration::from_secs(300));
        (ran, watch.join().expect("the watch"))
    })
}

/// The CI-sized proof over IPv6: N connections from the first two
/// free addresses of a /64 (A's and B's own skipped; `-p 55536` leaves
/// 10,000 ports an address, so N = 20,000 needs exactly two), all
/// established (B's `ss -s` agrees), held with keepalives that are
/// answered, then reset: nothing left in B, no guard, and B learned both
/// sources from nettool's neighbour advertisements.
#[test]
fn connections_from_two_unowned_ipv6_sources_are_held_with_keepalives() {
    require_root();
    let hosts = ipv6_hosts("load6");
    let n = connections();
    let _sink = sink6(&hosts, n + 1024);
    let scratch = Scratch::new();
    let target = format!("[{ULA_B}]:{PORT}");
    let count = n.to_string();
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["load", &target, "-c", &count, "-p", "55536"])
        .args(["--sources", "fd00:6e74::/64"])
        .args(["--hold", "6s", "--keepalive", "2", "--json"])
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    let (ran, most) = run_counting(&hosts, cmd, n);
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    let lines = ran.json_lines();
    assert_eq!(lines[0]["event"], "start", "{}", ran.show());
    let needed = n.div_ceil(10_000);
    assert_eq!(lines[0]["addresses"], needed, "{}", ran.show());
    assert_eq!(lines[0]["src"], "[fd00:6e74::3]:55536", "{}", ran.show());
    assert_eq!(lines[0]["dst"], target, "{}", ran.show());
    assert_eq!(lines[0]["guard"], serde_json::Value::Null, "{}", ran.show());
    let result = lines.last().expect("a result");
    assert_eq!(result["event"], "result", "{}", ran.show());
    assert_eq!(result["ever_established"], n, "{result}");
    assert_eq!(result["timed_out"], 0, "{result}");
    assert_eq!(result["reset"], 0, "{result}");
    assert_eq!(most, n as usize, "ss -s in B: {result}");
    // Keepalives: each connection's first probe 2 to 4 s after it went
    // quiet, so at least one for most of them in a 6 s hold; every one
    // answered but those on their way at the end or dropped from the
    // receive ring.
    let sent = result["held_segments_sent"].as_u64().expect("counted");
    let answered = result["held_segments_received"].as_u64().expect("counted");
    let unanswered = result["keepalives_unanswered"].as_u64().expect("counted");
    let dropped = result["rx_dropped"].as_u64().unwrap_or(0);
    assert!(sent >= u64::from(n) / 2, "{sent} probes for {n}: {result}");
    let lost = sent.saturating_sub(answered + unanswered);
    assert!(
        lost <= dropped,
        "{lost} answers neither read nor on their way, {dropped} dropped: {result}"
    );
    assert!(
        unanswered <= sent / 100 + dropped,
        "{unanswered} of {sent} probes unanswered at the end: {result}"
    );
    // B resolved each source it answered, from nettool's advertisements.
    let neigh = {
        let mut ip = hosts.cmd_b("ip");
        ip.args(["-6", "neigh", "show"]);
        sh(ip)
    };
    for i in 0..needed {
        let src = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 3 + i as u16);
        assert!(
            neigh.contains(&format!("{src} ")),
            "{src} unknown to B: {neigh}"
        );
    }
    assert_nothing_left(&hosts);
    println!(
        "{n} connections over IPv6 from {needed} unowned addresses established (ss -s agreed) \
         in {:.3} s, {} connects/s, p50 {} µs p99 {} µs; held 6 s: {sent} keepalive probes, \
         {answered} answers read, {unanswered} on their way; {dropped} frames dropped; {} bytes \
         per connection from RSS; run {:?}",
        result["open_us"].as_u64().unwrap_or(0) as f64 / 1e6,
        result["connects_per_s"],
        result["connect_p50_us"],
        result["connect_p99_us"],
        result["held_bytes_per_connection"],
        ran.elapsed,
    );
    let (a, b) = (hosts.a().to_owned(), hosts.b().to_owned());
    drop(hosts);
    let netns = sh({
        let mut ip = std::process::Command::new("ip");
        ip.args(["netns", "list"]);
        ip
    });
    assert!(
        !netns.contains(&a) && !netns.contains(&b),
        "namespaces left: {netns}"
    );
}

/// From A's own IPv6 address (no --sources): one guard table keeps the
/// kernel's RSTs out for the whole port range, and is gone at the end.
#[test]
fn connections_from_the_interfaces_ipv6_address_are_guarded() {
    require_root();
    let hosts = ipv6_hosts("load6own");
    let _sink = sink6(&hosts, 4096);
    let scratch = Scratch::new();
    let target = format!("[{ULA_B}]:{PORT}");
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["load", &target, "-c", "2000", "--hold", "1s", "--json"])
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    let (ran, most) = run_counting(&hosts, cmd, 2000);
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    let lines = ran.json_lines();
    assert_eq!(lines[0]["src"], format!("[{ULA_A}]:1024"), "{}", ran.show());
    let guard = lines[0]["guard"].as_str().expect("a guard table");
    assert!(guard.starts_with("nettool-guard"), "{guard}");
    let result = lines.last().expect("a result");
    assert_eq!(result["ever_established"], 2000, "{result}");
    assert_eq!(most, 2000, "ss -s in B: {result}");
    assert_nothing_left(&hosts);
}

/// An IPv4 target with IPv6 sources is a usage error, said before
/// anything is sent.
#[test]
fn families_must_agree() {
    let ran = run(
        {
            let mut c = std::process::Command::new(nettool());
            c.args(["load", "10.78.0.2:80", "-c", "10"])
                .args(["--sources", "fd00:6e74:1::/64"]);
            c
        },
        Duration::from_secs(20),
    );
    assert_eq!(ran.code, Some(2), "{}", ran.show());
    assert!(ran.stderr.contains("family"), "{}", ran.show());
}

/// An address of the /64 the kernel in B owns (and defends against
/// duplicate address detection) is skipped for the next one; as the
/// first, it stops the run before anything is opened, saying where to
/// start instead.
#[test]
fn an_address_a_neighbour_owns_is_not_taken() {
    require_root();
    let hosts = ipv6_hosts("load6dad");
    let _sink = sink6(&hosts, 4096);
    // B's kernel has ::4 as well (and DAD for it done: nodad).
    sh(common::ipv6::in_ns(
        hosts.b(),
        "ip",
        &["addr", "add", "fd00:6e74::4/64", "dev", "eth0", "nodad"],
    ));
    let scratch = Scratch::new();
    let target = format!("[{ULA_B}]:{PORT}");
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["load", &target, "-c", "2000", "-p", "64536"])
        .args(["--sources", "fd00:6e74::/64", "--hold", "0s"])
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    let ran = run(cmd, Duration::from_secs(60));
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    assert!(
        ran.stderr.contains("fd00:6e74::4 is in use"),
        "{}",
        ran.show()
    );
    assert!(
        ran.stderr
            .contains("from 2 addresses (fd00:6e74::3, fd00:6e74::5)"),
        "{}",
        ran.show()
    );
    // The first one taken: the run stops before opening anything.
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["load", &target, "-c", "10"])
        .args(["--sources", "fd00:6e74::4,fd00:6e74::5", "--hold", "0s"])
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    let ran = run(cmd, Duration::from_secs(60));
    assert_eq!(ran.code, Some(2), "{}", ran.show());
    assert!(
        ran.stderr.contains("start --sources past it"),
        "{}",
        ran.show()
    );
    assert_nothing_left(&hosts);
}
