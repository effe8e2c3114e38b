//! `nettool load`: many connections from one source address, or from
//! several nettool answers for (`--sources`).

use std::net::Ipv4Addr;
use std::time::Duration;

use ipnetwork::Ipv4Network;

use clap::{Args, ValueEnum};

use super::common::{parse_interface, parse_source_port};
use super::{CacheArgs, CaptureArgs, PrivilegeArgs, parse_duration};

/// Open many TCP connections to one port, hold them, then close them.
#[derive(Debug, Args)]
#[command(
    long_about = "Open -c N real TCP connections (nettool's own engine, the same as nc's) to \
HOST:PORT, hold them, and close them. No kernel socket and no file \
descriptor per connection: an idle connection costs nettool about 1 KiB. The source address is \
the interface's (the kernel's RSTs kept out by one nftables rule for the whole port range), or \
with -s one the kernel does not own, which nettool answers ARP for itself. One address has the \
ports from -p FIRST_PORT to 65535 (64,512 from 1024); N above that needs more source \
addresses: --sources names addresses the kernel does not own (a CIDR or a list), of which \
nettool takes as many as N needs, checks each is free by duplicate address detection (RFC \
5227: three ARP probes a second apart, nobody answering), then answers ARP for them itself; \
connections go to them in turn. nettool never takes addresses by itself. Openings are paced by --rate, or else go as fast as \
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
  nettool load 10.78.0.2:80 -c 1000000 --sources 10.78.1.0/24 --hold 60s
                                           a million from 16 of those addresses
  nettool load 10.78.0.2:80 -c 100000 --sources 10.78.0.100,10.78.0.101

",
"EXIT STATUS:
  0    all N connections were established
  1    some were not (refused, timed out, reset before established)
  2    usage or local error (N larger than the sources' ports, a source taken, among others)
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

    /// Source addresses the kernel does not own, which nettool answers ARP for (a CIDR, or a comma-separated list of addresses and CIDRs).
    #[arg(long, value_name = "CIDR|LIST", value_parser = Sources::parse, conflicts_with = "source")]
    pub sources: Option<Sources>,

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

    #[command(flatten)]
    pub privilege: PrivilegeArgs,
}

/// `--sources`: networks (a single address is a /32) whose host addresses
/// are the candidates, in the order given; taken lazily, since a /8 has
/// sixteen million and a run needs a few.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources(Vec<Ipv4Network>);

impl Sources {
    /// `10.79.1.0/24`, `10.79.1.5,10.79.1.9`, or a mix.
    pub fn parse(text: &str) -> Result<Sources, String> {
        let mut nets = Vec::new();
        for item in text.split(',').map(str::trim) {
            let net = if item.contains('/') {
                item.parse::<Ipv4Network>().map_err(|e| e.to_string())
            } else {
                item.parse::<Ipv4Addr>()
                    .map(Ipv4Network::from)
                    .map_err(|e| e.to_string())
            };
            match net {
                Ok(net) => nets.push(net),
                Err(e) => {
                    return Err(format!(
                        "{item:?} is no IPv4 address or CIDR ({e}): write e.g. 10.79.1.0/24 or \
                         10.79.1.5,10.79.1.9"
                    ));
                }
            }
        }
        Ok(Sources(nets))
    }

    /// The host addresses, in order, each once: a network's without its
    /// network and broadcast addresses (but a /31's and a /32's, RFC 3021).
    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let mut seen = std::collections::HashSet::new();
        self.0
            .iter()
            .flat_map(|net| {
                let hosts_only = net.prefix() < 31;
                net.iter().filter(move |ip| {
                    !hosts_only || (*ip != net.network() && *ip != net.broadcast())
                })
            })
            .filter(move |ip| seen.insert(*ip))
    }
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

    #[rstest]
    #[case("10.79.1.0/30", &["10.79.1.1", "10.79.1.2"])]
    #[case("10.79.1.5,10.79.1.9", &["10.79.1.5", "10.79.1.9"])]
    #[case("10.79.1.8/31, 10.79.1.8", &["10.79.1.8", "10.79.1.9"])]
    #[case("10.79.1.7/32,10.79.1.0/30", &["10.79.1.7", "10.79.1.1", "10.79.1.2"])]
    fn sources(#[case] text: &str, #[case] want: &[&str]) {
        let got: Vec<String> = Sources::parse(text)
            .unwrap()
            .addresses()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(got, want);
    }

    #[rstest]
    #[case("10.79.1.0/33")]
    #[case("10.79.1")]
    #[case("10.79.1.1,,10.79.1.2")]
    fn bad_sources_say_what_to_write(#[case] text: &str) {
        let e = Sources::parse(text).unwrap_err();
        assert!(e.contains("10.79.1.0/24"), "{e}");
    }

    #[test]
    fn a_large_network_is_not_listed_whole() {
        let s = Sources::parse("10.0.0.0/8").unwrap();
        assert_eq!(s.addresses().nth(1), Some(Ipv4Addr::new(10, 0, 0, 2)));
    }
}
