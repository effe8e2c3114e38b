//! Bulk data from the Linux kernel's TCP into nettool's engine, with the
//! kernel's segments randomly dropped by nftables (`numgen random`): the
//! engine's reassembly, SACK blocks, delayed ACKs and window advertisement
//! against a real sender's SACK loss recovery. nettool in namespace A, a
//! python3 HTTP server on a kernel socket in B. Needs root.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use common::{Scratch, nettool, nft_load, nft_packets, run, sh};
use nettool::lab::testnet::TwoHosts;
use rstest::rstest;

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/tcp_peer.py");

/// The kernel HTTP server in B, killed on drop.
struct Server(Child);

impl Server {
    fn start(hosts: &TwoHosts, size: usize) -> Server {
        let mut cmd = hosts.cmd_b("python3");
        cmd.args([PEER, "http", "80", &size.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("python3 is needed for these tests");
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        let mut first = String::new();
        out.read_line(&mut first).expect("the server's first line");
        assert_eq!(first.trim(), "ready");
        // Keep reading, or the server dies of a broken pipe.
        std::thread::spawn(move || for _ in out.lines() {});
        Server(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[rstest]
#[case::clean("bulk0", 0)]
#[case::loss_2_percent("bulk2", 2)]
#[case::loss_5_percent("bulk5", 5)]
fn a_kernel_sender_under_loss_delivers_every_byte(#[case] tag: &str, #[case] loss: u32) {
    let hosts = TwoHosts::new(tag);
    let scratch = Scratch::new();
    let body = 8_000_000;
    // The drop rule must lose single segments. Turning TSO and GSO off is
    // not enough: the kernel's TCP builds GSO skbs anyway and segments them
    // in software after the output hook, so at 2 % the rule saw ~700 skbs
    // of up to 45 segments and could drop as few as 5 of them. A device
    // limit of one segment per skb makes TCP build MSS-sized skbs.
    let mut ethtool = hosts.cmd_b("ethtool");
    ethtool.args(["-K", "eth0", "tso", "off", "gso", "off"]);
    sh(ethtool);
    let mut one_segment = hosts.cmd_b("ip");
    one_segment.args(["link", "set", "eth0", "gso_max_segs", "1"]);
    sh(one_segment);
    let _server = Server::start(&hosts, body);
    nft_load(
        hosts.cmd_b("nft"),
        &format!(
            "table inet loss {{\n counter dropped {{ }}\n chain out {{\n type filter hook output \
             priority 0;\n tcp sport 80 tcp flags & (syn | fin) == 0 numgen random mod 100 < {loss} \
             counter name dropped drop\n }}\n}}\n"
        ),
    );
    let mut cmd = hosts.cmd_a(nettool());
    cmd.args([
        "close",
        "--passive",
        "--json",
        "--data",
        "GET / HTTP/1.0\\r\\n\\r\\n",
        &format!("{}:80", hosts.addr_b),
    ])
    .env("NETTOOL_ARP_CACHE", scratch.cache());
    let r = run(cmd, Duration::from_secs(60));
    assert_eq!(r.code, Some(0), "{}", r.show());
    let result: serde_json::Value =
        serde_json::from_str(r.stdout.lines().last().expect("a result line")).unwrap();
    let header = format!("HTTP/1.0 200 OK\r\nContent-Length: {body}\r\n\r\n").len();
    assert_eq!(result["received"], header + body, "every byte must arrive");
    let mut list = hosts.cmd_b("nft");
    list.args(["list", "counter", "inet", "loss", "dropped"]);
    let dropped = nft_packets(&sh(list));
    if loss > 0 {
        // 8 MB is ~5,500 segments: 2 % is ~110 drops, and fewer than 40
        // means the rule is not seeing single segments.
        assert!(dropped >= 40, "only {dropped} segments dropped");
        // The engine reported SACK blocks to the kernel.
        assert!(r.stdout.contains("sack"), "no SACK block was ever sent");
    }
    eprintln!(
        "{tag}: {body} octets in {:?} (debug build, one JSON line per segment), {dropped} of the kernel's segments dropped",
        r.elapsed
    );
}
