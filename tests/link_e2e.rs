//! The AF_PACKET link between two namespaces joined by veth, frame by
//! frame: what the send ring hands the kernel arrives whole and in order,
//! and frames the kernel drops for want of buffer are counted. Each test
//! builds and removes its own namespaces. Needs root.

use std::time::{Duration, Instant};

use nettool::lab::testnet::TwoHosts;
use nettool::link::packet::PacketLink;
use nettool::link::rxring::{BLOCK_TIMEOUT, RingKind};
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

/// Frames handed over together (`send_batch`, one `sendmmsg`), more than
/// one call takes and of every size, reach B whole and in order, with
/// and without the `virtio_net_hdr` in front of each.
#[rstest]
fn batched_frames_arrive_whole_and_in_order(#[values(false, true)] offloading: bool) {
    let hosts = TwoHosts::new(if offloading {
        "batch-vnet"
    } else {
        "batch-plain"
    });
    let m = macs(&hosts);
    let mut rx = receiver(&hosts, 8 << 20);
    let b = hosts.addr_b;
    let mut tx = hosts.run_in_a(move || {
        let index = route::select(b, None, None).unwrap().interface.index;
        if offloading {
            PacketLink::open_offloading(index, Filter::ArpIpv4).unwrap()
        } else {
            PacketLink::open(index, Filter::ArpIpv4).unwrap()
        }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        tx.send(&frame(&m, u32::MAX, 60)).unwrap();
        if !read_ours(&mut rx, 1).is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "veth never passed a frame");
    }
    let sent: Vec<Vec<u8>> = (0..300u32)
        .map(|n| frame(&m, n, 60 + (n as usize * 7) % 1455))
        .collect();
    let mut calls = 0;
    let mut done = 0;
    while done < sent.len() {
        let batch: Vec<&[u8]> = sent[done..].iter().map(Vec::as_slice).collect();
        let n = tx.send_batch(&batch).unwrap();
        assert!(n >= 1 && n <= batch.len(), "{n} of {}", batch.len());
        done += n;
        calls += 1;
    }
    assert!(
        calls < sent.len() / 2,
        "{calls} calls for {} frames",
        sent.len()
    );
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

/// A link in B that reads through a receive ring of `kind` and `bytes`,
/// taking what `filter` lets through, with kernel stamps on each frame.
fn ring_receiver(hosts: &TwoHosts, filter: Filter, kind: RingKind, bytes: usize) -> PacketLink {
    let a = hosts.addr_a;
    hosts.run_in_b(move || {
        let index = route::select(a, None, None).unwrap().interface.index;
        let mut link = PacketLink::open(index, filter).unwrap();
        link.enable_rx_timestamps().unwrap();
        link.enable_rx_ring(kind, bytes).unwrap();
        assert!(link.has_rx_ring());
        link
    })
}

/// Waits until veth passes frames from `tx` to `rx` (a freshly raised
/// link drops them until the kernel has given it a queueing discipline).
fn wait_for_veth(tx: &mut PacketLink, rx: &mut PacketLink, m: &[u8; 12]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        tx.send(&frame(m, u32::MAX, 60)).unwrap();
        if !read_ours(rx, 1).is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "veth never passed a frame");
    }
}

/// Frames of every size, more than a block holds, come out of the
/// receive ring whole and in order, many at a time, each with the
/// kernel's stamp.
#[rstest]
fn the_receive_ring_hands_over_frames_whole_and_in_order(
    #[values(RingKind::Blocks, RingKind::Frames)] kind: RingKind,
) {
    let hosts = TwoHosts::new("rxring-order");
    let m = macs(&hosts);
    let mut rx = ring_receiver(&hosts, Filter::All, kind, 4 << 20);
    let mut tx = ring_sender(&hosts, true);
    wait_for_veth(&mut tx, &mut rx, &m);
    let sent: Vec<Vec<u8>> = (0..1000u32)
        .map(|n| frame(&m, n, 60 + (n as usize * 7) % 1455))
        .collect();
    let before = std::time::SystemTime::now();
    for (i, f) in sent.iter().enumerate() {
        tx.queue(f).unwrap();
        if i % 100 == 99 {
            tx.flush().unwrap();
        }
    }
    tx.flush().unwrap();
    let mut got = Vec::new();
    let mut most_pending = 0;
    let mut last_stamp = before - Duration::from_millis(1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < sent.len() && Instant::now() < deadline {
        let Some(r) = rx.recv(Duration::from_millis(100)).unwrap() else {
            continue;
        };
        if r.frame.get(12..14) != Some(&EXPERIMENTAL[..]) {
            continue;
        }
        let stamp = r.stamp.expect("a stamped frame");
        assert!(stamp >= last_stamp, "stamps go backwards");
        last_stamp = stamp;
        got.push(r.frame.to_vec());
        most_pending = most_pending.max(rx.rx_pending());
    }
    assert_eq!(got.len(), sent.len(), "frames lost");
    for (n, (g, s)) in got.iter().zip(&sent).enumerate() {
        assert_eq!(g, s, "frame {n} differs");
    }
    assert!(most_pending > 10, "frames never came a block at a time");
    assert_eq!(rx.receive_drops(), Some(0));
    assert_eq!(rx.ring_truncated(), 0);
}

/// A lone frame does not wait for its block to fill: the block's timer
/// hands it over within a millisecond or two; the frame ring, at once.
#[rstest]
#[case::blocks(RingKind::Blocks, BLOCK_TIMEOUT * 5)]
#[case::frames(RingKind::Frames, Duration::from_micros(500))]
fn the_receive_ring_hands_over_a_lone_frame_promptly(
    #[case] kind: RingKind,
    #[case] within: Duration,
) {
    let hosts = TwoHosts::new("rxring-lone");
    let m = macs(&hosts);
    let mut rx = ring_receiver(&hosts, Filter::All, kind, 4 << 20);
    let mut tx = ring_sender(&hosts, true);
    wait_for_veth(&mut tx, &mut rx, &m);
    let mut delays = Vec::new();
    for n in 0..20u32 {
        std::thread::sleep(Duration::from_millis(5));
        let t0 = Instant::now();
        tx.send(&frame(&m, n, 100)).unwrap();
        let got = read_ours(&mut rx, 1);
        assert_eq!(got.len(), 1, "a lone frame never came");
        delays.push(t0.elapsed());
    }
    delays.sort();
    let median = delays[delays.len() / 2];
    assert!(
        median < within,
        "a lone frame took {median:?} (median of {delays:?})"
    );
}

/// Frames arriving while the ring is full are dropped and counted,
/// afresh after each reading; the ring reads on after the overflow.
#[rstest]
fn the_receive_ring_counts_the_frames_it_had_no_room_for(
    #[values(RingKind::Blocks, RingKind::Frames)] kind: RingKind,
) {
    let hosts = TwoHosts::new("rxring-drops");
    let m = macs(&hosts);
    // 512 KiB: far less than what is sent unread.
    let mut rx = ring_receiver(&hosts, Filter::All, kind, 512 << 10);
    assert_eq!(rx.receive_drops(), Some(0));
    let mut tx = ring_sender(&hosts, true);
    wait_for_veth(&mut tx, &mut rx, &m);
    for n in 0..20_000u32 {
        tx.queue(&frame(&m, n, 1514)).unwrap();
    }
    tx.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let dropped = rx.receive_drops().unwrap();
    assert!(dropped > 0, "nothing dropped");
    assert!(dropped < 20_000, "{dropped}: not even one frame was kept");
    assert_eq!(rx.receive_drops(), Some(0), "the count starts afresh");
    let kept = read_ours(&mut rx, 20_000);
    assert!(!kept.is_empty(), "the ring kept nothing");
    // What was kept came in order.
    let numbers: Vec<u32> = kept
        .iter()
        .map(|f| u32::from_be_bytes(f[14..18].try_into().unwrap()))
        .collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "out of order");
    // The ring still delivers once read.
    tx.send(&frame(&m, 77_777, 60)).unwrap();
    let after = read_ours(&mut rx, 1);
    assert_eq!(after.len(), 1, "nothing came after the overflow");
}

/// A 64 KiB offload super-frame, far larger than a frame slot (a kernel
/// sender's TSO frames cross veth whole), comes out of the ring whole,
/// its checksum said to be unfinished; and the ring keeps the link's
/// filter (ARP and IPv4 only).
#[rstest]
fn the_receive_ring_hands_over_a_super_frame_whole(
    #[values(RingKind::Blocks, RingKind::Frames)] kind: RingKind,
) {
    let hosts = TwoHosts::new("rxring-super");
    let m = macs(&hosts);
    // The ring reads A's side of a kernel connection from B to A.
    let b = hosts.addr_b;
    let mut rx = hosts.run_in_a(move || {
        let index = route::select(b, None, None).unwrap().interface.index;
        let mut link = PacketLink::open(index, Filter::ArpIpv4).unwrap();
        link.enable_rx_ring(kind, 4 << 20).unwrap();
        assert!(link.has_rx_ring());
        link
    });
    let mut tx = ring_sender(&hosts, true);
    let mut sink = hosts
        .cmd_a("python3")
        .args([
            "-c",
            "import socket,sys\n\
             s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('0.0.0.0', 9)); s.listen(); print('ready', flush=True)\n\
             c,_=s.accept()\n\
             while c.recv(1<<20): pass",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(sink.stdout.take().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(ready.trim(), "ready");
    let a = hosts.addr_a;
    let mut source = hosts
        .cmd_b("python3")
        .args([
            "-c",
            &format!(
                "import socket\ns=socket.create_connection(('{a}', 9))\n\
                 s.sendall(b'x' * (8 << 20)); s.close()"
            ),
        ])
        .spawn()
        .unwrap();
    // Meanwhile, frames the filter must keep out.
    for n in 0..10 {
        tx.send(&frame(&m, n, 60)).unwrap();
    }
    let mut biggest = Vec::new();
    let mut checksum = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while biggest.len() < 60_000 && Instant::now() < deadline {
        let Some(r) = rx.recv(Duration::from_millis(100)).unwrap() else {
            continue;
        };
        assert_ne!(
            r.frame.get(12..14),
            Some(&EXPERIMENTAL[..]),
            "the filter let it in"
        );
        if r.frame.len() > biggest.len() {
            biggest = r.frame.to_vec();
            checksum = Some(r.checksum);
        }
    }
    let _ = source.wait();
    let _ = sink.kill();
    let _ = sink.wait();
    assert!(
        biggest.len() >= 60_000,
        "no super-frame came: the largest was {} bytes",
        biggest.len()
    );
    // Whole: as long as its IPv4 header says, its payload all ours.
    let total = usize::from(u16::from_be_bytes([biggest[16], biggest[17]]));
    assert_eq!(biggest.len(), 14 + total, "the super-frame was cut");
    let ihl = usize::from(biggest[14] & 0x0f) * 4;
    let doff = usize::from(biggest[14 + ihl + 12] >> 4) * 4;
    assert!(
        biggest[14 + ihl + doff..].iter().all(|&c| c == b'x'),
        "the payload differs"
    );
    assert_eq!(checksum, Some(nettool::link::RxChecksum::Partial));
    assert_eq!(rx.ring_truncated(), 0);
}

/// Frames the link's own socket had queued when the ring took over come
/// first, then the ring's: none lost, none out of order.
#[rstest]
fn frames_queued_before_the_ring_took_over_come_first(
    #[values(RingKind::Blocks, RingKind::Frames)] kind: RingKind,
) {
    let hosts = TwoHosts::new("rxring-switch");
    let m = macs(&hosts);
    let mut tx = ring_sender(&hosts, true);
    let mut rx = receiver(&hosts, 1 << 20);
    wait_for_veth(&mut tx, &mut rx, &m);
    for n in 0..5u32 {
        tx.send(&frame(&m, n, 100)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    // In B's namespace, where the ring's socket must be opened.
    let mut rx = hosts.run_in_b(move || {
        rx.enable_rx_ring(kind, 1 << 20).unwrap();
        rx
    });
    assert!(rx.rx_pending() >= 5, "the queued frames are not waiting");
    for n in 5..10u32 {
        tx.send(&frame(&m, n, 100)).unwrap();
    }
    let got = read_ours(&mut rx, 10);
    let numbers: Vec<u32> = got
        .iter()
        .map(|f| u32::from_be_bytes(f[14..18].try_into().unwrap()))
        .collect();
    assert_eq!(numbers, (0..10).collect::<Vec<u32>>());
}
