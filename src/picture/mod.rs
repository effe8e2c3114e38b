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
//! - [`record`] keeps a connection as a command runs it, for the same
//!   pictures of the command's own exchange.
//! - [`sender`] holds what only the sender knows (window, threshold,
//!   RTO, retransmission causes), which `record` fills and `plot` draws.
//! - [`plot`] makes the time–sequence graph of one direction, and
//!   [`plot_svg`] draws it as SVG.
//!
//! Layer: below `cmd`, above the engine (it reads `wire` and names `tcp`'s
//! states); it does no I/O of its own: it takes bytes and returns text.

pub mod capture;
pub mod conn;
pub mod infer;
pub mod ladder;
pub mod plot;
pub mod plot_svg;
pub mod record;
pub mod sender;

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

/// The time–sequence graph, as SVG, of one connection of a capture
/// file's `bytes` (as [`ladder_of_capture`] picks it), in `way` or in the
/// direction that carried more data.
pub fn plot_of_capture(
    bytes: &[u8],
    filter: Option<ConnFilter>,
    way: Option<Way>,
) -> anyhow::Result<String> {
    plot_of_capture_within(bytes, filter, way, None)
}

/// [`plot_of_capture`], of the time from `window.0` to `window.1` (to the
/// end when `None`) only.
pub fn plot_of_capture_within(
    bytes: &[u8],
    filter: Option<ConnFilter>,
    way: Option<Way>,
    window: Option<(std::time::Duration, Option<std::time::Duration>)>,
) -> anyhow::Result<String> {
    let capture = capture::read(bytes)?;
    let conn = conn::pick(&capture.segments, capture.other, filter)?;
    // The same segments `conn` was built from, in its order, for the
    // options (window scale, SACK) it does not keep.
    let raw: Vec<&capture::Captured> = capture
        .segments
        .iter()
        .filter(|s| conn.ends.way(s.src, s.dst).is_some())
        .collect();
    let mut graph = plot::build(&conn, &raw, way)?;
    if let Some((from, to)) = window {
        if from > graph.end {
            anyhow::bail!(
                "the window starts at {:.3} s, after the connection's last segment ({:.3} s)",
                from.as_secs_f64(),
                graph.end.as_secs_f64()
            );
        }
        let to = to.unwrap_or(graph.end);
        graph = graph.window(from, to);
    }
    Ok(plot_svg::render(&graph))
}
