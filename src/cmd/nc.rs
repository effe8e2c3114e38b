//! `nettool nc`: netcat on nettool's own TCP engine.
//!
//! stdin goes to the peer and the peer's bytes go to stdout, through an
//! [`Interface`](crate::stack::iface::Interface) over a raw link; no kernel
//! socket carries the data. One loop waits on the link and on stdin at
//! once, and only reads stdin while the engine can take more (so a fast
//! stdin cannot grow memory without bound). A listener completes any
//! number of handshakes side by side and serves one connection at a time.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::RawFd;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::Env;
use super::tcp::SegmentLines;
use crate::cli::{CongestionControlArg, NcArgs};
use crate::clock::{Clock, SystemClock};
use crate::driver::{self, Stop};
use crate::link::Link;
use crate::machine::Machine;
use crate::outcome::Outcome;
use crate::setup::{Flows, Found, LinkOptions, Path, Request};
use crate::stack::host::{HostConfig, TcpHost};
use crate::stack::iface::{
    self as stack_iface, Direction, FlowKey, HostEvent, InterfaceConfig, ListenerConfig,
};
use crate::stack::session::{End, Opening, Plan, Session, ThirdAck};
use crate::sys::random_bytes;
use crate::tcp::{self, Connection, Event as TcpEvent, IsnGenerator, IssSource, Reason, State};
use crate::time::{Instant, human};

/// Largest chunk read from stdin at once, and the most held back while
/// the engine's send buffer is full.
const CHUNK: usize = 64 * 1024;
/// Longest single wait, so Ctrl-C and deadlines are noticed promptly.
const MAX_WAIT: Duration = Duration::from_millis(200);

pub fn run(args: NcArgs, env: &mut Env) -> Result<Outcome> {
    if args.zero_io {
        zero_io(&args, env)
    } else if args.listen {
        listen(&args, env)
    } else {
        connect(&args, env)
    }
}

fn parse_port(text: &str) -> Result<u16> {
    text.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .with_context(|| format!("{text:?} is not a TCP port (1 to 65535)"))
}

/// `N` or `N-M`.
fn parse_ports(text: &str) -> Result<Vec<u16>> {
    match text.split_once('-') {
        None => Ok(vec![parse_port(text)?]),
        Some((a, b)) => {
            let (a, b) = (parse_port(a)?, parse_port(b)?);
            if a > b {
                bail!("the port range {text:?} runs backwards");
            }
            Ok((a..=b).collect())
        }
    }
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
    rx_timestamps: false,
    tx_timestamps: false,
};

fn iface_config(path: &Path, trace: bool) -> InterfaceConfig {
    InterfaceConfig {
        ip: path.source,
        mac: path.iface.mac,
        next_hop_mac: path.next_hop_mac,
        answer_arp: !path.owned_by_kernel,
        trace,
    }
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
fn connect_path(dst: Ipv4Addr, args: &NcArgs, env: &mut Env) -> Result<Option<Path>> {
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
        Found::NoArp { next_hop, iface } => {
            writeln!(
                env.err,
                "nettool: the next hop {next_hop} did not answer ARP on {iface}"
            )?;
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

fn connect(args: &NcArgs, env: &mut Env) -> Result<Outcome> {
    let [host, port] = args.operands.as_slice() else {
        bail!("nettool nc needs HOST PORT (or -l [ADDRESS] PORT)");
    };
    let dst = super::resolve_host(host)?;
    let port = parse_port(port)?;
    let Some(path) = connect_path(dst, args, env)? else {
        return Ok(Outcome::Negative);
    };
    let remote = SocketAddrV4::new(dst, port);
    let flows = Flows::Connection { remote };
    let mut stack = path.open(args.source_port, flows, &LINK, env.pcap.as_ref(), env.err)?;
    let local = stack.local();
    let mut clock = SystemClock::new();
    let start = clock.now();
    let config = engine_config(&path, args);
    let iss = IsnGenerator::new(random_bytes::<16>()).isn(start, local, remote);
    let conn = Connection::connect(start, config, local, remote, iss);
    let mut iface = stack_iface::Interface::new(iface_config(&path, args.trace));
    let flow = iface.open(conn);
    let mut pipe = Pipe::new(args, start, Some(flow));
    let end = pipe.run(&mut iface, stack.link.as_mut(), &mut clock, env)?;
    pipe.receive_drops = stack.link.receive_drops();
    let outcome = pipe.finish(&iface, end, remote, clock.now(), env);
    stack.teardown();
    outcome
}

fn listen(args: &NcArgs, env: &mut Env) -> Result<Outcome> {
    let (addr, port) = match args.operands.as_slice() {
        [port] => (None, parse_port(port)?),
        [addr, port] => (Some(super::resolve_host(addr)?), parse_port(port)?),
        _ => bail!("nettool nc -l needs [ADDRESS] PORT"),
    };
    let path = Path::listen(addr.or(args.source), args.interface.as_deref())?;
    let mut stack = path.open(
        Some(port),
        Flows::Listener,
        &LINK,
        env.pcap.as_ref(),
        env.err,
    )?;
    let local_addr = stack.local();
    let mut clock = SystemClock::new();
    let isn = IsnGenerator::new(random_bytes::<16>());
    let config = engine_config(&path, args);
    // Handshakes proceed side by side (a flood of spoofed SYNs only cycles
    // through the half-open queue); data flows on one connection at a time.
    let mut iface = stack_iface::Interface::new(iface_config(&path, args.trace));
    iface.listen(
        local_addr,
        ListenerConfig {
            tcp: config,
            iss: IssSource::Generated(isn),
            backlog: stack_iface::DEFAULT_BACKLOG,
        },
    );
    if args.verbose {
        writeln!(
            env.err,
            "nettool: listening on {local_addr} ({})",
            path.iface.name
        )?;
    }
    let outcome = loop {
        let mut pipe = Pipe::new(args, clock.now(), None);
        pipe.listener = Some(local_addr);
        let end = pipe.run(&mut iface, stack.link.as_mut(), &mut clock, env)?;
        pipe.receive_drops = stack.link.receive_drops();
        let remote = pipe
            .flow
            .map_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0), |f| f.remote);
        let outcome = pipe.finish(&iface, end, remote, clock.now(), env)?;
        if !args.keep_open || outcome == Outcome::Interrupted {
            if args.verbose {
                report_listener(&iface, local_addr, env)?;
            }
            break outcome;
        }
        if let Some(flow) = pipe.flow {
            // netcat does not wait out TIME-WAIT; the next one may start.
            iface.remove(flow);
        }
    };
    stack.teardown();
    Ok(outcome)
}

/// `-l -v` on exit: what the half-open and accept queues turned away.
fn report_listener(
    iface: &stack_iface::Interface,
    local: SocketAddrV4,
    env: &mut Env,
) -> Result<()> {
    let stats = iface.listener_stats(local).unwrap_or_default();
    if stats.evicted > 0 {
        writeln!(
            env.err,
            "nettool: {} of {} half-open connection(s) evicted to make room for newer SYNs \
             (a SYN flood?)",
            stats.evicted, stats.syns
        )?;
    }
    if stats.refused > 0 {
        writeln!(
            env.err,
            "nettool: {} SYN(s) dropped while {} connections waited to be served",
            stats.refused,
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
    /// `-q` expired after the end of stdin; reset.
    Quit,
    Interrupted,
}

/// Largest super-frame payload: an IPv4 datagram holds 65535 bytes, less
/// the IP header and the largest TCP header.
const SUPER_FRAME_PAYLOAD: usize = 65535 - 20 - 60;

/// Sends everything the host has to send now, as super-frames where the
/// link can have the kernel segment them.
fn transmit(host: &mut stack_iface::Interface, link: &mut dyn Link, now: Instant) -> Result<()> {
    if !link.can_segment() {
        while let Some(frame) = host.poll_transmit(now) {
            link.send(&frame)?;
        }
        return Ok(());
    }
    while let Some((frame, mss)) = host.poll_transmit_coalesced(now, SUPER_FRAME_PAYLOAD) {
        match mss {
            Some(mss) => link.send_segmented(&frame, mss)?,
            None => link.send(&frame)?,
        }
    }
    Ok(())
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
    /// The connection served; `None` until a listener accepts one.
    flow: Option<FlowKey>,
    /// The listener to accept from.
    listener: Option<SocketAddrV4>,
}

fn poll_two(a: Option<RawFd>, b: Option<RawFd>, timeout: Duration) -> Result<(bool, bool)> {
    let mut fds = Vec::with_capacity(2);
    for fd in [a, b].into_iter().flatten() {
        fds.push(libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
    }
    if fds.is_empty() {
        std::thread::sleep(timeout);
        return Ok((true, false));
    }
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: a valid array of pollfd of the given length.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        if err.kind() == std::io::ErrorKind::Interrupted {
            return Ok((false, false));
        }
        return Err(err.into());
    }
    let ready = |fd: Option<RawFd>| {
        fd.is_some_and(|fd| {
            fds.iter().any(|p| {
                p.fd == fd && p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
            })
        })
    };
    Ok((a.is_none() || ready(a), ready(b)))
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
            flow,
            listener: None,
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

    fn events(
        &mut self,
        host: &mut stack_iface::Interface,
        _now: Instant,
        env: &mut Env,
    ) -> Result<()> {
        while let Some(ev) = host.poll_event() {
            // Only the served connection's (the listener's others are kept
            // with them until accepted), and the link's own.
            if ev.flow.is_some() && ev.flow != self.flow {
                continue;
            }
            let now = ev.at;
            match ev.what {
                HostEvent::Segment { dir, seg } => {
                    if dir == Direction::Out
                        && seg.ack.is_none()
                        && seg.flags.contains(crate::wire::tcp::Flags::SYN)
                    {
                        self.syns += 1;
                    }
                    if let Some(lines) = &mut self.lines {
                        let tag = if dir == Direction::Out { "out" } else { "in" };
                        let line = lines.line(&seg);
                        writeln!(
                            env.err,
                            "{:>10.6} {tag:<5} {line}",
                            (now - self.start).as_secs_f64()
                        )?;
                    }
                }
                HostEvent::Tcp(TcpEvent::StateChanged { from, to }) => {
                    if self.verbose || self.lines.is_some() {
                        writeln!(env.err, "{:>10.6} state {from} → {to}", self.t(now))?;
                    }
                }
                HostEvent::Tcp(TcpEvent::Connected) => {
                    self.established = Some(now);
                    self.last_activity = now;
                    if self.verbose
                        && let Some(f) = self.flow
                    {
                        writeln!(
                            env.err,
                            "nettool: connected to {} from {}, congestion control {}",
                            f.remote,
                            f.local,
                            host.conn(f).map_or("?", |c| c.congestion_control().name())
                        )?;
                    }
                }
                HostEvent::Tcp(TcpEvent::PeerClosed) => self.peer_closed = true,
                HostEvent::Tcp(TcpEvent::Closed(r)) => self.closed = Some(r),
                HostEvent::Icmp { from, kind } => {
                    writeln!(env.err, "nettool: {} from {from}", kind.describe())?;
                    if self.established.is_none()
                        && let Some(c) = self.conn(host)
                    {
                        c.abort(now);
                    }
                }
                // `deliver` reads whatever is there on every turn.
                HostEvent::Readable
                | HostEvent::ArpAnswered { .. }
                | HostEvent::Withheld { .. }
                | HostEvent::Malformed { .. }
                | HostEvent::Tcp(TcpEvent::SegmentDropped { .. })
                | HostEvent::Tcp(TcpEvent::OutOfOrderQueued { .. }) => {}
            }
        }
        Ok(())
    }

    /// Moves data both ways and the connection towards its end, until it
    /// ends.
    fn run(
        &mut self,
        host: &mut stack_iface::Interface,
        link: &mut dyn Link,
        clock: &mut SystemClock,
        env: &mut Env,
    ) -> Result<Ending> {
        let mut buf = vec![0u8; CHUNK];
        let stdin_fd: RawFd = 0;
        if self.listener.is_some() && (self.verbose || self.lines.is_some()) {
            // The listener's own state: each connection leaves it later.
            writeln!(env.err, "{:>10.6} state CLOSED → LISTEN", 0.0)?;
        }
        loop {
            let now = clock.now();
            if host.poll_timeout().is_some_and(|t| t <= now) {
                host.handle_timeout(now);
            }
            self.accept(host);
            self.events(host, now, env)?;
            self.deliver(host, &mut buf, now, env)?;
            if self.established.is_some() {
                self.feed(host, now);
            }
            transmit(host, link, now)?;
            self.events(host, now, env)?;
            if let Some(ending) = self.ending(host, now) {
                if ending != Ending::Idle {
                    // Send whatever the ending produced (a RST).
                    transmit(host, link, now)?;
                    self.events(host, now, env)?;
                    return Ok(ending);
                }
            }
            if env.interrupt.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(c) = self.conn(host) {
                    c.abort(now);
                }
                transmit(host, link, now)?;
                return Ok(Ending::Interrupted);
            }
            let want_stdin = self.established.is_some()
                && !self.stdin_eof
                && !self.fin_sent
                && self.pending.len() < CHUNK;
            let wait = self
                .next_deadline(host)
                .map_or(MAX_WAIT, |t| (t - now).min(MAX_WAIT));
            let (link_ready, stdin_ready) =
                poll_two(link.poll_fd(), want_stdin.then_some(stdin_fd), wait)?;
            if link_ready {
                // A batch at a time, so stdin and timers are not starved.
                for _ in 0..256 {
                    let Some(rx) = link.recv(Duration::ZERO)? else {
                        break;
                    };
                    host.handle_frame(clock.now(), rx.frame, rx.checksum);
                }
            }
            if stdin_ready {
                // SAFETY: read(2) into a buffer we own; poll said it will not block.
                let n = unsafe { libc::read(stdin_fd, buf.as_mut_ptr().cast(), buf.len()) };
                match n {
                    0 => self.stdin_eof = true,
                    n if n > 0 => self.pending.extend_from_slice(&buf[..n as usize]),
                    _ => {
                        let err = std::io::Error::last_os_error();
                        if !matches!(
                            err.kind(),
                            std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
                        ) {
                            return Err(err).context("reading stdin");
                        }
                    }
                }
            }
        }
    }

    /// Peer data to stdout.
    fn deliver(
        &mut self,
        host: &mut stack_iface::Interface,
        buf: &mut [u8],
        now: Instant,
        env: &mut Env,
    ) -> Result<()> {
        let mut wrote = false;
        let Some(conn) = self.conn(host) else {
            return Ok(());
        };
        while let Ok(n) = conn.recv(buf) {
            if n == 0 {
                break;
            }
            env.out.write_all(&buf[..n])?;
            self.delivered += n as u64;
            wrote = true;
        }
        if wrote {
            env.out.flush()?;
            self.last_activity = now;
        }
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
            // written before the connection even opened).
            self.drain_ready_stdin();
            if !self.pending.is_empty() {
                if let Ok(n) = conn.send(&self.pending) {
                    self.pending.drain(..n);
                }
            }
            // Read no further: the FIN follows once `pending` is sent.
            self.stdin_eof = true;
        }
        let input_done = self.stdin_eof || self.peer_closed;
        if input_done && self.pending.is_empty() && !self.fin_sent {
            conn.close(now);
            self.fin_sent = true;
            self.quit_at = self.quit_after.map(|q| now + q);
        }
    }

    /// Reads what stdin has ready now, without waiting.
    fn drain_ready_stdin(&mut self) {
        let mut buf = vec![0u8; CHUNK];
        while self.pending.len() < CHUNK {
            match poll_two(None, Some(0), Duration::ZERO) {
                Ok((_, true)) => {}
                _ => return,
            }
            // SAFETY: read(2) into a buffer we own; poll said it will not block.
            let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                if n == 0 {
                    self.stdin_eof = true;
                }
                return;
            }
            self.pending.extend_from_slice(&buf[..n as usize]);
        }
    }

    fn ending(&mut self, host: &mut stack_iface::Interface, now: Instant) -> Option<Ending> {
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
        remote: SocketAddrV4,
        now: Instant,
        env: &mut Env,
    ) -> Result<Outcome> {
        let stats = self.flow.and_then(|f| host.stats(f)).unwrap_or_default();
        if self.verbose {
            let open = self.established.map_or(Duration::ZERO, |t| now - t);
            let secs = open.as_secs_f64().max(1e-6);
            let rate = |bytes: u64| bytes as f64 * 8.0 / secs / 1e6;
            // The stream's bytes; the wire's count only where it differs
            // (retransmissions ours, or the peer's).
            let sent = stats.bytes_sent - stats.bytes_retransmitted;
            let wire = |stream: u64, wire: u64| {
                if wire == stream {
                    String::new()
                } else {
                    format!("; {wire} on the wire")
                }
            };
            writeln!(
                env.err,
                "nettool: sent {sent} bytes ({:.1} Mbit/s{}), received {} bytes ({:.1} Mbit/s{}), {} retransmission{}, open for {}",
                rate(sent),
                wire(sent, stats.bytes_sent),
                self.delivered,
                rate(self.delivered),
                wire(self.delivered, stats.bytes_received),
                stats.retransmissions,
                if stats.retransmissions == 1 { "" } else { "s" },
                human(open)
            )?;
            if let Some(n) = self.receive_drops.filter(|&n| n > 0) {
                writeln!(
                    env.err,
                    "nettool: the kernel dropped {n} frame(s) on this interface before nettool \
                     could read them (its socket buffer was full); TCP resends what was ours"
                )?;
            }
        }
        Ok(match end {
            Ending::Closed(Reason::Normal) | Ending::Idle | Ending::Quit => Outcome::Success,
            Ending::Interrupted => Outcome::Interrupted,
            Ending::ConnectTimeout => {
                writeln!(env.err, "nettool: connection to {remote} timed out (-w)")?;
                Outcome::Negative
            }
            Ending::Closed(Reason::Reset) if self.established.is_none() => {
                writeln!(env.err, "nettool: connection to {remote} refused")?;
                Outcome::Negative
            }
            Ending::Closed(Reason::Reset) => {
                writeln!(env.err, "nettool: connection reset by {remote}")?;
                Outcome::Negative
            }
            Ending::Closed(Reason::TimedOut) if self.established.is_none() => {
                writeln!(
                    env.err,
                    "nettool: no answer from {remote} after {} SYNs",
                    self.syns
                )?;
                Outcome::Negative
            }
            Ending::Closed(Reason::TimedOut) => {
                writeln!(
                    env.err,
                    "nettool: connection to {remote} timed out: the peer stopped acknowledging"
                )?;
                Outcome::Negative
            }
            Ending::Closed(Reason::Aborted) => Outcome::Negative,
        })
    }
}

/// `-z`: for each port, a handshake and a RST; no data.
fn zero_io(args: &NcArgs, env: &mut Env) -> Result<Outcome> {
    let [host, ports] = args.operands.as_slice() else {
        bail!("nettool nc -z needs HOST PORT[-PORT]");
    };
    let dst = super::resolve_host(host)?;
    let ports = parse_ports(ports)?;
    let Some(path) = connect_path(dst, args, env)? else {
        return Ok(Outcome::Negative);
    };
    let mut link = path.open_link(&LINK, env.pcap.as_ref(), env.err)?;
    let mut any_open = false;
    for port in ports {
        let remote = SocketAddrV4::new(dst, port);
        let Some(opening) = knock(&path, remote, link.as_mut(), args, env)? else {
            return Ok(Outcome::Interrupted);
        };
        any_open |= opening == Opening::Open;
        if args.verbose {
            report_knock(remote, opening, env)?;
        }
    }
    Ok(Outcome::from_answer(any_open))
}

/// One `-z` port: a handshake, then a RST; how it opened, or `None` when
/// interrupted.
fn knock(
    path: &Path,
    remote: SocketAddrV4,
    link: &mut dyn Link,
    args: &NcArgs,
    env: &mut Env,
) -> Result<Option<Opening>> {
    // Dropped at the end of the port: its guard goes with it.
    let claim = path.claim(args.source_port, Flows::Connection { remote })?;
    let local = claim.local;
    let mut clock = SystemClock::new();
    let now = clock.now();
    let config = tcp::Config {
        syn_retries: 1,
        ..engine_config(path, args)
    };
    let iss = IsnGenerator::new(random_bytes::<16>()).isn(now, local, remote);
    let host = TcpHost::new(
        host_config(path, false),
        Connection::connect(now, config, local, remote, iss),
    );
    let plan = Plan {
        third_ack: ThirdAck::Send,
        payload: None,
        end: End::Reset,
        linger: Duration::ZERO,
    };
    let mut session = Session::new(host, plan);
    let stop = driver::run(&mut session, link, &mut clock, env.interrupt, |_, _| Ok(()))?;
    Ok((stop != Stop::Interrupted).then(|| session.opening()))
}

/// netcat's line for a `-z` port (with `-v`).
fn report_knock(remote: SocketAddrV4, opening: Opening, env: &mut Env) -> Result<()> {
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

    #[rstest]
    #[case("80", vec![80])]
    #[case("7-9", vec![7, 8, 9])]
    #[case("22-22", vec![22])]
    fn port_ranges_parse(#[case] text: &str, #[case] want: Vec<u16>) {
        assert_eq!(parse_ports(text).unwrap(), want);
    }

    #[rstest]
    #[case("0")]
    #[case("9-7")]
    #[case("1-70000")]
    #[case("http")]
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
