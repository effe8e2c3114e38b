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
use nettool::cachefile::Caches;
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
    let stored = Caches {
        arp: cache.clone(),
        ndp: nettool::ndp::cache::Cache::new(0),
    }
    .to_bytes();
    let mut reloaded = Caches::from_bytes(&stored, 0).unwrap().arp;
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

// ---------------------------------------------------------------------
// `nettool arp` as a whole: arguments in, the lines a user reads out,
// the cache file written; on the in-memory link and its virtual clock.
// ---------------------------------------------------------------------

mod command {
    use std::cell::RefCell;
    use std::net::Ipv4Addr;
    use std::rc::Rc;
    use std::time::Duration;

    use clap::Parser;
    use ipnetwork::Ipv4Network;
    use nettool::arp::probe;
    use nettool::cachefile;
    use nettool::cli::{ArpArgs, Cli, Command};
    use nettool::clock::Clock;
    use nettool::cmd::arp::{self, Subnet};
    use nettool::cmd::{Captured, Env};
    use nettool::link::Link;
    use nettool::link::mem::{ArpNeighbour, MemLink, Responder, VirtualClock};
    use nettool::outcome::Outcome;
    use nettool::route::{Interface, Route, RouteKind};
    use nettool::time::Instant;
    use nettool::wire::arp::{ArpRepr, Operation};
    use rstest::rstest;

    use super::{ME, PEER, US, mac};

    /// Every frame nettool sent, with the virtual time it left.
    #[derive(Clone, Default)]
    struct Wire(Rc<RefCell<Vec<(Instant, ArpRepr)>>>);

    impl Wire {
        fn times(&self) -> Vec<Duration> {
            self.0
                .borrow()
                .iter()
                .map(|(t, _)| *t - Instant::ZERO)
                .collect()
        }
    }

    impl Responder for Wire {
        fn on_frame(&mut self, now: Instant, frame: &[u8]) -> Vec<(Duration, Vec<u8>)> {
            let (_, arp) = ArpRepr::from_frame(frame).expect("nettool sends ARP");
            self.0.borrow_mut().push((now, arp));
            Vec::new()
        }
    }

    /// What a run printed, how it ended, and how long it took.
    struct Ran {
        outcome: Outcome,
        out: String,
        err: String,
        took: Duration,
    }

    /// One machine: its interface, its cache file, its virtual clock, and
    /// the neighbours on its link.
    struct Sim {
        clock: VirtualClock,
        dir: tempfile::TempDir,
        wire: Wire,
        neighbours: Vec<ArpNeighbour>,
    }

    impl Sim {
        fn new(neighbours: Vec<ArpNeighbour>) -> Sim {
            Sim {
                clock: VirtualClock::default(),
                dir: tempfile::tempdir().unwrap(),
                wire: Wire::default(),
                neighbours,
            }
        }

        fn cache_file(&self) -> std::path::PathBuf {
            self.dir.path().join("arp-cache.json")
        }

        fn args(&self, argv: &[&str]) -> ArpArgs {
            let cache = self.cache_file();
            let mut all = vec!["nettool", "arp", "--cache-file", cache.to_str().unwrap()];
            all.extend(argv);
            match Cli::try_parse_from(all).unwrap().command {
                Command::Arp(a) => a,
                other => panic!("{other:?}"),
            }
        }

        /// The link, with this machine's neighbours on it (taken: a
        /// machine runs one command on its link).
        fn link(&mut self) -> MemLink {
            let mut link = MemLink::new(self.clock.clone()).with(self.wire.clone());
            for n in self.neighbours.drain(..) {
                link = link.with(n);
            }
            link
        }

        /// Runs `body` with this machine's clock and an `Env` on it.
        fn run(
            &mut self,
            body: impl FnOnce(&mut dyn Clock, &mut Env) -> anyhow::Result<Outcome>,
        ) -> Ran {
            let began = self.clock.get();
            let mut captured = Captured {
                clock: self.clock.clone(),
                ..Captured::default()
            };
            let mut clock = self.clock.clone();
            let outcome = body(&mut clock, &mut captured.env()).unwrap();
            Ran {
                outcome,
                out: captured.stdout(),
                err: String::from_utf8(captured.err).unwrap(),
                took: self.clock.get() - began,
            }
        }

        /// `nettool arp [argv] 10.9.0.2`, on the link.
        fn resolve(&mut self, argv: &[&str]) -> Ran {
            let mut argv = argv.to_vec();
            argv.push("10.9.0.2");
            let args = self.args(&argv);
            let mut link = Some(self.link());
            let mut open = || -> anyhow::Result<Box<dyn Link>> {
                Ok(Box::new(link.take().expect("the link opened once")))
            };
            self.run(|clock, env| arp::resolve_over(PEER, &args, &route(), &mut open, clock, env))
        }

        /// Moves the clock on, as if the next command ran `d` later.
        fn wait(&self, d: Duration) {
            MemLink::new(self.clock.clone()).recv(d).unwrap();
        }
    }

    fn interface() -> Interface {
        Interface {
            name: "sim0".into(),
            index: 7,
            mac: US,
            ipv4: vec![],
            mtu: 1500,
            is_up: true,
            is_running: true,
            is_loopback: false,
        }
    }

    fn route() -> Route {
        Route {
            interface: interface(),
            source: ME,
            next_hop: PEER,
            via_gateway: false,
            kind: RouteKind::Unicast,
            source_owned_by_kernel: true,
        }
    }

    fn neighbour(n: u8, ip: Ipv4Addr) -> ArpNeighbour {
        ArpNeighbour::new(mac(n), [ip])
    }

    const HEADER: &str = "ARP 10.9.0.2 on sim0 from 10.9.0.1 (02:00:00:00:00:01)";

    #[test]
    fn resolving_prints_the_mac_and_caches_it_on_the_wall_clock() {
        let mut peer = neighbour(7, PEER);
        peer.ignore_first = 1;
        let mut sim = Sim::new(vec![peer]);
        let ran = sim.resolve(&[]);
        assert_eq!(ran.outcome, Outcome::Success, "{}{}", ran.out, ran.err);
        assert_eq!(
            ran.out,
            format!("{HEADER}\n10.9.0.2 is-at d6:00:00:00:00:07  rtt 80 µs  (request 2)\n")
        );
        assert_eq!(ran.err, "");
        // Believed once the conflict window after the reply passed quietly.
        let replied = Duration::from_secs(1) + Duration::from_micros(80);
        assert_eq!(ran.took, replied + probe::CONFLICT_WINDOW);
        // Dated by the virtual wall clock when the answer was believed.
        let (cache, warnings) = cachefile::load(&sim.cache_file());
        assert!(warnings.is_empty(), "{warnings:?}");
        let entries: Vec<_> = cache.entries().collect();
        assert_eq!(entries.len(), 1);
        let e = entries[0];
        assert_eq!((e.iface.as_str(), e.ip, e.mac), ("sim0", PEER, mac(7)));
        assert_eq!(e.learned_at_ms, VirtualClock::WALL_EPOCH_MS + 1050);
        assert_eq!(e.ttl_ms, 60_000);

        // Ten seconds later the cache answers, with no frame sent.
        sim.wait(Duration::from_secs(10));
        let sent = sim.wire.times().len();
        let again = sim.resolve(&[]);
        assert_eq!(again.outcome, Outcome::Success);
        assert_eq!(
            again.out,
            "10.9.0.2 is-at d6:00:00:00:00:07 on sim0  (from cache: learned 10 s ago, \
             fresh for 50 s more; no frame sent)\n"
        );
        assert_eq!(sim.wire.times().len(), sent);
        assert_eq!(again.took, Duration::ZERO);

        // And `--show` ages it on the same wall clock.
        let args = sim.args(&["--show"]);
        let shown = sim.run(|_, env| arp::run(args, env));
        assert_eq!(
            shown.out,
            "IFACE        ADDRESS          MAC                STATE         AGE  LEFT\n\
             sim0         10.9.0.2         d6:00:00:00:00:07  fresh        10 s  50 s\n"
        );

        // `--flush` empties it.
        let args = sim.args(&["--flush"]);
        let flushed = sim.run(|_, env| arp::run(args, env));
        let file = sim.cache_file();
        assert_eq!(
            flushed.out,
            format!("flushed 1 entry from {}\n", file.display())
        );
        assert!(cachefile::load(&file).0.is_empty());
    }

    #[test]
    fn verbose_prints_each_frame_on_stderr() {
        let mut sim = Sim::new(vec![neighbour(7, PEER)]);
        let ran = sim.resolve(&["-v"]);
        assert_eq!(ran.outcome, Outcome::Success);
        assert_eq!(
            ran.err,
            "> ARP, Request who-has 10.9.0.2 tell 10.9.0.1, length 28\n\
             < ARP, Reply 10.9.0.2 is-at d6:00:00:00:00:07, length 28\n"
        );
        assert_eq!(
            ran.out,
            format!("{HEADER}\n10.9.0.2 is-at d6:00:00:00:00:07  rtt 80 µs  (request 1)\n")
        );
    }

    #[test]
    fn silence_is_three_requests_a_second_apart_then_no_reply() {
        let mut sim = Sim::new(vec![]);
        let ran = sim.resolve(&[]);
        assert_eq!(ran.outcome, Outcome::Negative);
        assert_eq!(
            ran.out,
            format!("{HEADER}\nno reply from 10.9.0.2 after 3 requests\n")
        );
        let secs = Duration::from_secs;
        assert_eq!(sim.wire.times(), vec![secs(0), secs(1), secs(2)]);
        assert_eq!(ran.took, secs(3), "the last request is waited for");
        for (_, arp) in sim.wire.0.borrow().iter() {
            assert_eq!(arp.operation, Operation::Request);
            assert_eq!((arp.sender_ip, arp.target_ip), (ME, PEER));
        }
        assert!(
            !sim.cache_file().exists(),
            "nothing learned, nothing written"
        );
    }

    #[rstest]
    #[case::timeout_and_interval(&["-W", "200ms", "--interval", "500ms"], &[0, 500, 1000], 1200)]
    #[case::a_count_of_silence(&["--interval", "100ms", "-c", "5"], &[0, 100, 200, 300, 400], 1400)]
    fn the_user_sets_the_pace(#[case] argv: &[&str], #[case] sent: &[u64], #[case] end_ms: u64) {
        let mut sim = Sim::new(vec![]);
        let ran = sim.resolve(argv);
        assert_eq!(ran.outcome, Outcome::Negative, "{}", ran.out);
        let ms: Vec<u64> = sim
            .wire
            .times()
            .iter()
            .map(|d| d.as_millis() as u64)
            .collect();
        assert_eq!(ms, sent);
        assert_eq!(ran.took, Duration::from_millis(end_ms));
    }

    #[rstest]
    #[case::microseconds_apart(Duration::from_micros(20))]
    #[case::late_in_the_window(probe::CONFLICT_WINDOW - Duration::from_micros(100))]
    fn two_macs_in_the_window_are_a_conflict_and_neither_is_cached(#[case] lag: Duration) {
        let first = neighbour(7, PEER);
        let mut second = neighbour(8, PEER);
        second.latency = first.latency + lag;
        let mut sim = Sim::new(vec![first, second]);
        let ran = sim.resolve(&[]);
        assert_eq!(ran.outcome, Outcome::Negative, "{}", ran.out);
        assert_eq!(
            ran.out,
            format!(
                "{HEADER}\nCONFLICT: 10.9.0.2 is claimed by both d6:00:00:00:00:07 and \
                 d6:00:00:00:00:08; neither is cached\n"
            )
        );
        assert_eq!(sim.wire.times().len(), 1, "one request, two answers");
        let (cache, _) = cachefile::load(&sim.cache_file());
        assert!(cache.is_empty());
    }

    #[test]
    fn a_conflict_in_json_names_both_macs_and_exits_1() {
        let mut sim = Sim::new(vec![neighbour(7, PEER), neighbour(8, PEER)]);
        let ran = sim.resolve(&["--json"]);
        assert_eq!(ran.outcome, Outcome::Negative);
        let lines: Vec<serde_json::Value> = ran
            .out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let names: Vec<&str> = lines.iter().map(|v| v["event"].as_str().unwrap()).collect();
        assert_eq!(names, ["start", "conflict", "result"], "{}", ran.out);
        assert_eq!(lines[1]["mac"], "d6:00:00:00:00:07");
        assert_eq!(lines[1]["other_mac"], "d6:00:00:00:00:08");
        assert_eq!(lines[1]["t"], 0.00008);
        assert_eq!(lines[2]["outcome"], "conflict");
        assert_eq!(lines[2]["exit"], 1);
    }

    #[test]
    fn a_count_sends_that_many_requests_and_sums_them_up() {
        let mut sim = Sim::new(vec![neighbour(7, PEER)]);
        let ran = sim.resolve(&["-c", "3"]);
        assert_eq!(ran.outcome, Outcome::Success, "{}", ran.out);
        let secs = Duration::from_secs;
        assert_eq!(sim.wire.times(), vec![secs(0), secs(1), secs(2)]);
        assert_eq!(
            ran.out,
            format!(
                "ARP 10.9.0.2 on sim0 from 10.9.0.1 (02:00:00:00:00:01)\n\
                 10.9.0.2 is-at d6:00:00:00:00:07  rtt 80 µs  (request 1)\n\
                 10.9.0.2 is-at d6:00:00:00:00:07  rtt 80 µs  (request 2)\n\
                 10.9.0.2 is-at d6:00:00:00:00:07  rtt 80 µs  (request 3)\n\
                 --- 10.9.0.2: 3 requests, 3 replies, rtt min/avg/max 0.080/0.080/0.080 ms\n"
            )
        );
    }

    #[test]
    fn a_sweep_of_a_slash_29_reports_who_answered_sorted() {
        let ip = |n| Ipv4Addr::new(10, 9, 0, n);
        // Out of order on the link; .5 slow to wake up.
        let mut slow = neighbour(5, ip(5));
        slow.ignore_first = 1;
        let mut sim = Sim::new(vec![slow, neighbour(3, ip(3))]);
        let net: Ipv4Network = "10.9.0.0/29".parse().unwrap();
        let subnet = Subnet {
            net,
            route: route(),
            targets: nettool::arp::sweep_targets(net, &[ME]),
        };
        assert_eq!(subnet.targets, (2..=6).map(ip).collect::<Vec<_>>());
        let args = sim.args(&["10.9.0.0/29"]);
        let mut link = sim.link();
        let ran = sim.run(|clock, env| arp::sweep_over(&args, &subnet, &mut link, clock, env));
        assert_eq!(ran.outcome, Outcome::Success, "{}", ran.out);
        assert_eq!(
            ran.out,
            "SWEEP 10.9.0.0/29 on sim0 from 10.9.0.1: 5 addresses, 3 tries each, at most 1000/s\n\
             10.9.0.3         d6:00:00:00:00:03  80 µs\n\
             10.9.0.5         d6:00:00:00:00:05  80 µs\n\
             --- 2 of 5 addresses answered; 12 requests in 0.90 s\n"
        );
        // Five first requests a millisecond apart (the rate), then the
        // retries of the silent ones (and of the slow one, once) 300 ms
        // after each.
        let ms: Vec<u128> = sim.wire.times().iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 1, 2, 3, 4, 300, 302, 303, 304, 600, 602, 604]);
        // -q: each MAC beside its address (MACs alone said nothing).
        let mut quiet = Sim::new(vec![neighbour(5, ip(5)), neighbour(3, ip(3))]);
        let args = quiet.args(&["-q", "10.9.0.0/29"]);
        let mut link = quiet.link();
        let ran = quiet.run(|clock, env| arp::sweep_over(&args, &subnet, &mut link, clock, env));
        assert_eq!(
            ran.out,
            "10.9.0.3 d6:00:00:00:00:03\n10.9.0.5 d6:00:00:00:00:05\n"
        );
        let (cache, _) = cachefile::load(&sim.cache_file());
        let cached: Vec<(Ipv4Addr, u64)> = cache
            .entries()
            .map(|e| (e.ip, e.learned_at_ms - VirtualClock::WALL_EPOCH_MS))
            .collect();
        assert_eq!(cached, [(ip(3), 51), (ip(5), 353)]);
    }

    #[test]
    fn dad_finds_the_owner_and_passes_a_free_address() {
        let mut sim = Sim::new(vec![neighbour(7, PEER)]);
        let args = sim.args(&["-D", "10.9.0.2"]);
        let mut link = sim.link();
        let taken =
            sim.run(|clock, env| arp::claim_over(PEER, &args, &interface(), &mut link, clock, env));
        assert_eq!(taken.outcome, Outcome::Negative);
        assert_eq!(
            taken.out,
            "DAD 10.9.0.2 on sim0 (02:00:00:00:00:01)\n10.9.0.2 is in use by d6:00:00:00:00:07\n"
        );
        let probes = sim.wire.0.borrow().clone();
        assert_eq!(probes.len(), 1);
        assert_eq!(
            probes[0].1.sender_ip,
            Ipv4Addr::UNSPECIFIED,
            "RFC 5227 probe"
        );

        let mut sim = Sim::new(vec![neighbour(7, PEER)]);
        let free = Ipv4Addr::new(10, 9, 0, 9);
        let args = sim.args(&["-D", "10.9.0.9"]);
        let mut link = sim.link();
        let ran =
            sim.run(|clock, env| arp::claim_over(free, &args, &interface(), &mut link, clock, env));
        assert_eq!(ran.outcome, Outcome::Success);
        assert_eq!(
            ran.out,
            "DAD 10.9.0.9 on sim0 (02:00:00:00:00:01)\n10.9.0.9 is free: nobody answered 3 probes\n"
        );
        let secs = Duration::from_secs;
        assert_eq!(sim.wire.times(), [secs(0), secs(1), secs(2)]);
        assert_eq!(ran.took, secs(3), "the last probe is waited for");
    }
}
