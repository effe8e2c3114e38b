//! A link that prints every frame it moves, tcpdump-style (`-v`).

use std::io::{self, Write};
use std::time::Duration;

use super::{Link, Received};
use crate::wire::arp::ArpRepr;
use crate::wire::fmt;

/// Wraps a link; each frame sent is printed as `> line`, each frame
/// received as `< line`.
pub struct Tracer<'a> {
    inner: &'a mut dyn Link,
    out: &'a mut dyn Write,
}

impl<'a> Tracer<'a> {
    pub fn new(inner: &'a mut dyn Link, out: &'a mut dyn Write) -> Tracer<'a> {
        Tracer { inner, out }
    }
}

/// One line for any frame: ARP and ICMPv6 (neighbour discovery, echo)
/// decoded, anything else by its size and why it was not read.
pub fn describe(frame: &[u8]) -> String {
    match ArpRepr::from_frame(frame) {
        Ok((_, arp)) => fmt::arp_line(&arp),
        Err(e) => match crate::wire::icmpv6::parse_frame(frame, false) {
            Ok((_, ip, icmp)) => fmt::icmpv6_line(&ip, &icmp),
            Err(_) => format!("{} bytes, not ARP ({e})", frame.len()),
        },
    }
}

impl Link for Tracer<'_> {
    fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        self.inner.poll_fd()
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        writeln!(self.out, "> {}", describe(frame))?;
        self.inner.send(frame)
    }

    fn recv(&mut self, timeout: Duration) -> io::Result<Option<Received<'_>>> {
        let received = self.inner.recv(timeout)?;
        if let Some(r) = received {
            writeln!(self.out, "< {}", describe(r.frame))?;
        }
        Ok(received)
    }
}
