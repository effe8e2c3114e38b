//! nettool: a raw-socket protocol toolkit.
//!
//! nettool assembles Ethernet, ARP, IPv4 and TCP itself and moves frames
//! through an AF_PACKET channel. The crate is layered, and dependencies
//! point one way only:
//!
//! ```text
//! time ← wire ← arp, tcp ← stack ← link, driver ← cmd ← main
//! ```
//!
//! - [`time`], [`wire`], [`arp`] and [`tcp`] are the engine: pure, sans-IO.
//!   They take `now` as an argument, return frames and timers as data, and
//!   never touch a socket, a clock or stdout. [`machine`] is the shape they
//!   share; [`sim`] runs TCP endpoints against each other on a virtual
//!   clock with seeded impairments.
//! - [`link`] moves frames (pnet's AF_PACKET channel in production, an
//!   in-memory link in tests); [`driver`] is the single event loop that reads
//!   the clock and blocks.
//! - [`cmd`] turns command-line arguments into engine runs and renders their
//!   events; `main` maps the outcome to an exit code.
//! - [`route`] (over [`netlink`]) asks the kernel's routing table which
//!   interface, source and next hop to use; [`lab`] builds disposable
//!   network namespaces for `nettool lab` and the end-to-end tests. Both
//!   are edges: they talk to the kernel and run `ip`.

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
pub mod machine;
pub mod netlink;
pub mod outcome;
pub mod probe;
pub mod report;
pub mod route;
pub mod setup;
pub mod sim;
pub mod stack;
pub mod sys;
pub mod tcp;
pub mod time;
pub mod trace;
pub mod wire;
