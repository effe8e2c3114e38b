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
//! The rule lives in a table of its own, `inet nettool-guard-PID-N`, made
//! over nettool's own netlink socket ([`crate::nft`]) in one transaction,
//! with the owner flag: the table belongs to that socket, no other process
//! can change or delete it, and the kernel deletes it when the socket
//! closes. The guard holds the socket for the run, so the table goes on
//! every exit path, SIGKILL included, with no teardown code.
//!
//! nfnetlink checks CAP_NET_ADMIN of the sender of each message, at the
//! time it is sent, and nettool drops its privileges once its setup is
//! done ([`crate::privilege`]). So a run installs its guard whole at the
//! start (each [`Flow`] covers all the run will use: a connection, a
//! listener's port, probes' and `nc -z`'s port ranges), and never talks
//! to nf_tables again. The count of RSTs dropped, which `-v` and the
//! JSON result report, is not read from the rule's counter (that is a
//! message too) but counted from an nfnetlink_log group bound before the
//! drop ([`crate::nft::nflog`]): the rule logs each RST it drops there,
//! and the kernel sends them to nettool, which needs no privilege; a
//! thread started after the drop counts them as they come
//! ([`RstGuard::count_in_background`]), so that none is lost however many
//! the run draws.
//!
//! Where nettool reads its frames from an AF_PACKET tap on the link
//! (every link but loopback), the guard also drops the flow's incoming
//! frames at the link's ingress hook, before the kernel's IP and TCP see
//! them ([`ingress`]): the kernel then builds no RST at all, which spares
//! the CPU that runs its receive path. The output rule stays for what
//! reaches the kernel another way, and [`RstGuard::dropped`] counts those.
//!
//! The other way to keep the kernel out is a source address the kernel
//! does not own (`--source`), for which nettool answers ARP itself.

pub mod ingress;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

use anyhow::{Result, anyhow, bail};

use crate::netlink;
use crate::nft::expr::{Base, CmpOp, MetaKey, Verdict};
use crate::nft::nflog::LogGroup;
use crate::nft::{self, Batch, Expr, NftSocket, Refused};

const PREFIX: &str = "nettool-guard-";
/// The table's one chain.
const CHAIN: &str = "out";
/// `filter`, the priority nft names so.
const PRIORITY_FILTER: i32 = 0;
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A flow-scoped RST filter; removed when dropped (by the kernel, as its
/// socket closes).
pub struct RstGuard {
    socket: NftSocket,
    table: String,
    /// Where the rule logs each RST it drops.
    log: LogGroup,
    /// The interface whose ingress drops the flow's frames, when the
    /// guard has that part ([`ingress`]).
    ingress: Option<String>,
}

/// A guard whose removal has started: the kernel takes an RCU grace period
/// (several ms) to delete a table while the socket that owns it closes,
/// which can overlap other teardown, such as closing the AF_PACKET socket
/// (which waits for one too).
pub struct Removal {
    closing: Option<JoinHandle<()>>,
}

impl Removal {
    /// Waits for the table to be gone.
    pub fn wait(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if let Some(closing) = self.closing.take() {
            // The thread only closes a descriptor; a panic there is
            // impossible, and the table goes with the process anyway.
            let _ = closing.join();
        }
    }
}

impl Drop for Removal {
    fn drop(&mut self) {
        self.finish();
    }
}

/// What to tell the user when the kernel refused the guard.
fn explain(e: Refused) -> anyhow::Error {
    let alternative = "or use --source with an address the kernel does not own \
                       (nettool then answers ARP for it itself, and needs no guard)";
    let (what, errno) = match &e {
        Refused::Errno { what, errno } => (Some(*what), Some(*errno)),
        Refused::Io(io) => (None, io.raw_os_error()),
    };
    match (what, errno) {
        (_, Some(libc::EPERM)) => anyhow!(
            "installing the RST guard needs CAP_NET_ADMIN: run nettool as root, or grant it once: \
             sudo setcap cap_net_raw,cap_net_admin+ep \"$(command -v nettool)\""
        ),
        (Some("table"), Some(libc::EOPNOTSUPP)) => anyhow!(
            "this kernel cannot give the RST guard's table to nettool's process \
             (nftables' owner flag needs Linux 5.12 or later): upgrade the kernel, {alternative}"
        ),
        (_, Some(libc::ENOENT | libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT)) => anyhow!(
            "the RST guard needs nftables in the kernel ({e}): load it (sudo modprobe nf_tables), \
             {alternative}"
        ),
        _ => anyhow!("installing the RST guard failed: {e}; {alternative}"),
    }
}

/// Which traffic nettool owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// One connection: both addresses (of one family), both ports.
    Connection {
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// A listening port: every connection to it (the kernel would answer
    /// each incoming SYN with RST).
    Listener { local: SocketAddr },
    /// Probes: from `local` to `remote`, source and destination ports in
    /// the inclusive ranges given.
    Probes {
        local: IpAddr,
        remote: IpAddr,
        sports: (u16, u16),
        dports: (u16, u16),
    },
}

/// What a rule matches of a [`Flow`]: nettool's address and port range,
/// the peer's (none for a listener, which takes every peer).
pub(crate) struct Ends {
    pub local: IpAddr,
    pub remote: Option<IpAddr>,
    pub sports: (u16, u16),
    pub dports: Option<(u16, u16)>,
}

impl Flow {
    pub(crate) fn ends(self) -> Ends {
        let (local, remote, sports, dports) = match self {
            Flow::Connection { local, remote } => (
                local.ip(),
                Some(remote.ip()),
                (local.port(), local.port()),
                Some((remote.port(), remote.port())),
            ),
            Flow::Listener { local } => (local.ip(), None, (local.port(), local.port()), None),
            Flow::Probes {
                local,
                remote,
                sports,
                dports,
            } => (local, Some(remote), sports, Some(dports)),
        };
        Ends {
            local,
            remote,
            sports,
            dports,
        }
    }
}

/// Where the source and destination addresses sit in the network header
/// of `ip`'s family: bytes 12 and 16 of IPv4, 8 and 24 of IPv6.
pub(crate) fn address_offsets(ip: IpAddr) -> (u32, u32) {
    match ip {
        IpAddr::V4(_) => (12, 16),
        IpAddr::V6(_) => (8, 24),
    }
}

/// The match of the network header's address at `offset` against `ip`.
pub(crate) fn address(offset: u32, ip: IpAddr) -> [Expr; 2] {
    let bytes = match ip {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    [network(offset, bytes.len() as u32), eq(bytes)]
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

/// How a guard in `table` keeps the kernel out of `flows` ("this flow",
/// "these flows"), for a command's header line: the RSTs dropped, or with
/// the ingress part ([`ingress`]) the frames dropped first.
pub fn keeper(table: &str, ingress: bool, flows: &str) -> String {
    if ingress {
        format!(
            "the kernel kept out of {flows} by nft tables netdev and inet {table}: \
             frames dropped at ingress, RSTs at output"
        )
    } else {
        format!("kernel RSTs for {flows} dropped by nft table inet {table}")
    }
}

/// The firewall mark on packets nettool sends through its raw IP socket
/// on loopback ([`crate::link::lo`]): the guard lets them pass, since
/// nettool's own RSTs must still leave.
pub const GUARD_MARK: u32 = 0x6e74; // "nt"

/// The rule of the guard for one flow, in the order nft builds it from
/// the text `ruleset` gives: the flow's addresses and ports, then
/// `tcp flags & rst == rst`, then the mark of nettool's own packets
/// ([`GUARD_MARK`], which pass), a counter, the log to `group` (where
/// nettool counts them) and the drop.
///
/// Over IPv6 the rule is the same but for the family (`ip6`) and where
/// the addresses sit; the transport header is found past any extension
/// headers by nftables itself, as `meta l4proto` is.
pub fn rule(flow: Flow, group: u16) -> Vec<Expr> {
    let Ends {
        local,
        remote,
        sports,
        dports,
    } = flow.ends();
    let family = match local {
        IpAddr::V4(_) => libc::NFPROTO_IPV4,
        IpAddr::V6(_) => libc::NFPROTO_IPV6,
    };
    let (src_at, dst_at) = address_offsets(local);
    let mut r = vec![Expr::Meta(MetaKey::NfProto), eq(vec![family as u8])];
    r.extend(address(src_at, local));
    if let Some(remote) = remote {
        r.extend(address(dst_at, remote));
    }
    r.extend([
        Expr::Meta(MetaKey::L4Proto),
        eq(vec![libc::IPPROTO_TCP as u8]),
    ]);
    // TCP source and destination ports: bytes 0 and 2.
    port_range(&mut r, 0, sports);
    if let Some(dports) = dports {
        port_range(&mut r, 2, dports);
    }
    // The flags, byte 13: RST is 0x04.
    r.extend([
        transport(13, 1),
        Expr::Bitwise {
            mask: vec![0x04],
            xor: vec![0],
        },
        eq(vec![0x04]),
    ]);
    r.extend([
        Expr::Meta(MetaKey::Mark),
        Expr::Cmp {
            op: CmpOp::Neq,
            data: GUARD_MARK.to_ne_bytes().to_vec(),
        },
        Expr::Counter,
        Expr::Log { group },
        Expr::Verdict(Verdict::Drop),
    ]);
    r
}

pub(crate) fn eq(data: Vec<u8>) -> Expr {
    Expr::Cmp {
        op: CmpOp::Eq,
        data,
    }
}

pub(crate) fn network(offset: u32, len: u32) -> Expr {
    Expr::Payload {
        base: Base::Network,
        offset,
        len,
    }
}

fn transport(offset: u32, len: u32) -> Expr {
    Expr::Payload {
        base: Base::Transport,
        offset,
        len,
    }
}

/// A port (big-endian, so byte comparisons order it) equal to one value,
/// or within an inclusive range.
pub(crate) fn port_range(r: &mut Vec<Expr>, offset: u32, (lo, hi): (u16, u16)) {
    r.push(transport(offset, 2));
    if lo == hi {
        r.push(eq(lo.to_be_bytes().to_vec()));
    } else {
        r.push(Expr::Cmp {
            op: CmpOp::Gte,
            data: lo.to_be_bytes().to_vec(),
        });
        r.push(Expr::Cmp {
            op: CmpOp::Lte,
            data: hi.to_be_bytes().to_vec(),
        });
    }
}

/// The table's comment, which `nft list table` shows.
fn comment(flow: Flow) -> String {
    format!("nettool: drops the kernel's RSTs for {flow} while nettool owns them")
}

/// The transaction that installs the guard for `flow` in `table`,
/// numbered from `seq`: the owned table, its output chain, the rule
/// (logging to `group`).
pub fn batch(seq: u32, table: &str, flow: Flow, group: u16) -> Batch {
    let mut b = Batch::new(seq);
    b.new_owned_table(table, &comment(flow));
    b.new_base_chain(table, CHAIN, nft::chain::HOOK_OUTPUT, PRIORITY_FILTER);
    b.new_rule(table, CHAIN, &rule(flow, group));
    b
}

/// Rules one transaction adds at most beyond the first ([`more_rules`]):
/// a scan of a /24 is a rule per address, and a netlink message may be
/// no longer than the socket's send buffer (some 200 KiB by default; a
/// rule takes about 400 octets).
pub const RULES_PER_BATCH: usize = 64;

/// The transaction that adds a rule for each of `flows` to the guard's
/// `table` (made by [`batch`] for the first flow of a run with several),
/// numbered from `seq`, each rule logging to `group` and carrying its
/// flow as its comment (`nft list` shows which target each is for).
pub fn more_rules(seq: u32, table: &str, flows: &[Flow], group: u16) -> Batch {
    let mut b = Batch::new(seq);
    for flow in flows {
        let comment = flow.to_string();
        b.new_rule_with(table, CHAIN, &rule(*flow, group), Some(&comment));
    }
    b
}

/// The same guard as an nft script, as nettool installed it before it
/// spoke netlink itself (without the owner flag, which only a process
/// holding its socket can use); the tests load it with `nft` to check
/// that [`rule`] matches exactly what it matched.
#[cfg(any(test, feature = "testkit"))]
pub fn ruleset(table: &str, flow: Flow, group: u16) -> String {
    let ip = |a: SocketAddr| if a.is_ipv4() { "ip" } else { "ip6" };
    let matcher = match flow {
        Flow::Connection { local, remote } => format!(
            "{ip} saddr {} {ip} daddr {} tcp sport {} tcp dport {}",
            local.ip(),
            remote.ip(),
            local.port(),
            remote.port(),
            ip = ip(local),
        ),
        Flow::Listener { local } => format!(
            "{} saddr {} tcp sport {}",
            ip(local),
            local.ip(),
            local.port()
        ),
        Flow::Probes {
            local,
            remote,
            sports,
            dports,
        } => format!(
            "{ip} saddr {local} {ip} daddr {remote} tcp sport {}-{} tcp dport {}-{}",
            sports.0,
            sports.1,
            dports.0,
            dports.1,
            ip = if local.is_ipv4() { "ip" } else { "ip6" },
        ),
    };
    format!(
        "table inet {table} {{\n\
         \tcomment \"nettool: drops the kernel's RSTs for {flow} while nettool owns them\"\n\
         \tchain out {{\n\
         \t\ttype filter hook output priority filter; policy accept;\n\
         \t\t{matcher} tcp flags & rst == rst meta mark != {:#x} counter log group {group} drop\n\
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
        RstGuard::install_on(flow, None)
    }

    /// [`RstGuard::install`], with the flow's frames also dropped at
    /// `ingress`'s ingress hook (an interface nettool reads from through
    /// AF_PACKET: never loopback). A kernel without netdev tables gets the
    /// output rule alone.
    pub fn install_on(flow: Flow, ingress: Option<&str>) -> Result<RstGuard> {
        let socket = NftSocket::open().map_err(|e| explain(e.into()))?;
        sweep_stale_with(&socket)?;
        let log = LogGroup::bind().map_err(explain)?;
        let table = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let commit = |ingress: Option<&str>| {
            let seq = netlink::next_seqs(BATCH_SEQS + ingress::SEQS);
            let mut b = batch(seq, &table, flow, log.group());
            if let Some(device) = ingress {
                ingress::add(&mut b, &table, flow, device);
            }
            socket.commit(b)
        };
        let ingress = match commit(ingress) {
            Ok(()) => ingress.map(str::to_owned),
            // No netdev family or ingress hook in this kernel: the
            // transaction left nothing behind; the output rule alone.
            Err(Refused::Errno { what, .. }) if what.starts_with("ingress") => {
                commit(None).map_err(explain)?;
                None
            }
            Err(e) => return Err(explain(e)),
        };
        Ok(RstGuard {
            socket,
            table,
            log,
            ingress,
        })
    }

    /// Installs one guard for every flow of `flows` (a probe or scan of
    /// several targets from one address, set up together before the
    /// privileges go): the first flow's guard ([`RstGuard::install`]),
    /// then a rule for each other flow in the same table, logging to the
    /// same group, [`RULES_PER_BATCH`] to a transaction. Each target's
    /// count is the growth of [`RstGuard::dropped`] while it runs.
    ///
    /// With `ingress`, each flow's frames are dropped there too
    /// ([`RstGuard::install_on`]): a rule for each in the `netdev` table,
    /// in the same transactions.
    pub fn install_all(flows: &[Flow], ingress: Option<&str>) -> Result<RstGuard> {
        let (first, rest) = flows
            .split_first()
            .ok_or_else(|| anyhow!("an RST guard needs a flow to guard"))?;
        let guard = RstGuard::install_on(*first, ingress)?;
        for chunk in rest.chunks(RULES_PER_BATCH) {
            // Its begin, a message per rule (two with the ingress part),
            // its end.
            let seq = netlink::next_seqs(chunk.len() as u32 * 2 + 2);
            let mut batch = more_rules(seq, &guard.table, chunk, guard.log.group());
            if guard.ingress.is_some() {
                for flow in chunk {
                    ingress::add_rule(&mut batch, &guard.table, *flow);
                }
            }
            guard.socket.commit(batch).map_err(explain)?;
        }
        Ok(guard)
    }

    /// [`RstGuard::install_all`] when the kernel owns nettool's address
    /// (see [`RstGuard::install_when`]).
    pub fn install_all_when(
        kernel_owns_source: bool,
        flows: &[Flow],
        ingress: Option<&str>,
    ) -> Result<Option<RstGuard>> {
        if kernel_owns_source {
            RstGuard::install_all(flows, ingress).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The guard a flow needs: one when the kernel owns nettool's address
    /// (it would reset the flow), none when it does not (nettool answers
    /// ARP for the address itself, and the kernel never sees the flow).
    /// With `ingress`, the flow's frames are dropped there too
    /// ([`RstGuard::install_on`]).
    pub fn install_when(
        kernel_owns_source: bool,
        flow: Flow,
        ingress: Option<&str>,
    ) -> Result<Option<RstGuard>> {
        if kernel_owns_source {
            RstGuard::install_on(flow, ingress).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Starts removing the guard (closing its socket, on a thread of its
    /// own) without waiting for the kernel to finish; [`Removal::wait`]
    /// (or dropping it) waits.
    pub fn begin_removal(self) -> Removal {
        let RstGuard { socket, log, .. } = self;
        // The log group's socket has no grace period to wait out.
        drop(log);
        match std::thread::Builder::new()
            .name("guard-removal".into())
            .spawn(move || drop(socket))
        {
            Ok(closing) => Removal {
                closing: Some(closing),
            },
            // No thread: the socket closed as the closure was dropped.
            Err(_) => Removal { closing: None },
        }
    }

    /// Starts counting the RSTs the rule drops as they are logged, so
    /// that no number of them overflows the log group's socket (see
    /// [`LogGroup::count_in_background`]). Call it once the privileges
    /// are dropped; without it the count is of what the socket holds at
    /// the end, which a long transfer from the kernel's own address
    /// overflows.
    pub fn count_in_background(&self) -> Result<()> {
        self.log
            .count_in_background()
            .map_err(|e| anyhow!("counting the RST guard's drops: {e}"))
    }

    /// The nftables table holding the rule (the `inet` one; the
    /// `netdev` one of the ingress part has the same name).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The interface whose ingress drops the flow's frames before the
    /// kernel sees them, when the guard has that part.
    pub fn ingress(&self) -> Option<&str> {
        self.ingress.as_deref()
    }

    /// How many kernel RSTs the rule has dropped so far, counted from
    /// its log group (no message to the kernel, so no privilege needed).
    /// An error when the group's socket overflowed: the count would be
    /// short.
    pub fn dropped(&self) -> Result<u64> {
        let got = self.log.drain()?;
        if got.overflowed {
            bail!(
                "more than {} were dropped, faster than nettool's log group could hold them",
                got.packets
            );
        }
        Ok(got.packets)
    }

    /// The rule's own counter, read over nf_tables (a message to the
    /// kernel: it needs CAP_NET_ADMIN at the time of the call; the tests
    /// compare it with [`RstGuard::dropped`]).
    pub fn counter(&self) -> Result<u64> {
        self.socket
            .packets(&self.table, CHAIN)?
            .ok_or_else(|| anyhow!("the guard's table {} holds no rule", self.table))
    }

    /// The ingress rule's counter: frames of the flow it kept from the
    /// kernel (`None` without the ingress part). A message to the kernel,
    /// as [`RstGuard::counter`] is: it needs CAP_NET_ADMIN.
    pub fn ingress_counter(&self) -> Result<Option<u64>> {
        if self.ingress.is_none() {
            return Ok(None);
        }
        let packets = self
            .socket
            .packets_in(nft::FAMILY_NETDEV, &self.table, ingress::CHAIN)?;
        packets
            .map(Some)
            .ok_or_else(|| anyhow!("the guard's table netdev {} holds no rule", self.table))
    }
}

/// Sequence numbers a guard's batch uses: its begin, three messages, its
/// end.
const BATCH_SEQS: u32 = 5;

/// Removes the guard tables of runs that are gone. Since guards are owned
/// by their process's socket, the kernel removes them itself; this sweep
/// is only for tables left by older nettool versions (made by `nft`,
/// without the owner flag, and left behind by a SIGKILL). Kept for one
/// release after owned guards, then to be dropped (with the README's
/// sentence about it).
pub fn sweep_stale() -> Result<Vec<String>> {
    let socket = NftSocket::open().map_err(|e| explain(e.into()))?;
    sweep_stale_with(&socket)
}

fn sweep_stale_with(socket: &NftSocket) -> Result<Vec<String>> {
    let seq = netlink::next_seq();
    let mut stale = Vec::new();
    socket
        .dump(
            &nft::list_tables(seq),
            seq,
            "listing of tables",
            |payload| {
                let Some(table) = nft::parse_table(payload) else {
                    return;
                };
                let Some(pid) = owner(&table.name) else {
                    return;
                };
                let owned = table.flags & nft::table::F_OWNER != 0;
                if !owned && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    stale.push(table.name);
                }
            },
        )
        .map_err(explain)?;
    let mut removed = Vec::new();
    for name in stale {
        let mut b = Batch::new(netlink::next_seqs(3));
        b.delete_table(&name);
        match socket.commit(b) {
            Ok(()) => removed.push(name),
            // Another run swept it first.
            Err(Refused::Errno {
                errno: libc::ENOENT,
                ..
            }) => {}
            Err(e) => return Err(explain(e)),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    use std::net::{Ipv4Addr, SocketAddrV4};

    const LOCAL: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000));
    const REMOTE: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80));

    #[test]
    fn the_rule_names_exactly_one_flow_and_only_rsts() {
        let (local, remote) = (LOCAL, REMOTE);
        let r = ruleset("nettool-guard-1-0", Flow::Connection { local, remote }, 7);
        assert!(r.contains("hook output"));
        let rule = "ip saddr 10.0.0.1 ip daddr 10.0.0.2 tcp sport 40000 tcp dport 80 \
                    tcp flags & rst == rst meta mark != 0x6e74 counter log group 7 drop";
        assert!(r.contains(rule), "{r}");
        assert!(
            r.contains("policy accept"),
            "everything else must pass: {r}"
        );
        let l = ruleset("nettool-guard-1-1", Flow::Listener { local }, 7);
        let rule = "ip saddr 10.0.0.1 tcp sport 40000 tcp flags & rst == rst meta mark != 0x6e74 counter log group 7 drop";
        assert!(l.contains(rule), "{l}");
        let p = ruleset(
            "nettool-guard-1-2",
            Flow::Probes {
                local: LOCAL.ip(),
                remote: REMOTE.ip(),
                sports: (40000, 65535),
                dports: (1, 1024),
            },
            7,
        );
        let rule = "ip saddr 10.0.0.1 ip daddr 10.0.0.2 tcp sport 40000-65535 tcp dport 1-1024 \
                    tcp flags & rst == rst meta mark != 0x6e74 counter log group 7 drop";
        assert!(p.contains(rule), "{p}");
    }

    /// Over IPv6: the family is NFPROTO_IPV6 (10), the addresses are the
    /// 16 bytes at 8 and 24, the rest as over IPv4; nft's script says
    /// `ip6` where IPv4's says `ip`.
    #[test]
    fn the_ipv6_rule_matches_ipv6_headers() {
        let local: SocketAddr = "[fd00:6e74::1]:40000".parse().unwrap();
        let remote: SocketAddr = "[fd00:6e74::2]:80".parse().unwrap();
        let r = rule(Flow::Connection { local, remote }, 7);
        assert_eq!(r[1], eq(vec![libc::NFPROTO_IPV6 as u8]));
        let octets = |a: SocketAddr| match a.ip() {
            IpAddr::V6(ip) => ip.octets().to_vec(),
            IpAddr::V4(_) => unreachable!(),
        };
        assert_eq!(
            &r[2..6],
            &[
                network(8, 16),
                eq(octets(local)),
                network(24, 16),
                eq(octets(remote))
            ]
        );
        let v4 = rule(
            Flow::Connection {
                local: LOCAL,
                remote: REMOTE,
            },
            7,
        );
        assert_eq!(r[6..], v4[6..], "the same ports, flags, mark, log and drop");
        let text = ruleset("t", Flow::Connection { local, remote }, 7);
        assert!(
            text.contains(
                "ip6 saddr fd00:6e74::1 ip6 daddr fd00:6e74::2 tcp sport 40000 tcp dport 80"
            ),
            "{text}"
        );
        let l = ruleset("t", Flow::Listener { local }, 7);
        assert!(l.contains("ip6 saddr fd00:6e74::1 tcp sport 40000"), "{l}");
    }

    /// The rules nft builds from `ruleset`'s text, as
    /// `nft --debug=netlink -c -f` printed them on Linux 6.18 with nft
    /// 1.0.6 (nft loads both ports of a connection in one 4-byte load;
    /// nettool loads each, which `nft list` prints the same).
    #[rstest]
    #[case::connection(
        Flow::Connection { local: LOCAL, remote: REMOTE },
        &["[ payload load 2b @ transport header + 0 => reg 1 ]",
          "[ cmp eq reg 1 0x0000409c ]",
          "[ payload load 2b @ transport header + 2 => reg 1 ]",
          "[ cmp eq reg 1 0x00005000 ]"],
        true,
    )]
    #[case::listener(
        Flow::Listener { local: LOCAL },
        &["[ payload load 2b @ transport header + 0 => reg 1 ]",
          "[ cmp eq reg 1 0x0000409c ]"],
        false,
    )]
    #[case::probes(
        Flow::Probes { local: LOCAL.ip(), remote: REMOTE.ip(), sports: (40000, 65535), dports: (1, 1024) },
        &["[ payload load 2b @ transport header + 0 => reg 1 ]",
          "[ cmp gte reg 1 0x0000409c ]",
          "[ cmp lte reg 1 0x0000ffff ]",
          "[ payload load 2b @ transport header + 2 => reg 1 ]",
          "[ cmp gte reg 1 0x00000100 ]",
          "[ cmp lte reg 1 0x00000004 ]"],
        true,
    )]
    fn the_rule_is_the_one_nft_builds(
        #[case] flow: Flow,
        #[case] ports: &[&str],
        #[case] with_daddr: bool,
    ) {
        let mut want = vec![
            "[ meta load nfproto => reg 1 ]",
            "[ cmp eq reg 1 0x00000002 ]",
            "[ payload load 4b @ network header + 12 => reg 1 ]",
            "[ cmp eq reg 1 0x0100000a ]",
        ];
        if with_daddr {
            want.extend([
                "[ payload load 4b @ network header + 16 => reg 1 ]",
                "[ cmp eq reg 1 0x0200000a ]",
            ]);
        }
        want.extend([
            "[ meta load l4proto => reg 1 ]",
            "[ cmp eq reg 1 0x00000006 ]",
        ]);
        want.extend(ports);
        want.extend([
            "[ payload load 1b @ transport header + 13 => reg 1 ]",
            "[ bitwise reg 1 = ( reg 1 & 0x00000004 ) ^ 0x00000000 ]",
            "[ cmp eq reg 1 0x00000004 ]",
            "[ meta load mark => reg 1 ]",
            "[ cmp neq reg 1 0x00006e74 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ log group 4242 snaplen 0 qthreshold 0 ]",
            "[ immediate reg 0 drop ]",
        ]);
        let got: Vec<String> = rule(flow, 4242).iter().map(Expr::to_string).collect();
        assert_eq!(got, want);
    }

    /// The whole transaction for one connection, byte for byte. The
    /// kernel accepted exactly these bytes (tests/nft_e2e.rs installs
    /// [`batch`]'s output and lists it back); a change here must be
    /// checked there again before the fixture is renewed with
    /// `NETTOOL_RENEW_FIXTURES=1 cargo test --lib guard`. (Netlink
    /// headers are in host order: the fixture is a little-endian host's.)
    #[test]
    #[cfg(target_endian = "little")]
    fn the_batch_for_a_connection_matches_the_fixture() {
        let flow = Flow::Connection {
            local: LOCAL,
            remote: REMOTE,
        };
        let bytes = batch(1, "nettool-guard-1-0", flow, 4242).finish().bytes;
        let hex: String = bytes
            .chunks(16)
            .map(|line| {
                let words: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
                words.join(" ") + "\n"
            })
            .collect();
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/nft-guard-batch.hex"
        );
        if std::env::var_os("NETTOOL_RENEW_FIXTURES").is_some() {
            std::fs::write(path, &hex).unwrap();
        }
        let want = std::fs::read_to_string(path).expect("the fixture");
        assert_eq!(hex, want, "the guard's batch changed");
    }

    #[test]
    fn a_batch_numbers_its_messages_and_names_them() {
        let flow = Flow::Listener { local: LOCAL };
        let f = batch(100, "t", flow, 1).finish();
        assert_eq!(f.acked, vec![(101, "table"), (102, "chain"), (103, "rule")]);
        assert_eq!((f.first, f.last), (100, 104));
        assert_eq!(f.what(100), Some("batch"));
        assert_eq!(f.what(103), Some("rule"));
        assert_eq!(f.what(105), None);
        assert!(BATCH_SEQS > f.last - f.first, "the batch fits its numbers");
    }

    /// The rules of a run's other flows: one message each, numbered on,
    /// each the flow's rule with the flow as its comment.
    #[test]
    fn more_rules_add_one_rule_per_flow_to_the_table() {
        let flows: Vec<Flow> = [22, 80]
            .map(|port| Flow::Probes {
                local: LOCAL.ip(),
                remote: REMOTE.ip(),
                sports: (40000, 40000),
                dports: (port, port),
            })
            .to_vec();
        let f = more_rules(200, "t", &flows, 1).finish();
        assert_eq!(f.acked, vec![(201, "rule"), (202, "rule")]);
        assert_eq!((f.first, f.last), (200, 203));
        let one = more_rules(200, "t", &flows[..1], 1).finish();
        let mut alone = Batch::new(200);
        let comment = "10.0.0.1 ports 40000-40000 > 10.0.0.2 ports 22-22";
        alone.new_rule_with("t", CHAIN, &rule(flows[0], 1), Some(comment));
        assert_eq!(one.bytes, alone.finish().bytes);
    }

    #[rstest]
    #[case::no_privilege(Refused::Errno { what: "batch", errno: libc::EPERM }, "needs CAP_NET_ADMIN")]
    #[case::old_kernel(Refused::Errno { what: "table", errno: libc::EOPNOTSUPP }, "Linux 5.12")]
    #[case::no_nf_tables(Refused::Errno { what: "chain", errno: libc::ENOENT }, "modprobe nf_tables")]
    #[case::other(Refused::Errno { what: "rule", errno: libc::EINVAL }, "the kernel refused the rule")]
    fn refusals_tell_the_user_what_to_do(#[case] refused: Refused, #[case] says: &str) {
        let text = explain(refused).to_string();
        assert!(text.contains(says), "{text}");
    }

    #[test]
    fn owners_are_read_from_table_names() {
        assert_eq!(owner("nettool-guard-1234-0"), Some(1234));
        assert_eq!(owner("nettool-guard-x-0"), None);
        assert_eq!(owner("filter"), None);
    }
}
