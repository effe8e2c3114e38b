//! `nettool nc -u` against the Linux kernel's UDP: nettool in namespace
//! A, python3 UDP sockets in B. Each test builds and removes its own
//! namespaces. Needs root.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::ipv6::{ULA_A, ULA_B, ipv6_hosts};
use common::{Ran, Scratch, nettool, run};
use nettool::lab::testnet::TwoHosts;
use rstest::rstest;

const LIMIT: Duration = Duration::from_secs(30);

/// `sh -c SCRIPT` in A, with nettool's path in `$NT`.
fn sh_a(hosts: &TwoHosts, scratch: &Scratch, script: &str) -> Command {
    let mut cmd = hosts.cmd_a("sh");
    cmd.args(["-c", script])
        .env("NT", nettool())
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    cmd
}

/// A python3 script run in B, its stdout the test's to read.
fn python_b(hosts: &TwoHosts, script: &str) -> Command {
    let mut cmd = hosts.cmd_b("python3");
    cmd.args(["-c", script]);
    cmd
}

/// The address family a test runs over: IPv4 on TwoHosts' /24, or IPv6
/// with fd00:6e74::1 in A and ::2 in B.
#[derive(Debug, Clone, Copy)]
enum Family {
    V4,
    V6,
}

impl Family {
    /// A pair of namespaces for this family; an IPv6 tag gains a `6`.
    fn hosts(self, tag: &str) -> TwoHosts {
        match self {
            Family::V4 => TwoHosts::new(tag),
            Family::V6 => ipv6_hosts(&tag.replacen("ncu", "ncu6", 1)),
        }
    }

    /// B's address, as nettool and python3 take it.
    fn b(self, hosts: &TwoHosts) -> String {
        match self {
            Family::V4 => hosts.addr_b.to_string(),
            Family::V6 => ULA_B.to_string(),
        }
    }

    /// python3's socket family.
    fn af(self) -> &'static str {
        match self {
            Family::V4 => "socket.AF_INET",
            Family::V6 => "socket.AF_INET6",
        }
    }

    /// The ICMP of this family, as nettool names it.
    fn icmp(self) -> &'static str {
        match self {
            Family::V4 => "ICMP",
            Family::V6 => "ICMPv6",
        }
    }

    /// The loopback address, up in A (TwoHosts turns IPv6 off
    /// everywhere, `lo` included).
    fn loopback(self, hosts: &TwoHosts) -> &'static str {
        match self {
            Family::V4 => "127.0.0.1",
            Family::V6 => {
                let mut lo = hosts.cmd_a("sysctl");
                lo.args([
                    "-qw",
                    "net.ipv6.conf.all.disable_ipv6=0",
                    "net.ipv6.conf.lo.disable_ipv6=0",
                ]);
                common::sh(lo);
                "::1"
            }
        }
    }
}

/// A python3 UDP echo in A on `addr` port 7003 that answers in capitals,
/// bound before this returns (it says "ready" once its socket is).
fn upper_echo_in_a(hosts: &TwoHosts, family: Family, addr: &str) -> common::Server {
    let mut cmd = hosts.cmd_a("python3");
    cmd.args([
        "-c",
        &format!(
            "import socket\n\
             s = socket.socket({af}, socket.SOCK_DGRAM)\n\
             s.bind(('{addr}', 7003))\n\
             print('ready', flush=True)\n\
             while True:\n\
             \x20   d, a = s.recvfrom(65535); s.sendto(d.upper(), a)\n",
            af = family.af()
        ),
    ]);
    let mut echo = common::Server::spawn(cmd);
    echo.wait_for("ready", Duration::from_secs(10));
    echo
}

/// The chunks the writer in A sends, one write each, 200 ms apart; the
/// last is more than one datagram holds on a 1500-byte MTU.
const CHUNKS: [usize; 4] = [1, 700, 1472, 3000];

/// The bytes of chunk `i`: binary, every value, distinct per chunk.
fn chunk(i: usize) -> Vec<u8> {
    (0..CHUNKS[i])
        .map(|j| ((j * 7 + i * 31) % 256) as u8)
        .collect()
}

/// The client: each read one datagram, cut at what a 1500-byte MTU
/// carries whole (1472 bytes over IPv4, 1452 over IPv6: 20 and 40 bytes
/// of IP header), each reply written whole. The kernel in B verified
/// every checksum (it drops a datagram whose checksum fails, and over
/// IPv6 one whose checksum is zero).
#[rstest]
#[case::ipv4(Family::V4, 1472, "sizes 1,700,1472,1472,1472,56", 6)]
#[case::ipv6(Family::V6, 1452, "sizes 1,700,1452,20,1452,1452,96", 7)]
fn a_client_sends_each_read_as_one_datagram_and_writes_each_reply_whole(
    #[case] family: Family,
    #[case] cut: usize,
    #[case] sizes_want: &str,
    #[case] datagrams: usize,
) {
    let hosts = family.hosts("ncu-client");
    let scratch = Scratch::new();
    let b = family.b(&hosts);
    // B: each datagram is answered with its bytes reversed; the sizes
    // received are printed at the end.
    let server = python_b(
        &hosts,
        &format!(
            "import socket, sys\n\
             s = socket.socket({af}, socket.SOCK_DGRAM)\n\
             s.bind(('{b}', 7000)); s.settimeout(4)\n\
             print('ready', flush=True)\n\
             sizes = []\n\
             try:\n\
             \x20   while True:\n\
             \x20       d, a = s.recvfrom(65535); sizes.append(len(d)); s.sendto(d[::-1], a)\n\
             except socket.timeout:\n\
             \x20   pass\n\
             print('sizes', ','.join(map(str, sizes)), flush=True)\n",
            af = family.af()
        ),
    );
    let mut server = common::Server::spawn(server);
    server.wait_for("ready", Duration::from_secs(10));
    let writer = format!(
        "import os, sys, time\n\
         for i, n in enumerate([{}]):\n\
         \x20   os.write(1, bytes(((j * 7 + i * 31) % 256) for j in range(n))); time.sleep(0.2)\n",
        CHUNKS.map(|n| n.to_string()).join(",")
    );
    let script = format!("python3 -c \"$W\" | \"$NT\" nc -u -v {b} 7000");
    let mut cmd = sh_a(&hosts, &scratch, &script);
    cmd.env("W", writer);
    let r = run(cmd, LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.show());
    let sizes = server.wait_for("sizes", Duration::from_secs(10));
    assert_eq!(
        sizes.trim(),
        sizes_want,
        "each read one datagram, cut at {cut}; {}",
        r.show()
    );
    // Each reply came back whole, in order: the reversed datagrams.
    let mut want: Vec<u8> = Vec::new();
    for i in 0..CHUNKS.len() {
        for piece in chunk(i).chunks(cut) {
            want.extend(piece.iter().rev());
        }
    }
    assert_eq!(r.stdout_bytes.len(), want.len(), "{}", r.show());
    assert!(
        r.stdout_bytes == want,
        "the replies' bytes differ; {}",
        r.show()
    );
    assert!(
        r.stderr.contains(&format!(
            "{datagrams} datagrams (5173 bytes) sent, {datagrams} (5173 bytes) received"
        )),
        "{}",
        r.show()
    );
}

#[rstest]
#[case::ipv4(Family::V4)]
#[case::ipv6(Family::V6)]
fn a_port_unreachable_ends_the_client_at_once(#[case] family: Family) {
    let hosts = family.hosts("ncu-closed");
    let scratch = Scratch::new();
    let b = family.b(&hosts);
    // stdin stays open 5 s: only the ICMP error can end nettool sooner.
    // The shell stamps nettool's start and end (ns) and its exit code.
    let script = format!(
        "date +%s%N >&2; (printf 'anyone?'; sleep 5) | \
         {{ \"$NT\" nc -u {b} 7001; echo \"rc $?\" >&2; date +%s%N >&2; }}"
    );
    let r: Ran = run(sh_a(&hosts, &scratch, &script), LIMIT);
    assert!(
        r.stderr.contains(&format!(
            "port closed: {} port unreachable from {b}",
            family.icmp()
        )),
        "{}",
        r.show()
    );
    assert!(r.stderr.contains("rc 1"), "{}", r.show());
    let stamps: Vec<u128> = r
        .stderr
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let [start, end] = stamps[..] else {
        panic!("two stamps: {}", r.show());
    };
    let took = Duration::from_nanos((end - start) as u64);
    assert!(took < Duration::from_secs(2), "took {took:?}; {}", r.show());
    assert!(r.stdout.is_empty(), "{}", r.show());
}

#[test]
fn a_keep_open_listener_serves_two_peers_replying_to_the_latest() {
    let hosts = TwoHosts::new("ncu-listen");
    let scratch = Scratch::new();
    // A: the listener; its stdin says r1 at 1.5 s and r2 at 3 s, and
    // ends at 4 s; --quit-after ends the run a second later.
    let script = "(sleep 1.5; printf r1; sleep 1.5; printf r2; sleep 1) | \
                  \"$NT\" nc -u -l -k -v --quit-after 1s 7002";
    let listener = sh_a(&hosts, &scratch, script)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nettool in A");
    std::thread::sleep(Duration::from_millis(500));
    // B: P1 speaks at 0.5 s, P2 at 2 s; each prints what it heard.
    let peers = python_b(
        &hosts,
        &format!(
            "import socket, time\n\
             p1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); p1.settimeout(0.1)\n\
             p2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); p2.settimeout(0.1)\n\
             heard = {{1: b'', 2: b''}}\n\
             def listen(until):\n\
             \x20   while time.time() < until:\n\
             \x20       for i, s in ((1, p1), (2, p2)):\n\
             \x20           try: heard[i] += s.recv(100)\n\
             \x20           except (socket.timeout, OSError): pass\n\
             t0 = time.time()\n\
             p1.sendto(b'p1', ('{a}', 7002)); listen(t0 + 1.5)\n\
             p2.sendto(b'p2', ('{a}', 7002)); listen(t0 + 4)\n\
             print('P1', heard[1].decode(), 'P2', heard[2].decode(), flush=True)\n",
            a = hosts.addr_a
        ),
    );
    let heard = run(peers, LIMIT);
    let out = listener.wait_with_output().expect("nettool's output");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let show = format!("peers: {}\nnettool: {stdout}\n{stderr}", heard.show());
    assert_eq!(heard.stdout.trim(), "P1 r1 P2 r2", "{show}");
    assert_eq!(stdout, "p1p2", "{show}");
    assert_eq!(stderr.matches("(new peer)").count(), 2, "{show}");
    assert_eq!(out.status.code(), Some(0), "{show}");
}

/// nettool over `lo` in A: the datagram to a kernel socket there and its
/// answer back. The echo is bound before nettool starts: a datagram
/// that came first would meet a closed port (the test once gave python3
/// a fixed 0.5 s, which a loaded machine overran).
#[rstest]
#[case::ipv4(Family::V4)]
#[case::ipv6(Family::V6)]
fn loopback_works(#[case] family: Family) {
    let hosts = family.hosts("ncu-lo");
    let scratch = Scratch::new();
    let lo = family.loopback(&hosts);
    let _echo = upper_echo_in_a(&hosts, family, lo);
    let script = format!("printf 'over lo' | \"$NT\" nc -u {lo} 7003");
    let r = run(sh_a(&hosts, &scratch, &script), LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(r.stdout, "OVER LO", "{}", r.show());
}

#[test]
fn zero_io_sorts_open_and_closed_ports() {
    let hosts = TwoHosts::new("ncu-z");
    let scratch = Scratch::new();
    let mut echo = common::Server::spawn(python_b(
        &hosts,
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.bind(('0.0.0.0', 7010))\n\
         print('ready', flush=True)\n\
         while True:\n\
         \x20   d, a = s.recvfrom(65535); s.sendto(d, a)\n",
    ));
    echo.wait_for("ready", Duration::from_secs(10));
    let script = format!("\"$NT\" nc -u -z -v {} 7009-7011", hosts.addr_b);
    let r = run(sh_a(&hosts, &scratch, &script), LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.show());
    let b = hosts.addr_b;
    for line in [
        format!("nettool: {b} port 7009 (udp) closed: ICMP port unreachable"),
        format!("Connection to {b} 7010 port [udp/*] succeeded!"),
        format!("nettool: {b} port 7011 (udp) closed: ICMP port unreachable"),
    ] {
        assert!(r.stderr.contains(&line), "{line:?} missing; {}", r.show());
    }
}

/// `--max-datagram`: nettool cuts a datagram longer than the MTU into
/// IPv4 fragments that the peer's kernel reassembles, and reassembles the
/// kernel's fragments of the echo: binary datagrams of 8,000 and 65,507
/// bytes (the largest), each arriving whole both ways (SHA-256 equal).
#[test]
fn datagrams_longer_than_the_mtu_go_as_fragments_and_come_back_whole() {
    let hosts = TwoHosts::new("ncu-frag");
    let scratch = Scratch::new();
    let mut echo = common::Server::spawn(python_b(
        &hosts,
        "import socket, hashlib\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.bind(('0.0.0.0', 7020))\n\
         print('ready', flush=True)\n\
         while True:\n\
         \x20   d, a = s.recvfrom(65535)\n\
         \x20   print('got', len(d), hashlib.sha256(d).hexdigest(), flush=True)\n\
         \x20   s.sendto(d, a)\n",
    ));
    echo.wait_for("ready", Duration::from_secs(10));
    for size in [8000, 65507] {
        let mut bytes = common::data(size);
        bytes.rotate_left(size % 97); // a different datagram each time
        let file = scratch.cache().with_file_name(format!("d{size}"));
        std::fs::write(&file, &bytes).unwrap();
        let script = format!(
            "\"$NT\" nc -u -v --max-datagram 65507 {} 7020 < {}",
            hosts.addr_b,
            file.display()
        );
        let r = run(sh_a(&hosts, &scratch, &script), LIMIT);
        assert_eq!(r.code, Some(0), "{}", r.show());
        let got = echo.wait_for(&format!("got {size} "), Duration::from_secs(10));
        assert_eq!(
            got.trim(),
            format!("got {size} {}", common::sha(&bytes)),
            "the peer's kernel reassembled it; {}",
            r.show()
        );
        assert_eq!(r.stdout_bytes.len(), size, "{}", r.show());
        assert_eq!(common::sha(&r.stdout_bytes), common::sha(&bytes));
        // 1,480 bytes of the UDP datagram (header included) a fragment.
        let fragments = (8 + size).div_ceil(1480);
        assert!(
            r.stderr.contains(&format!(
                "1 datagrams ({size} bytes) sent ({fragments} IPv4 fragments), \
                 1 ({size} bytes) received, 1 reassembled from fragments"
            )),
            "{}",
            r.show()
        );
    }
}

// ----- over IPv6 only: fd00:6e74::1 in A, the kernel's UDP on fd00:6e74::2 in B -----

/// `nc -u -l ADDRESS PORT` on A's IPv6 address: B's datagram to stdout
/// byte for byte, stdin back to B.
#[test]
fn an_ipv6_listener_hears_and_answers_its_peer() {
    let hosts = ipv6_hosts("ncu6-listen");
    let scratch = Scratch::new();
    let payload: Vec<u8> = (0..=255u8).rev().collect();
    let mut listener = sh_a(
        &hosts,
        &scratch,
        &format!("(sleep 1; printf 'from A') | \"$NT\" nc -u -l -v -w 3 {ULA_A} 7002"),
    );
    listener.stdout(Stdio::piped()).stderr(Stdio::piped());
    let listener = listener.spawn().expect("nettool nc -u -l");
    let peer = python_b(
        &hosts,
        &format!(
            "import socket, time\n\
             s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n\
             s.bind(('{ULA_B}', 7102)); s.settimeout(5)\n\
             time.sleep(0.5)\n\
             s.sendto(bytes(range(255, -1, -1)), ('{ULA_A}', 7002))\n\
             d, a = s.recvfrom(65535)\n\
             print('got', d.decode(), a[0], a[1], flush=True)\n"
        ),
    )
    .output()
    .expect("python3 in B");
    let out = listener.wait_with_output().expect("nettool exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let show = format!(
        "{stderr}\npeer: {}{}",
        String::from_utf8_lossy(&peer.stdout),
        String::from_utf8_lossy(&peer.stderr)
    );
    assert_eq!(out.stdout, payload, "{show}");
    assert_eq!(
        String::from_utf8_lossy(&peer.stdout).trim(),
        format!("got from A {ULA_A} 7002"),
        "{show}"
    );
    assert!(
        stderr.contains(&format!("[{ULA_B}]:7102 (new peer)")),
        "{show}"
    );
    assert_eq!(out.status.code(), Some(0), "{show}");
}

/// Over IPv6 nettool sends no fragments: a --max-datagram above what
/// the path carries whole is refused before anything is sent.
#[test]
fn an_ipv6_max_datagram_above_the_mtu_is_refused() {
    let hosts = ipv6_hosts("ncu6-big");
    let scratch = Scratch::new();
    let script = format!("printf x | \"$NT\" nc -u --max-datagram 1453 {ULA_B} 7000");
    let r = run(sh_a(&hosts, &scratch, &script), LIMIT);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(
        r.stderr
            .contains("--max-datagram 1453 is above the 1452 bytes"),
        "{}",
        r.show()
    );
    // 1452 fits: sent, and answered by B's port unreachable (exit 1).
    let ok = format!("printf x | \"$NT\" nc -u --max-datagram 1452 {ULA_B} 7000");
    let r = run(sh_a(&hosts, &scratch, &ok), LIMIT);
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert!(r.stderr.contains("port closed"), "{}", r.show());
}
