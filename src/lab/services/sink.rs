//! A sink that holds many connections without a descriptor each: a
//! listener with a large backlog that never accepts. The kernel completes
//! every handshake and keeps the connection established in the accept
//! queue, answering keepalives and taking data into its receive buffer,
//! while this process holds one descriptor in all. That is what a load
//! test's far side needs on a machine where a process may hold at most
//! 20,000 open files and `CAP_SYS_RESOURCE` is not available to raise it.
//!
//! The queue is bounded by the kernel's `net.core.somaxconn` (and the
//! half-open one by `net.ipv4.tcp_max_syn_backlog`); both belong to the
//! network namespace, so [`raise_backlog_limits`] raises them inside the
//! lab without touching the host's.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Where the namespace's bounds live.
const SOMAXCONN: &str = "/proc/sys/net/core/somaxconn";
const SYN_BACKLOG: &str = "/proc/sys/net/ipv4/tcp_max_syn_backlog";

/// Raises the accept and half-open queue bounds of the calling thread's
/// network namespace to at least `backlog` (root inside the namespace
/// may).
pub fn raise_backlog_limits(backlog: u32) -> io::Result<()> {
    for path in [SOMAXCONN, SYN_BACKLOG] {
        let now: u32 = std::fs::read_to_string(path)?.trim().parse().unwrap_or(0);
        if now < backlog {
            std::fs::write(path, backlog.to_string())?;
        }
    }
    Ok(())
}

/// A listener that never accepts.
#[derive(Debug)]
pub struct Sink {
    fd: OwnedFd,
    local: SocketAddrV4,
}

impl Sink {
    /// Listens on `ip:port` (port 0: any) with room for `backlog`
    /// connections in the accept queue (the kernel caps it at
    /// `somaxconn`).
    pub fn bind(ip: Ipv4Addr, port: u16, backlog: u32) -> io::Result<Sink> {
        // SAFETY: plain system calls on a descriptor owned from here on.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let one: libc::c_int = 1;
        // SAFETY: `one` outlives the call; the length is its size.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_REUSEADDR,
                (&raw const one).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: an all-zero sockaddr_in is valid; the fields are set next.
        let mut sa: libc::sockaddr_in = unsafe { zeroed() };
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_port = port.to_be();
        sa.sin_addr.s_addr = u32::from(ip).to_be();
        let len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: `sa` is a valid sockaddr_in of `len` bytes.
        if unsafe { libc::bind(fd.as_raw_fd(), (&raw const sa).cast(), len) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let backlog = libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX);
        // SAFETY: a bound stream socket.
        if unsafe { libc::listen(fd.as_raw_fd(), backlog) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut got: libc::sockaddr_in = sa;
        let mut got_len = len;
        // SAFETY: `got` has room for `got_len` bytes.
        if unsafe { libc::getsockname(fd.as_raw_fd(), (&raw mut got).cast(), &raw mut got_len) } < 0
        {
            return Err(io::Error::last_os_error());
        }
        let local = SocketAddrV4::new(ip, u16::from_be(got.sin_port));
        Ok(Sink { fd, local })
    }

    pub fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }

    /// Established connections waiting in the accept queue, and the
    /// queue's bound, as the kernel counts them (for a listener, TCP_INFO
    /// reports them as `tcpi_unacked` and `tcpi_sacked`).
    pub fn held(&self) -> io::Result<(u32, u32)> {
        // SAFETY: an all-zero tcp_info is valid; the kernel fills it.
        let mut info: libc::tcp_info = unsafe { zeroed() };
        let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: `info` has room for `len` bytes.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&raw mut info).cast(),
                &raw mut len,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((info.tcpi_unacked, info.tcpi_sacked))
    }
}
