//! The impairment relay (`nettool impair`), proven with kernel-to-kernel
//! traffic: a python3 sender in A, a python3 receiver in B (or both ways),
//! the relay in M between them. Each test shows that the bytes arrived
//! intact (SHA-256) and that the faults really happened: the relay's
//! counters, and the kernel's own (`nstat`) where they mean something.
//! Needs root.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{BULK, MIB, Server, nettool};
use nettool::impair::{Config, Dir, DirStats, Faults, Stats};
use nettool::lab::impaired::ImpairedPair;

const FRAMES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/frames.py");
const LIMIT: Duration = Duration::from_secs(30);

fn python(mut cmd: Command, args: &[String]) -> Command {
    cmd.arg(BULK).args(args);
    cmd
}

/// One bulk transfer: the receiver listening, the sender started.
struct Transfer {
    receiver: Server,
    sender: Server,
    started: Instant,
}

impl Transfer {
    /// `size` bytes from A to B (`to_b`) or from B to A, at most `rate` B/s (0: no limit).
    fn start(pair: &ImpairedPair, to_b: bool, port: u16, size: usize, rate: usize) -> Transfer {
        let (rx_cmd, tx_cmd, dst) = if to_b {
            (pair.cmd_b("python3"), pair.cmd_a("python3"), pair.addr_b)
        } else {
            (pair.cmd_a("python3"), pair.cmd_b("python3"), pair.addr_a)
        };
        let mut receiver = Server::spawn(python(rx_cmd, &["recv".into(), port.to_string()]));
        receiver.wait_for("ready", LIMIT);
        let args = [
            "send".to_string(),
            dst.to_string(),
            port.to_string(),
            size.to_string(),
            port.to_string(),
            rate.to_string(),
        ];
        let sender = Server::spawn(python(tx_cmd, &args));
        Transfer {
            receiver,
            sender,
            started: Instant::now(),
        }
    }

    /// Waits for both ends; asserts the bytes arrived intact. Returns the
    /// time taken.
    fn finish(mut self, size: usize) -> Duration {
        let sent = self.sender.wait_for("done", LIMIT);
        let got = self.receiver.wait_for("done", LIMIT);
        let elapsed = self.started.elapsed();
        assert_eq!(got, sent, "the receiver's bytes differ from the sender's");
        assert!(got.starts_with(&format!("done {size} ")), "{got}");
        elapsed
    }
}

fn transfer(pair: &ImpairedPair, size: usize) -> Duration {
    Transfer::start(pair, true, 9000, size, 0).finish(size)
}

fn pair(tag: &str, config: &Config) -> ImpairedPair {
    ImpairedPair::new(tag, nettool(), config)
}

/// The relay's counters, up to date, once everything it held has gone out.
fn settled(pair: &ImpairedPair) -> Stats {
    pair.settled_stats(Duration::from_secs(5))
}

fn balanced(s: &DirStats) {
    assert_eq!(
        s.received + s.duplicated,
        s.forwarded + s.dropped + s.blackholed + s.queued,
        "{s:?}"
    );
    assert_eq!(s.truncated, 0, "{s:?}");
    assert_eq!(s.checksum_completed, 0, "offloads were not off: {s:?}");
}

fn counter(c: &std::collections::BTreeMap<String, u64>, name: &str) -> u64 {
    c.get(name).copied().unwrap_or(0)
}

/// Every frame the relay corrupted reached the receiving kernel's TCP and
/// failed its checksum there: `TcpInCsumErrors` in B equals the relay's
/// left→right count, in A its right→left count. The kernel's counters are
/// read between two snapshots of the relay's, so a late frame (a FIN's
/// last ACK, say) cannot make the comparison race.
fn every_corruption_was_caught(pair: &ImpairedPair) {
    let before = pair.fresh_stats();
    let (a, b) = (pair.nstat_a(), pair.nstat_b());
    let after = pair.fresh_stats();
    for (side, c, dir) in [("B", &b, Dir::LeftToRight), ("A", &a, Dir::RightToLeft)] {
        let caught = counter(c, "TcpInCsumErrors");
        let (lo, hi) = (before.dir(dir).corrupted, after.dir(dir).corrupted);
        eprintln!("{side}: TcpInCsumErrors {caught}; the relay corrupted {lo} {dir}");
        assert!(
            (lo..=hi).contains(&caught),
            "{side} caught {caught} bad checksums; the relay corrupted {lo}..={hi} {dir}"
        );
    }
}

fn faults(f: impl FnOnce(&mut Faults)) -> Config {
    let mut faults = Faults::default();
    f(&mut faults);
    Config {
        seed: 42,
        ..Config::both(faults)
    }
}

#[test]
fn a_clean_relay_passes_data_byte_exact_and_arp_untouched() {
    let pair = pair("imp-clean", &Config::default());
    let size = 16 * MIB;
    let took = transfer(&pair, size);
    let s = settled(&pair);
    eprintln!(
        "clean relay: {} MiB in {took:?} = {:.0} MB/s\n{}",
        size / MIB,
        size as f64 / took.as_secs_f64() / 1e6,
        s.render()
    );
    for d in [&s.left_to_right, &s.right_to_left] {
        balanced(d);
        assert!(d.tcp > 0 && d.other > 0, "TCP and ARP both crossed: {d:?}");
        assert_eq!(d.forwarded, d.received);
        assert_eq!(d.send_errors, 0, "the kernel refused frames: {d:?}");
        assert_eq!(
            d.dropped + d.duplicated + d.corrupted + d.reordered + d.blackholed,
            0
        );
    }
    // Offloads are off: every data frame is one MTU-sized segment.
    assert!(
        s.left_to_right.tcp as usize > size / 1500,
        "{:?}",
        s.left_to_right
    );
    // (No assertion on TcpRetransSegs: under CPU load the kernel sends tail
    // loss probes, counted as retransmissions, on a perfect wire too.)
    assert_eq!(counter(&pair.nstat_b(), "TcpInCsumErrors"), 0);
    assert_eq!(counter(&pair.nstat_a(), "TcpInCsumErrors"), 0);
}

#[test]
fn loss_alone_is_retransmitted() {
    let pair = pair("imp-loss", &faults(|f| f.loss = 0.02));
    transfer(&pair, 4 * MIB);
    let s = settled(&pair);
    for d in [&s.left_to_right, &s.right_to_left] {
        balanced(d);
        assert!(d.dropped > 0, "{d:?}");
        assert_eq!(d.duplicated + d.corrupted + d.reordered, 0);
    }
    let a = pair.nstat_a();
    assert!(counter(&a, "TcpRetransSegs") > 0, "{a:?}");
}

#[test]
fn duplicates_alone_are_discarded() {
    let pair = pair("imp-dup", &faults(|f| f.dup = 0.02));
    transfer(&pair, 4 * MIB);
    let s = settled(&pair);
    for d in [&s.left_to_right, &s.right_to_left] {
        balanced(d);
        assert!(d.duplicated > 0, "{d:?}");
        assert_eq!(d.forwarded, d.received + d.duplicated);
    }
    // B saw data it already had, and said so with D-SACKs.
    let b = pair.nstat_b();
    assert!(counter(&b, "TcpExtTCPDSACKOldSent") > 0, "{b:?}");
}

#[test]
fn reordering_alone_fills_the_out_of_order_queue() {
    let pair = pair("imp-reorder", &faults(|f| f.reorder = 0.05));
    transfer(&pair, 4 * MIB);
    let s = settled(&pair);
    for d in [&s.left_to_right, &s.right_to_left] {
        balanced(d);
        assert!(d.reordered > 0, "{d:?}");
        assert_eq!(d.dropped + d.duplicated + d.corrupted, 0);
    }
    assert!(s.left_to_right.overtaken > 0, "{:?}", s.left_to_right);
    let b = pair.nstat_b();
    assert!(counter(&b, "TcpExtTCPOFOQueue") > 0, "{b:?}");
}

#[test]
fn corruption_alone_is_caught_by_the_receivers_checksum() {
    let pair = pair("imp-corrupt", &faults(|f| f.corrupt = 0.01));
    transfer(&pair, 4 * MIB);
    let s = settled(&pair);
    for d in [&s.left_to_right, &s.right_to_left] {
        balanced(d);
        assert!(d.corrupted > 0, "{d:?}");
    }
    every_corruption_was_caught(&pair);
}

#[test]
fn delay_stretches_the_handshake() {
    let pair = pair(
        "imp-delay",
        &faults(|f| f.delay = Duration::from_millis(25)),
    );
    let mut t = Transfer::start(&pair, true, 9000, 256 * 1024, 0);
    let line = t.sender.wait_for("connected", LIMIT);
    let ms: u64 = line["connected ".len()..].parse().unwrap();
    assert!(
        ms >= 50,
        "SYN and SYN-ACK each wait 25 ms, yet connect took {ms} ms"
    );
    t.finish(256 * 1024);
    let s = settled(&pair);
    assert!(s.left_to_right.delayed > 0 && s.right_to_left.delayed > 0);
}

#[test]
fn everything_at_once_both_ways_arrives_intact() {
    let config = faults(|f| {
        f.loss = 0.02;
        f.reorder = 0.05;
        f.dup = 0.02;
        f.corrupt = 0.01;
    });
    let pair = pair("imp-mixed", &config);
    let size = 8 * MIB;
    let start = Instant::now();
    let ab = Transfer::start(&pair, true, 9000, size, 0);
    let ba = Transfer::start(&pair, false, 9001, size, 0);
    ab.finish(size);
    ba.finish(size);
    let took = start.elapsed();
    let s = settled(&pair);
    eprintln!(
        "mixed faults: {} MiB each way in {took:?}\n{}",
        size / MIB,
        s.render()
    );
    for d in [&s.left_to_right, &s.right_to_left] {
        balanced(d);
        assert!(
            d.dropped > 0 && d.duplicated > 0 && d.corrupted > 0 && d.reordered > 0,
            "{d:?}"
        );
    }
    // The trace tells the same story as the counters, frame by frame.
    let trace = std::fs::read_to_string(pair.trace_path()).unwrap();
    let lines = |dir: &str, what: &str| {
        trace
            .lines()
            .filter(|l| l.contains(dir) && l.contains(what))
            .count() as u64
    };
    eprintln!(
        "trace, first lines:\n{}",
        trace.lines().take(5).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(lines("left→right", " dropped "), s.left_to_right.dropped);
    assert_eq!(
        lines("right→left", " corrupted@"),
        s.right_to_left.corrupted
    );
    assert_eq!(lines("left→right", " held "), s.left_to_right.reordered);
    every_corruption_was_caught(&pair);
    for (side, c) in [("A", pair.nstat_a()), ("B", pair.nstat_b())] {
        eprintln!(
            "{side}: TcpRetransSegs {} TcpInCsumErrors {} TcpExtTCPOFOQueue {} TcpExtTCPDSACKOldSent {}",
            counter(&c, "TcpRetransSegs"),
            counter(&c, "TcpInCsumErrors"),
            counter(&c, "TcpExtTCPOFOQueue"),
            counter(&c, "TcpExtTCPDSACKOldSent"),
        );
        assert!(counter(&c, "TcpRetransSegs") > 0, "{side}: {c:?}");
        assert!(counter(&c, "TcpExtTCPOFOQueue") > 0, "{side}: {c:?}");
    }
}

/// The relay's decisions for a scripted, open-loop frame sequence from A.
fn decisions(pair: &ImpairedPair, count: usize) -> DirStats {
    let mut cmd = pair.cmd_a("python3");
    cmd.args([
        FRAMES,
        "eth0",
        &pair.mac_b().to_string(),
        &pair.addr_a.to_string(),
        // An address nobody has: B's kernel drops the segments silently.
        "10.201.255.99",
        &count.to_string(),
    ]);
    let out = cmd.output().expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = pair.wait_stats(Duration::from_secs(10), |s| {
        s.left_to_right.tcp == count as u64 && s.left_to_right.queued == 0
    });
    assert_eq!(s.right_to_left.tcp, 0, "nothing TCP came back");
    s.left_to_right
}

#[test]
fn the_same_seed_gives_the_same_decisions() {
    let mut config = faults(|f| {
        f.loss = 0.05;
        f.reorder = 0.05;
        f.dup = 0.05;
        f.corrupt = 0.05;
    });
    config.seed = 7;
    let mut pair = pair("imp-seed", &config);
    let n = 2000;
    let first = decisions(&pair, n);
    pair.restart_relay(&config);
    let again = decisions(&pair, n);
    config.seed = 8;
    pair.restart_relay(&config);
    let other = decisions(&pair, n);
    eprintln!("seed 7: {first:?}\nseed 7: {again:?}\nseed 8: {other:?}");
    let key = |d: &DirStats| {
        (
            d.received,
            d.dropped,
            d.duplicated,
            d.corrupted,
            d.reordered,
            d.forwarded,
        )
    };
    assert_eq!(key(&first), key(&again));
    assert_ne!(key(&first), key(&other));
    assert!(
        first.dropped > 0 && first.duplicated > 0 && first.corrupted > 0 && first.reordered > 0
    );
}

#[test]
fn a_blackhole_mid_transfer_is_survived() {
    let pair = pair("imp-blackhole", &Config::default());
    let size = 4 * MIB;
    let mut t = Transfer::start(&pair, true, 9000, size, 4 * MIB);
    let deadline = Instant::now() + LIMIT;
    while t.receiver.progress() < MIB {
        assert!(Instant::now() < deadline, "the transfer never got going");
        std::thread::sleep(Duration::from_millis(10));
    }
    pair.toggle_blackhole();
    let on = pair.wait_stats(Duration::from_secs(2), |s| {
        s.blackhole_active && s.left_to_right.blackholed > 0
    });
    let stalled_at = t.receiver.progress();
    std::thread::sleep(Duration::from_secs(3));
    let during = pair.stats();
    assert!(during.blackhole_active);
    assert!(
        t.receiver.progress() - stalled_at <= MIB,
        "data crossed the blackhole"
    );
    let tcp_out = |s: &Stats| s.left_to_right.forwarded - s.left_to_right.other;
    assert_eq!(
        tcp_out(&during),
        tcp_out(&on),
        "TCP frames crossed the blackhole"
    );
    pair.toggle_blackhole();
    t.finish(size);
    let s = settled(&pair);
    assert!(!s.blackhole_active);
    balanced(&s.left_to_right);
    assert!(s.left_to_right.blackholed > during.left_to_right.blackholed - 1);
    let a = pair.nstat_a();
    assert!(counter(&a, "TcpExtTCPTimeouts") > 0, "{a:?}");
}

#[test]
fn a_scheduled_permanent_blackhole_stops_the_flow_for_good() {
    let mut pair = pair("imp-permanent", &Config::default());
    let mut t = Transfer::start(&pair, true, 9000, 8 * MIB, 2 * MIB);
    let deadline = Instant::now() + LIMIT;
    while t.receiver.progress() < MIB {
        assert!(Instant::now() < deadline, "the transfer never got going");
        std::thread::sleep(Duration::from_millis(10));
    }
    // A relay whose blackhole starts 300 ms after it does, and never ends.
    let config = Config {
        blackhole_after: Some(Duration::from_millis(300)),
        ..Config::default()
    };
    pair.restart_relay(&config);
    let first = pair.wait_stats(LIMIT, |s| {
        s.blackhole_active && s.left_to_right.blackholed > 0
    });
    assert!(
        first.left_to_right.forwarded > first.left_to_right.other,
        "the flow crossed the new relay before its blackhole: {first:?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    let got = t.receiver.progress();
    // The sender keeps retransmitting into the hole.
    let later = pair.wait_stats(LIMIT, |s| {
        s.left_to_right.blackholed > first.left_to_right.blackholed + 2
    });
    assert!(later.blackhole_active);
    assert!(got < 8 * MIB, "{got} bytes arrived");
    assert_eq!(t.receiver.progress(), got, "data crossed the blackhole");
    let tcp_out = |s: &Stats| s.left_to_right.forwarded - s.left_to_right.other;
    assert_eq!(
        tcp_out(&later),
        tcp_out(&first),
        "TCP crossed the blackhole"
    );
}

#[test]
fn the_relay_stops_cleanly_and_the_namespaces_go() {
    let mut pair = pair("imp-stop", &Config::default());
    transfer(&pair, MIB);
    let pid = pair.relay_pid();
    let names = [
        pair.a().to_string(),
        pair.m().to_string(),
        pair.b().to_string(),
    ];
    let exit = pair.stop_relay();
    assert!(exit.status.success(), "{exit:?}");
    assert!(exit.stats.finished);
    assert!(exit.stats.left_to_right.forwarded > 0);
    assert!(exit.stdout.contains("forwarded"), "{}", exit.stdout);
    assert!(
        exit.stderr.contains("IMPAIR left <-> right"),
        "{}",
        exit.stderr
    );
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(pair);
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    for n in &names {
        assert!(!list.contains(n.as_str()), "{n} is still there:\n{list}");
    }
}

#[test]
fn the_relay_exits_with_an_error_when_an_interface_goes() {
    let mut pair = pair("imp-gone", &Config::default());
    let mut del = pair.cmd_a("ip");
    del.args(["link", "del", "eth0"]);
    common::sh(del);
    let exit = pair.wait_relay_exit(Duration::from_secs(5));
    assert_eq!(exit.status.code(), Some(2), "{exit:?}");
    assert!(
        exit.stderr.contains("interface left went down or away"),
        "{}",
        exit.stderr
    );
    assert!(exit.stats.finished, "the last counts are written even then");
}

#[test]
fn dropping_the_pair_stops_a_running_relay() {
    let pair = pair("imp-drop", &Config::default());
    let pid = pair.relay_pid();
    let m = pair.m().to_string();
    drop(pair);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&list.stdout).contains(&m));
}

/// How fast the relay itself is (run by hand: `cargo test --test impair
/// -- --ignored --nocapture`, with `--release` for an optimised relay).
#[test]
#[ignore = "a measurement, not a check"]
fn throughput_of_the_relay() {
    let size = 32 * MIB;
    let mixed = faults(|f| {
        f.loss = 0.02;
        f.reorder = 0.05;
        f.dup = 0.02;
        f.corrupt = 0.01;
    });
    // The relay's CPU time (user + system) in seconds, from /proc.
    let cpu = |pid: u32| -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat.rsplit(") ").next().unwrap().split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        ticks as f64 / 100.0
    };
    for (what, config) in [("clean", Config::default()), ("mixed faults", mixed)] {
        let pair = pair("imp-speed", &config);
        let pid = pair.relay_pid();
        let took = transfer(&pair, size);
        eprintln!(
            "{what}: 32 MiB one way in {took:?} = {:.0} MB/s (python start-up included); relay CPU {:.2} s",
            size as f64 / took.as_secs_f64() / 1e6,
            cpu(pid)
        );
        let start = Instant::now();
        let ab = Transfer::start(&pair, true, 9000, size, 0);
        let ba = Transfer::start(&pair, false, 9001, size, 0);
        ab.finish(size);
        ba.finish(size);
        let took = start.elapsed();
        eprintln!(
            "{what}: 32 MiB each way at once in {took:?} = {:.0} MB/s in total; relay CPU {:.2} s so far",
            2.0 * size as f64 / took.as_secs_f64() / 1e6,
            cpu(pid)
        );
    }
}

/// A sender with segmentation offload on hands the relay super-frames it
/// cannot forward: the relay says so at once, with the command that fixes
/// it, instead of leaving the transfer to crawl (issue 12: 6 min for 2 MB
/// with 1,313 send errors and not a word).
#[test]
fn offloads_left_on_at_an_outer_end_are_said_at_once() {
    let mut pair = pair("offload-on", &Config::default());
    let mut ethtool = pair.cmd_a("ethtool");
    ethtool.args([
        "-K", "eth0", "tx", "on", "sg", "on", "tso", "on", "gso", "on",
    ]);
    common::sh(ethtool);
    let transfer = Transfer::start(&pair, true, 9010, 4 * MIB, 0);
    std::thread::sleep(Duration::from_millis(1500));
    let exit = pair.stop_relay();
    drop(transfer);
    let log = format!("{}{}", exit.stdout, exit.stderr);
    let s = &exit.stats.left_to_right;
    assert!(
        s.send_errors + s.truncated > 0,
        "no frame was too big: {s:?}\n{log}"
    );
    assert_eq!(
        log.matches("cannot be forwarded").count(),
        1,
        "said once:\n{log}"
    );
    assert!(
        log.contains("ethtool -K IFACE tso off gso off gro off"),
        "{log}"
    );
}
