//! `nettool close --ladder` as a whole on the in-memory link and its
//! virtual clock: the ladder drawn from the command's own events (our
//! states as the engine reported them) for an active close with
//! TIME-WAIT, a passive close and a half-close, against golden text in
//! tests/golden/ladder/ (`NETTOOL_BLESS=1 cargo test --test close_sim`
//! rewrites it). The peer is nettool's own engine in LISTEN.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use clap::Parser;
use nettool::cli::{Cli, CloseArgs, Command};
use nettool::cmd::tcp::close_over;
use nettool::cmd::{Captured, Given};
use nettool::link::mem::{MemLink, Responder, VirtualClock};
use nettool::outcome::Outcome;
use nettool::setup::Path;
use nettool::tcp::{self, Connection, Event, IssSource, SeqNum, State};
use nettool::time::Instant;
use nettool::wire::MacAddr;
use nettool::wire::tcp::{ChecksumMode, TcpRepr};
use rstest::rstest;

const US_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
const PEER_MAC: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const US: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 9, 0, 1), 40000);
const PEER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 9, 0, 2), 80);
const LATENCY: Duration = Duration::from_micros(100);

/// What the listening peer does once open.
#[derive(Clone, Copy)]
enum Peer {
    /// Closes when our FIN arrives (an echo server at EOF).
    CloseOnEof,
    /// Sends a reply, then closes first (an HTTP/1.0 server).
    ReplyAndClose,
    /// Sends a reply after our FIN, then closes (reading on in FIN-WAIT-2).
    ReplyAfterEof,
}

struct Listener {
    conn: Connection,
    peer: Peer,
    replied: bool,
}

impl Listener {
    fn new(peer: Peer) -> Listener {
        Listener {
            conn: Connection::listen(
                tcp::Config::default(),
                PEER,
                IssSource::Fixed(SeqNum(7_000_000)),
            ),
            peer,
            replied: false,
        }
    }

    fn output(&mut self, now: Instant) -> Vec<(Duration, Vec<u8>)> {
        let mut eof = false;
        while let Some(e) = self.conn.poll_event() {
            eof |= e == Event::PeerClosed;
        }
        let state = self.conn.state();
        match self.peer {
            Peer::CloseOnEof if eof => self.conn.close(now),
            Peer::ReplyAndClose if state == State::Established && !self.replied => {
                self.replied = true;
                let _ = self.conn.send(b"HTTP/1.0 200 OK\r\n\r\n");
                self.conn.close(now);
            }
            Peer::ReplyAfterEof if eof && !self.replied => {
                self.replied = true;
                let _ = self.conn.send(b"bye\n");
                self.conn.close(now);
            }
            _ => {}
        }
        let mut buf = [0u8; 1024];
        while let Ok(1..) = self.conn.recv(&mut buf) {}
        std::iter::from_fn(|| self.conn.poll_transmit(now))
            .map(|seg| (LATENCY, seg.to_frame(PEER_MAC, US_MAC)))
            .collect()
    }
}

impl Responder for Listener {
    fn on_frame(&mut self, now: Instant, frame: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        if let Ok((_, ip, tcp)) = TcpRepr::from_frame(frame, ChecksumMode::Verify) {
            self.conn.handle_segment_from(now, ip.src, &tcp);
        }
        self.output(now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.conn.poll_timeout()
    }

    fn on_time(&mut self, now: Instant) -> Vec<(Duration, Vec<u8>)> {
        self.conn.handle_timeout(now);
        self.output(now)
    }
}

fn args(extra: &[&str]) -> CloseArgs {
    let mut argv = vec!["nettool", "close", "--ladder", "--ascii"];
    argv.extend(extra);
    argv.push("10.9.0.2:80");
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Close(a) => a,
        _ => unreachable!(),
    }
}

#[rstest]
#[case::active("cmd-active-close", &["--time-wait", "1s"], Peer::CloseOnEof)]
#[case::passive("cmd-passive-close", &["--passive", "--data", "GET / HTTP/1.0\\r\\n\\r\\n"], Peer::ReplyAndClose)]
#[case::half("cmd-half-close", &["--half-close", "--time-wait", "1s"], Peer::ReplyAfterEof)]
fn a_close_is_drawn_from_its_events(
    #[case] name: &str,
    #[case] extra: &[&str],
    #[case] peer: Peer,
) {
    let clock = VirtualClock::default();
    let mut link = MemLink::new(clock.clone()).with(Listener::new(peer));
    let mut captured = Captured::default();
    let path = Path::simulated(US_MAC, *US.ip(), *PEER.ip(), PEER_MAC);
    let outcome = close_over(
        &args(extra),
        Given {
            path: &path,
            local: US.into(),
            link: &mut link,
            clock: &mut clock.clone(),
        },
        &mut captured.env(),
    )
    .unwrap();
    let out = captured.stdout();
    assert_eq!(outcome, Outcome::Success, "{out}");
    for line in out.lines().filter(|l| l.contains('|')) {
        assert!(line.is_ascii() && line.len() <= 80, "{line:?}");
    }
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/golden/ladder/{name}.ascii.txt"));
    if std::env::var_os("NETTOOL_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&file, &out).unwrap();
    }
    let golden = std::fs::read_to_string(&file).unwrap_or_default();
    assert_eq!(
        out,
        golden,
        "{} differs (NETTOOL_BLESS=1 rewrites it)",
        file.display()
    );
}
