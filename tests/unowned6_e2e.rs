//! An IPv6 address nettool alone answers for (one A's kernel does not
//! own), against the Linux kernel in B: ICMPv6 answers for it (`ping -6`
//! gets its echo replies, and a datagram to a port nobody listens on gets
//! a port unreachable, which B's kernel turns into ECONNREFUSED), and
//! its duplicate address detection cut short by Ctrl-C. Needs root,
//! iputils ping, python3 and openbsd netcat; each test builds and removes
//! its own namespaces.

mod common;

use std::time::{Duration, Instant};

use common::ipv6::ipv6_hosts;
use common::{Scratch, nettool, once_listening, read_all, run, run_with_input};

const LIMIT: Duration = Duration::from_secs(30);

/// While `nc -l` listens on an unowned address, B pings it and sends it a
/// stray datagram; then a client ends the listener.
#[test]
fn ping6_and_a_stray_datagram_to_an_unowned_address_are_answered_while_nc_runs() {
    let hosts = ipv6_hosts("icmp6-unowned");
    let scratch = Scratch::new();
    let addr = "fd00:6e74::97";
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["nc", "-v", "-l", "-i", "eth0", addr, "9231"])
        .env("NETTOOL_ARP_CACHE", scratch.cache())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Killed however the test ends.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stderr = once_listening(child.stderr.take().unwrap());
    let stdout = read_all(child.stdout.take().unwrap());
    let mut child = Kill(child);

    let mut ping = hosts.cmd_b("ping");
    ping.args(["-6", "-n", "-c", "3", "-i", "0.2", "-W", "2", addr]);
    let r = run(ping, LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.show());
    assert!(
        r.stdout.contains("3 packets transmitted, 3 received"),
        "{}",
        r.show()
    );

    // A kernel UDP socket connected to a port nobody listens on: the port
    // unreachable comes back as ECONNREFUSED.
    let mut udp = hosts.cmd_b("python3");
    udp.args([
        "-c",
        "import socket, sys\n\
         s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n\
         s.settimeout(2)\n\
         s.connect((sys.argv[1], 9))\n\
         s.send(b'anyone?')\n\
         try:\n    s.recv(100); print('answered')\n\
         except ConnectionRefusedError: print('refused')\n\
         except socket.timeout: print('silence')\n",
        addr,
    ]);
    let r = run(udp, LIMIT);
    assert_eq!(r.stdout.trim(), "refused", "{}", r.show());

    let mut client = hosts.cmd_b("nc");
    client.args(["-6", "-N", addr, "9231"]);
    let r = run_with_input(client, Some(b"bye\n".to_vec()), LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.show());
    let status = child.0.wait().unwrap();
    let (got, log) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(status.success(), "{log}");
    assert_eq!(String::from_utf8_lossy(&got), "bye\n", "{log}");
}

/// `nc -l` on an unowned address first waits a second for anyone to claim
/// it (DAD); Ctrl-C during that wait ends the run at once, saying so.
#[test]
fn ctrl_c_ends_the_duplicate_address_detection_of_a_listener_at_once() {
    let hosts = ipv6_hosts("dad-int");
    let scratch = Scratch::new();
    let addr = "fd00:6e74::96";
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args(["nc", "-l", "-i", "eth0", addr, "9232"])
        .env("NETTOOL_ARP_CACHE", scratch.cache())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap();
    // DAD has begun once nettool's socket joined the address's
    // solicited-node group (33:33:ff:00:00:96), just before the
    // solicitation goes out.
    let joined = || {
        let mut maddr = hosts.cmd_a("ip");
        maddr.args(["maddr", "show", "dev", "eth0"]);
        common::sh(maddr).contains("33:33:ff:00:00:96")
    };
    while !joined() {
        assert!(
            start.elapsed() < LIMIT && child.try_wait().unwrap().is_none(),
            "nettool never began DAD"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let asked = Instant::now();
    // SAFETY: plain syscall on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let status = child.wait().unwrap();
    let took = asked.elapsed();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains(&format!("interrupted while checking that {addr} is free")),
        "{status}: {err}"
    );
    assert!(!status.success(), "{err}");
    // The wait is 1 s from the solicitation: ending well before it shows
    // the interrupt was heard.
    assert!(took < Duration::from_millis(700), "took {took:?}: {err}");
}
