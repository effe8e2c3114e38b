//! `nettool ladder` as a user meets it: a capture drawn (Unicode or ASCII
//! by the locale), and the errors for files it cannot draw. No network,
//! no privileges.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::{nettool, run};
use rstest::rstest;

const LIMIT: Duration = Duration::from_secs(30);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    root().join(format!("tests/fixtures/ladder/{name}.pcap"))
}

fn golden(name: &str) -> String {
    fs::read_to_string(root().join(format!("tests/golden/ladder/{name}.txt"))).unwrap()
}

fn ladder(args: &[&str], locale: &str) -> common::Ran {
    let mut c = Command::new(nettool());
    c.arg("ladder").args(args);
    c.env_remove("LC_ALL")
        .env_remove("LC_CTYPE")
        .env("LANG", locale);
    run(c, LIMIT)
}

#[rstest]
#[case::utf8_locale("C.UTF-8", &[], "unicode")]
#[case::c_locale("C", &[], "ascii")]
#[case::ascii_asked_for("en_US.UTF-8", &["--ascii"], "ascii")]
fn a_capture_is_drawn_in_the_locales_characters(
    #[case] locale: &str,
    #[case] extra: &[&str],
    #[case] style: &str,
) {
    let file = fixture("active-close");
    let mut args = vec![file.to_str().unwrap()];
    args.extend(extra);
    let r = ladder(&args, locale);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(r.stdout, golden(&format!("active-close.{style}")));
}

/// A file of `records` (each a frame) in classic pcap, as nettool writes it.
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut w = nettool::link::pcap::PcapWriter::new(Vec::new()).unwrap();
    for f in frames {
        w.record(SystemTime::UNIX_EPOCH, f).unwrap();
    }
    w.into_inner().unwrap()
}

/// The handshake fixture's frames, the client's port 40000 turned into
/// `port` (checksums are not checked by the reader).
fn handshake_frames(port: u16) -> Vec<Vec<u8>> {
    common::pcap::frames_with_client_port(&fs::read(fixture("handshake")).unwrap(), port)
}

#[rstest]
#[case::missing(None, &[], "cannot read")]
#[case::not_pcap(Some(b"GET / HTTP/1.0\r\n\r\n plus some more bytes".to_vec()), &[], "not a pcap file")]
#[case::pcapng(Some([0x0a, 0x0d, 0x0d, 0x0a].iter().copied().cycle().take(32).collect()), &[], "pcapng")]
#[case::too_short(Some(vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0]), &[], "shorter than a pcap header")]
#[case::no_tcp(Some(pcap(&[arp_frame()])), &[], "no TCP segment (1 other frames)")]
#[case::ambiguous(Some(two_connections()), &[], "2 TCP connections: choose one with --conn")]
#[case::no_match(Some(two_connections()), &["--conn", "22"], "no TCP connection in the capture matches port 22")]
#[case::raw_ip(Some(raw_link()), &[], "link type 101 is not supported")]
#[case::cut_short(Some(cut_short()), &[], "cut short in record 3")]
fn files_it_cannot_draw_are_refused_with_a_reason(
    #[case] contents: Option<Vec<u8>>,
    #[case] extra: &[&str],
    #[case] want: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capture.pcap");
    if let Some(bytes) = contents {
        fs::write(&path, bytes).unwrap();
    }
    let mut args = vec![path.to_str().unwrap()];
    args.extend(extra);
    let r = ladder(&args, "C");
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(r.stderr.contains(want), "{want:?} not said:\n{}", r.show());
    assert!(r.stdout.is_empty(), "{}", r.show());
}

fn arp_frame() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend([2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    f.extend([0; 28]);
    f
}

fn two_connections() -> Vec<u8> {
    let mut frames = handshake_frames(40000);
    frames.extend(handshake_frames(40001));
    pcap(&frames)
}

/// The listing names both connections, and --conn picks either.
#[test]
fn several_connections_are_listed_and_one_is_picked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.pcap");
    fs::write(&path, two_connections()).unwrap();
    let file = path.to_str().unwrap();
    let r = ladder(&[file], "C");
    for conn in ["10.0.0.1:40000-10.0.0.2:80", "10.0.0.1:40001-10.0.0.2:80"] {
        assert!(r.stderr.contains(conn), "{}", r.show());
    }
    let r = ladder(&[file, "--conn", "40000"], "C");
    assert_eq!(r.code, Some(0), "{}", r.show());
    // (All frames of this file carry one time: the margins differ.)
    assert_eq!(arrows(&r.stdout), arrows(&golden("handshake.ascii")));
    let r = ladder(&[file, "--conn", "10.0.0.2:80-10.0.0.1:40001"], "C");
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stdout.contains("10.0.0.1:40001"), "{}", r.show());
    let r = ladder(&[file, "--conn", "nonsense"], "C");
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(r.stderr.contains("neither a port nor"), "{}", r.show());
}

/// A capture taken with `tcpdump -i any` (Linux cooked, SLL) draws the
/// same ladder as the Ethernet one.
#[test]
fn a_linux_cooked_capture_is_read() {
    let mut bytes = pcap(&[]);
    bytes[20..24].copy_from_slice(&113u32.to_le_bytes());
    for (i, frame) in handshake_frames(40000).into_iter().enumerate() {
        let mut cooked = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
        cooked.extend_from_slice(&frame[14..]);
        bytes.extend((i as u32).to_le_bytes());
        bytes.extend(0u32.to_le_bytes());
        bytes.extend((cooked.len() as u32).to_le_bytes());
        bytes.extend((cooked.len() as u32).to_le_bytes());
        bytes.extend(cooked);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sll.pcap");
    fs::write(&path, bytes).unwrap();
    let r = ladder(&[path.to_str().unwrap()], "C");
    assert_eq!(r.code, Some(0), "{}", r.show());
    // Same arrows and states; the times differ (one second apart here).
    assert_eq!(arrows(&r.stdout), arrows(&golden("handshake.ascii")));
}

fn raw_link() -> Vec<u8> {
    let mut bytes = pcap(&handshake_frames(40000));
    bytes[20..24].copy_from_slice(&101u32.to_le_bytes());
    bytes
}

fn cut_short() -> Vec<u8> {
    let mut bytes = pcap(&handshake_frames(40000));
    bytes.truncate(bytes.len() - 3);
    bytes
}

/// A ladder without its time margin.
fn arrows(s: &str) -> Vec<String> {
    s.lines()
        .map(|l| l.get(10..).unwrap_or_default().to_owned())
        .collect()
}
