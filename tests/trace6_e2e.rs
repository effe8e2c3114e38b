//! `nettool trace` over IPv6 across two Linux routers: nettool in A, R1
//! and R2 forwarding IPv6 (ICMPv6 rate limit off), the kernel in B; TCP,
//! `--udp` and `--icmp` (ICMPv6 echo), the hop limit raised hop by hop.
//! Each test builds and removes its own four namespaces (names carry the
//! pid). Needs root, python3 and nft.

mod common;

use std::time::Duration;

use common::ipv6::Routed6;
use common::{Ran, Scratch, Server, nettool, nft_load, nft_packets, run, sh};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

fn trace(net: &Routed6, scratch: &Scratch, args: &[&str]) -> Ran {
    let mut cmd = net.net.cmd_a(nettool());
    cmd.arg("trace")
        .args(args)
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    run(cmd, LIMIT)
}

/// A listening kernel socket in B on its IPv6 address, never accepting.
fn listen(net: &Routed6, port: u16) -> Server {
    let mut cmd = net.net.cmd_b("python3");
    cmd.args([common::PEER, "hold", &port.to_string(), "0", Routed6::B]);
    let mut s = Server::spawn(cmd);
    s.wait_for("ready", Duration::from_secs(10));
    s
}

/// (ttl, who answered, answer) of every `hop` of a `--json` run, `*` for
/// silence.
fn hops(ran: &Ran) -> Vec<(u64, String, String)> {
    ran.json_lines()
        .iter()
        .filter(|v| v["event"] == "hop" && v["late"] != true)
        .map(|v: &Value| {
            (
                v["ttl"].as_u64().unwrap(),
                v["ip"].as_str().unwrap_or("*").to_owned(),
                v["answer"].as_str().unwrap_or("*").to_owned(),
            )
        })
        .collect()
}

/// `queries` probes a hop: R1 and R2 expire them, then `(who, last)` at
/// hop 3.
fn want(queries: usize, last: &[(&str, &str)]) -> Vec<(u64, String, String)> {
    let mut v = Vec::new();
    let routers = [
        (Routed6::R1_NEAR, "time-exceeded"),
        (Routed6::R2_NEAR, "time-exceeded"),
    ];
    for (ttl, hop) in [&routers[..1], &routers[1..], last].iter().enumerate() {
        for &(from, answer) in hop.iter() {
            for _ in 0..queries {
                v.push((ttl as u64 + 1, from.to_owned(), answer.to_owned()));
            }
        }
    }
    v
}

fn result(ran: &Ran) -> Value {
    ran.json_lines().pop().expect("a result line")
}

fn start(ran: &Ran) -> Value {
    ran.json_lines()
        .into_iter()
        .find(|v| v["event"] == "start")
        .expect("a start line")
}

/// The RSTs nettool sent to end half-open connections.
fn resets(ran: &Ran) -> usize {
    ran.json_lines()
        .iter()
        .filter(|v| v["event"] == "segment" && v["dir"] == "out" && v["flags"] == "R")
        .count()
}

fn assert_no_guard_left(net: &Routed6) {
    let mut tables = net.net.cmd_a("nft");
    tables.args(["list", "tables"]);
    let left = sh(tables);
    assert!(!left.contains("nettool-guard"), "left behind: {left}");
}

#[test]
fn an_open_port_three_hops_away_over_ipv6() {
    let net = Routed6::new("trace6-open");
    let scratch = Scratch::new();
    let server = listen(&net, 8080);
    nft_load(
        net.net.cmd_b("nft"),
        &format!(
            "table inet t {{\n counter rst {{ }}\n chain in {{\n type filter hook input priority 0;\n \
             ip6 saddr {} tcp flags & rst == rst counter name rst\n }}\n}}\n",
            Routed6::A
        ),
    );
    let target = format!("[{}]:8080", Routed6::B);
    let ran = trace(
        &net,
        &scratch,
        &["--json", "--queries", "2", "-w", "2s", &target],
    );
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    assert_eq!(
        hops(&ran),
        want(2, &[(Routed6::B, "open")]),
        "{}",
        ran.show()
    );
    let res = result(&ran);
    assert_eq!(
        (res["outcome"].as_str(), res["hops"].as_u64()),
        (Some("open"), Some(3)),
        "{}",
        ran.show()
    );
    assert_eq!(
        start(&ran)["src"]
            .as_str()
            .map(|s| s.starts_with(&format!("[{}]:", Routed6::A))),
        Some(true)
    );
    // Each SYN-ACK was reset by nettool, and only its RSTs reached B: the
    // guard dropped the SYN-ACKs at A's ingress, so A's kernel never saw
    // them and had no RST of its own to send (none for the output rule).
    assert_eq!(resets(&ran), 2, "{}", ran.show());
    let mut counter = net.net.cmd_b("nft");
    counter.args(["list", "counter", "inet", "t", "rst"]);
    assert_eq!(nft_packets(&sh(counter)), 2, "{}", ran.show());
    assert_eq!(res["rsts_dropped"], 0, "{}", ran.show());
    assert!(!server.saw("accepted"), "B accepted a connection");
    let mut ss = net.net.cmd_b("ss");
    ss.args(["-Htn", "state", "syn-recv"]);
    assert_eq!(sh(ss).trim(), "", "B holds half-open connections");
    assert_no_guard_left(&net);
}

#[test]
fn the_human_output_over_ipv6_reads_like_traceroute6() {
    let net = Routed6::new("trace6-text");
    let scratch = Scratch::new();
    let target = format!("[{}]:8081", Routed6::B);
    let ran = trace(&net, &scratch, &["--queries", "2", &target]);
    println!("{}", ran.stdout); // for the README: `-- --nocapture`
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert!(
        lines[0].starts_with(&format!("TRACE {target} from [{}]:", Routed6::A)),
        "{}",
        ran.show()
    );
    assert!(
        lines[1].starts_with(&format!("next hop {} is-at", Routed6::R1_NEAR)),
        "{}",
        ran.show()
    );
    let starts = [
        format!(" 1  {}  ", Routed6::R1_NEAR),
        format!(" 2  {}  ", Routed6::R2_NEAR),
        format!(" 3  {}  [closed, RST]  ", Routed6::B),
    ];
    for (line, start) in lines[2..5].iter().zip(&starts) {
        assert!(
            line.starts_with(start.as_str()),
            "{line:?} should start with {start:?}\n{}",
            ran.show()
        );
        assert_eq!(line.matches(" ms").count(), 2, "{line:?}");
    }
    assert_eq!(
        lines.last().copied(),
        Some(format!("{target} reached in 3 hops: port closed").as_str())
    );
    assert_no_guard_left(&net);
}

/// A port B drops is silence after the routers, exactly as over IPv4:
/// stars up to --max-ttl, `no-reply`, exit 1.
#[test]
fn a_dropped_port_over_ipv6_is_silence_after_the_routers() {
    let net = Routed6::new("trace6-drop");
    let scratch = Scratch::new();
    let _server = listen(&net, 8080);
    nft_load(
        net.net.cmd_b("nft"),
        "table inet t {\n counter syn { }\n chain in {\n type filter hook input priority 0;\n \
         tcp dport 8080 tcp flags & syn == syn counter name syn drop\n }\n}\n",
    );
    let target = format!("[{}]:8080", Routed6::B);
    let ran = trace(
        &net,
        &scratch,
        &[
            "--json",
            "--queries",
            "2",
            "-m",
            "4",
            "-w",
            "300ms",
            &target,
        ],
    );
    assert_eq!(ran.code, Some(1), "{}", ran.show());
    let mut wanted = want(2, &[]);
    for ttl in [3, 4] {
        for _ in 0..2 {
            wanted.push((ttl, "*".to_owned(), "*".to_owned()));
        }
    }
    assert_eq!(hops(&ran), wanted, "{}", ran.show());
    assert_eq!(result(&ran)["outcome"], "no-reply");
    let mut counter = net.net.cmd_b("nft");
    counter.args(["list", "counter", "inet", "t", "syn"]);
    assert_eq!(
        nft_packets(&sh(counter)),
        4,
        "B dropped every SYN that reached it"
    );
    assert_no_guard_left(&net);
}

/// A router that rejects with ICMPv6 administratively prohibited ends the
/// trace at the hop past it (its forward chain sees only the probes that
/// outlive its hop), in ICMPv6's words.
#[test]
fn a_router_s_icmpv6_unreachable_ends_the_trace() {
    let net = Routed6::new("trace6-reject");
    let scratch = Scratch::new();
    nft_load(
        net.net.cmd_r2("nft"),
        "table ip6 t {\n chain c {\n type filter hook forward priority 0;\n \
         tcp dport 8082 reject with icmpv6 type admin-prohibited\n }\n}\n",
    );
    let target = format!("[{}]:8082", Routed6::B);
    let ran = trace(&net, &scratch, &["--json", "--queries", "1", &target]);
    assert_eq!(ran.code, Some(1), "{}", ran.show());
    let got = hops(&ran);
    assert_eq!(
        got,
        vec![
            (1, Routed6::R1_NEAR.to_owned(), "time-exceeded".to_owned()),
            (2, Routed6::R2_NEAR.to_owned(), "time-exceeded".to_owned()),
            // The probe that outlives R2's hop meets its forward chain.
            (3, Routed6::R2_NEAR.to_owned(), "unreachable".to_owned()),
        ],
        "{}",
        ran.show()
    );
    let res = result(&ran);
    assert_eq!(res["outcome"], "unreachable", "{}", ran.show());
    assert_eq!(res["ip"], Routed6::R2_NEAR);
    assert_eq!(
        res["what"],
        "administratively prohibited (ICMPv6 type 1, code 1)"
    );
    assert_eq!(res["hops"], 3);
    assert_no_guard_left(&net);
}

#[test]
fn a_udp_trace_over_ipv6_ends_at_the_destination_s_port_unreachable() {
    let net = Routed6::new("trace6-udp");
    let scratch = Scratch::new();
    let ran = trace(
        &net,
        &scratch,
        &["--udp", "--queries", "2", "--json", Routed6::B],
    );
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    assert_eq!(
        hops(&ran),
        want(2, &[(Routed6::B, "port-unreachable")]),
        "{}",
        ran.show()
    );
    assert_eq!(result(&ran)["outcome"], "closed");
    assert_eq!(start(&ran)["guard"], Value::Null, "no RST guard");
    let text = trace(&net, &scratch, &["--udp", "--queries", "1", Routed6::B]);
    assert!(
        text.stdout
            .contains(&format!("{} reached in 3 hops", Routed6::B)),
        "{}",
        text.show()
    );
    assert!(
        text.stdout.contains("[port unreachable: the destination]"),
        "{}",
        text.show()
    );
}

#[test]
fn an_icmp_trace_over_ipv6_ends_at_the_destination_s_echo_reply() {
    let net = Routed6::new("trace6-icmp");
    let scratch = Scratch::new();
    let ran = trace(
        &net,
        &scratch,
        &["--icmp", "--queries", "2", "--json", Routed6::B],
    );
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    assert_eq!(
        hops(&ran),
        want(2, &[(Routed6::B, "echo-reply")]),
        "{}",
        ran.show()
    );
    assert_eq!(result(&ran)["outcome"], "answered");
    assert_no_guard_left(&net);
}
