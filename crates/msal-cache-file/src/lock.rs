//! The cross-process lock, interoperable with msal-extensions (Python).
//!
//! The lock is the file `<cache file>.lockfile`. A holder creates it with
//! `O_CREAT|O_EXCL`, takes an exclusive `flock` on it (what msal-extensions
//! does when `portalocker` is installed), writes `"<pid> <argv[0]>"` into it
//! (msal-extensions' content) and deletes it on release. Python processes
//! without `portalocker` only look at the file's existence; those with it
//! also contend on the `flock`; other msal-rs processes do both.
//!
//! A lock file left behind by a crashed holder is taken over when nobody holds
//! its `flock` and the pid written in it is not a live process on this host
//! (or it has no readable pid and is older than [`UNREADABLE_GRACE`], or it is
//! older than [`ABANDONED_AFTER`]). The
//! takeover keeps the file in place (so Python waiters keep waiting) and is
//! itself serialised by the `flock`.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use fs4::fs_std::FileExt;

use crate::error::Error;

/// A lock file without a readable pid is trusted for this long: a Python
/// holder creates the file and writes its pid in two steps.
pub(crate) const UNREADABLE_GRACE: Duration = Duration::from_secs(2);

/// A lock file nobody `flock`s that is older than this is stale whatever pid
/// it names (pid reuse; a Python holder keeps the lock for milliseconds and
/// its own waiters give up after 5 s).
pub(crate) const ABANDONED_AFTER: Duration = Duration::from_secs(60);

/// A held cross-process lock. Dropping it releases the lock: the file is
/// removed first and unlocked after, so a waiter that locks the old inode
/// sees it is no longer the lock file and tries again.
#[derive(Debug)]
pub(crate) struct FileLock {
    file: Option<File>,
    path: PathBuf,
    identity: Identity,
    /// Whether a stale lock was taken over (the caller then cleans up the
    /// temporary files the dead writer may have left).
    pub(crate) took_over: bool,
}

/// What one attempt to take the lock found.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// The lock is ours.
    Acquired(FileLock),
    /// Someone else holds it (pid, when known).
    Busy(Option<u32>),
}

impl FileLock {
    /// One non-blocking attempt to take the lock at `path`.
    pub(crate) fn try_acquire(path: &Path) -> Result<Attempt, Error> {
        match create_new(path) {
            Ok(file) => {
                // A Python holder using portalocker opens the file without
                // O_EXCL; if one slipped in between our create and our flock
                // it holds the flock and we must back off (and not delete).
                if !FileExt::try_lock_exclusive(&file).map_err(|e| Error::io("lock", path, e))? {
                    return Ok(Attempt::Busy(None));
                }
                let identity = Identity::of_file(&file).map_err(|e| Error::io("stat", path, e))?;
                let mut lock = FileLock {
                    file: Some(file),
                    path: path.to_owned(),
                    identity,
                    took_over: false,
                };
                lock.write_owner()?;
                Ok(Attempt::Acquired(lock))
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Self::try_take_over(path),
            Err(e) => Err(Error::io("create lock file", path, e)),
        }
    }

    /// The lock file exists: take it over if its holder is gone.
    fn try_take_over(path: &Path) -> Result<Attempt, Error> {
        let mut file = match open_existing(path) {
            Ok(f) => f,
            // Released between our create and this open: try again at once.
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Attempt::Busy(None)),
            Err(e) => return Err(Error::io("open lock file", path, e)),
        };
        if !FileExt::try_lock_exclusive(&file).map_err(|e| Error::io("lock", path, e))? {
            // An msal-rs or portalocker holder is alive (the kernel drops a
            // flock when its process dies).
            return Ok(Attempt::Busy(read_pid(&mut file)));
        }
        // We hold the flock of this inode. It only counts if the path still
        // names it: a holder may have released (unlinked) meanwhile.
        let identity = Identity::of_file(&file).map_err(|e| Error::io("stat", path, e))?;
        match Identity::of_path(path) {
            Ok(id) if id == identity => {}
            Ok(_) => return Ok(Attempt::Busy(None)),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Attempt::Busy(None)),
            Err(e) => return Err(Error::io("stat", path, e)),
        }
        let pid = read_pid(&mut file);
        let modified = file.metadata().and_then(|m| m.modified()).ok();
        let age = modified
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or_default();
        let stale = age >= ABANDONED_AFTER
            || match pid {
                Some(pid) => !process_alive(pid),
                None => age >= UNREADABLE_GRACE,
            };
        if !stale {
            return Ok(Attempt::Busy(pid));
        }
        tracing::warn!(
            dead_holder_pid = pid,
            "taking over a cache lock left by a process that is gone"
        );
        let mut lock = FileLock {
            file: Some(file),
            path: path.to_owned(),
            identity,
            took_over: true,
        };
        lock.write_owner()?;
        Ok(Attempt::Acquired(lock))
    }

    fn write_owner(&mut self) -> Result<(), Error> {
        let content = owner_line();
        let path = &self.path;
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(content.as_bytes()))
            .and_then(|_| file.flush())
            .map_err(|e| Error::io("write lock file", path, e))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Remove the file only while it is still ours: never delete a lock
        // file someone else created after ours went away.
        if Identity::of_path(&self.path).is_ok_and(|id| id == self.identity)
            && let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != ErrorKind::NotFound
        {
            tracing::warn!(error = %e, "could not remove the cache lock file");
        }
        if let Some(file) = self.file.take() {
            let _ = FileExt::unlock(&file);
        }
    }
}

/// Opens an existing lock file for a takeover. A symbolic link is refused
/// (`ELOOP`): the takeover truncates and rewrites the file, which must never
/// reach whatever a link planted in the cache directory points at.
fn open_existing(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut opts,
        // A bit pattern: O_NOFOLLOW is a small positive flag on every Unix.
        i32::from_ne_bytes(rustix::fs::OFlags::NOFOLLOW.bits().to_ne_bytes()),
    );
    opts.open(path)
}

fn create_new(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
}

/// msal-extensions' content: `"<pid> <argv[0]>"`, no newline.
fn owner_line() -> String {
    let argv0 = std::env::args_os()
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{} {}", std::process::id(), argv0)
}

/// The pid at the start of a lock file, if it has one.
fn read_pid(file: &mut File) -> Option<u32> {
    let mut buf = Vec::with_capacity(64);
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(4096).read_to_end(&mut buf).ok()?;
    parse_pid(&buf)
}

pub(crate) fn parse_pid(content: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(content).ok()?;
    let first = text.split_whitespace().next()?;
    first.parse::<u32>().ok().filter(|p| *p > 0)
}

/// Whether `pid` names a live process on this host. When in doubt (no
/// permission to signal it), it is alive.
#[cfg(unix)]
pub(crate) fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e != rustix::io::Errno::SRCH,
    }
}

/// Without a portable liveness test, only a lock nobody `flock`s and that is
/// older than [`ABANDONED_AFTER`] counts as stale.
#[cfg(not(unix))]
pub(crate) fn process_alive(_pid: u32) -> bool {
    true
}

/// Which file an open handle or a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
}

impl Identity {
    #[cfg(unix)]
    fn from_meta(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            dev: m.dev(),
            ino: m.ino(),
        }
    }

    #[cfg(not(unix))]
    fn from_meta(m: &std::fs::Metadata) -> Self {
        // No inode numbers on stable std here: the creation time stands in.
        let created = m
            .created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        Self {
            dev: 0,
            ino: created.map(|d| d.as_nanos() as u64).unwrap_or(0),
        }
    }

    fn of_file(f: &File) -> std::io::Result<Self> {
        f.metadata().map(|m| Self::from_meta(&m))
    }

    fn of_path(p: &Path) -> std::io::Result<Self> {
        std::fs::metadata(p).map(|m| Self::from_meta(&m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_parsing_accepts_msal_extensions_content() {
        assert_eq!(parse_pid(b"1234 /usr/bin/az"), Some(1234));
        assert_eq!(parse_pid(b"77 "), Some(77));
        assert_eq!(parse_pid(b""), None);
        assert_eq!(parse_pid(b"x 1"), None);
        assert_eq!(parse_pid(b"0 init"), None);
        assert_eq!(parse_pid(&[0xff, 0x31]), None);
    }

    #[test]
    fn our_own_pid_is_alive() {
        assert!(process_alive(std::process::id()));
    }

    #[test]
    fn lock_is_exclusive_and_removed_on_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json.lockfile");
        let Attempt::Acquired(lock) = FileLock::try_acquire(&path).unwrap() else {
            panic!("first attempt must win")
        };
        let content = std::fs::read_to_string(&path).unwrap();
        assert!(
            content.starts_with(&format!("{} ", std::process::id())),
            "{content}"
        );
        assert!(
            matches!(FileLock::try_acquire(&path).unwrap(), Attempt::Busy(Some(p)) if p == std::process::id())
        );
        drop(lock);
        assert!(!path.exists());
        assert!(matches!(
            FileLock::try_acquire(&path).unwrap(),
            Attempt::Acquired(_)
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_lock_file_is_refused_and_its_target_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        // Old enough and pid-less: a regular file here would be taken over.
        std::fs::write(&victim, b"precious").unwrap();
        let old = SystemTime::now() - ABANDONED_AFTER - Duration::from_secs(5);
        File::options()
            .write(true)
            .open(&victim)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let path = dir.path().join("c.json.lockfile");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        match FileLock::try_acquire(&path) {
            Err(Error::Io { op, .. }) => assert_eq!(op, "open lock file"),
            other => panic!("a symlink must not be taken over: {other:?}"),
        }
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(path.symlink_metadata().unwrap().file_type().is_symlink());

        // The same file, not linked, is stale and taken over: the refusal
        // above is the link's doing.
        std::fs::remove_file(&path).unwrap();
        std::fs::rename(&victim, &path).unwrap();
        let Attempt::Acquired(lock) = FileLock::try_acquire(&path).unwrap() else {
            panic!("a stale regular lock file is taken over")
        };
        assert!(lock.took_over);
    }
}
