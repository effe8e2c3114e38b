//! Typed helpers over iproute2's `ip` for network namespaces and links.
//!
//! Configuration goes through `ip` rather than hand-written netlink: it is
//! what an administrator would type, its errors are the ones people know,
//! and none of it is on a fast path. Reads use `ip -j` and serde.
//!
//! Every function takes the namespace to act in as `Option<&str>`: `None`
//! is the namespace of the calling thread (and of the `ip` processes it
//! spawns, which inherit it). [`in_namespace`] runs a closure on a thread
//! that entered a named namespace; tests use it to run whole scenarios,
//! `lab::up` included, without touching the machine's own namespace.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ipnetwork::{Ipv4Network, Ipv6Network};
use pnet::util::MacAddr;
use serde::Deserialize;
use thiserror::Error;

/// Where `ip netns add` pins named namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// What went wrong while configuring namespaces and links.
#[derive(Debug, Error)]
pub enum NetnsError {
    #[error(
        "the `ip` command (iproute2) is not installed: install it with `apt-get install iproute2`"
    )]
    IpMissing,
    #[error(
        "`{command}` was refused: configuring namespaces needs root or CAP_NET_ADMIN; run as root"
    )]
    NotPermitted { command: String },
    #[error("`{command}` failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error(
        "could not read the output of `{command}` ({detail}); please report this as a nettool bug"
    )]
    BadOutput { command: String, detail: String },
    #[error("network namespace {name} does not exist (see `ip netns list`)")]
    NoSuchNamespace { name: String },
    #[error("{what}: {err}")]
    Io { what: String, err: io::Error },
}

impl NetnsError {
    fn io(what: impl Into<String>, err: io::Error) -> NetnsError {
        NetnsError::Io {
            what: what.into(),
            err,
        }
    }
}

/// Fails with a clear message unless the process may configure networking
/// (CAP_NET_ADMIN in its effective set; root has it).
pub fn require_net_admin() -> Result<(), NetnsError> {
    const CAP_NET_ADMIN: u32 = 12;
    let status = std::fs::read_to_string("/proc/thread-self/status")
        .map_err(|e| NetnsError::io("reading /proc/thread-self/status", e))?;
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    if caps & (1 << CAP_NET_ADMIN) == 0 {
        return Err(NetnsError::NotPermitted {
            command: "network namespace setup".into(),
        });
    }
    Ok(())
}

/// `ip [-n NS] ARGS...` as a command line, for messages.
fn render(netns: Option<&str>, args: &[&str]) -> String {
    let mut s = String::from("ip");
    if let Some(ns) = netns {
        s.push_str(" -n ");
        s.push_str(ns);
    }
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

fn ip_command(netns: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    cmd.args(args);
    cmd
}

fn spawn_error(err: io::Error, command: String) -> NetnsError {
    if err.kind() == io::ErrorKind::NotFound {
        NetnsError::IpMissing
    } else {
        NetnsError::io(format!("running `{command}`"), err)
    }
}

fn failure(command: String, stderr: &[u8]) -> NetnsError {
    let stderr = String::from_utf8_lossy(stderr).trim().to_string();
    if stderr.contains("Operation not permitted") || stderr.contains("Permission denied") {
        NetnsError::NotPermitted { command }
    } else {
        NetnsError::Failed { command, stderr }
    }
}

/// Runs `ip [-n NS] ARGS...` and returns its standard output.
pub fn ip(netns: Option<&str>, args: &[&str]) -> Result<String, NetnsError> {
    let command = render(netns, args);
    let out = ip_command(netns, args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(e, command.clone()))?;
    if !out.status.success() {
        return Err(failure(command, &out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs many `ip` commands in one process (`ip -batch -`), one per line,
/// without the leading `ip`: adding 250 addresses costs one fork, not 250.
pub fn ip_batch(netns: Option<&str>, lines: &[String]) -> Result<(), NetnsError> {
    if lines.is_empty() {
        return Ok(());
    }
    // On failure `ip` names the line ("Command failed -:3"), so list them.
    let command = format!(
        "{} (commands: {})",
        render(netns, &["-batch", "-"]),
        lines.join("; ")
    );
    let mut child = ip_command(netns, &["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(e, command.clone()))?;
    let mut stdin = child.stdin.take().expect("stdin was piped");
    let script = lines.join("\n") + "\n";
    let written = stdin.write_all(script.as_bytes());
    drop(stdin);
    let out = child
        .wait_with_output()
        .map_err(|e| NetnsError::io(format!("waiting for `{command}`"), e))?;
    written.map_err(|e| NetnsError::io(format!("feeding `{command}`"), e))?;
    if !out.status.success() {
        return Err(failure(command, &out.stderr));
    }
    Ok(())
}

/// Path of the file that pins a named namespace.
pub fn netns_path(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

/// Whether a named namespace exists (a file in `/run/netns`; no subprocess).
pub fn exists(name: &str) -> bool {
    netns_path(name).exists()
}

/// Names of all named namespaces.
pub fn list() -> Result<Vec<String>, NetnsError> {
    let entries = match std::fs::read_dir(NETNS_RUN_DIR) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(NetnsError::io(format!("listing {NETNS_RUN_DIR}"), e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Creates a named namespace (`ip netns add`).
pub fn add(name: &str) -> Result<(), NetnsError> {
    ip(None, &["netns", "add", name]).map(drop)
}

/// Deletes a named namespace; `Ok(false)` when there was none (idempotent).
///
/// The namespace itself, and the veth ends inside it, disappear once the
/// last process inside has left; the kernel finishes that asynchronously.
pub fn delete(name: &str) -> Result<bool, NetnsError> {
    if !exists(name) {
        return Ok(false);
    }
    match ip(None, &["netns", "del", name]) {
        Ok(_) => Ok(true),
        // Lost a race with another deleter: the goal is reached.
        Err(_) if !exists(name) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Runs `f` on a fresh thread that has entered namespace `name`, and
/// returns what it returns (a panic in `f` is propagated).
///
/// `setns(CLONE_NEWNET)` changes only the calling thread, so the caller's
/// own thread, and every other thread of the process, stay where they
/// were. Sockets opened by `f`, `/proc/sys/net` paths it reads, and
/// processes it spawns (they inherit the thread's namespace) all belong to
/// `name`. `/sys/class/net` does not: it shows the namespace it was
/// mounted in.
pub fn in_namespace<T, F>(name: &str, f: F) -> Result<T, NetnsError>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    let path = netns_path(name);
    let file = File::open(&path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            NetnsError::NoSuchNamespace { name: name.into() }
        } else {
            NetnsError::io(format!("opening {}", path.display()), e)
        }
    })?;
    std::thread::scope(|scope| {
        let handle = scope.spawn(move || {
            // SAFETY: plain syscall on a descriptor we own for the call's duration.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc < 0 {
                let err = io::Error::last_os_error();
                return Err(if err.kind() == io::ErrorKind::PermissionDenied {
                    NetnsError::NotPermitted {
                        command: format!("setns into {name}"),
                    }
                } else {
                    NetnsError::io(format!("entering namespace {name}"), err)
                });
            }
            Ok(f())
        });
        match handle.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// A `Command` that runs `program` inside namespace `name`
/// (`ip netns exec NAME program`); add arguments as usual.
pub fn exec(name: &str, program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", name]).arg(program);
    cmd
}

/// Writes a sysctl (`net.ipv6.conf.all.disable_ipv6`, given as path
/// components so interface names with dots stay intact) in `netns`.
pub fn write_sysctl(netns: Option<&str>, key: &[&str], value: &str) -> Result<(), NetnsError> {
    let mut path = PathBuf::from("/proc/sys");
    path.extend(key);
    let write = || {
        std::fs::write(&path, value)
            .map_err(|e| NetnsError::io(format!("writing {value} to {}", path.display()), e))
    };
    match netns {
        None => write(),
        Some(ns) => in_namespace(ns, write)?,
    }
}

/// Turns IPv6 off on one interface, so it sends no router solicitations,
/// neighbour discovery or MLD reports that would pollute captures and
/// counters. A kernel without IPv6 has nothing to turn off.
pub fn disable_ipv6(netns: Option<&str>, dev: &str) -> Result<(), NetnsError> {
    if !Path::new("/proc/sys/net/ipv6").exists() {
        return Ok(());
    }
    write_sysctl(netns, &["net", "ipv6", "conf", dev, "disable_ipv6"], "1")
}

/// Turns IPv6 on for one interface that is not up yet, as quietly as
/// IPv6 goes: no duplicate address detection (its addresses are usable
/// at once, and no solicitations go out for them), no router
/// solicitations, and no router advertisements believed (a lab must not
/// route the host's traffic). Returns whether the kernel has IPv6 at all.
pub fn enable_ipv6_quietly(netns: Option<&str>, dev: &str) -> Result<bool, NetnsError> {
    if !Path::new("/proc/sys/net/ipv6").exists() {
        return Ok(false);
    }
    for (key, value) in [
        ("accept_dad", "0"),
        ("router_solicitations", "0"),
        ("accept_ra", "0"),
        ("disable_ipv6", "0"),
    ] {
        write_sysctl(netns, &["net", "ipv6", "conf", dev, key], value)?;
    }
    Ok(true)
}

/// Turns IPv6 off for every interface of `netns`, present and future.
/// Only ever for namespaces nettool owns: never the machine's own.
pub fn disable_ipv6_everywhere(netns: &str) -> Result<(), NetnsError> {
    if !Path::new("/proc/sys/net/ipv6").exists() {
        return Ok(());
    }
    in_namespace(netns, || {
        for scope in ["all", "default"] {
            write_sysctl(None, &["net", "ipv6", "conf", scope, "disable_ipv6"], "1")?;
        }
        Ok(())
    })?
}

/// One interface as `ip -j addr show` describes it (the fields nettool uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub index: u32,
    pub mac: MacAddr,
    pub mtu: u32,
    /// Administratively up (`UP` among the flags).
    pub up: bool,
    /// `operstate` as the kernel reports it: `UP`, `DOWN`, `LOWERLAYERDOWN`, `UNKNOWN`.
    pub operstate: String,
    pub ipv4: Vec<Ipv4Network>,
    /// Whether any IPv6 address is configured (none once IPv6 is disabled).
    pub has_ipv6: bool,
    /// The IPv6 addresses with their prefix, link-local ones included.
    pub ipv6: Vec<Ipv6Network>,
}

#[derive(Deserialize)]
struct JsonLink {
    ifindex: u32,
    ifname: String,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    mtu: u32,
    #[serde(default)]
    operstate: String,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    addr_info: Vec<JsonAddr>,
}

#[derive(Deserialize)]
struct JsonAddr {
    family: String,
    local: String,
    prefixlen: u8,
}

/// Parses the output of `ip -j addr show`. Pure.
pub fn parse_links(json: &str) -> Result<Vec<Link>, String> {
    let raw: Vec<JsonLink> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    raw.into_iter().map(link_from_json).collect()
}

fn link_from_json(j: JsonLink) -> Result<Link, String> {
    let mac = match j.address.as_deref() {
        Some(a) => a
            .parse()
            .map_err(|_| format!("bad MAC address {a:?} on {}", j.ifname))?,
        None => MacAddr::zero(),
    };
    let mut ipv4 = Vec::new();
    let mut has_ipv6 = false;
    let mut ipv6 = Vec::new();
    for a in j.addr_info {
        match a.family.as_str() {
            "inet" => {
                let ip: Ipv4Addr = a
                    .local
                    .parse()
                    .map_err(|_| format!("bad IPv4 address {:?}", a.local))?;
                ipv4.push(Ipv4Network::new(ip, a.prefixlen).map_err(|e| e.to_string())?);
            }
            "inet6" => {
                has_ipv6 = true;
                let ip: std::net::Ipv6Addr = a
                    .local
                    .parse()
                    .map_err(|_| format!("bad IPv6 address {:?}", a.local))?;
                ipv6.push(Ipv6Network::new(ip, a.prefixlen).map_err(|e| e.to_string())?);
            }
            _ => {}
        }
    }
    Ok(Link {
        up: j.flags.iter().any(|f| f == "UP"),
        name: j.ifname,
        index: j.ifindex,
        mac,
        mtu: j.mtu,
        operstate: j.operstate,
        ipv4,
        has_ipv6,
        ipv6,
    })
}

fn links(netns: Option<&str>, args: &[&str]) -> Result<Vec<Link>, NetnsError> {
    let mut full = vec!["-j"];
    full.extend_from_slice(args);
    let out = ip(netns, &full)?;
    let out = if out.trim().is_empty() { "[]" } else { &out };
    parse_links(out).map_err(|detail| NetnsError::BadOutput {
        command: render(netns, &full),
        detail,
    })
}

/// Every interface of `netns` with its addresses.
pub fn all_links(netns: Option<&str>) -> Result<Vec<Link>, NetnsError> {
    links(netns, &["addr", "show"])
}

/// One interface of `netns`, or `None` when it does not exist.
pub fn link(netns: Option<&str>, dev: &str) -> Result<Option<Link>, NetnsError> {
    // Listing all and filtering avoids telling "no such device" apart from
    // real failures by parsing `ip`'s error text.
    Ok(all_links(netns)?.into_iter().find(|l| l.name == dev))
}

/// The MAC address of `dev` in `netns`.
pub fn mac(netns: Option<&str>, dev: &str) -> Result<MacAddr, NetnsError> {
    match link(netns, dev)? {
        Some(l) => Ok(l.mac),
        None => Err(NetnsError::Failed {
            command: render(netns, &["-j", "addr", "show"]),
            stderr: format!("no interface {dev}"),
        }),
    }
}

/// Creates a veth pair: `name` in `netns`, its peer `peer` in `peer_netns`
/// (`None`: the same namespace as `name`).
pub fn add_veth(
    netns: Option<&str>,
    name: &str,
    peer: &str,
    peer_netns: Option<&str>,
) -> Result<(), NetnsError> {
    let mut args = vec!["link", "add", name, "type", "veth", "peer", "name", peer];
    if let Some(pns) = peer_netns {
        args.extend(["netns", pns]);
    }
    ip(netns, &args).map(drop)
}

/// Deletes a link (both ends, for a veth); `Ok(false)` when it was not there.
pub fn delete_link(netns: Option<&str>, dev: &str) -> Result<bool, NetnsError> {
    if link(netns, dev)?.is_none() {
        return Ok(false);
    }
    ip(netns, &["link", "del", dev]).map(|_| true)
}

/// Adds an IPv4 address with its prefix to `dev`.
pub fn add_address(netns: Option<&str>, dev: &str, addr: Ipv4Network) -> Result<(), NetnsError> {
    ip(netns, &["addr", "add", &addr.to_string(), "dev", dev]).map(drop)
}

/// Brings `dev` up.
pub fn set_up(netns: Option<&str>, dev: &str) -> Result<(), NetnsError> {
    ip(netns, &["link", "set", dev, "up"]).map(drop)
}

/// One IPv4 route of `ip -j route show table all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    /// The destination network (`default` is 0.0.0.0/0; a host is /32).
    pub dst: Ipv4Network,
    /// `unicast`, `local`, `broadcast`, `blackhole`, …
    pub kind: String,
    pub dev: Option<String>,
    pub table: String,
}

#[derive(Deserialize)]
struct JsonRoute {
    dst: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    dev: Option<String>,
    #[serde(default)]
    table: Option<String>,
}

/// Parses the output of `ip -4 -j route show table all`. Pure.
pub fn parse_routes(json: &str) -> Result<Vec<RouteEntry>, String> {
    let raw: Vec<JsonRoute> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    raw.into_iter()
        .map(|r| {
            let dst = if r.dst == "default" {
                Ipv4Network::new(Ipv4Addr::UNSPECIFIED, 0).expect("/0 is valid")
            } else {
                r.dst
                    .parse()
                    .map_err(|_| format!("bad route destination {:?}", r.dst))?
            };
            Ok(RouteEntry {
                dst,
                kind: r.kind.unwrap_or_else(|| "unicast".into()),
                dev: r.dev,
                table: r.table.unwrap_or_else(|| "main".into()),
            })
        })
        .collect()
}

/// Every IPv4 route of `netns`, in every table.
pub fn routes(netns: Option<&str>) -> Result<Vec<RouteEntry>, NetnsError> {
    let args = ["-4", "-j", "route", "show", "table", "all"];
    let out = ip(netns, &args)?;
    let out = if out.trim().is_empty() { "[]" } else { &out };
    parse_routes(out).map_err(|detail| NetnsError::BadOutput {
        command: render(netns, &args),
        detail,
    })
}

/// A named namespace that is deleted when dropped, unless kept.
///
/// Setup code creates one first and adds to it; when a later step fails,
/// the `?` drops the guard and the half-built namespace goes with it.
#[derive(Debug)]
pub struct Namespace {
    name: String,
    keep: bool,
}

impl Namespace {
    /// Creates namespace `name` with its loopback up.
    pub fn create(name: &str) -> Result<Namespace, NetnsError> {
        add(name)?;
        let ns = Namespace {
            name: name.to_string(),
            keep: false,
        };
        set_up(Some(name), "lo")?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Leaves the namespace in place and returns its name.
    pub fn keep(mut self) -> String {
        self.keep = true;
        std::mem::take(&mut self.name)
    }

    /// `ip netns exec NAME program`.
    pub fn exec(&self, program: impl AsRef<OsStr>) -> Command {
        exec(&self.name, program)
    }

    /// Runs `f` on a thread inside this namespace (see [`in_namespace`]).
    pub fn run<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> Result<T, NetnsError> {
        in_namespace(&self.name, f)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if !self.keep {
            // Nothing useful to do with an error while unwinding; a
            // leftover shows up in `ip netns list`.
            let _ = delete(&self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINKS: &str = r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqueue","operstate":"UNKNOWN","group":"default","txqlen":1000,"link_type":"loopback","address":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo","valid_life_time":4294967295,"preferred_life_time":4294967295}]},{"ifindex":2,"link_index":5,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":"d6:6d:61:a8:bb:f7","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":0,"addr_info":[{"family":"inet","local":"10.78.0.2","prefixlen":24,"broadcast":"10.78.0.255","scope":"global","label":"eth0","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet","local":"10.78.0.3","prefixlen":24,"broadcast":"10.78.0.255","scope":"global","secondary":true,"label":"eth0","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"fe80::d46d:61ff:fea8:bbf7","prefixlen":64,"scope":"link","valid_life_time":4294967295,"preferred_life_time":4294967295}]},{"ifindex":3,"ifname":"dummy0","flags":["BROADCAST","NOARP"],"mtu":1500,"operstate":"DOWN","addr_info":[]}]"#;

    #[test]
    fn links_parse_from_ip_json() {
        let links = parse_links(LINKS).unwrap();
        assert_eq!(links.len(), 3);
        let eth0 = &links[1];
        assert_eq!(eth0.name, "eth0");
        assert_eq!(eth0.index, 2);
        assert_eq!(eth0.mac, MacAddr::new(0xd6, 0x6d, 0x61, 0xa8, 0xbb, 0xf7));
        assert_eq!(
            eth0.ipv4,
            vec![
                "10.78.0.2/24".parse::<Ipv4Network>().unwrap(),
                "10.78.0.3/24".parse().unwrap()
            ]
        );
        assert!(eth0.up && eth0.has_ipv6);
        assert_eq!(eth0.operstate, "UP");
        assert!(!links[2].up && links[2].ipv4.is_empty() && !links[2].has_ipv6);
    }

    #[test]
    fn garbage_json_is_an_error() {
        assert!(parse_links("[{\"ifname\":1}]").is_err());
        assert!(parse_links("not json").is_err());
    }

    const ROUTES: &str = r#"[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]},{"dst":"192.0.2.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"192.0.2.2","flags":[]},{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},{"type":"blackhole","dst":"203.0.113.0/24","flags":[]}]"#;

    #[test]
    fn routes_parse_from_ip_json() {
        let routes = parse_routes(ROUTES).unwrap();
        let dsts: Vec<String> = routes.iter().map(|r| r.dst.to_string()).collect();
        assert_eq!(
            dsts,
            [
                "0.0.0.0/0",
                "192.0.2.0/24",
                "127.0.0.1/32",
                "203.0.113.0/24"
            ]
        );
        assert_eq!(routes[0].kind, "unicast");
        assert_eq!(routes[0].table, "main");
        assert_eq!(routes[2].kind, "local");
        assert_eq!(routes[2].table, "local");
        assert_eq!(routes[3].dev, None);
    }

    #[test]
    fn rendered_commands_read_like_a_shell_line() {
        assert_eq!(
            render(Some("nettool-lab"), &["link", "set", "eth0", "up"]),
            "ip -n nettool-lab link set eth0 up"
        );
    }
}
