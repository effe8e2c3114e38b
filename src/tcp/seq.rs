//! Sequence numbers for the engine. The type is defined in
//! [`crate::wire::seq`] (segments carry it and `wire` sits below `tcp`);
//! this module re-exports it under the engine's vocabulary and adds the
//! comparisons RFC 9293 names.

pub use crate::wire::seq::SeqNum;

/// RFC 9293 §3.4 "acceptable ACK": `SND.UNA < SEG.ACK =< SND.NXT`.
pub fn ack_is_acceptable(snd_una: SeqNum, seg_ack: SeqNum, snd_nxt: SeqNum) -> bool {
    snd_una.lt(seg_ack) && seg_ack.le(snd_nxt)
}

/// RFC 9293 §3.10.7.4 first step: the four-case acceptability test of a
/// segment of `seg_len` octets (SYN and FIN counted) starting at `seg_seq`
/// against the receive window `[rcv_nxt, rcv_nxt + rcv_wnd)`.
///
/// | SEG.LEN | RCV.WND | test |
/// | --- | --- | --- |
/// | 0 | 0 | `SEG.SEQ = RCV.NXT` |
/// | 0 | >0 | `RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND` |
/// | >0 | 0 | not acceptable |
/// | >0 | >0 | first or last octet inside the window |
pub fn segment_is_acceptable(
    seg_seq: SeqNum,
    seg_len: usize,
    rcv_nxt: SeqNum,
    rcv_wnd: usize,
) -> bool {
    match (seg_len, rcv_wnd) {
        (0, 0) => seg_seq == rcv_nxt,
        (0, _) => seg_seq.in_window(rcv_nxt, rcv_wnd),
        (_, 0) => false,
        (_, _) => {
            seg_seq.in_window(rcv_nxt, rcv_wnd)
                || (seg_seq + (seg_len - 1)).in_window(rcv_nxt, rcv_wnd)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const TOP: u32 = u32::MAX;

    #[rstest]
    // SEG.LEN = 0, RCV.WND = 0
    #[case::empty_zero_exact(100, 0, 100, 0, true)]
    #[case::empty_zero_after(101, 0, 100, 0, false)]
    #[case::empty_zero_before(99, 0, 100, 0, false)]
    // SEG.LEN = 0, RCV.WND > 0
    #[case::empty_left_edge(100, 0, 100, 10, true)]
    #[case::empty_last(109, 0, 100, 10, true)]
    #[case::empty_right_edge(110, 0, 100, 10, false)]
    #[case::empty_old(99, 0, 100, 10, false)]
    // SEG.LEN > 0, RCV.WND = 0
    #[case::data_zero_window(100, 1, 100, 0, false)]
    // SEG.LEN > 0, RCV.WND > 0
    #[case::data_inside(100, 5, 100, 10, true)]
    #[case::data_overlaps_left(95, 10, 100, 10, true)]
    #[case::data_overlaps_right(105, 10, 100, 10, true)]
    #[case::data_all_old(90, 10, 100, 10, false)]
    #[case::data_beyond(110, 5, 100, 10, false)]
    // Across 2^32.
    #[case::wrap_empty(1, 0, TOP - 1, 10, true)]
    #[case::wrap_data_last_octet(TOP - 5, 10, 2, 10, true)]
    #[case::wrap_data_old(TOP - 20, 10, 2, 10, false)]
    fn acceptability_table(
        #[case] seq: u32,
        #[case] len: usize,
        #[case] nxt: u32,
        #[case] wnd: usize,
        #[case] want: bool,
    ) {
        assert_eq!(
            segment_is_acceptable(SeqNum(seq), len, SeqNum(nxt), wnd),
            want
        );
    }

    #[rstest]
    #[case::acks_one(10, 11, 11, true)]
    #[case::acks_nothing_new(10, 10, 11, false)]
    #[case::acks_unsent(10, 12, 11, false)]
    #[case::wraps(TOP, 0, 1, true)]
    #[case::old_across_wrap(1, TOP, 5, false)]
    fn acceptable_ack(#[case] una: u32, #[case] ack: u32, #[case] nxt: u32, #[case] want: bool) {
        assert_eq!(
            ack_is_acceptable(SeqNum(una), SeqNum(ack), SeqNum(nxt)),
            want
        );
    }
}
