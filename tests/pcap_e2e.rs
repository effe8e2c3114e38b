//! `--pcap FILE`: the file nettool writes shows what went over the wire.
//!
//! Each test runs nettool in namespace A with `--pcap`, captures the same
//! run with tcpdump on the peer's side (B's `eth0`, or `lo` for loopback),
//! and compares what `tcpdump -nn -S -r` lists for the two files,
//! direction by direction and in order (two captures taken at the two ends
//! of a link may interleave the directions differently, never reorder one
//! direction). The count of segments nettool printed must match too.
//!
//! Needs root, python3 and tcpdump.

mod common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Capture, Ran, Scratch, Server, nettool, nft_load, run, run_with_input};
use nettool::lab::testnet::TwoHosts;

const LIMIT: Duration = Duration::from_secs(30);

/// `tcpdump -nn -S -r FILE FILTER…`: one line per packet, without its
/// time stamp. Fails on any complaint (a truncated record included).
fn listing(file: &Path, filter: &[&str]) -> Vec<String> {
    let out = Command::new("tcpdump")
        .args(["-nn", "-S", "-r"])
        .arg(file)
        .args(filter)
        .output()
        .expect("tcpdump is needed for this test (apt-get install tcpdump)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tcpdump -r {}: {stderr}",
        file.display()
    );
    assert!(
        !stderr.contains("truncated") && !stderr.contains("warning"),
        "tcpdump -r {}: {stderr}",
        file.display()
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            l.split_once(' ')
                .expect("a time stamp, then the packet")
                .1
                .to_owned()
        })
        .collect()
}

/// The lines of packets from `src`, and the others, each in order.
fn split(lines: &[String], src: Ipv4Addr) -> (Vec<String>, Vec<String>) {
    let from = format!("IP {src}.");
    lines.iter().cloned().partition(|l| l.starts_with(&from))
}

/// A namespace pair, a tcpdump on the peer's side, and nettool's file.
struct Setup {
    hosts: TwoHosts,
    scratch: Scratch,
    peer_view: Option<Capture>,
    file: PathBuf,
}

impl Setup {
    /// `capture`: tcpdump's options and filter on the peer's side.
    fn new(tag: &str, capture: &[&str]) -> Setup {
        let hosts = TwoHosts::new(tag);
        let scratch = Scratch::new();
        let dir = scratch.cache().parent().unwrap().to_owned();
        let peer_view = Capture::start_in_b(&hosts, dir.join("peer.pcap"), capture);
        Setup {
            hosts,
            scratch,
            peer_view: Some(peer_view),
            file: dir.join("nettool.pcap"),
        }
    }

    fn nettool(&self, args: &[&str], input: Option<&[u8]>) -> Ran {
        let mut cmd = self.hosts.cmd_a(nettool());
        cmd.args(args)
            .arg("--pcap")
            .arg(&self.file)
            .env("NETTOOL_ARP_CACHE", self.scratch.cache());
        run_with_input(cmd, input.map(<[u8]>::to_vec), LIMIT)
    }

    /// Stops the peer's capture and compares the two listings under
    /// `filter`; returns nettool's.
    fn compare(&mut self, filter: &[&str]) -> Vec<String> {
        self.compare_as(filter, Received::All)
    }

    fn compare_as(&mut self, filter: &[&str], received: Received) -> Vec<String> {
        let peer_file = self.peer_view.take().expect("compared once").stop();
        let mine = listing(&self.file, filter);
        let theirs = listing(&peer_file, filter);
        let (mine_out, mine_in) = split(&mine, self.hosts.addr_a);
        let (theirs_out, theirs_in) = split(&theirs, self.hosts.addr_a);
        same("what A sent", &mine_out, &theirs_out);
        match received {
            Received::All => same("what A received", &mine_in, &theirs_in),
            Received::Prefix => same(
                "what A received before it stopped",
                &mine_in,
                &theirs_in[..mine_in.len().min(theirs_in.len())],
            ),
        }
        assert!(!mine.is_empty(), "nothing captured");
        mine
    }
}

/// How much of what the peer sent nettool must have received.
enum Received {
    All,
    /// What arrived before nettool stopped reading (an interrupted run).
    Prefix,
}

/// Equal listings, or the first difference (not thousands of lines).
fn same(what: &str, mine: &[String], theirs: &[String]) {
    if mine == theirs {
        return;
    }
    let at = mine.iter().zip(theirs).take_while(|(a, b)| a == b).count();
    panic!(
        "nettool's file and the peer's capture differ on {what}: {} and {} packets, \
         first difference at {at}:\n  nettool: {:?}\n  peer:    {:?}",
        mine.len(),
        theirs.len(),
        mine.get(at),
        theirs.get(at)
    );
}

/// Segments nettool's JSON says went over the wire (either way).
fn segments_printed(r: &Ran) -> usize {
    r.json_lines()
        .iter()
        .filter(|v| v["event"] == "segment" && v["withheld"] != true)
        .count()
}

const HTTP: u16 = 8080;

fn http_peer(hosts: &TwoHosts) -> Server {
    Server::start(hosts, "http", HTTP, 3000)
}

#[test]
fn a_handshake_file_lists_what_the_peer_saw_and_what_nettool_printed() {
    let filter = ["tcp", "port", "8080"];
    let mut s = Setup::new("pcap-hs", &filter);
    let _peer = http_peer(&s.hosts);
    let target = format!("{}:{HTTP}", s.hosts.addr_b);
    let r = s.nettool(&["handshake", "--graceful", "--json", &target], None);
    assert_eq!(r.code, Some(0), "{}", r.show());
    let printed = segments_printed(&r);
    let listed = s.compare(&filter);
    assert_eq!(listed.len(), printed, "{listed:#?}\n{}", r.show());
    assert!(listed[0].contains("Flags [S]"), "{listed:#?}");
}

/// A withheld ACK is printed (as withheld) but never on the wire, so the
/// file does not hold it.
#[test]
fn a_file_leaves_out_the_ack_nettool_withheld() {
    let filter = ["tcp", "port", "8080"];
    let mut s = Setup::new("pcap-no-ack", &filter);
    let _peer = http_peer(&s.hosts);
    let target = format!("{}:{HTTP}", s.hosts.addr_b);
    let r = s.nettool(
        &[
            "handshake",
            "--no-ack",
            "--observe",
            "1500ms",
            "--json",
            &target,
        ],
        None,
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    let withheld = r
        .json_lines()
        .iter()
        .filter(|v| v["event"] == "segment" && v["withheld"] == true)
        .count();
    assert!(withheld >= 1, "nothing printed as withheld:\n{}", r.show());
    let printed = segments_printed(&r);
    let listed = s.compare(&filter);
    assert_eq!(listed.len(), printed, "{listed:#?}\n{}", r.show());
}

#[test]
fn a_close_file_lists_what_the_peer_saw_and_what_nettool_printed() {
    let filter = ["tcp", "port", "8080"];
    let mut s = Setup::new("pcap-close", &filter);
    let _peer = http_peer(&s.hosts);
    let target = format!("{}:{HTTP}", s.hosts.addr_b);
    let r = s.nettool(
        &[
            "close",
            "--passive",
            "--data",
            "GET / HTTP/1.0\\r\\n\\r\\n",
            "--json",
            &target,
        ],
        None,
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    let printed = segments_printed(&r);
    let listed = s.compare(&filter);
    assert_eq!(listed.len(), printed, "{listed:#?}\n{}", r.show());
    assert!(
        listed.iter().any(|l| l.contains("Flags [F.]")),
        "{listed:#?}"
    );
    // The next hop was resolved by ARP first, through another link of
    // the same run: its request and reply are in the same file, first.
    let all = listing(&s.file, &[]);
    assert!(all[0].starts_with("ARP, Request"), "{all:#?}");
    assert!(all[1].starts_with("ARP, Reply"), "{all:#?}");
}

#[test]
fn an_nc_transfer_file_lists_what_the_peer_saw_and_what_nettool_traced() {
    let filter = ["tcp", "port", "7"];
    // Super-frames of up to 64 KiB each fill tcpdump's default 2 MiB
    // buffer in a few dozen packets.
    let mut s = Setup::new("pcap-nc", &[&["-B", "65536"][..], &filter].concat());
    let mut server = Server::start(&s.hosts, "echo", 7, 0);
    // Text, so that stdout (read as UTF-8) compares byte for byte.
    let data: Vec<u8> = (0..6000)
        .flat_map(|i| format!("line {i:05} of the pcap transfer test\n").into_bytes())
        .collect();
    let b = s.hosts.addr_b.to_string();
    let r = s.nettool(&["nc", "--trace", &b, "7"], Some(&data));
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(r.stdout.as_bytes(), data, "the echo came back whole");
    server.wait_for("eof", Duration::from_secs(5));
    let traced = r.stderr.lines().filter(|l| l.contains("Flags [")).count();
    let listed = s.compare(&filter);
    assert_eq!(listed.len(), traced, "{}", r.stderr);
    // nettool's bulk data left as super-frames for the kernel to segment,
    // and the file holds them as the wire (veth) carried them.
    let longest = split(&listed, s.hosts.addr_a)
        .0
        .iter()
        .filter_map(|l| l.rsplit_once("length ")?.1.parse::<usize>().ok())
        .max()
        .unwrap();
    assert!(longest > 1500, "longest frame from A: {longest}");
}

#[test]
fn a_scan_file_lists_what_the_peer_saw_and_every_probe_nettool_counted() {
    let filter = ["tcp", "portrange", "21001-21020"];
    let mut s = Setup::new("pcap-scan", &filter);
    let script = "import socket, time\n\
                  s = socket.socket(); s.bind(('0.0.0.0', 21007)); s.listen(8)\n\
                  print('ready', flush=True)\n\
                  time.sleep(60)\n";
    let mut cmd = s.hosts.cmd_b("python3");
    cmd.args(["-c", script]);
    let mut listener = Server::spawn(cmd);
    listener.wait_for("ready", Duration::from_secs(10));
    let b = s.hosts.addr_b.to_string();
    let r = s.nettool(
        &["scan", "--json", "--timeout", "200ms", &b, "21001-21020"],
        None,
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    let lines = r.json_lines();
    let summary = lines
        .iter()
        .find(|v| v["event"] == "result")
        .unwrap_or_else(|| panic!("no result\n{}", r.show()));
    let listed = s.compare(&filter);
    let syns = listed.iter().filter(|l| l.contains("Flags [S],")).count();
    assert_eq!(Some(syns as u64), summary["sent"].as_u64(), "{listed:#?}");
    // One SYN-ACK from the open port, 19 RSTs from the closed ones.
    assert_eq!(
        listed.iter().filter(|l| l.contains("Flags [S.]")).count(),
        1
    );
    assert_eq!(
        listed.iter().filter(|l| l.contains("Flags [R.]")).count(),
        19,
        "{listed:#?}"
    );
}

#[test]
fn an_arp_file_holds_the_request_and_the_reply_with_nanosecond_stamps() {
    let mut s = Setup::new("pcap-arp", &["arp"]);
    let b = s.hosts.addr_b.to_string();
    let r = s.nettool(&["arp", "--no-cache", &b], None);
    assert_eq!(r.code, Some(0), "{}", r.show());
    let listed = s.compare(&["arp"]);
    assert_eq!(listed.len(), 2, "{listed:#?}");
    assert!(listed[0].starts_with(&format!("ARP, Request who-has {b}")));
    assert!(listed[1].starts_with(&format!("ARP, Reply {b} is-at")));
    // Nanosecond stamps: tcpdump reads nine digits of fraction back.
    let out = Command::new("tcpdump")
        .args(["-tt", "--time-stamp-precision=nano", "-r"])
        .arg(&s.file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let stamp = text.split_whitespace().next().unwrap();
    let (_, frac) = stamp.split_once('.').unwrap();
    assert_eq!(frac.len(), 9, "{text}");
}

#[test]
fn loopback_frames_are_written_as_lo_shows_them() {
    let hosts = TwoHosts::new("pcap-lo");
    let scratch = Scratch::new();
    let dir = scratch.cache().parent().unwrap().to_owned();
    let mut cmd = hosts.cmd_a("python3");
    cmd.args([common::PEER, "echo", "7007", "0"]);
    let mut server = Server::spawn(cmd);
    server.wait_for("ready", Duration::from_secs(10));
    let filter = ["tcp", "port", "7007"];
    let lo_view = Capture::start_with(hosts.cmd_a("tcpdump"), "lo", dir.join("lo.pcap"), &filter);
    let file = dir.join("nettool.pcap");
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["nc", "--trace", "127.0.0.1", "7007", "--pcap"])
        .arg(&file)
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    let r = run_with_input(cmd, Some(b"over lo\n".to_vec()), LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.show());
    server.wait_for("eof", Duration::from_secs(5));
    let theirs = listing(&lo_view.stop(), &filter);
    let mine = listing(&file, &filter);
    // Each segment once, as tcpdump -i lo shows it; each direction in
    // order (nettool reads a segment a moment after lo carried it).
    let from_peer = |l: &String| l.starts_with("IP 127.0.0.1.7007 >");
    let (mine_in, mine_out): (Vec<_>, Vec<_>) = mine.iter().cloned().partition(from_peer);
    let (theirs_in, theirs_out): (Vec<_>, Vec<_>) = theirs.iter().cloned().partition(from_peer);
    assert_eq!(mine_out, theirs_out);
    assert_eq!(mine_in, theirs_in);
    let traced = r.stderr.lines().filter(|l| l.contains("Flags [")).count();
    assert_eq!(mine.len(), traced, "{}", r.stderr);
    // The all-zero Ethernet header lo gives every frame.
    let out = Command::new("tcpdump")
        .args(["-e", "-nn", "-c", "1", "-r"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("00:00:00:00:00:00 > 00:00:00:00:00:00, ethertype IPv4"),
        "{text}"
    );
}

#[test]
fn an_unwritable_capture_file_is_a_local_error_naming_it() {
    let hosts = TwoHosts::new("pcap-err");
    let scratch = Scratch::new();
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["arp", "--no-cache", "--pcap", "/nonexistent/x.pcap"])
        .arg(hosts.addr_b.to_string())
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    let r = run(cmd, LIMIT);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(
        r.stderr.contains("/nonexistent/x.pcap") && r.stderr.contains("No such file"),
        "{}",
        r.show()
    );
    // A disk that fills mid-run: /dev/full refuses the header already.
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["arp", "--no-cache", "--pcap", "/dev/full"])
        .arg(hosts.addr_b.to_string())
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    let r = run(cmd, LIMIT);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(r.stderr.contains("No space left"), "{}", r.show());
}

/// The flood sends through a ring: a frame is in the file once a flush
/// handed it to the kernel, and every probe nettool counts is there. (A
/// tcpdump on the peer's side drops frames of a flood on a busy machine:
/// B's firewall counts them instead.)
#[test]
fn a_flood_file_holds_every_probe_sent_and_every_answer() {
    let hosts = TwoHosts::new("pcap-flood");
    let scratch = Scratch::new();
    nft_load(
        hosts.cmd_b("nft"),
        "table inet c {\n counter syn {}\n chain in {\n type filter hook input priority 0;\n \
         tcp dport 81 tcp flags syn counter name syn\n }\n}\n",
    );
    let file = scratch.cache().with_file_name("flood.pcap");
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["probe", "--flood", "--json", "-c", "5000"])
        .arg(format!("{}:81", hosts.addr_b))
        .arg("--pcap")
        .arg(&file)
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    let r = run(cmd, LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.show());
    let lines = r.json_lines();
    let summary = lines.iter().find(|v| v["event"] == "result").unwrap();
    assert_eq!(summary["sent"].as_u64(), Some(5000), "{}", r.show());
    let mut nft = hosts.cmd_b("nft");
    nft.args(["list", "counter", "inet", "c", "syn"]);
    assert_eq!(
        common::nft_packets(&common::sh(nft)),
        5000,
        "B got every SYN"
    );
    let listed = listing(&file, &["tcp", "port", "81"]);
    let syns = listed.iter().filter(|l| l.contains("Flags [S],")).count();
    let rsts = listed.iter().filter(|l| l.contains("Flags [R.]")).count();
    assert_eq!((syns, rsts), (5000, 5000));
}

/// Ctrl-C in the middle of a flood through a slow link: the probes taken
/// back from the ring never left and are not in the file; those that
/// left are, each once, and the file ends on a whole record.
#[test]
fn an_interrupted_flood_file_holds_exactly_what_left() {
    let filter = ["tcp", "port", "81"];
    let mut s = Setup::new("pcap-flint", &[&["-B", "65536"][..], &filter].concat());
    let mut tc = s.hosts.cmd_a("tc");
    tc.args([
        "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "1mbit",
    ])
    .args(["burst", "3000", "limit", "20000"]);
    common::sh(tc);
    let t = format!("{}:81", s.hosts.addr_b);
    let mut cmd = s.hosts.cmd_a("timeout");
    cmd.args(["--preserve-status", "-s", "INT", "1", nettool()])
        .args(["probe", "--flood", "--json", &t, "--pcap"])
        .arg(&s.file)
        .env("NETTOOL_ARP_CACHE", s.scratch.cache());
    let r = run(cmd, LIMIT);
    let lines = r.json_lines();
    // Ctrl-C ends a probe as ping: the code says whether answers came.
    let answered = lines.iter().find(|v| v["event"] == "result").unwrap()["answered"]
        .as_u64()
        .unwrap();
    assert_eq!(
        r.code,
        Some(if answered > 0 { 0 } else { 1 }),
        "{}",
        r.show()
    );
    let sent = lines.iter().find(|v| v["event"] == "result").unwrap()["sent"]
        .as_u64()
        .unwrap();
    // A's queue (at most 20 kB) drains at 1 Mbit/s within 0.2 s.
    std::thread::sleep(Duration::from_millis(500));
    // Answers to the last probes come after nettool stopped reading.
    let listed = s.compare_as(&filter, Received::Prefix);
    let syns = listed.iter().filter(|l| l.contains("Flags [S],")).count();
    assert_eq!(syns as u64, sent, "{}", r.show());
}

/// `trace`: every probe, every ICMP time-exceeded and the destination's
/// answers are in the file, as many as nettool reported.
#[test]
fn a_trace_file_holds_every_probe_and_every_answer_nettool_reported() {
    let net = nettool::lab::routed::Routed::new("pcap-trace");
    let scratch = Scratch::new();
    let mut cmd = net.cmd_b("python3");
    cmd.args([common::PEER, "hold", "8080"]);
    let mut server = Server::spawn(cmd);
    server.wait_for("ready", Duration::from_secs(10));
    let file = scratch.cache().with_file_name("trace.pcap");
    let mut cmd = net.cmd_a(nettool());
    cmd.args(["trace", "--json", "-w", "2s"])
        .arg(format!("{}:8080", net.addr_b))
        .arg("--pcap")
        .arg(&file)
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    let r = run(cmd, Duration::from_secs(60));
    assert_eq!(r.code, Some(0), "{}", r.show());
    let events = r.json_lines();
    let probes = events.iter().filter(|v| v["event"] == "hop").count();
    let exceeded = events
        .iter()
        .filter(|v| v["event"] == "hop" && v["answer"] == "time-exceeded")
        .count();
    let opened = events
        .iter()
        .filter(|v| v["event"] == "hop" && v["answer"] == "open")
        .count();
    assert_eq!((probes, exceeded, opened), (9, 6, 3), "{}", r.show());
    let listed = listing(&file, &["tcp", "or", "icmp"]);
    let count = |what: &str| listed.iter().filter(|l| l.contains(what)).count();
    assert_eq!(count("Flags [S],"), probes, "{listed:#?}");
    assert_eq!(count("time exceeded in-transit"), exceeded, "{listed:#?}");
    assert_eq!(count("Flags [S.]"), opened, "{listed:#?}");
    assert_eq!(
        count("Flags [R]"),
        opened,
        "each SYN-ACK reset: {listed:#?}"
    );
}

/// A file that stops growing mid-run (here a file size limit, as a full
/// disk would): nettool stops, exits 2 naming the file and how many
/// frames it holds, and the file ends on a whole record.
#[test]
fn a_capture_that_cannot_grow_ends_the_run_on_a_whole_record() {
    let hosts = TwoHosts::new("pcap-full");
    let scratch = Scratch::new();
    let mut server = Server::start(&hosts, "echo", 7, 0);
    let file = scratch.cache().with_file_name("full.pcap");
    // SIGXFSZ ignored (as it stays across exec): the write fails with
    // EFBIG instead of killing nettool. bash counts -f in KiB.
    let script = format!(
        "trap '' XFSZ; ulimit -f 16; exec {} nc {} 7 --pcap {}",
        nettool(),
        hosts.addr_b,
        file.display()
    );
    let mut cmd = hosts.cmd_a("bash");
    cmd.args(["-c", &script])
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    let data = vec![b'x'; 1 << 20];
    let r = run_with_input(cmd, Some(data), LIMIT);
    assert_eq!(r.code, Some(2), "{}", r.show());
    let said = r
        .stderr
        .lines()
        .find(|l| l.contains("writing the capture file"))
        .unwrap_or_else(|| panic!("no word about the capture\n{}", r.show()));
    assert!(said.contains(&file.display().to_string()), "{said}");
    assert!(said.contains("File too large"), "{said}");
    let n: usize = said
        .split("holds the first ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no frame count in {said}"));
    // tcpdump reads it to the end without a complaint (listing checks).
    let listed = listing(&file, &[]);
    assert_eq!(listed.len(), n, "{said}");
    // What was written out before (the next hop's ARP exchange, while
    // the link was idle) stays.
    assert!(n >= 2, "{said}");
    assert!(listed[0].starts_with("ARP, Request"), "{listed:#?}");
    assert!(std::fs::metadata(&file).unwrap().len() <= 16 * 1024);
    drop(server.wait_for("accepted", Duration::from_secs(5)));
}
