//! The connection: its TCB, the user calls (OPEN, SEND, RECEIVE, CLOSE,
//! ABORT, STATUS of RFC 9293 §3.10.1–3.10.6), the timeouts (§3.10.8) and
//! the outputs. SEGMENT ARRIVES (§3.10.7) lives in `input.rs`.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::time::Instant;
use crate::wire::MacAddr;
use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
use crate::wire::ipv6::{Ipv6Repr, NextHeader};
use crate::wire::tcp::{ChecksumFill, Flags, TcpOption, TcpRepr};

use super::cc::{Congestion, CongestionControl};
use super::challenge::ChallengeLimit;
use super::ends::Ends;
use super::flight::Flight;
use super::isn::IsnGenerator;
use super::rack::Rack;
use super::rcvbuf::RecvBuffer;
use super::rtt::{RtoConfig, RttEstimator};
use super::seq::SeqNum;
use super::state::State;
use super::timer::{TimerKind, TimerTable};

/// RFC 9293 §3.7.1: the send MSS to assume when the peer sends no MSS option.
pub const DEFAULT_SEND_MSS: u16 = 536;

/// Largest window shift RFC 7323 §2.3 allows; larger offers are clamped.
pub const MAX_WSCALE: u8 = 14;

/// Knobs of one connection. `Default` mirrors a Linux host closely enough
/// that a kernel peer sees nothing unusual.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// MSS we advertise (what we can receive), capped at the MTU less the
    /// IP and TCP headers.
    pub mss: u16,
    /// Link MTU; with the peer's MSS it bounds Eff.snd.MSS (§3.7.1).
    /// The IP header's share of it (20 bytes over IPv4, 40 over IPv6)
    /// follows from the connection's addresses.
    pub mtu: usize,
    /// Window scale shift we offer (RFC 7323), `None` to offer none.
    pub window_scale: Option<u8>,
    /// Offer SACK-permitted (RFC 2018). When both ends agree, SACK blocks
    /// report out-of-order data and received blocks drive RFC 6675 loss
    /// recovery.
    pub sack_permitted: bool,
    /// Offer timestamps (RFC 7323 §3): RTT measurement (RTTM, §4) and
    /// PAWS (§5) when both ends agree.
    pub timestamps: bool,
    /// Receive buffer (RCV.BUFF): in-order data not yet read plus
    /// out-of-order data held for reassembly. RCV.WND is its free space.
    /// The default, 4 MiB, keeps a 1 ms path at 30 Gbit/s busy (with the
    /// default window scale of 7 it is advertised as 32768 << 7).
    pub recv_buffer: usize,
    /// Send buffer: bytes `send` accepts that are not yet acknowledged.
    pub send_buffer: usize,
    /// Delayed ACK (RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2): an in-order
    /// segment is acknowledged at the latest after this long, and at the
    /// latest with the second segment. `None`: every segment is
    /// acknowledged at once.
    pub delayed_ack: Option<Duration>,
    /// Keepalive (RFC 1122 §4.2.3.6); `None` (the default, as the RFC
    /// requires) sends none.
    pub keepalive: Option<Keepalive>,
    /// RTO bounds (RFC 6298).
    pub rto: RtoConfig,
    /// Retransmissions of a SYN or SYN-ACK before giving up (Linux
    /// `tcp_syn_retries`, 6: the last try at 63 s; with the 60 s RTO cap,
    /// failure at 123 s).
    pub syn_retries: u32,
    /// Retransmissions of data or FIN before giving up (RFC 1122 R2;
    /// Linux `tcp_retries2`).
    pub retries: u32,
    /// Maximum segment lifetime; TIME-WAIT lasts 2×MSL. RFC 9293 suggests
    /// 2 minutes; the default of 30 s matches Linux's 60 s TIME-WAIT.
    pub msl: Duration,
    /// USER TIMEOUT (§3.10.8): give up when no acknowledgment makes
    /// progress for this long while something is outstanding.
    pub user_timeout: Option<Duration>,
    /// Added to the timestamp clock (RFC 7323 §5.4 recommends a random
    /// offset per connection, so TSval reveals no host uptime and does not
    /// start at zero). The caller picks it; the engine has no randomness.
    pub ts_offset: u32,
    /// Congestion avoidance: CUBIC (RFC 9438, the default, as in Linux)
    /// or Reno (RFC 5681). Both leave slow start with HyStart++.
    pub cc: CongestionControl,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mss: 1460,
            mtu: 1500,
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: true,
            recv_buffer: 4 * 1024 * 1024,
            send_buffer: 4 * 1024 * 1024,
            delayed_ack: Some(Duration::from_millis(40)),
            keepalive: None,
            rto: RtoConfig::default(),
            syn_retries: 6,
            retries: 15,
            msl: Duration::from_secs(30),
            user_timeout: None,
            ts_offset: 0,
            cc: CongestionControl::Cubic,
        }
    }
}

/// Keepalive knobs (RFC 1122 §4.2.3.6). `Default` is Linux's: probe after
/// two hours of silence, every 75 s, give up after 9 unanswered probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Silence (nothing received, nothing outstanding) before the first
    /// probe; RFC 1122 requires the default to be at least two hours.
    pub idle: Duration,
    /// Between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes before the connection ends with
    /// [`Reason::TimedOut`].
    pub probes: u32,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            idle: Duration::from_secs(7200),
            interval: Duration::from_secs(75),
            probes: 9,
        }
    }
}

/// How a passive OPEN picks its ISS when the SYN arrives (§3.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssSource {
    /// A number chosen by the caller (tests, the simulator).
    Fixed(SeqNum),
    /// RFC 6528, from the SYN's 4-tuple and arrival time.
    Generated(IsnGenerator),
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Both FINs exchanged and acknowledged (or TIME-WAIT expired), or the
    /// user closed before anything was synchronized.
    Normal,
    /// The peer sent an acceptable RST ("connection reset", or "connection
    /// refused" in SYN-SENT).
    Reset,
    /// Retransmissions exhausted, or the user timeout expired.
    TimedOut,
    /// The user called `abort`.
    Aborted,
}

/// Why a segment was dropped. Every drop is reported, so a trace explains
/// every segment the engine ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Ports (or address) are not this connection's.
    NotForUs,
    /// The connection is CLOSED (a RST went back unless it was a RST).
    NoConnection,
    /// A segment this state has no use for (LISTEN without SYN, SYN-SENT
    /// with neither SYN nor RST, …).
    Unexpected,
    /// SYN-SENT or SYN-RECEIVED: the ACK does not acknowledge our SYN (a
    /// RST went back).
    BadAck,
    /// §3.10.7.4 first step: outside the receive window (ACKed unless RST).
    OutOfWindow,
    /// A retransmission of something already processed, answered rather
    /// than merely dropped: the peer's FIN again in TIME-WAIT (re-ACKed,
    /// 2×MSL restarted) or its SYN again in SYN-RECEIVED (SYN,ACK resent).
    Retransmission,
    /// RFC 5961 §3: RST in the window but not at RCV.NXT (challenge ACK).
    RstNotExact,
    /// RFC 5961 §4: SYN in a synchronized state (challenge ACK).
    SynInWindow,
    /// RFC 5961 §5, or an ACK of data never sent (ACK sent back).
    AckOutOfRange,
    /// §3.10.7.4 fifth step: no ACK bit.
    NoAck,
    /// Data after a gap that the reassembly queue could not take: it
    /// already holds its maximum number of separate ranges (the sender
    /// retransmits it). Data it does take is no drop: see
    /// [`Event::OutOfOrderQueued`].
    ReassemblyFull,
}

/// What happened, for the application and for traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    StateChanged {
        from: State,
        to: State,
    },
    /// The handshake completed (entering ESTABLISHED).
    Connected,
    /// The peer's FIN arrived in order: no more data will come.
    PeerClosed,
    /// The connection reached CLOSED.
    Closed(Reason),
    SegmentDropped {
        reason: DropReason,
    },
    /// Data after a gap was kept in the reassembly queue (as far as the
    /// receive buffer allows) and acknowledged at once, with SACK blocks
    /// when negotiated; it is delivered when the gap fills. `held`: the
    /// octets the queue holds now.
    OutOfOrderQueued {
        held: usize,
    },
}

/// Why `send` refused data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("connection not open")]
    NotConnected,
    #[error("connection closing")]
    Closing,
}

/// Why `recv` has nothing and never will.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// The peer closed its side and every byte has been read.
    #[error("end of stream")]
    Finished,
    /// The connection is closed (reset, timed out, aborted).
    #[error("connection closed")]
    Closed,
}

/// The unspecified address and port 0 of `addr`'s family: the peer of a
/// connection still LISTENing.
fn unspecified_like(addr: SocketAddr) -> SocketAddr {
    let ip = match addr {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

/// An outgoing segment, owned, with both endpoints' addresses, ready for
/// the driver to frame ([`Segment::to_frame`]) or for tests to inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: SeqNum,
    pub ack: Option<SeqNum>,
    pub flags: Flags,
    pub window: u16,
    pub options: Vec<TcpOption>,
    pub payload: Vec<u8>,
}

impl Segment {
    /// An owned copy of a parsed segment, with the addresses it came
    /// between.
    pub fn from_repr(src: impl Into<IpAddr>, dst: impl Into<IpAddr>, tcp: &TcpRepr<'_>) -> Segment {
        Segment {
            src: SocketAddr::new(src.into(), tcp.src_port),
            dst: SocketAddr::new(dst.into(), tcp.dst_port),
            seq: tcp.seq,
            ack: tcp.ack,
            flags: tcp.flags,
            window: tcp.window,
            options: tcp.options.clone(),
            payload: tcp.payload.to_vec(),
        }
    }

    /// The segment as a [`TcpRepr`] borrowing the payload.
    pub fn as_repr(&self) -> TcpRepr<'_> {
        TcpRepr {
            src_port: self.src.port(),
            dst_port: self.dst.port(),
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            urgent: 0,
            options: self.options.clone(),
            payload: &self.payload,
        }
    }

    /// SEG.LEN (SYN and FIN count one).
    pub fn len(&self) -> usize {
        self.as_repr().segment_len()
    }

    /// Whether the segment occupies no sequence space (a pure ACK or RST).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The IPv4 header for this segment (TTL 64, DF). Panics for a
    /// segment between IPv6 addresses.
    pub fn ipv4(&self) -> Ipv4Repr {
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (self.src.ip(), self.dst.ip()) else {
            panic!("an IPv6 segment has no IPv4 header");
        };
        Ipv4Repr::new(src, dst, IpProtocol::Tcp, 0)
    }

    /// The IPv6 header for this segment (hop limit 64, class and flow
    /// label 0). Panics for a segment between IPv4 addresses.
    pub fn ipv6(&self) -> Ipv6Repr {
        let (IpAddr::V6(src), IpAddr::V6(dst)) = (self.src.ip(), self.dst.ip()) else {
            panic!("an IPv4 segment has no IPv6 header");
        };
        Ipv6Repr::new(src, dst, NextHeader::Tcp, 64, 0)
    }

    /// The serialized IPv4 datagram, checksums filled (see [`Segment::ipv4`]).
    pub fn to_ipv4_packet(&self) -> Vec<u8> {
        self.as_repr().to_ipv4_packet(&self.ipv4())
    }

    /// The whole Ethernet frame, checksums filled, over IPv4 or IPv6 as
    /// the addresses are.
    pub fn to_frame(&self, src_mac: MacAddr, dst_mac: MacAddr) -> Vec<u8> {
        self.to_frame_with(src_mac, dst_mac, ChecksumFill::Complete)
    }

    /// [`Segment::to_frame`], the TCP checksum filled as `fill` says.
    pub fn to_frame_with(&self, src_mac: MacAddr, dst_mac: MacAddr, fill: ChecksumFill) -> Vec<u8> {
        let repr = self.as_repr();
        match self.src {
            SocketAddr::V4(_) => repr.to_frame_with(src_mac, dst_mac, &self.ipv4(), fill),
            SocketAddr::V6(_) => repr.to_ipv6_frame_with(src_mac, dst_mac, &self.ipv6(), fill),
        }
    }
}

/// RFC 9293 §3.5.2 "Reset Generation" for a segment that belongs to no
/// connection (or arrives at a CLOSED one). `from` and `to` are the
/// addresses of the segment being answered (its source and destination);
/// the RST goes the other way:
///
/// - a RST is never answered;
/// - with ACK: `<SEQ=SEG.ACK><CTL=RST>`;
/// - without: `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`.
///
/// A host stack calls this for segments to ports nobody listens on.
pub fn rst_for(
    from: impl Into<IpAddr>,
    to: impl Into<IpAddr>,
    seg: &TcpRepr<'_>,
) -> Option<Segment> {
    if seg.flags.contains(Flags::RST) {
        return None;
    }
    let (seq, ack) = match seg.ack {
        Some(ack) => (ack, None),
        None => (SeqNum(0), Some(seg.seq + seg.segment_len())),
    };
    Some(Segment {
        src: SocketAddr::new(to.into(), seg.dst_port),
        dst: SocketAddr::new(from.into(), seg.src_port),
        seq,
        ack,
        flags: Flags::RST,
        window: 0,
        options: Vec::new(),
        payload: Vec::new(),
    })
}

/// What a connection has for its caller: segments built while handling
/// input (RSTs, ACKs owed at once), sent before anything else, and events
/// not yet polled. Boxed, and only while either holds something: an idle
/// connection (a load test holds a million) carries one pointer.
#[derive(Debug, Clone, Default)]
pub(super) struct Outbox(Option<Box<Queues>>);

#[derive(Debug, Clone)]
pub(super) struct Queues {
    pub(super) queued: VecDeque<Segment>,
    pub(super) events: VecDeque<Event>,
}

/// What an `Outbox` without a box reads as.
static NO_QUEUES: Queues = Queues {
    queued: VecDeque::new(),
    events: VecDeque::new(),
};

impl Outbox {
    fn release_if_empty(&mut self) {
        if self
            .0
            .as_ref()
            .is_some_and(|q| q.queued.is_empty() && q.events.is_empty())
        {
            self.0 = None;
        }
    }
}

impl std::ops::Deref for Outbox {
    type Target = Queues;
    fn deref(&self) -> &Queues {
        self.0.as_deref().unwrap_or(&NO_QUEUES)
    }
}

impl std::ops::DerefMut for Outbox {
    fn deref_mut(&mut self) -> &mut Queues {
        self.0.get_or_insert_with(|| {
            Box::new(Queues {
                queued: VecDeque::new(),
                events: VecDeque::new(),
            })
        })
    }
}

/// Send sequence variables (§3.3.1, figure 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendSequence {
    /// SND.UNA: oldest unacknowledged sequence number.
    pub una: SeqNum,
    /// SND.NXT: next sequence number to send. It goes back to SND.UNA on
    /// a retransmission timeout (go-back-N).
    pub nxt: SeqNum,
    /// SND.WND: the peer's window, scaled.
    pub wnd: usize,
    /// SND.WL1: SEG.SEQ of the segment last used to update SND.WND.
    pub wl1: SeqNum,
    /// SND.WL2: SEG.ACK of the segment last used to update SND.WND.
    pub wl2: SeqNum,
    /// ISS.
    pub iss: SeqNum,
    /// Snd.Wind.Shift (RFC 7323): how far to shift a received SEG.WND.
    pub wscale: u8,
}

/// Receive sequence variables (§3.3.1, figure 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecvSequence {
    /// RCV.NXT: next sequence number expected.
    pub nxt: SeqNum,
    /// RCV.WND: free space in the receive buffer.
    pub wnd: usize,
    /// IRS.
    pub irs: SeqNum,
    /// Rcv.Wind.Shift (RFC 7323): how far we shift our advertised window.
    pub wscale: u8,
}

/// The transmission control block's sequence state (STATUS, §3.10.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tcb {
    pub snd: SendSequence,
    pub rcv: RecvSequence,
    /// Eff.snd.MSS (§3.7.1): largest payload per segment, options included.
    pub eff_snd_mss: usize,
}

/// What the two ends agreed on in the SYN exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Negotiated {
    pub(super) wscale: Option<u8>,
    pub(super) sack: bool,
    pub(super) timestamps: bool,
    pub(super) peer_mss: u16,
}

/// One TCP connection, sans-IO (quinn-proto's shape).
///
/// - **Inputs:** [`handle_segment`](Self::handle_segment) for every segment
///   of this 4-tuple (SEGMENT ARRIVES, §3.10.7) and
///   [`handle_timeout`](Self::handle_timeout) when
///   [`poll_timeout`](Self::poll_timeout) has passed (§3.10.8).
/// - **User calls:** [`connect`](Self::connect)/[`listen`](Self::listen)
///   (OPEN), [`send`](Self::send), [`recv`](Self::recv) (RECEIVE),
///   [`close`](Self::close), [`abort`](Self::abort), and
///   [`state`](Self::state)/[`tcb`](Self::tcb) (STATUS).
/// - **Outputs:** after any input or call, drain
///   [`poll_transmit`](Self::poll_transmit) until `None`, then read
///   [`poll_timeout`](Self::poll_timeout), then drain
///   [`poll_event`](Self::poll_event).
///
/// `now` must never go backwards between calls. The connection never
/// reads a clock and never draws a random number.
#[derive(Debug)]
#[cfg_attr(any(test, feature = "testkit"), derive(Clone))]
pub struct Connection {
    /// Shared by every connection opened with the same configuration (an
    /// `Arc`: a million connections of a load test hold one copy).
    pub(super) config: Arc<Config>,
    /// [`Config::ts_offset`], kept apart since it differs per connection.
    pub(super) ts_offset: u32,
    /// The path's MTU, when an ICMP error said it is below the link's
    /// ([`Connection::lower_path_mtu`]); 0 until then.
    pub(super) path_mtu: u32,
    pub(super) state: State,
    /// Both addresses (the remote one unspecified while LISTENing).
    pub(super) ends: Ends,
    pub(super) tcb: Tcb,
    /// Highest sequence number sent so far (BSD's `snd_max`): SND.NXT goes
    /// back on a timeout, but ACKs for what was sent before stay valid.
    pub(super) snd_max: SeqNum,
    /// MAX.SND.WND of RFC 5961 §5: the largest window the peer offered.
    pub(super) max_snd_wnd: usize,
    /// Bytes from the first unacknowledged data byte onward.
    pub(super) snd_buf: VecDeque<u8>,
    /// Sequence number of our FIN, once CLOSE has been called.
    pub(super) fin_seq: Option<SeqNum>,
    /// RCV.BUFF: in-order and out-of-order received data.
    pub(super) rcv: RecvBuffer,
    /// Stream offset of the peer's FIN when it arrived ahead of RCV.NXT.
    pub(super) rcv_fin: Option<u64>,
    /// Stream offset of the right edge last advertised (RCV.NXT+RCV.WND
    /// as the peer knows it); it never moves left.
    pub(super) rcv_adv: u64,
    /// In-order data segments received and not yet acknowledged.
    pub(super) delack_segs: u32,
    /// One of them was shorter than a full segment: the end of a burst,
    /// after which the sender may wait for this ACK with nothing else to
    /// send.
    pub(super) ack_pushed: bool,
    /// The largest in-order payload received so far (see
    /// [`Connection::rcv_mss`]).
    pub(super) rcv_mss_seen: usize,
    /// Last.ACK.sent of RFC 7323 §4.3.
    pub(super) last_ack_sent: SeqNum,
    pub(super) fin_received: bool,
    pub(super) passive: bool,
    pub(super) iss_source: IssSource,
    pub(super) negotiated: Negotiated,
    /// TS.Recent (RFC 7323 §4.3): the TSval to echo.
    pub(super) ts_recent: u32,
    pub(super) rtt: RttEstimator,
    /// The one segment being timed: (sequence number that acknowledges
    /// it, time sent). Cleared on retransmission (Karn's rule).
    pub(super) rtt_probe: Option<(SeqNum, Instant)>,
    /// Retransmissions since the last forward progress.
    pub(super) retries: u32,
    /// Keepalive probes sent since the peer was last heard from.
    pub(super) keepalive_sent: u32,
    /// Our SYN or SYN,ACK had to be retransmitted.
    pub(super) syn_retransmitted: bool,
    /// An acceptable ACK arrived since the last retransmission timeout
    /// (a peer that answers probes of its closed window is alive).
    pub(super) acked_since_rto: bool,
    /// With timestamps: SND.UNA must pass this before the next RTT sample
    /// (one sample per round trip, RFC 7323 §4.2 and RFC 6298).
    pub(super) ts_rtt_mark: SeqNum,
    /// TSval of the last retransmission by timeout, until a sample.
    pub(super) ts_rexmit: Option<u32>,
    /// Octets the next data segment may carry beyond the send window: a
    /// zero-window probe (persist timer) or the head retransmitted on a
    /// timeout into a shrunk window.
    pub(super) force_send: usize,
    /// Congestion control (RFC 5681) and loss recovery (RFC 6582, 6675).
    pub(super) cc: Congestion,
    /// Loss-recovery state, empty while nothing is in flight: boxed, and
    /// given back when idle (see [`Flight`]).
    pub(super) flight: Flight,
    /// RACK (RFC 8985 §6).
    pub(super) rack: Rack,
    /// Congestion events undone as spurious.
    pub(super) undos: u32,
    /// Retransmission timeouts that resent something.
    pub(super) timeouts: u32,
    /// Tail loss probes sent.
    pub(super) probes: u32,
    pub(super) timers: TimerTable,
    /// An ACK (or challenge ACK) is owed.
    pub(super) ack_pending: bool,
    /// RFC 5961 §7: when the last challenge ACK went out.
    pub(super) challenge: ChallengeLimit,
    /// Segments built while handling input (RSTs) and events not yet
    /// polled: boxed, and only while there are some (see [`Outbox`]).
    pub(super) out: Outbox,
}

impl Connection {
    fn new(config: Arc<Config>, local: SocketAddr, remote: SocketAddr, iss: IssSource) -> Self {
        let offer = Negotiated {
            wscale: config.window_scale.map(|w| w.min(MAX_WSCALE)),
            sack: config.sack_permitted,
            timestamps: config.timestamps,
            peer_mss: DEFAULT_SEND_MSS,
        };
        let mut conn = Connection {
            ts_offset: config.ts_offset,
            path_mtu: 0,
            rcv: RecvBuffer::new(config.recv_buffer),
            rtt: RttEstimator::new(config.rto),
            cc: Congestion::new(config.cc),
            config,
            state: State::Closed,
            ends: Ends::new(local, remote),
            tcb: Tcb::default(),
            snd_max: SeqNum(0),
            max_snd_wnd: 0,
            snd_buf: VecDeque::new(),
            fin_seq: None,
            rcv_fin: None,
            rcv_adv: 0,
            delack_segs: 0,
            ack_pushed: false,
            rcv_mss_seen: 0,
            last_ack_sent: SeqNum(0),
            fin_received: false,
            passive: false,
            iss_source: iss,
            negotiated: offer,
            ts_recent: 0,
            rtt_probe: None,
            retries: 0,
            keepalive_sent: 0,
            syn_retransmitted: false,
            acked_since_rto: false,
            ts_rtt_mark: SeqNum(0),
            ts_rexmit: None,
            force_send: 0,
            flight: Flight::default(),
            rack: Rack::new(),
            undos: 0,
            timeouts: 0,
            probes: 0,
            timers: TimerTable::default(),
            ack_pending: false,
            challenge: ChallengeLimit::default(),
            out: Outbox::default(),
        };
        conn.tcb.rcv.wnd = conn.rcv.window();
        conn.update_eff_snd_mss();
        conn
    }

    /// Active OPEN (§3.10.1): the first `poll_transmit` yields the SYN.
    pub fn connect(
        now: Instant,
        config: impl Into<Arc<Config>>,
        local: impl Into<SocketAddr>,
        remote: impl Into<SocketAddr>,
        iss: SeqNum,
    ) -> Connection {
        let (local, remote) = (local.into(), remote.into());
        assert_eq!(
            local.is_ipv4(),
            remote.is_ipv4(),
            "a connection between two address families"
        );
        let mut conn = Connection::new(config.into(), local, remote, IssSource::Fixed(iss));
        conn.set_iss(iss);
        conn.arm_user_timer(now);
        conn.set_state(State::SynSent);
        conn
    }

    /// Passive OPEN (§3.10.1) on `local`, accepting one SYN from anyone.
    pub fn listen(
        config: impl Into<Arc<Config>>,
        local: impl Into<SocketAddr>,
        iss: IssSource,
    ) -> Connection {
        let local = local.into();
        let remote = unspecified_like(local);
        let mut conn = Connection::new(config.into(), local, remote, iss);
        conn.passive = true;
        conn.set_state(State::Listen);
        conn
    }

    /// SYN-RECEIVED of a passive OPEN, reset (§3.10.7.4: "return this
    /// connection to LISTEN state"): the passive OPEN again, with nothing
    /// of the failed handshake left (the peer, the options it did or did
    /// not offer, its window, the backed-off RTO, the user's data and
    /// FIN, whose sequence numbers came from the ISS of that handshake).
    /// A CLOSE issued in SYN-RECEIVED still holds, and CLOSE in LISTEN
    /// deletes the TCB: CLOSED.
    pub(super) fn return_to_listen(&mut self) {
        let closed = self.fin_seq.is_some();
        let from = self.state;
        let out = std::mem::take(&mut self.out);
        let local = self.ends.local();
        let remote = unspecified_like(local);
        let (config, ts_offset) = (self.config.clone(), self.ts_offset);
        *self = Connection::new(config, local, remote, self.iss_source);
        self.ts_offset = ts_offset;
        self.out = out;
        // The segments built for the failed handshake go with it.
        if self.out.0.is_some() {
            self.out.queued.clear();
            self.out.release_if_empty();
        }
        self.passive = true;
        self.state = from;
        self.set_state(State::Listen);
        if closed {
            self.enter_closed(Reason::Reset);
        }
    }

    pub(super) fn set_iss(&mut self, iss: SeqNum) {
        self.tcb.snd.iss = iss;
        self.tcb.snd.una = iss;
        self.tcb.snd.nxt = iss;
        self.snd_max = iss;
        self.ts_rtt_mark = iss;
    }

    // ----- STATUS -----

    pub fn state(&self) -> State {
        self.state
    }

    pub fn tcb(&self) -> &Tcb {
        &self.tcb
    }

    pub fn local(&self) -> SocketAddr {
        self.ends.local()
    }

    /// The peer (unspecified while LISTENing).
    pub fn remote(&self) -> SocketAddr {
        self.ends.remote()
    }

    /// The MTU segments are cut for: the link's, or the path's once an
    /// ICMP error has lowered it.
    pub fn mtu(&self) -> usize {
        match self.path_mtu {
            0 => self.config.mtu,
            pmtu => self.config.mtu.min(pmtu as usize),
        }
    }

    /// Path MTU discovery (RFC 1191, RFC 8201 §4): a router said the path
    /// carries at most `mtu` bytes. Eff.snd.MSS shrinks to fit (a larger
    /// MTU than the one in use is ignored: MTUs are only raised by a new
    /// connection); what was in flight in larger segments was dropped by
    /// that router, and goes again at once, cut to the new size
    /// (`Connection::resend_too_big`).
    pub fn lower_path_mtu(&mut self, _now: Instant, mtu: usize) {
        if mtu >= self.mtu() {
            return;
        }
        self.path_mtu = u32::try_from(mtu).unwrap_or(u32::MAX);
        self.update_eff_snd_mss();
        self.resend_too_big();
    }

    /// After the path MTU fell: the outstanding segments larger than the
    /// new Eff.snd.MSS never arrived (the router that said so dropped
    /// them), so they are resent with the next `poll_transmit`, re-cut,
    /// instead of after the RTO or loss recovery. The path did not
    /// congest: cwnd and ssthresh stay, no backoff, no retry counted (as
    /// Linux's "simple retransmit" after an ICMP too-big). With SACK the
    /// too-big pieces are marked lost and resent first; without it the
    /// sender goes back to the first of them. `recover` moves to SND.MAX
    /// (RFC 6582 §3.2 step 1), so the holes these resends fill start no
    /// fast recovery and no window reduction of their own.
    fn resend_too_big(&mut self) {
        if !self.state.is_synchronized() || self.tcb.snd.una == self.snd_max {
            return;
        }
        let mss = self.tcb.eff_snd_mss;
        let Some(first) = self.flight.sent.first_larger_than(mss) else {
            return;
        };
        if self.negotiated.sack && self.tcb.snd.nxt == self.snd_max {
            self.flight.sent.mark_lost_larger_than(mss);
        } else if first.lt(self.tcb.snd.nxt) {
            // Go back N from the first segment that was too big (after a
            // timeout the sender is going back already, from SND.UNA).
            self.tcb.snd.nxt = first;
        }
        if self.cc.recovery.is_none() {
            self.cc.recover = self.snd_max;
        }
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// Bytes accepted by `send` and not yet acknowledged.
    pub fn send_queue_len(&self) -> usize {
        self.snd_buf.len()
    }

    /// Bytes received in order and not yet read.
    pub fn recv_queue_len(&self) -> usize {
        self.rcv.readable()
    }

    /// Octets received out of order, held until the gap before them fills.
    pub fn reassembly_len(&self) -> usize {
        self.rcv.out_of_order_len()
    }

    /// The congestion window (RFC 5681 cwnd), in octets.
    pub fn cwnd(&self) -> usize {
        self.cc.cwnd
    }

    /// The slow start threshold (RFC 5681 ssthresh), in octets.
    pub fn ssthresh(&self) -> usize {
        self.cc.ssthresh
    }

    /// The congestion avoidance algorithm in use ([`Config::cc`]).
    pub fn congestion_control(&self) -> CongestionControl {
        self.cc.algorithm()
    }

    /// Whether fast recovery (RFC 6582 or RFC 6675) is under way.
    pub fn in_recovery(&self) -> bool {
        self.cc.recovery.is_some()
    }

    /// Congestion events (fast recoveries, timeouts) found spurious and
    /// undone (RFC 3522, RFC 3708).
    pub fn spurious_undos(&self) -> u32 {
        self.undos
    }

    /// Challenge ACKs (RFC 5961) not sent because one went out less than
    /// [`CHALLENGE_ACK_INTERVAL`](super::CHALLENGE_ACK_INTERVAL) before.
    pub fn challenge_acks_suppressed(&self) -> u64 {
        self.challenge.suppressed()
    }

    /// Retransmission timeouts so far (each one that resent something).
    pub fn timeouts(&self) -> u32 {
        self.timeouts
    }

    /// Tail loss probes (RFC 8985 §7) sent so far.
    pub fn loss_probes(&self) -> u32 {
        self.probes
    }

    /// The SACKed ranges the peer reported above SND.UNA.
    pub fn sacked_ranges(&self) -> &[(SeqNum, SeqNum)] {
        self.flight.scoreboard.ranges()
    }

    /// The RTT estimator (SRTT, RTTVAR, RTO of RFC 6298).
    pub fn rtt(&self) -> &RttEstimator {
        &self.rtt
    }

    // ----- SEND, RECEIVE, CLOSE, ABORT -----

    /// SEND (§3.10.2): queues as much of `data` as the send buffer holds
    /// and returns how much that was. Allowed before the handshake ends
    /// (the data waits for ESTABLISHED) and in CLOSE-WAIT.
    pub fn send(&mut self, data: &[u8]) -> Result<usize, SendError> {
        match self.state {
            State::SynSent | State::SynReceived | State::Established | State::CloseWait => {}
            State::Closed | State::Listen => return Err(SendError::NotConnected),
            _ => return Err(SendError::Closing),
        }
        if self.fin_seq.is_some() {
            return Err(SendError::Closing);
        }
        let n = data
            .len()
            .min(self.config.send_buffer.saturating_sub(self.snd_buf.len()));
        self.snd_buf.extend(&data[..n]);
        Ok(n)
    }

    /// RECEIVE (§3.10.3): copies in-order data into `buf`. `Ok(0)` means
    /// nothing yet; [`RecvError::Finished`] that the peer closed and all
    /// has been read.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        if self.rcv.readable() == 0 {
            if self.fin_received {
                return Err(RecvError::Finished);
            }
            if self.state == State::Closed {
                return Err(RecvError::Closed);
            }
            return Ok(0);
        }
        let n = self.rcv.read(buf);
        self.after_read();
        Ok(n)
    }

    /// RECEIVE without a copy: the in-order data not read yet, in place
    /// (two slices where it wraps around the receive buffer), for the
    /// application to write out and then [`Connection::recv_consume`]
    /// what it used. Empty slices mean nothing yet;
    /// [`RecvError::Finished`] that the peer closed and all has been read.
    pub fn recv_peek(&self) -> Result<(&[u8], &[u8]), RecvError> {
        if self.rcv.readable() == 0 {
            if self.fin_received {
                return Err(RecvError::Finished);
            }
            if self.state == State::Closed {
                return Err(RecvError::Closed);
            }
        }
        Ok(self.rcv.peek())
    }

    /// Marks `n` octets of what [`Connection::recv_peek`] showed as read,
    /// as [`Connection::recv`] would have.
    pub fn recv_consume(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.rcv.consume(n);
        self.after_read();
    }

    /// What reading changes: the window, and whether to say so now.
    fn after_read(&mut self) {
        self.tcb.rcv.wnd = self.rcv.window();
        // The application has read everything up to a burst's short last
        // segment: acknowledge now rather than at the delayed-ACK timer.
        // The sender has nothing more in flight to draw an ACK, and would
        // otherwise sit idle, or resend its tail on a loss-probe timer
        // (RFC 8985's PTO, often shorter than our delay), until the timer
        // fires. Linux does the same when a read empties its queue.
        if self.ack_pushed && self.delack_segs > 0 && self.rcv.readable() == 0 {
            self.ack_pending = true;
        }
        // Window update (RFC 9293 §3.8.6.2.2 with RFC 1122 §4.2.3.3): when
        // reading reopens a window the peer believes (nearly) closed, say
        // so at once rather than wait for the next ACK. "Nearly closed" is
        // at most half the buffer, and the reopening must at least double
        // it and pass the receiver SWS threshold, so a bulk reader does
        // not trigger an update per `recv`.
        if self.state.is_synchronized() && !self.fin_received {
            let offered = self.rcv_adv.saturating_sub(self.rcv.nxt()) as usize;
            let now_offer = self.window_to_offer();
            if offered <= self.rcv.capacity() / 2
                && now_offer >= 2 * offered.max(1)
                && now_offer - offered >= self.rcv_sws_threshold()
            {
                self.ack_pending = true;
            }
        }
    }

    /// CLOSE (§3.10.4): "I have no more data to send." Queues a FIN after
    /// the data already queued (half-close, §3.6.1: data from the peer is
    /// still received until its FIN). In LISTEN or SYN-SENT the connection
    /// simply goes away; in SYN-RECEIVED the FIN waits for ESTABLISHED.
    /// Calling it again, or after the FIN, does nothing.
    pub fn close(&mut self, now: Instant) {
        let _ = now;
        match self.state {
            State::Listen | State::SynSent => self.enter_closed(Reason::Normal),
            State::SynReceived => self.queue_fin(),
            State::Established => {
                self.queue_fin();
                self.set_state(State::FinWait1);
            }
            State::CloseWait => {
                self.queue_fin();
                self.set_state(State::LastAck);
            }
            _ => {}
        }
    }

    fn queue_fin(&mut self) {
        if self.fin_seq.is_none() {
            self.fin_seq = Some(self.snd_buf_seq() + self.snd_buf.len());
        }
    }

    /// ABORT (§3.10.5): in a state where the peer holds a TCB, send
    /// `<SEQ=SND.NXT><CTL=RST>`; in every state, go to CLOSED.
    pub fn abort(&mut self, now: Instant) {
        let _ = now;
        match self.state {
            State::Closed => return,
            State::SynReceived
            | State::Established
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait => {
                let rst = self.segment(self.tcb.snd.nxt, Flags::RST, false, Vec::new());
                self.out.queued.push_back(rst);
            }
            _ => {}
        }
        self.enter_closed(Reason::Aborted);
    }

    // ----- timeouts -----

    /// Fires every expired timer (§3.10.8).
    pub fn handle_timeout(&mut self, now: Instant) {
        // The probe first: a PTO due with the RTO replaces it (RFC 8985
        // §7.2 caps the PTO at the RTO's expiry) and re-arms it.
        if self.timers.is_expired(TimerKind::LossProbe, now) {
            self.timers.stop(TimerKind::LossProbe);
            self.send_loss_probe(now);
        }
        if self.timers.is_expired(TimerKind::Reorder, now) {
            self.timers.stop(TimerKind::Reorder);
            self.on_reorder_timeout(now);
        }
        if self.timers.is_expired(TimerKind::Retransmission, now) {
            self.on_retransmission_timeout(now);
        }
        if self.timers.is_expired(TimerKind::Persist, now) {
            self.timers.stop(TimerKind::Persist);
            // RFC 9293 §3.8.6.1: probe a closed window with one octet of
            // new data. Once sent it is outstanding, and the retransmission
            // timer (with its backoff) repeats the probe.
            if self.window_closed_with_data_waiting() {
                self.force_send = 1;
                // Only an answer to this probe shows the peer is alive.
                self.acked_since_rto = false;
            }
        }
        if self.timers.is_expired(TimerKind::DelayedAck, now) {
            self.timers.stop(TimerKind::DelayedAck);
            if self.delack_segs > 0 {
                self.ack_pending = true;
            }
        }
        if self.timers.is_expired(TimerKind::TimeWait, now) {
            // TIME-WAIT TIMEOUT: "delete the TCB, enter the CLOSED state".
            self.timers.stop(TimerKind::TimeWait);
            self.enter_closed(Reason::Normal);
        }
        if self.timers.is_expired(TimerKind::User, now) {
            // USER TIMEOUT: "flush all queues, signal the user ... delete
            // the TCB, enter the CLOSED state".
            self.timers.stop(TimerKind::User);
            self.enter_closed(Reason::TimedOut);
        }
        if self.timers.is_expired(TimerKind::Keepalive, now) {
            self.timers.stop(TimerKind::Keepalive);
            self.on_keepalive_timeout(now);
        }
    }

    /// The states in which a connection can sit idle.
    fn may_idle(&self) -> bool {
        matches!(
            self.state,
            State::Established | State::CloseWait | State::FinWait2
        )
    }

    /// Keepalive probes sent since the peer was last heard from (STATUS):
    /// those still unanswered.
    pub fn keepalives_unanswered(&self) -> u32 {
        self.keepalive_sent
    }

    /// Something acceptable arrived from the peer: it is alive; the idle
    /// period starts again.
    pub(super) fn keepalive_heard(&mut self, now: Instant) {
        match self.config.keepalive {
            Some(k) if self.may_idle() => {
                self.keepalive_sent = 0;
                self.timers.set(TimerKind::Keepalive, now + k.idle);
            }
            _ => self.timers.stop(TimerKind::Keepalive),
        }
    }

    /// RFC 1122 §4.2.3.6: after the idle time, `<SEQ=SND.NXT-1><ACK=RCV.NXT>`
    /// without data, which the peer must answer with an ACK (the sequence
    /// number is just outside its window); after `probes` unanswered ones,
    /// the connection is dead. While data is outstanding the
    /// retransmission timer watches the peer instead.
    fn on_keepalive_timeout(&mut self, now: Instant) {
        let Some(k) = self.config.keepalive else {
            return;
        };
        if !self.may_idle() {
            return;
        }
        if self.tcb.snd.una != self.snd_max {
            self.timers.set(TimerKind::Keepalive, now + k.idle);
            return;
        }
        if self.keepalive_sent >= k.probes {
            self.enter_closed(Reason::TimedOut);
            return;
        }
        self.keepalive_sent += 1;
        let probe = self.segment(self.snd_max - 1usize, Flags::NONE, true, Vec::new());
        let probe = self.with_options(now, probe);
        self.queue(probe);
        self.timers.set(TimerKind::Keepalive, now + k.interval);
    }

    /// RETRANSMISSION TIMEOUT: back off (RFC 6298 §5.5), forget the RTT
    /// probe (Karn), collapse the congestion window to one segment (RFC
    /// 5681 §3.1: ssthresh = max(FlightSize / 2, 2*SMSS) on the first
    /// timeout, cwnd = loss window), leave fast recovery, forget SACK
    /// information (RFC 2018 §8: the receiver may have reneged), and go
    /// back to SND.UNA so the next `poll_transmit` resends the oldest
    /// unacknowledged segment. After too many tries the connection gives
    /// up with [`Reason::TimedOut`].
    ///
    /// A timeout while the peer's window is closed and the peer has
    /// answered since the last timeout is a zero-window probe that was
    /// answered (RFC 1122 §4.2.2.17: the connection stays open as long as
    /// probes are acknowledged); it does not count as a retry.
    fn on_retransmission_timeout(&mut self, now: Instant) {
        self.timers.stop(TimerKind::Retransmission);
        if self.tcb.snd.una == self.snd_max {
            return; // nothing outstanding; a stale timer
        }
        let limit = match self.state {
            State::SynSent | State::SynReceived => self.config.syn_retries,
            _ => self.config.retries,
        };
        let window_closed = self.send_window_end().le(self.tcb.snd.una);
        let probe_answered = window_closed && self.acked_since_rto;
        self.acked_since_rto = false;
        if probe_answered {
            self.retries = 0;
        } else {
            self.retries += 1;
            if self.retries > limit {
                self.enter_closed(Reason::TimedOut);
                return;
            }
        }
        if !self.state.is_synchronized() {
            self.syn_retransmitted = true;
        } else {
            let mss = self.tcb.eff_snd_mss;
            if self.retries <= 1 {
                self.open_undo(true);
            }
            let flight = self.snd_max - self.tcb.snd.una;
            self.cc
                .on_timeout(flight, mss, self.snd_max, self.retries <= 1);
            self.flight.scoreboard.clear();
            self.flight.sent.forget_marks();
            if window_closed {
                // Resend what was outstanding (a one-octet probe, or the
                // head of data sent before the window shrank), up to a
                // segment, beyond the closed window: its ACK carries the
                // window news.
                self.force_send = (self.snd_max - self.tcb.snd.una).min(mss);
            }
        }
        self.timeouts += 1;
        self.cc.high_rxt = self.tcb.snd.una;
        // With timestamps the next ACK of new data that echoes this
        // retransmission (or anything later) gives an unambiguous sample
        // (RFC 7323 §4.2), which ends the backoff at once. An echo of an
        // earlier copy means that copy arrived and its ACK was lost: the
        // time since measures the loss and the timeout, not the path.
        self.ts_rtt_mark = self.tcb.snd.una;
        self.ts_rexmit = Some(self.ts_val(now));
        self.rtt.back_off(&self.config.rto);
        self.rtt_probe = None;
        self.flight.tlp = None;
        self.timers.stop(TimerKind::LossProbe);
        self.timers.stop(TimerKind::Reorder);
        self.tcb.snd.nxt = self.tcb.snd.una;
        self.timers
            .set(TimerKind::Retransmission, now + self.rtt.rto());
    }

    pub(super) fn arm_user_timer(&mut self, now: Instant) {
        if let Some(t) = self.config.user_timeout {
            self.timers.set(TimerKind::User, now + t);
        }
    }

    // ----- outputs -----

    /// The next segment to send, if any. Call until `None`.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Segment> {
        let snd_max = self.snd_max;
        let Some(seg) = self.next_segment(now) else {
            // Drained: the recovery state goes if nothing is in it.
            self.flight.release_if_idle();
            return None;
        };
        if self.snd_max.gt(snd_max) {
            // New data went out (a probe's is sent from handle_timeout).
            self.schedule_loss_probe(now);
        }
        self.note_dsack_sent(&seg);
        if let Some(ack) = seg.ack
            && !seg.flags.contains(Flags::RST)
        {
            self.note_ack_sent(ack, seg.window, seg.flags.contains(Flags::SYN));
        }
        Some(seg)
    }

    /// A D-SACK is reported once (RFC 2883 §4): the segment carrying it
    /// as its first SACK block settles it, whether it leaves at once or
    /// waits in the queue ([`queue`](Self::queue)). Reported again by every ACK queued
    /// behind it, a Linux sender counts each copy as one more duplicate,
    /// soon more than it ever retransmitted, and from then on ignores
    /// every D-SACK as dubious: no undo of spurious retransmissions, no
    /// widening of its reordering window.
    fn note_dsack_sent(&mut self, seg: &Segment) {
        if let Some(d) = self.flight.dsack
            && seg
                .options
                .iter()
                .any(|o| matches!(o, TcpOption::Sack(blocks) if blocks.first() == Some(&d)))
        {
            self.flight.dsack = None;
        }
    }

    /// Bookkeeping for a segment carrying `<ACK=ack>` and `window` on its
    /// way out: whatever acknowledges everything (RCV.NXT) settles the
    /// ACK owed; Last.ACK.sent and the advertised right edge follow.
    fn note_ack_sent(&mut self, ack: SeqNum, window: u16, syn: bool) {
        if ack == self.tcb.rcv.nxt {
            self.ack_pending = false;
            self.delack_segs = 0;
            self.ack_pushed = false;
            self.timers.stop(TimerKind::DelayedAck);
        }
        if self.last_ack_sent.lt(ack) {
            self.last_ack_sent = ack;
        }
        if !syn && !self.fin_received && self.tcb.rcv.nxt.ge(ack) {
            let behind = (self.tcb.rcv.nxt - ack) as u64;
            let right = self.rcv.nxt() - behind + ((window as u64) << self.tcb.rcv.wscale);
            self.rcv_adv = self.rcv_adv.max(right);
        }
    }

    /// An ACK now, not at the next `poll_transmit`: queued in arrival
    /// order, so a batch of segments handed in before the caller polls
    /// still draws one ACK per out-of-order segment (the duplicate ACKs
    /// the sender's fast retransmit counts, RFC 5681 §4.2) and one per
    /// second in-order segment.
    pub(super) fn ack_now(&mut self, now: Instant) {
        let ack = self.segment(self.snd_max, Flags::NONE, true, Vec::new());
        let ack = self.with_options(now, ack);
        self.note_ack_sent(self.tcb.rcv.nxt, ack.window, false);
        // `note_ack_sent` runs again when it leaves; that is harmless.
        self.queue(ack);
    }

    /// Queues a segment built ahead of `poll_transmit` (an ACK owed at
    /// once, a probe). A D-SACK it carries is reported by it alone, so
    /// the segments built after it, queued behind it, leave it out.
    pub(super) fn queue(&mut self, seg: Segment) {
        self.note_dsack_sent(&seg);
        self.out.queued.push_back(seg);
    }

    fn next_segment(&mut self, now: Instant) -> Option<Segment> {
        if let Some(seg) = self.out.queued.pop_front() {
            self.out.release_if_empty();
            return Some(seg);
        }
        let seg = match self.state {
            State::SynSent | State::SynReceived if self.tcb.snd.nxt == self.tcb.snd.iss => {
                Some(self.syn_segment(now))
            }
            State::Established
            | State::CloseWait
            | State::FinWait1
            | State::Closing
            | State::LastAck => self.data_segment(now),
            _ => None,
        };
        if seg.is_some() {
            return seg;
        }
        // RFC 9293 §3.8.6.1: a closed window with data waiting and nothing
        // outstanding (so no ACK will come to reopen it) runs the persist
        // timer.
        if self.window_closed_with_data_waiting() {
            if !self.timers.is_armed(TimerKind::Persist) {
                self.timers.set(TimerKind::Persist, now + self.rtt.rto());
            }
        } else {
            self.timers.stop(TimerKind::Persist);
        }
        if self.ack_pending && self.state != State::Closed && self.state != State::Listen {
            // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, with the SND.NXT of RFC
            // 9293, which never moves back: here the highest sent. After a
            // timeout our SND.NXT is behind what the peer has received, and
            // an ACK carrying it would be out of the peer's window and
            // answered by an ACK, forever.
            let ack = self.segment(self.snd_max, Flags::NONE, true, Vec::new());
            return Some(self.with_options(now, ack));
        }
        None
    }

    /// When `handle_timeout` must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    /// When the timer `kind` fires, if it is armed (for tests and
    /// diagnostics: `poll_timeout` is what a driver needs).
    pub fn timer(&self, kind: TimerKind) -> Option<Instant> {
        self.timers.get(kind)
    }

    /// The next event, if any. Call until `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        let ev = self.out.events.pop_front();
        self.out.release_if_empty();
        ev
    }

    /// SYN (SYN-SENT) or SYN,ACK (SYN-RECEIVED) at ISS, with options.
    fn syn_segment(&mut self, now: Instant) -> Segment {
        let n = self.negotiated;
        // The MSS we can receive: never more than the link MTU allows
        // (MTU - IP header - TCP header, RFC 9293 §3.7.1).
        let headers = self.ends.ip_header_len() + 20;
        let mss = self
            .config
            .mss
            .min(u16::try_from(self.config.mtu.saturating_sub(headers)).unwrap_or(u16::MAX));
        let mut options = vec![TcpOption::Mss(mss)];
        let ts = TcpOption::Timestamps {
            val: self.ts_val(now),
            ecr: self.ts_recent,
        };
        // Linux's layouts, so captures look familiar and stay word-aligned.
        match (n.sack, n.timestamps) {
            (true, true) => options.extend([TcpOption::SackPermitted, ts]),
            (false, true) => options.extend([TcpOption::Nop, TcpOption::Nop, ts]),
            (true, false) => {
                options.extend([TcpOption::Nop, TcpOption::Nop, TcpOption::SackPermitted])
            }
            (false, false) => {}
        }
        if let Some(shift) = n.wscale {
            options.extend([TcpOption::Nop, TcpOption::WindowScale(shift)]);
        }
        let with_ack = self.state == State::SynReceived;
        let mut seg = self.segment(self.tcb.snd.iss, Flags::SYN, with_ack, Vec::new());
        // RFC 7323 §2.2: the window in a SYN is never scaled.
        seg.window = self.tcb.rcv.wnd.min(65535) as u16;
        seg.options = options;
        self.note_sent(now, self.tcb.snd.iss, 1);
        seg
    }

    /// SND.UNA + SND.WND: the right edge of the peer's window.
    pub(super) fn send_window_end(&self) -> SeqNum {
        self.tcb.snd.una + self.tcb.snd.wnd
    }

    /// Sequence number one past the last queued data octet.
    fn snd_data_end(&self) -> SeqNum {
        self.snd_buf_seq() + self.snd_buf.len()
    }

    /// Data (or a FIN) waits, the window has no room for it, and nothing
    /// is outstanding: the persist timer's condition.
    fn window_closed_with_data_waiting(&self) -> bool {
        if !self.state.may_have_data_in_flight() {
            return false;
        }
        let nxt = self.tcb.snd.nxt;
        self.tcb.snd.una == self.snd_max
            && nxt.lt(self.snd_data_end())
            && self.send_window_end().le(nxt)
    }

    /// The next data and/or FIN segment: a retransmission chosen by loss
    /// recovery, or the next octets from SND.NXT within the send window,
    /// the congestion window and the sender's SWS rules.
    fn data_segment(&mut self, now: Instant) -> Option<Segment> {
        let mss = self.tcb.eff_snd_mss;
        let una = self.tcb.snd.una;
        // NewReno (RFC 6582 §3.2 steps 2 and 5): the segment at SND.UNA,
        // at once, whatever the windows say.
        if self.cc.rexmit_una {
            self.cc.rexmit_una = false;
            if una.lt(self.snd_max) {
                return self.send_range(now, una, mss);
            }
        }
        let sack_recovery = self.cc.recovery.is_some() && self.negotiated.sack;
        let in_flight = if sack_recovery {
            // RFC 6675 §5 step (C), with cwnd set by PRR on each ACK: send
            // while cwnd - pipe >= 1 SMSS.
            let pipe = self.flight.sent.pipe();
            if pipe + mss > self.cc.cwnd {
                return None;
            }
            // NextSeg rule 1 with RACK's marks: the first octet marked
            // lost and not retransmitted since. (Rule 3, resending holes
            // not known lost, is left to RACK's reordering timer.)
            if let Some((seq, len)) = self.flight.sent.next_lost() {
                return self.send_range(now, seq, len.min(mss));
            }
            pipe
        } else if self.negotiated.sack && self.tcb.snd.nxt == self.snd_max {
            // Outside recovery too, octets SACKed or marked lost have left
            // the network (Linux counts packets in flight so in every
            // state): while RACK waits out a reordering window, each SACK
            // releases new data, whose delivery can later reveal a lost
            // retransmission. A piece marked lost outside recovery (one
            // of a window already reduced for) is resent first, without
            // another reduction. Not while going back N after a timeout,
            // which forgot the marks.
            let pipe = self.flight.sent.pipe();
            if let Some((seq, len)) = self.flight.sent.next_lost() {
                if pipe + mss > self.cc.cwnd {
                    return None;
                }
                return self.send_range(now, seq, len.min(mss));
            }
            pipe
        } else {
            self.tcb.snd.nxt - una
        };
        self.new_data_segment(now, in_flight)
    }

    /// New data (or go-back-N after a timeout) from SND.NXT, within the
    /// send window, the congestion window (`in_flight` of it used) and the
    /// sender's SWS rules.
    fn new_data_segment(&mut self, now: Instant, in_flight: usize) -> Option<Segment> {
        let mss = self.tcb.eff_snd_mss;
        let una = self.tcb.snd.una;
        let nxt = self.tcb.snd.nxt;
        let end = self.snd_data_end();
        let fin_waits = self.fin_seq.is_some_and(|f| f == nxt);
        if !nxt.lt(end) && !fin_waits {
            return None;
        }
        let window_end = self.send_window_end();
        let mut usable = if window_end.gt(nxt) {
            window_end - nxt
        } else {
            0
        };
        let forced = std::mem::take(&mut self.force_send);
        usable = usable.max(forced);
        let available = if nxt.lt(end) { end - nxt } else { 0 };
        if available > 0 {
            // cwnd is never below one segment, so with nothing in flight
            // this never holds a forced probe or a retransmitted head.
            let cwnd_room = self.cc.cwnd.saturating_sub(in_flight);
            let n = available.min(mss).min(usable).min(cwnd_room);
            if n == 0 {
                return None;
            }
            // Sender SWS avoidance (RFC 9293 §3.8.6.2.1): a full segment,
            // or all that is queued (the end of the user's data, pushed),
            // or at least half the largest window the peer ever offered;
            // a smaller segment only when nothing is outstanding (Nagle's
            // rule, RFC 9293 §3.7.4), since then no ACK will come to
            // release it.
            // Retransmissions (SND.NXT behind SND.MAX after a timeout) and
            // forced probes are never held.
            let full = n == mss || n == available || n >= self.max_snd_wnd / 2;
            let new_data = nxt == self.snd_max;
            if !full && una != self.snd_max && new_data && forced == 0 {
                return None;
            }
            return self.send_range(now, nxt, n);
        }
        // The FIN alone: it takes no window space.
        self.send_range(now, nxt, 0)
    }

    /// A segment of up to `max_len` queued octets from `seq` (plus the FIN
    /// if it comes next), with its bookkeeping. `None` when there is
    /// nothing at `seq`.
    pub(super) fn send_range(
        &mut self,
        now: Instant,
        seq: SeqNum,
        max_len: usize,
    ) -> Option<Segment> {
        let buf_seq = self.snd_buf_seq();
        let end = self.snd_data_end();
        let n = if seq.lt(end) {
            (end - seq).min(max_len)
        } else {
            0
        };
        let data_end = seq + n;
        let fin = self.fin_seq.is_some_and(|f| f == data_end);
        if n == 0 && !fin {
            return None;
        }
        let mut payload = Vec::with_capacity(n);
        if n > 0 {
            let offset = seq - buf_seq;
            let (a, b) = self.snd_buf.as_slices();
            if offset < a.len() {
                let take = n.min(a.len() - offset);
                payload.extend_from_slice(&a[offset..offset + take]);
                payload.extend_from_slice(&b[..n - take]);
            } else {
                let o = offset - a.len();
                payload.extend_from_slice(&b[o..o + n]);
            }
        }
        let mut flags = Flags::NONE;
        if n > 0 && data_end == end {
            flags = flags | Flags::PSH;
        }
        if fin {
            flags = flags | Flags::FIN;
        }
        let len = n + usize::from(fin);
        let seg = self.segment(seq, flags, true, payload);
        self.note_sent(now, seq, len);
        Some(self.with_options(now, seg))
    }

    /// Bookkeeping for `len` octets of sequence space sent from `seq`:
    /// advance SND.NXT (and SND.MAX), arm the retransmission timer, start
    /// an RTT probe when the octets are new (Karn: never time a
    /// retransmission, and forget a probe whose octets are resent).
    fn note_sent(&mut self, now: Instant, seq: SeqNum, len: usize) {
        let end = seq + len;
        self.flight.sent.on_send(seq, end, now);
        if self.cc.recovery.is_some() {
            self.flight.prr.on_send(len);
        }
        if seq.lt(self.snd_max) {
            let resent_end = if end.lt(self.snd_max) {
                end
            } else {
                self.snd_max
            };
            self.flight.retransmitted.on_retransmit(seq, resent_end);
        }
        if seq.lt(self.snd_max)
            && let Some(u) = &mut self.flight.undo
        {
            if !u.any_retrans {
                u.ts = Some(ts_clock(now).wrapping_add(self.ts_offset));
            }
            u.retrans += len;
            u.any_retrans = true;
        }
        if end.gt(self.snd_max) {
            if seq == self.snd_max && self.rtt_probe.is_none() && self.retries == 0 {
                self.rtt_probe = Some((end, now));
            }
            self.snd_max = end;
        }
        if seq.lt(self.snd_max)
            && self
                .rtt_probe
                .is_some_and(|(probe_end, _)| seq.lt(probe_end) && end != probe_end)
        {
            self.rtt_probe = None;
        }
        if end.gt(self.tcb.snd.nxt) {
            self.tcb.snd.nxt = end;
        }
        self.cc.flight_peak.on_send(self.tcb.snd.una, self.snd_max);
        if !self.timers.is_armed(TimerKind::Retransmission) {
            self.timers
                .set(TimerKind::Retransmission, now + self.rtt.rto());
        }
        // The user timeout runs while something is unacknowledged.
        if !self.timers.is_armed(TimerKind::User) {
            self.arm_user_timer(now);
        }
    }

    /// A segment from this connection with the usual fields; `ack` adds
    /// `<ACK=RCV.NXT>`.
    pub(super) fn segment(
        &self,
        seq: SeqNum,
        flags: Flags,
        ack: bool,
        payload: Vec<u8>,
    ) -> Segment {
        let window = if flags.contains(Flags::RST) {
            0
        } else {
            self.advertised_window()
        };
        Segment {
            src: self.ends.local(),
            dst: self.ends.remote(),
            seq,
            ack: ack.then_some(self.tcb.rcv.nxt),
            flags,
            window,
            options: Vec::new(),
            payload,
        }
    }

    /// TSval at `now`: the millisecond timestamp clock plus the offset.
    pub(super) fn ts_val(&self, now: Instant) -> u32 {
        ts_clock(now).wrapping_add(self.ts_offset)
    }

    /// The options of a synchronized segment: timestamps (RFC 7323 §3.2:
    /// once negotiated, on every non-RST segment) and SACK blocks (RFC
    /// 2018 §4) while out-of-order data or a FIN is held, as many as fit
    /// in the 40 octets of option space.
    fn with_options(&self, now: Instant, mut seg: Segment) -> Segment {
        if matches!(self.state, State::SynSent | State::Listen) {
            return seg; // nothing negotiated yet
        }
        let ts = self.negotiated.timestamps;
        let sack = self.negotiated.sack
            && (self.rcv.has_out_of_order()
                || self.held_fin().is_some()
                || self.flight.dsack.is_some())
            && seg.ack.is_some();
        if !ts && !sack {
            return seg;
        }
        let mut options = Vec::with_capacity(6);
        if ts {
            options.extend([
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Timestamps {
                    val: self.ts_val(now),
                    ecr: self.ts_recent,
                },
            ]);
        }
        // Room left in the MTU after the headers, the timestamps and the
        // payload: Eff.snd.MSS leaves none beside the timestamps, so a
        // full-sized data segment carries no SACK blocks (RFC 2018 §4: as
        // many as fit; the next pure ACK carries them all).
        let room = self.mtu().saturating_sub(
            self.ends.ip_header_len() + 20 + if ts { 12 } else { 0 } + seg.payload.len(),
        );
        let fit = room.saturating_sub(4) / 8;
        let sack = sack && fit > 0;
        if sack {
            let mut max = fit.min(if ts { 3 } else { 4 });
            let base = self.rcv.nxt();
            let rcv_nxt = self.tcb.rcv.nxt;
            // RFC 2883: a duplicate's range goes first, once.
            let mut blocks = Vec::with_capacity(max);
            if let Some(d) = self.flight.dsack {
                blocks.push(d);
                max -= 1;
            }
            blocks.extend(
                self.held_blocks(max)
                    .into_iter()
                    .map(|(l, r)| (rcv_nxt + (l - base) as usize, rcv_nxt + (r - base) as usize)),
            );
            options.extend([TcpOption::Nop, TcpOption::Nop, TcpOption::Sack(blocks)]);
        }
        seg.options = options;
        seg
    }

    /// The stream offset of the peer's FIN, held beyond RCV.NXT.
    fn held_fin(&self) -> Option<u64> {
        self.rcv_fin.filter(|&f| f > self.rcv.nxt())
    }

    /// SACK blocks for what is held beyond RCV.NXT, as stream offsets, at
    /// most `max`: the out-of-order data, and a FIN that arrived ahead of
    /// it. A FIN occupies a sequence number, and a SACK block may cover
    /// it (RFC 2018 §3 speaks of sequence space, not octets): it extends
    /// the block of the data it follows, or is a block of its own, put
    /// first as the newest arrival (a FIN ends the stream).
    fn held_blocks(&self, max: usize) -> Vec<(u64, u64)> {
        let mut blocks = self.rcv.sack_blocks(max);
        let Some(fin) = self.held_fin() else {
            return blocks;
        };
        match blocks.iter_mut().find(|b| b.1 == fin) {
            Some(b) => b.1 = fin + 1,
            None => {
                blocks.insert(0, (fin, fin + 1));
                blocks.truncate(max);
            }
        }
        blocks
    }

    /// The size of the peer's full-sized segments, for the delayed-ACK
    /// rules: the MSS we announced less the timestamps option when it was
    /// agreed (a Linux peer's full segment then carries 1448 octets, not
    /// 1460), or less where the peer's segments have been smaller, as
    /// Linux estimates its `rcv_mss`; never below RFC 9293's default 536.
    pub(super) fn rcv_mss(&self) -> usize {
        let ts = if self.negotiated.timestamps { 12 } else { 0 };
        let most = usize::from(self.config.mss).saturating_sub(ts).max(1);
        if self.rcv_mss_seen == 0 {
            most
        } else {
            self.rcv_mss_seen.max(536).min(most)
        }
    }

    /// Receiver SWS threshold (RFC 9293 §3.8.6.2.2): the offered right
    /// edge moves only by at least min(Fr * RCV.BUFF, Eff.snd.MSS), with
    /// Fr = 1/2 and the MSS we announced standing for the peer's.
    fn rcv_sws_threshold(&self) -> usize {
        usize::from(self.config.mss)
            .min(self.rcv.capacity() / 2)
            .max(1)
    }

    /// RCV.WND to offer now: the free space, unless the right edge would
    /// advance by less than the SWS threshold, in which case the edge
    /// already advertised stays (it never moves left, RFC 9293 §3.8.6.2.2).
    fn window_to_offer(&self) -> usize {
        let nxt = self.rcv.nxt();
        let free_edge = self.rcv.right_edge();
        let edge = if free_edge >= self.rcv_adv + self.rcv_sws_threshold() as u64 {
            free_edge
        } else {
            self.rcv_adv.max(nxt)
        };
        (edge - nxt) as usize
    }

    /// SEG.WND to send: the offered window shifted by Rcv.Wind.Shift
    /// (RFC 7323 §2.3), rounded down.
    fn advertised_window(&self) -> u16 {
        (self.window_to_offer() >> self.tcb.rcv.wscale).min(65535) as u16
    }

    /// Sequence number of the first byte in the send buffer: ISS+1 until
    /// the SYN is acknowledged, SND.UNA after.
    pub(super) fn snd_buf_seq(&self) -> SeqNum {
        if self.tcb.snd.una == self.tcb.snd.iss {
            self.tcb.snd.iss + 1usize
        } else {
            self.tcb.snd.una
        }
    }

    /// §3.7.1: `Eff.snd.MSS = min(SendMSS+20, MMS_S) - TCPhdrsize`, with
    /// MMS_S the MTU minus the IP header and TCPhdrsize including the
    /// timestamp option when negotiated.
    pub(super) fn update_eff_snd_mss(&mut self) {
        let send_mss = usize::from(self.negotiated.peer_mss);
        let mms_s = self.mtu().saturating_sub(self.ends.ip_header_len());
        let hdr = 20 + if self.negotiated.timestamps { 12 } else { 0 };
        self.tcb.eff_snd_mss = (send_mss + 20).min(mms_s).saturating_sub(hdr).max(1);
    }

    pub(super) fn set_state(&mut self, to: State) {
        let from = self.state;
        if from != to {
            self.state = to;
            self.out.events.push_back(Event::StateChanged { from, to });
        }
    }

    pub(super) fn enter_closed(&mut self, reason: Reason) {
        self.timers.stop_all();
        self.ack_pending = false;
        self.set_state(State::Closed);
        self.out.events.push_back(Event::Closed(reason));
    }

    pub(super) fn enter_time_wait(&mut self, now: Instant) {
        self.timers.stop_all();
        self.timers
            .set(TimerKind::TimeWait, now + self.config.msl * 2);
        self.set_state(State::TimeWait);
    }

    pub(super) fn drop_segment(&mut self, reason: DropReason) {
        self.out.events.push_back(Event::SegmentDropped { reason });
    }
}

/// TSval clock: milliseconds of the injected time line (RFC 7323 §5.4
/// allows 1 ms to 1 s per tick).
fn ts_clock(now: Instant) -> u32 {
    (now.total_micros() / 1000) as u32
}
