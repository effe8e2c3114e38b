//! The ICMP errors the interface sends for an address it answers for
//! (one the kernel does not own), as a host does: a port unreachable for
//! a UDP datagram that no flow takes (RFC 1122 §4.1.3.1; over IPv6 an
//! ICMPv6 one, type 1 code 4, RFC 4443 §3.1, under the same limits but
//! Linux's ICMPv6 interval), a time exceeded
//! for a datagram whose fragments stopped coming after the first (fragment
//! reassembly time exceeded, RFC 1122 §3.3.2); and how often it may:
//! Linux's default limits, so that a peer probing that address (a UDP
//! scan) meets what a default Linux host would say.
//!
//! No error answers a datagram sent as a link-layer broadcast or from an
//! address that is not one host's (RFC 1122 §3.2.2); a fragment never
//! reaches here (the interface reassembles first). The error quotes as
//! much of the datagram as fits 576 octets, with the precedence of
//! internetwork control (TOS 0xc0), DF clear, as Linux sends it.
//!
//! - **Per destination** (`icmp_ratelimit`, 1000 ms): a token bucket
//!   holding six errors' worth (the kernel's `XRLIM_BURST_FACTOR`), one
//!   spent per error, one earned per second: a burst of 6, then one a
//!   second (for an IPv6 destination one per 100 ms, as Linux's
//!   `net.ipv6.icmp.ratelimit`).
//! - **Over all destinations** (`icmp_msgs_per_sec` 1000,
//!   `icmp_msgs_burst` 50): a burst of 50, then 1000 a second.
//!
//! An error either bucket refuses is not sent (and counted). Bounded: at
//! most [`PEERS`] destinations are remembered; a destination whose bucket
//! has filled again is forgotten (a new bucket is the same), and when all
//! are in use an error to a new destination is refused, since a limiter
//! errs on silence.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::time::Instant;
use crate::wire::MacAddr;
use crate::wire::ethernet::{self, EthernetRepr, Protocol};
use crate::wire::icmp::IcmpKind;
use crate::wire::icmpv6::Icmpv6Kind;
use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
use crate::wire::ipv6::{self, Ipv6Repr, NextHeader};

/// One error per destination per this long (`icmp_ratelimit`).
pub const PER_PEER_INTERVAL: Duration = Duration::from_secs(1);
/// The same for an IPv6 destination (`net.ipv6.icmp.ratelimit`, 100 ms:
/// Linux refills its ICMPv6 buckets ten times as fast).
pub const PER_PEER_INTERVAL6: Duration = Duration::from_millis(100);
/// Errors a destination's bucket holds (the kernel's burst factor).
pub const PER_PEER_BURST: u64 = 6;
/// Errors a second over all destinations (`icmp_msgs_per_sec`).
pub const GLOBAL_PER_SEC: u64 = 1000;
/// Errors the global bucket holds (`icmp_msgs_burst`).
pub const GLOBAL_BURST: u64 = 50;
/// Destinations remembered at most.
pub const PEERS: usize = 1024;

/// A token bucket counted in microseconds of credit: `cost` per message,
/// at most `cost * burst` held, earned at one microsecond per microsecond.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    credit: u64,
    last: Instant,
}

impl Bucket {
    fn full(now: Instant, cost: u64, burst: u64) -> Bucket {
        Bucket {
            credit: cost * burst,
            last: now,
        }
    }

    /// The credit at `now` (earned since `last`, up to the cap).
    fn refill(&mut self, now: Instant, cost: u64, burst: u64) {
        let earned = now.saturating_duration_since(self.last).as_micros() as u64;
        self.credit = self.credit.saturating_add(earned).min(cost * burst);
        self.last = now;
    }
}

/// What the limiter let through and held back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub sent: u64,
    pub limited: u64,
}

/// The limiter (see the module docs).
#[derive(Debug)]
pub struct IcmpLimiter {
    /// Either family's destinations: Linux limits ICMPv6 errors the same
    /// way, with its own interval ([`PER_PEER_INTERVAL6`]) and the same
    /// global limit.
    peers: HashMap<IpAddr, Bucket>,
    global: Option<Bucket>,
    stats: Stats,
    /// The identification of the next error sent.
    ip_id: u16,
}

const PEER_COST: u64 = PER_PEER_INTERVAL.as_micros() as u64;
const PEER_COST6: u64 = PER_PEER_INTERVAL6.as_micros() as u64;

/// What one error to `dst` costs its destination's bucket.
fn peer_cost(dst: &IpAddr) -> u64 {
    if dst.is_ipv6() { PEER_COST6 } else { PEER_COST }
}
const GLOBAL_COST: u64 = 1_000_000 / GLOBAL_PER_SEC;

impl Default for IcmpLimiter {
    fn default() -> IcmpLimiter {
        IcmpLimiter::new()
    }
}

impl IcmpLimiter {
    pub fn new() -> IcmpLimiter {
        IcmpLimiter {
            peers: HashMap::new(),
            global: None,
            stats: Stats::default(),
            ip_id: 0,
        }
    }

    /// The frame of the ICMP port unreachable answering `frame`, a UDP
    /// datagram to `us` (MAC, address) that no flow took, when one may be
    /// sent now (see the module docs). It goes to `next_hop`, or back to
    /// the MAC the datagram came from.
    pub fn port_unreachable(
        &mut self,
        now: Instant,
        (mac, ip): (MacAddr, Ipv4Addr),
        next_hop: Option<MacAddr>,
        frame: &[u8],
    ) -> Option<Vec<u8>> {
        let (eth, body) = EthernetRepr::parse(frame).ok()?;
        if eth.protocol != Protocol::Ipv4 || eth.dst.is_broadcast() || eth.dst.is_multicast() {
            return None;
        }
        let (got, _) = Ipv4Repr::parse(body).ok()?;
        if got.dst != ip || got.protocol != IpProtocol::Udp {
            return None;
        }
        // The datagram as it arrived, its own header (options included)
        // and payload, without the link's padding.
        let total = usize::from(u16::from_be_bytes([body[2], body[3]]));
        let hop = next_hop.unwrap_or(eth.src);
        self.error(
            now,
            IcmpKind::Unreachable(3),
            (mac, ip),
            hop,
            &body[..total],
        )
    }

    /// The frame of the ICMPv6 port unreachable (type 1, code 4, RFC
    /// 4443 §3.1) answering `frame`, a UDP datagram to `us` (MAC, IPv6
    /// address) that no flow took, when one may be sent now. None answers
    /// a datagram sent to a multicast group or link-layer multicast, or
    /// from an address that names no single node (RFC 4443 §2.4 (e)).
    pub fn port_unreachable6(
        &mut self,
        now: Instant,
        (mac, ip): (MacAddr, Ipv6Addr),
        next_hop: Option<MacAddr>,
        frame: &[u8],
    ) -> Option<Vec<u8>> {
        let (eth, body) = EthernetRepr::parse(frame).ok()?;
        if eth.protocol != Protocol::Ipv6 || eth.dst.is_broadcast() || eth.dst.is_multicast() {
            return None;
        }
        let (got, _) = Ipv6Repr::parse(body).ok()?;
        if got.dst != ip {
            return None;
        }
        // The packet as it arrived (extension headers included), without
        // the link's padding.
        let packet = &body[..ipv6::HEADER_LEN + got.payload_len];
        let hop = next_hop.unwrap_or(eth.src);
        self.error6(now, Icmpv6Kind::Unreachable(4), (mac, ip), hop, packet)
    }

    /// The frame of the ICMPv6 error `kind` from `us` about `packet` (an
    /// IPv6 packet that came to us, or as much of it as is quoted), to
    /// its source by `hop`: none to a source that is not one node's, or
    /// past the rate limit.
    fn error6(
        &mut self,
        now: Instant,
        kind: Icmpv6Kind,
        (mac, ip): (MacAddr, Ipv6Addr),
        hop: MacAddr,
        packet: &[u8],
    ) -> Option<Vec<u8>> {
        let (got, _) = Ipv6Repr::parse_quoted(packet).ok()?;
        let one_node =
            !(got.src.is_unspecified() || got.src.is_multicast() || got.src.is_loopback());
        if !one_node || !self.allow(now, got.src) {
            return None;
        }
        let message = kind.message((ip, got.src), packet);
        let out = Ipv6Repr::new(ip, got.src, NextHeader::Icmpv6, 64, message.len());
        Some(out.frame(mac, hop, &message))
    }

    /// The frame of the ICMP time exceeded (fragment reassembly time
    /// exceeded, RFC 1122 §3.3.2) for a datagram to `us` given up at its
    /// timeout, quoting `first` (its first fragment's header and first 8
    /// octets, from [`crate::wire::frag::Reassembler::take_expired`]),
    /// sent to `hop`, when one may be sent now.
    pub fn reassembly_timeout(
        &mut self,
        now: Instant,
        us: (MacAddr, Ipv4Addr),
        hop: MacAddr,
        first: &[u8],
    ) -> Option<Vec<u8>> {
        self.error(now, IcmpKind::TimeExceeded(1), us, hop, first)
    }

    /// The frame of the ICMP error `kind` from `us` about `datagram` (an
    /// IPv4 datagram that came to us, or as much of it as is quoted), to
    /// its source by `hop`: none to a source that is not one host's, or
    /// past the rate limit.
    fn error(
        &mut self,
        now: Instant,
        kind: IcmpKind,
        (mac, ip): (MacAddr, Ipv4Addr),
        hop: MacAddr,
        datagram: &[u8],
    ) -> Option<Vec<u8>> {
        let (got, _) = Ipv4Repr::parse_quoted(datagram).ok()?;
        let one_host = !(got.src.is_unspecified()
            || got.src.is_broadcast()
            || got.src.is_multicast()
            || got.src.is_loopback());
        if !one_host || !self.allow(now, got.src) {
            return None;
        }
        let message = kind.message(datagram);
        let out = Ipv4Repr {
            tos: 0xc0,
            dont_frag: false,
            identification: self.ip_id,
            ..Ipv4Repr::new(ip, got.src, IpProtocol::Icmp, message.len())
        };
        self.ip_id = self.ip_id.wrapping_add(1);
        let mut reply = vec![0u8; ethernet::HEADER_LEN + out.total_len()];
        EthernetRepr {
            src: mac,
            dst: hop,
            protocol: Protocol::Ipv4,
        }
        .emit(&mut reply);
        out.emit(&mut reply[ethernet::HEADER_LEN..]);
        reply[ethernet::HEADER_LEN + out.buffer_len()..].copy_from_slice(&message);
        Some(reply)
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Whether an error to `dst` may go at `now`; if so, it is counted
    /// against both buckets.
    pub fn allow(&mut self, now: Instant, dst: impl Into<IpAddr>) -> bool {
        let dst = dst.into();
        let global = self
            .global
            .get_or_insert_with(|| Bucket::full(now, GLOBAL_COST, GLOBAL_BURST));
        global.refill(now, GLOBAL_COST, GLOBAL_BURST);
        if !self.peers.contains_key(&dst) && self.peers.len() >= PEERS {
            // Forget the destinations whose buckets are full again.
            self.peers.retain(|ip, b| {
                let cost = peer_cost(ip);
                b.refill(now, cost, PER_PEER_BURST);
                b.credit < cost * PER_PEER_BURST
            });
        }
        let room = self.peers.len() < PEERS || self.peers.contains_key(&dst);
        let cost = peer_cost(&dst);
        let peer = room.then(|| {
            self.peers
                .entry(dst)
                .or_insert_with(|| Bucket::full(now, cost, PER_PEER_BURST))
        });
        let Some(peer) = peer else {
            self.stats.limited += 1;
            return false;
        };
        peer.refill(now, cost, PER_PEER_BURST);
        if peer.credit < cost || global.credit < GLOBAL_COST {
            self.stats.limited += 1;
            return false;
        }
        peer.credit -= cost;
        global.credit -= GLOBAL_COST;
        self.stats.sent += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Machine, RxChecksum};
    use crate::stack::iface::InterfaceConfig;
    use crate::stack::raw::RawHost;
    use crate::stack::udp::{Peer, UdpConfig, UdpSocket};
    use crate::wire::demux::{Identity, Inbound, demux};
    use crate::wire::tcp::ChecksumMode;
    use crate::wire::udp::UdpRepr;
    use rstest::rstest;
    use std::net::SocketAddrV4;

    const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
    const PEER_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);

    /// An interface answering for `US` (the kernel does not own it, or
    /// does: `answer_arp`), with a UDP listener on port 5000.
    fn host(answer_arp: bool) -> RawHost<UdpSocket> {
        let iface = InterfaceConfig {
            ip: US,
            mac: MAC,
            ipv6: None,
            next_hop_mac: None,
            answer_arp,
            trace: false,
        };
        let config = UdpConfig {
            mac: MAC,
            next_hop_mac: None,
            local: SocketAddrV4::new(US, 5000).into(),
            peer: Peer::Listening {
                lock_on_first: false,
            },
            mtu: 1500,
        };
        RawHost::new(iface, UdpSocket::new(config, 1))
    }

    fn datagram(src: Ipv4Addr, dst_mac: MacAddr, port: u16, len: usize) -> Vec<u8> {
        let payload = vec![0x5a; len];
        let udp = UdpRepr {
            src_port: 40000,
            dst_port: port,
            payload: &payload,
        };
        udp.to_frame(
            PEER_MAC,
            dst_mac,
            &Ipv4Repr::new(src, US, IpProtocol::Udp, 0),
        )
    }

    /// The port unreachables `h` sent: (to MAC, to address, quoted port).
    fn answers(h: &mut RawHost<UdpSocket>) -> Vec<(MacAddr, Ipv4Addr, u16)> {
        let us = Identity {
            ip: PEER,
            mac: PEER_MAC,
            ipv6: None,
        };
        std::iter::from_fn(|| h.poll_transmit(Instant::ZERO))
            .map(|f| {
                let Some(Inbound::Icmp { error, .. }) = demux(&us, &f, ChecksumMode::Verify) else {
                    panic!("not an ICMP error: {f:02x?}");
                };
                assert_eq!(error.kind, IcmpKind::Unreachable(3));
                assert_eq!(error.quoted_src, (PEER, 40000));
                let (eth, body) = EthernetRepr::parse(&f).unwrap();
                let (ip, _) = Ipv4Repr::parse(body).unwrap();
                assert_eq!((ip.src, ip.tos, ip.dont_frag), (US, 0xc0, false));
                assert!(ip.total_len() <= crate::wire::icmp::ERROR_MAX_LEN);
                (eth.dst, ip.dst, error.quoted_dst.1)
            })
            .collect()
    }

    #[rstest]
    #[case::a_stray_datagram(true, PEER, MAC, 5001, 1)]
    #[case::one_a_flow_takes(true, PEER, MAC, 5000, 0)]
    #[case::the_kernel_owns_the_address(false, PEER, MAC, 5001, 0)]
    #[case::a_link_layer_broadcast(true, PEER, MacAddr::broadcast(), 5001, 0)]
    #[case::from_a_broadcast_source(true, Ipv4Addr::BROADCAST, MAC, 5001, 0)]
    #[case::from_no_address(true, Ipv4Addr::UNSPECIFIED, MAC, 5001, 0)]
    #[case::from_a_multicast_source(true, Ipv4Addr::new(224, 0, 0, 1), MAC, 5001, 0)]
    fn a_stray_datagram_to_an_address_we_answer_for_draws_a_port_unreachable(
        #[case] answer_arp: bool,
        #[case] src: Ipv4Addr,
        #[case] dst_mac: MacAddr,
        #[case] port: u16,
        #[case] want: usize,
    ) {
        let mut h = host(answer_arp);
        for len in [0, 2000] {
            h.handle_frame(
                Instant::ZERO,
                &datagram(src, dst_mac, port, len),
                RxChecksum::Unknown,
            );
        }
        let got = answers(&mut h);
        assert_eq!(got.len(), 2 * want, "{got:?}");
        assert!(got.iter().all(|a| *a == (PEER_MAC, PEER, port)));
    }

    /// A datagram whose fragments stop after the first is given up at
    /// 30 s with a time exceeded (code 1) quoting that first fragment;
    /// one whose first fragment never came, silently; and none at all on
    /// an address the kernel owns.
    #[rstest]
    #[case::first_came(true, &[0], 1)]
    #[case::first_missing(true, &[1], 0)]
    #[case::the_kernels_address(false, &[0], 0)]
    fn fragments_that_stop_coming_draw_a_reassembly_time_exceeded(
        #[case] answer_arp: bool,
        #[case] sent: &[usize],
        #[case] want: usize,
    ) {
        let mut h = host(answer_arp);
        let payload = vec![7u8; 3000];
        let udp = UdpRepr {
            src_port: 40000,
            dst_port: 5000,
            payload: &payload,
        };
        let ip = Ipv4Repr {
            identification: 99,
            dont_frag: false,
            ..Ipv4Repr::new(PEER, US, IpProtocol::Udp, 0)
        };
        let mut message = vec![0u8; udp.buffer_len()];
        udp.emit(&mut message, PEER, US);
        let frags = crate::wire::frag::frames((PEER_MAC, MAC), &ip, &message, 1500);
        for &i in sent {
            h.handle_frame(Instant::ZERO, &frags[i], RxChecksum::Unknown);
        }
        assert_eq!(h.poll_timeout(), Some(Instant::from_millis(30_000)));
        h.handle_timeout(Instant::from_millis(29_999));
        assert!(h.poll_transmit(Instant::ZERO).is_none(), "not yet");
        h.handle_timeout(Instant::from_millis(30_000));
        let out: Vec<Vec<u8>> = std::iter::from_fn(|| h.poll_transmit(Instant::ZERO)).collect();
        assert_eq!(out.len(), want);
        for f in out {
            let us = Identity {
                ip: PEER,
                mac: PEER_MAC,
                ipv6: None,
            };
            let Some(Inbound::Icmp { error, .. }) = demux(&us, &f, ChecksumMode::Verify) else {
                panic!("not an ICMP error: {f:02x?}");
            };
            assert_eq!(error.kind, IcmpKind::TimeExceeded(1));
            assert_eq!(
                (error.quoted_src, error.quoted_dst),
                ((PEER, 40000), (US, 5000))
            );
        }
        assert_eq!(h.iface().reassembly().timed_out, 1);
    }

    #[test]
    fn stray_datagrams_draw_a_burst_of_six_answers_then_one_a_second() {
        let mut h = host(true);
        let mut sent = Vec::new();
        for ms in [0, 0, 0, 0, 0, 0, 0, 0, 500, 1000, 1001, 2000] {
            h.handle_frame(
                Instant::from_millis(ms),
                &datagram(PEER, MAC, 9, 1),
                RxChecksum::Unknown,
            );
            sent.push(answers(&mut h).len());
        }
        assert_eq!(sent, [1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 1]);
        let stats = h.iface().unreachables();
        assert_eq!((stats.sent, stats.limited), (8, 4));
    }

    const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// Errors asked for at these times (ms) to one destination: which
    /// went. A burst of 6, then one per second, earned while idle.
    #[rstest]
    #[case::a_burst_of_six(&[0; 8], &[true, true, true, true, true, true, false, false])]
    #[case::then_one_a_second(
        &[0, 0, 0, 0, 0, 0, 500, 1000, 1500, 2000, 2999, 3000],
        &[true, true, true, true, true, true, false, true, false, true, false, true]
    )]
    #[case::idle_refills(&[0, 0, 0, 0, 0, 0, 10_000, 10_000, 10_000, 10_000, 10_000, 10_000, 10_000],
        &[true, true, true, true, true, true, true, true, true, true, true, true, false])]
    fn one_destination_gets_a_burst_of_six_then_one_a_second(
        #[case] times: &[u64],
        #[case] want: &[bool],
    ) {
        let mut l = IcmpLimiter::new();
        let got: Vec<bool> = times.iter().map(|&t| l.allow(at(t), PEER)).collect();
        assert_eq!(got, want);
        let sent = want.iter().filter(|&&w| w).count() as u64;
        assert_eq!(
            l.stats(),
            Stats {
                sent,
                limited: want.len() as u64 - sent
            }
        );
    }

    #[test]
    fn all_destinations_together_get_a_burst_of_50_then_1000_a_second() {
        let mut l = IcmpLimiter::new();
        let dst = |i: u32| Ipv4Addr::from(0x0a00_0100 + i);
        let burst = (0..60).filter(|&i| l.allow(at(0), dst(i))).count();
        assert_eq!(burst, 50);
        // 10 ms later: 10 more earned.
        let more = (60..80).filter(|&i| l.allow(at(10), dst(i))).count();
        assert_eq!(more, 10);
    }

    #[test]
    fn destinations_are_bounded_and_forgotten_once_refilled() {
        let mut l = IcmpLimiter::new();
        let dst = |i: u32| Ipv4Addr::from(0x0b00_0000 + i);
        // One error a millisecond to new destinations: the global bucket
        // allows each, the table fills.
        for i in 0..PEERS as u32 {
            assert!(l.allow(at(u64::from(i)), dst(i)));
        }
        assert!(l.peers.len() <= PEERS);
        // A second later, every bucket is full again: a new destination
        // finds room.
        assert!(l.allow(at(PEERS as u64 + 6_000), dst(99_999)));
        assert!(l.peers.len() <= 2);
    }

    const US6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 0x99);
    const PEER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 2);

    /// [`host`] with the IPv6 address `US6` too, and its UDP listener on
    /// `[US6]:5000`.
    fn host6(answer_arp: bool) -> RawHost<UdpSocket> {
        let iface = InterfaceConfig {
            ip: US,
            mac: MAC,
            ipv6: Some(US6),
            next_hop_mac: None,
            answer_arp,
            trace: false,
        };
        let config = UdpConfig {
            mac: MAC,
            next_hop_mac: None,
            local: std::net::SocketAddrV6::new(US6, 5000, 0, 0).into(),
            peer: Peer::Listening {
                lock_on_first: false,
            },
            mtu: 1500,
        };
        RawHost::new(iface, UdpSocket::new(config, 1))
    }

    /// A UDP datagram over IPv6 from `src` (port 40000) to `US6`'s `port`,
    /// sent to `dst_mac`.
    fn datagram6(src: Ipv6Addr, dst_mac: MacAddr, port: u16, len: usize) -> Vec<u8> {
        let payload = vec![0x5a; len];
        let udp = UdpRepr {
            src_port: 40000,
            dst_port: port,
            payload: &payload,
        };
        let mut msg = vec![0u8; udp.buffer_len()];
        udp.emit_v6(&mut msg, src, US6, crate::wire::udp::UdpChecksum::Computed);
        Ipv6Repr::new(src, US6, NextHeader::Udp, 64, msg.len()).frame(PEER_MAC, dst_mac, &msg)
    }

    /// The ICMPv6 port unreachables `h` sent: (to MAC, to address, quoted
    /// port, bytes in all past Ethernet), each checked for what RFC 4443
    /// asks of it.
    fn answers6(h: &mut RawHost<UdpSocket>) -> Vec<(MacAddr, Ipv6Addr, u16, usize)> {
        std::iter::from_fn(|| h.poll_transmit(Instant::ZERO))
            .map(|f| {
                let (eth, body) = EthernetRepr::parse(&f).unwrap();
                let (ip, msg) = Ipv6Repr::parse(body).unwrap();
                assert_eq!((ip.src, ip.next_header), (US6, NextHeader::Icmpv6));
                let error = crate::wire::icmpv6::Icmpv6Error::parse(&ip, msg, true)
                    .unwrap_or_else(|e| panic!("not an ICMPv6 error ({e}): {f:02x?}"));
                assert_eq!(error.kind, Icmpv6Kind::Unreachable(4));
                assert_eq!(error.quoted_src, (PEER6, 40000));
                (eth.dst, ip.dst, error.quoted_dst.1, body.len())
            })
            .collect()
    }

    #[rstest]
    #[case::a_stray_datagram(true, PEER6, MAC, 5001, 1)]
    #[case::one_a_flow_takes(true, PEER6, MAC, 5000, 0)]
    #[case::the_kernel_owns_the_address(false, PEER6, MAC, 5001, 0)]
    #[case::a_link_layer_multicast(true, PEER6, MacAddr(0x33, 0x33, 0, 0, 0, 1), 5001, 0)]
    #[case::from_no_address(true, Ipv6Addr::UNSPECIFIED, MAC, 5001, 0)]
    #[case::from_a_multicast_source(true, Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1), MAC, 5001, 0)]
    fn a_stray_datagram_over_ipv6_draws_an_icmpv6_port_unreachable(
        #[case] answer_arp: bool,
        #[case] src: Ipv6Addr,
        #[case] dst_mac: MacAddr,
        #[case] port: u16,
        #[case] want: usize,
    ) {
        let mut h = host6(answer_arp);
        for len in [0, 1400] {
            h.handle_frame(
                Instant::ZERO,
                &datagram6(src, dst_mac, port, len),
                RxChecksum::Unknown,
            );
        }
        let got = answers6(&mut h);
        assert_eq!(got.len(), 2 * want, "{got:?}");
        assert!(
            got.iter()
                .all(|a| (a.0, a.1, a.2) == (PEER_MAC, PEER6, port))
        );
        // The small datagram quoted whole; the large one cut so that the
        // error fits IPv6's minimum MTU.
        let sizes: Vec<usize> = got.iter().map(|a| a.3).collect();
        if want == 1 {
            assert_eq!(sizes, [40 + 8 + 40 + 8, 1280]);
        }
    }

    /// Over IPv6 the limiter is the same, refilled as Linux refills
    /// ICMPv6: a burst of six, then one per 100 ms, counted with the IPv4
    /// errors.
    #[test]
    fn stray_datagrams_over_ipv6_draw_a_burst_of_six_then_one_per_100_ms() {
        let mut h = host6(true);
        let mut sent = Vec::new();
        for ms in [0, 0, 0, 0, 0, 0, 0, 50, 100, 101, 200] {
            h.handle_frame(
                Instant::from_millis(ms),
                &datagram6(PEER6, MAC, 9, 1),
                RxChecksum::Unknown,
            );
            sent.push(answers6(&mut h).len());
        }
        assert_eq!(sent, [1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 1]);
        let stats = h.iface().unreachables();
        assert_eq!((stats.sent, stats.limited), (8, 3));
    }

    /// An echo request to the IPv6 address nettool alone answers for
    /// draws a reply from it with the request's identifier, sequence
    /// number and data (RFC 4443 §4.2); none when the kernel owns the
    /// address, and an echo reply draws nothing.
    #[rstest]
    #[case::ours_alone(true, false, true)]
    #[case::the_kernels(false, false, false)]
    #[case::a_reply(true, true, false)]
    fn an_echo_request_to_our_ipv6_address_is_answered(
        #[case] answer_arp: bool,
        #[case] reply: bool,
        #[case] want: bool,
    ) {
        use crate::wire::icmpv6::{Icmpv6Repr, parse_frame};
        let mut h = host6(answer_arp);
        let data: Vec<u8> = (0..=255).collect();
        let (ident, seq) = (0x1234, 7);
        let msg = if reply {
            Icmpv6Repr::EchoReply {
                ident,
                seq,
                data: data.clone(),
            }
        } else {
            Icmpv6Repr::EchoRequest {
                ident,
                seq,
                data: data.clone(),
            }
        };
        h.handle_frame(
            Instant::from_millis(5),
            &msg.frame((PEER_MAC, MAC), (PEER6, US6)),
            RxChecksum::Unknown,
        );
        let out: Vec<Vec<u8>> = std::iter::from_fn(|| h.poll_transmit(Instant::ZERO)).collect();
        assert_eq!(out.len(), usize::from(want), "{out:02x?}");
        let Some(f) = out.first() else { return };
        let (eth, ip, got) = parse_frame(f, true).unwrap();
        assert_eq!((eth.src, eth.dst), (MAC, PEER_MAC));
        assert_eq!((ip.src, ip.dst), (US6, PEER6));
        assert_eq!(got, Icmpv6Repr::EchoReply { ident, seq, data });
    }
}
