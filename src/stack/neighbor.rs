//! Neighbor Solicitations answered for an IPv6 address nettool alone
//! answers for (one the kernel does not own, checked free by duplicate
//! address detection first): RFC 4861 §7.2.3 and §7.2.4, as ARP is
//! answered for such an IPv4 address ([`crate::wire::demux::arp_reply`]).
//!
//! The solicitation is validated as §7.1.1 says ([`NdpRepr::parse`]:
//! hop limit 255, code 0, sane options, a DAD solicitation to the
//! target's solicited-node group without a link-layer option); one that
//! fails is dropped silently and changes nothing. The advertisement
//! carries our link-layer address as its target option, O=1, and goes
//!
//! - to the solicitation's source, S=1, at the link-layer address its
//!   option names (else the frame's sender: a unicast NUD probe may carry
//!   no option);
//! - to all-nodes (ff02::1), S=0, when the source is `::`: another node's
//!   duplicate address detection, which our answer tells that the address
//!   is taken (§7.2.4; a solicited advertisement to a multicast group is
//!   invalid).

use std::net::Ipv6Addr;

use crate::wire::icmpv6::{Icmpv6Repr, parse_frame};
use crate::wire::ipv6::{ALL_NODES, multicast_mac, solicited_node};
use crate::wire::ndp::{NEIGHBOR_SOLICIT, NaFlags, NdpRepr};
use crate::wire::{MacAddr, ethernet};

/// An advertisement to send, and whom it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub frame: Vec<u8>,
    /// The solicitation's source (`::` for a DAD probe).
    pub asker: Ipv6Addr,
    pub asker_mac: MacAddr,
}

/// Bytes of a frame carrying a Neighbor Solicitation, at least: Ethernet,
/// IPv6, and the message's fixed part.
const MIN_NS_FRAME: usize = ethernet::HEADER_LEN + 40 + 24;

/// A look at the bytes, before any parse: IPv6, with ICMPv6 as its first
/// next header, of type Neighbor Solicitation. Everything else (every
/// TCP segment) passes by at the cost of three comparisons.
fn may_be_solicitation(frame: &[u8]) -> bool {
    frame.len() >= MIN_NS_FRAME
        && frame[12..14] == [0x86, 0xdd]
        && frame[ethernet::HEADER_LEN + 6] == 58
        && frame[ethernet::HEADER_LEN + 40] == NEIGHBOR_SOLICIT
}

/// The advertisement answering `frame` if it is a valid Neighbor
/// Solicitation for `ours`, addressed to our MAC or to `ours`'s
/// solicited-node group; `verify`: check the ICMPv6 checksum (unless the
/// kernel vouched for the frame).
pub fn answer(mac: MacAddr, ours: Ipv6Addr, frame: &[u8], verify: bool) -> Option<Answer> {
    if !may_be_solicitation(frame) {
        return None;
    }
    let (eth, ip, msg) = parse_frame(frame, verify).ok()?;
    let Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
        target,
        source_lladdr,
    }) = msg
    else {
        return None;
    };
    let group = solicited_node(ours);
    if target != ours || (eth.dst != mac && eth.dst != multicast_mac(group)) {
        return None;
    }
    if ip.dst != ours && ip.dst != group {
        return None;
    }
    let dad = ip.src.is_unspecified();
    let na = Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
        flags: NaFlags {
            router: false,
            solicited: !dad,
            override_: true,
        },
        target: ours,
        target_lladdr: Some(mac),
    });
    let (dst, dst_mac) = if dad {
        (ALL_NODES, multicast_mac(ALL_NODES))
    } else {
        (ip.src, source_lladdr.unwrap_or(eth.src))
    };
    Some(Answer {
        frame: na.frame((mac, dst_mac), (ours, dst)),
        asker: ip.src,
        asker_mac: source_lladdr.unwrap_or(eth.src),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv6::{Ipv6Repr, NextHeader};
    use rstest::rstest;

    const US: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 0x99);
    const US_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
    const THEM: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 2);
    const THEM_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
    const STRANGER: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 3);

    /// A solicitation for `target` from `src` to `dst`, with the source
    /// link-layer option unless from `::`, sent with `hop_limit`.
    fn solicitation(src: Ipv6Addr, dst: Ipv6Addr, target: Ipv6Addr, hop_limit: u8) -> Vec<u8> {
        let ns = Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
            target,
            source_lladdr: (!src.is_unspecified()).then_some(THEM_MAC),
        });
        let mut msg = vec![0u8; ns.buffer_len()];
        ns.emit(src, dst, &mut msg);
        let dst_mac = if dst.is_multicast() {
            multicast_mac(dst)
        } else {
            US_MAC
        };
        Ipv6Repr::new(src, dst, NextHeader::Icmpv6, hop_limit, msg.len())
            .frame(THEM_MAC, dst_mac, &msg)
    }

    fn group(ip: Ipv6Addr) -> Ipv6Addr {
        solicited_node(ip)
    }

    /// What is answered, and how: (IP destination, S flag), or nothing.
    #[rstest]
    #[case::resolution_to_our_group(THEM, group(US), US, 255, Some((THEM, true)))]
    #[case::unicast_nud_probe(THEM, US, US, 255, Some((THEM, true)))]
    #[case::dad_for_our_address_to_all_nodes(Ipv6Addr::UNSPECIFIED, group(US), US, 255, Some((ALL_NODES, false)))]
    #[case::not_our_address(THEM, group(STRANGER), STRANGER, 255, None)]
    #[case::our_group_but_another_target(THEM, group(US), STRANGER, 255, None)]
    #[case::routed_in_hop_limit_254(THEM, group(US), US, 254, None)]
    #[case::hop_limit_64(THEM, US, US, 64, None)]
    fn a_solicitation_is_answered_only_for_our_address(
        #[case] src: Ipv6Addr,
        #[case] dst: Ipv6Addr,
        #[case] target: Ipv6Addr,
        #[case] hop_limit: u8,
        #[case] want: Option<(Ipv6Addr, bool)>,
    ) {
        let frame = solicitation(src, dst, target, hop_limit);
        let got = answer(US_MAC, US, &frame, true);
        assert_eq!(got.is_some(), want.is_some(), "{got:?}");
        let (Some(got), Some((to, solicited))) = (got, want) else {
            return;
        };
        let (eth, ip, msg) = parse_frame(&got.frame, true).expect("a valid advertisement");
        assert_eq!((ip.src, ip.dst, ip.hop_limit), (US, to, 255));
        let to_mac = if to.is_multicast() {
            multicast_mac(to)
        } else {
            THEM_MAC
        };
        assert_eq!((eth.src, eth.dst), (US_MAC, to_mac));
        assert_eq!(
            msg,
            Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
                flags: NaFlags {
                    router: false,
                    solicited,
                    override_: true
                },
                target: US,
                target_lladdr: Some(US_MAC),
            })
        );
        assert_eq!((got.asker, got.asker_mac), (src, THEM_MAC));
    }

    #[test]
    fn a_bad_checksum_or_a_cut_frame_is_not_answered() {
        let mut frame = solicitation(THEM, group(US), US, 255);
        assert!(answer(US_MAC, US, &frame, true).is_some());
        let last = frame.len() - 1;
        frame[last] ^= 0xff;
        assert!(answer(US_MAC, US, &frame, true).is_none());
        let frame = solicitation(THEM, group(US), US, 255);
        assert!(answer(US_MAC, US, &frame[..MIN_NS_FRAME - 1], true).is_none());
    }

    /// A solicitation to another node's MAC (a switch flooding it) is that
    /// node's to answer.
    #[test]
    fn a_solicitation_to_another_mac_is_not_ours() {
        let mut frame = solicitation(THEM, US, US, 255);
        frame[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        assert!(answer(US_MAC, US, &frame, true).is_none());
    }
}
