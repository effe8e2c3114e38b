//! The ARP engine driven by the real driver loop over the in-memory link,
//! on a virtual clock: no root, no real time, exact timings.

use std::cell::Cell;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use nettool::arp::cache::{Cache, Learned};
use nettool::arp::probe::{self, Mode, Prober, Target, Until};
use nettool::arp::resolve::{Event, Resolution, Settings, WallClock};
use nettool::driver::{self, Clock, Stop};
use nettool::link::mem::{ArpNeighbour, MemLink, VirtualClock};
use nettool::time::Instant;
use nettool::wire::MacAddr;
use nettool::wire::arp::ArpRepr;
use rstest::rstest;

const US: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const ME: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const T0: u64 = 1_700_000_000_000;

fn config(until: Until, tries: u32) -> probe::Config {
    probe::Config {
        mode: Mode::Request,
        until,
        mac: US,
        sender_ip: ME,
        tries,
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        rate: None,
    }
}

fn settings(use_cache: bool) -> Settings {
    Settings {
        iface: "sim0".into(),
        ifindex: 7,
        target: PEER,
        ttl: Duration::from_secs(60),
        use_cache,
        probe: config(Until::FirstReply, 3),
    }
}

fn wall() -> WallClock {
    WallClock {
        at: Instant::ZERO,
        unix_ms: T0,
    }
}

fn mac(n: u8) -> MacAddr {
    MacAddr::new(0xd6, 0, 0, 0, 0, n)
}

#[rstest]
#[case::answers_first_time(0, 1, Duration::from_micros(80))]
#[case::answers_the_second_request(1, 2, Duration::from_millis(1000) + Duration::from_micros(80))]
#[case::answers_the_last_request(2, 3, Duration::from_millis(2000) + Duration::from_micros(80))]
fn resolution_retries_until_answered(
    #[case] ignore: u32,
    #[case] attempt_want: u32,
    #[case] elapsed_want: Duration,
) {
    let clock = VirtualClock::default();
    let mut neighbour = ArpNeighbour::new(mac(7), [PEER]);
    neighbour.ignore_first = ignore;
    let mut link = MemLink::new(clock.clone()).with(neighbour);
    let mut cache = Cache::new();
    let mut res = Resolution::new(Instant::ZERO, wall(), &mut cache, settings(true));
    let mut events = Vec::new();
    let stop = driver::run(
        &mut res,
        &mut link,
        &mut clock.clone(),
        &AtomicBool::new(false),
        |_, e| {
            events.push(e);
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(stop, Stop::Done);
    assert_eq!(res.answer(), Some(mac(7)));
    // The answer is believed once the conflict window has passed quietly.
    assert_eq!(
        clock.get() - Instant::ZERO,
        elapsed_want + probe::CONFLICT_WINDOW
    );
    let attempt = events.iter().find_map(|e| match e {
        Event::Probe(probe::Event::Reply { attempt, rtt, .. }) => {
            assert_eq!(*rtt, Duration::from_micros(80));
            Some(*attempt)
        }
        _ => None,
    });
    assert_eq!(attempt, Some(attempt_want));
    assert_eq!(link.sent.len() as u32, attempt_want);
    drop(res);
    assert_eq!(cache.len(), 1);
}

/// Two neighbours claim PEER; the second answers `lag` after the first.
#[rstest]
#[case::microseconds_apart(Duration::from_micros(20), true)]
#[case::late_in_the_window(probe::CONFLICT_WINDOW - Duration::from_micros(100), true)]
#[case::after_the_window(probe::CONFLICT_WINDOW + Duration::from_millis(1), false)]
fn two_macs_answering_one_request(#[case] lag: Duration, #[case] conflict: bool) {
    let clock = VirtualClock::default();
    let first = ArpNeighbour::new(mac(7), [PEER]);
    let mut second = ArpNeighbour::new(mac(8), [PEER]);
    second.latency = first.latency + lag;
    let mut link = MemLink::new(clock.clone()).with(first).with(second);
    let mut cache = Cache::new();
    let mut res = Resolution::new(Instant::ZERO, wall(), &mut cache, settings(true));
    let mut events = Vec::new();
    let stop = driver::run(
        &mut res,
        &mut link,
        &mut clock.clone(),
        &AtomicBool::new(false),
        |_, e| {
            events.push(e);
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(stop, Stop::Done);
    assert_eq!(link.sent.len(), 1, "one request, answered twice");
    let conflicts = events
        .iter()
        .filter(|e| matches!(e, Event::Probe(probe::Event::Conflict { first, other, .. }) if *first == mac(7) && *other == mac(8)))
        .count();
    let replies = events
        .iter()
        .filter(|e| matches!(e, Event::Probe(probe::Event::Reply { .. })))
        .count();
    let answer = res.answer();
    drop(res);
    assert_eq!(answer, (!conflict).then_some(mac(7)));
    if conflict {
        assert_eq!((conflicts, replies), (1, 0), "{events:?}");
        assert!(cache.is_empty(), "neither MAC may be cached");
    } else {
        // The second reply arrives after this resolution ended: not its business.
        assert_eq!((conflicts, replies), (0, 1), "{events:?}");
        assert_eq!(cache.len(), 1);
    }
}

#[test]
fn silence_ends_after_the_last_timeout_with_no_answer() {
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone());
    let mut cache = Cache::new();
    let mut res = Resolution::new(Instant::ZERO, wall(), &mut cache, settings(true));
    driver::run(
        &mut res,
        &mut link,
        &mut clock.clone(),
        &AtomicBool::new(false),
        |_, _| Ok(()),
    )
    .unwrap();
    assert_eq!(res.answer(), None);
    // Requests at 0, 1 and 2 s; the last one waited for until 3 s.
    let times: Vec<u64> = link.sent.iter().map(|(t, _)| t.total_micros()).collect();
    assert_eq!(times, vec![0, 1_000_000, 2_000_000]);
    assert_eq!(clock.get(), Instant::from_millis(3000));
}

#[test]
fn a_second_run_answers_from_the_cache_without_a_frame() {
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone()).with(ArpNeighbour::new(mac(7), [PEER]));
    let mut cache = Cache::new();
    let mut first = Resolution::new(Instant::ZERO, wall(), &mut cache, settings(true));
    driver::run(
        &mut first,
        &mut link,
        &mut clock.clone(),
        &AtomicBool::new(false),
        |_, _| Ok(()),
    )
    .unwrap();
    drop(first);
    assert_eq!(link.sent.len(), 1);
    // Ten seconds later, in a "new process": reload from the stored bytes.
    let mut reloaded = Cache::from_bytes(&cache.to_bytes()).unwrap();
    let later = WallClock {
        at: Instant::ZERO,
        unix_ms: T0 + 10_000,
    };
    let mut second = Resolution::new(Instant::ZERO, later, &mut reloaded, settings(true));
    assert!(second.is_done());
    assert_eq!(second.answer(), Some(mac(7)));
    driver::run(
        &mut second,
        &mut link,
        &mut clock.clone(),
        &AtomicBool::new(false),
        |_, _| Ok(()),
    )
    .unwrap();
    assert_eq!(link.sent.len(), 1, "a fresh entry must not touch the wire");
}

#[test]
fn a_moved_address_is_revalidated_then_relearned() {
    // Learned at T0 - 70 s from mac 7; now mac 8 owns the address.
    let mut cache = Cache::new();
    cache.learn(
        "sim0",
        7,
        PEER,
        mac(7),
        T0 - 70_000,
        Duration::from_secs(60),
    );
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone()).with(ArpNeighbour::new(mac(8), [PEER]));
    let mut res = Resolution::new(Instant::ZERO, wall(), &mut cache, settings(true));
    let mut events = Vec::new();
    driver::run(
        &mut res,
        &mut link,
        &mut clock.clone(),
        &AtomicBool::new(false),
        |_, e| {
            events.push(e);
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(res.answer(), Some(mac(8)));
    let dsts: Vec<MacAddr> = link
        .sent
        .iter()
        .map(|(_, f)| ArpRepr::from_frame(f).unwrap().0.dst)
        .collect();
    assert_eq!(dsts, vec![mac(7), mac(7), MacAddr::broadcast()]);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::RevalidationFailed { .. }))
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Learned {
            learned: Learned::New,
            ..
        }
    )));
}

#[test]
fn a_sweep_finds_exactly_the_live_hosts_at_the_bounded_rate() {
    let live: Vec<u8> = (0..20).map(|i| 3 + i * 12).collect(); // scattered over the /24
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone());
    for &last in &live {
        link = link.with(ArpNeighbour::new(
            mac(last),
            [Ipv4Addr::new(10, 9, 0, last)],
        ));
    }
    let mut cfg = config(Until::FirstReply, 3);
    cfg.rate = Some(1000);
    cfg.interval = Duration::from_millis(300);
    cfg.timeout = Duration::from_millis(300);
    let targets = (2..=254).map(|i| Target::broadcast(Ipv4Addr::new(10, 9, 0, i)));
    let mut prober = Prober::new(Instant::ZERO, cfg, targets);
    let mut found = Vec::new();
    driver::run(
        &mut prober,
        &mut link,
        &mut clock.clone(),
        &AtomicBool::new(false),
        |_, e| {
            if let probe::Event::Reply { target, mac: m, .. } = e {
                assert_eq!(m, mac(target.octets()[3]));
                found.push(target.octets()[3]);
            }
            Ok(())
        },
    )
    .unwrap();
    found.sort();
    assert_eq!(found, live);
    // 253 first requests, then two more for each of the 233 silent ones.
    assert_eq!(link.sent.len(), 253 + 2 * 233);
    for w in link.sent.windows(2) {
        assert!(
            w[1].0 - w[0].0 >= Duration::from_millis(1),
            "rate bound broken at {}",
            w[1].0
        );
    }
}

#[test]
fn an_interrupt_stops_the_run() {
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone());
    let mut prober = Prober::new(
        Instant::ZERO,
        config(Until::AllSent, 1000),
        [Target::broadcast(PEER)],
    );
    let interrupt = AtomicBool::new(false);
    let sent = Rc::new(Cell::new(0));
    let counter = Rc::clone(&sent);
    let stop = driver::run(
        &mut prober,
        &mut link,
        &mut clock.clone(),
        &interrupt,
        |_, e| {
            if matches!(e, probe::Event::Sent { .. }) {
                counter.set(counter.get() + 1);
                if counter.get() == 3 {
                    interrupt.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(stop, Stop::Interrupted);
    assert_eq!(sent.get(), 3);
    assert!(clock.clone().now() < Instant::from_millis(3000));
}
