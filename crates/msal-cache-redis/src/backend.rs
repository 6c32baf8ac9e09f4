//! The L2 half: plain GET/SET/DEL of bytes on Redis.

use std::time::{Duration, SystemTime};

use msal::http::BoxFuture;
use msal::storage::{StorageError, StorageErrorKind};
use msal_cache_common::time::{clamp_ttl, saturating_add};
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
/// names neither keys nor values (nor the password).
pub(crate) fn storage_error(e: redis::RedisError) -> StorageError {
    if is_auth_refusal(&e) {
        // Wrong or missing credentials, or an ACL user without the rights
        // this store needs: a configuration error that waiting will not
        // fix, so it is the caller's (not ridden out as an outage).
        let message = format!(
            "redis refused this store's credentials or permissions (check the user, password and ACL: GET, SET, PTTL, DEL, MULTI, EXEC on the key prefix): {e}"
        );
        return StorageError::new(StorageErrorKind::Other, message).with_source(e);
    }
    let kind = if is_wrong_type(&e) {
        // Something else is under this key: an unreadable value.
        StorageErrorKind::Corrupt
    } else if e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
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
/// memory, a read-only replica, loading, busy script, failover).
const UNAVAILABLE_CODES: &[&str] = &[
    "OOM",
    "READONLY",
    "LOADING",
    "BUSY",
    "MASTERDOWN",
    "TRYAGAIN",
    "CLUSTERDOWN",
];

/// Server replies that refuse this client's identity or rights.
const AUTH_CODES: &[&str] = &["NOAUTH", "WRONGPASS", "NOPERM"];

/// Whether Redis refused the credentials (at connection time, which the
/// redis crate reports as `AuthenticationFailed`) or the ACL permissions,
/// alone or inside a pipeline's errors.
fn is_auth_refusal(e: &redis::RedisError) -> bool {
    e.kind() == redis::ErrorKind::AuthenticationFailed
        || e.code().is_some_and(|code| AUTH_CODES.contains(&code))
        || e.clone().into_server_errors().is_some_and(|items| {
            items
                .iter()
                .any(|(_, err)| AUTH_CODES.contains(&err.code()))
        })
}

/// Whether Redis said WRONGTYPE, alone or inside a pipeline's errors.
fn is_wrong_type(e: &redis::RedisError) -> bool {
    e.code() == Some("WRONGTYPE")
        || e.clone()
            .into_server_errors()
            .is_some_and(|items| items.iter().any(|(_, err)| err.code() == "WRONGTYPE"))
}

/// Whole milliseconds of `ttl` for `PX`: at least 1 (Redis rejects `PX 0`)
/// and at most [`MAX_TTL`](msal_cache_common::MAX_TTL) (Redis rejects an
/// expiry past `i64` milliseconds, which would fail every save).
fn px(ttl: Duration) -> u64 {
    u64::try_from(clamp_ttl(ttl).as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Milliseconds from `now` to `at`, for `PX`.
fn millis_until(at: SystemTime, now: SystemTime) -> u64 {
    px(at.duration_since(now).unwrap_or_default())
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
                ms if ms >= 0 => Some(saturating_add(
                    now,
                    Duration::from_millis(ms.unsigned_abs()),
                )),
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
            None => self.default_ttl.map(px),
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

    #[test]
    fn huge_ttls_are_capped_at_ten_years() {
        let ten_years_ms = 10 * 365 * 24 * 3600 * 1000;
        assert_eq!(px(Duration::MAX), ten_years_ms);
        assert_eq!(px(Duration::from_secs(30)), 30_000);
        assert_eq!(px(Duration::ZERO), 1);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let far = msal_cache_common::time::saturating_add(now, Duration::MAX);
        assert_eq!(millis_until(far, now), ten_years_ms);
    }

    #[test]
    fn credential_and_permission_refusals_are_not_outages() {
        let auth = redis::RedisError::from((
            redis::ErrorKind::AuthenticationFailed,
            "Password authentication failed",
        ));
        let mut errors = vec![auth];
        for code in ["WRONGPASS", "NOPERM", "NOAUTH"] {
            errors.push(redis::make_extension_error(code.to_owned(), None));
        }
        for e in errors {
            let mapped = storage_error(e);
            assert_eq!(mapped.kind, StorageErrorKind::Other, "{mapped}");
            assert!(mapped.message.contains("credentials"), "{mapped}");
        }
        for code in ["LOADING", "OOM", "READONLY"] {
            let mapped = storage_error(redis::make_extension_error(code.to_owned(), None));
            assert_eq!(mapped.kind, StorageErrorKind::Unavailable, "{code}");
        }
    }
}
