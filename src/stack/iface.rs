//! One local identity (an IPv4 address, an IPv6 one, a MAC) on one link, with any
//! number of TCP connections: smoltcp's `Interface`, quinn-proto's
//! `Endpoint`. See the module docs of [`super`].
//!
//! **Flows.** Connections live in a hash map keyed by their 4-tuple
//! ([`FlowKey`]). A flow is either the application's (opened with
//! [`Interface::open`], or taken with [`Interface::accept`]), and stays
//! until the application [`remove`](Interface::remove)s it, or a
//! listener's child, which the interface reaps itself when it closes.
//!
//! **Listeners** ([`Interface::listen`]) keep two queues, as a BSD stack
//! does: the half-open connections (SYN-RECEIVED) and the established ones
//! waiting for [`Interface::accept`]. Both are bounded by the backlog.
//! When the half-open queue is full, a new SYN evicts the *oldest*
//! half-open connection (silently: a spoofed source would never read a
//! RST, and a real client whose entry went is answered with RST when its
//! ACK arrives). A flood of spoofed SYNs therefore cycles through the
//! queue and never blocks a real client, whose handshake takes one round
//! trip. When the accept queue is full, new SYNs are dropped (the client
//! retries) until the application accepts, and so are the ACKs that would
//! complete a half-open connection (it stays half-open, as in Linux; the
//! client acknowledges the retransmitted SYN-ACK again).
//!
//! Events of a child are kept with it until it is accepted, then released
//! in order with their original times; a child that never completes its
//! handshake stays invisible (it shows in [`ListenerStats`]).
//!
//! **Raw flows** ([`Interface::add_raw`]) write their own segments: the
//! probes, scans and traces ([`RawFlow`]). The interface answers ARP and
//! demultiplexes for them as for its connections, and hands each only the
//! segments and ICMP errors its [`Selector`] takes (after the connections
//! and listeners, which own their 4-tuples first), as smoltcp's interface
//! dispatches to its raw sockets. Their frames go out after the
//! interface's own and the connections'; their events stay with them,
//! for the application to read ([`Interface::raw_mut`]).
//!
//! **Fragments** to us are put back together before anything else sees
//! them ([`crate::wire::frag`], bounded, given up at 30 s); the whole
//! datagram is then sorted as if it had come unfragmented. **On an address
//! nettool answers for alone**, a UDP datagram no raw flow takes draws an
//! ICMP port unreachable (ICMPv6 over IPv6), and a reassembly given up
//! after its first fragment a time exceeded, both rate-limited as Linux
//! limits its own ([`super::unreachable`]); an ICMPv6 echo request to its
//! IPv6 address is answered, as an IPv4 one is.
//!
//! **Scale.** Nothing walks the flow table: flows with something to send
//! wait in a queue of touched flows, and every other flow's next deadline
//! sits in an ordered timer set.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use super::unreachable::{self, IcmpLimiter};
use crate::machine::{Machine, RawFlow, RxChecksum, Selector, offer};
use crate::tcp::{self, Connection, Event as TcpEvent, IssSource, Segment, SeqNum, State};
use crate::time::{Instant, earliest};
use crate::wire::arp::ArpRepr;
pub use crate::wire::demux::FlowKey;
use crate::wire::demux::{Echo6, Identity, Inbound, arp_reply, demux};
use crate::wire::frag::{self, Reassembler, Taken};

use super::flowhash::FlowMap;
use super::keys::{Key, Keys};
use crate::wire::icmp::{IcmpKind, IcmpQuery, QueryKind};
use crate::wire::icmpv6::{Icmpv6Kind, Icmpv6Repr};
use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
use crate::wire::ipv6::{Ipv6Repr, NextHeader};
use crate::wire::tcp::{ChecksumFill, Flags, TcpRepr};
use crate::wire::{MacAddr, WireError};

/// A default half-open (and accept) queue length: Linux's historical
/// `somaxconn`, roomy for a debugging tool and a few hundred kilobytes of
/// bookkeeping under a flood.
pub const DEFAULT_BACKLOG: usize = 256;

/// Most events kept for a child before it is accepted: a handshake makes
/// about eight; beyond the cap, segment traces, dropped-segment and
/// out-of-order reports are counted in [`ListenerStats::events_dropped`]
/// instead (state changes, the handshake's completion and the peer's FIN
/// are always kept; of ICMP errors, the latest).
const CHILD_EVENTS: usize = 32;

/// Entries an interface-wide queue keeps room for once drained: a burst
/// (a million handshakes completing) leaves no lasting cost, and a
/// steady trickle reallocates nothing.
const QUEUE_KEEP: usize = 1024;

/// Gives back most of a drained queue's room (see [`QUEUE_KEEP`]).
fn shrink_if_drained<T>(q: &mut VecDeque<T>) {
    if q.is_empty() && q.capacity() > QUEUE_KEEP {
        q.shrink_to(QUEUE_KEEP);
    }
}

/// Which way a segment went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Out,
    In,
}

/// What happened on the host, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEvent {
    /// A segment left, or arrived for a flow (before the engine saw it).
    Segment { dir: Direction, seg: Segment },
    /// A pure ACK the engine sent that is being held back (see
    /// [`Interface::hold_acks`]).
    Withheld { seg: Segment },
    /// The engine's own events.
    Tcp(TcpEvent),
    /// In-order data became readable on a flow that had none unread
    /// (edge-triggered: read until `recv` has nothing, and the next
    /// arrival says so again).
    Readable,
    /// We answered an ARP request for our address.
    ArpAnswered { asker: Ipv4Addr, asker_mac: MacAddr },
    /// We answered a Neighbor Solicitation for our IPv6 address (`asker`
    /// `::`: another node's duplicate address detection, told it is ours).
    NeighborAnswered { asker: Ipv6Addr, asker_mac: MacAddr },
    /// An ICMP or ICMPv6 error quoting a flow (a packet too big has
    /// already lowered the flow's MTU when this is reported).
    Icmp { from: IpAddr, kind: ErrorKind },
    /// A frame addressed to us that failed validation.
    Malformed { why: WireError },
}

/// What an ICMP error about a flow says, over either IP version (the
/// wire's, shared with the raw flows).
pub use crate::wire::icmp::ErrorKind;

/// An event of the interface: when it happened, and for which flow
/// (`None`: the link's, such as an ARP answer, or a RST for no flow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: Instant,
    pub flow: Option<FlowKey>,
    pub what: HostEvent,
}

/// What crossed the wire on one flow, for summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub segments_sent: u64,
    pub segments_received: u64,
    /// Payload bytes sent, retransmissions included.
    pub bytes_sent: u64,
    /// Payload bytes received, duplicates included.
    pub bytes_received: u64,
    /// Segments that carried sequence space already sent before.
    pub retransmissions: u64,
    /// Payload bytes those segments carried.
    pub bytes_retransmitted: u64,
}

impl Stats {
    /// Payload bytes of the stream sent, each counted once however often
    /// it was retransmitted.
    pub fn stream_bytes_sent(&self) -> u64 {
        self.bytes_sent - self.bytes_retransmitted
    }
}

/// Whether a segment is a pure acknowledgment: no data, no SYN/FIN/RST.
pub fn is_pure_ack(seg: &Segment) -> bool {
    seg.ack.is_some() && seg.payload.is_empty() && {
        !seg.flags.contains(Flags::SYN)
            && !seg.flags.contains(Flags::FIN)
            && !seg.flags.contains(Flags::RST)
    }
}

/// The interface's identity on the link.
#[derive(Debug, Clone)]
pub struct InterfaceConfig {
    /// Our IPv4 address; 0.0.0.0 when the interface has none (an
    /// IPv6-only run), and then it takes no IPv4 packet.
    pub ip: Ipv4Addr,
    pub mac: MacAddr,
    /// Our IPv6 address (global, ULA or link-local), beside `ip`: TCP
    /// to it is demultiplexed like TCP to `ip`, its flows keyed by their
    /// IPv6 4-tuples. `None`: no IPv6 packet is ours.
    pub ipv6: Option<Ipv6Addr>,
    /// The next hop's hardware address: every IP frame goes there.
    /// `None`: each listener's child learns it from the frame that carried
    /// its SYN (that frame came from the next hop).
    pub next_hop_mac: Option<MacAddr>,
    /// The kernel does not own `ip` (nor `ipv6`): answer ARP for it
    /// (and Neighbor Solicitations for `ipv6`, [`super::neighbor`]), and
    /// answer a segment for no flow and no listener with RST (RFC 9293
    /// §3.5.2), since nobody else will. When the kernel owns it, such
    /// segments are the kernel's business and left alone.
    pub answer_arp: bool,
    /// Report every segment as an event (costs a copy of each).
    pub trace: bool,
}

/// A listener's knobs.
#[derive(Debug, Clone, Copy)]
pub struct ListenerConfig {
    /// The engine's configuration for each accepted connection.
    pub tcp: tcp::Config,
    pub iss: IssSource,
    /// Bound of the half-open queue, and of the accept queue.
    pub backlog: usize,
}

/// What a listener saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenerStats {
    /// SYNs that opened a half-open connection.
    pub syns: u64,
    /// Half-open connections evicted, oldest first, by a SYN that found
    /// the queue full.
    pub evicted: u64,
    /// SYNs dropped because the accept queue was full.
    pub refused: u64,
    /// Handshake-completing ACKs dropped because the accept queue was
    /// full: the child stays half-open, and the client's next ACK (to the
    /// retransmitted SYN-ACK, or with data) completes it once there is
    /// room.
    pub acks_dropped: u64,
    /// Half-open connections that ended (SYN-ACKs unanswered, or reset).
    pub expired: u64,
    /// Handshakes completed (entering the accept queue).
    pub established: u64,
    /// Children's traces not kept before they were accepted (a child
    /// keeps its first 32 events, then only what the application acts
    /// on: state changes, the handshake's completion, the peer's FIN; and
    /// of the ICMP errors quoting it, only the latest).
    pub events_dropped: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AckHold {
    Off,
    Forever,
    Until(Instant),
}

/// A listener's child, until accepted.
#[derive(Debug)]
struct Child {
    listener: SocketAddr,
    /// Tells this incarnation of a 4-tuple from a later one.
    serial: u64,
    established: bool,
    /// Its events, released on accept.
    log: Vec<Event>,
}

/// One connection and what the interface keeps beside it. The table
/// holds it boxed, as one allocation: its entries stay small (a key and
/// a pointer) and move cheaply when it grows, and a table at a power of
/// two just past a million entries wastes pointers, not flows.
#[derive(Debug)]
struct Flow {
    conn: Connection,
    next_hop: MacAddr,
    touched: bool,
    hold: AckHold,
    held: Option<Box<Segment>>,
    /// Its entry in the timer set.
    armed: Option<Instant>,
    stats: Stats,
    /// The highest sequence number sent so far (end of the last new byte),
    /// to tell retransmissions from new data.
    snd_high: Option<SeqNum>,
    child: Option<Box<Child>>,
}

impl Flow {
    fn new(conn: Connection, next_hop: MacAddr, child: Option<Box<Child>>) -> Box<Flow> {
        Box::new(Flow {
            conn,
            next_hop,
            touched: false,
            hold: AckHold::Off,
            held: None,
            armed: None,
            stats: Stats::default(),
            snd_high: None,
            child,
        })
    }

    /// When the flow next needs time: the engine's deadline, or the end
    /// of an ACK hold with an ACK held.
    fn deadline(&self) -> Option<Instant> {
        let release = match self.hold {
            AckHold::Until(t) if self.held.is_some() => Some(t),
            _ => None,
        };
        earliest(self.conn.poll_timeout(), release)
    }

    /// Counts a segment leaving (and whether it repeats sequence space).
    fn account(&mut self, seg: &Segment) {
        let len = seg.len();
        if len > 0 {
            let end = seg.seq + len;
            match self.snd_high {
                Some(high) if seg.seq.lt(high) => {
                    // Repeats sequence space: wholly, or (a segment rebuilt
                    // after a timeout, up to a full MSS) partly, its tail new.
                    self.stats.retransmissions += 1;
                    let old = (high - seg.seq).min(seg.payload.len());
                    self.stats.bytes_retransmitted += old as u64;
                    if high.lt(end) {
                        self.snd_high = Some(end);
                    }
                }
                _ => self.snd_high = Some(end),
            }
        }
        self.stats.segments_sent += 1;
        self.stats.bytes_sent += seg.payload.len() as u64;
    }

    /// Whether the interface may forget the flow: a child that closed, or
    /// went back to LISTEN (a RST in SYN-RECEIVED).
    fn reapable(&self) -> bool {
        self.child.is_some() && matches!(self.conn.state(), State::Closed | State::Listen)
    }
}

#[derive(Debug)]
struct Listener {
    config: ListenerConfig,
    /// `config.tcp`, shared by every child.
    tcp: Arc<tcp::Config>,
    half_open: usize,
    /// Half-open children, oldest first (entries that completed or ended
    /// are skipped, and swept when they pile up).
    order: VecDeque<(Key, u64)>,
    /// Established children, oldest first (ones that closed are skipped).
    accept: VecDeque<Key>,
    stats: ListenerStats,
}

/// A raw flow's place in the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawHandle(usize);

struct RawEntry {
    selector: Selector,
    flow: Box<dyn RawFlow>,
}

/// The interface. See the module documentation.
pub struct Interface {
    config: InterfaceConfig,
    flows: FlowMap<Key, Box<Flow>>,
    /// The flows' names in the table and the queues ([`Key`]).
    keys: Keys,
    listeners: HashMap<SocketAddr, Listener>,
    /// Flows that may have something to send, in the order touched.
    touched: VecDeque<Key>,
    /// Every untouched flow's next deadline.
    timers: BTreeSet<(Instant, Key)>,
    /// Frames of the interface's own: ARP replies, RSTs for no flow.
    control: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    /// A segment pulled from a flow that did not fit the super-frame being
    /// built; it goes out next.
    spare: Option<(Key, Segment)>,
    malformed: u64,
    /// Numbers listener children, to tell a 4-tuple's incarnations apart.
    serial: u64,
    raw: Vec<RawEntry>,
    /// The raw flow that wrote the frame sent last, if one did.
    last_raw: Option<RawHandle>,
    /// IPv4 fragments to us, put back together before demultiplexing.
    frags: Reassembler,
    /// Port unreachables for stray datagrams, and their rate limit.
    unreachable: IcmpLimiter,
    /// Addresses answered for beside `config.ip` ([`Interface::add_address`]).
    more: super::addresses::More,
}

impl Interface {
    pub fn new(config: InterfaceConfig) -> Interface {
        Interface {
            config,
            flows: FlowMap::default(),
            keys: Keys::default(),
            listeners: HashMap::new(),
            touched: VecDeque::new(),
            timers: BTreeSet::new(),
            control: VecDeque::new(),
            events: VecDeque::new(),
            spare: None,
            malformed: 0,
            serial: 0,
            raw: Vec::new(),
            last_raw: None,
            frags: Reassembler::new(frag::Limits::default()),
            unreachable: IcmpLimiter::new(),
            more: super::addresses::More::default(),
        }
    }

    /// Answers for `ip` too, an address the kernel does not own (`nettool
    /// load --sources`): ARP requests (or, for an IPv6 address, neighbour
    /// solicitations) for it, segments to it (its connections' and, for no
    /// flow, a RST) and echo requests, as for `config.ip` (`config.ipv6`)
    /// when `answer_arp` is set, whatever that says.
    pub fn add_address(&mut self, ip: impl Into<IpAddr>) {
        let ip = ip.into();
        let primary = match ip {
            IpAddr::V4(v4) => v4 == self.config.ip,
            IpAddr::V6(v6) => self.config.ipv6 == Some(v6),
        };
        if !primary {
            self.more.add(ip);
        }
    }

    /// [`Interface::answers_alone`] for an address of either family.
    fn answers_alone_ip(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(ip) => self.answers_alone(ip),
            IpAddr::V6(ip) => self.config.answer_arp || self.more.contains6(ip),
        }
    }

    /// Whether nobody but nettool answers for `ip`, one of ours.
    fn answers_alone(&self, ip: Ipv4Addr) -> bool {
        self.config.answer_arp || self.more.contains(ip)
    }

    /// Hosts a raw flow: from now on it gets what its selector takes, and
    /// its frames go out with the interface's.
    pub fn add_raw(&mut self, flow: Box<dyn RawFlow>) -> RawHandle {
        let selector = flow.selector();
        self.raw.push(RawEntry { selector, flow });
        RawHandle(self.raw.len() - 1)
    }

    /// The raw flow behind `handle`, if it is a `T`.
    pub fn raw<T: RawFlow>(&self, handle: RawHandle) -> Option<&T> {
        let flow: &dyn std::any::Any = &*self.raw.get(handle.0)?.flow;
        flow.downcast_ref()
    }

    /// The raw flow behind `handle`, if it is a `T`, for the application's
    /// calls (what they cause goes out with the next transmit).
    pub fn raw_mut<T: RawFlow>(&mut self, handle: RawHandle) -> Option<&mut T> {
        let flow: &mut dyn std::any::Any = &mut *self.raw.get_mut(handle.0)?.flow;
        flow.downcast_mut()
    }

    /// The raw flow that wrote the frame last returned for sending;
    /// `None` when the interface or a connection did.
    pub fn last_raw(&self) -> Option<RawHandle> {
        self.last_raw
    }

    /// The frame last returned for sending left at `at`: the raw flow that
    /// wrote it is told (a probe's RTT runs from there).
    pub fn sent(&mut self, at: Instant) {
        if let Some(h) = self.last_raw {
            self.raw[h.0].flow.sent(at);
        }
    }

    /// Writes the next frame due at `now` into `buf`: the interface's own
    /// first, then the connections', then the raw flows'. `false` when
    /// nothing is due.
    pub fn poll_transmit_into(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool {
        self.last_raw = None;
        if let Some(frame) = self.poll_own_transmit(now) {
            buf.clear();
            buf.extend_from_slice(&frame);
            return true;
        }
        self.poll_raw_transmit(now, buf)
    }

    fn poll_raw_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool {
        for (i, entry) in self.raw.iter_mut().enumerate() {
            if entry.flow.poll_transmit_into(now, buf) {
                self.last_raw = Some(RawHandle(i));
                return true;
            }
        }
        false
    }

    /// Offers an arrival no connection or listener owns to the raw flows;
    /// whether one took it.
    fn offer_raw(&mut self, now: Instant, inbound: &Inbound<'_>) -> bool {
        self.raw
            .iter_mut()
            .any(|e| offer(&mut *e.flow, &e.selector, now, inbound))
    }

    pub fn config(&self) -> &InterfaceConfig {
        &self.config
    }

    /// Adds an actively opened connection (its SYN goes out with the next
    /// [`Machine::poll_transmit`]). It is the application's until removed.
    pub fn open(&mut self, conn: Connection) -> FlowKey {
        let flow = FlowKey {
            local: conn.local(),
            remote: conn.remote(),
        };
        let hop = self.config.next_hop_mac.unwrap_or(MacAddr::broadcast());
        if let Some(old) = self.keys.find(&flow) {
            self.forget(old);
        }
        let key = self.keys.intern(flow);
        self.flows.insert(key, Flow::new(conn, hop, None));
        self.touch(key);
        flow
    }

    /// The table's key of a flow the application names, if it is there.
    fn key(&self, flow: FlowKey) -> Option<Key> {
        self.keys.find(&flow).filter(|k| self.flows.contains_key(k))
    }

    /// The 4-tuple of a key (for an event): `None` once its flow is gone.
    fn flow_key(&self, key: Key) -> Option<FlowKey> {
        self.keys.get(key)
    }

    /// Passive OPEN on `local`: SYNs to it open connections, up to the
    /// backlog at a time. On a port already listening, only the
    /// configuration changes (for the connections still to come).
    pub fn listen(&mut self, local: impl Into<SocketAddr>, config: ListenerConfig) {
        let local = local.into();
        if let Some(l) = self.listeners.get_mut(&local) {
            l.config = config;
            l.tcp = Arc::new(config.tcp);
            return;
        }
        self.listeners.insert(
            local,
            Listener {
                config,
                tcp: Arc::new(config.tcp),
                half_open: 0,
                order: VecDeque::new(),
                accept: VecDeque::new(),
                stats: ListenerStats::default(),
            },
        );
    }

    /// Stops listening on `local`; its children, accepted or not, go.
    pub fn unlisten(&mut self, local: impl Into<SocketAddr>) {
        let local = local.into();
        if self.listeners.remove(&local).is_none() {
            return;
        }
        let gone: Vec<Key> = self
            .flows
            .iter()
            .filter(|(_, f)| f.child.as_ref().is_some_and(|c| c.listener == local))
            .map(|(k, _)| *k)
            .collect();
        for key in gone {
            self.forget(key);
        }
    }

    /// The oldest established connection waiting on `local`'s listener:
    /// from now on the application's, and its events so far (the
    /// handshake's) come out of [`Machine::poll_event`].
    pub fn accept(&mut self, local: impl Into<SocketAddr>) -> Option<FlowKey> {
        let local = local.into();
        let listener = self.listeners.get_mut(&local)?;
        while let Some(key) = listener.accept.pop_front() {
            let Some(flow) = self.flows.get_mut(&key) else {
                continue;
            };
            let ready = flow
                .child
                .as_ref()
                .is_some_and(|c| c.listener == local && c.established);
            if !ready {
                continue;
            }
            let child = flow.child.take().expect("checked");
            self.events.extend(child.log);
            return self.flow_key(key);
        }
        None
    }

    /// Connections waiting for [`Interface::accept`] on `local`.
    pub fn acceptable(&self, local: impl Into<SocketAddr>) -> usize {
        let local = local.into();
        self.listeners.get(&local).map_or(0, |l| {
            l.accept
                .iter()
                .filter(|k| {
                    self.flows
                        .get(k)
                        .and_then(|f| f.child.as_ref())
                        .is_some_and(|c| c.established && c.listener == local)
                })
                .count()
        })
    }

    /// Half-open connections of `local`'s listener.
    pub fn half_open(&self, local: impl Into<SocketAddr>) -> usize {
        self.listeners.get(&local.into()).map_or(0, |l| l.half_open)
    }

    pub fn listener_stats(&self, local: impl Into<SocketAddr>) -> Option<ListenerStats> {
        self.listeners.get(&local.into()).map(|l| l.stats)
    }

    /// Connections in the table, of every kind.
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    pub fn conn(&self, flow: FlowKey) -> Option<&Connection> {
        self.flows.get(&self.key(flow)?).map(|f| &f.conn)
    }

    /// The connection, for user calls (SEND, RECEIVE, CLOSE, ABORT); what
    /// they cause goes out with the next [`Machine::poll_transmit`].
    pub fn conn_mut(&mut self, flow: FlowKey) -> Option<&mut Connection> {
        let key = self.key(flow)?;
        self.touch(key);
        self.flows.get_mut(&key).map(|f| &mut f.conn)
    }

    /// What crossed the wire on the flow so far.
    pub fn stats(&self, flow: FlowKey) -> Option<Stats> {
        self.flows.get(&self.key(flow)?).map(|f| f.stats)
    }

    /// Takes the flow out of the table (segments for it then go to its
    /// listener, or are answered or left alone as for any other 4-tuple).
    pub fn remove(&mut self, flow: FlowKey) -> Option<Connection> {
        let flow = self.forget(self.key(flow)?)?;
        Some(flow.conn)
    }

    /// Frames for us that failed validation.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// The ICMP port unreachables sent for stray datagrams, and those the
    /// rate limit held back.
    pub fn unreachables(&self) -> unreachable::Stats {
        self.unreachable.stats()
    }

    /// Datagrams whose fragments stopped coming after the first, given up
    /// at their timeout: answered with a time exceeded (RFC 1122 §3.3.2),
    /// on an address no one else answers for.
    fn fragments_given_up(&mut self, now: Instant) {
        while let Some((from, first)) = self.frags.take_expired() {
            // The address the datagram was for: the first fragment's.
            let Ok((quoted, _)) = Ipv4Repr::parse_quoted(&first) else {
                continue;
            };
            let us = (self.config.mac, quoted.dst);
            let hop = self.config.next_hop_mac.unwrap_or(from);
            if self.answers_alone(quoted.dst)
                && let Some(f) = self.unreachable.reassembly_timeout(now, us, hop, &first)
            {
                self.control.push_back(f);
            }
        }
    }

    /// What became of the IPv4 fragments that came for us.
    pub fn reassembly(&self) -> frag::Stats {
        self.frags.stats()
    }

    /// Holds back the flow's pure ACKs instead of sending them: forever
    /// (`None`), or until `until`, when the latest one held is sent. This
    /// is how a user withholds the handshake's third ACK and watches the
    /// peer retransmit its SYN-ACK, or sends it late.
    pub fn hold_acks(&mut self, flow: FlowKey, until: Option<Instant>) {
        let Some(key) = self.key(flow) else {
            return;
        };
        if let Some(f) = self.flows.get_mut(&key) {
            f.hold = until.map_or(AckHold::Forever, AckHold::Until);
        }
        self.touch(key);
    }

    /// Stops holding ACKs; the latest one held goes out with the next
    /// [`Machine::poll_transmit`].
    pub fn release_acks(&mut self, flow: FlowKey, now: Instant) {
        let Some(key) = self.key(flow) else {
            return;
        };
        if let Some(f) = self.flows.get_mut(&key) {
            f.hold = AckHold::Until(now);
        }
        self.touch(key);
    }

    /// Whether the interface has frames of its own to send, or a segment
    /// pulled and not yet sent.
    pub fn has_pending(&self) -> bool {
        !self.control.is_empty() || self.spare.is_some()
    }

    /// Checks the bookkeeping against the flow table (for tests): each
    /// listener's half-open count, each flow's timer entry and place in
    /// the touched queue. Slow: it walks everything.
    pub fn audit(&self) -> Result<(), String> {
        for (local, l) in &self.listeners {
            let half_open = self
                .flows
                .values()
                .filter_map(|f| f.child.as_ref())
                .filter(|c| c.listener == *local && !c.established)
                .count();
            if half_open != l.half_open {
                return Err(format!(
                    "{local}: {} half-open counted, {half_open} in the table",
                    l.half_open
                ));
            }
            if l.half_open > l.config.backlog.max(1) {
                return Err(format!(
                    "{local}: {} half-open, over the backlog",
                    l.half_open
                ));
            }
        }
        for (key, f) in &self.flows {
            if f.touched && !self.touched.contains(key) {
                return Err(format!("{key:?} touched but not queued"));
            }
            if f.touched && f.armed.is_some() {
                return Err(format!("{key:?} touched and armed"));
            }
            if !f.touched && f.armed != f.deadline() {
                return Err(format!(
                    "{key:?} armed for {:?}, due at {:?}",
                    f.armed,
                    f.deadline()
                ));
            }
            if let Some(t) = f.armed
                && !self.timers.contains(&(t, *key))
            {
                return Err(format!("{key:?} armed for {t:?} without a timer"));
            }
        }
        for (t, key) in &self.timers {
            if self.flows.get(key).and_then(|f| f.armed) != Some(*t) {
                return Err(format!("a stale timer for {key:?} at {t:?}"));
            }
        }
        Ok(())
    }

    /// Removes a flow and every trace of it in the queues (lazily: the
    /// touched queue and the listener's queues skip keys that are gone).
    fn forget(&mut self, key: Key) -> Option<Box<Flow>> {
        let flow = self.flows.remove(&key)?;
        if let Some(t) = flow.armed {
            self.timers.remove(&(t, key));
        }
        if self.spare.as_ref().is_some_and(|(k, _)| *k == key) {
            self.spare = None;
        }
        if let Some(child) = &flow.child
            && !child.established
            && let Some(l) = self.listeners.get_mut(&child.listener)
        {
            l.half_open -= 1;
        }
        self.keys.release(key);
        Some(flow)
    }

    /// Queues the flow for transmission and takes it off the timer set
    /// (its deadline is read again when it leaves the queue).
    fn touch(&mut self, key: Key) {
        let Some(flow) = self.flows.get_mut(&key) else {
            return;
        };
        if let Some(t) = flow.armed.take() {
            self.timers.remove(&(t, key));
        }
        if !flow.touched {
            flow.touched = true;
            self.touched.push_back(key);
        }
    }

    /// The flow has nothing more to send: reap it, or arm its timer.
    fn settle(&mut self, key: Key) {
        let Some(flow) = self.flows.get_mut(&key) else {
            return;
        };
        flow.touched = false;
        if let Some(t) = flow.armed.take() {
            self.timers.remove(&(t, key));
        }
        if flow.reapable() {
            let child = flow.child.as_ref().expect("reapable flows are children");
            if let Some(l) = self.listeners.get_mut(&child.listener)
                && !child.established
            {
                l.stats.expired += 1;
            }
            self.forget(key);
            return;
        }
        if let Some(t) = flow.deadline() {
            flow.armed = Some(t);
            self.timers.insert((t, key));
        }
    }

    /// With tracing on, reports `seg` as sent (for flow `key`, if any).
    fn trace_out(&mut self, now: Instant, key: Option<Key>, seg: Segment) {
        if self.config.trace {
            let what = HostEvent::Segment {
                dir: Direction::Out,
                seg,
            };
            self.push_event(now, key, what);
        }
    }

    fn push_event(&mut self, at: Instant, key: Option<Key>, what: HostEvent) {
        let ev = Event {
            at,
            flow: key.and_then(|k| self.flow_key(k)),
            what,
        };
        let child = key
            .and_then(|k| self.flows.get_mut(&k))
            .and_then(|f| f.child.as_mut());
        match child {
            None => self.events.push_back(ev),
            Some(child) => {
                if let HostEvent::Tcp(TcpEvent::Connected) = ev.what {
                    child.established = true;
                    let (local, key) = (child.listener, key.expect("a child has a key"));
                    // What nc acts on: never cut, whatever came before.
                    child.log.push(ev);
                    if let Some(l) = self.listeners.get_mut(&local) {
                        l.half_open -= 1;
                        l.stats.established += 1;
                        l.accept.push_back(key);
                    }
                    return;
                }
                // ICMP errors come from anyone, as many as they send: a
                // child keeps only the latest (the application acts on
                // one), and the ones it replaces count as dropped.
                if let HostEvent::Icmp { .. } = ev.what {
                    if let Some(at) = child
                        .log
                        .iter()
                        .position(|e| matches!(e.what, HostEvent::Icmp { .. }))
                    {
                        child.log.remove(at);
                        if let Some(l) = self.listeners.get_mut(&child.listener) {
                            l.stats.events_dropped += 1;
                        }
                    }
                    child.log.push(ev);
                    return;
                }
                // Traces may be cut short; what the application acts on
                // (state changes, the handshake's completion, the peer's
                // FIN) never is, and the state machine bounds how many of
                // those come.
                let trace = matches!(
                    ev.what,
                    HostEvent::Segment { .. }
                        | HostEvent::Withheld { .. }
                        | HostEvent::Tcp(
                            TcpEvent::SegmentDropped { .. } | TcpEvent::OutOfOrderQueued { .. }
                        )
                );
                if child.log.len() < CHILD_EVENTS || !trace {
                    child.log.push(ev);
                } else if let Some(l) = self.listeners.get_mut(&child.listener) {
                    l.stats.events_dropped += 1;
                }
            }
        }
    }

    fn drain_tcp_events(&mut self, now: Instant, key: Key) {
        while let Some(ev) = self.flows.get_mut(&key).and_then(|f| f.conn.poll_event()) {
            self.push_event(now, Some(key), HostEvent::Tcp(ev));
        }
    }

    /// The flow's next segment: one pulled earlier that did not fit a
    /// super-frame, else the engine's next.
    fn next_segment(&mut self, now: Instant, key: Key) -> Option<Segment> {
        if self.spare.as_ref().is_some_and(|(k, _)| *k == key) {
            return self.spare.take().map(|(_, s)| s);
        }
        let seg = self.flows.get_mut(&key)?.conn.poll_transmit(now);
        self.drain_tcp_events(now, key);
        seg
    }

    /// The flow's next frame to send, holding back pure ACKs as asked.
    fn flow_transmit(&mut self, now: Instant, key: Key) -> Option<Vec<u8>> {
        let flow = self.flows.get_mut(&key)?;
        if let AckHold::Until(t) = flow.hold
            && now >= t
        {
            flow.hold = AckHold::Off;
            if let Some(seg) = flow.held.take() {
                return Some(self.frame(now, key, *seg));
            }
        }
        loop {
            let seg = self.next_segment(now, key)?;
            let flow = self.flows.get_mut(&key)?;
            if flow.hold != AckHold::Off && is_pure_ack(&seg) {
                flow.held = Some(Box::new(seg.clone()));
                self.push_event(now, Some(key), HostEvent::Withheld { seg });
                continue;
            }
            if !seg.payload.is_empty() {
                // Data carries the same acknowledgment, which supersedes a
                // held one. (A session sends data only once ACKs flow.)
                flow.held = None;
            }
            return Some(self.frame(now, key, seg));
        }
    }

    fn next_hop(&self, key: Key) -> MacAddr {
        self.config
            .next_hop_mac
            .or_else(|| self.flows.get(&key).map(|f| f.next_hop))
            .unwrap_or(MacAddr::broadcast())
    }

    fn frame(&mut self, now: Instant, key: Key, seg: Segment) -> Vec<u8> {
        let hop = self.next_hop(key);
        if let Some(f) = self.flows.get_mut(&key) {
            f.account(&seg);
        }
        let frame = seg.to_frame(self.config.mac, hop);
        self.trace_out(now, Some(key), seg);
        frame
    }

    /// Like [`Machine::poll_transmit`] (for connections: raw flows' frames
    /// go out through `poll_transmit` and [`Interface::poll_transmit_into`]
    /// only), but runs of consecutive full-sized
    /// data segments of one flow come back as one TCP super-frame of at
    /// most `max_payload` bytes, with the segment size to cut it into
    /// (`Some(mss)`), for a link that segments in the kernel
    /// ([`Link::send_segmented`](crate::link::Link::send_segmented)). The
    /// kernel cuts it into exactly the segments the engine produced: each
    /// gets the same header with its own sequence number, PSH and FIN
    /// only on the last, and its checksum finished.
    pub fn poll_transmit_coalesced(
        &mut self,
        now: Instant,
        max_payload: usize,
    ) -> Option<(Vec<u8>, Option<u16>)> {
        if let Some(frame) = self.control.pop_front() {
            return Some((frame, None));
        }
        loop {
            let key = match &self.spare {
                Some((k, _)) => *k,
                None => *self.touched.front()?,
            };
            if self.spare.is_none() && !self.flows.get(&key).is_some_and(|f| f.touched) {
                self.touched.pop_front(); // gone, or a duplicate entry
                continue;
            }
            let holding = self.flows.get(&key).is_some_and(|f| f.hold != AckHold::Off);
            if holding {
                match self.flow_transmit(now, key) {
                    Some(f) => return Some((f, None)),
                    None => {
                        self.pop_touched(key);
                        continue;
                    }
                }
            }
            let Some(first) = self.next_segment(now, key) else {
                self.pop_touched(key);
                continue;
            };
            return Some(self.coalesce(now, key, first, max_payload));
        }
    }

    /// The flow at the front of the touched queue has nothing more to send.
    fn pop_touched(&mut self, key: Key) {
        if self.touched.front() == Some(&key) {
            self.touched.pop_front();
            shrink_if_drained(&mut self.touched);
        }
        self.settle(key);
    }

    fn coalesce(
        &mut self,
        now: Instant,
        key: Key,
        first: Segment,
        max_payload: usize,
    ) -> (Vec<u8>, Option<u16>) {
        let coalescible = |s: &Segment| {
            s.ack.is_some()
                && !s.payload.is_empty()
                && !s.flags.contains(Flags::SYN)
                && !s.flags.contains(Flags::RST)
                && !s.flags.contains(Flags::URG)
        };
        if !coalescible(&first) || first.flags.contains(Flags::FIN) {
            return (self.frame(now, key, first), None);
        }
        let mss = first.payload.len();
        let mut parts = vec![first];
        let mut total = mss;
        loop {
            let last = parts.last().expect("at least the first");
            if last.flags.contains(Flags::FIN) || last.payload.len() < mss {
                break; // only the last piece may be short or carry FIN
            }
            let Some(next) = self.next_segment(now, key) else {
                break;
            };
            let fits = coalescible(&next)
                && next.src == last.src
                && next.dst == last.dst
                && next.seq == last.seq + last.payload.len()
                && next.ack == last.ack
                && next.window == last.window
                && next.options == last.options
                && next.payload.len() <= mss
                && total + next.payload.len() <= max_payload;
            if !fits {
                self.spare = Some((key, next));
                break;
            }
            total += next.payload.len();
            parts.push(next);
        }
        if parts.len() == 1 {
            let seg = parts.pop().expect("one part");
            return (self.frame(now, key, seg), None);
        }
        if let Some(f) = self.flows.get_mut(&key) {
            for part in &parts {
                f.account(part);
            }
        }
        let mut combined = parts[0].clone();
        combined.payload.reserve(total - mss);
        for part in &parts[1..] {
            combined.payload.extend_from_slice(&part.payload);
            combined.flags = combined.flags | part.flags;
        }
        let frame = combined.to_frame_with(
            self.config.mac,
            self.next_hop(key),
            ChecksumFill::PseudoHeader,
        );
        self.trace_out(now, Some(key), combined);
        (frame, Some(mss as u16))
    }

    /// An echo request no raw flow took, to an address the kernel does
    /// not own: answered as a host would (RFC 1122 §3.2.2.6), the data
    /// echoed back. Other queries are left unanswered, as Linux leaves
    /// them.
    fn answer_query(&mut self, src_mac: MacAddr, ip: &Ipv4Repr, q: &IcmpQuery<'_>) {
        if !self.answers_alone(ip.dst) || q.kind != QueryKind::EchoRequest {
            return;
        }
        let reply = IcmpQuery {
            kind: QueryKind::EchoReply,
            ..*q
        };
        let out = Ipv4Repr::new(ip.dst, ip.src, IpProtocol::Icmp, reply.buffer_len());
        let mut frame = vec![0u8; crate::wire::ethernet::HEADER_LEN + out.total_len()];
        crate::wire::ethernet::EthernetRepr {
            src: self.config.mac,
            dst: self.config.next_hop_mac.unwrap_or(src_mac),
            protocol: crate::wire::ethernet::Protocol::Ipv4,
        }
        .emit(&mut frame);
        out.emit(&mut frame[crate::wire::ethernet::HEADER_LEN..]);
        reply.emit(
            &mut frame[crate::wire::ethernet::HEADER_LEN + crate::wire::ipv4::HEADER_LEN..],
            false,
        );
        self.control.push_back(frame);
    }

    /// An echo request to our IPv6 address, when nobody else answers for
    /// it: an echo reply from that address with the request's identifier,
    /// sequence number and data, unmodified (RFC 4443 §4.2). Not rate
    /// limited, as Linux does not limit its echo replies.
    fn answer_echo6(&mut self, src_mac: MacAddr, ip: &Ipv6Repr, echo: &Echo6<'_>) {
        if echo.reply || !self.answers_alone6(ip.dst) {
            return;
        }
        let reply = Icmpv6Repr::EchoReply {
            ident: echo.ident,
            seq: echo.seq,
            data: echo.data.to_vec(),
        };
        let hop = self.config.next_hop_mac.unwrap_or(src_mac);
        let frame = reply.frame((self.config.mac, hop), (ip.dst, ip.src));
        self.control.push_back(frame);
    }

    /// Whether `ip` is our IPv6 address and nobody but nettool answers for
    /// it.
    fn answers_alone6(&self, ip: Ipv6Addr) -> bool {
        self.config.answer_arp && self.config.ipv6 == Some(ip)
    }

    fn bad(&mut self, now: Instant, why: WireError) {
        self.malformed += 1;
        self.push_event(now, None, HostEvent::Malformed { why });
    }

    fn identity(&self) -> Identity {
        Identity {
            ip: self.config.ip,
            mac: self.config.mac,
            ipv6: self.config.ipv6,
        }
    }

    fn handle_arp(&mut self, now: Instant, arp: &ArpRepr) {
        let ours = arp.target_ip == self.config.ip || self.more.contains(arp.target_ip);
        if !ours || !self.answers_alone(arp.target_ip) {
            return;
        }
        let us = Identity {
            ip: arp.target_ip,
            ..self.identity()
        };
        let Some(reply) = arp_reply(&us, arp) else {
            return;
        };
        self.control.push_back(reply);
        self.push_event(
            now,
            None,
            HostEvent::ArpAnswered {
                asker: arp.sender_ip,
                asker_mac: arp.sender_mac,
            },
        );
    }

    /// A Neighbor Solicitation for our IPv6 address, when nobody else
    /// answers for it: answered ([`super::neighbor`]); whether it was.
    fn answer_solicitation(&mut self, now: Instant, frame: &[u8], checksum: RxChecksum) -> bool {
        let Some(ours) = self
            .more
            .solicited(frame)
            .or(self.config.ipv6.filter(|_| self.config.answer_arp))
        else {
            return false;
        };
        let verify = !checksum.kernel_vouches();
        let Some(answer) = super::neighbor::answer(self.config.mac, ours, frame, verify) else {
            return false;
        };
        self.control.push_back(answer.frame);
        let what = HostEvent::NeighborAnswered {
            asker: answer.asker,
            asker_mac: answer.asker_mac,
        };
        self.push_event(now, None, what);
        true
    }

    /// A segment (`inbound`, parsed as `tcp`): a connection's, a
    /// listener's, a raw flow's, or nobody's.
    fn handle_tcp(
        &mut self,
        now: Instant,
        (src_mac, flow, tcp): (MacAddr, FlowKey, &TcpRepr<'_>),
        inbound: &Inbound<'_>,
    ) {
        if let Some(key) = self.key(flow) {
            self.flow_segment(now, key, flow, tcp);
        } else if self.listeners.contains_key(&flow.local) {
            self.listener_segment(now, src_mac, flow, tcp);
        } else if !self.offer_raw(now, inbound) && self.answers_alone_ip(flow.local.ip()) {
            // Nobody else owns the address: answer as a closed port.
            self.reset(now, src_mac, flow, tcp);
        }
        // Otherwise another flow: the kernel's business, not ours.
    }

    /// The next frame of the interface's own or of a connection.
    fn poll_own_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if let Some(frame) = self.control.pop_front() {
            return Some(frame);
        }
        loop {
            let key = *self.touched.front()?;
            if !self.flows.get(&key).is_some_and(|f| f.touched) {
                self.touched.pop_front(); // gone, or a duplicate entry
                continue;
            }
            if let Some(frame) = self.flow_transmit(now, key) {
                return Some(frame);
            }
            self.pop_touched(key);
        }
    }

    /// A segment for the flow `key` (whose 4-tuple is `flow`).
    fn flow_segment(&mut self, now: Instant, key: Key, flow: FlowKey, tcp: &TcpRepr<'_>) {
        if self.accept_queue_full_for(key, tcp) {
            if let Some(l) = self.flows[&key]
                .child
                .as_ref()
                .and_then(|c| self.listeners.get_mut(&c.listener))
            {
                l.stats.acks_dropped += 1;
            }
            return;
        }
        let trace = self.config.trace;
        let entry = self.flows.get_mut(&key).expect("checked");
        entry.stats.segments_received += 1;
        entry.stats.bytes_received += tcp.payload.len() as u64;
        if trace {
            let seg = Segment::from_repr(flow.remote.ip(), flow.local.ip(), tcp);
            self.push_event(
                now,
                Some(key),
                HostEvent::Segment {
                    dir: Direction::In,
                    seg,
                },
            );
        }
        let entry = self.flows.get_mut(&key).expect("checked");
        let unread = entry.conn.recv_queue_len();
        entry.conn.handle_segment_from(now, flow.remote.ip(), tcp);
        let readable = unread == 0 && entry.conn.recv_queue_len() > 0;
        self.drain_tcp_events(now, key);
        if readable {
            self.push_event(now, Some(key), HostEvent::Readable);
        }
        self.touch(key);
    }

    /// Whether `tcp` would complete a half-open child's handshake while
    /// its listener's accept queue is full: the backlog bounds the queue,
    /// so the ACK is dropped, as if lost (a RST still ends the child).
    fn accept_queue_full_for(&self, key: Key, tcp: &TcpRepr<'_>) -> bool {
        let flow = &self.flows[&key];
        let Some(child) = flow.child.as_ref() else {
            return false;
        };
        if child.established
            || tcp.ack.is_none()
            || tcp.flags.contains(Flags::RST)
            || flow.conn.state() != State::SynReceived
        {
            return false;
        }
        let Some(l) = self.listeners.get(&child.listener) else {
            return false;
        };
        let backlog = l.config.backlog.max(1);
        l.accept.len() >= backlog && self.acceptable(child.listener) >= backlog
    }

    /// A segment for no connection, to a listening port: RFC 9293
    /// §3.10.7.2 (LISTEN), with a connection of its own for each SYN.
    fn listener_segment(
        &mut self,
        now: Instant,
        src_mac: MacAddr,
        flow: FlowKey,
        tcp: &TcpRepr<'_>,
    ) {
        if tcp.flags.contains(Flags::RST) {
            return; // first, a RST: ignore it
        }
        if tcp.ack.is_some() {
            return self.reset(now, src_mac, flow, tcp); // second, an ACK: <SEQ=SEG.ACK><CTL=RST>
        }
        let local = flow.local;
        if !tcp.flags.contains(Flags::SYN) {
            return; // neither: drop it
        }
        let listener = self.listeners.get_mut(&local).expect("checked");
        let backlog = listener.config.backlog.max(1);
        if listener.accept.len() >= backlog && self.acceptable(local) >= backlog {
            // Nothing to make room with: the client retries its SYN.
            self.listeners
                .get_mut(&local)
                .expect("checked")
                .stats
                .refused += 1;
            return;
        }
        if self.listeners[&local].half_open >= backlog {
            self.evict_oldest(local);
        }
        let key = self.keys.intern(flow);
        let listener = self.listeners.get_mut(&local).expect("checked");
        listener.stats.syns += 1;
        listener.half_open += 1;
        self.serial += 1;
        let serial = self.serial;
        listener.order.push_back((key, serial));
        if listener.order.len() > 2 * backlog {
            // Sweep the entries of children that completed or ended.
            let flows = &self.flows;
            listener.order.retain(|(k, s)| {
                flows
                    .get(k)
                    .and_then(|f| f.child.as_ref())
                    .is_some_and(|c| c.serial == *s && !c.established)
            });
        }
        if listener.accept.len() > 2 * backlog {
            let flows = &self.flows;
            listener
                .accept
                .retain(|k| flows.get(k).is_some_and(|f| f.child.is_some()));
        }
        let mut conn = Connection::listen(listener.tcp.clone(), local, listener.config.iss);
        // Its CLOSED → LISTEN is the engine's way to a passive OPEN; the
        // listener is what LISTENs, so the child's story starts when it
        // leaves LISTEN.
        while conn.poll_event().is_some() {}
        let child = Box::new(Child {
            listener: local,
            serial,
            established: false,
            log: Vec::new(),
        });
        self.flows
            .insert(key, Flow::new(conn, src_mac, Some(child)));
        self.flow_segment(now, key, flow, tcp);
    }

    /// Makes room in a full half-open queue: the oldest half-open child
    /// goes, silently.
    fn evict_oldest(&mut self, local: SocketAddr) {
        loop {
            let Some(listener) = self.listeners.get_mut(&local) else {
                return;
            };
            let Some((key, serial)) = listener.order.pop_front() else {
                return;
            };
            let live = self
                .flows
                .get(&key)
                .and_then(|f| f.child.as_ref())
                .is_some_and(|c| c.serial == serial && !c.established);
            if live {
                listener.stats.evicted += 1;
                self.forget(key);
                return;
            }
        }
    }

    /// RFC 9293 §3.5.2: a RST for a segment that belongs to no connection.
    /// It goes back the way the segment came (`src_mac`) unless the next
    /// hop is known.
    fn reset(&mut self, now: Instant, src_mac: MacAddr, key: FlowKey, tcp: &TcpRepr<'_>) {
        let Some(rst) = tcp::rst_for(key.remote.ip(), key.local.ip(), tcp) else {
            return;
        };
        let hop = self.config.next_hop_mac.unwrap_or(src_mac);
        self.control.push_back(rst.to_frame(self.config.mac, hop));
        self.trace_out(now, None, rst);
    }

    /// An ICMPv6 error quoting one of our connections (one quoting a raw
    /// flow's packet is offered to the raw flows). RFC 8201 §4: a packet too big lowers
    /// the flow's path MTU (never below IPv6's minimum of 1280), and
    /// what was in flight goes again in segments that fit; every error
    /// is reported to the flow's application, which decides what a hard
    /// one means (RFC 5461: an unreachable is no reason to abort a
    /// connection that is under way).
    fn handle_icmp6(&mut self, now: Instant, from: Ipv6Addr, kind: Icmpv6Kind, quoted: FlowKey) {
        let Some(key) = self.key(quoted) else {
            return;
        };
        if let Icmpv6Kind::PacketTooBig(mtu) = kind {
            let mtu = usize::try_from(mtu).unwrap_or(usize::MAX).max(1280);
            self.lower_path_mtu(now, key, mtu);
        }
        let (from, kind) = (from.into(), ErrorKind::V6(kind));
        self.push_event(now, Some(key), HostEvent::Icmp { from, kind });
    }

    /// A router said the flow's path carries at most `mtu` bytes: the
    /// engine cuts its segments to fit and resends at once what was too
    /// big (see [`Connection::lower_path_mtu`]), so the flow is touched.
    fn lower_path_mtu(&mut self, now: Instant, key: Key, mtu: usize) {
        if let Some(flow) = self.flows.get_mut(&key) {
            flow.conn.lower_path_mtu(now, mtu);
        }
        self.drain_tcp_events(now, key);
        self.touch(key);
    }

    /// Fires the timers of every flow due at `now`.
    fn fire(&mut self, now: Instant, key: Key) {
        let Some(flow) = self.flows.get_mut(&key) else {
            return;
        };
        if flow.conn.poll_timeout().is_some_and(|t| t <= now) {
            flow.conn.handle_timeout(now);
            self.drain_tcp_events(now, key);
        }
        self.touch(key);
    }
}

/// The next-hop MTU of an IPv4 "fragmentation needed" (RFC 1191 §4: the
/// low half of the ICMP header's second word), raised to Linux's floor of
/// 552 bytes (`min_pmtu`) so a forged small value cannot cut segments to
/// nothing; `None` for any other error, or from a router that predates
/// RFC 1191 and says 0.
fn frag_needed_mtu(kind: IcmpKind, icmp: &[u8]) -> Option<usize> {
    if kind != IcmpKind::Unreachable(4) {
        return None;
    }
    let mtu = u16::from_be_bytes([*icmp.get(6)?, *icmp.get(7)?]);
    (mtu != 0).then(|| usize::from(mtu).max(552))
}

impl Machine for Interface {
    type Event = Event;

    fn handle_frame(&mut self, now: Instant, frame: &[u8], checksum: RxChecksum) {
        if self.answer_solicitation(now, frame, checksum) {
            return;
        }
        let us = self.more.identity_for(self.identity(), frame);
        match self.frags.take_frame(now, &us, frame) {
            Taken::NotAFragment => {}
            Taken::Held => return self.fragments_given_up(now),
            Taken::Refused => return self.bad(now, WireError::Malformed("IPv4 fragment")),
            // No kernel vouched for the whole: its checksums are verified.
            Taken::Whole(whole) => return self.handle_frame(now, &whole, RxChecksum::Unknown),
        }
        let Some(inbound) = demux(&us, frame, checksum.tcp_mode()) else {
            return;
        };
        match &inbound {
            Inbound::Arp(arp) => self.handle_arp(now, arp),
            Inbound::Tcp {
                src_mac,
                flow,
                tcp: Ok(tcp),
                ..
            } => self.handle_tcp(now, (*src_mac, *flow, tcp), &inbound),
            Inbound::Tcp { tcp: Err(e), .. } => {
                self.bad(now, *e);
                // A raw flow counts what its peer sent that did not verify.
                self.offer_raw(now, &inbound);
            }
            Inbound::Tcp6 {
                src_mac,
                flow,
                tcp: Ok(tcp),
                ..
            } => self.handle_tcp(now, (*src_mac, *flow, tcp), &inbound),
            Inbound::Tcp6 { tcp: Err(e), .. } => {
                self.bad(now, *e);
                self.offer_raw(now, &inbound);
            }
            Inbound::Icmp6 {
                from,
                error,
                quoted,
            } if error.protocol == NextHeader::Tcp && self.key(*quoted).is_some() => {
                self.handle_icmp6(now, *from, error.kind, *quoted)
            }
            // A raw flow's (a trace's), or nobody's.
            Inbound::Icmp6 { .. } => {
                self.offer_raw(now, &inbound);
            }
            // A UDP endpoint's, or a closed port's on an address nettool
            // alone answers for.
            Inbound::Udp6 { udp: Ok(_), ip, .. } => {
                if !self.offer_raw(now, &inbound) && self.answers_alone6(ip.dst) {
                    let us = (self.config.mac, ip.dst);
                    let hop = self.config.next_hop_mac;
                    if let Some(f) = self.unreachable.port_unreachable6(now, us, hop, frame) {
                        self.control.push_back(f);
                    }
                }
            }
            // A ping's reply, or a request to an address nettool alone
            // answers for.
            Inbound::Echo6 {
                src_mac, ip, echo, ..
            } => {
                if !self.offer_raw(now, &inbound) {
                    self.answer_echo6(*src_mac, ip, echo);
                }
            }
            Inbound::Udp6 { udp: Err(e), .. } => {
                self.bad(now, *e);
                self.offer_raw(now, &inbound);
            }
            Inbound::Malformed(e) => self.bad(now, *e),
            Inbound::Icmp {
                from,
                error,
                quoted,
                body,
            } if error.protocol == IpProtocol::Tcp && self.key(*quoted).is_some() => {
                let key = self.key(*quoted);
                if let (Some(k), Some(mtu)) = (key, frag_needed_mtu(error.kind, body)) {
                    self.lower_path_mtu(now, k, mtu);
                }
                let what = HostEvent::Icmp {
                    from: (*from).into(),
                    kind: ErrorKind::V4(error.kind),
                };
                self.push_event(now, key, what);
            }
            Inbound::Icmp { .. } => {
                self.offer_raw(now, &inbound);
            }
            Inbound::Udp { udp: Ok(_), ip, .. } => {
                if !self.offer_raw(now, &inbound) && self.answers_alone(ip.dst) {
                    // Nobody else owns the address: answer as a closed port.
                    let us = (self.config.mac, ip.dst);
                    let hop = self.config.next_hop_mac;
                    if let Some(f) = self.unreachable.port_unreachable(now, us, hop, frame) {
                        self.control.push_back(f);
                    }
                }
            }
            Inbound::Udp { udp: Err(e), .. } => {
                self.bad(now, *e);
                self.offer_raw(now, &inbound);
            }
            Inbound::Query {
                src_mac, ip, query, ..
            } => {
                if !self.offer_raw(now, &inbound) {
                    self.answer_query(*src_mac, ip, query);
                }
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<Key> = self
            .touched
            .iter()
            .copied()
            .filter(|k| {
                self.flows
                    .get(k)
                    .is_some_and(|f| f.touched && f.deadline().is_some_and(|t| t <= now))
            })
            .collect();
        for key in due {
            self.fire(now, key);
        }
        while let Some(&(t, key)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            if let Some(f) = self.flows.get_mut(&key) {
                f.armed = None;
            }
            self.fire(now, key);
        }
        // A raw flow fires only what is due (asking each first would cost
        // a flood's prober a second look at its oldest probe).
        for entry in &mut self.raw {
            entry.flow.handle_timeout(now);
        }
        self.frags.handle_timeout(now);
        self.fragments_given_up(now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.last_raw = None;
        if let Some(frame) = self.poll_own_transmit(now) {
            return Some(frame);
        }
        let mut buf = Vec::new();
        self.poll_raw_transmit(now, &mut buf).then_some(buf)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let timers = self.timers.first().map(|(t, _)| *t);
        let raw = self.raw.iter().filter_map(|e| e.flow.poll_timeout());
        self.touched
            .iter()
            .filter_map(|k| self.flows.get(k))
            .filter(|f| f.touched)
            .filter_map(|f| f.deadline())
            .chain(timers)
            .chain(raw)
            .chain(self.frags.poll_timeout())
            .min()
    }

    fn poll_event(&mut self) -> Option<Event> {
        let ev = self.events.pop_front();
        shrink_if_drained(&mut self.events);
        ev
    }

    /// Done when nothing is left: no connection, no listener, nothing to
    /// send, and every raw flow done.
    fn is_done(&self) -> bool {
        self.flows.is_empty()
            && self.listeners.is_empty()
            && !self.has_pending()
            && self.raw.iter().all(|e| e.flow.is_done())
    }

    /// The raw flows' last words (a trace's RST for the probe still
    /// waiting); the connections' are their application's to say.
    fn abort(&mut self, now: Instant) {
        for entry in &mut self.raw {
            entry.flow.abort(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What one idle connection costs: its entry in the table (a key and
    /// a pointer), and the flow behind it, the engine's state included
    /// (its buffers and recovery state are allocated only while in use).
    #[test]
    fn a_table_entry_stays_small() {
        let entry = std::mem::size_of::<(Key, Box<Flow>)>();
        let flow = std::mem::size_of::<Flow>();
        println!("table entry {entry} bytes, boxed flow {flow} bytes");
        assert!(entry <= 24, "table entry {entry} bytes");
        // 792 bytes, the engine's and the interface's: with the table's
        // and the timer set's share, 876 bytes per idle IPv4 connection
        // (tests/load_sim.rs; an IPv6 one keeps its addresses in two
        // small boxes more). The bound catches growth.
        assert!(flow <= 800, "flow {flow} bytes");
        // The timer set's entries, as small as the table's.
        assert!(std::mem::size_of::<(Instant, Key)>() <= 24);
    }

    #[test]
    fn the_stream_counts_a_retransmitted_byte_once() {
        let stats = Stats {
            bytes_sent: 3000,
            bytes_retransmitted: 1000,
            ..Stats::default()
        };
        assert_eq!(stats.stream_bytes_sent(), 2000);
    }
}
