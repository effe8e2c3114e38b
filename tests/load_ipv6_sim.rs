//! `nettool load` over IPv6 as a whole on the in-memory link and its
//! virtual clock: the sources taken from a /64, only as many as N needs,
//! each checked by duplicate address detection (RFC 4862) before use;
//! one a neighbour defends is skipped; a prefix is never swept. The far
//! end is nettool's own interface, listening on [PEER6]:80.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use clap::Parser;
use nettool::cli::{Cli, Command, LoadArgs};
use nettool::cmd::load::{SPARE6, load_over};
use nettool::cmd::{Captured, Given};
use nettool::link::mem::{MemLink, Responder, VirtualClock};
use nettool::machine::{Machine, RxChecksum};
use nettool::outcome::Outcome;
use nettool::report::Reporter;
use nettool::setup::Path;
use nettool::stack::iface::{Interface, InterfaceConfig, ListenerConfig};
use nettool::tcp::{self, IssSource, SeqNum};
use nettool::time::Instant;
use nettool::wire::MacAddr;
use nettool::wire::icmpv6::{Icmpv6Repr, parse_frame};
use nettool::wire::ipv6::{ALL_NODES, multicast_mac};
use nettool::wire::ndp::{NaFlags, NdpRepr};

const US_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const PEER_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const LATENCY: Duration = Duration::from_micros(200);

/// fd00:9::`i`: ::1 is the host's own, ::2 the peer's, the rest free
/// unless the peer defends them.
fn addr(i: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, i)
}

/// The far end: a listener on [addr(2)]:80 that accepts everything, and
/// defends the addresses it `owns` against duplicate address detection.
struct Peer {
    iface: Interface,
    owns: Vec<Ipv6Addr>,
    seen: Rc<RefCell<Seen>>,
}

#[derive(Default)]
struct Seen {
    /// The DAD solicitations' targets, in order.
    dad: Vec<Ipv6Addr>,
    /// The sources the connections came from.
    sources: BTreeSet<IpAddr>,
}

impl Peer {
    fn new(owns: Vec<Ipv6Addr>) -> Peer {
        let mut iface = Interface::new(InterfaceConfig {
            ip: Ipv4Addr::UNSPECIFIED,
            mac: PEER_MAC,
            ipv6: Some(addr(2)),
            next_hop_mac: Some(US_MAC),
            answer_arp: true,
            trace: false,
        });
        iface.listen(
            SocketAddr::new(addr(2).into(), 80),
            ListenerConfig {
                tcp: tcp::Config::default(),
                iss: IssSource::Fixed(SeqNum(1)),
                backlog: 100_000,
            },
        );
        Peer {
            iface,
            owns,
            seen: Rc::default(),
        }
    }

    fn out(&mut self, now: Instant) -> Vec<(Duration, Vec<u8>)> {
        while let Some(key) = self.iface.accept(SocketAddr::new(addr(2).into(), 80)) {
            self.seen.borrow_mut().sources.insert(key.remote.ip());
        }
        while self.iface.poll_event().is_some() {}
        std::iter::from_fn(|| self.iface.poll_transmit(now))
            .map(|f| (LATENCY, f))
            .collect()
    }
}

impl Responder for Peer {
    fn on_frame(&mut self, now: Instant, frame: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        if let Ok((_, ip, Icmpv6Repr::Ndp(NdpRepr::NeighborSolicit { target, .. }))) =
            parse_frame(frame, true)
            && ip.src.is_unspecified()
        {
            self.seen.borrow_mut().dad.push(target);
            if self.owns.contains(&target) {
                // Defended, as Linux does: an advertisement to all nodes.
                let na = Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
                    flags: NaFlags {
                        router: false,
                        solicited: false,
                        override_: true,
                    },
                    target,
                    target_lladdr: Some(PEER_MAC),
                })
                .frame((PEER_MAC, multicast_mac(ALL_NODES)), (target, ALL_NODES));
                return vec![(LATENCY, na)];
            }
            return Vec::new();
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
    let mut all = vec!["nettool", "load", "[fd00:9::2]:80"];
    all.extend(argv);
    match Cli::try_parse_from(all).unwrap().command {
        Command::Load(a) => a,
        other => panic!("{other:?}"),
    }
}

struct Ran {
    /// `None` for an error.
    outcome: Option<Outcome>,
    seen: Rc<RefCell<Seen>>,
    out: String,
    err: String,
}

/// A run from `--sources fd00:9::/64`, the path's source addr(3) (found,
/// and checked, as the setup would have).
fn load(argv: &[&str], peer: Peer) -> (anyhow::Result<(Outcome, String)>, Ran) {
    let seen = peer.seen.clone();
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone()).with(peer);
    let mut captured = Captured {
        clock: clock.clone(),
        ..Captured::default()
    };
    let mut env = captured.env();
    let args = args(argv);
    let path = Path::simulated(US_MAC, addr(3), addr(2), PEER_MAC);
    let given = Given {
        path: &path,
        local: SocketAddr::new(addr(3).into(), args.first_port),
        link: &mut link,
        clock: &mut clock.clone(),
    };
    let mut rep = Reporter::new(args.json);
    let host_owns = [IpAddr::V6(addr(1))].into_iter().collect();
    let ran = load_over(&args, None, None, &host_owns, given, &mut rep, &mut env);
    drop(env);
    let ran = ran.map(|(report, outcome)| (outcome, nettool::cmd::load::summary(&report)));
    let out = ran.as_ref().map(|r| r.1.clone()).unwrap_or_default();
    let outcome = ran.as_ref().ok().map(|r| r.0);
    let err = String::from_utf8(captured.err).unwrap();
    (
        ran,
        Ran {
            outcome,
            seen,
            out,
            err,
        },
    )
}

/// -p 64536 leaves 1,000 ports an address: 3,000 connections need three,
/// addr(3) (the path's, checked already), addr(4) and addr(5), checked
/// together; no other address of the /64 is touched.
#[test]
fn as_many_sources_as_needed_are_checked_then_used_in_turn() {
    let argv = [
        "-c",
        "3000",
        "-p",
        "64536",
        "--sources",
        "fd00:9::/64",
        "--hold",
        "1s",
    ];
    let (ran, r) = load(&argv, Peer::new(vec![]));
    ran.unwrap_or_else(|e| panic!("{e:#}\n{}", r.err));
    assert_eq!(r.outcome, Some(Outcome::Success), "{}{}", r.out, r.err);
    assert!(
        r.out.starts_with("3000 of 3000 connections established"),
        "{}",
        r.out
    );
    let seen = r.seen.borrow();
    assert_eq!(seen.dad, [addr(4), addr(5)], "{}", r.err);
    let want: BTreeSet<IpAddr> = [addr(3), addr(4), addr(5)].map(IpAddr::V6).into();
    assert_eq!(seen.sources, want);
    assert!(
        r.err.contains("needs 3 source addresses: the first 3 free"),
        "{}",
        r.err
    );
    assert!(
        r.err
            .contains("nettool answers neighbour solicitations for them"),
        "{}",
        r.err
    );
}

/// An address a neighbour defends is skipped, said so, and the next one
/// checked in its place.
#[test]
fn a_defended_source_is_skipped_for_the_next() {
    let argv = [
        "-c",
        "2000",
        "-p",
        "64536",
        "--sources",
        "fd00:9::/64",
        "--hold",
        "0s",
    ];
    let (ran, r) = load(&argv, Peer::new(vec![addr(4)]));
    ran.unwrap_or_else(|e| panic!("{e:#}\n{}", r.err));
    assert_eq!(r.outcome, Some(Outcome::Success), "{}{}", r.out, r.err);
    let seen = r.seen.borrow();
    assert_eq!(seen.dad, [addr(4), addr(5)], "{}", r.err);
    let want: BTreeSet<IpAddr> = [addr(3), addr(5)].map(IpAddr::V6).into();
    assert_eq!(seen.sources, want);
    assert!(
        r.err
            .contains(&format!("{} is in use (by {PEER_MAC}): skipped", addr(4))),
        "{}",
        r.err
    );
}

/// A prefix whose addresses are all defended is not swept: after SPARE6
/// found in use beyond the ones needed, the run stops with what it found,
/// and nothing was opened.
#[test]
fn a_prefix_is_never_swept() {
    let owned: Vec<Ipv6Addr> = (4..200).map(addr).collect();
    let argv = [
        "-c",
        "2000",
        "-p",
        "64536",
        "--sources",
        "fd00:9::/64",
        "--hold",
        "0s",
    ];
    let (ran, r) = load(&argv, Peer::new(owned));
    let e = format!("{:#}", ran.expect_err("a usage error"));
    assert!(e.contains("never sweeps a prefix"), "{e}");
    assert!(e.contains(&format!("{} in use", SPARE6 + 1)), "{e}");
    let seen = r.seen.borrow();
    assert_eq!(seen.dad.len(), SPARE6 + 1, "{:?}", seen.dad);
    assert!(seen.sources.is_empty());
}
