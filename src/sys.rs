//! The few raw system calls several edges share, each wrapped once.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use anyhow::{Context, Result, bail};

/// `socket(2)`, closed on exec and owned.
pub fn socket(
    domain: libc::c_int,
    kind: libc::c_int,
    protocol: libc::c_int,
) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the result is checked before use.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `ip:port` as the kernel's `sockaddr_in`.
pub fn sockaddr_in(ip: Ipv4Addr, port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// An IPv6 socket address for `ip` and `port` (no flow label, no scope).
pub fn sockaddr_in6(ip: Ipv6Addr, port: u16) -> libc::sockaddr_in6 {
    // SAFETY: an all-zero sockaddr_in6 is valid.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_port = port.to_be();
    sa.sin6_addr.s6_addr = ip.octets();
    sa
}

/// `sendto(2)` of `data` to `addr`, a typed `sockaddr_*`: how many bytes
/// left.
pub fn sendto<A>(fd: RawFd, data: &[u8], addr: &A) -> io::Result<usize> {
    // SAFETY: `data` is live for its length, `addr` is a live A of the
    // size passed.
    let n = unsafe {
        libc::sendto(
            fd,
            data.as_ptr().cast(),
            data.len(),
            0,
            (addr as *const A).cast(),
            std::mem::size_of::<A>() as libc::socklen_t,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

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

/// `getsockopt(2)` into a typed value.
pub fn getsockopt<T>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &mut T,
) -> io::Result<()> {
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` points to a live T of the size passed.
    let rc = unsafe { libc::getsockopt(fd, level, name, (value as *mut T).cast(), &mut len) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The error pending on a socket (`SO_ERROR`, which reading clears), if
/// any.
pub fn pending_error(fd: RawFd) -> io::Result<Option<io::Error>> {
    let mut err: libc::c_int = 0;
    getsockopt(fd, libc::SOL_SOCKET, libc::SO_ERROR, &mut err)?;
    Ok((err != 0).then(|| io::Error::from_raw_os_error(err)))
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

/// A source port reserved from the kernel for the run: a TCP socket bound
/// to it (never listening or connecting), so no kernel connection can take
/// the same port while nettool uses it. The kernel picks the port when
/// none is asked for.
pub fn reserve_port(
    source: impl Into<IpAddr>,
    owned: bool,
    wanted: Option<u16>,
) -> Result<(u16, Option<OwnedFd>)> {
    reserve(source.into(), 0, owned, wanted, libc::SOCK_STREAM)
}

/// [`reserve_port`] on the interface with index `scope`: what binding a
/// link-local IPv6 address takes (it names an address only on one link).
pub fn reserve_port_on(
    source: IpAddr,
    scope: u32,
    owned: bool,
    wanted: Option<u16>,
) -> Result<(u16, Option<OwnedFd>)> {
    reserve(source, scope, owned, wanted, libc::SOCK_STREAM)
}

/// A UDP source port reserved from the kernel for the run: a UDP socket
/// bound to it that never reads, with the smallest receive buffer. Beside
/// keeping other sockets off the port, it keeps the kernel from answering
/// the datagrams nettool's flow receives with ICMP port unreachable (the
/// kernel delivers each to the socket, which drops it once its buffer is
/// full, silently). See the README's UDP section. `scope` is the
/// interface of a link-local IPv6 `source` ([`reserve_port_on`]).
pub fn reserve_udp_port(
    source: impl Into<IpAddr>,
    scope: u32,
    owned: bool,
    wanted: Option<u16>,
) -> Result<(u16, Option<OwnedFd>)> {
    let (port, sock) = reserve(source.into(), scope, owned, wanted, libc::SOCK_DGRAM)?;
    if let Some(fd) = &sock {
        // The kernel rounds this up to its minimum (a few kilobytes).
        setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, &0)
            .context("shrinking the reserved UDP port's receive buffer")?;
    }
    Ok((port, sock))
}

fn reserve(
    source: IpAddr,
    scope: u32,
    owned: bool,
    wanted: Option<u16>,
    kind: libc::c_int,
) -> Result<(u16, Option<OwnedFd>)> {
    if !owned {
        // The kernel does not own the address: no kernel socket can use it.
        let port = wanted.unwrap_or_else(|| 32768 + (random_u64() % 28232) as u16);
        return Ok((port, None));
    }
    let family = if source.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let sock = socket(family, kind, 0).context("reserving a source port")?;
    let fd = sock.as_raw_fd();
    // Either family's address, in storage large enough for both.
    // SAFETY: an all-zero sockaddr_storage is valid.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match source {
        IpAddr::V4(ip) => {
            let sa = sockaddr_in(ip, wanted.unwrap_or(0));
            // SAFETY: sockaddr_storage holds any sockaddr.
            unsafe { std::ptr::write((&mut addr as *mut libc::sockaddr_storage).cast(), sa) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        IpAddr::V6(ip) => {
            let mut sa = sockaddr_in6(ip, wanted.unwrap_or(0));
            if crate::wire::ipv6::is_link_local(ip) {
                sa.sin6_scope_id = scope;
            }
            // SAFETY: sockaddr_storage holds any sockaddr.
            unsafe { std::ptr::write((&mut addr as *mut libc::sockaddr_storage).cast(), sa) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    } as libc::socklen_t;
    // SAFETY: addr holds a valid sockaddr of `len` bytes.
    if unsafe { libc::bind(fd, (&addr as *const libc::sockaddr_storage).cast(), len) } < 0 {
        let err = std::io::Error::last_os_error();
        return match wanted {
            Some(p) if err.raw_os_error() == Some(libc::EADDRINUSE) => {
                bail!(
                    "source port {p} is in use by another socket on {source}; pick another with -p, or leave it out"
                )
            }
            _ => Err(err).with_context(|| format!("reserving a source port on {source}")),
        };
    }
    // SAFETY: an all-zero sockaddr_storage is valid.
    let mut bound: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut blen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getsockname into a sockaddr_storage-sized buffer.
    if unsafe {
        libc::getsockname(
            fd,
            (&mut bound as *mut libc::sockaddr_storage).cast(),
            &mut blen,
        )
    } < 0
    {
        return Err(std::io::Error::last_os_error()).context("reading the reserved port");
    }
    // The port sits at the same offset in both families' addresses.
    // SAFETY: the kernel wrote a sockaddr_in or sockaddr_in6 there.
    let port = unsafe {
        (*(&bound as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>()).sin_port
    };
    Ok((u16::from_be(port), Some(sock)))
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // SAFETY: getrandom fills the buffer we own; on failure we fall back
    // to the clock, which is enough for a port or an ISN key's
    // unpredictability to a remote peer in a debugging tool.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), N, 0) };
    if n != N as isize {
        let t = crate::clock::unix_now_ms().to_le_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = t[i % 8] ^ (i as u8).wrapping_mul(31);
        }
    }
    buf
}

pub fn random_u64() -> u64 {
    u64::from_le_bytes(random_bytes::<8>())
}

/// stdout for a command: lines go through the standard library's
/// line-buffered stdout, as before; a large vectored write (`nc`'s
/// payload) goes straight to the descriptor in one `writev`, after what
/// is buffered, so the bytes keep their order. The line buffer would
/// search every payload byte for a newline (an eighth of `nc`'s receive
/// CPU time) and copy the tail after the last one.
pub struct Stdout<W: io::Write> {
    lines: W,
    fd: RawFd,
}

/// The size from which a vectored write bypasses the line buffer.
const DIRECT_WRITE: usize = 4096;

impl<W: io::Write> Stdout<W> {
    /// `lines` writes to `fd` (stdout's lock, and 1).
    pub fn new(lines: W, fd: RawFd) -> Stdout<W> {
        Stdout { lines, fd }
    }
}

impl<W: io::Write> io::Write for Stdout<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lines.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total < DIRECT_WRITE {
            return self.lines.write_vectored(bufs);
        }
        self.lines.flush()?;
        // At most IOV_MAX (1024 on Linux) slices per call.
        let count = bufs.len().min(1024) as libc::c_int;
        // SAFETY: IoSlice is ABI-compatible with iovec; the slices outlive
        // the call.
        let n = unsafe { libc::writev(self.fd, bufs.as_ptr().cast(), count) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.lines.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    use super::Stdout;

    /// A line writer that counts the bytes it was handed.
    struct Counted<W>(W, usize);

    impl<W: Write> Write for Counted<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = self.0.write(buf)?;
            self.1 += n;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.0.flush()
        }
    }

    /// Lines stay line-buffered; a large vectored write goes straight to
    /// the descriptor, after the buffered tail, so nothing is reordered.
    #[test]
    fn a_large_vectored_write_bypasses_the_line_buffer_in_order() {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two descriptors we then own.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: fresh descriptors owned by nothing else.
        let (read_end, write_end) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let lines = Counted(
            std::io::LineWriter::new(std::fs::File::from(write_end.try_clone().unwrap())),
            0,
        );
        let mut out = Stdout::new(lines, write_end.as_raw_fd());
        out.write_all(b"a\nb").unwrap();
        let big = vec![7u8; 5000];
        let n = out
            .write_vectored(&[
                std::io::IoSlice::new(&big[..3000]),
                std::io::IoSlice::new(&big[3000..]),
            ])
            .unwrap();
        assert_eq!(n, 5000, "one writev took it all (the pipe holds 64 KiB)");
        out.write_all(b"c\n").unwrap();
        assert_eq!(out.lines.1, 5, "the payload went through the line buffer");
        drop(out);
        drop(write_end);
        let mut got = Vec::new();
        std::fs::File::from(read_end).read_to_end(&mut got).unwrap();
        let mut want = b"a\nb".to_vec();
        want.extend_from_slice(&big);
        want.extend_from_slice(b"c\n");
        assert_eq!(got, want);
    }
}
