//! Accepts connections on the lab's service ports and gives each its own
//! thread, within bounds: at most [`Limits::max_connections`] at once, and
//! every handler gives up on an idle client and notices the stop flag
//! within a tick, so [`Server::run`] returns soon after a stop, with every
//! thread joined.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use super::{Ports, ServiceError, echo, family, http, trickle};

/// The services that listen (the closed and filtered ports have none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Http,
    Echo,
    Trickle,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Echo => "echo",
            Kind::Trickle => "trickle",
        }
    }
}

/// The lab's listening services on their well-known ports.
pub const LAB_PORTS: [(Kind, u16); 3] = [
    (Kind::Http, Ports::HTTP),
    (Kind::Echo, Ports::ECHO),
    (Kind::Trickle, Ports::TRICKLE),
];

/// Bounds on what clients may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; more are closed on at once.
    pub max_connections: usize,
    /// Time for an HTTP client to send its request head.
    pub http_timeout: Duration,
    /// Silence after which an echo connection is closed.
    pub echo_idle: Duration,
    /// Time between trickle lines.
    pub trickle_interval: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 64,
            http_timeout: http::REQUEST_TIMEOUT,
            echo_idle: echo::IDLE_TIMEOUT,
            trickle_interval: trickle::INTERVAL,
        }
    }
}

/// Bound listeners, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    lab: String,
    listeners: Vec<(Kind, TcpListener)>,
    limits: Limits,
}

impl Server {
    /// Binds every service in `ports` on each of `ips`, one socket per
    /// address (port 0: any free port, the same one for every address, for
    /// tests). Inside the lab, `ips` are [`family::FAMILIES`]: every
    /// address of either family answers. An IPv6 address on a kernel
    /// without IPv6 is left out.
    pub fn bind(lab: &str, ips: &[IpAddr], ports: &[(Kind, u16)]) -> Result<Server, ServiceError> {
        let mut listeners = Vec::new();
        for &(kind, wanted) in ports {
            let mut port = wanted;
            for &ip in ips {
                let listener = match family::tcp_listener(SocketAddr::new(ip, port)) {
                    Ok(l) => l,
                    Err(e) if ip.is_ipv6() && family::no_such_family(&e) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                        return Err(ServiceError::PortInUse {
                            name: kind.name(),
                            port,
                        });
                    }
                    Err(e) => {
                        let at = SocketAddr::new(ip, port);
                        return Err(ServiceError::io(
                            format!("listening on {at} ({})", kind.name()),
                            e,
                        ));
                    }
                };
                listener
                    .set_nonblocking(true)
                    .map_err(|e| ServiceError::io("making a listener non-blocking", e))?;
                if let Ok(bound) = listener.local_addr() {
                    port = bound.port();
                }
                listeners.push((kind, listener));
            }
        }
        Ok(Server {
            lab: lab.into(),
            listeners,
            limits: Limits::default(),
        })
    }

    /// The lab's services on their well-known ports, on every address of
    /// both families.
    pub fn bind_lab(lab: &str) -> Result<Server, ServiceError> {
        Server::bind(lab, &family::FAMILIES, &LAB_PORTS)
    }

    pub fn with_limits(mut self, limits: Limits) -> Server {
        self.limits = limits;
        self
    }

    /// Where `kind` listens: the address of its first socket.
    pub fn local_addr(&self, kind: Kind) -> Option<SocketAddr> {
        self.local_addrs(kind).into_iter().next()
    }

    /// Every address `kind` listens on, one per family bound.
    pub fn local_addrs(&self, kind: Kind) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter(|(k, _)| *k == kind)
            .filter_map(|(_, l)| l.local_addr().ok())
            .collect()
    }

    /// Serves until `stop` is raised, then waits for the connections in
    /// flight (each notices within a tick). `log` gets one line per
    /// connection; it is called from many threads.
    pub fn run(&self, stop: &AtomicBool, log: &(dyn Fn(&str) + Sync)) -> Result<(), ServiceError> {
        let live = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let mut fds: Vec<libc::pollfd> = self
                .listeners
                .iter()
                .map(|(_, l)| libc::pollfd {
                    fd: l.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: `fds` is a valid array of `fds.len()` pollfds.
                let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
                if n < 0 {
                    let err = std::io::Error::last_os_error();
                    if err.kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(ServiceError::io("waiting for connections", err));
                }
                for (i, pfd) in fds.iter_mut().enumerate() {
                    if pfd.revents == 0 {
                        continue;
                    }
                    pfd.revents = 0;
                    let (kind, listener) = &self.listeners[i];
                    while let Ok((stream, peer)) = listener.accept() {
                        if live.load(Ordering::Relaxed) >= self.limits.max_connections {
                            log(&format!(
                                "{} {peer}: refused, {} connections already open",
                                kind.name(),
                                self.limits.max_connections
                            ));
                            continue;
                        }
                        live.fetch_add(1, Ordering::Relaxed);
                        let (kind, live) = (*kind, &live);
                        let spawned = std::thread::Builder::new()
                            .name(format!("lab-{}", kind.name()))
                            .spawn_scoped(scope, move || {
                                log(&self.serve_one(kind, stream, peer, stop));
                                live.fetch_sub(1, Ordering::Relaxed);
                            });
                        if let Err(e) = spawned {
                            live.fetch_sub(1, Ordering::Relaxed);
                            log(&format!("{} {peer}: no thread for it: {e}", kind.name()));
                        }
                    }
                }
            }
            Ok(())
        })
    }

    /// Serves one connection; returns its log line.
    fn serve_one(
        &self,
        kind: Kind,
        stream: TcpStream,
        peer: SocketAddr,
        stop: &AtomicBool,
    ) -> String {
        let local = stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "?".into());
        let head = format!("{} {peer} > {local}", kind.name());
        let l = &self.limits;
        match kind {
            Kind::Http => match http::handle(stream, &self.lab, l.http_timeout, stop) {
                Ok(http::Served {
                    status: Some(status),
                    line,
                }) => format!("{head}: {:?} {status}", line.unwrap_or_default()),
                Ok(_) => format!("{head}: closed without a request"),
                Err(e) => format!("{head}: {e}"),
            },
            Kind::Echo => match echo::handle(stream, l.echo_idle, stop) {
                Ok(e) if e.client_fin => format!("{head}: echoed {} bytes, then FIN", e.bytes),
                Ok(e) => format!(
                    "{head}: echoed {} bytes, closed (idle or stopping)",
                    e.bytes
                ),
                Err(e) => format!("{head}: {e}"),
            },
            Kind::Trickle => match trickle::handle(stream, l.trickle_interval, stop) {
                Ok(t) => format!(
                    "{head}: sent {} of {} lines{}",
                    t.lines,
                    trickle::LINES,
                    if t.client_fin {
                        " (client half-closed)"
                    } else {
                        ""
                    }
                ),
                Err(e) => format!("{head}: {e}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    //! The server on loopback (no root, no namespace): the bounds that the
    //! end-to-end tests in `tests/lab_services.rs` do not reach.

    use super::*;
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::Mutex;
    use std::time::Instant;

    const ALL: [(Kind, u16); 3] = [(Kind::Http, 0), (Kind::Echo, 0), (Kind::Trickle, 0)];

    /// Runs a loopback server with `limits` while `f` talks to it, then
    /// stops it, checks that it stopped promptly, and returns its log.
    fn with_server(limits: Limits, f: impl FnOnce(&Server)) -> Vec<String> {
        let server = Server::bind("t", &[Ipv4Addr::LOCALHOST.into()], &ALL)
            .unwrap()
            .with_limits(limits);
        let stop = AtomicBool::new(false);
        let log = Mutex::new(Vec::new());
        let push = |line: &str| log.lock().unwrap().push(line.to_string());
        std::thread::scope(|s| {
            let running = s.spawn(|| server.run(&stop, &push));
            f(&server);
            let start = Instant::now();
            stop.store(true, Ordering::Relaxed);
            running.join().unwrap().unwrap();
            assert!(
                start.elapsed() < Duration::from_millis(700),
                "stopping took {:?}",
                start.elapsed()
            );
        });
        log.into_inner().unwrap()
    }

    fn connect(server: &Server, kind: Kind) -> TcpStream {
        let s = TcpStream::connect(server.local_addr(kind).unwrap()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    #[test]
    fn a_slow_http_client_gets_408_and_a_close() {
        let limits = Limits {
            http_timeout: Duration::from_millis(200),
            ..Limits::default()
        };
        let log = with_server(limits, |server| {
            let mut c = connect(server, Kind::Http);
            c.write_all(b"GET / HT").unwrap();
            let start = Instant::now();
            let mut got = String::new();
            c.read_to_string(&mut got).unwrap();
            assert!(got.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{got}");
            assert!(start.elapsed() >= Duration::from_millis(150));
        });
        assert!(log.iter().any(|l| l.ends_with(" 408")), "{log:?}");
    }

    #[test]
    fn an_idle_echo_client_is_closed_on() {
        let limits = Limits {
            echo_idle: Duration::from_millis(200),
            ..Limits::default()
        };
        with_server(limits, |server| {
            let mut c = connect(server, Kind::Echo);
            c.write_all(b"ping").unwrap();
            let mut got = Vec::new();
            c.read_to_end(&mut got).unwrap();
            assert_eq!(got, b"ping");
        });
    }

    #[test]
    fn connections_beyond_the_limit_are_closed_at_once() {
        let limits = Limits {
            max_connections: 1,
            ..Limits::default()
        };
        let log = with_server(limits, |server| {
            let mut first = connect(server, Kind::Echo);
            first.write_all(b"a").unwrap();
            let mut one = [0u8; 1];
            first.read_exact(&mut one).unwrap();
            let mut second = connect(server, Kind::Http);
            let mut got = Vec::new();
            // EOF (or a reset) at once: the server has no room for it.
            let _ = second.read_to_end(&mut got);
            assert!(got.is_empty());
            first.write_all(b"b").unwrap();
            first.read_exact(&mut one).unwrap();
            assert_eq!(&one, b"b", "the first connection is still served");
        });
        assert!(
            log.iter().any(|l| l.contains("1 connections already open")),
            "{log:?}"
        );
    }

    #[test]
    fn stopping_ends_idle_and_trickling_connections() {
        let log = with_server(Limits::default(), |server| {
            let _idle_http = connect(server, Kind::Http);
            let _idle_echo = connect(server, Kind::Echo);
            let mut trickle = connect(server, Kind::Trickle);
            let mut first = [0u8; 8];
            trickle.read_exact(&mut first).unwrap();
            assert_eq!(&first, b"trickle ");
        });
        assert_eq!(log.len(), 3, "{log:?}");
    }

    #[test]
    fn a_taken_port_is_reported_with_what_to_do() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let err =
            Server::bind("t", &[Ipv4Addr::LOCALHOST.into()], &[(Kind::Echo, port)]).unwrap_err();
        assert!(matches!(err, ServiceError::PortInUse { port: p, .. } if p == port));
        assert!(err.to_string().contains("ss -ltnp"), "{err}");
    }

    #[test]
    fn each_service_answers_on_both_families_on_one_port() {
        let ips = [Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
        let server = Server::bind("t", &ips, &[(Kind::Echo, 0)]).unwrap();
        let addrs = server.local_addrs(Kind::Echo);
        assert_eq!(addrs.len(), 2, "{addrs:?}");
        assert!(addrs[0].is_ipv4() && addrs[1].is_ipv6(), "{addrs:?}");
        assert_eq!(addrs[0].port(), addrs[1].port());
        let stop = AtomicBool::new(false);
        let log = Mutex::new(Vec::new());
        let push = |line: &str| log.lock().unwrap().push(line.to_string());
        std::thread::scope(|s| {
            s.spawn(|| server.run(&stop, &push).unwrap());
            for addr in &addrs {
                let mut c = TcpStream::connect(addr).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                c.write_all(b"hi").unwrap();
                c.shutdown(std::net::Shutdown::Write).unwrap();
                let mut got = Vec::new();
                c.read_to_end(&mut got).unwrap();
                assert_eq!(got, b"hi", "over {addr}");
            }
            stop.store(true, Ordering::Relaxed);
        });
        let log = log.into_inner().unwrap();
        // The log names each client in its own family.
        assert!(
            log.iter().any(|l| l.starts_with("echo 127.0.0.1:")),
            "{log:?}"
        );
        assert!(log.iter().any(|l| l.starts_with("echo [::1]:")), "{log:?}");
    }
}
