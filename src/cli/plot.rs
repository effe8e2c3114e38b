//! `nettool plot`'s arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::picture::ConnFilter;

/// Which direction's data to plot: tcptrace's names, `a` being the
/// connection's opener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlotDir {
    /// The data the opener (the sender of the SYN) sent.
    A2b,
    /// The data the other end sent back.
    B2a,
}

/// Draw the time–sequence graph of one TCP connection of a saved capture, as SVG.
#[derive(Debug, Args)]
#[command(
    long_about = "Read FILE, a capture in classic pcap format (from nettool's --pcap, or from `tcpdump -w` on an \
Ethernet interface or on `any`), and draw the time–sequence graph of one direction of one TCP \
connection in it (the picture of Stevens and tcptrace) as an SVG file: time in seconds across, \
relative sequence numbers in bytes up; each data segment a vertical bar from its first byte to \
its last at the time it was captured, retransmissions (a segment repeating bytes sent before) \
in red; the other end's cumulative ACK as a green step line; the receive window's right edge \
(ACK + window, scaled by the shift both SYNs negotiated) in yellow; SACK blocks in purple; \
zero-window periods shaded; below, the throughput sent over time and the round-trip time of the \
segments sent once (a round trip when the capture was taken at the sender). The direction is \
the one that carried more data, unless --dir says. When FILE holds more than one TCP \
connection, --conn chooses one; without it nettool lists them. The same capture gives the same \
bytes. Needs no privileges.",
    after_long_help = "EXAMPLES:
  nettool nc --pcap up.pcap 10.78.0.2 9000 < big.file && nettool plot up.pcap -o up.svg
  tcpdump -i eth0 -w web.pcap port 80; nettool plot web.pcap --conn 40312 --dir b2a -o down.svg

EXIT STATUS:
  0    the graph was written
  2    FILE cannot be read, is not a classic pcap capture of Ethernet or Linux cooked
       frames, holds no TCP, holds several connections and --conn names none or many,
       the chosen direction carried no data, or OUTPUT cannot be written"
)]
pub struct PlotArgs {
    /// The capture to read (classic pcap; pcapng is refused with the command that converts it).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Where to write the SVG ("-" for standard output).
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: PathBuf,

    /// The connection to draw: a port either end uses, or ADDR:PORT-ADDR:PORT.
    #[arg(long, value_name = "PORT|A:P-B:P")]
    pub conn: Option<ConnFilter>,

    /// The direction whose data to draw (a is the connection's opener); default: the one that carried more.
    #[arg(long, value_enum, value_name = "DIR")]
    pub dir: Option<PlotDir>,

    /// Draw only from START to END seconds after the connection's first segment (END may be left out: to the end), to zoom in on a long transfer.
    #[arg(long, value_name = "START-END", value_parser = parse_window)]
    pub time: Option<TimeWindow>,
}

/// `--time START-END`: seconds since the connection's first segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeWindow {
    pub start: Duration,
    pub end: Option<Duration>,
}

fn parse_window(text: &str) -> Result<TimeWindow, String> {
    let secs = |s: &str| {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("{s:?} is not a number of seconds (e.g. 2.5)"))
    };
    let (a, b) = text.split_once('-').ok_or_else(|| {
        format!("{text:?} is not START-END in seconds (e.g. 2.5-3, or 2.5- to the end)")
    })?;
    let start = secs(a)?;
    let end = if b.is_empty() { None } else { Some(secs(b)?) };
    if end.is_some_and(|e| e <= start) {
        return Err(format!("the window {text:?} ends before it starts"));
    }
    Ok(TimeWindow { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("2.5-3", 2.5, Some(3.0))]
    #[case("0-0.1", 0.0, Some(0.1))]
    #[case("10-", 10.0, None)]
    fn a_window_is_start_and_end(#[case] text: &str, #[case] start: f64, #[case] end: Option<f64>) {
        let w = parse_window(text).unwrap();
        assert_eq!(w.start, Duration::from_secs_f64(start));
        assert_eq!(w.end, end.map(Duration::from_secs_f64));
    }

    #[rstest]
    #[case("3")]
    #[case("3-2")]
    #[case("a-b")]
    #[case("-1-2")]
    #[case("1-1")]
    fn a_bad_window_is_refused(#[case] text: &str) {
        assert!(parse_window(text).is_err());
    }
}
