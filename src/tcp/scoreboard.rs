//! The sender's SACK scoreboard (RFC 6675 §3): which octets between
//! SND.UNA and the highest sequence number sent the peer reported holding,
//! from the SACK blocks of RFC 2018, and the functions of RFC 6675 §4 that
//! loss recovery needs: `IsLost`, `SetPipe` and `NextSeg` rule 1.
//!
//! Ranges are kept sorted and merged, as `(left, right)` sequence numbers
//! (right exclusive), all within `SND.UNA..=SND.MAX`, so comparisons
//! modulo 2^32 are valid. The number of ranges is capped
//! ([`MAX_BLOCKS`]); forgetting SACK information is always safe (the octets
//! are merely considered outstanding).

use super::seq::SeqNum;

/// Most separate SACKed ranges remembered.
pub const MAX_BLOCKS: usize = 512;

/// RFC 6675 DupThresh.
pub const DUP_THRESH: usize = 3;

#[derive(Debug, Clone, Default)]
pub struct Scoreboard {
    ranges: Vec<(SeqNum, SeqNum)>,
    sacked: usize,
}

impl Scoreboard {
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn clear(&mut self) {
        self.ranges.clear();
        self.sacked = 0;
    }

    /// Octets SACKed.
    #[cfg(test)]
    pub fn sacked(&self) -> usize {
        self.sacked
    }

    pub fn ranges(&self) -> &[(SeqNum, SeqNum)] {
        &self.ranges
    }

    /// Records a SACK block; returns the octets newly SACKed. Blocks
    /// outside `una..=max` (RFC 2018 §4: stale or bogus) are ignored.
    pub fn add(&mut self, una: SeqNum, max: SeqNum, left: SeqNum, right: SeqNum) -> usize {
        let left = left.max(una);
        if !left.lt(right) || right.gt(max) {
            return 0;
        }
        // First range whose right edge reaches `left`.
        let i = self.ranges.partition_point(|&(_, r)| r.lt(left));
        // Ranges i..j overlap or touch [left, right).
        let mut j = i;
        let (mut l, mut r) = (left, right);
        let mut covered = 0;
        while j < self.ranges.len() && self.ranges[j].0.le(right) {
            let (bl, br) = self.ranges[j];
            covered += br - bl;
            l = l.min(bl);
            r = r.max(br);
            j += 1;
        }
        let new = (r - l) - covered;
        if new == 0 {
            return 0;
        }
        if i == j && self.ranges.len() >= MAX_BLOCKS {
            return 0;
        }
        self.ranges.splice(i..j, [(l, r)]);
        self.sacked += new;
        new
    }

    /// SND.UNA advanced to `una`: forget what lies below it.
    pub fn advance(&mut self, una: SeqNum) {
        let mut drop = 0;
        for &(l, r) in &self.ranges {
            if r.le(una) {
                drop += 1;
                self.sacked -= r - l;
            } else {
                break;
            }
        }
        self.ranges.drain(..drop);
        if let Some(first) = self.ranges.first_mut()
            && first.0.lt(una)
        {
            self.sacked -= una - first.0;
            first.0 = una;
        }
    }

    /// Whether `seq` is SACKed; if so, the right edge of its range.
    pub fn sacked_until(&self, seq: SeqNum) -> Option<SeqNum> {
        let i = self.ranges.partition_point(|&(_, r)| r.le(seq));
        self.ranges
            .get(i)
            .filter(|&&(l, _)| l.le(seq))
            .map(|&(_, r)| r)
    }

    /// The next SACKed range starting after `seq`, if any (its left edge).
    pub fn next_sacked_after(&self, seq: SeqNum) -> Option<SeqNum> {
        let i = self.ranges.partition_point(|&(l, _)| l.le(seq));
        self.ranges.get(i).map(|&(l, _)| l)
    }

    /// RFC 6675 `IsLost`, as a boundary: every un-SACKed octet below the
    /// returned sequence number is lost ("DupThresh discontiguous SACKed
    /// sequences above it, or more than (DupThresh - 1) * SMSS octets").
    /// `IsLost` is monotone, so one number says it all. `None`: nothing is
    /// lost.
    pub fn lost_boundary(&self, smss: usize) -> Option<SeqNum> {
        let mut bytes = 0;
        for (n, &(l, r)) in self.ranges.iter().rev().enumerate() {
            bytes += r - l;
            if n + 1 >= DUP_THRESH || bytes > (DUP_THRESH - 1) * smss {
                return Some(l);
            }
        }
        None
    }

    /// Un-SACKed octets in `una..end`.
    fn holes_below(&self, una: SeqNum, end: SeqNum) -> usize {
        if !una.lt(end) {
            return 0;
        }
        let mut sacked = 0;
        for &(l, r) in &self.ranges {
            if !l.lt(end) {
                break;
            }
            sacked += r.min(end) - l;
        }
        (end - una) - sacked
    }

    /// RFC 6675 `SetPipe`: octets believed in the network. Un-SACKed
    /// octets count once unless lost, and once more when retransmitted
    /// (below `high_rxt`).
    pub fn pipe(&self, una: SeqNum, max: SeqNum, high_rxt: SeqNum, smss: usize) -> usize {
        let unsacked = (max - una) - self.sacked;
        let lost = self
            .lost_boundary(smss)
            .map_or(0, |b| self.holes_below(una, b));
        let rxt = self.holes_below(una, high_rxt.max(una));
        unsacked - lost + rxt
    }

    /// RFC 6675 `NextSeg` rule 1: the first un-SACKed, lost octet at or
    /// above `from` (HighRxt), and how many octets of the hole follow it.
    pub fn next_lost(&self, from: SeqNum, smss: usize) -> Option<(SeqNum, usize)> {
        let boundary = self.lost_boundary(smss)?;
        let mut seq = from;
        if let Some(r) = self.sacked_until(seq) {
            seq = r;
        }
        if !seq.lt(boundary) {
            return None;
        }
        let hole_end = self.next_sacked_after(seq).unwrap_or(boundary);
        Some((seq, hole_end - seq))
    }
}

impl Scoreboard {
    /// RFC 6675 `NextSeg` rule 3: the first un-SACKed octet at or above
    /// `from` below the highest SACKed range, lost or not, and the length
    /// of its hole.
    pub fn next_hole(&self, from: SeqNum) -> Option<(SeqNum, usize)> {
        let top = self.ranges.last()?.0;
        let mut seq = from;
        if let Some(r) = self.sacked_until(seq) {
            seq = r;
        }
        if !seq.lt(top) {
            return None;
        }
        let hole_end = self.next_sacked_after(seq).unwrap_or(top);
        Some((seq, hole_end - seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNum {
        SeqNum(n)
    }

    fn board(blocks: &[(u32, u32)]) -> Scoreboard {
        let mut b = Scoreboard::default();
        for &(l, r) in blocks {
            b.add(s(1000), s(100_000), s(l), s(r));
        }
        b
    }

    #[test]
    fn blocks_merge_and_count_new_octets_once() {
        let mut b = Scoreboard::default();
        assert_eq!(b.add(s(0), s(100), s(10), s(20)), 10);
        assert_eq!(b.add(s(0), s(100), s(30), s(40)), 10);
        assert_eq!(b.add(s(0), s(100), s(10), s(20)), 0, "duplicate");
        assert_eq!(b.add(s(0), s(100), s(15), s(35)), 10, "bridges the gap");
        assert_eq!(b.ranges(), [(s(10), s(40))]);
        assert_eq!(b.sacked(), 30);
        assert_eq!(b.add(s(0), s(100), s(90), s(101)), 0, "beyond SND.MAX");
        assert_eq!(b.add(s(50), s(100), s(40), s(45)), 0, "below SND.UNA");
    }

    #[test]
    fn advance_trims_below_una() {
        let mut b = board(&[(2000, 3000), (4000, 5000)]);
        b.advance(s(2500));
        assert_eq!(b.ranges(), [(s(2500), s(3000)), (s(4000), s(5000))]);
        assert_eq!(b.sacked(), 1500);
        b.advance(s(4500));
        assert_eq!(b.sacked(), 500);
        b.advance(s(5000));
        assert!(b.is_empty());
        assert_eq!(b.sacked(), 0);
    }

    #[test]
    fn works_across_the_wrap() {
        let mut b = Scoreboard::default();
        let una = s(u32::MAX - 100);
        b.add(una, s(1000), s(u32::MAX - 50), s(50));
        b.add(una, s(1000), s(100), s(200));
        assert_eq!(b.sacked(), 201);
        assert_eq!(b.sacked_until(s(10)), Some(s(50)));
        assert_eq!(b.sacked_until(s(60)), None);
        assert_eq!(b.next_sacked_after(s(60)), Some(s(100)));
    }

    #[test]
    fn is_lost_needs_three_blocks_or_more_than_two_smss_above() {
        let smss = 100;
        assert_eq!(
            board(&[(1100, 1200), (1300, 1400)]).lost_boundary(smss),
            None
        );
        let three = board(&[(1100, 1200), (1300, 1400), (1500, 1600)]);
        assert_eq!(three.lost_boundary(smss), Some(s(1100)));
        let big = board(&[(1100, 1200), (1300, 1601)]);
        assert_eq!(big.lost_boundary(smss), Some(s(1300)));
    }

    #[test]
    fn pipe_and_next_seg_follow_rfc_6675() {
        let smss = 100;
        // una 1000, sent to 2000; holes 1000..1100, 1200..1300, 1400..1500.
        let b = board(&[(1100, 1200), (1300, 1400), (1500, 2000)]);
        // Lost: every hole below 1500 ... the boundary is 1500 (500 octets
        // SACKed above it), so all three holes are lost.
        assert_eq!(b.lost_boundary(smss), Some(s(1500)));
        // Nothing retransmitted: pipe = 300 unsacked - 300 lost = 0.
        assert_eq!(b.pipe(s(1000), s(2000), s(1000), smss), 0);
        assert_eq!(b.next_lost(s(1000), smss), Some((s(1000), 100)));
        // After retransmitting the first hole, it counts again.
        assert_eq!(b.pipe(s(1000), s(2000), s(1100), smss), 100);
        assert_eq!(b.next_lost(s(1100), smss), Some((s(1200), 100)));
        assert_eq!(b.next_lost(s(1450), smss), Some((s(1450), 50)));
        assert_eq!(b.next_lost(s(1500), smss), None);
    }

    #[test]
    fn next_hole_finds_holes_that_are_not_lost_yet() {
        let b = board(&[(1100, 1200), (1300, 1400)]);
        assert_eq!(b.next_lost(s(1000), 100), None);
        assert_eq!(b.next_hole(s(1000)), Some((s(1000), 100)));
        assert_eq!(b.next_hole(s(1150)), Some((s(1200), 100)));
        assert_eq!(b.next_hole(s(1300)), None);
    }

    #[test]
    fn range_count_is_bounded() {
        let mut b = Scoreboard::default();
        for i in 0..MAX_BLOCKS as u32 + 10 {
            b.add(s(0), s(1_000_000), s(10 * i + 5), s(10 * i + 6));
        }
        assert_eq!(b.ranges().len(), MAX_BLOCKS);
    }
}
