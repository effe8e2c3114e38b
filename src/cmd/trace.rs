//! `nettool trace HOST:PORT`: TCP traceroute. The protocol lives in
//! [`crate::trace`]; this file picks the route, keeps the kernel out of the
//! flow and renders the events.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::json;

use super::Env;
use super::tcp::parse_target;
use crate::cli::TraceArgs;
use crate::clock::{Clock, SystemClock};
use crate::driver::{self, Stop};
use crate::outcome::Outcome;
use crate::setup::{Flows, Found, LinkOptions, Path, Request, Stack};
use crate::sys::random_bytes;
use crate::time::Instant;
use crate::trace::{Answer, Config, Ending, Event, Trace};
use crate::wire::icmp::IcmpKind;
use crate::wire::{MacAddr, SeqNum};

pub fn run(args: TraceArgs, env: &mut Env) -> Result<Outcome> {
    let (dst, dport) = parse_target(&args.target)?;
    if args.first_ttl > args.max_ttl {
        bail!(
            "--first-ttl {} is above --max-ttl {}",
            args.first_ttl,
            args.max_ttl
        );
    }
    let cache = args.cache.path();
    let request = Request {
        dst,
        interface: args.interface.as_deref(),
        source: args.source,
        cache: &cache,
    };
    let path = match Path::find(request, env.err, env.interrupt)? {
        Found::Path(path) => path,
        Found::NoArp { next_hop, iface } => return super::no_arp(args.json, next_hop, &iface, env),
    };
    let remote = SocketAddrV4::new(dst, dport);
    // One source port for the whole trace: one flow-scoped guard covers it.
    let flows = Flows::Connection { remote };
    let mut stack = path.open(args.source_port, flows, &LinkOptions::default(), env.err)?;
    let local = stack.local();
    let mut clock = SystemClock::new();
    let start = clock.now();
    let mut trace = Trace::new(Config {
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
        answer_arp: !path.owned_by_kernel,
    });
    let mut view = View {
        json: args.json,
        start,
        last_from: None,
    };
    header(&args, &path, &stack, remote, env)?;
    let stop = {
        let out = &mut *env.out;
        let view = &mut view;
        driver::run(
            &mut trace,
            &mut stack.link,
            &mut clock,
            env.interrupt,
            |now, ev| view.event(out, now, ev),
        )?
    };
    if stop == Stop::Interrupted && !args.json {
        writeln!(env.out)?;
    }
    let dropped = stack.teardown();
    if dropped > 0 {
        let text = format!("the RST guard dropped {dropped} RST(s) the kernel sent for this flow");
        if args.json {
            writeln!(
                env.out,
                "{}",
                json!({"event": "note", "text": text, "guard_dropped": dropped})
            )?;
        } else {
            writeln!(env.out, "note: {text}")?;
        }
    }
    let outcome = view.result(env.out, trace.ending(), remote)?;
    Ok(outcome.unless_interrupted(env.interrupt))
}

/// The first lines: the flow, the limits, how the kernel is kept out, the
/// next hop.
fn header(
    args: &TraceArgs,
    path: &Path,
    stack: &Stack,
    remote: SocketAddrV4,
    env: &mut Env,
) -> Result<()> {
    let (local, iface) = (stack.local(), &path.iface);
    let gw_mac = path.next_hop_mac.unwrap_or(MacAddr::zero());
    let keeper = match stack.guard_table() {
        Some(table) => format!("kernel RSTs for this flow dropped by nft table inet {table}"),
        None => format!(
            "{} is not the kernel's: nettool answers ARP for it",
            path.source
        ),
    };
    if args.json {
        writeln!(
            env.out,
            "{}",
            json!({"event": "start", "command": "trace", "remote": remote.to_string(),
                   "local": local.to_string(), "iface": iface.name, "next_hop": path.next_hop.to_string(),
                   "next_hop_mac": gw_mac.to_string(), "max_ttl": args.max_ttl, "queries": args.queries,
                   "wait_ms": args.wait.as_secs_f64() * 1e3,
                   "guard": stack.guard_table()})
        )?;
    } else {
        writeln!(
            env.out,
            "TRACE {remote} from {local} on {}, {} hops max, {} probe{} per hop ({keeper})\n\
             next hop {} is-at {gw_mac} ({})",
            iface.name,
            args.max_ttl,
            args.queries,
            if args.queries == 1 { "" } else { "s" },
            path.next_hop,
            path.how,
        )?;
    }
    env.out.flush()?;
    Ok(())
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

/// Renders the trace traceroute-style, a hop per line written as its
/// probes settle, or as JSON lines.
struct View {
    json: bool,
    start: Instant,
    /// The address last printed on the current hop's line.
    last_from: Option<(Ipv4Addr, Answer)>,
}

impl View {
    fn t(&self, now: Instant) -> f64 {
        (now - self.start).as_secs_f64()
    }

    fn event(&mut self, out: &mut dyn Write, now: Instant, ev: Event) -> Result<()> {
        if self.json {
            let value = match ev {
                Event::Reply {
                    ttl,
                    query,
                    from,
                    answer,
                    rtt,
                } => json!({"event": "probe", "ttl": ttl, "query": query, "from": from.to_string(),
                        "answer": answer_name(answer), "rtt_ms": rtt.as_micros() as f64 / 1e3,
                        "what": answer.icmp_kind().map(IcmpKind::describe)}),
                Event::Timeout { ttl, query } => {
                    json!({"event": "probe", "ttl": ttl, "query": query, "from": null, "answer": null})
                }
                Event::Late { ttl, query, from } => {
                    json!({"event": "late", "ttl": ttl, "query": query, "from": from.to_string()})
                }
                Event::Reset { seq } => json!({"event": "reset", "seq": seq.0}),
                Event::ArpAnswered { asker } => {
                    json!({"event": "arp-answered", "asker": asker.to_string()})
                }
                Event::Sent { .. } | Event::HopDone { .. } | Event::Done(_) => return Ok(()),
            };
            let mut v = value;
            v["t"] = json!(self.t(now));
            writeln!(out, "{v}")?;
            return Ok(());
        }
        match ev {
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
        out.flush()?;
        Ok(())
    }

    fn result(
        &self,
        out: &mut dyn Write,
        ending: Option<Ending>,
        remote: SocketAddrV4,
    ) -> Result<Outcome> {
        let (text, value, outcome) = match ending {
            Some(Ending::Reached { ttl, open }) => {
                let state = if open { "open" } else { "closed" };
                (
                    format!(
                        "{remote} reached in {ttl} hop{}: port {state}",
                        if ttl == 1 { "" } else { "s" }
                    ),
                    json!({"event": "result", "outcome": state, "hops": ttl}),
                    Outcome::Success,
                )
            }
            Some(Ending::Unreachable { ttl, from, code }) => {
                let what = IcmpKind::Unreachable(code).describe();
                (
                    format!("{remote} is unreachable: {what} from {from} at hop {ttl}"),
                    json!({"event": "result", "outcome": "unreachable", "hops": ttl,
                           "from": from.to_string(), "what": what}),
                    Outcome::Negative,
                )
            }
            Some(Ending::MaxTtl) => (
                format!("{remote} did not answer within the hops tried: filtered, or further away"),
                json!({"event": "result", "outcome": "no-answer"}),
                Outcome::Negative,
            ),
            None => (
                "trace interrupted".to_owned(),
                json!({"event": "result", "outcome": "interrupted"}),
                Outcome::Interrupted,
            ),
        };
        if self.json {
            writeln!(out, "{value}")?;
        } else {
            writeln!(out, "{text}")?;
        }
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
        let mut view = View {
            json: false,
            start: Instant::from_micros(0),
            last_from: None,
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
