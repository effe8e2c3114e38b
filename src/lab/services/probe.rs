//! What the lab's ports look like right now: which sockets listen (from
//! the lab namespace's `/proc/net/tcp`, no traffic needed), whether the
//! filtered port's rule is in place, and whether the service process lives.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;

use super::{LOG_FILE, PID_FILE, PortState, SERVICES, ServiceError, firewall};
use crate::lab::{self, netns};

/// TCP state `LISTEN` in `/proc/net/tcp`.
const TCP_LISTEN: &str = "0A";

/// The local ports of the listening sockets in a `/proc/net/tcp` table. Pure.
pub fn listening_ports(proc_net_tcp: &str) -> BTreeSet<u16> {
    proc_net_tcp
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            if state != TCP_LISTEN {
                return None;
            }
            let (_, port) = local.rsplit_once(':')?;
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

/// The listening TCP ports of `namespace`.
pub fn listening_in(namespace: &str) -> Result<BTreeSet<u16>, ServiceError> {
    // thread-self: /proc/self/net would show the main thread's namespace.
    let read = || std::fs::read_to_string("/proc/thread-self/net/tcp");
    let text = netns::in_namespace(namespace, read)?
        .map_err(|e| ServiceError::io(format!("reading /proc/net/tcp in {namespace}"), e))?;
    Ok(listening_ports(&text))
}

/// One port of the lab as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortStatus {
    pub name: &'static str,
    pub port: u16,
    /// What the port should look like.
    pub expect: PortState,
    /// What it looks like.
    pub state: PortState,
}

impl PortStatus {
    pub fn ok(&self) -> bool {
        self.expect == self.state
    }
}

/// Every catalogued port, judged from the listening set and the filtered
/// ports. Pure.
pub fn port_states(listening: &BTreeSet<u16>, filtered: &BTreeSet<u16>) -> Vec<PortStatus> {
    SERVICES
        .iter()
        .map(|s| PortStatus {
            name: s.name,
            port: s.port,
            expect: s.expect,
            state: if filtered.contains(&s.port) {
                PortState::Filtered
            } else if listening.contains(&s.port) {
                PortState::Listening
            } else {
                PortState::Closed
            },
        })
        .collect()
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
    pub ports: Vec<PortStatus>,
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
        for p in self.ports.iter().filter(|p| !p.ok()) {
            problems.push(format!(
                "port {} ({}) is {}, should be {}",
                p.port, p.name, p.state, p.expect
            ));
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
    let listening = listening_in(&namespace)?;
    let dropped_syns = firewall::dropped(&namespace);
    let filtered: BTreeSet<u16> = dropped_syns
        .map(|_| super::Ports::FILTERED)
        .into_iter()
        .collect();
    Ok(Some(ServicesStatus {
        pid,
        running,
        log: dir.join(LOG_FILE),
        dropped_syns,
        ports: port_states(&listening, &filtered),
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

    #[test]
    fn ports_are_judged_against_the_catalogue() {
        let states = port_states(&BTreeSet::from([7, 80]), &BTreeSet::from([82]));
        let got: Vec<(u16, PortState, bool)> =
            states.iter().map(|p| (p.port, p.state, p.ok())).collect();
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
        };
        assert_eq!(
            status.problems(),
            ["port 19 (trickle) is closed, should be listening"]
        );
    }
}
