//! `nettool load`: many connections from one source address.

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::common::{parse_interface, parse_source_port};
use super::{CacheArgs, CaptureArgs, parse_duration};

/// Open many TCP connections to one port from one source address, hold them, then close them.
#[derive(Debug, Args)]
#[command(
    long_about = "Open -c N real TCP connections (nettool's own engine, the same as nc's) to \
HOST:PORT from one source address, hold them, and close them. No kernel socket and no file \
descriptor per connection: an idle connection costs nettool about 1 KiB. The source address is \
the interface's (the kernel's RSTs kept out by one nftables rule for the whole port range), or \
with -s one the kernel does not own, which nettool answers ARP for itself. One address has the \
ports from -p FIRST_PORT to 65535 (64,512 from 1024); N above that needs more source \
addresses (--sources, not implemented yet). Openings are paced by --rate, or else go as fast as \
the peer answers with at most 1,024 handshakes under way. Once a second a progress line on \
stderr: established, in handshake, failed (refused, timed out, reset), connects per second, \
retransmitted SYNs. The summary gives the connect times (SYN to ESTABLISHED) at p50, p90, p99 \
and the maximum.",
    after_long_help = concat!(
"EXAMPLES:
  nettool load 10.78.0.2:80 -c 10000       open 10,000, hold until Ctrl-C, reset them
  nettool load 10.78.0.2:80 -c 50000 --rate 5000/s --hold 60s   paced, held a minute
  nettool load 10.78.0.2:80 -c 5000 --keepalive 10      keepalives every 10 s
  nettool load 10.78.0.2:80 -c 1000 --send 'GET / HTTP/1.0\\r\\n\\r\\n'   count replies
  nettool load 10.78.0.2:80 -c 60000 -s 10.78.0.99      from an address the kernel does not own

",
"EXIT STATUS:
  0    all N connections were established
  1    some were not (refused, timed out, reset before established)
  2    usage or local error (N larger than one address's ports, among others)
  130  interrupted (143 by SIGTERM); every connection is reset first")
)]
pub struct LoadArgs {
    /// HOST:PORT to connect to.
    #[arg(value_name = "HOST:PORT")]
    pub target: String,

    /// Connections to open in all.
    #[arg(short = 'c', long = "connections", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,

    /// At most R new connections per second (R or R/s; default: as fast as the peer answers).
    #[arg(long, value_name = "R/s", value_parser = parse_rate)]
    pub rate: Option<u32>,

    /// Hold the connections this long once all have opened or failed (default: until Ctrl-C).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub hold: Option<Duration>,

    /// TCP keepalive: a probe after SECS of silence, then every SECS (3 unanswered close it).
    #[arg(long, value_name = "SECS", value_parser = parse_duration)]
    pub keepalive: Option<Duration>,

    /// Send TEXT on each connection once established (\r, \n and \t are understood) and count the replies.
    #[arg(long, value_name = "TEXT")]
    pub send: Option<String>,

    /// How to end the connections.
    #[arg(long, value_enum, value_name = "HOW", default_value_t = CloseHow::Reset)]
    pub close: CloseHow,

    /// Print one JSON object per line: a progress object each second, then the result.
    #[arg(long)]
    pub json: bool,

    /// Source address (default: the interface's); one the kernel does not own is answered for by nettool.
    #[arg(short, long, value_name = "ADDRESS")]
    pub source: Option<std::net::Ipv4Addr>,

    /// Interface to use.
    #[arg(short, long, visible_short_alias = 'I', value_name = "IFACE", value_parser = parse_interface, value_hint = clap::ValueHint::Other)]
    pub interface: Option<String>,

    /// First source port: connections use it and the ports above it.
    #[arg(short = 'p', long, visible_alias = "sport", value_name = "FIRST_PORT", default_value = "1024", value_parser = parse_source_port)]
    pub first_port: u16,

    #[command(flatten)]
    pub cache: CacheArgs,

    #[command(flatten)]
    pub capture: CaptureArgs,
}

/// `load --close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CloseHow {
    /// FIN each connection and wait (at most 5 s) for the peer's.
    Graceful,
    /// RST each connection.
    Reset,
    /// Leave them open on the peer: nettool exits without a word.
    None,
}

/// `--rate`: `5000` or `5000/s`.
pub fn parse_rate(text: &str) -> Result<u32, String> {
    let n = text.strip_suffix("/s").unwrap_or(text);
    match n.parse::<u32>() {
        Ok(r) if r > 0 => Ok(r),
        _ => Err(format!(
            "{text:?} is not a rate: write connections per second, e.g. 5000 or 5000/s"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("5000", Some(5000))]
    #[case("5000/s", Some(5000))]
    #[case("0", None)]
    #[case("fast", None)]
    #[case("5/m", None)]
    fn rates(#[case] text: &str, #[case] want: Option<u32>) {
        assert_eq!(parse_rate(text).ok(), want);
    }
}
