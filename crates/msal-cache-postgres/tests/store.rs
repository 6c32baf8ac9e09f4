//! PostgresStore on the machine's real PostgreSQL: table, expiry and purge,
//! L1, encryption, isolation.

mod common;

use std::time::Duration;

use common::*;
use msal::clock::Clock;
use msal::storage::{
    CacheAccess, CacheAccessArgs, CacheStore, SaveHint, StorageErrorKind, StoreAccess,
};
use msal_cache_postgres::{DEFAULT_TABLE, EncryptionKey, PostgresStore};
use msal_test_support::LogCapture;
use sqlx::Row;

async fn raw_row(store: &PostgresStore, key: &str) -> Option<(Vec<u8>, Option<f64>)> {
    let sql = format!(
        "SELECT value, extract(epoch FROM expires_at)::float8 FROM \"{}\".\"{}\" WHERE key = $1",
        store.schema(),
        store.table()
    );
    sqlx::query(&sql)
        .bind(key)
        .fetch_optional(&raw().await)
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1)))
}

#[tokio::test]
async fn creates_its_table_on_demand_and_keeps_one_row_per_partition() {
    let (schema, clock) = (Schema::new(), clock());
    let store = builder(&schema, &clock).build().unwrap();
    assert_eq!(store.table(), DEFAULT_TABLE);
    // Nothing exists yet: a load is a plain miss, and creates the table.
    assert_eq!(store.load("cid_tid_AppTokenCache").await.unwrap(), None);
    assert!(store.is_available());

    let expiry = clock.now() + Duration::from_secs(3_600);
    store
        .save(
            "cid_tid_AppTokenCache",
            b"{\"v\":1}".to_vec(),
            SaveHint::expiring_at(Some(expiry)),
        )
        .await
        .unwrap();
    let (value, expires) = raw_row(&store, "cid_tid_AppTokenCache").await.unwrap();
    assert_eq!(value, b"{\"v\":1}");
    assert_eq!(expires, Some(1_700_003_600.0));
    assert_eq!(
        store
            .load("cid_tid_AppTokenCache")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"{\"v\":1}"[..])
    );

    store
        .save(
            "cid_tid_AppTokenCache",
            b"{\"v\":2}".to_vec(),
            SaveHint::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        raw_row(&store, "cid_tid_AppTokenCache").await.unwrap(),
        (b"{\"v\":2}".to_vec(), None)
    );
    assert_eq!(count_rows(&schema, DEFAULT_TABLE).await, 1);
    store.remove("cid_tid_AppTokenCache").await.unwrap();
    assert_eq!(count_rows(&schema, DEFAULT_TABLE).await, 0);
    assert_eq!(store.load("cid_tid_AppTokenCache").await.unwrap(), None);
}

#[tokio::test]
async fn ensure_schema_is_idempotent_under_concurrency_and_makes_the_documented_table() {
    let (schema, clock) = (Schema::new(), clock());
    let store = builder(&schema, &clock).table("tokens").build().unwrap();
    let runs: Vec<_> = (0..6).map(|_| store.ensure_schema()).collect();
    for result in futures::future::join_all(runs).await {
        result.unwrap();
    }
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text, is_nullable::text FROM information_schema.columns \
         WHERE table_schema = $1 AND table_name = 'tokens' ORDER BY ordinal_position",
    )
    .bind(&schema.0)
    .fetch_all(&raw().await)
    .await
    .unwrap();
    let columns: Vec<_> = columns
        .iter()
        .map(|(n, t, null)| format!("{n} {t} {null}"))
        .collect();
    assert_eq!(
        columns,
        [
            "key text NO",
            "value bytea NO",
            "expires_at timestamp with time zone YES",
            "updated_at timestamp with time zone NO"
        ]
    );
}

#[tokio::test]
async fn expired_rows_are_ignored_then_purged() {
    let (schema, clock) = (Schema::new(), clock());
    let store = builder(&schema, &clock)
        .purge_interval(None)
        .build()
        .unwrap();
    let soon = SaveHint::expiring_at(Some(clock.now() + Duration::from_secs(60)));
    store.save("expiring", b"a".to_vec(), soon).await.unwrap();
    store
        .save("kept", b"b".to_vec(), SaveHint::default())
        .await
        .unwrap();
    let later = SaveHint::expiring_at(Some(clock.now() + Duration::from_secs(600)));
    store.save("later", b"c".to_vec(), later).await.unwrap();

    clock.advance(Duration::from_secs(60));
    assert_eq!(
        store.load("expiring").await.unwrap(),
        None,
        "expired by msal's clock"
    );
    assert!(
        raw_row(&store, "expiring").await.is_some(),
        "still in the table until purged"
    );
    assert_eq!(store.purge_expired().await.unwrap(), 1);
    assert_eq!(
        raw_row(&store, "expiring").await,
        None,
        "the expired partition disappeared"
    );
    assert_eq!(count_rows(&schema, DEFAULT_TABLE).await, 2);
    assert_eq!(store.purge_expired().await.unwrap(), 0);
    assert!(store.load("kept").await.unwrap().is_some());
    assert!(store.load("later").await.unwrap().is_some());
}

#[tokio::test]
async fn saves_purge_opportunistically_once_per_interval() {
    let (schema, clock) = (Schema::new(), clock());
    let store = builder(&schema, &clock)
        .purge_interval(Some(Duration::from_secs(600)))
        .build()
        .unwrap();
    // This first save purges (nothing yet) and schedules the next purge.
    store
        .save(
            "a",
            b"x".to_vec(),
            SaveHint::expiring_at(Some(clock.now() + Duration::from_secs(10))),
        )
        .await
        .unwrap();
    clock.advance(Duration::from_secs(20));
    store
        .save("b", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert!(
        raw_row(&store, "a").await.is_some(),
        "not yet: inside the purge interval"
    );
    clock.advance(Duration::from_secs(600));
    store
        .save("c", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap();
    // The purge the save started runs in the background.
    eventually(|| async { raw_row(&store, "a").await.is_none() }).await;
    assert_eq!(count_rows(&schema, DEFAULT_TABLE).await, 2);
}

/// Waits (up to 30 s of real time, for a loaded machine) for `check` to hold.
async fn eventually<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 30 s");
}

/// Adds `n` rows that expired before the test clock's now.
async fn insert_expired(schema: &Schema, n: i64) {
    sqlx::query(&format!(
        "INSERT INTO \"{}\".\"{DEFAULT_TABLE}\" (key, value, expires_at) \
         SELECT 'expired-' || i, '\\x00'::bytea, to_timestamp(1699999000) FROM generate_series(1, $1) i",
        schema.0
    ))
    .bind(n)
    .execute(&raw().await)
    .await
    .unwrap();
}

async fn count_expired(schema: &Schema) -> i64 {
    sqlx::query_scalar(&format!(
        "SELECT count(*) FROM \"{}\".\"{DEFAULT_TABLE}\" WHERE key LIKE 'expired-%'",
        schema.0
    ))
    .fetch_one(&raw().await)
    .await
    .unwrap()
}

#[tokio::test]
async fn purges_run_in_batches_outside_the_save_and_never_fail_it() {
    let (schema, clock) = (Schema::new(), clock());
    let store = builder(&schema, &clock)
        .purge_interval(Some(Duration::from_secs(600)))
        .operation_timeout(Duration::from_millis(500))
        .fail_open(false)
        .build()
        .unwrap();
    store.ensure_schema().await.unwrap();
    insert_expired(&schema, 2_500).await;
    // Another session holds a lock on an expired row: a purge must wait for it.
    let pool = raw().await;
    let mut locker = pool.begin().await.unwrap();
    sqlx::query(&format!(
        "SELECT 1 FROM \"{}\".\"{DEFAULT_TABLE}\" WHERE key = 'expired-7' FOR UPDATE",
        schema.0
    ))
    .execute(&mut *locker)
    .await
    .unwrap();

    let started = std::time::Instant::now();
    for i in 0..3 {
        store
            .save(&format!("fresh-{i}"), b"x".to_vec(), SaveHint::default())
            .await
            .unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "the saves did not wait for the purge: {:?}",
        started.elapsed()
    );
    assert!(store.is_available(), "a slow purge is not an outage");
    assert!(raw_row(&store, "fresh-2").await.is_some());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        count_expired(&schema).await > 0,
        "the purge is still waiting for the lock"
    );
    assert!(store.load("fresh-0").await.unwrap().is_some());
    assert!(store.is_available());

    locker.rollback().await.unwrap();
    eventually(|| async { count_expired(&schema).await == 0 }).await;
    assert_eq!(
        count_rows(&schema, DEFAULT_TABLE).await,
        3,
        "fresh rows kept"
    );
}

#[tokio::test]
async fn purge_expired_deletes_a_backlog_larger_than_one_batch() {
    let (schema, clock) = (Schema::new(), clock());
    let store = builder(&schema, &clock)
        .purge_interval(None)
        .build()
        .unwrap();
    store.ensure_schema().await.unwrap();
    insert_expired(&schema, 2_345).await;
    store
        .save("kept", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(store.purge_expired().await.unwrap(), 2_345);
    assert_eq!(count_rows(&schema, DEFAULT_TABLE).await, 1);
}

#[tokio::test]
async fn default_ttl_bounds_partitions_saved_without_an_expiry() {
    let (schema, clock) = (Schema::new(), clock());
    let store = builder(&schema, &clock)
        .default_ttl(Duration::from_secs(30))
        .purge_interval(None)
        .build()
        .unwrap();
    store
        .save("uid.utid", b"{}".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(
        raw_row(&store, "uid.utid").await.unwrap().1,
        Some(1_700_000_030.0),
        "now + default_ttl by msal's clock"
    );
    // A partition's own expiry wins.
    let own = SaveHint::expiring_at(Some(clock.now() + Duration::from_secs(3_600)));
    store.save("app", b"{}".to_vec(), own).await.unwrap();
    assert_eq!(
        raw_row(&store, "app").await.unwrap().1,
        Some(1_700_003_600.0)
    );
    clock.advance(Duration::from_secs(30));
    assert_eq!(store.load("uid.utid").await.unwrap(), None, "expired");
    assert_eq!(store.purge_expired().await.unwrap(), 1);
    assert_eq!(raw_row(&store, "uid.utid").await, None);
    assert!(store.load("app").await.unwrap().is_some());

    // Without it, no expiry at all (the rows live until removed).
    let forever = builder(&schema, &clock).build().unwrap();
    forever
        .save("other", b"{}".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(raw_row(&store, "other").await.unwrap().1, None);
}

#[tokio::test]
async fn huge_ttls_and_intervals_are_capped_instead_of_failing_saves() {
    let (schema, clock) = (Schema::new(), clock());
    let store = builder(&schema, &clock)
        .default_ttl(Duration::MAX)
        .purge_interval(Some(Duration::MAX))
        .fail_open(false)
        .build()
        .unwrap();
    let ten_years = (10 * 365 * 24 * 3600) as f64;
    store
        .save("uid.utid", b"{}".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(
        raw_row(&store, "uid.utid").await.unwrap().1,
        Some(1_700_000_000.0 + ten_years)
    );
    let far = msal_cache_common::time::saturating_add(clock.now(), Duration::MAX);
    store
        .save("p", b"{}".to_vec(), SaveHint::expiring_at(Some(far)))
        .await
        .unwrap();
    assert_eq!(
        raw_row(&store, "p").await.unwrap().1,
        Some(1_700_000_000.0 + ten_years)
    );
    // A second save with the purge interval of Duration::MAX still works.
    store
        .save("q", b"{}".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert!(store.load("p").await.unwrap().is_some());
}

#[tokio::test]
async fn a_role_without_create_privileges_uses_an_existing_schema_and_table() {
    let (schema, open_schema, clock) = (Schema::new(), Schema::new(), clock());
    let admin = builder(&schema, &clock).build().unwrap();
    admin.ensure_schema().await.unwrap();
    let role = Role::create().await;
    let pool = raw().await;
    for grant in [
        format!("GRANT USAGE ON SCHEMA \"{}\" TO \"{}\"", schema.0, role.0),
        format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON \"{}\".\"{DEFAULT_TABLE}\" TO \"{}\"",
            schema.0, role.0
        ),
        // A second schema where the role may create tables, not schemas.
        format!("CREATE SCHEMA \"{}\"", open_schema.0),
        format!(
            "GRANT USAGE, CREATE ON SCHEMA \"{}\" TO \"{}\"",
            open_schema.0, role.0
        ),
    ] {
        sqlx::query(&grant).execute(&pool).await.unwrap();
    }
    let may_create_schemas: bool =
        sqlx::query_scalar("SELECT has_database_privilege($1, current_database(), 'CREATE')")
            .bind(&role.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!may_create_schemas, "the role lacks CREATE on the database");

    let restricted = PostgresStore::builder(role.url())
        .schema(&schema.0)
        .clock(clock.clone())
        .fail_open(false)
        .build()
        .unwrap();
    restricted.ensure_schema().await.unwrap();
    restricted
        .save(
            "p",
            b"x".to_vec(),
            SaveHint::expiring_at(Some(clock.now() + Duration::from_secs(60))),
        )
        .await
        .unwrap();
    assert_eq!(
        restricted.load("p").await.unwrap().as_deref(),
        Some(&b"x"[..])
    );
    clock.advance(Duration::from_secs(60));
    assert_eq!(restricted.purge_expired().await.unwrap(), 1);
    restricted.remove("p").await.unwrap();
    assert!(restricted.is_available());

    // Schema there, table missing, CREATE on the schema only: made on demand.
    let own_table = PostgresStore::builder(role.url())
        .schema(&open_schema.0)
        .table("tokens")
        .clock(clock.clone())
        .fail_open(false)
        .build()
        .unwrap();
    own_table
        .save("p", b"y".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(
        own_table.load("p").await.unwrap().as_deref(),
        Some(&b"y"[..])
    );
    restricted.pool().close().await;
    own_table.pool().close().await;
}

#[tokio::test]
async fn a_busy_pool_is_a_miss_for_that_call_not_an_outage() {
    let (schema, clock) = (Schema::new(), clock());
    let store = builder(&schema, &clock).max_connections(1).build().unwrap();
    store
        .save("p", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(store.pool().options().get_max_connections(), 1);
    let held = store.pool().acquire().await.unwrap();
    assert_eq!(
        store.load("p").await.unwrap(),
        None,
        "no connection free: a miss"
    );
    assert!(store.is_available(), "the database is fine, only busy");
    let closed = PostgresStore::with_pool(store.pool().clone())
        .schema(&schema.0)
        .clock(clock.clone())
        .fail_open(false)
        .build()
        .unwrap();
    let err = closed.load("p").await.unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::LockTimeout, "{err}");
    assert!(err.to_string().contains("max_connections"), "{err}");
    drop(held);
    assert_eq!(
        store.load("p").await.unwrap().as_deref(),
        Some(&b"x"[..]),
        "the next call uses the database at once"
    );
}

#[tokio::test]
async fn a_refused_login_is_an_error_not_an_outage() {
    let (schema, clock) = (Schema::new(), clock());
    let mut url = url::Url::parse(&database_url()).unwrap();
    url.set_username(&format!("no_such_role_{}", uuid::Uuid::new_v4().simple()))
        .unwrap();
    let store = PostgresStore::builder(url.as_str())
        .schema(&schema.0)
        .clock(clock.clone())
        .build()
        .unwrap();
    let err = store.load("p").await.unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Other, "{err}");
    assert!(store.is_available(), "the server answered");
}

#[tokio::test]
async fn saving_an_already_expired_partition_deletes_its_row() {
    let (schema, clock) = (Schema::new(), clock());
    let store = builder(&schema, &clock).build().unwrap();
    store
        .save("p", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap();
    store
        .save("p", b"y".to_vec(), SaveHint::expiring_at(Some(clock.now())))
        .await
        .unwrap();
    assert_eq!(raw_row(&store, "p").await, None);
}

#[tokio::test]
async fn l1_reads_through_with_the_row_expiry_then_serves_hits_alone() {
    let (schema, clock) = (Schema::new(), clock());
    let plain = builder(&schema, &clock).build().unwrap();
    // Invalidation off: L1 keeps its copy through a change behind its back
    // (the contract tests, tests/contract.rs, cover the default).
    let layered = builder(&schema, &clock)
        .l1(l1(&clock))
        .invalidation(false)
        .build()
        .unwrap();
    plain
        .save(
            "p",
            b"from-db".to_vec(),
            SaveHint::expiring_at(Some(clock.now() + Duration::from_secs(120))),
        )
        .await
        .unwrap();
    assert_eq!(
        layered.load("p").await.unwrap().as_deref(),
        Some(&b"from-db"[..])
    );
    sqlx::query(&format!("DELETE FROM \"{}\".\"{DEFAULT_TABLE}\"", schema.0))
        .execute(&raw().await)
        .await
        .unwrap();
    assert_eq!(
        layered.load("p").await.unwrap().as_deref(),
        Some(&b"from-db"[..]),
        "an L1 hit"
    );
    clock.advance(Duration::from_secs(120));
    assert_eq!(
        layered.load("p").await.unwrap(),
        None,
        "the L1 copy expired with the row"
    );

    layered
        .save("q", b"both".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(raw_row(&layered, "q").await.unwrap().0, b"both");
    assert!(layered.l1().unwrap().load("q").await.unwrap().is_some());
}

#[tokio::test]
async fn values_are_encrypted_in_the_table_and_unreadable_ones_are_deleted_as_misses() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let (schema, clock) = (Schema::new(), clock());
    let key = EncryptionKey::generate();
    let store = builder(&schema, &clock)
        .encryption_key(key.clone())
        .build()
        .unwrap();
    let doc = br#"{"RefreshToken":{"x":{"secret":"rt-top-secret"}}}"#.to_vec();
    store
        .save("uid.utid", doc.clone(), SaveHint::default())
        .await
        .unwrap();
    let (value, _) = raw_row(&store, "uid.utid").await.unwrap();
    assert!(!value.windows(10).any(|w| w == b"top-secret"));

    assert_eq!(
        builder(&schema, &clock)
            .encryption_key(key)
            .build()
            .unwrap()
            .load("uid.utid")
            .await
            .unwrap(),
        Some(doc.clone())
    );
    let wrong = builder(&schema, &clock)
        .encryption_key(EncryptionKey::generate())
        .build()
        .unwrap();
    assert_eq!(
        wrong.load("uid.utid").await.unwrap(),
        None,
        "a miss: the app asks the identity provider"
    );
    assert_eq!(
        raw_row(&store, "uid.utid").await,
        None,
        "the row is deleted"
    );
    assert!(wrong.is_available());

    // Tampered in the table.
    store
        .save("uid.utid", doc.clone(), SaveHint::default())
        .await
        .unwrap();
    let mut tampered = raw_row(&store, "uid.utid").await.unwrap().0;
    tampered[5] ^= 1;
    sqlx::query(&format!(
        "UPDATE \"{}\".\"{DEFAULT_TABLE}\" SET value = $1",
        schema.0
    ))
    .bind(tampered)
    .execute(&raw().await)
    .await
    .unwrap();
    assert_eq!(store.load("uid.utid").await.unwrap(), None);
    assert_eq!(raw_row(&store, "uid.utid").await, None);
    store
        .save("uid.utid", doc.clone(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(store.load("uid.utid").await.unwrap(), Some(doc));

    let text = logs.contents();
    assert_eq!(
        text.matches("discarding an unreadable token cache value")
            .count(),
        2,
        "{text}"
    );
    assert!(
        !text.contains("uid.utid") && !text.contains("top-secret"),
        "no key (personal data), no value: {text}"
    );
}

#[tokio::test]
async fn a_rotated_key_still_reads_old_rows_and_writes_with_the_new_one() {
    let (schema, clock) = (Schema::new(), clock());
    let (old_key, new_key) = (EncryptionKey::generate(), EncryptionKey::generate());
    let old = builder(&schema, &clock)
        .encryption_key(old_key.clone())
        .build()
        .unwrap();
    old.save("p", b"written-before".to_vec(), SaveHint::default())
        .await
        .unwrap();
    let rotated = builder(&schema, &clock)
        .encryption_key(new_key.clone())
        .previous_encryption_key(old_key)
        .build()
        .unwrap();
    assert_eq!(
        rotated.load("p").await.unwrap().as_deref(),
        Some(&b"written-before"[..])
    );
    rotated
        .save("p", b"written-after".to_vec(), SaveHint::default())
        .await
        .unwrap();
    let new_only = builder(&schema, &clock)
        .encryption_key(new_key)
        .build()
        .unwrap();
    assert_eq!(
        new_only.load("p").await.unwrap().as_deref(),
        Some(&b"written-after"[..]),
        "sealed with the new key"
    );
}

#[tokio::test]
async fn without_create_on_demand_a_missing_table_is_reported() {
    let (schema, clock) = (Schema::new(), clock());
    let store = builder(&schema, &clock)
        .create_on_demand(false)
        .fail_open(false)
        .build()
        .unwrap();
    let err = store
        .save("p", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(
        !store.is_available(),
        "counted as an outage: logged once, probed again later"
    );
    store.ensure_schema().await.unwrap();
    clock.advance(Duration::from_secs(5));
    store
        .save("p", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert!(store.load("p").await.unwrap().is_some());
}

#[tokio::test]
async fn schemas_and_partitions_are_isolated_and_a_callers_pool_works() {
    let (a, b, clock) = (Schema::new(), Schema::new(), clock());
    let app_a = PostgresStore::with_pool(raw().await)
        .schema(&a.0)
        .clock(clock.clone())
        .build()
        .unwrap();
    let app_b = builder(&b, &clock).build().unwrap();
    app_a
        .save("p", b"a".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(app_b.load("p").await.unwrap(), None);
    assert_eq!(app_a.load("p2").await.unwrap(), None);
    assert_eq!(app_a.load("p").await.unwrap().as_deref(), Some(&b"a"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_on_many_partitions_each_see_their_own() {
    let (schema, clock) = (Schema::new(), clock());
    let store = builder(&schema, &clock).build().unwrap();
    store.ensure_schema().await.unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                for round in 0..5 {
                    let partition = format!("cid_tenant{i}_AppTokenCache");
                    let doc = format!("{{\"tenant\":{i},\"round\":{round}}}").into_bytes();
                    store
                        .save(&partition, doc.clone(), SaveHint::default())
                        .await
                        .unwrap();
                    assert_eq!(store.load(&partition).await.unwrap(), Some(doc));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(count_rows(&schema, DEFAULT_TABLE).await, 40);
    assert!(store.is_available());
}

#[tokio::test]
async fn works_as_cache_access_hooks() {
    let (schema, clock) = (Schema::new(), clock());
    let hooks = StoreAccess::new(builder(&schema, &clock).build().unwrap());
    let args = CacheAccessArgs::new(Some("assertion-hash"), false);
    assert_eq!(hooks.before_access(args).await.unwrap(), None);
    let expiry = clock.now() + Duration::from_secs(3_599);
    hooks
        .after_access(args.after(true, Some(expiry)), Some(b"{}"))
        .await
        .unwrap();
    assert_eq!(
        hooks.before_access(args).await.unwrap().as_deref(),
        Some(&b"{}"[..])
    );
    assert_eq!(
        raw_row(hooks.store(), "assertion-hash").await.unwrap().1,
        Some(1_700_003_599.0)
    );
}

#[tokio::test]
async fn a_key_postgres_cannot_store_is_an_error_not_an_outage() {
    let (schema, clock) = (Schema::new(), clock());
    let store = builder(&schema, &clock).build().unwrap();
    let err = store
        .save("uid\0.utid", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Other, "{err}");
    assert!(store.is_available(), "the database answered");
    store
        .save("uid.utid", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert!(store.load("uid.utid").await.unwrap().is_some());
}

#[tokio::test]
async fn writes_and_removals_notify_the_tables_channel_unless_invalidation_is_off() {
    let (schema, clock) = (Schema::new(), clock());
    let store = builder(&schema, &clock).build().unwrap();
    let quiet = builder(&schema, &clock)
        .invalidation(false)
        .build()
        .unwrap();
    store.ensure_schema().await.unwrap();
    // The test schema's name is long: the channel is a hash of it.
    assert!(store.channel().starts_with("msal_cache:") && store.channel().len() <= 63);
    let short = PostgresStore::builder(database_url()).build().unwrap();
    assert_eq!(
        short.channel(),
        format!("msal_cache:public.{DEFAULT_TABLE}")
    );
    let mut listener = sqlx::postgres::PgListener::connect(&database_url())
        .await
        .unwrap();
    listener.listen(&store.channel()).await.unwrap();
    quiet
        .save("silent", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap();
    store
        .save("uid.utid", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap();
    store.remove("uid.utid").await.unwrap();
    let mut payloads = Vec::new();
    for _ in 0..2 {
        let n = tokio::time::timeout(Duration::from_secs(5), listener.recv())
            .await
            .expect("a notification")
            .unwrap();
        payloads.push(n.payload().to_owned());
    }
    for payload in &payloads {
        let (instance, partition) = payload.split_once(' ').expect("<instance> <partition>");
        assert_eq!(instance.len(), 16, "{payload}");
        assert_eq!(partition, "uid.utid", "{payload}");
    }
    assert_eq!(payloads[0], payloads[1], "one writer, one partition");
    // Nothing else came (the quiet store's save sent nothing).
    assert!(
        tokio::time::timeout(Duration::from_millis(200), listener.recv())
            .await
            .is_err()
    );
}
