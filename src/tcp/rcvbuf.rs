//! The receive buffer: one ring of RCV.BUFF octets holding both the
//! in-order data the user has not read yet and the out-of-order data
//! waiting for a hole to fill (RFC 9293 §3.10.7.4 seventh step: "segments
//! with higher beginning sequence numbers ... may be held for later
//! processing").
//!
//! Positions are 64-bit stream offsets (the sequence number unwrapped:
//! offset 0 is IRS+1), so nothing here compares modulo 2^32. An octet at
//! offset `p` lives at `ring[p % ring.len()]`: data is copied once, from
//! the segment into its place, whatever order it arrives in. The ring
//! holds only what is unread or out of order: it is allocated when data
//! arrives, doubles (up to the capacity) when data lands beyond its end,
//! and is given back once everything is read, so an idle connection, of
//! a million held by a load test, holds no buffer at all. The
//! out-of-order ranges are a `BTreeMap` from start to end offset, merged
//! on insert, so duplicates and overlaps cost nothing extra and lookups
//! are logarithmic. Memory is bounded: the ring never grows past its
//! capacity, anything beyond `read + capacity` is trimmed, and the number
//! of separate out-of-order ranges is capped ([`MAX_RANGES`]).

use std::collections::BTreeMap;

/// Most separate out-of-order ranges kept. A segment that would create one
/// more is dropped (the sender retransmits it); filling or extending an
/// existing range is always accepted. Bounds the map against a peer that
/// sends one-octet segments with gaps between them.
pub const MAX_RANGES: usize = 1024;

/// The smallest ring allocated: a typical request or reply fits.
const MIN_RING: usize = 2048;

/// How many recently changed ranges are remembered for SACK reporting.
const RECENT: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvBuffer {
    /// Empty until an octet arrives, and again once everything is read;
    /// otherwise a power of two long (or `capacity`), covering every
    /// octet held.
    ring: Vec<u8>,
    capacity: usize,
    /// Offset of the first octet the user has not read.
    read: u64,
    /// Offset of RCV.NXT: everything in `read..nxt` is in order.
    nxt: u64,
    /// Out-of-order data, and which of it arrived last.
    held: OutOfOrder,
}

/// Out-of-order ranges and the SACK bookkeeping over them, boxed and
/// only while there are some: most connections never see a hole, and an
/// idle one (a load test holds a million) carries one pointer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct OutOfOrder(Option<Box<Ranges>>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ranges {
    /// Start offset -> end offset, disjoint, not adjacent, all above
    /// RCV.NXT.
    ranges: BTreeMap<u64, u64>,
    /// Start offsets of the ranges most recently added to, newest first
    /// (RFC 2018 §4: the first SACK block reports the newest segment).
    recent: Vec<u64>,
}

/// What an `OutOfOrder` without a box reads as.
static NO_RANGES: Ranges = Ranges {
    ranges: BTreeMap::new(),
    recent: Vec::new(),
};

impl OutOfOrder {
    /// Gives the box back once no range is held (nor, then, any recent
    /// one: every removal of a range removes it from `recent`).
    fn release_if_empty(&mut self) {
        if self.0.as_ref().is_some_and(|r| r.ranges.is_empty()) {
            self.0 = None;
        }
    }
}

impl std::ops::Deref for OutOfOrder {
    type Target = Ranges;
    fn deref(&self) -> &Ranges {
        self.0.as_deref().unwrap_or(&NO_RANGES)
    }
}

impl std::ops::DerefMut for OutOfOrder {
    fn deref_mut(&mut self) -> &mut Ranges {
        self.0.get_or_insert_with(|| {
            Box::new(Ranges {
                ranges: BTreeMap::new(),
                recent: Vec::new(),
            })
        })
    }
}

/// What one insertion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Inserted {
    /// Octets RCV.NXT advanced by.
    pub advanced: usize,
    /// The data went (at least partly) beyond RCV.NXT and was kept.
    pub out_of_order: bool,
    /// The insertion filled (part of) a hole: out-of-order data existed.
    pub filled_hole: bool,
    /// Some octets were dropped: beyond the buffer, or too many ranges.
    pub dropped: bool,
    /// Every octet was held out of order already (a duplicate, which
    /// RFC 2883 reports as a D-SACK).
    pub duplicate: bool,
}

/// What [`RecvBuffer::add_range`] did.
enum Added {
    New,
    Duplicate,
    Refused,
}

impl RecvBuffer {
    pub fn new(capacity: usize) -> Self {
        RecvBuffer {
            ring: Vec::new(),
            capacity: capacity.max(1),
            read: 0,
            nxt: 0,
            held: OutOfOrder::default(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// In-order octets not yet read.
    pub fn readable(&self) -> usize {
        (self.nxt - self.read) as usize
    }

    /// Free space past RCV.NXT: the most the window can offer.
    pub fn window(&self) -> usize {
        self.capacity() - self.readable()
    }

    /// Offset of RCV.NXT.
    pub fn nxt(&self) -> u64 {
        self.nxt
    }

    /// Offset one past the last octet the buffer could hold now.
    pub fn right_edge(&self) -> u64 {
        self.read + self.capacity() as u64
    }

    /// Whether out-of-order data is held.
    pub fn has_out_of_order(&self) -> bool {
        !self.held.ranges.is_empty()
    }

    /// Number of separate out-of-order ranges held.
    #[cfg(test)]
    pub fn ranges(&self) -> usize {
        self.held.ranges.len()
    }

    /// Octets held out of order.
    pub fn out_of_order_len(&self) -> usize {
        self.held.ranges.iter().map(|(s, e)| (e - s) as usize).sum()
    }

    /// Advances RCV.NXT by `n` without data (the FIN's octet of sequence
    /// space is accounted for by the caller, not here). Only used for
    /// tests of the window arithmetic.
    #[cfg(test)]
    fn skip_read_all(&mut self) {
        self.read = self.nxt;
    }

    /// Stores `data`, which starts `offset` octets after RCV.NXT.
    pub fn insert(&mut self, offset: usize, mut data: &[u8]) -> Inserted {
        let mut out = Inserted {
            filled_hole: self.has_out_of_order(),
            ..Inserted::default()
        };
        let start = self.nxt + offset as u64;
        let room = self.right_edge().saturating_sub(start) as usize;
        if data.len() > room {
            data = &data[..room];
            out.dropped = true;
        }
        if data.is_empty() {
            out.filled_hole = false;
            return out;
        }
        let end = start + data.len() as u64;
        if offset > 0 {
            out.filled_hole = false;
            out.out_of_order = true;
            match self.add_range(start, end) {
                Added::Refused => {
                    out.dropped = true;
                    return out;
                }
                Added::Duplicate => out.duplicate = true,
                Added::New => {}
            }
        }
        self.copy_in(start, data);
        if offset == 0 {
            let before = self.nxt;
            self.nxt = end;
            // Swallow every range the new data reaches.
            while let Some((&s, &e)) = self.held.ranges.first_key_value() {
                if s > self.nxt {
                    break;
                }
                self.held.ranges.remove(&s);
                self.held.recent.retain(|&r| r != s);
                self.nxt = self.nxt.max(e);
            }
            out.advanced = (self.nxt - before) as usize;
            self.held.release_if_empty();
        }
        out
    }

    /// Records `start..end` as held; merges with neighbours. Refused when
    /// it would exceed [`MAX_RANGES`].
    fn add_range(&mut self, mut start: u64, mut end: u64) -> Added {
        // A range starting at or before `start` that reaches it.
        if let Some((&s, &e)) = self.held.ranges.range(..=start).next_back()
            && e >= start
        {
            if e >= end {
                self.touch(s);
                return Added::Duplicate;
            }
            self.held.ranges.remove(&s);
            self.held.recent.retain(|&r| r != s);
            start = s;
        }
        // Ranges starting inside `start..=end` are swallowed.
        while let Some((&s, &e)) = self.held.ranges.range(start..=end).next() {
            self.held.ranges.remove(&s);
            self.held.recent.retain(|&r| r != s);
            end = end.max(e);
        }
        if self.held.ranges.len() >= MAX_RANGES {
            return Added::Refused;
        }
        self.held.ranges.insert(start, end);
        self.touch(start);
        Added::New
    }

    fn touch(&mut self, start: u64) {
        self.held.recent.retain(|&r| r != start);
        self.held.recent.insert(0, start);
        self.held.recent.truncate(RECENT);
    }

    fn copy_in(&mut self, start: u64, data: &[u8]) {
        let end = start + data.len() as u64;
        self.cover(end);
        let len = self.ring.len();
        let at = (start % len as u64) as usize;
        let first = data.len().min(len - at);
        self.ring[at..at + first].copy_from_slice(&data[..first]);
        self.ring[..data.len() - first].copy_from_slice(&data[first..]);
    }

    /// Grows the ring to hold every offset in `read..end` (`end` is at
    /// most the right edge, so at most `capacity` octets): the next power
    /// of two at or above what is needed, at least [`MIN_RING`], at most
    /// `capacity`. What it held moves to its place in the new ring.
    fn cover(&mut self, end: u64) {
        let need = (end - self.read) as usize;
        let old = self.ring.len();
        if need <= old {
            return;
        }
        let len = need.next_power_of_two().max(MIN_RING).min(self.capacity());
        let mut ring = vec![0; len];
        if old > 0 {
            // Everything held lies in `read..read + old`: copy that span
            // (holes and all) from its old place to its new one.
            let (mut p, end) = (self.read, self.held_end());
            while p < end {
                let from = (p % old as u64) as usize;
                let to = (p % len as u64) as usize;
                let n = ((end - p) as usize).min(old - from).min(len - to);
                ring[to..to + n].copy_from_slice(&self.ring[from..from + n]);
                p += n as u64;
            }
        }
        self.ring = ring;
    }

    /// One past the highest octet held, in order or not.
    fn held_end(&self) -> u64 {
        self.held
            .ranges
            .last_key_value()
            .map_or(self.nxt, |(_, &e)| e.max(self.nxt))
    }

    /// Gives the ring (and the SACK bookkeeping) back when nothing is held.
    fn release_if_drained(&mut self) {
        if self.read == self.nxt && self.held.ranges.is_empty() {
            self.ring = Vec::new();
            self.held.release_if_empty();
        }
    }

    /// Copies in-order data into `buf` (RECEIVE); returns how much.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let (a, b) = self.peek();
        let first = a.len().min(buf.len());
        let n = (first + b.len()).min(buf.len());
        buf[..first].copy_from_slice(&a[..first]);
        buf[first..n].copy_from_slice(&b[..n - first]);
        self.consume(n);
        n
    }

    /// The in-order data not read yet, where it lies: one slice, or two
    /// where it wraps around the ring. Read it in place, then
    /// [`RecvBuffer::consume`] what was used: no copy in between.
    pub fn peek(&self) -> (&[u8], &[u8]) {
        let n = self.readable();
        if n == 0 {
            return (&[], &[]);
        }
        let len = self.ring.len();
        let at = (self.read % len as u64) as usize;
        let first = n.min(len - at);
        (&self.ring[at..at + first], &self.ring[..n - first])
    }

    /// Marks the first `n` octets [`RecvBuffer::peek`] showed as read,
    /// and gives the ring back once nothing is held.
    pub fn consume(&mut self, n: usize) {
        self.read += n.min(self.readable()) as u64;
        self.release_if_drained();
    }

    /// SACK blocks (RFC 2018 §4) as offsets, at most `max`: the range
    /// holding the most recent arrival first, then the other recently
    /// changed ranges, then the highest remaining ones.
    pub fn sack_blocks(&self, max: usize) -> Vec<(u64, u64)> {
        let mut blocks: Vec<(u64, u64)> = Vec::with_capacity(max);
        for &s in &self.held.recent {
            if blocks.len() == max {
                return blocks;
            }
            if let Some(&e) = self.held.ranges.get(&s) {
                blocks.push((s, e));
            }
        }
        for (&s, &e) in self.held.ranges.iter().rev() {
            if blocks.len() == max {
                break;
            }
            if !blocks.iter().any(|&(bs, _)| bs == s) {
                blocks.push((s, e));
            }
        }
        blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn bytes(from: u8, n: usize) -> Vec<u8> {
        (0..n).map(|i| from.wrapping_add(i as u8)).collect()
    }

    fn read_all(b: &mut RecvBuffer) -> Vec<u8> {
        let mut out = vec![0; b.readable()];
        let n = b.read(&mut out);
        out.truncate(n);
        out
    }

    #[test]
    fn in_order_data_advances_and_reads_back() {
        let mut b = RecvBuffer::new(16);
        let r = b.insert(0, b"hello");
        assert_eq!(r.advanced, 5);
        assert!(!r.out_of_order && !r.filled_hole && !r.dropped);
        assert_eq!(b.window(), 11);
        assert_eq!(read_all(&mut b), b"hello");
        assert_eq!(b.window(), 16);
    }

    /// Data read in place: two slices where it wraps around the ring,
    /// and what is consumed is gone, the window reopened by as much.
    #[test]
    fn peek_shows_data_in_place_across_the_wrap_and_consume_reads_it() {
        let mut b = RecvBuffer::new(16);
        b.insert(0, &bytes(0, 12));
        assert_eq!(read_all(&mut b).len(), 12);
        // 10 octets more: 4 at the ring's end, 6 at its start.
        b.insert(0, &bytes(100, 10));
        let (x, y) = b.peek();
        assert_eq!((x, y), (&bytes(100, 4)[..], &bytes(104, 6)[..]));
        b.consume(5);
        assert_eq!(b.window(), 11);
        let (x, y) = b.peek();
        assert_eq!((x, y), (&bytes(105, 5)[..], &[][..]));
        b.consume(100);
        assert_eq!(b.peek(), (&[][..], &[][..]));
        assert_eq!(b.window(), 16);
    }

    #[test]
    fn a_hole_is_filled_and_everything_behind_it_becomes_readable() {
        let mut b = RecvBuffer::new(64);
        let r = b.insert(5, b"world");
        assert!(r.out_of_order);
        assert_eq!(r.advanced, 0);
        assert_eq!(b.readable(), 0);
        assert_eq!(b.sack_blocks(4), [(5, 10)]);
        let r = b.insert(0, b"hello");
        assert!(r.filled_hole);
        assert_eq!(r.advanced, 10);
        assert_eq!(read_all(&mut b), b"helloworld");
        assert!(!b.has_out_of_order());
    }

    /// Overlapping and duplicate segments in every order give the same
    /// bytes and merge into one range.
    #[rstest]
    #[case::duplicate(&[(2, 6), (2, 6), (0, 2)])]
    #[case::overlap_left(&[(4, 4), (2, 4), (0, 2)])]
    #[case::overlap_right(&[(2, 4), (4, 4), (0, 2)])]
    #[case::covering(&[(3, 1), (5, 1), (2, 6), (0, 3)])]
    #[case::inside(&[(2, 6), (3, 2), (0, 2)])]
    #[case::in_order_overlaps_held(&[(4, 4), (0, 6)])]
    #[case::adjacent_ranges_merge(&[(2, 2), (4, 2), (6, 2), (0, 2)])]
    fn overlaps_and_duplicates_are_trimmed(#[case] pieces: &[(usize, usize)]) {
        let data = bytes(100, 8);
        let mut b = RecvBuffer::new(64);
        for &(off, len) in pieces {
            let cur = b.nxt() as usize;
            if off + len <= cur {
                continue; // all old: the engine drops it before here
            }
            let skip = cur.saturating_sub(off);
            b.insert(off + skip - cur, &data[off + skip..off + len]);
            assert!(b.ranges() <= 1 || b.nxt() < 2);
        }
        assert_eq!(read_all(&mut b), data);
        assert_eq!(b.ranges(), 0);
    }

    #[test]
    fn data_beyond_the_buffer_is_trimmed() {
        let mut b = RecvBuffer::new(8);
        let r = b.insert(4, b"abcdefgh");
        assert!(r.dropped);
        assert_eq!(b.out_of_order_len(), 4);
        let r = b.insert(0, b"0123");
        assert_eq!(r.advanced, 8);
        assert_eq!(read_all(&mut b), b"0123abcd");
        // Entirely beyond: nothing kept.
        let r = b.insert(8, b"x");
        assert!(r.dropped);
        assert!(!b.has_out_of_order());
    }

    #[test]
    fn the_ring_wraps() {
        let mut b = RecvBuffer::new(8);
        b.insert(0, b"abcdef");
        assert_eq!(read_all(&mut b), b"abcdef");
        b.insert(3, b"HIJ");
        b.insert(0, b"EFG");
        assert_eq!(read_all(&mut b), b"EFGHIJ");
        b.skip_read_all();
        assert_eq!(b.window(), 8);
    }

    #[test]
    fn the_ring_grows_with_what_is_held_and_goes_when_read() {
        let mut b = RecvBuffer::new(64 * 1024);
        assert_eq!(b.ring.len(), 0);
        b.insert(0, &bytes(0, 100));
        assert_eq!(b.ring.len(), MIN_RING);
        assert_eq!(read_all(&mut b), bytes(0, 100));
        assert_eq!(b.ring.len(), 0, "drained: given back");
        // Held unread and out of order across a wrap of the small ring:
        // growing keeps every octet, holes and all, in its place.
        b.insert(0, &bytes(100, MIN_RING - 50));
        b.insert(50, &bytes(7, 3000));
        assert_eq!(b.ring.len(), 8192, "grown to cover 5048 octets");
        b.insert(0, &bytes(50, 50));
        let mut want = bytes(100, MIN_RING - 50);
        want.extend(bytes(50, 50));
        want.extend(bytes(7, 3000));
        assert_eq!(read_all(&mut b), want);
        assert_eq!(b.ring.len(), 0);
        assert_eq!(b.window(), 64 * 1024);
    }

    #[test]
    fn the_ring_never_outgrows_the_capacity() {
        let mut b = RecvBuffer::new(5000);
        b.insert(0, &bytes(0, 10_000));
        assert_eq!(b.readable(), 5000);
        assert_eq!(b.ring.len(), 5000);
        assert_eq!(read_all(&mut b), bytes(0, 5000));
    }

    #[test]
    fn range_count_is_bounded() {
        let mut b = RecvBuffer::new(4 * MAX_RANGES + 8);
        for i in 0..MAX_RANGES {
            assert!(!b.insert(2 + 2 * i, b"x").dropped);
        }
        assert_eq!(b.ranges(), MAX_RANGES);
        // One more separate range is refused; extending one is not.
        assert!(b.insert(2 * MAX_RANGES + 4, b"y").dropped);
        assert!(!b.insert(3, b"z").dropped);
        assert_eq!(b.ranges(), MAX_RANGES - 1);
    }

    #[test]
    fn sack_blocks_put_the_newest_first() {
        let mut b = RecvBuffer::new(100);
        b.insert(10, b"aa");
        b.insert(20, b"bb");
        b.insert(30, b"cc");
        assert_eq!(b.sack_blocks(4), [(30, 32), (20, 22), (10, 12)]);
        b.insert(12, b"a");
        assert_eq!(b.sack_blocks(4), [(10, 13), (30, 32), (20, 22)]);
        assert_eq!(b.sack_blocks(2), [(10, 13), (30, 32)]);
        b.insert(40, b"d");
        b.insert(50, b"e");
        b.insert(60, b"f");
        b.insert(70, b"g");
        b.insert(80, b"h");
        assert_eq!(b.sack_blocks(3), [(80, 81), (70, 71), (60, 61)]);
    }
}
