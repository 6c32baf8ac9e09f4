//! PostgresStore through PgBouncer in transaction mode (PGBOUNCER_URL,
//! started by scripts/test-servers.sh without `ignore_startup_parameters`).

mod common;

use common::*;
use msal::storage::{CacheStore, MemoryStore, SaveHint, StorageErrorKind};
use msal_cache_postgres::PostgresStore;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// 20 tasks, 30 saves and loads each; the errors they met.
async fn hammer(store: &PostgresStore) -> Vec<String> {
    let tasks: Vec<_> = (0..20)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut errors = Vec::new();
                for i in 0..30 {
                    let p = format!("p{t}-{i}");
                    let doc = format!("{t}-{i}").into_bytes();
                    if let Err(e) = store.save(&p, doc.clone(), SaveHint::default()).await {
                        errors.push(e.to_string());
                    }
                    match store.load(&p).await {
                        Ok(Some(found)) if found == doc => {}
                        Ok(other) => errors.push(format!("read {other:?}")),
                        Err(e) => errors.push(e.to_string()),
                    }
                }
                errors
            })
        })
        .collect();
    let mut errors = Vec::new();
    for t in tasks {
        errors.extend(t.await.unwrap());
    }
    errors
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_transaction_pooler_statements_need_no_session_state() {
    require_pgbouncer().await;
    let schema = Schema::new();
    let store = PostgresStore::builder(pgbouncer_url())
        .schema(&schema.0)
        .behind_transaction_pooler(true)
        .fail_open(false)
        .build()
        .unwrap();
    store.ensure_schema().await.unwrap();
    let errors = hammer(&store).await;
    assert!(
        errors.is_empty(),
        "{} errors: {:?}",
        errors.len(),
        errors.first()
    );
    assert_eq!(store.purge_expired().await.unwrap(), 0);

    // The same pooler with sqlx's defaults (prepared statements kept per
    // connection): a server connection another client gets next does not
    // have them. This shows PgBouncer really runs in transaction mode.
    let options: PgConnectOptions = pgbouncer_url().parse().unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .connect_lazy_with(options.extra_float_digits(None));
    let naive = PostgresStore::with_pool(pool)
        .schema(&schema.0)
        .fail_open(false)
        .build()
        .unwrap();
    let errors = hammer(&naive).await;
    assert!(
        errors.iter().any(|e| e.contains("prepared statement")),
        "{} errors: {:?}",
        errors.len(),
        errors.first()
    );
}

#[tokio::test]
async fn an_l1_behind_a_transaction_pooler_needs_a_direct_listen_url() {
    let err = PostgresStore::builder(pgbouncer_url())
        .behind_transaction_pooler(true)
        .l1(MemoryStore::new())
        .build()
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Other);
    assert!(err.to_string().contains("listen_url"), "{err}");
    // Without invalidation, or with a direct LISTEN connection, it builds.
    PostgresStore::builder(pgbouncer_url())
        .behind_transaction_pooler(true)
        .l1(MemoryStore::new())
        .invalidation(false)
        .build()
        .unwrap();
    let err = PostgresStore::builder(pgbouncer_url())
        .behind_transaction_pooler(true)
        .l1(MemoryStore::new())
        .listen_url("mysql://u:hunter2@h/db")
        .build()
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
