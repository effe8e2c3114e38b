//! The lab's filtered ports: an nftables table inside the lab namespace
//! whose rules drop TCP SYNs to [`Ports::FILTERED`], so a SYN there gets
//! no answer at all (neither SYN-ACK nor RST), and UDP datagrams to
//! [`UdpPorts::FILTERED`]. The table lives and
//! dies with the namespace; nothing outside the lab is touched. nettool
//! makes it over its own netlink socket ([`crate::nft`]), as it does its
//! RST guard: the lab needs no `nft` command.

use super::udp::UdpPorts;
use super::{Ports, ServiceError};
use crate::lab::netns;
use crate::netlink;
use crate::nft::expr::{Base, CmpOp, MetaKey, Verdict};
use crate::nft::{self, Batch, Expr, NftSocket};

/// The table, in the `inet` family: `table inet nettool-lab`.
pub const TABLE: &str = "nettool-lab";
/// Its one chain, on the input hook.
const CHAIN: &str = "input";
/// The rule's comment, which `nft list` shows.
const COMMENT: &str = "nettool lab: filtered port";
/// The UDP rule's comment.
const UDP_COMMENT: &str = "nettool lab: filtered UDP port";

/// The rule: only SYNs (SYN set, ACK clear) to the port are dropped; the
/// counter lets status and tests prove the rule matched. The expressions
/// nft builds from `tcp dport 82 tcp flags & (syn | ack) == syn counter
/// drop`.
pub fn rule() -> Vec<Expr> {
    let eq = |data: Vec<u8>| Expr::Cmp {
        op: CmpOp::Eq,
        data,
    };
    let transport = |offset, len| Expr::Payload {
        base: Base::Transport,
        offset,
        len,
    };
    vec![
        Expr::Meta(MetaKey::L4Proto),
        eq(vec![libc::IPPROTO_TCP as u8]),
        // The destination port, bytes 2 and 3 of the TCP header.
        transport(2, 2),
        eq(Ports::FILTERED.to_be_bytes().to_vec()),
        // The flags, byte 13: SYN 0x02, ACK 0x10.
        transport(13, 1),
        Expr::Bitwise {
            mask: vec![0x12],
            xor: vec![0],
        },
        eq(vec![0x02]),
        Expr::Counter,
        Expr::Verdict(Verdict::Drop),
    ]
}

/// The UDP rule: datagrams to [`UdpPorts::FILTERED`] dropped (without a
/// counter: the table's count is of SYNs). The expressions nft builds from
/// `udp dport 82 drop`.
pub fn udp_rule() -> Vec<Expr> {
    let eq = |data: Vec<u8>| Expr::Cmp {
        op: CmpOp::Eq,
        data,
    };
    vec![
        Expr::Meta(MetaKey::L4Proto),
        eq(vec![libc::IPPROTO_UDP as u8]),
        // The destination port, bytes 2 and 3 of the UDP header.
        Expr::Payload {
            base: Base::Transport,
            offset: 2,
            len: 2,
        },
        eq(UdpPorts::FILTERED.to_be_bytes().to_vec()),
        Expr::Verdict(Verdict::Drop),
    ]
}

/// The same table as an nft script, for the tests to compare with what
/// the kernel holds.
#[cfg(any(test, feature = "testkit"))]
pub fn ruleset() -> String {
    format!(
        "table inet {TABLE} {{\n\
         \tchain {CHAIN} {{\n\
         \t\ttype filter hook input priority filter; policy accept;\n\
         \t\ttcp dport {} tcp flags & (syn | ack) == syn counter drop comment \"{COMMENT}\"\n\
         \t\tudp dport {} drop comment \"{UDP_COMMENT}\"\n\
         \t}}\n\
         }}\n",
        Ports::FILTERED,
        UdpPorts::FILTERED
    )
}

/// A netfilter netlink socket in `namespace`.
fn socket_in(namespace: &str) -> Result<NftSocket, ServiceError> {
    netns::in_namespace(namespace, NftSocket::open)?.map_err(|e| {
        ServiceError::io(
            format!("opening a netfilter netlink socket in {namespace}"),
            e,
        )
    })
}

/// Creates the table in `namespace` (which must be a lab's: never the
/// machine's own), in one transaction.
pub fn install(namespace: &str) -> Result<(), ServiceError> {
    let socket = socket_in(namespace)?;
    let mut b = Batch::new(netlink::next_seqs(8));
    b.new_table(TABLE);
    b.new_base_chain(TABLE, CHAIN, nft::chain::HOOK_INPUT, 0);
    b.new_rule_with(TABLE, CHAIN, &rule(), Some(COMMENT));
    b.new_rule_with(TABLE, CHAIN, &udp_rule(), Some(UDP_COMMENT));
    socket.commit(b).map_err(|e| ServiceError::Firewall {
        namespace: namespace.to_owned(),
        why: e.to_string(),
    })
}

/// How many SYNs the rule has dropped, or `None` when the rule is not in
/// place (no table, or the kernel would not say).
pub fn dropped(namespace: &str) -> Option<u64> {
    socket_in(namespace).ok()?.packets(TABLE, CHAIN).ok()?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As `nft --debug=netlink -c -f` printed the rule of [`ruleset`] on
    /// Linux 6.18 with nft 1.0.6.
    #[test]
    fn the_rule_drops_only_syns_to_the_filtered_port() {
        let got: Vec<String> = rule().iter().map(Expr::to_string).collect();
        assert_eq!(
            got,
            [
                "[ meta load l4proto => reg 1 ]",
                "[ cmp eq reg 1 0x00000006 ]",
                "[ payload load 2b @ transport header + 2 => reg 1 ]",
                "[ cmp eq reg 1 0x00005200 ]",
                "[ payload load 1b @ transport header + 13 => reg 1 ]",
                "[ bitwise reg 1 = ( reg 1 & 0x00000012 ) ^ 0x00000000 ]",
                "[ cmp eq reg 1 0x00000002 ]",
                "[ counter pkts 0 bytes 0 ]",
                "[ immediate reg 0 drop ]",
            ]
        );
    }

    /// As `nft --debug=netlink -c -f` printed `udp dport 82 drop` (nft
    /// 1.0.6).
    #[test]
    fn the_udp_rule_drops_datagrams_to_the_filtered_udp_port() {
        let got: Vec<String> = udp_rule().iter().map(Expr::to_string).collect();
        assert_eq!(
            got,
            [
                "[ meta load l4proto => reg 1 ]",
                "[ cmp eq reg 1 0x00000011 ]",
                "[ payload load 2b @ transport header + 2 => reg 1 ]",
                "[ cmp eq reg 1 0x00005200 ]",
                "[ immediate reg 0 drop ]",
            ]
        );
    }

    #[test]
    fn the_ruleset_drops_only_syns_to_the_filtered_port() {
        let rules = ruleset();
        assert!(rules.contains("table inet nettool-lab"));
        assert!(rules.contains("tcp dport 82 tcp flags & (syn | ack) == syn counter drop"));
        assert!(rules.contains("udp dport 82 drop"));
        assert_eq!(rules.matches("drop").count(), 2, "{rules}");
        assert!(rules.contains("policy accept"));
    }
}
