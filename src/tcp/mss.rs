//! The segment size a link allows (RFC 9293 §3.7.1).

use super::conn::DEFAULT_SEND_MSS;

/// Bytes of the IPv4 and TCP headers without options, which an MSS leaves
/// out (RFC 9293 §3.7.1: the MSS counts data only).
const HEADERS: u32 = 20 + 20;

/// The largest IPv4 datagram: what a link with a larger MTU (loopback's is
/// 65536) can still carry in one.
const MAX_DATAGRAM: u32 = 65_535;

/// The MSS to announce on a link of `mtu` bytes: the MTU less the IPv4
/// and TCP headers, never below the 536 bytes every host must accept
/// (RFC 9293 §3.7.1), nor above what one IPv4 datagram holds.
pub fn mss_for_mtu(mtu: u32) -> u16 {
    let mss = link_mtu(mtu).saturating_sub(HEADERS);
    u16::try_from(mss).unwrap_or(u16::MAX).max(DEFAULT_SEND_MSS)
}

/// Bytes of the IPv6 fixed header and the TCP header without options.
const HEADERS_V6: u32 = 40 + 20;

/// RFC 8200 §5: every IPv6 link carries 1280-byte packets, so an MSS of
/// 1220 always fits one.
const MIN_MSS_V6: u16 = 1280 - 60;

/// [`mss_for_mtu`] over IPv6: the MTU less the 40-byte IPv6 header and
/// the TCP header, never below what IPv6's minimum MTU holds.
pub fn mss_for_mtu_ipv6(mtu: u32) -> u16 {
    let mss = link_mtu(mtu).saturating_sub(HEADERS_V6);
    u16::try_from(mss).unwrap_or(u16::MAX).max(MIN_MSS_V6)
}

/// The MTU the engine plans segments for on a link of `mtu` bytes: the
/// link's, but no more than one IPv4 datagram.
pub fn link_mtu(mtu: u32) -> u32 {
    mtu.min(MAX_DATAGRAM)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(1500, 1460)]
    #[case(9000, 8960)]
    // Loopback: 65536, larger than a datagram.
    #[case(65_536, 65_495)]
    // Below 576 the MSS stays at the floor every host accepts.
    #[case(300, 536)]
    #[case(0, 536)]
    fn the_mss_is_the_mtu_less_the_headers(#[case] mtu: u32, #[case] want: u16) {
        assert_eq!(mss_for_mtu(mtu), want);
    }

    #[rstest]
    #[case(1500, 1440)]
    #[case(9000, 8940)]
    #[case(65_536, 65_475)]
    #[case(1280, 1220)]
    #[case(300, 1220)]
    fn over_ipv6_the_mss_is_the_mtu_less_60(#[case] mtu: u32, #[case] want: u16) {
        assert_eq!(mss_for_mtu_ipv6(mtu), want);
    }
}
