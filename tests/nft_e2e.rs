//! The RST guard's nftables messages against the kernel: accepted, the
//! same rule nft makes of the old script, owned by the socket that sent
//! them (gone when it closes, untouchable by anyone else). Each test in a
//! namespace of its own. Needs root and `nft`.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use common::{nft_load, sh};
use nettool::guard::{self, Flow};
use nettool::lab::testnet::TestNamespace;
use nettool::netlink;
use nettool::nft::{self, NftSocket};
use rstest::rstest;

const LOCAL: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000));
const REMOTE: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80));
const LOCAL6: SocketAddr = SocketAddr::V6(SocketAddrV6::new(
    Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 1),
    40000,
    0,
    0,
));
const REMOTE6: SocketAddr = SocketAddr::V6(SocketAddrV6::new(
    Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 2),
    80,
    0,
    0,
));

fn list(ns: &TestNamespace, args: &[&str]) -> String {
    let mut nft = ns.cmd("nft");
    nft.arg("list").args(args);
    sh(nft)
}

/// The rule lines of a listed guard table: what it matches, not its name,
/// its comment or its owner.
fn rules(listing: &str) -> Vec<String> {
    listing
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with("ip saddr") || l.starts_with("ip6 saddr") || l.starts_with("type filter")
        })
        .map(str::to_owned)
        .collect()
}

/// Sends the guard's batch for `flow` as table `name` over a socket
/// opened in `ns`, which is returned: the table lives as long as it.
fn install(ns: &TestNamespace, seq: u32, name: &str, flow: Flow) -> NftSocket {
    let socket = ns.run(NftSocket::open).expect("opening a netfilter socket");
    socket
        .commit(guard::batch(seq, name, flow, 4242))
        .unwrap_or_else(|e| panic!("the kernel refused the guard: {e}"));
    socket
}

/// The bytes of `guard::batch`'s fixture (sequence 1, this name, this
/// connection) are accepted, and for every kind of flow the kernel holds
/// the very rule that nft makes of the script nettool loaded before.
#[rstest]
#[case::connection(Flow::Connection { local: LOCAL, remote: REMOTE })]
#[case::listener(Flow::Listener { local: LOCAL })]
#[case::probes(Flow::Probes {
    local: LOCAL.ip(),
    remote: REMOTE.ip(),
    sports: (40000, 65535),
    dports: (1, 1024),
})]
#[case::ipv6_connection(Flow::Connection { local: LOCAL6, remote: REMOTE6 })]
#[case::ipv6_listener(Flow::Listener { local: LOCAL6 })]
#[case::ipv6_probes(Flow::Probes {
    local: LOCAL6.ip(),
    remote: REMOTE6.ip(),
    sports: (40000, 65535),
    dports: (1, 1024),
})]
fn the_kernel_holds_the_rule_nft_made_of_the_old_script(#[case] flow: Flow) {
    let ns = TestNamespace::new("nft-same");
    if flow
        == (Flow::Connection {
            local: LOCAL,
            remote: REMOTE,
        })
    {
        // What the kernel accepts below is the unit tests' fixture.
        let bytes = guard::batch(1, "nettool-guard-1-0", flow, 4242)
            .finish()
            .bytes;
        let fixture = include_str!("fixtures/nft-guard-batch.hex");
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex.join(" "),
            fixture.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
    let _socket = install(&ns, 1, "nettool-guard-1-0", flow);
    nft_load(ns.cmd("nft"), &guard::ruleset("old", flow, 4242));
    let ours = list(&ns, &["table", "inet", "nettool-guard-1-0"]);
    let old = list(&ns, &["table", "inet", "old"]);
    assert!(ours.contains("flags owner"), "{ours}");
    assert_eq!(rules(&ours), rules(&old), "ours:\n{ours}\nnft's:\n{old}");
    assert_eq!(rules(&ours).len(), 2, "{ours}");
}

/// Closing the socket deletes the table at once; while it is open, no
/// other process can delete it, and its counter can be read through it.
#[test]
fn an_owned_table_lives_exactly_as_long_as_its_socket() {
    let ns = TestNamespace::new("nft-owned");
    let flow = Flow::Listener { local: LOCAL };
    let socket = install(&ns, netlink::next_seqs(8), "nettool-guard-2-0", flow);
    let mut delete = ns.cmd("nft");
    delete.args(["delete", "table", "inet", "nettool-guard-2-0"]);
    let out = delete.output().unwrap();
    assert!(!out.status.success(), "another process deleted the guard");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seq = netlink::next_seq();
    let mut packets = None;
    socket
        .dump(
            &nft::list_rules(seq, "nettool-guard-2-0", "out"),
            seq,
            "rules",
            |p| packets = nft::rule_packets(p),
        )
        .unwrap();
    assert_eq!(packets, Some(0));
    drop(socket);
    let tables = list(&ns, &["tables"]);
    assert!(
        !tables.contains("nettool-guard-2-0"),
        "left behind: {tables}"
    );
}

/// The sweep removes tables left by nettool before its tables were owned
/// (made by nft, so never deleted by the kernel) whose process is gone,
/// and nothing else.
#[test]
fn the_sweep_removes_old_tables_of_dead_processes_only() {
    let ns = TestNamespace::new("nft-sweep");
    // Above the kernel's largest pid_max: no such process, ever.
    let dead = "nettool-guard-4194400-0";
    let alive = format!("nettool-guard-{}-7", std::process::id());
    for name in [dead, alive.as_str(), "someone-else"] {
        nft_load(ns.cmd("nft"), &format!("table inet {name} {{}}\n"));
    }
    let flow = Flow::Listener { local: LOCAL };
    let _owned = install(&ns, netlink::next_seqs(8), "nettool-guard-4194401-0", flow);
    let removed = ns.run(guard::sweep_stale).expect("sweeping");
    assert_eq!(removed, vec![dead.to_owned()]);
    let tables = list(&ns, &["tables"]);
    assert!(!tables.contains(dead), "{tables}");
    for kept in [alive.as_str(), "someone-else", "nettool-guard-4194401-0"] {
        assert!(tables.contains(kept), "{kept} swept: {tables}");
    }
}

/// The lab's filtered port, made over netlink too: the kernel holds the
/// rule nft makes of the lab's script, with its comment, and counts.
#[test]
fn the_labs_firewall_is_the_rule_of_its_script() {
    use nettool::lab::services::firewall;
    let ns = TestNamespace::new("nft-lab");
    firewall::install(ns.name()).expect("installing the lab's firewall");
    nft_load(
        ns.cmd("nft"),
        &firewall::ruleset().replace(firewall::TABLE, "old"),
    );
    let ours = list(&ns, &["table", "inet", firewall::TABLE]);
    let old = list(&ns, &["table", "inet", "old"]);
    let rules = |listing: &str| -> Vec<String> {
        listing
            .lines()
            .map(str::trim)
            .filter(|l| {
                l.starts_with("tcp dport")
                    || l.starts_with("udp dport")
                    || l.starts_with("type filter")
            })
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(rules(&ours), rules(&old), "ours:\n{ours}\nnft's:\n{old}");
    assert_eq!(rules(&ours).len(), 3, "{ours}");
    assert!(
        ours.contains("comment \"nettool lab: filtered port\""),
        "{ours}"
    );
    assert_eq!(firewall::dropped(ns.name()), Some(0));
}

/// The guard counts the RSTs it drops from its log group, which needs no
/// privilege to read (the rule's counter does: nf_tables checks every
/// message), and the two agree: here the kernel answers SYNs to a port
/// nobody listens on with RSTs, which the guard drops.
#[test]
fn the_log_group_counts_what_the_rule_counter_counts() {
    let ns = TestNamespace::new("nft-log");
    let port = 47_123;
    let local = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    let dropped = ns.run(|| {
        let guard = guard::RstGuard::install(Flow::Listener {
            local: local.into(),
        })
        .expect("the guard");
        for _ in 0..3 {
            // The kernel's RST never arrives: the connection times out
            // (before its SYN is sent again: one RST each).
            let r = std::net::TcpStream::connect_timeout(
                &local.into(),
                std::time::Duration::from_millis(50),
            );
            assert!(r.is_err(), "connected to a port nobody listens on");
        }
        // Read at once: each RST is sent to the group as it is dropped,
        // not batched behind a flush timer.
        (guard.dropped().unwrap(), guard.counter().unwrap())
    });
    assert_eq!(dropped.0, 3, "{dropped:?}");
    assert_eq!(dropped.0, dropped.1, "log group vs rule counter");
}

/// Far more RSTs than the log group's socket could hold (about forty
/// thousand; ten thousand before the guard counted as they came): a
/// flood of SYNs to a port nobody listens on, each answered by the
/// kernel with a RST the guard drops. The guard's thread counts them as
/// they are logged, and the count is exact: the rule's own counter's.
#[test]
fn the_log_group_counts_every_rst_of_a_flood() {
    use nettool::wire::SeqNum;
    use nettool::wire::tcp::{Flags, TcpRepr};
    const SYNS: u32 = 60_000;
    let ns = TestNamespace::new("nft-flood");
    let port = 47_124;
    let local = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    let (counted, counter) = ns.run(|| {
        let guard = guard::RstGuard::install(Flow::Listener {
            local: local.into(),
        })
        .expect("the guard");
        guard.count_in_background().expect("the counting thread");
        // SAFETY: plain socket call.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_TCP) };
        assert!(raw >= 0, "{}", std::io::Error::last_os_error());
        let to = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(Ipv4Addr::LOCALHOST).to_be(),
            },
            sin_zero: [0; 8],
        };
        for i in 0..SYNS {
            let syn = TcpRepr {
                src_port: 10_000 + (i % 50_000) as u16,
                dst_port: port,
                seq: SeqNum(i),
                ack: None,
                flags: Flags::SYN,
                window: 1024,
                urgent: 0,
                options: vec![],
                payload: &[],
            };
            let mut buf = vec![0u8; syn.buffer_len()];
            syn.emit(&mut buf, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
            // SAFETY: `buf` and `to` are live for the lengths given.
            let n = unsafe {
                libc::sendto(
                    raw,
                    buf.as_ptr().cast(),
                    buf.len(),
                    0,
                    (&to as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            };
            assert_eq!(n, buf.len() as isize, "{}", std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is ours.
        unsafe { libc::close(raw) };
        // Until the kernel has answered them all.
        let mut counter = guard.counter().unwrap();
        for _ in 0..100 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let now = guard.counter().unwrap();
            if now == counter && now >= u64::from(SYNS) {
                break;
            }
            counter = now;
        }
        (guard.dropped(), counter)
    });
    assert!(counter >= 50_000, "only {counter} RSTs dropped");
    assert_eq!(counted.unwrap(), counter, "log group vs rule counter");
}

/// One guard for many targets' flows (a scan of a /24 from one address):
/// more rules than one transaction carries, all in the one owned table,
/// and a RST of the last flow's is dropped and counted like the first's.
#[test]
fn one_guard_holds_a_rule_for_each_of_many_flows() {
    let ns = TestNamespace::new("nft-many");
    let port = 47_125;
    let many = 3 * guard::RULES_PER_BATCH + 5;
    let elsewhere = |i: usize| Flow::Probes {
        local: Ipv4Addr::new(10, 0, 0, 1).into(),
        remote: Ipv4Addr::new(10, 9, (i / 250) as u8, (i % 250) as u8 + 1).into(),
        sports: (40000, 40000),
        dports: (1, 1024),
    };
    let mut flows: Vec<Flow> = (0..many - 1).map(elsewhere).collect();
    // The kernel's RSTs from a port nobody listens on to the connecting
    // socket: the last flow's.
    flows.push(Flow::Probes {
        local: Ipv4Addr::LOCALHOST.into(),
        remote: Ipv4Addr::LOCALHOST.into(),
        sports: (port, port),
        dports: (1, 65535),
    });
    let (table, dropped, listing) = ns.run(|| {
        let guard = guard::RstGuard::install_all(&flows).expect("the guard");
        for _ in 0..2 {
            let to = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
            let r = std::net::TcpStream::connect_timeout(
                &to.into(),
                std::time::Duration::from_millis(50),
            );
            assert!(r.is_err(), "connected to a port nobody listens on");
        }
        let dropped = (guard.dropped().unwrap(), guard.counter().unwrap());
        let table = guard.table().to_owned();
        let listing = list(&ns, &["table", "inet", &table]);
        (table, dropped, listing)
    });
    assert_eq!(dropped, (2, 2), "log group and rule counter");
    assert!(listing.contains("flags owner"), "{listing}");
    assert_eq!(
        listing.matches("tcp flags & rst == rst").count(),
        many,
        "{listing}"
    );
    assert!(listing.contains("ip daddr 10.9.0.2 "), "{listing}");
    // Each rule but the first names its flow.
    assert!(
        listing.contains("comment \"127.0.0.1 ports 47125-47125 > 127.0.0.1 ports 1-65535\""),
        "{listing}"
    );
    // The table goes with the guard's socket.
    let tables = list(&ns, &["tables"]);
    assert!(!tables.contains(&table), "{tables}");
}
