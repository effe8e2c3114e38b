//! A `PACKET_TX_RING`: frames written into memory shared with the kernel
//! and sent many per system call.
//!
//! `sendto` costs a system call, a copy from user space and a socket
//! lookup per frame; a flood of small probes spends much of its time
//! there. With a TX ring (TPACKET_V2) nettool writes each frame into the
//! next slot of an `mmap`ed ring, marks it `TP_STATUS_SEND_REQUEST`, and
//! one `send(fd, NULL, 0)` hands every marked slot to the device; the
//! kernel hands each slot back (`TP_STATUS_AVAILABLE`) once its frame is
//! gone. Frames still pass `dev_queue_xmit` and its taps, so tcpdump sees
//! them exactly as it sees a `sendto`.
//!
//! On a socket with `PACKET_VNET_HDR` each frame travels behind a
//! `virtio_net_hdr` whose `hdr_len` covers the whole frame, and that is
//! how nettool prefers it: the kernel then copies the frame into the
//! socket buffer. Without the header it copies only the Ethernet header
//! and attaches the rest as a fragment pointing into the ring; any
//! device that hands the frame on (veth, a bridge) must then copy that
//! fragment into a freshly allocated page (`skb_copy_ubufs`), which for
//! a small probe costs more than the copy it saved.
//!
//! Once a socket has a TX ring, the kernel sends only from the ring (any
//! `sendto` merely flushes it), so a link with a ring sends everything
//! through it.

use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{Ordering, fence};

use crate::sys::setsockopt;

/// `tpacket_versions::TPACKET_V2` in `<linux/if_packet.h>`.
const TPACKET_V2: libc::c_int = 1;
const TP_STATUS_AVAILABLE: u32 = 0;
const TP_STATUS_SEND_REQUEST: u32 = 1;
const TP_STATUS_WRONG_FORMAT: u32 = 1 << 2;
/// Where a TX frame's data starts in its slot: behind the aligned
/// `tpacket2_hdr` (the kernel's `tp_hdrlen - sizeof(struct sockaddr_ll)`).
const DATA_OFFSET: usize = 32;
const _: () = assert!(DATA_OFFSET >= std::mem::size_of::<libc::tpacket2_hdr>());
/// `struct virtio_net_hdr` (legacy layout, little-endian fields).
const VNET_HDR_LEN: usize = 10;
/// Each block of the ring; slots never straddle blocks.
const BLOCK_SIZE: usize = 1 << 16;
/// The longest a flush waits for the device to take the ring's frames
/// (`SO_SNDTIMEO`): without it, a device that stopped sending (carrier
/// lost, qdisc stalled) would hold nettool in `send` forever.
pub const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(200);

/// A transmit ring on an AF_PACKET socket (see the module docs).
pub struct TxRing {
    fd: RawFd,
    map: NonNull<u8>,
    map_len: usize,
    block_size: usize,
    frame_size: usize,
    frames_per_block: usize,
    frame_nr: usize,
    /// The next slot to fill.
    head: usize,
    /// Slots marked for sending that no flush has handed over yet.
    queued: bool,
    /// The socket has `PACKET_VNET_HDR`: each frame goes behind a header.
    vnet: bool,
    /// The longest frame accepted: what the caller asked for (the
    /// interface's MTU plus its header). With `PACKET_VNET_HDR` the kernel
    /// checks no length, and veth drops an oversized frame silently.
    max_frame: usize,
}

// SAFETY: the mapping belongs to this value alone; nothing else holds a
// pointer into it, so moving it to another thread moves the sole owner.
unsafe impl Send for TxRing {}

impl TxRing {
    /// Sets up a ring of at least `frames` slots, each holding a frame of
    /// up to `max_frame` bytes, on the bound packet socket `fd`, which
    /// has `PACKET_VNET_HDR` set when `vnet` is (see the module docs).
    pub fn new(fd: RawFd, max_frame: usize, frames: usize, vnet: bool) -> io::Result<TxRing> {
        let max_frame = max_frame.min(usize::from(u16::MAX));
        let frame_size = (DATA_OFFSET + VNET_HDR_LEN + max_frame).next_power_of_two();
        let block_size = BLOCK_SIZE.max(frame_size);
        let frames_per_block = block_size / frame_size;
        let block_nr = frames.div_ceil(frames_per_block).max(1);
        let frame_nr = block_nr * frames_per_block;
        setsockopt(fd, libc::SOL_PACKET, libc::PACKET_VERSION, &TPACKET_V2)?;
        let req = libc::tpacket_req {
            tp_block_size: block_size as u32,
            tp_block_nr: block_nr as u32,
            tp_frame_size: frame_size as u32,
            tp_frame_nr: frame_nr as u32,
        };
        setsockopt(fd, libc::SOL_PACKET, libc::PACKET_TX_RING, &req)?;
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: FLUSH_TIMEOUT.as_micros() as libc::suseconds_t,
        };
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDTIMEO, &timeout)?;
        let map_len = block_size * block_nr;
        // SAFETY: mapping the ring the kernel just allocated for this
        // socket; the result is checked, and unmapped on drop.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(TxRing {
            fd,
            map: NonNull::new(map.cast()).expect("mmap returned a mapping"),
            map_len,
            block_size,
            frame_size,
            frames_per_block,
            frame_nr,
            head: 0,
            queued: false,
            vnet,
            max_frame,
        })
    }

    /// The largest frame a slot holds.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    fn header_len(&self) -> usize {
        if self.vnet { VNET_HDR_LEN } else { 0 }
    }

    /// Slots in the ring.
    pub fn slots(&self) -> usize {
        self.frame_nr
    }

    fn slot(&self, i: usize) -> *mut u8 {
        let offset = (i / self.frames_per_block) * self.block_size
            + (i % self.frames_per_block) * self.frame_size;
        debug_assert!(offset + self.frame_size <= self.map_len);
        // SAFETY: the offset lies inside the mapping (asserted above).
        unsafe { self.map.as_ptr().add(offset) }
    }

    fn status(&self, i: usize) -> u32 {
        // SAFETY: tp_status is the slot's first, aligned u32, which the
        // kernel writes concurrently: read it volatile, then order the
        // reads of the slot after it.
        let s = unsafe { std::ptr::read_volatile(self.slot(i).cast::<u32>()) };
        fence(Ordering::Acquire);
        s
    }

    /// Writes `frame` into the next slot and marks it for sending; it
    /// leaves at the next [`TxRing::flush`], or earlier when the ring is
    /// full. `ENOBUFS` when the device has taken none of the ring's frames
    /// for [`FLUSH_TIMEOUT`]: this frame is not queued.
    pub fn push(&mut self, frame: &[u8]) -> io::Result<()> {
        if frame.len() > self.max_frame {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a frame of {} bytes is longer than the link takes ({}: the interface's MTU \
                     and the Ethernet header)",
                    frame.len(),
                    self.max_frame
                ),
            ));
        }
        if self.status(self.head) != TP_STATUS_AVAILABLE {
            // Every slot is queued or in flight: send them, which also
            // waits until the kernel has handed the slots back.
            self.flush()?;
            match self.status(self.head) {
                TP_STATUS_AVAILABLE => {}
                TP_STATUS_WRONG_FORMAT => return Err(rejected()),
                _ => return Err(io::Error::from_raw_os_error(libc::ENOBUFS)),
            }
        }
        let slot = self.slot(self.head);
        let header = self.header_len();
        // No offload asked for; hdr_len: copy the whole frame (module docs).
        let mut vnet_hdr = [0u8; VNET_HDR_LEN];
        vnet_hdr[2..4].copy_from_slice(&(frame.len() as u16).to_le_bytes());
        // SAFETY: the slot is ours (AVAILABLE) until its status says
        // SEND_REQUEST; its data area holds header + max_frame() bytes
        // (checked above).
        unsafe {
            let data = slot.add(DATA_OFFSET);
            std::ptr::copy_nonoverlapping(vnet_hdr.as_ptr(), data, header);
            std::ptr::copy_nonoverlapping(frame.as_ptr(), data.add(header), frame.len());
            let hdr = slot.cast::<libc::tpacket2_hdr>();
            std::ptr::addr_of_mut!((*hdr).tp_len).write_volatile((header + frame.len()) as u32);
            // The frame and its length must be visible before the status
            // hands the slot to the kernel.
            fence(Ordering::Release);
            std::ptr::addr_of_mut!((*hdr).tp_status).write_volatile(TP_STATUS_SEND_REQUEST);
        }
        self.head = (self.head + 1) % self.frame_nr;
        self.queued = true;
        Ok(())
    }

    /// Sends every queued frame and waits (at most [`FLUSH_TIMEOUT`])
    /// until the kernel has handed their slots back. When the device
    /// takes no more (`ENOBUFS`, or a full socket send buffer until the
    /// timeout), the frames not yet taken stay queued for the next flush.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.queued {
            return Ok(());
        }
        // SAFETY: a zero-length send on our socket: the kernel takes the
        // frames from the ring.
        let rc = unsafe { libc::send(self.fd, std::ptr::null(), 0, 0) };
        if rc >= 0 {
            self.queued = false;
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENOBUFS | libc::EAGAIN | libc::ETIMEDOUT | libc::EINTR) => Ok(()),
            Some(libc::EINVAL | libc::EMSGSIZE) => Err(rejected()),
            _ => Err(err),
        }
    }
}

/// The error for a slot the kernel refused (`TP_STATUS_WRONG_FORMAT`).
fn rejected() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "the kernel refused a frame from the send ring: larger than the interface's MTU, \
         or shorter than an Ethernet header",
    )
}

impl Drop for TxRing {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what new() mapped.
        unsafe { libc::munmap(self.map.as_ptr().cast(), self.map_len) };
    }
}
