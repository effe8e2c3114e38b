//! What a frame on the link is for one local identity: the Ethernet and
//! IPv4 demultiplexing the stack's interface does first, for its
//! connections and for the raw flows of the probers and the tracer, and
//! the ARP answer for an address the kernel does not own. Parsing happens
//! here once; the flows only decide what the parsed segment or error
//! means to them.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::arp::ArpRepr;
use super::ethernet::{EthernetRepr, Protocol};
use super::icmp::IcmpError;
use super::ipv4::{IpProtocol, Ipv4Repr};
use super::tcp::{ChecksumMode, TcpRepr};
use super::{MacAddr, WireError};

/// A connection's 4-tuple, from our side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
}

/// Who we are on the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub ip: Ipv4Addr,
    pub mac: MacAddr,
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
    /// An ICMP error to our address about a TCP segment, and the flow
    /// (from our side) of the segment it quotes.
    Icmp {
        from: Ipv4Addr,
        error: IcmpError,
        quoted: FlowKey,
        /// The ICMP message, for a machine that reads more of the quote.
        body: &'a [u8],
    },
    /// An IPv4 header that failed validation (its destination unknown).
    Malformed(WireError),
}

/// Sorts `frame`: `None` unless it is ARP, or IPv4 to `us` carrying TCP
/// or an ICMP error about TCP. Frames must be addressed to our MAC or to
/// broadcast. `tcp` says how to treat a TCP checksum.
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
            if ip.dst != us.ip {
                return None;
            }
            match ip.protocol {
                IpProtocol::Tcp => {
                    let tcp = TcpRepr::parse(body, ip.src, ip.dst, tcp);
                    let flow = match &tcp {
                        Ok(t) => FlowKey {
                            local: SocketAddrV4::new(ip.dst, t.dst_port),
                            remote: SocketAddrV4::new(ip.src, t.src_port),
                        },
                        Err(_) => FlowKey {
                            local: SocketAddrV4::new(ip.dst, 0),
                            remote: SocketAddrV4::new(ip.src, 0),
                        },
                    };
                    Some(Inbound::Tcp {
                        src_mac: eth.src,
                        ip,
                        flow,
                        tcp,
                    })
                }
                IpProtocol::Icmp => {
                    let error = IcmpError::parse(body).ok()?;
                    let quoted = FlowKey {
                        local: SocketAddrV4::new(error.quoted_src.0, error.quoted_src.1),
                        remote: SocketAddrV4::new(error.quoted_dst.0, error.quoted_dst.1),
                    };
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
        Protocol::Ipv6 | Protocol::Other(_) => None,
    }
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
    };
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
        assert_eq!(flow.local, SocketAddrV4::new(US.ip, 40000));
        assert_eq!(flow.remote, SocketAddrV4::new(THEM, 80));
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
}
