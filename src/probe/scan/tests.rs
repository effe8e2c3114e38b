use super::sim::{self, Bottleneck, Host, Path};
use super::*;
use crate::machine::{Feed, RxChecksum};
use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
use crate::wire::tcp::ChecksumMode;
use crate::wire::{MacAddr, SeqNum};
use rstest::rstest;

const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const THEM: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const MAC_US: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const MAC_THEM: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const STEPS: u64 = 10_000_000;

/// A small fixed-rate scan, the shape of the first tests.
fn config(ports: Vec<u16>) -> Config {
    Config {
        template: Template::syn(MAC_US, MAC_THEM, US, THEM),
        sport: 50000,
        ports,
        rate: Rate::Fixed(1000),
        concurrency: 2,
        retries: 1,
        timeout: Duration::from_millis(100),
        min_timeout: Duration::from_millis(100),
        seed: 3,
    }
}

/// `nettool scan`'s defaults, with a ceiling of `max` SYNs per second.
fn adaptive(ports: Vec<u16>, max: u32) -> Config {
    Config {
        rate: Rate::Adaptive { min: 100, max },
        concurrency: 1024,
        retries: 2,
        timeout: Duration::from_millis(500),
        ..config(ports)
    }
}

fn run(config: Config, host: &Host, path: Path) -> sim::Run {
    sim::run(
        Scanner::new(Instant::ZERO, config),
        Instant::ZERO,
        host,
        path,
        STEPS,
    )
}

/// Open ports and dropped ones, the rest closed.
fn host(open: &[u16], dropped: impl IntoIterator<Item = u16>) -> Host {
    Host {
        open: open.to_vec(),
        dropped: dropped.into_iter().collect(),
        lose_first: vec![],
    }
}

/// Ports in `state`, in order.
fn in_state(r: &sim::Run, state: PortState) -> Vec<u16> {
    r.results
        .iter()
        .filter(|x| x.state == state)
        .map(|x| x.port)
        .collect()
}

/// Every port in `ports` has the state `host` gives it.
fn assert_exact(r: &sim::Run, ports: &[u16], host: &Host) {
    assert_eq!(r.results.len(), ports.len(), "every port has a result");
    let mut open = host.open.clone();
    open.sort_unstable();
    let mut dropped = host.dropped.clone();
    dropped.sort_unstable();
    assert_eq!(in_state(r, PortState::Open), open, "open ports");
    assert_eq!(in_state(r, PortState::Filtered), dropped, "filtered ports");
    let closed = in_state(r, PortState::Closed).len();
    assert_eq!(closed, ports.len() - open.len() - dropped.len());
}

fn answer(port: u16, ack: u32, flags: Flags) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: port,
        dst_port: 50000,
        seq: SeqNum(9),
        ack: Some(SeqNum(ack)),
        flags,
        window: 0,
        urgent: 0,
        options: vec![],
        payload: &[],
    };
    let ip = Ipv4Repr::new(THEM, US, IpProtocol::Tcp, tcp.buffer_len());
    tcp.to_frame(MAC_THEM, MAC_US, &ip)
}

#[test]
fn states_agree_with_the_host() {
    let h = host(&[2, 7], [8, 9, 10]);
    let r = run(config((1..=10).collect()), &h, Path::clean(Duration::ZERO));
    assert_eq!(in_state(&r, PortState::Open), vec![2, 7]);
    assert_eq!(in_state(&r, PortState::Closed), vec![1, 3, 4, 5, 6]);
    assert_eq!(in_state(&r, PortState::Filtered), vec![8, 9, 10]);
    assert_eq!(r.resets, 2, "every open port is reset");
    for f in r.results.iter().filter(|x| x.state == PortState::Filtered) {
        assert_eq!((f.tries, f.why), (2, Why::NoResponse), "one retry each");
    }
}

#[test]
fn the_rate_bounds_the_sending() {
    // 10 closed ports at 1000/s: the last SYN leaves 9 ms after the first.
    let r = run(
        config((1..=10).collect()),
        &Host::default(),
        Path::clean(Duration::ZERO),
    );
    assert_eq!(r.end, Instant::from_millis(9));
}

#[test]
fn a_wrong_ack_proves_nothing() {
    let mut s = Scanner::new(Instant::ZERO, config(vec![80]));
    let mut buf = Vec::new();
    assert!(s.poll_transmit_into(Instant::ZERO, &mut buf));
    let (_, _, tcp) = TcpRepr::from_frame(&buf, ChecksumMode::Verify).unwrap();
    let seq = tcp.seq.get();
    s.handle_frame(
        Instant::ZERO,
        &answer(80, seq, Flags::RST),
        RxChecksum::Unknown,
    );
    assert!(s.poll_event().is_none());
    s.handle_frame(
        Instant::ZERO,
        &answer(80, seq + 1, Flags::RST),
        RxChecksum::Unknown,
    );
    assert_eq!(s.poll_event().map(|r| r.state), Some(PortState::Closed));
}

#[test]
fn the_timeout_follows_the_answers_round_trips() {
    let mut c = config(vec![1, 2]);
    c.timeout = Duration::from_secs(1);
    c.min_timeout = Duration::from_millis(20);
    let mut s = Scanner::new(Instant::ZERO, c);
    assert_eq!(s.try_timeout(), Duration::from_secs(1), "no answer yet");
    let mut buf = Vec::new();
    assert!(s.poll_transmit_into(Instant::ZERO, &mut buf));
    let (_, _, tcp) = TcpRepr::from_frame(&buf, ChecksumMode::Verify).unwrap();
    let at = Instant::from_millis(10);
    s.handle_frame(
        at,
        &answer(1, tcp.seq.get() + 1, Flags::RST),
        RxChecksum::Unknown,
    );
    // One sample of 10 ms: SRTT 10 ms, RTTVAR 5 ms, so 30 ms.
    assert_eq!(s.try_timeout(), Duration::from_millis(30));
    assert!(s.poll_transmit_into(at, &mut buf));
    // Port 1's stale deadline (1 s) does not hide port 2's.
    assert_eq!(s.poll_timeout(), Some(Instant::from_millis(40)));
}

#[test]
fn concurrency_caps_the_ports_in_flight() {
    let mut s = Scanner::new(Instant::ZERO, config((1..=10).collect()));
    let mut buf = Vec::new();
    let mut n = 0;
    let mut now = Instant::ZERO;
    for _ in 0..10 {
        while s.poll_transmit_into(now, &mut buf) {
            n += 1;
        }
        now += Duration::from_millis(1);
    }
    assert_eq!(n, 2, "two ports at once, none answered yet");
}

#[test]
fn an_answer_between_the_timeout_and_the_retry_ends_the_port() {
    let mut c = config(vec![1, 2]);
    c.rate = Rate::Fixed(1); // the retry would wait a second
    let mut s = Scanner::new(Instant::ZERO, c);
    let mut buf = Vec::new();
    assert!(s.poll_transmit_into(Instant::ZERO, &mut buf));
    let (_, _, tcp) = TcpRepr::from_frame(&buf, ChecksumMode::Verify).unwrap();
    s.handle_timeout(Instant::from_millis(100)); // port 1 is due again
    let late = answer(1, tcp.seq.get() + 1, Flags::RST);
    s.handle_frame(Instant::from_millis(150), &late, RxChecksum::Unknown);
    assert!(s.poll_transmit_into(Instant::from_millis(1000), &mut buf));
    let (_, _, tcp) = TcpRepr::from_frame(&buf, ChecksumMode::Verify).unwrap();
    assert_eq!(tcp.dst_port, 2, "no SYN for the port already answered");
    assert_eq!(s.waiting.len(), 1, "port 1's slot is free");
}

// ---- The adaptive rate, against simulated paths.

/// Every 97th port open, every 1009th dropped by a firewall.
fn lab_host(ports: &[u16]) -> Host {
    host(
        &ports
            .iter()
            .copied()
            .filter(|p| p % 97 == 0)
            .collect::<Vec<_>>(),
        ports.iter().copied().filter(|p| p % 1009 == 0),
    )
}

#[test]
fn on_a_clean_path_the_rate_ramps_up_to_the_ceiling() {
    let ports: Vec<u16> = (1..=30_000).collect();
    let h = lab_host(&ports);
    let r = run(
        adaptive(ports.clone(), 20_000),
        &h,
        Path::clean(Duration::from_micros(500)),
    );
    assert_exact(&r, &ports, &h);
    assert_eq!((r.pace.drops, r.pace.cuts, r.dropped), (0, 0, 0));
    assert_eq!((r.pace.peak, r.pace.rate), (20_000.0, 20_000.0));
    // 1000/s → 20,000/s is 4.3 doublings, one per 100 ms timeout: the
    // ceiling is reached within 0.6 s and held from then on.
    let at_ceiling = r.rate_between(Instant::from_millis(600), Instant::from_millis(1200));
    assert!(at_ceiling > 19_900.0, "{at_ceiling}/s");
    assert_eq!(
        r.syns.len(),
        ports.len() + 2 * h.dropped.len(),
        "no SYN wasted"
    );
    // At a fixed 20,000/s the SYNs alone take 1.5 s; the ramp costs about 0.4 s.
    assert!(r.end < Instant::from_millis(2300), "{:?}", r.end);
}

#[test]
fn filtered_ports_do_not_slow_the_scan_down() {
    let ports: Vec<u16> = (1..=20_000).collect();
    // One port in 20 dropped, forever: 1000 silent ports, 3 tries each.
    let h = host(&[81, 443], ports.iter().copied().filter(|p| p % 20 == 0));
    let r = run(
        adaptive(ports.clone(), 20_000),
        &h,
        Path::clean(Duration::from_micros(500)),
    );
    assert_exact(&r, &ports, &h);
    assert_eq!((r.pace.drops, r.pace.cuts), (0, 0), "silence is no loss");
    assert_eq!(r.pace.peak, 20_000.0);
    let none_filtered = run(
        adaptive(ports.clone(), 20_000),
        &host(&[81, 443], []),
        Path::clean(Duration::from_micros(500)),
    );
    let at_ceiling = r.rate_between(Instant::from_millis(700), Instant::from_millis(1100));
    assert!(at_ceiling > 19_900.0, "{at_ceiling}/s");
    // The filtered ports add their retries' waits (2 × 100 ms) and SYNs
    // (2000 at 20,000/s: 100 ms), and a ramp 5 % slower for their
    // silence; nothing more.
    let extra = r.end.saturating_duration_since(none_filtered.end);
    assert!(extra < Duration::from_millis(450), "{extra:?}");
}

#[test]
fn a_host_that_filters_most_ports_is_scanned_as_fast_as_at_the_old_fixed_rate() {
    // Nine ports in ten dropped: few answers to grow on, and the silent
    // ports fill the in-flight bound (1024) for three timeouts each, which
    // holds the old fixed 10,000/s to about 3400/s.
    let ports: Vec<u16> = (1..=20_000).collect();
    let h = host(&[440], ports.iter().copied().filter(|p| p % 10 != 0));
    let path = Path::clean(Duration::from_millis(1));
    let r = run(adaptive(ports.clone(), 100_000), &h, path);
    assert_exact(&r, &ports, &h);
    assert_eq!((r.pace.drops, r.pace.cuts), (0, 0));
    let old = run(
        Config {
            rate: Rate::Fixed(10_000),
            ..adaptive(ports.clone(), 100_000)
        },
        &h,
        path,
    );
    // Once the rate has grown (each answer vouching for the nine silent
    // probes around it), the in-flight bound holds both scans alike...
    let steady =
        |r: &sim::Run| r.rate_between(Instant::from_millis(2000), Instant::from_millis(5000));
    assert!(
        steady(&r) >= 0.95 * steady(&old),
        "{} against {}",
        steady(&r),
        steady(&old)
    );
    // ...so the adaptive scan is behind only by its ramp.
    let behind = r.end.saturating_duration_since(old.end);
    assert!(
        behind < Duration::from_millis(1000),
        "{:?} against {:?}",
        r.end,
        old.end
    );
}

/// A bottleneck of `rate` SYNs/s with a queue of `queue` frames, towards
/// the host (a slow link; with a short queue, a policer) or back from it (a
/// host that limits its RSTs and SYN-ACKs), on a scan of ports 1 to `n`.
#[rstest]
#[case::forward_2000(2000.0, 20, true, 8000)]
#[case::back_2000(2000.0, 20, false, 8000)]
#[case::forward_500(500.0, 20, true, 4000)]
#[case::forward_8000(8000.0, 20, true, 32_000)]
#[case::policer_20000(20_000.0, 5, true, 50_000)]
#[case::rst_limit_200(200.0, 1, false, 2000)]
fn a_bottleneck_slows_the_scan_to_its_rate_and_every_port_is_right(
    #[case] rate: f64,
    #[case] queue: usize,
    #[case] forward: bool,
    #[case] n: u16,
) {
    let ports: Vec<u16> = (1..=n).collect();
    let h = lab_host(&ports);
    let neck = Some(Bottleneck { rate, queue });
    let path = Path {
        delay: Duration::from_millis(1),
        forward: neck.filter(|_| forward),
        back: neck.filter(|_| !forward),
    };
    let r = run(adaptive(ports.clone(), 100_000), &h, path);
    assert_exact(&r, &ports, &h);
    assert!(r.pace.cuts >= 1, "{:?}", r.pace);
    assert!(
        r.pace.peak < 100_000.0,
        "never near the ceiling: {:?}",
        r.pace
    );
    // Around the bottleneck: below it on average (the saw-tooth), never
    // far below it.
    let mean = r.mean_rate();
    assert!(
        (0.5 * rate..1.1 * rate).contains(&mean),
        "{mean}/s through a {rate}/s bottleneck: {:?}",
        r.pace
    );
    // Few SYNs lost (mostly while slow start overshoots, before the
    // first loss shows): the rate backs off instead of pushing through.
    let lost = r.syns.len() - ports.len() - 2 * h.dropped.len();
    assert!(
        lost < ports.len() / 10,
        "{lost} SYNs lost of {}",
        ports.len()
    );
}

#[test]
fn the_rate_does_not_grow_while_the_window_holds_the_sending_back() {
    // Two ports in flight, 100 ms round trips: 20 SYNs/s whatever the rate.
    let ports: Vec<u16> = (1..=200).collect();
    let c = Config {
        concurrency: 2,
        ..adaptive(ports.clone(), 100_000)
    };
    let r = run(c, &Host::default(), Path::clean(Duration::from_millis(50)));
    // One answer may come while a single port waits, at the very end.
    assert!(r.pace.peak < pace::START_RATE * 1.01, "{:?}", r.pace);
}

#[test]
fn a_fixed_rate_holds_whatever_the_path_does() {
    let ports: Vec<u16> = (1..=4000).collect();
    let c = Config {
        rate: Rate::Fixed(5000),
        ..adaptive(ports.clone(), 100_000)
    };
    let path = Path {
        delay: Duration::from_millis(1),
        forward: Some(Bottleneck {
            rate: 2000.0,
            queue: 20,
        }),
        back: None,
    };
    let r = run(c, &Host::default(), path);
    assert!(r.pace.drops > 0, "the path lost tries: {:?}", r.pace);
    assert_eq!(r.pace.cuts, 0);
    assert_eq!((r.pace.rate, r.pace.peak), (5000.0, 5000.0));
    // Back to back at 200 µs while there is anything to send.
    let gaps: Vec<Duration> = r
        .syns
        .windows(2)
        .map(|w| w[1].0.saturating_duration_since(w[0].0))
        .collect();
    assert!(
        gaps[..ports.len()]
            .iter()
            .all(|&g| g == Duration::from_micros(200))
    );
    assert!(gaps.iter().all(|&g| g >= Duration::from_micros(200)));
}

/// The gaps between the SYNs to `port`.
fn gaps(r: &sim::Run, port: u16) -> Vec<Duration> {
    r.syns_to(port)
        .windows(2)
        .map(|w| w[1].saturating_duration_since(w[0]))
        .collect()
}

#[test]
fn on_a_clean_path_silence_gets_the_retries_asked_for_one_timeout_apart() {
    let ports: Vec<u16> = (1..=50).collect();
    let r = run(
        adaptive(ports.clone(), 100_000),
        &host(&[], [40]),
        Path::clean(Duration::from_millis(1)),
    );
    assert_eq!(gaps(&r, 40), vec![Duration::from_millis(100); 2]);
}

#[test]
fn after_a_loss_silence_gets_more_tries_and_longer_waits() {
    // Port 5 answers only its third SYN: three tries were needed once,
    // so the silent port 40 gets four, each waiting twice the one before.
    let ports: Vec<u16> = (1..=50).collect();
    let mut h = host(&[], [40]);
    h.lose_first = vec![(5, 2)];
    let r = run(
        adaptive(ports.clone(), 100_000),
        &h,
        Path::clean(Duration::from_millis(1)),
    );
    assert_exact(&r, &ports, &h);
    let port5 = r.results.iter().find(|x| x.port == 5).unwrap();
    assert_eq!((port5.state, port5.tries), (PortState::Closed, 3));
    assert_eq!(r.pace.drops, 1);
    let ms = Duration::from_millis;
    // Port 40's first two tries left before the loss showed (at 206 ms):
    // one timeout each; the third, its third try, waits 4 × 100 ms (under
    // the 500 ms ceiling, --timeout).
    assert_eq!(gaps(&r, 40), vec![ms(100), ms(100), ms(400)]);
}

#[test]
fn a_fixed_rate_keeps_the_retries_and_waits_it_was_given() {
    let ports: Vec<u16> = (1..=50).collect();
    let mut h = host(&[], [40]);
    h.lose_first = vec![(5, 2)];
    let c = Config {
        rate: Rate::Fixed(1000),
        ..adaptive(ports.clone(), 100_000)
    };
    let r = run(c, &h, Path::clean(Duration::from_millis(1)));
    assert_exact(&r, &ports, &h);
    assert_eq!(gaps(&r, 40), vec![Duration::from_millis(100); 2]);
}

fn tally(open: usize, closed: usize, filtered: usize) -> Tally {
    Tally {
        open,
        closed,
        filtered,
    }
}

#[rstest]
#[case::closed_most(tally(1, 5, 2), PortState::Closed, Some(PortState::Open))]
#[case::filtered_most(tally(0, 2, 9), PortState::Filtered, Some(PortState::Closed))]
#[case::tie_goes_to_open(tally(3, 3, 3), PortState::Open, Some(PortState::Open))]
#[case::tie_closed_filtered(tally(0, 4, 4), PortState::Filtered, Some(PortState::Closed))]
#[case::only_filtered(tally(0, 0, 1), PortState::Filtered, Some(PortState::Filtered))]
fn a_tally_names_the_common_state_and_the_verdict(
    #[case] t: Tally,
    #[case] common: PortState,
    #[case] verdict: Option<PortState>,
) {
    assert_eq!((t.most_common(), t.verdict()), (common, verdict));
}

#[test]
fn no_ports_no_verdict() {
    assert_eq!(Tally::of(&[]), Tally::default());
    assert_eq!(Tally::default().verdict(), None);
}

/// Over IPv6, an ICMPv6 destination unreachable quoting the port's SYN
/// makes it filtered, named with its sender (as an ICMP one does over
/// IPv4); a time exceeded or a packet too big says nothing of the port,
/// and an error quoting another SYN (a stale sequence number) is ignored.
#[rstest]
#[case::prohibited(Icmpv6Kind::Unreachable(1), true, true)]
#[case::port_unreachable(Icmpv6Kind::Unreachable(4), true, true)]
#[case::no_route(Icmpv6Kind::Unreachable(0), true, true)]
#[case::time_exceeded(Icmpv6Kind::TimeExceeded(0), true, false)]
#[case::packet_too_big(Icmpv6Kind::PacketTooBig(1280), true, false)]
#[case::another_syn(Icmpv6Kind::Unreachable(1), false, false)]
fn icmpv6_unreachables_filter_the_port(
    #[case] kind: Icmpv6Kind,
    #[case] quotes_our_syn: bool,
    #[case] filtered: bool,
) {
    let us: Ipv6Addr = "fd00:6e74::1".parse().unwrap();
    let them: Ipv6Addr = "fd00:6e74::2".parse().unwrap();
    let router: Ipv6Addr = "fd00:6e74::fe".parse().unwrap();
    let config = Config {
        template: Template::syn(MAC_US, MAC_THEM, us, them),
        ..config(vec![81])
    };
    let t0 = Instant::ZERO;
    let mut s = Scanner::new(t0, config);
    let mut buf = Vec::new();
    assert!(s.poll_transmit_into(t0, &mut buf), "the SYN");
    assert_eq!(&buf[12..14], &[0x86, 0xdd], "an IPv6 SYN");
    let seq = s.seq(81).wrapping_add(u32::from(!quotes_our_syn));
    let error = Icmpv6Error {
        kind,
        protocol: crate::wire::ipv6::NextHeader::Tcp,
        quoted_src: (us, 50000),
        quoted_dst: (them, 81),
        quoted_seq: Some(SeqNum(seq)),
    };
    s.handle_icmp6(t0 + Duration::from_millis(2), router, &error);
    let results = s.results();
    if filtered {
        assert_eq!(results.len(), 1, "{results:?}");
        assert_eq!(results[0].state, PortState::Filtered);
        assert_eq!(
            results[0].why.text(),
            format!("{} from {router}", kind.describe())
        );
    } else {
        assert!(results.is_empty(), "{results:?}");
    }
}
