//! A confidential client on real storage: the default MemoryStore, Redis
//! (REDIS_URL, a unique key prefix) and PostgreSQL (DATABASE_URL, a unique
//! schema). Partitions land under their keys with the token's expiry,
//! another instance is served from them, and when the server goes away
//! mid-run (a TCP proxy cut) calls still succeed from L1 or the identity
//! provider, and writes reach the server again once it is back.

mod confidential_support;

use std::sync::Arc;
use std::time::Duration;

use confidential_support::*;
use msal::clock::ManualClock;
use msal::credentials::ClientCredential;
use msal::secret::ClientSecret;
use msal::storage::app_partition_key;
use msal::storage::{CacheStore, MemoryStore, StoreAccess};
use msal::{ConfidentialClientApplication, TokenSource};
use msal_cache_postgres::PostgresStore;
use msal_cache_redis::RedisStore;
use msal_test_support::TcpProxy;

const RETRY: Duration = Duration::from_secs(5);

fn app_on<S: CacheStore>(
    store: S,
    idp: &Arc<Idp>,
    clock: &Arc<ManualClock>,
    home: &str,
) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(
        CLIENT_ID,
        ClientCredential::secret(ClientSecret::new(SECRET)),
    )
    .authority(format!("{HOST}/{home}"))
    .http_client(idp.clone())
    .clock(clock.clone())
    .cache_access(Arc::new(StoreAccess::new(store)))
    .build()
    .unwrap()
}

async fn token(app: &ConfidentialClientApplication, tenant: &str) -> (String, TokenSource) {
    let r = app
        .acquire_token_for_client(&[GRAPH])
        .tenant(tenant)
        .await
        .unwrap();
    (r.access_token().expose_secret().to_owned(), r.source())
}

// ---------- Redis ----------

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn redis_addr() -> String {
    let u = url::Url::parse(&redis_url()).unwrap();
    format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(6379))
}

/// A unique key prefix, its keys deleted on drop (also on panic).
struct Prefix(String);

impl Prefix {
    fn new() -> Self {
        Self(format!("msal-test:confidential:{}:", uuid::Uuid::new_v4()))
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(redis_url()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.0))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

async fn redis_cmd<T: redis::FromRedisValue>(cmd: &str, key: &str) -> T {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("Redis must run at {} for these tests: {e}", redis_url()));
    redis::cmd(cmd)
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn redis_holds_one_partition_per_tenant_with_the_token_ttl_and_serves_other_instances() {
    let (prefix, idp, clock) = (
        Prefix::new(),
        Idp::new(),
        Arc::new(ManualClock::at_unix(NOW)),
    );
    let home = unique_tenant();
    let tenants: Vec<String> = (0..3).map(|_| unique_tenant()).collect();
    let redis = || {
        RedisStore::builder(redis_url())
            .key_prefix(&prefix.0)
            .clock(clock.clone())
    };
    let a = app_on(redis().build().unwrap(), &idp, &clock, &home);
    for t in &tenants {
        assert_eq!(token(&a, t).await.1, TokenSource::IdentityProvider);
    }
    let store = redis().build().unwrap();
    for t in &tenants {
        let key = store.redis_key(&app_partition_key(CLIENT_ID, t));
        let doc: Option<Vec<u8>> = redis_cmd("GET", &key).await;
        let doc: serde_json::Value =
            serde_json::from_slice(&doc.expect("partition in Redis")).unwrap();
        let ats: Vec<&serde_json::Value> =
            doc["AccessToken"].as_object().unwrap().values().collect();
        assert_eq!(ats.len(), 1);
        assert_eq!(ats[0]["realm"], t.as_str());
        let ttl: i64 = redis_cmd("PTTL", &key).await;
        assert!(
            (3_590_000..=3_599_000).contains(&ttl),
            "TTL from the token's expiry: {ttl} ms"
        );
    }
    // Another instance (with an L1) on the same Redis: no request.
    let b = app_on(
        redis()
            .l1(MemoryStore::builder().clock(clock.clone()).build())
            .build()
            .unwrap(),
        &idp,
        &clock,
        &home,
    );
    for t in &tenants {
        let (at, source) = token(&b, t).await;
        assert_eq!((at, source), (format!("at-{t}-1"), TokenSource::Cache));
    }
    assert_eq!(idp.token_requests(), 3);
}

#[tokio::test]
async fn redis_going_away_mid_run_calls_succeed_from_l1_and_the_idp_and_recover() {
    let (prefix, idp, clock) = (
        Prefix::new(),
        Idp::new(),
        Arc::new(ManualClock::at_unix(NOW)),
    );
    let home = unique_tenant();
    let proxy = TcpProxy::start(redis_addr()).await;
    let store = RedisStore::builder(format!("redis://{}", proxy.addr()))
        .key_prefix(&prefix.0)
        .clock(clock.clone())
        .retry_interval(RETRY)
        .operation_timeout(Duration::from_millis(500))
        .l1(MemoryStore::builder().clock(clock.clone()).build())
        .build()
        .unwrap();
    let raw = store.clone();
    let app = app_on(store, &idp, &clock, &home);
    let warm: Vec<String> = (0..3).map(|_| unique_tenant()).collect();
    for t in &warm {
        token(&app, t).await;
    }
    assert_eq!(idp.token_requests(), 3);

    proxy.cut();
    // Cached tenants from L1, new tenants from the identity provider: no call fails.
    for round in 0..3 {
        for t in &warm {
            assert_eq!(
                token(&app, t).await,
                (format!("at-{t}-1"), TokenSource::Cache),
                "round {round}"
            );
        }
    }
    let during = unique_tenant();
    assert_eq!(token(&app, &during).await.1, TokenSource::IdentityProvider);
    assert_eq!(token(&app, &during).await.1, TokenSource::Cache);
    assert_eq!(idp.token_requests(), 4);
    assert!(!raw.is_available());

    proxy.restore();
    let after = unique_tenant();
    for _ in 0..10 {
        clock.advance(RETRY);
        token(&app, &after).await;
        if raw.is_available() {
            break;
        }
    }
    assert!(raw.is_available(), "Redis is used again");
    token(&app, &unique_tenant()).await;
    let newest = unique_tenant();
    token(&app, &newest).await;
    let key = raw.redis_key(&app_partition_key(CLIENT_ID, &newest));
    let exists: i64 = redis_cmd("EXISTS", &key).await;
    assert_eq!(exists, 1, "writes reach Redis again");
}

// ---------- PostgreSQL ----------

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn database_url_via(addr: std::net::SocketAddr) -> String {
    let mut url = url::Url::parse(&database_url()).unwrap();
    url.set_host(Some(&addr.ip().to_string())).unwrap();
    url.set_port(Some(addr.port())).unwrap();
    url.to_string()
}

fn db_addr() -> String {
    let u = url::Url::parse(&database_url()).unwrap();
    format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(5432))
}

/// A unique schema, dropped with everything in it on drop (also on panic).
struct Schema(String);

impl Schema {
    fn new() -> Self {
        Self(format!("msal_test_conf_{}", uuid::Uuid::new_v4().simple()))
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let statement = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.0);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&database_url()).await {
                    let _ = sqlx::query(&statement).execute(&pool).await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

async fn rows(schema: &Schema, store: &PostgresStore) -> Vec<(String, f64)> {
    let pool = sqlx::PgPool::connect(&database_url())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL must run at {} for these tests: {e}",
                database_url()
            )
        });
    let sql = format!(
        "SELECT key, extract(epoch FROM expires_at)::float8 FROM \"{}\".\"{}\" ORDER BY key",
        schema.0,
        store.table()
    );
    let r: Vec<(String, f64)> = sqlx::query_as(&sql).fetch_all(&pool).await.unwrap();
    pool.close().await;
    r
}

#[tokio::test]
async fn postgres_holds_one_row_per_partition_with_the_token_expiry_and_serves_other_instances() {
    let (schema, idp, clock) = (
        Schema::new(),
        Idp::new(),
        Arc::new(ManualClock::at_unix(NOW)),
    );
    let home = unique_tenant();
    let tenants: Vec<String> = (0..3).map(|_| unique_tenant()).collect();
    let pg = || {
        PostgresStore::builder(database_url())
            .schema(&schema.0)
            .clock(clock.clone())
    };
    let a = app_on(pg().build().unwrap(), &idp, &clock, &home);
    for t in &tenants {
        token(&a, t).await;
    }
    let store = pg().build().unwrap();
    let mut want: Vec<String> = tenants
        .iter()
        .map(|t| app_partition_key(CLIENT_ID, t))
        .collect();
    want.sort();
    let found = rows(&schema, &store).await;
    assert_eq!(
        found.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        want
    );
    assert!(
        found.iter().all(|(_, exp)| *exp == (NOW + 3599) as f64),
        "{found:?}"
    );
    let b = app_on(pg().build().unwrap(), &idp, &clock, &home);
    for t in &tenants {
        assert_eq!(token(&b, t).await.1, TokenSource::Cache);
    }
    assert_eq!(idp.token_requests(), 3);
    // Expired partitions are not served and are purged.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(store.purge_expired().await.unwrap(), 3);
    assert_eq!(
        token(&b, &tenants[0]).await.1,
        TokenSource::IdentityProvider
    );
}

#[tokio::test]
async fn postgres_going_away_mid_run_calls_succeed_from_l1_and_the_idp_and_recover() {
    let (schema, idp, clock) = (
        Schema::new(),
        Idp::new(),
        Arc::new(ManualClock::at_unix(NOW)),
    );
    let home = unique_tenant();
    let proxy = TcpProxy::start(db_addr()).await;
    let store = PostgresStore::builder(database_url_via(proxy.addr()))
        .schema(&schema.0)
        .clock(clock.clone())
        .retry_interval(RETRY)
        .operation_timeout(Duration::from_millis(800))
        .l1(MemoryStore::builder().clock(clock.clone()).build())
        .build()
        .unwrap();
    let raw = store.clone();
    let app = app_on(store, &idp, &clock, &home);
    let warm: Vec<String> = (0..3).map(|_| unique_tenant()).collect();
    for t in &warm {
        token(&app, t).await;
    }
    proxy.cut();
    for t in &warm {
        assert_eq!(
            token(&app, t).await,
            (format!("at-{t}-1"), TokenSource::Cache)
        );
    }
    let during = unique_tenant();
    assert_eq!(token(&app, &during).await.1, TokenSource::IdentityProvider);
    assert_eq!(token(&app, &during).await.1, TokenSource::Cache);
    assert_eq!(idp.token_requests(), 4);
    assert!(!raw.is_available());

    proxy.restore();
    for _ in 0..10 {
        clock.advance(RETRY);
        token(&app, &unique_tenant()).await;
        if raw.is_available() {
            break;
        }
    }
    assert!(raw.is_available(), "PostgreSQL is used again");
    let newest = unique_tenant();
    token(&app, &newest).await;
    let keys: Vec<String> = rows(&schema, &raw)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(
        keys.contains(&app_partition_key(CLIENT_ID, &newest)),
        "writes reach PostgreSQL again"
    );
    assert!(keys.contains(&app_partition_key(CLIENT_ID, &warm[0])));
}

// ---------- Memory (the default) ----------

#[tokio::test]
async fn the_default_memory_store_keeps_partitions_until_their_tokens_expire() {
    let idp = Idp::new();
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let app = ConfidentialClientApplication::builder(
        CLIENT_ID,
        ClientCredential::secret(ClientSecret::new(SECRET)),
    )
    .authority(format!("{HOST}/{}", unique_tenant()))
    .http_client(idp.clone())
    .clock(clock.clone())
    .build()
    .unwrap();
    let t = unique_tenant();
    assert_eq!(token(&app, &t).await.1, TokenSource::IdentityProvider);
    assert_eq!(token(&app, &t).await.1, TokenSource::Cache);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        token(&app, &t).await,
        (format!("at-{t}-2"), TokenSource::IdentityProvider)
    );
}
