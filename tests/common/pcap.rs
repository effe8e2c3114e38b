//! Capture files in the tests: the simulator's traffic written as one,
//! and the frames read back out of one (little-endian, Ethernet, as
//! nettool's own writer and the committed fixtures are).

use std::time::{Duration, SystemTime};

use nettool::link::pcap::PcapWriter;
use nettool::sim::Sim;
use nettool::wire::MacAddr;
use nettool::wire::ethernet::{EthernetRepr, HEADER_LEN, Protocol};

/// The sim's datagrams as a pcap file of Ethernet frames, stamped from a
/// fixed epoch so the file is the same on every run.
pub fn of_sim(sim: &Sim) -> Vec<u8> {
    let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    for (at, packet) in sim.sent() {
        let mut frame = vec![0u8; HEADER_LEN + packet.len()];
        EthernetRepr {
            src: MacAddr(2, 0, 0, 0, 0, 1),
            dst: MacAddr(2, 0, 0, 0, 0, 2),
            protocol: Protocol::Ipv4,
        }
        .emit(&mut frame);
        frame[HEADER_LEN..].copy_from_slice(packet);
        w.record(epoch + Duration::from_micros(at.total_micros()), &frame)
            .unwrap();
    }
    w.into_inner().unwrap()
}

/// The records of a little-endian Ethernet pcap file (either timestamp
/// resolution), after its 24-byte header.
pub fn records(bytes: &[u8]) -> Vec<Vec<u8>> {
    let le32 = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    assert!(
        matches!(le32(0), 0xa1b2_c3d4 | 0xa1b2_3c4d) && le32(20) == 1,
        "an Ethernet pcap"
    );
    let mut records = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let len = le32(at + 8);
        records.push(bytes[at + 16..at + 16 + len].to_vec());
        at += 16 + len;
    }
    records
}

/// The frames of a capture file, the client's port 40000 turned into
/// `port` (the reader does not check checksums).
pub fn frames_with_client_port(bytes: &[u8], port: u16) -> Vec<Vec<u8>> {
    let mut frames = records(bytes);
    for frame in &mut frames {
        for off in [34, 36] {
            if frame[off..off + 2] == 40000u16.to_be_bytes() {
                frame[off..off + 2].copy_from_slice(&port.to_be_bytes());
            }
        }
    }
    frames
}
