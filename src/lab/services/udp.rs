//! The lab's UDP services, beside the TCP ones: kernel UDP sockets for
//! `nettool nc -u`, `probe --udp` and `scan --udp` to talk to.
//!
//! | port | name | what the peer does |
//! |---|---|---|
//! | [`UdpPorts::ECHO`] (7/udp) | `echo` | RFC 862: each datagram back to its sender, as it came |
//! | [`UdpPorts::DAYTIME`] (13/udp) | `daytime` | RFC 867: any datagram is answered with the date and time (UTC), one line |
//! | [`UdpPorts::CLOSED`] (81/udp) | `closed` | nothing: the kernel answers ICMP port unreachable |
//! | [`UdpPorts::FILTERED`] (82/udp) | `filtered` | an nftables rule drops datagrams: no answer |
//!
//! Both services run on one thread of `nettool lab serve`, polling their
//! sockets with the TCP listeners' 100 ms tick. A datagram from one of
//! these ports is not answered: every lab host serves them, and two
//! services would answer each other for ever.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use super::{ServiceError, family};

/// The lab's UDP ports.
#[derive(Debug, Clone, Copy)]
pub struct UdpPorts;

impl UdpPorts {
    pub const ECHO: u16 = 7;
    pub const DAYTIME: u16 = 13;
    /// Nothing listens: ICMP port unreachable.
    pub const CLOSED: u16 = 81;
    /// Datagrams are dropped by an nftables rule: no answer.
    pub const FILTERED: u16 = 82;
}

/// The UDP catalogue, as `lab up` shows it: (port, name, what it does).
pub const UDP_SERVICES: [(u16, &str, &str); 4] = [
    (
        UdpPorts::ECHO,
        "echo",
        "each datagram back as it came (RFC 862)",
    ),
    (
        UdpPorts::DAYTIME,
        "daytime",
        "answers any datagram with the date and time (RFC 867)",
    ),
    (
        UdpPorts::CLOSED,
        "closed",
        "nothing listens: ICMP port unreachable",
    ),
    (
        UdpPorts::FILTERED,
        "filtered",
        "an nftables rule drops datagrams: no answer",
    ),
];

/// Which service a socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpKind {
    Echo,
    Daytime,
}

impl UdpKind {
    pub fn name(self) -> &'static str {
        match self {
            UdpKind::Echo => "echo",
            UdpKind::Daytime => "daytime",
        }
    }
}

/// Bound UDP services, ready to [`run`](UdpServer::run).
#[derive(Debug)]
pub struct UdpServer {
    sockets: Vec<(UdpKind, UdpSocket)>,
}

impl UdpServer {
    /// Binds each service of `ports` on each of `ips`, one socket per
    /// address (port 0: any free port, the same one for every address, for
    /// tests). An IPv6 address on a kernel without IPv6 is left out.
    pub fn bind(ips: &[IpAddr], ports: &[(UdpKind, u16)]) -> Result<UdpServer, ServiceError> {
        let mut sockets = Vec::new();
        for &(kind, wanted) in ports {
            let mut port = wanted;
            for &ip in ips {
                let at = SocketAddr::new(ip, port);
                let socket = match family::udp_socket(at) {
                    Ok(s) => s,
                    Err(e) if ip.is_ipv6() && family::no_such_family(&e) => continue,
                    Err(e) => {
                        return Err(ServiceError::io(
                            format!("binding {at}/udp ({})", kind.name()),
                            e,
                        ));
                    }
                };
                socket
                    .set_nonblocking(true)
                    .map_err(|e| ServiceError::io("making a UDP socket non-blocking", e))?;
                if let Ok(bound) = socket.local_addr() {
                    port = bound.port();
                }
                sockets.push((kind, socket));
            }
        }
        Ok(UdpServer { sockets })
    }

    /// The lab's UDP services on their well-known ports, on every address
    /// of both families.
    pub fn bind_lab() -> Result<UdpServer, ServiceError> {
        UdpServer::bind(
            &family::FAMILIES,
            &[
                (UdpKind::Echo, UdpPorts::ECHO),
                (UdpKind::Daytime, UdpPorts::DAYTIME),
            ],
        )
    }

    pub fn local_addr(&self, kind: UdpKind) -> Option<SocketAddr> {
        self.sockets
            .iter()
            .find(|(k, _)| *k == kind)
            .and_then(|(_, s)| s.local_addr().ok())
    }

    /// Answers datagrams until `stop` is raised. `log` gets a line per
    /// datagram answered.
    pub fn run(&self, stop: &AtomicBool, log: &(dyn Fn(&str) + Sync)) -> Result<(), ServiceError> {
        let mut fds: Vec<libc::pollfd> = self
            .sockets
            .iter()
            .map(|(_, s)| libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // Every lab host serves on the same ports: a datagram from one of
        // them is another service's answer (or forged as one), and
        // answering it would start two services answering each other for
        // ever (RFC 862's echo loop).
        let own_ports: Vec<u16> = self
            .sockets
            .iter()
            .filter_map(|(_, s)| Some(s.local_addr().ok()?.port()))
            .collect();
        let mut buf = vec![0u8; 65535];
        while !stop.load(Ordering::Relaxed) {
            // SAFETY: `fds` is a valid array of `fds.len()` pollfds.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
            if n < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(ServiceError::io("waiting for datagrams", err));
            }
            for (i, pfd) in fds.iter_mut().enumerate() {
                if pfd.revents == 0 {
                    continue;
                }
                pfd.revents = 0;
                let (kind, socket) = &self.sockets[i];
                while let Ok((len, peer, dst)) = family::recv_from_to(socket, &mut buf) {
                    let name = kind.name();
                    if own_ports.contains(&peer.port()) {
                        log(&format!(
                            "{name}/udp {peer}: {len} bytes from a service port, not answered \
                             (it would loop)"
                        ));
                        continue;
                    }
                    let answer = match kind {
                        UdpKind::Echo => buf[..len].to_vec(),
                        UdpKind::Daytime => daytime(SystemTime::now()).into_bytes(),
                    };
                    // From the address asked: the lab's hosts share one
                    // socket, and the kernel would pick one of them.
                    match family::send_from(socket, &answer, peer, dst) {
                        Ok(_) => log(&format!(
                            "{name}/udp {peer}: {len} bytes in, {} out",
                            answer.len()
                        )),
                        Err(e) => log(&format!("{name}/udp {peer}: {e}")),
                    }
                }
            }
        }
        Ok(())
    }
}

/// RFC 867's answer, in a format of nettool's choosing (the RFC names
/// none): `2026-12-06 16:55:00 UTC` and CRLF.
pub fn daytime(now: SystemTime) -> String {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86400, secs % 86400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC\r\n",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (the
/// well-known era arithmetic: 400-year eras of 146097 days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    #[test]
    fn daytime_reads_the_calendar_right() {
        let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(daytime(at(0)), "1970-01-01 00:00:00 UTC\r\n");
        // 2000-02-29 12:34:56, a leap day of a century leap year.
        assert_eq!(daytime(at(951_827_696)), "2000-02-29 12:34:56 UTC\r\n");
        assert_eq!(daytime(at(1_796_601_599)), "2026-12-06 23:59:59 UTC\r\n");
    }

    #[test]
    fn echo_and_daytime_answer_on_loopback() {
        let server = UdpServer::bind(
            &[Ipv4Addr::LOCALHOST.into()],
            &[(UdpKind::Echo, 0), (UdpKind::Daytime, 0)],
        )
        .unwrap();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| server.run(&stop, &|_| {}).unwrap());
            let client = UdpSocket::bind("127.0.0.1:0").unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut buf = [0u8; 1500];
            let echo = server.local_addr(UdpKind::Echo).unwrap();
            client.send_to(&[0, 1, 2, 255], echo).unwrap();
            let (n, from) = client.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&[0u8, 1, 2, 255][..], echo));
            let daytime = server.local_addr(UdpKind::Daytime).unwrap();
            client.send_to(b"", daytime).unwrap();
            let (n, _) = client.recv_from(&mut buf).unwrap();
            let line = std::str::from_utf8(&buf[..n]).unwrap();
            assert!(line.ends_with(" UTC\r\n") && line.len() == 25, "{line:?}");
            stop.store(true, Ordering::Relaxed);
        });
    }

    /// Two lab hosts both serve echo on the same port: a datagram from
    /// one's echo port to the other's (`nc -u -p 7`, or a spoofed one)
    /// must not bounce between them for ever.
    #[test]
    fn echo_servers_do_not_answer_each_other_for_ever() {
        let a = UdpServer::bind(&[Ipv4Addr::LOCALHOST.into()], &[(UdpKind::Echo, 0)]).unwrap();
        let port = a.local_addr(UdpKind::Echo).unwrap().port();
        let b = UdpServer::bind(
            &[Ipv4Addr::new(127, 0, 0, 2).into()],
            &[(UdpKind::Echo, port)],
        )
        .unwrap();
        let stop = AtomicBool::new(false);
        let answered = std::sync::atomic::AtomicU32::new(0);
        let count = |line: &str| {
            if line.contains(" out") {
                answered.fetch_add(1, Ordering::Relaxed);
            }
        };
        std::thread::scope(|s| {
            s.spawn(|| a.run(&stop, &count).unwrap());
            s.spawn(|| b.run(&stop, &count).unwrap());
            a.sockets[0]
                .1
                .send_to(b"ping", b.local_addr(UdpKind::Echo).unwrap())
                .unwrap();
            std::thread::sleep(Duration::from_millis(500));
            stop.store(true, Ordering::Relaxed);
        });
        assert_eq!(answered.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn echo_answers_each_family_from_its_own_socket() {
        let ips = [Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
        let server = UdpServer::bind(&ips, &[(UdpKind::Echo, 0)]).unwrap();
        let addrs: Vec<SocketAddr> = server
            .sockets
            .iter()
            .map(|(_, s)| s.local_addr().unwrap())
            .collect();
        assert_eq!(addrs.len(), 2, "{addrs:?}");
        assert_eq!(addrs[0].port(), addrs[1].port());
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| server.run(&stop, &|_| {}).unwrap());
            for (addr, local) in addrs.iter().zip(["127.0.0.1:0", "[::1]:0"]) {
                let client = UdpSocket::bind(local).unwrap();
                client
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                client.send_to(b"both", addr).unwrap();
                let mut buf = [0u8; 16];
                let (n, from) = client.recv_from(&mut buf).unwrap();
                assert_eq!((&buf[..n], from), (&b"both"[..], *addr));
            }
            stop.store(true, Ordering::Relaxed);
        });
    }
}
