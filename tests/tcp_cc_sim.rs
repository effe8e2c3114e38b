//! Congestion control on the simulated wire: after one loss in a long
//! transfer, cwnd follows CUBIC's curve (down to 0.7 of W_max, concave
//! back up to W_max in K seconds, convex beyond) with `cc: Cubic`, and
//! Reno's line (down to half, one segment more per round trip) with
//! `cc: Reno`. Then a comparison of the two through a lossy path.

use std::time::Duration;

use nettool::sim::{Dir, Fate, Impairments, Sim};
use nettool::tcp::{Config, CongestionControl};
use rstest::rstest;

/// 100 ms each way: the cubic curve needs seconds to come back to W_max,
/// many round trips, so its shape shows before the Reno-friendly W_est
/// (RFC 9438 §4.3) catches up.
const ONE_WAY: Duration = Duration::from_millis(100);
const RTT: f64 = 0.2;
/// The data segment the wire loses, in slow start's fifth round: the
/// window is 80 to 90 segments when the loss is found.
const LOST_SEGMENT: usize = 150;

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(131)).collect()
}

/// One congestion event and what followed.
struct Trajectory {
    mss: f64,
    /// cwnd (octets) just before recovery began: W_max.
    w_max: f64,
    /// cwnd and ssthresh when recovery ended.
    after_exit: f64,
    ssthresh: f64,
    /// (seconds since `exit`, cwnd in segments) after every step.
    points: Vec<(f64, f64)>,
}

impl Trajectory {
    /// cwnd, in segments, at the first step at or after `t` seconds.
    fn at(&self, t: f64) -> f64 {
        self.points
            .iter()
            .find(|p| p.0 >= t)
            .map(|p| p.1)
            .unwrap_or_else(|| panic!("no point at {t:.2} s"))
    }

    /// Where congestion avoidance began: the first step with cwnd at or
    /// above ssthresh after recovery (it ends below, RFC 6582, and slow
    /// start takes it the rest of the way). Seconds since recovery ended,
    /// and cwnd then (cwnd_epoch of RFC 9438).
    fn epoch(&self) -> (f64, f64) {
        *self
            .points
            .iter()
            .find(|p| p.1 * self.mss >= self.ssthresh)
            .expect("congestion avoidance")
    }
}

fn trajectory(cc: CongestionControl, secs: f64) -> Trajectory {
    let config = Config {
        cc,
        ..Config::default()
    };
    let mut sim = Sim::client_server(1, config).with_impairments(Impairments {
        delay: ONE_WAY,
        ..Impairments::CLEAN
    });
    // ACKs spread over a millisecond arrive one per step, each answered
    // before the next (as on a real path), so the flight is the window
    // and the window just before the loss is seen.
    sim.set_impairments(
        Dir::BtoA,
        Impairments {
            delay: ONE_WAY,
            jitter: Duration::from_millis(1),
            ..Impairments::CLEAN
        },
    );
    sim.a_mut().app.to_send = payload(16 << 20);
    let mut data_segments = 0;
    sim.drop_if(Dir::AtoB, move |seg| {
        if seg.payload.is_empty() {
            return false;
        }
        data_segments += 1;
        data_segments == LOST_SEGMENT
    });
    let mut before_loss = 0;
    let mut exit = None;
    let mut after_exit = 0.0;
    let mut ssthresh = 0.0;
    let mut was_in_recovery = false;
    let mut points = Vec::new();
    let mut mss = 0.0;
    for _ in 0..2_000_000 {
        assert!(sim.step(), "the simulation went idle");
        let conn = &sim.a().conn;
        mss = conn.tcb().eff_snd_mss as f64;
        let cwnd = conn.cwnd() as f64;
        match (was_in_recovery, conn.in_recovery(), exit) {
            (false, false, None) => before_loss = conn.cwnd(),
            (true, false, None) => {
                exit = Some(sim.now());
                after_exit = cwnd;
                ssthresh = conn.ssthresh() as f64;
            }
            _ => {}
        }
        assert!(
            exit.is_none() || !conn.in_recovery(),
            "one loss, one recovery"
        );
        was_in_recovery = conn.in_recovery();
        if let Some(exit) = exit {
            let t = (sim.now() - exit).as_secs_f64();
            points.push((t, cwnd / mss));
            if t > secs {
                return Trajectory {
                    mss,
                    w_max: before_loss as f64,
                    after_exit,
                    ssthresh,
                    points,
                };
            }
        }
    }
    panic!("no recovery after {LOST_SEGMENT} segments, or too slow ({mss})");
}

#[test]
fn cubic_after_a_loss_is_concave_up_to_w_max_then_convex() {
    let w = |t: f64, k: f64, w_max: f64| 0.4 * (t - k).powi(3) + w_max;
    let tr = trajectory(CongestionControl::Cubic, 12.0);
    let w_max = tr.w_max / tr.mss;
    // β = 0.7 at recovery entry: ssthresh = 0.7·FlightSize, and the
    // flight was the window.
    let ssthresh = tr.ssthresh / tr.mss;
    assert!(
        (ssthresh - 0.7 * w_max).abs() <= 1.0,
        "ssthresh {ssthresh:.1}, W_max {w_max:.1}"
    );
    // Recovery ends at min(ssthresh, FlightSize + SMSS) (RFC 6582), slow
    // start goes on to ssthresh, and there the curve begins, with K of
    // RFC 9438 figure 2.
    let (t0, w0) = tr.epoch();
    assert!(t0 < 2.0 * RTT, "{t0}");
    let k = ((w_max - w0) / 0.4).cbrt();
    // Long enough to see K and the convex side beyond it.
    assert!(
        w_max > 60.0 && t0 + 2.0 * k + 1.0 < 12.0,
        "W_max {w_max:.1} segments"
    );
    // Back at W_max after K seconds, following W_cubic(t): the window aims
    // one RTT ahead and gets there over the next RTT, so it runs between
    // W_cubic(t − RTT) and W_cubic(t + RTT); the first RTT of the epoch
    // goes to W_est (at t ≈ 0 the curve is no higher than cwnd, §4.3),
    // which can put it one more RTT behind.
    for t in [0.5, 1.0, k / 2.0, k, k + 1.0, 1.5 * k, 2.0 * k] {
        let cwnd = tr.at(t0 + t);
        let curve = w(t, k, w_max);
        assert!(
            cwnd >= w(t - 2.0 * RTT, k, w_max) - 1.0 && cwnd <= w(t + RTT, k, w_max) + 1.0,
            "t {t:.2} s: cwnd {cwnd:.1}, W_cubic {curve:.1} (K {k:.2} s, W_max {w_max:.1})"
        );
    }
    // Concave: each second adds less than the one before, up to K;
    // convex: more, after it.
    let gain = |from: f64| tr.at(t0 + from + 1.0) - tr.at(t0 + from);
    assert!(gain(0.0) > gain(1.0) && gain(1.0) > gain(2.0), "concave");
    let late = 2.0 * k - 1.0;
    assert!(
        gain(late) > gain(late - 1.0) && gain(late - 1.0) > gain(k),
        "convex"
    );
    assert!(gain(late) > 4.0 * gain(k - 0.5));
}

#[test]
fn reno_after_a_loss_halves_and_climbs_one_segment_per_round_trip() {
    let tr = trajectory(CongestionControl::Reno, 7.0);
    let w_max = tr.w_max / tr.mss;
    let ssthresh = tr.ssthresh / tr.mss;
    assert!(
        (ssthresh - 0.5 * w_max).abs() <= 1.0,
        "ssthresh {ssthresh:.1}, W_max {w_max:.1}"
    );
    assert!(tr.after_exit <= tr.ssthresh);
    // From ssthresh on, 1 s is 5 round trips: +5 segments, every second
    // alike.
    let (t0, _) = tr.epoch();
    for s in 0..5 {
        let gain = tr.at(t0 + s as f64 + 1.0) - tr.at(t0 + s as f64);
        assert!((4.0..=6.0).contains(&gain), "second {s}: +{gain:.1}");
    }
}

/// HyStart++ on the engine: a path whose delay jumps (a queue building)
/// ends slow start without a loss, through Conservative Slow Start, for
/// both algorithms, with timestamps or without (the per-ACK RTT then comes
/// from the transmission log); with a steady delay slow start goes on.
#[rstest]
fn an_rtt_rise_ends_slow_start_without_a_loss(
    #[values(CongestionControl::Reno, CongestionControl::Cubic)] cc: CongestionControl,
    #[values(true, false)] timestamps: bool,
) {
    let config = Config {
        cc,
        timestamps,
        ..Config::default()
    };
    let path = |ms: u64| Impairments {
        delay: Duration::from_millis(ms),
        ..Impairments::CLEAN
    };
    let mut sim = Sim::client_server(1, config).with_impairments(path(10));
    sim.a_mut().app.to_send = payload(16 << 20);
    let mss = |sim: &Sim| sim.a().conn.tcb().eff_snd_mss;
    // Slow start at 20 ms until the window passes 100 segments.
    sim.run_until(|s| s.a().conn.cwnd() > 100 * mss(s), 100_000)
        .unwrap();
    assert_eq!(sim.a().conn.ssthresh(), usize::MAX);
    let rise_at = sim.now();
    let cwnd_at_rise = sim.a().conn.cwnd();
    // The RTT doubles (+20 ms, RttThresh is 4 ms).
    sim.set_impairments(Dir::AtoB, path(30));
    sim.run_until(|s| s.a().conn.ssthresh() != usize::MAX, 100_000)
        .unwrap();
    let exit = sim.now() - rise_at;
    let conn = &sim.a().conn;
    assert!(!conn.in_recovery());
    // ssthresh = cwnd at the end of CSS (the ACKs after it in the same
    // step may have grown cwnd a little in congestion avoidance).
    let over = conn.cwnd() - conn.ssthresh();
    assert!(
        over <= 2 * mss(&sim),
        "cwnd {} ssthresh {}",
        conn.cwnd(),
        conn.ssthresh()
    );
    // The rise shows one round after it and CSS lasts five more (40 ms
    // each); in that time slow start would have grown the window 2^6
    // times, CSS by a quarter per round.
    assert!(
        exit >= Duration::from_millis(5 * 40) && exit <= Duration::from_millis(9 * 40),
        "{exit:?}"
    );
    let growth = conn.cwnd() as f64 / cwnd_at_rise as f64;
    assert!((1.5..=8.0).contains(&growth), "cwnd ×{growth:.2}");
    // No loss, so nothing was sent twice.
    let mut sent: Vec<&str> = sim
        .trace()
        .iter()
        .filter(|e| e.dir == Dir::AtoB && e.fate == Fate::Sent)
        .filter_map(|e| e.line.split(", ack").next())
        .filter(|l| l.contains("seq "))
        .collect();
    let n = sent.len();
    sent.sort_unstable();
    sent.dedup();
    assert_eq!(sent.len(), n, "a retransmission");
}

/// Virtual time to move `len` bytes from A to B over `imp`.
fn completion(cc: CongestionControl, seed: u64, imp: Impairments, len: usize) -> Duration {
    let config = Config {
        cc,
        ..Config::default()
    };
    let mut sim = Sim::client_server(seed, config).with_impairments(imp);
    sim.a_mut().app.to_send = payload(len);
    sim.a_mut().app.close_after_send = true;
    sim.run_until(|s| s.b().app.received.len() == len, 2_000_000)
        .unwrap_or_else(|e| panic!("{cc} seed {seed}: {e}"));
    assert!(sim.b().app.received == payload(len));
    Duration::from_micros(sim.now().total_micros())
}

/// 8 MiB through 1 % loss each way, 5 ms each way: both algorithms
/// deliver every byte; the times are printed for comparison
/// (`cargo test --test tcp_cc_sim -- --nocapture`).
#[rstest]
fn lossy_path_completion_times(#[values(1, 2, 3)] seed: u64) {
    let imp = Impairments {
        loss: 0.01,
        delay: Duration::from_millis(5),
        ..Impairments::CLEAN
    };
    let len = 8 << 20;
    let reno = completion(CongestionControl::Reno, seed, imp, len);
    let cubic = completion(CongestionControl::Cubic, seed, imp, len);
    println!(
        "seed {seed}: 8 MiB, 1 % loss, 10 ms RTT: reno {:.2} s, cubic {:.2} s",
        reno.as_secs_f64(),
        cubic.as_secs_f64()
    );
}
