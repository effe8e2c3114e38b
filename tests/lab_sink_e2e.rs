//! The lab's sink holds connections without a descriptor each: a kernel
//! listener that never accepts, its accept queue raised inside the
//! namespace. Kernel clients in the other namespace connect; every one is
//! established and counted in the queue, while the sink holds one
//! descriptor. Needs root; the namespaces go on drop.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use nettool::lab::services::sink::{Sink, raise_backlog_limits};
use nettool::lab::testnet::TwoHosts;

/// Clients opened: well under the 20,000 open files a process may hold.
const CLIENTS: u32 = 5000;

#[test]
fn a_sink_holds_every_connection_in_its_accept_queue() {
    let hosts = TwoHosts::new("sink");
    let sink = hosts.run_in_b(|| {
        raise_backlog_limits(65_536).expect("raising somaxconn in the namespace");
        Sink::bind(std::net::Ipv4Addr::UNSPECIFIED, 0, 65_536).expect("sink listens")
    });
    let to = SocketAddr::from((hosts.addr_b, sink.local_addr().port()));
    let started = Instant::now();
    let clients: Vec<TcpStream> = hosts.run_in_a(|| {
        (0..CLIENTS)
            .map(|_| TcpStream::connect_timeout(&to, Duration::from_secs(5)).expect("connects"))
            .collect()
    });
    let opened = started.elapsed();
    let limit = Instant::now() + Duration::from_secs(10);
    let (held, bound) = loop {
        let (held, bound) = sink.held().expect("TCP_INFO of the sink");
        if held >= CLIENTS || Instant::now() > limit {
            break (held, bound);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(held, CLIENTS, "held in the accept queue (bound {bound})");
    assert!(bound >= 65_536, "the raised bound: {bound}");
    let ss = hosts
        .cmd_b("ss")
        .args(["-Htn", "state", "established"])
        .output()
        .expect("ss runs");
    let established = String::from_utf8_lossy(&ss.stdout).lines().count();
    assert_eq!(established, CLIENTS as usize, "ss in the sink's namespace");
    println!("{CLIENTS} connections held by one descriptor, opened in {opened:?}");
    drop(clients);
    drop(sink);
}
