//! The relay's event loop: two sockets, the decisions of [`Relay`], the
//! clock, the control signals and the stats file.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::core::{Emit, Relay};
use super::socket::{self, PacketSocket, READ_BUFFER};
use super::{Config, Dir, Stats};

/// How often the stats file is rewritten while counters move.
const STATS_EVERY: Duration = Duration::from_millis(100);
/// The longest wait: a signal that lands just before `ppoll` is seen this late.
const MAX_WAIT: Duration = Duration::from_millis(50);
/// Frames read from one side before looking at the other.
const BATCH: usize = 256;

/// Which interfaces to bridge and where to report.
#[derive(Debug, Clone)]
pub struct Options {
    pub left: String,
    pub right: String,
    pub config: Config,
    /// Rewritten (atomically) while the relay runs, and at exit.
    pub stats: Option<PathBuf>,
    /// One line per decision (drop, duplicate, corrupt, hold, release,
    /// blackhole) with the TCP segment it hit.
    pub trace: Option<PathBuf>,
    /// Leave the interfaces' offloads as they are.
    pub keep_offloads: bool,
}

/// The flags the signal handlers raise.
pub struct Signals<'a> {
    /// SIGINT or SIGTERM: stop.
    pub stop: &'a AtomicBool,
    /// SIGUSR1: toggle the blackhole.
    pub toggle: &'a AtomicBool,
    /// SIGUSR2: print the counters now (and rewrite the stats file).
    pub dump: &'a AtomicBool,
}

/// Writes `stats` to `path` atomically (a new file renamed over the old),
/// so a reader never sees half of it.
pub fn write_stats(path: &Path, stats: &Stats) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let json = serde_json::to_vec_pretty(stats).map_err(io::Error::other)?;
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, path)
}

/// Reads a stats file the relay wrote.
pub fn read_stats(path: &Path) -> io::Result<Stats> {
    let text = std::fs::read(path)?;
    serde_json::from_slice(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Runs the relay until a stop signal or an error; returns the last counts.
/// `log` gets one line per notable event (start, blackhole, stop).
pub fn run(opts: &Options, signals: Signals, log: &mut dyn Write) -> anyhow::Result<Stats> {
    if opts.left == opts.right {
        anyhow::bail!("--left and --right must be two different interfaces");
    }
    if !opts.keep_offloads {
        for iface in [&opts.left, &opts.right] {
            socket::disable_offloads(iface)?;
        }
    }
    let mut io = Io {
        left: PacketSocket::open(&opts.left)?,
        right: PacketSocket::open(&opts.right)?,
        buf: vec![0u8; READ_BUFFER],
        out: Vec::new(),
        oversized: Oversized::default(),
    };
    let start = Instant::now();
    let mut relay = Relay::new(opts.config.clone());
    let mut trace = match &opts.trace {
        Some(path) => {
            relay.trace();
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating the trace file {}", path.display()))?;
            Some(io::BufWriter::new(file))
        }
        None => None,
    };
    let write_file = |stats: &Stats| -> anyhow::Result<()> {
        if let Some(path) = &opts.stats {
            write_stats(path, stats)
                .with_context(|| format!("writing the stats file {}", path.display()))?;
        }
        Ok(())
    };
    write_file(&relay.stats(Duration::ZERO))?;
    writeln!(
        log,
        "IMPAIR {} <-> {}, seed {} (stats: {})",
        opts.left,
        opts.right,
        opts.config.seed,
        opts.stats
            .as_ref()
            .map_or("on SIGUSR2 and at exit".into(), |p| p.display().to_string())
    )?;
    let mut snapshots = 0;
    let stats_now = |relay: &Relay, snapshots: u64| Stats {
        snapshots,
        ..relay.stats(start.elapsed())
    };
    let mut last_written = Duration::ZERO;
    let mut dirty = false;
    let mut blackhole_was = false;

    let result = loop {
        let now = start.elapsed();
        if signals.stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        if signals.toggle.swap(false, Ordering::Relaxed) {
            let on = relay.toggle_blackhole(now);
            writeln!(
                log,
                "{:.3} blackhole {} by SIGUSR1",
                now.as_secs_f64(),
                if on { "on" } else { "off" }
            )?;
        }
        let active = relay.blackhole_active(now);
        if active != blackhole_was {
            writeln!(
                log,
                "{:.3} blackhole {}",
                now.as_secs_f64(),
                if active { "begins" } else { "ends" }
            )?;
            blackhole_was = active;
            dirty = true;
        }
        if signals.dump.swap(false, Ordering::Relaxed) {
            if let Some(t) = trace.as_mut() {
                t.flush().context("writing the trace")?;
            }
            snapshots += 1;
            let stats = stats_now(&relay, snapshots);
            write_file(&stats)?;
            write!(log, "{}", stats.render())?;
            last_written = now;
        }
        if dirty && now.saturating_sub(last_written) >= STATS_EVERY {
            if let Some(t) = trace.as_mut() {
                t.flush().context("writing the trace")?;
            }
            write_file(&stats_now(&relay, snapshots))?;
            last_written = now;
            dirty = false;
        }

        let mut wait = MAX_WAIT;
        if let Some(due) = relay.next_timeout() {
            wait = wait.min(due.saturating_sub(now));
        }
        if dirty {
            wait = wait.min(STATS_EVERY.saturating_sub(now.saturating_sub(last_written)));
        }
        let mut fds = [
            libc::pollfd {
                fd: io.left.fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: io.right.fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ts = libc::timespec {
            tv_sec: wait.as_secs() as libc::time_t,
            tv_nsec: wait.subsec_nanos() as libc::c_long,
        };
        // SAFETY: two valid pollfds, a valid timespec, no signal mask change.
        let rc = unsafe { libc::ppoll(fds.as_mut_ptr(), 2, &ts, std::ptr::null()) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break Err(anyhow::Error::new(err).context("waiting for frames"));
        }
        let served = [
            (fds[0].revents, Dir::LeftToRight),
            (fds[1].revents, Dir::RightToLeft),
        ]
        .into_iter()
        .try_fold(false, |any, (revents, dir)| {
            Ok::<_, anyhow::Error>(io.serve(&mut relay, dir, revents, start)? || any)
        });
        match served {
            Ok(true) => dirty = true,
            Ok(false) => {}
            Err(e) => break Err(e),
        }
        relay.on_timeout(start.elapsed(), &mut io.out);
        if !io.out.is_empty() {
            dirty = true;
        }
        if let Err(e) = io.transmit(&mut relay) {
            break Err(e);
        }
        if let Some(warning) = io.oversized.take_warning() {
            writeln!(log, "{:.3} {warning}", start.elapsed().as_secs_f64())?;
        }
        if let Some(t) = trace.as_mut() {
            for event in relay.take_events() {
                writeln!(t, "{event}").context("writing the trace")?;
            }
        }
    };
    if let Some(t) = trace.as_mut() {
        t.flush().context("writing the trace")?;
    }
    let mut stats = stats_now(&relay, snapshots);
    stats.finished = true;
    write_file(&stats)?;
    if result.is_err() {
        // The counts up to the failure still matter to whoever reads the log.
        write!(log, "{}", stats.render())?;
    }
    result.map(|()| stats)
}

/// The two sockets, the read buffer and the frames waiting to be sent.
struct Io {
    left: PacketSocket,
    right: PacketSocket,
    buf: Vec<u8>,
    out: Vec<Emit>,
    oversized: Oversized,
}

/// Frames too big to pass: a sender whose segmentation offload is on
/// hands the wire 64 KiB super-frames, which the relay reads longer than
/// its buffer or cannot send out (`EMSGSIZE`: the other side's offloads
/// are off). Each is lost and counted; the first is said at once, with
/// the fix, rather than leaving a transfer to crawl through retransmissions
/// with nothing but a counter to show for it.
#[derive(Debug, Default)]
struct Oversized {
    /// The first one, not yet said: its length, where it came from and
    /// where it could not go.
    pending: Option<(usize, String, String)>,
    said: bool,
}

impl Oversized {
    fn note(&mut self, len: usize, from: &str, to: &str) {
        if !self.said {
            self.said = true;
            self.pending = Some((len, from.to_owned(), to.to_owned()));
        }
    }

    fn take_warning(&mut self) -> Option<String> {
        let (len, from, to) = self.pending.take()?;
        Some(oversized_warning(len, &from, &to))
    }
}

/// The warning for the first frame too big to pass, with the command that
/// prevents them.
fn oversized_warning(len: usize, from: &str, to: &str) -> String {
    format!(
        "warning: a {len}-byte frame from {from} cannot be forwarded to {to} and is lost: \
         the sender behind {from} has segmentation offload on, so it sends super-frames \
         larger than the link's MTU. Turn offloads off on both outer ends (in their \
         namespaces: ethtool -K IFACE tso off gso off gro off tx off rx off) and start \
         again; until then each such frame is lost and counted (send-errors, truncated), \
         and TCP crawls through retransmissions"
    )
}

impl Io {
    /// Reads up to a batch of frames from the side where `dir` starts (as
    /// `ppoll` reported it in `revents`), passes them through the relay and
    /// sends what comes out. Returns whether anything was read. A socket
    /// error (the interface went down or away) is fatal.
    fn serve(
        &mut self,
        relay: &mut Relay,
        dir: Dir,
        revents: libc::c_short,
        start: Instant,
    ) -> anyhow::Result<bool> {
        let sock = match dir {
            Dir::LeftToRight => &self.left,
            Dir::RightToLeft => &self.right,
        };
        if revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            let why = sock.take_error().map(|e| format!(" ({e})"));
            anyhow::bail!(
                "interface {} went down or away{}: check it with `ip link show {0}`",
                sock.iface,
                why.unwrap_or_default()
            );
        }
        if revents & libc::POLLIN == 0 {
            return Ok(false);
        }
        let mut any = false;
        for _ in 0..BATCH {
            let sock = match dir {
                Dir::LeftToRight => &self.left,
                Dir::RightToLeft => &self.right,
            };
            let Some(read) = sock
                .recv(&mut self.buf)
                .with_context(|| format!("reading from {}", sock.iface))?
            else {
                break;
            };
            any = true;
            let len = if read.len > self.buf.len() {
                relay.note_truncated(dir);
                let (from, to) = ends(&self.left, &self.right, dir);
                self.oversized.note(read.len, from, to);
                self.buf.len()
            } else {
                read.len
            };
            let frame = self.buf[..len].to_vec();
            relay.on_frame(
                start.elapsed(),
                dir,
                frame,
                read.partial_checksum,
                &mut self.out,
            );
            self.transmit(relay)?;
        }
        Ok(any)
    }

    /// Sends what the relay decided to send. A frame the kernel refuses
    /// for lack of room (`ENOBUFS`, `EAGAIN`) is counted as a send error;
    /// an interface that has gone is fatal.
    fn transmit(&mut self, relay: &mut Relay) -> anyhow::Result<()> {
        for e in self.out.drain(..) {
            let sock = match e.dir {
                Dir::LeftToRight => &self.right,
                Dir::RightToLeft => &self.left,
            };
            if let Err(err) = sock.send(&e.frame) {
                match err.raw_os_error() {
                    Some(libc::EMSGSIZE) => {
                        relay.note_send_error(e.dir);
                        let (from, to) = ends(&self.left, &self.right, e.dir);
                        self.oversized.note(e.frame.len(), from, to);
                    }
                    Some(libc::ENOBUFS | libc::EAGAIN) => relay.note_send_error(e.dir),
                    _ => {
                        return Err(
                            anyhow::Error::new(err).context(format!("sending on {}", sock.iface))
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

/// The interfaces a frame going `dir` comes from and goes to.
fn ends<'a>(left: &'a PacketSocket, right: &'a PacketSocket, dir: Dir) -> (&'a str, &'a str) {
    match dir {
        Dir::LeftToRight => (&left.iface, &right.iface),
        Dir::RightToLeft => (&right.iface, &left.iface),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_oversized_frame_is_said_once_with_the_fix() {
        let mut o = Oversized::default();
        assert_eq!(o.take_warning(), None);
        o.note(65_226, "left0", "right0");
        o.note(40_000, "right0", "left0");
        let w = o.take_warning().expect("a warning");
        assert!(
            w.starts_with("warning: a 65226-byte frame from left0 cannot be forwarded to right0"),
            "{w}"
        );
        assert!(
            w.contains("ethtool -K IFACE tso off gso off gro off"),
            "{w}"
        );
        assert_eq!(o.take_warning(), None, "said once");
        o.note(50_000, "left0", "right0");
        assert_eq!(o.take_warning(), None, "said once a run");
    }
}
