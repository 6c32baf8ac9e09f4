//! [`FileCache`]: the file, what this process last saw of it, and the steps
//! run with the lock held.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use msal::clock::Clock;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

use crate::buf::Buf;
use crate::builder::{Encryption, FileCacheBuilder};
use crate::envelope::{self, CacheKey};
use crate::error::{CorruptReason, Error};
use crate::fsio::{self, Stamp};
use crate::keystore::{self, KeyringBackend, KeyringSlot};
use crate::lock::{Attempt, FileLock};

/// First and longest pause between two attempts at a busy lock. An attempt
/// costs a few system calls; waiting longer than a typical hold (one read and
/// one fsynced write) would only leave the lock idle.
const FIRST_BACKOFF: Duration = Duration::from_millis(1);
const MAX_BACKOFF: Duration = Duration::from_millis(20);
/// How often a waiter in this process looks for an abandoned holder.
const LOCAL_POLL: Duration = Duration::from_millis(100);

/// A token cache file shared between processes.
///
/// Plug it into an application as its cache access hooks
/// ([`CacheAccess`](msal::storage::CacheAccess)): `before_access` takes the
/// cross-process lock and hands over the file's document when another process
/// changed it; `after_access` writes the new document atomically when the
/// operation changed it, and always releases the lock. It is also a
/// [`CacheStore`](msal::storage::CacheStore) for simple single-process uses.
///
/// One file holds one unpartitioned document, as MSAL Python's persistence
/// does; a partition key only decides which in-memory copy is up to date.
/// An engine that keeps no cache in memory (a confidential client's
/// partitioned cache, [`CacheAccessArgs::partitioned`]) is handed the whole
/// document at every access, so its writes keep every other entry.
///
/// [`CacheAccessArgs::partitioned`]: msal::storage::CacheAccessArgs::partitioned
///
/// A `FileCache` tracks what the in-memory cache it serves has seen, so give
/// each application (each in-memory cache) its own: a clone shares the file
/// state and the in-process lock but starts its own tracking.
pub struct FileCache {
    pub(crate) inner: Arc<Inner>,
    /// The file version each partition of this handle's in-memory cache was
    /// last synced with.
    pub(crate) synced: Arc<Mutex<Synced>>,
    /// Tells this handle's accesses from those of its clones (see [`Owner`]).
    pub(crate) handle: u64,
}

/// Source of [`FileCache::handle`] numbers.
static NEXT_HANDLE: AtomicU64 = AtomicU64::new(0);

fn next_handle() -> u64 {
    NEXT_HANDLE.fetch_add(1, Ordering::Relaxed)
}

impl Clone for FileCache {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            synced: Arc::default(),
            handle: next_handle(),
        }
    }
}

/// Partition key → file version.
pub(crate) type Synced = HashMap<String, u64>;

impl std::fmt::Debug for FileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCache")
            .field("path", &self.inner.path)
            .field("encryption", &self.inner.mode_name())
            .field("lock_timeout", &self.inner.lock_timeout)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) path: PathBuf,
    pub(crate) lock_path: PathBuf,
    pub(crate) lock_timeout: Duration,
    pub(crate) max_hold: Duration,
    pub(crate) max_file_size: u64,
    pub(crate) clock: Arc<dyn Clock>,
    encryption: Encryption,
    keyring_service: String,
    keyring_user: String,
    /// One access of this process at a time holds the file lock.
    local: Arc<Semaphore>,
    /// The lock held between `before_access` and `after_access`.
    pub(crate) held: Mutex<Option<Held>>,
    state: Mutex<State>,
}

/// The lock of one access in progress. Fields drop in order: the file lock
/// is released before the next local waiter is let in.
pub(crate) struct Held {
    _lock: FileLock,
    _permit: OwnedSemaphorePermit,
    pub(crate) owner: Owner,
    pub(crate) since: SystemTime,
}

/// Which access a held lock belongs to: the handle and the partition it was
/// taken for. An engine runs one access of a partition at a time on its
/// handle, so the `after_access` that matches is the one that took it,
/// whichever task polls it (calls are shared between tasks). A lock taken
/// for another partition or handle is never released by this one: an
/// `after_access` whose `before_access` failed finds none of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) handle: u64,
    pub(crate) partition: Option<String>,
    pub(crate) is_app_cache: bool,
}

/// What this process knows of the file.
#[derive(Default)]
struct State {
    view: View,
    /// Bumped whenever the file's document differs from the one seen before.
    version: u64,
    key: Option<CacheKey>,
    backend: Option<KeyringBackend>,
    temps_cleaned: bool,
}

#[derive(Default)]
enum View {
    /// Not looked at yet, or unreadable at the last look.
    #[default]
    Unknown,
    Absent,
    Present {
        stamp: Stamp,
        seen_at: SystemTime,
        /// The file's bytes (ciphertext, or the document in plain text).
        raw: Vec<u8>,
        /// The decrypted document (`None`: `raw` is the document).
        plain: Option<Buf>,
    },
}

impl View {
    /// A copy of the document, for the caller to own.
    fn document(&self) -> Vec<u8> {
        match self {
            View::Present { plain: Some(p), .. } => p.to_vec(),
            View::Present {
                raw, plain: None, ..
            } if !raw.is_empty() => raw.clone(),
            // No file, or an empty one (MSAL Python reads that as empty too).
            _ => b"{}".to_vec(),
        }
    }
}

impl FileCache {
    /// Starts configuring a cache kept in the file at `path`.
    pub fn builder(path: impl Into<PathBuf>) -> FileCacheBuilder {
        FileCacheBuilder::new(path.into())
    }

    pub(crate) fn from_builder(b: FileCacheBuilder) -> Self {
        let mut lock_name = b
            .path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        lock_name.push(".lockfile");
        let lock_path = b.path.with_file_name(lock_name);
        let keyring_user = b
            .keyring_user
            .unwrap_or_else(|| format!("key:{}", b.path.display()));
        Self {
            inner: Arc::new(Inner {
                lock_path,
                path: b.path,
                lock_timeout: b.lock_timeout,
                max_hold: b.max_hold,
                max_file_size: b.max_file_size,
                clock: b.clock,
                encryption: b.encryption,
                keyring_service: b.keyring_service,
                keyring_user,
                local: Arc::new(Semaphore::new(1)),
                held: Mutex::new(None),
                state: Mutex::new(State::default()),
            }),
            synced: Arc::default(),
            handle: next_handle(),
        }
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The lock file beside it (`<file>.lockfile`).
    pub fn lock_path(&self) -> &Path {
        &self.inner.lock_path
    }

    /// The file's JSON document (decrypted), or `None` when there is no file.
    /// Takes the lock for the read.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the file cannot be read as a cache.
    pub async fn read_document(&self) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let lock = self.inner.acquire().await?;
        let inner = self.inner.clone();
        blocking(move || {
            let _lock = lock;
            let mut st = inner.state();
            inner.refresh(&mut st)?;
            Ok(match &st.view {
                View::Present { .. } => Some(Zeroizing::new(st.view.document())),
                _ => None,
            })
        })
        .await
    }

    /// Moves an unusable file aside to `<file>.corrupt-<unix seconds>` so the
    /// cache starts empty, and returns where it went (`None`: there was no
    /// file). The next access hands every in-memory copy an empty document.
    pub async fn quarantine(&self) -> Result<Option<PathBuf>, Error> {
        let lock = self.inner.acquire().await?;
        let inner = self.inner.clone();
        blocking(move || {
            let _lock = lock;
            let moved = fsio::quarantine(&inner.path, SystemTime::now())?;
            let mut st = inner.state();
            st.view = View::Absent;
            st.version += 1;
            if let Some(p) = &moved {
                tracing::warn!(moved_to = %p.display(), "cache file moved aside");
            }
            Ok(moved)
        })
        .await
    }

    /// Deletes the file and, when the key is kept in a keyring, the key.
    pub async fn delete(&self) -> Result<(), Error> {
        let lock = self.inner.acquire().await?;
        let inner = self.inner.clone();
        blocking(move || {
            let _lock = lock;
            fsio::remove(&inner.path)?;
            let mut st = inner.state();
            st.view = View::Absent;
            st.version += 1;
            st.key = None;
            // No secret store at all (Auto): then there is no key to delete.
            if let Ok(Some(slot)) = inner.keyring_slot(&mut st, true) {
                slot.delete()?;
            }
            Ok(())
        })
        .await
    }
}

impl Inner {
    fn mode_name(&self) -> &'static str {
        match &self.encryption {
            Encryption::Auto => "auto",
            Encryption::Keyring(_) => "keyring",
            Encryption::Aes256Gcm(_) => "aes-256-gcm",
            Encryption::Plaintext => "plaintext",
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes this process's turn, then the cross-process lock, within the
    /// lock timeout.
    pub(crate) async fn acquire(&self) -> Result<(OwnedSemaphorePermit, FileLock), Error> {
        let start = self.clock.now();
        // A timeout too large to add to the clock means no deadline.
        let deadline = start.checked_add(self.lock_timeout);
        let time_left = || match deadline {
            Some(d) => d.duration_since(self.clock.now()).unwrap_or_default(),
            None => Duration::MAX,
        };
        let timeout = |holder_pid| Error::LockTimeout {
            lock_path: self.lock_path.clone(),
            waited: self.clock.now().duration_since(start).unwrap_or_default(),
            holder_pid,
        };
        let permit = loop {
            if let Ok(p) = self.local.clone().try_acquire_owned() {
                break p;
            }
            self.reclaim_abandoned();
            let left = time_left();
            if left.is_zero() {
                return Err(timeout(Some(std::process::id())));
            }
            tokio::select! {
                p = self.local.clone().acquire_owned() => match p {
                    Ok(p) => break p,
                    Err(_) => return Err(Error::Config("the cache's local lock was closed".into())),
                },
                _ = self.clock.sleep(left.min(LOCAL_POLL)) => {}
            }
        };
        fsio::ensure_dir(&fsio::parent_dir(&self.path))?;
        let mut backoff = FIRST_BACKOFF;
        loop {
            let holder = match FileLock::try_acquire(&self.lock_path)? {
                Attempt::Acquired(lock) => return Ok((permit, lock)),
                Attempt::Busy(pid) => pid,
            };
            let left = time_left();
            if left.is_zero() {
                return Err(timeout(holder));
            }
            // Jitter keeps several waiters from retrying in lock step.
            let pause = backoff.mul_f64(0.5 + rand::random::<f64>() * 0.5).min(left);
            self.clock.sleep(pause).await;
            backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
        }
    }

    /// Releases a lock kept by an access of this process that never called
    /// `after_access` (its future was dropped) for longer than `max_hold`.
    fn reclaim_abandoned(&self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let expired = held.as_ref().is_some_and(|h| {
            self.clock
                .now()
                .duration_since(h.since)
                .is_ok_and(|d| d >= self.max_hold)
        });
        if expired {
            tracing::warn!("releasing a cache lock abandoned by an access that never finished");
            *held = None;
        }
    }

    /// Keeps the lock of `owner`'s access until its `after_access`.
    pub(crate) fn hold(&self, lock: FileLock, permit: OwnedSemaphorePermit, owner: Owner) {
        let held = Held {
            _lock: lock,
            _permit: permit,
            owner,
            since: self.clock.now(),
        };
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = Some(held);
    }

    /// The lock held for `owner`'s access, taken out of the slot.
    pub(crate) fn take_held(&self, owner: &Owner) -> Option<Held> {
        let mut slot = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|h| h.owner == *owner) {
            slot.take()
        } else {
            None
        }
    }

    /// Brings the view up to date with the file and returns the partition's
    /// document if its in-memory copy is out of date. With `always` (the
    /// engine keeps no in-memory copy) it returns the document whenever
    /// there is a file. Lock held.
    pub(crate) fn sync_partition(
        &self,
        synced: &Mutex<Synced>,
        partition: &str,
        took_over: bool,
        always: bool,
    ) -> Result<Option<Vec<u8>>, Error> {
        let mut st = self.state();
        let mut synced = synced.lock().unwrap_or_else(|p| p.into_inner());
        if took_over || !st.temps_cleaned {
            fsio::remove_stale_temps(&self.path);
            st.temps_cleaned = true;
        }
        self.refresh(&mut st)?;
        let version = st.version;
        if always {
            synced.insert(partition.to_owned(), version);
            return Ok(match &st.view {
                View::Present { .. } => Some(st.view.document()),
                _ => None,
            });
        }
        if synced.get(partition) == Some(&version) {
            return Ok(None);
        }
        synced.insert(partition.to_owned(), version);
        Ok(Some(st.view.document()))
    }

    /// Writes `document` for `partition`. With `expect_synced`, refuses when
    /// the file moved on since the partition was synced. Lock held.
    pub(crate) fn write_partition(
        &self,
        synced: &Mutex<Synced>,
        partition: &str,
        document: Buf,
        expect_synced: bool,
    ) -> Result<(), Error> {
        let mut st = self.state();
        let mut synced = synced.lock().unwrap_or_else(|p| p.into_inner());
        // Never write over a file we could not read: refresh fails on it.
        self.refresh(&mut st)?;
        if expect_synced && synced.get(partition) != Some(&st.version) {
            return Err(Error::Conflict {
                path: self.path.clone(),
            });
        }
        self.write(&mut st, document)?;
        synced.insert(partition.to_owned(), st.version);
        Ok(())
    }

    /// Replaces the file with `document`. Lock held.
    pub(crate) fn write_document(&self, document: Buf) -> Result<(), Error> {
        let mut st = self.state();
        self.refresh(&mut st)?;
        self.write(&mut st, document)
    }

    /// Deletes the file. Lock held.
    pub(crate) fn remove_file(&self) -> Result<(), Error> {
        fsio::remove(&self.path)?;
        let mut st = self.state();
        st.view = View::Absent;
        st.version += 1;
        Ok(())
    }

    /// The document as it is on disk now (`None`: no file). Lock held.
    pub(crate) fn current_document(&self) -> Result<Option<Vec<u8>>, Error> {
        let mut st = self.state();
        self.refresh(&mut st)?;
        Ok(match &st.view {
            View::Present { .. } => Some(st.view.document()),
            _ => None,
        })
    }

    fn refresh(&self, st: &mut State) -> Result<(), Error> {
        let now = fsio::stamp(&self.path)?;
        match (&st.view, now) {
            (View::Absent, None) => return Ok(()),
            (View::Present { stamp, seen_at, .. }, Some(cur))
                if *stamp == cur && !stamp.is_racy(*seen_at) =>
            {
                return Ok(());
            }
            _ => {}
        }
        let Some((raw, stamp)) = fsio::read(&self.path, self.max_file_size)? else {
            if !matches!(st.view, View::Absent) {
                st.view = View::Absent;
                st.version += 1;
            }
            return Ok(());
        };
        let seen_at = SystemTime::now();
        if let View::Present {
            raw: old,
            stamp: s,
            seen_at: t,
            ..
        } = &mut st.view
            && *old == raw
        {
            (*s, *t) = (stamp, seen_at);
            return Ok(());
        }
        match self.decode(st, &raw) {
            Ok(plain) => {
                st.view = View::Present {
                    stamp,
                    seen_at,
                    raw,
                    plain,
                };
                st.version += 1;
                Ok(())
            }
            Err(e) => {
                // Forget what we had: nothing may be written until the file
                // reads again (or is quarantined).
                st.view = View::Unknown;
                st.version += 1;
                Err(e)
            }
        }
    }

    /// The document inside `raw` (`None`: `raw` itself is the document).
    fn decode(&self, st: &mut State, raw: &[u8]) -> Result<Option<Buf>, Error> {
        let corrupt = |reason| Error::corrupt(&self.path, reason);
        if raw.is_empty() {
            return Ok(None);
        }
        if matches!(self.encryption, Encryption::Plaintext) {
            if envelope::looks_encrypted(raw) {
                return Err(corrupt(CorruptReason::EncryptedButPlaintextConfigured));
            }
            validate_json(raw).map_err(corrupt)?;
            return Ok(None);
        }
        if !envelope::looks_encrypted(raw) {
            return Err(corrupt(CorruptReason::PlaintextButEncryptionConfigured));
        }
        let key = match self.key(st, false)? {
            Some(k) => k,
            None => return Err(corrupt(CorruptReason::KeyMissing)),
        };
        let plain = match envelope::open(&key, raw) {
            // Another process may have replaced the key in the keyring.
            Err(CorruptReason::WrongKey) if self.keyring_slot(st, false)?.is_some() => {
                st.key = None;
                match self.key(st, false)? {
                    Some(k) => envelope::open(&k, raw),
                    None => Err(CorruptReason::KeyMissing),
                }
            }
            other => other,
        };
        let plain = Buf::new(std::mem::take(&mut *plain.map_err(corrupt)?), true);
        validate_json(&plain).map_err(corrupt)?;
        Ok(Some(plain))
    }

    /// Whether documents of this cache are wiped from memory when dropped.
    pub(crate) fn wipes(&self) -> bool {
        !matches!(self.encryption, Encryption::Plaintext)
    }

    fn write(&self, st: &mut State, document: Buf) -> Result<(), Error> {
        let (raw, plain) = if matches!(self.encryption, Encryption::Plaintext) {
            (document.into_vec(), None)
        } else {
            let key = self.key(st, true)?.ok_or_else(|| Error::Keyring {
                message: "no key".into(),
                source: None,
            })?;
            (envelope::seal(&key, &document)?, Some(document))
        };
        let len = u64::try_from(raw.len()).unwrap_or(u64::MAX);
        if len > self.max_file_size {
            return Err(Error::TooLarge {
                path: self.path.clone(),
                len,
                limit: self.max_file_size,
            });
        }
        let stamp = fsio::write_atomic(&self.path, &raw)?;
        st.view = View::Present {
            stamp,
            seen_at: SystemTime::now(),
            raw,
            plain,
        };
        st.version += 1;
        Ok(())
    }

    /// The encryption key; with `create`, a new one is made and stored when
    /// the keyring has none (only ever under the file lock).
    fn key(&self, st: &mut State, create: bool) -> Result<Option<CacheKey>, Error> {
        if let Encryption::Aes256Gcm(k) = &self.encryption {
            return Ok(Some(k.clone()));
        }
        if let Some(k) = &st.key {
            return Ok(Some(k.clone()));
        }
        let Some(slot) = self.keyring_slot(st, true)? else {
            return Ok(None);
        };
        let mut key = slot.load()?;
        if key.is_none() && create {
            slot.store(&CacheKey::generate())?;
            // Read back: what the store kept is what others will read.
            key = slot.load()?;
            if key.is_none() {
                return Err(Error::Keyring {
                    message: "the keyring did not keep the new cache key".into(),
                    source: None,
                });
            }
        }
        st.key = key.clone();
        Ok(key)
    }

    /// The keyring entry of this file (resolving `Auto` once), or `None` when
    /// the key does not come from a keyring. With `resolve` false, `Auto`
    /// that was never resolved gives `None`.
    fn keyring_slot(&self, st: &mut State, resolve: bool) -> Result<Option<KeyringSlot>, Error> {
        let backend = match &self.encryption {
            Encryption::Keyring(b) => *b,
            Encryption::Auto => match st.backend {
                Some(b) => b,
                None if resolve => {
                    let b = keystore::auto_backend()?;
                    st.backend = Some(b);
                    b
                }
                None => return Ok(None),
            },
            Encryption::Aes256Gcm(_) | Encryption::Plaintext => return Ok(None),
        };
        Ok(Some(KeyringSlot {
            backend,
            service: self.keyring_service.clone(),
            user: self.keyring_user.clone(),
        }))
    }
}

/// Checks that `bytes` hold one JSON object, without building it. A UTF-8
/// byte-order mark in front (left by editors and PowerShell) is accepted:
/// the cache reads past it and never writes one.
fn validate_json(bytes: &[u8]) -> Result<(), CorruptReason> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(CorruptReason::NotJson);
    }
    match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        Ok(_) => Ok(()),
        Err(e) if e.classify() == serde_json::error::Category::Eof => Err(CorruptReason::Truncated),
        Err(_) => Err(CorruptReason::NotJson),
    }
}

/// Runs blocking file and keyring work off the async threads. If the caller's
/// future is dropped the work still completes, and whatever lock it owns is
/// released when it ends.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(Error::io(
            "run",
            PathBuf::new(),
            std::io::Error::other(e.to_string()),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_validation_tells_truncated_from_garbage() {
        assert_eq!(validate_json(b" {\"a\": [1, 2]} \n"), Ok(()));
        assert_eq!(
            validate_json(b"{\"a\": [1, 2"),
            Err(CorruptReason::Truncated)
        );
        assert_eq!(validate_json(b"[]"), Err(CorruptReason::NotJson));
        assert_eq!(validate_json(b"{\"a\" 1}"), Err(CorruptReason::NotJson));
        assert_eq!(validate_json(b"{} {}"), Err(CorruptReason::NotJson));
        assert_eq!(validate_json(b"   "), Err(CorruptReason::Truncated));
        assert_eq!(validate_json(b"\xEF\xBB\xBF{\"a\": 1}"), Ok(()));
        assert_eq!(
            validate_json(b"\xEF\xBB\xBF[]"),
            Err(CorruptReason::NotJson)
        );
        assert_eq!(validate_json(b"\xEF\xBB{}"), Err(CorruptReason::NotJson));
    }
}
