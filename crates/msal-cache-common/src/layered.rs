//! [`Layered`]: a [`CacheStore`] made of an optional in-memory L1 in front of
//! a shared L2 (a [`RemoteBackend`]: Redis, PostgreSQL), with optional
//! encryption of what reaches L2, and a policy for when L2 fails.
//!
//! - Load: L1 first; on a miss, L2, and an L2 hit is copied into L1 with its
//!   remaining lifetime (read-through).
//! - Save and remove: L1, then L2 (write-through). L1 holds plaintext (it is
//!   the process's own memory, like the engine's in-memory cache); only L2
//!   values are encrypted. Expiries are capped at [`MAX_TTL`](crate::time::MAX_TTL) from now.
//! - L2 outage (an error of kind [`Unavailable`](StorageErrorKind::Unavailable)
//!   or [`Io`](StorageErrorKind::Io), or no answer within
//!   [`operation_timeout`](LayerConfig::operation_timeout)): with
//!   [`fail_open`](LayerConfig::fail_open) (the default) the call goes on as
//!   if L2 missed or accepted the write: the engine then uses L1 or asks the
//!   identity provider. The outage is logged once at warn, L2 is tried again
//!   once per [`retry_interval`](LayerConfig::retry_interval), and its return
//!   is logged once at info (see [`Health`]).
//! - Contention ([`LockTimeout`](StorageErrorKind::LockTimeout): no pooled
//!   connection free in time, a deadlock, a lock not granted): ridden out the
//!   same way for that call, but the server is healthy, so it is not marked
//!   down and the next call uses it as usual.
//! - An unreadable value (one that cannot be decrypted with any configured
//!   key, or that the backend reports [`Corrupt`](StorageErrorKind::Corrupt)
//!   on read, such as a Redis key of the wrong type): logged at warn (with a
//!   hash of the partition key, never the key, which may be a user's
//!   `home_account_id`), deleted from L1 and L2 (best effort) and reported
//!   as a miss, so the engine asks the identity provider and its save
//!   replaces the value. Left in place, it would fail every call on that
//!   partition until it expired (never, for one holding refresh tokens).
//! - Any other error ([`Other`](StorageErrorKind::Other): a request the
//!   server refused, such as a key PostgreSQL cannot store, or credentials
//!   Redis rejects) is the caller's: it is returned, and does not count as an
//!   outage (the server answered; riding out a configuration error would
//!   hide it).
//!
//! # Consistency
//! Without an invalidation listener ([`Layered::new`]), an L1 copy can be as
//! old as the L1's own limits allow (set a
//! [`time_to_live`](msal::storage::MemoryStoreBuilder::time_to_live) on it
//! when several instances share L2). With one ([`Layered::with_listener`]),
//! another instance's change drops this instance's copy a message later, and
//! a lost listener connection empties L1 (see [`coherence`](crate::coherence)
//! for the exact rules). Writes made while L2 was down live only
//! in L1; when L2 returns it still holds what it held before the outage. The
//! delete of an unreadable value is not conditional: a good value another
//! instance wrote in between is lost too, which costs one token request.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use msal::clock::{Clock, SystemClock};
use msal::http::BoxFuture;
use msal::storage::{CacheStore, MemoryStore, SaveHint, StorageError, StorageErrorKind};

use crate::coherence::{InvalidationListener, InvalidationStatus, Listening};
use crate::crypto::{Cipher, EncryptionKey};
use crate::health::Health;
use crate::time::clamp_expiry;

/// A value as a backend stores it.
#[derive(Clone, PartialEq, Eq)]
pub struct Stored {
    /// The (possibly encrypted) document.
    pub value: Vec<u8>,
    /// When it expires, if ever.
    pub expires_at: Option<SystemTime>,
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stored")
            .field("len", &self.value.len())
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The shared store under a [`Layered`] store: plain get/put/delete of bytes.
/// `now` is msal's clock, so a backend computes relative TTLs and filters
/// expired rows by the same time the engine uses.
pub trait RemoteBackend: Send + Sync + 'static {
    /// A short name for logs, e.g. `"redis"`.
    fn name(&self) -> &'static str;
    /// The value under `key`, unless absent or expired at `now`.
    fn get(
        &self,
        key: &str,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<Option<Stored>, StorageError>>;
    /// Stores `value` under `key` until `expires_at` (which is after `now`).
    fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        expires_at: Option<SystemTime>,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<(), StorageError>>;
    /// Deletes `key` (absent is fine).
    fn delete(&self, key: &str) -> BoxFuture<'_, Result<(), StorageError>>;
}

/// Default bound on one L2 call.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time between probes of an unavailable L2.
pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(5);

/// The options every layered store shares. Setters never fail.
#[must_use]
#[derive(Clone)]
pub struct LayerConfig {
    l1: Option<MemoryStore>,
    key: Option<EncryptionKey>,
    previous_keys: Vec<EncryptionKey>,
    clock: Arc<dyn Clock>,
    operation_timeout: Duration,
    retry_interval: Duration,
    fail_open: bool,
}

impl Default for LayerConfig {
    fn default() -> Self {
        Self {
            l1: None,
            key: None,
            previous_keys: Vec::new(),
            clock: Arc::new(SystemClock),
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            retry_interval: DEFAULT_RETRY_INTERVAL,
            fail_open: true,
        }
    }
}

impl std::fmt::Debug for LayerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            l1,
            key,
            previous_keys,
            clock: _,
            operation_timeout,
            retry_interval,
            fail_open,
        } = self;
        f.debug_struct("LayerConfig")
            .field("l1", l1)
            .field("encryption", &if key.is_some() { "set" } else { "not set" })
            .field("previous_keys", &previous_keys.len())
            .field("operation_timeout", operation_timeout)
            .field("retry_interval", retry_interval)
            .field("fail_open", fail_open)
            .finish_non_exhaustive()
    }
}

impl LayerConfig {
    /// Puts `l1` in front of the shared store. Give it a
    /// [`time_to_live`](msal::storage::MemoryStoreBuilder::time_to_live) to
    /// bound how stale its copies may get, and the same clock as this store.
    pub fn l1(mut self, l1: MemoryStore) -> Self {
        self.l1 = Some(l1);
        self
    }

    /// Encrypts values in the shared store with `key` (AES-256-GCM).
    pub fn encryption_key(mut self, key: EncryptionKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Also decrypts with `key`, a key being rotated out: values it sealed
    /// stay readable, new values are sealed with the
    /// [`encryption_key`](Self::encryption_key). Call once per old key; they
    /// are tried in order after the primary. Ignored without an
    /// `encryption_key`. See [`crypto`](crate::crypto) for the rotation steps.
    pub fn previous_encryption_key(mut self, key: EncryptionKey) -> Self {
        self.previous_keys.push(key);
        self
    }

    /// msal's clock: expiry of values and the retry interval follow it
    /// (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The longest one call to the shared store may take before it counts as
    /// a failure (default [`DEFAULT_OPERATION_TIMEOUT`]).
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Whether an [`l1`](Self::l1) is configured (a backend starts an
    /// invalidation listener only then).
    pub fn has_l1(&self) -> bool {
        self.l1.is_some()
    }

    /// The configured [`operation_timeout`](Self::operation_timeout), for a
    /// backend that sizes its own waits (a pool's acquire timeout) below it.
    pub fn get_operation_timeout(&self) -> Duration {
        self.operation_timeout
    }

    /// While the shared store is unavailable, how often a call tries it again
    /// (default [`DEFAULT_RETRY_INTERVAL`]; zero: every call).
    pub fn retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = interval;
        self
    }

    /// Whether a failing shared store is ridden out (`true`, the default) or
    /// reported to the caller as [`StorageErrorKind::Unavailable`] (`false`,
    /// after L1 was still updated).
    pub fn fail_open(mut self, fail_open: bool) -> Self {
        self.fail_open = fail_open;
        self
    }
}

/// Whether `error` means L2 is not usable right now (rather than that it
/// refused this request, or was busy).
fn is_outage(error: &StorageError) -> bool {
    matches!(
        error.kind,
        StorageErrorKind::Unavailable | StorageErrorKind::Io
    )
}

/// Whether `error` is ridden out under `fail_open`: an outage, or contention
/// on a healthy server (which [`is_outage`] leaves out so that a burst does
/// not mark the store down).
fn is_transient(error: &StorageError) -> bool {
    is_outage(error) || error.kind == StorageErrorKind::LockTimeout
}

/// A short, stable hash of a partition key for logs: lets an operator tell
/// whether warnings concern one partition or many without writing the key,
/// which may be a user's `home_account_id` (personal data).
fn partition_hash(key: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    format!("{:016x}", h.finish())
}

struct Inner<B> {
    backend: B,
    l1: Option<MemoryStore>,
    cipher: Option<Cipher>,
    clock: Arc<dyn Clock>,
    health: Health,
    operation_timeout: Duration,
    fail_open: bool,
    /// With an L1 and an invalidation listener: keeps L1 coherent.
    listening: Option<Listening>,
}

/// An L1 + L2 [`CacheStore`] over a [`RemoteBackend`]. Cheap to clone.
pub struct Layered<B> {
    inner: Arc<Inner<B>>,
}

impl<B> Clone for Layered<B> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<B: RemoteBackend> std::fmt::Debug for Layered<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layered")
            .field("backend", &self.inner.backend.name())
            .field("l1", &self.inner.l1)
            .field("encrypted", &self.inner.cipher.is_some())
            .field("available", &self.inner.health.is_up())
            .finish()
    }
}

impl<B: RemoteBackend> Layered<B> {
    /// Layers `config` over `backend`. Its L1, if any, keeps what it read
    /// until its own limits drop it (no invalidation from other instances;
    /// see [`with_listener`](Self::with_listener)).
    pub fn new(backend: B, config: LayerConfig) -> Self {
        Self::build(backend, config, None)
    }

    /// Layers `config` over `backend`, with `listener` keeping the L1
    /// coherent with other instances (see [`coherence`](crate::coherence)).
    /// Without an L1 in `config` the listener is not used. It is spawned
    /// on the Tokio runtime of the store's first call. `connection_name`
    /// is the name its connections carry on the server.
    pub fn with_listener(
        backend: B,
        config: LayerConfig,
        listener: Box<dyn InvalidationListener>,
        connection_name: String,
    ) -> Self {
        Self::build(backend, config, Some((listener, connection_name)))
    }

    fn build(
        backend: B,
        config: LayerConfig,
        listener: Option<(Box<dyn InvalidationListener>, String)>,
    ) -> Self {
        let health = Health::new(backend.name(), config.retry_interval);
        let listening = match (&config.l1, listener) {
            (Some(l1), Some((listener, name))) => Some(Listening::new(l1.clone(), listener, name)),
            _ => None,
        };
        Self {
            inner: Arc::new(Inner {
                cipher: config
                    .key
                    .as_ref()
                    .map(|key| Cipher::with_previous(key, &config.previous_keys)),
                backend,
                l1: config.l1,
                clock: config.clock,
                health,
                operation_timeout: config.operation_timeout,
                fail_open: config.fail_open,
                listening,
            }),
        }
    }

    /// The shared store.
    pub fn backend(&self) -> &B {
        &self.inner.backend
    }

    /// msal's clock, as configured.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The L1 in front, if any.
    pub fn l1(&self) -> Option<&MemoryStore> {
        self.inner.l1.as_ref()
    }

    /// Whether the shared store is believed reachable (false from a failed
    /// call until a successful one).
    pub fn is_available(&self) -> bool {
        self.inner.health.is_up()
    }

    /// The state of the L1 invalidation listener; `None` when there is none
    /// (no L1, or invalidation off).
    pub fn invalidation_status(&self) -> Option<InvalidationStatus> {
        self.inner.listening.as_ref().map(|l| l.coherence.status())
    }
}

impl<B: RemoteBackend> Inner<B> {
    /// Runs one L2 call under the timeout and records the outcome.
    async fn call<T>(
        &self,
        now: SystemTime,
        op: BoxFuture<'_, Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        let result = match tokio::time::timeout(self.operation_timeout, op).await {
            Ok(result) => result,
            Err(_) => Err(StorageError::new(
                StorageErrorKind::Unavailable,
                format!(
                    "{} did not answer within {:?}",
                    self.backend.name(),
                    self.operation_timeout
                ),
            )),
        };
        match &result {
            Err(e) if is_outage(e) => self.health.failed(now, e),
            // Busy, not down: says nothing about reachability either way.
            Err(e) if e.kind == StorageErrorKind::LockTimeout => {
                tracing::debug!(backend = self.backend.name(), error = %e, "token cache store busy");
            }
            // Success, or the server answered with a refusal.
            _ => self.health.succeeded(),
        }
        result
    }

    /// What a call returns when L2 failed or is skipped: `value` when riding
    /// an outage or contention out, else the error.
    fn degrade<T>(&self, error: StorageError, value: T) -> Result<T, StorageError> {
        if self.fail_open && is_transient(&error) {
            Ok(value)
        } else {
            Err(error)
        }
    }

    fn skipped(&self) -> StorageError {
        StorageError::new(
            StorageErrorKind::Unavailable,
            format!(
                "{} is unavailable; waiting for the retry interval",
                self.backend.name()
            ),
        )
    }

    /// Starts the invalidation listener on the first call.
    fn start_listening(&self) {
        if let Some(listening) = &self.listening {
            listening.start();
        }
    }

    /// A local save or removal of `key`, for reads in flight.
    fn local_change(&self, key: &str) {
        if let Some(listening) = &self.listening {
            listening.coherence.local_change(key);
        }
    }

    async fn load(&self, key: String) -> Result<Option<Vec<u8>>, StorageError> {
        self.start_listening();
        if let Some(l1) = &self.l1
            && let Some(doc) = l1.load(&key).await?
        {
            return Ok(Some(doc));
        }
        // Taken before the read: what it returns goes into L1 only if no
        // invalidation of `key` arrived meanwhile.
        let ticket = self.listening.as_ref().map(|l| l.coherence.ticket(&key));
        let now = self.clock.now();
        if !self.health.should_try(now) {
            return self.degrade(self.skipped(), None);
        }
        let stored = match self.call(now, self.backend.get(&key, now)).await {
            Ok(Some(stored)) => stored,
            Ok(None) => return Ok(None),
            Err(e) if e.kind == StorageErrorKind::Corrupt => {
                self.discard(&key, now, &e).await;
                return Ok(None);
            }
            Err(e) => return self.degrade(e, None),
        };
        if stored.expires_at.is_some_and(|at| at <= now) {
            return Ok(None);
        }
        let doc = match &self.cipher {
            Some(cipher) => match cipher.open(&key, &stored.value) {
                Ok(doc) => doc,
                Err(e) => {
                    self.discard(&key, now, &e).await;
                    return Ok(None);
                }
            },
            None => stored.value,
        };
        let fill = match (&self.listening, ticket) {
            (Some(listening), Some(ticket)) => listening.coherence.may_fill(ticket),
            _ => true,
        };
        if let (Some(l1), true) = (&self.l1, fill) {
            l1.save(&key, doc.clone(), SaveHint::expiring_at(stored.expires_at))
                .await?;
        }
        Ok(Some(doc))
    }

    /// Drops a value that cannot be read, everywhere, so that it turns into
    /// a miss the next save overwrites instead of an error on every call.
    /// Best effort: a failed delete is logged, not returned (the next read
    /// finds the value again and retries).
    async fn discard(&self, key: &str, now: SystemTime, why: &StorageError) {
        tracing::warn!(
            backend = self.backend.name(),
            partition_hash = %partition_hash(key),
            error = %why,
            "discarding an unreadable token cache value; it counts as a miss and the next save replaces it"
        );
        if let Some(l1) = &self.l1
            && let Err(e) = l1.remove(key).await
        {
            tracing::debug!(error = %e, "removing an unreadable value from L1 failed");
        }
        if let Err(e) = self.call(now, self.backend.delete(key)).await {
            tracing::debug!(
                backend = self.backend.name(),
                error = %e,
                "deleting an unreadable token cache value failed"
            );
        }
    }

    async fn save(&self, key: String, doc: Vec<u8>, hint: SaveHint) -> Result<(), StorageError> {
        self.start_listening();
        self.local_change(&key);
        let now = self.clock.now();
        if hint.expires_at.is_some_and(|at| at <= now) {
            // Nothing usable left: the partition goes away everywhere.
            return self.remove(key).await;
        }
        // A far-future expiry is no expiry in practice, and one past what a
        // server accepts would fail every save.
        let hint = SaveHint::expiring_at(hint.expires_at.map(|at| clamp_expiry(at, now)));
        let sealed = match &self.cipher {
            Some(cipher) => Some(cipher.seal(&key, &doc)?),
            None => None,
        };
        let value = match &self.l1 {
            Some(l1) => {
                let value = sealed.unwrap_or_else(|| doc.clone());
                l1.save(&key, doc, hint).await?;
                value
            }
            None => sealed.unwrap_or(doc),
        };
        if !self.health.should_try(now) {
            return self.degrade(self.skipped(), ());
        }
        match self
            .call(now, self.backend.put(&key, value, hint.expires_at, now))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => self.degrade(e, ()),
        }
    }

    async fn remove(&self, key: String) -> Result<(), StorageError> {
        self.start_listening();
        self.local_change(&key);
        if let Some(l1) = &self.l1 {
            l1.remove(&key).await?;
        }
        let now = self.clock.now();
        if !self.health.should_try(now) {
            return self.degrade(self.skipped(), ());
        }
        match self.call(now, self.backend.delete(&key)).await {
            Ok(()) => Ok(()),
            Err(e) => self.degrade(e, ()),
        }
    }
}

impl<B: RemoteBackend> CacheStore for Layered<B> {
    fn load(&self, partition: &str) -> BoxFuture<'_, Result<Option<Vec<u8>>, StorageError>> {
        Box::pin(self.inner.load(partition.to_owned()))
    }

    fn save(
        &self,
        partition: &str,
        document: Vec<u8>,
        hint: SaveHint,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        Box::pin(self.inner.save(partition.to_owned(), document, hint))
    }

    fn remove(&self, partition: &str) -> BoxFuture<'_, Result<(), StorageError>> {
        Box::pin(self.inner.remove(partition.to_owned()))
    }
}

#[cfg(test)]
mod tests;
