//! Keeping the neighbour caches between runs: ARP's IPv4 entries and
//! NDP's IPv6 ones, in one file.
//!
//! The file is `{"version": 1, "entries": [ARP…], "neighbors": [NDP…]}`:
//! `neighbors` is left out when empty, so a file with no IPv6 entries is
//! byte for byte what nettool wrote before it spoke NDP, files written
//! before still load, and an older nettool reads a newer file (it skips
//! the field it does not know).
//!
//! The file lives under a standard cache location: `/var/cache/nettool/`
//! for root, `$XDG_CACHE_HOME/nettool/` (or `~/.cache/nettool/`) for anyone
//! else; the command line (`--cache-file`, `NETTOOL_ARP_CACHE`) may name another. It is treated
//! as untrusted input, because whoever can write it can redirect traffic:
//!
//! - read with `O_NOFOLLOW`: a symlink planted in its place is refused;
//! - only a regular file owned by us and writable by nobody else is read;
//! - a corrupt, foreign or unreadable file is reported as a warning and the
//!   run starts with an empty cache — a cache is never worth a crash;
//! - written atomically: a new file (`O_EXCL|O_NOFOLLOW`, mode 0600) is
//!   filled and renamed over the old one, so a reader sees the old or the
//!   new cache, never half of one. rename(2) replaces a symlink at the
//!   destination instead of following it. Nothing is fsync'd: the cache is
//!   soft state, and a file torn by a power cut is read as corrupt and
//!   replaced, so durability is not worth milliseconds on every run;
//! - the directory is created 0700 and must be ours and not a symlink;
//! - concurrent runs take an exclusive lock, re-read the file and replay
//!   their own changes onto it, so one run does not undo another's.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::arp::cache::Cache;
use crate::ndp;

/// Both families' caches, as one file holds them.
#[derive(Debug, Clone, Default)]
pub struct Caches {
    pub arp: Cache,
    pub ndp: ndp::cache::Cache,
}

/// The on-disk form.
#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    entries: Vec<crate::arp::cache::Entry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    neighbors: Vec<ndp::cache::Entry>,
}

impl Caches {
    /// Reads stored bytes; `seed` seeds the NDP cache's ReachableTimes.
    pub fn from_bytes(bytes: &[u8], seed: u64) -> Result<Caches, LoadError> {
        let stored: Stored = serde_json::from_slice(bytes)?;
        if stored.version != STORE_VERSION {
            return Err(LoadError::Version(stored.version));
        }
        Ok(Caches {
            arp: Cache::from_entries(stored.entries),
            ndp: ndp::cache::Cache::from_stored(stored.neighbors, seed),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let stored = Stored {
            version: STORE_VERSION,
            entries: self.arp.entries().cloned().collect(),
            neighbors: self.ndp.stored_entries(),
        };
        let mut bytes = serde_json::to_vec_pretty(&stored).expect("cache entries always serialise");
        bytes.push(b'\n');
        bytes
    }
}

/// The file's layout version. Versioned so that a future layout is
/// recognised instead of half-read.
pub const STORE_VERSION: u32 = 1;

/// Why stored bytes could not be read back as caches.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not a nettool cache file: {0}")]
    Syntax(#[from] serde_json::Error),
    #[error("cache file version {0} is not understood by this nettool (expected {STORE_VERSION})")]
    Version(u32),
}

/// Larger than any real cache (≈ 200 bytes an entry); refusing bigger
/// files bounds what a hostile file can make us allocate.
const MAX_FILE: u64 = 16 << 20;

/// The cache file to use when none is named.
pub fn default_path() -> PathBuf {
    // SAFETY: geteuid cannot fail.
    let base = if unsafe { libc::geteuid() } == 0 {
        PathBuf::from("/var/cache")
    } else if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        PathBuf::from(x)
    } else if let Some(h) = std::env::var_os("HOME").filter(|p| !p.is_empty()) {
        PathBuf::from(h).join(".cache")
    } else {
        PathBuf::from("/tmp")
    };
    base.join("nettool").join("arp-cache.json")
}

/// Reads the ARP cache at `path` (see [`load_all`]).
pub fn load(path: &Path) -> (Cache, Vec<String>) {
    let (caches, warnings) = load_all(path, 0);
    (caches.arp, warnings)
}

/// Reads both caches at `path`. Never fails: what cannot be trusted is
/// described in the returned warnings and replaced by empty caches.
/// `seed` seeds the NDP cache's ReachableTimes.
pub fn load_all(path: &Path, seed: u64) -> (Caches, Vec<String>) {
    let empty = || Caches {
        arp: Cache::new(),
        ndp: ndp::cache::Cache::new(seed),
    };
    match read_trusted(path) {
        Ok(None) => (empty(), Vec::new()),
        Ok(Some(bytes)) => match Caches::from_bytes(&bytes, seed) {
            Ok(caches) => (caches, Vec::new()),
            Err(e) => (
                empty(),
                vec![format!(
                    "neighbour cache {} is unreadable ({e}); starting with an empty cache (it will be rewritten)",
                    path.display()
                )],
            ),
        },
        Err(why) => (
            empty(),
            vec![format!(
                "ignoring neighbour cache {}: {why}; starting with an empty cache",
                path.display()
            )],
        ),
    }
}

/// The file's bytes, `None` if there is no file, or why it is not trusted.
fn read_trusted(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err("it is a symbolic link, which nettool never follows (remove it)".into());
        }
        Err(e) => return Err(e.to_string()),
    };
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.file_type().is_file() {
        return Err(
            "it is not a regular file (remove it, or name another with --cache-file)".into(),
        );
    }
    check_owner(&meta)?;
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "it is writable by others (mode {:o}); fix with chmod 600",
            meta.mode() & 0o777
        ));
    }
    if meta.len() > MAX_FILE {
        return Err(format!(
            "it is {} bytes, larger than any real cache (remove it)",
            meta.len()
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(Some(bytes))
}

fn check_owner(meta: &fs::Metadata) -> Result<(), String> {
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!(
            "it belongs to uid {}, not to us (uid {me}): remove it, or name another with \
             --cache-file",
            meta.uid()
        ));
    }
    Ok(())
}

/// Saves what changed in the ARP `cache` since it was loaded, merged
/// onto the file's current contents (IPv6 entries included). Returns the
/// warnings met while re-reading.
pub fn save(path: &Path, cache: &Cache) -> io::Result<Vec<String>> {
    save_changes(path, cache.changes(), &[])
}

/// Saves what changed in both caches since they were loaded, as [`save`].
pub fn save_all(path: &Path, caches: &Caches) -> io::Result<Vec<String>> {
    save_changes(path, caches.arp.changes(), caches.ndp.changes())
}

fn save_changes(
    path: &Path,
    arp: &[crate::arp::cache::Change],
    ndp: &[ndp::cache::Change],
) -> io::Result<Vec<String>> {
    if arp.is_empty() && ndp.is_empty() {
        return Ok(Vec::new());
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    ensure_private_dir(dir)?;
    let _lock = lock(path)?;
    let (mut current, warnings) = load_all(path, 0);
    current.arp.apply(arp);
    current.ndp.apply(ndp);
    write_atomically(path, &current.to_bytes())?;
    Ok(warnings)
}

fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => {
            // A symlinked parent we did not make could point anywhere; only
            // trust it if it resolves to a directory that is ours.
            let target = fs::metadata(dir)?;
            check_dir(dir, &target)
        }
        Ok(meta) => check_dir(dir, &meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir),
        Err(e) => Err(e),
    }
}

fn check_dir(dir: &Path, meta: &fs::Metadata) -> io::Result<()> {
    if !meta.is_dir() {
        return Err(io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    let shared_sticky = meta.mode() & 0o1000 != 0; // like /tmp: others cannot replace our files
    if meta.uid() != me && meta.uid() != 0 {
        return Err(io::Error::other(format!(
            "{} belongs to uid {}; refusing to keep the neighbour cache there",
            dir.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o002 != 0 && !shared_sticky {
        return Err(io::Error::other(format!(
            "{} is writable by everyone; refusing to keep the neighbour cache there",
            dir.display()
        )));
    }
    Ok(())
}

/// An exclusive advisory lock on `PATH.lock`, held until dropped.
fn lock(path: &Path) -> io::Result<File> {
    let lock_path = sibling(path, ".lock");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&lock_path)
        .map_err(|e| io::Error::new(e.kind(), format!("locking {}: {e}", lock_path.display())))?;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(file)
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = sibling(path, &format!(".tmp.{}", std::process::id()));
    let _ = fs::remove_file(&tmp); // left over by a crashed run with our pid
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(bytes)?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("writing neighbour cache {}: {e}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::time::Duration;

    use crate::wire::MacAddr;

    /// `c` as the file holds it with no IPv6 entries.
    fn arp_only(c: &Cache) -> Vec<u8> {
        Caches {
            arp: c.clone(),
            ndp: ndp::cache::Cache::new(0),
        }
        .to_bytes()
    }

    fn sample() -> Cache {
        let mut c = Cache::new();
        c.learn(
            "eth0",
            7,
            Ipv4Addr::new(10, 0, 0, 2),
            MacAddr::new(2, 0, 0, 0, 0, 2),
            1_000,
            Duration::from_secs(60),
        );
        c
    }

    #[test]
    fn missing_file_is_an_empty_cache_without_warning() {
        let dir = tempfile::tempdir().unwrap();
        let (c, w) = load(&dir.path().join("nope.json"));
        assert!(c.is_empty());
        assert!(w.is_empty());
    }

    #[test]
    fn round_trip_creates_a_private_file_in_a_private_dir() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/arp-cache.json");
        assert!(save(&path, &sample()).unwrap().is_empty());
        let (c, w) = load(&path);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.len(), 1);
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            fs::metadata(path.parent().unwrap()).unwrap().mode() & 0o777,
            0o700
        );
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp.")), "{names:?}");
    }

    #[test]
    fn corrupt_file_warns_starts_empty_and_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arp-cache.json");
        fs::write(&path, b"{\"version\":1,\"entries\":[{\"iface\":").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let (c, w) = load(&path);
        assert!(c.is_empty());
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("unreadable"), "{w:?}");
        save(&path, &sample()).unwrap();
        assert_eq!(load(&path).0.len(), 1);
    }

    #[test]
    fn a_planted_symlink_is_neither_read_nor_followed_on_write() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let path = dir.path().join("arp-cache.json");
        symlink(&victim, &path).unwrap();
        let (c, w) = load(&path);
        assert!(c.is_empty());
        assert!(w[0].contains("symbolic link"), "{w:?}");
        save(&path, &sample()).unwrap();
        assert_eq!(
            fs::read(&victim).unwrap(),
            b"precious",
            "the symlink's target must be untouched"
        );
        assert!(
            !fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(load(&path).0.len(), 1);
    }

    #[test]
    fn a_file_others_can_write_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arp-cache.json");
        fs::write(&path, arp_only(&sample())).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        let (c, w) = load(&path);
        assert!(c.is_empty());
        assert!(w[0].contains("writable by others"), "{w:?}");
    }

    #[test]
    fn a_directory_in_place_of_the_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arp-cache.json");
        fs::create_dir(&path).unwrap();
        let (c, w) = load(&path);
        assert!(c.is_empty());
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn concurrent_runs_keep_each_others_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arp-cache.json");
        let (mut a, _) = load(&path);
        let (mut b, _) = load(&path);
        a.learn(
            "eth0",
            7,
            Ipv4Addr::new(10, 0, 0, 2),
            MacAddr::new(2, 0, 0, 0, 0, 2),
            1,
            Duration::from_secs(9),
        );
        b.learn(
            "eth0",
            7,
            Ipv4Addr::new(10, 0, 0, 3),
            MacAddr::new(2, 0, 0, 0, 0, 3),
            1,
            Duration::from_secs(9),
        );
        save(&path, &a).unwrap();
        save(&path, &b).unwrap();
        assert_eq!(load(&path).0.len(), 2);
    }

    #[test]
    fn unchanged_cache_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arp-cache.json");
        save(&path, &Cache::new()).unwrap();
        assert!(!path.exists());
    }

    /// A cache with one IPv6 neighbour REACHABLE on eth0.
    fn sample_ndp() -> ndp::cache::Cache {
        use crate::wire::ndp::NaFlags;
        let mut c = ndp::cache::Cache::new(1);
        let ip = "fe80::2".parse().unwrap();
        c.solicit(1_000, "eth0", 7, ip);
        let flags = NaFlags {
            router: false,
            solicited: true,
            override_: true,
        };
        c.handle_advert(
            1_001,
            ("eth0", 7),
            ip,
            flags,
            Some(MacAddr::new(2, 0, 0, 0, 0, 6)),
            true,
        );
        c
    }

    #[test]
    fn both_families_share_the_file_and_keep_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arp-cache.json");
        let mut caches = load_all(&path, 1).0;
        caches.ndp = sample_ndp();
        save_all(&path, &caches).unwrap();
        // An ARP-only run saves afterwards: the IPv6 entry stays.
        save(&path, &sample()).unwrap();
        let (back, w) = load_all(&path, 1);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(back.arp.len(), 1);
        assert_eq!(back.ndp.len(), 1);
        let e = back.ndp.entries().next().unwrap();
        assert_eq!(e.state, ndp::cache::State::Reachable);
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"neighbors\""), "{text}");
    }

    #[test]
    fn a_file_without_ipv6_entries_is_the_old_format_byte_for_byte() {
        let caches = Caches {
            arp: sample(),
            ndp: ndp::cache::Cache::new(0),
        };
        // What nettool wrote before it spoke NDP, to the byte.
        let old = r#"{
  "version": 1,
  "entries": [
    {
      "iface": "eth0",
      "ifindex": 7,
      "ip": "10.0.0.2",
      "mac": "02:00:00:00:00:02",
      "learned_at_ms": 1000,
      "ttl_ms": 60000
    }
  ]
}
"#;
        assert_eq!(String::from_utf8(caches.to_bytes()).unwrap(), old);
        // And an old file loads, with no IPv6 entries.
        let back = Caches::from_bytes(old.as_bytes(), 0).unwrap();
        assert_eq!(back.arp.len(), 1);
        assert!(back.ndp.is_empty());
    }

    #[test]
    fn a_bad_ipv6_entry_makes_the_file_corrupt_not_half_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arp-cache.json");
        let bad = br#"{"version":1,"entries":[],"neighbors":[{"iface":"eth0","ifindex":7,"ip":"fe80::zz","mac":"02:00:00:00:00:06","state":"STALE","since_ms":1,"reachable_ms":0}]}"#;
        fs::write(&path, bad).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let (c, w) = load_all(&path, 0);
        assert!(c.arp.is_empty() && c.ndp.is_empty());
        assert!(w[0].contains("unreadable"), "{w:?}");
    }

    #[test]
    fn an_ipv6_flush_empties_only_the_ipv6_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arp-cache.json");
        let caches = Caches {
            arp: sample(),
            ndp: sample_ndp(),
        };
        save_all(&path, &caches).unwrap();
        let mut again = load_all(&path, 0).0;
        again.ndp.flush();
        save_all(&path, &again).unwrap();
        let back = load_all(&path, 0).0;
        assert_eq!(back.arp.len(), 1);
        assert!(back.ndp.is_empty());
    }

    // The ARP side of the file format.

    const IP: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);
    const T0: u64 = 1_700_000_000_000;

    fn arp_from(bytes: &[u8]) -> Result<Cache, LoadError> {
        Caches::from_bytes(bytes, 0).map(|c| c.arp)
    }

    #[test]
    fn files_without_interface_indexes_match_no_interface() {
        let old = br#"{"version":1,"entries":[{"iface":"eth0","ip":"10.78.0.2","mac":"02:00:00:00:00:01","learned_at_ms":1700000000000,"ttl_ms":60000}]}"#;
        let c = arp_from(old).unwrap();
        assert_eq!(c.len(), 1, "the entry is kept, for --show");
        assert!(c.lookup("eth0", 7, IP, T0).is_none(), "but never answers");
    }

    #[test]
    fn persistence_round_trip() {
        let mut c = sample();
        c.learn(
            "veth1",
            7,
            Ipv4Addr::new(192, 0, 2, 9),
            MacAddr::new(2, 0, 0, 0, 0, 9),
            T0 + 5,
            Duration::from_millis(1500),
        );
        let back = arp_from(&arp_only(&c)).unwrap();
        assert_eq!(
            back.entries().collect::<Vec<_>>(),
            c.entries().collect::<Vec<_>>()
        );
        assert!(back.changes().is_empty());
        let text = String::from_utf8(arp_only(&c)).unwrap();
        assert!(text.contains("\"02:00:00:00:00:09\""), "{text}");
    }

    #[rstest::rstest]
    #[case::empty(b"".as_slice())]
    #[case::garbage(b"\x00\xffnot json".as_slice())]
    #[case::truncated(b"{\"version\":1,\"entries\":[{\"iface\":\"eth0\"".as_slice())]
    #[case::bad_mac(b"{\"version\":1,\"entries\":[{\"iface\":\"e\",\"ip\":\"10.0.0.1\",\"mac\":\"zz\",\"learned_at_ms\":1,\"ttl_ms\":1}]}".as_slice())]
    #[case::bad_ip(b"{\"version\":1,\"entries\":[{\"iface\":\"e\",\"ip\":\"10.0.0.300\",\"mac\":\"02:00:00:00:00:01\",\"learned_at_ms\":1,\"ttl_ms\":1}]}".as_slice())]
    #[case::future_version(b"{\"version\":99,\"entries\":[]}".as_slice())]
    fn corrupt_stores_are_refused_not_trusted(#[case] bytes: &[u8]) {
        assert!(arp_from(bytes).is_err());
    }

    #[test]
    fn changes_replay_onto_a_concurrently_updated_copy() {
        let ttl = Duration::from_secs(60);
        // Run A and run B both load the same file; A learns .2, B learns .3.
        let disk = Cache::new();
        let mut a = disk.clone();
        a.learn("eth0", 7, IP, MacAddr::new(2, 0, 0, 0, 0, 1), T0, ttl);
        let mut b = disk.clone();
        let three = Ipv4Addr::new(10, 78, 0, 3);
        b.learn("eth0", 7, three, MacAddr::new(2, 0, 0, 0, 0, 3), T0, ttl);
        // A saves first; B re-reads the file and replays its own changes.
        let mut merged = arp_from(&arp_only(&a)).unwrap();
        merged.apply(b.changes());
        assert_eq!(merged.len(), 2);
        // A later flush replays as a flush.
        let mut c = merged.clone();
        c.flush();
        let mut again = merged.clone();
        again.apply(c.changes());
        assert!(again.is_empty());
    }
}
