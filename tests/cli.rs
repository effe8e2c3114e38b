//! The binary as a user meets it: help, usage errors, exit codes, and the
//! cache commands. These need no network; the lab tests at the end build
//! a private namespace and need root.

mod common;

use std::process::Command;
use std::time::Duration;

use clap::Parser;
use common::{Scratch, nettool, run};
use nettool::cli::{Cli, Common};
use nettool::lab::testnet::TestNamespace;
use rstest::rstest;

const LIMIT: Duration = Duration::from_secs(30);

fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(nettool());
    c.args(args);
    c
}

#[test]
fn help_names_every_subcommand_and_the_exit_codes() {
    let r = run(cmd(&["--help"]), LIMIT);
    assert_eq!(r.code, Some(0));
    for word in ["arp", "lab", "EXIT STATUS", "CAP_NET_RAW"] {
        assert!(
            r.stdout.contains(word),
            "{word} missing from --help:\n{}",
            r.stdout
        );
    }
    assert!(
        !r.stdout.contains("generate"),
        "the hidden generator must not be advertised"
    );
    let r = run(cmd(&["--version"]), LIMIT);
    assert_eq!(
        r.stdout.trim(),
        format!("nettool {}", env!("CARGO_PKG_VERSION"))
    );
}

#[rstest]
#[case::no_subcommand(&[])]
#[case::arp_without_target(&["arp"])]
#[case::bad_duration(&["arp", "-W", "soon", "10.0.0.1"])]
#[case::zero_count(&["arp", "-c", "0", "10.0.0.1"])]
#[case::dad_and_announce(&["arp", "--dad", "--announce", "10.0.0.1"])]
#[case::bad_subnet(&["arp", "10.0.0.0/33"])]
#[case::dad_on_a_subnet(&["arp", "--dad", "10.0.0.0/24"])]
#[case::bad_lab_name(&["lab", "status", "--name", "Bad_Name"])]
fn usage_errors_exit_2(#[case] args: &[&str]) {
    let r = run(cmd(args), LIMIT);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(!r.stderr.is_empty(), "a usage error must say what is wrong");
}

/// A common flag, in each of the spellings a user may type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flag {
    Interface,
    Source,
    SourcePort,
    Count,
    Wait,
    Interval,
    Verbose,
    Quiet,
    Json,
}

use Flag::*;

const ALL_FLAGS: [Flag; 9] = [
    Interface, Source, SourcePort, Count, Wait, Interval, Verbose, Quiet, Json,
];

impl Flag {
    /// Every spelling of the flag, each with its value.
    fn spellings(self) -> &'static [&'static [&'static str]] {
        match self {
            Interface => &[
                &["-i", "eth9"],
                &["-I", "eth9"],
                &["--interface", "eth9"],
                &["-ieth9"],
                &["--interface=eth9"],
            ],
            Source => &[&["-s", "192.0.2.7"], &["--source", "192.0.2.7"]],
            SourcePort => &[
                &["-p", "4242"],
                &["--source-port", "4242"],
                &["--sport", "4242"],
            ],
            Count => &[&["-c", "3"], &["--count", "3"]],
            Wait => &[&["-w", "250ms"], &["-W", "250ms"], &["--wait", "250ms"]],
            Interval => &[&["--interval", "20ms"]],
            Verbose => &[&["-v"], &["--verbose"]],
            Quiet => &[&["-q"], &["--quiet"]],
            Json => &[&["--json"]],
        }
    }

    /// What every spelling must set, as the common view shows it.
    fn set(self) -> Common {
        let mut c = Common::default();
        match self {
            Interface => c.interface = Some("eth9".into()),
            Source => c.source = Some("192.0.2.7".parse().unwrap()),
            SourcePort => c.source_port = Some(4242),
            Count => c.count = Some(3),
            Wait => c.wait = Some(Duration::from_millis(250)),
            Interval => c.interval = Some(Duration::from_millis(20)),
            Verbose => c.verbose = Some(true),
            Quiet => c.quiet = Some(true),
            Json => c.json = Some(true),
        }
        c
    }

    /// This flag's field of `c`, printed.
    fn of(self, c: &Common) -> String {
        match self {
            Interface => format!("{:?}", c.interface),
            Source => format!("{:?}", c.source),
            SourcePort => format!("{:?}", c.source_port),
            Count => format!("{:?}", c.count),
            Wait => format!("{:?}", c.wait),
            Interval => format!("{:?}", c.interval),
            Verbose => format!("{:?}", c.verbose),
            Quiet => format!("{:?}", c.quiet),
            Json => format!("{:?}", c.json),
        }
    }
}

/// Issue 12's rule, over every subcommand that moves frames: each common
/// flag, in every spelling, sets the same thing wherever it is taken, and
/// a subcommand that does not take it refuses it (no letter means
/// something else there: `-i` is never an interval, `-q` never a count).
#[rstest]
#[case::arp(&["arp"], &["10.0.0.1"], &[Interface, Source, Count, Wait, Interval, Verbose, Quiet, Json])]
// ndp's -s is an IPv6 address: the IPv4 one of the table is refused.
#[case::ndp(&["ndp"], &["fd00::1"], &[Interface, Count, Wait, Interval, Verbose, Quiet, Json])]
#[case::handshake(&["handshake"], &["10.0.0.1:80"], &[Interface, Source, SourcePort, Json])]
#[case::close(&["close"], &["10.0.0.1:80"], &[Interface, Source, SourcePort, Json])]
#[case::nc(&["nc"], &["10.0.0.1", "80"], &[Interface, Source, SourcePort, Wait, Verbose])]
#[case::probe(&["probe"], &["10.0.0.1:80"], &[Interface, Source, SourcePort, Count, Wait, Interval, Verbose, Json])]
#[case::ping(&["ping"], &["10.0.0.1"], &[Interface, Source, Count, Wait, Interval, Verbose, Json])]
#[case::scan(&["scan"], &["10.0.0.1", "80"], &[Interface, Source, SourcePort, Wait, Json])]
#[case::trace(&["trace"], &["10.0.0.1:80"], &[Interface, Source, SourcePort, Wait, Json])]
fn common_flags_mean_the_same_in_every_subcommand(
    #[case] sub: &[&str],
    #[case] operands: &[&str],
    #[case] takes: &[Flag],
) {
    let parse = |flag: &[&str]| {
        let argv: Vec<&str> = ["nettool"]
            .iter()
            .chain(sub)
            .chain(flag)
            .chain(operands)
            .copied()
            .collect();
        Cli::try_parse_from(&argv).map(|cli| cli.command.common())
    };
    let bare = parse(&[]).expect("the bare command parses");
    for flag in ALL_FLAGS {
        for spelling in flag.spellings() {
            let parsed = parse(spelling);
            if takes.contains(&flag) {
                let got = parsed.unwrap_or_else(|e| panic!("{sub:?} {spelling:?}: {e}"));
                assert_eq!(flag.of(&got), flag.of(&flag.set()), "{sub:?} {spelling:?}");
                assert_ne!(
                    flag.of(&bare),
                    flag.of(&got),
                    "{sub:?} {spelling:?} changes nothing"
                );
            } else {
                assert!(
                    parsed.is_err(),
                    "{sub:?} takes {spelling:?}, which its row says it does not: {parsed:?}"
                );
            }
        }
    }
}

/// A service name goes wherever a port does: `-p ssh` is port 22 in
/// every subcommand that takes a source port.
#[rstest]
#[case::handshake(&["handshake"], &["10.0.0.1:80"])]
#[case::close(&["close"], &["10.0.0.1:80"])]
#[case::nc(&["nc"], &["10.0.0.1", "80"])]
#[case::probe(&["probe"], &["10.0.0.1:80"])]
#[case::scan(&["scan"], &["10.0.0.1", "80"])]
#[case::trace(&["trace"], &["10.0.0.1:80"])]
fn a_source_port_may_be_a_service_name(#[case] sub: &[&str], #[case] operands: &[&str]) {
    for spelling in [["-p", "ssh"], ["--source-port", "ssh"]] {
        let argv: Vec<&str> = ["nettool"]
            .iter()
            .chain(sub)
            .chain(&spelling)
            .chain(operands)
            .copied()
            .collect();
        let common = Cli::try_parse_from(&argv).unwrap().command.common();
        assert_eq!(common.source_port, Some(22), "{argv:?}");
    }
}

/// A service name nettool does not know is a usage error that names it,
/// before a frame is sent.
#[rstest]
#[case::handshake(&["handshake", "127.0.0.1:nosuchservice"])]
#[case::close(&["close", "127.0.0.1:nosuchservice"])]
#[case::trace(&["trace", "127.0.0.1:nosuchservice"])]
#[case::probe(&["probe", "127.0.0.1:nosuchservice"])]
#[case::probe_dport(&["probe", "--dport", "http,nosuchservice", "127.0.0.1"])]
#[case::scan(&["scan", "127.0.0.1", "22,nosuchservice"])]
#[case::scan_range(&["scan", "127.0.0.1", "1-nosuchservice"])]
#[case::nc(&["nc", "127.0.0.1", "nosuchservice"])]
#[case::nc_zero_io(&["nc", "-z", "127.0.0.1", "http,nosuchservice"])]
#[case::source_port(&["probe", "-p", "nosuchservice", "127.0.0.1:80"])]
fn an_unknown_service_is_named(#[case] args: &[&str]) {
    let r = run(cmd(args), LIMIT);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(
        r.stderr.contains("\"nosuchservice\" is not a port number")
            && r.stderr.contains("service name"),
        "{}",
        r.show()
    );
}

/// nmap's `-iL FILE` is `--input-list FILE` in probe and scan (clap alone
/// would read `-i L`); elsewhere, and after `--`, words stay as typed.
#[test]
fn nmaps_il_names_a_target_list() {
    let parse = |argv: &[&str]| {
        Cli::try_parse_from(nettool::cli::nmap_spellings(argv.iter().copied()))
            .map(|cli| cli.command)
    };
    let nettool::cli::Command::Scan(s) =
        parse(&["nettool", "scan", "-iL", "hosts.txt", "80"]).unwrap()
    else {
        unreachable!()
    };
    assert_eq!(
        s.list.input_list.as_deref(),
        Some(std::path::Path::new("hosts.txt"))
    );
    assert_eq!(s.operands, ["80"]);
    let nettool::cli::Command::Probe(p) =
        parse(&["nettool", "probe", "-c", "1", "-iL", "-"]).unwrap()
    else {
        unreachable!()
    };
    assert_eq!(
        p.list.input_list.as_deref(),
        Some(std::path::Path::new("-"))
    );
    let nettool::cli::Command::Scan(s) =
        parse(&["nettool", "scan", "-Pn", "10.0.0.0/29", "80"]).unwrap()
    else {
        unreachable!()
    };
    assert!(s.list.no_discovery, "-Pn is --no-discovery");
    let words = nettool::cli::nmap_spellings(["nettool", "arp", "-iL", "10.0.0.1"]);
    assert_eq!(words[2], "-iL", "arp takes no target list");
}

/// A subnet larger than --max-targets is refused at once, before any
/// address is resolved or a frame sent, with what to do about it.
#[rstest]
#[case::scan(&["scan", "10.0.0.0/16", "80"])]
#[case::probe(&["probe", "10.0.0.0/16:80"])]
#[case::list_on_stdin(&["scan", "-", "10.0.0.0/20", "80"])]
fn too_many_targets_are_refused(#[case] args: &[&str]) {
    let r = run(cmd(args), LIMIT);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(
        r.stderr.contains("more than --max-targets 256"),
        "{}",
        r.show()
    );
    assert!(r.stderr.contains("raise --max-targets"), "{}", r.show());
}

/// Another tool's letter, typed by habit, gets a tip naming nettool's
/// spelling; a duration where an interface goes says which flag it meant.
#[rstest]
#[case::netcat_quit_after(&["nc", "-q", "1", "127.0.0.1", "6379"], "--quit-after")]
#[case::netcat_quit_after_joined(&["nc", "-q1", "127.0.0.1", "6379"], "--quit-after")]
#[case::traceroute_queries(&["trace", "-q", "1", "10.0.0.1:80"], "--queries")]
#[case::ping_interval(&["probe", "-i", "10ms", "10.0.0.1:80"], "--interval 10ms")]
#[case::hping_interface(&["scan", "-i", "1", "10.0.0.1", "80"], "--interval 1")]
fn habits_from_other_tools_get_a_tip(#[case] args: &[&str], #[case] tip: &str) {
    let r = run(cmd(args), LIMIT);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(r.stderr.contains(tip), "{tip:?} missing:\n{}", r.show());
}

/// Bit fields take hex as hping3 does: `--tos 0x10`, `--id 0x1234`,
/// `--flags 0x12` (the header's byte: SYN and ACK).
#[test]
fn bit_fields_take_hex() {
    let cli = Cli::try_parse_from([
        "nettool", "probe", "--tos", "0x10", "--id", "0x1234", "--flags", "0x12", "h:80",
    ])
    .unwrap();
    let nettool::cli::Command::Probe(p) = cli.command else {
        unreachable!()
    };
    assert_eq!((p.tos, p.id), (0x10, Some(0x1234)));
    let flags = p.flags.unwrap();
    assert!(flags.ack && flags.flags == nettool::wire::tcp::Flags::SYN);
    assert!(Cli::try_parse_from(["nettool", "probe", "--tos", "0x100", "h:80"]).is_err());
}

/// An argument that cannot be a host says what is wrong with it, not
/// "cannot resolve host name" (and asks no DNS).
#[rstest]
#[case::arp_with_a_port(&["arp", "10.78.0.2:80"], "has a port")]
#[case::handshake_ipv6_without_brackets(&["handshake", "fd00::1:80"], "write [fd00::1:80]:PORT")]
#[case::nc_ipv6_with_dash_4(&["nc", "-4", "::1", "80"], "-4 asks for IPv4")]
#[case::handshake_ipv4_with_dash_6(&["handshake", "-6", "10.78.0.2:80"], "-6 asks for IPv6")]
#[case::arp_ipv6(&["arp", "::1"], "IPv4 only so far")]
#[case::probe_space(&["probe", "a b:80"], "not a host name")]
#[case::a_port_for_a_host(&["probe", "22"], "not an IPv4 address")]
#[case::a_short_address(&["scan", "10.78.0", "10.78.0.2"], "not an IPv4 address")]
fn a_bad_host_says_what_is_wrong(#[case] args: &[&str], #[case] says: &str) {
    let r = run(cmd(args), LIMIT);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(r.stderr.contains(says), "{says:?} missing:\n{}", r.show());
    assert!(!r.stderr.contains("cannot resolve"), "{}", r.show());
}

/// What one IP family has and the other lacks is refused before
/// anything is sent (loopback targets: nothing would leave the host
/// anyway), and an IPv6 prefix is never swept.
#[rstest]
#[case::flow_label_to_ipv4(&["probe", "--flow-label", "5", "127.0.0.1:80"], "IPv4 has no flow label")]
#[case::flow_label_too_big(&["probe", "--flow-label", "0x100000", "[::1]:80"], "20-bit flow label")]
#[case::df_to_ipv6(&["probe", "--df", "[::1]:80"], "there is no DF bit")]
#[case::id_to_ipv6(&["probe", "--id", "7", "::1", "--dport", "80"], "an IPv6 header has none")]
#[case::a_slash_64(&["scan", "fd00:6e74::/64", "80"], "fd00:6e74::/64 holds 2^64 addresses")]
#[case::a_slash_64_probe(&["probe", "fd00:6e74::/64"], "neighbour solicitation (NDP)")]
#[case::dash_4_with_ipv6(&["scan", "-4", "::1", "80"], "-4 asks for IPv4")]
#[case::timestamp_to_ipv6(&["probe", "--icmp", "--icmp-type", "timestamp", "::1"], "ICMPv6 has no time stamp request")]
#[case::mask_to_ipv6(&["probe", "--icmp", "--icmp-type", "mask", "::1"], "ICMPv6 has no address mask request")]
#[case::no_udp_checksum_over_ipv6(&["probe", "--udp", "--zero-checksum", "[::1]:53"], "IPv6 forbids a UDP datagram without a checksum")]
#[case::two_zones(&["scan", "fe80::1%lo", "fe80::2%eth9", "80"], "one run leaves by one interface")]
fn ipv6_probe_and_scan_refusals(#[case] args: &[&str], #[case] says: &str) {
    let r = run(cmd(args), LIMIT);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(r.stderr.contains(says), "{says:?} missing:\n{}", r.show());
}

/// `lab status` of a lab that is not up says no (exit 1), and its hint
/// names the lab as the command line must (`--name`).
#[test]
fn status_of_a_missing_lab_is_a_no_with_a_hint_that_parses() {
    let r = run(cmd(&["lab", "status", "--name", "nosuch"]), LIMIT);
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert!(
        r.stdout.contains("nettool lab up --name nosuch"),
        "{}",
        r.show()
    );
    let r = run(cmd(&["lab", "status", "--json", "--name", "nosuch"]), LIMIT);
    assert_eq!(r.code, Some(1), "{}", r.show());
    assert_eq!(r.json_lines().last().unwrap()["exit"], 1, "{}", r.show());
}

/// `nettool --help` carries the common flags' table and the exit codes.
#[test]
fn top_help_has_the_common_flags_and_every_exit_code() {
    let r = run(cmd(&["--help"]), LIMIT);
    for want in [
        "COMMON FLAGS",
        "-i, -I, --interface IFACE",
        "-w, -W, --wait DURATION",
        "-q, --quiet",
        "--interval DURATION",
        "130",
        "143",
        "head -c 10",
    ] {
        assert!(r.stdout.contains(want), "{want:?} missing:\n{}", r.stdout);
    }
}

/// A sweep too large is refused before its addresses are listed: a /1
/// listed would not fit in memory (nettool died of it, exit 134).
#[rstest]
#[case::slash_1("0.0.0.0/1")]
#[case::slash_0("0.0.0.0/0")]
#[case::slash_15("10.0.0.0/15")]
fn a_sweep_too_large_is_a_usage_error(#[case] net: &str) {
    let r = run(cmd(&["arp", net]), LIMIT);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(r.stderr.contains("split it"), "{}", r.show());
}

#[test]
fn show_and_flush_work_on_the_cache_file() {
    let scratch = Scratch::new();
    let path = scratch.cache();
    let entry = r#"{"version":1,"entries":[{"iface":"eth9","ip":"192.0.2.7","mac":"02:00:00:00:00:07","learned_at_ms":1,"ttl_ms":60000}]}"#;
    std::fs::write(&path, entry).unwrap();
    let mut c = cmd(&["arp", "--show"]);
    c.env("NETTOOL_ARP_CACHE", &path);
    let r = run(c, LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout.contains("192.0.2.7") && r.stdout.contains("expired"),
        "{}",
        r.show()
    );
    let mut c = cmd(&["arp", "--show", "-q"]);
    c.env("NETTOOL_ARP_CACHE", &path);
    // Many entries may answer: each MAC beside its address.
    assert_eq!(run(c, LIMIT).stdout, "192.0.2.7 02:00:00:00:00:07\n");
    let mut c = cmd(&["arp", "--flush", "--cache-file"]);
    c.arg(&path);
    let r = run(c, LIMIT);
    assert!(r.stdout.contains("flushed 1 entry"), "{}", r.show());
    let mut c = cmd(&["arp", "--show"]);
    c.env("NETTOOL_ARP_CACHE", &path);
    assert!(run(c, LIMIT).stdout.contains("is empty"));
}

/// A reader that goes away (`nettool … | head -c 10`) ends nettool
/// quietly with 0, as README's exit table says (not 141, no message):
/// stdout here is a pipe whose reader is closed before nettool writes.
#[rstest]
#[case::show(&["arp", "--show"])]
#[case::show_json(&["arp", "--show", "--json"])]
fn a_closed_stdout_ends_quietly_with_0(#[case] args: &[&str]) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let scratch = Scratch::new();
    let entry = r#"{"version":1,"entries":[{"iface":"eth9","ip":"192.0.2.7","mac":"02:00:00:00:00:07","learned_at_ms":1,"ttl_ms":60000}]}"#;
    std::fs::write(scratch.cache(), entry).unwrap();
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills the two descriptors, owned from here on.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    let out = cmd(args)
        .env("NETTOOL_ARP_CACHE", scratch.cache())
        .stdout(write)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `arp --json --flush` prints JSON lines, as every --json run does: a
/// start, then the result with the count flushed.
#[test]
fn flush_speaks_json_when_asked() {
    let scratch = Scratch::new();
    let entry = r#"{"version":1,"entries":[{"iface":"eth9","ip":"192.0.2.7","mac":"02:00:00:00:00:07","learned_at_ms":1,"ttl_ms":60000}]}"#;
    std::fs::write(scratch.cache(), entry).unwrap();
    let mut c = cmd(&["arp", "--json", "--flush"]);
    c.env("NETTOOL_ARP_CACHE", scratch.cache());
    let r = run(c, LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.show());
    let schema = common::schema::Schema::load();
    for line in r.stdout.lines() {
        schema.check_line(line).unwrap_or_else(|e| panic!("{e}"));
    }
    let lines = r.json_lines();
    assert_eq!(lines.len(), 2, "{}", r.show());
    assert_eq!(lines[0]["event"], "start");
    assert_eq!(lines[1]["event"], "result");
    assert_eq!(lines[1]["flushed"], 1);
}

#[test]
fn a_corrupt_cache_is_a_warning_not_a_failure() {
    let scratch = Scratch::new();
    std::fs::write(scratch.cache(), b"\x00garbage").unwrap();
    let mut c = cmd(&["arp", "--show"]);
    c.env("NETTOOL_ARP_CACHE", scratch.cache());
    let r = run(c, LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stderr.contains("warning") && r.stderr.contains("unreadable"),
        "{}",
        r.show()
    );
}

#[test]
fn generate_writes_the_committed_docs() {
    let scratch = Scratch::new();
    let out = scratch.cache().with_file_name("gen");
    let mut c = cmd(&["generate", "--out-dir"]);
    c.arg(&out);
    let r = run(c, LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.show());
    let page = std::fs::read(out.join("man/nettool-arp.1")).unwrap();
    let committed =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/man/nettool-arp.1")).unwrap();
    assert_eq!(page, committed);
    assert!(out.join("completions/nettool.bash").exists());
}

/// Runs nettool inside `ns` (on a thread that entered it, so the lab's own
/// namespaces are created in the machine's mount namespace as usual).
fn nettool_in(ns: &TestNamespace, args: &[&str]) -> common::Ran {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    ns.run(move || {
        run(
            cmd(&args.iter().map(String::as_str).collect::<Vec<_>>()),
            LIMIT,
        )
    })
}

#[test]
fn lab_up_status_down_through_the_cli() {
    let ns = TestNamespace::new("cli-lab");
    let name = nettool::lab::testnet::unique_lab_name();
    let r = nettool_in(
        &ns,
        &[
            "lab",
            "up",
            "--name",
            &name,
            "--subnet",
            "10.91.0.0/24",
            "--hosts",
            "3",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout.contains("10.91.0.2, 10.91.0.3, 10.91.0.4"),
        "{}",
        r.show()
    );
    assert!(
        r.stdout.contains("try:"),
        "lab up says what to try next:\n{}",
        r.stdout
    );
    let r = nettool_in(&ns, &["lab", "status", "--json", "--name", &name]);
    let schema = common::schema::Schema::load();
    for line in r.stdout.lines() {
        schema.check_line(line).unwrap_or_else(|e| panic!("{e}"));
    }
    let v: serde_json::Value = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["event"] == "lab")
        .expect("a lab line");
    assert_eq!(v["subnet"], "10.91.0.0/24");
    let r = nettool_in(
        &ns,
        &["lab", "up", "--name", &name, "--subnet", "10.91.0.0/24"],
    );
    assert_eq!(r.code, Some(2), "a second up is refused:\n{}", r.show());
    let r = nettool_in(&ns, &["lab", "down", "--name", &name]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(!nettool::lab::netns::exists(&nettool::lab::namespace_name(
        &name
    )));
}

#[test]
fn lab_demo_runs_every_step_and_leaves_nothing_behind() {
    let ns = TestNamespace::new("cli-demo");
    let name = nettool::lab::testnet::unique_lab_name();
    let r = nettool_in(
        &ns,
        &["lab", "demo", "--name", &name, "--subnet", "10.92.0.0/24"],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    for want in [
        "is-at",
        "from cache",
        "solicitations to ff02::1:ff00:2",
        "4 of 253 addresses answered",
        "is in use by",
        "is open: SYN-ACK",
        "port 80 on fd00:6e74:0:1200::2 is open: SYN-ACK",
        "is closed: RST",
        "CLOSE-WAIT → LAST-ACK",
        "FIN-WAIT-2 → TIME-WAIT",
        "hello over UDP",
        "13/udp     open",
        "82/udp     open|filtered",
        "removing the temporary lab",
    ] {
        assert!(
            r.stdout.contains(want),
            "{want:?} missing from the demo:\n{}",
            r.show()
        );
    }
    assert!(!nettool::lab::netns::exists(&nettool::lab::namespace_name(
        &name
    )));
}

#[test]
fn ctrl_c_during_the_demo_still_removes_the_lab() {
    let ns = TestNamespace::new("cli-demo-int");
    let name = nettool::lab::testnet::unique_lab_name();
    let lab_ns = nettool::lab::namespace_name(&name);
    let status = ns.run(|| {
        let mut child = cmd(&["lab", "demo", "--name", &name, "--subnet", "10.93.0.0/24"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the lab exists, then interrupt the demo itself.
        let start = std::time::Instant::now();
        while !nettool::lab::netns::exists(&lab_ns) {
            assert!(start.elapsed() < LIMIT, "the demo never brought its lab up");
            std::thread::sleep(Duration::from_millis(10));
        }
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        child.wait().unwrap()
    });
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc::SIGINT),
        "nettool dies of SIGINT, as a shell expects: {status:?}"
    );
    assert!(
        !nettool::lab::netns::exists(&lab_ns),
        "the demo's lab must be gone after Ctrl-C"
    );
}
