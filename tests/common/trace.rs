//! What the trace tests (tests/trace_e2e.rs, tests/trace6_e2e.rs) share,
//! over either family: the routed path A — R1 — R2 — B with its
//! addresses as nettool prints them, `nettool trace` run in A, a kernel
//! listener in B, and readers of `trace --json`.

use std::time::Duration;

use nettool::lab::routed::Routed;
use serde_json::Value;

use super::ipv6::Routed6;
use super::{Ran, Scratch, Server, nettool, run, sh};

pub const LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// The routed path over `family`: IPv4's ([`Routed`]), or the same
/// namespaces with IPv6's ULAs ([`Routed6`]).
pub struct Path {
    pub net: Routed,
    pub family: Family,
    /// A's address; R1's and R2's on the links toward A (the sources of
    /// their errors); B's.
    pub a: String,
    pub r1: String,
    pub r2: String,
    pub b: String,
}

impl Path {
    /// The path, its namespaces named after `tag` (with a `6` after
    /// "trace" over IPv6).
    pub fn new(family: Family, tag: &str) -> Path {
        match family {
            Family::V4 => {
                let net = Routed::new(tag);
                Path {
                    a: net.addr_a.to_string(),
                    r1: net.r1_near.to_string(),
                    r2: net.r2_near.to_string(),
                    b: net.addr_b.to_string(),
                    net,
                    family,
                }
            }
            Family::V6 => Path {
                net: Routed6::new(&tag.replacen("trace", "trace6", 1)).net,
                family,
                a: Routed6::A.to_owned(),
                r1: Routed6::R1_NEAR.to_owned(),
                r2: Routed6::R2_NEAR.to_owned(),
                b: Routed6::B.to_owned(),
            },
        }
    }

    /// An address as an end's host part: bracketed over IPv6.
    pub fn host(&self, addr: &str) -> String {
        match self.family {
            Family::V4 => addr.to_owned(),
            Family::V6 => format!("[{addr}]"),
        }
    }

    /// `ADDR:PORT` as nettool takes and prints it (`[ADDR]:PORT` over
    /// IPv6).
    pub fn end(&self, addr: &str, port: u16) -> String {
        format!("{}:{port}", self.host(addr))
    }

    /// nft's match on A as a packet's source.
    pub fn saddr_a(&self) -> String {
        match self.family {
            Family::V4 => format!("ip saddr {}", self.a),
            Family::V6 => format!("ip6 saddr {}", self.a),
        }
    }

    /// `nettool trace ARGS` in A.
    pub fn trace(&self, scratch: &Scratch, args: &[&str]) -> Ran {
        let mut cmd = self.net.cmd_a(nettool());
        cmd.arg("trace")
            .args(args)
            .env("NETTOOL_ARP_CACHE", scratch.cache());
        run(cmd, LIMIT)
    }

    /// A listening kernel socket in B on its address of this family,
    /// never accepting: the handshakes nettool starts must end in its
    /// RST, not in B's accept queue.
    pub fn listen(&self, port: u16) -> Server {
        let mut cmd = self.net.cmd_b("python3");
        cmd.args([super::PEER, "hold", &port.to_string()]);
        if self.family == Family::V6 {
            cmd.args(["0", Routed6::B]);
        }
        let mut s = Server::spawn(cmd);
        s.wait_for("ready", Duration::from_secs(10));
        s
    }

    /// `queries` probes a hop: R1 and R2 expire them, then `last` (the
    /// hops past the routers, from TTL 3).
    pub fn past_the_routers(&self, queries: u64, last: Vec<Vec<Probe>>) -> Vec<Probe> {
        let mut all = vec![
            hop(1, queries, &self.r1, "time-exceeded"),
            hop(2, queries, &self.r2, "time-exceeded"),
        ];
        all.extend(last);
        all.concat()
    }

    pub fn assert_no_guard_left(&self) {
        let mut tables = self.net.cmd_a("nft");
        tables.args(["list", "tables"]);
        let left = sh(tables);
        assert!(!left.contains("nettool-guard"), "left behind: {left}");
    }

    /// B neither accepted a connection nor holds a half-open one.
    pub fn assert_no_half_open_connection(&self, server: &Server) {
        assert!(!server.saw("accepted"), "B accepted a connection");
        let mut ss = self.net.cmd_b("ss");
        ss.args(["-Htn", "state", "syn-recv"]);
        let left = sh(ss);
        assert!(
            left.trim().is_empty(),
            "B holds half-open connections: {left}"
        );
    }
}

/// A `hop` object of a `--json` run: (ttl, query, who answered, answer),
/// `None` for silence.
pub type Probe = (u64, u64, Option<String>, Option<String>);

/// The `hop` objects of a `--json` run, late answers aside.
pub fn probes(ran: &Ran) -> Vec<Probe> {
    ran.json_lines()
        .iter()
        .filter(|v| v["event"] == "hop" && v["late"] != true)
        .map(|v| {
            (
                v["ttl"].as_u64().unwrap(),
                v["query"].as_u64().unwrap(),
                v["ip"].as_str().map(str::to_owned),
                v["answer"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// Every probe of hop `ttl` (there are `queries`) answered by `from` with
/// `answer`.
pub fn hop(ttl: u64, queries: u64, from: &str, answer: &str) -> Vec<Probe> {
    (0..queries)
        .map(|q| (ttl, q, Some(from.to_owned()), Some(answer.to_owned())))
        .collect()
}

/// Every probe of hop `ttl` unanswered.
pub fn stars(ttl: u64, queries: u64) -> Vec<Probe> {
    (0..queries).map(|q| (ttl, q, None, None)).collect()
}

/// The RSTs nettool sent to end half-open connections.
pub fn resets(ran: &Ran) -> usize {
    ran.json_lines()
        .iter()
        .filter(|v| v["event"] == "segment" && v["dir"] == "out" && v["flags"] == "R")
        .count()
}

pub fn start(ran: &Ran) -> Value {
    ran.json_lines()
        .into_iter()
        .find(|v| v["event"] == "start")
        .expect("a start line")
}

pub fn result(ran: &Ran) -> Value {
    ran.json_lines().pop().expect("a result line")
}
