//! `nettool probe` and `nettool scan`: hand-made segments and SYN scans.
//! The protocol work is in [`crate::probe`]; this turns arguments into a
//! [`Template`] and renders what the machines report.

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::Env;
use super::tcp::unescape;
use crate::cli::{CacheArgs, ProbeArgs, ScanArgs};
use crate::clock::{Clock, SystemClock};
use crate::link::Link;
use crate::link::stamp::Stamps;
use crate::machine::Machine;
use crate::outcome::Outcome;
use crate::probe::prober::{self, Event, Prober, Summary};
use crate::probe::scan::{self, PaceStats, PortResult, PortState, Rate, Scanner};
use crate::probe::{ProbeFlags, Template, format_ports, parse_ports};
use crate::report::event::{self as ev, Reply, Start};
use crate::report::{Event as Ev, Report, Reporter, Verdict, us};
use crate::setup::{Flows, Found, LinkOptions, Path, Request, Stack};
use crate::sys::random_u64;
use crate::time::{Instant, human};
use crate::wire::MacAddr;
use crate::wire::fmt::{tcp_flags, tcp_line_absolute};
use crate::wire::tcp::{Flags, TcpOption};

/// The way to `dst`, for probes and scans; `Err(outcome)` when the next
/// hop did not answer ARP (reported already).
fn find_path(
    dst: Ipv4Addr,
    interface: Option<&str>,
    source: Option<Ipv4Addr>,
    cache: &CacheArgs,
    rep: &mut Reporter,
    command: &'static str,
    env: &mut Env,
) -> Result<std::result::Result<Path, Outcome>> {
    let cache = cache.path();
    let request = Request {
        dst,
        interface,
        source,
        cache: &cache,
        pcap: env.pcap.as_ref(),
    };
    Ok(match Path::find(request, env.err, env.interrupt)? {
        Found::Path(path) => Ok(path),
        Found::NoArp { next_hop, iface } => {
            Err(super::no_arp(rep, env, command, dst, next_hop, &iface)?)
        }
    })
}

fn template(args: &ProbeArgs, path: &Path, dst: Ipv4Addr) -> Result<Template> {
    let mut flags = args.flags.unwrap_or_default();
    for (on, f) in [
        (args.syn, Flags::SYN),
        (args.fin, Flags::FIN),
        (args.rst, Flags::RST),
        (args.psh, Flags::PSH),
        (args.urg, Flags::URG),
        (args.ece, Flags::ECE),
        (args.cwr, Flags::CWR),
    ] {
        if on {
            flags.flags = flags.flags | f;
        }
    }
    flags.ack |= args.ack_flag;
    let any_flag = args.flags.is_some()
        || [
            args.syn,
            args.fin,
            args.rst,
            args.psh,
            args.urg,
            args.ece,
            args.cwr,
            args.ack_flag,
        ]
        .contains(&true);
    if !any_flag {
        flags = ProbeFlags::SYN;
    }
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
    let payload = if let Some(d) = &args.data {
        unescape(d)?
    } else if let Some(f) = &args.data_file {
        std::fs::read(f).with_context(|| format!("reading --data-file {}", f.display()))?
    } else {
        vec![b'X'; args.data_len.unwrap_or(0)]
    };
    let t = Template {
        src_mac: path.iface.mac,
        dst_mac: path.next_hop_mac.unwrap_or(MacAddr::zero()),
        src: path.source,
        dst,
        flags,
        ack: args.ack,
        window: args.win,
        urgent: args.urg_ptr,
        options,
        payload,
        ttl: args.ttl,
        tos: args.tos,
        dont_frag: args.df,
        bad_checksum: args.badsum,
    };
    t.validate().map_err(anyhow::Error::msg)?;
    let room = path.iface.mtu as usize;
    if t.repr(1, 1, 0).buffer_len() + 20 > room {
        bail!(
            "the probe would be {} bytes, more than {}'s MTU of {room}",
            t.repr(1, 1, 0).buffer_len() + 20,
            path.iface.name
        );
    }
    Ok(t)
}

/// `HOST[:PORTS]`, with `--dport` as the alternative.
fn probe_target(args: &ProbeArgs) -> Result<(Ipv4Addr, Vec<u16>)> {
    let (host, ports) = match args.target.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (args.target.as_str(), None),
    };
    let ports = match (ports, args.dport.as_deref()) {
        (Some(_), Some(_)) => bail!("give the port either as HOST:PORT or with --dport, not both"),
        (Some(p), None) | (None, Some(p)) => parse_ports(p).map_err(anyhow::Error::msg)?,
        (None, None) => vec![80],
    };
    Ok((super::resolve_host(host)?, ports))
}

/// Whether the interrupt flag is up.
fn interrupted(env: &Env) -> bool {
    env.interrupt.load(Ordering::Relaxed)
}

pub fn probe(args: ProbeArgs, env: &mut Env) -> Result<Outcome> {
    let mut rep = Reporter::new(args.json);
    let (dst, dports) = probe_target(&args)?;
    let iface = args.interface.as_deref();
    let path = match find_path(dst, iface, args.source, &args.cache, &mut rep, "probe", env)? {
        Ok(path) => path,
        Err(outcome) => return Ok(outcome),
    };
    let tpl = template(&args, &path, dst)?;
    let (lo, hi) = (
        *dports.iter().min().expect("one port"),
        *dports.iter().max().expect("one port"),
    );
    let flows = Flows::Probes {
        remote: dst,
        dports: (lo, hi),
        sport_inc: args.sport_inc,
    };
    let opts = if args.flood {
        LinkOptions {
            offloading: true,
            // Many frames per system call.
            tx_ring: Some(FLOOD_BATCH * 2),
            receive_buffer: Some(FLOOD_RECEIVE_BUFFER),
            ..LinkOptions::default()
        }
    } else {
        LinkOptions {
            rx_timestamps: true,
            tx_timestamps: true,
            ..LinkOptions::default()
        }
    };
    let mut stack = path.open(args.sport, flows, &opts, env.pcap.as_ref(), env.err)?;
    let sport = stack.local().port();
    let mut clock = rep.clock();
    let start = clock.now();
    let config = prober::Config {
        template: tpl.clone(),
        sport,
        sport_inc: args.sport_inc,
        dports: dports.clone(),
        count: args.count,
        interval: args.interval,
        wait: args.wait,
        seq: args.seq,
        id: args.id,
        seed: random_u64(),
        flood: args.flood,
        report: !args.flood,
        reset_open: true,
    };
    let mut prober = Prober::new(start, config);
    let mut view = ProbeView {
        rep,
        verbose: args.verbose,
        start,
        src: path.source,
        dst,
    };
    probe_header(&view, &args, &path, &stack, &tpl, &dports, env)?;
    let mut buf = Vec::with_capacity(2048);
    let link = stack.link.as_mut();
    let result = if args.flood {
        flood(&mut prober, link, &mut clock, &mut buf, env)
    } else {
        paced(&mut prober, link, &mut clock, &mut buf, &mut view, env)
    };
    let outcome =
        Outcome::from_answer(prober.summary().answered > 0).unless_interrupted(env.interrupt);
    let ended = clock.now();
    result?;
    let dropped = stack.teardown().unwrap_or(0);
    view.summary(env.out, &prober.summary(), ended, dropped, outcome)?;
    Ok(outcome)
}

/// The first line: what the probes are, where they go, how the kernel is
/// kept out.
fn probe_header(
    view: &ProbeView,
    args: &ProbeArgs,
    path: &Path,
    stack: &Stack,
    tpl: &Template,
    dports: &[u16],
    env: &mut Env,
) -> Result<()> {
    let (dst, sport) = (tpl.dst, stack.local().port());
    let lo = *dports.iter().min().expect("one port");
    let repr = tpl.repr(sport, lo, 0);
    let keeper = match stack.guard_table() {
        Some(table) => format!("kernel RSTs for these flows dropped by nft table inet {table}"),
        None => format!("{} is not the kernel's", path.source),
    };
    view.rep.emit(
        env.out,
        view.start,
        Ev::Start(Box::new(Start {
            command: "probe",
            src: Some(stack.local()),
            ip: Some(dst),
            ports: Some(format_ports(dports)),
            iface: Some(path.iface.name.clone()),
            guard: stack.guard_table().map(str::to_owned),
            flags: Some(tcp_flags(&repr)),
            bytes: Some(repr.buffer_len() + 20),
            sport_inc: Some(args.sport_inc),
            ..Start::default()
        })),
        |w| {
            writeln!(
                w,
                "PROBE {dst} port {} from {} port {sport}{} on {}: Flags [{}], {} bytes{} ({keeper})",
                format_ports(dports),
                path.source,
                if args.sport_inc { "+" } else { "" },
                path.iface.name,
                tcp_flags(&repr),
                repr.buffer_len() + 20,
                if args.badsum { ", bad checksum" } else { "" },
            )
        },
    )?;
    Ok(())
}

/// How long to poll without sleeping after a probe leaves, so that the
/// answer's arrival is read at once rather than after a wake-up.
const SPIN: Duration = Duration::from_millis(2);

/// The paced loop: [`crate::driver::run`]'s shape, plus the exact moment
/// each probe left and a short busy poll for its answer.
fn paced(
    prober: &mut Prober,
    link: &mut dyn Link,
    clock: &mut SystemClock,
    buf: &mut Vec<u8>,
    view: &mut ProbeView,
    env: &mut Env,
) -> Result<()> {
    let mut spin_until = Instant::ZERO;
    let mut stamps = Stamps::default();
    loop {
        let now = clock.now();
        if prober.poll_timeout().is_some_and(|t| t <= now) {
            prober.handle_timeout(now);
        }
        while prober.poll_transmit_into(now, buf) {
            let before = clock.now();
            link.send(buf)?;
            let after = clock.now();
            prober.mark_sent(stamps.departure(link, clock, before, after));
            spin_until = after + SPIN;
        }
        while let Some(ev) = prober.poll_event() {
            view.event(env.out, now, ev)?;
        }
        if prober.is_done() {
            return Ok(());
        }
        if interrupted(env) {
            prober.stop_sending();
            return Ok(());
        }
        let wait = if now < spin_until {
            Duration::ZERO
        } else {
            prober
                .poll_timeout()
                .map_or(Duration::from_millis(200), |t| {
                    (t - now).min(Duration::from_millis(200))
                })
        };
        if let Some(rx) = link.recv(wait)? {
            let (frame, checksum) = (rx.frame.to_vec(), rx.checksum);
            let now = stamps.arrival(link, clock);
            prober.handle_frame(now, &frame, checksum);
        }
    }
}

/// Frames a flood queues in its send ring between flushes.
const FLOOD_BATCH: usize = 256;
/// A flood's receive buffer: a batch's answers arrive while the batch is
/// being sent (on veth, inside the very `send`), and are read only after.
const FLOOD_RECEIVE_BUFFER: usize = 4 << 20;

/// The flood: frames queued into the send ring in batches, each batch
/// handed to the kernel with one system call, answers drained between
/// batches; then the last probes' wait. The ring paces the flood to the
/// link (it waits while the device is slower); a signal ends the wait,
/// and the probes still queued then are taken back, never counted as sent.
fn flood(
    prober: &mut Prober,
    link: &mut dyn Link,
    clock: &mut SystemClock,
    buf: &mut Vec<u8>,
    env: &mut Env,
) -> Result<()> {
    // Which frames of the batch were probes (the rest: RSTs we owe).
    let mut batch = Vec::with_capacity(FLOOD_BATCH);
    'send: loop {
        let now = clock.now();
        batch.clear();
        for _ in 0..FLOOD_BATCH {
            if stopped(link.wait_queue_room())? {
                take_back(prober, link, &batch);
                break 'send;
            }
            if !prober.poll_transmit_into(now, buf) {
                if stopped(link.flush())? {
                    take_back(prober, link, &batch);
                }
                break 'send;
            }
            link.queue(buf)?;
            batch.push(prober.last_was_probe());
            prober.mark_sent(now);
        }
        if stopped(link.flush())? {
            take_back(prober, link, &batch);
            break;
        }
        while let Some(rx) = link.recv(Duration::ZERO)? {
            let now = clock.now();
            prober.handle_frame(now, rx.frame, rx.checksum);
        }
        prober.handle_timeout(now);
        if interrupted(env) {
            break;
        }
    }
    prober.stop_sending();
    loop {
        let now = clock.now();
        prober.handle_timeout(now);
        while prober.poll_transmit_into(now, buf) {
            if stopped(link.send(buf))? {
                return Ok(());
            }
        }
        if prober.is_done() || interrupted(env) {
            return Ok(());
        }
        let wait = prober
            .poll_timeout()
            .map_or(Duration::from_millis(200), |t| {
                (t - now).min(Duration::from_millis(200))
            });
        if let Some(rx) = link.recv(wait)? {
            let now = clock.now();
            prober.handle_frame(now, rx.frame, rx.checksum);
        }
    }
}

/// The frames still queued when a signal stopped the flood never left:
/// take them back, and the probes among them (the batch's last) are not
/// counted as sent.
fn take_back(prober: &mut Prober, link: &mut dyn Link, batch: &[bool]) {
    let n = link.discard_queued();
    let probes = batch.iter().rev().take(n).filter(|&&p| p).count();
    prober.unsend(probes as u64);
}

/// Whether a wait of the send ring was cut short by a signal (the user
/// stopping the flood), rather than failing.
fn stopped(sent: io::Result<()>) -> io::Result<bool> {
    match sent {
        Ok(()) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
        Err(e) => Err(e),
    }
}

struct ProbeView {
    rep: Reporter,
    verbose: bool,
    start: Instant,
    src: Ipv4Addr,
    dst: Ipv4Addr,
}

impl ProbeView {
    fn t(&self, now: Instant) -> f64 {
        (now - self.start).as_secs_f64()
    }

    fn event(&mut self, out: &mut dyn Write, now: Instant, event: Event) -> Result<()> {
        let t = self.t(now);
        match event {
            Event::Sent {
                index,
                sport,
                dport,
                seq,
                id,
            } => {
                if self.verbose {
                    self.rep.emit(
                        out,
                        now,
                        Ev::Probe(ev::Probe {
                            probe: index,
                            src: SocketAddrV4::new(self.src, sport),
                            dst: SocketAddrV4::new(self.dst, dport),
                            seq,
                            id,
                        }),
                        |w| {
                            writeln!(
                                w,
                                "{t:>10.6} out   probe {index}: port {sport} > {dport}, seq {seq}, id {id}"
                            )
                        },
                    )?;
                }
            }
            Event::Reply {
                index,
                rtt,
                seg,
                ttl,
                meaning,
            } => {
                let repr = seg.as_repr();
                let line = tcp_line_absolute(*seg.src.ip(), *seg.dst.ip(), &repr);
                self.rep.emit(
                    out,
                    now,
                    Ev::Reply(Box::new(
                        Reply {
                            probe: Some(index),
                            rtt_us: us(rtt),
                            ttl: Some(ttl),
                            meaning: Some(meaning.text().to_owned()),
                            line: Some(line.clone()),
                            ..Reply::default()
                        }
                        .segment(&seg),
                    )),
                    |w| {
                        writeln!(
                            w,
                            "{t:>10.6} in    {line}  probe {index} ttl {ttl} rtt {}: {}",
                            human(rtt),
                            meaning.text()
                        )
                    },
                )?;
            }
            Event::Icmp {
                index,
                rtt,
                from,
                kind,
            } => {
                self.rep.emit(
                    out,
                    now,
                    Ev::Icmp(ev::Icmp {
                        ip: from,
                        what: kind.describe(),
                        probe: index,
                        rtt_us: rtt.map(us),
                    }),
                    |w| {
                        let which = match (index, rtt) {
                            (Some(i), Some(r)) => format!("  probe {i} rtt {}", human(r)),
                            _ => "  (no outstanding probe)".to_owned(),
                        };
                        writeln!(w, "{t:>10.6} icmp  {} from {from}{which}", kind.describe())
                    },
                )?;
            }
            Event::Unmatched { seg } => {
                let repr = seg.as_repr();
                let line = tcp_line_absolute(*seg.src.ip(), *seg.dst.ip(), &repr);
                self.rep.emit(
                    out,
                    now,
                    Ev::Segment(Box::new(ev::Segment::new("in", &seg).line(line.clone()))),
                    |w| writeln!(w, "{t:>10.6} in    {line}  (answers no outstanding probe)"),
                )?;
            }
            Event::ResetSent { sport, dport, seq } => {
                self.rep.emit(
                    out,
                    now,
                    Ev::Segment(Box::new(ev::Segment::reset(
                        SocketAddrV4::new(self.src, sport),
                        SocketAddrV4::new(self.dst, dport),
                        seq,
                    ))),
                    |w| {
                        writeln!(
                            w,
                            "{t:>10.6} out   Flags [R], seq {seq}: nettool resets the half-open connection {sport} > {dport}"
                        )
                    },
                )?;
            }
        }
        Ok(())
    }

    /// The result: counts, round trips, and `--- … ---` lines for people.
    fn summary(
        &self,
        out: &mut dyn Write,
        s: &Summary,
        ended: Instant,
        guard_dropped: u64,
        outcome: Outcome,
    ) -> Result<()> {
        let elapsed = ended - self.start;
        let pps = s.sent as f64 / elapsed.as_secs_f64().max(1e-9);
        let report = Report {
            sent: Some(s.sent),
            answered: Some(s.answered),
            loss_pct: Some(s.loss_percent()),
            rtt_min_us: s.rtt.min().map(us),
            rtt_avg_us: s.rtt.avg().map(us),
            rtt_max_us: s.rtt.max().map(us),
            rtt_stddev_us: s.rtt.stddev().map(us),
            pps: Some(pps),
            unmatched: Some(s.unmatched),
            resets_sent: Some(s.resets_sent),
            malformed: Some(s.malformed),
            rsts_dropped: Some(guard_dropped),
            ..Report::new(
                if s.answered > 0 {
                    Verdict::Answered
                } else {
                    Verdict::NoReply
                },
                outcome,
            )
        };
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
        self.rep
            .emit(out, ended, Ev::Result(Box::new(report)), |out| {
                writeln!(out, "--- {} probe statistics ---", self.dst)?;
                writeln!(
                    out,
                    "{} probes sent, {} answered, {:.1}% loss, in {} ({:.0} probes/s)",
                    s.sent,
                    s.answered,
                    s.loss_percent(),
                    human(elapsed),
                    pps
                )?;
                if let (Some(min), Some(avg), Some(max), Some(sd)) = (
                    ms(s.rtt.min()),
                    ms(s.rtt.avg()),
                    ms(s.rtt.max()),
                    ms(s.rtt.stddev()),
                ) {
                    writeln!(
                        out,
                        "rtt min/avg/max/stddev = {min:.3}/{avg:.3}/{max:.3}/{sd:.3} ms"
                    )?;
                }
                let mut notes = Vec::new();
                if s.resets_sent > 0 {
                    notes.push(format!("{} half-open connection(s) reset", s.resets_sent));
                }
                if s.unmatched > 0 {
                    notes.push(format!("{} answer(s) matched no probe", s.unmatched));
                }
                if guard_dropped > 0 {
                    notes.push(format!(
                        "{guard_dropped} kernel RST(s) dropped by the guard"
                    ));
                }
                if s.malformed > 0 {
                    notes.push(format!("{} malformed frame(s)", s.malformed));
                }
                if !notes.is_empty() {
                    writeln!(out, "{}", notes.join("; "))?;
                }
                Ok(())
            })?;
        Ok(())
    }
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

pub fn scan(args: ScanArgs, env: &mut Env) -> Result<Outcome> {
    let mut rep = Reporter::new(args.json);
    let rate = scan_rate(&args)?;
    let dst = super::resolve_host(&args.host)?;
    let ports = parse_ports(&args.ports).map_err(anyhow::Error::msg)?;
    let iface = args.interface.as_deref();
    let path = match find_path(dst, iface, args.source, &args.cache, &mut rep, "scan", env)? {
        Ok(path) => path,
        Err(outcome) => return Ok(outcome),
    };
    let (lo, hi) = (
        *ports.iter().min().expect("one port"),
        *ports.iter().max().expect("one port"),
    );
    let flows = Flows::Probes {
        remote: dst,
        dports: (lo, hi),
        sport_inc: false,
    };
    let opts = LinkOptions {
        receive_buffer: Some(SCAN_RECEIVE_BUFFER),
        ..LinkOptions::default()
    };
    let mut stack = path.open(args.sport, flows, &opts, env.pcap.as_ref(), env.err)?;
    let sport = stack.local().port();
    let mut clock = rep.clock();
    let start = clock.now();
    let mut tpl = Template::syn(
        path.iface.mac,
        path.next_hop_mac.unwrap_or(MacAddr::zero()),
        path.source,
        dst,
    );
    tpl.options = vec![TcpOption::Mss(path.mss())];
    let mut scanner = Scanner::new(
        start,
        scan::Config {
            template: tpl,
            sport,
            ports: ports.clone(),
            rate,
            concurrency: usize::try_from(args.concurrency).unwrap_or(usize::MAX),
            retries: args.retries,
            timeout: args.timeout,
            min_timeout: args.min_timeout,
            seed: random_u64(),
        },
    );
    let target = (dst, ports.as_slice());
    scan_header(&rep, &args, &path, &stack, target, rate, start, env)?;
    scan_loop(&mut scanner, stack.link.as_mut(), &mut clock, env)?;
    let ended = clock.now();
    let results = scanner.results();
    let open = results.iter().any(|r| r.state == PortState::Open);
    let outcome = Outcome::from_answer(open).unless_interrupted(env.interrupt);
    let totals = ScanTotals {
        asked: ports.len(),
        sent: scanner.sent,
        elapsed: ended - start,
        pace: scanner.pace(),
        fixed: matches!(rate, Rate::Fixed(_)),
        rsts_dropped: stack.teardown(),
    };
    render_scan(env.out, &rep, ended, &args, &results, &totals, outcome)?;
    Ok(outcome)
}

/// The first line: what is scanned (`target`: the host and its ports),
/// from where, how fast.
#[allow(clippy::too_many_arguments)]
fn scan_header(
    rep: &Reporter,
    args: &ScanArgs,
    path: &Path,
    stack: &Stack,
    (dst, ports): (Ipv4Addr, &[u16]),
    rate: Rate,
    start: Instant,
    env: &mut Env,
) -> Result<()> {
    let sport = stack.local().port();
    let (min_rate, max_rate) = match rate {
        Rate::Fixed(r) => (r, r),
        Rate::Adaptive { min, max } => (min, max),
    };
    rep.emit(
        env.out,
        start,
        Ev::Start(Box::new(Start {
            command: "scan",
            src: Some(stack.local()),
            ip: Some(dst),
            ports: Some(format_ports(ports)),
            iface: Some(path.iface.name.clone()),
            guard: stack.guard_table().map(str::to_owned),
            rate: args.rate,
            min_rate: Some(min_rate),
            max_rate: Some(max_rate),
            retries: Some(args.retries),
            ..Start::default()
        })),
        |w| {
            writeln!(
                w,
                "SCAN {dst}: {} port(s) from {}:{sport} on {}, {}, {} retries",
                ports.len(),
                path.source,
                path.iface.name,
                describe_rate(rate),
                args.retries
            )
        },
    )?;
    Ok(())
}

/// The scan's loop: [`crate::driver::run`]'s shape, but answers already
/// waiting are read before timers fire, and a full send queue (`ENOBUFS`)
/// is a lost SYN, not an error.
fn scan_loop(
    scanner: &mut Scanner,
    link: &mut dyn Link,
    clock: &mut SystemClock,
    env: &Env,
) -> Result<()> {
    let mut buf = Vec::with_capacity(128);
    loop {
        let now = clock.now();
        // Read what has arrived before firing timeouts: after a late
        // wake-up, an answer waiting in the socket is no loss, and taking
        // it for one would cost a retry and slow the rate down.
        while let Some(rx) = link.recv(Duration::ZERO)? {
            scanner.handle_frame(now, rx.frame, rx.checksum);
        }
        if scanner.poll_timeout().is_some_and(|t| t <= now) {
            scanner.handle_timeout(now);
        }
        while scanner.poll_transmit_into(now, &mut buf) {
            if let Err(e) = link.send(&buf) {
                if e.raw_os_error() != Some(libc::ENOBUFS) {
                    return Err(e.into());
                }
            }
        }
        while scanner.poll_event().is_some() {}
        if scanner.is_done() || interrupted(env) {
            return Ok(());
        }
        let wait = scanner
            .poll_timeout()
            .map_or(Duration::from_millis(200), |t| {
                (t - now).min(Duration::from_millis(200))
            });
        if let Some(rx) = link.recv(wait)? {
            scanner.handle_frame(clock.now(), rx.frame, rx.checksum);
        }
    }
}

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
    /// The summary's words about the rate: what it reached, and what
    /// losses did to it (or, at a fixed rate, what to do about them).
    fn rate_text(&self) -> String {
        let p = &self.pace;
        let mut text = if self.fixed {
            format!("at {:.0}/s", p.rate)
        } else {
            format!("peak {:.0}/s", p.peak)
        };
        if p.drops > 0 {
            text += &format!("; {} port(s) answered only a retry", p.drops);
            if self.fixed {
                text += " (SYNs or answers lost: try a lower --rate, or drop --rate to adapt)";
            } else {
                text += &format!(", rate cut {} time(s), {:.0}/s at the end", p.cuts, p.rate);
            }
        }
        text
    }
}

fn render_scan(
    out: &mut dyn Write,
    rep: &Reporter,
    now: Instant,
    args: &ScanArgs,
    results: &[PortResult],
    totals: &ScanTotals,
    outcome: Outcome,
) -> Result<()> {
    let ScanTotals {
        asked,
        sent,
        elapsed,
        ..
    } = *totals;
    let count = |st| results.iter().filter(|r| r.state == st).count();
    let (open, closed, filtered) = (
        count(PortState::Open),
        count(PortState::Closed),
        count(PortState::Filtered),
    );
    if rep.json() {
        for r in results {
            rep.emit(
                out,
                now,
                Ev::Port(ev::Port {
                    port: r.port,
                    outcome: r.state.name(),
                    reason: r.why.text().to_owned(),
                    tries: r.tries,
                    rtt_us: r.rtt.map(us),
                }),
                |_| Ok(()),
            )?;
        }
        let verdict = if open > 0 {
            Verdict::Open
        } else if closed > 0 {
            Verdict::Closed
        } else if filtered > 0 {
            Verdict::Filtered
        } else {
            Verdict::NoReply
        };
        let report = Report {
            ports: Some(asked),
            scanned: Some(results.len()),
            open: Some(open),
            closed: Some(closed),
            filtered: Some(filtered),
            sent: Some(sent),
            rate_peak: Some(totals.pace.peak.round()),
            rate_final: Some(totals.pace.rate.round()),
            drops: Some(totals.pace.drops),
            rate_cuts: Some(totals.pace.cuts),
            rsts_dropped: totals.rsts_dropped,
            ..Report::new(verdict, outcome)
        };
        rep.emit(out, now, Ev::Result(Box::new(report)), |_| Ok(()))?;
        return Ok(());
    }
    // Many ports: the most common state is summed up in one line, as nmap does.
    let hidden = if args.all || results.len() <= 25 {
        None
    } else {
        [PortState::Closed, PortState::Filtered, PortState::Open]
            .into_iter()
            .max_by_key(|&st| count(st))
    };
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
    if let Some(st) = hidden {
        writeln!(out, "Not shown: {} {} ports", count(st), st.name())?;
    }
    writeln!(
        out,
        "--- {} of {asked} ports in {}: {open} open, {closed} closed, {filtered} filtered; {sent} SYNs sent, {}",
        results.len(),
        human(elapsed),
        totals.rate_text()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use rstest::rstest;

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
            source: Ipv4Addr::new(10, 0, 0, 1),
            owned_by_kernel: true,
            next_hop: Ipv4Addr::new(10, 0, 0, 2),
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
        let t = template(&args, &path, Ipv4Addr::new(10, 0, 0, 2)).unwrap();
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
        let t = template(&args, &path, Ipv4Addr::new(10, 0, 0, 2)).unwrap();
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
    #[case(&["nettool", "probe", "--flood", "-i", "1ms", "h"])]
    #[case(&["nettool", "probe", "-c", "0", "h"])]
    #[case(&["nettool", "probe", "--flags", "SQ", "h"])]
    #[case(&["nettool", "probe", "--ts", "x", "h"])]
    #[case(&["nettool", "scan", "h"])]
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
        "peak 8000/s; 7 port(s) answered only a retry, rate cut 2 time(s), 2500/s at the end"
    )]
    #[case::fixed_clean(totals(true, 0, 0), "at 2500/s")]
    #[case::fixed_lossy(
        totals(true, 3, 0),
        "at 2500/s; 3 port(s) answered only a retry (SYNs or answers lost: try a lower --rate, \
         or drop --rate to adapt)"
    )]
    fn the_summary_tells_what_the_rate_did(#[case] t: ScanTotals, #[case] want: &str) {
        assert_eq!(t.rate_text(), want);
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
        assert_eq!(
            probe_target(&args).unwrap(),
            (Ipv4Addr::new(10, 0, 0, 2), want)
        );
    }
}
