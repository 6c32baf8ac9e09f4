//! The L2 half: one row per partition in a PostgreSQL table.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use msal::http::BoxFuture;
use msal::storage::{StorageError, StorageErrorKind};
use msal_cache_common::time::{clamp_expiry, clamp_ttl, saturating_add};
use msal_cache_common::{RemoteBackend, Stored};
use sqlx::{PgConnection, PgPool, Row};

/// Rows one purge statement deletes at most: short statements and short
/// locks, so a large backlog of expired rows never holds up the upserts
/// running beside it.
pub(crate) const PURGE_BATCH: i64 = 1_000;

/// The table's statements, with the (validated, quoted) names filled in once.
#[derive(Debug)]
pub(crate) struct Sql {
    schema: String,
    table: String,
    index: String,
    /// Which of the schema, the table and its expiry index exist.
    present: String,
    create_schema: String,
    create_table: String,
    create_index: String,
    get: String,
    put: String,
    delete: String,
    /// `put` and `delete` that also announce the partition (`pg_notify($4|$2, $5|$3)`).
    put_notify: String,
    delete_notify: String,
    purge: String,
    /// The `LISTEN`/`NOTIFY` channel of this table.
    pub(crate) channel: String,
}

impl Sql {
    pub(crate) fn new(schema: &str, table: &str) -> Self {
        // Names were checked to be plain identifiers; quoting keeps their case.
        let t = format!("\"{schema}\".\"{table}\"");
        let index = format!("{table}_expires_at");
        Self {
            present: "SELECT \
                 EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1), \
                 EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                         WHERE n.nspname = $1 AND c.relname = $2), \
                 EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                         WHERE n.nspname = $1 AND c.relname = $3)"
                .to_owned(),
            create_schema: format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""),
            create_table: format!(
                "CREATE TABLE IF NOT EXISTS {t} (\
                 key text PRIMARY KEY, \
                 value bytea NOT NULL, \
                 expires_at timestamptz NULL, \
                 updated_at timestamptz NOT NULL DEFAULT now())"
            ),
            create_index: format!(
                "CREATE INDEX IF NOT EXISTS \"{index}\" ON {t} (expires_at) WHERE expires_at IS NOT NULL"
            ),
            get: format!(
                "SELECT value, extract(epoch FROM expires_at)::float8 FROM {t} \
                 WHERE key = $1 AND (expires_at IS NULL OR expires_at > to_timestamp($2::float8))"
            ),
            put: format!(
                "INSERT INTO {t} (key, value, expires_at, updated_at) VALUES ($1, $2, to_timestamp($3::float8), now()) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, \
                 updated_at = EXCLUDED.updated_at"
            ),
            delete: format!("DELETE FROM {t} WHERE key = $1"),
            // A data-modifying WITH runs whether or not the query reads it;
            // the notification goes out when the statement commits.
            put_notify: format!(
                "WITH w AS (INSERT INTO {t} (key, value, expires_at, updated_at) \
                 VALUES ($1, $2, to_timestamp($3::float8), now()) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, \
                 updated_at = EXCLUDED.updated_at) SELECT pg_notify($4, $5)"
            ),
            delete_notify: format!(
                "WITH d AS (DELETE FROM {t} WHERE key = $1) SELECT pg_notify($2, $3)"
            ),
            channel: channel_name(schema, table),
            purge: format!(
                "DELETE FROM {t} WHERE ctid IN (SELECT ctid FROM {t} \
                 WHERE expires_at <= to_timestamp($1::float8) LIMIT $2)"
            ),
            schema: schema.to_owned(),
            table: table.to_owned(),
            index,
        }
    }
}

/// The channel of `schema.table`: `msal_cache:<schema>.<table>`, or a hash
/// of it where that passes PostgreSQL's 63-byte limit on names.
pub(crate) fn channel_name(schema: &str, table: &str) -> String {
    let full = format!("msal_cache:{schema}.{table}");
    if full.len() <= 63 {
        return full;
    }
    // FNV-1a: stable across processes and versions, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in full.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("msal_cache:{h:016x}")
}

/// What a write announces on the channel: `<instance> <partition>`, or just
/// `<instance>` ("everything") for a partition key too long for a
/// notification payload (8,000 bytes).
pub(crate) fn payload(instance: &str, partition: &str) -> String {
    if partition.len() > 7_900 {
        instance.to_owned()
    } else {
        format!("{instance} {partition}")
    }
}

/// Runs one statement on one connection of `pool`: behind a transaction
/// pooler, inside a transaction of its own (so that the statement's parse
/// and execution reach the same server connection), else on a pooled
/// connection as it is.
pub(crate) async fn unit<T, F>(pool: &PgPool, pooler: bool, statement: F) -> Result<T, sqlx::Error>
where
    F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, sqlx::Error>>,
{
    if pooler {
        let mut tx = pool.begin().await?;
        let out = statement(&mut tx).await?;
        tx.commit().await?;
        Ok(out)
    } else {
        let mut conn = pool.acquire().await?;
        statement(&mut conn).await
    }
}

/// `sql` as a query that, behind a transaction pooler, is not kept as a
/// named prepared statement (it would live on a server connection other
/// clients get next).
fn statement(
    sql: &str,
    pooler: bool,
) -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(sql).persistent(!pooler)
}

/// PostgreSQL as a [`RemoteBackend`].
pub(crate) struct PostgresBackend {
    pub(crate) pool: PgPool,
    sql: Arc<Sql>,
    /// Creates the schema and table when a statement finds them missing.
    create_on_demand: bool,
    /// How often a save starts a purge of expired rows (`None`: never).
    purge_interval: Option<Duration>,
    /// The lifetime of partitions saved without an expiry.
    default_ttl: Option<Duration>,
    next_purge: Mutex<SystemTime>,
    /// Set while a background purge runs, so that saves start at most one.
    purging: Arc<AtomicBool>,
    /// Behind a transaction pooler (PgBouncer `pool_mode = transaction`).
    pooler: bool,
    /// This instance's id in notifications; `None`: writes do not notify.
    notify_as: Option<String>,
}

/// The settings of a [`PostgresBackend`] besides its pool and statements.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) create_on_demand: bool,
    pub(crate) purge_interval: Option<Duration>,
    pub(crate) default_ttl: Option<Duration>,
    pub(crate) pooler: bool,
    pub(crate) notify_as: Option<String>,
}

fn unix_secs(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

fn from_unix_secs(secs: f64) -> Option<SystemTime> {
    let d = Duration::try_from_secs_f64(secs.abs()).ok()?;
    if secs >= 0.0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
}

/// Whether the error says the schema or table does not exist.
fn is_missing_relation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("42P01" | "3F000")))
}

/// Maps a sqlx error. Connection-level failures are outages; the message is
/// sqlx's or the server's, which carry no values of ours.
pub(crate) fn storage_error(e: sqlx::Error) -> StorageError {
    use sqlx::Error as E;
    let kind = match &e {
        E::Io(_)
        | E::Tls(_)
        | E::Protocol(_)
        | E::PoolTimedOut
        | E::PoolClosed
        | E::WorkerCrashed => StorageErrorKind::Unavailable,
        E::Database(db) => match db.code().as_deref() {
            // Login refused (wrong password, unknown role, pg_hba): a
            // configuration error waiting will not fix, so the caller's.
            Some(code) if code.starts_with("28") => StorageErrorKind::Other,
            // Connection exceptions, shutdown, cannot connect now, out of
            // resources, and the table missing (when it is not ours to
            // create): the store cannot serve now.
            Some(code)
                if ["08", "57P", "53"]
                    .iter()
                    .any(|class| code.starts_with(class))
                    || code == "42P01"
                    || code == "3F000" =>
            {
                StorageErrorKind::Unavailable
            }
            Some("40001" | "40P01" | "55P03") => StorageErrorKind::LockTimeout,
            _ => StorageErrorKind::Other,
        },
        E::ColumnDecode { .. } | E::Decode(_) => StorageErrorKind::Corrupt,
        _ => StorageErrorKind::Other,
    };
    StorageError::new(kind, format!("postgres: {e}")).with_source(e)
}

/// Deletes rows expired at `now`, [`PURGE_BATCH`] at a time; returns how many.
async fn purge(
    pool: &PgPool,
    sql: &Arc<Sql>,
    now: SystemTime,
    pooler: bool,
) -> Result<u64, sqlx::Error> {
    let mut total = 0u64;
    loop {
        let sql = sql.clone();
        let done = unit(pool, pooler, move |c| {
            Box::pin(async move {
                statement(&sql.purge, pooler)
                    .bind(unix_secs(now))
                    .bind(PURGE_BATCH)
                    .execute(c)
                    .await
            })
        })
        .await;
        let done = match done {
            Ok(done) => done.rows_affected(),
            Err(e) if is_missing_relation(&e) => 0, // no table, nothing expired
            Err(e) => return Err(e),
        };
        total = total.saturating_add(done);
        if done < PURGE_BATCH.unsigned_abs() {
            return Ok(total);
        }
        // Let other work on this runtime (and this pool) in between batches.
        tokio::task::yield_now().await;
    }
}

/// Clears the "purge running" flag when the purge task ends, however it ends.
struct PurgeRunning(Arc<AtomicBool>);

impl Drop for PurgeRunning {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Which of the schema, the table and its index exist.
#[derive(Debug, Clone, Copy)]
struct Present {
    schema: bool,
    table: bool,
    index: bool,
}

impl PostgresBackend {
    pub(crate) fn new(pool: PgPool, sql: Sql, options: Options) -> Self {
        Self {
            pool,
            sql: Arc::new(sql),
            create_on_demand: options.create_on_demand,
            purge_interval: options.purge_interval,
            default_ttl: options.default_ttl,
            next_purge: Mutex::new(UNIX_EPOCH),
            purging: Arc::new(AtomicBool::new(false)),
            pooler: options.pooler,
            notify_as: options.notify_as,
        }
    }

    /// Maps a sqlx error, telling a saturated pool (every connection busy:
    /// contention, the database is fine) from one that cannot connect (both
    /// end in `PoolTimedOut`, since sqlx retries refused connections until
    /// the acquire timeout).
    fn error(&self, e: sqlx::Error) -> StorageError {
        if matches!(e, sqlx::Error::PoolTimedOut)
            && self.pool.size() >= self.pool.options().get_max_connections()
        {
            return StorageError::new(
                StorageErrorKind::LockTimeout,
                "postgres: every pooled connection stayed busy until the acquire timeout \
                 (if this is frequent, raise max_connections)",
            )
            .with_source(e);
        }
        storage_error(e)
    }

    /// Reads the catalogs (readable by every role) for what exists.
    async fn present(&self, c: &mut PgConnection) -> Result<Present, StorageError> {
        let (schema, table, index): (bool, bool, bool) = sqlx::query_as(&self.sql.present)
            .persistent(!self.pooler)
            .bind(&self.sql.schema)
            .bind(&self.sql.table)
            .bind(&self.sql.index)
            .fetch_one(c)
            .await
            .map_err(|e| self.error(e))?;
        Ok(Present {
            schema,
            table,
            index,
        })
    }

    /// Creates the schema, table and expiry index if missing. Only what is
    /// missing is created: `CREATE SCHEMA IF NOT EXISTS` needs the CREATE
    /// privilege on the database even when the schema exists, and `CREATE
    /// TABLE` the CREATE privilege on the schema, which an app's role often
    /// lacks when a migration made both. Serialized by an advisory lock so
    /// that instances starting together do not trip on each other.
    pub(crate) async fn ensure_schema(&self) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let present = self.present(&mut tx).await?;
        if present.schema && present.table && present.index {
            return tx.commit().await.map_err(|e| self.error(e));
        }
        statement(
            "SELECT pg_advisory_xact_lock(hashtext('msal-cache-postgres schema'))",
            self.pooler,
        )
        .execute(&mut *tx)
        .await
        .map_err(|e| self.error(e))?;
        // Again under the lock: another instance may just have made them.
        let present = self.present(&mut tx).await?;
        if !present.schema {
            self.execute(&mut tx, &self.sql.create_schema).await?;
        }
        if !present.table {
            self.execute(&mut tx, &self.sql.create_table).await?;
            self.execute(&mut tx, &self.sql.create_index).await?;
        } else if !present.index {
            // Someone else's table (a migration's): only its owner may add
            // the index, and the store works without it (purges are slower).
            self.execute(&mut tx, "SAVEPOINT msal_index").await?;
            if let Err(e) = statement(&self.sql.create_index, self.pooler)
                .execute(&mut *tx)
                .await
            {
                tracing::debug!(error = %e, "could not add the expiry index to the token cache table");
                self.execute(&mut tx, "ROLLBACK TO SAVEPOINT msal_index")
                    .await?;
            }
        }
        tx.commit().await.map_err(|e| self.error(e))
    }

    async fn execute(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        sql: &str,
    ) -> Result<(), StorageError> {
        statement(sql, self.pooler)
            .execute(&mut **tx)
            .await
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// Deletes rows expired at `now`, in batches; returns how many.
    pub(crate) async fn purge_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        purge(&self.pool, &self.sql, now, self.pooler)
            .await
            .map_err(|e| self.error(e))
    }

    /// Runs `op`; if the table is missing and may be created, creates it
    /// and runs `op` once more.
    async fn with_table<T, F, Fut>(&self, op: F) -> Result<T, StorageError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
    {
        match op().await {
            Err(e) if self.create_on_demand && is_missing_relation(&e) => {
                self.ensure_schema().await?;
                op().await.map_err(|e| self.error(e))
            }
            other => other.map_err(|e| self.error(e)),
        }
    }

    /// Starts a purge in the background if one is due and none is running.
    /// It runs outside the caller's call (and its timeout): a large backlog
    /// of expired rows must not fail a save that succeeded, nor mark the
    /// store down. Its failure is logged and only delays the next one.
    fn purge_in_background_if_due(&self, now: SystemTime) {
        let Some(interval) = self.purge_interval else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        {
            let mut next = self.next_purge.lock().unwrap_or_else(|p| p.into_inner());
            if now < *next {
                return;
            }
            if self
                .purging
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return; // the running purge covers this one
            }
            *next = saturating_add(now, interval);
        }
        let running = PurgeRunning(self.purging.clone());
        let (pool, sql, pooler) = (self.pool.clone(), self.sql.clone(), self.pooler);
        runtime.spawn(async move {
            let _running = running;
            match purge(&pool, &sql, now, pooler).await {
                Ok(n) => tracing::debug!(rows = n, "purged expired token cache rows"),
                Err(e) => tracing::debug!(error = %e, "purging expired token cache rows failed"),
            }
        });
    }
}

impl RemoteBackend for PostgresBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn get(
        &self,
        key: &str,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<Option<Stored>, StorageError>> {
        let key = key.to_owned();
        Box::pin(async move {
            let now = unix_secs(now);
            let pooler = self.pooler;
            let row = self
                .with_table(|| {
                    let (sql, key) = (self.sql.clone(), key.clone());
                    unit(&self.pool, pooler, move |c| {
                        Box::pin(async move {
                            statement(&sql.get, pooler)
                                .bind(key)
                                .bind(now)
                                .fetch_optional(c)
                                .await
                        })
                    })
                })
                .await;
            let row = match row {
                Ok(Some(row)) => row,
                Ok(None) => return Ok(None),
                Err(e) => return Err(e),
            };
            let value: Vec<u8> = row.try_get(0).map_err(|e| self.error(e))?;
            let expires_at: Option<f64> = row.try_get(1).map_err(|e| self.error(e))?;
            Ok(Some(Stored {
                value,
                expires_at: expires_at.and_then(from_unix_secs),
            }))
        })
    }

    fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        expires_at: Option<SystemTime>,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        let key = key.to_owned();
        // Partitions with refresh tokens come without an expiry: the
        // default TTL bounds them. Either way no later than MAX_TTL, which
        // PostgreSQL timestamps hold with room to spare.
        let expires_at = expires_at
            .or_else(|| {
                self.default_ttl
                    .map(|ttl| saturating_add(now, clamp_ttl(ttl)))
            })
            .map(|at| clamp_expiry(at, now));
        let value = Arc::new(value);
        Box::pin(async move {
            let expires = expires_at.map(unix_secs);
            let pooler = self.pooler;
            self.with_table(|| {
                let (sql, key, value) = (self.sql.clone(), key.clone(), value.clone());
                let notify = self.notify_as.as_ref().map(|id| payload(id, &key));
                unit(&self.pool, pooler, move |c| {
                    Box::pin(async move {
                        let query = match &notify {
                            None => statement(&sql.put, pooler),
                            Some(_) => statement(&sql.put_notify, pooler),
                        };
                        let query = query.bind(&key).bind(value.as_slice()).bind(expires);
                        let query = match &notify {
                            None => query,
                            Some(payload) => query.bind(&sql.channel).bind(payload),
                        };
                        query.execute(c).await
                    })
                })
            })
            .await?;
            self.purge_in_background_if_due(now);
            Ok(())
        })
    }

    fn delete(&self, key: &str) -> BoxFuture<'_, Result<(), StorageError>> {
        let key = key.to_owned();
        Box::pin(async move {
            let (sql, pooler) = (self.sql.clone(), self.pooler);
            let notify = self.notify_as.as_ref().map(|id| payload(id, &key));
            let done = unit(&self.pool, pooler, move |c| {
                Box::pin(async move {
                    match &notify {
                        None => statement(&sql.delete, pooler).bind(&key).execute(c).await,
                        Some(payload) => {
                            statement(&sql.delete_notify, pooler)
                                .bind(&key)
                                .bind(&sql.channel)
                                .bind(payload)
                                .execute(c)
                                .await
                        }
                    }
                })
            })
            .await;
            match done {
                Ok(_) => Ok(()),
                Err(e) if is_missing_relation(&e) => Ok(()), // no table, nothing to delete
                Err(e) => Err(self.error(e)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_round_trip_to_the_microsecond() {
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let back = from_unix_secs(unix_secs(t)).unwrap();
        let diff = back.duration_since(t).unwrap_or_else(|e| e.duration());
        assert!(diff < Duration::from_micros(1), "{diff:?}");
        assert_eq!(from_unix_secs(f64::NAN), None);
        assert_eq!(from_unix_secs(f64::INFINITY), None);
    }

    #[test]
    fn statements_quote_the_names() {
        let sql = Sql::new("s1", "T");
        assert!(sql.get.contains("\"s1\".\"T\""));
        assert!(sql.create_schema.contains("\"s1\""));
        assert!(sql.create_index.contains("\"T_expires_at\""));
        assert!(sql.purge.contains("LIMIT $2"));
        assert!(sql.put_notify.contains("pg_notify($4, $5)"));
        assert_eq!(sql.channel, "msal_cache:s1.T");
    }

    #[test]
    fn channels_fit_postgres_names_and_payloads_fit_notifications() {
        let long = "t".repeat(63);
        let channel = channel_name(&long, &long);
        assert!(channel.len() <= 63, "{channel}");
        assert_eq!(channel, channel_name(&long, &long), "stable");
        assert_ne!(channel, channel_name(&long, "other"));
        assert_eq!(payload("abc", "uid.utid"), "abc uid.utid");
        assert_eq!(payload("abc", &"k".repeat(8_000)), "abc");
    }
}
