//! The privilege drop, read from outside the running process: each
//! command, started as root in namespace A, is watched once its setup is
//! done. `/proc/PID/status` must show no capability at all (effective,
//! permitted, ambient), no_new_privs, and the `nobody` user; and the
//! process itself, under a test-only hook, tries to open a new AF_PACKET
//! socket right after the drop and reports that the kernel refused it.
//! Needs root.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Scratch, Server, nettool};
use nettool::lab::testnet::TwoHosts;
use rstest::rstest;

/// What the hook prints once the process has dropped its privileges.
const AFTER_DROP: &str = "nettool: test: AF_PACKET socket after the drop: ";

/// A running nettool: its process and its stderr's lines.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(hosts: &TwoHosts, scratch: &Scratch, args: &[&str]) -> Running {
        let mut cmd = hosts.cmd_a(nettool());
        cmd.args(args)
            .env("NETTOOL_ARP_CACHE", scratch.cache())
            .env("NETTOOL_TEST_AFTER_DROP", "packet-socket")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning nettool");
        let stderr = child.stderr.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The line that starts with `prefix`, waited for.
    fn wait_for(&mut self, prefix: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(10)) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "no line {prefix:?} from nettool; it said:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// `/proc/PID/status`, while the process runs.
    fn status(&mut self) -> String {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "nettool ended before its status was read:\n{}",
            self.seen.join("\n")
        );
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `field` in a /proc status text.
fn field<'a>(status: &'a str, field: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in\n{status}"))
        .trim()
}

#[rstest]
#[case::nc_listener(&["nc", "-l", "9000"])]
#[case::nc_connect(&["nc", "{B}", "8080"])]
#[case::handshake_no_ack(&["handshake", "--no-ack", "--observe", "5s", "{B}:8080"])]
#[case::probe(&["probe", "-c", "10", "--interval", "1s", "{B}:8080"])]
#[case::scan(&["scan", "--rate", "5", "{B}", "9100-9140"])]
fn after_the_setup_nothing_privileged_is_left(#[case] args: &[&str]) {
    let hosts = TwoHosts::new("priv");
    let scratch = Scratch::new();
    let _server = Server::start(&hosts, "hold", 8080, 0);
    let b = hosts.addr_b.to_string();
    let args: Vec<String> = args.iter().map(|a| a.replace("{B}", &b)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut run = Running::start(&hosts, &scratch, &args);
    let tried = run.wait_for(AFTER_DROP);
    let status = run.status();
    for set in ["CapEff", "CapPrm", "CapAmb", "CapInh"] {
        assert_eq!(field(&status, set), "0000000000000000", "{set}:\n{status}");
    }
    assert_eq!(field(&status, "NoNewPrivs"), "1", "{status}");
    // Real, effective, saved and file-system ids: nobody's, all four.
    let nobody = "65534\t65534\t65534\t65534";
    assert_eq!(field(&status, "Uid"), nobody, "{status}");
    assert_eq!(field(&status, "Gid"), nobody, "{status}");
    assert_eq!(field(&status, "Groups"), "65534", "{status}");
    // And the proof: the kernel refused the socket the drop forbids.
    assert!(
        tried.ends_with("refused (Operation not permitted (os error 1))"),
        "{tried}"
    );
}

/// `--user` names whom to become, and a user that does not exist is an
/// error before anything is sent.
#[test]
fn the_user_can_be_named_and_must_exist() {
    let hosts = TwoHosts::new("privu");
    let scratch = Scratch::new();
    let args = ["nc", "-l", "--user", "daemon", "9001"];
    let mut run = Running::start(&hosts, &scratch, &args);
    run.wait_for(AFTER_DROP);
    let status = run.status();
    assert_eq!(field(&status, "Uid"), "1\t1\t1\t1", "{status}");
    drop(run);
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["nc", "-l", "--user", "no-such-user-nettool", "9002"])
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    let ran = common::run(cmd, Duration::from_secs(10));
    assert_eq!(ran.code, Some(2), "{}", ran.show());
    assert!(
        ran.stderr
            .contains("no user no-such-user-nettool on this system"),
        "{}",
        ran.show()
    );
}
