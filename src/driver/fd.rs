//! Waiting on the link and on one more descriptor (`nc`'s stdin) at once,
//! and reading that descriptor without blocking: the driver's only
//! system calls of its own.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// Which of the two descriptors can be read now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    pub link: bool,
    pub input: bool,
}

/// Waits at most `timeout` until `link` or `input` is readable (or hung
/// up). A link with no descriptor counts as ready, so that its `recv` is
/// asked; with neither, this sleeps. A signal ends the wait with nothing
/// ready.
pub fn poll_two(link: Option<RawFd>, input: Option<RawFd>, timeout: Duration) -> io::Result<Ready> {
    let mut fds: Vec<libc::pollfd> = [link, input]
        .into_iter()
        .flatten()
        .map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    if fds.is_empty() {
        std::thread::sleep(timeout);
        return Ok(Ready {
            link: true,
            input: false,
        });
    }
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: a valid array of pollfd of the given length.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(Ready {
                link: false,
                input: false,
            });
        }
        return Err(err);
    }
    let ready = |fd: Option<RawFd>| {
        fd.is_some_and(|fd| {
            fds.iter().any(|p| {
                p.fd == fd && p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
            })
        })
    };
    Ok(Ready {
        link: link.is_none() || ready(link),
        input: ready(input),
    })
}

/// One `read(2)` of `fd` into `buf`, which poll said will not block:
/// how many bytes (0 at the end of input), or `None` when a signal or a
/// spurious wake-up left nothing to read.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: read(2) into a buffer we own, at most its length.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n >= 0 {
        return Ok(Some(n as usize));
    }
    let err = io::Error::last_os_error();
    match err.kind() {
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => Ok(None),
        _ => Err(err),
    }
}
