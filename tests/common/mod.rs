//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The nettool binary under test.
pub fn nettool() -> &'static str {
    env!("CARGO_BIN_EXE_nettool")
}

/// What a finished command did.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Ran {
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
pub fn run(mut cmd: Command, limit: Duration) -> Ran {
    use std::io::Read;
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
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
    let (stdout, stderr) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    let Some(status) = status else {
        panic!(
            "{cmd:?} still running after {limit:?}; killed.\n--- stdout\n{stdout}--- stderr\n{stderr}"
        );
    };
    Ran {
        code: status.code(),
        stdout,
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
