//! The loop's options, over a scripted link and a clock that ticks a
//! microsecond per reading.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::*;
use crate::link::Received;
use crate::machine::RxChecksum;

/// Ticks a microsecond each time it is read.
struct Ticks(u64);

impl Clock for Ticks {
    fn now(&mut self) -> Instant {
        self.0 += 1;
        Instant::from_micros(self.0)
    }
}

/// Sends `total` one-byte frames as fast as it may, and is done once
/// every one left and `answers` frames came back.
struct Sender {
    total: u8,
    next: u8,
    answers: usize,
    heard: usize,
}

impl Sender {
    fn new(total: u8, answers: usize) -> Sender {
        Sender {
            total,
            next: 0,
            answers,
            heard: 0,
        }
    }
}

impl Machine for Sender {
    type Event = u8;
    fn handle_frame(&mut self, _: Instant, _: &[u8], _: RxChecksum) {
        self.heard += 1;
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, _: Instant) -> Option<Vec<u8>> {
        (self.next < self.total).then(|| {
            self.next += 1;
            vec![self.next]
        })
    }
    fn poll_timeout(&self) -> Option<Instant> {
        (self.next < self.total).then_some(Instant::ZERO)
    }
    fn poll_event(&mut self) -> Option<u8> {
        None
    }
    fn is_done(&self) -> bool {
        self.next == self.total && self.heard >= self.answers
    }
}

/// What the link was asked to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Send(u8),
    /// One [`Link::send_batch`] of these frames.
    SendBatch(Vec<u8>),
    Segmented(u8),
    Queue(u8),
    Flush,
    Recv,
}

/// A link with a ring of unlimited room that logs every call, hands out
/// `inbox` frames, and fails as scripted.
#[derive(Default)]
struct Script {
    log: Vec<Op>,
    inbox: VecDeque<Vec<u8>>,
    frame: Vec<u8>,
    queued: usize,
    /// The flush with this number (from 1) is cut short by a signal.
    interrupt_flush: Option<usize>,
    flushes: usize,
    /// Every send fails with this OS error.
    send_error: Option<i32>,
    /// Frames of `inbox` that came in one receive-ring block, readable
    /// without waiting ([`Link::rx_pending`]).
    block: usize,
    /// `send_batch` takes this many frames at most, in one call (one at
    /// a time, through `send`, when `None`: the trait's default).
    batch: Option<usize>,
}

impl Link for Script {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        if let Some(e) = self.send_error {
            return Err(io::Error::from_raw_os_error(e));
        }
        self.log.push(Op::Send(frame[0]));
        Ok(())
    }
    fn send_batch(&mut self, frames: &[&[u8]]) -> io::Result<usize> {
        let Some(most) = self.batch else {
            return self.send(frames[0]).map(|()| 1);
        };
        let n = frames.len().min(most);
        self.log
            .push(Op::SendBatch(frames[..n].iter().map(|f| f[0]).collect()));
        Ok(n)
    }
    fn can_segment(&self) -> bool {
        true
    }
    fn send_segmented(&mut self, frame: &[u8], _: u16) -> io::Result<()> {
        self.log.push(Op::Segmented(frame[0]));
        Ok(())
    }
    fn recv(&mut self, _: Duration) -> io::Result<Option<Received<'_>>> {
        self.log.push(Op::Recv);
        let Some(frame) = self.inbox.pop_front() else {
            return Ok(None);
        };
        self.block = self.block.saturating_sub(1);
        self.frame = frame;
        Ok(Some(Received {
            frame: &self.frame,
            checksum: RxChecksum::Unknown,
            stamp: None,
        }))
    }
    fn has_ring(&self) -> bool {
        true
    }
    fn rx_pending(&self) -> usize {
        self.block
    }
    fn queue(&mut self, frame: &[u8]) -> io::Result<()> {
        self.log.push(Op::Queue(frame[0]));
        self.queued += 1;
        Ok(())
    }
    fn discard_queued(&mut self) -> usize {
        std::mem::take(&mut self.queued)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flushes += 1;
        if self.interrupt_flush == Some(self.flushes) {
            return Err(io::Error::from(io::ErrorKind::Interrupted));
        }
        self.queued = 0;
        self.log.push(Op::Flush);
        Ok(())
    }
}

/// Records what the hooks were told.
#[derive(Default)]
struct Hooks {
    sent: Vec<Instant>,
    taken_back: Vec<usize>,
    interrupted: bool,
    input: Vec<u8>,
    ended: bool,
}

impl Handler<Sender> for Hooks {
    fn event(&mut self, _: &mut Sender, _: Instant, _: u8) -> anyhow::Result<()> {
        Ok(())
    }
    fn sent(&mut self, _: &mut Sender, at: Instant) {
        self.sent.push(at);
    }
    fn taken_back(&mut self, _: &mut Sender, frames: usize) {
        self.taken_back.push(frames);
    }
    fn interrupt(&mut self, m: &mut Sender, _: Instant) {
        self.interrupted = true;
        m.total = m.next;
    }
    fn wants_input(&self, _: &Sender) -> bool {
        !self.ended
    }
    fn input(&mut self, _: &mut Sender, _: Instant, input: Input<'_>) -> anyhow::Result<()> {
        match input {
            Input::Data(b) => self.input.extend_from_slice(b),
            Input::End | Input::NotReady => self.ended = true,
        }
        Ok(())
    }
}

fn go(m: &mut Sender, link: &mut Script, opts: &Options, h: &mut Hooks) -> anyhow::Result<Stop> {
    let stop = AtomicBool::new(false);
    run_with(m, link, &mut Ticks(0), &stop, opts, h)
}

#[test]
fn a_ring_is_filled_a_batch_at_a_time_with_answers_read_between() {
    let mut link = Script {
        inbox: vec![vec![0]; 3].into(),
        ..Script::default()
    };
    let opts = Options {
        ring_batch: Some(2),
        rx_batch: usize::MAX,
        ..Options::default()
    };
    let mut h = Hooks::default();
    let mut m = Sender::new(5, 3);
    assert_eq!(go(&mut m, &mut link, &opts, &mut h).unwrap(), Stop::Done);
    let q = Op::Queue;
    use Op::{Flush, Recv};
    #[rustfmt::skip]
    let want = [
        q(1), q(2), Flush, Recv, Recv, Recv, Recv,
        q(3), q(4), Flush, Recv,
        q(5), Flush,
    ];
    assert_eq!(link.log[..want.len()], want);
    assert_eq!(h.sent.len(), 5);
}

#[test]
fn a_signal_during_a_flush_takes_the_batch_back_and_stops_sending() {
    let mut link = Script {
        interrupt_flush: Some(2),
        ..Script::default()
    };
    let opts = Options {
        ring_batch: Some(3),
        ..Options::default()
    };
    let mut h = Hooks::default();
    let mut m = Sender::new(200, 0);
    assert_eq!(go(&mut m, &mut link, &opts, &mut h).unwrap(), Stop::Done);
    assert_eq!(h.taken_back, vec![3]);
    assert!(h.interrupted);
    assert_eq!(m.next, 6, "nothing is sent after the signal");
}

#[rstest::rstest]
#[case::lossy(true, true)]
#[case::strict(false, false)]
fn a_full_send_queue_loses_the_frame_only_when_lossy(#[case] lossy: bool, #[case] ok: bool) {
    let mut link = Script {
        send_error: Some(libc::ENOBUFS),
        ..Script::default()
    };
    let opts = Options {
        lossy_send: lossy,
        ..Options::default()
    };
    let mut m = Sender::new(4, 0);
    let got = go(&mut m, &mut link, &opts, &mut Hooks::default());
    assert_eq!(got.is_ok(), ok, "{got:?}");
}

#[test]
fn without_a_wall_clock_a_stamped_frame_left_when_the_send_began() {
    let mut link = Script::default();
    let opts = Options {
        kernel_stamps: true,
        ..Options::default()
    };
    let mut h = Hooks::default();
    go(&mut Sender::new(2, 0), &mut link, &opts, &mut h).unwrap();
    // Each send reads the clock before and after: the stamp is `before`,
    // one tick after the turn's reading.
    assert_eq!(
        h.sent,
        vec![Instant::from_micros(2), Instant::from_micros(4)]
    );
}

/// A run of a machine that sends nothing, with `input` beside `link`,
/// for calling `receive` directly.
fn input_run<'r>(
    parts: (
        &'r mut Sender,
        &'r mut Hooks,
        &'r mut dyn Link,
        &'r mut dyn Clock,
    ),
    opts: &'r Options,
) -> Run<'r, Sender, Hooks> {
    let (machine, handler, link, clock) = parts;
    Run {
        machine,
        handler,
        link,
        clock,
        opts,
        buf: Vec::new(),
        stamps: Stamps::default(),
        spin_until: Instant::ZERO,
        stopped: false,
        input_buf: Vec::new(),
        pool: Vec::new(),
        stats: None,
    }
}

/// Options with `fd` as the input.
fn with_input(fd: &impl std::os::fd::AsRawFd) -> Options {
    Options {
        input: Some(fd.as_raw_fd()),
        ..Options::default()
    }
}

#[test]
fn the_loop_statistics_count_a_drain_and_the_send_that_answers_it() {
    let opts = Options::default();
    let mut h = Hooks::default();
    let mut link = Script {
        inbox: (1..=3).map(|i| vec![i]).collect(),
        block: 3,
        ..Script::default()
    };
    let (mut m, mut clock) = (Sender::new(1, 0), Ticks(0));
    let mut run = input_run((&mut m, &mut h, &mut link, &mut clock), &opts);
    run.stats = Some(Box::default());
    run.frames(Duration::ZERO).unwrap();
    run.transmit(Instant::ZERO).unwrap();
    // Nothing more came: a second send answers nothing.
    run.transmit(Instant::ZERO).unwrap();
    let stats = run.stats.take().unwrap();
    assert_eq!(stats.drains(), [3]);
    assert_eq!(stats.answers().len(), 1);
    assert!(stats.report().contains("frames per drain: n=1 p50=3"));
}

#[test]
fn input_is_read_beside_the_link_until_its_end() {
    let (reader, mut writer) = io::pipe().unwrap();
    io::Write::write_all(&mut writer, b"hello").unwrap();
    drop(writer);
    let opts = with_input(&reader);
    let mut h = Hooks::default();
    let (mut m, mut link, mut clock) = (Sender::new(0, 1), Script::default(), Ticks(0));
    let mut run = input_run((&mut m, &mut h, &mut link, &mut clock), &opts);
    // The link has no descriptor, so it counts as ready: its `recv` is
    // asked (and finds nothing) in the same wait as the input is read.
    for _ in 0..3 {
        run.receive(Duration::from_millis(10)).unwrap();
    }
    drop(run);
    assert_eq!(link.log, vec![Op::Recv; 3]);
    assert_eq!(h.input, b"hello");
    assert!(h.ended);
}

#[test]
fn a_link_without_a_descriptor_waits_itself_while_the_input_is_silent() {
    use crate::link::mem::{MemLink, VirtualClock};
    // Open and empty: a wait on it would block on real time while the
    // virtual clock stood still.
    let (reader, writer) = io::pipe().unwrap();
    let opts = with_input(&reader);
    let mut h = Hooks::default();
    let virt = VirtualClock::default();
    let (mut m, mut link, mut clock) =
        (Sender::new(0, 1), MemLink::new(virt.clone()), virt.clone());
    let mut run = input_run((&mut m, &mut h, &mut link, &mut clock), &opts);
    let real = std::time::Instant::now();
    run.receive(Duration::from_millis(150)).unwrap();
    assert_eq!(virt.get(), Instant::from_millis(150), "the link waited");
    assert!(
        real.elapsed() < Duration::from_millis(100),
        "on its own clock"
    );
    // Input that comes is read at once: the link is only looked at (a
    // look that finds nothing costs the in-memory link a moment).
    io::Write::write_all(&mut &writer, b"late").unwrap();
    run.receive(Duration::from_millis(150)).unwrap();
    assert_eq!(
        virt.get(),
        Instant::from_millis(150) + crate::link::mem::POLL_COST
    );
    drop(run);
    assert_eq!(h.input, b"late");
}

/// Acknowledges what it heard: one frame per turn after frames came, and
/// done once `want` frames came.
struct Acker {
    heard: u8,
    unacked: bool,
    want: u8,
}

impl Machine for Acker {
    type Event = u8;
    fn handle_frame(&mut self, _: Instant, _: &[u8], _: RxChecksum) {
        self.heard += 1;
        self.unacked = true;
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, _: Instant) -> Option<Vec<u8>> {
        std::mem::take(&mut self.unacked).then(|| vec![self.heard])
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn poll_event(&mut self) -> Option<u8> {
        None
    }
    fn is_done(&self) -> bool {
        self.heard >= self.want && !self.unacked
    }
}

/// The frames of a receive-ring block are all handed to the machine
/// before it sends, whatever the batch: one acknowledgement per block.
#[test]
fn a_receive_ring_block_is_read_whole_before_sending() {
    let mut link = Script {
        inbox: vec![vec![0]; 6].into(),
        block: 4,
        ..Script::default()
    };
    let opts = Options::default();
    assert_eq!(opts.rx_batch, 1);
    let mut m = Acker {
        heard: 0,
        unacked: false,
        want: 6,
    };
    let stop = AtomicBool::new(false);
    let mut on_event = |_: Instant, _: u8| Ok(());
    run_with(
        &mut m,
        &mut link,
        &mut Ticks(0),
        &stop,
        &opts,
        &mut on_event,
    )
    .unwrap();
    use Op::{Recv, Send};
    #[rustfmt::skip]
    let want = [
        Recv, Recv, Recv, Recv, Send(4),
        Recv, Send(5),
        Recv, Send(6),
    ];
    assert_eq!(link.log, want);
}

/// Asks for frame 3 to be segmented by the link, the others sent as
/// they are.
struct SegmentsThird(Hooks);

impl Handler<Sender> for SegmentsThird {
    fn event(&mut self, m: &mut Sender, now: Instant, e: u8) -> anyhow::Result<()> {
        self.0.event(m, now, e)
    }
    fn transmit(&mut self, m: &mut Sender, now: Instant, _: bool, buf: &mut Vec<u8>) -> Option<Tx> {
        *buf = m.poll_transmit(now)?;
        Some(if buf[0] == 3 {
            Tx::Segmented(1000)
        } else {
            Tx::Frame
        })
    }
    fn sent(&mut self, m: &mut Sender, at: Instant) {
        self.0.sent(m, at);
    }
}

/// What a turn has to send leaves in as few calls as the link takes
/// (one system call for a drain's ACKs), a super-frame for the kernel
/// to segment on its own, all in the order they were written.
#[rstest::rstest]
#[case(None, vec![Op::Send(1), Op::Send(2), Op::Segmented(3), Op::Send(4), Op::Send(5)])]
#[case(Some(64), vec![Op::SendBatch(vec![1, 2]), Op::Segmented(3), Op::SendBatch(vec![4, 5])])]
#[case(Some(1), vec![Op::SendBatch(vec![1]), Op::SendBatch(vec![2]), Op::Segmented(3), Op::SendBatch(vec![4]), Op::SendBatch(vec![5])])]
fn frames_due_together_leave_together(#[case] batch: Option<usize>, #[case] want: Vec<Op>) {
    let mut link = Script {
        batch,
        ..Script::default()
    };
    let mut m = Sender::new(5, 0);
    let mut h = SegmentsThird(Hooks::default());
    let stop = AtomicBool::new(false);
    let opts = Options::default();
    run_with(&mut m, &mut link, &mut Ticks(0), &stop, &opts, &mut h).unwrap();
    assert_eq!(link.log, want);
    assert_eq!(h.0.sent.len(), 5, "every frame sent is told to the handler");
}

/// A link that takes part of a batch is handed the rest in further calls.
#[test]
fn a_batch_taken_in_part_is_finished_in_further_calls() {
    let mut link = Script {
        batch: Some(2),
        ..Script::default()
    };
    let mut m = Sender::new(5, 0);
    let mut h = Hooks::default();
    go(&mut m, &mut link, &Options::default(), &mut h).unwrap();
    let want = [
        Op::SendBatch(vec![1, 2]),
        Op::SendBatch(vec![3, 4]),
        Op::SendBatch(vec![5]),
    ];
    assert_eq!(link.log, want);
    assert_eq!(h.sent.len(), 5);
}
