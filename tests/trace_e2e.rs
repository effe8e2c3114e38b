//! `nettool trace` across two Linux routers: nettool in A, R1 and R2
//! forwarding (ICMP rate limit off), the kernel's TCP in B. The tests
//! that hold for both families run over each (rstest cases; IPv6's only
//! ones are in tests/trace6_e2e.rs). Each test builds and removes its own
//! four namespaces. Needs root.

mod common;

use std::time::Duration;

use common::trace::{Family, LIMIT, Path, hop, probes, resets, result, stars, start};
use common::{Scratch, nettool, nft_load, nft_packets, run, sh};
use rstest::rstest;
use serde_json::Value;

#[rstest]
#[case::ipv4(Family::V4)]
#[case::ipv6(Family::V6)]
fn an_open_port_three_hops_away(#[case] family: Family) {
    let path = Path::new(family, "trace-open");
    let scratch = Scratch::new();
    let server = path.listen(8080);
    nft_load(
        path.net.cmd_b("nft"),
        &format!(
            "table inet t {{\n counter rst {{ }}\n chain in {{\n type filter hook input priority 0;\n \
             {} tcp flags & rst == rst counter name rst\n }}\n}}\n",
            path.saddr_a()
        ),
    );
    let target = path.end(&path.b, 8080);
    let ran = path.trace(&scratch, &["--json", "-w", "2s", &target]);
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    let want = path.past_the_routers(3, vec![hop(3, 3, &path.b, "open")]);
    assert_eq!(probes(&ran), want, "{}", ran.show());
    let res = result(&ran);
    assert_eq!(
        (res["outcome"].as_str(), res["hops"].as_u64()),
        (Some("open"), Some(3)),
        "{}",
        ran.show()
    );
    let start = start(&ran);
    let src = format!("{}:", path.host(&path.a));
    assert!(
        start["src"].as_str().is_some_and(|s| s.starts_with(&src)),
        "{}",
        ran.show()
    );
    // Each SYN-ACK was reset by nettool.
    assert_eq!(resets(&ran), 3, "{}", ran.show());
    // Only nettool's RSTs reached B: the SYN-ACKs were dropped at A's
    // ingress (after nettool's tap) before A's kernel could answer them,
    // so the guard's output rule had no RST of the kernel's to drop.
    let mut counter = path.net.cmd_b("nft");
    counter.args(["list", "counter", "inet", "t", "rst"]);
    assert_eq!(nft_packets(&sh(counter)), 3, "{}", ran.show());
    assert_eq!(start["guard_ingress"], "eth0", "{}", ran.show());
    assert_eq!(res["rsts_dropped"], 0, "{}", ran.show());
    path.assert_no_half_open_connection(&server);
    path.assert_no_guard_left();
}

/// The lines for people: over IPv4 to an open port, over IPv6 to a
/// closed one (the README's samples).
#[rstest]
#[case::ipv4_open(Family::V4, true)]
#[case::ipv6_closed(Family::V6, false)]
fn the_human_output_reads_like_traceroute(#[case] family: Family, #[case] listening: bool) {
    let path = Path::new(family, "trace-text");
    let scratch = Scratch::new();
    let _server = listening.then(|| path.listen(8080));
    let (port, state, answer) = if listening {
        (8080, "open", "SYN-ACK")
    } else {
        (8081, "closed", "RST")
    };
    let target = path.end(&path.b, port);
    let ran = path.trace(&scratch, &["--queries", "2", &target]);
    println!("{}", ran.stdout); // for the README: `-- --nocapture`
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert!(
        lines[0].starts_with(&format!("TRACE {target} from {}:", path.host(&path.a))),
        "{}",
        ran.show()
    );
    assert!(
        lines[1].starts_with(&format!("next hop {} is-at", path.r1)),
        "{}",
        ran.show()
    );
    let starts = [
        format!(" 1  {}  ", path.r1),
        format!(" 2  {}  ", path.r2),
        format!(" 3  {}  [{state}, {answer}]  ", path.b),
    ];
    for (line, start) in lines[2..5].iter().zip(&starts) {
        assert!(
            line.starts_with(start.as_str()),
            "{line:?} should start with {start:?}\n{}",
            ran.show()
        );
        assert_eq!(line.matches(" ms").count(), 2, "{line:?}");
    }
    // No note of RSTs dropped: the kernel never saw the SYN-ACKs (the
    // guard dropped them at A's ingress), so it sent none.
    assert_eq!(
        lines[5..],
        [format!("{target} reached in 3 hops: port {state}").as_str()],
        "{}",
        ran.show()
    );
    path.assert_no_guard_left();
}

#[rstest]
#[case::ipv4(Family::V4)]
#[case::ipv6(Family::V6)]
fn a_closed_port_ends_with_the_destination_s_rst(#[case] family: Family) {
    let path = Path::new(family, "trace-closed");
    let scratch = Scratch::new();
    let target = path.end(&path.b, 8081);
    let ran = path.trace(&scratch, &["--json", "--queries", "2", &target]);
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    let want = path.past_the_routers(2, vec![hop(3, 2, &path.b, "closed")]);
    assert_eq!(probes(&ran), want, "{}", ran.show());
    assert_eq!(result(&ran)["outcome"], "closed");
    assert_eq!(resets(&ran), 0, "no RST answers a RST");
}

/// A port B drops is silence after the routers: stars up to --max-ttl,
/// `no-reply`, exit 1.
#[rstest]
#[case::ipv4(Family::V4)]
#[case::ipv6(Family::V6)]
fn a_filtered_destination_is_silence_after_the_routers(#[case] family: Family) {
    let path = Path::new(family, "trace-filtered");
    let scratch = Scratch::new();
    let _server = path.listen(8080);
    nft_load(
        path.net.cmd_b("nft"),
        "table inet t {\n counter syn { }\n chain in {\n type filter hook input priority 0;\n \
         tcp dport 8080 tcp flags & syn == syn counter name syn drop\n }\n}\n",
    );
    let target = path.end(&path.b, 8080);
    let ran = path.trace(
        &scratch,
        &[
            "--json",
            "--queries",
            "2",
            "-m",
            "5",
            "-w",
            "300ms",
            &target,
        ],
    );
    assert_eq!(ran.code, Some(1), "{}", ran.show());
    let want = path.past_the_routers(2, vec![stars(3, 2), stars(4, 2), stars(5, 2)]);
    assert_eq!(probes(&ran), want, "{}", ran.show());
    assert_eq!(result(&ran)["outcome"], "no-reply");
    let mut counter = path.net.cmd_b("nft");
    counter.args(["list", "counter", "inet", "t", "syn"]);
    assert_eq!(
        nft_packets(&sh(counter)),
        6,
        "B dropped every SYN that reached it"
    );
    path.assert_no_guard_left();
}

// ----- over IPv4 only -----

#[test]
fn a_router_that_sends_no_time_exceeded_is_a_star() {
    let path = Path::new(Family::V4, "trace-silent");
    let net = &path.net;
    let scratch = Scratch::new();
    let _server = path.listen(8080);
    nft_load(
        net.cmd_r2("nft"),
        "table ip t {\n counter te { }\n chain out {\n type filter hook output priority 0;\n \
         icmp type time-exceeded counter name te drop\n }\n}\n",
    );
    let target = format!("{}:8080", net.addr_b);
    let ran = path.trace(
        &scratch,
        &["--json", "--queries", "2", "-w", "300ms", &target],
    );
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    let want: Vec<_> = [
        hop(1, 2, &net.r1_near.to_string(), "time-exceeded"),
        stars(2, 2),
        hop(3, 2, &net.addr_b.to_string(), "open"),
    ]
    .concat();
    assert_eq!(probes(&ran), want, "{}", ran.show());
    let mut counter = net.cmd_r2("nft");
    counter.args(["list", "counter", "ip", "t", "te"]);
    assert_eq!(
        nft_packets(&sh(counter)),
        2,
        "R2's two time-exceeded were dropped"
    );
}

#[test]
fn an_unreachable_from_a_router_stops_the_trace() {
    let path = Path::new(Family::V4, "trace-unreach");
    let net = &path.net;
    let scratch = Scratch::new();
    nft_load(
        net.cmd_r2("nft"),
        "table ip t {\n chain forward_probe {\n type filter hook forward priority 0;\n \
         tcp dport 8080 reject with icmp type host-unreachable\n }\n}\n",
    );
    let target = format!("{}:8080", net.addr_b);
    let ran = path.trace(&scratch, &["--json", "--queries", "1", &target]);
    assert_eq!(ran.code, Some(1), "{}", ran.show());
    let r2 = net.r2_near.to_string();
    let want: Vec<_> = [
        hop(1, 1, &net.r1_near.to_string(), "time-exceeded"),
        hop(2, 1, &r2, "time-exceeded"),
        hop(3, 1, &r2, "unreachable"),
    ]
    .concat();
    assert_eq!(probes(&ran), want, "{}", ran.show());
    let res = result(&ran);
    assert_eq!(res["outcome"], "unreachable");
    assert!(
        res["what"].as_str().unwrap().contains("host unreachable"),
        "{res}"
    );
}

#[test]
fn a_source_address_the_kernel_does_not_own_needs_no_guard() {
    let path = Path::new(Family::V4, "trace-source");
    let net = &path.net;
    let scratch = Scratch::new();
    let server = path.listen(8080);
    let octets = net.addr_a.octets();
    let own = std::net::Ipv4Addr::new(octets[0], octets[1], octets[2], 9);
    let target = format!("{}:8080", net.addr_b);
    let ran = path.trace(
        &scratch,
        &["--json", "--queries", "1", "-s", &own.to_string(), &target],
    );
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    let start: Value = serde_json::from_str(ran.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(start["guard"], Value::Null);
    assert!(
        start["src"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{own}:"))
    );
    // R1 learned the address from nettool's own ARP request for the next
    // hop, so it may never ask: nettool answers when it does.
    let want: Vec<_> = [
        hop(1, 1, &net.r1_near.to_string(), "time-exceeded"),
        hop(2, 1, &net.r2_near.to_string(), "time-exceeded"),
        hop(3, 1, &net.addr_b.to_string(), "open"),
    ]
    .concat();
    assert_eq!(probes(&ran), want, "{}", ran.show());
    path.assert_no_half_open_connection(&server);
}

#[test]
fn ctrl_c_stops_the_trace_and_removes_the_guard() {
    use std::os::unix::process::ExitStatusExt;
    let path = Path::new(Family::V4, "trace-int");
    let net = &path.net;
    let scratch = Scratch::new();
    nft_load(
        net.cmd_b("nft"),
        "table inet t {\n chain in {\n type filter hook input priority 0;\n \
         tcp dport 8080 drop\n }\n}\n",
    );
    let tables = || {
        let mut cmd = net.cmd_a("nft");
        cmd.args(["list", "tables"]);
        sh(cmd)
    };
    let mut cmd = net.cmd_a(nettool());
    cmd.args(["trace", "-w", "5s", &format!("{}:8080", net.addr_b)])
        .env("NETTOOL_ARP_CACHE", scratch.cache())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let start = std::time::Instant::now();
    while !tables().contains("nettool-guard") {
        assert!(start.elapsed() < LIMIT, "the guard never appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Hops 1 and 2 answer at once; hop 3 then waits on B's silence.
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.signal(), Some(libc::SIGINT), "{stdout}");
    assert!(
        stdout.contains(&format!(" 2  {}  ", net.r2_near)),
        "{stdout}"
    );
    assert!(stdout.ends_with("trace interrupted\n"), "{stdout}");
    assert!(
        !tables().contains("nettool-guard"),
        "the guard must be gone"
    );
}

/// `nettool probe --ttl N` across the routers: a segment whose TTL runs
/// out at a router comes back as that router's ICMP time exceeded, matched
/// to the probe through the quoted header.
#[rstest]
#[case::first_router(1)]
#[case::second_router(2)]
fn probe_with_a_short_ttl_hears_from_the_router_where_it_expires(#[case] ttl: u8) {
    let path = Path::new(
        Family::V4,
        if ttl == 1 { "probe-ttl1" } else { "probe-ttl2" },
    );
    let net = &path.net;
    let scratch = Scratch::new();
    let _server = path.listen(8080);
    let mut cmd = net.cmd_a(nettool());
    cmd.args([
        "probe",
        "-c",
        "2",
        "--interval",
        "100ms",
        "--ttl",
        &ttl.to_string(),
    ])
    .arg(format!("{}:8080", net.addr_b))
    .env("NETTOOL_ARP_CACHE", scratch.cache());
    let r = run(cmd, LIMIT);
    let router = if ttl == 1 { net.r1_near } else { net.r2_near };
    assert!(r.stdout.contains("time exceeded"), "{}", r.show());
    assert!(
        r.stdout.contains(&router.to_string()),
        "the answer must come from {router}:\n{}",
        r.show()
    );
    assert!(
        !r.stdout.contains("port open"),
        "a probe that expired never reached B:\n{}",
        r.show()
    );
}
