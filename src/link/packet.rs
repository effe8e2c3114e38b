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
//! - pnet's read timeout is fixed when the channel opens, so it is set to
//!   zero and [`PacketLink::recv`] waits with its own `ppoll`, whose
//!   deadline changes from call to call;
//! - a 64 KiB + read buffer instead of 4 KiB, so offload super-frames are
//!   never truncated.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use pnet::datalink::{self, Channel, DataLinkReceiver, DataLinkSender, NetworkInterface};

use super::{Filter, Link};

const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
/// Largest GSO/GRO frame the kernel hands over, plus headers.
const READ_BUFFER: usize = 65536 + 256;

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

/// An AF_PACKET socket bound to one interface.
pub struct PacketLink {
    fd: RawFd,
    tx: Box<dyn DataLinkSender>,
    rx: Box<dyn DataLinkReceiver>,
}

impl PacketLink {
    /// Opens a link on the interface with kernel index `ifindex`.
    pub fn open(ifindex: u32, filter: Filter) -> Result<PacketLink, OpenError> {
        let iface: NetworkInterface = datalink::interfaces()
            .into_iter()
            .find(|i| i.index == ifindex)
            .ok_or_else(|| OpenError::NoInterface(format!("#{ifindex}")))?;
        let io_err = |source: io::Error| OpenError::Io {
            iface: iface.name.clone(),
            source,
        };
        // SAFETY: plain socket(2); the result is checked.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            let err = io::Error::last_os_error();
            return Err(match err.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => OpenError::Permission,
                _ => io_err(err),
            });
        }
        if let Err(e) = configure(fd, filter) {
            // SAFETY: fd is ours and not yet handed to pnet.
            unsafe { libc::close(fd) };
            return Err(io_err(e));
        }
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
            Ok(Channel::Ethernet(tx, rx)) => Ok(PacketLink { fd, tx, rx }),
            Ok(_) => Err(io_err(io::Error::other(
                "pnet returned a non-Ethernet channel",
            ))),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => Err(OpenError::Permission),
            Err(e) => Err(io_err(e)),
        }
    }
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
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

fn configure(fd: RawFd, filter: Filter) -> io::Result<()> {
    setsockopt(
        fd,
        libc::SOL_PACKET,
        PACKET_IGNORE_OUTGOING,
        &1 as &libc::c_int,
    )?;
    if filter == Filter::Arp {
        // Classic BPF: accept the frame if the EtherType is ARP, else drop.
        let code = [
            libc::sock_filter {
                code: 0x28,
                jt: 0,
                jf: 0,
                k: 12,
            }, // ldh [12]
            libc::sock_filter {
                code: 0x15,
                jt: 0,
                jf: 1,
                k: 0x0806,
            }, // jeq #ARP
            libc::sock_filter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: 0x4_0000,
            }, // ret #256 KiB
            libc::sock_filter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: 0,
            }, // ret #0
        ];
        let prog = libc::sock_fprog {
            len: code.len() as u16,
            filter: code.as_ptr() as *mut libc::sock_filter,
        };
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)?;
    }
    Ok(())
}

impl Link for PacketLink {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        match self.tx.send_to(frame, None) {
            Some(result) => result,
            None => Err(io::Error::other("frame larger than the send buffer")),
        }
    }

    fn recv(&mut self, timeout: Duration) -> io::Result<Option<&[u8]>> {
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
        if rc == 0 || pfd.revents & libc::POLLIN == 0 {
            if pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                return Err(io::Error::other(
                    "the interface went away (poll reported an error)",
                ));
            }
            return Ok(None);
        }
        match self.rx.next() {
            Ok(frame) => Ok(Some(frame)),
            // pnet polls once more with our zero timeout; nothing there.
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }
}
