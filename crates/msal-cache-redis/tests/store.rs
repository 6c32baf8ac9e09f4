//! RedisStore on the machine's real Redis: layout, TTLs, L1, encryption,
//! isolation, expiry.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use msal::clock::Clock;
use msal::storage::{
    CacheAccess, CacheAccessArgs, CacheStore, SaveHint, StorageErrorKind, StoreAccess,
};
use msal_cache_redis::{EncryptionKey, RedisStore};

#[tokio::test]
async fn saves_under_the_prefixed_key_with_the_hint_as_ttl() {
    let (prefix, clock) = (Prefix::new(), clock());
    let store = builder(&prefix, &clock).build().unwrap();
    let key = format!("{}cid_tid_AppTokenCache", prefix.0);
    assert_eq!(store.redis_key("cid_tid_AppTokenCache"), key);

    let hint = SaveHint::expiring_at(Some(clock.now() + Duration::from_secs(60)));
    store
        .save("cid_tid_AppTokenCache", b"{\"doc\":1}".to_vec(), hint)
        .await
        .unwrap();
    assert_eq!(get_raw(&key).await.as_deref(), Some(&b"{\"doc\":1}"[..]));
    let ttl = pttl(&key).await;
    assert!((59_000..=60_000).contains(&ttl), "PTTL {ttl}");
    assert_eq!(
        store
            .load("cid_tid_AppTokenCache")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"{\"doc\":1}"[..])
    );

    // Saved without an expiry: no TTL; replaced with one: TTL again.
    store
        .save("cid_tid_AppTokenCache", b"2".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(pttl(&key).await, -1);
    store.remove("cid_tid_AppTokenCache").await.unwrap();
    assert_eq!(get_raw(&key).await, None);
    assert_eq!(store.load("cid_tid_AppTokenCache").await.unwrap(), None);
}

#[tokio::test]
async fn default_ttl_bounds_partitions_without_an_expiry() {
    let (prefix, clock) = (Prefix::new(), clock());
    let store = builder(&prefix, &clock)
        .default_ttl(Duration::from_secs(30))
        .build()
        .unwrap();
    store
        .save("uid.utid", b"{}".to_vec(), SaveHint::default())
        .await
        .unwrap();
    let ttl = pttl(&store.redis_key("uid.utid")).await;
    assert!((29_000..=30_000).contains(&ttl), "PTTL {ttl}");
}

#[tokio::test]
async fn saving_an_already_expired_partition_deletes_it() {
    let (prefix, clock) = (Prefix::new(), clock());
    let store = builder(&prefix, &clock).build().unwrap();
    store
        .save("p", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap();
    store
        .save("p", b"y".to_vec(), SaveHint::expiring_at(Some(clock.now())))
        .await
        .unwrap();
    assert_eq!(get_raw(&store.redis_key("p")).await, None);
}

#[tokio::test]
async fn expired_partitions_disappear_from_redis() {
    // Real time on purpose: this is Redis' own expiry at work.
    let prefix = Prefix::new();
    let store = RedisStore::builder(redis_url())
        .key_prefix(&prefix.0)
        .build()
        .unwrap();
    let soon = SaveHint::expiring_at(Some(SystemTime::now() + Duration::from_millis(1_000)));
    store.save("short", b"doc".to_vec(), soon).await.unwrap();
    store
        .save("long", b"doc".to_vec(), SaveHint::default())
        .await
        .unwrap();
    let ttl = pttl(&store.redis_key("short")).await;
    assert!((1..=1_000).contains(&ttl), "PTTL {ttl}");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        get_raw(&store.redis_key("short")).await,
        None,
        "Redis expired it"
    );
    assert_eq!(pttl(&store.redis_key("short")).await, -2);
    assert_eq!(store.load("short").await.unwrap(), None);
    assert!(store.load("long").await.unwrap().is_some());
}

#[tokio::test]
async fn l1_reads_through_with_the_redis_ttl_and_then_serves_hits_alone() {
    let (prefix, clock) = (Prefix::new(), clock());
    let plain = builder(&prefix, &clock).build().unwrap();
    let layered = builder(&prefix, &clock).l1(l1(&clock)).build().unwrap();
    let hint = SaveHint::expiring_at(Some(clock.now() + Duration::from_secs(120)));
    plain.save("p", b"from-redis".to_vec(), hint).await.unwrap();

    assert_eq!(
        layered.load("p").await.unwrap().as_deref(),
        Some(&b"from-redis"[..])
    );
    // Delete it behind the store's back: the L1 copy still answers.
    redis::cmd("DEL")
        .arg(plain.redis_key("p"))
        .query_async::<()>(&mut raw().await)
        .await
        .unwrap();
    assert_eq!(
        layered.load("p").await.unwrap().as_deref(),
        Some(&b"from-redis"[..])
    );
    // The L1 copy carries the TTL Redis reported (about 120 s on msal's clock).
    clock.advance(Duration::from_secs(118));
    assert!(layered.l1().unwrap().load("p").await.unwrap().is_some());
    clock.advance(Duration::from_secs(3));
    assert_eq!(layered.load("p").await.unwrap(), None);

    // Write-through: both layers.
    layered
        .save("q", b"both".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(
        get_raw(&layered.redis_key("q")).await.as_deref(),
        Some(&b"both"[..])
    );
    assert!(layered.l1().unwrap().load("q").await.unwrap().is_some());
    layered.remove("q").await.unwrap();
    assert_eq!(get_raw(&layered.redis_key("q")).await, None);
    assert_eq!(layered.l1().unwrap().load("q").await.unwrap(), None);
}

#[tokio::test]
async fn values_are_encrypted_in_redis_and_a_wrong_key_is_corrupt() {
    let (prefix, clock) = (Prefix::new(), clock());
    let key = EncryptionKey::generate();
    let store = builder(&prefix, &clock)
        .encryption_key(key.clone())
        .build()
        .unwrap();
    let doc = br#"{"AccessToken":{"x":{"secret":"eyJ0eXAi-top-secret"}}}"#.to_vec();
    store
        .save("uid.utid", doc.clone(), SaveHint::default())
        .await
        .unwrap();
    let raw_value = get_raw(&store.redis_key("uid.utid")).await.unwrap();
    assert!(
        !raw_value.windows(10).any(|w| w == b"top-secret"),
        "ciphertext only in Redis"
    );
    assert_eq!(raw_value.len(), doc.len() + 1 + 12 + 16);

    let again = builder(&prefix, &clock)
        .encryption_key(key)
        .build()
        .unwrap();
    assert_eq!(again.load("uid.utid").await.unwrap(), Some(doc));
    let wrong = builder(&prefix, &clock)
        .encryption_key(EncryptionKey::generate())
        .build()
        .unwrap();
    assert_eq!(
        wrong.load("uid.utid").await.unwrap_err().kind,
        StorageErrorKind::Corrupt
    );
    assert!(wrong.is_available(), "a bad value is not an outage");

    // Tampered in Redis.
    let mut tampered = raw_value.clone();
    tampered[20] ^= 0x80;
    redis::cmd("SET")
        .arg(store.redis_key("uid.utid"))
        .arg(tampered)
        .query_async::<()>(&mut raw().await)
        .await
        .unwrap();
    assert_eq!(
        again.load("uid.utid").await.unwrap_err().kind,
        StorageErrorKind::Corrupt
    );
}

#[tokio::test]
async fn a_key_of_another_type_is_corrupt_not_an_outage() {
    let (prefix, clock) = (Prefix::new(), clock());
    let store = builder(&prefix, &clock).build().unwrap(); // fails open, yet this is an error
    redis::cmd("LPUSH")
        .arg(store.redis_key("p"))
        .arg("x")
        .query_async::<()>(&mut raw().await)
        .await
        .unwrap();
    let err = store.load("p").await.unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Corrupt, "{err}");
    assert!(store.is_available());
}

#[tokio::test]
async fn prefixes_and_partitions_are_isolated() {
    let (a, b, clock) = (Prefix::new(), Prefix::new(), clock());
    let app_a = builder(&a, &clock).build().unwrap();
    let app_b = builder(&b, &clock).build().unwrap();
    app_a
        .save("p", b"a".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(app_b.load("p").await.unwrap(), None);
    assert_eq!(app_a.load("p2").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_on_many_partitions_each_see_their_own() {
    let (prefix, clock) = (Prefix::new(), clock());
    let store = builder(&prefix, &clock).l1(l1(&clock)).build().unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                for round in 0..10 {
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
    for i in 0..50 {
        let raw_value = get_raw(&store.redis_key(&format!("cid_tenant{i}_AppTokenCache")))
            .await
            .unwrap();
        assert_eq!(
            raw_value,
            format!("{{\"tenant\":{i},\"round\":9}}").into_bytes()
        );
    }
}

#[tokio::test]
async fn works_as_cache_access_hooks() {
    let (prefix, clock) = (Prefix::new(), clock());
    let hooks = StoreAccess::new(builder(&prefix, &clock).build().unwrap());
    let args = CacheAccessArgs::new(Some("cid_tid_AppTokenCache"), true);
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
    let ttl = pttl(&hooks.store().redis_key("cid_tid_AppTokenCache")).await;
    assert!((3_598_000..=3_599_000).contains(&ttl), "PTTL {ttl}");
}

#[tokio::test]
async fn a_bad_url_is_an_error_that_does_not_repeat_it() {
    let err = RedisStore::builder("http://user:hunter2@example.invalid")
        .build()
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Other);
    assert!(!format!("{err} {err:?}").contains("hunter2"));
    let store = RedisStore::builder("redis://:hunter2@127.0.0.1:1/")
        .build()
        .unwrap();
    assert!(!format!("{store:?}").contains("hunter2"));
}
