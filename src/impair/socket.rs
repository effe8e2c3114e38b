//! The relay's AF_PACKET sockets and the offload switches of its interfaces.
//!
//! The relay owns its sockets (it does not use `crate::link`): it needs
//! promiscuous mode (frames between the two ends carry their MACs, not the
//! relay's), no BPF filter, and big socket buffers, where the engine's link
//! wants the opposite; and a bug in one must not hide in the other.

use std::ffi::CString;
use std::io;

use crate::sys::{Buffer, grow_buffer, pending_error, setsockopt};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const PACKET_ADD_MEMBERSHIP: libc::c_int = 1;
const PACKET_MR_PROMISC: libc::c_int = 1;
const PACKET_AUXDATA: libc::c_int = 8;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const TP_STATUS_CSUMNOTREADY: u32 = 1 << 3;
const ETH_P_ALL: u16 = 0x0003;
/// Socket buffers: a few thousand full-size frames, so a burst from a
/// kernel sender is not dropped by the relay's own socket.
const SOCKET_BUFFER: libc::c_int = 8 << 20;
/// Larger than any frame, GSO super-frames included (so a truncation
/// shows up in the counters rather than as silent damage).
pub const READ_BUFFER: usize = 65536 + 256;

/// What went wrong with an interface; each names it.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("no interface {0} in this network namespace (see `ip link`)")]
    NoInterface(String),
    #[error(
        "opening a raw socket needs CAP_NET_RAW (and CAP_NET_ADMIN for promiscuous mode and offloads): run as root"
    )]
    Permission,
    #[error("{what} on {iface}: {err}")]
    Io {
        what: &'static str,
        iface: String,
        err: io::Error,
    },
}

/// One frame read: its length (possibly more than the buffer, when
/// truncated) and whether its TCP/UDP checksum was left unfinished.
#[derive(Debug, Clone, Copy)]
pub struct Read {
    pub len: usize,
    pub partial_checksum: bool,
}

/// An `ETH_P_ALL` AF_PACKET socket bound to one interface, promiscuous,
/// blind to its own transmissions.
pub struct PacketSocket {
    fd: OwnedFd,
    pub iface: String,
}

/// The kernel index of `iface` in this thread's namespace.
pub fn ifindex(iface: &str) -> Result<u32, SocketError> {
    let name = CString::new(iface).map_err(|_| SocketError::NoInterface(iface.into()))?;
    // SAFETY: a valid C string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(SocketError::NoInterface(iface.into()));
    }
    Ok(index)
}

impl PacketSocket {
    pub fn open(iface: &str) -> Result<PacketSocket, SocketError> {
        let index = ifindex(iface)?;
        let io_err = |what, err| SocketError::Io {
            what,
            iface: iface.into(),
            err,
        };
        // Protocol 0: nothing is queued before the socket is bound, with
        // every option below already in place.
        // SAFETY: plain socket(2); the result is checked.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            let err = io::Error::last_os_error();
            return Err(match err.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => SocketError::Permission,
                _ => io_err("socket", err),
            });
        }
        // SAFETY: a descriptor we just created and nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let on: libc::c_int = 1;
        setsockopt(raw, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, &on)
            .map_err(|e| io_err("PACKET_IGNORE_OUTGOING", e))?;
        setsockopt(raw, libc::SOL_PACKET, PACKET_AUXDATA, &on)
            .map_err(|e| io_err("PACKET_AUXDATA", e))?;
        for which in [Buffer::Receive, Buffer::Send] {
            grow_buffer(raw, which, SOCKET_BUFFER).map_err(|e| io_err("socket buffer size", e))?;
        }
        let mreq = libc::packet_mreq {
            mr_ifindex: index as libc::c_int,
            mr_type: PACKET_MR_PROMISC as libc::c_ushort,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        setsockopt(raw, libc::SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq)
            .map_err(|e| io_err("promiscuous mode", e))?;
        // SAFETY: sockaddr_ll is plain data.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = index as i32;
        // SAFETY: a sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(
                raw,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io_err("bind", io::Error::last_os_error()));
        }
        Ok(PacketSocket {
            fd,
            iface: iface.into(),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads one frame into `buf` without blocking; `None` when there is none.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Read>> {
        let mut control = [0u64; 8];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: msghdr is plain data; every pointer set below outlives the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        // SAFETY: recvmsg into buffers we own, sized as declared.
        let n = unsafe { libc::recvmsg(self.fd(), &mut msg, libc::MSG_DONTWAIT | libc::MSG_TRUNC) };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(err),
            };
        }
        let mut partial_checksum = false;
        // SAFETY: walking the control messages the kernel just wrote with
        // the libc macros, which bound every step by msg_controllen. The
        // status word is the first field of struct tpacket_auxdata.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_PACKET && (*cmsg).cmsg_type == PACKET_AUXDATA {
                    let status: u32 = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                    partial_checksum = status & TP_STATUS_CSUMNOTREADY != 0;
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        Ok(Some(Read {
            len: n as usize,
            partial_checksum,
        }))
    }

    /// Writes one frame (blocking while the send buffer is full).
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        loop {
            // SAFETY: a buffer of the length passed.
            let n = unsafe { libc::send(self.fd(), frame.as_ptr().cast(), frame.len(), 0) };
            if n >= 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    /// The error pending on the socket (`SO_ERROR`), e.g. `ENETDOWN` once
    /// the interface is gone; `None` when there is none (an error of 0
    /// would read "Success").
    pub fn take_error(&self) -> Option<io::Error> {
        pending_error(self.fd()).unwrap_or_else(Some)
    }
}

const SIOCETHTOOL: libc::c_ulong = 0x8946;
// The per-feature "set" commands of <linux/ethtool.h>.
const ETHTOOL_SRXCSUM: u32 = 0x15;
const ETHTOOL_STXCSUM: u32 = 0x17;
const ETHTOOL_STSO: u32 = 0x1f;
const ETHTOOL_SGSO: u32 = 0x24;
const ETHTOOL_SGRO: u32 = 0x2c;

#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

/// `ethtool -K IFACE rx off tx off tso off gso off gro off`, through the
/// `SIOCETHTOOL` ioctl, in the calling thread's namespace.
///
/// On a fault-injection wire these must be off: with TX checksum offload a
/// kernel sender leaves checksums unfinished, with RX checksum offload a
/// veth marks every frame as already verified (so a corrupted checksum is
/// never checked), and with TSO/GSO/GRO frames of up to 64 KiB travel as
/// one, so per-frame rates would apply to dozens of segments at once.
pub fn disable_offloads(iface: &str) -> Result<(), SocketError> {
    ifindex(iface)?;
    // SAFETY: plain socket(2); the result is checked and owned below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(SocketError::Io {
            what: "socket for ethtool",
            iface: iface.into(),
            err: io::Error::last_os_error(),
        });
    }
    // SAFETY: a descriptor we just created.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    for (cmd, what) in [
        (ETHTOOL_STXCSUM, "turning TX checksum offload off"),
        (ETHTOOL_SRXCSUM, "turning RX checksum offload off"),
        (ETHTOOL_STSO, "turning TSO off"),
        (ETHTOOL_SGSO, "turning GSO off"),
        (ETHTOOL_SGRO, "turning GRO off"),
    ] {
        let mut value = EthtoolValue { cmd, data: 0 };
        // SAFETY: ifreq is plain data.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in ifr.ifr_name.iter_mut().zip(iface.bytes().take(15)) {
            *dst = src as libc::c_char;
        }
        ifr.ifr_ifru.ifru_data = (&mut value as *mut EthtoolValue).cast();
        // SAFETY: SIOCETHTOOL with an ifreq whose data points to a live
        // ethtool_value, as the "set" commands expect.
        let rc = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL as _, &mut ifr) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EPERM) {
                return Err(SocketError::Permission);
            }
            return Err(SocketError::Io {
                what,
                iface: iface.into(),
                err,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket with nothing pending says so instead of "Success" (any
    /// socket will do for SO_ERROR: a loopback UDP one needs no root).
    #[test]
    fn no_pending_error_is_none() {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sock = PacketSocket {
            fd: OwnedFd::from(udp),
            iface: "lo".into(),
        };
        assert!(sock.take_error().is_none());
    }
}
