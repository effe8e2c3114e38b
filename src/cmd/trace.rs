//! `nettool trace HOST:PORT`: TCP traceroute. The protocol lives in
//! [`crate::trace`]; this file picks the route, keeps the kernel out of the
//! flow and renders the events.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use anyhow::{Result, bail};

use super::Env;
use super::tcp::{next_hop_mac, parse_target};
use crate::cli::TraceArgs;
use crate::clock::Clock;
use crate::driver::{self, Stop};
use crate::guard::{Flow, RstGuard};
use crate::link::Filter;
use crate::link::packet::PacketLink;
use crate::outcome::Outcome;
use crate::report::event::{self as ev, Hop, Start};
use crate::report::{Event as Ev, Report, Reporter, Verdict, us};
use crate::route::{self, RouteError};
use crate::sys::{random_bytes, reserve_port};
use crate::time::Instant;
use crate::trace::{Answer, Config, Ending, Event, Trace};
use crate::wire::icmp::IcmpKind;
use crate::wire::{MacAddr, SeqNum};

pub fn run(args: TraceArgs, env: &mut Env) -> Result<Outcome> {
    let mut rep = Reporter::new(args.json);
    let (dst, dport) = parse_target(&args.target)?;
    if args.first_ttl > args.max_ttl {
        bail!(
            "--first-ttl {} is above --max-ttl {}",
            args.first_ttl,
            args.max_ttl
        );
    }
    let route = match route::select(dst, args.interface.as_deref(), args.source) {
        Err(RouteError::LocalDestination { .. }) => bail!(
            "{dst} is this host's own address: there is no path to trace (try a host in a \
             network namespace: `nettool lab up`)"
        ),
        other => other?,
    };
    let iface = route.interface.clone();
    if iface.is_loopback || iface.mac == MacAddr::zero() {
        bail!(
            "{} has no Ethernet address; nettool's TCP runs over Ethernet-like interfaces",
            iface.name
        );
    }
    let Some((gw_mac, how)) = next_hop_mac(&route, &args.cache.path(), env)? else {
        return super::no_arp(&mut rep, env, "trace", dst, &route);
    };
    let (sport, _reservation) =
        reserve_port(route.source, route.source_owned_by_kernel, args.source_port)?;
    let local = SocketAddrV4::new(route.source, sport);
    let remote = SocketAddrV4::new(dst, dport);
    // One source port for the whole trace: one flow-scoped guard covers it.
    let guard = if route.source_owned_by_kernel {
        Some(RstGuard::install(Flow::Connection { local, remote })?)
    } else {
        None
    };
    let mut link = env.capture(PacketLink::open(iface.index, Filter::ArpIpv4)?)?;
    let mut clock = rep.clock();
    let start = clock.now();
    let mut trace = Trace::new(Config {
        mac: iface.mac,
        next_hop_mac: gw_mac,
        local,
        remote,
        first_ttl: args.first_ttl,
        max_ttl: args.max_ttl,
        queries: args.queries,
        wait: args.wait,
        iss: SeqNum(u32::from_le_bytes(random_bytes::<4>())),
        mss: u16::try_from(iface.mtu.saturating_sub(40))
            .unwrap_or(u16::MAX)
            .max(536),
        answer_arp: !route.source_owned_by_kernel,
    });
    let keeper = match &guard {
        Some(g) => format!(
            "kernel RSTs for this flow dropped by nft table inet {}",
            g.table()
        ),
        None => format!(
            "{} is not the kernel's: nettool answers ARP for it",
            route.source
        ),
    };
    let mut view = View {
        rep,
        local,
        remote,
        line: HopLine::default(),
    };
    view.rep.emit(
        env.out,
        start,
        Ev::Start(Box::new(Start {
            command: "trace",
            src: Some(local),
            dst: Some(remote),
            iface: Some(iface.name.clone()),
            next_hop: Some(route.next_hop),
            next_hop_mac: Some(gw_mac),
            guard: guard.as_ref().map(|g| g.table().to_owned()),
            max_ttl: Some(args.max_ttl),
            queries: Some(args.queries),
            wait_us: Some(us(args.wait)),
            ..Start::default()
        })),
        |w| {
            writeln!(
                w,
                "TRACE {remote} from {local} on {}, {} hops max, {} probe{} per hop ({keeper})\n\
                 next hop {} is-at {gw_mac} ({how})",
                iface.name,
                args.max_ttl,
                args.queries,
                if args.queries == 1 { "" } else { "s" },
                route.next_hop,
            )
        },
    )?;
    env.out.flush()?;
    let stop = {
        let out = &mut *env.out;
        let view = &mut view;
        driver::run(
            &mut trace,
            &mut link,
            &mut clock,
            env.interrupt,
            |now, ev| view.event(out, now, ev),
        )?
    };
    if stop == Stop::Interrupted {
        view.rep.text(env.out, |w| writeln!(w))?;
    }
    let dropped = guard.as_ref().and_then(|g| g.dropped().ok());
    if let Some(n) = dropped
        && n > 0
    {
        // Said in JSON by the result's rsts_dropped.
        view.rep.text(env.out, |w| {
            writeln!(
                w,
                "note: the RST guard dropped {n} RST(s) the kernel sent for this flow"
            )
        })?;
    }
    // An interrupted trace ends as interrupted, whatever it had reached.
    let ending = if stop == Stop::Interrupted {
        None
    } else {
        trace.ending()
    };
    let outcome = view.result(env.out, clock.now(), ending, dropped)?;
    let removal = guard.map(RstGuard::begin_removal);
    drop(link);
    if let Some(r) = removal {
        r.wait();
    }
    Ok(outcome)
}

/// What an answer says, in brackets after the address.
fn answer_text(answer: Answer) -> Option<String> {
    match answer {
        Answer::TimeExceeded { code: 0 } => None,
        Answer::Open => Some("[open, SYN-ACK]".to_owned()),
        Answer::Closed => Some("[closed, RST]".to_owned()),
        other => other.icmp_kind().map(|k| format!("[{}]", k.describe())),
    }
}

fn answer_name(answer: Answer) -> &'static str {
    match answer {
        Answer::TimeExceeded { .. } => "time-exceeded",
        Answer::Unreachable { .. } => "unreachable",
        Answer::Open => "open",
        Answer::Closed => "closed",
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// Renders the trace: traceroute-style for people, a hop per line written
/// as its probes settle, or as JSON lines.
struct View {
    rep: Reporter,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    line: HopLine,
}

/// The hop line being written for people.
#[derive(Default)]
struct HopLine {
    /// The address last printed on the current hop's line.
    last_from: Option<(Ipv4Addr, Answer)>,
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
                    if let Some(text) = answer_text(answer) {
                        write!(out, "  {text}")?;
                    }
                    self.last_from = Some((from, answer));
                }
                write!(out, "  {}", ms(rtt))?;
            }
            Event::Timeout { .. } => write!(out, "  *")?,
            Event::HopDone { .. } => writeln!(out)?,
            Event::Sent { .. }
            | Event::Reset { .. }
            | Event::Late { .. }
            | Event::ArpAnswered { .. }
            | Event::Done(_) => {}
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
                what: answer.icmp_kind().map(IcmpKind::describe),
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
            Event::ArpAnswered { asker } => Ev::ArpAnswered {
                ip: asker,
                mac: None,
            },
            Event::Sent { .. } | Event::HopDone { .. } | Event::Done(_) => return None,
        })
    }

    fn event(&mut self, out: &mut dyn Write, now: Instant, ev: Event) -> Result<()> {
        let json = self.event_of(&ev);
        let line = &mut self.line;
        match json {
            Some(e) => self.rep.emit(out, now, e, |w| line.render(w, &ev))?,
            None => self.rep.text(out, |w| line.render(w, &ev))?,
        }
        Ok(())
    }

    fn result(
        &self,
        out: &mut dyn Write,
        now: Instant,
        ending: Option<Ending>,
        rsts_dropped: Option<u64>,
    ) -> Result<Outcome> {
        let remote = self.remote;
        let (text, report, outcome) = match ending {
            Some(Ending::Reached { ttl, open }) => {
                let state = if open { "open" } else { "closed" };
                (
                    format!(
                        "{remote} reached in {ttl} hop{}: port {state}",
                        if ttl == 1 { "" } else { "s" }
                    ),
                    Report {
                        hops: Some(ttl),
                        ..Report::new(
                            if open { Verdict::Open } else { Verdict::Closed },
                            Outcome::Success,
                        )
                    },
                    Outcome::Success,
                )
            }
            Some(Ending::Unreachable { ttl, from, code }) => {
                let what = IcmpKind::Unreachable(code).describe();
                (
                    format!("{remote} is unreachable: {what} from {from} at hop {ttl}"),
                    Report {
                        hops: Some(ttl),
                        ip: Some(from),
                        what: Some(what),
                        ..Report::new(Verdict::Unreachable, Outcome::Negative)
                    },
                    Outcome::Negative,
                )
            }
            Some(Ending::MaxTtl) => (
                format!("{remote} did not answer within the hops tried: filtered, or further away"),
                Report::new(Verdict::NoReply, Outcome::Negative),
                Outcome::Negative,
            ),
            None => (
                "trace interrupted".to_owned(),
                Report::new(Verdict::Interrupted, Outcome::Interrupted),
                Outcome::Interrupted,
            ),
        };
        let report = Report {
            rsts_dropped,
            ..report
        };
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

    #[rstest]
    #[case(Answer::TimeExceeded { code: 0 }, None)]
    #[case(Answer::Open, Some("[open, SYN-ACK]"))]
    #[case(Answer::Closed, Some("[closed, RST]"))]
    #[case(Answer::Unreachable { code: 13 }, Some("[administratively prohibited (type 3, code 13)]"))]
    fn answers_read_like_traceroute(#[case] a: Answer, #[case] want: Option<&str>) {
        assert_eq!(answer_text(a).as_deref(), want);
    }

    fn render(events: Vec<Event>) -> String {
        let addr = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1);
        let mut view = View {
            rep: Reporter::new(false),
            local: addr,
            remote: addr,
            line: HopLine::default(),
        };
        let mut out = Vec::new();
        for ev in events {
            view.event(&mut out, Instant::from_micros(0), ev).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_hop_line_names_each_new_address_once() {
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let b = Ipv4Addr::new(10, 0, 0, 9);
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
