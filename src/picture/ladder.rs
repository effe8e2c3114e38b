//! The ladder diagram of one connection: our end on the left, the peer on
//! the right, one arrow per segment (tcpdump's flag letters, relative
//! seq/ack, payload length), the RFC 9293 state each end moves to on the
//! row where it moves, and the time since the previous row in the left
//! margin. 79 columns wide, in Unicode box drawing or plain ASCII.
//!
//! Our end's states are the engine's own when the exchange was recorded
//! live ([`Item::State`]); otherwise, and always for the peer, they are
//! inferred from the segments ([`super::infer`]), and the legend says so.

use std::fmt::Write as _;
use std::time::Duration;

use super::conn::{Conn, Ends, Seg, Way};
use super::infer;
use crate::tcp::State;
use crate::wire::tcp::Flags;

/// Unicode box drawing, or ASCII.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Unicode,
    Ascii,
}

impl Style {
    /// Unicode when the locale's character set is UTF-8 (the first of
    /// `LC_ALL`, `LC_CTYPE`, `LANG` that is set and not empty decides, as
    /// for setlocale(3)), unless `ascii` is asked for.
    pub fn from_env(ascii: bool) -> Style {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let locale = var("LC_ALL")
            .or_else(|| var("LC_CTYPE"))
            .or_else(|| var("LANG"));
        Style::for_locale(ascii, locale.as_deref())
    }

    /// [`Style::from_env`] for the locale named `locale`.
    pub fn for_locale(ascii: bool, locale: Option<&str>) -> Style {
        let utf8 = locale.is_some_and(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("utf-8") || l.contains("utf8")
        });
        if utf8 && !ascii {
            Style::Unicode
        } else {
            Style::Ascii
        }
    }

    fn glyphs(self) -> Glyphs {
        match self {
            Style::Unicode => Glyphs {
                line: '─',
                right: '▶',
                left: '◀',
                life: '│',
                stop: '✕',
                ellipsis: '…',
                micro: "µs",
                elided: '⋮',
            },
            Style::Ascii => Glyphs {
                line: '-',
                right: '>',
                left: '<',
                life: '|',
                stop: 'x',
                ellipsis: '~',
                micro: "us",
                elided: ':',
            },
        }
    }
}

struct Glyphs {
    line: char,
    right: char,
    left: char,
    life: char,
    stop: char,
    ellipsis: char,
    micro: &'static str,
    /// Marks the rows left out of a long exchange.
    elided: char,
}

/// One thing that happened in an exchange, in the order it happened.
#[derive(Debug, Clone)]
pub enum Item {
    Seg(Seg),
    /// Our end moved from `from` to `to` (the engine said so).
    State {
        t: Duration,
        from: State,
        to: State,
    },
    /// Anything else worth a line across the ladder.
    Note {
        t: Duration,
        text: String,
    },
}

/// An exchange to draw.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub ends: Ends,
    pub items: Vec<Item>,
    /// Whether our end's states are in `items` (recorded live) rather than
    /// to be inferred.
    pub observed: bool,
}

impl Exchange {
    /// A connection read from a capture: both ends' states inferred.
    pub fn from_conn(conn: Conn) -> Exchange {
        Exchange {
            ends: conn.ends,
            items: conn.segs.into_iter().map(Item::Seg).collect(),
            observed: false,
        }
    }

    fn segs(&self) -> Vec<Seg> {
        self.items
            .iter()
            .filter_map(|i| match i {
                Item::Seg(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Columns: the time margin, a state, the arrows between the two
/// lifelines, the other state. 9 + 1 + 12 + 1 + 1 + 41 + 1 + 1 + 12 = 79.
const TIME: usize = 9;
const STATE: usize = 12;
const SPAN: usize = 41;

/// A row of the ladder before it is drawn.
enum Row {
    Arrow {
        t: Duration,
        seg: Seg,
        label: String,
        left: Option<State>,
        right: Option<State>,
    },
    /// States that moved with no segment (a timer: TIME-WAIT's end).
    Mark {
        t: Option<Duration>,
        left: Option<State>,
        right: Option<State>,
    },
    Note {
        t: Duration,
        text: String,
    },
    /// Arrows left out of a long exchange: `count` of them, the last at
    /// `until` (the margin shows the time they took), carrying `bytes` of
    /// payload rightwards and leftwards.
    Elided {
        until: Duration,
        count: usize,
        bytes: [u64; 2],
    },
}

/// How much of a long exchange to draw: the first `head` arrows and the
/// last `tail`; the arrows between are summed up on one line per run,
/// except those where a state moved or that carry SYN, FIN or RST (and
/// notes), which are always drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    pub head: usize,
    pub tail: usize,
}

/// The ladder of `ex`, drawn in `style`, ending with its legend.
pub fn render(ex: &Exchange, style: Style) -> String {
    render_bounded(ex, style, None)
}

/// [`render`], with at most `bound`'s arrows drawn (besides those where
/// a state moved).
pub fn render_bounded(ex: &Exchange, style: Style, bound: Option<Bound>) -> String {
    let g = style.glyphs();
    let segs = ex.segs();
    let ((l0, r0), inferred) = infer::changes(&segs);
    let l0 = if ex.observed {
        ex.items
            .iter()
            .find_map(|i| match i {
                Item::State { from, .. } => Some(*from),
                _ => None,
            })
            .unwrap_or(l0)
    } else {
        l0
    };
    let rows = rows(ex, &inferred);
    let rows = match bound {
        Some(b) => elide(rows, b),
        None => rows,
    };
    let mut out = String::new();
    let left = ex.ends.left.to_string();
    let right = ex.ends.right.to_string();
    let pad = (TIME + 1 + STATE + 1 + 1 + SPAN + 1 + 1 + STATE)
        .saturating_sub(TIME + 1 + left.len() + right.len());
    let _ = writeln!(out, "{:TIME$} {left}{:pad$}{right}", "", "");
    draw_mark(&mut out, &g, "", Some(l0), Some(r0));
    let mut last: Option<Duration> = None;
    for row in &rows {
        let t = match row {
            Row::Arrow { t, .. } | Row::Note { t, .. } => Some(*t),
            Row::Mark { t, .. } => *t,
            Row::Elided { until, .. } => Some(*until),
        };
        let time = t.map(|t| margin(&g, last, t)).unwrap_or_default();
        if t.is_some() {
            last = t;
        }
        match row {
            Row::Arrow {
                seg,
                label,
                left,
                right,
                ..
            } => draw_arrow(&mut out, &g, &time, seg, label, *left, *right),
            Row::Mark { left, right, .. } => draw_mark(&mut out, &g, &time, *left, *right),
            Row::Note { text, .. } => draw_note(&mut out, &g, &time, text),
            Row::Elided { count, bytes, .. } => {
                draw_note(&mut out, &g, &time, &elided_text(&g, *count, *bytes));
            }
        }
    }
    let whose = if ex.observed {
        format!(
            "left {} (us): states as the engine reported them; right {} (peer): states \
             inferred from the segments",
            ex.ends.left, ex.ends.right
        )
    } else {
        format!(
            "left {} (opener), right {}: states inferred from the segments",
            ex.ends.left, ex.ends.right
        )
    };
    let _ = writeln!(out);
    for line in wrap(&whose, 79) {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(
        out,
        "seq/ack relative to each end's initial sequence number; len: payload octets;"
    );
    let _ = writeln!(
        out,
        "times: since the row above; rtx: a retransmission; {} withheld: built, not sent",
        g.stop
    );
    out
}

/// The rows of `ex`: arrows with the states they moved, notes, and our
/// observed states placed on the arrow that moved them.
fn rows(ex: &Exchange, inferred: &[(infer::Moves, infer::Moves)]) -> Vec<Row> {
    let mut rows = Vec::new();
    // Highest sequence number sent so far, per way: a segment that ends
    // below it again is a retransmission.
    let mut high: [Option<u32>; 2] = [None, None];
    let mut n = 0;
    // An observed state waiting for the segment we are about to send.
    let mut pending: Option<(Duration, State)> = None;
    for (i, item) in ex.items.iter().enumerate() {
        match item {
            Item::Seg(seg) => {
                let (ls, rs) = &inferred[n];
                n += 1;
                let ls: &[State] = if ex.observed { &[] } else { ls };
                // A row shows one state per end: the ones it passed
                // through on the way go on rows of their own, above.
                for k in 0..ls.len().max(rs.len()).saturating_sub(1) {
                    let (l, r) = (ls.len().saturating_sub(1), rs.len().saturating_sub(1));
                    rows.push(Row::Mark {
                        t: Some(seg.t),
                        left: (k < l).then(|| ls[k]),
                        right: (k < r).then(|| rs[k]),
                    });
                }
                let (l, r) = (ls.last().copied(), rs.last().copied());
                let w = usize::from(seg.way == Way::Left);
                let end = seg.seq.wrapping_add(seg.seg_len());
                let rtx =
                    seg.seg_len() > 0 && high[w].is_some_and(|h| h.wrapping_sub(end) as i32 >= 0);
                if high[w].is_none_or(|h| end.wrapping_sub(h) as i32 > 0) {
                    high[w] = Some(end);
                }
                let mut left = if ex.observed { None } else { l };
                if ex.observed && seg.way == Way::Right {
                    left = pending.take().map(|(_, s)| s);
                }
                rows.push(Row::Arrow {
                    t: seg.t,
                    seg: seg.clone(),
                    label: label(seg, rtx),
                    left,
                    right: r,
                });
            }
            Item::State { t, to, .. } => {
                let sends_next = ex.items[i + 1..]
                    .iter()
                    .take_while(|it| item_t(it) == *t)
                    .any(|it| matches!(it, Item::Seg(s) if s.way == Way::Right));
                // Entered by sending (a SYN, or a FIN): on the segment we
                // send next, at this instant...
                let by_sending = matches!(to, State::SynSent | State::FinWait1 | State::LastAck);
                if by_sending && sends_next && pending.is_none() {
                    pending = Some((*t, *to));
                    continue;
                }
                // ...or moved by the segment just received, at this instant
                // (a state it moved us to before goes on a row above)...
                let last = rows.iter().rposition(|r| !matches!(r, Row::Note { .. }));
                if let Some(k) = last
                    && let Row::Arrow {
                        t: at, seg, left, ..
                    } = &mut rows[k]
                    && *at == *t
                    && seg.way == Way::Left
                {
                    if let Some(before) = left.replace(*to) {
                        rows.insert(
                            k,
                            Row::Mark {
                                t: Some(*t),
                                left: Some(before),
                                right: None,
                            },
                        );
                    }
                    continue;
                }
                // ...or by one we send next, at this instant (a RST)...
                if sends_next && pending.is_none() {
                    pending = Some((*t, *to));
                    continue;
                }
                // ...or by a timer.
                if let Some((at, s)) = pending.take() {
                    rows.push(Row::Mark {
                        t: Some(at),
                        left: Some(s),
                        right: None,
                    });
                }
                rows.push(Row::Mark {
                    t: Some(*t),
                    left: Some(*to),
                    right: None,
                });
            }
            Item::Note { t, text } => rows.push(Row::Note {
                t: *t,
                text: text.clone(),
            }),
        }
    }
    if let Some((at, s)) = pending {
        rows.push(Row::Mark {
            t: Some(at),
            left: Some(s),
            right: None,
        });
    }
    rows
}

/// `rows` with the arrows beyond `bound` summed up: runs of arrows
/// where no state moved, between the first `head` arrows and the last
/// `tail`, become one [`Row::Elided`] each.
fn elide(rows: Vec<Row>, bound: Bound) -> Vec<Row> {
    let arrows = rows
        .iter()
        .filter(|r| matches!(r, Row::Arrow { .. }))
        .count();
    if arrows <= bound.head + bound.tail {
        return rows;
    }
    let middle = bound.head..arrows - bound.tail;
    let mut out = Vec::with_capacity(bound.head + bound.tail + 8);
    let mut n = 0;
    for row in rows {
        let plain = match &row {
            Row::Arrow {
                left, right, seg, ..
            } => {
                n += 1;
                let control = seg.flags.contains(Flags::SYN)
                    || seg.flags.contains(Flags::FIN)
                    || seg.flags.contains(Flags::RST);
                left.is_none() && right.is_none() && !control && middle.contains(&(n - 1))
            }
            _ => false,
        };
        if !plain {
            out.push(row);
            continue;
        }
        let Row::Arrow { t, seg, .. } = row else {
            unreachable!("only arrows are plain")
        };
        let w = usize::from(seg.way == Way::Left);
        if let Some(Row::Elided {
            until,
            count,
            bytes,
            ..
        }) = out.last_mut()
        {
            *until = t;
            *count += 1;
            bytes[w] += seg.len as u64;
        } else {
            let mut bytes = [0, 0];
            bytes[w] = seg.len as u64;
            out.push(Row::Elided {
                until: t,
                count: 1,
                bytes,
            });
        }
    }
    out
}

/// `⋮ 4380 segments not drawn: 6.3 MB →, 0 B ←`.
fn elided_text(g: &Glyphs, count: usize, bytes: [u64; 2]) -> String {
    let (to, back) = match g.right {
        '>' => ("->", "<-"),
        _ => ("→", "←"),
    };
    format!(
        "{} {} not drawn: {} {to}, {} {back}",
        g.elided,
        crate::text::count(count as u64, "segment"),
        octets(bytes[0]),
        octets(bytes[1]),
    )
}

/// `512 B`, `64.0 kB`, `6.3 MB`, `1.20 GB` (powers of 1000).
fn octets(n: u64) -> String {
    let n = n as f64;
    if n < 1e3 {
        format!("{n:.0} B")
    } else if n < 1e6 {
        format!("{:.1} kB", n / 1e3)
    } else if n < 1e9 {
        format!("{:.1} MB", n / 1e6)
    } else {
        format!("{:.2} GB", n / 1e9)
    }
}

fn item_t(item: &Item) -> Duration {
    match item {
        Item::Seg(s) => s.t,
        Item::State { t, .. } | Item::Note { t, .. } => *t,
    }
}

/// `[S.] seq 0 ack 1`, with `len` when there is payload and `rtx` on a
/// retransmission. As in tcpdump's lines, a segment that carries neither
/// data nor SYN, FIN or RST shows no sequence number.
fn label(seg: &Seg, rtx: bool) -> String {
    let mut s = format!("[{}]", seg.flag_text());
    if seg.seg_len() > 0 || seg.flags.contains(crate::wire::tcp::Flags::RST) {
        let _ = write!(s, " seq {}", seg.seq);
    }
    if let Some(ack) = seg.ack {
        let _ = write!(s, " ack {ack}");
    }
    if seg.len > 0 {
        let _ = write!(s, " len {}", seg.len);
    }
    if rtx {
        s.push_str(" rtx");
    }
    if seg.withheld {
        s.push_str(" withheld");
    }
    s
}

/// The left margin: `0` for the first row, then the time since the row
/// above (blank when none passed).
fn margin(g: &Glyphs, last: Option<Duration>, t: Duration) -> String {
    let Some(last) = last else {
        return "0".to_owned();
    };
    let d = t.saturating_sub(last);
    let us = d.as_micros();
    if us == 0 {
        String::new()
    } else if us < 1000 {
        format!("+{us}{}", g.micro)
    } else if us < 10_000 {
        format!("+{:.2}ms", us as f64 / 1e3)
    } else if us < 1_000_000 {
        format!("+{:.1}ms", us as f64 / 1e3)
    } else if us < 100_000_000 {
        format!("+{:.2}s", us as f64 / 1e6)
    } else {
        format!("+{:.0}s", us as f64 / 1e6)
    }
}

fn name(s: Option<State>) -> &'static str {
    s.map_or("", State::name)
}

fn line(
    out: &mut String,
    g: &Glyphs,
    time: &str,
    left: Option<State>,
    mid: &str,
    right: Option<State>,
) {
    let text = format!(
        "{time:>TIME$} {:>STATE$} {}{mid}{} {}",
        name(left),
        g.life,
        g.life,
        name(right)
    );
    let _ = writeln!(out, "{}", text.trim_end());
}

fn draw_mark(out: &mut String, g: &Glyphs, time: &str, left: Option<State>, right: Option<State>) {
    line(out, g, time, left, &" ".repeat(SPAN), right);
}

fn draw_arrow(
    out: &mut String,
    g: &Glyphs,
    time: &str,
    seg: &Seg,
    label: &str,
    left: Option<State>,
    right: Option<State>,
) {
    let n = label.chars().count();
    let dash = |k: usize| g.line.to_string().repeat(k);
    let (label, n) = if n + 6 <= SPAN {
        (label.to_owned(), n)
    } else {
        // Too long to ride on the arrow: on a row of its own, above it
        // (running past the right lifeline if it must, as a note does).
        draw_note(out, g, "", label);
        (String::new(), 0)
    };
    let body = if n == 0 {
        String::new()
    } else {
        format!(" {label} ")
    };
    let used = body.chars().count();
    let mid = match (seg.way, seg.withheld) {
        (Way::Right, false) => format!("{}{body}{}{}", dash(2), dash(SPAN - 3 - used), g.right),
        (Way::Left, false) => format!("{}{}{body}{}", g.left, dash(SPAN - 3 - used), dash(2)),
        (Way::Right, true) => {
            let drawn = format!("{}{body}{}{}", dash(2), dash(2), g.stop);
            let k = drawn.chars().count();
            format!("{drawn}{:pad$}", "", pad = SPAN.saturating_sub(k))
        }
        (Way::Left, true) => {
            let drawn = format!("{}{}{body}{}", g.stop, dash(2), dash(2));
            let k = drawn.chars().count();
            format!("{:pad$}{drawn}", "", pad = SPAN.saturating_sub(k))
        }
    };
    line(out, g, time, left, &mid, right);
}

fn draw_note(out: &mut String, g: &Glyphs, time: &str, text: &str) {
    // A note may run past the right lifeline, to the 79th column.
    let room = SPAN - 2 + 1 + 1 + STATE;
    let text = fit(text, room, g.ellipsis);
    let k = text.chars().count();
    let mid = if k <= SPAN - 2 {
        format!(" {text}{:pad$} {}", "", g.life, pad = SPAN - 2 - k)
    } else {
        format!(" {text}")
    };
    let row = format!("{time:>TIME$} {:>STATE$} {}{mid}", "", g.life);
    let _ = writeln!(out, "{}", row.trim_end());
}

/// `text` cut to `max` characters, the last one an ellipsis if cut.
fn fit(text: &str, max: usize, ellipsis: char) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max - 1).collect();
    s.push(ellipsis);
    s
}

/// `text` in lines of at most `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let cur = lines.last_mut().expect("one line at least");
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_owned());
        } else {
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(word);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp::Flags;
    use rstest::rstest;

    #[rstest]
    #[case(false, Some("en_US.UTF-8"), Style::Unicode)]
    #[case(false, Some("C.utf8"), Style::Unicode)]
    #[case(true, Some("C.UTF-8"), Style::Ascii)]
    #[case(false, Some("C"), Style::Ascii)]
    #[case(false, Some("POSIX"), Style::Ascii)]
    #[case(false, None, Style::Ascii)]
    fn the_locale_picks_the_characters(
        #[case] ascii: bool,
        #[case] locale: Option<&str>,
        #[case] want: Style,
    ) {
        assert_eq!(Style::for_locale(ascii, locale), want);
    }

    #[rstest]
    #[case(None, 0, "0")]
    #[case(Some(5), 5, "")]
    #[case(Some(0), 85, "+85us")]
    #[case(Some(0), 1_234, "+1.23ms")]
    #[case(Some(0), 500_300, "+500.3ms")]
    #[case(Some(0), 2_000_000, "+2.00s")]
    #[case(Some(0), 240_000_000, "+240s")]
    fn the_margin_shows_the_gap(#[case] last: Option<u64>, #[case] t: u64, #[case] want: &str) {
        let g = Style::Ascii.glyphs();
        let last = last.map(Duration::from_micros);
        assert_eq!(margin(&g, last, Duration::from_micros(t)), want);
    }

    fn seg(way: Way, flags: Flags, seq: u32, ack: Option<u32>, len: usize) -> Seg {
        Seg {
            t: Duration::ZERO,
            way,
            flags,
            seq,
            ack,
            win: 0,
            len,
            withheld: false,
        }
    }

    /// Of 100 data segments between a handshake and a close, with room
    /// for 3 + 2 arrows: the handshake's and the close's are drawn, and
    /// the data between is one line.
    #[rstest]
    #[case(Style::Ascii, ": 100 segments not drawn: 100 B ->, 0 B <-")]
    #[case(Style::Unicode, "⋮ 100 segments not drawn: 100 B →, 0 B ←")]
    fn a_long_exchange_is_summed_up(#[case] style: Style, #[case] want: &str) {
        let mut items = vec![
            Item::Seg(seg(Way::Right, Flags::SYN, 0, None, 0)),
            Item::Seg(seg(Way::Left, Flags::SYN, 0, Some(1), 0)),
            Item::Seg(seg(Way::Right, Flags::NONE, 1, Some(1), 0)),
        ];
        for i in 0..100 {
            items.push(Item::Seg(seg(Way::Right, Flags::NONE, 1 + i, Some(1), 1)));
        }
        items.push(Item::Seg(seg(Way::Right, Flags::FIN, 101, Some(1), 0)));
        items.push(Item::Seg(seg(Way::Left, Flags::NONE, 1, Some(102), 0)));
        let ex = Exchange {
            ends: Ends {
                left: "10.0.0.1:40000".parse().unwrap(),
                right: "10.0.0.2:80".parse().unwrap(),
            },
            items,
            observed: false,
        };
        let whole = render(&ex, style);
        let bound = Bound { head: 3, tail: 2 };
        let short = render_bounded(&ex, style, Some(bound));
        assert!(!whole.contains("not drawn"));
        let elided: Vec<&str> = short.lines().filter(|l| l.contains("not drawn")).collect();
        assert_eq!(elided.len(), 1, "{short}");
        assert!(elided[0].ends_with(want), "{short}");
        let arrows = |s: &str| s.lines().filter(|l| l.contains(" [")).count();
        assert_eq!(arrows(&whole), 105);
        // SYN, SYN-ACK, ACK; FIN and its ACK.
        assert_eq!(arrows(&short), 5, "{short}");
        assert!(short.contains("[F.] seq 101"), "{short}");
        assert!(short.lines().all(|l| l.chars().count() <= 79), "{short}");
        // Short enough already: drawn whole.
        let roomy = Bound { head: 100, tail: 5 };
        assert_eq!(render_bounded(&ex, style, Some(roomy)), whole);
    }

    /// A label too long for its arrow rides on a row above it, and no
    /// row is wider than 79 columns.
    #[test]
    fn a_long_label_goes_above_its_arrow() {
        let ex = Exchange {
            ends: Ends {
                left: "10.0.0.1:40000".parse().unwrap(),
                right: "10.0.0.2:80".parse().unwrap(),
            },
            items: vec![Item::Seg(seg(
                Way::Right,
                Flags::FIN | Flags::PSH,
                4_000_000_000,
                Some(4_000_000_000),
                65535,
            ))],
            observed: false,
        };
        let text = render(&ex, Style::Ascii);
        assert!(
            text.contains("| [FP.] seq 4000000000 ack 4000000000 len 65535\n"),
            "{text}"
        );
        assert!(
            text.contains("|---------------------------------------->|"),
            "{text}"
        );
        assert!(text.lines().all(|l| l.len() <= 79), "{text}");
    }
}
