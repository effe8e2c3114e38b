//! A `NETLINK_NETFILTER` socket: batches sent and acknowledged, dumps
//! read to their end.
//!
//! The socket is the owner of the tables it creates with the owner flag:
//! the kernel deletes them when it closes, however the process ends.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use thiserror::Error;

use super::{Batch, FAMILY_INET, list_rules_in, rule_packets};
use crate::netlink::{self, NLMSG_DONE, NLMSG_ERROR};

/// Why the kernel did not do what a message asked.
#[derive(Debug, Error)]
pub enum Refused {
    /// The socket could not be opened, written or read.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The kernel answered the message named `what` with an error.
    #[error("the kernel refused the {what}: {}", io::Error::from_raw_os_error(*errno))]
    Errno { what: &'static str, errno: i32 },
}

/// An open `NETLINK_NETFILTER` socket; closing it deletes the tables it
/// owns.
#[derive(Debug)]
pub struct NftSocket {
    fd: OwnedFd,
}

impl NftSocket {
    /// How long to wait for the kernel's answer (it answers a batch
    /// synchronously, within the send; this only guards against a hang).
    const TIMEOUT_SECS: libc::time_t = 2;
    /// A dump's datagrams hold up to a page or two of messages; a rule
    /// of the guard is under 1 KiB.
    const BUFFER: usize = 64 * 1024;

    /// Opens the socket in the calling thread's network namespace. Needs
    /// no privilege; changing or reading the ruleset through it needs
    /// CAP_NET_ADMIN when each message is sent.
    pub fn open() -> io::Result<NftSocket> {
        let fd = netlink::open(libc::NETLINK_NETFILTER, Self::TIMEOUT_SECS)?;
        Ok(NftSocket { fd })
    }

    /// Sends `batch` and waits for each of its messages to be
    /// acknowledged; the first error the kernel reports is returned (the
    /// kernel then has applied none of the batch).
    pub fn commit(&self, batch: Batch) -> Result<(), Refused> {
        let batch = batch.finish();
        netlink::send_to_kernel(self.fd.as_raw_fd(), &batch.bytes)?;
        let mut pending: Vec<u32> = batch.acked.iter().map(|(seq, _)| *seq).collect();
        let mut buf = vec![0u8; Self::BUFFER];
        while !pending.is_empty() {
            let n = netlink::receive(self.fd.as_raw_fd(), &mut buf)?;
            for message in netlink::messages(&buf[..n]) {
                let (header, payload) = message.map_err(io::Error::other)?;
                if header.kind != NLMSG_ERROR {
                    continue;
                }
                let Some(what) = batch.what(header.seq) else {
                    continue; // not ours: a stale answer
                };
                let errno = netlink::error_code(payload).map_err(io::Error::other)?;
                if errno != 0 {
                    return Err(Refused::Errno { what, errno });
                }
                pending.retain(|seq| *seq != header.seq);
            }
        }
        Ok(())
    }

    /// Sends a dump `request` numbered `seq` (about `what`) and hands each
    /// message of the answer's payload to `each`, until the kernel says
    /// it is done.
    pub fn dump(
        &self,
        request: &[u8],
        seq: u32,
        what: &'static str,
        mut each: impl FnMut(&[u8]),
    ) -> Result<(), Refused> {
        netlink::send_to_kernel(self.fd.as_raw_fd(), request)?;
        let mut buf = vec![0u8; Self::BUFFER];
        loop {
            let n = netlink::receive(self.fd.as_raw_fd(), &mut buf)?;
            for message in netlink::messages(&buf[..n]) {
                let (header, payload) = message.map_err(io::Error::other)?;
                if header.seq != seq {
                    continue;
                }
                match header.kind {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let errno = netlink::error_code(payload).map_err(io::Error::other)?;
                        if errno != 0 {
                            return Err(Refused::Errno { what, errno });
                        }
                    }
                    _ => each(payload),
                }
            }
        }
    }

    /// The packets counted by the rules of `table`'s `chain` (`None`
    /// when they have no counter).
    pub fn packets(&self, table: &str, chain: &str) -> Result<Option<u64>, Refused> {
        self.packets_in(FAMILY_INET, table, chain)
    }

    /// [`NftSocket::packets`] of a table of `family`.
    pub fn packets_in(&self, family: u8, table: &str, chain: &str) -> Result<Option<u64>, Refused> {
        let seq = netlink::next_seq();
        let mut packets = None;
        self.dump(
            &list_rules_in(family, seq, table, chain),
            seq,
            "reading of a counter",
            |payload| {
                if let Some(n) = rule_packets(payload) {
                    *packets.get_or_insert(0) += n;
                }
            },
        )?;
        Ok(packets)
    }
}
