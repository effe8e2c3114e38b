//! The privilege drop, read from outside the running process: each
//! command, started as root in namespace A, is watched once its setup is
//! done. `/proc/PID/status` must show no capability at all (effective,
//! permitted, ambient), no_new_privs, and the `nobody` user; and the
//! process itself, under a test-only hook, tries to open a new AF_PACKET
//! socket right after the drop and reports that the kernel refused it.
//! Then the seccomp filter that follows: a call outside the allowlist
//! kills the process with a message. Needs root.

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
    /// Its stdout's lines, when piped.
    out: Option<mpsc::Receiver<String>>,
}

/// Each line `from` gives, sent on a channel as it comes.
fn lines_of(from: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

impl Running {
    fn start(hosts: &TwoHosts, scratch: &Scratch, args: &[&str]) -> Running {
        Running::spawn(hosts.cmd_a(nettool()), scratch, args)
    }

    fn spawn(mut cmd: std::process::Command, scratch: &Scratch, args: &[&str]) -> Running {
        cmd.args(args)
            .env("NETTOOL_ARP_CACHE", scratch.cache())
            .env("NETTOOL_TEST_AFTER_DROP", "packet-socket")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning nettool");
        let lines = lines_of(child.stderr.take().expect("piped"));
        let out = Some(lines_of(child.stdout.take().expect("piped")));
        Running {
            child,
            lines,
            seen: Vec::new(),
            out,
        }
    }

    /// What it has written on stdout so far.
    fn stdout_so_far(&mut self) -> String {
        let out = self.out.as_ref().expect("stdout piped");
        out.try_iter().map(|l| l + "\n").collect()
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
#[case::ping(&["ping", "-c", "10", "{B}"])]
#[case::probe_udp(&["probe", "--udp", "-c", "10", "--interval", "1s", "{B}:7"])]
#[case::load(&["load", "{B}:8080", "-c", "100"])]
// Its duplicate address detection runs after the drop, on the open link.
#[case::load_sources(&["load", "{B}:8080", "-c", "100", "--sources", "{FREE}"])]
fn after_the_setup_nothing_privileged_is_left(#[case] args: &[&str]) {
    let hosts = TwoHosts::new("priv");
    let scratch = Scratch::new();
    let _server = Server::start(&hosts, "hold", 8080, 0);
    let b = hosts.addr_b.to_string();
    let o = hosts.addr_b.octets();
    // An address of the link nobody has, for load --sources.
    let free = std::net::Ipv4Addr::new(o[0], o[1], o[2], 200).to_string();
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("{B}", &b).replace("{FREE}", &free))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut run = Running::start(&hosts, &scratch, &args);
    let tried = run.wait_for(AFTER_DROP);
    let status = run.status();
    for set in ["CapEff", "CapPrm", "CapAmb", "CapInh"] {
        assert_eq!(field(&status, set), "0000000000000000", "{set}:\n{status}");
    }
    assert_eq!(field(&status, "NoNewPrivs"), "1", "{status}");
    // And its seccomp filter is on (2: SECCOMP_MODE_FILTER).
    assert_eq!(field(&status, "Seccomp"), "2", "{status}");
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

/// Several targets, the first slow (30 probes a second apart, or 201
/// ports at 5 a second): every target's way and stack are set up first
/// (one per interface: the peer's two addresses share eth0's, this
/// host's own address takes loopback's), and the privileges go once,
/// before the first target's first probe. So the drop is seen while the
/// first target runs, and nothing privileged is left then (before, every
/// target but the last ran privileged, and the drop came only after the
/// first target's 30 s). The TCP runs hold one guard table per stack,
/// not one per target.
#[rstest]
#[case::probe(&["probe", "-c", "30", "--interval", "1s", "{B}:8080", "{B2}:8080", "{A}:8080"], 2)]
#[case::scan(&["scan", "--rate", "5", "{B}", "{B2}", "{A}", "9100-9300"], 2)]
#[case::probe_udp(&["probe", "--udp", "-c", "30", "--interval", "1s", "{B}:7", "{B2}:7", "{A}:7"], 0)]
#[case::probe_icmp(&["probe", "--icmp", "-c", "30", "--interval", "1s", "{B}", "{B2}", "{A}"], 0)]
#[case::scan_udp(&["scan", "--udp", "--rate", "5", "{B}", "{B2}", "{A}", "9100-9300"], 0)]
fn several_targets_drop_before_the_first_runs(#[case] args: &[&str], #[case] guards: usize) {
    let hosts = TwoHosts::new("privm");
    let scratch = Scratch::new();
    let _server = Server::start(&hosts, "hold", 8080, 0);
    let b2 = std::net::Ipv4Addr::from(u32::from(hosts.addr_b) + 1);
    hosts.add_peer_address(b2);
    let (a, b, b2) = (
        hosts.addr_a.to_string(),
        hosts.addr_b.to_string(),
        b2.to_string(),
    );
    let args: Vec<String> = args
        .iter()
        .map(|w| w.replace("{B2}", &b2).replace("{B}", &b).replace("{A}", &a))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut run = Running::start(&hosts, &scratch, &args);
    let tried = run.wait_for(AFTER_DROP);
    let status = run.status();
    for set in ["CapEff", "CapPrm", "CapAmb", "CapInh"] {
        assert_eq!(field(&status, set), "0000000000000000", "{set}:\n{status}");
    }
    assert_eq!(field(&status, "NoNewPrivs"), "1", "{status}");
    assert_eq!(field(&status, "Seccomp"), "2", "{status}");
    assert_eq!(
        field(&status, "Uid"),
        "65534\t65534\t65534\t65534",
        "{status}"
    );
    assert!(
        tried.ends_with("refused (Operation not permitted (os error 1))"),
        "{tried}"
    );
    // The first target is still running: the second's block has not
    // begun.
    let out = run.stdout_so_far();
    assert!(
        !out.contains(&format!(" {b2}")),
        "the second target began already:\n{out}"
    );
    // One guard per stack: eth0's (a rule for each of B's addresses) and
    // loopback's.
    let mut nft = hosts.cmd_a("nft");
    nft.args(["list", "ruleset"]);
    let ruleset = common::sh(nft);
    assert_eq!(
        ruleset.matches("table inet nettool-guard-").count(),
        guards,
        "{ruleset}"
    );
    if guards > 0 {
        assert_eq!(
            ruleset.matches("tcp flags & rst == rst").count(),
            3,
            "{ruleset}"
        );
        assert!(ruleset.contains(&format!("ip daddr {b2} ")), "{ruleset}");
    }
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

/// Under the seccomp filter a call outside the allowlist (here `socket`,
/// made by a test-only hook right after the filter is applied) ends the
/// process at once, with status 159 and a message that names the call and
/// points at the README; `NETTOOL_SECCOMP=off` turns the filter off.
#[test]
fn a_forbidden_call_kills_the_process_with_a_message() {
    let hosts = TwoHosts::new("privs");
    let scratch = Scratch::new();
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["nc", "-l", "9004"])
        .env("NETTOOL_ARP_CACHE", scratch.cache())
        .env("NETTOOL_TEST_AFTER_CONFINE", "forbidden-call");
    let ran = common::run(cmd, Duration::from_secs(10));
    assert_eq!(ran.code, Some(159), "{}", ran.show());
    let says = format!(
        "nettool: stopped by its seccomp filter: system call {} is not one `nettool nc` may make",
        libc::SYS_socket
    );
    assert!(ran.stderr.contains(&says), "{}", ran.show());
    assert!(ran.stderr.contains("README"), "{}", ran.show());
    assert!(!ran.stderr.contains("returned"), "{}", ran.show());

    // Without the filter the same call returns, and nc goes on listening.
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["nc", "-l", "9005"])
        .env("NETTOOL_ARP_CACHE", scratch.cache())
        .env("NETTOOL_TEST_AFTER_CONFINE", "forbidden-call")
        .env("NETTOOL_SECCOMP", "off")
        .env("NETTOOL_TEST_AFTER_DROP", "packet-socket");
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut run = Running {
        child,
        lines: {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            rx
        },
        seen: Vec::new(),
        out: None,
    };
    run.wait_for("nettool: test: the forbidden call returned");
    run.wait_for(AFTER_DROP);
    let status = run.status();
    assert_eq!(field(&status, "Seccomp"), "0", "{status}");
}

/// A copy of the binary given `cap_net_raw,cap_net_admin+p` (neither
/// effective at start) in a directory of its own, removed on drop.
struct FileCaps {
    dir: std::path::PathBuf,
}

impl FileCaps {
    fn new() -> FileCaps {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("nettool-fcap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::copy(nettool(), dir.join("nettool")).unwrap();
        let mut setcap = std::process::Command::new("setcap");
        setcap
            .arg("cap_net_raw,cap_net_admin+p")
            .arg(dir.join("nettool"));
        common::sh(setcap);
        FileCaps { dir }
    }
}

impl Drop for FileCaps {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Not root, with file capabilities: the setup raises CAP_NET_RAW and
/// CAP_NET_ADMIN from the permitted set around the calls that need them
/// (the handshake could not run otherwise: a raw socket, a guard), and
/// the drop clears the permitted set too, as iputils' ping does.
#[test]
fn with_file_capabilities_the_setup_raises_them_and_the_drop_clears_them() {
    let hosts = TwoHosts::new("privf");
    let scratch = Scratch::new();
    let _server = Server::start(&hosts, "hold", 8080, 0);
    let copy = FileCaps::new();
    let mut cmd = hosts.cmd_a("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(copy.dir.join("nettool"));
    let target = format!("{}:8080", hosts.addr_b);
    let args = ["handshake", "--no-ack", "--observe", "5s", &target];
    let mut run = Running::spawn(cmd, &scratch, &args);
    let tried = run.wait_for(AFTER_DROP);
    let status = run.status();
    for set in ["CapEff", "CapPrm", "CapAmb", "CapInh"] {
        assert_eq!(field(&status, set), "0000000000000000", "{set}:\n{status}");
    }
    assert_eq!(field(&status, "NoNewPrivs"), "1", "{status}");
    assert_eq!(
        field(&status, "Uid"),
        "65534\t65534\t65534\t65534",
        "{status}"
    );
    assert!(
        tried.contains("refused (Operation not permitted"),
        "{tried}"
    );
}

/// What a command reads from a file (`probe --data-file`) it reads before
/// the drop: under the seccomp filter, no file can be opened after it.
#[test]
fn a_probe_reads_its_data_file_before_the_drop() {
    let hosts = TwoHosts::new("privd");
    let scratch = Scratch::new();
    let _server = Server::start(&hosts, "hold", 8080, 0);
    let data = scratch.cache().with_file_name("payload");
    std::fs::write(&data, b"hello").unwrap();
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["probe", "-c", "1", "--ack-flag", "--data-file"])
        .arg(&data)
        .arg(format!("{}:8080", hosts.addr_b))
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    let ran = common::run(cmd, Duration::from_secs(10));
    assert!(!ran.stderr.contains("seccomp"), "{}", ran.show());
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    // 40 bytes of headers and the file's 5.
    assert!(ran.stdout.contains("Flags [.], 45 bytes"), "{}", ran.show());

    // UDP probes too: the payload is read once, before the drop, not
    // again when the probes are made.
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["probe", "--udp", "-c", "1", "-w", "200ms", "--data-file"])
        .arg(&data)
        .arg(format!("{}:7", hosts.addr_b))
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    let ran = common::run(cmd, Duration::from_secs(10));
    assert!(!ran.stderr.contains("seccomp"), "{}", ran.show());
    // No echo service on B: its port unreachable answers.
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    assert!(ran.stdout.contains("port closed"), "{}", ran.show());
}

/// `arp` drops every capability once its link is open, and sets
/// no_new_privs and its seccomp filter, but stays root: it writes the ARP
/// cache into root's 0700 directory at its end (by renaming a new file
/// over the old one, which only the directory's owner may do). Without
/// CAP_NET_RAW, root too is refused a new AF_PACKET socket.
#[test]
fn arp_drops_its_capabilities_and_keeps_its_user() {
    let hosts = TwoHosts::new("priva");
    let scratch = Scratch::new();
    let b = hosts.addr_b.to_string();
    let args = ["arp", "-c", "20", "--interval", "200ms", &b];
    let mut run = Running::start(&hosts, &scratch, &args);
    let tried = run.wait_for(AFTER_DROP);
    let status = run.status();
    for set in ["CapEff", "CapPrm", "CapAmb", "CapInh", "CapBnd"] {
        assert_eq!(field(&status, set), "0000000000000000", "{set}:\n{status}");
    }
    assert_eq!(field(&status, "NoNewPrivs"), "1", "{status}");
    assert_eq!(field(&status, "Seccomp"), "2", "{status}");
    assert_eq!(field(&status, "Uid"), "0\t0\t0\t0", "{status}");
    assert!(
        tried.contains("refused (Operation not permitted"),
        "{tried}"
    );
    // And its cache is written at the end, under the filter.
    drop(run);
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["arp", &b])
        .env("NETTOOL_ARP_CACHE", scratch.cache());
    let ran = common::run(cmd, Duration::from_secs(10));
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    assert!(ran.stderr.is_empty(), "{}", ran.show());
    let cached = std::fs::read_to_string(scratch.cache()).unwrap();
    assert!(cached.contains(&b), "{cached}");
}
