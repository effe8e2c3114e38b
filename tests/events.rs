//! The event schema, three ways: the types nettool serializes, the schema
//! file (tests/events.schema.json) and README.md's "JSON output" table
//! must say the same. (tests/events_e2e.rs checks real runs against the
//! schema.) Needs no root.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use common::schema::Schema;
use nettool::lab::{LabEnd, LabStatus};
use nettool::outcome::Outcome;
use nettool::report::event::{
    Cache, Conflict, Hop, Icmp, LoadResult, Port, Probe, Progress, Reply, Retransmit,
    RetransmitCause, Segment as SegmentEv, Sender, Start,
};
use nettool::report::{Event, Report, Verdict, json_line, us};
use nettool::tcp::{Segment, State};
use nettool::time::Instant;
use nettool::wire::tcp::{Flags, TcpOption};
use nettool::wire::{MacAddr, SeqNum};

/// README.md's "JSON output" section: event → (field → required).
fn readme_table() -> (BTreeMap<String, BTreeMap<String, bool>>, Vec<String>) {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("JSON output"))
        .expect("a \"## JSON output\" section in README.md");
    let mut events = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_owned();
        let fields = cells[2]
            .split(", ")
            .filter(|f| !f.is_empty())
            .map(|f| {
                let required = !f.ends_with('?');
                (
                    f.trim_end_matches('?').trim_matches('`').to_owned(),
                    required,
                )
            })
            .collect();
        assert!(
            events.insert(name.clone(), fields).is_none(),
            "{name} has two rows"
        );
    }
    let outcomes = section
        .lines()
        .find_map(|l| l.strip_prefix("Outcomes: "))
        .expect("an \"Outcomes: \" line in the JSON output section")
        .trim_end_matches('.')
        .split(", ")
        .map(|o| o.trim_matches('`').to_owned())
        .collect();
    (events, outcomes)
}

#[test]
fn the_readme_table_and_the_schema_file_agree() {
    let schema = Schema::load();
    let (readme, outcomes) = readme_table();
    let from_schema: BTreeMap<String, BTreeMap<String, bool>> = schema
        .events
        .iter()
        .map(|(name, fields)| {
            let f = fields
                .iter()
                .map(|(k, (_, required))| (k.clone(), *required))
                .collect();
            (name.clone(), f)
        })
        .collect();
    for (name, fields) in &from_schema {
        assert_eq!(
            readme.get(name),
            Some(fields),
            "README's row for {name:?} (fields, `name`? when optional) differs from {}",
            common::schema::PATH
        );
    }
    assert_eq!(
        readme.keys().collect::<Vec<_>>(),
        from_schema.keys().collect::<Vec<_>>(),
        "README and the schema list different events"
    );
    assert_eq!(outcomes, schema.outcomes, "README's outcomes");
}

fn seg() -> Segment {
    Segment {
        src: "10.0.0.1:40000".parse().unwrap(),
        dst: "10.0.0.2:80".parse().unwrap(),
        seq: SeqNum(1000),
        ack: Some(SeqNum(2000)),
        flags: Flags::SYN,
        window: 64240,
        options: vec![TcpOption::Mss(1460), TcpOption::SackPermitted],
        payload: Vec::new(),
    }
}

/// One of every event, with every optional field it can carry.
/// `load`'s progress, every field set.
fn progress() -> Progress {
    Progress {
        opened: 2,
        established: 2,
        handshaking: 0,
        refused: 0,
        timed_out: 0,
        reset: 0,
        peer_closed: 0,
        connects_per_s: 2.0,
        syn_retransmits: 0,
        replies: Some(2),
        rss_bytes: Some(1 << 20),
    }
}

fn samples() -> Vec<Event> {
    let ip = Ipv4Addr::new(10, 0, 0, 2);
    let addr = SocketAddrV4::new(ip, 80);
    let mac = MacAddr::new(2, 0, 0, 0, 0, 1);
    let mut withheld = SegmentEv::new("out", &seg()).line("IP ...".into());
    withheld.withheld = true;
    // A lab status as `lab status --json` prints it: every field.
    let end = |interface: &str| LabEnd {
        interface: interface.into(),
        index: 2,
        mac,
        addresses: vec!["10.0.0.1/24".parse().unwrap()],
        addresses6: vec!["fd00:6e74::1/64".parse().unwrap()],
        up: true,
        operstate: "UP".into(),
    };
    let lab = LabStatus {
        name: "lab".into(),
        namespace: "ntl-lab".into(),
        namespace_exists: true,
        subnet: Some("10.0.0.0/24".parse().unwrap()),
        host: Some(end("ntl-lab")),
        peer: Some(end("eth0")),
        run_dir: "/run/nettool/lab".into(),
        services: None,
        problems: vec!["a problem".into()],
    };
    let serde_json::Value::Object(lab) = serde_json::to_value(lab).unwrap() else {
        panic!("a lab status is an object");
    };
    vec![
        Event::Start(Box::new(Start {
            command: "trace",
            mode: Some("sweep"),
            src: Some(addr.into()),
            dst: Some(addr.into()),
            ip: Some(ip.into()),
            local_ip: Some(ip.into()),
            subnet: Some("10.0.0.0/24".into()),
            ports: Some("80,81".into()),
            iface: Some("eth0".into()),
            mac: Some(mac),
            next_hop: Some(ip.into()),
            next_hop_mac: Some(mac),
            guard: Some("nettool_1".into()),
            guard_ingress: Some("eth0".into()),
            flags: Some("S".into()),
            bytes: Some(44),
            sport_inc: Some(true),
            addresses: Some(254),
            tries: Some(3),
            retries: Some(2),
            rate: Some(10),
            min_rate: Some(1),
            max_rate: Some(100),
            max_ttl: Some(30),
            queries: Some(3),
            wait_us: Some(us(Duration::from_secs(2))),
        })),
        Event::Segment(Box::new(withheld)),
        Event::State {
            from: State::SynSent,
            state: State::Established,
        },
        Event::Probe(Probe {
            probe: 1,
            src: addr.into(),
            dst: addr.into(),
            seq: 1,
            id: 7,
        }),
        Event::Reply(Box::new(
            Reply {
                probe: Some(1),
                rtt_us: 120,
                ip: Some(ip.into()),
                mac: Some(mac),
                iface: Some("eth0".into()),
                ttl: Some(64),
                meaning: Some("port open".into()),
                line: Some("IP ...".into()),
                ..Reply::default()
            }
            .segment(&seg()),
        )),
        Event::Hop(Hop {
            ttl: 1,
            query: 0,
            ip: Some(ip.into()),
            answer: Some("time-exceeded"),
            rtt_us: Some(100),
            what: Some("time exceeded".into()),
            late: true,
        }),
        Event::Icmp(Icmp {
            ip: ip.into(),
            what: "host unreachable".into(),
            probe: Some(1),
            rtt_us: Some(1),
        }),
        Event::Port(Port {
            ip: Some(ip.into()),
            port: 80,
            outcome: "open",
            reason: "syn-ack".into(),
            tries: 1,
            rtt_us: Some(9),
        }),
        Event::Cache(Cache {
            status: "fresh",
            ip: ip.into(),
            mac,
            iface: Some("eth0".into()),
            age_us: Some(1),
            fresh_us: Some(2),
            ttl_us: Some(3),
        }),
        Event::Conflict(Conflict {
            ip: ip.into(),
            mac,
            other_mac: mac,
            seen: "wire",
        }),
        // nettool ndp: the same events, with IPv6 addresses.
        Event::Cache(Cache {
            status: "reachable",
            ip: "fd00:6e74::2".parse::<std::net::Ipv6Addr>().unwrap().into(),
            mac,
            iface: Some("eth0".into()),
            age_us: Some(1),
            fresh_us: Some(2),
            ttl_us: None,
        }),
        Event::ArpAnswered { ip, mac: Some(mac) },
        Event::Drop {
            reason: "no ACK bit".into(),
        },
        Event::Closed {
            reason: "closed normally".into(),
        },
        Event::Data {
            len: 2,
            text: "hi".into(),
        },
        Event::note("a note"),
        Event::Progress(progress()),
        Event::Sender(Sender {
            cwnd: 14480,
            ssthresh: Some(7240),
            rto_us: 200_000,
            srtt_us: Some(1200),
            recovery: true,
        }),
        Event::Retransmit(Retransmit {
            src: addr.into(),
            dst: addr.into(),
            seq: 1000,
            len: 1448,
            cause: RetransmitCause::Recovery,
        }),
        Event::Lab {
            up: false,
            status: lab,
        },
        Event::Result(Box::new(Report {
            ip: Some(ip.into()),
            mac: Some(mac),
            iface: Some("eth0".into()),
            next_hop: Some(ip.into()),
            subnet: Some("10.0.0.0/24".into()),
            addresses: Some(1),
            targets: Some(2),
            down: Some(1),
            sent: Some(1),
            answered: Some(1),
            loss_pct: Some(0.0),
            rtt_us: Some(1),
            rtt_min_us: Some(1),
            rtt_avg_us: Some(1),
            rtt_max_us: Some(1),
            rtt_stddev_us: Some(0),
            pps: Some(1.5),
            unmatched: Some(0),
            resets_sent: Some(0),
            malformed: Some(0),
            conflicts: Some(0),
            received: Some(0),
            ports: Some(1),
            scanned: Some(1),
            open: Some(1),
            closed: Some(0),
            filtered: Some(0),
            rate_peak: Some(1.0),
            rate_final: Some(1.0),
            drops: Some(0),
            rate_cuts: Some(0),
            hops: Some(1),
            what: Some("x".into()),
            flushed: Some(0),
            rsts_dropped: Some(0),
            load: Some(LoadResult {
                connections: 2,
                ever_established: 2,
                progress: progress(),
                connect_p50_us: Some(1),
                connect_p90_us: Some(1),
                connect_p99_us: Some(1),
                connect_max_us: Some(1),
                open_us: 1,
                held_segments_sent: Some(2),
                held_segments_received: Some(2),
                rx_dropped: Some(0),
                keepalives_unanswered: Some(0),
                rss_base_bytes: Some(1 << 20),
                rss_held_bytes: Some(2 << 20),
                rss_peak_bytes: Some(3 << 20),
                held_bytes_per_connection: Some(1000),
            }),
            ..Report::new(Verdict::Open, Outcome::Success)
        })),
    ]
}

#[test]
fn every_event_nettool_can_print_fits_the_schema() {
    let schema = Schema::load();
    let mut seen = std::collections::BTreeSet::new();
    for ev in samples() {
        let line = json_line(Instant::from_micros(1234), &ev);
        let name = schema.check_line(&line).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(name, ev.name());
        seen.insert(name);
    }
    // Every event of the schema has a sample, so none is dead or untested.
    assert_eq!(
        seen.iter().collect::<Vec<_>>(),
        schema.events.keys().collect::<Vec<_>>()
    );
}

/// The samples print every field the schema names, so a field no
/// sample carries (the lab's, once) cannot slip past the checks above.
#[test]
fn the_samples_cover_every_field_of_the_schema() {
    let schema = Schema::load();
    let mut printed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ev in samples() {
        let line = json_line(Instant::from_micros(1234), &ev);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        printed
            .entry(ev.name().to_owned())
            .or_default()
            .extend(v.as_object().unwrap().keys().cloned());
    }
    let missing: Vec<String> = schema
        .events
        .iter()
        .flat_map(|(name, fields)| {
            let seen = printed.get(name);
            fields
                .keys()
                .filter(move |f| !seen.is_some_and(|s| s.contains(*f)))
                .map(move |f| format!("{name}.{f}"))
        })
        .collect();
    assert!(missing.is_empty(), "fields no sample prints: {missing:?}");
}

#[test]
fn every_outcome_is_in_the_schema() {
    let schema = Schema::load();
    for v in [
        Verdict::Open,
        Verdict::Closed,
        Verdict::Filtered,
        Verdict::Unreachable,
        Verdict::Answered,
        Verdict::NoReply,
        Verdict::NoArp,
        Verdict::Conflict,
        Verdict::Free,
        Verdict::Reset,
        Verdict::Timeout,
        Verdict::Done,
        Verdict::Interrupted,
    ] {
        let name = serde_json::to_value(v).unwrap();
        assert!(
            schema.outcomes.iter().any(|o| name == o.as_str()),
            "{name} is not in the schema's outcomes"
        );
    }
    assert_eq!(
        schema.outcomes.len(),
        13,
        "a new outcome needs a line above"
    );
}

#[test]
fn the_checker_refuses_what_it_should() {
    let schema = Schema::load();
    for bad in [
        r#"{"event":"note","text":"x"}"#,                   // no t
        r#"{"event":"nope","t":0.0}"#,                      // unknown event
        r#"{"event":"note","t":0.0,"text":"x","extra":1}"#, // unknown field
        r#"{"event":"note","t":0.0,"text":null}"#,          // null
        r#"{"event":"state","t":0.0,"from":"SYN_SENT","state":"CLOSED"}"#,
        r#"{"event":"segment","t":0,"dir":"in","src":"10.0.0.1","dst":"10.0.0.2:1","flags":"S","seq":1,"win":1,"len":0}"#,
        r#"{"event":"segment","t":0,"dir":"in","src":"10.0.0.1:1","dst":"10.0.0.2:1","flags":".S","seq":1,"win":1,"len":0}"#,
        r#"{"event":"result","t":0,"outcome":"no-answer","exit":1}"#,
        r#"{"event":"reply","t":0,"rtt_us":1.5}"#,
    ] {
        assert!(schema.check_line(bad).is_err(), "accepted {bad}");
    }
    assert!(
        schema
            .check_line(r#"{"event":"segment","t":0,"dir":"in","src":"10.0.0.1:1","dst":"10.0.0.2:1","flags":"S.","seq":1,"win":1,"len":0}"#)
            .is_ok()
    );
}
