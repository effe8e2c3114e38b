//! Who is on the link: ICMPv6 echo requests to ff02::1 (every node), and
//! the nodes that answer, sans-IO.
//!
//! IPv4's sweep asks every address of a subnet; a /64 has 2^64 of them,
//! so IPv6 asks the all-nodes group once and lists who answers (hosts
//! that ignore echoes to multicast, as Linux does with
//! `net.ipv6.icmp.echo_ignore_multicast=1`, stay unseen).

use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::time::Duration;

use crate::machine::{Machine, RxChecksum};
use crate::time::Instant;
use crate::wire::icmpv6::{Icmpv6Repr, parse_frame};
use crate::wire::ipv6::{ALL_NODES, multicast_mac};
use crate::wire::{MacAddr, WireError};

#[derive(Debug, Clone)]
pub struct Config {
    pub mac: MacAddr,
    pub source: Ipv6Addr,
    /// The echo identifier (random, so concurrent runs keep apart).
    pub ident: u16,
    pub count: u32,
    pub interval: Duration,
    pub wait: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Sent {
        seq: u16,
    },
    /// A node answered echo `seq`.
    Answer {
        ip: Ipv6Addr,
        mac: MacAddr,
        seq: u16,
        rtt: Duration,
    },
}

pub struct AllNodes {
    config: Config,
    sent_at: Vec<Instant>,
    next: Option<Instant>,
    end: Option<Instant>,
    outgoing: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    malformed: u64,
    done: bool,
}

impl AllNodes {
    pub fn new(now: Instant, config: Config) -> AllNodes {
        let done = config.count == 0;
        AllNodes {
            config,
            sent_at: Vec::new(),
            next: (!done).then_some(now),
            end: None,
            outgoing: VecDeque::new(),
            events: VecDeque::new(),
            malformed: 0,
            done,
        }
    }

    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// Echoes sent so far: fewer than `count` if the run was cut short.
    pub fn frames_sent(&self) -> u64 {
        self.sent_at.len() as u64
    }
}

/// The index of the latest of `sent` echoes whose sequence number is
/// `seq` (the n-th carries n mod 65536), if one is.
fn latest_with_seq(sent: usize, seq: u16) -> Option<usize> {
    let seq = usize::from(seq);
    let n = sent.checked_sub(seq)?;
    // The latest n-th with n ≡ seq (mod 65536) and 1 ≤ n ≤ sent.
    let nth = seq + n / 65536 * 65536;
    nth.checked_sub(1)
}

impl Machine for AllNodes {
    type Event = Event;

    fn handle_frame(&mut self, now: Instant, frame: &[u8], checksum: RxChecksum) {
        let (eth, ip, icmp) = match parse_frame(frame, !checksum.kernel_vouches()) {
            Ok(parsed) => parsed,
            Err(WireError::Unsupported(_)) => return,
            Err(_) => {
                self.malformed += 1;
                return;
            }
        };
        let Icmpv6Repr::EchoReply { ident, seq, .. } = icmp else {
            return;
        };
        if ident != self.config.ident || ip.dst != self.config.source || self.done {
            return;
        }
        let Some(at) = latest_with_seq(self.sent_at.len(), seq).map(|i| self.sent_at[i]) else {
            return; // an echo we never sent
        };
        self.events.push_back(Event::Answer {
            ip: ip.src,
            mac: eth.src,
            seq,
            rtt: now - at,
        });
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.done {
            return;
        }
        if self.next.is_some_and(|t| t <= now) {
            self.sent_at.push(now);
            // The n-th echo carries n, wrapping past 65535 as ping's do.
            let seq = self.sent_at.len() as u16;
            let c = &self.config;
            let frame = Icmpv6Repr::EchoRequest {
                ident: c.ident,
                seq,
                data: b"nettool".to_vec(),
            }
            .frame((c.mac, multicast_mac(ALL_NODES)), (c.source, ALL_NODES));
            self.outgoing.push_back(frame);
            self.events.push_back(Event::Sent { seq });
            if self.sent_at.len() < c.count as usize {
                self.next = Some(now + c.interval);
            } else {
                self.next = None;
                self.end = Some(now + c.wait);
            }
        }
        if self.end.is_some_and(|t| t <= now) {
            self.done = true;
        }
    }

    fn poll_transmit(&mut self, _now: Instant) -> Option<Vec<u8>> {
        self.outgoing.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        self.next.or(self.end)
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn is_done(&self) -> bool {
        self.done && self.outgoing.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
    const ME: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    const PEER: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
    const THEM: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);

    fn reply(ident: u16, seq: u16, dst: Ipv6Addr) -> Vec<u8> {
        Icmpv6Repr::EchoReply {
            ident,
            seq,
            data: b"nettool".to_vec(),
        }
        .frame((THEM, US), (PEER, dst))
    }

    /// Past 65535 echoes the sequence number wraps, as ping's does, and
    /// an answer is timed from the latest echo that carried its number.
    #[rstest::rstest]
    #[case::first(1, 1, Some(0))]
    #[case::not_yet_sent(1, 2, None)]
    #[case::zero_before_the_wrap(65_535, 0, None)]
    #[case::zero_is_the_65536th(65_536, 0, Some(65_535))]
    #[case::after_the_wrap(65_537, 1, Some(65_536))]
    #[case::before_the_wrap_still(65_537, 2, Some(1))]
    fn sequence_numbers_wrap(#[case] sent: usize, #[case] seq: u16, #[case] index: Option<usize>) {
        assert_eq!(latest_with_seq(sent, seq), index);
    }

    /// The 65537th echo carries 1 again (it carried 65535, as every one
    /// after it did, and answers were timed from the wrong echo).
    #[test]
    fn the_65537th_echo_carries_1() {
        let config = Config {
            mac: US,
            source: ME,
            ident: 1,
            count: 65_537,
            interval: Duration::from_millis(1),
            wait: Duration::from_secs(1),
        };
        let mut m = AllNodes::new(Instant::ZERO, config);
        let mut last = None;
        for ms in 0..65_537 {
            let now = Instant::from_millis(ms);
            m.handle_timeout(now);
            while m.poll_transmit(now).is_some() {}
            while let Some(ev) = m.poll_event() {
                if let Event::Sent { seq } = ev {
                    last = Some(seq);
                }
            }
        }
        assert_eq!(last, Some(1));
        let t = Instant::from_millis(65_540);
        m.handle_frame(t, &reply(1, 1, ME), RxChecksum::Unknown);
        assert!(matches!(
            m.poll_event(),
            Some(Event::Answer { rtt, .. }) if rtt == Duration::from_millis(4)
        ));
    }

    #[test]
    fn echoes_the_group_and_lists_who_answers() {
        let config = Config {
            mac: US,
            source: ME,
            ident: 0x4242,
            count: 2,
            interval: Duration::from_secs(1),
            wait: Duration::from_secs(1),
        };
        let mut m = AllNodes::new(Instant::ZERO, config);
        m.handle_timeout(Instant::ZERO);
        // What the report counts when a run is cut short: what left, not -c.
        assert_eq!(m.frames_sent(), 1);
        let f = m.poll_transmit(Instant::ZERO).unwrap();
        let (eth, ip, icmp) = parse_frame(&f, true).unwrap();
        assert_eq!(eth.dst, MacAddr(0x33, 0x33, 0, 0, 0, 1));
        assert_eq!((ip.src, ip.dst), (ME, ALL_NODES));
        assert!(matches!(
            icmp,
            Icmpv6Repr::EchoRequest {
                ident: 0x4242,
                seq: 1,
                ..
            }
        ));
        let t = Instant::from_millis(2);
        m.handle_frame(t, &reply(0x4242, 1, ME), RxChecksum::Unknown);
        m.handle_frame(t, &reply(0x4243, 1, ME), RxChecksum::Unknown); // not ours
        m.handle_frame(t, &reply(0x4242, 9, ME), RxChecksum::Unknown); // never sent
        m.handle_frame(t, &reply(0x4242, 1, PEER), RxChecksum::Unknown); // to another
        let answers: Vec<Event> = std::iter::from_fn(|| m.poll_event())
            .filter(|e| matches!(e, Event::Answer { .. }))
            .collect();
        assert_eq!(
            answers,
            vec![Event::Answer {
                ip: PEER,
                mac: THEM,
                seq: 1,
                rtt: Duration::from_millis(2)
            }]
        );
        assert_eq!(m.poll_timeout(), Some(Instant::from_millis(1000)));
        m.handle_timeout(Instant::from_millis(1000));
        assert!(m.poll_transmit(Instant::from_millis(1000)).is_some());
        m.handle_timeout(Instant::from_millis(1999));
        assert!(!m.is_done());
        m.handle_timeout(Instant::from_millis(2000));
        assert!(m.is_done());
    }
}
