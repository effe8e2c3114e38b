//! Route selection: which interface, source address and next hop a frame
//! to a destination should use.
//!
//! The kernel's routing table is the authority. [`route_get`] asks it
//! exactly what `ip route get DST` asks (an `RTM_GETROUTE` request over
//! netlink), in microseconds and without a subprocess, because a cached
//! `nettool arp` must finish in a few milliseconds as a whole process.
//! [`select`] turns the answer, plus the user's overrides (`-i IFACE`,
//! `-s SOURCE`), into a [`Route`] nettool can build frames for.
//!
//! Everything here reads the network namespace of the calling *thread*
//! (netlink and ioctl sockets are opened per call), never `/sys`, whose
//! view is fixed when it was mounted: that is what makes the functions
//! usable from a test thread that entered a namespace with `setns`.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

use ipnetwork::Ipv4Network;
use pnet::datalink::{self, NetworkInterface};
use pnet::util::MacAddr;
use thiserror::Error;

use crate::netlink::{self, Header, NLM_F_REQUEST, NLMSG_ERROR, RouteSocket};

const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
/// Length of `struct rtmsg`.
const RTMSG_LEN: usize = 12;
/// `RTM_F_LOOKUP_TABLE`: report the table the route was found in, as
/// `ip route get` asks (without it the kernel always says "main").
const RTM_F_LOOKUP_TABLE: u32 = 0x1000;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PREFSRC: u16 = 7;
const RTA_TABLE: u16 = 15;

/// The kind of route the kernel found (`rtm_type`), for the kinds that do
/// not already come back as an error.
///
/// Unreachable, prohibit and blackhole routes never appear here: the
/// kernel answers a lookup that hits them with an error (`EHOSTUNREACH`,
/// `EACCES`, `EINVAL`), which [`route_get`] turns into a [`RouteError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// A gateway or a directly connected host.
    Unicast,
    /// An address of this host (`RTN_LOCAL`): traffic stays inside.
    Local,
    /// A broadcast address (limited, or a subnet's directed broadcast).
    Broadcast,
    /// A multicast group.
    Multicast,
    /// Any other `rtm_type` value.
    Other(u8),
}

impl From<u8> for RouteKind {
    fn from(v: u8) -> RouteKind {
        match v {
            1 => RouteKind::Unicast,
            2 => RouteKind::Local,
            3 => RouteKind::Broadcast,
            5 => RouteKind::Multicast,
            other => RouteKind::Other(other),
        }
    }
}

impl fmt::Display for RouteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteKind::Unicast => f.write_str("unicast"),
            RouteKind::Local => f.write_str("local"),
            RouteKind::Broadcast => f.write_str("broadcast"),
            RouteKind::Multicast => f.write_str("multicast"),
            RouteKind::Other(v) => write!(f, "type {v}"),
        }
    }
}

/// The kernel's answer to "how do I reach `dst`?", as `ip route get` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRoute {
    pub dst: Ipv4Addr,
    pub kind: RouteKind,
    /// Index of the outgoing interface (`RTA_OIF`); `lo` for local routes.
    pub oif: u32,
    /// The gateway (`RTA_GATEWAY`), when the destination is not on-link.
    pub gateway: Option<Ipv4Addr>,
    /// The source address the kernel would use (`RTA_PREFSRC`).
    pub prefsrc: Option<Ipv4Addr>,
    /// The routing table the route was found in (254 is "main").
    pub table: u32,
}

/// Why no usable route was found. Each message says what to do next.
#[derive(Debug, Error)]
pub enum RouteError {
    #[error(
        "no route to {dst}: the routing table has no entry that covers it \
         (see `ip route`); add one, or name the interface to use explicitly"
    )]
    NoRoute { dst: IpAddr },
    #[error(
        "{dst} is unreachable: an `unreachable` route covers it \
         (see `ip route get {dst}`)"
    )]
    Unreachable { dst: IpAddr },
    #[error(
        "traffic to {dst} is administratively prohibited: a `prohibit` route covers it \
         (see `ip route get {dst}`)"
    )]
    Prohibited { dst: IpAddr },
    #[error(
        "the kernel discards traffic to {dst}: a `blackhole` route covers it \
         (the kernel reports it as \"invalid argument\"; see `ip route get {dst}`)"
    )]
    Blackhole { dst: IpAddr },
    #[error(
        "{dst} is this host's own address: there is nothing to resolve on the wire; \
         pick an address of another host"
    )]
    LocalDestination { dst: IpAddr },
    #[error("{dst} is not a valid destination: {why}")]
    BadDestination { dst: IpAddr, why: &'static str },
    #[error("{dst} cannot be resolved with ARP: it is a {kind} address; ARP needs a unicast host")]
    NotArpable { dst: IpAddr, kind: RouteKind },
    #[error("no interface named {name:?}; interfaces here: {}", available.join(", "))]
    NoSuchInterface {
        name: String,
        available: Vec<String>,
    },
    #[error("the kernel routes through interface index {index}, which no longer exists; retry")]
    InterfaceVanished { index: u32 },
    #[error("interface {name} is down: bring it up with `ip link set {name} up`")]
    InterfaceDown { name: String },
    #[error(
        "interface {name} has no IPv4 address: add one with \
         `ip addr add ADDRESS/PREFIX dev {name}`, or give a source address"
    )]
    NoIpv4Address { name: String },
    #[error(
        "interface {name} has no usable IPv6 address: add one with \
         `ip -6 addr add ADDRESS/PREFIX dev {name}`, or give a source address"
    )]
    NoIpv6Address { name: String },
    #[error("{addr} cannot be a source address: {why}")]
    BadSource { addr: IpAddr, why: &'static str },
    #[error("asking the kernel for the route to {dst} failed: {err}")]
    Kernel { dst: IpAddr, err: io::Error },
    #[error("reading the MTU of interface {name} failed: {err}")]
    Mtu { name: String, err: io::Error },
    #[error("unexpected netlink reply from the kernel ({0}); please report this as a nettool bug")]
    Malformed(&'static str),
}

impl From<netlink::ParseError> for RouteError {
    fn from(e: netlink::ParseError) -> RouteError {
        RouteError::Malformed(match e {
            netlink::ParseError::Truncated => "truncated",
            netlink::ParseError::BadLength => "bad length",
        })
    }
}

/// The `RTM_GETROUTE` request `ip route get DST` sends: AF_INET, a /32
/// destination attribute, and `RTM_F_LOOKUP_TABLE`.
pub fn build_route_request(dst: Ipv4Addr, seq: u32) -> Vec<u8> {
    route_request(libc::AF_INET as u8, &dst.octets(), seq)
}

/// An `RTM_GETROUTE` for one host address of `family` (`dst`, 4 or 16
/// octets, is the whole prefix: rtm_dst_len is its length in bits).
fn route_request(family: u8, dst: &[u8], seq: u32) -> Vec<u8> {
    let mut msg = vec![0u8; netlink::HEADER_LEN + RTMSG_LEN];
    let rtmsg = &mut msg[netlink::HEADER_LEN..];
    rtmsg[0] = family; // rtm_family
    rtmsg[1] = (dst.len() * 8) as u8; // rtm_dst_len
    rtmsg[8..12].copy_from_slice(&RTM_F_LOOKUP_TABLE.to_ne_bytes());
    netlink::push_attribute(&mut msg, RTA_DST, dst);
    let header = Header {
        len: msg.len() as u32,
        kind: RTM_GETROUTE,
        flags: NLM_F_REQUEST,
        seq,
        pid: 0,
    };
    header.emit(&mut msg);
    msg
}

/// Reads the kernel's reply to [`build_route_request`]. Pure: no I/O.
///
/// An `NLMSG_ERROR` becomes the matching [`RouteError`] (the kernel reports
/// unreachable, prohibit and blackhole routes as errors, not route types).
pub fn parse_route_reply(dst: Ipv4Addr, buf: &[u8]) -> Result<KernelRoute, RouteError> {
    let (header, payload) = netlink::messages(buf)
        .next()
        .ok_or(RouteError::Malformed("empty reply"))??;
    match header.kind {
        NLMSG_ERROR => Err(errno_to_error(dst.into(), netlink::error_code(payload)?)),
        RTM_NEWROUTE => parse_route(dst, payload),
        _ => Err(RouteError::Malformed("unexpected message type")),
    }
}

fn errno_to_error(dst: IpAddr, errno: i32) -> RouteError {
    match errno {
        0 => RouteError::Malformed("acknowledgement instead of a route"),
        libc::ENETUNREACH => RouteError::NoRoute { dst },
        libc::EHOSTUNREACH => RouteError::Unreachable { dst },
        libc::EACCES => RouteError::Prohibited { dst },
        libc::EINVAL => RouteError::Blackhole { dst },
        other => RouteError::Kernel {
            dst,
            err: io::Error::from_raw_os_error(other),
        },
    }
}

fn parse_route(dst: Ipv4Addr, payload: &[u8]) -> Result<KernelRoute, RouteError> {
    if payload.len() < RTMSG_LEN {
        return Err(RouteError::Malformed("truncated rtmsg"));
    }
    if payload[0] != libc::AF_INET as u8 {
        return Err(RouteError::Malformed("not an IPv4 route"));
    }
    let mut route = KernelRoute {
        dst,
        kind: RouteKind::from(payload[7]),
        oif: 0,
        gateway: None,
        prefsrc: None,
        table: u32::from(payload[4]),
    };
    for attr in netlink::attributes(&payload[RTMSG_LEN..]) {
        let (kind, data) = attr?;
        match kind {
            RTA_OIF => route.oif = u32_attr(data)?,
            RTA_TABLE => route.table = u32_attr(data)?,
            RTA_GATEWAY => route.gateway = Some(ipv4_attr(data)?),
            RTA_PREFSRC => route.prefsrc = Some(ipv4_attr(data)?),
            _ => {}
        }
    }
    if route.oif == 0 {
        return Err(RouteError::Malformed("route without an outgoing interface"));
    }
    Ok(route)
}

fn u32_attr(data: &[u8]) -> Result<u32, RouteError> {
    if data.len() != 4 {
        return Err(RouteError::Malformed("attribute of the wrong size"));
    }
    Ok(netlink::u32_at(data, 0))
}

fn ipv4_attr(data: &[u8]) -> Result<Ipv4Addr, RouteError> {
    let octets: [u8; 4] = data
        .try_into()
        .map_err(|_| RouteError::Malformed("address attribute of the wrong size"))?;
    Ok(Ipv4Addr::from(octets))
}

/// Asks the kernel which route `dst` takes, as `ip route get DST` does.
///
/// Local, broadcast and multicast destinations come back as routes (see
/// [`KernelRoute::kind`]); callers decide whether they are usable.
pub fn route_get(dst: Ipv4Addr) -> Result<KernelRoute, RouteError> {
    ask_kernel(
        dst.into(),
        |seq| build_route_request(dst, seq),
        |reply| parse_route_reply(dst, reply),
    )
}

/// One `RTM_GETROUTE` exchange about `dst`: the request `build` makes
/// for a sequence number, the reply read by `parse`.
fn ask_kernel<R>(
    dst: IpAddr,
    build: impl FnOnce(u32) -> Vec<u8>,
    parse: impl FnOnce(&[u8]) -> Result<R, RouteError>,
) -> Result<R, RouteError> {
    let kernel = |err| RouteError::Kernel { dst, err };
    let socket = RouteSocket::open().map_err(kernel)?;
    let seq = netlink::next_seq();
    let reply = socket.request(&build(seq), seq).map_err(kernel)?;
    parse(&reply)
}

/// A network interface as nettool needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    /// The hardware address; all zeros when the interface has none (loopback,
    /// tun, wireguard), where ARP has nothing to do anyway.
    pub mac: MacAddr,
    /// IPv4 addresses with their prefix, in the kernel's order (primary first).
    pub ipv4: Vec<Ipv4Network>,
    pub mtu: u32,
    /// Administratively up (`IFF_UP`).
    pub is_up: bool,
    /// Up with a carrier (`IFF_RUNNING`): frames can actually leave.
    pub is_running: bool,
    pub is_loopback: bool,
}

impl Interface {
    /// The interface's address in the same subnet as `dst`, else its first
    /// IPv4 address (what `arping -I` picks).
    pub fn source_for(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        self.ipv4
            .iter()
            .find(|net| net.contains(dst))
            .or(self.ipv4.first())
            .map(|net| net.ip())
    }

    /// Whether `dst` is a broadcast address of one of this interface's subnets.
    fn is_directed_broadcast(&self, dst: Ipv4Addr) -> bool {
        self.ipv4
            .iter()
            .any(|net| net.prefix() < 31 && net.broadcast() == dst)
    }

    fn from_pnet(iface: &NetworkInterface) -> Result<Interface, RouteError> {
        let mac = iface
            .mac
            .or_else(|| {
                mac_address::mac_address_by_name(&iface.name)
                    .ok()
                    .flatten()
                    .map(|m| {
                        let b = m.bytes();
                        MacAddr::new(b[0], b[1], b[2], b[3], b[4], b[5])
                    })
            })
            .unwrap_or_else(MacAddr::zero);
        let ipv4 = iface
            .ips
            .iter()
            .filter_map(|ip| match ip {
                // pnet links an older ipnetwork; convert through std types.
                pnet::ipnetwork::IpNetwork::V4(v4) => Ipv4Network::new(v4.ip(), v4.prefix()).ok(),
                pnet::ipnetwork::IpNetwork::V6(_) => None,
            })
            .collect();
        Ok(Interface {
            name: iface.name.clone(),
            index: iface.index,
            mac,
            ipv4,
            mtu: mtu(&iface.name)?,
            is_up: iface.is_up(),
            is_running: iface.is_running(),
            is_loopback: iface.is_loopback(),
        })
    }
}

/// The MTU of `name`, through `SIOCGIFMTU` on a socket of the calling
/// thread's namespace (`/sys/class/net` would show the namespace `/sys`
/// was mounted in, which is wrong on a thread that entered another one).
fn mtu(name: &str) -> Result<u32, RouteError> {
    let err = |err| RouteError::Mtu {
        name: name.to_string(),
        err,
    };
    // SAFETY: an all-zero ifreq is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= req.ifr_name.len() {
        return Err(err(io::Error::from_raw_os_error(libc::ENAMETOOLONG)));
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    let fd = crate::sys::socket(libc::AF_INET, libc::SOCK_DGRAM, 0).map_err(err)?;
    // SAFETY: SIOCGIFMTU reads and writes one ifreq, which `req` is.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFMTU, &mut req) };
    if rc < 0 {
        return Err(err(io::Error::last_os_error()));
    }
    // SAFETY: the kernel filled the MTU member of the union.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    Ok(u32::try_from(mtu).unwrap_or(0))
}

fn no_such_interface(name: &str, all: &[NetworkInterface]) -> RouteError {
    let mut available: Vec<String> = all.iter().map(|i| i.name.clone()).collect();
    available.sort();
    RouteError::NoSuchInterface {
        name: name.to_string(),
        available,
    }
}

/// Looks up an interface by name.
pub fn interface_by_name(name: &str) -> Result<Interface, RouteError> {
    let all = datalink::interfaces();
    let found = all.iter().find(|i| i.name == name);
    match found {
        Some(iface) => Interface::from_pnet(iface),
        None => Err(no_such_interface(name, &all)),
    }
}

/// Looks up an interface by index (the kernel's `RTA_OIF`).
pub fn interface_by_index(index: u32) -> Result<Interface, RouteError> {
    let all = datalink::interfaces();
    let found = all.iter().find(|i| i.index == index);
    match found {
        Some(iface) => Interface::from_pnet(iface),
        None => Err(RouteError::InterfaceVanished { index }),
    }
}

/// This host's IPv4 addresses, on every interface.
pub fn local_ipv4s() -> Vec<Ipv4Addr> {
    datalink::interfaces()
        .iter()
        .flat_map(|i| i.ips.iter())
        .filter_map(|n| match n.ip() {
            std::net::IpAddr::V4(v4) => Some(v4),
            std::net::IpAddr::V6(_) => None,
        })
        .collect()
}

/// The interface, other than loopback, that holds the address `ip`.
pub fn interface_holding(ip: Ipv4Addr) -> Result<Option<Interface>, RouteError> {
    let all = datalink::interfaces();
    let found = all
        .iter()
        .find(|i| !i.is_loopback() && i.ips.iter().any(|n| n.ip() == std::net::IpAddr::V4(ip)));
    found.map(Interface::from_pnet).transpose()
}

/// Where frames to a destination go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub interface: Interface,
    /// The IPv4 source address to put in frames.
    pub source: Ipv4Addr,
    /// The address whose MAC the frames go to: the gateway, or the
    /// destination itself when it is on-link.
    pub next_hop: Ipv4Addr,
    pub via_gateway: bool,
    /// What the destination is. [`select`] refuses local destinations; it
    /// returns broadcast and multicast ones, and leaves it to the caller to
    /// decide whether they make sense (see [`Route::ensure_arpable`]).
    pub kind: RouteKind,
    /// Whether the kernel treats `source` as one of its own addresses. When
    /// it does, it answers TCP segments to that address itself (with RST,
    /// for ports it has no socket for); when it does not, nettool must
    /// answer ARP for the address itself, or no reply can come back.
    pub source_owned_by_kernel: bool,
}

impl Route {
    /// Refuses destinations ARP cannot resolve (broadcast, multicast).
    ///
    /// Kept out of [`select`] because it is ARP's rule, not routing's: a
    /// caller sending to a multicast group has a perfectly good route.
    pub fn ensure_arpable(&self, dst: Ipv4Addr) -> Result<(), RouteError> {
        match self.kind {
            RouteKind::Unicast => Ok(()),
            kind => Err(RouteError::NotArpable {
                dst: dst.into(),
                kind,
            }),
        }
    }
}

/// Chooses the interface, source address and next hop for `dst`.
///
/// - With no overrides, the kernel decides: its outgoing interface, its
///   preferred source, and its gateway (or `dst` itself when on-link).
/// - `iface` names the interface (like `arping -I`): `dst` is then treated
///   as on-link there, whatever the routing table says, and the source is
///   the interface's address in `dst`'s subnet, else its first address.
/// - `source` replaces the source address. Any unicast address is
///   accepted, even one the kernel does not own (nettool can answer ARP for
///   it); [`Route::source_owned_by_kernel`] says which case it is.
pub fn select(
    dst: Ipv4Addr,
    iface: Option<&str>,
    source: Option<Ipv4Addr>,
) -> Result<Route, RouteError> {
    if dst.is_unspecified() {
        return Err(RouteError::BadDestination {
            dst: dst.into(),
            why: "0.0.0.0 names no host",
        });
    }
    let mut route = match iface {
        None => kernel_route(dst)?,
        Some(name) => on_link_route(dst, name)?,
    };
    if let Some(source) = source {
        check_source(source, &route.interface)?;
        route.source = source;
        // Ask the kernel rather than scanning interface addresses: it also
        // knows addresses owned through `local` routes (AnyIP).
        route.source_owned_by_kernel =
            matches!(route_get(source), Ok(r) if r.kind == RouteKind::Local);
    }
    Ok(route)
}

fn kernel_route(dst: Ipv4Addr) -> Result<Route, RouteError> {
    let kr = route_get(dst)?;
    if kr.kind == RouteKind::Local {
        return Err(RouteError::LocalDestination { dst: dst.into() });
    }
    let interface = interface_by_index(kr.oif)?;
    usable(&interface)?;
    let source = match kr.prefsrc {
        Some(source) => source,
        None => source_on(&interface, dst)?,
    };
    Ok(Route {
        interface,
        source,
        next_hop: kr.gateway.unwrap_or(dst),
        via_gateway: kr.gateway.is_some(),
        kind: kr.kind,
        source_owned_by_kernel: true,
    })
}

/// The address `interface` sends to `dst` from; an interface without an
/// IPv4 address has none.
fn source_on(interface: &Interface, dst: Ipv4Addr) -> Result<Ipv4Addr, RouteError> {
    interface
        .source_for(dst)
        .ok_or_else(|| RouteError::NoIpv4Address {
            name: interface.name.clone(),
        })
}

fn on_link_route(dst: Ipv4Addr, name: &str) -> Result<Route, RouteError> {
    let interface = interface_by_name(name)?;
    usable(&interface)?;
    // The routing table does not decide here, but it still knows whether
    // `dst` is one of our own addresses; a failed lookup is no objection.
    if matches!(route_get(dst), Ok(r) if r.kind == RouteKind::Local) {
        return Err(RouteError::LocalDestination { dst: dst.into() });
    }
    let kind = if dst.is_multicast() {
        RouteKind::Multicast
    } else if dst.is_broadcast() || interface.is_directed_broadcast(dst) {
        RouteKind::Broadcast
    } else {
        RouteKind::Unicast
    };
    let source = source_on(&interface, dst)?;
    Ok(Route {
        interface,
        source,
        next_hop: dst,
        via_gateway: false,
        kind,
        source_owned_by_kernel: true,
    })
}

fn usable(interface: &Interface) -> Result<(), RouteError> {
    if !interface.is_up {
        return Err(RouteError::InterfaceDown {
            name: interface.name.clone(),
        });
    }
    if interface.ipv4.is_empty() {
        return Err(RouteError::NoIpv4Address {
            name: interface.name.clone(),
        });
    }
    Ok(())
}

/// A source address must name one host: the kernel of the peer will answer it.
fn check_source(source: Ipv4Addr, interface: &Interface) -> Result<(), RouteError> {
    let why = if source.is_unspecified() {
        "0.0.0.0 names no host (an ARP probe's zero sender is the caller's business)"
    } else if source.is_multicast() {
        "it is a multicast group"
    } else if source.is_broadcast() || interface.is_directed_broadcast(source) {
        "it is a broadcast address"
    } else if source.is_loopback() && !interface.is_loopback {
        "loopback addresses never leave the host"
    } else {
        return Ok(());
    };
    Err(RouteError::BadSource {
        addr: source.into(),
        why,
    })
}

/// The kernel's answer for an IPv6 destination, as `ip -6 route get`
/// prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRoute6 {
    pub dst: Ipv6Addr,
    pub kind: RouteKind,
    pub oif: u32,
    pub gateway: Option<Ipv6Addr>,
    pub prefsrc: Option<Ipv6Addr>,
}

/// [`build_route_request`] for an IPv6 destination: AF_INET6, a /128.
pub fn build_route_request_v6(dst: Ipv6Addr, seq: u32) -> Vec<u8> {
    route_request(libc::AF_INET6 as u8, &dst.octets(), seq)
}

/// Reads the kernel's reply to [`build_route_request_v6`]. Pure.
pub fn parse_route_reply_v6(dst: Ipv6Addr, buf: &[u8]) -> Result<KernelRoute6, RouteError> {
    let (header, payload) = netlink::messages(buf)
        .next()
        .ok_or(RouteError::Malformed("empty reply"))??;
    match header.kind {
        NLMSG_ERROR => Err(errno_to_error(dst.into(), netlink::error_code(payload)?)),
        RTM_NEWROUTE => {
            if payload.len() < RTMSG_LEN {
                return Err(RouteError::Malformed("truncated rtmsg"));
            }
            if payload[0] != libc::AF_INET6 as u8 {
                return Err(RouteError::Malformed("not an IPv6 route"));
            }
            let mut route = KernelRoute6 {
                dst,
                kind: RouteKind::from(payload[7]),
                oif: 0,
                gateway: None,
                prefsrc: None,
            };
            let v6 = |data: &[u8]| -> Result<Ipv6Addr, RouteError> {
                let octets: [u8; 16] = data
                    .try_into()
                    .map_err(|_| RouteError::Malformed("address attribute of the wrong size"))?;
                Ok(Ipv6Addr::from(octets))
            };
            for attr in netlink::attributes(&payload[RTMSG_LEN..]) {
                let (kind, data) = attr?;
                match kind {
                    RTA_OIF => route.oif = u32_attr(data)?,
                    RTA_GATEWAY => route.gateway = Some(v6(data)?),
                    RTA_PREFSRC => route.prefsrc = Some(v6(data)?),
                    _ => {}
                }
            }
            if route.oif == 0 {
                return Err(RouteError::Malformed("route without an outgoing interface"));
            }
            Ok(route)
        }
        _ => Err(RouteError::Malformed("unexpected message type")),
    }
}

/// Asks the kernel which route the IPv6 destination `dst` takes.
pub fn route_get_v6(dst: Ipv6Addr) -> Result<KernelRoute6, RouteError> {
    ask_kernel(
        dst.into(),
        |seq| build_route_request_v6(dst, seq),
        |reply| parse_route_reply_v6(dst, reply),
    )
}

/// [`Route`] for an IPv6 destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route6 {
    pub interface: Interface,
    pub source: Ipv6Addr,
    /// The gateway, or the destination itself when it is on-link.
    pub next_hop: Ipv6Addr,
    pub via_gateway: bool,
    /// See [`Route::source_owned_by_kernel`].
    pub source_owned_by_kernel: bool,
}

/// [`select`] for an IPv6 destination: the kernel's route (or, with
/// `iface`, `dst` on-link there), and the source address (the kernel's
/// preferred one, else the interface's best for `dst`), or `source`.
/// A link-local destination names a host only with its interface.
pub fn select_v6(
    dst: Ipv6Addr,
    iface: Option<&str>,
    source: Option<Ipv6Addr>,
) -> Result<Route6, RouteError> {
    let bad = |why| RouteError::BadDestination {
        dst: dst.into(),
        why,
    };
    if dst.is_unspecified() {
        return Err(bad(":: names no host"));
    }
    if dst.is_multicast() {
        return Err(bad("it is a multicast group; TCP needs one host"));
    }
    let local = |ip: Ipv6Addr| matches!(route_get_v6(ip), Ok(r) if r.kind == RouteKind::Local);
    let mut route = match iface {
        None => {
            if crate::wire::ipv6::is_link_local(dst) {
                return Err(bad(
                    "a link-local address names a host only on one link: name the interface \
                     with -i",
                ));
            }
            let kr = route_get_v6(dst)?;
            if kr.kind == RouteKind::Local {
                return Err(RouteError::LocalDestination { dst: dst.into() });
            }
            let interface = interface_by_index(kr.oif)?;
            usable_v6(&interface)?;
            let source = match kr.prefsrc {
                Some(s) => s,
                None => source_v6_on(&interface, dst)?,
            };
            Route6 {
                interface,
                source,
                next_hop: kr.gateway.unwrap_or(dst),
                via_gateway: kr.gateway.is_some(),
                source_owned_by_kernel: true,
            }
        }
        Some(name) => {
            let interface = interface_by_name(name)?;
            usable_v6(&interface)?;
            if local(dst) {
                return Err(RouteError::LocalDestination { dst: dst.into() });
            }
            let source = source_v6_on(&interface, dst)?;
            Route6 {
                interface,
                source,
                next_hop: dst,
                via_gateway: false,
                source_owned_by_kernel: true,
            }
        }
    };
    if let Some(source) = source {
        if source.is_unspecified() || source.is_multicast() {
            return Err(RouteError::BadSource {
                addr: source.into(),
                why: "it names no one host",
            });
        }
        route.source = source;
        route.source_owned_by_kernel = local(source);
    }
    Ok(route)
}

fn usable_v6(interface: &Interface) -> Result<(), RouteError> {
    if !interface.is_up {
        return Err(RouteError::InterfaceDown {
            name: interface.name.clone(),
        });
    }
    Ok(())
}

/// The address `interface` sends to `dst` from: one in `dst`'s prefix,
/// else one of the same scope (link-local for a link-local `dst`, a wider
/// one otherwise), never one still in duplicate address detection.
fn source_v6_on(interface: &Interface, dst: Ipv6Addr) -> Result<Ipv6Addr, RouteError> {
    let mine: Vec<Ipv6Address> = ipv6_addresses()
        .into_iter()
        .filter(|a| a.ifindex == interface.index && !a.tentative)
        .collect();
    pick_source_v6(&mine, dst).ok_or_else(|| RouteError::NoIpv6Address {
        name: interface.name.clone(),
    })
}

/// The source a link picks among `mine` for `dst` (pure; see [`select_v6`]).
pub fn pick_source_v6(mine: &[Ipv6Address], dst: Ipv6Addr) -> Option<Ipv6Addr> {
    let link_local = crate::wire::ipv6::is_link_local;
    mine.iter()
        .find(|a| a.contains(dst))
        .or_else(|| {
            mine.iter()
                .find(|a| link_local(a.addr) == link_local(dst) && !a.addr.is_loopback())
        })
        .map(|a| a.addr)
}

/// An IPv6 address the kernel has on an interface (`/proc/net/if_inet6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Address {
    pub ifindex: u32,
    pub addr: std::net::Ipv6Addr,
    pub prefix_len: u8,
    /// `IFA_F_TENTATIVE`: still in duplicate address detection.
    pub tentative: bool,
}

impl Ipv6Address {
    /// Whether `ip` is in this address's prefix (on-link).
    pub fn contains(&self, ip: std::net::Ipv6Addr) -> bool {
        let bits = u32::from(self.prefix_len.min(128));
        let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
        u128::from(self.addr) & mask == u128::from(ip) & mask
    }
}

/// Every IPv6 address of every interface; empty where IPv6 is off.
pub fn ipv6_addresses() -> Vec<Ipv6Address> {
    std::fs::read_to_string("/proc/net/if_inet6")
        .map(|t| parse_if_inet6(&t))
        .unwrap_or_default()
}

/// Parses `/proc/net/if_inet6`: per line, the address in 32 hex digits,
/// then the interface index, prefix length, scope and flags in hex, then
/// the name. Lines that do not read so are skipped.
pub fn parse_if_inet6(text: &str) -> Vec<Ipv6Address> {
    const IFA_F_TENTATIVE: u32 = 0x40;
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [addr, index, plen, _scope, flags, _name] = f[..] else {
                return None;
            };
            let addr = u128::from_str_radix(addr, 16)
                .ok()
                .filter(|_| addr.len() == 32)?;
            let flags = u32::from_str_radix(flags, 16).ok()?;
            Some(Ipv6Address {
                ifindex: u32::from_str_radix(index, 16).ok()?,
                addr: addr.into(),
                prefix_len: u8::from_str_radix(plen, 16).ok()?,
                tentative: flags & IFA_F_TENTATIVE != 0,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// Replies captured from kernel 6.18 (`RTM_GETROUTE` with
    /// `RTM_F_LOOKUP_TABLE`) in a namespace holding eth0 10.78.0.1/24 (index
    /// 2), `default via 10.78.0.254`, and blackhole/unreachable/prohibit
    /// routes; see `src/route.rs` history for the setup.
    mod fixture {
        /// 198.51.100.7 via 10.78.0.254 dev eth0 src 10.78.0.1 (table main).
        pub const VIA_GATEWAY: &str = "700000001800000007000000e420000002200000fe0000010002000008000f00fe00000008000100c63364070800040002000000080007000a4e0001080005000a4e00fe080019000000000024000c000200000000000000000000000000000000000000000000000000000000000000";
        /// 10.78.0.2 dev eth0 src 10.78.0.1.
        pub const ON_LINK: &str = "6800000018000000070000001421000002200000fe0000010002000008000f00fe000000080001000a4e00020800040002000000080007000a4e0001080019000000000024000c000200000000000000000000000000000000000000000000000000000000000000";
        /// local 10.78.0.1 dev lo src 10.78.0.1. The route lives in table
        /// local (255), yet 6.18 reports 254 here, lookup-table flag or not.
        pub const LOCAL: &str = "6800000018000000070000004321000002200000fe0000020002008008000f00fe000000080001000a4e00010800040001000000080007000a4e0001080019000000000024000c000100000000000000000000000000000000000000000000000000000000000000";
        /// broadcast 10.78.0.255 dev eth0 src 10.78.0.1.
        pub const BROADCAST: &str = "680000001800000007000000ae21000002200000fe0000030002009008000f00fe000000080001000a4e00ff0800040002000000080007000a4e0001080019000000000024000c000200000000000000000000000000000000000000000000000000000000000000";
        /// multicast 224.0.0.1 dev eth0 src 10.78.0.1.
        pub const MULTICAST: &str = "680000001800000007000000ea21000002200000fe000005000200a008000f00fe00000008000100e00000010800040002000000080007000a4e0001080019000000000024000c000100000000000000000000000000000000000000000000000000000000000000";
        /// NLMSG_ERROR -EINVAL: 203.0.113.5 hits `blackhole 203.0.113.0/24`.
        pub const BLACKHOLE: &str = "38000000020000000700000054220000eaffffff240000001a000100070000000000000002200000000000000010000008000100cb007105";
        /// NLMSG_ERROR -EHOSTUNREACH: `unreachable 203.0.113.128/25`.
        pub const UNREACHABLE: &str = "380000000200000007000000842200008fffffff240000001a000100070000000000000002200000000000000010000008000100cb0071c8";
        /// NLMSG_ERROR -EACCES: `prohibit 198.18.0.0/15`.
        pub const PROHIBIT: &str = "380000000200000007000000b7220000f3ffffff240000001a000100070000000000000002200000000000000010000008000100c6120001";
        /// NLMSG_ERROR -ENETUNREACH: no route at all (a `throw` route too).
        pub const NO_ROUTE: &str = "380000000200000007000000eb2200009bffffff240000001a000100070000000000000002200000000000000010000008000100c63364c8";
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[rstest]
    #[case::via_gateway(
        fixture::VIA_GATEWAY,
        "198.51.100.7",
        RouteKind::Unicast,
        2,
        Some("10.78.0.254")
    )]
    #[case::on_link(fixture::ON_LINK, "10.78.0.2", RouteKind::Unicast, 2, None)]
    #[case::local(fixture::LOCAL, "10.78.0.1", RouteKind::Local, 1, None)]
    #[case::broadcast(fixture::BROADCAST, "10.78.0.255", RouteKind::Broadcast, 2, None)]
    #[case::multicast(fixture::MULTICAST, "224.0.0.1", RouteKind::Multicast, 2, None)]
    fn routes_parse(
        #[case] reply: &str,
        #[case] dst: &str,
        #[case] kind: RouteKind,
        #[case] oif: u32,
        #[case] gateway: Option<&str>,
    ) {
        let route = parse_route_reply(ip(dst), &hex(reply)).unwrap();
        assert_eq!(
            route,
            KernelRoute {
                dst: ip(dst),
                kind,
                oif,
                gateway: gateway.map(ip),
                prefsrc: Some(ip("10.78.0.1")),
                table: 254,
            }
        );
    }

    #[rstest]
    #[case::blackhole(fixture::BLACKHOLE, "blackhole")]
    #[case::unreachable(fixture::UNREACHABLE, "unreachable")]
    #[case::prohibit(fixture::PROHIBIT, "prohibit")]
    #[case::no_route(fixture::NO_ROUTE, "no route")]
    fn kernel_errors_become_route_errors(#[case] reply: &str, #[case] want: &str) {
        let dst = ip("203.0.113.5");
        let err = parse_route_reply(dst, &hex(reply)).unwrap_err();
        let matched = match want {
            "blackhole" => matches!(err, RouteError::Blackhole { .. }),
            "unreachable" => matches!(err, RouteError::Unreachable { .. }),
            "prohibit" => matches!(err, RouteError::Prohibited { .. }),
            _ => matches!(err, RouteError::NoRoute { .. }),
        };
        assert!(matched, "{want}: got {err:?}");
        assert!(err.to_string().contains("203.0.113.5"), "{err}");
    }

    #[test]
    fn other_errno_keeps_the_os_error() {
        let err = errno_to_error(ip("10.0.0.1").into(), libc::ENOBUFS);
        assert!(matches!(err, RouteError::Kernel { .. }), "{err:?}");
    }

    #[rstest]
    #[case::empty(vec![])]
    #[case::short_header(vec![0x38, 0, 0, 0, 2, 0])]
    #[case::cut_in_half(hex(fixture::VIA_GATEWAY)[..60].to_vec())]
    #[case::cut_rtmsg(hex(fixture::VIA_GATEWAY)[..20].iter().copied().enumerate().map(|(i, b)| if i == 0 { 20 } else { b }).collect())]
    #[case::error_without_code(hex("10000000020000000700000000000000"))]
    fn malformed_replies_never_panic(#[case] reply: Vec<u8>) {
        let err = parse_route_reply(ip("10.0.0.1"), &reply).unwrap_err();
        assert!(matches!(err, RouteError::Malformed(_)), "{err:?}");
    }

    #[test]
    fn every_truncation_of_a_real_reply_is_an_error_not_a_panic() {
        let full = hex(fixture::VIA_GATEWAY);
        for n in 0..full.len() {
            let mut cut = full[..n].to_vec();
            if n >= 4 {
                cut[0..4].copy_from_slice(&(n as u32).to_ne_bytes());
            }
            let _ = parse_route_reply(ip("198.51.100.7"), &cut);
        }
    }

    #[test]
    fn request_matches_what_ip_route_get_sends() {
        let req = build_route_request(ip("198.51.100.7"), 7);
        assert_eq!(
            req,
            hex(
                "24000000 1a00 0100 07000000 00000000 02200000 00000000 00100000 08000100 c6336407"
                    .replace(' ', "")
                    .as_str()
            )
        );
    }

    fn iface(nets: &[&str], loopback: bool) -> Interface {
        Interface {
            name: "eth0".into(),
            index: 2,
            mac: MacAddr::new(2, 0, 0, 0, 0, 1),
            ipv4: nets.iter().map(|n| n.parse().unwrap()).collect(),
            mtu: 1500,
            is_up: true,
            is_running: true,
            is_loopback: loopback,
        }
    }

    #[rstest]
    #[case::same_subnet_wins(&["192.168.1.5/24", "10.78.0.1/24"], "10.78.0.9", Some("10.78.0.1"))]
    #[case::else_first(&["192.168.1.5/24", "10.78.0.1/24"], "172.16.0.1", Some("192.168.1.5"))]
    #[case::none(&[], "10.78.0.9", None)]
    fn source_for_picks_like_arping(
        #[case] nets: &[&str],
        #[case] dst: &str,
        #[case] want: Option<&str>,
    ) {
        assert_eq!(iface(nets, false).source_for(ip(dst)), want.map(ip));
    }

    #[rstest]
    #[case::unicast_not_owned("10.78.0.200", false, true)]
    #[case::unspecified("0.0.0.0", false, false)]
    #[case::multicast("224.0.0.5", false, false)]
    #[case::limited_broadcast("255.255.255.255", false, false)]
    #[case::directed_broadcast("10.78.0.255", false, false)]
    #[case::loopback_on_ethernet("127.0.0.1", false, false)]
    #[case::loopback_on_lo("127.0.0.2", true, true)]
    fn source_checks(#[case] source: &str, #[case] loopback: bool, #[case] ok: bool) {
        let result = check_source(ip(source), &iface(&["10.78.0.1/24"], loopback));
        assert_eq!(result.is_ok(), ok, "{result:?}");
    }

    #[test]
    fn errors_carry_a_hint() {
        let down = RouteError::InterfaceDown {
            name: "veth1".into(),
        };
        assert_eq!(
            down.to_string(),
            "interface veth1 is down: bring it up with `ip link set veth1 up`"
        );
        let missing = RouteError::NoSuchInterface {
            name: "eht0".into(),
            available: vec!["eth0".into(), "lo".into()],
        };
        assert_eq!(
            missing.to_string(),
            "no interface named \"eht0\"; interfaces here: eth0, lo"
        );
    }

    #[test]
    fn ensure_arpable_refuses_group_addresses() {
        let mut route = Route {
            interface: iface(&["10.78.0.1/24"], false),
            source: ip("10.78.0.1"),
            next_hop: ip("10.78.0.255"),
            via_gateway: false,
            kind: RouteKind::Broadcast,
            source_owned_by_kernel: true,
        };
        assert!(route.ensure_arpable(ip("10.78.0.255")).is_err());
        route.kind = RouteKind::Unicast;
        assert!(route.ensure_arpable(ip("10.78.0.2")).is_ok());
    }

    /// Needs no privilege: every machine routes 127.0.0.1 to itself.
    #[test]
    fn loopback_is_local_on_any_host() {
        let route = route_get(Ipv4Addr::LOCALHOST).unwrap();
        assert_eq!(route.kind, RouteKind::Local);
        assert!(matches!(
            select(Ipv4Addr::LOCALHOST, None, None),
            Err(RouteError::LocalDestination { .. })
        ));
    }

    #[test]
    fn loopback_interface_lookup() {
        let lo = interface_by_name("lo").unwrap();
        assert!(lo.is_loopback && lo.is_up);
        assert!(lo.mtu >= 1500, "lo mtu {}", lo.mtu);
        assert!(lo.ipv4.iter().any(|n| n.ip() == Ipv4Addr::LOCALHOST));
        let err = interface_by_name("nettool-no-such0").unwrap_err();
        assert!(err.to_string().contains("lo"), "{err}");
    }

    #[test]
    fn the_ipv6_request_matches_what_ip_route_get_sends() {
        let dst: Ipv6Addr = "fd00:6e74::2".parse().unwrap();
        let msg = build_route_request_v6(dst, 7);
        assert_eq!(msg.len(), 16 + 12 + 4 + 16);
        assert_eq!((msg[16], msg[17]), (libc::AF_INET6 as u8, 128));
        assert_eq!(&msg[16 + 12 + 4..], &dst.octets());
    }

    /// An `RTM_NEWROUTE` for `dst` via `gateway` out of index 2 from
    /// `src`, as the kernel answers.
    fn reply_v6(kind: u8, gateway: Option<Ipv6Addr>, src: Option<Ipv6Addr>) -> Vec<u8> {
        let mut msg = vec![0u8; netlink::HEADER_LEN + RTMSG_LEN];
        msg[16] = libc::AF_INET6 as u8;
        msg[16 + 7] = kind;
        netlink::push_attribute(&mut msg, RTA_OIF, &2u32.to_ne_bytes());
        if let Some(g) = gateway {
            netlink::push_attribute(&mut msg, RTA_GATEWAY, &g.octets());
        }
        if let Some(s) = src {
            netlink::push_attribute(&mut msg, RTA_PREFSRC, &s.octets());
        }
        Header {
            len: msg.len() as u32,
            kind: RTM_NEWROUTE,
            flags: 0,
            seq: 1,
            pid: 0,
        }
        .emit(&mut msg);
        msg
    }

    #[test]
    fn ipv6_replies_parse_and_broken_ones_are_errors() {
        let dst: Ipv6Addr = "2001:db8::7".parse().unwrap();
        let gw: Ipv6Addr = "fe80::1".parse().unwrap();
        let src: Ipv6Addr = "fd00:6e74::1".parse().unwrap();
        let r = parse_route_reply_v6(dst, &reply_v6(1, Some(gw), Some(src))).unwrap();
        assert_eq!(
            (r.oif, r.gateway, r.prefsrc, r.kind),
            (2, Some(gw), Some(src), RouteKind::Unicast)
        );
        let local = parse_route_reply_v6(dst, &reply_v6(2, None, None)).unwrap();
        assert_eq!(local.kind, RouteKind::Local);
        let whole = reply_v6(1, Some(gw), Some(src));
        for n in 0..whole.len() {
            let _ = parse_route_reply_v6(dst, &whole[..n]);
        }
        let mut v4 = whole.clone();
        v4[16] = libc::AF_INET as u8;
        assert!(parse_route_reply_v6(dst, &v4).is_err());
    }

    #[rstest]
    #[case::in_the_prefix("fd00:6e74::9", "fd00:6e74::1")]
    #[case::another_global("2001:db8::1", "fd00:6e74::1")]
    #[case::link_local("fe80::9", "fe80::1")]
    fn the_ipv6_source_is_chosen_by_prefix_then_scope(#[case] dst: &str, #[case] want: &str) {
        let a = |addr: &str, prefix_len| Ipv6Address {
            ifindex: 2,
            addr: addr.parse().unwrap(),
            prefix_len,
            tentative: false,
        };
        let mine = [a("fe80::1", 64), a("fd00:6e74::1", 64)];
        assert_eq!(
            pick_source_v6(&mine, dst.parse().unwrap()),
            Some(want.parse().unwrap())
        );
        assert_eq!(
            pick_source_v6(&[a("fe80::1", 64)], "fd00::1".parse().unwrap()),
            None
        );
    }

    #[test]
    fn if_inet6_lines_are_read_and_bad_ones_skipped() {
        let text = "fd006e74000000000000000000000001 0000000a 40 00 80 veth0\n\
                    fe800000000000000000000000000001 0a 40 20 c0 veth0\n\
                    not a line\n\
                    zz006e74000000000000000000000001 0a 40 00 80 veth0\n";
        let got = parse_if_inet6(text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].ifindex, 10);
        assert_eq!(
            got[0].addr,
            "fd00:6e74::1".parse::<std::net::Ipv6Addr>().unwrap()
        );
        assert_eq!(got[0].prefix_len, 64);
        assert!(!got[0].tentative);
        assert!(got[1].tentative);
        assert!(got[0].contains("fd00:6e74::abcd".parse().unwrap()));
        assert!(!got[0].contains("fd00:6e75::1".parse().unwrap()));
    }
}
