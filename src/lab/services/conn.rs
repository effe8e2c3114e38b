//! What every connection handler shares: reads that wake up often enough
//! to notice the stop flag and their own deadline (so no client, however
//! idle, keeps a thread forever), and a lingering close.

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a blocked read wakes up to look at the stop flag.
pub(crate) const TICK: Duration = Duration::from_millis(100);
/// How long one write may block on a client that does not read.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a lingering close waits for the client's FIN.
pub(crate) const LINGER: Duration = Duration::from_secs(2);
/// How much a lingering close reads and discards at most.
const LINGER_BYTES: usize = 64 * 1024;

/// What a bounded read got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Got {
    Data(usize),
    /// The client sent FIN.
    Eof,
    /// The deadline passed without data.
    TimedOut,
    /// The server is stopping.
    Stopped,
}

/// Sets the timeouts the helpers below rely on; no Nagle delay, so each
/// small write (a trickle line) leaves at once as its own segment.
pub(crate) fn prepare(stream: &TcpStream) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(TICK))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    stream.set_nodelay(true)
}

/// Reads once into `buf`, waiting at most until `deadline` (and waking
/// every [`TICK`] to look at `stop`).
pub(crate) fn read_until(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
    stop: &AtomicBool,
) -> io::Result<Got> {
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(Got::Stopped);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Got::TimedOut);
        }
        // Never block past the deadline (a trickle line is due then).
        stream.set_read_timeout(Some(left.clamp(Duration::from_millis(1), TICK)))?;
        match stream.read(buf) {
            Ok(0) => return Ok(Got::Eof),
            Ok(n) => return Ok(Got::Data(n)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Sends our FIN, then reads and discards until the client's FIN (bounded
/// in time and bytes) before closing. Closing a socket with unread data
/// makes the kernel send RST instead of FIN; draining first keeps the
/// close orderly when a client sent more than the server wanted to read.
pub(crate) fn linger_close(mut stream: TcpStream, stop: &AtomicBool) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER;
    let mut buf = [0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        match read_until(&mut stream, &mut buf, deadline, stop) {
            Ok(Got::Data(n)) => drained += n,
            _ => break,
        }
    }
}
