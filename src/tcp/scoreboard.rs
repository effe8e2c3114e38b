//! The sender's SACK scoreboard (RFC 6675 §3): which octets between
//! SND.UNA and the highest sequence number sent the peer reported holding,
//! from the SACK blocks of RFC 2018. Loss marking, pipe and the choice of
//! what to retransmit work on the per-transmission log of `rack.rs`,
//! which takes its SACKed marks from here.
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

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scoreboard {
    ranges: Vec<(SeqNum, SeqNum)>,
    sacked: usize,
}

impl Scoreboard {
    pub const fn new() -> Scoreboard {
        Scoreboard {
            ranges: Vec::new(),
            sacked: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn clear(&mut self) {
        self.ranges = Vec::new();
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
    #[cfg(test)]
    pub fn add(&mut self, una: SeqNum, max: SeqNum, left: SeqNum, right: SeqNum) -> usize {
        self.add_block(una, max, left, right, &mut Vec::new())
    }

    /// [`add`](Self::add), also appending to `fresh` the parts of the
    /// block that were not SACKed before (where the newly SACKed segments
    /// are, without walking what was known).
    pub fn add_block(
        &mut self,
        una: SeqNum,
        max: SeqNum,
        left: SeqNum,
        right: SeqNum,
        fresh: &mut Vec<(SeqNum, SeqNum)>,
    ) -> usize {
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
        let mut cursor = left;
        for &(bl, br) in &self.ranges[i..j] {
            if cursor.lt(bl) {
                fresh.push((cursor, bl.min(right)));
            }
            cursor = cursor.max(br);
        }
        if cursor.lt(right) {
            fresh.push((cursor, right));
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
        if self.ranges.is_empty() {
            self.ranges = Vec::new();
        }
        if let Some(first) = self.ranges.first_mut()
            && first.0.lt(una)
        {
            self.sacked -= una - first.0;
            first.0 = una;
        }
    }

    /// Whether `seq` is SACKed; if so, the right edge of its range.
    #[cfg(test)]
    pub fn sacked_until(&self, seq: SeqNum) -> Option<SeqNum> {
        let i = self.ranges.partition_point(|&(_, r)| r.le(seq));
        self.ranges
            .get(i)
            .filter(|&&(l, _)| l.le(seq))
            .map(|&(_, r)| r)
    }

    /// The next SACKed range starting after `seq`, if any (its left edge).
    #[cfg(test)]
    pub fn next_sacked_after(&self, seq: SeqNum) -> Option<SeqNum> {
        let i = self.ranges.partition_point(|&(l, _)| l.le(seq));
        self.ranges.get(i).map(|&(l, _)| l)
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
    fn fresh_parts_are_what_was_not_sacked_before() {
        let mut b = board(&[(1100, 1200), (1300, 1400)]);
        let mut fresh = Vec::new();
        assert_eq!(
            b.add_block(s(1000), s(2000), s(1050), s(1500), &mut fresh),
            250
        );
        assert_eq!(
            fresh,
            [(s(1050), s(1100)), (s(1200), s(1300)), (s(1400), s(1500))]
        );
        fresh.clear();
        assert_eq!(
            b.add_block(s(1000), s(2000), s(1100), s(1400), &mut fresh),
            0
        );
        assert!(fresh.is_empty());
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
    fn range_count_is_bounded() {
        let mut b = Scoreboard::default();
        for i in 0..MAX_BLOCKS as u32 + 10 {
            b.add(s(0), s(1_000_000), s(10 * i + 5), s(10 * i + 6));
        }
        assert_eq!(b.ranges().len(), MAX_BLOCKS);
    }
}
