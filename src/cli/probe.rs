//! `nettool probe` and `nettool scan`'s arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{CacheArgs, CaptureArgs, FamilyArgs, PathArgs, PrivilegeArgs, parse_duration};
use crate::probe::{ProbeFlags, parse_flags, parse_flow_label, parse_raw_option, parse_timestamps};
use crate::wire::icmp::QueryKind;
use crate::wire::tcp::TcpOption;

/// `--icmp-type`: a query request by name or by number.
pub fn parse_icmp_type(text: &str) -> Result<QueryKind, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "echo" | "echo-request" | "8" => Ok(QueryKind::EchoRequest),
        "timestamp" | "timestamp-request" | "13" => Ok(QueryKind::TimestampRequest),
        "mask" | "address-mask" | "address-mask-request" | "17" => {
            Ok(QueryKind::AddressMaskRequest)
        }
        _ => Err(format!(
            "{text:?} is not an ICMP query nettool sends: echo (8), timestamp (13) or mask (17)"
        )),
    }
}

/// Send hand-made TCP segments and report every answer (hping3-style).
#[derive(Debug, Args)]
#[command(
    long_about = "Send TCP segments built exactly as asked (any flags, sequence and \
acknowledgment numbers, window, options, payload, IP TTL/TOS/ID/DF, even a wrong checksum) to \
HOST, and print every answer in tcpdump's words with what it means: a SYN-ACK is an open port \
(nettool resets it at once, so no half-open connection is left), a RST a closed one, an ICMP \
error names the router or host that sent it. Each answer is matched to the probe it answers, \
and its round-trip time runs from the moment that probe left. Several targets are probed one \
after another. A summary (sent, answered, loss, \
RTT min/avg/max/stddev) ends the run, on Ctrl-C too. Without a flag option the probe is a SYN. \
While nettool runs, a firewall rule scoped to the probes' addresses and ports keeps the kernel \
from answering the replies with RSTs of its own.

With --udp the probes are UDP datagrams (a UDP answer means open, an ICMP port unreachable \
closed, silence open or filtered; the source port is held by a bound UDP socket that never reads, \
so the kernel does not answer the replies with port unreachables), with --icmp ICMP echo requests \
(ping) or the timestamp or address mask requests --icmp-type names. Answers, ICMP errors and \
round-trip times are matched and summed up as for TCP. Over IPv6 both speak ICMPv6: echo \
requests for --icmp (ICMPv6 has no timestamp or address mask query), port unreachable (type 1 \
code 4) for a closed UDP port.",
    after_long_help = "EXAMPLES:
  nettool probe -c 3 10.78.0.2:80                      three SYNs, one second apart
  nettool probe -c 1 --flags SA 10.78.0.2:80           a SYN-ACK out of the blue: expect a RST
  nettool probe -c 1 -A --ack 12345 10.78.0.2:80       an ACK probe (firewall test)
  nettool probe -c 5 --interval 10ms --sport-inc 10.78.0.2:80
                                                       five flows, one source port each
  nettool probe -c 1 --mss 1460 --sack-perm --ts 1:0 --nop --wscale 7 10.78.0.2:80
  nettool probe -c 1 --badsum 10.78.0.2:80             the host's TCP drops it: no answer
  nettool probe --flood -c 100000 10.78.0.2:80         as fast as the link allows
  nettool probe 10.78.0.2:http 10.78.0.3:ssh           one SYN to each target
  nettool probe -c 2 --dport 22 10.78.0.0/29           two SYNs to each host of a subnet
  nettool probe --udp -c 3 --data 'hello' 10.78.0.2:7  UDP: an answer means open, ICMP port
                                                       unreachable closed
  nettool probe --icmp -c 3 10.78.0.2                  ICMP echo (ping)
  nettool probe --icmp --icmp-type timestamp -c 1 10.78.0.2
  nettool probe --icmp -c 3 --hop-limit 3 --flow-label 0x12345 fd00:6e74::2
                                                       ICMPv6 echo
  nettool probe --udp -c 1 [fd00:6e74::2]:53           UDP over IPv6

SEVERAL TARGETS:
  Targets (a list, subnets, - for stdin, -iL FILE) are probed one after another, each
  with its own summary, then one line (a last JSON result) over all of them. Without -c
  each gets one probe. More than --max-targets addresses (256) are refused. A subnet on
  the local link is swept by ARP first: only the addresses that answer are probed
  (--no-discovery, or -Pn, takes them all).

EXIT STATUS:
  0    at least one probe was answered, to any target (Ctrl-C included, as ping: the summary
       is printed)
  1    no probe was answered (Ctrl-C included)
  2    usage or local error
  143  stopped by SIGTERM (the summary is printed first)"
)]
pub struct ProbeArgs {
    /// Destinations: HOST or HOST:PORTS (PORTS a list, range or names: 80, 1-1024,22, http), a
    /// subnet (10.78.0.0/29, :PORTS too), or - for a list on stdin. Several run one after another.
    #[arg(value_name = "HOST[:PORTS]", required_unless_present = "input_list")]
    pub targets: Vec<String>,

    /// Send UDP datagrams (payload from --data, --data-file or --data-len) instead of TCP
    /// segments: a UDP answer means open, an ICMP port unreachable closed.
    #[arg(long, conflicts_with = "icmp")]
    pub udp: bool,
    /// Send ICMP echo requests (ping), or the query --icmp-type names, instead of TCP segments.
    #[arg(long)]
    pub icmp: bool,
    /// The ICMP query to send: echo (8), timestamp (13) or mask (17, address mask). Over IPv6
    /// echo only (ICMPv6 has no other query).
    #[arg(long, value_name = "TYPE", value_parser = parse_icmp_type, requires = "icmp")]
    pub icmp_type: Option<QueryKind>,
    /// The ICMP code to write (0 for every query RFC 792 defines).
    #[arg(long, value_name = "N", default_value_t = 0, requires = "icmp")]
    pub icmp_code: u8,
    /// The ICMP identifier (default: a random one).
    #[arg(long, value_name = "N", value_parser = super::parse_bits::<u16>, requires = "icmp")]
    pub icmp_id: Option<u16>,
    /// UDP: a zero checksum, "none computed", which IPv4 allows (IPv6 does not).
    #[arg(long, requires = "udp", conflicts_with = "badsum")]
    pub zero_checksum: bool,

    /// Destination port(s) for every target, instead of :PORTS (default 80). Probes go to them in turn.
    #[arg(long, value_name = "PORTS")]
    pub dport: Option<String>,

    #[command(flatten)]
    pub list: TargetListArgs,

    /// Interface, source address and port, ARP cache.
    #[command(flatten)]
    pub path: PathArgs,

    /// Each probe from the next source port (wrapping back after 65535).
    #[arg(long)]
    pub sport_inc: bool,

    /// TCP flags as letters: F S R P A U E C (e.g. SA, FPU, none), or the flags byte (0x12).
    #[arg(long, value_name = "LETTERS", value_parser = parse_flags)]
    pub flags: Option<ProbeFlags>,
    /// SYN.
    #[arg(short = 'S', long)]
    pub syn: bool,
    /// ACK.
    #[arg(short = 'A', long = "ack-flag")]
    pub ack_flag: bool,
    /// FIN.
    #[arg(short = 'F', long)]
    pub fin: bool,
    /// RST.
    #[arg(short = 'R', long)]
    pub rst: bool,
    /// PSH.
    #[arg(short = 'P', long)]
    pub psh: bool,
    /// URG.
    #[arg(short = 'U', long)]
    pub urg: bool,
    /// ECE (ECN echo).
    #[arg(long)]
    pub ece: bool,
    /// CWR (congestion window reduced).
    #[arg(long)]
    pub cwr: bool,

    /// Sequence number (default: a random one per probe).
    #[arg(long, value_name = "N")]
    pub seq: Option<u32>,
    /// Acknowledgment number (sent with the ACK flag).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub ack: u32,
    /// Window.
    #[arg(long, value_name = "N", default_value_t = 64240)]
    pub win: u16,
    /// Urgent pointer.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub urg_ptr: u16,

    /// IP time to live; over IPv6 the hop limit (--hop-limit is the same option).
    #[arg(
        long,
        visible_alias = "hop-limit",
        value_name = "N",
        default_value_t = 64
    )]
    pub ttl: u8,
    /// IP identification (default: counting up from a random start; 0x1234 works). IPv4 only.
    #[arg(long, value_name = "N", value_parser = super::parse_bits::<u16>)]
    pub id: Option<u16>,
    /// IP type of service byte (DSCP and ECN; 0x10 works); over IPv6 the traffic class, the same
    /// bits (--traffic-class is the same option).
    #[arg(long, visible_alias = "traffic-class", value_name = "N", default_value = "0", value_parser = super::parse_bits::<u8>)]
    pub tos: u8,
    /// Set IP's don't-fragment bit. IPv4 only (IPv6 routers never fragment).
    #[arg(long)]
    pub df: bool,
    /// IPv6 flow label, 20 bits (0 to 1048575, or 0xfffff). IPv6 only.
    #[arg(long, value_name = "N", value_parser = parse_flow_label)]
    pub flow_label: Option<u32>,

    #[command(flatten)]
    pub family: FamilyArgs,

    /// MSS option.
    #[arg(long, value_name = "N")]
    pub mss: Option<u16>,
    /// SACK-permitted option.
    #[arg(long)]
    pub sack_perm: bool,
    /// Timestamps option: VAL, or VAL:ECR.
    #[arg(long, value_name = "VAL[:ECR]", value_parser = parse_timestamps)]
    pub ts: Option<TcpOption>,
    /// NOP options (repeat for more), placed before the window scale.
    #[arg(long, action = clap::ArgAction::Count)]
    pub nop: u8,
    /// Window scale option.
    #[arg(long, value_name = "SHIFT")]
    pub wscale: Option<u8>,
    /// A raw option, KIND:HEX (its body without kind and length; 1 is NOP, 0 EOL); repeatable, in order.
    #[arg(long = "tcp-option", value_name = "KIND:HEX", value_parser = parse_raw_option)]
    pub tcp_option: Vec<TcpOption>,
    /// End the options with EOL.
    #[arg(long)]
    pub eol: bool,

    /// Payload (escapes: \r \n \t \\ \0 \xHH).
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["data_file", "data_len"])]
    pub data: Option<String>,
    /// Payload read from a file.
    #[arg(long, value_name = "FILE", conflicts_with = "data_len")]
    pub data_file: Option<PathBuf>,
    /// A payload of N 'X' bytes.
    #[arg(long, value_name = "N")]
    pub data_len: Option<usize>,

    /// Write a checksum that does not verify (TCP's, UDP's or ICMP's).
    #[arg(long)]
    pub badsum: bool,

    /// Probes to send to each target (default: until Ctrl-C; 1 when there are several targets).
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Spacing of probes (down to microseconds: 100us).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub interval: Duration,
    /// Send as fast as the link allows; print only the summary.
    #[arg(long, conflicts_with = "interval")]
    pub flood: bool,
    /// How long each probe waits for its answer.
    #[arg(short, long, visible_short_alias = 'W', value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub wait: Duration,

    /// Also print every probe sent.
    #[arg(short, long)]
    pub verbose: bool,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub capture: CaptureArgs,

    #[command(flatten)]
    pub privilege: PrivilegeArgs,
}

/// The most target addresses one run takes unless `--max-targets` says
/// more: a /24's hosts and two more. Targets run one after another, so a
/// /16 typed for a /24 would run for hours.
pub const MAX_TARGETS: u64 = 256;

/// Where more targets come from, and how many one run takes.
#[derive(Debug, Args)]
pub struct TargetListArgs {
    /// Read targets from FILE too (white space between them, # starts a comment; - is stdin);
    /// -iL FILE as nmap spells it.
    #[arg(long = "input-list", value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub input_list: Option<PathBuf>,
    /// Refuse a run of more target addresses than N (a subnet counts its hosts): a /16 typed for
    /// a /24 would run for hours.
    #[arg(long, value_name = "N", default_value_t = MAX_TARGETS)]
    pub max_targets: u64,
    /// Take every address of a subnet, without first asking which answer ARP (on the local
    /// link, an address nobody answers for is otherwise left out); -Pn as nmap spells it.
    #[arg(long)]
    pub no_discovery: bool,
}

/// SYN-scan hosts' TCP ports: open, closed or filtered.
#[derive(Debug, Args)]
#[command(
    override_usage = "nettool scan [OPTIONS] TARGET... [PORTS]",
    long_about = "Send a SYN to each port of PORTS on each TARGET and sort the ports by their answers: \
a SYN-ACK means open (nettool resets the connection at once), a RST closed, silence after \
--retries more SYNs, or an ICMP unreachable, filtered. Without PORTS (or --ports), the default \
set: 1-1024 (IANA's system ports and 1024) and the well-known higher ports of nettool's service \
table (3306, 3389, 5432, 5900, 6379, 8080, 11211, 27017). At most --concurrency ports wait for an \
answer at once. The result is a table sorted by port (the most common state summed up in one \
line when there are many ports; --all lists every port), or JSON lines.

The rate adapts to the path, as nmap's does: it starts at 1000 SYNs/s and doubles every timeout \
while ports answer their first SYN, up to --max-rate (unanswered first SYNs count too, but only up \
to 10000/s: a firewall's silence says nothing about the path). A closed or open port that answers \
only a retry proves a SYN or its answer was lost: the rate is cut by 30 %, then grows again \
slowly, never below --min-rate; from then on each retry waits twice as long as the one before \
(up to --wait), and silent ports get one SYN more than any answering port needed (at most 4 \
more than --retries). Filtered ports never slow the scan down. --rate fixes the rate instead, \
with --retries and the waits as given.

TARGETs are hosts, subnets (10.78.0.0/29: its host addresses, those that answer an ARP sweep \
first unless --no-discovery), - for a list on stdin, and -iL FILE; they are scanned one after \
another, each with its own table, then one line over all \
of them. The last operand is the port list when it reads as one (80, 1-1024, ssh,http); to scan \
a host whose name is also a service name, give the ports with --ports.",
    after_long_help = "EXAMPLES:
  nettool scan 10.78.0.2                         the default ports
  nettool scan 10.78.0.2 1-1024,8080
  nettool scan 10.78.0.2 ssh,http,https
  nettool scan 10.78.0.0/29 80,443                every host of the subnet
  nettool scan -iL hosts.txt 22                   the hosts listed in a file
  nettool scan --max-rate 5000 10.78.0.2 1-65535
  nettool scan --rate 200 10.78.0.2 1-1024
  nettool scan --json 10.78.0.2 80,81,82
  nettool scan --udp 10.78.0.2 1-100                 UDP: about a second per closed port
  nettool scan --udp fd00:6e74::2 53,123,161         UDP over IPv6 (ICMPv6 port unreachable)

EXIT STATUS:
  0    at least one port is open (of any target)
  1    no port is open on any target
  2    usage or local error
  130  interrupted (143 by SIGTERM)"
)]
pub struct ScanArgs {
    /// Targets (hosts, subnets such as 10.78.0.0/29, - for a list on stdin), then the ports
    /// (80, 1-1024, 22,80,8000-8100, ssh,http) when the last operand reads as a port list.
    #[arg(value_name = "TARGET", required_unless_present = "input_list")]
    pub operands: Vec<String>,
    /// The ports, for every target, when the operands are all targets [default: 1-1024 and
    /// well-known higher ones, see the README].
    #[arg(long, value_name = "PORTS")]
    pub ports: Option<String>,
    #[command(flatten)]
    pub list: TargetListArgs,
    /// Scan UDP ports instead: open (a UDP answer), closed (ICMP port unreachable), filtered
    /// (another ICMP unreachable), open|filtered (silence). Exact against a peer that rate-limits
    /// its ICMP errors, at about one closed port per second against a default Linux host (ten
    /// over IPv6, whose errors Linux limits less).
    #[arg(long, conflicts_with_all = ["min_rate", "max_rate", "concurrency"])]
    pub udp: bool,
    /// Interface, source address and port, ARP cache.
    #[command(flatten)]
    pub path: PathArgs,
    #[command(flatten)]
    pub family: FamilyArgs,
    /// A fixed rate: exactly PPS SYNs per second, retries included, whatever the path does
    /// (default: adaptive, between --min-rate and --max-rate).
    #[arg(long, value_name = "PPS", conflicts_with_all = ["min_rate", "max_rate"], value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: Option<u32>,
    /// The adaptive rate's ceiling, SYNs per second.
    #[arg(long, value_name = "PPS", default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_rate: u32,
    /// The adaptive rate's floor: however many answers are lost, never slower than this.
    #[arg(long, value_name = "PPS", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub min_rate: u32,
    /// Ports waiting for an answer at once, at most.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub concurrency: u64,
    /// More SYNs for a silent port (an adaptive scan adds up to 4 on a path that loses SYNs).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub retries: u32,
    /// How long each SYN waits for its answer, at most; once answers come, the wait follows
    /// their round trips (SRTT + 4 × RTTVAR), down to --min-timeout.
    #[arg(short = 'w', long = "wait", visible_short_alias = 'W', visible_alias = "timeout", value_name = "DURATION", value_parser = parse_duration, default_value = "500ms")]
    pub timeout: Duration,
    /// The shortest wait for an answer.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "100ms")]
    pub min_timeout: Duration,
    /// List every port, closed ones too.
    #[arg(long)]
    pub all: bool,
    /// One JSON object per line: a port line per port, then the result.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub capture: CaptureArgs,

    #[command(flatten)]
    pub privilege: PrivilegeArgs,
}

/// Send ICMP echo requests (ping), matched replies and RTT statistics: `probe --icmp`.
#[derive(Debug, Args)]
#[command(
    long_about = "Send ICMP echo requests to each HOST in turn, built by nettool and sent through its own \
interface, and print each echo reply with its round-trip time (from the kernel's stamps of the \
request leaving and the reply arriving), then the summary: sent, answered, loss, RTT \
min/avg/max/stddev. An ICMP error (a router's unreachable, time exceeded) names its sender. An \
IPv6 HOST gets ICMPv6 echo requests (a link-local one names its interface: fe80::1%eth0, or -i). \
This is `nettool probe --icmp` with ping's defaults (56 bytes of data, one per second until Ctrl-C); \
probe takes every other option (TTL, TOS, timestamp and address mask requests, a bad checksum).",
    after_long_help = "EXAMPLES:
  nettool ping 10.78.0.2                        until Ctrl-C
  nettool ping -c 5 --interval 200ms 10.78.0.2
  nettool ping --flood -c 10000 10.78.0.2       as fast as the link allows; only the summary
  nettool ping -c 3 10.78.0.2 10.78.0.3         several hosts, one after another (one request
                                                each without -c), then a line over all
  nettool ping 10.78.0.0/29                     the subnet's hosts that answer ARP (-Pn: all)
  nettool ping -c 3 fd00:6e74::2                ICMPv6 echo
  nettool ping -6 -c 3 --hop-limit 5 peer.lab   the name's AAAA record

EXIT STATUS:
  0    at least one request was answered (Ctrl-C included, as ping: the summary is printed)
  1    none was
  2    usage or local error
  143  stopped by SIGTERM (the summary is printed first)"
)]
pub struct PingArgs {
    /// The hosts to ping, one after another: addresses, names, subnets (10.78.0.0/29, swept by
    /// ARP first), - for a list on stdin.
    #[arg(value_name = "HOST", required_unless_present = "input_list")]
    pub hosts: Vec<String>,
    #[command(flatten)]
    pub list: TargetListArgs,
    /// Interface to use (default: the one the kernel routes HOST through).
    #[arg(short, long, visible_short_alias = 'I', value_name = "IFACE", value_parser = super::parse_interface, value_hint = clap::ValueHint::Other)]
    pub interface: Option<String>,
    /// Source address (one the kernel does not own: nettool answers ARP, or over IPv6
    /// neighbour solicitations, for it).
    #[arg(short, long, value_name = "ADDRESS")]
    pub source: Option<std::net::IpAddr>,
    /// The ARP cache, for the next hop.
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub family: FamilyArgs,
    /// Requests to send (default: until Ctrl-C).
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Spacing of requests (down to microseconds: 100us).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub interval: Duration,
    /// As fast as the link allows; print only the summary.
    #[arg(long, conflicts_with = "interval")]
    pub flood: bool,
    /// How long each request waits for its reply.
    #[arg(short, long, visible_short_alias = 'W', value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub wait: Duration,
    /// Bytes of data after the ICMP header (ping's -s).
    #[arg(long, value_name = "N", default_value_t = 56)]
    pub data_len: usize,
    /// IP time to live; over IPv6 the hop limit (--hop-limit is the same option).
    #[arg(
        long,
        visible_alias = "hop-limit",
        value_name = "N",
        default_value_t = 64
    )]
    pub ttl: u8,
    /// Also print every request sent.
    #[arg(short, long)]
    pub verbose: bool,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub capture: CaptureArgs,
    #[command(flatten)]
    pub privilege: PrivilegeArgs,
}

impl PingArgs {
    /// The `probe --icmp` this stands for.
    pub fn into_probe(self) -> ProbeArgs {
        ProbeArgs {
            targets: self.hosts,
            list: self.list,
            udp: false,
            icmp: true,
            icmp_type: None,
            icmp_code: 0,
            icmp_id: None,
            zero_checksum: false,
            dport: None,
            path: PathArgs {
                interface: self.interface,
                source: self.source,
                source_port: None,
                cache: self.cache,
            },
            sport_inc: false,
            flags: None,
            syn: false,
            ack_flag: false,
            fin: false,
            rst: false,
            psh: false,
            urg: false,
            ece: false,
            cwr: false,
            seq: None,
            ack: 0,
            win: 64240,
            urg_ptr: 0,
            ttl: self.ttl,
            id: None,
            tos: 0,
            df: false,
            flow_label: None,
            family: self.family,
            mss: None,
            sack_perm: false,
            ts: None,
            nop: 0,
            wscale: None,
            tcp_option: Vec::new(),
            eol: false,
            data: None,
            data_file: None,
            data_len: Some(self.data_len),
            badsum: false,
            count: self.count,
            interval: self.interval,
            flood: self.flood,
            wait: self.wait,
            verbose: self.verbose,
            json: self.json,
            capture: self.capture,
            privilege: self.privilege,
        }
    }
}
