//! What only the sender knows, as the pictures carry it: its congestion
//! window, slow start threshold and RTO over time, and why it sent each
//! retransmission. [`record`](super::record) fills it while a command
//! runs; [`plot`](super::plot) and [`plot_svg`](super::plot_svg) draw it.

use std::time::Duration;

use crate::report::event::{RetransmitCause, Sender};

/// A sender's state at one moment: what [`Sender`] reports, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderSample {
    /// In a recording, the time the command handed in; in a graph's
    /// trace, since the graph's first segment.
    pub t: Duration,
    pub state: Sender,
}

/// A retransmission and its cause, when it left: `[seq, seq + len)` in
/// relative sequence numbers, as the graph's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause {
    pub t: Duration,
    pub seq: i64,
    pub len: usize,
    pub cause: RetransmitCause,
}

/// What the sender knows: its window, threshold and timer over time, and
/// its retransmissions' causes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderTrace {
    pub samples: Vec<SenderSample>,
    pub causes: Vec<Cause>,
}
