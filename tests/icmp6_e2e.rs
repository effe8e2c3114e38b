//! ICMPv6 answers for an IPv6 address nettool alone answers for (one A's
//! kernel does not own), against the Linux kernel in B: `ping -6` gets
//! its echo replies, and a datagram to a port nobody listens on gets a
//! port unreachable, which B's kernel turns into ECONNREFUSED. Needs
//! root, iputils ping, python3 and openbsd netcat; the test builds and
//! removes its own namespaces.

mod common;

use std::time::Duration;

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
