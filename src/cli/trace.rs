//! `nettool trace`'s arguments.

use std::time::Duration;

use clap::Args;

use super::{CaptureArgs, FamilyArgs, PathArgs, PrivilegeArgs, parse_duration};

/// Trace the path to a TCP port: SYNs with TTL 1, 2, …, each router's ICMP time exceeded shown.
#[derive(Debug, Args)]
#[command(
    long_about = "Trace the routers between this host and HOST:PORT with TCP SYNs, as tcptraceroute \
does: the first SYNs leave with TTL 1, the next with TTL 2, and so on. Each router that drops a SYN \
whose TTL ran out answers with ICMP time exceeded; its address and the round-trip time of each \
probe are shown, one line per hop, `*` for a probe nobody answered. The trace ends at the \
destination, shown as the last hop with its answer: SYN-ACK (the port is open; nettool resets the \
half-open connection at once) or RST (closed); or at an ICMP destination unreachable, shown with \
its meaning; or after --max-ttl hops. SYNs to a service's port often pass firewalls that drop ICMP echo and UDP probes. \
All probes of a trace share one source port and differ in their sequence number, by which \
nettool matches each ICMP error (through the TCP header it quotes) and each SYN-ACK or RST \
(through its acknowledgment number) to its probe. One probe is in flight at a time. While the \
trace runs, a firewall rule scoped to the flow keeps the kernel from resetting the destination's \
SYN-ACKs; it is removed however nettool exits. Over IPv6 the hop limit stands for the TTL and ICMPv6 for ICMP (time exceeded, destination unreachable, echo): the same trace, the same output.",
    after_long_help = "EXAMPLES:
  nettool trace 10.78.0.2:80                     up to 30 hops, 3 probes each
  nettool trace --queries 1 -w 500ms -m 8 10.78.0.2:443
                                                 one probe per hop, short waits
  nettool trace --json 10.78.0.2:22              one JSON object per probe
  nettool trace --udp 10.78.0.2                  classic traceroute: UDP to 33434 and up
  nettool trace --icmp 10.78.0.2                 ICMP echo requests
  nettool trace [fd00:6e74::2]:80                over IPv6, the hop limit raised hop by hop
  nettool trace --udp fd00:6e74::2               UDP over IPv6: the address alone

EXIT STATUS:
  0    the destination answered (SYN-ACK or RST)
  1    it did not: silence up to --max-ttl, or ICMP destination unreachable
  2    usage or local error
  130  interrupted (143 by SIGTERM)"
)]
pub struct TraceArgs {
    /// Destination, HOST:PORT, an IPv6 address in brackets: `[fd00:6e74::2]:80` (a host name goes
    /// to the system resolver; PORT may be a service name: http); HOST alone with --udp (port
    /// 33434) or --icmp.
    #[arg(value_name = "HOST:PORT")]
    pub target: String,

    /// Classic traceroute: UDP datagrams, each to the next port from PORT up (33434 by
    /// default); the destination answers port unreachable.
    #[arg(long, conflicts_with = "icmp")]
    pub udp: bool,
    /// ICMP echo requests (traceroute -I); the destination answers with an echo reply.
    #[arg(long)]
    pub icmp: bool,

    /// The way to it; one source port serves every probe.
    #[command(flatten)]
    pub path: PathArgs,

    #[command(flatten)]
    pub family: FamilyArgs,

    /// TTL (over IPv6 the hop limit) of the first hop probed.
    #[arg(short, long, value_name = "TTL", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..))]
    pub first_ttl: u8,

    /// Largest TTL tried before giving up.
    #[arg(short, long, value_name = "TTL", default_value_t = 30, value_parser = clap::value_parser!(u8).range(1..))]
    pub max_ttl: u8,

    /// Probes per hop (traceroute's `-q`; in nettool `-q` means quiet, in every command).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=10))]
    pub queries: u8,

    /// How long each probe waits for its answer.
    #[arg(short, long, visible_short_alias = 'W', value_name = "DURATION", value_parser = parse_duration, default_value = "2s")]
    pub wait: Duration,

    /// Print one JSON object per line for each probe and the result.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub capture: CaptureArgs,

    #[command(flatten)]
    pub privilege: PrivilegeArgs,
}
