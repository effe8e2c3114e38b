//! Ethernet II framing (no 802.1Q: a tagged frame is reported as unsupported).

use pnet::packet::ethernet::{EtherType, EthernetPacket, MutableEthernetPacket};

use super::{MacAddr, Result, WireError};

/// Length of an Ethernet II header.
pub const HEADER_LEN: usize = 14;

/// The EtherTypes nettool speaks, plus the raw value of any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Ipv4,
    Arp,
    Ipv6,
    Other(u16),
}

impl From<u16> for Protocol {
    fn from(v: u16) -> Self {
        match v {
            0x0800 => Protocol::Ipv4,
            0x0806 => Protocol::Arp,
            0x86dd => Protocol::Ipv6,
            other => Protocol::Other(other),
        }
    }
}

impl From<Protocol> for u16 {
    fn from(p: Protocol) -> u16 {
        match p {
            Protocol::Ipv4 => 0x0800,
            Protocol::Arp => 0x0806,
            Protocol::Ipv6 => 0x86dd,
            Protocol::Other(v) => v,
        }
    }
}

/// A validated Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    pub src: MacAddr,
    pub dst: MacAddr,
    pub protocol: Protocol,
}

impl EthernetRepr {
    /// Parses the header and returns it with the payload that follows.
    ///
    /// The payload may still carry the padding that pads short frames to 60
    /// bytes; the next layer trims it using its own length field.
    pub fn parse(frame: &[u8]) -> Result<(EthernetRepr, &[u8])> {
        let pkt = EthernetPacket::new(frame).ok_or(WireError::Truncated)?;
        let protocol = Protocol::from(pkt.get_ethertype().0);
        if matches!(protocol, Protocol::Other(0x8100 | 0x88a8)) {
            return Err(WireError::Unsupported("VLAN-tagged frame"));
        }
        let repr = EthernetRepr {
            src: pkt.get_source(),
            dst: pkt.get_destination(),
            protocol,
        };
        Ok((repr, &frame[HEADER_LEN..]))
    }

    /// Bytes the header takes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `frame`.
    ///
    /// Panics if `frame` is shorter than the header: emitting into a buffer
    /// sized by `buffer_len` is the caller's contract, not input validation.
    pub fn emit(&self, frame: &mut [u8]) {
        let mut pkt =
            MutableEthernetPacket::new(frame).expect("buffer shorter than an Ethernet header");
        pkt.set_destination(self.dst);
        pkt.set_source(self.src);
        pkt.set_ethertype(EtherType(self.protocol.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    // A broadcast ARP request header as the kernel sends it.
    const HEADER: [u8; 14] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // source
        0x08, 0x06, // EtherType ARP
    ];

    fn repr() -> EthernetRepr {
        EthernetRepr {
            src: MacAddr::new(2, 0, 0, 0, 0, 1),
            dst: MacAddr::broadcast(),
            protocol: Protocol::Arp,
        }
    }

    #[test]
    fn parse_fixture() {
        let mut frame = HEADER.to_vec();
        frame.extend_from_slice(&[1, 2, 3]);
        let (r, payload) = EthernetRepr::parse(&frame).unwrap();
        assert_eq!(r, repr());
        assert_eq!(payload, &[1, 2, 3]);
    }

    #[test]
    fn emit_overwrites_every_header_byte() {
        // 0xa5 fill: a field the emitter forgets shows up as a diff.
        let mut buf = [0xa5u8; HEADER_LEN];
        repr().emit(&mut buf);
        assert_eq!(buf, HEADER);
    }

    #[rstest]
    #[case::empty(&[])]
    #[case::thirteen_bytes(&HEADER[..13])]
    fn truncated_headers_are_rejected(#[case] bytes: &[u8]) {
        assert_eq!(EthernetRepr::parse(bytes), Err(WireError::Truncated));
    }

    #[rstest]
    #[case::dot1q(0x8100)]
    #[case::qinq(0x88a8)]
    fn vlan_tags_are_unsupported(#[case] ethertype: u16) {
        let mut frame = HEADER.to_vec();
        frame[12..14].copy_from_slice(&ethertype.to_be_bytes());
        assert!(matches!(
            EthernetRepr::parse(&frame),
            Err(WireError::Unsupported(_))
        ));
    }

    #[rstest]
    #[case(0x0800, Protocol::Ipv4)]
    #[case(0x0806, Protocol::Arp)]
    #[case(0x86dd, Protocol::Ipv6)]
    fn ethertypes_round_trip(#[case] raw: u16, #[case] p: Protocol) {
        assert_eq!(Protocol::from(raw), p);
        assert_eq!(u16::from(p), raw);
    }
}
