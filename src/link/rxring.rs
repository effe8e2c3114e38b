//! A `PACKET_RX_RING`: received frames read in place from memory shared
//! with the kernel, many per wake-up. Two kinds ([`RingKind`]):
//!
//! - **blocks** (TPACKET_V3), described below: fewest wake-ups, but a
//!   frame waits for its block to fill or time out ([`BLOCK_TIMEOUT`],
//!   1 ms, the kernel's smallest). A TCP flow clocked by its ACKs pays
//!   that on every round trip: 32 MiB from a kernel sender through the
//!   lab's lossy relay took 10 to 12 s instead of 1.5 to 2.3 s. A flood
//!   reading answers between batches of probes pays it not at all.
//! - **frames** (TPACKET_V2): a slot per frame, handed over (and the
//!   reader woken) as soon as it is written, so nothing waits; the reader
//!   still takes every frame already there without a system call. A
//!   slot holds an MTU-sized frame; a larger one (a 64 KiB offload
//!   super-frame: a kernel sender's TSO frames cross veth whole) comes
//!   through `recvmsg` instead, whole: the slot says `TP_STATUS_COPY`,
//!   and the kernel queued the whole frame on the socket
//!   (`PACKET_COPY_THRESH`). One system call and one copy per 64 KiB is
//!   what the socket cost before the ring, and little per byte.
//!
//! `recvmsg` costs a system call and a copy per frame; a bulk receiver
//! or a flood reading its answers spends much of its time there. With a
//! TPACKET_V3 ring the kernel writes each frame (behind a `tpacket3_hdr`
//! carrying its length, checksum status and stamp) into the current
//! block of an `mmap`ed ring, packed one after the other, and hands the
//! block over (`TP_STATUS_USER`) when it is full or when the block's
//! timer ([`BLOCK_TIMEOUT`]) runs out, whichever comes first: a busy
//! link is read a block of frames per wake-up, a lone frame waits at
//! most the timeout. nettool reads the frames where they lie and gives
//! the block back (`TP_STATUS_KERNEL`) when it moves on to the next.
//!
//! The ring lives on a socket of its own: a socket's rings share one
//! TPACKET version, and the transmit ring ([`super::ring`]) is a
//! TPACKET_V2 one. The ring's socket carries the link's BPF filter and
//! ignores outgoing frames, as the link's own socket did.
//!
//! A block is [`BLOCK_SIZE`], so the largest frame the kernel hands
//! over, a 64 KiB offload super-frame (a kernel sender's TSO frames cross
//! veth whole), fits one with room to spare: nothing is cut to the ring's
//! size (TPACKET_V3 has no `TP_STATUS_COPY` fallback; it would clamp the
//! frame). A frame the kernel clamped all the same (`tp_snaplen` short of
//! `tp_len`) is counted in [`RxRing::truncated`] and skipped, never handed
//! over cut.
//!
//! Frames dropped because every block was full are counted by the kernel
//! (`PACKET_STATISTICS`, [`RxRing::drops`]).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::sys::{Buffer, getsockopt, grow_buffer, setsockopt};

use super::{Received, RxChecksum};

/// Each block of the ring: a 64 KiB super-frame fits with its headers,
/// and a block holds about 170 frames of 1514 bytes.
pub const BLOCK_SIZE: usize = 256 << 10;
/// How long the kernel fills a block before handing it over anyway
/// (`tp_retire_blk_tov`, in milliseconds, its smallest value): how late
/// a lone frame can be.
pub const BLOCK_TIMEOUT: Duration = Duration::from_millis(1);
/// `tp_frame_size`: a slot of the frame ring, room for an MTU-sized
/// frame behind its header (TPACKET_V3 packs frames by their own length,
/// but the kernel still checks a frame geometry).
const FRAME_SIZE: usize = 2048;
/// The frame ring's blocks: slots never straddle one.
const FRAME_BLOCK_SIZE: usize = 1 << 16;
/// Frames the frame ring calls one batch ([`RxRing::pending`]): what was
/// there when the reader came, at most this many, so that the reader
/// answers (acknowledges) at least this often under a steady stream.
const FRAME_BATCH: usize = 256;
/// Largest frame read through `recvmsg` (a super-frame and its headers).
const COPY_BUFFER: usize = 65536 + 256;
const TPACKET_V2: libc::c_int = 1;
const PACKET_COPY_THRESH: libc::c_int = 7;
const TP_STATUS_COPY: u32 = 1 << 1;

/// How the ring hands frames over (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingKind {
    /// TPACKET_V3: a block of frames at a time, a lone frame after
    /// [`BLOCK_TIMEOUT`].
    Blocks,
    /// TPACKET_V2: each frame as soon as it arrives.
    Frames,
}
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const TPACKET_V3: libc::c_int = 2;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_CSUMNOTREADY: u32 = 1 << 3;
const TP_STATUS_CSUM_VALID: u32 = 1 << 7;
const TP_STATUS_TS_SOFTWARE: u32 = 1 << 29;
const TP_STATUS_TS_RAW_HARDWARE: u32 = 1 << 31;
/// Offsets in a block's `tpacket_block_desc`: version, offset_to_priv,
/// then `tpacket_hdr_v1` (block_status, num_pkts, offset_to_first_pkt).
const BLOCK_STATUS: usize = 8;
const BLOCK_NUM_PKTS: usize = 12;
const BLOCK_FIRST: usize = 16;

/// A receive ring on an AF_PACKET socket of its own (see the module docs).
pub struct RxRing {
    socket: OwnedFd,
    kind: RingKind,
    map: NonNull<u8>,
    map_len: usize,
    /// Blocks of the block ring, slots of the frame ring.
    block_nr: usize,
    /// The block being read, or the next one to read.
    block: usize,
    /// `block` is ours (the kernel handed it over) and being read.
    held: bool,
    /// Frames of the held block not read yet.
    left: u32,
    /// Where the next frame's header lies in the held block.
    next: usize,
    /// Frame ring: frames of the current batch after the held one.
    batch_left: usize,
    /// A frame the frame ring could not hold, read through `recvmsg`.
    copy: Vec<u8>,
    /// Frames carry their stamps ([`RxRing::enable_timestamps`]).
    stamps: bool,
    /// Frames the kernel stamped with no skb stamp of its own (a kernel
    /// TCP sender's frames carry their departure time, which the tap
    /// does not report) carry the time the ring's header holds all the
    /// same, its own clock reading at the tap: only for the loop's
    /// statistics (`NETTOOL_LOOP_STATS`), as nothing else was checked
    /// against it.
    header_times: bool,
    /// Frames the kernel clamped to the block (never expected: see the
    /// module docs), skipped.
    pub truncated: u64,
}

// SAFETY: the mapping belongs to this value alone; nothing else holds a
// pointer into it, so moving it to another thread moves the sole owner.
unsafe impl Send for RxRing {}

impl RxRing {
    /// Opens a ring of `kind` and about `bytes` on interface `ifindex`,
    /// taking only what the classic BPF program `filter` accepts
    /// (everything when `None`). The filter is in place before the socket
    /// is bound, so no frame slips past it.
    pub fn open(
        ifindex: u32,
        filter: Option<&[libc::sock_filter]>,
        kind: RingKind,
        bytes: usize,
    ) -> io::Result<RxRing> {
        // Protocol 0: nothing is received until the bind below.
        let socket = crate::sys::socket(libc::AF_PACKET, libc::SOCK_RAW, 0)?;
        let fd = socket.as_raw_fd();
        let on: libc::c_int = 1;
        setsockopt(fd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, &on)?;
        if let Some(code) = filter {
            let prog = libc::sock_fprog {
                len: code.len() as u16,
                filter: code.as_ptr() as *mut libc::sock_filter,
            };
            setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)?;
        }
        let (block_size, block_nr, map_len) = match kind {
            RingKind::Blocks => {
                setsockopt(fd, libc::SOL_PACKET, libc::PACKET_VERSION, &TPACKET_V3)?;
                let block_nr = (bytes / BLOCK_SIZE).max(2);
                let req = libc::tpacket_req3 {
                    tp_block_size: BLOCK_SIZE as u32,
                    tp_block_nr: block_nr as u32,
                    tp_frame_size: FRAME_SIZE as u32,
                    tp_frame_nr: (BLOCK_SIZE / FRAME_SIZE * block_nr) as u32,
                    tp_retire_blk_tov: BLOCK_TIMEOUT.as_millis() as u32,
                    tp_sizeof_priv: 0,
                    tp_feature_req_word: 0,
                };
                setsockopt(fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req)?;
                (BLOCK_SIZE, block_nr, BLOCK_SIZE * block_nr)
            }
            RingKind::Frames => {
                setsockopt(fd, libc::SOL_PACKET, libc::PACKET_VERSION, &TPACKET_V2)?;
                // A frame larger than its slot is queued whole on the
                // socket, where its receive buffer has room for it.
                setsockopt(fd, libc::SOL_PACKET, PACKET_COPY_THRESH, &on)?;
                let bytes_c = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
                grow_buffer(fd, Buffer::Receive, bytes_c)?;
                let blocks = (bytes / FRAME_BLOCK_SIZE).max(2);
                let req = libc::tpacket_req {
                    tp_block_size: FRAME_BLOCK_SIZE as u32,
                    tp_block_nr: blocks as u32,
                    tp_frame_size: FRAME_SIZE as u32,
                    tp_frame_nr: (FRAME_BLOCK_SIZE / FRAME_SIZE * blocks) as u32,
                };
                setsockopt(fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req)?;
                let slots = FRAME_BLOCK_SIZE / FRAME_SIZE * blocks;
                (FRAME_SIZE, slots, FRAME_BLOCK_SIZE * blocks)
            }
        };
        debug_assert_eq!(block_size * block_nr, map_len);
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
        let ring = RxRing {
            socket,
            kind,
            map: NonNull::new(map.cast()).expect("mmap returned a mapping"),
            map_len,
            block_nr,
            block: 0,
            held: false,
            left: 0,
            next: 0,
            batch_left: 0,
            copy: Vec::new(),
            stamps: false,
            header_times: false,
            truncated: 0,
        };
        // SAFETY: sockaddr_ll is plain data.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        addr.sll_ifindex = ifindex as libc::c_int;
        // SAFETY: binding our socket to a valid sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(
                fd,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ring)
    }

    /// The ring's socket, readable when a block is ours to read.
    pub fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// Asks the kernel to stamp every frame (`SO_TIMESTAMPNS`: the same
    /// stamp `recvmsg` would carry, taken where tcpdump's copy is
    /// stamped); each frame's header then holds it.
    pub fn enable_timestamps(&mut self) -> io::Result<()> {
        let on: libc::c_int = 1;
        setsockopt(self.fd(), libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &on)?;
        self.stamps = true;
        self.header_times = std::env::var_os("NETTOOL_LOOP_STATS").is_some_and(|v| v != "0");
        Ok(())
    }

    /// Frames the kernel dropped since the last call because every block
    /// was full (`PACKET_STATISTICS`, which also resets the count).
    pub fn drops(&self) -> io::Result<u64> {
        let mut stats = libc::tpacket_stats_v3 {
            tp_packets: 0,
            tp_drops: 0,
            tp_freeze_q_cnt: 0,
        };
        getsockopt(
            self.fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            &mut stats,
        )?;
        Ok(u64::from(stats.tp_drops))
    }

    /// Frames left in the block being read (in the batch, for the frame
    /// ring): read without waiting, and without a system call.
    pub fn pending(&self) -> usize {
        self.left as usize + self.batch_left
    }

    /// The size of a block of the block ring, of a slot of the frame
    /// ring: the unit handed over and back.
    fn unit(&self) -> usize {
        match self.kind {
            RingKind::Blocks => BLOCK_SIZE,
            RingKind::Frames => FRAME_SIZE,
        }
    }

    fn block_ptr(&self, i: usize) -> *mut u8 {
        debug_assert!(i < self.block_nr);
        // SAFETY: block (slot) i lies inside the mapping; slots are
        // packed without gaps, as FRAME_BLOCK_SIZE is a multiple of
        // FRAME_SIZE.
        unsafe { self.map.as_ptr().add(i * self.unit()) }
    }

    /// A u32 of block `block` at `offset`, which the kernel writes
    /// concurrently until it hands the block over.
    fn word(&self, block: usize, offset: usize) -> &AtomicU32 {
        debug_assert!(offset + 4 <= self.unit());
        // SAFETY: a 4-byte aligned u32 inside the mapping, which lives as
        // long as `self`; the kernel accesses the status as a whole word.
        unsafe { AtomicU32::from_ptr(self.block_ptr(block).add(offset).cast::<u32>()) }
    }

    fn read_u32(&self, offset: usize) -> u32 {
        debug_assert!(self.held && offset + 4 <= self.unit());
        // SAFETY: inside the held block, which the kernel leaves alone
        // until we hand it back; frame headers are 4-byte aligned.
        unsafe { self.block_ptr(self.block).add(offset).cast::<u32>().read() }
    }

    fn read_u16(&self, offset: usize) -> u16 {
        debug_assert!(self.held && offset + 2 <= self.unit());
        // SAFETY: as read_u32.
        unsafe { self.block_ptr(self.block).add(offset).cast::<u16>().read() }
    }

    /// Whether the kernel has handed block (slot) `i` over.
    fn ready(&self, i: usize) -> bool {
        let status = match self.kind {
            RingKind::Blocks => BLOCK_STATUS,
            RingKind::Frames => 0,
        };
        // The acquire orders the reads of its frames after it.
        self.word(i, status).load(Ordering::Acquire) & TP_STATUS_USER != 0
    }

    /// Takes block (slot) `self.block` if the kernel has handed it over.
    fn take_block(&mut self) -> bool {
        if !self.ready(self.block) {
            return false;
        }
        self.held = true;
        match self.kind {
            RingKind::Blocks => {
                self.left = self.read_u32(BLOCK_NUM_PKTS);
                self.next = self.read_u32(BLOCK_FIRST) as usize;
            }
            RingKind::Frames => {
                // A batch: this slot and those ready behind it, counted
                // once when the batch starts.
                if self.batch_left == 0 {
                    self.batch_left = (1..FRAME_BATCH)
                        .take_while(|k| self.ready((self.block + k) % self.block_nr))
                        .count()
                        + 1;
                }
                self.batch_left -= 1;
                self.left = 1;
                self.next = 0;
            }
        }
        true
    }

    /// Hands the block read back to the kernel and moves to the next.
    fn release_block(&mut self) {
        let status = match self.kind {
            RingKind::Blocks => BLOCK_STATUS,
            RingKind::Frames => 0,
        };
        // The release orders our reads of its frames before the kernel
        // may overwrite them.
        self.word(self.block, status)
            .store(TP_STATUS_KERNEL, Ordering::Release);
        self.held = false;
        self.left = 0;
        self.block = (self.block + 1) % self.block_nr;
    }

    /// Waits at most `timeout` for the next frame. `Ok(None)` when none
    /// came in time, or when a signal interrupted the wait.
    pub fn recv(&mut self, timeout: Duration) -> io::Result<Option<Received<'_>>> {
        let deadline = Instant::now() + timeout;
        loop {
            while self.left > 0 {
                if let Some(f) = self.take_frame()? {
                    return Ok(Some(self.frame_at(f)));
                }
            }
            if self.held {
                self.release_block();
            }
            if self.take_block() {
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.wait(left)? {
                return Ok(None);
            }
        }
    }

    /// Moves past the next frame of the held block: where it lies, or
    /// `None` for a frame the kernel clamped (counted, skipped).
    fn take_frame(&mut self) -> io::Result<Option<Frame>> {
        let at = self.next;
        // tpacket3_hdr: next_offset, sec, nsec, snaplen, len, status, mac;
        // tpacket2_hdr: status, len, snaplen, mac, net, sec, nsec.
        let (next_offset, sec, nsec, snaplen, len, status, mac) = match self.kind {
            RingKind::Blocks => (
                self.read_u32(at) as usize,
                self.read_u32(at + 4),
                self.read_u32(at + 8),
                self.read_u32(at + 12) as usize,
                self.read_u32(at + 16) as usize,
                self.read_u32(at + 20),
                usize::from(self.read_u16(at + 24)),
            ),
            RingKind::Frames => (
                0,
                self.read_u32(at + 16),
                self.read_u32(at + 20),
                self.read_u32(at + 8) as usize,
                self.read_u32(at + 4) as usize,
                self.read_u32(at),
                usize::from(self.read_u16(at + 12)),
            ),
        };
        self.left -= 1;
        self.next = at + next_offset;
        let whole = Frame {
            copied: false,
            start: at + mac,
            len: snaplen,
            status,
            sec,
            nsec,
        };
        if self.kind == RingKind::Frames && status & TP_STATUS_COPY != 0 {
            // Too large for its slot: the whole frame waits on the socket.
            return Ok(self.read_copy(len)?.map(|n| Frame {
                copied: true,
                start: 0,
                len: n,
                ..whole
            }));
        }
        if snaplen < len || at + mac + snaplen > self.unit() {
            self.truncated += 1;
            return Ok(None);
        }
        Ok(Some(whole))
    }

    /// Reads the frame the kernel queued on the socket because its slot
    /// was too small: its length, or `None` (counted as truncated) when
    /// it is not the `len` bytes the slot announced.
    fn read_copy(&mut self, len: usize) -> io::Result<Option<usize>> {
        self.copy.resize(COPY_BUFFER, 0);
        // SAFETY: recv into a buffer we own, of the length passed.
        let n = unsafe {
            libc::recv(
                self.fd(),
                self.copy.as_mut_ptr().cast(),
                self.copy.len(),
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::WouldBlock {
                self.truncated += 1;
                return Ok(None);
            }
            return Err(err);
        }
        let n = n as usize;
        if n != len || n > self.copy.len() {
            self.truncated += 1;
            return Ok(None);
        }
        Ok(Some(n))
    }

    fn frame_at(&self, f: Frame) -> Received<'_> {
        let Frame {
            copied,
            start,
            len,
            status,
            sec,
            nsec,
        } = f;
        let checksum = if status & TP_STATUS_CSUMNOTREADY != 0 {
            RxChecksum::Partial
        } else if status & TP_STATUS_CSUM_VALID != 0 {
            RxChecksum::Valid
        } else {
            RxChecksum::Unknown
        };
        let stamped = status & (TP_STATUS_TS_SOFTWARE | TP_STATUS_TS_RAW_HARDWARE) != 0;
        let stamp = (self.stamps && (stamped || self.header_times))
            .then(|| SystemTime::UNIX_EPOCH + Duration::new(u64::from(sec), nsec));
        let frame = if copied {
            &self.copy[..len]
        } else {
            // SAFETY: start..start+len lies inside the held block (checked
            // in take_frame), which stays ours while the frame is
            // borrowed: the block is handed back only by a later
            // `&mut self` call.
            unsafe { std::slice::from_raw_parts(self.block_ptr(self.block).add(start), len) }
        };
        Received {
            frame,
            checksum,
            stamp,
        }
    }

    /// One `ppoll` for a block: whether one may be ready, `false` when
    /// `timeout` passed or a signal came.
    fn wait(&self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: one valid pollfd, a valid timespec, no signal mask change.
        let rc = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(err)
            };
        }
        if rc > 0 && pfd.revents & libc::POLLERR != 0 {
            if let Some(err) = crate::sys::pending_error(self.fd())? {
                return Err(io::Error::new(
                    err.kind(),
                    format!("the interface went away ({err})"),
                ));
            }
        }
        Ok(rc > 0)
    }
}

/// Where a frame lies: in the held block, or in the copy buffer.
#[derive(Debug, Clone, Copy)]
struct Frame {
    copied: bool,
    start: usize,
    len: usize,
    status: u32,
    sec: u32,
    nsec: u32,
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what open() mapped; the socket closes after.
        unsafe { libc::munmap(self.map.as_ptr().cast(), self.map_len) };
    }
}
