//! Reading a saved capture: the classic pcap format (both byte orders,
//! micro- or nanosecond stamps) whose frames are Ethernet (as `--pcap` and
//! `tcpdump -w` on an Ethernet interface write them) or Linux cooked
//! captures (`tcpdump -i any`: SLL and SLL2). Every IPv4 TCP segment in
//! the file comes out as a [`Captured`], with its time; other frames are
//! counted and skipped.
//!
//! Our own reader rather than the `pcap-file` crate, for the reasons
//! `link::pcap` gives for the writer (its stable line is old, it brings
//! thiserror 1 beside our thiserror 2): reading is a header, a loop over
//! 16-byte record headers and three link types.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::wire::ethernet::EthernetRepr;
use crate::wire::tcp::{ChecksumMode, Flags, TcpOption, TcpRepr};

/// One TCP segment read from a capture: its header's fields, no payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// Since the Unix epoch, as the file stamps it.
    pub at: Duration,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// Absolute SEG.SEQ and SEG.ACK.
    pub seq: u32,
    pub ack: Option<u32>,
    pub flags: Flags,
    pub win: u16,
    /// Payload octets.
    pub len: usize,
    /// The window scale option's shift (RFC 7323 §2), if present.
    pub wscale: Option<u8>,
    /// The SACK option's blocks (RFC 2018), absolute `[left, right)`.
    pub sack: Vec<(u32, u32)>,
    /// The timestamps option's TSval and TSecr (RFC 7323 §3), if present.
    pub ts: Option<(u32, u32)>,
}

impl Captured {
    /// The fields of `tcp`, sent from `src` to `dst` at `at`.
    pub fn of(at: Duration, src: SocketAddr, dst: SocketAddr, tcp: &TcpRepr) -> Captured {
        Captured {
            at,
            src,
            dst,
            seq: tcp.seq.get(),
            ack: tcp.ack.map(|a| a.get()),
            flags: tcp.flags,
            win: tcp.window,
            len: tcp.payload.len(),
            wscale: tcp.window_scale(),
            sack: tcp
                .options
                .iter()
                .find_map(|o| match o {
                    TcpOption::Sack(blocks) => {
                        Some(blocks.iter().map(|(l, r)| (l.get(), r.get())).collect())
                    }
                    _ => None,
                })
                .unwrap_or_default(),
            ts: tcp.timestamps(),
        }
    }
}

/// What a capture holds, once read.
#[derive(Debug, Default)]
pub struct Capture {
    pub segments: Vec<Captured>,
    /// Frames that were not IPv4 TCP (ARP, UDP, IPv6...).
    pub other: usize,
}

/// Why a file could not be read as a capture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    #[error("the file is shorter than a pcap header (24 bytes): not a capture")]
    TooShort,
    #[error(
        "the file is pcapng, not classic pcap: convert it with `tcpdump -r FILE -w OUT.pcap` \
         (or `editcap -F pcap FILE OUT.pcap`)"
    )]
    Pcapng,
    #[error("not a pcap file (its first four bytes are {0:02x?}, no pcap magic)")]
    NotPcap([u8; 4]),
    #[error(
        "link type {0} is not supported: nettool reads Ethernet (1) and Linux cooked \
         captures (113, 276); capture on an Ethernet interface or with `tcpdump -i any`"
    )]
    LinkType(u32),
    #[error("the capture is cut short in record {0} (a record header or frame is incomplete)")]
    Truncated(usize),
}

/// `LINKTYPE_ETHERNET`, `LINKTYPE_LINUX_SLL`, `LINKTYPE_LINUX_SLL2`.
const ETHERNET: u32 = 1;
const SLL: u32 = 113;
const SLL2: u32 = 276;
/// The EtherType of IPv4, as the cooked headers carry it too.
const IPV4: u16 = 0x0800;
const IPV6: u16 = 0x86dd;

/// Reads a whole capture file's bytes.
pub fn read(bytes: &[u8]) -> Result<Capture, CaptureError> {
    let head: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(CaptureError::TooShort)?;
    let (little, nanos) = match (u32::from_le_bytes(head), u32::from_be_bytes(head)) {
        (0xa1b2_c3d4, _) => (true, false),
        (0xa1b2_3c4d, _) => (true, true),
        (_, 0xa1b2_c3d4) => (false, false),
        (_, 0xa1b2_3c4d) => (false, true),
        (0x0a0d_0d0a, _) => return Err(CaptureError::Pcapng),
        _ => return Err(CaptureError::NotPcap(head)),
    };
    if bytes.len() < 24 {
        return Err(CaptureError::TooShort);
    }
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    // The low 16 bits name the link type; the high ones may carry FCS
    // information (pcap-linktype(7)).
    let link = u32_at(20).ok_or(CaptureError::TooShort)? & 0xffff;
    if !matches!(link, ETHERNET | SLL | SLL2) {
        return Err(CaptureError::LinkType(link));
    }
    let mut capture = Capture::default();
    let mut at = 24;
    let mut record = 0;
    while at < bytes.len() {
        record += 1;
        let header = (u32_at(at), u32_at(at + 4), u32_at(at + 8));
        let (Some(secs), Some(frac), Some(caplen)) = header else {
            return Err(CaptureError::Truncated(record));
        };
        let start = at + 16;
        let frame = bytes
            .get(start..start + caplen as usize)
            .ok_or(CaptureError::Truncated(record))?;
        at = start + caplen as usize;
        let stamp = Duration::from_secs(secs.into())
            + if nanos {
                Duration::from_nanos(frac.into())
            } else {
                Duration::from_micros(frac.into())
            };
        match tcp_of(link, stamp, frame) {
            Some(seg) => capture.segments.push(seg),
            None => capture.other += 1,
        }
    }
    Ok(capture)
}

/// The TCP segment a frame carries, if it carries one, over IPv4 or
/// IPv6. Checksums are not verified: a capture taken on the sending host
/// holds frames the NIC had yet to complete.
fn tcp_of(link: u32, at: Duration, frame: &[u8]) -> Option<Captured> {
    let (protocol, packet) = match link {
        ETHERNET => {
            let (eth, payload) = EthernetRepr::parse(frame).ok()?;
            let protocol = match eth.protocol {
                crate::wire::ethernet::Protocol::Ipv4 => IPV4,
                crate::wire::ethernet::Protocol::Ipv6 => IPV6,
                _ => return None,
            };
            (protocol, payload)
        }
        // SLL: packet type, ARPHRD, address length, 8 address bytes, then
        // the protocol (2 bytes) at offset 14; 16 bytes in all.
        SLL => (
            u16::from_be_bytes(frame.get(14..16)?.try_into().ok()?),
            frame.get(16..)?,
        ),
        // SLL2: the protocol first, then 18 more bytes; 20 in all.
        _ => (
            u16::from_be_bytes(frame.get(..2)?.try_into().ok()?),
            frame.get(20..)?,
        ),
    };
    let (src, dst, tcp) = match protocol {
        IPV4 => {
            let (ip, tcp) = TcpRepr::from_ipv4_packet(packet, ChecksumMode::Skip).ok()?;
            (IpAddr::V4(ip.src), IpAddr::V4(ip.dst), tcp)
        }
        IPV6 => {
            let (ip, tcp) = TcpRepr::from_ipv6_packet(packet, ChecksumMode::Skip).ok()?;
            (IpAddr::V6(ip.src), IpAddr::V6(ip.dst), tcp)
        }
        _ => return None,
    };
    Some(Captured::of(
        at,
        SocketAddr::new(src, tcp.src_port),
        SocketAddr::new(dst, tcp.dst_port),
        &tcp,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp::TcpRepr;
    use crate::wire::{MacAddr, SeqNum, ipv4::Ipv4Repr};

    /// A SYN from 10.0.0.1:40000 to 10.0.0.2:80 as an Ethernet frame.
    fn syn_frame() -> Vec<u8> {
        let tcp = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNum(1000),
            ack: None,
            flags: Flags::SYN,
            window: 64240,
            urgent: 0,
            options: Vec::new(),
            payload: &[],
        };
        let ip = Ipv4Repr::new(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            crate::wire::ipv4::IpProtocol::Tcp,
            tcp.buffer_len(),
        );
        tcp.to_frame(MacAddr(2, 0, 0, 0, 0, 1), MacAddr(2, 0, 0, 0, 0, 2), &ip)
    }

    /// A big-endian, microsecond file, as some tools still write them.
    #[test]
    fn a_big_endian_microsecond_file_is_read() {
        let frame = syn_frame();
        let mut file = 0xa1b2_c3d4u32.to_be_bytes().to_vec();
        file.extend(2u16.to_be_bytes());
        file.extend(4u16.to_be_bytes());
        for word in [0u32, 0, 65535, 1] {
            file.extend(word.to_be_bytes());
        }
        for word in [7u32, 250_000, frame.len() as u32, frame.len() as u32] {
            file.extend(word.to_be_bytes());
        }
        file.extend(&frame);
        let capture = read(&file).unwrap();
        assert_eq!(capture.other, 0);
        let seg = &capture.segments[0];
        assert_eq!(seg.at, Duration::from_micros(7_250_000));
        assert_eq!(seg.src, "10.0.0.1:40000".parse().unwrap());
        assert_eq!((seg.seq, seg.ack, seg.flags), (1000, None, Flags::SYN));
    }

    /// An IPv6 SYN, on Ethernet and as a Linux cooked capture (SLL)
    /// would hold it, is read with its IPv6 addresses.
    #[test]
    fn ipv6_segments_are_read() {
        let tcp = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNum(1000),
            ack: None,
            flags: Flags::SYN,
            window: 64240,
            urgent: 0,
            options: Vec::new(),
            payload: &[],
        };
        let ip = crate::wire::ipv6::Ipv6Repr::new(
            "fd00:6e74::1".parse().unwrap(),
            "fd00:6e74::2".parse().unwrap(),
            crate::wire::ipv6::NextHeader::Tcp,
            64,
            0,
        );
        let frame = tcp.to_ipv6_frame_with(
            MacAddr(2, 0, 0, 0, 0, 1),
            MacAddr(2, 0, 0, 0, 0, 2),
            &ip,
            crate::wire::tcp::ChecksumFill::Complete,
        );
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x86, 0xdd]);
        sll.extend_from_slice(&frame[14..]);
        for (link, bytes) in [(ETHERNET, &frame), (SLL, &sll)] {
            let seg = tcp_of(link, Duration::ZERO, bytes).expect("a segment");
            assert_eq!(seg.src, "[fd00:6e74::1]:40000".parse().unwrap());
            assert_eq!(seg.dst, "[fd00:6e74::2]:80".parse().unwrap());
            assert_eq!(seg.flags, Flags::SYN);
        }
    }

    #[test]
    fn what_is_not_a_classic_capture_is_named() {
        assert_eq!(read(&[1, 2]).unwrap_err(), CaptureError::TooShort);
        assert_eq!(
            read(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0]).unwrap_err(),
            CaptureError::Pcapng
        );
        let mut file = vec![0u8; 24];
        file[..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes());
        // The high bits of the link type carry FCS flags, not the type.
        file[20..24].copy_from_slice(&(0x1000_0000u32 | 101).to_le_bytes());
        assert_eq!(read(&file).unwrap_err(), CaptureError::LinkType(101));
    }
}
