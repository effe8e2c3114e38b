//! How a command ended, and the exit code that tells a script.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The result of a command that did not fail locally. Local failures
/// (bad arguments, no interface, no privileges) are errors, exit code 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The goal was reached: exit 0.
    Success,
    /// A valid but negative answer from the network (nobody answered, the
    /// address is in use): exit 1.
    Negative,
    /// Stopped by SIGINT or SIGTERM: exit 128 + the signal's number, 130
    /// or 143 (the binary dies of the signal itself, so a shell sees the
    /// same).
    Interrupted,
}

/// Exit code for a usage or local error.
pub const EXIT_ERROR: u8 = 2;

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Negative => 1,
            Outcome::Interrupted => interrupted_exit(stopping_signal()),
        }
    }

    /// This outcome, unless the user asked the run to stop (`interrupt`
    /// raised by SIGINT or SIGTERM): then [`Outcome::Interrupted`], whatever
    /// the run found before it stopped. Every command ends through here.
    pub fn unless_interrupted(self, interrupt: &AtomicBool) -> Outcome {
        if interrupt.load(Ordering::Relaxed) {
            Outcome::Interrupted
        } else {
            self
        }
    }

    /// This outcome when the run ended by itself or by Ctrl-C, the way a
    /// prober without a count is meant to end (ping's habit: its exit code
    /// then says whether answers came); [`Outcome::Interrupted`] only when
    /// SIGTERM stopped it, as a supervisor's stop.
    pub fn unless_terminated(self, interrupt: &AtomicBool) -> Outcome {
        if interrupt.load(Ordering::Relaxed) && stopping_signal() != libc::SIGINT {
            Outcome::Interrupted
        } else {
            self
        }
    }

    /// Success if `ok`, else a negative answer.
    pub fn from_answer(ok: bool) -> Outcome {
        if ok {
            Outcome::Success
        } else {
            Outcome::Negative
        }
    }
}

/// The exit code of a run stopped by `signal`, as a shell reports a
/// process that died of it.
pub fn interrupted_exit(signal: i32) -> u8 {
    u8::try_from(128 + signal).expect("a signal number below 128")
}

/// Which signal stopped this process: its number once one has, 0 before.
/// Signals are delivered to the process, not to a run, so this record is
/// the process's too: `main`'s SIGINT and SIGTERM handlers write their
/// number into it (the `Arc` is what `signal_hook` stores into).
pub fn signal_record() -> &'static Arc<AtomicUsize> {
    static RECORD: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    RECORD.get_or_init(Arc::default)
}

/// The signal that stopped the process; SIGINT when none did (a run
/// stopped by its interrupt flag alone, as the in-process tests do).
pub fn stopping_signal() -> i32 {
    match signal_record().load(Ordering::SeqCst) {
        0 => libc::SIGINT,
        n => i32::try_from(n).expect("a signal number"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_documented_contract() {
        assert_eq!(Outcome::Success.exit_code(), 0);
        assert_eq!(Outcome::Negative.exit_code(), 1);
        assert_eq!(Outcome::from_answer(false), Outcome::Negative);
    }

    /// What a shell shows for a process that died of the signal.
    #[test]
    fn an_interrupt_exits_as_its_signal() {
        assert_eq!(interrupted_exit(libc::SIGINT), 130);
        assert_eq!(interrupted_exit(libc::SIGTERM), 143);
    }

    #[test]
    fn an_interrupt_overrides_any_answer() {
        let up = AtomicBool::new(true);
        let down = AtomicBool::new(false);
        for o in [Outcome::Success, Outcome::Negative, Outcome::Interrupted] {
            assert_eq!(o.unless_interrupted(&up), Outcome::Interrupted);
            assert_eq!(o.unless_interrupted(&down), o);
        }
    }
}
