//! `nettool nc -l -k` with more than one client at a time: the kernel's
//! TCP, through OpenBSD netcat, as the clients.
//!
//! - Under a flood of spoofed SYNs a real client still connects and
//!   transfers at once. Before the listener had a flow table, the first
//!   spoofed SYN put it in SYN-RECEIVED and every other client was ignored
//!   until that half-open connection gave up, about two minutes later.
//! - Two clients at once both complete their handshakes at the first SYN;
//!   the second is served when the first ends.
//!
//! `NETTOOL_UNDER_TEST=/path/to/nettool` runs the test against another
//! build (to show that it fails on one without the fix).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::time::Duration;

use common::{Scratch, nettool, run_with_input};
use nettool::lab::testnet::TwoHosts;

const FLOOD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/synflood.py");
const PORT: &str = "9102";
const SPOOFED_SYNS: &str = "3000";

/// The kernel's count of retransmitted SYNs in a namespace
/// (`TcpExtTCPSynRetrans`).
fn syn_retransmissions(mut cat: std::process::Command) -> u64 {
    let text = common::sh({
        cat.arg("/proc/net/netstat");
        cat
    });
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        if !names.starts_with("TcpExt:") {
            continue;
        }
        let at = names
            .split_whitespace()
            .position(|n| n == "TCPSynRetrans")
            .expect("TcpExt has TCPSynRetrans");
        return values.split_whitespace().nth(at).unwrap().parse().unwrap();
    }
    panic!("no TcpExt line in /proc/net/netstat:\n{text}")
}

/// Kills the listener however the test ends (a process left running would
/// outlive its namespace).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn binary() -> String {
    std::env::var("NETTOOL_UNDER_TEST").unwrap_or_else(|_| nettool().to_owned())
}

#[test]
fn a_real_client_connects_through_a_flood_of_spoofed_syns() {
    let hosts = TwoHosts::new("nc-flood");
    let scratch = Scratch::new();
    let a = hosts.addr_a.to_string();
    let mut cmd = hosts.cmd_a(&binary());
    cmd.args(["nc", "-v", "-l", "-k", &a, PORT])
        .env("NETTOOL_ARP_CACHE", scratch.cache())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut listener = Killed(cmd.spawn().unwrap());
    let mut err = BufReader::new(listener.0.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "nettool exited before listening"
        );
    }
    let stderr = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
        rest
    });
    let mut out = listener.0.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = out.read_to_end(&mut bytes);
        bytes
    });

    let mut flood = hosts.cmd_b("python3");
    flood.args([
        FLOOD,
        "eth0",
        &hosts.mac_a().to_string(),
        &a,
        PORT,
        SPOOFED_SYNS,
    ]);
    let sent = common::run(flood, Duration::from_secs(30));
    assert_eq!(sent.code, Some(0), "{}", sent.show());

    // The kernel's client: it gives up after 8 s without a connection.
    let mut client = hosts.cmd_b("nc");
    client.args(["-N", "-w", "8", &a, PORT]);
    let got = run_with_input(
        client,
        Some(b"through the flood\n".to_vec()),
        Duration::from_secs(20),
    );

    // SAFETY: signalling our own child.
    unsafe { libc::kill(listener.0.id() as i32, libc::SIGTERM) };
    let _ = listener.0.wait();
    let log = stderr.join().unwrap();
    let received = stdout.join().unwrap();
    assert_eq!(got.code, Some(0), "{}\n--- nettool\n{log}", got.show());
    assert!(
        got.elapsed < Duration::from_secs(4),
        "the client took {:?}\n--- nettool\n{log}",
        got.elapsed
    );
    assert_eq!(
        String::from_utf8_lossy(&received),
        "through the flood\n",
        "{log}"
    );
    // -v counts what the flood cost.
    assert!(log.contains("half-open connection(s) evicted"), "{log}");
    println!("the client was served {:?} after the flood", got.elapsed);
}

#[test]
fn two_clients_at_once_both_complete_their_handshakes() {
    let hosts = TwoHosts::new("nc-two");
    let scratch = Scratch::new();
    let a = hosts.addr_a.to_string();
    let port = "9103";
    let mut cmd = hosts.cmd_a(&binary());
    cmd.args(["nc", "-v", "-l", "-k", &a, port])
        .env("NETTOOL_ARP_CACHE", scratch.cache())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut listener = Killed(cmd.spawn().unwrap());
    let mut err = BufReader::new(listener.0.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "nettool exited before listening"
        );
    }
    let stderr = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
        rest
    });
    let mut out = listener.0.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = out.read_to_end(&mut bytes);
        bytes
    });
    let retrans_before = syn_retransmissions(hosts.cmd_b("cat"));
    let clients: Vec<_> = ["one\n", "two\n"]
        .into_iter()
        .map(|word| {
            let mut client = hosts.cmd_b("nc");
            client.args(["-N", "-w", "8", &a, port]);
            std::thread::spawn(move || {
                run_with_input(
                    client,
                    Some(word.as_bytes().to_vec()),
                    Duration::from_secs(20),
                )
            })
        })
        .collect();
    let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    // A SYN nettool ignored would have cost its client a retransmission.
    let retransmitted = syn_retransmissions(hosts.cmd_b("cat")) - retrans_before;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(listener.0.id() as i32, libc::SIGTERM) };
    let _ = listener.0.wait();
    let log = stderr.join().unwrap();
    let received = String::from_utf8_lossy(&stdout.join().unwrap()).into_owned();
    for r in &results {
        assert_eq!(r.code, Some(0), "{}\n--- nettool\n{log}", r.show());
    }
    assert_eq!(retransmitted, 0, "a client had to resend its SYN\n{log}");
    let mut lines: Vec<&str> = received.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["one", "two"], "{log}");
}
