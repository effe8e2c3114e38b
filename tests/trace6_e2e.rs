//! `nettool trace` over IPv6 across two Linux routers: nettool in A, R1
//! and R2 forwarding IPv6 (ICMPv6 rate limit off), the kernel in B: what
//! only IPv6 has (ICMPv6's unreachable), and `--udp` and `--icmp` (ICMPv6
//! echo), the hop limit raised hop by hop. TCP to an open, closed and
//! dropped port runs over both families in tests/trace_e2e.rs. Each test
//! builds and removes its own four namespaces (names carry the pid).
//! Needs root, python3 and nft.

mod common;

use common::trace::{Family, Path, hop, probes, result, start};
use common::{Scratch, nft_load};
use serde_json::Value;

fn routed6(tag: &str) -> Path {
    Path::new(Family::V6, tag)
}

/// A router that rejects with ICMPv6 administratively prohibited ends the
/// trace at the hop past it (its forward chain sees only the probes that
/// outlive its hop), in ICMPv6's words.
#[test]
fn a_router_s_icmpv6_unreachable_ends_the_trace() {
    let path = routed6("trace-reject");
    let scratch = Scratch::new();
    nft_load(
        path.net.cmd_r2("nft"),
        "table ip6 t {\n chain c {\n type filter hook forward priority 0;\n \
         tcp dport 8082 reject with icmpv6 type admin-prohibited\n }\n}\n",
    );
    let target = path.end(&path.b, 8082);
    let ran = path.trace(&scratch, &["--json", "--queries", "1", &target]);
    assert_eq!(ran.code, Some(1), "{}", ran.show());
    // The probe that outlives R2's hop meets its forward chain.
    let want = path.past_the_routers(1, vec![hop(3, 1, &path.r2, "unreachable")]);
    assert_eq!(probes(&ran), want, "{}", ran.show());
    let res = result(&ran);
    assert_eq!(res["outcome"], "unreachable", "{}", ran.show());
    assert_eq!(res["ip"], path.r2.as_str());
    assert_eq!(
        res["what"],
        "administratively prohibited (ICMPv6 type 1, code 1)"
    );
    assert_eq!(res["hops"], 3);
    path.assert_no_guard_left();
}

#[test]
fn a_udp_trace_over_ipv6_ends_at_the_destination_s_port_unreachable() {
    let path = routed6("trace-udp");
    let scratch = Scratch::new();
    let ran = path.trace(&scratch, &["--udp", "--queries", "2", "--json", &path.b]);
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    let want = path.past_the_routers(2, vec![hop(3, 2, &path.b, "port-unreachable")]);
    assert_eq!(probes(&ran), want, "{}", ran.show());
    assert_eq!(result(&ran)["outcome"], "closed");
    assert_eq!(start(&ran)["guard"], Value::Null, "no RST guard");
    let text = path.trace(&scratch, &["--udp", "--queries", "1", &path.b]);
    assert!(
        text.stdout
            .contains(&format!("{} reached in 3 hops", path.b)),
        "{}",
        text.show()
    );
    assert!(
        text.stdout.contains("[port unreachable: the destination]"),
        "{}",
        text.show()
    );
}

#[test]
fn an_icmp_trace_over_ipv6_ends_at_the_destination_s_echo_reply() {
    let path = routed6("trace-icmp");
    let scratch = Scratch::new();
    let ran = path.trace(&scratch, &["--icmp", "--queries", "2", "--json", &path.b]);
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    let want = path.past_the_routers(2, vec![hop(3, 2, &path.b, "echo-reply")]);
    assert_eq!(probes(&ran), want, "{}", ran.show());
    assert_eq!(result(&ran)["outcome"], "answered");
    path.assert_no_guard_left();
}
