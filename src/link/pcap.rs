//! `--pcap FILE`: every frame a link moves, written to a classic pcap file
//! that `tcpdump -r` and Wireshark read.
//!
//! - [`PcapWriter`] writes the format: a 24-byte file header (magic
//!   `0xa1b23c4d`, nanosecond stamps; link type Ethernet), then per frame a
//!   16-byte record header (seconds, nanoseconds, captured and original
//!   length) and the frame, all little-endian (the magic tells readers
//!   which). Records are assembled whole in a buffer and written out in
//!   batches; if writing fails, the file is cut back to the end of the
//!   last complete record, so a reader never meets half a frame.
//! - [`PcapFile`] is one capture file shared by every link a command opens
//!   (the ARP link that finds the next hop, then the flow's link).
//! - [`Capture`] wraps any [`Link`] and tees each frame it sends and
//!   receives into the file, stamped by the kernel where the link has its
//!   stamps ([`Received::stamp`](super::Received::stamp),
//!   [`Link::tx_stamp`]), otherwise with the wall clock read at the send
//!   or the receive.
//!
//! The `pcap-file` crate would write the same bytes, but its stable line
//! is 2.0.0 (3.0 exists only as release candidates), it brings three
//! dependencies (thiserror 1 among them, beside our thiserror 2) for what
//! is forty lines here, and it has no cut-back on a failed write.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use super::{Link, Received};

/// Classic pcap with nanosecond timestamps.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// `LINKTYPE_ETHERNET`.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Longest frame kept whole: tcpdump's default snap length, above any
/// frame nettool moves (a 64 KiB offload super-frame included).
pub const SNAPLEN: u32 = 262_144;
/// Bytes of records gathered before they are written out.
const BATCH: usize = 64 * 1024;

/// Where a capture goes: a file, or memory in tests. A failed write may
/// have written part of a batch; [`Sink::cut`] takes the file back to a
/// record boundary.
pub trait Sink: Write {
    /// Makes the sink `len` bytes long, writing on from there.
    fn cut(&mut self, len: u64) -> io::Result<()>;
}

impl Sink for File {
    fn cut(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)?;
        self.seek(SeekFrom::Start(len)).map(drop)
    }
}

impl Sink for Vec<u8> {
    fn cut(&mut self, len: u64) -> io::Result<()> {
        self.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        Ok(())
    }
}

/// Writes the pcap format (see the module docs).
pub struct PcapWriter<S: Sink> {
    sink: S,
    /// Whole records not written yet.
    buf: Vec<u8>,
    /// Bytes of the sink that hold complete records (and the header).
    written: u64,
    /// Records handed to [`PcapWriter::record`].
    records: u64,
    /// Records in `written`.
    records_written: u64,
}

impl<S: Sink> PcapWriter<S> {
    /// Writes the file header at once, so that even a run that moves no
    /// frame leaves a valid (empty) capture.
    pub fn new(sink: S) -> io::Result<PcapWriter<S>> {
        let mut w = PcapWriter {
            sink,
            buf: Vec::with_capacity(BATCH + 2048),
            written: 0,
            records: 0,
            records_written: 0,
        };
        w.buf.extend_from_slice(&MAGIC_NANOS.to_le_bytes());
        w.buf.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
        w.buf.extend_from_slice(&4u16.to_le_bytes());
        w.buf.extend_from_slice(&0i32.to_le_bytes()); // thiszone: UTC
        w.buf.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        w.buf.extend_from_slice(&SNAPLEN.to_le_bytes());
        w.buf.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        w.flush()?;
        Ok(w)
    }

    /// Adds one frame, stamped `at`; writes a batch out when one is full.
    pub fn record(&mut self, at: SystemTime, frame: &[u8]) -> io::Result<()> {
        let since = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let kept = frame.len().min(SNAPLEN as usize);
        // Seconds wrap in 2106, as in every classic pcap file.
        self.buf
            .extend_from_slice(&(since.as_secs() as u32).to_le_bytes());
        self.buf
            .extend_from_slice(&since.subsec_nanos().to_le_bytes());
        self.buf.extend_from_slice(&(kept as u32).to_le_bytes());
        self.buf
            .extend_from_slice(&u32::try_from(frame.len()).unwrap_or(u32::MAX).to_le_bytes());
        self.buf.extend_from_slice(&frame[..kept]);
        self.records += 1;
        if self.buf.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes out every record gathered. On failure the sink is cut back
    /// to its last complete record, and the records not written are
    /// dropped (see [`PcapWriter::records_written`]).
    pub fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self
            .sink
            .write_all(&self.buf)
            .and_then(|()| self.sink.flush());
        match result {
            Ok(()) => {
                self.written += self.buf.len() as u64;
                self.records_written = self.records;
                self.buf.clear();
                Ok(())
            }
            Err(e) => {
                self.buf.clear();
                self.records = self.records_written;
                // Best effort: if even this fails, the error below stands.
                let _ = self.sink.cut(self.written);
                Err(e)
            }
        }
    }

    /// Complete records in the sink.
    pub fn records_written(&self) -> u64 {
        self.records_written
    }

    /// The sink, after a final flush.
    pub fn into_inner(mut self) -> io::Result<S> {
        self.flush()?;
        Ok(self.sink)
    }
}

/// One capture file, shared by every [`Capture`] a command opens. Cloning
/// gives another handle to the same file.
#[derive(Clone)]
pub struct PcapFile {
    shared: Rc<RefCell<Shared>>,
}

struct Shared {
    path: PathBuf,
    /// `None` once a write failed: nothing more is written after the gap
    /// it left.
    writer: Option<PcapWriter<File>>,
    /// What failed, for [`PcapFile::flush`] to report again at the end.
    failed: Option<(io::ErrorKind, String)>,
}

impl PcapFile {
    /// Creates (or empties) the file at `path` and writes the pcap header.
    pub fn create(path: &Path) -> io::Result<PcapFile> {
        let file = File::create(path).and_then(PcapWriter::new).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot write the capture file {}: {e}", path.display()),
            )
        })?;
        Ok(PcapFile {
            shared: Rc::new(RefCell::new(Shared {
                path: path.to_owned(),
                writer: Some(file),
                failed: None,
            })),
        })
    }

    pub fn path(&self) -> PathBuf {
        self.shared.borrow().path.clone()
    }

    fn record(&self, at: SystemTime, frame: &[u8]) -> io::Result<()> {
        self.with_writer(|w| w.record(at, frame))
    }

    /// Writes out what is gathered; call it before the command ends, so
    /// that a failure is reported (dropping the last handle flushes too,
    /// but can only warn). Also reports a failure met earlier.
    pub fn flush(&self) -> io::Result<()> {
        self.with_writer(PcapWriter::flush)?;
        match &self.shared.borrow().failed {
            Some((kind, what)) => Err(io::Error::new(*kind, what.clone())),
            None => Ok(()),
        }
    }

    /// Frames in the file so far (written out or gathered).
    pub fn frames(&self) -> u64 {
        self.shared
            .borrow()
            .writer
            .as_ref()
            .map_or(0, |w| w.records)
    }

    fn with_writer(
        &self,
        f: impl FnOnce(&mut PcapWriter<File>) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut shared = self.shared.borrow_mut();
        let Some(writer) = &mut shared.writer else {
            return Ok(());
        };
        match f(writer) {
            Ok(()) => Ok(()),
            Err(e) => {
                let n = writer.records_written();
                shared.writer = None;
                let what = format!(
                    "writing the capture file {}: {e}; it holds the first {n} frame{} only",
                    shared.path.display(),
                    if n == 1 { "" } else { "s" }
                );
                shared.failed = Some((e.kind(), what.clone()));
                Err(io::Error::new(e.kind(), what))
            }
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(w) = &mut self.writer
            && let Err(e) = w.flush()
        {
            eprintln!(
                "nettool: writing the capture file {}: {e}; it holds the first {} frames only",
                self.path.display(),
                w.records_written()
            );
        }
    }
}

/// A link whose frames are also written to a [`PcapFile`]; with none, it
/// only passes them through.
pub struct Capture<L> {
    inner: L,
    file: Option<PcapFile>,
    /// A copy of the last frame received, so that the inner link can be
    /// asked for its stamp after the receive.
    rx: Vec<u8>,
    /// Frames queued in a send ring and not flushed yet: their lengths,
    /// and the frames back to back.
    queued_lens: Vec<usize>,
    queued: Vec<u8>,
    /// On a link that echoes what it sends: the packets sent and
    /// recorded whose copies have not come back yet.
    echoes: VecDeque<Vec<u8>>,
}

/// Bytes of Ethernet header in front of every frame.
const ETH_HEADER: usize = 14;
/// Packets waiting for their echo, at most; older ones were lost.
const MAX_ECHOES: usize = 1024;

impl<L: Link> Capture<L> {
    /// Wraps `inner`; with a file, asks the link for kernel receive
    /// stamps (where it has them) so the capture's times are the kernel's.
    pub fn new(mut inner: L, file: Option<PcapFile>) -> io::Result<Capture<L>> {
        if file.is_some() {
            inner.enable_rx_stamps()?;
        }
        Ok(Capture {
            inner,
            file,
            rx: Vec::new(),
            queued_lens: Vec::new(),
            queued: Vec::new(),
            echoes: VecDeque::new(),
        })
    }

    pub fn get_ref(&self) -> &L {
        &self.inner
    }

    /// The inner link. Frames sent through it directly are not captured.
    pub fn get_mut(&mut self) -> &mut L {
        &mut self.inner
    }

    /// Records the frames handed to a send ring: all queued but the last
    /// `kept` ones, which are still queued.
    fn record_queued(&mut self, at: SystemTime, kept: usize) -> io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let sent = self.queued_lens.len().saturating_sub(kept);
        let mut offset = 0;
        let mut result = Ok(());
        for &len in &self.queued_lens[..sent] {
            if result.is_ok() {
                result = file.record(at, &self.queued[offset..offset + len]);
            }
            offset += len;
        }
        self.queued_lens.drain(..sent);
        self.queued.drain(..offset);
        result
    }
}

impl<L: Link> Link for Capture<L> {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        let Some(file) = &self.file else {
            return self.inner.send(frame);
        };
        let at = SystemTime::now();
        self.inner.send(frame)?;
        let at = self.inner.tx_stamp().unwrap_or(at);
        if !self.inner.echoes_sent() {
            return file.record(at, frame);
        }
        // Recorded now, not as it comes back: the last frames of a run
        // come back after nettool has stopped reading. The copy that comes
        // back is recognised by its packet and not recorded again.
        let mut shown = frame.to_vec();
        if let Some(macs) = shown.get_mut(..12) {
            macs.fill(0); // the all-zero addresses lo shows
        }
        self.echoes
            .push_back(frame.get(ETH_HEADER..).unwrap_or_default().to_vec());
        if self.echoes.len() > MAX_ECHOES {
            self.echoes.pop_front(); // its copy was lost on the way back
        }
        file.record(at, &shown)
    }

    fn recv(&mut self, timeout: Duration) -> io::Result<Option<Received<'_>>> {
        let Some(file) = &self.file else {
            return self.inner.recv(timeout);
        };
        let (checksum, stamp) = match self.inner.recv(timeout)? {
            // An idle moment: write out what is gathered, so that a long
            // run's file can be read while it goes on.
            None if !timeout.is_zero() => return file.flush().map(|()| None),
            None => return Ok(None),
            Some(r) => {
                self.rx.clear();
                self.rx.extend_from_slice(r.frame);
                (r.checksum, r.stamp)
            }
        };
        let at = stamp.unwrap_or_else(SystemTime::now);
        let packet = self.rx.get(ETH_HEADER..).unwrap_or_default();
        match self.echoes.iter().position(|e| e[..] == *packet) {
            Some(i) => drop(self.echoes.remove(i)),
            None => file.record(at, &self.rx)?,
        }
        Ok(Some(Received {
            frame: &self.rx,
            checksum,
            stamp,
        }))
    }

    fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        self.inner.poll_fd()
    }

    fn receive_drops(&mut self) -> Option<u64> {
        self.inner.receive_drops()
    }

    fn rx_pending(&self) -> usize {
        self.inner.rx_pending()
    }

    fn can_segment(&self) -> bool {
        self.inner.can_segment()
    }

    /// The super-frame is written as it was handed to the kernel, as a
    /// capture on the interface shows it (its TCP checksum unfinished).
    fn send_segmented(&mut self, frame: &[u8], mss: u16) -> io::Result<()> {
        let Some(file) = &self.file else {
            return self.inner.send_segmented(frame, mss);
        };
        let at = SystemTime::now();
        self.inner.send_segmented(frame, mss)?;
        let at = self.inner.tx_stamp().unwrap_or(at);
        file.record(at, frame)
    }

    fn tx_stamp(&mut self) -> Option<SystemTime> {
        self.inner.tx_stamp()
    }

    fn enable_rx_stamps(&mut self) -> io::Result<()> {
        self.inner.enable_rx_stamps()
    }

    fn echoes_sent(&self) -> bool {
        self.inner.echoes_sent()
    }

    fn has_ring(&self) -> bool {
        self.inner.has_ring()
    }

    // The send ring (the flood): a frame is recorded when a flush hands it
    // to the kernel, never when it is only queued, and never when it is
    // taken back.

    fn queue(&mut self, frame: &[u8]) -> io::Result<()> {
        if !self.inner.has_ring() {
            return Link::send(self, frame); // queueing is sending
        }
        self.inner.queue(frame)?;
        if self.file.is_some() {
            self.queued_lens.push(frame.len());
            self.queued.extend_from_slice(frame);
        }
        Ok(())
    }

    /// Frames a flush cut short by a signal may have left, or not:
    /// [`Link::discard_queued`] says.
    fn flush(&mut self) -> io::Result<()> {
        let at = SystemTime::now();
        self.inner.flush()?;
        self.record_queued(at, 0)
    }

    fn wait_queue_room(&mut self) -> io::Result<()> {
        self.inner.wait_queue_room()
    }

    /// The frames taken back are not recorded; the others had left.
    fn discard_queued(&mut self) -> usize {
        let at = SystemTime::now();
        let n = self.inner.discard_queued();
        // A failure is kept for PcapFile::flush to report at the end.
        let _ = self.record_queued(at, n);
        self.queued_lens.clear();
        self.queued.clear();
        n
    }
}

#[cfg(test)]
mod tests;
