//! Throwaway topologies for end-to-end tests: namespaces with unique
//! names, deleted on drop (a panicking test included), and swept up on the
//! next run when a killed test process could not delete them.
//!
//! Names are `ntt-<tag>-<pid>-<n>-<role>`: the pid says which process owns
//! the namespace, so a sweep can tell a killed run's leftovers (pid gone)
//! from a concurrent test process's live ones. Test labs, whose names
//! must be valid `lab up` names anyone could choose, are recorded in a
//! claim file per process instead ([`TEST_LAB_CLAIMS`]). Nothing here
//! touches the namespace the test process itself runs in.
//!
//! These helpers panic instead of returning errors: they are for tests,
//! where a failed setup should stop the test with a message that says why
//! (root is needed, `ip` is missing, …).
//!
//! Compiled only with the `testkit` feature (see [`super`]), like
//! [`super::impaired`] and [`super::routed`], which build on these names.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

use ipnetwork::Ipv4Network;
use pnet::util::MacAddr;

use super::netns::{self, Namespace};

/// Prefix of every test namespace.
pub const PREFIX: &str = "ntt-";
/// Interface name of both veth ends in [`TwoHosts`].
pub const DEV: &str = "eth0";

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub(super) fn next() -> u32 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Panics with a clear message unless the process may configure networking.
pub fn require_root() {
    match netns::require_net_admin() {
        Ok(()) => {}
        Err(netns::NetnsError::NotPermitted { .. }) => panic!(
            "this test builds network namespaces and needs root (CAP_NET_ADMIN): \
             run it as root, e.g. `sudo -E cargo test`"
        ),
        Err(e) => panic!("cannot tell whether this process may build namespaces: {e}"),
    }
    sweep_stale_once();
}

/// A namespace name unique to this process and call:
/// `ntt-<tag>-<pid>-<n>-<role>`.
pub fn unique_name(tag: &str, role: &str) -> String {
    name_for(tag, next(), role)
}

pub(super) fn name_for(tag: &str, n: u32, role: &str) -> String {
    format!("{PREFIX}{tag}-{}-{n}-{role}", std::process::id())
}

/// Where test processes record the lab names they hand out:
/// `<TEST_LAB_CLAIMS>/<pid>`, one name per line. A lab name alone cannot
/// say it belongs to a test (`t…` is a name anyone may give `lab up`), so
/// the sweep deletes only the labs a claim file names.
pub const TEST_LAB_CLAIMS: &str = "/run/nettool-tests/labs";

/// How long after a name was claimed its lab may still be created and be
/// the test's: a namespace of that name made later is somebody else's.
const CLAIM_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// A lab name unique to this process and call, short enough for
/// `lab::LabSpec`: `t<pid>-<n>`, both in base 36 (a 7-digit pid and a
/// counter of 1,679,615 still fit the 11 characters). The name is
/// recorded in this process's claim file ([`TEST_LAB_CLAIMS`]) before it
/// is returned, so a sweep after this process is gone removes the lab.
pub fn unique_lab_name() -> String {
    let name = format!("t{}-{}", base36(std::process::id()), base36(next()));
    assert!(
        name.len() <= super::MAX_NAME_LEN,
        "lab name {name} too long"
    );
    claim_lab_name(std::process::id(), &name)
        .unwrap_or_else(|e| panic!("cannot record test lab {name} in {TEST_LAB_CLAIMS}: {e}"));
    name
}

fn base36(mut n: u32) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII digits")
}

/// Records that process `pid` handed out lab `name` (appends to its
/// claim file, which the file's mtime dates).
pub fn claim_lab_name(pid: u32, name: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(TEST_LAB_CLAIMS)?;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(claim_path(pid))?;
    // One write of a whole line: O_APPEND keeps concurrent lines whole.
    file.write_all(format!("{name}\n").as_bytes())
}

fn claim_path(pid: u32) -> std::path::PathBuf {
    std::path::Path::new(TEST_LAB_CLAIMS).join(pid.to_string())
}

/// The pid that owns a test namespace, if `name` is one
/// (`ntt-<tag>-<pid>-<n>-<role>`). Test labs are told by their claim
/// files instead ([`TEST_LAB_CLAIMS`]).
pub fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    // Read from the right: the tag may hold '-'.
    let mut parts = rest.rsplitn(4, '-');
    let (_role, n, pid, _tag) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    n.parse::<u32>().ok()?;
    pid.parse().ok()
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Deletes test namespaces whose owning process is gone (a run killed
/// before its `Drop`s ran), and the labs that gone processes claimed.
/// Live processes' namespaces are left alone, and so is a lab that merely
/// looks like a test's: only a claimed name whose namespace was made
/// while the claim was fresh is removed.
pub fn sweep_stale() -> Vec<String> {
    let mut removed = Vec::new();
    for name in netns::list().unwrap_or_default() {
        if let Some(pid) = owner_pid(&name)
            && !alive(pid)
            && netns::delete(&name).unwrap_or(false)
        {
            removed.push(name);
        }
    }
    for (pid, claimed_at, labs) in claims() {
        if alive(pid) {
            continue;
        }
        for lab in labs {
            let ns = super::namespace_name(&lab);
            let made = std::fs::metadata(format!("/run/netns/{ns}")).and_then(|m| m.modified());
            let theirs = made.is_ok_and(|made| made <= claimed_at + CLAIM_GRACE);
            if theirs && netns::delete(&ns).unwrap_or(false) {
                let _ = std::fs::remove_dir_all(super::run_dir(&lab));
                removed.push(ns);
            }
        }
        let _ = std::fs::remove_file(claim_path(pid));
    }
    removed
}

/// Every claim file: its pid, when it was last written, the names in it.
fn claims() -> Vec<(u32, std::time::SystemTime, Vec<String>)> {
    let Ok(dir) = std::fs::read_dir(TEST_LAB_CLAIMS) else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let entry = entry.ok()?;
        let pid = entry.file_name().to_str()?.parse().ok()?;
        let claimed_at = entry.metadata().ok()?.modified().ok()?;
        let text = std::fs::read_to_string(entry.path()).ok()?;
        let labs = text.lines().map(str::to_owned).collect();
        Some((pid, claimed_at, labs))
    })
    .collect()
}

fn sweep_stale_once() {
    static SWEEP: Once = Once::new();
    SWEEP.call_once(|| {
        sweep_stale();
    });
}

/// Runs `f` on a thread inside `ns`; a namespace that cannot be entered
/// fails the test.
pub(crate) fn enter<T: Send, F: FnOnce() -> T + Send>(ns: &Namespace, f: F) -> T {
    ns.run(f)
        .unwrap_or_else(|e| panic!("entering {}: {e}", ns.name()))
}

/// The MAC address of `ns`'s `eth0`.
pub(crate) fn eth0_mac(ns: &Namespace) -> MacAddr {
    netns::mac(Some(ns.name()), DEV).unwrap_or_else(|e| panic!("{e}"))
}

/// One fresh namespace with loopback up and IPv6 off; deleted on drop.
pub struct TestNamespace {
    ns: Namespace,
}

impl TestNamespace {
    /// # Panics
    /// When not root, or when `ip` fails.
    pub fn new(tag: &str) -> TestNamespace {
        require_root();
        let name = unique_name(tag, "x");
        let ns = Namespace::create(&name).unwrap_or_else(|e| panic!("creating {name}: {e}"));
        netns::disable_ipv6_everywhere(&name)
            .unwrap_or_else(|e| panic!("disabling IPv6 in {name}: {e}"));
        TestNamespace { ns }
    }

    pub fn name(&self) -> &str {
        self.ns.name()
    }

    /// `ip netns exec NAME program`.
    pub fn cmd(&self, program: &str) -> Command {
        self.ns.exec(program)
    }

    /// Runs `f` on a thread inside the namespace.
    pub fn run<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> T {
        enter(&self.ns, f)
    }
}

/// Two namespaces joined by a veth pair (`eth0` on both sides), on a /24
/// with `.1` on side A and `.2` on side B, IPv6 off, loopback up. Both
/// namespaces are deleted on drop, even when the test panicked.
///
/// A is meant for the code under test, B for the real Linux peer.
pub struct TwoHosts {
    a: Namespace,
    b: Namespace,
    pub subnet: Ipv4Network,
    pub addr_a: Ipv4Addr,
    pub addr_b: Ipv4Addr,
}

impl TwoHosts {
    /// A pair on an automatic subnet, `10.200.N.0/24` with N from a
    /// per-process counter. Subnets need not be unique across processes:
    /// no address is ever configured in the test process's own namespace.
    ///
    /// # Panics
    /// When not root, or when `ip` fails.
    pub fn new(tag: &str) -> TwoHosts {
        let n = (next() % 256) as u8;
        let subnet = Ipv4Network::new(Ipv4Addr::new(10, 200, n, 0), 24).expect("valid /24");
        TwoHosts::with_subnet(tag, subnet)
    }

    /// A pair on `subnet`: A gets its first host address, B the second.
    ///
    /// # Panics
    /// When not root, when `ip` fails, or when the subnet has fewer than
    /// two host addresses.
    pub fn with_subnet(tag: &str, subnet: Ipv4Network) -> TwoHosts {
        require_root();
        assert!(subnet.prefix() <= 30, "{subnet} has no room for two hosts");
        let base = u32::from(subnet.network());
        let addr_a = Ipv4Addr::from(base + 1);
        let addr_b = Ipv4Addr::from(base + 2);
        let prefix = subnet.prefix();

        let n = next();
        let (name_a, name_b) = (name_for(tag, n, "a"), name_for(tag, n, "b"));
        let fail = |what: &str, e: netns::NetnsError| -> ! { panic!("{what}: {e}") };
        let a =
            Namespace::create(&name_a).unwrap_or_else(|e| fail(&format!("creating {name_a}"), e));
        let b =
            Namespace::create(&name_b).unwrap_or_else(|e| fail(&format!("creating {name_b}"), e));
        for ns in [&name_a, &name_b] {
            netns::disable_ipv6_everywhere(ns)
                .unwrap_or_else(|e| fail(&format!("disabling IPv6 in {ns}"), e));
        }
        netns::add_veth(Some(&name_a), DEV, DEV, Some(&name_b))
            .unwrap_or_else(|e| fail("creating the veth pair", e));
        for (ns, addr) in [(&name_a, addr_a), (&name_b, addr_b)] {
            let net = Ipv4Network::new(addr, prefix).expect("prefix checked above");
            netns::add_address(Some(ns), DEV, net)
                .unwrap_or_else(|e| fail(&format!("adding {net} in {ns}"), e));
            netns::set_up(Some(ns), DEV).unwrap_or_else(|e| fail(&format!("eth0 up in {ns}"), e));
        }
        TwoHosts {
            a,
            b,
            subnet,
            addr_a,
            addr_b,
        }
    }

    pub fn a(&self) -> &str {
        self.a.name()
    }

    pub fn b(&self) -> &str {
        self.b.name()
    }

    /// Adds another address of the subnet on B's `eth0` (B's kernel then
    /// answers ARP and ping for it too).
    pub fn add_peer_address(&self, addr: Ipv4Addr) {
        let net = Ipv4Network::new(addr, self.subnet.prefix()).expect("prefix is valid");
        netns::add_address(Some(self.b()), DEV, net)
            .unwrap_or_else(|e| panic!("adding {net} in {}: {e}", self.b()));
    }

    /// MAC address of A's `eth0`.
    pub fn mac_a(&self) -> MacAddr {
        eth0_mac(&self.a)
    }

    /// MAC address of B's `eth0`.
    pub fn mac_b(&self) -> MacAddr {
        eth0_mac(&self.b)
    }

    /// `ip netns exec A program`.
    pub fn cmd_a(&self, program: &str) -> Command {
        self.a.exec(program)
    }

    /// `ip netns exec B program`.
    pub fn cmd_b(&self, program: &str) -> Command {
        self.b.exec(program)
    }

    /// Runs `f` on a thread inside A.
    pub fn run_in_a<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> T {
        enter(&self.a, f)
    }

    /// Runs `f` on a thread inside B.
    pub fn run_in_b<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> T {
        enter(&self.b, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::pair_side("ntt-arp-4242-7-a", Some(4242))]
    #[case::tag_with_dash("ntt-arp-cache-4242-7-x", Some(4242))]
    #[case::lab_by_name_alone("nettool-t4242-3", None)]
    #[case::user_lab("nettool-lab", None)]
    #[case::someone_else("ntt", None)]
    #[case::no_counter("ntt-arp-4242-x-a", None)]
    #[case::foreign("docker-abc", None)]
    fn owner_pids(#[case] name: &str, #[case] want: Option<u32>) {
        assert_eq!(owner_pid(name), want);
    }

    #[test]
    fn generated_names_are_owned_by_this_process() {
        let me = Some(std::process::id());
        assert_eq!(owner_pid(&unique_name("t", "a")), me);
    }

    #[rstest]
    #[case(0, "0")]
    #[case(35, "z")]
    #[case(36, "10")]
    #[case(4_194_304, "2hwcg")] // pid_max's ceiling
    #[case(u32::MAX, "1z141z3")]
    fn base36_digits(#[case] n: u32, #[case] want: &str) {
        assert_eq!(base36(n), want);
    }

    #[test]
    fn lab_names_fit_with_the_largest_pid_and_a_large_counter() {
        let name = format!("t{}-{}", base36(4_194_304), base36(1_679_615));
        assert!(name.len() <= crate::lab::MAX_NAME_LEN, "{name}");
        crate::lab::validate_name(&name).unwrap();
    }
}
