//! `nettool trace HOST:PORT`: TCP traceroute (and `--udp`, `--icmp`). The
//! protocol lives in [`crate::trace`]; this file picks the route, keeps the
//! kernel out of the flow (a TCP trace's RST guard; a UDP trace's source
//! port held by a bound UDP socket; nothing for ICMP) and renders the
//! events.

use std::io::Write;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Result, bail};

use super::probe::iface_config;
use super::tcp::parse_target;
use super::{Env, Finish, Given, Way, Wiring, drive, run_connection, run_flows, run_given};
use crate::cli::TraceArgs;
use crate::clock::Clock;
use crate::driver::Stop;
use crate::link::Link;
use crate::outcome::Outcome;
use crate::report::event::{self as ev, Hop, Start};
use crate::report::{Event as Ev, Report, Reporter, Verdict, us};
use crate::setup::Flows;
use crate::stack::iface::{Event as HostEvent, HostEvent as HostWhat};
use crate::stack::raw::{Hosted, RawHost};
use crate::sys::{random_bytes, random_u64};
use crate::time::Instant;
use crate::trace::{Answer, Config, Ending, Event, Trace, TraceKind};
use crate::wire::{MacAddr, SeqNum};

pub fn run(args: TraceArgs, env: &mut Env) -> Result<Outcome> {
    let remote = target(&args)?;
    let (rep, mut way) = (Reporter::new(args.json), Way::of(&args.path));
    let body = |w: &Wiring, rep, link: &mut dyn Link, clock: &mut dyn Clock, env: &mut Env| {
        walk(&args, w, rep, link, clock, env)
    };
    match kind(&args) {
        // One source port for the whole trace: one flow-scoped guard
        // covers it.
        TraceKind::Tcp => run_connection(rep, env, "trace", remote, &way, body),
        // No TCP port, no RST guard: the source port is held by a bound
        // UDP socket (which keeps the kernel from answering a reply).
        TraceKind::Udp => {
            let flows = Flows::Datagrams { sport_inc: false };
            run_flows(rep, env, ("trace", flows), remote, &way, body)
        }
        // Nothing to hold: the identifier stands for the port (-p, or a
        // random one), and the kernel drops the replies to it silently.
        TraceKind::Icmp => {
            way.source_port = way.source_port.or(Some((random_u64() as u16).max(1)));
            run_flows(rep, env, ("trace", Flows::Queries), remote, &way, body)
        }
    }
}

/// `nettool trace` over what the caller [`Given`] (the in-memory link in
/// tests).
pub fn trace_over(args: &TraceArgs, given: Given, env: &mut Env) -> Result<Outcome> {
    let remote = target(args)?;
    let rep = Reporter::new(args.json);
    run_given(given, rep, env, remote, |w, rep, link, clock, env| {
        walk(args, w, rep, link, clock, env)
    })
}

/// Classic traceroute's first destination port.
const UDP_BASE_PORT: u16 = 33434;

/// What the probes are.
fn kind(args: &TraceArgs) -> TraceKind {
    if args.udp {
        TraceKind::Udp
    } else if args.icmp {
        TraceKind::Icmp
    } else {
        TraceKind::Tcp
    }
}

/// Whether `target` is a host alone: a name, an IPv4 address, or an
/// IPv6 address bare or in brackets (no `:PORT`).
fn host_alone(target: &str) -> bool {
    let bracketed = target.strip_prefix('[').and_then(|t| t.strip_suffix(']'));
    !target.contains(':') || bracketed.unwrap_or(target).parse::<Ipv6Addr>().is_ok()
}

/// `HOST:PORT` (of the family `-4`/`-6` ask for), once the TTLs are known
/// to make sense.
fn target(args: &TraceArgs) -> Result<SocketAddr> {
    if args.first_ttl > args.max_ttl {
        bail!(
            "--first-ttl {} is above --max-ttl {}",
            args.first_ttl,
            args.max_ttl
        );
    }
    let family = args.family.family();
    let remote = if (args.udp || args.icmp) && host_alone(&args.target) {
        let host = super::resolve_host_ip(&args.target, family)?;
        let port = if args.udp { UDP_BASE_PORT } else { 0 };
        SocketAddr::new(host, port)
    } else if args.icmp {
        bail!("ICMP has no ports: write the host alone (nettool trace --icmp HOST)");
    } else {
        parse_target(&args.target, family)?
    };
    if args.udp {
        udp_span(remote.port(), args.max_ttl, args.queries)?;
    }
    Ok(remote)
}

/// A UDP trace's n-th probe goes to PORT + n: every port it may use must
/// exist (past 65535 it would wrap to 0, 1, …, outside the ports whose
/// errors the trace is handed).
fn udp_span(port: u16, max_ttl: u8, queries: u8) -> Result<()> {
    let probes = u32::from(max_ttl) * u32::from(queries);
    let highest = 65536 - probes;
    if u32::from(port) > highest {
        bail!(
            "--udp sends up to {probes} probes, one port each from {port} up, past 65535: \
             pick a PORT at most {highest}, or fewer --max-ttl or --queries"
        );
    }
    Ok(())
}

/// A trace that has run its course, to be reported.
struct Walked {
    view: View,
    trace: RawHost<Trace>,
    interrupted: bool,
}

/// Probes hop after hop until the trace ends (or Ctrl-C), reporting as
/// it goes.
fn walk(
    args: &TraceArgs,
    wiring: &Wiring,
    rep: Reporter,
    link: &mut dyn Link,
    clock: &mut dyn Clock,
    env: &mut Env,
) -> Result<Walked> {
    let (path, (local, remote)) = (wiring.path, (wiring.local, wiring.remote));
    let start = clock.now();
    let trace = Trace::new(Config {
        mac: path.iface.mac,
        next_hop_mac: path.next_hop_mac.unwrap_or(MacAddr::zero()),
        local,
        remote,
        first_ttl: args.first_ttl,
        max_ttl: args.max_ttl,
        queries: args.queries,
        wait: args.wait,
        iss: SeqNum(u32::from_le_bytes(random_bytes::<4>())),
        mss: path.mss(),
    })
    .with_kind(kind(args));
    let mut trace = RawHost::new(iface_config(path), trace);
    let mut view = View {
        rep,
        local,
        remote,
        kind: kind(args),
        line: HopLine {
            last_from: None,
            v6: remote.is_ipv6(),
        },
    };
    header(&view, args, wiring, start, env)?;
    let stop = drive(&mut trace, link, clock, env, |out, now, ev| {
        view.event(out, now, ev)
    })?;
    if stop == Stop::Interrupted {
        view.rep.text(env.out, |w| writeln!(w))?;
    }
    Ok(Walked {
        view,
        trace,
        interrupted: stop == Stop::Interrupted,
    })
}

impl Finish for Walked {
    /// The guard's count and the result.
    fn finish(self, dropped: Option<u64>, now: Instant, env: &mut Env) -> Result<Outcome> {
        if let Some(n) = dropped
            && n > 0
        {
            // Said in JSON by the result's rsts_dropped.
            self.view.rep.text(env.out, |w| {
                writeln!(
                    w,
                    "note: the RST guard dropped {} the kernel sent for this flow",
                    crate::text::count(n, "RST")
                )
            })?;
        }
        // An interrupted trace ends as interrupted, whatever it had reached.
        let ending = if self.interrupted {
            None
        } else {
            self.trace.flow().ending()
        };
        let outcome = self.view.result(env.out, now, ending, dropped)?;
        Ok(outcome.unless_interrupted(env.interrupt))
    }
}

/// The first lines: the flow, the limits, how the kernel is kept out, the
/// next hop.
fn header(
    view: &View,
    args: &TraceArgs,
    wiring: &Wiring,
    start: Instant,
    env: &mut Env,
) -> Result<()> {
    let (local, remote) = (wiring.local, wiring.remote);
    let event = Ev::Start(Box::new(Start {
        max_ttl: Some(args.max_ttl),
        queries: Some(args.queries),
        wait_us: Some(us(args.wait)),
        ..wiring.start("trace")
    }));
    view.rep.emit(env.out, start, event, |w| {
        writeln!(
            w,
            "TRACE {remote}{} from {local} on {}, {} max, {} per hop ({})\n{}",
            match view.kind {
                TraceKind::Tcp => "",
                TraceKind::Udp => " with UDP (a port more for each probe)",
                TraceKind::Icmp => " with ICMP echo",
            },
            wiring.path.iface.name,
            crate::text::count(args.max_ttl, "hop"),
            crate::text::count(args.queries, "probe"),
            keeper(view.kind, wiring),
            wiring.next_hop_line(),
        )
    })?;
    env.out.flush()?;
    Ok(())
}

/// How the kernel is kept out of the trace's flow: TCP's RST guard, or
/// for UDP and ICMP, which need none, what does instead.
fn keeper(kind: TraceKind, wiring: &Wiring) -> String {
    match kind {
        _ if !wiring.path.owned_by_kernel => wiring.keeper(),
        TraceKind::Tcp => wiring.keeper(),
        TraceKind::Udp => {
            "source port held by a bound UDP socket: no port unreachables from the kernel".into()
        }
        TraceKind::Icmp => "the kernel drops echo replies no ping socket waits for".into(),
    }
}

/// What an ICMP (or over IPv6, ICMPv6) destination unreachable with
/// `code` says.
fn unreachable_text(v6: bool, code: u8) -> String {
    Answer::Unreachable { code }
        .describe(v6)
        .expect("an unreachable is ICMP")
}

/// The result's line for people.
fn ending_text(remote: SocketAddr, kind: TraceKind, ending: Option<Ending>) -> String {
    match ending {
        Some(Ending::Reached { ttl, .. }) if kind != TraceKind::Tcp => {
            let hops = crate::text::count(ttl, "hop");
            format!("{} reached in {hops}", remote.ip())
        }
        Some(Ending::Reached { ttl, open }) => {
            let state = if open { "open" } else { "closed" };
            let hops = crate::text::count(ttl, "hop");
            format!("{remote} reached in {hops}: port {state}")
        }
        Some(Ending::Unreachable { ttl, from, code }) => {
            let what = unreachable_text(remote.is_ipv6(), code);
            format!("{remote} is unreachable: {what} from {from} at hop {ttl}")
        }
        Some(Ending::MaxTtl) => {
            format!("{remote} did not answer within the hops tried: filtered, or further away")
        }
        None => "trace interrupted".to_owned(),
    }
}

/// What an answer says, in brackets after the address (`v6`: of a trace
/// over IPv6, whose errors are ICMPv6's).
fn answer_text(answer: Answer, v6: bool) -> Option<String> {
    match answer {
        Answer::TimeExceeded { code: 0 } => None,
        Answer::Open => Some("[open, SYN-ACK]".to_owned()),
        Answer::Closed => Some("[closed, RST]".to_owned()),
        Answer::EchoReply => Some("[echo reply]".to_owned()),
        Answer::UdpReply => Some("[open, UDP reply]".to_owned()),
        Answer::PortUnreachable => Some("[port unreachable: the destination]".to_owned()),
        other => other.describe(v6).map(|what| format!("[{what}]")),
    }
}

fn answer_name(answer: Answer) -> &'static str {
    match answer {
        Answer::TimeExceeded { .. } => "time-exceeded",
        Answer::Unreachable { .. } => "unreachable",
        Answer::Open => "open",
        Answer::Closed => "closed",
        Answer::EchoReply => "echo-reply",
        Answer::UdpReply => "udp-reply",
        Answer::PortUnreachable => "port-unreachable",
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// Renders the trace: traceroute-style for people, a hop per line written
/// as its probes settle, or as JSON lines.
struct View {
    rep: Reporter,
    local: SocketAddr,
    remote: SocketAddr,
    kind: TraceKind,
    line: HopLine,
}

/// The hop line being written for people.
#[derive(Default)]
struct HopLine {
    /// The address last printed on the current hop's line.
    last_from: Option<(IpAddr, Answer)>,
    /// The trace runs over IPv6 (its errors are ICMPv6's).
    v6: bool,
}

impl HopLine {
    fn render(&mut self, out: &mut dyn Write, ev: &Event) -> std::io::Result<()> {
        match *ev {
            Event::Sent { ttl, query: 0, .. } => {
                self.last_from = None;
                write!(out, "{ttl:>2}")?;
            }
            Event::Reply {
                from, answer, rtt, ..
            } => {
                if self.last_from.map(|(a, _)| a) != Some(from)
                    || self.last_from.map(|(_, b)| answer_name(b)) != Some(answer_name(answer))
                {
                    write!(out, "  {from}")?;
                    if let Some(text) = answer_text(answer, self.v6) {
                        write!(out, "  {text}")?;
                    }
                    self.last_from = Some((from, answer));
                }
                write!(out, "  {}", ms(rtt))?;
            }
            Event::Timeout { .. } => write!(out, "  *")?,
            Event::HopDone { .. } => writeln!(out)?,
            Event::Sent { .. } | Event::Reset { .. } | Event::Late { .. } | Event::Done(_) => {}
        }
        out.flush()
    }
}

impl View {
    /// The JSON event for a trace event, if it has one.
    fn event_of(&self, ev: &Event) -> Option<Ev> {
        let hop = |ttl, query| Hop {
            ttl,
            query,
            ip: None,
            answer: None,
            rtt_us: None,
            what: None,
            late: false,
        };
        Some(match *ev {
            Event::Reply {
                ttl,
                query,
                from,
                answer,
                rtt,
            } => Ev::Hop(Hop {
                ip: Some(from),
                answer: Some(answer_name(answer)),
                rtt_us: Some(us(rtt)),
                what: answer.describe(self.remote.is_ipv6()),
                ..hop(ttl, query)
            }),
            Event::Timeout { ttl, query } => Ev::Hop(hop(ttl, query)),
            Event::Late { ttl, query, from } => Ev::Hop(Hop {
                ip: Some(from),
                late: true,
                ..hop(ttl, query)
            }),
            Event::Reset { seq } => {
                Ev::Segment(Box::new(ev::Segment::reset(self.local, self.remote, seq.0)))
            }
            Event::Sent { .. } | Event::HopDone { .. } | Event::Done(_) => return None,
        })
    }

    fn event(&mut self, out: &mut dyn Write, now: Instant, ev: Hosted<Event>) -> Result<()> {
        let ev = match ev {
            Hosted::Flow(ev) => ev,
            Hosted::Host(ev) => return self.host_event(out, ev),
        };
        let json = self.event_of(&ev);
        let line = &mut self.line;
        match json {
            Some(e) => self.rep.emit(out, now, e, |w| line.render(w, &ev))?,
            None => self.rep.text(out, |w| line.render(w, &ev))?,
        }
        Ok(())
    }

    /// One event of the interface: an ARP request it answered for us is
    /// said in JSON (a hop line has no room for it).
    fn host_event(&mut self, out: &mut dyn Write, ev: HostEvent) -> Result<()> {
        if let HostWhat::ArpAnswered { asker, asker_mac } = ev.what {
            let e = Ev::ArpAnswered {
                ip: asker,
                mac: Some(asker_mac),
            };
            self.rep.emit(out, ev.at, e, |_| Ok(()))?;
        }
        Ok(())
    }

    /// The result: how the trace ended (`None`: interrupted).
    fn result(
        &self,
        out: &mut dyn Write,
        now: Instant,
        ending: Option<Ending>,
        rsts_dropped: Option<u64>,
    ) -> Result<Outcome> {
        let (verdict, outcome) = match ending {
            // An echo reply opens no port: the destination answered.
            Some(Ending::Reached { .. }) if self.kind == TraceKind::Icmp => {
                (Verdict::Answered, Outcome::Success)
            }
            Some(Ending::Reached { open: true, .. }) => (Verdict::Open, Outcome::Success),
            Some(Ending::Reached { open: false, .. }) => (Verdict::Closed, Outcome::Success),
            Some(Ending::Unreachable { .. }) => (Verdict::Unreachable, Outcome::Negative),
            Some(Ending::MaxTtl) => (Verdict::NoReply, Outcome::Negative),
            None => (Verdict::Interrupted, Outcome::Interrupted),
        };
        let mut report = Report {
            rsts_dropped,
            ..Report::new(verdict, outcome)
        };
        if let Some(Ending::Reached { ttl, .. } | Ending::Unreachable { ttl, .. }) = ending {
            report.hops = Some(ttl);
        }
        if let Some(Ending::Unreachable { from, code, .. }) = ending {
            report.ip = Some(from);
            report.what = Some(unreachable_text(self.remote.is_ipv6(), code));
        }
        let text = ending_text(self.remote, self.kind, ending);
        self.rep.emit(out, now, Ev::Result(Box::new(report)), |w| {
            writeln!(w, "{text}")
        })?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn args(argv: &[&str]) -> TraceArgs {
        use clap::Parser;
        let argv = ["nettool", "trace"].iter().chain(argv);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Trace(args) => args,
            _ => unreachable!(),
        }
    }

    /// A UDP trace's n-th probe goes to PORT + n: a port past 65535 would
    /// wrap to 0, 1, … where the trace's selector (PORT up to 65535) does
    /// not take the errors quoting them, and every later hop would read `*`.
    #[rstest]
    #[case(&["--udp", "--max-ttl", "30", "--queries", "3", "10.0.0.1:65500"], false)]
    #[case(&["--udp", "--max-ttl", "5", "--queries", "3", "10.0.0.1:65521"], true)]
    #[case(&["--udp", "--max-ttl", "5", "--queries", "3", "10.0.0.1:65522"], false)]
    #[case(&["--udp", "10.0.0.1"], true)]
    #[case(&["10.0.0.1:65535"], true)]
    fn a_udp_trace_port_span_stays_within_65535(#[case] argv: &[&str], #[case] ok: bool) {
        let got = target(&args(argv));
        assert_eq!(got.is_ok(), ok, "{got:?}");
        if let Err(e) = got {
            assert!(e.to_string().contains("at most"), "{e}");
        }
    }

    #[test]
    fn first_ttl_above_max_ttl_is_refused_for_every_kind() {
        for argv in [
            &["-f", "9", "-m", "3", "10.0.0.1:80"][..],
            &["--udp", "-f", "9", "-m", "3", "10.0.0.1"],
            &["--icmp", "-f", "9", "-m", "3", "10.0.0.1"],
        ] {
            let e = target(&args(argv)).unwrap_err().to_string();
            assert!(e.contains("--first-ttl 9 is above --max-ttl 3"), "{e}");
        }
    }

    #[rstest]
    #[case(Answer::TimeExceeded { code: 0 }, None)]
    #[case(Answer::Open, Some("[open, SYN-ACK]"))]
    #[case(Answer::Closed, Some("[closed, RST]"))]
    #[case(Answer::Unreachable { code: 13 }, Some("[administratively prohibited (type 3, code 13)]"))]
    fn answers_read_like_traceroute(#[case] a: Answer, #[case] want: Option<&str>) {
        assert_eq!(answer_text(a, false).as_deref(), want);
    }

    /// Over IPv6 the same answers are ICMPv6's, in RFC 4443's words: a
    /// port unreachable is code 4 there.
    #[rstest]
    #[case(Answer::TimeExceeded { code: 0 }, None)]
    #[case(Answer::Unreachable { code: 1 }, Some("[administratively prohibited (ICMPv6 type 1, code 1)]"))]
    #[case(Answer::Unreachable { code: 0 }, Some("[no route to destination (ICMPv6 type 1, code 0)]"))]
    #[case(Answer::PortUnreachable, Some("[port unreachable: the destination]"))]
    fn answers_over_ipv6_name_icmpv6(#[case] a: Answer, #[case] want: Option<&str>) {
        assert_eq!(answer_text(a, true).as_deref(), want);
        if a == (Answer::Unreachable { code: 1 }) {
            let v6 = a.describe(true).unwrap();
            assert_ne!(Some(v6), a.describe(false), "ICMPv6 is not ICMP");
        }
    }

    /// IPv6 targets: bracketed with a port, or the address alone where
    /// no port goes (--udp, --icmp); -4 refuses one.
    #[rstest]
    #[case(&["[fd00:6e74::2]:80"], Some("[fd00:6e74::2]:80"))]
    #[case(&["--udp", "fd00:6e74::2"], Some("[fd00:6e74::2]:33434"))]
    #[case(&["--udp", "[fd00:6e74::2]"], Some("[fd00:6e74::2]:33434"))]
    #[case(&["--udp", "[fd00:6e74::2]:40000"], Some("[fd00:6e74::2]:40000"))]
    #[case(&["--icmp", "fd00:6e74::2"], Some("[fd00:6e74::2]:0"))]
    #[case(&["--icmp", "[fd00:6e74::2]:80"], None)]
    #[case(&["-4", "[fd00:6e74::2]:80"], None)]
    #[case(&["-6", "10.0.0.1:80"], None)]
    #[case(&["fd00:6e74::2"], None)]
    fn ipv6_targets_are_taken(#[case] argv: &[&str], #[case] want: Option<&str>) {
        let got = target(&args(argv));
        assert_eq!(
            got.as_ref().ok().map(ToString::to_string).as_deref(),
            want,
            "{got:?}"
        );
    }

    fn render(events: Vec<Event>) -> String {
        let addr: SocketAddr = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1).into();
        let mut view = View {
            rep: Reporter::new(false),
            local: addr,
            remote: addr,
            kind: TraceKind::Tcp,
            line: HopLine {
                last_from: None,
                v6: addr.is_ipv6(),
            },
        };
        let mut out = Vec::new();
        for ev in events {
            let ev = Hosted::Flow(ev);
            view.event(&mut out, Instant::from_micros(0), ev).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    /// The result's outcome: an ICMP trace's echo reply opens no port, so
    /// it reads `answered`; a UDP trace's port unreachable is a closed port.
    #[rstest]
    #[case(TraceKind::Tcp, true, "open")]
    #[case(TraceKind::Tcp, false, "closed")]
    #[case(TraceKind::Udp, true, "open")]
    #[case(TraceKind::Udp, false, "closed")]
    #[case(TraceKind::Icmp, true, "answered")]
    fn a_reached_destination_reads_as_its_kind_says(
        #[case] kind: TraceKind,
        #[case] open: bool,
        #[case] want: &str,
    ) {
        let addr: SocketAddr = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1).into();
        let view = View {
            rep: Reporter::new(true),
            local: addr,
            remote: addr,
            kind,
            line: HopLine::default(),
        };
        let mut out = Vec::new();
        let ending = Some(Ending::Reached { ttl: 3, open });
        let outcome = view.result(&mut out, Instant::ZERO, ending, None).unwrap();
        assert_eq!(outcome, Outcome::Success);
        let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(line["outcome"], want, "{line}");
    }

    #[test]
    fn a_hop_line_names_each_new_address_once() {
        let a = Ipv4Addr::new(10, 0, 0, 1).into();
        let b = Ipv4Addr::new(10, 0, 0, 9).into();
        let te = Answer::TimeExceeded { code: 0 };
        let reply = |query, from, rtt_us| Event::Reply {
            ttl: 7,
            query,
            from,
            answer: te,
            rtt: Duration::from_micros(rtt_us),
        };
        let sent = |query| Event::Sent {
            ttl: 7,
            query,
            seq: SeqNum(0),
        };
        let text = render(vec![
            sent(0),
            reply(0, a, 123),
            sent(1),
            Event::Timeout { ttl: 7, query: 1 },
            sent(2),
            reply(2, b, 98),
            Event::HopDone { ttl: 7 },
        ]);
        assert_eq!(text, " 7  10.0.0.1  0.123 ms  *  10.0.0.9  0.098 ms\n");
    }
}
