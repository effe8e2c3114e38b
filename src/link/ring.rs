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
//!
//! The socket is non-blocking (pnet makes it so), and a `send` hands over
//! only what the socket's send buffer has room for: it returns early, with
//! a byte count or `EAGAIN`, when the device is slower than the ring is
//! filled (a shaped or slow link), and with `ENOBUFS` when a queueing
//! discipline dropped a frame, which the kernel puts back to be sent
//! again. So [`TxRing::flush`] sends until the last frame queued was
//! taken, waiting for `POLLOUT` in between, and [`TxRing::push`] waits for
//! its slot: the ring paces its writer to the link, as a blocking
//! `sendto` would, and never drops a frame on its own. Only a signal ends
//! a wait early (`ErrorKind::Interrupted`).

use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::sys::setsockopt;

/// `tpacket_versions::TPACKET_V2` in `<linux/if_packet.h>`.
const TPACKET_V2: libc::c_int = 1;
const TP_STATUS_SEND_REQUEST: u32 = 1;
const TP_STATUS_SENDING: u32 = 1 << 1;
const TP_STATUS_WRONG_FORMAT: u32 = 1 << 2;
/// The status bits that say who owns a slot (the kernel may OR timestamp
/// bits into the rest); none set: AVAILABLE, ours to fill.
const TP_STATUS_OWNER: u32 = TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING | TP_STATUS_WRONG_FORMAT;
/// The shortest frame the kernel takes: an Ethernet header.
const MIN_FRAME: usize = 14;
/// Where a TX frame's data starts in its slot: behind the aligned
/// `tpacket2_hdr` (the kernel's `tp_hdrlen - sizeof(struct sockaddr_ll)`).
const DATA_OFFSET: usize = 32;
const _: () = assert!(DATA_OFFSET >= std::mem::size_of::<libc::tpacket2_hdr>());
/// `struct virtio_net_hdr` (legacy layout, little-endian fields).
const VNET_HDR_LEN: usize = 10;
/// Each block of the ring; slots never straddle blocks.
const BLOCK_SIZE: usize = 1 << 16;
/// How long one wait for the device lasts before nettool looks again.
const WAIT: Duration = Duration::from_millis(100);
/// A pause when the socket says it is writable but the frame it waits for
/// has not moved (a queueing discipline dropping and the kernel
/// re-queueing): waiting, not spinning.
const BACKOFF: Duration = Duration::from_micros(100);

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
    /// The kernel refused a slot (`TP_STATUS_WRONG_FORMAT`): it will not
    /// send past it, so neither will nettool.
    refused: bool,
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
            let err = io::Error::last_os_error();
            // Take the ring down again: a socket with a ring sends only
            // from it, and nothing would ever fill this one.
            let none = libc::tpacket_req {
                tp_block_size: 0,
                tp_block_nr: 0,
                tp_frame_size: 0,
                tp_frame_nr: 0,
            };
            let _ = setsockopt(fd, libc::SOL_PACKET, libc::PACKET_TX_RING, &none);
            return Err(err);
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
            refused: false,
        })
    }

    fn header_len(&self) -> usize {
        if self.vnet { VNET_HDR_LEN } else { 0 }
    }

    fn slot(&self, i: usize) -> *mut u8 {
        let offset = (i / self.frames_per_block) * self.block_size
            + (i % self.frames_per_block) * self.frame_size;
        debug_assert!(offset + self.frame_size <= self.map_len);
        // SAFETY: the offset lies inside the mapping (asserted above).
        unsafe { self.map.as_ptr().add(offset) }
    }

    /// The status word of slot `i`, which the kernel reads and writes
    /// concurrently: an atomic, so the acquire orders what follows it.
    fn status_word(&self, i: usize) -> &AtomicU32 {
        // SAFETY: tp_status is the slot's first field, a u32 at a 16-byte
        // aligned address inside the mapping, which lives as long as
        // `self`; the kernel only ever accesses it as a whole word.
        unsafe { AtomicU32::from_ptr(self.slot(i).cast::<u32>()) }
    }

    fn status(&self, i: usize) -> u32 {
        self.status_word(i).load(Ordering::Acquire) & TP_STATUS_OWNER
    }

    /// Waits until the next slot is free to fill: the device took its
    /// last frame. Queued frames are flushed first.
    pub fn wait_for_slot(&mut self) -> io::Result<()> {
        loop {
            match self.status(self.head) {
                0 => return Ok(()),
                TP_STATUS_WRONG_FORMAT => return Err(self.refuse()),
                _ => {}
            }
            if self.queued {
                self.send()?;
                if self.status(self.head) == 0 {
                    return Ok(());
                }
            }
            self.wait_writable()?;
        }
    }

    /// Writes `frame` into the next slot and marks it for sending; it
    /// leaves at the next [`TxRing::flush`], or earlier when the ring is
    /// full. Waits for the slot ([`TxRing::wait_for_slot`]); `Interrupted`
    /// when a signal came first, and then the frame is not queued.
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
        if frame.len() < MIN_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a frame of {} bytes has no Ethernet header", frame.len()),
            ));
        }
        if self.refused {
            return Err(rejected());
        }
        self.wait_for_slot()?;
        let slot = self.slot(self.head);
        let header = self.header_len();
        // No offload asked for; hdr_len: copy the whole frame (module docs).
        let mut vnet_hdr = [0u8; VNET_HDR_LEN];
        vnet_hdr[2..4].copy_from_slice(&(frame.len() as u16).to_le_bytes());
        // SAFETY: the slot is ours (AVAILABLE) until its status says
        // SEND_REQUEST; its data area holds the header and max_frame bytes
        // (checked above).
        unsafe {
            let data = slot.add(DATA_OFFSET);
            std::ptr::copy_nonoverlapping(vnet_hdr.as_ptr(), data, header);
            std::ptr::copy_nonoverlapping(frame.as_ptr(), data.add(header), frame.len());
            let hdr = slot.cast::<libc::tpacket2_hdr>();
            std::ptr::addr_of_mut!((*hdr).tp_len).write((header + frame.len()) as u32);
        }
        // The release makes the frame and its length visible before the
        // status hands the slot to the kernel.
        self.status_word(self.head)
            .store(TP_STATUS_SEND_REQUEST, Ordering::Release);
        self.head = (self.head + 1) % self.frame_nr;
        self.queued = true;
        Ok(())
    }

    /// Hands every queued frame to the kernel, waiting while the device
    /// is slower than the ring was filled (see the module docs).
    pub fn flush(&mut self) -> io::Result<()> {
        while self.queued {
            self.send()?;
            if self.queued {
                self.wait_writable()?;
            }
        }
        Ok(())
    }

    /// One `send`: the kernel takes queued frames until the socket's send
    /// buffer is full or the queueing discipline drops one. Whatever it
    /// left stays queued; `queued` says whether anything did.
    fn send(&mut self) -> io::Result<()> {
        if self.refused {
            return Err(rejected());
        }
        // SAFETY: a zero-length send on our socket: the kernel takes the
        // frames from the ring.
        let rc = unsafe { libc::send(self.fd, std::ptr::null(), 0, 0) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ENOBUFS | libc::EAGAIN | libc::EINTR) => {}
                Some(libc::EINVAL | libc::EMSGSIZE) => return Err(self.refuse()),
                _ => return Err(err),
            }
        }
        // Frames leave in order: once the last one queued has been taken,
        // all have.
        let last = (self.head + self.frame_nr - 1) % self.frame_nr;
        match self.status(last) {
            TP_STATUS_SEND_REQUEST => {}
            TP_STATUS_WRONG_FORMAT => return Err(self.refuse()),
            _ => self.queued = false,
        }
        Ok(())
    }

    /// Waits for the socket to take more (`POLLOUT`), briefly; a signal
    /// ends the wait with `Interrupted`.
    fn wait_writable(&mut self) -> io::Result<()> {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, WAIT.as_millis() as libc::c_int) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        if rc > 0 {
            // Writable already: the socket has room, but what we wait for
            // may still be in a queue. Pause rather than spin.
            std::thread::sleep(BACKOFF);
        }
        Ok(())
    }

    /// Takes back every frame queued but not yet handed to the kernel
    /// (a sender stopped by a signal), returning how many. Outside a
    /// `send` the kernel leaves `SEND_REQUEST` slots alone, so they are
    /// ours to reclaim.
    pub fn discard_queued(&mut self) -> usize {
        let mut n = 0;
        for i in 0..self.frame_nr {
            if self.status(i) == TP_STATUS_SEND_REQUEST {
                self.status_word(i).store(0, Ordering::Release);
                n += 1;
            }
        }
        // The next frame goes where the first discarded one was.
        self.head = (self.head + self.frame_nr - n) % self.frame_nr;
        self.queued = false;
        n
    }

    /// The ring is stuck at a slot the kernel refused: say so from now on.
    fn refuse(&mut self) -> io::Error {
        self.refused = true;
        rejected()
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
