//! The command line: the one definition that `--help`, the man pages and
//! the shell completions are all generated from (see `gen`).
//!
//! clap types stop at `cmd/`: each subcommand turns its `Args` into engine
//! settings there.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

mod common;
mod impair;
mod ladder;
mod load;
mod ndp;
mod plot;
mod probe;
mod trace;

pub use common::{
    COMMON_FLAGS, Common, Family, FamilyArgs, habit_tip, parse_interface, parse_source_port,
};
pub use impair::ImpairArgs;
pub use ladder::{LadderArgs, LadderFlags};
pub use load::{CloseHow, LoadArgs, Sources};
pub use ndp::NdpArgs;
pub use plot::{PlotArgs, PlotDir};
pub use probe::{MAX_TARGETS, PingArgs, ProbeArgs, ScanArgs, TargetListArgs};
pub use trace::TraceArgs;

/// The exit codes of every subcommand (each subcommand's help says what
/// 0 and 1 mean for it).
pub const EXIT_STATUS: &str = "\
EXIT STATUS (every subcommand):
  0    success: the address answered or is free (--dad), the port
       is open, the connection ended as asked, the lab command worked
  1    the network said no: nobody answered, refused (RST),
       filtered, unreachable, the address is in use (--dad)
  2    a usage or local error: bad arguments, no such interface,
       no privileges
  130  interrupted by SIGINT (Ctrl-C); but probe, like ping, then
       prints its summary and exits 0 if a probe was answered,
       1 if none was
  143  stopped by SIGTERM
  probe and scan with several targets: 0 if any target answered
  (probe) or has an open port (scan), 1 if none did.
  A reader that goes away early (nettool ... | head -c 10) ends
  nettool quietly with 0, as the reader asked: no broken-pipe
  message, no 141.";

/// The command line as clap is to read it: nmap's two-letter `-iL FILE`
/// (which clap would take for `-i L`, the interface "L") becomes
/// `--input-list FILE`, and `-Pn` `--no-discovery`, in `probe`, `scan` and `ping`, the commands
/// that take a target list; everything else is left as typed, and nothing after `--`.
pub fn nmap_spellings<I, T>(argv: I) -> Vec<std::ffi::OsString>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString>,
{
    let mut words: Vec<std::ffi::OsString> = argv.into_iter().map(Into::into).collect();
    let sub = words
        .iter()
        .skip(1)
        .position(|w| !w.to_string_lossy().starts_with('-'))
        .map(|i| i + 1);
    let Some(sub) = sub.filter(|&i| matches!(words[i].to_str(), Some("probe" | "scan" | "ping")))
    else {
        return words;
    };
    for w in words.iter_mut().skip(sub + 1) {
        match w.to_str() {
            Some("--") => break,
            Some("-iL") => *w = "--input-list".into(),
            Some("-Pn") => *w = "--no-discovery".into(),
            _ => {}
        }
    }
    words
}

/// `nettool --help`'s closing text: the common flags, then the exit codes.
fn top_help() -> String {
    format!("{COMMON_FLAGS}\n\n{EXIT_STATUS}")
}

/// A raw-socket protocol toolkit: ARP with a soft-state cache, a disposable lab, and more to come.
#[derive(Debug, Parser)]
#[command(
    name = "nettool",
    version,
    about,
    long_about = "nettool speaks to the network by assembling Ethernet, ARP, IPv4 and TCP frames \
itself and moving them through an AF_PACKET channel, so that what it prints is what went over \
the wire. It needs CAP_NET_RAW (run it as root, or grant the capability with setcap).",
    after_help = top_help(),
    after_long_help = top_help(),
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Arp(ArpArgs),
    Ndp(NdpArgs),
    Handshake(HandshakeArgs),
    Close(CloseArgs),
    Nc(NcArgs),
    Probe(ProbeArgs),
    Ping(PingArgs),
    Scan(ScanArgs),
    Trace(TraceArgs),
    Load(LoadArgs),
    Lab(LabArgs),
    Ladder(LadderArgs),
    Plot(PlotArgs),
    /// Write the man pages and shell completions (for packagers and the test suite).
    #[command(hide = true)]
    Generate(GenerateArgs),
    #[command(hide = true)]
    Impair(ImpairArgs),
}

/// Resolve IPv4 addresses to MAC addresses with ARP, through a soft-state cache.
#[derive(Debug, Args)]
#[command(
    long_about = "Resolve an IPv4 address to the MAC address that owns it, with ARP requests that \
nettool builds itself, or sweep a whole subnet. Answers are kept in a soft-state cache: a fresh \
entry (younger than --ttl) answers without sending a frame, a stale one is re-validated with a \
unicast request, an expired one is dropped and asked for again. Only replies to nettool's own \
requests are ever cached; a reply that contradicts the cache is reported as a conflict and \
neither MAC is believed.",
    after_long_help = concat!(
"EXAMPLES:
  nettool arp 10.78.0.2                 resolve (from the cache when fresh)
  nettool arp --no-cache -c 3 10.78.0.2 three requests, one second apart, every reply shown
  nettool arp 10.78.0.0/24              sweep the subnet and list the hosts that answer
  mac=$(nettool arp -q 10.78.0.2)       just the MAC, for scripts
  nettool arp --dad 10.78.0.9           is anybody using this address? (exit 1 if so)
  nettool arp --announce 10.78.0.1      tell the LAN that 10.78.0.1 is at our MAC
  nettool arp --show                    list the cache, with ages and states

CACHE:
  The cache is kept in /var/cache/nettool/arp-cache.json for root ($XDG_CACHE_HOME/nettool \
otherwise; --cache-file or NETTOOL_ARP_CACHE name another), readable by its owner only. A \
symlink in its place, a file others can write, or a corrupt file is ignored with a warning.

",
"EXIT STATUS:
  0    answered (or: the address is free, with --dad; the announcement was sent)
  1    nobody answered (or: the address is in use, with --dad)
  2    usage or local error
  130  interrupted (143 by SIGTERM)")
)]
pub struct ArpArgs {
    /// Address to resolve, or a subnet to sweep (CIDR, e.g. 10.78.0.0/24).
    #[arg(value_name = "ADDRESS|CIDR", required_unless_present_any = ["show", "flush"])]
    pub target: Option<String>,

    /// Interface to use (default: the one the kernel routes ADDRESS through).
    #[arg(short, long, visible_short_alias = 'I', value_name = "IFACE", value_parser = parse_interface, value_hint = clap::ValueHint::Other)]
    pub interface: Option<String>,

    /// Source IPv4 address for requests (default: the route's preferred source).
    #[arg(short, long, value_name = "ADDRESS")]
    pub source: Option<std::net::Ipv4Addr>,

    /// Send exactly N requests, one per --interval, and show every reply (always asks the wire).
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub count: Option<u32>,

    /// How long to wait for a reply after the last request [default: 1s].
    #[arg(short = 'w', long = "wait", visible_short_alias = 'W', visible_alias = "timeout", value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Time between requests to the same address [default: 1s; 300ms in a sweep].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<Duration>,

    /// How long a learned entry stays fresh; it is re-validated for 3×TTL more, then expires.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    pub ttl: Duration,

    /// Ask the wire even when the cache holds a fresh entry.
    #[arg(long)]
    pub no_cache: bool,

    /// List the cache with ages and states, and exit.
    #[arg(long, conflicts_with_all = ["target", "flush"])]
    pub show: bool,

    /// Empty the cache, and exit.
    #[arg(long, conflicts_with = "target")]
    pub flush: bool,

    /// Duplicate address detection (RFC 5227): probe from 0.0.0.0; exit 1 if someone owns ADDRESS.
    #[arg(short = 'D', long, conflicts_with_all = ["announce", "announce_reply"])]
    pub dad: bool,

    /// Announce ADDRESS as ours with gratuitous ARP requests (updates neighbours' caches).
    #[arg(short = 'U', long)]
    pub announce: bool,

    /// Like --announce, with gratuitous replies (as `arping -A`; with -U too, replies).
    #[arg(short = 'A', long)]
    pub announce_reply: bool,

    /// Sweep: at most this many requests per second.
    #[arg(long, value_name = "PPS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rate: u32,

    /// Sweep: requests to repeat for an address that has not answered.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub retries: u32,

    /// Print one JSON object per line for each reply and event.
    #[arg(long, conflicts_with = "quiet")]
    pub json: bool,

    /// Print only the MAC address (`ADDRESS MAC` per line where many answer: a sweep, --show).
    #[arg(short, long)]
    pub quiet: bool,

    /// Also print every ARP frame sent and received, tcpdump-style, on stderr.
    #[arg(short, long)]
    pub verbose: bool,

    #[command(flatten)]
    pub cache: CacheArgs,

    #[command(flatten)]
    pub capture: CaptureArgs,
}

/// Where the ARP cache lives.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// ARP cache file [default: /var/cache/nettool/arp-cache.json for root].
    #[arg(
        long,
        value_name = "PATH",
        env = "NETTOOL_ARP_CACHE",
        hide_env_values = true
    )]
    pub cache_file: Option<PathBuf>,
}

impl CacheArgs {
    /// The cache file named on the command line, or the standard one.
    pub fn path(&self) -> PathBuf {
        self.cache_file
            .clone()
            .unwrap_or_else(crate::cachefile::default_path)
    }
}

/// The way to one flow's peer as the user may set it: `-i`, `-s`, `-p`
/// and the ARP cache. Shared by `handshake`, `close`, `trace`, `probe` and
/// `scan`.
#[derive(Debug, Args)]
pub struct PathArgs {
    /// Interface to use (default: the one the kernel routes HOST through).
    #[arg(short, long, visible_short_alias = 'I', value_name = "IFACE", value_parser = parse_interface, value_hint = clap::ValueHint::Other)]
    pub interface: Option<String>,

    /// Source address, IPv4 or IPv6 as HOST is. One the kernel does not own keeps the kernel
    /// out of the flow entirely: nettool then answers ARP for it itself (over IPv6, neighbour
    /// solicitations, once duplicate address detection found it free). A link-local one needs -i.
    #[arg(short, long, value_name = "ADDRESS")]
    pub source: Option<std::net::IpAddr>,

    /// Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel).
    #[arg(short = 'p', long, visible_alias = "sport", value_name = "PORT", value_parser = parse_source_port)]
    pub source_port: Option<u16>,

    /// The ARP cache, for the next hop.
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// Where to connect and how: shared by `handshake` and `close`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Destination, HOST:PORT, an IPv6 address in brackets: `[fd00:6e74::2]:80` (a host name goes to the system resolver; PORT may be a service name: http).
    #[arg(value_name = "HOST:PORT")]
    pub target: String,

    #[command(flatten)]
    pub path: PathArgs,

    #[command(flatten)]
    pub family: FamilyArgs,

    /// SYN retransmissions before giving up (after 1 s, 2 s, 4 s, …).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,

    /// Data to send once the connection is open (escapes: \r \n \t \\ \xHH).
    #[arg(long, value_name = "TEXT")]
    pub data: Option<String>,

    /// How long the peer must stay quiet before nettool ends the connection.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "500ms")]
    pub linger: Duration,

    /// Print absolute sequence numbers (tcpdump -S); relative by default.
    #[arg(short = 'S', long)]
    pub absolute: bool,

    /// Print one JSON object per line for each segment, state change and result.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub capture: CaptureArgs,

    #[command(flatten)]
    pub ladder: LadderFlags,

    #[command(flatten)]
    pub privilege: PrivilegeArgs,
}

/// Open a TCP connection with a hand-driven three-way handshake, printing every segment and state.
#[derive(Debug, Args)]
#[command(
    long_about = "Open a TCP connection to HOST:PORT with nettool's own TCP engine and print every \
segment (tcpdump's format: flags, seq/ack, window, options) and every state the connection \
passes through. Once open, the connection is released with a RST, so the server is not left \
holding it (--graceful closes it properly instead). A RST in answer to the SYN means the port \
is closed; silence after the retries means it is filtered or the host is down. While nettool \
owns the flow, a firewall rule scoped to it keeps the kernel from resetting the connection; \
the rule is removed when nettool exits, however it exits.",
    after_long_help = "EXAMPLES:
  nettool handshake 10.78.0.2:80                  SYN, SYN-ACK, ACK, then RST
  nettool handshake --graceful 10.78.0.2:80       ... then a four-way close
  nettool handshake --no-ack 10.78.0.2:80         withhold the third ACK: watch the SYN-ACK come again
  nettool handshake --ack-delay 2s 10.78.0.2:80   a late third ACK still completes the handshake
  nettool handshake --data 'GET / HTTP/1.0\\r\\n\\r\\n' 10.78.0.2:80

EXIT STATUS:
  0    the handshake completed (the port is open)
  1    refused (RST), no answer, or ICMP unreachable
  2    usage or local error
  130  interrupted (143 by SIGTERM; a RST is sent if the connection was open)"
)]
pub struct HandshakeArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Withhold the third ACK and watch the server retransmit its SYN-ACK, then reset.
    #[arg(long, conflicts_with_all = ["ack_delay", "graceful", "data"])]
    pub no_ack: bool,

    /// With --no-ack: how long to watch.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "8s", requires = "no_ack")]
    pub observe: Duration,

    /// Send the third ACK this long after the SYN-ACK.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub ack_delay: Option<Duration>,

    /// Release the open connection with a four-way close instead of a RST.
    #[arg(long)]
    pub graceful: bool,
}

/// Open a TCP connection and close it with the four-way handshake, printing every state.
#[derive(Debug, Args)]
#[command(
    long_about = "Open a TCP connection to HOST:PORT as `nettool handshake` does, then close it \
and print the whole close: by default nettool closes first (FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT, \
CLOSED); with --passive it waits for the server to close first (CLOSE-WAIT, LAST-ACK); with \
--half-close it sends its FIN right after --data and keeps reading what the server still sends \
in FIN-WAIT-2; --abort resets instead. TIME-WAIT lasts --time-wait (2×MSL).",
    after_long_help = "EXAMPLES:
  nettool close 10.78.0.2:7                                      our FIN first
  nettool close --passive --data 'GET / HTTP/1.0\\r\\n\\r\\n' 10.78.0.2:80
                                                                 the server closes first
  nettool close --half-close 10.78.0.2:19                        data keeps coming in FIN-WAIT-2
  nettool close --abort 10.78.0.2:7                              RST instead of FIN

EXIT STATUS:
  0    the connection opened and closed as asked
  1    refused, no answer, unreachable, or reset by the peer; with --passive, the
       peer sent nothing and did not close within --linger (nettool closed first)
  2    usage or local error
  130  interrupted (143 by SIGTERM)"
)]
pub struct CloseArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Let the peer close first (after --data, e.g. an HTTP/1.0 request); if it has
    /// not within --linger, nettool closes first and says so (exit 1 if it sent nothing).
    #[arg(long, conflicts_with_all = ["half_close", "abort"])]
    pub passive: bool,

    /// Send our FIN right after --data and keep reading in FIN-WAIT-2.
    #[arg(long, conflicts_with = "abort")]
    pub half_close: bool,

    /// Reset the connection instead of closing it.
    #[arg(long)]
    pub abort: bool,

    /// How long TIME-WAIT lasts (2×MSL; RFC 9293 suggests 4 min, Linux uses 60 s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "2s")]
    pub time_wait: Duration,
}

/// netcat on nettool's own TCP engine: stdin to the peer, the peer to stdout.
#[derive(Debug, Args)]
#[command(
    long_about = "Connect to HOST PORT (or with -l, wait for a connection on PORT) and copy stdin to \
the peer and the peer's bytes to stdout, binary-safe. Every byte rides nettool's own TCP engine \
over a raw socket: no kernel socket carries the data. At the end of stdin nettool sends its FIN \
(half-close) and keeps printing what the peer sends until the peer closes too; --quit-after limits \
that wait. stdout carries only payload: states and the summary (-v) and segments (--trace) go to \
stderr. Loopback destinations (127.0.0.1) work: nettool sends through a raw IP socket there.",
    after_long_help = "EXAMPLES:
  printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nettool nc 10.78.0.2 80
  printf 'PING\\r\\n' | nettool nc --quit-after 1 127.0.0.1 6379  a local redis answers +PONG
  nettool nc -l 9000 > received.bin                           wait for one connection
  nettool nc -l -k 10.78.0.1 9000                             one connection after another
  nettool nc -z -v 10.78.0.2 1-100                            which ports accept a connection?
  printf 'hello' | nettool nc -u 10.78.0.2 7                  one UDP datagram, and the echo
  nettool nc -u -l -k -v 9000                                 UDP from anyone; replies go to
                                                              the peer heard last

EXIT STATUS:
  0    the connection ended normally (with -z: some port is open)
  1    refused, no answer, timed out, or reset (with -z: no port is open)
  2    usage or local error
  130  interrupted (143 by SIGTERM)"
)]
pub struct NcArgs {
    /// HOST PORT to connect to; with -l, PORT (or ADDRESS PORT) to listen on; with -z, PORT may be a range or a list (1-1024, ssh,http). A port may be a service name.
    #[arg(value_name = "HOST PORT", num_args = 1..=2, required = true)]
    pub operands: Vec<String>,

    /// Listen for a connection instead of connecting.
    #[arg(short, long)]
    pub listen: bool,

    /// UDP instead of TCP: each read of stdin is one datagram (cut at the path's MTU), each
    /// datagram received is written whole to stdout; an ICMP port unreachable ends the run at once.
    /// With -z: each port open (a reply), closed (ICMP port unreachable) or open|filtered.
    #[arg(short, long)]
    pub udp: bool,

    /// With -u: the largest datagram a read of stdin becomes (up to 65507 bytes), instead of the
    /// path's MTU. A longer datagram goes as IPv4 fragments, cut by nettool.
    #[arg(long, value_name = "BYTES", requires = "udp", value_parser = clap::value_parser!(u16).range(1..=65507))]
    pub max_datagram: Option<u16>,

    /// With -l: accept another connection after each one ends (with -u: serve every peer,
    /// replying to the one heard last, instead of only the first).
    #[arg(short, long, requires = "listen")]
    pub keep_open: bool,

    /// Report whether the port(s) accept a connection; send no data.
    #[arg(short, long, conflicts_with = "listen")]
    pub zero_io: bool,

    /// Give up if the connection does not open (each port's wait, with -z), or stays idle, this long.
    #[arg(short, long, visible_short_alias = 'W', value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Option<Duration>,

    /// Give up when sent data stays unacknowledged this long (RFC 9293's
    /// USER TIMEOUT); without it, nettool retries 15 times with backoff,
    /// as Linux does (many minutes against a dead path).
    #[arg(long, value_name = "SECS", value_parser = parse_duration)]
    pub user_timeout: Option<Duration>,

    /// After the end of stdin, wait at most this long for the peer to close, then quit
    /// (netcat's `-q SECS`; in nettool `-q` means quiet, in every command). With -u, how long
    /// to wait for replies after the end of stdin (default 1s; a listener keeps serving).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub quit_after: Option<Duration>,

    /// Source address, IPv4 or IPv6 as the peer is (see handshake's -s).
    #[arg(short, long, value_name = "ADDRESS")]
    pub source: Option<std::net::IpAddr>,

    /// Source port.
    #[arg(short = 'p', long, visible_alias = "sport", value_name = "PORT", value_parser = parse_source_port)]
    pub source_port: Option<u16>,

    /// Interface to use.
    #[arg(short, long, visible_short_alias = 'I', value_name = "IFACE", value_parser = parse_interface, value_hint = clap::ValueHint::Other)]
    pub interface: Option<String>,

    /// Congestion control for what nettool sends.
    #[arg(long, value_enum, value_name = "ALGORITHM", default_value_t = CongestionControlArg::Cubic)]
    pub cc: CongestionControlArg,

    #[command(flatten)]
    pub family: FamilyArgs,

    /// States and a summary on stderr: bytes each way (and on the wire, where they differ), throughput, retransmissions, kernel drops, duration, the congestion control.
    #[arg(short, long)]
    pub verbose: bool,

    /// Every segment, tcpdump-style, on stderr.
    #[arg(long)]
    pub trace: bool,

    /// When the connection ends, draw it on stderr as a ladder diagram (segments, our states, the peer's inferred); of a long one, the first 20 and last 10 segments and those that moved a state.
    #[arg(long, conflicts_with = "zero_io")]
    pub ladder: bool,

    /// With --ladder: ASCII characters only, whatever the locale.
    #[arg(long, requires = "ladder")]
    pub ascii: bool,

    /// When the connection ends, write the time–sequence graph of the data it carried to FILE as SVG, with our congestion window, ssthresh, RTO and each retransmission's cause when the data was ours.
    #[arg(long, value_name = "FILE", conflicts_with = "zero_io")]
    pub plot: Option<PathBuf>,

    #[command(flatten)]
    pub cache: CacheArgs,

    #[command(flatten)]
    pub capture: CaptureArgs,

    #[command(flatten)]
    pub privilege: PrivilegeArgs,
}

/// `nc --cc`: the engine's congestion avoidance algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CongestionControlArg {
    /// RFC 9438: the window follows a cubic curve of the time since the last loss, and falls to 0.7 of the flight on one (Linux's default).
    Cubic,
    /// RFC 5681: one segment more per round trip, and half the flight on a loss.
    Reno,
}

/// A disposable virtual LAN to try nettool on: a network namespace with hosts answered by Linux.
#[derive(Debug, Args)]
#[command(
    long_about = "Create, inspect and remove a virtual LAN for trying nettool without touching a \
real network: a network namespace joined to this one by a veth pair, holding --hosts addresses \
that the Linux kernel in it answers for, with a route so that the lab subnet is reached through \
the veth. The lab's hosts also run real kernel TCP services for nettool's TCP tools: HTTP on \
port 80 (one page, then the server closes first), echo on 7 (until your FIN), a trickle stream on \
19 (ten lines 100 ms apart, sent even after your FIN), nothing on 81 (a SYN gets RST) and a \
filtered 82 (an nftables rule drops SYNs). Needs root (CAP_NET_ADMIN) and iproute2's `ip`.",
    after_long_help = "EXAMPLES:
  nettool lab up               create the lab (10.78.0.0/24: this host is .1, the peers .2 to .5)
  nettool arp 10.78.0.0/24     sweep it
  nettool lab status           what is up, services included
  nettool lab up --no-services a bare lab: no TCP services, no nftables rule
  nettool lab down             remove everything
  nettool lab demo             bring a lab up, show nettool working on it, take it down"
)]
pub struct LabArgs {
    #[command(subcommand)]
    pub action: LabAction,
}

#[derive(Debug, Subcommand)]
pub enum LabAction {
    /// Create the lab.
    Up(LabUpArgs),
    /// Remove the lab and everything it runs.
    Down(LabNameArgs),
    /// Show the lab's interfaces and addresses.
    Status(LabStatusArgs),
    /// Bring up a temporary lab, run nettool against it with real output, and take it down.
    Demo(LabDemoArgs),
    /// Run the lab's TCP services in the lab's namespace until SIGTERM (started by `lab up`).
    #[command(hide = true)]
    Serve(LabNameArgs),
}

#[derive(Debug, Args)]
pub struct LabNameArgs {
    /// Name of the lab (namespace nettool-NAME, interface ntl-NAME).
    #[arg(long, default_value = "lab", value_name = "NAME")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LabStatusArgs {
    #[command(flatten)]
    pub name: LabNameArgs,
    /// Print JSON lines (start, the lab, result; see README "JSON output").
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LabUpArgs {
    #[command(flatten)]
    pub name: LabNameArgs,
    /// Subnet of the lab; this host takes its first address, the peers the following ones.
    #[arg(long, default_value = "10.78.0.0/24", value_name = "CIDR")]
    pub subnet: ipnetwork::Ipv4Network,
    /// Number of peer addresses answered in the lab.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub hosts: u16,
    /// A bare lab: no TCP services (HTTP on 80, echo on 7, trickle on 19, filtered port 82).
    #[arg(long)]
    pub no_services: bool,
}

#[derive(Debug, Args)]
pub struct LabDemoArgs {
    /// Name of the temporary lab.
    #[arg(long, default_value = "demo", value_name = "NAME")]
    pub name: String,
    /// Subnet of the temporary lab.
    #[arg(long, default_value = "10.79.0.0/24", value_name = "CIDR")]
    pub subnet: ipnetwork::Ipv4Network,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Directory to write man/ and completions/ into.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub out_dir: PathBuf,
}

/// The clap command every generator uses.
pub fn command() -> clap::Command {
    Cli::command()
}

/// A number where a bit field goes (IP TOS, ID, …): decimal, `0x10` or
/// `0b10000`, within `T`'s range.
pub fn parse_bits<T: TryFrom<u64>>(text: &str) -> Result<T, String> {
    let n = crate::probe::parse_number(text)?;
    T::try_from(n).map_err(|_| format!("{text:?} is out of range"))
}

/// Parses `1.5s`, `250ms`, `2m`, `1h`, `500us`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (try 1s, 250ms, 2m)"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use us, ms, s, m or h)"
            ));
        }
    };
    let secs = value * scale;
    if !secs.is_finite() || secs > 1e9 {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn command_is_well_formed() {
        command().debug_assert();
    }

    #[rstest]
    #[case("1", Duration::from_secs(1))]
    #[case("1.5s", Duration::from_millis(1500))]
    #[case("250ms", Duration::from_millis(250))]
    #[case("500us", Duration::from_micros(500))]
    #[case("2m", Duration::from_secs(120))]
    #[case("1h", Duration::from_secs(3600))]
    #[case(" 3s ", Duration::from_secs(3))]
    fn durations_parse(#[case] text: &str, #[case] want: Duration) {
        assert_eq!(parse_duration(text), Ok(want));
    }

    #[rstest]
    #[case("16", 16)]
    #[case("0x10", 16)]
    #[case("0X1f", 31)]
    #[case("0b10000", 16)]
    #[case(" 255 ", 255)]
    fn bit_fields_take_hex(#[case] text: &str, #[case] want: u8) {
        assert_eq!(parse_bits::<u8>(text), Ok(want));
    }

    #[rstest]
    #[case("0x100")]
    #[case("256")]
    #[case("0x")]
    #[case("-1")]
    #[case("ten")]
    fn bad_bit_fields_are_refused(#[case] text: &str) {
        assert!(parse_bits::<u8>(text).is_err());
    }

    #[rstest]
    #[case("")]
    #[case("s")]
    #[case("1x")]
    #[case("-1s")]
    #[case("1e99h")]
    fn bad_durations_are_refused(#[case] text: &str) {
        assert!(parse_duration(text).is_err());
    }

    #[rstest]
    #[case(&["nettool", "arp"])]
    #[case(&["nettool", "arp", "--show", "10.0.0.1"])]
    #[case(&["nettool", "arp", "--dad", "--announce", "10.0.0.1"])]
    #[case(&["nettool", "arp", "-c", "0", "10.0.0.1"])]
    #[case(&["nettool", "arp", "--json", "-q", "10.0.0.1"])]
    fn contradictory_arguments_are_usage_errors(#[case] argv: &[&str]) {
        assert!(Cli::try_parse_from(argv).is_err());
    }

    /// arping's -A is -U with replies: together they mean replies, not a
    /// conflict.
    #[test]
    fn announce_and_announce_reply_go_together() {
        let cli = Cli::try_parse_from(["nettool", "arp", "-U", "-A", "10.0.0.1"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Arp(ArpArgs {
                announce: true,
                announce_reply: true,
                ..
            })
        ));
    }

    #[test]
    fn show_needs_no_target() {
        let cli = Cli::try_parse_from(["nettool", "arp", "--show"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Arp(ArpArgs {
                show: true,
                target: None,
                ..
            })
        ));
    }
}

/// `--user NAME`, for the commands that give up their privileges once
/// their setup is done (see README "Security").
#[derive(Debug, Args)]
pub struct PrivilegeArgs {
    /// After the setup, run as NAME instead of nobody when started as root (tcpdump -Z).
    #[arg(long, value_name = "NAME", value_hint = clap::ValueHint::Username)]
    pub user: Option<String>,
}

/// `--pcap FILE`, for every command that moves frames.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
}

impl Command {
    /// The capture file asked for with `--pcap`, if the command takes one.
    pub fn pcap(&self) -> Option<&std::path::Path> {
        let capture = match self {
            Command::Arp(a) => &a.capture,
            Command::Ndp(a) => &a.capture,
            Command::Handshake(a) => &a.connect.capture,
            Command::Close(a) => &a.connect.capture,
            Command::Nc(a) => &a.capture,
            Command::Probe(a) => &a.capture,
            Command::Ping(a) => &a.capture,
            Command::Scan(a) => &a.capture,
            Command::Trace(a) => &a.capture,
            Command::Load(a) => &a.capture,
            Command::Lab(_)
            | Command::Ladder(_)
            | Command::Plot(_)
            | Command::Generate(_)
            | Command::Impair(_) => {
                return None;
            }
        };
        capture.pcap.as_deref()
    }

    /// What the command was told about its privileges, if it drops them
    /// once its setup is done (`arp` writes the root-owned ARP cache at
    /// its end, `lab` builds and deletes namespaces: they keep theirs).
    /// With the command's name.
    pub fn privilege(&self) -> Option<(&'static str, &PrivilegeArgs)> {
        Some(match self {
            Command::Handshake(a) => ("handshake", &a.connect.privilege),
            Command::Close(a) => ("close", &a.connect.privilege),
            Command::Nc(a) => ("nc", &a.privilege),
            Command::Probe(a) => ("probe", &a.privilege),
            Command::Scan(a) => ("scan", &a.privilege),
            Command::Trace(a) => ("trace", &a.privilege),
            // probe --icmp under ping's defaults, confined as probe is.
            Command::Ping(a) => ("probe", &a.privilege),
            Command::Load(a) => ("load", &a.privilege),
            // arp and ndp (see main.rs), lab, ladder, plot, generate,
            // impair, and a new command until it is made to drop (README "Security"
            // says which keep what).
            _ => return None,
        })
    }
}
