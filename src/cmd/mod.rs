//! Subcommands: each turns its command-line arguments into engine runs and
//! renders the events. Protocol decisions never live here.

pub mod arp;
pub mod drawing;
pub mod generate;
pub mod impair;
pub mod lab;
pub mod ladder;
pub mod load;
pub mod nc;
pub mod ndp;
pub mod plot;
pub mod probe;
pub mod targets;
pub mod tcp;
pub mod trace;
pub(crate) mod ways;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};

use crate::cli::{CacheArgs, Cli, Command, Family, PathArgs};
use crate::clock::{Clock, ClockSource};
use crate::driver::{self, Stop};
use crate::link::Link;
use crate::link::pcap::PcapFile;
use crate::machine::Machine;
use crate::outcome::Outcome;
use crate::report::event::{Conflict, Start};
use crate::report::{Event, Report, Reporter, Verdict};
use crate::setup::{Flows, Found, LinkOptions, Path, Request, Stack, Unresolved};
use crate::time::Instant;
use crate::wire::MacAddr;

/// Where a command writes, and the flag that asks it to stop.
pub struct Env<'a> {
    /// Results and payload.
    pub out: &'a mut dyn Write,
    /// Diagnostics, traces and warnings.
    pub err: &'a mut dyn Write,
    /// Raised by SIGINT or SIGTERM.
    pub interrupt: &'a AtomicBool,
    /// The `--pcap` file every link of the command writes to.
    pub pcap: Option<PcapFile>,
    /// Where "now" comes from, monotonic and wall: the system's clocks,
    /// or a test's virtual one. Commands read no clock of their own.
    pub clock: &'a dyn ClockSource,
}

impl Env<'_> {
    /// A warning on stderr ([`crate::setup::warn`]).
    pub fn warn(&mut self, what: impl std::fmt::Display) -> std::io::Result<()> {
        crate::setup::warn(self.err, what)
    }

    /// Now, on the command's clock: what a report made outside a run is
    /// stamped with.
    pub fn now(&self) -> Instant {
        self.clock.clock().now()
    }
}

/// A command's output kept in memory, its interrupt flag and its virtual
/// clock, for tests that run a command over the in-memory link:
/// [`Captured::env`] is the `Env` to run it in.
#[cfg(any(test, feature = "testkit"))]
#[derive(Default)]
pub struct Captured {
    pub out: Vec<u8>,
    pub err: Vec<u8>,
    pub interrupt: AtomicBool,
    /// The clock the command's `Env` gives (the in-memory link's, when
    /// the test builds its link on a clone of it).
    pub clock: crate::link::mem::VirtualClock,
}

#[cfg(any(test, feature = "testkit"))]
impl Captured {
    pub fn env(&mut self) -> Env<'_> {
        Env {
            out: &mut self.out,
            err: &mut self.err,
            interrupt: &self.interrupt,
            pcap: None,
            clock: &self.clock,
        }
    }

    /// What the command wrote on stdout.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out).into_owned()
    }
}

/// Runs the command the user asked for, with its `--pcap` file if any,
/// which is written out completely before the outcome is reported (also
/// after Ctrl-C: the commands return then too).
pub fn run(cli: Cli, env: &mut Env) -> anyhow::Result<Outcome> {
    if let Some(path) = cli.command.pcap() {
        env.pcap = Some(PcapFile::create(path)?);
    }
    let result = dispatch(cli, env);
    let flushed = env.pcap.take().map_or(Ok(()), |f| f.flush());
    match (result, flushed) {
        (Ok(outcome), Ok(())) => Ok(outcome),
        (Ok(_), Err(e)) => Err(e.into()),
        // The command's own error says more; a capture error after it
        // is most likely the same one.
        (Err(e), _) => Err(e),
    }
}

fn dispatch(cli: Cli, env: &mut Env) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Arp(args) => arp::run(args, env),
        Command::Ndp(args) => ndp::run(args, env),
        Command::Handshake(args) => tcp::handshake(args, env),
        Command::Close(args) => tcp::close(args, env),
        Command::Nc(args) => nc::run(args, env),
        Command::Probe(args) => probe::probe(args, env),
        Command::Ping(args) => probe::probe(args.into_probe(), env),
        Command::Scan(args) => probe::scan(args, env),
        Command::Trace(args) => trace::run(args, env),
        Command::Load(args) => load::run(args, env),
        Command::Lab(args) => lab::run(args, env),
        Command::Ladder(args) => ladder::run(args, env),
        Command::Plot(args) => plot::run(args, env),
        Command::Generate(args) => generate::run(args, env),
        Command::Impair(args) => impair::run(args, env),
    }
}

/// An IPv4 address from a dotted quad or a host name (through the system
/// resolver, as every other tool on the machine would).
pub fn resolve_host(name: &str) -> anyhow::Result<Ipv4Addr> {
    if let Ok(ip) = name.parse::<Ipv4Addr>() {
        return Ok(ip);
    }
    not_a_host_name(name)?;
    let addrs: Vec<SocketAddr> = (name, 0)
        .to_socket_addrs()
        .with_context(|| {
            format!(
                "cannot resolve host name {name:?} (is it spelled right, and is DNS reachable?)"
            )
        })?
        .collect();
    match addrs.iter().find_map(|a| match a {
        SocketAddr::V4(v4) => Some(*v4.ip()),
        SocketAddr::V6(_) => None,
    }) {
        Some(ip) => Ok(ip),
        None => bail!(
            "{name:?} has no IPv4 address (this command speaks IPv4 only so far; \
             handshake, close, nc, probe, ping, scan and trace speak IPv6 too)"
        ),
    }
}

/// An IPv4 or IPv6 address from its text (IPv6's bare or in brackets),
/// or a host name's first address through the system resolver, in the
/// order it returns them (`/etc/gai.conf`'s), of `family` only when `-4`
/// or `-6` says so.
pub fn resolve_host_ip(name: &str, family: Family) -> anyhow::Result<IpAddr> {
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    let literal = bare
        .parse::<Ipv6Addr>()
        .map(IpAddr::V6)
        .ok()
        .or_else(|| name.parse::<Ipv4Addr>().ok().map(IpAddr::V4));
    if let Some(ip) = literal {
        return match (family, ip) {
            (Family::V4, IpAddr::V6(_)) => bail!("{name} is an IPv6 address, and -4 asks for IPv4"),
            (Family::V6, IpAddr::V4(_)) => bail!("{name} is an IPv4 address, and -6 asks for IPv6"),
            _ => Ok(ip),
        };
    }
    if name.contains('%') {
        bail!(
            "{name}: a zone (%IFACE) is not taken; give the link-local address and the \
             interface with -i"
        );
    }
    not_a_host_name(name)?;
    let addrs: Vec<SocketAddr> = (name, 0)
        .to_socket_addrs()
        .with_context(|| {
            format!(
                "cannot resolve host name {name:?} (is it spelled right, and is DNS reachable?)"
            )
        })?
        .collect();
    let wanted = |a: &&SocketAddr| match family {
        Family::Any => true,
        Family::V4 => a.is_ipv4(),
        Family::V6 => a.is_ipv6(),
    };
    match addrs.iter().find(wanted) {
        Some(a) => Ok(a.ip()),
        None => bail!(
            "{name:?} has no {} address",
            match family {
                Family::V4 => "IPv4 (A)",
                Family::V6 => "IPv6 (AAAA)",
                Family::Any => "IP",
            }
        ),
    }
}

/// What is wrong with `name`, when it cannot be a host name at all: said
/// at once, without asking DNS about it (a resolver would only answer
/// "cannot resolve").
fn not_a_host_name(name: &str) -> anyhow::Result<()> {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::Ipv6Addr>().is_ok() {
        bail!(
            "{name} is an IPv6 address: this command speaks IPv4 only so far \
             (handshake, close, nc, probe, ping, scan and trace speak IPv6 too)"
        );
    }
    if let Ok(with_port) = name.parse::<std::net::SocketAddrV4>() {
        bail!(
            "{name} has a port, where only an address goes: write {} (the commands that take \
             a port, handshake, close, trace and probe, write HOST:PORT; nc and scan HOST PORT)",
            with_port.ip()
        );
    }
    if name.is_empty() {
        bail!("the host is missing: write an IPv4 address or a host name, e.g. 10.78.0.2");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        bail!(
            "{name:?} is not a host name or an IPv4 address ({c:?} has no place in one): \
             write e.g. 10.78.0.2 or host.example"
        );
    }
    // Digits and dots only: a host name's last label is never all
    // digits, and the resolver would read "22" as 0.0.0.22 and
    // "10.1" as 10.0.0.1 (inet_aton's old forms).
    if name.chars().all(|c| c.is_ascii_digit() || c == '.') {
        bail!(
            "{name:?} is not an IPv4 address: write four numbers from 0 to 255, e.g. 10.78.0.2 \
             (a port goes after the host: HOST:PORT, or as scan's and nc's PORT)"
        );
    }
    Ok(())
}

/// Reports that the next hop could not be resolved (it did not answer
/// ARP, or two MACs did), so `command` to `dst` never started: a negative
/// answer from the network, like a SYN nobody answers (or an interrupted
/// run, if that is why).
pub(crate) fn unresolved(
    rep: &mut Reporter,
    env: &mut Env,
    command: &'static str,
    dst: impl Into<IpAddr>,
    why: &Unresolved,
) -> anyhow::Result<Outcome> {
    let dst: IpAddr = dst.into();
    let outcome = Outcome::Negative.unless_interrupted(env.interrupt);
    let next_hop = why.next_hop();
    let now = env.now();
    rep.emit(
        env.out,
        now,
        Event::Start(Box::new(Start {
            command,
            ip: Some(dst),
            iface: Some(why.iface().to_owned()),
            next_hop: Some(next_hop),
            ..Start::default()
        })),
        |_| Ok(()),
    )?;
    let verdict = match why {
        Unresolved::NoArp { .. } => Verdict::NoArp,
        Unresolved::Conflict { mac, other_mac, .. } => {
            // The JSON names both MACs; the text says it in the result.
            rep.emit(
                env.out,
                now,
                Event::Conflict(Conflict {
                    ip: next_hop,
                    mac: *mac,
                    other_mac: *other_mac,
                    seen: "wire",
                }),
                |_| Ok(()),
            )?;
            Verdict::Conflict
        }
    };
    rep.emit(
        env.out,
        now,
        Event::Result(Box::new(Report {
            next_hop: Some(next_hop),
            ..Report::new(verdict, outcome)
        })),
        |w| writeln!(w, "{why}"),
    )?;
    Ok(outcome)
}

/// What the user said about the way to a destination: `-i`, `-s`, `-p`
/// and the ARP cache.
pub(crate) struct Way<'a> {
    pub interface: Option<&'a str>,
    pub source: Option<IpAddr>,
    pub source_port: Option<u16>,
    pub cache: std::path::PathBuf,
}

impl<'a> Way<'a> {
    /// The way `handshake`, `close` and `trace` were given.
    pub fn of(args: &'a PathArgs) -> Way<'a> {
        Way::new(
            args.interface.as_deref(),
            args.source,
            args.source_port,
            &args.cache,
        )
    }

    pub fn new(
        interface: Option<&'a str>,
        source: Option<IpAddr>,
        source_port: Option<u16>,
        cache: &CacheArgs,
    ) -> Way<'a> {
        Way {
            interface,
            source,
            source_port,
            cache: cache.path(),
        }
    }
}

/// What looking for a connection's way gave.
enum Opened {
    /// The path, and the stack holding the flow (to tear down at the end).
    Ready(Box<(Path, Stack)>),
    /// The next hop could not be resolved: `command`'s result, reported.
    Unresolved(Outcome),
}

/// The way to `remote` for one connection-shaped flow (`handshake`,
/// `close`, `trace`): the path, then the flow claimed from the kernel and
/// the link opened.
fn open_connection(
    rep: &mut Reporter,
    env: &mut Env,
    (command, flows): (&'static str, Flows),
    remote: SocketAddr,
    way: &Way,
) -> anyhow::Result<Opened> {
    let path = match find_path(rep, env, command, remote.ip(), way)? {
        Ok(path) => path,
        Err(outcome) => return Ok(Opened::Unresolved(outcome)),
    };
    let opts = LinkOptions::default();
    let stack = path.open(way.source_port, flows, &opts, env.pcap.as_ref(), env.err)?;
    Ok(Opened::Ready(Box::new((path, stack))))
}

/// The way to `dst`; `Err(outcome)` when the next hop could not be
/// resolved (reported already, as `command`'s result).
pub(crate) fn find_path(
    rep: &mut Reporter,
    env: &mut Env,
    command: &'static str,
    dst: impl Into<IpAddr>,
    way: &Way,
) -> anyhow::Result<Result<Path, Outcome>> {
    let dst: IpAddr = dst.into();
    let request = Request {
        dst,
        interface: way.interface,
        source: way.source,
        cache: &way.cache,
        pcap: env.pcap.as_ref(),
    };
    Ok(match Path::find(request, env.err, env.interrupt)? {
        Found::Path(path) => Ok(path),
        Found::Unresolved(why) => Err(unresolved(rep, env, command, dst, &why)?),
    })
}

/// A line for people at `t` seconds into the run: the time, a tag in a
/// column of its own (`out`, `in`, `icmp`, `state`…), then `text`.
pub(crate) fn stamped(t: f64, tag: &str, text: impl std::fmt::Display) -> String {
    format!("{t:>10.6} {tag:<5} {text}")
}

/// A connection-shaped run that has run its course, reported once the
/// guard is gone: `dropped` is how many of the kernel's RSTs it dropped
/// (`None` without a guard).
pub(crate) trait Finish {
    fn finish(self, dropped: Option<u64>, now: Instant, env: &mut Env) -> anyhow::Result<Outcome>;
}

/// Runs `command` over one connection-shaped flow to `remote`: opens its
/// way ([`open_connection`]), hands `body` the wiring, the link and the
/// reporter's clock, tears the stack down and reports what `body` ran.
pub(crate) fn run_connection<F: Finish>(
    rep: Reporter,
    env: &mut Env,
    command: &'static str,
    remote: SocketAddr,
    way: &Way,
    body: impl FnOnce(&Wiring, Reporter, &mut dyn Link, &mut dyn Clock, &mut Env) -> anyhow::Result<F>,
) -> anyhow::Result<Outcome> {
    let flows = Flows::Connection { remote };
    run_flows(rep, env, (command, flows), remote, way, body)
}

/// [`run_connection`] for flows of another kind (`flows`): UDP datagrams
/// or ICMP queries to `remote` claim no TCP port and install no RST
/// guard.
pub(crate) fn run_flows<F: Finish>(
    mut rep: Reporter,
    env: &mut Env,
    (command, flows): (&'static str, Flows),
    remote: SocketAddr,
    way: &Way,
    body: impl FnOnce(&Wiring, Reporter, &mut dyn Link, &mut dyn Clock, &mut Env) -> anyhow::Result<F>,
) -> anyhow::Result<Outcome> {
    let opened = open_connection(&mut rep, env, (command, flows), remote, way)?;
    let (path, mut stack) = match opened {
        Opened::Ready(ready) => *ready,
        Opened::Unresolved(outcome) => return Ok(outcome),
    };
    let wiring = Wiring::of(&path, &stack, remote);
    let mut clock = env.clock.clock();
    let ran = body(&wiring, rep, stack.link.as_mut(), clock.as_mut(), env)?;
    let dropped = stack.teardown(env.err);
    ran.finish(dropped, clock.now(), env)
}

/// What a run over a link the caller provides is given instead of the
/// setup: the way and the local address the caller chose, the link and
/// the clock (the in-memory link and its virtual clock in tests, which
/// need no root). No guard, no reservation.
pub struct Given<'a> {
    pub path: &'a Path,
    pub local: SocketAddr,
    pub link: &'a mut dyn Link,
    pub clock: &'a mut dyn Clock,
}

impl Given<'_> {
    /// The local address of a run that speaks IPv4 only.
    pub fn local_v4(&self) -> std::net::SocketAddrV4 {
        match self.local {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(a) => panic!("an IPv4 run given an IPv6 address {a}"),
        }
    }
}

/// [`run_connection`] over what the caller `given`: `body` runs the flow
/// to `remote`, and what it ran is reported (no guard, so no count).
pub(crate) fn run_given<F: Finish>(
    given: Given,
    rep: Reporter,
    env: &mut Env,
    remote: SocketAddr,
    body: impl FnOnce(&Wiring, Reporter, &mut dyn Link, &mut dyn Clock, &mut Env) -> anyhow::Result<F>,
) -> anyhow::Result<Outcome> {
    let wiring = Wiring::unguarded(given.path, given.local, remote);
    let ran = body(&wiring, rep, given.link, given.clock, env)?;
    ran.finish(None, given.clock.now(), env)
}

/// Runs `machine` on `link` until it is done or the user interrupts it,
/// handing each of its events to `on_event` with the output.
pub(crate) fn drive<M: Machine>(
    machine: &mut M,
    link: &mut dyn Link,
    clock: &mut dyn Clock,
    env: &mut Env,
    mut on_event: impl FnMut(&mut dyn Write, Instant, M::Event) -> anyhow::Result<()>,
) -> anyhow::Result<Stop> {
    let out = &mut *env.out;
    driver::run(machine, link, clock, env.interrupt, |now, ev| {
        on_event(out, now, ev)
    })
}

/// What the setup gave a connection-shaped run: where it is, and how the
/// kernel is kept out.
pub(crate) struct Wiring<'a> {
    pub path: &'a Path,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The RST guard's nftables table, when there is one.
    pub guard: Option<String>,
    /// The interface whose ingress the guard drops the flow's frames at.
    pub guard_ingress: Option<String>,
}

impl<'a> Wiring<'a> {
    /// The wiring of `stack`'s flow to `remote`, on `path`.
    pub fn of(path: &'a Path, stack: &Stack, remote: SocketAddr) -> Wiring<'a> {
        Wiring {
            path,
            local: stack.local(),
            remote,
            guard: stack.guard_table().map(str::to_owned),
            guard_ingress: stack.guard_ingress().map(str::to_owned),
        }
    }

    /// A flow to `remote` from `local` on `path` that nobody guards or
    /// reserves: a run over a link the caller provides ([`Given`]).
    pub fn unguarded(path: &'a Path, local: SocketAddr, remote: SocketAddr) -> Wiring<'a> {
        Wiring {
            path,
            local,
            remote,
            guard: None,
            guard_ingress: None,
        }
    }

    /// The `start` event's fields about the flow and its way.
    pub fn start(&self, command: &'static str) -> Start {
        Start {
            command,
            src: Some(self.local),
            dst: Some(self.remote),
            iface: Some(self.path.iface.name.clone()),
            next_hop: Some(self.path.next_hop),
            next_hop_mac: Some(self.next_hop_mac()),
            guard: self.guard.clone(),
            guard_ingress: self.guard_ingress.clone(),
            ..Start::default()
        }
    }

    fn next_hop_mac(&self) -> MacAddr {
        self.path.next_hop_mac.unwrap_or(MacAddr::zero())
    }

    /// How the kernel is kept out of the flow, for the header.
    pub fn keeper(&self) -> String {
        match &self.guard {
            Some(table) => crate::guard::keeper(table, self.guard_ingress.is_some(), "this flow"),
            None => format!(
                "{} is not the kernel's: nettool answers ARP for it",
                self.path.source
            ),
        }
    }

    /// The header's line about the next hop and how its MAC was learned.
    pub fn next_hop_line(&self) -> String {
        let path = self.path;
        format!(
            "next hop {} is-at {} ({})",
            path.next_hop,
            self.next_hop_mac(),
            path.how
        )
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use rstest::rstest;

    /// Each says what is wrong, before any DNS is asked.
    #[rstest]
    #[case("10.78.0.2:80", "has a port")]
    #[case("[::1]", "IPv6")]
    #[case("::1", "IPv6")]
    #[case("", "missing")]
    #[case("a b", "not a host name")]
    #[case("10.0.0.1/24x", "not a host name")]
    #[case("22", "not an IPv4 address")]
    #[case("10.0.0", "not an IPv4 address")]
    #[case("10.0.0.256", "not an IPv4 address")]
    fn what_cannot_be_a_host_is_said(#[case] name: &str, #[case] says: &str) {
        let e = resolve_host(name).unwrap_err().to_string();
        assert!(e.contains(says), "{name:?}: {e}");
        assert!(!e.contains("cannot resolve"), "{name:?}: {e}");
    }

    #[rstest]
    #[case("fd00:6e74::2", Family::Any, Some("fd00:6e74::2"))]
    #[case("[fd00:6e74::2]", Family::V6, Some("fd00:6e74::2"))]
    #[case("10.78.0.2", Family::V4, Some("10.78.0.2"))]
    #[case("::1", Family::Any, Some("::1"))]
    #[case("fd00:6e74::2", Family::V4, None)]
    #[case("10.78.0.2", Family::V6, None)]
    #[case("fe80::1%eth0", Family::Any, None)]
    fn addresses_of_either_family_are_themselves(
        #[case] name: &str,
        #[case] family: Family,
        #[case] want: Option<&str>,
    ) {
        let got = resolve_host_ip(name, family).ok();
        assert_eq!(got, want.map(|w| w.parse().unwrap()));
    }

    #[test]
    fn an_address_is_itself() {
        assert_eq!(
            resolve_host("10.78.0.2").unwrap(),
            Ipv4Addr::new(10, 78, 0, 2)
        );
    }
}
