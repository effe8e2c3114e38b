//! A routed test path for traceroute-like tests: four namespaces in a line,
//! A — R1 — R2 — B, each link its own /24, IPv4 forwarding on in both
//! routers. A (the code under test) reaches B (the Linux peer) through R1
//! and R2, and B answers back the same way.
//!
//! ```text
//!  A eth0 ── eth0 R1 eth1 ── eth0 R2 eth1 ── eth0 B
//!   10.211.N.1  .2   10.212.N.1  .2   10.213.N.1  .2
//! ```
//!
//! Linux rate-limits the ICMP errors it generates (`net.ipv4.icmp_ratelimit`,
//! 1000 ms per destination after a small burst), which would turn a fast
//! trace's answers into `*` at random. Both routers run with
//! `net.ipv4.icmp_ratelimit=0`, so every expired probe is answered.
//!
//! Names and cleanup follow [`super::testnet`]: `ntt-<tag>-<pid>-<n>-<role>`,
//! every namespace deleted on drop (a panicking test included), leftovers
//! of killed runs swept by [`super::testnet::require_root`].

use std::net::Ipv4Addr;
use std::process::Command;

use ipnetwork::Ipv4Network;

use super::netns::{self, Namespace};
use super::testnet::{name_for, next, require_root};

/// The four namespaces of a routed path, and their addresses.
pub struct Routed {
    // Dropped in declaration order: every namespace goes, with its veths.
    a: Namespace,
    r1: Namespace,
    r2: Namespace,
    b: Namespace,
    /// A's address on the A–R1 link.
    pub addr_a: Ipv4Addr,
    /// R1's address on the A–R1 link: A's gateway, and the address R1's
    /// ICMP errors to A come from.
    pub r1_near: Ipv4Addr,
    /// R1's address on the R1–R2 link.
    pub r1_far: Ipv4Addr,
    /// R2's address on the R1–R2 link: the address its ICMP errors to A
    /// come from.
    pub r2_near: Ipv4Addr,
    /// R2's address on the R2–B link: B's gateway.
    pub r2_far: Ipv4Addr,
    /// B's address.
    pub addr_b: Ipv4Addr,
}

fn addr(second: u8, n: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, second, n, host)
}

fn fail(what: &str, e: netns::NetnsError) -> ! {
    panic!("{what}: {e}")
}

impl Routed {
    /// A fresh path on `10.211.N.0/24`, `10.212.N.0/24` and
    /// `10.213.N.0/24`, N from a per-process counter (no address is ever
    /// configured in the test process's own namespace, so processes need
    /// not agree on N).
    ///
    /// # Panics
    /// When not root, or when `ip` or a sysctl fails.
    pub fn new(tag: &str) -> Routed {
        require_root();
        let n = next();
        let sub = (n % 256) as u8;
        let create = |role: &str| {
            let name = name_for(tag, n, role);
            let ns =
                Namespace::create(&name).unwrap_or_else(|e| fail(&format!("creating {name}"), e));
            netns::disable_ipv6_everywhere(&name)
                .unwrap_or_else(|e| fail(&format!("disabling IPv6 in {name}"), e));
            ns
        };
        let (a, r1, r2, b) = (create("a"), create("r1"), create("r2"), create("b"));
        let links = [
            (&a, "eth0", &r1, "eth0", 211),
            (&r1, "eth1", &r2, "eth0", 212),
            (&r2, "eth1", &b, "eth0", 213),
        ];
        for (left, ldev, right, rdev, second) in links {
            netns::add_veth(Some(left.name()), ldev, rdev, Some(right.name()))
                .unwrap_or_else(|e| fail("creating a veth pair", e));
            for (ns, dev, host) in [(left, ldev, 1), (right, rdev, 2)] {
                let net = Ipv4Network::new(addr(second, sub, host), 24).expect("a /24");
                netns::add_address(Some(ns.name()), dev, net)
                    .unwrap_or_else(|e| fail(&format!("adding {net} in {}", ns.name()), e));
                netns::set_up(Some(ns.name()), dev)
                    .unwrap_or_else(|e| fail(&format!("{dev} up in {}", ns.name()), e));
            }
        }
        for router in [&r1, &r2] {
            for (key, value) in [
                (&["net", "ipv4", "ip_forward"][..], "1"),
                (&["net", "ipv4", "icmp_ratelimit"][..], "0"),
            ] {
                netns::write_sysctl(Some(router.name()), key, value)
                    .unwrap_or_else(|e| fail(&format!("sysctl in {}", router.name()), e));
            }
        }
        let route = |ns: &Namespace, args: &[&str]| {
            let mut all = vec!["route", "add"];
            all.extend_from_slice(args);
            netns::ip(Some(ns.name()), &all)
                .unwrap_or_else(|e| fail(&format!("route in {}", ns.name()), e));
        };
        let (r1_near, r1_far) = (addr(211, sub, 2), addr(212, sub, 1));
        let (r2_near, r2_far) = (addr(212, sub, 2), addr(213, sub, 1));
        let far_net = format!("{}/24", addr(213, sub, 0));
        let near_net = format!("{}/24", addr(211, sub, 0));
        route(&a, &["default", "via", &r1_near.to_string()]);
        route(&r1, &[&far_net, "via", &r2_near.to_string()]);
        route(&r2, &[&near_net, "via", &r1_far.to_string()]);
        route(&b, &["default", "via", &r2_far.to_string()]);
        Routed {
            a,
            r1,
            r2,
            b,
            addr_a: addr(211, sub, 1),
            r1_near,
            r1_far,
            r2_near,
            r2_far,
            addr_b: addr(213, sub, 2),
        }
    }

    pub fn a(&self) -> &str {
        self.a.name()
    }

    pub fn r1(&self) -> &str {
        self.r1.name()
    }

    pub fn r2(&self) -> &str {
        self.r2.name()
    }

    pub fn b(&self) -> &str {
        self.b.name()
    }

    /// `ip netns exec A program`.
    pub fn cmd_a(&self, program: &str) -> Command {
        self.a.exec(program)
    }

    /// `ip netns exec R1 program`.
    pub fn cmd_r1(&self, program: &str) -> Command {
        self.r1.exec(program)
    }

    /// `ip netns exec R2 program`.
    pub fn cmd_r2(&self, program: &str) -> Command {
        self.r2.exec(program)
    }

    /// `ip netns exec B program`.
    pub fn cmd_b(&self, program: &str) -> Command {
        self.b.exec(program)
    }
}
