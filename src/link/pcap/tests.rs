use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::rc::Rc;

use super::*;
use crate::link::RxChecksum;
use crate::link::mem::{ArpNeighbour, MemLink, VirtualClock};
use crate::wire::MacAddr;
use crate::wire::arp::ArpRepr;

/// One record read back: seconds, nanoseconds, original length, bytes.
#[derive(Debug, PartialEq, Eq)]
struct Rec {
    sec: u32,
    nsec: u32,
    orig: u32,
    data: Vec<u8>,
}

fn le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Parses a whole capture; panics on a malformed or truncated one.
fn parse(bytes: &[u8]) -> Vec<Rec> {
    assert!(bytes.len() >= 24, "no file header");
    assert_eq!(le(bytes, 0), MAGIC_NANOS);
    let mut at = 24;
    let mut out = Vec::new();
    while at < bytes.len() {
        assert!(bytes.len() >= at + 16, "a truncated record header at {at}");
        let incl = le(bytes, at + 8) as usize;
        assert!(bytes.len() >= at + 16 + incl, "a truncated record at {at}");
        out.push(Rec {
            sec: le(bytes, at),
            nsec: le(bytes, at + 4),
            orig: le(bytes, at + 12),
            data: bytes[at + 16..at + 16 + incl].to_vec(),
        });
        at += 16 + incl;
    }
    out
}

fn at(sec: u64, nsec: u32) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::new(sec, nsec)
}

#[test]
fn the_file_header_is_classic_pcap_with_nanosecond_stamps_on_ethernet() {
    let bytes = PcapWriter::new(Vec::new()).unwrap().into_inner().unwrap();
    assert_eq!(
        bytes,
        [
            0x4d, 0x3c, 0xb2, 0xa1, // magic 0xa1b23c4d, little-endian: nanoseconds
            2, 0, 4, 0, // version 2.4
            0, 0, 0, 0, // thiszone
            0, 0, 0, 0, // sigfigs
            0, 0, 4, 0, // snaplen 262144
            1, 0, 0, 0, // LINKTYPE_ETHERNET
        ]
    );
}

#[test]
fn a_record_carries_nanoseconds_lengths_and_the_frame() {
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    w.record(at(1_700_000_000, 123_456_789), &[1, 2, 3])
        .unwrap();
    w.record(at(1_700_000_001, 999_999_999), &[9; 60]).unwrap();
    let bytes = w.into_inner().unwrap();
    assert_eq!(
        bytes[24..40],
        [
            0x00, 0xf1, 0x53, 0x65, // 1_700_000_000 s
            0x15, 0xcd, 0x5b, 0x07, // 123_456_789 ns
            3, 0, 0, 0, // captured
            3, 0, 0, 0, // on the wire
        ]
    );
    assert_eq!(
        parse(&bytes),
        vec![
            Rec {
                sec: 1_700_000_000,
                nsec: 123_456_789,
                orig: 3,
                data: vec![1, 2, 3]
            },
            Rec {
                sec: 1_700_000_001,
                nsec: 999_999_999,
                orig: 60,
                data: vec![9; 60]
            },
        ]
    );
}

#[test]
fn a_frame_past_the_snap_length_is_cut_and_says_how_long_it_was() {
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    let long = vec![7u8; SNAPLEN as usize + 10];
    w.record(at(1, 0), &long).unwrap();
    let recs = parse(&w.into_inner().unwrap());
    assert_eq!(recs[0].data.len(), SNAPLEN as usize);
    assert_eq!(recs[0].orig, SNAPLEN + 10);
}

#[test]
fn records_are_written_in_batches_not_one_by_one() {
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    w.record(at(1, 0), &[0; 100]).unwrap();
    assert_eq!(w.sink.len(), 24, "gathered, not written yet");
    for _ in 0..BATCH / 100 {
        w.record(at(1, 0), &[0; 100]).unwrap();
    }
    assert!(w.sink.len() > 24, "a full batch is written out");
    assert_eq!(parse(&w.sink).len() as u64, w.records_written());
}

/// A sink that takes `room` bytes, then fails mid-write (a full disk).
struct Full {
    bytes: Vec<u8>,
    room: usize,
}

impl Write for Full {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.room - self.bytes.len());
        if n == 0 {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        self.bytes.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for Full {
    fn cut(&mut self, len: u64) -> io::Result<()> {
        self.bytes.truncate(len as usize);
        Ok(())
    }
}

#[test]
fn a_failed_write_leaves_no_half_record_behind() {
    let mut w = PcapWriter::new(Full {
        bytes: Vec::new(),
        room: 24 + 3 * (16 + 1000) + 500,
    })
    .unwrap();
    for _ in 0..3 {
        w.record(at(1, 0), &[5; 1000]).unwrap();
    }
    w.flush().unwrap();
    // The next batch fits only in part.
    let mut failed = None;
    for _ in 0..100 {
        if let Err(e) = w.record(at(2, 0), &[6; 1000]) {
            failed = Some(e);
            break;
        }
    }
    assert_eq!(failed.unwrap().raw_os_error(), Some(libc::ENOSPC));
    assert_eq!(w.records_written(), 3);
    let recs = parse(&w.sink.bytes);
    assert_eq!(recs.len(), 3, "cut back to the last whole record");
    assert!(recs.iter().all(|r| r.data == [5; 1000]));
}

fn capture_file() -> (tempfile::TempDir, PathBuf, PcapFile) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.pcap");
    let file = PcapFile::create(&path).unwrap();
    (dir, path, file)
}

const US: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const PEER_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const ME: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);

#[test]
fn the_decorator_writes_what_is_sent_and_received_in_order() {
    let (_dir, path, file) = capture_file();
    let mem = MemLink::new(VirtualClock::default()).with(ArpNeighbour::new(PEER_MAC, [PEER]));
    let mut link = Capture::new(mem, Some(file.clone())).unwrap();
    let request = ArpRepr::request(US, ME, PEER).to_frame(US, MacAddr::broadcast());
    let before = SystemTime::now();
    link.send(&request).unwrap();
    let reply = link
        .recv(Duration::from_secs(1))
        .unwrap()
        .expect("the neighbour answers")
        .frame
        .to_vec();
    assert!(link.recv(Duration::from_millis(1)).unwrap().is_none());
    let after = SystemTime::now();
    // Frames still pass through unchanged.
    assert_eq!(
        link.get_ref().sent,
        vec![(crate::time::Instant::ZERO, request.clone())]
    );
    file.flush().unwrap();
    let recs = parse(&std::fs::read(&path).unwrap());
    assert_eq!(
        recs.iter().map(|r| r.data.clone()).collect::<Vec<_>>(),
        vec![request, reply]
    );
    // No kernel stamps on this link: the wall clock at the call.
    for r in &recs {
        let t = at(u64::from(r.sec), r.nsec);
        assert!(before <= t && t <= after, "{r:?}");
    }
    assert_eq!(file.frames(), 2);
}

#[test]
fn without_a_file_nothing_is_recorded_and_frames_pass() {
    let mem = MemLink::new(VirtualClock::default()).with(ArpNeighbour::new(PEER_MAC, [PEER]));
    let mut link = Capture::new(mem, None).unwrap();
    let request = ArpRepr::request(US, ME, PEER).to_frame(US, MacAddr::broadcast());
    link.send(&request).unwrap();
    assert!(link.recv(Duration::from_secs(1)).unwrap().is_some());
}

/// A link with kernel-like stamps, and optionally loopback's echo.
#[derive(Default)]
struct Stamped {
    inbox: VecDeque<Vec<u8>>,
    echo: bool,
    last: Vec<u8>,
    sent: Rc<RefCell<Vec<Vec<u8>>>>,
}

const TX_AT: (u64, u32) = (1_600_000_000, 111_111_111);
const RX_AT: (u64, u32) = (1_600_000_000, 222_222_222);

impl Link for Stamped {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        self.sent.borrow_mut().push(frame.to_vec());
        if self.echo {
            self.inbox.push_back(frame.to_vec());
        }
        Ok(())
    }
    fn recv(&mut self, _timeout: Duration) -> io::Result<Option<Received<'_>>> {
        let Some(f) = self.inbox.pop_front() else {
            return Ok(None);
        };
        self.last = f;
        Ok(Some(Received {
            frame: &self.last,
            checksum: RxChecksum::Valid,
        }))
    }
    fn rx_stamp(&self) -> Option<SystemTime> {
        Some(at(RX_AT.0, RX_AT.1))
    }
    fn tx_stamp(&mut self) -> Option<SystemTime> {
        Some(at(TX_AT.0, TX_AT.1))
    }
    fn echoes_sent(&self) -> bool {
        self.echo
    }
}

#[test]
fn the_kernels_stamps_are_used_where_the_link_has_them() {
    let (_dir, path, file) = capture_file();
    let inner = Stamped {
        inbox: VecDeque::from([vec![0xbb; 60]]),
        ..Stamped::default()
    };
    let mut link = Capture::new(inner, Some(file.clone())).unwrap();
    link.send(&[0xaa; 60]).unwrap();
    let rx = link.recv(Duration::ZERO).unwrap().unwrap();
    assert_eq!(rx.checksum, RxChecksum::Valid, "what the link said is kept");
    file.flush().unwrap();
    let recs = parse(&std::fs::read(&path).unwrap());
    let stamps: Vec<(u32, u32)> = recs.iter().map(|r| (r.sec, r.nsec)).collect();
    assert_eq!(
        stamps,
        vec![(TX_AT.0 as u32, TX_AT.1), (RX_AT.0 as u32, RX_AT.1)]
    );
}

#[test]
fn on_a_link_that_echoes_what_it_sends_each_frame_is_recorded_once_as_sent() {
    let (_dir, path, file) = capture_file();
    let inner = Stamped {
        echo: true,
        inbox: VecDeque::from([vec![0xcc; 60]]), // the peer's
        ..Stamped::default()
    };
    let mut link = Capture::new(inner, Some(file.clone())).unwrap();
    let mut mine = vec![0xaa; 60];
    mine[12..14].copy_from_slice(&[8, 0]);
    link.send(&mine).unwrap();
    // The peer's frame, then the echo of ours, which is not recorded again.
    assert_eq!(
        link.recv(Duration::ZERO).unwrap().unwrap().frame,
        [0xcc; 60]
    );
    assert_eq!(link.recv(Duration::ZERO).unwrap().unwrap().frame, mine);
    // A frame whose echo never comes is recorded all the same.
    link.send(&[0xdd; 60]).unwrap();
    file.flush().unwrap();
    let recs = parse(&std::fs::read(&path).unwrap());
    assert_eq!(recs.len(), 3);
    // Ours as lo shows it: all-zero addresses, the rest as sent.
    let mut shown = mine.clone();
    shown[..12].fill(0);
    assert_eq!(recs[0].data, shown);
    assert_eq!((recs[0].sec, recs[0].nsec), (TX_AT.0 as u32, TX_AT.1));
    assert_eq!(recs[1].data, [0xcc; 60]);
    assert_eq!(recs[2].data[12..], [0xdd; 48]);
}

#[test]
fn two_links_of_one_command_share_one_file() {
    let (_dir, path, file) = capture_file();
    for byte in [1u8, 2] {
        let mut link = Capture::new(Stamped::default(), Some(file.clone())).unwrap();
        link.send(&[byte; 20]).unwrap();
    }
    file.flush().unwrap();
    let recs = parse(&std::fs::read(&path).unwrap());
    assert_eq!(
        recs.iter().map(|r| r.data[0]).collect::<Vec<_>>(),
        vec![1, 2]
    );
}

#[test]
fn an_unwritable_path_says_which_and_why() {
    let err = PcapFile::create(Path::new("/nonexistent-dir/run.pcap"))
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(msg.contains("/nonexistent-dir/run.pcap"), "{msg}");
    assert!(msg.contains("No such file"), "{msg}");
}

#[test]
fn a_file_that_takes_no_bytes_is_refused_before_the_run() {
    // /dev/full takes the header's open but fails every write: the header
    // itself cannot be written.
    let err = PcapFile::create(Path::new("/dev/full")).err().unwrap();
    assert!(err.to_string().contains("/dev/full"), "{err}");
    assert_eq!(err.raw_os_error(), None, "wrapped with its context");
    assert!(err.to_string().contains("No space left"), "{err}");
}

#[test]
fn what_is_gathered_is_written_out_when_the_link_goes_idle() {
    let (_dir, path, file) = capture_file();
    let mem = MemLink::new(VirtualClock::default()).with(ArpNeighbour::new(PEER_MAC, [PEER]));
    let mut link = Capture::new(mem, Some(file.clone())).unwrap();
    let request = ArpRepr::request(US, ME, PEER).to_frame(US, MacAddr::broadcast());
    link.send(&request).unwrap();
    assert!(
        link.recv(Duration::ZERO).unwrap().is_none(),
        "not yet delivered"
    );
    assert_eq!(parse(&std::fs::read(&path).unwrap()).len(), 0, "gathered");
    assert!(link.recv(Duration::from_secs(1)).unwrap().is_some());
    assert!(link.recv(Duration::from_secs(1)).unwrap().is_none());
    assert_eq!(
        parse(&std::fs::read(&path).unwrap()).len(),
        2,
        "written out while idle, without a flush"
    );
    drop(file);
}
