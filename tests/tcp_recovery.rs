//! Loss recovery beyond the RTO: RACK (RFC 8985 §6), the tail loss probe
//! (RFC 8985 §7), PRR (RFC 6937), undo of spurious retransmissions (RFC
//! 3522, RFC 3708) and D-SACK (RFC 2883), scripted on the virtual clock,
//! then measured in the simulator with a time budget.
#![allow(non_snake_case)] // names read `mechanism__outcome`

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use nettool::sim::{Dir, Fate, Impairments, Sim};
use nettool::tcp::{Config, Connection, SeqNum, State, TimerKind};
use nettool::time::Instant;
use nettool::wire::tcp::{TcpOption, TcpRepr};
use rstest::rstest;

mod sack_script;
use sack_script::*;

// ----- scripted: one connection, segments by hand (tests/tcp_script.rs style) -----

/// Segments `i..=j` as one range.
fn span(i: u32, j: u32) -> (u32, u32) {
    (nth(i).0, nth(j).1)
}

/// The last segment of what was queued (PSH set).
fn last_line(i: u32) -> String {
    data_line(i).replace("[.]", "[P.]")
}

/// Four segments, the last two lost: no duplicate ACKs can follow, so
/// fast retransmit never starts. The PTO (2·SRTT + 2 ms after the last
/// ACK) resends the last segment; its SACK shows the one before it lost
/// (RACK), which goes at once. Repaired in about 4 RTT from the burst,
/// where the RTO would have waited 200 ms and halved the window twice.
#[test]
fn tlp__a_tail_loss_is_repaired_by_a_probe_not_an_rto() {
    let mut c = established(config(), vec![]);
    assert_eq!(c.send(&K[..4 * MSS as usize]), Ok(2144));
    let mut burst: Vec<String> = (0..3).map(data_line).collect();
    burst.push(last_line(3));
    assert_eq!(sent(&mut c, 20), burst);
    c.handle_segment(at(30), &ack(nth(1).1, &[], None));
    assert!(sent(&mut c, 30).is_empty());
    // PTO: 2 * 10 ms + 2 ms after the ACK; the RTO would be at 230.
    assert_eq!(c.poll_timeout(), Some(at(52)));
    assert_eq!(sent(&mut c, 52), [last_line(3)]);
    assert_eq!(c.loss_probes(), 1);
    // The probe is SACKed: RACK finds segment 2, sent before it, lost.
    c.handle_segment(at(62), &ack(nth(1).1, &[nth(3)], None));
    assert!(c.in_recovery());
    assert_eq!(sent(&mut c, 62), [data_line(2)]);
    c.handle_segment(at(72), &ack(nth(3).1, &[], None));
    assert!(!c.in_recovery());
    assert_eq!(c.send_queue_len(), 0);
    assert_eq!(c.timeouts(), 0);
    assert_eq!(c.poll_timeout(), None);
}

/// The FIN rides on the last segment of a burst and is lost with it: the
/// probe resends it (data and FIN) and the peer's ACK of the FIN ends
/// FIN-WAIT-1 without a timeout.
#[test]
fn tlp__a_lost_fin_is_repaired_by_the_probe() {
    let mut c = established(config(), vec![]);
    assert_eq!(c.send(&K[..3 * MSS as usize]), Ok(1608));
    c.close(at(20));
    let (l, r) = nth(2);
    let last = format!("Flags [FP.], seq {l}:{r}, ack 5001, win 65535, length 536");
    let mut want: Vec<String> = (0..2).map(data_line).collect();
    want.push(last.clone());
    assert_eq!(sent(&mut c, 20), want);
    c.handle_segment(at(30), &ack(nth(1).1, &[], None));
    assert_eq!(c.poll_timeout(), Some(at(52)));
    assert_eq!(sent(&mut c, 52), [last]);
    c.handle_segment(at(62), &ack(r + 1, &[], None));
    assert_eq!(c.state(), State::FinWait2);
    assert_eq!(c.timeouts(), 0);
}

/// A lone FIN (everything before it acknowledged) is one segment in
/// flight: the PTO allows for the peer's delayed ACK (2·SRTT + 200 ms),
/// which the RTO caps; the probe then replaces the timeout: the FIN goes
/// again without a backoff. Its ACK without a D-SACK says the probe
/// repaired a loss (RFC 8985 §7.4): the congestion response is fast
/// recovery's (ssthresh from the one segment in flight, cwnd = ssthresh),
/// not the timeout's one-segment window.
#[test]
fn tlp__a_lone_lost_fin_is_probed_at_the_rto_instead_of_timing_out() {
    let mut c = established(config(), vec![]);
    assert_eq!(c.send(&K[..MSS as usize]), Ok(536));
    assert_eq!(sent(&mut c, 20), [last_line(0)]);
    c.handle_segment(at(30), &ack(nth(0).1, &[], None));
    c.close(at(30));
    let fin = format!(
        "Flags [F.], seq {}, ack 5001, win 65535, length 0",
        nth(1).0
    );
    assert_eq!(sent(&mut c, 30), std::slice::from_ref(&fin));
    assert_eq!(c.poll_timeout(), Some(at(230)));
    assert_eq!(sent(&mut c, 230), [fin]);
    assert_eq!((c.loss_probes(), c.timeouts()), (1, 0));
    assert_eq!(c.rto(), Duration::from_millis(200), "no backoff");
    c.handle_segment(at(240), &ack(nth(1).0 + 1, &[], None));
    assert_eq!(c.state(), State::FinWait2);
    assert_eq!((c.cwnd(), c.ssthresh()), (2 * 536, 2 * 536));
}

/// The probe timer never fires after the retransmission timer: checked
/// after every step of the tests below.
#[track_caller]
fn assert_pto_not_after_rto(c: &Connection) {
    if let (Some(pto), Some(rto)) = (
        c.timer(TimerKind::LossProbe),
        c.timer(TimerKind::Retransmission),
    ) {
        assert!(pto <= rto, "PTO at {pto:?} after the RTO at {rto:?}");
    }
}

/// The last data segment is lost and the FIN after it arrives: the
/// peer's duplicate ACK SACKs the FIN's sequence number (as nettool's
/// and Linux's receivers do), so RACK sees a delivery sent after the
/// data, and the data goes again once its reordering window (min_RTT/4)
/// has passed: about one round trip after the loss, with neither a
/// probe nor a timeout. Before, nothing came back for the FIN, and the
/// data waited for the probe (the FIN again) and then the RTO: 200 ms.
#[test]
fn tlp__a_segment_lost_before_a_sacked_fin_is_repaired_by_rack() {
    let mut c = established(config(), vec![]);
    assert_eq!(c.send(&K[..MSS as usize]), Ok(536));
    assert_eq!(sent(&mut c, 20), [last_line(0)]);
    c.close(at(21));
    let fin_seq = nth(1).0;
    let fin = format!("Flags [F.], seq {fin_seq}, ack 5001, win 65535, length 0");
    assert_eq!(sent(&mut c, 21), [fin]);
    assert_pto_not_after_rto(&c);
    // Segment 0 is lost; the FIN arrives and is SACKed at once.
    c.handle_segment(at(31), &ack(nth(0).0, &[(fin_seq, fin_seq + 1)], None));
    assert_pto_not_after_rto(&c);
    // RACK: sent 1 ms before the FIN, lost 10 ms (RACK.rtt) + 2.5 ms
    // (min_RTT/4) after it was sent.
    let lost_at = Instant::from_micros(32_500);
    assert_eq!(c.poll_timeout(), Some(lost_at));
    c.handle_timeout(lost_at);
    let resent: Vec<String> = std::iter::from_fn(|| c.poll_transmit(lost_at))
        .map(|s| line(&s))
        .collect();
    // The data, and the FIN after it (RACK marked only the data lost;
    // a segment takes the FIN that follows its octets).
    assert_eq!(resent, [last_line(0).replace("[P.]", "[FP.]")]);
    assert!(c.in_recovery());
    assert_pto_not_after_rto(&c);
    c.handle_segment(at(43), &ack(fin_seq + 1, &[], None));
    assert_eq!(c.state(), State::FinWait2);
    assert_eq!((c.loss_probes(), c.timeouts()), (0, 0));
}

/// As above, but the peer acknowledges the FIN at once without SACKing
/// it. The duplicate ACKs deliver nothing: they neither restart the
/// probe timer (RFC 8985 §7.2 restarts it on new data and on ACKs of new
/// data) nor, below the probe's end, end its episode (§7.4.2): one probe,
/// the FIN, then the RTO it re-armed resends the data. Before, each
/// duplicate ACK ended the episode and armed the next probe, which then
/// met the RTO's deadline and replaced it, again and again, until three
/// duplicate ACKs made a fast retransmit: with a 200 ms PTO, 600 ms
/// where the RTO repairs the loss in 400.
#[test]
fn tlp__duplicate_acks_below_a_probe_leave_the_repair_to_the_rto() {
    let mut c = established(config(), vec![]);
    assert_eq!(c.send(&K[..MSS as usize]), Ok(536));
    assert_eq!(sent(&mut c, 20), [last_line(0)]);
    c.close(at(21));
    let fin_seq = nth(1).0;
    let fin = format!("Flags [F.], seq {fin_seq}, ack 5001, win 65535, length 0");
    assert_eq!(sent(&mut c, 21), std::slice::from_ref(&fin));
    // PTO: 2·SRTT + 2 ms after the FIN (two segments in flight).
    assert_eq!(c.timer(TimerKind::LossProbe), Some(at(43)));
    assert_eq!(c.timer(TimerKind::Retransmission), Some(at(220)));
    c.handle_segment(at(31), &ack(nth(0).0, &[], None));
    assert_eq!(c.timer(TimerKind::LossProbe), Some(at(43)), "not restarted");
    assert_eq!(sent(&mut c, 43), std::slice::from_ref(&fin));
    assert_eq!(c.loss_probes(), 1);
    assert_eq!(c.timer(TimerKind::Retransmission), Some(at(243)));
    // The probe draws a second duplicate ACK (a third would be fast
    // retransmit's cue).
    c.handle_segment(at(53), &ack(nth(0).0, &[], None));
    assert_eq!(c.timer(TimerKind::LossProbe), None, "one probe");
    assert_pto_not_after_rto(&c);
    assert_eq!(c.poll_timeout(), Some(at(243)));
    let resent = last_line(0).replace("[P.]", "[FP.]");
    assert_eq!(sent(&mut c, 243).first(), Some(&resent));
    assert_eq!((c.loss_probes(), c.timeouts()), (1, 1));
}

/// An ACK stream that delivers nothing (here: the peer's data, while
/// ours waits for its ACK) does not push the probe back: it fires 2·SRTT
/// + 2 ms after our last segment went out, and never later than the RTO.
#[test]
fn tlp__acks_that_deliver_nothing_do_not_postpone_the_probe() {
    let mut c = established(config(), vec![]);
    assert_eq!(c.send(&K[..4 * MSS as usize]), Ok(4 * 536));
    assert_eq!(sent(&mut c, 20).len(), 4);
    assert_eq!(c.timer(TimerKind::LossProbe), Some(at(42)));
    for t in 21..42 {
        let mut from_them = ack(nth(0).0, &[], None);
        from_them.seq = SeqNum(REMOTE_ISS + 1 + (t - 21));
        from_them.payload = b"x";
        c.handle_segment(at(t as u64), &from_them);
        assert_eq!(c.timer(TimerKind::LossProbe), Some(at(42)), "at {t} ms");
        assert_pto_not_after_rto(&c);
        let _ = sent(&mut c, t as u64);
    }
    let probe = sent(&mut c, 42);
    assert_eq!(probe.len(), 1, "{probe:?}");
    assert!(probe[0].contains(&format!("seq {}:{}", nth(3).0, nth(3).1)));
    assert_eq!(c.loss_probes(), 1);
}

/// A flight whose ACKs are all lost. The probe is new data (segment 10)
/// and arrives alone after a flight the peer has ACKed, so the peer may
/// delay its ACK, and here that ACK is lost too (`probe_unanswered`), or
/// the probe itself is lost (`probe_lost`). Twice the PTO later a second
/// probe, again new data, follows: two segments draw an ACK at once, or a
/// SACK that shows RACK the first probe lost. Before, only the RTO was
/// left, 200 ms after the probe.
#[rstest]
#[case::probe_unanswered(false)]
#[case::probe_lost(true)]
fn tlp__a_probe_of_new_data_gets_a_second_before_the_rto(#[case] probe_lost: bool) {
    let mut c = established(config(), vec![]);
    assert_eq!(c.send(&K[..14 * MSS as usize]), Ok(14 * 536));
    assert_eq!(sent(&mut c, 20).len(), 10);
    assert_eq!(c.poll_timeout(), Some(at(42)));
    assert_eq!(sent(&mut c, 42), [data_line(10)]);
    assert_eq!(c.poll_timeout(), Some(at(42 + 2 * 22)));
    assert_eq!(sent(&mut c, 86), [data_line(11)]);
    assert_eq!(c.loss_probes(), 2);
    if probe_lost {
        c.handle_segment(at(96), &ack(nth(10).0, &[nth(11)], None));
        assert_eq!(sent(&mut c, 96).first(), Some(&data_line(10)), "RACK");
        assert!(c.in_recovery());
    } else {
        c.handle_segment(at(96), &ack(nth(11).1, &[], None));
        assert!(!c.in_recovery());
    }
    assert_eq!(c.timeouts(), 0);
}

/// Fast recovery whose last ACKs are lost. Segment 0 is lost, SACKs of
/// 1–9 start recovery and release new data (PRR); then no ACK comes
/// back, whether the peer has everything (`acks_lost`) or the
/// retransmission of 0 was lost as well (`retransmission_lost`). PRR
/// sends nothing without ACKs, and nothing sent after the retransmission
/// is known delivered, so RACK cannot time it: before the probe was
/// armed in recovery too, the RTO fired 200 ms later and went back to a
/// window of one segment. The probe goes 2·SRTT + 2 ms after the last
/// ACK; its ACK ends recovery, or its SACK lets RACK find the
/// retransmission lost and send it again. No timeout either way, and
/// the probe reduces the window no further.
#[rstest]
#[case::acks_lost(false)]
#[case::retransmission_lost(true)]
fn tlp__a_recovery_whose_acks_stop_is_probed_not_timed_out(#[case] retransmission_lost: bool) {
    let mut c = established(config(), vec![]);
    assert_eq!(c.send(&K[..20 * MSS as usize]), Ok(20 * 536));
    assert_eq!(sent(&mut c, 20).len(), 10);
    c.handle_segment(at(30), &ack(nth(0).0, &[span(1, 3)], None));
    assert!(c.in_recovery());
    assert_eq!(sent(&mut c, 30), [data_line(0)]);
    c.handle_segment(at(31), &ack(nth(0).0, &[span(1, 9)], None));
    let released = sent(&mut c, 31);
    assert_eq!(released, (10..14).map(data_line).collect::<Vec<_>>(), "PRR");
    let reduced = (c.cwnd(), c.ssthresh());
    // Nothing more arrives: the probe, new data, long before the RTO.
    assert_eq!(c.poll_timeout(), Some(at(31 + 2 * 10 + 2)));
    assert_eq!(sent(&mut c, 53), [data_line(14)]);
    assert_eq!((c.loss_probes(), c.timeouts()), (1, 0));
    if retransmission_lost {
        c.handle_segment(at(63), &ack(nth(0).0, &[span(1, 14)], None));
        assert_eq!(sent(&mut c, 63).first(), Some(&data_line(0)), "RACK");
        c.handle_segment(at(73), &ack(nth(14).1, &[], None));
    } else {
        c.handle_segment(at(63), &ack(nth(14).1, &[], None));
    }
    assert!(!c.in_recovery());
    assert_eq!(c.timeouts(), 0);
    assert!(c.cwnd() <= reduced.0 + 2 * MSS as usize, "{:?}", c.cwnd());
    assert_eq!(c.ssthresh(), reduced.1, "no second reduction");
}

/// As above with no new data to send: the probe in recovery resends the
/// last segment, whose loss it then turns out to have repaired (the ACK
/// covering it brings no D-SACK) as that ACK ends the recovery. The
/// recovery's reduction answers that loss; a second response of the
/// probe's own (RFC 8985 §7.4, meant for probes outside recovery) would
/// count the episode twice, and set cwnd to ssthresh where ending the
/// recovery sets min(ssthresh, FlightSize + SMSS).
#[test]
fn tlp__a_probe_in_recovery_adds_no_congestion_response() {
    let mut c = established(config(), vec![]);
    assert_eq!(c.send(&K[..10 * MSS as usize]), Ok(10 * 536));
    assert_eq!(sent(&mut c, 20).len(), 10);
    c.handle_segment(at(30), &ack(nth(0).0, &[span(1, 3)], None));
    assert_eq!(sent(&mut c, 30), [data_line(0)]);
    c.handle_segment(at(31), &ack(nth(0).0, &[span(1, 8)], None));
    assert!(sent(&mut c, 31).is_empty());
    assert_eq!(c.ssthresh(), 5 * MSS as usize);
    assert_eq!(c.poll_timeout(), Some(at(53)));
    assert_eq!(sent(&mut c, 53), [last_line(9)]);
    c.handle_segment(at(63), &ack(nth(9).1, &[], None));
    assert!(!c.in_recovery());
    assert_eq!((c.loss_probes(), c.timeouts()), (1, 0));
    assert_eq!(
        (c.cwnd(), c.ssthresh()),
        (2 * MSS as usize, 5 * MSS as usize)
    );
}

/// Ten segments, the first lost. The third SACK starts recovery (RACK
/// with DupThresh SACKed segments and no reordering seen: no reordering
/// window) and the retransmission is lost too. Segments sent after it are
/// SACKed a round trip later: RACK, comparing transmission times, finds
/// the retransmission lost and sends it a third time, with no RTO.
#[test]
fn rack__a_lost_retransmission_is_detected_without_an_rto() {
    let mut c = established(config(), vec![]);
    assert_eq!(c.send(&K[..16 * MSS as usize]), Ok(16 * 536));
    assert_eq!(sent(&mut c, 20).len(), 10, "IW10");
    let mut sacked = nth(1);
    let mut t = 30;
    let mut third_copy_at = None;
    let mut copies = 1;
    // The peer SACKs segments 1.. one per ACK, each 10 ms after it left;
    // every copy of segment 0 before the third is lost.
    let mut sent_at: Vec<(u32, u64)> = (1..10).map(|i| (i, 20)).collect();
    while let Some((i, when)) = sent_at.first().copied() {
        sent_at.remove(0);
        t = t.max(when + 10);
        sacked.1 = nth(i).1;
        c.handle_segment(at(t), &ack(nth(0).0, &[sacked], None));
        for l in sent(&mut c, t) {
            if l == data_line(0) {
                copies += 1;
                if copies == 3 {
                    third_copy_at = Some(t);
                }
            } else {
                let seq: u32 = l["Flags [.], seq ".len() + usize::from(l.contains("[P.]"))..]
                    .split(':')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                sent_at.push(((seq - LOCAL_ISS - 1) / MSS, t));
            }
        }
        t += 1;
        if third_copy_at.is_some() {
            break;
        }
    }
    let third = third_copy_at.expect("segment 0 sent a third time");
    // The first retransmission left at 32 (third SACK); the segments sent
    // after it are SACKed from 10 ms after they left.
    assert!(third < 60, "third copy at {third} ms");
    assert_eq!(c.timeouts(), 0);
    assert!(c.in_recovery());
}

/// One ACK reporting two holes, its newest (higher) block first as RFC
/// 2018 has it: RACK takes the blocks in sequence order, so the lower
/// block is no sign of reordering, the reordering window stays zero, and
/// both holes are resent at once rather than after min_RTT/4.
#[test]
fn rack__blocks_newest_first_are_not_reordering() {
    let mut c = established(config(), vec![]);
    assert_eq!(c.send(&K[..10 * MSS as usize]), Ok(5360));
    assert_eq!(sent(&mut c, 20).len(), 10);
    let blocks = [(nth(5).0, nth(9).1), (nth(1).0, nth(3).1)];
    c.handle_segment(at(30), &ack(nth(0).0, &blocks, None));
    assert!(c.in_recovery());
    assert_eq!(sent(&mut c, 30), [data_line(0), data_line(4)]);
}

/// PRR (RFC 6937 §3.1) in numbers: ten segments in flight, the first
/// lost, ssthresh = 5 segments, RecoverFS = 10 (the window at the event,
/// as Linux takes it). Each ACK SACKs one more segment (DeliveredData = 1
/// segment). Before recovery, each SACK lets a new segment go (RFC 6675
/// §5 step 1, Limited Transmit with pipe):
///
/// | ACK SACKs | prr_delivered | pipe before sending | rule | sndcnt | sent |
/// | --- | --- | --- | --- | --- | --- |
/// | 1 | – | 9 | cwnd − pipe ≥ 1 SMSS | – | 1 new |
/// | 2 | – | 9 | cwnd − pipe ≥ 1 SMSS | – | 1 new |
/// | 3 | 1 | 8 | fast retransmit: ⌈1·5/10⌉ − 0 | 1 | retransmission |
/// | 4 | 2 | 8 | proportional: ⌈2·5/10⌉ − 1 | 0 | — |
/// | 5 | 3 | 7 | proportional: ⌈3·5/10⌉ − 1 (1.5 − 1) | ½ | — |
/// | 6 | 4 | 6 | proportional: ⌈4·5/10⌉ − 1 | 1 | 1 new |
/// | 7 | 5 | 6 | proportional: ⌈5·5/10⌉ − 2 (2.5 − 2) | ½ | — |
///
/// (pipe counts the retransmission once it is sent, the segments not
/// SACKed, and the new ones.)
#[test]
fn prr__segments_released_per_ack_follow_rfc_6937() {
    let mut c = established(config(), vec![]);
    assert_eq!(c.send(&K[..16 * MSS as usize]), Ok(16 * 536));
    assert_eq!(sent(&mut c, 20).len(), 10);
    let mut released = Vec::new();
    let mut cwnds = Vec::new();
    for i in 1..=7 {
        let t = 30 + u64::from(i);
        c.handle_segment(at(t), &ack(nth(0).0, &[(nth(1).0, nth(i).1)], None));
        released.push(sent(&mut c, t));
        cwnds.push(c.cwnd() / MSS as usize);
    }
    assert_eq!(c.ssthresh(), 5 * MSS as usize);
    let counts: Vec<usize> = released.iter().map(Vec::len).collect();
    assert_eq!(counts, [1, 1, 1, 0, 0, 1, 0], "{released:?}");
    assert_eq!(released[0], [data_line(10)]);
    assert_eq!(released[1], [data_line(11)]);
    assert_eq!(released[2], [data_line(0)]);
    assert_eq!(released[5], [data_line(12)]);
    assert_eq!(c.timeouts(), 0);
}

/// A fast retransmit that was not needed: the original was only
/// reordered. The peer's cumulative ACK comes first, then the D-SACK for
/// the retransmission (RFC 2883): every retransmitted octet was a
/// duplicate, so the window goes back to what it was (RFC 3708).
#[test]
fn undo__a_d_sack_for_every_retransmission_restores_cwnd() {
    let mut c = established(config(), vec![]);
    assert_eq!(c.send(&K[..10 * MSS as usize]), Ok(5360));
    assert_eq!(sent(&mut c, 20).len(), 10);
    let before = (c.cwnd(), c.ssthresh());
    for i in 1..=3 {
        c.handle_segment(
            at(30 + u64::from(i)),
            &ack(nth(0).0, &[(nth(1).0, nth(i).1)], None),
        );
    }
    assert!(c.in_recovery());
    assert_eq!(sent(&mut c, 33), [data_line(0)]);
    assert!(c.cwnd() < before.0);
    // The original arrives: everything is acknowledged; then the D-SACK.
    c.handle_segment(at(35), &ack(nth(9).1, &[], None));
    assert!(!c.in_recovery());
    assert_eq!(c.spurious_undos(), 0);
    c.handle_segment(at(43), &ack(nth(9).1, &[nth(0)], None));
    assert_eq!(c.spurious_undos(), 1);
    assert_eq!((c.cwnd(), c.ssthresh()), before);
}

/// The same with timestamps (Eifel, RFC 3522): the first ACK to cover the
/// retransmitted segment echoes the TSval of the original (20), older
/// than the retransmission's (33): the original arrived, the event was
/// spurious, and recovery is undone at once.
#[test]
fn undo__an_ack_echoing_the_original_timestamp_restores_cwnd() {
    let cfg = Config {
        timestamps: true,
        ..config()
    };
    let mut c = established(cfg, vec![TcpOption::Timestamps { val: 1, ecr: 0 }]);
    assert_eq!(c.send(&K[..10 * 524]), Ok(5240));
    assert_eq!(sent(&mut c, 20).len(), 10);
    let before = (c.cwnd(), c.ssthresh());
    let seg = |i: u32| (LOCAL_ISS + 1 + i * 524, LOCAL_ISS + 1 + (i + 1) * 524);
    for i in 1..=3 {
        let t = 30 + u64::from(i);
        c.handle_segment(at(t), &ack(seg(0).0, &[(seg(1).0, seg(i).1)], Some(20)));
    }
    assert!(c.in_recovery());
    assert_eq!(sent(&mut c, 33).len(), 1, "the retransmission");
    assert!(c.cwnd() < before.0);
    c.handle_segment(at(35), &ack(seg(9).1, &[], Some(20)));
    assert_eq!(c.spurious_undos(), 1);
    assert!(!c.in_recovery());
    assert_eq!((c.cwnd(), c.ssthresh()), before);
}

/// A genuine loss is not undone: the ACK covering the retransmission
/// echoes the retransmission's own TSval.
#[test]
fn undo__a_real_loss_keeps_the_reduced_window() {
    let cfg = Config {
        timestamps: true,
        ..config()
    };
    let mut c = established(cfg, vec![TcpOption::Timestamps { val: 1, ecr: 0 }]);
    assert_eq!(c.send(&K[..10 * 524]), Ok(5240));
    let _ = sent(&mut c, 20);
    let seg = |i: u32| (LOCAL_ISS + 1 + i * 524, LOCAL_ISS + 1 + (i + 1) * 524);
    for i in 1..=3 {
        let t = 30 + u64::from(i);
        c.handle_segment(at(t), &ack(seg(0).0, &[(seg(1).0, seg(i).1)], Some(20)));
    }
    let _ = sent(&mut c, 33);
    c.handle_segment(at(43), &ack(seg(9).1, &[], Some(33)));
    assert_eq!(c.spurious_undos(), 0);
    // Recovery over with nothing in flight: cwnd = min(ssthresh,
    // FlightSize + SMSS) with FlightSize taken as at least one SMSS.
    assert_eq!(c.ssthresh(), 2620);
    assert_eq!(c.cwnd(), 2 * 524);
}

/// A spurious timeout (RFC 3522 with RFC 4015's response): the ACKs were
/// only late. The first one after the retransmission echoes the
/// original's TSval, so the timeout is undone: the window comes back and
/// the go-back-N stops, so what the late ACK did not cover is not sent a
/// second time.
#[test]
fn undo__a_spurious_timeout_restores_cwnd_and_stops_going_back() {
    let cfg = Config {
        timestamps: true,
        ..config()
    };
    let mut c = established(cfg, vec![TcpOption::Timestamps { val: 1, ecr: 0 }]);
    assert_eq!(c.send(&K[..4 * 524]), Ok(2096));
    assert_eq!(sent(&mut c, 20).len(), 4);
    let before = (c.cwnd(), c.ssthresh());
    // No ACK: the probe (2·SRTT + 2 ms) first, then the RTO, 200 ms after
    // the probe re-armed it.
    assert_eq!(sent(&mut c, 42).len(), 1, "the tail loss probe");
    assert_eq!(c.poll_timeout(), Some(at(242)));
    let resent = sent(&mut c, 242);
    assert_eq!(resent.len(), 1, "{resent:?}");
    assert!(resent[0].contains("seq 1001:1525"), "{resent:?}");
    assert_eq!((c.timeouts(), c.cwnd()), (1, 524));
    // The late ACK of the first two originals, echoing their TSval.
    c.handle_segment(at(250), &ack(LOCAL_ISS + 1 + 2 * 524, &[], Some(20)));
    assert_eq!(c.spurious_undos(), 1);
    assert_eq!((c.cwnd(), c.ssthresh()), before);
    assert_eq!(sent(&mut c, 250), Vec::<String>::new(), "no go-back-N");
    c.handle_segment(at(251), &ack(LOCAL_ISS + 1 + 4 * 524, &[], Some(20)));
    assert_eq!(c.send_queue_len(), 0);
}

fn data_from_peer(seq: u32, payload: &'static [u8]) -> TcpRepr<'static> {
    TcpRepr {
        seq: SeqNum(seq),
        payload,
        ..from_peer(LOCAL_ISS + 1)
    }
}

/// RFC 2883 §4: a duplicate segment's range is the first SACK block of
/// the ACK it draws, reported once: a segment wholly below RCV.NXT, one
/// partly below it, and a duplicate of data held out of order (then
/// followed by the block that holds it).
#[rstest]
#[case::old_duplicate(
    &[(1, 100), (1, 100)],
    "Flags [.], ack 5101, win 65435, options [nop,nop,sack 1 {5001:5101}], length 0",
    "{5001:5101}"
)]
#[case::partly_old(
    &[(1, 100), (51, 100)],
    "Flags [.], ack 5151, win 65385, options [nop,nop,sack 1 {5051:5101}], length 0",
    "{5051:5101}"
)]
#[case::duplicate_of_held_data(
    &[(201, 100), (201, 100)],
    "Flags [.], ack 5001, win 65535, options [nop,nop,sack 2 {5201:5301}{5201:5301}], length 0",
    "{5201:5301}"
)]
fn dsack__a_duplicate_is_reported_first(
    #[case] segs: &[(u32, usize)],
    #[case] want: &str,
    #[case] dsack: &str,
) {
    let mut c = established(config(), vec![]);
    let mut last = Vec::new();
    for (i, &(off, len)) in segs.iter().enumerate() {
        c.handle_segment(
            at(20 + i as u64),
            &data_from_peer(REMOTE_ISS + off, &K[..len]),
        );
        last = sent(&mut c, 20 + i as u64);
    }
    assert_eq!(last, [want]);
    // Reported once: the next ACK's first block is the new data's.
    c.handle_segment(at(30), &data_from_peer(REMOTE_ISS + 1001, &K[..10]));
    let next = sent(&mut c, 30);
    assert_eq!(next.len(), 1);
    let first = next[0]
        .split_once("sack ")
        .and_then(|(_, rest)| rest.split_once(' '))
        .map(|(_, blocks)| blocks);
    assert!(first.is_some_and(|b| b.starts_with("{6001:6011}") && !b.starts_with(dsack)));
}

/// RFC 2883 §4 when segments arrive faster than the caller polls: each
/// out-of-order one queues its ACK at once, and only the ACK the
/// duplicate drew carries the D-SACK. Repeated by the ACKs queued behind
/// it, a Linux sender counts every copy as one more duplicate, soon more
/// than it retransmitted, and then ignores all D-SACKs as dubious (its
/// TCPDSACKIgnoredDubious; measured through tests/nc_faults.rs's faults:
/// 2492 of 2513 D-SACKs ignored, no undo, no reordering window).
#[test]
fn dsack__reported_once_by_acks_queued_together() {
    let mut c = established(config(), vec![]);
    for (ms, off) in [(20, 201), (20, 201), (20, 401), (20, 601)] {
        c.handle_segment(at(ms), &data_from_peer(REMOTE_ISS + off, &K[..100]));
    }
    let sack = |blocks: &str| {
        format!("Flags [.], ack 5001, win 65535, options [nop,nop,sack {blocks}], length 0")
    };
    assert_eq!(
        sent(&mut c, 20),
        [
            sack("1 {5201:5301}"),
            sack("2 {5201:5301}{5201:5301}"),
            sack("2 {5401:5501}{5201:5301}"),
            sack("3 {5601:5701}{5401:5501}{5201:5301}"),
        ]
    );
}

/// The same when a loss probe, built at its timer ahead of the next poll,
/// is the first segment to carry the D-SACK: the ACK an out-of-order
/// segment draws after it does not repeat it.
#[test]
fn dsack__reported_once_when_a_loss_probe_carries_it() {
    let mut c = established(config(), vec![]);
    c.send(&K[..536]).unwrap();
    assert_eq!(sent(&mut c, 10).len(), 1);
    c.handle_segment(at(11), &data_from_peer(REMOTE_ISS + 1, &K[..100]));
    assert_eq!(sent(&mut c, 11).len(), 1);
    // The duplicate: a D-SACK is owed.
    c.handle_segment(at(12), &data_from_peer(REMOTE_ISS + 1, &K[..100]));
    let pto = c.poll_timeout().unwrap();
    c.handle_timeout(pto);
    assert_eq!(c.loss_probes(), 1);
    c.handle_segment(pto, &data_from_peer(REMOTE_ISS + 201, &K[..100]));
    let out: Vec<String> = std::iter::from_fn(|| c.poll_transmit(pto))
        .map(|s| line(&s))
        .collect();
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out[0].contains("sack 1 {5001:5101}"), "{out:?}");
    assert!(out[1].contains("sack 1 {5201:5301}"), "{out:?}");
}

/// D-SACKs and the engine's reply to a discarded segment: the old
/// duplicate changes nothing but the ACK owed.
#[test]
fn dsack__an_old_duplicate_changes_no_receive_state() {
    let mut c = established(config(), vec![]);
    c.handle_segment(at(20), &data_from_peer(REMOTE_ISS + 1, &K[..100]));
    let _ = sent(&mut c, 20);
    let tcb = *c.tcb();
    c.handle_segment(at(21), &data_from_peer(REMOTE_ISS + 1, &K[..100]));
    assert_eq!(*c.tcb(), tcb);
    assert_eq!(c.recv_queue_len(), 100);
    assert_eq!(c.reassembly_len(), 0);
}

// ----- the simulator: scripted drops, then random loss with a budget -----

fn payload(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ (i >> 11) as u8)
        .collect()
}

/// A sends `len` bytes and closes; B reads and closes on EOF.
fn transfer(seed: u64, imp: Impairments, len: usize) -> Sim {
    let mut sim = Sim::client_server(seed, Config::default()).with_impairments(imp);
    sim.a_mut().app.to_send = payload(len);
    sim.a_mut().app.close_after_send = true;
    sim
}

fn received_all(len: usize) -> impl Fn(&Sim) -> bool {
    move |s: &Sim| s.b().app.received.len() == len && s.b().app.eof
}

/// One segment in the middle of a bulk transfer is lost twice: first the
/// original, then its retransmission. RACK repairs both; no RTO.
#[test]
fn sim__a_segment_lost_twice_is_repaired_without_an_rto() {
    let len = 300_000;
    let imp = Impairments {
        delay: Duration::from_millis(5),
        ..Impairments::CLEAN
    };
    let mut sim = transfer(7, imp, len);
    // The 60th data segment A sends, and the next copy of it.
    let target: Rc<Cell<Option<SeqNum>>> = Rc::default();
    let (count, dropped) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    {
        let (target, count, dropped) = (target.clone(), count.clone(), dropped.clone());
        sim.drop_if(Dir::AtoB, move |seg| {
            if seg.payload.is_empty() {
                return false;
            }
            count.set(count.get() + 1);
            if count.get() == 60 {
                target.set(Some(seg.seq));
            }
            let hit = target.get() == Some(seg.seq) && dropped.get() < 2;
            if hit {
                dropped.set(dropped.get() + 1);
            }
            hit
        });
    }
    sim.run_until(received_all(len), 200_000).unwrap();
    assert_eq!(dropped.get(), 2);
    assert!(sim.b().app.received == payload(len));
    assert_eq!(sim.a().conn.timeouts(), 0, "{}", sim.trace_text());
    let copies = sim
        .trace()
        .iter()
        .filter(|e| e.dir == Dir::AtoB && e.fate != Fate::Delivered)
        .filter(|e| {
            let seq = target.get().unwrap().0;
            e.line.contains(&format!("seq {seq}:"))
        })
        .count();
    assert_eq!(copies, 3);
}

/// Virtual time to move 8 MiB and close, A to B, 5 ms each way, with
/// `loss` each way; and A's RTO count.
fn bulk_8mib(seed: u64, loss: f64) -> (Duration, u32) {
    const LEN: usize = 8 * 1024 * 1024;
    let imp = Impairments {
        loss,
        delay: Duration::from_millis(5),
        ..Impairments::CLEAN
    };
    let mut sim = transfer(seed, imp, LEN);
    sim.run_until(received_all(LEN), 2_000_000).unwrap();
    assert!(sim.b().app.received == payload(LEN));
    (
        Duration::from_micros(sim.now().total_micros()),
        sim.a().conn.timeouts(),
    )
}

/// The budget: under random loss the transfer stays within a multiple of
/// the loss-free time (0.115 s) and almost never waits for an RTO.
/// Measured over seeds 0–4 with CUBIC, before (main at the merge) →
/// after RACK-TLP, PRR and undo: 0.5 %: 3.0–4.9 s → 3.1–4.4 s, 0 → 0
/// RTOs; 1 %: 5.2–7.1 s → 5.6–6.4 s, 5 → 0 RTOs; 2 %: 8.8–10.3 s →
/// 7.4–8.4 s, 16 → 2 RTOs. What is left is congestion avoidance's own
/// pace at 10 ms RTT and that loss rate (Mathis: about 6.7 s at 2 %).
#[rstest]
#[case::loss_0_5(0.005, 60)]
#[case::loss_1(0.01, 90)]
#[case::loss_2(0.02, 110)]
fn sim__8_mib_under_random_loss_stays_within_budget(#[case] loss: f64, #[case] times: u32) {
    let (clean, _) = bulk_8mib(0, 0.0);
    for seed in 0..3 {
        let (t, rtos) = bulk_8mib(seed, loss);
        assert!(
            t <= clean * times,
            "seed {seed}: {t:?} > {times} × {clean:?}"
        );
        assert!(rtos <= 2, "seed {seed}: {rtos} RTOs");
    }
}

/// Through random loss alone the window's pace is congestion control's:
/// the mean time over three seeds stays under a bound that holds only
/// when each congestion event keeps β of the flight the window carried.
/// Before (ssthresh from what was outstanding when the loss was found,
/// often a burst's last few segments): 0.5 %: 4.30/3.12/4.43 s, 1 %:
/// 6.27/5.75/6.36 s; after: 2.87/2.19/3.63 s and 4.84/4.11/5.22 s.
#[rstest]
#[case::loss_0_5(0.005, 3.4)]
#[case::loss_1(0.01, 5.3)]
fn sim__8_mib_under_random_loss_mean_time(#[case] loss: f64, #[case] secs: f64) {
    let mean = (0..3)
        .map(|seed| bulk_8mib(seed, loss).0.as_secs_f64())
        .sum::<f64>()
        / 3.0;
    assert!(mean <= secs, "mean {mean:.2} s > {secs} s");
}

/// Figures for the report: `cargo test --test tcp_recovery measure --
/// --ignored --nocapture`.
#[test]
#[ignore]
fn measure() {
    for loss in [0.0, 0.005, 0.01, 0.02] {
        let runs: Vec<(f64, u32)> = (0..5)
            .map(|seed| bulk_8mib(seed, loss))
            .map(|(t, r)| (t.as_secs_f64(), r))
            .collect();
        eprintln!("loss {loss}: (seconds, RTOs) {runs:?}");
    }
}
