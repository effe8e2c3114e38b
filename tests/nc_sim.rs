//! `nettool nc` as a whole (arguments and stdin in, stdout and stderr
//! out) on the in-memory link and its virtual clock: no root, no
//! namespace. The far end is nettool's own TCP engine with a scripted
//! application: a server that answers what it hears, or clients that
//! connect to nc's listener; or a closed port.

mod common;

use rstest::rstest;
use std::cell::RefCell;
use std::io::{Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use nettool::cli::{Cli, Command, NcArgs};
use nettool::cmd::nc::{connect_over, listen_over, zero_io_over};
use nettool::cmd::{Captured, Given};
use nettool::link::mem::{MemLink, Responder, VirtualClock};
use nettool::outcome::Outcome;
use nettool::setup::Path;
use nettool::tcp::{self, Connection, IssSource, SeqNum, State};
use nettool::time::Instant;
use nettool::wire::MacAddr;
use nettool::wire::tcp::{ChecksumMode, TcpRepr};

const US_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const PEER_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const US_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const US: SocketAddrV4 = SocketAddrV4::new(US_IP, 40000);
const SERVER: SocketAddrV4 = SocketAddrV4::new(PEER_IP, 80);
/// Where nc listens.
const LISTENER: SocketAddrV4 = SocketAddrV4::new(US_IP, 7000);
/// From the peer's sending to nc's receiving: the in-memory link shows a
/// frame to the peer the moment it leaves, so this is the round trip.
const LATENCY: Duration = Duration::from_micros(100);

/// What the far end's application does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Answers its first bytes with `say`, and closes when its peer does.
    Answers,
    /// Sends `say` once connected, then closes (and still reads).
    Speaks,
}

/// nettool's engine on the far side of the link, running `role`.
struct Peer {
    role: Role,
    conn: Option<Connection>,
    /// A client's connection, opened at this time.
    opens: Option<(Instant, SocketAddrV4)>,
    say: &'static [u8],
    said: bool,
    /// What it heard, and whether its connection is over (TIME-WAIT or
    /// CLOSED), for the test to read.
    heard: Rc<RefCell<Vec<u8>>>,
    /// Raised when its connection is over: the user's Ctrl-C for `-k`.
    then_interrupt: Option<Arc<AtomicBool>>,
}

impl Peer {
    /// A server on port 80 that answers with `say`.
    fn server(say: &'static [u8]) -> Peer {
        Peer::listening(Role::Answers, say)
    }

    /// A server on port 80 that greets with `say` and closes.
    fn greeter(say: &'static [u8]) -> Peer {
        Peer::listening(Role::Speaks, say)
    }

    fn listening(role: Role, say: &'static [u8]) -> Peer {
        let conn = Connection::listen(
            tcp::Config::default(),
            SERVER,
            IssSource::Fixed(SeqNum(7_000_000)),
        );
        Peer {
            role,
            conn: Some(conn),
            opens: None,
            say,
            said: false,
            heard: Rc::default(),
            then_interrupt: None,
        }
    }

    /// A client from port `port` to nc's listener, opening at `at`.
    fn client(port: u16, at: Instant, say: &'static [u8]) -> Peer {
        Peer {
            role: Role::Speaks,
            conn: None,
            opens: Some((at, SocketAddrV4::new(PEER_IP, port))),
            say,
            said: false,
            heard: Rc::default(),
            then_interrupt: None,
        }
    }

    fn over(&self) -> bool {
        self.conn
            .as_ref()
            .is_some_and(|c| matches!(c.state(), State::TimeWait | State::Closed))
    }

    /// The application's moves, then what the engine sends.
    fn output(&mut self, now: Instant) -> Vec<(Duration, Vec<u8>)> {
        let Some(conn) = &mut self.conn else {
            return Vec::new();
        };
        while conn.poll_event().is_some() {}
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = conn.recv(&mut buf) {
            self.heard.borrow_mut().extend_from_slice(&buf[..n]);
        }
        let open = matches!(conn.state(), State::Established | State::CloseWait);
        let cue = self.role == Role::Speaks || !self.heard.borrow().is_empty();
        if open && cue && !self.said {
            assert_eq!(conn.send(self.say).unwrap(), self.say.len());
            self.said = true;
        }
        let close = match self.role {
            Role::Answers => conn.state() == State::CloseWait,
            Role::Speaks => self.said && conn.state() == State::Established,
        };
        if close {
            conn.close(now);
        }
        let frames = std::iter::from_fn(|| conn.poll_transmit(now))
            .map(|seg| (LATENCY, seg.to_frame(PEER_MAC, US_MAC)))
            .collect();
        if self.over()
            && let Some(flag) = &self.then_interrupt
        {
            flag.store(true, Ordering::Relaxed);
        }
        frames
    }
}

impl Responder for Peer {
    fn on_frame(&mut self, now: Instant, frame: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        if let (Some(conn), Ok((_, ip, tcp))) = (
            &mut self.conn,
            TcpRepr::from_frame(frame, ChecksumMode::Verify),
        ) && tcp.dst_port == conn.local().port()
        {
            conn.handle_segment_from(now, ip.src, &tcp);
        }
        self.output(now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (&self.conn, self.opens) {
            (None, Some((at, _))) => Some(at),
            (Some(c), _) => c.poll_timeout(),
            (None, None) => None,
        }
    }

    fn on_time(&mut self, now: Instant) -> Vec<(Duration, Vec<u8>)> {
        match &mut self.conn {
            Some(c) => c.handle_timeout(now),
            None => {
                let (_, local) = self.opens.expect("a client opens");
                let iss = SeqNum(9_000_000 + u32::from(local.port()));
                let config = tcp::Config::default();
                self.conn = Some(Connection::connect(now, config, local, LISTENER, iss));
            }
        }
        self.output(now)
    }
}

/// Ports nobody listens on, all but the one given: every SYN draws a
/// RST (RFC 9293 §3.5.2).
struct ClosedPort(Option<u16>);

impl Responder for ClosedPort {
    fn on_frame(&mut self, _now: Instant, frame: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        let Ok((_, ip, tcp)) = TcpRepr::from_frame(frame, ChecksumMode::Verify) else {
            return Vec::new();
        };
        if Some(tcp.dst_port) == self.0 {
            return Vec::new();
        }
        tcp::rst_for(ip.src, ip.dst, &tcp)
            .map(|rst| vec![(LATENCY, rst.to_frame(PEER_MAC, US_MAC))])
            .unwrap_or_default()
    }
}

/// The way to the server, as the setup would have found it.
fn connect_path() -> Path {
    Path::simulated(US_MAC, US_IP, PEER_IP, PEER_MAC)
}

/// The listener's way: the simulated interface, at an address the
/// kernel does not own.
fn listen_path() -> Path {
    Path::listening(connect_path().iface, US_IP.into(), false)
}

fn args(argv: &[&str]) -> NcArgs {
    let mut all = vec!["nettool", "nc"];
    all.extend(argv);
    match Cli::try_parse_from(all).unwrap().command {
        Command::Nc(a) => a,
        other => panic!("{other:?}"),
    }
}

/// What a run printed and how it ended.
struct Ran {
    outcome: Outcome,
    out: String,
    err: String,
    took: Duration,
}

/// Which of nc's entries to run.
enum Mode {
    Connect,
    Listen,
    ZeroIo,
}

/// nc's stdin.
enum Stdin {
    /// A file, as with `nc < FILE`: all there, then its end.
    File(&'static [u8]),
    /// A terminal nobody types into: open, silent.
    Silent,
}

/// Runs nc in `mode` with `argv` and `stdin` against `peers`;
/// `interrupt` is its Ctrl-C.
fn nc(
    mode: Mode,
    argv: &[&str],
    stdin: Stdin,
    peers: Vec<Box<dyn Responder>>,
    interrupt: Arc<AtomicBool>,
) -> Ran {
    nc_to(mode, argv, stdin, peers, interrupt, None)
}

/// [`nc`], its stdout going to `stdout` when given.
fn nc_to(
    mode: Mode,
    argv: &[&str],
    stdin: Stdin,
    peers: Vec<Box<dyn Responder>>,
    interrupt: Arc<AtomicBool>,
    stdout: Option<&mut dyn Write>,
) -> Ran {
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone());
    for p in peers {
        link = link.with(Boxed(p));
    }
    // The input, and its other end kept open for the run.
    let (input, _typist): (Box<dyn AsRawFd>, _) = match stdin {
        Stdin::File(bytes) => {
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(bytes).unwrap();
            file.seek(SeekFrom::Start(0)).unwrap();
            (Box::new(file), None)
        }
        Stdin::Silent => {
            let (ours, theirs) = UnixStream::pair().unwrap();
            (Box::new(ours), Some(theirs))
        }
    };
    let mut captured = Captured {
        clock: clock.clone(),
        ..Captured::default()
    };
    let mut env = captured.env();
    env.interrupt = &interrupt;
    if let Some(out) = stdout {
        env.out = out;
    }
    let args = args(argv);
    let path = match mode {
        Mode::Connect | Mode::ZeroIo => connect_path(),
        Mode::Listen => listen_path(),
    };
    let given = Given {
        path: &path,
        local: match mode {
            Mode::Connect | Mode::ZeroIo => US.into(),
            Mode::Listen => LISTENER.into(),
        },
        link: &mut link,
        clock: &mut clock.clone(),
    };
    let input = input.as_raw_fd();
    let outcome = match mode {
        Mode::Connect => connect_over(&args, given, input, &mut env),
        Mode::Listen => listen_over(&args, given, input, &mut env),
        Mode::ZeroIo => zero_io_over(&args, given, &mut env),
    }
    .unwrap();
    drop(env);
    Ran {
        outcome,
        out: captured.stdout(),
        err: String::from_utf8(captured.err).unwrap(),
        took: clock.get() - Instant::ZERO,
    }
}

struct Boxed(Box<dyn Responder>);

impl Responder for Boxed {
    fn on_frame(&mut self, now: Instant, frame: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        self.0.on_frame(now, frame)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
    fn on_time(&mut self, now: Instant) -> Vec<(Duration, Vec<u8>)> {
        self.0.on_time(now)
    }
}

fn no_interrupt() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

/// How much later than the exact figure a run may be: a poll of the
/// in-memory link that finds nothing may cost a moment of virtual time,
/// and nc polls once more after each batch of frames it reads.
const POLL_SLACK: Duration = Duration::from_micros(20);

/// Whether `got` is `want`, or later by at most [`POLL_SLACK`].
fn about(got: Duration, want: Duration) -> bool {
    (want..=want + POLL_SLACK).contains(&got)
}

/// A line's `t` stamp (`  0.000100 state …`) and the rest of it.
fn stamped(line: &str) -> Option<(Duration, &str)> {
    let (t, rest) = line.trim_start().split_once(' ')?;
    let secs: f64 = t.parse().ok()?;
    Some((Duration::from_micros((secs * 1e6).round() as u64), rest))
}

/// `got` has `want`'s lines: stamped ones with the same text at about the
/// same time, `nettool: sent …` with the same byte counts, the rest the
/// same.
fn assert_lines(got: &str, want: &str) {
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    assert_eq!(g.len(), w.len(), "got:\n{got}\nwant:\n{want}");
    for (g, w) in g.iter().zip(&w) {
        let same = match (stamped(g), stamped(w)) {
            (Some((gt, gr)), Some((wt, wr))) => gr == wr && about(gt, wt),
            _ if w.starts_with("nettool: sent ") => {
                let counts = |l: &str| {
                    let words: Vec<&str> = l.split(' ').collect();
                    [2, 7, 11].map(|i| words[i].to_owned())
                };
                counts(g) == counts(w)
            }
            _ => g == w,
        };
        assert!(same, "{g:?} is not {w:?}\ngot:\n{got}");
    }
}

#[test]
fn stdin_goes_to_the_server_and_its_answer_to_stdout() {
    let server = Peer::server(b"hi there\n");
    let heard = Rc::clone(&server.heard);
    let ran = nc(
        Mode::Connect,
        &["10.9.0.2", "80"],
        Stdin::File(b"hello\n"),
        vec![Box::new(server)],
        no_interrupt(),
    );
    assert_eq!(ran.outcome, Outcome::Success, "{}", ran.err);
    assert_eq!(ran.out, "hi there\n");
    assert_eq!(ran.err, "");
    assert_eq!(*heard.borrow(), b"hello\n");
    // SYN, SYN-ACK, data out, answer and FIN back, last ACK: a few
    // round trips, no retransmission waited for.
    assert!(ran.took < Duration::from_millis(5), "{:?}", ran.took);
}

#[test]
fn verbose_says_where_it_connected_and_what_moved() {
    let ran = nc(
        Mode::Connect,
        &["-v", "10.9.0.2", "80"],
        Stdin::File(b"hello\n"),
        vec![Box::new(Peer::server(b"hi there\n"))],
        no_interrupt(),
    );
    assert_eq!(ran.outcome, Outcome::Success, "{}", ran.err);
    assert_lines(
        &ran.err,
        "  0.000000 state CLOSED → SYN-SENT\n\
         \x20 0.000100 state SYN-SENT → ESTABLISHED\n\
         nettool: connected to 10.9.0.2:80 from 10.9.0.1:40000, congestion control cubic\n\
         \x20 0.000100 state ESTABLISHED → FIN-WAIT-1\n\
         \x20 0.000200 state FIN-WAIT-1 → FIN-WAIT-2\n\
         \x20 0.000200 state FIN-WAIT-2 → TIME-WAIT\n\
         nettool: sent 6 bytes (0.5 Mbit/s), received 9 bytes (0.7 Mbit/s), \
         0 retransmissions, open for 100 µs\n",
    );
}

#[test]
fn the_peer_closing_ends_the_run_while_stdin_stays_open() {
    let ran = nc(
        Mode::Connect,
        &["10.9.0.2", "80"],
        Stdin::Silent,
        vec![Box::new(Peer::greeter(b"220 welcome\n"))],
        no_interrupt(),
    );
    assert_eq!(ran.outcome, Outcome::Success, "{}", ran.err);
    assert_eq!(ran.out, "220 welcome\n");
    // Handshake, the greeting and its FIN, nc's FIN acknowledged: three
    // round trips on the virtual clock, none spent on the silent stdin.
    assert!(about(ran.took, 3 * LATENCY), "{:?}", ran.took);
}

#[test]
fn a_closed_port_is_refused_with_exit_1() {
    let ran = nc(
        Mode::Connect,
        &["10.9.0.2", "80"],
        Stdin::File(b"hello\n"),
        vec![Box::new(ClosedPort(None))],
        no_interrupt(),
    );
    assert_eq!(ran.outcome, Outcome::Negative);
    assert_eq!(ran.outcome.exit_code(), 1);
    assert_eq!(ran.out, "");
    assert_eq!(ran.err, "nettool: connection to 10.9.0.2:80 refused\n");
    assert!(about(ran.took, LATENCY), "the RST, one trip back");
}

#[test]
fn silence_times_out_after_the_syn_retries() {
    let ran = nc(
        Mode::Connect,
        &["-w", "3s", "10.9.0.2", "80"],
        Stdin::File(b""),
        vec![],
        no_interrupt(),
    );
    assert_eq!(ran.outcome, Outcome::Negative);
    assert_eq!(
        ran.err,
        "nettool: connection to 10.9.0.2:80 timed out (-w)\n"
    );
    assert!(about(ran.took, Duration::from_secs(3)), "{:?}", ran.took);
}

#[test]
fn a_listener_serves_one_connection_then_exits() {
    let client = Peer::client(50_001, Instant::from_millis(10), b"from the client\n");
    let heard = Rc::clone(&client.heard);
    let ran = nc(
        Mode::Listen,
        &["-l", "-v", "7000"],
        Stdin::File(b"from nc\n"),
        vec![Box::new(client)],
        no_interrupt(),
    );
    assert_eq!(ran.outcome, Outcome::Success, "{}", ran.err);
    assert_eq!(ran.out, "from the client\n");
    assert_eq!(*heard.borrow(), b"from nc\n");
    // The client's SYN leaves at 10 ms: each state line is exact.
    assert_lines(
        &ran.err,
        "nettool: listening on 10.9.0.1:7000 (sim0)\n\
         \x20 0.000000 state CLOSED → LISTEN\n\
         \x20 0.010100 state LISTEN → SYN-RECEIVED\n\
         \x20 0.010200 state SYN-RECEIVED → ESTABLISHED\n\
         nettool: connection from 10.9.0.2:50001 to 10.9.0.1:7000, congestion control cubic\n\
         \x20 0.010200 state ESTABLISHED → CLOSE-WAIT\n\
         \x20 0.010200 state CLOSE-WAIT → LAST-ACK\n\
         \x20 0.010300 state LAST-ACK → CLOSED\n\
         nettool: sent 8 bytes (0.6 Mbit/s), received 16 bytes (1.3 Mbit/s), \
         0 retransmissions, open for 100 µs\n",
    );
}

#[test]
fn keep_open_serves_two_clients_in_turn_until_interrupted() {
    let interrupt = no_interrupt();
    // Both knock at once: the second waits in the accept queue while the
    // first is served.
    let first = Peer::client(50_001, Instant::from_millis(10), b"one\n");
    let mut second = Peer::client(50_002, Instant::from_millis(10), b"two\n");
    second.then_interrupt = Some(Arc::clone(&interrupt));
    let (heard1, heard2) = (Rc::clone(&first.heard), Rc::clone(&second.heard));
    let ran = nc(
        Mode::Listen,
        &["-l", "-k", "7000"],
        Stdin::File(b""),
        vec![Box::new(first), Box::new(second)],
        interrupt,
    );
    assert_eq!(ran.outcome, Outcome::Interrupted, "{}", ran.err);
    assert_eq!(ran.out, "one\ntwo\n");
    assert_eq!(ran.err, "");
    // stdin was empty: each gets nc's FIN and nothing else.
    assert!(heard1.borrow().is_empty() && heard2.borrow().is_empty());
}

#[test]
fn zero_io_knocks_at_each_port_and_says_which_are_open() {
    let ran = nc(
        Mode::ZeroIo,
        &["-z", "-v", "10.9.0.2", "79-81"],
        Stdin::File(b""),
        vec![Box::new(Peer::server(b"")), Box::new(ClosedPort(Some(80)))],
        no_interrupt(),
    );
    assert_eq!(ran.outcome, Outcome::Success, "{}", ran.err);
    assert_eq!(ran.out, "");
    assert_eq!(
        ran.err,
        "nettool: connect to 10.9.0.2 port 79 (tcp) failed: Connection refused\n\
         Connection to 10.9.0.2 80 port [tcp/*] succeeded!\n\
         nettool: connect to 10.9.0.2 port 81 (tcp) failed: Connection refused\n"
    );
}

/// `-z -w`: each silent port waits `-w`, not the SYN retries' 3 s (nor
/// more: retries go on only until -w has passed).
#[rstest]
#[case::one_second(&["-w", "1"], Duration::from_secs(2))]
#[case::half_a_second(&["-w", "500ms"], Duration::from_secs(1))]
#[case::longer_than_the_retries(&["-w", "5"], Duration::from_secs(10))]
#[case::without_w(&[], Duration::from_secs(6))]
fn zero_io_waits_w_for_each_silent_port(#[case] wait: &[&str], #[case] took: Duration) {
    let mut argv = vec!["-z", "-v"];
    argv.extend(wait);
    argv.extend(["10.9.0.2", "79-80"]);
    let ran = nc(
        Mode::ZeroIo,
        &argv,
        Stdin::File(b""),
        vec![],
        no_interrupt(),
    );
    assert_eq!(ran.outcome, Outcome::Negative, "{}", ran.err);
    assert_eq!(ran.took, took, "{}", ran.err);
    assert_eq!(
        ran.err,
        "nettool: connect to 10.9.0.2 port 79 (tcp) failed: no answer\n\
         nettool: connect to 10.9.0.2 port 80 (tcp) failed: no answer\n"
    );
}

/// A stdout that takes `room` bytes, then fails as a pipe whose reader
/// went away (`nettool nc … | head -c 10`).
struct HeadC {
    took: Vec<u8>,
    room: usize,
}

impl Write for HeadC {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.took.len() >= self.room {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        let n = buf.len().min(self.room - self.took.len());
        self.took.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// stdout closed early: nettool resets the connection, prints its -v
/// summary all the same, and exits 0 (README's exit table: a quiet 0,
/// not 141).
#[test]
fn a_closed_stdout_ends_the_run_with_0_and_the_summary() {
    let mut head = HeadC {
        took: Vec::new(),
        room: 10,
    };
    let ran = nc_to(
        Mode::Connect,
        &["-v", "10.9.0.2", "80"],
        Stdin::Silent,
        vec![Box::new(Peer::greeter(b"0123456789abcdefghij\n"))],
        no_interrupt(),
        Some(&mut head),
    );
    assert_eq!(ran.outcome, Outcome::Success, "{}", ran.err);
    assert_eq!(head.took, b"0123456789");
    assert!(ran.err.contains("nettool: sent 0 bytes"), "{}", ran.err);
    assert!(!ran.err.contains("Broken pipe"), "{}", ran.err);
}

/// A silent port: nc gives up after its SYN retries (Linux's schedule)
/// and says how many SYNs went unanswered, without --trace too (it said
/// "after 0 SYNs").
#[rstest]
#[case::plain(&[])]
#[case::traced(&["--trace"])]
fn a_silent_port_counts_its_syns(#[case] extra: &[&str]) {
    let mut argv = extra.to_vec();
    argv.extend(["10.9.0.2", "80"]);
    let ran = nc(Mode::Connect, &argv, Stdin::Silent, vec![], no_interrupt());
    assert_eq!(ran.outcome, Outcome::Negative, "{}", ran.err);
    assert!(
        ran.err.contains("no answer from 10.9.0.2:80 after 7 SYNs"),
        "{}",
        ran.err
    );
}

#[test]
fn zero_io_with_every_port_closed_exits_1() {
    let ran = nc(
        Mode::ZeroIo,
        &["-z", "10.9.0.2", "79-81"],
        Stdin::File(b""),
        vec![Box::new(ClosedPort(None))],
        no_interrupt(),
    );
    assert_eq!(ran.outcome, Outcome::Negative);
    assert_eq!((ran.out.as_str(), ran.err.as_str()), ("", ""));
}

/// `--ladder`'s golden files, beside `nettool ladder`'s (rewritten with
/// NETTOOL_BLESS=1).
fn ladder_golden(name: &str, got: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/golden/ladder/{name}.ascii.txt"));
    if std::env::var_os("NETTOOL_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; write it with NETTOOL_BLESS=1 cargo test --test nc_sim",
            path.display()
        )
    });
    assert_eq!(
        got,
        want,
        "{} differs; if intended, NETTOOL_BLESS=1 cargo test --test nc_sim\n{got}",
        path.display()
    );
}

/// A short exchange is drawn whole on stderr when the connection ends:
/// our states as the engine moved, the server's inferred; stdout keeps
/// the payload alone.
#[test]
fn ladder_draws_a_short_exchange_whole() {
    let ran = nc(
        Mode::Connect,
        &["--ladder", "--ascii", "10.9.0.2", "80"],
        Stdin::File(b"hello\n"),
        vec![Box::new(Peer::server(b"hi there\n"))],
        no_interrupt(),
    );
    assert_eq!(ran.outcome, Outcome::Success, "{}", ran.err);
    assert_eq!(ran.out, "hi there\n");
    assert!(
        ran.err.lines().all(|l| l.chars().count() <= 79),
        "{}",
        ran.err
    );
    assert!(ran.err.contains("[S] seq 0"), "{}", ran.err);
    assert!(!ran.err.contains("not drawn"), "{}", ran.err);
    ladder_golden("nc-hello", &ran.err);
}

/// Bytes nobody has to keep: `len` of them, for stdin.
fn leaked(len: usize) -> &'static [u8] {
    Box::leak(
        (0..len)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>()
            .into_boxed_slice(),
    )
}

/// Of a long exchange, the first 20 and last 10 arrows are drawn, and
/// every arrow that moved a state; the rest is one line that says how
/// much it left out.
#[test]
fn ladder_sums_up_the_middle_of_a_long_exchange() {
    let ran = nc(
        Mode::Connect,
        &["--ladder", "--ascii", "10.9.0.2", "80"],
        Stdin::File(leaked(300_000)),
        vec![Box::new(Peer::server(b"ok\n"))],
        no_interrupt(),
    );
    assert_eq!(ran.outcome, Outcome::Success, "{}", ran.err);
    assert_eq!(ran.out, "ok\n");
    let arrows = ran
        .err
        .lines()
        .filter(|l| l.contains("-|") || l.contains("|<-") || l.contains("->|"))
        .count();
    let elided: Vec<&str> = ran
        .err
        .lines()
        .filter(|l| l.contains("not drawn"))
        .collect();
    assert!(!elided.is_empty(), "{}", ran.err);
    assert!((30..=40).contains(&arrows), "{arrows} arrows:\n{}", ran.err);
    // What is left out is counted: with the arrows drawn, it is every
    // segment of the run (300 000 bytes need over 200).
    let left_out: usize = elided
        .iter()
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let i = words.iter().position(|w| *w == "segments").unwrap();
            words[i - 1].parse::<usize>().unwrap()
        })
        .sum();
    assert!(left_out + arrows > 300_000 / 1460, "{left_out} + {arrows}");
    // Our FIN rides on the last data segment: drawn, not summed up.
    assert!(ran.err.contains("[FP.] seq 299737"), "{}", ran.err);
    assert!(
        ran.err.lines().all(|l| l.chars().count() <= 79),
        "{}",
        ran.err
    );
    // The end is drawn: our FIN, TIME-WAIT.
    assert!(ran.err.contains("TIME-WAIT"), "{}", ran.err);
    assert!(ran.err.contains("FIN-WAIT-1"), "{}", ran.err);
}

/// Drops the frames nc sends whose number (from 1) is in `drop`.
struct Lossy {
    inner: Peer,
    seen: usize,
    drop: &'static [usize],
}

impl Responder for Lossy {
    fn on_frame(&mut self, now: Instant, frame: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        self.seen += 1;
        if self.drop.contains(&self.seen) {
            return Vec::new();
        }
        self.inner.on_frame(now, frame)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
    fn on_time(&mut self, now: Instant) -> Vec<(Duration, Vec<u8>)> {
        self.inner.on_time(now)
    }
}

/// `--plot`: nc's own transfer, through losses, as SVG: one bar per
/// data segment sent, as many marked retransmitted as `-v` counts, each
/// with its cause; the sender's cwnd, ssthresh, RTO and SRTT drawn.
#[test]
fn plot_draws_the_transfer_with_what_the_sender_knows() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("up.svg");
    let peer = Lossy {
        inner: Peer::server(b"ok\n"),
        seen: 0,
        // Two data segments early in the flight, and one near the end.
        drop: &[12, 13, 150],
    };
    let ran = nc(
        Mode::Connect,
        &["-v", "--plot", svg.to_str().unwrap(), "10.9.0.2", "80"],
        Stdin::File(leaked(300_000)),
        vec![Box::new(peer)],
        no_interrupt(),
    );
    assert_eq!(ran.outcome, Outcome::Success, "{}", ran.err);
    let retransmissions: usize = ran
        .err
        .split(" retransmission")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {}", ran.err));
    assert!(retransmissions >= 3, "{}", ran.err);
    let doc = std::fs::read_to_string(&svg).unwrap();
    let elements = common::svg::parse_xml(&doc).unwrap();
    let class = |c: &str| elements.iter().filter(|e| e.class() == c).count();
    let data = class("data") + class("data retransmit");
    // 300 000 bytes in segments of at most one MSS (1460 on this path).
    assert!(data >= 300_000 / 1460, "{data} bars");
    assert_eq!(class("data retransmit"), retransmissions, "{}", ran.err);
    let causes = class("cause recovery") + class("cause tlp") + class("cause rto");
    assert_eq!(causes, retransmissions);
    assert!(
        class("cause recovery") >= 2,
        "the SACKed gap is repaired by recovery"
    );
    for series in ["cwnd", "ssthresh", "rto", "srtt"] {
        let path: Vec<_> = elements.iter().filter(|e| e.class() == series).collect();
        assert_eq!(path.len(), 1, "{series}");
        let (xs, _) = common::svg::step_path(&path[0].attrs["d"]);
        assert!(xs.len() > 2, "{series} moves");
        assert!(
            xs.windows(2).all(|w| w[0] <= w[1]),
            "{series}: time goes back"
        );
    }
    assert!(class("recovery") >= 1, "fast recovery shaded");
    assert!(class("loss-episode") >= 1);
}

/// Nothing went our way and nothing came back: no graph, and nc says why
/// (the run itself succeeded).
#[test]
fn plot_of_a_transfer_without_data_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("none.svg");
    let ran = nc(
        Mode::Connect,
        &["--plot", svg.to_str().unwrap(), "10.9.0.2", "80"],
        Stdin::File(b""),
        vec![Box::new(Peer::greeter(b""))],
        no_interrupt(),
    );
    assert_eq!(ran.outcome, Outcome::Success, "{}", ran.err);
    assert!(ran.err.contains("no graph written to"), "{}", ran.err);
    assert!(ran.err.contains("nothing to plot"), "{}", ran.err);
    assert!(!svg.exists());
}

/// A listener draws the connection it served: the client's SYN first,
/// our passive open and passive close.
#[test]
fn a_listener_draws_the_connection_it_served() {
    let client = Peer::client(50_001, Instant::from_millis(10), b"from the client\n");
    let ran = nc(
        Mode::Listen,
        &["-l", "--ladder", "--ascii", "7000"],
        Stdin::File(b"from nc\n"),
        vec![Box::new(client)],
        no_interrupt(),
    );
    assert_eq!(ran.outcome, Outcome::Success, "{}", ran.err);
    assert_eq!(ran.out, "from the client\n");
    ladder_golden("nc-listen", &ran.err);
}

/// A refused connection is drawn too: our SYN, the port's RST, CLOSED;
/// then the error, as without --ladder.
#[test]
fn ladder_draws_a_refused_connection() {
    let ran = nc(
        Mode::Connect,
        &["--ladder", "--ascii", "10.9.0.2", "80"],
        Stdin::File(b"hello\n"),
        vec![Box::new(ClosedPort(None))],
        no_interrupt(),
    );
    assert_eq!(ran.outcome, Outcome::Negative);
    assert!(
        ran.err
            .ends_with("nettool: connection to 10.9.0.2:80 refused\n"),
        "{}",
        ran.err
    );
    ladder_golden("nc-refused", &ran.err);
}

/// nc's data lost once: the ladder shows the gap and the copy marked
/// `rtx`, and the legend says what that means.
#[test]
fn ladder_marks_a_retransmission() {
    let peer = Lossy {
        inner: Peer::server(b"ok\n"),
        seen: 0,
        // SYN, ACK, then the data: lost.
        drop: &[3],
    };
    let ran = nc(
        Mode::Connect,
        &["--ladder", "--ascii", "10.9.0.2", "80"],
        Stdin::File(b"hello\n"),
        vec![Box::new(peer)],
        no_interrupt(),
    );
    assert_eq!(ran.outcome, Outcome::Success, "{}", ran.err);
    assert_eq!(ran.out, "ok\n");
    assert!(ran.err.contains("len 6 rtx"), "{}", ran.err);
    ladder_golden("nc-lost-data", &ran.err);
}
