//! The storage seam: where serialized cache partitions live between calls.
//!
//! A backend crate (memory, Redis, PostgreSQL, a file) implements
//! [`CacheStore`]: bytes in, bytes out, keyed by a partition key. The core
//! decides what a partition holds and when it changed.

use std::time::SystemTime;

use crate::http::BoxFuture;

mod memory;

pub use crate::engine::app_partition_key;
pub use crate::flows::user_assertion_hash;
pub use memory::{DEFAULT_MAX_BYTES, MemoryStore, MemoryStoreBuilder};

/// How a saved partition may be kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SaveHint {
    /// After this time the partition holds nothing usable (the latest expiry
    /// of its tokens when it holds no refresh token). `None`: keep it until
    /// evicted for space.
    pub expires_at: Option<SystemTime>,
}

impl SaveHint {
    /// A hint with the given expiry.
    pub fn expiring_at(expires_at: Option<SystemTime>) -> Self {
        Self { expires_at }
    }
}

/// Loads, saves and removes serialized cache partitions.
pub trait CacheStore: Send + Sync + 'static {
    /// The partition's document, or `None` if there is none.
    fn load(&self, partition: &str) -> BoxFuture<'_, Result<Option<Vec<u8>>, StorageError>>;
    /// Replaces the partition's document.
    fn save(
        &self,
        partition: &str,
        document: Vec<u8>,
        hint: SaveHint,
    ) -> BoxFuture<'_, Result<(), StorageError>>;
    /// Deletes the partition.
    fn remove(&self, partition: &str) -> BoxFuture<'_, Result<(), StorageError>>;
}

/// A storage backend failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("{kind}: {message}")]
pub struct StorageError {
    /// The class of failure.
    pub kind: StorageErrorKind,
    /// A human-readable message (never a token).
    pub message: String,
    /// The underlying error.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StorageError {
    /// Builds an error of `kind`.
    pub fn new(kind: StorageErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
}

/// Classes of storage failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageErrorKind {
    /// The store cannot be reached (server down, connection lost).
    Unavailable,
    /// A lock could not be taken in time.
    LockTimeout,
    /// The stored data is corrupt or cannot be decrypted.
    Corrupt,
    /// Reading or writing failed.
    Io,
    /// Anything else.
    Other,
}

impl std::fmt::Display for StorageErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Unavailable => "storage unavailable",
            Self::LockTimeout => "timed out waiting for the cache lock",
            Self::Corrupt => "stored cache is corrupt",
            Self::Io => "storage I/O failed",
            Self::Other => "storage failed",
        })
    }
}

/// What a cache access hook is told about the call it wraps.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CacheAccessArgs<'a> {
    /// The suggested partition key: `<client_id>_<tenant>_AppTokenCache` for
    /// app tokens, the user assertion hash for on-behalf-of, the account's
    /// `home_account_id` for a user's silent call or removal; `None` where
    /// the cache is not partitioned (public-client sign-ins, account listing).
    pub partition_key: Option<&'a str>,
    /// Whether this is the app-token cache (client credentials, managed identity).
    pub is_app_cache: bool,
    /// In `after_access`: whether the operation changed the cache.
    pub has_state_changed: bool,
    /// In `after_access`: when the partition holds nothing usable any more
    /// (the latest token expiry, when it holds no refresh token).
    pub suggested_expiry: Option<SystemTime>,
    /// Whether the engine keeps no cache in memory between calls (the
    /// partitioned mode of confidential clients). When true,
    /// `before_access` must return the stored document whenever one exists:
    /// `None` means nothing is stored, and the operation starts from an
    /// empty cache whose document then replaces whatever was stored. When
    /// false, `None` means "keep the in-memory copy".
    pub partitioned: bool,
}

impl<'a> CacheAccessArgs<'a> {
    /// Arguments for a call on `partition_key`.
    pub fn new(partition_key: Option<&'a str>, is_app_cache: bool) -> Self {
        Self {
            partition_key,
            is_app_cache,
            has_state_changed: false,
            suggested_expiry: None,
            partitioned: false,
        }
    }

    /// The same arguments, saying whether the engine keeps no in-memory
    /// cache between calls (see [`partitioned`](Self::partitioned)).
    pub fn with_partitioned(self, partitioned: bool) -> Self {
        Self {
            partitioned,
            ..self
        }
    }

    /// The same arguments, after an operation.
    pub fn after(self, has_state_changed: bool, suggested_expiry: Option<SystemTime>) -> Self {
        Self {
            has_state_changed,
            suggested_expiry,
            ..self
        }
    }
}

/// Hooks called around every cache operation, as MSAL's
/// `BeforeAccess`/`AfterAccess` notifications.
///
/// The engine calls `before_access` before it reads the in-memory cache and
/// `after_access` once it is done, always, also when the operation failed, so
/// an implementation may hold a lock between the two. Both sides speak
/// serialized documents (the unified JSON format), so a store needs no
/// knowledge of the cache model.
pub trait CacheAccess: Send + Sync + 'static {
    /// Called before the cache is read. Return `Some(document)` to replace the
    /// in-memory partition with it (another process changed it), `None` to
    /// keep what is in memory. When `args.partitioned` is true nothing is
    /// kept in memory: return the stored document whenever there is one.
    fn before_access<'a>(
        &'a self,
        args: CacheAccessArgs<'a>,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        let _ = args;
        Box::pin(async { Ok(None) })
    }

    /// Called after the operation. `document` is the partition's new
    /// serialized state when the operation changed it, else `None`.
    fn after_access<'a>(
        &'a self,
        args: CacheAccessArgs<'a>,
        document: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        let _ = (args, document);
        Box::pin(async { Ok(()) })
    }
}

/// Turns any [`CacheStore`] into [`CacheAccess`] hooks: load the partition
/// before each access, save it after a change.
#[derive(Debug, Clone)]
pub struct StoreAccess<S> {
    store: S,
    unpartitioned_key: String,
}

impl<S: CacheStore> StoreAccess<S> {
    /// Wraps `store`. Calls without a partition key use `"msal-cache"`.
    pub fn new(store: S) -> Self {
        Self {
            store,
            unpartitioned_key: "msal-cache".to_owned(),
        }
    }

    /// The key under which an unpartitioned cache is stored.
    pub fn with_unpartitioned_key(mut self, key: impl Into<String>) -> Self {
        self.unpartitioned_key = key.into();
        self
    }

    /// The wrapped store.
    pub fn store(&self) -> &S {
        &self.store
    }

    fn key<'a>(&'a self, args: &CacheAccessArgs<'a>) -> &'a str {
        args.partition_key.unwrap_or(&self.unpartitioned_key)
    }
}

impl<S: CacheStore> CacheAccess for StoreAccess<S> {
    fn before_access<'a>(
        &'a self,
        args: CacheAccessArgs<'a>,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        Box::pin(async move { self.store.load(self.key(&args)).await })
    }

    fn after_access<'a>(
        &'a self,
        args: CacheAccessArgs<'a>,
        document: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            match document {
                Some(doc) if args.has_state_changed => {
                    self.store
                        .save(
                            self.key(&args),
                            doc.to_vec(),
                            SaveHint::expiring_at(args.suggested_expiry),
                        )
                        .await
                }
                _ => Ok(()),
            }
        })
    }
}

#[cfg(test)]
mod tests;
