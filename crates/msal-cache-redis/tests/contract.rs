//! The shared stores' contract (msal_test_support::store_contract) on a
//! single Redis (REDIS_URL) and on the local Redis Cluster
//! (REDIS_CLUSTER_NODES, started by scripts/test-servers.sh).

mod common;

use common::*;
use msal::http::BoxFuture;
use msal::storage::MemoryStore;
use msal_cache_redis::{EncryptionKey, Invalidation, RedisStore, RedisStoreBuilder};
use msal_test_support::store_contract::{Backend, Setup};

fn configure(builder: RedisStoreBuilder, setup: &Setup) -> RedisStore {
    let mut builder = builder
        .clock(setup.clock.clone())
        .invalidation(if setup.invalidation {
            Invalidation::Auto
        } else {
            Invalidation::Off
        });
    if setup.l1 {
        builder = builder.l1(setup.memory_store());
    }
    if let Some(key) = setup.encryption_key {
        builder = builder.encryption_key(EncryptionKey::from_bytes(key));
    }
    builder.build().unwrap()
}

fn status(store: &RedisStore) -> Option<(bool, u64)> {
    store.invalidation_status().map(|s| (s.connected, s.lost))
}

fn name_of(store: &RedisStore) -> String {
    store
        .invalidation_status()
        .expect("a store with an invalidation listener")
        .connection_name
}

struct SingleRedis;

impl Backend for SingleRedis {
    type Store = RedisStore;
    type Namespace = Prefix;

    fn namespace(&self) -> BoxFuture<'_, Prefix> {
        Box::pin(async { Prefix::new() })
    }

    fn store(&self, ns: &Prefix, setup: &Setup) -> RedisStore {
        configure(RedisStore::builder(redis_url()).key_prefix(&ns.0), setup)
    }

    fn stored<'a>(&'a self, ns: &'a Prefix, partition: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move { get_raw(&format!("{}{partition}", ns.0)).await })
    }

    fn put_stored<'a>(
        &'a self,
        ns: &'a Prefix,
        partition: &'a str,
        value: &'a [u8],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            redis::cmd("SET")
                .arg(format!("{}{partition}", ns.0))
                .arg(value)
                .query_async::<()>(&mut raw().await)
                .await
                .unwrap();
        })
    }

    fn l1(store: &RedisStore) -> Option<MemoryStore> {
        store.l1().cloned()
    }

    fn invalidation(store: &RedisStore) -> Option<(bool, u64)> {
        status(store)
    }

    fn cut_invalidation<'a>(&'a self, store: &'a RedisStore) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let killed = kill_named_connections(&[redis_url()], &name_of(store)).await;
            assert!(
                killed >= 1,
                "the listener's connection was found and killed"
            );
        })
    }
}

struct ClusterRedis;

impl Backend for ClusterRedis {
    type Store = RedisStore;
    type Namespace = ClusterPrefix;

    fn namespace(&self) -> BoxFuture<'_, ClusterPrefix> {
        Box::pin(async { ClusterPrefix::new() })
    }

    fn store(&self, ns: &ClusterPrefix, setup: &Setup) -> RedisStore {
        configure(
            RedisStore::cluster(cluster_nodes()).key_prefix(&ns.0),
            setup,
        )
    }

    fn stored<'a>(
        &'a self,
        ns: &'a ClusterPrefix,
        partition: &'a str,
    ) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            redis::cmd("GET")
                .arg(cluster_key(&ns.0, partition))
                .query_async(&mut raw_cluster().await)
                .await
                .unwrap()
        })
    }

    fn put_stored<'a>(
        &'a self,
        ns: &'a ClusterPrefix,
        partition: &'a str,
        value: &'a [u8],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            redis::cmd("SET")
                .arg(cluster_key(&ns.0, partition))
                .arg(value)
                .query_async::<()>(&mut raw_cluster().await)
                .await
                .unwrap();
        })
    }

    fn l1(store: &RedisStore) -> Option<MemoryStore> {
        store.l1().cloned()
    }

    fn invalidation(store: &RedisStore) -> Option<(bool, u64)> {
        status(store)
    }

    fn cut_invalidation<'a>(&'a self, store: &'a RedisStore) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let killed = kill_named_connections(&cluster_nodes(), &name_of(store)).await;
            // Killing one of its tracking connections (one per master) ends
            // the listener's session; it closes the others itself.
            assert!(
                killed >= 1,
                "the listener's connections were found and killed"
            );
        })
    }
}

mod single {
    use super::*;
    msal_test_support::store_contract_tests!(SingleRedis);
}

mod cluster {
    use super::*;
    msal_test_support::store_contract_tests!(ClusterRedis);
}
