//! The shape every sans-IO protocol machine in nettool has, so one driver
//! loop (`driver::run`) and one simulator can run any of them.

use crate::time::Instant;

/// A sans-IO protocol machine: fed frames and time, it returns frames,
/// deadlines and events as data.
pub trait Machine {
    type Event;
    /// One received frame, unparsed: the machine validates it.
    fn handle_frame(&mut self, now: Instant, frame: &[u8]);
    /// Fires whatever deadlines have passed at `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// The next frame to send at `now`, if any.
    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>>;
    /// When the machine next needs [`Machine::handle_timeout`] or has
    /// something to send; `None` when only a frame can wake it.
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_event(&mut self) -> Option<Self::Event>;
    fn is_done(&self) -> bool;
}
