//! The event loop: the only place that reads the clock and blocks.
//!
//! It drives any sans-IO [`Machine`] over any [`Link`], in the shape every
//! such loop has (quiche's example client, quinn's driver): fire due
//! timers, send what the machine wants sent, hand its events to the caller,
//! then block until the next frame or the machine's next deadline.
//!
//! What a command needs beyond that is an option of this one loop
//! ([`Options`]) or a hook of its [`Handler`], never a loop of its own:
//! kernel stamps on each frame sent and received, a short busy poll after
//! a send, a transmit ring flushed per batch (without one, the frames a
//! turn has to send, a drain's ACKs, go to the link together:
//! [`Link::send_batch`]), frames read per wake-up, a
//! full send queue taken as a lost frame, and a second descriptor (`nc`'s
//! stdin) whose bytes go to the handler.

mod fd;
pub mod stats;

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant as WallInstant};

pub use crate::clock::{Clock, SystemClock};
use crate::link::Link;
use crate::link::stamp::Stamps;
pub use crate::machine::Machine;
use crate::time::Instant;
use stats::Stats;

/// Longest single wait: bounds how late a Ctrl-C that lands between the
/// flag check and the wait is noticed.
const MAX_WAIT: Duration = Duration::from_millis(200);

/// Most frames gathered for one [`Link::send_batch`].
const TX_BATCH: usize = 64;

/// Largest read of the input descriptor.
const INPUT_CHUNK: usize = 64 * 1024;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The machine finished.
    Done,
    /// `interrupt` was raised (Ctrl-C, SIGTERM).
    Interrupted,
}

/// What a run needs beyond the plain loop.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Each frame's departure and arrival are the kernel's stamps
    /// ([`Stamps`]), for round-trip times that measure the path; the link
    /// must have been opened with them.
    pub kernel_stamps: bool,
    /// After a frame leaves, poll without sleeping this long, so that its
    /// answer is read at once rather than after a wake-up.
    pub spin: Duration,
    /// Frames are queued into the link's transmit ring (sent at once where
    /// it has none), at most this many between flushes (one system call
    /// each), with answers read between batches.
    pub ring_batch: Option<usize>,
    /// Frames read per wake-up (the first waited for, the rest only if
    /// already there), so the rest of a turn is not starved.
    pub rx_batch: usize,
    /// A full send queue (`ENOBUFS`) loses the frame, as the network
    /// would, instead of ending the run.
    pub lossy_send: bool,
    /// A descriptor to wait on beside the link while
    /// [`Handler::wants_input`]; what it holds goes to [`Handler::input`].
    pub input: Option<RawFd>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            kernel_stamps: false,
            spin: Duration::ZERO,
            ring_batch: None,
            rx_batch: 1,
            lossy_send: false,
            input: None,
        }
    }
}

/// How the frame [`Handler::transmit`] wrote is to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tx {
    /// As it is.
    Frame,
    /// A TCP/IPv4 super-frame for the kernel to cut into segments of this
    /// many payload bytes ([`Link::send_segmented`]).
    Segmented(u16),
}

/// What arrived on the input descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    Data(&'a [u8]),
    /// The end of input.
    End,
    /// A wait of zero found nothing to read.
    NotReady,
}

/// The command's side of a run: it renders the machine's events and,
/// through the hooks (each with a default that does nothing special),
/// takes part in the turn. A closure `FnMut(Instant, Event)` is a handler.
pub trait Handler<M: Machine> {
    /// One event of the machine, at `now`.
    fn event(&mut self, machine: &mut M, now: Instant, event: M::Event) -> anyhow::Result<()>;

    /// The application's moves, once a turn after the timers fire and
    /// before the machine's frames are sent (read, write, close).
    fn turn(&mut self, _machine: &mut M, _now: Instant) -> anyhow::Result<()> {
        Ok(())
    }

    /// Writes the next frame due at `now` into `buf`; `segment` says
    /// whether the link can cut super-frames. `None` when nothing is due.
    fn transmit(
        &mut self,
        machine: &mut M,
        now: Instant,
        _segment: bool,
        buf: &mut Vec<u8>,
    ) -> Option<Tx> {
        let frame = machine.poll_transmit(now)?;
        *buf = frame;
        Some(Tx::Frame)
    }

    /// The frame just written left at `at` (its kernel stamp, with
    /// [`Options::kernel_stamps`]), or was queued at `at` into the ring.
    fn sent(&mut self, _machine: &mut M, _at: Instant) {}

    /// The last `frames` frames queued into the ring never left (a signal
    /// stopped the wait for the ring, and they were taken back).
    fn taken_back(&mut self, _machine: &mut M, _frames: usize) {}

    /// Whether the run is over.
    fn finished(&mut self, machine: &mut M, _now: Instant) -> anyhow::Result<bool> {
        Ok(machine.is_done())
    }

    /// When the handler or the machine next needs a turn.
    fn deadline(&self, machine: &M) -> Option<Instant> {
        machine.poll_timeout()
    }

    /// The run is interrupted, or an error ends it: what to say last (a
    /// RST) is sent after this and the machine's own
    /// [`Machine::abort`], and the events that come of it handed over.
    fn interrupt(&mut self, _machine: &mut M, _now: Instant) {}

    /// Whether to read [`Options::input`] now.
    fn wants_input(&self, _machine: &M) -> bool {
        false
    }

    /// What the input descriptor held.
    fn input(&mut self, _machine: &mut M, _now: Instant, _input: Input<'_>) -> anyhow::Result<()> {
        Ok(())
    }
}

impl<M: Machine, F: FnMut(Instant, M::Event) -> anyhow::Result<()>> Handler<M> for F {
    fn event(&mut self, _machine: &mut M, now: Instant, event: M::Event) -> anyhow::Result<()> {
        self(now, event)
    }
}

/// Runs `machine` to completion over `link`, passing each event, with
/// the time it happened at, to `on_event`. An error from the link or from
/// `on_event` ends the run.
pub fn run<M: Machine>(
    machine: &mut M,
    link: &mut dyn Link,
    clock: &mut dyn Clock,
    interrupt: &AtomicBool,
    mut on_event: impl FnMut(Instant, M::Event) -> anyhow::Result<()>,
) -> anyhow::Result<Stop> {
    let opts = Options::default();
    run_with(machine, link, clock, interrupt, &opts, &mut on_event)
}

/// [`run`], with `opts` and a `handler` that takes part in each turn.
pub fn run_with<M: Machine, H: Handler<M>>(
    machine: &mut M,
    link: &mut dyn Link,
    clock: &mut dyn Clock,
    interrupt: &AtomicBool,
    opts: &Options,
    handler: &mut H,
) -> anyhow::Result<Stop> {
    let mut run = Run {
        machine,
        handler,
        link,
        clock,
        opts,
        buf: Vec::with_capacity(2048),
        stamps: Stamps::default(),
        spin_until: Instant::ZERO,
        stopped: false,
        input_buf: Vec::new(),
        pool: Vec::new(),
        stats: None,
    };
    if stats::wanted() {
        // The arrivals' kernel stamps, where the link has them; the
        // figures fall back on the time a frame was read.
        let _ = run.link.enable_rx_stamps();
        run.stats = Some(Box::default());
    }
    let stop = run.go(interrupt);
    if let Some(stats) = &run.stats {
        eprintln!("{}", stats.report());
    }
    stop
}

/// One run's state between turns.
struct Run<'r, M: Machine, H: Handler<M>> {
    machine: &'r mut M,
    handler: &'r mut H,
    link: &'r mut dyn Link,
    clock: &'r mut dyn Clock,
    opts: &'r Options,
    /// The frame being sent.
    buf: Vec<u8>,
    stamps: Stamps,
    /// Until when to poll without sleeping.
    spin_until: Instant,
    /// A signal cut a wait for the ring short: sending is over.
    stopped: bool,
    /// What the input descriptor held.
    input_buf: Vec<u8>,
    /// The frames being gathered for one [`Link::send_batch`].
    pool: Vec<Vec<u8>>,
    /// Where the turns' time goes, when asked ([`stats::wanted`]).
    stats: Option<Box<Stats>>,
}

impl<M: Machine, H: Handler<M>> Run<'_, M, H> {
    /// The turns until the end; an error ends them early, but the machine
    /// still says its last word ([`Run::last_word`]).
    fn go(&mut self, interrupt: &AtomicBool) -> anyhow::Result<Stop> {
        let ended = self.turns(interrupt);
        if ended.is_err() {
            self.last_word();
        }
        ended
    }

    /// After an error (the link failed, or the handler could not write),
    /// what an interrupt sends (a RST) still goes out, so the peer is not
    /// left half-open: as far as the link still carries it, and with
    /// whatever fails on the way ignored, as the first error is the one
    /// the run reports.
    fn last_word(&mut self) {
        let now = self.clock.now();
        self.handler.interrupt(self.machine, now);
        self.machine.abort(now);
        let _ = self.transmit(now);
        let _ = self.events(now);
    }

    fn turns(&mut self, interrupt: &AtomicBool) -> anyhow::Result<Stop> {
        loop {
            let now = self.clock.now();
            if self.machine.poll_timeout().is_some_and(|t| t <= now) {
                self.machine.handle_timeout(now);
                self.events(now)?;
            }
            let t0 = self.stats.as_ref().map(|_| WallInstant::now());
            self.handler.turn(self.machine, now)?;
            let t1 = t0.map(|_| WallInstant::now());
            self.transmit(now)?;
            self.events(now)?;
            if let (Some(stats), Some(t0), Some(t1)) = (&mut self.stats, t0, t1) {
                stats.turn();
                stats.app += t1 - t0;
                stats.send += t1.elapsed();
            }
            if self.handler.finished(self.machine, now)? {
                // Send whatever the ending produced (a RST).
                self.transmit(now)?;
                self.events(now)?;
                return Ok(Stop::Done);
            }
            if interrupt.load(Ordering::Relaxed) {
                self.handler.interrupt(self.machine, now);
                self.machine.abort(now);
                self.transmit(now)?;
                self.events(now)?;
                return Ok(Stop::Interrupted);
            }
            if std::mem::take(&mut self.stopped) {
                self.handler.interrupt(self.machine, now);
                continue;
            }
            let wait = if now < self.spin_until {
                Duration::ZERO
            } else {
                self.handler
                    .deadline(self.machine)
                    .map_or(MAX_WAIT, |t| (t - now).min(MAX_WAIT))
            };
            self.receive(wait)?;
        }
    }

    fn events(&mut self, now: Instant) -> anyhow::Result<()> {
        while let Some(event) = self.machine.poll_event() {
            self.handler.event(self.machine, now, event)?;
        }
        Ok(())
    }

    /// Sends everything due at `now`: through the ring where there is one
    /// (a batch, then a flush), else frame by frame.
    fn transmit(&mut self, now: Instant) -> anyhow::Result<()> {
        if let Some(batch) = self.opts.ring_batch {
            return self.transmit_ring(now, batch);
        }
        if !self.opts.kernel_stamps {
            return self.transmit_batched(now);
        }
        let segment = self.link.can_segment();
        while let Some(tx) = self
            .handler
            .transmit(self.machine, now, segment, &mut self.buf)
        {
            let before = if self.opts.kernel_stamps {
                self.clock.now()
            } else {
                now
            };
            let sent = match tx {
                Tx::Frame => self.link.send(&self.buf),
                Tx::Segmented(mss) => self.link.send_segmented(&self.buf, mss),
            };
            match sent {
                Ok(()) => {}
                Err(e) if self.opts.lossy_send && e.raw_os_error() == Some(libc::ENOBUFS) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    self.stopped = true;
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
            let at = if self.opts.kernel_stamps {
                let after = self.clock.now();
                self.spin_until = after + self.opts.spin;
                self.stamps
                    .departure(&mut *self.link, &*self.clock, before, after)
            } else {
                self.spin_until = now + self.opts.spin;
                now
            };
            self.handler.sent(self.machine, at);
            if let Some(stats) = &mut self.stats {
                stats.answered(1);
            }
        }
        Ok(())
    }

    /// Everything due at `now`, without stamps: the frames gathered and
    /// handed to the link together ([`Link::send_batch`], one system call
    /// for a drain's ACKs), a super-frame for the kernel to segment on
    /// its own, in the order the handler wrote them.
    fn transmit_batched(&mut self, now: Instant) -> anyhow::Result<()> {
        let segment = self.link.can_segment();
        loop {
            let mut n = 0;
            let mut segmented = None;
            let mut more = true;
            while n < TX_BATCH {
                if self.pool.len() == n {
                    self.pool.push(Vec::with_capacity(2048));
                }
                let Some(tx) = self
                    .handler
                    .transmit(self.machine, now, segment, &mut self.pool[n])
                else {
                    more = false;
                    break;
                };
                n += 1;
                if let Tx::Segmented(mss) = tx {
                    segmented = Some(mss);
                    break;
                }
            }
            let plain = n - usize::from(segmented.is_some());
            if !self.send_gathered(now, plain)? {
                return Ok(());
            }
            if let Some(mss) = segmented {
                let sent = self.link.send_segmented(&self.pool[plain], mss);
                if !self.sent_or_stopped(now, sent.map(|()| 1))? {
                    return Ok(());
                }
            }
            if !more {
                return Ok(());
            }
        }
    }

    /// Sends the first `count` frames of the pool, in as few calls as the
    /// link takes them; `false` when a signal stopped the sending.
    fn send_gathered(&mut self, now: Instant, count: usize) -> anyhow::Result<bool> {
        let mut done = 0;
        while done < count {
            let frames: Vec<&[u8]> = self.pool[done..count].iter().map(Vec::as_slice).collect();
            let sent = self.link.send_batch(&frames);
            let n = sent.as_ref().map_or(1, |n| *n);
            if !self.sent_or_stopped(now, sent)? {
                return Ok(false);
            }
            done += n;
        }
        Ok(true)
    }

    /// What a send of `n` frames came to: each sent one told to the
    /// handler; a full queue taken as the loss of one frame where the
    /// options say so; `false` when a signal stopped the sending.
    fn sent_or_stopped(&mut self, now: Instant, sent: io::Result<usize>) -> anyhow::Result<bool> {
        let n = match sent {
            Ok(n) => n,
            Err(e) if self.opts.lossy_send && e.raw_os_error() == Some(libc::ENOBUFS) => 1,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                self.stopped = true;
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        };
        self.spin_until = now + self.opts.spin;
        if let Some(stats) = &mut self.stats {
            stats.answered(n);
        }
        for _ in 0..n {
            self.handler.sent(self.machine, now);
        }
        Ok(true)
    }

    /// Up to `batch` frames into the ring, then one flush. The ring paces
    /// the sending to the link (the wait for room blocks while the device
    /// is slower); a signal ends that wait, and the frames still queued
    /// are taken back, never counted as sent.
    fn transmit_ring(&mut self, now: Instant, batch: usize) -> anyhow::Result<()> {
        for _ in 0..batch {
            if self.ring_stopped(|link| link.wait_queue_room())? {
                return Ok(());
            }
            if self
                .handler
                .transmit(self.machine, now, false, &mut self.buf)
                .is_none()
            {
                break;
            }
            self.link.queue(&self.buf)?;
            self.handler.sent(self.machine, now);
            if let Some(stats) = &mut self.stats {
                stats.answered(1);
            }
        }
        self.ring_stopped(|link| link.flush())?;
        Ok(())
    }

    /// Runs a ring operation; `true` when a signal cut it short, the
    /// queued frames then taken back.
    fn ring_stopped(
        &mut self,
        op: impl FnOnce(&mut dyn Link) -> io::Result<()>,
    ) -> io::Result<bool> {
        match op(self.link) {
            Ok(()) => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                let n = self.link.discard_queued();
                self.handler.taken_back(self.machine, n);
                self.stopped = true;
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    /// Waits at most `wait` for frames (and for input, when the handler
    /// wants some), and hands over what came.
    fn receive(&mut self, wait: Duration) -> anyhow::Result<()> {
        let input = self
            .opts
            .input
            .filter(|_| self.handler.wants_input(self.machine));
        let Some(input) = input else {
            return self.frames(wait);
        };
        let ready = match self.link.poll_fd() {
            Some(link) => {
                let t0 = self.stats.as_ref().map(|_| WallInstant::now());
                let ready = fd::poll_two(Some(link), Some(input), wait)?;
                if let (Some(stats), Some(t0)) = (&mut self.stats, t0) {
                    stats.wait += t0.elapsed();
                }
                ready
            }
            None => {
                // A link with no descriptor (in memory) does its own
                // waiting, on its own clock: the input is only looked at,
                // and the link waited on when the input has nothing.
                let input = fd::poll_two(None, Some(input), Duration::ZERO)?.input;
                self.frames(if input { Duration::ZERO } else { wait })?;
                fd::Ready { link: false, input }
            }
        };
        if ready.link {
            self.frames(Duration::ZERO)?;
        }
        self.input_buf.resize(INPUT_CHUNK, 0);
        let what = if ready.input {
            match fd::read(input, &mut self.input_buf)? {
                None => return Ok(()),
                Some(0) => Input::End,
                Some(n) => Input::Data(&self.input_buf[..n]),
            }
        } else if wait.is_zero() {
            Input::NotReady
        } else {
            return Ok(());
        };
        let now = self.clock.now();
        self.handler.input(self.machine, now, what)
    }

    /// Up to [`Options::rx_batch`] frames, the first waited for at most
    /// `wait`, each handed to the machine at its arrival time; and past
    /// the batch, the rest of a receive ring's block
    /// ([`Link::rx_pending`]), so that the machine answers a whole block
    /// at once (one ACK for all its segments) before the next turn sends.
    fn frames(&mut self, wait: Duration) -> anyhow::Result<()> {
        let batch = self.opts.rx_batch.max(1);
        let mut i = 0;
        let mut read = 0;
        while i < batch || self.link.rx_pending() > 0 {
            let wait = if i == 0 { wait } else { Duration::ZERO };
            i += 1;
            let t0 = self.stats.as_ref().map(|_| WallInstant::now());
            let Some(rx) = self.link.recv(wait)? else {
                if let (Some(stats), Some(t0)) = (&mut self.stats, t0) {
                    stats.wait += t0.elapsed();
                }
                break;
            };
            read += 1;
            let t1 = t0.map(|_| WallInstant::now());
            if let (Some(stats), Some(t0), Some(t1)) = (&mut self.stats, t0, t1) {
                // The first read's time is mostly the wait for it.
                if i == 1 && !wait.is_zero() {
                    stats.wait += t1 - t0;
                } else {
                    stats.recv += t1 - t0;
                }
                stats.arrived(rx.stamp);
            }
            let now = if self.opts.kernel_stamps {
                self.stamps.arrival(rx.stamp, &mut *self.clock)
            } else {
                self.clock.now()
            };
            self.machine.handle_frame(now, rx.frame, rx.checksum);
            self.events(now)?;
            if let (Some(stats), Some(t1)) = (&mut self.stats, t1) {
                stats.engine += t1.elapsed();
            }
        }
        if let Some(stats) = &mut self.stats {
            stats.drained(read);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
