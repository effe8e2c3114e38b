//! The fuzz targets' bodies: each takes arbitrary bytes and panics only
//! when nettool breaks a property (a panic of its own, or a check here).
//!
//! The libFuzzer binaries in `fuzz_targets/` call these; the main crate's
//! `tests/fuzz_corpus.rs` includes this very file and runs every body over
//! every file of `fuzz/seeds/`, so the corpus is replayed by a plain
//! `cargo test`, without libFuzzer.

use std::cell::Cell;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Duration;

use nettool::cachefile::Caches;
use nettool::sim::{self, Dir, Sim};
use nettool::tcp::{Config, Connection, DropReason, Event, State};
use nettool::time::Instant;
use nettool::wire::arp::ArpRepr;
use nettool::wire::demux::{self, Identity, Inbound};
use nettool::wire::ethernet::EthernetRepr;
use nettool::wire::icmp::{IcmpError, IcmpQuery};
use nettool::wire::ipv4::{self, IpProtocol, Ipv4Repr};
use nettool::wire::tcp::{ChecksumMode, Flags, TcpOption, TcpRepr};
use nettool::wire::udp::UdpRepr;
use nettool::wire::{MacAddr, SeqNum};

/// The addresses the wire target reads TCP and demuxes under: the
/// simulator's server, so the seeds built from its segments reach it.
const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const US: Identity = Identity {
    ip: DST,
    mac: MacAddr(2, 0, 0, 0, 0, 2),
    ipv6: Some(std::net::Ipv6Addr::new(0xfd00, 0x6e74, 0, 0, 0, 0, 0, 2)),
};
pub const PEER_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);

// ----- wire -----

/// Every wire parser over the same bytes, read as a frame, an IPv4
/// datagram, a TCP segment, a UDP datagram, an ARP packet and an ICMP
/// message (an error or a query). Where a
/// parse succeeds, emitting the representation and parsing the bytes
/// again must give the same representation.
pub fn wire(data: &[u8]) {
    if let Ok((eth, _)) = EthernetRepr::parse(data) {
        let mut buf = [0u8; 14];
        eth.emit(&mut buf);
        let (again, rest) = EthernetRepr::parse(&buf).expect("emitted Ethernet header");
        assert_eq!(again, eth);
        assert!(rest.is_empty());
    }
    if let Ok(arp) = ArpRepr::parse(data) {
        arp_round_trip(&arp);
    }
    if let Ok((eth, arp)) = ArpRepr::from_frame(data) {
        arp_round_trip(&arp);
        let frame = arp.to_frame(eth.src, eth.dst);
        assert_eq!(ArpRepr::from_frame(&frame), Ok((eth, arp)));
    }
    if let Ok((ip, payload)) = Ipv4Repr::parse(data) {
        ipv4_round_trip(&ip, payload);
    }
    let _ = Ipv4Repr::parse_quoted(data);
    if let Ok(err) = IcmpError::parse(data) {
        // The quoted ports and sequence number are read from where RFC 792
        // puts them: 8 bytes of ICMP header, then the quoted IPv4 header
        // (for a quoted ICMP query, its identifier stands for our port).
        let ihl = usize::from(data[8] & 0x0f) * 4;
        let ports = &data[8 + ihl..];
        if err.protocol == IpProtocol::Icmp {
            assert_eq!(err.quoted_src.1, u16::from_be_bytes([ports[4], ports[5]]));
            assert_eq!(err.quoted_dst.1, 0);
        } else {
            assert_eq!(err.quoted_src.1, u16::from_be_bytes([ports[0], ports[1]]));
            assert_eq!(err.quoted_dst.1, u16::from_be_bytes([ports[2], ports[3]]));
        }
    }
    if let Ok(query) = IcmpQuery::parse(data) {
        let mut buf = vec![0u8; query.buffer_len()];
        query.emit(&mut buf, false);
        assert_eq!(IcmpQuery::parse(&buf), Ok(query));
    }
    for mode in [ChecksumMode::Verify, ChecksumMode::Skip] {
        if let Ok(tcp) = TcpRepr::parse(data, SRC, DST, mode) {
            tcp_round_trip(&tcp);
        }
        if let Ok(udp) = UdpRepr::parse(data, SRC, DST, mode) {
            let mut buf = vec![0u8; udp.buffer_len()];
            udp.emit(&mut buf, SRC, DST);
            let again = UdpRepr::parse(&buf, SRC, DST, ChecksumMode::Verify);
            assert_eq!(again, Ok(udp));
        }
        if let Ok((ip, tcp)) = TcpRepr::from_ipv4_packet(data, mode) {
            assert_eq!(ip.payload_len, data_len_after_ip(data));
            let _ = tcp.segment_len();
        }
        if let Ok((eth, ip, tcp)) = TcpRepr::from_frame(data, mode) {
            tcp_frame_round_trip(eth.src, eth.dst, &ip, &tcp);
        }
        demux_checked(data, mode);
    }
}

/// IPv4 payload length a datagram's header declares.
fn data_len_after_ip(data: &[u8]) -> usize {
    let total = usize::from(u16::from_be_bytes([data[2], data[3]]));
    total - usize::from(data[0] & 0x0f) * 4
}

fn arp_round_trip(arp: &ArpRepr) {
    let mut buf = [0u8; 28];
    arp.emit(&mut buf);
    assert_eq!(ArpRepr::parse(&buf).as_ref(), Ok(arp));
}

fn ipv4_round_trip(ip: &Ipv4Repr, payload: &[u8]) {
    assert_eq!(ip.payload_len, payload.len());
    let mut buf = vec![0u8; ip.total_len()];
    ip.emit(&mut buf);
    buf[ipv4::HEADER_LEN..].copy_from_slice(payload);
    let (again, rest) = Ipv4Repr::parse(&buf).expect("emitted IPv4 datagram");
    assert_eq!(&again, ip);
    assert_eq!(rest, payload);
}

/// Options as a re-parse sees them: emitting pads the list with zeros,
/// which read back as one `Eol`.
fn options_normalised(options: &[TcpOption]) -> &[TcpOption] {
    options.strip_suffix(&[TcpOption::Eol]).unwrap_or(options)
}

fn assert_same_segment(again: &TcpRepr<'_>, tcp: &TcpRepr<'_>) {
    assert_eq!(
        options_normalised(&again.options),
        options_normalised(&tcp.options)
    );
    fn strip<'a>(t: &TcpRepr<'a>) -> TcpRepr<'a> {
        TcpRepr {
            options: Vec::new(),
            ..t.clone()
        }
    }
    assert_eq!(strip(again), strip(tcp));
}

fn tcp_round_trip(tcp: &TcpRepr<'_>) {
    let mut buf = vec![0u8; tcp.buffer_len()];
    tcp.emit(&mut buf, SRC, DST);
    let again = TcpRepr::parse(&buf, SRC, DST, ChecksumMode::Verify).expect("emitted segment");
    assert_same_segment(&again, tcp);
}

fn tcp_frame_round_trip(src: MacAddr, dst: MacAddr, ip: &Ipv4Repr, tcp: &TcpRepr<'_>) {
    let frame = tcp.to_frame(src, dst, ip);
    let (eth, ip2, again) =
        TcpRepr::from_frame(&frame, ChecksumMode::Verify).expect("emitted frame");
    assert_eq!((eth.src, eth.dst), (src, dst));
    assert_eq!(
        Ipv4Repr {
            payload_len: 0,
            ..ip2
        },
        Ipv4Repr {
            payload_len: 0,
            ..*ip
        }
    );
    assert_same_segment(&again, tcp);
}

/// `demux` sorts the frame without panicking, and what it says agrees
/// with the frame: TCP and ICMP only to our address, the flow's ports the
/// segment's.
fn demux_checked(frame: &[u8], mode: ChecksumMode) {
    match demux::demux(&US, frame, mode) {
        Some(Inbound::Tcp { ip, flow, tcp, .. }) => {
            assert_eq!(ip.dst, US.ip);
            assert_eq!(flow.local.ip(), US.ip);
            assert_eq!(flow.remote.ip(), ip.src);
            if let Ok(tcp) = tcp {
                assert_eq!(flow.local.port(), tcp.dst_port);
                assert_eq!(flow.remote.port(), tcp.src_port);
            }
        }
        Some(Inbound::Arp(arp)) => {
            assert_eq!(ArpRepr::from_frame(frame).map(|(_, a)| a), Ok(arp));
            if let Some(reply) = demux::arp_reply(&US, &arp) {
                assert!(ArpRepr::from_frame(&reply).is_ok());
            }
        }
        Some(Inbound::Icmp { error, quoted, .. }) => {
            assert_eq!(quoted.local.port(), error.quoted_src.1);
        }
        Some(Inbound::Udp { ip, flow, udp, .. }) => {
            assert_eq!(ip.dst, US.ip);
            if let Ok(udp) = udp {
                assert_eq!(flow.local.port(), udp.dst_port);
                assert_eq!(flow.remote.port(), udp.src_port);
            }
        }
        Some(Inbound::Query {
            ip, flow, query, ..
        }) => {
            assert_eq!(ip.dst, US.ip);
            assert_eq!(flow.local.port(), query.ident);
        }
        Some(Inbound::Tcp6 { ip, flow, tcp, .. }) => {
            assert_eq!(Some(ip.dst), US.ipv6);
            assert_eq!(flow.local.ip(), ip.dst);
            assert_eq!(flow.remote.ip(), ip.src);
            if let Ok(tcp) = tcp {
                assert_eq!(flow.local.port(), tcp.dst_port);
                assert_eq!(flow.remote.port(), tcp.src_port);
            }
        }
        Some(Inbound::Icmp6 { error, quoted, .. }) => {
            assert_eq!(quoted.local.port(), error.quoted_src.1);
            assert_eq!(quoted.remote.ip(), error.quoted_dst.0);
        }
        Some(Inbound::Malformed(_)) | None => {}
    }
}

// ----- The neighbour cache file -----

/// The cache file's parser (`Caches::from_bytes`, both families):
/// never panics, and caches it accepts are written and read back to the
/// same entries.
pub fn cachefile(data: &[u8]) {
    let Ok(caches) = Caches::from_bytes(data, 0) else {
        return;
    };
    let again = Caches::from_bytes(&caches.to_bytes(), 0).expect("saved caches read back");
    let arp = |c: &Caches| {
        let mut v: Vec<_> = c.arp.entries().cloned().collect();
        v.sort_by(|a, b| (&a.iface, a.ip).cmp(&(&b.iface, b.ip)));
        v
    };
    assert_eq!(arp(&again), arp(&caches));
    let ndp = |c: &Caches| {
        let mut v = c.ndp.stored_entries();
        v.sort_by(|a, b| (&a.iface, a.ip).cmp(&(&b.iface, b.ip)));
        v
    };
    assert_eq!(ndp(&again), ndp(&caches));
}

// ----- TCP engine -----

/// Reads the fuzz input a byte (or a few) at a time; zeros once spent.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The states a victim is driven to before the hostile segments start.
pub const TARGETS: [State; 11] = [
    State::Listen,
    State::SynSent,
    State::SynReceived,
    State::Established,
    State::FinWait1,
    State::FinWait2,
    State::CloseWait,
    State::Closing,
    State::LastAck,
    State::TimeWait,
    State::Closed,
];

/// Upper bound of simulator steps spent reaching the chosen state.
const SETUP_STEPS: usize = 400;
/// Upper bound of operations per input, so an execution stays short.
const MAX_OPS: usize = 256;

/// A simulation with its victim in (or as near as it got to) the state
/// the input chose.
struct Setup {
    sim: Sim,
    victim_is_a: bool,
    config: Config,
    /// The peer's last TSval, for timestamps that pass PAWS.
    peer_ts: u32,
}

/// The state the TCP engine target's input drives its victim to.
pub fn reached_state(data: &[u8]) -> State {
    let s = setup(&mut Input(data));
    if s.victim_is_a { s.sim.a() } else { s.sim.b() }.state()
}

fn setup(input: &mut Input<'_>) -> Setup {
    let target = TARGETS[usize::from(input.u8()) % TARGETS.len()];
    let knobs = input.u8();
    let victim_is_a = match target {
        State::Listen | State::SynReceived => false,
        State::SynSent => true,
        _ => knobs & 1 == 0,
    };
    let config = Config {
        window_scale: (knobs & 2 == 0).then_some(7),
        sack_permitted: knobs & 4 == 0,
        timestamps: knobs & 8 == 0,
        delayed_ack: (knobs & 16 == 0).then_some(Duration::from_millis(40)),
        recv_buffer: if knobs & 32 == 0 { 64 * 1024 } else { 4096 },
        send_buffer: 64 * 1024,
        ..Config::default()
    };
    let seed = u64::from(input.u32());
    let a_sends = usize::from(input.u16() % 8192);
    let b_sends = usize::from(input.u16() % 8192);
    let mut sim = Sim::client_server(seed, config);
    // The peer's last TSval, for timestamps that pass PAWS.
    let peer_ts = Rc::new(Cell::new(0u32));
    let seen = Rc::clone(&peer_ts);
    let peer_dir = if victim_is_a { Dir::BtoA } else { Dir::AtoB };
    sim.drop_if(peer_dir, move |seg| {
        if let Some((val, _)) = seg.timestamps() {
            seen.set(val);
        }
        false
    });
    // Who closes when, to reach the target state.
    if target == State::SynReceived {
        sim.drop_next(Dir::BtoA, 1);
    }
    sim.a_mut().app.to_send = vec![0xa5; a_sends];
    sim.b_mut().app.to_send = vec![0x5a; b_sends];
    let (victim_app, peer_app) = match target {
        State::FinWait1 | State::FinWait2 => ((true, false), (false, false)),
        State::TimeWait | State::Closed => ((true, false), (false, true)),
        State::CloseWait => ((false, false), (true, false)),
        State::LastAck => ((false, true), (true, false)),
        _ => ((false, false), (false, false)),
    };
    for (is_a, (close_after_send, close_on_eof)) in
        [(victim_is_a, victim_app), (!victim_is_a, peer_app)]
    {
        let app = if is_a {
            &mut sim.a_mut().app
        } else {
            &mut sim.b_mut().app
        };
        app.close_after_send = close_after_send;
        app.close_on_eof = close_on_eof;
    }
    let reached = |sim: &Sim| {
        let v = if victim_is_a { sim.a() } else { sim.b() };
        v.state() == target
    };
    if target == State::Closing {
        // Simultaneous close: both FINs cross on the wire.
        let _ = sim.run_until(
            |s| s.a().state() == State::Established && s.b().state() == State::Established,
            SETUP_STEPS,
        );
        let now = sim.now();
        sim.a_mut().conn.close(now);
        sim.b_mut().conn.close(now);
    }
    let _ = sim.run_until(reached, SETUP_STEPS);
    Setup {
        sim,
        victim_is_a,
        config,
        peer_ts: peer_ts.get(),
    }
}

/// The TCP engine fed arbitrary segments and time steps in a state the
/// input chooses, on the virtual clock. A client and a server connect on
/// the simulator (ISSs, data in each direction and who closes when also
/// chosen by the input) until the victim reaches the state; then the
/// victim alone receives segments built from the input (sequence and
/// acknowledgment numbers near its own, or anywhere), time steps, reads,
/// sends and closes. Properties after every operation: no panic,
/// SND.UNA =< SND.NXT, SND.UNA and RCV.NXT never going back, the receive
/// buffer within its bound, every segment it sends parses back; and after
/// every segment the engine discards (design decision 12), its whole
/// state unchanged but for the answer it may owe ([`ANSWER`]).
pub fn tcp_engine(data: &[u8]) {
    let mut input = Input(data);
    let Setup {
        mut sim,
        victim_is_a,
        config,
        peer_ts,
    } = setup(&mut input);
    let mut now = sim.now();
    let endpoint = if victim_is_a {
        sim.a_mut()
    } else {
        sim.b_mut()
    };
    let conn = &mut endpoint.conn;
    let bound = config.recv_buffer;
    let remote = if conn.state() == State::Listen {
        sim::CLIENT.into()
    } else {
        conn.remote()
    };
    let local = conn.local();
    check_invariants(conn, bound, now);

    let mut ops = 0;
    let mut before = (conn.state(), *conn.tcb());
    while !input.is_empty() && ops < MAX_OPS {
        ops += 1;
        match input.u8() % 8 {
            // A segment (the most common operation).
            0..=3 => {
                let tcb = *conn.tcb();
                let how = input.u8();
                let seq = match how & 3 {
                    0 => tcb.rcv.nxt + u32::from(input.u16()),
                    1 => tcb.rcv.nxt - usize::from(input.u16()),
                    2 => SeqNum(input.u32()),
                    _ => tcb.rcv.nxt,
                };
                let ack = match (how >> 2) & 3 {
                    0 => None,
                    1 => Some(tcb.snd.una + u32::from(input.u16() % 2048)),
                    2 => Some(SeqNum(input.u32())),
                    _ => Some(tcb.snd.nxt),
                };
                let flags = Flags::from_bits(input.u8());
                let window = input.u16();
                let mut options = Vec::new();
                let opts = input.u8();
                if opts & 1 != 0 {
                    options.push(TcpOption::Mss(input.u16()));
                }
                if opts & 2 != 0 {
                    options.push(TcpOption::WindowScale(input.u8()));
                }
                if opts & 4 != 0 {
                    options.push(TcpOption::SackPermitted);
                }
                if opts & 8 != 0 {
                    let val = if opts & 16 != 0 {
                        input.u32()
                    } else {
                        peer_ts.wrapping_add(u32::from(input.u8()))
                    };
                    options.push(TcpOption::Timestamps {
                        val,
                        ecr: input.u32(),
                    });
                }
                if opts & 32 != 0 {
                    let blocks = (0..1 + input.u8() % 3)
                        .map(|_| {
                            let l = tcb.snd.una + u32::from(input.u16());
                            (l, l + u32::from(input.u16()))
                        })
                        .collect();
                    options.push(TcpOption::Sack(blocks));
                }
                let payload = vec![0xee; usize::from(input.u16() % 3000)];
                let other = how & 0x80 != 0;
                let seg = TcpRepr {
                    src_port: if other {
                        remote.port() ^ 1
                    } else {
                        remote.port()
                    },
                    dst_port: local.port(),
                    seq,
                    ack,
                    flags,
                    window,
                    urgent: 0,
                    options: fit_options(options),
                    payload: &payload,
                };
                let before_seg = conn.snapshot();
                conn.handle_segment_from(now, remote.ip(), &seg);
                let events: Vec<Event> = std::iter::from_fn(|| conn.poll_event()).collect();
                let discarded = !events.is_empty()
                    && events.iter().all(|e| {
                        matches!(e, Event::SegmentDropped { reason }
                            if whole_discard(*reason, tcb.rcv.wnd))
                    });
                if discarded {
                    let changed: Vec<&str> = before_seg
                        .changed_fields(conn)
                        .into_iter()
                        .filter(|f| !ANSWER.contains(f))
                        .collect();
                    assert!(
                        changed.is_empty(),
                        "a segment the engine discarded ({events:?}) changed {changed:?}: \
                         {seg:?}\nbefore: {before_seg:?}\nafter: {conn:?}"
                    );
                }
            }
            // Time passes; due timers fire.
            4 | 5 => {
                now = Instant::from_micros(now.total_micros() + u64::from(input.u16()) * 1000);
                if conn.poll_timeout().is_some_and(|t| t <= now) {
                    conn.handle_timeout(now);
                }
            }
            6 => {
                let mut buf = vec![0u8; usize::from(input.u16())];
                let _ = conn.recv(&mut buf);
            }
            _ => match input.u8() % 4 {
                0 => {
                    let _ = conn.send(&vec![1u8; usize::from(input.u16())]);
                }
                1 => conn.close(now),
                2 if input.u8() == 0 => conn.abort(now),
                _ => {
                    if let Some(t) = conn.poll_timeout() {
                        now = now.max(t);
                        conn.handle_timeout(now);
                    }
                }
            },
        }
        check_invariants(conn, bound, now);
        // SND.UNA and RCV.NXT only move forward once each side's ISN is
        // known (a reset to LISTEN starts a new handshake; in CLOSED the
        // TCB is gone, which may leave a fresh one's zeros).
        let after = (conn.state(), *conn.tcb());
        let known = |s: State| !matches!(s, State::Listen | State::SynSent | State::Closed);
        if known(before.0) && known(after.0) {
            assert!(
                after.1.snd.una.ge(before.1.snd.una),
                "SND.UNA went back from {} to {} ({:?} to {:?})",
                before.1.snd.una,
                after.1.snd.una,
                before.0,
                after.0
            );
            assert!(
                after.1.rcv.nxt.ge(before.1.rcv.nxt),
                "RCV.NXT went back from {} to {} ({:?} to {:?})",
                before.1.rcv.nxt,
                after.1.rcv.nxt,
                before.0,
                after.0
            );
        }
        before = after;
    }
}

/// What answering a discarded segment may touch, by the field names of
/// [`Snapshot::changed_fields`](nettool::tcp::Snapshot::changed_fields):
/// the ACK (or RST) it owes, the challenge-ACK rate limit (RFC 5961 §7),
/// the segments and events queued (`out`), and a D-SACK to report the
/// duplicate it was (RFC 2883; `flight.dsack`, the rest of the
/// loss-recovery state compared apart, an empty one the same as none).
/// What the answer itself changes once sent (Last.ACK.sent, the window
/// advertised) changes only as it leaves, in `poll_transmit`.
const ANSWER: [&str; 4] = ["ack_pending", "challenge", "out", "flight.dsack"];

/// Whether a segment dropped for `reason` was discarded whole, so that it
/// must change no state. Some drops take part of the segment, as RFC 9293
/// has it: a retransmission the engine answers (the peer's SYN again in
/// SYN-RECEIVED: the SYN-ACK is resent; its FIN again in TIME-WAIT: 2×MSL
/// restarts), text the reassembly queue had no room for (the segment's ACK
/// and window were taken in the fifth step before the text was refused in
/// the seventh), and text into a closed receive window (`rcv_wnd` 0: the
/// first step lets the segment in for its ACK only).
fn whole_discard(reason: DropReason, rcv_wnd: usize) -> bool {
    match reason {
        DropReason::Retransmission | DropReason::ReassemblyFull => false,
        DropReason::OutOfWindow => rcv_wnd != 0,
        _ => true,
    }
}

/// Keeps the options within TCP's 40 bytes, as any real segment's are.
fn fit_options(mut options: Vec<TcpOption>) -> Vec<TcpOption> {
    while options.iter().map(TcpOption::buffer_len).sum::<usize>() > 40 {
        options.pop();
    }
    options
}

/// The engine's invariants, then its output drained (each segment must
/// survive the wire: emitted, it parses back to itself).
fn check_invariants(conn: &mut Connection, recv_buffer: usize, now: Instant) {
    let tcb = *conn.tcb();
    assert!(
        tcb.snd.una.le(tcb.snd.nxt),
        "SND.UNA {} after SND.NXT {} in {:?}",
        tcb.snd.una,
        tcb.snd.nxt,
        conn.state()
    );
    assert!(
        conn.recv_queue_len() + conn.reassembly_len() <= recv_buffer,
        "receive buffer holds {} + {} bytes, more than its {recv_buffer}",
        conn.recv_queue_len(),
        conn.reassembly_len()
    );
    assert!(tcb.rcv.wnd <= recv_buffer);
    while let Some(seg) = conn.poll_transmit(now) {
        let bytes = seg.to_ipv4_packet();
        let (_, tcp) = TcpRepr::from_ipv4_packet(&bytes, ChecksumMode::Verify)
            .expect("a segment the engine sends parses");
        assert_same_segment(&tcp, &seg.as_repr());
    }
    while conn.poll_event().is_some() {}
}

// ----- the interface under fuzzed frames -----

/// The server interface (listening on [`sim::SERVER`], identity [`US`])
/// receives one real connection from the engine at [`sim::CLIENT`], which
/// sends a payload and closes, while frames built from the input reach
/// the interface at moments the input chooses: raw bytes, IPv4 datagrams
/// of any protocol, TCP segments with valid checksums from anywhere
/// (other flows, SYNs to the listener, RSTs), ICMP errors quoting a
/// segment. Frames that belong to the real connection (its 4-tuple, or an
/// ICMP error quoting it) are filtered out: those may rightly change it.
/// Properties: no panic, the interface's audit holds after every frame,
/// and the transfer completes byte-exact, the server seeing the client's
/// FIN.
/// Most hostile frames one input of the iface target injects.
const HOSTILE_FRAMES: usize = 64;

pub fn iface(data: &[u8]) {
    use nettool::machine::{Machine, RxChecksum};
    use nettool::stack::iface::{Interface, InterfaceConfig, ListenerConfig};
    use nettool::tcp::{IssSource, RecvError};
    use nettool::wire::demux::FlowKey;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    const LATENCY: Duration = Duration::from_millis(1);
    const SERVER_ISS: SeqNum = SeqNum(1_000_000);
    let legit = FlowKey::v4(sim::SERVER, sim::CLIENT);
    let mut input = Input(data);
    let len = 1000 + usize::from(input.u16() % 20_000);
    let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let client_iss = SeqNum(input.u32());
    let mut server = Interface::new(InterfaceConfig {
        ip: US.ip,
        mac: US.mac,
        ipv6: None,
        next_hop_mac: None,
        answer_arp: input.u8() & 1 == 1,
        trace: false,
    });
    server.listen(
        sim::SERVER,
        ListenerConfig {
            tcp: Config::default(),
            iss: IssSource::Fixed(SERVER_ISS),
            // More than the hostile frames an input holds: a flood of
            // spoofed SYNs may evict the oldest half-open connection, as
            // designed (stack::iface), and the real client's among them
            // when more than the backlog arrive within its handshake;
            // then no transfer could complete. The eviction itself is
            // tested by the interface's tests and tests/hostile_e2e.rs.
            backlog: HOSTILE_FRAMES + 1,
        },
    );
    let mut client = Connection::connect(
        Instant::ZERO,
        Config::default(),
        sim::CLIENT,
        sim::SERVER,
        client_iss,
    );

    let mut wire: BinaryHeap<Reverse<InFlight>> = BinaryHeap::new();
    let mut order = 0u64;
    let mut at = Instant::ZERO;
    while !input.is_empty() && order < HOSTILE_FRAMES as u64 {
        at = Instant::from_micros(at.total_micros() + u64::from(input.u8()) * 500);
        let frame = hostile_frame(&mut input, SERVER_ISS);
        let ours = match demux::demux(&US, &frame, ChecksumMode::Skip) {
            Some(Inbound::Tcp { flow, .. }) => flow == legit,
            Some(Inbound::Icmp { quoted, .. }) => quoted == legit,
            _ => false,
        };
        if !ours {
            order += 1;
            wire.push(Reverse((at, order, true, frame)));
        }
    }

    let mut now = Instant::ZERO;
    let mut sent = 0;
    let mut closed = false;
    let mut accepted = None;
    let mut received = Vec::new();
    let mut eof = false;
    let mut server_closed = false;
    let deadline = Instant::from_millis(60_000);
    while now < deadline && !(eof && client.state() == State::TimeWait) {
        // Both ends act, then send.
        while sent < payload.len() {
            match client.send(&payload[sent..]) {
                Ok(n @ 1..) => sent += n,
                _ => break,
            }
        }
        // CLOSE in SYN-SENT would drop the connection: only once open.
        if sent == payload.len() && !closed && client.state() == State::Established {
            client.close(now);
            closed = true;
        }
        while let Some(key) = server.accept(sim::SERVER) {
            if key == legit {
                accepted = Some(key);
            }
        }
        if let Some(conn) = accepted.and_then(|k| server.conn_mut(k)) {
            let mut buf = [0u8; 8192];
            loop {
                match conn.recv(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                    Err(RecvError::Finished) => {
                        eof = true;
                        break;
                    }
                    Err(e) => panic!("the server's connection failed: {e:?}"),
                }
            }
            if eof && !server_closed {
                conn.close(now);
                server_closed = true;
            }
        }
        while server.poll_event().is_some() {}
        while client.poll_event().is_some() {}
        while let Some(seg) = client.poll_transmit(now) {
            order += 1;
            let frame = seg.to_frame(PEER_MAC, US.mac);
            wire.push(Reverse((now + LATENCY, order, true, frame)));
        }
        while let Some(frame) = server.poll_transmit(now) {
            order += 1;
            wire.push(Reverse((now + LATENCY, order, false, frame)));
        }
        // Time moves to the next arrival or timer.
        let next = [
            wire.peek().map(|Reverse((t, ..))| *t),
            server.poll_timeout(),
            client.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { break };
        now = now.max(next);
        while wire.peek().is_some_and(|Reverse((t, ..))| *t <= now) {
            let Some(Reverse((_, _, to_server, frame))) = wire.pop() else {
                break;
            };
            if to_server {
                server.handle_frame(now, &frame, RxChecksum::Unknown);
                if let Err(e) = server.audit() {
                    panic!("the interface's audit fails: {e}");
                }
            } else if let Ok((_, ip, tcp)) = TcpRepr::from_frame(&frame, ChecksumMode::Verify)
                && ip.dst == *sim::CLIENT.ip()
                && tcp.dst_port == sim::CLIENT.port()
            {
                client.handle_segment_from(now, ip.src, &tcp);
            }
        }
        if server.poll_timeout().is_some_and(|t| t <= now) {
            server.handle_timeout(now);
        }
        if client.poll_timeout().is_some_and(|t| t <= now) {
            client.handle_timeout(now);
        }
    }
    assert!(eof, "the server never saw the client's FIN (by {now})");
    assert!(received == payload, "the bytes differ");
}

/// A frame on the iface target's wire: (arrival, order sent, to the
/// server?, frame).
type InFlight = (Instant, u64, bool, Vec<u8>);

/// A frame to [`US`] built from the input: raw bytes, an IPv4 datagram
/// of any protocol, a TCP segment with valid checksums, or an ICMP error
/// quoting a TCP header.
fn hostile_frame(input: &mut Input<'_>, server_iss: SeqNum) -> Vec<u8> {
    use nettool::wire::ethernet::Protocol;
    use nettool::wire::ipv4::IpProtocol;
    let kind = input.u8();
    let bytes = |input: &mut Input<'_>| -> Vec<u8> {
        let n = usize::from(input.u8());
        (0..n).map(|_| input.u8()).collect()
    };
    let src_ip = if kind & 0x10 == 0 {
        *sim::CLIENT.ip()
    } else {
        Ipv4Addr::new(10, 0, 0, input.u8())
    };
    let ip_frame = |protocol: IpProtocol, body: &[u8]| {
        let ip = Ipv4Repr::new(src_ip, US.ip, protocol, body.len());
        let mut frame = vec![0u8; 14 + ip.total_len()];
        EthernetRepr {
            src: PEER_MAC,
            dst: US.mac,
            protocol: Protocol::Ipv4,
        }
        .emit(&mut frame);
        ip.emit(&mut frame[14..]);
        frame[34..].copy_from_slice(body);
        frame
    };
    match kind % 4 {
        0 => bytes(input),
        1 => {
            let protocol = IpProtocol::from(input.u8());
            ip_frame(protocol, &bytes(input))
        }
        2 => {
            let src_port = if kind & 0x20 == 0 {
                sim::CLIENT.port()
            } else {
                input.u16().max(1)
            };
            let dst_port = if kind & 0x40 == 0 {
                sim::SERVER.port()
            } else {
                input.u16().max(1)
            };
            let ack = match input.u8() % 3 {
                0 => None,
                1 => Some(server_iss + 1u32),
                _ => Some(SeqNum(input.u32())),
            };
            let seg = TcpRepr {
                src_port,
                dst_port,
                seq: SeqNum(input.u32()),
                ack,
                flags: Flags::from_bits(input.u8()),
                window: input.u16(),
                urgent: 0,
                options: Vec::new(),
                payload: &bytes(input),
            };
            let ip = Ipv4Repr::new(src_ip, US.ip, IpProtocol::Tcp, 0);
            seg.to_frame(PEER_MAC, US.mac, &ip)
        }
        _ => {
            // Type and code, checksum, unused; the quoted IPv4 header
            // (from us) and the first 8 bytes of a TCP header.
            let mut icmp = vec![3 + 8 * (input.u8() & 1), input.u8(), 0, 0, 0, 0, 0, 0];
            let dst = Ipv4Addr::new(10, 0, 0, input.u8());
            let quoted = Ipv4Repr::new(US.ip, dst, IpProtocol::Tcp, 8);
            let mut header = [0u8; 20];
            quoted.emit(&mut header);
            icmp.extend_from_slice(&header);
            icmp.extend_from_slice(&input.u16().to_be_bytes());
            icmp.extend_from_slice(&input.u16().to_be_bytes());
            icmp.extend_from_slice(&input.u32().to_be_bytes());
            let sum = icmp_checksum(&icmp);
            icmp[2..4].copy_from_slice(&sum.to_be_bytes());
            ip_frame(IpProtocol::Icmp, &icmp)
        }
    }
}

/// The Internet checksum of an ICMP message (RFC 792).
fn icmp_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer's fields are fields the snapshot reports.
    #[test]
    fn the_answer_names_fields_of_the_connection() {
        for name in ANSWER {
            assert!(
                nettool::tcp::Snapshot::FIELDS.contains(&name),
                "{name} is no field of the connection"
            );
        }
    }
}
