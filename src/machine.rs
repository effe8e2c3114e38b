//! The shape every sans-IO protocol machine in nettool has, so one driver
//! loop (`driver::run`) and one simulator can run any of them.

use crate::time::Instant;
use crate::wire::tcp::ChecksumMode;

/// What the kernel said about a received frame's checksums.
///
/// On veth and loopback, frames the local kernel (or a kernel peer across a
/// veth) sends carry *partial* TCP checksums: the pseudo-header sum only,
/// to be finished by hardware that does not exist. AF_PACKET reports this
/// per frame in `PACKET_AUXDATA`. Only when the kernel vouches for a frame
/// may a checksum that does not verify be accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RxChecksum {
    /// Nothing is known: verify every checksum.
    #[default]
    Unknown,
    /// `TP_STATUS_CSUMNOTREADY`: the checksum was never finished; the
    /// packet came from this machine's own stack, which computed nothing
    /// to corrupt.
    Partial,
    /// `TP_STATUS_CSUM_VALID`: the device or the kernel verified it.
    Valid,
}

impl RxChecksum {
    /// Whether a checksum that does not verify may still be accepted.
    pub fn kernel_vouches(self) -> bool {
        matches!(self, RxChecksum::Partial | RxChecksum::Valid)
    }

    /// How to parse a TCP segment that arrived with this status.
    pub fn tcp_mode(self) -> ChecksumMode {
        if self.kernel_vouches() {
            ChecksumMode::Skip
        } else {
            ChecksumMode::Verify
        }
    }
}

/// A sans-IO protocol machine: fed frames and time, it returns frames,
/// deadlines and events as data.
pub trait Machine {
    type Event;
    /// One received frame, unparsed: the machine validates it, trusting a
    /// bad checksum only where `checksum` says the kernel vouches for it.
    fn handle_frame(&mut self, now: Instant, frame: &[u8], checksum: RxChecksum);
    /// Fires whatever deadlines have passed at `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// The next frame to send at `now`, if any.
    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>>;
    /// When the machine next needs [`Machine::handle_timeout`] or has
    /// something to send; `None` when only a frame can wake it.
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_event(&mut self) -> Option<Self::Event>;
    fn is_done(&self) -> bool;
    /// The run ends before its time (Ctrl-C, or the link failed): the
    /// machine queues what it must say on its way out (a RST to a peer it
    /// would otherwise leave half-open), sent next if the link still can.
    /// Nothing by default.
    fn abort(&mut self, _now: Instant) {}
}
