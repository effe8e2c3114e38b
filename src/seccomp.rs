//! A seccomp allowlist, applied once the privileges are dropped
//! ([`crate::privilege`]): from then on the process may make only the
//! system calls its event loop needs, so a bug in a parser that an
//! attacker's frame reaches cannot open a file, a socket or a program.
//!
//! The list is of whole families, not of the calls today's code happens
//! to make: reading and writing descriptors already open (`read`,
//! `recvmsg`, `recvmmsg`, `sendto`, `sendmmsg`, `splice`...), waiting
//! (`poll`, `ppoll`, `epoll_*`), memory (`mmap`, `munmap`, `madvise`...,
//! which rings and buffers use), clocks, futexes, signals, threads (the
//! guard's removal closes its socket on a thread of its own) and exit.
//! Nothing that makes a new descriptor from a name: no `open`, no
//! `socket`, no `execve`, no `connect`/`bind`.
//!
//! A call outside the list does not run: the kernel raises SIGSYS
//! (`SECCOMP_RET_TRAP`), whose handler says which call was refused, points
//! at the README, and ends the process with status 159 (128 + SIGSYS, as
//! a shell reports a process SIGSYS killed). `NETTOOL_SECCOMP=off` in the
//! environment runs without the filter, for debugging.

use std::collections::BTreeMap;
use std::io;
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow};
use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

/// The environment variable that turns the filter off.
pub const OFF_VAR: &str = "NETTOOL_SECCOMP";

/// The status a refused call ends the process with.
pub const EXIT_STATUS: i32 = 128 + libc::SIGSYS;

/// The system calls every command's event loop may make after the setup.
fn event_loop() -> Vec<libc::c_long> {
    let mut calls = vec![
        // Descriptors already open: data in and out.
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_readv,
        libc::SYS_writev,
        libc::SYS_pread64,
        libc::SYS_pwrite64,
        libc::SYS_recvfrom,
        libc::SYS_recvmsg,
        libc::SYS_recvmmsg,
        libc::SYS_sendto,
        libc::SYS_sendmsg,
        libc::SYS_sendmmsg,
        libc::SYS_lseek,
        libc::SYS_fsync,
        libc::SYS_fdatasync,
        // (`--pcap` cuts its file back to a whole record when the disk
        // is full.)
        libc::SYS_ftruncate,
        libc::SYS_fallocate,
        // ...their options and state, and closing them.
        libc::SYS_getsockopt,
        libc::SYS_setsockopt,
        libc::SYS_getsockname,
        libc::SYS_getpeername,
        libc::SYS_shutdown,
        libc::SYS_fcntl,
        libc::SYS_ioctl,
        libc::SYS_fstat,
        libc::SYS_newfstatat,
        libc::SYS_statx,
        libc::SYS_close,
        libc::SYS_dup,
        libc::SYS_dup3,
        // Waiting.
        libc::SYS_ppoll,
        libc::SYS_pselect6,
        libc::SYS_epoll_create1,
        libc::SYS_epoll_ctl,
        libc::SYS_epoll_pwait,
        libc::SYS_epoll_pwait2,
        libc::SYS_eventfd2,
        libc::SYS_timerfd_create,
        libc::SYS_timerfd_settime,
        libc::SYS_timerfd_gettime,
        // Clocks and sleeping.
        libc::SYS_clock_gettime,
        libc::SYS_clock_getres,
        libc::SYS_clock_nanosleep,
        libc::SYS_gettimeofday,
        libc::SYS_nanosleep,
        // Memory: the allocator, rings and buffers.
        libc::SYS_brk,
        libc::SYS_mmap,
        libc::SYS_munmap,
        libc::SYS_mremap,
        libc::SYS_madvise,
        libc::SYS_mprotect,
        // Threads and their synchronisation.
        libc::SYS_futex,
        libc::SYS_clone,
        libc::SYS_clone3,
        libc::SYS_set_robust_list,
        libc::SYS_rseq,
        libc::SYS_sched_yield,
        libc::SYS_sched_getaffinity,
        libc::SYS_prctl,
        libc::SYS_gettid,
        libc::SYS_getpid,
        libc::SYS_getuid,
        libc::SYS_geteuid,
        libc::SYS_getgid,
        libc::SYS_getegid,
        libc::SYS_getrandom,
        // Signals (Ctrl-C, and dying of it at the end).
        libc::SYS_rt_sigaction,
        libc::SYS_rt_sigprocmask,
        libc::SYS_rt_sigreturn,
        libc::SYS_sigaltstack,
        libc::SYS_tgkill,
        libc::SYS_tkill,
        libc::SYS_kill,
        libc::SYS_restart_syscall,
        // The end.
        libc::SYS_exit,
        libc::SYS_exit_group,
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([
        libc::SYS_poll,
        libc::SYS_select,
        libc::SYS_epoll_wait,
        libc::SYS_arch_prctl,
    ]);
    calls
}

/// What writing the neighbour cache file needs (`cachefile::save_all`).
fn file_write() -> Vec<libc::c_long> {
    let mut calls = vec![
        libc::SYS_openat,
        libc::SYS_flock,
        libc::SYS_renameat,
        libc::SYS_renameat2,
        libc::SYS_unlinkat,
        libc::SYS_mkdirat,
        libc::SYS_readlinkat,
        libc::SYS_getdents64,
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([
        libc::SYS_open,
        libc::SYS_stat,
        libc::SYS_lstat,
        libc::SYS_rename,
        libc::SYS_unlink,
        libc::SYS_mkdir,
        libc::SYS_readlink,
    ]);
    calls
}

/// The allowlist of `command`: the event loop's calls, and what the
/// command needs besides: `nc` pumps stdin and stdout, which may be
/// pipes moved without a copy; `arp` and `ndp` write the neighbour cache
/// at their end.
pub fn allowlist(command: &str) -> Vec<libc::c_long> {
    let mut calls = event_loop();
    match command {
        "nc" => calls.extend([
            libc::SYS_splice,
            libc::SYS_vmsplice,
            libc::SYS_tee,
            libc::SYS_pipe2,
        ]),
        // The neighbour cache's final write: the directory checked (made if
        // missing), the lock taken, the file read again, a new one
        // written and renamed over it.
        "arp" | "ndp" => calls.extend(file_write()),
        _ => {}
    }
    calls
}

/// The filter for `command`, compiled for this machine.
fn program(command: &str) -> Result<BpfProgram> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| anyhow!("no seccomp filter for this architecture: {e}"))?;
    let rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> = allowlist(command)
        .into_iter()
        .map(|call| (call, Vec::new()))
        .collect();
    let filter = SeccompFilter::new(rules, SeccompAction::Trap, SeccompAction::Allow, arch)?;
    Ok(filter.try_into()?)
}

/// Whether the user turned the filter off (`NETTOOL_SECCOMP=off`).
pub fn disabled() -> bool {
    std::env::var_os(OFF_VAR).is_some_and(|v| v == "off")
}

/// What the handler says, prepared before the filter is on (the handler
/// may not allocate).
static MESSAGE: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();

/// Confines the process (every thread) to `command`'s allowlist, unless
/// [`disabled`]. Needs no_new_privs (set by the privilege drop).
pub fn confine(command: &str) -> Result<()> {
    if !disabled() {
        apply(command)?;
    }
    test_hook::after_confine();
    Ok(())
}

fn apply(command: &str) -> Result<()> {
    let program = program(command)?;
    let _ = MESSAGE.set((
        b"nettool: stopped by its seccomp filter: system call ".to_vec(),
        format!(
            " is not one `nettool {command}` may make after its setup (a bug: please report it, \
             see README \"Security\"; {OFF_VAR}=off runs without the filter)\n"
        )
        .into_bytes(),
    ));
    install_handler().context("installing the SIGSYS handler")?;
    seccompiler::apply_filter_all_threads(&program).context("applying the seccomp filter")?;
    Ok(())
}

fn install_handler() -> io::Result<()> {
    // SAFETY: an all-zero sigaction is valid; the handler is async-signal
    // safe (it writes and exits).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            on_sigsys;
        action.sa_sigaction = handler as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `si_syscall`'s offset in a SIGSYS siginfo on 64-bit Linux: after
/// `si_signo`, `si_errno`, `si_code`, padding, and `si_call_addr`.
const SI_SYSCALL_OFFSET: usize = 24;

extern "C" fn on_sigsys(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a SIGSYS siginfo, which holds the call's
    // number at this offset.
    let call = unsafe {
        info.cast::<u8>()
            .add(SI_SYSCALL_OFFSET)
            .cast::<i32>()
            .read()
    };
    let mut digits = [0u8; 12];
    let number = decimal(call, &mut digits);
    if let Some((before, after)) = MESSAGE.get() {
        for part in [before.as_slice(), number, after.as_slice()] {
            // SAFETY: write(2) from live buffers; async-signal safe.
            unsafe { libc::write(2, part.as_ptr().cast(), part.len()) };
        }
    }
    // SAFETY: _exit is async-signal safe.
    unsafe { libc::_exit(EXIT_STATUS) };
}

/// `n` in decimal, in `buf`, without allocating.
fn decimal(n: i32, buf: &mut [u8; 12]) -> &[u8] {
    let mut at = buf.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

/// Test-only: with `NETTOOL_TEST_AFTER_CONFINE=forbidden-call`, the
/// process makes a call no allowlist has (`socket`) right after the
/// filter is applied; the end-to-end test checks that it dies of it, with
/// the message. Undocumented for users.
mod test_hook {
    pub fn after_confine() {
        if std::env::var_os("NETTOOL_TEST_AFTER_CONFINE").is_some_and(|v| v == "forbidden-call") {
            let _ = crate::sys::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
            eprintln!("nettool: test: the forbidden call returned");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_without_allocating() {
        let mut buf = [0u8; 12];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(41, &mut buf), b"41");
        assert_eq!(decimal(-2147483648, &mut buf), b"-2147483648");
    }

    /// The loop's families are in, what makes a descriptor from a name
    /// is out, and the filter compiles for this machine.
    #[test]
    fn the_allowlist_holds_the_loop_and_nothing_that_opens() {
        let list = allowlist("nc");
        for call in [
            libc::SYS_recvmmsg,
            libc::SYS_sendmmsg,
            libc::SYS_mmap,
            libc::SYS_ppoll,
        ] {
            assert!(list.contains(&call), "{call}");
        }
        for call in [
            libc::SYS_socket,
            libc::SYS_openat,
            libc::SYS_execve,
            libc::SYS_connect,
            libc::SYS_bind,
            libc::SYS_setuid,
            libc::SYS_capset,
        ] {
            assert!(!list.contains(&call), "{call}");
        }
        assert!(!program("nc").unwrap().is_empty());
        // Only arp writes a file after its setup.
        assert!(allowlist("arp").contains(&libc::SYS_openat));
        assert!(!allowlist("arp").contains(&libc::SYS_socket));
        assert!(!program("arp").unwrap().is_empty());
    }
}
