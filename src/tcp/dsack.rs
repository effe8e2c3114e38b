//! Which D-SACKs (RFC 2883) report our own retransmissions. A D-SACK says
//! the peer received some octets twice; only when we had sent them twice
//! does it say a retransmission was spurious (RFC 3708 §3), which is what
//! undo and RACK's reordering window (RFC 8985 §6.2 step 4) act on. A
//! network that duplicates packets draws D-SACKs for data sent once:
//! taken as evidence, they undid real losses and widened the window for
//! nothing. Linux skips them likewise (its `dsack_dups` against
//! `total_retrans`), by count; this keeps the ranges.

use std::collections::VecDeque;

use super::seq::SeqNum;

/// Ranges kept: a window's worth of separate retransmissions is far
/// fewer; the oldest go first.
const CAPACITY: usize = 64;

/// Recently retransmitted ranges not yet reported duplicate, sorted by
/// when they were sent (contiguous ones merged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retransmitted {
    ranges: VecDeque<(SeqNum, SeqNum)>,
}

impl Retransmitted {
    pub const fn new() -> Retransmitted {
        Retransmitted {
            ranges: VecDeque::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// `start..end` was sent again.
    pub fn on_retransmit(&mut self, start: SeqNum, end: SeqNum) {
        if !start.lt(end) {
            return;
        }
        if let Some(last) = self.ranges.back_mut()
            && last.1 == start
        {
            last.1 = end;
            return;
        }
        if self.ranges.len() == CAPACITY {
            self.ranges.pop_front();
        }
        self.ranges.push_back((start, end));
    }

    /// A D-SACK reports `l..r`: the octets of it retransmitted at or above
    /// `floor`, which are forgotten (a second D-SACK for the same octets,
    /// the network's copy of a retransmission, says nothing more).
    pub fn take(&mut self, l: SeqNum, r: SeqNum, floor: SeqNum) -> usize {
        let l = if l.lt(floor) { floor } else { l };
        if !l.lt(r) {
            return 0;
        }
        let mut taken = 0;
        let mut kept = VecDeque::new();
        for &(a, b) in &self.ranges {
            let lo = if a.lt(l) { l } else { a };
            let hi = if b.gt(r) { r } else { b };
            if !lo.lt(hi) {
                kept.push_back((a, b));
                continue;
            }
            taken += hi - lo;
            if a.lt(lo) {
                kept.push_back((a, lo));
            }
            if hi.lt(b) {
                kept.push_back((hi, b));
            }
        }
        self.ranges = kept;
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn s(n: u32) -> SeqNum {
        SeqNum(n)
    }

    #[rstest]
    // A duplicate of data sent once: nothing.
    #[case::never_resent(&[(100, 200)], (300, 400), 0, 0)]
    #[case::exactly(&[(100, 200)], (100, 200), 0, 100)]
    #[case::part(&[(100, 200)], (150, 250), 0, 50)]
    #[case::across_two(&[(100, 200), (300, 400)], (150, 350), 0, 100)]
    #[case::below_the_floor(&[(100, 200)], (100, 200), 150, 50)]
    #[case::wraps(&[(u32::MAX - 50, 50)], (u32::MAX - 10, 10), 0, 21)]
    fn take_counts_only_retransmitted_octets(
        #[case] sent: &[(u32, u32)],
        #[case] dsack: (u32, u32),
        #[case] floor: u32,
        #[case] want: usize,
    ) {
        let mut r = Retransmitted::default();
        for &(a, b) in sent {
            r.on_retransmit(s(a), s(b));
        }
        let floor = if floor == 0 { s(dsack.0) } else { s(floor) };
        assert_eq!(r.take(s(dsack.0), s(dsack.1), floor), want);
        // Taken once only.
        assert_eq!(r.take(s(dsack.0), s(dsack.1), floor), 0);
    }

    #[test]
    fn contiguous_retransmissions_merge_and_the_oldest_go_first() {
        let mut r = Retransmitted::default();
        r.on_retransmit(s(0), s(10));
        r.on_retransmit(s(10), s(20));
        assert_eq!(r.ranges.len(), 1);
        for i in 0..CAPACITY as u32 {
            r.on_retransmit(s(100 + 20 * i), s(110 + 20 * i));
        }
        assert_eq!(r.ranges.len(), CAPACITY);
        assert_eq!(r.take(s(0), s(20), s(0)), 0);
        assert_eq!(r.take(s(100), s(110), s(0)), 10);
    }
}
