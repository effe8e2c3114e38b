//! `nettool ndp` against real Linux neighbours: each test builds its own
//! pair of network namespaces (nettool in A, the kernel peer in B), turns
//! IPv6 on in them (without DAD, which would only slow the test), and
//! removes them even when it fails. Needs root; fails loudly without it.

mod common;

use std::process::Command;
use std::time::Duration;

use common::ipv6::{ULA_A, ULA_B, in_ns, ipv6_hosts, link_local};
use common::schema::Schema;
use common::{Ran, Scratch, nettool, nft_load, nft_packets, run, sh};
use nettool::lab::testnet::TwoHosts;

const LIMIT: Duration = Duration::from_secs(20);
/// B's eth0 MAC as `ip -j link` says.
fn mac_b_by_ip_link(hosts: &TwoHosts) -> String {
    let out = sh(in_ns(hosts.b(), "ip", &["-j", "link", "show", "eth0"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0]["address"].as_str().unwrap().to_owned()
}

/// Runs `nettool ndp ARGS` in A with a private cache file.
fn ndp(hosts: &TwoHosts, scratch: &Scratch, args: &[&str]) -> Ran {
    let mut cmd = hosts.cmd_a(nettool());
    cmd.arg("ndp")
        .args(args)
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    run(cmd, LIMIT)
}

/// Counts neighbour solicitations arriving at B's eth0, multicast and
/// unicast apart, with nftables in B's netdev ingress hook.
struct NsCounter<'a> {
    hosts: &'a TwoHosts,
}

impl<'a> NsCounter<'a> {
    fn install(hosts: &'a TwoHosts) -> NsCounter<'a> {
        let rules = "table netdev nt {
            counter mcast {}
            counter ucast {}
            chain in {
                type filter hook ingress device eth0 priority 0;
                ether type ip6 icmpv6 type nd-neighbor-solicit ether daddr & 01:00:00:00:00:00 == 01:00:00:00:00:00 counter name mcast
                ether type ip6 icmpv6 type nd-neighbor-solicit ether daddr & 01:00:00:00:00:00 == 00:00:00:00:00:00 counter name ucast
            }
        }";
        nft_load(hosts.cmd_b("nft"), rules);
        NsCounter { hosts }
    }

    fn read(&self, name: &str) -> u64 {
        let mut cmd = self.hosts.cmd_b("nft");
        cmd.args(["list", "counter", "netdev", "nt", name]);
        nft_packets(&sh(cmd))
    }

    /// (multicast, unicast) solicitations seen so far.
    fn counts(&self) -> (u64, u64) {
        (self.read("mcast"), self.read("ucast"))
    }
}

#[test]
fn resolves_the_peer_as_the_kernel_knows_it() {
    let hosts = ipv6_hosts("ndp-mac");
    let scratch = Scratch::new();
    let mac_b = mac_b_by_ip_link(&hosts);
    let r = ndp(&hosts, &scratch, &["-q", ULA_B]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(r.stdout.trim(), mac_b, "{}", r.show());
    // Our solicitation carried our MAC: B's kernel learned A's link-local
    // address from its source link-layer option.
    let ll_a = link_local(hosts.a()).unwrap();
    let neigh = sh(in_ns(
        hosts.b(),
        "ip",
        &["-6", "-j", "neigh", "show", "dev", "eth0"],
    ));
    let v: serde_json::Value = serde_json::from_str(&neigh).unwrap();
    let entry = v
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["dst"].as_str() == Some(&ll_a.to_string()))
        .unwrap_or_else(|| panic!("B has no entry for {ll_a}: {neigh}"));
    assert_eq!(entry["lladdr"].as_str(), Some(&*hosts.mac_a().to_string()));
    // A link-local address with its interface, in the human form.
    let ll_b = link_local(hosts.b()).unwrap();
    let r = ndp(&hosts, &scratch, &["--no-cache", &format!("{ll_b}%eth0")]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout.contains(&format!("{ll_b} is-at {mac_b}")),
        "{}",
        r.show()
    );
    assert!(r.stdout.contains("solicited"), "{}", r.show());
}

#[test]
fn json_lines_fit_the_schema() {
    let hosts = ipv6_hosts("ndp-json");
    let scratch = Scratch::new();
    let schema = Schema::load();
    for args in [
        vec!["--json", ULA_B],
        vec!["--json", ULA_B],
        vec!["--json", "-c", "2", "--interval", "100ms", ULA_B],
        vec!["--json", "--show"],
        vec!["--json", "--dad", "-i", "eth0", ULA_B],
        vec!["--json", "--all-nodes", "-i", "eth0", "-W", "300ms"],
    ] {
        let r = ndp(&hosts, &scratch, &args);
        assert!(r.code == Some(0) || r.code == Some(1), "{}", r.show());
        let lines: Vec<&str> = r.stdout.lines().collect();
        assert!(lines.len() >= 2, "{args:?}: {}", r.show());
        for line in lines {
            if let Err(e) = schema.check_line(line) {
                panic!("{args:?}: {e}\n{line}");
            }
        }
    }
}

#[test]
fn silence_exits_1_after_three_solicitations() {
    let hosts = ipv6_hosts("ndp-none");
    let scratch = Scratch::new();
    let counter = NsCounter::install(&hosts);
    let r = ndp(
        &hosts,
        &scratch,
        &["--interval", "200ms", "-W", "300ms", "fd00:6e74::99"],
    );
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert!(r.stdout.contains("no answer"), "{}", r.show());
    // Solicitations at 0, 0.2 and 0.4 s, then 0.3 s of waiting.
    assert!(r.elapsed >= Duration::from_millis(650), "{}", r.show());
    assert!(r.elapsed < Duration::from_secs(3), "{}", r.show());
    assert_eq!(counter.counts(), (3, 0));
}

#[test]
fn a_link_local_address_without_an_interface_is_refused() {
    let hosts = ipv6_hosts("ndp-ll");
    let scratch = Scratch::new();
    let r = ndp(&hosts, &scratch, &["fe80::1"]);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(r.stderr.contains("link-local"), "{}", r.show());
    assert!(r.stderr.contains("fe80::1%eth0"), "{}", r.show());
}

#[test]
fn dad_finds_an_owned_address_and_passes_a_free_one() {
    let hosts = ipv6_hosts("ndp-dad");
    let scratch = Scratch::new();
    let mac_b = mac_b_by_ip_link(&hosts);
    let r = ndp(&hosts, &scratch, &["--dad", "-i", "eth0", ULA_B]);
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert!(
        r.stdout.contains(&format!("taken by {mac_b}")),
        "{}",
        r.show()
    );
    let r = ndp(
        &hosts,
        &scratch,
        &["--dad", "-i", "eth0", "-W", "500ms", "fd00:6e74::9"],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stdout.contains("is free"), "{}", r.show());
}

#[test]
fn all_nodes_lists_the_peer() {
    let hosts = ipv6_hosts("ndp-all");
    let scratch = Scratch::new();
    let ll_b = link_local(hosts.b()).unwrap();
    let r = ndp(
        &hosts,
        &scratch,
        &["-q", "--all-nodes", "-i", "eth0", "-W", "300ms"],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(
        r.stdout.trim(),
        format!("{ll_b} {}", mac_b_by_ip_link(&hosts)),
        "{}",
        r.show()
    );
}

/// Writes an IPv6 entry for B in `state` into the cache file, `age`
/// old: what an earlier run would have left.
fn plant(scratch: &Scratch, hosts: &TwoHosts, mac: &str, state: &str) {
    let index = sh(in_ns(hosts.a(), "cat", &["/sys/class/net/eth0/ifindex"]));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let file = format!(
        r#"{{"version":1,"entries":[],"neighbors":[{{"iface":"eth0","ifindex":{},"ip":"{ULA_B}","mac":"{mac}","state":"{state}","since_ms":{now},"reachable_ms":30000}}]}}"#,
        index.trim()
    );
    let path = scratch.cache();
    std::fs::write(&path, file).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn state_in_cache(hosts: &TwoHosts, scratch: &Scratch) -> String {
    let r = ndp(hosts, scratch, &["--json", "--show"]);
    let v = r
        .json_lines()
        .into_iter()
        .find(|v| v["event"] == "cache")
        .unwrap_or_else(|| panic!("no entry: {}", r.show()));
    v["status"].as_str().unwrap().to_owned()
}

/// NUD on the wire: a REACHABLE entry sends nothing; a STALE one is
/// probed by unicast and re-confirmed REACHABLE (DELAY is skipped by a
/// one-shot resolution, see src/ndp/resolve.rs); a STALE entry whose
/// address no longer answers gets its unicast probes, is gone, and the
/// address is solicited by multicast again. Counted in B's ingress.
#[test]
fn nud_reachable_stale_probe_and_reconfirmed_on_the_wire() {
    let hosts = ipv6_hosts("ndp-nud");
    let scratch = Scratch::new();
    let counter = NsCounter::install(&hosts);
    let mac_b = mac_b_by_ip_link(&hosts);

    let r = ndp(&hosts, &scratch, &[ULA_B]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(counter.counts(), (1, 0), "one multicast solicitation");
    assert_eq!(state_in_cache(&hosts, &scratch), "reachable");

    let r = ndp(&hosts, &scratch, &[ULA_B]);
    assert!(r.stdout.contains("from cache"), "{}", r.show());
    assert_eq!(counter.counts(), (1, 0), "REACHABLE: no frame");

    plant(&scratch, &hosts, &mac_b, "STALE");
    let r = ndp(&hosts, &scratch, &["-v", ULA_B]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stderr.contains("STALE -> PROBE"), "{}", r.show());
    assert!(r.stderr.contains("PROBE -> REACHABLE"), "{}", r.show());
    assert_eq!(counter.counts(), (1, 1), "one unicast probe, answered");
    assert_eq!(state_in_cache(&hosts, &scratch), "reachable");

    plant(&scratch, &hosts, "02:00:00:00:00:99", "STALE");
    let r = ndp(&hosts, &scratch, &["--interval", "200ms", "-v", ULA_B]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout.contains("did not answer its unicast probes"),
        "{}",
        r.show()
    );
    assert!(r.stdout.contains(&format!("is-at {mac_b}")), "{}", r.show());
    // Three unicast probes to the old MAC (B's ingress sees them), then
    // one multicast solicitation that B answers.
    assert_eq!(counter.counts(), (2, 4));
}

/// `-v` prints each frame in tcpdump's words: every line nettool prints
/// for a frame is the line `tcpdump -nn -r` prints for it (timestamps
/// aside), the solicitation and the advertisement both.
#[test]
fn verbose_lines_are_tcpdumps_lines() {
    let hosts = ipv6_hosts("ndp-fid");
    let scratch = Scratch::new();
    let file = std::env::temp_dir().join(format!("ndp-fid-{}.pcap", std::process::id()));
    let capture = common::Capture::start(&hosts, file.clone(), &["icmp6"]);
    let r = ndp(&hosts, &scratch, &["-v", "--no-cache", ULA_B]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    let file = capture.stop();
    let dump = sh({
        let mut c = Command::new("tcpdump");
        c.args(["-nn", "-r"]).arg(&file);
        c
    });
    let _ = std::fs::remove_file(&file);
    // tcpdump: `12:00:00.000000 IP6 a > b: ICMP6, …`; nettool: `> IP6 …`.
    let theirs: Vec<&str> = dump
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, rest)| rest))
        .collect();
    let ours: Vec<&str> = r
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("> ").or_else(|| l.strip_prefix("< ")))
        .collect();
    assert!(
        ours.iter()
            .any(|l| l.contains("neighbor solicitation, who has fd00:6e74::2"))
            && ours
                .iter()
                .any(|l| l.contains("neighbor advertisement, tgt is fd00:6e74::2")),
        "{}",
        r.show()
    );
    for line in &ours {
        assert!(
            theirs.contains(line),
            "nettool printed {line:?}; tcpdump printed:\n{dump}"
        );
    }
}

/// `--announce` sends three unsolicited advertisements to ff02::1, one
/// `--interval` apart, which B receives (counted in its ingress) and
/// which leave B's entry for the address at A's MAC.
#[test]
fn announce_reaches_every_node() {
    let hosts = ipv6_hosts("ndp-ann");
    let scratch = Scratch::new();
    let rules = "table netdev nt {
        counter na {}
        chain in {
            type filter hook ingress device eth0 priority 0;
            ether daddr 33:33:00:00:00:01 icmpv6 type nd-neighbor-advert counter name na
        }
    }";
    nft_load(hosts.cmd_b("nft"), rules);
    // B knows A's address already (it pinged it).
    sh(in_ns(
        hosts.b(),
        "ping",
        &["-6", "-c", "1", "-W", "2", ULA_A],
    ));
    let r = ndp(
        &hosts,
        &scratch,
        &["--announce", "-i", "eth0", "--interval", "100ms", ULA_A],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stdout.contains("announced"), "{}", r.show());
    let mut cmd = hosts.cmd_b("nft");
    cmd.args(["list", "counter", "netdev", "nt", "na"]);
    assert_eq!(nft_packets(&sh(cmd)), 3);
    let neigh = sh(in_ns(hosts.b(), "ip", &["-6", "neigh", "show", ULA_A]));
    assert!(
        neigh.contains(&hosts.mac_a().to_string()),
        "B's entry: {neigh}"
    );
}
