//! One actively opened TCP connection on one link: an [`Interface`] with
//! a single flow, seen as that flow. See the module docs of [`super`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

pub use super::iface::{Direction, HostEvent, Stats, is_pure_ack};
use super::iface::{FlowKey, Interface, InterfaceConfig};
use crate::machine::{Machine, RxChecksum};
use crate::tcp::{Connection, State};
use crate::time::Instant;
use crate::wire::MacAddr;

/// Addresses of the host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Our hardware address.
    pub mac: MacAddr,
    /// The next hop's hardware address: every IP frame goes there.
    pub next_hop_mac: Option<MacAddr>,
    /// Answer ARP requests for the connection's local address ourselves,
    /// because the kernel does not own it (and so will not); segments for
    /// other 4-tuples to that address then get RFC 9293's RST.
    pub answer_arp: bool,
    /// Report every segment as an event (costs a copy of each).
    pub trace: bool,
}

/// One connection on one link.
pub struct TcpHost {
    iface: Interface,
    flow: FlowKey,
}

impl TcpHost {
    /// A host for `conn`, an active OPEN (its SYN goes out first).
    pub fn new(config: HostConfig, conn: Connection) -> TcpHost {
        let (ip, ipv6) = match conn.local().ip() {
            IpAddr::V4(ip) => (ip, None),
            IpAddr::V6(ip) => (Ipv4Addr::UNSPECIFIED, Some(ip)),
        };
        let mut iface = Interface::new(InterfaceConfig {
            ip,
            mac: config.mac,
            ipv6,
            next_hop_mac: config.next_hop_mac,
            answer_arp: config.answer_arp,
            trace: config.trace,
        });
        let flow = iface.open(conn);
        TcpHost { iface, flow }
    }

    /// What crossed the wire so far.
    pub fn stats(&self) -> Stats {
        self.iface.stats(self.flow).unwrap_or_default()
    }

    pub fn conn(&self) -> &Connection {
        self.iface.conn(self.flow).expect("the host's flow stays")
    }

    pub fn conn_mut(&mut self) -> &mut Connection {
        self.iface
            .conn_mut(self.flow)
            .expect("the host's flow stays")
    }

    /// The connection's 4-tuple.
    pub fn local(&self) -> SocketAddr {
        self.flow.local
    }

    /// The interface underneath.
    pub fn interface(&self) -> &Interface {
        &self.iface
    }

    /// Frames for us that failed validation.
    pub fn malformed(&self) -> u64 {
        self.iface.malformed()
    }

    /// See [`Interface::hold_acks`].
    pub fn hold_acks(&mut self, until: Option<Instant>) {
        self.iface.hold_acks(self.flow, until);
    }

    /// See [`Interface::release_acks`].
    pub fn release_acks(&mut self, now: Instant) {
        self.iface.release_acks(self.flow, now);
    }

    /// See [`Interface::poll_transmit_coalesced`].
    pub fn poll_transmit_coalesced(
        &mut self,
        now: Instant,
        max_payload: usize,
    ) -> Option<(Vec<u8>, Option<u16>)> {
        self.iface.poll_transmit_coalesced(now, max_payload)
    }
}

impl Machine for TcpHost {
    type Event = HostEvent;

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

    /// The interface's events, but [`HostEvent::Readable`]: one
    /// connection's user reads whenever anything happened.
    fn poll_event(&mut self) -> Option<HostEvent> {
        loop {
            match self.iface.poll_event()?.what {
                HostEvent::Readable => continue,
                what => return Some(what),
            }
        }
    }

    fn is_done(&self) -> bool {
        self.conn().state() == State::Closed && !self.iface.has_pending()
    }
}
