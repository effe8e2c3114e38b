//! Initial sequence numbers, RFC 6528 §3:
//!
//! ```text
//! ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//! ```
//!
//! M is a timer ticking every 4 µs, taken from the `Instant` the caller
//! passes (the engine never reads a clock), and F is SipHash-2-4 keyed with
//! a 128-bit secret the caller supplies (the engine never generates
//! randomness either: the driver reads the key from the OS once, the
//! simulator derives it from its seed). SipHash is written out here rather
//! than taken from `std`, whose `SipHasher` is deprecated and whose
//! `DefaultHasher` algorithm is not guaranteed to stay fixed.

use std::net::{IpAddr, SocketAddr};

use crate::time::Instant;
use crate::wire::SeqNum;

/// RFC 6528 generator: a secret key and the hash.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IsnGenerator {
    key: [u8; 16],
}

impl std::fmt::Debug for IsnGenerator {
    // The key is a secret: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IsnGenerator { key: <secret> }")
    }
}

impl IsnGenerator {
    pub const fn new(key: [u8; 16]) -> Self {
        IsnGenerator { key }
    }

    /// The ISN for a connection from `local` to `remote` opened at `now`.
    /// The 4-tuple is hashed as its addresses' bytes and ports in
    /// network order (12 bytes over IPv4, 36 over IPv6).
    pub fn isn(
        &self,
        now: Instant,
        local: impl Into<SocketAddr>,
        remote: impl Into<SocketAddr>,
    ) -> SeqNum {
        let mut msg = Vec::with_capacity(36);
        for end in [local.into(), remote.into()] {
            match end.ip() {
                IpAddr::V4(ip) => msg.extend_from_slice(&ip.octets()),
                IpAddr::V6(ip) => msg.extend_from_slice(&ip.octets()),
            }
            msg.extend_from_slice(&end.port().to_be_bytes());
        }
        let f = siphash24(&self.key, &msg) as u32;
        // M: one tick per 4 µs, wrapping every ~4.77 hours (RFC 6528 §3).
        let m = (now.total_micros() / 4) as u32;
        SeqNum(m.wrapping_add(f))
    }
}

/// SipHash-2-4 (Aumasson and Bernstein, 2012) of `msg` under `key`.
pub fn siphash24(key: &[u8; 16], msg: &[u8]) -> u64 {
    let k0 = u64::from_le_bytes(key[..8].try_into().expect("8 bytes"));
    let k1 = u64::from_le_bytes(key[8..].try_into().expect("8 bytes"));
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let compress = |v: &mut [u64; 4], m: u64| {
        v[3] ^= m;
        round(v);
        round(v);
        v[0] ^= m;
    };
    let mut chunks = msg.chunks_exact(8);
    for c in &mut chunks {
        compress(&mut v, u64::from_le_bytes(c.try_into().expect("8 bytes")));
    }
    // Last block: the remaining bytes, then the message length mod 256 in
    // the top byte.
    let mut last = [0u8; 8];
    let rest = chunks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    last[7] = msg.len() as u8;
    compress(&mut v, u64::from_le_bytes(last));
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn seq_key() -> [u8; 16] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn siphash_reference_vectors() {
        // From the SipHash paper's appendix: key 00..0f, messages 00..(n-1).
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(&seq_key(), &[]), 0x726f_db47_dd0e_0e31);
        assert_eq!(siphash24(&seq_key(), &msg), 0xa129_ca61_49be_45e5);
    }

    fn addrs() -> (SocketAddrV4, SocketAddrV4) {
        (
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000),
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
        )
    }

    #[test]
    fn isn_advances_one_per_four_microseconds() {
        let g = IsnGenerator::new(seq_key());
        let (l, r) = addrs();
        let a = g.isn(Instant::from_micros(1000), l, r);
        let b = g.isn(Instant::from_micros(1400), l, r);
        assert_eq!(b - a, 100);
    }

    #[test]
    fn isn_depends_on_the_four_tuple_and_the_key() {
        let g = IsnGenerator::new(seq_key());
        let (l, r) = addrs();
        let now = Instant::from_millis(5);
        let base = g.isn(now, l, r);
        let other_port = SocketAddrV4::new(*l.ip(), 40001);
        assert_ne!(g.isn(now, other_port, r), base);
        assert_ne!(g.isn(now, r, l), base);
        assert_ne!(IsnGenerator::new([7; 16]).isn(now, l, r), base);
        assert_eq!(g.isn(now, l, r), base, "same inputs, same ISN");
    }

    #[test]
    fn debug_hides_the_key() {
        assert!(!format!("{:?}", IsnGenerator::new([0xab; 16])).contains("171"));
    }
}
