//! Binding a lab service on both address families: one socket for IPv4
//! and one for IPv6 (`IPV6_V6ONLY` on), rather than one dual-stack `[::]`
//! socket that takes IPv4 clients as `::ffff:a.b.c.d`.
//!
//! Why two: each family then shows in its own kernel table
//! (`/proc/net/tcp` and `tcp6`, `udp` and `udp6`), so `lab status` can
//! say which family listens, where a dual-stack socket would list IPv4
//! under tcp6 only; the log names IPv4 clients by their IPv4 address; the
//! namespace's `net.ipv6.bindv6only` does not change what is served; and
//! a kernel without IPv6 still gets its IPv4 services (see [`FAMILIES`]).

use std::io;
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, TcpListener, UdpSocket,
};
use std::os::fd::{AsRawFd, OwnedFd};

use crate::sys;

/// The addresses the lab's services bind: every IPv4 and every IPv6
/// address of the namespace.
pub const FAMILIES: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    IpAddr::V6(Ipv6Addr::UNSPECIFIED),
];

/// Whether binding failed because the kernel has no IPv6 at all (booted
/// with `ipv6.disable=1`): the IPv6 socket is then left out, not an error.
pub fn no_such_family(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::EAFNOSUPPORT)
}

/// A TCP listener on `addr`; an IPv6 one accepts IPv6 clients only.
pub fn tcp_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    match addr {
        SocketAddr::V4(_) => TcpListener::bind(addr),
        SocketAddr::V6(_) => {
            let fd = v6_only(libc::SOCK_STREAM, addr)?;
            // SAFETY: a bound stream socket.
            if unsafe { libc::listen(fd.as_raw_fd(), libc::SOMAXCONN) } < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(TcpListener::from(fd))
        }
    }
}

/// A UDP socket on `addr`; an IPv6 one takes IPv6 datagrams only. Each
/// datagram's destination comes with it ([`recv_from_to`]), so that an
/// answer can leave from the address it was sent to ([`send_from`]).
pub fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = match addr {
        SocketAddr::V4(_) => UdpSocket::bind(addr)?,
        SocketAddr::V6(_) => UdpSocket::from(v6_only(libc::SOCK_DGRAM, addr)?),
    };
    let one: libc::c_int = 1;
    let (level, name) = match addr {
        SocketAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_PKTINFO),
        SocketAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO),
    };
    sys::setsockopt(socket.as_raw_fd(), level, name, &one)?;
    Ok(socket)
}

/// Where a datagram was sent: one of the host's addresses, and the
/// interface it came in on (which a link-local address needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    pub ip: IpAddr,
    pub ifindex: u32,
}

/// Room for one `IP_PKTINFO` or `IPV6_PKTINFO` control message, aligned
/// as `cmsghdr` needs.
#[repr(C, align(8))]
struct ControlBuffer([u8; 64]);

/// One datagram from a socket made by [`udp_socket`]: its length, its
/// sender and the address it was sent to (`None` if the kernel did not
/// say). A socket bound to every address must answer from that one: the
/// kernel's own choice of source (RFC 6724 for IPv6, the primary address
/// for IPv4) is another of the host's addresses whenever it has several,
/// and the client would drop an answer from an address it never asked.
pub fn recv_from_to(
    socket: &UdpSocket,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<Destination>)> {
    // SAFETY: all-zero sockaddr_storage and msghdr are valid.
    let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut control = ControlBuffer([0; 64]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&raw mut from).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len() as _;
    // SAFETY: every pointer in `msg` points to live memory of the length
    // given beside it.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &raw mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let peer = sockaddr_to_std(&from)
        .ok_or_else(|| io::Error::other("a datagram from an address of no known family"))?;
    let mut dst = None;
    // SAFETY: the kernel filled `msg`'s control part; the CMSG macros walk
    // it within msg_controllen, and each payload is read unaligned.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        while !cmsg.is_null() {
            let data = libc::CMSG_DATA(cmsg);
            match ((*cmsg).cmsg_level, (*cmsg).cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                    dst = Some(Destination {
                        ip: Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)).into(),
                        ifindex: info.ipi_ifindex as u32,
                    });
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    dst = Some(Destination {
                        ip: Ipv6Addr::from(info.ipi6_addr.s6_addr).into(),
                        ifindex: info.ipi6_ifindex,
                    });
                }
                _ => {}
            }
            cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
        }
    }
    Ok((n as usize, peer, dst))
}

/// Sends `data` to `peer` from `from` (the address a datagram came to,
/// from [`recv_from_to`]); with `None`, from wherever the kernel picks.
pub fn send_from(
    socket: &UdpSocket,
    data: &[u8],
    peer: SocketAddr,
    from: Option<Destination>,
) -> io::Result<usize> {
    let Some(from) = from else {
        return socket.send_to(data, peer);
    };
    // SAFETY: an all-zero sockaddr_storage is valid.
    let mut to: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let to_len = match peer {
        SocketAddr::V4(v4) => {
            let sa = sys::sockaddr_in(*v4.ip(), v4.port());
            // SAFETY: sockaddr_storage holds any sockaddr.
            unsafe { std::ptr::write((&raw mut to).cast(), sa) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let mut sa = sys::sockaddr_in6(*v6.ip(), v6.port());
            sa.sin6_scope_id = v6.scope_id();
            // SAFETY: sockaddr_storage holds any sockaddr.
            unsafe { std::ptr::write((&raw mut to).cast(), sa) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    let mut control = ControlBuffer([0; 64]);
    let (level, kind, payload) = match from.ip {
        IpAddr::V4(_) => (
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            std::mem::size_of::<libc::in_pktinfo>(),
        ),
        IpAddr::V6(_) => (
            libc::IPPROTO_IPV6,
            libc::IPV6_PKTINFO,
            std::mem::size_of::<libc::in6_pktinfo>(),
        ),
    };
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    // SAFETY: an all-zero msghdr is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&raw mut to).cast();
    msg.msg_namelen = to_len as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure size computation.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(payload as u32) } as _;
    // SAFETY: the control buffer is large enough for one message of
    // `payload` bytes (64 > CMSG_SPACE of either), and aligned for cmsghdr.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        (*cmsg).cmsg_level = level;
        (*cmsg).cmsg_type = kind;
        (*cmsg).cmsg_len = libc::CMSG_LEN(payload as u32) as _;
        let data = libc::CMSG_DATA(cmsg);
        match from.ip {
            IpAddr::V4(ip) => {
                let info = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    // The source to use.
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(ip).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                std::ptr::write_unaligned(data.cast(), info);
            }
            IpAddr::V6(ip) => {
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: ip.octets(),
                    },
                    ipi6_ifindex: from.ifindex,
                };
                std::ptr::write_unaligned(data.cast(), info);
            }
        }
    }
    // SAFETY: every pointer in `msg` points to live memory of the length
    // given beside it.
    let n = unsafe { libc::sendmsg(socket.as_raw_fd(), &raw const msg, 0) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// A kernel socket address as std's, for the two families.
fn sockaddr_to_std(sa: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(sa.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says it holds a sockaddr_in.
            let v4 = unsafe { *(sa as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddrV4::new(ip, u16::from_be(v4.sin_port)).into())
        }
        libc::AF_INET6 => {
            // SAFETY: the family says it holds a sockaddr_in6.
            let v6 = unsafe { *(sa as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            let port = u16::from_be(v6.sin6_port);
            Some(SocketAddrV6::new(ip, port, v6.sin6_flowinfo, v6.sin6_scope_id).into())
        }
        _ => None,
    }
}

/// An IPv6 socket of `kind` with `IPV6_V6ONLY` set, bound to `addr`
/// (with `SO_REUSEADDR`, as std's own listeners have, so a restarted
/// service does not wait out TIME-WAIT).
fn v6_only(kind: libc::c_int, addr: SocketAddr) -> io::Result<OwnedFd> {
    let SocketAddr::V6(v6) = addr else {
        unreachable!("called for IPv6 addresses only")
    };
    let fd = sys::socket(libc::AF_INET6, kind, 0)?;
    let one: libc::c_int = 1;
    sys::setsockopt(fd.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &one)?;
    if kind == libc::SOCK_STREAM {
        sys::setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, &one)?;
    }
    let mut sa = sys::sockaddr_in6(*v6.ip(), v6.port());
    sa.sin6_scope_id = v6.scope_id();
    let len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    // SAFETY: `sa` is a valid sockaddr_in6 of `len` bytes.
    if unsafe { libc::bind(fd.as_raw_fd(), (&raw const sa).cast(), len) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    /// Both families on one port at once: the IPv6 socket leaves IPv4 to
    /// the other (a dual-stack one would take the port from it).
    #[test]
    fn both_families_share_a_port() {
        let v4 = tcp_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = v4.local_addr().unwrap().port();
        let v6 = match tcp_listener(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port)) {
            Err(e) if no_such_family(&e) => return,
            other => other.unwrap(),
        };
        assert_eq!(v6.local_addr().unwrap().port(), port);
        let mut c = TcpStream::connect(("::1", port)).unwrap();
        let (mut s, peer) = v6.accept().unwrap();
        assert!(peer.is_ipv6());
        c.write_all(b"six").unwrap();
        let mut got = [0u8; 3];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"six");

        let u4 = udp_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        let uport = u4.local_addr().unwrap().port();
        let u6 = udp_socket(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), uport)).unwrap();
        assert_eq!(u6.local_addr().unwrap().port(), uport);
    }

    #[test]
    fn an_ipv6_only_socket_leaves_ipv4_alone() {
        let v6 = match tcp_listener("[::]:0".parse().unwrap()) {
            Err(e) if no_such_family(&e) => return,
            other => other.unwrap(),
        };
        let port = v6.local_addr().unwrap().port();
        // Nothing listens on the IPv4 side of the port: refused.
        let err = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }

    /// A socket bound to every address answers from the one each datagram
    /// was sent to, not from the kernel's choice: 127.0.0.2 on a socket
    /// bound to 0.0.0.0 would otherwise answer from 127.0.0.1.
    #[test]
    fn answers_leave_from_the_address_asked() {
        let server = udp_socket("0.0.0.0:0".parse().unwrap()).unwrap();
        let port = server.local_addr().unwrap().port();
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let asked: SocketAddr = SocketAddr::new(Ipv4Addr::new(127, 0, 0, 2).into(), port);
        client.send_to(b"q", asked).unwrap();
        let mut buf = [0u8; 16];
        let (n, peer, dst) = recv_from_to(&server, &mut buf).unwrap();
        assert_eq!((n, peer), (1, client.local_addr().unwrap()));
        let dst = dst.expect("the destination comes with the datagram");
        assert_eq!(dst.ip, asked.ip());
        send_from(&server, b"a", peer, Some(dst)).unwrap();
        let (_, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(from, asked);
        // And over IPv6, where the kernel has it.
        let Ok(six) = udp_socket("[::]:0".parse().unwrap()) else {
            return;
        };
        let client6 = UdpSocket::bind("[::1]:0").unwrap();
        let to = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), six.local_addr().unwrap().port());
        client6.send_to(b"q6", to).unwrap();
        six.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let (n, peer, dst) = recv_from_to(&six, &mut buf).unwrap();
        assert_eq!(n, 2);
        assert_eq!(dst.map(|d| d.ip), Some(to.ip()));
        send_from(&six, b"a6", peer, dst).unwrap();
        client6
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        assert_eq!(client6.recv_from(&mut buf).unwrap().1, to);
    }
}
