//! The lab's TCP and UDP services against a real kernel, from the
//! client's side.
//!
//! Needs root. Each test makes a private namespace X, brings a lab up from
//! a thread inside X (so the lab's host end lives in X, never in the
//! machine's own namespace), with the services run by the nettool binary
//! under test, and talks to them with ordinary kernel sockets from X. All
//! traffic stays between X and the lab namespace.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nettool::lab::netns;
use nettool::lab::services::{PortState, Ports, ServiceError, daemon, http, trickle};
use nettool::lab::testnet::{self, TestNamespace};
use nettool::lab::{self, LabError, LabSpec, LabStatus};

const CONNECT: Duration = Duration::from_secs(2);
const READ: Duration = Duration::from_secs(5);

fn spec(name: &str, subnet: &str, services: Option<PathBuf>) -> LabSpec {
    LabSpec {
        name: name.into(),
        subnet: subnet.parse().unwrap(),
        hosts: 2,
        services,
    }
}

fn nettool_exe() -> Option<PathBuf> {
    Some(common::nettool().into())
}

/// A lab with services, brought up from inside X and taken down on drop
/// (a failing assertion included). Declare it after X.
struct Lab<'x> {
    x: &'x TestNamespace,
    name: String,
    status: LabStatus,
}

impl<'x> Lab<'x> {
    fn up(x: &'x TestNamespace, subnet: &str) -> Lab<'x> {
        let name = testnet::unique_lab_name();
        let status = x
            .run(|| lab::up(&spec(&name, subnet, nettool_exe())))
            .unwrap_or_else(|e| panic!("lab up: {e}"));
        Lab { x, name, status }
    }

    /// The lab's `n`th peer address (0-based) with `port`.
    fn peer(&self, n: usize, port: u16) -> SocketAddr {
        let ip = self.status.peer.as_ref().unwrap().addresses[n].ip();
        SocketAddr::new(ip.into(), port)
    }

    /// The lab's `n`th peer IPv6 address (0-based, in the lab's ULA /64)
    /// with `port`.
    fn peer6(&self, n: usize, port: u16) -> SocketAddr {
        let mut ula: Vec<std::net::Ipv6Addr> = self
            .status
            .peer
            .as_ref()
            .unwrap()
            .addresses6
            .iter()
            .map(|a| a.ip())
            .filter(|ip| ip.segments()[0] & 0xfe00 == 0xfc00)
            .collect();
        ula.sort_unstable();
        SocketAddr::new(ula[n].into(), port)
    }
}

impl Drop for Lab<'_> {
    fn drop(&mut self) {
        let _ = self.x.run(|| lab::down(&self.name));
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, CONNECT)
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    s.set_read_timeout(Some(READ)).unwrap();
    s
}

/// The kernel's TCP state (as in /proc/net/tcp, e.g. `08` = CLOSE-WAIT) of
/// our socket, read in the calling thread's namespace.
fn tcp_state(s: &TcpStream) -> String {
    let port = format!(":{:04X}", s.local_addr().unwrap().port());
    let table = std::fs::read_to_string("/proc/thread-self/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f[1].ends_with(&port).then(|| f[3].to_string())
        })
        .unwrap_or_else(|| panic!("no socket with local port {port}:\n{table}"))
}
const CLOSE_WAIT: &str = "08";
const FIN_WAIT2: &str = "05";

fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn http_answers_then_closes_first() {
    let x = TestNamespace::new("svc-http");
    let lab = Lab::up(&x, "10.81.0.0/24");
    x.run(|| {
        // Read to EOF without closing our side: the server's FIN came
        // first, so our socket sits in CLOSE-WAIT (the passive close).
        let mut s = connect(lab.peer(0, Ports::HTTP));
        s.write_all(b"GET /hello HTTP/1.0\r\n\r\n").unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).unwrap();
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
        for want in [
            "Content-Type: text/plain",
            "Connection: close",
            &format!("nettool lab {}: 10.81.0.2:80 answered 10.81.0.1:", lab.name),
            "request: GET /hello HTTP/1.0\n",
        ] {
            assert!(got.contains(want), "{want:?} missing:\n{got}");
        }
        assert_eq!(tcp_state(&s), CLOSE_WAIT);

        // Every peer address answers, HTTP/1.1 and HEAD too.
        let got = exchange(
            lab.peer(1, Ports::HTTP),
            b"HEAD /x HTTP/1.1\r\nHost: lab\r\n\r\n",
        );
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
        assert!(got.ends_with("\r\n\r\n"), "HEAD has no body: {got}");

        let got = exchange(lab.peer(0, Ports::HTTP), b"BREW /pot HTCPCP/1.0\r\n\r\n");
        assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{got}");

        // An endless header is cut off at MAX_HEAD, answered and closed.
        let mut big = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
        big.resize(http::MAX_HEAD + 100, b'a');
        let got = exchange(lab.peer(0, Ports::HTTP), &big);
        assert!(got.starts_with("HTTP/1.1 431 "), "{got}");
    });
}

#[test]
fn echo_echoes_until_our_fin_then_closes() {
    let x = TestNamespace::new("svc-echo");
    let lab = Lab::up(&x, "10.82.0.0/24");
    x.run(|| {
        let mut s = connect(lab.peer(1, Ports::ECHO));
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        s.write_all(&data).unwrap();
        // Some of it comes back before we close our side ...
        let mut first = [0u8; 100];
        s.read_exact(&mut first).unwrap();
        assert_eq!(first[..], data[..100]);
        // ... the rest after, followed by the server's FIN (EOF).
        s.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        assert_eq!(rest[..], data[100..]);
    });
}

#[test]
fn trickle_keeps_sending_after_our_fin() {
    let x = TestNamespace::new("svc-trickle");
    let lab = Lab::up(&x, "10.83.0.0/24");
    x.run(|| {
        let s = connect(lab.peer(0, Ports::TRICKLE));
        let start = Instant::now();
        s.shutdown(Shutdown::Write).unwrap();
        let mut reader = BufReader::new(&s);
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            if lines.is_empty() {
                // Our FIN was acknowledged and the server still sends.
                assert_eq!(tcp_state(&s), FIN_WAIT2);
            }
            lines.push(line);
        }
        let elapsed = start.elapsed();
        let want: Vec<String> = (1..=trickle::LINES).map(trickle::line).collect();
        assert_eq!(lines, want);
        assert!(
            elapsed >= trickle::INTERVAL * (trickle::LINES - 1) && elapsed < Duration::from_secs(3),
            "10 lines took {elapsed:?}"
        );
    });
}

#[test]
fn closed_port_refuses_and_filtered_port_stays_silent() {
    let x = TestNamespace::new("svc-ports");
    let lab = Lab::up(&x, "10.84.0.0/24");
    x.run(|| {
        let err = TcpStream::connect_timeout(&lab.peer(0, Ports::CLOSED), CONNECT).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
        let start = Instant::now();
        let wait = Duration::from_millis(300);
        let err = TcpStream::connect_timeout(&lab.peer(0, Ports::FILTERED), wait).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        assert!(start.elapsed() >= wait);
    });
    // The silence was the rule's doing: it counted the SYN.
    let status = x.run(|| lab::status(&lab.name)).unwrap().unwrap();
    let dropped = status.services.unwrap().dropped_syns;
    assert!(dropped.is_some_and(|n| n >= 1), "{dropped:?}");
}

#[test]
fn status_shows_the_services_and_down_stops_them() {
    let x = TestNamespace::new("svc-down");
    let lab = Lab::up(&x, "10.85.0.0/24");
    assert!(lab.status.is_healthy(), "{:?}", lab.status.problems);
    let services = lab.status.services.clone().expect("services in the status");
    assert!(services.running);
    let states: Vec<(u16, PortState)> = services.ports.iter().map(|p| (p.port, p.state)).collect();
    assert_eq!(
        states,
        [
            (Ports::HTTP, PortState::Listening),
            (Ports::ECHO, PortState::Listening),
            (Ports::TRICKLE, PortState::Listening),
            (Ports::CLOSED, PortState::Closed),
            (Ports::FILTERED, PortState::Filtered),
        ]
    );
    // Each family has sockets of its own, read from tcp6 and udp6: the
    // same states over IPv6.
    assert!(
        services.ports.iter().all(|p| p.state6 == Some(p.state)),
        "{:?}",
        services.ports
    );
    use PortState::{Closed, Filtered, Listening};
    let udp: Vec<(u16, PortState, Option<PortState>)> = services
        .udp_ports
        .iter()
        .map(|p| (p.port, p.state, p.state6))
        .collect();
    assert_eq!(
        udp,
        [
            (7, Listening, Some(Listening)),
            (13, Listening, Some(Listening)),
            (81, Closed, Some(Closed)),
            (82, Filtered, Some(Filtered)),
        ]
    );
    let json = serde_json::to_value(&lab.status).unwrap();
    assert_eq!(json["services"]["ports"][0]["state"], "listening");
    assert_eq!(json["services"]["ports"][0]["state6"], "listening");
    assert_eq!(json["services"]["udp_ports"][1]["name"], "daytime");
    assert_eq!(json["services"]["ports"][4]["name"], "filtered");

    // serve.log's lines start with an RFC 3339 UTC time, not epoch seconds.
    let log = std::fs::read_to_string(&services.log).unwrap();
    let first = log.lines().next().expect("a first log line");
    let (stamp, _) = first.split_once(' ').unwrap();
    let b = stamp.as_bytes();
    assert!(
        stamp.len() == 24
            && (b[4], b[7], b[10], b[13], b[16], b[19], b[23])
                == (b'-', b'-', b'T', b':', b':', b'.', b'Z')
            && stamp.starts_with("20"),
        "{first}"
    );

    let pid = services.pid.unwrap();
    // A connection in flight does not hold the shutdown up.
    let _idle = x.run(|| connect(lab.peer(0, Ports::ECHO)));
    let start = Instant::now();
    let report = x.run(|| lab::down(&lab.name)).unwrap();
    assert_eq!(report.stopped, [pid]);
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "SIGTERM should stop the services well before the SIGKILL fallback: {:?}",
        start.elapsed()
    );
    // The reaper thread collects it; the pid disappears.
    let gone = || !std::path::Path::new(&format!("/proc/{pid}")).exists();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !gone() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(gone(), "service process {pid} is still there");
    assert!(!netns::exists(&lab::namespace_name(&lab.name)));
    assert!(!lab::run_dir(&lab.name).exists());
    assert_eq!(x.run(|| lab::status(&lab.name)).unwrap(), None);
}

#[test]
fn a_lab_whose_services_fail_to_start_is_undone() {
    let x = TestNamespace::new("svc-fail");
    let name = testnet::unique_lab_name();
    // `false lab serve --name …` exits at once without listening.
    let err = x
        .run(|| lab::up(&spec(&name, "10.86.0.0/24", Some("/bin/false".into()))))
        .unwrap_err();
    assert!(
        matches!(err, LabError::Services(ServiceError::DidNotStart { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("exited"), "{err}");
    assert!(
        !netns::exists(&lab::namespace_name(&name)),
        "namespace left"
    );
    assert!(!lab::run_dir(&name).exists(), "run directory left");
    let host_if = lab::host_interface_name(&name);
    assert_eq!(x.run(|| netns::link(None, &host_if)).unwrap(), None);
}

#[test]
fn services_that_never_listen_are_killed_after_the_wait() {
    let x = TestNamespace::new("svc-slow");
    let name = testnet::unique_lab_name();
    let status = x
        .run(|| lab::up(&spec(&name, "10.89.0.0/24", None)))
        .unwrap();
    let _lab = Lab {
        x: &x,
        name: name.clone(),
        status,
    };
    let scratch = tempfile::tempdir().unwrap();
    let script = scratch.path().join("never-listens");
    std::fs::write(
        &script,
        "#!/bin/sh\necho about to sleep >&2\nexec sleep 30\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let dir = daemon::create_run_dir(&name).unwrap();

    let err = daemon::start_within(&script, &name, Duration::from_millis(300)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("nothing listened on ports 80, 7, 19"),
        "{text}"
    );
    assert!(
        text.contains("about to sleep"),
        "the log's tail is shown: {text}"
    );
    let pid: u32 = std::fs::read_to_string(dir.join("serve.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat"));
    assert!(state.is_err(), "the script still runs: {state:?}");
}

#[test]
fn a_bare_lab_has_no_services() {
    let x = TestNamespace::new("svc-bare");
    let name = testnet::unique_lab_name();
    let status = x
        .run(|| lab::up(&spec(&name, "10.87.0.0/24", None)))
        .unwrap();
    let bare = Lab {
        x: &x,
        name,
        status,
    };
    assert_eq!(bare.status.services, None);
    assert!(bare.status.is_healthy());
    let err = x
        .run(|| TcpStream::connect_timeout(&bare.peer(0, Ports::HTTP), CONNECT))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    let r = nettool_in(&x, &["lab", "status", "--name", &bare.name]);
    assert!(r.stdout.contains("services    none"), "{}", r.show());
}

fn nettool_in(x: &TestNamespace, args: &[&str]) -> common::Ran {
    x.run(|| {
        let mut c = std::process::Command::new(common::nettool());
        c.args(args);
        common::run(c, Duration::from_secs(30))
    })
}

#[test]
fn the_cli_shows_the_services_and_refuses_to_serve_outside_the_lab() {
    let x = TestNamespace::new("svc-cli");
    let name = testnet::unique_lab_name();
    let r = nettool_in(
        &x,
        &["lab", "up", "--name", &name, "--subnet", "10.88.0.0/24"],
    );
    assert_eq!(r.code, Some(0), "{}", r.show());
    let _lab = Lab {
        x: &x,
        name: name.clone(),
        status: x.run(|| lab::status(&name)).unwrap().unwrap(),
    };
    for want in [
        " 80/tcp  http      listening  IPv4+IPv6",
        " 82/tcp  filtered  filtered   IPv4+IPv6",
        " 13/udp  daytime   open       IPv4+IPv6",
        "nettool handshake '[fd00:6e74:0:1600::2]:80'",
        "nettool handshake 10.88.0.2:80",
        "nettool close 10.88.0.2:80 --passive --data 'GET / HTTP/1.0\\r\\n\\r\\n'",
        "nettool close 10.88.0.2:19 --half-close",
    ] {
        assert!(r.stdout.contains(want), "{want:?} missing:\n{}", r.show());
    }
    let r = nettool_in(&x, &["lab", "status", "--json", "--name", &name]);
    let v: serde_json::Value = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["event"] == "lab")
        .expect("a lab line");
    assert_eq!(v["services"]["running"], true, "{}", r.show());

    // Not in the lab's namespace (here: X): refused, nothing bound.
    let r = nettool_in(&x, &["lab", "serve", "--name", &name]);
    assert_eq!(r.code, Some(2), "{}", r.show());
    assert!(
        r.stderr.contains("must run inside the namespace"),
        "{}",
        r.show()
    );

    let r = nettool_in(&x, &["lab", "down", "--name", &name]);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(!lab::run_dir(&name).exists());
}

#[test]
fn udp_echo_and_daytime_answer_and_closed_and_filtered_udp_ports_do_not() {
    use nettool::lab::services::udp::UdpPorts;
    use std::net::UdpSocket;
    let x = TestNamespace::new("svc-udp");
    let lab = Lab::up(&x, "10.85.0.0/24");
    x.run(|| {
        let ask = |port: u16, payload: &[u8]| -> std::io::Result<Vec<u8>> {
            let s = UdpSocket::bind("0.0.0.0:0")?;
            s.set_read_timeout(Some(Duration::from_millis(500)))?;
            s.connect(lab.peer(0, port))?;
            s.send(payload)?;
            let mut buf = [0u8; 1500];
            let n = s.recv(&mut buf)?;
            Ok(buf[..n].to_vec())
        };
        let binary = [0u8, 1, 2, 0xff, b'\n'];
        assert_eq!(ask(UdpPorts::ECHO, &binary).unwrap(), binary);
        let line = String::from_utf8(ask(UdpPorts::DAYTIME, b"").unwrap()).unwrap();
        assert!(line.ends_with(" UTC\r\n"), "{line:?}");
        let closed = ask(UdpPorts::CLOSED, b"x").unwrap_err();
        assert_eq!(closed.kind(), ErrorKind::ConnectionRefused, "{closed}");
        let filtered = ask(UdpPorts::FILTERED, b"x").unwrap_err();
        assert!(
            matches!(filtered.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{filtered}"
        );
    });
}

/// `scan --udp` agrees exactly with the lab's UDP truth (echo on 7 and
/// daytime on 13 answer, 81 is closed, 82's datagrams are dropped, the
/// rest of 1-20 closed), the peer's kernel keeping its default ICMP rate
/// limit (a burst of 6 errors, then one a second): 19 closed ports take
/// about 13 s, and each is reported closed, not open|filtered.
#[test]
fn a_udp_scan_agrees_exactly_with_the_labs_udp_services() {
    use nettool::lab::services::udp::{UDP_SERVICES, UdpPorts};
    let x = TestNamespace::new("svc-uscan");
    let lab = Lab::up(&x, "10.86.0.0/24");
    let peer = lab.peer(0, 0).ip().to_string();
    let cache = tempfile::tempdir().unwrap();
    let r = x.run(|| {
        let mut c = std::process::Command::new(common::nettool());
        c.args(["scan", "--udp", "--json", &peer, "1-20,81,82"])
            .env("NETTOOL_ARP_CACHE", cache.path().join("arp.json"));
        common::run(c, Duration::from_secs(60))
    });
    assert_eq!(r.code, Some(0), "{}", r.show());
    let got: Vec<(u64, String)> = r
        .json_lines()
        .iter()
        .filter(|v| v["event"] == "port")
        .map(|v| {
            let port = v["port"].as_u64().unwrap();
            (port, v["outcome"].as_str().unwrap().to_owned())
        })
        .collect();
    // The truth, from the lab's own catalogue of its UDP ports.
    assert!(UDP_SERVICES.iter().any(|s| s.0 == UdpPorts::FILTERED));
    let want: Vec<(u64, String)> = (1..=20)
        .chain([UdpPorts::CLOSED, UdpPorts::FILTERED])
        .map(|p| {
            let s = match p {
                UdpPorts::ECHO | UdpPorts::DAYTIME => "open",
                UdpPorts::FILTERED => "open|filtered",
                _ => "closed",
            };
            (u64::from(p), s.to_owned())
        })
        .collect();
    assert_eq!(got, want, "{}", r.show());
    // 19 closed ports from a bucket of 6: about 13 s at one a second.
    assert!(r.elapsed < Duration::from_secs(45), "{}", r.show());
    assert!(
        r.elapsed > Duration::from_secs(9),
        "faster than the peer's limiter allows? {}",
        r.show()
    );
}

/// nettool in X on the lab, with a cache of its own: its result.
fn nettool_with_input(x: &TestNamespace, args: &[&str], input: Option<&[u8]>) -> common::Ran {
    let cache = tempfile::tempdir().unwrap();
    x.run(|| {
        let mut c = std::process::Command::new(common::nettool());
        c.args(args)
            .env("NETTOOL_ARP_CACHE", cache.path().join("cache.json"));
        common::run_with_input(c, input.map(<[u8]>::to_vec), Duration::from_secs(30))
    })
}

/// Every service answers on the lab's IPv6 addresses too, each peer from
/// its own address: a kernel client, nettool's handshake, and nettool's nc
/// over TCP and UDP (the UDP echo answers from the address asked, not from
/// the one the kernel would pick among the peer's addresses).
#[test]
fn the_services_answer_over_ipv6() {
    let x = TestNamespace::new("svc-six");
    let lab = Lab::up(&x, "10.90.0.0/24");
    let (http6, second6) = (lab.peer6(0, Ports::HTTP), lab.peer6(1, Ports::HTTP));
    assert!(http6.ip().to_string().starts_with("fd00:6e74:"), "{http6}");
    x.run(|| {
        let page = exchange(second6, b"GET / HTTP/1.0\r\n\r\n");
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(page.contains(&format!("{second6} answered [")), "{page}");
        let err = TcpStream::connect_timeout(&lab.peer6(0, Ports::CLOSED), CONNECT).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
        let wait = Duration::from_millis(300);
        let err = TcpStream::connect_timeout(&lab.peer6(0, Ports::FILTERED), wait).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    });

    let r = nettool_with_input(&x, &["handshake", &http6.to_string()], None);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(r.stdout.contains(" in    IP6 "), "{}", r.show());
    assert!(
        r.stdout
            .contains(&format!("port 80 on {} is open: SYN-ACK", http6.ip())),
        "{}",
        r.show()
    );

    let peer = lab.peer6(1, 0).ip().to_string();
    let said = b"seven over IPv6\n";
    let r = nettool_with_input(&x, &["nc", &peer, &Ports::ECHO.to_string()], Some(said));
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(r.stdout.as_bytes(), said, "{}", r.show());
    // The first peer: the kernel would answer from the second, the newest
    // address (RFC 6724 has no rule between them).
    let first = http6.ip().to_string();
    let r = nettool_with_input(&x, &["nc", "-u", &first, "7"], Some(b"a datagram"));
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert_eq!(r.stdout, "a datagram", "{}", r.show());
}
