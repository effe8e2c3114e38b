//! Fidelity: what nettool prints is what went over the wire.
//!
//! Each test captures its own run with tcpdump on A's `eth0` (the veth end
//! nettool sends and receives on) and compares, flow by flow and direction
//! by direction, in order:
//!
//! * nettool's JSON `segment` events (`flags`, `seq`, `ack`, `win`, `len`)
//!   with the TCP headers in the capture file, which this file parses
//!   itself from the raw pcap bytes (so no printed field can hide a
//!   difference): every segment nettool says it sent or received is on the
//!   wire, every segment of the flow on the wire was printed, and a segment
//!   printed as withheld (`"withheld": true`) is not on the wire;
//! * nettool's tcpdump-grammar line with the line `tcpdump -nn -r` prints
//!   for the same packet, from `IP` to `length N`: absolute numbers
//!   (`-S`) against the JSON `line`, relative numbers against nettool's
//!   human output;
//! * the checksums of nettool's frames (IPv4 and TCP, recomputed here):
//!   nettool must fill them itself, unlike the kernel, whose frames on
//!   veth carry partial checksums (offload).
//!
//! The kernel's own RSTs for the flow, which nettool's nft guard drops in
//! the output hook, never reach the veth, so they are not in the capture
//! either: the comparison allows no exception, and the graceful test checks
//! that the guard did drop some (so that claim is exercised, not vacuous).
//!
//! The datagram probes over IPv6 (module `datagram6`) are held to the
//! same: their echo and UDP reply lines are tcpdump's, their probes and
//! ICMPv6 errors the packets on the wire.
//!
//! Needs root, python3 and tcpdump (apt-get install tcpdump).

mod common;

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Capture, Ran, Scratch, nettool, run};
use nettool::lab::testnet::TwoHosts;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(30);
const PORT: u16 = 8080;
const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/tcp_peer.py");
const REQUEST: &str = "GET / HTTP/1.0\\r\\n\\r\\n";

/// One TCP segment as the wire carried it (from the pcap bytes) or as
/// nettool printed it (from its JSON): the fields both must agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seg {
    src: SocketAddrV4,
    dst: SocketAddrV4,
    /// tcpdump's letters: `S`, `S.`, `.`, `P.`, `F.`, `R`, `R.`, ...
    flags: String,
    seq: u32,
    /// Only when the ACK flag is set.
    ack: Option<u32>,
    win: u16,
    len: usize,
}

impl std::fmt::Display for Seg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} > {} [{}] seq {} ack {} win {} len {}",
            self.src,
            self.dst,
            self.flags,
            self.seq,
            self.ack.map_or("-".to_owned(), |a| a.to_string()),
            self.win,
            self.len
        )
    }
}

/// tcpdump's flag letters, in its order `FSRP.UEW`, from the raw flag byte.
fn flag_letters(bits: u8) -> String {
    let s: String = [
        (0x01, 'F'),
        (0x02, 'S'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x10, '.'),
        (0x20, 'U'),
        (0x40, 'E'),
        (0x80, 'W'),
    ]
    .iter()
    .filter(|(bit, _)| bits & bit != 0)
    .map(|&(_, c)| c)
    .collect();
    if s.is_empty() { "none".to_owned() } else { s }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The Internet checksum (RFC 1071) over `parts`, folded; 0 when the data
/// already holds a correct checksum.
fn internet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        for pair in part.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            sum += hi | pair.get(1).map_or(0, |&lo| u32::from(lo));
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The TCP segments of a pcap file (Ethernet link type, IPv4), in capture
/// order, each with whether its IPv4 and TCP checksums are both correct.
/// Parsed from the bytes here, independently of nettool's code.
fn read_pcap(path: &Path) -> Vec<(Seg, bool)> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert!(data.len() >= 24, "{} is not a pcap file", path.display());
    let magic = u32::from_le_bytes(data[0..4].try_into().unwrap());
    assert!(
        magic == 0xa1b2_c3d4 || magic == 0xa1b2_3c4d,
        "{}: unexpected pcap magic {magic:#x}",
        path.display()
    );
    let le32 = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
    assert_eq!(le32(20), 1, "the capture must be Ethernet (DLT_EN10MB)");
    let mut segs = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let (caplen, origlen) = (le32(at + 8) as usize, le32(at + 12) as usize);
        assert_eq!(caplen, origlen, "packet {} truncated", segs.len() + 1);
        let f = &data[at + 16..at + 16 + caplen];
        at += 16 + caplen;
        assert_eq!(be16(f, 12), 0x0800, "not IPv4: {f:02x?}");
        let ip = &f[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        assert_eq!(ip[9], 6, "not TCP");
        let total = usize::from(be16(ip, 2));
        let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let tcp = &ip[ihl..];
        let doff = usize::from(tcp[12] >> 4) * 4;
        let bits = tcp[13];
        let tcp_len = total - ihl;
        let pseudo = [
            &ip[12..20],
            &[0, 6],
            &(tcp_len as u16).to_be_bytes()[..],
            &tcp[..tcp_len],
        ];
        let checksums_ok = internet_checksum(&[&ip[..ihl]]) == 0 && internet_checksum(&pseudo) == 0;
        let seg = Seg {
            src: SocketAddrV4::new(src_ip, be16(tcp, 0)),
            dst: SocketAddrV4::new(dst_ip, be16(tcp, 2)),
            flags: flag_letters(bits),
            seq: be32(tcp, 4),
            ack: (bits & 0x10 != 0).then(|| be32(tcp, 8)),
            win: be16(tcp, 14),
            len: total - ihl - doff,
        };
        segs.push((seg, checksums_ok));
    }
    assert_eq!(at, data.len(), "trailing bytes in {}", path.display());
    segs
}

/// tcpdump's line for one packet, split after `length N`: the TCP summary
/// (`IP a.p > b.q: Flags [...], ..., length N`) and what an application
/// decoder appended (`: HTTP: GET / HTTP/1.0` for port 8080), if anything.
#[derive(Debug, Clone)]
struct DumpLine {
    summary: String,
    decoder: String,
}

/// `tcpdump -nn -tt [-S] -r FILE`, one entry per packet.
fn tcpdump_lines(path: &Path, absolute: bool) -> Vec<DumpLine> {
    let mut cmd = Command::new("tcpdump");
    cmd.args(["-nn", "-tt"]);
    if absolute {
        cmd.arg("-S");
    }
    cmd.arg("-r").arg(path);
    let out = cmd
        .output()
        .expect("tcpdump is needed for this test (apt-get install tcpdump)");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (_ts, rest) = l.split_once(' ').expect("a timestamp, then the packet");
            let at = rest
                .find(", length ")
                .unwrap_or_else(|| panic!("no length in {l:?}"));
            let digits = rest[at + 9..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(rest.len(), |n| at + 9 + n);
            DumpLine {
                summary: rest[..digits].to_owned(),
                decoder: rest[digits..].to_owned(),
            }
        })
        .collect()
}

/// The python3 HTTP peer (`tests/peers/tcp_peer.py http`) in B; killed on drop.
struct Peer(Child);

impl Peer {
    fn start(hosts: &TwoHosts) -> Peer {
        let mut cmd = hosts.cmd_b("python3");
        cmd.args([PEER, "http", &PORT.to_string(), "3000"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("python3 is needed for this test");
        let mut out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut first = [0u8; 6];
            let ok = out.read_exact(&mut first).is_ok() && &first == b"ready\n";
            let _ = tx.send(ok);
            // Keep reading so the peer never blocks on a full pipe.
            let _ = std::io::copy(&mut out, &mut std::io::sink());
        });
        let ok = rx.recv_timeout(Duration::from_secs(10)).unwrap_or(false);
        let peer = Peer(child);
        assert!(ok, "the python3 peer did not start");
        peer
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A namespace pair with the HTTP peer in B and a capture running in A.
struct Lab {
    hosts: TwoHosts,
    scratch: Scratch,
    _peer: Peer,
    capture: Capture,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let hosts = TwoHosts::new(tag);
        let scratch = Scratch::new();
        let peer = Peer::start(&hosts);
        let dir = scratch.cache().parent().unwrap().to_owned();
        let capture = Capture::start(
            &hosts,
            dir.join("flow.pcap"),
            &["tcp", "port", &PORT.to_string()],
        );
        Lab {
            hosts,
            scratch,
            _peer: peer,
            capture,
        }
    }

    fn target(&self) -> String {
        format!("{}:{PORT}", self.hosts.addr_b)
    }

    /// Runs nettool in A; it must exit with `code`.
    fn nettool(&self, args: &[&str], code: i32) -> Ran {
        let mut cmd = self.hosts.cmd_a(nettool());
        let target = self.target();
        cmd.args(args)
            .arg(&target)
            .env("NETTOOL_ARP_CACHE", self.scratch.cache());
        let r = run(cmd, LIMIT);
        assert_eq!(
            r.code,
            Some(code),
            "nettool {args:?} {target}\n{}",
            r.show()
        );
        r
    }

    /// Stops the capture: the segments on the wire, and tcpdump's lines
    /// (absolute or relative numbers) for each of them.
    fn finish(self, absolute: bool) -> Vec<(Seg, DumpLine)> {
        let Lab { capture, hosts, .. } = self;
        let file = capture.stop();
        let segs = read_pcap(&file);
        // nettool computes every checksum of the frames it injects (the
        // kernel's own frames on veth carry partial ones, so only A's).
        for (seg, ok) in &segs {
            assert!(
                *ok || *seg.src.ip() != hosts.addr_a,
                "nettool sent a frame with a bad checksum: {seg}"
            );
        }
        let segs: Vec<Seg> = segs.into_iter().map(|(seg, _)| seg).collect();
        let lines = tcpdump_lines(&file, absolute);
        assert_eq!(
            segs.len(),
            lines.len(),
            "tcpdump printed {} lines for {} packets",
            lines.len(),
            segs.len()
        );
        segs.into_iter().zip(lines).collect()
    }
}

/// What nettool printed for one run: the local endpoint, and its segments
/// with the line it printed for each and whether it says it was sent.
struct Printed {
    local: SocketAddrV4,
    segs: Vec<(Seg, String, bool)>,
    /// The kernel RSTs the guard dropped, from the result.
    rsts_dropped: u64,
}

fn addr(v: &Value) -> SocketAddrV4 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an address: {v}"))
}

/// nettool's `--json` output.
fn parse_json(r: &Ran) -> Printed {
    let mut local = None;
    let mut segs = Vec::new();
    let mut rsts_dropped = 0;
    for line in r.stdout.lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}\n{}", r.show()));
        match v["event"].as_str() {
            Some("start") => local = Some(addr(&v["src"])),
            Some("segment") => {
                let n = |k: &str| {
                    v[k].as_u64()
                        .unwrap_or_else(|| panic!("{k} missing in {line}"))
                };
                let seg = Seg {
                    src: addr(&v["src"]),
                    dst: addr(&v["dst"]),
                    flags: v["flags"].as_str().unwrap().to_owned(),
                    seq: n("seq") as u32,
                    ack: v["ack"].as_u64().map(|a| a as u32),
                    win: n("win") as u16,
                    len: n("len") as usize,
                };
                let sent = !v["withheld"].as_bool().unwrap_or(false);
                let dir = v["dir"].as_str().unwrap();
                let l = local.expect("a start event before the segments");
                let want_dir = if seg.src == l { "out" } else { "in" };
                assert_eq!(dir, want_dir, "direction of {line}");
                segs.push((seg, v["line"].as_str().unwrap().to_owned(), sent));
            }
            Some("result") => rsts_dropped = v["rsts_dropped"].as_u64().unwrap_or(0),
            _ => {}
        }
    }
    Printed {
        local: local.expect("a start event"),
        segs,
        rsts_dropped,
    }
}

/// nettool's human output: the `out`, `in` and `held` lines (without the
/// time, the tag and the withheld remark) and the local endpoint from the
/// header. The segment fields are not parsed back; only lines compare.
fn parse_human(r: &Ran) -> (SocketAddrV4, Vec<(String, String)>) {
    let header = r.stdout.lines().next().expect("a header line");
    let local = header
        .split_once(" from ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no local endpoint in {header:?}"));
    let mut lines = Vec::new();
    for l in r.stdout.lines().skip(2) {
        let mut words = l.trim_start().splitn(2, ' ');
        let (Some(time), Some(rest)) = (words.next(), words.next()) else {
            continue;
        };
        if time.parse::<f64>().is_err() {
            continue; // payload lines
        }
        let rest = rest.trim_start();
        let (tag, text) = rest.split_once(' ').unwrap_or((rest, ""));
        if matches!(tag, "out" | "in" | "held") {
            let text = text.trim_start();
            let text = text
                .strip_suffix("  (ACK withheld: not sent)")
                .unwrap_or(text);
            lines.push((tag.to_owned(), text.to_owned()));
        }
    }
    (local, lines)
}

/// The captured packets of the flow from `local`, split by direction.
fn flow(captured: &[(Seg, DumpLine)], local: SocketAddrV4) -> [Vec<(Seg, DumpLine)>; 2] {
    let mine = |s: &Seg| s.src == local || s.dst == local;
    let out = captured
        .iter()
        .filter(|(s, _)| s.src == local)
        .cloned()
        .collect();
    let inn = captured
        .iter()
        .filter(|(s, _)| s.dst == local)
        .cloned()
        .collect();
    assert!(
        captured.iter().any(|(s, _)| mine(s)),
        "the capture has nothing of the flow from {local}"
    );
    [out, inn]
}

fn listing<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .enumerate()
        .map(|(i, s)| format!("  {i:>2}  {s}\n"))
        .collect()
}

/// The heart of the test: the JSON run's segments against the capture.
/// Returns the mismatching lines as text (empty when all agree), so the
/// caller can report them together.
fn compare_json(what: &str, printed: &Printed, captured: &[(Seg, DumpLine)]) -> String {
    let mut problems = String::new();
    let [wire_out, wire_in] = flow(captured, printed.local);
    for (dir, wire) in [("out", wire_out), ("in", wire_in)] {
        let said: Vec<&(Seg, String, bool)> = printed
            .segs
            .iter()
            .filter(|(s, _, _)| (s.src == printed.local) == (dir == "out"))
            .collect();
        let sent: Vec<Seg> = said
            .iter()
            .filter(|(_, _, sent)| *sent)
            .map(|(s, _, _)| s.clone())
            .collect();
        let on_wire: Vec<Seg> = wire.iter().map(|(s, _)| s.clone()).collect();
        if sent != on_wire {
            problems += &format!(
                "{what}: {dir} segments differ\n nettool printed:\n{} on the wire:\n{}",
                listing(&sent),
                listing(&on_wire)
            );
            continue;
        }
        // A withheld segment must not be on the wire. (Equal lists already
        // imply it unless an identical segment was also sent.)
        for (seg, _, _) in said.iter().filter(|(_, _, sent)| !*sent) {
            let n_said = sent.iter().filter(|s| *s == seg).count();
            let n_wire = on_wire.iter().filter(|s| *s == seg).count();
            if n_wire > n_said {
                problems += &format!("{what}: withheld {seg} is on the wire\n");
            }
        }
        // The tcpdump line for each of them (absolute numbers).
        let lines: Vec<&String> = said
            .iter()
            .filter(|(_, _, sent)| *sent)
            .map(|(_, l, _)| l)
            .collect();
        for (mine, (_, theirs)) in lines.iter().zip(&wire) {
            if **mine != theirs.summary {
                problems += &format!(
                    "{what}: {dir} line differs\n  nettool: {mine}\n  tcpdump: {}\n",
                    theirs.summary
                );
            }
        }
    }
    problems
}

/// Application-decoder output tcpdump appends after `length N` (nettool
/// prints the payload itself, below the line, instead): only HTTP here.
fn check_decoders(captured: &[(Seg, DumpLine)]) {
    for (seg, line) in captured {
        assert!(
            line.decoder.is_empty() || (seg.len > 0 && line.decoder.starts_with(": HTTP")),
            "unexpected text after the length: {} {:?}",
            line.summary,
            line.decoder
        );
    }
}

fn json_run(tag: &str, args: &[&str], code: i32) -> (Printed, Ran, Vec<(Seg, DumpLine)>) {
    let lab = Lab::new(tag);
    let mut all = args.to_vec();
    all.extend_from_slice(&["--json", "-S"]);
    let r = lab.nettool(&all, code);
    let printed = parse_json(&r);
    let captured = lab.finish(true);
    check_decoders(&captured);
    let problems = compare_json(&format!("nettool {args:?}"), &printed, &captured);
    assert!(problems.is_empty(), "{problems}\n{}", r.show());
    (printed, r, captured)
}

fn count_flags(printed: &Printed, dir_out: bool, flags: &str) -> usize {
    printed
        .segs
        .iter()
        .filter(|(s, _, sent)| *sent && (s.src == printed.local) == dir_out && s.flags == flags)
        .count()
}

#[test]
fn a_graceful_handshake_prints_exactly_what_the_wire_carried() {
    let (printed, r, _) = json_run("fid-grace", &["handshake", "--graceful"], 0);
    // SYN, ACK, FIN out; SYN-ACK and the peer's FIN in (its reply data too).
    assert_eq!(count_flags(&printed, true, "S"), 1, "{}", r.show());
    assert_eq!(count_flags(&printed, false, "S."), 1, "{}", r.show());
    assert_eq!(count_flags(&printed, true, "F."), 1, "{}", r.show());
    assert!(count_flags(&printed, false, "F.") >= 1, "{}", r.show());
    // The guard dropped the flow's frames at A's ingress, after the
    // capture's tap (which saw them all: compared above) and before the
    // kernel's TCP, so the kernel built no RST for the output rule to
    // drop, and the capture has no RST at all.
    assert_eq!(
        printed.rsts_dropped,
        0,
        "the kernel saw the flow's frames:\n{}",
        r.show()
    );
    assert!(
        !printed.segs.iter().any(|(s, _, _)| s.flags.contains('R')),
        "{}",
        r.show()
    );
}

#[test]
fn a_passive_close_with_data_prints_exactly_what_the_wire_carried() {
    let (printed, r, captured) =
        json_run("fid-data", &["close", "--passive", "--data", REQUEST], 0);
    let data_out: usize = printed
        .segs
        .iter()
        .filter(|(s, _, _)| s.src == printed.local)
        .map(|(s, _, _)| s.len)
        .sum();
    assert_eq!(data_out, 18, "the request went out\n{}", r.show());
    let data_in: usize = printed
        .segs
        .iter()
        .filter(|(s, _, _)| s.dst == printed.local)
        .map(|(s, _, _)| s.len)
        .sum();
    assert!(data_in > 3000, "the reply came back\n{}", r.show());
    // tcpdump decoded both directions as HTTP; nettool's line stops at
    // the length (it prints the payload itself).
    let decoded = captured
        .iter()
        .filter(|(_, l)| !l.decoder.is_empty())
        .count();
    assert!(decoded >= 2, "{captured:?}");
}

#[test]
fn a_reset_handshake_prints_exactly_what_the_wire_carried() {
    let (printed, r, _) = json_run("fid-rst", &["handshake"], 0);
    // nettool's own RST goes out through AF_PACKET and is on the wire.
    assert_eq!(count_flags(&printed, true, "R"), 1, "{}", r.show());
}

#[test]
fn a_withheld_ack_is_printed_as_held_and_is_not_on_the_wire() {
    let (printed, r, _) = json_run(
        "fid-noack",
        &["handshake", "--no-ack", "--observe", "1500ms"],
        0,
    );
    let held = printed.segs.iter().filter(|(_, _, sent)| !sent).count();
    assert!(held >= 1, "nothing printed as withheld:\n{}", r.show());
    // The server retransmitted its SYN-ACK (after about 1 s).
    assert!(count_flags(&printed, false, "S.") >= 2, "{}", r.show());
}

/// Relative numbers: nettool's human output against `tcpdump -nn -r`.
fn human_run(tag: &str, args: &[&str]) {
    let lab = Lab::new(tag);
    let r = lab.nettool(args, 0);
    let (local, lines) = parse_human(&r);
    let captured = lab.finish(false);
    let [wire_out, wire_in] = flow(&captured, local);
    let mut problems = String::new();
    for (dir, wire) in [("out", wire_out), ("in", wire_in)] {
        let mine: Vec<&String> = lines
            .iter()
            .filter(|(tag, _)| tag == dir)
            .map(|(_, l)| l)
            .collect();
        let theirs: Vec<&String> = wire.iter().map(|(_, l)| &l.summary).collect();
        if mine != theirs {
            problems += &format!(
                "{dir} lines differ\n nettool:\n{} tcpdump:\n{}",
                listing(&mine),
                listing(&theirs)
            );
        }
    }
    assert!(
        problems.is_empty(),
        "nettool {args:?}:\n{problems}\n{}",
        r.show()
    );
}

#[test]
fn relative_numbers_match_tcpdump_for_data_and_close() {
    human_run("fid-rel", &["close", "--passive", "--data", REQUEST]);
}

#[test]
fn relative_numbers_match_tcpdump_for_a_retransmitted_syn_ack() {
    human_run(
        "fid-relsyn",
        &["handshake", "--no-ack", "--observe", "1500ms"],
    );
}

#[test]
fn pcap_flag_letters_follow_tcpdump() {
    let cases = [
        (0x02, "S"),
        (0x12, "S."),
        (0x10, "."),
        (0x18, "P."),
        (0x11, "F."),
        (0x19, "FP."),
        (0x04, "R"),
        (0x14, "R."),
        (0xc2, "SEW"),
        (0x00, "none"),
    ];
    for (bits, want) in cases {
        assert_eq!(flag_letters(bits), want, "{bits:#04x}");
    }
}

#[test]
fn the_checksum_helper_verifies_a_known_header() {
    // An IPv4 header with its checksum (0xb861) in place, from RFC 1071's
    // usual worked example.
    let header = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];
    assert_eq!(internet_checksum(&[&header]), 0);
    let mut bad = header;
    bad[11] ^= 1;
    assert_ne!(internet_checksum(&[&bad]), 0);
}

/// The datagram probes over IPv6: nettool's human lines against
/// `tcpdump -nn -r` of a capture on A's `eth0`. An ICMPv6 echo reply and
/// a UDP reply are printed in tcpdump's grammar (its line after `IP6 `);
/// each echo request on the wire is the probe nettool says it sent (id,
/// seq); each ICMPv6 port unreachable on the wire is the one nettool
/// reports, from the same address. The neighbour discovery around them is
/// not the probes' and is left out.
mod datagram6 {
    use super::*;
    use common::ipv6::{ULA_A, ULA_B, ipv6_hosts};

    /// Runs `args` in A with a capture of ICMPv6 and UDP on A's eth0:
    /// nettool's stdout lines and tcpdump's lines (after `IP6 `), NDP left out.
    fn captured(tag: &str, args: &[&str]) -> (Vec<String>, Vec<String>) {
        let hosts = ipv6_hosts(tag);
        let scratch = Scratch::new();
        let dir = scratch.cache().parent().unwrap().to_owned();
        let capture = Capture::start(&hosts, dir.join("dgram6.pcap"), &["icmp6", "or", "udp"]);
        let mut cmd = hosts.cmd_a(nettool());
        cmd.args(args).env("NETTOOL_ARP_CACHE", scratch.cache());
        let r = run(cmd, LIMIT);
        let file = capture.stop();
        assert_eq!(r.code, Some(0), "nettool {args:?}\n{}", r.show());
        let dumped = tcpdump_lines(&file, true)
            .into_iter()
            .map(|l| {
                l.summary
                    .strip_prefix("IP6 ")
                    .unwrap_or_else(|| panic!("not an IPv6 packet: {}", l.summary))
                    .to_owned()
            })
            .filter(|l| {
                !l.contains("neighbor solicitation") && !l.contains("neighbor advertisement")
            })
            .collect();
        (r.stdout.lines().map(str::to_owned).collect(), dumped)
    }

    /// The line of `printed` that contains `what`, or a failure listing both.
    fn line_with<'a>(printed: &'a [String], dumped: &[String], what: &str) -> &'a str {
        printed
            .iter()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| {
                panic!(
                    "no nettool line with {what:?}\n nettool:\n{} tcpdump:\n{}",
                    listing(printed),
                    listing(dumped)
                )
            })
    }

    #[test]
    fn icmpv6_echo_requests_and_replies_print_what_the_wire_carried() {
        let (printed, dumped) = captured(
            "fid-echo6",
            &[
                "probe",
                "--icmp",
                "-v",
                "-c",
                "3",
                "--interval",
                "50ms",
                "--icmp-id",
                "0x4242",
                "--data-len",
                "56",
                ULA_B,
            ],
        );
        let requests: Vec<&String> = dumped
            .iter()
            .filter(|l| l.contains("ICMP6, echo request"))
            .collect();
        let replies: Vec<&String> = dumped
            .iter()
            .filter(|l| l.contains("ICMP6, echo reply"))
            .collect();
        assert_eq!(
            (requests.len(), replies.len(), dumped.len()),
            (3, 3, 6),
            "tcpdump:\n{}",
            listing(&dumped)
        );
        for (seq, (request, reply)) in (1..).zip(requests.iter().zip(&replies)) {
            assert_eq!(
                request.as_str(),
                format!("{ULA_A} > {ULA_B}: ICMP6, echo request, id 16962, seq {seq}, length 64")
            );
            line_with(
                &printed,
                &dumped,
                &format!("probe {seq}: id 16962, seq {seq}"),
            );
            // The reply's line is tcpdump's, then the probe it answers.
            line_with(
                &printed,
                &dumped,
                &format!("in    {reply}  probe {seq} ttl "),
            );
        }
    }

    #[test]
    fn a_udp_probe_and_its_icmpv6_port_unreachable_print_what_the_wire_carried() {
        let target = format!("[{ULA_B}]:33434");
        let (printed, dumped) = captured(
            "fid-udp6",
            &[
                "probe",
                "--udp",
                "-v",
                "-c",
                "2",
                "--interval",
                "50ms",
                "--data",
                "hello",
                &target,
            ],
        );
        let probes: Vec<&String> = dumped.iter().filter(|l| l.contains(": UDP, ")).collect();
        let errors: Vec<&String> = dumped
            .iter()
            .filter(|l| l.contains("ICMP6, destination unreachable, unreachable port"))
            .collect();
        assert_eq!(
            (probes.len(), errors.len(), dumped.len()),
            (2, 2, 4),
            "tcpdump:\n{}",
            listing(&dumped)
        );
        for (n, (probe, error)) in (1..).zip(probes.iter().zip(&errors)) {
            // "fd00:6e74::1.40000 > fd00:6e74::2.33434: UDP, length 5"
            let (from, _) = probe.split_once(" > ").unwrap();
            let sport = from.rsplit_once('.').unwrap().1;
            assert!(
                probe.ends_with(&format!(" > {ULA_B}.33434: UDP, length 5")),
                "{probe}"
            );
            line_with(
                &printed,
                &dumped,
                &format!("probe {n}: port {sport} > 33434"),
            );
            // "fd00:6e74::2 > fd00:6e74::1: ICMP6, destination unreachable,
            // unreachable port, fd00:6e74::2 udp port 33434, length 61"
            assert!(
                error.starts_with(&format!("{ULA_B} > {ULA_A}: ")),
                "{error}"
            );
            assert!(
                error.contains(&format!("{ULA_B} udp port 33434")),
                "{error}"
            );
            let line = line_with(&printed, &dumped, &format!("probe {n} rtt "));
            assert!(
                line.contains(&format!(
                    "port unreachable (ICMPv6 type 1, code 4) from {ULA_B}"
                )),
                "{line}"
            );
        }
    }
}
