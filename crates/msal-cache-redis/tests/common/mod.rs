//! Helpers for tests on the machine's real Redis (REDIS_URL).
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use msal::ConfidentialClientApplication;
use msal::clock::ManualClock;
use msal::credentials::ClientCredential;
use msal::secret::ClientSecret;
use msal::storage::{CacheStore, MemoryStore, StoreAccess};
use msal_cache_redis::{RedisStore, RedisStoreBuilder};
use msal_test_support::{Expect, FakeHttp, Reply};

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// `host:port` of REDIS_URL, for a TCP proxy in front of it.
pub fn redis_addr() -> String {
    let url = url::Url::parse(&redis_url()).expect("REDIS_URL is a URL");
    format!(
        "{}:{}",
        url.host_str().expect("REDIS_URL has a host"),
        url.port().unwrap_or(6379)
    )
}

/// A unique key prefix whose keys are deleted when dropped (also on panic).
pub struct Prefix(pub String);

impl Prefix {
    pub fn new() -> Self {
        Self(format!("msal-test:{}:", uuid::Uuid::new_v4()))
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

/// A direct connection for checking what is really in Redis.
pub async fn raw() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("Redis must run at {} for these tests: {e}", redis_url()))
}

pub async fn get_raw(key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut raw().await)
        .await
        .unwrap()
}

pub async fn pttl(key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut raw().await)
        .await
        .unwrap()
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_unix(1_700_000_000))
}

pub fn l1(clock: &Arc<ManualClock>) -> MemoryStore {
    MemoryStore::builder().clock(clock.clone()).build()
}

/// A builder on the real Redis with `prefix` and the manual clock.
pub fn builder(prefix: &Prefix, clock: &Arc<ManualClock>) -> RedisStoreBuilder {
    RedisStore::builder(redis_url())
        .key_prefix(&prefix.0)
        .clock(clock.clone())
        .retry_interval(Duration::from_secs(5))
}

// ---------- a confidential client on the store, with a scripted identity provider ----------

pub const CLIENT_ID: &str = "00000000-0000-0000-0000-0000000ca5e5";
pub const HOST: &str = "https://login.microsoftonline.com";
pub const GRAPH: &str = "https://graph.microsoft.com/.default";

/// A tenant id no other test in this process uses (authority metadata is
/// cached process-wide).
pub fn unique_tenant() -> String {
    format!(
        "7e4a0000-0000-4000-8000-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// Queues the two requests of a first client-credentials call for `tenant`:
/// its metadata, then a token request answered with `access_token`, valid
/// for an hour.
pub fn expect_client_credentials(idp: &FakeHttp, tenant: &str, access_token: &str) {
    idp.expect(
        Expect::get(&format!("{HOST}/{tenant}/v2.0/.well-known/openid-configuration")),
        Reply::json(
            200,
            &format!(
                r#"{{"issuer":"{HOST}/{tenant}/v2.0","authorization_endpoint":"{HOST}/{tenant}/oauth2/v2.0/authorize","token_endpoint":"{HOST}/{tenant}/oauth2/v2.0/token"}}"#
            ),
        ),
    );
    expect_token(idp, tenant, access_token);
}

/// Queues one client-credentials token request for `tenant`.
pub fn expect_token(idp: &FakeHttp, tenant: &str, access_token: &str) {
    idp.expect(
        Expect::post(&format!("{HOST}/{tenant}/oauth2/v2.0/token"))
            .form("grant_type", "client_credentials"),
        Reply::json(
            200,
            &format!(
                r#"{{"token_type":"Bearer","expires_in":3600,"ext_expires_in":3600,"access_token":"{access_token}"}}"#
            ),
        ),
    );
}

/// A confidential client of `tenant` whose token cache is `store`.
pub fn confidential_app<S: CacheStore>(
    store: S,
    idp: &Arc<FakeHttp>,
    clock: &Arc<ManualClock>,
    tenant: &str,
) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(
        CLIENT_ID,
        ClientCredential::secret(ClientSecret::new("the-client-secret")),
    )
    .authority(format!("{HOST}/{tenant}"))
    .http_client(idp.clone())
    .clock(clock.clone())
    .cache_access(Arc::new(StoreAccess::new(store)))
    .build()
    .unwrap()
}
