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

// ---------- the local Redis Cluster (scripts/test-servers.sh starts it) ----------

/// The cluster's nodes: REDIS_CLUSTER_NODES, or the six that
/// `scripts/test-servers.sh` starts on 127.0.0.1:7100-7105.
pub fn cluster_nodes() -> Vec<String> {
    let nodes = std::env::var("REDIS_CLUSTER_NODES").unwrap_or_else(|_| {
        (7100..=7105)
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",")
    });
    nodes
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn cluster_down(e: impl std::fmt::Display) -> ! {
    panic!(
        "the Redis Cluster must run at {:?} for these tests (bash scripts/test-servers.sh start): {e}",
        cluster_nodes()
    )
}

/// A cluster connection for checking what is really stored.
pub async fn raw_cluster() -> redis::cluster_async::ClusterConnection {
    redis::cluster::ClusterClient::new(cluster_nodes())
        .unwrap_or_else(|e| cluster_down(e))
        .get_async_connection()
        .await
        .unwrap_or_else(|e| cluster_down(e))
}

/// A direct connection to one node of the cluster.
pub async fn node(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| cluster_down(e))
}

/// The key of `partition` on a cluster store with `prefix`.
pub fn cluster_key(prefix: &str, partition: &str) -> String {
    format!("{prefix}{{{partition}}}")
}

/// A unique key prefix on the cluster whose keys are deleted when dropped.
pub struct ClusterPrefix(pub String);

impl ClusterPrefix {
    pub fn new() -> Self {
        Self(format!("msal-test:{}:", uuid::Uuid::new_v4()))
    }
}

impl Drop for ClusterPrefix {
    fn drop(&mut self) {
        let pattern = format!("{}*", self.0);
        for url in cluster_nodes() {
            let Ok(mut conn) = redis::Client::open(url.as_str()).and_then(|c| c.get_connection())
            else {
                continue;
            };
            let role: redis::RedisResult<Vec<redis::Value>> = redis::cmd("ROLE").query(&mut conn);
            let is_master =
                matches!(role.as_deref(), Ok([redis::Value::BulkString(r), ..]) if r == b"master");
            if !is_master {
                continue;
            }
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(&pattern)
                .query(&mut conn)
                .unwrap_or_default();
            for key in keys {
                // One key per command: keys of one node may still span slots.
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(key).query(&mut conn);
            }
        }
    }
}

/// Kills (`CLIENT KILL ID`) every connection named `name` on the servers
/// at `urls`; returns how many.
pub async fn kill_named_connections(urls: &[String], name: &str) -> usize {
    let mut killed = 0;
    for url in urls {
        let mut conn = node(url).await;
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut conn)
            .await
            .unwrap();
        for line in list.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            if !fields.contains(&format!("name={name}").as_str()) {
                continue;
            }
            let Some(id) = fields.iter().find_map(|f| f.strip_prefix("id=")) else {
                continue;
            };
            let n: i64 = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("ID")
                .arg(id)
                .query_async(&mut conn)
                .await
                .unwrap_or(0);
            killed += usize::try_from(n).unwrap_or(0);
        }
    }
    killed
}

/// The hash slot of `key` (CRC16/XMODEM of its hash tag, or of the whole
/// key, modulo 16384), as Redis Cluster computes it.
pub fn slot_of(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = bytes
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &bytes[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then_some(&rest[..close])
        })
        .unwrap_or(bytes);
    let mut crc: u16 = 0;
    for &b in hashed {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone)]
pub struct ClusterNode {
    pub id: String,
    pub port: u16,
    pub master: bool,
    pub failed: bool,
    pub slots: Vec<(u16, u16)>,
}

impl ClusterNode {
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn owns(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| (a..=b).contains(&slot))
    }
}

/// The cluster as the first node that answers sees it.
pub async fn cluster_view() -> Vec<ClusterNode> {
    for url in cluster_nodes() {
        let Ok(client) = redis::Client::open(url.as_str()) else {
            continue;
        };
        let Ok(Ok(mut conn)) = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            client.get_multiplexed_async_connection(),
        )
        .await
        else {
            continue;
        };
        let Ok(text) = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async::<String>(&mut conn)
            .await
        else {
            continue;
        };
        return text
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split(' ').collect();
                let port = f
                    .get(1)?
                    .split('@')
                    .next()?
                    .rsplit(':')
                    .next()?
                    .parse()
                    .ok()?;
                let flags = f.get(2)?;
                let slots = f
                    .iter()
                    .skip(8)
                    .filter(|s| !s.starts_with('['))
                    .filter_map(|s| match s.split_once('-') {
                        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                        None => s.parse().ok().map(|n| (n, n)),
                    })
                    .collect();
                Some(ClusterNode {
                    id: f.first()?.to_string(),
                    port,
                    master: flags.contains("master"),
                    failed: flags.contains("fail"),
                    slots,
                })
            })
            .collect();
    }
    cluster_down("no node answered CLUSTER NODES")
}

/// Waits (at most 30 s) until every live node reports `cluster_state:ok`,
/// every slot has a live master, and every replica has synced.
pub async fn wait_cluster_ok() {
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(30) {
        let view = cluster_view().await;
        let mut ok = view
            .iter()
            .filter(|n| n.master && !n.failed)
            .map(|n| {
                n.slots
                    .iter()
                    .map(|(a, b)| u32::from(*b) - u32::from(*a) + 1)
                    .sum::<u32>()
            })
            .sum::<u32>()
            == 16384;
        for n in view.iter().filter(|n| !n.failed) {
            let Ok(client) = redis::Client::open(n.url()) else {
                ok = false;
                continue;
            };
            let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
                ok = false;
                continue;
            };
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            let repl: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            if !info.contains("cluster_state:ok")
                || (repl.contains("role:slave") && !repl.contains("master_link_status:up"))
            {
                ok = false;
            }
        }
        if ok {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the Redis Cluster did not become healthy within 30 s");
}
