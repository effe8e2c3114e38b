//! tcpdump-style one-line summaries (`tcpdump -nn` grammar, see
//! shared/design/output-format.md), so a person can hold nettool's output
//! and a capture side by side.

use super::MacAddr;
use super::arp::{ArpRepr, Operation};

/// `ARP, Request who-has 10.78.0.2 tell 10.78.0.1, length 28`, with the
/// target MAC in parentheses when it is not zero, as tcpdump prints it.
pub fn arp_line(arp: &ArpRepr) -> String {
    match arp.operation {
        Operation::Request => {
            let target_mac = if arp.target_mac == MacAddr::zero() {
                String::new()
            } else {
                format!(" ({})", arp.target_mac)
            };
            format!(
                "ARP, Request who-has {}{} tell {}, length 28",
                arp.target_ip, target_mac, arp.sender_ip
            )
        }
        Operation::Reply => format!(
            "ARP, Reply {} is-at {}, length 28",
            arp.sender_ip, arp.sender_mac
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::net::Ipv4Addr;

    const A: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);

    fn mac(last: u8) -> MacAddr {
        MacAddr::new(0xd6, 0x6d, 0x61, 0xa8, 0xbb, last)
    }

    #[rstest]
    #[case::kernel_request(
        ArpRepr::request(mac(1), A, B),
        "ARP, Request who-has 10.78.0.2 tell 10.78.0.1, length 28"
    )]
    #[case::unicast_probe(
        ArpRepr { target_mac: mac(0xf7), ..ArpRepr::request(mac(1), A, B) },
        "ARP, Request who-has 10.78.0.2 (d6:6d:61:a8:bb:f7) tell 10.78.0.1, length 28"
    )]
    #[case::dad_probe(
        ArpRepr::request(mac(1), Ipv4Addr::UNSPECIFIED, B),
        "ARP, Request who-has 10.78.0.2 tell 0.0.0.0, length 28"
    )]
    #[case::reply(
        ArpRepr { operation: Operation::Reply, sender_mac: mac(0xf7), sender_ip: B, target_mac: mac(1), target_ip: A },
        "ARP, Reply 10.78.0.2 is-at d6:6d:61:a8:bb:f7, length 28"
    )]
    fn lines_match_tcpdump(#[case] arp: ArpRepr, #[case] want: &str) {
        assert_eq!(arp_line(&arp), want);
    }
}
