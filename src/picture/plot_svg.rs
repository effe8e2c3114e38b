//! A [`Graph`] drawn as SVG: the time–sequence plot above, the sender's
//! throughput over time and the round-trip samples below, a legend.
//!
//! Written here rather than with a plotting crate (`plotters` and its SVG
//! backend): the picture is lines, one step path per series, some text
//! and ticks, a few hundred lines of our own against a dependency tree of
//! fonts and image code; and we want classes on the elements (`data`,
//! `retransmit`, `ack`...) so that tests and stylesheets can find them,
//! and the same bytes for the same capture (every number is printed with
//! a fixed precision; nothing depends on the clock or a hash order).

use std::fmt::Write;
use std::time::Duration;

use super::plot::{Graph, RttSource, Scaling, sender_receiver};
use super::sender::SenderTrace;
use crate::report::event::RetransmitCause;

const WIDTH: f64 = 960.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 50.0;
/// The time–sequence plot's height, and the throughput panel's.
const MAIN: f64 = 440.0;
const PANEL: f64 = 140.0;
const GAP: f64 = 60.0;
const LEGEND: f64 = 90.0;
const LEGEND_ROW: f64 = 20.0;

const DATA: &str = "#1f3a93";
const RETRANSMIT: &str = "#d62728";
const ACK: &str = "#2ca02c";
const WINDOW: &str = "#e6a800";
const SACK: &str = "#9467bd";
const RATE: &str = "#1f77b4";
const RTT: &str = "#8c564b";
const ZERO_WINDOW: &str = "#f6d5d5";
const EPISODE: &str = "#fde8c8";
const CWND: &str = "#17becf";
const SSTHRESH: &str = "#7f7f7f";
const RTO: &str = "#e377c2";
const SRTT: &str = "#bcbd22";
const RECOVERY: &str = "#e0f0e0";
/// A retransmission's cause, by colour: the timer, a probe, recovery.
const CAUSE_RTO: &str = "#000000";
const CAUSE_TLP: &str = "#ff7f0e";
const CAUSE_RECOVERY: &str = "#d62728";

/// Seconds of `d`.
fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// A linear map from data to pixels.
#[derive(Debug, Clone, Copy)]
struct Axis {
    lo: f64,
    hi: f64,
    from: f64,
    to: f64,
}

impl Axis {
    fn at(&self, v: f64) -> f64 {
        self.from + (v - self.lo) / (self.hi - self.lo) * (self.to - self.from)
    }
}

/// Tick values for `[lo, hi]`: about `n` steps of 1, 2 or 5 × 10^k.
fn ticks(lo: f64, hi: f64, n: f64) -> (f64, Vec<f64>) {
    let raw = (hi - lo) / n;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil();
    let out = (0..)
        .map(|i| (first + f64::from(i)) * step)
        .take_while(|v| *v <= hi + step * 1e-9)
        .collect();
    (step, out)
}

/// A tick label for seconds, with as many decimals as the step needs.
fn time_label(v: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}

/// A tick label for bytes: 1500, 20k, 1.5M.
fn byte_label(v: f64) -> String {
    let v = v.round();
    if v >= 1e6 {
        trim(format!("{:.3}", v / 1e6)) + "M"
    } else if v >= 1e4 {
        trim(format!("{:.3}", v / 1e3)) + "k"
    } else {
        format!("{v:.0}")
    }
}

fn trim(s: String) -> String {
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The bin width and bytes per second of data sent in each bin.
fn throughput(graph: &Graph, span: f64) -> (f64, Vec<f64>) {
    let bins = 50usize;
    let width = span / bins as f64;
    let mut bytes = vec![0.0; bins];
    let start = secs(graph.start);
    for b in &graph.bars {
        let i = (((secs(b.t) - start).max(0.0) / width) as usize).min(bins - 1);
        bytes[i] += (b.end - b.seq) as f64;
    }
    (width, bytes.into_iter().map(|b| b / width).collect())
}

/// Draws `graph` as an SVG document.
pub fn render(graph: &Graph) -> String {
    let sender = graph.sender.as_ref();
    let panels = if sender.is_some() { 3.0 } else { 2.0 };
    let legend_rows = if sender.is_some() { 5.0 } else { 1.0 };
    let height = TOP + MAIN + GAP + panels * (PANEL + GAP) + LEGEND + legend_rows * LEGEND_ROW;
    let t0 = secs(graph.start);
    let span = (secs(graph.end) - t0).max(1e-3);
    // Where the time axis ends, in seconds (step lines run to it).
    let t_end = t0 + span;
    let x = Axis {
        lo: t0,
        hi: t_end,
        from: LEFT,
        to: WIDTH - RIGHT,
    };
    let lo = graph
        .bars
        .iter()
        .map(|b| b.seq)
        .chain(graph.acks.iter().map(|a| a.1))
        .min()
        .unwrap_or(0) as f64;
    let data_hi = graph
        .bars
        .iter()
        .map(|b| b.end)
        .chain(graph.acks.iter().map(|a| a.1))
        .chain(graph.sacks.iter().map(|s| s.right))
        .max()
        .unwrap_or(1) as f64;
    // The window's edge may be far above the data (a large scaled
    // window): it may stretch the axis to twice the data's span, no
    // more, so the bars stay readable; the rest of it is clipped.
    let window_hi = graph.window.iter().map(|w| w.1).max().unwrap_or(0) as f64;
    let hi = data_hi.max(window_hi.min(data_hi + (data_hi - lo)));
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let y = Axis {
        lo,
        hi,
        from: TOP + MAIN,
        to: TOP,
    };

    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {WIDTH:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(w, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        w,
        "<defs><clipPath id=\"plot-area\"><rect x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" \
         height=\"{:.2}\"/></clipPath></defs>",
        x.from,
        y.to,
        x.to - x.from,
        y.from - y.to
    );

    let (from, to) = sender_receiver(&graph.ends, graph.way);
    let retransmits = graph.bars.iter().filter(|b| b.retransmit).count();
    let title = format!(
        "{from} \u{2192} {to}: {} data segments, {retransmits} retransmitted",
        graph.bars.len()
    );
    let _ = writeln!(
        w,
        "<text class=\"title\" x=\"{LEFT:.0}\" y=\"24\" font-size=\"15\">{}</text>",
        escape(&title)
    );

    frame(w, &x, &y, 8.0, "bytes (relative sequence number)");

    // Shading first, then the window edge and the ACK line, so the bars
    // stay on top.
    let _ = writeln!(w, "<g class=\"zero-windows\" fill=\"{ZERO_WINDOW}\">");
    for &(from, until) in &graph.zero_windows {
        let (x1, x2) = (x.at(secs(from)), x.at(secs(until)));
        let _ = writeln!(
            w,
            "<rect class=\"zero-window\" x=\"{x1:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{:.2}\"/>",
            y.to,
            (x2 - x1).max(1.0),
            y.from - y.to
        );
    }
    let _ = writeln!(w, "</g>");
    let _ = writeln!(w, "<g class=\"loss-episodes\" fill=\"{EPISODE}\">");
    for &(from, until) in &graph.episodes {
        let (x1, x2) = (x.at(secs(from)), x.at(secs(until)));
        let _ = writeln!(
            w,
            "<rect class=\"loss-episode\" x=\"{x1:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{:.2}\"/>",
            y.to,
            (x2 - x1).max(1.0),
            y.from - y.to
        );
    }
    let _ = writeln!(w, "</g>");
    let _ = writeln!(
        w,
        "<path class=\"window\" clip-path=\"url(#plot-area)\" fill=\"none\" stroke=\"{WINDOW}\" stroke-width=\"1\" d=\"{}\"/>",
        steps(&graph.window, &x, &y, t_end)
    );
    let _ = writeln!(
        w,
        "<path class=\"ack\" fill=\"none\" stroke=\"{ACK}\" stroke-width=\"1.5\" d=\"{}\"/>",
        steps(&graph.acks, &x, &y, t_end)
    );
    let _ = writeln!(
        w,
        "<g class=\"sacks\" stroke=\"{SACK}\" stroke-width=\"3\">"
    );
    for b in &graph.sacks {
        let px = x.at(secs(b.t));
        let _ = writeln!(
            w,
            "<line class=\"sack\" x1=\"{px:.2}\" y1=\"{:.2}\" x2=\"{px:.2}\" y2=\"{:.2}\"/>",
            y.at(b.left as f64),
            y.at(b.right as f64)
        );
    }
    let _ = writeln!(w, "</g>");
    let _ = writeln!(w, "<g class=\"segments\" stroke-width=\"1.5\">");
    for b in &graph.bars {
        let px = x.at(secs(b.t));
        let (class, colour) = if b.retransmit {
            ("data retransmit", RETRANSMIT)
        } else {
            ("data", DATA)
        };
        // A bar at least one pixel tall, so a one-byte segment shows.
        let (y1, y2) = (y.at(b.seq as f64), y.at(b.end as f64));
        let y2 = y2.min(y1 - 1.0);
        let _ = writeln!(
            w,
            "<line class=\"{class}\" stroke=\"{colour}\" x1=\"{px:.2}\" y1=\"{y1:.2}\" \
             x2=\"{px:.2}\" y2=\"{y2:.2}\"/>"
        );
    }
    let _ = writeln!(w, "</g>");
    if let Some(sender) = sender {
        causes(w, sender, &x, &y);
    }

    // The throughput panel.
    let (bin, rates) = throughput(graph, span);
    let top = TOP + MAIN + GAP;
    let peak = rates.iter().copied().fold(0.0, f64::max).max(1.0);
    let ry = Axis {
        lo: 0.0,
        hi: peak,
        from: top + PANEL,
        to: top,
    };
    let _ = writeln!(
        w,
        "<text class=\"panel-title\" x=\"{LEFT:.0}\" y=\"{:.0}\">throughput sent (bytes/s, {} ms bins)</text>",
        top - 8.0,
        trim(format!("{:.3}", bin * 1e3))
    );
    frame(w, &x, &ry, 3.0, "bytes/s");
    let mut d = format!("M{:.2},{:.2}", x.at(t0), ry.at(rates[0]));
    for (i, r) in rates.iter().enumerate() {
        let _ = write!(
            d,
            " H{:.2} V{:.2} H{:.2}",
            x.at(t0 + i as f64 * bin),
            ry.at(*r),
            x.at(t0 + (i + 1) as f64 * bin)
        );
    }
    let _ = writeln!(
        w,
        "<path class=\"throughput\" fill=\"none\" stroke=\"{RATE}\" stroke-width=\"1.5\" d=\"{d}\"/>"
    );

    // The round-trip panel, in milliseconds.
    let top = top + PANEL + GAP;
    if let Some(sender) = sender {
        cwnd_panel(w, sender, &x, top, t_end);
    }
    let top = top + if sender.is_some() { PANEL + GAP } else { 0.0 };
    let ms = |us: u64| us as f64 / 1e3;
    let timers = sender.map(|s| {
        // From the first RTT sample: the initial RTO (1 s, RFC 6298
        // §2.1) would squash the round trips to the axis.
        let rto: Vec<(Duration, f64)> = s
            .samples
            .iter()
            .skip_while(|p| p.state.srtt_us.is_none())
            .map(|p| (p.t, ms(p.state.rto_us)))
            .collect();
        let srtt: Vec<(Duration, f64)> = s
            .samples
            .iter()
            .filter_map(|p| p.state.srtt_us.map(|v| (p.t, ms(v))))
            .collect();
        (rto, srtt)
    });
    let peak = graph
        .rtts
        .iter()
        .map(|r| secs(r.1) * 1e3)
        .chain(
            timers
                .iter()
                .flat_map(|(rto, srtt)| rto.iter().chain(srtt).map(|p| p.1)),
        )
        .fold(0.0, f64::max);
    let ty = Axis {
        lo: 0.0,
        hi: if peak > 0.0 { peak * 1.1 } else { 1.0 },
        from: top + PANEL,
        to: top,
    };
    let _ = writeln!(
        w,
        "<text class=\"panel-title\" x=\"{LEFT:.0}\" y=\"{:.0}\">round-trip time (ms; {}){}</text>",
        top - 8.0,
        match graph.rtt_source {
            RttSource::Timestamps => "from TCP timestamps: each ACK that moves the line",
            RttSource::AckMatching => "ACKs of segments sent once",
        },
        if sender.is_some() {
            "; the sender's SRTT and RTO"
        } else {
            ""
        }
    );
    frame(w, &x, &ty, 3.0, "ms");
    let _ = writeln!(w, "<g class=\"rtts\" fill=\"{RTT}\">");
    for &(t, rtt) in &graph.rtts {
        let _ = writeln!(
            w,
            "<circle class=\"rtt\" cx=\"{:.2}\" cy=\"{:.2}\" r=\"2\"/>",
            x.at(secs(t)),
            ty.at(secs(rtt) * 1e3)
        );
    }
    let _ = writeln!(w, "</g>");
    if let Some((rto, srtt)) = &timers {
        for (class, colour, points) in [("rto", RTO, rto), ("srtt", SRTT, srtt)] {
            let _ = writeln!(
                w,
                "<path class=\"{class}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" d=\"{}\"/>",
                steps_f(points, &x, &ty, t_end)
            );
        }
    }

    legend(w, graph, top + PANEL + GAP);
    let _ = writeln!(w, "</svg>");
    s
}

/// A step line through `points`: flat until the next value, then up or
/// down to it; carried on to the end of the time axis.
fn steps(points: &[(Duration, i64)], x: &Axis, y: &Axis, end: f64) -> String {
    let points: Vec<(Duration, f64)> = points.iter().map(|&(t, v)| (t, v as f64)).collect();
    steps_f(&points, x, y, end)
}

/// [`steps`] for values that are not whole.
fn steps_f(points: &[(Duration, f64)], x: &Axis, y: &Axis, end: f64) -> String {
    let mut d = String::new();
    for (i, &(t, v)) in points.iter().enumerate() {
        let (px, py) = (x.at(secs(t)), y.at(v));
        if i == 0 {
            let _ = write!(d, "M{px:.2},{py:.2}");
        } else {
            let _ = write!(d, " H{px:.2} V{py:.2}");
        }
    }
    if !points.is_empty() {
        let _ = write!(d, " H{:.2}", x.at(end));
    }
    d
}

fn cause_colour(cause: RetransmitCause) -> &'static str {
    match cause {
        RetransmitCause::Rto => CAUSE_RTO,
        RetransmitCause::Tlp => CAUSE_TLP,
        RetransmitCause::Recovery => CAUSE_RECOVERY,
    }
}

/// Each retransmission's cause, as a tick in a strip along the top of
/// the plot (a rug): a dot on each bar would hide the bars of a long
/// transfer, where the retransmissions run together.
fn causes(w: &mut String, sender: &SenderTrace, x: &Axis, y: &Axis) {
    let _ = writeln!(w, "<g class=\"causes\" stroke-width=\"1.5\">");
    for c in &sender.causes {
        let px = x.at(secs(c.t));
        let _ = writeln!(
            w,
            "<line class=\"cause {}\" stroke=\"{}\" x1=\"{px:.2}\" y1=\"{:.2}\" x2=\"{px:.2}\" y2=\"{:.2}\"/>",
            c.cause.name(),
            cause_colour(c.cause),
            y.to + 1.0,
            y.to + 9.0
        );
    }
    let _ = writeln!(w, "</g>");
}

/// The sender's congestion window and slow start threshold over time,
/// fast recovery shaded.
fn cwnd_panel(w: &mut String, sender: &SenderTrace, x: &Axis, top: f64, end: f64) {
    let cwnd: Vec<(Duration, i64)> = sender
        .samples
        .iter()
        .map(|s| (s.t, s.state.cwnd as i64))
        .collect();
    // ssthresh starts "arbitrarily high": drawn from its first real value.
    let ssthresh: Vec<(Duration, i64)> = sender
        .samples
        .iter()
        .filter_map(|s| s.state.ssthresh.map(|v| (s.t, v as i64)))
        .collect();
    let peak = cwnd
        .iter()
        .chain(&ssthresh)
        .map(|p| p.1)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let cy = Axis {
        lo: 0.0,
        hi: peak * 1.05,
        from: top + PANEL,
        to: top,
    };
    let _ = writeln!(
        w,
        "<text class=\"panel-title\" x=\"{LEFT:.0}\" y=\"{:.0}\">the sender's congestion window and slow start threshold (bytes); fast recovery shaded</text>",
        top - 8.0
    );
    let _ = writeln!(w, "<g class=\"recoveries\" fill=\"{RECOVERY}\">");
    let mut since: Option<Duration> = None;
    let shade = |w: &mut String, from: Duration, until: Duration| {
        let (x1, x2) = (x.at(secs(from)), x.at(secs(until)));
        let _ = writeln!(
            w,
            "<rect class=\"recovery\" x=\"{x1:.2}\" y=\"{top:.2}\" width=\"{:.2}\" height=\"{PANEL:.2}\"/>",
            (x2 - x1).max(1.0)
        );
    };
    for s in &sender.samples {
        match (s.state.recovery, since) {
            (true, None) => since = Some(s.t),
            (false, Some(from)) => {
                shade(w, from, s.t);
                since = None;
            }
            _ => {}
        }
    }
    if let Some(from) = since {
        shade(w, from, Duration::from_secs_f64(end));
    }
    let _ = writeln!(w, "</g>");
    frame(w, x, &cy, 3.0, "bytes");
    for (class, colour, points) in [("cwnd", CWND, &cwnd), ("ssthresh", SSTHRESH, &ssthresh)] {
        let _ = writeln!(
            w,
            "<path class=\"{class}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" d=\"{}\"/>",
            steps(points, x, &cy, end)
        );
    }
}

/// The box, the ticks and their labels, the axes' names.
fn frame(w: &mut String, x: &Axis, y: &Axis, y_ticks: f64, y_name: &str) {
    let _ = writeln!(
        w,
        "<rect class=\"frame\" x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{:.2}\" \
         fill=\"none\" stroke=\"#444\"/>",
        x.from,
        y.to,
        x.to - x.from,
        y.from - y.to
    );
    let (step, xt) = ticks(x.lo, x.hi, 10.0);
    let _ = writeln!(w, "<g class=\"ticks\" stroke=\"#ccc\">");
    for v in &xt {
        let px = x.at(*v);
        let _ = writeln!(
            w,
            "<line x1=\"{px:.2}\" y1=\"{:.2}\" x2=\"{px:.2}\" y2=\"{:.2}\"/>",
            y.from, y.to
        );
    }
    let (y_step, yt) = ticks(y.lo, y.hi, y_ticks);
    for v in &yt {
        let py = y.at(*v);
        let _ = writeln!(
            w,
            "<line x1=\"{:.2}\" y1=\"{py:.2}\" x2=\"{:.2}\" y2=\"{py:.2}\"/>",
            x.from, x.to
        );
    }
    let _ = writeln!(w, "</g>");
    let _ = writeln!(w, "<g class=\"labels\" fill=\"#222\">");
    for v in &xt {
        let _ = writeln!(
            w,
            "<text x=\"{:.2}\" y=\"{:.2}\" text-anchor=\"middle\">{}</text>",
            x.at(*v),
            y.from + 16.0,
            time_label(*v, step)
        );
    }
    for v in &yt {
        let _ = writeln!(
            w,
            "<text x=\"{:.2}\" y=\"{:.2}\" text-anchor=\"end\">{}</text>",
            x.from - 6.0,
            y.at(*v) + 4.0,
            if y_step < 1.0 {
                time_label(*v, y_step)
            } else {
                byte_label(*v)
            }
        );
    }
    let _ = writeln!(
        w,
        "<text x=\"{:.2}\" y=\"{:.2}\" text-anchor=\"middle\">time (s)</text>",
        (x.from + x.to) / 2.0,
        y.from + 34.0
    );
    let _ = writeln!(
        w,
        "<text x=\"16\" y=\"{:.2}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {:.2})\">{}</text>",
        (y.from + y.to) / 2.0,
        (y.from + y.to) / 2.0,
        escape(y_name)
    );
    let _ = writeln!(w, "</g>");
}

fn legend(w: &mut String, graph: &Graph, top: f64) {
    let window = match graph.scaling {
        Scaling::Known(0) => "receive window's right edge (ack + window, no scaling)".to_string(),
        Scaling::Known(s) => format!("receive window's right edge (ack + window << {s})"),
        Scaling::Unknown => {
            "receive window's right edge (ack + window, UNSCALED: no SYN in the capture)"
                .to_string()
        }
    };
    let mut items = vec![
        (DATA, "data segment (seq to seq+len)".to_string()),
        (RETRANSMIT, "retransmission (range sent before)".to_string()),
        (ACK, "cumulative ACK".to_string()),
        (WINDOW, window),
        (SACK, "SACK block".to_string()),
        (RATE, "throughput sent".to_string()),
        (RTT, "round-trip time".to_string()),
        (ZERO_WINDOW, "zero window advertised".to_string()),
        (
            EPISODE,
            "loss episode: from a retransmission to the ACK of all sent before".to_string(),
        ),
    ];
    if let Some(sender) = &graph.sender {
        let n = |c: RetransmitCause| sender.causes.iter().filter(|x| x.cause == c).count();
        items.extend([
            (CWND, "congestion window (cwnd)".to_string()),
            (SSTHRESH, "slow start threshold (ssthresh)".to_string()),
            (RTO, "retransmission timeout (RTO)".to_string()),
            (SRTT, "smoothed RTT (SRTT)".to_string()),
            (RECOVERY, "fast recovery".to_string()),
            (
                CAUSE_RECOVERY,
                format!(
                    "resent by loss recovery: {} (ticks along the top)",
                    n(RetransmitCause::Recovery)
                ),
            ),
            (
                CAUSE_TLP,
                format!("tail loss probe: {}", n(RetransmitCause::Tlp)),
            ),
            (
                CAUSE_RTO,
                format!("resent on RTO: {}", n(RetransmitCause::Rto)),
            ),
        ]);
    }
    let _ = writeln!(w, "<g class=\"legend\">");
    for (i, (colour, text)) in items.iter().enumerate() {
        let col = (i % 2) as f64;
        let row = (i / 2) as f64;
        let (lx, ly) = (LEFT + col * 430.0, top + row * 20.0);
        let _ = writeln!(
            w,
            "<line x1=\"{lx:.0}\" y1=\"{ly:.0}\" x2=\"{:.0}\" y2=\"{ly:.0}\" stroke=\"{colour}\" \
             stroke-width=\"6\"/><text x=\"{:.0}\" y=\"{:.0}\">{}</text>",
            lx + 24.0,
            lx + 32.0,
            ly + 4.0,
            escape(text)
        );
    }
    let _ = writeln!(w, "</g>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_numbers() {
        let (step, t) = ticks(0.0, 1.0, 10.0);
        assert_eq!(step, 0.1);
        assert_eq!(t.len(), 11);
        let (step, t) = ticks(1.0, 25_000.0, 8.0);
        assert_eq!(step, 5000.0);
        assert_eq!(t.first(), Some(&5000.0));
        assert_eq!(time_label(0.25, 0.05), "0.25");
        assert_eq!(byte_label(20_000.0), "20k");
        assert_eq!(byte_label(1_500_000.0), "1.5M");
        assert_eq!(byte_label(1500.0), "1500");
    }
}
