//! `nettool lab`: a disposable virtual LAN with real Linux hosts on it.
//!
//! A lab named `NAME` is:
//!
//! ```text
//!  current namespace                    namespace nettool-NAME
//!  ntl-NAME 10.78.0.1/24  <== veth ==>  eth0 10.78.0.2/24, .3, .4, .5 (+ lo up)
//! ```
//!
//! The host end gets the subnet's first address, which gives the current
//! namespace a connected route to the lab; the peer end holds one address
//! per simulated host, all answered (ARP, ping, TCP) by the real kernel of
//! the lab namespace. Both ends also speak IPv6: a ULA /64 (fd00:6e74::/64
//! for the default lab, see [`ipv6_subnet`]) with the same host numbers,
//! plus their link-local addresses, for `nettool ndp`. IPv6 is turned on
//! quietly (no DAD, no router solicitations, no router advertisements
//! believed), so the only IPv6 frames in captures are the ones a command
//! caused, and the kernel's MLD reports when the ends come up.
//!
//! There is no state file: [`status`] reads the live system, so a lab
//! created by one run is seen, and removed, by the next. Unless the spec
//! says otherwise, the lab also runs [`services`]: real kernel TCP services
//! (HTTP, echo, a trickle stream, a closed and a filtered port) served by
//! a `nettool lab serve` process inside the namespace, whose pid file and
//! log live in [`run_dir`]; [`down`] stops every process named by a pid
//! file there that still lives in the lab's namespace.
//!
//! Safety: [`up`] refuses a subnet outside the private and test ranges, and
//! one that overlaps any address or route of the current namespace, so a
//! lab can never shadow a real network.
//!
//! The end-to-end tests' throwaway topologies live here too, beside the
//! [`netns`] plumbing they are built from, but only with the `testkit`
//! feature: `testnet` (one namespace, or two hosts on a veth), `impaired`
//! (two hosts joined through `nettool impair`) and `routed` (two hosts two
//! routers apart). They panic rather than return errors and name their
//! namespaces after the test process, which suits tests and nothing else,
//! and neither `nettool lab` nor `nettool impair` needs them, so the shipped
//! library and binary leave them out. The feature is off by default; the
//! package's own tests turn it on through a dev-dependency on the package
//! itself (Cargo.toml), so `cargo test` and `cargo clippy --all-targets` see
//! them and `cargo build` does not.

#[cfg(feature = "testkit")]
pub mod impaired;
pub mod netns;
#[cfg(feature = "testkit")]
pub mod routed;
pub mod services;
#[cfg(feature = "testkit")]
pub mod testnet;

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ipnetwork::{Ipv4Network, Ipv6Network};
use pnet::util::MacAddr;
use serde::Serialize;

use crate::serde_display::{display, display_all, display_opt};
use thiserror::Error;

use netns::{Link, Namespace, NetnsError, RouteEntry};
use services::ServiceError;
use services::probe::ServicesStatus;

/// Prefix of a lab's namespace: lab `NAME` lives in `nettool-NAME`.
pub const NAMESPACE_PREFIX: &str = "nettool-";
/// Prefix of a lab's host-side interface: `ntl-NAME`.
pub const HOST_PREFIX: &str = "ntl-";
/// The peer end's name inside the lab namespace.
pub const PEER_DEV: &str = "eth0";
/// Longest lab name: `ntl-NAME` must fit Linux's 15-byte interface names.
pub const MAX_NAME_LEN: usize = 15 - HOST_PREFIX.len();
/// Most hosts a lab may hold (addresses on the peer end).
pub const MAX_HOSTS: u16 = 1024;
/// Parent of every lab's run directory.
pub const RUN_ROOT: &str = "/run/nettool";

/// The ranges a lab subnet must lie in: private (RFC 1918), benchmarking
/// (RFC 2544) and documentation (RFC 5737) space, which no public network
/// uses, so a lab can never hide a real destination on the internet.
const ALLOWED: [(Ipv4Addr, u8); 7] = [
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    (Ipv4Addr::new(198, 18, 0, 0), 15),
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
];

/// Why a lab could not be created, inspected or removed.
#[derive(Debug, Error)]
pub enum LabError {
    #[error(
        "invalid lab name {name:?}: {why} (use 1 to {MAX_NAME_LEN} characters from a-z, 0-9 and '-')"
    )]
    InvalidName { name: String, why: &'static str },
    #[error("invalid lab subnet {subnet}: {why}")]
    InvalidSubnet { subnet: Ipv4Network, why: String },
    #[error(
        "{hosts} hosts do not fit in {subnet}: it has room for {room} besides the host end \
         (use a larger subnet or fewer hosts)"
    )]
    TooManyHosts {
        hosts: u16,
        subnet: Ipv4Network,
        room: u64,
    },
    #[error(
        "lab {name} already exists: inspect it with `nettool lab status --name {name}` \
         or remove it with `nettool lab down --name {name}`"
    )]
    AlreadyExists { name: String },
    #[error("subnet {subnet} overlaps {conflict}, already present on this host: {advice}")]
    Overlap {
        subnet: Ipv4Network,
        conflict: String,
        /// What the overlap means and what to do: another lab's subnet
        /// is named as such, anything else is a real network.
        advice: String,
    },
    #[error("lab {name} was created but cannot be read back: {why}")]
    Vanished { name: String, why: String },
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error(transparent)]
    Services(#[from] ServiceError),
    #[error("{what}: {err}")]
    Io { what: String, err: io::Error },
}

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabSpec {
    /// Names the namespace (`nettool-NAME`) and host interface (`ntl-NAME`).
    pub name: String,
    pub subnet: Ipv4Network,
    /// How many addresses the peer end answers for (`.2`, `.3`, …).
    pub hosts: u16,
    /// The nettool executable that runs the lab's [`services`]
    /// (`nettool lab serve`); `None` for a bare lab. The CLI passes its own
    /// executable; integration tests pass `env!("CARGO_BIN_EXE_nettool")`,
    /// since there the running executable is the test binary.
    pub services: Option<PathBuf>,
}

impl Default for LabSpec {
    fn default() -> LabSpec {
        LabSpec {
            name: "lab".into(),
            subnet: Ipv4Network::new(Ipv4Addr::new(10, 78, 0, 0), 24).expect("valid /24"),
            hosts: 4,
            services: None,
        }
    }
}

/// The names and addresses a [`LabSpec`] turns into. Pure data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabPlan {
    pub name: String,
    pub namespace: String,
    pub host_interface: String,
    pub peer_interface: String,
    /// The subnet, normalized to its network address.
    #[serde(serialize_with = "display")]
    pub subnet: Ipv4Network,
    /// The host end's address: the subnet's first host address.
    #[serde(serialize_with = "display")]
    pub host_address: Ipv4Network,
    /// The peer end's addresses, in order.
    #[serde(serialize_with = "display_all")]
    pub peer_addresses: Vec<Ipv4Network>,
    /// The lab's IPv6 prefix (see [`ipv6_subnet`]), and the host end's and
    /// the peer end's addresses in it (`::1`, then `::2`, … as in IPv4).
    /// Both ends also have their kernel's link-local address.
    #[serde(serialize_with = "display")]
    pub subnet6: Ipv6Network,
    #[serde(serialize_with = "display")]
    pub host_address6: Ipv6Network,
    #[serde(serialize_with = "display_all")]
    pub peer_addresses6: Vec<Ipv6Network>,
}

/// A lab's IPv6 prefix: a ULA /64 under fd00:6e74::/48 ("nt"), its fourth
/// group the IPv4 subnet's second and third octets relative to the
/// default lab's, so the default lab (10.78.0.0/24) is fd00:6e74::/64 and
/// labs on other /24s get prefixes of their own.
pub fn ipv6_subnet(subnet: Ipv4Network) -> Ipv6Network {
    let o = subnet.network().octets();
    let group = u16::from_be_bytes([o[1], o[2]]) ^ 0x4e00;
    Ipv6Network::new(Ipv6Addr::new(0xfd00, 0x6e74, 0, group, 0, 0, 0, 0), 64)
        .expect("a /64 is valid")
}

impl LabSpec {
    /// Validates the spec and computes every name and address, touching
    /// nothing.
    pub fn plan(&self) -> Result<LabPlan, LabError> {
        validate_name(&self.name)?;
        let subnet = check_subnet(self.subnet)?;
        let prefix = subnet.prefix();
        // Addresses besides network, broadcast and the host end.
        let room = (1u64 << (32 - u32::from(prefix))) - 3;
        if self.hosts == 0 {
            return Err(LabError::InvalidSubnet {
                subnet,
                why: "a lab needs at least one host".into(),
            });
        }
        if u64::from(self.hosts) > room || self.hosts > MAX_HOSTS {
            return Err(LabError::TooManyHosts {
                hosts: self.hosts,
                subnet,
                room: room.min(u64::from(MAX_HOSTS)),
            });
        }
        let base = u32::from(subnet.network());
        let at = |offset: u32| {
            Ipv4Network::new(Ipv4Addr::from(base + offset), prefix).expect("prefix checked")
        };
        let subnet6 = ipv6_subnet(subnet);
        let at6 = |n: u32| {
            let ip = Ipv6Addr::from(u128::from(subnet6.network()) + u128::from(n));
            Ipv6Network::new(ip, 64).expect("a /64 is valid")
        };
        Ok(LabPlan {
            subnet6,
            host_address6: at6(1),
            peer_addresses6: (0..u32::from(self.hosts)).map(|i| at6(2 + i)).collect(),
            name: self.name.clone(),
            namespace: namespace_name(&self.name),
            host_interface: host_interface_name(&self.name),
            peer_interface: PEER_DEV.into(),
            subnet,
            host_address: at(1),
            peer_addresses: (0..u32::from(self.hosts)).map(|i| at(2 + i)).collect(),
        })
    }
}

/// Checks a lab name: `[a-z0-9-]`, 1 to [`MAX_NAME_LEN`] characters, no
/// leading '-' (it would read as an option to `ip`).
pub fn validate_name(name: &str) -> Result<(), LabError> {
    let why = if name.is_empty() {
        "it is empty"
    } else if name.len() > MAX_NAME_LEN {
        "it is too long for the interface name ntl-NAME"
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        "it contains a character other than a-z, 0-9 and '-'"
    } else if name.starts_with('-') {
        "it starts with '-'"
    } else {
        return Ok(());
    };
    Err(LabError::InvalidName {
        name: name.into(),
        why,
    })
}

fn check_subnet(subnet: Ipv4Network) -> Result<Ipv4Network, LabError> {
    let subnet =
        Ipv4Network::new(subnet.network(), subnet.prefix()).expect("same prefix stays valid");
    let invalid = |why: &str| LabError::InvalidSubnet {
        subnet,
        why: why.into(),
    };
    if subnet.prefix() > 30 {
        return Err(invalid(
            "a lab needs at least a /30 (the host end and one host)",
        ));
    }
    let inside = ALLOWED.iter().any(|&(ip, prefix)| {
        let range = Ipv4Network::new(ip, prefix).expect("valid constant");
        prefix <= subnet.prefix() && range.contains(subnet.network())
    });
    if !inside {
        return Err(invalid(
            "it is not private or test address space; use one inside 10.0.0.0/8, \
             172.16.0.0/12, 192.168.0.0/16, 198.18.0.0/15 or a TEST-NET",
        ));
    }
    Ok(subnet)
}

/// The namespace of lab `name`.
pub fn namespace_name(name: &str) -> String {
    format!("{NAMESPACE_PREFIX}{name}")
}

/// The host-side interface of lab `name`.
pub fn host_interface_name(name: &str) -> String {
    format!("{HOST_PREFIX}{name}")
}

/// Where services of lab `name` keep their pid files: `/run/nettool/lab-NAME`.
pub fn run_dir(name: &str) -> PathBuf {
    Path::new(RUN_ROOT).join(format!("lab-{name}"))
}

fn overlaps(a: Ipv4Network, b: Ipv4Network) -> bool {
    a.contains(b.network()) || b.contains(a.network())
}

/// The first address or route of `links`/`routes` that overlaps `subnet`,
/// described for a person. Default routes (/0) do not count: they overlap
/// everything and shadow nothing. Pure.
pub fn find_overlap(subnet: Ipv4Network, links: &[Link], routes: &[RouteEntry]) -> Option<String> {
    for link in links {
        for addr in &link.ipv4 {
            if overlaps(subnet, *addr) {
                return Some(format!("address {addr} on {}", link.name));
            }
        }
    }
    for r in routes {
        if r.dst.prefix() > 0 && overlaps(subnet, r.dst) {
            let dev = r
                .dev
                .as_deref()
                .map(|d| format!(" dev {d}"))
                .unwrap_or_default();
            return Some(format!(
                "{} route {}{dev} (table {})",
                r.kind, r.dst, r.table
            ));
        }
    }
    None
}

/// What an overlap with `subnet` means, for the error: a lab's own
/// interface (`ntl-NAME`) holding an address of it is that lab's subnet,
/// which a second lab would make unreachable (not "a real network");
/// anything else is a network this host really uses. Pure.
pub fn overlap_advice(subnet: Ipv4Network, links: &[Link]) -> String {
    let lab = links.iter().find_map(|l| {
        let name = l.name.strip_prefix(HOST_PREFIX)?;
        l.ipv4.iter().any(|a| overlaps(subnet, *a)).then_some(name)
    });
    match lab {
        Some(name) => format!(
            "it is lab {name}'s subnet, and a second lab there would cut that one off; \
             choose another subnet, or remove lab {name} with `nettool lab down --name {name}`"
        ),
        None => "a lab there would shadow a real network; choose another subnet".into(),
    }
}

/// One end of the lab's veth pair, as the system reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabEnd {
    pub interface: String,
    pub index: u32,
    #[serde(serialize_with = "display")]
    pub mac: MacAddr,
    #[serde(serialize_with = "display_all")]
    pub addresses: Vec<Ipv4Network>,
    /// IPv6 addresses (the lab's ULA ones, then link-local).
    #[serde(serialize_with = "display_all")]
    pub addresses6: Vec<Ipv6Network>,
    /// Administratively up.
    pub up: bool,
    /// `UP`, `DOWN`, `LOWERLAYERDOWN`, … as the kernel reports it.
    pub operstate: String,
}

impl From<Link> for LabEnd {
    fn from(l: Link) -> LabEnd {
        LabEnd {
            interface: l.name,
            index: l.index,
            mac: l.mac,
            addresses: l.ipv4,
            addresses6: l.ipv6,
            up: l.up,
            operstate: l.operstate,
        }
    }
}

/// A lab as it exists right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabStatus {
    pub name: String,
    pub namespace: String,
    pub namespace_exists: bool,
    /// The lab's subnet, read from the host end's address.
    #[serde(serialize_with = "display_opt")]
    pub subnet: Option<Ipv4Network>,
    /// The end in the current namespace (`ntl-NAME`).
    pub host: Option<LabEnd>,
    /// The end inside the lab namespace (`eth0`), holding the hosts' addresses.
    pub peer: Option<LabEnd>,
    pub run_dir: PathBuf,
    /// The lab's services; `None` for a lab created without them.
    pub services: Option<ServicesStatus>,
    /// What is missing or down; empty for a healthy lab.
    pub problems: Vec<String>,
}

impl LabStatus {
    /// Whether every part of the lab is present and up.
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Reads lab `name` from the live system; `None` when no trace of it exists.
pub fn status(name: &str) -> Result<Option<LabStatus>, LabError> {
    validate_name(name)?;
    let namespace = namespace_name(name);
    let host_if = host_interface_name(name);
    let namespace_exists = netns::exists(&namespace);
    let host = netns::link(None, &host_if)?.map(LabEnd::from);
    let peer = if namespace_exists {
        netns::link(Some(&namespace), PEER_DEV)?.map(LabEnd::from)
    } else {
        None
    };
    let run_dir = run_dir(name);
    if !namespace_exists && host.is_none() && !run_dir.exists() {
        return Ok(None);
    }
    let mut problems = Vec::new();
    if !namespace_exists {
        problems.push(format!("namespace {namespace} is missing"));
    }
    match &host {
        None => problems.push(format!("host interface {host_if} is missing")),
        Some(h) if !h.up => problems.push(format!("host interface {host_if} is down")),
        Some(h) if h.addresses.is_empty() => {
            problems.push(format!("host interface {host_if} has no IPv4 address"))
        }
        Some(_) => {}
    }
    match &peer {
        None if namespace_exists => {
            problems.push(format!("{PEER_DEV} is missing in namespace {namespace}"))
        }
        Some(p) if !p.up => problems.push(format!("{PEER_DEV} in {namespace} is down")),
        _ => {}
    }
    let services = services::probe::status(name)?;
    if let Some(s) = &services {
        problems.extend(s.problems());
    }
    let subnet = host
        .as_ref()
        .and_then(|h| h.addresses.first())
        .map(|a| Ipv4Network::new(a.network(), a.prefix()).expect("same prefix stays valid"));
    Ok(Some(LabStatus {
        name: name.into(),
        namespace,
        namespace_exists,
        subnet,
        host,
        peer,
        run_dir,
        services,
        problems,
    }))
}

/// Deletes a link when dropped, unless kept: undoes a half-built lab.
struct LinkGuard<'a> {
    dev: &'a str,
    keep: bool,
}

impl Drop for LinkGuard<'_> {
    fn drop(&mut self) {
        if !self.keep {
            let _ = netns::delete_link(None, self.dev);
        }
    }
}

/// Removes the run directory when dropped, unless kept.
struct RunDirGuard {
    dir: PathBuf,
    keep: bool,
}

impl Drop for RunDirGuard {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
            let _ = std::fs::remove_dir(RUN_ROOT);
        }
    }
}

/// Creates the lab described by `spec`, and returns its status.
///
/// Refuses when the lab (or any part of it) already exists, or when the
/// subnet overlaps an address or route of the current namespace. With
/// `spec.services`, it also installs the filtered port's nftables rule
/// and starts the service process, and returns only once every service
/// listens. On any failure half-way, what was created is removed again,
/// the service process included.
pub fn up(spec: &LabSpec) -> Result<LabStatus, LabError> {
    let plan = spec.plan()?;
    netns::require_net_admin()?;
    if status(&plan.name)?.is_some() {
        return Err(LabError::AlreadyExists {
            name: plan.name.clone(),
        });
    }
    let links = netns::all_links(None)?;
    let routes = netns::routes(None)?;
    if let Some(conflict) = find_overlap(plan.subnet, &links, &routes) {
        let advice = overlap_advice(plan.subnet, &links);
        return Err(LabError::Overlap {
            subnet: plan.subnet,
            conflict,
            advice,
        });
    }

    let ns = Namespace::create(&plan.namespace)?;
    netns::disable_ipv6_everywhere(&plan.namespace)?;
    netns::add_veth(
        None,
        &plan.host_interface,
        &plan.peer_interface,
        Some(&plan.namespace),
    )?;
    let mut host_link = LinkGuard {
        dev: &plan.host_interface,
        keep: false,
    };
    // IPv6 on both ends, quietly (see netns::enable_ipv6_quietly), before
    // they come up: the link-local addresses are usable at once.
    let ipv6 = netns::enable_ipv6_quietly(None, &plan.host_interface)?
        && netns::enable_ipv6_quietly(Some(&plan.namespace), &plan.peer_interface)?;
    netns::add_address(None, &plan.host_interface, plan.host_address)?;
    if ipv6 {
        netns::ip_batch(
            None,
            &[format!(
                "addr add {} dev {} nodad",
                plan.host_address6, plan.host_interface
            )],
        )?;
    }
    let mut batch: Vec<String> = plan
        .peer_addresses
        .iter()
        .map(|a| format!("addr add {a} dev {}", plan.peer_interface))
        .collect();
    if ipv6 {
        batch.extend(
            plan.peer_addresses6
                .iter()
                .map(|a| format!("addr add {a} dev {} nodad", plan.peer_interface)),
        );
    }
    batch.push(format!("link set {} up", plan.peer_interface));
    netns::ip_batch(Some(&plan.namespace), &batch)?;
    netns::set_up(None, &plan.host_interface)?;

    // Declared after the guards above, so on failure it is undone first.
    let mut started = None;
    if let Some(exe) = &spec.services {
        let dir = RunDirGuard {
            dir: services::daemon::create_run_dir(&plan.name)?,
            keep: false,
        };
        services::firewall::install(&plan.namespace)?;
        let daemon = services::daemon::start(exe, &plan.name)?;
        started = Some((dir, daemon));
    }

    let status = settled_status(&plan.name, ipv6)?;
    if let Some((mut dir, daemon)) = started {
        daemon.keep();
        dir.keep = true;
    }
    host_link.keep = true;
    ns.keep();
    Ok(status)
}

/// How long `up` waits for the kernel to give both ends their
/// link-local addresses.
const LINK_LOCAL_WAIT: Duration = Duration::from_secs(2);

/// The new lab's status once both ends have their link-local IPv6
/// address (with IPv6 on). The kernel adds it when the link gets its
/// carrier, which veth reports a moment after `up` (the linkwatch
/// delay): read too early, the status would lack the address, and a
/// second read would differ from the one `up` returned. Past
/// [`LINK_LOCAL_WAIT`] the status is returned as it is.
fn settled_status(name: &str, ipv6: bool) -> Result<LabStatus, LabError> {
    let deadline = Instant::now() + LINK_LOCAL_WAIT;
    loop {
        let status = status(name)?.ok_or_else(|| LabError::Vanished {
            name: name.to_string(),
            why: "no trace of it is left".into(),
        })?;
        let has_link_local = |end: &Option<LabEnd>| {
            end.as_ref().is_some_and(|e| {
                e.addresses6
                    .iter()
                    .any(|a| a.ip().segments()[0] & 0xffc0 == 0xfe80)
            })
        };
        let settled = !ipv6 || (has_link_local(&status.host) && has_link_local(&status.peer));
        if settled || Instant::now() >= deadline {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What [`down`] removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DownReport {
    pub name: String,
    /// Pids of lab services that were stopped.
    pub stopped: Vec<u32>,
    /// What was removed, for people: `interface ntl-lab`, `namespace nettool-lab`, …
    pub removed: Vec<String>,
}

impl DownReport {
    /// True when the lab did not exist at all (`down` is idempotent).
    pub fn nothing_was_there(&self) -> bool {
        self.stopped.is_empty() && self.removed.is_empty()
    }
}

/// Removes lab `name`: its services, host interface, namespace and run
/// directory. Idempotent: removing a lab that is not there succeeds, and
/// the report says so.
pub fn down(name: &str) -> Result<DownReport, LabError> {
    validate_name(name)?;
    netns::require_net_admin()?;
    let namespace = namespace_name(name);
    let host_if = host_interface_name(name);
    let dir = run_dir(name);
    let mut report = DownReport {
        name: name.into(),
        stopped: Vec::new(),
        removed: Vec::new(),
    };
    if dir.exists() {
        report.stopped = stop_services(&dir, &namespace)?;
    }
    // The host end first: deleting it removes the pair at once, whereas a
    // deleted namespace releases its interfaces asynchronously.
    if netns::delete_link(None, &host_if)? {
        report.removed.push(format!("interface {host_if}"));
    }
    if netns::delete(&namespace)? {
        report.removed.push(format!("namespace {namespace}"));
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|err| LabError::Io {
            what: format!("removing {}", dir.display()),
            err,
        })?;
        report
            .removed
            .push(format!("run directory {}", dir.display()));
    }
    // The parent goes too once no lab uses it (fails, harmlessly, otherwise).
    let _ = std::fs::remove_dir(RUN_ROOT);
    Ok(report)
}

/// Stops the processes named by `*.pid` files in `dir`, and removes the
/// files. A process is only signalled when it still lives in the lab's
/// namespace, so a pid reused by an unrelated process is never touched.
fn stop_services(dir: &Path, namespace: &str) -> Result<Vec<u32>, LabError> {
    let io_err = |what: String| move |err| LabError::Io { what, err };
    let mut stopped = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(io_err(format!("listing {}", dir.display())))?;
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "pid") {
            continue;
        }
        let pid = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        if let Some(pid) = pid
            && lives_in(pid, namespace)
            && terminate(pid)
        {
            stopped.push(pid);
        }
        std::fs::remove_file(&path).map_err(io_err(format!("removing {}", path.display())))?;
    }
    stopped.sort_unstable();
    Ok(stopped)
}

/// Whether process `pid` runs (not a zombie) inside named namespace
/// `namespace`: a pid from a pid file is only trusted this far, since the
/// process may have gone and its pid been reused.
pub(crate) fn lives_in(pid: u32, namespace: &str) -> bool {
    let Ok(lab_ns) = std::fs::metadata(netns::netns_path(namespace)) else {
        return false;
    };
    let proc_ns = std::fs::metadata(format!("/proc/{pid}/ns/net")).ok();
    proc_ns.is_some_and(|p| p.ino() == lab_ns.ino() && p.dev() == lab_ns.dev()) && running(pid)
}

/// SIGTERM, up to a second's grace, then SIGKILL. True if it was signalled.
fn terminate(pid: u32) -> bool {
    let Ok(raw) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: plain syscall; `raw` was checked to live in the lab namespace.
    if unsafe { libc::kill(raw, libc::SIGTERM) } < 0 {
        return false;
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if !running(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: as above.
    unsafe { libc::kill(raw, libc::SIGKILL) };
    true
}

/// Alive and not a zombie (a zombie has exited; only its parent's `wait` is missing).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn net(s: &str) -> Ipv4Network {
        s.parse().unwrap()
    }

    fn spec(name: &str, subnet: &str, hosts: u16) -> LabSpec {
        LabSpec {
            name: name.into(),
            subnet: net(subnet),
            hosts,
            services: None,
        }
    }

    #[test]
    fn default_plan() {
        let plan = LabSpec::default().plan().unwrap();
        assert_eq!(plan.namespace, "nettool-lab");
        assert_eq!(plan.host_interface, "ntl-lab");
        assert_eq!(plan.peer_interface, "eth0");
        assert_eq!(plan.host_address, net("10.78.0.1/24"));
        assert_eq!(plan.subnet6.to_string(), "fd00:6e74::/64");
        assert_eq!(plan.host_address6.to_string(), "fd00:6e74::1/64");
        assert_eq!(plan.peer_addresses6[3].to_string(), "fd00:6e74::5/64");
        assert_eq!(
            ipv6_subnet(net("10.79.0.0/24")).to_string(),
            "fd00:6e74:0:100::/64"
        );
        assert_eq!(
            plan.peer_addresses,
            [
                "10.78.0.2/24",
                "10.78.0.3/24",
                "10.78.0.4/24",
                "10.78.0.5/24"
            ]
            .map(net)
        );
    }

    #[rstest]
    #[case::ok("lab", true)]
    #[case::digits_and_dash("lab-2", true)]
    #[case::longest("abcdefghijk", true)]
    #[case::too_long("abcdefghijkl", false)]
    #[case::empty("", false)]
    #[case::upper("Lab", false)]
    #[case::dot("lab.1", false)]
    #[case::slash("a/b", false)]
    #[case::space("a b", false)]
    #[case::leading_dash("-lab", false)]
    fn names(#[case] name: &str, #[case] ok: bool) {
        assert_eq!(validate_name(name).is_ok(), ok, "{name:?}");
    }

    #[rstest]
    #[case::slash_30_one_host("10.1.2.4/30", 1, Ok("10.1.2.4/30"))]
    #[case::slash_30_two_hosts("10.1.2.4/30", 2, Err("do not fit"))]
    #[case::slash_31("10.1.2.4/31", 1, Err("at least a /30"))]
    #[case::normalized("10.78.0.77/24", 4, Ok("10.78.0.0/24"))]
    #[case::full_24("192.168.5.0/24", 253, Ok("192.168.5.0/24"))]
    #[case::over_full_24("192.168.5.0/24", 254, Err("do not fit"))]
    #[case::zero_hosts("10.78.0.0/24", 0, Err("at least one host"))]
    #[case::above_cap("10.0.0.0/16", 1025, Err("do not fit"))]
    #[case::public("8.8.8.0/24", 4, Err("not private"))]
    #[case::straddles_private("172.0.0.0/8", 4, Err("not private"))]
    #[case::loopback("127.0.0.0/24", 4, Err("not private"))]
    #[case::benchmark("198.18.0.0/24", 4, Ok("198.18.0.0/24"))]
    fn subnets_and_host_counts(
        #[case] subnet: &str,
        #[case] hosts: u16,
        #[case] want: Result<&str, &str>,
    ) {
        let got = spec("lab", subnet, hosts).plan();
        match want {
            Ok(normalized) => {
                let plan = got.unwrap();
                assert_eq!(plan.subnet, net(normalized));
                assert_eq!(plan.peer_addresses.len(), usize::from(hosts));
                let last = plan.peer_addresses.last().unwrap().ip();
                assert!(plan.subnet.contains(last));
                assert_ne!(last, plan.subnet.broadcast());
            }
            Err(fragment) => {
                let err = got.unwrap_err().to_string();
                assert!(err.contains(fragment), "{err}");
            }
        }
    }

    fn link(name: &str, addrs: &[&str]) -> Link {
        Link {
            name: name.into(),
            index: 2,
            mac: MacAddr::zero(),
            mtu: 1500,
            up: true,
            operstate: "UP".into(),
            ipv4: addrs.iter().map(|a| net(a)).collect(),
            has_ipv6: false,
            ipv6: Vec::new(),
        }
    }

    fn route(dst: &str) -> RouteEntry {
        RouteEntry {
            dst: net(dst),
            kind: "unicast".into(),
            dev: Some("eth1".into()),
            table: "main".into(),
        }
    }

    #[rstest]
    #[case::clear("10.78.0.0/24", None)]
    #[case::address_inside("10.99.0.0/24", Some("address 10.99.0.7/16 on eth0"))]
    #[case::lab_inside_address_net("10.99.3.0/24", Some("address 10.99.0.7/16 on eth0"))]
    #[case::route_inside(
        "172.16.0.0/12",
        Some("unicast route 172.20.1.0/24 dev eth1 (table main)")
    )]
    #[case::covering_route(
        "192.168.7.0/24",
        Some("unicast route 192.168.0.0/16 dev eth1 (table main)")
    )]
    fn overlap_detection(#[case] subnet: &str, #[case] want: Option<&str>) {
        let links = [
            link("lo", &["127.0.0.1/8"]),
            link("eth0", &["10.99.0.7/16"]),
        ];
        let routes = [
            route("0.0.0.0/0"),
            route("172.20.1.0/24"),
            route("192.168.0.0/16"),
        ];
        assert_eq!(find_overlap(net(subnet), &links, &routes).as_deref(), want);
    }

    #[test]
    fn an_overlap_with_another_lab_names_that_lab() {
        let links = [
            link("eth0", &["192.168.1.5/24"]),
            link("ntl-lab", &["10.78.0.1/24"]),
        ];
        let advice = overlap_advice(net("10.78.0.0/24"), &links);
        assert!(advice.starts_with("it is lab lab's subnet"), "{advice}");
        assert!(advice.contains("nettool lab down --name lab"), "{advice}");
        assert!(!advice.contains("real network"), "{advice}");
        let advice = overlap_advice(net("192.168.1.0/24"), &links);
        assert_eq!(
            advice,
            "a lab there would shadow a real network; choose another subnet"
        );
    }

    #[test]
    fn status_serializes_for_scripts() {
        let status = LabStatus {
            name: "lab".into(),
            namespace: "nettool-lab".into(),
            namespace_exists: true,
            subnet: Some(net("10.78.0.0/24")),
            host: Some(LabEnd {
                interface: "ntl-lab".into(),
                index: 7,
                mac: MacAddr::new(2, 0, 0, 0, 0, 1),
                addresses: vec![net("10.78.0.1/24")],
                addresses6: vec!["fd00:6e74::1/64".parse().unwrap()],
                up: true,
                operstate: "UP".into(),
            }),
            peer: None,
            run_dir: run_dir("lab"),
            services: None,
            problems: vec![],
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["subnet"], "10.78.0.0/24");
        assert_eq!(json["host"]["mac"], "02:00:00:00:00:01");
        assert_eq!(json["host"]["addresses"][0], "10.78.0.1/24");
        assert_eq!(json["host"]["addresses6"][0], "fd00:6e74::1/64");
        assert_eq!(json["peer"], serde_json::Value::Null);
        assert_eq!(json["run_dir"], "/run/nettool/lab-lab");
    }

    #[test]
    fn zombie_and_missing_processes_are_not_running() {
        assert!(running(std::process::id()));
        assert!(!running(u32::MAX));
    }
}
