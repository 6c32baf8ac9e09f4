//! A master of the local Redis Cluster killed (SIGKILL) during a run of
//! cache hits and writes; its replica is promoted, the killed node is
//! started again and rejoins as a replica. Alone in its binary, so no other
//! test runs while a master is down. Needs the nodes scripts/test-servers.sh
//! starts (it restarts the victim from its config file).
//!
//! What must hold: every app call is answered (from L1, the cluster or the
//! identity provider), no write the cluster acknowledged (with a replica,
//! `wait_for_replicas(1)`) is lost, and no removed partition comes back.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use msal::storage::{CacheStore, MemoryStore, SaveHint};
use msal_cache_redis::RedisStore;
use msal_test_support::confidential::{AnyTenantIdp, GRAPH, confidential_app_with};

const PARTITIONS: usize = 120;
const DOOMED: usize = 60;
const TENANTS: usize = 60;
/// The whole run is bounded: a cluster that never recovers fails the test.
const DEADLINE: Duration = Duration::from_secs(45);

/// msal's system clock: real time, so that the retry interval passes.
fn system_clock() -> Arc<msal::clock::SystemClock> {
    Arc::new(msal::clock::SystemClock)
}

async fn info_field(url: &str, field: &str) -> String {
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut node(url).await)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

/// What the writers did to one partition.
#[derive(Debug, Default, Clone)]
struct History {
    /// The last version the cluster acknowledged.
    acked: Option<u64>,
    /// Versions attempted after it whose outcome is unknown (an error).
    unknown: Vec<u64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_during_hits_and_writes_loses_nothing_acknowledged() {
    wait_cluster_ok().await;
    let prefix = ClusterPrefix::new();
    let clock = system_clock();
    let partition = |i: usize| format!("cid_tenant{i:04}_AppTokenCache");
    let doomed = |i: usize| format!("doomed-{i:04}");
    // Writes are acknowledged only once a replica has them; failing closed,
    // so that the test knows which ones were.
    let durable = RedisStore::cluster(cluster_nodes())
        .key_prefix(&prefix.0)
        .clock(clock.clone())
        .fail_open(false)
        .operation_timeout(Duration::from_secs(1))
        .retry_interval(Duration::from_millis(100))
        .wait_for_replicas(1, Duration::from_millis(300))
        .build()
        .unwrap();
    // An app on its own store instance (L1 with invalidation, failing open).
    let app_store = RedisStore::cluster(cluster_nodes())
        .key_prefix(&prefix.0)
        .clock(clock.clone())
        .l1(MemoryStore::new())
        .operation_timeout(Duration::from_secs(1))
        .retry_interval(Duration::from_millis(500))
        .build()
        .unwrap();
    let idp = AnyTenantIdp::new();
    let run = format!("{:08x}", uuid::Uuid::new_v4().as_fields().0);
    let tenant = move |i: usize| format!("{run}-0000-4000-8000-{i:012x}");
    let app = confidential_app_with(app_store.clone(), idp.clone(), &clock_for_app(), &tenant(0));

    // Before: every partition at version 0, the doomed ones written, half of
    // them removed; the app's tokens cached.
    let histories: Arc<Mutex<HashMap<String, History>>> = Arc::default();
    for i in 0..PARTITIONS {
        durable
            .save(&partition(i), b"v0".to_vec(), SaveHint::default())
            .await
            .unwrap();
        histories.lock().unwrap().insert(
            partition(i),
            History {
                acked: Some(0),
                unknown: Vec::new(),
            },
        );
    }
    let removed: Arc<Mutex<Vec<String>>> = Arc::default();
    for i in 0..DOOMED {
        durable
            .save(&doomed(i), b"to-be-removed".to_vec(), SaveHint::default())
            .await
            .unwrap();
        if i % 2 == 0 {
            durable.remove(&doomed(i)).await.unwrap();
            removed.lock().unwrap().push(doomed(i));
        }
    }
    for i in 0..TENANTS {
        app.acquire_token_for_client(&[GRAPH])
            .tenant(tenant(i))
            .await
            .unwrap();
    }
    let tokens_before = idp.token_requests();

    // The victim: the master of partition 0's slot.
    let slot = slot_of(&cluster_key(&prefix.0, &partition(0)));
    let view = cluster_view().await;
    let victim = view
        .iter()
        .find(|n| n.master && !n.failed && n.owns(slot))
        .expect("a master owns the slot")
        .clone();
    let victim_partitions: Vec<String> = (0..PARTITIONS)
        .map(partition)
        .filter(|p| victim.owns(slot_of(&cluster_key(&prefix.0, p))))
        .collect();
    assert!(victim_partitions.len() > 10, "{}", victim_partitions.len());
    let pid = info_field(&victim.url(), "process_id").await;
    let config = info_field(&victim.url(), "config_file").await;
    assert!(
        !config.is_empty(),
        "the victim was started without a config file: run the cluster of scripts/test-servers.sh"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let killed_at = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap();
    assert!(status.success());

    // Writer: round-robin over the partitions, version after version.
    let first_write_after_kill: Arc<Mutex<Option<Duration>>> = Arc::default();
    let write_errors = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn({
        let (durable, histories, stop, first, errors) = (
            durable.clone(),
            histories.clone(),
            stop.clone(),
            first_write_after_kill.clone(),
            write_errors.clone(),
        );
        let victim_partitions = victim_partitions.clone();
        async move {
            let mut version = 0u64;
            while !stop.load(Ordering::Acquire) {
                version += 1;
                for i in 0..PARTITIONS {
                    let p = partition(i);
                    let doc = format!("v{version}").into_bytes();
                    let ok = durable.save(&p, doc, SaveHint::default()).await.is_ok();
                    let mut h = histories.lock().unwrap();
                    let entry = h.entry(p.clone()).or_default();
                    if ok {
                        entry.acked = Some(version);
                        entry.unknown.clear();
                        let mut first = first.lock().unwrap();
                        if first.is_none() && victim_partitions.contains(&p) {
                            *first = Some(killed_at.elapsed());
                        }
                    } else {
                        entry.unknown.push(version);
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    });
    // A probe without WAIT: when the killed master's slots take writes again.
    let writable_again: Arc<Mutex<Option<Duration>>> = Arc::default();
    let probe = tokio::spawn({
        let (stop, writable_again) = (stop.clone(), writable_again.clone());
        let plain = RedisStore::cluster(cluster_nodes())
            .key_prefix(&prefix.0)
            .fail_open(false)
            .operation_timeout(Duration::from_millis(500))
            .retry_interval(Duration::ZERO)
            .build()
            .unwrap();
        let probe = (0..)
            .map(|n| format!("probe-{n}"))
            .find(|p| victim.owns(slot_of(&cluster_key(&prefix.0, p))))
            .expect("some name hashes to the victim's slots");
        async move {
            while !stop.load(Ordering::Acquire) {
                let ok = plain
                    .save(&probe, b"p".to_vec(), SaveHint::default())
                    .await
                    .is_ok();
                if ok && killed_at.elapsed() > Duration::from_millis(100) {
                    writable_again
                        .lock()
                        .unwrap()
                        .get_or_insert(killed_at.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    // Remover: the other half of the doomed partitions, one at a time.
    let remover = tokio::spawn({
        let (durable, removed, stop) = (durable.clone(), removed.clone(), stop.clone());
        async move {
            let mut i = 1;
            while !stop.load(Ordering::Acquire) && i < DOOMED {
                if durable.remove(&doomed(i)).await.is_ok() {
                    removed.lock().unwrap().push(doomed(i));
                    i += 2;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    // The app: cache hits over its tenants, two tasks.
    let calls = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(Mutex::new(Vec::<String>::new()));
    let slowest = Arc::new(Mutex::new(Duration::ZERO));
    let hitters: Vec<_> = (0..2)
        .map(|t| {
            let (app, stop, calls, failed, slowest) = (
                app.clone(),
                stop.clone(),
                calls.clone(),
                failed.clone(),
                slowest.clone(),
            );
            let tenant = tenant.clone();
            tokio::spawn(async move {
                let mut i = t;
                while !stop.load(Ordering::Acquire) {
                    let started = Instant::now();
                    let result = app
                        .acquire_token_for_client(&[GRAPH])
                        .tenant(tenant(i % TENANTS))
                        .await;
                    let took = started.elapsed();
                    calls.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = result {
                        failed.lock().unwrap().push(e.to_string());
                    }
                    {
                        let mut s = slowest.lock().unwrap();
                        *s = (*s).max(took);
                    }
                    i += 2;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();

    // Wait for the promotion, start the victim again, wait until it is a
    // synced replica and a write to its old slots was acknowledged again.
    let promoted = loop {
        assert!(
            killed_at.elapsed() < DEADLINE,
            "no failover within {DEADLINE:?}"
        );
        let view = cluster_view().await;
        if let Some(n) = view
            .iter()
            .find(|n| n.master && !n.failed && n.owns(slot) && n.id != victim.id)
        {
            break (n.clone(), killed_at.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let restart = std::process::Command::new("redis-server")
        .arg(&config)
        .status()
        .unwrap();
    assert!(restart.success(), "restarting the victim from {config}");
    wait_cluster_ok().await;
    let acked_before = histories_acked(&histories, &victim_partitions);
    loop {
        assert!(
            killed_at.elapsed() < DEADLINE,
            "writes never acknowledged again"
        );
        if histories_acked(&histories, &victim_partitions) > acked_before + 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Release);
    writer.await.unwrap();
    remover.await.unwrap();
    probe.await.unwrap();
    for h in hitters {
        h.await.unwrap();
    }
    let run_time = killed_at.elapsed();

    // Every call was answered.
    let failed = failed.lock().unwrap().clone();
    assert!(
        failed.is_empty(),
        "{} app calls failed: {failed:?}",
        failed.len()
    );
    // No acknowledged write lost; no removed partition back.
    let check = RedisStore::cluster(cluster_nodes())
        .key_prefix(&prefix.0)
        .fail_open(false)
        .build()
        .unwrap();
    let histories = histories.lock().unwrap().clone();
    for (p, h) in &histories {
        let stored = check.load(p).await.unwrap().expect("never removed");
        let stored = String::from_utf8(stored).unwrap();
        let version: u64 = stored.trim_start_matches('v').parse().unwrap();
        let acked = h.acked.expect("version 0 was acknowledged");
        assert!(
            version == acked || h.unknown.contains(&version),
            "{p}: holds v{version}, acknowledged v{acked}, unknown {:?}",
            h.unknown
        );
    }
    let removed = removed.lock().unwrap().clone();
    assert!(
        removed.len() > DOOMED / 2,
        "removals went on during the run"
    );
    for p in &removed {
        assert_eq!(check.load(p).await.unwrap(), None, "{p} came back");
    }
    let first_write = first_write_after_kill.lock().unwrap().unwrap_or(run_time);
    eprintln!(
        "failover figures: promoted {} after {:?}; first write to the killed master's slots \
         acknowledged by a replica {:?} after the kill (the slots took writes again after {:?}); {} app calls, {} failed, slowest {:?}; \
         {} identity provider requests during the run; {} writes not acknowledged; run {:?}",
        promoted.0.port,
        promoted.1,
        first_write,
        writable_again.lock().unwrap().unwrap_or(run_time),
        calls.load(Ordering::Relaxed),
        failed.len(),
        *slowest.lock().unwrap(),
        idp.token_requests() - tokens_before,
        write_errors.load(Ordering::Relaxed),
        run_time,
    );
}

fn histories_acked(histories: &Mutex<HashMap<String, History>>, partitions: &[String]) -> u64 {
    let h = histories.lock().unwrap();
    partitions
        .iter()
        .filter_map(|p| h.get(p).and_then(|h| h.acked))
        .sum()
}

fn clock_for_app() -> Arc<msal::clock::ManualClock> {
    // The app's own clock only decides token expiry; tokens are valid for an
    // hour from the fake identity provider, so a fixed clock is fine.
    Arc::new(msal::clock::ManualClock::at_unix(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    ))
}
