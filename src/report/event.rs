//! The events every command reports, one type for all of them.
//!
//! Serialized, an event is one JSON object whose `event` field names it
//! (the reporter adds `t`, seconds since the command started). A field
//! means the same thing, in the same unit, in every event and every
//! command: `src`/`dst` are `ADDR:PORT`, `ip` a bare address, `rtt_us`
//! and every other `*_us` integer microseconds, `flags` tcpdump's letters,
//! `state` RFC 9293's names. Fields that do not apply are left out, never
//! `null`. README.md's "JSON output" section and tests/events.schema.json
//! describe the same set; a test holds the three together.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

use crate::serde_display::{display, display_opt};

use crate::outcome::Outcome;
use crate::tcp::{Segment as TcpSegment, State};
use crate::wire::MacAddr;
use crate::wire::fmt::{tcp_flags, tcp_option};

/// One line of a command's report.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The first line: what the command is about to do.
    Start(Box<Start>),
    /// A TCP segment sent, received or withheld.
    Segment(Box<Segment>),
    /// A TCP connection moved to `state`.
    State {
        #[serde(serialize_with = "display")]
        from: State,
        #[serde(serialize_with = "display")]
        state: State,
    },
    /// A probe sent (`probe -v`).
    Probe(Probe),
    /// An answer to a probe or an ARP request, with its round trip.
    Reply(Box<Reply>),
    /// One probe of a trace: the router or host that answered, or silence.
    Hop(Hop),
    /// An ICMP error about our traffic.
    Icmp(Icmp),
    /// One port of a scan.
    Port(Port),
    /// An ARP cache entry, read or judged.
    Cache(Cache),
    /// Two MACs claim one address.
    Conflict(Conflict),
    /// nettool answered a who-has for an address it speaks for.
    ArpAnswered {
        ip: Ipv4Addr,
        #[serde(
            skip_serializing_if = "Option::is_none",
            serialize_with = "display_opt"
        )]
        mac: Option<MacAddr>,
    },
    /// The TCP engine ignored a segment (or a frame was malformed).
    Drop { reason: String },
    /// A connection ended, and why.
    Closed { reason: String },
    /// Payload received.
    Data { len: usize, text: String },
    /// Anything else worth a line.
    Note { text: String },
    /// What only a sender knows, when it changed: its congestion
    /// window, slow start threshold and retransmission timeout.
    Sender(Sender),
    /// A segment sent again, and why.
    Retransmit(Retransmit),
    /// `lab status`: the lab's parts (the fields of `lab::LabStatus`).
    Lab {
        up: bool,
        #[serde(flatten)]
        status: serde_json::Map<String, serde_json::Value>,
    },
    /// `load`: once a second, where the connections stand.
    Progress(Progress),
    /// The last line: how the command ended.
    Result(Box<Report>),
}

impl Event {
    /// The `event` field's value.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Start(_) => "start",
            Event::Segment(_) => "segment",
            Event::State { .. } => "state",
            Event::Probe(_) => "probe",
            Event::Reply(_) => "reply",
            Event::Hop(_) => "hop",
            Event::Icmp(_) => "icmp",
            Event::Port(_) => "port",
            Event::Cache(_) => "cache",
            Event::Conflict(_) => "conflict",
            Event::ArpAnswered { .. } => "arp-answered",
            Event::Drop { .. } => "drop",
            Event::Closed { .. } => "closed",
            Event::Data { .. } => "data",
            Event::Note { .. } => "note",
            Event::Sender(_) => "sender",
            Event::Retransmit(_) => "retransmit",
            Event::Lab { .. } => "lab",
            Event::Progress(_) => "progress",
            Event::Result(_) => "result",
        }
    }

    pub fn note(text: impl Into<String>) -> Event {
        Event::Note { text: text.into() }
    }
}

/// What a command is about to do. `command` always; the rest as it applies.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Start {
    pub command: &'static str,
    /// `arp`: resolve, ping, sweep, dad, announce, show, flush.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst: Option<SocketAddr>,
    /// The address asked about when there is no port (ARP, probe, scan).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// Our own address when there is no port (ARP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// Destination ports, as `80,81,1000-1010`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iface: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "display_opt"
    )]
    pub mac: Option<MacAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<IpAddr>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "display_opt"
    )]
    pub next_hop_mac: Option<MacAddr>,
    /// The nft table that drops the kernel's RSTs for the flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard: Option<String>,
    /// The interface at whose ingress the guard drops the flow's frames
    /// before the kernel's IP sees them (nft table `netdev` of the
    /// guard's name): the kernel then sends no RST for them at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard_ingress: Option<String>,
    /// The probe's flags, as tcpdump spells them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    /// The probe's IPv4 packet length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sport_inc: Option<bool>,
    /// How many addresses a sweep asks for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addresses: Option<usize>,
    /// Requests or SYNs per target, at most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// A fixed rate, per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ttl: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queries: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_us: Option<u64>,
}

/// A TCP segment, in tcpdump's terms.
#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    /// `in` or `out`.
    pub dir: &'static str,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub flags: String,
    pub seq: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack: Option<u32>,
    pub win: u16,
    pub len: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// The human line, tcpdump's format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    /// Present (true) for a segment the engine built but nettool held back.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub withheld: bool,
}

impl Segment {
    /// `seg` going `dir` ("in" or "out"), absolute numbers.
    pub fn new(dir: &'static str, seg: &TcpSegment) -> Segment {
        let repr = seg.as_repr();
        Segment {
            dir,
            src: seg.src,
            dst: seg.dst,
            flags: tcp_flags(&repr),
            seq: seg.seq.get(),
            ack: seg.ack.map(|a| a.get()),
            win: seg.window,
            len: seg.payload.len(),
            options: seg.options.iter().map(|o| tcp_option(o, 0)).collect(),
            line: None,
            withheld: false,
        }
    }

    /// The bare RST nettool sends to end a half-open connection.
    pub fn reset(src: impl Into<SocketAddr>, dst: impl Into<SocketAddr>, seq: u32) -> Segment {
        Segment {
            dir: "out",
            src: src.into(),
            dst: dst.into(),
            flags: "R".to_owned(),
            seq,
            ack: None,
            win: 0,
            len: 0,
            options: Vec::new(),
            line: None,
            withheld: false,
        }
    }

    pub fn line(mut self, line: String) -> Segment {
        self.line = Some(line);
        self
    }
}

/// A TCP sender's congestion state (RFC 5681, RFC 6298), as its engine
/// holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sender {
    /// The congestion window, octets.
    pub cwnd: u64,
    /// The slow start threshold, octets; left out while it is still the
    /// initial "arbitrarily high" value (RFC 5681 §3.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssthresh: Option<u64>,
    /// The retransmission timeout.
    pub rto_us: u64,
    /// The smoothed round-trip time, once there is a sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub srtt_us: Option<u64>,
    /// Fast recovery (RFC 6675, RFC 6582) is under way.
    pub recovery: bool,
}

/// Why a sender sent a segment again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetransmitCause {
    /// The retransmission timer expired (RFC 6298 §5).
    Rto,
    /// A tail loss probe (RFC 8985 §7): the ACKs stopped.
    Tlp,
    /// Loss recovery marked it lost: RACK's time-based detection (RFC
    /// 8985 §6) with SACK, duplicate ACKs (RFC 6582) without.
    Recovery,
}

impl RetransmitCause {
    pub fn name(self) -> &'static str {
        match self {
            RetransmitCause::Rto => "rto",
            RetransmitCause::Tlp => "tlp",
            RetransmitCause::Recovery => "recovery",
        }
    }
}

/// A retransmission: the range sent again, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retransmit {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// Absolute SEG.SEQ, as in `segment`.
    pub seq: u32,
    pub len: usize,
    pub cause: RetransmitCause,
}

/// A probe leaving (`probe -v`).
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// The probe's number, from 1.
    pub probe: u64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    /// The IPv4 identification field (0 over IPv6, which has none).
    pub id: u16,
}

/// An answer to something nettool sent.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reply {
    /// Which probe or request it answers, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<u64>,
    pub rtt_us: u64,
    /// ARP: the address that answered, and its MAC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "display_opt"
    )]
    pub mac: Option<MacAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iface: Option<String>,
    /// TCP: the answering segment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub win: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub len: Option<usize>,
    /// The answer's IP TTL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    /// What the answer says (`port open`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meaning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
}

impl Reply {
    /// The TCP fields of `seg`.
    pub fn segment(mut self, seg: &TcpSegment) -> Reply {
        let s = Segment::new("in", seg);
        self.src = Some(s.src);
        self.dst = Some(s.dst);
        self.flags = Some(s.flags);
        self.seq = Some(s.seq);
        self.ack = s.ack;
        self.win = Some(s.win);
        self.len = Some(s.len);
        self
    }
}

/// One probe of a trace.
#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    pub ttl: u8,
    /// The probe's number within the hop, from 0.
    pub query: u8,
    /// Who answered; absent when nobody did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// `time-exceeded`, `unreachable`, `open` or `closed`; with `--udp`
    /// `udp-reply` or `port-unreachable`, with `--icmp` `echo-reply`;
    /// absent on silence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_us: Option<u64>,
    /// The ICMP message in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub what: Option<String>,
    /// Present (true) for an answer that came after its probe gave up.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
}

/// An ICMP error about our traffic.
#[derive(Debug, Clone, Serialize)]
pub struct Icmp {
    /// The router or host that sent it.
    pub ip: IpAddr,
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_us: Option<u64>,
}

/// Where `load`'s connections stand: its progress line each second, and
/// (flattened) in its result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Progress {
    /// Connections opened so far (SYN sent).
    pub opened: u64,
    /// Established now.
    pub established: u64,
    /// SYN sent, no answer yet.
    pub handshaking: u64,
    /// Answered with RST in SYN-SENT.
    pub refused: u64,
    /// Gave up: SYNs unanswered, or keepalives unanswered once established.
    pub timed_out: u64,
    /// Reset by the peer once established.
    pub reset: u64,
    /// Closed by the peer (its FIN) once established.
    pub peer_closed: u64,
    /// Handshakes completed in the last second (in the result: on average
    /// over the opening).
    pub connects_per_s: f64,
    /// SYNs sent again (their first went unanswered).
    pub syn_retransmits: u64,
    /// With --send: connections that had a reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replies: Option<u64>,
    /// Memory held: nettool's resident set (VmRSS), in bytes; where
    /// /proc can tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_bytes: Option<u64>,
}

/// `load`'s result beyond [`Progress`]: connect times, SYN to
/// ESTABLISHED.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LoadResult {
    /// Connections asked for.
    pub connections: u64,
    /// Established at some point.
    pub ever_established: u64,
    #[serde(flatten)]
    pub progress: Progress,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_p50_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_p90_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_p99_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_max_us: Option<u64>,
    /// From the first SYN to the last handshake's end.
    pub open_us: u64,
    /// Segments sent on the connections while they were held (with
    /// `--keepalive` and without `--send`: keepalive probes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_segments_sent: Option<u64>,
    /// Segments received on them while held (the probes' answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_segments_received: Option<u64>,
    /// Frames the kernel dropped because nettool's receive ring was full
    /// (it fell behind), over the whole run; where the link can tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rx_dropped: Option<u64>,
    /// With `--keepalive`: probes still unanswered when the hold ended
    /// (sent too late for an answer, or their answers lost): the answers
    /// read are `held_segments_sent` less these.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keepalives_unanswered: Option<u64>,
    /// Resident set when the first SYN went (the program, its link's
    /// ring), in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_base_bytes: Option<u64>,
    /// Resident set while held (the largest of the hold's samples, once
    /// the handshakes were over), in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_held_bytes: Option<u64>,
    /// Resident set at its highest over the run (VmHWM), in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_peak_bytes: Option<u64>,
    /// What an idle established connection costs, from RSS: the growth
    /// from `rss_base_bytes` to `rss_held_bytes` over the connections
    /// established then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_bytes_per_connection: Option<u64>,
}

/// One port of a scan.
#[derive(Debug, Clone, Serialize)]
pub struct Port {
    /// The scanned address (a scan may have several).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    pub port: u16,
    /// `open`, `closed` or `filtered`; a UDP scan also says
    /// `open|filtered` (silence after every try).
    pub outcome: &'static str,
    pub reason: String,
    pub tries: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_us: Option<u64>,
}

/// An ARP cache entry.
#[derive(Debug, Clone, Serialize)]
pub struct Cache {
    /// `fresh`, `stale`, `expired`, or `failed` (a stale entry that did
    /// not answer its re-validation).
    pub status: &'static str,
    pub ip: IpAddr,
    #[serde(serialize_with = "display")]
    pub mac: MacAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iface: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fresh_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_us: Option<u64>,
}

/// Two MACs claim one address.
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    pub ip: IpAddr,
    #[serde(serialize_with = "display")]
    pub mac: MacAddr,
    #[serde(serialize_with = "display")]
    pub other_mac: MacAddr,
    /// Where `other_mac` was seen: `wire` (a second reply) or `cache`.
    pub seen: &'static str,
}

/// How a command ended: the `result` event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The TCP port answered SYN-ACK (a scan: some port did).
    Open,
    /// The TCP port answered RST (a scan: none open, some closed).
    Closed,
    /// Silence or ICMP for every port of a scan.
    Filtered,
    /// ICMP destination unreachable.
    Unreachable,
    /// The ARP target, the probes or an ICMP trace's echoes were answered.
    Answered,
    /// Nobody answered.
    NoReply,
    /// The next hop did not answer ARP.
    NoArp,
    /// Two MACs claim the address (or a TCP command's next hop), or DAD
    /// found it in use.
    Conflict,
    /// DAD: nobody claims the address.
    Free,
    /// The peer reset a connection being closed.
    Reset,
    /// A close did not complete in time.
    Timeout,
    /// Nothing to learn from the network, and it went as asked.
    #[default]
    Done,
    /// Stopped by SIGINT or SIGTERM.
    Interrupted,
}

/// The `result` event. `outcome` and `exit` always; the rest as it applies.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub outcome: Verdict,
    /// The exit code nettool exits with.
    pub exit: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "display_opt"
    )]
    pub mac: Option<MacAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iface: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addresses: Option<usize>,
    /// probe and scan with several targets: the last result, over all of
    /// them (`answered`: targets that answered; `open`: targets with an
    /// open port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<usize>,
    /// probe and scan over subnets: addresses host discovery left out
    /// (nobody answered ARP there), counted in `targets`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down: Option<usize>,
    /// Frames, probes or SYNs sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<u64>,
    /// Answers received (a sweep: hosts that answered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss_pct: Option<f64>,
    /// One round trip (handshake: SYN to its answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_min_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_avg_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_max_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_stddev_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmatched: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resets_sent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub malformed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<u64>,
    /// Payload bytes received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<u64>,
    /// Scan: ports asked for, ports with an answer, and their split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scanned: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filtered: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_peak: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_final: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drops: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_cuts: Option<u64>,
    /// Trace: hops to the destination or to the unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hops: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub what: Option<String>,
    /// ARP cache entries removed (`arp --flush`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flushed: Option<usize>,
    /// Kernel RSTs for nettool's flows that the guard dropped at the
    /// output hook (with `guard_ingress`, only those for frames that
    /// reached the kernel another way: normally none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rsts_dropped: Option<u64>,
    /// `load`'s tally.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadResult>,
}

impl Report {
    /// A result with `outcome` and the exit code of `how` (an interrupted
    /// run says so, whatever it had found).
    pub fn new(outcome: Verdict, how: Outcome) -> Report {
        Report {
            outcome: if how == Outcome::Interrupted {
                Verdict::Interrupted
            } else {
                outcome
            },
            exit: how.exit_code(),
            ..Report::default()
        }
    }
}

/// Integer microseconds, the unit of every `*_us` field.
pub fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
