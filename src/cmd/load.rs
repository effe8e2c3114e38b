//! `nettool load`: many real connections (the engine `nc` uses) from one
//! source address, or from several nettool answers ARP (IPv6: neighbour
//! solicitations) for (`--sources`), held, then closed; over IPv4 or
//! IPv6, as the target is.
//!
//! Thin by design: the pacing and the connect-time percentiles live in
//! [`crate::load`], the connections in one
//! [`Interface`](crate::stack::iface::Interface)'s flow table, the
//! duplicate address detection in the ARP prober (IPv6: in
//! [`crate::ndp::claims`]), and the loop is the
//! one driver's. What is here: which address and port each connection
//! uses, the phases of the run (check the sources, open, hold, close),
//! the counts, and their rendering.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::tcp::{parse_target, unescape};
use super::{Env, Given, Way, find_path};
use crate::arp::probe::{self as arp_probe, Mode, Prober, Target, Until};
use crate::cli::{CloseHow, LoadArgs};
use crate::clock::Clock;
use crate::driver::{self, Handler, Options, Stop};
use crate::link::Link;
use crate::link::rxring::RingKind;
use crate::load::{Latencies, Pacer};
use crate::machine::Machine;
use crate::ndp::claim::{self as ndp_claim, DUP_ADDR_DETECT_TRANSMITS};
use crate::ndp::claims::ClaimAll;
use crate::outcome::Outcome;
use crate::report::event::{LoadResult, Progress, Start};
use crate::report::{Event, Report, Reporter, Verdict, us};
use crate::setup::{Flows, LinkOptions, Path};
use crate::stack::iface::{self as stack_iface, FlowKey, HostEvent, InterfaceConfig};
use crate::sys::random_bytes;
use crate::tcp::{self, Connection, Event as TcpEvent, IsnGenerator, Keepalive, Reason, State};
use crate::time::Instant;

/// Handshakes under way at once when no `--rate` is given: the run
/// goes as fast as the peer answers, without a flood of SYNs it would
/// have to queue or drop.
pub const WINDOW: usize = 1024;

/// How long `--close graceful` waits for the peers' FINs.
const GRACE: Duration = Duration::from_secs(5);

/// Keepalive probes unanswered before a connection is given up.
const KEEPALIVE_PROBES: u32 = 3;

/// Keepalive idle times, spread: connection `i`'s first probe waits
/// `--keepalive` plus `(i mod SPREAD) / SPREAD` of it. Connections opened
/// within seconds would otherwise come due together, every `--keepalive`
/// seconds again (an answer restarts the idle time), and their answers
/// arrive as one burst: a million within 17 s of each other overflowed
/// the receive ring. Spread, they come due evenly over the interval and
/// beyond. One shared configuration per offset: nothing per connection.
const SPREAD: u32 = 64;

/// Connections closed per turn at the end of the hold: their RSTs (or
/// FINs) go out and their events are handled before the next batch. All
/// at once, a million RSTs and their events were held together, and
/// nettool's resident set nearly doubled at the very end.
const CLOSE_BATCH: u32 = 16_384;

/// Frames read per wake-up: a whole burst of answers before the turn's
/// timers and sends (the driver reads the rest of a ring block beyond).
const RX_BATCH: usize = 1024;

/// The link: room for a burst of SYN-ACKs and keepalive answers, read
/// in batches through a TPACKET_V3 ring of blocks, which packs small
/// frames (about 100,000 ACKs in its 16 MiB, against 8,192 in slots of
/// 2 KiB). A lone frame waits at most a millisecond for its block.
const LINK: LinkOptions = LinkOptions {
    offloading: false,
    receive_buffer: Some(16 << 20),
    tx_ring: None,
    rx_ring: Some(RingKind::Blocks),
    rx_timestamps: false,
    tx_timestamps: false,
};

/// Duplicate address detection of `--sources` (RFC 5227 §2.1.1): its
/// PROBE_NUM probes this far apart, and as long after the last for an
/// answer (the RFC's PROBE_MIN; `nettool arp --dad` waits the same).
const DAD_INTERVAL: Duration = Duration::from_secs(1);

/// IPv6 `--sources` addresses found in use that a run skips, at most,
/// beyond the ones it needs: a prefix as large as a /64 is never swept.
pub const SPARE6: usize = 16;

/// The ports one source address has from `first`.
pub fn ports_from(first: u16) -> u32 {
    65_536 - u32::from(first)
}

/// Source addresses `n` connections need, with ports from `first`.
pub fn addresses_needed(n: u32, first: u16) -> u32 {
    n.div_ceil(ports_from(first))
}

/// `-c N` against the ports the sources have (`sources`: how many
/// addresses `--sources` gives, at most as many as needed; `None`
/// without it): the usage error that says what would do.
pub fn check_count(n: u32, first: u16, sources: Option<usize>) -> Result<()> {
    if first == 0 {
        bail!("-p 0 is no port: give the first source port, e.g. -p 1024");
    }
    let ports = ports_from(first);
    let needed = addresses_needed(n, first);
    match sources {
        None if n > ports => bail!(
            "-c {n} needs more ports than one source address has ({ports}, from port {first} \
             to 65535): it needs {needed} addresses. Name addresses the kernel does not own on \
             this link with --sources (a CIDR or a list, e.g. --sources 10.79.1.0/28): nettool \
             checks each is free, then answers ARP for it. It never takes addresses by itself. \
             Or use -c {ports} or less"
        ),
        Some(given) if given < needed as usize => bail!(
            "--sources gives {given} address{}, and -c {n} needs {needed} ({ports} ports each, \
             from port {first}): give more addresses, or use -c {} or less",
            if given == 1 { "" } else { "es" },
            ports as usize * given
        ),
        _ => Ok(()),
    }
}

/// The `--sources` addresses worth checking: not the host's own (the
/// kernel answers ARP for those), not the peer, not the next hop.
fn candidates<'a>(
    args: &'a LoadArgs,
    next_hop: IpAddr,
    remote: SocketAddr,
    host_owns: &'a HashSet<IpAddr>,
) -> impl Iterator<Item = IpAddr> + 'a {
    args.sources
        .iter()
        .flat_map(|s| s.addresses())
        .filter(move |ip| {
            !host_owns.contains(ip) && *ip != remote.ip() && *ip != next_hop && claimable(*ip)
        })
}

/// An address a host may take as its own on a link: no broadcast,
/// multicast, unspecified or loopback address.
fn claimable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => crate::arp::is_claimable(ip),
        IpAddr::V6(ip) => !(ip.is_multicast() || ip.is_unspecified() || ip.is_loopback()),
    }
}

/// Every address this host's kernel owns, on any interface (it answers
/// ARP for each IPv4 one on every link, by default).
fn host_addresses() -> HashSet<IpAddr> {
    pnet::datalink::interfaces()
        .iter()
        .flat_map(|i| i.ips.iter())
        .map(|n| n.ip())
        .collect()
}

/// The target, of `--sources`' family when they are given (and of
/// `-s`'s), or as -4/-6 say.
fn target(args: &LoadArgs) -> Result<SocketAddr> {
    let family = match (&args.sources, args.source) {
        (Some(s), _) if s.is_ipv6() => crate::cli::Family::V6,
        (Some(_), _) | (None, Some(IpAddr::V4(_))) => crate::cli::Family::V4,
        (None, Some(IpAddr::V6(_))) => crate::cli::Family::V6,
        (None, None) => args.family.family(),
    };
    let asked = args.family.family();
    if asked != crate::cli::Family::Any && asked != family {
        bail!(
            "-4/-6 asks for one family and the source addresses are of the other: give sources \
             of the target's family"
        );
    }
    parse_target(&args.target, family).with_context(|| match family {
        crate::cli::Family::Any => "the target".to_owned(),
        _ => "the target must be of the source addresses' family".to_owned(),
    })
}

pub fn run(args: LoadArgs, env: &mut Env) -> Result<Outcome> {
    // Opens what the memory figures are read from, while it still may.
    let _ = memory();
    let remote = target(&args)?;
    let needed = addresses_needed(args.connections, args.first_port) as usize;
    check_count(
        args.connections,
        args.first_port,
        args.sources
            .as_ref()
            .map(|s| s.addresses().take(needed).count()),
    )?;
    let payload = args.send.as_deref().map(unescape).transpose()?;
    let mut rep = Reporter::new(args.json);
    let host_owns = host_addresses();
    // With --sources, the path is looked for from the first one the host
    // does not own (the route's interface is what matters: every source
    // is answered for there). Over IPv6 that checks it is free, too.
    let first_source = match &args.sources {
        Some(sources) => Some(
            sources
                .addresses()
                .find(|ip| !host_owns.contains(ip) && *ip != remote.ip() && claimable(*ip))
                .with_context(|| {
                    "every --sources address is this host's own or the target's: give addresses \
                     the kernel does not own, which nettool answers ARP (or neighbour \
                     solicitations) for"
                })?,
        ),
        None => args.source,
    };
    let way = Way::new(
        args.interface.as_deref(),
        first_source,
        Some(args.first_port),
        &args.cache,
    );
    let found = find_path(&mut rep, env, "load", remote.ip(), &way);
    let found = match (first_source, &args.sources) {
        // Over IPv6 the path's source is checked as it is found; the
        // error's advice (another -s) needs a word for --sources.
        (Some(IpAddr::V6(first)), Some(_)) => found.with_context(|| {
            format!(
                "{first}, the first --sources address, is checked as the route is found: start \
                 --sources past it"
            )
        })?,
        _ => found?,
    };
    let path = match found {
        Ok(path) => path,
        Err(outcome) => return Ok(outcome),
    };
    // Over IPv6, the solicited-node groups of the other sources it may
    // take, joined while privileges last: a NIC passes on only the
    // multicast it was told of, and neighbours resolve a source there.
    let _groups = match (&args.sources, path.source) {
        (Some(_), IpAddr::V6(first)) => {
            let more = candidates(&args, path.next_hop, remote, &host_owns)
                .filter(|ip| *ip != IpAddr::V6(first))
                .take(needed - 1 + SPARE6)
                .filter_map(|ip| match ip {
                    IpAddr::V6(ip) => Some(crate::wire::ipv6::multicast_mac(
                        crate::wire::ipv6::solicited_node(ip),
                    )),
                    IpAddr::V4(_) => None,
                })
                .map(|mac| mac.octets());
            let index = path.iface.index;
            Some(crate::privilege::raised(
                &[crate::privilege::Cap::NetRaw],
                || {
                    crate::link::packet::PacketLink::memberships(index, more).with_context(|| {
                        format!(
                            "joining the sources' solicited-node groups on {}",
                            path.iface.name
                        )
                    })
                },
            )?)
        }
        _ => None,
    };
    // One claim for the whole port range: one guard rule, not one per
    // connection.
    let flows = Flows::Probes {
        remote: remote.ip(),
        dports: (remote.port(), remote.port()),
        sport_inc: true,
    };
    let mut stack = path.open(
        Some(args.first_port),
        flows,
        &LINK,
        env.pcap.as_ref(),
        env.err,
    )?;
    let guard = stack.guard_table().map(str::to_owned);
    let mut clock = env.clock.clock();
    let given = Given {
        path: &path,
        local: stack.local(),
        link: stack.link.as_mut(),
        clock: clock.as_mut(),
    };
    let ran = load_over(&args, payload, guard, &host_owns, given, &mut rep, env);
    let dropped = stack.teardown(env.err);
    let (mut result, outcome) = ran?;
    result.rsts_dropped = dropped;
    finish(&rep, result, outcome, clock.now(), env)
}

/// What a run ends with: its result (to be completed with the guard's
/// count) and its outcome.
type Ran = (Report, Outcome);

/// Runs the load over what it is `given` (the in-memory link in tests):
/// `given.local`'s address, or with `--sources` as many of those (not in
/// `host_owns`, and found free) as N needs; ports from `args.first_port`
/// up.
pub fn load_over(
    args: &LoadArgs,
    payload: Option<Vec<u8>>,
    guard: Option<String>,
    host_owns: &HashSet<IpAddr>,
    p: Given,
    rep: &mut Reporter,
    env: &mut Env,
) -> Result<Ran> {
    let remote = target(args)?;
    let needed = addresses_needed(args.connections, args.first_port) as usize;
    let sources = match &args.sources {
        None => {
            check_count(args.connections, args.first_port, None)?;
            vec![p.local.ip()]
        }
        Some(sources) => {
            let mut candidates = candidates(args, p.path.next_hop, remote, host_owns);
            if rep.human() && sources.is_ipv6() {
                writeln!(
                    env.err,
                    "nettool: load: -c {} needs {needed} source address{}: the first {needed} \
                     free of --sources are taken, no more (at most {SPARE6} found in use are \
                     skipped)",
                    args.connections,
                    if needed == 1 { "" } else { "es" },
                )?;
            }
            let found = if sources.is_ipv6() {
                // The path's source was checked when the path was found.
                let checked = (!p.path.owned_by_kernel).then_some(p.path.source);
                check_free6(
                    &mut candidates,
                    needed,
                    checked,
                    p.path.iface.mac,
                    (&mut *p.link, &mut *p.clock),
                    rep.human(),
                    env,
                )?
            } else {
                check_free(
                    &mut candidates,
                    needed,
                    p.path.iface.mac,
                    (&mut *p.link, &mut *p.clock),
                    rep.human(),
                    env,
                )?
            };
            match found {
                Some(free) => free,
                None => {
                    // Interrupted while checking: nothing was opened.
                    let report = Report::new(Verdict::NoReply, Outcome::Interrupted);
                    return Ok((report, Outcome::Interrupted));
                }
            }
        }
    };
    let start = p.clock.now();
    let source = sources[0];
    let k = sources.len() as u32;
    let last_port = u32::from(args.first_port) + args.connections.div_ceil(k) - 1;
    let header = Start {
        command: "load",
        src: Some(SocketAddr::new(source, args.first_port)),
        dst: Some(remote),
        iface: Some(p.path.iface.name.clone()),
        next_hop: Some(p.path.next_hop),
        guard: guard.clone(),
        rate: args.rate,
        addresses: Some(sources.len()),
        ..Start::default()
    };
    rep.emit(env.out, start, Event::Start(Box::new(header)), |_| Ok(()))?;
    let from = match sources.as_slice() {
        [one] => format!("from {one}"),
        more => format!(
            "from {k} addresses ({}), in turn",
            more.iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let answers = if remote.is_ipv6() {
        "neighbour solicitations"
    } else {
        "ARP"
    };
    let keeper = match (&guard, sources.as_slice()) {
        (Some(table), _) => format!("kernel RSTs dropped by nft table inet {table}"),
        (None, [one]) => format!("{one} is not the kernel's: nettool answers {answers} for it"),
        (None, _) => format!("none is the kernel's: nettool answers {answers} for them"),
    };
    if rep.human() {
        writeln!(
            env.err,
            "nettool: load: {} connections to {remote} {from}, ports {}-{last_port}{} \
             (one address has {} ports from {}); {keeper}",
            args.connections,
            args.first_port,
            if k > 1 { " on each" } else { "" },
            ports_from(args.first_port),
            args.first_port,
        )?;
    }
    let (ip, ipv6) = match source {
        IpAddr::V4(ip) => (ip, None),
        IpAddr::V6(ip) => (Ipv4Addr::UNSPECIFIED, Some(ip)),
    };
    let mut iface = stack_iface::Interface::new(InterfaceConfig {
        ip,
        mac: p.path.iface.mac,
        ipv6,
        next_hop_mac: p.path.next_hop_mac,
        answer_arp: args.sources.is_some() || !p.path.owned_by_kernel,
        trace: false,
    });
    for more in &sources[1..] {
        iface.add_address(*more);
    }
    let mut load = Load::new(args, payload, p.path, remote, sources, start);
    let opts = Options {
        rx_batch: RX_BATCH,
        lossy_send: true,
        ..Options::default()
    };
    let stop = {
        let mut handler = LoadRun {
            load: &mut load,
            rep,
            env: &mut *env,
        };
        driver::run_with(
            &mut iface,
            p.link,
            p.clock,
            handler.env.interrupt,
            &opts,
            &mut handler,
        )?
    };
    // Read once, at the end: the count covers the whole run.
    let rx_dropped = p.link.receive_drops();
    let outcome = if stop == Stop::Interrupted {
        Outcome::Interrupted
    } else {
        Outcome::from_answer(load.ever_established == u64::from(args.connections))
    };
    let mut report = load.result(&iface, args, outcome);
    if let Some(l) = report.load.as_mut() {
        l.rx_dropped = rx_dropped;
    }
    Ok((report, outcome))
}

/// Checks `candidates` in order with duplicate address detection (RFC
/// 5227 probes, in rounds of as many as are still missing) until `needed`
/// are free; the ones some host answers for are skipped, and said so.
/// `None` when interrupted.
fn check_free(
    candidates: &mut dyn Iterator<Item = IpAddr>,
    needed: usize,
    mac: crate::wire::MacAddr,
    (link, clock): (&mut dyn Link, &mut dyn Clock),
    human: bool,
    env: &mut Env,
) -> Result<Option<Vec<IpAddr>>> {
    let mut free = Vec::with_capacity(needed);
    let mut taken: Vec<(Ipv4Addr, crate::wire::MacAddr)> = Vec::new();
    let mut candidates = candidates.filter_map(|ip| match ip {
        IpAddr::V4(ip) => Some(ip),
        IpAddr::V6(_) => None,
    });
    while free.len() < needed {
        let round: Vec<Ipv4Addr> = candidates.by_ref().take(needed - free.len()).collect();
        if round.is_empty() {
            let taken_text = taken
                .iter()
                .map(|(ip, mac)| format!("{ip} (by {mac})"))
                .collect::<Vec<_>>()
                .join(", ");
            bail!(
                "--sources has {} free address{} and {needed} are needed: {} in use on the \
                 link: {taken_text}; give more addresses",
                free.len(),
                if free.len() == 1 { "" } else { "es" },
                taken.len(),
            );
        }
        if human {
            writeln!(
                env.err,
                "nettool: load: checking that {} {} free (duplicate address detection, RFC \
                 5227: {} ARP probes {} apart)",
                list(&round),
                if round.len() == 1 { "is" } else { "are" },
                crate::arp::PROBE_NUM,
                crate::time::human(DAD_INTERVAL),
            )?;
        }
        let config = arp_probe::Config {
            mode: Mode::Dad,
            until: Until::FirstReply,
            mac,
            sender_ip: Ipv4Addr::UNSPECIFIED,
            tries: crate::arp::PROBE_NUM,
            interval: DAD_INTERVAL,
            timeout: DAD_INTERVAL,
            rate: None,
        };
        let mut prober = Prober::new(
            clock.now(),
            config,
            round.iter().copied().map(Target::broadcast),
        );
        let mut owners: HashMap<Ipv4Addr, crate::wire::MacAddr> = HashMap::new();
        let stop = driver::run(&mut prober, link, clock, env.interrupt, |_, ev| {
            if let arp_probe::Event::Claimed { target, mac, .. } = ev {
                owners.entry(target).or_insert(mac);
            }
            Ok(())
        })?;
        if stop == Stop::Interrupted {
            return Ok(None);
        }
        for ip in round {
            match owners.get(&ip) {
                Some(owner) => {
                    if human {
                        writeln!(
                            env.err,
                            "nettool: load: {ip} is in use (by {owner}): skipped"
                        )?;
                    }
                    taken.push((ip, *owner));
                }
                None => free.push(ip.into()),
            }
        }
    }
    Ok(Some(free))
}

/// [`check_free`] over IPv6: duplicate address detection (RFC 4862
/// §5.4: a solicitation from `::` to each address's solicited-node group,
/// then RetransTimer for an objection), of every address of a round at
/// once. `checked`: an address checked already (the path's source). At
/// most [`SPARE6`] addresses found in use are skipped: a run never sweeps
/// a prefix.
fn check_free6(
    candidates: &mut dyn Iterator<Item = IpAddr>,
    needed: usize,
    checked: Option<IpAddr>,
    mac: crate::wire::MacAddr,
    (link, clock): (&mut dyn Link, &mut dyn Clock),
    human: bool,
    env: &mut Env,
) -> Result<Option<Vec<IpAddr>>> {
    let mut free: Vec<IpAddr> = Vec::with_capacity(needed);
    let mut taken: Vec<(Ipv6Addr, crate::wire::MacAddr)> = Vec::new();
    let mut candidates = candidates.filter_map(|ip| match ip {
        IpAddr::V6(ip) => Some(ip),
        IpAddr::V4(_) => None,
    });
    while free.len() < needed {
        let mut round: Vec<Ipv6Addr> = Vec::new();
        while free.len() + round.len() < needed {
            match candidates.next() {
                Some(ip) if checked == Some(ip.into()) => free.push(ip.into()),
                Some(ip) => round.push(ip),
                None => break,
            }
        }
        if round.is_empty() {
            if free.len() >= needed {
                break;
            }
            bail!(
                "--sources has {} free address{} and {needed} are needed{}; give more addresses",
                free.len(),
                if free.len() == 1 { "" } else { "es" },
                in_use(&taken),
            );
        }
        if human {
            writeln!(
                env.err,
                "nettool: load: checking that {} {} free (duplicate address detection, RFC \
                 4862: a neighbour solicitation from ::, {} for an objection)",
                list(&round),
                if round.len() == 1 { "is" } else { "are" },
                crate::time::human(crate::ndp::cache::RETRANS_TIMER),
            )?;
        }
        let config = ndp_claim::Config {
            mode: ndp_claim::Mode::Dad,
            mac,
            target: Ipv6Addr::UNSPECIFIED,
            tries: DUP_ADDR_DETECT_TRANSMITS,
            interval: crate::ndp::cache::RETRANS_TIMER,
            wait: crate::ndp::cache::RETRANS_TIMER,
        };
        let mut dad = ClaimAll::new(clock.now(), &config, &round);
        if driver::run(&mut dad, link, clock, env.interrupt, |_, _| Ok(()))? == Stop::Interrupted {
            return Ok(None);
        }
        for (ip, owner) in dad.outcome() {
            match owner {
                Some(owner) => {
                    if human {
                        writeln!(
                            env.err,
                            "nettool: load: {ip} is in use (by {owner}): skipped"
                        )?;
                    }
                    taken.push((ip, owner));
                }
                None => free.push(ip.into()),
            }
        }
        if taken.len() > SPARE6 && free.len() < needed {
            bail!(
                "--sources: {}; nettool skips at most {SPARE6} and never sweeps a prefix: give \
                 a prefix nobody on the link uses",
                in_use(&taken).trim_start_matches("; "),
            );
        }
    }
    Ok(Some(free))
}

/// The addresses found in use, for an error: `; N in use: A (by M), ...`.
fn in_use<T: std::fmt::Display>(taken: &[(T, crate::wire::MacAddr)]) -> String {
    if taken.is_empty() {
        return String::new();
    }
    let each: Vec<String> = taken
        .iter()
        .map(|(ip, mac)| format!("{ip} (by {mac})"))
        .collect();
    format!("; {} in use on the link: {}", taken.len(), each.join(", "))
}

/// Addresses for a line: all of a few, or the first and a count.
fn list<T: std::fmt::Display>(ips: &[T]) -> String {
    match ips {
        [one] => one.to_string(),
        few if few.len() <= 8 => few.iter().map(T::to_string).collect::<Vec<_>>().join(", "),
        many => format!(
            "{} addresses ({} to {})",
            many.len(),
            many[0],
            many[many.len() - 1]
        ),
    }
}

/// The summary for people, or the result line.
fn finish(
    rep: &Reporter,
    report: Report,
    outcome: Outcome,
    now: Instant,
    env: &mut Env,
) -> Result<Outcome> {
    let outcome = outcome.unless_interrupted(env.interrupt);
    let text = summary(&report);
    rep.emit(env.out, now, Event::Result(Box::new(report)), |w| {
        write!(w, "{text}")
    })?;
    Ok(outcome)
}

/// The summary's lines.
pub fn summary(report: &Report) -> String {
    let Some(l) = report.load else {
        return String::new();
    };
    let p = l.progress;
    let closed = if p.peer_closed > 0 {
        format!(", {} closed by the peer", p.peer_closed)
    } else {
        String::new()
    };
    let mut s = format!(
        "{} of {} connections established ({} refused, {} timed out, {} reset by the \
         peer{closed}) in {:.3} s, {:.0} connects/s; {} SYN retransmits\n",
        l.ever_established,
        l.connections,
        p.refused,
        p.timed_out,
        p.reset,
        l.open_us as f64 / 1e6,
        p.connects_per_s,
        p.syn_retransmits,
    );
    if let (Some(p50), Some(p90), Some(p99), Some(max)) = (
        l.connect_p50_us,
        l.connect_p90_us,
        l.connect_p99_us,
        l.connect_max_us,
    ) {
        s += &format!(
            "connect time (SYN to ESTABLISHED): p50 {} p90 {} p99 {} max {}\n",
            ms(p50),
            ms(p90),
            ms(p99),
            ms(max)
        );
    }
    if let Some(replies) = p.replies {
        s += &format!("{replies} connections had a reply\n");
    }
    if let Some(n) = l.rx_dropped.filter(|n| *n > 0) {
        s += &format!(
            "{n} frames dropped by the kernel: nettool's receive ring was full (nettool fell \
             behind; a busy machine, or a debug build)\n"
        );
    }
    if let (Some(sent), Some(received)) = (l.held_segments_sent, l.held_segments_received) {
        s += &format!(
            "while held: {sent} segments sent (keepalive probes), {received} received (their \
             answers)"
        );
        if let Some(n) = l.keepalives_unanswered {
            s += &format!(", {n} probes unanswered at the end");
        }
        s += "\n";
    }
    if let (Some(held), Some(base)) = (l.rss_held_bytes, l.rss_base_bytes) {
        s += &format!(
            "memory held: {} while held (RSS), {} at the start",
            mib(held),
            mib(base)
        );
        if let Some(per) = l.held_bytes_per_connection {
            s += &format!(": {per} bytes per established connection");
        }
        if let Some(peak) = l.rss_peak_bytes {
            s += &format!("; {} at the peak", mib(peak));
        }
        s += "\n";
    }
    if let Some(n) = report.rsts_dropped {
        s += &format!("{n} kernel RSTs dropped by the guard\n");
    }
    s
}

fn ms(micros: u64) -> String {
    format!("{:.3} ms", micros as f64 / 1000.0)
}

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Opening connections, paced.
    Opening,
    /// All opened and settled; held until then (`None`: Ctrl-C).
    Holding(Option<Instant>),
    /// Closing as asked, a batch a turn (`None`), then waiting until the
    /// connections are gone, or then.
    Closing(Option<Instant>),
}

/// The run's state: which connections are where, and the counts.
struct Load {
    n: u32,
    first_port: u16,
    /// The source addresses, taken in turn.
    sources: Vec<IpAddr>,
    remote: SocketAddr,
    /// The connections' configurations, shared: with `--keepalive`, one
    /// per idle time of the spread ([`SPREAD`]), connection `i` taking
    /// `configs[i mod len]`.
    configs: Vec<Arc<tcp::Config>>,
    isn: IsnGenerator,
    payload: Option<Vec<u8>>,
    /// `--keepalive` was given: the hold's segments are counted.
    keepalive: bool,
    close: CloseHow,
    hold: Option<Duration>,
    pacer: Pacer,
    phase: Phase,
    /// Connections opened so far: the next uses port `first_port + next`.
    next: u32,
    /// Connections closed so far at the end, from the first opened.
    closed: u32,
    /// Connections in the table and not yet CLOSED or TIME-WAIT (a run
    /// does not wait out TIME-WAIT).
    live: u64,
    /// In handshake, and when their SYN left.
    handshaking: HashMap<FlowKey, Instant>,
    /// Connections with a reply (with `--send`).
    replied: HashSet<FlowKey>,
    established: u64,
    ever_established: u64,
    refused: u64,
    timed_out: u64,
    reset: u64,
    peer_closed: u64,
    syn_retransmits: u64,
    latencies: Latencies,
    start: Instant,
    /// When the last handshake ended.
    settled: Option<Instant>,
    /// With `--keepalive`, segments sent and received on every
    /// connection when the hold began, and then while it lasted.
    hold_base: Option<(u64, u64)>,
    held: Option<(u64, u64)>,
    /// With `--keepalive`: probes unanswered when the hold ended.
    unanswered: Option<u64>,
    /// Resident set: when the first SYN went, at the last sample, and the
    /// hold's largest sample with the connections established then.
    rss_base: Option<u64>,
    rss_now: Option<u64>,
    rss_held: Option<(u64, u64)>,
    /// The next progress line, and the count of established at the last.
    next_progress: Instant,
    connects_at_last: u64,
    scratch: Vec<u8>,
}

impl Load {
    fn new(
        args: &LoadArgs,
        payload: Option<Vec<u8>>,
        path: &Path,
        remote: SocketAddr,
        sources: Vec<IpAddr>,
        start: Instant,
    ) -> Load {
        let config = tcp::Config {
            mss: path.mss(),
            mtu: tcp::link_mtu(path.iface.mtu) as usize,
            ts_offset: u32::from_le_bytes(random_bytes::<4>()),
            ..tcp::Config::default()
        };
        let configs = match args.keepalive {
            None => vec![Arc::new(config)],
            Some(every) => (0..SPREAD)
                .map(|j| {
                    Arc::new(tcp::Config {
                        keepalive: Some(Keepalive {
                            idle: every + every * j / SPREAD,
                            interval: every,
                            probes: KEEPALIVE_PROBES,
                        }),
                        ..config
                    })
                })
                .collect(),
        };
        let rss_base = memory().map(|m| m.rss);
        Load {
            n: args.connections,
            first_port: args.first_port,
            sources,
            remote,
            configs,
            isn: IsnGenerator::new(random_bytes::<16>()),
            payload,
            keepalive: args.keepalive.is_some(),
            close: args.close,
            hold: args.hold,
            pacer: Pacer::new(args.rate, WINDOW),
            phase: Phase::Opening,
            next: 0,
            closed: 0,
            live: 0,
            handshaking: HashMap::new(),
            replied: HashSet::new(),
            established: 0,
            ever_established: 0,
            refused: 0,
            timed_out: 0,
            reset: 0,
            peer_closed: 0,
            syn_retransmits: 0,
            latencies: Latencies::default(),
            start,
            settled: None,
            hold_base: None,
            held: None,
            unanswered: None,
            rss_base,
            rss_now: rss_base,
            rss_held: None,
            next_progress: start + Duration::from_secs(1),
            connects_at_last: 0,
            scratch: vec![0; 4096],
        }
    }

    /// Connection `i`'s: the sources in turn, each from the first port up.
    fn key(&self, i: u32) -> FlowKey {
        let k = self.sources.len() as u32;
        let port = u16::try_from(u32::from(self.first_port) + i / k).expect("checked: ports fit");
        FlowKey {
            local: SocketAddr::new(self.sources[(i % k) as usize], port),
            remote: self.remote,
        }
    }

    /// Opens as many connections as the pacer allows.
    fn open(&mut self, iface: &mut stack_iface::Interface, now: Instant) {
        let room = self.pacer.allowed(now, self.handshaking.len());
        let count = room.min((self.n - self.next) as usize);
        for _ in 0..count {
            let key = self.key(self.next);
            let config = self.configs[self.next as usize % self.configs.len()].clone();
            self.next += 1;
            let iss = self.isn.isn(now, key.local, key.remote);
            let conn = Connection::connect(now, config, key.local, key.remote, iss);
            iface.open(conn);
            self.live += 1;
            self.handshaking.insert(key, now);
        }
        self.pacer.opened(count);
    }

    /// Segments sent and received so far on every connection still in
    /// the table, and the keepalive probes unanswered (one walk: at the
    /// hold's start and end only).
    fn segments(&self, iface: &stack_iface::Interface) -> (u64, u64, u64) {
        (0..self.next)
            .filter_map(|i| {
                let key = self.key(i);
                Some((iface.stats(key)?, iface.conn(key)?))
            })
            .fold((0, 0, 0), |(out, inn, probes), (s, c)| {
                (
                    out + s.segments_sent,
                    inn + s.segments_received,
                    probes + u64::from(c.keepalives_unanswered()),
                )
            })
    }

    /// The hold has begun (the turn after the last handshake ended, once
    /// its ACK went out): with keepalives, what the connections exchanged
    /// so far is noted, once.
    fn hold_begins(&mut self, iface: &stack_iface::Interface) {
        if self.keepalive && self.hold_base.is_none() {
            let (out, inn, _) = self.segments(iface);
            self.hold_base = Some((out, inn));
        }
    }

    /// The hold ends: what the connections exchanged while held (once).
    fn hold_ends(&mut self, iface: &stack_iface::Interface) {
        if self.held.is_some() {
            return;
        }
        if let Some((out0, in0)) = self.hold_base {
            let (out, inn, unanswered) = self.segments(iface);
            self.held = Some((out.saturating_sub(out0), inn.saturating_sub(in0)));
            self.unanswered = Some(unanswered);
        }
    }

    /// Closes every open connection as `--close` says.
    fn close_all(&mut self, iface: &mut stack_iface::Interface, now: Instant) {
        self.hold_ends(iface);
        self.close_some(iface, now, u32::MAX);
    }

    /// Closes the next `most` connections as `--close` says; `true` once
    /// all are.
    fn close_some(&mut self, iface: &mut stack_iface::Interface, now: Instant, most: u32) -> bool {
        let end = self.next.min(self.closed.saturating_add(most));
        for i in self.closed..end {
            let key = self.key(i);
            match self.close {
                CloseHow::Reset => {
                    if let Some(c) = iface.conn_mut(key) {
                        c.abort(now);
                    }
                }
                CloseHow::Graceful => {
                    if let Some(c) = iface.conn_mut(key) {
                        c.close(now);
                    }
                }
                CloseHow::None => {
                    iface.remove(key);
                }
            }
        }
        self.closed = end;
        let done = end == self.next;
        if done && self.close == CloseHow::None {
            self.live = 0;
        }
        done
    }

    /// A connection's handshake ended (`Ok`: established, `Err`: failed):
    /// its connect time and its retransmitted SYNs.
    fn settle(&mut self, iface: &stack_iface::Interface, key: FlowKey, now: Instant, ok: bool) {
        let Some(sent) = self.handshaking.remove(&key) else {
            return;
        };
        if ok {
            self.latencies.record(now - sent);
        }
        if let Some(stats) = iface.stats(key) {
            self.syn_retransmits += stats.retransmissions;
        }
        self.settled = Some(now);
    }

    fn event(&mut self, iface: &mut stack_iface::Interface, now: Instant, ev: stack_iface::Event) {
        let Some(key) = ev.flow else {
            return;
        };
        match ev.what {
            HostEvent::Tcp(TcpEvent::StateChanged { from, to })
                if to == State::TimeWait || (to == State::Closed && from != State::TimeWait) =>
            {
                self.live = self.live.saturating_sub(1);
            }
            HostEvent::Tcp(TcpEvent::Connected) => {
                self.settle(iface, key, now, true);
                self.established += 1;
                self.ever_established += 1;
                if let (Some(data), Some(c)) = (&self.payload, iface.conn_mut(key)) {
                    // A request this short fits the send buffer whole.
                    let _ = c.send(data);
                }
            }
            HostEvent::Tcp(TcpEvent::PeerClosed) => {
                // The peer is done: so are we.
                self.peer_closed += 1;
                if let Some(c) = iface.conn_mut(key) {
                    c.close(now);
                }
            }
            HostEvent::Readable => self.drain(iface, key),
            HostEvent::Tcp(TcpEvent::Closed(reason)) => {
                let was_handshaking = self.handshaking.contains_key(&key);
                self.settle(iface, key, now, false);
                if was_handshaking {
                    match reason {
                        Reason::Reset => self.refused += 1,
                        Reason::TimedOut => self.timed_out += 1,
                        Reason::Normal | Reason::Aborted => {}
                    }
                } else {
                    self.established = self.established.saturating_sub(1);
                    match reason {
                        Reason::Reset => self.reset += 1,
                        Reason::TimedOut => self.timed_out += 1,
                        Reason::Normal | Reason::Aborted => {}
                    }
                }
                iface.remove(key);
            }
            _ => {}
        }
    }

    /// Reads what arrived (the buffer goes back once drained); the first
    /// bytes of a connection count as its reply.
    fn drain(&mut self, iface: &mut stack_iface::Interface, key: FlowKey) {
        let Some(c) = iface.conn_mut(key) else {
            return;
        };
        let mut got = 0;
        while let Ok(n) = c.recv(&mut self.scratch) {
            if n == 0 {
                break;
            }
            got += n;
        }
        if got > 0 && self.payload.is_some() {
            self.replied.insert(key);
        }
    }

    /// SYNs retransmitted: those of the settled connections, and those
    /// of the ones still in handshake (at most the window: cheap to sum).
    fn syn_retransmits(&self, iface: &stack_iface::Interface) -> u64 {
        let pending: u64 = self
            .handshaking
            .keys()
            .filter_map(|k| iface.stats(*k))
            .map(|s| s.retransmissions)
            .sum();
        self.syn_retransmits + pending
    }

    fn progress(&self, iface: &stack_iface::Interface, connects_per_s: f64) -> Progress {
        Progress {
            opened: u64::from(self.next),
            established: self.established,
            handshaking: self.handshaking.len() as u64,
            refused: self.refused,
            timed_out: self.timed_out,
            reset: self.reset,
            peer_closed: self.peer_closed,
            connects_per_s,
            syn_retransmits: self.syn_retransmits(iface),
            replies: self.payload.as_ref().map(|_| self.replied.len() as u64),
            rss_bytes: self.rss_now,
        }
    }

    /// Reads the resident set; while held, keeps the largest sample.
    fn sample_memory(&mut self) {
        let Some(m) = memory() else {
            return;
        };
        self.rss_now = Some(m.rss);
        if matches!(self.phase, Phase::Holding(_))
            && self.rss_held.is_none_or(|(most, _)| m.rss >= most)
        {
            self.rss_held = Some((m.rss, self.established));
        }
    }

    /// Every connection opened, and none in handshake any more.
    fn all_settled(&self) -> bool {
        self.next == self.n && self.handshaking.is_empty()
    }

    fn result(
        &mut self,
        iface: &stack_iface::Interface,
        args: &LoadArgs,
        outcome: Outcome,
    ) -> Report {
        let open = self.settled.map_or(Duration::ZERO, |t| t - self.start);
        let rate = if open.is_zero() {
            0.0
        } else {
            self.ever_established as f64 / open.as_secs_f64()
        };
        let pct = self.latencies.percentiles();
        let per_connection = match (self.rss_base, self.rss_held) {
            (Some(base), Some((held, n))) if n > 0 => Some(held.saturating_sub(base) / n),
            _ => None,
        };
        let load = LoadResult {
            connections: u64::from(args.connections),
            ever_established: self.ever_established,
            progress: self.progress(iface, rate),
            connect_p50_us: pct.map(|p| us(p.p50)),
            connect_p90_us: pct.map(|p| us(p.p90)),
            connect_p99_us: pct.map(|p| us(p.p99)),
            connect_max_us: pct.map(|p| us(p.max)),
            open_us: us(open),
            held_segments_sent: self.held.map(|h| h.0),
            held_segments_received: self.held.map(|h| h.1),
            rx_dropped: None,
            keepalives_unanswered: self.unanswered,
            rss_base_bytes: self.rss_base,
            rss_held_bytes: self.rss_held.map(|(rss, _)| rss),
            rss_peak_bytes: memory().map(|m| m.peak),
            held_bytes_per_connection: per_connection,
        };
        let verdict = if self.ever_established == u64::from(args.connections) {
            Verdict::Open
        } else if self.refused > 0 {
            Verdict::Closed
        } else if self.timed_out > 0 {
            Verdict::NoReply
        } else {
            Verdict::Reset
        };
        Report {
            load: Some(load),
            ..Report::new(verdict, outcome)
        }
    }
}

/// The progress line for people.
pub fn progress_line(t: f64, p: &Progress) -> String {
    let mut line = format!(
        "{t:>6.1}s  established {}  in handshake {}  refused {}  timed out {}  reset {}  \
         {:.0} connects/s  SYN retransmits {}",
        p.established,
        p.handshaking,
        p.refused,
        p.timed_out,
        p.reset,
        p.connects_per_s,
        p.syn_retransmits
    );
    if p.peer_closed > 0 {
        line += &format!("  closed by the peer {}", p.peer_closed);
    }
    if let Some(r) = p.replies {
        line += &format!("  replies {r}");
    }
    if let Some(rss) = p.rss_bytes {
        line += &format!("  memory held {}", mib(rss));
    }
    line
}

/// Bytes as MiB, for people.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// nettool's resident set now and at its highest.
#[derive(Debug, Clone, Copy)]
struct Memory {
    rss: u64,
    peak: u64,
}

/// /proc/self/status, opened once: before the privilege drop (`run`
/// asks first), as the seccomp filter allows no open after it, only
/// reads of what is open.
static STATUS: OnceLock<Option<File>> = OnceLock::new();

/// VmRSS and VmHWM of /proc/self/status, read again from its start;
/// `None` where /proc cannot tell.
fn memory() -> Option<Memory> {
    let file = STATUS
        .get_or_init(|| File::open("/proc/self/status").ok())
        .as_ref()?;
    let mut buf = [0u8; 4096];
    let n = file.read_at(&mut buf, 0).ok()?;
    let status = std::str::from_utf8(&buf[..n]).ok()?;
    let field = |name: &str| -> Option<u64> {
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kib * 1024)
    };
    Some(Memory {
        rss: field("VmRSS:")?,
        peak: field("VmHWM:")?,
    })
}

/// Gives what the handshakes freed back to the kernel. glibc's malloc
/// returns only the top of its heap by itself; what the handshakes held
/// for a while (segments, events, the table's old storage as it grew)
/// was freed between flows that stay, and would stay resident.
fn give_back_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's
    // own; it touches nothing allocated.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The load's side of the driver's run.
struct LoadRun<'l, 'r, 'e, 'a> {
    load: &'l mut Load,
    rep: &'r mut Reporter,
    env: &'e mut Env<'a>,
}

impl LoadRun<'_, '_, '_, '_> {
    fn report_progress(&mut self, iface: &stack_iface::Interface, now: Instant) -> Result<()> {
        let load = &mut *self.load;
        if now < load.next_progress {
            return Ok(());
        }
        let connects = load.ever_established - load.connects_at_last;
        load.connects_at_last = load.ever_established;
        load.next_progress = now + Duration::from_secs(1);
        load.sample_memory();
        let p = load.progress(iface, connects as f64);
        let t = (now - load.start).as_secs_f64();
        if self.rep.json() {
            self.rep
                .emit(self.env.out, now, Event::Progress(p), |_| Ok(()))?;
        } else if self.rep.human() {
            writeln!(self.env.err, "{}", progress_line(t, &p))?;
        }
        Ok(())
    }
}

impl Handler<stack_iface::Interface> for LoadRun<'_, '_, '_, '_> {
    fn event(
        &mut self,
        iface: &mut stack_iface::Interface,
        now: Instant,
        event: stack_iface::Event,
    ) -> Result<()> {
        self.load.event(iface, now, event);
        Ok(())
    }

    fn turn(&mut self, iface: &mut stack_iface::Interface, now: Instant) -> Result<()> {
        let load = &mut *self.load;
        if matches!(load.phase, Phase::Holding(_)) {
            load.hold_begins(iface);
        }
        match load.phase {
            Phase::Opening => {
                load.open(iface, now);
                if load.all_settled() {
                    // With none established there is nothing to hold.
                    let hold = if load.established == 0 {
                        Some(Duration::ZERO)
                    } else {
                        load.hold
                    };
                    load.phase = Phase::Holding(hold.map(|h| now + h));
                    give_back_freed();
                    load.sample_memory();
                    if self.rep.human() {
                        writeln!(
                            self.env.err,
                            "nettool: load: {} of {} established, holding {}",
                            load.established,
                            load.n,
                            hold.map_or("until Ctrl-C".into(), |h| format!(
                                "for {}",
                                crate::time::human(h)
                            ))
                        )?;
                    }
                }
            }
            Phase::Holding(Some(until)) if now >= until => {
                load.hold_ends(iface);
                load.phase = Phase::Closing(None);
            }
            Phase::Holding(_) | Phase::Closing(_) => {}
        }
        if load.phase == Phase::Closing(None) && load.close_some(iface, now, CLOSE_BATCH) {
            let grace = if load.close == CloseHow::Graceful {
                GRACE
            } else {
                Duration::ZERO
            };
            load.phase = Phase::Closing(Some(now + grace));
        }
        self.report_progress(iface, now)
    }

    fn finished(&mut self, iface: &mut stack_iface::Interface, now: Instant) -> Result<bool> {
        Ok(match self.load.phase {
            Phase::Closing(Some(until)) => {
                !iface.has_pending() && (self.load.live == 0 || now >= until)
            }
            _ => false,
        })
    }

    fn deadline(&self, iface: &stack_iface::Interface) -> Option<Instant> {
        let load = &*self.load;
        let phase = match load.phase {
            Phase::Opening if load.next < load.n => load.pacer.next_at(),
            Phase::Holding(until) => until,
            Phase::Closing(until) => Some(until.unwrap_or(Instant::ZERO)),
            Phase::Opening => None,
        };
        [iface.poll_timeout(), phase, Some(load.next_progress)]
            .into_iter()
            .flatten()
            .min()
    }

    /// Ctrl-C or SIGTERM: every connection reset (whatever --close says:
    /// an interrupted run leaves nothing behind), sent before the run ends.
    fn interrupt(&mut self, iface: &mut stack_iface::Interface, now: Instant) {
        self.load.close = CloseHow::Reset;
        self.load.close_all(iface, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_has_the_ports_above_the_first() {
        assert_eq!(ports_from(1024), 64_512);
        assert!(check_count(64_512, 1024, None).is_ok());
        let e = check_count(64_513, 1024, None).unwrap_err().to_string();
        assert!(e.contains("--sources"), "{e}");
        assert!(e.contains("never takes addresses"), "{e}");
        assert!(e.contains("needs 2 addresses"), "{e}");
        assert!(e.contains("64512"), "{e}");
        assert!(check_count(1, 0, None).is_err());
        assert!(check_count(1, 65_535, None).is_ok());
        assert!(check_count(2, 65_535, None).is_err());
    }

    #[test]
    fn the_sources_must_have_the_ports() {
        assert_eq!(addresses_needed(1_000_000, 1024), 16);
        assert!(check_count(1_000_000, 1024, Some(16)).is_ok());
        assert!(check_count(129_024, 1024, Some(2)).is_ok());
        let e = check_count(129_025, 1024, Some(2)).unwrap_err().to_string();
        assert!(e.contains("gives 2 addresses"), "{e}");
        assert!(e.contains("needs 3"), "{e}");
        assert!(e.contains("-c 129024 or less"), "{e}");
    }

    fn load_args(argv: &[&str]) -> LoadArgs {
        use clap::Parser;
        let all = ["nettool", "load"].iter().chain(argv);
        match crate::cli::Cli::try_parse_from(all).unwrap().command {
            crate::cli::Command::Load(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[rstest::rstest]
    #[case(&["[fd00:6e74::2]:80", "-c", "1"], Some("[fd00:6e74::2]:80"))]
    #[case(&["10.0.0.2:80", "-c", "1"], Some("10.0.0.2:80"))]
    #[case(&["[fd00:6e74::2]:80", "-c", "1", "-6"], Some("[fd00:6e74::2]:80"))]
    #[case(&["[fd00:6e74::2]:80", "-c", "1", "--sources", "fd00:6e74:1::/64"], Some("[fd00:6e74::2]:80"))]
    #[case(&["[fd00:6e74::2]:80", "-c", "1", "-s", "fd00:6e74::9"], Some("[fd00:6e74::2]:80"))]
    #[case(&["10.0.0.2:80", "-c", "1", "--sources", "fd00:6e74:1::/64"], None)]
    #[case(&["[fd00:6e74::2]:80", "-c", "1", "--sources", "10.0.1.0/24"], None)]
    #[case(&["[fd00:6e74::2]:80", "-c", "1", "-s", "10.0.0.9"], None)]
    #[case(&["[fd00:6e74::2]:80", "-c", "1", "-4"], None)]
    #[case(&["10.0.0.2:80", "-c", "1", "-6"], None)]
    #[case(&["10.0.0.2:80", "-c", "1", "-4", "--sources", "fd00:6e74:1::/64"], None)]
    fn the_target_is_of_the_sources_family(#[case] argv: &[&str], #[case] want: Option<&str>) {
        let got = target(&load_args(argv));
        match want {
            Some(addr) => assert_eq!(got.unwrap().to_string(), addr),
            None => {
                let e = format!("{:#}", got.unwrap_err());
                assert!(e.contains("IPv") || e.contains("family"), "{e}");
            }
        }
    }

    #[rstest::rstest]
    #[case("fd00::1", true)]
    #[case("10.0.0.1", true)]
    #[case("ff02::1", false)]
    #[case("::", false)]
    #[case("::1", false)]
    #[case("255.255.255.255", false)]
    fn only_unicast_addresses_are_taken(#[case] ip: &str, #[case] want: bool) {
        assert_eq!(claimable(ip.parse().unwrap()), want);
    }

    #[test]
    fn a_few_addresses_are_listed_and_many_summed_up() {
        let ips: Vec<Ipv4Addr> = (1..=20).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
        assert_eq!(list(&ips[..1]), "10.0.0.1");
        assert_eq!(list(&ips[..2]), "10.0.0.1, 10.0.0.2");
        assert_eq!(list(&ips), "20 addresses (10.0.0.1 to 10.0.0.20)");
    }

    #[test]
    fn the_summary_gives_the_percentiles() {
        let report = Report {
            load: Some(LoadResult {
                connections: 10,
                ever_established: 10,
                connect_p50_us: Some(1500),
                connect_p90_us: Some(2000),
                connect_p99_us: Some(3000),
                connect_max_us: Some(4000),
                open_us: 1_000_000,
                ..LoadResult::default()
            }),
            ..Report::default()
        };
        let s = summary(&report);
        assert!(s.starts_with("10 of 10 connections established"), "{s}");
        assert!(
            s.contains("p50 1.500 ms p90 2.000 ms p99 3.000 ms max 4.000 ms"),
            "{s}"
        );
    }
}
