//! How a command ended, and the exit code that tells a script.

use std::sync::atomic::{AtomicBool, Ordering};

/// The result of a command that did not fail locally. Local failures
/// (bad arguments, no interface, no privileges) are errors, exit code 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The goal was reached: exit 0.
    Success,
    /// A valid but negative answer from the network (nobody answered, the
    /// address is in use): exit 1.
    Negative,
    /// Stopped by SIGINT or SIGTERM: exit 130.
    Interrupted,
}

/// Exit code for a usage or local error.
pub const EXIT_ERROR: u8 = 2;

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Negative => 1,
            Outcome::Interrupted => 130,
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

    /// Success if `ok`, else a negative answer.
    pub fn from_answer(ok: bool) -> Outcome {
        if ok {
            Outcome::Success
        } else {
            Outcome::Negative
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_documented_contract() {
        assert_eq!(Outcome::Success.exit_code(), 0);
        assert_eq!(Outcome::Negative.exit_code(), 1);
        assert_eq!(Outcome::Interrupted.exit_code(), 130);
        assert_eq!(Outcome::from_answer(false), Outcome::Negative);
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
