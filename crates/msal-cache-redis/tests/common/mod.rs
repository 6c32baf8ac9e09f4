//! Helpers for tests on the machine's real Redis (REDIS_URL).
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use msal::clock::ManualClock;
use msal::storage::MemoryStore;
use msal_cache_redis::{RedisStore, RedisStoreBuilder};

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

#[allow(unused_imports)]
pub use msal_test_support::confidential::*;
