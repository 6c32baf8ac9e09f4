//! Store-layer latency on PostgreSQL: L2 hit (plain and encrypted), L1 hit,
//! save, and concurrent hits per second on a 2-worker runtime. Needs the
//! database at DATABASE_URL; works in a schema of its own, dropped after.
//! Run: `cargo bench -p msal-cache-postgres`.
#![allow(missing_docs)] // criterion's macros generate undocumented functions

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use msal::storage::{CacheStore, MemoryStore, SaveHint};
use msal_cache_postgres::{EncryptionKey, PostgresStore};

/// About the size of an app-token partition (one access token + metadata).
fn document() -> Vec<u8> {
    let mut doc = br#"{"AccessToken":{"k":{"secret":""#.to_vec();
    doc.resize(2_000, b'x');
    doc.extend_from_slice(br#""}}}"#);
    doc
}

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn partition(i: usize) -> String {
    format!("11111111-2222-3333-4444-555555555555_tenant{i:05}_AppTokenCache")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let schema = format!("msal_bench_{}", uuid::Uuid::new_v4().simple());
    let build = |l1: bool, encrypted: bool| {
        let _guard = rt.enter();
        let mut builder = PostgresStore::builder(database_url()).schema(&schema);
        if l1 {
            builder = builder.l1(MemoryStore::new());
        }
        if encrypted {
            builder = builder.encryption_key(EncryptionKey::from_bytes([9; 32]));
        }
        builder.build().unwrap()
    };
    let plain = build(false, false);
    let encrypted = build(false, true);
    let with_l1 = build(true, false);
    rt.block_on(async {
        plain.ensure_schema().await.unwrap();
        for i in 0..10_000 {
            plain
                .save(&partition(i), document(), SaveHint::default())
                .await
                .unwrap();
        }
        encrypted
            .save("encrypted", document(), SaveHint::default())
            .await
            .unwrap();
    });

    let mut group = c.benchmark_group("postgres_load_hit");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let key = partition(5_000);
    group.bench_function("l2_hit_10000_rows", |b| {
        b.to_async(&rt)
            .iter(|| async { plain.load(&key).await.unwrap().unwrap() })
    });
    group.bench_function("l2_hit_encrypted", |b| {
        b.to_async(&rt)
            .iter(|| async { encrypted.load("encrypted").await.unwrap().unwrap() })
    });
    group.bench_function("l1_hit", |b| {
        b.to_async(&rt)
            .iter(|| async { with_l1.load(&key).await.unwrap().unwrap() })
    });
    group.finish();

    let mut group = c.benchmark_group("postgres_save");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("upsert", |b| {
        b.to_async(&rt).iter(|| async {
            plain
                .save("save-p", document(), SaveHint::default())
                .await
                .unwrap()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("postgres_concurrent_hits");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(800));
    let store: Arc<dyn CacheStore> = Arc::new(plain.clone());
    group.bench_function("l2_hit", |b| {
        b.to_async(&rt).iter(|| {
            let store = store.clone();
            async move {
                let tasks: Vec<_> = (0..8)
                    .map(|t| {
                        let store = store.clone();
                        tokio::spawn(async move {
                            for i in 0..100 {
                                assert!(
                                    store.load(&partition(t * 100 + i)).await.unwrap().is_some()
                                );
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            }
        })
    });
    group.finish();

    rt.block_on(async {
        sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .execute(plain.pool())
            .await
            .unwrap();
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
