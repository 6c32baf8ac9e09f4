//! How an L1 hears about other instances' changes on Redis, beyond the
//! contract (tests/contract.rs): the pub/sub fallback where the server
//! refuses client-side caching (here by ACL), the explicit modes, and a
//! flush of the server.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use msal::storage::{CacheStore, SaveHint};
use msal_cache_redis::{Invalidation, RedisStore, RedisStoreBuilder};
use msal_test_support::LogCapture;
use msal_test_support::store_contract::eventually;

/// An ACL user of this test's own that may do everything on its prefix
/// except `CLIENT TRACKING`; deleted when dropped (also on panic).
struct NoTrackingUser {
    name: String,
    url: String,
}

impl NoTrackingUser {
    async fn create(prefix: &Prefix) -> Self {
        let name = format!("msal-test-{}", uuid::Uuid::new_v4().simple());
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&name)
            .arg("on")
            .arg(">pw-of-the-test")
            .arg(format!("~{}*", prefix.0))
            .arg(format!("&{}*", prefix.0))
            .arg("+@all")
            .arg("-client|tracking")
            .query_async::<()>(&mut raw().await)
            .await
            .unwrap();
        let mut url = url::Url::parse(&redis_url()).unwrap();
        url.set_username(&name).unwrap();
        url.set_password(Some("pw-of-the-test")).unwrap();
        Self {
            name,
            url: url.to_string(),
        }
    }

    /// Kills every connection of this user; returns how many.
    async fn kill_connections(&self) -> i64 {
        redis::cmd("CLIENT")
            .arg("KILL")
            .arg("USER")
            .arg(&self.name)
            .query_async(&mut raw().await)
            .await
            .unwrap()
    }
}

impl Drop for NoTrackingUser {
    fn drop(&mut self) {
        if let Ok(mut conn) = redis::Client::open(redis_url()).and_then(|c| c.get_connection()) {
            let _: redis::RedisResult<()> = redis::cmd("ACL")
                .arg("DELUSER")
                .arg(&self.name)
                .query(&mut conn);
        }
    }
}

fn with_l1(
    builder: RedisStoreBuilder,
    clock: &std::sync::Arc<msal::clock::ManualClock>,
) -> RedisStore {
    builder.l1(l1(clock)).build().unwrap()
}

async fn held(store: &RedisStore, partition: &str) -> bool {
    store.l1().unwrap().load(partition).await.unwrap().is_some()
}

async fn read_into_l1(store: &RedisStore, partition: &str) {
    eventually("a read is kept in L1", || async {
        store.load(partition).await.unwrap();
        held(store, partition).await
    })
    .await;
}

async fn connected(store: &RedisStore, mechanism: &str) {
    let _ = store.load("start").await;
    eventually("the listener connects", || async {
        store
            .invalidation_status()
            .is_some_and(|s| s.connected && s.mechanism == Some(mechanism))
    })
    .await;
}

// One thread: the listener tasks' logs reach the thread-local capture.
#[tokio::test]
async fn where_tracking_is_refused_the_l1_falls_back_to_pubsub_on_the_prefix() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let (prefix, clock) = (Prefix::new(), clock());
    let user = NoTrackingUser::create(&prefix).await;
    let on = |_: ()| {
        RedisStore::builder(user.url.as_str())
            .key_prefix(&prefix.0)
            .clock(clock.clone())
    };
    let a = with_l1(on(()), &clock);
    let b = with_l1(on(()), &clock);
    connected(&a, "pubsub").await;
    connected(&b, "pubsub").await;

    a.save("p", b"v1".to_vec(), SaveHint::default())
        .await
        .unwrap();
    read_into_l1(&b, "p").await;
    a.save("p", b"v2".to_vec(), SaveHint::default())
        .await
        .unwrap();
    eventually("B's L1 drops p after A's write", || async {
        b.l1().unwrap().load("p").await.unwrap().as_deref() != Some(&b"v1"[..])
    })
    .await;
    assert_eq!(b.load("p").await.unwrap().as_deref(), Some(&b"v2"[..]));

    // The subscriptions are cut on the server, and come back.
    read_into_l1(&b, "p").await;
    assert!(user.kill_connections().await >= 2);
    eventually("B notices", || async {
        b.invalidation_status().unwrap().lost >= 1
    })
    .await;
    assert!(!held(&b, "p").await, "emptied when the subscription went");
    eventually("B subscribes again", || async {
        b.invalidation_status().unwrap().connected
    })
    .await;
    connected(&a, "pubsub").await;
    // The data connections were killed too: probe until the stores use Redis again.
    for store in [&a, &b] {
        eventually("the store reconnects", || async {
            clock.advance(Duration::from_secs(5));
            let _ = store.load("probe").await;
            store.is_available()
        })
        .await;
    }
    read_into_l1(&b, "p").await;
    a.remove("p").await.unwrap();
    eventually("B's L1 drops p after A's removal", || async {
        !held(&b, "p").await
    })
    .await;
    assert_eq!(b.load("p").await.unwrap(), None);
    let text = logs.contents();
    assert!(
        text.contains("falls back to pub/sub"),
        "the fallback is logged: {text}"
    );

    // Tracking only, on a server that refuses it: nothing read is kept, a
    // warning says why (once), own saves still serve.
    let strict = with_l1(on(()).invalidation(Invalidation::Tracking), &clock);
    strict.load("p").await.unwrap();
    eventually("the refusal is logged", || async {
        logs.contents()
            .contains("Redis refuses what L1 invalidation needs")
    })
    .await;
    a.save("q", b"q".to_vec(), SaveHint::default())
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(strict.load("q").await.unwrap().as_deref(), Some(&b"q"[..]));
        assert!(
            !held(&strict, "q").await,
            "not kept: nobody would tell it to drop q"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!strict.invalidation_status().unwrap().connected);
    strict
        .save("own", b"o".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert!(held(&strict, "own").await);
    assert_eq!(
        logs.contents()
            .matches("Redis refuses what L1 invalidation needs")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_pubsub_mode_a_writer_without_l1_announces_its_writes() {
    let (prefix, clock) = (Prefix::new(), clock());
    let writer = RedisStore::builder(redis_url())
        .key_prefix(&prefix.0)
        .clock(clock.clone())
        .invalidation(Invalidation::PubSub)
        .build()
        .unwrap();
    assert!(writer.invalidation_status().is_none(), "no L1, no listener");
    let reader = with_l1(
        RedisStore::builder(redis_url())
            .key_prefix(&prefix.0)
            .clock(clock.clone())
            .invalidation(Invalidation::PubSub),
        &clock,
    );
    connected(&reader, "pubsub").await;
    writer
        .save("p", b"v1".to_vec(), SaveHint::default())
        .await
        .unwrap();
    read_into_l1(&reader, "p").await;
    writer.remove("p").await.unwrap();
    eventually("the reader's L1 drops p", || async {
        !held(&reader, "p").await
    })
    .await;
    let received = reader.invalidation_status().unwrap().received;
    assert!(received >= 2, "{received}");

    // A tracking store on the same prefix hears the same writes.
    let tracking = with_l1(
        RedisStore::builder(redis_url())
            .key_prefix(&prefix.0)
            .clock(clock.clone()),
        &clock,
    );
    connected(&tracking, "tracking").await;
    writer
        .save("p", b"v2".to_vec(), SaveHint::default())
        .await
        .unwrap();
    read_into_l1(&tracking, "p").await;
    writer.remove("p").await.unwrap();
    eventually("the tracking store's L1 drops p", || async {
        !held(&tracking, "p").await
    })
    .await;
}

/// A redis-server of this test's own (it is flushed).
struct OwnRedis(Child, u16);

impl OwnRedis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for this test");
        // Owned at once, so that a panic below still stops it.
        let own = Self(child, port);
        for _ in 0..200 {
            if redis::Client::open(own.url())
                .and_then(|c| c.get_connection())
                .is_ok()
            {
                return own;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server on port {port} did not start");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.1)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_server_empties_every_l1() {
    let server = OwnRedis::start();
    let clock = clock();
    let store = |_: ()| {
        with_l1(
            RedisStore::builder(server.url()).clock(clock.clone()),
            &clock,
        )
    };
    let (a, b) = (store(()), store(()));
    connected(&a, "tracking").await;
    connected(&b, "tracking").await;
    for p in ["p", "q"] {
        a.save(p, b"x".to_vec(), SaveHint::default()).await.unwrap();
        read_into_l1(&b, p).await;
    }
    redis::cmd("FLUSHALL")
        .query_async::<()>(
            &mut redis::Client::open(server.url())
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    eventually("B's L1 is emptied by the flush", || async {
        !held(&b, "p").await && !held(&b, "q").await
    })
    .await;
    assert_eq!(b.load("p").await.unwrap(), None);
}
