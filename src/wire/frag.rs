//! IPv4 fragmentation and reassembly (RFC 791 §2.3 and §3.2, RFC 815).
//!
//! - **Sending**: [`pieces`] cuts a datagram's payload to fit an MTU.
//!   Every fragment but the last carries a multiple of 8 octets; each says
//!   where its data goes (the offset, in 8-octet units on the wire) and
//!   whether more follow (MF). The caller gives every fragment of one
//!   datagram the same header: one identification, DF clear.
//! - **Receiving**: a [`Reassembler`] collects fragments by (source,
//!   destination, protocol, identification), keeps what is still missing
//!   as RFC 815's hole list, and hands the datagram back whole once no
//!   hole is left, with the first fragment's header.
//!
//! **Bounded.** At most [`Limits::datagrams`] reassemblies are in progress
//! and [`Limits::bytes`] held (each fragment charged its buffer growth plus
//! [`FRAGMENT_COST`] of bookkeeping, so tiny fragments are bounded too):
//! a fragment that finds no room evicts the oldest reassembly, so a flood
//! of fragments that never complete cycles through the table and never
//! blocks a datagram whose fragments arrive together. Each reassembly is
//! given up [`Limits::timeout`] after its first fragment (30 s, Linux's
//! `ipfrag_time`).
//!
//! **Overlaps** are treated as RFC 5722 requires of IPv6 (and as Linux
//! treats IPv4 since 2018): a fragment that overlaps data already received
//! discards the whole datagram, and the fragments of it still to come are
//! dropped too, until its timeout. An exact duplicate (same offset, length
//! and bytes: the network delivered it twice) is dropped alone, as RFC
//! 8200 §4.5 allows. A datagram that would grow past 65,535 octets, or
//! whose fragments contradict its end, is discarded the same way.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::ops::Range;
use std::time::Duration;

use super::MacAddr;
use super::demux::Identity;
use super::ethernet::{self, EthernetRepr, Protocol};
use super::ipv4::{Fragment, HEADER_LEN, IpProtocol, Ipv4Repr};
use crate::time::Instant;

/// The most payload an IPv4 datagram carries: a 16-bit total length less
/// the header.
pub const MAX_PAYLOAD: usize = 65535 - HEADER_LEN;

/// Bytes each fragment held is charged beyond its data: its entry in the
/// reassembly's bookkeeping, rounded up.
pub const FRAGMENT_COST: usize = 64;

/// The fragments of a payload of `len` bytes sent over a link whose MTU is
/// `mtu`: where each goes, and the bytes of the payload it carries. A
/// payload that fits is one piece, [`Fragment::WHOLE`].
///
/// Panics if `mtu` leaves less than 8 octets after the header (IPv4
/// requires 68: RFC 791).
pub fn pieces(len: usize, mtu: usize) -> impl Iterator<Item = (Fragment, Range<usize>)> {
    let room = if HEADER_LEN + len <= mtu {
        len.max(1)
    } else {
        assert!(mtu >= HEADER_LEN + 8, "an MTU of {mtu} carries no fragment");
        (mtu - HEADER_LEN) / 8 * 8
    };
    let mut next = Some(0);
    std::iter::from_fn(move || {
        let offset = next?;
        let end = (offset + room).min(len);
        let more = end < len;
        next = more.then_some(end);
        Some((Fragment { offset, more }, offset..end))
    })
}

/// The Ethernet frames (`src`, `dst`) of one IPv4 datagram with header
/// `ip` carrying `payload` (a whole transport message, its checksum
/// written), over a link of MTU `mtu`: one frame when it fits, else its
/// fragments, each with `ip`'s header (its identification; DF is cleared,
/// since the datagram is fragmented).
pub fn frames(
    (src, dst): (MacAddr, MacAddr),
    ip: &Ipv4Repr,
    payload: &[u8],
    mtu: usize,
) -> Vec<Vec<u8>> {
    let dont_frag = ip.dont_frag && HEADER_LEN + payload.len() <= mtu;
    pieces(payload.len(), mtu)
        .map(|(fragment, range)| {
            let header = Ipv4Repr {
                dont_frag,
                payload_len: range.len(),
                ..*ip
            };
            let mut frame = vec![0u8; ethernet::HEADER_LEN + header.total_len()];
            EthernetRepr {
                src,
                dst,
                protocol: Protocol::Ipv4,
            }
            .emit(&mut frame);
            header.emit_fragment(&mut frame[ethernet::HEADER_LEN..], fragment);
            frame[ethernet::HEADER_LEN + HEADER_LEN..].copy_from_slice(&payload[range]);
            frame
        })
        .collect()
}

/// The reassembler's bounds (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Reassemblies in progress (discarded ones waiting out their timeout
    /// included).
    pub datagrams: usize,
    /// Bytes held, over every reassembly.
    pub bytes: usize,
    /// How long after its first fragment a reassembly is given up.
    pub timeout: Duration,
}

impl Default for Limits {
    /// 64 datagrams, 4 MiB (Linux's `ipfrag_high_thresh`), 30 s (its
    /// `ipfrag_time`).
    fn default() -> Limits {
        Limits {
            datagrams: 64,
            bytes: 4 << 20,
            timeout: Duration::from_secs(30),
        }
    }
}

/// What the reassembler did with the fragments it was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub fragments: u64,
    /// Datagrams handed back whole.
    pub reassembled: u64,
    /// Exact duplicates, dropped alone.
    pub duplicates: u64,
    /// Datagrams discarded for an overlapping fragment.
    pub overlaps: u64,
    /// Datagrams discarded for growing past 65,535 octets.
    pub too_large: u64,
    /// Datagrams discarded for fragments that contradict each other (two
    /// ends, data past the end) or a piece that is not a multiple of 8
    /// octets with more to follow.
    pub malformed: u64,
    /// Reassemblies given up at their timeout.
    pub timed_out: u64,
    /// Reassemblies evicted to make room.
    pub evicted: u64,
    /// Fragments of a datagram already discarded, dropped.
    pub dropped: u64,
    /// Fragments that found no room (the bytes held at their bound with
    /// nothing older to evict), dropped.
    pub no_room: u64,
}

impl Stats {
    /// Fragments refused: the ones that discarded their datagram, and
    /// those of a datagram discarded before.
    pub fn refused(&self) -> u64 {
        self.overlaps + self.too_large + self.malformed + self.dropped
    }
}

/// What identifies a datagram's fragments (RFC 791 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    id: u16,
}

/// A missing range of the payload, `[first, last)`; `last` is `None` for
/// the hole after the data so far, until the last fragment says where the
/// datagram ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hole {
    first: usize,
    last: Option<usize>,
}

impl Hole {
    fn holds(&self, r: &Range<usize>) -> bool {
        self.first <= r.start && self.last.is_none_or(|l| r.end <= l)
    }
}

#[derive(Debug)]
struct Partial {
    deadline: Instant,
    /// The header of the fragment at offset 0, once it came.
    header: Option<Ipv4Repr>,
    data: Vec<u8>,
    holes: Vec<Hole>,
    /// Every piece received, to tell an exact duplicate.
    pieces: Vec<(usize, usize)>,
    /// Where the datagram ends, once the last fragment came.
    total: Option<usize>,
    charged: usize,
    /// Discarded (an overlap, …): its fragments are dropped until the
    /// deadline, and it holds no data.
    discarded: bool,
    /// Where its fragments came from on the link (the last one's sender).
    mac: MacAddr,
}

/// What [`Reassembler::take_frame`] made of a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// Not an IPv4 fragment for us: demultiplex it as it is.
    NotAFragment,
    /// A fragment, kept (or, finding no room, dropped as if lost):
    /// nothing to demultiplex yet.
    Held,
    /// A fragment refused: it overlapped another, made its datagram too
    /// large or contradicted its other fragments (its datagram is then
    /// discarded), or belongs to a datagram discarded before.
    Refused,
    /// The frame of the datagram this fragment completed.
    Whole(Vec<u8>),
}

/// Why a datagram is discarded whole.
#[derive(Debug, Clone, Copy)]
enum Discard {
    Overlap,
    TooLarge,
    Malformed,
}

/// Collects fragments into datagrams (see the module docs).
#[derive(Debug, Default)]
pub struct Reassembler {
    limits: Limits,
    partial: HashMap<Key, Partial>,
    bytes: usize,
    stats: Stats,
    /// See [`Reassembler::take_expired`].
    expired: VecDeque<(MacAddr, Vec<u8>)>,
}

/// Expired first fragments kept for [`Reassembler::take_expired`] at most
/// (the application drains them after each timeout).
const EXPIRED_KEEP: usize = 64;

impl Reassembler {
    pub fn new(limits: Limits) -> Reassembler {
        Reassembler {
            limits,
            ..Reassembler::default()
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Reassemblies in progress (discarded ones waiting out their timeout
    /// included).
    pub fn in_progress(&self) -> usize {
        self.partial.len()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// When the oldest reassembly times out.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.partial.values().map(|p| p.deadline).min()
    }

    /// Gives up the reassemblies whose time is up. Of each whose first
    /// fragment came, that fragment's header and first 8 octets wait in
    /// [`Reassembler::take_expired`] for the ICMP time exceeded (fragment
    /// reassembly time exceeded) RFC 1122 §3.3.2 asks the host to send.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<Key> = self
            .partial
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            let Some(p) = self.remove(key).filter(|p| !p.discarded) else {
                continue;
            };
            self.stats.timed_out += 1;
            let (Some(first), Some(&(_, len))) =
                (p.header, p.pieces.iter().find(|(start, _)| *start == 0))
            else {
                continue;
            };
            // As it arrived (its options aside): a first fragment.
            let first = Ipv4Repr {
                payload_len: len,
                ..first
            };
            let quoted = len.min(8);
            let mut bytes = vec![0u8; HEADER_LEN + quoted];
            first.emit_fragment(
                &mut bytes,
                Fragment {
                    offset: 0,
                    more: true,
                },
            );
            bytes[HEADER_LEN..].copy_from_slice(&p.data[..quoted]);
            if self.expired.len() < EXPIRED_KEEP {
                self.expired.push_back((p.mac, bytes));
            }
        }
    }

    /// A datagram given up at its timeout after its first fragment came:
    /// the MAC its fragments came from, and that fragment's header and
    /// first 8 octets, to quote.
    pub fn take_expired(&mut self) -> Option<(MacAddr, Vec<u8>)> {
        self.expired.pop_front()
    }

    /// A frame off the link: an IPv4 fragment to `us` (to our MAC or
    /// broadcast, and to our address) goes into its reassembly. When it
    /// completes the datagram, the datagram comes back as the frame it
    /// would have been unfragmented: the Ethernet header of the frame that
    /// completed it, the first fragment's IPv4 header (options dropped),
    /// the whole payload.
    pub fn take_frame(&mut self, now: Instant, us: &Identity, frame: &[u8]) -> Taken {
        // Every frame comes through here: a glance at the EtherType and
        // at the MF flag and offset (no parsing, no checksum) lets the
        // unfragmented ones through at once.
        let at = ethernet::HEADER_LEN + 6;
        let piece = frame.len() >= ethernet::HEADER_LEN + HEADER_LEN
            && frame[12..14] == [0x08, 0x00]
            && u16::from_be_bytes([frame[at], frame[at + 1]]) & 0x3fff != 0;
        if !piece {
            return Taken::NotAFragment;
        }
        let Ok((eth, body)) = EthernetRepr::parse(frame) else {
            return Taken::NotAFragment;
        };
        if eth.protocol != Protocol::Ipv4 || (eth.dst != us.mac && !eth.dst.is_broadcast()) {
            return Taken::NotAFragment;
        }
        let Ok((ip, fragment, data)) = Ipv4Repr::parse_fragment(body) else {
            return Taken::NotAFragment;
        };
        if !fragment.is_piece() || ip.dst != us.ip {
            return Taken::NotAFragment;
        }
        let refused = self.stats.refused();
        let Some((ip, payload)) = self.insert_from(now, eth.src, &ip, fragment, data) else {
            if self.stats.refused() > refused {
                return Taken::Refused;
            }
            return Taken::Held;
        };
        let ip = Ipv4Repr {
            dont_frag: false,
            ..ip
        };
        let mut whole = vec![0u8; ethernet::HEADER_LEN + ip.total_len()];
        eth.emit(&mut whole);
        ip.emit(&mut whole[ethernet::HEADER_LEN..]);
        whole[ethernet::HEADER_LEN + HEADER_LEN..].copy_from_slice(&payload);
        Taken::Whole(whole)
    }

    /// Takes one fragment (`ip` its header, `data` its payload, which goes
    /// at `fragment.offset`); the datagram, its header's `payload_len` the
    /// whole payload's, when this fragment completed it.
    pub fn insert(
        &mut self,
        now: Instant,
        ip: &Ipv4Repr,
        fragment: Fragment,
        data: &[u8],
    ) -> Option<(Ipv4Repr, Vec<u8>)> {
        self.insert_from(now, MacAddr::zero(), ip, fragment, data)
    }

    /// [`Reassembler::insert`] of a fragment that came from `mac`.
    pub fn insert_from(
        &mut self,
        now: Instant,
        mac: MacAddr,
        ip: &Ipv4Repr,
        fragment: Fragment,
        data: &[u8],
    ) -> Option<(Ipv4Repr, Vec<u8>)> {
        self.handle_timeout(now);
        self.stats.fragments += 1;
        let key = Key {
            src: ip.src,
            dst: ip.dst,
            protocol: ip.protocol,
            id: ip.identification,
        };
        let piece = fragment.offset..fragment.offset + data.len();
        if !self.partial.contains_key(&key) {
            self.make_room(key, 0);
            self.partial.insert(
                key,
                Partial {
                    deadline: now + self.limits.timeout,
                    header: None,
                    data: Vec::new(),
                    holes: vec![Hole {
                        first: 0,
                        last: None,
                    }],
                    pieces: Vec::new(),
                    total: None,
                    charged: 0,
                    discarded: false,
                    mac: MacAddr::zero(),
                },
            );
        }
        let p = &self.partial[&key];
        if p.discarded {
            self.stats.dropped += 1;
            return None;
        }
        if piece.end > MAX_PAYLOAD {
            return self.discard(key, Discard::TooLarge);
        }
        let misaligned = fragment.more && (data.is_empty() || data.len() % 8 != 0);
        let past_end = p.total.is_some_and(|t| piece.end > t);
        let ends_short = !fragment.more && (piece.end < p.data.len() || p.total.is_some());
        if misaligned || past_end || ends_short {
            if !fragment.more && p.total == Some(piece.end) && self.is_duplicate(key, &piece, data)
            {
                self.stats.duplicates += 1;
                return None;
            }
            return self.discard(key, Discard::Malformed);
        }
        let Some(at) = p.holes.iter().position(|h| h.holds(&piece)) else {
            if self.is_duplicate(key, &piece, data) {
                self.stats.duplicates += 1;
                return None;
            }
            return self.discard(key, Discard::Overlap);
        };
        let growth = piece.end.saturating_sub(p.data.len()) + FRAGMENT_COST;
        if !self.make_room(key, growth) {
            self.stats.no_room += 1;
            return None;
        }
        self.bytes += growth;
        let p = self.partial.get_mut(&key).expect("made above");
        p.charged += growth;
        p.mac = mac;
        if p.data.len() < piece.end {
            p.data.resize(piece.end, 0);
        }
        p.data[piece.clone()].copy_from_slice(data);
        p.pieces.push((piece.start, piece.end));
        if piece.start == 0 {
            p.header = Some(*ip);
        }
        // RFC 815: the hole goes, and what of it the piece left on either
        // side stays missing (after the last fragment, nothing does).
        let hole = p.holes.swap_remove(at);
        if hole.first < piece.start {
            p.holes.push(Hole {
                first: hole.first,
                last: Some(piece.start),
            });
        }
        if fragment.more && hole.last.is_none_or(|l| piece.end < l) {
            p.holes.push(Hole {
                first: piece.end,
                last: hole.last,
            });
        }
        if !fragment.more {
            p.total = Some(piece.end);
        }
        if !p.holes.is_empty() {
            return None;
        }
        let p = self.remove(key).expect("complete");
        let header = p
            .header
            .expect("the piece at offset 0 filled the first hole");
        self.stats.reassembled += 1;
        Some((
            Ipv4Repr {
                payload_len: p.data.len(),
                ..header
            },
            p.data,
        ))
    }

    /// Whether `data` at `piece` is a piece received before, byte for byte.
    fn is_duplicate(&self, key: Key, piece: &Range<usize>, data: &[u8]) -> bool {
        let p = &self.partial[&key];
        p.pieces.contains(&(piece.start, piece.end)) && p.data[piece.clone()] == *data
    }

    /// Discards the datagram: its data goes, its entry stays (holding
    /// nothing) to drop the fragments still to come until its timeout.
    fn discard(&mut self, key: Key, why: Discard) -> Option<(Ipv4Repr, Vec<u8>)> {
        match why {
            Discard::Overlap => self.stats.overlaps += 1,
            Discard::TooLarge => self.stats.too_large += 1,
            Discard::Malformed => self.stats.malformed += 1,
        }
        let p = self.partial.get_mut(&key).expect("the caller's");
        self.bytes -= p.charged;
        p.data = Vec::new();
        p.holes = Vec::new();
        p.pieces = Vec::new();
        p.charged = 0;
        p.discarded = true;
        None
    }

    fn remove(&mut self, key: Key) -> Option<Partial> {
        let p = self.partial.remove(&key)?;
        self.bytes -= p.charged;
        Some(p)
    }

    /// Evicts the oldest reassemblies other than `key`'s until one more
    /// fits (when `key` has none yet) and `growth` more bytes do; whether
    /// they do.
    fn make_room(&mut self, key: Key, growth: usize) -> bool {
        loop {
            let full =
                !self.partial.contains_key(&key) && self.partial.len() >= self.limits.datagrams;
            if !full && self.bytes + growth <= self.limits.bytes {
                return true;
            }
            let oldest = self
                .partial
                .iter()
                .filter(|(k, _)| **k != key)
                .min_by_key(|(_, p)| p.deadline)
                .map(|(k, _)| *k);
            let Some(oldest) = oldest else {
                return false;
            };
            if let Some(p) = self.remove(oldest)
                && !p.discarded
            {
                self.stats.evicted += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    fn header(id: u16) -> Ipv4Repr {
        Ipv4Repr {
            identification: id,
            dont_frag: false,
            ttl: 63,
            ..Ipv4Repr::new(SRC, DST, IpProtocol::Udp, 0)
        }
    }

    /// A payload whose every byte tells its place.
    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// A fragment of `payload`: `[start, end)`, MF unless it reaches the end.
    fn frag(payload: &[u8], start: usize, end: usize) -> (Fragment, Vec<u8>) {
        (
            Fragment {
                offset: start,
                more: end < payload.len(),
            },
            payload[start..end].to_vec(),
        )
    }

    /// Feeds `frags` of datagram `id` one per millisecond; what came out.
    fn feed(
        r: &mut Reassembler,
        id: u16,
        frags: &[(Fragment, Vec<u8>)],
    ) -> Vec<(Ipv4Repr, Vec<u8>)> {
        frags
            .iter()
            .enumerate()
            .filter_map(|(i, (f, data))| {
                let ip = Ipv4Repr {
                    payload_len: data.len(),
                    ..header(id)
                };
                let now = Instant::ZERO + Duration::from_millis(i as u64);
                r.insert(now, &ip, *f, data)
            })
            .collect()
    }

    #[rstest]
    #[case::fits(1472, 1500, &[(0, 1472, false)])]
    #[case::empty(0, 1500, &[(0, 0, false)])]
    #[case::one_over(1481, 1500, &[(0, 1480, true), (1480, 1481, false)])]
    #[case::exact_multiple(2960, 1500, &[(0, 1480, true), (1480, 2960, false)])]
    #[case::odd_mtu(30, 37, &[(0, 16, true), (16, 30, false)])]
    #[case::minimum_mtu(20, 68, &[(0, 20, false)])]
    fn pieces_cut_at_8_octet_boundaries(
        #[case] len: usize,
        #[case] mtu: usize,
        #[case] want: &[(usize, usize, bool)],
    ) {
        let got: Vec<(usize, usize, bool)> = pieces(len, mtu)
            .map(|(f, r)| {
                assert_eq!(f.offset, r.start);
                (r.start, r.end, f.more)
            })
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn frames_carry_one_identification_offsets_and_mf_and_reassemble() {
        let data = payload(8000);
        let ip = Ipv4Repr {
            dont_frag: true,
            ..header(0xbeef)
        };
        let macs = (MacAddr(2, 0, 0, 0, 0, 2), MacAddr(2, 0, 0, 0, 0, 1));
        let out = frames(macs, &ip, &data, 1500);
        assert_eq!(out.len(), 6);
        let mut r = Reassembler::new(Limits::default());
        let mut whole = None;
        for (i, f) in out.iter().enumerate().rev() {
            assert!(f.len() <= ethernet::HEADER_LEN + 1500);
            let (got, fragment, body) = Ipv4Repr::parse_fragment(&f[14..]).unwrap();
            assert_eq!((got.identification, got.dont_frag), (0xbeef, false));
            assert_eq!(fragment.offset, i * 1480);
            assert_eq!(fragment.more, i < 5);
            whole = whole.or(r.insert(Instant::ZERO, &got, fragment, body));
        }
        assert!(whole.expect("reassembled").1 == data);
        let one = frames(macs, &ip, &data[..1480], 1500);
        assert_eq!(one.len(), 1);
        let (got, fragment, _) = Ipv4Repr::parse_fragment(&one[0][14..]).unwrap();
        assert_eq!((fragment, got.dont_frag), (Fragment::WHOLE, true));
    }

    #[test]
    fn take_frame_passes_other_frames_and_returns_the_whole_datagram() {
        let us = Identity {
            ip: DST,
            mac: MacAddr(2, 0, 0, 0, 0, 1),
            ipv6: None,
        };
        let them = MacAddr(2, 0, 0, 0, 0, 2);
        let data = payload(3000);
        let ip = header(5);
        let all = frames((them, us.mac), &ip, &data, 1500);
        let whole = frames((them, us.mac), &ip, &data, 9000).remove(0);
        let mut r = Reassembler::new(Limits::default());
        assert_eq!(
            r.take_frame(Instant::ZERO, &us, &whole),
            Taken::NotAFragment
        );
        let elsewhere = Identity {
            ip: Ipv4Addr::new(10, 0, 0, 9),
            ..us
        };
        assert_eq!(
            r.take_frame(Instant::ZERO, &elsewhere, &all[0]),
            Taken::NotAFragment
        );
        let other_mac = Identity {
            mac: MacAddr(2, 0, 0, 0, 0, 9),
            ..us
        };
        assert_eq!(
            r.take_frame(Instant::ZERO, &other_mac, &all[0]),
            Taken::NotAFragment
        );
        assert_eq!(r.take_frame(Instant::ZERO, &us, &all[1]), Taken::Held);
        assert_eq!(r.take_frame(Instant::ZERO, &us, &all[2]), Taken::Held);
        let Taken::Whole(got) = r.take_frame(Instant::ZERO, &us, &all[0]) else {
            panic!("not completed");
        };
        assert!(
            got == whole,
            "not the frame it would have been unfragmented"
        );
        // A fragment overlapping another is refused, and so is the rest
        // of its datagram; a duplicate is not.
        assert_eq!(r.take_frame(Instant::ZERO, &us, &all[0]), Taken::Held);
        assert_eq!(r.take_frame(Instant::ZERO, &us, &all[0]), Taken::Held);
        let mut overlap = all[1].clone();
        let (flags, sum) = (ethernet::HEADER_LEN + 6, ethernet::HEADER_LEN + 10);
        overlap[flags..flags + 2].copy_from_slice(&0x2000u16.to_be_bytes()); // offset 0, MF
        overlap[sum..sum + 2].fill(0);
        let header = pnet::packet::ipv4::Ipv4Packet::new(&overlap[14..34]).unwrap();
        let fixed = pnet::packet::ipv4::checksum(&header);
        overlap[sum..sum + 2].copy_from_slice(&fixed.to_be_bytes());
        assert_eq!(r.take_frame(Instant::ZERO, &us, &overlap), Taken::Refused);
        assert_eq!(r.take_frame(Instant::ZERO, &us, &all[2]), Taken::Refused);
    }

    #[test]
    fn the_largest_datagram_takes_45_fragments_each_within_the_mtu() {
        let frags: Vec<_> = pieces(8 + 65507, 1500).collect();
        assert_eq!(frags.len(), 45);
        assert!(frags.iter().all(|(_, r)| HEADER_LEN + r.len() <= 1500));
        assert!(frags.iter().all(|(f, _)| f.offset % 8 == 0));
        assert_eq!(frags.last().unwrap().1.end, 65515);
    }

    /// Fragments of a 4,000-byte payload (1480-byte pieces, as on
    /// Ethernet), in an order, with faults; whether it comes out whole,
    /// and what the counters say.
    #[rstest]
    #[case::in_order(&[0, 1, 2], true, Stats { fragments: 3, reassembled: 1, ..Stats::default() })]
    #[case::out_of_order(&[2, 0, 1], true, Stats { fragments: 3, reassembled: 1, ..Stats::default() })]
    #[case::last_first(&[2, 1, 0], true, Stats { fragments: 3, reassembled: 1, ..Stats::default() })]
    #[case::duplicate(&[0, 0, 2, 1], true, Stats { fragments: 4, reassembled: 1, duplicates: 1, ..Stats::default() })]
    #[case::duplicate_last(&[2, 2, 0, 1], true, Stats { fragments: 4, reassembled: 1, duplicates: 1, ..Stats::default() })]
    #[case::missing_last(&[0, 1], false, Stats { fragments: 2, ..Stats::default() })]
    #[case::missing_first(&[1, 2], false, Stats { fragments: 2, ..Stats::default() })]
    #[case::missing_middle(&[2, 0], false, Stats { fragments: 2, ..Stats::default() })]
    fn fragments_come_out_whole_once_every_piece_came(
        #[case] order: &[usize],
        #[case] whole: bool,
        #[case] want: Stats,
    ) {
        let data = payload(4000);
        let all: Vec<_> = pieces(data.len(), 1500)
            .map(|(_, r)| frag(&data, r.start, r.end))
            .collect();
        let frags: Vec<_> = order.iter().map(|&i| all[i].clone()).collect();
        let mut r = Reassembler::new(Limits::default());
        let out = feed(&mut r, 7, &frags);
        assert_eq!(r.stats(), want);
        if whole {
            assert_eq!(out.len(), 1);
            let (ip, got) = &out[0];
            assert!(got == &data, "the payload differs");
            assert_eq!(
                *ip,
                Ipv4Repr {
                    payload_len: 4000,
                    ..header(7)
                }
            );
            assert_eq!((r.in_progress(), r.bytes()), (0, 0), "nothing held after");
        } else {
            assert!(out.is_empty());
            assert_eq!(r.in_progress(), 1);
        }
    }

    /// Faults that discard the datagram whole, and every fragment of it
    /// still to come (the complete set is sent after the fault).
    #[rstest]
    #[case::overlap_at_start(frag(&payload(4000), 8, 1488), Stats { overlaps: 1, ..Stats::default() })]
    #[case::overlap_spanning(frag(&payload(4000), 1472, 1496), Stats { overlaps: 1, ..Stats::default() })]
    #[case::same_place_other_bytes((Fragment { offset: 0, more: true }, vec![0xee; 1480]), Stats { overlaps: 1, ..Stats::default() })]
    #[case::shorter_inside(frag(&payload(4000), 0, 8), Stats { overlaps: 1, ..Stats::default() })]
    #[case::too_large((Fragment { offset: 65512, more: false }, vec![0; 8]), Stats { too_large: 1, ..Stats::default() })]
    #[case::second_end((Fragment { offset: 1480, more: false }, vec![1; 8]), Stats { malformed: 1, ..Stats::default() })]
    #[case::misaligned_middle((Fragment { offset: 1480, more: true }, vec![1; 9]), Stats { malformed: 1, ..Stats::default() })]
    fn a_bad_fragment_discards_its_datagram_whole(
        #[case] bad: (Fragment, Vec<u8>),
        #[case] discards: Stats,
    ) {
        let data = payload(4000);
        let all: Vec<_> = pieces(data.len(), 1500)
            .map(|(_, r)| frag(&data, r.start, r.end))
            .collect();
        let mut frags = vec![all[0].clone(), all[2].clone(), bad];
        frags.extend(all.iter().cloned());
        let mut r = Reassembler::new(Limits::default());
        assert!(feed(&mut r, 9, &frags).is_empty(), "nothing comes out");
        let want = Stats {
            fragments: 6,
            dropped: 3,
            ..discards
        };
        assert_eq!(r.stats(), want);
        assert_eq!(r.bytes(), 0, "a discarded datagram holds nothing");
        // Another datagram (another identification) is not affected.
        assert_eq!(feed(&mut r, 10, &all).len(), 1);
    }

    #[test]
    fn a_reassembly_is_given_up_at_its_timeout_and_a_late_fragment_starts_afresh() {
        let data = payload(3000);
        let all: Vec<_> = pieces(data.len(), 1500)
            .map(|(_, r)| frag(&data, r.start, r.end))
            .collect();
        let mut r = Reassembler::new(Limits::default());
        let ip = header(3);
        let t0 = Instant::ZERO;
        assert!(r.insert(t0, &ip, all[0].0, &all[0].1).is_none());
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(30)));
        r.handle_timeout(t0 + Duration::from_millis(29_999));
        assert_eq!(r.in_progress(), 1, "not yet");
        r.handle_timeout(t0 + Duration::from_secs(30));
        assert_eq!((r.in_progress(), r.bytes()), (0, 0));
        assert_eq!(r.stats().timed_out, 1);
        // Its first fragment came: its header and first 8 octets, to quote
        // in the time exceeded.
        let (_, quote) = r.take_expired().expect("the first fragment");
        let (got, eight) = Ipv4Repr::parse_quoted(&quote).unwrap();
        assert_eq!((got.src, got.identification), (SRC, 3));
        assert_eq!(got.payload_len, 1480, "the first fragment's length");
        assert_eq!(quote[6..8], [0x20, 0], "MF, offset 0");
        assert_eq!(eight, &data[..8]);
        assert_eq!(r.take_expired(), None);
        let late = t0 + Duration::from_secs(31);
        assert!(r.insert(late, &ip, all[1].0, &all[1].1).is_none());
        assert_eq!(r.in_progress(), 1, "the second half alone, waiting");
    }

    #[test]
    fn the_oldest_reassembly_makes_room_and_the_bytes_stay_bounded() {
        let limits = Limits {
            datagrams: 4,
            bytes: 10_000,
            timeout: Duration::from_secs(30),
        };
        let mut r = Reassembler::new(limits);
        let first = (
            Fragment {
                offset: 0,
                more: true,
            },
            vec![0u8; 1480],
        );
        // 20 datagrams that never complete, a first fragment each.
        for id in 0..20u16 {
            feed(&mut r, id, std::slice::from_ref(&first));
            assert!(r.in_progress() <= 4 && r.bytes() <= 10_000);
        }
        // 10,000 bytes hold six 1,544-byte charges but only 4 datagrams.
        assert_eq!(r.stats().evicted, 16);
        // A datagram whose fragments come together still gets through.
        let data = payload(2000);
        let all: Vec<_> = pieces(data.len(), 1500)
            .map(|(_, r)| frag(&data, r.start, r.end))
            .collect();
        assert_eq!(feed(&mut r, 99, &all).len(), 1);
        // A datagram larger than the bytes allowed is dropped piece by piece.
        let big = payload(20_000);
        let all: Vec<_> = pieces(big.len(), 1500)
            .map(|(_, r)| frag(&big, r.start, r.end))
            .collect();
        assert!(feed(&mut r, 100, &all).is_empty());
        assert!(r.bytes() <= 10_000);
        assert!(r.stats().no_room > 0);
    }

    /// Arbitrary fragments (offsets, lengths, MF, identifications, times
    /// drawn from a seeded generator) never panic the reassembler, never
    /// take it past its bounds, and leave nothing held once their
    /// timeouts pass; whatever comes out whole is as long as its last
    /// fragment said.
    #[test]
    fn arbitrary_fragments_stay_within_bounds_and_time_out_to_nothing() {
        let limits = Limits {
            datagrams: 8,
            bytes: 64 * 1024,
            timeout: Duration::from_secs(30),
        };
        let mut r = Reassembler::new(limits);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut now = Instant::ZERO;
        for _ in 0..20_000 {
            now += Duration::from_millis(next(20));
            let id = next(12) as u16;
            let offset = (next(64) * 8) as usize * if next(8) == 0 { 1000 } else { 1 };
            let len = match next(4) {
                0 => next(20) as usize,
                _ => (next(4) as usize + 1) * 8,
            };
            let fragment = Fragment {
                offset,
                more: next(3) != 0,
            };
            let ip = Ipv4Repr {
                payload_len: len,
                ..header(id)
            };
            if let Some((whole, data)) = r.insert(now, &ip, fragment, &vec![id as u8; len]) {
                assert_eq!(whole.payload_len, data.len());
                assert_eq!(data.len(), offset + len);
            }
            assert!(r.in_progress() <= limits.datagrams);
            assert!(r.bytes() <= limits.bytes);
        }
        let s = r.stats();
        assert!(
            s.reassembled > 0 && s.overlaps > 0 && s.duplicates > 0,
            "{s:?}"
        );
        r.handle_timeout(now + limits.timeout);
        assert_eq!((r.in_progress(), r.bytes(), r.poll_timeout()), (0, 0, None));
    }

    #[test]
    fn the_largest_datagram_comes_back_whole_from_shuffled_fragments() {
        let data = payload(MAX_PAYLOAD);
        let mut all: Vec<_> = pieces(data.len(), 1500)
            .map(|(_, r)| frag(&data, r.start, r.end))
            .collect();
        // A fixed shuffle: reversed odds, then evens.
        let (odd, even): (Vec<_>, Vec<_>) =
            all.drain(..).enumerate().partition(|(i, _)| i % 2 == 1);
        let order: Vec<_> = odd.into_iter().rev().chain(even).map(|(_, f)| f).collect();
        let mut r = Reassembler::new(Limits::default());
        let out = feed(&mut r, 1, &order);
        assert_eq!(out.len(), 1);
        assert!(out[0].1 == data);
    }
}
