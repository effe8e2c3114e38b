//! `nettool impair`'s arguments (a hidden command, for fault-injection tests).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::parse_duration;
use crate::impair::{parse_pair, parse_probability};

fn probabilities(text: &str) -> Result<[f64; 2], String> {
    parse_pair(text, parse_probability)
}

fn durations(text: &str) -> Result<[Duration; 2], String> {
    parse_pair(text, parse_duration)
}

/// A seeded, counting, faulty wire between two interfaces, for fault-injection tests.
#[derive(Debug, Args)]
#[command(
    long_about = "Bridge two interfaces at layer 2 (an AF_PACKET socket on each, promiscuous) and \
impair the IPv4/TCP frames that cross: drop, duplicate, reorder, delay and corrupt them with seeded \
per-direction decisions, and blackhole them on a schedule or on SIGUSR1. ARP and other frames \
pass untouched (a blackhole swallows them too with --blackhole-all). Corruption flips one bit of \
the TCP payload, or of the checksum of an empty segment, so the receiver's TCP always detects it. \
The same --seed and the same frames give the same decisions. Every decision is counted: the \
counters go to --stats FILE (JSON, rewritten while running), to stderr on SIGUSR2, and to stdout \
at exit. Offloads (checksum, TSO, GSO, GRO) are turned off on both interfaces unless \
--keep-offloads; the ends of the wire should have theirs off too. Meant for a middle network \
namespace between two veths (the test suite builds one with nettool::lab::impaired); needs root.",
    after_long_help = "PROBABILITIES AND DELAYS:
  A value applies to both directions; A/B sets left→right to A and right→left to B:
  --loss 0.02, --loss 2%, --loss 0.05/0, --delay 5ms/0.

SIGNALS:
  SIGUSR1  toggle a blackhole (it lasts --blackhole-for, or until the next SIGUSR1)
  SIGUSR2  print the counters to stderr and rewrite the stats file
  SIGINT, SIGTERM  stop: print the counters to stdout, exit 0

EXAMPLES:
  nettool impair --left veth-a --right veth-b --seed 7 --loss 2% --reorder 5% --dup 2% --corrupt 1%
  nettool impair --left veth-a --right veth-b --blackhole-after 5s --blackhole-for 10s
  nettool impair --left veth-a --right veth-b --stats /tmp/relay.json; kill -USR1 $!"
)]
pub struct ImpairArgs {
    /// Interface of the left side.
    #[arg(long, value_name = "IFACE")]
    pub left: String,

    /// Interface of the right side.
    #[arg(long, value_name = "IFACE")]
    pub right: String,

    /// Seed of the decisions (one generator per direction, both derived from it).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,

    /// Probability of dropping a TCP frame.
    #[arg(long, value_name = "P[/P]", value_parser = probabilities, default_value = "0")]
    pub loss: [f64; 2],

    /// Probability of sending a TCP frame twice.
    #[arg(long, value_name = "P[/P]", value_parser = probabilities, default_value = "0")]
    pub dup: [f64; 2],

    /// Probability of holding a TCP frame back so that later ones overtake it.
    #[arg(long, value_name = "P[/P]", value_parser = probabilities, default_value = "0")]
    pub reorder: [f64; 2],

    /// Probability of flipping one bit (payload, or the checksum of an empty segment).
    #[arg(long, value_name = "P[/P]", value_parser = probabilities, default_value = "0")]
    pub corrupt: [f64; 2],

    /// Fixed delay added to every TCP frame.
    #[arg(long, value_name = "DURATION[/DURATION]", value_parser = durations, default_value = "0")]
    pub delay: [Duration; 2],

    /// A held frame is released after this many later frames have overtaken it…
    #[arg(long, value_name = "K", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub reorder_after: u32,

    /// …or after this long, whichever comes first.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10ms")]
    pub reorder_hold: Duration,

    /// Start a blackhole this long after the relay starts.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub blackhole_after: Option<Duration>,

    /// How long a blackhole lasts [default: for ever, or until the next SIGUSR1].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub blackhole_for: Option<Duration>,

    /// A blackhole swallows every frame (ARP too), not only IPv4/TCP.
    #[arg(long)]
    pub blackhole_all: bool,

    /// Keep the counters in this file (JSON), rewritten while running and at exit.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,

    /// Write one line per decision (drop, duplicate, corrupt, hold, release, blackhole) to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,

    /// Leave the interfaces' offloads alone (default: turn them off).
    #[arg(long)]
    pub keep_offloads: bool,
}
