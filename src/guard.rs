//! Keeping the host kernel out of nettool's TCP flow.
//!
//! When nettool opens a connection from an address the kernel owns, the
//! kernel sees the peer's SYN-ACK for a port it has no socket for and
//! answers it with RST, killing the connection. [`RstGuard`] installs an
//! nftables rule that drops exactly those RSTs: in the `output` hook, for
//! this one flow (both addresses, both ports), nothing else. Frames nettool
//! sends itself go out through AF_PACKET and never pass that hook, so its
//! own RSTs still leave.
//!
//! The rule lives in a table of its own, `inet nettool-guard-PID-N`, removed
//! when the guard is dropped (normal exit, error, Ctrl-C and SIGTERM all
//! unwind to it). A run killed outright (SIGKILL) leaves its table behind;
//! the next run removes every guard table whose process is gone.
//!
//! The other way to keep the kernel out is a source address the kernel
//! does not own (`--source`), for which nettool answers ARP itself.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail};

const PREFIX: &str = "nettool-guard-";
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A flow-scoped RST filter; removed on drop.
pub struct RstGuard {
    table: String,
}

/// A guard whose removal has started: the kernel takes an RCU grace period
/// (about 20 ms) to delete a table, which can overlap other teardown, such
/// as closing the AF_PACKET socket (which waits for one too).
pub struct Removal {
    table: String,
    child: Option<std::process::Child>,
}

impl Removal {
    /// Waits for the table to be gone; reports a failure as the drop of a
    /// guard does.
    pub fn wait(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        let Some(child) = self.child.take() else {
            return;
        };
        match child.wait_with_output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => report_leftover(&self.table, String::from_utf8_lossy(&out.stderr).trim()),
            Err(e) => report_leftover(&self.table, &e.to_string()),
        }
    }
}

impl Drop for Removal {
    fn drop(&mut self) {
        self.finish();
    }
}

fn report_leftover(table: &str, why: &str) {
    eprintln!(
        "nettool: removing the RST guard failed ({why}); remove it with: nft delete table inet {table}"
    );
}

fn nft(args: &[&str], stdin: Option<&str>) -> Result<String> {
    let mut cmd = Command::new("nft");
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "nftables' `nft` is needed to stop the kernel from resetting nettool's connection: \
             install it (apt-get install nftables), or use --source with an address the kernel \
             does not own (nettool then answers ARP for it itself)"
        ),
        Err(e) => return Err(e).context("running nft"),
    };
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output().context("waiting for nft")?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        if why.contains("Operation not permitted") {
            bail!(
                "installing the RST guard needs CAP_NET_ADMIN: run nettool as root, or grant it once: \
                 sudo setcap cap_net_raw,cap_net_admin+ep \"$(command -v nettool)\""
            );
        }
        bail!("nft {} failed: {}", args.join(" "), why.trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Which traffic nettool owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// One connection: both addresses, both ports.
    Connection {
        local: SocketAddrV4,
        remote: SocketAddrV4,
    },
    /// A listening port: every connection to it (the kernel would answer
    /// each incoming SYN with RST).
    Listener { local: SocketAddrV4 },
    /// Probes: from `local` to `remote`, source and destination ports in
    /// the inclusive ranges given.
    Probes {
        local: Ipv4Addr,
        remote: Ipv4Addr,
        sports: (u16, u16),
        dports: (u16, u16),
    },
}

impl std::fmt::Display for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Flow::Connection { local, remote } => write!(f, "{local} > {remote}"),
            Flow::Listener { local } => write!(f, "connections to {local}"),
            Flow::Probes {
                local,
                remote,
                sports,
                dports,
            } => write!(
                f,
                "{local} ports {}-{} > {remote} ports {}-{}",
                sports.0, sports.1, dports.0, dports.1
            ),
        }
    }
}

/// The firewall mark on packets nettool sends through its raw IP socket
/// on loopback ([`crate::link::lo`]): the guard lets them pass, since
/// nettool's own RSTs must still leave.
pub const GUARD_MARK: u32 = 0x6e74; // "nt"

/// The nftables script for the guard of one flow. Packets carrying
/// [`GUARD_MARK`] are nettool's own (sent through its raw socket on
/// loopback) and pass.
pub fn ruleset(table: &str, flow: Flow) -> String {
    let matcher = match flow {
        Flow::Connection { local, remote } => format!(
            "ip saddr {} ip daddr {} tcp sport {} tcp dport {}",
            local.ip(),
            remote.ip(),
            local.port(),
            remote.port()
        ),
        Flow::Listener { local } => format!("ip saddr {} tcp sport {}", local.ip(), local.port()),
        Flow::Probes {
            local,
            remote,
            sports,
            dports,
        } => format!(
            "ip saddr {local} ip daddr {remote} tcp sport {}-{} tcp dport {}-{}",
            sports.0, sports.1, dports.0, dports.1
        ),
    };
    format!(
        "table inet {table} {{\n\
         \tcomment \"nettool: drops the kernel's RSTs for {flow} while nettool owns them\"\n\
         \tchain out {{\n\
         \t\ttype filter hook output priority filter; policy accept;\n\
         \t\t{matcher} tcp flags & rst == rst meta mark != {:#x} counter drop\n\
         \t}}\n\
         }}\n",
        GUARD_MARK
    )
}

/// The pid a guard table name belongs to.
fn owner(table: &str) -> Option<u32> {
    table.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

impl RstGuard {
    /// Installs the guard for `flow`, first removing guards left by runs
    /// that no longer exist.
    pub fn install(flow: Flow) -> Result<RstGuard> {
        sweep_stale()?;
        let table = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        nft(&["-f", "-"], Some(&ruleset(&table, flow)))?;
        Ok(RstGuard { table })
    }

    /// The guard a flow needs: one when the kernel owns nettool's address
    /// (it would reset the flow), none when it does not (nettool answers
    /// ARP for the address itself, and the kernel never sees the flow).
    pub fn install_when(kernel_owns_source: bool, flow: Flow) -> Result<Option<RstGuard>> {
        if kernel_owns_source {
            RstGuard::install(flow).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Starts removing the guard without waiting for the kernel to finish;
    /// [`Removal::wait`] (or dropping it) waits.
    pub fn begin_removal(self) -> Removal {
        let table = self.table.clone();
        std::mem::forget(self);
        let child = Command::new("nft")
            .args(["delete", "table", "inet", &table])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        match child {
            Ok(child) => Removal {
                table,
                child: Some(child),
            },
            Err(e) => {
                report_leftover(&table, &e.to_string());
                Removal { table, child: None }
            }
        }
    }

    /// The nftables table holding the rule.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// How many kernel RSTs the rule has dropped so far.
    pub fn dropped(&self) -> Result<u64> {
        let text = nft(&["list", "table", "inet", &self.table], None)?;
        let at = text.find("packets ").context("nft listed no counter")?;
        Ok(text[at + 8..]
            .split_whitespace()
            .next()
            .unwrap_or("0")
            .parse()
            .unwrap_or(0))
    }
}

impl Drop for RstGuard {
    fn drop(&mut self) {
        if let Err(e) = nft(&["delete", "table", "inet", &self.table], None) {
            report_leftover(&self.table, &format!("{e:#}"));
        }
    }
}

/// Removes guard tables whose process is gone (a run killed by SIGKILL).
pub fn sweep_stale() -> Result<Vec<String>> {
    let text = nft(&["list", "tables", "inet"], None)?;
    let mut removed = Vec::new();
    for name in text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("table inet "))
    {
        let Some(pid) = owner(name) else { continue };
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        nft(&["delete", "table", "inet", name], None)?;
        removed.push(name.to_owned());
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_names_exactly_one_flow_and_only_rsts() {
        let local = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000);
        let remote = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
        let r = ruleset("nettool-guard-1-0", Flow::Connection { local, remote });
        assert!(r.contains("hook output"));
        let rule = "ip saddr 10.0.0.1 ip daddr 10.0.0.2 tcp sport 40000 tcp dport 80 \
                    tcp flags & rst == rst meta mark != 0x6e74 counter drop";
        assert!(r.contains(rule), "{r}");
        assert!(
            r.contains("policy accept"),
            "everything else must pass: {r}"
        );
        let l = ruleset("nettool-guard-1-1", Flow::Listener { local });
        let rule = "ip saddr 10.0.0.1 tcp sport 40000 tcp flags & rst == rst meta mark != 0x6e74 counter drop";
        assert!(l.contains(rule), "{l}");
        let p = ruleset(
            "nettool-guard-1-2",
            Flow::Probes {
                local: Ipv4Addr::new(10, 0, 0, 1),
                remote: Ipv4Addr::new(10, 0, 0, 2),
                sports: (40000, 65535),
                dports: (1, 1024),
            },
        );
        let rule = "ip saddr 10.0.0.1 ip daddr 10.0.0.2 tcp sport 40000-65535 tcp dport 1-1024 \
                    tcp flags & rst == rst meta mark != 0x6e74 counter drop";
        assert!(p.contains(rule), "{p}");
    }

    #[test]
    fn owners_are_read_from_table_names() {
        assert_eq!(owner("nettool-guard-1234-0"), Some(1234));
        assert_eq!(owner("nettool-guard-x-0"), None);
        assert_eq!(owner("filter"), None);
    }
}
