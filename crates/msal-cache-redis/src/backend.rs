//! The L2 half: plain GET/SET/DEL of bytes on one Redis server or a Redis
//! Cluster.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use msal::http::BoxFuture;
use msal::storage::{StorageError, StorageErrorKind};
use msal_cache_common::time::{clamp_ttl, saturating_add};
use msal_cache_common::{RemoteBackend, Stored};
use redis::aio::ConnectionManager;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, FromRedisValue, Pipeline};

use crate::cluster::LazyCluster;

/// How partitions map to Redis keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyLayout {
    /// `<prefix><partition>` (one server).
    Plain,
    /// `<prefix>{<partition>}`: the partition is the key's hash tag, so
    /// whatever is stored for one partition lives in one hash slot of a
    /// cluster.
    Tagged,
}

/// The connection the data calls use.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(Arc<LazyCluster>),
}

/// Redis as a [`RemoteBackend`]: one string key per partition, with the
/// partition's remaining lifetime as the key's TTL.
#[derive(Clone)]
pub(crate) struct RedisBackend {
    pub(crate) conn: Conn,
    pub(crate) prefix: String,
    pub(crate) layout: KeyLayout,
    pub(crate) default_ttl: Option<Duration>,
    /// Replicas that must acknowledge each write (`WAIT`), and for how long.
    pub(crate) replicas: Option<(u32, Duration)>,
    /// Whether writes are announced on the prefix's pub/sub channel (the
    /// invalidation fallback where tracking is not available).
    pub(crate) publish: Arc<AtomicBool>,
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
        || e.is_cluster_error()
        || e.kind() == redis::ErrorKind::ClusterConnectionNotFound
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
    "MOVED",
    "ASK",
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

/// Whether Redis redirected the request (the slot moved or is moving, or
/// the cluster asks to try again), alone or inside a pipeline's errors.
fn is_redirect(e: &redis::RedisError) -> bool {
    const REDIRECTS: &[&str] = &["MOVED", "ASK", "TRYAGAIN"];
    e.code().is_some_and(|code| REDIRECTS.contains(&code))
        || e.clone()
            .into_server_errors()
            .is_some_and(|items| items.iter().any(|(_, err)| REDIRECTS.contains(&err.code())))
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
        let mut key = String::with_capacity(self.prefix.len() + partition.len() + 2);
        key.push_str(&self.prefix);
        match self.layout {
            KeyLayout::Plain => key.push_str(partition),
            KeyLayout::Tagged => {
                key.push('{');
                key.push_str(partition);
                key.push('}');
            }
        }
        key
    }

    /// What `PUBLISH` announces writes on: the key prefix itself.
    pub(crate) fn channel(&self) -> &str {
        &self.prefix
    }

    fn publishing(&self) -> bool {
        self.publish.load(Ordering::Acquire)
    }
}

/// The partition of a Redis `key` written by a store with `prefix` and
/// `layout`, if it is one.
pub(crate) fn partition_of<'k>(prefix: &str, layout: KeyLayout, key: &'k str) -> Option<&'k str> {
    let rest = key.strip_prefix(prefix)?;
    match layout {
        KeyLayout::Plain => Some(rest),
        KeyLayout::Tagged => rest.strip_prefix('{')?.strip_suffix('}'),
    }
}

/// `WAIT`'s answer: how many replicas acknowledged, checked against `wanted`.
fn check_replicas(acknowledged: i64, wanted: u32, timeout: Duration) -> Result<(), StorageError> {
    if acknowledged >= i64::from(wanted) {
        return Ok(());
    }
    Err(StorageError::new(
        StorageErrorKind::Unavailable,
        format!(
            "redis: written, but {acknowledged} of the {wanted} replicas required acknowledged it within {timeout:?}"
        ),
    ))
}

fn wait_cmd(replicas: u32, timeout: Duration) -> Cmd {
    let mut cmd = redis::cmd("WAIT");
    cmd.arg(replicas).arg(
        u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1),
    );
    cmd
}

impl Conn {
    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StorageError> {
        match self {
            Self::Single(manager) => cmd
                .query_async(&mut manager.clone())
                .await
                .map_err(storage_error),
            Self::Cluster(cluster) => cmd
                .query_async(&mut cluster.connection().await)
                .await
                .map_err(storage_error),
        }
    }

    /// Writes with `write` on `key`, then (single server, in one pipeline)
    /// waits for `replicas` and announces `partition` on `channel`. On a
    /// cluster these are separate commands: the write follows MOVED and ASK
    /// redirections, `WAIT` goes to the master of the key's slot (the node
    /// and connection that took the write), and `PUBLISH` to any node.
    async fn write(
        &self,
        key: &str,
        write: Cmd,
        replicas: Option<(u32, Duration)>,
        announce: Option<(&str, &str)>,
    ) -> Result<(), StorageError> {
        match self {
            Self::Single(manager) => {
                let mut pipe = Pipeline::new();
                pipe.add_command(write).ignore();
                if let Some((n, timeout)) = replicas {
                    pipe.add_command(wait_cmd(n, timeout));
                }
                if let Some((channel, partition)) = announce {
                    pipe.cmd("PUBLISH").arg(channel).arg(partition).ignore();
                }
                let acknowledged: Vec<i64> = pipe
                    .query_async(&mut manager.clone())
                    .await
                    .map_err(storage_error)?;
                if let Some((n, timeout)) = replicas {
                    check_replicas(acknowledged.first().copied().unwrap_or(0), n, timeout)?;
                }
                Ok(())
            }
            Self::Cluster(cluster) => {
                let mut conn = cluster.connection().await;
                write
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(storage_error)?;
                let replicated = match replicas {
                    Some((n, timeout)) => {
                        let route = Route::with_key(key.as_bytes(), SlotAddr::Master);
                        conn.route_command(
                            wait_cmd(n, timeout),
                            RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
                        )
                        .await
                        .map_err(storage_error)
                        .and_then(|value| {
                            let acknowledged = match value {
                                redis::Value::Int(n) => n,
                                _ => 0,
                            };
                            check_replicas(acknowledged, n, timeout)
                        })
                    }
                    None => Ok(()),
                };
                // Announced even when not replicated in time: the write
                // itself happened, and other L1s must drop their copies.
                if let Some((channel, partition)) = announce {
                    redis::cmd("PUBLISH")
                        .arg(channel)
                        .arg(partition)
                        .query_async::<()>(&mut conn)
                        .await
                        .map_err(storage_error)?;
                }
                replicated
            }
        }
    }
}

/// The value and the milliseconds left of its TTL (`PTTL`), at `now`.
fn stored(value: Option<Vec<u8>>, pttl: i64, now: SystemTime) -> Option<Stored> {
    let value = value?;
    let expires_at = match pttl {
        -1 => None,
        ms if ms >= 0 => Some(saturating_add(
            now,
            Duration::from_millis(ms.unsigned_abs()),
        )),
        _ => return None, // -2: gone in between
    };
    Some(Stored { value, expires_at })
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
        Box::pin(async move {
            match &self.conn {
                Conn::Single(manager) => {
                    // One round trip, atomically: the value and what is left of its TTL.
                    let (value, pttl): (Option<Vec<u8>>, i64) = redis::pipe()
                        .atomic()
                        .get(&key)
                        .pttl(&key)
                        .query_async(&mut manager.clone())
                        .await
                        .map_err(storage_error)?;
                    Ok(stored(value, pttl, now))
                }
                Conn::Cluster(cluster) => {
                    // One round trip in the common case: GET and PTTL in a
                    // (non-atomic) pipeline to the key's node. The cluster
                    // client does not follow a redirection inside a
                    // pipeline, so while the slot migrates (MOVED, ASK) the
                    // read falls back to two single-key commands, which it
                    // does follow. Not a MULTI: that cannot follow ASK at
                    // all. A replacement in between gives the old value the
                    // new TTL (and an invalidation); a delete in between
                    // (PTTL -2) is a miss.
                    let pipelined: redis::RedisResult<(Option<Vec<u8>>, i64)> = redis::pipe()
                        .get(&key)
                        .pttl(&key)
                        .query_async(&mut cluster.connection().await)
                        .await;
                    match pipelined {
                        Ok((value, pttl)) => return Ok(stored(value, pttl, now)),
                        Err(e) if !is_redirect(&e) => return Err(storage_error(e)),
                        Err(_) => {}
                    }
                    let value: Option<Vec<u8>> =
                        self.conn.query(redis::cmd("GET").arg(&key)).await?;
                    if value.is_none() {
                        return Ok(None);
                    }
                    let pttl: i64 = self.conn.query(redis::cmd("PTTL").arg(&key)).await?;
                    Ok(stored(value, pttl, now))
                }
            }
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
        let partition = partition.to_owned();
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
            let announce = self
                .publishing()
                .then_some((self.channel(), partition.as_str()));
            self.conn.write(&key, cmd, self.replicas, announce).await
        })
    }

    fn delete(&self, partition: &str) -> BoxFuture<'_, Result<(), StorageError>> {
        let key = self.key(partition);
        let partition = partition.to_owned();
        Box::pin(async move {
            let mut cmd = redis::cmd("DEL");
            cmd.arg(&key);
            let announce = self
                .publishing()
                .then_some((self.channel(), partition.as_str()));
            self.conn.write(&key, cmd, self.replicas, announce).await
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
