//! File system steps: read with a change stamp, atomic replace, clean-up of
//! temporary files, quarantine. All of it runs with the lock held.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{CorruptReason, Error};

/// How far ahead of the clock a freshly written file's mtime is set.
///
/// msal-extensions reloads only when the file's mtime is newer than the time
/// it finished its last (unlocked) read. A reader that opened the old file
/// just before our rename but finished parsing just after it would otherwise
/// record a sync time newer than our mtime and never see our write. With the
/// mtime a second ahead, only a read that takes over a second can miss it.
/// The cost is at most one extra reload in Python for that second.
pub(crate) const MTIME_LEAD: Duration = Duration::from_secs(1);

/// Timestamps within this distance of the moment we looked are "racy": a
/// later write in the same file system tick could leave size and times
/// unchanged, so a racy stamp is confirmed by comparing content.
pub(crate) const RACY_WINDOW: Duration = Duration::from_secs(2);

/// What identifies one version of the file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    pub(crate) fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Self {
                dev: meta.dev(),
                ino: meta.ino(),
                len: meta.len(),
                mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
                ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
            }
        }
        #[cfg(not(unix))]
        {
            let mtime_ns = meta.modified().map(system_ns).unwrap_or(0);
            Self {
                dev: 0,
                ino: 0,
                len: meta.len(),
                mtime_ns,
                ctime_ns: mtime_ns,
            }
        }
    }

    /// Whether a change made right after `seen_at` could hide behind this
    /// stamp (same size, same coarse timestamps).
    pub(crate) fn is_racy(&self, seen_at: SystemTime) -> bool {
        let seen = system_ns(seen_at);
        let window = RACY_WINDOW.as_nanos() as i128;
        // ctime cannot be set by anyone; mtime may be in the future (ours).
        seen - self.ctime_ns < window
    }
}

fn system_ns(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// A file's raw bytes and the stamp they were read at.
pub(crate) type Snapshot = (Vec<u8>, Stamp);

/// The file's raw bytes and stamp, or `None` if there is no file.
///
/// # Errors
/// [`Error::NotAFile`] when the path (after symbolic links) is a FIFO, a
/// socket, a device or a directory: it is never read, since a FIFO would
/// block and a device may never end. [`CorruptReason::TooLarge`] when the
/// file holds more than `limit` bytes: neither its stated size nor what it
/// yields (a growing file) is trusted beyond the limit.
pub(crate) fn read(path: &Path, limit: u64) -> Result<Option<Snapshot>, Error> {
    match std::fs::metadata(path) {
        Ok(meta) => regular_file(path, &meta)?,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("stat", path, e)),
    }
    let mut file = match open_for_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let too_large = || Error::corrupt(path, CorruptReason::TooLarge { limit });
    let meta = file.metadata().map_err(|e| Error::io("stat", path, e))?;
    // Again on what was opened: the path may have been replaced meanwhile.
    regular_file(path, &meta)?;
    if meta.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // One byte past the limit tells "exactly the limit" from "more".
    (&mut file)
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", path, e))?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > limit) {
        return Err(too_large());
    }
    // Stamp after reading: nothing writes in place while we hold the lock.
    let meta = file.metadata().map_err(|e| Error::io("stat", path, e))?;
    Ok(Some((bytes, Stamp::of(&meta))))
}

/// Opens `path` for reading. On Unix without blocking: opening a FIFO that
/// replaced the file after it was looked at returns at once (and is then
/// refused) instead of waiting for a writer.
fn open_for_read(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK changes nothing for a regular file's reads.
        opts.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    opts.open(path)
}

/// [`Error::NotAFile`] unless `meta` is a regular file's.
fn regular_file(path: &Path, meta: &std::fs::Metadata) -> Result<(), Error> {
    let ft = meta.file_type();
    if ft.is_file() {
        return Ok(());
    }
    let kind = if ft.is_dir() {
        "a directory"
    } else {
        special_kind(&ft)
    };
    Err(Error::NotAFile {
        path: path.to_owned(),
        kind,
    })
}

#[cfg(unix)]
fn special_kind(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::FileType) -> &'static str {
    "a special file"
}

/// The stamp of the file at `path`, or `None` if there is no file.
pub(crate) fn stamp(path: &Path) -> Result<Option<Stamp>, Error> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(Stamp::of(&m))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("stat", path, e)),
    }
}

/// Creates the cache's directory (and missing parents) with mode 0700. An
/// existing directory is left as it is.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), Error> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| Error::io("create directory", dir, e))
}

/// The prefix of this cache file's temporary files in its directory.
pub(crate) fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.tmp-")
}

/// Replaces the file at `path` with `bytes` atomically: a temporary file in
/// the same directory (mode 0600), fsync, rename over, mtime set to now plus
/// [`MTIME_LEAD`], directory fsync. Returns the new file's stamp.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<Stamp, Error> {
    let dir = parent_dir(path);
    ensure_dir(&dir)?;
    let temp = dir.join(format!(
        "{}{}-{:016x}",
        temp_prefix(path),
        std::process::id(),
        rand::random::<u64>()
    ));
    let result = write_and_rename(&temp, path, bytes);
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    let stamp = result?;
    sync_dir(&dir)?;
    Ok(stamp)
}

fn write_and_rename(temp: &Path, path: &Path, bytes: &[u8]) -> Result<Stamp, Error> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts
        .open(temp)
        .map_err(|e| Error::io("create temporary file", temp, e))?;
    file.write_all(bytes)
        .map_err(|e| Error::io("write", temp, e))?;
    file.sync_all().map_err(|e| Error::io("fsync", temp, e))?;
    std::fs::rename(temp, path).map_err(|e| Error::io("rename into place", path, e))?;
    // The handle still names the renamed inode.
    let now = SystemTime::now();
    file.set_modified(now.checked_add(MTIME_LEAD).unwrap_or(now))
        .map_err(|e| Error::io("set mtime of", path, e))?;
    let meta = file.metadata().map_err(|e| Error::io("stat", path, e))?;
    Ok(Stamp::of(&meta))
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("fsync directory", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Deletes the file at `path` (absent is fine) and syncs its directory.
pub(crate) fn remove(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Ok(()) => sync_dir(&parent_dir(path)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// Removes temporary files a writer that died mid-write left behind. Only
/// called with the lock held, when no one else can be writing one.
pub(crate) fn remove_stale_temps(path: &Path) {
    let dir = parent_dir(path);
    let prefix = temp_prefix(path);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Renames the file to `<file>.corrupt-<unix seconds>[-n]` and returns the
/// new path, or `None` when there was no file.
pub(crate) fn quarantine(path: &Path, now: SystemTime) -> Result<Option<PathBuf>, Error> {
    if stamp(path)?.is_none() {
        return Ok(None);
    }
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let base = format!("{}.corrupt-{secs}", path.display());
    for n in 0..1000u32 {
        let candidate = PathBuf::from(if n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        if candidate.symlink_metadata().is_ok() {
            continue;
        }
        std::fs::rename(path, &candidate).map_err(|e| Error::io("rename aside", path, e))?;
        sync_dir(&parent_dir(path))?;
        return Ok(Some(candidate));
    }
    Err(Error::Config(format!(
        "too many quarantined copies of {}",
        path.display()
    )))
}

pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_content_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/cache.json");
        let s1 = write_atomic(&path, b"{\"a\":1}").unwrap();
        let s2 = write_atomic(&path, b"{\"a\":2}").unwrap();
        assert_ne!(s1, s2);
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":2}");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("cache.json")]);
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert!(mtime > SystemTime::now(), "mtime must lead the clock");
    }

    #[test]
    fn reads_stop_at_the_size_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        std::fs::write(&path, vec![b' '; 100]).unwrap();
        let (bytes, _) = read(&path, 100).unwrap().unwrap();
        assert_eq!(bytes.len(), 100, "exactly the limit is read");
        match read(&path, 99) {
            Err(Error::Corrupt {
                reason: CorruptReason::TooLarge { limit: 99 },
                path: p,
            }) => assert_eq!(p, path),
            other => panic!("over the limit: {other:?}"),
        }
        assert!(read(&dir.path().join("absent"), 10).unwrap().is_none());
    }

    /// A link to a device that yields endless bytes is refused before it
    /// is opened.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_link_to_an_endless_device_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        match read(&path, 4096) {
            Err(Error::NotAFile { kind, path: p }) => {
                assert_eq!(kind, "a character device");
                assert_eq!(p, path);
            }
            other => panic!("a device: {other:?}"),
        }
    }

    /// A FIFO is refused at once: opening it to read would wait for a
    /// writer forever.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_fifo_is_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &path,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        )
        .unwrap();
        let e = read(&path, 4096).unwrap_err();
        assert!(matches!(e, Error::NotAFile { kind: "a FIFO", .. }), "{e:?}");
        assert!(
            e.to_string().contains("is a FIFO, not a regular file"),
            "{e}"
        );
        // Even opened directly (as after a swap), it does not block.
        assert!(open_for_read(&path).is_ok());
        let e = read(dir.path(), 4096).unwrap_err();
        assert!(
            matches!(
                e,
                Error::NotAFile {
                    kind: "a directory",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn stale_temps_are_removed_but_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        std::fs::write(dir.path().join(".cache.json.tmp-1-00"), b"x").unwrap();
        std::fs::write(dir.path().join("other.json"), b"x").unwrap();
        remove_stale_temps(&path);
        assert!(!dir.path().join(".cache.json.tmp-1-00").exists());
        assert!(dir.path().join("other.json").exists());
    }

    #[test]
    fn quarantine_never_overwrites_an_earlier_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        std::fs::write(&path, b"1").unwrap();
        let a = quarantine(&path, now).unwrap().unwrap();
        std::fs::write(&path, b"2").unwrap();
        let b = quarantine(&path, now).unwrap().unwrap();
        assert_ne!(a, b);
        assert_eq!(std::fs::read(&a).unwrap(), b"1");
        assert_eq!(std::fs::read(&b).unwrap(), b"2");
        assert!(quarantine(&path, now).unwrap().is_none());
    }
}
