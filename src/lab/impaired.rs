//! A faulty wire for end-to-end tests: namespaces A, M and B, with the
//! impairment relay (`nettool impair`) bridging them in M.
//!
//! ```text
//!   A: eth0 (.1/24) ── veth ── left  [M: nettool impair] right ── veth ── eth0 (.2/24) :B
//! ```
//!
//! A and B share one /24 and ARP each other directly (the relay passes ARP
//! untouched); M has no addresses and never routes. Offloads are off on all
//! four veth ends (the relay turns off M's; this helper A's and B's), so
//! every frame is one segment with a finished checksum, and a corrupted one
//! is caught by the receiver's TCP.
//!
//! Like [`super::testnet`], these helpers panic instead of returning
//! errors, and everything is removed on drop, a panicking test included:
//! the relay first (SIGTERM, then SIGKILL), then the three namespaces. A
//! relay whose test process was killed outright dies with it (it gets
//! SIGTERM when its parent goes, and exits when its interfaces vanish).

use std::collections::BTreeMap;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ipnetwork::Ipv4Network;
use pnet::util::MacAddr;

use super::netns::{self, Namespace};
use super::testnet::{DEV, enter, eth0_mac, require_root, unique_name};
use crate::impair::{Config, Stats, run::read_stats, socket::disable_offloads};

/// The relay's interface towards A, in M.
pub const LEFT: &str = "left";
/// The relay's interface towards B, in M.
pub const RIGHT: &str = "right";

static SUBNETS: AtomicU32 = AtomicU32::new(0);

/// How the relay ended, as [`ImpairedPair::stop_relay`] saw it.
#[derive(Debug)]
pub struct RelayExit {
    pub status: ExitStatus,
    /// The final counters, from the stats file (`finished` is set).
    pub stats: Stats,
    pub stdout: String,
    pub stderr: String,
}

struct RelayProcess {
    child: Child,
}

impl RelayProcess {
    /// SIGTERM, then up to `grace` to exit, then SIGKILL.
    fn stop(&mut self, grace: Duration) -> ExitStatus {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child, which we have not reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => {
                    let _ = self.child.kill();
                    return self.child.wait().expect("waiting for the relay");
                }
            }
        }
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop(Duration::from_secs(2));
        }
    }
}

/// Three namespaces and the relay between them; see the module docs.
/// Field order matters: the relay stops before the namespaces go.
pub struct ImpairedPair {
    relay: Option<RelayProcess>,
    a: Namespace,
    m: Namespace,
    b: Namespace,
    dir: tempfile::TempDir,
    nettool: PathBuf,
    config: Config,
    pub subnet: Ipv4Network,
    pub addr_a: Ipv4Addr,
    pub addr_b: Ipv4Addr,
}

/// Reads counters with `read` every 20 ms until `done` holds, for at most
/// `limit`; past it, fails the test saying `what`, with the last counters.
fn poll_stats(
    limit: Duration,
    read: impl Fn() -> Stats,
    done: impl Fn(&Stats) -> bool,
    what: &str,
) -> Stats {
    let deadline = Instant::now() + limit;
    loop {
        let s = read();
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what}:\n{}", s.render());
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl ImpairedPair {
    /// Builds A, M and B and starts `nettool impair` (the binary at
    /// `nettool`; tests pass `env!("CARGO_BIN_EXE_nettool")`) in M with
    /// `config`. Returns once the relay is forwarding.
    ///
    /// The relay is tied to the calling thread (`PR_SET_PDEATHSIG`): it
    /// gets SIGTERM when that thread ends, so build the pair on the thread
    /// that keeps it, normally the test's own.
    ///
    /// # Panics
    /// When not root, when `ip` fails, or when the relay does not start.
    pub fn new(tag: &str, nettool: impl Into<PathBuf>, config: &Config) -> ImpairedPair {
        require_root();
        let n = (SUBNETS.fetch_add(1, Ordering::Relaxed) % 256) as u8;
        let subnet = Ipv4Network::new(Ipv4Addr::new(10, 201, n, 0), 24).expect("valid /24");
        let addr_a = Ipv4Addr::new(10, 201, n, 1);
        let addr_b = Ipv4Addr::new(10, 201, n, 2);
        let fail = |what: &str, e: &dyn std::fmt::Display| -> ! { panic!("{what}: {e}") };
        let create = |role: &str| {
            let name = unique_name(tag, role);
            let ns =
                Namespace::create(&name).unwrap_or_else(|e| fail(&format!("creating {name}"), &e));
            netns::disable_ipv6_everywhere(&name)
                .unwrap_or_else(|e| fail(&format!("disabling IPv6 in {name}"), &e));
            ns
        };
        let (a, m, b) = (create("a"), create("m"), create("b"));
        for (end, ns, peer) in [(&a, LEFT, "A"), (&b, RIGHT, "B")] {
            netns::add_veth(Some(end.name()), DEV, ns, Some(m.name()))
                .unwrap_or_else(|e| fail(&format!("creating the veth pair M–{peer}"), &e));
        }
        for (ns, addr) in [(&a, addr_a), (&b, addr_b)] {
            let net = Ipv4Network::new(addr, 24).expect("a /24");
            netns::add_address(Some(ns.name()), DEV, net)
                .unwrap_or_else(|e| fail(&format!("adding {net} in {}", ns.name()), &e));
            ns.run(|| disable_offloads(DEV))
                .unwrap_or_else(|e| fail(&format!("entering {}", ns.name()), &e))
                .unwrap_or_else(|e| fail(&format!("offloads off in {}", ns.name()), &e));
            netns::set_up(Some(ns.name()), DEV)
                .unwrap_or_else(|e| fail(&format!("eth0 up in {}", ns.name()), &e));
        }
        for dev in [LEFT, RIGHT] {
            netns::set_up(Some(m.name()), dev)
                .unwrap_or_else(|e| fail(&format!("{dev} up in {}", m.name()), &e));
        }
        let dir = tempfile::tempdir().expect("a scratch directory for the relay");
        let mut pair = ImpairedPair {
            relay: None,
            a,
            m,
            b,
            dir,
            nettool: nettool.into(),
            config: config.clone(),
            subnet,
            addr_a,
            addr_b,
        };
        pair.start_relay();
        pair
    }

    fn start_relay(&mut self) {
        assert!(self.relay.is_none(), "the relay is already running");
        let stats = self.stats_path();
        let _ = std::fs::remove_file(&stats);
        let log = |name: &str| File::create(self.dir.path().join(name)).expect("a relay log file");
        let mut cmd = self.m.exec(&self.nettool);
        cmd.args(["impair", "--left", LEFT, "--right", RIGHT, "--stats"])
            .arg(&stats)
            .arg("--trace")
            .arg(self.trace_path())
            .args(self.config.to_args())
            .stdin(Stdio::null())
            .stdout(log("relay.out"))
            .stderr(log("relay.err"));
        // SAFETY: prctl is async-signal-safe; nothing else runs before exec.
        // `ip netns exec` execs nettool in the same process, so the relay
        // keeps the setting: it gets SIGTERM if this thread dies.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.nettool.display()));
        let mut relay = RelayProcess { child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !stats.exists() {
            if let Ok(Some(status)) = relay.child.try_wait() {
                panic!(
                    "the relay exited ({status}) before it started:\n{}",
                    self.relay_log("relay.err")
                );
            }
            assert!(
                Instant::now() < deadline,
                "the relay did not start within 10 s:\n{}",
                self.relay_log("relay.err")
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        self.relay = Some(relay);
    }

    fn relay_log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// Stops the relay (SIGTERM) and returns how it ended, with its last counts.
    ///
    /// # Panics
    /// When no relay runs, or it left no readable stats file.
    pub fn stop_relay(&mut self) -> RelayExit {
        let mut relay = self.relay.take().expect("the relay is not running");
        let status = relay.stop(Duration::from_secs(5));
        RelayExit {
            status,
            stats: read_stats(&self.stats_path()).unwrap_or_else(|e| {
                panic!(
                    "the relay's stats file: {e}\n{}",
                    self.relay_log("relay.err")
                )
            }),
            stdout: self.relay_log("relay.out"),
            stderr: self.relay_log("relay.err"),
        }
    }

    /// Waits, without signalling it, for the relay to exit by itself.
    ///
    /// # Panics
    /// When no relay runs, or it is still running after `limit`.
    pub fn wait_relay_exit(&mut self, limit: Duration) -> RelayExit {
        let deadline = Instant::now() + limit;
        let relay = self.relay.as_mut().expect("the relay is not running");
        let status = loop {
            if let Some(status) = relay.child.try_wait().expect("waiting for the relay") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the relay is still running after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        self.relay = None;
        RelayExit {
            status,
            stats: read_stats(&self.stats_path()).unwrap_or_default(),
            stdout: self.relay_log("relay.out"),
            stderr: self.relay_log("relay.err"),
        }
    }

    /// Stops the relay and starts a fresh one with `config` (new counters,
    /// the decision generators seeded afresh).
    pub fn restart_relay(&mut self, config: &Config) -> RelayExit {
        let exit = self.stop_relay();
        self.config = config.clone();
        self.start_relay();
        exit
    }

    /// The relay's process id (for signals: SIGUSR1 toggles the blackhole).
    pub fn relay_pid(&self) -> u32 {
        self.relay
            .as_ref()
            .expect("the relay is not running")
            .child
            .id()
    }

    /// Sends `signal` to the relay.
    pub fn signal_relay(&self, signal: libc::c_int) {
        // SAFETY: signalling our own, unreaped child.
        let rc = unsafe { libc::kill(self.relay_pid() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "signalling the relay");
    }

    /// Switches the blackhole on, or off again (SIGUSR1).
    pub fn toggle_blackhole(&self) {
        self.signal_relay(libc::SIGUSR1);
    }

    /// The stats file the relay rewrites (every 100 ms while counters move).
    pub fn stats_path(&self) -> PathBuf {
        self.dir.path().join("stats.json")
    }

    /// The relay's decision trace: one line per frame it dropped,
    /// duplicated, corrupted, held, released or blackholed, with the TCP
    /// segment's flags, sequence and acknowledgment numbers and length
    /// (flushed every 100 ms while the counters move, and at exit).
    pub fn trace_path(&self) -> PathBuf {
        self.dir.path().join("trace.log")
    }

    /// The relay's counters as last written.
    pub fn stats(&self) -> Stats {
        read_stats(&self.stats_path()).unwrap_or_else(|e| panic!("reading the relay's stats: {e}"))
    }

    /// The relay's counters as of now: asks for a snapshot (SIGUSR2) and
    /// waits until the file shows it, so nothing counted before this call
    /// is missing (the periodic rewrite may be up to 100 ms old).
    pub fn fresh_stats(&self) -> Stats {
        let before = self.stats().snapshots;
        self.signal_relay(libc::SIGUSR2);
        self.wait_stats(Duration::from_secs(5), |s| s.snapshots > before)
    }

    /// Fresh counters (see [`Self::fresh_stats`]) once nothing is held or
    /// delayed any more, waiting at most `limit` for that.
    pub fn settled_stats(&self, limit: Duration) -> Stats {
        let settled = |s: &Stats| s.left_to_right.queued == 0 && s.right_to_left.queued == 0;
        poll_stats(
            limit,
            || self.fresh_stats(),
            settled,
            "the relay still holds frames",
        )
    }

    /// Polls the counters until `done` holds, for at most `limit`.
    ///
    /// # Panics
    /// When `limit` passes first, with the last counters.
    pub fn wait_stats(&self, limit: Duration, done: impl Fn(&Stats) -> bool) -> Stats {
        let what = "the relay's counters never got there";
        poll_stats(limit, || self.stats(), done, what)
    }

    pub fn a(&self) -> &str {
        self.a.name()
    }

    pub fn m(&self) -> &str {
        self.m.name()
    }

    pub fn b(&self) -> &str {
        self.b.name()
    }

    /// `ip netns exec A program`.
    pub fn cmd_a(&self, program: &str) -> Command {
        self.a.exec(program)
    }

    /// `ip netns exec B program`.
    pub fn cmd_b(&self, program: &str) -> Command {
        self.b.exec(program)
    }

    /// `ip netns exec M program`.
    pub fn cmd_m(&self, program: &str) -> Command {
        self.m.exec(program)
    }

    /// Runs `f` on a thread inside A.
    pub fn run_in_a<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> T {
        enter(&self.a, f)
    }

    /// Runs `f` on a thread inside B.
    pub fn run_in_b<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> T {
        enter(&self.b, f)
    }

    /// MAC address of A's `eth0`.
    pub fn mac_a(&self) -> MacAddr {
        eth0_mac(&self.a)
    }

    /// MAC address of B's `eth0`.
    pub fn mac_b(&self) -> MacAddr {
        eth0_mac(&self.b)
    }

    /// The kernel's SNMP and netstat counters in A (`nstat -a`), e.g.
    /// `TcpRetransSegs`, `TcpInCsumErrors`, `TcpExtTCPOFOQueue`.
    pub fn nstat_a(&self) -> BTreeMap<String, u64> {
        nstat(self.a(), self.dir.path())
    }

    /// The same in B.
    pub fn nstat_b(&self) -> BTreeMap<String, u64> {
        nstat(self.b(), self.dir.path())
    }
}

/// Absolute counters of a namespace (created fresh for the test, so they
/// count since its creation), with a history file of its own: `nstat`
/// otherwise shares one history between all namespaces.
fn nstat(ns: &str, dir: &Path) -> BTreeMap<String, u64> {
    let mut cmd = netns::exec(ns, "nstat");
    cmd.args(["-a", "-s", "-z", "-j"])
        .env("NSTAT_HISTORY", dir.join(format!("nstat-{ns}")));
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running nstat (iproute2): {e}"));
    assert!(
        out.status.success(),
        "nstat failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("nstat printed no JSON ({e})"));
    let mut counters = BTreeMap::new();
    if let Some(kernel) = json.get("kernel").and_then(|k| k.as_object()) {
        for (name, value) in kernel {
            if let Some(v) = value.as_u64() {
                counters.insert(name.clone(), v);
            }
        }
    }
    counters
}
