//! The loopback link.
//!
//! A frame injected into `lo` through AF_PACKET is counted by the IP layer
//! but never reaches TCP (linux-facts.md), so on loopback nettool sends
//! its IPv4 packets through a raw IP socket (`IPPROTO_RAW`, header
//! included; IPv6 ones through an `AF_INET6` one, whose `IPPROTO_RAW`
//! includes the header too) and still receives through AF_PACKET on `lo`, where frames
//! carry an all-zero Ethernet header. Packets sent this way do pass the
//! `output` hook, so the socket marks them with [`GUARD_MARK`], which the
//! RST guard lets through: nettool's own RSTs must still leave.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::packet::{OpenError, PacketLink};
use super::{Filter, Link, Received};
use crate::guard::GUARD_MARK;
use crate::sys;
use crate::wire::ethernet;

/// Sends through a raw IP socket, receives through AF_PACKET on `lo`.
pub struct LoopbackLink {
    rx: PacketLink,
    raw: OwnedFd,
    /// `None` where the kernel has no IPv6.
    raw6: Option<OwnedFd>,
}

impl LoopbackLink {
    /// Opens the link on the loopback interface with index `ifindex`.
    pub fn open(ifindex: u32) -> Result<LoopbackLink, OpenError> {
        // IPv4 and IPv6 both: the interface above sorts them.
        let rx = PacketLink::open(ifindex, Filter::All)?;
        let raw = sys::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW)
            .map_err(|e| OpenError::opening("lo", e))?;
        let raw6 = sys::socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_RAW).ok();
        let mark: libc::c_uint = GUARD_MARK;
        // Without CAP_NET_ADMIN this fails; the guard then also drops our
        // own RSTs on loopback, which costs the peer a timeout, not
        // correctness.
        for fd in std::iter::once(&raw).chain(raw6.as_ref()) {
            let _ = sys::setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_MARK, &mark);
        }
        Ok(LoopbackLink { rx, raw, raw6 })
    }

    /// See [`PacketLink::grow_receive_buffer`].
    pub fn grow_receive_buffer(&mut self, bytes: usize) -> io::Result<()> {
        self.rx.grow_receive_buffer(bytes)
    }
}

impl Link for LoopbackLink {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        if frame.get(12..14) == Some(&[0x86, 0xdd][..]) {
            let raw6 = self
                .raw6
                .as_ref()
                .ok_or_else(|| io::Error::other("this kernel has no IPv6 raw socket"))?;
            let packet = frame
                .get(ethernet::HEADER_LEN..)
                .filter(|p| p.len() >= 40)
                .ok_or_else(|| io::Error::other("frame too short to carry IPv6"))?;
            let dst: [u8; 16] = packet[24..40].try_into().expect("16 bytes");
            let addr = sys::sockaddr_in6(dst.into(), 0);
            return sys::sendto(raw6.as_raw_fd(), packet, &addr).map(drop);
        }
        let packet = frame
            .get(ethernet::HEADER_LEN..)
            .filter(|p| p.len() >= 20)
            .ok_or_else(|| io::Error::other("frame too short to carry IPv4"))?;
        let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
        let addr = sys::sockaddr_in(dst, 0);
        sys::sendto(self.raw.as_raw_fd(), packet, &addr).map(drop)
    }

    fn recv(&mut self, timeout: Duration) -> io::Result<Option<Received<'_>>> {
        self.rx.recv(timeout)
    }

    fn poll_fd(&self) -> Option<RawFd> {
        self.rx.poll_fd()
    }

    fn receive_drops(&mut self) -> Option<u64> {
        self.rx.receive_drops()
    }

    fn enable_rx_stamps(&mut self) -> io::Result<()> {
        self.rx.enable_rx_timestamps()
    }

    /// A packet sent through the raw IP socket loops back through `lo`,
    /// where the receiving socket reads it too, with the all-zero
    /// Ethernet header `lo` gives every frame (and tcpdump on `lo` shows).
    fn echoes_sent(&self) -> bool {
        true
    }
}
