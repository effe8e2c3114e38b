//! A copy of a connection's state and the names of the fields that
//! changed since, for the property that a segment the engine discards
//! changes no state (design decision 12), as the fuzz harness checks it
//! after every segment (`fuzz/src/lib.rs`, `tcp_engine`). Built by
//! cloning and compared with `==`, field by field: no text is formatted,
//! where comparing two `{:?}` renderings of the whole connection (its
//! buffers printed octet by octet) held the fuzzer to about ten inputs a
//! second. Test support only (`testkit`): the shipped engine has no use
//! for it.

use super::conn::Connection;
use super::flight::Recovery;

/// A connection as it was.
#[derive(Debug)]
pub struct Snapshot(Connection);

impl Connection {
    /// The connection's state now, to compare with later
    /// ([`Snapshot::changed_fields`]).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(self.clone())
    }
}

/// Lists every field of `$struct` in one pattern without `..`, so a
/// field added to it and not to the list fails to compile, and pushes
/// onto `$changed` the name of each one whose value in `$now` differs.
macro_rules! compare_all {
    ($struct:ident, $was:ident, $now:ident, $changed:ident, [$($skip:ident),*];
     $($field:ident),* $(,)?) => {{
        let $struct { $($field,)* $($skip: _,)* } = $was;
        $(
            if *$field != $now.$field {
                $changed.push(stringify!($field));
            }
        )*
    }};
}

/// The names of a field list, as a slice.
macro_rules! names {
    (; $($field:ident),* $(,)?) => {
        &[$(stringify!($field)),*]
    };
}

/// Hands the connection's fields compared with `==` (all but `flight`
/// and `out`) to `$m`, after its own arguments.
macro_rules! with_plain_fields {
    ($m:ident!($($pre:tt)*)) => {
        $m!($($pre)*;
            config, ts_offset, path_mtu, state, ends, tcb, snd_max, max_snd_wnd,
            snd_buf, fin_seq, rcv, rcv_fin, rcv_adv, delack_segs, ack_pushed,
            rcv_mss_seen, last_ack_sent, fin_received, passive, iss_source,
            negotiated, ts_recent, rtt, rtt_probe, retries, keepalive_sent,
            syn_retransmitted, acked_since_rto, ts_rtt_mark, ts_rexmit,
            force_send, cc, rack, undos, timeouts, probes, timers, ack_pending,
            challenge)
    };
}

impl Snapshot {
    /// Every name [`Snapshot::changed_fields`] may report.
    pub const FIELDS: &[&str] = {
        const PLAIN: &[&str] = with_plain_fields!(names!());
        const ALL: [&str; PLAIN.len() + 3] = {
            let mut all = [""; PLAIN.len() + 3];
            let mut i = 0;
            while i < PLAIN.len() {
                all[i] = PLAIN[i];
                i += 1;
            }
            all[i] = "flight";
            all[i + 1] = "flight.dsack";
            all[i + 2] = "out";
            all
        };
        &ALL
    };

    /// The fields of `now` that differ from the snapshot, by their names
    /// in [`Connection`], in declaration order. Two are compared apart:
    /// `out`, the outbox (segments and events queued for the caller),
    /// compared as its contents; `flight`, the loss-recovery state, compared
    /// as its contents (an empty box and no box read the same, as they
    /// behave the same) less its D-SACK block, which is reported as
    /// `flight.dsack` (the block the next ACK owes, part of an answer).
    /// Floating-point fields (CUBIC's) compare by value.
    pub fn changed_fields(&self, now: &Connection) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let was = &self.0;
        with_plain_fields!(compare_all!(Connection, was, now, changed, [flight, out]));
        let (was_flight, now_flight): (&Recovery, &Recovery) = (&was.flight, &now.flight);
        let mut flight = Vec::new();
        compare_all!(Recovery, was_flight, now_flight, flight, [];
            scoreboard, sent, retransmitted, tlp, prr, undo, deferred_growth, dsack);
        if flight.iter().any(|&f| f != "dsack") {
            changed.push("flight");
        }
        if flight.contains(&"dsack") {
            changed.push("flight.dsack");
        }
        if was.out.queued != now.out.queued || was.out.events != now.out.events {
            changed.push("out");
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use crate::tcp::{Config, Connection, SeqNum};
    use crate::time::Instant;
    use crate::wire::tcp::{Flags, TcpRepr};

    const A: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000);
    const B: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);

    fn synack(ack: u32) -> TcpRepr<'static> {
        TcpRepr {
            src_port: 80,
            dst_port: 40000,
            seq: SeqNum(5000),
            ack: Some(SeqNum(ack)),
            flags: Flags::SYN,
            window: 1000,
            urgent: 0,
            options: vec![],
            payload: &[],
        }
    }

    #[test]
    fn every_field_has_a_name_once() {
        let names = super::Snapshot::FIELDS;
        for f in ["config", "challenge", "flight", "flight.dsack", "out"] {
            assert!(names.contains(&f), "{f}");
        }
        let mut sorted = names.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
    }

    #[test]
    fn nothing_changed_is_nothing_reported() {
        let c = Connection::connect(Instant::ZERO, Config::default(), A, B, SeqNum(1));
        assert!(c.snapshot().changed_fields(&c).is_empty());
    }

    #[test]
    fn an_accepted_segment_changes_the_fields_it_moves() {
        let mut c = Connection::connect(Instant::ZERO, Config::default(), A, B, SeqNum(1));
        let _ = c.poll_transmit(Instant::ZERO);
        let was = c.snapshot();
        c.handle_segment(Instant::from_millis(10), &synack(2));
        let changed = was.changed_fields(&c);
        for f in ["state", "tcb", "rtt", "ack_pending", "out"] {
            assert!(changed.contains(&f), "{f} not in {changed:?}");
        }
        assert!(!changed.contains(&"config"), "{changed:?}");
    }

    #[test]
    fn a_discarded_segment_reports_only_its_answer() {
        let mut c = Connection::connect(Instant::ZERO, Config::default(), A, B, SeqNum(1));
        let _ = c.poll_transmit(Instant::ZERO);
        let was = c.snapshot();
        // Acknowledges nothing we sent: a RST answers it (§3.10.7.3).
        c.handle_segment(Instant::from_millis(10), &synack(77));
        assert_eq!(was.changed_fields(&c), ["out"]);
    }

    #[test]
    fn the_dsack_block_is_told_apart_from_the_rest_of_the_flight() {
        let mut c = Connection::connect(Instant::ZERO, Config::default(), A, B, SeqNum(1));
        let was = c.snapshot();
        c.flight.dsack = Some((SeqNum(1), SeqNum(2)));
        assert_eq!(was.changed_fields(&c), ["flight.dsack"]);
        c.flight.tlp = None;
        c.flight.prr.delivered = 3;
        assert_eq!(was.changed_fields(&c), ["flight", "flight.dsack"]);
    }
}
