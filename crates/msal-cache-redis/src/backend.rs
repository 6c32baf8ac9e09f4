//! The L2 half: plain GET/SET/DEL of bytes on Redis.

use std::time::{Duration, SystemTime};

use msal::http::BoxFuture;
use msal::storage::{StorageError, StorageErrorKind};
use msal_cache_common::{RemoteBackend, Stored};
use redis::aio::ConnectionManager;

/// Redis as a [`RemoteBackend`]: one string key per partition, with the
/// partition's remaining lifetime as the key's TTL.
#[derive(Clone)]
pub(crate) struct RedisBackend {
    pub(crate) manager: ConnectionManager,
    pub(crate) prefix: String,
    pub(crate) default_ttl: Option<Duration>,
}

/// Maps a Redis error to a storage error. The message is Redis' own, which
/// names neither keys nor values.
fn storage_error(e: redis::RedisError) -> StorageError {
    let kind = if is_wrong_type(&e) {
        // Something else owns this key: a data problem, not an outage.
        StorageErrorKind::Corrupt
    } else if e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.kind() == redis::ErrorKind::AuthenticationFailed
        || e.code()
            .is_some_and(|code| UNAVAILABLE_CODES.contains(&code))
    {
        StorageErrorKind::Unavailable
    } else {
        StorageErrorKind::Other
    };
    StorageError::new(kind, format!("redis: {e}")).with_source(e)
}

/// Server replies that mean "this Redis cannot serve you now" (out of
/// memory, a read-only replica, loading, busy script, failover, no auth).
const UNAVAILABLE_CODES: &[&str] = &[
    "OOM",
    "READONLY",
    "LOADING",
    "BUSY",
    "MASTERDOWN",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "NOAUTH",
    "WRONGPASS",
    "NOPERM",
];

/// Whether Redis said WRONGTYPE, alone or inside a pipeline's errors.
fn is_wrong_type(e: &redis::RedisError) -> bool {
    e.code() == Some("WRONGTYPE")
        || e.clone()
            .into_server_errors()
            .is_some_and(|items| items.iter().any(|(_, err)| err.code() == "WRONGTYPE"))
}

/// Milliseconds from `now` to `at`, at least 1 (Redis rejects `PX 0`).
fn millis_until(at: SystemTime, now: SystemTime) -> u64 {
    let left = at.duration_since(now).unwrap_or_default();
    u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisBackend {
    pub(crate) fn key(&self, partition: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + partition.len());
        key.push_str(&self.prefix);
        key.push_str(partition);
        key
    }
}

impl RemoteBackend for RedisBackend {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn get(
        &self,
        partition: &str,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<Option<Stored>, StorageError>> {
        let key = self.key(partition);
        let mut conn = self.manager.clone();
        Box::pin(async move {
            // One round trip, atomically: the value and what is left of its TTL.
            let (value, pttl): (Option<Vec<u8>>, i64) = redis::pipe()
                .atomic()
                .get(&key)
                .pttl(&key)
                .query_async(&mut conn)
                .await
                .map_err(storage_error)?;
            let Some(value) = value else { return Ok(None) };
            let expires_at = match pttl {
                -1 => None,
                ms if ms >= 0 => Some(now + Duration::from_millis(ms as u64)),
                _ => return Ok(None), // -2: gone between the two commands (cannot happen in MULTI)
            };
            Ok(Some(Stored { value, expires_at }))
        })
    }

    fn put(
        &self,
        partition: &str,
        value: Vec<u8>,
        expires_at: Option<SystemTime>,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        let key = self.key(partition);
        let mut conn = self.manager.clone();
        let ttl_ms = match expires_at {
            Some(at) => Some(millis_until(at, now)),
            None => self
                .default_ttl
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)),
        };
        Box::pin(async move {
            let mut cmd = redis::cmd("SET");
            cmd.arg(&key).arg(value);
            if let Some(ms) = ttl_ms {
                cmd.arg("PX").arg(ms);
            }
            cmd.query_async::<()>(&mut conn)
                .await
                .map_err(storage_error)
        })
    }

    fn delete(&self, partition: &str) -> BoxFuture<'_, Result<(), StorageError>> {
        let key = self.key(partition);
        let mut conn = self.manager.clone();
        Box::pin(async move {
            redis::cmd("DEL")
                .arg(&key)
                .query_async::<()>(&mut conn)
                .await
                .map_err(storage_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_are_whole_positive_milliseconds() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(millis_until(now + Duration::from_millis(1500), now), 1500);
        assert_eq!(millis_until(now + Duration::from_micros(10), now), 1);
        assert_eq!(millis_until(now - Duration::from_secs(1), now), 1);
    }
}
