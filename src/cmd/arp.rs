//! `nettool arp`: resolve, ping, sweep, probe (DAD) and announce.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ipnetwork::Ipv4Network;

use super::Env;
use crate::arp::cache::{Cache, Entry, Freshness, Learned};
use crate::arp::probe::{self, Mode, Prober, Target, Until};
use crate::arp::resolve::{self, Resolution, Settings, WallClock};
use crate::cachefile;
use crate::cli::ArpArgs;
use crate::clock::Clock;
use crate::driver::{self, Stop};
use crate::link::packet::PacketLink;
use crate::link::pcap::PcapFile;
use crate::link::trace::Tracer;
use crate::link::{Filter, Link};
use crate::machine::Machine;
use crate::outcome::Outcome;
use crate::privilege::{self, Cap};
use crate::report::event::{Cache as CacheEv, Conflict, Reply, Start};
use crate::report::{Event, Format, Report, Reporter, Verdict, us};
use crate::route::{self, Interface, Route, RouteError};
use crate::setup;
use crate::text::count;
use crate::time::{Instant, human};
use crate::wire::MacAddr;

/// A sweep's time between requests and after the last one, unless the
/// user says: short, since a live host on the link answers in
/// milliseconds and a sweep asks many.
const SWEEP_WAIT: Duration = Duration::from_millis(300);

/// Largest sweep: a /16. Larger ones are almost always a typo, and would
/// take minutes at any polite rate.
const MAX_SWEEP: u64 = 65_536;

/// `nettool arp`: the route (or the interface) from the kernel, the
/// link opened, then the run itself ([`resolve_over`], [`sweep_over`],
/// [`claim_over`]) on the clock `env` gives.
pub fn run(args: ArpArgs, env: &mut Env) -> Result<Outcome> {
    if args.show {
        return show(&args, env);
    }
    if args.flush {
        return flush(&args, env);
    }
    let target = args
        .target
        .as_deref()
        .context("an address or subnet is required")?;
    if target.contains('/') {
        let net: Ipv4Network = target.parse().with_context(|| {
            format!("{target:?} is not an IPv4 subnet (write it like 10.78.0.0/24)")
        })?;
        if args.dad || args.announce || args.announce_reply || args.count.is_some() {
            bail!("--dad, --announce and --count take one address, not a subnet");
        }
        return sweep(net, &args, env);
    }
    let ip = super::resolve_host(target)?;
    if args.dad || args.announce || args.announce_reply {
        return claim(ip, &args, env);
    }
    resolve(ip, &args, env)
}

/// Resolves (or pings) `ip`: the route from the kernel, then
/// [`resolve_over`], which opens the link only if the cache cannot answer.
fn resolve(ip: Ipv4Addr, args: &ArpArgs, env: &mut Env) -> Result<Outcome> {
    let route = arp_route(ip, args)?;
    let pcap = env.pcap.clone();
    let mut open = || open_link(&route.interface, pcap.as_ref());
    let mut clock = env.clock.clock();
    resolve_over(ip, args, &route, &mut open, clock.as_mut(), env)
}

/// Sweeps `net`: its route and addresses from the kernel, the link
/// opened, then [`sweep_over`].
fn sweep(net: Ipv4Network, args: &ArpArgs, env: &mut Env) -> Result<Outcome> {
    let subnet = sweep_route(net, args)?;
    let mut link = open_link(&subnet.route.interface, env.pcap.as_ref())?;
    let mut clock = env.clock.clock();
    sweep_over(args, &subnet, link.as_mut(), clock.as_mut(), env)
}

/// Claims `ip`: the interface from the kernel, the link opened, then
/// [`claim_over`].
fn claim(ip: Ipv4Addr, args: &ArpArgs, env: &mut Env) -> Result<Outcome> {
    if !crate::arp::is_claimable(ip) {
        bail!("{ip} is not a unicast host address");
    }
    let iface = claim_interface(ip, args)?;
    let mut link = open_link(&iface, env.pcap.as_ref())?;
    let mut clock = env.clock.clock();
    claim_over(ip, args, &iface, link.as_mut(), clock.as_mut(), env)
}

/// Opens the link when the wire must be asked: a fresh cache entry needs
/// no socket, no frame and no privileges beyond reading the cache.
pub type OpenLink<'l> = dyn FnMut() -> Result<Box<dyn Link + 'l>> + 'l;

/// How results are written: for people, as JSON lines, or MACs only.
struct Printer {
    rep: Reporter,
}

impl Printer {
    fn new(args: &ArpArgs) -> Printer {
        Printer {
            rep: Reporter::with_format(if args.json {
                Format::Json
            } else if args.quiet {
                Format::Quiet
            } else {
                Format::Human
            }),
        }
    }

    fn human(&self) -> bool {
        self.rep.human()
    }

    /// Writes `event` through the reporter; `text` is its line for people.
    fn emit(
        &self,
        out: &mut dyn Write,
        now: Instant,
        event: Event,
        text: impl FnOnce() -> String,
    ) -> Result<()> {
        self.rep
            .emit(out, now, event, |w| writeln!(w, "{}", text()))?;
        Ok(())
    }

    /// Writes the command's `result` at `now`; `text` is its line for people,
    /// if it has one.
    fn result(
        &self,
        out: &mut dyn Write,
        now: Instant,
        report: Report,
        text: impl FnOnce() -> Option<String>,
    ) -> Result<()> {
        self.rep
            .emit(out, now, Event::Result(Box::new(report)), |w| {
                match text() {
                    Some(t) => writeln!(w, "{t}"),
                    None => Ok(()),
                }
            })?;
        Ok(())
    }

    /// Two MACs answered one request for `ip`: `first`, then `other`.
    fn wire_conflict(
        &self,
        out: &mut dyn Write,
        now: Instant,
        ip: Ipv4Addr,
        first: MacAddr,
        other: MacAddr,
    ) -> Result<()> {
        let text =
            format!("CONFLICT: {ip} is claimed by both {first} and {other}; neither is cached");
        self.conflict(out, now, (ip, first, other), "wire", text)
    }

    /// The wire says `ip` is at `mac`; the cache had it at `cached`.
    fn cache_conflict(
        &self,
        out: &mut dyn Write,
        now: Instant,
        ip: Ipv4Addr,
        cached: MacAddr,
        mac: MacAddr,
    ) -> Result<()> {
        let text = format!(
            "CONFLICT: the cache had {ip} at {cached}, the wire now says {mac}; neither is cached"
        );
        self.conflict(out, now, (ip, mac, cached), "cache", text)
    }

    /// `ip` at both `mac` and `other_mac` (seen on the wire or in the
    /// cache): the `conflict` event, `text` for people.
    fn conflict(
        &self,
        out: &mut dyn Write,
        now: Instant,
        (ip, mac, other_mac): (Ipv4Addr, MacAddr, MacAddr),
        seen: &'static str,
        text: String,
    ) -> Result<()> {
        let event = Event::Conflict(Conflict {
            ip: ip.into(),
            mac,
            other_mac,
            seen,
        });
        self.emit(out, now, event, || text)
    }

    /// `--quiet` prints the MAC and nothing else.
    fn mac_only(&self, out: &mut dyn Write, mac: MacAddr) -> Result<()> {
        if self.rep.format() == Format::Quiet {
            writeln!(out, "{mac}")?;
        }
        Ok(())
    }

    /// `--quiet` where there are many answers (a sweep, the cache): each
    /// MAC beside its address, `ADDRESS MAC`, for `while read ip mac`.
    fn pair_only(&self, out: &mut dyn Write, ip: Ipv4Addr, mac: MacAddr) -> Result<()> {
        if self.rep.format() == Format::Quiet {
            writeln!(out, "{ip} {mac}")?;
        }
        Ok(())
    }
}

/// The `start` event of an `arp` run in `mode`, with the fields `rest`
/// sets.
fn start_event(mode: &'static str, rest: Start) -> Event {
    Event::Start(Box::new(Start {
        command: "arp",
        mode: Some(mode),
        ..rest
    }))
}

/// The prober's settings: `tries` frames of `mode` from `mac` and
/// `sender_ip`, `--interval` apart and `--timeout` after the last (`wait`
/// by default), with no rate bound.
fn probe_config(
    args: &ArpArgs,
    mode: Mode,
    until: Until,
    (mac, sender_ip): (MacAddr, Ipv4Addr),
    tries: u32,
    wait: Duration,
) -> probe::Config {
    probe::Config {
        mode,
        until,
        mac,
        sender_ip,
        tries,
        interval: args.interval.unwrap_or(wait),
        timeout: args.timeout.unwrap_or(wait),
        rate: None,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

/// The outcome of a run that found something (`ok`) or not, unless it was
/// interrupted. (`ndp` too.)
pub(super) fn how(stop: Stop, ok: bool) -> Outcome {
    match stop {
        Stop::Interrupted => Outcome::Interrupted,
        Stop::Done => Outcome::from_answer(ok),
    }
}

fn secs(d: Duration) -> String {
    crate::text::age(d)
}

/// The route for ARP to `ip`: on-link, on an Ethernet-like interface.
fn arp_route(ip: Ipv4Addr, args: &ArpArgs) -> Result<Route> {
    let route = route::select(ip, args.interface.as_deref(), args.source)?;
    route.ensure_arpable(ip)?;
    if route.via_gateway {
        bail!(
            "{ip} is not on this link: the kernel routes it via {gw} on {dev}. ARP only reaches \
             neighbours on the same link; resolve the gateway instead (nettool arp {gw}), or name \
             an interface with -i to ask there anyway",
            gw = route.next_hop,
            dev = route.interface.name
        );
    }
    check_ethernet(&route.interface)?;
    Ok(route)
}

fn check_ethernet(iface: &Interface) -> Result<()> {
    if iface.is_loopback || iface.mac == MacAddr::zero() {
        bail!(
            "interface {} has no Ethernet address, so ARP has nothing to do there; pick an \
             Ethernet or veth interface with -i",
            iface.name
        );
    }
    Ok(())
}

/// The ARP link on `iface`, its frames also written to `pcap`. The last
/// privileged step of `arp`: past it the capabilities are dropped (the
/// user stays: the cache is written at the end, see
/// [`crate::privilege`]).
fn open_link(iface: &Interface, pcap: Option<&PcapFile>) -> Result<Box<dyn Link>> {
    privilege::before_drop("opening a link")?;
    let link = privilege::raised(&[Cap::NetRaw], || {
        PacketLink::open(iface.index, Filter::Arp)
    })?;
    let link = setup::capture(link, pcap)?;
    // Not when another command sweeps through here (scan's host
    // discovery): its own setup comes after.
    privilege::drop_after_setup_of("arp")?;
    Ok(link)
}

/// Runs `machine` on the interface's link, printing frames on stderr with -v.
fn drive<M: Machine>(
    machine: &mut M,
    link: &mut dyn Link,
    clock: &mut dyn Clock,
    verbose: bool,
    env: &mut Env,
    mut on_event: impl FnMut(Instant, M::Event, &mut dyn Write) -> Result<()>,
) -> Result<Stop> {
    let Env {
        out,
        err,
        interrupt,
        ..
    } = env;
    let mut tracer;
    let link: &mut dyn Link = if verbose {
        tracer = Tracer::new(link, &mut **err);
        &mut tracer
    } else {
        link
    };
    driver::run(machine, link, clock, interrupt, |now, ev| {
        on_event(now, ev, &mut **out)
    })
}

fn save_cache(path: &Path, cache: &Cache, env: &mut Env) -> Result<()> {
    match cachefile::save(path, cache) {
        Ok(warnings) => warnings.iter().try_for_each(|w| env.warn(w))?,
        // The answer stands; only remembering it failed.
        Err(e) => env.warn(format!("{e}; this run's answers were not cached"))?,
    }
    Ok(())
}

fn load_cache(path: &Path, env: &mut Env) -> Result<Cache> {
    let (cache, warnings) = cachefile::load(path);
    warnings.iter().try_for_each(|w| env.warn(w))?;
    Ok(cache)
}

/// Round-trip statistics for ping mode, and whether two MACs claimed the
/// address (`ndp`'s too).
#[derive(Default)]
pub(super) struct RttStats {
    pub(super) samples: Vec<Duration>,
    /// Two MACs answered on the wire. A conflict with the cache is not
    /// one: the wire's single answer is believed (and exits 0).
    pub(super) conflict: bool,
}

impl RttStats {
    /// Minimum, mean and maximum, if there is a sample.
    pub(super) fn summary(&self) -> Option<(Duration, Duration, Duration)> {
        let min = *self.samples.iter().min()?;
        let max = *self.samples.iter().max()?;
        let avg = self.samples.iter().sum::<Duration>() / self.samples.len() as u32;
        Some((min, avg, max))
    }
}

/// Resolves `ip` (or pings it, with `-c`) by `route`, through the cache
/// file and, when that cannot answer, on the link `open_link` opens;
/// the lines a user reads go to `env`.
pub fn resolve_over(
    ip: Ipv4Addr,
    args: &ArpArgs,
    route: &Route,
    open_link: &mut OpenLink,
    clock: &mut dyn Clock,
    env: &mut Env,
) -> Result<Outcome> {
    let cache_path = args.cache.path();
    let ping = args.count.is_some();
    let mut cache = load_cache(&cache_path, env)?;
    let printer = Printer::new(args);
    let start = clock.now();
    let wall = WallClock {
        at: start,
        unix_ms: clock.unix_ms(),
    };
    let mut res = Resolution::new(start, wall, &mut cache, resolve_settings(ip, route, args));
    let from_cache = res.is_done();
    let mut link = if from_cache { None } else { Some(open_link()?) };
    resolve_header(&printer, env.out, start, ip, route, ping, from_cache)?;
    let mut stats = RttStats::default();
    let iface_name = route.interface.name.clone();
    let render = |now: Instant, ev: resolve::Event, out: &mut dyn Write| -> Result<()> {
        render_resolve(&printer, out, now, &iface_name, ev, &mut stats)
    };
    let stop = match &mut link {
        None => answer_from_cache(&mut res, start, env.out, render)?,
        Some(link) => drive(&mut res, link.as_mut(), clock, args.verbose, env, render)?,
    };
    drop(link);
    let resolved = Resolved {
        ip,
        ping,
        answer: res.answer(),
        sent: res.frames_sent(),
        stats,
    };
    drop(res);
    // The exit status follows the verdict, so the result says it.
    let outcome = how(stop, resolved.verdict() == Verdict::Answered);
    resolved.report(&printer, env.out, clock.now(), outcome)?;
    save_cache(&cache_path, &cache, env)?;
    Ok(outcome)
}

/// Reports the events of a resolution the cache settled at `start`: no
/// link, no clock.
fn answer_from_cache(
    res: &mut Resolution,
    start: Instant,
    out: &mut dyn Write,
    mut render: impl FnMut(Instant, resolve::Event, &mut dyn Write) -> Result<()>,
) -> Result<Stop> {
    while let Some(ev) = res.poll_event() {
        render(start, ev, out)?;
    }
    Ok(Stop::Done)
}

/// What resolving `ip` asks of the cache and of the wire.
fn resolve_settings(ip: Ipv4Addr, route: &Route, args: &ArpArgs) -> Settings {
    let iface = &route.interface;
    let ping = args.count.is_some();
    Settings {
        iface: iface.name.clone(),
        ifindex: iface.index,
        target: ip,
        ttl: args.ttl,
        // -c asks for N requests on the wire, whatever the cache says.
        use_cache: !args.no_cache && !ping,
        probe: probe_config(
            args,
            Mode::Request,
            if ping {
                Until::AllSent
            } else {
                Until::FirstReply
            },
            (iface.mac, route.source),
            args.count.unwrap_or(Mode::Request.default_count()),
            Duration::from_secs(1),
        ),
    }
}

fn resolve_header(
    printer: &Printer,
    out: &mut dyn Write,
    start: Instant,
    ip: Ipv4Addr,
    route: &Route,
    ping: bool,
    from_cache: bool,
) -> Result<()> {
    let iface = &route.interface;
    let mode = if ping { "ping" } else { "resolve" };
    let event = start_event(
        mode,
        Start {
            ip: Some(ip.into()),
            local_ip: Some(route.source.into()),
            iface: Some(iface.name.clone()),
            mac: Some(iface.mac),
            ..Start::default()
        },
    );
    printer.rep.emit(out, start, event, |w| {
        // The cache's answer needs no introduction.
        if from_cache {
            return Ok(());
        }
        writeln!(
            w,
            "ARP {ip} on {} from {} ({})",
            iface.name, route.source, iface.mac
        )
    })?;
    Ok(())
}

/// A resolution (or a ping) that has run its course, to be reported.
struct Resolved {
    ip: Ipv4Addr,
    ping: bool,
    answer: Option<MacAddr>,
    sent: u64,
    stats: RttStats,
}

impl Resolved {
    /// A conflict first: replies from two MACs are no answer, however
    /// many came.
    fn verdict(&self) -> Verdict {
        if self.stats.conflict {
            Verdict::Conflict
        } else if self.answer.is_some() || (self.ping && !self.stats.samples.is_empty()) {
            Verdict::Answered
        } else {
            Verdict::NoReply
        }
    }

    fn report(
        &self,
        printer: &Printer,
        out: &mut dyn Write,
        now: Instant,
        outcome: Outcome,
    ) -> Result<()> {
        let (ip, ping, sent) = (self.ip, self.ping, self.sent);
        let replies = self.stats.samples.len();
        let summary = self.stats.summary().filter(|_| ping);
        let report = Report {
            ip: Some(ip.into()),
            mac: self.answer,
            sent: Some(sent),
            answered: ping.then_some(replies as u64),
            rtt_min_us: summary.map(|(min, _, _)| us(min)),
            rtt_avg_us: summary.map(|(_, avg, _)| us(avg)),
            rtt_max_us: summary.map(|(_, _, max)| us(max)),
            ..Report::new(self.verdict(), outcome)
        };
        printer.result(out, now, report, || {
            ping.then(|| {
                let rtt = summary.map_or(String::new(), |(min, avg, max)| {
                    format!(
                        ", rtt min/avg/max {:.3}/{:.3}/{:.3} ms",
                        ms(min),
                        ms(avg),
                        ms(max)
                    )
                });
                format!("--- {ip}: {sent} requests, {replies} replies{rtt}")
            })
        })
    }
}

fn render_resolve(
    p: &Printer,
    out: &mut dyn Write,
    now: Instant,
    iface: &str,
    ev: resolve::Event,
    stats: &mut RttStats,
) -> Result<()> {
    use crate::arp::resolve::Event as E;
    match ev {
        E::Probe(ev) => render_probe(p, out, now, iface, ev, stats),
        E::Learned {
            mac,
            learned: Learned::Conflict { previous },
        } => p.cache_conflict(out, now, previous.ip, previous.mac, mac),
        E::Learned { .. } => Ok(()),
        E::CacheHit { entry, age, left } => render_cache_hit(p, out, now, &entry, age, left),
        ev @ (E::Revalidating { .. } | E::RevalidationFailed { .. } | E::Expired { .. }) => {
            render_cache_miss(p, out, now, ev)
        }
    }
}

/// A cache entry that cannot answer: stale (re-validated by unicast),
/// not re-validated (dropped), or expired.
fn render_cache_miss(
    p: &Printer,
    out: &mut dyn Write,
    now: Instant,
    ev: resolve::Event,
) -> Result<()> {
    use crate::arp::resolve::Event as E;
    let (event, text) = match ev {
        E::Revalidating { entry, age } => (
            CacheEv {
                age_us: Some(us(age)),
                ..cache_event("stale", &entry)
            },
            format!(
                "cache: {} is-at {} is stale (learned {} ago); re-validating with a unicast request",
                entry.ip,
                entry.mac,
                secs(age)
            ),
        ),
        E::RevalidationFailed { entry } => (
            cache_event("failed", &entry),
            format!(
                "cache: {} did not answer for {}; entry dropped, asking by broadcast",
                entry.mac, entry.ip
            ),
        ),
        E::Expired { entry } => (
            cache_event("expired", &entry),
            format!(
                "cache: the entry for {} ({}) has expired; asking the wire",
                entry.ip, entry.mac
            ),
        ),
        // The other events are render_resolve's.
        _ => return Ok(()),
    };
    p.emit(out, now, Event::Cache(event), || text)
}

/// What the wire said while resolving: replies (timed, for ping's
/// statistics), conflicts, silence.
fn render_probe(
    p: &Printer,
    out: &mut dyn Write,
    now: Instant,
    iface: &str,
    ev: probe::Event,
    stats: &mut RttStats,
) -> Result<()> {
    match ev {
        probe::Event::Reply {
            target,
            mac,
            rtt,
            attempt,
            repeat,
        } => {
            stats.samples.push(rtt);
            if !repeat {
                p.mac_only(out, mac)?;
            }
            let event = arp_reply(target, mac, rtt, iface, Some(attempt.into()));
            let text = format!(
                "{target} is-at {mac}  rtt {}  (request {attempt})",
                human(rtt)
            );
            p.emit(out, now, event, || text)
        }
        probe::Event::Conflict {
            target,
            first,
            other,
        } => {
            stats.conflict = true;
            p.wire_conflict(out, now, target, first, other)
        }
        // Said in JSON by the result's outcome.
        probe::Event::Unanswered { target, attempts } => {
            p.rep.text(out, |w| {
                writeln!(
                    w,
                    "no reply from {target} after {}",
                    count(attempts, "request")
                )
            })?;
            Ok(())
        }
        probe::Event::Sent { .. } | probe::Event::Claimed { .. } => Ok(()),
    }
}

/// The `reply` event for `ip` at `mac` on `iface`, answering request
/// number `probe` when there is one.
fn arp_reply(ip: Ipv4Addr, mac: MacAddr, rtt: Duration, iface: &str, probe: Option<u64>) -> Event {
    Event::Reply(Box::new(Reply {
        probe,
        rtt_us: us(rtt),
        ip: Some(ip.into()),
        mac: Some(mac),
        iface: Some(iface.to_owned()),
        ..Reply::default()
    }))
}

/// The `cache` event for `entry` in `status`, without the optional fields.
fn cache_event(status: &'static str, entry: &Entry) -> CacheEv {
    CacheEv {
        status,
        ip: entry.ip.into(),
        mac: entry.mac,
        iface: None,
        age_us: None,
        fresh_us: None,
        ttl_us: None,
    }
}

fn render_cache_hit(
    p: &Printer,
    out: &mut dyn Write,
    now: Instant,
    entry: &Entry,
    age: Duration,
    left: Duration,
) -> Result<()> {
    p.mac_only(out, entry.mac)?;
    let event = Event::Cache(CacheEv {
        iface: Some(entry.iface.clone()),
        age_us: Some(us(age)),
        fresh_us: Some(us(left)),
        ..cache_event("fresh", entry)
    });
    p.emit(out, now, event, || {
        format!(
            "{} is-at {} on {}  (from cache: learned {} ago, fresh for {} more; no frame sent)",
            entry.ip,
            entry.mac,
            entry.iface,
            secs(age),
            secs(left)
        )
    })
}

/// Sweeps `subnet` (its route and addresses found), on `link`: the hosts
/// that answered are cached, and reported sorted by address.
pub fn sweep_over(
    args: &ArpArgs,
    subnet: &Subnet,
    link: &mut dyn Link,
    clock: &mut dyn Clock,
    env: &mut Env,
) -> Result<Outcome> {
    let cache_path = args.cache.path();
    let iface = &subnet.route.interface;
    let tries = args.retries.saturating_add(1);
    let config = probe::Config {
        rate: Some(args.rate),
        ..probe_config(
            args,
            Mode::Request,
            Until::FirstReply,
            (iface.mac, subnet.route.source),
            tries,
            SWEEP_WAIT,
        )
    };
    let printer = Printer::new(args);
    let mut cache = load_cache(&cache_path, env)?;
    let start = clock.now();
    let mut sweep = Sweep {
        printer: &printer,
        subnet,
        ttl: args.ttl,
        wall: WallClock {
            at: start,
            unix_ms: clock.unix_ms(),
        },
        hosts: BTreeMap::new(),
        conflicts: 0,
    };
    sweep.header(env.out, tries, args.rate)?;
    let targets = subnet.targets.iter().copied().map(Target::broadcast);
    let mut prober = Prober::new(start, config, targets);
    let stop = drive(
        &mut prober,
        link,
        clock,
        args.verbose,
        env,
        |now, ev, out| sweep.on_event(&mut cache, now, ev, out),
    )?;
    let now = clock.now();
    sweep.report_hosts(env.out, now)?;
    let outcome = how(stop, !sweep.hosts.is_empty());
    sweep.report(env.out, now, prober.frames_sent(), outcome)?;
    save_cache(&cache_path, &cache, env)?;
    Ok(outcome)
}

/// Host discovery before `scan` or `probe` runs over a subnet, as nmap's
/// ARP ping: every address of `net` on the local link is asked who-has
/// (3 tries, 300 ms apart as a sweep's, at most 1000 requests/s), quietly,
/// and the answers go to the ARP cache at `cache_path` for 60 s, so the
/// next-hop lookups of the run that follows send no frame. Returns the
/// addresses that answered, or `None` when ARP can learn nothing there
/// (`net` is routed through a gateway, or the interface has no Ethernet)
/// or the sweep was interrupted: then every address is taken as up. Addresses of this host are not asked.
pub fn discover(
    net: Ipv4Network,
    interface: Option<&str>,
    source: Option<Ipv4Addr>,
    cache_path: &Path,
    env: &mut Env,
) -> Result<Option<Vec<Ipv4Addr>>> {
    let targets = crate::arp::sweep_targets(net, &route::local_ipv4s());
    let Some(&first) = targets.first() else {
        return Ok(Some(Vec::new()));
    };
    let Ok(route) = route::select(first, interface, source) else {
        return Ok(None);
    };
    if route.via_gateway || check_ethernet(&route.interface).is_err() {
        return Ok(None);
    }
    let iface = &route.interface;
    let mut link = open_link(iface, env.pcap.as_ref())?;
    let mut clock = env.clock.clock();
    let config = probe::Config {
        mode: Mode::Request,
        until: Until::FirstReply,
        mac: iface.mac,
        sender_ip: route.source,
        tries: 3,
        interval: SWEEP_WAIT,
        timeout: SWEEP_WAIT,
        rate: Some(1000),
    };
    let mut cache = load_cache(cache_path, env)?;
    let start = clock.now();
    let wall = WallClock {
        at: start,
        unix_ms: clock.unix_ms(),
    };
    let mut prober = Prober::new(start, config, targets.into_iter().map(Target::broadcast));
    let mut up = std::collections::BTreeSet::new();
    let ttl = Duration::from_secs(60);
    let stop = drive(
        &mut prober,
        link.as_mut(),
        clock.as_mut(),
        false,
        env,
        |now, ev, _| {
            let at = wall.unix_ms(now);
            resolve::record(&mut cache, &iface.name, iface.index, at, ttl, &ev);
            if let probe::Event::Reply { target, .. } = ev {
                up.insert(target);
            }
            Ok(())
        },
    )?;
    save_cache(cache_path, &cache, env)?;
    if stop == Stop::Interrupted {
        // Cut short: nothing is known of the addresses not asked yet.
        return Ok(None);
    }
    Ok(Some(up.into_iter().collect()))
}

/// A subnet to sweep, and what the kernel said of it.
pub struct Subnet {
    pub net: Ipv4Network,
    /// The way to its addresses.
    pub route: Route,
    /// The addresses to ask: all its hosts but this one.
    pub targets: Vec<Ipv4Addr>,
}

/// The way to `net`, and the addresses to ask there: all its hosts but
/// this one. Routed by an address of the subnet that is not this host's
/// own (the kernel answers "local" for those, and names no link).
fn sweep_route(net: Ipv4Network, args: &ArpArgs) -> Result<Subnet> {
    // Count before listing: a /1 listed would not fit in memory.
    let hosts = crate::arp::host_count(net);
    if hosts > MAX_SWEEP {
        bail!("{net} has {hosts} addresses; nettool sweeps at most a /16 at a time — split it");
    }
    let targets = crate::arp::sweep_targets(net, &route::local_ipv4s());
    let probe_addr = *targets
        .first()
        .context("every address of the subnet belongs to this host; there is nobody to ask")?;
    let route = route::select(probe_addr, args.interface.as_deref(), args.source)?;
    if route.via_gateway {
        bail!(
            "{net} is not on this link (the kernel routes it via {} on {}); ARP sweeps only \
             reach the local link — name an interface with -i to sweep there anyway",
            route.next_hop,
            route.interface.name
        );
    }
    check_ethernet(&route.interface)?;
    Ok(Subnet {
        net,
        route,
        targets,
    })
}

/// A sweep of `net` under way: what it found so far (the hosts that
/// answered, with their MAC and RTT; how many addresses two MACs claimed).
struct Sweep<'a> {
    printer: &'a Printer,
    subnet: &'a Subnet,
    /// The lifetime of the cache entries it learns.
    ttl: Duration,
    /// When it started, on the run's clock and on the wall clock: what it
    /// learns is dated from there.
    wall: WallClock,
    hosts: BTreeMap<Ipv4Addr, (MacAddr, Duration)>,
    conflicts: u32,
}

impl Sweep<'_> {
    fn header(&self, out: &mut dyn Write, tries: u32, rate: u32) -> Result<()> {
        let (net, count) = (self.subnet.net, self.subnet.targets.len());
        let route = &self.subnet.route;
        let iface = &route.interface;
        let event = start_event(
            "sweep",
            Start {
                subnet: Some(net.to_string()),
                local_ip: Some(route.source.into()),
                iface: Some(iface.name.clone()),
                mac: Some(iface.mac),
                addresses: Some(count),
                tries: Some(tries),
                rate: Some(rate),
                ..Start::default()
            },
        );
        self.printer.rep.emit(out, self.wall.at, event, |w| {
            writeln!(
                w,
                "SWEEP {net} on {} from {}: {count} addresses, {tries} tr{} each, at most {rate}/s",
                iface.name,
                route.source,
                if tries == 1 { "y" } else { "ies" },
            )
        })?;
        Ok(())
    }

    /// Records an answer in `cache` and here; reports conflicts at once.
    fn on_event(
        &mut self,
        cache: &mut Cache,
        now: Instant,
        ev: probe::Event,
        out: &mut dyn Write,
    ) -> Result<()> {
        let iface = &self.subnet.route.interface;
        // Cache entries are dated by the wall clock when the answer is
        // believed (its conflict window closed quietly).
        let unix_ms = self.wall.unix_ms(now);
        let learned = resolve::record(cache, &iface.name, iface.index, unix_ms, self.ttl, &ev);
        match ev {
            probe::Event::Reply {
                target, mac, rtt, ..
            } => {
                self.hosts.entry(target).or_insert((mac, rtt));
                if let Some(Learned::Conflict { previous }) = learned {
                    self.conflicts += 1;
                    self.printer
                        .cache_conflict(out, now, target, previous.mac, mac)?;
                }
            }
            probe::Event::Conflict {
                target,
                first,
                other,
            } => {
                self.conflicts += 1;
                self.printer.wire_conflict(out, now, target, first, other)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The hosts that answered, sorted by address: one reply each.
    fn report_hosts(&self, out: &mut dyn Write, now: Instant) -> Result<()> {
        let iface = &self.subnet.route.interface.name;
        for (ip, (mac, rtt)) in &self.hosts {
            self.printer.pair_only(out, *ip, *mac)?;
            let event = arp_reply(*ip, *mac, *rtt, iface, None);
            self.printer.emit(out, now, event, || {
                format!("{:<15}  {mac}  {}", ip.to_string(), human(*rtt))
            })?;
        }
        Ok(())
    }

    fn report(&self, out: &mut dyn Write, now: Instant, sent: u64, outcome: Outcome) -> Result<()> {
        let (count, answered) = (self.subnet.targets.len(), self.hosts.len());
        let verdict = if answered == 0 {
            Verdict::NoReply
        } else {
            Verdict::Answered
        };
        let report = Report {
            subnet: Some(self.subnet.net.to_string()),
            addresses: Some(count),
            answered: Some(answered as u64),
            conflicts: Some(self.conflicts.into()),
            sent: Some(sent),
            ..Report::new(verdict, outcome)
        };
        let elapsed = now - self.wall.at;
        self.printer.result(out, now, report, || {
            Some(format!(
                "--- {answered} of {} answered; {} in {:.2} s",
                crate::text::count(count as u64, "address"),
                crate::text::count(sent, "request"),
                elapsed.as_secs_f64()
            ))
        })
    }
}

/// The interface for DAD or an announcement of `ip`: the one that holds
/// the address when it is ours, else the route's.
fn claim_interface(ip: Ipv4Addr, args: &ArpArgs) -> Result<Interface> {
    if let Some(name) = &args.interface {
        let iface = route::interface_by_name(name)?;
        check_ethernet(&iface)?;
        return Ok(iface);
    }
    let iface = match route::select(ip, None, None) {
        Ok(r) if r.via_gateway => bail!(
            "{ip} is not on this link (the kernel routes it via {} on {}); name the interface with -i",
            r.next_hop,
            r.interface.name
        ),
        Ok(r) => r.interface,
        Err(RouteError::LocalDestination { .. }) => {
            route::interface_holding(ip)?.with_context(|| {
                format!(
                    "{ip} is a local address but no Ethernet interface holds it; name one with -i"
                )
            })?
        }
        Err(e) => return Err(e.into()),
    };
    check_ethernet(&iface)?;
    Ok(iface)
}

/// Claims `ip` on `iface` (RFC 5227: probes for `--dad`, announcements
/// otherwise), on `link`.
pub fn claim_over(
    ip: Ipv4Addr,
    args: &ArpArgs,
    iface: &Interface,
    link: &mut dyn Link,
    clock: &mut dyn Clock,
    env: &mut Env,
) -> Result<Outcome> {
    let mode = claim_mode(args);
    let tries = args.count.unwrap_or(mode.default_count());
    let wait = Duration::from_secs(1);
    let from = (iface.mac, ip);
    let config = probe_config(args, mode, mode.claim_until(), from, tries, wait);
    let printer = Printer::new(args);
    let start = clock.now();
    let mut prober = Prober::new(start, config, [Target::broadcast(ip)]);
    let mut claim = Claim {
        printer: &printer,
        ip,
        iface,
        mode,
        owner: None,
    };
    claim.header(env.out, start, tries)?;
    let stop = drive(&mut prober, link, clock, args.verbose, env, |_, ev, _| {
        if let probe::Event::Claimed { mac, .. } = ev {
            claim.owner.get_or_insert(mac);
        }
        Ok(())
    })?;
    claim.report(env.out, clock.now(), stop, prober.frames_sent())
}

/// What `--dad`, `--announce` and `--announce-reply` ask for.
fn claim_mode(args: &ArpArgs) -> Mode {
    if args.dad {
        Mode::Dad
    } else if args.announce_reply {
        Mode::AnnounceReply
    } else {
        Mode::AnnounceRequest
    }
}

/// A claim of `ip` (DAD or an announcement) on `iface`, and the first
/// host that said it owns the address.
struct Claim<'a> {
    printer: &'a Printer,
    ip: Ipv4Addr,
    iface: &'a Interface,
    mode: Mode,
    owner: Option<MacAddr>,
}

impl Claim<'_> {
    fn header(&self, out: &mut dyn Write, start: Instant, tries: u32) -> Result<()> {
        let (ip, iface, dad) = (self.ip, self.iface, self.mode == Mode::Dad);
        let event = start_event(
            if dad { "dad" } else { "announce" },
            Start {
                ip: Some(ip.into()),
                iface: Some(iface.name.clone()),
                mac: Some(iface.mac),
                tries: Some(tries),
                ..Start::default()
            },
        );
        self.printer.rep.emit(out, start, event, |w| {
            let what = if dad { "DAD" } else { "ANNOUNCE" };
            writeln!(w, "{what} {ip} on {} ({})", iface.name, iface.mac)
        })?;
        Ok(())
    }

    /// The result, once `sent` frames have gone out: the address is free
    /// or taken (DAD), or announced.
    fn report(&self, out: &mut dyn Write, now: Instant, stop: Stop, sent: u64) -> Result<Outcome> {
        let (ip, iface) = (self.ip, self.iface);
        let mut report = Report {
            ip: Some(ip.into()),
            sent: Some(sent),
            ..Report::default()
        };
        let (verdict, outcome, text) = match (stop, self.mode, self.owner) {
            (Stop::Interrupted, _, _) => (Verdict::Interrupted, Outcome::Interrupted, None),
            (Stop::Done, Mode::Dad, Some(mac)) => {
                self.printer.mac_only(out, mac)?;
                report.mac = Some(mac);
                let text = format!("{ip} is in use by {mac}");
                (Verdict::Conflict, Outcome::Negative, Some(text))
            }
            (Stop::Done, Mode::Dad, None) => {
                let text = format!("{ip} is free: nobody answered {}", count(sent, "probe"));
                (Verdict::Free, Outcome::Success, Some(text))
            }
            (Stop::Done, mode, _) => {
                report.mac = Some(iface.mac);
                report.iface = Some(iface.name.clone());
                let kind = match (mode == Mode::AnnounceReply, sent) {
                    (true, 1) => "reply",
                    (true, _) => "replies",
                    (false, 1) => "request",
                    (false, _) => "requests",
                };
                let text = format!(
                    "announced {ip} is-at {} on {} ({sent} gratuitous {kind})",
                    iface.mac, iface.name
                );
                (Verdict::Done, Outcome::Success, Some(text))
            }
        };
        let head = Report::new(verdict, outcome);
        report.outcome = head.outcome;
        report.exit = head.exit;
        self.printer.result(out, now, report, || text)?;
        Ok(outcome)
    }
}

/// `--show`: the cache file's entries as they stand on `env`'s wall clock.
fn show(args: &ArpArgs, env: &mut Env) -> Result<Outcome> {
    let path = &args.cache.path();
    let printer = Printer::new(args);
    let cache = load_cache(path, env)?;
    let mut clock = env.clock.clock();
    let now = clock.unix_ms();
    let at = clock.now();
    let start = start_event("show", Start::default());
    printer.rep.emit(env.out, at, start, |_| Ok(()))?;
    if printer.human() {
        if cache.is_empty() {
            writeln!(env.out, "the ARP cache ({}) is empty", path.display())?;
            return Ok(Outcome::Success);
        }
        writeln!(
            env.out,
            "{:<12} {:<15}  {:<17}  {:<7}  {:>8}  LEFT",
            "IFACE", "ADDRESS", "MAC", "STATE", "AGE"
        )?;
    }
    for entry in cache.entries() {
        show_entry(&printer, env.out, at, entry, now)?;
    }
    printer.result(
        env.out,
        at,
        Report::new(Verdict::Done, Outcome::Success),
        || None,
    )?;
    Ok(Outcome::Success)
}

/// One row of the cache table, written `at`: `e` as it stands at `now`
/// (Unix ms).
fn show_entry(
    printer: &Printer,
    out: &mut dyn Write,
    at: Instant,
    e: &Entry,
    now: u64,
) -> Result<()> {
    let (state, left) = match e.freshness(now) {
        Freshness::Fresh { left, .. } => ("fresh", Some(left)),
        Freshness::Stale { .. } => ("stale", None),
        Freshness::Expired => ("expired", None),
    };
    let age = Duration::from_millis(now.saturating_sub(e.learned_at_ms));
    printer.pair_only(out, e.ip, e.mac)?;
    printer.emit(
        out,
        at,
        Event::Cache(CacheEv {
            status: state,
            ip: e.ip.into(),
            mac: e.mac,
            iface: Some(e.iface.clone()),
            age_us: Some(us(age)),
            fresh_us: left.map(us),
            ttl_us: Some(e.ttl_ms.saturating_mul(1000)),
        }),
        || {
            format!(
                "{:<12} {:<15}  {}  {:<7}  {:>8}  {}",
                e.iface,
                e.ip.to_string(),
                e.mac,
                state,
                secs(age),
                left.map_or("-".into(), secs)
            )
        },
    )
}

/// `--flush`: empties the cache file.
fn flush(args: &ArpArgs, env: &mut Env) -> Result<Outcome> {
    let path = &args.cache.path();
    // The count is printed with --quiet too: it is the answer.
    let rep = Reporter::new(args.json);
    let mut clock = env.clock.clock();
    let start = start_event("flush", Start::default());
    rep.emit(env.out, clock.now(), start, |_| Ok(()))?;
    let mut cache = load_cache(path, env)?;
    let n = cache.len();
    cache.flush();
    cachefile::save(path, &cache)?;
    let at = clock.now();
    rep.emit(
        env.out,
        at,
        Event::Result(Box::new(Report {
            flushed: Some(n),
            ..Report::new(Verdict::Done, Outcome::Success)
        })),
        |w| {
            writeln!(
                w,
                "flushed {n} entr{} from {}",
                if n == 1 { "y" } else { "ies" },
                path.display()
            )
        },
    )?;
    Ok(Outcome::Success)
}
