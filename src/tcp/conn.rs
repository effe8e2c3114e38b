//! The connection: its TCB, the user calls (OPEN, SEND, RECEIVE, CLOSE,
//! ABORT, STATUS of RFC 9293 §3.10.1–3.10.6), the timeouts (§3.10.8) and
//! the outputs. SEGMENT ARRIVES (§3.10.7) lives in `input.rs`.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use crate::time::Instant;
use crate::wire::MacAddr;
use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
use crate::wire::tcp::{Flags, TcpOption, TcpRepr};

use super::isn::IsnGenerator;
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
    /// MSS we advertise (what we can receive).
    pub mss: u16,
    /// Link MTU; with the peer's MSS it bounds Eff.snd.MSS (§3.7.1).
    pub mtu: usize,
    /// Window scale shift we offer (RFC 7323), `None` to offer none.
    pub window_scale: Option<u8>,
    /// Offer SACK-permitted (RFC 2018). nettool does not send SACK blocks
    /// yet, and ignores received ones; offering it is harmless.
    pub sack_permitted: bool,
    /// Offer timestamps (RFC 7323 §3). Used for TSval/TSecr echo only:
    /// no PAWS and no RTT measurement from them yet.
    pub timestamps: bool,
    /// Receive buffer: RCV.WND is its free space.
    pub recv_buffer: usize,
    /// Send buffer: bytes `send` accepts that are not yet acknowledged.
    pub send_buffer: usize,
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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mss: 1460,
            mtu: 1500,
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: true,
            recv_buffer: 64 * 1024,
            send_buffer: 64 * 1024,
            rto: RtoConfig::default(),
            syn_retries: 6,
            retries: 15,
            msl: Duration::from_secs(30),
            user_timeout: None,
            ts_offset: 0,
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
    /// Data after a gap; reassembly is not implemented, so it is dropped
    /// (and acknowledged, to ask for what is missing).
    OutOfOrder,
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

/// An outgoing segment, owned, with both endpoints' addresses, ready for
/// the driver to frame ([`Segment::to_frame`]) or for tests to inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub seq: SeqNum,
    pub ack: Option<SeqNum>,
    pub flags: Flags,
    pub window: u16,
    pub options: Vec<TcpOption>,
    pub payload: Vec<u8>,
}

impl Segment {
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

    /// The IPv4 header for this segment (TTL 64, DF).
    pub fn ipv4(&self) -> Ipv4Repr {
        Ipv4Repr::new(*self.src.ip(), *self.dst.ip(), IpProtocol::Tcp, 0)
    }

    /// The serialized IPv4 datagram, checksums filled.
    pub fn to_ipv4_packet(&self) -> Vec<u8> {
        self.as_repr().to_ipv4_packet(&self.ipv4())
    }

    /// The whole Ethernet frame, checksums filled.
    pub fn to_frame(&self, src_mac: MacAddr, dst_mac: MacAddr) -> Vec<u8> {
        self.as_repr().to_frame(src_mac, dst_mac, &self.ipv4())
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
pub fn rst_for(from: Ipv4Addr, to: Ipv4Addr, seg: &TcpRepr<'_>) -> Option<Segment> {
    if seg.flags.contains(Flags::RST) {
        return None;
    }
    let (seq, ack) = match seg.ack {
        Some(ack) => (ack, None),
        None => (SeqNum(0), Some(seg.seq + seg.segment_len())),
    };
    Some(Segment {
        src: SocketAddrV4::new(to, seg.dst_port),
        dst: SocketAddrV4::new(from, seg.src_port),
        seq,
        ack,
        flags: Flags::RST,
        window: 0,
        options: Vec::new(),
        payload: Vec::new(),
    })
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
pub struct Connection {
    pub(super) config: Config,
    pub(super) state: State,
    pub(super) local: SocketAddrV4,
    pub(super) remote: SocketAddrV4,
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
    pub(super) rcv_buf: VecDeque<u8>,
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
    pub(super) timers: TimerTable,
    /// An ACK (or challenge ACK) is owed.
    pub(super) ack_pending: bool,
    /// Segments built while handling input (RSTs), sent before anything else.
    pub(super) queued: VecDeque<Segment>,
    pub(super) events: VecDeque<Event>,
}

impl Connection {
    fn new(config: Config, local: SocketAddrV4, remote: SocketAddrV4, iss: IssSource) -> Self {
        let offer = Negotiated {
            wscale: config.window_scale.map(|w| w.min(MAX_WSCALE)),
            sack: config.sack_permitted,
            timestamps: config.timestamps,
            peer_mss: DEFAULT_SEND_MSS,
        };
        let mut conn = Connection {
            config,
            state: State::Closed,
            local,
            remote,
            tcb: Tcb::default(),
            snd_max: SeqNum(0),
            max_snd_wnd: 0,
            snd_buf: VecDeque::new(),
            fin_seq: None,
            rcv_buf: VecDeque::new(),
            fin_received: false,
            passive: false,
            iss_source: iss,
            negotiated: offer,
            ts_recent: 0,
            rtt: RttEstimator::new(config.rto),
            rtt_probe: None,
            retries: 0,
            timers: TimerTable::default(),
            ack_pending: false,
            queued: VecDeque::new(),
            events: VecDeque::new(),
        };
        conn.tcb.rcv.wnd = config.recv_buffer;
        conn.update_eff_snd_mss();
        conn
    }

    /// Active OPEN (§3.10.1): the first `poll_transmit` yields the SYN.
    pub fn connect(
        now: Instant,
        config: Config,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNum,
    ) -> Connection {
        let mut conn = Connection::new(config, local, remote, IssSource::Fixed(iss));
        conn.set_iss(iss);
        conn.arm_user_timer(now);
        conn.set_state(State::SynSent);
        conn
    }

    /// Passive OPEN (§3.10.1) on `local`, accepting one SYN from anyone.
    pub fn listen(config: Config, local: SocketAddrV4, iss: IssSource) -> Connection {
        let remote = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
        let mut conn = Connection::new(config, local, remote, iss);
        conn.passive = true;
        conn.set_state(State::Listen);
        conn
    }

    pub(super) fn set_iss(&mut self, iss: SeqNum) {
        self.tcb.snd.iss = iss;
        self.tcb.snd.una = iss;
        self.tcb.snd.nxt = iss;
        self.snd_max = iss;
    }

    // ----- STATUS -----

    pub fn state(&self) -> State {
        self.state
    }

    pub fn tcb(&self) -> &Tcb {
        &self.tcb
    }

    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }

    /// The peer (unspecified while LISTENing).
    pub fn remote(&self) -> SocketAddrV4 {
        self.remote
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
        self.rcv_buf.len()
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
        if self.rcv_buf.is_empty() {
            if self.fin_received {
                return Err(RecvError::Finished);
            }
            if self.state == State::Closed {
                return Err(RecvError::Closed);
            }
            return Ok(0);
        }
        let before = self.advertised_window();
        let n = buf.len().min(self.rcv_buf.len());
        for (dst, src) in buf.iter_mut().zip(self.rcv_buf.drain(..n)) {
            *dst = src;
        }
        self.tcb.rcv.wnd = self.config.recv_buffer - self.rcv_buf.len();
        // A window that reopens from (nearly) closed is announced at once:
        // without zero-window probing, a sender stuck at a closed window
        // would otherwise never learn of it. The threshold is the receiver
        // SWS rule of RFC 9293 §3.8.6.2.2, min(RCV.BUFF/2, Eff.snd.MSS).
        let threshold = usize::from(self.config.mss)
            .min(self.config.recv_buffer / 2)
            .max(1);
        let scaled = |w: u16| usize::from(w) << self.tcb.rcv.wscale;
        if self.state.is_synchronized()
            && scaled(before) < threshold
            && scaled(self.advertised_window()) >= threshold
        {
            self.ack_pending = true;
        }
        Ok(n)
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
                self.queued.push_back(rst);
            }
            _ => {}
        }
        self.enter_closed(Reason::Aborted);
    }

    // ----- timeouts -----

    /// Fires every expired timer (§3.10.8).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timers.is_expired(TimerKind::Retransmission, now) {
            self.on_retransmission_timeout(now);
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
        // Delayed ACK and keepalive are never armed yet; disarm defensively.
        for kind in [TimerKind::DelayedAck, TimerKind::Keepalive] {
            if self.timers.is_expired(kind, now) {
                self.timers.stop(kind);
            }
        }
    }

    /// RETRANSMISSION TIMEOUT: back off (RFC 6298 §5.5), forget the RTT
    /// probe (Karn), and go back to SND.UNA so the next `poll_transmit`
    /// resends the oldest unacknowledged segment. After too many tries the
    /// connection gives up with [`Reason::TimedOut`].
    fn on_retransmission_timeout(&mut self, now: Instant) {
        self.timers.stop(TimerKind::Retransmission);
        if self.tcb.snd.una == self.snd_max {
            return; // nothing outstanding; a stale timer
        }
        let limit = match self.state {
            State::SynSent | State::SynReceived => self.config.syn_retries,
            _ => self.config.retries,
        };
        self.retries += 1;
        if self.retries > limit {
            self.enter_closed(Reason::TimedOut);
            return;
        }
        self.rtt.back_off();
        self.rtt_probe = None;
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
        if let Some(seg) = self.queued.pop_front() {
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
        if let Some(seg) = seg {
            self.ack_pending = false;
            return Some(seg);
        }
        if self.ack_pending && self.state != State::Closed && self.state != State::Listen {
            self.ack_pending = false;
            let ack = self.segment(self.tcb.snd.nxt, Flags::NONE, true, Vec::new());
            return Some(self.with_timestamps(now, ack));
        }
        None
    }

    /// When `handle_timeout` must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    /// The next event, if any. Call until `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// SYN (SYN-SENT) or SYN,ACK (SYN-RECEIVED) at ISS, with options.
    fn syn_segment(&mut self, now: Instant) -> Segment {
        let n = self.negotiated;
        let mut options = vec![TcpOption::Mss(self.config.mss)];
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

    /// The next data and/or FIN segment from SND.NXT, within SND.WND.
    fn data_segment(&mut self, now: Instant) -> Option<Segment> {
        let nxt = self.tcb.snd.nxt;
        let buf_seq = self.snd_buf_seq();
        let end = buf_seq + self.snd_buf.len();
        let mut payload = Vec::new();
        if nxt.lt(end) {
            let offset = nxt - buf_seq;
            let window_end = self.tcb.snd.una + self.tcb.snd.wnd;
            let usable = if window_end.gt(nxt) {
                window_end - nxt
            } else {
                0
            };
            let n = (self.snd_buf.len() - offset)
                .min(self.tcb.eff_snd_mss)
                .min(usable);
            // A closed window stops data here: zero-window probing is not
            // implemented yet.
            if n == 0 {
                return None;
            }
            payload.extend(self.snd_buf.range(offset..offset + n));
        }
        let data_end = nxt + payload.len();
        let fin = self.fin_seq.is_some_and(|f| f == data_end);
        if payload.is_empty() && !fin {
            return None;
        }
        let mut flags = Flags::NONE;
        if !payload.is_empty() && data_end == end {
            flags = flags | Flags::PSH;
        }
        if fin {
            flags = flags | Flags::FIN;
        }
        let len = payload.len() + usize::from(fin);
        let seg = self.segment(nxt, flags, true, payload);
        self.note_sent(now, nxt, len);
        Some(self.with_timestamps(now, seg))
    }

    /// Bookkeeping for `len` octets of sequence space sent from `seq`:
    /// advance SND.NXT, arm the retransmission timer, start an RTT probe
    /// when the octets are new (Karn: never time a retransmission).
    fn note_sent(&mut self, now: Instant, seq: SeqNum, len: usize) {
        let end = seq + len;
        if end.gt(self.snd_max) {
            if seq == self.snd_max && self.rtt_probe.is_none() && self.retries == 0 {
                self.rtt_probe = Some((end, now));
            }
            self.snd_max = end;
        }
        self.tcb.snd.nxt = end;
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
            src: self.local,
            dst: self.remote,
            seq,
            ack: ack.then_some(self.tcb.rcv.nxt),
            flags,
            window,
            options: Vec::new(),
            payload,
        }
    }

    /// TSval at `now`: the millisecond timestamp clock plus the offset.
    fn ts_val(&self, now: Instant) -> u32 {
        ts_clock(now).wrapping_add(self.config.ts_offset)
    }

    fn with_timestamps(&self, now: Instant, mut seg: Segment) -> Segment {
        // RFC 7323 §3.2: once negotiated, every non-RST segment carries
        // the option (SYN-SENT has negotiated nothing yet).
        if self.negotiated.timestamps && !matches!(self.state, State::SynSent | State::Listen) {
            seg.options = vec![
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Timestamps {
                    val: self.ts_val(now),
                    ecr: self.ts_recent,
                },
            ];
        }
        seg
    }

    /// SEG.WND to send: RCV.WND shifted by Rcv.Wind.Shift.
    fn advertised_window(&self) -> u16 {
        (self.tcb.rcv.wnd >> self.tcb.rcv.wscale).min(65535) as u16
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
    /// MMS_S the MTU minus the IPv4 header and TCPhdrsize including the
    /// timestamp option when negotiated.
    pub(super) fn update_eff_snd_mss(&mut self) {
        let send_mss = usize::from(self.negotiated.peer_mss);
        let mms_s = self.config.mtu.saturating_sub(20);
        let hdr = 20 + if self.negotiated.timestamps { 12 } else { 0 };
        self.tcb.eff_snd_mss = (send_mss + 20).min(mms_s).saturating_sub(hdr).max(1);
    }

    pub(super) fn set_state(&mut self, to: State) {
        let from = self.state;
        if from != to {
            self.state = to;
            self.events.push_back(Event::StateChanged { from, to });
        }
    }

    pub(super) fn enter_closed(&mut self, reason: Reason) {
        self.timers.stop_all();
        self.ack_pending = false;
        self.set_state(State::Closed);
        self.events.push_back(Event::Closed(reason));
    }

    pub(super) fn enter_time_wait(&mut self, now: Instant) {
        self.timers.stop_all();
        self.timers
            .set(TimerKind::TimeWait, now + self.config.msl * 2);
        self.set_state(State::TimeWait);
    }

    pub(super) fn drop_segment(&mut self, reason: DropReason) {
        self.events.push_back(Event::SegmentDropped { reason });
    }
}

/// TSval clock: milliseconds of the injected time line (RFC 7323 §5.4
/// allows 1 ms to 1 s per tick).
fn ts_clock(now: Instant) -> u32 {
    (now.total_micros() / 1000) as u32
}
