//! nettool's own TCP engine: RFC 9293, sans-IO.
//!
//! A [`Connection`] is a pure state machine. It takes segments
//! ([`Connection::handle_segment`]), the passage of time
//! ([`Connection::handle_timeout`]) and user calls, and hands back
//! segments to send ([`Connection::poll_transmit`]), the next deadline
//! ([`Connection::poll_timeout`]) and [`Event`]s
//! ([`Connection::poll_event`]). It never reads a clock, draws a random
//! number, touches a socket or prints. The ISS, the secret for RFC 6528
//! ([`IsnGenerator`]) and `now` all come from the caller.
//!
//! # Vocabulary (RFC 9293 names, used everywhere)
//!
//! | RFC 9293 | here | meaning |
//! | --- | --- | --- |
//! | SND.UNA | `tcb().snd.una` | oldest unacknowledged sequence number |
//! | SND.NXT | `tcb().snd.nxt` | next sequence number to send |
//! | SND.WND | `tcb().snd.wnd` | peer's window, scaled |
//! | SND.WL1 / SND.WL2 | `tcb().snd.wl1` / `wl2` | SEG.SEQ / SEG.ACK of the last window update |
//! | ISS | `tcb().snd.iss` | initial send sequence number |
//! | RCV.NXT | `tcb().rcv.nxt` | next sequence number expected |
//! | RCV.WND | `tcb().rcv.wnd` | receive window we offer |
//! | IRS | `tcb().rcv.irs` | initial receive sequence number |
//! | Snd/Rcv.Wind.Shift | `tcb().snd.wscale` / `rcv.wscale` | RFC 7323 shifts |
//! | Eff.snd.MSS | `tcb().eff_snd_mss` | largest payload we send |
//! | SEG.LEN | [`TcpRepr::segment_len`](crate::wire::tcp::TcpRepr::segment_len) | payload + SYN + FIN |
//! | SRTT, RTTVAR, RTO | [`RttEstimator`] | RFC 6298 |
//! | MSL | [`Config::msl`] | TIME-WAIT lasts 2×MSL |
//!
//! SND.UP and RCV.UP are absent: the urgent pointer is parsed and printed
//! by `wire`, never acted upon.
//!
//! # User calls and events
//!
//! | RFC 9293 | here |
//! | --- | --- |
//! | OPEN (active / passive), §3.10.1 | [`Connection::connect`] / [`Connection::listen`] |
//! | SEND, §3.10.2 | [`Connection::send`] |
//! | RECEIVE, §3.10.3 | [`Connection::recv`] |
//! | CLOSE, §3.10.4 | [`Connection::close`] (half-close, §3.6.1) |
//! | ABORT, §3.10.5 | [`Connection::abort`] |
//! | STATUS, §3.10.6 | [`Connection::state`], [`Connection::tcb`] |
//! | SEGMENT ARRIVES, §3.10.7 | [`Connection::handle_segment`] (`input.rs`, one function per step) |
//! | USER / RETRANSMISSION / TIME-WAIT TIMEOUT, §3.10.8 | [`Connection::handle_timeout`] with [`TimerKind::User`] / [`TimerKind::Retransmission`] / [`TimerKind::TimeWait`] (and the timers of later RFCs: [`TimerKind::Reorder`], [`TimerKind::LossProbe`], ...) |
//! | "signal the user" | [`Event::Connected`], [`Event::PeerClosed`], [`Event::Closed`] with a [`Reason`] |
//!
//! # Moving data
//!
//! | mechanism | RFC | where |
//! | --- | --- | --- |
//! | receive buffer, reassembly, SACK blocks | RFC 9293 §3.10.7.4, RFC 2018 | `rcvbuf.rs` |
//! | D-SACK: a duplicate's range reported first, in one ACK only | RFC 2883 | `input.rs` (`check_sequence_number`, `process_segment_text`), `conn.rs` (`with_options`, `note_dsack_sent`) |
//! | RCV.WND from free space, receiver SWS, window updates | RFC 9293 §3.8.6.2.2 | `conn.rs` (`window_to_offer`, `recv`) |
//! | window scaling both ways | RFC 7323 §2 | `input.rs` (`accept_syn`), `conn.rs` |
//! | delayed ACKs (every second segment, [`Config::delayed_ack`]) | RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2 | `input.rs` (`schedule_ack`) |
//! | immediate ACK for out-of-order and hole-filling data, and for a FIN beyond a hole (whose sequence number is SACKed, as Linux does) | RFC 5681 §4.2, RFC 2018 | `input.rs` (`check_fin`), `conn.rs` (`ack_now`, `held_blocks`) |
//! | sender SWS / Nagle, usable window, Eff.snd.MSS | RFC 9293 §3.8.6.2.1, §3.7.1 | `conn.rs` (`data_segment`) |
//! | persist timer, zero-window probes | RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17 | `conn.rs` |
//! | RTO, backoff, Karn | RFC 6298 | `rtt.rs`, `conn.rs` |
//! | RTT from timestamps, PAWS | RFC 7323 §4, §5 | `input.rs` |
//! | slow start, congestion avoidance, IW10 | RFC 5681, RFC 3465, RFC 6928 | `cc/` |
//! | growth by delivery (SACKed octets too) once reordering is seen, as Linux | RFC 5681 departed from | `loss.rs` (`grow_by_delivery`), `input.rs` (`on_new_ack`) |
//! | HyStart++ (slow start exit on an RTT rise) | RFC 9406 | `cc/hystart.rs` |
//! | CUBIC (the default, [`Config::cc`]) or Reno congestion avoidance | RFC 9438, RFC 5681 | `cc/cubic.rs`, `cc/reno.rs` |
//! | fast retransmit, NewReno fast recovery (without SACK) | RFC 5681 §3.2, RFC 6582 | `cc/`, `input.rs`, `loss.rs` |
//! | SACK scoreboard, pipe, NextSeg | RFC 6675 | `scoreboard.rs`, `rack.rs` (`SentLog`), `conn.rs` (`data_segment`) |
//! | RACK: time-based loss detection, reordering window and timer | RFC 8985 §6 | `rack.rs`, `loss.rs` |
//! | tail loss probe (PTO never later than the RTO, restarted only by new data or an ACK that delivers; one probe per episode; loss detection by the probe); armed in fast recovery too, and a probe of new data followed by a second at twice the PTO, as QUIC's PTO is | RFC 8985 §7, RFC 9002 §6.2 | `loss.rs` (`schedule_loss_probe`, `keep_loss_probe`, `send_loss_probe`, `check_tlp`) |
//! | proportional rate reduction during SACK recovery | RFC 6937 | `prr.rs`, `loss.rs` |
//! | undo of spurious fast retransmits and timeouts (Eifel, D-SACK) | RFC 3522, RFC 3708, RFC 4015 | `loss.rs`, `cc/` (`undo_congestion_event`) |
//! | D-SACKs taken as evidence only for octets we retransmitted | RFC 3708 §3, RFC 8985 §6.2 | `dsack.rs`, `input.rs` (`take_sack_blocks`) |
//! | keepalive (off by default, [`Config::keepalive`]) | RFC 1122 §4.2.3.6 | `conn.rs` |
//! | challenge ACKs rate-limited per connection, one per [`CHALLENGE_ACK_INTERVAL`] (Linux's `tcp_invalid_ratelimit`) | RFC 5961 §7 | `challenge.rs`, `input.rs` (`challenge_ack`) |
//!
//! # Not yet
//!
//! Restart after idle (RFC 5681 §4.1), F-RTO (RFC 5682), TS.Recent
//! invalidation after 24 days of idleness (RFC 7323 §5.5).

mod cc;
mod challenge;
mod conn;
mod dsack;
mod ends;
mod flight;
mod idle;
mod input;
pub mod isn;
mod loss;
mod mss;
mod prr;
mod rack;
mod rcvbuf;
pub mod rtt;
mod scoreboard;
pub mod seq;
#[cfg(any(test, feature = "testkit"))]
mod snapshot;
pub mod state;
pub mod timer;

pub use cc::CongestionControl;
pub use challenge::CHALLENGE_ACK_INTERVAL;
pub use conn::{
    Config, Connection, DEFAULT_SEND_MSS, DropReason, Event, IssSource, Keepalive, MAX_WSCALE,
    Reason, RecvError, RecvSequence, Segment, SendError, SendSequence, Tcb, rst_for,
};
pub use isn::IsnGenerator;
pub use mss::{link_mtu, mss_for_mtu, mss_for_mtu_ipv6};
pub use rtt::{RtoConfig, RttEstimator};
pub use seq::SeqNum;
#[cfg(any(test, feature = "testkit"))]
pub use snapshot::Snapshot;
pub use state::State;
pub use timer::{TimerKind, TimerTable};
