//! `nettool probe --udp` and `probe --icmp`: the same command over
//! [`DatagramProber`], sharing the TCP probes' setup, header style,
//! driver options and summary, over IPv4 or IPv6 (ICMPv6 echo for
//! `--icmp`).

use std::io::BufRead;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Result, bail};

use super::{
    Aim, Aimed, FLOOD_BATCH, Fired, ProbeView, icmp, iface_config, payload, per_target_count,
    run_options,
};
use crate::cli::ProbeArgs;
use crate::clock::Clock;
use crate::cmd::targets::{
    Many, Runs, Target, answered_verdict, between_targets, expand_for, with_ports,
};
use crate::cmd::{Env, Given, stamped};
use crate::driver::{self, Handler, Tx};
use crate::link::Link;
use crate::outcome::Outcome;
use crate::probe::datagram::{Answer, Config, DatagramProber, Event, Kind, no_such_query_v6};
use crate::probe::format_ports;
use crate::report::event::{self as ev, Reply, Start};
use crate::report::{Event as Ev, Reporter, us};
use crate::services::Proto;
use crate::setup::{Flows, Path};
use crate::stack::raw::{Hosted, RawHost};
use crate::sys::random_u64;
use crate::time::{Instant, human};
use crate::wire::MacAddr;
use crate::wire::icmp::{ErrorKind, IcmpKind, QueryKind};
use crate::wire::icmpv6::Icmpv6Kind;
use crate::wire::udp::UdpChecksum;

/// Whether `args` asks for UDP or ICMP probes.
pub(super) fn asked(args: &ProbeArgs) -> bool {
    args.udp || args.icmp
}

pub(super) fn probe(args: &ProbeArgs, env: &mut Env) -> Result<Outcome> {
    refuse_tcp_options(args)?;
    let family = args.family.family();
    let resolve = |h: &str| crate::cmd::resolve_host_ip(h, family);
    let found = targets(args, &mut std::io::stdin().lock(), resolve)?;
    super::probe_each::<Datagrams>(args, found, env)
}

/// UDP datagrams or ICMP queries, as `probe_each` runs them.
struct Datagrams;

impl super::Kind for Datagrams {
    /// The payload, read before the privileges go (`--data-file`: no
    /// file can be opened after).
    type Ready = Vec<u8>;

    /// Refused before anything is claimed from the kernel (the source
    /// port is not known yet: any stands for it).
    fn ready(args: &ProbeArgs, path: &Path, target: Aimed) -> Result<Vec<u8>> {
        let body = payload(args)?;
        let local = SocketAddr::new(path.source, 1);
        config(args, path, local, target, body.clone())?;
        Ok(body)
    }

    fn flows(args: &ProbeArgs, _: Aimed) -> Flows {
        if args.udp {
            Flows::Datagrams {
                sport_inc: args.sport_inc,
            }
        } else {
            Flows::Queries
        }
    }

    fn fire(
        args: &ProbeArgs,
        body: Vec<u8>,
        aim: &Aim,
        target: Aimed,
        rep: Reporter,
        link: &mut dyn Link,
        clock: &mut dyn Clock,
        env: &mut Env,
    ) -> Result<Fired> {
        fire(args, body, aim, target, rep, link, clock, env)
    }
}

/// [`probe`] over what the caller [`Given`] (the in-memory link in tests):
/// every target goes out over the one link.
pub(super) fn probe_over(args: &ProbeArgs, given: Given, env: &mut Env) -> Result<Outcome> {
    refuse_tcp_options(args)?;
    let aim = Aim {
        path: given.path,
        local: given.local,
        guard: None,
        guard_ingress: None,
    };
    let family = args.family.family();
    let resolve = |h: &str| crate::cmd::resolve_host_ip(h, family);
    let found = targets(args, &mut std::io::empty(), resolve)?;
    let count = per_target_count(args, found.len());
    let mut runs = Runs::new(found.len(), 0);
    for (i, t) in found.iter().enumerate() {
        if env.interrupt.load(Ordering::Relaxed) {
            break;
        }
        let rep = Reporter::new(args.json);
        between_targets(&rep, i, env)?;
        let target = (t.ip, t.ports.as_deref().unwrap_or_default(), count);
        let body = payload(args)?;
        let fired = fire(args, body, &aim, target, rep, given.link, given.clock, env)?;
        use crate::cmd::Finish;
        let outcome = fired.finish(None, given.clock.now(), env)?;
        runs.push(outcome, answered_verdict(outcome));
    }
    runs.finish(Many::Probe, args.json, env)
}

/// TCP's options make no sense on a datagram: said, not ignored.
fn refuse_tcp_options(args: &ProbeArgs) -> Result<()> {
    let tcp_only = [
        (args.flags.is_some(), "--flags"),
        (args.syn, "-S"),
        (args.ack_flag, "-A"),
        (args.fin, "-F"),
        (args.rst, "-R"),
        (args.psh, "-P"),
        (args.urg, "-U"),
        (args.ece, "--ece"),
        (args.cwr, "--cwr"),
        (args.seq.is_some(), "--seq"),
        (args.ack != 0, "--ack"),
        (args.win != 64240, "--win"),
        (args.urg_ptr != 0, "--urg-ptr"),
        (args.mss.is_some(), "--mss"),
        (args.sack_perm, "--sack-perm"),
        (args.ts.is_some(), "--ts"),
        (args.nop > 0, "--nop"),
        (args.wscale.is_some(), "--wscale"),
        (!args.tcp_option.is_empty(), "--tcp-option"),
        (args.eol, "--eol"),
    ];
    if let Some((_, flag)) = tcp_only.iter().find(|(on, _)| *on) {
        let what = if args.udp { "--udp" } else { "--icmp" };
        bail!("{flag} sets a TCP field; {what} probes have none (leave it out)");
    }
    if args.icmp && args.sport_inc {
        bail!("--sport-inc moves a source port; ICMP has none (leave it out)");
    }
    Ok(())
}

/// The targets, as TCP probes take them (a list, a subnet, `-` for stdin,
/// `--input-list`): `HOST[:PORTS]` for UDP, the ports UDP's (`--dport`,
/// or 7, echo, where a target names none); `HOST` for ICMP. What a
/// target's family cannot carry is refused here, before anything is sent
/// (a neighbour solicitation included).
fn targets(
    args: &ProbeArgs,
    stdin: &mut dyn BufRead,
    resolve: impl Fn(&str) -> Result<IpAddr>,
) -> Result<Vec<Target>> {
    let found = datagram_targets(args, stdin, resolve)?;
    super::family_fields(args, &found)?;
    if let Some(t) = found.iter().find(|t| t.ip.is_ipv6()) {
        let query = query(args);
        if args.icmp && query != QueryKind::EchoRequest {
            bail!(no_such_query_v6(query, t.ip));
        }
        if args.udp && args.zero_checksum {
            bail!(
                "{} is an IPv6 address, and IPv6 forbids a UDP datagram without a checksum \
                 (RFC 8200 §8.1: the peer drops it): leave --zero-checksum out (--badsum sends \
                 a wrong one)",
                t.ip
            );
        }
    }
    Ok(found)
}

fn datagram_targets(
    args: &ProbeArgs,
    stdin: &mut dyn BufRead,
    resolve: impl Fn(&str) -> Result<IpAddr>,
) -> Result<Vec<Target>> {
    let words = crate::cmd::targets::gather(&args.targets, args.list.input_list.as_deref(), stdin)?;
    if args.icmp {
        let ported = |w: &String| w.rsplit_once(':').is_some_and(|(h, _)| !h.contains(':'));
        if args.dport.is_some() || words.iter().any(ported) {
            bail!("ICMP has no ports: write the host alone (nettool probe --icmp HOST)");
        }
        return expand_for(&words, None, args.list.max_targets, resolve);
    }
    let found = expand_for(&words, Some(Proto::Udp), args.list.max_targets, resolve)?;
    with_ports(found, args.dport.as_deref(), Proto::Udp, 7)
}

/// The query `--icmp-type` names (echo by default).
fn query(args: &ProbeArgs) -> QueryKind {
    args.icmp_type.unwrap_or(QueryKind::EchoRequest)
}

/// The prober's configuration; refuses what it could not send.
fn config(
    args: &ProbeArgs,
    path: &Path,
    local: SocketAddr,
    (dst, dports, count): Aimed,
    mut body: Vec<u8>,
) -> Result<Config> {
    let kind = if args.udp {
        Kind::Udp {
            sport: local.port(),
            sport_inc: args.sport_inc,
            dports: dports.to_vec(),
            checksum: if args.zero_checksum {
                UdpChecksum::Omitted
            } else if args.badsum {
                UdpChecksum::Bad
            } else {
                UdpChecksum::Computed
            },
        }
    } else {
        Kind::Icmp {
            query: query(args),
            code: args.icmp_code,
            ident: args.icmp_id.unwrap_or_else(|| random_u64() as u16),
            bad_checksum: args.badsum,
        }
    };
    if let Kind::Icmp { query, .. } = kind
        && body.len() < query.min_body()
    {
        // The timestamps or the mask the request carries, zero as RFC 792
        // leaves them for the peer to fill (an originate timestamp of 0).
        body.resize(query.min_body(), 0);
    }
    let config = Config {
        src_mac: path.iface.mac,
        dst_mac: path.next_hop_mac.unwrap_or(MacAddr::zero()),
        src: path.source,
        dst,
        kind,
        payload: body,
        ttl: args.ttl,
        tos: args.tos,
        dont_frag: args.df,
        flow_label: args.flow_label.unwrap_or(0),
        id: args.id,
        count,
        interval: args.interval,
        wait: args.wait,
        seed: random_u64(),
        flood: args.flood,
        report: !args.flood,
    };
    config.validate().map_err(anyhow::Error::msg)?;
    let (bytes, room) = (config.datagram_len(), path.iface.mtu as usize);
    if bytes > room {
        bail!(
            "the probe would be {bytes} bytes, more than {}'s MTU of {room} (probes go unfragmented: send less data)",
            path.iface.name
        );
    }
    Ok(config)
}

#[allow(clippy::too_many_arguments)]
fn fire(
    args: &ProbeArgs,
    body: Vec<u8>,
    aim: &Aim,
    (dst, dports, count): Aimed,
    rep: Reporter,
    link: &mut dyn Link,
    clock: &mut dyn Clock,
    env: &mut Env,
) -> Result<Fired> {
    let start = clock.now();
    let config = config(args, aim.path, aim.local, (dst, dports, count), body)?;
    let mut view = ProbeView {
        rep,
        verbose: args.verbose,
        start,
        src: aim.path.source,
        dst,
    };
    header(&view, args, aim, &config, dports, env)?;
    let mut host = RawHost::new(iface_config(aim.path), DatagramProber::new(start, config));
    let mut run = Run {
        view: &mut view,
        out: env.out,
        sent: 0,
    };
    let result = driver::run_with(
        &mut host,
        link,
        clock,
        env.interrupt,
        &run_options(args.flood),
        &mut run,
    );
    let answered = host.flow().summary().answered > 0;
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

/// `PROBE 10.0.0.2 UDP port 53 from 10.0.0.1 port 40000 on eth0: 28 bytes (…)`
/// or `PING 10.0.0.2 from 10.0.0.1 on eth0: ICMP echo request, id 0x1234, 28 bytes`
/// (over IPv6, `ICMP6 echo request`).
fn header(
    view: &ProbeView,
    args: &ProbeArgs,
    aim: &Aim,
    config: &Config,
    dports: &[u16],
    env: &mut Env,
) -> Result<()> {
    let (path, dst, bytes) = (aim.path, config.dst, config.datagram_len());
    let (ports, text) = match &config.kind {
        Kind::Udp { sport, .. } => {
            let kept_out = if path.owned_by_kernel {
                "source port held by a bound UDP socket: no port unreachables from the kernel"
                    .to_owned()
            } else {
                format!("{} is not the kernel's", path.source)
            };
            let sum = match (args.zero_checksum, args.badsum) {
                (true, _) => ", no checksum",
                (_, true) => ", bad checksum",
                _ => "",
            };
            (
                Some(format_ports(dports)),
                format!(
                    "PROBE {dst} UDP port {} from {} port {sport}{} on {}: {bytes} bytes{sum} ({kept_out})",
                    format_ports(dports),
                    path.source,
                    if args.sport_inc { "+" } else { "" },
                    path.iface.name,
                ),
            )
        }
        Kind::Icmp {
            query,
            code,
            ident,
            bad_checksum,
        } => (
            None,
            format!(
                "PING {dst} from {} on {}: {} {}{}, id {ident}, {bytes} bytes{}",
                path.source,
                path.iface.name,
                icmp_name(dst),
                query.name(),
                if *code != 0 {
                    format!(" code {code}")
                } else {
                    String::new()
                },
                if *bad_checksum { ", bad checksum" } else { "" },
            ),
        ),
    };
    let start = Start {
        command: "probe",
        mode: Some(if args.udp { "udp" } else { "icmp" }),
        src: Some(aim.local),
        ip: Some(dst),
        ports,
        iface: Some(path.iface.name.clone()),
        bytes: Some(bytes),
        sport_inc: args.udp.then_some(args.sport_inc),
        ..Start::default()
    };
    view.rep
        .emit(env.out, view.start, Ev::Start(Box::new(start)), |w| {
            writeln!(w, "{text}")
        })?;
    Ok(())
}

use std::io::Write;

/// The prober's side of a driver run, as the TCP prober's: renders its
/// events, stamps each probe's send time, forgets the probes a stopped
/// flood took back, stops sending on Ctrl-C.
struct Run<'a> {
    view: &'a mut ProbeView,
    out: &'a mut dyn Write,
    /// Probes among the frames sent lately (every frame the flow writes
    /// is a probe), as many as the flood's ring holds.
    sent: usize,
}

impl Handler<RawHost<DatagramProber>> for Run<'_> {
    fn event(
        &mut self,
        _: &mut RawHost<DatagramProber>,
        now: Instant,
        event: Hosted<Event>,
    ) -> Result<()> {
        match event {
            Hosted::Flow(event) => render(self.view, self.out, now, event),
            Hosted::Host(event) => self.view.host_event(self.out, event),
        }
    }

    fn transmit(
        &mut self,
        host: &mut RawHost<DatagramProber>,
        now: Instant,
        _: bool,
        buf: &mut Vec<u8>,
    ) -> Option<Tx> {
        host.poll_transmit_into(now, buf).then_some(Tx::Frame)
    }

    fn sent(&mut self, host: &mut RawHost<DatagramProber>, at: Instant) {
        host.sent(at);
        if host.last_from_flow() {
            self.sent = (self.sent + 1).min(FLOOD_BATCH * 2);
        }
    }

    fn taken_back(&mut self, host: &mut RawHost<DatagramProber>, frames: usize) {
        host.flow_mut().unsend(frames.min(self.sent) as u64);
    }

    fn interrupt(&mut self, host: &mut RawHost<DatagramProber>, _: Instant) {
        host.flow_mut().stop_sending();
    }
}

/// One event of the prober: its JSON, or its line for people.
fn render(view: &ProbeView, out: &mut dyn Write, now: Instant, event: Event) -> Result<()> {
    let t = (now - view.start).as_secs_f64();
    let (event, line) = match event {
        Event::Sent { .. } if !view.verbose => return Ok(()),
        Event::Sent {
            index,
            sport,
            dport,
            seq,
            id,
        } => {
            // IPv6 has no identification to show.
            let ip_id = if view.dst.is_ipv4() {
                format!(", ip id {id}")
            } else {
                String::new()
            };
            let text = if dport == 0 {
                format!("probe {index}: id {sport}, seq {seq}{ip_id}")
            } else {
                format!("probe {index}: port {sport} > {dport}{ip_id}")
            };
            let p = ev::Probe {
                probe: index,
                src: SocketAddr::new(view.src, sport),
                dst: SocketAddr::new(view.dst, dport),
                seq: u32::from(seq),
                id,
            };
            (Ev::Probe(p), stamped(t, "out", text))
        }
        Event::Reply {
            index,
            rtt,
            from,
            ttl,
            answer,
        } => reply(view, t, Some((index, rtt)), from, ttl, &answer),
        Event::Unmatched { from, ttl, answer } => reply(view, t, None, from, ttl, &answer),
        Event::Icmp {
            index,
            rtt,
            from,
            kind,
        } => {
            let (ev, line) = icmp(t, index, rtt, from, kind);
            // For UDP, a port unreachable from the host itself is the
            // answer "closed".
            let port_unreachable = matches!(
                kind,
                ErrorKind::V4(IcmpKind::Unreachable(3)) | ErrorKind::V6(Icmpv6Kind::Unreachable(4))
            );
            let line = if port_unreachable && from == view.dst {
                format!("{line}: port closed")
            } else {
                line
            };
            (ev, line)
        }
    };
    view.rep.emit(out, now, event, |w| writeln!(w, "{line}"))?;
    Ok(())
}

/// An answer (matched to a probe, or to none) in tcpdump's words.
fn reply(
    view: &ProbeView,
    t: f64,
    hit: Option<(u64, Duration)>,
    from: IpAddr,
    ttl: u8,
    answer: &Answer,
) -> (Ev, String) {
    let (line, meaning, src, dst, len) = match answer {
        Answer::Datagram {
            sport,
            dport,
            payload,
        } => (
            format!(
                "{from}.{sport} > {}.{dport}: UDP, length {}",
                view.src,
                payload.len()
            ),
            "port open",
            Some(SocketAddr::new(from, *sport)),
            Some(SocketAddr::new(view.src, *dport)),
            payload.len(),
        ),
        Answer::Query {
            kind,
            ident,
            seq,
            len,
            timestamps,
            mask,
        } => {
            // tcpdump's words: `ICMP echo reply`, `ICMP6, echo reply`.
            let proto = match from {
                IpAddr::V4(_) => "ICMP",
                IpAddr::V6(_) => "ICMP6,",
            };
            let mut line = format!(
                "{from} > {}: {proto} {}, id {ident}, seq {seq}, length {len}",
                view.src,
                kind.name()
            );
            if let Some([orig, recv, xmit]) = timestamps {
                line.push_str(&format!(
                    ", org {orig} recv {recv} xmit {xmit} (ms since midnight UT)"
                ));
            }
            if let Some(m) = mask {
                line.push_str(&format!(", mask {m}"));
            }
            (line, "answered", None, None, *len)
        }
    };
    let text = match hit {
        Some((index, rtt)) => format!(
            "{line}  probe {index} ttl {ttl} rtt {}: {meaning}",
            human(rtt)
        ),
        None => format!("{line}  ttl {ttl} (answers no outstanding probe)"),
    };
    let reply = Reply {
        probe: hit.map(|(i, _)| i),
        rtt_us: hit.map_or(0, |(_, r)| us(r)),
        ip: Some(from),
        src,
        dst,
        len: Some(len),
        ttl: Some(ttl),
        meaning: Some(if hit.is_some() { meaning } else { "unmatched" }.to_owned()),
        line: Some(line),
        ..Reply::default()
    };
    (Ev::Reply(Box::new(reply)), stamped(t, "in", text))
}

/// ICMP's name over `dst`'s family, as tcpdump writes it.
fn icmp_name(dst: IpAddr) -> &'static str {
    match dst {
        IpAddr::V4(_) => "ICMP",
        IpAddr::V6(_) => "ICMP6",
    }
}
