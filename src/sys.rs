//! The few raw system calls several edges share, each wrapped once.

use std::io;
use std::os::fd::RawFd;

/// `setsockopt(2)` with a typed value.
pub fn setsockopt<T>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to a live T of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Which of a socket's buffers [`grow_buffer`] sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buffer {
    Receive,
    Send,
}

/// Asks for a socket buffer of `bytes`: past the `rmem_max`/`wmem_max`
/// caps where the process may (`SO_*BUFFORCE` needs CAP_NET_ADMIN),
/// within them otherwise.
pub fn grow_buffer(fd: RawFd, which: Buffer, bytes: libc::c_int) -> io::Result<()> {
    let (plain, force) = match which {
        Buffer::Receive => (libc::SO_RCVBUF, libc::SO_RCVBUFFORCE),
        Buffer::Send => (libc::SO_SNDBUF, libc::SO_SNDBUFFORCE),
    };
    setsockopt(fd, libc::SOL_SOCKET, force, &bytes)
        .or_else(|_| setsockopt(fd, libc::SOL_SOCKET, plain, &bytes))
}
