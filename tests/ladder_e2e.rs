//! `--ladder` against the Linux kernel's TCP, and `nettool ladder` on the
//! capture of the same run: nettool in namespace A, a python3 server on a
//! kernel socket in B. Each test builds and removes its own namespaces.
//! Needs root.

mod common;

use std::time::Duration;

use common::{Ran, Scratch, Server, nettool, run};
use nettool::lab::testnet::TwoHosts;

const LIMIT: Duration = Duration::from_secs(30);

fn nt(hosts: &TwoHosts, scratch: &Scratch, args: &[&str]) -> Ran {
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(args).env("NETTOOL_ARP_CACHE", scratch.cache());
    run(cmd, LIMIT)
}

/// `wants` appear in `text` in this order.
fn in_order(text: &str, wants: &[&str]) {
    let mut rest = text;
    for w in wants {
        let at = rest
            .find(w)
            .unwrap_or_else(|| panic!("{w:?} missing, or out of order, in\n{text}"));
        rest = &rest[at + w.len()..];
    }
}

/// The arrows of a ladder: each row's segment label, in order.
fn arrows(ladder: &str) -> Vec<String> {
    ladder
        .lines()
        .filter_map(|l| Some(l[l.find('[')?..l.find(" -")?].to_owned()))
        .collect()
}

#[test]
fn a_handshake_with_the_kernel_is_drawn_with_its_three_arrows() {
    let hosts = TwoHosts::new("ladder-open");
    let scratch = Scratch::new();
    let _server = Server::start(&hosts, "hold", 8080, 0);
    let target = format!("{}:8080", hosts.addr_b);
    let r = nt(
        &hosts,
        &scratch,
        &["handshake", "--ladder", "--ascii", &target],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        !r.stdout.contains("Flags ["),
        "no tcpdump lines:\n{}",
        r.stdout
    );
    in_order(
        &r.stdout,
        &[
            "CLOSED |",
            "| LISTEN",
            "SYN-SENT |-- [S] seq 0 ---",
            "ESTABLISHED |<---",
            "[S.] seq 0 ack 1 --| SYN-RECEIVED",
            "|-- [.] ack 1 ---",
            "-->| ESTABLISHED",
            "CLOSED |-- [R] seq 1 ---",
            "is open: SYN-ACK after",
        ],
    );
    for line in r.stdout.lines().filter(|l| l.contains('|')) {
        assert!(line.is_ascii() && line.len() <= 80, "{line:?}");
    }
}

#[test]
fn a_close_is_drawn_live_and_again_from_its_capture() {
    let hosts = TwoHosts::new("ladder-close");
    let scratch = Scratch::new();
    let mut server = Server::start(&hosts, "echo", 7, 0);
    let pcap = tempfile::tempdir().unwrap();
    let file = pcap.path().join("close.pcap");
    let file = file.to_str().unwrap();
    let target = format!("{}:7", hosts.addr_b);
    let r = nt(
        &hosts,
        &scratch,
        &[
            "close",
            "--ladder",
            "--ascii",
            "--time-wait",
            "500ms",
            "--pcap",
            file,
            &target,
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    server.wait_for("eof", Duration::from_secs(5));
    assert!(r.stdout.contains("| CLOSE-WAIT"), "{}", r.stdout);
    in_order(
        &r.stdout,
        &[
            "FIN-WAIT-1 |-- [F.] seq 1 ack 1",
            // The kernel's ACK of our FIN comes alone, or with its FIN.
            "FIN-WAIT-2",
            "TIME-WAIT |<---",
            "[F.] seq 1 ack 2 --| LAST-ACK",
            "|-- [.] ack 2 ---",
            "-->| CLOSED",
            "CLOSED |",
            "complete; TIME-WAIT lasted",
        ],
    );
    // The capture draws the same arrows (its states inferred, not observed).
    let drawn = run(
        {
            let mut c = std::process::Command::new(nettool());
            c.args(["ladder", "--ascii", file]);
            c
        },
        LIMIT,
    );
    assert_eq!(drawn.code, Some(0), "{}", drawn.show());
    assert_eq!(arrows(&drawn.stdout), arrows(&r.stdout), "{}", drawn.stdout);
    println!("{}\n{}", r.stdout, drawn.stdout);
}
