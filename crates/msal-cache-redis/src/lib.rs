//! A Redis store for the msal token cache.
//!
//! [`RedisStore`] implements [`CacheStore`](msal::storage::CacheStore): each cache partition (app tokens
//! per client and tenant, a user's tokens, an on-behalf-of assertion's
//! tokens) is one Redis string under `<prefix><partition key>` (on a Redis
//! Cluster, [`RedisStore::cluster`], `<prefix>{<partition key>}`), whose TTL
//! is the partition's suggested expiry. Hand it to an app through
//! [`StoreAccess`](msal::storage::StoreAccess).
//!
//! Options ([`RedisStoreBuilder`]):
//! - an L1 [`MemoryStore`] in front (read-through, write-through), so a hot
//!   partition is served from process memory, kept coherent with the other
//!   instances' writes and removals by default ([`Invalidation`]: Redis
//!   client-side caching, or pub/sub where the server refuses it);
//! - [`wait_for_replicas`](RedisStoreBuilder::wait_for_replicas), so that a
//!   write or removal acknowledged to the app survives a failover;
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
//! let store = RedisStore::builder("redis://127.0.0.1:6379") // or RedisStore::cluster([...])
//!     .key_prefix("myapp:msal:")
//!     .l1(MemoryStore::builder().max_bytes(64 << 20).build()) // other instances' changes drop its copies
//!     .encryption_key(EncryptionKey::from_bytes([0x42; 32])) // from your key vault
//!     .default_ttl(Duration::from_secs(30 * 24 * 3600)) // partitions with refresh tokens
//!     .build()?;
//! let hooks = StoreAccess::new(store); // give `hooks` to the app builder
//! # Ok(()) }
//! ```

mod backend;
mod cluster;
mod invalidation;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use msal::storage::{MemoryStore, StorageError, StorageErrorKind};
pub use msal_cache_common::{EncryptionKey, InvalidationStatus, RemoteBackend};
use msal_cache_common::{LayerConfig, Layered};
use redis::IntoConnectionInfo;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::backend::{Conn, KeyLayout, RedisBackend};
use crate::cluster::LazyCluster;
use crate::invalidation::RedisListener;

/// The key prefix used unless [`RedisStoreBuilder::key_prefix`] says otherwise.
pub const DEFAULT_KEY_PREFIX: &str = "msal:";

/// How a store with an L1 hears that another instance changed a partition
/// (see [`RedisStoreBuilder::invalidation`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invalidation {
    /// Client-side caching (`CLIENT TRACKING` over RESP3, broadcast mode on
    /// the key prefix) where the server allows it, else pub/sub on the key
    /// prefix. The default.
    #[default]
    Auto,
    /// Client-side caching only: while the server refuses it, L1 keeps only
    /// this instance's own saves (and a warning is logged once).
    Tracking,
    /// Pub/sub only: every write and removal is published on the channel
    /// named like the key prefix, and the store subscribes to it. Every
    /// instance of a fleet must use it, including those without an L1
    /// (their writes must be announced too).
    PubSub,
    /// No invalidation: an L1 keeps what it read until its own limits (set
    /// a `time_to_live`) drop it, and also serves during an outage of Redis.
    Off,
}

/// The token cache in Redis or a Redis Cluster, optionally behind an
/// in-memory L1. Cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    layered: Layered<RedisBackend>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No URL (it may hold a password), no values.
        let backend = self.layered.backend();
        f.debug_struct("RedisStore")
            .field("key_prefix", &backend.prefix)
            .field("cluster", &matches!(backend.conn, Conn::Cluster(_)))
            .field("layers", &self.layered)
            .finish()
    }
}

enum Connection {
    Url(String),
    Client(redis::Client),
    Manager(ConnectionManager),
    Cluster(Vec<String>),
}

impl RedisStore {
    /// Configures a store on the Redis at `url` (`redis://`, `rediss://` if
    /// the redis crate's TLS features are on, `redis+unix://`). The connection
    /// is made on first use, so an app can start while Redis is down.
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(Connection::Url(url.into()))
    }

    /// Configures a store on a Redis Cluster (Redis Cluster, Valkey cluster,
    /// or a managed Redis whose clustering policy needs a cluster-aware
    /// client), given one or more of its nodes as `redis://host:port` URLs
    /// (an item may also be a comma-separated list). The other nodes are
    /// discovered. Each partition is the key `<prefix>{<partition>}`, whose
    /// hash tag keeps it in one slot; MOVED and ASK redirections and a
    /// failover are followed by the redis crate's cluster client. The
    /// connections are made on first use.
    pub fn cluster<I, S>(nodes: I) -> RedisStoreBuilder
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nodes = nodes
            .into_iter()
            .flat_map(|item| {
                item.as_ref()
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        RedisStoreBuilder::new(Connection::Cluster(nodes))
    }

    /// Configures a store on your `client` (connected lazily, with this
    /// crate's short connection and response timeouts).
    pub fn with_client(client: redis::Client) -> RedisStoreBuilder {
        RedisStoreBuilder::new(Connection::Client(client))
    }

    /// Configures a store on your connection manager, shared with the rest
    /// of your app. Its own timeouts and retries apply, bounded by
    /// [`RedisStoreBuilder::operation_timeout`]. With an L1, give the
    /// listener a client of its own
    /// ([`invalidation_client`](RedisStoreBuilder::invalidation_client)) or
    /// turn invalidation off.
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

    /// The state of the L1 invalidation listener (`None` without an L1 or
    /// with [`Invalidation::Off`]). It starts with the store's first call.
    pub fn invalidation_status(&self) -> Option<InvalidationStatus> {
        self.layered.invalidation_status()
    }

    /// The connection manager in use; `None` on a cluster.
    pub fn connection_manager(&self) -> Option<&ConnectionManager> {
        match &self.layered.backend().conn {
            Conn::Single(manager) => Some(manager),
            Conn::Cluster(_) => None,
        }
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
    invalidation: Invalidation,
    invalidation_client: Option<redis::Client>,
    replicas: Option<(u32, Duration)>,
    layers: LayerConfig,
}

impl std::fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("key_prefix", &self.prefix)
            .field(
                "cluster",
                &matches!(self.connection, Connection::Cluster(_)),
            )
            .field("default_ttl", &self.default_ttl)
            .field("invalidation", &self.invalidation)
            .field("wait_for_replicas", &self.replicas)
            .field("layers", &self.layers)
            .finish_non_exhaustive()
    }
}

fn invalid_url() -> StorageError {
    StorageError::new(StorageErrorKind::Other, "invalid Redis URL")
}

impl RedisStoreBuilder {
    fn new(connection: Connection) -> Self {
        Self {
            connection,
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            default_ttl: None,
            invalidation: Invalidation::Auto,
            invalidation_client: None,
            replicas: None,
            layers: LayerConfig::default(),
        }
    }

    /// Prepended to every partition key (default [`DEFAULT_KEY_PREFIX`]), to
    /// share a Redis database between apps. It also names what the L1
    /// invalidation tracks (and its pub/sub channel), so give each app its
    /// own. On a cluster, keep `{` and `}` out of it: they would make it the
    /// hash tag of every key, putting them all in one slot.
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

    /// How an [`l1`](Self::l1) hears about other instances' writes and
    /// removals (default [`Invalidation::Auto`]; ignored without an L1,
    /// except that [`Invalidation::PubSub`] still announces this store's
    /// writes). The listener's connections (one per master) are separate
    /// from the data connection and carry a name
    /// ([`InvalidationStatus::connection_name`]); while they are down, L1 is
    /// emptied and keeps only this instance's own saves (see
    /// [`msal_cache_common::coherence`]).
    pub fn invalidation(mut self, invalidation: Invalidation) -> Self {
        self.invalidation = invalidation;
        self
    }

    /// The client the invalidation listener connects with, for a store made
    /// [`with_manager`](RedisStore::with_manager) (whose connection details
    /// the store cannot see). Others use their own URL or client.
    pub fn invalidation_client(mut self, client: redis::Client) -> Self {
        self.invalidation_client = Some(client);
        self
    }

    /// Makes each write and removal wait (Redis `WAIT`) until `replicas`
    /// replicas of the master that took it have it, for at most `timeout`
    /// (keep it well under the [`operation_timeout`](Self::operation_timeout)).
    /// A write acknowledged by fewer counts as failed (an outage: ridden out
    /// under `fail_open`). With replication being asynchronous, this is what
    /// keeps an acknowledged write, or a sign-out, from being lost when a
    /// master dies and its replica takes over. Costs one replication round
    /// trip per write, during which the master's connection is blocked.
    /// Default: not waiting.
    pub fn wait_for_replicas(mut self, replicas: u32, timeout: Duration) -> Self {
        self.replicas = (replicas > 0).then_some((replicas, timeout));
        self
    }

    msal_cache_common::layer_setters!("Redis");

    /// Builds the store. No connection is made yet.
    ///
    /// # Errors
    /// [`StorageErrorKind::Other`] if a URL is not a Redis URL (the message
    /// does not repeat it: it may hold a password), if a cluster has no
    /// node, or if a store made [`with_manager`](RedisStore::with_manager)
    /// has an L1 with invalidation on but no
    /// [`invalidation_client`](Self::invalidation_client).
    pub fn build(self) -> Result<RedisStore, StorageError> {
        let cluster = matches!(self.connection, Connection::Cluster(_));
        let (conn, seeds) = match self.connection {
            Connection::Manager(manager) => (
                Conn::Single(manager),
                self.invalidation_client
                    .map(|c| vec![c.get_connection_info().clone()]),
            ),
            Connection::Url(url) => {
                let client = redis::Client::open(url.as_str()).map_err(|_| invalid_url())?;
                let seeds = vec![client.get_connection_info().clone()];
                (Conn::Single(lazy_manager(client)?), Some(seeds))
            }
            Connection::Client(client) => {
                let seeds = vec![client.get_connection_info().clone()];
                (Conn::Single(lazy_manager(client)?), Some(seeds))
            }
            Connection::Cluster(nodes) => {
                if nodes.is_empty() {
                    return Err(StorageError::new(
                        StorageErrorKind::Other,
                        "a Redis Cluster store needs at least one node URL",
                    ));
                }
                let seeds = nodes
                    .iter()
                    .map(|url| {
                        url.as_str()
                            .into_connection_info()
                            .map_err(|_| invalid_url())
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let cluster = LazyCluster::new(seeds.clone()).map_err(|_| invalid_url())?;
                (Conn::Cluster(Arc::new(cluster)), Some(seeds))
            }
        };
        let layout = if cluster {
            KeyLayout::Tagged
        } else {
            KeyLayout::Plain
        };
        let publish = Arc::new(AtomicBool::new(self.invalidation == Invalidation::PubSub));
        let backend = RedisBackend {
            conn,
            prefix: self.prefix.clone(),
            layout,
            default_ttl: self.default_ttl,
            replicas: self.replicas,
            publish: publish.clone(),
        };
        let listening = self.invalidation != Invalidation::Off && self.layers.has_l1();
        if !listening {
            return Ok(RedisStore {
                layered: Layered::new(backend, self.layers),
            });
        }
        let Some(seeds) = seeds else {
            return Err(StorageError::new(
                StorageErrorKind::Other,
                "an L1 on a store made with_manager needs an invalidation_client (or invalidation(Invalidation::Off))",
            ));
        };
        let name = invalidation::connection_name();
        let listener = RedisListener {
            seeds,
            cluster,
            prefix: self.prefix,
            layout,
            mode: self.invalidation,
            publish,
            name: name.clone(),
        };
        Ok(RedisStore {
            layered: Layered::with_listener(backend, self.layers, Box::new(listener), name),
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
