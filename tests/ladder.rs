//! Ladder diagrams drawn from captures: runs of the simulator (two of
//! nettool's engines on a virtual clock) written as pcap files, read back
//! and drawn, against golden text in tests/golden/ladder/. The captures
//! are kept in tests/fixtures/ladder/ too, and drawn from the file, so
//! the reader is held to bytes on disk as `nettool ladder` meets them.
//!
//! After an intended change: `NETTOOL_BLESS=1 cargo test --test ladder`
//! rewrites the goldens and the fixtures; review the diff.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use nettool::picture::{ConnFilter, Style, ladder_of_capture};
use nettool::sim::{Dir, Sim};
use nettool::tcp::{Config, State};
use nettool::time::Instant;
use nettool::wire::ethernet::HEADER_LEN;
use nettool::wire::tcp::Flags;
use rstest::rstest;

const MAX_STEPS: usize = 10_000;

fn bless() -> bool {
    std::env::var_os("NETTOOL_BLESS").is_some_and(|v| v == "1")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn established(sim: &Sim) -> bool {
    sim.a().state() == State::Established && sim.b().state() == State::Established
}

fn run(sim: &mut Sim, goal: impl FnMut(&Sim) -> bool) {
    let result = sim.run_until(goal, MAX_STEPS);
    assert!(result.is_ok(), "{result:?}\n{}", sim.trace_text());
}

/// The opening alone.
fn handshake() -> Sim {
    let mut sim = Sim::client_server(1, Config::default()).record_sent();
    run(&mut sim, established);
    sim
}

/// A closes first: FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT; B CLOSE-WAIT, LAST-ACK.
fn active_close() -> Sim {
    let mut sim = Sim::client_server(2, Config::default()).record_sent();
    sim.a_mut().app.close_after_send = true;
    run(&mut sim, |s| {
        s.a().state() == State::FinWait2 && s.b().state() == State::CloseWait
    });
    sim.b_mut().app.close_on_eof = true;
    run(&mut sim, |s| {
        s.a().state() == State::TimeWait && s.b().state() == State::Closed
    });
    sim
}

/// B closes first; A, the opener, closes when B's FIN arrives.
fn passive_close() -> Sim {
    let mut sim = Sim::client_server(3, Config::default()).record_sent();
    sim.b_mut().app.close_after_send = true;
    run(&mut sim, |s| {
        s.b().state() == State::FinWait2 && s.a().state() == State::CloseWait
    });
    sim.a_mut().app.close_on_eof = true;
    run(&mut sim, |s| {
        s.b().state() == State::TimeWait && s.a().state() == State::Closed
    });
    sim
}

/// A closes its side; B goes on sending, then closes.
fn half_close() -> Sim {
    let mut sim = Sim::client_server(4, Config::default()).record_sent();
    sim.a_mut().app.close_after_send = true;
    run(&mut sim, |s| s.b().state() == State::CloseWait);
    sim.b_mut().app.to_send = b"still talking after your FIN".to_vec();
    sim.b_mut().app.close_after_send = true;
    run(&mut sim, |s| {
        s.a().state() == State::TimeWait && s.b().state() == State::Closed
    });
    sim
}

/// Both close at the same instant: the FINs cross, both go CLOSING.
fn simultaneous_close() -> Sim {
    let mut sim = Sim::client_server(5, Config::default()).record_sent();
    run(&mut sim, established);
    sim.a_mut().app.close_after_send = true;
    sim.b_mut().app.close_after_send = true;
    run(&mut sim, |s| {
        s.a().state() == State::TimeWait && s.b().state() == State::TimeWait
    });
    sim
}

/// A's ACKs never reach the wire: B repeats its SYN-ACK.
fn lost_third_ack() -> Sim {
    let mut sim = Sim::client_server(6, Config::default()).record_sent();
    sim.drop_if(Dir::AtoB, |t| {
        t.ack.is_some() && t.flags == Flags::NONE && t.payload.is_empty()
    });
    run(&mut sim, |s| s.now() >= Instant::from_millis(4_000));
    sim
}

/// Every scenario, by the name of its fixture and goldens.
fn scenario(name: &str) -> Sim {
    match name {
        "handshake" => handshake(),
        "active-close" => active_close(),
        "passive-close" => passive_close(),
        "half-close" => half_close(),
        "simultaneous-close" => simultaneous_close(),
        "lost-third-ack" => lost_third_ack(),
        other => unreachable!("no scenario {other}"),
    }
}

fn golden(name: &str, style: Style) -> PathBuf {
    let suffix = match style {
        Style::Unicode => "unicode",
        Style::Ascii => "ascii",
    };
    root().join(format!("tests/golden/ladder/{name}.{suffix}.txt"))
}

fn fixture(name: &str) -> PathBuf {
    root().join(format!("tests/fixtures/ladder/{name}.pcap"))
}

/// `got` is the golden at `path` (or becomes it, when blessing).
fn check(path: &Path, got: &str) {
    if bless() {
        fs::write(path, got).unwrap();
        return;
    }
    let want = fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; write it with NETTOOL_BLESS=1 cargo test --test ladder",
            path.display()
        )
    });
    assert_eq!(
        got,
        want,
        "{} differs; if the change is intended, rewrite it with NETTOOL_BLESS=1 cargo test --test ladder\n{got}",
        path.display()
    );
}

const NAMES: [&str; 6] = [
    "handshake",
    "active-close",
    "passive-close",
    "half-close",
    "simultaneous-close",
    "lost-third-ack",
];

#[rstest]
fn a_simulated_run_draws_its_golden_ladder(
    #[values(
        "handshake",
        "active-close",
        "passive-close",
        "half-close",
        "simultaneous-close",
        "lost-third-ack"
    )]
    name: &str,
    #[values(Style::Unicode, Style::Ascii)] style: Style,
) {
    let pcap = common::pcap::of_sim(&scenario(name));
    if bless() {
        fs::write(fixture(name), &pcap).unwrap();
    }
    let ladder = ladder_of_capture(&pcap, None, style).unwrap();
    for line in ladder.lines() {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns: {line:?}"
        );
        if style == Style::Ascii {
            assert!(line.is_ascii(), "not ASCII: {line:?}");
        }
    }
    check(&golden(name, style), &ladder);
}

/// The committed captures draw the same ladders (they are what the CLI
/// tests and the README read).
#[test]
fn the_fixture_files_draw_the_goldens() {
    if bless() {
        return;
    }
    for name in NAMES {
        let bytes = fs::read(fixture(name)).unwrap();
        for style in [Style::Unicode, Style::Ascii] {
            let got = ladder_of_capture(&bytes, None, style).unwrap();
            check(&golden(name, style), &got);
        }
    }
}

/// What the states say, whatever the drawing: the inference follows
/// RFC 9293's diagram in each scenario (in reading order: row by row, the
/// left end before the right).
#[rstest]
#[case("handshake", &["SYN-SENT", "SYN-RECEIVED", "ESTABLISHED"])]
#[case("active-close", &["FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "TIME-WAIT", "LAST-ACK", "CLOSED"])]
#[case("passive-close", &["CLOSE-WAIT", "FIN-WAIT-1", "FIN-WAIT-2", "LAST-ACK", "CLOSED", "TIME-WAIT"])]
#[case("simultaneous-close", &["FIN-WAIT-1", "CLOSING", "TIME-WAIT"])]
#[case("lost-third-ack", &["SYN-RECEIVED", "rtx"])]
fn the_states_follow_the_diagram(#[case] name: &str, #[case] want: &[&str]) {
    let ladder = ladder_of_capture(&fs::read(fixture(name)).unwrap(), None, Style::Ascii).unwrap();
    let mut rest = &ladder[..];
    for w in want {
        let at = rest
            .find(w)
            .unwrap_or_else(|| panic!("{w} missing, or out of order, in\n{ladder}"));
        rest = &rest[at + w.len()..];
    }
}

/// Both ends of a simultaneous close pass through CLOSING.
#[test]
fn a_simultaneous_close_shows_closing_on_both_sides() {
    let ladder = ladder_of_capture(
        &fs::read(fixture("simultaneous-close")).unwrap(),
        None,
        Style::Ascii,
    )
    .unwrap();
    let closing: Vec<&str> = ladder.lines().filter(|l| l.contains("CLOSING")).collect();
    let left = closing.iter().any(|l| l.find("CLOSING") < l.find('|'));
    let right = closing.iter().any(|l| l.rfind('|') < l.find("CLOSING"));
    assert!(left && right, "{ladder}");
    assert!(!ladder.contains("CLOSE-WAIT"), "{ladder}");
}

/// A capture of two connections: each is drawn when named, and naming
/// neither is an error that lists both.
#[test]
fn one_connection_is_picked_out_of_several() {
    let mut sim = Sim::client_server(7, Config::default()).record_sent();
    run(&mut sim, established);
    let one = common::pcap::of_sim(&sim);
    // The same run again, its client on another port, appended.
    let mut two = one.clone();
    let mut other = one[24..].to_vec();
    let mut at = 0;
    while at < other.len() {
        let caplen = u32::from_le_bytes(other[at + 8..at + 12].try_into().unwrap()) as usize;
        let tcp = at + 16 + HEADER_LEN + 20;
        // The client's port is the source of A→B segments and the
        // destination of B→A ones; 40000 becomes 40001. (Checksums are
        // not verified by the reader.)
        for off in [tcp, tcp + 2] {
            if other[off..off + 2] == 40000u16.to_be_bytes() {
                other[off..off + 2].copy_from_slice(&40001u16.to_be_bytes());
            }
        }
        at += 16 + caplen;
    }
    two.append(&mut other);
    let err = ladder_of_capture(&two, None, Style::Ascii)
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 TCP connections"), "{err}");
    assert!(err.contains("10.0.0.1:40000-10.0.0.2:80"), "{err}");
    assert!(err.contains("10.0.0.1:40001-10.0.0.2:80"), "{err}");
    let alone = ladder_of_capture(&one, None, Style::Ascii).unwrap();
    let by_port = ladder_of_capture(&two, Some(ConnFilter::Port(40000)), Style::Ascii).unwrap();
    assert_eq!(by_port, alone);
    let by_tuple: ConnFilter = "10.0.0.2:80-10.0.0.1:40001".parse().unwrap();
    let drawn = ladder_of_capture(&two, Some(by_tuple), Style::Ascii).unwrap();
    assert!(drawn.contains("10.0.0.1:40001"), "{drawn}");
    let err = ladder_of_capture(&two, Some(ConnFilter::Port(80)), Style::Ascii)
        .unwrap_err()
        .to_string();
    assert!(err.contains("matching port 80"), "{err}");
    let err = ladder_of_capture(&two, Some(ConnFilter::Port(22)), Style::Ascii)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no TCP connection"), "{err}");
}
