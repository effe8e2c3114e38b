//! `nettool load`: many connections from one source address, or from
//! several nettool answers for (`--sources`).

use std::net::IpAddr;
use std::time::Duration;

use ipnetwork::IpNetwork;

use clap::{Args, ValueEnum};

use super::common::{parse_interface, parse_source_port};
use super::{CacheArgs, CaptureArgs, FamilyArgs, PrivilegeArgs, parse_duration};

/// Open many TCP connections to one port, hold them, then close them.
#[derive(Debug, Args)]
#[command(
    long_about = "Open -c N real TCP connections (nettool's own engine, the same as nc's) to \
HOST:PORT ([IPV6]:PORT over IPv6; a name resolves to its A or AAAA records, -4 or -6 to choose), \
hold them, and close them. No kernel socket and no file \
descriptor per connection: an idle connection costs nettool about 1 KiB. The source address is \
the interface's (the kernel's RSTs kept out by one nftables rule for the whole port range), or \
with -s one the kernel does not own, which nettool answers ARP for itself. One address has the \
ports from -p FIRST_PORT to 65535 (64,512 from 1024); N above that needs more source \
addresses: --sources names addresses the kernel does not own (a CIDR or a list), of which \
nettool takes as many as N needs, checks each is free by duplicate address detection (RFC \
5227: three ARP probes a second apart, nobody answering), then answers ARP for them itself; \
connections go to them in turn. Over IPv6 the check is RFC 4862's duplicate address detection \
(a neighbour solicitation from ::, a second for an objection) and nettool answers neighbour \
solicitations for them; a prefix (even a /64) gives its first free addresses, as many as N \
needs and no more. nettool never takes addresses by itself. Openings are paced by --rate, or else go as fast as \
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
  nettool load [fd00:6e74::2]:80 -c 100000 --sources fd00:6e74:1::/64
                                           over IPv6: the first 2 free addresses of the /64

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
    pub source: Option<IpAddr>,

    /// Source addresses the kernel does not own, which nettool answers ARP (or, over IPv6, neighbour solicitations) for: a CIDR, or a comma-separated list of addresses and CIDRs; as many as N needs are taken (an IPv6 /64 is fine).
    #[arg(long, value_name = "CIDR|LIST", value_parser = Sources::parse, conflicts_with = "source")]
    pub sources: Option<Sources>,

    /// Interface to use.
    #[arg(short, long, visible_short_alias = 'I', value_name = "IFACE", value_parser = parse_interface, value_hint = clap::ValueHint::Other)]
    pub interface: Option<String>,

    /// First source port: connections use it and the ports above it.
    #[arg(short = 'p', long, visible_alias = "sport", value_name = "FIRST_PORT", default_value = "1024", value_parser = parse_source_port)]
    pub first_port: u16,

    #[command(flatten)]
    pub family: FamilyArgs,

    #[command(flatten)]
    pub cache: CacheArgs,

    #[command(flatten)]
    pub capture: CaptureArgs,

    #[command(flatten)]
    pub privilege: PrivilegeArgs,
}

/// `--sources`: networks (a single address is a /32, or a /128) whose
/// host addresses are the candidates, in the order given; taken lazily,
/// since a /8 has sixteen million and an IPv6 /64 2^64, and a run needs
/// a few. One family: the target's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources(Vec<IpNetwork>);

impl Sources {
    /// `10.79.1.0/24`, `10.79.1.5,10.79.1.9`, `fd00:6e74:1::/64`, or a mix
    /// of one family.
    pub fn parse(text: &str) -> Result<Sources, String> {
        let mut nets: Vec<IpNetwork> = Vec::new();
        for item in text.split(',').map(str::trim) {
            let net = if item.contains('/') {
                item.parse::<IpNetwork>().map_err(|e| e.to_string())
            } else {
                item.parse::<IpAddr>()
                    .map(IpNetwork::from)
                    .map_err(|e| e.to_string())
            };
            match net {
                Ok(net) if nets.first().is_some_and(|f| f.is_ipv4() != net.is_ipv4()) => {
                    return Err(format!(
                        "{item:?} is of another family than {}: give addresses of one family, \
                         the target's",
                        nets[0]
                    ));
                }
                Ok(net) => nets.push(net),
                Err(e) => {
                    return Err(format!(
                        "{item:?} is no IP address or CIDR ({e}): write e.g. 10.79.1.0/24, \
                         10.79.1.5,10.79.1.9 or fd00:6e74:1::/64"
                    ));
                }
            }
        }
        Ok(Sources(nets))
    }

    /// Whether the addresses are IPv6 ones.
    pub fn is_ipv6(&self) -> bool {
        self.0.first().is_some_and(IpNetwork::is_ipv6)
    }

    /// The candidates, each once: a network's host addresses (not an IPv4
    /// network's own address and broadcast, nor an IPv6 network's first,
    /// the Subnet-Router anycast address of RFC 4291 §2.6.1).
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let mut seen = std::collections::HashSet::new();
        self.0
            .iter()
            .flat_map(|net| {
                let net = *net;
                let skip_ends = match net {
                    IpNetwork::V4(n) => n.prefix() < 31,
                    IpNetwork::V6(n) => n.prefix() < 127,
                };
                net.iter().filter(move |ip| {
                    !skip_ends
                        || (*ip != net.network() && (net.is_ipv6() || *ip != net.broadcast()))
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
    #[case("fd00:6e74:1::/126", &["fd00:6e74:1::1", "fd00:6e74:1::2", "fd00:6e74:1::3"])]
    #[case("fd00:6e74:1::5,fd00:6e74:1::9", &["fd00:6e74:1::5", "fd00:6e74:1::9"])]
    #[case("fd00:6e74:1::8/127", &["fd00:6e74:1::8", "fd00:6e74:1::9"])]
    fn ipv6_sources(#[case] text: &str, #[case] want: &[&str]) {
        let s = Sources::parse(text).unwrap();
        assert!(s.is_ipv6());
        let got: Vec<String> = s.addresses().map(|a| a.to_string()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_64_is_taken_from_its_first_hosts() {
        let s = Sources::parse("fd00:6e74:1::/64").unwrap();
        let first: Vec<String> = s.addresses().take(2).map(|a| a.to_string()).collect();
        assert_eq!(first, ["fd00:6e74:1::1", "fd00:6e74:1::2"]);
    }

    #[rstest]
    #[case("10.79.1.0/24,fd00::1")]
    #[case("fd00::/64,10.79.1.1")]
    fn one_family_only(#[case] text: &str) {
        let e = Sources::parse(text).unwrap_err();
        assert!(e.contains("one family"), "{e}");
    }

    #[rstest]
    #[case("10.79.1.0/33")]
    #[case("10.79.1")]
    #[case("10.79.1.1,,10.79.1.2")]
    #[case("fd00::/129")]
    fn bad_sources_say_what_to_write(#[case] text: &str) {
        let e = Sources::parse(text).unwrap_err();
        assert!(e.contains("10.79.1.0/24"), "{e}");
    }

    #[test]
    fn a_large_network_is_not_listed_whole() {
        let s = Sources::parse("10.0.0.0/8").unwrap();
        assert_eq!(s.addresses().nth(1), Some(IpAddr::from([10, 0, 0, 2])));
    }
}
