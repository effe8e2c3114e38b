//! Pairs of namespaces with IPv6 on, for the tests of neighbour
//! discovery and of TCP over IPv6.

use std::net::Ipv6Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use nettool::lab::testnet::TwoHosts;

use super::sh;

pub const ULA_A: &str = "fd00:6e74::1";
pub const ULA_B: &str = "fd00:6e74::2";

/// A pair with IPv6 on: fd00:6e74::1/64 in A, ::2 in B, and the kernel's
/// link-local addresses, usable at once (DAD off).
pub fn ipv6_hosts(tag: &str) -> TwoHosts {
    let hosts = TwoHosts::new(tag);
    for (ns, ula) in [(hosts.a(), ULA_A), (hosts.b(), ULA_B)] {
        for (key, value) in [
            ("net.ipv6.conf.eth0.accept_dad", "0"),
            ("net.ipv6.conf.eth0.disable_ipv6", "0"),
        ] {
            sh(in_ns(ns, "sysctl", &["-qw", &format!("{key}={value}")]));
        }
        sh(in_ns(
            ns,
            "ip",
            &["addr", "add", &format!("{ula}/64"), "dev", "eth0", "nodad"],
        ));
    }
    // The link-local addresses come with IPv6; wait until both are there.
    let until = Instant::now() + Duration::from_secs(5);
    while [hosts.a(), hosts.b()]
        .iter()
        .any(|ns| link_local(ns).is_none())
    {
        assert!(
            Instant::now() < until,
            "no link-local address appeared: {}",
            sh(in_ns(
                hosts.b(),
                "ip",
                &["-6", "-j", "addr", "show", "dev", "eth0", "scope", "link"]
            ))
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    hosts
}

pub fn in_ns(ns: &str, program: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program]).args(args);
    c
}

/// The usable (not tentative) link-local address of `ns`'s eth0.
pub fn link_local(ns: &str) -> Option<Ipv6Addr> {
    let out = sh(in_ns(
        ns,
        "ip",
        &["-6", "-j", "addr", "show", "dev", "eth0", "scope", "link"],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).ok()?;
    v.get(0)?["addr_info"]
        .as_array()?
        .iter()
        // `ip` leaves an empty object where it filtered an address out.
        .filter(|a| a.get("tentative").is_none())
        .find_map(|a| a["local"].as_str()?.parse().ok())
}

/// A routed IPv6 path for traces: [`nettool::lab::routed::Routed`]'s four
/// namespaces (A — R1 — R2 — B) with IPv6 turned back on, one ULA /64
/// per link (no DAD), IPv6 forwarding on in both routers and their
/// ICMPv6 rate limit off (every expired probe answered).
///
/// ```text
///  A eth0 ── eth0 R1 eth1 ── eth0 R2 eth1 ── eth0 B
///  fd00:6e74:11::1  ::2   fd00:6e74:12::1 ::2  fd00:6e74:13::1 ::2
/// ```
pub struct Routed6 {
    pub net: nettool::lab::routed::Routed,
}

impl Routed6 {
    /// A's address.
    pub const A: &'static str = "fd00:6e74:11::1";
    /// R1's on the A–R1 link: A's next hop and the source of its errors.
    pub const R1_NEAR: &'static str = "fd00:6e74:11::2";
    /// R2's on the R1–R2 link: the source of its errors to A.
    pub const R2_NEAR: &'static str = "fd00:6e74:12::2";
    /// B's address.
    pub const B: &'static str = "fd00:6e74:13::2";

    pub fn new(tag: &str) -> Routed6 {
        let net = nettool::lab::routed::Routed::new(tag);
        let links = [
            (net.a(), "eth0", "fd00:6e74:11::1"),
            (net.r1(), "eth0", "fd00:6e74:11::2"),
            (net.r1(), "eth1", "fd00:6e74:12::1"),
            (net.r2(), "eth0", "fd00:6e74:12::2"),
            (net.r2(), "eth1", "fd00:6e74:13::1"),
            (net.b(), "eth0", "fd00:6e74:13::2"),
        ];
        for (ns, dev, addr) in links {
            for (key, value) in [
                (format!("net.ipv6.conf.{dev}.accept_dad"), "0"),
                (format!("net.ipv6.conf.{dev}.disable_ipv6"), "0"),
            ] {
                sh(in_ns(ns, "sysctl", &["-qw", &format!("{key}={value}")]));
            }
            sh(in_ns(
                ns,
                "ip",
                &["addr", "add", &format!("{addr}/64"), "dev", dev, "nodad"],
            ));
        }
        for router in [net.r1(), net.r2()] {
            for setting in [
                "net.ipv6.conf.all.forwarding=1",
                "net.ipv6.icmp.ratelimit=0",
            ] {
                sh(in_ns(router, "sysctl", &["-qw", setting]));
            }
        }
        let route = |ns: &str, args: &[&str]| {
            let mut all = vec!["-6", "route", "add"];
            all.extend_from_slice(args);
            sh(in_ns(ns, "ip", &all));
        };
        route(net.a(), &["default", "via", Self::R1_NEAR]);
        route(net.r1(), &["fd00:6e74:13::/64", "via", Self::R2_NEAR]);
        route(net.r2(), &["fd00:6e74:11::/64", "via", "fd00:6e74:12::1"]);
        route(net.b(), &["default", "via", "fd00:6e74:13::1"]);
        Routed6 { net }
    }
}

/// A's `/etc/netns/NAME/hosts` (which `ip netns exec` mounts over
/// /etc/hosts), naming `peer.nettool.test` with B's IPv4 address and
/// [`ULA_B`]; removed on drop, so a failed test leaves none behind.
pub struct PeerName(std::path::PathBuf);

impl PeerName {
    pub fn new(hosts: &TwoHosts) -> PeerName {
        let dir = std::path::PathBuf::from("/etc/netns").join(hosts.a());
        std::fs::create_dir_all(&dir).unwrap();
        let name = PeerName(dir);
        let text = format!(
            "{} peer.nettool.test\n{ULA_B} peer.nettool.test\n",
            hosts.addr_b
        );
        std::fs::write(name.0.join("hosts"), text).unwrap();
        name
    }
}

impl Drop for PeerName {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
