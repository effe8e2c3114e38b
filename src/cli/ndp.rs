//! `nettool ndp`: IPv6 neighbour discovery.

use std::time::Duration;

use clap::Args;

use super::common::parse_interface;
use super::{CacheArgs, CaptureArgs, parse_duration};

/// Resolve IPv6 addresses to MAC addresses with Neighbor Discovery, through a NUD cache.
#[derive(Debug, Args)]
#[command(
    long_about = "Resolve an IPv6 address to the MAC address that owns it, with Neighbor \
Solicitations (RFC 4861) that nettool builds itself, check whether an address is in use \
(duplicate address detection, RFC 4862), announce one, or list the nodes on a link. Answers are \
kept in a neighbour cache with RFC 4861's unreachability detection states: a REACHABLE entry \
answers without sending a frame; a STALE one is probed by unicast; one that stays silent is gone. \
Only solicited advertisements answering nettool's own solicitations create entries; an \
advertisement that contradicts an entry is reported as a CONFLICT.",
    after_long_help = concat!(
"EXAMPLES:
  nettool ndp fe80::1%eth0              resolve a link-local address (the interface is needed)
  nettool ndp -i eth0 fe80::1           the same
  nettool ndp fd00:6e74::2              resolve (the interface whose prefix holds it)
  nettool ndp --no-cache -c 3 fd00:6e74::2   three solicitations, every answer shown
  mac=$(nettool ndp -q fd00:6e74::2)    just the MAC, for scripts
  nettool ndp --dad -i eth0 fd00:6e74::9     is anybody using this address? (exit 1 if so)
  nettool ndp --announce -i eth0 fd00:6e74::1  unsolicited advertisements for it
  nettool ndp --all-nodes -i eth0       who answers an echo to ff02::1
  nettool ndp --show                    list the cache with NUD states

A subnet sweep, as `nettool arp 10.0.0.0/24` does, is not possible over a /64 (2^64 addresses): \
--all-nodes asks every node at once instead.

CACHE:
  IPv6 entries live in the same file as the ARP cache (--cache-file, NETTOOL_ARP_CACHE), with \
the same safety. Only REACHABLE and STALE entries are stored.

",
"EXIT STATUS:
  0    answered (or: the address is free, with --dad; the advertisements were sent; some node \
answered --all-nodes)
  1    nobody answered (or: the address is in use, with --dad)
  2    usage or local error
  130  interrupted (143 by SIGTERM)")
)]
pub struct NdpArgs {
    /// IPv6 address to resolve; a link-local one needs its interface (fe80::1%eth0 or its index fe80::1%2, or -i).
    #[arg(value_name = "ADDRESS", required_unless_present_any = ["show", "flush", "all_nodes"])]
    pub target: Option<String>,

    /// Interface to use (default: the one whose IPv6 prefix holds ADDRESS).
    #[arg(short, long, visible_short_alias = 'I', value_name = "IFACE", value_parser = parse_interface, value_hint = clap::ValueHint::Other)]
    pub interface: Option<String>,

    /// Source IPv6 address of solicitations and echoes (default: the interface's link-local address).
    #[arg(short, long, value_name = "ADDRESS")]
    pub source: Option<std::net::Ipv6Addr>,

    /// Send exactly N solicitations (echoes with --all-nodes), one per --interval, and show every answer.
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub count: Option<u32>,

    /// How long to wait for an answer after the last solicitation [default: 1s].
    #[arg(short = 'w', long = "wait", visible_short_alias = 'W', visible_alias = "timeout", value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Time between solicitations [default: 1s, RFC 4861's RetransTimer].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<Duration>,

    /// Ask the wire even when the cache holds a REACHABLE entry.
    #[arg(long)]
    pub no_cache: bool,

    /// List the IPv6 entries of the cache with their NUD states, and exit.
    #[arg(long, conflicts_with_all = ["target", "flush", "all_nodes"])]
    pub show: bool,

    /// Empty the IPv6 entries of the cache, and exit.
    #[arg(long, conflicts_with_all = ["target", "all_nodes"])]
    pub flush: bool,

    /// Duplicate address detection (RFC 4862 §5.4): solicit from ::; exit 1 if someone owns ADDRESS.
    #[arg(short = 'D', long, conflicts_with_all = ["announce", "all_nodes"])]
    pub dad: bool,

    /// Announce ADDRESS at our MAC with unsolicited advertisements to ff02::1 (O=1).
    #[arg(short = 'U', long, conflicts_with = "all_nodes")]
    pub announce: bool,

    /// Send an ICMPv6 echo to ff02::1 (every node on the link) and list who answers.
    #[arg(long, conflicts_with = "target")]
    pub all_nodes: bool,

    /// Print one JSON object per line for each answer and event.
    #[arg(long, conflicts_with = "quiet")]
    pub json: bool,

    /// Print only the MAC address (`ADDRESS MAC` per line where many answer: --all-nodes, --show).
    #[arg(short, long)]
    pub quiet: bool,

    /// Also print every frame sent and received, tcpdump-style, and every NUD state change, on stderr.
    #[arg(short, long)]
    pub verbose: bool,

    #[command(flatten)]
    pub cache: CacheArgs,

    #[command(flatten)]
    pub capture: CaptureArgs,
}
