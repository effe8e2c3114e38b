//! The fuzz targets, without libFuzzer: every file of `fuzz/seeds/<target>/`
//! (the seed corpus, and every input that once crashed a target) runs
//! through the target's body, so a plain `cargo test` keeps the parsers,
//! the cache file loader and the TCP engine holding their properties on
//! all of them.
//!
//! The seeds are written by this file from the simulator's own traffic:
//! `NETTOOL_WRITE_SEEDS=1 cargo test --test fuzz_corpus` rewrites them;
//! a plain run checks that the committed ones are current.

mod common;

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use nettool::arp::cache::Cache;
use nettool::cachefile::Caches;
use nettool::sim::{CLIENT, Dir, SERVER, Sim};
use nettool::tcp::{Config, State};
use nettool::wire::arp::ArpRepr;
use nettool::wire::ipv4::{IpProtocol, Ipv4Repr};
use nettool::wire::tcp::{ChecksumMode, TcpOption, TcpRepr};
use rstest::rstest;

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target)
}

fn files(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(seeds_dir(target))
        .unwrap_or_else(|e| panic!("{}: {e}", seeds_dir(target).display()))
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    v.sort();
    v
}

#[rstest]
#[case::wire("wire", targets::wire as fn(&[u8]))]
#[case::cachefile("cachefile", targets::cachefile)]
#[case::tcp_engine("tcp_engine", targets::tcp_engine)]
#[case::iface("iface", targets::iface)]
fn every_seed_keeps_the_properties(#[case] target: &str, #[case] body: fn(&[u8])) {
    let mut files = files(target);
    assert!(files.len() >= 5, "{target}: only {} seeds", files.len());
    if target == "wire" {
        files.extend(pcap_frames());
    }
    for (path, bytes) in files {
        let run = std::panic::catch_unwind(|| body(&bytes));
        assert!(run.is_ok(), "{target} fails on {}", path.display());
    }
}

/// The generated seeds are in the repository, and the corpus stays small.
#[test]
fn seeds_are_current() {
    let seeds = generate();
    if std::env::var_os("NETTOOL_WRITE_SEEDS").is_some() {
        // The tests' captures too, as they are when the seeds are written
        // (the replay above reads the current ones).
        for (path, frame) in pcap_frames() {
            std::fs::write(seeds_dir("wire").join(file_name(&path)), frame).unwrap();
        }
        for ((target, name), bytes) in &seeds {
            std::fs::create_dir_all(seeds_dir(target)).unwrap();
            std::fs::write(seeds_dir(target).join(name), bytes).unwrap();
        }
    }
    let mut total = 0;
    for ((target, name), bytes) in &seeds {
        let path = seeds_dir(target).join(name);
        let on_disk = std::fs::read(&path).unwrap_or_default();
        assert!(
            on_disk == *bytes,
            "{} is stale or missing: NETTOOL_WRITE_SEEDS=1 cargo test --test fuzz_corpus",
            path.display()
        );
        total += bytes.len();
    }
    for target in ["wire", "cachefile", "tcp_engine", "iface"] {
        total += files(target)
            .iter()
            .filter(|(p, _)| !seeds.contains_key(&(target, file_name(p))))
            .map(|(_, b)| b.len())
            .sum::<usize>();
    }
    assert!(total < 1 << 20, "the seed corpus is {total} bytes");
}

/// Every frame of the tests' pcap captures (`tests/fixtures/**.pcap`,
/// Ethernet), each named `pcap-<file>-<n>`.
fn pcap_frames() -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for path in entries.map(|e| e.unwrap().path()) {
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "pcap") {
                let bytes = std::fs::read(&path).unwrap();
                let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                for (n, frame) in common::pcap::records(&bytes).into_iter().enumerate() {
                    out.push((PathBuf::from(format!("pcap-{stem}-{n:02}")), frame));
                }
            }
        }
    }
    out.sort();
    out
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

type Seeds = BTreeMap<(&'static str, String), Vec<u8>>;

fn generate() -> Seeds {
    let mut seeds = Seeds::new();
    wire_seeds(&mut seeds);
    cachefile_seeds(&mut seeds);
    tcp_engine_seeds(&mut seeds);
    iface_seeds(&mut seeds);
    seeds
}

/// Frames of a whole simulated connection (handshake with every option,
/// data both ways, SACK after a loss, FINs), each also as its IPv4
/// datagram and its bare segment; ARP and ICMP frames.
fn wire_seeds(seeds: &mut Seeds) {
    let mut sim = Sim::client_server(7, Config::default());
    let frames: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    for dir in [Dir::AtoB, Dir::BtoA] {
        let (src, dst) = match dir {
            Dir::AtoB => (CLIENT, SERVER),
            Dir::BtoA => (SERVER, CLIENT),
        };
        let frames = frames.clone();
        sim.drop_if(dir, move |seg: &TcpRepr<'_>| {
            let ip = Ipv4Repr::new(*src.ip(), *dst.ip(), IpProtocol::Tcp, 0);
            // Every frame addressed to the wire target's identity, so
            // demux reads them whichever way they went.
            frames
                .borrow_mut()
                .push(seg.to_frame(targets::PEER_MAC, targets::US.mac, &ip));
            false
        });
    }
    // One data segment lost, so that the receiver's ACKs carry SACK
    // blocks.
    let mut data_segments = 0;
    sim.drop_if(Dir::AtoB, move |seg| {
        data_segments += usize::from(!seg.payload.is_empty());
        data_segments == 2 && !seg.payload.is_empty()
    });
    sim.a_mut().app.to_send = vec![b'a'; 5000];
    sim.a_mut().app.close_after_send = true;
    sim.b_mut().app.to_send = vec![b'b'; 300];
    sim.b_mut().app.close_on_eof = true;
    sim.run_until(
        |s| s.a().state() == State::TimeWait && s.b().state() == State::Closed,
        10_000,
    )
    .expect("the seed connection ends");
    let frames = frames.borrow();
    // Distinct shapes only: a handful of each kind is enough.
    let mut kept = 0;
    for (i, frame) in frames.iter().enumerate() {
        if kept >= 16 {
            break;
        }
        let payload = frame.len() - 54;
        let sack = TcpRepr::from_frame(frame, ChecksumMode::Verify)
            .is_ok_and(|(_, _, t)| t.options.iter().any(|o| matches!(o, TcpOption::Sack(_))));
        if payload > 200 && i % 3 != 0 && !sack {
            continue;
        }
        kept += 1;
        seeds.insert(("wire", format!("tcp-frame-{i:02}")), frame.clone());
        seeds.insert(("wire", format!("tcp-ipv4-{i:02}")), frame[14..].to_vec());
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        seeds.insert(
            ("wire", format!("tcp-segment-{i:02}")),
            frame[14 + ihl..].to_vec(),
        );
    }
    let request = ArpRepr::request(
        targets::PEER_MAC,
        Ipv4Addr::new(10, 0, 0, 1),
        targets::US.ip,
    );
    let request_frame = request.to_frame(targets::PEER_MAC, nettool::wire::MacAddr::broadcast());
    seeds.insert(("wire", "arp-request".into()), request_frame.clone());
    seeds.insert(("wire", "arp-packet".into()), request_frame[14..].to_vec());
    let reply = request
        .reply_for(targets::US.mac, targets::US.ip)
        .expect("a request for US");
    seeds.insert(
        ("wire", "arp-reply".into()),
        reply.to_frame(targets::US.mac, targets::PEER_MAC),
    );
    // ICMP errors quoting the first data segment: port unreachable, and a
    // time exceeded that quotes only 8 bytes, as old routers do.
    let quoted = &frames[0][14..];
    for (name, t, code, len) in [
        ("icmp-unreach", 3, 3, quoted.len()),
        ("icmp-ttl", 11, 0, 28),
    ] {
        let frame = icmp_frame(t, code, &quoted[..len]);
        seeds.insert(("wire", format!("{name}-frame")), frame.clone());
        seeds.insert(("wire", format!("{name}-message")), frame[34..].to_vec());
    }
}

fn icmp_frame(t: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    use pnet::packet::icmp::{IcmpPacket, checksum};
    let mut icmp = vec![t, code, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(quoted);
    let sum = checksum(&IcmpPacket::new(&icmp).unwrap());
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let ip = Ipv4Repr::new(
        Ipv4Addr::new(192, 0, 2, 1),
        targets::US.ip,
        IpProtocol::Icmp,
        icmp.len(),
    );
    let mut frame = vec![0u8; 14 + 20 + icmp.len()];
    nettool::wire::ethernet::EthernetRepr {
        src: targets::PEER_MAC,
        dst: targets::US.mac,
        protocol: nettool::wire::ethernet::Protocol::Ipv4,
    }
    .emit(&mut frame);
    ip.emit(&mut frame[14..]);
    frame[34..].copy_from_slice(&icmp);
    frame
}

fn cachefile_seeds(seeds: &mut Seeds) {
    let mut caches = Caches {
        arp: Cache::new(),
        ndp: nettool::ndp::cache::Cache::new(0),
    };
    seeds.insert(("cachefile", "empty".into()), caches.to_bytes());
    let t0 = 1_700_000_000_000;
    for (i, iface) in ["eth0", "veth-lab0", "wlan0"].iter().enumerate() {
        let mac = nettool::wire::MacAddr::new(2, 0, 0, 0, 0, i as u8 + 1);
        let ip = Ipv4Addr::new(10, 0, i as u8, 2);
        caches
            .arp
            .learn(iface, i as u32 + 2, ip, mac, t0, Duration::from_secs(60));
        seeds.insert(
            ("cachefile", format!("entries-{}", i + 1)),
            caches.to_bytes(),
        );
    }
    // IPv6 neighbours beside them: one REACHABLE, then one a router too.
    for (i, (ip, router)) in [("fe80::2", false), ("fd00:6e74::1", true)]
        .into_iter()
        .enumerate()
    {
        let ip = ip.parse().unwrap();
        caches.ndp.solicit(t0, "eth0", 2, ip);
        let flags = nettool::wire::ndp::NaFlags {
            router,
            solicited: true,
            override_: true,
        };
        let mac = nettool::wire::MacAddr::new(2, 0, 0, 0, 6, i as u8 + 1);
        caches
            .ndp
            .handle_advert(t0 + 1, ("eth0", 2), ip, flags, Some(mac), true);
        seeds.insert(
            ("cachefile", format!("neighbors-{}", i + 1)),
            caches.to_bytes(),
        );
    }
    seeds.insert(
        ("cachefile", "not-json".into()),
        b"{\"version\": 1, \"entries\": [".to_vec(),
    );
    seeds.insert(
        ("cachefile", "wrong-version".into()),
        b"{\"version\": 99, \"entries\": []}".to_vec(),
    );
}

/// One input per target state: the state, the knobs, a seed, data each
/// way, then a few operations (a segment at RCV.NXT acknowledging
/// SND.NXT with timestamps, time passing, a read, a close).
fn tcp_engine_seeds(seeds: &mut Seeds) {
    for (i, state) in targets::TARGETS.iter().enumerate() {
        let mut input = vec![i as u8, 0, 0, 0, 0, 7, 0x03, 0xe8, 0x01, 0x2c];
        // Segment: seq at RCV.NXT, ACK of SND.NXT, flags ACK|PSH, window
        // 1024, timestamps near the peer's, 100 bytes of payload.
        input.extend_from_slice(&[0, 0x0f, 0x18, 0x04, 0x00, 0x08, 1, 0, 0, 0, 0, 0x00, 0x64]);
        // Time: 200 ms; a read of 4096 bytes; a close; a FIN+ACK segment.
        input.extend_from_slice(&[4, 0x00, 0xc8, 6, 0x10, 0x00, 7, 1]);
        input.extend_from_slice(&[0, 0x0f, 0x11, 0x04, 0x00, 0x00, 0x00, 0x00]);
        // Every timer due, twice.
        input.extend_from_slice(&[7, 3, 7, 3]);
        seeds.insert(("tcp_engine", format!("{state:?}").to_lowercase()), input);
    }
}

/// The transfer alone, then with one frame of each kind (raw bytes, an
/// IPv4 datagram, TCP segments from another flow and to the listener, an
/// ICMP error), then all of them.
fn iface_seeds(seeds: &mut Seeds) {
    let head = [0x10, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00];
    let frames: [(&str, Vec<u8>); 5] = [
        ("raw", vec![5, 0, 4, 0xde, 0xad, 0xbe, 0xef]),
        ("ipv4", vec![10, 1, 17, 3, 1, 2, 3]),
        // From port 1234 of the client's address: SYN to the listener.
        (
            "tcp-syn",
            vec![20, 0x22, 0x04, 0xd2, 0, 0, 0, 0, 9, 0x02, 0xff, 0xff, 0],
        ),
        // From 10.0.0.9: a RST with an ACK of the server's ISS + 1.
        (
            "tcp-rst",
            vec![20, 0x12, 9, 1, 0, 0, 0, 7, 0x04, 0x10, 0x00, 0],
        ),
        (
            "icmp",
            vec![30, 3, 1, 3, 9, 0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1],
        ),
    ];
    seeds.insert(("iface", "transfer-only".into()), head.to_vec());
    let mut all = head.to_vec();
    for (name, frame) in &frames {
        let mut input = head.to_vec();
        input.extend_from_slice(frame);
        seeds.insert(("iface", format!("with-{name}")), input);
        all.extend_from_slice(frame);
    }
    seeds.insert(("iface", "with-all".into()), all);
}

/// The TCP engine target reaches the state its first byte names, for
/// every state (else its fuzzing would not cover them all).
#[test]
fn tcp_engine_reaches_every_state() {
    for (i, state) in targets::TARGETS.iter().enumerate() {
        for knobs in [0u8, 1, 0x3f] {
            let reached = targets::reached_state(&[i as u8, knobs, 0, 0, 0, 5, 0, 0, 0, 0]);
            assert_eq!(reached, *state, "knobs {knobs:#x}");
        }
    }
}
