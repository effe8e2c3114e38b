//! An nfnetlink_log group of nettool's own: how the RST guard counts what
//! it drops without asking the kernel anything after the privilege drop.
//!
//! nfnetlink checks CAP_NET_ADMIN of the sender of every message, reads
//! included, at the time it is sent; once nettool has dropped its
//! capabilities it can no longer read its guard's counter. So the guard's
//! rule also `log`s each RST it drops to a group this socket is bound to
//! (bound while the privilege is still there), and the kernel *sends*
//! each of them here, headers only: receiving needs no privilege.
//!
//! The socket's buffer holds some ten thousand such messages; a transfer
//! from the kernel's own address draws one RST per segment of the peer,
//! far more. So once the run is confined ([`LogGroup::count_in_background`],
//! called after the privilege drop, whose capabilities are per thread: a
//! thread started before it would keep them), a thread of the group's
//! own takes the messages as they come, counting them, and at teardown
//! ([`LogGroup::drain`]) it is stopped and the rest counted. The event
//! loop stays the only one that drives anything; this thread only
//! counts. The messages are sent one per packet, not batched: a batch
//! waits in the kernel for its flush timer, which the count at teardown
//! would have to wait out too, on every guarded run.
//!
//! Messages (linux/netfilter/nfnetlink_log.h): `NFULNL_MSG_CONFIG` with
//! `NFULA_CFG_CMD` = bind to the group named by the `nfgenmsg`'s resource
//! id, `NFULA_CFG_MODE` = metadata only, `NFULA_CFG_QTHRESH` = 1 (each
//! packet is sent at once, not batched for up to a second); the kernel
//! then sends `NFULNL_MSG_PACKET` for each logged packet. The binding
//! belongs to the socket and goes when it closes.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::{NLM_F_ACK, Refused, push_message};
use crate::netlink::{self, NLMSG_ERROR};
use crate::sys;

/// `NFNL_SUBSYS_ULOG`.
const SUBSYS_ULOG: u16 = 4;
/// `NFULNL_MSG_PACKET`, `NFULNL_MSG_CONFIG`.
const MSG_PACKET: u16 = 0;
const MSG_CONFIG: u16 = 1;
/// `NFULA_CFG_CMD`, `NFULA_CFG_MODE`, `NFULA_CFG_QTHRESH` (4 is the
/// flush timeout).
const CFG_CMD: u16 = 1;
const CFG_MODE: u16 = 2;
const CFG_QTHRESH: u16 = 5;
/// `NFULNL_CFG_CMD_BIND`.
const CMD_BIND: u8 = 1;
/// `NFULNL_COPY_META`: the packet's metadata, none of its bytes.
const COPY_META: u8 = 1;
/// Groups tried at random before giving up (another process, ulogd for
/// one, may hold a group: the kernel then answers EBUSY).
const TRIES: usize = 16;
/// The socket's receive buffer: each message is charged about 400
/// octets, so this holds some forty thousand before the kernel drops some
/// (the count then is known to be short, and is not reported): room for
/// the counting thread to fall behind a burst on a busy machine.
const RECEIVE_BUFFER: libc::c_int = 16 << 20;

/// The message that binds the sending socket to `group`, metadata only,
/// each packet sent at once.
pub fn bind_message(seq: u32, group: u16) -> Vec<u8> {
    let mut a = super::Attrs::new();
    a.bytes(CFG_CMD, &[CMD_BIND]);
    // struct nfulnl_msg_config_mode: __be32 copy_range, __u8 copy_mode,
    // __u8 pad (packed).
    let mut mode = 0u32.to_be_bytes().to_vec();
    mode.extend([COPY_META, 0]);
    a.bytes(CFG_MODE, &mode);
    a.u32(CFG_QTHRESH, 1);
    let mut buf = Vec::new();
    let kind = (SUBSYS_ULOG << 8) | MSG_CONFIG;
    let family = libc::AF_UNSPEC as u8;
    push_message(
        &mut buf,
        kind,
        NLM_F_ACK,
        seq,
        family,
        group,
        &a.into_bytes(),
    );
    buf
}

/// How many logged packets a datagram from the group holds.
pub fn packets_in(datagram: &[u8]) -> usize {
    netlink::messages(datagram)
        .filter_map(Result::ok)
        .filter(|(h, _)| h.kind == (SUBSYS_ULOG << 8) | MSG_PACKET)
        .count()
}

/// A socket bound to an nfnetlink_log group of its own.
#[derive(Debug)]
pub struct LogGroup {
    group: u16,
    /// What was counted so far, by the thread or at teardown, and the
    /// thread (behind one pointer: every run's setup holds a guard).
    counts: Arc<Counts>,
}

#[derive(Debug)]
struct Counting {
    thread: JoinHandle<()>,
    stop: OwnedFd,
}

/// The socket and the counts, shared with the counting thread.
#[derive(Debug)]
struct Counts {
    fd: OwnedFd,
    packets: AtomicU64,
    overflowed: AtomicBool,
    /// The errno of a failed read, 0 while none.
    errno: AtomicI32,
    /// The counting thread, once started, and the eventfd that stops it.
    counting: Mutex<Option<Counting>>,
}

/// What the group received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub packets: u64,
    /// The socket's buffer overflowed: more were logged than counted.
    pub overflowed: bool,
}

impl LogGroup {
    /// Binds a new socket to a free group. Needs CAP_NET_ADMIN now (as
    /// every nfnetlink message does), and never again.
    pub fn bind() -> Result<LogGroup, Refused> {
        let fd = netlink::open(libc::NETLINK_NETFILTER, 2)?;
        // A larger buffer than the system's maximum needs the privilege
        // this is called with; without it, the system's maximum.
        let grown = sys::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &RECEIVE_BUFFER,
        );
        if grown.is_err() {
            sys::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &RECEIVE_BUFFER,
            )?;
        }
        for _ in 0..TRIES {
            // Above the groups people configure by hand (0, 1, 2...).
            let group = 1024 + (sys::random_u64() % (65536 - 1024)) as u16;
            match Self::bind_to(&fd, group) {
                Ok(()) => {
                    return Ok(LogGroup {
                        group,
                        counts: Arc::new(Counts {
                            fd,
                            packets: AtomicU64::new(0),
                            overflowed: AtomicBool::new(false),
                            errno: AtomicI32::new(0),
                            counting: Mutex::new(None),
                        }),
                    });
                }
                Err(Refused::Errno {
                    errno: libc::EBUSY, ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        Err(Refused::Errno {
            what: "binding of a log group (every group tried was taken)",
            errno: libc::EBUSY,
        })
    }

    fn bind_to(fd: &OwnedFd, group: u16) -> Result<(), Refused> {
        let seq = netlink::next_seq();
        netlink::send_to_kernel(fd.as_raw_fd(), &bind_message(seq, group))?;
        let mut buf = vec![0u8; 8192];
        loop {
            let n = netlink::receive(fd.as_raw_fd(), &mut buf)?;
            for message in netlink::messages(&buf[..n]) {
                let (header, payload) = message.map_err(io::Error::other)?;
                if header.kind != NLMSG_ERROR || header.seq != seq {
                    continue;
                }
                let errno = netlink::error_code(payload).map_err(io::Error::other)?;
                return match errno {
                    0 => Ok(()),
                    errno => Err(Refused::Errno {
                        what: "binding of a log group",
                        errno,
                    }),
                };
            }
        }
    }

    /// The group's number (what the rule's `log` names).
    pub fn group(&self) -> u16 {
        self.group
    }

    /// Starts counting the messages as they arrive, on a thread of the
    /// group's own, so that no number of them overflows the socket. Call
    /// it once the process has given up its privileges and is confined:
    /// the thread inherits both (a thread started before would keep its
    /// capabilities, which are per thread). Calling it again does
    /// nothing. Without it, [`LogGroup::drain`] counts what the socket
    /// still holds at the end.
    pub fn count_in_background(&self) -> io::Result<()> {
        let mut counting = self
            .counts
            .counting
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if counting.is_some() {
            return Ok(());
        }
        // SAFETY: eventfd takes no pointer; a descriptor it returns is
        // ours alone.
        let stop = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if stop < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `stop` was just opened and is owned by nothing else.
        let stop = unsafe { OwnedFd::from_raw_fd(stop) };
        let (counts, wake) = (Arc::clone(&self.counts), stop.as_raw_fd());
        let thread = std::thread::Builder::new()
            .name("guard-count".into())
            .spawn(move || count_until_stopped(wake, &counts))?;
        *counting = Some(Counting { thread, stop });
        Ok(())
    }

    /// Counts the packets logged so far: stops the counting thread, if
    /// one runs, then reads every message still waiting in the socket
    /// (without waiting for more). Needs no privilege.
    pub fn drain(&self) -> io::Result<Received> {
        let counting = self
            .counts
            .counting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(Counting { thread, stop }) = counting {
            let one = 1u64.to_ne_bytes();
            // SAFETY: `one` is live for its eight bytes.
            let n = unsafe { libc::write(stop.as_raw_fd(), one.as_ptr().cast(), one.len()) };
            if n == one.len() as isize {
                // The thread only reads and counts: it cannot panic.
                let _ = thread.join();
            }
            // Else the thread goes on until the process ends; the counts
            // below may then miss what it holds mid-read.
        }
        drain_into(&self.counts);
        match self.counts.errno.load(Ordering::Relaxed) {
            0 => Ok(Received {
                packets: self.counts.packets.load(Ordering::Relaxed),
                overflowed: self.counts.overflowed.load(Ordering::Relaxed),
            }),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

impl Drop for LogGroup {
    fn drop(&mut self) {
        // Stops the thread, so the socket closes with this.
        let _ = self.drain();
    }
}

/// The counting thread: waits for messages (or the stop), counts them.
fn count_until_stopped(stop: RawFd, counts: &Counts) {
    let mut fds = [
        libc::pollfd {
            fd: counts.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: stop,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: `fds` is live for its two entries; no timeout, no mask.
        let n = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if n < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
        if fds[1].revents != 0 {
            return;
        }
        if fds[0].revents != 0 && !drain_into(counts) {
            return;
        }
    }
}

/// Reads every message waiting in the socket, counting the packets;
/// `false` (and the errno kept) when a read fails.
fn drain_into(counts: &Counts) -> bool {
    let fd = counts.fd.as_raw_fd();
    let mut buf = [0u8; 16 * 1024];
    loop {
        // SAFETY: `buf` is live and writable for its whole length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return true,
                // The kernel could not queue some: the count is short.
                Some(libc::ENOBUFS) => {
                    counts.overflowed.store(true, Ordering::Relaxed);
                    continue;
                }
                errno => {
                    counts
                        .errno
                        .store(errno.unwrap_or(libc::EIO), Ordering::Relaxed);
                    return false;
                }
            }
        }
        counts
            .packets
            .fetch_add(packets_in(&buf[..n as usize]) as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bind_message_names_the_group_and_asks_for_metadata_at_once() {
        let m = bind_message(7, 0x1234);
        let (header, payload) = netlink::messages(&m).next().unwrap().unwrap();
        assert_eq!(header.kind, 0x0401);
        assert_eq!(header.seq, 7);
        // nfgenmsg: AF_UNSPEC, version 0, the group big-endian.
        assert_eq!(&payload[..4], &[0, 0, 0x12, 0x34]);
        let attrs: Vec<(u16, Vec<u8>)> = netlink::attributes(&payload[4..])
            .filter_map(Result::ok)
            .map(|(k, v)| (k, v.to_vec()))
            .collect();
        assert_eq!(
            attrs,
            vec![
                (CFG_CMD, vec![CMD_BIND]),
                (CFG_MODE, vec![0, 0, 0, 0, COPY_META, 0]),
                (CFG_QTHRESH, vec![0, 0, 0, 1]),
            ]
        );
    }

    #[test]
    fn only_packet_messages_are_counted() {
        let mut datagram = Vec::new();
        for kind in [(SUBSYS_ULOG << 8) | MSG_PACKET, NLMSG_ERROR, 0x0400] {
            push_message(&mut datagram, kind, 0, 1, 2, 0, &[]);
        }
        assert_eq!(packets_in(&datagram), 2);
    }
}
