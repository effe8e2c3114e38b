//! The hostile-peer suite against the real binary: `nettool nc -l -v`
//! in namespace A, and in B one python3 process (tests/peers/hostile.py)
//! that is both the kernel's TCP client and an attacker on the path,
//! sniffing the flow's 4-tuple and sequence numbers and writing forged
//! frames through AF_PACKET.
//!
//! - RFC 5961 on the idle connection: blind in-window RSTs not at
//!   RCV.NXT, SYNs, and data whose ACK is far below SND.UNA draw challenge
//!   ACKs, at most one per 500 ms (§7), and reset nothing.
//! - Then 4 MiB from the client, byte-exact (SHA-256), while every
//!   malformed case of the README's Security table is sent hundreds of
//!   times at the flow's 4-tuple; nettool's `-v` counts the drops by
//!   reason.
//!
//! The SYN flood is tests/nc_listen_e2e.rs's; ARP spoofing is
//! tests/arp_e2e.rs's.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::{MIB, Scratch, Server, nettool, once_listening, read_all, sha};
use nettool::lab::testnet::TwoHosts;

const HOSTILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/hostile.py");
const PORT: &str = "9301";
const SIZE: usize = 4 * MIB;
/// The client's pace: the transfer lasts about two seconds, long enough
/// for the attack to land in the middle of it.
const RATE: usize = 2 * MIB;
/// Frames of each case.
const REPEAT: u32 = 200;

/// Kills the listener however the test ends (a process left running would
/// outlive its namespace).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `(reason, count)` pairs of `-v`'s `dropped …` line: `what` is
/// "segment" or "malformed frame" (singular or plural in the line, as
/// the count has it).
fn drop_counts(log: &str, what: &str) -> BTreeMap<String, u64> {
    let Some(line) = log.lines().find(|l| l.starts_with("nettool: dropped ")) else {
        return BTreeMap::new();
    };
    let Some((at, word)) = [format!(" {what}s ("), format!(" {what} (")]
        .into_iter()
        .find_map(|w| line.find(&w).map(|at| (at, w)))
    else {
        return BTreeMap::new();
    };
    let rest = &line[at + word.len()..];
    let list = &rest[..rest.find(')').expect("a closing parenthesis")];
    list.split(", ")
        .map(|item| {
            let (reason, n) = item.rsplit_once(' ').expect("REASON COUNT");
            (reason.to_owned(), n.parse().expect("a count"))
        })
        .collect()
}

#[test]
fn a_transfer_survives_blind_attacks_and_malformed_frames() {
    let hosts = TwoHosts::new("hostile");
    // Jumbo frames must cross the veth pair to reach nettool at all.
    for mut ip in [hosts.cmd_a("ip"), hosts.cmd_b("ip")] {
        ip.args(["link", "set", "eth0", "mtu", "9000"]);
        common::sh(ip);
    }
    let scratch = Scratch::new();
    let a = hosts.addr_a.to_string();
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["nc", "-v", "-l", &a, PORT])
        .env("NETTOOL_ARP_CACHE", scratch.cache())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut listener = Killed(cmd.spawn().unwrap());
    let mut stdin = listener.0.stdin.take();
    let stderr = once_listening(listener.0.stderr.take().unwrap());
    let stdout = read_all(listener.0.stdout.take().unwrap());

    let mut peer = hosts.cmd_b("python3");
    peer.args([
        HOSTILE,
        "eth0",
        &hosts.mac_a().to_string(),
        &a,
        PORT,
        &SIZE.to_string(),
        "7",
        &RATE.to_string(),
        &REPEAT.to_string(),
    ]);
    let mut peer = Server::spawn(peer);
    peer.wait_for("connected", Duration::from_secs(10));
    peer.wait_for("phase2", Duration::from_secs(10));
    // nettool's FIN once the peer's data is in: the client waits for it.
    let _ = stdin.as_mut().map(|s| s.flush());
    drop(stdin.take());
    let summary = peer.wait_for("{", Duration::from_secs(40));
    let status = listener.0.wait().unwrap();
    let log = stderr.join().unwrap();
    let received = stdout.join().unwrap();
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    println!("{summary}\n--- nettool\n{log}");

    // The stream arrived byte-exact, and the connection ended normally.
    assert!(status.success(), "{status}\n{log}");
    assert_eq!(received.len(), SIZE, "{log}");
    assert_eq!(sha(&received), summary["sha256"].as_str().unwrap(), "{log}");

    // RFC 5961 §7: at most one challenge ACK per 500 ms, and at least one.
    let secs = summary["phase1_secs"].as_f64().unwrap() + 0.3;
    let challenges = summary["challenge_acks"].as_u64().unwrap();
    let most = (secs / 0.5).floor() as u64 + 1;
    assert!(
        (1..=most).contains(&challenges),
        "{challenges} challenge ACKs in {secs:.2} s (at most {most})\n{log}"
    );

    // Every forged segment of phase 1 was dropped, for its own reason.
    let segments = drop_counts(&log, "segment");
    let n = u64::from(REPEAT);
    for reason in ["rst-not-exact", "syn-in-window", "ack-out-of-range"] {
        assert_eq!(
            segments.get(reason),
            Some(&n),
            "{reason}: {segments:?}\n{log}"
        );
    }

    // Malformed frames, counted by what is wrong with them. Random frames
    // add to some of these: hence at least.
    let malformed = drop_counts(&log, "malformed frame");
    let at_least = |reason: &str, cases: u64| {
        let got = malformed.get(reason).copied().unwrap_or(0);
        assert!(
            got >= cases * n,
            "{reason}: {got} < {}: {malformed:?}\n{log}",
            cases * n
        );
    };
    // TCP data offset < 5 or past the segment, IHL < 5, total length below
    // the header.
    at_least("bad length field", 4);
    // Total length above the frame; an Ethernet header alone.
    at_least("truncated", 2);
    // TCP and IPv4 header checksums.
    at_least("bad checksum", 2);
    // A first fragment of 84 bytes with more to follow (not a multiple of
    // 8) discards its datagram; the later one, of the same datagram, is
    // then refused too (RFC 5722, src/wire/frag.rs).
    at_least("malformed IPv4 fragment", 2);
    // Option length 0; option running past the header.
    at_least("malformed TCP option length", 2);
}

const ARP_SPOOF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/arp_spoof.py");

/// While B floods A with ARP that no cache should believe (unsolicited
/// replies, gratuitous requests, replies from another sender IP than
/// asked, replies from multicast and broadcast MACs), `nettool arp`
/// resolves B to its real MAC, reports no conflict, and the cache file
/// holds B alone. (Two MACs answering one request, the CONFLICT case, is
/// tests/arp_e2e.rs's `two_macs_answering_one_request_…`.)
#[test]
fn arp_spoofing_creates_no_cache_entry() {
    let hosts = TwoHosts::new("hostile-arp");
    let scratch = Scratch::new();
    let peer = hosts.addr_b.to_string();
    let mut spoof = hosts.cmd_b("python3");
    spoof.args([
        ARP_SPOOF,
        "eth0",
        &hosts.mac_a().to_string(),
        &hosts.addr_a.to_string(),
        &peer,
        "2",
    ]);
    let mut spoof = Server::spawn(spoof);
    spoof.wait_for("ready", Duration::from_secs(10));
    let arp = |args: &[&str]| {
        let mut cmd = hosts.cmd_a(nettool());
        cmd.arg("arp")
            .args(args)
            .env("NETTOOL_ARP_CACHE", scratch.cache());
        common::run(cmd, Duration::from_secs(20))
    };
    for args in [
        &["--json", "--no-cache", &peer][..],
        &["--json", "-c", "3", "--interval", "100ms", &peer][..],
    ] {
        let r = arp(args);
        assert_eq!(r.code, Some(0), "{}", r.show());
        let events = r.json_lines();
        assert!(
            !events.iter().any(|v| v["event"] == "conflict"),
            "a forged reply made a conflict:\n{}",
            r.show()
        );
        for reply in events.iter().filter(|v| v["event"] == "reply") {
            assert_eq!(reply["mac"], hosts.mac_b().to_string(), "{}", r.show());
        }
    }
    let sent = spoof.wait_for("sent", Duration::from_secs(10));
    let cache = std::fs::read_to_string(scratch.cache()).expect("the cache file");
    let forged = hosts.addr_a.octets();
    for ip in [77, 88, 99] {
        let other = std::net::Ipv4Addr::new(forged[0], forged[1], forged[2], ip).to_string();
        assert!(
            !cache.contains(&format!("\"{other}\"")),
            "{other} cached:\n{cache}"
        );
    }
    for mac in ["02:66:66:66:66", "01:00:5e", "ff:ff:ff:ff:ff:ff"] {
        assert!(!cache.contains(mac), "{mac} cached:\n{cache}");
    }
    assert!(cache.contains(&hosts.mac_b().to_string()), "{cache}");
    println!("{sent}; the cache:\n{cache}");
}
