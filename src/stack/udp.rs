//! A UDP endpoint as a raw flow of the interface ([`RawFlow`]): what
//! `nettool nc -u` sends and receives, sans-IO.
//!
//! - **Connected** (`nc -u HOST PORT`): datagrams to and from one peer;
//!   an ICMP error quoting one of our datagrams is reported
//!   ([`Event::Unreachable`]) the moment it arrives, instead of waiting,
//!   as a kernel socket does, for a later send to fail.
//! - **Listening** (`nc -u -l PORT`): datagrams from any peer. Replies go
//!   to the most recent peer (the sender of the last datagram received).
//!   With `lock_on_first` (no `-k`), the first peer is the only one: later
//!   datagrams from others are counted and dropped, as netcat connects its
//!   socket to its first peer.
//!
//! Datagrams received wait in a queue for the application
//! ([`UdpSocket::recv`]), each whole: boundaries are kept.

use std::collections::{HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::machine::{RawEvents, RawFlow, Selector};
use crate::time::Instant;
use crate::wire::MacAddr;
use crate::wire::frag;
use crate::wire::icmp::{IcmpError, IcmpKind};
use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
use crate::wire::udp::{self, UdpChecksum, UdpRepr};

/// Most datagrams kept unread; past it the oldest are dropped (and
/// counted), as a socket's full receive buffer drops new ones.
const RECV_QUEUE: usize = 1024;

/// Who the endpoint talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// One peer, fixed.
    Connected(SocketAddrV4),
    /// Whoever sends (see the module docs).
    Listening { lock_on_first: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpConfig {
    pub mac: MacAddr,
    /// Every datagram goes there; `None`: to the MAC the peer's last
    /// datagram came from (a listener's peers on the link).
    pub next_hop_mac: Option<MacAddr>,
    pub local: SocketAddrV4,
    pub peer: Peer,
    /// The link's MTU: a datagram longer is sent as IPv4 fragments
    /// ([`crate::wire::frag`]).
    pub mtu: usize,
}

/// What happened, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A datagram is waiting in [`UdpSocket::recv`]'s queue.
    Datagram { from: SocketAddrV4, len: usize },
    /// A listener heard from `peer` for the first time.
    NewPeer { peer: SocketAddrV4 },
    /// An ICMP error from `from` about a datagram we sent to `to`.
    Unreachable {
        from: Ipv4Addr,
        to: SocketAddrV4,
        kind: IcmpKind,
    },
}

/// Counts so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub datagrams_sent: u64,
    pub bytes_sent: u64,
    /// Fragments those datagrams went out in, when longer than the MTU.
    pub fragments_sent: u64,
    pub datagrams_received: u64,
    pub bytes_received: u64,
    /// From peers a locked listener ignores.
    pub ignored: u64,
    /// Dropped unread: the queue was full.
    pub overflowed: u64,
    /// Datagrams to our port that failed validation.
    pub malformed: u64,
}

/// A datagram on its way out in fragments.
struct Sending {
    mac: MacAddr,
    ip: Ipv4Repr,
    message: Vec<u8>,
    /// Where the next fragment starts, in `message`.
    next: usize,
}

/// The endpoint (see the module docs).
pub struct UdpSocket {
    config: UdpConfig,
    /// Where replies go, and the MAC that leads there.
    peer: Option<(SocketAddrV4, MacAddr)>,
    seen: HashSet<SocketAddrV4>,
    /// Datagrams to send: where, and the whole UDP message, its checksum
    /// written (summed once, as the payload is copied in).
    tx: VecDeque<(SocketAddrV4, MacAddr, Vec<u8>)>,
    /// A datagram being sent in fragments: its header, its message and
    /// where its next fragment starts.
    sending: Option<Sending>,
    rx: VecDeque<(SocketAddrV4, Vec<u8>)>,
    events: VecDeque<Event>,
    stats: Stats,
    ip_id: u16,
}

impl UdpSocket {
    /// An endpoint; `ip_id` is the first IP identification it writes.
    pub fn new(config: UdpConfig, ip_id: u16) -> UdpSocket {
        let peer = match config.peer {
            Peer::Connected(to) => Some((to, config.next_hop_mac.unwrap_or(MacAddr::broadcast()))),
            Peer::Listening { .. } => None,
        };
        UdpSocket {
            config,
            peer,
            seen: HashSet::new(),
            tx: VecDeque::new(),
            sending: None,
            rx: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            ip_id,
        }
    }

    pub fn local(&self) -> SocketAddrV4 {
        self.config.local
    }

    /// Where [`UdpSocket::send`] sends: the connected peer, or a
    /// listener's most recent one (`None` before anyone sent).
    pub fn peer(&self) -> Option<SocketAddrV4> {
        self.peer.map(|(p, _)| p)
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Queues `payload` as one datagram to [`UdpSocket::peer`]; `false`
    /// (and nothing queued) when there is no peer yet.
    pub fn send(&mut self, payload: &[u8]) -> bool {
        let Some((to, mac)) = self.peer else {
            return false;
        };
        let udp = UdpRepr {
            src_port: self.config.local.port(),
            dst_port: to.port(),
            payload,
        };
        let mut message = vec![0u8; udp.buffer_len()];
        let src = *self.config.local.ip();
        udp.emit_with(&mut message, src, *to.ip(), UdpChecksum::Computed);
        self.tx.push_back((to, mac, message));
        true
    }

    /// The oldest datagram received and not read yet, with its sender.
    pub fn recv(&mut self) -> Option<(SocketAddrV4, Vec<u8>)> {
        self.rx.pop_front()
    }

    /// Datagrams queued to send (one being sent in fragments counts).
    pub fn unsent(&self) -> usize {
        self.tx.len() + usize::from(self.sending.is_some())
    }
}

impl RawFlow for UdpSocket {
    fn selector(&self) -> Selector {
        let (remote, remote_ports) = match self.config.peer {
            Peer::Connected(to) => (*to.ip(), (to.port(), to.port())),
            Peer::Listening { .. } => (Ipv4Addr::UNSPECIFIED, (1, u16::MAX)),
        };
        let port = self.config.local.port();
        Selector {
            local: (*self.config.local.ip()).into(),
            local_ports: (port, port),
            remote: remote.into(),
            remote_ports,
        }
    }

    fn protocol(&self) -> IpProtocol {
        IpProtocol::Udp
    }

    fn handle_datagram(
        &mut self,
        _now: Instant,
        src_mac: MacAddr,
        ip: &Ipv4Repr,
        udp: &UdpRepr<'_>,
    ) {
        let from = SocketAddrV4::new(ip.src, udp.src_port);
        if let Peer::Listening { lock_on_first } = self.config.peer {
            if lock_on_first && self.peer.is_some_and(|(p, _)| p != from) {
                self.stats.ignored += 1;
                return;
            }
            let hop = self.config.next_hop_mac.unwrap_or(src_mac);
            self.peer = Some((from, hop));
            if self.seen.insert(from) {
                self.events.push_back(Event::NewPeer { peer: from });
            }
        }
        self.stats.datagrams_received += 1;
        self.stats.bytes_received += udp.payload.len() as u64;
        if self.rx.len() == RECV_QUEUE {
            self.rx.pop_front();
            self.stats.overflowed += 1;
        }
        self.rx.push_back((from, udp.payload.to_vec()));
        self.events.push_back(Event::Datagram {
            from,
            len: udp.payload.len(),
        });
    }

    fn handle_malformed(&mut self, _now: Instant) {
        self.stats.malformed += 1;
    }

    fn handle_icmp(&mut self, _now: Instant, from: Ipv4Addr, error: &IcmpError) {
        let to = SocketAddrV4::new(error.quoted_dst.0, error.quoted_dst.1);
        self.events.push_back(Event::Unreachable {
            from,
            to,
            kind: error.kind,
        });
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit_into(&mut self, _now: Instant, buf: &mut Vec<u8>) -> bool {
        if let Some(s) = &mut self.sending {
            let macs = (self.config.mac, s.mac);
            match frag::write_piece(buf, macs, &s.ip, &s.message, s.next, self.config.mtu) {
                Some(next) => s.next = next,
                None => self.sending = None,
            }
            self.stats.fragments_sent += 1;
            return true;
        }
        let Some((to, mac, message)) = self.tx.pop_front() else {
            return false;
        };
        let mut ip = Ipv4Repr::new(*self.config.local.ip(), *to.ip(), IpProtocol::Udp, 0);
        // Datagrams may be fragmented on the way (RFC 791): no DF, and an
        // identification of their own.
        ip.dont_frag = false;
        ip.identification = self.ip_id;
        ip.payload_len = message.len();
        self.ip_id = self.ip_id.wrapping_add(1);
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += (message.len() - udp::HEADER_LEN) as u64;
        let macs = (self.config.mac, mac);
        // Longer than the link carries: cut into fragments (RFC 791), each
        // written straight from the message into the frame.
        if let Some(next) = frag::write_piece(buf, macs, &ip, &message, 0, self.config.mtu) {
            self.stats.fragments_sent += 1;
            self.sending = Some(Sending {
                mac,
                ip,
                message,
                next,
            });
        }
        true
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (!self.tx.is_empty() || self.sending.is_some()).then_some(Instant::ZERO)
    }

    /// An endpoint is never done by itself: its application ends it.
    fn is_done(&self) -> bool {
        false
    }
}

impl RawEvents for UdpSocket {
    type Event = Event;

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Machine, RxChecksum};
    use crate::stack::iface::InterfaceConfig;
    use crate::stack::raw::{Hosted, RawHost};
    use crate::wire::ethernet;
    use crate::wire::tcp::ChecksumMode;
    use crate::wire::testing;

    const US: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 5000);
    const PEER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 6000);
    const OTHER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 3), 7000);
    const MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
    const PEER_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
    const OTHER_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 3);

    fn host(peer: Peer, next_hop_mac: Option<MacAddr>) -> RawHost<UdpSocket> {
        let iface = InterfaceConfig {
            ip: *US.ip(),
            mac: MAC,
            ipv6: None,
            next_hop_mac,
            answer_arp: false,
            trace: false,
        };
        let config = UdpConfig {
            mac: MAC,
            next_hop_mac,
            local: US,
            peer,
            mtu: 1500,
        };
        RawHost::new(iface, UdpSocket::new(config, 100))
    }

    fn from(sender: SocketAddrV4, mac: MacAddr, payload: &[u8]) -> Vec<u8> {
        let udp = UdpRepr {
            src_port: sender.port(),
            dst_port: US.port(),
            payload,
        };
        udp.to_frame(
            mac,
            MAC,
            &Ipv4Repr::new(*sender.ip(), *US.ip(), IpProtocol::Udp, 0),
        )
    }

    fn events(h: &mut RawHost<UdpSocket>) -> Vec<Event> {
        std::iter::from_fn(|| h.poll_event())
            .filter_map(|e| match e {
                Hosted::Flow(e) => Some(e),
                Hosted::Host(_) => None,
            })
            .collect()
    }

    /// The frames sent at `now`: (destination MAC, destination, payload).
    fn sent(h: &mut RawHost<UdpSocket>) -> Vec<(MacAddr, SocketAddrV4, Vec<u8>)> {
        std::iter::from_fn(|| h.poll_transmit(Instant::ZERO))
            .map(|f| {
                let (eth, ip, udp) = UdpRepr::from_frame(&f, ChecksumMode::Verify).unwrap();
                assert_eq!((ip.src, udp.src_port), (*US.ip(), US.port()));
                (
                    eth.dst,
                    SocketAddrV4::new(ip.dst, udp.dst_port),
                    udp.payload.to_vec(),
                )
            })
            .collect()
    }

    #[test]
    fn a_connected_endpoint_keeps_each_datagrams_boundaries_both_ways() {
        let mut h = host(Peer::Connected(PEER), Some(PEER_MAC));
        assert!(h.flow_mut().send(&[0, 1, 2]));
        assert!(h.flow_mut().send(&[0xff; 1000]));
        assert!(h.flow_mut().send(&[]));
        let out = sent(&mut h);
        let sizes: Vec<usize> = out.iter().map(|(_, _, p)| p.len()).collect();
        assert_eq!(sizes, vec![3, 1000, 0]);
        assert!(out.iter().all(|(m, to, _)| (*m, *to) == (PEER_MAC, PEER)));
        for payload in [&b"one"[..], &[0u8; 1472][..], &b""[..]] {
            h.handle_frame(
                Instant::ZERO,
                &from(PEER, PEER_MAC, payload),
                RxChecksum::Unknown,
            );
        }
        let got: Vec<Vec<u8>> = std::iter::from_fn(|| h.flow_mut().recv())
            .map(|(_, p)| p)
            .collect();
        assert_eq!(got, vec![b"one".to_vec(), vec![0; 1472], vec![]]);
        assert_eq!(h.flow().stats().datagrams_received, 3);
    }

    #[test]
    fn a_datagram_longer_than_the_mtu_goes_in_fragments_and_fragments_come_back_whole() {
        let mut h = host(Peer::Connected(PEER), Some(PEER_MAC));
        let big: Vec<u8> = (0..65507).map(|i| (i % 251) as u8).collect();
        h.flow_mut().send(&big);
        h.flow_mut().send(b"after");
        let frames: Vec<Vec<u8>> = std::iter::from_fn(|| h.poll_transmit(Instant::ZERO)).collect();
        assert_eq!(
            frames.len(),
            45 + 1,
            "45 fragments, then the small one whole"
        );
        let ids: HashSet<u16> = frames[..45]
            .iter()
            .map(|f| Ipv4Repr::parse_fragment(&f[14..]).unwrap().0.identification)
            .collect();
        assert_eq!(ids.len(), 1, "one identification per datagram");
        assert_eq!(h.flow().stats().fragments_sent, 45);
        assert_eq!(h.flow().stats().datagrams_sent, 2);
        // Our own fragments, turned around as the peer's (addresses and
        // ports swapped), arrive last first: one datagram, whole.
        let ip = Ipv4Repr {
            identification: 77,
            dont_frag: false,
            ..Ipv4Repr::new(*PEER.ip(), *US.ip(), IpProtocol::Udp, 0)
        };
        let udp = UdpRepr {
            src_port: PEER.port(),
            dst_port: US.port(),
            payload: &big,
        };
        let mut message = vec![0u8; udp.buffer_len()];
        udp.emit(&mut message, ip.src, ip.dst);
        for f in frag::frames((PEER_MAC, MAC), &ip, &message, 1500)
            .iter()
            .rev()
        {
            h.handle_frame(Instant::ZERO, f, RxChecksum::Unknown);
        }
        let got: Vec<_> = std::iter::from_fn(|| h.flow_mut().recv()).collect();
        assert_eq!(got.len(), 1);
        assert!(got[0] == (PEER, big), "the payload differs");
        assert_eq!(h.iface().reassembly().reassembled, 1);
    }

    #[test]
    fn a_connected_endpoint_hears_only_its_peer() {
        let mut h = host(Peer::Connected(PEER), Some(PEER_MAC));
        h.handle_frame(
            Instant::ZERO,
            &from(OTHER, OTHER_MAC, b"x"),
            RxChecksum::Unknown,
        );
        let other_port = SocketAddrV4::new(*PEER.ip(), 6001);
        h.handle_frame(
            Instant::ZERO,
            &from(other_port, PEER_MAC, b"x"),
            RxChecksum::Unknown,
        );
        assert_eq!(events(&mut h), vec![]);
        assert!(h.flow_mut().recv().is_none());
    }

    #[test]
    fn a_port_unreachable_quoting_our_datagram_is_reported_at_once() {
        let mut h = host(Peer::Connected(PEER), Some(PEER_MAC));
        h.flow_mut().send(b"hello?");
        let frame = h.poll_transmit(Instant::ZERO).unwrap();
        let error = testing::icmp_error(3, 3, &frame[ethernet::HEADER_LEN..]);
        let back = testing::ipv4_frame(
            (PEER_MAC, MAC),
            (*PEER.ip(), *US.ip()),
            IpProtocol::Icmp,
            &error,
        );
        h.handle_frame(Instant::ZERO, &back, RxChecksum::Unknown);
        assert_eq!(
            events(&mut h),
            vec![Event::Unreachable {
                from: *PEER.ip(),
                to: PEER,
                kind: IcmpKind::Unreachable(3)
            }]
        );
    }

    #[test]
    fn a_keep_open_listener_replies_to_the_most_recent_peer_and_names_each_once() {
        let mut h = host(
            Peer::Listening {
                lock_on_first: false,
            },
            None,
        );
        assert!(!h.flow_mut().send(b"nobody yet"), "no peer to reply to");
        h.handle_frame(
            Instant::ZERO,
            &from(PEER, PEER_MAC, b"a"),
            RxChecksum::Unknown,
        );
        h.flow_mut().send(b"to peer");
        h.handle_frame(
            Instant::ZERO,
            &from(OTHER, OTHER_MAC, b"b"),
            RxChecksum::Unknown,
        );
        h.handle_frame(
            Instant::ZERO,
            &from(PEER, PEER_MAC, b"c"),
            RxChecksum::Unknown,
        );
        h.handle_frame(
            Instant::ZERO,
            &from(OTHER, OTHER_MAC, b"d"),
            RxChecksum::Unknown,
        );
        h.flow_mut().send(b"to other");
        let new_peers: Vec<SocketAddrV4> = events(&mut h)
            .into_iter()
            .filter_map(|e| match e {
                Event::NewPeer { peer } => Some(peer),
                _ => None,
            })
            .collect();
        assert_eq!(new_peers, vec![PEER, OTHER]);
        let out = sent(&mut h);
        assert_eq!(
            out,
            vec![
                (PEER_MAC, PEER, b"to peer".to_vec()),
                (OTHER_MAC, OTHER, b"to other".to_vec())
            ],
            "each reply to the peer heard last, at the MAC it came from"
        );
        assert_eq!(h.flow().stats().datagrams_received, 4);
    }

    #[test]
    fn a_listener_without_keep_open_serves_its_first_peer_only() {
        let mut h = host(
            Peer::Listening {
                lock_on_first: true,
            },
            None,
        );
        h.handle_frame(
            Instant::ZERO,
            &from(PEER, PEER_MAC, b"a"),
            RxChecksum::Unknown,
        );
        h.handle_frame(
            Instant::ZERO,
            &from(OTHER, OTHER_MAC, b"b"),
            RxChecksum::Unknown,
        );
        h.flow_mut().send(b"reply");
        assert_eq!(sent(&mut h), vec![(PEER_MAC, PEER, b"reply".to_vec())]);
        let got: Vec<_> = std::iter::from_fn(|| h.flow_mut().recv()).collect();
        assert_eq!(got, vec![(PEER, b"a".to_vec())]);
        assert_eq!(h.flow().stats().ignored, 1);
    }
}
