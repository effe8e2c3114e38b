//! One raw flow on one link: an [`Interface`] hosting a probe run, a scan
//! or a trace ([`RawFlow`]), as a [`Machine`] the driver runs. The
//! interface answers ARP and demultiplexes; the flow sees only its own
//! segments and the ICMP errors quoting them. Events of both come out in
//! order: the interface's first ([`Hosted::Host`]: an ARP answer, a
//! malformed frame), then the flow's ([`Hosted::Flow`]).

use std::marker::PhantomData;

use super::iface::{Event as HostEvent, Interface, InterfaceConfig, RawHandle};
use crate::machine::{Machine, RawEvents, RawFlow, RxChecksum};
use crate::time::Instant;

/// An event of a [`RawHost`]. (The interface's events name their flow
/// by a 4-tuple of either family, which makes them the larger variant;
/// each is moved once, from the queue to its reader, so boxing would
/// only add an allocation.)
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Hosted<E> {
    /// The interface's (the link's): an ARP request answered, a frame
    /// that failed validation.
    Host(HostEvent),
    /// The flow's own.
    Flow(E),
}

/// An interface with one raw flow of kind `F`.
pub struct RawHost<F> {
    iface: Interface,
    handle: RawHandle,
    kind: PhantomData<F>,
}

impl<F: RawFlow + RawEvents> RawHost<F> {
    /// `flow` on an interface with identity `config` (segment tracing is
    /// left off: the flow reports its own).
    pub fn new(config: InterfaceConfig, flow: F) -> RawHost<F> {
        let mut iface = Interface::new(InterfaceConfig {
            trace: false,
            ..config
        });
        let handle = iface.add_raw(Box::new(flow));
        RawHost {
            iface,
            handle,
            kind: PhantomData,
        }
    }

    pub fn flow(&self) -> &F {
        self.iface.raw(self.handle).expect("the host's own flow")
    }

    /// The flow, for the application's calls.
    pub fn flow_mut(&mut self) -> &mut F {
        self.iface
            .raw_mut(self.handle)
            .expect("the host's own flow")
    }

    pub fn iface(&self) -> &Interface {
        &self.iface
    }

    /// Writes the next frame due at `now` into `buf` (an ARP answer, a RST
    /// for a stray segment, or the flow's); `false` when nothing is due.
    pub fn poll_transmit_into(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool {
        self.iface.poll_transmit_into(now, buf)
    }

    /// Whether the flow wrote the frame last returned for sending.
    pub fn last_from_flow(&self) -> bool {
        self.iface.last_raw() == Some(self.handle)
    }

    /// The frame last returned for sending left at `at`.
    pub fn sent(&mut self, at: Instant) {
        self.iface.sent(at);
    }
}

impl<F: RawFlow + RawEvents> Machine for RawHost<F> {
    type Event = Hosted<F::Event>;

    fn handle_frame(&mut self, now: Instant, frame: &[u8], checksum: RxChecksum) {
        self.iface.handle_frame(now, frame, checksum);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.iface.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.iface.poll_transmit(now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.iface.poll_timeout()
    }

    fn poll_event(&mut self) -> Option<Self::Event> {
        if let Some(ev) = self.iface.poll_event() {
            return Some(Hosted::Host(ev));
        }
        self.flow_mut().poll_event().map(Hosted::Flow)
    }

    fn is_done(&self) -> bool {
        self.iface.is_done()
    }

    fn abort(&mut self, now: Instant) {
        self.iface.abort(now);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};
    use std::time::Duration;

    use rstest::rstest;

    use super::*;
    use crate::stack::iface::HostEvent as What;
    use crate::trace::{Answer, Config, Event, Trace};
    use crate::wire::arp::{ArpRepr, Operation};
    use crate::wire::ethernet::{self, EthernetRepr};
    use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
    use crate::wire::tcp::{ChecksumMode, Flags, TcpRepr};
    use crate::wire::testing;
    use crate::wire::{MacAddr, SeqNum};

    const US: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 1), 40000);
    const DST: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 3, 0, 2), 80);
    const R1: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
    const MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
    const GW: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);

    fn at(ms: u64) -> Instant {
        Instant::from_micros(ms * 1000)
    }

    fn trace() -> Trace {
        Trace::new(Config {
            mac: MAC,
            next_hop_mac: GW,
            local: US.into(),
            remote: DST.into(),
            first_ttl: 1,
            max_ttl: 30,
            queries: 1,
            wait: Duration::from_secs(1),
            iss: SeqNum(1000),
            mss: 1460,
        })
    }

    fn host(answer_arp: bool) -> RawHost<Trace> {
        let config = InterfaceConfig {
            ip: *US.ip(),
            mac: MAC,
            ipv6: None,
            next_hop_mac: Some(GW),
            answer_arp,
            trace: true,
        };
        RawHost::new(config, trace())
    }

    fn events(h: &mut RawHost<Trace>) -> Vec<Hosted<Event>> {
        std::iter::from_fn(|| h.poll_event()).collect()
    }

    /// The first probe, sent at `now`: its IPv4 packet.
    fn first_probe(h: &mut RawHost<Trace>, now: Instant) -> Vec<u8> {
        let frame = h.poll_transmit(now).expect("a probe is due");
        assert!(h.last_from_flow());
        let _ = events(h);
        frame[ethernet::HEADER_LEN..].to_vec()
    }

    /// `body` from `from` to us, from the gateway.
    fn wrap(from: Ipv4Addr, protocol: IpProtocol, body: &[u8]) -> Vec<u8> {
        testing::ipv4_frame((GW, MAC), (from, *US.ip()), protocol, body)
    }

    /// ICMP time exceeded from `router` quoting `packet`'s first 28 bytes.
    fn time_exceeded(router: Ipv4Addr, packet: &[u8]) -> Vec<u8> {
        wrap(
            router,
            IpProtocol::Icmp,
            &testing::icmp_error(11, 0, packet),
        )
    }

    fn reply_of(events: &[Hosted<Event>]) -> Option<(Ipv4Addr, Answer)> {
        events.iter().find_map(|e| match e {
            Hosted::Flow(Event::Reply {
                from: std::net::IpAddr::V4(from),
                answer,
                ..
            }) => Some((*from, *answer)),
            _ => None,
        })
    }

    #[rstest]
    #[case::owned_by_the_kernel(false)]
    #[case::ours_to_answer(true)]
    fn the_interface_answers_arp_for_the_trace_only_when_asked_to(#[case] answer_arp: bool) {
        let mut h = host(answer_arp);
        let probe = first_probe(&mut h, at(0));
        let who_has = ArpRepr {
            operation: Operation::Request,
            sender_mac: GW,
            sender_ip: R1,
            target_mac: MacAddr::zero(),
            target_ip: *US.ip(),
        }
        .to_frame(GW, MacAddr::broadcast());
        h.handle_frame(at(1), &who_has, RxChecksum::Unknown);
        let reply = h.poll_transmit(at(1));
        assert_eq!(reply.is_some(), answer_arp);
        if let Some(frame) = reply {
            assert!(
                !h.last_from_flow(),
                "the interface's frame, not the trace's"
            );
            let (_, body) = EthernetRepr::parse(&frame).unwrap();
            let arp = ArpRepr::parse(body).unwrap();
            assert_eq!(arp.operation, Operation::Reply);
            assert_eq!((arp.sender_ip, arp.sender_mac), (*US.ip(), MAC));
            assert_eq!((arp.target_ip, arp.target_mac), (R1, GW));
            let evs = events(&mut h);
            assert!(
                matches!(&evs[..], [Hosted::Host(e)] if e.what == What::ArpAnswered { asker: R1, asker_mac: GW }),
                "{evs:?}"
            );
        }
        // The trace still waits for its answer, and gets it.
        h.handle_frame(at(2), &time_exceeded(R1, &probe), RxChecksum::Unknown);
        let evs = events(&mut h);
        assert_eq!(reply_of(&evs), Some((R1, Answer::TimeExceeded { code: 0 })));
    }

    /// A segment to us from `src`, `sport` to `dport`.
    fn segment(src: Ipv4Addr, sport: u16, dport: u16, flags: Flags, ack: SeqNum) -> Vec<u8> {
        let tcp = TcpRepr {
            src_port: sport,
            dst_port: dport,
            seq: SeqNum(5),
            ack: Some(ack),
            flags,
            window: 100,
            urgent: 0,
            options: vec![],
            payload: &[],
        };
        let ip = Ipv4Repr::new(src, *US.ip(), IpProtocol::Tcp, tcp.buffer_len());
        tcp.to_frame(GW, MAC, &ip)
    }

    #[rstest]
    #[case::another_local_port(*DST.ip(), DST.port(), US.port() + 1)]
    #[case::another_remote_port(*DST.ip(), DST.port() + 1, US.port())]
    #[case::another_host(R1, DST.port(), US.port())]
    fn segments_outside_the_flow_never_reach_it(
        #[case] src: Ipv4Addr,
        #[case] sport: u16,
        #[case] dport: u16,
    ) {
        let mut h = host(true);
        let _ = first_probe(&mut h, at(0));
        // It acknowledges the probe's SYN as a SYN-ACK from the
        // destination would, but on another 4-tuple.
        let stray = segment(src, sport, dport, Flags::SYN, SeqNum(1001));
        h.handle_frame(at(1), &stray, RxChecksum::Unknown);
        let evs = events(&mut h);
        assert_eq!(reply_of(&evs), None, "{evs:?}");
        // Nobody else owns the address: the interface answers as a closed
        // port would, RST at the SYN-ACK's ACK (RFC 9293 §3.10.7.1).
        let rst = h.poll_transmit(at(1)).expect("a RST for the stray");
        assert!(!h.last_from_flow());
        let (_, ip, tcp) = TcpRepr::from_frame(&rst, ChecksumMode::Verify).unwrap();
        assert_eq!(ip.dst, src);
        assert_eq!((tcp.src_port, tcp.dst_port), (dport, sport));
        assert_eq!((tcp.flags, tcp.seq), (Flags::RST, SeqNum(1001)));
        assert_eq!(h.poll_transmit(at(1)), None, "nothing from the trace");
    }

    #[test]
    fn the_flows_own_answer_reaches_it_and_draws_no_rst_from_the_interface() {
        let mut h = host(true);
        let _ = first_probe(&mut h, at(0));
        let syn_ack = segment(*DST.ip(), DST.port(), US.port(), Flags::SYN, SeqNum(1001));
        h.handle_frame(at(1), &syn_ack, RxChecksum::Unknown);
        let evs = events(&mut h);
        assert_eq!(reply_of(&evs), Some((*DST.ip(), Answer::Open)));
        // The trace resets the half-open connection itself, once.
        let rst = h.poll_transmit(at(1)).expect("the trace's RST");
        assert!(h.last_from_flow());
        let (_, _, tcp) = TcpRepr::from_frame(&rst, ChecksumMode::Verify).unwrap();
        assert_eq!((tcp.flags, tcp.seq), (Flags::RST, SeqNum(1001)));
        assert_eq!(h.poll_transmit(at(1)), None);
        assert!(h.is_done());
    }

    #[test]
    fn a_connection_owns_its_4_tuple_before_a_raw_flow_whose_selector_takes_it() {
        use crate::stack::iface::Interface;
        use crate::tcp::{self, Connection, Event as TcpEvent, State};

        let mut iface = Interface::new(InterfaceConfig {
            ip: *US.ip(),
            mac: MAC,
            ipv6: None,
            next_hop_mac: Some(GW),
            answer_arp: true,
            trace: false,
        });
        let conn = Connection::connect(at(0), tcp::Config::default(), US, DST, SeqNum(1000));
        let key = iface.open(conn);
        let handle = iface.add_raw(Box::new(trace()));
        assert!(iface.raw::<crate::probe::prober::Prober>(handle).is_none());
        // The connection's SYN (SEQ 1000) and the trace's first probe (SEQ
        // 1000 too) both leave; the SYN-ACK acknowledging 1001 is the
        // connection's, by its 4-tuple.
        let syn = iface.poll_transmit(at(0)).expect("the connection's SYN");
        assert_eq!(iface.last_raw(), None);
        let probe = iface.poll_transmit(at(0)).expect("the trace's probe");
        assert_eq!(iface.last_raw(), Some(handle));
        assert_ne!(syn, probe, "the probe carries TTL 1");
        while iface.poll_event().is_some() {}
        let trace: &mut Trace = iface.raw_mut(handle).expect("a trace");
        while trace.poll_event().is_some() {}
        let syn_ack = segment(*DST.ip(), DST.port(), US.port(), Flags::SYN, SeqNum(1001));
        iface.handle_frame(at(1), &syn_ack, RxChecksum::Unknown);
        assert_eq!(
            iface.conn(key).map(Connection::state),
            Some(State::Established)
        );
        let evs: Vec<_> = std::iter::from_fn(|| iface.poll_event()).collect();
        assert!(
            evs.iter().any(|e| e.what == What::Tcp(TcpEvent::Connected)),
            "{evs:?}"
        );
        let trace: &mut Trace = iface.raw_mut(handle).expect("a trace");
        let heard: Vec<_> = std::iter::from_fn(|| trace.poll_event()).collect();
        assert!(heard.is_empty(), "{heard:?}");
        // Once the connection is gone, the same answer is the trace's.
        iface.remove(key);
        iface.handle_frame(at(2), &syn_ack, RxChecksum::Unknown);
        let trace: &mut Trace = iface.raw_mut(handle).expect("a trace");
        let heard: Vec<_> = std::iter::from_fn(|| trace.poll_event())
            .map(Hosted::Flow)
            .collect();
        assert_eq!(reply_of(&heard), Some((*DST.ip(), Answer::Open)));
    }
}
