//! Design decision 12: a segment the engine discards changes no state.
//!
//! A transfer runs twice on the simulator with the same seed: once as is
//! (the reference), once with hostile segments handed to one endpoint
//! (the victim) at random moments in mid-transfer: data outside the
//! window, ACKs beyond SND.NXT or below SND.UNA − MAX.SND.WND, SYNs in
//! the window, RSTs not at RCV.NXT, PAWS-old timestamps, far-ahead TSvals
//! on segments that fail a later check, segments without ACK, wrong ports
//! or address, the peer's FIN again failing a check. The sender (A) also
//! receives them at every step of its TIME-WAIT, where only an acceptable
//! retransmission of the peer's FIN may restart the 2×MSL timer. The engine must report each as dropped, with the reason
//! its check names, and the transfer must go on exactly as in the
//! reference: the same segments on the wire at the same virtual times,
//! the same bytes delivered, the same events, the same end, and the
//! victim's whole state (`{:?}` of the connection) equal to the
//! reference's one step after each injection and at the end.
//!
//! The victim may answer with an ACK (RFC 5961's challenge ACK, RFC
//! 9293's "send an ACK and drop"). Its pure ACKs leaving right after an
//! injection moment are dropped off the wire in both runs (see
//! [`Filter`]), so the peer never sees an answer.
//!
//! An answer is an ACK like any other, though: it settles a delayed ACK
//! owed and advertises the current window, and the engine must remember
//! both (Last.ACK.sent, the advertised right edge), since the peer may
//! have seen it; Linux does the same. The sender (A) owes no ACK and its
//! window never moves, so against A the reference receives nothing. The
//! receiver (B) usually owes one, so at each injection moment B's
//! reference receives one plainly harmless discard, an old duplicate
//! wholly below RCV.NXT (RFC 9293 answers it with an ACK), and the
//! hostile run receives that same segment and the hostile ones after it:
//! any state they touch beyond the answer shows.

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Duration;

use nettool::sim::{Dir, Fate, Impairments, Rng, Sim, TraceEntry};
use nettool::tcp::seq::segment_is_acceptable;
use nettool::tcp::{Config, DropReason, Event, SeqNum, State};
use nettool::time::Instant;
use nettool::wire::tcp::{Flags, TcpOption, TcpRepr};
use rstest::rstest;

const TRANSFER: usize = 128 * 1024;
const MAX_STEPS: usize = 50_000;

/// Sits on the victim's outgoing direction (`Sim::drop_if`, which decides
/// before any random draw, so a dropped segment costs the wire's
/// generators nothing): while `answers` is set (the flush right after an
/// injection moment, in both runs), the victim's pure ACKs are dropped;
/// anything else passes.
#[derive(Debug, Default)]
struct Filter {
    answers: bool,
    dropped: usize,
}

impl Filter {
    fn judge(&mut self, seg: &TcpRepr<'_>) -> bool {
        let pure_ack = seg.ack.is_some()
            && seg.payload.is_empty()
            && !seg.flags.contains(Flags::SYN)
            && !seg.flags.contains(Flags::FIN)
            && !seg.flags.contains(Flags::RST);
        if self.answers && pure_ack {
            self.dropped += 1;
            return true;
        }
        false
    }
}

/// The kinds of hostile segment, each built to fail one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Valid in every other way (at RCV.NXT, acceptable ACK), for another
    /// port pair or from another address.
    WrongFlow,
    /// Text wholly right of the window, or wholly left of RCV.NXT.
    OutOfWindow,
    /// SEG.ACK beyond anything sent (SND.NXT, SND.MAX).
    AckBeyondSent,
    /// SEG.ACK below SND.UNA − MAX.SND.WND (RFC 5961 §5).
    AckTooOld,
    /// A SYN in the window (RFC 5961 §4), with or without ACK.
    SynInWindow,
    /// A RST in the window but not at RCV.NXT (RFC 5961 §3).
    RstNotExact,
    /// A RST outside the window.
    RstOutOfWindow,
    /// A TSval older than TS.Recent on a segment otherwise acceptable
    /// (PAWS, RFC 7323 §5).
    PawsOld,
    /// A TSval far ahead with an ACK beyond anything sent: TS.Recent must
    /// not take it.
    FarAheadTsBadAck,
    /// A TSval far ahead on a SYN.
    FarAheadTsSyn,
    /// Text (or a FIN) at RCV.NXT without the ACK bit.
    NoAck,
    /// The peer's FIN again (ending at RCV.NXT, as a retransmission of
    /// it would), failing a check: PAWS-old, an ACK beyond anything sent,
    /// no ACK bit, or a SYN. In TIME-WAIT it must not restart 2×MSL.
    FinAgain,
    /// Not hostile: a duplicate ACK the engine accepts (for the test of
    /// the harness itself).
    HonestDupAck,
    /// The receiver's baseline discard: text wholly below RCV.NXT, with an
    /// acceptable ACK and the peer's TSval of now.
    OldDuplicate,
}

const KINDS: [Kind; 12] = [
    Kind::WrongFlow,
    Kind::OutOfWindow,
    Kind::AckBeyondSent,
    Kind::AckTooOld,
    Kind::SynInWindow,
    Kind::RstNotExact,
    Kind::RstOutOfWindow,
    Kind::PawsOld,
    Kind::FarAheadTsBadAck,
    Kind::FarAheadTsSyn,
    Kind::NoAck,
    Kind::FinAgain,
];

/// A hostile segment, where it claims to come from, and the reason the
/// victim must give for dropping it.
struct Hostile {
    src_ip: std::net::IpAddr,
    src_port: u16,
    dst_port: u16,
    seq: SeqNum,
    ack: Option<SeqNum>,
    flags: Flags,
    window: u16,
    options: Vec<TcpOption>,
    payload: Vec<u8>,
    /// `None`: the segment is accepted.
    expect: Option<DropReason>,
}

impl Hostile {
    fn repr(&self) -> TcpRepr<'_> {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            urgent: 0,
            options: self.options.clone(),
            payload: &self.payload,
        }
    }
}

/// Builds a hostile segment of `kind` for `victim` (0 = A, 1 = B) as it
/// stands at `now`. The peer's TSval clock is the virtual clock in
/// milliseconds plus the configured offset, so "now" in its terms is
/// known without looking inside the victim; TS.Recent is at most that.
fn hostile(sim: &Sim, victim: usize, kind: Kind, config: &Config, rng: &mut Rng) -> Hostile {
    let ep = if victim == 0 { sim.a() } else { sim.b() };
    let tcb = *ep.conn.tcb();
    let (local, remote) = (ep.conn.local(), ep.conn.remote());
    let rcv_nxt = tcb.rcv.nxt;
    let rcv_wnd = tcb.rcv.wnd;
    let una = tcb.snd.una;
    let peer_ts = ((sim.now().total_micros() / 1000) as u32).wrapping_add(config.ts_offset);
    let timestamps = config.timestamps;
    let far = 1u32 << 30;
    let below = |rng: &mut Rng, n: u64| rng.below(n) as u32;
    // An honest-looking TSval: none, the peer's clock now, or far ahead.
    let ts_any = |rng: &mut Rng| -> Option<u32> {
        match rng.below(3) {
            0 => None,
            1 => Some(peer_ts),
            _ => Some(peer_ts.wrapping_add(far + below(rng, 1 << 20))),
        }
    };
    let text = |rng: &mut Rng, max: usize| -> Vec<u8> {
        let len = rng.below(max as u64 + 1) as usize;
        (0..len).map(|_| rng.next_u64() as u8).collect()
    };
    // Bogus SACK blocks: none may reach the scoreboard.
    let sack = |rng: &mut Rng| -> Option<TcpOption> {
        rng.chance(0.5).then(|| {
            let l = una + below(rng, 1 << 20);
            TcpOption::Sack(vec![(l, l + (1 + below(rng, 1 << 16)))])
        })
    };
    let mut seg = Hostile {
        src_ip: remote.ip(),
        src_port: remote.port(),
        dst_port: local.port(),
        seq: rcv_nxt,
        ack: Some(una),
        flags: Flags::NONE,
        window: rng.next_u64() as u16,
        options: Vec::new(),
        payload: Vec::new(),
        expect: None,
    };
    let mut ts = ts_any(rng);
    match kind {
        Kind::WrongFlow => {
            seg.payload = text(rng, usize::min(rcv_wnd, 1000));
            match rng.below(3) {
                0 => seg.src_port = seg.src_port.wrapping_add(1 + below(rng, 1000) as u16),
                1 => seg.dst_port = seg.dst_port.wrapping_add(1 + below(rng, 1000) as u16),
                _ => seg.src_ip = Ipv4Addr::new(10, 0, 0, 99).into(),
            }
            if rng.chance(0.3) {
                seg.flags = Flags::SYN.union(Flags::from_bits(rng.below(2) as u8 * 0x04));
            }
        }
        Kind::OutOfWindow => {
            seg.payload = text(rng, 1000);
            if seg.payload.is_empty() {
                seg.payload.push(0x55);
            }
            let len = seg.payload.len();
            seg.seq = if rng.chance(0.5) {
                rcv_nxt + rcv_wnd + below(rng, far as u64) as usize
            } else {
                rcv_nxt - len - below(rng, far as u64) as usize
            };
            if rng.chance(0.3) {
                seg.flags = Flags::FIN;
            }
        }
        Kind::AckBeyondSent | Kind::FarAheadTsBadAck => {
            seg.payload = text(rng, usize::min(rcv_wnd, 1000));
            seg.ack = Some(una + (far + below(rng, far as u64)));
            if rng.chance(0.3) {
                seg.flags = Flags::FIN;
            }
            if kind == Kind::FarAheadTsBadAck {
                ts = Some(peer_ts.wrapping_add(far + below(rng, 1 << 20)));
            }
        }
        Kind::AckTooOld => {
            seg.payload = text(rng, usize::min(rcv_wnd, 1000));
            // MAX.SND.WND is at most 65535 << Snd.Wind.Shift.
            let max_wnd = 65535usize << tcb.snd.wscale;
            seg.ack = Some(una - (max_wnd + 1 + below(rng, 1 << 29) as usize));
        }
        Kind::SynInWindow | Kind::FarAheadTsSyn => {
            seg.flags = Flags::SYN;
            seg.seq = rcv_nxt + below(rng, rcv_wnd.max(1) as u64) as usize;
            if rng.chance(0.5) {
                seg.ack = None;
            }
            seg.options.push(TcpOption::Mss(536));
            if kind == Kind::FarAheadTsSyn {
                ts = Some(peer_ts.wrapping_add(far + below(rng, 1 << 20)));
            }
        }
        Kind::RstNotExact => {
            seg.flags = Flags::RST;
            seg.seq = rcv_nxt + (1 + below(rng, rcv_wnd.saturating_sub(1).max(1) as u64) as usize);
            if rng.chance(0.5) {
                seg.ack = None;
            }
        }
        Kind::RstOutOfWindow => {
            seg.flags = Flags::RST;
            seg.seq = if rng.chance(0.5) {
                rcv_nxt + rcv_wnd + below(rng, far as u64) as usize
            } else {
                rcv_nxt - (1 + below(rng, far as u64) as usize)
            };
        }
        Kind::PawsOld => {
            seg.payload = text(rng, usize::min(rcv_wnd, 1000));
            ts = Some(peer_ts.wrapping_sub(far + below(rng, 1 << 20)));
            if !timestamps {
                // No PAWS without timestamps: let the ACK make it hostile.
                seg.ack = Some(una + (far + below(rng, far as u64)));
            }
        }
        Kind::OldDuplicate => {
            seg.payload = vec![0x0d; 100];
            seg.seq = rcv_nxt - (100 + 1448);
            seg.window = (tcb.snd.wnd >> tcb.snd.wscale) as u16;
            ts = timestamps.then_some(peer_ts);
        }
        Kind::HonestDupAck => {
            seg.window = (tcb.snd.wnd >> tcb.snd.wscale) as u16;
            ts = timestamps.then_some(peer_ts);
        }
        Kind::FinAgain => {
            seg.flags = Flags::FIN;
            seg.payload = text(rng, 100);
            seg.seq = rcv_nxt - (seg.payload.len() + 1);
            // PAWS-old only where PAWS runs: without timestamps, the FIN
            // with a valid ACK would be a real retransmission.
            match rng.below(if timestamps { 4 } else { 3 }) {
                0 => seg.ack = Some(una + (far + below(rng, far as u64))),
                1 => seg.ack = None,
                2 => {
                    seg.flags = Flags::SYN | Flags::FIN;
                    seg.seq = seg.seq - 1usize;
                }
                _ => ts = Some(peer_ts.wrapping_sub(far + below(rng, 1 << 20))),
            }
        }
        Kind::NoAck => {
            seg.ack = None;
            seg.payload = text(rng, usize::min(rcv_wnd, 1000));
            if seg.payload.is_empty() || rng.chance(0.3) {
                seg.flags = Flags::FIN;
            }
        }
    }
    if seg.ack.is_none() && seg.flags.is_empty() && seg.payload.is_empty() {
        seg.flags = Flags::FIN;
    }
    let plain = matches!(kind, Kind::HonestDupAck | Kind::OldDuplicate);
    if !plain && rng.chance(0.5) {
        seg.flags = seg.flags.union(Flags::PSH);
    }
    if let Some(val) = ts {
        seg.options.push(TcpOption::Timestamps {
            val,
            ecr: rng.next_u64() as u32,
        });
    }
    if let Some(s) = sack(rng).filter(|_| !plain) {
        seg.options.push(s);
    }
    // The reason, in the order SEGMENT ARRIVES checks (RFC 9293
    // §3.10.7.4 with RFC 7323's PAWS first and RFC 5961's rules).
    let rst = seg.flags.contains(Flags::RST);
    let syn = seg.flags.contains(Flags::SYN);
    let len = seg.payload.len() + usize::from(syn) + usize::from(seg.flags.contains(Flags::FIN));
    seg.expect = Some(
        if seg.src_ip != remote.ip()
            || seg.src_port != remote.port()
            || seg.dst_port != local.port()
        {
            DropReason::NotForUs
        } else if (timestamps && !rst && kind == Kind::PawsOld)
            || !segment_is_acceptable(seg.seq, len, rcv_nxt, rcv_wnd)
        {
            // PAWS drops as the window test does, and answers alike.
            DropReason::OutOfWindow
        } else if rst {
            DropReason::RstNotExact
        } else if syn {
            DropReason::SynInWindow
        } else if seg.ack.is_none() {
            DropReason::NoAck
        } else {
            DropReason::AckOutOfRange
        },
    );
    if kind == Kind::HonestDupAck {
        seg.expect = None;
    }
    seg
}

/// Everything a run leaves that the property compares.
#[derive(Debug, PartialEq)]
struct Outcome {
    trace: Vec<TraceEntry>,
    end: Instant,
    steps: usize,
    received: [Vec<u8>; 2],
    events: [Vec<Event>; 2],
    /// The victim's state one step after each injection moment.
    checkpoints: Vec<(usize, String)>,
    /// Both connections at the end.
    finals: [String; 2],
}

struct Run {
    outcome: Outcome,
    /// Hostile segments handed in, and answers dropped off the wire.
    injected: usize,
    answers: usize,
    /// Injection moments while the victim was in TIME-WAIT.
    time_wait_moments: usize,
}

fn payload() -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..TRANSFER)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// 2 % loss both ways and a little jitter: losses, SACK recovery and
/// reordering all happen while the hostile segments arrive.
fn wire() -> Impairments {
    Impairments {
        loss: 0.02,
        delay: Duration::from_millis(10),
        jitter: Duration::from_millis(1),
        ..Impairments::CLEAN
    }
}

fn done(sim: &Sim) -> bool {
    sim.a().state() == State::Closed
        && matches!(sim.b().state(), State::Closed | State::TimeWait)
        && sim.b().app.received.len() == TRANSFER
}

/// Hands `h` to the victim and returns what the victim reported.
fn inject(sim: &mut Sim, victim: usize, h: &Hostile) -> Vec<Event> {
    let now = sim.now();
    let ep = if victim == 0 {
        sim.a_mut()
    } else {
        sim.b_mut()
    };
    ep.conn.handle_segment_from(now, h.src_ip, &h.repr());
    std::iter::from_fn(|| ep.conn.poll_event()).collect()
}

/// One run: A sends `TRANSFER` bytes to B and closes, B closes on EOF.
/// At the moments the schedule picks in mid-transfer, and at every step
/// of A's TIME-WAIT when A is the victim, `victim` receives its baseline
/// discard (B only, mid-transfer) and, when `hostile`, 1 to 4 segments of
/// `kinds`.
fn run(seed: u64, config: Config, victim: usize, kinds: &[Kind], hostile_run: bool) -> Run {
    let mut sim = Sim::client_server(seed, config).with_impairments(wire());
    sim.a_mut().app.to_send = payload();
    sim.a_mut().app.close_after_send = true;
    sim.b_mut().app.close_on_eof = true;
    let filter = Rc::new(RefCell::new(Filter::default()));
    let dir = if victim == 0 { Dir::AtoB } else { Dir::BtoA };
    sim.drop_if(dir, {
        let filter = Rc::clone(&filter);
        move |seg| filter.borrow_mut().judge(seg)
    });
    // The schedule draws the same numbers in both runs; the hostile
    // segments come from a generator of their own.
    let mut schedule = Rng::new(seed ^ 0x0bad_5e9d);
    let mut forge = Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut checkpoints = Vec::new();
    let mut injected = 0;
    let mut time_wait_moments = 0;
    let mut step = 0;
    while !done(&sim) {
        assert!(step < MAX_STEPS, "no end after {MAX_STEPS} steps");
        // A hands everything over and closes at once, so it sends its
        // data in FIN-WAIT-1.
        let received = sim.b().app.received.len();
        let mid_transfer = matches!(sim.a().state(), State::Established | State::FinWait1)
            && sim.b().state() == State::Established
            && received > 4096
            && received < TRANSFER;
        let time_wait = victim == 0 && sim.a().state() == State::TimeWait;
        let moment = (schedule.chance(0.15) && mid_transfer) || time_wait;
        time_wait_moments += usize::from(time_wait);
        if moment {
            if victim == 1 {
                let h = hostile(&sim, victim, Kind::OldDuplicate, &config, &mut forge);
                assert_eq!(
                    inject(&mut sim, victim, &h),
                    [Event::SegmentDropped {
                        reason: DropReason::OutOfWindow
                    }],
                    "the baseline discard"
                );
            }
            for _ in 0..(1 + forge.below(4)) {
                let kind = kinds[forge.below(kinds.len() as u64) as usize];
                let h = hostile(&sim, victim, kind, &config, &mut forge);
                if !hostile_run {
                    continue;
                }
                let events = inject(&mut sim, victim, &h);
                if let Some(reason) = h.expect {
                    assert_eq!(
                        events,
                        [Event::SegmentDropped { reason }],
                        "{kind:?} at {}: {:?}",
                        sim.now(),
                        h.repr()
                    );
                }
                injected += 1;
            }
            // The answers leave in this flush, at the injection moment.
            filter.borrow_mut().answers = true;
            sim.run_until(|_| true, 0).expect("a flush");
            filter.borrow_mut().answers = false;
        }
        if !sim.step() {
            break;
        }
        step += 1;
        if moment {
            let ep = if victim == 0 { sim.a() } else { sim.b() };
            checkpoints.push((step, without_challenge_limit(format!("{:?}", ep.conn))));
        }
    }
    let answers = filter.borrow().dropped;
    Run {
        outcome: Outcome {
            trace: sim.trace().to_vec(),
            end: sim.now(),
            steps: step,
            received: [sim.a().app.received.clone(), sim.b().app.received.clone()],
            events: [sim.a().app.events.clone(), sim.b().app.events.clone()],
            checkpoints,
            finals: [
                without_challenge_limit(format!("{:?}", sim.a().conn)),
                without_challenge_limit(format!("{:?}", sim.b().conn)),
            ],
        },
        injected,
        answers,
        time_wait_moments,
    }
}

/// The property for one seed, victim and set of kinds.
fn discards_change_nothing(seed: u64, config: Config, victim: usize, kinds: &[Kind]) {
    let reference = run(seed, config, victim, kinds, false);
    assert_eq!(
        reference.outcome.received[1],
        payload(),
        "the reference transfer itself failed"
    );
    let hostile = run(seed, config, victim, kinds, true);
    assert!(
        hostile.injected >= 5,
        "only {} hostile segments were handed in ({} answers dropped): the schedule missed the transfer",
        hostile.injected,
        hostile.answers
    );
    if victim == 0 {
        assert!(
            hostile.time_wait_moments > 0,
            "A's TIME-WAIT was never reached"
        );
    }
    let (r, h) = (&reference.outcome, &hostile.outcome);
    // The wire, the answers dropped off it aside (nothing else is).
    let wire = |trace: &[TraceEntry]| -> Vec<TraceEntry> {
        let mut t = trace.to_vec();
        t.retain(|e| e.fate != Fate::Dropped);
        t
    };
    let (rt, ht) = (wire(&r.trace), wire(&h.trace));
    if ht != rt {
        let at = ht
            .iter()
            .zip(&rt)
            .position(|(x, y)| x != y)
            .unwrap_or(ht.len().min(rt.len()));
        panic!(
            "the wire differs from entry {at}:\n  reference: {:?}\n  hostile:   {:?}",
            rt.get(at).map(ToString::to_string),
            ht.get(at).map(ToString::to_string)
        );
    }
    assert_eq!(h.received, r.received, "the bytes delivered differ");
    assert_eq!(h.events, r.events, "the events differ");
    assert_eq!(h.end, r.end, "the end time differs");
    assert_eq!(h.steps, r.steps, "the number of steps differs");
    assert_eq!(
        h.checkpoints.len(),
        r.checkpoints.len(),
        "the number of injection moments differs"
    );
    for ((step, got), (_, want)) in h.checkpoints.iter().zip(&r.checkpoints) {
        assert!(
            got == want,
            "the victim's state differs one step after the injection before step {step}:\n{}",
            first_difference(want, got)
        );
    }
    assert!(h.finals == r.finals, "the final states differ");
}

/// A connection's `{:?}` without its challenge-ACK rate limiter: when
/// the last challenge ACK went out is part of the answer (RFC 5961 §7
/// limits answers), like Last.ACK.sent, not state the discard changed.
fn without_challenge_limit(state: String) -> String {
    let Some(start) = state.find("challenge: ChallengeLimit {") else {
        panic!("the connection's Debug no longer shows its challenge limit: {state}");
    };
    let mut depth = 0;
    let len = state[start..]
        .char_indices()
        .find_map(|(i, ch)| {
            match ch {
                '{' => depth += 1,
                '}' if depth == 1 => return Some(i + 1),
                '}' => depth -= 1,
                _ => {}
            }
            None
        })
        .expect("the limiter's closing brace");
    format!("{}{}", &state[..start], &state[start + len..])
}

/// Where two `{:?}` renderings part, with some context.
fn first_difference(want: &str, got: &str) -> String {
    let at = want
        .bytes()
        .zip(got.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    let from = at.saturating_sub(200);
    let cut = |s: &str| {
        s.get(from..(at + 200).min(s.len()))
            .unwrap_or("")
            .to_owned()
    };
    format!("  reference: …{}…\n  hostile:   …{}…", cut(want), cut(got))
}

fn config(seed: u64) -> Config {
    Config {
        // One seed in four without SACK, one in four without timestamps
        // (then PAWS-old segments are simply ones that fail later checks).
        sack_permitted: seed % 4 != 1,
        timestamps: seed % 4 != 2,
        msl: Duration::from_secs(1),
        // Small buffers: every checkpoint renders the whole connection.
        recv_buffer: 256 * 1024,
        send_buffer: 256 * 1024,
        ..Config::default()
    }
}

/// Seeded random hostile segments of every kind, at the sender (A) and at
/// the receiver (B).
#[rstest]
fn random_hostile_segments_change_nothing(
    #[values(0, 1, 2, 3, 4, 5, 6, 7)] seed: u64,
    #[values(0, 1)] victim: usize,
) {
    discards_change_nothing(seed, config(seed), victim, &KINDS);
}

/// Each kind alone, hand-picked, at both ends.
#[rstest]
fn each_kind_of_hostile_segment_changes_nothing(
    #[values(
        Kind::WrongFlow,
        Kind::OutOfWindow,
        Kind::AckBeyondSent,
        Kind::AckTooOld,
        Kind::SynInWindow,
        Kind::RstNotExact,
        Kind::RstOutOfWindow,
        Kind::PawsOld,
        Kind::FarAheadTsBadAck,
        Kind::FarAheadTsSyn,
        Kind::NoAck,
        Kind::FinAgain
    )]
    kind: Kind,
    #[values(0, 1)] victim: usize,
) {
    discards_change_nothing(100, config(0), victim, &[kind]);
}

/// The harness itself: segments the engine accepts (duplicate ACKs,
/// which count towards fast retransmit) do change the transfer, and the
/// comparison says so.
#[test]
#[should_panic(expected = "differs")]
fn accepted_segments_are_caught() {
    discards_change_nothing(100, config(0), 0, &[Kind::HonestDupAck]);
}
