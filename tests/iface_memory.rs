//! What an idle connection costs the interface, measured: a counting
//! allocator tracks the live heap while thousands of connections are
//! opened against a listener and left idle (half-open, then established
//! and accepted).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicIsize, Ordering};

use nettool::machine::{Machine, RxChecksum};
use nettool::stack::iface::{Interface, InterfaceConfig, ListenerConfig};
use nettool::tcp::{self, IssSource, SeqNum};
use nettool::time::Instant;
use nettool::wire::MacAddr;
use nettool::wire::ipv4::{IpProtocol, Ipv4Repr};
use nettool::wire::tcp::{ChecksumMode, Flags, TcpRepr};

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

const SERVER_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const CLIENT_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const SERVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 7, 0, 1), 9000);
const N: u32 = 10_000;

fn client(i: u32) -> SocketAddrV4 {
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(172, 16, 0, 0)) + i / 50000);
    SocketAddrV4::new(ip, 1024 + (i % 50000) as u16)
}

fn frame(src: SocketAddrV4, seq: u32, ack: Option<SeqNum>) -> Vec<u8> {
    let seg = TcpRepr {
        src_port: src.port(),
        dst_port: SERVER.port(),
        seq: SeqNum(seq),
        ack,
        flags: if ack.is_some() {
            Flags::NONE
        } else {
            Flags::SYN
        },
        window: 64240,
        urgent: 0,
        options: vec![],
        payload: &[],
    };
    let ip = Ipv4Repr::new(*src.ip(), *SERVER.ip(), IpProtocol::Tcp, seg.buffer_len());
    seg.to_frame(CLIENT_MAC, SERVER_MAC, &ip)
}

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

#[test]
fn an_idle_accepted_connection_costs_about_a_kilobyte() {
    let mut s = Interface::new(InterfaceConfig {
        ip: *SERVER.ip(),
        mac: SERVER_MAC,
        ipv6: None,
        next_hop_mac: None,
        answer_arp: false,
        trace: false,
    });
    s.listen(
        SERVER,
        ListenerConfig {
            tcp: tcp::Config::default(),
            iss: IssSource::Fixed(SeqNum(1)),
            backlog: N as usize,
        },
    );
    let now = Instant::from_millis(1);
    // Each SYN-ACK as (client, its SEG.SEQ, its SEG.ACK), room made first.
    let mut synacks: Vec<(SocketAddrV4, SeqNum, SeqNum)> = Vec::with_capacity(N as usize);
    let before = live();
    for i in 0..N {
        s.handle_frame(now, &frame(client(i), i, None), RxChecksum::Unknown);
        while let Some(f) = s.poll_transmit(now) {
            let (_, ip, t) = TcpRepr::from_frame(&f, ChecksumMode::Verify).unwrap();
            synacks.push((SocketAddrV4::new(ip.dst, t.dst_port), t.seq, t.ack.unwrap()));
        }
    }
    while s.poll_event().is_some() {}
    assert_eq!(s.half_open(SERVER), N as usize);
    let half_open = (live() - before) as f64 / f64::from(N);
    // Every client's ACK completes its handshake.
    for &(to, seq, ack) in &synacks {
        s.handle_frame(
            now,
            &frame(to, ack.0, Some(seq + 1u32)),
            RxChecksum::Unknown,
        );
        while s.poll_transmit(now).is_some() {}
    }
    let mut accepted = 0;
    while s.accept(SERVER).is_some() {
        accepted += 1;
    }
    while s.poll_event().is_some() {}
    assert_eq!(accepted, N);
    let established = (live() - before) as f64 / f64::from(N);
    drop(synacks);
    println!(
        "half-open: {half_open:.0} bytes per connection; established and idle: \
         {established:.0} bytes per connection (heap, the table included)"
    );
    assert!(
        half_open < 4096.0,
        "{half_open} bytes per half-open connection"
    );
    // 920 bytes measured: the engine's state (its buffers given back
    // when drained, its configuration shared, its congestion curves
    // boxed only once data is acknowledged), the table's entry, and the
    // listener's queues.
    assert!(
        established < 960.0,
        "{established} bytes per idle connection"
    );
}
