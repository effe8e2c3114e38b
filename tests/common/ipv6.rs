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
