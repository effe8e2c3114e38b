//! Subcommands: each turns its command-line arguments into engine runs and
//! renders the events. Protocol decisions never live here.

pub mod arp;
pub mod generate;
pub mod impair;
pub mod lab;
pub mod nc;
pub mod probe;
pub mod tcp;
pub mod trace;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};

use crate::cli::{Cli, Command};
use crate::link::Link;
use crate::link::pcap::{Capture, PcapFile};
use crate::outcome::Outcome;
use crate::report::event::Start;
use crate::report::{Event, Report, Reporter, Verdict};

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
}

impl Env<'_> {
    pub fn warn(&mut self, what: impl std::fmt::Display) -> std::io::Result<()> {
        writeln!(self.err, "nettool: warning: {what}")
    }

    /// `link`, writing its frames to the `--pcap` file when there is one.
    pub fn capture<L: Link>(&self, link: L) -> std::io::Result<Capture<L>> {
        Capture::new(link, self.pcap.clone())
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
        Command::Handshake(args) => tcp::handshake(args, env),
        Command::Close(args) => tcp::close(args, env),
        Command::Nc(args) => nc::run(args, env),
        Command::Probe(args) => probe::probe(args, env),
        Command::Scan(args) => probe::scan(args, env),
        Command::Trace(args) => trace::run(args, env),
        Command::Lab(args) => lab::run(args, env),
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
        None => bail!("{name:?} has no IPv4 address (nettool speaks IPv4 only)"),
    }
}

/// Reports that the next hop (`next_hop` on `iface`) did not answer ARP,
/// so `command` to `dst` never started: a negative answer from the
/// network, like a SYN nobody answers (or an interrupted run, if that is
/// why).
pub(crate) fn no_arp(
    rep: &mut Reporter,
    env: &mut Env,
    command: &'static str,
    dst: Ipv4Addr,
    next_hop: Ipv4Addr,
    iface: &str,
) -> anyhow::Result<Outcome> {
    let outcome = Outcome::Negative.unless_interrupted(env.interrupt);
    rep.emit_now(
        env.out,
        Event::Start(Box::new(Start {
            command,
            ip: Some(dst),
            iface: Some(iface.to_owned()),
            next_hop: Some(next_hop),
            ..Start::default()
        })),
        |_| Ok(()),
    )?;
    rep.emit_now(
        env.out,
        Event::Result(Box::new(Report {
            next_hop: Some(next_hop),
            ..Report::new(Verdict::NoArp, outcome)
        })),
        |w| {
            writeln!(
                w,
                "the next hop {next_hop} did not answer ARP on {iface}: is it up, and on this link?"
            )
        },
    )?;
    Ok(outcome)
}
