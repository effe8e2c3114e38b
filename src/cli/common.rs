//! The flags every subcommand spells the same way, and what nettool says
//! to a user whose fingers learned another tool's letters.
//!
//! The rule: a letter in the table below means one thing in every
//! subcommand that takes it. Letters outside the table are a
//! subcommand's own and follow the tool it stands in for (arping's `-D`
//! `-U` `-A` in `arp`, hping3's flag letters `-S` `-A` `-F` `-R` `-P` `-U`
//! in `probe`, netcat's `-l` `-k` `-z` in `nc`, traceroute's `-f` `-m` in
//! `trace`, tcpdump's `-S` in `handshake` and `close`); none of them is
//! one of the table's letters.

use std::net::IpAddr;
use std::time::Duration;

use super::{Command, parse_duration};

/// The table of common flags, as `nettool --help` and the README show it.
pub const COMMON_FLAGS: &str = "\
COMMON FLAGS (one meaning in every subcommand that takes them):
  -i, -I, --interface IFACE  interface (default: the route's)
  -s, --source ADDRESS       source address
  -p, --source-port PORT     source port (--sport too)
  -c, --count N              how many requests or probes to send
  -w, -W, --wait DURATION    how long to wait for an answer
                             (arp and scan: --timeout too)
  --interval DURATION        time between requests or probes
  -v, --verbose              more on stderr: every frame or state
  -q, --quiet                only the answer (arp: the MAC)
  --json                     JSON lines (every command but nc)
  --pcap FILE                a capture of every frame in and out
  --cache-file PATH          the ARP cache
  --user NAME                run as NAME, not nobody, once set up (root)
  Durations read 250ms, 1.5s, 2m; a bare number is seconds.
  A port may be a service name wherever a port goes (-p ssh,
  10.78.0.2:http, scan HOST ftp-smtp): nettool's own table of
  well-known names first, then /etc/services.";

/// The common flags one parsed command line set, `None` where the
/// subcommand does not take the flag: what the table-driven test in
/// tests/cli.rs compares across subcommands.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Common {
    pub interface: Option<String>,
    pub source: Option<IpAddr>,
    pub source_port: Option<u16>,
    pub count: Option<u64>,
    pub wait: Option<Duration>,
    pub interval: Option<Duration>,
    pub verbose: Option<bool>,
    pub quiet: Option<bool>,
    pub json: Option<bool>,
}

impl Command {
    /// The common flags as this command line set them.
    pub fn common(&self) -> Common {
        match self {
            Command::Arp(a) => Common {
                interface: a.interface.clone(),
                source: a.source.map(Into::into),
                count: a.count.map(u64::from),
                wait: a.timeout,
                interval: a.interval,
                verbose: Some(a.verbose),
                quiet: Some(a.quiet),
                json: Some(a.json),
                ..Common::default()
            },
            // Its source is IPv6 only, which the table's IPv4 -s does not fit.
            Command::Ndp(a) => Common {
                interface: a.interface.clone(),
                count: a.count.map(u64::from),
                wait: a.timeout,
                interval: a.interval,
                verbose: Some(a.verbose),
                quiet: Some(a.quiet),
                json: Some(a.json),
                ..Common::default()
            },
            Command::Handshake(h) => connect_common(&h.connect),
            Command::Close(c) => connect_common(&c.connect),
            Command::Nc(n) => Common {
                interface: n.interface.clone(),
                source: n.source,
                source_port: n.source_port,
                wait: n.wait,
                verbose: Some(n.verbose),
                ..Common::default()
            },
            Command::Probe(p) => Common {
                interface: p.path.interface.clone(),
                source: p.path.source,
                source_port: p.path.source_port,
                count: p.count,
                wait: Some(p.wait),
                interval: Some(p.interval),
                verbose: Some(p.verbose),
                json: Some(p.json),
                ..Common::default()
            },
            Command::Ping(p) => Common {
                interface: p.interface.clone(),
                source: p.source,
                count: p.count,
                wait: Some(p.wait),
                interval: Some(p.interval),
                verbose: Some(p.verbose),
                json: Some(p.json),
                ..Common::default()
            },
            Command::Scan(s) => Common {
                interface: s.path.interface.clone(),
                source: s.path.source,
                source_port: s.path.source_port,
                wait: Some(s.timeout),
                json: Some(s.json),
                ..Common::default()
            },
            Command::Trace(t) => Common {
                interface: t.path.interface.clone(),
                source: t.path.source,
                source_port: t.path.source_port,
                wait: Some(t.wait),
                json: Some(t.json),
                ..Common::default()
            },
            Command::Load(l) => Common {
                interface: l.interface.clone(),
                source: l.source,
                source_port: Some(l.first_port),
                json: Some(l.json),
                ..Common::default()
            },
            Command::Lab(_)
            | Command::Ladder(_)
            | Command::Plot(_)
            | Command::Generate(_)
            | Command::Impair(_) => Common::default(),
        }
    }
}

fn connect_common(c: &super::ConnectArgs) -> Common {
    Common {
        interface: c.path.interface.clone(),
        source: c.path.source,
        source_port: c.path.source_port,
        json: Some(c.json),
        ..Common::default()
    }
}

/// Which address family a command's host may be: `-4`, `-6`, or either,
/// in the order the system resolver returns a name's addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Family {
    #[default]
    Any,
    V4,
    V6,
}

/// `-4`/`-6`, netcat's letters: the family a host name resolves to, and
/// the only one an address given may be.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct FamilyArgs {
    /// IPv4 only: a host name resolves to its A records.
    #[arg(short = '4', conflicts_with = "ipv6_only")]
    pub ipv4_only: bool,
    /// IPv6 only: a host name resolves to its AAAA records.
    #[arg(short = '6')]
    pub ipv6_only: bool,
}

impl FamilyArgs {
    pub fn family(&self) -> Family {
        match (self.ipv4_only, self.ipv6_only) {
            (true, _) => Family::V4,
            (_, true) => Family::V6,
            _ => Family::Any,
        }
    }
}

/// An interface name, as `-i` takes it. A duration in its place is the
/// habit of a tool whose `-i` is an interval (ping, hping3): said at
/// once, instead of "no such interface 10ms" after the route lookup.
pub fn parse_interface(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("an interface name is needed (e.g. eth0; `ip link` lists them)".into());
    }
    if text.starts_with(|c: char| c.is_ascii_digit()) && parse_duration(text).is_ok() {
        return Err(format!(
            "{text:?} is a duration, not an interface: -i is the interface in every nettool \
             command; the time between probes is --interval {text}"
        ));
    }
    Ok(text.to_string())
}

/// A source port, as `-p` takes it: a number or a service name (`-p ssh`).
pub fn parse_source_port(text: &str) -> Result<u16, String> {
    crate::services::parse_port(text, crate::services::Proto::Tcp)
}

/// Other tools' letters that nettool spells otherwise, for the one
/// subcommand where a user types them by habit: (subcommand, flag, tip).
const HABITS: &[(&str, &str, &str)] = &[
    (
        "nc",
        "-q",
        "netcat's -q SECS is --quit-after SECS in nettool (-q means quiet, in every command)",
    ),
    (
        "trace",
        "-q",
        "traceroute's -q N is --queries N in nettool (-q means quiet, in every command)",
    ),
];

/// The tip for a command line clap refused, when the refused flag is
/// another tool's habit.
pub fn habit_tip<S: AsRef<str>>(argv: &[S]) -> Option<&'static str> {
    let words: Vec<&str> = argv.iter().map(AsRef::as_ref).collect();
    let sub = words
        .iter()
        .skip(1)
        .find(|w| !w.starts_with('-'))
        .copied()?;
    HABITS.iter().find_map(|(cmd, flag, tip)| {
        // `-q 1` or `-q1`.
        let typed = words.iter().any(|w| {
            w.strip_prefix(flag)
                .is_some_and(|rest| rest.is_empty() || rest.parse::<f64>().is_ok())
        });
        (*cmd == sub && typed).then_some(*tip)
    })
}
