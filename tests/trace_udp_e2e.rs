//! `nettool trace --udp` and `--icmp` across two Linux routers (nettool in
//! A, R1 and R2 forwarding, the kernel in B), as `tests/trace_e2e.rs` does
//! for TCP. Each test builds and removes its own four namespaces. Needs
//! root.

mod common;

use std::time::Duration;

use common::{Ran, Scratch, nettool, run};
use nettool::lab::routed::Routed;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

fn trace(net: &Routed, scratch: &Scratch, args: &[&str]) -> Ran {
    let mut cmd = net.cmd_a(nettool());
    cmd.arg("trace")
        .args(args)
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    run(cmd, LIMIT)
}

/// (ttl, who answered, answer) of every `hop` of a `--json` run.
fn hops(ran: &Ran) -> Vec<(u64, String, String)> {
    ran.json_lines()
        .iter()
        .filter(|v| v["event"] == "hop")
        .map(|v: &Value| {
            (
                v["ttl"].as_u64().unwrap(),
                v["ip"].as_str().unwrap_or("*").to_owned(),
                v["answer"].as_str().unwrap_or("*").to_owned(),
            )
        })
        .collect()
}

fn want(net: &Routed, last: &str) -> Vec<(u64, String, String)> {
    let r1 = net.r1_near.to_string();
    let r2 = net.r2_near.to_string();
    let b = net.addr_b.to_string();
    let mut v = Vec::new();
    for (ttl, from, answer) in [
        (1, &r1, "time-exceeded"),
        (2, &r2, "time-exceeded"),
        (3, &b, last),
    ] {
        for _ in 0..2 {
            v.push((ttl, from.clone(), answer.to_owned()));
        }
    }
    v
}

#[test]
fn a_udp_trace_ends_at_the_destinations_port_unreachable() {
    let net = Routed::new("trace-udp");
    let scratch = Scratch::new();
    let b = net.addr_b.to_string();
    let ran = trace(&net, &scratch, &["--udp", "--queries", "2", "--json", &b]);
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    assert_eq!(hops(&ran), want(&net, "port-unreachable"), "{}", ran.show());
    assert_eq!(
        start(&ran)["guard"],
        Value::Null,
        "no RST guard; {}",
        ran.show()
    );
    let text = trace(&net, &scratch, &["--udp", "--queries", "1", &b]);
    assert!(text.stdout.contains("with UDP"), "{}", text.show());
    assert!(
        text.stdout
            .contains("source port held by a bound UDP socket")
            && !text.stdout.contains("nft table"),
        "a UDP trace claims no TCP port and installs no RST guard; {}",
        text.show()
    );
    assert!(
        text.stdout.contains(&format!("{b} reached in 3 hops")),
        "{}",
        text.show()
    );
}

#[test]
fn an_icmp_trace_ends_at_the_destinations_echo_reply() {
    let net = Routed::new("trace-icmp");
    let scratch = Scratch::new();
    let b = net.addr_b.to_string();
    let ran = trace(&net, &scratch, &["--icmp", "--queries", "2", "--json", &b]);
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    assert_eq!(hops(&ran), want(&net, "echo-reply"), "{}", ran.show());
    let start = start(&ran);
    assert_eq!(start["guard"], Value::Null, "no RST guard; {}", ran.show());
    assert!(
        !start["src"].as_str().unwrap().ends_with(":0"),
        "an identifier of its own; {}",
        ran.show()
    );
    let text = trace(&net, &scratch, &["--icmp", "--queries", "1", &b]);
    assert!(
        text.stdout
            .contains("the kernel drops echo replies no ping socket waits for")
            && !text.stdout.contains("nft table"),
        "{}",
        text.show()
    );
}

/// The `start` line of a `--json` run.
fn start(ran: &Ran) -> Value {
    ran.json_lines()
        .into_iter()
        .find(|v| v["event"] == "start")
        .expect("a start line")
}
