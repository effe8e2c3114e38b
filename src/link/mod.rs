//! Moving frames: the one boundary between the engine and the network.
//!
//! [`Link`] is deliberately small and uses std types only, so the engine
//! and the driver never see pnet: [`packet::PacketLink`] is the AF_PACKET
//! channel used in production, [`mem::MemLink`] an in-memory network with
//! a virtual clock used by the tests.

pub mod lo;
pub mod mem;
pub mod packet;
pub mod ring;
pub mod stamp;
pub mod trace;

use std::io;
use std::time::Duration;

pub use crate::machine::RxChecksum;

/// A received frame and what the kernel said about it.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub frame: &'a [u8],
    pub checksum: RxChecksum,
}

/// A link that sends and receives whole Ethernet frames.
pub trait Link {
    /// Sends one complete frame (checksums already filled).
    fn send(&mut self, frame: &[u8]) -> io::Result<()>;

    /// Waits at most `timeout` for the next received frame. `Ok(None)` when
    /// none arrived in time, or when a signal interrupted the wait (the
    /// driver then checks whether it was asked to stop).
    fn recv(&mut self, timeout: Duration) -> io::Result<Option<Received<'_>>>;

    /// A descriptor that becomes readable when a frame arrives, for loops
    /// that wait on the link and on something else at once (`nc` waits on
    /// stdin too). `None` for links that are not backed by one.
    fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    /// Frames the kernel dropped since the last call because they arrived
    /// faster than they were read (the socket's receive buffer was full);
    /// `None` where the link cannot tell.
    fn receive_drops(&mut self) -> Option<u64> {
        None
    }

    /// Whether [`Link::send_segmented`] works on this link.
    fn can_segment(&self) -> bool {
        false
    }

    /// Sends a TCP/IPv4 super-frame (up to 64 KiB) for the kernel to cut
    /// into segments of `mss` payload bytes each (generic segmentation
    /// offload), finishing every checksum: the frame's TCP checksum field
    /// holds only the pseudo-header sum
    /// ([`ChecksumFill::PseudoHeader`](crate::wire::tcp::ChecksumFill)).
    fn send_segmented(&mut self, _frame: &[u8], _mss: u16) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this link cannot segment",
        ))
    }

    /// Queues a frame to leave at the next [`Link::flush`], for links with
    /// a transmit ring that sends many frames per system call; links
    /// without one send it at once.
    fn queue(&mut self, frame: &[u8]) -> io::Result<()> {
        self.send(frame)
    }

    /// Waits until [`Link::queue`] can take a frame without waiting (at
    /// once without a ring). `Interrupted` when a signal came first.
    fn wait_queue_room(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Takes back the frames queued and not yet sent; how many.
    fn discard_queued(&mut self) -> usize {
        0
    }

    /// Sends what [`Link::queue`] queued.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// The kernel's receive time (on the wall clock) of the frame the last
    /// `recv` returned; `None` where the link has no stamps (see
    /// [`stamp`] for carrying one onto the monotonic clock).
    fn rx_timestamp(&self) -> Option<std::time::SystemTime> {
        None
    }

    /// When the last frame sent left, as the kernel stamped it. `None`
    /// when stamps are off or the kernel has reported none for that frame
    /// yet (the device layer's stamp is taken inside the send, so it is
    /// there when the send returns; a driver's can come later, behind a
    /// queue). A stamp that comes after the next send is dropped, never
    /// taken for another frame's.
    fn tx_timestamp(&mut self) -> io::Result<Option<packet::Departure>> {
        Ok(None)
    }
}

impl<L: Link + ?Sized> Link for Box<L> {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        (**self).send(frame)
    }
    fn recv(&mut self, timeout: Duration) -> io::Result<Option<Received<'_>>> {
        (**self).recv(timeout)
    }
    fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        (**self).poll_fd()
    }
    fn receive_drops(&mut self) -> Option<u64> {
        (**self).receive_drops()
    }
    fn can_segment(&self) -> bool {
        (**self).can_segment()
    }
    fn send_segmented(&mut self, frame: &[u8], mss: u16) -> io::Result<()> {
        (**self).send_segmented(frame, mss)
    }
    fn queue(&mut self, frame: &[u8]) -> io::Result<()> {
        (**self).queue(frame)
    }
    fn wait_queue_room(&mut self) -> io::Result<()> {
        (**self).wait_queue_room()
    }
    fn discard_queued(&mut self) -> usize {
        (**self).discard_queued()
    }
    fn flush(&mut self) -> io::Result<()> {
        (**self).flush()
    }
    fn rx_timestamp(&self) -> Option<std::time::SystemTime> {
        (**self).rx_timestamp()
    }
    fn tx_timestamp(&mut self) -> io::Result<Option<packet::Departure>> {
        (**self).tx_timestamp()
    }
}

/// What a receive filter lets through; filtering in the kernel saves a
/// copy and a wake-up for every frame nettool would discard anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// ARP frames only.
    Arp,
    /// ARP and IPv4 (what a TCP flow needs: its segments, ICMP errors
    /// about it, and ARP requests for our address).
    ArpIpv4,
    /// Everything on the interface.
    All,
}
