//! Neighbor Discovery messages (RFC 4861 §4): router and neighbour
//! solicitations and advertisements, with the options nettool reads.
//!
//! Read RFC 4861 §4, §6.1 and §7.1 before changing this file. Every
//! receipt check of §6.1.1, §6.1.2, §7.1.1 and §7.1.2 is made here, so a
//! message the engine sees is one a host may act on:
//!
//! - the IP hop limit is 255 (a router would have decremented it: the
//!   message was sent on this link), the ICMP code 0;
//! - the message is long enough for its fixed part;
//! - every option has a non-zero length and ends inside the message
//!   (pnet's option iterator trusts a zero length, so options are walked
//!   here);
//! - a solicitation's target is not multicast; one from the unspecified
//!   address (DAD) goes to a solicited-node group and carries no source
//!   link-layer option;
//! - an advertisement to a multicast group is not marked solicited.
//!
//! Link-layer address options are read for Ethernet only (length 1: two
//! octets of type and length, six of address).

use std::net::Ipv6Addr;

use super::ipv6::Ipv6Repr;
use super::{MacAddr, Result, WireError};

pub const ROUTER_SOLICIT: u8 = 133;
pub const ROUTER_ADVERT: u8 = 134;
pub const NEIGHBOR_SOLICIT: u8 = 135;
pub const NEIGHBOR_ADVERT: u8 = 136;

/// The option types of RFC 4861 §4.6 nettool reads; others are skipped.
const OPT_SOURCE_LLADDR: u8 = 1;
const OPT_TARGET_LLADDR: u8 = 2;
const OPT_PREFIX_INFO: u8 = 3;
const OPT_MTU: u8 = 5;

/// The hop limit every neighbour discovery message is sent with and must
/// arrive with.
pub const HOP_LIMIT: u8 = 255;

/// The R, S and O flags of a Neighbor Advertisement (RFC 4861 §4.4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NaFlags {
    /// R: the sender is a router.
    pub router: bool,
    /// S: sent in answer to a solicitation (to its source).
    pub solicited: bool,
    /// O: the advertisement should override a cached link-layer address.
    pub override_: bool,
}

impl NaFlags {
    fn from_byte(b: u8) -> NaFlags {
        NaFlags {
            router: b & 0x80 != 0,
            solicited: b & 0x40 != 0,
            override_: b & 0x20 != 0,
        }
    }

    fn to_byte(self) -> u8 {
        u8::from(self.router) << 7 | u8::from(self.solicited) << 6 | u8::from(self.override_) << 5
    }
}

/// A Prefix Information option (RFC 4861 §4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixInfo {
    pub prefix: Ipv6Addr,
    pub prefix_len: u8,
    /// L: the prefix is on-link.
    pub on_link: bool,
    /// A: the prefix may be used for address autoconfiguration.
    pub autonomous: bool,
    pub valid_lifetime: u32,
    pub preferred_lifetime: u32,
}

/// A validated neighbour discovery message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NdpRepr {
    RouterSolicit {
        source_lladdr: Option<MacAddr>,
    },
    RouterAdvert {
        cur_hop_limit: u8,
        /// M: addresses are available by DHCPv6.
        managed: bool,
        /// O: other configuration is available by DHCPv6.
        other: bool,
        router_lifetime: u16,
        reachable_time_ms: u32,
        retrans_timer_ms: u32,
        source_lladdr: Option<MacAddr>,
        mtu: Option<u32>,
        prefixes: Vec<PrefixInfo>,
    },
    NeighborSolicit {
        target: Ipv6Addr,
        source_lladdr: Option<MacAddr>,
    },
    NeighborAdvert {
        flags: NaFlags,
        target: Ipv6Addr,
        target_lladdr: Option<MacAddr>,
    },
}

/// The options nettool reads from one message.
#[derive(Default)]
struct Options {
    source_lladdr: Option<MacAddr>,
    target_lladdr: Option<MacAddr>,
    mtu: Option<u32>,
    prefixes: Vec<PrefixInfo>,
}

impl NdpRepr {
    /// Whether ICMPv6 type `ty` is one of the four messages here.
    pub fn is_ndp_type(ty: u8) -> bool {
        (ROUTER_SOLICIT..=NEIGHBOR_ADVERT).contains(&ty)
    }

    /// Parses the ICMPv6 message `msg` (type, code, checksum, body; the
    /// checksum already verified) that `ip` carried.
    pub fn parse(ip: &Ipv6Repr, msg: &[u8]) -> Result<NdpRepr> {
        let (&ty, &code) = match msg {
            [ty, code, ..] => (ty, code),
            _ => return Err(WireError::Truncated),
        };
        if ip.hop_limit != HOP_LIMIT {
            return Err(WireError::Malformed("NDP hop limit other than 255"));
        }
        if code != 0 {
            return Err(WireError::Malformed("NDP code other than 0"));
        }
        let fixed = match ty {
            ROUTER_SOLICIT => 8,
            ROUTER_ADVERT => 16,
            NEIGHBOR_SOLICIT | NEIGHBOR_ADVERT => 24,
            _ => return Err(WireError::Unsupported("ICMPv6 type")),
        };
        if msg.len() < fixed {
            return Err(WireError::Truncated);
        }
        let opts = Options::parse(&msg[fixed..])?;
        let target = || {
            let t = Ipv6Addr::from(<[u8; 16]>::try_from(&msg[8..24]).expect("16 bytes"));
            if t.is_multicast() {
                Err(WireError::Malformed("NDP target is multicast"))
            } else {
                Ok(t)
            }
        };
        match ty {
            ROUTER_SOLICIT => {
                if ip.src.is_unspecified() && opts.source_lladdr.is_some() {
                    return Err(WireError::Malformed(
                        "link-layer option from the unspecified address",
                    ));
                }
                Ok(NdpRepr::RouterSolicit {
                    source_lladdr: opts.source_lladdr,
                })
            }
            ROUTER_ADVERT => {
                if !super::ipv6::is_link_local(ip.src) {
                    return Err(WireError::Malformed("router advertisement not link-local"));
                }
                Ok(NdpRepr::RouterAdvert {
                    cur_hop_limit: msg[4],
                    managed: msg[5] & 0x80 != 0,
                    other: msg[5] & 0x40 != 0,
                    router_lifetime: u16::from_be_bytes([msg[6], msg[7]]),
                    reachable_time_ms: u32::from_be_bytes([msg[8], msg[9], msg[10], msg[11]]),
                    retrans_timer_ms: u32::from_be_bytes([msg[12], msg[13], msg[14], msg[15]]),
                    source_lladdr: opts.source_lladdr,
                    mtu: opts.mtu,
                    prefixes: opts.prefixes,
                })
            }
            NEIGHBOR_SOLICIT => {
                let target = target()?;
                if ip.src.is_unspecified() {
                    if super::ipv6::solicited_node(target) != ip.dst {
                        return Err(WireError::Malformed(
                            "DAD solicitation not to the target's solicited-node group",
                        ));
                    }
                    if opts.source_lladdr.is_some() {
                        return Err(WireError::Malformed(
                            "link-layer option from the unspecified address",
                        ));
                    }
                }
                Ok(NdpRepr::NeighborSolicit {
                    target,
                    source_lladdr: opts.source_lladdr,
                })
            }
            _ => {
                let target = target()?;
                let flags = NaFlags::from_byte(msg[4]);
                if ip.dst.is_multicast() && flags.solicited {
                    return Err(WireError::Malformed(
                        "solicited advertisement to a multicast group",
                    ));
                }
                Ok(NdpRepr::NeighborAdvert {
                    flags,
                    target,
                    target_lladdr: opts.target_lladdr,
                })
            }
        }
    }

    /// The ICMPv6 type of this message.
    pub fn icmp_type(&self) -> u8 {
        match self {
            NdpRepr::RouterSolicit { .. } => ROUTER_SOLICIT,
            NdpRepr::RouterAdvert { .. } => ROUTER_ADVERT,
            NdpRepr::NeighborSolicit { .. } => NEIGHBOR_SOLICIT,
            NdpRepr::NeighborAdvert { .. } => NEIGHBOR_ADVERT,
        }
    }

    /// Bytes the whole ICMPv6 message takes.
    pub fn buffer_len(&self) -> usize {
        let lla = |o: &Option<MacAddr>| if o.is_some() { 8 } else { 0 };
        match self {
            NdpRepr::RouterSolicit { source_lladdr } => 8 + lla(source_lladdr),
            NdpRepr::RouterAdvert {
                source_lladdr,
                mtu,
                prefixes,
                ..
            } => 16 + lla(source_lladdr) + mtu.map_or(0, |_| 8) + 32 * prefixes.len(),
            NdpRepr::NeighborSolicit { source_lladdr, .. } => 24 + lla(source_lladdr),
            NdpRepr::NeighborAdvert { target_lladdr, .. } => 24 + lla(target_lladdr),
        }
    }

    /// Writes the message (type, code, body, options; the checksum is
    /// left for ICMPv6 to fill) into `buf` of exactly `buffer_len` bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        buf.fill(0);
        buf[0] = self.icmp_type();
        let mut at = match self {
            NdpRepr::RouterSolicit { .. } => 8,
            NdpRepr::RouterAdvert {
                cur_hop_limit,
                managed,
                other,
                router_lifetime,
                reachable_time_ms,
                retrans_timer_ms,
                ..
            } => {
                buf[4] = *cur_hop_limit;
                buf[5] = u8::from(*managed) << 7 | u8::from(*other) << 6;
                buf[6..8].copy_from_slice(&router_lifetime.to_be_bytes());
                buf[8..12].copy_from_slice(&reachable_time_ms.to_be_bytes());
                buf[12..16].copy_from_slice(&retrans_timer_ms.to_be_bytes());
                16
            }
            NdpRepr::NeighborSolicit { target, .. } => {
                buf[8..24].copy_from_slice(&target.octets());
                24
            }
            NdpRepr::NeighborAdvert { flags, target, .. } => {
                buf[4] = flags.to_byte();
                buf[8..24].copy_from_slice(&target.octets());
                24
            }
        };
        fn lla(buf: &mut [u8], kind: u8, mac: &Option<MacAddr>, at: &mut usize) {
            if let Some(m) = mac {
                buf[*at] = kind;
                buf[*at + 1] = 1;
                buf[*at + 2..*at + 8].copy_from_slice(&m.octets());
                *at += 8;
            }
        }
        match self {
            NdpRepr::RouterSolicit { source_lladdr }
            | NdpRepr::NeighborSolicit { source_lladdr, .. } => {
                lla(buf, OPT_SOURCE_LLADDR, source_lladdr, &mut at)
            }
            NdpRepr::NeighborAdvert { target_lladdr, .. } => {
                lla(buf, OPT_TARGET_LLADDR, target_lladdr, &mut at)
            }
            NdpRepr::RouterAdvert {
                source_lladdr,
                mtu,
                prefixes,
                ..
            } => {
                lla(buf, OPT_SOURCE_LLADDR, source_lladdr, &mut at);
                if let Some(mtu) = mtu {
                    buf[at] = OPT_MTU;
                    buf[at + 1] = 1;
                    buf[at + 4..at + 8].copy_from_slice(&mtu.to_be_bytes());
                    at += 8;
                }
                for p in prefixes {
                    buf[at] = OPT_PREFIX_INFO;
                    buf[at + 1] = 4;
                    buf[at + 2] = p.prefix_len;
                    buf[at + 3] = u8::from(p.on_link) << 7 | u8::from(p.autonomous) << 6;
                    buf[at + 4..at + 8].copy_from_slice(&p.valid_lifetime.to_be_bytes());
                    buf[at + 8..at + 12].copy_from_slice(&p.preferred_lifetime.to_be_bytes());
                    buf[at + 16..at + 32].copy_from_slice(&p.prefix.octets());
                    at += 32;
                }
            }
        }
        debug_assert_eq!(at, buf.len());
    }
}

impl Options {
    /// Walks the options in `bytes`, refusing any whose length is zero or
    /// runs past the end, and any of the kinds read here whose length is
    /// not theirs.
    fn parse(mut bytes: &[u8]) -> Result<Options> {
        let mut opts = Options::default();
        while !bytes.is_empty() {
            let [kind, len8, ..] = *bytes else {
                return Err(WireError::Truncated);
            };
            if len8 == 0 {
                return Err(WireError::Malformed("NDP option of length 0"));
            }
            let len = 8 * usize::from(len8);
            let opt = bytes.get(..len).ok_or(WireError::BadLength)?;
            let want = |n: u8| {
                if len8 == n {
                    Ok(())
                } else {
                    Err(WireError::BadLength)
                }
            };
            match kind {
                OPT_SOURCE_LLADDR | OPT_TARGET_LLADDR => {
                    want(1)?;
                    let mac = MacAddr::new(opt[2], opt[3], opt[4], opt[5], opt[6], opt[7]);
                    // The first of each counts; RFC 4861 lets later copies
                    // be ignored.
                    let slot = if kind == OPT_SOURCE_LLADDR {
                        &mut opts.source_lladdr
                    } else {
                        &mut opts.target_lladdr
                    };
                    slot.get_or_insert(mac);
                }
                OPT_MTU => {
                    want(1)?;
                    opts.mtu = Some(u32::from_be_bytes([opt[4], opt[5], opt[6], opt[7]]));
                }
                OPT_PREFIX_INFO => {
                    want(4)?;
                    opts.prefixes.push(PrefixInfo {
                        prefix_len: opt[2],
                        on_link: opt[3] & 0x80 != 0,
                        autonomous: opt[3] & 0x40 != 0,
                        valid_lifetime: u32::from_be_bytes([opt[4], opt[5], opt[6], opt[7]]),
                        preferred_lifetime: u32::from_be_bytes([opt[8], opt[9], opt[10], opt[11]]),
                        prefix: Ipv6Addr::from(
                            <[u8; 16]>::try_from(&opt[16..32]).expect("16 bytes"),
                        ),
                    });
                }
                _ => {} // RFC 4861 §4.6: unknown options are skipped
            }
            bytes = &bytes[len..];
        }
        Ok(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmpv6::{Icmpv6Repr, parse_frame};
    use crate::wire::ipv6::{multicast_mac, solicited_node};
    use rstest::rstest;

    const US: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    const PEER: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0xab, 0xcdef);
    const MUS: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
    const MPEER: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);

    fn ns() -> NdpRepr {
        NdpRepr::NeighborSolicit {
            target: PEER,
            source_lladdr: Some(MUS),
        }
    }

    fn na(solicited: bool) -> NdpRepr {
        NdpRepr::NeighborAdvert {
            flags: NaFlags {
                router: false,
                solicited,
                override_: true,
            },
            target: PEER,
            target_lladdr: Some(MPEER),
        }
    }

    fn ra() -> NdpRepr {
        NdpRepr::RouterAdvert {
            cur_hop_limit: 64,
            managed: false,
            other: true,
            router_lifetime: 1800,
            reachable_time_ms: 30_000,
            retrans_timer_ms: 1000,
            source_lladdr: Some(MPEER),
            mtu: Some(1500),
            prefixes: vec![PrefixInfo {
                prefix: "fd00:6e74::".parse().unwrap(),
                prefix_len: 64,
                on_link: true,
                autonomous: true,
                valid_lifetime: 86400,
                preferred_lifetime: 14400,
            }],
        }
    }

    fn frame(msg: &NdpRepr, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
        Icmpv6Repr::Ndp(msg.clone()).frame((MUS, multicast_mac(dst)), (src, dst))
    }

    fn parse(f: &[u8]) -> Result<NdpRepr> {
        match parse_frame(f, true)?.2 {
            Icmpv6Repr::Ndp(m) => Ok(m),
            other => panic!("not NDP: {other:?}"),
        }
    }

    #[rstest]
    #[case::ns(ns(), US, solicited_node(PEER))]
    #[case::dad_ns(NdpRepr::NeighborSolicit { target: PEER, source_lladdr: None }, Ipv6Addr::UNSPECIFIED, solicited_node(PEER))]
    #[case::na_solicited(na(true), PEER, US)]
    #[case::na_unsolicited(na(false), PEER, crate::wire::ipv6::ALL_NODES)]
    #[case::rs(NdpRepr::RouterSolicit { source_lladdr: Some(MUS) }, US, crate::wire::ipv6::ALL_ROUTERS)]
    #[case::ra(ra(), PEER, crate::wire::ipv6::ALL_NODES)]
    fn messages_round_trip(#[case] msg: NdpRepr, #[case] src: Ipv6Addr, #[case] dst: Ipv6Addr) {
        let f = frame(&msg, src, dst);
        let (_, ip, _) = parse_frame(&f, true).unwrap();
        assert_eq!(ip.hop_limit, 255, "NDP is sent with hop limit 255");
        assert_eq!(parse(&f).unwrap(), msg);
    }

    #[test]
    fn ns_bytes_are_the_rfc_layout() {
        let f = frame(&ns(), US, solicited_node(PEER));
        let m = &f[14 + 40..];
        assert_eq!(m[0], 135);
        assert_eq!(&m[4..8], &[0; 4], "reserved");
        assert_eq!(&m[8..24], &PEER.octets());
        assert_eq!(
            &m[24..32],
            &[1, 1, 2, 0, 0, 0, 0, 1],
            "source link-layer option"
        );
        assert_eq!(&f[..6], &[0x33, 0x33, 0xff, 0xab, 0xcd, 0xef]);
    }

    #[test]
    fn na_flags_are_the_top_three_bits() {
        let f = frame(&na(true), PEER, US);
        assert_eq!(f[14 + 40 + 4], 0b0110_0000);
        let r = NaFlags::from_byte(0b1010_0000);
        assert!(r.router && !r.solicited && r.override_);
    }

    #[test]
    fn unknown_options_are_skipped() {
        let mut msg = vec![0u8; 24 + 16 + 8];
        NdpRepr::NeighborAdvert {
            flags: NaFlags::default(),
            target: PEER,
            target_lladdr: None,
        }
        .emit(&mut msg[..24]);
        msg[24] = 14; // a nonce option (RFC 3971), 16 bytes
        msg[25] = 2;
        msg[40..48].copy_from_slice(&[2, 1, 2, 0, 0, 0, 0, 2]);
        let ip = Ipv6Repr::new(
            PEER,
            US,
            crate::wire::ipv6::NextHeader::Icmpv6,
            255,
            msg.len(),
        );
        match NdpRepr::parse(&ip, &msg).unwrap() {
            NdpRepr::NeighborAdvert { target_lladdr, .. } => assert_eq!(target_lladdr, Some(MPEER)),
            other => panic!("{other:?}"),
        }
    }

    /// Rewrites the ICMPv6 checksum after a test spoiled the message, so
    /// that the check under test is the one that refuses it.
    fn resum(f: &mut [u8]) {
        let (src, dst) = {
            let ip = &f[14..54];
            (
                Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).unwrap()),
                Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).unwrap()),
            )
        };
        let msg = &mut f[54..];
        msg[2..4].fill(0);
        let sum = pnet::packet::icmpv6::checksum(
            &pnet::packet::icmpv6::Icmpv6Packet::new(msg).unwrap(),
            &src,
            &dst,
        );
        msg[2..4].copy_from_slice(&sum.to_be_bytes());
    }

    /// Shortens the ICMPv6 message to `n` bytes (IPv6 length and all).
    fn cut(f: &mut Vec<u8>, n: usize) {
        f.truncate(54 + n);
        f[18..20].copy_from_slice(&(n as u16).to_be_bytes());
    }

    fn ns_frame() -> Vec<u8> {
        frame(&ns(), US, solicited_node(PEER))
    }

    #[rstest]
    #[case::hop_limit_254(ns_frame(), |f: &mut Vec<u8>| f[21] = 254, WireError::Malformed("NDP hop limit other than 255"))]
    #[case::hop_limit_1(ns_frame(), |f: &mut Vec<u8>| f[21] = 1, WireError::Malformed("NDP hop limit other than 255"))]
    #[case::code_1(ns_frame(), |f: &mut Vec<u8>| { f[55] = 1; resum(f) }, WireError::Malformed("NDP code other than 0"))]
    #[case::bad_checksum(ns_frame(), |f: &mut Vec<u8>| f[60] ^= 0x10, WireError::BadChecksum)]
    #[case::ns_truncated(ns_frame(), |f: &mut Vec<u8>| { cut(f, 23); resum(f) }, WireError::Truncated)]
    #[case::na_truncated(frame(&na(true), PEER, US), |f: &mut Vec<u8>| { cut(f, 20); resum(f) }, WireError::Truncated)]
    #[case::rs_truncated(frame(&NdpRepr::RouterSolicit { source_lladdr: None }, US, crate::wire::ipv6::ALL_ROUTERS), |f: &mut Vec<u8>| { cut(f, 6); resum(f) }, WireError::Truncated)]
    #[case::ra_truncated(frame(&ra(), PEER, crate::wire::ipv6::ALL_NODES), |f: &mut Vec<u8>| { cut(f, 12); resum(f) }, WireError::Truncated)]
    #[case::option_length_0(ns_frame(), |f: &mut Vec<u8>| { f[54 + 25] = 0; resum(f) }, WireError::Malformed("NDP option of length 0"))]
    #[case::option_past_the_end(ns_frame(), |f: &mut Vec<u8>| { f[54 + 25] = 2; resum(f) }, WireError::BadLength)]
    #[case::option_cut(ns_frame(), |f: &mut Vec<u8>| { cut(f, 25); resum(f) }, WireError::Truncated)]
    #[case::lladdr_option_too_long(ns_frame(), |f: &mut Vec<u8>| { f.extend_from_slice(&[0; 8]); f[18..20].copy_from_slice(&40u16.to_be_bytes()); f[54 + 25] = 2; resum(f) }, WireError::BadLength)]
    #[case::mtu_option_wrong_length(frame(&ra(), PEER, crate::wire::ipv6::ALL_NODES), |f: &mut Vec<u8>| { f[54 + 32] = 5; resum(f) }, WireError::BadLength)]
    #[case::multicast_target(ns_frame(), |f: &mut Vec<u8>| { f[54 + 8] = 0xff; resum(f) }, WireError::Malformed("NDP target is multicast"))]
    #[case::dad_with_lladdr(frame(&ns(), Ipv6Addr::UNSPECIFIED, solicited_node(PEER)), |_: &mut Vec<u8>| {}, WireError::Malformed("link-layer option from the unspecified address"))]
    #[case::dad_to_the_wrong_group(frame(&NdpRepr::NeighborSolicit { target: PEER, source_lladdr: None }, Ipv6Addr::UNSPECIFIED, crate::wire::ipv6::ALL_NODES), |_: &mut Vec<u8>| {}, WireError::Malformed("DAD solicitation not to the target's solicited-node group"))]
    #[case::solicited_na_to_multicast(frame(&na(true), PEER, crate::wire::ipv6::ALL_NODES), |_: &mut Vec<u8>| {}, WireError::Malformed("solicited advertisement to a multicast group"))]
    #[case::ra_from_a_global_address(frame(&ra(), "fd00::1".parse().unwrap(), crate::wire::ipv6::ALL_NODES), |_: &mut Vec<u8>| {}, WireError::Malformed("router advertisement not link-local"))]
    fn malformed_messages_are_refused(
        #[case] mut f: Vec<u8>,
        #[case] spoil: fn(&mut Vec<u8>),
        #[case] want: WireError,
    ) {
        spoil(&mut f);
        assert_eq!(parse(&f).unwrap_err(), want);
    }

    #[test]
    fn no_spoiled_byte_panics() {
        for base in [ns_frame(), frame(&ra(), PEER, crate::wire::ipv6::ALL_NODES)] {
            for i in 54..base.len() {
                for v in [0u8, 1, 2, 3, 5, 0x80, 0xff] {
                    let mut f = base.clone();
                    f[i] = v;
                    resum(&mut f);
                    let _ = parse_frame(&f, true);
                }
            }
            for n in 0..base.len() - 54 {
                let mut f = base.clone();
                cut(&mut f, n);
                resum_if_possible(&mut f);
                let _ = parse_frame(&f, true);
            }
        }
    }

    fn resum_if_possible(f: &mut [u8]) {
        if f.len() >= 58 {
            resum(f);
        }
    }
}
