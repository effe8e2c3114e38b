//! The lab's echo service (RFC 862): every byte comes back until the
//! client's FIN; then the server sends its own FIN and closes. A client
//! that sends data and FIN sees the echo arrive, then the server's FIN.

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::conn::{self, Got};

/// A client silent for this long is closed on, so an idle client never
/// keeps a thread.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How an echo connection ended, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echoed {
    pub bytes: u64,
    /// The client sent FIN (rather than going idle, or the server stopping).
    pub client_fin: bool,
}

/// Echoes until EOF, idleness or stop.
pub fn handle(mut stream: TcpStream, idle: Duration, stop: &AtomicBool) -> io::Result<Echoed> {
    conn::prepare(&stream)?;
    let mut buf = [0u8; 16 * 1024];
    let mut bytes = 0u64;
    loop {
        match conn::read_until(&mut stream, &mut buf, Instant::now() + idle, stop)? {
            Got::Data(n) => {
                stream.write_all(&buf[..n])?;
                bytes += n as u64;
            }
            Got::Eof => {
                // Everything the client sent was read, so closing now sends
                // a plain FIN (never an RST).
                stream.shutdown(Shutdown::Write)?;
                return Ok(Echoed {
                    bytes,
                    client_fin: true,
                });
            }
            Got::TimedOut | Got::Stopped => {
                conn::linger_close(stream, stop);
                return Ok(Echoed {
                    bytes,
                    client_fin: false,
                });
            }
        }
    }
}
