//! `nettool scan --udp`: [`UdpScanner`] on the probes' setup, a progress
//! line on stderr while it asks one port at a time (the peer's ICMP rate
//! limit), and the port table.

use std::io::Write;
use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::Result;

use super::{Aim, Opened, SCAN_RECEIVE_BUFFER, iface_config};
use crate::cli::ScanArgs;
use crate::clock::Clock;
use crate::cmd::{Env, Finish, Given, Way, find_path};
use crate::driver::{self, Handler, Options};
use crate::link::Link;
use crate::outcome::Outcome;
use crate::probe::format_ports;
use crate::probe::udpscan::{Config, Event, UdpPortResult, UdpScanner, UdpState};
use crate::report::event::{self as ev, Start};
use crate::report::{Event as Ev, Report, Reporter, Verdict};
use crate::services::{self, Proto};
use crate::setup::{Flows, LinkOptions};
use crate::stack::raw::{Hosted, RawHost};
use crate::sys::random_u64;
use crate::text::count;
use crate::time::{Instant, human};
use crate::wire::MacAddr;

/// The sweep's rate without `--rate`: well under Linux's global ICMP
/// limit (1000/s, a burst of 50), which the limited phase is not about.
const DEFAULT_RATE: u32 = 1000;
/// How often the progress line is written while ports are asked one at
/// a time.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// A default Linux host's ICMP refill interval (`icmp_ratelimit`).
const LINUX_INTERVAL: Duration = Duration::from_secs(1);

pub(super) fn scan(args: &ScanArgs, env: &mut Env) -> Result<Outcome> {
    let mut rep = Reporter::new(args.json);
    let (dst, ports) = target(args)?;
    let way = Way::of(&args.path);
    let path = match find_path(&mut rep, env, "scan", dst, &way)? {
        Ok(path) => path,
        Err(outcome) => return Ok(outcome),
    };
    let opts = LinkOptions {
        receive_buffer: Some(SCAN_RECEIVE_BUFFER),
        ..LinkOptions::default()
    };
    let flows = Flows::Datagrams { sport_inc: false };
    let opened = Opened::open(&path, args.path.source_port, flows, &opts, env)?;
    opened.run(env, |aim, link, clock, env| {
        sweep(args, aim, (dst, &ports), rep, link, clock, env)
    })
}

/// [`scan`] over what the caller [`Given`] (the in-memory link in tests).
pub fn scan_over(args: &ScanArgs, given: Given, env: &mut Env) -> Result<Outcome> {
    let (dst, ports) = target(args)?;
    let aim = Aim {
        path: given.path,
        local: given.local_v4(),
        guard: None,
    };
    let rep = Reporter::new(args.json);
    let (link, clock) = (given.link, given.clock);
    let swept = sweep(args, &aim, (dst, &ports), rep, link, clock, env)?;
    swept.finish(None, clock.now(), env)
}

/// `HOST PORTS` (or `HOST --ports PORTS`): one target, and ports named
/// (a UDP scan takes about a second per closed port: no default range).
fn target(args: &ScanArgs) -> Result<(Ipv4Addr, Vec<u16>)> {
    let (host, ports) = match (args.operands.as_slice(), args.ports.as_deref()) {
        ([host, ports], None) => (host, ports.as_str()),
        ([host], Some(ports)) => (host, ports),
        _ => anyhow::bail!(
            "scan --udp takes one HOST and its PORTS (nettool scan --udp HOST 1-100): a UDP scan \
             takes about a second per closed port, so no default range"
        ),
    };
    if args.list.input_list.is_some() {
        anyhow::bail!("scan --udp scans one host: leave --input-list out");
    }
    let ports = services::parse_ports(ports, Proto::Udp).map_err(anyhow::Error::msg)?;
    Ok((crate::cmd::resolve_host(host)?, ports))
}

struct Swept {
    rep: Reporter,
    all: bool,
    results: Vec<UdpPortResult>,
    asked: usize,
    sent: u64,
    elapsed: Duration,
    interval: Option<Duration>,
    ended: Instant,
    outcome: Outcome,
}

fn sweep(
    args: &ScanArgs,
    aim: &Aim,
    (dst, ports): (Ipv4Addr, &[u16]),
    rep: Reporter,
    link: &mut dyn Link,
    clock: &mut dyn Clock,
    env: &mut Env,
) -> Result<Swept> {
    let start = clock.now();
    let path = aim.path;
    let rate = args.rate.unwrap_or(DEFAULT_RATE);
    let config = Config {
        src_mac: path.iface.mac,
        dst_mac: path.next_hop_mac.unwrap_or(MacAddr::zero()),
        src: path.source_v4(),
        dst,
        sport: aim.local.port(),
        ports: ports.to_vec(),
        rate,
        retries: args.retries,
        wait: args.timeout,
        interval: LINUX_INTERVAL,
        seed: random_u64(),
    };
    let header = Start {
        command: "scan",
        mode: Some("udp"),
        src: Some(aim.local.into()),
        ip: Some(dst.into()),
        ports: Some(format_ports(ports)),
        iface: Some(path.iface.name.clone()),
        retries: Some(args.retries),
        rate: Some(rate),
        ..Start::default()
    };
    rep.emit(env.out, start, Ev::Start(Box::new(header)), |w| {
        writeln!(
            w,
            "SCAN {dst} UDP: {} from {} on {}, at {rate}/s, {} (then one at a time if the host \
             rate-limits its ICMP errors)",
            count(ports.len() as u64, "port"),
            aim.local,
            path.iface.name,
            count(u64::from(args.retries), "retry")
        )
    })?;
    let mut host = RawHost::new(iface_config(path), UdpScanner::new(start, config));
    let mut progress = Progress {
        err: &mut *env.err,
        next: start + PROGRESS_EVERY,
        quiet: args.json,
    };
    let opts = Options {
        rx_batch: 256,
        ..Options::default()
    };
    driver::run_with(&mut host, link, clock, env.interrupt, &opts, &mut progress)?;
    let ended = clock.now();
    let scanner = host.flow();
    let results = scanner.results();
    let open = results.iter().any(|r| r.state == UdpState::Open);
    Ok(Swept {
        rep,
        all: args.all,
        asked: ports.len(),
        sent: scanner.sent,
        elapsed: ended - start,
        interval: scanner.limited().then(|| scanner.interval()),
        results,
        ended,
        outcome: Outcome::from_answer(open).unless_interrupted(env.interrupt),
    })
}

/// Tells, on stderr, why the scan slows down and how long it has left.
struct Progress<'e> {
    err: &'e mut dyn Write,
    next: Instant,
    quiet: bool,
}

impl Handler<RawHost<UdpScanner>> for Progress<'_> {
    fn event(
        &mut self,
        _: &mut RawHost<UdpScanner>,
        _: Instant,
        event: Hosted<Event>,
    ) -> Result<()> {
        if let Hosted::Flow(Event::Limited { silent, interval }) = event
            && !self.quiet
        {
            writeln!(
                self.err,
                "nettool: ICMP errors came, and {} stayed silent: the host may rate-limit its ICMP \
                 errors, so they are asked one at a time, one per {} (about {} to go)",
                count(silent as u64, "port"),
                human(interval),
                secs(interval * silent as u32)
            )?;
        }
        Ok(())
    }

    fn turn(&mut self, host: &mut RawHost<UdpScanner>, now: Instant) -> Result<()> {
        let scanner = host.flow();
        if self.quiet || !scanner.limited() || now < self.next {
            return Ok(());
        }
        self.next = now + PROGRESS_EVERY;
        let left = scanner.remaining();
        writeln!(
            self.err,
            "nettool: {} to go, about {} left",
            count(left as u64, "port"),
            secs(scanner.interval() * left as u32)
        )?;
        Ok(())
    }

    fn deadline(&self, host: &RawHost<UdpScanner>) -> Option<Instant> {
        use crate::machine::Machine;
        let progress = (!self.quiet && host.flow().limited()).then_some(self.next);
        crate::time::earliest(host.poll_timeout(), progress)
    }
}

impl Finish for Swept {
    fn finish(self, _dropped: Option<u64>, _now: Instant, env: &mut Env) -> Result<Outcome> {
        let count_of = |st| self.results.iter().filter(|r| r.state == st).count();
        let (open, closed, filtered, open_filtered) = (
            count_of(UdpState::Open),
            count_of(UdpState::Closed),
            count_of(UdpState::Filtered),
            count_of(UdpState::OpenFiltered),
        );
        if self.rep.json() {
            for r in &self.results {
                let port = ev::Port {
                    ip: None,
                    port: r.port,
                    outcome: r.state.name(),
                    reason: r.why.text(),
                    tries: r.tries,
                    rtt_us: None,
                };
                self.rep
                    .emit(env.out, self.ended, Ev::Port(port), |_| Ok(()))?;
            }
            let verdict = if open > 0 {
                Verdict::Open
            } else if closed > 0 {
                Verdict::Closed
            } else if filtered + open_filtered > 0 {
                Verdict::Filtered
            } else {
                Verdict::NoReply
            };
            let report = Report {
                ports: Some(self.asked),
                scanned: Some(self.results.len()),
                open: Some(open),
                closed: Some(closed),
                filtered: Some(filtered + open_filtered),
                sent: Some(self.sent),
                ..Report::new(verdict, self.outcome)
            };
            self.rep.emit(
                env.out,
                self.ended,
                Ev::Result(Box::new(report)),
                |_| Ok(()),
            )?;
            return Ok(self.outcome);
        }
        // Many ports: the most common state is summed up in one line.
        let states = [
            UdpState::Closed,
            UdpState::OpenFiltered,
            UdpState::Filtered,
            UdpState::Open,
        ];
        let hidden = (!self.all && self.results.len() > 25)
            .then(|| states.into_iter().max_by_key(|&st| count_of(st)))
            .flatten();
        let out = &mut *env.out;
        writeln!(out, "{:<10} {:<14} REASON", "PORT", "STATE")?;
        for r in self.results.iter().filter(|r| Some(r.state) != hidden) {
            writeln!(
                out,
                "{:<10} {:<14} {}",
                format!("{}/udp", r.port),
                r.state.name(),
                r.why.text()
            )?;
        }
        if let Some(st) = hidden {
            writeln!(out, "Not shown: {} {} ports", count_of(st), st.name())?;
        }
        let pace = match self.interval {
            Some(i) => format!(
                "; the host's ICMP errors allowed one closed port per {}",
                human(i)
            ),
            None => String::new(),
        };
        writeln!(
            out,
            "--- {} of {} in {}: {open} open, {closed} closed, {filtered} filtered, \
             {open_filtered} open|filtered; {} sent{pace}",
            self.results.len(),
            count(self.asked as u64, "port"),
            human(self.elapsed),
            count(self.sent, "datagram"),
        )?;
        Ok(self.outcome)
    }
}

/// A time left, to the second: `93 s`.
fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64().round())
}
