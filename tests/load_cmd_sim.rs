//! `nettool load` as a whole on the in-memory link and its virtual clock:
//! no root, no namespace. The far end is nettool's own interface: a
//! listener that accepts everything (or holds every connection
//! unaccepted), or no listener at all, which answers every SYN with RST.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use std::time::Duration;

use clap::Parser;
use nettool::cli::{Cli, Command, LoadArgs};
use nettool::cmd::load::load_over;
use nettool::cmd::{Captured, Given};
use nettool::link::mem::{MemLink, Responder, VirtualClock};
use nettool::machine::{Machine, RxChecksum};
use nettool::outcome::Outcome;
use nettool::report::Reporter;
use nettool::report::event::LoadResult;
use nettool::setup::Path;
use nettool::stack::iface::{Interface, InterfaceConfig, ListenerConfig};
use nettool::tcp::{self, IssSource, SeqNum};
use nettool::time::Instant;
use nettool::wire::MacAddr;
use nettool::wire::arp::ArpRepr;
use nettool::wire::tcp::{ChecksumMode, Flags, TcpRepr};

const US_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const PEER_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const US_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const LATENCY: Duration = Duration::from_micros(200);

/// The far end: nettool's interface, with a listener on port 80 or none.
struct Peer {
    iface: Interface,
    listening: bool,
    /// Closes each connection as it accepts it (its FIN).
    closes: bool,
    /// Also has this address: answers ARP for it (a DAD probe too).
    owns: Option<Ipv4Addr>,
    /// What it saw, read once the run is over.
    seen: Rc<RefCell<Seen>>,
}

#[derive(Default)]
struct Seen {
    /// The ARP probes, by target.
    probes: Vec<Ipv4Addr>,
    /// The sources the connections came from.
    sources: std::collections::BTreeSet<std::net::IpAddr>,
}

impl Peer {
    fn new(listening: bool) -> Peer {
        let mut iface = Interface::new(InterfaceConfig {
            ip: PEER_IP,
            mac: PEER_MAC,
            ipv6: None,
            next_hop_mac: Some(US_MAC),
            // No flow and no listener: a RST, as a kernel answers.
            answer_arp: true,
            trace: false,
        });
        if listening {
            iface.listen(
                SocketAddrV4::new(PEER_IP, 80),
                ListenerConfig {
                    tcp: tcp::Config::default(),
                    iss: IssSource::Fixed(SeqNum(1)),
                    backlog: 100_000,
                },
            );
        }
        Peer {
            iface,
            listening,
            closes: false,
            owns: None,
            seen: Rc::default(),
        }
    }

    fn out(&mut self, now: Instant) -> Vec<(Duration, Vec<u8>)> {
        if self.listening {
            while let Some(key) = self.iface.accept(SocketAddrV4::new(PEER_IP, 80)) {
                self.seen.borrow_mut().sources.insert(key.remote.ip());
                if self.closes {
                    self.iface.conn_mut(key).expect("accepted").close(now);
                }
            }
        }
        while self.iface.poll_event().is_some() {}
        std::iter::from_fn(|| self.iface.poll_transmit(now))
            .map(|f| (LATENCY, f))
            .collect()
    }
}

impl Responder for Peer {
    fn on_frame(&mut self, now: Instant, frame: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        if let Ok((_, arp)) = ArpRepr::from_frame(frame)
            && arp.sender_ip.is_unspecified()
        {
            self.seen.borrow_mut().probes.push(arp.target_ip);
            if let Some(reply) = self.owns.and_then(|ip| arp.reply_for(PEER_MAC, ip)) {
                return vec![(LATENCY, reply.to_frame(PEER_MAC, arp.sender_mac))];
            }
        }
        self.iface.handle_frame(now, frame, RxChecksum::Unknown);
        self.out(now)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.iface.poll_timeout()
    }
    fn on_time(&mut self, now: Instant) -> Vec<(Duration, Vec<u8>)> {
        self.iface.handle_timeout(now);
        self.out(now)
    }
}

fn args(argv: &[&str]) -> LoadArgs {
    let mut all = vec!["nettool", "load", "10.9.0.2:80"];
    all.extend(argv);
    match Cli::try_parse_from(all).unwrap().command {
        Command::Load(a) => a,
        other => panic!("{other:?}"),
    }
}

struct Ran {
    outcome: Outcome,
    seen: Rc<RefCell<Seen>>,
    /// Frames nettool sent.
    frames: usize,
    out: String,
    err: String,
    took: Duration,
    /// The result's load figures.
    load: LoadResult,
    /// Every frame nettool sent, with the time it left.
    sent: Vec<(Instant, Vec<u8>)>,
}

fn load(argv: &[&str], peer: Peer) -> Ran {
    try_load(argv, peer).unwrap()
}

fn try_load(argv: &[&str], peer: Peer) -> anyhow::Result<Ran> {
    let seen = peer.seen.clone();
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone()).with(peer);
    let mut captured = Captured {
        clock: clock.clone(),
        ..Captured::default()
    };
    let mut env = captured.env();
    let args = args(argv);
    let path = Path::simulated(US_MAC, US_IP, PEER_IP, PEER_MAC);
    let given = Given {
        path: &path,
        local: SocketAddrV4::new(US_IP, args.first_port).into(),
        link: &mut link,
        clock: &mut clock.clone(),
    };
    let mut rep = Reporter::new(args.json);
    let host_owns = [IpAddr::V4(US_IP)].into_iter().collect();
    let ran = load_over(&args, None, None, &host_owns, given, &mut rep, &mut env);
    drop(env);
    let (report, outcome) = ran?;
    Ok(Ran {
        outcome,
        seen,
        frames: link.sent.len(),
        out: nettool::cmd::load::summary(&report),
        err: String::from_utf8(captured.err).unwrap(),
        took: clock.get() - Instant::ZERO,
        load: report.load.expect("a load result"),
        sent: std::mem::take(&mut link.sent),
    })
}

#[test]
fn every_connection_is_established_held_and_reset() {
    let ran = load(&["-c", "5000", "--hold", "3s"], Peer::new(true));
    println!("{}{}took {:?} (virtual)", ran.err, ran.out, ran.took);
    assert_eq!(ran.outcome, Outcome::Success, "{}{}", ran.out, ran.err);
    assert!(
        ran.out
            .starts_with("5000 of 5000 connections established (0 refused"),
        "{}",
        ran.out
    );
    assert!(
        ran.out.contains("connect time (SYN to ESTABLISHED): p50"),
        "{}",
        ran.out
    );
    // Held 3 s: three progress lines at least, on stderr.
    assert!(
        ran.err.matches("established 5000").count() >= 3,
        "{}",
        ran.err
    );
    assert!(ran.took >= Duration::from_secs(3), "{:?}", ran.took);
    assert!(ran.took < Duration::from_secs(5), "{:?}", ran.took);
}

#[test]
fn a_rate_paces_the_openings() {
    let ran = load(
        &["-c", "500", "--rate", "1000/s", "--hold", "0s"],
        Peer::new(true),
    );
    assert_eq!(ran.outcome, Outcome::Success, "{}{}", ran.out, ran.err);
    // 500 at 1000 a second: half a second, give or take a tick.
    let open = ran
        .out
        .split(" in ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse::<f64>().ok())
        .expect("the opening's time");
    assert!((0.45..0.6).contains(&open), "{open} s\n{}", ran.out);
}

#[test]
fn a_closed_port_refuses_every_connection() {
    let ran = load(&["-c", "300", "--hold", "10s"], Peer::new(false));
    assert_eq!(ran.outcome, Outcome::Negative, "{}{}", ran.out, ran.err);
    assert!(
        ran.out
            .starts_with("0 of 300 connections established (300 refused, 0 timed out"),
        "{}",
        ran.out
    );
    // Nothing to hold: the run ends at once.
    assert!(ran.took < Duration::from_secs(1), "{:?}", ran.took);
}

#[test]
fn a_peer_that_closes_is_answered_and_counted() {
    let peer = Peer {
        closes: true,
        ..Peer::new(true)
    };
    let ran = load(&["-c", "100", "--hold", "2s"], peer);
    assert_eq!(ran.outcome, Outcome::Success, "{}{}", ran.out, ran.err);
    assert!(
        ran.out
            .starts_with("100 of 100 connections established (0 refused, 0 timed out, 0 reset by the peer, 100 closed by the peer)"),
        "{}",
        ran.out
    );
    assert!(
        ran.err.contains("established 0  in handshake 0"),
        "{}",
        ran.err
    );
}

/// Frames sent by 100 connections held 5 s and closed as `close` says,
/// with `extra` arguments.
fn frames(close: &str, extra: &[&str]) -> usize {
    let mut argv = vec!["-c", "100", "--hold", "5s", "--close", close];
    argv.extend(extra);
    let ran = load(&argv, Peer::new(true));
    assert_eq!(ran.outcome, Outcome::Success, "{}{}", ran.out, ran.err);
    ran.frames
}

#[test]
fn each_connection_is_a_syn_an_ack_and_a_rst_or_less_as_asked() {
    // SYN, ACK, and the RST at the end.
    assert_eq!(frames("reset", &[]), 300);
    // `none` leaves them to the peer: not a word at the end.
    assert_eq!(frames("none", &[]), 200);
}

#[test]
fn keepalives_go_out_on_idle_connections() {
    // After 2 s of silence, then every 2 s the peer answers: two probes
    // each in a 5 s hold.
    // A probe after 2 s of silence (and up to 2 s more: the spread), then
    // 2 s and more after each answer: one or two each in a 5 s hold.
    let with = frames("reset", &["--keepalive", "2"]);
    assert!((400..=500).contains(&with), "{with} frames");
}

/// Connections opened within milliseconds come due for their first
/// keepalive spread over the interval after the idle time, not all at
/// once: connection i waits `--keepalive` plus (i mod 64)/64 of it.
#[test]
fn keepalives_come_due_spread_over_the_interval() {
    let ran = load(
        &["-c", "6400", "--hold", "20s", "--keepalive", "8"],
        Peer::new(true),
    );
    assert_eq!(ran.outcome, Outcome::Success, "{}{}", ran.out, ran.err);
    // Each connection's ACK-only segments: its handshake's ACK, then its
    // probes; the first probe's time, counted in half-second slots from
    // the handshake's ACK.
    let mut acks: std::collections::HashMap<u16, Vec<Instant>> = Default::default();
    for (at, f) in &ran.sent {
        let Ok((_, _, t)) = TcpRepr::from_frame(f, ChecksumMode::Verify) else {
            continue;
        };
        if t.flags == Flags::NONE && t.ack.is_some() && t.payload.is_empty() {
            acks.entry(t.src_port).or_default().push(*at);
        }
    }
    assert_eq!(acks.len(), 6400);
    let mut slots = [0u32; 17];
    for times in acks.values() {
        assert!(times.len() >= 2, "no probe: {times:?}");
        let idle = times[1] - times[0];
        assert!(
            idle >= Duration::from_millis(7_990) && idle < Duration::from_millis(16_100),
            "first probe after {idle:?}"
        );
        slots[(idle.as_millis().saturating_sub(8000) / 500).min(16) as usize] += 1;
    }
    // 400 in each half second of the eight: spread, not a burst.
    for (i, n) in slots[..16].iter().enumerate() {
        assert!((300..=500).contains(n), "slot {i}: {n} probes: {slots:?}");
    }
}

/// `--sources`: as many addresses as N needs (here 3 of the 4 given, with
/// 500 ports each from 65036), each probed first (DAD), connections from
/// all of them; the host's own address in the list is skipped.
#[test]
fn several_sources_are_checked_then_used_in_turn() {
    let ran = load(
        &[
            "-c",
            "1200",
            "-p",
            "65036",
            "--hold",
            "1s",
            "--sources",
            "10.9.0.1,10.9.0.10,10.9.0.11,10.9.0.12,10.9.0.13",
        ],
        Peer::new(true),
    );
    assert_eq!(ran.outcome, Outcome::Success, "{}{}", ran.out, ran.err);
    assert!(
        ran.out.starts_with("1200 of 1200 connections established"),
        "{}",
        ran.out
    );
    let used: Vec<Ipv4Addr> = (10..=12).map(|i| Ipv4Addr::new(10, 9, 0, i)).collect();
    assert_eq!(
        ran.seen
            .borrow()
            .sources
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        used
    );
    // Three probes for each address used, none for the others.
    for ip in &used {
        let n = ran.seen.borrow().probes.iter().filter(|p| *p == ip).count();
        assert_eq!(n, 3, "probes for {ip}: {:?}", ran.seen.borrow().probes);
    }
    assert_eq!(
        ran.seen.borrow().probes.len(),
        9,
        "{:?}",
        ran.seen.borrow().probes
    );
    assert!(
        ran.err
            .contains("checking that 10.9.0.10, 10.9.0.11, 10.9.0.12 are free"),
        "{}",
        ran.err
    );
    assert!(
        ran.err
            .contains("from 3 addresses (10.9.0.10, 10.9.0.11, 10.9.0.12), in turn"),
        "{}",
        ran.err
    );
    assert!(ran.err.contains("ports 65036-65435 on each"), "{}", ran.err);
    // DAD takes its three seconds before the first SYN.
    assert!(ran.took >= Duration::from_secs(4), "{:?}", ran.took);
}

/// An address some host answers the probe for is skipped, and the next
/// one checked in its place; without a next one, nothing is opened.
#[test]
fn a_source_in_use_is_skipped_for_the_next() {
    let taken = Ipv4Addr::new(10, 9, 0, 11);
    let peer = Peer {
        owns: Some(taken),
        ..Peer::new(true)
    };
    let argv = ["-c", "1000", "-p", "65036", "--hold", "0s"];
    let mut with = argv.to_vec();
    with.extend(["--sources", "10.9.0.10,10.9.0.11,10.9.0.12"]);
    let ran = load(&with, peer);
    assert_eq!(ran.outcome, Outcome::Success, "{}{}", ran.out, ran.err);
    assert!(
        ran.err
            .contains("10.9.0.11 is in use (by 02:00:00:00:00:02): skipped"),
        "{}",
        ran.err
    );
    let used = [Ipv4Addr::new(10, 9, 0, 10), Ipv4Addr::new(10, 9, 0, 12)];
    assert_eq!(
        ran.seen
            .borrow()
            .sources
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        used
    );

    let peer = Peer {
        owns: Some(taken),
        ..Peer::new(true)
    };
    let mut short = argv.to_vec();
    short.extend(["--sources", "10.9.0.10,10.9.0.11"]);
    let e = try_load(&short, peer)
        .err()
        .expect("too few free")
        .to_string();
    assert!(e.contains("1 free address and 2 are needed"), "{e}");
    assert!(e.contains("10.9.0.11 (by 02:00:00:00:00:02)"), "{e}");
}

/// With --keepalive, the hold's probes and their answers are counted.
#[test]
fn the_keepalives_of_the_hold_are_counted() {
    let ran = load(
        &["-c", "100", "--hold", "5s", "--keepalive", "2"],
        Peer::new(true),
    );
    assert_eq!(ran.outcome, Outcome::Success, "{}{}", ran.out, ran.err);
    // A probe 2 s to 4 s after the handshakes (the spread), some a second
    // before the hold ends; every one answered but those in flight at the
    // end, and the figures add up.
    let l = ran.load;
    let (sent, received) = (
        l.held_segments_sent.unwrap(),
        l.held_segments_received.unwrap(),
    );
    let unanswered = l.keepalives_unanswered.expect("counted");
    assert!((100..200).contains(&sent), "{sent} probes: {}", ran.out);
    assert_eq!(received + unanswered, sent, "{}", ran.out);
    assert!(
        ran.out.contains(&format!(
            "while held: {sent} segments sent (keepalive probes), {received} received (their \
             answers), {unanswered} probes unanswered at the end"
        )),
        "{}",
        ran.out
    );
}

/// The memory held: in each progress line and object, and in the result
/// (base, held, peak, and per connection), from this process's RSS.
#[test]
fn the_memory_held_is_reported() {
    let ran = load(&["-c", "2000", "--hold", "2s"], Peer::new(true));
    assert_eq!(ran.outcome, Outcome::Success, "{}{}", ran.out, ran.err);
    assert!(ran.err.contains(" MiB"), "{}", ran.err);
    let progress = ran
        .err
        .lines()
        .filter(|l| l.contains("established 2000"))
        .count();
    let held = ran
        .err
        .lines()
        .filter(|l| l.contains("memory held "))
        .count();
    assert!(progress >= 2 && held >= progress, "{}", ran.err);
    let l = ran.load;
    let (base, rss, peak) = (
        l.rss_base_bytes.unwrap(),
        l.rss_held_bytes.unwrap(),
        l.rss_peak_bytes.unwrap(),
    );
    assert!(base > 0 && rss > 0 && peak >= rss, "{l:?}");
    assert!(l.held_bytes_per_connection.is_some(), "{l:?}");
    assert!(ran.out.contains("memory held: "), "{}", ran.out);
}

/// More connections than one turn closes (16,384): each still gets its
/// RST, batch after batch, and the run ends once all are gone.
#[test]
fn the_close_goes_in_batches_and_resets_every_connection() {
    let ran = load(&["-c", "40000", "--hold", "1s"], Peer::new(true));
    assert_eq!(ran.outcome, Outcome::Success, "{}{}", ran.out, ran.err);
    let rsts = ran
        .sent
        .iter()
        .filter_map(|(_, f)| TcpRepr::from_frame(f, ChecksumMode::Verify).ok())
        .filter(|(_, _, t)| t.flags.contains(Flags::RST))
        .count();
    assert_eq!(rsts, 40_000);
    assert_eq!(ran.load.progress.established, 0, "{}", ran.out);
}
