//! `nettool probe` and `nettool scan`: hand-made segments and SYN scans.
//! The protocol work is in [`crate::probe`]; this turns arguments into a
//! [`Template`] and renders what the machines report. UDP and ICMP probes
//! (`probe --udp`, `--icmp`) are in the `datagram` module.

mod datagram;
mod udp_scan;

use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::targets::{self, Many, Runs, Target, answered_verdict, between_targets, discovered};
use super::tcp::unescape;
use super::ways::{Turn, Ways};
use super::{Env, Finish, Given, Way, stamped, unresolved};
use crate::cli::{ProbeArgs, ScanArgs};
use crate::clock::Clock;
use crate::driver::{self, Handler, Options, Tx};
use crate::link::Link;
use crate::link::rxring::RingKind;
use crate::outcome::Outcome;
use crate::probe::prober::{self, Event, Meaning, Prober, Summary};
use crate::probe::scan::{self, PaceStats, PortResult, PortState, Rate, Scanner, Tally};
use crate::probe::stats::RttStats;
use crate::probe::{ProbeFlags, Template, format_ports};
use crate::report::event::{self as ev, Reply, Start};
use crate::report::{Event as Ev, Report, Reporter, Verdict, us};
use crate::services::{self, Proto};
use crate::setup::{Flows, LinkOptions, Path, Stack};
use crate::stack::iface::{Event as HostEvent, HostEvent as HostWhat, InterfaceConfig};
use crate::stack::raw::{Hosted, RawHost};
use crate::sys::random_u64;
use crate::tcp::Segment;
use crate::text::count;
use crate::time::{Instant, human};
use crate::wire::MacAddr;
use crate::wire::fmt::{tcp_flags, tcp_line_absolute};
use crate::wire::icmp::ErrorKind;
use crate::wire::tcp::{Flags, TcpOption};

fn template(args: &ProbeArgs, path: &Path, dst: IpAddr) -> Result<Template> {
    if dst.is_ipv4() && args.flow_label.is_some() {
        bail!("--flow-label is IPv6's, and {dst} is an IPv4 address (IPv4 has no flow label)");
    }
    if dst.is_ipv6() && args.id.is_some() {
        bail!(
            "--id is IPv4's identification, and {dst} is an IPv6 address (an IPv6 header has \
             none; --flow-label marks IPv6 probes)"
        );
    }
    let t = Template {
        src_mac: path.iface.mac,
        dst_mac: path.next_hop_mac.unwrap_or(MacAddr::zero()),
        src: path.source,
        dst,
        flags: probe_flags(args),
        ack: args.ack,
        window: args.win,
        urgent: args.urg_ptr,
        options: probe_options(args),
        payload: payload(args)?,
        ttl: args.ttl,
        tos: args.tos,
        dont_frag: args.df,
        flow_label: args.flow_label.unwrap_or(0),
        bad_checksum: args.badsum,
    };
    t.validate().map_err(anyhow::Error::msg)?;
    let bytes = t.repr(1, 1, 0).buffer_len() + t.ip_header_len();
    let room = path.iface.mtu as usize;
    if bytes > room {
        bail!(
            "the probe would be {bytes} bytes, more than {}'s MTU of {room}",
            path.iface.name
        );
    }
    Ok(t)
}

/// `--flags` and the one-flag options together; a SYN when none is given.
fn probe_flags(args: &ProbeArgs) -> ProbeFlags {
    let ones = [
        (args.syn, Flags::SYN),
        (args.fin, Flags::FIN),
        (args.rst, Flags::RST),
        (args.psh, Flags::PSH),
        (args.urg, Flags::URG),
        (args.ece, Flags::ECE),
        (args.cwr, Flags::CWR),
    ];
    if args.flags.is_none() && !args.ack_flag && ones.iter().all(|&(on, _)| !on) {
        return ProbeFlags::SYN;
    }
    let mut flags = args.flags.unwrap_or_default();
    for (_, f) in ones.into_iter().filter(|&(on, _)| on) {
        flags.flags = flags.flags | f;
    }
    flags.ack |= args.ack_flag;
    flags
}

/// The TCP options in the order Linux puts them, then the raw ones.
fn probe_options(args: &ProbeArgs) -> Vec<TcpOption> {
    let mut options = Vec::new();
    options.extend(args.mss.map(TcpOption::Mss));
    if args.sack_perm {
        options.push(TcpOption::SackPermitted);
    }
    options.extend(args.ts.clone());
    options.extend(std::iter::repeat_n(TcpOption::Nop, usize::from(args.nop)));
    options.extend(args.wscale.map(TcpOption::WindowScale));
    options.extend(args.tcp_option.iter().cloned());
    if args.eol {
        options.push(TcpOption::Eol);
    }
    options
}

/// `--data`, `--data-file`, or `--data-len` bytes of `X`.
fn payload(args: &ProbeArgs) -> Result<Vec<u8>> {
    Ok(if let Some(d) = &args.data {
        unescape(d)?
    } else if let Some(f) = &args.data_file {
        std::fs::read(f).with_context(|| format!("reading --data-file {}", f.display()))?
    } else {
        vec![b'X'; args.data_len.unwrap_or(0)]
    })
}

/// The targets of `nettool probe`, each with its ports: `HOST[:PORTS]`,
/// a subnet, stdin, `-iL`; `--dport` (or 80) where a target names none.
fn probe_targets(
    args: &ProbeArgs,
    stdin: &mut dyn BufRead,
    resolve: impl Fn(&str) -> Result<IpAddr>,
) -> Result<Vec<Target>> {
    let words = targets::gather(&args.targets, args.list.input_list.as_deref(), stdin)?;
    let found = targets::expand(&words, true, args.list.max_targets, resolve)?;
    targets::with_ports(found, args.dport.as_deref(), Proto::Tcp, 80)
}

/// Refuses, before anything is sent, a header field the target's family
/// lacks: a flow label for an IPv4 target, DF or an identification for
/// an IPv6 one.
fn family_fields(args: &ProbeArgs, found: &[Target]) -> Result<()> {
    let v4 = found.iter().find(|t| t.ip.is_ipv4()).map(|t| t.ip);
    let v6 = found.iter().find(|t| t.ip.is_ipv6()).map(|t| t.ip);
    match (v4, v6) {
        (Some(ip), _) if args.flow_label.is_some() => {
            bail!("--flow-label is IPv6's, and {ip} is an IPv4 address (IPv4 has no flow label)")
        }
        (_, Some(ip)) if args.df => bail!(
            "--df is IPv4's, and {ip} is an IPv6 address (IPv6 routers never fragment: \
             there is no DF bit)"
        ),
        (_, Some(ip)) if args.id.is_some() => bail!(
            "--id is IPv4's identification, and {ip} is an IPv6 address (an IPv6 header has \
             none; --flow-label marks IPv6 probes)"
        ),
        _ => Ok(()),
    }
}

/// Takes the zones off link-local targets (`fe80::1%eth0`,
/// `[fe80::1%eth0]:22`): a zone names the interface, as `-i` does, and
/// one run leaves by one interface, so the zones and `-i` must agree.
fn zone_interface(words: &mut [String], interface: &mut Option<String>) -> Result<()> {
    for word in words.iter_mut() {
        let Some(at) = word.find('%') else { continue };
        let end = word[at..].find(']').map_or(word.len(), |i| at + i);
        let zone = word[at + 1..end].to_owned();
        if zone.is_empty() {
            bail!("{word}: the zone after % is empty: write the interface, e.g. fe80::1%eth0");
        }
        match interface {
            Some(iface) if *iface != zone => bail!(
                "{word} names interface {zone}, and -i (or another zone) {iface}: one run \
                 leaves by one interface"
            ),
            _ => *interface = Some(zone),
        }
        word.replace_range(at..end, "");
    }
    Ok(())
}

/// How many probes go to each target: `-c`, or with several targets one
/// each (without `-c` the first would take every probe until Ctrl-C).
fn per_target_count(args: &ProbeArgs, targets: usize) -> Option<u64> {
    args.count.or((targets > 1).then_some(1))
}

pub fn probe(mut args: ProbeArgs, env: &mut Env) -> Result<Outcome> {
    zone_interface(&mut args.targets, &mut args.path.interface)?;
    if datagram::asked(&args) {
        return datagram::probe(&args, env);
    }
    let family = args.family.family();
    let resolve = |h: &str| super::resolve_host_ip(h, family);
    let found = probe_targets(&args, &mut std::io::stdin().lock(), resolve)?;
    family_fields(&args, &found)?;
    probe_each::<Segments>(&args, found, env)
}

/// A target of a probe run: its address, its destination ports (none for
/// ICMP), how many probes.
type Aimed<'a> = (IpAddr, &'a [u16], Option<u64>);

/// One kind of probe, as [`probe_each`] runs it: TCP segments
/// ([`Segments`]), UDP datagrams or ICMP queries.
trait Kind {
    /// What is made of a target before anything is claimed from the
    /// kernel (and before the privileges go: it may read a file).
    type Ready;
    /// Refuses what cannot go out on `path` (too big for its MTU...),
    /// or makes it ready.
    fn ready(args: &ProbeArgs, path: &Path, target: Aimed) -> Result<Self::Ready>;
    /// The flows the probes to `target` take over from the kernel.
    fn flows(args: &ProbeArgs, target: Aimed) -> Flows;
    /// Sends the probes to `target` from `aim` over `link`.
    #[allow(clippy::too_many_arguments)]
    fn fire(
        args: &ProbeArgs,
        ready: Self::Ready,
        aim: &Aim,
        target: Aimed,
        rep: Reporter,
        link: &mut dyn Link,
        clock: &mut dyn Clock,
        env: &mut Env,
    ) -> Result<Fired>;
}

/// TCP probes: hand-made segments from a template.
struct Segments;

impl Kind for Segments {
    type Ready = Template;

    fn ready(args: &ProbeArgs, path: &Path, (dst, ..): Aimed) -> Result<Template> {
        template(args, path, dst)
    }

    fn flows(args: &ProbeArgs, (dst, dports, _): Aimed) -> Flows {
        probe_flows(dst, dports, args.sport_inc)
    }

    fn fire(
        args: &ProbeArgs,
        tpl: Template,
        aim: &Aim,
        target: Aimed,
        rep: Reporter,
        link: &mut dyn Link,
        clock: &mut dyn Clock,
        env: &mut Env,
    ) -> Result<Fired> {
        fire(args, tpl, aim, target, rep, link, clock, env)
    }
}

/// The probe runs of every target after host discovery, each in its own
/// block, then the line over all. Every target's way is found first and
/// every stack opened (one per interface, for all the targets that leave
/// by it: see [`Ways`]), then the privileges go, once, before the first
/// probe leaves.
fn probe_each<K: Kind>(args: &ProbeArgs, found: Vec<Target>, env: &mut Env) -> Result<Outcome> {
    let how = ("probed", args.json);
    let (found, down) = discovered(found, &args.path, &args.list, how, env)?;
    let count = per_target_count(args, found.len() + down);
    // ICMP targets have no ports.
    fn aimed(t: &Target, count: Option<u64>) -> Aimed<'_> {
        (t.ip, t.ports.as_deref().unwrap_or_default(), count)
    }
    let mut ways = Ways::find(found.iter().map(|t| t.ip), &Way::of(&args.path), env)?;
    let mut ready = Vec::new();
    for (i, t) in found.iter().enumerate().take(ways.len()) {
        ready.push(match ways.path(i) {
            Some(path) => Some(K::ready(args, path, aimed(t, count))?),
            None => None,
        });
    }
    let link = probe_link(args.flood);
    let flows = |i: usize| K::flows(args, aimed(&found[i], count));
    ways.open(args.path.source_port, &link, flows, env)?;
    let mut runs = Runs::new(found.len(), down);
    for (i, (t, ready)) in found.iter().zip(ready).enumerate() {
        if env.interrupt.load(Ordering::Relaxed) {
            break;
        }
        let mut rep = Reporter::new(args.json);
        between_targets(&rep, i, env)?;
        let outcome = match (ways.turn(i), ready) {
            (Turn::Ready { path, stack }, Some(ready)) => {
                let aim = Aim::of(path, stack);
                let mut clock = env.clock.clock();
                let (link, clock) = (stack.link.as_mut(), clock.as_mut());
                let fired = K::fire(args, ready, &aim, aimed(t, count), rep, link, clock, env)?;
                let dropped = ways.dropped(i, env.err);
                fired.finish(dropped, clock.now(), env)?
            }
            (Turn::Unresolved(why), _) => unresolved(&mut rep, env, "probe", t.ip, why)?,
            (Turn::Ready { .. }, None) => unreachable!("a target with a path is made ready"),
        };
        runs.push(outcome, answered_verdict(outcome));
    }
    ways.teardown(env.err);
    runs.finish(Many::Probe, args.json, env)
}

/// `nettool probe` over what the caller [`Given`] (the in-memory link in
/// tests): `given.local` is the first source port; every target goes
/// out over the one link.
pub fn probe_over(args: &ProbeArgs, given: Given, env: &mut Env) -> Result<Outcome> {
    if datagram::asked(args) {
        return datagram::probe_over(args, given, env);
    }
    let aim = Aim {
        path: given.path,
        local: given.local,
        guard: None,
        guard_ingress: None,
    };
    let family = args.family.family();
    let resolve = |h: &str| super::resolve_host_ip(h, family);
    let found = probe_targets(args, &mut std::io::empty(), resolve)?;
    family_fields(args, &found)?;
    let count = per_target_count(args, found.len());
    let (link, clock) = (given.link, given.clock);
    let mut runs = Runs::new(found.len(), 0);
    for (i, t) in found.iter().enumerate() {
        if env.interrupt.load(Ordering::Relaxed) {
            break;
        }
        let rep = Reporter::new(args.json);
        between_targets(&rep, i, env)?;
        let target = (t.ip, t.ports.as_deref().unwrap_or(&[80]), count);
        let tpl = template(args, aim.path, t.ip)?;
        let fired = fire(args, tpl, &aim, target, rep, link, clock, env)?;
        let outcome = fired.finish(None, clock.now(), env)?;
        runs.push(outcome, answered_verdict(outcome));
    }
    runs.finish(Many::Probe, args.json, env)
}

/// The stack a probe run or a scan leaves from, opened on its path.
struct Opened<'a> {
    path: &'a Path,
    stack: Stack,
}

impl Opened<'_> {
    /// Runs `body` on the stack's link and the command's clock, tears the
    /// stack down (the guard goes) and reports what `body` ran.
    fn run<F: Finish>(
        mut self,
        env: &mut Env,
        body: impl FnOnce(&Aim, &mut dyn Link, &mut dyn Clock, &mut Env) -> Result<F>,
    ) -> Result<Outcome> {
        let aim = Aim::of(self.path, &self.stack);
        let mut clock = env.clock.clock();
        let ran = body(&aim, self.stack.link.as_mut(), clock.as_mut(), env)?;
        let dropped = self.stack.teardown(env.err);
        ran.finish(dropped, clock.now(), env)
    }
}

/// Where probes and scans leave from: the path, our address and first
/// source port, and the RST guard's table, when there is one.
struct Aim<'a> {
    path: &'a Path,
    local: SocketAddr,
    guard: Option<String>,
    guard_ingress: Option<String>,
}

impl<'a> Aim<'a> {
    fn of(path: &'a Path, stack: &Stack) -> Aim<'a> {
        Aim {
            path,
            local: stack.local(),
            guard: stack.guard_table().map(str::to_owned),
            guard_ingress: stack.guard_ingress().map(str::to_owned),
        }
    }

    /// How the kernel is kept from answering the probes' answers.
    fn kernel_kept_out(&self) -> String {
        match &self.guard {
            Some(table) => crate::guard::keeper(table, self.guard_ingress.is_some(), "these flows"),
            None => format!("{} is not the kernel's", self.path.source),
        }
    }
}

/// Probes that have run their course, to be summed up.
struct Fired {
    view: ProbeView,
    summary: Summary,
    ended: Instant,
    outcome: Outcome,
}

/// Sends the probes `tpl` and `args` describe from `aim` to `target` (the host, its
/// ports, how many probes) until the last wait ends (or Ctrl-C), rendering as it goes.
#[allow(clippy::too_many_arguments)]
fn fire(
    args: &ProbeArgs,
    tpl: Template,
    aim: &Aim,
    (dst, dports, count): (IpAddr, &[u16], Option<u64>),
    rep: Reporter,
    link: &mut dyn Link,
    clock: &mut dyn Clock,
    env: &mut Env,
) -> Result<Fired> {
    let start = clock.now();
    let config = prober_config(args, count, &tpl, aim.local.port(), dports);
    let mut host = RawHost::new(iface_config(aim.path), Prober::new(start, config));
    let mut view = ProbeView {
        rep,
        verbose: args.verbose,
        start,
        src: aim.path.source,
        dst,
    };
    probe_header(&view, args, aim, &tpl, dports, env)?;
    let result = drive_probes(&mut host, &mut view, link, clock, args.flood, env);
    let answered = host.flow().summary().answered > 0;
    // Ctrl-C is how a probe without -c ends: its code says whether answers came.
    let outcome = Outcome::from_answer(answered).unless_terminated(env.interrupt);
    let ended = clock.now();
    result?;
    Ok(Fired {
        view,
        summary: host.flow().summary(),
        ended,
        outcome,
    })
}

impl Finish for Fired {
    /// The summary, with the guard's count; its time is when the last
    /// wait ended, not when the guard was gone.
    fn finish(self, dropped: Option<u64>, _now: Instant, env: &mut Env) -> Result<Outcome> {
        let Fired {
            view,
            summary,
            ended,
            outcome,
        } = self;
        view.summary(env.out, &summary, ended, dropped, outcome)?;
        Ok(outcome)
    }
}

/// The flows probes to `ports` of `remote` use: the guard and the link's
/// filter cover the span of the ports.
fn probe_flows(remote: IpAddr, ports: &[u16], sport_inc: bool) -> Flows {
    let lo = *ports.iter().min().expect("one port");
    let hi = *ports.iter().max().expect("one port");
    Flows::Probes {
        remote,
        dports: (lo, hi),
        sport_inc,
    }
}

/// The link for probes: a flood sends many frames per system call and
/// needs room for the answers; paced probes are stamped by the kernel.
fn probe_link(flood: bool) -> LinkOptions {
    if flood {
        LinkOptions {
            offloading: true,
            tx_ring: Some(FLOOD_BATCH * 2),
            receive_buffer: Some(FLOOD_RECEIVE_BUFFER),
            rx_ring: Some(RingKind::Frames),
            ..LinkOptions::default()
        }
    } else {
        LinkOptions {
            rx_timestamps: true,
            tx_timestamps: true,
            ..LinkOptions::default()
        }
    }
}

fn prober_config(
    args: &ProbeArgs,
    count: Option<u64>,
    tpl: &Template,
    sport: u16,
    dports: &[u16],
) -> prober::Config {
    prober::Config {
        template: tpl.clone(),
        sport,
        sport_inc: args.sport_inc,
        dports: dports.to_vec(),
        count,
        interval: args.interval,
        wait: args.wait,
        seq: args.seq,
        id: args.id,
        seed: random_u64(),
        flood: args.flood,
        report: !args.flood,
        reset_open: true,
    }
}

/// Runs the prober until its last wait ends (or Ctrl-C), rendering as
/// it goes.
fn drive_probes(
    host: &mut RawHost<Prober>,
    view: &mut ProbeView,
    link: &mut dyn Link,
    clock: &mut dyn Clock,
    flood: bool,
    env: &mut Env,
) -> Result<()> {
    let mut run = ProbeRun {
        view,
        out: env.out,
        recent: VecDeque::new(),
    };
    let opts = run_options(flood);
    driver::run_with(host, link, clock, env.interrupt, &opts, &mut run)?;
    Ok(())
}

/// The first line: what the probes are, where they go, how the kernel is
/// kept out.
fn probe_header(
    view: &ProbeView,
    args: &ProbeArgs,
    aim: &Aim,
    tpl: &Template,
    dports: &[u16],
    env: &mut Env,
) -> Result<()> {
    let (path, dst, sport) = (aim.path, tpl.dst, aim.local.port());
    let repr = tpl.repr(sport, *dports.iter().min().expect("one port"), 0);
    let (flags, bytes) = (tcp_flags(&repr), repr.buffer_len() + tpl.ip_header_len());
    let start = Start {
        command: "probe",
        src: Some(aim.local),
        ip: Some(dst),
        ports: Some(format_ports(dports)),
        iface: Some(path.iface.name.clone()),
        guard: aim.guard.clone(),
        guard_ingress: aim.guard_ingress.clone(),
        flags: Some(flags.clone()),
        bytes: Some(bytes),
        sport_inc: Some(args.sport_inc),
        ..Start::default()
    };
    view.rep.emit(env.out, view.start, Ev::Start(Box::new(start)), |w| {
        writeln!(
            w,
            "PROBE {dst} port {} from {} port {sport}{} on {}: Flags [{flags}], {bytes} bytes{} ({})",
            format_ports(dports),
            path.source,
            if args.sport_inc { "+" } else { "" },
            path.iface.name,
            if args.badsum { ", bad checksum" } else { "" },
            aim.kernel_kept_out(),
        )
    })?;
    Ok(())
}

/// How long to poll without sleeping after a probe leaves, so that the
/// answer's arrival is read at once rather than after a wake-up.
const SPIN: Duration = Duration::from_millis(2);

/// Frames a flood queues in its send ring between flushes.
const FLOOD_BATCH: usize = 256;
/// A flood's receive buffer: a batch's answers arrive while the batch is
/// being sent (on veth, inside the very `send`), and are read only after.
const FLOOD_RECEIVE_BUFFER: usize = 4 << 20;

/// How the driver runs the prober: paced probes leave at exact moments,
/// stamped by the kernel, with a short busy poll for each answer; a
/// flood goes through the send ring in batches, the ring pacing it to
/// the link, and answers are drained between batches.
fn run_options(flood: bool) -> Options {
    if flood {
        Options {
            ring_batch: Some(FLOOD_BATCH),
            rx_batch: usize::MAX,
            ..Options::default()
        }
    } else {
        Options {
            kernel_stamps: true,
            spin: SPIN,
            ..Options::default()
        }
    }
}

/// The prober's side of a driver run: renders its events, corrects each
/// probe's send time to when it left, forgets the probes a stopped flood
/// took back from its ring, and stops sending on Ctrl-C.
struct ProbeRun<'a> {
    view: &'a mut ProbeView,
    out: &'a mut dyn Write,
    /// Whether each of the last frames sent was a probe (not a RST owed),
    /// newest last; as many as the flood's ring holds.
    recent: VecDeque<bool>,
}

impl Handler<RawHost<Prober>> for ProbeRun<'_> {
    fn event(&mut self, _: &mut RawHost<Prober>, now: Instant, event: Hosted<Event>) -> Result<()> {
        match event {
            Hosted::Flow(event) => self.view.event(self.out, now, event),
            Hosted::Host(event) => self.view.host_event(self.out, event),
        }
    }

    fn transmit(
        &mut self,
        host: &mut RawHost<Prober>,
        now: Instant,
        _: bool,
        buf: &mut Vec<u8>,
    ) -> Option<Tx> {
        host.poll_transmit_into(now, buf).then_some(Tx::Frame)
    }

    fn sent(&mut self, host: &mut RawHost<Prober>, at: Instant) {
        host.sent(at);
        if self.recent.len() == FLOOD_BATCH * 2 {
            self.recent.pop_front();
        }
        let probe = host.last_from_flow() && host.flow().last_was_probe();
        self.recent.push_back(probe);
    }

    fn taken_back(&mut self, host: &mut RawHost<Prober>, frames: usize) {
        let probes = self.recent.iter().rev().take(frames).filter(|&&p| p);
        host.flow_mut().unsend(probes.count() as u64);
    }

    fn interrupt(&mut self, host: &mut RawHost<Prober>, _: Instant) {
        host.flow_mut().stop_sending();
    }
}

/// The interface probes and scans leave through: our address and MAC on
/// `path`, answering ARP for the address when the kernel does not own it.
pub(super) fn iface_config(path: &Path) -> InterfaceConfig {
    let (ip, ipv6) = path.addresses();
    InterfaceConfig {
        ip,
        mac: path.iface.mac,
        ipv6,
        next_hop_mac: path.next_hop_mac,
        answer_arp: !path.owned_by_kernel,
        trace: false,
    }
}

struct ProbeView {
    rep: Reporter,
    verbose: bool,
    start: Instant,
    src: IpAddr,
    dst: IpAddr,
}

impl ProbeView {
    fn t(&self, now: Instant) -> f64 {
        (now - self.start).as_secs_f64()
    }

    /// One event of the interface: an ARP request it answered for us is
    /// said in JSON (people see the probes' answers).
    fn host_event(&mut self, out: &mut dyn Write, event: HostEvent) -> Result<()> {
        if let HostWhat::ArpAnswered { asker, asker_mac } = event.what {
            let ev = Ev::ArpAnswered {
                ip: asker,
                mac: Some(asker_mac),
            };
            self.rep.emit(out, event.at, ev, |_| Ok(()))?;
        }
        Ok(())
    }

    /// One event of the prober: its JSON, or its line for people.
    fn event(&mut self, out: &mut dyn Write, now: Instant, event: Event) -> Result<()> {
        let t = self.t(now);
        let (event, line) = match event {
            Event::Sent { .. } if !self.verbose => return Ok(()),
            Event::Sent {
                index,
                sport,
                dport,
                seq,
                id,
            } => sent(t, self.probe(index, sport, dport, seq, id)),
            Event::Reply {
                index,
                rtt,
                seg,
                ttl,
                meaning,
            } => reply(t, index, rtt, &seg, ttl, meaning),
            Event::Icmp {
                index,
                rtt,
                from,
                kind,
            } => icmp(t, index, rtt, from, kind),
            Event::Unmatched { seg } => unmatched(t, &seg),
            Event::ResetSent { sport, dport, seq } => self.reset_sent(t, sport, dport, seq),
        };
        self.rep.emit(out, now, event, |w| writeln!(w, "{line}"))?;
        Ok(())
    }

    fn probe(&self, index: u64, sport: u16, dport: u16, seq: u32, id: u16) -> ev::Probe {
        ev::Probe {
            probe: index,
            src: SocketAddr::new(self.src, sport),
            dst: SocketAddr::new(self.dst, dport),
            seq,
            // IPv6 has no identification: none was sent.
            id: if self.dst.is_ipv4() { id } else { 0 },
        }
    }

    fn reset_sent(&self, t: f64, sport: u16, dport: u16, seq: u32) -> (Ev, String) {
        let src = SocketAddr::new(self.src, sport);
        let dst = SocketAddr::new(self.dst, dport);
        let text = format!(
            "Flags [R], seq {seq}: nettool resets the half-open connection {sport} > {dport}"
        );
        let line = stamped(t, "out", text);
        (
            Ev::Segment(Box::new(ev::Segment::reset(src, dst, seq))),
            line,
        )
    }

    /// The result: counts, round trips, and `--- … ---` lines for people.
    fn summary(
        &self,
        out: &mut dyn Write,
        s: &Summary,
        ended: Instant,
        guard_dropped: Option<u64>,
        outcome: Outcome,
    ) -> Result<()> {
        let elapsed = ended - self.start;
        let report = Report {
            ip: Some(self.dst),
            ..probe_report(s, elapsed, guard_dropped, outcome)
        };
        self.rep
            .emit(out, ended, Ev::Result(Box::new(report)), |out| {
                writeln!(out, "--- {} probe statistics ---", self.dst)?;
                // A rate needs two probes to mean something.
                let rate = if s.sent > 1 {
                    format!(" ({:.0} probes/s)", s.per_second(elapsed))
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "{} sent, {} answered, {:.1}% loss, in {}{rate}",
                    count(s.sent, "probe"),
                    s.answered,
                    s.loss_percent(),
                    human(elapsed),
                )?;
                if let Some(line) = rtt_line(&s.rtt) {
                    writeln!(out, "{line}")?;
                }
                let notes = notes(s, guard_dropped);
                if !notes.is_empty() {
                    writeln!(out, "{}", notes.join("; "))?;
                }
                Ok(())
            })?;
        Ok(())
    }
}

/// `out   probe N: …`, with `-v`.
fn sent(t: f64, p: ev::Probe) -> (Ev, String) {
    // IPv6 has no identification to show.
    let id = match p.dst {
        SocketAddr::V4(_) => format!(", id {}", p.id),
        SocketAddr::V6(_) => String::new(),
    };
    let text = format!(
        "probe {}: port {} > {}, seq {}{id}",
        p.probe,
        p.src.port(),
        p.dst.port(),
        p.seq,
    );
    (Ev::Probe(p), stamped(t, "out", text))
}

/// A TCP answer to a probe, and what it means.
fn reply(
    t: f64,
    index: u64,
    rtt: Duration,
    seg: &Segment,
    ttl: u8,
    meaning: Meaning,
) -> (Ev, String) {
    let repr = seg.as_repr();
    let line = tcp_line_absolute(seg.src.ip(), seg.dst.ip(), &repr);
    let text = format!(
        "{line}  probe {index} ttl {ttl} rtt {}: {}",
        human(rtt),
        meaning.text()
    );
    let text = stamped(t, "in", text);
    let reply = Reply {
        probe: Some(index),
        rtt_us: us(rtt),
        ttl: Some(ttl),
        meaning: Some(meaning.text().to_owned()),
        line: Some(line),
        ..Reply::default()
    };
    (Ev::Reply(Box::new(reply.segment(seg))), text)
}

/// An ICMP error about a probe (or about none we still wait for).
fn icmp(
    t: f64,
    index: Option<u64>,
    rtt: Option<Duration>,
    from: IpAddr,
    kind: ErrorKind,
) -> (Ev, String) {
    let which = match (index, rtt) {
        (Some(i), Some(r)) => format!("  probe {i} rtt {}", human(r)),
        _ => "  (no outstanding probe)".to_owned(),
    };
    let line = stamped(t, "icmp", format!("{} from {from}{which}", kind.describe()));
    let icmp = ev::Icmp {
        ip: from,
        what: kind.describe(),
        probe: index,
        rtt_us: rtt.map(us),
    };
    (Ev::Icmp(icmp), line)
}

/// A segment to our ports that answers no outstanding probe.
fn unmatched(t: f64, seg: &Segment) -> (Ev, String) {
    let repr = seg.as_repr();
    let line = tcp_line_absolute(seg.src.ip(), seg.dst.ip(), &repr);
    let text = stamped(t, "in", format!("{line}  (answers no outstanding probe)"));
    let event = ev::Segment::new("in", seg).line(line);
    (Ev::Segment(Box::new(event)), text)
}

/// The result event of `nettool probe`.
fn probe_report(
    s: &Summary,
    elapsed: Duration,
    guard_dropped: Option<u64>,
    outcome: Outcome,
) -> Report {
    let verdict = if s.answered > 0 {
        Verdict::Answered
    } else {
        Verdict::NoReply
    };
    Report {
        sent: Some(s.sent),
        answered: Some(s.answered),
        loss_pct: Some(s.loss_percent()),
        rtt_min_us: s.rtt.min().map(us),
        rtt_avg_us: s.rtt.avg().map(us),
        rtt_max_us: s.rtt.max().map(us),
        rtt_stddev_us: s.rtt.stddev().map(us),
        pps: Some(s.per_second(elapsed)),
        unmatched: Some(s.unmatched),
        resets_sent: Some(s.resets_sent),
        malformed: Some(s.malformed),
        rsts_dropped: guard_dropped,
        ..Report::new(verdict, outcome)
    }
}

/// `rtt min/avg/max/stddev = …`, once there is a round trip.
fn rtt_line(rtt: &RttStats) -> Option<String> {
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
    let (min, avg, max, sd) = (
        ms(rtt.min())?,
        ms(rtt.avg())?,
        ms(rtt.max())?,
        ms(rtt.stddev())?,
    );
    Some(format!(
        "rtt min/avg/max/stddev = {min:.3}/{avg:.3}/{max:.3}/{sd:.3} ms"
    ))
}

/// What else happened, worth a word when it did.
fn notes(s: &Summary, guard_dropped: Option<u64>) -> Vec<String> {
    let mut notes = Vec::new();
    if s.resets_sent > 0 {
        notes.push(format!(
            "{} reset",
            count(s.resets_sent, "half-open connection")
        ));
    }
    if s.unmatched > 0 {
        notes.push(format!("{} matched no probe", count(s.unmatched, "answer")));
    }
    if let Some(n) = guard_dropped.filter(|&n| n > 0) {
        notes.push(format!("{} dropped by the guard", count(n, "kernel RST")));
    }
    if s.malformed > 0 {
        notes.push(count(s.malformed, "malformed frame"));
    }
    notes
}

/// The rate `nettool scan` runs at: fixed by `--rate`, else adaptive
/// between `--min-rate` and `--max-rate`.
fn scan_rate(args: &ScanArgs) -> Result<Rate> {
    match args.rate {
        Some(r) => Ok(Rate::Fixed(r)),
        None if args.min_rate > args.max_rate => bail!(
            "--min-rate {} is above --max-rate {}: lower the floor or raise the ceiling",
            args.min_rate,
            args.max_rate
        ),
        None => Ok(Rate::Adaptive {
            min: args.min_rate,
            max: args.max_rate,
        }),
    }
}

/// `at 10000/s` or `adaptive 100-100000/s`, for the first line.
fn describe_rate(rate: Rate) -> String {
    match rate {
        Rate::Fixed(r) => format!("at {r}/s"),
        Rate::Adaptive { min, max } => format!("adaptive {min}-{max}/s"),
    }
}

/// A fast scan's answers can arrive faster than a busy CPU reads them;
/// answers the socket had no room for would look like losses and slow
/// the scan down for nothing.
const SCAN_RECEIVE_BUFFER: usize = 8 << 20;

/// The targets and ports of `nettool scan`: `TARGET... [PORTS]` (the last
/// operand is the ports when it reads as a port list, see
/// [`targets::is_port_list`]), or `--ports`; without either, the default
/// set.
fn scan_targets(
    args: &ScanArgs,
    stdin: &mut dyn BufRead,
    resolve: impl Fn(&str) -> Result<IpAddr>,
) -> Result<(Vec<Target>, Vec<u16>)> {
    let mut operands = args.operands.as_slice();
    let more = operands.len() > 1 || args.list.input_list.is_some();
    let ports_text = match (&args.ports, operands.split_last()) {
        (Some(_), Some((last, _))) if operands.len() > 1 && targets::is_port_list(last) => {
            bail!("{last:?} reads as ports, and --ports gives them too: give the ports once")
        }
        (Some(p), _) => Some(p.as_str()),
        (None, Some((last, rest))) if more && targets::is_port_list(last) => {
            operands = rest;
            Some(last.as_str())
        }
        _ => None,
    };
    let ports = match ports_text {
        Some(p) => services::parse_ports(p, Proto::Tcp).map_err(anyhow::Error::msg)?,
        None => services::default_scan_ports(),
    };
    let words = targets::gather(operands, args.list.input_list.as_deref(), stdin)?;
    let found = targets::expand(&words, false, args.list.max_targets, resolve)?;
    Ok((found, ports))
}

pub fn scan(mut args: ScanArgs, env: &mut Env) -> Result<Outcome> {
    zone_interface(&mut args.operands, &mut args.path.interface)?;
    if args.udp {
        return udp_scan::scan(&args, env);
    }
    let rate = scan_rate(&args)?;
    let family = args.family.family();
    let resolve = |h: &str| super::resolve_host_ip(h, family);
    let (found, ports) = scan_targets(&args, &mut std::io::stdin().lock(), resolve)?;
    let how = ("scanned", args.json);
    let (found, down) = discovered(found, &args.path, &args.list, how, env)?;
    // Every target's way and stack first, then the privileges go, once
    // (see probe_each).
    let dsts: Vec<IpAddr> = found.iter().map(|t| t.ip).collect();
    let way = Way::of(&args.path);
    let mut ways = Ways::find(dsts.iter().copied(), &way, env)?;
    let opts = LinkOptions {
        receive_buffer: Some(SCAN_RECEIVE_BUFFER),
        rx_ring: Some(RingKind::Frames),
        ..LinkOptions::default()
    };
    let flows = |i: usize| probe_flows(dsts[i], &ports, false);
    ways.open(args.path.source_port, &opts, flows, env)?;
    let mut runs = Runs::new(found.len(), down);
    for (i, &dst) in dsts.iter().enumerate().take(ways.len()) {
        if env.interrupt.load(Ordering::Relaxed) {
            break;
        }
        let mut rep = Reporter::new(args.json);
        between_targets(&rep, i, env)?;
        let (outcome, verdict) = match ways.turn(i) {
            Turn::Ready { path, stack } => {
                let aim = Aim::of(path, stack);
                let mut clock = env.clock.clock();
                let (link, clock) = (stack.link.as_mut(), clock.as_mut());
                let swept = sweep(&args, &aim, (dst, &ports), rate, rep, link, clock, env)?;
                let verdict = swept.verdict();
                let dropped = ways.dropped(i, env.err);
                (swept.finish(dropped, clock.now(), env)?, verdict)
            }
            Turn::Unresolved(why) => {
                let outcome = unresolved(&mut rep, env, "scan", dst, why)?;
                (outcome, Verdict::NoArp)
            }
        };
        runs.push(outcome, verdict);
    }
    ways.teardown(env.err);
    runs.finish(Many::Scan, args.json, env)
}

/// `nettool scan` over what the caller [`Given`] (the in-memory link in
/// tests); every target goes out over the one link.
pub fn scan_over(args: &ScanArgs, given: Given, env: &mut Env) -> Result<Outcome> {
    if args.udp {
        return udp_scan::scan_over(args, given, env);
    }
    let rate = scan_rate(args)?;
    let family = args.family.family();
    let resolve = |h: &str| super::resolve_host_ip(h, family);
    let (found, ports) = scan_targets(args, &mut std::io::empty(), resolve)?;
    let aim = Aim {
        path: given.path,
        local: given.local,
        guard: None,
        guard_ingress: None,
    };
    let (link, clock) = (given.link, given.clock);
    let mut runs = Runs::new(found.len(), 0);
    for (i, dst) in found.iter().map(|t| t.ip).enumerate() {
        if env.interrupt.load(Ordering::Relaxed) {
            break;
        }
        let rep = Reporter::new(args.json);
        between_targets(&rep, i, env)?;
        let swept = sweep(args, &aim, (dst, &ports), rate, rep, link, clock, env)?;
        let verdict = swept.verdict();
        runs.push(swept.finish(None, clock.now(), env)?, verdict);
    }
    runs.finish(Many::Scan, args.json, env)
}

/// A scan that has run its course, to be reported.
struct Swept<'a> {
    rep: Reporter,
    args: &'a ScanArgs,
    dst: IpAddr,
    results: Vec<PortResult>,
    totals: ScanTotals,
    ended: Instant,
    outcome: Outcome,
}

/// Scans `target` (the host and its ports) from `aim` at `rate` until
/// every port has its state (or Ctrl-C).
#[allow(clippy::too_many_arguments)]
fn sweep<'a>(
    args: &'a ScanArgs,
    aim: &Aim,
    (dst, ports): (IpAddr, &[u16]),
    rate: Rate,
    rep: Reporter,
    link: &mut dyn Link,
    clock: &mut dyn Clock,
    env: &mut Env,
) -> Result<Swept<'a>> {
    let start = clock.now();
    let config = scan_config(args, aim, dst, ports, rate);
    let mut host = RawHost::new(iface_config(aim.path), Scanner::new(start, config));
    scan_header(&rep, args, aim, (dst, ports), rate, start, env)?;
    // The results are rendered at the end, as a table.
    let noop = &mut |_, _| Ok(());
    driver::run_with(&mut host, link, clock, env.interrupt, &SCAN_RUN, noop)?;
    let ended = clock.now();
    let scanner = host.flow();
    let results = scanner.results();
    let open = Tally::of(&results).open > 0;
    let outcome = Outcome::from_answer(open).unless_interrupted(env.interrupt);
    let totals = ScanTotals::of(scanner, ports.len(), ended - start, rate);
    Ok(Swept {
        rep,
        args,
        dst,
        results,
        totals,
        ended,
        outcome,
    })
}

impl Swept<'_> {
    /// What the scan found of its host, as the result says it.
    fn verdict(&self) -> Verdict {
        scan_verdict(&Tally::of(&self.results))
    }
}

impl Finish for Swept<'_> {
    /// The port table and the summary, with the guard's count; its time
    /// is when the scan ended, not when the guard was gone.
    fn finish(mut self, dropped: Option<u64>, _now: Instant, env: &mut Env) -> Result<Outcome> {
        self.totals.rsts_dropped = dropped;
        let (results, totals) = (&self.results, &self.totals);
        render_scan(
            env.out,
            &self.rep,
            self.ended,
            self.args,
            self.dst,
            results,
            totals,
            self.outcome,
        )?;
        Ok(self.outcome)
    }
}

/// SYNs with our MSS, at `rate`, to `ports` of `dst`.
fn scan_config(args: &ScanArgs, aim: &Aim, dst: IpAddr, ports: &[u16], rate: Rate) -> scan::Config {
    let (path, sport) = (aim.path, aim.local.port());
    let next_hop_mac = path.next_hop_mac.unwrap_or(MacAddr::zero());
    let mut template = Template::syn(path.iface.mac, next_hop_mac, path.source, dst);
    template.options = vec![TcpOption::Mss(path.mss())];
    scan::Config {
        template,
        sport,
        ports: ports.to_vec(),
        rate,
        concurrency: usize::try_from(args.concurrency).unwrap_or(usize::MAX),
        retries: args.retries,
        timeout: args.timeout,
        min_timeout: args.min_timeout,
        seed: random_u64(),
    }
}

/// The first line: what is scanned (`target`: the host and its ports),
/// from where, how fast.
#[allow(clippy::too_many_arguments)]
fn scan_header(
    rep: &Reporter,
    args: &ScanArgs,
    aim: &Aim,
    (dst, ports): (IpAddr, &[u16]),
    rate: Rate,
    start: Instant,
    env: &mut Env,
) -> Result<()> {
    let (path, sport) = (aim.path, aim.local.port());
    let start_event = scan_start(args, aim, (dst, ports), rate);
    rep.emit(env.out, start, Ev::Start(Box::new(start_event)), |w| {
        writeln!(
            w,
            "SCAN {dst}: {} from {}:{sport} on {}, {}, {}",
            count(ports.len() as u64, "port"),
            path.source,
            path.iface.name,
            describe_rate(rate),
            count(args.retries, "retry")
        )
    })?;
    Ok(())
}

/// The start event of `nettool scan`.
fn scan_start(args: &ScanArgs, aim: &Aim, (dst, ports): (IpAddr, &[u16]), rate: Rate) -> Start {
    let (min_rate, max_rate) = rate.bounds();
    Start {
        command: "scan",
        src: Some(aim.local),
        ip: Some(dst),
        ports: Some(format_ports(ports)),
        iface: Some(aim.path.iface.name.clone()),
        guard: aim.guard.clone(),
        guard_ingress: aim.guard_ingress.clone(),
        rate: args.rate,
        min_rate: Some(min_rate),
        max_rate: Some(max_rate),
        retries: Some(args.retries),
        ..Start::default()
    }
}

/// How the driver runs a scan: answers already waiting are all read
/// before timers fire (after a late wake-up, an answer waiting in the
/// socket is no loss, and taking it for one would cost a retry and slow
/// the rate down), and a full send queue is a lost SYN, not an error.
const SCAN_RUN: Options = Options {
    kernel_stamps: false,
    spin: Duration::ZERO,
    ring_batch: None,
    rx_batch: usize::MAX,
    lossy_send: true,
    input: None,
};

/// How a scan went, beyond its ports.
struct ScanTotals {
    asked: usize,
    sent: u64,
    elapsed: Duration,
    pace: PaceStats,
    fixed: bool,
    /// Kernel RSTs the guard dropped, when there is a guard.
    rsts_dropped: Option<u64>,
}

impl ScanTotals {
    /// The totals of `scanner`'s run, the guard's count still to come.
    fn of(scanner: &Scanner, asked: usize, elapsed: Duration, rate: Rate) -> ScanTotals {
        ScanTotals {
            asked,
            sent: scanner.sent,
            elapsed,
            pace: scanner.pace(),
            fixed: matches!(rate, Rate::Fixed(_)),
            rsts_dropped: None,
        }
    }

    /// The summary's words about the rate: what it reached, and what
    /// losses did to it (or, at a fixed rate, what to do about them).
    fn rate_text(&self) -> String {
        let p = &self.pace;
        let mut text = if self.fixed {
            format!("at {:.0}/s", p.rate)
        } else if self.sent < 2 {
            // One SYN has no rate (it said "peak 1007/s").
            String::new()
        } else {
            format!("peak {:.0}/s", p.peak)
        };
        if p.drops > 0 {
            text += &format!("; {} answered only a retry", count(p.drops, "port"));
            if self.fixed {
                text += " (SYNs or answers lost: try a lower --rate, or drop --rate to adapt)";
            } else {
                text += &format!(
                    ", rate cut {}, {:.0}/s at the end",
                    count(p.cuts, "time"),
                    p.rate
                );
            }
        }
        text
    }
}

#[allow(clippy::too_many_arguments)]
fn render_scan(
    out: &mut dyn Write,
    rep: &Reporter,
    now: Instant,
    args: &ScanArgs,
    dst: IpAddr,
    results: &[PortResult],
    totals: &ScanTotals,
    outcome: Outcome,
) -> Result<()> {
    let tally = Tally::of(results);
    if rep.json() {
        for r in results {
            rep.emit(out, now, Ev::Port(port_event(dst, r)), |_| Ok(()))?;
        }
        let report = scan_report(dst, results, &tally, totals, outcome);
        rep.emit(out, now, Ev::Result(Box::new(report)), |_| Ok(()))?;
        return Ok(());
    }
    // Many ports: the most common state is summed up in one line.
    let hidden = (!args.all && results.len() > 25).then(|| tally.most_common());
    port_table(out, results, hidden)?;
    if let Some(st) = hidden {
        writeln!(out, "Not shown: {} {} ports", tally.count(st), st.name())?;
    }
    let Tally {
        open,
        closed,
        filtered,
    } = tally;
    let rate = match totals.rate_text() {
        r if r.is_empty() => r,
        r => format!(", {r}"),
    };
    writeln!(
        out,
        "--- {} of {} in {}: {open} open, {closed} closed, {filtered} filtered; {} sent{rate}",
        results.len(),
        count(totals.asked as u64, "port"),
        human(totals.elapsed),
        count(totals.sent, "SYN"),
    )?;
    Ok(())
}

fn port_event(dst: IpAddr, r: &PortResult) -> ev::Port {
    ev::Port {
        ip: Some(dst),
        port: r.port,
        outcome: r.state.name(),
        reason: r.why.text().to_owned(),
        tries: r.tries,
        rtt_us: r.rtt.map(us),
    }
}

/// The result event of `nettool scan`.
fn scan_report(
    dst: IpAddr,
    results: &[PortResult],
    tally: &Tally,
    totals: &ScanTotals,
    outcome: Outcome,
) -> Report {
    let verdict = scan_verdict(tally);
    Report {
        ip: Some(dst),
        ports: Some(totals.asked),
        scanned: Some(results.len()),
        open: Some(tally.open),
        closed: Some(tally.closed),
        filtered: Some(tally.filtered),
        sent: Some(totals.sent),
        rate_peak: Some(totals.pace.peak.round()),
        rate_final: Some(totals.pace.rate.round()),
        drops: Some(totals.pace.drops),
        rate_cuts: Some(totals.pace.cuts),
        rsts_dropped: totals.rsts_dropped,
        ..Report::new(verdict, outcome)
    }
}

/// A scan's verdict on its host: open if a port is, else closed if one
/// is, else filtered.
fn scan_verdict(tally: &Tally) -> Verdict {
    match tally.verdict() {
        Some(PortState::Open) => Verdict::Open,
        Some(PortState::Closed) => Verdict::Closed,
        Some(PortState::Filtered) => Verdict::Filtered,
        None => Verdict::NoReply,
    }
}

/// `PORT STATE REASON`, a line a port, but those in the `hidden` state.
fn port_table(
    out: &mut dyn Write,
    results: &[PortResult],
    hidden: Option<PortState>,
) -> Result<()> {
    writeln!(out, "{:<10} {:<9} REASON", "PORT", "STATE")?;
    for r in results.iter().filter(|r| Some(r.state) != hidden) {
        writeln!(
            out,
            "{:<10} {:<9} {}",
            format!("{}/tcp", r.port),
            r.state.name(),
            r.why.text()
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use rstest::rstest;
    use std::net::Ipv4Addr;

    fn test_path() -> Path {
        Path {
            iface: crate::route::Interface {
                name: "veth0".into(),
                index: 2,
                mac: MacAddr::new(2, 0, 0, 0, 0, 1),
                ipv4: vec![],
                mtu: 1500,
                is_up: true,
                is_running: true,
                is_loopback: false,
            },
            source: Ipv4Addr::new(10, 0, 0, 1).into(),
            owned_by_kernel: true,
            next_hop: Ipv4Addr::new(10, 0, 0, 2).into(),
            next_hop_mac: Some(MacAddr::broadcast()),
            how: String::new(),
            loopback: false,
        }
    }

    fn parse(argv: &[&str]) -> ProbeArgs {
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Probe(a) => a,
            _ => unreachable!(),
        }
    }

    #[rstest]
    #[case(&["nettool", "probe", "h"], None, Flags::SYN, false)]
    #[case(&["nettool", "probe", "-S", "-A", "h"], Some(()), Flags::SYN, true)]
    #[case(&["nettool", "probe", "-F", "-P", "-U", "h"], Some(()), Flags::FIN.union(Flags::PSH).union(Flags::URG), false)]
    #[case(&["nettool", "probe", "--flags", "SA", "--ece", "--cwr", "h"], Some(()), Flags::SYN.union(Flags::ECE).union(Flags::CWR), true)]
    #[case(&["nettool", "probe", "--flags", "none", "h"], Some(()), Flags::NONE, false)]
    #[case(&["nettool", "probe", "-R", "h"], Some(()), Flags::RST, false)]
    fn flag_options_combine(
        #[case] argv: &[&str],
        #[case] _any: Option<()>,
        #[case] want: Flags,
        #[case] ack: bool,
    ) {
        let args = parse(argv);
        let path = test_path();
        let t = template(&args, &path, Ipv4Addr::new(10, 0, 0, 2).into()).unwrap();
        assert_eq!(t.flags, ProbeFlags { flags: want, ack });
    }

    #[test]
    fn options_come_in_linux_order_then_raw_ones() {
        let args = parse(&[
            "nettool",
            "probe",
            "--wscale",
            "7",
            "--nop",
            "--ts",
            "5:6",
            "--sack-perm",
            "--mss",
            "1460",
            "--tcp-option",
            "30:ab",
            "--eol",
            "h",
        ]);
        let path = test_path();
        let t = template(&args, &path, Ipv4Addr::new(10, 0, 0, 2).into()).unwrap();
        assert_eq!(
            t.options,
            vec![
                TcpOption::Mss(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps { val: 5, ecr: 6 },
                TcpOption::Nop,
                TcpOption::WindowScale(7),
                TcpOption::Unknown {
                    kind: 30,
                    data: vec![0xab]
                },
                TcpOption::Eol,
            ]
        );
    }

    #[rstest]
    #[case(&["nettool", "probe", "--data", "a", "--data-len", "3", "h"])]
    #[case(&["nettool", "probe", "--flood", "--interval", "1ms", "h"])]
    #[case(&["nettool", "probe", "-c", "0", "h"])]
    #[case(&["nettool", "probe", "--flags", "SQ", "h"])]
    #[case(&["nettool", "probe", "--ts", "x", "h"])]
    #[case(&["nettool", "scan"])]
    #[case(&["nettool", "probe"])]
    #[case(&["nettool", "scan", "--rate", "5000", "--max-rate", "9000", "h", "80"])]
    #[case(&["nettool", "scan", "--rate", "0", "h", "80"])]
    fn bad_probe_arguments_are_usage_errors(#[case] argv: &[&str]) {
        assert!(crate::cli::Cli::try_parse_from(argv).is_err());
    }

    fn parse_scan(argv: &[&str]) -> ScanArgs {
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Scan(a) => a,
            _ => unreachable!(),
        }
    }

    #[rstest]
    #[case(&[], Rate::Adaptive { min: 100, max: 100_000 })]
    #[case(&["--max-rate", "5000"], Rate::Adaptive { min: 100, max: 5000 })]
    #[case(&["--min-rate", "2000", "--max-rate", "2000"], Rate::Adaptive { min: 2000, max: 2000 })]
    #[case(&["--rate", "10000"], Rate::Fixed(10_000))]
    fn scan_rates(#[case] extra: &[&str], #[case] want: Rate) {
        let mut argv = vec!["nettool", "scan"];
        argv.extend(extra);
        argv.extend(["h", "80"]);
        assert_eq!(scan_rate(&parse_scan(&argv)).unwrap(), want);
    }

    fn totals(fixed: bool, drops: u64, cuts: u64) -> ScanTotals {
        ScanTotals {
            asked: 10,
            sent: 12,
            elapsed: Duration::from_secs(1),
            pace: PaceStats {
                rate: 2500.0,
                peak: 8000.0,
                drops,
                cuts,
            },
            fixed,
            rsts_dropped: None,
        }
    }

    #[rstest]
    #[case::clean(totals(false, 0, 0), "peak 8000/s")]
    #[case::lossy(
        totals(false, 7, 2),
        "peak 8000/s; 7 ports answered only a retry, rate cut 2 times, 2500/s at the end"
    )]
    #[case::fixed_clean(totals(true, 0, 0), "at 2500/s")]
    #[case::one_syn(ScanTotals { sent: 1, ..totals(false, 0, 0) }, "")]
    #[case::one_syn_fixed(ScanTotals { sent: 1, ..totals(true, 0, 0) }, "at 2500/s")]
    #[case::fixed_lossy(
        totals(true, 3, 0),
        "at 2500/s; 3 ports answered only a retry (SYNs or answers lost: try a lower --rate, \
         or drop --rate to adapt)"
    )]
    fn the_summary_tells_what_the_rate_did(#[case] t: ScanTotals, #[case] want: &str) {
        assert_eq!(t.rate_text(), want);
    }

    #[test]
    fn a_line_is_the_time_a_tag_column_and_the_text() {
        let p = ev::Probe {
            probe: 7,
            src: (Ipv4Addr::new(10, 0, 0, 1), 40000).into(),
            dst: (Ipv4Addr::new(10, 0, 0, 2), 80).into(),
            seq: 9,
            id: 3,
        };
        let (_, line) = sent(1.5, p);
        assert_eq!(
            line,
            "  1.500000 out   probe 7: port 40000 > 80, seq 9, id 3"
        );
    }

    #[test]
    fn the_summary_notes_only_what_happened() {
        let mut s = Summary::default();
        assert!(notes(&s, Some(0)).is_empty() && notes(&s, None).is_empty());
        s.unmatched = 2;
        s.malformed = 1;
        assert_eq!(
            notes(&s, Some(3)).join("; "),
            "2 answers matched no probe; 3 kernel RSTs dropped by the guard; 1 malformed frame"
        );
        assert_eq!(rtt_line(&s.rtt), None);
    }

    #[test]
    fn a_floor_above_the_ceiling_says_which_to_move() {
        let args = parse_scan(&[
            "nettool",
            "scan",
            "--min-rate",
            "9000",
            "--max-rate",
            "500",
            "h",
            "80",
        ]);
        let e = scan_rate(&args).unwrap_err().to_string();
        assert!(e.contains("--min-rate 9000 is above --max-rate 500"), "{e}");
    }

    #[rstest]
    #[case("10.0.0.2", None, vec![80])]
    #[case("10.0.0.2:7", None, vec![7])]
    #[case("10.0.0.2:1-3,9", None, vec![1, 2, 3, 9])]
    #[case("10.0.0.2", Some("22"), vec![22])]
    fn targets_and_ports(
        #[case] target: &str,
        #[case] dport: Option<&str>,
        #[case] want: Vec<u16>,
    ) {
        let mut argv = vec!["nettool", "probe", target];
        if let Some(d) = dport {
            argv.extend(["--dport", d]);
        }
        let args = parse(&argv);
        let got = probe_targets(&args, &mut std::io::empty(), |h| {
            super::super::resolve_host_ip(h, crate::cli::Family::Any)
        })
        .unwrap();
        let got: Vec<(IpAddr, Option<Vec<u16>>)> =
            got.into_iter().map(|t| (t.ip, t.ports)).collect();
        assert_eq!(got, [(Ipv4Addr::new(10, 0, 0, 2).into(), Some(want))]);
    }

    fn parse_scan_targets(argv: &[&str]) -> Result<(Vec<IpAddr>, Vec<u16>)> {
        let mut all = vec!["nettool", "scan"];
        all.extend(argv);
        let (found, ports) =
            scan_targets(&parse_scan(&all), &mut std::io::empty(), |h| Ok(h.parse()?))?;
        Ok((found.into_iter().map(|t| t.ip).collect(), ports))
    }

    #[rstest]
    #[case::host_and_ports(&["10.0.0.2", "80,ssh"], &["10.0.0.2"], "22,80")]
    #[case::one_host_default_ports(&["10.0.0.2"], &["10.0.0.2"], services::DEFAULT_SCAN_PORTS)]
    #[case::two_hosts_default_ports(&["10.0.0.2", "10.0.0.3"], &["10.0.0.2", "10.0.0.3"], services::DEFAULT_SCAN_PORTS)]
    #[case::two_hosts_and_ports(&["10.0.0.2", "10.0.0.3", "1-3"], &["10.0.0.2", "10.0.0.3"], "1-3")]
    #[case::a_subnet_and_ports(&["10.0.0.0/30", "http"], &["10.0.0.1", "10.0.0.2"], "80")]
    #[case::ports_by_flag(&["--ports", "7", "10.0.0.2", "10.0.0.3"], &["10.0.0.2", "10.0.0.3"], "7")]
    #[case::a_host_by_flag_ports(&["--ports", "7", "10.0.0.2"], &["10.0.0.2"], "7")]
    fn scan_operands(#[case] argv: &[&str], #[case] hosts: &[&str], #[case] ports: &str) {
        let (got_hosts, got_ports) = parse_scan_targets(argv).unwrap();
        let hosts: Vec<IpAddr> = hosts.iter().map(|h| h.parse().unwrap()).collect();
        assert_eq!(got_hosts, hosts);
        assert_eq!(format_ports(&got_ports), ports);
    }

    #[test]
    fn ports_given_twice_are_refused() {
        let err = parse_scan_targets(&["--ports", "7", "10.0.0.2", "22"]).unwrap_err();
        assert!(err.to_string().contains("give the ports once"), "{err}");
    }

    #[rstest]
    #[case::bare(&["fe80::2%veth0"], None, Ok((&["fe80::2"][..], Some("veth0"))))]
    #[case::bracketed(&["[fe80::2%veth0]:22"], None, Ok((&["[fe80::2]:22"][..], Some("veth0"))))]
    #[case::agrees_with_i(&["fe80::2%veth0"], Some("veth0"), Ok((&["fe80::2"][..], Some("veth0"))))]
    #[case::no_zone(&["fd00::2", "10.0.0.2"], None, Ok((&["fd00::2", "10.0.0.2"][..], None)))]
    #[case::differs_from_i(&["fe80::2%veth0"], Some("eth1"), Err("one run leaves by one interface"))]
    #[case::two_zones(&["fe80::2%a", "fe80::3%b"], None, Err("one run leaves by one interface"))]
    #[case::empty(&["fe80::2%"], None, Err("the zone after % is empty"))]
    fn zones_name_the_interface(
        #[case] words: &[&str],
        #[case] i: Option<&str>,
        #[case] want: Result<(&[&str], Option<&str>), &str>,
    ) {
        let mut words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        let mut iface = i.map(str::to_owned);
        match (zone_interface(&mut words, &mut iface), want) {
            (Ok(()), Ok((w, z))) => {
                assert_eq!(words, w);
                assert_eq!(iface.as_deref(), z);
            }
            (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{e}"),
            (got, want) => panic!("{got:?}, wanted {want:?}"),
        }
    }

    #[test]
    fn several_probe_targets_take_one_probe_each_unless_counted() {
        let args = parse(&["nettool", "probe", "10.0.0.2", "10.0.0.3"]);
        assert_eq!(per_target_count(&args, 2), Some(1));
        assert_eq!(per_target_count(&args, 1), None);
        let args = parse(&["nettool", "probe", "-c", "3", "10.0.0.2", "10.0.0.3"]);
        assert_eq!(per_target_count(&args, 2), Some(3));
    }
}
