//! Starting the service process for `lab up`, and the check that keeps it
//! inside its lab.
//!
//! `lab up` runs `NETTOOL lab serve --name NAME` as a daemon inside the lab
//! namespace: spawned from a thread that entered the namespace (the child
//! inherits it), in a session of its own (so a Ctrl-C in the user's
//! terminal does not reach it), with stdin and stdout on /dev/null and
//! stderr appended to `serve.log` in the lab's run directory, where its pid
//! file goes too. `lab down` stops it through that pid file. The caller
//! names the nettool executable: inside the test suite the running
//! executable is a test binary, not nettool.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::server::LAB_PORTS;
use super::{LOG_FILE, PID_FILE, ServiceError, probe};
use crate::lab::{self, netns};

/// How long `lab up` waits for the services to listen.
pub const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// The running service process. Killed (and reaped) when dropped, unless
/// kept: a lab whose later setup fails takes its services down with it.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    pid: u32,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Leaves the process running and returns its pid. A thread waits for
    /// it, so that when it is stopped while this process still runs (the
    /// test suite) it does not linger as a zombie.
    pub fn keep(mut self) -> u32 {
        if let Some(mut child) = self.child.take() {
            std::thread::spawn(move || {
                let _ = child.wait();
            });
        }
        self.pid
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `exe lab serve --name NAME` inside lab `name`'s namespace and
/// waits (at most [`READY_TIMEOUT`]) until every TCP service listens, on
/// each family the kernel has (`lab serve` binds its UDP sockets first).
pub fn start(exe: &Path, name: &str) -> Result<Daemon, ServiceError> {
    start_within(exe, name, READY_TIMEOUT)
}

/// [`start`], waiting at most `timeout`. On failure the process is killed.
pub fn start_within(exe: &Path, name: &str, timeout: Duration) -> Result<Daemon, ServiceError> {
    let namespace = lab::namespace_name(name);
    let dir = lab::run_dir(name);
    let log_path = dir.join(LOG_FILE);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| ServiceError::io(format!("opening {}", log_path.display()), e))?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let stderr = log
        .try_clone()
        .map_err(|e| ServiceError::io("duplicating the log descriptor", e))?;
    let mut command = Command::new(exe);
    command
        .args(["lab", "serve", "--name", name])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    // SAFETY: setsid is async-signal-safe and touches no memory.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = netns::in_namespace(&namespace, || command.spawn())?
        .map_err(|e| ServiceError::io(format!("starting {}", exe.display()), e))?;
    let mut daemon = Daemon {
        pid: child.id(),
        child: Some(child),
    };
    let pid_path = dir.join(PID_FILE);
    std::fs::write(&pid_path, format!("{}\n", daemon.pid))
        .map_err(|e| ServiceError::io(format!("writing {}", pid_path.display()), e))?;
    let failed = |why: String| ServiceError::DidNotStart {
        why,
        tail: log_tail(&log_path, log_start),
        log: log_path.clone(),
    };
    let deadline = Instant::now() + timeout;
    loop {
        let child = daemon.child.as_mut().expect("kept only on success");
        if let Some(exit) = child
            .try_wait()
            .map_err(|e| ServiceError::io("checking on the service process", e))?
        {
            return Err(failed(format!(
                "`{} lab serve` exited ({exit}) before listening",
                exe.display()
            )));
        }
        let bound = probe::bound_in(&namespace)?;
        if bound.all_listen(LAB_PORTS.iter().map(|&(_, port)| port)) {
            return Ok(daemon);
        }
        if Instant::now() >= deadline {
            return Err(failed(format!(
                "nothing listened on ports {} within {:?}",
                LAB_PORTS
                    .iter()
                    .map(|(_, p)| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                timeout
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The last lines the daemon wrote to its log since `from`.
fn log_tail(path: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.seek(SeekFrom::Start(from));
        let _ = f.take(64 * 1024).read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// Fails unless the calling thread is inside lab `name`'s namespace, so
/// `lab serve` can never end up serving on the machine's own addresses.
pub fn require_lab_namespace(name: &str) -> Result<(), ServiceError> {
    let namespace = lab::namespace_name(name);
    let wrong = || ServiceError::WrongNamespace {
        name: name.into(),
        namespace: namespace.clone(),
    };
    let lab_ns = std::fs::metadata(netns::netns_path(&namespace)).map_err(|_| wrong())?;
    let own = std::fs::metadata("/proc/thread-self/ns/net")
        .map_err(|e| ServiceError::io("reading /proc/thread-self/ns/net", e))?;
    if own.ino() == lab_ns.ino() && own.dev() == lab_ns.dev() {
        Ok(())
    } else {
        Err(wrong())
    }
}

/// The lab's run directory, created if missing.
pub fn create_run_dir(name: &str) -> Result<PathBuf, ServiceError> {
    let dir = lab::run_dir(name);
    std::fs::create_dir_all(&dir)
        .map_err(|e| ServiceError::io(format!("creating {}", dir.display()), e))?;
    Ok(dir)
}
