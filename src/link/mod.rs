//! Moving frames: the one boundary between the engine and the network.
//!
//! [`Link`] is deliberately small and uses std types only, so the engine
//! and the driver never see pnet: [`packet::PacketLink`] is the AF_PACKET
//! channel used in production, [`mem::MemLink`] an in-memory network with
//! a virtual clock used by the tests.

pub mod lo;
pub mod mem;
pub mod packet;
pub mod pcap;
pub mod ring;
pub mod rxring;
pub mod stamp;
pub mod trace;

use std::io;
use std::time::{Duration, SystemTime};

pub use crate::machine::RxChecksum;

/// A received frame and what the kernel said about it.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub frame: &'a [u8],
    pub checksum: RxChecksum,
    /// When it arrived, by the kernel's receive stamp (wall clock, taken
    /// where a capture on the interface takes its own), where the link
    /// was asked for stamps ([`Link::enable_rx_stamps`]) and has them.
    pub stamp: Option<SystemTime>,
}

/// A link that sends and receives whole Ethernet frames.
pub trait Link {
    /// Sends one complete frame (checksums already filled).
    fn send(&mut self, frame: &[u8]) -> io::Result<()>;

    /// Sends the first of `frames`, and as many after it as it can in the
    /// same go (one system call, where the link can): how many left, at
    /// least one, or the error the first met. The driver hands over the
    /// frames a turn has to send (a drain's ACKs) this way.
    fn send_batch(&mut self, frames: &[&[u8]]) -> io::Result<usize> {
        self.send(frames[0]).map(|()| 1)
    }

    /// Waits at most `timeout` for the next received frame. `Ok(None)` when
    /// none arrived in time, or when a signal interrupted the wait (the
    /// driver then checks whether it was asked to stop).
    fn recv(&mut self, timeout: Duration) -> io::Result<Option<Received<'_>>>;

    /// A descriptor that becomes readable when a frame arrives, for the
    /// driver to wait on the link and on something else at once (`nc`'s
    /// stdin). `None` for links that are not backed by one.
    fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    /// Frames that [`Link::recv`] hands over next without waiting and
    /// without a system call: the rest of the receive ring's block being
    /// read. The driver reads them all before it sends, so that one
    /// acknowledgement answers the whole block. 0 without a ring.
    fn rx_pending(&self) -> usize {
        0
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

    /// Asks the kernel to stamp received frames, where the link can
    /// ([`Received::stamp`]); a no-op elsewhere.
    fn enable_rx_stamps(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// The kernel's stamp of the last frame sent, nearest to where a
    /// capture on the interface stamps it, if the link has one.
    fn tx_stamp(&mut self) -> Option<SystemTime> {
        None
    }

    /// Whether every frame sent also comes back through `recv`, as on
    /// loopback; a capture then records it once.
    fn echoes_sent(&self) -> bool {
        false
    }

    /// Whether [`Link::queue`] holds frames back until [`Link::flush`]
    /// (a transmit ring that sends many frames per system call).
    fn has_ring(&self) -> bool {
        false
    }

    /// Queues a frame to leave at the next [`Link::flush`]; a link without
    /// a ring sends it at once.
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
}

/// A boxed link is a link: the setup hands out `Box<dyn Link>`, which
/// decorators (a capture) wrap in turn.
impl<L: Link + ?Sized> Link for Box<L> {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        (**self).send(frame)
    }
    fn send_batch(&mut self, frames: &[&[u8]]) -> io::Result<usize> {
        (**self).send_batch(frames)
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
    fn rx_pending(&self) -> usize {
        (**self).rx_pending()
    }
    fn can_segment(&self) -> bool {
        (**self).can_segment()
    }
    fn send_segmented(&mut self, frame: &[u8], mss: u16) -> io::Result<()> {
        (**self).send_segmented(frame, mss)
    }
    fn enable_rx_stamps(&mut self) -> io::Result<()> {
        (**self).enable_rx_stamps()
    }
    fn tx_stamp(&mut self) -> Option<SystemTime> {
        (**self).tx_stamp()
    }
    fn echoes_sent(&self) -> bool {
        (**self).echoes_sent()
    }
    fn has_ring(&self) -> bool {
        (**self).has_ring()
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
    /// IPv6 (neighbour discovery, ICMPv6 echo), with ARP, which the
    /// filter's shape lets through beside it and NDP's parser refuses.
    ArpIpv6,
    /// Everything on the interface.
    All,
}
