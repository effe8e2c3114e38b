//! What the lab's ports look like right now: which sockets listen (from
//! the lab namespace's `/proc/net/tcp` and `tcp6`, `udp` and `udp6`, no
//! traffic needed), whether the filtered ports' rules are in place, and
//! whether the service process lives.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;

use super::udp::{UDP_SERVICES, UdpPorts};
use super::{LOG_FILE, PID_FILE, PortState, Ports, SERVICES, ServiceError, firewall};
use crate::lab::{self, netns};

/// TCP state `LISTEN` in `/proc/net/tcp`.
const TCP_LISTEN: &str = "0A";
/// The state an unconnected, bound UDP socket shows in `/proc/net/udp`
/// (the kernel's `TCP_CLOSE`, which UDP sockets borrow).
const UDP_UNCONNECTED: &str = "07";

/// The local ports of the sockets in `state` in a `/proc/net/{tcp,udp}`
/// table of either family (the port follows the address's last ':'). Pure.
fn ports_in_state(table: &str, state: &str) -> BTreeSet<u16> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            if fields.nth(1)? != state {
                return None;
            }
            let (_, port) = local.rsplit_once(':')?;
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

/// The local ports of the listening sockets in a `/proc/net/tcp` (or
/// `tcp6`) table. Pure.
pub fn listening_ports(proc_net_tcp: &str) -> BTreeSet<u16> {
    ports_in_state(proc_net_tcp, TCP_LISTEN)
}

/// The local ports of the unconnected UDP sockets in a `/proc/net/udp`
/// (or `udp6`) table: where a service waits for datagrams. Pure.
pub fn bound_udp_ports(proc_net_udp: &str) -> BTreeSet<u16> {
    ports_in_state(proc_net_udp, UDP_UNCONNECTED)
}

/// The ports a namespace's sockets wait on, per protocol and family. The
/// IPv6 sets are `None` when the kernel has no IPv6 tables (no IPv6 at
/// all).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bound {
    pub tcp: BTreeSet<u16>,
    pub tcp6: Option<BTreeSet<u16>>,
    pub udp: BTreeSet<u16>,
    pub udp6: Option<BTreeSet<u16>>,
}

impl Bound {
    /// Whether every port of `ports` listens over TCP on every family the
    /// kernel has.
    pub fn all_listen(&self, ports: impl IntoIterator<Item = u16>) -> bool {
        ports
            .into_iter()
            .all(|p| self.tcp.contains(&p) && self.tcp6.as_ref().is_none_or(|six| six.contains(&p)))
    }
}

/// What is bound in `namespace`: its four socket tables, read from a
/// thread inside it.
pub fn bound_in(namespace: &str) -> Result<Bound, ServiceError> {
    // thread-self: /proc/self/net would show the main thread's namespace.
    let read = |table: &str| std::fs::read_to_string(format!("/proc/thread-self/net/{table}"));
    let [tcp, tcp6, udp, udp6] =
        netns::in_namespace(namespace, || ["tcp", "tcp6", "udp", "udp6"].map(read))?;
    let need = |table: &str, r: std::io::Result<String>| {
        r.map_err(|e| ServiceError::io(format!("reading /proc/net/{table} in {namespace}"), e))
    };
    // The IPv6 tables are missing only when the kernel has no IPv6.
    let optional = |r: std::io::Result<String>| r.ok();
    Ok(Bound {
        tcp: listening_ports(&need("tcp", tcp)?),
        tcp6: optional(tcp6).map(|t| listening_ports(&t)),
        udp: bound_udp_ports(&need("udp", udp)?),
        udp6: optional(udp6).map(|t| bound_udp_ports(&t)),
    })
}

/// One port of the lab as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortStatus {
    pub name: &'static str,
    pub port: u16,
    /// What the port should look like.
    pub expect: PortState,
    /// What it looks like over IPv4.
    pub state: PortState,
    /// What it looks like over IPv6 (`None`: the kernel has no IPv6).
    pub state6: Option<PortState>,
}

impl PortStatus {
    pub fn ok(&self) -> bool {
        self.expect == self.state && self.state6.is_none_or(|s| s == self.expect)
    }
}

/// How one port looks over one family. Pure.
fn judge(port: u16, bound: &BTreeSet<u16>, filtered: &BTreeSet<u16>) -> PortState {
    if filtered.contains(&port) {
        PortState::Filtered
    } else if bound.contains(&port) {
        PortState::Listening
    } else {
        PortState::Closed
    }
}

/// `catalogue`'s ports, judged over each family from the ports bound
/// there and the filtered ports (filtered over both: the lab's table is
/// of the `inet` family). Pure.
fn judge_all<'a>(
    catalogue: impl Iterator<Item = (&'static str, u16, PortState)> + 'a,
    bound: &'a BTreeSet<u16>,
    bound6: Option<&'a BTreeSet<u16>>,
    filtered: &'a BTreeSet<u16>,
) -> impl Iterator<Item = PortStatus> + 'a {
    catalogue.map(move |(name, port, expect)| PortStatus {
        name,
        port,
        expect,
        state: judge(port, bound, filtered),
        state6: bound6.map(|six| judge(port, six, filtered)),
    })
}

/// Every catalogued TCP port, judged from the listening sets and the
/// filtered ports. Pure.
pub fn port_states(
    listening: &BTreeSet<u16>,
    listening6: Option<&BTreeSet<u16>>,
    filtered: &BTreeSet<u16>,
) -> Vec<PortStatus> {
    let catalogue = SERVICES.iter().map(|s| (s.name, s.port, s.expect));
    judge_all(catalogue, listening, listening6, filtered).collect()
}

/// What each UDP port of the catalogue must look like: its services wait
/// on a socket, the closed port has none, the filtered one a rule.
fn udp_expect(port: u16) -> PortState {
    match port {
        UdpPorts::CLOSED => PortState::Closed,
        UdpPorts::FILTERED => PortState::Filtered,
        _ => PortState::Listening,
    }
}

/// Every catalogued UDP port, judged as [`port_states`] does. Pure.
pub fn udp_port_states(
    bound: &BTreeSet<u16>,
    bound6: Option<&BTreeSet<u16>>,
    filtered: &BTreeSet<u16>,
) -> Vec<PortStatus> {
    let catalogue = UDP_SERVICES
        .iter()
        .map(|&(port, name, _)| (name, port, udp_expect(port)));
    judge_all(catalogue, bound, bound6, filtered).collect()
}

/// The services of a lab, as they are now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServicesStatus {
    /// The service process, from its pid file.
    pub pid: Option<u32>,
    /// Whether that process is alive, inside the lab's namespace.
    pub running: bool,
    pub log: PathBuf,
    /// SYNs the filtered port's rule has dropped (`None`: no rule).
    pub dropped_syns: Option<u64>,
    /// The TCP ports.
    pub ports: Vec<PortStatus>,
    /// The UDP ports.
    pub udp_ports: Vec<PortStatus>,
}

impl ServicesStatus {
    /// What is wrong, for people; empty when every port is as it should be.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.running {
            problems.push(format!(
                "the service process is not running (see {})",
                self.log.display()
            ));
        }
        let all = self.ports.iter().map(|p| ("", p));
        let all = all.chain(self.udp_ports.iter().map(|p| ("/udp", p)));
        for (proto, p) in all {
            let (port, name, expect) = (p.port, p.name, p.expect);
            let wrong = |state: PortState, over: &str| {
                format!("port {port}{proto} ({name}) is {state}{over}, should be {expect}")
            };
            if p.state6.is_none_or(|six| six == p.state) {
                // The same over both families (or IPv4 alone): one line.
                if p.state != expect {
                    problems.push(wrong(p.state, ""));
                }
                continue;
            }
            if p.state != expect {
                problems.push(wrong(p.state, " over IPv4"));
            }
            if let Some(six) = p.state6.filter(|&s| s != expect) {
                problems.push(wrong(six, " over IPv6"));
            }
        }
        problems
    }
}

/// The services of lab `name`, or `None` when it was created without them
/// (no pid file) or its namespace is gone.
pub fn status(name: &str) -> Result<Option<ServicesStatus>, ServiceError> {
    let dir = lab::run_dir(name);
    let namespace = lab::namespace_name(name);
    let pid_file = dir.join(PID_FILE);
    if !pid_file.exists() || !netns::exists(&namespace) {
        return Ok(None);
    }
    let pid = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let running = pid.is_some_and(|pid| lab::lives_in(pid, &namespace));
    let bound = bound_in(&namespace)?;
    let dropped_syns = firewall::dropped(&namespace);
    // The table holds both rules: either both ports are filtered or neither.
    let rules = dropped_syns.is_some();
    let filtered = |port: u16| -> BTreeSet<u16> { rules.then_some(port).into_iter().collect() };
    Ok(Some(ServicesStatus {
        pid,
        running,
        log: dir.join(LOG_FILE),
        dropped_syns,
        ports: port_states(&bound.tcp, bound.tcp6.as_ref(), &filtered(Ports::FILTERED)),
        udp_ports: udp_port_states(
            &bound.udp,
            bound.udp6.as_ref(),
            &filtered(UdpPorts::FILTERED),
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real /proc/net/tcp lines: 0.0.0.0:80 and 0.0.0.0:7 listening, one
    // established connection from port 19, and 127.0.0.1:8080 in TIME-WAIT.
    const TABLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0
   1: 00000000:0007 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31338 1 0000000000000000 100 0 0 10 0
   2: 02004E0A:0013 01004E0A:9C40 01 00000000:00000000 00:00000000 00000000     0        0 31339 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:1F90 0100007F:A000 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
";

    #[test]
    fn only_listening_sockets_count() {
        assert_eq!(listening_ports(TABLE), BTreeSet::from([7, 80]));
        assert!(listening_ports("").is_empty());
        assert!(listening_ports("header only\n garbage line\n").is_empty());
    }

    // Real /proc/net/tcp6 lines: [::]:80 listening, [::1]:7 listening, and
    // an established connection to port 80.
    const TABLE6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 40001 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0007 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 40002 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000000000000100000074006EFD:0050 0000000000000000000000000200000074006EFD:B0C4 01 00000000:00000000 00:00000000 00000000     0        0 40003 1 0000000000000000 20 4 30 10 -1
";

    // Real /proc/net/udp and udp6 lines: 0.0.0.0:7 and [::]:13 bound, and
    // a connected socket from port 81 (state 01), which waits for no one.
    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  120: 00000000:0007 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 50001 2 0000000000000000 0
  121: 02004E0A:0051 01004E0A:9C40 01 00000000:00000000 00:00000000 00000000     0        0 50002 2 0000000000000000 0
";
    const UDP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  126: 00000000000000000000000000000000:000D 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 50003 2 0000000000000000 0
";

    #[test]
    fn either_familys_tables_are_read() {
        assert_eq!(listening_ports(TABLE6), BTreeSet::from([7, 80]));
        assert_eq!(bound_udp_ports(UDP), BTreeSet::from([7]));
        assert_eq!(bound_udp_ports(UDP6), BTreeSet::from([13]));
        // A TCP table read for UDP sockets finds none, and back.
        assert!(bound_udp_ports(TABLE).is_empty());
        assert!(listening_ports(UDP).is_empty());
    }

    #[test]
    fn a_port_closed_over_ipv6_alone_is_a_problem() {
        let all = BTreeSet::from([80, 7, 19]);
        let six = BTreeSet::from([80, 7]);
        let states = port_states(&all, Some(&six), &BTreeSet::from([82]));
        let trickle = &states[2];
        assert_eq!(
            (trickle.state, trickle.state6),
            (PortState::Listening, Some(PortState::Closed))
        );
        assert!(!trickle.ok());
        // Without IPv6 in the kernel, IPv4 alone is judged.
        let states = port_states(&all, None, &BTreeSet::from([82]));
        assert!(states.iter().all(PortStatus::ok), "{states:?}");
        let udp = udp_port_states(
            &BTreeSet::from([7, 13]),
            Some(&BTreeSet::from([7])),
            &BTreeSet::from([82]),
        );
        let status = ServicesStatus {
            pid: Some(1),
            running: true,
            log: "/run/nettool/lab-lab/serve.log".into(),
            dropped_syns: Some(0),
            ports: port_states(&all, Some(&six), &BTreeSet::from([82])),
            udp_ports: udp,
        };
        assert_eq!(
            status.problems(),
            [
                "port 19 (trickle) is closed over IPv6, should be listening",
                "port 13/udp (daytime) is closed over IPv6, should be listening",
            ]
        );
    }

    #[test]
    fn all_listen_needs_every_family_the_kernel_has() {
        let mut bound = Bound {
            tcp: BTreeSet::from([80, 7]),
            ..Bound::default()
        };
        assert!(bound.all_listen([80, 7]));
        bound.tcp6 = Some(BTreeSet::from([80]));
        assert!(!bound.all_listen([80, 7]));
        assert!(bound.all_listen([80]));
    }

    #[test]
    fn ports_are_judged_against_the_catalogue() {
        let listening = BTreeSet::from([7, 80]);
        let states = port_states(&listening, Some(&listening), &BTreeSet::from([82]));
        let got: Vec<(u16, PortState, bool)> =
            states.iter().map(|p| (p.port, p.state, p.ok())).collect();
        assert!(states.iter().all(|p| p.state6 == Some(p.state)));
        assert_eq!(
            got,
            [
                (80, PortState::Listening, true),
                (7, PortState::Listening, true),
                (19, PortState::Closed, false),
                (81, PortState::Closed, true),
                (82, PortState::Filtered, true),
            ]
        );
        let status = ServicesStatus {
            pid: Some(1),
            running: true,
            log: "/run/nettool/lab-lab/serve.log".into(),
            dropped_syns: Some(0),
            ports: states,
            udp_ports: udp_port_states(&BTreeSet::from([7, 13]), None, &BTreeSet::from([82])),
        };
        assert_eq!(
            status.problems(),
            ["port 19 (trickle) is closed, should be listening"]
        );
    }
}
