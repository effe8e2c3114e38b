//! One setup and one teardown for every command that speaks TCP from a
//! raw link (`handshake`, `close`, `nc`, `probe`, `scan`, `trace`).
//!
//! Setup: the route (with the user's interface and source), the next
//! hop's MAC through nettool's own ARP and its cache, a source port
//! reserved from the kernel, the kernel kept out of nettool's flows (an
//! RST guard when the kernel owns the source address; otherwise the
//! command's machine answers ARP for it), and the link: AF_PACKET on an
//! Ethernet-like interface, the loopback link ([`LoopbackLink`]) when the
//! destination is this host; every link, the next hop's ARP included,
//! also writes to the `--pcap` file when there is one. Teardown, in
//! [`Stack::teardown`]: the guard's count of dropped RSTs, then the guard
//! and the link removed together.
//!
//! A run of several targets (`probe`, `scan`) opens one stack per
//! interface for all the targets that leave by it ([`Path::open_for_all`]:
//! one claim, whose guard holds a rule per target, and one link), every
//! stack before the drop, which [`setup_done`] then makes once.
//!
//! This sits above route, guard, link, arp and driver, and below `cmd`,
//! which renders what is found here and what the machines report.

pub mod dad;
pub mod next_hop;

use next_hop::Resolved;

use std::fmt::Display;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::os::fd::OwnedFd;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};

use crate::guard::{Flow, RstGuard};
use crate::link::lo::LoopbackLink;
use crate::link::packet::PacketLink;
use crate::link::pcap::{Capture, PcapFile};
use crate::link::rxring::RingKind;
use crate::link::{Filter, Link};
use crate::privilege::{self, Cap};
use crate::route::{self, Interface, RouteError};
use crate::sys::reserve_port_on;
use crate::wire::{MacAddr, ethernet};

/// A warning on stderr, in nettool's words.
pub fn warn(err: &mut dyn Write, what: impl Display) -> io::Result<()> {
    writeln!(err, "nettool: warning: {what}")
}

/// What the user asked about the way to a destination.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// IPv4 or IPv6: the path is of its family.
    pub dst: IpAddr,
    /// `-i`/`-I`: the interface, instead of the routing table's.
    pub interface: Option<&'a str>,
    /// `-s`/`--source`: the source address, instead of the interface's
    /// (of `dst`'s family: the other is an error that says so).
    pub source: Option<IpAddr>,
    /// The ARP cache file.
    pub cache: &'a std::path::Path,
    /// `--pcap`: the file every link of the run writes its frames to.
    pub pcap: Option<&'a PcapFile>,
}

/// nettool's end of the way to a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub iface: Interface,
    /// The source address of nettool's frames: IPv4 or IPv6, as the
    /// destination is.
    pub source: IpAddr,
    /// Whether the kernel owns `source` (it then answers segments to it
    /// itself, unless a guard keeps it out).
    pub owned_by_kernel: bool,
    /// Where frames go: a gateway, or the destination (of the source's
    /// family).
    pub next_hop: IpAddr,
    /// The next hop's MAC; `None` for a listener, which learns its peer's.
    pub next_hop_mac: Option<MacAddr>,
    /// How the MAC was learned, for the command's header.
    pub how: String,
    /// The destination is this host: the loopback link carries the flow.
    pub loopback: bool,
}

/// What looking for a path found.
#[derive(Debug)]
pub enum Found {
    Path(Path),
    /// The next hop could not be resolved: a negative answer from the
    /// network.
    Unresolved(Unresolved),
}

/// Why the next hop (`next_hop` on `iface`) has no MAC to send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// It did not answer ARP (or, over IPv6, neighbour solicitations).
    NoArp { next_hop: IpAddr, iface: String },
    /// Two MACs answered for it: neither is believed.
    Conflict {
        next_hop: IpAddr,
        iface: String,
        mac: MacAddr,
        other_mac: MacAddr,
    },
}

impl Unresolved {
    pub fn next_hop(&self) -> IpAddr {
        match self {
            Unresolved::NoArp { next_hop, .. } | Unresolved::Conflict { next_hop, .. } => *next_hop,
        }
    }

    pub fn iface(&self) -> &str {
        match self {
            Unresolved::NoArp { iface, .. } | Unresolved::Conflict { iface, .. } => iface,
        }
    }
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unresolved::NoArp { next_hop, iface } => write!(
                f,
                "the next hop {next_hop} did not answer {} on {iface}: is it up, and on this link?",
                if next_hop.is_ipv4() {
                    "ARP"
                } else {
                    "neighbour solicitations"
                }
            ),
            Unresolved::Conflict {
                next_hop,
                iface,
                mac,
                other_mac,
            } => write!(
                f,
                "the next hop {next_hop} is claimed by both {mac} and {other_mac} on {iface}; \
                 neither is believed (nettool {} {next_hop} shows the conflict)",
                if next_hop.is_ipv4() { "arp" } else { "ndp" }
            ),
        }
    }
}

impl Path {
    /// The path to `req.dst`: the kernel's route (or the user's interface
    /// and source), the next hop resolved by ARP; the loopback interface
    /// when `dst` is this host's own address (an error if the user named
    /// another: that one never carries it).
    pub fn find(req: Request, err: &mut dyn Write, interrupt: &AtomicBool) -> Result<Found> {
        privilege::before_drop("looking for a path")?;
        check_families(req.dst, req.source)?;
        let dst = match req.dst {
            IpAddr::V4(dst) => dst,
            IpAddr::V6(dst) => return Path::find_v6(dst, req, err, interrupt),
        };
        let source = match req.source {
            Some(IpAddr::V4(s)) => Some(s),
            _ => None,
        };
        let route = match route::select(dst, req.interface, source) {
            Err(RouteError::LocalDestination { .. }) => {
                return Path::to_own_address(req.interface, source.unwrap_or(dst).into(), req.dst);
            }
            other => other?,
        };
        if route.interface.is_loopback {
            let (source, next_hop) = (route.source, route.next_hop);
            return Ok(Found::Path(Path::on_loopback(
                route.interface,
                source.into(),
                next_hop.into(),
            )));
        }
        check_ethernet(&route.interface)?;
        let resolved = next_hop::resolve(&route, req.cache, req.pcap, err, interrupt)?;
        Ok(Path::through(
            resolved,
            route.source.into(),
            route.source_owned_by_kernel,
            route.next_hop.into(),
            route.interface,
        ))
    }

    /// [`Path::find`] for an IPv6 destination: the kernel's route (the
    /// interface given with `-i` taken as on-link), the next hop resolved
    /// by nettool's own neighbour discovery through the same cache.
    fn find_v6(
        dst: Ipv6Addr,
        req: Request,
        err: &mut dyn Write,
        interrupt: &AtomicBool,
    ) -> Result<Found> {
        let source = match req.source {
            Some(IpAddr::V6(s)) => Some(s),
            _ => None,
        };
        if let Some(s) = source
            && crate::wire::ipv6::is_link_local(s)
            && req.interface.is_none()
        {
            bail!(
                "{s} is a link-local address, which names this host on one link only: name \
                 the interface with -i"
            );
        }
        let route = match route::select_v6(dst, req.interface, source) {
            Err(RouteError::LocalDestination { .. }) => {
                return Path::to_own_address(req.interface, source.unwrap_or(dst).into(), req.dst);
            }
            other => other?,
        };
        if route.interface.is_loopback {
            let (source, next_hop) = (route.source.into(), route.next_hop.into());
            return Ok(Found::Path(Path::on_loopback(
                route.interface,
                source,
                next_hop,
            )));
        }
        check_ethernet(&route.interface)?;
        if !route.source_owned_by_kernel {
            // Before the address is used at all (the next hop's
            // resolution would carry it): nobody else may have it.
            dad::check_free(&route.interface, route.source, req.pcap, interrupt)?;
        }
        let resolved = next_hop::resolve_v6(&route, req.cache, req.pcap, err, interrupt)?;
        Ok(Path::through(
            resolved,
            route.source.into(),
            route.source_owned_by_kernel,
            route.next_hop.into(),
            route.interface,
        ))
    }

    /// The path to `dst`, this host's own address, from `source`: over
    /// loopback, where the kernel routes its own addresses; an error if
    /// the user `named` another interface, which never carries it.
    fn to_own_address(named: Option<&str>, source: IpAddr, dst: IpAddr) -> Result<Found> {
        let iface = loopback_interface()?;
        if let Some(named) = named
            && named != iface.name
        {
            bail!(
                "{dst} is this host's own address, which the kernel reaches over {lo} \
                 only, never over {named}: leave out -i {named} (or give -i {lo})",
                lo = iface.name
            );
        }
        Ok(Found::Path(Path::on_loopback(iface, source, dst)))
    }

    /// The path out of `iface` through `next_hop`, as its resolution
    /// came out (or why there is none).
    fn through(
        resolved: Resolved,
        source: IpAddr,
        owned_by_kernel: bool,
        next_hop: IpAddr,
        iface: Interface,
    ) -> Found {
        match resolved {
            Resolved::Mac(mac, how) => Found::Path(Path {
                source,
                owned_by_kernel,
                next_hop,
                next_hop_mac: Some(mac),
                how,
                loopback: false,
                iface,
            }),
            Resolved::NoAnswer => Found::Unresolved(Unresolved::NoArp {
                next_hop,
                iface: iface.name,
            }),
            Resolved::Conflict { mac, other_mac } => Found::Unresolved(Unresolved::Conflict {
                next_hop,
                iface: iface.name,
                mac,
                other_mac,
            }),
        }
    }

    /// A path over loopback: no ARP, and the kernel owns both ends.
    fn on_loopback(iface: Interface, source: IpAddr, next_hop: IpAddr) -> Path {
        Path {
            source,
            owned_by_kernel: true,
            next_hop,
            next_hop_mac: Some(iface.mac),
            how: "loopback: no ARP".to_owned(),
            loopback: true,
            iface,
        }
    }

    /// A listener's end at `addr` (with `interface`, one the kernel does
    /// not own: nettool then answers ARP for it), on `interface`'s first
    /// address, or on the only interface up with an IPv4 address. A named
    /// `interface` is the one listened on, even for another interface's
    /// address (the kernel accepts it from any link), but never for a
    /// loopback address, which no other link carries.
    ///
    /// An IPv6 `addr` is listened on the same way (one the kernel does not
    /// own checked free by duplicate address detection first, then its
    /// neighbour solicitations answered by nettool). Raising `interrupt`
    /// (Ctrl-C) ends that check's one-second wait at once, with an error.
    pub fn listen(
        addr: Option<IpAddr>,
        interface: Option<&str>,
        interrupt: &AtomicBool,
    ) -> Result<Path> {
        privilege::before_drop("looking for an address to listen on")?;
        let interfaces = pnet::datalink::interfaces();
        let holder = |ip: IpAddr| {
            interfaces
                .iter()
                .find(|i| i.ips.iter().any(|n| n.ip() == ip))
        };
        let (index, ip, owned) = match (addr, interface) {
            (Some(ip), Some(name)) => {
                let iface = route::interface_by_name(name)?;
                let on_loopback = ip.is_loopback() || holder(ip).is_some_and(|h| h.is_loopback());
                if on_loopback && !iface.is_loopback {
                    let lo = interfaces.iter().find(|i| i.is_loopback());
                    bail!(
                        "{ip} is reached over this host's loopback only: {name} never carries it; \
                         leave out -i {name} (or give -i {}), or listen on an address of {name}",
                        lo.map_or("lo", |i| i.name.as_str())
                    );
                }
                (iface.index, ip, holder(ip).is_some())
            }
            (Some(ip), None) if holder(ip).is_some() => {
                (holder(ip).expect("checked").index, ip, true)
            }
            (Some(ip), None) => bail!(
                "no interface has {ip}; to listen on an address the kernel does not own, name the \
                 interface with -i (nettool then answers {} for it)",
                if ip.is_ipv4() {
                    "ARP"
                } else {
                    "neighbour solicitations"
                }
            ),
            (None, Some(name)) => {
                let iface = route::interface_by_name(name)?;
                let ip = iface
                    .ipv4
                    .first()
                    .map(|n| n.ip())
                    .with_context(|| format!("{name} has no IPv4 address to listen on"))?;
                (iface.index, ip.into(), true)
            }
            (None, None) => {
                let candidates: Vec<_> = interfaces
                    .iter()
                    .filter(|i| i.is_up() && !i.is_loopback() && i.ips.iter().any(|n| n.is_ipv4()))
                    .collect();
                match candidates.as_slice() {
                    [one] => {
                        let ip = one
                            .ips
                            .iter()
                            .find_map(|n| match n.ip() {
                                std::net::IpAddr::V4(v4) => Some(v4),
                                _ => None,
                            })
                            .expect("filtered on IPv4");
                        (one.index, ip.into(), true)
                    }
                    _ => {
                        let names: Vec<String> =
                            candidates.iter().map(|i| i.name.clone()).collect();
                        bail!(
                            "more than one interface could listen: give the address (nettool nc -l ADDRESS \
                             PORT) or the interface (-i); candidates: {}",
                            names.join(", ")
                        )
                    }
                }
            }
        };
        let iface = route::interface_by_index(index)?;
        if let IpAddr::V6(ip6) = ip
            && !owned
            && !iface.is_loopback
        {
            dad::check_free(&iface, ip6, None, interrupt)?;
        }
        Ok(Path::listening(iface, ip, owned))
    }

    /// A listener's end on `iface` at `source`: its peers' MACs are
    /// learned from their frames.
    pub fn listening(iface: Interface, source: IpAddr, owned_by_kernel: bool) -> Path {
        if iface.is_loopback {
            return Path::on_loopback(iface, source, source);
        }
        Path {
            source,
            owned_by_kernel,
            next_hop: source,
            next_hop_mac: None,
            how: String::new(),
            loopback: false,
            iface,
        }
    }

    /// Takes `flows` over from the kernel: reserves the source port
    /// (`sport`, or a free one) and installs the RST guard when the kernel
    /// owns the source address.
    pub fn claim(&self, sport: Option<u16>, flows: Flows) -> Result<Claim> {
        self.claim_all(Port::Reserve(sport), &[flows])
    }

    /// [`Path::claim`] for the flows of several targets that leave by
    /// this path's interface from its source, all of one kind: one source
    /// port for them all (`port`), one guard holding a rule for each
    /// ([`RstGuard::install_all`]).
    pub fn claim_all(&self, port: Port, all: &[Flows]) -> Result<Claim> {
        let Some(&flows) = all.first() else {
            bail!("nothing to claim: no flow");
        };
        // A port below 1024 needs the same privilege for UDP as for TCP.
        let reserve = |reserve: &dyn Fn(Option<u16>) -> Result<(u16, Option<OwnedFd>)>| match port {
            Port::Reserve(wanted) => privilege::raised(&[Cap::NetBindService], || reserve(wanted)),
            Port::Held(held) => Ok((held, None)),
        };
        match flows {
            Flows::Datagrams { .. } => {
                let (sport, reservation) = reserve(&|wanted| {
                    let (source, scope) = (self.source, self.iface.index);
                    crate::sys::reserve_udp_port(source, scope, self.owned_by_kernel, wanted)
                })?;
                return Ok(Claim {
                    local: SocketAddr::new(self.source, sport),
                    guard: None,
                    _reservation: reservation,
                });
            }
            Flows::Queries => {
                let ident = match port {
                    Port::Reserve(wanted) => wanted.unwrap_or(0),
                    Port::Held(held) => held,
                };
                return Ok(Claim {
                    local: SocketAddr::new(self.source, ident),
                    guard: None,
                    _reservation: None,
                });
            }
            _ => {}
        }
        let (sport, reservation) = reserve(&|wanted| {
            reserve_port_on(self.source, self.iface.index, self.owned_by_kernel, wanted)
        })?;
        let local = SocketAddr::new(self.source, sport);
        let ingress = self.ingress_device();
        let guard = privilege::raised(&[Cap::NetAdmin], || match all {
            [one] => RstGuard::install_when(self.owned_by_kernel, one.flow(local), ingress),
            _ => {
                let each: Vec<Flow> = all.iter().map(|f| f.flow(local)).collect();
                RstGuard::install_all_when(self.owned_by_kernel, &each, ingress)
            }
        })?;
        Ok(Claim {
            local,
            guard,
            _reservation: reservation,
        })
    }

    /// Where the guard may drop the flow's frames before the kernel sees
    /// them ([`crate::guard::ingress`]): the link's interface, which
    /// nettool reads through an AF_PACKET tap that comes first; not
    /// loopback, where a packet nettool sends re-enters at the same hook.
    fn ingress_device(&self) -> Option<&str> {
        let tapped = !self.loopback && !self.iface.is_loopback;
        (tapped && crate::guard::ingress::allowed()).then_some(self.iface.name.as_str())
    }

    /// Opens the link the path needs, with `opts`, its frames also written
    /// to `pcap` when there is one. Warnings (a feature the kernel refused
    /// that the command can do without) go to `err`.
    pub fn open_link(
        &self,
        opts: &LinkOptions,
        pcap: Option<&PcapFile>,
        err: &mut dyn Write,
    ) -> Result<Box<dyn Link>> {
        // CAP_NET_ADMIN for the buffers above the system's maximum and
        // the mark of the loopback's frames.
        let link = privilege::raised(&[Cap::NetRaw, Cap::NetAdmin], || {
            self.open_bare_link(opts, err)
        })?;
        Ok(capture(link, pcap)?)
    }

    fn open_bare_link(&self, opts: &LinkOptions, err: &mut dyn Write) -> Result<Box<dyn Link>> {
        let index = self.iface.index;
        if self.loopback {
            // No ring, no segmentation offload, no transmit stamps: sends
            // leave through a raw IP socket (see `link::lo`).
            let mut link = LoopbackLink::open(index)?;
            if let Some(bytes) = opts.receive_buffer {
                link.grow_receive_buffer(bytes)?;
            }
            if opts.rx_timestamps {
                link.enable_rx_stamps()?;
            }
            return Ok(Box::new(link));
        }
        let filter = match self.source {
            IpAddr::V4(_) => Filter::ArpIpv4,
            IpAddr::V6(_) => Filter::ArpIpv6,
        };
        let mut link = if opts.offloading {
            PacketLink::open_offloading(index, filter)?
        } else {
            PacketLink::open(index, filter)?
        };
        if let IpAddr::V6(source) = self.source
            && !self.owned_by_kernel
        {
            // The neighbour solicitations for it, which nettool answers.
            dad::join_solicited_node(&link, &self.iface, source)?;
        }
        if let Some(slots) = opts.tx_ring {
            // A slot holds any frame the interface can send (the kernel
            // refuses longer ones anyway).
            let max_frame = self.iface.mtu as usize + ethernet::HEADER_LEN;
            link.enable_tx_ring(max_frame, slots)?;
        }
        if let Some(bytes) = opts.receive_buffer {
            link.grow_receive_buffer(bytes)?;
        }
        if opts.rx_timestamps {
            link.enable_rx_timestamps()?;
        }
        if let Some(kind) = opts.rx_ring.filter(|_| rx_ring_allowed()) {
            // As much room as the receive buffer asked for.
            let bytes = opts.receive_buffer.unwrap_or(RX_RING_BYTES);
            if let Err(e) = link.enable_rx_ring(kind, bytes) {
                warn(
                    err,
                    format!("no receive ring ({e}); reading frame by frame"),
                )?;
            }
        }
        if opts.tx_timestamps {
            // Without transmit stamps a send time is a clock reading taken
            // just before the send: RTTs come out a little long, no worse.
            if let Err(e) = link.enable_tx_timestamps() {
                warn(err, format!("{e}; RTTs run from just before each send"))?;
            }
        }
        Ok(Box::new(link))
    }

    /// [`Path::claim`] and [`Path::open_link`]: everything a run of one
    /// target needs; then the setup is done ([`setup_done`]: the
    /// privileges are dropped, when the binary armed them).
    pub fn open(
        &self,
        sport: Option<u16>,
        flows: Flows,
        opts: &LinkOptions,
        pcap: Option<&PcapFile>,
        err: &mut dyn Write,
    ) -> Result<Stack> {
        let stack = self.open_for_all(Port::Reserve(sport), &[flows], opts, pcap, err)?;
        setup_done(&[&stack], err)?;
        Ok(stack)
    }

    /// One stack for the flows of every target that leaves by this path's
    /// interface from its source (`probe` and `scan` with several
    /// targets): one claim for them all ([`Path::claim_all`]) and one
    /// link, which carries each target's frames in turn. The privileges
    /// stay: the run opens its other interfaces' stacks, then gives them
    /// up once ([`setup_done`]).
    pub fn open_for_all(
        &self,
        port: Port,
        flows: &[Flows],
        opts: &LinkOptions,
        pcap: Option<&PcapFile>,
        err: &mut dyn Write,
    ) -> Result<Stack> {
        privilege::before_drop("opening a link")?;
        let claim = self.claim_all(port, flows)?;
        let link = self.open_link(opts, pcap, err)?;
        Ok(Stack { claim, link })
    }

    /// The way over a simulated Ethernet link (`sim0`, MTU 1500, the
    /// in-memory link of the tests): from `source` at `mac`, an address
    /// the kernel does not own, to `next_hop` at `next_hop_mac`, as the
    /// setup would have found it.
    #[cfg(any(test, feature = "testkit"))]
    pub fn simulated(
        mac: MacAddr,
        source: impl Into<IpAddr>,
        next_hop: impl Into<IpAddr>,
        next_hop_mac: MacAddr,
    ) -> Path {
        Path {
            iface: Interface {
                name: "sim0".into(),
                index: 1,
                mac,
                ipv4: vec![],
                mtu: 1500,
                is_up: true,
                is_running: true,
                is_loopback: false,
            },
            source: source.into(),
            owned_by_kernel: false,
            next_hop: next_hop.into(),
            next_hop_mac: Some(next_hop_mac),
            how: "scripted".into(),
            loopback: false,
        }
    }

    /// The MSS to announce on this path ([`crate::tcp::mss_for_mtu`], or
    /// over IPv6 [`crate::tcp::mss_for_mtu_ipv6`]: the MTU less 60).
    pub fn mss(&self) -> u16 {
        match self.source {
            IpAddr::V4(_) => crate::tcp::mss_for_mtu(self.iface.mtu),
            IpAddr::V6(_) => crate::tcp::mss_for_mtu_ipv6(self.iface.mtu),
        }
    }

    /// The source of a path to an IPv4 destination, for the commands that
    /// speak IPv4 only (their targets are IPv4, so their paths are).
    pub fn source_v4(&self) -> Ipv4Addr {
        match self.source {
            IpAddr::V4(ip) => ip,
            IpAddr::V6(ip) => panic!("an IPv4 path holds an IPv6 source {ip}"),
        }
    }

    /// The interface's addresses for this path: its IPv4 source (0.0.0.0
    /// on an IPv6 path), and its IPv6 one on an IPv6 path.
    pub fn addresses(&self) -> (Ipv4Addr, Option<Ipv6Addr>) {
        match self.source {
            IpAddr::V4(ip) => (ip, None),
            IpAddr::V6(ip) => (Ipv4Addr::UNSPECIFIED, Some(ip)),
        }
    }

    /// The IPv6 source, if the path is IPv6's.
    pub fn source_v6(&self) -> Option<Ipv6Addr> {
        match self.source {
            IpAddr::V4(_) => None,
            IpAddr::V6(ip) => Some(ip),
        }
    }
}

/// The setup of a run is done: `stacks` are every stack it will use.
/// Past this point the run needs no privilege (the guards are in place
/// for all its flows, the sockets are open, a guard's count comes from a
/// log group that needs none to read): the privileges are dropped
/// ([`privilege::drop_after_setup`], when the binary armed them), then
/// each guard counts its drops as they come.
pub fn setup_done(stacks: &[&Stack], err: &mut dyn Write) -> Result<()> {
    privilege::drop_after_setup()?;
    for stack in stacks {
        stack.claim.count_in_background(err)?;
    }
    Ok(())
}

/// A source of the other family than the destination's: an error that
/// says which to give.
fn check_families(dst: IpAddr, source: Option<IpAddr>) -> Result<()> {
    match (dst, source) {
        (IpAddr::V4(_), Some(s @ IpAddr::V6(_))) => bail!(
            "{dst} is an IPv4 address and the source {s} an IPv6 one: give an IPv4 -s (or \
             leave it out)"
        ),
        (IpAddr::V6(_), Some(s @ IpAddr::V4(_))) => bail!(
            "{dst} is an IPv6 address and the source {s} an IPv4 one: give an IPv6 -s (or \
             leave it out)"
        ),
        _ => Ok(()),
    }
}

/// `link`, its frames also written to `pcap` when there is one.
pub fn capture<L: Link + 'static>(link: L, pcap: Option<&PcapFile>) -> io::Result<Box<dyn Link>> {
    Ok(match pcap {
        Some(file) => Box::new(Capture::new(link, Some(file.clone()))?),
        None => Box::new(link),
    })
}

/// nettool's frames are Ethernet's: an interface without an Ethernet
/// address cannot carry them.
fn check_ethernet(iface: &Interface) -> Result<()> {
    if iface.mac == MacAddr::zero() {
        bail!(
            "{} has no Ethernet address; nettool's TCP runs over Ethernet-like interfaces",
            iface.name
        );
    }
    Ok(())
}

fn loopback_interface() -> Result<Interface> {
    let index = pnet::datalink::interfaces()
        .into_iter()
        .find(|i| i.is_loopback())
        .map(|i| i.index)
        .context("this host has no loopback interface")?;
    Ok(route::interface_by_index(index)?)
}

/// The flows a run takes over from the kernel, given before the source
/// port is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flows {
    /// One connection to `remote`.
    Connection { remote: SocketAddr },
    /// Connections from any peer to the source port.
    Listener,
    /// Probes to `remote`'s ports `dports` (a range), from the source port
    /// or (`sport_inc`) from it and every port above.
    Probes {
        remote: IpAddr,
        dports: (u16, u16),
        sport_inc: bool,
    },
    /// UDP datagrams from the source port (or, `sport_inc`, from it and
    /// every port above) to `remote` (any peer when unspecified): no
    /// guard; the source port is reserved with a bound UDP socket, which
    /// also keeps the kernel from answering the replies with ICMP port
    /// unreachable (see [`crate::sys::reserve_udp_port`]). Ports above it
    /// are not reserved: replies to them draw the kernel's unreachables,
    /// which change nothing for nettool, which read the reply already.
    Datagrams { sport_inc: bool },
    /// ICMP queries (echo, timestamp, address mask): no port, no guard;
    /// the kernel drops replies for which it has no ping socket, silently.
    Queries,
}

impl Flows {
    /// The guard's flow, once the source address and port are known.
    fn flow(self, local: SocketAddr) -> Flow {
        match self {
            Flows::Connection { remote } => Flow::Connection { local, remote },
            Flows::Listener => Flow::Listener { local },
            Flows::Probes {
                remote,
                dports,
                sport_inc,
            } => Flow::Probes {
                local: local.ip(),
                remote,
                sports: (local.port(), if sport_inc { 65535 } else { local.port() }),
                dports,
            },
            Flows::Datagrams { .. } | Flows::Queries => unreachable!("no guard for UDP or ICMP"),
        }
    }
}

/// The source port a claim takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// This one (`-p`), or a free one, reserved from the kernel for the
    /// run (where the kernel owns the source address).
    Reserve(Option<u16>),
    /// One another claim of the run holds already on the same source
    /// address (this host's own address, reached over loopback, beside
    /// the interface's stack): shared, not reserved twice.
    Held(u16),
}

/// How the link is opened; the default is a plain AF_PACKET socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkOptions {
    /// TCP super-frames the kernel segments (GSO), through
    /// `PACKET_VNET_HDR`.
    pub offloading: bool,
    /// The socket's receive buffer, in bytes (default: the system's).
    pub receive_buffer: Option<usize>,
    /// A transmit ring of this many slots (many frames per system call).
    pub tx_ring: Option<usize>,
    /// Frames arrive through a receive ring of this kind, the size of
    /// the receive buffer (unless `NETTOOL_RX_RING=0` says otherwise, for
    /// a paired benchmark).
    pub rx_ring: Option<RingKind>,
    /// The kernel stamps every received frame.
    pub rx_timestamps: bool,
    /// The kernel stamps every sent frame (a warning where it cannot).
    pub tx_timestamps: bool,
}

/// A receive ring's size when no receive buffer size was asked for.
const RX_RING_BYTES: usize = 4 << 20;

/// Whether a receive ring may be used: `NETTOOL_RX_RING=0` in the
/// environment reads frame by frame instead, so that a benchmark can
/// compare the two on one build.
fn rx_ring_allowed() -> bool {
    std::env::var_os("NETTOOL_RX_RING").is_none_or(|v| v != "0")
}

/// The flows a run took over: its source address and port (reserved from
/// the kernel while the claim lives) and the guard that keeps the kernel's
/// RSTs out of them.
pub struct Claim {
    pub local: SocketAddr,
    pub guard: Option<RstGuard>,
    _reservation: Option<OwnedFd>,
}

impl Claim {
    /// Once the privileges are dropped: the guard, if any, counts the
    /// RSTs it drops as they come ([`RstGuard::count_in_background`]).
    /// Where it cannot, the count is of what its socket holds at the end:
    /// a warning says so, and the run goes on.
    pub fn count_in_background(&self, err: &mut dyn Write) -> Result<()> {
        if !privilege::threads_may_start() {
            // Armed, not dropped yet: a thread started now would keep
            // the capabilities the drop is to clear.
            return Ok(());
        }
        if let Some(guard) = &self.guard
            && let Err(e) = guard.count_in_background()
        {
            warn(
                err,
                format!("{e:#}; the count may fall short on a long run"),
            )?;
        }
        Ok(())
    }
}

/// What a run holds: its claim and its link.
pub struct Stack {
    pub claim: Claim,
    pub link: Box<dyn Link>,
}

impl Stack {
    /// The source address and port.
    pub fn local(&self) -> SocketAddr {
        self.claim.local
    }

    /// [`Stack::local`] of a run that speaks IPv4 only.
    pub fn local_v4(&self) -> SocketAddrV4 {
        match self.claim.local {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(a) => panic!("an IPv4 run holds an IPv6 address {a}"),
        }
    }

    /// The guard's nftables table, when there is one.
    pub fn guard_table(&self) -> Option<&str> {
        self.claim.guard.as_ref().map(RstGuard::table)
    }

    /// The interface at whose ingress the guard drops the flow's frames
    /// before the kernel sees them, when it does.
    pub fn guard_ingress(&self) -> Option<&str> {
        self.claim.guard.as_ref().and_then(RstGuard::ingress)
    }

    /// How many of the kernel's RSTs the guard has dropped so far, for a
    /// stack that serves several targets in turn (each target's count is
    /// the growth while it ran); counting goes on after. `None` as for
    /// [`Stack::teardown`].
    pub fn dropped_so_far(&self, err: &mut dyn Write) -> Option<u64> {
        let guard = self.claim.guard.as_ref()?;
        let count = count_or_warn(guard.dropped(), err);
        // Reading stopped the counting thread: it starts again.
        if let Err(e) = self.claim.count_in_background(err) {
            let _ = warn(err, format!("{e:#}"));
        }
        count
    }

    /// Ends the run: reads how many of the kernel's RSTs the guard
    /// dropped (returned, for the command to report; `None` without a
    /// guard, or when the count could not be read: a warning on `err` says
    /// why, rather than a count of 0 nobody measured), then removes the
    /// guard and closes the link. Both wait out an RCU grace period in the
    /// kernel; the two waits overlap. The port reservation goes last.
    pub fn teardown(self, err: &mut dyn Write) -> Option<u64> {
        let Stack { claim, link } = self;
        let Claim {
            guard,
            _reservation,
            ..
        } = claim;
        let dropped = guard.as_ref().and_then(|g| count_or_warn(g.dropped(), err));
        let removal = guard.map(RstGuard::begin_removal);
        drop(link);
        if let Some(r) = removal {
            r.wait();
        }
        dropped
    }
}

/// A guard's count of dropped RSTs, or `None` and a warning on `err`
/// saying why it could not be read (rather than a count of 0 nobody
/// measured).
fn count_or_warn(count: Result<u64>, err: &mut dyn Write) -> Option<u64> {
    match count {
        Ok(n) => Some(n),
        Err(e) => {
            // Teardown goes on: stderr failing too changes nothing.
            let _ = warn(
                err,
                format!("the RST guard's count could not be read: {e:#}"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const LOCAL: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000));
    const REMOTE: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80));

    #[rstest]
    #[case(Flows::Connection { remote: REMOTE }, Flow::Connection { local: LOCAL, remote: REMOTE })]
    #[case(Flows::Listener, Flow::Listener { local: LOCAL })]
    #[case(
        Flows::Probes { remote: REMOTE.ip(), dports: (22, 80), sport_inc: false },
        Flow::Probes { local: LOCAL.ip(), remote: REMOTE.ip(), sports: (40000, 40000), dports: (22, 80) }
    )]
    // Each probe from the next port: the guard covers every port above.
    #[case(
        Flows::Probes { remote: REMOTE.ip(), dports: (80, 80), sport_inc: true },
        Flow::Probes { local: LOCAL.ip(), remote: REMOTE.ip(), sports: (40000, 65535), dports: (80, 80) }
    )]
    fn the_guard_covers_the_flows_claimed(#[case] flows: Flows, #[case] want: Flow) {
        assert_eq!(flows.flow(LOCAL), want);
    }

    /// A count nettool could not read (the guard's socket may no longer
    /// send) is left out of the result with a warning, not reported as 0.
    #[test]
    fn an_unreadable_guard_count_is_omitted_with_a_warning() {
        let mut err = Vec::new();
        assert_eq!(count_or_warn(Ok(3), &mut err), Some(3));
        assert!(err.is_empty());
        let refused = Err(anyhow::anyhow!("the kernel refused the reading"));
        assert_eq!(count_or_warn(refused, &mut err), None);
        let err = String::from_utf8(err).unwrap();
        assert_eq!(
            err,
            "nettool: warning: the RST guard's count could not be read: the kernel refused the reading\n"
        );
    }

    fn interface(is_loopback: bool) -> Interface {
        Interface {
            name: if is_loopback { "lo" } else { "eth0" }.into(),
            index: 1,
            mac: if is_loopback {
                MacAddr::zero()
            } else {
                MacAddr::new(2, 0, 0, 0, 0, 1)
            },
            ipv4: vec![],
            mtu: if is_loopback { 65536 } else { 1500 },
            is_up: true,
            is_running: true,
            is_loopback,
        }
    }

    #[test]
    fn a_listener_learns_its_peers_macs_except_on_loopback() {
        let ip = LOCAL.ip();
        let eth = Path::listening(interface(false), ip, false);
        assert_eq!(eth.next_hop_mac, None);
        assert!(!eth.loopback && !eth.owned_by_kernel);
        let lo = Path::listening(interface(true), Ipv4Addr::LOCALHOST.into(), true);
        assert_eq!(lo.next_hop_mac, Some(MacAddr::zero()));
        assert!(lo.loopback && lo.owned_by_kernel);
    }

    #[rstest]
    #[case(false, 1460)]
    #[case(true, 65_495)]
    fn the_mss_follows_the_interface(#[case] is_loopback: bool, #[case] mss: u16) {
        let path = Path::listening(interface(is_loopback), LOCAL.ip(), true);
        assert_eq!(path.mss(), mss);
    }

    /// This host's own address needs neither root nor ARP: the kernel
    /// routes it over loopback (the routing table is only read).
    #[test]
    fn this_hosts_own_address_takes_the_loopback_path() {
        let cache = std::env::temp_dir().join("nettool-setup-test-unused-cache.json");
        let request = Request {
            dst: Ipv4Addr::LOCALHOST.into(),
            interface: None,
            source: None,
            cache: &cache,
            pcap: None,
        };
        let mut err = Vec::new();
        let found = Path::find(request, &mut err, &AtomicBool::new(false)).unwrap();
        let Found::Path(path) = found else {
            panic!("{found:?}")
        };
        assert!(path.loopback && path.iface.is_loopback, "{path:?}");
        assert_eq!(path.source, Ipv4Addr::LOCALHOST);
        assert!(path.owned_by_kernel);
        assert!(err.is_empty());
        assert!(!cache.exists(), "no ARP, so no cache file");
    }
}
