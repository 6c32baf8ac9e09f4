//! [`MemoryStore`]: the default store, a size-bounded in-process cache (moka).
//!
//! # Two clocks, on purpose
//! moka measures time with its own monotonic clock and uses it to *free
//! memory*: an entry whose time is up is evicted in the background. Whether a
//! partition still holds anything *usable* is decided by msal's [`Clock`]
//! (the same one that decides token expiry): [`MemoryStore::load`] compares
//! the partition's `expires_at` with `clock.now()` and reports a miss once it
//! has passed, whatever moka has or has not evicted yet. Tests therefore move
//! a [`ManualClock`](crate::clock::ManualClock) instead of sleeping, and in
//! production the two agree because both follow real time.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moka::Expiry;
use moka::future::Cache;

use super::{CacheStore, SaveHint, StorageError};
use crate::clock::{Clock, SystemClock};
use crate::http::BoxFuture;

/// Default size limit: 256 MiB of documents and keys.
pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;

/// Longest lifetime handed to moka. moka panics on durations beyond 1000
/// years, so longer hints and settings are cut to this (it is forever here).
const MAX_LIFETIME: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// One stored partition.
#[derive(Debug)]
struct Entry {
    document: Box<[u8]>,
    /// When the partition stops holding anything usable (msal's clock).
    expires_at: Option<SystemTime>,
    /// `expires_at` as a duration from the save, for moka's eviction.
    ttl: Option<Duration>,
}

/// Feeds each entry's own lifetime to moka. Reads keep the remaining time;
/// a replacement starts the new document's lifetime.
struct PerEntryExpiry;

impl Expiry<String, Arc<Entry>> for PerEntryExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Arc<Entry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        value.ttl
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Arc<Entry>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        value.ttl
    }
}

/// An in-process [`CacheStore`] bounded in bytes, built on moka's async cache.
///
/// - Each document weighs its length plus its key's; once the total passes
///   [`max_bytes`](MemoryStoreBuilder::max_bytes), moka evicts the entries
///   least likely to be used again.
/// - Each partition lives until the `expires_at` of its [`SaveHint`] (the
///   latest expiry of its tokens, when it holds no refresh token).
/// - Optionally, a partition nobody read for a while is dropped
///   ([`sliding_expiration`](MemoryStoreBuilder::sliding_expiration)), and
///   none lives longer than [`time_to_live`](MemoryStoreBuilder::time_to_live).
///
/// Cloning is cheap and clones share the same entries.
///
/// ```
/// # tokio_test_block_on(async {
/// use std::time::Duration;
/// use msal::storage::{CacheStore, MemoryStore, SaveHint};
///
/// let store = MemoryStore::builder()
///     .max_bytes(64 << 20)
///     .sliding_expiration(Duration::from_secs(3600))
///     .build();
/// store.save("client_tenant_AppTokenCache", b"{}".to_vec(), SaveHint::default()).await.unwrap();
/// assert_eq!(store.load("client_tenant_AppTokenCache").await.unwrap().as_deref(), Some(&b"{}"[..]));
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    cache: Cache<String, Arc<Entry>>,
    clock: Arc<dyn Clock>,
    max_bytes: u64,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the documents: they hold tokens.
        f.debug_struct("MemoryStore")
            .field("max_bytes", &self.max_bytes)
            .field("entries", &self.cache.entry_count())
            .field("weighted_size", &self.cache.weighted_size())
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl MemoryStore {
    /// A store with the defaults: [`DEFAULT_MAX_BYTES`], no idle or
    /// absolute limit, the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts configuring a store.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder::default()
    }

    /// The configured size limit in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The bytes held (documents plus keys), as of moka's last maintenance;
    /// call [`run_pending_tasks`](Self::run_pending_tasks) first for an
    /// up-to-date figure.
    pub fn weighted_size(&self) -> u64 {
        self.cache.weighted_size()
    }

    /// The number of partitions held, as of moka's last maintenance.
    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Runs moka's pending maintenance now (evictions for size and time).
    pub async fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks().await;
    }

    /// Drops every partition.
    pub fn clear(&self) {
        self.cache.invalidate_all();
    }

    async fn load_owned(&self, partition: String) -> Option<Vec<u8>> {
        let entry = self.cache.get(&partition).await?;
        if entry.expires_at.is_some_and(|at| self.clock.now() >= at) {
            self.cache.invalidate(&partition).await;
            return None;
        }
        Some(entry.document.to_vec())
    }

    async fn save_owned(&self, partition: String, document: Vec<u8>, hint: SaveHint) {
        let ttl = match hint.expires_at {
            None => None,
            Some(at) => match at.duration_since(self.clock.now()) {
                Ok(left) if !left.is_zero() => Some(left.min(MAX_LIFETIME)),
                // Already expired: the partition now holds nothing usable.
                _ => {
                    self.cache.invalidate(&partition).await;
                    return;
                }
            },
        };
        let entry = Entry {
            document: document.into_boxed_slice(),
            expires_at: hint.expires_at,
            ttl,
        };
        self.cache.insert(partition, Arc::new(entry)).await;
    }
}

impl CacheStore for MemoryStore {
    fn load(&self, partition: &str) -> BoxFuture<'_, Result<Option<Vec<u8>>, StorageError>> {
        let partition = partition.to_owned();
        Box::pin(async move { Ok(self.load_owned(partition).await) })
    }

    fn save(
        &self,
        partition: &str,
        document: Vec<u8>,
        hint: SaveHint,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        let partition = partition.to_owned();
        Box::pin(async move {
            self.save_owned(partition, document, hint).await;
            Ok(())
        })
    }

    fn remove(&self, partition: &str) -> BoxFuture<'_, Result<(), StorageError>> {
        let partition = partition.to_owned();
        Box::pin(async move {
            self.cache.invalidate(&partition).await;
            Ok(())
        })
    }
}

/// Configures a [`MemoryStore`]. Setters never fail; out-of-range durations
/// are cut to 100 years.
#[must_use]
pub struct MemoryStoreBuilder {
    max_bytes: u64,
    time_to_idle: Option<Duration>,
    time_to_live: Option<Duration>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryStoreBuilder {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            time_to_idle: None,
            time_to_live: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for MemoryStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStoreBuilder")
            .field("max_bytes", &self.max_bytes)
            .field("time_to_idle", &self.time_to_idle)
            .field("time_to_live", &self.time_to_live)
            .finish_non_exhaustive()
    }
}

impl MemoryStoreBuilder {
    /// The most bytes (documents plus keys) to hold; default
    /// [`DEFAULT_MAX_BYTES`]. A single document larger than this is not kept.
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Drops a partition nobody loaded or saved for `idle` (moka's
    /// time-to-idle). Same as [`sliding_expiration`](Self::sliding_expiration).
    pub fn time_to_idle(mut self, idle: Duration) -> Self {
        self.time_to_idle = Some(idle.min(MAX_LIFETIME));
        self
    }

    /// Sliding expiration, as ASP.NET's distributed caches call it: each
    /// access gives the partition another `window`. A partition still never
    /// outlives its own expiry.
    pub fn sliding_expiration(self, window: Duration) -> Self {
        self.time_to_idle(window)
    }

    /// Drops every partition `max_age` after it was saved, even one that is
    /// read all the time (bounds how stale a copy can be, e.g. for an L1 in
    /// front of a shared store).
    pub fn time_to_live(mut self, max_age: Duration) -> Self {
        self.time_to_live = Some(max_age.min(MAX_LIFETIME));
        self
    }

    /// The clock that decides when a partition's `expires_at` has passed
    /// (default: the system clock). moka's own clock still paces eviction.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the store.
    pub fn build(self) -> MemoryStore {
        let mut builder = Cache::builder()
            .max_capacity(self.max_bytes)
            .weigher(|key: &String, entry: &Arc<Entry>| {
                u32::try_from(key.len().saturating_add(entry.document.len())).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryExpiry);
        if let Some(idle) = self.time_to_idle {
            builder = builder.time_to_idle(idle);
        }
        if let Some(max_age) = self.time_to_live {
            builder = builder.time_to_live(max_age);
        }
        MemoryStore {
            cache: builder.build(),
            clock: self.clock,
            max_bytes: self.max_bytes,
        }
    }
}

#[cfg(test)]
mod tests;
