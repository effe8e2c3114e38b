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
//! - [`time`], [`wire`], [`arp`] (and later `tcp`, `stack`) are the engine:
//!   pure, sans-IO. They take `now` as an argument, return frames and timers
//!   as data, and never touch a socket, a clock or stdout.
//! - `link` moves frames (pnet's AF_PACKET channel in production, an
//!   in-memory link in tests); `driver` is the single event loop that reads
//!   the clock and blocks.
//! - `cmd` turns command-line arguments into engine runs and renders their
//!   events; `main` maps the outcome to an exit code.

pub mod sim;
pub mod tcp;
pub mod time;
pub mod wire;
