//! The shared stores' contract (msal_test_support::store_contract) on
//! PostgreSQL directly (DATABASE_URL) and through PgBouncer in transaction
//! mode (PGBOUNCER_URL, started by scripts/test-servers.sh; the LISTEN
//! connection goes directly to PostgreSQL).

mod common;

use common::*;
use msal::http::BoxFuture;
use msal::storage::MemoryStore;
use msal_cache_postgres::{EncryptionKey, PostgresStore, PostgresStoreBuilder};
use msal_test_support::store_contract::{Backend, Setup};

fn configure(builder: PostgresStoreBuilder, setup: &Setup) -> PostgresStore {
    let mut builder = builder
        .clock(setup.clock.clone())
        .invalidation(setup.invalidation);
    if setup.l1 {
        builder = builder.l1(setup.memory_store());
    }
    if let Some(key) = setup.encryption_key {
        builder = builder.encryption_key(EncryptionKey::from_bytes(key));
    }
    builder.build().unwrap()
}

async fn put_stored(schema: &Schema, partition: &str, value: &[u8]) {
    // Through a store without anything on top, so the table exists.
    let plain = PostgresStore::builder(database_url())
        .schema(&schema.0)
        .invalidation(false)
        .build()
        .unwrap();
    plain.ensure_schema().await.unwrap();
    sqlx::query(&format!(
        "INSERT INTO \"{}\".msal_token_cache (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        schema.0
    ))
    .bind(partition)
    .bind(value)
    .execute(&raw().await)
    .await
    .unwrap();
}

fn status(store: &PostgresStore) -> Option<(bool, u64)> {
    store.invalidation_status().map(|s| (s.connected, s.lost))
}

async fn cut(store: &PostgresStore) {
    let name = store
        .invalidation_status()
        .expect("a store with an invalidation listener")
        .connection_name;
    assert_eq!(terminate_sessions(&name).await, 1, "the LISTEN session");
}

struct Direct;

impl Backend for Direct {
    type Store = PostgresStore;
    type Namespace = Schema;

    fn namespace(&self) -> BoxFuture<'_, Schema> {
        Box::pin(async { Schema::new() })
    }

    fn store(&self, ns: &Schema, setup: &Setup) -> PostgresStore {
        configure(PostgresStore::builder(database_url()).schema(&ns.0), setup)
    }

    fn stored<'a>(&'a self, ns: &'a Schema, partition: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(stored_value(ns, partition))
    }

    fn put_stored<'a>(
        &'a self,
        ns: &'a Schema,
        partition: &'a str,
        value: &'a [u8],
    ) -> BoxFuture<'a, ()> {
        Box::pin(put_stored(ns, partition, value))
    }

    fn l1(store: &PostgresStore) -> Option<MemoryStore> {
        store.l1().cloned()
    }

    fn invalidation(store: &PostgresStore) -> Option<(bool, u64)> {
        status(store)
    }

    fn cut_invalidation<'a>(&'a self, store: &'a PostgresStore) -> BoxFuture<'a, ()> {
        Box::pin(cut(store))
    }
}

struct ThroughPgBouncer;

impl Backend for ThroughPgBouncer {
    type Store = PostgresStore;
    type Namespace = Schema;

    fn namespace(&self) -> BoxFuture<'_, Schema> {
        Box::pin(async {
            require_pgbouncer().await;
            Schema::new()
        })
    }

    fn store(&self, ns: &Schema, setup: &Setup) -> PostgresStore {
        configure(
            PostgresStore::builder(pgbouncer_url())
                .behind_transaction_pooler(true)
                .listen_url(database_url())
                .schema(&ns.0),
            setup,
        )
    }

    fn stored<'a>(&'a self, ns: &'a Schema, partition: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(stored_value(ns, partition))
    }

    fn put_stored<'a>(
        &'a self,
        ns: &'a Schema,
        partition: &'a str,
        value: &'a [u8],
    ) -> BoxFuture<'a, ()> {
        Box::pin(put_stored(ns, partition, value))
    }

    fn l1(store: &PostgresStore) -> Option<MemoryStore> {
        store.l1().cloned()
    }

    fn invalidation(store: &PostgresStore) -> Option<(bool, u64)> {
        status(store)
    }

    fn cut_invalidation<'a>(&'a self, store: &'a PostgresStore) -> BoxFuture<'a, ()> {
        Box::pin(cut(store))
    }
}

mod direct {
    use super::*;
    msal_test_support::store_contract_tests!(Direct);
}

mod pgbouncer {
    use super::*;
    msal_test_support::store_contract_tests!(ThroughPgBouncer);
}
