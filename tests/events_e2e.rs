//! Every subcommand's `--json`, run for real, checked line by line against
//! tests/events.schema.json: nettool in namespace A, the Linux kernel in B.
//! Each run must open with `start`, end with `result` whose `exit` is the
//! exit status, and print nothing else on stdout. Needs root; fails loudly
//! without it.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use common::schema::Schema;
use common::{Ran, Scratch, Server, nettool, nft_load, run};
use nettool::lab::testnet::{TwoHosts, unique_lab_name};

const LIMIT: Duration = Duration::from_secs(30);

/// Runs `nettool ARGS` in A and checks its output against the schema;
/// returns the names of the events it printed.
fn checked(hosts: &TwoHosts, scratch: &Scratch, schema: &Schema, args: &[&str]) -> Vec<String> {
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(args).env("NETTOOL_ARP_CACHE", scratch.cache());
    let r = run(cmd, LIMIT);
    if std::env::var_os("EVENTS_SHOW").is_some() {
        eprintln!("$ nettool {}\n{}", args.join(" "), r.stdout);
    }
    check(&r, schema, args)
}

fn check(r: &Ran, schema: &Schema, args: &[&str]) -> Vec<String> {
    let code = r
        .code
        .unwrap_or_else(|| panic!("{args:?} did not finish\n{}", r.show()));
    assert_ne!(code, 2, "{args:?} failed locally\n{}", r.show());
    let names: Vec<String> = r
        .stdout
        .lines()
        .map(|l| {
            schema
                .check_line(l)
                .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", r.show()))
        })
        .collect();
    assert_eq!(
        names.first().map(String::as_str),
        Some("start"),
        "{args:?}\n{}",
        r.show()
    );
    assert_eq!(
        names.last().map(String::as_str),
        Some("result"),
        "{args:?}\n{}",
        r.show()
    );
    assert_eq!(
        names
            .iter()
            .filter(|n| *n == "start" || *n == "result")
            .count(),
        2,
        "one start, one result\n{}",
        r.show()
    );
    let last: serde_json::Value = serde_json::from_str(r.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        last["exit"].as_i64(),
        Some(i64::from(code)),
        "{args:?}: the result's exit is the exit status\n{}",
        r.show()
    );
    let ts: Vec<f64> = r
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["t"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert!(
        ts.iter().all(|t| (0.0..30.0).contains(t)),
        "{args:?}: t is seconds since the start\n{}",
        r.show()
    );
    names
}

#[test]
fn every_command_prints_only_lines_the_schema_knows() {
    let schema = Schema::load();
    let hosts = TwoHosts::new("events");
    let scratch = Scratch::new();
    let b = hosts.addr_b.to_string();
    let a = hosts.addr_a.to_string();
    let nobody = Ipv4Addr::from(u32::from(hosts.subnet.network()) + 99).to_string();
    let subnet = hosts.subnet.to_string();
    let fast = ["--interval", "50ms", "-W", "100ms"];
    let mut seen = BTreeSet::new();
    let mut go = |args: &[&str]| {
        let mut argv = args.to_vec();
        argv.push("--json");
        seen.extend(checked(&hosts, &scratch, &schema, &argv));
    };
    // arp, every mode.
    go(&["arp", "--ttl", "300ms", &b]); // the wire answers, learned for 300 ms
    go(&["arp", &b]); // the cache answers
    std::thread::sleep(Duration::from_millis(400));
    go(&["arp", &b]); // stale: re-validated
    go(&["arp", "-c", "2", "--interval", "50ms", &b]);
    go(&["arp", fast[0], fast[1], fast[2], fast[3], &nobody]);
    go(&[
        "arp",
        "--retries",
        "0",
        "--rate",
        "20000",
        "-W",
        "100ms",
        &subnet,
    ]);
    go(&["arp", "--dad", fast[0], fast[1], fast[2], fast[3], &b]);
    go(&["arp", "--dad", fast[0], fast[1], fast[2], fast[3], &nobody]);
    go(&["arp", "--announce", "-c", "1", &a]);
    go(&["arp", "--show"]);
    go(&["arp", "--flush"]);
    // probe and scan: an open port (a kernel listener in B), a closed one.
    let _server = Server::start(&hosts, "hold", 8080, 0);
    let open = format!("{b}:8080");
    go(&[
        "probe",
        "-v",
        "-c",
        "2",
        "--interval",
        "20ms",
        "-W",
        "200ms",
        &open,
    ]);
    go(&["probe", "-c", "1", "-W", "200ms", "--dport", "81,8080", &b]);
    go(&["scan", &b, "79-81,8080"]);
    go(&["scan", &b, "81"]);
    // handshake and close: open, closed, a withheld ACK, data and a close,
    // and a source address the kernel does not own (nettool answers ARP).
    let http = Server::start(&hosts, "http", 8081, 0);
    go(&["handshake", "--linger", "100ms", &open]);
    go(&["handshake", &format!("{b}:81")]);
    go(&["handshake", "--no-ack", "--observe", "300ms", &open]);
    let request = "GET / HTTP/1.0\\r\\n\\r\\n";
    go(&[
        "close",
        "--passive",
        "--data",
        request,
        &format!("{b}:8081"),
    ]);
    go(&["close", "--time-wait", "200ms", "--linger", "100ms", &open]);
    let own = Ipv4Addr::from(u32::from(hosts.subnet.network()) + 9).to_string();
    go(&["handshake", "-s", &own, "--linger", "100ms", &open]);
    drop(http);
    // trace, one hop away: open, then closed.
    go(&["trace", "--queries", "2", "-w", "300ms", &open]);
    go(&["trace", "--queries", "1", "-w", "300ms", &format!("{b}:81")]);
    // Silence and ICMP: B rejects port 83 with admin-prohibited, drops 84.
    nft_load(
        hosts.cmd_b("nft"),
        "table inet t {\n chain in {\n type filter hook input priority 0;\n \
         tcp dport 83 reject with icmp type admin-prohibited\n tcp dport 84 drop\n }\n}\n",
    );
    go(&["handshake", &format!("{b}:83")]);
    go(&["handshake", "--retries", "0", &format!("{b}:84")]);
    go(&["probe", "-c", "1", "-W", "200ms", "--dport", "83,84", &b]);
    go(&["scan", "--retries", "0", "--timeout", "200ms", &b, "83-84"]);
    go(&[
        "trace",
        "--queries",
        "1",
        "-m",
        "1",
        "-w",
        "200ms",
        &format!("{b}:84"),
    ]);
    // A next hop that does not answer ARP.
    go(&["probe", "-c", "1", &format!("{nobody}:80")]);
    // lab status of a lab that is not there (tests/cli.rs checks one that is).
    let name = unique_lab_name();
    go(&["lab", "status", "--name", &name]);
    for want in [
        "start",
        "reply",
        "cache",
        "lab",
        "probe",
        "segment",
        "port",
        "hop",
        "state",
        "data",
        "closed",
        "arp-answered",
        "sender",
        "result",
    ] {
        assert!(seen.contains(want), "no {want} event in any run: {seen:?}");
    }
}
