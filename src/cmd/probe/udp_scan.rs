//! `nettool scan --udp`: [`UdpScans`] on the probes' setup, a progress
//! line on stderr while it asks one port at a time (the peer's ICMP rate
//! limit), and the port table. Several targets are taken as `scan` takes
//! them; those that leave by one interface are scanned side by side (each
//! host's limiter is its own), then reported one block each, as `scan`
//! reports them, and one line over all.

use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Result;

use super::{Aim, Opened, SCAN_RECEIVE_BUFFER, iface_config};
use crate::cli::ScanArgs;
use crate::clock::Clock;
use crate::cmd::targets::{self, Many, Runs, Target, between_targets, discovered};
use crate::cmd::ways::{port_for, same_way};
use crate::cmd::{Env, Finish, Given, Way, unresolved};
use crate::driver::{self, Handler, Options};
use crate::link::Link;
use crate::outcome::Outcome;
use crate::probe::format_ports;
use crate::probe::udpscan::{Config, Event, UdpPortResult, UdpScans, UdpState, linux_interval};
use crate::report::event::{self as ev, Start};
use crate::report::{Event as Ev, Report, Reporter, Verdict};
use crate::services::{self, Proto};
use crate::setup::{Flows, Found, LinkOptions, Path, Request, setup_done};
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

pub(super) fn scan(args: &ScanArgs, env: &mut Env) -> Result<Outcome> {
    let family = args.family.family();
    let resolve = |h: &str| crate::cmd::resolve_host_ip(h, family);
    let (found, ports) = targets(args, &mut std::io::stdin().lock(), resolve)?;
    let how = ("scanned", args.json);
    let (found, down) = discovered(found, &args.path, &args.list, how, env)?;
    let mut runs = Runs::new(found.len(), down);
    let mut blocks = 0;
    // Every target's way first: the targets that leave by one interface
    // from one source are scanned side by side, over one link.
    let way = Way::of(&args.path);
    let mut groups: Vec<Vec<(IpAddr, Path)>> = Vec::new();
    for dst in found.iter().map(|t| t.ip) {
        if env.interrupt.load(Ordering::Relaxed) {
            break;
        }
        let request = Request {
            dst,
            interface: way.interface,
            source: way.source,
            cache: &way.cache,
            pcap: env.pcap.as_ref(),
        };
        match Path::find(request, env.err, env.interrupt)? {
            Found::Path(path) => match groups.iter_mut().find(|g| same_way(&g[0].1, &path)) {
                Some(group) => group.push((dst, path)),
                None => groups.push(vec![(dst, path)]),
            },
            Found::Unresolved(why) => {
                // Its block now: the scanned hosts' come once they end.
                let mut rep = Reporter::new(args.json);
                between_targets(&rep, blocks, env)?;
                blocks += 1;
                let outcome = unresolved(&mut rep, env, "scan", dst, &why)?;
                runs.push(outcome, Verdict::NoArp);
            }
        }
    }
    let opts = LinkOptions {
        receive_buffer: Some(SCAN_RECEIVE_BUFFER),
        ..LinkOptions::default()
    };
    // Every group's stack before the privileges go, once.
    let flows = [Flows::Datagrams { sport_inc: false }];
    let mut stacks = Vec::new();
    for group in &groups {
        let path = &group[0].1;
        let port = port_for(&stacks, path, args.path.source_port);
        stacks.push(path.open_for_all(port, &flows, &opts, env.pcap.as_ref(), env.err)?);
    }
    setup_done(&stacks.iter().collect::<Vec<_>>(), env.err)?;
    for (group, stack) in groups.iter().zip(stacks) {
        if env.interrupt.load(Ordering::Relaxed) {
            break;
        }
        let hosts: Vec<(IpAddr, MacAddr)> = group
            .iter()
            .map(|(dst, path)| (*dst, path.next_hop_mac.unwrap_or(MacAddr::zero())))
            .collect();
        let opened = Opened {
            path: &group[0].1,
            stack,
        };
        let (runs, blocks) = (&mut runs, &mut blocks);
        opened.run(env, |aim, link, clock, env| {
            let swept = sweep(args, aim, (&hosts, &ports), link, clock, env)?;
            Ok(Reported {
                swept,
                runs,
                blocks,
            })
        })?;
    }
    runs.finish(Many::Scan, args.json, env)
}

/// [`scan`] over what the caller [`Given`] (the in-memory link in tests):
/// every target side by side over the one link, through its next hop.
pub fn scan_over(args: &ScanArgs, given: Given, env: &mut Env) -> Result<Outcome> {
    let family = args.family.family();
    let resolve = |h: &str| crate::cmd::resolve_host_ip(h, family);
    let (found, ports) = targets(args, &mut std::io::empty(), resolve)?;
    let aim = Aim {
        path: given.path,
        local: given.local,
        guard: None,
        guard_ingress: None,
    };
    let next_hop = given.path.next_hop_mac.unwrap_or(MacAddr::zero());
    let hosts: Vec<(IpAddr, MacAddr)> = found.iter().map(|t| (t.ip, next_hop)).collect();
    let (link, clock) = (given.link, given.clock);
    let mut runs = Runs::new(found.len(), 0);
    let mut blocks = 0;
    let swept = sweep(args, &aim, (&hosts, &ports), link, clock, env)?;
    Reported {
        swept,
        runs: &mut runs,
        blocks: &mut blocks,
    }
    .finish(None, clock.now(), env)?;
    runs.finish(Many::Scan, args.json, env)
}

/// `TARGET... PORTS` (or `TARGET... --ports PORTS`), targets as `scan`
/// takes them (a list, a subnet, `-` for stdin, `-iL FILE`): without
/// `--ports`, the last operand is the ports, always (a UDP scan takes
/// about a second per closed port: no default range).
fn targets(
    args: &ScanArgs,
    stdin: &mut dyn BufRead,
    resolve: impl Fn(&str) -> Result<IpAddr>,
) -> Result<(Vec<Target>, Vec<u16>)> {
    let (operands, ports) = match (args.operands.split_last(), args.ports.as_deref()) {
        (_, Some(ports)) => (args.operands.as_slice(), ports),
        (Some((ports, rest)), None) if !rest.is_empty() || args.list.input_list.is_some() => {
            (rest, ports.as_str())
        }
        _ => anyhow::bail!(
            "scan --udp takes its targets and then their PORTS (nettool scan --udp HOST 1-100):              a UDP scan takes about a second per closed port, so no default range"
        ),
    };
    let ports = services::parse_ports(ports, Proto::Udp).map_err(anyhow::Error::msg)?;
    let words = targets::gather(operands, args.list.input_list.as_deref(), stdin)?;
    let found = targets::expand(&words, false, args.list.max_targets, resolve)?;
    Ok((found, ports))
}

/// One host's scan, as it ended.
struct HostSwept {
    dst: IpAddr,
    start: Start,
    results: Vec<UdpPortResult>,
    sent: u64,
    interval: Option<Duration>,
    outcome: Outcome,
}

/// Hosts scanned side by side on one link.
struct Swept {
    json: bool,
    all: bool,
    started: Instant,
    asked: usize,
    elapsed: Duration,
    ended: Instant,
    hosts: Vec<HostSwept>,
}

fn sweep(
    args: &ScanArgs,
    aim: &Aim,
    (hosts, ports): (&[(IpAddr, MacAddr)], &[u16]),
    link: &mut dyn Link,
    clock: &mut dyn Clock,
    env: &mut Env,
) -> Result<Swept> {
    let start = clock.now();
    let path = aim.path;
    let rate = args.rate.unwrap_or(DEFAULT_RATE);
    // `--rate` is the link's, over all hosts: a subnet's sweep is not
    // hundreds of times as fast as one host's.
    let each = (rate / u32::try_from(hosts.len()).unwrap_or(u32::MAX).max(1)).max(1);
    let configs = hosts
        .iter()
        .map(|&(dst, dst_mac)| Config {
            src_mac: path.iface.mac,
            dst_mac,
            src: path.source,
            dst,
            sport: aim.local.port(),
            ports: ports.to_vec(),
            rate: each,
            retries: args.retries,
            wait: args.timeout,
            interval: linux_interval(dst),
            seed: random_u64(),
        })
        .collect();
    let mut host = RawHost::new(iface_config(path), UdpScans::new(start, configs));
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
    let scans = host.flow().scans();
    let swept = scans
        .iter()
        .map(|scanner| {
            let results = scanner.results();
            let open = results.iter().any(|r| r.state == UdpState::Open);
            HostSwept {
                dst: scanner.dst(),
                start: Start {
                    command: "scan",
                    mode: Some("udp"),
                    src: Some(aim.local),
                    ip: Some(scanner.dst()),
                    ports: Some(format_ports(ports)),
                    iface: Some(path.iface.name.clone()),
                    retries: Some(args.retries),
                    rate: Some(rate),
                    ..Start::default()
                },
                results,
                sent: scanner.sent,
                interval: scanner.limited().then(|| scanner.interval()),
                outcome: Outcome::from_answer(open).unless_interrupted(env.interrupt),
            }
        })
        .collect();
    Ok(Swept {
        json: args.json,
        all: args.all,
        started: start,
        asked: ports.len(),
        elapsed: ended - start,
        ended,
        hosts: swept,
    })
}

/// Tells, on stderr, why the scan slows down and how long it has left.
struct Progress<'e> {
    err: &'e mut dyn Write,
    next: Instant,
    quiet: bool,
}

impl Handler<RawHost<UdpScans>> for Progress<'_> {
    fn event(
        &mut self,
        host: &mut RawHost<UdpScans>,
        _: Instant,
        event: Hosted<(usize, Event)>,
    ) -> Result<()> {
        if let Hosted::Flow((i, Event::Limited { silent, interval })) = event
            && !self.quiet
        {
            let dst = host.flow().scans()[i].dst();
            writeln!(
                self.err,
                "nettool: {dst}: ICMP errors came, and {} stayed silent: the host may rate-limit \
                 its ICMP errors, so they are asked one at a time, one per {} (about {} to go; \
                 other hosts' ports are asked meanwhile)",
                count(silent as u64, "port"),
                human(interval),
                secs(interval * silent as u32)
            )?;
        }
        Ok(())
    }

    fn turn(&mut self, host: &mut RawHost<UdpScans>, now: Instant) -> Result<()> {
        let scans = host.flow();
        if self.quiet || !scans.limited() || now < self.next {
            return Ok(());
        }
        self.next = now + PROGRESS_EVERY;
        writeln!(
            self.err,
            "nettool: {} to go, about {} left",
            count(scans.remaining() as u64, "port"),
            secs(scans.time_left())
        )?;
        Ok(())
    }

    fn deadline(&self, host: &RawHost<UdpScans>) -> Option<Instant> {
        use crate::machine::Machine;
        let progress = (!self.quiet && host.flow().limited()).then_some(self.next);
        crate::time::earliest(host.poll_timeout(), progress)
    }
}

/// The hosts' blocks, each as `scan` writes one, and their outcomes
/// counted in `runs`.
struct Reported<'r> {
    swept: Swept,
    runs: &'r mut Runs,
    /// Targets' blocks written so far (a blank line between two).
    blocks: &'r mut usize,
}

impl Finish for Reported<'_> {
    fn finish(self, _dropped: Option<u64>, _now: Instant, env: &mut Env) -> Result<Outcome> {
        let swept = &self.swept;
        let rep = Reporter::new(swept.json);
        for host in &swept.hosts {
            between_targets(&rep, *self.blocks, env)?;
            *self.blocks += 1;
            let verdict = host.write(swept, &rep, env)?;
            self.runs.push(host.outcome, verdict);
        }
        Ok(targets::overall(
            &swept.hosts.iter().map(|h| h.outcome).collect::<Vec<_>>(),
        ))
    }
}

impl HostSwept {
    /// The host's first line, its ports and its summary; its verdict.
    fn write(&self, swept: &Swept, rep: &Reporter, env: &mut Env) -> Result<Verdict> {
        let count_of = |st| self.results.iter().filter(|r| r.state == st).count();
        let (open, closed, filtered, open_filtered) = (
            count_of(UdpState::Open),
            count_of(UdpState::Closed),
            count_of(UdpState::Filtered),
            count_of(UdpState::OpenFiltered),
        );
        let verdict = if open > 0 {
            Verdict::Open
        } else if closed > 0 {
            Verdict::Closed
        } else if filtered + open_filtered > 0 {
            Verdict::Filtered
        } else {
            Verdict::NoReply
        };
        let st = &self.start;
        let (dst, rate) = (self.dst, st.rate.unwrap_or(DEFAULT_RATE));
        rep.emit(
            env.out,
            swept.started,
            Ev::Start(Box::new(st.clone())),
            |w| {
                writeln!(
                    w,
                    "SCAN {dst} UDP: {} from {} on {}, at {rate}/s, {} (then one at a time if \
                     the host rate-limits its ICMP errors)",
                    count(swept.asked as u64, "port"),
                    st.src.map(|s| s.to_string()).unwrap_or_default(),
                    st.iface.as_deref().unwrap_or(""),
                    count(u64::from(st.retries.unwrap_or(0)), "retry")
                )
            },
        )?;
        if rep.json() {
            for r in &self.results {
                let port = ev::Port {
                    ip: Some(dst),
                    port: r.port,
                    outcome: r.state.name(),
                    reason: r.why.text(),
                    tries: r.tries,
                    rtt_us: None,
                };
                rep.emit(env.out, swept.ended, Ev::Port(port), |_| Ok(()))?;
            }
            let report = Report {
                ports: Some(swept.asked),
                scanned: Some(self.results.len()),
                open: Some(open),
                closed: Some(closed),
                filtered: Some(filtered + open_filtered),
                sent: Some(self.sent),
                ..Report::new(verdict, self.outcome)
            };
            rep.emit(env.out, swept.ended, Ev::Result(Box::new(report)), |_| {
                Ok(())
            })?;
            return Ok(verdict);
        }
        // Many ports: the most common state is summed up in one line.
        let states = [
            UdpState::Closed,
            UdpState::OpenFiltered,
            UdpState::Filtered,
            UdpState::Open,
        ];
        let hidden = (!swept.all && self.results.len() > 25)
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
        let beside = match swept.hosts.len() {
            1 => String::new(),
            n => format!(" (side by side with {})", count(n as u64 - 1, "other host")),
        };
        writeln!(
            out,
            "--- {} of {} in {}{beside}: {open} open, {closed} closed, {filtered} filtered, \
             {open_filtered} open|filtered; {} sent{pace}",
            self.results.len(),
            count(swept.asked as u64, "port"),
            human(swept.elapsed),
            count(self.sent, "datagram"),
        )?;
        Ok(verdict)
    }
}

/// A time left, to the second: `93 s`.
fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64().round())
}
