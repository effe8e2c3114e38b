//! A minimal rtnetlink client: one request, one reply, over a fresh
//! `NETLINK_ROUTE` socket; and the framing [`crate::nft`] shares.
//!
//! nettool asks the kernel one question per run ("which route does DST
//! take?"), so a full netlink library would be mostly dead weight, and a
//! subprocess (`ip route get`) costs milliseconds where this costs
//! microseconds. The byte-level work — splitting a reply into messages,
//! messages into attributes — lives in pure functions that never panic on
//! any input, so it can be tested on captured replies without root.
//!
//! Layout reminders (all fields in host byte order, everything 4-aligned):
//!
//! ```text
//! nlmsghdr: len u32 | type u16 | flags u16 | seq u32 | pid u32   (16 bytes)
//! rtattr:   len u16 | type u16 | data, padded to a multiple of 4
//! ```

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::sys;
use std::sync::atomic::{AtomicU32, Ordering};

use thiserror::Error;

/// Length of a netlink message header.
pub const HEADER_LEN: usize = 16;
/// Length of an rtnetlink attribute header.
pub const ATTR_HEADER_LEN: usize = 4;

/// `NLMSG_ERROR`: an error report, or an acknowledgement when the error is 0.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a multipart reply.
pub const NLMSG_DONE: u16 = 3;

/// `NLM_F_REQUEST`: every message to the kernel carries it.
pub const NLM_F_REQUEST: u16 = 0x1;

/// Why bytes from the kernel could not be read as netlink messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Fewer bytes than a header or a length field requires.
    #[error("truncated netlink message")]
    Truncated,
    /// A length field smaller than its own header.
    #[error("bad length in netlink message")]
    BadLength,
}

/// The fixed header of a netlink message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub len: u32,
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

impl Header {
    /// Writes the header into the first [`HEADER_LEN`] bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        buf[0..4].copy_from_slice(&self.len.to_ne_bytes());
        buf[4..6].copy_from_slice(&self.kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&self.flags.to_ne_bytes());
        buf[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        buf[12..16].copy_from_slice(&self.pid.to_ne_bytes());
    }

    fn parse(buf: &[u8]) -> Result<Header, ParseError> {
        if buf.len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        Ok(Header {
            len: u32_at(buf, 0),
            kind: u16_at(buf, 4),
            flags: u16_at(buf, 6),
            seq: u32_at(buf, 8),
            pid: u32_at(buf, 12),
        })
    }
}

/// Rounds `len` up to netlink's 4-byte alignment.
pub const fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// Reads a native-endian `u32` at `at`; the caller has checked the length.
pub fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

fn u16_at(buf: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([buf[at], buf[at + 1]])
}

/// Splits a datagram from the kernel into `(header, payload)` pairs.
///
/// The payload excludes the header and the trailing alignment padding.
/// After the first error the iterator stops.
pub fn messages(buf: &[u8]) -> Messages<'_> {
    Messages { rest: buf }
}

/// Iterator returned by [`messages`].
pub struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<(Header, &'a [u8]), ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let message = Header::parse(self.rest).and_then(|header| {
            let payload = take_record(&mut self.rest, header.len as usize, HEADER_LEN)?;
            Ok((header, payload))
        });
        if message.is_err() {
            self.rest = &[];
        }
        Some(message)
    }
}

/// Splits a block of rtnetlink attributes into `(type, data)` pairs.
///
/// The type has the `NLA_F_NESTED`/`NLA_F_NET_BYTEORDER` bits cleared.
/// After the first error the iterator stops.
pub fn attributes(buf: &[u8]) -> Attributes<'_> {
    Attributes { rest: buf }
}

/// Iterator returned by [`attributes`].
pub struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<(u16, &'a [u8]), ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let attribute = if self.rest.len() < ATTR_HEADER_LEN {
            Err(ParseError::Truncated)
        } else {
            let len = u16_at(self.rest, 0) as usize;
            let kind = u16_at(self.rest, 2) & 0x3fff;
            take_record(&mut self.rest, len, ATTR_HEADER_LEN).map(|data| (kind, data))
        };
        if attribute.is_err() {
            self.rest = &[];
        }
        Some(attribute)
    }
}

/// Cuts the next record (a message or an attribute: a header that gives
/// the record's whole length `len`, then its body, then padding to 4
/// bytes) off `rest`, and returns its body.
fn take_record<'a>(
    rest: &mut &'a [u8],
    len: usize,
    header_len: usize,
) -> Result<&'a [u8], ParseError> {
    if len < header_len {
        return Err(ParseError::BadLength);
    }
    if len > rest.len() {
        return Err(ParseError::Truncated);
    }
    let body = &rest[header_len..len];
    *rest = &rest[align(len).min(rest.len())..];
    Ok(body)
}

/// Appends one attribute (header, data, padding) to `buf`.
pub fn push_attribute(buf: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = (ATTR_HEADER_LEN + data.len()) as u16;
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(align(buf.len()), 0);
}

/// The errno carried by an `NLMSG_ERROR` payload: 0 for an acknowledgement,
/// otherwise a positive errno (the kernel sends it negated).
pub fn error_code(payload: &[u8]) -> Result<i32, ParseError> {
    if payload.len() < 4 {
        return Err(ParseError::Truncated);
    }
    Ok(-(u32_at(payload, 0) as i32))
}

static SEQ: AtomicU32 = AtomicU32::new(1);

/// A fresh sequence number, so concurrent requests never share one.
pub fn next_seq() -> u32 {
    next_seqs(1)
}

/// The first of `count` fresh, consecutive sequence numbers (a batch of
/// messages numbers each).
pub fn next_seqs(count: u32) -> u32 {
    SEQ.fetch_add(count, Ordering::Relaxed)
}

/// A `NETLINK_ROUTE` socket, closed on drop.
///
/// It is opened in the network namespace of the calling *thread*, which is
/// what lets a test thread that entered a namespace ask that namespace's
/// routing table.
pub struct RouteSocket {
    fd: OwnedFd,
}

impl RouteSocket {
    /// How long [`RouteSocket::request`] waits for the kernel. The kernel
    /// answers route lookups synchronously; this only guards against a hang.
    const TIMEOUT_SECS: libc::time_t = 2;

    /// Opens the socket. Needs no privilege.
    pub fn open() -> io::Result<RouteSocket> {
        let fd = open(libc::NETLINK_ROUTE, Self::TIMEOUT_SECS)?;
        Ok(RouteSocket { fd })
    }

    /// Sends one request (a complete message whose header carries `seq`)
    /// and returns the first datagram that answers it.
    pub fn request(&self, message: &[u8], seq: u32) -> io::Result<Vec<u8>> {
        send_to_kernel(self.fd.as_raw_fd(), message)?;
        // A route reply is ~120 bytes; 32 KiB leaves room for any attribute
        // the kernel may add, and `receive` says if it ever does not.
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = receive(self.fd.as_raw_fd(), &mut buf)?;
            let answers_us = matches!(
                messages(&buf[..n]).next(),
                Some(Ok((header, _))) if header.seq == seq
            );
            if answers_us {
                buf.truncate(n);
                return Ok(buf);
            }
            // Anything else (a stale reply) is not ours: keep reading.
        }
    }
}

/// A netlink socket of `protocol`, in the calling thread's network
/// namespace, whose reads give up after `timeout_secs`. The kernel
/// answers nettool's requests synchronously; the timeout only guards
/// against a hang.
pub fn open(protocol: libc::c_int, timeout_secs: libc::time_t) -> io::Result<OwnedFd> {
    let fd = sys::socket(libc::AF_NETLINK, libc::SOCK_RAW, protocol)?;
    let timeout = libc::timeval {
        tv_sec: timeout_secs,
        tv_usec: 0,
    };
    sys::setsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_RCVTIMEO,
        &timeout,
    )?;
    Ok(fd)
}

/// Sends `message` (one or more netlink messages) to the kernel.
pub fn send_to_kernel(fd: RawFd, message: &[u8]) -> io::Result<()> {
    // SAFETY: an all-zero sockaddr_nl is valid; pid 0 addresses the kernel.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    sys::sendto(fd, message, &kernel)?;
    Ok(())
}

/// Reads one datagram from the kernel into `buf`: its length. A datagram
/// longer than `buf` is an error rather than a silently cut reply.
pub fn receive(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is live and writable for its whole length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_TRUNC) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            if err.kind() == io::ErrorKind::WouldBlock {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the kernel did not answer the netlink request",
                ));
            }
            return Err(err);
        }
        let n = n as usize;
        if n > buf.len() {
            return Err(io::Error::other(format!(
                "netlink reply larger than {} bytes",
                buf.len()
            )));
        }
        return Ok(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn message(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; HEADER_LEN];
        Header {
            len: (HEADER_LEN + payload.len()) as u32,
            kind,
            flags: 0,
            seq,
            pid: 0,
        }
        .emit(&mut buf);
        buf.extend_from_slice(payload);
        buf.resize(align(buf.len()), 0);
        buf
    }

    fn with_len(mut buf: Vec<u8>, len: u32) -> Vec<u8> {
        buf[0..4].copy_from_slice(&len.to_ne_bytes());
        buf
    }

    #[test]
    fn two_messages_with_padding_split_cleanly() {
        let mut buf = message(24, 7, &[1, 2, 3]);
        buf.extend(message(NLMSG_DONE, 7, &[0; 4]));
        let got: Vec<_> = messages(&buf).map(Result::unwrap).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0.kind, 24);
        assert_eq!(got[0].1, &[1, 2, 3]);
        assert_eq!(got[1].0.kind, NLMSG_DONE);
    }

    #[rstest]
    #[case::empty_header(vec![0u8; 8], ParseError::Truncated)]
    #[case::len_below_header(with_len(message(24, 1, &[]), 4), ParseError::BadLength)]
    #[case::len_beyond_buffer(message(24, 1, &[0; 8])[..20].to_vec(), ParseError::Truncated)]
    fn malformed_messages_are_errors(#[case] buf: Vec<u8>, #[case] want: ParseError) {
        let mut it = messages(&buf);
        assert_eq!(it.next().unwrap().unwrap_err(), want);
        assert!(it.next().is_none(), "iteration stops after an error");
    }

    #[test]
    fn attributes_round_trip_with_padding() {
        let mut buf = Vec::new();
        push_attribute(&mut buf, 1, &[10, 78, 0, 2]);
        push_attribute(&mut buf, 9, &[0xaa]);
        push_attribute(&mut buf, 0x8000 | 4, &[2, 0, 0, 0]);
        assert_eq!(buf.len(), 8 + 8 + 8);
        let got: Vec<_> = attributes(&buf).map(Result::unwrap).collect();
        assert_eq!(
            got,
            vec![
                (1, &[10, 78, 0, 2][..]),
                (9, &[0xaa][..]),
                (4, &[2, 0, 0, 0][..])
            ]
        );
    }

    #[rstest]
    #[case::three_bytes(vec![8, 0, 1], ParseError::Truncated)]
    #[case::len_two(vec![2, 0, 1, 0], ParseError::BadLength)]
    #[case::len_past_end(vec![12, 0, 1, 0, 0, 0, 0, 0], ParseError::Truncated)]
    fn malformed_attributes_are_errors(#[case] buf: Vec<u8>, #[case] want: ParseError) {
        let mut it = attributes(&buf);
        assert_eq!(it.next().unwrap().unwrap_err(), want);
        assert!(it.next().is_none());
    }

    #[rstest]
    #[case::ack(&[0, 0, 0, 0], 0)]
    #[case::enetunreach(&(-101i32).to_ne_bytes(), 101)]
    fn error_codes(#[case] payload: &[u8], #[case] want: i32) {
        assert_eq!(error_code(payload), Ok(want));
    }
}
