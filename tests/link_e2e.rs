//! The AF_PACKET link between two namespaces joined by veth, frame by
//! frame: what the send ring hands the kernel arrives whole and in order,
//! and frames the kernel drops for want of buffer are counted. Each test
//! builds and removes its own namespaces. Needs root.

use std::time::{Duration, Instant};

use nettool::lab::testnet::TwoHosts;
use nettool::link::packet::PacketLink;
use nettool::link::{Filter, Link};
use nettool::route;
use rstest::rstest;

/// The local experimental EtherType: no kernel protocol takes these
/// frames, so only packet sockets see them.
const EXPERIMENTAL: [u8; 2] = [0x88, 0xb5];

/// A's and B's MAC addresses, in the order a frame from A to B carries
/// them (asked once: each asks the kernel).
fn macs(hosts: &TwoHosts) -> [u8; 12] {
    let mut m = [0; 12];
    m[..6].copy_from_slice(&hosts.mac_b().octets());
    m[6..].copy_from_slice(&hosts.mac_a().octets());
    m
}

/// Frame `n` from A to B: `n` in its first payload bytes, then filler up
/// to `len` bytes in all.
fn frame(macs: &[u8; 12], n: u32, len: usize) -> Vec<u8> {
    let mut f = macs.to_vec();
    f.extend_from_slice(&EXPERIMENTAL);
    f.extend_from_slice(&n.to_be_bytes());
    f.extend((0..len.saturating_sub(f.len())).map(|i| (i as u32 ^ n) as u8));
    f
}

/// A link in B that sees every frame (ours have no IPv4 or ARP in them),
/// with a receive buffer of `buffer` bytes (the kernel's default if 0).
fn receiver(hosts: &TwoHosts, buffer: usize) -> PacketLink {
    let a = hosts.addr_a;
    hosts.run_in_b(move || {
        let index = route::select(a, None, None).unwrap().interface.index;
        let mut link = PacketLink::open(index, Filter::All).unwrap();
        if buffer > 0 {
            link.grow_receive_buffer(buffer).unwrap();
        }
        link
    })
}

/// A's link, opened the way a flood opens it.
fn ring_sender(hosts: &TwoHosts, offloading: bool) -> PacketLink {
    let b = hosts.addr_b;
    hosts.run_in_a(move || {
        let index = route::select(b, None, None).unwrap().interface.index;
        let mut link = if offloading {
            PacketLink::open_offloading(index, Filter::ArpIpv4).unwrap()
        } else {
            PacketLink::open(index, Filter::ArpIpv4).unwrap()
        };
        link.enable_tx_ring(1514, 64).unwrap();
        link
    })
}

/// Reads B's frames of our EtherType until `want` arrived or 5 s passed.
fn read_ours(rx: &mut PacketLink, want: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < want && Instant::now() < deadline {
        if let Some(r) = rx.recv(Duration::from_millis(100)).unwrap()
            && r.frame.get(12..14) == Some(&EXPERIMENTAL[..])
        {
            got.push(r.frame.to_vec());
        }
    }
    got
}

/// Frames queued into the ring, more than it holds between flushes and
/// of every size, reach B whole and in order, with and without the
/// `virtio_net_hdr` the ring prefers.
#[rstest]
fn ring_frames_arrive_whole_and_in_order(#[values(false, true)] offloading: bool) {
    let hosts = TwoHosts::new(if offloading {
        "ring-vnet"
    } else {
        "ring-plain"
    });
    let m = macs(&hosts);
    // Room for every frame: B reads only once all were sent.
    let mut rx = receiver(&hosts, 8 << 20);
    let mut tx = ring_sender(&hosts, offloading);
    // Wait until veth passes frames: a freshly raised link drops them
    // until the kernel has given it a queueing discipline.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        tx.send(&frame(&m, u32::MAX, 60)).unwrap();
        if !read_ours(&mut rx, 1).is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "veth never passed a frame");
    }
    let sent: Vec<Vec<u8>> = (0..500u32)
        .map(|n| frame(&m, n, 60 + (n as usize * 7) % 1455))
        .collect();
    for (i, f) in sent.iter().enumerate() {
        tx.queue(f).unwrap();
        if i % 50 == 49 {
            tx.flush().unwrap();
        }
    }
    tx.flush().unwrap();
    let got = read_ours(&mut rx, sent.len());
    assert_eq!(got.len(), sent.len(), "frames lost");
    for (n, (g, s)) in got.iter().zip(&sent).enumerate() {
        assert_eq!(g, s, "frame {n} differs");
    }
}

/// A frame longer than the interface allows is refused with a clear
/// error, not sent and not silently lost.
#[test]
fn the_ring_refuses_a_frame_over_the_mtu() {
    let hosts = TwoHosts::new("ring-mtu");
    let b = hosts.addr_b;
    let big = frame(&macs(&hosts), 1, 3000);
    hosts.run_in_a(move || {
        let index = route::select(b, None, None).unwrap().interface.index;
        let mut link = PacketLink::open_offloading(index, Filter::ArpIpv4).unwrap();
        link.enable_tx_ring(1514, 8).unwrap();
        let err = link.send(&big).unwrap_err();
        assert!(err.to_string().contains("MTU"), "{err}");
        let err = link.send(&big[..10]).unwrap_err();
        assert!(err.to_string().contains("no Ethernet header"), "{err}");
        // Refusals leave the ring usable.
        link.send(&big[..60]).unwrap();
    });
}

/// Frames arriving faster than they are read overflow the socket's
/// buffer; the link counts what the kernel dropped, and counts afresh
/// after each reading.
#[test]
fn frames_dropped_for_want_of_buffer_are_counted() {
    let hosts = TwoHosts::new("link-drops");
    let m = macs(&hosts);
    let mut rx = receiver(&hosts, 0);
    assert_eq!(rx.receive_drops(), Some(0));
    let mut tx = ring_sender(&hosts, true);
    // Unread, 20,000 full frames (30 MB) cannot all fit the default buffer.
    for n in 0..20_000u32 {
        tx.queue(&frame(&m, n, 1514)).unwrap();
    }
    tx.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let dropped = rx.receive_drops().unwrap();
    assert!(dropped > 0, "nothing dropped");
    assert!(dropped < 20_000, "{dropped}: not even one frame was kept");
    assert_eq!(rx.receive_drops(), Some(0), "the count starts afresh");
}
