//! The database going away mid-run and coming back, through a TCP proxy in
//! front of the machine's PostgreSQL (the shared server itself is never
//! stopped).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use msal::clock::ManualClock;
use msal::storage::{CacheStore, SaveHint, StorageErrorKind};
use msal_cache_postgres::{DEFAULT_TABLE, PostgresStore, PostgresStoreBuilder};
use msal_test_support::{LogCapture, TcpProxy};

const RETRY: Duration = Duration::from_secs(5);

use msal_test_support::store_contract::eventually;

fn via(proxy: &TcpProxy, schema: &Schema, clock: &Arc<ManualClock>) -> PostgresStoreBuilder {
    PostgresStore::builder(database_url_via(proxy.addr()))
        .schema(&schema.0)
        .clock(clock.clone())
        .retry_interval(RETRY)
        .operation_timeout(Duration::from_millis(700))
}

/// Probes (moving msal's clock past the retry interval each time) until the
/// store uses the database again; the bound only stops a broken store from
/// looping forever.
async fn probe_until_available(store: &PostgresStore, clock: &ManualClock) -> usize {
    for probe in 1..=10 {
        clock.advance(RETRY);
        let _ = store.load("probe").await;
        if store.is_available() {
            return probe;
        }
    }
    panic!("the store did not recover within 10 probes");
}

async fn in_table(schema: &Schema, key: &str) -> bool {
    let sql = format!(
        "SELECT count(*) FROM \"{}\".\"{DEFAULT_TABLE}\" WHERE key = $1",
        schema.0
    );
    sqlx::query_scalar::<_, i64>(&sql)
        .bind(key)
        .fetch_one(&raw().await)
        .await
        .unwrap()
        == 1
}

#[tokio::test]
async fn a_cut_database_is_ridden_out_with_l1_logged_once_and_recovered() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let (schema, clock) = (Schema::new(), clock());
    let proxy = TcpProxy::start(db_addr()).await;
    // Without invalidation, L1 keeps serving what it held before the outage
    // (see the next test for the default).
    let store = via(&proxy, &schema, &clock)
        .l1(l1(&clock))
        .invalidation(false)
        .build()
        .unwrap();
    store
        .save("before", b"saved-before".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert!(in_table(&schema, "before").await);

    proxy.cut();
    for i in 0..25 {
        assert_eq!(
            store.load("before").await.unwrap().as_deref(),
            Some(&b"saved-before"[..]),
            "L1 answers"
        );
        assert_eq!(
            store.load(&format!("never-{i}")).await.unwrap(),
            None,
            "a miss: the app asks the IdP"
        );
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
    assert!(
        !in_table(&schema, "during-0").await,
        "nothing reached the database during the outage"
    );

    proxy.restore();
    probe_until_available(&store, &clock).await;
    store
        .save("after", b"a".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert!(
        in_table(&schema, "after").await,
        "writes reach the database again"
    );

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
    assert!(text.contains("postgres"), "{text}");
    assert!(
        !text.contains("saved-before") && !text.contains("during-"),
        "no values or keys logged: {text}"
    );
}

#[tokio::test]
async fn with_invalidation_an_outage_empties_l1_which_then_serves_only_own_saves() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let (schema, clock) = (Schema::new(), clock());
    let proxy = TcpProxy::start(db_addr()).await;
    // The LISTEN connection goes through the proxy too.
    let store = via(&proxy, &schema, &clock).l1(l1(&clock)).build().unwrap();
    store
        .save("before", b"saved-before".to_vec(), SaveHint::default())
        .await
        .unwrap();
    eventually("the listener connects", || async {
        store.invalidation_status().unwrap().connected
    })
    .await;
    eventually("a read is kept in L1", || async {
        store.load("before").await.unwrap();
        store.l1().unwrap().load("before").await.unwrap().is_some()
    })
    .await;

    proxy.cut();
    eventually("the listener notices the cut", || async {
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
    eventually("the listener reconnects", || async {
        store.invalidation_status().unwrap().connected
    })
    .await;
    assert_eq!(
        store.l1().unwrap().load("during").await.unwrap(),
        None,
        "emptied again once the listener is back"
    );
    assert_eq!(
        store.load("before").await.unwrap().as_deref(),
        Some(&b"saved-before"[..])
    );
    assert_eq!(store.invalidation_status().unwrap().lost, 1);
    let text = logs.contents();
    assert_eq!(
        text.matches("invalidation connection lost").count(),
        1,
        "{text}"
    );
}

#[tokio::test]
async fn without_l1_an_outage_is_a_miss_and_fail_closed_reports_it() {
    let (schema, clock) = (Schema::new(), clock());
    let proxy = TcpProxy::start(db_addr()).await;
    let open = via(&proxy, &schema, &clock).build().unwrap();
    let closed = via(&proxy, &schema, &clock)
        .fail_open(false)
        .build()
        .unwrap();
    open.save("p", b"x".to_vec(), SaveHint::default())
        .await
        .unwrap();
    assert!(closed.load("p").await.unwrap().is_some());

    proxy.cut();
    assert_eq!(open.load("p").await.unwrap(), None);
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
        "the database kept its rows"
    );
}

#[tokio::test]
async fn a_stalled_database_times_out_instead_of_hanging_the_app() {
    let (schema, clock) = (Schema::new(), clock());
    let proxy = TcpProxy::start(db_addr()).await;
    let store = via(&proxy, &schema, &clock)
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
    proxy.restore();
    probe_until_available(&store, &clock).await;
    assert_eq!(store.load("p").await.unwrap().as_deref(), Some(&b"x"[..]));
}

/// A loopback port nothing listens on (bound, read, released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

#[tokio::test]
async fn a_database_down_at_start_only_costs_misses() {
    let (schema, clock) = (Schema::new(), clock());
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], closed_port()));
    // Building makes no connection: nothing fails yet.
    let store = PostgresStore::builder(database_url_via(addr))
        .schema(&schema.0)
        .clock(clock.clone())
        .retry_interval(RETRY)
        .build()
        .unwrap();
    let tenant = unique_tenant();
    let idp = msal_test_support::FakeHttp::new();
    expect_client_credentials(&idp, &tenant, "at-1");
    expect_token(&idp, &tenant, "at-2");
    let app = confidential_app(store.clone(), &idp, &clock, &tenant);
    // No L1 and no database: every call asks the identity provider, none fails.
    for expected in ["at-1", "at-2"] {
        let token = app.acquire_token_for_client(&[GRAPH]).await.unwrap();
        assert_eq!(token.access_token().expose_secret(), expected);
        assert!(!store.is_available(), "a refused connection is an outage");
        clock.advance(RETRY);
    }
    idp.assert_consumed();
}

#[tokio::test]
async fn a_database_unreachable_at_start_is_used_once_it_is_reachable() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let (schema, clock) = (Schema::new(), clock());
    let proxy = TcpProxy::start(db_addr()).await;
    proxy.cut();
    let store = via(&proxy, &schema, &clock).l1(l1(&clock)).build().unwrap();
    let tenant = unique_tenant();
    let idp = msal_test_support::FakeHttp::new();
    expect_client_credentials(&idp, &tenant, "at-while-down");
    let app = confidential_app(store.clone(), &idp, &clock, &tenant);
    let token = app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    assert_eq!(token.access_token().expose_secret(), "at-while-down");
    assert!(!store.is_available());
    let again = app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    assert_eq!(
        again.access_token().expose_secret(),
        "at-while-down",
        "from L1"
    );
    idp.assert_consumed();

    proxy.restore();
    probe_until_available(&store, &clock).await;
    clock.advance(Duration::from_secs(3_600));
    expect_token(&idp, &tenant, "at-after");
    let after = app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    assert_eq!(after.access_token().expose_secret(), "at-after");
    idp.assert_consumed();
    let partition = msal::storage::app_partition_key(CLIENT_ID, &tenant);
    assert!(
        in_table(&schema, &partition).await,
        "the new token reached the database"
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
