//! RedisStore on the local Redis Cluster (3 masters, 3 replicas; started by
//! scripts/test-servers.sh): 10,000 app tokens across the slots, keys in
//! one slot per partition, MOVED and ASK while a slot migrates, replica
//! acknowledgements. The failover test is in its own binary
//! (tests/failover.rs), so that no other test runs while a master is down.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use msal::storage::{CacheStore, SaveHint, StorageErrorKind};
use msal_cache_redis::RedisStore;
use msal_test_support::confidential::{AnyTenantIdp, GRAPH, confidential_app_with};

fn tenant(run: &str, i: usize) -> String {
    format!("{run}-0000-4000-8000-{i:012x}")
}

#[tokio::test]
async fn slots_are_computed_as_the_cluster_computes_them() {
    let mut conn = node(&cluster_nodes()[0]).await;
    for key in [
        "plain",
        "msal:{cid_tid_AppTokenCache}",
        "a{b}c{d}",
        "x{}y",
        "{}",
        "p{mig}1}",
    ] {
        let server: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(slot_of(key), server, "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_app_tokens_are_written_and_read_across_all_slots() {
    const TENANTS: usize = 10_000;
    let (prefix, clock) = (ClusterPrefix::new(), clock());
    let run = format!("{:08x}", uuid::Uuid::new_v4().as_fields().0);
    let store = |_: ()| {
        RedisStore::cluster(cluster_nodes())
            .key_prefix(&prefix.0)
            .clock(clock.clone())
            .fail_open(false)
            .build()
            .unwrap()
    };
    let writer_idp = AnyTenantIdp::new();
    let writer = confidential_app_with(store(()), writer_idp.clone(), &clock, &tenant(&run, 0));
    let tokens = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let (writer, tokens, run) = (writer.clone(), tokens.clone(), run.clone());
            tokio::spawn(async move {
                for i in (t..TENANTS).step_by(16) {
                    let token = writer
                        .acquire_token_for_client(&[GRAPH])
                        .tenant(tenant(&run, i))
                        .await
                        .unwrap();
                    let at = token.access_token().expose_secret().to_owned();
                    tokens.lock().unwrap().insert(i, at);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(writer_idp.token_requests(), TENANTS as u64);

    // Another instance (its own connections, no L1) reads every one of them.
    let reader_idp = AnyTenantIdp::new();
    let reader = confidential_app_with(store(()), reader_idp.clone(), &clock, &tenant(&run, 0));
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let (reader, tokens, run) = (reader.clone(), tokens.clone(), run.clone());
            tokio::spawn(async move {
                for i in (t..TENANTS).step_by(16) {
                    let token = reader
                        .acquire_token_for_client(&[GRAPH])
                        .tenant(tenant(&run, i))
                        .await
                        .unwrap();
                    let expected = tokens.lock().unwrap()[&i].clone();
                    assert_eq!(token.access_token().expose_secret(), expected);
                    assert_eq!(token.source(), msal::TokenSource::Cache);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(reader_idp.token_requests(), 0, "every read was a cache hit");

    // Where the keys are: on every master, over thousands of slots, each
    // partition's key in the slot of its hash tag.
    let view = cluster_view().await;
    let masters: Vec<&ClusterNode> = view.iter().filter(|n| n.master && !n.failed).collect();
    assert_eq!(masters.len(), 3, "{view:?}");
    let mut total = 0;
    let mut slots = HashSet::new();
    for master in masters {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", prefix.0))
            .query_async(&mut node(&master.url()).await)
            .await
            .unwrap();
        assert!(
            keys.len() > TENANTS / 5,
            "{} holds {} keys",
            master.port,
            keys.len()
        );
        for key in &keys {
            let slot = slot_of(key);
            assert!(master.owns(slot), "{key} in slot {slot} on {}", master.port);
            let partition = key
                .strip_prefix(&prefix.0)
                .and_then(|k| k.strip_prefix('{'))
                .and_then(|k| k.strip_suffix('}'))
                .expect("<prefix>{<partition>}");
            assert_eq!(slot, slot_of(&format!("{{{partition}}}")));
            slots.insert(slot);
        }
        total += keys.len();
    }
    assert_eq!(total, TENANTS);
    assert!(slots.len() > 4_000, "{} distinct slots", slots.len());
}

/// Moves `slot` from `from` to `to` the way `redis-cli --cluster reshard`
/// does, one step at a time, so the test can act in between.
struct Migration {
    slot: u16,
    from: ClusterNode,
    to: ClusterNode,
}

impl Migration {
    async fn start(&self) {
        let mut to = node(&self.to.url()).await;
        let mut from = node(&self.from.url()).await;
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(self.slot)
            .arg("IMPORTING")
            .arg(&self.from.id)
            .query_async::<()>(&mut to)
            .await
            .unwrap();
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(self.slot)
            .arg("MIGRATING")
            .arg(&self.to.id)
            .query_async::<()>(&mut from)
            .await
            .unwrap();
    }

    async fn move_key(&self, key: &str) {
        let mut from = node(&self.from.url()).await;
        redis::cmd("MIGRATE")
            .arg("127.0.0.1")
            .arg(self.to.port)
            .arg(key)
            .arg(0)
            .arg(5_000)
            .query_async::<()>(&mut from)
            .await
            .unwrap();
    }

    async fn finish(&self) {
        // The new owner first, then the old one, then everyone else.
        let mut order = vec![self.to.url(), self.from.url()];
        for n in cluster_view().await {
            if n.master && !order.contains(&n.url()) {
                order.push(n.url());
            }
        }
        for url in order {
            redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(self.slot)
                .arg("NODE")
                .arg(&self.to.id)
                .query_async::<()>(&mut node(&url).await)
                .await
                .unwrap();
        }
    }

    /// Puts `slot` back on `owner` everywhere, without migrating (for a
    /// test that failed half-way: its keys are lost, the cluster is whole).
    fn restore_blocking(slot: u16, owner: &str) {
        for url in cluster_nodes() {
            let Ok(mut conn) = redis::Client::open(url.as_str()).and_then(|c| c.get_connection())
            else {
                continue;
            };
            let _: redis::RedisResult<()> = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("STABLE")
                .query(&mut conn);
            let _: redis::RedisResult<()> = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("NODE")
                .arg(owner)
                .query(&mut conn);
        }
    }

    fn reversed(&self) -> Self {
        Self {
            slot: self.slot,
            from: self.to.clone(),
            to: self.from.clone(),
        }
    }
}

#[tokio::test]
async fn moved_and_ask_are_followed_while_a_slot_migrates() {
    let (prefix, clock) = (ClusterPrefix::new(), clock());
    // Partitions "<tag>}..." all hash on <tag>: several partitions, one slot.
    let tag = format!("mig-{}", uuid::Uuid::new_v4().simple());
    let part = |name: &str| format!("{tag}}}{name}");
    let slot = slot_of(&cluster_key(&prefix.0, &part("x")));
    let view = cluster_view().await;
    let from = view
        .iter()
        .find(|n| n.master && !n.failed && n.owns(slot))
        .expect("a master owns the slot")
        .clone();
    let to = view
        .iter()
        .find(|n| n.master && !n.failed && n.id != from.id)
        .expect("another master")
        .clone();
    let migration = Migration { slot, from, to };
    /// Leaves the slot with its owner if the test fails half-way.
    struct Restore(u16, String, bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            if !self.2 {
                Migration::restore_blocking(self.0, &self.1);
            }
        }
    }
    let mut restore = Restore(slot, migration.from.id.clone(), false);
    // Fail closed: any error the cluster client does not ride out shows.
    let store = RedisStore::cluster(cluster_nodes())
        .key_prefix(&prefix.0)
        .clock(clock.clone())
        .fail_open(false)
        .build()
        .unwrap();
    store
        .save(&part("old"), b"before".to_vec(), SaveHint::default())
        .await
        .unwrap();

    migration.start().await;
    // The old key is still on the source; a new one goes to the target (ASK).
    assert_eq!(
        store.load(&part("old")).await.unwrap().as_deref(),
        Some(&b"before"[..])
    );
    store
        .save(&part("new"), b"during".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(
        store.load(&part("new")).await.unwrap().as_deref(),
        Some(&b"during"[..])
    );
    // It is on the target, which answers it only after ASKING.
    let on_target = redis::cmd("GET")
        .arg(cluster_key(&prefix.0, &part("new")))
        .query_async::<Option<Vec<u8>>>(&mut node(&migration.to.url()).await)
        .await
        .unwrap_err();
    assert!(on_target.to_string().contains("Moved"), "{on_target}");
    migration
        .move_key(&cluster_key(&prefix.0, &part("old")))
        .await;
    assert_eq!(
        store.load(&part("old")).await.unwrap().as_deref(),
        Some(&b"before"[..]),
        "read from the target after ASK"
    );
    store.remove(&part("new")).await.unwrap();

    migration.finish().await;
    // The store's slot map still names the source: MOVED.
    assert_eq!(
        store.load(&part("old")).await.unwrap().as_deref(),
        Some(&b"before"[..])
    );
    assert_eq!(store.load(&part("new")).await.unwrap(), None);
    store
        .save(&part("after"), b"after".to_vec(), SaveHint::default())
        .await
        .unwrap();
    let moved = migration.to.clone();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", prefix.0))
        .query_async(&mut node(&moved.url()).await)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "both keys live on the new owner: {keys:?}");

    // Move the slot back, so the cluster keeps its layout.
    let back = migration.reversed();
    back.start().await;
    for key in keys {
        back.move_key(&key).await;
    }
    back.finish().await;
    restore.2 = true;
    assert_eq!(
        store.load(&part("after")).await.unwrap().as_deref(),
        Some(&b"after"[..])
    );
    wait_cluster_ok().await;
}

#[tokio::test]
async fn writes_can_wait_for_a_replica_and_fail_when_there_are_too_few() {
    let (prefix, clock) = (ClusterPrefix::new(), clock());
    let replicated = RedisStore::cluster(cluster_nodes())
        .key_prefix(&prefix.0)
        .clock(clock.clone())
        .fail_open(false)
        .wait_for_replicas(1, Duration::from_millis(500))
        .build()
        .unwrap();
    for i in 0..20 {
        replicated
            .save(&format!("p{i}"), b"x".to_vec(), SaveHint::default())
            .await
            .unwrap();
        replicated.remove(&format!("q{i}")).await.unwrap();
    }
    // Each master has one replica: waiting for two fails (after the write).
    let greedy = RedisStore::cluster(cluster_nodes())
        .key_prefix(&prefix.0)
        .clock(clock.clone())
        .fail_open(false)
        .wait_for_replicas(2, Duration::from_millis(50))
        .build()
        .unwrap();
    let err = greedy
        .save("p0", b"y".to_vec(), SaveHint::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("1 of the 2 replicas"), "{err}");

    // One server without replicas: the same, through the pipeline.
    let prefix1 = Prefix::new();
    let single = RedisStore::builder(redis_url())
        .key_prefix(&prefix1.0)
        .clock(clock.clone())
        .fail_open(false)
        .wait_for_replicas(1, Duration::from_millis(20))
        .build()
        .unwrap();
    let err = single
        .save("p", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("0 of the 1 replicas"), "{err}");
}

#[tokio::test]
async fn a_cluster_that_cannot_be_reached_is_an_outage_ridden_out_or_reported() {
    let clock = clock();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("redis://127.0.0.1:{port}");
    let open = RedisStore::cluster([url.as_str()])
        .clock(clock.clone())
        .l1(l1(&clock))
        .operation_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    assert_eq!(open.load("p").await.unwrap(), None, "a miss");
    assert!(!open.is_available());
    open.save("p", b"own".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(
        open.load("p").await.unwrap().as_deref(),
        Some(&b"own"[..]),
        "the instance's own save, from L1"
    );
    let closed = RedisStore::cluster([url.as_str()])
        .clock(clock.clone())
        .fail_open(false)
        .operation_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let err = closed.load("p").await.unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Unavailable, "{err}");
    let err = RedisStore::cluster(Vec::<String>::new())
        .build()
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Other);
    let err = RedisStore::cluster(["http://user:hunter2@x"])
        .build()
        .unwrap_err();
    assert!(!format!("{err:?}").contains("hunter2"));
}
