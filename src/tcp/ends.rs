//! A connection's two addresses, both of one family. IPv4's are kept
//! inline, as small as before IPv6 came (a load test holds a million
//! connections, and each byte counts a megabyte); IPv6's, four times
//! larger, in a box of their own.

use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ends {
    V4 {
        local: SocketAddrV4,
        remote: SocketAddrV4,
    },
    V6(Box<[SocketAddrV6; 2]>),
}

/// `addr` without a flow label or scope: a flow is named by its
/// addresses and ports alone, as the packets that carry it name it.
fn bare_v6(ip: std::net::Ipv6Addr, port: u16) -> SocketAddrV6 {
    SocketAddrV6::new(ip, port, 0, 0)
}

impl Ends {
    /// Panics if `local` and `remote` are of different families: no
    /// connection runs between such a pair.
    pub(super) fn new(local: SocketAddr, remote: SocketAddr) -> Ends {
        match (local, remote) {
            (SocketAddr::V4(local), SocketAddr::V4(remote)) => Ends::V4 { local, remote },
            (SocketAddr::V6(l), SocketAddr::V6(r)) => Ends::V6(Box::new([
                bare_v6(*l.ip(), l.port()),
                bare_v6(*r.ip(), r.port()),
            ])),
            _ => panic!("a connection between two address families: {local} and {remote}"),
        }
    }

    pub(super) fn local(&self) -> SocketAddr {
        match self {
            Ends::V4 { local, .. } => (*local).into(),
            Ends::V6(b) => b[0].into(),
        }
    }

    pub(super) fn remote(&self) -> SocketAddr {
        match self {
            Ends::V4 { remote, .. } => (*remote).into(),
            Ends::V6(b) => b[1].into(),
        }
    }

    /// Bytes of the IP header under each segment (without options or
    /// extension headers, which nettool never sends): what the MTU
    /// leaves to TCP depends on it.
    pub(super) fn ip_header_len(&self) -> usize {
        match self {
            Ends::V4 { .. } => 20,
            Ends::V6(_) => 40,
        }
    }

    /// The peer a LISTENing connection learned from a SYN of its own
    /// family (the caller checked).
    pub(super) fn set_remote(&mut self, ip: IpAddr, port: u16) {
        match (self, ip) {
            (Ends::V4 { remote, .. }, IpAddr::V4(ip)) => *remote = SocketAddrV4::new(ip, port),
            (Ends::V6(b), IpAddr::V6(ip)) => b[1] = bare_v6(ip, port),
            (ends, ip) => panic!("a peer {ip} for a connection on {}", ends.local()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_ends_stay_inline_and_small() {
        assert!(std::mem::size_of::<Ends>() <= 16);
        let l: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let r: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let e = Ends::new(l, r);
        assert_eq!((e.local(), e.remote()), (l, r));
    }

    #[test]
    fn ipv6_ends_drop_scope_and_flow_label() {
        let l = SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 40000, 7, 3));
        let r: SocketAddr = "[fe80::2]:80".parse().unwrap();
        let mut e = Ends::new(l, r);
        assert_eq!(e.local(), "[fe80::1]:40000".parse::<SocketAddr>().unwrap());
        e.set_remote("fe80::9".parse().unwrap(), 443);
        assert_eq!(e.remote(), "[fe80::9]:443".parse::<SocketAddr>().unwrap());
    }

    #[test]
    #[should_panic(expected = "two address families")]
    fn mixed_families_are_refused() {
        Ends::new(
            "10.0.0.1:1".parse().unwrap(),
            "[fd00::1]:1".parse().unwrap(),
        );
    }
}
