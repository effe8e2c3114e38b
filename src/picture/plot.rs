//! The time–sequence graph of one direction of a connection (Stevens's,
//! tcptrace's): what the sender put on the wire and when, against what
//! the receiver acknowledged and allowed. This module is the model: the
//! bars, the ACK line, the window's right edge and the SACK blocks, in
//! relative sequence numbers and seconds; [`super::plot_svg`] draws it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::capture::Captured;
use super::conn::{Conn, Ends, Way};
use super::sender::SenderTrace;
use crate::wire::tcp::Flags;

/// One data segment: a vertical bar from `seq` to `end` at `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    pub t: Duration,
    pub seq: i64,
    pub end: i64,
    /// Some of its range was sent before (the sender repeats itself).
    pub retransmit: bool,
}

/// A SACK block the receiver reported at `t`, `[left, right)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SackBlock {
    pub t: Duration,
    pub left: i64,
    pub right: i64,
}

/// Where the round-trip samples come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RttSource {
    /// TCP timestamps (RFC 7323 §4): each ACK that moves the line, timed
    /// from when the segment whose TSval it echoes was first sent.
    /// Retransmissions do not blur them.
    Timestamps,
    /// An ACK for exactly the end of a segment sent once (Karn's rule).
    AckMatching,
}

/// How the receiver's advertised windows were turned into bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scaling {
    /// Both SYNs seen; the receiver's shift (0 when not negotiated,
    /// RFC 7323 §2.2: both ends must send the option).
    Known(u8),
    /// A SYN is missing from the capture: the shift is unknown, windows
    /// are drawn as carried (unscaled), which may be far too small.
    Unknown,
}

/// Everything the graph shows.
#[derive(Debug, Clone)]
pub struct Graph {
    pub ends: Ends,
    /// The direction drawn: its data, the other direction's ACKs.
    pub way: Way,
    pub bars: Vec<Bar>,
    /// The cumulative ACK, each time it moved forward: never decreasing
    /// (an older ACK arriving late tells nothing new).
    pub acks: Vec<(Duration, i64)>,
    /// The receive window's right edge, SEG.ACK + SEG.WND << shift, at
    /// every segment of the receiver that carries an ACK.
    pub window: Vec<(Duration, i64)>,
    pub sacks: Vec<SackBlock>,
    /// Round-trip samples, (the ACK's time, the RTT): an ACK that moves
    /// the line to exactly the end of a segment sent once (Karn's rule:
    /// a repeated range cannot tell which copy was acknowledged). The
    /// capture is taken at the sender for these to be round trips.
    pub rtts: Vec<(Duration, Duration)>,
    pub rtt_source: RttSource,
    /// When the receiver advertised a zero window: from its first such
    /// segment to its next with an open window (or the end).
    pub zero_windows: Vec<(Duration, Duration)>,
    /// Loss episodes: from a retransmission (the first since the last
    /// episode) until the cumulative ACK covers everything sent before
    /// it (RFC 6582's recovery point), or the end.
    pub episodes: Vec<(Duration, Duration)>,
    pub scaling: Scaling,
    /// Where the time axis starts: zero, or where a [`Graph::window`]
    /// begins.
    pub start: Duration,
    /// The last segment's time, of either direction (or where a window
    /// ends).
    pub end: Duration,
    /// What only the sender knows, when the graph was drawn from its own
    /// events (`nc --plot`) rather than from a capture.
    pub sender: Option<SenderTrace>,
}

/// Why there is nothing to draw.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlotError {
    #[error("{from} sent no data to {to} in this connection{hint}: there is nothing to plot")]
    NoData {
        from: String,
        to: String,
        hint: String,
    },
}

/// The sender and receiver of `way` in `ends`.
pub fn sender_receiver(ends: &Ends, way: Way) -> (std::net::SocketAddr, std::net::SocketAddr) {
    match way {
        Way::Right => (ends.left, ends.right),
        Way::Left => (ends.right, ends.left),
    }
}

fn opposite(way: Way) -> Way {
    match way {
        Way::Right => Way::Left,
        Way::Left => Way::Right,
    }
}

/// Relative sequence numbers (32 bits, from the base `conn` chose) on a
/// line without wrap: each value is taken as the one nearest the value
/// before it (RFC 9293's comparisons, within 2^31). So a capture that
/// starts mid-transfer, whose first ACK is below the first data it
/// holds, draws that ACK just below, not 4 GB above; and a transfer past
/// 4 GB goes on rising.
#[derive(Debug, Default)]
struct Unwrap {
    last: Option<i64>,
}

impl Unwrap {
    fn at(&mut self, rel: u32) -> i64 {
        let v = match self.last {
            None => i64::from(rel as i32),
            Some(last) => last + i64::from(rel.wrapping_sub(last as u32) as i32),
        };
        self.last = Some(v);
        v
    }
}

/// Payload octets `conn` carried in `way`.
pub fn data_in(conn: &Conn, way: Way) -> u64 {
    conn.segs
        .iter()
        .filter(|s| s.way == way)
        .map(|s| s.len as u64)
        .sum()
}

/// Builds the graph of `conn` in `way` (or, with `None`, the direction
/// that carried more data; the opener's on a tie). `raw` are the
/// capture's segments of this connection, in the order of `conn.segs`
/// (for the options `conn` does not keep).
pub fn build(conn: &Conn, raw: &[&Captured], way: Option<Way>) -> Result<Graph, PlotError> {
    let right = data_in(conn, Way::Right);
    let left = data_in(conn, Way::Left);
    let way = way.unwrap_or(if left > right { Way::Left } else { Way::Right });
    let (carried, other) = match way {
        Way::Right => (right, left),
        Way::Left => (left, right),
    };
    if carried == 0 {
        let (from, to) = sender_receiver(&conn.ends, way);
        let hint = if other > 0 {
            let flag = match way {
                Way::Right => "b2a",
                Way::Left => "a2b",
            };
            format!(" (the other direction carried {other} bytes: try --dir {flag})")
        } else {
            String::new()
        };
        return Err(PlotError::NoData {
            from: from.to_string(),
            to: to.to_string(),
            hint,
        });
    }
    let back = opposite(way);
    let pairs = || conn.segs.iter().zip(raw.iter().copied());

    // The shift the receiver announced applies to its windows only when
    // both SYNs carried the option; a SYN's own window is never scaled.
    let syn_of = |w: Way| pairs().find(|(s, _)| s.way == w && s.flags.contains(Flags::SYN));
    let scaling = match (syn_of(way), syn_of(back)) {
        (Some((_, ours)), Some((_, theirs))) => match (ours.wscale, theirs.wscale) {
            (Some(_), Some(shift)) => Scaling::Known(shift.min(14)),
            _ => Scaling::Known(0),
        },
        _ => Scaling::Unknown,
    };
    // The sender's sequence base, to make the SACK blocks relative as
    // `conn` made its numbers.
    let base = pairs()
        .find(|(s, _)| s.way == way)
        .map(|(s, c)| c.seq.wrapping_sub(s.seq));

    let mut bars = Vec::new();
    let mut snd_max: Option<i64> = None;
    let mut acks: Vec<(Duration, i64)> = Vec::new();
    let mut unwrap = Unwrap::default();
    let mut window = Vec::new();
    let mut sacks = Vec::new();
    let mut zero_windows = Vec::new();
    let mut rtts = Vec::new();
    // Each segment's end, when it was sent, and whether that range went
    // out more than once.
    let mut ends: BTreeMap<i64, (Duration, bool)> = BTreeMap::new();
    let mut closed_since: Option<Duration> = None;
    // With timestamps on the sender's data and the receiver's ACKs, the
    // round trips come from them: when each TSval was first sent.
    let rtt_source = {
        let data_ts = pairs().any(|(s, c)| s.way == way && s.len > 0 && c.ts.is_some());
        let ack_ts = pairs().any(|(s, c)| s.way == back && s.ack.is_some() && c.ts.is_some());
        if data_ts && ack_ts {
            RttSource::Timestamps
        } else {
            RttSource::AckMatching
        }
    };
    let mut tsval_sent: BTreeMap<u32, Duration> = BTreeMap::new();
    let mut episodes = Vec::new();
    // The episode under way: when it began, and its recovery point.
    let mut episode: Option<(Duration, i64)> = None;
    for (seg, cap) in pairs() {
        if seg.way == way {
            if seg.len == 0 {
                continue;
            }
            if let Some((val, _)) = cap.ts {
                tsval_sent.entry(val).or_insert(seg.t);
            }
            // The payload starts after the SYN, if this segment has one.
            let seq = unwrap.at(seg.seq) + i64::from(seg.flags.contains(Flags::SYN));
            let end = seq + seg.len as i64;
            let retransmit = snd_max.is_some_and(|m| seq < m);
            bars.push(Bar {
                t: seg.t,
                seq,
                end,
                retransmit,
            });
            if retransmit {
                if episode.is_none() {
                    episode = snd_max.map(|m| (seg.t, m));
                }
                // Every end the repeated range covers is now ambiguous.
                for (_, e) in ends.range_mut(seq + 1..=end) {
                    e.1 = true;
                }
            }
            ends.entry(end)
                .and_modify(|e| e.1 = true)
                .or_insert((seg.t, retransmit));
            snd_max = Some(snd_max.map_or(end, |m| m.max(end)));
        } else if let Some(ack) = seg.ack {
            let ack = unwrap.at(ack);
            if acks.last().is_none_or(|&(_, a)| ack > a) {
                acks.push((seg.t, ack));
                if let Some((from, point)) = episode
                    && ack >= point
                {
                    episodes.push((from, seg.t));
                    episode = None;
                }
                match rtt_source {
                    RttSource::Timestamps => {
                        if let Some(sent) = cap.ts.and_then(|(_, ecr)| tsval_sent.get(&ecr)) {
                            rtts.push((seg.t, seg.t.saturating_sub(*sent)));
                        }
                    }
                    RttSource::AckMatching => {
                        if let Some(&(sent, false)) = ends.get(&ack) {
                            rtts.push((seg.t, seg.t.saturating_sub(sent)));
                        }
                    }
                }
                ends = ends.split_off(&(ack + 1));
            }
            let shift = match scaling {
                Scaling::Known(s) if !seg.flags.contains(Flags::SYN) => s,
                _ => 0,
            };
            window.push((seg.t, ack + (i64::from(seg.win) << shift)));
            match (seg.win, closed_since) {
                (0, None) if !seg.flags.contains(Flags::RST) => closed_since = Some(seg.t),
                (1.., Some(from)) => {
                    zero_windows.push((from, seg.t));
                    closed_since = None;
                }
                _ => {}
            }
            if let Some(base) = base {
                for &(l, r) in &cap.sack {
                    sacks.push(SackBlock {
                        t: seg.t,
                        left: unwrap.at(l.wrapping_sub(base)),
                        right: unwrap.at(r.wrapping_sub(base)),
                    });
                }
            }
        }
    }
    let end = conn.segs.last().map_or(Duration::ZERO, |s| s.t);
    if let Some(from) = closed_since {
        zero_windows.push((from, end));
    }
    if let Some((from, _)) = episode {
        episodes.push((from, end));
    }
    Ok(Graph {
        ends: conn.ends,
        way,
        bars,
        acks,
        window,
        sacks,
        rtts,
        rtt_source,
        zero_windows,
        episodes,
        scaling,
        start: Duration::ZERO,
        end,
        sender: None,
    })
}

/// The points of a step series from `from` to `to`: the value in force at
/// `from` (moved to `from`), then those inside.
fn steps_within<T: Clone>(
    points: &[T],
    at: impl Fn(&T) -> Duration,
    with_t: impl Fn(&T, Duration) -> T,
    from: Duration,
    to: Duration,
) -> Vec<T> {
    let first = points.partition_point(|p| at(p) < from);
    let mut out: Vec<T> = first
        .checked_sub(1)
        .map(|i| with_t(&points[i], from))
        .into_iter()
        .collect();
    out.extend(points[first..].iter().take_while(|p| at(p) <= to).cloned());
    out
}

/// Intervals that overlap `[from, to]`, cut to it.
fn intervals_within(
    spans: &[(Duration, Duration)],
    from: Duration,
    to: Duration,
) -> Vec<(Duration, Duration)> {
    spans
        .iter()
        .filter(|&&(a, b)| b >= from && a <= to)
        .map(|&(a, b)| (a.max(from), b.min(to)))
        .collect()
}

impl Graph {
    /// The part of the graph from `from` to `to` (seconds since the first
    /// segment, as the axis reads): what happened then, and the lines
    /// (ACK, window, cwnd...) as they stood when it begins.
    pub fn window(mut self, from: Duration, to: Duration) -> Graph {
        let to = to.min(self.end).max(from);
        let inside = |t: Duration| (from..=to).contains(&t);
        self.bars.retain(|b| inside(b.t));
        self.sacks.retain(|b| inside(b.t));
        self.rtts.retain(|r| inside(r.0));
        let pair = |p: &(Duration, i64)| p.0;
        let moved = |p: &(Duration, i64), t| (t, p.1);
        self.acks = steps_within(&self.acks, pair, moved, from, to);
        self.window = steps_within(&self.window, pair, moved, from, to);
        self.zero_windows = intervals_within(&self.zero_windows, from, to);
        self.episodes = intervals_within(&self.episodes, from, to);
        if let Some(s) = &mut self.sender {
            s.samples = steps_within(
                &s.samples,
                |p| p.t,
                |p, t| super::sender::SenderSample {
                    t,
                    state: p.state.clone(),
                },
                from,
                to,
            );
            s.causes.retain(|c| inside(c.t));
        }
        self.start = from;
        self.end = to;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::picture::conn::Seg;

    fn ends() -> Ends {
        Ends {
            left: "10.0.0.1:40000".parse().unwrap(),
            right: "10.0.0.2:80".parse().unwrap(),
        }
    }

    fn seg(ms: u64, way: Way, flags: Flags, seq: u32, ack: Option<u32>, len: usize) -> Seg {
        Seg {
            t: Duration::from_millis(ms),
            way,
            flags,
            seq,
            ack,
            win: 100,
            len,
            withheld: false,
        }
    }

    fn raw(wscale: Option<u8>) -> Captured {
        Captured {
            at: Duration::ZERO,
            src: ends().left,
            dst: ends().right,
            seq: 0,
            ack: None,
            flags: Flags::NONE,
            win: 0,
            len: 0,
            wscale,
            sack: Vec::new(),
            ts: None,
        }
    }

    /// A repeated range is a retransmission; the ACK line only rises;
    /// the window scales by the receiver's shift, except on its SYN.
    #[test]
    fn bars_acks_and_window() {
        let a = Flags::NONE;
        let conn = Conn {
            ends: ends(),
            segs: vec![
                seg(0, Way::Right, Flags::SYN, 0, None, 0),
                seg(1, Way::Left, Flags::SYN, 0, Some(1), 0),
                seg(2, Way::Right, a, 1, Some(1), 10),
                seg(3, Way::Right, a, 11, Some(1), 10),
                seg(4, Way::Left, a, 1, Some(21), 0),
                seg(5, Way::Left, a, 1, Some(11), 0),
                seg(6, Way::Right, a, 11, Some(1), 10),
            ],
        };
        let caps: Vec<Captured> = (0..7).map(|i| raw((i < 2).then_some(2))).collect();
        let refs: Vec<&Captured> = caps.iter().collect();
        let g = build(&conn, &refs, None).unwrap();
        assert_eq!(g.way, Way::Right);
        let retrans: Vec<bool> = g.bars.iter().map(|b| b.retransmit).collect();
        assert_eq!(retrans, [false, false, true]);
        let acks: Vec<i64> = g.acks.iter().map(|a| a.1).collect();
        assert_eq!(acks, [1, 21]);
        let edges: Vec<i64> = g.window.iter().map(|w| w.1).collect();
        assert_eq!(edges, [101, 421, 411]);
        assert_eq!(g.scaling, Scaling::Known(2));
    }

    /// An ACK for the end of a segment sent once is a sample; a range
    /// sent twice gives none (Karn).
    #[test]
    fn round_trips_follow_karn() {
        let n = Flags::NONE;
        let conn = Conn {
            ends: ends(),
            segs: vec![
                seg(0, Way::Right, n, 1, Some(1), 10),
                seg(1, Way::Right, n, 11, Some(1), 10),
                seg(20, Way::Left, n, 1, Some(11), 0),
                seg(30, Way::Right, n, 11, Some(1), 10),
                seg(50, Way::Left, n, 1, Some(21), 0),
                seg(51, Way::Right, n, 21, Some(1), 10),
                seg(80, Way::Left, n, 1, Some(31), 0),
            ],
        };
        let caps: Vec<Captured> = (0..7).map(|_| raw(None)).collect();
        let refs: Vec<&Captured> = caps.iter().collect();
        let g = build(&conn, &refs, None).unwrap();
        let ms = Duration::from_millis;
        assert_eq!(g.rtts, [(ms(20), ms(20)), (ms(80), ms(29))]);
    }

    /// An episode runs from the first retransmission to the ACK that
    /// covers what was sent before it; a second loss inside it is the
    /// same episode.
    #[test]
    fn loss_episodes_end_at_the_recovery_point() {
        let n = Flags::NONE;
        let conn = Conn {
            ends: ends(),
            segs: vec![
                seg(0, Way::Right, n, 1, Some(1), 10),
                seg(1, Way::Right, n, 11, Some(1), 10),
                seg(2, Way::Right, n, 21, Some(1), 10),
                seg(10, Way::Right, n, 1, Some(1), 10),
                seg(11, Way::Right, n, 11, Some(1), 10),
                seg(20, Way::Left, n, 1, Some(21), 0),
                seg(30, Way::Left, n, 1, Some(31), 0),
                seg(40, Way::Right, n, 31, Some(1), 10),
                seg(50, Way::Right, n, 31, Some(1), 10),
            ],
        };
        let caps: Vec<Captured> = (0..9).map(|_| raw(None)).collect();
        let refs: Vec<&Captured> = caps.iter().collect();
        let g = build(&conn, &refs, None).unwrap();
        let ms = Duration::from_millis;
        assert_eq!(g.episodes, [(ms(10), ms(30)), (ms(50), ms(50))]);
    }

    /// A window keeps what happened inside it, and the ACK line as it
    /// stood when it begins.
    #[test]
    fn a_window_cuts_the_graph() {
        let n = Flags::NONE;
        let conn = Conn {
            ends: ends(),
            segs: vec![
                seg(0, Way::Right, n, 1, Some(1), 10),
                seg(10, Way::Left, n, 1, Some(11), 0),
                seg(20, Way::Right, n, 11, Some(1), 10),
                seg(30, Way::Left, n, 1, Some(21), 0),
                seg(40, Way::Right, n, 21, Some(1), 10),
                seg(50, Way::Left, n, 1, Some(31), 0),
            ],
        };
        let caps: Vec<Captured> = (0..6).map(|_| raw(None)).collect();
        let refs: Vec<&Captured> = caps.iter().collect();
        let ms = Duration::from_millis;
        let g = build(&conn, &refs, None).unwrap().window(ms(15), ms(45));
        let bars: Vec<i64> = g.bars.iter().map(|b| b.seq).collect();
        assert_eq!(bars, [11, 21]);
        assert_eq!(g.acks, [(ms(15), 11), (ms(30), 21)]);
        assert_eq!((g.start, g.end), (ms(15), ms(45)));
        // A window past the end stops at the end.
        let g = build(&conn, &refs, None).unwrap().window(ms(45), ms(900));
        assert_eq!((g.start, g.end, g.bars.len()), (ms(45), ms(50), 0));
        assert_eq!(g.acks, [(ms(45), 21), (ms(50), 31)]);
    }

    /// With timestamps, every ACK that moves the line is timed from the
    /// first sending of the TSval it echoes, a retransmitted range too.
    #[test]
    fn round_trips_from_timestamps() {
        let n = Flags::NONE;
        let conn = Conn {
            ends: ends(),
            segs: vec![
                seg(0, Way::Right, n, 1, Some(1), 10),
                seg(1, Way::Right, n, 11, Some(1), 10),
                seg(20, Way::Left, n, 1, Some(11), 0),
                seg(30, Way::Right, n, 11, Some(1), 10),
                seg(50, Way::Left, n, 1, Some(21), 0),
                seg(60, Way::Left, n, 1, Some(21), 0),
            ],
        };
        let ts = [(100, 0), (101, 0), (7, 100), (130, 0), (8, 130), (9, 130)];
        let caps: Vec<Captured> = ts
            .iter()
            .map(|&t| Captured {
                ts: Some(t),
                ..raw(None)
            })
            .collect();
        let refs: Vec<&Captured> = caps.iter().collect();
        let g = build(&conn, &refs, None).unwrap();
        let ms = Duration::from_millis;
        assert_eq!(g.rtt_source, RttSource::Timestamps);
        // The duplicate ACK at 60 ms moves nothing: no sample.
        assert_eq!(g.rtts, [(ms(20), ms(20)), (ms(50), ms(20))]);
    }

    /// Numbers just below the base, and past 2^32, stay in order.
    #[test]
    fn sequence_numbers_do_not_wrap() {
        let mut u = Unwrap::default();
        assert_eq!(u.at(0), 0);
        assert_eq!(u.at(u32::MAX - 99), -100);
        assert_eq!(u.at(2_000_000_000), 2_000_000_000);
        assert_eq!(u.at(4_000_000_000), 4_000_000_000);
        assert_eq!(u.at(100), (1 << 32) + 100);
    }

    /// A zero window lasts until the receiver opens it again, or to the end.
    #[test]
    fn zero_window_periods() {
        let mut segs = vec![seg(0, Way::Right, Flags::NONE, 1, Some(1), 10)];
        for (ms, win) in [(1, 0), (2, 0), (5, 10), (6, 0)] {
            let mut s = seg(ms, Way::Left, Flags::NONE, 1, Some(11), 0);
            s.win = win;
            segs.push(s);
        }
        segs.push(seg(9, Way::Right, Flags::NONE, 11, Some(1), 0));
        let conn = Conn { ends: ends(), segs };
        let caps: Vec<Captured> = (0..6).map(|_| raw(None)).collect();
        let refs: Vec<&Captured> = caps.iter().collect();
        let g = build(&conn, &refs, None).unwrap();
        let ms = Duration::from_millis;
        assert_eq!(g.zero_windows, [(ms(1), ms(5)), (ms(6), ms(9))]);
    }

    #[test]
    fn a_direction_without_data_is_refused_with_a_hint() {
        let conn = Conn {
            ends: ends(),
            segs: vec![seg(0, Way::Left, Flags::NONE, 1, Some(1), 5)],
        };
        let caps = [raw(None)];
        let err = build(&conn, &[&caps[0]], Some(Way::Right)).unwrap_err();
        assert!(err.to_string().contains("try --dir b2a"), "{err}");
        let g = build(&conn, &[&caps[0]], None).unwrap();
        assert_eq!((g.way, g.scaling), (Way::Left, Scaling::Unknown));
    }
}
