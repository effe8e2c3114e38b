//! `nettool ladder`'s arguments, and `--ladder`/`--ascii` for the commands
//! that draw their own exchange.

use std::path::PathBuf;

use clap::Args;

use crate::picture::ConnFilter;

/// Draw one TCP connection of a saved capture as a ladder diagram.
#[derive(Debug, Args)]
#[command(
    long_about = "Read FILE, a capture in classic pcap format (from nettool's --pcap, or from \
`tcpdump -w` on an Ethernet interface or on `any`), and draw one TCP connection in it as a \
ladder diagram: the connection's opener on the left, the other end on the right, one arrow \
per segment with its flags (tcpdump's letters), its sequence and acknowledgment numbers \
(relative to each end's initial sequence number), its payload length, and the time since the \
row above in the left margin. Beside the arrows, the RFC 9293 state each end moves to, \
inferred from the segments (CLOSED, SYN-SENT, ESTABLISHED, FIN-WAIT-1, TIME-WAIT...). When \
FILE holds more than one TCP connection, --conn chooses one; without it nettool lists them. \
Unicode box drawing when the locale is UTF-8 (LC_ALL, LC_CTYPE, LANG), ASCII otherwise or with \
--ascii; 79 columns wide. Needs no privileges.",
    after_long_help = "EXAMPLES:
  nettool close --pcap close.pcap 10.78.0.2:80 && nettool ladder close.pcap
  tcpdump -i eth0 -w web.pcap port 80; nettool ladder web.pcap --conn 40312
  nettool ladder web.pcap --conn 10.78.0.1:40312-10.78.0.2:80 --ascii

EXIT STATUS:
  0    the ladder was drawn
  2    FILE cannot be read, is not a classic pcap capture of Ethernet or Linux cooked
       frames, holds no TCP, or holds several connections and --conn names none or many"
)]
pub struct LadderArgs {
    /// The capture to read (classic pcap; pcapng is refused with the command that converts it).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The connection to draw: a port either end uses, or ADDR:PORT-ADDR:PORT.
    #[arg(long, value_name = "PORT|A:P-B:P")]
    pub conn: Option<ConnFilter>,

    /// Draw with ASCII characters only, whatever the locale.
    #[arg(long)]
    pub ascii: bool,
}

/// `--ladder` and `--ascii`: draw the exchange instead of listing it.
#[derive(Debug, Args)]
pub struct LadderFlags {
    /// Draw the exchange as a ladder diagram (segments and states) instead of one line per event.
    #[arg(long)]
    pub ladder: bool,

    /// With --ladder: ASCII characters only, whatever the locale.
    #[arg(long, requires = "ladder")]
    pub ascii: bool,
}
