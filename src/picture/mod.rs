//! Pictures of what went over the wire, drawn as text.
//!
//! - [`capture`] reads a saved capture (classic pcap; Ethernet or Linux
//!   cooked frames) into TCP segments.
//! - [`conn`] picks one connection out of them (by a port or a 4-tuple)
//!   and makes its segments relative: sequence numbers from each end's
//!   ISN, times from the first segment, a direction per segment. This is
//!   the model every picture of a connection shares.
//! - [`infer`] tells the RFC 9293 state each end is in from the segments.
//! - [`ladder`] draws the exchange as a two-column ladder diagram.
//!
//! Layer: below `cmd`, above the engine (it reads `wire` and names `tcp`'s
//! states); it does no I/O of its own: it takes bytes and returns text.

pub mod capture;
pub mod conn;
pub mod infer;
pub mod ladder;

pub use conn::{Conn, ConnFilter, Ends, Seg, Way};
pub use ladder::{Exchange, Item, Style};

/// The ladder of one connection of a capture file's `bytes`: the one
/// `filter` names, or the only one there is.
pub fn ladder_of_capture(
    bytes: &[u8],
    filter: Option<ConnFilter>,
    style: Style,
) -> anyhow::Result<String> {
    let capture = capture::read(bytes)?;
    let conn = conn::pick(&capture.segments, capture.other, filter)?;
    Ok(ladder::render(&Exchange::from_conn(conn), style))
}
