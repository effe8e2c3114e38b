//! The guard's ingress part: frames of nettool's flows dropped where
//! they arrive, before the kernel's IP and TCP see them.
//!
//! The output rule ([`super::rule`]) drops the RSTs the kernel builds for
//! each segment of nettool's flow; the kernel has still looked the
//! segment up, found no socket, built the RST and sent it down to the
//! hook. On a veth pair that work runs in the softirq of the sending
//! side's core, which a fast sender fills. A `netdev` table with a chain
//! on the interface's `ingress` hook drops the segments first: the
//! packet taps (nettool's AF_PACKET socket, tcpdump) have seen them by
//! then, in `__netif_receive_skb_core`, and the IP layer has not. The
//! kernel then sends no RST at all (and for probes' answers, none either).
//!
//! The rule is the output rule's match turned around: frames *to*
//! nettool's address and port(s), from the peer's (when the flow names
//! one), TCP, any flags. It counts and drops; it does not log: one
//! netlink message per frame would put back on the sender's core much of
//! what the drop saves. The output rule stays, for what still reaches the
//! kernel another way (another interface, a later IPv4 fragment), and
//! its log counts those.
//!
//! Only where nettool reads the flow through an AF_PACKET tap of the
//! interface (bound to `ETH_P_ALL`, so on the device's tap list, which
//! `__netif_receive_skb_core` delivers to before the ingress hook): every
//! link but loopback. Not on `lo`: nettool sends there through a raw IP
//! socket whose packets loop back through the same hook, both ends are
//! the host's own, and no other core pays for the kernel's RSTs; the
//! output rule with the mark of nettool's own packets ([`super::GUARD_MARK`])
//! keeps that case as it was.
//!
//! The table is `netdev nettool-guard-PID-N`, the name of the `inet`
//! one, made in the same transaction over the same socket with the owner
//! flag: it goes when the socket closes, as the other does.

use std::net::IpAddr;

use super::{Ends, Flow, address, address_offsets, eq, port_range};
use crate::nft::expr::{MetaKey, Verdict};
use crate::nft::{Batch, Expr, FAMILY_NETDEV};

/// The table's one chain.
pub const CHAIN: &str = "in";
/// `filter`, the priority nft names so.
const PRIORITY_FILTER: i32 = 0;

/// Whether the ingress drop may be installed: `NETTOOL_INGRESS_DROP=0`
/// in the environment leaves it out (the output rule alone then keeps
/// the kernel's RSTs in), so that a benchmark can compare the two on one
/// build.
pub fn allowed() -> bool {
    std::env::var_os("NETTOOL_INGRESS_DROP").is_none_or(|v| v != "0")
}

/// The rule for `flow`'s incoming frames, in the order nft builds it
/// from the text `ruleset` gives: the EtherType (in a `netdev` table,
/// `meta nfproto` is the hook's family, not the packet's), the peer's
/// address, nettool's, TCP, the peer's ports, nettool's, a counter, the
/// drop.
pub fn rule(flow: Flow) -> Vec<Expr> {
    let Ends {
        local,
        remote,
        sports,
        dports,
    } = flow.ends();
    let ethertype = match local {
        IpAddr::V4(_) => libc::ETH_P_IP,
        IpAddr::V6(_) => libc::ETH_P_IPV6,
    };
    // Incoming: the peer is the source, nettool the destination.
    let (src_at, dst_at) = address_offsets(local);
    let mut r = vec![
        Expr::Meta(MetaKey::Protocol),
        eq((ethertype as u16).to_be_bytes().to_vec()),
    ];
    if let Some(remote) = remote {
        r.extend(address(src_at, remote));
    }
    r.extend(address(dst_at, local));
    r.extend([
        Expr::Meta(MetaKey::L4Proto),
        eq(vec![libc::IPPROTO_TCP as u8]),
    ]);
    // The peer's ports are the source here, nettool's the destination.
    if let Some(dports) = dports {
        port_range(&mut r, 0, dports);
    }
    port_range(&mut r, 2, sports);
    r.extend([Expr::Counter, Expr::Verdict(Verdict::Drop)]);
    r
}

/// Adds to `b` the `netdev` table `table` (owned by the socket that
/// sends `b`), its chain on `device`'s ingress, and the rule for `flow`.
pub fn add(b: &mut Batch, table: &str, flow: Flow, device: &str) {
    let comment = format!(
        "nettool: keeps the kernel from {flow} at {device}'s ingress while nettool owns it"
    );
    b.new_owned_table_in(FAMILY_NETDEV, table, &comment, "ingress table");
    b.new_ingress_chain(table, CHAIN, device, PRIORITY_FILTER);
    b.new_rule_in(FAMILY_NETDEV, table, CHAIN, &rule(flow), "ingress rule");
}

/// Adds to `b` a rule for `flow` in the `netdev` table `table` that
/// [`add`] made (for a run's further targets).
pub fn add_rule(b: &mut Batch, table: &str, flow: Flow) {
    b.new_rule_in(FAMILY_NETDEV, table, CHAIN, &rule(flow), "ingress rule");
}

/// Sequence numbers [`add`] uses: three messages.
pub const SEQS: u32 = 3;

/// The same table as an nft script (without the owner flag); the tests
/// load it with `nft` to check that [`rule`] matches what nft makes of
/// it.
#[cfg(any(test, feature = "testkit"))]
pub fn ruleset(table: &str, flow: Flow, device: &str) -> String {
    let ip = |a: IpAddr| if a.is_ipv4() { "ip" } else { "ip6" };
    let matcher = match flow {
        Flow::Connection { local, remote } => format!(
            "{ip} saddr {} {ip} daddr {} tcp sport {} tcp dport {}",
            remote.ip(),
            local.ip(),
            remote.port(),
            local.port(),
            ip = ip(local.ip()),
        ),
        Flow::Listener { local } => format!(
            "{} daddr {} tcp dport {}",
            ip(local.ip()),
            local.ip(),
            local.port()
        ),
        Flow::Probes {
            local,
            remote,
            sports,
            dports,
        } => format!(
            "{ip} saddr {remote} {ip} daddr {local} tcp sport {}-{} tcp dport {}-{}",
            dports.0,
            dports.1,
            sports.0,
            sports.1,
            ip = ip(local),
        ),
    };
    format!(
        "table netdev {table} {{\n\
         \tchain {CHAIN} {{\n\
         \t\ttype filter hook ingress device \"{device}\" priority filter; policy accept;\n\
         \t\t{matcher} counter drop\n\
         \t}}\n\
         }}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::network;
    use rstest::rstest;
    use std::net::SocketAddr;

    const LOCAL: &str = "10.0.0.1:40000";
    const REMOTE: &str = "10.0.0.2:80";

    fn connection(local: &str, remote: &str) -> Flow {
        Flow::Connection {
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
        }
    }

    /// The rules nft builds from [`ruleset`]'s text, as
    /// `nft --debug=netlink -c -f` printed them on Linux 6.18 with nft
    /// 1.0.6 (nft loads both ports of a connection in one 4-byte load;
    /// nettool loads each, which `nft list` prints the same, as
    /// tests/nft_e2e.rs checks).
    #[rstest]
    #[case::connection(
        connection(LOCAL, REMOTE),
        &["[ meta load protocol => reg 1 ]",
          "[ cmp eq reg 1 0x00000008 ]",
          "[ payload load 4b @ network header + 12 => reg 1 ]",
          "[ cmp eq reg 1 0x0200000a ]",
          "[ payload load 4b @ network header + 16 => reg 1 ]",
          "[ cmp eq reg 1 0x0100000a ]",
          "[ meta load l4proto => reg 1 ]",
          "[ cmp eq reg 1 0x00000006 ]",
          "[ payload load 2b @ transport header + 0 => reg 1 ]",
          "[ cmp eq reg 1 0x00005000 ]",
          "[ payload load 2b @ transport header + 2 => reg 1 ]",
          "[ cmp eq reg 1 0x0000409c ]"],
    )]
    #[case::listener(
        Flow::Listener { local: LOCAL.parse().unwrap() },
        &["[ meta load protocol => reg 1 ]",
          "[ cmp eq reg 1 0x00000008 ]",
          "[ payload load 4b @ network header + 16 => reg 1 ]",
          "[ cmp eq reg 1 0x0100000a ]",
          "[ meta load l4proto => reg 1 ]",
          "[ cmp eq reg 1 0x00000006 ]",
          "[ payload load 2b @ transport header + 2 => reg 1 ]",
          "[ cmp eq reg 1 0x0000409c ]"],
    )]
    #[case::probes(
        Flow::Probes {
            local: "10.0.0.1".parse().unwrap(),
            remote: "10.0.0.2".parse().unwrap(),
            sports: (40000, 65535),
            dports: (1, 1024),
        },
        &["[ meta load protocol => reg 1 ]",
          "[ cmp eq reg 1 0x00000008 ]",
          "[ payload load 4b @ network header + 12 => reg 1 ]",
          "[ cmp eq reg 1 0x0200000a ]",
          "[ payload load 4b @ network header + 16 => reg 1 ]",
          "[ cmp eq reg 1 0x0100000a ]",
          "[ meta load l4proto => reg 1 ]",
          "[ cmp eq reg 1 0x00000006 ]",
          "[ payload load 2b @ transport header + 0 => reg 1 ]",
          "[ cmp gte reg 1 0x00000100 ]",
          "[ cmp lte reg 1 0x00000004 ]",
          "[ payload load 2b @ transport header + 2 => reg 1 ]",
          "[ cmp gte reg 1 0x0000409c ]",
          "[ cmp lte reg 1 0x0000ffff ]"],
    )]
    fn the_rule_matches_frames_to_nettool_and_drops_them(
        #[case] flow: Flow,
        #[case] matches: &[&str],
    ) {
        let mut want = matches.to_vec();
        want.extend(["[ counter pkts 0 bytes 0 ]", "[ immediate reg 0 drop ]"]);
        let got: Vec<String> = rule(flow).iter().map(Expr::to_string).collect();
        assert_eq!(got, want);
    }

    /// Over IPv6: the EtherType 0x86dd, the 16-byte addresses at 8 and
    /// 24 (the peer's, then nettool's), the rest as over IPv4.
    #[test]
    fn the_ipv6_rule_matches_ipv6_headers() {
        let local: SocketAddr = "[fd00:6e74::1]:40000".parse().unwrap();
        let remote: SocketAddr = "[fd00:6e74::2]:80".parse().unwrap();
        let r = rule(Flow::Connection { local, remote });
        assert_eq!(r[1], eq(vec![0x86, 0xdd]));
        let octets = |a: SocketAddr| match a.ip() {
            IpAddr::V6(ip) => ip.octets().to_vec(),
            IpAddr::V4(_) => unreachable!(),
        };
        assert_eq!(
            &r[2..6],
            &[
                network(8, 16),
                eq(octets(remote)),
                network(24, 16),
                eq(octets(local))
            ]
        );
        let v4 = rule(connection(LOCAL, REMOTE));
        assert_eq!(
            r[6..],
            v4[6..],
            "the same protocol, ports, counter and drop"
        );
        let text = ruleset("t", Flow::Connection { local, remote }, "eth0");
        assert!(
            text.contains(
                "ip6 saddr fd00:6e74::2 ip6 daddr fd00:6e74::1 tcp sport 80 tcp dport 40000 counter drop"
            ),
            "{text}"
        );
    }

    /// The table, its chain on the device's ingress and the rule, in
    /// the netdev family, each named in errors as the ingress's.
    #[test]
    fn the_batch_adds_a_netdev_table_chain_and_rule() {
        let mut b = Batch::new(10);
        add(&mut b, "t", connection(LOCAL, REMOTE), "veth0");
        let f = b.finish();
        assert_eq!(
            f.acked,
            vec![
                (11, "ingress table"),
                (12, "ingress chain"),
                (13, "ingress rule")
            ]
        );
        assert!(SEQS as usize == f.acked.len());
        let families: Vec<u8> = crate::netlink::messages(&f.bytes)
            .map(|m| m.unwrap().1[0])
            .collect();
        // The batch's begin and end, then the three messages.
        assert_eq!(
            families,
            vec![0, FAMILY_NETDEV, FAMILY_NETDEV, FAMILY_NETDEV, 0]
        );
        let device = b"veth0\0";
        assert!(
            f.bytes.windows(device.len()).any(|w| w == device),
            "the chain names its device"
        );
    }
}
