//! Kernel timestamps on an AF_PACKET socket, read from the control
//! messages of `recvmsg`: the receive stamp of a frame, and the transmit
//! stamps the kernel reports on the socket's error queue.
//!
//! The parsing works on the control bytes alone (no pointers, no libc
//! macros) so that every case can be tested with hand-made buffers. The
//! layout is the kernel's, not libc's: `struct cmsghdr` is a `size_t`
//! length, then level and type as `int`s, and every header and payload is
//! aligned to `sizeof(long)`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::PACKET_AUXDATA;

/// `PACKET_TX_TIMESTAMP`: the level-`SOL_PACKET` type of the
/// `sock_extended_err` that comes with each transmit stamp.
const PACKET_TX_TIMESTAMP: i32 = 16;
/// `ee_info` of a stamp taken when the driver took the frame
/// (`skb_tx_timestamp`).
const SCM_TSTAMP_SND: u32 = 0;
/// `ee_info` of a stamp taken as the frame entered the device's queueing
/// layer (`__dev_queue_xmit`), before the taps that tcpdump reads.
const SCM_TSTAMP_SCHED: u32 = 1;

/// What the socket asks for with `SO_TIMESTAMPING`:
/// - `TX_SCHED` and `TX_SOFTWARE`: a stamp as the frame enters the device
///   layer, and one when the driver takes it (only if the driver stamps:
///   veth does, as checked on Linux 6.18; some drivers never do);
/// - `SOFTWARE`: report software stamps (without it, none are returned);
/// - `OPT_ID`: each stamp carries the count of sends before its frame, so a
///   late stamp is never taken for the frame just sent;
/// - `OPT_TSONLY`: the report carries no copy of the frame.
pub(super) const TX_FLAGS: u32 = libc::SOF_TIMESTAMPING_TX_SCHED
    | libc::SOF_TIMESTAMPING_TX_SOFTWARE
    | libc::SOF_TIMESTAMPING_SOFTWARE
    | libc::SOF_TIMESTAMPING_OPT_ID
    | libc::SOF_TIMESTAMPING_OPT_TSONLY;

/// Bytes for the control messages of one `recvmsg`. A frame brings
/// `tpacket_auxdata` (40 with its header), `SCM_TIMESTAMPNS` (32) and, once
/// `SO_TIMESTAMPING` is on, an `SCM_TIMESTAMPING` (64); an error-queue
/// report brings the last two and a `sock_extended_err` with the
/// offender's address (48). 512 leaves room, so `MSG_CTRUNC` never cuts
/// off the stamp.
pub(super) const CONTROL_LEN: usize = 512;

/// One control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cmsg<'a> {
    pub level: i32,
    pub kind: i32,
    pub data: &'a [u8],
}

const ALIGN: usize = std::mem::size_of::<usize>();
const HDR_LEN: usize = align(std::mem::size_of::<usize>() + 8);

const fn align(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

/// The control messages in `control` (the first `msg_controllen` bytes a
/// `recvmsg` returned). A message whose length runs past the end, or is
/// shorter than its header, ends the walk: the kernel never writes one,
/// and trusting it would read beyond the buffer.
pub(super) fn cmsgs(control: &[u8]) -> impl Iterator<Item = Cmsg<'_>> {
    let mut rest = control;
    std::iter::from_fn(move || {
        if rest.len() < HDR_LEN {
            return None;
        }
        let len = usize::from_ne_bytes(rest[..ALIGN].try_into().ok()?);
        if len < HDR_LEN || len > rest.len() {
            rest = &[];
            return None;
        }
        let level = i32::from_ne_bytes(rest[ALIGN..ALIGN + 4].try_into().ok()?);
        let kind = i32::from_ne_bytes(rest[ALIGN + 4..ALIGN + 8].try_into().ok()?);
        let data = &rest[HDR_LEN..len];
        rest = rest.get(align(len)..).unwrap_or(&[]);
        Some(Cmsg { level, kind, data })
    })
}

/// A `struct timespec` as the kernel writes it for this ABI: `time_t`
/// seconds, then `long` nanoseconds. `None` for the all-zero "no stamp"
/// the kernel leaves in unused slots, or for a malformed value.
fn timespec(bytes: &[u8]) -> Option<SystemTime> {
    const SEC: usize = std::mem::size_of::<libc::time_t>();
    const NSEC: usize = std::mem::size_of::<libc::c_long>();
    let sec = libc::time_t::from_ne_bytes(bytes.get(..SEC)?.try_into().ok()?);
    let nsec = libc::c_long::from_ne_bytes(bytes.get(SEC..SEC + NSEC)?.try_into().ok()?);
    if (sec, nsec) == (0, 0) {
        return None;
    }
    let sec = u64::try_from(sec).ok()?;
    let nsec = u32::try_from(nsec).ok().filter(|&n| n < 1_000_000_000)?;
    Some(UNIX_EPOCH + Duration::new(sec, nsec))
}

/// What the control messages of one received frame say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct RxInfo {
    /// `tp_status` of `PACKET_AUXDATA`.
    pub status: Option<u32>,
    /// The kernel's receive stamp (`SCM_TIMESTAMPNS`), on `CLOCK_REALTIME`.
    pub stamp: Option<SystemTime>,
}

/// Reads the auxdata and the receive stamp of a frame.
pub(super) fn rx_info(control: &[u8]) -> RxInfo {
    let mut info = RxInfo::default();
    for c in cmsgs(control) {
        if c.level == libc::SOL_PACKET && c.kind == PACKET_AUXDATA {
            // tp_status is the first field of tpacket_auxdata.
            info.status = c
                .data
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_ne_bytes);
        } else if c.level == libc::SOL_SOCKET && c.kind == libc::SCM_TIMESTAMPNS {
            info.stamp = timespec(c.data);
        }
    }
    info
}

/// Where on its way out a transmit stamp was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TxPoint {
    /// Entering the device's queueing layer, just before the taps that
    /// hand a copy to tcpdump (`SCM_TSTAMP_SCHED`).
    Scheduled,
    /// Handed to the driver (`SCM_TSTAMP_SND`): the last moment software
    /// sees, the closest to leaving.
    Driver,
}

/// One transmit stamp from the error queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TxReport {
    /// `ee_data`: the frame's number, counting sends from 0 (`OPT_ID`).
    pub key: u32,
    pub point: TxPoint,
    pub at: SystemTime,
}

/// Reads one error-queue message: a transmit stamp, or `None` for
/// anything else (another origin, a stamp type nettool does not ask for,
/// no software stamp).
pub(super) fn tx_report(control: &[u8]) -> Option<TxReport> {
    let mut stamp = None;
    let mut ee = None;
    for c in cmsgs(control) {
        if c.level == libc::SOL_SOCKET && c.kind == libc::SCM_TIMESTAMPING {
            // struct scm_timestamping: ts[0] software, ts[1] unused, ts[2]
            // hardware. nettool asks for software stamps only.
            stamp = timespec(c.data);
        } else if c.level == libc::SOL_PACKET && c.kind == PACKET_TX_TIMESTAMP {
            ee = extended_err(c.data);
        }
    }
    let (info, key) = ee?;
    let point = match info {
        SCM_TSTAMP_SND => TxPoint::Driver,
        SCM_TSTAMP_SCHED => TxPoint::Scheduled,
        _ => return None,
    };
    Some(TxReport {
        key,
        point,
        at: stamp?,
    })
}

/// `ee_info` and `ee_data` of a `struct sock_extended_err` that reports a
/// timestamp (`ee_errno` `ENOMSG`, origin `SO_EE_ORIGIN_TIMESTAMPING`).
fn extended_err(b: &[u8]) -> Option<(u32, u32)> {
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let errno = word(0)?;
    let origin = *b.get(4)?;
    if errno != libc::ENOMSG as u32 || origin != libc::SO_EE_ORIGIN_TIMESTAMPING {
        return None;
    }
    Some((word(8)?, word(12)?))
}

/// When a frame left, as the kernel stamped it on its way out, on
/// `CLOCK_REALTIME` like every kernel packet stamp. On the way out a frame
/// is stamped as it enters the device layer, then handed to the taps
/// (where tcpdump's copy is stamped), then to the driver, stamped again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Departure {
    /// Entering the device layer (`SCM_TSTAMP_SCHED`).
    pub scheduled: Option<SystemTime>,
    /// Handed to the driver (`SCM_TSTAMP_SND`), if the driver stamps.
    pub driver: Option<SystemTime>,
}

impl Departure {
    /// The stamp nearest to the one a capture on the interface shows:
    /// the device layer's, taken just before the taps. The driver's comes
    /// after every tap has had its copy, later by what they cost (a few
    /// µs with tcpdump on veth, more under load).
    pub fn as_captured(&self) -> Option<SystemTime> {
        self.scheduled.or(self.driver)
    }

    /// The last moment software saw the frame: the driver's stamp, else
    /// the device layer's.
    pub fn last_seen(&self) -> Option<SystemTime> {
        self.driver.or(self.scheduled)
    }
}

/// Which transmit stamps belong to the last frame sent.
///
/// The kernel numbers the frames of a socket from 0 once `OPT_ID` is on
/// and puts the number in every stamp; this counts along. A stamp for
/// another number (a frame sent earlier, stamped late after a queueing
/// delay) is dropped rather than taken for the last frame's.
#[derive(Debug, Clone, Default)]
pub(super) struct TxStamps {
    /// The number the kernel gives the next frame.
    next_key: u32,
    /// The last frame's number, while its stamps are wanted.
    last: Option<u32>,
    stamps: Departure,
}

impl TxStamps {
    /// A frame was handed to the kernel.
    pub fn sent(&mut self) {
        self.last = Some(self.next_key);
        self.next_key = self.next_key.wrapping_add(1);
        self.stamps = Departure::default();
    }

    /// Starts counting afresh: the kernel's count restarts at 0 when
    /// `OPT_ID` is switched on again (see `PacketLink::rearm_tx_timestamps`).
    pub fn restart(&mut self) {
        *self = TxStamps::default();
    }

    /// Files a report under the last frame if it is that frame's; whether it was.
    pub fn record(&mut self, r: TxReport) -> bool {
        if self.last != Some(r.key) {
            return false;
        }
        match r.point {
            TxPoint::Scheduled => self.stamps.scheduled = Some(r.at),
            TxPoint::Driver => self.stamps.driver = Some(r.at),
        }
        true
    }

    /// The last frame's stamps, once at least one came.
    pub fn last(&self) -> Option<Departure> {
        self.last?;
        (self.stamps != Departure::default()).then_some(self.stamps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// A control message as the kernel lays it out.
    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(HDR_LEN + data.len()).to_ne_bytes());
        b.extend_from_slice(&level.to_ne_bytes());
        b.extend_from_slice(&kind.to_ne_bytes());
        b.resize(HDR_LEN, 0);
        b.extend_from_slice(data);
        b.resize(align(b.len()), 0);
        b
    }

    fn ts(sec: i64, nsec: i64) -> Vec<u8> {
        let mut b = (sec as libc::time_t).to_ne_bytes().to_vec();
        b.extend_from_slice(&(nsec as libc::c_long).to_ne_bytes());
        b
    }

    /// `struct scm_timestamping` with a software stamp only.
    fn scm_timestamping(sec: i64, nsec: i64) -> Vec<u8> {
        [ts(sec, nsec), ts(0, 0), ts(0, 0)].concat()
    }

    /// `struct sock_extended_err` plus the offender's (empty) sockaddr_in.
    fn ee(errno: i32, origin: u8, info: u32, data: u32) -> Vec<u8> {
        let mut b = (errno as u32).to_ne_bytes().to_vec();
        b.extend_from_slice(&[origin, 0, 0, 0]);
        b.extend_from_slice(&info.to_ne_bytes());
        b.extend_from_slice(&data.to_ne_bytes());
        b.extend_from_slice(&[0; 16]);
        b
    }

    fn at(sec: u64, nsec: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(sec, nsec)
    }

    /// An `SCM_TIMESTAMPING` message with a software stamp.
    fn sw_stamp(sec: i64, nsec: i64) -> Vec<u8> {
        cmsg(
            libc::SOL_SOCKET,
            libc::SCM_TIMESTAMPING,
            &scm_timestamping(sec, nsec),
        )
    }
    const TS_ERR: u8 = libc::SO_EE_ORIGIN_TIMESTAMPING;

    #[rstest]
    // What Linux sends for a SCHED stamp of frame 5 (SCM_TIMESTAMPNS first).
    #[case(
        [cmsg(libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &ts(9, 9)), sw_stamp(1_700_000_000, 123_456_789),
         cmsg(libc::SOL_PACKET, PACKET_TX_TIMESTAMP, &ee(libc::ENOMSG, TS_ERR, SCM_TSTAMP_SCHED, 5))].concat(),
        Some(TxReport { key: 5, point: TxPoint::Scheduled, at: at(1_700_000_000, 123_456_789) })
    )]
    #[case(
        [sw_stamp(7, 1), cmsg(libc::SOL_PACKET, PACKET_TX_TIMESTAMP, &ee(libc::ENOMSG, TS_ERR, SCM_TSTAMP_SND, u32::MAX))].concat(),
        Some(TxReport { key: u32::MAX, point: TxPoint::Driver, at: at(7, 1) })
    )]
    // The order of the messages does not matter.
    #[case(
        [cmsg(libc::SOL_PACKET, PACKET_TX_TIMESTAMP, &ee(libc::ENOMSG, TS_ERR, SCM_TSTAMP_SND, 0)), sw_stamp(7, 1)].concat(),
        Some(TxReport { key: 0, point: TxPoint::Driver, at: at(7, 1) })
    )]
    // An ACK stamp (TCP only) is not a departure.
    #[case([sw_stamp(7, 1), cmsg(libc::SOL_PACKET, PACKET_TX_TIMESTAMP, &ee(libc::ENOMSG, TS_ERR, 2, 0))].concat(), None)]
    // Another kind of error (an ICMP error on an IP socket) is not a stamp.
    #[case([sw_stamp(7, 1), cmsg(libc::SOL_PACKET, PACKET_TX_TIMESTAMP, &ee(libc::EHOSTUNREACH, 2, 0, 0))].concat(), None)]
    // A report without a software stamp (all zero), or without the error.
    #[case([sw_stamp(0, 0), cmsg(libc::SOL_PACKET, PACKET_TX_TIMESTAMP, &ee(libc::ENOMSG, TS_ERR, 0, 0))].concat(), None)]
    #[case(sw_stamp(7, 1), None)]
    // A nanosecond field out of range is malformed.
    #[case([sw_stamp(7, 1_000_000_000), cmsg(libc::SOL_PACKET, PACKET_TX_TIMESTAMP, &ee(libc::ENOMSG, TS_ERR, 0, 0))].concat(), None)]
    // Truncated error structure.
    #[case([sw_stamp(7, 1), cmsg(libc::SOL_PACKET, PACKET_TX_TIMESTAMP, &[0; 10])].concat(), None)]
    #[case(Vec::new(), None)]
    fn transmit_reports(#[case] control: Vec<u8>, #[case] want: Option<TxReport>) {
        assert_eq!(tx_report(&control), want);
    }

    #[rstest]
    #[case(
        [cmsg(libc::SOL_PACKET, PACKET_AUXDATA, &[8, 0, 0, 0, 60, 0, 0, 0]),
         cmsg(libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &ts(5, 250))].concat(),
        RxInfo { status: Some(8), stamp: Some(at(5, 250)) }
    )]
    // SO_TIMESTAMPING adds its own message to every frame: ignored here.
    #[case(
        [sw_stamp(1, 1), cmsg(libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &ts(5, 250))].concat(),
        RxInfo { status: None, stamp: Some(at(5, 250)) }
    )]
    #[case(cmsg(libc::SOL_PACKET, PACKET_AUXDATA, &[0x80, 0, 0, 0]), RxInfo { status: Some(0x80), stamp: None })]
    #[case(Vec::new(), RxInfo::default())]
    fn receive_info(#[case] control: Vec<u8>, #[case] want: RxInfo) {
        assert_eq!(rx_info(&control), want);
    }

    #[test]
    fn a_length_past_the_end_stops_the_walk() {
        let mut b = [
            cmsg(libc::SOL_PACKET, PACKET_AUXDATA, &[1, 0, 0, 0]),
            cmsg(libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &ts(5, 250)),
        ]
        .concat();
        let second = align(HDR_LEN + 4);
        b[second..second + ALIGN].copy_from_slice(&4096usize.to_ne_bytes());
        let kinds: Vec<i32> = cmsgs(&b).map(|c| c.kind).collect();
        assert_eq!(kinds, vec![PACKET_AUXDATA]);
        // A length shorter than the header, and a buffer cut mid-header.
        b[..ALIGN].copy_from_slice(&3usize.to_ne_bytes());
        assert_eq!(cmsgs(&b).count(), 0);
        assert_eq!(cmsgs(&b[..HDR_LEN - 1]).count(), 0);
    }

    fn report(key: u32, point: TxPoint, nsec: u32) -> TxReport {
        TxReport {
            key,
            point,
            at: at(100, nsec),
        }
    }

    #[test]
    fn stamps_are_filed_under_their_own_frame_only() {
        let mut s = TxStamps::default();
        assert_eq!(s.last(), None, "nothing sent yet");
        assert!(!s.record(report(0, TxPoint::Scheduled, 1)));
        s.sent(); // frame 0
        assert_eq!(s.last(), None, "not stamped yet");
        assert!(s.record(report(0, TxPoint::Scheduled, 10)));
        let d = s.last().unwrap();
        assert_eq!(
            (d.as_captured(), d.last_seen()),
            (Some(at(100, 10)), Some(at(100, 10)))
        );
        assert!(s.record(report(0, TxPoint::Driver, 12)));
        let d = s.last().unwrap();
        assert_eq!(
            (d.as_captured(), d.last_seen()),
            (Some(at(100, 10)), Some(at(100, 12)))
        );
        s.sent(); // frame 1
        assert_eq!(s.last(), None, "frame 0's stamps are not frame 1's");
        // Frame 0's driver stamp, late: dropped, never frame 1's.
        assert!(!s.record(report(0, TxPoint::Driver, 15)));
        assert_eq!(s.last(), None);
        // A driver that stamps while the device layer did not.
        assert!(s.record(report(1, TxPoint::Driver, 20)));
        let d = s.last().unwrap();
        assert_eq!(
            (d.as_captured(), d.last_seen()),
            (Some(at(100, 20)), Some(at(100, 20)))
        );
        s.restart();
        assert_eq!(s.last(), None);
        s.sent();
        assert!(
            s.record(report(0, TxPoint::Driver, 30)),
            "counting from 0 again"
        );
    }

    #[test]
    fn the_count_wraps_like_the_kernels() {
        let mut s = TxStamps {
            next_key: u32::MAX,
            ..TxStamps::default()
        };
        s.sent();
        assert!(s.record(report(u32::MAX, TxPoint::Driver, 1)));
        s.sent();
        assert!(s.record(report(0, TxPoint::Driver, 2)));
    }
}
