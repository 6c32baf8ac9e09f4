//! The in-memory token cache of one app, with the [`CacheAccess`] hooks
//! called around every access (spec §7.3 partition keys).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Mutex;

use crate::cache::TokenCache;
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

    /// A user's partition: the `home_account_id`.
    pub(crate) fn user(home_account_id: &'a str) -> Self {
        Self {
            key: Some(home_account_id),
            is_app_cache: false,
        }
    }

    /// The app-token partition (client credentials, managed identity):
    /// `<client_id>_<tenant>_AppTokenCache`, built with [`app_partition_key`].
    #[allow(dead_code)]
    pub(crate) fn app(key: &'a str) -> Self {
        Self {
            key: Some(key),
            is_app_cache: true,
        }
    }
}

/// `<client_id>_<tenant>_AppTokenCache` (spec §7.3; `tenant` may be empty).
pub fn app_partition_key(client_id: &str, tenant: &str) -> String {
    format!("{client_id}_{tenant}_AppTokenCache")
}

/// One app's cache: a [`TokenCache`] behind an async lock, and the optional
/// hooks. Every read or write goes through [`CacheIo::access`].
pub(crate) struct CacheIo {
    cache: Mutex<TokenCache>,
    hooks: Option<Arc<dyn CacheAccess>>,
    /// Partitioned mode (confidential clients): see [`CacheIo::partitioned`].
    stripes: Option<Box<[Mutex<()>]>>,
}

/// Lock stripes of a partitioned cache: accesses to different partitions
/// rarely wait for each other, and memory stays bounded whatever the
/// number of partitions.
const STRIPES: usize = 1024;

impl std::fmt::Debug for CacheIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheIo")
            .field("hooks", &self.hooks.is_some())
            .field("partitioned", &self.stripes.is_some())
            .finish_non_exhaustive()
    }
}

impl CacheIo {
    /// An empty cache with optional hooks.
    pub(crate) fn new(hooks: Option<Arc<dyn CacheAccess>>) -> Self {
        Self {
            cache: Mutex::new(TokenCache::new()),
            hooks,
            stripes: None,
        }
    }

    /// Replaces the in-memory cache before first use (the app's initial cache).
    pub(crate) fn seed(&mut self, mut cache: TokenCache) {
        cache.mark_unchanged();
        *self.cache.get_mut() = cache;
    }

    /// A partitioned cache (confidential clients, spec §7.3): the hooks are
    /// the storage. Each access starts from an empty cache and loads its
    /// partition alone (`before_access` returning `None` = the partition is
    /// empty, as MSAL.NET's partitioned serialization), so a saved document
    /// holds only its own partition's entries and nothing stays in process
    /// memory between accesses. Accesses to the same partition are
    /// serialized (lock stripes); different partitions run in parallel.
    pub(crate) fn partitioned(hooks: Arc<dyn CacheAccess>) -> Self {
        Self {
            cache: Mutex::new(TokenCache::new()),
            hooks: Some(hooks),
            stripes: Some((0..STRIPES).map(|_| Mutex::new(())).collect()),
        }
    }

    /// Runs `op` on the cache, between the hooks.
    ///
    /// The lock is held from `before_access` to `after_access`, so an
    /// operation sees and writes one consistent document. `before_access`
    /// may hand a document, which replaces the in-memory cache;
    /// `after_access` is always called (also when `before_access` or `op`
    /// failed) and gets the serialized document when `op` changed it.
    ///
    /// # Errors
    /// [`Error::Storage`] from a hook, [`Error::CacheFormat`] when the loaded
    /// document cannot be read (nothing is written then), or `op`'s error.
    pub(crate) async fn access<R>(
        &self,
        partition: Partition<'_>,
        op: impl FnOnce(&mut TokenCache) -> Result<R>,
    ) -> Result<R> {
        if let (Some(stripes), Some(hooks)) = (&self.stripes, &self.hooks) {
            return access_partition(stripes, hooks.as_ref(), partition, op).await;
        }
        let mut cache = self.cache.lock().await;
        let Some(hooks) = &self.hooks else {
            let r = op(&mut cache);
            cache.mark_unchanged();
            return r;
        };
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
                op(&mut cache)
            }
            Ok(None) => op(&mut cache),
            Err(e) => Err(e),
        };
        // Never write after a read that failed: the in-memory cache may still
        // be flagged changed by an earlier failed save, and its document would
        // replace the stored one unseen. The flag stays for a later access.
        let changed = !load_failed && cache.has_state_changed();
        let document = changed.then(|| cache.serialize());
        let expiry = suggested_expiry(&cache);
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
}

/// [`CacheIo::access`] in partitioned mode.
async fn access_partition<R>(
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

/// When the cache holds nothing usable any more: its latest access-token
/// expiry, if it holds no refresh token; the epoch once it holds no token
/// and no account (a partition emptied by `remove_account`), so that a store
/// deletes it instead of keeping an empty document with no expiry forever.
fn suggested_expiry(cache: &TokenCache) -> Option<SystemTime> {
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
