//! `nettool handshake` and `nettool close`: one connection, every segment
//! and state printed.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{Env, Finish, Given, Way, Wiring, run_connection, run_given};
use crate::cli::{CloseArgs, ConnectArgs, Family, HandshakeArgs};
use crate::clock::Clock;
use crate::driver::{self, Stop};
use crate::link::Link;
use crate::outcome::Outcome;
use crate::picture::conn::Relative;
use crate::picture::record::{Retransmits, sender_of};
use crate::picture::{Ends, Exchange, Item, Seg, Style, ladder};
use crate::report::event as rev;
use crate::report::{Event as Ev, Report, Reporter, Verdict, us};
use crate::stack::host::{Direction, HostConfig, HostEvent, TcpHost};
use crate::stack::session::{End, Event, Note, Opening, Plan, Session, ThirdAck};
use crate::sys::random_bytes;
use crate::tcp::{
    self, Connection, DropReason, Event as TcpEvent, IsnGenerator, Reason, Segment, State,
};
use crate::time::{Instant, human};
use crate::wire::fmt::{RelativeSeqs, tcp_line_absolute};
use crate::wire::tcp::Flags;

/// TIME-WAIT of `nettool handshake --graceful`, which is about the opening.
const HANDSHAKE_TIME_WAIT: Duration = Duration::from_secs(2);

/// Which command is running.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Command {
    Handshake,
    Close,
}

impl Command {
    fn name(self) -> &'static str {
        match self {
            Command::Handshake => "handshake",
            Command::Close => "close",
        }
    }
}

/// How the run ended, for the result.
struct Ending {
    command: Command,
    end: End,
    time_wait: Duration,
    /// Kernel RSTs the guard dropped, when there is a guard.
    rsts_dropped: Option<u64>,
    interrupted: bool,
}

/// What one run of `handshake` or `close` does, from its arguments.
struct Run<'a> {
    command: Command,
    args: &'a ConnectArgs,
    third_ack: ThirdAck,
    end: End,
    time_wait: Duration,
    /// `--data`, unescaped.
    payload: Option<Vec<u8>>,
}

impl<'a> Run<'a> {
    fn handshake(args: &'a HandshakeArgs) -> Result<Run<'a>> {
        let third_ack = if args.no_ack {
            ThirdAck::Withhold {
                observe: args.observe,
            }
        } else if let Some(delay) = args.ack_delay {
            ThirdAck::Late { delay }
        } else {
            ThirdAck::Send
        };
        let end = if args.graceful {
            End::Close
        } else {
            End::Reset
        };
        Ok(Run {
            command: Command::Handshake,
            args: &args.connect,
            third_ack,
            end,
            time_wait: HANDSHAKE_TIME_WAIT,
            payload: payload(&args.connect)?,
        })
    }

    fn close(args: &'a CloseArgs) -> Result<Run<'a>> {
        let end = if args.abort {
            End::Reset
        } else if args.passive {
            End::PassiveClose
        } else if args.half_close {
            End::HalfClose
        } else {
            End::Close
        };
        Ok(Run {
            command: Command::Close,
            args: &args.connect,
            third_ack: ThirdAck::Send,
            end,
            time_wait: args.time_wait,
            payload: payload(&args.connect)?,
        })
    }
}

fn payload(args: &ConnectArgs) -> Result<Option<Vec<u8>>> {
    args.data.as_deref().map(unescape).transpose()
}

pub fn handshake(args: HandshakeArgs, env: &mut Env) -> Result<Outcome> {
    run(Run::handshake(&args)?, env)
}

pub fn close(args: CloseArgs, env: &mut Env) -> Result<Outcome> {
    run(Run::close(&args)?, env)
}

/// `nettool handshake` over what the caller [`Given`] (the in-memory
/// link in tests).
pub fn handshake_over(args: &HandshakeArgs, given: Given, env: &mut Env) -> Result<Outcome> {
    let run = Run::handshake(args)?;
    let remote = parse_target(&run.args.target, run.args.family.family())?;
    let rep = Reporter::new(run.args.json);
    run_given(given, rep, env, remote, |w, rep, link, clock, env| {
        converse(&run, w, rep, link, clock, env)
    })
}

/// `nettool close` over what the caller [`Given`] (the in-memory link in
/// tests).
pub fn close_over(args: &CloseArgs, given: Given, env: &mut Env) -> Result<Outcome> {
    let run = Run::close(args)?;
    let remote = parse_target(&run.args.target, run.args.family.family())?;
    let rep = Reporter::new(run.args.json);
    run_given(given, rep, env, remote, |w, rep, link, clock, env| {
        converse(&run, w, rep, link, clock, env)
    })
}

/// `HOST:PORT` (`[IPV6]:PORT` for an IPv6 address) as the socket address
/// it names, a host name resolved to `family` (`-4`, `-6`) or to the
/// system resolver's first address.
pub fn parse_target(text: &str, family: Family) -> Result<SocketAddr> {
    if text.parse::<std::net::Ipv6Addr>().is_ok() {
        bail!("{text} is an IPv6 address without a port: write [{text}]:PORT, e.g. [{text}]:80");
    }
    let needs_port = || {
        format!("{text:?} needs a port: write HOST:PORT, e.g. 10.78.0.2:80 or [fd00:6e74::2]:80")
    };
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let (inside, port) = rest.split_once("]:").with_context(needs_port)?;
            (inside, port)
        }
        None => text.rsplit_once(':').with_context(needs_port)?,
    };
    if host.contains(':') && !text.starts_with('[') {
        bail!(
            "{text:?}: an IPv6 address and a port are written [ADDRESS]:PORT, e.g. [fd00:6e74::2]:80"
        );
    }
    let port = crate::services::parse_port(port, crate::services::Proto::Tcp)
        .map_err(anyhow::Error::msg)?;
    Ok(SocketAddr::new(super::resolve_host_ip(host, family)?, port))
}

/// [`parse_target`] for a command that speaks IPv4 only.
pub fn parse_target_v4(text: &str) -> Result<std::net::SocketAddrV4> {
    match parse_target(text, Family::V4)? {
        SocketAddr::V4(a) => Ok(a),
        SocketAddr::V6(a) => bail!("{a} is an IPv6 address: this command speaks IPv4 only so far"),
    }
}

/// Turns `\r`, `\n`, `\t`, `\\`, `\0` and `\xHH` into bytes, as `printf` does.
pub fn unescape(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'0') => out.push(0),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex: String = [bytes.next(), bytes.next()]
                    .iter()
                    .flatten()
                    .map(|&b| b as char)
                    .collect();
                let v = u8::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 2)
                    .with_context(|| format!("\\x needs two hex digits in {text:?}"))?;
                out.push(v);
            }
            Some(other) => bail!(
                "unknown escape \\{} in {text:?} (use \\r \\n \\t \\0 \\\\ \\xHH)",
                other as char
            ),
            None => bail!("{text:?} ends with a lone backslash"),
        }
    }
    Ok(out)
}

fn run(run: Run, env: &mut Env) -> Result<Outcome> {
    let args = run.args;
    let remote = parse_target(&args.target, args.family.family())?;
    let (rep, way) = (Reporter::new(args.json), Way::of(&args.path));
    let command = run.command.name();
    run_connection(
        rep,
        env,
        command,
        remote,
        &way,
        |w, rep, link, clock, env| converse(&run, w, rep, link, clock, env),
    )
}

/// A connection that has run its course, to be reported.
struct Talk {
    session: Session,
    view: View,
    remote: SocketAddr,
    command: Command,
    end: End,
    time_wait: Duration,
    interrupted: bool,
}

/// Opens the connection, runs it to its end (or to Ctrl-C, then resets
/// it), reporting as it goes.
fn converse(
    run: &Run,
    wiring: &Wiring,
    rep: Reporter,
    link: &mut dyn Link,
    clock: &mut dyn Clock,
    env: &mut Env,
) -> Result<Talk> {
    let args = run.args;
    let start = clock.now();
    let host = connection(wiring, args, run.time_wait, start);
    let plan = Plan {
        third_ack: run.third_ack,
        payload: run.payload.clone(),
        end: run.end,
        linger: args.linger,
    };
    let mut session = Session::new(host, plan);
    let mut view = View::new(rep, args, start);
    if args.ladder.ladder && view.rep.human() {
        view.ladder = Some(LadderLog::new(wiring, Style::from_env(args.ladder.ascii)));
    }
    header(&view, run.command, wiring, start, env)?;
    let mut handler = TalkRun {
        view: &mut view,
        out: &mut *env.out,
        sender: None,
        retransmits: Retransmits::new(),
    };
    let opts = driver::Options::default();
    let stop = driver::run_with(
        &mut session,
        link,
        clock,
        env.interrupt,
        &opts,
        &mut handler,
    )?;
    Ok(Talk {
        session,
        view,
        remote: wiring.remote,
        command: run.command,
        end: run.end,
        time_wait: run.time_wait,
        interrupted: stop == Stop::Interrupted,
    })
}

/// A talk's side of the driver's run: its events rendered. (On Ctrl-C or
/// a failed link the session resets the connection itself, rather than
/// leave it for the peer to hold: see [`crate::machine::Machine::abort`].)
struct TalkRun<'a> {
    view: &'a mut View,
    out: &'a mut dyn Write,
    /// For `--json`: the sender's state last reported, and what tells
    /// each retransmission's cause.
    sender: Option<rev::Sender>,
    retransmits: Retransmits,
}

impl driver::Handler<Session> for TalkRun<'_> {
    fn event(&mut self, session: &mut Session, now: Instant, ev: Event) -> Result<()> {
        let again = match &ev {
            Event::Host(HostEvent::Segment {
                dir: Direction::Out,
                seg,
            }) if !self.view.rep.human() => self.retransmits.sent(session.host().conn(), seg),
            _ => None,
        };
        self.view.event(self.out, now, ev)?;
        if self.view.rep.human() {
            return Ok(());
        }
        // What only the sender knows, in JSON: each retransmission's
        // cause, and its congestion state whenever it changed.
        if let Some(r) = again {
            self.view
                .rep
                .emit(self.out, now, Ev::Retransmit(r), |_| Ok(()))?;
        }
        let sender = sender_of(session.host().conn());
        if self.sender.as_ref() != Some(&sender) {
            self.sender = Some(sender.clone());
            self.view
                .rep
                .emit(self.out, now, Ev::Sender(sender), |_| Ok(()))?;
        }
        Ok(())
    }
}

impl Finish for Talk {
    /// The ladder (with `--ladder`), the guard's count and the result.
    fn finish(self, dropped: Option<u64>, now: Instant, env: &mut Env) -> Result<Outcome> {
        if let Some(log) = &self.view.ladder {
            env.out.write_all(log.draw().as_bytes())?;
        }
        if let Some(n) = dropped
            && n > 0
        {
            // Said in JSON by the result's rsts_dropped.
            let t = self.view.t(now);
            self.view.rep.text(env.out, |w| {
                writeln!(
                    w,
                    "{t:>10.6} {:<5} the RST guard dropped {} the kernel sent for this flow",
                    "note",
                    crate::text::count(n, "RST")
                )
            })?;
        }
        let ending = Ending {
            command: self.command,
            end: self.end,
            time_wait: self.time_wait,
            rsts_dropped: dropped,
            interrupted: self.interrupted,
        };
        let outcome = self
            .view
            .result(env.out, now, &self.session, self.remote, ending)?;
        Ok(outcome.unless_interrupted(env.interrupt))
    }
}

/// The host holding the connection from `local` to `remote`, opening.
fn connection(wiring: &Wiring, args: &ConnectArgs, time_wait: Duration, start: Instant) -> TcpHost {
    let (path, local, remote) = (wiring.path, wiring.local, wiring.remote);
    let config = tcp::Config {
        mss: path.mss(),
        mtu: tcp::link_mtu(path.iface.mtu) as usize,
        syn_retries: args.retries,
        msl: time_wait / 2,
        ts_offset: u32::from_le_bytes(random_bytes::<4>()),
        ..tcp::Config::default()
    };
    let iss = IsnGenerator::new(random_bytes::<16>()).isn(start, local, remote);
    let conn = Connection::connect(start, config, local, remote, iss);
    TcpHost::new(
        HostConfig {
            mac: path.iface.mac,
            next_hop_mac: path.next_hop_mac,
            answer_arp: !path.owned_by_kernel,
            trace: true,
        },
        conn,
    )
}

/// The first lines: the flow, how the kernel is kept out, the next hop.
fn header(
    view: &View,
    command: Command,
    wiring: &Wiring,
    start: Instant,
    env: &mut Env,
) -> Result<()> {
    let (local, remote) = (wiring.local, wiring.remote);
    let name = command.name().to_uppercase();
    let event = Ev::Start(Box::new(wiring.start(command.name())));
    view.rep.emit(env.out, start, event, |w| {
        writeln!(
            w,
            "{name} {remote} from {local} on {} ({})\n{}",
            wiring.path.iface.name,
            wiring.keeper(),
            wiring.next_hop_line()
        )
    })?;
    Ok(())
}

/// tcpdump's line for a segment, with relative sequence numbers (tracked
/// per connection, as tcpdump does) unless absolute ones were asked for.
pub(crate) struct SegmentLines {
    absolute: bool,
    seqs: RelativeSeqs,
}

impl SegmentLines {
    pub(crate) fn new(absolute: bool) -> SegmentLines {
        SegmentLines {
            absolute,
            seqs: RelativeSeqs::new(),
        }
    }

    pub(crate) fn line(&mut self, seg: &Segment) -> String {
        let repr = seg.as_repr();
        if self.absolute {
            tcp_line_absolute(seg.src.ip(), seg.dst.ip(), &repr)
        } else {
            self.seqs.line(seg.src, seg.dst, &repr)
        }
    }
}

/// With `--ladder`: the exchange recorded as it happens, drawn at the end
/// in place of the lines (which it would repeat). JSON is unaffected.
struct LadderLog {
    ends: Ends,
    seqs: Relative,
    items: Vec<Item>,
    style: Style,
}

impl LadderLog {
    fn new(wiring: &Wiring, style: Style) -> LadderLog {
        LadderLog {
            ends: Ends {
                left: wiring.local,
                right: wiring.remote,
            },
            seqs: Relative::default(),
            items: Vec::new(),
            style,
        }
    }

    fn segment(&mut self, t: Duration, seg: &Segment, withheld: bool) {
        let Some(way) = self.ends.way(seg.src, seg.dst) else {
            return;
        };
        let (seq, ack) = self
            .seqs
            .numbers(way, seg.seq.get(), seg.ack.map(|a| a.get()));
        self.items.push(Item::Seg(Seg {
            t,
            way,
            flags: seg.flags,
            seq,
            ack,
            win: seg.window,
            len: seg.payload.len(),
            withheld,
        }));
    }

    fn draw(&self) -> String {
        let exchange = Exchange {
            ends: self.ends,
            items: self.items.clone(),
            observed: true,
        };
        ladder::render(&exchange, self.style)
    }
}

/// Renders a session for people (tcpdump-like lines with relative times,
/// or a ladder) or as JSON lines.
struct View {
    rep: Reporter,
    ladder: Option<LadderLog>,
    start: Instant,
    lines: SegmentLines,
    first_syn: Option<Instant>,
    answer_at: Option<Instant>,
    syns: u32,
    closed_at: Option<Instant>,
}

fn reason_text(r: Reason) -> &'static str {
    match r {
        Reason::Normal => "closed normally",
        Reason::Reset => "reset by the peer",
        Reason::TimedOut => "timed out",
        Reason::Aborted => "reset by nettool",
    }
}

fn drop_text(r: DropReason) -> &'static str {
    match r {
        DropReason::NotForUs => "not for this connection",
        DropReason::NoConnection => "no connection",
        DropReason::Unexpected => "unexpected in this state",
        DropReason::BadAck => "its ACK does not acknowledge our SYN",
        DropReason::OutOfWindow => "outside the receive window (acknowledged)",
        DropReason::Retransmission => "a retransmission (answered)",
        DropReason::RstNotExact => "RST in the window but not at RCV.NXT (RFC 5961: challenge ACK)",
        DropReason::SynInWindow => "SYN on an open connection (RFC 5961: challenge ACK)",
        DropReason::AckOutOfRange => "ACK outside the acceptable range (RFC 5961)",
        DropReason::NoAck => "no ACK bit",
        DropReason::ReassemblyFull => {
            "out of order, and the reassembly queue holds too many ranges (acknowledged)"
        }
    }
}

/// Printable text of a payload: lines as they are, other bytes as \xHH.
fn printable(data: &[u8]) -> Vec<String> {
    let text: String = data
        .iter()
        .map(|&b| match b {
            b'\n' => "\n".to_owned(),
            b'\r' => String::new(),
            b'\t' => "\t".to_owned(),
            0x20..=0x7e => (b as char).to_string(),
            other => format!("\\x{other:02x}"),
        })
        .collect();
    text.lines().map(str::to_owned).collect()
}

impl View {
    fn new(rep: Reporter, args: &ConnectArgs, start: Instant) -> View {
        View {
            rep,
            ladder: None,
            start,
            lines: SegmentLines::new(args.absolute),
            first_syn: None,
            answer_at: None,
            syns: 0,
            closed_at: None,
        }
    }

    fn t(&self, now: Instant) -> f64 {
        (now - self.start).as_secs_f64()
    }

    /// `event` at `now`; for people, `text` after the time and `tag`.
    fn line(
        &mut self,
        out: &mut dyn Write,
        now: Instant,
        tag: &str,
        text: &str,
        event: Ev,
    ) -> Result<()> {
        let t = self.t(now);
        if let Some(log) = &mut self.ladder {
            // Segments and states are the ladder's arrows and columns;
            // anything else is a note across it.
            if !matches!(tag, "out" | "in" | "held" | "state") {
                log.items.push(Item::Note {
                    t: now - self.start,
                    text: text.to_owned(),
                });
            }
            self.rep.emit(out, now, event, |_| Ok(()))?;
            return Ok(());
        }
        self.rep.emit(out, now, event, |w| {
            writeln!(w, "{}", super::stamped(t, tag, text))
        })?;
        Ok(())
    }

    fn note(&mut self, out: &mut dyn Write, now: Instant, text: &str) -> Result<()> {
        self.line(out, now, "note", text, Ev::note(text))
    }

    fn segment(
        &mut self,
        out: &mut dyn Write,
        now: Instant,
        tag: &str,
        dir: &'static str,
        seg: &Segment,
        extra: &str,
    ) -> Result<()> {
        let text = self.lines.line(seg);
        let mut event = rev::Segment::new(dir, seg).line(text.clone());
        event.withheld = tag == "held";
        let t = now - self.start;
        if let Some(log) = &mut self.ladder {
            log.segment(t, seg, event.withheld);
        }
        self.line(
            out,
            now,
            tag,
            &format!("{text}{extra}"),
            Ev::Segment(Box::new(event)),
        )
    }

    fn event(&mut self, out: &mut dyn Write, now: Instant, ev: Event) -> Result<()> {
        match ev {
            Event::Host(HostEvent::Segment { dir, seg }) => self.wire_segment(out, now, dir, &seg),
            Event::Host(HostEvent::Withheld { seg }) => {
                self.segment(out, now, "held", "out", &seg, "  (ACK withheld: not sent)")
            }
            Event::Host(HostEvent::Tcp(ev)) => self.tcp_event(out, now, ev),
            // The host never passes Readable on: the session reads itself.
            Event::Host(HostEvent::Readable) => Ok(()),
            Event::Host(HostEvent::ArpAnswered { asker, asker_mac }) => self.line(
                out,
                now,
                "arp",
                &format!("answered who-has from {asker} ({asker_mac}) for our address"),
                Ev::ArpAnswered {
                    ip: asker,
                    mac: Some(asker_mac),
                },
            ),
            Event::Host(HostEvent::NeighborAnswered { asker, asker_mac }) => {
                let text = format!(
                    "answered neighbour solicitation from {asker} ({asker_mac}) for our address"
                );
                self.line(out, now, "ndp", &text, Ev::Note { text: text.clone() })
            }
            Event::Host(HostEvent::Icmp { from, kind }) => self.line(
                out,
                now,
                "icmp",
                &format!("{} from {from}", kind.describe()),
                Ev::Icmp(rev::Icmp {
                    ip: from,
                    what: kind.describe(),
                    probe: None,
                    rtt_us: None,
                }),
            ),
            Event::Host(HostEvent::Malformed { why }) => {
                let text = format!("malformed frame: {why}");
                self.line(
                    out,
                    now,
                    "drop",
                    &text,
                    Ev::Drop {
                        reason: text.clone(),
                    },
                )
            }
            Event::Note(note) => self.session_note(out, now, note),
        }
    }

    /// A segment on the wire; the first SYN and the first answer to it
    /// are timed.
    fn wire_segment(
        &mut self,
        out: &mut dyn Write,
        now: Instant,
        dir: Direction,
        seg: &Segment,
    ) -> Result<()> {
        let is_syn = seg.flags.contains(Flags::SYN);
        match dir {
            Direction::Out => {
                if is_syn && seg.ack.is_none() {
                    self.syns += 1;
                    self.first_syn.get_or_insert(now);
                }
                self.segment(out, now, "out", "out", seg, "")
            }
            Direction::In => {
                if self.answer_at.is_none() && (is_syn || seg.flags.contains(Flags::RST)) {
                    self.answer_at = Some(now);
                }
                self.segment(out, now, "in", "in", seg, "")
            }
        }
    }

    /// What the connection itself said: states, closes, drops.
    fn tcp_event(&mut self, out: &mut dyn Write, now: Instant, ev: TcpEvent) -> Result<()> {
        match ev {
            TcpEvent::StateChanged { from, to } => {
                let t = now - self.start;
                if let Some(log) = &mut self.ladder {
                    log.items.push(Item::State { t, from, to });
                }
                let text = format!("{from} → {to}");
                self.line(out, now, "state", &text, Ev::State { from, state: to })?;
                // (A ladder shows the state itself.)
                if to == State::TimeWait && self.ladder.is_none() {
                    self.note(
                        out,
                        now,
                        "TIME-WAIT: holding the connection for 2×MSL before CLOSED",
                    )?;
                }
                Ok(())
            }
            // A ladder shows the FIN and CLOSE-WAIT (JSON never has a ladder).
            TcpEvent::PeerClosed if self.ladder.is_some() => Ok(()),
            TcpEvent::PeerClosed => {
                self.note(out, now, "the peer closed its side (its FIN arrived)")
            }
            TcpEvent::Closed(r) => {
                self.closed_at = Some(now);
                let reason = reason_text(r).to_owned();
                self.line(
                    out,
                    now,
                    "note",
                    &reason,
                    Ev::Closed {
                        reason: reason.clone(),
                    },
                )
            }
            TcpEvent::SegmentDropped { reason } => {
                let text = drop_text(reason);
                let event = Ev::Drop {
                    reason: text.to_owned(),
                };
                self.line(out, now, "drop", &format!("segment ignored: {text}"), event)
            }
            TcpEvent::OutOfOrderQueued { held } => {
                let text = format!(
                    "out-of-order segment queued for reassembly ({held} octets held), acknowledged"
                );
                self.line(out, now, "note", &text, Ev::note(text.clone()))
            }
            TcpEvent::Connected => Ok(()),
        }
    }

    /// What the session says it does, and the payload it read.
    fn session_note(&mut self, out: &mut dyn Write, now: Instant, note: Note) -> Result<()> {
        match note {
            Note::Data(bytes) if self.ladder.is_some() => {
                let n = bytes.len();
                let text = format!("read {n} bytes: {}", printable(&bytes).join(" "));
                let event = Ev::Data {
                    len: n,
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                };
                self.line(out, now, "data", &text, event)
            }
            Note::Data(bytes) => {
                let event = Ev::Data {
                    len: bytes.len(),
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                };
                self.rep.emit(out, now, event, |w| {
                    for l in printable(&bytes) {
                        writeln!(w, "{:>10} {:<5} | {l}", "", "")?;
                    }
                    Ok(())
                })?;
                Ok(())
            }
            Note::PayloadQueued(n) => self.note(out, now, &format!("sending {n} bytes of --data")),
            Note::AckReleased => self.note(out, now, "sending the withheld ACK now"),
            Note::PeerStayedOpen => self.note(
                out,
                now,
                "the peer did not close within --linger; closing first",
            ),
            Note::Ending(how) => self.note(out, now, &format!("ending the connection: {how}")),
        }
    }

    /// The time from the first SYN to the first answer (SYN-ACK or RST).
    fn answer_rtt(&self) -> Option<Duration> {
        match (self.first_syn, self.answer_at) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        }
    }

    /// The result of a run whose handshake did not complete: refused,
    /// unanswered or unreachable.
    fn unopened(
        &self,
        opening: Opening,
        remote: SocketAddr,
        answer: Option<Duration>,
    ) -> (String, Verdict, bool, Report) {
        let rtt = answer.map(human).unwrap_or_default();
        let (host, port) = (remote.ip(), remote.port());
        match opening {
            Opening::Refused => (
                format!("port {port} on {host} is closed: RST after {rtt}"),
                Verdict::Closed,
                false,
                Report {
                    rtt_us: answer.map(us),
                    ..Report::default()
                },
            ),
            // (`Open` is `opened`'s to report, and never comes here.)
            Opening::NoAnswer | Opening::Pending | Opening::Open => (
                format!(
                    "no answer from {remote} after {}: filtered, or the host is down",
                    crate::text::count(self.syns, "SYN")
                ),
                Verdict::NoReply,
                false,
                Report::default(),
            ),
            Opening::Unreachable { from, kind } => (
                format!("{remote} is unreachable: {} from {from}", kind.describe()),
                Verdict::Unreachable,
                false,
                Report {
                    ip: Some(from),
                    what: Some(kind.describe()),
                    ..Report::default()
                },
            ),
        }
    }

    fn result(
        &self,
        out: &mut dyn Write,
        now: Instant,
        s: &Session,
        remote: SocketAddr,
        ending: Ending,
    ) -> Result<Outcome> {
        let answer = self.answer_rtt();
        let (text, verdict, found, mut report) = match s.opening() {
            Opening::Open => opened(s, remote, &ending, answer),
            other => self.unopened(other, remote, answer),
        };
        let outcome = if ending.interrupted {
            Outcome::Interrupted
        } else {
            Outcome::from_answer(found)
        };
        let head = Report::new(verdict, outcome);
        report.outcome = head.outcome;
        report.exit = head.exit;
        report.sent = Some(self.syns.into());
        report.rsts_dropped = ending.rsts_dropped;
        self.rep.emit(out, now, Ev::Result(Box::new(report)), |w| {
            writeln!(w, "{text}")
        })?;
        Ok(outcome)
    }
}

/// The result of a run whose handshake completed: the port is open
/// (`handshake`), or the close went as asked or not (`close`).
fn opened(
    s: &Session,
    remote: SocketAddr,
    ending: &Ending,
    answer: Option<Duration>,
) -> (String, Verdict, bool, Report) {
    let report = Report {
        rtt_us: answer.map(us),
        received: Some(s.received() as u64),
        ..Report::default()
    };
    if ending.command == Command::Handshake {
        let rtt = answer.map(human).unwrap_or_default();
        let text = format!(
            "port {} on {} is open: SYN-ACK after {rtt}",
            remote.port(),
            remote.ip()
        );
        return (text, Verdict::Open, true, report);
    }
    let end = ending.end;
    if s.closed_as_planned() {
        let tw = if matches!(end, End::Close | End::HalfClose) {
            format!("; TIME-WAIT lasted {}", human(ending.time_wait))
        } else {
            String::new()
        };
        return (
            format!("{remote}: {end} complete{tw}"),
            Verdict::Done,
            true,
            report,
        );
    }
    if s.peer_stayed_open() && s.closed() == Some(Reason::Normal) && s.received() > 0 {
        // It answered, and was slow to close: the exchange happened.
        let text = format!(
            "{remote}: the peer was still open --linger after its last data, so nettool \
             closed first; that active close completed, TIME-WAIT lasted {}",
            human(ending.time_wait)
        );
        return (text, Verdict::Done, true, report);
    }
    if s.peer_stayed_open() && s.closed() == Some(Reason::Normal) {
        let text = format!(
            "{remote}: no passive close: the peer did not close within --linger (a server \
             closes first only once it has answered a request: give one with --data), so \
             nettool closed first; that active close completed, TIME-WAIT lasted {}",
            human(ending.time_wait)
        );
        return (text, Verdict::Timeout, false, report);
    }
    let text = format!(
        "{remote}: the close did not complete as asked ({})",
        s.closed().map_or("still open", reason_text)
    );
    let verdict = match s.closed() {
        Some(Reason::Reset | Reason::Aborted) => Verdict::Reset,
        _ => Verdict::Timeout,
    };
    (text, verdict, false, report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("GET / HTTP/1.0\\r\\n\\r\\n", b"GET / HTTP/1.0\r\n\r\n".to_vec())]
    #[case("a\\tb\\\\c\\x41\\0", b"a\tb\\cA\0".to_vec())]
    #[case("plain", b"plain".to_vec())]
    fn escapes_become_bytes(#[case] text: &str, #[case] want: Vec<u8>) {
        assert_eq!(unescape(text).unwrap(), want);
    }

    #[rstest]
    #[case("bad\\q")]
    #[case("trailing\\")]
    #[case("\\x4")]
    #[case("\\xzz")]
    fn bad_escapes_are_refused(#[case] text: &str) {
        assert!(unescape(text).is_err());
    }

    #[rstest]
    #[case("10.0.0.2:80", "10.0.0.2:80")]
    #[case("10.0.0.2:65535", "10.0.0.2:65535")]
    #[case::a_service_name("10.0.0.2:http", "10.0.0.2:80")]
    #[case::a_dashed_service_name("10.0.0.2:http-alt", "10.0.0.2:8080")]
    #[case::ipv6("[fd00:6e74::2]:80", "[fd00:6e74::2]:80")]
    #[case::ipv6_service("[fd00:6e74::2]:http", "[fd00:6e74::2]:80")]
    #[case::ipv6_loopback("[::1]:22", "[::1]:22")]
    fn targets_parse(#[case] text: &str, #[case] want: &str) {
        assert_eq!(
            parse_target(text, Family::Any).unwrap(),
            want.parse::<SocketAddr>().unwrap()
        );
    }

    #[rstest]
    #[case("10.0.0.2", "needs a port")]
    #[case("10.0.0.2:0", "")]
    #[case("10.0.0.2:65536", "")]
    #[case("10.0.0.2:nosuchservice", "")]
    #[case::bare_ipv6("fd00:6e74::2", "[fd00:6e74::2]:PORT")]
    #[case::ipv6_without_brackets("fd00:6e74::2:http", "[ADDRESS]:PORT")]
    #[case::ipv6_port_missing("[fd00:6e74::2]", "needs a port")]
    fn bad_targets_are_refused(#[case] text: &str, #[case] says: &str) {
        let e = parse_target(text, Family::Any).unwrap_err().to_string();
        assert!(e.contains(says), "{text}: {e}");
    }

    #[rstest]
    #[case("[fd00:6e74::2]:80", Family::V4)]
    #[case("10.0.0.2:80", Family::V6)]
    fn a_literal_of_the_other_family_is_refused(#[case] text: &str, #[case] family: Family) {
        assert!(parse_target(text, family).is_err());
    }

    #[test]
    fn payloads_print_as_lines_with_escapes() {
        assert_eq!(
            printable(b"HTTP/1.0 200 OK\r\nX: y\r\n\x01"),
            vec!["HTTP/1.0 200 OK", "X: y", "\\x01"]
        );
    }
}
