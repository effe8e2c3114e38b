//! The shape every sans-IO protocol machine in nettool has, so one driver
//! loop (`driver::run`) and one simulator can run any of them; and the
//! shape of a raw TCP flow ([`RawFlow`]), which the stack's interface
//! hosts beside its connections.

use std::any::Any;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::time::Instant;
use crate::wire::MacAddr;
use crate::wire::demux::{FlowKey, Inbound};
#[cfg(test)]
use crate::wire::demux::{Identity, demux};
use crate::wire::icmp::{IcmpError, IcmpQuery};
use crate::wire::icmpv6::Icmpv6Error;
use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
use crate::wire::ipv6::Ipv6Repr;
use crate::wire::tcp::{ChecksumMode, TcpRepr};
use crate::wire::udp::UdpRepr;

/// What the kernel said about a received frame's checksums.
///
/// On veth and loopback, frames the local kernel (or a kernel peer across a
/// veth) sends carry *partial* TCP checksums: the pseudo-header sum only,
/// to be finished by hardware that does not exist. AF_PACKET reports this
/// per frame in `PACKET_AUXDATA`. Only when the kernel vouches for a frame
/// may a checksum that does not verify be accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RxChecksum {
    /// Nothing is known: verify every checksum.
    #[default]
    Unknown,
    /// `TP_STATUS_CSUMNOTREADY`: the checksum was never finished; the
    /// packet came from this machine's own stack, which computed nothing
    /// to corrupt.
    Partial,
    /// `TP_STATUS_CSUM_VALID`: the device or the kernel verified it.
    Valid,
}

impl RxChecksum {
    /// Whether a checksum that does not verify may still be accepted.
    pub fn kernel_vouches(self) -> bool {
        matches!(self, RxChecksum::Partial | RxChecksum::Valid)
    }

    /// How to parse a TCP segment that arrived with this status.
    pub fn tcp_mode(self) -> ChecksumMode {
        if self.kernel_vouches() {
            ChecksumMode::Skip
        } else {
            ChecksumMode::Verify
        }
    }
}

/// A sans-IO protocol machine: fed frames and time, it returns frames,
/// deadlines and events as data.
pub trait Machine {
    type Event;
    /// One received frame, unparsed: the machine validates it, trusting a
    /// bad checksum only where `checksum` says the kernel vouches for it.
    fn handle_frame(&mut self, now: Instant, frame: &[u8], checksum: RxChecksum);
    /// Fires whatever deadlines have passed at `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// The next frame to send at `now`, if any.
    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>>;
    /// When the machine next needs [`Machine::handle_timeout`] or has
    /// something to send; `None` when only a frame can wake it.
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_event(&mut self) -> Option<Self::Event>;
    fn is_done(&self) -> bool;
    /// The run ends before its time (Ctrl-C, or the link failed): the
    /// machine queues what it must say on its way out (a RST to a peer it
    /// would otherwise leave half-open), sent next if the link still can.
    /// Nothing by default.
    fn abort(&mut self, _now: Instant) {}
}

/// Which segments, datagrams and ICMP messages belong to a [`RawFlow`]
/// (of its [`RawFlow::protocol`]): those between `local` (one of
/// `local_ports`) and `remote` (one of `remote_ports`). A probe's flow, a
/// scan's, a trace's: many 4-tuples that the flow told apart itself.
///
/// An ICMP query flow's "ports" are its identifiers on our side and 0 on
/// theirs (see [`crate::wire::demux::Inbound::Query`]). A `remote` of
/// 0.0.0.0 takes any peer (a UDP listener's). Both ends are of one
/// family: an IPv6 selector takes IPv6 segments and ICMPv6 errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selector {
    pub local: IpAddr,
    pub local_ports: (u16, u16),
    pub remote: IpAddr,
    pub remote_ports: (u16, u16),
}

impl Selector {
    /// Whether a segment of the 4-tuple `key` (from our side) is the flow's.
    pub fn takes(&self, key: FlowKey) -> bool {
        let within = |p: u16, (lo, hi): (u16, u16)| lo <= p && p <= hi;
        key.local.ip() == self.local
            && (self.remote.is_unspecified() || key.remote.ip() == self.remote)
            && within(key.local.port(), self.local_ports)
            && within(key.remote.port(), self.remote_ports)
    }
}

/// A flow that writes its own TCP segments and reads the answers: the
/// probes of `nettool probe`, the SYNs of `nettool scan`, the TTL-limited
/// SYNs of `nettool trace`. It never parses a frame: the stack's
/// interface ([`crate::stack::iface::Interface::add_raw`]) hosts it beside
/// the connections and hands it, already demultiplexed, only what its
/// [`Selector`] names, as smoltcp's interface dispatches to its raw
/// sockets. Time comes in as `now`, as everywhere in the engine.
pub trait RawFlow: Any {
    /// What the flow takes; read once, when the interface adds the flow.
    fn selector(&self) -> Selector;
    /// Which protocol's packets (and ICMP errors about them) the flow
    /// takes: TCP segments, UDP datagrams or ICMP queries. TCP by default.
    fn protocol(&self) -> IpProtocol {
        IpProtocol::Tcp
    }
    /// A TCP segment the flow's selector takes.
    fn handle_segment(&mut self, _now: Instant, _ip: &Ipv4Repr, _tcp: &TcpRepr<'_>) {}
    /// A TCP segment over IPv6 the flow's selector takes (an IPv6 flow's).
    fn handle_segment6(&mut self, _now: Instant, _ip: &Ipv6Repr, _tcp: &TcpRepr<'_>) {}
    /// A UDP datagram the flow's selector takes (a UDP flow's), from
    /// `src_mac` (the next hop back to its sender).
    fn handle_datagram(
        &mut self,
        _now: Instant,
        _src_mac: MacAddr,
        _ip: &Ipv4Repr,
        _udp: &UdpRepr<'_>,
    ) {
    }
    /// An ICMP query message (an echo reply, …) the flow's selector takes
    /// (an ICMP flow's).
    fn handle_query(&mut self, _now: Instant, _ip: &Ipv4Repr, _query: &IcmpQuery<'_>) {}
    /// A segment or datagram of the flow's protocol from its remote
    /// address that failed validation (its ports unknown).
    fn handle_malformed(&mut self, _now: Instant) {}
    /// An ICMP error from `from` quoting a packet the selector takes.
    fn handle_icmp(&mut self, now: Instant, from: Ipv4Addr, error: &IcmpError);
    /// An ICMPv6 error from `from` quoting a segment the selector takes
    /// (an IPv6 flow's). Nothing by default: the flows of IPv4 only.
    fn handle_icmp6(&mut self, _now: Instant, _from: Ipv6Addr, _error: &Icmpv6Error) {}
    /// Fires whatever deadlines have passed at `now`, if any: it may be
    /// called when nothing is due.
    fn handle_timeout(&mut self, now: Instant);
    /// Writes the next frame due at `now` into `buf` (a buffer reused from
    /// frame to frame); `false` when nothing is due.
    fn poll_transmit_into(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool;
    /// The frame it wrote last left at `at` (the kernel's stamp, where the
    /// link has one).
    fn sent(&mut self, _at: Instant) {}
    /// When the flow next needs [`RawFlow::handle_timeout`] or has
    /// something to send.
    fn poll_timeout(&self) -> Option<Instant>;
    fn is_done(&self) -> bool;
    /// The run ends before its time: what the flow must say on its way
    /// out ([`Machine::abort`]). Nothing by default.
    fn abort(&mut self, _now: Instant) {}

    /// The next frame due at `now`, in a buffer of its own.
    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        let mut buf = Vec::new();
        self.poll_transmit_into(now, &mut buf).then_some(buf)
    }
}

/// What a raw flow reports, in order, for its application to read (the
/// interface hosts flows of every kind, and leaves their events to them).
pub trait RawEvents {
    type Event;
    fn poll_event(&mut self) -> Option<Self::Event>;
}

/// Hands `inbound` to `flow` if its selector `sel` takes it, as the
/// interface does once no connection or listener owns it; whether it did.
pub fn offer(flow: &mut dyn RawFlow, sel: &Selector, now: Instant, inbound: &Inbound<'_>) -> bool {
    let protocol = flow.protocol();
    let from_remote = |src: IpAddr, dst: IpAddr| {
        (sel.remote.is_unspecified() || src == sel.remote) && dst == sel.local
    };
    match inbound {
        Inbound::Tcp {
            ip,
            flow: key,
            tcp: Ok(tcp),
            ..
        } if protocol == IpProtocol::Tcp && sel.takes(*key) => flow.handle_segment(now, ip, tcp),
        Inbound::Udp {
            src_mac,
            ip,
            flow: key,
            udp: Ok(udp),
        } if protocol == IpProtocol::Udp && sel.takes(*key) => {
            flow.handle_datagram(now, *src_mac, ip, udp)
        }
        Inbound::Query {
            ip,
            flow: key,
            query,
            ..
        } if protocol == IpProtocol::Icmp && sel.takes(*key) => flow.handle_query(now, ip, query),
        Inbound::Tcp6 {
            ip,
            flow: key,
            tcp: Ok(tcp),
            ..
        } if protocol == IpProtocol::Tcp && sel.takes(*key) => flow.handle_segment6(now, ip, tcp),
        Inbound::Tcp {
            ip, tcp: Err(_), ..
        } if protocol == IpProtocol::Tcp && from_remote(ip.src.into(), ip.dst.into()) => {
            flow.handle_malformed(now)
        }
        Inbound::Tcp6 {
            ip, tcp: Err(_), ..
        } if protocol == IpProtocol::Tcp && from_remote(ip.src.into(), ip.dst.into()) => {
            flow.handle_malformed(now)
        }
        Inbound::Udp {
            ip, udp: Err(_), ..
        } if protocol == IpProtocol::Udp && from_remote(ip.src.into(), ip.dst.into()) => {
            flow.handle_malformed(now)
        }
        Inbound::Icmp {
            from,
            error,
            quoted,
            ..
        } if error.protocol == protocol && sel.takes(*quoted) => {
            flow.handle_icmp(now, *from, error)
        }
        // An ICMPv6 error quotes a TCP segment (the only kind it reads).
        Inbound::Icmp6 {
            from,
            error,
            quoted,
        } if protocol == IpProtocol::Tcp && sel.takes(*quoted) => {
            flow.handle_icmp6(now, *from, error)
        }
        _ => return false,
    }
    true
}

/// A raw flow fed frames directly, as the interface would hand them over,
/// for the flows' own unit tests.
#[cfg(test)]
pub(crate) trait Feed {
    fn handle_frame(&mut self, now: Instant, frame: &[u8], checksum: RxChecksum);
}

#[cfg(test)]
impl<F: RawFlow> Feed for F {
    fn handle_frame(&mut self, now: Instant, frame: &[u8], checksum: RxChecksum) {
        let sel = self.selector();
        // Addressed to whichever MAC the test wrote: the interface checks
        // that, not the flow.
        let Ok((eth, _)) = crate::wire::ethernet::EthernetRepr::parse(frame) else {
            return;
        };
        let us = match sel.local {
            IpAddr::V4(ip) => Identity {
                ip,
                mac: eth.dst,
                ipv6: None,
            },
            IpAddr::V6(ip) => Identity {
                ip: Ipv4Addr::UNSPECIFIED,
                mac: eth.dst,
                ipv6: Some(ip),
            },
        };
        if let Some(inbound) = demux(&us, frame, checksum.tcp_mode()) {
            offer(self, &sel, now, &inbound);
        }
    }
}
