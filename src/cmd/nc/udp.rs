//! `nettool nc -u`: netcat over UDP, on a [`UdpSocket`] the interface
//! hosts (no kernel socket carries a datagram).
//!
//! - Client (`nc -u HOST PORT`): each read of stdin is one datagram (cut
//!   at the largest the path carries unfragmented, or at `--max-datagram`,
//!   when the endpoint sends it as IPv4 fragments); each datagram received
//!   is written to stdout whole, in one write. An ICMP error quoting one
//!   of our datagrams ends the run at once with exit 1 ("port closed:
//!   ICMP port unreachable from …"): nettool sees it arrive, it does not
//!   wait for a later send to fail as a socket does. After the end of
//!   stdin, replies are awaited `--quit-after` (default 1 s), since UDP
//!   carries no end of its own.
//! - Listener (`nc -u -l [ADDRESS] PORT`): datagrams from any peer to
//!   stdout; stdin goes to the most recent peer (nothing is read before
//!   someone sent). Without `-k` only the first peer is served; `-v` names
//!   each peer once. The end of stdin does not end a listener (only
//!   `--quit-after`, `-w` or Ctrl-C do).
//! - `-w` ends either after that long without a datagram either way.
//! - `-z` (zero I/O): each port of a range open (a UDP reply), closed
//!   (ICMP port unreachable) or open|filtered (silence), by `scan --udp`'s
//!   [`UdpScanner`], which respects the peer's ICMP rate limit.
//!
//! The source port is held by a bound, never-read kernel UDP socket, so
//! the kernel does not answer our peers' datagrams with port unreachables
//! ([`crate::sys::reserve_udp_port`]).

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::Duration;

use anyhow::{Result, bail};

use super::{connect_path, parse_port, plumbed};
use crate::cli::NcArgs;
use crate::cmd::{Env, Given};
use crate::driver::{self, Handler, Input, Options, Stop};
use crate::outcome::Outcome;
use crate::probe::udpscan::{Config as ScanConfig, UdpScanner, UdpState};
use crate::setup::{Flows, LinkOptions, Path};
use crate::stack::iface::{ErrorKind, InterfaceConfig};
use crate::stack::raw::{Hosted, RawHost};
use crate::stack::udp::{Event, Peer, UdpConfig, UdpSocket};
use crate::sys::random_u64;
use crate::time::{Instant, earliest};
use crate::wire::icmp::IcmpKind;
use crate::wire::icmpv6::Icmpv6Kind;
use crate::wire::{ipv4, ipv6, udp};

/// How long a client waits for replies after the end of stdin, unless
/// `--quit-after` says otherwise: long enough for a DNS or echo answer
/// across a LAN or the Internet, short enough to feel immediate.
pub const DEFAULT_QUIT_AFTER: Duration = Duration::from_secs(1);

/// Frames queued into the transmit ring between flushes: a datagram cut
/// into fragments goes out in one system call, not one per fragment.
const TX_BATCH: usize = 256;

/// nc -u's link: room for bursts of datagrams, and frames behind a
/// `virtio_net_hdr` (the offloading link): the kernel then copies each
/// frame out of the transmit ring into its buffer at once, where without
/// the header a veth or bridge must copy the ring's pages again
/// (`skb_copy_ubufs`; see [`crate::link::ring`]): about 15% less CPU for
/// 16 KiB datagrams in 12 fragments. No TCP is sent, so nothing is
/// segmented by the kernel.
const LINK: LinkOptions = LinkOptions {
    offloading: true,
    receive_buffer: Some(4 << 20),
    tx_ring: Some(2 * TX_BATCH),
    rx_timestamps: false,
    tx_timestamps: false,
    rx_ring: None,
};

pub(super) fn run(args: &NcArgs, env: &mut Env) -> Result<Outcome> {
    refuse_tcp_options(args)?;
    if args.zero_io {
        return zero_io(args, env);
    }
    if args.listen {
        let (addr, port) = match args.operands.as_slice() {
            [port] => (None, parse_port(port)?),
            [addr, port] => {
                let family = args.family.family();
                let addr = crate::cmd::resolve_host_ip(addr, family)?;
                (Some(addr), parse_port(port)?)
            }
            _ => bail!("nettool nc -u -l needs [ADDRESS] PORT"),
        };
        let path = Path::listen(
            addr.or(args.source),
            args.interface.as_deref(),
            env.interrupt,
        )?;
        let flows = Flows::Datagrams { sport_inc: false };
        let stack = path.open(Some(port), flows, &LINK, env.pcap.as_ref(), env.err)?;
        return plumbed(&path, stack, env, |given, input, env| {
            listen_over(args, given, input, env)
        });
    }
    let remote = super::connect_target(args)?;
    let Some(path) = connect_path(remote.ip(), args, env)? else {
        return Ok(Outcome::Negative);
    };
    let flows = Flows::Datagrams { sport_inc: false };
    let stack = path.open(args.source_port, flows, &LINK, env.pcap.as_ref(), env.err)?;
    plumbed(&path, stack, env, |given, input, env| {
        connect_over(args, given, input, env)
    })
}

fn refuse_tcp_options(args: &NcArgs) -> Result<()> {
    if args.user_timeout.is_some() {
        bail!("--user-timeout is TCP's; UDP sends and forgets (leave it out)");
    }
    if args.trace {
        bail!("--trace prints TCP segments; with -u, capture datagrams with --pcap");
    }
    Ok(())
}

/// `nc -u HOST PORT` over what it is `given`: `input` (stdin) to the
/// peer, the peer's datagrams to `env.out`.
pub fn connect_over(args: &NcArgs, mut p: Given, input: RawFd, env: &mut Env) -> Result<Outcome> {
    let remote = super::connect_target(args)?;
    let host = host(p.path, p.local, Peer::Connected(remote));
    if args.verbose {
        writeln!(
            env.err,
            "nettool: UDP from {} to {remote} ({})",
            p.local, p.path.iface.name
        )?;
    }
    let quit_after = Some(args.quit_after.unwrap_or(DEFAULT_QUIT_AFTER));
    pump(args, host, &mut p, input, quit_after, env)
}

/// `nc -u -l` over what it is `given` (see the module docs).
pub fn listen_over(args: &NcArgs, mut p: Given, input: RawFd, env: &mut Env) -> Result<Outcome> {
    let peer = Peer::Listening {
        lock_on_first: !args.keep_open,
    };
    let host = host(p.path, p.local, peer);
    if args.verbose {
        writeln!(
            env.err,
            "nettool: listening on {} UDP ({})",
            p.local, p.path.iface.name
        )?;
    }
    pump(args, host, &mut p, input, args.quit_after, env)
}

/// The interface with its one UDP endpoint.
fn host(path: &Path, local: SocketAddr, peer: Peer) -> RawHost<UdpSocket> {
    let (ip, ipv6) = path.addresses();
    let iface = InterfaceConfig {
        ip,
        mac: path.iface.mac,
        ipv6,
        next_hop_mac: path.next_hop_mac,
        answer_arp: !path.owned_by_kernel,
        trace: false,
    };
    let config = UdpConfig {
        mac: path.iface.mac,
        next_hop_mac: path.next_hop_mac,
        local,
        peer,
        mtu: path.iface.mtu as usize,
    };
    RawHost::new(iface, UdpSocket::new(config, random_u64() as u16))
}

fn pump(
    args: &NcArgs,
    mut host: RawHost<UdpSocket>,
    p: &mut Given,
    input: RawFd,
    quit_after: Option<Duration>,
    env: &mut Env,
) -> Result<Outcome> {
    let start = p.clock.now();
    let max_payload = max_payload(
        p.path.iface.mtu as usize,
        p.local.is_ipv6(),
        args.max_datagram,
    )?;
    let interrupt = env.interrupt;
    let mut run = Pump {
        env,
        verbose: args.verbose,
        listener: args.listen,
        max_payload,
        quit_after,
        idle: args.wait,
        last_activity: start,
        stdin_end: None,
        ended: None,
    };
    let opts = Options {
        rx_batch: 256,
        ring_batch: Some(TX_BATCH),
        input: Some(input),
        ..Options::default()
    };
    let stop = driver::run_with(&mut host, p.link, p.clock, interrupt, &opts, &mut run)?;
    let outcome = match stop {
        Stop::Interrupted => Outcome::Success.unless_interrupted(interrupt),
        Stop::Done => run.ended.unwrap_or(Outcome::Success),
    };
    if args.verbose {
        let s = host.flow().stats();
        let mut line = format!(
            "nettool: {} datagrams ({} bytes) sent",
            s.datagrams_sent, s.bytes_sent
        );
        if s.fragments_sent > 0 {
            line.push_str(&format!(" ({} IPv4 fragments)", s.fragments_sent));
        }
        line.push_str(&format!(
            ", {} ({} bytes) received",
            s.datagrams_received, s.bytes_received
        ));
        let r = host.iface().reassembly();
        if r.reassembled > 0 {
            line.push_str(&format!(", {} reassembled from fragments", r.reassembled));
        }
        let lost = r.timed_out + r.overlaps + r.too_large + r.malformed + r.evicted;
        if lost > 0 {
            line.push_str(&format!(", {lost} fragmented datagrams given up"));
        }
        if s.ignored > 0 {
            line.push_str(&format!(", {} from other peers ignored", s.ignored));
        }
        if s.malformed > 0 {
            line.push_str(&format!(", {} malformed", s.malformed));
        }
        writeln!(run.env.err, "{line}")?;
    }
    Ok(outcome)
}

/// The most payload a datagram carries: the path's unfragmented size by
/// default; over IPv4 up to `--max-datagram`, fragmented by the endpoint
/// when longer than the MTU. Over IPv6 no larger than the MTU carries
/// whole: routers never fragment IPv6 (RFC 8200 §5), and nettool sends
/// no fragment header either (see the README), so a larger
/// `--max-datagram` is refused at once.
fn max_payload(mtu: usize, v6: bool, asked: Option<u16>) -> Result<usize> {
    let ip_header = if v6 {
        ipv6::HEADER_LEN
    } else {
        ipv4::HEADER_LEN
    };
    let unfragmented = mtu - ip_header - udp::HEADER_LEN;
    match asked.map(usize::from) {
        Some(n) if v6 && n > unfragmented => bail!(
            "--max-datagram {n} is above the {unfragmented} bytes a datagram carries whole over \
             IPv6 on this path (MTU {mtu}); nettool sends no IPv6 fragments: use at most \
             {unfragmented}, or IPv4 (-4), where nettool fragments"
        ),
        Some(n) => Ok(n),
        None => Ok(unfragmented),
    }
}

/// The command's side of the run.
struct Pump<'e, 'a> {
    env: &'e mut Env<'a>,
    verbose: bool,
    listener: bool,
    max_payload: usize,
    quit_after: Option<Duration>,
    idle: Option<Duration>,
    last_activity: Instant,
    stdin_end: Option<Instant>,
    ended: Option<Outcome>,
}

impl Pump<'_, '_> {
    /// Datagrams received to stdout, each in one write.
    fn deliver(&mut self, host: &mut RawHost<UdpSocket>) -> Result<()> {
        while let Some((_, payload)) = host.flow_mut().recv() {
            let wrote = self
                .env
                .out
                .write_all(&payload)
                .and_then(|()| self.env.out.flush());
            match wrote {
                Ok(()) => {}
                // The reader went away: nothing more can be delivered.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    self.ended = Some(Outcome::Success);
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn unreachable(
        &mut self,
        from: std::net::IpAddr,
        to: SocketAddr,
        kind: ErrorKind,
    ) -> Result<()> {
        let what = match kind {
            ErrorKind::V4(IcmpKind::Unreachable(3)) => {
                format!("port closed: ICMP port unreachable from {from}")
            }
            ErrorKind::V6(Icmpv6Kind::Unreachable(4)) => {
                format!("port closed: ICMPv6 port unreachable from {from}")
            }
            ErrorKind::V4(k) => format!("{to} unreachable: ICMP {} from {from}", k.describe()),
            ErrorKind::V6(k) => format!("{to} unreachable: {} from {from}", k.describe()),
        };
        writeln!(self.env.err, "nettool: {what}")?;
        // A client's one peer is gone; a listener goes on serving others.
        if !self.listener {
            self.ended = Some(Outcome::Negative);
        }
        Ok(())
    }

    /// The end of the wait after stdin's end (`--quit-after`), and of
    /// the idle timeout (`-w`).
    fn deadlines(&self) -> Option<Instant> {
        let quit = self.stdin_end.zip(self.quit_after).map(|(t, q)| t + q);
        earliest(quit, self.idle.map(|w| self.last_activity + w))
    }
}

impl Handler<RawHost<UdpSocket>> for Pump<'_, '_> {
    fn event(
        &mut self,
        host: &mut RawHost<UdpSocket>,
        now: Instant,
        event: Hosted<Event>,
    ) -> Result<()> {
        let Hosted::Flow(event) = event else {
            return Ok(());
        };
        match event {
            Event::Datagram { .. } => {
                self.last_activity = now;
                self.deliver(host)
            }
            Event::NewPeer { peer } => {
                if self.verbose {
                    writeln!(self.env.err, "nettool: datagram from {peer} (new peer)")?;
                }
                Ok(())
            }
            Event::Unreachable { from, to, kind } => self.unreachable(from, to, kind),
        }
    }

    fn finished(&mut self, _: &mut RawHost<UdpSocket>, now: Instant) -> Result<bool> {
        if self.ended.is_some() {
            return Ok(true);
        }
        if self.deadlines().is_some_and(|t| now >= t) {
            self.ended = Some(Outcome::Success);
        }
        Ok(self.ended.is_some())
    }

    fn deadline(&self, host: &RawHost<UdpSocket>) -> Option<Instant> {
        use crate::machine::Machine;
        earliest(host.poll_timeout(), self.deadlines())
    }

    fn wants_input(&self, host: &RawHost<UdpSocket>) -> bool {
        self.stdin_end.is_none() && host.flow().peer().is_some() && host.flow().unsent() < 64
    }

    fn input(
        &mut self,
        host: &mut RawHost<UdpSocket>,
        now: Instant,
        input: Input<'_>,
    ) -> Result<()> {
        match input {
            Input::Data(data) => {
                self.last_activity = now;
                for datagram in data.chunks(self.max_payload) {
                    host.flow_mut().send(datagram);
                }
            }
            Input::End => self.stdin_end = Some(now),
            Input::NotReady => {}
        }
        Ok(())
    }
}

/// `nc -u -z HOST PORTS`: the ports sorted as `scan --udp` sorts them,
/// said as netcat says them (stderr, with `-v`, open ones always).
fn zero_io(args: &NcArgs, env: &mut Env) -> Result<Outcome> {
    let (dst, ports) = super::zero_io_target(args)?;
    let Some(path) = connect_path(dst, args, env)? else {
        return Ok(Outcome::Negative);
    };
    let flows = Flows::Datagrams { sport_inc: false };
    let stack = path.open(args.source_port, flows, &LINK, env.pcap.as_ref(), env.err)?;
    plumbed(&path, stack, env, |given, _, env| {
        zero_io_over(args, given, &ports, env)
    })
}

/// `nc -u -z` over what it is `given`.
pub fn zero_io_over(args: &NcArgs, p: Given, ports: &[u16], env: &mut Env) -> Result<Outcome> {
    let (dst, _) = super::zero_io_target(args)?;
    let wait = args.wait.unwrap_or(Duration::from_secs(1));
    let config = ScanConfig {
        src_mac: p.path.iface.mac,
        dst_mac: p.path.next_hop_mac.unwrap_or(crate::wire::MacAddr::zero()),
        src: p.path.source,
        dst,
        sport: p.local.port(),
        ports: ports.to_vec(),
        rate: 1000,
        retries: 1,
        wait,
        interval: crate::probe::udpscan::linux_interval(dst),
        seed: random_u64(),
    };
    let (ip, ipv6) = p.path.addresses();
    let iface = InterfaceConfig {
        ip,
        mac: p.path.iface.mac,
        ipv6,
        next_hop_mac: p.path.next_hop_mac,
        answer_arp: !p.path.owned_by_kernel,
        trace: false,
    };
    let start = p.clock.now();
    let mut host = RawHost::new(iface, UdpScanner::new(start, config));
    let noop = &mut |_, _| Ok(());
    let stop = driver::run_with(
        &mut host,
        p.link,
        p.clock,
        env.interrupt,
        &Options::default(),
        noop,
    )?;
    let mut open = false;
    for r in host.flow().results() {
        let port = r.port;
        match r.state {
            UdpState::Open => {
                open = true;
                writeln!(
                    env.err,
                    "Connection to {dst} {port} port [udp/*] succeeded!"
                )?;
            }
            _ if !args.verbose => {}
            UdpState::Closed => writeln!(
                env.err,
                "nettool: {dst} port {port} (udp) closed: {} port unreachable",
                if dst.is_ipv4() { "ICMP" } else { "ICMPv6" }
            )?,
            UdpState::Filtered => writeln!(
                env.err,
                "nettool: {dst} port {port} (udp) filtered: {}",
                r.why.text()
            )?,
            UdpState::OpenFiltered => writeln!(
                env.err,
                "nettool: {dst} port {port} (udp) open|filtered: no answer"
            )?,
        }
    }
    Ok(match stop {
        Stop::Interrupted => Outcome::Success.unless_interrupted(env.interrupt),
        Stop::Done => Outcome::from_answer(open),
    })
}
