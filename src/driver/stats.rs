//! Where a receiver's turn goes, for tuning only: with `NETTOOL_LOOP_STATS=1`
//! in the environment the loop measures, and prints on stderr at the end,
//! how long a frame waited between its arrival (the kernel's receive stamp
//! where the link has one, else the moment it was read) and the next frame
//! nettool sent (for a receiver, the ACK that covers it), how many frames
//! each drain read, and the time each turn spent receiving, in the engine,
//! in the application's moves (writing stdout) and sending. Off, it costs
//! one branch per turn.

use std::time::{Duration, SystemTime};

/// Whether the environment asks for the loop's statistics.
pub fn wanted() -> bool {
    std::env::var_os("NETTOOL_LOOP_STATS").is_some_and(|v| v != "0")
}

/// The figures of one run.
#[derive(Debug, Default)]
pub struct Stats {
    /// The oldest frame read since the last send: its arrival.
    unanswered: Option<SystemTime>,
    /// Arrival to the next send, in µs, one sample per answered drain.
    answer_us: Vec<u32>,
    /// Frames read per drain that read any.
    drain_frames: Vec<u32>,
    /// Time spent waiting in poll (asleep or spinning).
    pub wait: Duration,
    /// Time spent reading frames off the link.
    pub recv: Duration,
    /// Time spent in the machine with the frames.
    pub engine: Duration,
    /// Time spent in the application's moves ([`super::Handler::turn`]).
    pub app: Duration,
    /// Time spent sending.
    pub send: Duration,
    turns: u64,
    /// Frames that carried the kernel's stamp.
    stamped: u64,
    /// Frames read, and frames sent.
    read: u64,
    sent: u64,
}

impl Stats {
    /// A frame arrived at `stamp` (or, without one, now).
    pub fn arrived(&mut self, stamp: Option<SystemTime>) {
        self.read += 1;
        self.stamped += u64::from(stamp.is_some());
        if self.unanswered.is_none() {
            self.unanswered = Some(stamp.unwrap_or_else(SystemTime::now));
        }
    }

    /// A drain read `frames` frames.
    pub fn drained(&mut self, frames: usize) {
        if frames > 0 {
            self.drain_frames.push(frames as u32);
        }
    }

    /// `frames` frames just left: the oldest unanswered arrival is
    /// answered.
    pub fn answered(&mut self, frames: usize) {
        self.sent += frames as u64;
        if frames == 0 {
            return;
        }
        if let Some(at) = self.unanswered.take() {
            let waited = SystemTime::now().duration_since(at).unwrap_or_default();
            self.answer_us
                .push(u32::try_from(waited.as_micros()).unwrap_or(u32::MAX));
        }
    }

    #[cfg(test)]
    pub fn drains(&self) -> &[u32] {
        &self.drain_frames
    }

    #[cfg(test)]
    pub fn answers(&self) -> &[u32] {
        &self.answer_us
    }

    /// One turn of the loop went by.
    pub fn turn(&mut self) {
        self.turns += 1;
    }

    /// The summary, one line per figure.
    pub fn report(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        format!(
            "loop: {} frames read ({} stamped), {} sent\nloop: arrival→send µs: {}\nloop: frames per drain: {}\n\
             loop: {} turns; ms in wait {:.1}, recv {:.1}, engine {:.1}, app {:.1}, send {:.1}",
            self.read,
            self.stamped,
            self.sent,
            quantiles(&self.answer_us),
            quantiles(&self.drain_frames),
            self.turns,
            ms(self.wait),
            ms(self.recv),
            ms(self.engine),
            ms(self.app),
            ms(self.send),
        )
    }
}

/// `n=…, p50=…, p90=…, p99=…, max=…` of `samples`.
fn quantiles(samples: &[u32]) -> String {
    if samples.is_empty() {
        return "none".into();
    }
    let mut s = samples.to_vec();
    s.sort_unstable();
    let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
    format!(
        "n={} p50={} p90={} p99={} max={}",
        s.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        s[s.len() - 1]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drain_is_answered_from_its_first_arrival_once() {
        let mut stats = Stats::default();
        let first = SystemTime::now() - Duration::from_millis(5);
        stats.arrived(Some(first));
        stats.arrived(Some(first + Duration::from_millis(4)));
        stats.answered(1);
        stats.answered(1);
        assert_eq!(stats.answer_us.len(), 1);
        assert!(stats.answer_us[0] >= 5000, "{:?}", stats.answer_us);
    }

    #[test]
    fn quantiles_of_a_hundred() {
        let samples: Vec<u32> = (1..=100).collect();
        assert_eq!(quantiles(&samples), "n=100 p50=51 p90=90 p99=99 max=100");
        assert_eq!(quantiles(&[]), "none");
    }
}
