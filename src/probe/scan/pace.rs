//! How fast a scan sends: a fixed rate, or one that adapts to the path.
//!
//! A scanner cannot see the path's capacity; it can only see answers. A
//! closed or open port always answers (RST or SYN-ACK), so when such a
//! port stays silent on one try and answers a later one, that try (or its
//! answer) was lost or held in a queue past its timeout: the path, or the
//! host, took more than it could. That is the congestion signal, as in
//! nmap's scan engine. Everything else is not a signal:
//!
//! - a port silent on every try is filtered (a firewall drops its SYNs
//!   forever), which says nothing about the path, so silence alone never
//!   slows the scan down;
//! - an ICMP unreachable that comes only on a retry is not a signal
//!   either: hosts and routers rate-limit ICMP errors by themselves (Linux:
//!   about one a second per peer), whatever the probe rate, and reading
//!   that as congestion would crawl any scan of a host that rejects ports.
//!
//! The rate moves like TCP's congestion window, in probes per second:
//!
//! - **Slow start.** From [`START_RATE`] (within the bounds), every
//!   first-try answer adds `ln 2 / D` SYNs per second, where `D` is the
//!   feedback delay, the time a loss takes to show (one try's timeout).
//!   Answers come back at about the rate itself, so the rate doubles every
//!   `D`: no faster than losses can be noticed. Where only a share of the
//!   ports answer at all (the rest filtered, as the verdicts so far show),
//!   each answer counts for the silent probes around it. With no answers
//!   (a host that filters everything) there is no evidence of what the
//!   path carries: a first try's silence then counts as an answer would,
//!   but only up to [`BLIND_RATE`], the fixed rate nettool's scans used to
//!   have by default; beyond it the rate grows on answers alone.
//! - **A loss cuts the rate to 70 %** of what the path is known to carry,
//!   and ends slow start. That is the lowest of the current rate, the rate
//!   the lost try left at (slow start may have doubled it since), and the
//!   rate answers come back at (smoothed over `D`, and divided by the share
//!   of ports that answer at all, so filtered ports do not count as lost).
//!   A deep queue in front of a slow link lets the sending rate run far
//!   past the link's before the first loss; the answers' rate is the
//!   link's. Losses of tries sent before a cut are the same congestion,
//!   already answered, and do not cut again: one cut per episode. 70 %
//!   rather than TCP Reno's 50 % (CUBIC's choice): a lost SYN costs only a
//!   retry, and a gentler cut keeps the saw-tooth's mean nearer the
//!   bottleneck (in the simulated ones, from 200/s to 20,000/s, the whole
//!   scan averages 66 to 100 % of the bottleneck's rate; 59 to 91 % with
//!   halving).
//! - **Congestion avoidance.** After the first cut the rate grows eight
//!   times slower (doubling every `8 D`), so it settles into a saw-tooth
//!   just under the bottleneck instead of overrunning it every `D`.
//! - **Smooth sending.** After a late wake-up the scanner sends the SYNs
//!   it missed at once, to keep the average rate; an adaptive scan makes
//!   up for at most [`ADAPTIVE_CATCH_UP`] of them (a fixed one for 1 ms),
//!   because a policer with a small bucket drops bursts even when the
//!   average is under its rate, and such losses would hold the rate far
//!   below what the path carries.
//! - The rate stays within `[min, max]`. It does not grow while the
//!   in-flight bound (`concurrency`) rather than the rate limits the
//!   sending: a rate the path has never carried is not earned (RFC 7661's
//!   reasoning for TCP's window).
//!
//! The in-flight bound stays fixed, a safety cap rather than a congestion
//! window: in a scan most waiting ports are usually filtered ones sitting
//! out their timeouts, so a window shrunk on loss would starve the scan
//! on filtered ports, which are exactly what must not slow it down. What
//! a bottleneck or a policer measures is the rate.
//!
//! [`Rate::Fixed`] turns all of this off: the rate never moves, as before
//! the rate adapted; losses are still counted for the summary.

use std::time::Duration;

use crate::time::Instant;

/// Where an adaptive scan starts: slow enough for a modest path, and 100×
/// below the default ceiling, seven doublings (0.7 s on a LAN) away.
pub const START_RATE: f64 = 1000.0;

/// How fast an adaptive scan may grow without answers to show for it:
/// the fixed rate nettool's scans always had by default. A host behind a
/// default-deny firewall answers on almost no port; its silence proves
/// nothing, so it neither holds the rate below this nor lifts it above.
pub const BLIND_RATE: f64 = 10_000.0;

/// A loss leaves this fraction of the rate the path is known to carry.
const CUT: f64 = 0.7;

/// How much late sending an adaptive scan makes up for at once: at
/// 20,000/s, four SYNs back to back, which a policer's bucket of five takes.
pub const ADAPTIVE_CATCH_UP: Duration = Duration::from_micros(200);

/// How much late sending a fixed rate makes up for at once, so that its
/// average holds.
pub const FIXED_CATCH_UP: Duration = Duration::from_millis(1);

/// The smallest share of answering ports the delivered rate is divided
/// by: a host that answers on almost no port gives too few answers to
/// scale up a thousandfold.
const MIN_ANSWERED_SHARE: f64 = 0.01;

/// Congestion avoidance grows the rate this many times slower than slow start.
const AVOIDANCE_SLOWDOWN: f64 = 8.0;

/// How the rate is chosen, in SYNs per second (retries included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// Exactly this many, whatever happens.
    Fixed(u32),
    /// Adapts to the path between a floor and a ceiling.
    Adaptive { min: u32, max: u32 },
}

impl Rate {
    /// The floor and the ceiling (one and the same when fixed).
    pub fn bounds(self) -> (u32, u32) {
        match self {
            Rate::Fixed(r) => (r, r),
            Rate::Adaptive { min, max } => (min, max),
        }
    }
}

/// A try as it left: when, and at what rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sent {
    pub at: Instant,
    pub rate: f64,
}

/// What the rate did during a scan, for the summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaceStats {
    /// The rate now, SYNs per second.
    pub rate: f64,
    /// The highest rate reached.
    pub peak: f64,
    /// Ports that answered only on a retry: a try of theirs was lost.
    pub drops: u64,
    /// Times the rate was cut because of them.
    pub cuts: u64,
}

#[derive(Debug, Clone)]
pub struct Pace {
    rate: f64,
    min: f64,
    max: f64,
    /// Slow start below, congestion avoidance from here up.
    ssthresh: f64,
    /// When the rate was last cut: losses of tries sent before it are
    /// already answered for.
    last_cut: Option<Instant>,
    /// How long a loss takes to show: the scanner's current try timeout.
    feedback: Duration,
    delivery: Delivery,
    peak: f64,
    drops: u64,
    cuts: u64,
}

/// How many answers a second come back, smoothed over about one feedback
/// delay: a count that decays exponentially, so each answer costs O(1)
/// and silence lowers the estimate as time passes.
#[derive(Debug, Clone, Default)]
struct Delivery {
    /// About the answers of the last `window`.
    level: f64,
    at: Option<Instant>,
}

impl Delivery {
    fn decay_to(&mut self, now: Instant, window: Duration) {
        if let Some(at) = self.at {
            let dt = now.saturating_duration_since(at).as_secs_f64();
            self.level *= (-dt / window.as_secs_f64().max(1e-6)).exp();
        }
        self.at = Some(self.at.map_or(now, |at| at.max(now)));
    }

    fn record(&mut self, now: Instant, window: Duration) {
        self.decay_to(now, window);
        self.level += 1.0;
    }

    /// Answers per second around `now`.
    fn rate(&mut self, now: Instant, window: Duration) -> f64 {
        self.decay_to(now, window);
        self.level / window.as_secs_f64().max(1e-6)
    }
}

impl Pace {
    /// A pace for `rate`; a loss takes `feedback` to show until
    /// [`Pace::set_feedback`] says otherwise.
    pub fn new(rate: Rate, feedback: Duration) -> Pace {
        let (min, max, start) = match rate {
            Rate::Fixed(r) => (r, r, f64::from(r.max(1))),
            Rate::Adaptive { min, max } => (min, max, START_RATE),
        };
        let (min, max) = (f64::from(min.max(1)), f64::from(max.max(min).max(1)));
        let rate = start.clamp(min, max);
        Pace {
            rate,
            min,
            max,
            ssthresh: f64::INFINITY,
            last_cut: None,
            feedback,
            delivery: Delivery::default(),
            peak: rate,
            drops: 0,
            cuts: 0,
        }
    }

    /// SYNs per second now.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The gap between two SYNs at the current rate.
    pub fn spacing(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.rate)
    }

    /// Whether the rate can move at all (not fixed).
    pub fn adapts(&self) -> bool {
        self.min < self.max
    }

    /// The most sending time a late wake-up may make up for at once.
    pub fn catch_up(&self) -> Duration {
        if self.adapts() {
            ADAPTIVE_CATCH_UP
        } else {
            FIXED_CATCH_UP
        }
    }

    pub fn in_slow_start(&self) -> bool {
        self.rate < self.ssthresh
    }

    pub fn stats(&self) -> PaceStats {
        PaceStats {
            rate: self.rate,
            peak: self.peak,
            drops: self.drops,
            cuts: self.cuts,
        }
    }

    /// How long a loss takes to show now (one try's timeout).
    pub fn set_feedback(&mut self, feedback: Duration) {
        self.feedback = feedback;
    }

    /// An answer came, to any try: one more probe the path carried.
    pub fn on_delivered(&mut self, now: Instant) {
        self.delivery.record(now, self.feedback);
    }

    /// A port answered its first try, while the rate (not the in-flight
    /// bound) was what held the sending back: the path keeps up.
    /// `answered_share` is the share of finished ports that answered at
    /// all: one answer among filtered ports vouches for the silent probes
    /// around it too, so a host that filters most ports still lets the
    /// rate double every `D`.
    pub fn on_answer(&mut self, answered_share: f64) {
        self.set(self.rate + self.step(answered_share));
    }

    /// What one probe that went through adds: `ln 2 / D` in slow start
    /// (so the rate doubles every `D`), eight times less after it, scaled
    /// up when the probe stands for silent ones around it.
    fn step(&self, answered_share: f64) -> f64 {
        let d = self.feedback.as_secs_f64().max(1e-6);
        let share = answered_share.clamp(MIN_ANSWERED_SHARE, 1.0);
        let step = std::f64::consts::LN_2 / d / share;
        if self.in_slow_start() {
            step
        } else {
            step / AVOIDANCE_SLOWDOWN
        }
    }

    /// A port's first try went unanswered: no evidence either way (a
    /// firewall, or a loss). Up to [`BLIND_RATE`] it counts as an answer
    /// would; beyond that only answers earn more.
    pub fn on_silence(&mut self) {
        if self.rate < BLIND_RATE {
            self.set((self.rate + self.step(1.0)).min(BLIND_RATE));
        }
    }

    /// A port answered only on a retry: its earlier try, `lost`, was
    /// dropped (or its answer was, or it queued past its timeout).
    /// `answered_share` is the share of finished ports that answered at
    /// all (the rest filtered).
    pub fn on_loss(&mut self, now: Instant, lost: Sent, answered_share: f64) {
        self.drops += 1;
        if !self.adapts() {
            return; // a fixed rate: nothing to cut
        }
        if self.last_cut.is_some_and(|cut| lost.at < cut) {
            return; // the congestion that lost it was already answered
        }
        let carried =
            self.delivery.rate(now, self.feedback) / answered_share.clamp(MIN_ANSWERED_SHARE, 1.0);
        self.set(self.rate.min(lost.rate).min(carried) * CUT);
        self.ssthresh = self.rate;
        self.last_cut = Some(now);
        self.cuts += 1;
    }

    fn set(&mut self, rate: f64) {
        self.rate = rate.clamp(self.min, self.max);
        self.peak = self.peak.max(self.rate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const D: Duration = Duration::from_millis(100);

    #[rstest]
    #[case(Rate::Fixed(500), (500, 500))]
    #[case(Rate::Adaptive { min: 100, max: 9000 }, (100, 9000))]
    fn a_rate_has_a_floor_and_a_ceiling(#[case] rate: Rate, #[case] want: (u32, u32)) {
        assert_eq!(rate.bounds(), want);
    }

    /// A pace on a virtual clock, fed answers the way a path returns them.
    struct Run {
        p: Pace,
        now: Instant,
    }

    impl Run {
        fn adaptive(min: u32, max: u32) -> Run {
            Run {
                p: Pace::new(Rate::Adaptive { min, max }, D),
                now: Instant::ZERO,
            }
        }

        /// `ms` milliseconds of first-try answers, coming back at the
        /// sending rate (a clean path) or at most at `cap` a second.
        fn answers(&mut self, ms: u64, cap: Option<f64>) {
            let mut owed = 0.0;
            for _ in 0..ms {
                owed += self.p.rate().min(cap.unwrap_or(f64::INFINITY)) / 1000.0;
                while owed >= 1.0 {
                    self.p.on_delivered(self.now);
                    self.p.on_answer(1.0);
                    owed -= 1.0;
                }
                self.now += Duration::from_millis(1);
            }
        }

        /// A retry answered now, its earlier try sent `ago` ms back at `rate`.
        fn loss(&mut self, ago: u64, rate: f64) {
            let lost = Sent {
                at: Instant::from_micros(self.now.total_micros() - ago * 1000),
                rate,
            };
            self.p.on_delivered(self.now);
            self.p.on_loss(self.now, lost, 1.0);
        }
    }

    fn near(got: f64, want: f64, tolerance: f64) -> bool {
        (got - want).abs() <= want * tolerance
    }

    #[rstest]
    #[case::starts_at_the_start_rate(Rate::Adaptive { min: 100, max: 100_000 }, 1000.0)]
    #[case::never_below_the_floor(Rate::Adaptive { min: 5000, max: 100_000 }, 5000.0)]
    #[case::never_above_the_ceiling(Rate::Adaptive { min: 10, max: 300 }, 300.0)]
    #[case::fixed(Rate::Fixed(10_000), 10_000.0)]
    fn the_first_rate(#[case] rate: Rate, #[case] want: f64) {
        assert_eq!(Pace::new(rate, D).rate(), want);
    }

    #[test]
    fn slow_start_doubles_the_rate_once_per_feedback_delay() {
        let mut r = Run::adaptive(100, 1_000_000);
        r.answers(100, None);
        assert!(near(r.p.rate(), 2000.0, 0.03), "{}", r.p.rate());
        r.answers(100, None);
        assert!(near(r.p.rate(), 4000.0, 0.03), "{}", r.p.rate());
        assert!(r.p.in_slow_start());
    }

    #[test]
    fn a_loss_cuts_the_rate_the_lost_try_left_at_and_ends_slow_start() {
        let mut r = Run::adaptive(100, 1_000_000);
        r.answers(300, None);
        assert!(r.p.rate() > 7800.0, "{}", r.p.rate());
        r.loss(100, 4000.0);
        assert!(near(r.p.rate(), 2800.0, 0.001), "{}", r.p.rate());
        assert!(!r.p.in_slow_start());
        assert_eq!(r.p.stats().cuts, 1);
    }

    #[test]
    fn a_loss_cuts_the_rate_answers_come_back_at_when_that_is_lower() {
        // Slow start went on while a deep queue held the excess: answers
        // came back at 1500/s all along.
        let mut r = Run::adaptive(100, 1_000_000);
        r.answers(400, Some(1500.0));
        assert!(r.p.rate() > 4000.0, "{}", r.p.rate());
        r.loss(100, 4000.0);
        assert!(near(r.p.rate(), 1050.0, 0.05), "{}", r.p.rate());
    }

    #[test]
    fn filtered_ports_do_not_count_as_undelivered() {
        let mut r = Run::adaptive(100, 1_000_000);
        r.answers(400, Some(1500.0));
        let lost = Sent {
            at: Instant::from_millis(300),
            rate: 4000.0,
        };
        // Only half the ports answer at all: 1500 answers a second are
        // 3000 probes a second through.
        r.p.on_loss(r.now, lost, 0.5);
        assert!(near(r.p.rate(), 2100.0, 0.05), "{}", r.p.rate());
    }

    #[test]
    fn congestion_avoidance_grows_eight_times_slower() {
        let mut r = Run::adaptive(100, 1_000_000);
        r.answers(300, None);
        r.loss(100, 2000.0);
        assert!(near(r.p.rate(), 1400.0, 0.001), "{}", r.p.rate());
        r.answers(100, None);
        // 2^(1/8) = 1.09
        assert!(near(r.p.rate(), 1526.0, 0.01), "{}", r.p.rate());
    }

    #[test]
    fn one_cut_per_congestion_episode() {
        let mut r = Run::adaptive(100, 1_000_000);
        r.answers(500, Some(1000.0));
        r.loss(100, 1000.0);
        assert!(near(r.p.rate(), 700.0, 0.01), "{}", r.p.rate());
        // Tries sent before that cut, lost in the same episode: counted, no cut.
        r.answers(10, None);
        r.loss(60, 1000.0);
        r.answers(10, None);
        r.loss(21, 1000.0);
        let after = r.p.rate();
        assert!(
            (700.0..720.0).contains(&after),
            "grown a little, not cut: {after}"
        );
        // A try sent after the cut and still lost: the cut was not enough.
        r.answers(100, None);
        r.loss(50, after);
        assert!(near(r.p.rate(), after * 0.7, 0.01), "{}", r.p.rate());
        assert_eq!(
            (r.p.stats().drops, r.p.stats().cuts),
            (4, 2),
            "every loss counted, two cuts"
        );
    }

    #[rstest]
    #[case::grows_like_answers_below_the_blind_rate(1000, 100, 2000.0)]
    #[case::stops_at_the_blind_rate(8000, 1000, BLIND_RATE)]
    #[case::never_lifts_a_rate_above_it(20_000, 1000, 20_000.0)]
    fn silence_is_no_evidence_beyond_the_old_default(
        #[case] min: u32,
        #[case] ms: u64,
        #[case] want: f64,
    ) {
        let mut r = Run::adaptive(min, 1_000_000);
        // First tries timing out at the rate they are sent at, 1 ms at a time.
        let mut owed = 0.0;
        for _ in 0..ms {
            owed += r.p.rate() / 1000.0;
            while owed >= 1.0 {
                r.p.on_silence();
                owed -= 1.0;
            }
        }
        assert!(near(r.p.rate(), want, 0.03), "{}", r.p.rate());
    }

    #[test]
    fn the_floor_holds_under_any_loss() {
        let mut r = Run::adaptive(300, 1000);
        for _ in 0..20 {
            r.answers(10, None);
            r.loss(5, 1000.0);
        }
        assert_eq!(r.p.rate(), 300.0);
    }

    #[test]
    fn the_ceiling_holds_under_any_success() {
        let mut r = Run::adaptive(100, 5000);
        r.answers(2000, None);
        assert_eq!((r.p.rate(), r.p.stats().peak), (5000.0, 5000.0));
    }

    #[test]
    fn a_fixed_rate_never_moves_but_losses_are_counted() {
        let mut r = Run {
            p: Pace::new(Rate::Fixed(10_000), D),
            now: Instant::ZERO,
        };
        r.answers(100, None);
        r.loss(100, 10_000.0);
        assert_eq!(r.p.rate(), 10_000.0);
        assert_eq!(r.p.spacing(), Duration::from_micros(100));
        assert_eq!((r.p.stats().drops, r.p.stats().cuts), (1, 0));
    }
}
