//! The lab's TCP services: real kernel sockets for nettool's TCP tools to
//! talk to.
//!
//! nettool's own TCP engine is not involved here. `nettool lab serve`
//! (started by [`super::up`], hidden from users) runs ordinary `std::net`
//! listeners inside the lab namespace, so the peer on the far side of a
//! `nettool handshake` or `nettool close` is the Linux kernel's TCP, with a
//! small, predictable application on top of it:
//!
//! | port | name | what the peer does | what it lets you watch |
//! |---|---|---|---|
//! | [`Ports::HTTP`] (80) | `http` | answers one request (any path, GET or HEAD, HTTP/1.0 or 1.1) with a short text page, then closes first | the passive close: the server's FIN arrives before yours |
//! | [`Ports::ECHO`] (7) | `echo` | RFC 862: echoes every byte until your FIN, then sends its own FIN | data both ways, then an orderly close you start |
//! | [`Ports::TRICKLE`] (19) | `trickle` | one numbered line every 100 ms, 10 lines, then closes; keeps sending after your FIN | data arriving in FIN-WAIT-2 (a half-close) |
//! | [`Ports::CLOSED`] (81) | `closed` | nothing listens | the kernel's RST answer to a SYN |
//! | [`Ports::FILTERED`] (82) | `filtered` | an nftables rule in the lab drops SYNs to it | a SYN that gets no answer at all |
//!
//! UDP services ([`udp`]: echo on 7/udp, daytime on 13/udp, a closed
//! 81/udp and a filtered 82/udp) run beside them.
//!
//! Every service listens on both address families, each on a socket of
//! its own ([`family`] says why).
//!
//! Modules: [`http`], [`echo`] and [`trickle`] handle one connection each;
//! [`server`] accepts and hands out connections; [`firewall`] owns the
//! nftables table; [`probe`] tells what is listening; [`daemon`] starts the
//! service process for `lab up` and waits until it listens.
//!
//! [`sink`] is apart: a listener that never accepts, holding many
//! connections in its accept queue with one descriptor (the far side of
//! a load test).

pub mod daemon;
pub mod echo;
pub mod family;
pub mod firewall;
pub mod http;
pub mod probe;
pub mod server;
pub mod sink;
pub mod trickle;
pub mod udp;

mod conn;

use std::io;
use std::path::PathBuf;

use serde::Serialize;
use thiserror::Error;

/// The lab's well-known ports, in one place for commands, the demo, tests
/// and the README (see the table in the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct Ports;

impl Ports {
    /// HTTP: one response, then the server closes first.
    pub const HTTP: u16 = 80;
    /// Echo (RFC 862): echoes until the client's FIN.
    pub const ECHO: u16 = 7;
    /// Trickle: 10 lines, 100 ms apart, sent even after the client's FIN.
    pub const TRICKLE: u16 = 19;
    /// Nothing listens: a SYN is answered with RST.
    pub const CLOSED: u16 = 81;
    /// SYNs are dropped by an nftables rule: no answer.
    pub const FILTERED: u16 = 82;
}

/// How a port of the lab behaves, seen from a client's SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    /// A socket listens: the SYN is answered with SYN-ACK.
    Listening,
    /// Nothing listens: the SYN is answered with RST.
    Closed,
    /// A firewall rule drops the SYN: no answer.
    Filtered,
}

impl std::fmt::Display for PortState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PortState::Listening => "listening",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
        })
    }
}

/// One entry of the lab's service catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    pub name: &'static str,
    pub port: u16,
    /// How the port must look when the services are up.
    pub expect: PortState,
    /// One line for people: what the peer does on this port.
    pub about: &'static str,
}

/// Every port the lab's services define, in the order they are shown.
pub const SERVICES: [Service; 5] = [
    Service {
        name: "http",
        port: Ports::HTTP,
        expect: PortState::Listening,
        about: "one text page per connection, then the server closes first",
    },
    Service {
        name: "echo",
        port: Ports::ECHO,
        expect: PortState::Listening,
        about: "echoes until your FIN, then closes (RFC 862)",
    },
    Service {
        name: "trickle",
        port: Ports::TRICKLE,
        expect: PortState::Listening,
        about: "10 lines, 100 ms apart, even after your FIN",
    },
    Service {
        name: "closed",
        port: Ports::CLOSED,
        expect: PortState::Closed,
        about: "nothing listens: a SYN gets RST",
    },
    Service {
        name: "filtered",
        port: Ports::FILTERED,
        expect: PortState::Filtered,
        about: "an nftables rule drops SYNs: no answer",
    },
];

/// The file names the services use in the lab's run directory.
pub const PID_FILE: &str = "serve.pid";
/// The service process's stderr: one line per connection, and errors.
pub const LOG_FILE: &str = "serve.log";

/// Why the services could not be started, run or inspected.
#[derive(Debug, Error)]
pub enum ServiceError {
    #[error(
        "port {port} ({name}) is already in use in this namespace: stop whatever listens there \
         (`ss -ltnp sport = :{port}`)"
    )]
    PortInUse { name: &'static str, port: u16 },
    #[error(
        "the kernel refused the lab's filtered port (table inet {table} in {namespace}): {why}; \
         the kernel needs nftables (sudo modprobe nf_tables), or create the lab without \
         services (`nettool lab up --no-services`)",
        table = firewall::TABLE
    )]
    Firewall { namespace: String, why: String },
    #[error(
        "`nettool lab serve` must run inside the namespace of lab {name} ({namespace}); it is \
         started by `nettool lab up`, not by hand"
    )]
    WrongNamespace { name: String, namespace: String },
    #[error("the lab's services did not start: {why}{}", log_hint(log, tail))]
    DidNotStart {
        why: String,
        log: PathBuf,
        tail: String,
    },
    #[error(transparent)]
    Netns(#[from] crate::lab::netns::NetnsError),
    #[error("{what}: {err}")]
    Io { what: String, err: io::Error },
}

fn log_hint(log: &std::path::Path, tail: &str) -> String {
    if tail.trim().is_empty() {
        format!(" (its log, {}, is empty)", log.display())
    } else {
        format!(
            "; the end of its log, {}:\n{}",
            log.display(),
            tail.trim_end()
        )
    }
}

impl ServiceError {
    pub(crate) fn io(what: impl Into<String>, err: io::Error) -> ServiceError {
        ServiceError::Io {
            what: what.into(),
            err,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_matches_the_ports() {
        let ports: Vec<u16> = SERVICES.iter().map(|s| s.port).collect();
        assert_eq!(
            ports,
            [
                Ports::HTTP,
                Ports::ECHO,
                Ports::TRICKLE,
                Ports::CLOSED,
                Ports::FILTERED
            ]
        );
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len(), "a port is listed twice");
    }
}
