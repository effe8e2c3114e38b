//! `nettool nc -l -k` with more than one client at a time: the kernel's
//! TCP, through OpenBSD netcat, as the clients.
//!
//! - Under a flood of spoofed SYNs a real client still connects and
//!   transfers at once, and the listener's memory stays bounded: the
//!   half-open queue holds 256 connections (evicting the oldest), each
//!   under 4 KiB of heap (tests/iface_memory.rs measures about 2.6 KiB),
//!   so under 1 MiB in all, whatever the flood's size. Before the listener had a flow table, the first
//!   spoofed SYN put it in SYN-RECEIVED and every other client was ignored
//!   until that half-open connection gave up, about two minutes later.
//! - Two clients at once both complete their handshakes at the first SYN;
//!   the second is served when the first ends.
//!
//! `NETTOOL_UNDER_TEST=/path/to/nettool` runs the test against another
//! build (to show that it fails on one without the fix).

mod common;

use std::process::{Child, Stdio};
use std::time::Duration;

use common::{Scratch, nettool, once_listening, read_all, run_with_input};
use nettool::lab::testnet::TwoHosts;

const FLOOD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/synflood.py");
const PORT: &str = "9102";
const SPOOFED_SYNS: &str = "5000";
/// What the flood may add to the listener's resident memory: the
/// half-open queue's 1 MiB bound with room for the allocator's slack.
/// Unbounded, 5000 half-open connections would take about 13 MB.
const FLOOD_RSS_BOUND: u64 = 4 << 20;

/// `VmRSS` of a process, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/PID/status");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

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
    let stderr = once_listening(listener.0.stderr.take().unwrap());
    let stdout = read_all(listener.0.stdout.take().unwrap());

    let rss_before = rss(listener.0.id());
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
    // Let the listener read the last of the flood.
    std::thread::sleep(Duration::from_millis(300));
    let grown = rss(listener.0.id()).saturating_sub(rss_before);
    assert!(
        grown < FLOOD_RSS_BOUND,
        "the flood grew the listener by {grown} bytes"
    );
    println!("the flood grew the listener's RSS by {grown} bytes");

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
    assert!(log.contains("half-open connections evicted"), "{log}");
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
    let stderr = once_listening(listener.0.stderr.take().unwrap());
    let stdout = read_all(listener.0.stdout.take().unwrap());
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

/// `nc -l -k -v` sums each connection up on its own: three clients of
/// 5000 bytes each get three summaries of 5000 bytes (never the wire
/// bytes of all connections so far), and Ctrl-C while waiting for a
/// fourth adds no summary of a connection that never was.
#[test]
fn keep_open_sums_each_connection_alone_and_ctrl_c_adds_no_summary() {
    let hosts = TwoHosts::new("nc-keep");
    let scratch = Scratch::new();
    let a = hosts.addr_a.to_string();
    let port = "9104";
    let mut cmd = hosts.cmd_a(&binary());
    cmd.args(["nc", "-v", "-l", "-k", &a, port])
        .env("NETTOOL_ARP_CACHE", scratch.cache())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut listener = Killed(cmd.spawn().unwrap());
    let stderr = once_listening(listener.0.stderr.take().unwrap());
    let stdout = read_all(listener.0.stdout.take().unwrap());
    for _ in 0..3 {
        let mut client = hosts.cmd_b("nc");
        client.args(["-N", "-w", "8", &a, port]);
        let r = run_with_input(client, Some(vec![b'x'; 5000]), Duration::from_secs(20));
        assert_eq!(r.code, Some(0), "{}", r.show());
    }
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(listener.0.id() as i32, libc::SIGINT) };
    let _ = listener.0.wait();
    let log = stderr.join().unwrap();
    assert_eq!(stdout.join().unwrap().len(), 15000, "{log}");
    let summaries: Vec<&str> = log.lines().filter(|l| l.contains(" received ")).collect();
    assert_eq!(summaries.len(), 3, "one summary a connection:\n{log}");
    for s in &summaries {
        assert!(s.contains("received 5000 bytes ("), "{s}\n{log}");
        assert!(!s.contains("15000") && !s.contains("10000"), "{s}\n{log}");
    }
}
