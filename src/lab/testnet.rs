//! Throwaway topologies for end-to-end tests: namespaces with unique
//! names, deleted on drop (a panicking test included), and swept up on the
//! next run when a killed test process could not delete them.
//!
//! Names are `ntt-<tag>-<pid>-<n>-<role>`: the pid says which process owns
//! the namespace, so a sweep can tell a killed run's leftovers (pid gone)
//! from a concurrent test process's live ones. Nothing here touches the
//! namespace the test process itself runs in.
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

/// A lab name unique to this process and call, short enough for
/// `lab::LabSpec` (`t<pid>-<n>`). Sweeps remove it once the pid is gone.
pub fn unique_lab_name() -> String {
    let name = format!("t{}-{}", std::process::id(), next());
    assert!(
        name.len() <= super::MAX_NAME_LEN,
        "lab name {name} too long"
    );
    name
}

/// The pid that owns a test namespace or test lab namespace, if `name` is one.
pub fn owner_pid(name: &str) -> Option<u32> {
    if let Some(rest) = name.strip_prefix(PREFIX) {
        // ntt-<tag>-<pid>-<n>-<role>: read from the right, the tag may hold '-'.
        let mut parts = rest.rsplitn(4, '-');
        let (_role, n, pid, _tag) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        n.parse::<u32>().ok()?;
        return pid.parse().ok();
    }
    if let Some(lab) = name.strip_prefix(super::NAMESPACE_PREFIX) {
        // nettool-t<pid>-<n>, from unique_lab_name.
        let (pid, n) = lab.strip_prefix('t')?.split_once('-')?;
        n.parse::<u32>().ok()?;
        return pid.parse().ok();
    }
    None
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Deletes test namespaces whose owning process is gone (a run killed
/// before its `Drop`s ran). Live processes' namespaces are left alone.
pub fn sweep_stale() -> Vec<String> {
    let mut removed = Vec::new();
    for name in netns::list().unwrap_or_default() {
        if let Some(pid) = owner_pid(&name)
            && !alive(pid)
            && netns::delete(&name).unwrap_or(false)
        {
            if let Some(lab) = name.strip_prefix(super::NAMESPACE_PREFIX) {
                let _ = std::fs::remove_dir_all(super::run_dir(lab));
            }
            removed.push(name);
        }
    }
    removed
}

fn sweep_stale_once() {
    static SWEEP: Once = Once::new();
    SWEEP.call_once(|| {
        sweep_stale();
    });
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
        self.ns
            .run(f)
            .unwrap_or_else(|e| panic!("entering {}: {e}", self.name()))
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
        netns::mac(Some(self.a()), DEV).unwrap_or_else(|e| panic!("{e}"))
    }

    /// MAC address of B's `eth0`.
    pub fn mac_b(&self) -> MacAddr {
        netns::mac(Some(self.b()), DEV).unwrap_or_else(|e| panic!("{e}"))
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
        self.a
            .run(f)
            .unwrap_or_else(|e| panic!("entering {}: {e}", self.a()))
    }

    /// Runs `f` on a thread inside B.
    pub fn run_in_b<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> T {
        self.b
            .run(f)
            .unwrap_or_else(|e| panic!("entering {}: {e}", self.b()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::pair_side("ntt-arp-4242-7-a", Some(4242))]
    #[case::tag_with_dash("ntt-arp-cache-4242-7-x", Some(4242))]
    #[case::lab("nettool-t4242-3", Some(4242))]
    #[case::user_lab("nettool-lab", None)]
    #[case::user_lab_with_digits("nettool-t1", None)]
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
        let lab = unique_lab_name();
        assert_eq!(owner_pid(&format!("nettool-{lab}")), me);
    }
}
