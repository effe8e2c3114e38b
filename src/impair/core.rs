//! The relay's decisions, sans-IO: frames and the time since start go in,
//! frames to transmit come out, and every decision is counted.

use std::collections::VecDeque;
use std::time::Duration;

use super::frame::{self, Kind, Summary};
use super::{Config, Dir, DirStats, Stats};
use crate::sim::Rng;

/// True with probability `p`, from the side's generator (the project's
/// one SplitMix64). Unlike [`Rng::chance`], a number is drawn for every
/// `p`, 0 and 1 included, so the sequence of draws depends only on the
/// frames, not on which faults are switched on.
fn draw(rng: &mut Rng, p: f64) -> bool {
    rng.next_f64() < p
}

fn note_held(
    events: &mut Option<Vec<Event>>,
    at: Duration,
    dir: Dir,
    h: &Held,
    decision: Decision,
) {
    if let Some(ev) = events.as_mut() {
        ev.push(Event {
            at,
            dir,
            n: h.n,
            decision,
            tcp: Some(h.summary),
        });
    }
}

/// A frame to transmit: on the right interface for [`Dir::LeftToRight`],
/// on the left one for [`Dir::RightToLeft`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emit {
    pub dir: Dir,
    pub frame: Vec<u8>,
}

struct Held {
    frame: Vec<u8>,
    /// Which frame of its direction it was (for the trace).
    n: u64,
    summary: Summary,
    due: Duration,
    /// Frames still to overtake this one before it is released.
    after: u32,
}

struct Side {
    rng: Rng,
    held: VecDeque<Held>,
    delayed: VecDeque<(Duration, Vec<u8>)>,
    stats: DirStats,
}

/// What happened to a frame, for the decision trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Dropped,
    Duplicated,
    /// One bit flipped, in the byte at this offset of the frame.
    Corrupted {
        byte: usize,
    },
    /// Held back for reordering.
    Held,
    /// A held frame released after enough later frames overtook it.
    Overtaken,
    /// A held frame released when its hold time ran out.
    ReleasedLate,
    Blackholed,
}

/// One line of the decision trace: frame `n` of direction `dir` (counting
/// from 1, as `received` does) met `decision` at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub at: Duration,
    pub dir: Dir,
    pub n: u64,
    pub decision: Decision,
    /// The TCP segment, or `None` for a blackholed non-TCP frame.
    pub tcp: Option<Summary>,
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.decision {
            Decision::Dropped => "dropped".to_string(),
            Decision::Duplicated => "duplicated".to_string(),
            Decision::Corrupted { byte } => format!("corrupted@{byte}"),
            Decision::Held => "held".to_string(),
            Decision::Overtaken => "overtaken".to_string(),
            Decision::ReleasedLate => "released-late".to_string(),
            Decision::Blackholed => "blackholed".to_string(),
        };
        write!(
            f,
            "{:.6} {} #{} {what}",
            self.at.as_secs_f64(),
            self.dir,
            self.n
        )?;
        match &self.tcp {
            Some(t) => write!(f, " {t}"),
            None => write!(f, " (not TCP)"),
        }
    }
}

/// The impairment state machine for both directions.
pub struct Relay {
    config: Config,
    sides: [Side; 2],
    /// Decisions recorded since the last [`Relay::take_events`], when tracing.
    events: Option<Vec<Event>>,
    /// Blackhole switched on by hand (SIGUSR1): since when, or `None`.
    manual_since: Option<Duration>,
}

impl Relay {
    pub fn new(config: Config) -> Relay {
        // One generator per direction, both seeded from the one seed, so
        // that what happens in one direction never shifts the other's draws.
        let mut master = Rng::new(config.seed);
        let side = |rng| Side {
            rng,
            held: VecDeque::new(),
            delayed: VecDeque::new(),
            stats: DirStats::default(),
        };
        let sides = [
            side(Rng::new(master.next_u64())),
            side(Rng::new(master.next_u64())),
        ];
        Relay {
            config,
            sides,
            events: None,
            manual_since: None,
        }
    }

    /// Records every decision (not plain forwarding) for [`Relay::take_events`].
    pub fn trace(&mut self) {
        self.events.get_or_insert_with(Vec::new);
    }

    /// The decisions recorded since the last call (none unless tracing).
    pub fn take_events(&mut self) -> Vec<Event> {
        self.events.as_mut().map(std::mem::take).unwrap_or_default()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the blackhole is on at `now` (scheduled, or switched on by hand).
    pub fn blackhole_active(&self, now: Duration) -> bool {
        if let Some(since) = self.manual_since {
            let lasts = self.config.blackhole_for.unwrap_or(Duration::MAX);
            if now.saturating_sub(since) < lasts {
                return true;
            }
        }
        match self.config.blackhole_after {
            Some(after) if now >= after => match self.config.blackhole_for {
                Some(length) => now < after.saturating_add(length),
                None => true,
            },
            _ => false,
        }
    }

    /// The control signal: starts a blackhole now (lasting `blackhole_for`,
    /// or until the next toggle), or ends the one started by hand. Returns
    /// whether the manual blackhole is now on.
    pub fn toggle_blackhole(&mut self, now: Duration) -> bool {
        let on = match self.manual_since {
            Some(since) => {
                now.saturating_sub(since) >= self.config.blackhole_for.unwrap_or(Duration::MAX)
            }
            None => true,
        };
        self.manual_since = on.then_some(now);
        on
    }

    /// One frame read on the interface where `dir` starts. `partial` says
    /// the kernel left its checksum unfinished (checksum offload): a TCP
    /// checksum is then completed before anything else happens to it.
    pub fn on_frame(
        &mut self,
        now: Duration,
        dir: Dir,
        mut frame: Vec<u8>,
        partial: bool,
        out: &mut Vec<Emit>,
    ) {
        self.on_timeout(now, out);
        let blackhole = self.blackhole_active(now);
        let faults = self.config.faults[dir.index()];
        let (hold, after) = (self.config.reorder_hold, self.config.reorder_after);
        let side = &mut self.sides[dir.index()];
        side.stats.received += 1;
        let n = side.stats.received;
        let events = &mut self.events;
        let note = |events: &mut Option<Vec<Event>>, decision, tcp| {
            if let Some(ev) = events.as_mut() {
                ev.push(Event {
                    at: now,
                    dir,
                    n,
                    decision,
                    tcp,
                });
            }
        };
        let span = match frame::classify(&frame) {
            Kind::Other => {
                if blackhole && self.config.blackhole_all {
                    side.stats.blackholed += 1;
                    note(events, Decision::Blackholed, None);
                } else {
                    side.stats.other += 1;
                    side.stats.forwarded += 1;
                    out.push(Emit { dir, frame });
                }
                return;
            }
            Kind::Tcp(span) => span,
        };
        side.stats.tcp += 1;
        if partial {
            frame::complete_tcp_checksum(&mut frame, &span);
            side.stats.checksum_completed += 1;
        }
        let summary = frame::summary(&frame, &span);
        if blackhole {
            side.stats.blackholed += 1;
            note(events, Decision::Blackholed, Some(summary));
            return;
        }
        if draw(&mut side.rng, faults.loss) {
            side.stats.dropped += 1;
            note(events, Decision::Dropped, Some(summary));
            return;
        }
        let copies = if draw(&mut side.rng, faults.dup) {
            side.stats.duplicated += 1;
            note(events, Decision::Duplicated, Some(summary));
            2
        } else {
            1
        };
        for copy in 0..copies {
            let mut f = if copy + 1 == copies {
                std::mem::take(&mut frame)
            } else {
                frame.clone()
            };
            if draw(&mut side.rng, faults.corrupt) {
                let pick = side.rng.next_u64();
                let byte = frame::flip_bit(&mut f, &span, pick);
                side.stats.corrupted += 1;
                note(events, Decision::Corrupted { byte }, Some(summary));
            }
            if draw(&mut side.rng, faults.reorder) {
                side.stats.reordered += 1;
                note(events, Decision::Held, Some(summary));
                side.held.push_back(Held {
                    frame: f,
                    n,
                    summary,
                    due: now + hold,
                    after,
                });
                continue;
            }
            // In order: this frame overtakes every held one.
            Self::output(side, dir, now, faults.delay, f, out);
            let mut i = 0;
            while i < side.held.len() {
                side.held[i].after = side.held[i].after.saturating_sub(1);
                if side.held[i].after == 0 {
                    let h = side.held.remove(i).expect("index checked");
                    side.stats.overtaken += 1;
                    note_held(events, now, dir, &h, Decision::Overtaken);
                    Self::output(side, dir, now, faults.delay, h.frame, out);
                } else {
                    i += 1;
                }
            }
        }
    }

    /// The last stage: the fixed delay, or the wire.
    fn output(
        side: &mut Side,
        dir: Dir,
        now: Duration,
        delay: Duration,
        frame: Vec<u8>,
        out: &mut Vec<Emit>,
    ) {
        if delay.is_zero() {
            side.stats.forwarded += 1;
            out.push(Emit { dir, frame });
        } else {
            side.stats.delayed += 1;
            side.delayed.push_back((now + delay, frame));
        }
    }

    /// Releases what is due at `now`: held frames whose time is up (then
    /// delayed like any other) and delayed frames.
    pub fn on_timeout(&mut self, now: Duration, out: &mut Vec<Emit>) {
        let blackhole = self.blackhole_active(now);
        for dir in [Dir::LeftToRight, Dir::RightToLeft] {
            let delay = self.config.faults[dir.index()].delay;
            let side = &mut self.sides[dir.index()];
            while let Some(pos) = side.held.iter().position(|h| h.due <= now) {
                let h = side.held.remove(pos).expect("position is in range");
                if blackhole {
                    side.stats.blackholed += 1;
                    note_held(&mut self.events, now, dir, &h, Decision::Blackholed);
                } else {
                    note_held(&mut self.events, now, dir, &h, Decision::ReleasedLate);
                    Self::output(side, dir, now, delay, h.frame, out);
                }
            }
            while side.delayed.front().is_some_and(|(due, _)| *due <= now) {
                let (_, frame) = side.delayed.pop_front().expect("front checked");
                if blackhole {
                    // Frames in flight fall into the hole too.
                    side.stats.blackholed += 1;
                } else {
                    side.stats.forwarded += 1;
                    out.push(Emit { dir, frame });
                }
            }
        }
    }

    /// When `on_timeout` next has something to do.
    pub fn next_timeout(&self) -> Option<Duration> {
        self.sides
            .iter()
            .flat_map(|s| {
                s.held
                    .iter()
                    .map(|h| h.due)
                    .chain(s.delayed.front().map(|d| d.0))
            })
            .min()
    }

    /// A transmission the kernel refused (counted; the frame is lost).
    pub fn note_send_error(&mut self, dir: Dir) {
        let s = &mut self.sides[dir.index()].stats;
        s.forwarded -= 1;
        s.send_errors += 1;
    }

    /// A frame longer than the read buffer (never expected: offloads off).
    pub fn note_truncated(&mut self, dir: Dir) {
        self.sides[dir.index()].stats.truncated += 1;
    }

    /// Every counter, as of `now`.
    pub fn stats(&self, now: Duration) -> Stats {
        let side = |s: &Side| DirStats {
            queued: (s.held.len() + s.delayed.len()) as u64,
            ..s.stats.clone()
        };
        Stats {
            elapsed_ms: now.as_millis() as u64,
            seed: self.config.seed,
            blackhole_active: self.blackhole_active(now),
            left_to_right: side(&self.sides[0]),
            right_to_left: side(&self.sides[1]),
            snapshots: 0,
            finished: false,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_decision_draws_and_hits_its_rate() {
        let mut r = super::Rng::new(3);
        let hits = (0..100_000).filter(|_| super::draw(&mut r, 0.02)).count();
        assert!((1800..2200).contains(&hits), "{hits}");
        assert!((0..1000).all(|_| !super::draw(&mut r, 0.0)));
        assert!((0..1000).all(|_| super::draw(&mut r, 1.0)));
        // Each of those 2000 decisions drew a number, as any other does.
        let mut fresh = super::Rng::new(3);
        (0..102_000).for_each(|_| {
            fresh.next_u64();
        });
        assert_eq!(r.next_u64(), fresh.next_u64());
    }

    use super::*;
    use crate::impair::Faults;
    use crate::impair::frame::tests::tcp_frame;

    const MS: Duration = Duration::from_millis(1);

    fn frames(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| tcp_frame(format!("segment {i:05}").as_bytes(), 0))
            .collect()
    }

    fn run(config: Config, input: &[Vec<u8>]) -> (Vec<Emit>, Stats) {
        let mut relay = Relay::new(config);
        let mut out = Vec::new();
        for (i, f) in input.iter().enumerate() {
            let dir = if i % 3 == 2 {
                Dir::RightToLeft
            } else {
                Dir::LeftToRight
            };
            relay.on_frame(MS * i as u32, dir, f.clone(), false, &mut out);
        }
        relay.on_timeout(Duration::from_secs(3600), &mut out);
        let stats = relay.stats(Duration::from_secs(3600));
        (out, stats)
    }

    const T0: Duration = Duration::ZERO;

    /// Relays `frame` (its checksum complete) at `now`.
    fn feed(relay: &mut Relay, now: Duration, dir: Dir, frame: &[u8], out: &mut Vec<Emit>) {
        relay.on_frame(now, dir, frame.to_vec(), false, out);
    }

    /// `f` on the left-to-right direction, the other one clean.
    fn one_way(f: Faults) -> [Faults; 2] {
        [f, Faults::default()]
    }

    fn mixed(seed: u64) -> Config {
        let f = Faults {
            loss: 0.05,
            dup: 0.05,
            reorder: 0.1,
            corrupt: 0.05,
            delay: Duration::ZERO,
        };
        Config {
            seed,
            faults: [f, f],
            ..Config::default()
        }
    }

    fn check_balance(s: &DirStats) {
        assert_eq!(
            s.received + s.duplicated,
            s.forwarded + s.dropped + s.blackholed + s.queued,
            "{s:?}"
        );
    }

    #[test]
    fn a_clean_relay_forwards_everything_in_order() {
        let input = frames(100);
        let (out, stats) = run(Config::default(), &input);
        let got: Vec<_> = out.into_iter().map(|e| e.frame).collect();
        assert_eq!(got, input);
        assert_eq!(
            stats.left_to_right.forwarded + stats.right_to_left.forwarded,
            100
        );
        assert_eq!(stats.left_to_right.dropped, 0);
    }

    #[test]
    fn the_same_seed_makes_the_same_decisions() {
        let input = frames(3000);
        let (a, sa) = run(mixed(7), &input);
        let (b, sb) = run(mixed(7), &input);
        assert_eq!(a, b);
        assert_eq!(sa, sb);
        let (c, sc) = run(mixed(8), &input);
        assert_ne!(a, c);
        assert_ne!(sa.left_to_right, sc.left_to_right);
        for s in [&sa.left_to_right, &sa.right_to_left] {
            check_balance(s);
            assert!(s.dropped > 0 && s.duplicated > 0 && s.corrupted > 0 && s.reordered > 0);
            assert!(s.overtaken > 0);
        }
    }

    #[test]
    fn rates_come_out_near_the_asked_probabilities() {
        let input = frames(20_000);
        let (_, s) = run(mixed(1), &input);
        let s = s.left_to_right;
        let n = s.received as f64;
        let near = |count: u64, p: f64| {
            let r = count as f64 / n;
            assert!((r - p).abs() < p * 0.25, "{count} of {n}: {r} vs {p}");
        };
        near(s.dropped, 0.05);
        near(s.duplicated, 0.05 * 0.95);
    }

    #[test]
    fn corruption_is_detectable_and_keeps_lengths() {
        let input = frames(500);
        let mut config = mixed(3);
        config.faults[0] = Faults {
            corrupt: 1.0,
            ..Faults::default()
        };
        let (out, s) = run(config, &input);
        assert_eq!(s.left_to_right.corrupted, s.left_to_right.received);
        for e in out.iter().filter(|e| e.dir == Dir::LeftToRight) {
            let Kind::Tcp(span) = frame::classify(&e.frame) else {
                panic!("no longer TCP")
            };
            assert!(!frame::tcp_checksum_ok(&e.frame, &span));
        }
    }

    #[test]
    fn a_held_frame_is_overtaken_by_the_next_k_or_released_on_time() {
        let input = frames(5);
        let config = Config {
            faults: one_way(Faults {
                reorder: 1.0,
                ..Faults::default()
            }),
            reorder_after: 2,
            reorder_hold: 10 * MS,
            ..Config::default()
        };
        // Every frame is held; none overtakes another: released by time.
        let mut relay = Relay::new(config.clone());
        let mut out = Vec::new();
        feed(&mut relay, T0, Dir::LeftToRight, &input[0], &mut out);
        assert!(out.is_empty());
        assert_eq!(relay.next_timeout(), Some(10 * MS));
        relay.on_timeout(9 * MS, &mut out);
        assert!(out.is_empty());
        relay.on_timeout(10 * MS, &mut out);
        assert_eq!(out.len(), 1);

        // Hold only the first: the two after it go first.
        let mut relay = Relay::new(config);
        let mut out = Vec::new();
        feed(&mut relay, T0, Dir::LeftToRight, &input[0], &mut out);
        relay.config.faults[0].reorder = 0.0;
        for f in &input[1..4] {
            feed(&mut relay, MS, Dir::LeftToRight, f, &mut out);
        }
        let order: Vec<_> = out.iter().map(|e| &e.frame).collect();
        assert_eq!(order, [&input[1], &input[2], &input[0], &input[3]]);
        let s = relay.stats(MS).left_to_right;
        assert_eq!((s.reordered, s.overtaken, s.queued), (1, 1, 0));
    }

    #[test]
    fn delay_keeps_order_and_releases_on_time() {
        let input = frames(3);
        let config = Config {
            faults: one_way(Faults {
                delay: 20 * MS,
                ..Faults::default()
            }),
            ..Config::default()
        };
        let mut relay = Relay::new(config);
        let mut out = Vec::new();
        for (i, f) in input.iter().enumerate() {
            feed(&mut relay, MS * i as u32, Dir::LeftToRight, f, &mut out);
        }
        feed(&mut relay, MS * 5, Dir::RightToLeft, &input[0], &mut out);
        assert_eq!(out.len(), 1, "the undelayed direction is not held up");
        assert_eq!(relay.next_timeout(), Some(20 * MS));
        relay.on_timeout(21 * MS, &mut out);
        assert_eq!(out.len(), 3);
        relay.on_timeout(22 * MS, &mut out);
        let got: Vec<_> = out[1..].iter().map(|e| &e.frame).collect();
        assert_eq!(got, [&input[0], &input[1], &input[2]]);
    }

    #[test]
    fn a_scheduled_blackhole_drops_tcp_in_its_window_and_passes_arp() {
        let config = Config {
            blackhole_after: Some(Duration::from_secs(1)),
            blackhole_for: Some(Duration::from_secs(2)),
            ..Config::default()
        };
        let mut relay = Relay::new(config);
        let tcp = tcp_frame(b"x", 0);
        let mut arp = tcp.clone();
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        let mut out = Vec::new();
        for (t, want) in [(0.5, 1), (1.0, 0), (2.9, 0), (3.0, 1)] {
            let now = Duration::from_secs_f64(t);
            out.clear();
            feed(&mut relay, now, Dir::LeftToRight, &tcp, &mut out);
            assert_eq!(out.len(), want, "at {t}s");
            assert_eq!(relay.blackhole_active(now), want == 0);
            feed(&mut relay, now, Dir::RightToLeft, &arp, &mut out);
            assert_eq!(out.len(), want + 1, "ARP passes at {t}s");
        }
        let s = relay.stats(Duration::from_secs(4));
        assert_eq!(s.left_to_right.blackholed, 2);
        assert_eq!(s.right_to_left.other, 4);
    }

    #[test]
    fn a_permanent_blackhole_and_the_control_toggle() {
        let forever = Relay::new(Config {
            blackhole_after: Some(Duration::from_secs(1)),
            ..Config::default()
        });
        assert!(forever.blackhole_active(Duration::from_secs(100_000)));

        let mut relay = Relay::new(Config {
            blackhole_all: true,
            ..Config::default()
        });
        let mut arp = tcp_frame(b"", 0);
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert!(!relay.blackhole_active(Duration::ZERO));
        assert!(relay.toggle_blackhole(Duration::from_secs(1)));
        assert!(relay.blackhole_active(Duration::from_secs(50)));
        let mut out = Vec::new();
        relay.on_frame(
            Duration::from_secs(2),
            Dir::LeftToRight,
            arp,
            false,
            &mut out,
        );
        assert!(out.is_empty(), "--blackhole-all swallows ARP too");
        assert!(!relay.toggle_blackhole(Duration::from_secs(60)));
        assert!(!relay.blackhole_active(Duration::from_secs(61)));

        // With a length, a manual blackhole ends by itself.
        let mut timed = Relay::new(Config {
            blackhole_for: Some(Duration::from_secs(3)),
            ..Config::default()
        });
        timed.toggle_blackhole(Duration::from_secs(10));
        assert!(timed.blackhole_active(Duration::from_secs(12)));
        assert!(!timed.blackhole_active(Duration::from_secs(13)));
        assert!(
            timed.toggle_blackhole(Duration::from_secs(20)),
            "starts afresh"
        );
    }

    #[test]
    fn frames_held_or_delayed_when_a_blackhole_begins_fall_into_it() {
        let input = frames(2);
        let config = Config {
            faults: [
                Faults {
                    reorder: 1.0,
                    ..Faults::default()
                },
                Faults {
                    delay: 50 * MS,
                    ..Faults::default()
                },
            ],
            reorder_hold: 50 * MS,
            blackhole_after: Some(20 * MS),
            ..Config::default()
        };
        let mut relay = Relay::new(config);
        let mut out = Vec::new();
        feed(&mut relay, T0, Dir::LeftToRight, &input[0], &mut out);
        feed(&mut relay, T0, Dir::RightToLeft, &input[1], &mut out);
        relay.on_timeout(60 * MS, &mut out);
        assert!(out.is_empty());
        let s = relay.stats(60 * MS);
        for d in [&s.left_to_right, &s.right_to_left] {
            assert_eq!((d.blackholed, d.queued, d.forwarded), (1, 0, 0));
            check_balance(d);
        }
    }

    #[test]
    fn the_trace_has_one_event_per_decision() {
        let input = frames(3000);
        let mut relay = Relay::new(mixed(5));
        relay.trace();
        let mut out = Vec::new();
        for (i, f) in input.iter().enumerate() {
            feed(&mut relay, MS * i as u32, Dir::LeftToRight, f, &mut out);
        }
        relay.on_timeout(Duration::from_secs(3600), &mut out);
        let events = relay.take_events();
        let s = relay.stats(Duration::from_secs(3600)).left_to_right;
        let count = |want: fn(&Decision) -> bool| {
            events.iter().filter(|e| want(&e.decision)).count() as u64
        };
        assert_eq!(count(|d| *d == Decision::Dropped), s.dropped);
        assert_eq!(count(|d| *d == Decision::Duplicated), s.duplicated);
        assert_eq!(
            count(|d| matches!(d, Decision::Corrupted { .. })),
            s.corrupted
        );
        assert_eq!(count(|d| *d == Decision::Held), s.reordered);
        assert_eq!(count(|d| *d == Decision::Overtaken), s.overtaken);
        assert_eq!(
            count(|d| *d == Decision::ReleasedLate),
            s.reordered - s.overtaken
        );
        let line = events[0].to_string();
        assert!(
            line.contains("left→right #") && line.contains("[P.] seq "),
            "{line}"
        );
        assert!(relay.take_events().is_empty(), "taken");
    }

    #[test]
    fn a_partial_checksum_is_completed_first() {
        let good = tcp_frame(b"payload", 0);
        let mut partial = good.clone();
        partial[50] = 0x12;
        partial[51] = 0x34;
        let mut relay = Relay::new(Config::default());
        let mut out = Vec::new();
        relay.on_frame(Duration::ZERO, Dir::LeftToRight, partial, true, &mut out);
        assert_eq!(out[0].frame, good);
        assert_eq!(
            relay.stats(Duration::ZERO).left_to_right.checksum_completed,
            1
        );
    }
}
