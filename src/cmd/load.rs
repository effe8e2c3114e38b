//! `nettool load`: many real connections (the engine `nc` uses) from one
//! source address, or from several nettool answers ARP for
//! (`--sources`), held, then closed.
//!
//! Thin by design: the pacing and the connect-time percentiles live in
//! [`crate::load`], the connections in one
//! [`Interface`](crate::stack::iface::Interface)'s flow table, the
//! duplicate address detection in the ARP prober, and the loop is the
//! one driver's. What is here: which address and port each connection
//! uses, the phases of the run (check the sources, open, hold, close),
//! the counts, and their rendering.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::tcp::{parse_target_v4, unescape};
use super::{Env, Given, Way, find_path};
use crate::arp::probe::{self as arp_probe, Mode, Prober, Target, Until};
use crate::cli::{CloseHow, LoadArgs};
use crate::clock::Clock;
use crate::driver::{self, Handler, Options, Stop};
use crate::link::Link;
use crate::link::rxring::RingKind;
use crate::load::{Latencies, Pacer};
use crate::machine::Machine;
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
    path: &'a Path,
    remote: SocketAddrV4,
    host_owns: &'a HashSet<Ipv4Addr>,
) -> impl Iterator<Item = Ipv4Addr> + 'a {
    args.sources
        .iter()
        .flat_map(|s| s.addresses())
        .filter(move |ip| {
            !host_owns.contains(ip)
                && ip != remote.ip()
                && *ip != path.next_hop
                && crate::arp::is_claimable(*ip)
        })
}

/// Every IPv4 address this host's kernel owns, on any interface (it
/// answers ARP for each on every link, by default).
fn host_addresses() -> HashSet<Ipv4Addr> {
    pnet::datalink::interfaces()
        .iter()
        .flat_map(|i| i.ips.iter())
        .filter_map(|n| match n.ip() {
            std::net::IpAddr::V4(ip) => Some(ip),
            std::net::IpAddr::V6(_) => None,
        })
        .collect()
}

pub fn run(args: LoadArgs, env: &mut Env) -> Result<Outcome> {
    let remote = parse_target_v4(&args.target)?;
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
    // is answered for there).
    let first_source = match &args.sources {
        Some(sources) => Some(
            sources
                .addresses()
                .find(|ip| !host_owns.contains(ip) && ip != remote.ip())
                .with_context(|| {
                    "every --sources address is this host's own or the target's: give addresses \
                     the kernel does not own, which nettool answers ARP for"
                })?,
        ),
        None => args.source,
    };
    let way = Way::new(
        args.interface.as_deref(),
        first_source.map(Into::into),
        Some(args.first_port),
        &args.cache,
    );
    let path = match find_path(&mut rep, env, "load", *remote.ip(), &way)? {
        Ok(path) => path,
        Err(outcome) => return Ok(outcome),
    };
    // One claim for the whole port range: one guard rule, not one per
    // connection.
    let flows = Flows::Probes {
        remote: (*remote.ip()).into(),
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
    host_owns: &HashSet<Ipv4Addr>,
    p: Given,
    rep: &mut Reporter,
    env: &mut Env,
) -> Result<Ran> {
    let remote = parse_target_v4(&args.target)?;
    let needed = addresses_needed(args.connections, args.first_port) as usize;
    let sources = match &args.sources {
        None => {
            check_count(args.connections, args.first_port, None)?;
            vec![*p.local_v4().ip()]
        }
        Some(_) => {
            let mut candidates = candidates(args, p.path, remote, host_owns);
            let found = check_free(
                &mut candidates,
                needed,
                p.path.iface.mac,
                (&mut *p.link, &mut *p.clock),
                rep.human(),
                env,
            )?;
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
        src: Some(SocketAddrV4::new(source, args.first_port).into()),
        dst: Some(remote.into()),
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
                .map(Ipv4Addr::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let keeper = match (&guard, sources.as_slice()) {
        (Some(table), _) => format!("kernel RSTs dropped by nft table inet {table}"),
        (None, [one]) => format!("{one} is not the kernel's: nettool answers ARP for it"),
        (None, _) => "none is the kernel's: nettool answers ARP for them".to_owned(),
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
    let mut iface = stack_iface::Interface::new(InterfaceConfig {
        ip: source,
        mac: p.path.iface.mac,
        ipv6: None,
        next_hop_mac: p.path.next_hop_mac,
        answer_arp: args.sources.is_some() || !p.path.owned_by_kernel,
        trace: false,
    });
    for more in &sources[1..] {
        iface.add_address(*more);
    }
    let mut load = Load::new(args, payload, p.path, remote, sources, start);
    let opts = Options {
        rx_batch: 256,
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
    candidates: &mut dyn Iterator<Item = Ipv4Addr>,
    needed: usize,
    mac: crate::wire::MacAddr,
    (link, clock): (&mut dyn Link, &mut dyn Clock),
    human: bool,
    env: &mut Env,
) -> Result<Option<Vec<Ipv4Addr>>> {
    let mut free = Vec::with_capacity(needed);
    let mut taken: Vec<(Ipv4Addr, crate::wire::MacAddr)> = Vec::new();
    while free.len() < needed {
        let round: Vec<Ipv4Addr> = candidates.take(needed - free.len()).collect();
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
                None => free.push(ip),
            }
        }
    }
    Ok(Some(free))
}

/// Addresses for a line: all of a few, or the first and a count.
fn list(ips: &[Ipv4Addr]) -> String {
    match ips {
        [one] => one.to_string(),
        few if few.len() <= 8 => few
            .iter()
            .map(Ipv4Addr::to_string)
            .collect::<Vec<_>>()
            .join(", "),
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
             answers)\n"
        );
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
    /// Closed as asked; waiting until the connections are gone, or then.
    Closing(Instant),
}

/// The run's state: which connections are where, and the counts.
struct Load {
    n: u32,
    first_port: u16,
    /// The source addresses, taken in turn.
    sources: Vec<Ipv4Addr>,
    remote: SocketAddrV4,
    config: Arc<tcp::Config>,
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
        remote: SocketAddrV4,
        sources: Vec<Ipv4Addr>,
        start: Instant,
    ) -> Load {
        let config = tcp::Config {
            mss: path.mss(),
            mtu: tcp::link_mtu(path.iface.mtu) as usize,
            ts_offset: u32::from_le_bytes(random_bytes::<4>()),
            keepalive: args.keepalive.map(|every| Keepalive {
                idle: every,
                interval: every,
                probes: KEEPALIVE_PROBES,
            }),
            ..tcp::Config::default()
        };
        Load {
            n: args.connections,
            first_port: args.first_port,
            sources,
            remote,
            config: Arc::new(config),
            isn: IsnGenerator::new(random_bytes::<16>()),
            payload,
            keepalive: args.keepalive.is_some(),
            close: args.close,
            hold: args.hold,
            pacer: Pacer::new(args.rate, WINDOW),
            phase: Phase::Opening,
            next: 0,
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
            next_progress: start + Duration::from_secs(1),
            connects_at_last: 0,
            scratch: vec![0; 4096],
        }
    }

    /// Connection `i`'s: the sources in turn, each from the first port up.
    fn key(&self, i: u32) -> FlowKey {
        let k = self.sources.len() as u32;
        let port = u16::try_from(u32::from(self.first_port) + i / k).expect("checked: ports fit");
        FlowKey::v4(
            SocketAddrV4::new(self.sources[(i % k) as usize], port),
            self.remote,
        )
    }

    /// Opens as many connections as the pacer allows.
    fn open(&mut self, iface: &mut stack_iface::Interface, now: Instant) {
        let room = self.pacer.allowed(now, self.handshaking.len());
        let count = room.min((self.n - self.next) as usize);
        for _ in 0..count {
            let key = self.key(self.next);
            self.next += 1;
            let iss = self.isn.isn(now, key.local, key.remote);
            let conn = Connection::connect(now, self.config.clone(), key.local, key.remote, iss);
            iface.open(conn);
            self.live += 1;
            self.handshaking.insert(key, now);
        }
        self.pacer.opened(count);
    }

    /// Segments sent and received so far on every connection still in
    /// the table (one walk: at the hold's start and end only).
    fn segments(&self, iface: &stack_iface::Interface) -> (u64, u64) {
        (0..self.next)
            .filter_map(|i| iface.stats(self.key(i)))
            .fold((0, 0), |(out, inn), s| {
                (out + s.segments_sent, inn + s.segments_received)
            })
    }

    /// The hold has begun (the turn after the last handshake ended, once
    /// its ACK went out): with keepalives, what the connections exchanged
    /// so far is noted, once.
    fn hold_begins(&mut self, iface: &stack_iface::Interface) {
        if self.keepalive && self.hold_base.is_none() {
            self.hold_base = Some(self.segments(iface));
        }
    }

    /// The hold ends: what the connections exchanged while held.
    fn hold_ends(&mut self, iface: &stack_iface::Interface) {
        if let Some((out0, in0)) = self.hold_base {
            let (out, inn) = self.segments(iface);
            self.held = Some((out.saturating_sub(out0), inn.saturating_sub(in0)));
        }
    }

    /// Closes every open connection as `--close` says.
    fn close_all(&mut self, iface: &mut stack_iface::Interface, now: Instant) {
        self.hold_ends(iface);
        for i in 0..self.next {
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
        if self.close == CloseHow::None {
            self.live = 0;
        }
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
    line
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
                load.close_all(iface, now);
                let grace = if load.close == CloseHow::Graceful {
                    GRACE
                } else {
                    Duration::ZERO
                };
                load.phase = Phase::Closing(now + grace);
            }
            Phase::Holding(_) | Phase::Closing(_) => {}
        }
        self.report_progress(iface, now)
    }

    fn finished(&mut self, iface: &mut stack_iface::Interface, now: Instant) -> Result<bool> {
        Ok(match self.load.phase {
            Phase::Closing(until) => !iface.has_pending() && (self.load.live == 0 || now >= until),
            _ => false,
        })
    }

    fn deadline(&self, iface: &stack_iface::Interface) -> Option<Instant> {
        let load = &*self.load;
        let phase = match load.phase {
            Phase::Opening if load.next < load.n => load.pacer.next_at(),
            Phase::Holding(until) => until,
            Phase::Closing(until) => Some(until),
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
