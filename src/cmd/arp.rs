//! `nettool arp`: resolve, ping, sweep, probe (DAD) and announce.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ipnetwork::Ipv4Network;

use super::Env;
use crate::arp::cache::{Cache, Freshness, Learned};
use crate::arp::probe::{self, Mode, Prober, Target, Until};
use crate::arp::resolve::{self, Resolution, Settings, WallClock};
use crate::cachefile;
use crate::cli::ArpArgs;
use crate::clock;
use crate::clock::{Clock, SystemClock};
use crate::driver::{self, Stop};
use crate::link::packet::PacketLink;
use crate::link::pcap::Capture;
use crate::link::trace::Tracer;
use crate::link::{Filter, Link};
use crate::machine::Machine;
use crate::outcome::Outcome;
use crate::report::event::{Cache as CacheEv, Conflict, Reply, Start};
use crate::report::{Event, Format, Report, Reporter, Verdict, us};
use crate::route::{self, Interface, Route, RouteError};
use crate::time::{Instant, human};
use crate::wire::MacAddr;

/// Largest sweep: a /16. Larger ones are almost always a typo, and would
/// take minutes at any polite rate.
const MAX_SWEEP: usize = 65_536;

pub fn run(args: ArpArgs, env: &mut Env) -> Result<Outcome> {
    let cache_path = args.cache.path();
    if args.show {
        return show(&cache_path, &args, env);
    }
    if args.flush {
        return flush(&cache_path, &args, env);
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
        return sweep(net, &args, &cache_path, env);
    }
    let ip = super::resolve_host(target)?;
    if args.dad || args.announce || args.announce_reply {
        return claim(ip, &args, env);
    }
    resolve_one(ip, &args, &cache_path, env)
}

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

    /// `--quiet` prints the MAC and nothing else.
    fn mac_only(&self, out: &mut dyn Write, mac: MacAddr) -> Result<()> {
        if self.rep.format() == Format::Quiet {
            writeln!(out, "{mac}")?;
        }
        Ok(())
    }
}

fn ms(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

/// The outcome of a run that found something (`ok`) or not, unless it was
/// interrupted.
fn how(stop: Stop, ok: bool) -> Outcome {
    match stop {
        Stop::Interrupted => Outcome::Interrupted,
        Stop::Done => Outcome::from_answer(ok),
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
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

fn open_link(iface: &Interface, env: &Env) -> Result<Capture<PacketLink>> {
    Ok(env.capture(PacketLink::open(iface.index, Filter::Arp)?)?)
}

/// Runs `machine` on the interface's link, printing frames on stderr with -v.
fn drive<M: Machine>(
    machine: &mut M,
    link: &mut Capture<PacketLink>,
    clock: &mut SystemClock,
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
/// address.
#[derive(Default)]
struct RttStats {
    samples: Vec<Duration>,
    conflict: bool,
}

impl RttStats {
    fn summary(&self) -> Option<(Duration, Duration, Duration)> {
        let min = *self.samples.iter().min()?;
        let max = *self.samples.iter().max()?;
        let avg = self.samples.iter().sum::<Duration>() / self.samples.len() as u32;
        Some((min, avg, max))
    }
}

fn resolve_one(ip: Ipv4Addr, args: &ArpArgs, cache_path: &Path, env: &mut Env) -> Result<Outcome> {
    let route = arp_route(ip, args)?;
    let iface = route.interface.clone();
    let mut cache = load_cache(cache_path, env)?;
    let ping = args.count.is_some();
    let settings = Settings {
        iface: iface.name.clone(),
        ifindex: iface.index,
        target: ip,
        ttl: args.ttl,
        // -c asks for N requests on the wire, whatever the cache says.
        use_cache: !args.no_cache && !ping,
        probe: probe::Config {
            mode: Mode::Request,
            until: if ping {
                Until::AllSent
            } else {
                Until::FirstReply
            },
            mac: iface.mac,
            sender_ip: route.source,
            tries: args.count.unwrap_or(3),
            interval: args.interval.unwrap_or(Duration::from_secs(1)),
            timeout: args.timeout.unwrap_or(Duration::from_secs(1)),
            rate: None,
        },
    };
    let printer = Printer::new(args);
    let mut clock = printer.rep.clock();
    let start = clock.now();
    let wall = WallClock {
        at: start,
        unix_ms: clock::unix_now_ms(),
    };
    let mut stats = RttStats::default();
    let mut res = Resolution::new(start, wall, &mut cache, settings);
    let from_cache = res.is_done();
    // A fresh cache entry needs no socket, no frame and no privileges
    // beyond reading the cache.
    let mut link = if from_cache {
        None
    } else {
        Some(open_link(&iface, env)?)
    };
    printer.rep.emit(
        env.out,
        start,
        Event::Start(Box::new(Start {
            command: "arp",
            mode: Some(if ping { "ping" } else { "resolve" }),
            ip: Some(ip),
            local_ip: Some(route.source),
            iface: Some(iface.name.clone()),
            mac: Some(iface.mac),
            ..Start::default()
        })),
        |w| {
            // The cache's answer needs no introduction.
            if from_cache {
                return Ok(());
            }
            writeln!(
                w,
                "ARP {ip} on {} from {} ({})",
                iface.name, route.source, iface.mac
            )
        },
    )?;
    let iface_name = iface.name.clone();
    let mut render = |now: Instant, ev: resolve::Event, out: &mut dyn Write| -> Result<()> {
        render_resolve(&printer, out, now, &iface_name, ev, &mut stats)
    };
    let stop = match &mut link {
        None => {
            while let Some(ev) = res.poll_event() {
                render(start, ev, &mut *env.out)?;
            }
            Stop::Done
        }
        Some(link) => drive(&mut res, link, &mut clock, args.verbose, env, &mut render)?,
    };
    drop(link);
    let answer = res.answer();
    let sent = res.frames_sent();
    drop(res);
    let now = clock.now();
    let outcome = how(stop, answer.is_some());
    let replies = stats.samples.len();
    let verdict = if answer.is_some() || (ping && replies > 0) {
        Verdict::Answered
    } else if stats.conflict {
        Verdict::Conflict
    } else {
        Verdict::NoReply
    };
    let summary = stats.summary();
    let (min, avg, max) = summary.unwrap_or_default();
    printer.result(
        env.out,
        now,
        Report {
            ip: Some(ip),
            mac: answer,
            sent: Some(sent),
            answered: ping.then_some(replies as u64),
            rtt_min_us: summary.filter(|_| ping).map(|_| us(min)),
            rtt_avg_us: summary.filter(|_| ping).map(|_| us(avg)),
            rtt_max_us: summary.filter(|_| ping).map(|_| us(max)),
            ..Report::new(verdict, outcome)
        },
        || {
            ping.then(|| {
                let rtt = if replies > 0 {
                    format!(
                        ", rtt min/avg/max {:.3}/{:.3}/{:.3} ms",
                        ms(min),
                        ms(avg),
                        ms(max)
                    )
                } else {
                    String::new()
                };
                format!("--- {ip}: {sent} requests, {replies} replies{rtt}")
            })
        },
    )?;
    save_cache(cache_path, &cache, env)?;
    Ok(outcome)
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
    let cached = |status, entry: &crate::arp::cache::Entry| CacheEv {
        status,
        ip: entry.ip,
        mac: entry.mac,
        iface: None,
        age_us: None,
        fresh_us: None,
        ttl_us: None,
    };
    match ev {
        E::CacheHit { entry, age, left } => {
            p.mac_only(out, entry.mac)?;
            p.emit(
                out,
                now,
                Event::Cache(CacheEv {
                    iface: Some(entry.iface.clone()),
                    age_us: Some(us(age)),
                    fresh_us: Some(us(left)),
                    ..cached("fresh", &entry)
                }),
                || {
                    format!(
                        "{} is-at {} on {}  (from cache: learned {} ago, fresh for {} more; no frame sent)",
                        entry.ip,
                        entry.mac,
                        entry.iface,
                        secs(age),
                        secs(left)
                    )
                },
            )?;
        }
        E::Revalidating { entry, age } => p.emit(
            out,
            now,
            Event::Cache(CacheEv {
                age_us: Some(us(age)),
                ..cached("stale", &entry)
            }),
            || {
                format!(
                    "cache: {} is-at {} is stale (learned {} ago); re-validating with a unicast request",
                    entry.ip,
                    entry.mac,
                    secs(age)
                )
            },
        )?,
        E::RevalidationFailed { entry } => p.emit(
            out,
            now,
            Event::Cache(cached("failed", &entry)),
            || format!("cache: {} did not answer for {}; entry dropped, asking by broadcast", entry.mac, entry.ip),
        )?,
        E::Expired { entry } => p.emit(
            out,
            now,
            Event::Cache(cached("expired", &entry)),
            || format!("cache: the entry for {} ({}) has expired; asking the wire", entry.ip, entry.mac),
        )?,
        E::Probe(probe::Event::Reply {
            target,
            mac,
            rtt,
            attempt,
            repeat,
        }) => {
            stats.samples.push(rtt);
            if !repeat {
                p.mac_only(out, mac)?;
            }
            p.emit(
                out,
                now,
                Event::Reply(Box::new(Reply {
                    probe: Some(attempt.into()),
                    rtt_us: us(rtt),
                    ip: Some(target),
                    mac: Some(mac),
                    iface: Some(iface.to_owned()),
                    ..Reply::default()
                })),
                || format!("{target} is-at {mac}  rtt {}  (request {attempt})", human(rtt)),
            )?;
        }
        E::Probe(probe::Event::Conflict { target, first, other }) => {
            stats.conflict = true;
            p.emit(
                out,
                now,
                Event::Conflict(Conflict {
                    ip: target,
                    mac: first,
                    other_mac: other,
                    seen: "wire",
                }),
                || format!("CONFLICT: {target} is claimed by both {first} and {other}; neither is cached"),
            )?;
        }
        // Said in JSON by the result's outcome.
        E::Probe(probe::Event::Unanswered { target, attempts }) => p.rep.text(out, |w| {
            writeln!(
                w,
                "no reply from {target} after {attempts} request{}",
                plural(attempts.into())
            )
        })?,
        E::Learned {
            mac,
            learned: Learned::Conflict { previous },
        } => {
            stats.conflict = true;
            p.emit(
                out,
                now,
                Event::Conflict(Conflict {
                    ip: previous.ip,
                    mac,
                    other_mac: previous.mac,
                    seen: "cache",
                }),
                || {
                    format!(
                        "CONFLICT: the cache had {} at {}, the wire now says {mac}; neither is cached",
                        previous.ip, previous.mac
                    )
                },
            )?
        }
        E::Learned { .. } | E::Probe(probe::Event::Sent { .. } | probe::Event::Claimed { .. }) => {}
    }
    Ok(())
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn sweep(net: Ipv4Network, args: &ArpArgs, cache_path: &Path, env: &mut Env) -> Result<Outcome> {
    let mut targets = crate::arp::host_addresses(net);
    if targets.len() > MAX_SWEEP {
        bail!(
            "{net} has {} addresses; nettool sweeps at most a /16 at a time — split it",
            targets.len()
        );
    }
    // Route by an address of the subnet that is not this host's own (the
    // kernel answers "local" for those, and names no link).
    let local = local_ipv4s();
    let probe_addr = *targets
        .iter()
        .find(|ip| !local.contains(ip))
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
    let iface = route.interface.clone();
    check_ethernet(&iface)?;
    // Our own addresses would only ever be answered by a duplicate.
    targets.retain(|ip| !local.contains(ip));
    let tries = args.retries.saturating_add(1);
    let config = probe::Config {
        mode: Mode::Request,
        until: Until::FirstReply,
        mac: iface.mac,
        sender_ip: route.source,
        tries,
        interval: args.interval.unwrap_or(Duration::from_millis(300)),
        timeout: args.timeout.unwrap_or(Duration::from_millis(300)),
        rate: Some(args.rate),
    };
    let printer = Printer::new(args);
    let mut cache = load_cache(cache_path, env)?;
    let mut link = open_link(&iface, env)?;
    let mut clock = printer.rep.clock();
    let start = clock.now();
    printer.rep.emit(
        env.out,
        start,
        Event::Start(Box::new(Start {
            command: "arp",
            mode: Some("sweep"),
            subnet: Some(net.to_string()),
            local_ip: Some(route.source),
            iface: Some(iface.name.clone()),
            mac: Some(iface.mac),
            addresses: Some(targets.len()),
            tries: Some(tries),
            rate: Some(args.rate),
            ..Start::default()
        })),
        |w| {
            writeln!(
                w,
                "SWEEP {net} on {} from {}: {} addresses, {tries} tr{} each, at most {}/s",
                iface.name,
                route.source,
                targets.len(),
                if tries == 1 { "y" } else { "ies" },
                args.rate
            )
        },
    )?;
    let count = targets.len();
    let mut prober = Prober::new(start, config, targets.into_iter().map(Target::broadcast));
    let mut hosts: BTreeMap<Ipv4Addr, (MacAddr, Duration)> = BTreeMap::new();
    let mut conflicts = 0u32;
    let stop = {
        let hosts = &mut hosts;
        let cache = &mut cache;
        let conflicts = &mut conflicts;
        let printer = &printer;
        let name = iface.name.clone();
        let ifindex = iface.index;
        let ttl = args.ttl;
        drive(
            &mut prober,
            &mut link,
            &mut clock,
            args.verbose,
            env,
            move |now, ev, out| {
                // Cache entries are dated by the wall clock when the answer is
                // handled; the RTT already came from the driver's clock.
                let learned =
                    resolve::record(cache, &name, ifindex, clock::unix_now_ms(), ttl, &ev);
                match ev {
                    probe::Event::Reply {
                        target, mac, rtt, ..
                    } => {
                        hosts.entry(target).or_insert((mac, rtt));
                        if let Some(Learned::Conflict { previous }) = learned {
                            *conflicts += 1;
                            printer.emit(
                                out,
                                now,
                                Event::Conflict(Conflict {
                                    ip: target,
                                    mac,
                                    other_mac: previous.mac,
                                    seen: "cache",
                                }),
                                || format!(
                                    "CONFLICT: the cache had {target} at {}, the wire now says {mac}; neither is cached",
                                    previous.mac
                                ),
                            )?;
                        }
                    }
                    probe::Event::Conflict {
                        target,
                        first,
                        other,
                    } => {
                        *conflicts += 1;
                        printer.emit(
                            out,
                            now,
                            Event::Conflict(Conflict {
                                ip: target,
                                mac: first,
                                other_mac: other,
                                seen: "wire",
                            }),
                            || format!(
                                "CONFLICT: {target} is claimed by both {first} and {other}; neither is cached"
                            ),
                        )?;
                    }
                    _ => {}
                }
                Ok(())
            },
        )?
    };
    let now = clock.now();
    let elapsed = now - start;
    let sent = prober.frames_sent();
    // The hosts that answered, sorted by address: one reply each.
    for (ip, (mac, rtt)) in &hosts {
        printer.mac_only(env.out, *mac)?;
        printer.emit(
            env.out,
            now,
            Event::Reply(Box::new(Reply {
                rtt_us: us(*rtt),
                ip: Some(*ip),
                mac: Some(*mac),
                iface: Some(iface.name.clone()),
                ..Reply::default()
            })),
            || format!("{:<15}  {mac}  {}", ip.to_string(), human(*rtt)),
        )?;
    }
    let outcome = how(stop, !hosts.is_empty());
    printer.result(
        env.out,
        now,
        Report {
            subnet: Some(net.to_string()),
            addresses: Some(count),
            answered: Some(hosts.len() as u64),
            conflicts: Some(conflicts.into()),
            sent: Some(sent),
            ..Report::new(
                if hosts.is_empty() {
                    Verdict::NoReply
                } else {
                    Verdict::Answered
                },
                outcome,
            )
        },
        || {
            Some(format!(
                "--- {} of {count} addresses answered; {sent} requests in {:.2} s",
                hosts.len(),
                elapsed.as_secs_f64()
            ))
        },
    )?;
    save_cache(cache_path, &cache, env)?;
    Ok(outcome)
}

/// This host's IPv4 addresses, on every interface.
fn local_ipv4s() -> Vec<Ipv4Addr> {
    pnet::datalink::interfaces()
        .iter()
        .flat_map(|i| i.ips.iter())
        .filter_map(|n| match n.ip() {
            std::net::IpAddr::V4(v4) => Some(v4),
            std::net::IpAddr::V6(_) => None,
        })
        .collect()
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
            let index = pnet::datalink::interfaces()
                .into_iter()
                .find(|i| !i.is_loopback() && i.ips.iter().any(|n| n.ip() == std::net::IpAddr::V4(ip)))
                .map(|i| i.index)
                .with_context(|| format!("{ip} is a local address but no Ethernet interface holds it; name one with -i"))?;
            route::interface_by_index(index)?
        }
        Err(e) => return Err(e.into()),
    };
    check_ethernet(&iface)?;
    Ok(iface)
}

fn claim(ip: Ipv4Addr, args: &ArpArgs, env: &mut Env) -> Result<Outcome> {
    if ip.is_broadcast() || ip.is_multicast() || ip.is_unspecified() || ip.is_loopback() {
        bail!("{ip} is not a unicast host address");
    }
    let iface = claim_interface(ip, args)?;
    let (mode, until, tries) = if args.dad {
        (
            Mode::Dad,
            Until::FirstReply,
            args.count.unwrap_or(crate::arp::PROBE_NUM),
        )
    } else if args.announce_reply {
        (
            Mode::AnnounceReply,
            Until::AllSent,
            args.count.unwrap_or(crate::arp::ANNOUNCE_NUM),
        )
    } else {
        (
            Mode::AnnounceRequest,
            Until::AllSent,
            args.count.unwrap_or(crate::arp::ANNOUNCE_NUM),
        )
    };
    let config = probe::Config {
        mode,
        until,
        mac: iface.mac,
        sender_ip: ip,
        tries,
        interval: args.interval.unwrap_or(Duration::from_secs(1)),
        timeout: args.timeout.unwrap_or(Duration::from_secs(1)),
        rate: None,
    };
    let printer = Printer::new(args);
    let mut link = open_link(&iface, env)?;
    let mut clock = printer.rep.clock();
    let start = clock.now();
    printer.rep.emit(
        env.out,
        start,
        Event::Start(Box::new(Start {
            command: "arp",
            mode: Some(if args.dad { "dad" } else { "announce" }),
            ip: Some(ip),
            iface: Some(iface.name.clone()),
            mac: Some(iface.mac),
            tries: Some(tries),
            ..Start::default()
        })),
        |w| {
            let what = if args.dad { "DAD" } else { "ANNOUNCE" };
            writeln!(w, "{what} {ip} on {} ({})", iface.name, iface.mac)
        },
    )?;
    let mut prober = Prober::new(start, config, [Target::broadcast(ip)]);
    let mut owner = None;
    let stop = drive(
        &mut prober,
        &mut link,
        &mut clock,
        args.verbose,
        env,
        |_, ev, _| {
            if let probe::Event::Claimed { mac, .. } = ev {
                owner.get_or_insert(mac);
            }
            Ok(())
        },
    )?;
    let sent = prober.frames_sent();
    let now = clock.now();
    if stop == Stop::Interrupted {
        printer.result(
            env.out,
            now,
            Report {
                ip: Some(ip),
                sent: Some(sent),
                ..Report::new(Verdict::Interrupted, Outcome::Interrupted)
            },
            || None,
        )?;
        return Ok(Outcome::Interrupted);
    }
    if args.dad {
        match owner {
            Some(mac) => {
                printer.mac_only(env.out, mac)?;
                printer.result(
                    env.out,
                    now,
                    Report {
                        ip: Some(ip),
                        mac: Some(mac),
                        sent: Some(sent),
                        ..Report::new(Verdict::Conflict, Outcome::Negative)
                    },
                    || Some(format!("{ip} is in use by {mac}")),
                )?;
                Ok(Outcome::Negative)
            }
            None => {
                printer.result(
                    env.out,
                    now,
                    Report {
                        ip: Some(ip),
                        sent: Some(sent),
                        ..Report::new(Verdict::Free, Outcome::Success)
                    },
                    || {
                        Some(format!(
                            "{ip} is free: nobody answered {sent} probe{}",
                            plural(sent)
                        ))
                    },
                )?;
                Ok(Outcome::Success)
            }
        }
    } else {
        let kind = match (args.announce_reply, sent) {
            (true, 1) => "reply",
            (true, _) => "replies",
            (false, 1) => "request",
            (false, _) => "requests",
        };
        printer.result(
            env.out,
            now,
            Report {
                ip: Some(ip),
                mac: Some(iface.mac),
                iface: Some(iface.name.clone()),
                sent: Some(sent),
                ..Report::new(Verdict::Done, Outcome::Success)
            },
            || {
                Some(format!(
                    "announced {ip} is-at {} on {} ({sent} gratuitous {kind})",
                    iface.mac, iface.name
                ))
            },
        )?;
        Ok(Outcome::Success)
    }
}

fn show(path: &Path, args: &ArpArgs, env: &mut Env) -> Result<Outcome> {
    let mut printer = Printer::new(args);
    let cache = load_cache(path, env)?;
    let now = clock::unix_now_ms();
    printer.rep.emit_now(
        env.out,
        Event::Start(Box::new(Start {
            command: "arp",
            mode: Some("show"),
            ..Start::default()
        })),
        |_| Ok(()),
    )?;
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
    for e in cache.entries() {
        let (state, left) = match e.freshness(now) {
            Freshness::Fresh { left, .. } => ("fresh", Some(left)),
            Freshness::Stale { .. } => ("stale", None),
            Freshness::Expired => ("expired", None),
        };
        let age = Duration::from_millis(now.saturating_sub(e.learned_at_ms));
        printer.mac_only(env.out, e.mac)?;
        let at = printer.rep.now();
        printer.emit(
            env.out,
            at,
            Event::Cache(CacheEv {
                status: state,
                ip: e.ip,
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
        )?;
    }
    let at = printer.rep.now();
    printer.result(
        env.out,
        at,
        Report::new(Verdict::Done, Outcome::Success),
        || None,
    )?;
    Ok(Outcome::Success)
}

fn flush(path: &Path, args: &ArpArgs, env: &mut Env) -> Result<Outcome> {
    // The count is printed with --quiet too: it is the answer.
    let mut rep = Reporter::new(args.json);
    rep.emit_now(
        env.out,
        Event::Start(Box::new(Start {
            command: "arp",
            mode: Some("flush"),
            ..Start::default()
        })),
        |_| Ok(()),
    )?;
    let mut cache = load_cache(path, env)?;
    let n = cache.len();
    cache.flush();
    cachefile::save(path, &cache)?;
    let at = rep.now();
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
