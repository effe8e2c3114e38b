//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::Child;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub mod ipv6;
pub mod load;
pub mod pcap;
pub mod schema;
pub mod svg;
pub mod trace;

use nettool::lab::testnet::TwoHosts;

/// The nettool binary under test.
pub fn nettool() -> &'static str {
    env!("CARGO_BIN_EXE_nettool")
}

/// What a finished command did.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    /// stdout exactly as written (binary payloads).
    pub stdout_bytes: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Ran {
    /// Its stdout as `--json` lines, one value each (a line that is not
    /// JSON fails the test, naming it).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{}", self.show()))
            })
            .collect()
    }

    pub fn show(&self) -> String {
        format!(
            "exit {:?} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd`, killing it after `limit` so that a hung test fails instead
/// of stalling the suite. Output is drained while it runs, so a chatty
/// command never blocks on a full pipe.
pub fn run(cmd: Command, limit: Duration) -> Ran {
    run_with_input(cmd, None, limit)
}

/// [`run`], with `input` written to the command's stdin (then closed).
pub fn run_with_input(mut cmd: Command, input: Option<Vec<u8>>, limit: Duration) -> Ran {
    use std::io::{Read, Write};
    let start = Instant::now();
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    let feeder = input.map(|bytes| {
        let mut stdin = child.stdin.take().expect("piped");
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        })
    });
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped")));
    let err = drain(Box::new(child.stderr.take().expect("piped")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    if let Some(f) = feeder {
        let _ = f.join();
    }
    let stdout_bytes = out.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
    let stdout = String::from_utf8_lossy(&stdout_bytes).into_owned();
    let Some(status) = status else {
        panic!(
            "{cmd:?} still running after {limit:?}; killed.\n--- stdout\n{stdout}--- stderr\n{stderr}"
        );
    };
    Ran {
        code: status.code(),
        stdout,
        stdout_bytes,
        stderr,
        elapsed,
    }
}

/// A private directory for a test's cache file; removed on drop.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("creating a scratch directory"),
        }
    }

    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("arp-cache.json")
    }
}

/// Runs a helper command that must succeed, returning its stdout.
pub fn sh(mut cmd: Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The RSTs a namespace's kernel has sent, IPv4 and IPv6 alike (`Tcp:
/// OutRsts` of /proc/net/snmp, read by `cat`, a `Command` already placed
/// in the namespace).
#[allow(dead_code)]
pub fn out_rsts(mut cat: Command) -> u64 {
    cat.arg("/proc/net/snmp");
    let snmp = sh(cat);
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next().unwrap(), tcp.next().unwrap());
    let at = names
        .split_whitespace()
        .position(|n| n == "OutRsts")
        .expect("OutRsts");
    values.split_whitespace().nth(at).unwrap().parse().unwrap()
}

/// Loads an nftables script through `nft` (a `Command` already placed in
/// the right namespace, e.g. `hosts.cmd_b("nft")`).
pub fn nft_load(mut nft: Command, script: &str) {
    use std::io::Write;
    nft.args(["-f", "-"]).stdin(Stdio::piped());
    let mut child = nft
        .spawn()
        .expect("nft is needed for these tests (apt-get install nftables)");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(script.as_bytes())
        .expect("writing the nft script");
    assert!(
        child.wait().expect("waiting for nft").success(),
        "nft refused:\n{script}"
    );
}

/// The packet count of a named nftables counter, from `nft list counter …`.
pub fn nft_packets(listing: &str) -> u64 {
    let at = listing.find("packets ").expect("nft prints a packet count");
    listing[at + 8..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number of packets")
}

/// tcpdump writing packets on A's `eth0` to a file, from before the run
/// until [`Capture::stop`].
pub struct Capture {
    child: Child,
    file: PathBuf,
    stderr: mpsc::Receiver<String>,
    /// On `lo` the filter sees each packet twice (going out and coming
    /// in); libpcap keeps the incoming copy only.
    loopback: bool,
}

impl Capture {
    /// Starts tcpdump writing to `file`; `args` are more options, then
    /// the filter (`["tcp", "port", "8080"]`).
    pub fn start(hosts: &TwoHosts, file: PathBuf, args: &[&str]) -> Capture {
        Capture::start_with(hosts.cmd_a("tcpdump"), "eth0", file, args)
    }

    /// The same on B's `eth0`: the peer's view.
    pub fn start_in_b(hosts: &TwoHosts, file: PathBuf, args: &[&str]) -> Capture {
        Capture::start_with(hosts.cmd_b("tcpdump"), "eth0", file, args)
    }

    /// tcpdump, run by `cmd` (`ip netns exec … tcpdump`), on `iface`.
    pub fn start_with(mut cmd: Command, iface: &str, file: PathBuf, args: &[&str]) -> Capture {
        // --immediate-mode: without it libpcap hands packets over in
        // blocks (TPACKET_V3), and the packets of a partly filled block are
        // lost when SIGINT stops tcpdump: a run's last segments would be
        // missing from the file.
        cmd.args(["--immediate-mode", "-nn", "-U", "-i", iface, "-w"])
            .arg(&file)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .expect("tcpdump is needed for this test (apt-get install tcpdump)");
        let err = child.stderr.take().unwrap();
        let (tx, stderr) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match stderr.recv_timeout(left) {
                Ok(l) if l.contains("listening on") => break,
                Ok(l) => seen.push(l),
                Err(_) => {
                    let _ = child.kill();
                    panic!("tcpdump never said it was listening: {seen:?}");
                }
            }
        }
        Capture {
            child,
            file,
            stderr,
            loopback: iface == "lo",
        }
    }

    /// Stops tcpdump with SIGINT, checks that every packet the filter took
    /// reached the file, and returns the file.
    pub fn stop(mut self) -> PathBuf {
        // SAFETY: kill(2) on our own child's pid (`ip netns exec` execs
        // tcpdump in place, so the pid is tcpdump's).
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        assert_eq!(rc, 0, "signalling tcpdump");
        let status = self.child.wait().expect("waiting for tcpdump");
        let lines: Vec<String> = self.stderr.iter().collect();
        assert!(status.success(), "tcpdump: {status}: {lines:?}");
        let count = |what: &str| -> u64 {
            let l = lines
                .iter()
                .find(|l| l.ends_with(what))
                .unwrap_or_else(|| panic!("tcpdump printed no {what:?}: {lines:?}"));
            l.split_whitespace().next().unwrap().parse().unwrap()
        };
        let captured = count("packets captured");
        let copies = if self.loopback { 2 } else { 1 };
        assert_eq!(
            captured * copies,
            count("packets received by filter"),
            "tcpdump did not write every packet it received: {lines:?}"
        );
        assert_eq!(count("packets dropped by kernel"), 0, "{lines:?}");
        self.file.clone()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// tcpdump's options for a capture whose stamps a test holds nettool's
/// to: nanoseconds, and headers only. The short snap is what keeps every
/// packet: in immediate mode libpcap gives each packet a ring slot as long
/// as the largest it may take (64 KiB on a veth, whose offloads let
/// packets grow), so its 2 MiB ring held 32 packets (measured: a tcpdump
/// stopped while 80 pings passed kept 32), some 50 ms of a 5 ms-paced TCP
/// probe run (SYN, SYN-ACK, RST). A tcpdump kept off the CPU longer than
/// that on a loaded machine lost a packet ("1 packet dropped by kernel").
/// 128 bytes hold the Ethernet, IP and TCP headers with options, and the
/// ring then holds thousands (the same 80 pings: none lost).
pub const STAMPS: [&str; 4] = ["--time-stamp-precision", "nano", "-s", "128"];

/// The python3 kernel peer the TCP tests talk to.
pub const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/tcp_peer.py");

/// A python3 server in B; its event lines arrive on a channel. Killed on drop.
pub struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    pub fn start(hosts: &TwoHosts, mode: &str, port: u16, size: usize) -> Server {
        let mut cmd = hosts.cmd_b("python3");
        cmd.args([PEER, mode, &port.to_string(), &size.to_string()]);
        let mut s = Server::spawn(cmd);
        s.wait_for("ready", Duration::from_secs(10));
        s
    }

    /// Any peer that reports events one line at a time on stdout (the TCP
    /// peer, `tests/peers/bulk.py`, …).
    pub fn spawn(mut cmd: Command) -> Server {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Bytes a bulk receiver has reported so far, from its last
    /// "progress" line (without waiting).
    pub fn progress(&mut self) -> usize {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
        self.seen
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("progress "))
            .map_or(0, |n| n.parse().expect("a byte count"))
    }

    /// Whether a line starting with `prefix` has been printed so far.
    pub fn saw(&self, prefix: &str) -> bool {
        self.seen.iter().any(|l| l.starts_with(prefix))
    }

    /// Waits until a line starting with `prefix` has been printed.
    pub fn wait_for(&mut self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(l) = self.seen.iter().find(|l| l.starts_with(prefix)) {
                return l.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => panic!(
                    "the server never printed {prefix:?}; it printed {:?}",
                    self.seen
                ),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bulk-transfer peer (`python3 bulk.py recv PORT` / `send HOST PORT SIZE SEED`).
pub const BULK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/bulk.py");
pub const MIB: usize = 1 << 20;

/// Deterministic pseudo-random bytes (xorshift), so a failure reproduces.
pub fn data(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// SHA-256 in hex, as `bulk.py` prints it.
pub fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Waits until `nettool nc -l` says on `stderr` that it is listening
/// (panics if it exits first), then keeps reading the rest in a thread
/// whose result is everything it printed after that, so the pipe never
/// fills.
pub fn once_listening(stderr: impl Read + Send + 'static) -> JoinHandle<String> {
    let mut err = BufReader::new(stderr);
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "nettool exited before listening"
        );
    }
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
        rest
    })
}

/// Reads `from` to its end in a thread.
pub fn read_all(mut from: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        bytes
    })
}

/// Holds `errors` (µs, nettool's RTT less the capture's, one per reply of
/// a 200-probe run) to the accuracy the README states: median within
/// −3…+4 µs, 196 of 200 within 20 µs, none beyond 1 ms.
pub fn assert_rtts_agree_with_capture(mut errors: Vec<f64>, run: &str) {
    assert_eq!(errors.len(), 200, "{run}");
    errors.sort_by(f64::total_cmp);
    let median = errors[100];
    let close = errors.iter().filter(|e| e.abs() <= 20.0).count();
    let show = format!("errors (µs, nettool − capture), sorted: {errors:?}");
    assert!((-3.0..=4.0).contains(&median), "median {median}; {show}");
    assert!(close >= 196, "{close} of 200 within 20 µs; {show}");
    assert!(
        errors[0] >= -1000.0 && errors[199] <= 1000.0,
        "an error beyond 1 ms; {show}"
    );
}
