//! `nettool ndp`: resolve (or ping), DAD, announce, all-nodes, and the
//! IPv6 side of the cache.

use std::cell::RefCell;
use std::io::Write;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::Env;
use super::arp::{RttStats, how};
use crate::arp::resolve::WallClock;
use crate::cachefile::{self, Caches};
use crate::cli::NdpArgs;
use crate::clock::Clock;
use crate::driver::{self, Stop};
use crate::link::packet::PacketLink;
use crate::link::pcap::PcapFile;
use crate::link::trace::Tracer;
use crate::link::{Filter, Link};
use crate::machine::Machine;
use crate::ndp::cache::{Entry, Learned, State, Timing};
use crate::ndp::claim::{self, Claim, Mode};
use crate::ndp::nodes::{self, AllNodes};
use crate::ndp::resolve::{self, Resolution, Settings};
use crate::outcome::Outcome;
use crate::privilege::{self, Cap};
use crate::report::event::{Cache as CacheEv, Conflict, Reply, Start};
use crate::report::{Event, Format, Report, Reporter, Verdict, us};
use crate::route::{self, Interface};
use crate::setup;
use crate::text::count;
use crate::time::{Instant, human};
use crate::wire::MacAddr;
use crate::wire::ipv6::{is_link_local, solicited_node};

pub fn run(args: NdpArgs, env: &mut Env) -> Result<Outcome> {
    if args.show {
        return show(&args, env);
    }
    if args.flush {
        return flush(&args, env);
    }
    if args.all_nodes {
        let place = place(None, &args)?;
        return all_nodes(&args, &place, env);
    }
    let text = args
        .target
        .as_deref()
        .context("an IPv6 address is required")?;
    let (ip, zone) = parse_target(text)?;
    let place = place(Some((ip, zone.as_deref())), &args)?;
    if args.dad || args.announce {
        return claim(ip, &args, &place, env);
    }
    resolve(ip, &args, &place, env)
}

/// `ADDR` or `ADDR%IFACE` (RFC 4007's zone index), IPv6 only.
pub fn parse_target(text: &str) -> Result<(Ipv6Addr, Option<String>)> {
    let (addr, zone) = match text.split_once('%') {
        Some((a, z)) if !z.is_empty() => (a, Some(z.to_owned())),
        Some(_) => bail!("{text:?}: nothing after '%'; write the interface, as fe80::1%eth0"),
        None => (text, None),
    };
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) if ip.is_multicast() || ip.is_unspecified() || ip.is_loopback() => {
            bail!("{ip} is not a unicast address on a link; NDP resolves neighbours' addresses")
        }
        Ok(IpAddr::V6(ip)) => Ok((ip, zone)),
        Ok(IpAddr::V4(ip)) => bail!("{ip} is an IPv4 address: use `nettool arp {ip}`"),
        Err(_) => bail!(
            "{addr:?} is not an IPv6 address (write it like fd00:6e74::2, or fe80::1%eth0); \
             names are not looked up by nettool ndp"
        ),
    }
}

/// The interface a `%zone` names: an interface's name, or its index
/// (RFC 4007 §11.2 allows both: `fe80::1%2`).
fn zone_interface(zone: &str) -> Result<String> {
    match zone.parse::<u32>() {
        Ok(index) => route::interface_by_index(index)
            .map(|i| i.name)
            .map_err(|_| {
                anyhow::anyhow!(
                    "no interface has index {index} (the zone %{index}); `ip link` lists the \
                 interfaces with their indexes, or write the name, as fe80::1%eth0"
                )
            }),
        Err(_) => Ok(zone.to_owned()),
    }
}

/// Where a run happens: the interface, and our IPv6 address on it.
pub struct Place {
    pub iface: Interface,
    pub source: Ipv6Addr,
}

/// The interface: from `%zone` or `-i` (which must agree), else the one
/// whose IPv6 prefix holds the target. Link-local targets need one
/// named: fe80::/10 is on every link at once.
fn place(target: Option<(Ipv6Addr, Option<&str>)>, args: &NdpArgs) -> Result<Place> {
    let zone = target
        .and_then(|(_, z)| z)
        .map(zone_interface)
        .transpose()?;
    let named = match (zone.as_deref(), args.interface.as_deref()) {
        (Some(z), Some(i)) if z != i => {
            bail!("the address names interface {z} but -i names {i}; give one of them")
        }
        (Some(z), _) => Some(z),
        (None, i) => i,
    };
    let addresses = route::ipv6_addresses();
    let iface = match (named, target) {
        (Some(name), _) => route::interface_by_name(name)?,
        (None, Some((ip, _))) if is_link_local(ip) => bail!(
            "{ip} is link-local: it means something only together with an interface. Name it, as \
             {ip}%eth0 or with -i eth0 (`ip -6 addr` lists the interfaces)"
        ),
        (None, Some((ip, _))) => {
            let on_link = addresses
                .iter()
                .find(|a| !is_link_local(a.addr) && a.contains(ip))
                .with_context(|| {
                    format!(
                        "no interface has an IPv6 prefix that holds {ip}, so it is not on any \
                         link of this host; name the interface with -i to ask there anyway"
                    )
                })?;
            route::interface_by_index(on_link.ifindex)?
        }
        (None, None) => bail!("name the interface with -i (e.g. -i eth0; `ip -6 addr` lists them)"),
    };
    if iface.is_loopback || iface.mac == MacAddr::zero() {
        bail!(
            "interface {} has no Ethernet address, so NDP has nothing to do there; pick an \
             Ethernet or veth interface with -i",
            iface.name
        );
    }
    // The link-local address first (it is on every IPv6 interface, and
    // what the kernel solicits from), else any address of the interface
    // (RFC 4861 §7.2.2 allows any): a link-local address comes only once
    // the link has carrier, which the kernel may note a second late.
    let source = match args.source {
        Some(s) => s,
        None => addresses
            .iter()
            .filter(|a| a.ifindex == iface.index)
            .min_by_key(|a| (a.tentative, !is_link_local(a.addr)))
            .map(|a| a.addr)
            .with_context(|| {
                format!(
                    "{} has no IPv6 address to solicit from (is IPv6 disabled there? \
                     sysctl net.ipv6.conf.{}.disable_ipv6=0); or give one with -s",
                    iface.name, iface.name
                )
            })?,
    };
    Ok(Place { iface, source })
}

/// The IPv6 link on `iface`, its frames also written to `pcap`. The last
/// privileged step of `ndp`: past it the capabilities are dropped, as
/// `arp` drops them (the user stays: the cache is written at the end, see
/// [`crate::privilege`]).
fn open_link(iface: &Interface, pcap: Option<&PcapFile>) -> Result<Box<dyn Link>> {
    privilege::before_drop("opening a link")?;
    let link = privilege::raised(&[Cap::NetRaw], || {
        PacketLink::open(iface.index, Filter::ArpIpv6)
    })?;
    let link = setup::capture(link, pcap)?;
    privilege::drop_after_setup_of("ndp")?;
    Ok(link)
}

fn printer(args: &NdpArgs) -> Reporter {
    Reporter::with_format(if args.json {
        Format::Json
    } else if args.quiet {
        Format::Quiet
    } else {
        Format::Human
    })
}

fn start_event(mode: &'static str, rest: Start) -> Event {
    Event::Start(Box::new(Start {
        command: "ndp",
        mode: Some(mode),
        ..rest
    }))
}

fn emit(rep: &Reporter, out: &mut dyn Write, now: Instant, ev: Event, text: String) -> Result<()> {
    rep.emit(out, now, ev, |w| writeln!(w, "{text}"))?;
    Ok(())
}

fn result(
    rep: &Reporter,
    out: &mut dyn Write,
    now: Instant,
    report: Report,
    text: Option<String>,
) -> Result<()> {
    rep.emit(out, now, Event::Result(Box::new(report)), |w| match text {
        Some(t) => writeln!(w, "{t}"),
        None => Ok(()),
    })?;
    Ok(())
}

/// A fresh seed for the cache's ReachableTimes.
fn seed() -> u64 {
    crate::sys::random_u64()
}

fn load(args: &NdpArgs, env: &mut Env) -> Result<Caches> {
    let (caches, warnings) = cachefile::load_all(&args.cache.path(), seed());
    warnings.iter().try_for_each(|w| env.warn(w))?;
    Ok(caches)
}

fn save(args: &NdpArgs, caches: &Caches, env: &mut Env) -> Result<()> {
    match cachefile::save_all(&args.cache.path(), caches) {
        Ok(warnings) => warnings.iter().try_for_each(|w| env.warn(w))?,
        Err(e) => env.warn(format!("{e}; this run's answers were not cached"))?,
    }
    Ok(())
}

/// Runs `machine` on `link`, rendering its events; with `verbose`, every
/// frame too, tcpdump-style, on stderr between the events' own lines.
fn drive<M: Machine>(
    machine: &mut M,
    link: &mut dyn Link,
    clock: &mut dyn Clock,
    verbose: bool,
    env: &mut Env,
    mut on_event: impl FnMut(Instant, M::Event, &mut dyn Write, &mut dyn Write) -> Result<()>,
) -> Result<Stop> {
    let Env {
        out,
        err,
        interrupt,
        ..
    } = env;
    // The tracer and the events both write to stderr, one at a time.
    let err = RefCell::new(&mut **err);
    let mut tracer_err = Shared(&err);
    let mut tracer;
    let link: &mut dyn Link = if verbose {
        tracer = Tracer::new(link, &mut tracer_err);
        &mut tracer
    } else {
        link
    };
    driver::run(machine, link, clock, interrupt, |now, ev| {
        on_event(now, ev, &mut **out, &mut Shared(&err))
    })
}

/// A writer several holders take turns at.
struct Shared<'a, 'w, W: ?Sized>(&'a RefCell<&'w mut W>);

impl<W: Write + ?Sized> Write for Shared<'_, '_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

fn flags_text(f: crate::wire::ndp::NaFlags) -> String {
    let mut v = Vec::new();
    if f.router {
        v.push("router");
    }
    if f.solicited {
        v.push("solicited");
    }
    if f.override_ {
        v.push("override");
    }
    format!("[{}]", v.join(", "))
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Incomplete => "incomplete",
        State::Reachable => "reachable",
        State::Stale => "stale",
        State::Delay => "delay",
        State::Probe => "probe",
    }
}

/// Resolves (or pings, with -c) `ip` on `place`.
fn resolve(ip: Ipv6Addr, args: &NdpArgs, place: &Place, env: &mut Env) -> Result<Outcome> {
    let mut caches = load(args, env)?;
    let rep = printer(args);
    let mut clock = env.clock.clock();
    let start = clock.now();
    let wall = WallClock {
        at: start,
        unix_ms: clock.unix_ms(),
    };
    let iface = &place.iface;
    let interval = args.interval.unwrap_or(crate::ndp::cache::RETRANS_TIMER);
    let timing = Timing {
        retrans: interval,
        last_wait: args.timeout.unwrap_or(crate::ndp::cache::RETRANS_TIMER),
        max_multicast: args
            .count
            .unwrap_or(crate::ndp::cache::MAX_MULTICAST_SOLICIT),
        ..Timing::default()
    };
    let settings = Settings {
        iface: iface.name.clone(),
        ifindex: iface.index,
        mac: iface.mac,
        source: place.source,
        target: ip,
        use_cache: !args.no_cache && args.count.is_none(),
        timing,
        ping: args.count,
    };
    let ping = args.count.is_some();
    let mut res = Resolution::new(start, wall, &mut caches.ndp, settings);
    let from_cache = res.is_done();
    let event = start_event(
        if ping { "ping" } else { "resolve" },
        Start {
            ip: Some(ip.into()),
            local_ip: Some(place.source.into()),
            iface: Some(iface.name.clone()),
            mac: Some(iface.mac),
            ..Start::default()
        },
    );
    rep.emit(env.out, start, event, |w| {
        if from_cache {
            return Ok(());
        }
        writeln!(
            w,
            "NDP {ip} on {} from {} ({}), solicitations to {}",
            iface.name,
            place.source,
            iface.mac,
            solicited_node(ip)
        )
    })?;
    let mut stats = RttStats::default();
    let name = iface.name.clone();
    let verbose = args.verbose;
    let mut render =
        |now: Instant, ev: resolve::Event, out: &mut dyn Write, err: &mut dyn Write| {
            render_resolve(&rep, out, err, now, (ip, &name), ev, &mut stats, verbose)
        };
    let stop = if from_cache {
        while let Some(ev) = res.poll_event() {
            render(start, ev, env.out, env.err)?;
        }
        Stop::Done
    } else {
        let mut link = open_link(iface, env.pcap.as_ref())?;
        drive(
            &mut res,
            link.as_mut(),
            clock.as_mut(),
            verbose,
            env,
            render,
        )?
    };
    let answer = res.answer();
    let sent = res.frames_sent();
    let malformed = res.malformed();
    drop(res);
    let verdict = if stats.conflict {
        Verdict::Conflict
    } else if answer.is_some() {
        Verdict::Answered
    } else {
        Verdict::NoReply
    };
    let outcome = how(stop, verdict == Verdict::Answered);
    if let (Some(mac), false) = (answer, stats.conflict) {
        if rep.format() == Format::Quiet {
            writeln!(env.out, "{mac}")?;
        }
    }
    let summary = stats.summary().filter(|_| ping);
    let report = Report {
        ip: Some(ip.into()),
        mac: answer,
        iface: Some(iface.name.clone()),
        sent: Some(sent),
        answered: ping.then_some(stats.samples.len() as u64),
        rtt_min_us: summary.map(|(min, _, _)| us(min)),
        rtt_avg_us: summary.map(|(_, avg, _)| us(avg)),
        rtt_max_us: summary.map(|(_, _, max)| us(max)),
        malformed: (malformed > 0).then_some(malformed),
        ..Report::new(verdict, outcome)
    };
    let text = ping.then(|| {
        let rtt = summary.map_or(String::new(), |(min, avg, max)| {
            format!(
                ", rtt min/avg/max {}/{}/{}",
                human(min),
                human(avg),
                human(max)
            )
        });
        format!(
            "--- {ip}: {}, {}{rtt}",
            count(sent, "solicitation"),
            count(stats.samples.len() as u64, "advertisement")
        )
    });
    result(&rep, env.out, clock.now(), report, text)?;
    save(args, &caches, env)?;
    Ok(outcome)
}

fn cache_event(status: &'static str, ip: Ipv6Addr, mac: MacAddr, iface: &str) -> CacheEv {
    CacheEv {
        status,
        ip: ip.into(),
        mac,
        iface: Some(iface.to_owned()),
        age_us: None,
        fresh_us: None,
        ttl_us: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn render_resolve(
    rep: &Reporter,
    out: &mut dyn Write,
    err: &mut dyn Write,
    now: Instant,
    (ip, iface): (Ipv6Addr, &str),
    ev: resolve::Event,
    stats: &mut RttStats,
    verbose: bool,
) -> Result<()> {
    use resolve::Event as E;
    match ev {
        E::CacheHit { entry, left } => {
            let event = Event::Cache(CacheEv {
                fresh_us: Some(us(left)),
                ..cache_event("reachable", ip, entry.mac.unwrap_or(MacAddr::zero()), iface)
            });
            let mac = entry.mac.unwrap_or(MacAddr::zero());
            emit(
                rep,
                out,
                now,
                event,
                format!(
                    "{ip} is-at {mac} on {iface}  (from cache: REACHABLE for {} more; no frame sent)",
                    crate::text::age(left)
                ),
            )
        }
        E::Transition { mac, from, to } => {
            if verbose {
                let from = from.map_or("(none)".to_owned(), |s| s.to_string());
                writeln!(err, "nud: {ip} {from} -> {to}")?;
            }
            // An entry with an address is a cache event; INCOMPLETE has none.
            match (mac, rep.json()) {
                (Some(mac), true) => {
                    let ev = Event::Cache(cache_event(state_name(to), ip, mac, iface));
                    emit(rep, out, now, ev, String::new())
                }
                _ => Ok(()),
            }
        }
        // With -v the tracer prints the frame itself.
        E::Sent { .. } => Ok(()),
        E::Advert {
            mac,
            flags,
            rtt,
            nth,
            learned,
        } => {
            stats.samples.push(rtt);
            let event = Event::Reply(Box::new(Reply {
                probe: Some(nth.into()),
                rtt_us: us(rtt),
                ip: Some(ip.into()),
                mac: Some(mac),
                iface: Some(iface.to_owned()),
                ..Reply::default()
            }));
            let believed = match learned {
                Learned::Conflict {
                    previous,
                    replaced: false,
                } => format!("  (not believed: without override, the cache keeps {previous})"),
                _ => String::new(),
            };
            let text = format!(
                "{ip} is-at {mac}  {}  rtt {}  (solicitation {nth}){believed}",
                flags_text(flags),
                human(rtt)
            );
            emit(rep, out, now, event, text)
        }
        E::CacheConflict { cached, mac } => {
            let event = Event::Conflict(Conflict {
                ip: ip.into(),
                mac,
                other_mac: cached,
                seen: "cache",
            });
            let text = format!("CONFLICT: the cache had {ip} at {cached}, the wire now says {mac}");
            emit(rep, out, now, event, text)
        }
        E::Conflict { first, other } => {
            stats.conflict = true;
            let event = Event::Conflict(Conflict {
                ip: ip.into(),
                mac: first,
                other_mac: other,
                seen: "wire",
            });
            let text =
                format!("CONFLICT: {ip} is claimed by both {first} and {other}; neither is cached");
            emit(rep, out, now, event, text)
        }
        E::ProbeFailed { entry } => {
            let mac = entry.mac.unwrap_or(MacAddr::zero());
            let event = Event::Cache(cache_event("failed", ip, mac, iface));
            let text = format!(
                "cache: {mac} did not answer its unicast probes for {ip}; entry gone, asking {}",
                solicited_node(ip)
            );
            emit(rep, out, now, event, text)
        }
        E::Unanswered { sent } => {
            rep.text(out, |w| {
                writeln!(
                    w,
                    "no answer from {ip} after {}",
                    count(u64::from(sent), "solicitation")
                )
            })?;
            Ok(())
        }
    }
}

/// DAD or announce for `ip`.
fn claim(ip: Ipv6Addr, args: &NdpArgs, place: &Place, env: &mut Env) -> Result<Outcome> {
    let rep = printer(args);
    let iface = &place.iface;
    let mode = if args.dad { Mode::Dad } else { Mode::Announce };
    let tries = args.count.unwrap_or(match mode {
        Mode::Dad => claim::DUP_ADDR_DETECT_TRANSMITS,
        Mode::Announce => claim::MAX_NEIGHBOR_ADVERTISEMENT,
    });
    let interval = args.interval.unwrap_or(crate::ndp::cache::RETRANS_TIMER);
    let config = claim::Config {
        mode,
        mac: iface.mac,
        target: ip,
        tries,
        interval,
        wait: args.timeout.unwrap_or(crate::ndp::cache::RETRANS_TIMER),
    };
    let mut clock = env.clock.clock();
    let start = clock.now();
    let (mode_name, header) = match mode {
        Mode::Dad => (
            "dad",
            format!(
                "DAD {ip} on {} ({}): {} from :: to {}",
                iface.name,
                iface.mac,
                count(u64::from(tries), "solicitation"),
                solicited_node(ip)
            ),
        ),
        Mode::Announce => (
            "announce",
            format!(
                "announcing {ip} at {} on {}: {} to ff02::1",
                iface.mac,
                iface.name,
                count(u64::from(tries), "unsolicited advertisement")
            ),
        ),
    };
    let event = start_event(
        mode_name,
        Start {
            ip: Some(ip.into()),
            iface: Some(iface.name.clone()),
            mac: Some(iface.mac),
            tries: Some(tries),
            ..Start::default()
        },
    );
    emit(&rep, env.out, start, event, header)?;
    let mut link = open_link(iface, env.pcap.as_ref())?;
    let mut machine = Claim::new(start, config);
    let stop = drive(
        &mut machine,
        link.as_mut(),
        clock.as_mut(),
        args.verbose,
        env,
        |now, ev, out, _err| match ev {
            claim::Event::Sent { .. } => Ok(()),
            claim::Event::Claimed {
                mac,
                from,
                by_dad,
                rtt,
            } => {
                let event = Event::Conflict(Conflict {
                    ip: ip.into(),
                    mac,
                    other_mac: iface.mac,
                    seen: "wire",
                });
                let how = if by_dad {
                    "is claiming it too (a DAD solicitation of its own)".to_owned()
                } else {
                    format!("defends it (advertisement from {from})")
                };
                let text = format!("{ip} is in use: {mac} {how}, after {}", human(rtt));
                emit(&rep, out, now, event, text)
            }
            claim::Event::Free | claim::Event::Announced => Ok(()),
        },
    )?;
    let claimed = machine.claimed_by();
    let (verdict, ok, text) = match (mode, claimed) {
        (Mode::Dad, Some(mac)) => (Verdict::Conflict, false, format!("{ip} is taken by {mac}")),
        (Mode::Dad, None) => (
            Verdict::Free,
            true,
            format!("{ip} is free: nobody answered on {}", iface.name),
        ),
        (Mode::Announce, _) => (
            Verdict::Done,
            true,
            format!("{ip} announced at {}", iface.mac),
        ),
    };
    let outcome = how(stop, ok);
    let report = Report {
        ip: Some(ip.into()),
        mac: claimed,
        iface: Some(iface.name.clone()),
        sent: Some(u64::from(machine.frames_sent())),
        ..Report::new(verdict, outcome)
    };
    result(&rep, env.out, clock.now(), report, Some(text))?;
    Ok(outcome)
}

/// `--all-nodes`: echo ff02::1 and list who answers.
fn all_nodes(args: &NdpArgs, place: &Place, env: &mut Env) -> Result<Outcome> {
    let rep = printer(args);
    let iface = &place.iface;
    let count_n = args.count.unwrap_or(1);
    let config = nodes::Config {
        mac: iface.mac,
        source: place.source,
        ident: (crate::sys::random_u64() & 0xffff) as u16,
        count: count_n,
        interval: args.interval.unwrap_or(Duration::from_secs(1)),
        wait: args.timeout.unwrap_or(Duration::from_secs(1)),
    };
    let mut clock = env.clock.clock();
    let start = clock.now();
    let event = start_event(
        "all-nodes",
        Start {
            local_ip: Some(place.source.into()),
            iface: Some(iface.name.clone()),
            mac: Some(iface.mac),
            tries: Some(count_n),
            ..Start::default()
        },
    );
    let header = format!(
        "echo to ff02::1 (every node) on {} from {} ({})",
        iface.name, place.source, iface.mac
    );
    emit(&rep, env.out, start, event, header)?;
    let mut link = open_link(iface, env.pcap.as_ref())?;
    let mut machine = AllNodes::new(start, config);
    let mut seen: std::collections::BTreeMap<Ipv6Addr, MacAddr> = Default::default();
    let name = iface.name.clone();
    let stop = drive(
        &mut machine,
        link.as_mut(),
        clock.as_mut(),
        args.verbose,
        env,
        |now, ev, out, _err| match ev {
            nodes::Event::Sent { .. } => Ok(()),
            nodes::Event::Answer { ip, mac, seq, rtt } => {
                let first = seen.insert(ip, mac).is_none();
                if rep.format() == Format::Quiet && first {
                    writeln!(out, "{ip} {mac}")?;
                }
                let event = Event::Reply(Box::new(Reply {
                    probe: Some(seq.into()),
                    rtt_us: us(rtt),
                    ip: Some(ip.into()),
                    mac: Some(mac),
                    iface: Some(name.clone()),
                    ..Reply::default()
                }));
                let text = format!("{ip} is-at {mac}  rtt {}  (echo {seq})", human(rtt));
                emit(&rep, out, now, event, text)
            }
        },
    )?;
    let outcome = how(stop, !seen.is_empty());
    let verdict = if seen.is_empty() {
        Verdict::NoReply
    } else {
        Verdict::Answered
    };
    let report = Report {
        iface: Some(iface.name.clone()),
        sent: Some(machine.frames_sent()),
        answered: Some(seen.len() as u64),
        ..Report::new(verdict, outcome)
    };
    let text = format!(
        "--- ff02::1 on {}: {} answered",
        iface.name,
        count(seen.len() as u64, "node")
    );
    result(&rep, env.out, clock.now(), report, Some(text))?;
    Ok(outcome)
}

/// `--show`: the IPv6 entries with their NUD states.
fn show(args: &NdpArgs, env: &mut Env) -> Result<Outcome> {
    let path = args.cache.path();
    let rep = printer(args);
    let mut caches = load(args, env)?;
    let mut clock = env.clock.clock();
    let now = clock.unix_ms();
    let at = clock.now();
    // What was saved has aged since: REACHABLE past its time is STALE.
    caches.ndp.handle_timeout(now);
    rep.emit(env.out, at, start_event("show", Start::default()), |_| {
        Ok(())
    })?;
    if rep.human() {
        if caches.ndp.is_empty() {
            writeln!(env.out, "no IPv6 entries in the cache ({})", path.display())?;
        } else {
            writeln!(
                env.out,
                "{:<12} {:<28}  {:<17}  {:<10}  {:>8}  LEFT",
                "IFACE", "ADDRESS", "MAC", "STATE", "AGE"
            )?;
        }
    }
    for e in caches.ndp.entries() {
        show_entry(&rep, env.out, at, e, now)?;
    }
    result(
        &rep,
        env.out,
        at,
        Report::new(Verdict::Done, Outcome::Success),
        None,
    )?;
    Ok(Outcome::Success)
}

fn show_entry(rep: &Reporter, out: &mut dyn Write, at: Instant, e: &Entry, now: u64) -> Result<()> {
    let mac = e.mac.unwrap_or(MacAddr::zero());
    if rep.format() == Format::Quiet {
        writeln!(out, "{} {mac}", e.ip)?;
    }
    let age = e.age(now);
    let left = e.reachable_left(now);
    let event = Event::Cache(CacheEv {
        age_us: Some(us(age)),
        fresh_us: left.map(us),
        ..cache_event(state_name(e.state), e.ip, mac, &e.iface)
    });
    let text = format!(
        "{:<12} {:<28}  {:<17}  {:<10}  {:>8}  {}",
        e.iface,
        e.ip,
        mac,
        e.state,
        crate::text::age(age),
        left.map_or("-".to_owned(), crate::text::age)
    );
    emit(rep, out, at, event, text)
}

/// `--flush`: drops the IPv6 entries (the ARP ones stay).
fn flush(args: &NdpArgs, env: &mut Env) -> Result<Outcome> {
    let rep = printer(args);
    let mut caches = load(args, env)?;
    let n = caches.ndp.len();
    caches.ndp.flush();
    let at = env.now();
    rep.emit(env.out, at, start_event("flush", Start::default()), |_| {
        Ok(())
    })?;
    cachefile::save_all(&args.cache.path(), &caches)
        .with_context(|| "flushing the IPv6 entries of the cache".to_owned())?;
    let report = Report {
        flushed: Some(n),
        ..Report::new(Verdict::Done, Outcome::Success)
    };
    result(
        &rep,
        env.out,
        at,
        report,
        Some(format!("flushed {}", count(n as u64, "IPv6 entry"))),
    )?;
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("fe80::1%eth0", "fe80::1", Some("eth0"))]
    #[case("fd00:6e74::2", "fd00:6e74::2", None)]
    fn targets_parse(#[case] text: &str, #[case] ip: &str, #[case] zone: Option<&str>) {
        let (got, z) = parse_target(text).unwrap();
        assert_eq!(got, ip.parse::<Ipv6Addr>().unwrap());
        assert_eq!(z.as_deref(), zone);
    }

    #[test]
    fn a_numeric_zone_is_an_interface_index() {
        // Index 1 is the loopback in every network namespace.
        assert_eq!(zone_interface("1").unwrap(), "lo");
        assert_eq!(zone_interface("eth7").unwrap(), "eth7");
        let e = zone_interface("4000000000").unwrap_err().to_string();
        assert!(e.contains("no interface has index 4000000000"), "{e}");
    }

    #[rstest]
    #[case("10.0.0.1", "nettool arp")]
    #[case("fe80::1%", "nothing after")]
    #[case("ff02::1", "not a unicast")]
    #[case("::", "not a unicast")]
    #[case("example.com", "not an IPv6 address")]
    fn bad_targets_say_what_to_do(#[case] text: &str, #[case] says: &str) {
        let e = parse_target(text).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    }
}
