//! The lab's trickle service (named after chargen, RFC 864): on connect it
//! sends [`LINES`] short numbered lines, one every [`INTERVAL`], then
//! closes. It ignores what the client sends and keeps sending after the
//! client's FIN, which is what lets a user watch data arrive in FIN-WAIT-2.

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::conn::{self, Got};

/// Lines per connection.
pub const LINES: u32 = 10;
/// Time between lines; the first is sent one interval after the connection
/// is accepted, so a client has time to half-close before any data.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// Line `n` (1-based), as sent.
pub fn line(n: u32) -> String {
    format!("trickle line {n} of {LINES}\r\n")
}

/// How a trickle connection ended, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trickled {
    pub lines: u32,
    /// The client half-closed (sent FIN) while lines were still coming.
    pub client_fin: bool,
}

/// Sends the lines, discarding whatever the client sends meanwhile, then
/// closes.
pub fn handle(
    mut stream: TcpStream,
    interval: Duration,
    stop: &AtomicBool,
) -> io::Result<Trickled> {
    conn::prepare(&stream)?;
    let start = Instant::now();
    let mut client_fin = false;
    let mut buf = [0u8; 4096];
    for n in 1..=LINES {
        let due = start + interval * n;
        // Wait for the line's time, reading (and dropping) input meanwhile:
        // unread input would turn the final close into an RST.
        while Instant::now() < due {
            if client_fin {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return Ok(Trickled {
                        lines: n - 1,
                        client_fin,
                    });
                }
                std::thread::sleep(conn::TICK.min(due.saturating_duration_since(Instant::now())));
                continue;
            }
            match conn::read_until(&mut stream, &mut buf, due, stop)? {
                Got::Data(_) | Got::TimedOut => {}
                Got::Eof => client_fin = true,
                Got::Stopped => {
                    return Ok(Trickled {
                        lines: n - 1,
                        client_fin,
                    });
                }
            }
        }
        stream.write_all(line(n).as_bytes())?;
    }
    conn::linger_close(stream, stop);
    Ok(Trickled {
        lines: LINES,
        client_fin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_short_and_end_in_crlf() {
        assert_eq!(line(1), "trickle line 1 of 10\r\n");
        assert!((1..=LINES).all(|n| line(n).len() < 40 && line(n).ends_with("\r\n")));
    }
}
