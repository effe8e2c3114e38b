//! `nettool lab`: up, down, status, and the demo.

use std::io::Write;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use super::Env;
use crate::cli::{LabAction, LabArgs, LabDemoArgs, LabUpArgs};
use crate::lab::services::probe::{PortStatus, ServicesStatus};
use crate::lab::services::udp::UdpPorts;
use crate::lab::services::{self, PortState, Ports, server::Server};
use crate::lab::{self, LabSpec, LabStatus};
use crate::outcome::Outcome;
use crate::report::event::Start;
use crate::report::{Event, Report, Reporter, Verdict};

pub fn run(args: LabArgs, env: &mut Env) -> Result<Outcome> {
    match args.action {
        LabAction::Up(a) => up(a, env),
        LabAction::Down(a) => down(&a.name, env),
        LabAction::Status(a) => status(&a.name.name, a.json, env),
        LabAction::Demo(a) => demo(a, env),
        LabAction::Serve(a) => serve(&a.name, env),
    }
}

fn spec(a: &LabUpArgs) -> Result<LabSpec> {
    let services = if a.no_services {
        None
    } else {
        Some(std::env::current_exe().context("finding nettool's own executable")?)
    };
    Ok(LabSpec {
        name: a.name.name.clone(),
        subnet: a.subnet,
        hosts: a.hosts,
        services,
    })
}

fn up(a: LabUpArgs, env: &mut Env) -> Result<Outcome> {
    let status = lab::up(&spec(&a)?)?;
    writeln!(env.out, "lab {} is up", status.name)?;
    describe(&status, env.out)?;
    let peers = peer_ips(&status);
    if let (Some(first), Some(net)) = (peers.first(), status.subnet) {
        let hints = hints(&status, *first, &net.to_string(), &a.name.name);
        let width = hints.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
        writeln!(env.out, "\ntry:")?;
        for (cmd, why) in hints {
            writeln!(env.out, "  nettool {cmd:<width$}  {why}")?;
        }
    }
    Ok(Outcome::Success)
}

/// Commands to try on the lab `name` just made (their arguments after
/// `nettool`, and what each shows): on its first peer, its subnet `net`,
/// and the services when it has them.
fn hints(
    status: &LabStatus,
    first: Ipv4Addr,
    net: &str,
    name: &str,
) -> Vec<(String, &'static str)> {
    let down = if name == "lab" {
        String::new()
    } else {
        format!(" --name {name}")
    };
    let mut hints = vec![
        (
            format!("arp {first}"),
            "resolve a peer (answered by the lab's kernel)",
        ),
        (format!("arp {first}"), "again: answered from the cache"),
        (format!("arp {net}"), "sweep the lab"),
    ];
    hints.push((
        format!("ndp {}", ipv6_peer(net, first)),
        "the same peer over IPv6 (neighbour discovery)",
    ));
    if status.services.is_some() {
        hints.extend([
            (
                format!("handshake {first}:{}", Ports::HTTP),
                "a three-way handshake with the lab's kernel",
            ),
            (
                format!(
                    "close {first}:{} --passive --data 'GET / HTTP/1.0\\r\\n\\r\\n'",
                    Ports::HTTP
                ),
                "HTTP: the server answers, then closes first",
            ),
            (
                format!("close {first}:{} --half-close", Ports::TRICKLE),
                "your FIN first, then data arrives in FIN-WAIT-2",
            ),
            (
                format!(
                    "handshake {}",
                    shell_quote(&format!("[{}]:{}", ipv6_peer(net, first), Ports::HTTP))
                ),
                "the same handshake over IPv6",
            ),
            (
                format!("handshake {first}:{}", Ports::CLOSED),
                "a closed port: the kernel answers RST",
            ),
            (
                format!("handshake {first}:{}", Ports::FILTERED),
                "a filtered port: no answer at all",
            ),
        ]);
    }
    hints.push((format!("lab down{down}"), "remove it"));
    hints
}

fn peer_ips(status: &LabStatus) -> Vec<Ipv4Addr> {
    status
        .peer
        .as_ref()
        .map(|p| p.addresses.iter().map(|n| n.ip()).collect())
        .unwrap_or_default()
}

fn describe(s: &LabStatus, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "  namespace   {}", s.namespace)?;
    if let Some(h) = &s.host {
        let addrs: Vec<String> = h.addresses.iter().map(ToString::to_string).collect();
        writeln!(
            out,
            "  this host   {} {} {} ({})",
            h.interface,
            addrs.join(", "),
            h.mac,
            h.operstate
        )?;
    }
    if let Some(p) = &s.peer {
        let addrs: Vec<String> = p.addresses.iter().map(|n| n.ip().to_string()).collect();
        writeln!(
            out,
            "  peers       {} in {}: {} ({})",
            p.interface,
            s.namespace,
            addrs.join(", "),
            p.mac
        )?;
    }
    // The lab's own IPv6 addresses (link-local ones are the kernel's and
    // need their interface: `ip -6 addr` shows them).
    // In address order (the kernel lists the newest first).
    let ula = |e: &crate::lab::LabEnd| -> Vec<String> {
        let mut ips: Vec<std::net::Ipv6Addr> = e
            .addresses6
            .iter()
            .map(|n| n.ip())
            .filter(|ip| !crate::wire::ipv6::is_link_local(*ip))
            .collect();
        ips.sort_unstable();
        ips.iter().map(ToString::to_string).collect()
    };
    if let (Some(h), Some(p)) = (&s.host, &s.peer) {
        let (here, there) = (ula(h), ula(p));
        if !here.is_empty() || !there.is_empty() {
            writeln!(
                out,
                "  IPv6        this host {}; peers {}",
                here.join(", "),
                there.join(", ")
            )?;
        }
    }
    if s.services.is_none() && s.namespace_exists {
        writeln!(
            out,
            "  services    none (a bare lab, made with --no-services)"
        )?;
    }
    if let Some(svc) = &s.services {
        describe_services(svc, out)?;
    }
    for problem in &s.problems {
        writeln!(out, "  PROBLEM     {problem}")?;
    }
    Ok(())
}

/// The lab's services: their process, then each port, its state and
/// what it is for.
fn describe_services(svc: &ServicesStatus, out: &mut dyn Write) -> Result<()> {
    let pid = svc
        .pid
        .map(|p| format!("pid {p}"))
        .unwrap_or_else(|| "no pid".into());
    let running = if svc.running { "" } else { ", NOT RUNNING" };
    writeln!(
        out,
        "  services    {pid}{running}, log {}",
        svc.log.display()
    )?;
    for p in &svc.ports {
        let about = services::SERVICES
            .iter()
            .find(|c| c.port == p.port)
            .map_or("", |c| c.about);
        let dropped = match (p.port, svc.dropped_syns) {
            (Ports::FILTERED, Some(n)) => format!(" ({n} dropped so far)"),
            _ => String::new(),
        };
        port_line(out, p, "tcp", &format!("{about}{dropped}"))?;
    }
    for p in &svc.udp_ports {
        let about = services::udp::UDP_SERVICES
            .iter()
            .find(|c| c.0 == p.port)
            .map_or("", |c| c.2);
        port_line(out, p, "udp", about)?;
    }
    Ok(())
}

/// One port of the services: its state over each family, then what it
/// is for. A UDP socket does not listen: a served UDP port reads "open",
/// as scanners say.
fn port_line(out: &mut dyn Write, p: &PortStatus, proto: &str, about: &str) -> Result<()> {
    let word = |s: PortState| match (proto, s) {
        ("udp", PortState::Listening) => "open".to_string(),
        _ => s.to_string(),
    };
    let mut state = match p.state6 {
        Some(six) if six != p.state => format!("{}/{}", word(p.state), word(six)),
        _ => word(p.state),
    };
    if !p.ok() {
        state = format!("{state} (should be {})", word(p.expect));
    }
    let families = if p.state6.is_some() {
        "IPv4+IPv6"
    } else {
        "IPv4"
    };
    writeln!(
        out,
        "    {:>3}/{proto}  {:<9} {state:<10} {families:<9}  {about}",
        p.port, p.name
    )?;
    Ok(())
}

fn down(name: &str, env: &mut Env) -> Result<Outcome> {
    let report = lab::down(name)?;
    if report.nothing_was_there() {
        writeln!(env.out, "lab {name} is not up; nothing to remove")?;
    } else {
        writeln!(env.out, "lab {name} removed: {}", report.removed.join(", "))?;
    }
    Ok(Outcome::Success)
}

fn status(name: &str, json: bool, env: &mut Env) -> Result<Outcome> {
    let rep = Reporter::new(json);
    let status = lab::status(name)?;
    if json {
        let now = env.now();
        rep.emit(
            env.out,
            now,
            Event::Start(Box::new(Start {
                command: "lab-status",
                ..Start::default()
            })),
            |_| Ok(()),
        )?;
        let (up, fields) = match &status {
            Some(s) => match serde_json::to_value(s)? {
                serde_json::Value::Object(map) => (true, map),
                other => bail!("a lab's status serialized to {other}, not an object"),
            },
            None => {
                let mut map = serde_json::Map::new();
                map.insert("name".into(), name.into());
                (false, map)
            }
        };
        let now = env.now();
        rep.emit(env.out, now, Event::Lab { up, status: fields }, |_| Ok(()))?;
        // "Is it up?" "No" is a negative answer, as nobody answering is.
        let outcome = Outcome::from_answer(up);
        rep.emit(
            env.out,
            now,
            Event::Result(Box::new(Report::new(Verdict::Done, outcome))),
            |_| Ok(()),
        )?;
        return Ok(outcome);
    }
    match status {
        Some(s) => {
            let health = if s.is_healthy() { "up" } else { "damaged" };
            writeln!(env.out, "lab {} is {health}", s.name)?;
            describe(&s, env.out)?;
        }
        None => {
            let flag = if name == "lab" {
                String::new()
            } else {
                format!(" --name {name}")
            };
            writeln!(
                env.out,
                "lab {name} is not up (create it with: nettool lab up{flag})"
            )?;
            return Ok(Outcome::Negative);
        }
    }
    Ok(Outcome::Success)
}

/// A word as a shell would need it typed.
fn shell_quote(word: &str) -> String {
    if word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:=@".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Takes the demo's lab down however the demo ends.
struct Teardown(String);

impl Drop for Teardown {
    fn drop(&mut self) {
        if let Err(e) = lab::down(&self.0) {
            eprintln!(
                "nettool: removing demo lab {}: {e}; remove it with: nettool lab down --name {}",
                self.0, self.0
            );
        }
    }
}

fn demo(a: LabDemoArgs, env: &mut Env) -> Result<Outcome> {
    let exe = std::env::current_exe().context("finding nettool's own executable")?;
    let spec = LabSpec {
        name: a.name.clone(),
        subnet: a.subnet,
        hosts: 4,
        services: Some(exe.clone()),
    };
    let status = lab::up(&spec)?;
    let _teardown = Teardown(a.name.clone());
    writeln!(env.out, "# a temporary lab, {}:", status.name)?;
    describe(&status, env.out)?;
    let peers = peer_ips(&status);
    let (Some(first), Some(second)) = (peers.first(), peers.get(1)) else {
        bail!("the demo lab came up without peer addresses");
    };
    let net = status.subnet.context("the demo lab has no subnet")?;
    // A private cache, so the demo neither reads nor leaves entries in the
    // user's own.
    let cache_dir = tempfile::Builder::new()
        .prefix("nettool-demo-")
        .tempdir()
        .context("creating a temporary directory for the demo's cache")?;
    let cache = cache_dir.path().join("arp-cache.json");
    let runner = StepRunner {
        exe,
        cache: cache.to_string_lossy().into_owned(),
    };
    let mut failed = false;
    for step in demo_steps(*first, *second, &net.to_string()) {
        match runner.run(&step, env)? {
            Some(passed) => failed |= !passed,
            None => return Ok(Outcome::Interrupted),
        }
    }
    writeln!(env.out, "\n# removing the temporary lab")?;
    if failed {
        bail!("a demo step failed (see above)");
    }
    Ok(Outcome::Success)
}

/// One step of the demo: why, the command line after `nettool`, and the
/// exit code it should give.
struct Step {
    why: &'static str,
    argv: Vec<String>,
    exit: i32,
    /// What the step reads on stdin (shown piped in), if anything.
    input: Option<&'static str>,
}

fn step(why: &'static str, words: &[&str], exit: i32) -> Step {
    Step {
        why,
        argv: words.iter().map(|w| (*w).to_owned()).collect(),
        exit,
        input: None,
    }
}

/// [`step`], with `input` on its stdin.
fn piped(why: &'static str, input: &'static str, words: &[&str], exit: i32) -> Step {
    Step {
        input: Some(input),
        ..step(why, words, exit)
    }
}

/// The IPv6 address of peer `ip` of the lab on `net`: the same host
/// number in the lab's /64 (see [`lab::ipv6_subnet`]).
fn ipv6_peer(net: &str, ip: Ipv4Addr) -> String {
    let Ok(net4) = net.parse::<ipnetwork::Ipv4Network>() else {
        return String::new();
    };
    let host = u32::from(ip) - u32::from(net4.network());
    let six = lab::ipv6_subnet(net4).network();
    std::net::Ipv6Addr::from(u128::from(six) + u128::from(host)).to_string()
}

/// The demo on a lab whose first two peers are `first` and `second`, on
/// the subnet `net`.
fn demo_steps(first: Ipv4Addr, second: Ipv4Addr, net: &str) -> Vec<Step> {
    let (first_ip, second_ip) = (first.to_string(), second.to_string());
    let first6 = ipv6_peer(net, first);
    let at = |port: u16| format!("{first}:{port}");
    vec![
        step(
            "resolve a peer: a broadcast request, the lab's kernel replies",
            &["arp", &first_ip],
            0,
        ),
        step(
            "the same again: a fresh cache entry answers, no frame is sent",
            &["arp", &first_ip],
            0,
        ),
        step(
            "the same peer over IPv6: a neighbour solicitation to its solicited-node group",
            &["ndp", &first6],
            0,
        ),
        step("sweep the whole subnet", &["arp", net], 0),
        step("the cache now holds every peer", &["arp", "--show"], 0),
        step(
            "duplicate address detection: is the address taken? (exit 1: yes)",
            &["arp", "--dad", &second_ip],
            1,
        ),
        step(
            "a three-way handshake with the lab's web server, released with a RST",
            &["handshake", &at(Ports::HTTP)],
            0,
        ),
        step(
            "the same handshake over IPv6, its next hop from the NDP cache the ndp step filled",
            &["handshake", &format!("[{first6}]:{}", Ports::HTTP)],
            0,
        ),
        step(
            "a port nobody listens on answers the SYN with RST (exit 1)",
            &["handshake", &at(Ports::CLOSED)],
            1,
        ),
        step(
            "an HTTP/1.0 request: the server answers and closes first (passive close)",
            &[
                "close",
                "--passive",
                "--data",
                "GET / HTTP/1.0\\r\\n\\r\\n",
                &at(Ports::HTTP),
            ],
            0,
        ),
        step(
            "our FIN first, while the server keeps talking: data arrives in FIN-WAIT-2",
            &[
                "close",
                "--half-close",
                "--time-wait",
                "1s",
                &at(Ports::TRICKLE),
            ],
            0,
        ),
        piped(
            "UDP: one datagram to the lab's echo service, and its echo",
            "hello over UDP",
            &["nc", "-u", &first_ip, &UdpPorts::ECHO.to_string()],
            0,
        ),
        piped(
            "a UDP port nobody listens on: the ICMP port unreachable ends nc at once (exit 1)",
            "anyone?",
            &["nc", "-u", &first_ip, &UdpPorts::CLOSED.to_string()],
            1,
        ),
        step(
            "a UDP scan: open (an answer), closed (ICMP), open|filtered (silence)",
            &[
                "scan",
                "--udp",
                &first_ip,
                &format!(
                    "{},{},{},{}",
                    UdpPorts::ECHO,
                    UdpPorts::DAYTIME,
                    UdpPorts::CLOSED,
                    UdpPorts::FILTERED
                ),
            ],
            0,
        ),
    ]
}

/// Runs the demo's steps: this nettool, on the demo's own ARP cache.
struct StepRunner {
    exe: std::path::PathBuf,
    cache: String,
}

impl StepRunner {
    /// Shows and runs `step`: whether it exited as it should, `None` once
    /// the user interrupted the demo.
    fn run(&self, step: &Step, env: &mut Env) -> Result<Option<bool>> {
        if env.interrupt.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let shown: Vec<String> = step.argv.iter().map(|a| shell_quote(a)).collect();
        let pipe = step
            .input
            .map(|i| format!("printf {} | ", shell_quote(i)))
            .unwrap_or_default();
        writeln!(
            env.out,
            "\n# {}\n$ {pipe}nettool {}",
            step.why,
            shown.join(" ")
        )?;
        env.out.flush()?;
        let mut cmd = Command::new(&self.exe);
        cmd.args(&step.argv).env("NETTOOL_ARP_CACHE", &self.cache);
        let status = match step.input {
            None => cmd.status(),
            Some(input) => cmd
                .stdin(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut child| {
                    if let Some(mut stdin) = child.stdin.take() {
                        stdin.write_all(input.as_bytes())?;
                    }
                    child.wait()
                }),
        }
        .with_context(|| format!("running {}", self.exe.display()))?;
        if status.code() == Some(step.exit) {
            return Ok(Some(true));
        }
        if env.interrupt.load(Ordering::Relaxed) {
            return Ok(None);
        }
        writeln!(
            env.err,
            "nettool: demo step exited with {status}, expected {}",
            step.exit
        )?;
        Ok(Some(false))
    }
}

/// Most lines `lab serve` writes to its log.
const MAX_LOG_LINES: usize = 10_000;

/// `lab serve`: the lab's services, in the current namespace (which must
/// be the lab's), until SIGTERM or SIGINT. Logs to stderr, which `lab up`
/// points at the run directory's `serve.log`.
fn serve(name: &str, env: &mut Env) -> Result<Outcome> {
    lab::validate_name(name)?;
    services::daemon::require_lab_namespace(name)?;
    // UDP first: `lab up` waits for the TCP listeners alone, and the UDP
    // sockets must be there by then too.
    let udp = services::udp::UdpServer::bind_lab()?;
    let server = Server::bind_lab(name)?;
    // Its own descriptor for stderr: the process-wide stderr lock is held
    // by the main thread (`main` locks it for the whole run), and handler
    // threads log too. One write per line keeps lines whole.
    let stderr = std::fs::File::from(
        std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .context("duplicating stderr for the service log")?,
    );
    let write = |line: &str| {
        let _ = (&stderr).write_all(format!("{} {line}\n", timestamp()).as_bytes());
    };
    // The log lives in /run (memory): a connection flood must not fill it.
    let lines = AtomicUsize::new(0);
    let log = |line: &str| match lines.fetch_add(1, Ordering::Relaxed) {
        n if n < MAX_LOG_LINES => write(line),
        MAX_LOG_LINES => write("log full: further connections are not logged"),
        _ => {}
    };
    let families = if server.local_addrs(services::server::Kind::Http).len() > 1 {
        "IPv4 and IPv6"
    } else {
        "IPv4 only (this kernel has no IPv6)"
    };
    log(&format!(
        "lab {name}: serving http on {}, echo on {}, trickle on {}, over {families}",
        Ports::HTTP,
        Ports::ECHO,
        Ports::TRICKLE
    ));
    let stop = env.interrupt;
    std::thread::scope(|s| {
        let udp_thread = s.spawn(|| udp.run(stop, &log));
        let tcp = server.run(stop, &log);
        let udp = udp_thread.join().unwrap_or_else(|_| {
            Err(services::ServiceError::io(
                "the UDP services",
                std::io::Error::other("panicked"),
            ))
        });
        tcp.and(udp)
    })?;
    write("stopping: asked to");
    Ok(Outcome::Success)
}

/// Now in UTC as RFC 3339 with milliseconds (`2026-12-06T16:30:01.234Z`):
/// readable, and enough to line the log up with a capture.
fn timestamp() -> String {
    crate::text::utc(SystemTime::now())
}
