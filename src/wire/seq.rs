//! TCP sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293
//! §3.4, "all arithmetic dealing with sequence numbers must be performed
//! modulo 2**32").
//!
//! The type lives in `wire` because segments carry it; the engine re-exports
//! it as `tcp::SeqNum`. It deliberately implements neither `PartialOrd` nor
//! `Ord`: ordering by the raw `u32` is wrong as soon as a window straddles
//! 2^32, so every comparison goes through [`SeqNum::lt`] and friends, which
//! compare the wrapping difference as a signed 32-bit value (valid while
//! the two numbers are less than 2^31 apart, which TCP windows guarantee).

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A TCP sequence (or acknowledgment) number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// The raw 32-bit value, as it goes on the wire.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Signed distance `self - other` modulo 2^32.
    pub const fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// `self < other` in sequence space.
    pub const fn lt(self, other: SeqNum) -> bool {
        self.diff(other) < 0
    }

    /// `self =< other` in sequence space.
    pub const fn le(self, other: SeqNum) -> bool {
        self.diff(other) <= 0
    }

    /// `self > other` in sequence space.
    pub const fn gt(self, other: SeqNum) -> bool {
        self.diff(other) > 0
    }

    /// `self >= other` in sequence space.
    pub const fn ge(self, other: SeqNum) -> bool {
        self.diff(other) >= 0
    }

    /// `start =< self < start + len`: the half-open window test used
    /// throughout RFC 9293 §3.10.7.4 (e.g. `RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND`).
    /// An empty window contains nothing.
    pub fn in_window(self, start: SeqNum, len: usize) -> bool {
        // Distance from the window's left edge, read as unsigned: numbers
        // before `start` wrap to huge values and fall outside.
        let off = self.0.wrapping_sub(start.0) as usize;
        off < len
    }

    /// The later of two sequence numbers.
    pub fn max(self, other: SeqNum) -> SeqNum {
        if self.ge(other) { self } else { other }
    }

    /// The earlier of two sequence numbers.
    pub fn min(self, other: SeqNum) -> SeqNum {
        if self.le(other) { self } else { other }
    }
}

impl Add<usize> for SeqNum {
    type Output = SeqNum;
    /// Advances by a length; lengths are taken modulo 2^32 like everything
    /// in sequence space (a TCP window never exceeds 2^30).
    fn add(self, rhs: usize) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs as u32))
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    fn add(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs))
    }
}

/// `+=` for whatever a sequence number adds (a length, a `u32`).
impl<T> AddAssign<T> for SeqNum
where
    SeqNum: Add<T, Output = SeqNum>,
{
    fn add_assign(&mut self, rhs: T) {
        *self = *self + rhs;
    }
}

impl Sub<usize> for SeqNum {
    type Output = SeqNum;
    /// Steps back by a length, modulo 2^32.
    fn sub(self, rhs: usize) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs as u32))
    }
}

impl Sub<SeqNum> for SeqNum {
    type Output = usize;
    /// The length from `rhs` to `self`. Panics when `rhs` is after `self`:
    /// a negative length is a logic error in the caller, not a wrap-around
    /// (use [`SeqNum::diff`] for a signed distance).
    fn sub(self, rhs: SeqNum) -> usize {
        let d = self.diff(rhs);
        assert!(d >= 0, "sequence number {rhs} is after {self}");
        d as usize
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const MAX: u32 = u32::MAX;

    #[rstest]
    #[case::plain(1, 2)]
    #[case::across_wrap(MAX, 0)]
    #[case::far_across_wrap(MAX - 1000, 1000)]
    #[case::half_space_minus_one(0, (1 << 31) - 1)]
    fn ordering_is_modular(#[case] a: u32, #[case] b: u32) {
        let (a, b) = (SeqNum(a), SeqNum(b));
        assert!(a.lt(b) && a.le(b) && !a.gt(b) && !a.ge(b));
        assert!(b.gt(a) && b.ge(a) && !b.lt(a) && !b.le(a));
        assert!(a.le(a) && a.ge(a) && !a.lt(a) && !a.gt(a));
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
    }

    #[rstest]
    #[case(MAX, 1, 0)]
    #[case(MAX - 1, 5, 3)]
    #[case(7, 3, 10)]
    fn addition_wraps(#[case] start: u32, #[case] n: usize, #[case] want: u32) {
        assert_eq!(SeqNum(start) + n, SeqNum(want));
        assert_eq!(SeqNum(start) + n as u32, SeqNum(want));
        assert_eq!(SeqNum(want) - n, SeqNum(start));
        let mut s = SeqNum(start);
        s += n;
        assert_eq!(s, SeqNum(want));
    }

    #[rstest]
    #[case(0, MAX, 1)]
    #[case(10, MAX - 9, 20)]
    #[case(5, 5, 0)]
    fn difference_is_a_length(#[case] a: u32, #[case] b: u32, #[case] want: usize) {
        assert_eq!(SeqNum(a) - SeqNum(b), want);
        assert_eq!(SeqNum(a).diff(SeqNum(b)), want as i32);
        assert_eq!(SeqNum(b).diff(SeqNum(a)), -(want as i32));
    }

    #[test]
    #[should_panic(expected = "is after")]
    fn negative_length_panics() {
        let _ = SeqNum(0) - SeqNum(1);
    }

    #[rstest]
    #[case::left_edge(100, 100, 10, true)]
    #[case::right_edge_excluded(110, 100, 10, false)]
    #[case::last_inside(109, 100, 10, true)]
    #[case::before(99, 100, 10, false)]
    #[case::empty_window(100, 100, 0, false)]
    #[case::wrapped_inside(2, MAX - 2, 10, true)]
    #[case::wrapped_edge(MAX - 2, MAX - 2, 10, true)]
    #[case::wrapped_outside(7, MAX - 2, 10, false)]
    #[case::wrapped_before(MAX - 3, MAX - 2, 10, false)]
    fn window_membership(
        #[case] seq: u32,
        #[case] start: u32,
        #[case] len: usize,
        #[case] want: bool,
    ) {
        assert_eq!(SeqNum(seq).in_window(SeqNum(start), len), want);
    }

    #[test]
    fn displays_unsigned() {
        assert_eq!(SeqNum(MAX).to_string(), "4294967295");
    }
}
