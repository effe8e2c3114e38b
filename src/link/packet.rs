//! The AF_PACKET link, through pnet's datalink channel.
//!
//! nettool opens the socket itself and hands it to pnet (`Config::socket_fd`)
//! because pnet's defaults are wrong for a protocol engine:
//!
//! - the socket is created with protocol 0, so it receives nothing until
//!   pnet binds it; the BPF filter and options below are therefore in place
//!   before the first frame can be queued;
//! - `PACKET_IGNORE_OUTGOING`: an `ETH_P_ALL` socket would otherwise read
//!   back every frame it sends;
//! - no promiscuous mode: nettool only wants what is addressed to it;
//! - `PACKET_AUXDATA`: the kernel says per frame whether its checksum was
//!   left unfinished (checksum offload on veth and loopback) or already
//!   verified. pnet's receiver reads with `recvfrom` and drops that
//!   ancillary data, so frames are read here with `recvmsg` on the same
//!   socket; pnet binds the socket; frames are sent with `sendmsg`,
//!   without the `poll` pnet makes before every send;
//! - pnet's read timeout is fixed when the channel opens, so each wait is
//!   a `ppoll` of its own, whose deadline changes from call to call;
//! - a 64 KiB + read buffer instead of 4 KiB, so offload super-frames are
//!   never truncated (and a truncation would be reported, not hidden);
//! - on request, kernel timestamps: when each frame arrived, and when each
//!   frame sent left ([`PacketLink::enable_tx_timestamps`]), read from the
//!   socket's error queue, which is kept empty (see `packet/tstamp.rs`).

mod tstamp;

use std::io;

use crate::sys::{Buffer, getsockopt, grow_buffer, pending_error, setsockopt};
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::time::Duration;

use pnet::datalink::{self, Channel, DataLinkSender, NetworkInterface};

use super::ring::TxRing;
use super::rxring::{RingKind, RxRing};
use super::{Filter, Link, Received, RxChecksum};
pub use tstamp::Departure;
use tstamp::TxStamps;

const PACKET_AUXDATA: libc::c_int = 8;
const PACKET_ADD_MEMBERSHIP: libc::c_int = 1;
const PACKET_MR_MULTICAST: libc::c_int = 0;
const PACKET_VNET_HDR: libc::c_int = 15;
/// `struct virtio_net_hdr`: 10 bytes in front of every frame on a socket
/// with `PACKET_VNET_HDR`.
const VNET_HDR_LEN: usize = 10;
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_F_DATA_VALID: u8 = 2;
const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV6: u8 = 4;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const TP_STATUS_CSUMNOTREADY: u32 = 1 << 3;
const TP_STATUS_CSUM_VALID: u32 = 1 << 7;
/// Largest GSO/GRO frame the kernel hands over, plus headers.
const READ_BUFFER: usize = 65536 + 256;
const ETH_LEN: usize = 14;

/// Why the link could not be opened; each says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "opening a raw socket needs CAP_NET_RAW: run nettool as root (sudo nettool …), \
         or grant the capability once: sudo setcap cap_net_raw,cap_net_admin+ep \"$(command -v nettool)\""
    )]
    Permission,
    #[error("interface {0} has gone away")]
    NoInterface(String),
    #[error("opening AF_PACKET channel on {iface}: {source}")]
    Io { iface: String, source: io::Error },
}

impl OpenError {
    /// Why a raw socket for `iface` could not be opened: a missing
    /// privilege, said with its fix, or whatever else the kernel said.
    pub fn opening(iface: &str, err: io::Error) -> OpenError {
        match err.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => OpenError::Permission,
            _ => OpenError::Io {
                iface: iface.to_owned(),
                source: err,
            },
        }
    }
}

/// An AF_PACKET socket bound to one interface.
pub struct PacketLink {
    fd: RawFd,
    /// pnet's sender, which owns the socket (closing it when dropped);
    /// frames are sent with [`send_frame`] on `fd`, not through it.
    _tx: Box<dyn DataLinkSender>,
    buf: Vec<u8>,
    /// Frames carry a `virtio_net_hdr` both ways (see [`PacketLink::open_offloading`]).
    vnet: bool,
    /// Frames larger than the read buffer (never expected; counted so a
    /// truncation is visible rather than silently corrupting a segment).
    pub truncated: u64,
    /// The kernel's receive timestamp of the last frame read, when asked
    /// for with [`PacketLink::enable_rx_timestamps`].
    /// Frames go out through a transmit ring (see [`PacketLink::enable_tx_ring`]).
    ring: Option<TxRing>,
    /// Transmit stamps, once [`PacketLink::enable_tx_timestamps`] asked for them.
    tx_stamps: Option<TxStamps>,
    /// What the socket lets through, which a receive ring's socket takes over.
    filter: Filter,
    /// Frames arrive through a receive ring (see [`PacketLink::enable_rx_ring`]).
    rx_ring: Option<RxRing>,
    /// Frames the link's own socket had queued when the ring took over,
    /// handed over before the ring's.
    backlog: std::collections::VecDeque<Backlogged>,
    /// Frames are stamped on arrival ([`PacketLink::enable_rx_timestamps`]).
    rx_stamps: bool,
}

/// A frame read off the link's own socket as the receive ring took over.
struct Backlogged {
    frame: Vec<u8>,
    checksum: RxChecksum,
    stamp: Option<std::time::SystemTime>,
}

impl PacketLink {
    /// Opens a link on the interface with kernel index `ifindex`.
    pub fn open(ifindex: u32, filter: Filter) -> Result<PacketLink, OpenError> {
        PacketLink::open_with(ifindex, filter, false)
    }

    /// Receives frames to the multicast group at `mac` on interface
    /// `ifindex` (an IPv6 solicited-node group of an address the kernel
    /// does not own: a NIC filters multicast it was not told of), for as
    /// long as the socket lives. The kernel counts the memberships of
    /// every socket, so this leaves the host's own groups alone.
    pub fn join_multicast(&self, ifindex: u32, mac: [u8; 6]) -> io::Result<()> {
        let mut address = [0u8; 8];
        address[..6].copy_from_slice(&mac);
        let mreq = libc::packet_mreq {
            mr_ifindex: ifindex as libc::c_int,
            mr_type: PACKET_MR_MULTICAST as libc::c_ushort,
            mr_alen: 6,
            mr_address: address,
        };
        setsockopt(self.fd, libc::SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq)
    }

    /// [`PacketLink::join_multicast`] of several groups on a socket of
    /// its own that reads nothing (protocol 0: the kernel hands it no
    /// frame), for a run that learns the groups it needs after its link
    /// is open and privileges are given up (`nettool load --sources`
    /// over IPv6). The memberships last as long as what is returned.
    pub fn memberships(
        ifindex: u32,
        macs: impl IntoIterator<Item = [u8; 6]>,
    ) -> io::Result<std::os::fd::OwnedFd> {
        let socket = crate::sys::socket(libc::AF_PACKET, libc::SOCK_RAW, 0)?;
        for mac in macs {
            let mut address = [0u8; 8];
            address[..6].copy_from_slice(&mac);
            let mreq = libc::packet_mreq {
                mr_ifindex: ifindex as libc::c_int,
                mr_type: PACKET_MR_MULTICAST as libc::c_ushort,
                mr_alen: 6,
                mr_address: address,
            };
            setsockopt(
                socket.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_ADD_MEMBERSHIP,
                &mreq,
            )?;
        }
        Ok(socket)
    }

    /// Opens a link that can also send TCP super-frames for the kernel to
    /// segment ([`Link::send_segmented`]), through `PACKET_VNET_HDR`: every
    /// frame then travels behind a `virtio_net_hdr`, which also says,
    /// frame by frame, whether a received checksum is partial or verified.
    pub fn open_offloading(ifindex: u32, filter: Filter) -> Result<PacketLink, OpenError> {
        PacketLink::open_with(ifindex, filter, true)
    }

    fn open_with(ifindex: u32, filter: Filter, vnet: bool) -> Result<PacketLink, OpenError> {
        let iface: NetworkInterface = datalink::interfaces()
            .into_iter()
            .find(|i| i.index == ifindex)
            .ok_or_else(|| OpenError::NoInterface(format!("#{ifindex}")))?;
        let io_err = |source: io::Error| OpenError::Io {
            iface: iface.name.clone(),
            source,
        };
        let socket = crate::sys::socket(libc::AF_PACKET, libc::SOCK_RAW, 0)
            .map_err(|e| OpenError::opening(&iface.name, e))?;
        configure(socket.as_raw_fd(), filter, vnet).map_err(io_err)?;
        // pnet owns it from here.
        let fd = socket.into_raw_fd();
        let config = datalink::Config {
            read_buffer_size: READ_BUFFER,
            write_buffer_size: READ_BUFFER,
            read_timeout: Some(Duration::ZERO),
            promiscuous: false,
            socket_fd: Some(fd),
            ..Default::default()
        };
        // pnet closes the fd itself if binding fails.
        match datalink::channel(&iface, config) {
            // The receiver half is not used (see the module docs); the
            // socket stays open through the sender's handle.
            Ok(Channel::Ethernet(tx, _rx)) => Ok(PacketLink {
                fd,
                _tx: tx,
                buf: vec![0; READ_BUFFER],
                vnet,
                ring: None,
                tx_stamps: None,
                truncated: 0,
                filter,
                rx_ring: None,
                backlog: std::collections::VecDeque::new(),
                rx_stamps: false,
            }),
            Ok(_) => Err(io_err(io::Error::other(
                "pnet returned a non-Ethernet channel",
            ))),
            Err(e) => Err(OpenError::opening(&iface.name, e)),
        }
    }
}

fn configure(fd: RawFd, filter: Filter, vnet: bool) -> io::Result<()> {
    let on: libc::c_int = 1;
    if vnet {
        setsockopt(fd, libc::SOL_PACKET, PACKET_VNET_HDR, &on)?;
    }
    setsockopt(fd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, &on)?;
    setsockopt(fd, libc::SOL_PACKET, PACKET_AUXDATA, &on)?;
    // No PACKET_QDISC_BYPASS: it would also skip the taps that hand every
    // other packet socket a copy, and tcpdump would no longer see what
    // nettool sends. Being checkable by a capture is the point of nettool.
    let Some(code) = bpf_program(filter) else {
        return Ok(());
    };
    let prog = libc::sock_fprog {
        len: code.len() as u16,
        filter: code.as_ptr() as *mut libc::sock_filter,
    };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
}

/// One classic BPF instruction.
const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// A classic BPF program on the EtherType: accept ARP (and IPv4 or IPv6 when
/// asked), drop the rest. The accept length, 256 KiB, exceeds any frame.
pub(super) fn bpf_program(filter: Filter) -> Option<Vec<libc::sock_filter>> {
    const LDH_ABS: u16 = 0x28; // A = half-word at offset k
    const JEQ_K: u16 = 0x15; // if A == k goto jt else jf
    const RET_K: u16 = 0x06; // return k bytes
    let second = match filter {
        Filter::All => return None,
        Filter::Arp => 0x0806,
        Filter::ArpIpv4 => 0x0800,
        Filter::ArpIpv6 => 0x86dd,
    };
    Some(vec![
        insn(LDH_ABS, 0, 0, 12),
        insn(JEQ_K, 1, 0, 0x0806),
        insn(JEQ_K, 0, 1, second),
        insn(RET_K, 0, 0, 0x4_0000),
        insn(RET_K, 0, 0, 0),
    ])
}

impl Link for PacketLink {
    fn rx_pending(&self) -> usize {
        self.backlog.len() + self.rx_ring.as_ref().map_or(0, RxRing::pending)
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.rx_ring.as_ref().map_or(self.fd, RxRing::fd))
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        if let Some(ring) = &mut self.ring {
            // Never stamped: the two are not enabled together.
            ring.push(frame)?;
            return ring.flush();
        }
        let sent = if self.vnet {
            // An all-zero header: no offload asked for this frame.
            self.send_behind_header([0; VNET_HDR_LEN], frame)
        } else {
            send_frame(self.fd, &[frame])
        };
        self.count_send(sent)
    }

    /// One `sendmmsg` for the lot, where neither a transmit ring nor
    /// transmit stamps (counted frame by frame) are in the way.
    fn send_batch(&mut self, frames: &[&[u8]]) -> io::Result<usize> {
        if frames.len() == 1 || self.ring.is_some() || self.tx_stamps.is_some() {
            return self.send(frames[0]).map(|()| 1);
        }
        // An all-zero header: no offload asked for these frames.
        let hdr = [0u8; VNET_HDR_LEN];
        send_frames(self.fd, self.vnet.then_some(&hdr[..]), frames)
    }

    fn receive_drops(&mut self) -> Option<u64> {
        if let Some(ring) = &self.rx_ring {
            return ring.drops().ok();
        }
        let mut stats = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        // PACKET_STATISTICS also resets the kernel's counts.
        getsockopt(
            self.fd,
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            &mut stats,
        )
        .ok()?;
        Some(u64::from(stats.tp_drops))
    }

    fn can_segment(&self) -> bool {
        self.vnet && self.ring.is_none()
    }

    fn enable_rx_stamps(&mut self) -> io::Result<()> {
        self.enable_rx_timestamps()
    }

    fn tx_stamp(&mut self) -> Option<std::time::SystemTime> {
        // Stamps are read off the error queue; failing to read them only
        // costs the stamp.
        self.tx_timestamp().ok().flatten()?.as_captured()
    }

    fn has_ring(&self) -> bool {
        PacketLink::has_ring(self)
    }

    fn queue(&mut self, frame: &[u8]) -> io::Result<()> {
        PacketLink::queue(self, frame)
    }

    fn wait_queue_room(&mut self) -> io::Result<()> {
        PacketLink::wait_queue_room(self)
    }

    fn discard_queued(&mut self) -> usize {
        PacketLink::discard_queued(self)
    }

    fn flush(&mut self) -> io::Result<()> {
        PacketLink::flush(self)
    }

    fn send_segmented(&mut self, frame: &[u8], mss: u16) -> io::Result<()> {
        if !self.can_segment() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "opened without PACKET_VNET_HDR, or sending through a ring",
            ));
        }
        let ip_start = ETH_LEN;
        // IPv4's header says its length; nettool's IPv6 packets carry no
        // extension headers, so TCP follows the fixed 40 bytes.
        let ipv6 = frame.get(12..14) == Some(&[0x86, 0xdd][..]);
        let (ihl, gso) = if ipv6 {
            (40, VIRTIO_NET_HDR_GSO_TCPV6)
        } else {
            let ihl = usize::from(frame.get(ip_start).copied().unwrap_or(0) & 0x0f) * 4;
            (ihl, VIRTIO_NET_HDR_GSO_TCPV4)
        };
        let tcp_start = ip_start + ihl;
        let doff = usize::from(frame.get(tcp_start + 12).copied().unwrap_or(0) >> 4) * 4;
        if ihl < 20 || doff < 20 || frame.len() < tcp_start + doff {
            return Err(io::Error::other("not a TCP/IPv4 or TCP/IPv6 frame"));
        }
        // virtio_net_hdr, little-endian fields (PACKET_VNET_HDR uses the
        // legacy layout in the host's byte order; every Linux host nettool
        // runs on is little-endian, and the kernel reads it with vio_le()).
        let mut hdr = [0u8; VNET_HDR_LEN];
        hdr[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        hdr[1] = gso;
        hdr[2..4].copy_from_slice(&((tcp_start + doff) as u16).to_le_bytes()); // hdr_len
        hdr[4..6].copy_from_slice(&mss.to_le_bytes()); // gso_size
        hdr[6..8].copy_from_slice(&(tcp_start as u16).to_le_bytes()); // csum_start
        hdr[8..10].copy_from_slice(&16u16.to_le_bytes()); // csum_offset: TCP checksum field
        let sent = self.send_behind_header(hdr, frame);
        self.count_send(sent)
    }

    fn recv(&mut self, timeout: Duration) -> io::Result<Option<Received<'_>>> {
        if self.rx_ring.is_some() {
            return self.recv_ring(timeout);
        }
        if timeout.is_zero() && self.tx_stamps.is_none() {
            // Nothing to wait for: one non-blocking read is cheaper than
            // a poll and a read (a flood checks for answers this way
            // between every batch).
            return self.read_one();
        }
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Some(revents) = self.wait(left)? else {
                return Ok(None);
            };
            let stamps = if revents & libc::POLLERR != 0 {
                self.read_errors()?
            } else {
                0
            };
            if revents & libc::POLLIN != 0 {
                return self.read_one();
            }
            if stamps == 0 {
                return Err(io::Error::other(
                    "the interface went away (poll reported an error)",
                ));
            }
            // Only stamps were waiting: wait on for a frame.
        }
    }
}

impl PacketLink {
    /// Receives from now on through a `PACKET_RX_RING` of `kind` and
    /// about `bytes` on a socket of its own, frames read in place, many
    /// per wake-up (see [`super::rxring`]); this socket's filter then
    /// drops everything. Frames it had queued already are read first, so
    /// none is lost; one arriving in the instant both sockets take frames
    /// is read twice, which a protocol takes as the duplicate the network
    /// may always deliver. The ring's socket is opened in the calling
    /// thread's network namespace, which must be the link's.
    pub fn enable_rx_ring(&mut self, kind: RingKind, bytes: usize) -> io::Result<()> {
        if self.rx_ring.is_some() {
            return Ok(());
        }
        let index = self.ifindex()?;
        let mut ring = RxRing::open(index, bpf_program(self.filter).as_deref(), kind, bytes)?;
        if self.rx_stamps {
            ring.enable_timestamps()?;
        }
        let none = [insn(0x06, 0, 0, 0)];
        let prog = libc::sock_fprog {
            len: 1,
            filter: none.as_ptr() as *mut libc::sock_filter,
        };
        setsockopt(self.fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)?;
        while let Some(rx) = self.read_one()? {
            let frame = Backlogged {
                frame: rx.frame.to_vec(),
                checksum: rx.checksum,
                stamp: rx.stamp,
            };
            self.backlog.push_back(frame);
        }
        // What the old socket dropped is counted no more.
        let _ = self.receive_drops();
        self.rx_ring = Some(ring);
        Ok(())
    }

    /// Whether frames arrive through a receive ring.
    pub fn has_rx_ring(&self) -> bool {
        self.rx_ring.is_some()
    }

    /// Frames the receive ring skipped because the kernel had clamped
    /// them to a block (never expected).
    pub fn ring_truncated(&self) -> u64 {
        self.rx_ring.as_ref().map_or(0, |r| r.truncated)
    }

    fn recv_ring(&mut self, timeout: Duration) -> io::Result<Option<Received<'_>>> {
        if let Some(b) = self.backlog.pop_front() {
            self.buf.clear();
            self.buf.extend_from_slice(&b.frame);
            return Ok(Some(Received {
                frame: &self.buf,
                checksum: b.checksum,
                stamp: b.stamp,
            }));
        }
        let ring = self.rx_ring.as_mut().expect("called with a ring");
        ring.recv(timeout)
    }

    /// The interface the socket is bound to.
    fn ifindex(&self) -> io::Result<u32> {
        // SAFETY: sockaddr_ll is plain data.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: getsockname into a sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::getsockname(
                self.fd,
                (&mut addr as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(addr.sll_ifindex as u32)
    }

    /// Sends from now on through a `PACKET_TX_RING` of `slots` frames of
    /// up to `max_frame` bytes each, so that [`PacketLink::queue`] and one
    /// [`PacketLink::flush`] send many frames per system call (see
    /// [`super::ring`]). Cheapest on a link opened with
    /// [`PacketLink::open_offloading`]. [`Link::send_segmented`] is not
    /// available through a ring.
    pub fn enable_tx_ring(&mut self, max_frame: usize, slots: usize) -> io::Result<()> {
        if self.tx_stamps.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a send ring on a link with transmit stamps (frames would go unstamped)",
            ));
        }
        if self.ring.is_none() {
            self.ring = Some(TxRing::new(self.fd, max_frame, slots, self.vnet)?);
        }
        Ok(())
    }

    /// Room for `bytes` of frames waiting to be read (`SO_RCVBUF`, past
    /// the system's cap where the process may): frames that arrive in
    /// bursts faster than they are read are otherwise dropped.
    pub fn grow_receive_buffer(&mut self, bytes: usize) -> io::Result<()> {
        let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        grow_buffer(self.fd, Buffer::Receive, bytes)
    }

    /// Queues a frame to leave at the next [`PacketLink::flush`] (at once
    /// without a ring).
    pub fn queue(&mut self, frame: &[u8]) -> io::Result<()> {
        match &mut self.ring {
            Some(ring) => ring.push(frame),
            None => self.send(frame),
        }
    }

    /// Waits until [`PacketLink::queue`] can take a frame without waiting
    /// (at once without a ring). `Interrupted` when a signal came first.
    pub fn wait_queue_room(&mut self) -> io::Result<()> {
        match &mut self.ring {
            Some(ring) => ring.wait_for_slot(),
            None => Ok(()),
        }
    }

    /// Whether frames go out through a send ring.
    pub fn has_ring(&self) -> bool {
        self.ring.is_some()
    }

    /// Takes back the frames queued and not yet sent; how many.
    pub fn discard_queued(&mut self) -> usize {
        self.ring.as_mut().map_or(0, TxRing::discard_queued)
    }

    /// Sends what [`PacketLink::queue`] queued.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.ring {
            Some(ring) => ring.flush(),
            None => Ok(()),
        }
    }

    /// Asks the kernel to stamp every received frame (`SO_TIMESTAMPNS`):
    /// the moment the frame reached the interface's taps, where tcpdump
    /// stamps its copy, on `CLOCK_REALTIME`. Usually the stamps are the
    /// same to the nanosecond; a frame from a kernel peer's TCP is stamped
    /// by each tap in turn, tcpdump's a little after nettool's (0.7 µs
    /// typical on veth, Linux 6.18). Each received frame carries it
    /// ([`Received::stamp`]).
    pub fn enable_rx_timestamps(&mut self) -> io::Result<()> {
        let on: libc::c_int = 1;
        setsockopt(self.fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &on)?;
        if let Some(ring) = &mut self.rx_ring {
            ring.enable_timestamps()?;
        }
        self.rx_stamps = true;
        Ok(())
    }

    fn send_behind_header(&mut self, hdr: [u8; VNET_HDR_LEN], frame: &[u8]) -> io::Result<()> {
        send_frame(self.fd, &[&hdr, frame])
    }

    /// Reads one frame, with its auxdata, without waiting.
    fn read_one(&mut self) -> io::Result<Option<Received<'_>>> {
        let mut control = [0u8; tstamp::CONTROL_LEN];
        let Some((n, control_len)) = recvmsg(self.fd, &mut self.buf, &mut control, 0)? else {
            return Ok(None);
        };
        let mut len = n;
        if len > self.buf.len() {
            self.truncated += 1;
            len = self.buf.len();
        }
        let info = tstamp::rx_info(&control[..control_len]);
        let mut checksum = match info.status {
            Some(s) if s & TP_STATUS_CSUMNOTREADY != 0 => RxChecksum::Partial,
            Some(s) if s & TP_STATUS_CSUM_VALID != 0 => RxChecksum::Valid,
            _ => RxChecksum::Unknown,
        };
        let mut start = 0;
        if self.vnet {
            // The frame travels behind a virtio_net_hdr, whose flags say
            // the same as the auxdata (and count when it says nothing).
            let Some(&flags) = self.buf.first().filter(|_| len >= VNET_HDR_LEN) else {
                return Ok(None);
            };
            if checksum == RxChecksum::Unknown {
                if flags & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 {
                    checksum = RxChecksum::Partial;
                } else if flags & VIRTIO_NET_HDR_F_DATA_VALID != 0 {
                    checksum = RxChecksum::Valid;
                }
            }
            start = VNET_HDR_LEN;
        }
        Ok(Some(Received {
            frame: &self.buf[start..len],
            checksum,
            stamp: info.stamp,
        }))
    }

    /// Asks the kernel to stamp every frame sent (`SO_TIMESTAMPING`): as
    /// it enters the device layer, just before the taps that hand tcpdump
    /// its copy, and when the driver takes it, if the driver stamps (veth
    /// does). Read the stamps of the last frame sent with
    /// [`PacketLink::tx_timestamp`]. Costs a `recvmsg` or two per frame:
    /// not for a flood.
    pub fn enable_tx_timestamps(&mut self) -> io::Result<()> {
        if self.ring.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "transmit stamps on a link sending through a ring",
            ));
        }
        let flags = tstamp::TX_FLAGS as libc::c_int;
        setsockopt(self.fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPING, &flags).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("this kernel does not stamp transmitted frames (SO_TIMESTAMPING: {e})"),
            )
        })?;
        self.tx_stamps = Some(TxStamps::default());
        Ok(())
    }

    /// When the last frame sent left, as the kernel stamped it. `None`
    /// when stamps are off or the kernel has reported none for that frame
    /// yet (the device layer's stamp is taken inside the send, so it is
    /// there when the send returns; a driver's can come later, behind a
    /// queue). A stamp that comes after the next send is dropped, never
    /// taken for another frame's.
    pub fn tx_timestamp(&mut self) -> io::Result<Option<Departure>> {
        if self.tx_stamps.is_none() {
            return Ok(None);
        }
        self.drain_error_queue()?;
        Ok(self.tx_stamps.as_ref().and_then(TxStamps::last))
    }

    /// Counts a frame handed to the kernel, so that its stamps are known
    /// by their number.
    fn count_send(&mut self, sent: io::Result<()>) -> io::Result<()> {
        let Some(stamps) = &mut self.tx_stamps else {
            return sent;
        };
        match sent {
            Ok(()) => stamps.sent(),
            // A failed send may or may not have used up a number (the
            // kernel numbers a frame before its queue can refuse it): count
            // again from 0. If even that fails, stamps are off: a send time
            // read from the clock is better than another frame's stamp.
            Err(_) => {
                if self.rearm_tx_timestamps().is_err() {
                    let off: libc::c_int = 0;
                    let _ = setsockopt(self.fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPING, &off);
                    self.tx_stamps = None;
                }
            }
        }
        sent
    }

    /// Restarts the kernel's frame count at 0: it does so when `OPT_ID`
    /// is switched on anew. Stamps already queued carry the old numbers,
    /// so they are read and dropped.
    fn rearm_tx_timestamps(&mut self) -> io::Result<()> {
        let off = (tstamp::TX_FLAGS & !libc::SOF_TIMESTAMPING_OPT_ID) as libc::c_int;
        let on = tstamp::TX_FLAGS as libc::c_int;
        setsockopt(self.fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPING, &off)?;
        setsockopt(self.fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPING, &on)?;
        if let Some(s) = &mut self.tx_stamps {
            s.restart();
        }
        // With no frame counted since the restart, none of these is filed.
        self.drain_error_queue()?;
        Ok(())
    }

    /// One `ppoll` for a frame: the events, or `None` when `timeout`
    /// passed or a signal came.
    fn wait(&self, timeout: Duration) -> io::Result<Option<libc::c_short>> {
        let mut pfd = libc::pollfd {
            fd: self.fd,
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
                Ok(None)
            } else {
                Err(err)
            };
        }
        Ok((rc > 0).then_some(pfd.revents))
    }

    /// What `POLLERR` was about. It also means "the error queue is not
    /// empty", and a transmit stamp not read yet is no error: the queue is
    /// read away (how many messages, returned). Only a socket error proper
    /// (`ENETDOWN` when the interface goes down) is one.
    fn read_errors(&mut self) -> io::Result<usize> {
        let stamps = self.drain_error_queue()?;
        match self.socket_error()? {
            Some(err) => Err(io::Error::new(
                err.kind(),
                format!("the interface went away ({err})"),
            )),
            None => Ok(stamps),
        }
    }

    /// Reads every message on the socket's error queue, filing transmit
    /// stamps under the last frame sent. A message left there would make
    /// `poll` report `POLLERR` for ever. Returns how many were read.
    fn drain_error_queue(&mut self) -> io::Result<usize> {
        let mut read = 0;
        loop {
            // OPT_TSONLY: a report carries no copy of the frame.
            let mut data = [0u8; 64];
            let mut control = [0u8; tstamp::CONTROL_LEN];
            let n = recvmsg(self.fd, &mut data, &mut control, libc::MSG_ERRQUEUE)?;
            let Some((_, control_len)) = n else {
                return Ok(read);
            };
            read += 1;
            if let (Some(report), Some(stamps)) = (
                tstamp::tx_report(&control[..control_len]),
                &mut self.tx_stamps,
            ) {
                stamps.record(report);
            }
        }
    }

    /// The socket's pending error (`SO_ERROR`, which also clears it).
    fn socket_error(&self) -> io::Result<Option<io::Error>> {
        pending_error(self.fd)
    }
}

/// Sends one frame made of `parts` (a `virtio_net_hdr`, then the frame)
/// in one `sendmsg`, gathered by the kernel: no copy into a buffer of our
/// own, and no `poll` first, as pnet's sender makes before every frame (a
/// system call per frame for nothing: the socket almost always has room).
/// Only when it has none (`EAGAIN`: the socket is non-blocking) does it
/// wait for room, as pnet's did, and try again.
fn send_frame(fd: RawFd, parts: &[&[u8]]) -> io::Result<()> {
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; 2];
    assert!(parts.len() <= iov.len(), "a frame of at most two parts");
    for (v, part) in iov.iter_mut().zip(parts) {
        v.iov_base = part.as_ptr() as *mut libc::c_void;
        v.iov_len = part.len();
    }
    // SAFETY: msghdr is plain data; the iovecs point into `parts`, which
    // outlive the call, and the kernel only reads through them.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = parts.len() as _;
    loop {
        // SAFETY: a valid msghdr on our socket (bound to the interface,
        // so no address is needed).
        let n = unsafe { libc::sendmsg(fd, &msg, 0) };
        if n >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::WouldBlock {
            return Err(err);
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd. A signal ends the wait as an error
        // (`Interrupted`), which the driver takes as its cue to stop.
        if unsafe { libc::poll(&mut pfd, 1, -1) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
}

/// Most frames sent in one `sendmmsg`.
const SEND_BATCH: usize = 64;

/// Sends `frames` in order, each behind `hdr` when there is one, in one
/// `sendmmsg` (at most [`SEND_BATCH`] of them): how many left, at least
/// one, or the error the first met. Waits for room as [`send_frame`] does.
fn send_frames(fd: RawFd, hdr: Option<&[u8]>, frames: &[&[u8]]) -> io::Result<usize> {
    let frames = &frames[..frames.len().min(SEND_BATCH)];
    let iov = |b: &[u8]| libc::iovec {
        iov_base: b.as_ptr() as *mut libc::c_void,
        iov_len: b.len(),
    };
    let mut iovs: Vec<[libc::iovec; 2]> = frames
        .iter()
        .map(|f| match hdr {
            Some(h) => [iov(h), iov(f)],
            None => [iov(f), iov(&[])],
        })
        .collect();
    let parts = if hdr.is_some() { 2 } else { 1 };
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|v| {
            // SAFETY: msghdr is plain data.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = v.as_mut_ptr();
            msg.msg_iovlen = parts;
            libc::mmsghdr {
                msg_hdr: msg,
                msg_len: 0,
            }
        })
        .collect();
    loop {
        // SAFETY: `msgs` holds `msgs.len()` valid headers whose iovecs
        // point into `frames` and `hdr`, which outlive the call; the
        // kernel only reads through them (and writes `msg_len`).
        let n = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), msgs.len() as libc::c_uint, 0) };
        if n > 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if n == 0 || err.kind() != io::ErrorKind::WouldBlock {
            return Err(if n == 0 {
                io::Error::other("sendmmsg sent nothing")
            } else {
                err
            });
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd; a signal ends the wait as an error.
        if unsafe { libc::poll(&mut pfd, 1, -1) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
}

/// One non-blocking `recvmsg` into `data` and `control`: the bytes the
/// message had (more than `data` holds when it was cut short) and the
/// control bytes written, or `None` when nothing is queued.
fn recvmsg(
    fd: RawFd,
    data: &mut [u8],
    control: &mut [u8],
    flags: libc::c_int,
) -> io::Result<Option<(usize, usize)>> {
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; every pointer set below outlives the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = control.len() as _;
    // SAFETY: recvmsg into buffers we own, sized as declared.
    let n = unsafe { libc::recvmsg(fd, &mut msg, flags | libc::MSG_DONTWAIT | libc::MSG_TRUNC) };
    if n < 0 {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
            _ => Err(err),
        };
    }
    Ok(Some((n as usize, msg.msg_controllen as usize)))
}
