//! `nettool trace` as a whole (arguments in, the lines a user reads out)
//! on the in-memory link and its virtual clock: no root, no namespaces,
//! exact timings. Two scripted routers answer the SYNs whose TTL runs out
//! with ICMP time exceeded; behind them, nettool's own engine listens on
//! the destination's port, or nothing does.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use clap::Parser;
use nettool::cli::{Cli, Command, TraceArgs};
use nettool::cmd::trace::trace_over;
use nettool::cmd::{Captured, Given};
use nettool::link::mem::{MemLink, Responder, VirtualClock};
use nettool::outcome::Outcome;
use nettool::setup::Path;
use nettool::tcp::{self, Connection, IssSource, SeqNum};
use nettool::time::Instant;
use nettool::wire::MacAddr;
use nettool::wire::ethernet;
use nettool::wire::ipv4::IpProtocol;
use nettool::wire::tcp::{ChecksumMode, Flags, TcpRepr};
use nettool::wire::testing;

const US_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const GW_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const US: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 1), 40000);
const R1: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
const R2: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 2);
const DST: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 3, 0, 2), 80);
/// Each hop adds this to the round trip.
const PER_HOP: Duration = Duration::from_micros(100);

/// Two routers, then the destination: its port listening or closed.
struct TwoRouters {
    listener: Option<Connection>,
}

impl TwoRouters {
    fn new(open: bool) -> TwoRouters {
        TwoRouters {
            listener: open.then(|| {
                Connection::listen(
                    tcp::Config::default(),
                    DST,
                    IssSource::Fixed(SeqNum(7_000_000)),
                )
            }),
        }
    }
}

/// `body` from `from` to us, in a frame from the gateway.
fn frame(from: Ipv4Addr, protocol: IpProtocol, body: &[u8]) -> Vec<u8> {
    testing::ipv4_frame((GW_MAC, US_MAC), (from, *US.ip()), protocol, body)
}

/// ICMP time exceeded in transit from `router`, quoting the probe's IP
/// header and the first 8 bytes of its TCP header, as routers do.
fn time_exceeded(router: Ipv4Addr, probe: &[u8]) -> Vec<u8> {
    let msg = testing::icmp_error(11, 0, &probe[ethernet::HEADER_LEN..]);
    frame(router, IpProtocol::Icmp, &msg)
}

impl Responder for TwoRouters {
    fn on_frame(&mut self, now: Instant, sent: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        let Ok((_, ip, seg)) = TcpRepr::from_frame(sent, ChecksumMode::Verify) else {
            return Vec::new();
        };
        let hops = u32::from(ip.ttl.min(3));
        let delay = PER_HOP * hops;
        match ip.ttl {
            1 => vec![(delay, time_exceeded(R1, sent))],
            2 => vec![(delay, time_exceeded(R2, sent))],
            _ => match &mut self.listener {
                Some(conn) => {
                    conn.handle_segment_from(now, ip.src, &seg);
                    while conn.poll_event().is_some() {}
                    std::iter::from_fn(|| conn.poll_transmit(now))
                        .map(|s| (delay, s.to_frame(GW_MAC, US_MAC)))
                        .collect()
                }
                None => tcp::rst_for(ip.src, ip.dst, &seg)
                    .map(|rst| vec![(delay, rst.to_frame(GW_MAC, US_MAC))])
                    .unwrap_or_default(),
            },
        }
    }
}

fn path() -> Path {
    Path::simulated(US_MAC, *US.ip(), R1, GW_MAC)
}

/// Runs `nettool trace --queries 1 [extra] 10.3.0.2:80` through the routers;
/// its outcome and stdout.
fn trace(extra: &[&str], open: bool) -> (Outcome, String) {
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone()).with(TwoRouters::new(open));
    let (outcome, out) = trace_on(extra, &mut link, &clock);
    (outcome.unwrap(), out)
}

/// [`trace`] over `link`, whatever becomes of the run.
fn trace_on(
    extra: &[&str],
    link: &mut MemLink,
    clock: &VirtualClock,
) -> (anyhow::Result<Outcome>, String) {
    let mut argv = vec!["nettool", "trace", "--queries", "1"];
    argv.extend(extra);
    argv.push("10.3.0.2:80");
    let Command::Trace(args) = Cli::try_parse_from(argv).unwrap().command else {
        unreachable!()
    };
    let args: TraceArgs = args;
    let mut captured = Captured::default();
    let given = Given {
        path: &path(),
        local: US.into(),
        link,
        clock: &mut clock.clone(),
    };
    let outcome = trace_over(&args, given, &mut captured.env());
    (outcome, captured.stdout())
}

#[test]
fn the_routers_then_the_open_port() {
    let (outcome, out) = trace(&[], true);
    assert_eq!(outcome, Outcome::Success, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "TRACE 10.3.0.2:80 from 10.1.0.1:40000 on sim0, 30 hops max, 1 probe per hop \
         (10.1.0.1 is not the kernel's: nettool answers ARP for it)"
    );
    assert_eq!(
        lines[1],
        "next hop 10.1.0.2 is-at 02:00:00:00:00:02 (scripted)"
    );
    assert_eq!(lines[2], " 1  10.1.0.2  0.100 ms");
    assert_eq!(lines[3], " 2  10.2.0.2  0.200 ms");
    assert_eq!(lines[4], " 3  10.3.0.2  [open, SYN-ACK]  0.300 ms");
    assert_eq!(lines[5], "10.3.0.2:80 reached in 3 hops: port open");
    assert_eq!(lines.len(), 6, "{out}");
}

#[test]
fn the_routers_then_the_closed_port() {
    let (outcome, out) = trace(&[], false);
    assert_eq!(outcome, Outcome::Success, "{out}");
    assert!(
        out.contains(" 3  10.3.0.2  [closed, RST]  0.300 ms"),
        "{out}"
    );
    assert!(
        out.ends_with("10.3.0.2:80 reached in 3 hops: port closed\n"),
        "{out}"
    );
}

#[test]
fn a_max_ttl_short_of_the_destination_is_no_answer() {
    let (outcome, out) = trace(&["-m", "2"], true);
    assert_eq!(outcome, Outcome::Negative, "{out}");
    assert!(out.contains(" 2  10.2.0.2  0.200 ms"), "{out}");
    assert!(!out.contains(" 3  "), "{out}");
    assert!(
        out.ends_with(
            "10.3.0.2:80 did not answer within the hops tried: filtered, or further away\n"
        ),
        "{out}"
    );
}

/// The link fails after the two routers' answers, while the probe that
/// reached the open port waits for its SYN-ACK: the run ends in that
/// error, yet a RST at that probe's SEG.SEQ + 1 (the destination's
/// RCV.NXT) goes out on the way, so the destination keeps no half-open
/// connection.
#[test]
fn a_link_that_fails_mid_trace_still_resets_the_destination() {
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone())
        .with(TwoRouters::new(true))
        .failing_after(2);
    let (outcome, out) = trace_on(&[], &mut link, &clock);
    let err = outcome.expect_err(&out);
    assert!(format!("{err:#}").contains("down"), "{err:#}");
    let segments: Vec<(u8, TcpRepr)> = link
        .sent
        .iter()
        .map(|(_, f)| {
            let (_, ip, tcp) = TcpRepr::from_frame(f, ChecksumMode::Verify).unwrap();
            (ip.ttl, tcp)
        })
        .collect();
    let [.., (3, probe), (_, rst)] = segments.as_slice() else {
        panic!("the third probe, then a RST: {segments:?}");
    };
    assert_eq!(probe.flags, Flags::SYN);
    assert_eq!(rst.flags, Flags::RST);
    assert_eq!(rst.seq, probe.seq + 1usize);
}
