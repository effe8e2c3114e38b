//! Kernel packet timestamps on the monotonic time line: when a frame
//! really left and arrived, for round-trip times that measure the path
//! rather than nettool's wake-ups. The kernel stamps on the wall clock;
//! [`WallBridge`] carries the stamps over.

use std::time::{Duration, SystemTime};

use super::Link;
use crate::clock::{Clock, WallBridge};
use crate::time::Instant;

/// Carries a link's transmit and receive stamps onto a [`Clock`]'s
/// time line, through the tightest wall-clock reading seen so far.
#[derive(Debug, Default)]
pub struct Stamps {
    bridge: WallBridge,
}

impl Stamps {
    /// When the frame just sent left, on the monotonic clock: the kernel's
    /// transmit stamp nearest to where a capture stamps the frame
    /// ([`crate::link::packet::Departure::as_captured`]), carried over the same
    /// way as an arrival's, so that an RTT is the difference of two kernel
    /// stamps. The stamp is taken inside the send, so it must fall between the
    /// readings `before` and `after` it; one that does not (the wall clock was
    /// stepped in between) is not used. Without one, `before`.
    pub fn departure(
        &mut self,
        link: &mut dyn Link,
        clock: &dyn Clock,
        before: Instant,
        after: Instant,
    ) -> Instant {
        let Some(stamp) = link.tx_stamp() else {
            return before;
        };
        let Some(fresh) = clock.anchor() else {
            return before;
        };
        let anchor = self.bridge.anchor(fresh);
        let at = anchor
            .instant(stamp)
            .and_then(|at| within(at, before, after, anchor.slack()));
        at.unwrap_or(before)
    }

    /// When the frame just read arrived, on the monotonic clock: the kernel's
    /// receive timestamp (taken where tcpdump takes its own, on the wall
    /// clock) carried over to the monotonic time line (see
    /// [`WallBridge`]). On veth the whole round trip can happen
    /// inside the `sendto` of the probe, so only the kernel knows when the
    /// answer came. A stamp from the future or more than a second old (a
    /// step of the wall clock) is not used; nor is a missing one: then the
    /// time of reading.
    pub fn arrival(&mut self, stamp: Option<SystemTime>, clock: &mut dyn Clock) -> Instant {
        let now = clock.now();
        let Some(stamp) = stamp else {
            return now;
        };
        let Some(fresh) = clock.anchor() else {
            return now;
        };
        let anchor = self.bridge.anchor(fresh);
        let oldest = Instant::from_micros(now.total_micros().saturating_sub(1_000_000));
        anchor
            .instant(stamp)
            .and_then(|at| within(at, oldest, now, anchor.slack()))
            .unwrap_or(now)
    }
}

/// `at` if it lies in `lo..=hi`, give or take what reading the clocks
/// costs (`slack`, plus a microsecond for their ticks; pulled inside);
/// `None` if further out.
fn within(at: Instant, lo: Instant, hi: Instant, slack: Duration) -> Option<Instant> {
    let give = slack + Duration::from_micros(1);
    let lo_give = Instant::from_micros(lo.total_micros().saturating_sub(give.as_micros() as u64));
    (lo_give <= at && at <= hi + give).then(|| at.max(lo).min(hi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn stamps_on_the_virtual_wall_clock_land_where_they_were_taken() {
        use crate::link::mem::VirtualClock;
        let clock = VirtualClock::default();
        crate::link::mem::MemLink::new(clock.clone())
            .recv(Duration::from_millis(7))
            .unwrap();
        let stamp = VirtualClock::wall_at(Instant::from_micros(5_250));
        let mut c = clock.clone();
        let at = Stamps::default().arrival(Some(stamp), &mut c);
        assert_eq!(at, Instant::from_micros(5_250));
    }

    #[rstest]
    // A stamp inside the send's window is the departure.
    #[case(105, 100, 110, 0, Some(105))]
    #[case(100, 100, 110, 0, Some(100))]
    #[case(110, 100, 110, 0, Some(110))]
    // Just outside, by what reading the clocks can be off: pulled inside.
    #[case(99, 100, 110, 0, Some(100))]
    #[case(111, 100, 110, 0, Some(110))]
    #[case(96, 100, 110, 3, Some(100))]
    // Further out (the wall clock was stepped): not used.
    #[case(98, 100, 110, 0, None)]
    #[case(112, 100, 110, 0, None)]
    #[case(5_000_000, 100, 110, 3, None)]
    #[case(0, 100, 110, 3, None)]
    fn stamps_must_fall_in_their_window(
        #[case] at: u64,
        #[case] lo: u64,
        #[case] hi: u64,
        #[case] slack_us: u64,
        #[case] want: Option<u64>,
    ) {
        let got = within(
            Instant::from_micros(at),
            Instant::from_micros(lo),
            Instant::from_micros(hi),
            Duration::from_micros(slack_us),
        );
        assert_eq!(got, want.map(Instant::from_micros));
    }
}
