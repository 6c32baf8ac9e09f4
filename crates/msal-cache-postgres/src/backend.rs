//! The L2 half: one row per partition in a PostgreSQL table.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use msal::http::BoxFuture;
use msal::storage::{StorageError, StorageErrorKind};
use msal_cache_common::{RemoteBackend, Stored};
use sqlx::{PgPool, Row};

/// The table's statements, with the (validated, quoted) names filled in once.
#[derive(Debug)]
pub(crate) struct Sql {
    pub(crate) create: [String; 3],
    get: String,
    put: String,
    delete: String,
    purge: String,
}

impl Sql {
    pub(crate) fn new(schema: &str, table: &str) -> Self {
        // Names were checked to be plain identifiers; quoting keeps their case.
        let t = format!("\"{schema}\".\"{table}\"");
        Self {
            create: [
                format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""),
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     key text PRIMARY KEY, \
                     value bytea NOT NULL, \
                     expires_at timestamptz NULL, \
                     updated_at timestamptz NOT NULL DEFAULT now())"
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS \"{table}_expires_at\" ON {t} (expires_at) WHERE expires_at IS NOT NULL"
                ),
            ],
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
            purge: format!("DELETE FROM {t} WHERE expires_at <= to_timestamp($1::float8)"),
        }
    }
}

/// PostgreSQL as a [`RemoteBackend`].
pub(crate) struct PostgresBackend {
    pub(crate) pool: PgPool,
    pub(crate) sql: Sql,
    /// Creates the schema and table when a statement finds them missing.
    pub(crate) create_on_demand: bool,
    /// How often a save also purges expired rows (`None`: never).
    pub(crate) purge_interval: Option<Duration>,
    next_purge: Mutex<SystemTime>,
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
            // Connection exceptions, shutdown, cannot connect now, out of
            // resources, login refused, and the table missing (when it is
            // not ours to create): the store cannot serve now.
            Some(code)
                if ["08", "57P", "53", "28"]
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

impl PostgresBackend {
    pub(crate) fn new(
        pool: PgPool,
        sql: Sql,
        create_on_demand: bool,
        purge_interval: Option<Duration>,
    ) -> Self {
        Self {
            pool,
            sql,
            create_on_demand,
            purge_interval,
            next_purge: Mutex::new(UNIX_EPOCH),
        }
    }

    /// Creates the schema, table and expiry index if missing. Serialized by
    /// an advisory lock so that instances starting together do not trip on
    /// each other's `CREATE ... IF NOT EXISTS`.
    pub(crate) async fn ensure_schema(&self) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await.map_err(storage_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('msal-cache-postgres schema'))")
            .execute(&mut *tx)
            .await
            .map_err(storage_error)?;
        for statement in &self.sql.create {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(storage_error)?;
        }
        tx.commit().await.map_err(storage_error)
    }

    /// Deletes rows expired at `now`; returns how many.
    pub(crate) async fn purge_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        let done = sqlx::query(&self.sql.purge)
            .bind(unix_secs(now))
            .execute(&self.pool)
            .await;
        match done {
            Ok(done) => Ok(done.rows_affected()),
            Err(e) if is_missing_relation(&e) => Ok(0),
            Err(e) => Err(storage_error(e)),
        }
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
                op().await.map_err(storage_error)
            }
            other => other.map_err(storage_error),
        }
    }

    /// A purge, if one is due; its failure only delays the next.
    async fn purge_if_due(&self, now: SystemTime) {
        let Some(interval) = self.purge_interval else {
            return;
        };
        {
            let mut next = self.next_purge.lock().unwrap_or_else(|p| p.into_inner());
            if now < *next {
                return;
            }
            *next = now + interval;
        }
        match self.purge_expired(now).await {
            Ok(n) => tracing::debug!(rows = n, "purged expired token cache rows"),
            Err(e) => tracing::debug!(error = %e, "purging expired token cache rows failed"),
        }
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
            let row = self
                .with_table(|| {
                    sqlx::query(&self.sql.get)
                        .bind(&key)
                        .bind(now)
                        .fetch_optional(&self.pool)
                })
                .await;
            let row = match row {
                Ok(Some(row)) => row,
                Ok(None) => return Ok(None),
                Err(e) => return Err(e),
            };
            let value: Vec<u8> = row.try_get(0).map_err(storage_error)?;
            let expires_at: Option<f64> = row.try_get(1).map_err(storage_error)?;
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
        Box::pin(async move {
            let expires = expires_at.map(unix_secs);
            self.with_table(|| {
                sqlx::query(&self.sql.put)
                    .bind(&key)
                    .bind(&value)
                    .bind(expires)
                    .execute(&self.pool)
            })
            .await?;
            self.purge_if_due(now).await;
            Ok(())
        })
    }

    fn delete(&self, key: &str) -> BoxFuture<'_, Result<(), StorageError>> {
        let key = key.to_owned();
        Box::pin(async move {
            match sqlx::query(&self.sql.delete)
                .bind(&key)
                .execute(&self.pool)
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if is_missing_relation(&e) => Ok(()), // no table, nothing to delete
                Err(e) => Err(storage_error(e)),
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
        assert!(sql.create[0].contains("\"s1\""));
    }
}
