//! `nettool plot`'s arguments.

use std::path::PathBuf;

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
}
