//! `nettool probe` as a sans-IO machine: probes on a schedule, replies
//! matched to the probe they answer, half-open connections reset, RTT
//! statistics.
//!
//! **Matching.** A reply belongs to a probe when its ports mirror the
//! probe's and its numbers answer it: a reply carrying ACK acknowledges
//! exactly the probe's `SEQ + SEG.LEN` (a SYN-ACK, or a RST,ACK to a probe
//! without ACK); a RST without ACK carries the probe's acknowledgment
//! number as its `SEQ` (RFC 9293 §3.10.7.1, the answer to a probe with
//! ACK). An ICMP error matches through the ports and sequence number of
//! the header it quotes. When several outstanding probes expect the same
//! answer (a fixed `--seq`), the oldest unanswered one takes it.
//!
//! **Numbering.** A drawn sequence number is the probe's index through a
//! keyed permutation of 32-bit numbers ([`SeqCipher`]): unpredictable on
//! the wire, yet an answer's acknowledgment number leads straight back to
//! its probe, with no table of expected answers (a flood keeps hundreds
//! of thousands of probes outstanding). Only answers many probes could
//! expect alike (a fixed `--seq`, the SEQ of a RST to an ACK probe) go
//! through [`Waiting`]. The RTT
//! runs from the probe's send time, which the driver corrects to the
//! moment the frame left ([`RawFlow::sent`]).
//!
//! **Expiry.** A probe unanswered `wait` after it left counts as lost; a
//! reply after that is reported as unmatched. The run ends when every
//! probe was sent and each has been answered or has expired.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::stats::{RttStats, loss_percent};
use super::waiting::Waiting;
use super::{Template, mix, reset_for};
use crate::machine::{RawEvents, RawFlow, Selector};
use crate::tcp::Segment;
use crate::time::{Instant, earliest};
use crate::wire::SeqNum;
use crate::wire::icmp::{ErrorKind, IcmpError};
use crate::wire::icmpv6::Icmpv6Error;
use crate::wire::ipv4::Ipv4Repr;
use crate::wire::ipv6::Ipv6Repr;
use crate::wire::tcp::{Flags, TcpRepr};

/// What to send, how often, and how long to wait for answers.
#[derive(Debug, Clone)]
pub struct Config {
    pub template: Template,
    /// The source port of the first probe.
    pub sport: u16,
    /// Each probe one source port higher (wrapping back to `sport` after
    /// 65535), so each is a flow of its own.
    pub sport_inc: bool,
    /// Destination ports, used in turn.
    pub dports: Vec<u16>,
    /// Probes to send; `None` until stopped.
    pub count: Option<u64>,
    /// Spacing of probes (ignored by a flood).
    pub interval: Duration,
    /// How long a probe waits for its answer.
    pub wait: Duration,
    /// A fixed sequence number; otherwise each probe draws its own.
    pub seq: Option<u32>,
    /// A fixed IP identification; otherwise it counts up from a random start.
    pub id: Option<u16>,
    /// Seeds the drawn sequence numbers and identifications.
    pub seed: u64,
    /// Send as fast as the caller asks for frames, without waiting.
    pub flood: bool,
    /// Report every probe and reply as an event (off for a flood: only
    /// the statistics are kept).
    pub report: bool,
    /// Answer a SYN-ACK with RST, so no half-open connection is left.
    pub reset_open: bool,
}

/// What a reply says about the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// SYN-ACK: something listens.
    Open,
    /// RST to a SYN: nothing listens.
    Closed,
    /// RST to anything else: no such connection (and nothing filtered
    /// the probe on the way).
    Reset,
    /// Any other answer.
    Answered,
}

impl Meaning {
    pub fn of(flags: Flags, ack: bool) -> Meaning {
        if flags.contains(Flags::SYN) && ack {
            Meaning::Open
        } else if flags.contains(Flags::RST) {
            Meaning::Closed
        } else {
            Meaning::Answered
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Meaning::Open => "port open",
            Meaning::Closed => "port closed",
            Meaning::Reset => "reset: no such connection (not filtered)",
            Meaning::Answered => "answered",
        }
    }
}

/// What happened, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Probe number `index` (from 1) left.
    Sent {
        index: u64,
        sport: u16,
        dport: u16,
        seq: u32,
        id: u16,
    },
    /// A TCP answer to probe `index`, with its TTL (IPv6: hop limit).
    Reply {
        index: u64,
        rtt: Duration,
        seg: Segment,
        ttl: u8,
        meaning: Meaning,
    },
    /// An ICMP error about one of our probes (`index` when it could be
    /// matched), from the host or a router on the way.
    Icmp {
        index: Option<u64>,
        rtt: Option<Duration>,
        from: IpAddr,
        kind: ErrorKind,
    },
    /// A segment from the target to our ports that answers no outstanding
    /// probe (a retransmitted SYN-ACK, a reply after `wait`).
    Unmatched { seg: Segment },
    /// nettool reset a connection a SYN-ACK opened.
    ResetSent { sport: u16, dport: u16, seq: u32 },
}

/// Counts so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    pub sent: u64,
    /// Probes that got an answer (TCP or ICMP).
    pub answered: u64,
    pub rtt: RttStats,
    pub unmatched: u64,
    pub resets_sent: u64,
    /// Frames for our address that did not validate (bad checksums included).
    pub malformed: u64,
}

impl Summary {
    pub fn loss_percent(&self) -> f64 {
        loss_percent(self.sent, self.answered)
    }

    /// Probes sent per second over `elapsed` (a run too short to measure
    /// counts as a nanosecond, so the rate stays finite).
    pub fn per_second(&self, elapsed: Duration) -> f64 {
        self.sent as f64 / elapsed.as_secs_f64().max(1e-9)
    }
}

/// Matching keys: (kind, our port, their port, number). Kind `false`:
/// the ACK a reply must carry; `true`: the SEQ a RST without ACK carries.
type Key = (bool, u16, u16, u32);

/// An outstanding probe; its index is its place in [`Prober::order`].
struct Pending {
    sent_at: Instant,
    answered: bool,
}

/// A keyed permutation of the 32-bit numbers: a four-round Feistel
/// network on 16-bit halves. Any round function makes a Feistel network
/// invertible; a keyed mixing one makes consecutive inputs look unrelated.
#[derive(Debug, Clone, Copy)]
pub struct SeqCipher {
    keys: [u64; 4],
}

impl SeqCipher {
    pub fn new(seed: u64) -> SeqCipher {
        SeqCipher {
            keys: std::array::from_fn(|i| mix(seed ^ (0x5e9 + i as u64))),
        }
    }

    fn round(half: u16, key: u64) -> u16 {
        mix(u64::from(half) ^ key) as u16
    }

    pub fn encrypt(&self, x: u32) -> u32 {
        let (mut l, mut r) = ((x >> 16) as u16, x as u16);
        for &k in &self.keys {
            (l, r) = (r, l ^ Self::round(r, k));
        }
        (u32::from(l) << 16) | u32::from(r)
    }

    pub fn decrypt(&self, y: u32) -> u32 {
        let (mut l, mut r) = ((y >> 16) as u16, y as u16);
        for &k in self.keys.iter().rev() {
            (l, r) = (r ^ Self::round(l, k), l);
        }
        (u32::from(l) << 16) | u32::from(r)
    }
}

/// The probe machine (see the module docs).
pub struct Prober {
    config: Config,
    next_index: u64,
    next_send: Instant,
    /// Every probe from the oldest still waiting, in order of index.
    order: VecDeque<Pending>,
    /// The index of `order`'s front (`next_index` when it is empty).
    first: u64,
    cipher: SeqCipher,
    by_key: Waiting<Key>,
    /// Destination ports, as a lookup table.
    dport_set: Vec<bool>,
    resets: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    summary: Summary,
    id_base: u16,
    last_was_probe: bool,
    stopped: bool,
}

impl Prober {
    /// A prober whose first probe is due at `now`.
    pub fn new(now: Instant, config: Config) -> Prober {
        assert!(!config.dports.is_empty(), "at least one destination port");
        let mut dport_set = vec![false; 65536];
        for &p in &config.dports {
            dport_set[usize::from(p)] = true;
        }
        let id_base = mix(config.seed ^ 0x1d) as u16;
        let cipher = SeqCipher::new(config.seed);
        Prober {
            config,
            next_index: 1,
            next_send: now,
            order: VecDeque::new(),
            first: 1,
            cipher,
            by_key: Waiting::default(),
            dport_set,
            resets: VecDeque::new(),
            events: VecDeque::new(),
            summary: Summary::default(),
            id_base,
            last_was_probe: false,
            stopped: false,
        }
    }

    pub fn summary(&self) -> Summary {
        self.summary
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Stops sending; the run ends once the outstanding probes are
    /// answered or expire.
    pub fn stop_sending(&mut self) {
        self.stopped = true;
    }

    fn all_sent(&self) -> bool {
        self.stopped || self.config.count.is_some_and(|c| self.next_index > c)
    }

    /// Ports, sequence number and identification of probe `index`.
    fn probe_fields(&self, index: u64) -> (u16, u16, u32, u16) {
        let c = &self.config;
        let n = index - 1;
        let sport = if c.sport_inc {
            let span = 65536 - u64::from(c.sport);
            c.sport + (n % span) as u16
        } else {
            c.sport
        };
        let dport = c.dports[(n % c.dports.len() as u64) as usize];
        let seq = c.seq.unwrap_or_else(|| self.cipher.encrypt(index as u32));
        let id = c.id.unwrap_or_else(|| self.id_base.wrapping_add(n as u16));
        (sport, dport, seq, id)
    }

    /// Whether the probes are plain SYNs (connection requests).
    fn syn_probe(&self) -> bool {
        let f = &self.config.template.flags;
        f.flags.contains(Flags::SYN) && !f.ack && !f.flags.contains(Flags::RST)
    }

    fn ours(&self, port: u16) -> bool {
        if self.config.sport_inc {
            port >= self.config.sport
        } else {
            port == self.config.sport
        }
    }

    /// Whether the frame last returned by [`RawFlow::poll_transmit_into`]
    /// was a probe (not a RST owed to a SYN-ACK).
    pub fn last_was_probe(&self) -> bool {
        self.last_was_probe
    }

    /// Forgets the last `n` probes: returned for sending, they never left
    /// (a flood stopped while they waited in its send ring). Sending is
    /// over by then; no answer can name them.
    pub fn unsend(&mut self, n: u64) {
        let n = n.min(self.order.len() as u64);
        for _ in 0..n {
            self.order.pop_back();
        }
        self.next_index -= n;
        self.summary.sent -= n;
    }

    /// The keys of probe (`sport`, `dport`, `seq`) that other probes may
    /// share, and so are looked up in `by_key` (see the module docs):
    /// the ACK an answer carries when `--seq` fixes every probe's SEQ,
    /// and the SEQ of a RST to a probe with ACK.
    fn shared_keys(&self, sport: u16, dport: u16, seq: u32) -> [Option<Key>; 2] {
        let t = &self.config.template;
        [
            self.config
                .seq
                .is_some()
                .then(|| (false, sport, dport, seq.wrapping_add(t.segment_len()))),
            t.flags.ack.then_some((true, sport, dport, t.ack)),
        ]
    }

    fn pending_mut(&mut self, index: u64) -> Option<&mut Pending> {
        self.order
            .get_mut(usize::try_from(index.checked_sub(self.first)?).ok()?)
    }

    /// Marks probe `index` answered, if it is outstanding and unanswered.
    fn answer(&mut self, index: u64) -> Option<(u64, Instant)> {
        let p = self.pending_mut(index).filter(|p| !p.answered)?;
        p.answered = true;
        Some((index, p.sent_at))
    }

    /// The oldest unanswered, unexpired probe that expects `key`.
    fn take(&mut self, key: Key) -> Option<(u64, Instant)> {
        loop {
            let index = self.by_key.pop(&key)?;
            if let Some(hit) = self.answer(index) {
                return Some(hit);
            }
        }
    }

    /// The unanswered probe between our port `ours` and their port
    /// `theirs` that an acknowledgment of `ack` answers.
    fn take_acked(&mut self, ours: u16, theirs: u16, ack: u32) -> Option<(u64, Instant)> {
        let seq = ack.wrapping_sub(self.config.template.segment_len());
        if self.config.seq.is_some() {
            return self.take((false, ours, theirs, ack));
        }
        // The index modulo 2^32; outstanding probes span far fewer.
        let low = self.cipher.decrypt(seq);
        let index = self.first + u64::from(low.wrapping_sub(self.first as u32));
        if index >= self.next_index {
            return None;
        }
        let (sport, dport, _, _) = self.probe_fields(index);
        if (sport, dport) != (ours, theirs) {
            return None;
        }
        self.answer(index)
    }

    /// Forgets answered probes at the front and expires unanswered ones
    /// older than `wait`.
    fn expire(&mut self, now: Instant) {
        while let Some(p) = self.order.front() {
            if !p.answered && now < p.sent_at + self.config.wait {
                break;
            }
            self.order.pop_front();
            let index = self.first;
            self.first += 1;
            if !self.by_key.is_empty() {
                let (sport, dport, seq, _) = self.probe_fields(index);
                for k in self.shared_keys(sport, dport, seq).into_iter().flatten() {
                    self.by_key.remove_oldest(&k, index);
                }
            }
        }
    }

    fn answered(&mut self, rtt: Duration) {
        self.summary.answered += 1;
        self.summary.rtt.add(rtt);
    }

    /// An ICMP or ICMPv6 error (`kind`) from `from` about the segment it
    /// quotes (its ports and sequence number): matched like an answer.
    fn icmp_error(
        &mut self,
        now: Instant,
        from: IpAddr,
        kind: ErrorKind,
        (sport, dport, quoted_seq): (u16, u16, Option<SeqNum>),
    ) {
        if !self.ours(sport) || !self.dport_set[usize::from(dport)] {
            return;
        }
        let len = self.config.template.segment_len();
        let hit =
            quoted_seq.and_then(|seq| self.take_acked(sport, dport, seq.get().wrapping_add(len)));
        let rtt = hit.map(|(_, sent_at)| now - sent_at);
        match rtt {
            Some(rtt) => self.answered(rtt),
            None => self.summary.unmatched += 1,
        }
        if self.config.report {
            self.events.push_back(Event::Icmp {
                index: hit.map(|(i, _)| i),
                rtt,
                from,
                kind,
            });
        }
    }

    /// A segment from `src` to `dst` that came with `ttl` (IPv6: its hop
    /// limit).
    fn handle_tcp(&mut self, now: Instant, (src, dst, ttl): (IpAddr, IpAddr, u8), tcp: &TcpRepr) {
        let (ours, theirs) = (tcp.dst_port, tcp.src_port);
        if !self.ours(ours) || !self.dport_set[usize::from(theirs)] {
            return;
        }
        let mut hit = None;
        if let Some(ack) = tcp.ack {
            hit = self.take_acked(ours, theirs, ack.get());
        }
        if hit.is_none() && tcp.flags.contains(Flags::RST) {
            hit = self.take((true, ours, theirs, tcp.seq.get()));
        }
        let seg = || Segment::from_repr(src, dst, tcp);
        match hit {
            Some((index, sent_at)) => {
                let rtt = now - sent_at;
                self.answered(rtt);
                if self.config.report {
                    self.events.push_back(Event::Reply {
                        index,
                        rtt,
                        seg: seg(),
                        ttl,
                        meaning: match Meaning::of(tcp.flags, tcp.ack.is_some()) {
                            Meaning::Closed if !self.syn_probe() => Meaning::Reset,
                            m => m,
                        },
                    });
                }
            }
            None => {
                self.summary.unmatched += 1;
                if self.config.report {
                    self.events.push_back(Event::Unmatched { seg: seg() });
                }
            }
        }
        let syn_ack = tcp.flags.contains(Flags::SYN) && tcp.ack.is_some();
        if syn_ack && self.config.reset_open {
            let t = &self.config.template;
            let seq = tcp.ack.unwrap_or(SeqNum(0));
            self.resets.push_back(reset_for(
                t.src_mac, t.dst_mac, t.src, t.dst, ours, theirs, seq,
            ));
            self.summary.resets_sent += 1;
            if self.config.report {
                self.events.push_back(Event::ResetSent {
                    sport: ours,
                    dport: theirs,
                    seq: seq.get(),
                });
            }
        }
    }
}

impl RawFlow for Prober {
    /// From our port (or ports, with `sport_inc`) to the destination's.
    fn selector(&self) -> Selector {
        let c = &self.config;
        let last_sport = if c.sport_inc { u16::MAX } else { c.sport };
        let lo = c.dports.iter().min().copied().unwrap_or(0);
        let hi = c.dports.iter().max().copied().unwrap_or(0);
        Selector {
            local: c.template.src,
            local_ports: (c.sport, last_sport),
            remote: c.template.dst,
            remote_ports: (lo, hi),
        }
    }

    fn handle_segment(&mut self, now: Instant, ip: &Ipv4Repr, tcp: &TcpRepr<'_>) {
        self.handle_tcp(now, (ip.src.into(), ip.dst.into(), ip.ttl), tcp);
    }

    fn handle_segment6(&mut self, now: Instant, ip: &Ipv6Repr, tcp: &TcpRepr<'_>) {
        self.handle_tcp(now, (ip.src.into(), ip.dst.into(), ip.hop_limit), tcp);
    }

    fn handle_malformed(&mut self, _now: Instant) {
        self.summary.malformed += 1;
    }

    /// An error matches through the ports and sequence number of the
    /// header it quotes.
    fn handle_icmp(&mut self, now: Instant, from: Ipv4Addr, error: &IcmpError) {
        let quoted = (error.quoted_src.1, error.quoted_dst.1, error.quoted_seq);
        self.icmp_error(now, from.into(), ErrorKind::V4(error.kind), quoted);
    }

    fn handle_icmp6(&mut self, now: Instant, from: Ipv6Addr, error: &Icmpv6Error) {
        // Only a quoted segment is ours: the raw flows also see errors
        // quoting UDP and echoes.
        if error.protocol != crate::wire::ipv6::NextHeader::Tcp {
            return;
        }
        let quoted = (error.quoted_src.1, error.quoted_dst.1, error.quoted_seq);
        self.icmp_error(now, from.into(), ErrorKind::V6(error.kind), quoted);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    /// Writes the next frame due at `now` into `buf`: a RST owed to a
    /// SYN-ACK first, then the next probe. `false` when nothing is due.
    fn poll_transmit_into(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool {
        if let Some(rst) = self.resets.pop_front() {
            buf.clear();
            buf.extend_from_slice(&rst);
            self.last_was_probe = false;
            return true;
        }
        if self.all_sent() || (!self.config.flood && now < self.next_send) {
            return false;
        }
        let index = self.next_index;
        let (sport, dport, seq, id) = self.probe_fields(index);
        self.config.template.write(buf, sport, dport, seq, id);
        self.next_index += 1;
        // Keep to the schedule, without bunching up after a late wake-up.
        self.next_send = (self.next_send + self.config.interval).max(now);
        for k in self.shared_keys(sport, dport, seq).into_iter().flatten() {
            self.by_key.push(k, index);
        }
        self.order.push_back(Pending {
            sent_at: now,
            answered: false,
        });
        self.summary.sent += 1;
        self.last_was_probe = true;
        if self.config.report {
            self.events.push_back(Event::Sent {
                index,
                sport,
                dport,
                seq,
                id,
            });
        }
        true
    }

    /// Corrects the send time of the frame just returned, if it was a
    /// probe, to `at`: the moment the link said it left.
    fn sent(&mut self, at: Instant) {
        if self.last_was_probe
            && let Some(p) = self.order.back_mut()
        {
            p.sent_at = at;
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        // A flood's next probe is always due: the send ring paces it.
        let next_send = if self.config.flood {
            Instant::ZERO
        } else {
            self.next_send
        };
        let send = (!self.all_sent()).then_some(next_send);
        let expiry = self
            .order
            .iter()
            .find(|p| !p.answered)
            .map(|p| p.sent_at + self.config.wait);
        earliest(send, expiry)
    }

    fn is_done(&self) -> bool {
        self.all_sent() && self.resets.is_empty() && self.order.iter().all(|p| p.answered)
    }
}

impl RawEvents for Prober {
    type Event = Event;

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Feed, RxChecksum};
    use crate::wire::MacAddr;
    use crate::wire::ethernet::{EthernetRepr, Protocol};
    use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
    use crate::wire::tcp::{ChecksumMode, TcpOption};

    const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const THEM: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    #[test]
    fn the_probe_rate_is_sent_over_elapsed_and_stays_finite() {
        let s = Summary {
            sent: 500,
            ..Summary::default()
        };
        assert_eq!(s.per_second(Duration::from_millis(250)), 2000.0);
        assert!(s.per_second(Duration::ZERO).is_finite());
    }
    const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 9, 9);
    const MAC_US: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
    const MAC_THEM: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);

    fn config() -> Config {
        Config {
            template: Template::syn(MAC_US, MAC_THEM, US, THEM),
            sport: 40000,
            sport_inc: false,
            dports: vec![80],
            count: Some(3),
            interval: Duration::from_millis(100),
            wait: Duration::from_secs(1),
            seq: None,
            id: None,
            seed: 7,
            flood: false,
            report: true,
            reset_open: true,
        }
    }

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[rstest::rstest]
    #[case::paced(false, Some(ms(100)))]
    #[case::flood(true, Some(Instant::ZERO))]
    fn a_floods_next_probe_is_always_due(#[case] flood: bool, #[case] want: Option<Instant>) {
        let mut p = Prober::new(
            ms(0),
            Config {
                flood,
                count: None,
                ..config()
            },
        );
        assert!(p.poll_transmit(ms(0)).is_some());
        assert_eq!(p.poll_timeout(), want);
        p.stop_sending();
        assert_eq!(p.poll_timeout(), Some(ms(1000)), "then only the wait");
    }

    /// Everything sent at `now`, parsed: (sport, dport, seq, flags, ack).
    fn sent(p: &mut Prober, now: Instant) -> Vec<(u16, u16, u32, Flags, Option<u32>)> {
        let mut out = Vec::new();
        while let Some(f) = p.poll_transmit(now) {
            let (_, _, tcp) = TcpRepr::from_frame(&f, ChecksumMode::Verify).unwrap();
            out.push((
                tcp.src_port,
                tcp.dst_port,
                tcp.seq.get(),
                tcp.flags,
                tcp.ack.map(|a| a.get()),
            ));
        }
        out
    }

    /// A segment from THEM to US, as a frame.
    fn reply(sport: u16, dport: u16, seq: u32, ack: Option<u32>, flags: Flags) -> Vec<u8> {
        let tcp = TcpRepr {
            src_port: sport,
            dst_port: dport,
            seq: SeqNum(seq),
            ack: ack.map(SeqNum),
            flags,
            window: 65160,
            urgent: 0,
            options: vec![TcpOption::Mss(1460)],
            payload: &[],
        };
        let ip = Ipv4Repr::new(THEM, US, IpProtocol::Tcp, tcp.buffer_len());
        tcp.to_frame(MAC_THEM, MAC_US, &ip)
    }

    fn events(p: &mut Prober) -> Vec<Event> {
        std::iter::from_fn(|| p.poll_event()).collect()
    }

    #[test]
    fn probes_follow_the_interval_and_count() {
        let mut p = Prober::new(ms(0), config());
        assert_eq!(sent(&mut p, ms(0)).len(), 1);
        assert_eq!(sent(&mut p, ms(50)).len(), 0);
        assert_eq!(p.poll_timeout(), Some(ms(100)));
        assert_eq!(sent(&mut p, ms(100)).len(), 1);
        assert_eq!(sent(&mut p, ms(200)).len(), 1);
        assert_eq!(sent(&mut p, ms(300)).len(), 0, "count reached");
        assert_eq!(p.summary().sent, 3);
        // Nothing answered: done when the last probe expires.
        assert!(!p.is_done());
        assert_eq!(p.poll_timeout(), Some(ms(1000)));
        p.handle_timeout(ms(1199));
        assert!(!p.is_done());
        p.handle_timeout(ms(1200));
        assert!(p.is_done());
        assert_eq!(p.summary().loss_percent(), 100.0);
    }

    #[test]
    fn a_syn_ack_is_matched_timed_and_reset() {
        let mut c = config();
        c.count = Some(1);
        let mut p = Prober::new(ms(0), c);
        let s = sent(&mut p, ms(0));
        let (sport, dport, seq, flags, _) = s[0];
        assert_eq!((sport, dport, flags), (40000, 80, Flags::SYN));
        p.sent(Instant::from_micros(30));
        let f = reply(80, 40000, 5000, Some(seq.wrapping_add(1)), Flags::SYN);
        p.handle_frame(Instant::from_micros(115), &f, RxChecksum::Unknown);
        let ev = events(&mut p);
        assert!(matches!(ev[0], Event::Sent { index: 1, .. }));
        assert!(matches!(ev[2], Event::ResetSent { seq: s, .. } if s == seq.wrapping_add(1)));
        match &ev[1] {
            Event::Reply {
                index,
                rtt,
                meaning,
                ..
            } => {
                assert_eq!(
                    (*index, *rtt, *meaning),
                    (1, Duration::from_micros(85), Meaning::Open)
                );
            }
            other => panic!("{other:?}"),
        }
        // The RST goes out next, with SEQ = the SYN-ACK's ACK, no ACK bit.
        assert_eq!(
            sent(&mut p, ms(1)),
            vec![(40000, 80, seq.wrapping_add(1), Flags::RST, None)]
        );
        assert!(p.is_done());
        let s = p.summary();
        assert_eq!((s.sent, s.answered, s.resets_sent), (1, 1, 1));
        assert_eq!(s.rtt.min(), Some(Duration::from_micros(85)));
    }

    #[test]
    fn a_rst_ack_means_closed_and_a_wrong_ack_matches_nothing() {
        let mut p = Prober::new(ms(0), config());
        let (_, _, seq, _, _) = sent(&mut p, ms(0))[0];
        p.handle_frame(
            ms(1),
            &reply(80, 40000, 0, Some(seq), Flags::RST),
            RxChecksum::Unknown,
        );
        p.handle_frame(
            ms(1),
            &reply(80, 40001, 0, Some(seq + 1), Flags::RST),
            RxChecksum::Unknown,
        );
        p.handle_frame(
            ms(1),
            &reply(81, 40000, 0, Some(seq + 1), Flags::RST),
            RxChecksum::Unknown,
        );
        p.handle_frame(
            ms(2),
            &reply(80, 40000, 0, Some(seq + 1), Flags::RST),
            RxChecksum::Unknown,
        );
        let ev = events(&mut p);
        let unmatched = ev
            .iter()
            .filter(|e| matches!(e, Event::Unmatched { .. }))
            .count();
        assert_eq!(
            unmatched, 1,
            "only the wrong ACK on our ports is reported: {ev:?}"
        );
        assert!(ev.iter().any(|e| matches!(e, Event::Reply { index: 1, meaning: Meaning::Closed, rtt, .. } if *rtt == Duration::from_millis(2))));
        // A second copy of the answer matches nothing.
        p.handle_frame(
            ms(3),
            &reply(80, 40000, 0, Some(seq + 1), Flags::RST),
            RxChecksum::Unknown,
        );
        assert_eq!(p.summary().answered, 1);
        assert_eq!(p.summary().unmatched, 2);
    }

    #[test]
    fn an_ack_probe_is_answered_by_a_rst_carrying_its_ack() {
        let mut c = config();
        c.template.flags = super::super::parse_flags("A").unwrap();
        c.template.ack = 777;
        c.count = Some(1);
        let mut p = Prober::new(ms(0), c);
        let s = sent(&mut p, ms(0));
        assert_eq!(s[0].3, Flags::NONE);
        assert_eq!(s[0].4, Some(777));
        p.handle_frame(
            ms(1),
            &reply(80, 40000, 777, None, Flags::RST),
            RxChecksum::Unknown,
        );
        assert!(p.is_done());
        assert_eq!(p.summary().answered, 1);
    }

    #[test]
    fn a_fixed_seq_gives_answers_to_the_oldest_probe_first() {
        let mut c = config();
        c.seq = Some(100);
        let mut p = Prober::new(ms(0), c);
        sent(&mut p, ms(0));
        sent(&mut p, ms(100));
        p.handle_frame(
            ms(150),
            &reply(80, 40000, 0, Some(101), Flags::RST),
            RxChecksum::Unknown,
        );
        p.handle_frame(
            ms(160),
            &reply(80, 40000, 0, Some(101), Flags::RST),
            RxChecksum::Unknown,
        );
        let rtts: Vec<(u64, Duration)> = events(&mut p)
            .into_iter()
            .filter_map(|e| match e {
                Event::Reply { index, rtt, .. } => Some((index, rtt)),
                _ => None,
            })
            .collect();
        assert_eq!(
            rtts,
            vec![
                (1, Duration::from_millis(150)),
                (2, Duration::from_millis(60))
            ]
        );
    }

    #[test]
    fn incrementing_source_ports_and_port_ranges_take_turns() {
        let mut c = config();
        c.sport = 65534;
        c.sport_inc = true;
        c.dports = vec![7, 8];
        c.count = Some(4);
        c.flood = true;
        let mut p = Prober::new(ms(0), c);
        let ports: Vec<(u16, u16)> = sent(&mut p, ms(0)).iter().map(|s| (s.0, s.1)).collect();
        assert_eq!(ports, vec![(65534, 7), (65535, 8), (65534, 7), (65535, 8)]);
    }

    #[test]
    fn a_late_answer_is_unmatched() {
        let mut c = config();
        c.count = Some(1);
        let mut p = Prober::new(ms(0), c);
        let (_, _, seq, _, _) = sent(&mut p, ms(0))[0];
        p.handle_timeout(ms(1001));
        assert!(p.is_done());
        p.handle_frame(
            ms(1002),
            &reply(80, 40000, 0, Some(seq + 1), Flags::RST),
            RxChecksum::Unknown,
        );
        assert_eq!((p.summary().answered, p.summary().unmatched), (0, 1));
    }

    #[test]
    fn an_icmp_error_quoting_the_probe_matches_it() {
        let mut c = config();
        c.count = Some(1);
        let mut p = Prober::new(ms(0), c);
        let mut frame = Vec::new();
        assert!(p.poll_transmit_into(ms(0), &mut frame));
        // Time exceeded from a router, quoting our IP header and 8 bytes of TCP.
        let mut msg = vec![11, 0, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&frame[14..14 + 28]);
        let sum = pnet::packet::icmp::checksum(&pnet::packet::icmp::IcmpPacket::new(&msg).unwrap());
        msg[2..4].copy_from_slice(&sum.to_be_bytes());
        let ip = Ipv4Repr::new(ROUTER, US, IpProtocol::Icmp, msg.len());
        let mut f = vec![0u8; 14 + 20 + msg.len()];
        EthernetRepr {
            src: MAC_THEM,
            dst: MAC_US,
            protocol: Protocol::Ipv4,
        }
        .emit(&mut f);
        ip.emit(&mut f[14..]);
        f[34..].copy_from_slice(&msg);
        p.handle_frame(ms(3), &f, RxChecksum::Unknown);
        let ev = events(&mut p);
        assert!(
            ev.iter().any(|e| matches!(e, Event::Icmp { index: Some(1), from, kind: ErrorKind::V4(crate::wire::icmp::IcmpKind::TimeExceeded(0)), rtt: Some(r) } if *from == ROUTER && *r == Duration::from_millis(3))),
            "{ev:?}"
        );
        assert!(p.is_done());
    }

    #[test]
    fn a_corrupt_reply_counts_as_malformed() {
        let mut p = Prober::new(ms(0), config());
        let (_, _, seq, _, _) = sent(&mut p, ms(0))[0];
        let mut f = reply(80, 40000, 0, Some(seq + 1), Flags::RST);
        f[14 + 20 + 16] ^= 0xff;
        p.handle_frame(ms(1), &f, RxChecksum::Unknown);
        assert_eq!((p.summary().answered, p.summary().malformed), (0, 1));
        // The kernel vouching for it (a partial checksum) is believed.
        p.handle_frame(ms(1), &f, RxChecksum::Partial);
        assert_eq!(p.summary().answered, 1);
    }

    #[test]
    fn without_reports_only_counts_are_kept() {
        let mut c = config();
        c.report = false;
        c.flood = true;
        c.count = Some(1000);
        let mut p = Prober::new(ms(0), c);
        let mut buf = Vec::new();
        let mut n = 0;
        while p.poll_transmit_into(ms(0), &mut buf) {
            n += 1;
        }
        assert_eq!(n, 1000);
        assert!(p.poll_event().is_none());
        assert_eq!(p.summary().sent, 1000);
    }

    #[rstest::rstest]
    fn the_seq_cipher_is_a_permutation(#[values(0, 7, u64::MAX)] seed: u64) {
        let c = SeqCipher::new(seed);
        let mut seen = std::collections::HashSet::new();
        for x in (0..200_000u32).chain([u32::MAX - 1, u32::MAX]) {
            let y = c.encrypt(x);
            assert_eq!(c.decrypt(y), x);
            assert!(seen.insert(y), "{x} collides");
        }
        // Consecutive indexes give unrelated numbers: no small steps.
        let near = (0..1000u32)
            .filter(|&x| c.encrypt(x + 1).wrapping_sub(c.encrypt(x)) < 1 << 16)
            .count();
        assert!(near < 10, "{near} small steps");
    }

    #[test]
    fn another_seed_numbers_probes_differently() {
        let (a, b) = (SeqCipher::new(1), SeqCipher::new(2));
        let same = (0..1000).filter(|&x| a.encrypt(x) == b.encrypt(x)).count();
        assert!(same < 3, "{same}");
    }

    /// A flood's answers, arriving out of order, each find their probe
    /// through the number they acknowledge, with no table of answers.
    #[rstest::rstest]
    #[case::from_the_start(1)]
    #[case::across_the_32_bit_wrap((1 << 32) - 500)]
    fn flood_answers_find_their_probes_in_any_order(#[case] first: u64) {
        let mut c = config();
        c.report = false;
        c.flood = true;
        c.count = None;
        c.sport_inc = true;
        c.sport = 1024;
        let mut p = Prober::new(ms(0), c);
        (p.first, p.next_index) = (first, first);
        let mut buf = Vec::new();
        let mut probes = Vec::new();
        for _ in 0..1000 {
            assert!(p.poll_transmit_into(ms(0), &mut buf));
            let (_, _, tcp) = TcpRepr::from_frame(&buf, ChecksumMode::Verify).unwrap();
            probes.push((tcp.src_port, tcp.seq.get()));
        }
        assert!(p.by_key.is_empty(), "drawn numbers need no table");
        // Every third probe answered, newest first; then one with the
        // right number to the wrong port, and one acknowledging nothing sent.
        for &(sport, seq) in probes.iter().step_by(3).rev() {
            let f = reply(80, sport, 1, Some(seq.wrapping_add(1)), Flags::RST);
            p.handle_frame(ms(5), &f, RxChecksum::Unknown);
        }
        let (sport, seq) = probes[1];
        let wrong_port = reply(80, sport + 1, 1, Some(seq.wrapping_add(1)), Flags::RST);
        p.handle_frame(ms(5), &wrong_port, RxChecksum::Unknown);
        let unsent = p.cipher.encrypt(p.next_index as u32).wrapping_add(1);
        p.handle_frame(
            ms(5),
            &reply(80, 1024, 1, Some(unsent), Flags::RST),
            RxChecksum::Unknown,
        );
        let s = p.summary();
        assert_eq!((s.answered, s.unmatched), (334, 2));
        assert_eq!(s.rtt.count(), 334);
        // A second answer to the same probe matches nothing.
        let (sport, seq) = probes[0];
        p.handle_frame(
            ms(6),
            &reply(80, sport, 1, Some(seq + 1), Flags::RST),
            RxChecksum::Unknown,
        );
        assert_eq!(p.summary().unmatched, 3);
    }

    /// Probes taken back unsent are not counted, and an answer naming one
    /// (it cannot come, but a forged one could) matches nothing.
    #[test]
    fn unsent_probes_are_forgotten() {
        let mut c = config();
        c.report = false;
        c.flood = true;
        c.count = Some(10);
        let mut p = Prober::new(ms(0), c);
        let mut buf = Vec::new();
        let mut seqs = Vec::new();
        while p.poll_transmit_into(ms(0), &mut buf) {
            let (_, _, tcp) = TcpRepr::from_frame(&buf, ChecksumMode::Verify).unwrap();
            seqs.push(tcp.seq.get());
        }
        p.stop_sending();
        p.unsend(3);
        assert_eq!(p.summary().sent, 7);
        let answer = |seq: u32| reply(80, 40000, 1, Some(seq.wrapping_add(1)), Flags::RST);
        p.handle_frame(ms(1), &answer(seqs[8]), RxChecksum::Unknown);
        p.handle_frame(ms(1), &answer(seqs[6]), RxChecksum::Unknown);
        assert_eq!((p.summary().answered, p.summary().unmatched), (1, 1));
    }
}
