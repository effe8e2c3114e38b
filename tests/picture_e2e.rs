//! nc's own pictures against the Linux kernel: nettool in namespace A,
//! the kernel in B, nettool's seeded relay in M between them dropping 2 %
//! of the frames each way (`nettool impair`, see `lab::impaired`). The
//! graph `nc --plot` draws, and the one `nettool plot` draws from the
//! capture nc wrote at the same time, must count the retransmissions
//! `nc -v` counts; the ladder of a short exchange must be whole, within
//! 80 columns. Needs root.

mod common;

use std::path::Path;
use std::time::Duration;

use common::svg::{Element, parse_xml};
use common::{BULK, MIB, Scratch, Server, data, nettool, sha};
use nettool::impair::{Config, Faults};
use nettool::lab::impaired::ImpairedPair;
use nettool::picture::capture;
use nettool::wire::tcp::Flags;

/// Loss alone, both ways: every retransmission repairs a drop.
fn lossy(loss: f64) -> Config {
    Config {
        seed: 17,
        ..Config::both(Faults {
            loss,
            dup: 0.0,
            reorder: 0.0,
            corrupt: 0.0,
            delay: Duration::ZERO,
        })
    }
}

/// `nc ARGS` in A, with its own ARP cache.
fn nc(pair: &ImpairedPair, scratch: &Scratch, args: &[&str]) -> std::process::Command {
    let mut cmd = pair.cmd_a(nettool());
    cmd.arg("nc")
        .args(args)
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    cmd
}

/// `-v`'s count: `…, 12 retransmissions, open for …`.
fn retransmissions(stderr: &str) -> usize {
    stderr
        .split(" retransmission")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no retransmission count in {stderr}"))
}

fn elements(svg: &Path) -> Vec<Element> {
    let doc = std::fs::read_to_string(svg).unwrap_or_else(|e| panic!("{}: {e}", svg.display()));
    parse_xml(&doc).unwrap_or_else(|e| panic!("{}: not XML: {e}", svg.display()))
}

fn count(elements: &[Element], class: &str) -> usize {
    elements.iter().filter(|e| e.class() == class).count()
}

/// Segments from `from` in the capture that carry no data and repeat a
/// SYN or FIN sent before: `-v` counts them, a graph of data does not.
fn control_repeats(pcap: &Path, from: std::net::Ipv4Addr) -> usize {
    let cap = capture::read(&std::fs::read(pcap).unwrap()).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    cap.segments
        .iter()
        .filter(|s| s.src.ip() == from && s.len == 0)
        .filter(|s| s.flags.contains(Flags::SYN) || s.flags.contains(Flags::FIN))
        .filter(|s| !seen.insert((s.seq, s.flags.contains(Flags::SYN))))
        .count()
}

/// 8 MiB to the kernel through 2 % loss: nc's graph and the capture's
/// count what `-v` counts, and the sender's own panel says why each
/// segment went again.
#[test]
fn the_graphs_of_a_lossy_transfer_count_what_nc_counts() {
    let pair = ImpairedPair::new("pic-loss", nettool(), &lossy(0.02));
    let scratch = Scratch::new();
    let dir = tempfile::tempdir().unwrap();
    let (svg, pcap, from_capture) = (
        dir.path().join("nc.svg"),
        dir.path().join("nc.pcap"),
        dir.path().join("capture.svg"),
    );
    let mut recv = pair.cmd_b("python3");
    recv.args([BULK, "recv", "9000"]);
    let mut peer = Server::spawn(recv);
    peer.wait_for("ready", Duration::from_secs(10));
    let payload = data(8 * MIB);
    let cmd = nc(
        &pair,
        &scratch,
        &[
            "-v",
            "--plot",
            svg.to_str().unwrap(),
            "--pcap",
            pcap.to_str().unwrap(),
            &pair.addr_b.to_string(),
            "9000",
        ],
    );
    let r = common::run_with_input(cmd, Some(payload.clone()), Duration::from_secs(240));
    assert_eq!(r.code, Some(0), "{}", r.show());
    let done = peer.wait_for("done", Duration::from_secs(30));
    assert_eq!(done, format!("done {} {}", payload.len(), sha(&payload)));
    let stats = pair.settled_stats(Duration::from_secs(5));
    assert!(stats.left_to_right.dropped > 0, "{:?}", stats.left_to_right);

    let counted = retransmissions(&r.stderr);
    assert!(counted > 0, "{}", r.stderr);
    let control = control_repeats(&pcap, pair.addr_a);

    let ours = elements(&svg);
    let marked = count(&ours, "data retransmit");
    assert_eq!(
        marked + control,
        counted,
        "nc --plot against -v: {}",
        r.stderr
    );
    let causes = ["cause recovery", "cause tlp", "cause rto"].map(|c| count(&ours, c));
    assert_eq!(causes.iter().sum::<usize>(), marked, "{causes:?}");
    for series in ["cwnd", "ssthresh", "rto", "srtt"] {
        assert_eq!(count(&ours, series), 1, "{series}");
    }
    assert!(count(&ours, "loss-episode") > 0);
    eprintln!(
        "figures: {} data segments, {marked} retransmitted (recovery {}, tlp {}, rto {}), \
         {control} SYN/FIN repeats; -v: {}",
        count(&ours, "data") + marked,
        causes[0],
        causes[1],
        causes[2],
        r.stderr.lines().last().unwrap_or("")
    );

    let plot = common::run(
        {
            let mut c = std::process::Command::new(nettool());
            c.args(["plot", pcap.to_str().unwrap(), "-o"])
                .arg(&from_capture);
            c
        },
        Duration::from_secs(60),
    );
    assert_eq!(plot.code, Some(0), "{}", plot.show());
    let theirs = elements(&from_capture);
    assert_eq!(
        count(&theirs, "data retransmit") + control,
        counted,
        "nettool plot of nc's capture against -v"
    );
    assert_eq!(
        count(&theirs, "data") + count(&theirs, "data retransmit"),
        count(&ours, "data") + marked,
        "one bar per data segment, both ways of drawing"
    );
}

/// A short exchange with the kernel through the same relay, drawn whole:
/// the handshake, the data, both FINs; no row past 79 columns.
#[test]
fn the_ladder_of_a_short_exchange_with_the_kernel_is_whole() {
    let pair = ImpairedPair::new("pic-ladder", nettool(), &lossy(0.0));
    let scratch = Scratch::new();
    let mut recv = pair.cmd_b("python3");
    recv.args([BULK, "recv", "9000"]);
    let mut peer = Server::spawn(recv);
    peer.wait_for("ready", Duration::from_secs(10));
    let payload = data(3000);
    let cmd = nc(
        &pair,
        &scratch,
        &["--ladder", "--ascii", &pair.addr_b.to_string(), "9000"],
    );
    let r = common::run_with_input(cmd, Some(payload.clone()), Duration::from_secs(60));
    assert_eq!(r.code, Some(0), "{}", r.show());
    peer.wait_for("done", Duration::from_secs(30));
    let ladder = &r.stderr;
    assert!(ladder.lines().all(|l| l.chars().count() <= 79), "{ladder}");
    assert!(!ladder.contains("not drawn"), "{ladder}");
    let mut rest = &ladder[..];
    for want in [
        "SYN-SENT |-- [S] seq 0",
        "ESTABLISHED |<-",
        "[S.] seq 0 ack 1",
        "len 1448",
        "FIN-WAIT-1",
        "TIME-WAIT",
        "states inferred from the segments",
    ] {
        let i = rest
            .find(want)
            .unwrap_or_else(|| panic!("{want:?} missing, or out of order, in\n{ladder}"));
        rest = &rest[i + want.len()..];
    }
    // 3000 bytes: the data arrows carry them all.
    let carried: usize = ladder
        .lines()
        .filter(|l| l.contains("->|"))
        .filter_map(|l| l.split(" len ").nth(1))
        .filter_map(|n| n.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(carried, payload.len(), "{ladder}");
    eprintln!("{ladder}");
}
