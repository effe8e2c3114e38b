//! `nettool nc`: netcat on nettool's own TCP engine.
//!
//! stdin goes to the peer and the peer's bytes go to stdout, through an
//! [`Interface`](crate::stack::iface::Interface) over a raw link; no kernel
//! socket carries the data. The driver's loop waits on the link and on
//! stdin at once, and reads stdin only while the engine can take more (so
//! a fast stdin cannot grow memory without bound). A listener completes any
//! number of handshakes side by side and serves one connection at a time.
//! `nc -u` (UDP) is in [`udp`].

use std::fmt::Display;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use anyhow::{Result, bail};

use super::drawing::Drawing;
use super::tcp::SegmentLines;
use super::{Env, Given, stamped};
use crate::cli::{CongestionControlArg, NcArgs};
use crate::driver::{self, Handler, Input, Options, Stop, Tx};
use crate::link::rxring::RingKind;
use crate::machine::{Machine, RxChecksum};
use crate::outcome::Outcome;
use crate::services::{self, Proto};
use crate::setup::{Claim, Flows, Found, LinkOptions, Path, Request, Stack};
use crate::stack::host::{HostConfig, TcpHost};
use crate::stack::iface::{
    self as stack_iface, Direction, ErrorKind, FlowKey, HostEvent, InterfaceConfig, ListenerConfig,
};
use crate::stack::session::{End, Opening, Plan, Session, ThirdAck};
use crate::sys::random_bytes;
use crate::tcp::{
    self, Connection, Event as TcpEvent, IsnGenerator, IssSource, Reason, Segment, State,
};
use crate::text::count;
use crate::time::{Instant, human};

use crate::wire::tcp::Flags;

pub mod udp;

/// Writes some of `a` then `b` to `out` in one call (`writev` where `out`
/// is stdout): how much went, never 0.
fn write_some(out: &mut dyn io::Write, a: &[u8], b: &[u8]) -> io::Result<usize> {
    let bufs = [io::IoSlice::new(a), io::IoSlice::new(b)];
    loop {
        match out.write_vectored(&bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Largest chunk read from stdin at once, and the most held back while
/// the engine's send buffer is full.
const CHUNK: usize = 64 * 1024;
/// How the driver runs nc: the input (stdin) is waited on beside the
/// link, and frames are read a batch per wake-up, so the input and timers
/// are not starved.
fn run_options(input: RawFd) -> Options {
    Options {
        kernel_stamps: false,
        spin: Duration::ZERO,
        ring_batch: None,
        rx_batch: 256,
        lossy_send: false,
        input: Some(input),
    }
}

pub fn run(args: NcArgs, env: &mut Env) -> Result<Outcome> {
    if let Some(plot) = &args.plot {
        // Written at the end, after the privileges are gone.
        crate::privilege::preopen_output(plot)?;
    }
    if args.udp {
        udp::run(&args, env)
    } else if args.zero_io {
        zero_io(&args, env)
    } else if args.listen {
        listen(&args, env)
    } else {
        connect(&args, env)
    }
}

fn parse_port(text: &str) -> Result<u16> {
    services::parse_port(text, Proto::Tcp).map_err(anyhow::Error::msg)
}

/// `-z`'s ports: `N`, `N-M`, a list, names (`ssh,http`).
fn parse_ports(text: &str) -> Result<Vec<u16>> {
    services::parse_ports(text, Proto::Tcp).map_err(anyhow::Error::msg)
}

/// The link's socket receive buffer: room for a whole receive window
/// (4 MiB) of frames, each charged up to twice its payload. With the
/// default (about 200 KiB, three 64 KiB super-frames) the kernel drops
/// frames whenever nettool is a moment late, and the sender retransmits.
const RECEIVE_BUFFER: usize = 8 << 20;

/// nc's link: bulk data leaves as super-frames the kernel segments (GSO).
const LINK: LinkOptions = LinkOptions {
    offloading: true,
    receive_buffer: Some(RECEIVE_BUFFER),
    tx_ring: None,
    rx_ring: Some(RingKind::Frames),
    rx_timestamps: false,
    tx_timestamps: false,
};

fn iface_config(path: &Path, trace: bool) -> InterfaceConfig {
    let (ip, ipv6) = path.addresses();
    InterfaceConfig {
        ip,
        mac: path.iface.mac,
        ipv6,
        next_hop_mac: path.next_hop_mac,
        answer_arp: !path.owned_by_kernel,
        trace,
    }
}

/// Whether the interface reports every segment: for `--trace`, and for
/// the pictures drawn from them.
fn traced(args: &NcArgs) -> bool {
    args.trace || args.ladder || args.plot.is_some()
}

fn host_config(path: &Path, trace: bool) -> HostConfig {
    HostConfig {
        mac: path.iface.mac,
        next_hop_mac: path.next_hop_mac,
        answer_arp: !path.owned_by_kernel,
        trace,
    }
}

/// nettool's end for a connection to `dst`; `None` when the next hop does
/// not answer ARP (a negative answer, reported already).
fn connect_path(dst: IpAddr, args: &NcArgs, env: &mut Env) -> Result<Option<Path>> {
    let cache = args.cache.path();
    let request = Request {
        dst,
        interface: args.interface.as_deref(),
        source: args.source,
        cache: &cache,
        pcap: env.pcap.as_ref(),
    };
    match Path::find(request, env.err, env.interrupt)? {
        Found::Path(path) => Ok(Some(path)),
        Found::Unresolved(why) => {
            writeln!(env.err, "nettool: {why}")?;
            Ok(None)
        }
    }
}

fn engine_config(path: &Path, args: &NcArgs) -> tcp::Config {
    tcp::Config {
        user_timeout: args.user_timeout,
        mss: path.mss(),
        mtu: tcp::link_mtu(path.iface.mtu) as usize,
        ts_offset: u32::from_le_bytes(random_bytes::<4>()),
        cc: congestion_control(args.cc),
        ..tcp::Config::default()
    }
}

fn congestion_control(arg: CongestionControlArg) -> tcp::CongestionControl {
    match arg {
        CongestionControlArg::Cubic => tcp::CongestionControl::Cubic,
        CongestionControlArg::Reno => tcp::CongestionControl::Reno,
    }
}

/// `HOST PORT` to connect to (HOST an IPv4 or IPv6 address, or a name
/// resolved as `-4`/`-6` say).
pub(super) fn connect_target(args: &NcArgs) -> Result<SocketAddr> {
    let [host, port] = args.operands.as_slice() else {
        bail!("nettool nc needs HOST PORT (or -l [ADDRESS] PORT)");
    };
    Ok(SocketAddr::new(
        super::resolve_host_ip(host, args.family.family())?,
        parse_port(port)?,
    ))
}

/// Runs `body` on `stack`'s link and `env`'s clock, with stdin for its
/// input, then tears the stack down.
fn plumbed(
    path: &Path,
    mut stack: Stack,
    env: &mut Env,
    body: impl FnOnce(Given, RawFd, &mut Env) -> Result<Outcome>,
) -> Result<Outcome> {
    let mut clock = env.clock.clock();
    let given = Given {
        path,
        local: stack.local(),
        link: stack.link.as_mut(),
        clock: clock.as_mut(),
    };
    let outcome = body(given, io::stdin().as_raw_fd(), env);
    stack.teardown(env.err);
    outcome
}

/// `nc HOST PORT`: the way found, the flow claimed and the link opened,
/// then [`connect_over`].
fn connect(args: &NcArgs, env: &mut Env) -> Result<Outcome> {
    let remote = connect_target(args)?;
    let Some(path) = connect_path(remote.ip(), args, env)? else {
        return Ok(Outcome::Negative);
    };
    let flows = Flows::Connection { remote };
    let stack = path.open(args.source_port, flows, &LINK, env.pcap.as_ref(), env.err)?;
    plumbed(&path, stack, env, |given, input, env| {
        connect_over(args, given, input, env)
    })
}

/// Connects to the `HOST PORT` of `args` over what it is `given`, and
/// copies `input` (stdin, in the real command) to the peer and the
/// peer's bytes to `env.out` until both sides are done.
pub fn connect_over(args: &NcArgs, mut p: Given, input: RawFd, env: &mut Env) -> Result<Outcome> {
    let remote = connect_target(args)?;
    let start = p.clock.now();
    let config = engine_config(p.path, args);
    let iss = IsnGenerator::new(random_bytes::<16>()).isn(start, p.local, remote);
    let conn = Connection::connect(start, config, p.local, remote, iss);
    let mut iface = stack_iface::Interface::new(iface_config(p.path, traced(args)));
    let flow = iface.open(conn);
    let mut pipe = Pipe::new(args, start, Some(flow));
    let end = pipe.run(&mut iface, &mut p, input, env)?;
    pipe.receive_drops = p.link.receive_drops();
    pipe.finish(&iface, end, remote, p.clock.now(), env)
}

/// `nc -l [ADDRESS] PORT`: the address and port taken from the kernel
/// and the link opened, then [`listen_over`].
fn listen(args: &NcArgs, env: &mut Env) -> Result<Outcome> {
    let (addr, port) = match args.operands.as_slice() {
        [port] => (None, parse_port(port)?),
        [addr, port] => (
            Some(super::resolve_host_ip(addr, args.family.family())?),
            parse_port(port)?,
        ),
        _ => bail!("nettool nc -l needs [ADDRESS] PORT"),
    };
    let path = Path::listen(
        addr.or(args.source),
        args.interface.as_deref(),
        env.interrupt,
    )?;
    let flows = Flows::Listener;
    let stack = path.open(Some(port), flows, &LINK, env.pcap.as_ref(), env.err)?;
    plumbed(&path, stack, env, |given, input, env| {
        listen_over(args, given, input, env)
    })
}

/// Listens on the local address it is `given` and serves one connection
/// (all of them, one after the other, with `-k`): `input` to the peer,
/// the peer's bytes to `env.out`.
pub fn listen_over(args: &NcArgs, mut p: Given, input: RawFd, env: &mut Env) -> Result<Outcome> {
    let mut iface = listening(p.path, args, p.local);
    if args.verbose {
        writeln!(
            env.err,
            "nettool: listening on {} ({})",
            p.local, p.path.iface.name
        )?;
    }
    serve(&mut iface, &mut p, input, args, env)
}

/// An interface with a listener on `local`. Handshakes proceed side by
/// side (a flood of spoofed SYNs only cycles through the half-open
/// queue); data flows on one connection at a time.
fn listening(path: &Path, args: &NcArgs, local: SocketAddr) -> stack_iface::Interface {
    let isn = IsnGenerator::new(random_bytes::<16>());
    let config = engine_config(path, args);
    let mut iface = stack_iface::Interface::new(iface_config(path, traced(args)));
    iface.listen(
        local,
        ListenerConfig {
            tcp: config,
            iss: IssSource::Generated(isn),
            backlog: stack_iface::DEFAULT_BACKLOG,
        },
    );
    iface
}

/// Serves the listener's connections one after the other: one, or with
/// `-k` all until Ctrl-C.
fn serve(
    iface: &mut stack_iface::Interface,
    p: &mut Given,
    input: RawFd,
    args: &NcArgs,
    env: &mut Env,
) -> Result<Outcome> {
    loop {
        let mut pipe = Pipe::new(args, p.clock.now(), None);
        pipe.listener = Some(p.local);
        let end = pipe.run(iface, p, input, env)?;
        pipe.receive_drops = p.link.receive_drops();
        let remote = pipe
            .flow
            .map_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), |f| f.remote);
        let outcome = pipe.finish(iface, end, remote, p.clock.now(), env)?;
        if !args.keep_open || matches!(end, Ending::Interrupted | Ending::OutputClosed) {
            if args.verbose {
                report_listener(iface, p.local, env)?;
            }
            return Ok(outcome);
        }
        if let Some(flow) = pipe.flow {
            // netcat does not wait out TIME-WAIT; the next one may start.
            iface.remove(flow);
        }
    }
}

/// `-l -v` on exit: what the half-open and accept queues turned away.
fn report_listener(iface: &stack_iface::Interface, local: SocketAddr, env: &mut Env) -> Result<()> {
    let stats = iface.listener_stats(local).unwrap_or_default();
    if stats.evicted > 0 {
        writeln!(
            env.err,
            "nettool: {} of {} evicted to make room for newer SYNs (a SYN flood?)",
            stats.evicted,
            count(stats.syns, "half-open connection")
        )?;
    }
    if stats.refused > 0 {
        writeln!(
            env.err,
            "nettool: {} dropped while {} connections waited to be served",
            count(stats.refused, "SYN"),
            stack_iface::DEFAULT_BACKLOG
        )?;
    }
    if stats.acks_dropped > 0 {
        writeln!(
            env.err,
            "nettool: {} dropped while {} connections waited to be served (the \
             clients retried)",
            count(stats.acks_dropped, "handshake-completing ACK"),
            stack_iface::DEFAULT_BACKLOG
        )?;
    }
    Ok(())
}

/// How a connection's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Both sides closed (CLOSED or TIME-WAIT).
    Closed(Reason),
    /// No connection within `-w`.
    ConnectTimeout,
    /// Idle for `-w`, closed by us.
    Idle,
    /// `--quit-after` expired after the end of stdin; reset.
    Quit,
    /// stdout's reader went away (`nettool nc … | head -c 10`): what it
    /// wanted it has; the connection is reset, and the run ends with 0.
    OutputClosed,
    Interrupted,
}

/// Largest super-frame payload: an IPv4 datagram holds 65535 bytes, less
/// the IP header and the largest TCP header.
const SUPER_FRAME_PAYLOAD: usize = 65535 - 20 - 60;

/// A [`Pipe`]'s side of the driver's run.
struct PipeRun<'p, 'e, 'a> {
    pipe: &'p mut Pipe,
    env: &'e mut Env<'a>,
}

impl Handler<stack_iface::Interface> for PipeRun<'_, '_, '_> {
    fn event(
        &mut self,
        host: &mut stack_iface::Interface,
        _: Instant,
        event: stack_iface::Event,
    ) -> Result<()> {
        if self.pipe.ended == Some(Ending::Interrupted) {
            // netcat says nothing of the RST it leaves with.
            return Ok(());
        }
        self.pipe.event(host, event, self.env)
    }

    fn turn(&mut self, host: &mut stack_iface::Interface, now: Instant) -> Result<()> {
        self.pipe.accept(host);
        self.pipe.deliver(host, now, self.env)?;
        if self.pipe.established.is_some() {
            self.pipe.feed(host, now);
        }
        Ok(())
    }

    /// Bulk data leaves as super-frames where the link can have the
    /// kernel segment them.
    fn transmit(
        &mut self,
        host: &mut stack_iface::Interface,
        now: Instant,
        segment: bool,
        buf: &mut Vec<u8>,
    ) -> Option<Tx> {
        // A picture shows the segments the peer sees, not super-frames.
        if !segment || self.pipe.drawing.wanted() {
            *buf = host.poll_transmit(now)?;
            return Some(Tx::Frame);
        }
        let (frame, mss) = host.poll_transmit_coalesced(now, SUPER_FRAME_PAYLOAD)?;
        *buf = frame;
        Some(mss.map_or(Tx::Frame, Tx::Segmented))
    }

    fn finished(&mut self, host: &mut stack_iface::Interface, now: Instant) -> Result<bool> {
        // Idle: our FIN is on its way, the run goes on.
        self.pipe.ended = self.pipe.ending(host, now).filter(|e| *e != Ending::Idle);
        Ok(self.pipe.ended.is_some())
    }

    fn deadline(&self, host: &stack_iface::Interface) -> Option<Instant> {
        self.pipe.next_deadline(host)
    }

    fn interrupt(&mut self, host: &mut stack_iface::Interface, now: Instant) {
        self.pipe.ended = Some(Ending::Interrupted);
        if let Some(c) = self.pipe.conn(host) {
            c.abort(now);
        }
    }

    fn wants_input(&self, _: &stack_iface::Interface) -> bool {
        self.pipe.wants_input()
    }

    fn input(
        &mut self,
        _: &mut stack_iface::Interface,
        _: Instant,
        input: Input<'_>,
    ) -> Result<()> {
        self.pipe.input(input);
        Ok(())
    }
}

/// One connection's copy loop.
struct Pipe {
    verbose: bool,
    lines: Option<SegmentLines>,
    start: Instant,
    wait: Option<Duration>,
    quit_after: Option<Duration>,
    established: Option<Instant>,
    stdin_eof: bool,
    pending: Vec<u8>,
    fin_sent: bool,
    peer_closed: bool,
    quit_at: Option<Instant>,
    last_activity: Instant,
    closed: Option<Reason>,
    syns: u32,
    /// Peer bytes written to stdout.
    delivered: u64,
    /// Frames the kernel dropped before nettool read them.
    receive_drops: Option<u64>,
    /// stdout's reader went away: the run ends (see [`Ending::OutputClosed`]).
    output_closed: bool,
    /// The connection served; `None` until a listener accepts one.
    flow: Option<FlowKey>,
    /// The listener to accept from.
    listener: Option<SocketAddr>,
    /// Reading what stdin holds now, and no more: the peer closed.
    draining: bool,
    /// How the run ended, once it has.
    ended: Option<Ending>,
    /// What the engine and the interface dropped, by reason, for `-v`.
    dropped: Dropped,
    /// `--ladder` and `--plot`: what to draw, and the connection recorded.
    drawing: Drawing,
}

/// Segments of the served connection the engine dropped, and frames for
/// us that failed validation, counted by reason: `-v`'s account of what
/// was thrown away (a hostile peer's work shows here).
#[derive(Default)]
struct Dropped {
    segments: std::collections::BTreeMap<&'static str, u64>,
    malformed: std::collections::BTreeMap<String, u64>,
}

impl Dropped {
    fn segment(&mut self, reason: tcp::DropReason) {
        *self.segments.entry(drop_label(reason)).or_default() += 1;
    }

    fn malformed(&mut self, why: crate::wire::WireError) {
        *self.malformed.entry(why.to_string()).or_default() += 1;
    }

    /// `dropped 12 segments (rst-not-exact 10, …) and 1 malformed frame
    /// (bad checksum 1)`, the commonest reason first; `None` when
    /// nothing was dropped.
    fn line(&self) -> Option<String> {
        fn part<K: Display>(
            what: &str,
            counts: &std::collections::BTreeMap<K, u64>,
        ) -> Option<String> {
            let total: u64 = counts.values().sum();
            if total == 0 {
                return None;
            }
            let mut by: Vec<_> = counts.iter().collect();
            by.sort_by(|a, b| b.1.cmp(a.1));
            let list: Vec<String> = by.iter().map(|(k, n)| format!("{k} {n}")).collect();
            Some(format!("{} ({})", count(total, what), list.join(", ")))
        }
        let parts: Vec<String> = [
            part("segment", &self.segments),
            part("malformed frame", &self.malformed),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| format!("dropped {}", parts.join(" and ")))
    }
}

/// A short name for why the engine dropped a segment, for `-v`.
fn drop_label(reason: tcp::DropReason) -> &'static str {
    use tcp::DropReason as R;
    match reason {
        R::NotForUs => "not-for-us",
        R::NoConnection => "no-connection",
        R::Unexpected => "unexpected",
        R::BadAck => "bad-ack",
        R::OutOfWindow => "out-of-window",
        R::Retransmission => "retransmission",
        R::RstNotExact => "rst-not-exact",
        R::SynInWindow => "syn-in-window",
        R::AckOutOfRange => "ack-out-of-range",
        R::NoAck => "no-ack",
        R::ReassemblyFull => "reassembly-full",
    }
}

impl Pipe {
    fn new(args: &NcArgs, start: Instant, flow: Option<FlowKey>) -> Pipe {
        Pipe {
            verbose: args.verbose,
            lines: args.trace.then(|| SegmentLines::new(false)),
            start,
            wait: args.wait,
            quit_after: args.quit_after,
            established: None,
            stdin_eof: false,
            pending: Vec::new(),
            fin_sent: false,
            peer_closed: false,
            quit_at: None,
            last_activity: start,
            closed: None,
            syns: 0,
            delivered: 0,
            receive_drops: None,
            output_closed: false,
            flow,
            listener: None,
            draining: false,
            ended: None,
            dropped: Dropped::default(),
            drawing: Drawing::new(args.ladder, args.ascii, args.plot.clone()),
        }
    }

    /// The served connection, for user calls.
    fn conn<'a>(&self, iface: &'a mut stack_iface::Interface) -> Option<&'a mut Connection> {
        self.flow.and_then(|f| iface.conn_mut(f))
    }

    /// The served connection's state (LISTEN while none is accepted yet).
    fn state(&self, iface: &stack_iface::Interface) -> State {
        self.flow
            .and_then(|f| iface.conn(f))
            .map_or(State::Listen, Connection::state)
    }

    /// Takes the next established connection when serving none.
    fn accept(&mut self, iface: &mut stack_iface::Interface) {
        if self.flow.is_none()
            && let Some(l) = self.listener
        {
            self.flow = iface.accept(l);
        }
    }

    fn t(&self, now: Instant) -> f64 {
        (now - self.start).as_secs_f64()
    }

    /// One event of the interface: the served connection's (the
    /// listener's others are kept with them until accepted), and the
    /// link's own.
    fn event(
        &mut self,
        host: &mut stack_iface::Interface,
        ev: stack_iface::Event,
        env: &mut Env,
    ) -> Result<()> {
        self.accept(host);
        if ev.flow.is_some() && ev.flow != self.flow {
            return Ok(());
        }
        let now = ev.at;
        if let Some(key) = ev.flow {
            self.drawing.event(now, key, host.conn(key), &ev.what);
        }
        match ev.what {
            HostEvent::Segment { dir, seg } => self.segment(now, dir, &seg, env)?,
            HostEvent::Tcp(TcpEvent::StateChanged { from, to }) => {
                self.state_line(now, format_args!("{from} → {to}"), env)?;
            }
            HostEvent::Tcp(TcpEvent::Connected) => self.connected(host, now, env)?,
            HostEvent::Tcp(TcpEvent::PeerClosed) => self.peer_closed = true,
            HostEvent::Tcp(TcpEvent::Closed(r)) => self.closed = Some(r),
            HostEvent::Icmp { from, kind } => self.icmp(host, now, from, kind, env)?,
            HostEvent::Malformed { why } => self.dropped.malformed(why),
            HostEvent::Tcp(TcpEvent::SegmentDropped { reason }) => self.dropped.segment(reason),
            // `deliver` reads whatever is there on every turn.
            HostEvent::Readable
            | HostEvent::ArpAnswered { .. }
            | HostEvent::NeighborAnswered { .. }
            | HostEvent::Withheld { .. }
            | HostEvent::Tcp(TcpEvent::OutOfOrderQueued { .. }) => {}
        }
        Ok(())
    }

    /// `state FROM → TO`, with `-v` or `--trace`.
    fn state_line(&self, now: Instant, change: impl Display, env: &mut Env) -> Result<()> {
        if self.verbose || self.lines.is_some() {
            writeln!(env.err, "{}", stamped(self.t(now), "state", change))?;
        }
        Ok(())
    }

    /// An ICMP error about the connection: said, and fatal while it opens.
    fn icmp(
        &self,
        host: &mut stack_iface::Interface,
        now: Instant,
        from: IpAddr,
        kind: ErrorKind,
        env: &mut Env,
    ) -> Result<()> {
        writeln!(env.err, "nettool: {} from {from}", kind.describe())?;
        if self.established.is_none()
            && let Some(c) = self.conn(host)
        {
            c.abort(now);
        }
        Ok(())
    }

    /// A segment of the served connection: SYNs are counted (for "no
    /// answer after N SYNs"), and each is a line with `--trace`.
    fn segment(
        &mut self,
        now: Instant,
        dir: Direction,
        seg: &Segment,
        env: &mut Env,
    ) -> Result<()> {
        if dir == Direction::Out && seg.ack.is_none() && seg.flags.contains(Flags::SYN) {
            self.syns += 1;
        }
        if let Some(lines) = &mut self.lines {
            let tag = if dir == Direction::Out { "out" } else { "in" };
            let line = lines.line(seg);
            writeln!(env.err, "{}", stamped(self.t(now), tag, line))?;
        }
        Ok(())
    }

    fn connected(
        &mut self,
        host: &stack_iface::Interface,
        now: Instant,
        env: &mut Env,
    ) -> Result<()> {
        self.established = Some(now);
        self.last_activity = now;
        if self.verbose
            && let Some(f) = self.flow
        {
            let cc = host.conn(f).map_or("?", |c| c.congestion_control().name());
            if self.listener.is_some() {
                writeln!(
                    env.err,
                    "nettool: connection from {} to {}, congestion control {cc}",
                    f.remote, f.local
                )?;
            } else {
                writeln!(
                    env.err,
                    "nettool: connected to {} from {}, congestion control {cc}",
                    f.remote, f.local
                )?;
            }
        }
        Ok(())
    }

    /// Moves data both ways and the connection towards its end, until it
    /// ends.
    fn run(
        &mut self,
        host: &mut stack_iface::Interface,
        p: &mut Given,
        input: RawFd,
        env: &mut Env,
    ) -> Result<Ending> {
        if self.listener.is_some() {
            // The listener's own state: each connection leaves it later.
            self.state_line(self.start, "CLOSED → LISTEN", env)?;
        }
        let interrupt = env.interrupt;
        let mut run = PipeRun { pipe: self, env };
        let opts = run_options(input);
        let stop = driver::run_with(host, p.link, p.clock, interrupt, &opts, &mut run)?;
        Ok(match stop {
            Stop::Interrupted => Ending::Interrupted,
            Stop::Done => self.ended.unwrap_or(Ending::Interrupted),
        })
    }

    /// Peer data to stdout.
    fn deliver(
        &mut self,
        host: &mut stack_iface::Interface,
        now: Instant,
        env: &mut Env,
    ) -> Result<()> {
        let mut wrote = false;
        let Some(conn) = self.flow.and_then(|f| host.conn_mut(f)) else {
            return Ok(());
        };
        // Straight from the engine's receive buffer to stdout: one copy,
        // into the kernel (`writev` of the buffer's one or two slices).
        // Not `vmsplice`: it would hand the pipe references to pages the
        // buffer reuses for the next bytes, before the reader copied them.
        loop {
            let written = match conn.recv_peek() {
                Ok((a, b)) if !a.is_empty() => write_some(&mut *env.out, a, b),
                _ => break,
            };
            match written {
                Ok(n) => {
                    conn.recv_consume(n);
                    self.delivered += n as u64;
                    wrote = true;
                }
                Err(e) => return self.output_failed(e, conn, now),
            }
        }
        if wrote {
            if let Err(e) = env.out.flush() {
                return self.output_failed(e, conn, now);
            }
            self.last_activity = now;
        }
        Ok(())
    }

    /// stdout failed: a reader that went away ends the run quietly (the
    /// connection reset, as nothing more can be delivered); any other
    /// error is the run's.
    fn output_failed(
        &mut self,
        e: io::Error,
        conn: &mut crate::tcp::Connection,
        now: Instant,
    ) -> Result<()> {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
        self.output_closed = true;
        conn.abort(now);
        Ok(())
    }

    /// stdin to the engine, and our FIN once stdin (or the peer) is done.
    fn feed(&mut self, host: &mut stack_iface::Interface, now: Instant) {
        let Some(flow) = self.flow else {
            return;
        };
        let Some(conn) = host.conn_mut(flow) else {
            return;
        };
        if !self.pending.is_empty() && !self.fin_sent {
            match conn.send(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                    if n > 0 {
                        self.last_activity = now;
                    }
                }
                Err(_) => self.pending.clear(),
            }
        }
        if self.peer_closed && !self.stdin_eof && !self.fin_sent {
            // The peer is done, and netcat ends when its peer does; what
            // stdin already holds still goes out first (it may have been
            // written before the connection even opened): read what is
            // ready now, then no further (see `input`). The FIN follows
            // once `pending` is sent.
            self.draining = true;
        }
        let input_done = self.stdin_eof || (self.peer_closed && !self.draining);
        if input_done && self.pending.is_empty() && !self.fin_sent {
            conn.close(now);
            self.fin_sent = true;
            self.quit_at = self.quit_after.map(|q| now + q);
        }
    }

    /// What stdin held: more to send, or its end. While draining (the
    /// peer closed), a wait of zero that finds nothing, or a chunk's
    /// worth, ends the reading too.
    fn input(&mut self, input: Input<'_>) {
        match input {
            Input::Data(bytes) => self.pending.extend_from_slice(bytes),
            Input::End => self.stdin_eof = true,
            Input::NotReady => {}
        }
        let ended = !matches!(input, Input::Data(_)) || self.pending.len() >= CHUNK;
        if self.draining && ended {
            self.draining = false;
            self.stdin_eof = true;
        }
    }

    /// Whether to read stdin now: while the engine can take more.
    fn wants_input(&self) -> bool {
        self.draining
            || (self.established.is_some()
                && !self.stdin_eof
                && !self.fin_sent
                && self.pending.len() < CHUNK)
    }

    fn ending(&mut self, host: &mut stack_iface::Interface, now: Instant) -> Option<Ending> {
        if self.output_closed {
            return Some(Ending::OutputClosed);
        }
        if let Some(r) = self.closed {
            return Some(Ending::Closed(r));
        }
        // Both FINs are through: TIME-WAIT is the peer's protection against
        // a lost last ACK; netcat does not make the user wait it out.
        if self.state(host) == State::TimeWait {
            return Some(Ending::Closed(Reason::Normal));
        }
        if let Some(w) = self.wait {
            if self.established.is_none()
                && self.state(host) != State::Listen
                && now - self.start >= w
            {
                self.conn(host)?.abort(now);
                return Some(Ending::ConnectTimeout);
            }
            if self.established.is_some() && !self.fin_sent && now - self.last_activity >= w {
                self.conn(host)?.close(now);
                self.fin_sent = true;
                self.quit_at = Some(now + w);
                return Some(Ending::Idle);
            }
        }
        if self.quit_at.is_some_and(|q| now >= q) {
            if let Some(c) = self.conn(host) {
                c.abort(now);
            }
            return Some(Ending::Quit);
        }
        None
    }

    fn next_deadline(&self, host: &stack_iface::Interface) -> Option<Instant> {
        if self.draining {
            // Read what stdin holds without waiting.
            return Some(Instant::ZERO);
        }
        let mut t = host.poll_timeout();
        let mut add = |d: Option<Instant>| {
            if let Some(d) = d {
                t = Some(t.map_or(d, |x| x.min(d)));
            }
        };
        add(self.quit_at);
        if let Some(w) = self.wait {
            add(Some(if self.established.is_some() {
                self.last_activity + w
            } else {
                self.start + w
            }));
        }
        t
    }

    /// The summary (-v), the error for a failed connection, and the outcome.
    fn finish(
        &self,
        host: &stack_iface::Interface,
        end: Ending,
        remote: SocketAddr,
        now: Instant,
        env: &mut Env,
    ) -> Result<Outcome> {
        let stats = self.flow.and_then(|f| host.stats(f)).unwrap_or_default();
        self.drawing.draw(env)?;
        // A listener stopped while it waited (Ctrl-C after `-k`'s last
        // client) had no connection to sum up.
        let no_connection = self.listener.is_some() && self.flow.is_none();
        if self.verbose && !no_connection {
            writeln!(env.err, "nettool: {}", self.transfer(&stats, now))?;
            if let Some(line) = self.dropped.line() {
                writeln!(env.err, "nettool: {line}")?;
            }
            if let Some(n) = self.receive_drops.filter(|&n| n > 0) {
                writeln!(
                    env.err,
                    "nettool: the kernel dropped {} on this interface before nettool could \
                     read them (its socket buffer was full); TCP resends what was ours",
                    count(n, "frame")
                )?;
            }
        }
        // Segments are reported only with --trace: before the connection
        // opened, what it sent were its SYNs.
        let syns = if self.established.is_none() {
            u64::from(self.syns).max(stats.segments_sent)
        } else {
            u64::from(self.syns)
        };
        let (outcome, error) = self.outcome(end, remote, syns);
        if let Some(error) = error {
            writeln!(env.err, "nettool: {error}")?;
        }
        Ok(outcome)
    }

    /// `sent … bytes (… Mbit/s), received …`: the stream's bytes, and the
    /// wire's count only where it differs (retransmissions ours, or the
    /// peer's).
    fn transfer(&self, stats: &stack_iface::Stats, now: Instant) -> String {
        let open = self.established.map_or(Duration::ZERO, |t| now - t);
        let secs = open.as_secs_f64().max(1e-6);
        let rate = |bytes: u64| bytes as f64 * 8.0 / secs / 1e6;
        let sent = stats.stream_bytes_sent();
        let wire = |stream: u64, wire: u64| {
            if wire == stream {
                String::new()
            } else {
                format!("; {wire} on the wire")
            }
        };
        format!(
            "sent {sent} bytes ({:.1} Mbit/s{}), received {} bytes ({:.1} Mbit/s{}), {} retransmission{}, open for {}",
            rate(sent),
            wire(sent, stats.bytes_sent),
            self.delivered,
            rate(self.delivered),
            wire(self.delivered, stats.bytes_received),
            stats.retransmissions,
            if stats.retransmissions == 1 { "" } else { "s" },
            human(open)
        )
    }

    /// The outcome of how the run ended, and the error to print for a
    /// failed connection.
    fn outcome(&self, end: Ending, remote: SocketAddr, syns: u64) -> (Outcome, Option<String>) {
        let opened = self.established.is_some();
        let error = match end {
            Ending::Closed(Reason::Normal) | Ending::Idle | Ending::Quit | Ending::OutputClosed => {
                return (Outcome::Success, None);
            }
            Ending::Interrupted => return (Outcome::Interrupted, None),
            Ending::Closed(Reason::Aborted) => return (Outcome::Negative, None),
            Ending::ConnectTimeout => format!("connection to {remote} timed out (-w)"),
            Ending::Closed(Reason::Reset) if !opened => format!("connection to {remote} refused"),
            Ending::Closed(Reason::Reset) => format!("connection reset by {remote}"),
            Ending::Closed(Reason::TimedOut) if !opened => {
                format!(
                    "no answer from {remote} after {}",
                    crate::text::count(syns, "SYN")
                )
            }
            Ending::Closed(Reason::TimedOut) => {
                format!("connection to {remote} timed out: the peer stopped acknowledging")
            }
        };
        (Outcome::Negative, Some(error))
    }
}

/// `HOST PORT[-PORT]` to knock at (TCP's `-z`, and UDP's `-u -z`), of
/// either family.
pub(super) fn zero_io_target(args: &NcArgs) -> Result<(IpAddr, Vec<u16>)> {
    let [host, ports] = args.operands.as_slice() else {
        bail!("nettool nc -z needs HOST PORT[-PORT]");
    };
    Ok((
        super::resolve_host_ip(host, args.family.family())?,
        parse_ports(ports)?,
    ))
}

/// `-z`: for each port, a handshake and a RST; no data. Every knock comes
/// from one source port, which the setup claims once for the whole port
/// range (one guard over all of it) before the privileges are dropped:
/// the knocks are told apart by their destination ports.
fn zero_io(args: &NcArgs, env: &mut Env) -> Result<Outcome> {
    let (dst, ports) = zero_io_target(args)?;
    let Some(path) = connect_path(dst, args, env)? else {
        return Ok(Outcome::Negative);
    };
    let dports = (
        ports.iter().copied().min().unwrap_or(0),
        ports.iter().copied().max().unwrap_or(0),
    );
    let flows = Flows::Probes {
        remote: dst,
        dports,
        sport_inc: false,
    };
    let stack = path.open(args.source_port, flows, &LINK, env.pcap.as_ref(), env.err)?;
    plumbed(&path, stack, env, |given, _, env| {
        zero_io_over(args, given, env)
    })
}

/// `-z` over what it is `given`: every knock from its local address.
pub fn zero_io_over(args: &NcArgs, given: Given, env: &mut Env) -> Result<Outcome> {
    let local = given.local;
    knocks(args, given, env, |_| Ok((local, None)))
}

/// Knocks at each port of `args` in turn, from where `claim` says (and
/// holding what it returns until the knock is over); netcat's line for
/// each with `-v`. Success when any port was open.
fn knocks(
    args: &NcArgs,
    mut given: Given,
    env: &mut Env,
    mut claim: impl FnMut(SocketAddr) -> Result<(SocketAddr, Option<Claim>)>,
) -> Result<Outcome> {
    let (dst, ports) = zero_io_target(args)?;
    let mut any_open = false;
    for port in ports {
        let remote = SocketAddr::new(dst, port);
        // Dropped at the end of the port: its guard goes with it.
        let (local, _claim) = claim(remote)?;
        let Some(opening) = knock(&mut given, local, remote, args, env)? else {
            return Ok(Outcome::Interrupted);
        };
        any_open |= opening == Opening::Open;
        if args.verbose {
            report_knock(remote, opening, env)?;
        }
    }
    Ok(Outcome::from_answer(any_open))
}

/// One `-z` port: a handshake from `local`, then a RST; how it opened, or
/// `None` when interrupted.
fn knock(
    given: &mut Given,
    local: SocketAddr,
    remote: SocketAddr,
    args: &NcArgs,
    env: &mut Env,
) -> Result<Option<Opening>> {
    let now = given.clock.now();
    // Without -w, a SYN and one retry (3 s in all); with -w, retries
    // as a connection's, cut off when -w has passed.
    let config = tcp::Config {
        syn_retries: if args.wait.is_some() {
            tcp::Config::default().syn_retries
        } else {
            1
        },
        ..engine_config(given.path, args)
    };
    let iss = IsnGenerator::new(random_bytes::<16>()).isn(now, local, remote);
    let host = TcpHost::new(
        host_config(given.path, false),
        Connection::connect(now, config, local, remote, iss),
    );
    let plan = Plan {
        third_ack: ThirdAck::Send,
        payload: None,
        end: End::Reset,
        linger: Duration::ZERO,
    };
    let mut knock = Bounded {
        session: Session::new(host, plan),
        until: args.wait.map(|w| now + w),
        expired: false,
    };
    let (link, clock) = (&mut *given.link, &mut *given.clock);
    let stop = driver::run(&mut knock, link, clock, env.interrupt, |_, _| Ok(()))?;
    Ok((stop != Stop::Interrupted).then(|| knock.session.opening()))
}

/// A `-z` knock's session, cut off at `until` (`-w`): then it has not
/// opened, whatever retries the engine had left.
struct Bounded {
    session: Session,
    until: Option<Instant>,
    expired: bool,
}

impl Machine for Bounded {
    type Event = <Session as Machine>::Event;

    fn handle_frame(&mut self, now: Instant, frame: &[u8], checksum: RxChecksum) {
        self.session.handle_frame(now, frame, checksum);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.until.is_some_and(|u| now >= u) && !self.session.is_done() {
            self.expired = true;
            self.session.abort(now);
        }
        self.session.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.session.poll_transmit(now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let inner = self.session.poll_timeout();
        match (inner, self.until.filter(|_| !self.expired)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn poll_event(&mut self) -> Option<Self::Event> {
        self.session.poll_event()
    }

    fn is_done(&self) -> bool {
        self.expired || self.session.is_done()
    }

    fn abort(&mut self, now: Instant) {
        self.session.abort(now);
    }
}

/// netcat's line for a `-z` port (with `-v`).
fn report_knock(remote: SocketAddr, opening: Opening, env: &mut Env) -> Result<()> {
    let (dst, port) = (remote.ip(), remote.port());
    match opening {
        Opening::Open => writeln!(
            env.err,
            "Connection to {dst} {port} port [tcp/*] succeeded!"
        )?,
        Opening::Refused => writeln!(
            env.err,
            "nettool: connect to {dst} port {port} (tcp) failed: Connection refused"
        )?,
        Opening::Unreachable { from, kind } => writeln!(
            env.err,
            "nettool: connect to {dst} port {port} (tcp) failed: {} from {from}",
            kind.describe()
        )?,
        Opening::NoAnswer | Opening::Pending => writeln!(
            env.err,
            "nettool: connect to {dst} port {port} (tcp) failed: no answer"
        )?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn one_drop_reads_singular() {
        let mut d = Dropped::default();
        d.segment(tcp::DropReason::SynInWindow);
        d.malformed(crate::wire::WireError::BadChecksum);
        assert_eq!(
            d.line().as_deref(),
            Some("dropped 1 segment (syn-in-window 1) and 1 malformed frame (bad checksum 1)")
        );
    }

    #[test]
    fn drops_are_counted_by_reason_commonest_first() {
        use crate::wire::WireError;
        let mut d = Dropped::default();
        assert_eq!(d.line(), None);
        for _ in 0..3 {
            d.segment(tcp::DropReason::RstNotExact);
        }
        d.segment(tcp::DropReason::SynInWindow);
        assert_eq!(
            d.line().as_deref(),
            Some("dropped 4 segments (rst-not-exact 3, syn-in-window 1)")
        );
        d.malformed(WireError::BadChecksum);
        d.malformed(WireError::BadLength);
        d.malformed(WireError::BadLength);
        assert_eq!(
            d.line().as_deref(),
            Some(
                "dropped 4 segments (rst-not-exact 3, syn-in-window 1) and 3 malformed \
                 frames (bad length field 2, bad checksum 1)"
            )
        );
    }

    #[rstest]
    #[case("80", vec![80])]
    #[case("7-9", vec![7, 8, 9])]
    #[case("22-22", vec![22])]
    #[case("ssh,http", vec![22, 80])]
    #[case("echo-9", vec![7, 8, 9])]
    fn port_ranges_parse(#[case] text: &str, #[case] want: Vec<u16>) {
        assert_eq!(parse_ports(text).unwrap(), want);
    }

    #[rstest]
    #[case("0")]
    #[case("9-7")]
    #[case("1-70000")]
    #[case("nosuchservice")]
    #[case("")]
    fn bad_port_ranges_are_refused(#[case] text: &str) {
        assert!(parse_ports(text).is_err());
    }
    fn nc_args(argv: &[&str]) -> NcArgs {
        use clap::Parser;
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Nc(args) => args,
            other => panic!("{other:?}"),
        }
    }

    #[rstest]
    #[case(&["nettool", "nc", "h", "1"], tcp::CongestionControl::Cubic)]
    #[case(&["nettool", "nc", "--cc", "cubic", "h", "1"], tcp::CongestionControl::Cubic)]
    #[case(&["nettool", "nc", "--cc", "reno", "h", "1"], tcp::CongestionControl::Reno)]
    fn cc_flag_picks_the_algorithm(#[case] argv: &[&str], #[case] want: tcp::CongestionControl) {
        assert_eq!(congestion_control(nc_args(argv).cc), want);
    }

    #[test]
    fn an_unknown_cc_is_a_usage_error() {
        use clap::Parser;
        let err = crate::cli::Cli::try_parse_from(["nettool", "nc", "--cc", "bbr", "h", "1"])
            .unwrap_err();
        assert!(err.to_string().contains("cubic"), "{err}");
    }
}
