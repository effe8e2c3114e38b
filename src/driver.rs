//! The event loop: the only place that reads the clock and blocks.
//!
//! It drives any sans-IO [`Machine`] over any [`Link`], in the shape every
//! such loop has (quiche's example client, quinn's driver): fire due
//! timers, send what the machine wants sent, hand its events to the caller,
//! then block until the next frame or the machine's next deadline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use crate::clock::{Clock, SystemClock};
use crate::link::Link;
pub use crate::machine::Machine;
use crate::time::Instant;

/// Longest single wait: bounds how late a Ctrl-C that lands between the
/// flag check and the wait is noticed.
const MAX_WAIT: Duration = Duration::from_millis(200);

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The machine finished.
    Done,
    /// `interrupt` was raised (Ctrl-C, SIGTERM).
    Interrupted,
}

/// Runs `machine` to completion over `link`, passing each event, with
/// the time it happened at, to `on_event`. An error from the link or from
/// `on_event` ends the run.
pub fn run<M: Machine>(
    machine: &mut M,
    link: &mut dyn Link,
    clock: &mut dyn Clock,
    interrupt: &AtomicBool,
    mut on_event: impl FnMut(Instant, M::Event) -> anyhow::Result<()>,
) -> anyhow::Result<Stop> {
    loop {
        let now = clock.now();
        if machine.poll_timeout().is_some_and(|t| t <= now) {
            machine.handle_timeout(now);
        }
        while let Some(frame) = machine.poll_transmit(now) {
            link.send(&frame)?;
        }
        while let Some(event) = machine.poll_event() {
            on_event(now, event)?;
        }
        if machine.is_done() {
            return Ok(Stop::Done);
        }
        if interrupt.load(Ordering::Relaxed) {
            return Ok(Stop::Interrupted);
        }
        let wait = machine
            .poll_timeout()
            .map_or(MAX_WAIT, |t| (t - now).min(MAX_WAIT));
        if let Some(rx) = link.recv(wait)? {
            let now = clock.now();
            machine.handle_frame(now, rx.frame, rx.checksum);
            while let Some(event) = machine.poll_event() {
                on_event(now, event)?;
            }
        }
    }
}
