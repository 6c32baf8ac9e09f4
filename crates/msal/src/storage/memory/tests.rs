use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::ManualClock;

const T0: u64 = 1_700_000_000;

fn store_with_clock(clock: &Arc<ManualClock>) -> MemoryStore {
    MemoryStore::builder().clock(clock.clone()).build()
}

fn hint_in(clock: &ManualClock, secs: u64) -> SaveHint {
    SaveHint::expiring_at(Some(clock.now() + Duration::from_secs(secs)))
}

#[tokio::test]
async fn saves_loads_replaces_and_removes() {
    let store = MemoryStore::new();
    assert_eq!(store.load("p").await.unwrap(), None);
    store
        .save("p", b"one".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(store.load("p").await.unwrap().as_deref(), Some(&b"one"[..]));
    store
        .save("p", b"two".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(store.load("p").await.unwrap().as_deref(), Some(&b"two"[..]));
    assert_eq!(
        store.load("q").await.unwrap(),
        None,
        "partitions are separate"
    );
    store.remove("p").await.unwrap();
    assert_eq!(store.load("p").await.unwrap(), None);
    // Removing what is not there is fine.
    store.remove("p").await.unwrap();
}

#[tokio::test]
async fn partition_is_a_miss_once_its_expiry_passes_on_msal_clock() {
    let clock = Arc::new(ManualClock::at_unix(T0));
    let store = store_with_clock(&clock);
    store
        .save("p", b"doc".to_vec(), hint_in(&clock, 60))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(59));
    assert!(store.load("p").await.unwrap().is_some());
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        store.load("p").await.unwrap(),
        None,
        "expires_at == now is expired"
    );
    store.run_pending_tasks().await;
    assert_eq!(
        store.entry_count(),
        0,
        "the expired entry was dropped, not just hidden"
    );
}

#[tokio::test]
async fn moka_is_told_each_entrys_remaining_lifetime() {
    let clock = Arc::new(ManualClock::at_unix(T0));
    let store = store_with_clock(&clock);
    store
        .save("p", b"doc".to_vec(), hint_in(&clock, 3600))
        .await
        .unwrap();
    store
        .save("q", b"doc".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(
        store.cache.get("p").await.unwrap().ttl,
        Some(Duration::from_secs(3600))
    );
    assert_eq!(store.cache.get("q").await.unwrap().ttl, None);
    // A replacement carries its own lifetime (the update hook uses it).
    clock.advance(Duration::from_secs(100));
    store
        .save("p", b"doc2".to_vec(), hint_in(&clock, 10))
        .await
        .unwrap();
    let entry = store.cache.get("p").await.unwrap();
    assert_eq!(entry.ttl, Some(Duration::from_secs(10)));
    assert_eq!(
        PerEntryExpiry.expire_after_update(
            &"p".to_owned(),
            &entry,
            Instant::now(),
            Some(Duration::from_secs(999))
        ),
        entry.ttl
    );
    // Far-future expiries are cut so moka never sees more than 1000 years.
    let far = SaveHint::expiring_at(Some(
        clock.now() + Duration::from_secs(5_000 * 365 * 24 * 3600),
    ));
    store.save("far", b"doc".to_vec(), far).await.unwrap();
    assert_eq!(
        store.cache.get("far").await.unwrap().ttl,
        Some(MAX_LIFETIME)
    );
}

#[tokio::test]
async fn saving_an_already_expired_partition_removes_it() {
    let clock = Arc::new(ManualClock::at_unix(T0));
    let store = store_with_clock(&clock);
    store
        .save("p", b"old".to_vec(), SaveHint::default())
        .await
        .unwrap();
    let past = SaveHint::expiring_at(Some(clock.now() - Duration::from_secs(1)));
    store.save("p", b"new".to_vec(), past).await.unwrap();
    assert_eq!(store.load("p").await.unwrap(), None);
    let now = SaveHint::expiring_at(Some(clock.now()));
    store.save("p", b"new".to_vec(), now).await.unwrap();
    assert_eq!(store.load("p").await.unwrap(), None);
}

#[tokio::test]
async fn stays_under_its_byte_limit() {
    let store = MemoryStore::builder().max_bytes(20_000).build();
    for i in 0..2_000 {
        let key = format!("client_tenant{i:05}_AppTokenCache");
        store
            .save(&key, vec![b'x'; 200], SaveHint::default())
            .await
            .unwrap();
    }
    store.run_pending_tasks().await;
    let size = store.weighted_size();
    assert!(size <= 20_000, "weighted size {size} over the limit");
    assert!(
        size > 10_000,
        "the store should still be well used, got {size}"
    );
    // Each entry weighs its document plus its key.
    let per_entry = 200 + "client_tenant00000_AppTokenCache".len() as u64;
    assert_eq!(size, store.entry_count() * per_entry);
}

#[tokio::test]
async fn a_document_larger_than_the_limit_is_not_kept() {
    let store = MemoryStore::builder().max_bytes(1_000).build();
    store
        .save("big", vec![0; 5_000], SaveHint::default())
        .await
        .unwrap();
    store.run_pending_tasks().await;
    assert_eq!(store.load("big").await.unwrap(), None);
    assert_eq!(store.weighted_size(), 0);
}

#[tokio::test]
async fn idle_and_absolute_limits_reach_moka() {
    let store = MemoryStore::builder()
        .sliding_expiration(Duration::from_secs(600))
        .time_to_live(Duration::from_secs(7_200))
        .build();
    let policy = store.cache.policy();
    assert_eq!(policy.time_to_idle(), Some(Duration::from_secs(600)));
    assert_eq!(policy.time_to_live(), Some(Duration::from_secs(7_200)));
    assert_eq!(policy.max_capacity(), Some(DEFAULT_MAX_BYTES));
    let forever = MemoryStore::builder().time_to_idle(Duration::MAX).build();
    assert_eq!(forever.cache.policy().time_to_idle(), Some(MAX_LIFETIME));
}

#[tokio::test]
async fn clones_share_entries_and_debug_shows_no_document() {
    let store = MemoryStore::new();
    let clone = store.clone();
    store
        .save("p", b"secret-access-token".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert!(clone.load("p").await.unwrap().is_some());
    let shown = format!("{store:?} {:?}", MemoryStore::builder());
    assert!(!shown.contains("secret-access-token"), "{shown}");
    assert!(shown.contains("max_bytes"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_at_once_see_their_own_partitions() {
    let store = MemoryStore::new();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                for round in 0..50 {
                    let key = format!("tenant-{i}");
                    let doc = format!("{i}:{round}").into_bytes();
                    store
                        .save(&key, doc.clone(), SaveHint::default())
                        .await
                        .unwrap();
                    assert_eq!(store.load(&key).await.unwrap(), Some(doc));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

#[test]
fn futures_are_send() {
    fn is_send<T: Send>(_: &T) {}
    let store = MemoryStore::new();
    is_send(&store.load("p"));
    is_send(&store.save("p", Vec::new(), SaveHint::default()));
    is_send(&store.remove("p"));
    is_send(&store.run_pending_tasks());
}
