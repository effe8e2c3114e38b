//! One connection driven by hand for the recovery tests
//! (tests/tcp_recovery.rs, tests/tcp_reorder.rs): our data goes out in
//! 536-octet segments, the peer's ACKs (with SACK blocks) are written by
//! hand, and what is sent comes back as tcpdump lines with absolute
//! numbers.
#![allow(dead_code)] // each test binary uses its own subset

use std::net::{Ipv4Addr, SocketAddrV4};

use nettool::tcp::{Config, CongestionControl, Connection, SeqNum, State};
use nettool::time::Instant;
use nettool::wire::fmt::tcp_line_absolute;
use nettool::wire::tcp::{Flags, TcpOption, TcpRepr};

pub const LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000);
pub const REMOTE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
pub const LOCAL_ISS: u32 = 1000;
pub const REMOTE_ISS: u32 = 5000;
/// The peer sends no MSS option: Eff.snd.MSS is 536.
pub const MSS: u32 = 536;
pub static K: [u8; 16384] = [0x5a; 16384];

/// SACK, no timestamps (short lines), every segment ACKed at once; Reno,
/// whose ssthresh is half the flight, keeps the numbers round.
pub fn config() -> Config {
    Config {
        cc: CongestionControl::Reno,
        window_scale: None,
        sack_permitted: true,
        timestamps: false,
        recv_buffer: 65535,
        delayed_ack: None,
        ..Config::default()
    }
}

pub fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

pub fn from_peer(ack: u32) -> TcpRepr<'static> {
    TcpRepr {
        src_port: REMOTE.port(),
        dst_port: LOCAL.port(),
        seq: SeqNum(REMOTE_ISS + 1),
        ack: Some(SeqNum(ack)),
        flags: Flags::NONE,
        window: 64240,
        urgent: 0,
        options: vec![],
        payload: &[],
    }
}

/// An ACK from the peer with SACK blocks (absolute numbers) and, when
/// timestamps were agreed, `TSecr = ecr`.
pub fn ack(ack: u32, blocks: &[(u32, u32)], ecr: Option<u32>) -> TcpRepr<'static> {
    let mut options = Vec::new();
    if let Some(ecr) = ecr {
        options.push(TcpOption::Timestamps { val: 1, ecr });
    }
    if !blocks.is_empty() {
        options.push(TcpOption::Sack(
            blocks
                .iter()
                .map(|&(l, r)| (SeqNum(l), SeqNum(r)))
                .collect(),
        ));
    }
    TcpRepr {
        options,
        ..from_peer(ack)
    }
}

/// Segment `i` (0-based) of the data: its sequence range.
pub fn nth(i: u32) -> (u32, u32) {
    let start = LOCAL_ISS + 1 + i * MSS;
    (start, start + MSS)
}

pub fn line(s: &nettool::tcp::Segment) -> String {
    let full = tcp_line_absolute(s.src.ip(), s.dst.ip(), &s.as_repr());
    full.split_once(": ").map(|(_, r)| r.to_owned()).unwrap()
}

/// Fires the timers due at `ms`, then returns every segment sent.
pub fn sent(c: &mut Connection, ms: u64) -> Vec<String> {
    if c.poll_timeout().is_some_and(|t| t <= at(ms)) {
        c.handle_timeout(at(ms));
    }
    std::iter::from_fn(|| c.poll_transmit(at(ms)))
        .map(|s| line(&s))
        .collect()
}

pub fn data_line(i: u32) -> String {
    let (l, r) = nth(i);
    format!("Flags [.], seq {l}:{r}, ack 5001, win 65535, length 536")
}

/// ESTABLISHED at 10 ms (SRTT 10 ms) with SACK agreed; the peer's
/// SYN,ACK carries `extra` options too.
pub fn established(cfg: Config, extra: Vec<TcpOption>) -> Connection {
    let mut c = Connection::connect(at(0), cfg, LOCAL, REMOTE, SeqNum(LOCAL_ISS));
    let _ = c.poll_transmit(at(0));
    let mut options = vec![TcpOption::SackPermitted];
    options.extend(extra);
    let synack = TcpRepr {
        seq: SeqNum(REMOTE_ISS),
        flags: Flags::SYN,
        options,
        ..from_peer(LOCAL_ISS + 1)
    };
    c.handle_segment(at(10), &synack);
    while c.poll_transmit(at(10)).is_some() {}
    assert_eq!(c.state(), State::Established);
    while c.poll_event().is_some() {}
    c
}
