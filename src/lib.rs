//! nettool: a raw-socket protocol toolkit.
//!
//! nettool assembles Ethernet, ARP, IPv4, IPv6 (with neighbour discovery)
//! and TCP itself and moves frames
//! through an AF_PACKET channel. The crate is layered, and dependencies
//! point one way only:
//!
//! ```text
//! time ← wire ← arp, ndp, tcp, probe, trace ← stack ← link, driver ← setup ← cmd ← main
//!               clock, sys ← link, driver, netlink, route
//!               netlink ← route, nft;  nft ← guard, lab;  route, guard, cachefile, privilege ← setup;  seccomp ← privilege
//!               lab, impair, report, picture ← cmd;  serde_display ← lab, report
//!               wire, tcp ← picture;  text ← setup, cmd;  services ← cli, cmd
//!               sim's seeded Rng ← impair;  load ← cmd
//! ```
//!
//! - **The engine**, pure and sans-IO: [`time`], [`wire`], [`arp`],
//!   [`ndp`] (IPv6 neighbour discovery with NUD, and DAD), [`tcp`],
//!   [`probe`] (hand-made TCP, UDP and ICMP probes, SYN and UDP scans) and
//!   [`trace`] (TCP, UDP or ICMP traceroute); [`stack`] is the host around
//!   them: an interface with a flow table of TCP connections, listeners,
//!   UDP endpoints, and the raw flows of probes, scans and traces (ARP
//!   answering, segments, datagrams, ICMP replies and ICMP errors to the
//!   flow they belong to). They take `now` as an
//!   argument, return frames and timers as data, and never touch a
//!   socket, a clock or stdout. [`machine`] is the shape they share (and
//!   that of a raw flow, which `stack` hosts); [`sim`] runs TCP endpoints
//!   against each other on a virtual clock with seeded impairments.
//! - **Moving frames**: [`link`] (pnet's AF_PACKET channel in production,
//!   the loopback link, an in-memory link in tests, and decorators over
//!   any of them: a tracer, a pcap capture); [`driver`] is the single event
//!   loop that reads the clock and blocks. Below both: [`clock`] (where
//!   "now" comes from, and carrying kernel stamps onto it) and [`sys`]
//!   (the raw system calls several of them share).
//! - **The front**: [`cli`] is the one clap definition (from which
//!   [`docgen`] writes the man pages and completions); [`cmd`] turns its
//!   arguments into engine runs and renders their events through
//!   [`report`] (one event schema, as JSON lines or text for people;
//!   [`text`] makes counts and ages read the same in every line);
//!   `main` maps the [`outcome`] to an exit code. [`picture`] draws what
//!   went over the wire as text (a connection's ladder diagram), from a
//!   saved capture or from a command's own events. Under every command
//!   that speaks TCP, [`setup`] is the one setup and teardown: route and
//!   next hop (by ARP, through the cache), source port, RST guard, and the
//!   link (AF_PACKET, or loopback for this host's own addresses); past
//!   it [`privilege`] gives up every privilege the run held, and
//!   [`seccomp`] confines the process to its event loop's system calls.
//! - **Edges** that talk to the kernel or the file system for `cmd`:
//!   [`route`] (over [`netlink`]) asks the routing table which interface,
//!   source and next hop to use; [`guard`] keeps the kernel's RSTs out of
//!   nettool's flows with an nftables rule, made over [`nft`] (nettool's
//!   own nftables messages); [`cachefile`] keeps the ARP and NDP
//!   cache between runs; [`lab`] builds disposable network namespaces for
//!   `nettool lab` and the end-to-end tests; [`impair`] is the seeded,
//!   faulty relay those tests put between two namespaces.
//!   [`load`] paces `nettool load`'s openings and sums up its connect
//!   times, on the caller's clock.
//!   [`services`] reads service names (`http`, `ssh`) where a port
//!   goes, from a built-in table and `/etc/services`.
//!   [`serde_display`] writes addresses by their text in the JSON of both
//!   `report` and `lab`.
//! - **Test-only**: the end-to-end tests' topologies (`lab::testnet`,
//!   `lab::impaired`, `lab::routed`) and the fabricated frames of
//!   `wire::testing` compile only with the `testkit` feature (or in unit
//!   tests), which the package's own tests turn on and a plain
//!   `cargo build` leaves off: the shipped library and binary do not
//!   carry them (see [`lab`]).

pub mod arp;
pub mod cachefile;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod docgen;
pub mod driver;
pub mod guard;
pub mod impair;
pub mod lab;
pub mod link;
pub mod load;
pub mod machine;
pub mod ndp;
pub mod netlink;
pub mod nft;
pub mod outcome;
pub mod picture;
pub mod privilege;
pub mod probe;
pub mod report;
pub mod route;
pub mod seccomp;
pub mod serde_display;
pub mod services;
pub mod setup;
pub mod sim;
pub mod stack;
pub mod sys;
pub mod tcp;
pub mod text;
pub mod time;
pub mod trace;
pub mod wire;

#[cfg(test)]
mod layer_map {
    /// Every module is placed in the map above: a new one must be too.
    #[test]
    fn names_every_module() {
        let src = include_str!("lib.rs");
        let (doc, code) = src.split_at(src.find("pub mod ").expect("modules"));
        let missing: Vec<&str> = code
            .lines()
            .filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';'))
            .filter(|m| !doc.contains(&format!("[`{m}`]")))
            .collect();
        assert!(
            missing.is_empty(),
            "lib.rs's map does not place {missing:?}"
        );
    }
}
