//! What a frame on the link is for one local identity: the Ethernet,
//! IPv4 and IPv6 demultiplexing the stack's interface does first, for its
//! connections and for the raw flows of the probers, the tracer and the
//! UDP and ICMP flows, and
//! the ARP answer for an address the kernel does not own. Parsing happens
//! here once; the flows only decide what the parsed segment or error
//! means to them.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use super::arp::ArpRepr;
use super::ethernet::{EthernetRepr, Protocol};
use super::icmp::{IcmpError, IcmpQuery};
use super::icmpv6::{ECHO_REPLY, ECHO_REQUEST, Icmpv6Error};
use super::ipv4::{IpProtocol, Ipv4Repr};
use super::ipv6::{Ipv6Repr, NextHeader};
use super::tcp::{ChecksumMode, TcpRepr};
use super::udp::UdpRepr;
use super::{MacAddr, WireError};

/// A connection's 4-tuple, from our side: both ends of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

impl FlowKey {
    /// The 4-tuple of two IPv4 ends.
    pub fn v4(local: SocketAddrV4, remote: SocketAddrV4) -> FlowKey {
        FlowKey {
            local: local.into(),
            remote: remote.into(),
        }
    }
}

/// Who we are on the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// Our IPv4 address; 0.0.0.0 when we have none (an IPv6-only run),
    /// and then no IPv4 packet is ours.
    pub ip: Ipv4Addr,
    pub mac: MacAddr,
    /// Our IPv6 address, if we have one.
    pub ipv6: Option<Ipv6Addr>,
}

/// A frame for us, sorted.
#[derive(Debug)]
pub enum Inbound<'a> {
    /// An ARP packet (a request for our address is answered by
    /// [`arp_reply`] when the kernel does not own it).
    Arp(ArpRepr),
    /// A TCP segment to our address, parsed (its checksum checked as the
    /// caller asked: skipped where the kernel vouched for the frame), or
    /// the `Err` of a segment that failed.
    Tcp {
        /// The frame's sender: the next hop, seen from here.
        src_mac: MacAddr,
        ip: Ipv4Repr,
        /// The segment's 4-tuple from our side.
        flow: FlowKey,
        tcp: super::Result<TcpRepr<'a>>,
    },
    /// A UDP datagram to our address, parsed (its checksum checked as the
    /// caller asked), or the `Err` of one that failed.
    Udp {
        src_mac: MacAddr,
        ip: Ipv4Repr,
        /// The datagram's 4-tuple from our side (ports 0 when it failed).
        flow: FlowKey,
        udp: super::Result<UdpRepr<'a>>,
    },
    /// An ICMP query message to our address (an echo reply, a timestamp
    /// reply, …, or a request). Its flow from our side: our address with
    /// the identifier as the local port, the sender with port 0 (the
    /// convention [`IcmpError`] quotes queries by).
    Query {
        src_mac: MacAddr,
        ip: Ipv4Repr,
        flow: FlowKey,
        query: IcmpQuery<'a>,
    },
    /// An ICMP error to our address about a TCP segment, a UDP datagram or
    /// an ICMP query (`error.protocol` says which), and the flow (from our
    /// side) of the packet it quotes.
    Icmp {
        from: Ipv4Addr,
        error: IcmpError,
        quoted: FlowKey,
        /// The ICMP message, for a machine that reads more of the quote.
        body: &'a [u8],
    },
    /// A TCP segment in an IPv6 packet to our IPv6 address (past any
    /// extension headers), as [`Inbound::Tcp`] is over IPv4.
    Tcp6 {
        src_mac: MacAddr,
        ip: Ipv6Repr,
        flow: FlowKey,
        tcp: super::Result<TcpRepr<'a>>,
    },
    /// An ICMPv6 error to our IPv6 address about a TCP segment, a UDP
    /// datagram or an echo request (`error.protocol` says which), and the
    /// flow (from our side) of the packet it quotes.
    Icmp6 {
        from: Ipv6Addr,
        error: Icmpv6Error,
        quoted: FlowKey,
    },
    /// A UDP datagram in an IPv6 packet to our IPv6 address, as
    /// [`Inbound::Udp`] is over IPv4 (a zero checksum, which IPv6 forbids,
    /// fails it).
    Udp6 {
        src_mac: MacAddr,
        ip: Ipv6Repr,
        flow: FlowKey,
        udp: super::Result<UdpRepr<'a>>,
    },
    /// An ICMPv6 echo request or reply to our IPv6 address, checksum
    /// checked as the caller asked, keyed as [`Inbound::Query`] is: our
    /// address with the identifier as the local port, the sender with
    /// port 0.
    Echo6 {
        src_mac: MacAddr,
        ip: Ipv6Repr,
        flow: FlowKey,
        echo: Echo6<'a>,
    },
    /// An IPv4 or IPv6 header that failed validation (its destination
    /// unknown), or an IPv6 packet to us whose extension headers could
    /// not be walked.
    Malformed(WireError),
}

/// An ICMPv6 echo message (RFC 4443 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo6<'a> {
    /// An echo reply (else a request).
    pub reply: bool,
    pub ident: u16,
    pub seq: u16,
    pub data: &'a [u8],
}

/// Sorts `frame`: `None` unless it is ARP, or IPv4 to `us` carrying TCP,
/// UDP, an ICMP query or an ICMP error about one of those. Frames must be
/// addressed to our MAC or to broadcast. `tcp` says how to treat a TCP or
/// UDP checksum (the kernel leaves both partial alike).
pub fn demux<'a>(us: &Identity, frame: &'a [u8], tcp: ChecksumMode) -> Option<Inbound<'a>> {
    let (eth, payload) = EthernetRepr::parse(frame).ok()?;
    if eth.dst != us.mac && !eth.dst.is_broadcast() {
        return None;
    }
    match eth.protocol {
        Protocol::Arp => ArpRepr::parse(payload).ok().map(Inbound::Arp),
        Protocol::Ipv4 => {
            let (ip, body) = match Ipv4Repr::parse(payload) {
                Ok(x) => x,
                Err(e) => return Some(Inbound::Malformed(e)),
            };
            if ip.dst != us.ip || us.ip.is_unspecified() {
                return None;
            }
            match ip.protocol {
                IpProtocol::Tcp => {
                    let tcp = TcpRepr::parse(body, ip.src, ip.dst, tcp);
                    let flow = match &tcp {
                        Ok(t) => FlowKey::v4(
                            SocketAddrV4::new(ip.dst, t.dst_port),
                            SocketAddrV4::new(ip.src, t.src_port),
                        ),
                        Err(_) => {
                            FlowKey::v4(SocketAddrV4::new(ip.dst, 0), SocketAddrV4::new(ip.src, 0))
                        }
                    };
                    Some(Inbound::Tcp {
                        src_mac: eth.src,
                        ip,
                        flow,
                        tcp,
                    })
                }
                IpProtocol::Udp => {
                    let udp = UdpRepr::parse(body, ip.src, ip.dst, tcp);
                    let (ours, theirs) = match &udp {
                        Ok(u) => (u.dst_port, u.src_port),
                        Err(_) => (0, 0),
                    };
                    Some(Inbound::Udp {
                        src_mac: eth.src,
                        ip,
                        flow: FlowKey::v4(
                            SocketAddrV4::new(ip.dst, ours),
                            SocketAddrV4::new(ip.src, theirs),
                        ),
                        udp,
                    })
                }
                IpProtocol::Icmp if body.first().is_some_and(|&t| t != 3 && t != 11) => {
                    let query = IcmpQuery::parse(body).ok()?;
                    Some(Inbound::Query {
                        src_mac: eth.src,
                        ip,
                        flow: FlowKey::v4(
                            SocketAddrV4::new(ip.dst, query.ident),
                            SocketAddrV4::new(ip.src, 0),
                        ),
                        query,
                    })
                }
                IpProtocol::Icmp => {
                    let error = IcmpError::parse(body).ok()?;
                    let quoted = FlowKey::v4(
                        SocketAddrV4::new(error.quoted_src.0, error.quoted_src.1),
                        SocketAddrV4::new(error.quoted_dst.0, error.quoted_dst.1),
                    );
                    Some(Inbound::Icmp {
                        from: ip.src,
                        error,
                        quoted,
                        body,
                    })
                }
                _ => None,
            }
        }
        Protocol::Ipv6 => demux_ipv6(us, eth.src, payload, tcp),
        Protocol::Other(_) => None,
    }
}

/// The IPv6 half of [`demux`]: TCP and UDP to our IPv6 address, echo
/// messages, and ICMPv6 errors about a packet of ours. Neighbour
/// discovery is the NDP machines' (`crate::ndp`), not the interface's:
/// left alone here.
fn demux_ipv6<'a>(
    us: &Identity,
    src_mac: MacAddr,
    packet: &'a [u8],
    mode: ChecksumMode,
) -> Option<Inbound<'a>> {
    let ours = us.ipv6?;
    // The destination is read before the walk, so a packet for someone
    // else is never counted as ours when its extension headers are bad.
    let dst = packet
        .get(24..40)
        .map(|b| Ipv6Addr::from(<[u8; 16]>::try_from(b).expect("16 bytes")));
    if packet.len() >= 40 && dst != Some(ours) {
        return None;
    }
    let (ip, body) = match Ipv6Repr::parse(packet) {
        Ok(x) => x,
        Err(e) => return Some(Inbound::Malformed(e)),
    };
    match ip.next_header {
        NextHeader::Tcp => {
            let tcp = TcpRepr::parse(body, ip.src, ip.dst, mode);
            let (ours_port, theirs) = match &tcp {
                Ok(t) => (t.dst_port, t.src_port),
                Err(_) => (0, 0),
            };
            Some(Inbound::Tcp6 {
                src_mac,
                ip,
                flow: FlowKey {
                    local: SocketAddr::new(ip.dst.into(), ours_port),
                    remote: SocketAddr::new(ip.src.into(), theirs),
                },
                tcp,
            })
        }
        NextHeader::Udp => {
            let udp = UdpRepr::parse_v6(body, ip.src, ip.dst, mode);
            let (ours_port, theirs) = match &udp {
                Ok(u) => (u.dst_port, u.src_port),
                Err(_) => (0, 0),
            };
            Some(Inbound::Udp6 {
                src_mac,
                ip,
                flow: FlowKey {
                    local: SocketAddr::new(ip.dst.into(), ours_port),
                    remote: SocketAddr::new(ip.src.into(), theirs),
                },
                udp,
            })
        }
        NextHeader::Icmpv6 if matches!(body.first(), Some(&(ECHO_REQUEST | ECHO_REPLY))) => {
            let echo = echo6(&ip, body, mode)?;
            Some(Inbound::Echo6 {
                src_mac,
                ip,
                flow: FlowKey {
                    local: SocketAddr::new(ip.dst.into(), echo.ident),
                    remote: SocketAddr::new(ip.src.into(), 0),
                },
                echo,
            })
        }
        NextHeader::Icmpv6 if body.first().is_some_and(|&t| Icmpv6Error::is_error_type(t)) => {
            let error = Icmpv6Error::parse(&ip, body, mode == ChecksumMode::Verify).ok()?;
            let quoted = FlowKey {
                local: SocketAddr::new(error.quoted_src.0.into(), error.quoted_src.1),
                remote: SocketAddr::new(error.quoted_dst.0.into(), error.quoted_dst.1),
            };
            Some(Inbound::Icmp6 {
                from: ip.src,
                error,
                quoted,
            })
        }
        _ => None,
    }
}

/// The echo message `msg` that `ip` carried, its checksum verified unless
/// the kernel vouched for it (`mode`); `None` when it fails.
fn echo6<'a>(ip: &Ipv6Repr, msg: &'a [u8], mode: ChecksumMode) -> Option<Echo6<'a>> {
    use pnet::packet::icmpv6::{Icmpv6Packet, checksum};
    let head = msg.get(..8)?;
    if mode == ChecksumMode::Verify {
        let pkt = Icmpv6Packet::new(msg)?;
        if checksum(&pkt, &ip.src, &ip.dst) != pkt.get_checksum() {
            return None;
        }
    }
    Some(Echo6 {
        reply: head[0] == ECHO_REPLY,
        ident: u16::from_be_bytes([head[4], head[5]]),
        seq: u16::from_be_bytes([head[6], head[7]]),
        data: &msg[8..],
    })
}

/// The reply frame to an ARP request for our address (sent only when the
/// kernel does not own it, or nobody would answer).
pub fn arp_reply(us: &Identity, arp: &ArpRepr) -> Option<Vec<u8>> {
    let reply = arp.reply_for(us.mac, us.ip)?;
    Some(reply.to_frame(us.mac, arp.sender_mac))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFY: ChecksumMode = ChecksumMode::Verify;

    const US: Identity = Identity {
        ip: Ipv4Addr::new(10, 0, 0, 1),
        mac: MacAddr(2, 0, 0, 0, 0, 1),
        ipv6: Some(US6),
    };
    const US6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 1);
    const THEM6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 2);
    const THEM_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
    const THEM: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn segment(dst_ip: Ipv4Addr, dst_mac: MacAddr) -> Vec<u8> {
        let tcp = TcpRepr {
            src_port: 80,
            dst_port: 40000,
            window: 100,
            ..crate::wire::testing::syn()
        };
        let ip = Ipv4Repr::new(THEM, dst_ip, IpProtocol::Tcp, tcp.buffer_len());
        tcp.to_frame(THEM_MAC, dst_mac, &ip)
    }

    #[test]
    fn a_segment_to_us_comes_with_its_flow_from_our_side() {
        let frame = segment(US.ip, US.mac);
        let Some(Inbound::Tcp {
            src_mac, flow, tcp, ..
        }) = demux(&US, &frame, VERIFY)
        else {
            panic!("not sorted as TCP");
        };
        assert_eq!(src_mac, THEM_MAC);
        assert_eq!(flow.local, SocketAddr::from((US.ip, 40000)));
        assert_eq!(flow.remote, SocketAddr::from((THEM, 80)));
        assert!(tcp.is_ok());
    }

    #[test]
    fn frames_for_another_address_or_mac_are_not_ours() {
        let other = Ipv4Addr::new(10, 0, 0, 3);
        assert!(demux(&US, &segment(other, US.mac), VERIFY).is_none());
        let other_mac = MacAddr(2, 0, 0, 0, 0, 9);
        assert!(demux(&US, &segment(US.ip, other_mac), VERIFY).is_none());
    }

    #[test]
    fn arp_for_our_address_is_answered_and_no_other() {
        let ask = ArpRepr::request(THEM_MAC, THEM, US.ip);
        let reply = arp_reply(&US, &ask).expect("asked for us");
        let (eth, arp) = ArpRepr::from_frame(&reply).unwrap();
        assert_eq!(
            (eth.dst, arp.sender_mac, arp.sender_ip),
            (THEM_MAC, US.mac, US.ip)
        );
        let elsewhere = ArpRepr::request(THEM_MAC, THEM, Ipv4Addr::new(10, 0, 0, 7));
        assert!(arp_reply(&US, &elsewhere).is_none());
    }

    #[test]
    fn a_datagram_to_us_comes_with_its_flow_from_our_side() {
        let udp = UdpRepr {
            src_port: 53,
            dst_port: 40000,
            payload: b"answer",
        };
        let ip = Ipv4Repr::new(THEM, US.ip, IpProtocol::Udp, 0);
        let frame = udp.to_frame(THEM_MAC, US.mac, &ip);
        let Some(Inbound::Udp { flow, udp: got, .. }) = demux(&US, &frame, VERIFY) else {
            panic!("not sorted as UDP");
        };
        assert_eq!(flow.local, SocketAddr::from((US.ip, 40000)));
        assert_eq!(flow.remote, SocketAddr::from((THEM, 53)));
        assert_eq!(got, Ok(udp));
        let mut bad = frame.clone();
        *bad.last_mut().unwrap() ^= 1;
        let Some(Inbound::Udp { flow, udp: got, .. }) = demux(&US, &bad, VERIFY) else {
            panic!("not sorted as UDP");
        };
        assert_eq!((flow.local.port(), flow.remote.port()), (0, 0));
        assert_eq!(got, Err(WireError::BadChecksum));
    }

    #[test]
    fn an_echo_reply_comes_keyed_by_its_identifier() {
        use crate::wire::icmp::QueryKind;
        let q = IcmpQuery {
            kind: QueryKind::EchoReply,
            code: 0,
            ident: 777,
            seq: 3,
            body: b"data",
        };
        let mut body = vec![0u8; q.buffer_len()];
        q.emit(&mut body, false);
        let frame = crate::wire::testing::ipv4_frame(
            (THEM_MAC, US.mac),
            (THEM, US.ip),
            IpProtocol::Icmp,
            &body,
        );
        let Some(Inbound::Query { flow, query, .. }) = demux(&US, &frame, VERIFY) else {
            panic!("not sorted as an ICMP query");
        };
        assert_eq!(flow.local, SocketAddr::from((US.ip, 777)));
        assert_eq!(flow.remote, SocketAddr::from((THEM, 0)));
        assert_eq!(query, q);
    }

    #[test]
    fn an_error_about_our_datagram_names_its_flow_and_protocol() {
        let udp = UdpRepr {
            src_port: 40000,
            dst_port: 9,
            payload: b"x",
        };
        let ip = Ipv4Repr::new(US.ip, THEM, IpProtocol::Udp, 0);
        let sent = udp.to_frame(US.mac, THEM_MAC, &ip);
        let body = crate::wire::testing::icmp_error(3, 3, &sent[14..]);
        let frame = crate::wire::testing::ipv4_frame(
            (THEM_MAC, US.mac),
            (THEM, US.ip),
            IpProtocol::Icmp,
            &body,
        );
        let Some(Inbound::Icmp { quoted, error, .. }) = demux(&US, &frame, VERIFY) else {
            panic!("not sorted as an ICMP error");
        };
        assert_eq!(error.protocol, IpProtocol::Udp);
        assert_eq!(quoted.local, SocketAddr::from((US.ip, 40000)));
        assert_eq!(quoted.remote, SocketAddr::from((THEM, 9)));
    }

    /// A segment from THEM6:80 to `dst`:40000 over IPv6, behind the
    /// extension headers `ext` (whose Next Header bytes chain by `first`).
    fn segment6(dst: Ipv6Addr, first: u8, ext: &[u8]) -> Vec<u8> {
        let tcp = TcpRepr {
            src_port: 80,
            dst_port: 40000,
            ..crate::wire::testing::syn()
        };
        let ip = Ipv6Repr::new(THEM6, dst, NextHeader::Tcp, 64, 0);
        let mut f = tcp.to_ipv6_frame_with(
            THEM_MAC,
            US.mac,
            &ip,
            crate::wire::tcp::ChecksumFill::Complete,
        );
        f[14 + 6] = first;
        f.splice(54..54, ext.iter().copied());
        let len = u16::from_be_bytes([f[18], f[19]]) + ext.len() as u16;
        f[18..20].copy_from_slice(&len.to_be_bytes());
        f
    }

    #[test]
    fn an_ipv6_segment_to_us_comes_with_its_flow() {
        for (first, ext) in [(6u8, vec![]), (60, vec![6, 0, 1, 4, 0, 0, 0, 0])] {
            let frame = segment6(US6, first, &ext);
            let Some(Inbound::Tcp6 { flow, tcp, ip, .. }) = demux(&US, &frame, VERIFY) else {
                panic!("not sorted as TCP over IPv6");
            };
            assert_eq!(flow.local, SocketAddr::from((US6, 40000)));
            assert_eq!(flow.remote, SocketAddr::from((THEM6, 80)));
            assert_eq!(ip.src, THEM6);
            assert!(tcp.is_ok());
        }
    }

    #[test]
    fn ipv6_for_another_address_or_without_one_is_not_ours() {
        assert!(demux(&US, &segment6(THEM6, 6, &[]), VERIFY).is_none());
        let v4_only = Identity { ipv6: None, ..US };
        assert!(demux(&v4_only, &segment6(US6, 6, &[]), VERIFY).is_none());
        // Nor is IPv4 ours when we have no IPv4 address.
        let v6_only = Identity {
            ip: Ipv4Addr::UNSPECIFIED,
            ..US
        };
        let frame = segment(Ipv4Addr::UNSPECIFIED, US.mac);
        assert!(demux(&v6_only, &frame, VERIFY).is_none());
    }

    /// What reaches the interface when a packet to us cannot be read:
    /// counted as malformed with its reason, or as a segment that failed.
    #[rstest::rstest]
    #[case::extension_past_the_end(60, vec![6, 9, 0, 0, 0, 0, 0, 0], WireError::Truncated)]
    #[case::a_fragment(44, vec![6, 0, 0, 8, 0, 0, 0, 1], WireError::Unsupported("IPv6 fragment"))]
    #[case::hop_by_hop_twice(0, vec![0, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0], WireError::Malformed("hop-by-hop header after the first"))]
    fn unreadable_ipv6_to_us_is_malformed(
        #[case] first: u8,
        #[case] ext: Vec<u8>,
        #[case] want: WireError,
    ) {
        let frame = segment6(US6, first, &ext);
        match demux(&US, &frame, VERIFY) {
            Some(Inbound::Malformed(e)) => assert_eq!(e, want),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bad_ipv6_segment_checksum_is_a_failed_segment() {
        let mut frame = segment6(US6, 6, &[]);
        *frame.last_mut().unwrap() ^= 1;
        let Some(Inbound::Tcp6 { tcp, flow, .. }) = demux(&US, &frame, VERIFY) else {
            panic!("not sorted as TCP over IPv6");
        };
        assert_eq!(tcp, Err(WireError::BadChecksum));
        assert_eq!(flow.local.port(), 0);
        // Unless the kernel vouched for it.
        let Some(Inbound::Tcp6 { tcp, .. }) = demux(&US, &frame, ChecksumMode::Skip) else {
            panic!("not sorted as TCP over IPv6");
        };
        assert!(tcp.is_ok());
    }

    #[test]
    fn an_icmpv6_error_names_the_flow_it_quotes() {
        use pnet::packet::icmpv6::{Icmpv6Packet, checksum};
        // Our segment US6:40000 > THEM6:80, quoted by a router.
        let sent = {
            let tcp = TcpRepr {
                src_port: 40000,
                dst_port: 80,
                ..crate::wire::testing::syn()
            };
            let ip = Ipv6Repr::new(US6, THEM6, NextHeader::Tcp, 64, 0);
            tcp.to_ipv6_frame_with(
                US.mac,
                THEM_MAC,
                &ip,
                crate::wire::tcp::ChecksumFill::Complete,
            )
        };
        let router = Ipv6Addr::new(0xfd00, 0x6e74, 1, 0, 0, 0, 0, 1);
        let mut msg = vec![2, 0, 0, 0, 0, 0, 0x05, 0x00];
        msg.extend_from_slice(&sent[14..]);
        let sum = checksum(&Icmpv6Packet::new(&msg).unwrap(), &router, &US6);
        msg[2..4].copy_from_slice(&sum.to_be_bytes());
        let frame = Ipv6Repr::new(router, US6, NextHeader::Icmpv6, 64, msg.len())
            .frame(THEM_MAC, US.mac, &msg);
        let Some(Inbound::Icmp6 {
            from,
            error,
            quoted,
        }) = demux(&US, &frame, VERIFY)
        else {
            panic!("not sorted as an ICMPv6 error");
        };
        assert_eq!(from, router);
        assert_eq!(
            error.kind,
            crate::wire::icmpv6::Icmpv6Kind::PacketTooBig(1280)
        );
        assert_eq!(quoted.local, SocketAddr::from((US6, 40000)));
        assert_eq!(quoted.remote, SocketAddr::from((THEM6, 80)));
    }
}
