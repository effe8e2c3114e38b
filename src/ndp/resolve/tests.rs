//! The resolver on a virtual clock, fed fabricated advertisements.

use super::*;
use crate::wire::ndp::NaFlags;
use rstest::rstest;

const US: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const ME: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const PEER: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0xab, 0xcdef);
const OLD: MacAddr = MacAddr(0xd6, 0, 0, 0, 0, 7);
const NEW: MacAddr = MacAddr(0xd6, 0, 0, 0, 0, 8);
const T0: u64 = 1_700_000_000_000;

fn settings(use_cache: bool, ping: Option<u32>) -> Settings {
    Settings {
        iface: "eth0".into(),
        ifindex: 7,
        mac: US,
        source: ME,
        target: PEER,
        use_cache,
        timing: Timing::default(),
        ping,
    }
}

fn wall() -> WallClock {
    WallClock {
        at: Instant::ZERO,
        unix_ms: T0,
    }
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// A cache holding PEER at OLD, REACHABLE since `T0 - age_ms` (and so
/// STALE if `age_ms` is past its ReachableTime).
fn cache_aged(age_ms: u64) -> Cache {
    let mut c = Cache::new(1);
    c.solicit(T0 - age_ms, "eth0", 7, PEER);
    c.handle_advert(
        T0 - age_ms,
        ("eth0", 7),
        PEER,
        NaFlags {
            router: false,
            solicited: true,
            override_: true,
        },
        Some(OLD),
        true,
    );
    while c.poll_event().is_some() {}
    c
}

/// An advertisement for PEER from `mac` to `dst`, solicited or not.
fn advert(mac: MacAddr, dst: Ipv6Addr, solicited: bool) -> Vec<u8> {
    Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
        flags: NaFlags {
            router: false,
            solicited,
            override_: true,
        },
        target: PEER,
        target_lladdr: Some(mac),
    })
    .frame((mac, US), (PEER, dst))
}

/// Where the frames due at `now` go: (Ethernet destination, NS target).
fn sent(r: &mut Resolution, now: Instant) -> Vec<MacAddr> {
    if r.poll_timeout().is_some_and(|t| t <= now) {
        r.handle_timeout(now);
    }
    std::iter::from_fn(|| r.poll_transmit(now))
        .map(|f| {
            let (eth, ip, icmp) = parse_frame(&f, true).unwrap();
            assert_eq!(ip.src, ME);
            assert_eq!(ip.hop_limit, 255);
            match icmp {
                Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit {
                    target,
                    source_lladdr,
                }) => {
                    assert_eq!((target, source_lladdr), (PEER, Some(US)));
                }
                other => panic!("{other:?}"),
            }
            eth.dst
        })
        .collect()
}

fn drain(r: &mut Resolution) -> Vec<Event> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

const GROUP_MAC: MacAddr = MacAddr(0x33, 0x33, 0xff, 0xab, 0xcd, 0xef);

#[test]
fn reachable_entry_answers_without_a_frame() {
    let mut cache = cache_aged(1_000);
    let mut r = Resolution::new(ms(0), wall(), &mut cache, settings(true, None));
    assert!(r.is_done());
    assert_eq!(r.answer(), Some(OLD));
    assert!(sent(&mut r, ms(0)).is_empty());
    assert!(matches!(&drain(&mut r)[..], [Event::CacheHit { .. }]));
}

#[test]
fn no_entry_solicits_the_group_and_learns_the_answer() {
    let mut cache = Cache::new(1);
    let mut r = Resolution::new(ms(0), wall(), &mut cache, settings(true, None));
    assert_eq!(sent(&mut r, ms(0)), vec![GROUP_MAC]);
    r.handle_frame(ms(3), &advert(NEW, ME, true), RxChecksum::Unknown);
    assert!(r.is_done());
    assert_eq!(r.answer(), Some(NEW));
    let ev = drain(&mut r);
    assert!(ev.iter().any(|e| matches!(e, Event::Advert { mac: NEW, rtt, learned: Learned::New, .. } if *rtt == Duration::from_millis(3))));
    let e = cache.lookup("eth0", 7, PEER).unwrap();
    assert_eq!((e.state, e.mac), (State::Reachable, Some(NEW)));
}

#[test]
fn silence_is_three_solicitations_one_second_apart_then_nothing() {
    let mut cache = Cache::new(1);
    let mut r = Resolution::new(ms(0), wall(), &mut cache, settings(true, None));
    for t in [0, 1000, 2000] {
        assert_eq!(sent(&mut r, ms(t)), vec![GROUP_MAC], "at {t} ms");
    }
    assert_eq!(r.poll_timeout(), Some(ms(3000)));
    r.handle_timeout(ms(3000));
    assert!(r.is_done());
    assert_eq!(r.answer(), None);
    assert_eq!(r.frames_sent(), 3);
    assert!(
        drain(&mut r)
            .iter()
            .any(|e| matches!(e, Event::Unanswered { sent: 3 }))
    );
    assert!(cache.is_empty());
}

#[rstest]
#[case::to_all_nodes(advert(NEW, crate::wire::ipv6::ALL_NODES, false))]
#[case::unsolicited_to_us(advert(NEW, ME, false))]
#[case::to_someone_else(advert(NEW, "fe80::99".parse().unwrap(), true))]
fn overheard_advertisements_teach_nothing(#[case] frame: Vec<u8>) {
    let mut cache = Cache::new(1);
    let mut r = Resolution::new(ms(0), wall(), &mut cache, settings(true, None));
    sent(&mut r, ms(0));
    r.handle_frame(ms(5), &frame, RxChecksum::Unknown);
    assert!(!r.is_done());
    assert_eq!(r.answer(), None);
    assert_eq!(
        cache.lookup("eth0", 7, PEER).unwrap().state,
        State::Incomplete
    );
}

#[test]
fn an_advertisement_with_hop_limit_254_is_refused() {
    let mut cache = Cache::new(1);
    let mut r = Resolution::new(ms(0), wall(), &mut cache, settings(true, None));
    sent(&mut r, ms(0));
    let mut f = advert(NEW, ME, true);
    f[14 + 7] = 254;
    r.handle_frame(ms(5), &f, RxChecksum::Unknown);
    assert_eq!(r.answer(), None);
    assert_eq!(r.malformed(), 1);
}

#[test]
fn stale_entry_is_probed_by_unicast_and_reconfirmed() {
    let mut cache = cache_aged(100_000);
    let mut r = Resolution::new(ms(0), wall(), &mut cache, settings(true, None));
    assert_eq!(sent(&mut r, ms(0)), vec![OLD]);
    r.handle_frame(ms(2), &advert(OLD, ME, true), RxChecksum::Unknown);
    assert!(r.is_done());
    assert_eq!(r.answer(), Some(OLD));
    let ev = drain(&mut r);
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Transition {
            from: Some(State::Stale),
            to: State::Probe,
            ..
        }
    )));
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Transition {
            from: Some(State::Probe),
            to: State::Reachable,
            ..
        }
    )));
    assert_eq!(
        cache.lookup("eth0", 7, PEER).unwrap().state,
        State::Reachable
    );
}

/// Linux answers a unicast solicitation without the target link-layer
/// option: the entry's address is confirmed all the same.
#[test]
fn a_probe_answered_without_the_address_option_confirms_the_entry() {
    let mut cache = cache_aged(100_000);
    let mut r = Resolution::new(ms(0), wall(), &mut cache, settings(true, None));
    assert_eq!(sent(&mut r, ms(0)), vec![OLD]);
    let bare = Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
        flags: NaFlags {
            router: false,
            solicited: true,
            override_: false,
        },
        target: PEER,
        target_lladdr: None,
    })
    .frame((OLD, US), (PEER, ME));
    r.handle_frame(ms(2), &bare, RxChecksum::Unknown);
    assert!(r.is_done());
    assert_eq!(r.answer(), Some(OLD));
    assert_eq!(
        cache.lookup("eth0", 7, PEER).unwrap().state,
        State::Reachable
    );
}

#[test]
fn silent_stale_entry_is_gone_and_the_group_solicited() {
    let mut cache = cache_aged(100_000);
    let mut r = Resolution::new(ms(0), wall(), &mut cache, settings(true, None));
    for t in [0, 1000, 2000] {
        assert_eq!(sent(&mut r, ms(t)), vec![OLD]);
    }
    assert_eq!(sent(&mut r, ms(3000)), vec![GROUP_MAC]);
    r.handle_frame(ms(3001), &advert(NEW, ME, true), RxChecksum::Unknown);
    assert_eq!(r.answer(), Some(NEW));
    assert_eq!(r.frames_sent(), 4);
    assert!(
        drain(&mut r)
            .iter()
            .any(|e| matches!(e, Event::ProbeFailed { entry } if entry.mac == Some(OLD)))
    );
}

#[test]
fn two_addresses_answering_leave_no_answer() {
    let mut cache = Cache::new(1);
    let mut s = settings(true, Some(2));
    s.use_cache = false;
    let mut r = Resolution::new(ms(0), wall(), &mut cache, s);
    sent(&mut r, ms(0));
    r.handle_frame(ms(1), &advert(OLD, ME, true), RxChecksum::Unknown);
    r.handle_frame(ms(2), &advert(NEW, ME, true), RxChecksum::Unknown);
    assert!(r.is_done());
    assert_eq!(r.answer(), None);
    assert!(drain(&mut r).iter().any(|e| matches!(
        e,
        Event::Conflict {
            first: OLD,
            other: NEW
        }
    )));
    assert!(cache.is_empty(), "neither is cached");
}

#[test]
fn no_cache_asks_the_wire_and_reports_a_contradiction() {
    let mut cache = cache_aged(1_000);
    let mut r = Resolution::new(ms(0), wall(), &mut cache, settings(false, None));
    assert_eq!(sent(&mut r, ms(0)), vec![GROUP_MAC]);
    r.handle_frame(ms(1), &advert(NEW, ME, true), RxChecksum::Unknown);
    assert_eq!(r.answer(), Some(NEW));
    assert!(drain(&mut r).iter().any(|e| matches!(
        e,
        Event::CacheConflict {
            cached: OLD,
            mac: NEW
        }
    )));
}

#[test]
fn ping_sends_every_solicitation_and_reports_every_answer() {
    let mut cache = Cache::new(1);
    let mut r = Resolution::new(ms(0), wall(), &mut cache, settings(true, Some(3)));
    for t in [0u64, 1000, 2000] {
        assert_eq!(sent(&mut r, ms(t)), vec![GROUP_MAC]);
        r.handle_frame(ms(t + 4), &advert(OLD, ME, true), RxChecksum::Unknown);
    }
    assert!(!r.is_done());
    assert_eq!(r.poll_timeout(), Some(ms(3000)));
    r.handle_timeout(ms(3000));
    assert!(r.is_done());
    let adverts: Vec<u32> = drain(&mut r)
        .iter()
        .filter_map(|e| match e {
            Event::Advert { nth, rtt, .. } => {
                assert_eq!(*rtt, Duration::from_millis(4));
                Some(*nth)
            }
            _ => None,
        })
        .collect();
    assert_eq!(adverts, vec![1, 2, 3]);
    assert_eq!(r.answer(), Some(OLD));
}

#[test]
fn unanswered_ping_keeps_nothing() {
    let mut cache = Cache::new(1);
    let mut r = Resolution::new(ms(0), wall(), &mut cache, settings(true, Some(2)));
    sent(&mut r, ms(0));
    sent(&mut r, ms(1000));
    r.handle_timeout(ms(2000));
    assert!(r.is_done());
    assert!(cache.is_empty());
}

/// RFC 4861 §7.2.5: an advertisement with O=0 and another link-layer
/// address than the entry's updates nothing. The cache keeps the old
/// address, so the resolution must not answer with the new one: it is
/// reported, and the probe goes on.
#[test]
fn an_advertisement_that_may_not_override_is_not_the_answer() {
    let mut cache = cache_aged(100_000);
    let mut r = Resolution::new(ms(0), wall(), &mut cache, settings(true, None));
    assert_eq!(sent(&mut r, ms(0)), vec![OLD]);
    let no_override = Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
        flags: NaFlags {
            router: false,
            solicited: true,
            override_: false,
        },
        target: PEER,
        target_lladdr: Some(NEW),
    })
    .frame((NEW, US), (PEER, ME));
    r.handle_frame(ms(2), &no_override, RxChecksum::Unknown);
    assert_eq!(r.answer(), None);
    assert!(!r.is_done(), "the probe of OLD goes on");
    assert!(drain(&mut r).iter().any(|e| matches!(
        e,
        Event::Advert {
            mac: NEW,
            learned: Learned::Conflict {
                previous: OLD,
                replaced: false
            },
            ..
        }
    )));
    assert_eq!(sent(&mut r, ms(1000)), vec![OLD]);
    r.handle_frame(ms(1002), &advert(OLD, ME, true), RxChecksum::Unknown);
    assert_eq!(r.answer(), Some(OLD));
    assert_eq!(cache.lookup("eth0", 7, PEER).unwrap().mac, Some(OLD));
}
