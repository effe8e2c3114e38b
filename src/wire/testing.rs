//! What the wire layer's tests share: sample segments and arbitrary bytes.

use super::seq::SeqNum;
use super::tcp::{Flags, TcpOption, TcpRepr};

/// A SYN from port 40000 to port 80 (sequence number 1, window 64240),
/// without options.
pub fn syn() -> TcpRepr<'static> {
    TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: SeqNum(1),
        ack: None,
        flags: Flags::SYN,
        window: 64240,
        urgent: 0,
        options: vec![],
        payload: &[],
    }
}

/// The options Linux puts on a SYN: MSS, SACK permitted, timestamps, NOP,
/// window scale.
pub fn linux_syn_options() -> Vec<TcpOption> {
    vec![
        TcpOption::Mss(1460),
        TcpOption::SackPermitted,
        TcpOption::Timestamps { val: 1, ecr: 0 },
        TcpOption::Nop,
        TcpOption::WindowScale(7),
    ]
}

/// `rounds` pseudo-random byte strings of every length below `max_len`
/// (xorshift from `seed`: the same strings every run), for the parsers'
/// never-panic tests.
pub fn arbitrary_bytes(seed: u32, max_len: usize, rounds: usize) -> impl Iterator<Item = Vec<u8>> {
    let mut x = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as u8
    };
    (0..max_len)
        .flat_map(move |len| (0..rounds).map(move |_| len))
        .map(move |len| (0..len).map(|_| next()).collect())
}
