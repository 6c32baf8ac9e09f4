//! Helpers for tests on the machine's real PostgreSQL (DATABASE_URL).
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use msal::clock::ManualClock;
use msal::storage::MemoryStore;
use msal_cache_postgres::{PostgresStore, PostgresStoreBuilder};
use sqlx::PgPool;

pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `host:port` of DATABASE_URL, for a TCP proxy in front of it.
pub fn db_addr() -> String {
    let url = url::Url::parse(&database_url()).expect("DATABASE_URL is a URL");
    format!(
        "{}:{}",
        url.host_str().expect("DATABASE_URL has a host"),
        url.port().unwrap_or(5432)
    )
}

/// DATABASE_URL with its host and port replaced by `addr`.
pub fn database_url_via(addr: std::net::SocketAddr) -> String {
    let mut url = url::Url::parse(&database_url()).unwrap();
    url.set_host(Some(&addr.ip().to_string())).unwrap();
    url.set_port(Some(addr.port())).unwrap();
    url.to_string()
}

/// A unique schema, dropped (with everything in it) when this is dropped,
/// also on panic.
pub struct Schema(pub String);

impl Schema {
    pub fn new() -> Self {
        Self(format!("msal_test_{}", uuid::Uuid::new_v4().simple()))
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let statement = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.0);
        // Its own thread and runtime: Drop may run inside a test's runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(pool) = PgPool::connect(&database_url()).await {
                    let _ = sqlx::query(&statement).execute(&pool).await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

/// Runs `statement` as the admin user, from its own thread and runtime (for
/// `Drop`, which may run inside a test's runtime or after a panic).
fn run_detached(statements: Vec<String>) {
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            if let Ok(pool) = PgPool::connect(&database_url()).await {
                for statement in &statements {
                    let _ = sqlx::query(statement).execute(&pool).await;
                }
                pool.close().await;
            }
        });
    })
    .join();
}

/// A login role of the test's own, with no privileges but what the test
/// grants; dropped (its grants revoked first) when this is dropped.
pub struct Role(pub String);

impl Role {
    pub async fn create() -> Self {
        let role = Self(format!("msal_test_role_{}", uuid::Uuid::new_v4().simple()));
        sqlx::query(&format!("CREATE ROLE \"{}\" LOGIN", role.0))
            .execute(&raw().await)
            .await
            .unwrap();
        role
    }

    /// DATABASE_URL, logging in as this role (the test server trusts local logins).
    pub fn url(&self) -> String {
        let mut url = url::Url::parse(&database_url()).unwrap();
        url.set_username(&self.0).unwrap();
        url.set_password(None).unwrap();
        url.to_string()
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        run_detached(vec![
            format!("DROP OWNED BY \"{}\"", self.0),
            format!("DROP ROLE IF EXISTS \"{}\"", self.0),
        ]);
    }
}

/// A direct pool for checking what is really in the table.
pub async fn raw() -> PgPool {
    PgPool::connect(&database_url()).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL must run at {} for these tests: {e}",
            database_url()
        )
    })
}

pub async fn count_rows(schema: &Schema, table: &str) -> i64 {
    sqlx::query_scalar(&format!(
        "SELECT count(*) FROM \"{}\".\"{table}\"",
        schema.0
    ))
    .fetch_one(&raw().await)
    .await
    .unwrap()
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_unix(1_700_000_000))
}

pub fn l1(clock: &Arc<ManualClock>) -> MemoryStore {
    MemoryStore::builder().clock(clock.clone()).build()
}

/// A builder on the real database with a unique schema and the manual clock.
pub fn builder(schema: &Schema, clock: &Arc<ManualClock>) -> PostgresStoreBuilder {
    PostgresStore::builder(database_url())
        .schema(&schema.0)
        .clock(clock.clone())
        .retry_interval(Duration::from_secs(5))
}

// ---------- a confidential client on the store, with a scripted identity provider ----------

#[allow(unused_imports)]
pub use msal_test_support::confidential::*;

// ---------- PgBouncer in transaction mode (scripts/test-servers.sh starts it) ----------

/// PGBOUNCER_URL, or the PgBouncer `scripts/test-servers.sh` starts in
/// front of DATABASE_URL's server.
pub fn pgbouncer_url() -> String {
    std::env::var("PGBOUNCER_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:6433/test".to_owned())
}

/// Fails with a clear message unless PgBouncer answers.
pub async fn require_pgbouncer() {
    let options: sqlx::postgres::PgConnectOptions = pgbouncer_url().parse().unwrap();
    let options = options.statement_cache_capacity(0).extra_float_digits(None);
    use sqlx::ConnectOptions;
    if let Err(e) = options.connect().await {
        panic!(
            "PgBouncer must run at {} for these tests (bash scripts/test-servers.sh start): {e}",
            pgbouncer_url()
        );
    }
}

/// Ends (`pg_terminate_backend`) every session whose application_name is
/// `name`; returns how many.
pub async fn terminate_sessions(name: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1) t",
    )
    .bind(name)
    .fetch_one(&raw().await)
    .await
    .unwrap()
}

/// The stored value of `partition` in `schema`'s default table.
pub async fn stored_value(schema: &Schema, partition: &str) -> Option<Vec<u8>> {
    let sql = format!(
        "SELECT value FROM \"{}\".msal_token_cache WHERE key = $1",
        schema.0
    );
    match sqlx::query_scalar(&sql)
        .bind(partition)
        .fetch_optional(&raw().await)
        .await
    {
        Ok(value) => value,
        // No table yet: nothing stored.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => None,
        Err(e) => panic!("{e}"),
    }
}
