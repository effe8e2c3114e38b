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
}
