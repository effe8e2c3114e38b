//! Every TCP command against a kernel listener on 127.0.0.1, inside a
//! namespace of its own (loopback only): `handshake`, `close`, `probe`,
//! `scan` and `trace` run over the loopback link (a raw IP socket out,
//! AF_PACKET on `lo` in), with the RST guard keeping the kernel out of
//! nettool's flow. Needs root.

mod common;

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Ran, Scratch, Server, nettool, run, sh};
use nettool::lab::testnet::TestNamespace;
use rstest::rstest;

const LIMIT: Duration = Duration::from_secs(30);
/// The listener's port; nothing listens on the ports beside it.
const OPEN: u16 = 8080;

/// A namespace with a kernel listener on 127.0.0.1:OPEN. Fields drop in
/// order: the listener is killed before its namespace goes.
struct Lo {
    peer: Server,
    scratch: Scratch,
    ns: TestNamespace,
}

impl Lo {
    fn new(tag: &str) -> Lo {
        let ns = TestNamespace::new(tag);
        let mut cmd = ns.cmd("python3");
        cmd.args([common::PEER, "hold", &OPEN.to_string()]);
        let mut peer = Server::spawn(cmd);
        peer.wait_for("ready", Duration::from_secs(10));
        Lo {
            peer,
            scratch: Scratch::new(),
            ns,
        }
    }

    fn nettool(&self, args: &[&str]) -> Ran {
        let mut cmd = self.ns.cmd(nettool());
        cmd.args(args)
            .env("NETTOOL_ARP_CACHE", self.scratch.cache());
        let ran = run(cmd, LIMIT);
        self.assert_no_guard_left();
        ran
    }

    /// However the command ended, its guard table is gone.
    fn assert_no_guard_left(&self) {
        let mut nft = self.ns.cmd("nft");
        nft.args(["list", "tables"]);
        let tables = sh(nft);
        assert!(!tables.contains("nettool"), "left behind: {tables}");
    }
}

fn target(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

#[test]
fn handshake_opens_a_connection_to_a_kernel_listener() {
    let mut lo = Lo::new("lo-hs");
    let r = lo.nettool(&["handshake", &target(OPEN)]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stdout.contains(" on lo "), "{}", r.show());
    assert!(
        r.stdout
            .contains("port 8080 on 127.0.0.1 is open: SYN-ACK after"),
        "{}",
        r.show()
    );
    // The kernel saw the SYN-ACK it sent come back to a port it has no
    // socket for, and answered with a RST: the guard dropped it, so the
    // listener accepted the connection and only nettool's RST ended it.
    assert!(r.stdout.contains("the RST guard dropped"), "{}", r.show());
    assert!(!r.stdout.contains("Flags [R.]"), "{}", r.show());
    lo.peer
        .wait_for("accepted 127.0.0.1:", Duration::from_secs(5));
    lo.peer.wait_for("reset 127.0.0.1:", Duration::from_secs(5));
}

#[test]
fn handshake_to_a_closed_port_is_refused() {
    let lo = Lo::new("lo-hs-rst");
    let r = lo.nettool(&["handshake", &target(OPEN + 1)]);
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert!(
        r.stdout
            .contains("port 8081 on 127.0.0.1 is closed: RST after"),
        "{}",
        r.show()
    );
}

#[test]
fn close_completes_a_graceful_close() {
    let mut lo = Lo::new("lo-close");
    let r = lo.nettool(&["close", "--time-wait", "100ms", &target(OPEN)]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout
            .contains("127.0.0.1:8080: active close (our FIN first) complete"),
        "{}",
        r.show()
    );
    lo.peer.wait_for("eof 127.0.0.1:", Duration::from_secs(5));
}

#[test]
fn probe_syn_tells_open_from_closed() {
    let lo = Lo::new("lo-probe");
    let open = lo.nettool(&[
        "probe",
        "-S",
        "-c",
        "2",
        "--interval",
        "50ms",
        &target(OPEN),
    ]);
    assert_eq!(open.code, Some(0), "{}", open.show());
    assert_eq!(
        open.stdout.matches(": port open").count(),
        2,
        "{}",
        open.show()
    );
    assert!(
        open.stdout.contains("2 probes sent, 2 answered"),
        "{}",
        open.show()
    );
    let closed = lo.nettool(&["probe", "-S", "-c", "1", &target(OPEN + 1)]);
    assert_eq!(closed.code, Some(0), "{}", closed.show());
    assert!(closed.stdout.contains(": port closed"), "{}", closed.show());
}

#[test]
fn scan_finds_the_one_open_port() {
    let lo = Lo::new("lo-scan");
    let r = lo.nettool(&["scan", "--all", "127.0.0.1", "8079-8081"]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    for (port, state) in [(8079, "closed"), (8080, "open"), (8081, "closed")] {
        let line = r
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{port}/tcp")))
            .unwrap_or_else(|| panic!("no line for {port}:\n{}", r.show()));
        assert!(line.contains(state), "{port}: {line}");
    }
    assert!(
        r.stdout.contains("1 open, 2 closed, 0 filtered"),
        "{}",
        r.show()
    );
}

#[test]
fn trace_reaches_this_host_in_one_hop() {
    let lo = Lo::new("lo-trace");
    let r = lo.nettool(&["trace", "--queries", "1", "-w", "500ms", &target(OPEN)]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout.contains(" 1  127.0.0.1  [open, SYN-ACK]"),
        "{}",
        r.show()
    );
    assert!(
        r.stdout
            .contains("127.0.0.1:8080 reached in 1 hop: port open"),
        "{}",
        r.show()
    );
}

/// A guard count nettool could not read is left out of the result, with a
/// warning, not reported as 0 RSTs dropped. Here the guard's table is
/// removed from under nettool while it lingers.
#[test]
fn an_unreadable_guard_count_is_omitted_with_a_warning() {
    let mut lo = Lo::new("lo-guard-gone");
    let mut cmd = lo.ns.cmd(nettool());
    cmd.args(["handshake", "--json", "--linger", "1s", &target(OPEN)])
        .env("NETTOOL_ARP_CACHE", lo.scratch.cache())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    lo.peer
        .wait_for("accepted 127.0.0.1:", Duration::from_secs(5));
    let mut list = lo.ns.cmd("nft");
    list.args(["list", "tables"]);
    let tables = sh(list);
    let table = tables
        .split_whitespace()
        .find(|w| w.starts_with("nettool-guard-"))
        .unwrap_or_else(|| panic!("no guard table: {tables}"));
    let mut delete = lo.ns.cmd("nft");
    delete.args(["delete", "table", "inet", table]);
    sh(delete);
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let result: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|v: &serde_json::Value| v["event"] == "result")
        .unwrap_or_else(|| panic!("no result:\n{stdout}\n{stderr}"));
    assert!(
        result.get("rsts_dropped").is_none(),
        "a count nobody read: {result}\n{stderr}"
    );
    assert!(
        stderr.contains("the RST guard's count could not be read"),
        "{stderr}"
    );
    lo.assert_no_guard_left();
}

/// A terminal's Ctrl-C goes to the whole process group, again and again
/// if the user insists: the `nft` nettool runs to remove its guard must
/// not die of it (it ran in nettool's group, and the table stayed).
#[test]
fn ctrl_c_to_the_process_group_still_removes_the_guard() {
    let mut lo = Lo::new("lo-sigint-group");
    let mut cmd = lo.ns.cmd(nettool());
    cmd.args(["handshake", "--linger", "30s", &target(OPEN)])
        .env("NETTOOL_ARP_CACHE", lo.scratch.cache())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // A group of its own, as a shell gives a foreground job.
        .process_group(0);
    let mut child = cmd.spawn().unwrap();
    lo.peer
        .wait_for("accepted 127.0.0.1:", Duration::from_secs(5));
    let pid = child.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        // SAFETY: signalling the process group this test started.
        unsafe { libc::kill(-pid, libc::SIGINT) };
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "nettool never exited");
        std::thread::sleep(Duration::from_micros(500));
    };
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    lo.assert_no_guard_left();
}

/// SIGINT (Ctrl-C) or SIGTERM: nettool resets the peer, removes the
/// guard, then dies of the signal it received (a SIGTERM run died of
/// SIGINT).
#[rstest]
#[case::sigint(libc::SIGINT)]
#[case::sigterm(libc::SIGTERM)]
fn a_signal_resets_the_peer_and_removes_the_guard(#[case] signal: i32) {
    let mut lo = Lo::new("lo-signal");
    let mut cmd = lo.ns.cmd(nettool());
    cmd.args(["handshake", "--linger", "30s", &target(OPEN)])
        .env("NETTOOL_ARP_CACHE", lo.scratch.cache())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    lo.peer
        .wait_for("accepted 127.0.0.1:", Duration::from_secs(5));
    // `ip netns exec` execs nettool in place: the child is nettool.
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map_or(true, |c| c.trim() != "nettool")
    {
        assert!(Instant::now() < deadline, "nettool never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: signalling a process this test started.
    unsafe { libc::kill(pid as i32, signal) };
    let status = child.wait().unwrap();
    // nettool cleans up, then dies of the signal as the shell expects.
    assert_eq!(status.signal(), Some(signal), "{status:?}");
    lo.peer.wait_for("reset 127.0.0.1:", Duration::from_secs(5));
    lo.assert_no_guard_left();
}
