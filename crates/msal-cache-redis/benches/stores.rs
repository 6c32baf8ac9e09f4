//! Store-layer latency: memory, Redis with an L1 hit, Redis L2 hit (plain
//! and encrypted), and concurrent hits per second on a 2-worker runtime.
//! Needs the Redis at REDIS_URL. Run: `cargo bench -p msal-cache-redis`.
#![allow(missing_docs)] // criterion's macros generate undocumented functions

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use msal::storage::{CacheStore, MemoryStore, SaveHint};
use msal_cache_redis::{EncryptionKey, RedisStore};

/// About the size of an app-token partition (one access token + metadata).
fn document() -> Vec<u8> {
    let mut doc = br#"{"AccessToken":{"k":{"secret":""#.to_vec();
    doc.resize(2_000, b'x');
    doc.extend_from_slice(br#""}}}"#);
    doc
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn partition(i: usize) -> String {
    format!("11111111-2222-3333-4444-555555555555_tenant{i:05}_AppTokenCache")
}

async fn fill(store: &dyn CacheStore, n: usize) {
    for i in 0..n {
        store
            .save(&partition(i), document(), SaveHint::default())
            .await
            .unwrap();
    }
}

fn cleanup(prefix: &str) {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut conn)
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL").arg(keys).query(&mut conn).unwrap();
    }
}

fn load_hits(c: &mut Criterion) {
    let rt = runtime();
    let prefix = format!("msal-bench:{}:", uuid::Uuid::new_v4());
    let mut group = c.benchmark_group("load_hit");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));

    for partitions in [1usize, 10_000] {
        let memory = MemoryStore::new();
        rt.block_on(fill(&memory, partitions));
        let key = partition(partitions / 2);
        group.bench_with_input(BenchmarkId::new("memory", partitions), &key, |b, key| {
            b.to_async(&rt)
                .iter(|| async { memory.load(key).await.unwrap().unwrap() })
        });
    }

    let build = |l1: bool, encrypted: bool| {
        let _guard = rt.enter();
        let mut builder = RedisStore::builder(redis_url()).key_prefix(&prefix);
        if l1 {
            builder = builder.l1(MemoryStore::new());
        }
        if encrypted {
            builder = builder.encryption_key(EncryptionKey::from_bytes([9; 32]));
        }
        builder.build().unwrap()
    };
    let variants = [
        ("redis_l1_hit", build(true, false)),
        ("redis_l2_hit", build(false, false)),
        ("redis_l2_hit_encrypted", build(false, true)),
    ];
    for (name, store) in &variants {
        let prefix_key = format!("{name}-");
        rt.block_on(async {
            for i in 0..1_000 {
                store
                    .save(
                        &format!("{prefix_key}{}", partition(i)),
                        document(),
                        SaveHint::default(),
                    )
                    .await
                    .unwrap();
            }
        });
        let key = format!("{prefix_key}{}", partition(500));
        group.bench_function(*name, |b| {
            b.to_async(&rt)
                .iter(|| async { store.load(&key).await.unwrap().unwrap() })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("save");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let memory = MemoryStore::new();
    group.bench_function("memory", |b| {
        b.to_async(&rt).iter(|| async {
            memory
                .save("p", document(), SaveHint::default())
                .await
                .unwrap()
        })
    });
    let redis = &variants[1].1;
    group.bench_function("redis", |b| {
        b.to_async(&rt).iter(|| async {
            redis
                .save("save-p", document(), SaveHint::default())
                .await
                .unwrap()
        })
    });
    group.finish();

    // Hits per second: 8 tasks share 800 loads of different partitions.
    let mut group = c.benchmark_group("concurrent_hits");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(800));
    let memory = Arc::new(MemoryStore::new());
    rt.block_on(fill(memory.as_ref(), 1_000));
    let stores: Vec<(&str, Arc<dyn CacheStore>)> = vec![
        ("memory", memory),
        ("redis_l1_hit", Arc::new(variants[0].1.clone())),
        ("redis_l2_hit", Arc::new(variants[1].1.clone())),
    ];
    for (name, store) in stores {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let store = store.clone();
                async move {
                    let tasks: Vec<_> = (0..8)
                        .map(|t| {
                            let store = store.clone();
                            let prefix_key = if name == "memory" {
                                String::new()
                            } else {
                                format!("{name}-")
                            };
                            tokio::spawn(async move {
                                for i in 0..100 {
                                    let key =
                                        format!("{prefix_key}{}", partition((t * 100 + i) % 1_000));
                                    assert!(store.load(&key).await.unwrap().is_some());
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
    }
    group.finish();
    cleanup(&prefix);
}

criterion_group!(benches, load_hits);
criterion_main!(benches);
