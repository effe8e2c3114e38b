//! `nettool arp` against real Linux neighbours: each test builds its own
//! pair of network namespaces (nettool in A, the kernel peer in B), and
//! removes them even when it fails. Needs root; fails loudly without it.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use common::{Ran, Scratch, Server, nettool, nft_load, nft_packets, run, sh};
use nettool::lab::testnet::TwoHosts;

const LIMIT: Duration = Duration::from_secs(20);

/// Runs nettool in A with a private cache file.
fn arp(hosts: &TwoHosts, scratch: &Scratch, args: &[&str]) -> Ran {
    let mut cmd = hosts.cmd_a(nettool());
    cmd.arg("arp")
        .args(args)
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    run(cmd, LIMIT)
}

/// Counts ARP frames arriving at B's eth0, split into broadcast and
/// unicast, with nftables in B's netdev ingress hook.
struct ArpCounter<'a> {
    hosts: &'a TwoHosts,
}

impl<'a> ArpCounter<'a> {
    fn install(hosts: &'a TwoHosts) -> ArpCounter<'a> {
        let rules = "table netdev nt {
            counter bcast {}
            counter ucast {}
            chain in {
                type filter hook ingress device eth0 priority 0;
                ether type arp ether daddr ff:ff:ff:ff:ff:ff counter name bcast
                ether type arp ether daddr != ff:ff:ff:ff:ff:ff counter name ucast
            }
        }";
        nft_load(hosts.cmd_b("nft"), rules);
        ArpCounter { hosts }
    }

    fn read(&self, name: &str) -> u64 {
        let mut cmd = self.hosts.cmd_b("nft");
        cmd.args(["list", "counter", "netdev", "nt", name]);
        nft_packets(&sh(cmd))
    }

    /// (broadcast, unicast) ARP frames seen so far.
    fn counts(&self) -> (u64, u64) {
        (self.read("bcast"), self.read("ucast"))
    }
}

#[test]
fn resolves_the_peer_to_its_real_mac() {
    let hosts = TwoHosts::new("arp-mac");
    let scratch = Scratch::new();
    let peer = hosts.addr_b.to_string();
    let r = arp(&hosts, &scratch, &["-q", &peer]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(r.stdout.trim(), hosts.mac_b().to_string(), "{}", r.show());
    // The human form names the MAC and a round-trip time.
    let r = arp(&hosts, &scratch, &["--no-cache", &peer]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout
            .contains(&format!("{peer} is-at {}", hosts.mac_b())),
        "{}",
        r.show()
    );
    assert!(r.stdout.contains("rtt"), "{}", r.show());
}

#[test]
fn an_unused_address_exits_1_within_the_timeout() {
    let hosts = TwoHosts::new("arp-none");
    let scratch = Scratch::new();
    let nobody = Ipv4Addr::from(u32::from(hosts.subnet.network()) + 99).to_string();
    let r = arp(
        &hosts,
        &scratch,
        &["--interval", "200ms", "-W", "300ms", &nobody],
    );
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert!(r.stdout.contains("no reply"), "{}", r.show());
    // Requests at 0, 0.2 and 0.4 s, then 0.3 s of waiting.
    assert!(r.elapsed >= Duration::from_millis(650), "{}", r.show());
    assert!(r.elapsed < Duration::from_secs(3), "{}", r.show());
}

#[test]
fn a_sweep_finds_exactly_the_twenty_live_hosts_and_caches_them() {
    let hosts = TwoHosts::new("arp-sweep");
    let scratch = Scratch::new();
    let base = u32::from(hosts.subnet.network());
    // B already owns .2; 19 more, scattered across the /24.
    let mut live: BTreeSet<Ipv4Addr> = BTreeSet::from([hosts.addr_b]);
    for i in 0..19 {
        let ip = Ipv4Addr::from(base + 7 + i * 13);
        hosts.add_peer_address(ip);
        live.insert(ip);
    }
    assert_eq!(live.len(), 20);
    let r = arp(&hosts, &scratch, &["--json", &hosts.subnet.to_string()]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    let mut found = BTreeSet::new();
    let mut summary = None;
    for line in r.stdout.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        match v["event"].as_str() {
            Some("start") => {}
            Some("reply") => {
                assert_eq!(v["mac"].as_str(), Some(&*hosts.mac_b().to_string()));
                found.insert(v["ip"].as_str().unwrap().parse::<Ipv4Addr>().unwrap());
            }
            Some("result") => summary = Some(v),
            other => panic!("unexpected event {other:?} in {line}"),
        }
    }
    assert_eq!(found, live, "{}", r.show());
    let summary = summary.expect("a result line");
    assert_eq!(summary["answered"], 20);
    assert_eq!(summary["addresses"], 253, "all host addresses but our own");
    // Every live host is now in the cache.
    let r = arp(&hosts, &scratch, &["--show", "--json"]);
    let cached: BTreeSet<Ipv4Addr> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "cache")
        .map(|v| v["ip"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(cached, live);
}

#[test]
fn the_cache_answers_without_a_frame_then_revalidates_then_expires() {
    let hosts = TwoHosts::new("arp-cache");
    let scratch = Scratch::new();
    let counter = ArpCounter::install(&hosts);
    let peer = hosts.addr_b.to_string();
    let ttl = ["--ttl", "1s"];
    // 1. Nothing cached: a broadcast request.
    let r = arp(&hosts, &scratch, &[&ttl[..], &[peer.as_str()]].concat());
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(counter.counts(), (1, 0));
    // 2. Fresh: answered from the cache, nothing on the wire.
    let r = arp(&hosts, &scratch, &[&ttl[..], &[peer.as_str()]].concat());
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stdout.contains("from cache"), "{}", r.show());
    assert!(
        r.stdout.contains(&hosts.mac_b().to_string()),
        "{}",
        r.show()
    );
    assert_eq!(
        counter.counts(),
        (1, 0),
        "a fresh entry must not send a frame"
    );
    // 3. Stale (older than the TTL): one unicast request to the cached MAC.
    std::thread::sleep(Duration::from_millis(1200));
    let r = arp(&hosts, &scratch, &[&ttl[..], &[peer.as_str()]].concat());
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stdout.contains("re-validating"), "{}", r.show());
    assert_eq!(counter.counts(), (1, 1));
    // 4. Expired (older than 4×TTL since the re-validation): dropped and
    //    asked for by broadcast.
    std::thread::sleep(Duration::from_millis(4200));
    let r = arp(&hosts, &scratch, &[&ttl[..], &[peer.as_str()]].concat());
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stdout.contains("expired"), "{}", r.show());
    assert_eq!(counter.counts(), (2, 1));
}

#[test]
fn a_changed_mac_is_reported_as_a_conflict_and_not_cached() {
    let hosts = TwoHosts::new("arp-conflict");
    let scratch = Scratch::new();
    let peer = hosts.addr_b.to_string();
    assert_eq!(arp(&hosts, &scratch, &[&peer]).code, Some(0));
    let mut cmd = hosts.cmd_b("ip");
    cmd.args(["link", "set", "eth0", "address", "02:aa:bb:cc:dd:ee"]);
    sh(cmd);
    let r = arp(&hosts, &scratch, &["--no-cache", &peer]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stdout.contains("CONFLICT"), "{}", r.show());
    assert!(r.stdout.contains("02:aa:bb:cc:dd:ee"), "{}", r.show());
    let r = arp(&hosts, &scratch, &["--show"]);
    assert!(
        r.stdout.contains("is empty"),
        "neither MAC may stay cached:\n{}",
        r.show()
    );
}

/// Answers ARP for an address from a second MAC (tests/peers/arp_twin.py).
const TWIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/arp_twin.py");

#[test]
fn two_macs_answering_one_request_are_a_conflict_and_neither_is_cached() {
    let hosts = TwoHosts::new("arp-twins");
    let scratch = Scratch::new();
    let peer = hosts.addr_b.to_string();
    let twin_mac = "02:aa:bb:cc:dd:ee";
    // The kernel in B answers with B's MAC, the twin with another one.
    let mut cmd = hosts.cmd_b("python3");
    cmd.args([TWIN, "eth0", &peer, twin_mac]);
    let mut twin = Server::spawn(cmd);
    twin.wait_for("ready", Duration::from_secs(10));
    for _ in 0..3 {
        let r = arp(&hosts, &scratch, &["--json", &peer]);
        let events: Vec<serde_json::Value> = r
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        let conflict = events
            .iter()
            .find(|v| v["event"] == "conflict")
            .unwrap_or_else(|| panic!("no conflict reported:\n{}", r.show()));
        let macs = BTreeSet::from([
            conflict["mac"].as_str().unwrap().to_string(),
            conflict["other_mac"].as_str().unwrap().to_string(),
        ]);
        assert_eq!(
            macs,
            BTreeSet::from([hosts.mac_b().to_string(), twin_mac.to_string()]),
            "{}",
            r.show()
        );
        assert!(
            !events.iter().any(|v| v["event"] == "reply"),
            "neither MAC may be given as the answer:\n{}",
            r.show()
        );
        assert_eq!(r.code, Some(1), "no answer to believe:\n{}", r.show());
        let shown = arp(&hosts, &scratch, &["--show"]);
        assert!(
            shown.stdout.contains("is empty"),
            "neither MAC may be cached:\n{}",
            shown.show()
        );
    }
    twin.wait_for("answered", Duration::from_secs(1));
    // -q prints no MAC at all: a script must not pick one of the two.
    let r = arp(&hosts, &scratch, &["-q", &peer]);
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert_eq!(r.stdout.trim(), "", "{}", r.show());
}

#[test]
fn dad_detects_an_owned_address_and_passes_a_free_one() {
    let hosts = TwoHosts::new("arp-dad");
    let scratch = Scratch::new();
    let r = arp(&hosts, &scratch, &["--dad", &hosts.addr_b.to_string()]);
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert!(
        r.stdout.contains(&format!("in use by {}", hosts.mac_b())),
        "{}",
        r.show()
    );
    let free = Ipv4Addr::from(u32::from(hosts.subnet.network()) + 77).to_string();
    let r = arp(
        &hosts,
        &scratch,
        &[
            "--dad",
            "-c",
            "2",
            "--interval",
            "100ms",
            "-W",
            "200ms",
            &free,
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stdout.contains("is free"), "{}", r.show());
}

#[test]
fn an_announcement_updates_the_peers_neighbour_entry() {
    let hosts = TwoHosts::new("arp-garp");
    let scratch = Scratch::new();
    let a = hosts.addr_a.to_string();
    let mut cmd = hosts.cmd_b("ip");
    cmd.args([
        "neigh",
        "replace",
        &a,
        "lladdr",
        "02:00:00:00:00:99",
        "nud",
        "stale",
        "dev",
        "eth0",
    ]);
    sh(cmd);
    let r = arp(&hosts, &scratch, &["--announce", "-c", "1", &a]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    let mut cmd = hosts.cmd_b("ip");
    cmd.args(["neigh", "show", &a, "dev", "eth0"]);
    let neigh = sh(cmd);
    assert!(
        neigh.contains(&hosts.mac_a().to_string()),
        "B's entry for {a} should now be A's MAC: {neigh}"
    );
}

#[test]
fn local_errors_exit_2_and_say_what_to_do() {
    let hosts = TwoHosts::new("arp-errors");
    let scratch = Scratch::new();
    let peer = hosts.addr_b.to_string();
    let r = arp(&hosts, &scratch, &["-i", "nosuch0", &peer]);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(r.stderr.contains("no interface named"), "{}", r.show());
    // An interface that is down (this kernel has no dummy driver: a veth
    // pair left down serves).
    let mut cmd = hosts.cmd_a("ip");
    cmd.args([
        "link", "add", "vdown0", "type", "veth", "peer", "name", "vdown1",
    ]);
    sh(cmd);
    let mut cmd = hosts.cmd_a("ip");
    cmd.args(["addr", "add", "10.250.0.1/24", "dev", "vdown0"]);
    sh(cmd);
    let r = arp(&hosts, &scratch, &["-i", "vdown0", "10.250.0.2"]);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(
        r.stderr.contains("is down") && r.stderr.contains("ip link set vdown0 up"),
        "{}",
        r.show()
    );
    let r = arp(&hosts, &scratch, &["198.51.100.7"]);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(r.stderr.contains("no route"), "{}", r.show());
    let r = arp(&hosts, &scratch, &["not-an-address.invalid"]);
    assert_eq!(r.code, Some(2), "{}", r.show());
}

#[test]
fn without_cap_net_raw_it_says_so_and_how_to_fix_it() {
    let hosts = TwoHosts::new("arp-priv");
    let scratch = Scratch::new();
    // Root without CAP_NET_RAW in its bounding set: exec leaves it out.
    let mut cmd = hosts.cmd_a("setpriv");
    cmd.args([
        "--bounding-set",
        "-net_raw",
        "--",
        nettool(),
        "arp",
        "--no-cache",
    ])
    .arg(hosts.addr_b.to_string())
    .env("NETTOOL_ARP_CACHE", scratch.cache());
    let r = run(cmd, LIMIT);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(r.stderr.contains("CAP_NET_RAW"), "{}", r.show());
    assert!(r.stderr.contains("setcap cap_net_raw"), "{}", r.show());
}

#[test]
fn a_recreated_link_is_asked_afresh_not_answered_from_the_cache() {
    let hosts = TwoHosts::new("arp-recreate");
    let scratch = Scratch::new();
    let peer = hosts.addr_b.to_string();
    let before = hosts.mac_b();
    assert_eq!(arp(&hosts, &scratch, &[&peer]).code, Some(0));
    // Tear the link down and build it again: same names and addresses,
    // new interfaces (new indexes, new MACs), as `lab down; lab up` does.
    let prefix = hosts.subnet.prefix().to_string();
    let script = |ns: &str, args: &[&str]| {
        let mut cmd = Command::new("ip");
        cmd.args(["-n", ns]).args(args);
        sh(cmd);
    };
    script(hosts.a(), &["link", "del", "eth0"]);
    script(
        hosts.a(),
        &[
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            hosts.b(),
        ],
    );
    script(
        hosts.a(),
        &[
            "addr",
            "add",
            &format!("{}/{prefix}", hosts.addr_a),
            "dev",
            "eth0",
        ],
    );
    script(
        hosts.b(),
        &["addr", "add", &format!("{peer}/{prefix}"), "dev", "eth0"],
    );
    script(hosts.a(), &["link", "set", "eth0", "up"]);
    script(hosts.b(), &["link", "set", "eth0", "up"]);
    let after = hosts.mac_b();
    assert_ne!(before, after, "a new veth has a new MAC");
    let r = arp(&hosts, &scratch, &[&peer]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        !r.stdout.contains("from cache"),
        "the old entry must not answer:\n{}",
        r.stdout
    );
    assert!(r.stdout.contains(&format!("is-at {after}")), "{}", r.stdout);
}
