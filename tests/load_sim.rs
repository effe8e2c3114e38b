//! A load test's client side at scale, on the virtual clock: one
//! interface opens 100,000 connections to a listening interface, holds
//! them with keepalives for ten (virtual) seconds, and a counting
//! allocator says what each idle established connection costs the
//! client (the engine's state, the flow table's entry, its timer entry).
//! Nothing here walks the flow table: the run must finish in bounded
//! wall time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use nettool::machine::{Machine, RxChecksum};
use nettool::stack::iface::{Interface, InterfaceConfig, ListenerConfig};
use nettool::tcp::{self, Connection, IssSource, Keepalive, SeqNum, State};
use nettool::time::Instant;
use nettool::wire::MacAddr;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, only counting bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const SERVER_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const CLIENT_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 1);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 2);
/// Client ports per server port: 50,000 from 10,000 up.
const PORTS: u32 = 50_000;
/// Connections opened; `NETTOOL_LOAD_SIM_N` overrides it (at most
/// 1,000,000: twenty server ports), for a run by hand in release mode.
fn connections() -> u32 {
    std::env::var("NETTOOL_LOAD_SIM_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000)
        .clamp(10_000, 1_000_000)
        / 10_000
        * 10_000
}

/// Resident memory of this process, from /proc.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Connection `i`: its client port and the server port it goes to.
fn endpoints(i: u32) -> (SocketAddrV4, SocketAddrV4) {
    let local = SocketAddrV4::new(CLIENT_IP, 10_000 + (i % PORTS) as u16);
    let remote = SocketAddrV4::new(SERVER_IP, 9000 + (i / PORTS) as u16);
    (local, remote)
}

fn interface(ip: Ipv4Addr, mac: MacAddr, peer: MacAddr) -> Interface {
    Interface::new(InterfaceConfig {
        ip,
        mac,
        next_hop_mac: Some(peer),
        ipv6: None,
        answer_arp: false,
        trace: false,
    })
}

/// Moves every frame each way, and events out of both, until both are
/// quiet at `now`.
fn exchange(now: Instant, client: &mut Interface, server: &mut Interface) {
    loop {
        let mut moved = false;
        while let Some(f) = client.poll_transmit(now) {
            server.handle_frame(now, &f, RxChecksum::Unknown);
            moved = true;
        }
        while let Some(f) = server.poll_transmit(now) {
            client.handle_frame(now, &f, RxChecksum::Unknown);
            moved = true;
        }
        while client.poll_event().is_some() {}
        while server.poll_event().is_some() {}
        if !moved {
            return;
        }
    }
}

#[test]
fn a_hundred_thousand_idle_connections_cost_the_client_at_most_a_kilobyte_each() {
    let n = connections();
    let started = std::time::Instant::now();
    let keepalive = Keepalive {
        idle: Duration::from_secs(4),
        interval: Duration::from_secs(1),
        probes: 3,
    };
    // One configuration shared by every connection, as `nettool load`
    // shares it.
    let config = Arc::new(tcp::Config {
        keepalive: Some(keepalive),
        ..tcp::Config::default()
    });
    let mut server = interface(SERVER_IP, SERVER_MAC, CLIENT_MAC);
    for port in 0..n.div_ceil(PORTS) {
        server.listen(
            SocketAddrV4::new(SERVER_IP, 9000 + port as u16),
            ListenerConfig {
                tcp: tcp::Config::default(),
                iss: IssSource::Fixed(SeqNum(7)),
                backlog: n as usize,
            },
        );
    }
    let mut keys = Vec::with_capacity(n as usize);
    let before = live();
    let rss_before = rss_bytes();
    let mut client = interface(CLIENT_IP, CLIENT_MAC, SERVER_MAC);
    let mut now = Instant::from_millis(1);
    // Opened in batches of 10,000 per virtual millisecond, as a rate
    // limit would; the server accepts as they come.
    for batch in 0..n / 10_000 {
        for i in batch * 10_000..(batch + 1) * 10_000 {
            let (local, remote) = endpoints(i);
            let conn = Connection::connect(now, config.clone(), local, remote, SeqNum(i));
            keys.push(client.open(conn));
        }
        exchange(now, &mut client, &mut server);
        for port in 0..n.div_ceil(PORTS) {
            while server
                .accept(SocketAddrV4::new(SERVER_IP, 9000 + port as u16))
                .is_some()
            {}
        }
        now += Duration::from_millis(1);
    }
    let established = keys
        .iter()
        .filter(|k| client.conn(**k).map(|c| c.state()) == Some(State::Established))
        .count();
    assert_eq!(established, n as usize);
    // Hold for ten virtual seconds: every connection's keepalive fires
    // after 4 s of silence, twice, and the server answers each probe.
    let end = now + Duration::from_secs(10);
    let mut wakeups = 0;
    while let Some(t) = earliest(client.poll_timeout(), server.poll_timeout()) {
        if t > end {
            break;
        }
        now = now.max(t);
        client.handle_timeout(now);
        server.handle_timeout(now);
        exchange(now, &mut client, &mut server);
        wakeups += 1;
    }
    let alive = keys
        .iter()
        .filter(|k| client.conn(**k).map(|c| c.state()) == Some(State::Established))
        .count();
    assert_eq!(alive, n as usize, "keepalives answered: none timed out");
    let sent = keys
        .iter()
        .map(|k| client.stats(*k).expect("open").segments_sent)
        .sum::<u64>();
    // SYN, the handshake's ACK, and a probe after each 4 s of silence
    // (an answer restarts the idle time): two in ten seconds.
    assert!(
        sent >= u64::from(n) * 4,
        "{sent} segments: keepalives went out"
    );
    drop(server);
    let per_conn = (live() - before) as f64 / f64::from(n);
    let wall = started.elapsed();
    // RSS grows with the server's memory too, and the allocator keeps
    // what it freed: a rough upper bound, printed, not asserted.
    let rss = rss_bytes()
        .zip(rss_before)
        .map_or(0.0, |(a, b)| a.saturating_sub(b) as f64 / f64::from(n));
    println!(
        "{n} connections established and held 10 s with keepalives: \
         {per_conn:.0} bytes each on the client (heap, table and timers \
         included; RSS grew {rss:.0} bytes per connection, both sides); \
         {wakeups} timer wake-ups; {wall:?} wall"
    );
    // 876 bytes measured (issue 16 asks for at most 1024 from RSS, which
    // adds the allocator's headers and the table's room at a million):
    // the flow (the engine's state and the interface's, one allocation;
    // CUBIC's and HyStart++'s state boxed only once data is acknowledged,
    // which it never is here), the table's entry and its spare room, the
    // timer set's entry.
    assert!(per_conn <= 900.0, "{per_conn} bytes per idle connection");
    // Debug build on a shared 2-core machine; a scan of the table per
    // wake-up would take hours, not seconds.
    assert!(
        wall < Duration::from_secs(300),
        "{wall:?}: something walks the flow table"
    );
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    nettool::time::earliest(a, b)
}
