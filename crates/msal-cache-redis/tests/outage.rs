//! Redis going away mid-run and coming back: through a TCP proxy in front of
//! the machine's Redis (cut, stalled), and a throwaway redis-server of the
//! test's own that is killed and restarted on the same port.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use msal::clock::ManualClock;
use msal::storage::{CacheStore, SaveHint, StorageErrorKind};
use msal_cache_redis::{Invalidation, RedisStore, RedisStoreBuilder};
use msal_test_support::{LogCapture, TcpProxy};

const RETRY: Duration = Duration::from_secs(5);

fn via(
    addr: impl std::fmt::Display,
    prefix: &Prefix,
    clock: &Arc<ManualClock>,
) -> RedisStoreBuilder {
    RedisStore::builder(format!("redis://{addr}"))
        .key_prefix(&prefix.0)
        .clock(clock.clone())
        .retry_interval(RETRY)
        .operation_timeout(Duration::from_millis(500))
}

/// Probes (moving msal's clock past the retry interval each time) until the
/// store uses Redis again. A dropped connection is re-established by the
/// first probe, so this takes one or two probes; the bound only stops a
/// broken store from looping forever.
async fn probe_until_available(store: &RedisStore, clock: &ManualClock) -> usize {
    for probe in 1..=10 {
        clock.advance(RETRY);
        let _ = store.load("probe").await;
        if store.is_available() {
            return probe;
        }
    }
    panic!("the store did not recover within 10 probes");
}

#[tokio::test]
async fn a_cut_redis_is_ridden_out_with_l1_logged_once_and_recovered() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let (prefix, clock) = (Prefix::new(), clock());
    let proxy = TcpProxy::start(redis_addr()).await;
    // Without invalidation, L1 keeps serving what it held before the outage
    // (see the next test for the default).
    let store = via(proxy.addr(), &prefix, &clock)
        .l1(l1(&clock))
        .invalidation(Invalidation::Off)
        .build()
        .unwrap();

    store
        .save("before", b"saved-before".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(
        get_raw(&store.redis_key("before")).await.as_deref(),
        Some(&b"saved-before"[..])
    );

    proxy.cut();
    for i in 0..25 {
        // Reads of what L1 holds go on; misses are misses (the app asks the IdP).
        assert_eq!(
            store.load("before").await.unwrap().as_deref(),
            Some(&b"saved-before"[..])
        );
        assert_eq!(store.load(&format!("never-{i}")).await.unwrap(), None);
        store
            .save(&format!("during-{i}"), b"d".to_vec(), SaveHint::default())
            .await
            .unwrap();
        assert_eq!(
            store.load(&format!("during-{i}")).await.unwrap().as_deref(),
            Some(&b"d"[..])
        );
    }
    assert!(!store.is_available());
    assert_eq!(
        get_raw(&store.redis_key("during-0")).await,
        None,
        "nothing reached Redis during the outage"
    );
    let accepted_during = proxy.accepted();

    proxy.restore();
    let probes = probe_until_available(&store, &clock).await;
    assert!(probes <= 2, "took {probes} probes");
    store
        .save("after", b"a".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(
        get_raw(&store.redis_key("after")).await.as_deref(),
        Some(&b"a"[..]),
        "writes reach Redis again"
    );
    assert!(proxy.accepted() > accepted_during, "it reconnected");

    let text = logs.contents();
    assert_eq!(
        text.matches("token cache store unavailable").count(),
        1,
        "warn once: {text}"
    );
    assert_eq!(
        text.matches("token cache store available again").count(),
        1,
        "info once: {text}"
    );
    assert!(
        text.contains("WARN") && text.contains("backend=\"redis\"")
            || text.contains("backend=redis"),
        "{text}"
    );
    assert!(
        !text.contains("saved-before") && !text.contains(&prefix.0),
        "no values or keys logged: {text}"
    );
}

#[tokio::test]
async fn with_invalidation_an_outage_empties_l1_which_then_serves_only_own_saves() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let (prefix, clock) = (Prefix::new(), clock());
    let proxy = TcpProxy::start(redis_addr()).await;
    let store = via(proxy.addr(), &prefix, &clock)
        .l1(l1(&clock))
        .build()
        .unwrap();
    store
        .save("before", b"saved-before".to_vec(), SaveHint::default())
        .await
        .unwrap();
    msal_test_support::store_contract::eventually("the listener connects", || async {
        store.invalidation_status().unwrap().connected
    })
    .await;
    // Read until the copy is kept (the echo of the save may drop the first one).
    msal_test_support::store_contract::eventually("a read is kept in L1", || async {
        store.load("before").await.unwrap();
        store.l1().unwrap().load("before").await.unwrap().is_some()
    })
    .await;

    proxy.cut();
    // The listener's connection went with the data connection: L1 is
    // emptied, since another instance may now change "before" unheard.
    msal_test_support::store_contract::eventually("the listener notices the cut", || async {
        !store.invalidation_status().unwrap().connected
    })
    .await;
    assert_eq!(
        store.load("before").await.unwrap(),
        None,
        "a miss: the app asks the IdP"
    );
    store
        .save("during", b"own".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(
        store.load("during").await.unwrap().as_deref(),
        Some(&b"own"[..]),
        "this instance's own save is served from L1"
    );
    assert!(!store.is_available());

    proxy.restore();
    probe_until_available(&store, &clock).await;
    msal_test_support::store_contract::eventually("the listener reconnects", || async {
        store.invalidation_status().unwrap().connected
    })
    .await;
    assert_eq!(
        store.l1().unwrap().load("during").await.unwrap(),
        None,
        "emptied again once the listener is back (Redis never got the save)"
    );
    assert_eq!(
        store.load("before").await.unwrap().as_deref(),
        Some(&b"saved-before"[..]),
        "Redis kept its data"
    );
    let status = store.invalidation_status().unwrap();
    assert_eq!(status.lost, 1);
    let text = logs.contents();
    assert_eq!(
        text.matches("invalidation connection lost").count(),
        1,
        "{text}"
    );
}

#[tokio::test]
async fn without_l1_an_outage_is_a_miss_and_fail_closed_reports_it() {
    let (prefix, clock) = (Prefix::new(), clock());
    let proxy = TcpProxy::start(redis_addr()).await;
    let open = via(proxy.addr(), &prefix, &clock).build().unwrap();
    let closed = via(proxy.addr(), &prefix, &clock)
        .fail_open(false)
        .build()
        .unwrap();
    open.save("p", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert!(closed.load("p").await.unwrap().is_some());

    proxy.cut();
    assert_eq!(
        open.load("p").await.unwrap(),
        None,
        "a miss: the engine goes to the identity provider"
    );
    open.save("q", b"y".to_vec(), SaveHint::default())
        .await
        .unwrap();
    let err = closed.load("p").await.unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Unavailable, "{err}");
    proxy.restore();
    probe_until_available(&open, &clock).await;
    assert_eq!(
        open.load("p").await.unwrap().as_deref(),
        Some(&b"x"[..]),
        "Redis kept its data"
    );
}

#[tokio::test]
async fn a_stalled_redis_times_out_instead_of_hanging_the_app() {
    let (prefix, clock) = (Prefix::new(), clock());
    let proxy = TcpProxy::start(redis_addr()).await;
    let store = via(proxy.addr(), &prefix, &clock)
        .operation_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    store
        .save("p", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap();
    proxy.stall();
    assert_eq!(store.load("p").await.unwrap(), None);
    assert!(!store.is_available());
    // Inside the retry interval nothing waits on Redis at all.
    let started = std::time::Instant::now();
    for _ in 0..100 {
        assert_eq!(store.load("p").await.unwrap(), None);
    }
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "calls skipped the dead server"
    );
    proxy.restore();
    probe_until_available(&store, &clock).await;
    assert!(store.load("p").await.unwrap().is_some());
}

/// A redis-server of this test's own, on a port it picked.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for this test");
        let own = Self {
            port,
            child: Some(child),
        };
        own.wait_ready();
        own
    }

    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port)
    }

    fn wait_ready(&self) {
        let url = format!("redis://127.0.0.1:{}", self.port);
        for _ in 0..200 {
            let ok = redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok();
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test]
async fn a_redis_server_killed_and_restarted_on_its_port() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let (prefix, clock) = (Prefix::new(), clock());
    let mut server = OwnRedis::start();
    let port = server.port;
    let store = via(format!("127.0.0.1:{port}"), &prefix, &clock)
        .l1(l1(&clock))
        .invalidation(Invalidation::Off)
        .build()
        .unwrap();
    let plain = via(format!("127.0.0.1:{port}"), &prefix, &clock)
        .build()
        .unwrap();
    store
        .save("kept", b"in-l1-and-redis".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert!(plain.load("kept").await.unwrap().is_some());

    server.kill();
    assert_eq!(
        store.load("kept").await.unwrap().as_deref(),
        Some(&b"in-l1-and-redis"[..]),
        "L1 answers"
    );
    assert_eq!(store.load("other").await.unwrap(), None);
    store
        .save("while-down", b"w".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(plain.load("kept").await.unwrap(), None, "no L1: a miss");
    assert!(!store.is_available() && !plain.is_available());

    let _server = OwnRedis::start_on(port);
    probe_until_available(&store, &clock).await;
    // The new server started empty (no persistence): L1 still serves, Redis has nothing.
    assert_eq!(
        store.load("kept").await.unwrap().as_deref(),
        Some(&b"in-l1-and-redis"[..])
    );
    probe_until_available(&plain, &clock).await;
    assert_eq!(plain.load("kept").await.unwrap(), None);
    store
        .save("after", b"a".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert_eq!(
        plain.load("after").await.unwrap().as_deref(),
        Some(&b"a"[..])
    );
    let text = logs.contents();
    assert_eq!(
        text.matches("token cache store unavailable").count(),
        2,
        "once per store: {text}"
    );
    assert_eq!(
        text.matches("token cache store available again").count(),
        2,
        "once per store: {text}"
    );
}

/// A loopback port nothing listens on (bound, read, released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

#[tokio::test]
async fn a_redis_down_at_start_does_not_stop_the_app_and_is_used_once_it_comes_up() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let (prefix, clock) = (Prefix::new(), clock());
    let port = closed_port();
    // Building makes no connection: nothing fails yet.
    let store = via(format!("127.0.0.1:{port}"), &prefix, &clock)
        .l1(l1(&clock))
        .build()
        .unwrap();
    let tenant = unique_tenant();
    let idp = msal_test_support::FakeHttp::new();
    expect_client_credentials(&idp, &tenant, "at-while-down");
    let app = confidential_app(store.clone(), &idp, &clock, &tenant);
    let token = app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    assert_eq!(token.access_token().expose_secret(), "at-while-down");
    assert!(!store.is_available(), "the first call found Redis down");
    // Served from L1 while Redis stays down.
    let again = app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    assert_eq!(again.access_token().expose_secret(), "at-while-down");
    idp.assert_consumed();

    // Redis comes up on the configured address: the store starts using it.
    let _server = OwnRedis::start_on(port);
    probe_until_available(&store, &clock).await;
    expect_token(&idp, &tenant, "at-after");
    let partition = msal::storage::app_partition_key(CLIENT_ID, &tenant);
    store.l1().unwrap().remove(&partition).await.unwrap();
    clock.advance(Duration::from_secs(3_600));
    let after = app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    assert_eq!(after.access_token().expose_secret(), "at-after");
    idp.assert_consumed();
    let plain = via(format!("127.0.0.1:{port}"), &prefix, &clock)
        .build()
        .unwrap();
    let doc = plain
        .load(&partition)
        .await
        .unwrap()
        .expect("saved in Redis");
    assert!(
        doc.windows(8).any(|w| w == b"at-after"),
        "the new token reached Redis"
    );
    let text = logs.contents();
    assert_eq!(
        text.matches("token cache store unavailable").count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.matches("token cache store available again").count(),
        1,
        "{text}"
    );
}

#[tokio::test]
async fn a_redis_that_never_comes_up_only_costs_misses() {
    let (prefix, clock) = (Prefix::new(), clock());
    let store = via(format!("127.0.0.1:{}", closed_port()), &prefix, &clock)
        .build()
        .unwrap();
    let tenant = unique_tenant();
    let idp = msal_test_support::FakeHttp::new();
    expect_client_credentials(&idp, &tenant, "at-1");
    expect_token(&idp, &tenant, "at-2");
    let app = confidential_app(store.clone(), &idp, &clock, &tenant);
    // No L1 and no Redis: every call asks the identity provider, none fails.
    for expected in ["at-1", "at-2"] {
        let token = app.acquire_token_for_client(&[GRAPH]).await.unwrap();
        assert_eq!(token.access_token().expose_secret(), expected);
        clock.advance(RETRY);
    }
    idp.assert_consumed();
    assert!(!store.is_available());
}
