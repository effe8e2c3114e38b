//! Claiming an IPv6 address: duplicate address detection (RFC 4862
//! §5.4) and unsolicited advertisements (RFC 4861 §7.2.6), sans-IO.
//!
//! **DAD** sends Neighbor Solicitations for the tentative address from
//! the unspecified address `::` to the address's solicited-node group,
//! with no source link-layer option (a node that has no address yet has
//! nothing to bind it to), `interval` apart, then waits `wait`. The
//! address is taken if, meanwhile,
//!
//! - a Neighbor Advertisement names it (its owner defends it; Linux sends
//!   that to ff02::1, since the solicitation came from `::`), or
//! - a solicitation for it arrives from `::` from another link-layer
//!   address (another node is claiming it at the same moment; §5.4.3).
//!
//! A solicitation for it from a unicast address is someone resolving it
//! and says nothing (§5.4.3). Our own frames, should the link echo them,
//! are recognised by their source link-layer address and ignored.
//!
//! **Announce** sends unsolicited advertisements (S=0, O=1) for the
//! address with our link-layer address to ff02::1, `interval` apart, so
//! neighbours with an entry for it update it (to STALE, §7.2.6).

use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::time::Duration;

use crate::machine::{Machine, RxChecksum};
use crate::time::Instant;
use crate::wire::icmpv6::{Icmpv6Repr, parse_frame};
use crate::wire::ipv6::{ALL_NODES, multicast_mac, solicited_node};
use crate::wire::ndp::{NaFlags, NdpRepr};
use crate::wire::{MacAddr, WireError};

/// RFC 4861 §10 MAX_NEIGHBOR_ADVERTISEMENT: unsolicited advertisements
/// a node sends when its link-layer address changes.
pub const MAX_NEIGHBOR_ADVERTISEMENT: u32 = 3;

/// RFC 4862 §5.1 DupAddrDetectTransmits' default.
pub const DUP_ADDR_DETECT_TRANSMITS: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Dad,
    Announce,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub mac: MacAddr,
    pub target: Ipv6Addr,
    pub tries: u32,
    pub interval: Duration,
    /// DAD: how long the last solicitation is waited for.
    pub wait: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A solicitation (DAD) or advertisement (announce) left.
    Sent { nth: u32 },
    /// DAD: someone claims the address. `by_dad`: with a solicitation
    /// of its own, not an advertisement.
    Claimed {
        mac: MacAddr,
        from: Ipv6Addr,
        by_dad: bool,
        rtt: Duration,
    },
    /// DAD: nobody claimed the address.
    Free,
    /// Announce: every advertisement left.
    Announced,
}

pub struct Claim {
    config: Config,
    start: Instant,
    sent: u32,
    last_sent: Option<Instant>,
    next: Option<Instant>,
    end: Option<Instant>,
    outgoing: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    claimed_by: Option<MacAddr>,
    malformed: u64,
    done: bool,
}

impl Claim {
    pub fn new(now: Instant, config: Config) -> Claim {
        assert!(config.tries >= 1, "a claim sends at least one frame");
        Claim {
            config,
            start: now,
            sent: 0,
            last_sent: None,
            next: Some(now),
            end: None,
            outgoing: VecDeque::new(),
            events: VecDeque::new(),
            claimed_by: None,
            malformed: 0,
            done: false,
        }
    }

    /// DAD: the link-layer address that claims the address, if any.
    pub fn claimed_by(&self) -> Option<MacAddr> {
        self.claimed_by
    }

    pub fn frames_sent(&self) -> u32 {
        self.sent
    }

    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    fn frame(&self) -> Vec<u8> {
        let c = &self.config;
        match c.mode {
            Mode::Dad => {
                let group = solicited_node(c.target);
                Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
                    target: c.target,
                    source_lladdr: None,
                })
                .frame(
                    (c.mac, multicast_mac(group)),
                    (Ipv6Addr::UNSPECIFIED, group),
                )
            }
            Mode::Announce => Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
                flags: NaFlags {
                    router: false,
                    solicited: false,
                    override_: true,
                },
                target: c.target,
                target_lladdr: Some(c.mac),
            })
            .frame((c.mac, multicast_mac(ALL_NODES)), (c.target, ALL_NODES)),
        }
    }

    fn handle_ndp(&mut self, now: Instant, src_mac: MacAddr, src: Ipv6Addr, ndp: &NdpRepr) {
        let c = &self.config;
        if c.mode != Mode::Dad || self.done || src_mac == c.mac {
            return;
        }
        let (mac, by_dad) = match ndp {
            NdpRepr::NeighborAdvert {
                target,
                target_lladdr,
                ..
            } if *target == c.target => (target_lladdr.unwrap_or(src_mac), false),
            NdpRepr::NeighborSolicit { target, .. }
                if *target == c.target && src.is_unspecified() =>
            {
                (src_mac, true)
            }
            _ => return,
        };
        let rtt = now - self.last_sent.unwrap_or(self.start);
        self.claimed_by = Some(mac);
        self.events.push_back(Event::Claimed {
            mac,
            from: src,
            by_dad,
            rtt,
        });
        self.done = true;
    }
}

impl Machine for Claim {
    type Event = Event;

    fn handle_frame(&mut self, now: Instant, frame: &[u8], checksum: RxChecksum) {
        match parse_frame(frame, !checksum.kernel_vouches()) {
            Ok((eth, ip, Icmpv6Repr::Ndp(ndp))) => self.handle_ndp(now, eth.src, ip.src, &ndp),
            Ok(_) | Err(WireError::Unsupported(_)) => {}
            Err(_) => self.malformed += 1,
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.done {
            return;
        }
        if self.next.is_some_and(|t| t <= now) {
            let frame = self.frame();
            self.outgoing.push_back(frame);
            self.sent += 1;
            self.last_sent = Some(now);
            self.events.push_back(Event::Sent { nth: self.sent });
            if self.sent < self.config.tries {
                self.next = Some(now + self.config.interval);
            } else {
                self.next = None;
                self.end = Some(match self.config.mode {
                    Mode::Dad => now + self.config.wait,
                    Mode::Announce => now,
                });
            }
        }
        if self.end.is_some_and(|t| t <= now) {
            self.done = true;
            self.events.push_back(match self.config.mode {
                Mode::Dad => Event::Free,
                Mode::Announce => Event::Announced,
            });
        }
    }

    fn poll_transmit(&mut self, _now: Instant) -> Option<Vec<u8>> {
        self.outgoing.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        self.next.or(self.end)
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn is_done(&self) -> bool {
        self.done && self.outgoing.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv6::ALL_NODES;
    use rstest::rstest;

    const US: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
    const THEM: MacAddr = MacAddr(2, 0, 0, 0, 0, 9);
    const ADDR: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 0x99);

    fn config(mode: Mode, tries: u32) -> Config {
        Config {
            mode,
            mac: US,
            target: ADDR,
            tries,
            interval: Duration::from_secs(1),
            wait: Duration::from_secs(1),
        }
    }

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn step(c: &mut Claim, now: Instant) -> Vec<Vec<u8>> {
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now);
        }
        std::iter::from_fn(|| c.poll_transmit(now)).collect()
    }

    #[test]
    fn dad_solicits_from_the_unspecified_address_without_a_link_layer_option() {
        let mut c = Claim::new(ms(0), config(Mode::Dad, 1));
        let frames = step(&mut c, ms(0));
        let (eth, ip, icmp) = parse_frame(&frames[0], true).unwrap();
        assert_eq!(eth.dst, multicast_mac(solicited_node(ADDR)));
        assert_eq!(
            (ip.src, ip.dst, ip.hop_limit),
            (Ipv6Addr::UNSPECIFIED, solicited_node(ADDR), 255)
        );
        assert_eq!(
            icmp,
            Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
                target: ADDR,
                source_lladdr: None
            })
        );
        assert_eq!(c.poll_timeout(), Some(ms(1000)));
        step(&mut c, ms(999));
        assert!(!c.is_done());
        step(&mut c, ms(1000));
        assert!(c.is_done());
        assert_eq!(c.claimed_by(), None);
        assert!(std::iter::from_fn(|| c.poll_event()).any(|e| e == Event::Free));
    }

    fn defence(dst: Ipv6Addr) -> Vec<u8> {
        Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
            flags: NaFlags {
                router: false,
                solicited: false,
                override_: true,
            },
            target: ADDR,
            target_lladdr: Some(THEM),
        })
        .frame((THEM, multicast_mac(dst)), (ADDR, dst))
    }

    fn rival_dad(from: MacAddr) -> Vec<u8> {
        let g = solicited_node(ADDR);
        Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
            target: ADDR,
            source_lladdr: None,
        })
        .frame((from, multicast_mac(g)), (Ipv6Addr::UNSPECIFIED, g))
    }

    fn resolution_of_it() -> Vec<u8> {
        let g = solicited_node(ADDR);
        let src: Ipv6Addr = "fe80::9".parse().unwrap();
        Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
            target: ADDR,
            source_lladdr: Some(THEM),
        })
        .frame((THEM, multicast_mac(g)), (src, g))
    }

    #[rstest]
    #[case::owner_defends(defence(ALL_NODES), Some(THEM))]
    #[case::another_dad(rival_dad(THEM), Some(THEM))]
    #[case::our_own_echo(rival_dad(US), None)]
    #[case::someone_resolving_it(resolution_of_it(), None)]
    fn what_claims_the_address(#[case] frame: Vec<u8>, #[case] claimed: Option<MacAddr>) {
        let mut c = Claim::new(ms(0), config(Mode::Dad, 1));
        step(&mut c, ms(0));
        c.handle_frame(ms(3), &frame, RxChecksum::Unknown);
        assert_eq!(c.claimed_by(), claimed);
        assert_eq!(c.is_done(), claimed.is_some());
    }

    #[test]
    fn announce_sends_unsolicited_overriding_advertisements_and_ends() {
        let mut c = Claim::new(ms(0), config(Mode::Announce, 3));
        let mut frames = Vec::new();
        for t in [0, 1000, 2000] {
            frames.extend(step(&mut c, ms(t)));
        }
        assert!(c.is_done());
        assert_eq!(frames.len(), 3);
        let (eth, ip, icmp) = parse_frame(&frames[0], true).unwrap();
        assert_eq!(eth.dst, MacAddr(0x33, 0x33, 0, 0, 0, 1));
        assert_eq!((ip.src, ip.dst), (ADDR, ALL_NODES));
        match icmp {
            Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
                flags,
                target,
                target_lladdr,
            }) => {
                assert!(!flags.solicited && flags.override_);
                assert_eq!((target, target_lladdr), (ADDR, Some(US)));
            }
            other => panic!("{other:?}"),
        }
    }
}
