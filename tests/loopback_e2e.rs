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

/// The guard's table is nettool's alone (the owner flag): another
/// process cannot delete it from under a run, which still reads its count
/// at the end. (A count that cannot be read is left out with a warning:
/// `setup`'s unit tests.)
#[test]
fn another_process_cannot_remove_the_guard() {
    let mut lo = Lo::new("lo-guard-owned");
    let mut cmd = lo.ns.cmd(nettool());
    cmd.args(["handshake", "--json", "--linger", "1s", &target(OPEN)])
        .env("NETTOOL_ARP_CACHE", lo.scratch.cache())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    lo.peer
        .wait_for("accepted 127.0.0.1:", Duration::from_secs(5));
    let table = guard_table(&lo);
    let mut delete = lo.ns.cmd("nft");
    delete.args(["delete", "table", "inet", &table]);
    let refused = delete.output().unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        !refused.status.success()
            && String::from_utf8_lossy(&refused.stderr).contains("Operation not permitted"),
        "another process deleted the guard: {}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let result: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|v: &serde_json::Value| v["event"] == "result")
        .unwrap_or_else(|| panic!("no result:\n{stdout}\n{stderr}"));
    assert!(result["rsts_dropped"].is_u64(), "{result}\n{stderr}");
    lo.assert_no_guard_left();
}

/// The name of the one guard table in `lo`'s namespace.
fn guard_table(lo: &Lo) -> String {
    let mut list = lo.ns.cmd("nft");
    list.args(["list", "tables"]);
    let tables = sh(list);
    tables
        .split_whitespace()
        .find(|w| w.starts_with("nettool-guard-"))
        .unwrap_or_else(|| panic!("no guard table: {tables}"))
        .to_owned()
}

/// SIGKILL leaves nettool no time to clean up: the kernel removes the
/// guard itself, as the socket that owns its table closes, before the
/// process is reaped, and without a later run's sweep.
#[rstest]
#[case::handshake_no_ack(&["handshake", "--no-ack", "--observe", "30s", "127.0.0.1:8080"])]
#[case::nc_listening(&["nc", "-l", "127.0.0.1", "9000"])]
fn sigkill_leaves_no_guard_behind(#[case] args: &[&str]) {
    let lo = Lo::new("lo-sigkill");
    let mut cmd = lo.ns.cmd(nettool());
    cmd.args(args)
        .env("NETTOOL_ARP_CACHE", lo.scratch.cache())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let list = || {
        let mut nft = lo.ns.cmd("nft");
        nft.args(["list", "tables"]);
        sh(nft)
    };
    while !list().contains("nettool-guard-") {
        assert!(Instant::now() < deadline, "no guard was installed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    let tables = list();
    assert!(!tables.contains("nettool"), "left behind: {tables}");
}

/// A terminal's Ctrl-C goes to the whole process group, again and again
/// if the user insists: the guard still goes (when nettool ran `nft` to
/// remove it, that `nft` ran in nettool's group and could die of it).
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

/// Without CAP_NET_ADMIN the kernel refuses the guard at once, and the
/// user is told how to grant it (not left waiting for an answer).
#[test]
fn a_run_without_cap_net_admin_is_told_how_to_grant_it() {
    let lo = Lo::new("lo-noadmin");
    // util-linux's setpriv: nobody, no groups, no capabilities.
    let mut cmd = lo.ns.cmd("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args([nettool(), "handshake", &target(OPEN)])
        .env("NETTOOL_ARP_CACHE", lo.scratch.cache());
    let started = Instant::now();
    let r = run(cmd, LIMIT);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(
        r.stderr.contains("needs CAP_NET_ADMIN") && r.stderr.contains("setcap"),
        "{}",
        r.show()
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}
