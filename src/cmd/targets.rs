//! Several targets for `probe` and `scan`, as nmap users give them: a
//! list of hosts, a subnet (`10.78.0.0/29`), a file of them (`-iL FILE`),
//! or `-` for stdin. A subnet is swept by ARP first ([`discovered`]).
//! IPv6 hosts are named as addresses (`fd00::2`, `[fd00::2]:80` with
//! ports) or by AAAA names; an IPv6 prefix is taken only when it holds
//! no more addresses than `--max-targets` (a /64 cannot be swept), and
//! is not swept: each address's own neighbour solicitation (NDP) when
//! its turn comes says whether it is there.
//! They are run one after another, each its own start, results and
//! summary, then one line over all ([`Runs`]), over stacks set up for all
//! of them before the first runs (`super::ways`).

use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::atomic::Ordering;

use anyhow::{Context, Result, bail};
use ipnetwork::{Ipv4Network, Ipv6Network};

use super::Env;
use crate::arp::{host_addresses, host_count};
use crate::cli::{PathArgs, TargetListArgs};
use crate::outcome::Outcome;
use crate::report::{Event as Ev, Report, Reporter, Verdict};
use crate::services::{self, Proto};
use crate::text::count;

/// One address to probe or scan, with the ports its word named
/// (`10.78.0.2:80`, probe only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub ip: IpAddr,
    pub ports: Option<Vec<u16>>,
    /// The subnet whose address this is, when it was named by its subnet
    /// only (host discovery may leave it out).
    pub subnet: Option<Ipv4Network>,
}

/// Every target with its ports: those its operand named (`HOST:PORT`),
/// or `--dport` (`dport`, in `proto`'s service names), or `default`.
/// Both at once is an error: the user meant one of them.
pub fn with_ports(
    found: Vec<Target>,
    dport: Option<&str>,
    proto: Proto,
    default: u16,
) -> Result<Vec<Target>> {
    let dport = dport
        .map(|p| services::parse_ports(p, proto).map_err(anyhow::Error::msg))
        .transpose()?;
    found
        .into_iter()
        .map(|t| {
            let ports = match (&t.ports, &dport) {
                (Some(_), Some(_)) => {
                    bail!("give the port either as HOST:PORT or with --dport, not both")
                }
                (Some(p), None) | (None, Some(p)) => p.clone(),
                (None, None) => vec![default],
            };
            Ok(Target {
                ports: Some(ports),
                ..t
            })
        })
        .collect()
}

/// The words that name targets: the operands (`-` is stdin's words) and
/// then the words of the `-iL` file (`-` again stdin). A file holds words
/// separated by white space; `#` starts a comment to the end of the line.
pub fn gather(
    operands: &[String],
    list: Option<&Path>,
    stdin: &mut dyn BufRead,
) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut stdin_read = false;
    let mut from_stdin = |words: &mut Vec<String>| -> Result<()> {
        if !std::mem::replace(&mut stdin_read, true) {
            words.extend(read_words(stdin).context("reading targets from stdin")?);
        }
        Ok(())
    };
    for op in operands {
        if op == "-" {
            from_stdin(&mut words)?;
        } else {
            words.push(op.clone());
        }
    }
    match list {
        Some(p) if p == Path::new("-") => from_stdin(&mut words)?,
        Some(p) => {
            let file = std::fs::File::open(p)
                .with_context(|| format!("cannot read the target list {}", p.display()))?;
            let mut reader = std::io::BufReader::new(file);
            words.extend(
                read_words(&mut reader)
                    .with_context(|| format!("reading the target list {}", p.display()))?,
            );
        }
        None => {}
    }
    if words.is_empty() {
        bail!("no target: name a host, a subnet (10.78.0.0/29), or a list with -iL FILE");
    }
    Ok(words)
}

fn read_words(input: &mut dyn BufRead) -> std::io::Result<Vec<String>> {
    let mut words = Vec::new();
    for line in input.lines() {
        let line = line?;
        let line = line.split('#').next().unwrap_or("");
        words.extend(line.split_whitespace().map(str::to_owned));
    }
    Ok(words)
}

/// The targets `words` name, each address (with its ports) once, in the
/// order first named. `with_ports`: a word may end in `:PORTS` (probe). Host names
/// go to `resolve`. More than `max` addresses in all is refused before
/// any is resolved.
pub fn expand(
    words: &[String],
    with_ports: bool,
    max: u64,
    resolve: impl Fn(&str) -> Result<IpAddr>,
) -> Result<Vec<Target>> {
    expand_for(words, with_ports.then_some(Proto::Tcp), max, resolve)
}

/// [`expand`], with `:PORTS` read as the ports of `ports`' protocol (UDP
/// probes name UDP services); `None`: words carry no ports.
pub fn expand_for(
    words: &[String],
    ports: Option<Proto>,
    max: u64,
    resolve: impl Fn(&str) -> Result<IpAddr>,
) -> Result<Vec<Target>> {
    let specs: Vec<(Spec, Option<Vec<u16>>)> = words
        .iter()
        .map(|w| spec(w, ports))
        .collect::<Result<_>>()?;
    let total: u64 = specs.iter().map(|(s, _)| s.count()).sum();
    if total > max {
        let biggest = specs
            .iter()
            .filter_map(|(s, _)| match s {
                Spec::Net(net) => Some((host_count(*net), net.to_string())),
                Spec::Net6(net) => Some((net6_count(*net), net.to_string())),
                Spec::Host(_) => None,
            })
            .max_by_key(|(n, _)| *n);
        if let Some(net6) = specs.iter().find_map(|(s, _)| match s {
            Spec::Net6(net) if net6_count(*net) > max => Some(*net),
            _ => None,
        }) {
            bail!(
                "{net6} holds {} addresses, more than --max-targets {max}: an IPv6 prefix is \
                 not swept as an IPv4 subnet is (a /64 holds 2^64), so name the hosts, or a \
                 prefix of at most --max-targets addresses (a /120 holds 256); each IPv6 \
                 target on the link is found by its own neighbour solicitation (NDP)",
                net6_size_text(net6)
            );
        }
        let what = match biggest {
            Some((n, net)) if n > max => format!("{net} holds {n} host addresses"),
            _ => format!("the targets hold {total} addresses"),
        };
        bail!(
            "{what}, more than --max-targets {max}: narrow the subnet, or raise \
             --max-targets if you mean it (targets run one after another)"
        );
    }
    let mut out: Vec<Target> = Vec::new();
    // Where each address stands in `out` (once per port list it came
    // with): a /16 is not compared with itself address by address.
    let mut at: std::collections::HashMap<IpAddr, Vec<usize>> = Default::default();
    for (s, ports) in specs {
        let (ips, subnet): (Vec<IpAddr>, _) = match s {
            Spec::Host(name) => (vec![resolve(&name)?], None),
            Spec::Net(net) => (
                host_addresses(net).into_iter().map(IpAddr::V4).collect(),
                Some(net),
            ),
            // Not swept: no subnet to discover.
            Spec::Net6(net) => (net6_addresses(net), None),
        };
        for ip in ips {
            let places = at.entry(ip).or_default();
            match places.iter().copied().find(|&i| out[i].ports == ports) {
                // Named alone too (before or after its subnet): it stays
                // whatever host discovery says of the subnet.
                Some(i) if subnet.is_none() => out[i].subnet = None,
                Some(_) => {}
                None => {
                    places.push(out.len());
                    out.push(Target {
                        ip,
                        ports: ports.clone(),
                        subnet,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// What one word names.
enum Spec {
    Host(String),
    Net(Ipv4Network),
    Net6(Ipv6Network),
}

impl Spec {
    fn count(&self) -> u64 {
        match self {
            Spec::Host(_) => 1,
            Spec::Net(net) => host_count(*net),
            Spec::Net6(net) => net6_count(*net),
        }
    }
}

/// The addresses of an IPv6 prefix a run takes: all but the first, the
/// Subnet-Router anycast address (RFC 4291 §2.6.1), unless the prefix
/// is a /127 (a point-to-point link's two ends, RFC 6164) or a /128.
fn net6_addresses(net: Ipv6Network) -> Vec<IpAddr> {
    let skip = usize::from(net.prefix() < 127);
    net.iter().skip(skip).map(IpAddr::V6).collect()
}

/// How many addresses [`net6_addresses`] gives (saturated: a /64's do
/// not fit a u64, and are refused anyway).
fn net6_count(net: Ipv6Network) -> u64 {
    let size: u128 = 1u128
        .checked_shl(128 - u32::from(net.prefix()))
        .unwrap_or(u128::MAX);
    let n = if net.prefix() < 127 { size - 1 } else { size };
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// A prefix's address count for people: exact up to a /65, as a power of
/// two beyond.
fn net6_size_text(net: Ipv6Network) -> String {
    match net.prefix() {
        p if p >= 65 => net6_count(net).to_string(),
        p => format!("2^{}", 128 - p),
    }
}

/// Splits a word into its host and its ports text: `HOST:PORTS`,
/// `[IPV6]:PORTS`, `[IPV6]`, or a bare IPv6 address or prefix (whose
/// colons are not a port's).
fn host_and_ports(word: &str) -> (&str, Option<&str>) {
    if let Some(rest) = word.strip_prefix('[') {
        return match rest.split_once("]:") {
            Some((inside, ports)) => (inside, Some(ports)),
            None => (rest.strip_suffix(']').unwrap_or(rest), None),
        };
    }
    if word.matches(':').count() > 1 {
        return (word, None);
    }
    match word.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (word, None),
    }
}

fn spec(word: &str, proto: Option<Proto>) -> Result<(Spec, Option<Vec<u16>>)> {
    let (host, ports) = match (host_and_ports(word), proto) {
        ((h, Some(p)), Some(proto)) => (h, Some((p, proto))),
        // A port where none goes: the resolver's error says so.
        ((_, Some(_)), None) => (word, None),
        ((h, None), _) => (h, None),
    };
    let ports = ports
        .map(|(p, proto)| services::parse_ports(p, proto).map_err(anyhow::Error::msg))
        .transpose()?;
    if host.contains('/') && host.contains(':') {
        let net: Ipv6Network = host.parse().with_context(|| {
            format!("{host:?} is not an IPv6 prefix (write it like fd00:6e74::/120)")
        })?;
        return Ok((Spec::Net6(net), ports));
    }
    if host.contains('/') {
        let net: Ipv4Network = host.parse().with_context(|| {
            format!("{host:?} is not an IPv4 subnet (write it like 10.78.0.0/29)")
        })?;
        return Ok((Spec::Net(net), ports));
    }
    Ok((Spec::Host(host.to_owned()), ports))
}

/// Whether `scan`'s last operand is its port list rather than one more
/// target: a word that reads as a port list (`80`, `1-1024`, `ssh,http`)
/// and cannot be an address, a subnet or stdin; or a word no host could
/// be named (a comma, a leading digit), so that a bad port list is
/// reported as one.
pub fn is_port_list(word: &str) -> bool {
    let bare = word.trim_start_matches('[').trim_end_matches(']');
    if word == "-"
        || word.contains('/')
        || word.parse::<Ipv4Addr>().is_ok()
        || bare.parse::<Ipv6Addr>().is_ok()
    {
        return false;
    }
    services::parse_ports(word, Proto::Tcp).is_ok()
        || word.contains(',')
        || word.starts_with(|c: char| c.is_ascii_digit())
}

/// The targets left once host discovery has said which addresses are up:
/// an address named only by its subnet stays if `up` says so for that
/// subnet (`up` answers `None` where it cannot tell: all stay); one
/// named alone always stays. Also returns how many were left out.
pub fn keep_up(
    found: Vec<Target>,
    mut up: impl FnMut(Ipv4Network) -> Result<Option<Vec<Ipv4Addr>>>,
) -> Result<(Vec<Target>, usize)> {
    let mut nets: Vec<Ipv4Network> = Vec::new();
    for net in found.iter().filter_map(|t| t.subnet) {
        if !nets.contains(&net) {
            nets.push(net);
        }
    }
    let mut answered: Vec<(Ipv4Network, Vec<Ipv4Addr>)> = Vec::new();
    for net in nets {
        if let Some(ips) = up(net)? {
            answered.push((net, ips));
        }
    }
    let before = found.len();
    let kept: Vec<Target> = found
        .into_iter()
        .filter(|t| match t.subnet {
            None => true,
            Some(net) => answered
                .iter()
                .find(|(n, _)| *n == net)
                .is_none_or(|(_, ips)| ips.iter().any(|ip| IpAddr::V4(*ip) == t.ip)),
        })
        .collect();
    let left_out = before - kept.len();
    Ok((kept, left_out))
}

/// The exit outcome over all targets' outcomes: interrupted if the run
/// was, else success if any target's was (a port open, a probe
/// answered), else the network's no.
pub fn overall(outcomes: &[Outcome]) -> Outcome {
    if outcomes.contains(&Outcome::Interrupted) {
        Outcome::Interrupted
    } else if outcomes.contains(&Outcome::Success) {
        Outcome::Success
    } else {
        Outcome::Negative
    }
}

/// The targets of one run as they end: what each found, and the last
/// `result` over all of them when there were several.
#[derive(Default)]
pub struct Runs {
    asked: usize,
    /// Addresses host discovery left out: nobody answered ARP there.
    down: usize,
    outcomes: Vec<Outcome>,
    verdicts: Vec<Verdict>,
}

impl Runs {
    pub fn new(asked: usize, down: usize) -> Runs {
        Runs {
            asked,
            down,
            ..Runs::default()
        }
    }

    pub fn push(&mut self, outcome: Outcome, verdict: Verdict) {
        self.outcomes.push(outcome);
        self.verdicts.push(verdict);
    }

    /// The run's outcome: success if any target answered; with several
    /// targets, said in a last line (a `result` over all of them).
    pub fn finish(self, command: Many, json: bool, env: &mut Env) -> Result<Outcome> {
        let overall = if self.outcomes.is_empty() {
            // Stopped before the first target.
            Outcome::Negative.unless_interrupted(env.interrupt)
        } else {
            overall(&self.outcomes)
        };
        if self.asked + self.down < 2 {
            return Ok(overall);
        }
        let ran = self.outcomes.len();
        let yes = self
            .outcomes
            .iter()
            .filter(|o| **o == Outcome::Success)
            .count();
        let verdict = [
            Verdict::Open,
            Verdict::Answered,
            Verdict::Closed,
            Verdict::Filtered,
            Verdict::Unreachable,
        ]
        .into_iter()
        .find(|v| self.verdicts.contains(v))
        .unwrap_or(Verdict::NoReply);
        let mut report = Report {
            targets: Some(self.asked + self.down),
            down: Some(self.down),
            ..Report::new(verdict, overall)
        };
        let (yes_words, no_words) = match command {
            Many::Probe => {
                report.answered = Some(yes as u64);
                ("answered", "did not")
            }
            Many::Scan => {
                report.open = Some(yes);
                ("with an open port", "without")
            }
        };
        let rep = Reporter::new(json);
        let now = env.now();
        rep.emit(env.out, now, Ev::Result(Box::new(report)), |w| {
            writeln!(w)?;
            let unrun = match self.asked - ran {
                0 => String::new(),
                n => format!(", {n} not reached (interrupted)"),
            };
            let down = match self.down {
                0 => String::new(),
                n => format!(", {n} down (no ARP answer)"),
            };
            writeln!(
                w,
                "=== {}: {yes} {yes_words}, {} {no_words}{down}{unrun}",
                count((self.asked + self.down) as u64, "target"),
                ran - yes
            )
        })?;
        Ok(overall)
    }
}

/// A probe run's verdict, from its outcome: answered or not.
pub fn answered_verdict(outcome: Outcome) -> Verdict {
    match outcome {
        Outcome::Success => Verdict::Answered,
        _ => Verdict::NoReply,
    }
}

/// Which command a run of several targets is.
#[derive(Clone, Copy)]
pub enum Many {
    Probe,
    Scan,
}

/// A blank line between one target's lines and the next's, for people.
pub fn between_targets(rep: &Reporter, index: usize, env: &mut Env) -> Result<()> {
    if index > 0 && rep.human() {
        writeln!(env.out)?;
    }
    Ok(())
}

/// `found` without the addresses host discovery found down (see
/// [`keep_up`]): for each subnet named, an ARP sweep first,
/// said in a line for people; `--no-discovery` takes every address.
pub fn discovered(
    found: Vec<Target>,
    path: &PathArgs,
    list: &TargetListArgs,
    (command, json): (&str, bool),
    env: &mut Env,
) -> Result<(Vec<Target>, usize)> {
    if list.no_discovery {
        return Ok((found, 0));
    }
    let cache = path.cache.path();
    keep_up(found, |net| {
        if env.interrupt.load(Ordering::Relaxed) {
            return Ok(None);
        }
        // ARP's sweep speaks IPv4: an IPv6 -s is refused with the probes' path.
        let source = path.source.and_then(|s| match s {
            std::net::IpAddr::V4(s) => Some(s),
            std::net::IpAddr::V6(_) => None,
        });
        let up = super::arp::discover(net, path.interface.as_deref(), source, &cache, env)?;
        let local = crate::route::local_ipv4s();
        if let Some(up) = &up {
            let hosts = crate::arp::sweep_targets(net, &local).len();
            let text = format!(
                "DISCOVER {net}: {} of {} answered ARP; only those, and this host's own, \
                 are {command} (--no-discovery takes them all)",
                up.len(),
                count(hosts as u64, "address"),
            );
            Reporter::new(json).text(env.out, |w| writeln!(w, "{text}"))?;
        }
        // This host's own addresses are up, though they answer no ARP.
        Ok(up.map(|mut up| {
            up.extend(local.iter().filter(|ip| net.contains(**ip)));
            up
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::MAX_TARGETS;
    use rstest::rstest;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[rstest]
    #[case::named_by_the_operand(Some(vec![22]), None, Ok(vec![22]))]
    #[case::named_by_dport(None, Some("ssh,80"), Ok(vec![22, 80]))]
    #[case::the_default(None, None, Ok(vec![7]))]
    #[case::both(Some(vec![22]), Some("80"), Err("not both"))]
    #[case::an_unknown_service(
        None,
        Some("nosuchservice"),
        Err("\"nosuchservice\" is not a port number")
    )]
    fn a_target_takes_its_ports_from_one_place(
        #[case] named: Option<Vec<u16>>,
        #[case] dport: Option<&str>,
        #[case] want: Result<Vec<u16>, &str>,
    ) {
        let target = Target {
            ip: Ipv4Addr::new(10, 78, 0, 2).into(),
            ports: named,
            subnet: None,
        };
        let got = with_ports(vec![target], dport, Proto::Tcp, 7);
        match (got, want) {
            (Ok(t), Ok(ports)) => assert_eq!(t[0].ports, Some(ports)),
            (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{e}"),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    fn no_dns(name: &str) -> Result<IpAddr> {
        match name {
            "peer.lab" => Ok(Ipv4Addr::new(10, 78, 0, 2).into()),
            "peer6.lab" => Ok("fd00:6e74::2".parse::<Ipv6Addr>()?.into()),
            _ => Ok(name.parse()?),
        }
    }

    /// IPv6 targets: bare, bracketed with ports, AAAA names, small
    /// prefixes (all but the Subnet-Router anycast address), beside IPv4.
    #[rstest]
    #[case::bare(&["fd00:6e74::2"], true, &[("fd00:6e74::2", None)])]
    #[case::bracketed(&["[fd00:6e74::2]"], true, &[("fd00:6e74::2", None)])]
    #[case::with_ports(&["[fd00:6e74::2]:22,80"], true, &[("fd00:6e74::2", Some(vec![22, 80]))])]
    #[case::a_name(&["peer6.lab:http"], true, &[("fd00:6e74::2", Some(vec![80]))])]
    #[case::mixed(
        &["10.78.0.2:80", "[fd00:6e74::2]:80"],
        true,
        &[("10.78.0.2", Some(vec![80])), ("fd00:6e74::2", Some(vec![80]))]
    )]
    #[case::a_126(&["fd00:6e74::/126"], false, &[("fd00:6e74::1", None), ("fd00:6e74::2", None), ("fd00:6e74::3", None)])]
    #[case::a_127(&["fd00:6e74::/127"], false, &[("fd00:6e74::", None), ("fd00:6e74::1", None)])]
    #[case::a_128(&["fd00:6e74::5/128"], false, &[("fd00:6e74::5", None)])]
    #[case::scan_words(&["fd00:6e74::2", "[fd00:6e74::3]"], false, &[("fd00:6e74::2", None), ("fd00:6e74::3", None)])]
    fn ipv6_targets(
        #[case] w: &[&str],
        #[case] with_ports: bool,
        #[case] want: &[(&str, Option<Vec<u16>>)],
    ) {
        let t = expand(&words(w), with_ports, MAX_TARGETS, no_dns).unwrap();
        let got: Vec<(String, Option<Vec<u16>>)> = t
            .iter()
            .map(|t| (t.ip.to_string(), t.ports.clone()))
            .collect();
        let want: Vec<(String, Option<Vec<u16>>)> = want
            .iter()
            .map(|(ip, p)| (ip.to_string(), p.clone()))
            .collect();
        assert_eq!(got, want);
        assert!(
            t.iter().all(|t| t.subnet.is_none()),
            "an IPv6 prefix is not swept"
        );
    }

    /// A prefix larger than --max-targets is refused, saying why a /64
    /// cannot be swept and what finds IPv6 targets instead.
    #[rstest]
    #[case(
        "fd00:6e74::/64",
        256,
        "fd00:6e74::/64 holds 2^64 addresses, more than --max-targets 256"
    )]
    #[case(
        "fd00:6e74::/120",
        254,
        "fd00:6e74::/120 holds 255 addresses, more than --max-targets 254"
    )]
    #[case("fd00:6e74::/0", 256, "holds 2^128 addresses")]
    #[case("fd00:6e74::/129", 256, "is not an IPv6 prefix")]
    fn a_big_ipv6_prefix_is_refused(#[case] word: &str, #[case] max: u64, #[case] want: &str) {
        let err = expand(&words(&[word]), false, max, no_dns)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{err}");
        if !want.contains("not an IPv6 prefix") {
            assert!(err.contains("neighbour solicitation (NDP)"), "{err}");
        }
    }

    fn ips(targets: &[Target]) -> Vec<String> {
        targets.iter().map(|t| t.ip.to_string()).collect()
    }

    #[test]
    fn a_list_a_name_and_a_subnet_each_address_once_in_order() {
        let t = expand(
            &words(&["10.78.0.5", "peer.lab", "10.78.0.0/29"]),
            false,
            MAX_TARGETS,
            no_dns,
        )
        .unwrap();
        assert_eq!(
            ips(&t),
            [
                "10.78.0.5",
                "10.78.0.2",
                "10.78.0.1",
                "10.78.0.3",
                "10.78.0.4",
                "10.78.0.6"
            ]
        );
    }

    #[test]
    fn probe_words_carry_their_ports() {
        let t = expand(
            &words(&[
                "10.78.0.2:http,22",
                "10.78.0.3",
                "10.78.0.4/31:7",
                "10.78.0.2:22",
                "10.78.0.3",
            ]),
            true,
            MAX_TARGETS,
            no_dns,
        )
        .unwrap();
        let got: Vec<(String, Option<Vec<u16>>)> = t
            .iter()
            .map(|t| (t.ip.to_string(), t.ports.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("10.78.0.2".into(), Some(vec![80, 22])),
                ("10.78.0.3".into(), None),
                ("10.78.0.4".into(), Some(vec![7])),
                ("10.78.0.5".into(), Some(vec![7])),
                ("10.78.0.2".into(), Some(vec![22])),
            ]
        );
    }

    #[rstest]
    #[case::a_big_subnet(&["10.0.0.0/16"], "10.0.0.0/16 holds 65534 host addresses, more than --max-targets 256")]
    #[case::many_small_ones(&["10.0.0.0/24", "10.0.1.0/30"], "the targets hold 256 addresses, more than --max-targets 255")]
    fn too_many_targets_are_refused_before_any_is_resolved(#[case] w: &[&str], #[case] want: &str) {
        let max = if w.len() > 1 { 255 } else { MAX_TARGETS };
        let err = expand(&words(w), false, max, |_| panic!("resolved"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{err}");
        assert!(err.contains("raise --max-targets"), "{err}");
    }

    /// A /16 with --max-targets raised to hold it: each address is found
    /// once without comparing it with every one before it.
    #[test]
    fn a_raised_max_targets_expands_a_slash_16_at_once() {
        let at = std::time::Instant::now();
        let t = expand(&words(&["10.0.0.0/16", "10.0.0.7"]), false, 65_535, no_dns).unwrap();
        assert_eq!(t.len(), 65_534);
        // It took 17 s (debug build) when each address was compared with
        // every one before it; a tenth of a second now.
        assert!(
            at.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            at.elapsed()
        );
    }

    #[test]
    fn max_targets_lets_a_big_subnet_through() {
        let t = expand(&words(&["10.0.0.0/22"]), false, 1022, no_dns).unwrap();
        assert_eq!(t.len(), 1022);
    }

    #[test]
    fn a_bad_subnet_says_how_to_write_one() {
        let err = expand(&words(&["10.0.0.0/33"]), false, MAX_TARGETS, no_dns)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an IPv4 subnet"), "{err}");
    }

    #[test]
    fn stdin_and_a_list_file_give_words_comments_skipped() {
        let dir = std::env::temp_dir().join(format!("nettool-targets-{}", std::process::id()));
        std::fs::write(&dir, "10.78.0.2 # the peer\n\n10.78.0.3\t10.78.0.4\n").unwrap();
        let mut stdin: &[u8] = b"10.78.0.9\n# nothing\n10.78.0.10\n";
        let got = gather(&words(&["10.78.0.1", "-"]), Some(&dir), &mut stdin).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(
            got,
            words(&[
                "10.78.0.1",
                "10.78.0.9",
                "10.78.0.10",
                "10.78.0.2",
                "10.78.0.3",
                "10.78.0.4"
            ])
        );
    }

    #[test]
    fn no_target_at_all_says_how_to_give_one() {
        let mut stdin: &[u8] = b"# empty\n";
        let err = gather(&words(&["-"]), None, &mut stdin).unwrap_err();
        assert!(err.to_string().contains("-iL FILE"), "{err}");
    }

    #[test]
    fn discovery_leaves_out_a_subnets_silent_addresses_but_not_named_ones() {
        let found = expand(
            &words(&["10.78.0.5", "10.78.0.0/29", "10.9.0.0/30"]),
            false,
            MAX_TARGETS,
            no_dns,
        )
        .unwrap();
        let (kept, left_out) = keep_up(found, |net| {
            Ok(match net.to_string().as_str() {
                // 10.78.0.5 is silent, but named alone.
                "10.78.0.0/29" => Some(vec![Ipv4Addr::new(10, 78, 0, 2)]),
                // Routed: ARP cannot tell.
                _ => None,
            })
        })
        .unwrap();
        assert_eq!(
            ips(&kept),
            ["10.78.0.5", "10.78.0.2", "10.9.0.1", "10.9.0.2"]
        );
        assert_eq!(left_out, 4, "10.78.0.1, .3, .4 and .6");
    }

    /// An address named alone stays whether it comes before or after a
    /// subnet that holds it.
    #[rstest]
    #[case::alone_first(&["10.78.0.5", "10.78.0.0/29"])]
    #[case::alone_after(&["10.78.0.0/29", "10.78.0.5"])]
    fn an_address_named_alone_stays_in_either_order(#[case] w: &[&str]) {
        let found = expand(&words(w), false, MAX_TARGETS, no_dns).unwrap();
        let (kept, _) = keep_up(found, |_| Ok(Some(vec![Ipv4Addr::new(10, 78, 0, 2)]))).unwrap();
        let kept = ips(&kept);
        assert!(kept.contains(&"10.78.0.5".to_owned()), "{kept:?}");
        assert!(kept.contains(&"10.78.0.2".to_owned()), "{kept:?}");
        assert_eq!(kept.len(), 2, "{kept:?}");
    }

    #[rstest]
    #[case("80", true)]
    #[case("1-1024,8080", true)]
    #[case("ssh,http", true)]
    #[case("http", true)]
    #[case("22,nosuchservice", true)]
    #[case("10.78.0.2", false)]
    #[case("10.78.0.0/29", false)]
    #[case("-", false)]
    #[case("peer.lab", false)]
    #[case("fd00::2", false)]
    #[case("[fd00::2]", false)]
    #[case("::1", false)]
    fn scans_last_operand(#[case] word: &str, #[case] ports: bool) {
        assert_eq!(is_port_list(word), ports, "{word}");
    }

    #[rstest]
    #[case(&[Outcome::Negative, Outcome::Success], Outcome::Success)]
    #[case(&[Outcome::Negative, Outcome::Negative], Outcome::Negative)]
    #[case(&[Outcome::Success, Outcome::Interrupted], Outcome::Interrupted)]
    fn the_exit_over_all_targets(#[case] each: &[Outcome], #[case] want: Outcome) {
        assert_eq!(overall(each), want);
    }
}
