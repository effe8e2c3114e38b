//! Privileges: held only while the setup needs them, then given up for
//! good, as tcpdump (`-Z`) and iputils' `ping` do.
//!
//! A command that speaks TCP from a raw link needs privileges for its
//! setup only: the AF_PACKET socket (or the loopback's raw socket) needs
//! CAP_NET_RAW, the RST guard's nftables rules and log group, and the
//! bigger socket buffers, CAP_NET_ADMIN, a source port below 1024
//! CAP_NET_BIND_SERVICE. Once [`crate::setup::Path::open`] has opened them
//! all, [`drop_after_setup`] gives up everything: the effective, permitted,
//! inheritable and ambient capability sets are cleared (and the bounding
//! set, when started as root), `PR_SET_NO_NEW_PRIVS` is set (no `exec` can
//! give any back), and a process started as root becomes `nobody` (or the
//! `--user` given). From then on the process parses whatever arrives on
//! the wire holding nothing an attacker could use; the descriptors it
//! opened stay usable, the kernel checks privileges when a socket is
//! opened, not when it is read or written.
//!
//! With file capabilities instead of root (`setcap
//! cap_net_raw,cap_net_admin+p nettool`), [`arm`] clears the effective set
//! at start, keeping the permitted one, and [`raised`] raises a
//! capability only around the calls that need it, as iputils does; the
//! drop then clears the permitted set too.
//!
//! Not every command drops: [`arm`] is only called for those that do
//! (`handshake`, `close`, `nc`, `probe`, `scan`, `trace`, and `arp` and
//! `ndp` in part). `lab` keeps CAP_NET_ADMIN and CAP_SYS_ADMIN (it makes
//! and deletes namespaces until it ends). `arp` and `ndp` drop every
//! capability once their link is open but stay the user they started as
//! ([`Policy::keep_user`]): they write the neighbour cache at their end,
//! by renaming a new file over the old one in root's 0700 directory,
//! which only its owner may do. `probe` and `scan` with several targets
//! set up every target's way first (one stack per interface, whose guard
//! holds a rule for each target's flows: `cmd::ways`), then drop once,
//! before the first probe leaves.

use std::ffi::CString;
use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

/// A capability's number (linux/capability.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    NetBindService = 10,
    NetAdmin = 12,
    NetRaw = 13,
}

impl Cap {
    fn bit(self) -> u64 {
        1 << self as u32
    }
}

/// What a run was asked about its privileges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// The command (`nc`, `scan`...), whose seccomp allowlist is applied
    /// after the drop.
    pub command: &'static str,
    /// `--user`: the user to become when started as root (default
    /// `nobody`).
    pub user: Option<String>,
    /// Stay the user started as (root, without any capability): `arp`
    /// and `ndp`, which write the neighbour cache into root's 0700
    /// directory at their end.
    pub keep_user: bool,
}

static ARMED: OnceLock<Policy> = OnceLock::new();
/// Set once the privileges are gone (and the seccomp filter is on).
static DROPPED: AtomicBool = AtomicBool::new(false);
/// Whether a thread started now holds nothing the run is to give up:
/// the run does not drop its privileges (not armed), or has dropped them.
/// Capabilities are per thread, and the drop clears only the calling
/// thread's (it refuses to run beside another thread); a thread started
/// after it inherits the cleared sets, no_new_privs and the seccomp
/// filter.
pub fn threads_may_start() -> bool {
    ARMED.get().is_none() || DROPPED.load(Ordering::Relaxed)
}

/// An error when the privileges are already dropped: `what` (a setup
/// step: a route lookup, a socket) can no longer be done, and under the
/// seccomp filter would kill the process. A command must set up every
/// target's way before its first run.
pub fn before_drop(what: &str) -> Result<()> {
    if DROPPED.load(Ordering::Relaxed) {
        bail!(
            "{what} after nettool gave up its privileges: a command sets up everything it needs \
             before it runs (a bug in nettool: please report it; see README \"Security\")"
        );
    }
    Ok(())
}

/// Says that this run drops its privileges once its setup is done (only
/// the binary does: a test calling the library keeps its own). With file
/// capabilities, clears the effective set now: [`raised`] raises what each
/// setup step needs.
pub fn arm(policy: Policy) -> Result<()> {
    if ARMED.set(policy).is_err() {
        bail!("privileges were armed twice");
    }
    if !is_root() {
        let caps = CapSets::get()?;
        if caps.effective != 0 {
            CapSets {
                effective: 0,
                ..caps
            }
            .set()
            .context("clearing the effective capabilities")?;
        }
    }
    Ok(())
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `f` with `caps` raised into the effective set (those of them that
/// are permitted), then lowers them again. Root has every capability and
/// needs no raising; a run that is not armed (a test, a command that does
/// not drop) keeps its effective set as it is.
pub fn raised<T>(caps: &[Cap], f: impl FnOnce() -> T) -> T {
    if ARMED.get().is_none() || is_root() {
        return f();
    }
    let Ok(before) = CapSets::get() else {
        return f();
    };
    let wanted = caps.iter().fold(0, |m, c| m | c.bit()) & before.permitted;
    let raise = CapSets {
        effective: wanted,
        ..before
    };
    // A failure leaves the set as it was: `f` then fails on its own with
    // the error that says which privilege is missing.
    let _ = raise.set();
    let result = f();
    let _ = CapSets {
        effective: 0,
        ..before
    }
    .set();
    result
}

/// Files a run writes after its setup (`nc --plot`), opened before the
/// drop: no file can be opened once the seccomp filter is on.
static OUTPUTS: std::sync::Mutex<Vec<(std::path::PathBuf, std::fs::File)>> =
    std::sync::Mutex::new(Vec::new());

/// Creates (or truncates) `path` now, for [`take_output`] to hand back
/// after the drop.
pub fn preopen_output(path: &std::path::Path) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut outputs = OUTPUTS.lock().unwrap_or_else(|e| e.into_inner());
    outputs.push((path.to_owned(), file));
    Ok(())
}

/// The file [`preopen_output`] opened at `path`, if it did.
pub fn take_output(path: &std::path::Path) -> Option<std::fs::File> {
    let mut outputs = OUTPUTS.lock().unwrap_or_else(|e| e.into_inner());
    let at = outputs.iter().position(|(p, _)| p == path)?;
    Some(outputs.remove(at).1)
}

/// What the drop did, for `-v` and the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The user switched to, when started as root.
    pub user: Option<String>,
}

/// Gives up every privilege, if the run is armed ([`arm`]); the setup is
/// done (the sockets the run needs are open). Then (only under the test
/// hook) tries what the drop must have made impossible, and confines the
/// process to its command's system calls ([`crate::seccomp`]).
pub fn drop_after_setup() -> Result<Option<Dropped>> {
    let Some(policy) = ARMED.get() else {
        return Ok(None);
    };
    // What the run reads from files after its setup, read now: no file
    // can be opened once the seccomp filter is on.
    crate::services::preload();
    let dropped = drop_all(policy)?;
    DROPPED.store(true, Ordering::Relaxed);
    let tried = test_hook::after_drop();
    crate::seccomp::confine(policy.command)?;
    if let Some(what) = tried {
        // Said once the filter is on, so that a test that reads it knows
        // the process is in its final state.
        eprintln!("{what}");
    }
    Ok(Some(dropped))
}

/// [`drop_after_setup`], when the run is `command`'s (a step shared with
/// other commands drops only for its own).
pub fn drop_after_setup_of(command: &str) -> Result<Option<Dropped>> {
    match ARMED.get() {
        Some(policy) if policy.command == command => drop_after_setup(),
        _ => Ok(None),
    }
}

/// Clears every capability set, sets no_new_privs, and, as root, becomes
/// the policy's user.
fn drop_all(policy: &Policy) -> Result<Dropped> {
    // capset changes the calling thread's sets only: another thread
    // would keep its capabilities.
    let threads = threads()?;
    if threads != 1 {
        bail!(
            "nettool would drop its privileges with {threads} threads running, and only the \
             calling thread's capabilities can be cleared: a setup step must not leave a thread \
             behind (a bug in nettool: please report it)"
        );
    }
    let mut became = None;
    if is_root() && policy.keep_user {
        drop_bounding_set();
    } else if let Some(name) = user_to_become(policy, is_root())? {
        let (uid, gid) = lookup_user(name)?;
        // Without CAP_SETPCAP this fails; as root it has it. A cleared
        // bounding set means no file capability can come back either.
        drop_bounding_set();
        switch_user(uid, gid).with_context(|| format!("becoming user {name}"))?;
        became = Some(name.to_owned());
    }
    // SAFETY: plain prctl calls with integer arguments.
    unsafe {
        // EINVAL on kernels before 4.3, which have no ambient set.
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
    }
    CapSets::default()
        .set()
        .context("clearing the capability sets")?;
    // SAFETY: as above.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error()).context("setting no_new_privs");
    }
    let left = CapSets::get()?;
    if left != CapSets::default() {
        bail!("capabilities are left after the drop: {left:?}");
    }
    Ok(Dropped { user: became })
}

/// The user a run becomes at the drop: `--user`, or `nobody` when
/// started as root; none when started as another user, who cannot
/// change (said before the name is looked up, which would not help).
fn user_to_become(policy: &Policy, root: bool) -> Result<Option<&str>> {
    match (policy.user.as_deref(), root) {
        (Some(name), false) => bail!(
            "--user {name} needs nettool to be started as root; without root, leave --user out \
             (nettool then stays the user it was started as)"
        ),
        (name, true) => Ok(Some(name.unwrap_or("nobody"))),
        (None, false) => Ok(None),
    }
}

/// How many threads the process has (`Threads:` in /proc/self/status).
fn threads() -> Result<usize> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:")?.trim().parse().ok())
        .context("/proc/self/status has no thread count")
}

fn drop_bounding_set() {
    for cap in 0..64 {
        // SAFETY: prctl with integer arguments; EINVAL past the last cap.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } != 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL)
        {
            break;
        }
    }
}

/// `name`'s uid and primary gid.
fn lookup_user(name: &str) -> Result<(libc::uid_t, libc::gid_t)> {
    let c_name = CString::new(name).with_context(|| format!("{name:?} is not a user name"))?;
    // SAFETY: an all-zero passwd is a valid out-parameter.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is live for the call; `buf` is as long as said.
    let rc = unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        bail!("no user {name} on this system to run as after the setup: name another with --user");
    }
    if pwd.pw_uid == 0 {
        bail!("--user {name} is root: name an unprivileged user");
    }
    Ok((pwd.pw_uid, pwd.pw_gid))
}

/// Becomes `uid`:`gid` with no supplementary groups, for good (real,
/// effective and saved ids alike). glibc applies each to every thread.
fn switch_user(uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    // SAFETY: plain syscalls; `gid` is live for setgroups' read.
    unsafe {
        if libc::setgroups(1, &gid) != 0
            || libc::setresgid(gid, gid, gid) != 0
            || libc::setresuid(uid, uid, uid) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The calling thread's capability sets, 64 bits each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct CapSets {
    effective: u64,
    permitted: u64,
    inheritable: u64,
}

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAP_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

impl CapSets {
    fn get() -> io::Result<CapSets> {
        let mut header = CapHeader {
            version: CAP_VERSION_3,
            pid: 0,
        };
        let mut data = [CapData::default(); 2];
        // SAFETY: capget writes two CapData for version 3.
        let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let join = |lo: u32, hi: u32| u64::from(lo) | u64::from(hi) << 32;
        Ok(CapSets {
            effective: join(data[0].effective, data[1].effective),
            permitted: join(data[0].permitted, data[1].permitted),
            inheritable: join(data[0].inheritable, data[1].inheritable),
        })
    }

    fn set(self) -> io::Result<()> {
        let mut header = CapHeader {
            version: CAP_VERSION_3,
            pid: 0,
        };
        let split = |set: u64, half: u32| (set >> (32 * half)) as u32;
        let data = [0, 1].map(|half| CapData {
            effective: split(self.effective, half),
            permitted: split(self.permitted, half),
            inheritable: split(self.inheritable, half),
        });
        // SAFETY: capset reads two CapData for version 3.
        let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Test-only: with `NETTOOL_TEST_AFTER_DROP=packet-socket` in the
/// environment, the process tries, right after the drop, to open a new
/// AF_PACKET socket, and says on stderr what happened
/// (`nettool: test: AF_PACKET socket after the drop: refused (...)` or
/// `...: opened`) once the seccomp filter is on. The end-to-end tests use it to prove the drop, not
/// only read /proc. Undocumented for users; it opens nothing that the
/// drop allows.
mod test_hook {
    pub const VAR: &str = "NETTOOL_TEST_AFTER_DROP";

    /// What happened, to say on stderr.
    pub fn after_drop() -> Option<String> {
        if std::env::var_os(VAR).is_none_or(|v| v != "packet-socket") {
            return None;
        }
        let proto = (libc::ETH_P_ALL as u16).to_be() as libc::c_int;
        let result = crate::sys::socket(libc::AF_PACKET, libc::SOCK_RAW, proto);
        let what = "nettool: test: AF_PACKET socket after the drop:";
        Some(match result {
            Ok(_) => format!("{what} opened"),
            Err(e) => format!("{what} refused ({e})"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_sets_read_back_as_the_kernel_has_them() {
        // Not armed: a test keeps its privileges, and reading changes
        // nothing.
        let a = CapSets::get().unwrap();
        let b = CapSets::get().unwrap();
        assert_eq!(a, b);
        assert_eq!(raised(&[Cap::NetRaw], || 7), 7);
        assert_eq!(CapSets::get().unwrap(), a);
    }

    #[test]
    fn an_unknown_user_is_named_in_the_error() {
        let e = lookup_user("no-such-user-nettool").unwrap_err().to_string();
        assert!(e.contains("no user no-such-user-nettool"), "{e}");
        assert!(
            lookup_user("root")
                .unwrap_err()
                .to_string()
                .contains("is root")
        );
    }

    /// Started without root, `--user` is refused for what it is, even
    /// when the name is not a user at all.
    #[test]
    fn user_without_root_says_root_is_needed() {
        let policy = |user: Option<&str>| Policy {
            command: "nc",
            user: user.map(str::to_owned),
            keep_user: false,
        };
        let e = user_to_become(&policy(Some("no-such-user-nettool")), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("started as root"), "{e}");
        assert_eq!(user_to_become(&policy(None), false).unwrap(), None);
        assert_eq!(user_to_become(&policy(None), true).unwrap(), Some("nobody"));
        assert_eq!(
            user_to_become(&policy(Some("daemon")), true).unwrap(),
            Some("daemon")
        );
    }

    #[test]
    fn the_threads_are_counted() {
        // The test harness runs this test on a thread of its own, beside
        // its main one.
        assert!(threads().unwrap() >= 2);
    }

    #[test]
    fn not_armed_nothing_is_dropped() {
        assert_eq!(drop_after_setup().unwrap(), None);
    }
}
