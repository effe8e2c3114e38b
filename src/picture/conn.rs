//! One TCP connection out of a capture: which connections a file holds,
//! picking one by a port or a 4-tuple, and its segments with sequence
//! numbers made relative (as tcpdump prints them), times made relative to
//! its first segment, and each segment's direction. The ladder draws it;
//! a time–sequence graph can plot it.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use super::capture::Captured;
use crate::wire::tcp::Flags;

/// Which way a segment goes on the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// From the left end (us, or the connection's opener) to the right.
    Right,
    /// From the right end to the left.
    Left,
}

/// A connection's two ends, left first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ends {
    pub left: SocketAddr,
    pub right: SocketAddr,
}

impl Ends {
    /// Which way a segment from `src` to `dst` goes, if it belongs here.
    pub fn way(&self, src: SocketAddr, dst: SocketAddr) -> Option<Way> {
        if (src, dst) == (self.left, self.right) {
            Some(Way::Right)
        } else if (src, dst) == (self.right, self.left) {
            Some(Way::Left)
        } else {
            None
        }
    }

    fn has_port(&self, port: u16) -> bool {
        self.left.port() == port || self.right.port() == port
    }
}

impl fmt::Display for Ends {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.left, self.right)
    }
}

/// `--conn`: a port either end uses, or both ends, `A:P-B:P` (in either
/// order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnFilter {
    Port(u16),
    Tuple(SocketAddr, SocketAddr),
}

impl FromStr for ConnFilter {
    type Err = String;

    fn from_str(s: &str) -> Result<ConnFilter, String> {
        if let Ok(port) = s.parse::<u16>() {
            return Ok(ConnFilter::Port(port));
        }
        let tuple = s.split_once('-').and_then(|(a, b)| {
            Some(ConnFilter::Tuple(
                a.trim().parse().ok()?,
                b.trim().parse().ok()?,
            ))
        });
        tuple.ok_or_else(|| {
            format!(
                "{s:?} is neither a port nor ADDR:PORT-ADDR:PORT (e.g. 10.0.0.1:40000-10.0.0.2:80)"
            )
        })
    }
}

impl ConnFilter {
    fn matches(&self, ends: &Ends) -> bool {
        match *self {
            ConnFilter::Port(p) => ends.has_port(p),
            ConnFilter::Tuple(a, b) => {
                (ends.left, ends.right) == (a, b) || (ends.left, ends.right) == (b, a)
            }
        }
    }
}

/// One segment of a connection, as pictures show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seg {
    /// Since the connection's first segment.
    pub t: Duration,
    pub way: Way,
    pub flags: Flags,
    /// SEG.SEQ relative to the sender's initial sequence number, SEG.ACK
    /// relative to the receiver's.
    pub seq: u32,
    pub ack: Option<u32>,
    pub win: u16,
    /// Payload octets.
    pub len: usize,
    /// Built but not sent (`handshake --no-ack`): drawn, not delivered.
    pub withheld: bool,
}

impl Seg {
    /// SEG.LEN: payload plus SYN and FIN.
    pub fn seg_len(&self) -> u32 {
        self.len as u32
            + u32::from(self.flags.contains(Flags::SYN))
            + u32::from(self.flags.contains(Flags::FIN))
    }

    /// tcpdump's flag letters (`S.`, `F.`, `R`, `P.`...).
    pub fn flag_text(&self) -> String {
        crate::wire::fmt::flag_letters(self.flags, self.ack.is_some())
    }
}

/// Makes sequence numbers relative, per direction, to the initial
/// sequence number (the SYN's) or, with no SYN seen, to the first
/// sequence number the sender used, as tcpdump does.
#[derive(Debug, Clone, Default)]
pub struct Relative {
    /// The base of the left end's numbers, and of the right end's.
    base: [Option<u32>; 2],
}

impl Relative {
    /// `seg`'s numbers, absolute in, relative out.
    pub fn numbers(&mut self, way: Way, seq: u32, ack: Option<u32>) -> (u32, Option<u32>) {
        let (me, them) = match way {
            Way::Right => (0, 1),
            Way::Left => (1, 0),
        };
        let base = *self.base[me].get_or_insert(seq);
        // An ACK before any segment of the other end: its base is what the
        // ACK implies (the ISN the acknowledged SYN carried).
        let ack = ack.map(|a| a.wrapping_sub(*self.base[them].get_or_insert(a.wrapping_sub(1))));
        (seq.wrapping_sub(base), ack)
    }
}

/// One connection of a capture, ready to draw.
#[derive(Debug, Clone)]
pub struct Conn {
    pub ends: Ends,
    pub segs: Vec<Seg>,
}

/// Why no single connection could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickError {
    #[error("the capture holds no TCP segment ({0} other frames)")]
    NoTcp(usize),
    #[error("no TCP connection in the capture matches {filter}; it holds: {}", list(.found))]
    NoMatch { filter: String, found: Vec<Ends> },
    #[error(
        "the capture holds {} TCP connections{}: choose one with --conn PORT or \
         --conn ADDR:PORT-ADDR:PORT; they are: {}",
        .found.len(), .filter.as_ref().map(|f| format!(" matching {f}")).unwrap_or_default(),
        list(.found)
    )]
    Ambiguous {
        filter: Option<String>,
        found: Vec<Ends>,
    },
}

fn list(found: &[Ends]) -> String {
    found
        .iter()
        .map(Ends::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The connections in `segments`, in the order they first appear; each
/// with its opener (the sender of a SYN without ACK) on the left, or else
/// the sender of its first segment.
pub fn connections(segments: &[Captured]) -> Vec<Ends> {
    let mut found: Vec<Ends> = Vec::new();
    for s in segments {
        if found.iter().any(|e| e.way(s.src, s.dst).is_some()) {
            continue;
        }
        // The opener is whoever sends a SYN without ACK first.
        let opener = segments
            .iter()
            .find(|o| {
                o.flags.contains(Flags::SYN)
                    && o.ack.is_none()
                    && ((o.src, o.dst) == (s.src, s.dst) || (o.src, o.dst) == (s.dst, s.src))
            })
            .unwrap_or(s);
        found.push(Ends {
            left: opener.src,
            right: opener.dst,
        });
    }
    found
}

/// Picks the one connection `filter` names (or the only one there is)
/// and builds it.
pub fn pick(
    segments: &[Captured],
    other: usize,
    filter: Option<ConnFilter>,
) -> Result<Conn, PickError> {
    let all = connections(segments);
    if all.is_empty() {
        return Err(PickError::NoTcp(other));
    }
    let text = filter.map(|f| match f {
        ConnFilter::Port(p) => format!("port {p}"),
        ConnFilter::Tuple(a, b) => format!("{a}-{b}"),
    });
    let chosen: Vec<Ends> = all
        .iter()
        .copied()
        .filter(|e| filter.is_none_or(|f| f.matches(e)))
        .collect();
    match chosen[..] {
        [one] => Ok(build(one, segments)),
        [] => Err(PickError::NoMatch {
            filter: text.unwrap_or_default(),
            found: all,
        }),
        _ => Err(PickError::Ambiguous {
            filter: text,
            found: chosen,
        }),
    }
}

/// The segments of `ends` out of `segments`, relative.
pub fn build(ends: Ends, segments: &[Captured]) -> Conn {
    let mut rel = Relative::default();
    let mut start = None;
    let segs = segments
        .iter()
        .filter_map(|s| {
            let way = ends.way(s.src, s.dst)?;
            let t0 = *start.get_or_insert(s.at);
            let (seq, ack) = rel.numbers(way, s.seq, s.ack);
            Some(Seg {
                t: s.at.saturating_sub(t0),
                way,
                flags: s.flags,
                seq,
                ack,
                win: s.win,
                len: s.len,
                withheld: false,
            })
        })
        .collect();
    Conn { ends, segs }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_is_a_port_or_two_ends() {
        assert_eq!("80".parse(), Ok(ConnFilter::Port(80)));
        assert_eq!(
            "10.0.0.1:40000-10.0.0.2:80".parse(),
            Ok(ConnFilter::Tuple(
                "10.0.0.1:40000".parse().unwrap(),
                "10.0.0.2:80".parse().unwrap()
            ))
        );
        for bad in ["", "http", "70000", "10.0.0.1:1", "10.0.0.1-10.0.0.2"] {
            assert!(bad.parse::<ConnFilter>().is_err(), "{bad:?}");
        }
    }

    /// Numbers count from each end's ISN, across the 2^32 wrap.
    #[test]
    fn numbers_are_relative_to_each_end() {
        let mut rel = Relative::default();
        assert_eq!(rel.numbers(Way::Right, u32::MAX, None), (0, None));
        assert_eq!(rel.numbers(Way::Left, 500, Some(0)), (0, Some(1)));
        assert_eq!(rel.numbers(Way::Right, 0, Some(501)), (1, Some(1)));
    }
}
