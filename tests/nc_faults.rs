//! `nettool nc` through a wire that drops, duplicates, reorders and
//! corrupts, both ways, and through blackholes: nettool in namespace A,
//! the Linux kernel in B, nettool's seeded relay in M between them
//! (`nettool impair`, see `lab::impaired`). Each test proves that the
//! faults happened (the relay's counters, the kernel's) and that the bytes
//! arrived intact (SHA-256). Needs root.
//!
//! Each test also times the part of it that a loss-recovery engine should
//! make short, prints it (`timing: ...` on stderr, shown with
//! `--nocapture`) and holds it to a budget: see TIME BUDGETS below.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{BULK, MIB, Scratch, Server, data, nettool, once_listening, sha};
use nettool::impair::{Config, Faults};
use nettool::lab::impaired::ImpairedPair;

/// What issue 4 asks for: 2 % loss, 5 % reorder, 2 % duplication and 1 %
/// corruption, both ways.
fn mixed() -> Config {
    Config {
        seed: 42,
        ..Config::both(Faults {
            loss: 0.02,
            dup: 0.02,
            reorder: 0.05,
            corrupt: 0.01,
            delay: Duration::ZERO,
        })
    }
}

// ===== TIME BUDGETS (issue 10) =====================================
//
// What a good engine meets, and what main's engine was measured at
// before and after the RACK-TLP and CUBIC work merged, after the
// receiver's D-SACK fix and after the sender's loss probes in recovery, by the part each test times (debug build, as the
// tests run; 2 cores shared with other builds). Kernel references: the
// kernel's TCP (CUBIC) on both ends of the same relay, same faults, same
// seed (`FAULTS="--dup 2% --reorder 5% --corrupt 1%" WIRES=2%:0ms
// SIZE=32M bench/loss.sh`, release build).
//
// | test | timed part | budget | main before RACK-TLP/CUBIC (a645103) | main with them (be0ccff) | main with the D-SACK fix (3bf3e01) | main with probes in recovery (97f5d0f) | basis |
// |---|---|---|---|---|---|---|---|
// | 32 MiB out, mixed faults | nettool's whole run | 6 s | 49.1, 57.3 s | 12.1, 13.0 s | 2.8 to 7.1 s, 21 runs | 1.46 to 2.77 s, 5 runs | kernel → kernel 1.5 to 2.9 s, median 1.7 s (nettool release build: 1.58 s median, 0.83× the kernel); 2.2× the worst run, half of what the engine with RACK-TLP and CUBIC took before the probes |
// | 32 MiB in, mixed faults, CUBIC sender | sender's connection to nettool's exit | 3.5 s | 4.4, 7.2 s | 5.0, 6.8 s | 0.5 to 1.9 s, 18 runs (the same build without the fix: 5.3 to 9.5 s) | 0.65 to 1.27 s, 3 runs | kernel → kernel 1.6 to 2.4 s (nettool release build: 0.48 to 0.98 s, two runs of three); 1.8× the worst run, and below every run of the engines before the fix |
// | 10 s blackhole mid-transfer | wire back to nettool's exit | 5 s | 2.70, 2.65 s | 2.65, 2.65 s | 2.64 to 2.84 s | 2.66 to 2.79 s | RFC 6298: RTO from 200 ms doubling, 0.2·(2^k − 1) s passes 10 s at 12.6 s, so the first retransmission after the hole is ≤ 2.6 s late; 3 MiB more then takes well under a second. A backoff past the RFC's would wait 12.8 s more. Not a speed budget: every engine meets it |
// | permanent blackhole, --user-timeout 3 | blackhole to exit | 2.5 to 4 s | 3.02, 3.02 s | 3.02, 3.04 s | 3.02 to 3.11 s | 3.03 to 3.06 s | RFC 9293 USER TIMEOUT / RFC 5482: give up when data stays unacknowledged 3 s, at that timer, not at the next retransmission (6.2 s) |
//
// Measured with the machine's other builds running (load 6 to 10), this
// file's four tests in parallel as `cargo test` runs them. With three more
// test binaries running beside them (load 8 and more, heavier than the
// whole suite, which runs one binary at a time), the CPU, not the engine,
// sets the pace: 32 MiB in took 4.7 to 5.7 s, and the kernel receiving
// the same 32 MiB through the same relay 4.0 to 8.6 s; 32 MiB out 5.4 to
// 6.0 s (before the probes in recovery); the 10 s blackhole 2.8 to 3.3 s; the user timeout 3.14 to 3.19 s.
//
// Each test asserts its row (`within_budget`).

/// One row of the table above.
struct Budget {
    what: &'static str,
    at_least: Duration,
    at_most: Duration,
}

const OUT_32_MIB: Budget = Budget {
    what: "32 MiB out, nettool's whole run",
    at_least: Duration::ZERO,
    at_most: Duration::from_secs(6),
};
const IN_32_MIB: Budget = Budget {
    what: "32 MiB in, from the kernel sender's connection to nettool's exit",
    at_least: Duration::ZERO,
    at_most: Duration::from_millis(3500),
};
const AFTER_BLACKHOLE: Budget = Budget {
    what: "10 s blackhole, from the wire's return to nettool's exit",
    at_least: Duration::ZERO,
    at_most: Duration::from_secs(5),
};
const USER_TIMEOUT_3: Budget = Budget {
    what: "permanent blackhole, --user-timeout 3, from the blackhole to the exit",
    at_least: Duration::from_millis(2500),
    at_most: Duration::from_secs(4),
};

/// Prints how long a timed part of a test took (see the module docs) and
/// holds it to its budget.
fn within_budget(budget: &Budget, took: Duration, log: &str) {
    eprintln!("timing: {}: {:.2} s", budget.what, took.as_secs_f64());
    assert!(
        took >= budget.at_least && took <= budget.at_most,
        "{}: {:.2} s, outside the budget of {:.2} to {:.2} s (see TIME BUDGETS)\n{log}",
        budget.what,
        took.as_secs_f64(),
        budget.at_least.as_secs_f64(),
        budget.at_most.as_secs_f64()
    );
}

fn nc(pair: &ImpairedPair, scratch: &Scratch, args: &[&str]) -> std::process::Command {
    let mut cmd = pair.cmd_a(nettool());
    cmd.arg("nc")
        .args(args)
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    cmd
}

#[test]
fn thirty_two_mebibytes_out_through_loss_reorder_duplication_and_corruption() {
    let pair = ImpairedPair::new("ncf-out", nettool(), &mixed());
    let scratch = Scratch::new();
    let mut recv = pair.cmd_b("python3");
    recv.args([BULK, "recv", "9000"]);
    let mut peer = Server::spawn(recv);
    peer.wait_for("ready", Duration::from_secs(10));
    let payload = data(32 * MIB);
    let mut cmd = nc(&pair, &scratch, &["-v", &pair.addr_b.to_string(), "9000"]);
    let r = common::run_with_input(
        cmd_take(&mut cmd),
        Some(payload.clone()),
        Duration::from_secs(240),
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    let done = peer.wait_for("done", Duration::from_secs(30));
    assert_eq!(
        done,
        format!("done {} {}", payload.len(), sha(&payload)),
        "the kernel received something else"
    );
    let stats = pair.settled_stats(Duration::from_secs(5));
    for (name, d) in [("A→B", &stats.left_to_right), ("B→A", &stats.right_to_left)] {
        assert!(
            d.dropped > 0 && d.duplicated > 0 && d.reordered > 0,
            "{name}: no faults happened: {d:?}"
        );
    }
    assert!(
        stats.left_to_right.corrupted > 0,
        "{:?}",
        stats.left_to_right
    );
    // B's kernel caught the corrupted copies nettool's frames became.
    assert!(pair.nstat_b().get("TcpInCsumErrors").copied().unwrap_or(0) > 0);
    assert!(
        !r.stderr.contains(" 0 retransmissions"),
        "losses must have been repaired: {}",
        r.stderr
    );
    // The summary counts the stream once, and the wire's extra apart.
    let sent = format!("sent {} bytes (", payload.len());
    assert!(r.stderr.contains(&sent), "{sent:?}: {}", r.stderr);
    assert!(
        r.stderr.contains(" on the wire), received"),
        "the retransmitted bytes: {}",
        r.stderr
    );
    within_budget(&OUT_32_MIB, r.elapsed, &r.stderr);
}

/// `Command` is not `Clone`; move it out of a `&mut` for `run_with_input`.
fn cmd_take(cmd: &mut std::process::Command) -> std::process::Command {
    std::mem::replace(cmd, std::process::Command::new("true"))
}

#[test]
fn thirty_two_mebibytes_in_through_loss_reorder_duplication_and_corruption() {
    let pair = ImpairedPair::new("ncf-in", nettool(), &mixed());
    let scratch = Scratch::new();
    let a = pair.addr_a.to_string();
    let mut listener = nc(&pair, &scratch, &["-v", "-l", &a, "9001"]);
    listener
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = listener.spawn().unwrap();
    let log = once_listening(child.stderr.take().unwrap());
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut got);
        got
    });
    let mut send = pair.cmd_b("python3");
    // CUBIC, as the budgets assume: a BBR sender (some systems' default)
    // ignores random loss and hides how the receiver copes.
    send.args([
        BULK,
        "send",
        &a,
        "9001",
        &(32 * MIB).to_string(),
        "7",
        "0",
        "cubic",
    ]);
    let mut peer = Server::spawn(send);
    peer.wait_for("connected", Duration::from_secs(20));
    let start = Instant::now();
    let done = peer.wait_for("done", Duration::from_secs(240));
    let status = child.wait().unwrap();
    let took = start.elapsed();
    let got = reader.join().unwrap();
    let log = log.join().unwrap();
    assert!(status.success(), "{log}");
    assert_eq!(
        done,
        format!("done {} {}", got.len(), sha(&got)),
        "nettool received something else\n{log}"
    );
    let stats = pair.settled_stats(Duration::from_secs(5));
    for (name, d) in [("A→B", &stats.left_to_right), ("B→A", &stats.right_to_left)] {
        assert!(
            d.dropped > 0 && d.duplicated > 0 && d.reordered > 0,
            "{name}: no faults happened: {d:?}"
        );
    }
    assert!(
        stats.right_to_left.corrupted > 0,
        "{:?}",
        stats.right_to_left
    );
    // Duplicated segments arrived: the stream is counted once, the wire apart.
    let received = format!("received {} bytes (", got.len());
    assert!(log.contains(&received), "{received:?}: {log}");
    assert!(log.contains(" on the wire), "), "{log}");
    within_budget(&IN_32_MIB, took, &log);
}

#[test]
fn a_ten_second_blackhole_mid_transfer_is_survived() {
    let pair = ImpairedPair::new("ncf-hole", nettool(), &Config::default());
    let scratch = Scratch::new();
    let mut recv = pair.cmd_b("python3");
    recv.args([BULK, "recv", "9002"]);
    let mut peer = Server::spawn(recv);
    peer.wait_for("ready", Duration::from_secs(10));
    let payload = data(4 * MIB);
    let mut cmd = nc(&pair, &scratch, &["-v", &pair.addr_b.to_string(), "9002"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A quarter of the data, then the wire goes dark for 10 s while nettool
    // has more to send; then light again.
    stdin.write_all(&payload[..MIB]).unwrap();
    peer.wait_for("progress", Duration::from_secs(20));
    pair.toggle_blackhole();
    let feeder = std::thread::spawn({
        let rest = payload[MIB..].to_vec();
        move || {
            let _ = stdin.write_all(&rest);
        }
    });
    std::thread::sleep(Duration::from_secs(10));
    pair.toggle_blackhole();
    let back = Instant::now();
    feeder.join().unwrap();
    let out = child.wait_with_output().unwrap();
    let took = back.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let done = peer.wait_for("done", Duration::from_secs(60));
    assert_eq!(done, format!("done {} {}", payload.len(), sha(&payload)));
    let stats = pair.settled_stats(Duration::from_secs(5));
    assert!(
        stats.left_to_right.blackholed > 0,
        "the blackhole swallowed nothing: {stats:?}"
    );
    within_budget(&AFTER_BLACKHOLE, took, &stderr);
}

#[test]
fn a_permanent_blackhole_ends_with_a_clear_error() {
    let pair = ImpairedPair::new("ncf-dead", nettool(), &Config::default());
    let scratch = Scratch::new();
    let mut recv = pair.cmd_b("python3");
    recv.args([BULK, "recv", "9003"]);
    let mut peer = Server::spawn(recv);
    peer.wait_for("ready", Duration::from_secs(10));
    let mut cmd = nc(
        &pair,
        &scratch,
        &["--user-timeout", "3", &pair.addr_b.to_string(), "9003"],
    );
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&data(MIB)).unwrap();
    peer.wait_for("progress", Duration::from_secs(20));
    pair.toggle_blackhole(); // and never again
    let start = Instant::now();
    let _ = stdin.write_all(&data(MIB)); // more to send into the dark
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("timed out"),
        "the error must say what happened: {stderr}"
    );
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(30),
        "gave up after {waited:?}"
    );
    within_budget(&USER_TIMEOUT_3, waited, &stderr);
}
