//! RedisStore on the machine's real Redis: layout, TTLs, L1, encryption,
//! isolation, expiry.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use msal::clock::Clock;
use msal::storage::{
    CacheAccess, CacheAccessArgs, CacheStore, SaveHint, StorageErrorKind, StoreAccess,
};
use msal_cache_redis::{EncryptionKey, Invalidation, RedisStore};
use msal_test_support::{FakeHttp, LogCapture};

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
    // Invalidation off: the L1 copy outlives a change it is not told about
    // (the next test shows the default).
    let layered = builder(&prefix, &clock)
        .l1(l1(&clock))
        .invalidation(Invalidation::Off)
        .build()
        .unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tracking_a_change_by_any_client_drops_the_l1_copy() {
    let (prefix, clock) = (Prefix::new(), clock());
    let layered = builder(&prefix, &clock).l1(l1(&clock)).build().unwrap();
    let key = layered.redis_key("p");
    for (i, change) in ["SET", "DEL", "EXPIRE"].into_iter().enumerate() {
        redis::cmd("SET")
            .arg(&key)
            .arg(format!("v{i}"))
            .query_async::<()>(&mut raw().await)
            .await
            .unwrap();
        msal_test_support::store_contract::eventually("a read is kept in L1", || async {
            layered.load("p").await.unwrap();
            layered.l1().unwrap().load("p").await.unwrap().is_some()
        })
        .await;
        // Another client (redis-cli, a script, Redis' own expiry) changes it.
        let mut cmd = redis::cmd(change);
        cmd.arg(&key);
        match change {
            "SET" => cmd.arg("changed"),
            "EXPIRE" => cmd.arg(0),
            _ => &mut cmd,
        };
        cmd.query_async::<()>(&mut raw().await).await.unwrap();
        msal_test_support::store_contract::eventually("the L1 copy is dropped", || async {
            layered.l1().unwrap().load("p").await.unwrap().is_none()
        })
        .await;
    }
    assert_eq!(layered.load("p").await.unwrap(), None);
    assert!(layered.invalidation_status().unwrap().received >= 3);
}

#[tokio::test]
async fn values_are_encrypted_in_redis_and_unreadable_ones_are_deleted_as_misses() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
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
    let redis_key = store.redis_key("uid.utid");
    let raw_value = get_raw(&redis_key).await.unwrap();
    assert!(
        !raw_value.windows(10).any(|w| w == b"top-secret"),
        "ciphertext only in Redis"
    );
    assert_eq!(raw_value.len(), doc.len() + 1 + 12 + 16);

    let again = builder(&prefix, &clock)
        .encryption_key(key)
        .build()
        .unwrap();
    assert_eq!(again.load("uid.utid").await.unwrap(), Some(doc.clone()));
    let wrong = builder(&prefix, &clock)
        .encryption_key(EncryptionKey::generate())
        .build()
        .unwrap();
    assert_eq!(
        wrong.load("uid.utid").await.unwrap(),
        None,
        "a miss: the app asks the identity provider"
    );
    assert_eq!(get_raw(&redis_key).await, None, "deleted from Redis");
    assert!(wrong.is_available(), "a bad value is not an outage");

    // Tampered in Redis.
    let mut tampered = raw_value.clone();
    tampered[20] ^= 0x80;
    redis::cmd("SET")
        .arg(&redis_key)
        .arg(tampered)
        .query_async::<()>(&mut raw().await)
        .await
        .unwrap();
    assert_eq!(again.load("uid.utid").await.unwrap(), None);
    assert_eq!(get_raw(&redis_key).await, None);
    again
        .save("uid.utid", doc.clone(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(again.load("uid.utid").await.unwrap(), Some(doc));

    let text = logs.contents();
    assert_eq!(
        text.matches("discarding an unreadable token cache value")
            .count(),
        2,
        "{text}"
    );
    assert!(
        !text.contains("uid.utid") && !text.contains(&prefix.0) && !text.contains("top-secret"),
        "no key (personal data), no value: {text}"
    );
}

#[tokio::test]
async fn a_rotated_key_still_reads_old_values_and_writes_with_the_new_one() {
    let (prefix, clock) = (Prefix::new(), clock());
    let (old_key, new_key) = (EncryptionKey::generate(), EncryptionKey::generate());
    let old = builder(&prefix, &clock)
        .encryption_key(old_key.clone())
        .build()
        .unwrap();
    old.save("p", b"written-before".to_vec(), SaveHint::default())
        .await
        .unwrap();
    let rotated = builder(&prefix, &clock)
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
    let new_only = builder(&prefix, &clock)
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
async fn a_key_of_another_type_is_deleted_as_a_miss_not_an_outage() {
    let (prefix, clock) = (Prefix::new(), clock());
    let store = builder(&prefix, &clock).build().unwrap();
    redis::cmd("LPUSH")
        .arg(store.redis_key("p"))
        .arg("x")
        .query_async::<()>(&mut raw().await)
        .await
        .unwrap();
    assert_eq!(store.load("p").await.unwrap(), None);
    assert!(store.is_available());
    assert_eq!(pttl(&store.redis_key("p")).await, -2, "the list is gone");
    store
        .save("p", b"doc".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(store.load("p").await.unwrap().as_deref(), Some(&b"doc"[..]));
}

#[tokio::test]
async fn a_confidential_client_gets_a_token_over_an_unreadable_partition_and_replaces_it() {
    let (prefix, clock) = (Prefix::new(), clock());
    let tenant = unique_tenant();
    let store = builder(&prefix, &clock)
        .encryption_key(EncryptionKey::generate())
        .build()
        .unwrap();
    let partition = msal::storage::app_partition_key(CLIENT_ID, &tenant);
    // What another deployment (another key) or a bad write left behind.
    redis::cmd("SET")
        .arg(store.redis_key(&partition))
        .arg(b"\x01not-a-sealed-value-of-this-key-at-all".to_vec())
        .query_async::<()>(&mut raw().await)
        .await
        .unwrap();
    let idp = FakeHttp::new();
    expect_client_credentials(&idp, &tenant, "fresh-at");
    let app = confidential_app(store.clone(), &idp, &clock, &tenant);
    let token = app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    assert_eq!(token.access_token().expose_secret(), "fresh-at");
    idp.assert_consumed();
    // The fresh token replaced the unreadable value: the next call is a cache hit.
    let again = app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    assert_eq!(again.access_token().expose_secret(), "fresh-at");
    assert_eq!(idp.request_count(), 2, "metadata and one token request");
    assert!(store.load(&partition).await.unwrap().is_some());
}

#[tokio::test]
async fn a_huge_default_ttl_is_capped_instead_of_failing_every_save() {
    let (prefix, clock) = (Prefix::new(), clock());
    let store = builder(&prefix, &clock)
        .default_ttl(Duration::MAX)
        .fail_open(false)
        .build()
        .unwrap();
    store
        .save("uid.utid", b"{}".to_vec(), SaveHint::default())
        .await
        .unwrap();
    let ten_years_ms = 10 * 365 * 24 * 3600 * 1000_i64;
    let ttl = pttl(&store.redis_key("uid.utid")).await;
    assert!(
        (ten_years_ms - 5_000..=ten_years_ms).contains(&ttl),
        "PTTL {ttl}"
    );
    // A partition expiry at the end of time is capped the same way.
    let far = msal_cache_common::time::saturating_add(clock.now(), Duration::MAX);
    store
        .save("p", b"{}".to_vec(), SaveHint::expiring_at(Some(far)))
        .await
        .unwrap();
    let ttl = pttl(&store.redis_key("p")).await;
    assert!(
        (ten_years_ms - 5_000..=ten_years_ms).contains(&ttl),
        "PTTL {ttl}"
    );
    assert!(store.load("p").await.unwrap().is_some());
}

#[tokio::test]
async fn wrong_credentials_are_an_error_not_an_outage() {
    let (prefix, clock) = (Prefix::new(), clock());
    let mut url = url::Url::parse(&redis_url()).unwrap();
    url.set_username(&format!("no-such-user-{}", uuid::Uuid::new_v4().simple()))
        .unwrap();
    url.set_password(Some("hunter2")).unwrap();
    let store = RedisStore::builder(url.as_str())
        .key_prefix(&prefix.0)
        .clock(clock.clone())
        .build()
        .unwrap();
    let err = store.load("p").await.unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Other, "{err}");
    assert!(err.to_string().contains("credentials"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(store.is_available(), "not counted as an outage");
    let err = store
        .save("p", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Other, "{err}");
}

/// An ACL user of this test's own, deleted when dropped (also on panic).
struct AclUser(String);

impl Drop for AclUser {
    fn drop(&mut self) {
        if let Ok(mut conn) = redis::Client::open(redis_url()).and_then(|c| c.get_connection()) {
            let _: redis::RedisResult<()> = redis::cmd("ACL")
                .arg("DELUSER")
                .arg(&self.0)
                .query(&mut conn);
        }
    }
}

#[tokio::test]
async fn a_user_without_the_acl_permissions_gets_an_error_not_an_outage() {
    let (prefix, clock) = (Prefix::new(), clock());
    let user = AclUser(format!("msal-test-{}", uuid::Uuid::new_v4().simple()));
    // May read but not write, and only its own prefix.
    redis::cmd("ACL")
        .arg("SETUSER")
        .arg(&user.0)
        .arg("on")
        .arg(">pw-of-the-test")
        .arg(format!("~{}*", prefix.0))
        .arg("+get")
        .arg("+pttl")
        .arg("+multi")
        .arg("+exec")
        .query_async::<()>(&mut raw().await)
        .await
        .unwrap();
    let mut url = url::Url::parse(&redis_url()).unwrap();
    url.set_username(&user.0).unwrap();
    url.set_password(Some("pw-of-the-test")).unwrap();
    let store = RedisStore::builder(url.as_str())
        .key_prefix(&prefix.0)
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(store.load("p").await.unwrap(), None, "reading is allowed");
    let err = store
        .save("p", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Other, "{err}");
    assert!(
        err.to_string().contains("NOPERM") || err.to_string().contains("permission"),
        "{err}"
    );
    assert!(store.is_available(), "Redis answered: not an outage");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_connection_manager_with_an_l1_needs_a_client_for_the_listener() {
    let (prefix, clock) = (Prefix::new(), clock());
    let client = redis::Client::open(redis_url()).unwrap();
    let manager = || {
        redis::aio::ConnectionManager::new_lazy_with_config(
            client.clone(),
            redis::aio::ConnectionManagerConfig::new(),
        )
        .unwrap()
    };
    let err = RedisStore::with_manager(manager())
        .l1(l1(&clock))
        .build()
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Other);
    assert!(err.to_string().contains("invalidation_client"), "{err}");
    // Without an L1, or with invalidation off, nothing is needed.
    RedisStore::with_manager(manager()).build().unwrap();
    RedisStore::with_manager(manager())
        .l1(l1(&clock))
        .invalidation(Invalidation::Off)
        .build()
        .unwrap();
    let store = RedisStore::with_manager(manager())
        .key_prefix(&prefix.0)
        .clock(clock.clone())
        .l1(l1(&clock))
        .invalidation_client(client.clone())
        .build()
        .unwrap();
    assert!(store.connection_manager().is_some());
    let _ = store.load("p").await;
    msal_test_support::store_contract::eventually("the listener connects", || async {
        store.invalidation_status().unwrap().connected
    })
    .await;
    assert_eq!(
        store.invalidation_status().unwrap().mechanism,
        Some("tracking")
    );
}
