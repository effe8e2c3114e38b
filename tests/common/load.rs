//! What the load tests read in the sink's namespace (B) and in nettool's
//! (A), for either family.

use nettool::lab::testnet::TwoHosts;

use super::sh;

/// TCP sockets in `state` in B, listeners aside; `family` is `ss`'s
/// `-4` or `-6`.
pub fn sockets(hosts: &TwoHosts, family: &str, state: &str) -> usize {
    let mut ss = hosts.cmd_b("ss");
    ss.args(["-Htn", family, "state", state]);
    sh(ss).lines().count()
}

/// `ss -s` in B: the established count of its TCP line
/// (`TCP:   100001 (estab 100000, closed 0, ...)`).
pub fn ss_established(hosts: &TwoHosts) -> usize {
    let mut ss = hosts.cmd_b("ss");
    ss.arg("-s");
    let text = sh(ss);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("TCP:")?
                .split("estab ")
                .nth(1)?
                .split(',')
                .next()
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no estab count in ss -s:\n{text}"))
}

/// `nft list tables` in A, where nettool's guard would be.
pub fn guard_tables(hosts: &TwoHosts) -> String {
    let mut nft = hosts.cmd_a("nft");
    nft.args(["list", "tables"]);
    sh(nft)
}
