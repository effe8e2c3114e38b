//! The binary as a user meets it: help, usage errors, exit codes, and the
//! cache commands. These need no network; the lab tests at the end build
//! a private namespace and need root.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Scratch, nettool, run};
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
    assert_eq!(run(c, LIMIT).stdout, "02:00:00:00:00:07\n");
    let mut c = cmd(&["arp", "--flush", "--cache-file"]);
    c.arg(&path);
    let r = run(c, LIMIT);
    assert!(r.stdout.contains("flushed 1 entry"), "{}", r.show());
    let mut c = cmd(&["arp", "--show"]);
    c.env("NETTOOL_ARP_CACHE", &path);
    assert!(run(c, LIMIT).stdout.contains("is empty"));
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
        "4 of 253 addresses answered",
        "is in use by",
        "is open: SYN-ACK",
        "is closed: RST",
        "CLOSE-WAIT → LAST-ACK",
        "FIN-WAIT-2 → TIME-WAIT",
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
