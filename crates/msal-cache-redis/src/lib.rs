//! A Redis store for the msal token cache.
//!
//! [`RedisStore`] implements [`CacheStore`](msal::storage::CacheStore): each cache partition (app tokens
//! per client and tenant, a user's tokens, an on-behalf-of assertion's
//! tokens) is one Redis string under `<prefix><partition key>`, whose TTL is
//! the partition's suggested expiry. Hand it to an app through
//! [`StoreAccess`](msal::storage::StoreAccess).
//!
//! Options ([`RedisStoreBuilder`]):
//! - an L1 [`MemoryStore`] in front (read-through, write-through), so a hot
//!   partition is served from process memory;
//! - encryption of values with a key you supply (AES-256-GCM, see
//!   [`msal_cache_common::crypto`]);
//! - the failure policy: when Redis is unreachable or slow, calls go on with
//!   L1 (or as a miss, so the app asks the identity provider), the outage is
//!   logged once at warn, Redis is probed again once per retry interval, and
//!   its return is logged once at info;
//! - a value it cannot read (encrypted with a key it lacks, tampered with,
//!   another type of key) is deleted and counts as a miss, so the app gets
//!   a fresh token instead of an error; credentials or ACLs Redis refuses
//!   are reported as errors, not ridden out as an outage;
//! - [`default_ttl`](RedisStoreBuilder::default_ttl) for partitions holding
//!   refresh tokens, which should be set by web APIs and web apps.
//!
//! ```no_run
//! # async fn demo() -> Result<(), msal::storage::StorageError> {
//! use std::time::Duration;
//! use msal::storage::{MemoryStore, StoreAccess};
//! use msal_cache_redis::{EncryptionKey, RedisStore};
//!
//! let store = RedisStore::builder("redis://127.0.0.1:6379")
//!     .key_prefix("myapp:msal:")
//!     .l1(MemoryStore::builder().max_bytes(64 << 20).time_to_live(Duration::from_secs(300)).build())
//!     .encryption_key(EncryptionKey::from_bytes([0x42; 32])) // from your key vault
//!     .default_ttl(Duration::from_secs(30 * 24 * 3600)) // partitions with refresh tokens
//!     .build()?;
//! let hooks = StoreAccess::new(store); // give `hooks` to the app builder
//! # Ok(()) }
//! ```

mod backend;

use std::time::Duration;

use msal::storage::{MemoryStore, StorageError, StorageErrorKind};
pub use msal_cache_common::{EncryptionKey, RemoteBackend};
use msal_cache_common::{LayerConfig, Layered};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::backend::RedisBackend;

/// The key prefix used unless [`RedisStoreBuilder::key_prefix`] says otherwise.
pub const DEFAULT_KEY_PREFIX: &str = "msal:";

/// The token cache in Redis, optionally behind an in-memory L1. Cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    layered: Layered<RedisBackend>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No URL (it may hold a password), no values.
        f.debug_struct("RedisStore")
            .field("key_prefix", &self.layered.backend().prefix)
            .field("layers", &self.layered)
            .finish()
    }
}

enum Connection {
    Url(String),
    Client(redis::Client),
    Manager(ConnectionManager),
}

impl RedisStore {
    /// Configures a store on the Redis at `url` (`redis://`, `rediss://` if
    /// the redis crate's TLS features are on, `redis+unix://`). The connection
    /// is made on first use, so an app can start while Redis is down.
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(Connection::Url(url.into()))
    }

    /// Configures a store on your `client` (connected lazily, with this
    /// crate's short connection and response timeouts).
    pub fn with_client(client: redis::Client) -> RedisStoreBuilder {
        RedisStoreBuilder::new(Connection::Client(client))
    }

    /// Configures a store on your connection manager, shared with the rest
    /// of your app. Its own timeouts and retries apply, bounded by
    /// [`RedisStoreBuilder::operation_timeout`].
    pub fn with_manager(manager: ConnectionManager) -> RedisStoreBuilder {
        RedisStoreBuilder::new(Connection::Manager(manager))
    }

    /// The Redis key of `partition`.
    pub fn redis_key(&self, partition: &str) -> String {
        self.layered.backend().key(partition)
    }

    /// The L1 in front, if any.
    pub fn l1(&self) -> Option<&MemoryStore> {
        self.layered.l1()
    }

    /// Whether Redis is believed reachable (false from a failed call until a
    /// successful one).
    pub fn is_available(&self) -> bool {
        self.layered.is_available()
    }

    /// The connection manager in use.
    pub fn connection_manager(&self) -> &ConnectionManager {
        &self.layered.backend().manager
    }
}

msal_cache_common::layered_cache_store!(RedisStore);

/// Configures a [`RedisStore`]. Setters never fail; [`build`](Self::build)
/// reports a bad URL.
#[must_use]
pub struct RedisStoreBuilder {
    connection: Connection,
    prefix: String,
    default_ttl: Option<Duration>,
    layers: LayerConfig,
}

impl std::fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("key_prefix", &self.prefix)
            .field("default_ttl", &self.default_ttl)
            .field("layers", &self.layers)
            .finish_non_exhaustive()
    }
}

impl RedisStoreBuilder {
    fn new(connection: Connection) -> Self {
        Self {
            connection,
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            default_ttl: None,
            layers: LayerConfig::default(),
        }
    }

    /// Prepended to every partition key (default [`DEFAULT_KEY_PREFIX`]), to
    /// share a Redis database between apps.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The TTL of partitions saved without an expiry (those holding refresh
    /// tokens). Default: none, they stay until removed or evicted by Redis'
    /// own `maxmemory` policy.
    ///
    /// Web APIs (on-behalf-of) and web apps should set it: each incoming
    /// assertion or signed-in user gets a partition with a refresh token,
    /// and without a TTL those pile up for users who never return. Something
    /// near the refresh token's lifetime (e.g. 1 to 90 days) fits: a user
    /// whose partition expired signs in, or is asked for a token, again.
    /// Capped at [`MAX_TTL`](msal_cache_common::MAX_TTL) (ten years), as are
    /// partition expiries, since Redis rejects larger ones.
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = Some(ttl);
        self
    }

    msal_cache_common::layer_setters!("Redis");

    /// Builds the store. No connection is made yet.
    ///
    /// # Errors
    /// [`StorageErrorKind::Other`] if the URL is not a Redis URL (the message
    /// does not repeat it: it may hold a password).
    pub fn build(self) -> Result<RedisStore, StorageError> {
        let manager = match self.connection {
            Connection::Manager(manager) => manager,
            Connection::Url(url) => {
                let client = redis::Client::open(url.as_str())
                    .map_err(|_| StorageError::new(StorageErrorKind::Other, "invalid Redis URL"))?;
                lazy_manager(client)?
            }
            Connection::Client(client) => lazy_manager(client)?,
        };
        let backend = RedisBackend {
            manager,
            prefix: self.prefix,
            default_ttl: self.default_ttl,
        };
        Ok(RedisStore {
            layered: Layered::new(backend, self.layers),
        })
    }
}

/// A manager that connects on first use and gives up quickly: the store has
/// its own outage policy, so long reconnect loops only make callers wait.
fn lazy_manager(client: redis::Client) -> Result<ConnectionManager, StorageError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(1)))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(200));
    ConnectionManager::new_lazy_with_config(client, config).map_err(|e| {
        StorageError::new(
            StorageErrorKind::Other,
            format!("cannot set up the Redis connection: {e}"),
        )
    })
}
