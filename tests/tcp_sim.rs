//! The engine against itself on the simulated wire: handshake, data both
//! ways and the four-way close must complete, byte-exact, under loss,
//! duplication, reordering and corruption, for many seeds, in a bounded
//! number of steps, and reproducibly.

use std::time::Duration;

use nettool::sim::{Dir, Fate, Impairments, Sim};
use nettool::tcp::{Config, Event, Reason, State, TimerKind};
use nettool::wire::WireError;
use rstest::rstest;

const MAX_STEPS: usize = 20_000;

fn payload(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ salt)
        .collect()
}

fn loss(p: f64) -> Impairments {
    Impairments {
        loss: p,
        ..Impairments::CLEAN
    }
}

fn dup_reorder() -> Impairments {
    Impairments {
        duplicate: 0.1,
        reorder: 0.2,
        reorder_delay: Duration::from_millis(40),
        jitter: Duration::from_millis(5),
        ..Impairments::CLEAN
    }
}

fn corrupt() -> Impairments {
    Impairments {
        corrupt: 0.1,
        ..Impairments::CLEAN
    }
}

fn everything() -> Impairments {
    Impairments {
        loss: 0.05,
        duplicate: 0.05,
        reorder: 0.1,
        reorder_delay: Duration::from_millis(30),
        jitter: Duration::from_millis(3),
        corrupt: 0.05,
        ..Impairments::CLEAN
    }
}

/// A sends 20 000 bytes then closes; B answers with 3 000 bytes and closes
/// when it sees A's FIN.
fn exchange(seed: u64, imp: Impairments) -> Sim {
    let mut sim = Sim::client_server(seed, Config::default()).with_impairments(imp);
    sim.a_mut().app.to_send = payload(20_000, 0x11);
    sim.a_mut().app.close_after_send = true;
    sim.b_mut().app.to_send = payload(3_000, 0x22);
    sim.b_mut().app.close_on_eof = true;
    sim
}

fn both_closed(sim: &Sim) -> bool {
    sim.a().state() == State::Closed && sim.b().state() == State::Closed
}

/// How many segments were sent more than once (timestamps aside, which
/// differ between a segment and its retransmission).
fn retransmissions(sim: &Sim) -> usize {
    let sent: Vec<&str> = sim
        .trace()
        .iter()
        .filter(|e| e.fate == Fate::Sent)
        .map(|e| e.line.split(", options").next().unwrap_or(&e.line))
        .collect();
    let mut unique = sent.clone();
    unique.sort_unstable();
    unique.dedup();
    sent.len() - unique.len()
}

fn count(sim: &Sim, pred: impl Fn(&Fate) -> bool) -> usize {
    sim.trace().iter().filter(|e| pred(&e.fate)).count()
}

#[rstest]
fn transfer_and_close_survive_impairments(
    #[values(
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
        25, 26, 27, 28, 29, 30, 31
    )]
    seed: u64,
    #[values(Impairments::CLEAN, loss(0.1), dup_reorder(), corrupt(), everything())]
    imp: Impairments,
) {
    let mut sim = exchange(seed, imp);
    let result = sim.run_until(both_closed, MAX_STEPS);
    let trace = sim.trace_text();
    assert!(result.is_ok(), "{result:?}\n{trace}");
    assert_eq!(sim.b().app.received, payload(20_000, 0x11), "{trace}");
    assert_eq!(sim.a().app.received, payload(3_000, 0x22), "{trace}");
    // A closed first, so A went through TIME-WAIT; both ended normally.
    let a = &sim.a().app.events;
    let b = &sim.b().app.events;
    assert!(
        a.contains(&Event::StateChanged {
            from: State::TimeWait,
            to: State::Closed
        }),
        "{trace}"
    );
    assert!(
        b.contains(&Event::StateChanged {
            from: State::LastAck,
            to: State::Closed
        }),
        "{trace}"
    );
    // Each closed exactly once, normally. (Late duplicates reaching a
    // CLOSED end are answered with RST and reported as dropped; that is
    // fine as long as nothing ended abnormally.)
    for events in [a, b] {
        let closes: Vec<_> = events
            .iter()
            .filter(|e| matches!(e, Event::Closed(_)))
            .collect();
        assert_eq!(closes, [&Event::Closed(Reason::Normal)], "{trace}");
    }
    // Every corrupted copy was refused by the wire parser, never reaching
    // an engine. (Let what is still in flight land first: late copies
    // reach a CLOSED end and draw a RST, which may itself be corrupted.)
    let _ = sim.run_until(|_| false, MAX_STEPS);
    assert_eq!(
        count(&sim, |f| *f == Fate::Corrupted),
        count(&sim, |f| matches!(f, Fate::Rejected(_))),
        "{trace}"
    );
}

/// The impairments really happen: summed over the seeds, each kind of
/// fault shows up in the traces, so the matrix above is not vacuous.
#[rstest]
#[case::loss(loss(0.1), Fate::Lost)]
#[case::duplication(dup_reorder(), Fate::Duplicated)]
#[case::corruption(corrupt(), Fate::Corrupted)]
fn faults_are_injected(#[case] imp: Impairments, #[case] fate: Fate) {
    let mut total = 0;
    let mut retransmitted = 0;
    for seed in 0..32 {
        let mut sim = exchange(seed, imp);
        sim.run_until(both_closed, MAX_STEPS).unwrap();
        total += count(&sim, |f| *f == fate);
        retransmitted += retransmissions(&sim);
    }
    assert!(total >= 10, "only {total} {fate} events");
    // Duplicated copies carry identical lines, so the count means
    // nothing for that case.
    if fate != Fate::Duplicated {
        assert!(retransmitted >= 10, "only {retransmitted} retransmissions");
    }
}

#[test]
fn reordering_reorders() {
    let mut overtaken = 0;
    for seed in 0..32 {
        let mut sim = exchange(seed, dup_reorder());
        sim.run_until(both_closed, MAX_STEPS).unwrap();
        overtaken += sim
            .b()
            .app
            .events
            .iter()
            .filter(|e| matches!(e, Event::OutOfOrderQueued { .. }))
            .count();
    }
    assert!(overtaken > 0, "no segment ever arrived out of order");
}

#[rstest]
#[case::clean(Impairments::CLEAN)]
#[case::everything(everything())]
fn same_seed_same_trace(#[case] imp: Impairments) {
    let run = |seed| {
        let mut sim = exchange(seed, imp);
        sim.run_until(both_closed, MAX_STEPS).unwrap();
        (sim.trace().to_vec(), sim.now(), sim.steps())
    };
    let first = run(7);
    assert!(first.0.len() > 20);
    assert_eq!(first, run(7));
    // And the seed matters (ISSs differ, so lines differ).
    assert_ne!(first.0, run(8).0);
}

#[test]
fn clean_run_has_a_bounded_exact_shape() {
    let mut sim = exchange(3, Impairments::CLEAN);
    let steps = sim.run_until(both_closed, MAX_STEPS).unwrap();
    assert!(steps < 100, "{steps} steps");
    assert_eq!(count(&sim, |f| *f == Fate::Lost), 0);
    // No retransmission on a clean wire.
    assert_eq!(retransmissions(&sim), 0, "{}", sim.trace_text());
    // TIME-WAIT lasts 2×MSL = 60 s of virtual time after A's last ACK.
    assert!(sim.now() > nettool::time::Instant::from_millis(60_000));
    assert!(sim.now() < nettool::time::Instant::from_millis(61_000));
}

/// The probe timer never fires after the retransmission timer, on
/// either side, at any step of exchanges through every kind of fault
/// (RFC 8985 §7.2 caps the PTO at the RTO's expiration).
#[rstest]
fn the_pto_is_never_later_than_the_rto(#[values(0, 1, 2, 3, 4, 5, 6, 7)] seed: u64) {
    let mut sim = exchange(seed, everything());
    let mut steps = 0;
    while !both_closed(&sim) && sim.step() {
        for (side, e) in [("A", sim.a()), ("B", sim.b())] {
            let pto = e.conn.timer(TimerKind::LossProbe);
            let rto = e.conn.timer(TimerKind::Retransmission);
            if let (Some(pto), Some(rto)) = (pto, rto) {
                assert!(
                    pto <= rto,
                    "{side} at {:?}: PTO {pto:?} after RTO {rto:?}",
                    sim.now()
                );
            }
        }
        steps += 1;
        assert!(steps < MAX_STEPS, "{}", sim.trace_text());
    }
    assert!(both_closed(&sim), "{}", sim.trace_text());
}

// ----- scripted faults -----

#[test]
fn lost_syn_ack_is_recovered() {
    let mut sim = Sim::client_server(5, Config::default());
    sim.drop_next(Dir::BtoA, 1);
    sim.run_until(
        |s| s.a().state() == State::Established && s.b().state() == State::Established,
        100,
    )
    .unwrap();
    let syn_acks: Vec<_> = sim
        .trace()
        .iter()
        .filter(|e| e.dir == Dir::BtoA && e.line.contains("Flags [S.]"))
        .filter(|e| e.fate != Fate::Delivered)
        .map(|e| e.fate)
        .collect();
    assert_eq!(
        syn_acks,
        [Fate::Dropped, Fate::Sent],
        "{}",
        sim.trace_text()
    );
    // A's SYN retransmission at 1 s makes B resend at once: done at 1.02 s.
    assert_eq!(sim.now(), nettool::time::Instant::from_millis(1030));
}

#[test]
fn lost_final_ack_is_recovered_through_time_wait() {
    let mut sim = exchange(9, Impairments::CLEAN);
    // B's FIN has just gone on the wire; the next thing A sends is its ACK.
    sim.run_until(|s| s.b().state() == State::LastAck, MAX_STEPS)
        .unwrap();
    sim.drop_next(Dir::AtoB, 1);
    sim.run_until(both_closed, MAX_STEPS).unwrap();
    let text = sim.trace_text();
    let fins: Vec<_> = sim
        .trace()
        .iter()
        .filter(|e| e.dir == Dir::BtoA && e.line.contains("Flags [F") && e.fate == Fate::Sent)
        .collect();
    assert_eq!(fins.len(), 2, "B retransmits its FIN once\n{text}");
    let dropped = sim
        .trace()
        .iter()
        .filter(|e| e.fate == Fate::Dropped)
        .count();
    assert_eq!(dropped, 1, "{text}");
    // The retransmitted FIN restarted A's 2×MSL: A closes 60 s after it
    // arrived (10 ms after it was sent), not 60 s after the first FIN.
    let refin_arrival = fins[1].at + Duration::from_millis(10);
    assert_eq!(sim.now(), refin_arrival + Duration::from_secs(60), "{text}");
    assert_eq!(
        sim.b().app.events.last(),
        Some(&Event::Closed(Reason::Normal))
    );
}

#[test]
fn fin_arriving_before_the_last_data_is_not_processed_early() {
    let mut sim = Sim::client_server(11, Config::default());
    sim.run_until(
        |s| s.a().state() == State::Established && s.b().state() == State::Established,
        100,
    )
    .unwrap();
    // Three segments: 1448, 1448, then 104 bytes with the FIN. Hold the
    // first so the FIN overtakes it.
    sim.a_mut().app.to_send = payload(3000, 0x33);
    sim.a_mut().app.close_after_send = true;
    sim.b_mut().app.close_on_eof = true;
    sim.hold(Dir::AtoB, 1);
    sim.step();
    assert!(
        sim.trace().iter().any(|e| e.fate == Fate::Held),
        "{}",
        sim.trace_text()
    );
    sim.run_until(
        |s| {
            s.b()
                .app
                .events
                .iter()
                .any(|e| matches!(e, Event::OutOfOrderQueued { .. }))
        },
        100,
    )
    .unwrap();
    assert_eq!(
        sim.b().state(),
        State::Established,
        "FIN must wait for the data"
    );
    sim.release(Dir::AtoB);
    sim.run_until(both_closed, MAX_STEPS).unwrap();
    assert_eq!(sim.b().app.received, payload(3000, 0x33));
}

/// A's last data segment is lost and its bare FIN, sent after it,
/// arrives. B acknowledges the out-of-order FIN at once, SACKing its
/// sequence number, and A's RACK resends the data one reordering window
/// (min_RTT/4) after that ACK: the data is in 2 RTT + 5 ms after it was
/// first sent, with neither a loss probe nor a timeout. Before, B said
/// nothing, A probed with the FIN again (which drew nothing either), and
/// the RTO resent the data 200 ms after it was first sent.
#[test]
fn a_segment_lost_before_a_bare_fin_is_resent_by_rack_within_a_round_trip() {
    let mut sim = Sim::client_server(4, Config::default());
    sim.run_until(
        |s| s.a().state() == State::Established && s.b().state() == State::Established,
        100,
    )
    .unwrap();
    sim.a_mut().app.to_send = payload(6, 0x44);
    sim.drop_next(Dir::AtoB, 1);
    let dropped = |s: &Sim| s.trace().iter().any(|e| e.fate == Fate::Dropped);
    // Stops once the data is on the wire, before time moves on.
    sim.run_until(dropped, 1).unwrap();
    let data_sent = sim.trace().last().expect("the data").at;
    sim.a_mut().app.close_after_send = true;
    sim.b_mut().app.close_on_eof = true;
    sim.run_until(|s| s.b().app.received.len() == 6, MAX_STEPS)
        .unwrap();
    let text = sim.trace_text();
    // RTT 20 ms: the FIN's ACK is back at 20 ms (+ the sim's steps), the
    // data goes again 5 ms later and arrives 10 ms after that.
    let took = sim.now() - data_sent;
    assert!(took <= Duration::from_millis(36), "{took:?}\n{text}");
    assert_eq!(
        (sim.a().conn.loss_probes(), sim.a().conn.timeouts()),
        (0, 0),
        "{text}"
    );
    let fin_at = sim
        .trace()
        .iter()
        .find(|e| e.dir == Dir::AtoB && e.line.contains("Flags [F.]") && e.fate == Fate::Delivered)
        .expect("the FIN arrived")
        .at;
    assert!(
        sim.trace().iter().any(|e| e.dir == Dir::BtoA
            && e.at == fin_at
            && e.fate == Fate::Sent
            && e.line.contains("sack 1")),
        "B SACKs the FIN as it arrives\n{text}"
    );
    sim.run_until(both_closed, MAX_STEPS).unwrap();
    assert_eq!(sim.b().app.received, payload(6, 0x44));
}

#[test]
fn corruption_is_rejected_by_the_wire_not_the_engine() {
    let mut sim = Sim::client_server(2, Config::default());
    sim.set_impairments(
        Dir::AtoB,
        Impairments {
            corrupt: 1.0,
            ..Impairments::CLEAN
        },
    );
    let err = sim.run_until(|s| s.b().state() != State::Listen, MAX_STEPS);
    assert!(err.is_err());
    // Every SYN was corrupted and refused before B saw it: B reports no
    // event at all, not even a dropped segment.
    assert!(
        sim.b()
            .app
            .events
            .iter()
            .all(|e| !matches!(e, Event::SegmentDropped { .. }))
    );
    let rejected = count(&sim, |f| matches!(f, Fate::Rejected(_)));
    assert_eq!(rejected, 7, "{}", sim.trace_text());
    assert!(
        sim.trace()
            .iter()
            .any(|e| e.fate == Fate::Rejected(WireError::BadChecksum))
    );
}

#[test]
fn unreachable_peer_times_out_on_the_virtual_clock() {
    let mut sim = Sim::client_server(4, Config::default());
    sim.drop_if(Dir::AtoB, |_| true);
    let _ = sim.run_until(|s| s.a().state() == State::Closed, 100);
    assert_eq!(
        sim.a().app.events.last(),
        Some(&Event::Closed(Reason::TimedOut))
    );
    assert_eq!(sim.now(), nettool::time::Instant::from_millis(123_000));
}

// ----- symmetric cases and wrap-around on the simulated wire -----

fn peers(a_iss: u32, b_iss: u32) -> (nettool::tcp::Connection, nettool::tcp::Connection) {
    use nettool::sim::{CLIENT, SERVER};
    use nettool::tcp::{Connection, SeqNum};
    use nettool::time::Instant;
    (
        Connection::connect(
            Instant::ZERO,
            Config::default(),
            CLIENT,
            SERVER,
            SeqNum(a_iss),
        ),
        Connection::connect(
            Instant::ZERO,
            Config::default(),
            SERVER,
            CLIENT,
            SeqNum(b_iss),
        ),
    )
}

/// Both ends OPEN actively and CLOSE as soon as their data is queued:
/// simultaneous open (SYN-RECEIVED on both sides when the SYNs cross) and
/// simultaneous close (CLOSING on both sides when the FINs cross).
#[rstest]
fn simultaneous_open_and_close(
    #[values(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)] seed: u64,
    #[values(Impairments::CLEAN, everything())] imp: Impairments,
) {
    let (a, b) = peers(100, 200);
    let mut sim = Sim::new(seed, a, b).with_impairments(imp);
    sim.a_mut().app.to_send = payload(5_000, 1);
    sim.b_mut().app.to_send = payload(4_000, 2);
    sim.a_mut().app.close_after_send = true;
    sim.b_mut().app.close_after_send = true;
    let result = sim.run_until(both_closed, MAX_STEPS);
    let trace = sim.trace_text();
    assert!(result.is_ok(), "{result:?}\n{trace}");
    assert_eq!(sim.b().app.received, payload(5_000, 1), "{trace}");
    assert_eq!(sim.a().app.received, payload(4_000, 2), "{trace}");
    for app in [&sim.a().app, &sim.b().app] {
        let closes: Vec<_> = app
            .events
            .iter()
            .filter(|e| matches!(e, Event::Closed(_)))
            .collect();
        assert_eq!(closes, [&Event::Closed(Reason::Normal)], "{trace}");
    }
    if imp == Impairments::CLEAN {
        // With equal delays the SYNs and the FINs cross on the wire.
        for app in [&sim.a().app, &sim.b().app] {
            let went_through = |s| {
                app.events.iter().any(|e| {
                    *e == Event::StateChanged {
                        from: State::SynSent,
                        to: s,
                    }
                })
            };
            assert!(went_through(State::SynReceived), "{trace}");
            assert!(
                app.events.contains(&Event::StateChanged {
                    from: State::FinWait1,
                    to: State::Closing
                }),
                "{trace}"
            );
        }
    }
}

/// Sequence numbers cross 2^32 during the transfer, on both sides, under
/// impairments.
#[rstest]
fn wrap_around_under_impairments(
    #[values(0, 1, 2, 3, 4, 5, 6, 7)] seed: u64,
    #[values(Impairments::CLEAN, loss(0.1), everything())] imp: Impairments,
) {
    use nettool::sim::{CLIENT, SERVER};
    use nettool::tcp::{Connection, IssSource, SeqNum};
    use nettool::time::Instant;
    let a = Connection::connect(
        Instant::ZERO,
        Config::default(),
        CLIENT,
        SERVER,
        SeqNum(u32::MAX - 10_000),
    );
    let b = Connection::listen(
        Config::default(),
        SERVER,
        IssSource::Fixed(SeqNum(u32::MAX - 1_000)),
    );
    let mut sim = Sim::new(seed, a, b).with_impairments(imp);
    sim.a_mut().app.to_send = payload(20_000, 3);
    sim.a_mut().app.close_after_send = true;
    sim.b_mut().app.to_send = payload(3_000, 4);
    sim.b_mut().app.close_on_eof = true;
    let result = sim.run_until(both_closed, MAX_STEPS);
    let trace = sim.trace_text();
    assert!(result.is_ok(), "{result:?}\n{trace}");
    assert_eq!(sim.b().app.received, payload(20_000, 3), "{trace}");
    assert_eq!(sim.a().app.received, payload(3_000, 4), "{trace}");
    // Both sequence spaces really wrapped.
    assert_eq!(
        sim.a().conn.tcb().snd.una,
        SeqNum(u32::MAX - 10_000) + 20_002usize
    );
    assert_eq!(sim.a().conn.tcb().snd.una, SeqNum(10_001));
    assert!(sim.b().conn.tcb().snd.una.get() < 10_000);
}

// ----- bulk transfer: 1,000 seeds × 256 KiB each way -----

const BULK: usize = 256 * 1024;
/// Seeds per rstest case; the cases run in parallel.
const SEEDS_PER_CASE: u64 = 50;

/// The impairments of one seed: loss from 0 to 30 %, and reordering,
/// duplication and corruption switched on by bits of the seed, so the
/// 1,000 seeds cover every mix.
fn bulk_impairments(seed: u64) -> Impairments {
    let loss = (seed % 31) as f64 / 100.0;
    let on = |bit: u64, p: f64| if seed & (1 << bit) != 0 { p } else { 0.0 };
    Impairments {
        loss,
        duplicate: on(5, 0.03),
        reorder: on(6, 0.1),
        reorder_delay: Duration::from_millis(15),
        jitter: Duration::from_millis(if seed & (1 << 7) != 0 { 2 } else { 0 }),
        corrupt: on(8, 0.02),
        ..Impairments::CLEAN
    }
}

/// 256 KiB of data that differs per `salt`: a window into one pattern
/// built once (building it per byte for every seed cost more, in a debug
/// build, than the transfer).
fn bulk_payload(salt: u8) -> &'static [u8] {
    static BASE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let base = BASE.get_or_init(|| {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..BULK + 4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    });
    let at = usize::from(salt) * 16;
    &base[at..at + BULK]
}

/// The configuration of one seed: one seed in four runs without SACK
/// (NewReno recovery, RFC 6582), one in four without timestamps (RTT
/// from timed segments with Karn's rule, no PAWS).
fn bulk_config(seed: u64) -> Config {
    Config {
        sack_permitted: seed % 4 != 1,
        timestamps: seed & (1 << 3) == 0 || seed & (1 << 4) == 0,
        ..Config::default()
    }
}

/// Both ends send 256 KiB at once and close when done; returns the sim.
fn bulk(seed: u64) -> Sim {
    let mut sim =
        Sim::client_server(seed, bulk_config(seed)).with_impairments(bulk_impairments(seed));
    sim.a_mut().app.to_send = bulk_payload(seed as u8).to_vec();
    sim.a_mut().app.close_after_send = true;
    sim.b_mut().app.to_send = bulk_payload(!(seed as u8)).to_vec();
    sim.b_mut().app.close_after_send = true;
    sim
}

/// Both applications have all the data and the peer's FIN. (The close
/// handshake itself is covered above; at 30 % loss each way a last ACK can
/// need longer than TIME-WAIT, as with any TCP.)
fn bulk_done(sim: &Sim) -> bool {
    sim.a().app.received.len() == BULK
        && sim.b().app.received.len() == BULK
        && sim.a().app.eof
        && sim.b().app.eof
}

const BULK_MAX_STEPS: usize = 200_000;

#[rstest]
fn bulk_transfer_1000_seeds(
    #[values(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19)] case: u64,
) {
    for seed in case * SEEDS_PER_CASE..(case + 1) * SEEDS_PER_CASE {
        let mut sim = bulk(seed);
        let result = sim.run_until(bulk_done, BULK_MAX_STEPS);
        let imp = bulk_impairments(seed);
        let config = bulk_config(seed);
        assert!(
            result.is_ok(),
            "seed {seed} {imp:?} sack {} ts {}: {result:?}",
            config.sack_permitted,
            config.timestamps
        );
        assert!(
            sim.b().app.received == bulk_payload(seed as u8),
            "seed {seed}: A>B data differs"
        );
        assert!(
            sim.a().app.received == bulk_payload(!(seed as u8)),
            "seed {seed}: B>A data differs"
        );
        for app in [&sim.a().app, &sim.b().app] {
            assert!(
                !app.events
                    .iter()
                    .any(|e| matches!(e, Event::Closed(r) if *r != Reason::Normal)),
                "seed {seed}: abnormal close"
            );
        }
    }
}

#[test]
fn bulk_same_seed_same_trace() {
    for seed in [3, 700] {
        let run = || {
            let mut sim = bulk(seed);
            sim.run_until(bulk_done, BULK_MAX_STEPS).unwrap();
            (sim.trace().to_vec(), sim.now(), sim.steps())
        };
        assert_eq!(run(), run());
    }
}

/// B stops reading for ten minutes: its window closes, A probes it
/// (persist timer, then backed-off retransmissions of the probe) and,
/// although A gives up after 3 unanswered retries, the answered probes
/// keep the connection open. When B reads again everything arrives.
#[rstest]
fn receiver_holds_its_window_at_zero(
    #[values(0, 1, 2, 3)] seed: u64,
    #[values(Impairments::CLEAN, loss(0.1))] imp: Impairments,
) {
    use nettool::tcp::{Connection, IssSource, SeqNum};
    use nettool::time::Instant;
    let a = Connection::connect(
        Instant::ZERO,
        Config {
            retries: 3,
            ..Config::default()
        },
        nettool::sim::CLIENT,
        nettool::sim::SERVER,
        SeqNum(7),
    );
    let b = Connection::listen(
        Config {
            recv_buffer: 16 * 1024,
            window_scale: Some(0),
            ..Config::default()
        },
        nettool::sim::SERVER,
        IssSource::Fixed(SeqNum(9)),
    );
    let mut sim = Sim::new(seed, a, b).with_impairments(imp);
    let data = payload(100_000, 9);
    sim.a_mut().app.to_send = data.clone();
    sim.a_mut().app.close_after_send = true;
    sim.b_mut().app.paused = true;
    sim.b_mut().app.close_on_eof = true;
    let until = Instant::from_millis(600_000);
    let r = sim.run_until(|s| s.now() >= until, 100_000);
    assert!(r.is_ok(), "{r:?} {}", sim.trace_text());
    let text = sim.trace_text();
    // A queued everything and closed: its FIN waits behind the data.
    assert_eq!(sim.a().state(), State::FinWait1, "{text}");
    assert_eq!(sim.b().conn.recv_queue_len(), 16 * 1024);
    let probes = sim
        .trace()
        .iter()
        .filter(|e| e.dir == Dir::AtoB && e.fate == Fate::Sent && e.line.ends_with("length 1"))
        .count();
    assert!(probes >= 5, "{probes} probes\n{text}");
    sim.b_mut().app.paused = false;
    sim.run_until(both_closed, 100_000).unwrap();
    assert!(sim.b().app.received == data);
}
