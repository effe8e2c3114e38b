//! `nettool handshake` as a whole (arguments in, the lines a user reads
//! out) on the in-memory link and its virtual clock: no root, no
//! namespace, exact timings. The peer is nettool's own engine in LISTEN,
//! or a closed port, or nobody.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use clap::Parser;
use nettool::cli::{Cli, Command, HandshakeArgs};
use nettool::cmd::tcp::{close_over, handshake_over};
use nettool::cmd::{Captured, Given};
use nettool::link::mem::{MemLink, Responder, VirtualClock};
use nettool::outcome::Outcome;
use nettool::setup::Path;
use nettool::tcp::{self, Connection, IssSource, SeqNum};
use nettool::time::Instant;
use nettool::wire::MacAddr;
use nettool::wire::tcp::{ChecksumMode, Flags, TcpRepr};
use rstest::rstest;

const US_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const PEER_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const US: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 9, 0, 1), 40000);
const PEER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 9, 0, 2), 80);
/// From the peer's sending to our receiving: the in-memory link shows a
/// frame to the peer the moment it leaves, so this is the round trip.
const LATENCY: Duration = Duration::from_micros(100);

/// A listening peer: nettool's engine in LISTEN, holding what it accepts.
struct Listener(Connection);

impl Listener {
    fn new() -> Listener {
        Listener(Connection::listen(
            tcp::Config::default(),
            PEER,
            IssSource::Fixed(SeqNum(7_000_000)),
        ))
    }

    fn output(&mut self, now: Instant) -> Vec<(Duration, Vec<u8>)> {
        while self.0.poll_event().is_some() {}
        std::iter::from_fn(|| self.0.poll_transmit(now))
            .map(|seg| (LATENCY, seg.to_frame(PEER_MAC, US_MAC)))
            .collect()
    }
}

impl Responder for Listener {
    fn on_frame(&mut self, now: Instant, frame: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        if let Ok((_, ip, tcp)) = TcpRepr::from_frame(frame, ChecksumMode::Verify) {
            self.0.handle_segment_from(now, ip.src, &tcp);
        }
        self.output(now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }

    fn on_time(&mut self, now: Instant) -> Vec<(Duration, Vec<u8>)> {
        self.0.handle_timeout(now);
        self.output(now)
    }
}

/// A port nobody listens on: every SYN draws a RST (RFC 9293 §3.5.2).
struct ClosedPort;

impl Responder for ClosedPort {
    fn on_frame(&mut self, _now: Instant, frame: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        let Ok((_, ip, tcp)) = TcpRepr::from_frame(frame, ChecksumMode::Verify) else {
            return Vec::new();
        };
        tcp::rst_for(ip.src, ip.dst, &tcp)
            .map(|rst| vec![(LATENCY, rst.to_frame(PEER_MAC, US_MAC))])
            .unwrap_or_default()
    }
}

/// The way to the peer, as the setup would have found it.
fn path() -> Path {
    Path::simulated(US_MAC, *US.ip(), *PEER.ip(), PEER_MAC)
}

/// The run over `link`, from us.
fn given<'a>(path: &'a Path, link: &'a mut MemLink, clock: &'a mut VirtualClock) -> Given<'a> {
    Given {
        path,
        local: US.into(),
        link,
        clock,
    }
}

fn args(extra: &[&str]) -> HandshakeArgs {
    let mut argv = vec!["nettool", "handshake"];
    argv.extend(extra);
    argv.push("10.9.0.2:80");
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Handshake(a) => a,
        _ => unreachable!(),
    }
}

/// Runs `nettool handshake [extra] 10.9.0.2:80` against `peer`; its
/// outcome, stdout, and how long it took on the virtual clock.
fn handshake(extra: &[&str], peer: Option<Box<dyn Responder>>) -> (Outcome, String, Duration) {
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone());
    if let Some(peer) = peer {
        link = link.with(BoxedResponder(peer));
    }
    let mut captured = Captured::default();
    let mut run_clock = clock.clone();
    let outcome = handshake_over(
        &args(extra),
        given(&path(), &mut link, &mut run_clock),
        &mut captured.env(),
    )
    .unwrap();
    let took = clock.get() - Instant::ZERO;
    (outcome, captured.stdout(), took)
}

struct BoxedResponder(Box<dyn Responder>);

impl Responder for BoxedResponder {
    fn on_frame(&mut self, now: Instant, frame: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        self.0.on_frame(now, frame)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
    fn on_time(&mut self, now: Instant) -> Vec<(Duration, Vec<u8>)> {
        self.0.on_time(now)
    }
}

#[test]
fn an_open_port_answers_in_one_round_trip() {
    let (outcome, out, _) = handshake(&[], Some(Box::new(Listener::new())));
    assert_eq!(outcome, Outcome::Success, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "HANDSHAKE 10.9.0.2:80 from 10.9.0.1:40000 on sim0 \
         (10.9.0.1 is not the kernel's: nettool answers ARP for it)"
    );
    assert_eq!(
        lines[1],
        "next hop 10.9.0.2 is-at 02:00:00:00:00:02 (scripted)"
    );
    for want in [
        "  0.000000 state CLOSED → SYN-SENT",
        "  0.000000 out   IP 10.9.0.1.40000 > 10.9.0.2.80: Flags [S], seq ",
        "  0.000100 in    IP 10.9.0.2.80 > 10.9.0.1.40000: Flags [S.], seq 7000000, ack ",
        "  0.000100 state SYN-SENT → ESTABLISHED",
        "  0.000100 out   IP 10.9.0.1.40000 > 10.9.0.2.80: Flags [.], ack 1,",
        "  0.500100 note  ending the connection: reset (RST)",
        "  0.500100 out   IP 10.9.0.1.40000 > 10.9.0.2.80: Flags [R], seq ",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(want)),
            "{want:?} missing:\n{out}"
        );
    }
    assert_eq!(
        lines.last().unwrap(),
        &"port 80 on 10.9.0.2 is open: SYN-ACK after 100 µs"
    );
}

#[test]
fn a_closed_port_refuses_with_a_reset() {
    let (outcome, out, _) = handshake(&[], Some(Box::new(ClosedPort)));
    assert_eq!(outcome, Outcome::Negative, "{out}");
    assert!(
        out.contains("  0.000100 in    IP 10.9.0.2.80 > 10.9.0.1.40000: Flags [R.], seq 0, ack "),
        "{out}"
    );
    assert_eq!(
        out.lines().last().unwrap(),
        "port 80 on 10.9.0.2 is closed: RST after 100 µs"
    );
}

#[rstest]
// The SYN, then a retransmission after 1 s, 2 s, 4 s…; then one last RTO.
#[case(0, 1, Duration::from_secs(1))]
#[case(1, 2, Duration::from_secs(3))]
#[case(3, 4, Duration::from_secs(15))]
fn silence_is_no_answer_after_every_retry(
    #[case] retries: u32,
    #[case] syns: u32,
    #[case] gave_up_at: Duration,
) {
    let retries = retries.to_string();
    let (outcome, out, took) = handshake(&["--retries", &retries], None);
    assert_eq!(outcome, Outcome::Negative, "{out}");
    assert_eq!(out.matches("Flags [S]").count() as u32, syns, "{out}");
    let s = if syns == 1 { "" } else { "s" };
    assert_eq!(
        out.lines().last().unwrap(),
        format!("no answer from 10.9.0.2:80 after {syns} SYN{s}: filtered, or the host is down")
    );
    assert_eq!(took, gave_up_at, "{out}");
}

/// The link fails once the SYN-ACK is in (the interface went away): the
/// run ends in that error, yet the connection it opened is reset on the
/// way out, as on Ctrl-C, so the peer is not left holding it.
#[test]
fn a_link_that_fails_mid_run_still_resets_the_peer() {
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone())
        .with(Listener::new())
        .failing_after(1);
    let mut captured = Captured::default();
    let failed = handshake_over(
        &args(&[]),
        given(&path(), &mut link, &mut clock.clone()),
        &mut captured.env(),
    );
    let out = captured.stdout();
    let err = failed.expect_err(&out);
    assert!(format!("{err:#}").contains("down"), "{err:#}");
    let segments: Vec<TcpRepr> = link
        .sent
        .iter()
        .map(|(_, f)| TcpRepr::from_frame(f, ChecksumMode::Verify).unwrap().2)
        .collect();
    let flags: Vec<Flags> = segments.iter().map(|s| s.flags).collect();
    // (The ACK bit is `ack` being there: the third ACK has no flag.)
    assert_eq!(flags, [Flags::SYN, Flags::NONE, Flags::RST], "{out}");
    // At the peer's RCV.NXT, where the ACK was: the peer accepts it.
    assert_eq!(segments[2].seq, segments[1].seq, "{out}");
    assert!(out.contains("Flags [R], seq "), "the RST is shown:\n{out}");
}

/// A listening peer that closes only after nettool's FIN (CLOSE-WAIT,
/// then its own FIN): a server waiting for a request, as HTTP's does.
struct WaitsForUs(Listener);

impl Responder for WaitsForUs {
    fn on_frame(&mut self, now: Instant, frame: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        let mut out = self.0.on_frame(now, frame);
        if self.0.0.state() == tcp::State::CloseWait {
            self.0.0.close(now);
            out.extend(self.0.output(now));
        }
        out
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
    fn on_time(&mut self, now: Instant) -> Vec<(Duration, Vec<u8>)> {
        self.0.on_time(now)
    }
}

/// `close --passive` without a request: the peer does not close first,
/// so nettool closes after --linger, and says so (exit 1) instead of
/// "passive close (the peer's FIN first) complete".
#[test]
fn a_passive_close_the_peer_never_starts_says_what_happened() {
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone()).with(WaitsForUs(Listener::new()));
    let argv = [
        "nettool",
        "close",
        "--passive",
        "--time-wait",
        "1s",
        "10.9.0.2:80",
    ];
    let Command::Close(args) = Cli::try_parse_from(argv).unwrap().command else {
        unreachable!()
    };
    let mut captured = Captured::default();
    let mut run_clock = clock.clone();
    let outcome = close_over(
        &args,
        given(&path(), &mut link, &mut run_clock),
        &mut captured.env(),
    )
    .unwrap();
    let out = captured.stdout();
    assert_eq!(outcome, Outcome::Negative, "{out}");
    assert!(
        out.contains("the peer did not close within --linger; closing first"),
        "{out}"
    );
    let last = out.lines().last().unwrap();
    assert!(last.contains("no passive close"), "{out}");
    assert!(last.contains("--data"), "{out}");
    assert!(
        !out.contains("passive close (the peer's FIN first) complete"),
        "{out}"
    );
}

/// `--ladder --ascii`: the run drawn (our states as the engine reported
/// them, the peer's inferred), against golden text in tests/golden/ladder/
/// (`NETTOOL_BLESS=1 cargo test --test handshake_sim ladder` rewrites it).
#[rstest]
#[case::open("cmd-handshake", &[], Outcome::Success)]
#[case::refused("cmd-refused", &[], Outcome::Negative)]
#[case::withheld("cmd-no-ack", &["--no-ack", "--observe", "4s"], Outcome::Success)]
fn the_ladder_draws_the_run(#[case] name: &str, #[case] extra: &[&str], #[case] want: Outcome) {
    let peer: Box<dyn Responder> = if name == "cmd-refused" {
        Box::new(ClosedPort)
    } else {
        Box::new(Listener::new())
    };
    let mut argv = vec!["--ladder", "--ascii"];
    argv.extend(extra);
    let (outcome, out, _) = handshake(&argv, Some(peer));
    assert_eq!(outcome, want, "{out}");
    assert!(
        !out.contains("IP 10.9.0.1.40000 >"),
        "no tcpdump lines:\n{out}"
    );
    // The ladder's rows (the header and the result are the command's).
    for line in out.lines().filter(|l| l.contains('|')) {
        assert!(line.is_ascii() && line.len() <= 80, "{line:?}");
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/golden/ladder/{name}.ascii.txt"));
    if std::env::var_os("NETTOOL_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &out).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        out,
        golden,
        "{} differs (NETTOOL_BLESS=1 rewrites it)",
        path.display()
    );
}

/// JSON is the same with or without --ladder.
#[test]
fn the_ladder_leaves_json_alone() {
    let (_, plain, _) = handshake(&["--json"], Some(Box::new(Listener::new())));
    let (_, drawn, _) = handshake(&["--json", "--ladder"], Some(Box::new(Listener::new())));
    // The ISS differs between runs: compare the events' names and order.
    let names = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| l.split(',').next().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(names(&plain), names(&drawn));
    assert!(
        drawn.lines().all(|l| l.starts_with("{\"event\"")),
        "{drawn}"
    );
}

/// With --json, each SYN sent again is a `retransmit` event put down to
/// the timer, and the sender's state a `sender` event whenever it moved
/// (its RTO doubling with each timeout, RFC 6298 §5.5).
#[test]
fn json_says_why_each_syn_went_again() {
    let (outcome, out, _) = handshake(&["--json", "--retries", "2"], None);
    assert_eq!(outcome, Outcome::Negative, "{out}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |name: &str| -> Vec<&serde_json::Value> {
        lines.iter().filter(|v| v["event"] == name).collect()
    };
    let again = of("retransmit");
    assert_eq!(again.len(), 2, "{out}");
    assert!(
        again.iter().all(|v| v["cause"] == "rto" && v["len"] == 1),
        "{out}"
    );
    let syn_seq = of("segment")[0]["seq"].clone();
    assert!(again.iter().all(|v| v["seq"] == syn_seq), "{out}");
    let rtos: Vec<u64> = of("sender")
        .iter()
        .map(|v| v["rto_us"].as_u64().unwrap())
        .collect();
    assert_eq!(rtos, [1_000_000, 2_000_000, 4_000_000], "{out}");
    // For people, nothing new: the same lines as before.
    let (_, text, _) = handshake(&["--retries", "2"], None);
    assert!(!text.contains("retransmit"), "{text}");
}
