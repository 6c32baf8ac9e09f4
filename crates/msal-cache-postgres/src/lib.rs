//! A PostgreSQL store for the msal token cache (sqlx).
//!
//! [`PostgresStore`] implements [`CacheStore`](msal::storage::CacheStore): each cache partition is one
//! row of a table
//!
//! ```sql
//! CREATE TABLE "<schema>"."<table>" (
//!     key        text PRIMARY KEY,        -- the partition key
//!     value      bytea NOT NULL,          -- the document (encrypted if configured)
//!     expires_at timestamptz NULL,        -- the partition's suggested expiry
//!     updated_at timestamptz NOT NULL DEFAULT now()
//! );
//! ```
//!
//! created on demand (or by [`PostgresStore::ensure_schema`]; only what is
//! missing is created, so a role with no CREATE privilege works on a schema
//! and table a migration made). Rows whose `expires_at` has passed (by
//! msal's clock) are never returned, and are deleted by
//! [`PostgresStore::purge_expired`] and, once per
//! [`purge_interval`](PostgresStoreBuilder::purge_interval), by a background
//! task a save starts (in batches, outside the save and its timeout).
//! Partitions holding refresh tokens have no expiry of their own: web APIs
//! and web apps should set [`default_ttl`](PostgresStoreBuilder::default_ttl).
//!
//! Like the Redis store it takes an optional in-memory L1, kept coherent
//! across instances by default (each write sends `pg_notify` on the table's
//! channel, a store with an L1 listens on a connection of its own: see
//! [`invalidation`](PostgresStoreBuilder::invalidation)), works behind a
//! transaction pooler such as PgBouncer
//! ([`behind_transaction_pooler`](PostgresStoreBuilder::behind_transaction_pooler)),
//! takes optional encryption of values (with previous keys for rotation), and
//! rides out an unavailable database: calls go on with L1 (or as misses, so the app asks
//! the identity provider), the outage is logged once at warn and its end
//! once at info. A pool with every connection busy is a miss for that call,
//! not an outage; a refused login is an error; a value that cannot be read
//! is deleted and counts as a miss.
//!
//! ```no_run
//! # async fn demo() -> Result<(), msal::storage::StorageError> {
//! use msal::storage::StoreAccess;
//! use msal_cache_postgres::PostgresStore;
//!
//! let store = PostgresStore::builder("postgres://app@db.internal/app")
//!     .schema("auth")
//!     .table("msal_token_cache")
//!     .default_ttl(std::time::Duration::from_secs(30 * 24 * 3600)) // partitions with refresh tokens
//!     .build()?;
//! store.ensure_schema().await?; // optional: the first save would create it
//! let hooks = StoreAccess::new(store);
//! # Ok(()) }
//! ```

mod backend;
mod invalidation;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use msal::storage::{MemoryStore, StorageError, StorageErrorKind};
pub use msal_cache_common::{EncryptionKey, InvalidationStatus, RemoteBackend};
use msal_cache_common::{LayerConfig, Layered};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::backend::{Options, PostgresBackend, Sql};
use crate::invalidation::PgInvalidationListener;

/// The schema used unless [`PostgresStoreBuilder::schema`] says otherwise.
pub const DEFAULT_SCHEMA: &str = "public";
/// The table used unless [`PostgresStoreBuilder::table`] says otherwise.
pub const DEFAULT_TABLE: &str = "msal_token_cache";
/// How often a save starts a background purge of expired rows, by default.
pub const DEFAULT_PURGE_INTERVAL: Duration = Duration::from_secs(600);
/// The size of the pool a store builds from a URL, by default.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;
/// The longest a call waits for a pooled connection, by default (less if
/// the operation timeout is shorter, so that a busy pool is told apart from
/// a slow database).
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

/// The token cache in a PostgreSQL table, optionally behind an in-memory L1.
/// Cheap to clone.
#[derive(Clone)]
pub struct PostgresStore {
    layered: Layered<PostgresBackend>,
    schema: Arc<str>,
    table: Arc<str>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No URL (it may hold a password), no values.
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("layers", &self.layered)
            .finish()
    }
}

enum Connection {
    Url(String),
    Pool(PgPool),
}

impl PostgresStore {
    /// Configures a store on the database at `url`. Connections are made on
    /// first use, so an app can start while the database is down.
    pub fn builder(url: impl Into<String>) -> PostgresStoreBuilder {
        PostgresStoreBuilder::new(Connection::Url(url.into()))
    }

    /// Configures a store on your pool, shared with the rest of your app.
    /// Its acquire timeout applies, bounded by
    /// [`PostgresStoreBuilder::operation_timeout`].
    pub fn with_pool(pool: PgPool) -> PostgresStoreBuilder {
        PostgresStoreBuilder::new(Connection::Pool(pool))
    }

    /// Creates the schema, the table and its expiry index if they are missing.
    ///
    /// # Errors
    /// The database's error, e.g. [`StorageErrorKind::Unavailable`].
    pub async fn ensure_schema(&self) -> Result<(), StorageError> {
        self.layered.backend().ensure_schema().await
    }

    /// Deletes every row whose expiry has passed, in batches; returns how
    /// many. Runs in the caller's task, with no timeout of the store's.
    ///
    /// # Errors
    /// The database's error.
    pub async fn purge_expired(&self) -> Result<u64, StorageError> {
        self.layered
            .backend()
            .purge_expired(self.layered.clock().now())
            .await
    }

    /// The schema holding the table.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The pool in use.
    pub fn pool(&self) -> &PgPool {
        &self.layered.backend().pool
    }

    /// The L1 in front, if any.
    pub fn l1(&self) -> Option<&MemoryStore> {
        self.layered.l1()
    }

    /// Whether the database is believed reachable (false from a failed call
    /// until a successful one).
    pub fn is_available(&self) -> bool {
        self.layered.is_available()
    }

    /// The state of the L1 invalidation listener (`None` without an L1 or
    /// with invalidation off). It starts with the store's first call; its
    /// connection's `application_name` is
    /// [`InvalidationStatus::connection_name`].
    pub fn invalidation_status(&self) -> Option<InvalidationStatus> {
        self.layered.invalidation_status()
    }

    /// The `LISTEN`/`NOTIFY` channel of this store's table.
    pub fn channel(&self) -> String {
        backend::channel_name(&self.schema, &self.table)
    }
}

msal_cache_common::layered_cache_store!(PostgresStore);

/// Configures a [`PostgresStore`]. Setters never fail;
/// [`build`](Self::build) reports a bad URL or name.
#[must_use]
pub struct PostgresStoreBuilder {
    connection: Connection,
    schema: String,
    table: String,
    create_on_demand: bool,
    purge_interval: Option<Duration>,
    default_ttl: Option<Duration>,
    max_connections: u32,
    invalidation: bool,
    listen_url: Option<String>,
    pooler: bool,
    layers: LayerConfig,
}

impl std::fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStoreBuilder")
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("create_on_demand", &self.create_on_demand)
            .field("purge_interval", &self.purge_interval)
            .field("default_ttl", &self.default_ttl)
            .field("max_connections", &self.max_connections)
            .field("invalidation", &self.invalidation)
            .field("listen_url", &self.listen_url.as_ref().map(|_| "set"))
            .field("behind_transaction_pooler", &self.pooler)
            .field("layers", &self.layers)
            .finish_non_exhaustive()
    }
}

/// Whether `name` is a plain SQL identifier (so it can be quoted as is).
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63
}

/// Whether `url` has a PostgreSQL scheme (sqlx would take any).
fn is_postgres_url(url: &str) -> bool {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    matches!(scheme.as_deref(), Some("postgres" | "postgresql"))
}

impl PostgresStoreBuilder {
    fn new(connection: Connection) -> Self {
        Self {
            connection,
            schema: DEFAULT_SCHEMA.to_owned(),
            table: DEFAULT_TABLE.to_owned(),
            create_on_demand: true,
            purge_interval: Some(DEFAULT_PURGE_INTERVAL),
            default_ttl: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            invalidation: true,
            listen_url: None,
            pooler: false,
            layers: LayerConfig::default(),
        }
    }

    /// The schema holding the table (default [`DEFAULT_SCHEMA`]); letters,
    /// digits and `_`, at most 63 characters.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// The table's name (default [`DEFAULT_TABLE`]); same rules as the schema.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// Whether a statement that finds the schema or table missing creates
    /// them and tries again (default `true`; turn off when the app's role may
    /// not create tables and a migration does it).
    pub fn create_on_demand(mut self, create: bool) -> Self {
        self.create_on_demand = create;
        self
    }

    /// How often a save starts a background task deleting expired rows
    /// (default [`DEFAULT_PURGE_INTERVAL`]); `None`: only
    /// [`PostgresStore::purge_expired`]. At most one runs at a time per
    /// store, in batches of 1,000 rows; its failure is logged at debug and
    /// never reaches a caller.
    pub fn purge_interval(mut self, interval: Option<Duration>) -> Self {
        self.purge_interval = interval;
        self
    }

    /// The lifetime of partitions saved without an expiry (those holding
    /// refresh tokens): their row gets `expires_at = now + ttl`, so the
    /// purge deletes it once unused that long. Default: none, such rows stay
    /// until removed. Same meaning as the Redis store's `default_ttl`.
    ///
    /// Web APIs (on-behalf-of) and web apps should set it: each incoming
    /// assertion or signed-in user gets a partition with a refresh token,
    /// and without it those rows pile up for users who never return.
    /// Something near the refresh token's lifetime (e.g. 1 to 90 days)
    /// fits: a user whose partition expired signs in, or is asked for a
    /// token, again. Capped at [`MAX_TTL`](msal_cache_common::MAX_TTL) (ten
    /// years).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = Some(ttl);
        self
    }

    /// The most connections the pool built from the URL opens (default
    /// [`DEFAULT_MAX_CONNECTIONS`], at least 1). Size it for the calls your
    /// app makes at once: when every connection stays busy past the acquire
    /// timeout ([`DEFAULT_ACQUIRE_TIMEOUT`]), that call goes on without the
    /// database (a miss; an error of kind
    /// [`LockTimeout`](StorageErrorKind::LockTimeout) if not failing open)
    /// but the store is not marked down. Ignored with
    /// [`PostgresStore::with_pool`], whose pool is yours to size.
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Whether L1s stay coherent across instances (default `true`): every
    /// write and removal sends a notification on the table's channel
    /// (`pg_notify` in the same statement, so it goes out when the write
    /// commits), and a store with an [`l1`](Self::l1) listens on a
    /// dedicated connection and drops the partitions other instances
    /// changed. While that connection is down, L1 is emptied and keeps only
    /// this instance's own saves (see [`msal_cache_common::coherence`]).
    /// Turn it off only on every instance of a fleet: one that does not
    /// notify leaves the others' L1s stale.
    pub fn invalidation(mut self, on: bool) -> Self {
        self.invalidation = on;
        self
    }

    /// The database URL the `LISTEN` connection uses (default: the store's
    /// URL, or the connect options of the pool given to
    /// [`with_pool`](PostgresStore::with_pool)). Behind a transaction pooler
    /// it must reach PostgreSQL directly (or through a session-mode pool):
    /// a `LISTEN` does not survive the end of a transaction there.
    pub fn listen_url(mut self, url: impl Into<String>) -> Self {
        self.listen_url = Some(url.into());
        self
    }

    /// Whether the URL or pool goes through a transaction pooler (PgBouncer
    /// with `pool_mode = transaction`, and other poolers that hand a server
    /// connection to a client for one transaction only). Then every
    /// statement runs in a transaction of its own and none is kept as a
    /// prepared statement (a pool built from the URL also sets
    /// `statement_cache_capacity(0)` and sends no `extra_float_digits`,
    /// which PgBouncer refuses unless told to ignore it). With an L1, give
    /// a [`listen_url`](Self::listen_url) that reaches PostgreSQL directly.
    /// Default `false`.
    pub fn behind_transaction_pooler(mut self, pooler: bool) -> Self {
        self.pooler = pooler;
        self
    }

    msal_cache_common::layer_setters!("the database");

    /// Builds the store. No connection is made yet.
    ///
    /// # Errors
    /// [`StorageErrorKind::Other`] for a URL that is not a PostgreSQL URL
    /// (the message does not repeat it: it may hold a password), a schema
    /// or table name that is not a plain identifier, or an L1 with
    /// invalidation behind a transaction pooler without a
    /// [`listen_url`](Self::listen_url).
    pub fn build(self) -> Result<PostgresStore, StorageError> {
        for (what, name) in [("schema", &self.schema), ("table", &self.table)] {
            if !is_identifier(name) {
                return Err(StorageError::new(
                    StorageErrorKind::Other,
                    format!(
                        "the {what} name must be letters, digits and _ (at most 63), not {name:?}"
                    ),
                ));
            }
        }
        let invalid_url = || StorageError::new(StorageErrorKind::Other, "invalid PostgreSQL URL");
        let parse = |url: &str| {
            if !is_postgres_url(url) {
                return Err(invalid_url());
            }
            PgConnectOptions::from_str(url).map_err(|_| invalid_url())
        };
        let listen_options = self.listen_url.as_deref().map(parse).transpose()?;
        let (pool, own_options) = match self.connection {
            Connection::Pool(pool) => {
                let options = (*pool.connect_options()).clone();
                (pool, options)
            }
            Connection::Url(url) => {
                let mut options = parse(&url)?;
                if self.pooler {
                    options = options.statement_cache_capacity(0).extra_float_digits(None);
                }
                let pool = PgPoolOptions::new()
                    .max_connections(self.max_connections)
                    // Short, and inside the operation timeout: the store has its
                    // own outage policy, and an acquire that outlives the
                    // operation timeout would turn a busy pool into an "outage".
                    .acquire_timeout(
                        DEFAULT_ACQUIRE_TIMEOUT.min(self.layers.get_operation_timeout() / 2),
                    )
                    .connect_lazy_with(options.clone());
                (pool, options)
            }
        };
        let sql = Sql::new(&self.schema, &self.table);
        let channel = sql.channel.clone();
        let instance = invalidation::instance_id();
        let backend = PostgresBackend::new(
            pool,
            sql,
            Options {
                create_on_demand: self.create_on_demand,
                purge_interval: self.purge_interval,
                default_ttl: self.default_ttl,
                pooler: self.pooler,
                notify_as: self.invalidation.then(|| instance.clone()),
            },
        );
        let layered = if self.invalidation && self.layers.has_l1() {
            let options = match listen_options {
                Some(options) => options,
                None if self.pooler => {
                    return Err(StorageError::new(
                        StorageErrorKind::Other,
                        "behind a transaction pooler, an L1's LISTEN connection needs a direct listen_url (or invalidation(false))",
                    ));
                }
                None => own_options,
            };
            let name = format!("msal-l1-{instance}");
            let listener = PgInvalidationListener {
                options: options.application_name(&name),
                channel,
                instance,
            };
            Layered::with_listener(backend, self.layers, Box::new(listener), name)
        } else {
            Layered::new(backend, self.layers)
        };
        Ok(PostgresStore {
            layered,
            schema: self.schema.into(),
            table: self.table.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_plain_identifiers() {
        for ok in ["public", "_x", "msal_test_0f3a", "T1"] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "a-b",
            "a\"b",
            "a b",
            "x;drop table y",
            &"a".repeat(64),
            "é",
        ] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn bad_names_and_urls_are_errors_that_do_not_repeat_passwords() {
        let err = PostgresStore::builder("postgres://u@h/db")
            .table("x\"; drop")
            .build()
            .unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::Other);
        let err = PostgresStore::builder("mysql://u:hunter2@h/db")
            .build()
            .unwrap_err();
        assert!(!format!("{err} {err:?}").contains("hunter2"));
        let store = PostgresStore::builder("postgres://u:hunter2@127.0.0.1:1/db")
            .build()
            .unwrap();
        assert!(!format!("{store:?}").contains("hunter2"));
    }
}
