//! The token cache of one application, and the rules of every access to it.
//!
//! Four ways to keep it, chosen when the application is built:
//! - in memory, no hooks: one cache; hits share a read lock, writes take it
//!   alone (public clients, managed identity);
//! - hooks around one cache (a file, any store): the hooks may hand a newer
//!   document before each access and get the changed one after it;
//! - hooks as the storage of a partitioned cache (confidential clients with
//!   a store): each access loads its partition alone;
//! - parsed partitions in memory (confidential clients by default): bounded
//!   in bytes, a hit parses nothing ([`Partitions`]).

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Mutex;

use super::partitions::Partitions;
use crate::cache::TokenCache;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::storage::{CacheAccess, CacheAccessArgs};

/// Which partition an access concerns, as the hooks are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Partition<'a> {
    /// The suggested partition key; `None` = not partitioned.
    pub(crate) key: Option<&'a str>,
    /// Whether this is the app-token cache.
    pub(crate) is_app_cache: bool,
}

impl<'a> Partition<'a> {
    /// Public-client sign-ins and account listing: no partition key.
    pub(crate) const UNPARTITIONED: Partition<'static> = Partition {
        key: None,
        is_app_cache: false,
    };

    /// A user's partition: the `home_account_id` (or, for on-behalf-of, the
    /// incoming assertion's hash).
    pub(crate) fn user(key: &'a str) -> Self {
        Self {
            key: Some(key),
            is_app_cache: false,
        }
    }

    /// The app-token partition (client credentials, managed identity).
    pub(crate) fn app(key: &'a str) -> Self {
        Self {
            key: Some(key),
            is_app_cache: true,
        }
    }
}

/// One app's cache. Every read or write goes through [`CacheIo::read`] or
/// [`CacheIo::access`].
pub(crate) struct CacheIo {
    mode: Mode,
}

enum Mode {
    Memory(RwLock<TokenCache>),
    Hooked {
        cache: Mutex<TokenCache>,
        hooks: Arc<dyn CacheAccess>,
    },
    Stored {
        hooks: Arc<dyn CacheAccess>,
        stripes: Box<[Mutex<()>]>,
        /// The last document each partition's hooks handed over, parsed:
        /// a read that gets the same bytes again parses nothing.
        parsed: ParsedDocuments,
    },
    Partitions(Partitions),
}

/// Lock stripes of a store-backed partitioned cache: accesses to different
/// partitions rarely wait for each other, and memory stays bounded whatever
/// the number of partitions.
const STRIPES: usize = 1024;

impl std::fmt::Debug for CacheIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match &self.mode {
            Mode::Memory(_) => "memory",
            Mode::Hooked { .. } => "hooked",
            Mode::Stored { .. } => "stored partitions",
            Mode::Partitions(_) => "memory partitions",
        };
        f.debug_struct("CacheIo")
            .field("mode", &mode)
            .finish_non_exhaustive()
    }
}

/// A poisoned lock still guards a consistent cache: every operation on it
/// is a synchronous function that either completed or panicked before
/// changing anything visible through the indexes.
fn unpoison<G>(r: std::sync::LockResult<G>) -> G {
    r.unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl CacheIo {
    /// One cache, kept by `hooks` when given, else in memory only.
    pub(crate) fn new(hooks: Option<Arc<dyn CacheAccess>>) -> Self {
        let mode = match hooks {
            Some(hooks) => Mode::Hooked {
                cache: Mutex::new(TokenCache::new()),
                hooks,
            },
            None => Mode::Memory(RwLock::new(TokenCache::new())),
        };
        Self { mode }
    }

    /// A partitioned cache whose storage is `hooks` (confidential clients,
    /// spec §7.3). Each access starts from an empty cache and loads its
    /// partition alone (`before_access` returning `None` = the partition is
    /// empty, as MSAL.NET's partitioned serialization), so a saved document
    /// holds only its own partition's entries and nothing stays in process
    /// memory between accesses. Accesses to the same partition are
    /// serialized (lock stripes); different partitions run in parallel.
    pub(crate) fn stored(hooks: Arc<dyn CacheAccess>) -> Self {
        Self {
            mode: Mode::Stored {
                hooks,
                stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
                parsed: ParsedDocuments::new(PARSED_DOCUMENTS_BYTES),
            },
        }
    }

    /// A partitioned cache kept parsed in memory, at most `max_bytes`
    /// (weighed by serialized size), each partition dropped once it holds
    /// nothing usable by `clock`.
    pub(crate) fn memory_partitions(max_bytes: u64, clock: Arc<dyn Clock>) -> Self {
        Self {
            mode: Mode::Partitions(Partitions::new(max_bytes, clock)),
        }
    }

    /// Replaces the in-memory cache before first use (the app's initial cache).
    pub(crate) fn seed(&mut self, mut cache: TokenCache) {
        cache.mark_unchanged();
        match &mut self.mode {
            Mode::Memory(c) => *unpoison(c.get_mut()) = cache,
            Mode::Hooked { cache: c, .. } => *c.get_mut() = cache,
            Mode::Stored { .. } | Mode::Partitions(_) => {}
        }
    }

    /// Runs the read-only `op` on the partition. Without hooks it holds a
    /// shared lock only, so hits never wait for each other; with hooks it is
    /// an [`access`](Self::access) that changes nothing.
    ///
    /// # Errors
    /// As [`access`](Self::access).
    pub(crate) async fn read<R>(
        &self,
        partition: Partition<'_>,
        op: impl FnOnce(&TokenCache) -> R,
    ) -> Result<R> {
        match &self.mode {
            Mode::Memory(c) => {
                let cache = unpoison(c.read());
                Ok(op(&cache))
            }
            Mode::Partitions(p) => Ok(p.read(partition, op)),
            Mode::Stored { hooks, parsed, .. } => {
                read_stored(hooks.as_ref(), parsed, partition, op).await
            }
            Mode::Hooked { .. } => self.access(partition, |c| Ok(op(c))).await,
        }
    }

    /// Runs `op` on the cache, between the hooks.
    ///
    /// With hooks, the lock is held from `before_access` to `after_access`,
    /// so an operation sees and writes one consistent document.
    /// `before_access` may hand a document, which replaces the in-memory
    /// cache; `after_access` is always called (also when `before_access` or
    /// `op` failed) and gets the serialized document when `op` changed it.
    ///
    /// # Errors
    /// [`Error::Storage`] from a hook, [`Error::CacheFormat`] when the loaded
    /// document cannot be read (nothing is written then), or `op`'s error.
    pub(crate) async fn access<R>(
        &self,
        partition: Partition<'_>,
        op: impl FnOnce(&mut TokenCache) -> Result<R>,
    ) -> Result<R> {
        match &self.mode {
            Mode::Memory(c) => {
                let mut cache = unpoison(c.write());
                let r = op(&mut cache);
                cache.mark_unchanged();
                r
            }
            Mode::Partitions(p) => p.access(partition, op).await,
            Mode::Hooked { cache, hooks } => {
                let mut cache = cache.lock().await;
                access_hooked(&mut cache, hooks.as_ref(), partition, op).await
            }
            Mode::Stored { hooks, stripes, .. } => {
                access_stored(stripes, hooks.as_ref(), partition, op).await
            }
        }
    }
}

/// [`CacheIo::access`] with hooks around one in-memory cache.
async fn access_hooked<R>(
    cache: &mut TokenCache,
    hooks: &dyn CacheAccess,
    partition: Partition<'_>,
    op: impl FnOnce(&mut TokenCache) -> Result<R>,
) -> Result<R> {
    let args = CacheAccessArgs::new(partition.key, partition.is_app_cache);
    let loaded = match hooks.before_access(args).await {
        Ok(Some(doc)) => TokenCache::deserialize_owned(doc)
            .map(Some)
            .map_err(Error::from),
        Ok(None) => Ok(None),
        Err(e) => Err(Error::Storage(e)),
    };
    let load_failed = loaded.is_err();
    let result = match loaded {
        Ok(Some(fresh)) => {
            *cache = fresh;
            cache.mark_unchanged();
            op(cache)
        }
        Ok(None) => op(cache),
        Err(e) => Err(e),
    };
    // Never write after a read that failed: the in-memory cache may still
    // be flagged changed by an earlier failed save, and its document would
    // replace the stored one unseen. The flag stays for a later access.
    let changed = !load_failed && cache.has_state_changed();
    let document = changed.then(|| cache.serialize());
    let expiry = suggested_expiry(cache);
    let after = hooks
        .after_access(args.after(changed, expiry), document.as_deref())
        .await;
    match after {
        Ok(()) if load_failed => {}
        Ok(()) => cache.mark_unchanged(),
        // Keep the change flagged so that the next access saves it again.
        Err(e) if result.is_ok() => return Err(Error::Storage(e)),
        Err(e) => {
            tracing::warn!(kind = %e.kind, "after_access failed after a failed cache operation")
        }
    }
    result
}

/// [`CacheIo::access`] in store-backed partitioned mode.
async fn access_stored<R>(
    stripes: &[Mutex<()>],
    hooks: &dyn CacheAccess,
    partition: Partition<'_>,
    op: impl FnOnce(&mut TokenCache) -> Result<R>,
) -> Result<R> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (partition.key, partition.is_app_cache).hash(&mut h);
    // The remainder is < STRIPES, so it fits in usize.
    let stripe = usize::try_from(h.finish() % stripes.len() as u64).unwrap_or(0);
    let _held = stripes[stripe].lock().await;
    // Nothing is kept in memory: the hooks must hand over what is stored.
    let args = CacheAccessArgs::new(partition.key, partition.is_app_cache).with_partitioned(true);
    let (mut cache, result) = match hooks.before_access(args).await {
        Ok(Some(doc)) => match TokenCache::deserialize_owned(doc) {
            Ok(mut c) => {
                c.mark_unchanged();
                let r = op(&mut c);
                (c, r)
            }
            Err(e) => (TokenCache::new(), Err(Error::from(e))),
        },
        Ok(None) => {
            let mut c = TokenCache::new();
            let r = op(&mut c);
            (c, r)
        }
        Err(e) => (TokenCache::new(), Err(Error::Storage(e))),
    };
    let changed = cache.has_state_changed();
    let document = changed.then(|| cache.serialize());
    let expiry = suggested_expiry(&cache);
    cache.mark_unchanged();
    match hooks
        .after_access(args.after(changed, expiry), document.as_deref())
        .await
    {
        Ok(()) => result,
        // Nothing is kept in memory: the caller learns the write was lost.
        Err(e) if result.is_ok() => Err(Error::Storage(e)),
        Err(e) => {
            tracing::warn!(kind = %e.kind, "after_access failed after a failed cache operation");
            result
        }
    }
}

/// A read in store-backed partitioned mode: no lock stripe (a read writes
/// nothing, so it need not wait for a write in progress; it sees the
/// document before or after it), and the document the hooks hand over is
/// parsed only when it differs from the last one seen for the partition.
async fn read_stored<R>(
    hooks: &dyn CacheAccess,
    parsed: &ParsedDocuments,
    partition: Partition<'_>,
    op: impl FnOnce(&TokenCache) -> R,
) -> Result<R> {
    let args = CacheAccessArgs::new(partition.key, partition.is_app_cache).with_partitioned(true);
    let (result, expiry) = match hooks.before_access(args).await {
        Ok(Some(doc)) => match parsed.get(partition, &doc) {
            Some(hit) => (Ok(op(&hit.cache)), suggested_expiry(&hit.cache)),
            None => match TokenCache::deserialize(&doc) {
                Ok(cache) => {
                    let r = op(&cache);
                    let expiry = suggested_expiry(&cache);
                    parsed.put(partition, doc, cache);
                    (Ok(r), expiry)
                }
                Err(e) => (Err(Error::from(e)), None),
            },
        },
        Ok(None) => (Ok(op(&TokenCache::new())), Some(UNIX_EPOCH)),
        Err(e) => (Err(Error::Storage(e)), None),
    };
    match hooks.after_access(args.after(false, expiry), None).await {
        Ok(()) => result,
        Err(e) if result.is_ok() => Err(Error::Storage(e)),
        Err(e) => {
            tracing::warn!(kind = %e.kind, "after_access failed after a failed cache read");
            result
        }
    }
}

/// How much parsed documents a store-backed cache keeps (weighed by their
/// text): enough for the partitions in use, bounded whatever their number.
const PARSED_DOCUMENTS_BYTES: u64 = 64 << 20;

/// The last document read for each partition, with its parse.
struct ParsedDocuments {
    app: ParsedMap,
    user: ParsedMap,
}

struct Parsed {
    doc: Vec<u8>,
    cache: TokenCache,
}

#[derive(Clone)]
struct ByText;

impl quick_cache::Weighter<String, Arc<Parsed>> for ByText {
    fn weight(&self, key: &String, p: &Arc<Parsed>) -> u64 {
        // The parse holds about as much again as the text.
        u64::try_from(key.len().saturating_add(p.doc.len().saturating_mul(2)))
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

type ParsedMap = quick_cache::sync::Cache<String, Arc<Parsed>, ByText, foldhash::fast::RandomState>;

impl ParsedDocuments {
    fn new(max_bytes: u64) -> Self {
        let map = || {
            quick_cache::sync::Cache::with(
                1024,
                (max_bytes / 2).max(1),
                ByText,
                foldhash::fast::RandomState::default(),
                Default::default(),
            )
        };
        Self {
            app: map(),
            user: map(),
        }
    }

    fn map(&self, p: Partition<'_>) -> &ParsedMap {
        if p.is_app_cache {
            &self.app
        } else {
            &self.user
        }
    }

    /// The parse of `doc` if it is, byte for byte, the last one seen.
    fn get(&self, p: Partition<'_>, doc: &[u8]) -> Option<Arc<Parsed>> {
        self.map(p)
            .get(p.key.unwrap_or(""))
            .filter(|hit| hit.doc == doc)
    }

    fn put(&self, p: Partition<'_>, doc: Vec<u8>, mut cache: TokenCache) {
        cache.mark_unchanged();
        self.map(p).insert(
            p.key.unwrap_or("").to_owned(),
            Arc::new(Parsed { doc, cache }),
        );
    }
}

/// When the cache holds nothing usable any more: its latest access-token
/// expiry, if it holds no refresh token; the epoch once it holds no token
/// and no account (a partition emptied by `remove_account`), so that a store
/// deletes it instead of keeping an empty document with no expiry forever.
pub(super) fn suggested_expiry(cache: &TokenCache) -> Option<SystemTime> {
    if cache.has_refresh_tokens() {
        return None;
    }
    let [access, _, id, accounts, _] = cache.entry_counts();
    if access == 0 && id == 0 && accounts == 0 {
        return Some(UNIX_EPOCH);
    }
    cache
        .latest_access_token_expiry()
        .and_then(|s| u64::try_from(s).ok())
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
}
