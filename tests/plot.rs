//! Time–sequence graphs (`nettool plot`): bulk transfers of the simulator
//! (two of nettool's engines on a virtual clock), clean and through loss,
//! written as pcap files and drawn as SVG. The SVG is checked for what it
//! must show, counted independently from the capture's segments: one bar
//! per data segment, the retransmissions marked, an ACK line that only
//! rises. The captures are kept in tests/fixtures/plot/ too and drawn
//! from the file, as `nettool plot` meets them. No network, no privileges.
//!
//! After an intended engine change: `NETTOOL_BLESS=1 cargo test --test
//! plot` rewrites the fixtures; review the diff.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::svg::{Element, parse_xml, step_path};
use common::{nettool, run};
use nettool::link::pcap::PcapWriter;
use nettool::picture::capture;
use nettool::picture::{ConnFilter, Way, plot_of_capture};
use nettool::sim::{Impairments, Sim};
use nettool::tcp::{Config, State};
use nettool::wire::tcp::Flags;
use rstest::rstest;

const LIMIT: Duration = Duration::from_secs(30);
const MAX_STEPS: usize = 200_000;

fn bless() -> bool {
    std::env::var_os("NETTOOL_BLESS").is_some_and(|v| v == "1")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    root().join(format!("tests/fixtures/plot/{name}.pcap"))
}

/// A sends 30 000 bytes and closes; B answers 500 bytes and closes on
/// A's FIN. `loss` in both directions.
fn bulk(seed: u64, loss: f64) -> Sim {
    let mut sim = Sim::client_server(seed, Config::default())
        .with_impairments(Impairments {
            loss,
            ..Impairments::CLEAN
        })
        .record_sent();
    sim.a_mut().app.to_send = (0..30_000u32).map(|i| (i % 251) as u8).collect();
    sim.a_mut().app.close_after_send = true;
    sim.b_mut().app.to_send = vec![b'x'; 500];
    sim.b_mut().app.close_on_eof = true;
    let done = sim.run_until(
        |s| s.a().state() == State::TimeWait || s.a().state() == State::Closed,
        MAX_STEPS,
    );
    assert!(done.is_ok(), "{done:?}\n{}", sim.trace_text());
    assert_eq!(sim.b().app.received.len(), 30_000);
    sim
}

/// B stops reading for a second with a small receive buffer: its window
/// closes, A probes it, then B reads again and the transfer ends.
fn stalled() -> Sim {
    let config = Config {
        recv_buffer: 8 * 1024,
        ..Config::default()
    };
    let mut sim = Sim::client_server(19, config).record_sent();
    sim.a_mut().app.to_send = (0..30_000u32).map(|i| (i % 251) as u8).collect();
    sim.a_mut().app.close_after_send = true;
    sim.b_mut().app.close_on_eof = true;
    sim.b_mut().app.paused = true;
    let second = nettool::time::Instant::from_millis(1_000);
    let paused = sim.run_until(|s| s.now() >= second, MAX_STEPS);
    assert!(paused.is_ok(), "{paused:?}\n{}", sim.trace_text());
    sim.b_mut().app.paused = false;
    let done = sim.run_until(|s| s.a().state() == State::TimeWait, MAX_STEPS);
    assert!(done.is_ok(), "{done:?}\n{}", sim.trace_text());
    assert_eq!(sim.b().app.received.len(), 30_000);
    sim
}

fn scenario(name: &str) -> Sim {
    match name {
        "clean" => bulk(11, 0.0),
        "lossy" => bulk(17, 0.08),
        "stalled" => stalled(),
        other => unreachable!("no scenario {other}"),
    }
}

/// The data segments the capture holds from `from`: how many, and how
/// many of them repeat bytes sent before (counted in absolute sequence
/// space, apart from the picture's code).
fn count(pcap: &[u8], from: std::net::SocketAddrV4) -> (usize, usize) {
    let cap = capture::read(pcap).unwrap();
    let mut highest: Option<u32> = None;
    let (mut data, mut again) = (0, 0);
    for s in cap
        .segments
        .iter()
        .filter(|s| s.src == from.into() && s.len > 0)
    {
        let first = s.seq.wrapping_add(u32::from(s.flags.contains(Flags::SYN)));
        let end = first.wrapping_add(s.len as u32);
        data += 1;
        if highest.is_some_and(|h| (h.wrapping_sub(first) as i32) > 0) {
            again += 1;
        }
        if highest.is_none_or(|h| (end.wrapping_sub(h) as i32) > 0) {
            highest = Some(end);
        }
    }
    (data, again)
}

#[test]
fn the_checker_refuses_what_is_not_xml() {
    let decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
    assert!(parse_xml(&format!("{decl}<svg a=\"1\"><g/></svg>")).is_ok());
    for bad in [
        "<svg><g></svg>",
        "<svg a=1/>",
        "<svg>a < b</svg>",
        "<svg>&nbsp;</svg>",
        "<svg/><svg/>",
        "<svg a=\"1\" a=\"2\"/>",
    ] {
        assert!(parse_xml(&format!("{decl}{bad}")).is_err(), "{bad}");
    }
}

/// What the graph of `pcap` must show.
fn check_graph(pcap: &[u8], name: &str) -> usize {
    let svg = plot_of_capture(pcap, None, None).unwrap();
    let elements = parse_xml(&svg).unwrap_or_else(|e| panic!("{name}: not XML: {e}"));
    assert_eq!(elements[0].name, "svg");
    let client = nettool::sim::CLIENT;
    let (data, again) = count(pcap, client);
    let bars: Vec<&Element> = elements
        .iter()
        .filter(|e| e.name == "line" && e.class().split(' ').any(|c| c == "data"))
        .collect();
    assert_eq!(bars.len(), data, "{name}: one bar per data segment");
    let marked = bars
        .iter()
        .filter(|e| e.class() == "data retransmit")
        .count();
    assert_eq!(marked, again, "{name}: retransmissions marked");
    let colours: Vec<&str> = bars
        .iter()
        .filter(|e| e.class() == "data retransmit")
        .map(|e| e.attrs["stroke"].as_str())
        .collect();
    assert!(colours.iter().all(|c| *c == "#d62728"), "{name}");

    let acks: Vec<&Element> = elements.iter().filter(|e| e.class() == "ack").collect();
    assert_eq!(acks.len(), 1, "{name}: one ACK line");
    let (xs, ys) = step_path(&acks[0].attrs["d"]);
    assert!(ys.len() > 2, "{name}: the ACK line moves");
    assert!(
        xs.windows(2).all(|w| w[0] <= w[1]),
        "{name}: time goes back"
    );
    assert!(
        ys.windows(2).all(|w| w[0] >= w[1]),
        "{name}: the ACK line falls"
    );
    assert_eq!(
        elements.iter().filter(|e| e.class() == "window").count(),
        1,
        "{name}"
    );
    assert!(svg.contains(&format!("{data} data segments, {again} retransmitted")));
    // Every retransmission falls in a loss episode, and there is none
    // without one.
    let episodes: Vec<(f64, f64)> = elements
        .iter()
        .filter(|e| e.class() == "loss-episode")
        .map(|e| {
            let x: f64 = e.attrs["x"].parse().unwrap();
            (x, x + e.attrs["width"].parse::<f64>().unwrap())
        })
        .collect();
    assert_eq!(episodes.is_empty(), again == 0, "{name}: {episodes:?}");
    for bar in bars.iter().filter(|e| e.class() == "data retransmit") {
        let x: f64 = bar.attrs["x1"].parse().unwrap();
        assert!(
            episodes.iter().any(|&(a, b)| (a..=b + 0.01).contains(&x)),
            "{name}: a retransmission at x={x} outside every loss episode {episodes:?}"
        );
    }
    // The same capture, the same bytes.
    assert_eq!(svg, plot_of_capture(pcap, None, None).unwrap());
    again
}

/// A fresh run of the scenario and its committed capture both draw
/// graphs that show what they hold; through loss, retransmissions exist.
#[rstest]
#[case::clean("clean", false)]
#[case::lossy("lossy", true)]
// The zero-window probes' byte is sent again once the window opens.
#[case::stalled("stalled", true)]
fn a_bulk_transfer_is_plotted(#[case] name: &str, #[case] repeats: bool) {
    let fresh = common::pcap::of_sim(&scenario(name));
    if bless() {
        fs::create_dir_all(fixture(name).parent().unwrap()).unwrap();
        fs::write(fixture(name), &fresh).unwrap();
    }
    let again = check_graph(&fresh, name);
    assert_eq!(again > 0, repeats, "{name}: {again} retransmissions");
    let file = fs::read(fixture(name)).unwrap_or_else(|e| {
        panic!("{name}: {e}; write it with NETTOOL_BLESS=1 cargo test --test plot")
    });
    let again = check_graph(&file, name);
    assert_eq!(
        again > 0,
        repeats,
        "{name} (fixture): {again} retransmissions"
    );
}

/// The engine offers SACK and a window scale: the blocks show, and the
/// legend says the window is scaled.
#[test]
fn sack_blocks_and_the_scaled_window_are_drawn() {
    let svg = plot_of_capture(&fs::read(fixture("lossy")).unwrap(), None, None).unwrap();
    let sacks = svg.matches("class=\"sack\"").count();
    assert!(sacks > 0, "no SACK block drawn");
    assert!(
        svg.contains("ack + window &lt;&lt; "),
        "window scaling not said"
    );
}

/// Round trips are sampled from ACKs of segments sent once. The sim's
/// capture stamps each segment as its sender sends it (a capture at both
/// ends at once), so a sample here is the 10 ms one-way delay plus the
/// receiver's own; a capture taken at the sender alone sees the round trip.
#[test]
fn round_trips_are_drawn() {
    let svg = plot_of_capture(&fs::read(fixture("clean")).unwrap(), None, None).unwrap();
    let elements = parse_xml(&svg).unwrap();
    let dots: Vec<&Element> = elements.iter().filter(|e| e.class() == "rtt").collect();
    assert!(dots.len() >= 5, "{} round-trip samples", dots.len());
    // Both engines send timestamps: the samples come from them.
    assert!(
        svg.contains("round-trip time (ms; from TCP timestamps: each ACK that moves the line)"),
        "the RTT panel's title"
    );
    let graph_rtts = {
        let cap = capture::read(&fs::read(fixture("clean")).unwrap()).unwrap();
        let conn = nettool::picture::conn::pick(&cap.segments, cap.other, None).unwrap();
        let raw: Vec<_> = cap.segments.iter().collect();
        nettool::picture::plot::build(&conn, &raw, None)
            .unwrap()
            .rtts
    };
    assert_eq!(graph_rtts.len(), dots.len());
    assert!(
        graph_rtts
            .iter()
            .all(|r| r.1 >= Duration::from_millis(10) && r.1 < Duration::from_secs(1)),
        "{graph_rtts:?}"
    );
}

/// A receiver that stops reading closes its window: the period is shaded.
#[test]
fn a_closed_window_is_shaded() {
    let svg = plot_of_capture(&fs::read(fixture("stalled")).unwrap(), None, None).unwrap();
    assert!(
        svg.matches("class=\"zero-window\"").count() >= 1,
        "no zero window shown"
    );
    let clean = plot_of_capture(&fs::read(fixture("clean")).unwrap(), None, None).unwrap();
    assert_eq!(clean.matches("class=\"zero-window\"").count(), 0);
}

/// A capture that starts after the handshake: the window scale is
/// unknown, the windows are drawn as carried, and the legend says so.
#[test]
fn without_the_syns_the_window_is_drawn_unscaled_and_said_so() {
    let clean = fs::read(fixture("clean")).unwrap();
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    let mut kept = 0;
    for f in common::pcap::frames_with_client_port(&clean, 40000) {
        // TCP flags at 14 (Ethernet) + 20 (IPv4) + 13; SYN is 0x02.
        if f[47] & 0x02 == 0 {
            w.record(SystemTime::UNIX_EPOCH, &f).unwrap();
            kept += 1;
        }
    }
    assert!(kept > 20);
    let svg = plot_of_capture(&w.into_inner().unwrap(), None, None).unwrap();
    assert!(svg.contains("UNSCALED: no SYN in the capture"), "{svg}");
    parse_xml(&svg).unwrap();
}

/// A capture that starts mid-transfer (tcpdump started late): ACKs below
/// the first data it holds are drawn just below it, inside the frame,
/// not 4 GB above.
#[test]
fn a_capture_started_mid_transfer_stays_in_the_frame() {
    let clean = fs::read(fixture("clean")).unwrap();
    let all = common::pcap::frames_with_client_port(&clean, 40000);
    // From A's fifth data segment on: B's ACKs of the first four (sent
    // in the same flight) come after it.
    let data: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, f)| f.len() > 14 + 20 + 40 && f[34..36] == 40000u16.to_be_bytes())
        .map(|(i, _)| i)
        .collect();
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    for (i, f) in all.iter().enumerate().skip(data[4]) {
        w.record(SystemTime::UNIX_EPOCH + Duration::from_millis(i as u64), f)
            .unwrap();
    }
    let svg = plot_of_capture(&w.into_inner().unwrap(), None, None).unwrap();
    let elements = parse_xml(&svg).unwrap();
    let ack = elements.iter().find(|e| e.class() == "ack").unwrap();
    let (_, ys) = step_path(&ack.attrs["d"]);
    // The plot's frame runs from y = 50 to y = 490; the line starts at
    // its foot (4 GB up, the data would be squashed at the bottom).
    assert!(ys.iter().all(|y| (50.0..=490.0).contains(y)), "{ys:?}");
    assert!(ys[0] > 450.0, "{ys:?}");
    assert!(svg.contains("UNSCALED"));
}

/// The other direction is drawn when asked for, by --dir or by the
/// direction with more data, and a 4-tuple names the connection.
#[test]
fn the_direction_can_be_chosen() {
    let file = fs::read(fixture("clean")).unwrap();
    let back = plot_of_capture(&file, None, Some(Way::Left)).unwrap();
    let (data, _) = count(&file, nettool::sim::SERVER);
    assert_eq!(back.matches("class=\"data").count(), data);
    assert!(back.contains("10.0.0.2:80 \u{2192} 10.0.0.1:40000"));
    let tuple: ConnFilter = "10.0.0.2:80-10.0.0.1:40000".parse().unwrap();
    let forth = plot_of_capture(&file, Some(tuple), None).unwrap();
    assert_eq!(
        forth,
        plot_of_capture(&file, None, Some(Way::Right)).unwrap()
    );
}

fn plot(args: &[&str]) -> common::Ran {
    let mut c = Command::new(nettool());
    c.arg("plot").args(args);
    run(c, LIMIT)
}

#[test]
fn the_command_writes_the_same_file_each_time() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("lossy");
    let mut outputs = Vec::new();
    for n in ["a.svg", "b.svg"] {
        let out = dir.path().join(n);
        let r = plot(&[input.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        assert_eq!(r.code, Some(0), "{}", r.show());
        assert!(r.stdout.is_empty(), "{}", r.show());
        outputs.push(fs::read(out).unwrap());
    }
    assert_eq!(outputs[0], outputs[1]);
    let r = plot(&[input.to_str().unwrap(), "-o", "-", "--dir", "a2b"]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(r.stdout_bytes, outputs[0]);
}

fn two_connections() -> Vec<u8> {
    let clean = fs::read(fixture("clean")).unwrap();
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    for f in common::pcap::frames_with_client_port(&clean, 40000)
        .iter()
        .chain(&common::pcap::frames_with_client_port(&clean, 40001))
    {
        w.record(SystemTime::UNIX_EPOCH, f).unwrap();
    }
    w.into_inner().unwrap()
}

#[rstest]
#[case::missing(None, &[], "cannot read")]
#[case::not_pcap(Some(b"GET / HTTP/1.0\r\n\r\n plus some more bytes".to_vec()), &[], "not a pcap file")]
#[case::ambiguous(Some(two_connections()), &[], "2 TCP connections: choose one with --conn")]
#[case::no_data(Some(fs::read(root().join("tests/fixtures/ladder/handshake.pcap")).unwrap()), &[], "10.0.0.1:40000 sent no data to 10.0.0.2:80")]
#[case::bad_dir(Some(fs::read(fixture("clean")).unwrap()), &["--dir", "up"], "invalid value 'up' for '--dir <DIR>'")]
#[case::bad_window(Some(fs::read(fixture("clean")).unwrap()), &["--time", "3-2"], "ends before it starts")]
#[case::late_window(Some(fs::read(fixture("clean")).unwrap()), &["--time", "500-"], "after the connection's last segment")]
fn what_cannot_be_plotted_is_refused_with_a_reason(
    #[case] contents: Option<Vec<u8>>,
    #[case] extra: &[&str],
    #[case] want: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capture.pcap");
    let out = dir.path().join("graph.svg");
    if let Some(bytes) = contents {
        fs::write(&path, bytes).unwrap();
    }
    let mut args = vec![path.to_str().unwrap(), "-o", out.to_str().unwrap()];
    args.extend(extra);
    let r = plot(&args);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(r.stderr.contains(want), "{want:?} not said:\n{}", r.show());
    assert!(!out.exists(), "a graph was written: {}", r.show());
}

#[test]
fn an_unwritable_output_is_refused() {
    let r = plot(&[
        fixture("clean").to_str().unwrap(),
        "-o",
        "/nonexistent-dir/graph.svg",
    ]);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(
        r.stderr.contains("cannot write /nonexistent-dir/graph.svg"),
        "{}",
        r.show()
    );
}

/// `--time` zooms in: the bars of that time only, all inside the frame,
/// the axis starting at the window's start, the ACK line still there.
#[test]
fn a_time_window_draws_that_time_only() {
    let pcap = fs::read(fixture("lossy")).unwrap();
    let whole = plot(&[fixture("lossy").to_str().unwrap(), "-o", "-"]);
    let part = plot(&[
        fixture("lossy").to_str().unwrap(),
        "--time",
        "0.02-0.05",
        "-o",
        "-",
    ]);
    assert_eq!(part.code, Some(0), "{}", part.show());
    let bars = |svg: &str| {
        parse_xml(svg)
            .unwrap()
            .into_iter()
            .filter(|e| e.name == "line" && e.class().split(' ').any(|c| c == "data"))
            .map(|e| e.attrs["x1"].parse::<f64>().unwrap())
            .collect::<Vec<f64>>()
    };
    let (all, some) = (bars(&whole.stdout), bars(&part.stdout));
    assert!(
        !some.is_empty() && some.len() < all.len(),
        "{} of {}",
        some.len(),
        all.len()
    );
    // The segments of the capture between 0.02 s and 0.05 s after its first.
    let cap = capture::read(&pcap).unwrap();
    let t0 = cap.segments[0].at;
    let want = cap
        .segments
        .iter()
        .filter(|s| s.src == nettool::sim::CLIENT.into() && s.len > 0)
        .filter(|s| (0.02..=0.05).contains(&(s.at - t0).as_secs_f64()))
        .count();
    assert_eq!(some.len(), want);
    let frame = parse_xml(&part.stdout)
        .unwrap()
        .into_iter()
        .find(|e| e.class() == "frame")
        .unwrap();
    let left: f64 = frame.attrs["x"].parse().unwrap();
    let right = left + frame.attrs["width"].parse::<f64>().unwrap();
    assert!(some.iter().all(|x| (left..=right).contains(x)), "{some:?}");
    let acks = parse_xml(&part.stdout)
        .unwrap()
        .into_iter()
        .filter(|e| e.class() == "ack")
        .count();
    assert_eq!(acks, 1);
}
