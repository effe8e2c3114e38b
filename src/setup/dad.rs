//! Duplicate address detection (RFC 4862 §5.4) of an IPv6 source the
//! kernel does not own, before nettool uses it and answers neighbour
//! solicitations for it ([`crate::stack::neighbor`]): one solicitation
//! from `::` to the address's solicited-node group, then RetransTimer
//! (1 s) for anyone to object, as a host does for an address of its own.
//! While the address is tentative nothing is answered for it (the claim
//! machine, [`crate::ndp::claim`], answers nothing at all).

use std::net::Ipv6Addr;
use std::sync::atomic::AtomicBool;

use anyhow::{Result, bail};

use crate::clock::{Clock, SystemClock};
use crate::driver::{self, Stop};
use crate::link::Filter;
use crate::link::packet::PacketLink;
use crate::link::pcap::PcapFile;
use crate::ndp::cache::RETRANS_TIMER;
use crate::ndp::claim::{self, Claim, DUP_ADDR_DETECT_TRANSMITS, Mode};
use crate::privilege::{self, Cap};
use crate::route::Interface;
use crate::wire::ipv6::{multicast_mac, solicited_node};

/// Checks that nobody on `iface`'s link has `source`: `Ok` when nobody
/// objected; an error naming who did otherwise (or that the user
/// interrupted the wait).
pub fn check_free(
    iface: &Interface,
    source: Ipv6Addr,
    pcap: Option<&PcapFile>,
    interrupt: &AtomicBool,
) -> Result<()> {
    let link = privilege::raised(&[Cap::NetRaw], || {
        let link = PacketLink::open(iface.index, Filter::ArpIpv6)?;
        // Another node's DAD for the same address goes to its group.
        join_solicited_node(&link, iface, source)?;
        Ok::<_, anyhow::Error>(link)
    })?;
    let mut link = super::capture(link, pcap)?;
    let mut clock = SystemClock::new();
    let config = claim::Config {
        mode: Mode::Dad,
        mac: iface.mac,
        target: source,
        tries: DUP_ADDR_DETECT_TRANSMITS,
        interval: RETRANS_TIMER,
        wait: RETRANS_TIMER,
    };
    let mut dad = Claim::new(clock.now(), config);
    let stop = driver::run(&mut dad, &mut link, &mut clock, interrupt, |_, _| Ok(()))?;
    if stop == Stop::Interrupted {
        bail!("interrupted while checking that {source} is free");
    }
    if let Some(mac) = dad.claimed_by() {
        bail!(
            "{source} is in use on {} (by {mac}, which answered duplicate address detection): \
             give another -s, or one of this host's addresses",
            iface.name
        );
    }
    Ok(())
}

/// Has `link` receive the frames to `source`'s solicited-node group.
pub fn join_solicited_node(link: &PacketLink, iface: &Interface, source: Ipv6Addr) -> Result<()> {
    let mac = multicast_mac(solicited_node(source));
    link.join_multicast(iface.index, mac.octets()).map_err(|e| {
        anyhow::anyhow!(
            "joining {}'s solicited-node group on {}: {e}",
            source,
            iface.name
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Machine, RxChecksum};
    use crate::time::Instant;
    use crate::wire::MacAddr;
    use crate::wire::icmpv6::Icmpv6Repr;
    use crate::wire::ipv6::{Ipv6Repr, NextHeader};
    use crate::wire::ndp::NdpRepr;

    /// While the address is tentative, a neighbour resolving it gets no
    /// answer: DAD sends its one solicitation and nothing else.
    #[test]
    fn a_tentative_address_is_not_answered() {
        let us = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 0x99);
        let (mac, them_mac) = (
            MacAddr::new(2, 0, 0, 0, 0, 1),
            MacAddr::new(2, 0, 0, 0, 0, 2),
        );
        let them = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 2);
        let config = claim::Config {
            mode: Mode::Dad,
            mac,
            target: us,
            tries: DUP_ADDR_DETECT_TRANSMITS,
            interval: RETRANS_TIMER,
            wait: RETRANS_TIMER,
        };
        let now = Instant::ZERO;
        let mut dad = Claim::new(now, config);
        dad.handle_timeout(now);
        let first = dad.poll_transmit(now).expect("the DAD solicitation");
        assert!(dad.poll_transmit(now).is_none());
        let (_, ip, _) = crate::wire::icmpv6::parse_frame(&first, true).unwrap();
        assert!(ip.src.is_unspecified());
        let group = solicited_node(us);
        let ns = Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
            target: us,
            source_lladdr: Some(them_mac),
        });
        let mut msg = vec![0u8; ns.buffer_len()];
        ns.emit(them, group, &mut msg);
        let frame = Ipv6Repr::new(them, group, NextHeader::Icmpv6, 255, msg.len()).frame(
            them_mac,
            multicast_mac(group),
            &msg,
        );
        dad.handle_frame(now, &frame, RxChecksum::Unknown);
        assert!(
            dad.poll_transmit(now).is_none(),
            "no answer while tentative"
        );
        // A unicast solicitation is someone resolving it, no objection.
        assert_eq!(dad.claimed_by(), None);
    }
}
