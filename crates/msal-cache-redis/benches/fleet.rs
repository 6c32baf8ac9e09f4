//! Figures for a fleet of instances on Redis (issue 24): hits per second of
//! one instance with 10,000 tenants' app tokens, served from its L1, from
//! the Redis Cluster (no L1) and from one Redis; and the time from a
//! removal on one instance until another instance's L1 has dropped the
//! partition (tracking on one server, on the cluster, and pub/sub).
//!
//! Needs REDIS_URL and the cluster of scripts/test-servers.sh
//! (REDIS_CLUSTER_NODES). Run:
//! `cargo bench -p msal-cache-redis --bench fleet`. Prints a table.
//! MSAL Python's side (an in-memory cache, it has no shared store with an
//! L1): `crates/msal/benches/confidential_python.py`.
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use msal::ConfidentialClientApplication;
use msal::clock::ManualClock;
use msal::storage::{CacheStore, MemoryStore, SaveHint};
use msal_cache_redis::{Invalidation, RedisStore, RedisStoreBuilder};
use msal_test_support::confidential::{AnyTenantIdp, GRAPH, confidential_app_with};

const TENANTS: usize = 10_000;
const TASKS: usize = 8;
const MEASURE: Duration = Duration::from_secs(3);
const SAMPLES: usize = 200;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn cluster_nodes() -> String {
    std::env::var("REDIS_CLUSTER_NODES").unwrap_or_else(|_| {
        (7100..=7105)
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

fn tenant(i: usize) -> String {
    format!("7e4b0000-0000-4000-8000-{i:012x}")
}

fn now_clock() -> Arc<ManualClock> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Arc::new(ManualClock::at_unix(now))
}

fn l1(clock: &Arc<ManualClock>) -> MemoryStore {
    MemoryStore::builder().clock(clock.clone()).build()
}

/// Hits per second of `app` over all tenants: TASKS tasks for MEASURE.
async fn hits_per_second(app: &ConfidentialClientApplication, idp: &AnyTenantIdp) -> f64 {
    let before = idp.token_requests();
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (app, stop, calls) = (app.clone(), stop.clone(), calls.clone());
            tokio::spawn(async move {
                // A stride walks all tenants in a scattered order.
                let mut i = t * 1_237;
                while !stop.load(Ordering::Relaxed) {
                    app.acquire_token_for_client(&[GRAPH])
                        .tenant(tenant(i % TENANTS))
                        .await
                        .unwrap();
                    calls.fetch_add(1, Ordering::Relaxed);
                    i += 7_919;
                }
            })
        })
        .collect();
    let started = Instant::now();
    tokio::time::sleep(MEASURE).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let rate = calls.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    assert_eq!(
        idp.token_requests(),
        before,
        "every measured call was a cache hit"
    );
    rate
}

/// Warms `app` with every tenant's token; then, for an L1, reads each once
/// more until it is kept (a save's own invalidation echo drops the first copy).
async fn warm(app: &ConfidentialClientApplication, store: &RedisStore) {
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let app = app.clone();
            tokio::spawn(async move {
                for i in (t..TENANTS).step_by(TASKS) {
                    app.acquire_token_for_client(&[GRAPH])
                        .tenant(tenant(i))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    if let Some(l1) = store.l1() {
        while !store.invalidation_status().is_some_and(|s| s.connected) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        for _ in 0..3 {
            for i in 0..TENANTS {
                app.acquire_token_for_client(&[GRAPH])
                    .tenant(tenant(i))
                    .await
                    .unwrap();
            }
            l1.run_pending_tasks().await;
            if l1.entry_count() >= TENANTS as u64 {
                break;
            }
        }
    }
}

fn cleanup_single(prefix: &str) {
    let Ok(mut conn) = redis::Client::open(redis_url()).and_then(|c| c.get_connection()) else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut conn)
        .unwrap_or_default();
    for chunk in keys.chunks(1_000) {
        let _: redis::RedisResult<()> = redis::cmd("DEL").arg(chunk).query(&mut conn);
    }
}

fn cleanup_cluster(prefix: &str) {
    for url in cluster_nodes().split(',') {
        let Ok(mut conn) = redis::Client::open(url).and_then(|c| c.get_connection()) else {
            continue;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query(&mut conn)
            .unwrap_or_default();
        for key in keys {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(key).query(&mut conn);
        }
    }
}

/// Microseconds from the start of `a.remove(p)` until `b`'s L1 no longer
/// holds `p`, SAMPLES times: (median, 90th percentile, max), and how many
/// times the copy was already gone when `a.remove` returned.
async fn invalidation_latency(a: &RedisStore, b: &RedisStore) -> (f64, f64, f64, usize) {
    for store in [a, b] {
        let _ = store.load("start").await;
        while !store.invalidation_status().is_some_and(|s| s.connected) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let l1 = b.l1().unwrap();
    let mut samples = Vec::with_capacity(SAMPLES);
    let mut before_ack = 0;
    for i in 0..SAMPLES {
        let p = format!("signed-out-{i}");
        a.save(&p, b"tokens".to_vec(), SaveHint::default())
            .await
            .unwrap();
        loop {
            b.load(&p).await.unwrap();
            if l1.load(&p).await.unwrap().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let started = Instant::now();
        a.remove(&p).await.unwrap();
        if l1.load(&p).await.unwrap().is_none() {
            before_ack += 1;
        }
        while l1.load(&p).await.unwrap().is_some() {
            tokio::task::yield_now().await;
        }
        samples.push(started.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    (
        samples[SAMPLES / 2],
        samples[SAMPLES * 9 / 10],
        samples[SAMPLES - 1],
        before_ack,
    )
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let single_prefix = format!("msal-bench:{run}:");
    let cluster_prefix = format!("msal-bench-{run}:");
    let clock = now_clock();
    let single = |b: RedisStoreBuilder| b.key_prefix(&single_prefix).clock(clock.clone());
    let cluster = |_: ()| {
        RedisStore::cluster([cluster_nodes()])
            .key_prefix(&cluster_prefix)
            .clock(clock.clone())
    };
    let mut rows: Vec<String> = Vec::new();
    rt.block_on(async {
        let variants: Vec<(&str, RedisStore)> = vec![
            (
                "cluster, L1 hit",
                cluster(()).l1(l1(&clock)).build().unwrap(),
            ),
            ("cluster, no L1", cluster(()).build().unwrap()),
            (
                "one Redis, L1 hit",
                single(RedisStore::builder(redis_url())).l1(l1(&clock)).build().unwrap(),
            ),
            (
                "one Redis, no L1",
                single(RedisStore::builder(redis_url())).build().unwrap(),
            ),
        ];
        let memory_idp = AnyTenantIdp::new();
        let memory_app = confidential_app_with(
            MemoryStore::builder().clock(clock.clone()).build(),
            memory_idp.clone(),
            &clock,
            &tenant(0),
        );
        for i in 0..TENANTS {
            memory_app
                .acquire_token_for_client(&[GRAPH])
                .tenant(tenant(i))
                .await
                .unwrap();
        }
        let rate = hits_per_second(&memory_app, &memory_idp).await;
        rows.push(format!("| hits/s, 10,000 tenants, {TASKS} tasks | MemoryStore (reference) | {rate:.0} |"));
        for (name, store) in variants {
            let idp = AnyTenantIdp::new();
            let app = confidential_app_with(store.clone(), idp.clone(), &clock, &tenant(0));
            warm(&app, &store).await;
            let rate = hits_per_second(&app, &idp).await;
            rows.push(format!("| hits/s, 10,000 tenants, {TASKS} tasks | {name} | {rate:.0} |"));
        }

        let pairs: Vec<(&str, RedisStore, RedisStore)> = vec![
            (
                "one Redis, tracking",
                single(RedisStore::builder(redis_url())).l1(l1(&clock)).build().unwrap(),
                single(RedisStore::builder(redis_url())).l1(l1(&clock)).build().unwrap(),
            ),
            (
                "one Redis, pub/sub",
                single(RedisStore::builder(redis_url()))
                    .invalidation(Invalidation::PubSub)
                    .l1(l1(&clock))
                    .build()
                    .unwrap(),
                single(RedisStore::builder(redis_url()))
                    .invalidation(Invalidation::PubSub)
                    .l1(l1(&clock))
                    .build()
                    .unwrap(),
            ),
            (
                "cluster, tracking",
                cluster(()).l1(l1(&clock)).build().unwrap(),
                cluster(()).l1(l1(&clock)).build().unwrap(),
            ),
        ];
        for (name, a, b) in pairs {
            let (median, p90, max, early) = invalidation_latency(&a, &b).await;
            rows.push(format!(
                "| from A's removal call to B's L1 dropping the partition (µs, median / p90 / max of {SAMPLES}; dropped before A's call returned) | {name} | {median:.0} / {p90:.0} / {max:.0}; {early} of {SAMPLES} |"
            ));
        }
    });
    cleanup_single(&single_prefix);
    cleanup_cluster(&cluster_prefix);
    println!("| figure | store | value |\n|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}
