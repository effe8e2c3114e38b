//! The namespace lab against a real kernel.
//!
//! Needs root and fails with a clear message without it. `lab::up` puts
//! its host end in the *current* namespace, so every test first makes a
//! private namespace X and runs the lab code on a thread that entered X
//! (`TestNamespace::run`, a `setns` on a fresh thread; the `ip` processes
//! it spawns inherit X). The machine's own namespace is never touched,
//! which each test checks too. Pings go only to lab addresses, which
//! live in namespaces these tests created.

use std::net::Ipv4Addr;
use std::process::Command;

use ipnetwork::Ipv4Network;
use nettool::lab::netns::{self, Namespace};
use nettool::lab::testnet::{self, TestNamespace, TwoHosts};
use nettool::lab::{self, LabError, LabSpec};

fn spec(name: &str, subnet: &str) -> LabSpec {
    LabSpec {
        name: name.into(),
        subnet: subnet.parse().unwrap(),
        hosts: 4,
        services: None,
    }
}

/// One ping from namespace `ns` (allowed: every target lives in a
/// namespace these tests created).
fn pings(ns: &str, addr: Ipv4Addr) -> bool {
    netns::exec(ns, "ping")
        .args(["-n", "-q", "-c1", "-W1", &addr.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("running ping (apt-get install iputils-ping)")
        .success()
}

/// Nothing of lab `name` is left, here or in X, and no namespace of it exists.
fn assert_lab_gone(x: &TestNamespace, name: &str) {
    assert!(
        !netns::exists(&lab::namespace_name(name)),
        "namespace left behind"
    );
    assert!(!lab::run_dir(name).exists(), "run directory left behind");
    assert_eq!(x.run(|| lab::status(name).unwrap()), None);
    assert_host_untouched(name);
}

/// Runs `lab::up` inside X, and `lab::down` again when dropped, so a
/// failing assertion leaves no lab namespace behind. Declare it after X:
/// it must drop first.
struct Lab<'x> {
    x: &'x TestNamespace,
    name: String,
}

impl<'x> Lab<'x> {
    fn up(x: &'x TestNamespace, spec: &LabSpec) -> (Lab<'x>, lab::LabStatus) {
        let status = x.run(|| lab::up(spec)).unwrap();
        let lab = Lab {
            x,
            name: spec.name.clone(),
        };
        (lab, status)
    }
}

impl Drop for Lab<'_> {
    fn drop(&mut self) {
        let _ = self.x.run(|| lab::down(&self.name));
    }
}

/// The machine's own namespace never sees a lab interface.
fn assert_host_untouched(name: &str) {
    let host_if = lab::host_interface_name(name);
    assert_eq!(
        netns::link(None, &host_if).unwrap(),
        None,
        "{host_if} in the host namespace"
    );
}

#[test]
fn up_status_ping_down() {
    let x = TestNamespace::new("labup");
    let name = testnet::unique_lab_name();
    let want = spec(&name, "10.78.0.0/24");

    let (_lab, status) = Lab::up(&x, &want);
    assert!(status.is_healthy(), "{:?}", status.problems);
    assert_eq!(status.namespace, format!("nettool-{name}"));
    assert_eq!(status.subnet, Some("10.78.0.0/24".parse().unwrap()));
    let host = status.host.as_ref().unwrap();
    let peer = status.peer.as_ref().unwrap();
    assert_eq!(host.interface, format!("ntl-{name}"));
    assert_eq!(
        host.addresses,
        vec!["10.78.0.1/24".parse::<Ipv4Network>().unwrap()]
    );
    // Both ends have their link-local address when `up` returns (the
    // kernel adds it a moment after the link comes up; `up` waits).
    for end in [host, peer] {
        assert!(
            end.addresses6
                .iter()
                .any(|a| a.ip().segments()[0] & 0xffc0 == 0xfe80),
            "{}: {:?}",
            end.interface,
            end.addresses6
        );
    }
    let peer_addrs: Vec<String> = peer.addresses.iter().map(|a| a.to_string()).collect();
    assert_eq!(
        peer_addrs,
        [
            "10.78.0.2/24",
            "10.78.0.3/24",
            "10.78.0.4/24",
            "10.78.0.5/24"
        ]
    );
    assert_ne!(host.mac, peer.mac);
    assert_host_untouched(&name);

    // IPv6 is on at both ends, with the lab's ULA addresses, usable at
    // once (no DAD): the peer's answers ping -6 from this host.
    let host_link = x
        .run(|| netns::link(None, &host.interface))
        .unwrap()
        .unwrap();
    let peer_link = netns::link(Some(&status.namespace), "eth0")
        .unwrap()
        .unwrap();
    assert!(host_link.has_ipv6 && peer_link.has_ipv6);
    let peer6: Vec<String> = peer.addresses6.iter().map(|a| a.to_string()).collect();
    for want in ["fd00:6e74::2/64", "fd00:6e74::5/64"] {
        assert!(peer6.iter().any(|a| a == want), "{peer6:?}");
    }
    let ping6 = Command::new("ip")
        .args([
            "netns",
            "exec",
            x.name(),
            "ping",
            "-6",
            "-c",
            "1",
            "-W",
            "2",
            "fd00:6e74::5",
        ])
        .output()
        .unwrap();
    assert!(ping6.status.success(), "{ping6:?}");
    // ... and nettool ndp resolves a peer from the host end's link-local
    // address, to the peer end's MAC.
    let cache = tempfile::tempdir().unwrap();
    let ndp = Command::new("ip")
        .args(["netns", "exec", x.name(), env!("CARGO_BIN_EXE_nettool")])
        .args(["ndp", "-q", "fd00:6e74::3"])
        .env("NETTOOL_ARP_CACHE", cache.path().join("c.json"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ndp.stdout).trim(),
        peer.mac.to_string(),
        "{ndp:?}"
    );

    // The real kernel behind the lab answers for every host address.
    for host_addr in &peer.addresses {
        assert!(
            pings(x.name(), host_addr.ip()),
            "no answer from {host_addr}"
        );
    }
    // ... from the peer's own MAC, learned by X's kernel through ARP.
    let neigh = Command::new("ip")
        .args(["-n", x.name(), "neigh", "show", "10.78.0.3"])
        .output()
        .unwrap();
    let neigh = String::from_utf8_lossy(&neigh.stdout);
    assert!(neigh.contains(&peer.mac.to_string()), "{neigh}");

    // Status reads the live system, and JSON carries it for scripts.
    let again = x.run(|| lab::status(&name)).unwrap().unwrap();
    // operstate may still move from DOWN to UP (the kernel's linkwatch
    // applies carrier changes with a delay); everything else is fixed.
    let settled = |mut s: lab::LabStatus| {
        for end in [&mut s.host, &mut s.peer].into_iter().flatten() {
            end.operstate.clear();
        }
        s
    };
    assert_eq!(settled(again.clone()), settled(status.clone()));
    let json = serde_json::to_value(&again).unwrap();
    assert_eq!(json["peer"]["addresses"][3], "10.78.0.5/24");

    let twice = x.run(|| lab::up(&want)).unwrap_err();
    assert!(matches!(twice, LabError::AlreadyExists { .. }), "{twice}");

    let report = x.run(|| lab::down(&name)).unwrap();
    assert_eq!(
        report.removed,
        [
            format!("interface ntl-{name}"),
            format!("namespace nettool-{name}")
        ]
    );
    assert_lab_gone(&x, &name);
    let again = x.run(|| lab::down(&name)).unwrap();
    assert!(again.nothing_was_there(), "{again:?}");
}

#[test]
fn overlapping_subnets_are_refused_and_nothing_is_created() {
    let x = TestNamespace::new("labovl");
    let name = testnet::unique_lab_name();
    // An address in X, like a real LAN on the machine ...
    let ok = Command::new("ip")
        .args(["-n", x.name(), "link", "add", "v0", "type", "veth", "peer", "name", "v1"])
        .status()
        .unwrap()
        .success()
        && Command::new("ip")
            .args(["-n", x.name(), "addr", "add", "10.77.0.1/16", "dev", "v0"])
            .status()
            .unwrap()
            .success()
        // ... and a route with no address behind it.
        && Command::new("ip")
            .args(["-n", x.name(), "route", "add", "blackhole", "10.66.0.0/16"])
            .status()
            .unwrap()
            .success();
    assert!(ok, "setting up X");

    for (subnet, conflict) in [
        ("10.77.5.0/24", "address 10.77.0.1/16 on v0"),
        ("10.0.0.0/8", "address 10.77.0.1/16 on v0"),
        ("10.66.1.0/24", "blackhole route 10.66.0.0/16"),
    ] {
        let err = x.run(|| lab::up(&spec(&name, subnet))).unwrap_err();
        match &err {
            LabError::Overlap { conflict: c, .. } => assert!(c.starts_with(conflict), "{c}"),
            other => panic!("{subnet}: expected an overlap, got {other}"),
        }
        assert!(err.to_string().contains("choose another subnet"), "{err}");
        assert!(err.to_string().contains("real network"), "{err}");
        assert_lab_gone(&x, &name);
    }

    // Another lab's subnet is named as that lab's, with how to remove it.
    let (_first, _) = Lab::up(&x, &spec(&name, "10.88.0.0/24"));
    let second = testnet::unique_lab_name();
    let err = x
        .run(|| lab::up(&spec(&second, "10.88.0.0/25")))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("it is lab {name}'s subnet")), "{err}");
    assert!(
        err.contains(&format!("nettool lab down --name {name}")),
        "{err}"
    );
    assert!(!err.contains("real network"), "{err}");
    assert_lab_gone(&x, &second);
}

#[test]
fn down_stops_lab_services_and_nothing_else() {
    let x = TestNamespace::new("labsvc");
    let name = testnet::unique_lab_name();
    let (_lab, status) = Lab::up(&x, &spec(&name, "192.168.78.0/24"));

    // A stand-in for a future lab service: a process inside the lab
    // namespace, with its pid file in the run directory.
    let mut service = netns::exec(&status.namespace, "sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let dir = lab::run_dir(&name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sleep.pid"), format!("{}\n", service.id())).unwrap();
    // A pid file naming a process outside the lab (this test) must be ignored.
    std::fs::write(dir.join("stale.pid"), std::process::id().to_string()).unwrap();
    // Wait until `ip netns exec` has entered the namespace and exec'd sleep.
    let lab_ns = std::fs::metadata(netns::netns_path(&status.namespace)).unwrap();
    let in_lab = || {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/proc/{}/ns/net", service.id()))
            .is_ok_and(|m| m.ino() == lab_ns.ino())
    };
    for _ in 0..200 {
        if in_lab() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(in_lab(), "the service never entered the lab namespace");

    let report = x.run(|| lab::down(&name)).unwrap();
    assert_eq!(report.stopped, [service.id()]);
    let exit = service.wait().unwrap();
    assert!(!exit.success(), "sleep should have been killed: {exit:?}");
    assert!(
        report
            .removed
            .iter()
            .any(|r| r.starts_with("run directory"))
    );
    assert_lab_gone(&x, &name);
}

#[test]
fn namespace_guard_deletes_unless_kept() {
    testnet::require_root();
    let name = testnet::unique_name("guard", "x");
    {
        let ns = Namespace::create(&name).unwrap();
        assert!(netns::exists(ns.name()));
    }
    assert!(!netns::exists(&name), "dropped guard deletes");
    let kept = Namespace::create(&name).unwrap().keep();
    assert!(netns::exists(&kept), "kept namespace stays");
    assert!(netns::delete(&kept).unwrap());
    assert!(
        !netns::delete(&kept).unwrap(),
        "deleting twice is not an error"
    );
}

#[test]
fn two_hosts_talk_and_vanish_even_after_a_panic() {
    let net = TwoHosts::new("pair");
    let (a, b) = (net.a().to_string(), net.b().to_string());
    assert!(pings(&a, net.addr_b));
    let extra = Ipv4Addr::from(u32::from(net.subnet.network()) + 9);
    net.add_peer_address(extra);
    assert!(pings(&a, extra));
    let out = net
        .cmd_b("ip")
        .args(["-br", "addr", "show", "eth0"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{extra}/24")));
    assert_ne!(net.mac_a(), net.mac_b());
    for ns in [&a, &b] {
        let eth0 = netns::link(Some(ns), "eth0").unwrap().unwrap();
        assert!(!eth0.has_ipv6, "IPv6 left on in {ns}");
    }
    let peer_ns =
        net.run_in_b(|| std::fs::read_to_string("/proc/sys/net/ipv6/conf/eth0/disable_ipv6"));
    assert_eq!(peer_ns.unwrap().trim(), "1");

    let panicked = std::panic::catch_unwind(move || {
        let _net = net;
        panic!("a failing test");
    });
    assert!(panicked.is_err());
    assert!(
        !netns::exists(&a) && !netns::exists(&b),
        "namespaces outlived the panic"
    );
}

/// Where the sweep finds the lab name a test process `pid` claimed.
fn claim_file(pid: u32) -> std::path::PathBuf {
    std::path::Path::new(testnet::TEST_LAB_CLAIMS).join(pid.to_string())
}

/// A file removed when dropped (a failed assertion included), if still
/// there.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn stale_test_namespaces_are_swept() {
    testnet::require_root();
    // A pid that just exited: its namespaces belong to nobody.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = format!("ntt-sweep-{dead}-0-a");
    // A lab the dead process claimed, and one that only looks like a
    // test's (a user may call a lab anything): the sweep removes the first.
    let claimed = format!("tsw{dead}");
    let lookalike = format!("t{dead}-9");
    testnet::claim_lab_name(dead, &claimed).unwrap();
    let stale_lab = format!("nettool-{claimed}");
    let user_lab = format!("nettool-{lookalike}");
    let mine = testnet::unique_name("sweep", "a");
    // Held by guards, so a failed assertion below leaves none behind
    // (those the sweep removed are deleted again harmlessly).
    let _claim = RemoveOnDrop(claim_file(dead));
    let _namespaces: Vec<Namespace> = [&stale, &stale_lab, &user_lab, &mine]
        .into_iter()
        .map(|ns| Namespace::create(ns).unwrap())
        .collect();
    let removed = testnet::sweep_stale();
    assert!(
        removed.contains(&stale) && removed.contains(&stale_lab),
        "{removed:?}"
    );
    assert!(!netns::exists(&stale) && !netns::exists(&stale_lab));
    assert!(netns::exists(&mine), "a live process's namespace was swept");
    assert!(netns::exists(&user_lab), "a lab nobody claimed was swept");
    assert!(
        !claim_file(dead).exists(),
        "the dead process's claim file was kept"
    );

    // A claimed name whose lab was made long after the claim (the test
    // process died, then somebody chose the same name) is not the
    // test's. In the same test: two sweeps at once would race for the
    // same claim files.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let name = format!("tl{dead}");
    testnet::claim_lab_name(dead, &name).unwrap();
    let claim = RemoveOnDrop(claim_file(dead));
    let claim = &claim.0;
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(claim)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    let ns = Namespace::create(&format!("nettool-{name}")).unwrap();
    let removed = testnet::sweep_stale();
    let kept = netns::exists(ns.name());
    drop(ns);
    assert!(
        kept,
        "a lab made an hour after its claim was swept: {removed:?}"
    );
    assert!(!claim.exists(), "the stale claim was kept");
}

/// Drops CAP_NET_ADMIN from the calling thread's effective set only:
/// capabilities are per thread, so the rest of the test process keeps it.
fn drop_net_admin_on_this_thread() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    const CAP_NET_ADMIN: u32 = 12;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget/capset read and write one header and two data structs.
    unsafe {
        assert_eq!(
            libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()),
            0
        );
        data[0].effective &= !(1 << CAP_NET_ADMIN);
        assert_eq!(libc::syscall(libc::SYS_capset, &header, data.as_ptr()), 0);
    }
}

#[test]
fn without_cap_net_admin_the_error_says_run_as_root() {
    testnet::require_root();
    let name = testnet::unique_lab_name();
    let (up, down) = std::thread::scope(|s| {
        s.spawn(|| {
            drop_net_admin_on_this_thread();
            (lab::up(&spec(&name, "10.78.0.0/24")), lab::down(&name))
        })
        .join()
        .unwrap()
    });
    for err in [up.unwrap_err(), down.unwrap_err()] {
        assert!(
            matches!(err, LabError::Netns(netns::NetnsError::NotPermitted { .. })),
            "{err:?}"
        );
        assert!(err.to_string().contains("run as root"), "{err}");
    }
    assert!(!netns::exists(&lab::namespace_name(&name)));
}

#[test]
fn a_failure_half_way_undoes_what_was_built() {
    let x = TestNamespace::new("labundo");
    let name = testnet::unique_lab_name();
    let host_if = lab::host_interface_name(&name);
    // An alternative name is invisible to the existence check (which reads
    // interface names) but makes creating the veth fail with EEXIST, after
    // the lab namespace was already made: a genuine half-way failure.
    let ip = |args: &[&str]| {
        let ok = Command::new("ip")
            .args(["-n", x.name()])
            .args(args)
            .status()
            .unwrap();
        assert!(ok.success(), "ip {args:?}");
    };
    ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    ip(&["link", "property", "add", "dev", "v0", "altname", &host_if]);

    let err = x.run(|| lab::up(&spec(&name, "10.78.0.0/24"))).unwrap_err();
    assert!(err.to_string().contains("File exists"), "{err}");
    assert!(
        !netns::exists(&lab::namespace_name(&name)),
        "namespace not undone"
    );
    assert_host_untouched(&name);
}
