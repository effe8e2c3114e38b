//! The addresses an [`Interface`](super::iface::Interface) answers for
//! beside its own (`nettool load --sources`): addresses the kernel does
//! not own, so nettool answers ARP (IPv4) or neighbour solicitations
//! (IPv6), segments for no flow and echo requests for them itself, as it
//! does for an unowned `--source`.
//!
//! A frame is sorted for one identity at a time (see
//! [`crate::wire::demux`]); [`More::identity_for`] says which, from a
//! look at the frame's IP destination, before it is parsed for that
//! identity.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pnet::packet::Packet;
use pnet::packet::ethernet::{EtherTypes, EthernetPacket};
use pnet::packet::ip::IpNextHeaderProtocols;
use pnet::packet::ipv4::Ipv4Packet;
use pnet::packet::ipv6::Ipv6Packet;

use crate::wire::demux::Identity;

/// The more addresses: none by default, and then nothing is looked at.
#[derive(Debug, Clone, Default)]
pub struct More {
    ips: HashSet<Ipv4Addr>,
    ips6: HashSet<Ipv6Addr>,
}

impl More {
    pub fn add(&mut self, ip: impl Into<IpAddr>) {
        match ip.into() {
            IpAddr::V4(ip) => self.ips.insert(ip),
            IpAddr::V6(ip) => self.ips6.insert(ip),
        };
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        !self.ips.is_empty() && self.ips.contains(&ip)
    }

    pub fn contains6(&self, ip: Ipv6Addr) -> bool {
        !self.ips6.is_empty() && self.ips6.contains(&ip)
    }

    pub fn len(&self) -> usize {
        self.ips.len() + self.ips6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ips.is_empty() && self.ips6.is_empty()
    }

    /// Whom `frame` is for: `primary`, unless it is an IPv4 packet to one
    /// of the more addresses (ARP needs no choice: a request names the
    /// address it asks for, see [`More::contains`]).
    pub fn identity_for(&self, primary: Identity, frame: &[u8]) -> Identity {
        if self.is_empty() {
            return primary;
        }
        match ip_destination(frame) {
            Some(IpAddr::V4(ip)) if ip != primary.ip && self.ips.contains(&ip) => {
                Identity { ip, ..primary }
            }
            Some(IpAddr::V6(ip)) if primary.ipv6 != Some(ip) && self.ips6.contains(&ip) => {
                Identity {
                    ipv6: Some(ip),
                    ..primary
                }
            }
            _ => primary,
        }
    }

    /// The one of the more IPv6 addresses a Neighbor Solicitation in
    /// `frame` asks for, if it is one (unvalidated: the answer's parse
    /// checks the whole message).
    pub fn solicited(&self, frame: &[u8]) -> Option<Ipv6Addr> {
        if self.ips6.is_empty() {
            return None;
        }
        let target = solicitation_target(frame)?;
        self.ips6.contains(&target).then_some(target)
    }
}

/// The destination of an IP packet in an Ethernet frame (unvalidated:
/// only a choice of identity rests on it; the parse that follows checks
/// the header).
fn ip_destination(frame: &[u8]) -> Option<IpAddr> {
    let eth = EthernetPacket::new(frame)?;
    match eth.get_ethertype() {
        EtherTypes::Ipv4 => Ipv4Packet::new(eth.payload()).map(|ip| ip.get_destination().into()),
        EtherTypes::Ipv6 => Ipv6Packet::new(eth.payload()).map(|ip| ip.get_destination().into()),
        _ => None,
    }
}

/// The target of what looks like a Neighbor Solicitation (ICMPv6 type
/// 135 right after the IPv6 header): the 16 bytes after the message's
/// type, code, checksum and reserved word.
fn solicitation_target(frame: &[u8]) -> Option<Ipv6Addr> {
    let eth = EthernetPacket::new(frame)?;
    if eth.get_ethertype() != EtherTypes::Ipv6 {
        return None;
    }
    let ip = Ipv6Packet::new(eth.payload())?;
    let msg = ip.payload();
    if ip.get_next_header() != IpNextHeaderProtocols::Icmpv6
        || msg.first() != Some(&crate::wire::ndp::NEIGHBOR_SOLICIT)
    {
        return None;
    }
    let target: [u8; 16] = msg.get(8..24)?.try_into().ok()?;
    Some(target.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::MacAddr;
    use crate::wire::ipv4::{IpProtocol, Ipv4Repr};

    const US: Identity = Identity {
        ip: Ipv4Addr::new(10, 0, 0, 1),
        mac: MacAddr(2, 0, 0, 0, 0, 1),
        ipv6: None,
    };

    fn segment_to(dst: Ipv4Addr) -> Vec<u8> {
        let tcp = crate::wire::testing::syn();
        let ip = Ipv4Repr::new(
            Ipv4Addr::new(10, 0, 0, 2),
            dst,
            IpProtocol::Tcp,
            tcp.buffer_len(),
        );
        tcp.to_frame(MacAddr(2, 0, 0, 0, 0, 2), US.mac, &ip)
    }

    #[test]
    fn a_packet_to_one_of_the_more_addresses_is_for_it() {
        let mut more = More::default();
        let other = Ipv4Addr::new(10, 0, 0, 7);
        assert_eq!(more.identity_for(US, &segment_to(other)), US);
        more.add(other);
        let id = more.identity_for(US, &segment_to(other));
        assert_eq!((id.ip, id.mac), (other, US.mac));
        assert_eq!(more.identity_for(US, &segment_to(US.ip)), US);
        let stranger = Ipv4Addr::new(10, 0, 0, 8);
        assert_eq!(more.identity_for(US, &segment_to(stranger)), US);
        assert_eq!(more.identity_for(US, &[0u8; 10]), US);
        assert!(more.contains(other) && !more.contains(stranger));
    }

    #[test]
    fn an_ipv6_packet_or_solicitation_for_a_more_address_is_for_it() {
        use crate::wire::icmpv6::Icmpv6Repr;
        use crate::wire::ipv6::{Ipv6Repr, NextHeader, multicast_mac, solicited_node};
        use crate::wire::ndp::NdpRepr;
        let us6 = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 3);
        let other = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 4);
        let them = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 2);
        let primary = Identity {
            ipv6: Some(us6),
            ..US
        };
        let them_mac = MacAddr(2, 0, 0, 0, 0, 2);
        let to = |dst: Ipv6Addr| {
            let ip = Ipv6Repr::new(them, dst, NextHeader::Tcp, 64, 0);
            crate::wire::testing::syn().to_ipv6_frame_with(
                them_mac,
                US.mac,
                &ip,
                crate::wire::tcp::ChecksumFill::Complete,
            )
        };
        let ns = |target: Ipv6Addr| {
            let group = solicited_node(target);
            Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
                target,
                source_lladdr: Some(them_mac),
            })
            .frame((them_mac, multicast_mac(group)), (them, group))
        };
        let mut more = More::default();
        assert_eq!(more.identity_for(primary, &to(other)), primary);
        assert_eq!(more.solicited(&ns(other)), None);
        more.add(other);
        assert_eq!(more.identity_for(primary, &to(other)).ipv6, Some(other));
        assert_eq!(more.identity_for(primary, &to(us6)), primary);
        assert_eq!(more.identity_for(primary, &to(them)), primary);
        assert_eq!(more.solicited(&ns(other)), Some(other));
        assert_eq!(more.solicited(&ns(them)), None);
        assert_eq!(
            more.solicited(&to(other)),
            None,
            "a segment is no solicitation"
        );
        assert!(more.contains6(other) && !more.contains6(them) && !more.contains(US.ip));
    }

    mod on_an_interface {
        use std::net::SocketAddrV4;
        use std::sync::Arc;

        use crate::machine::{Machine, RxChecksum};
        use crate::stack::iface::{HostEvent, Interface, InterfaceConfig, ListenerConfig};
        use crate::tcp::{self, Connection, IssSource, SeqNum, State};
        use crate::time::Instant;
        use crate::wire::MacAddr;
        use crate::wire::arp::{ArpRepr, Operation};

        use super::*;

        const THEM: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
        const THEM_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
        const SECOND: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 7);

        /// Ours at `US.ip` (which the kernel owns: `answer_arp` off) and
        /// at `SECOND`, which only nettool answers for.
        fn ours() -> Interface {
            let mut iface = Interface::new(InterfaceConfig {
                ip: US.ip,
                mac: US.mac,
                ipv6: None,
                next_hop_mac: Some(THEM_MAC),
                answer_arp: false,
                trace: false,
            });
            iface.add_address(SECOND);
            iface
        }

        fn arp_answer(iface: &mut Interface, target: Ipv4Addr) -> Option<ArpRepr> {
            let ask = ArpRepr::request(THEM_MAC, THEM, target);
            iface.handle_frame(
                Instant::ZERO,
                &ask.to_frame(THEM_MAC, MacAddr::broadcast()),
                RxChecksum::Unknown,
            );
            let frame = iface.poll_transmit(Instant::ZERO)?;
            Some(ArpRepr::from_frame(&frame).expect("an ARP frame").1)
        }

        #[test]
        fn solicitations_are_answered_for_the_more_ipv6_addresses_only() {
            use crate::wire::icmpv6::{Icmpv6Repr, parse_frame};
            use crate::wire::ipv6::{multicast_mac, solicited_node};
            use crate::wire::ndp::NdpRepr;
            use std::net::Ipv6Addr;
            let own6 = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 1);
            let second6 = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 4);
            let them6 = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 2);
            // The kernel owns own6: answer_arp off.
            let mut iface = Interface::new(InterfaceConfig {
                ip: Ipv4Addr::UNSPECIFIED,
                mac: US.mac,
                ipv6: Some(own6),
                next_hop_mac: Some(THEM_MAC),
                answer_arp: false,
                trace: false,
            });
            iface.add_address(second6);
            let mut ask = |target: Ipv6Addr| {
                let group = solicited_node(target);
                let ns = Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
                    target,
                    source_lladdr: Some(THEM_MAC),
                })
                .frame((THEM_MAC, multicast_mac(group)), (them6, group));
                iface.handle_frame(Instant::ZERO, &ns, RxChecksum::Unknown);
                iface.poll_transmit(Instant::ZERO)
            };
            let na = ask(second6).expect("answered");
            let (_, ip, msg) = parse_frame(&na, true).expect("an ICMPv6 frame");
            assert_eq!((ip.src, ip.dst), (second6, them6));
            let Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
                target,
                target_lladdr,
                flags,
            }) = msg
            else {
                panic!("{msg:?}")
            };
            assert_eq!((target, target_lladdr), (second6, Some(US.mac)));
            assert!(flags.solicited && flags.override_);
            assert_eq!(ask(own6), None, "the kernel's to answer");
            assert_eq!(ask(Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 5)), None);
        }

        #[test]
        fn arp_is_answered_for_the_more_addresses_only() {
            let mut iface = ours();
            let reply = arp_answer(&mut iface, SECOND).expect("answered");
            assert_eq!(reply.operation, Operation::Reply);
            assert_eq!((reply.sender_ip, reply.sender_mac), (SECOND, US.mac));
            assert_eq!(reply.target_ip, THEM);
            // The kernel's own address is the kernel's to answer for; a
            // stranger's nobody's here.
            assert_eq!(arp_answer(&mut iface, US.ip), None);
            assert_eq!(arp_answer(&mut iface, Ipv4Addr::new(10, 0, 0, 8)), None);
        }

        #[test]
        fn a_connection_from_a_more_address_is_established() {
            let now = Instant::ZERO;
            let mut client = ours();
            let mut server = Interface::new(InterfaceConfig {
                ip: THEM,
                mac: THEM_MAC,
                ipv6: None,
                next_hop_mac: Some(US.mac),
                answer_arp: true,
                trace: false,
            });
            let service = SocketAddrV4::new(THEM, 80);
            server.listen(
                service,
                ListenerConfig {
                    tcp: tcp::Config::default(),
                    iss: IssSource::Fixed(SeqNum(1)),
                    backlog: 8,
                },
            );
            let local = SocketAddrV4::new(SECOND, 4000);
            let conn = Connection::connect(
                now,
                Arc::new(tcp::Config::default()),
                local,
                service,
                SeqNum(100),
            );
            let key = client.open(conn);
            for _ in 0..4 {
                while let Some(f) = client.poll_transmit(now) {
                    server.handle_frame(now, &f, RxChecksum::Unknown);
                }
                while let Some(f) = server.poll_transmit(now) {
                    client.handle_frame(now, &f, RxChecksum::Unknown);
                }
            }
            assert_eq!(
                client.conn(key).map(Connection::state),
                Some(State::Established)
            );
            assert!(server.accept(service).is_some());
            // A segment to the more address for no flow: a RST, since
            // nobody else will answer it.
            let stray = crate::wire::testing::syn();
            let ip = crate::wire::ipv4::Ipv4Repr::new(
                THEM,
                SECOND,
                crate::wire::ipv4::IpProtocol::Tcp,
                stray.buffer_len(),
            );
            client.handle_frame(
                now,
                &stray.to_frame(THEM_MAC, US.mac, &ip),
                RxChecksum::Unknown,
            );
            let rst = client.poll_transmit(now).expect("a RST");
            let (_, seg) = crate::wire::ethernet::EthernetRepr::parse(&rst).unwrap();
            let (hdr, _) = crate::wire::ipv4::Ipv4Repr::parse(seg).unwrap();
            assert_eq!(hdr.src, SECOND);
            while let Some(ev) = client.poll_event() {
                assert!(!matches!(ev.what, HostEvent::Malformed { .. }), "{ev:?}");
            }
        }
    }
}
