//! The default cache of a confidential client: its partitions kept parsed in
//! memory, so that a hit reads an index and parses nothing.
//!
//! Bounded in bytes like [`MemoryStore`](crate::storage::MemoryStore) (each
//! partition weighs its serialized size), by quick_cache, whose reads cost a
//! hash probe under a shard's read lock and a flag: moka's per-read
//! bookkeeping (access-order deques, read buffers) was most of a hit's time.
//! Whether a partition still holds anything usable is decided by msal's
//! [`Clock`]: a partition past its `expires_at` reads as empty and is dropped
//! when it is next read or written; until then it only weighs on the bound,
//! and eviction for space takes it like any other.
//!
//! A stored partition is never changed: a write copies it, changes the copy
//! and stores that in its place, so hits take no lock of their own. Writes to
//! one partition are serialized by a lock stripe held from the partition's
//! look-up to its replacement, so no write is lost between the two.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::UNIX_EPOCH;

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use super::cache_io::{Partition, suggested_expiry};
use crate::cache::TokenCache;
use crate::clock::Clock;
use crate::error::Result;

/// `expires_at` of a partition that holds a refresh token: never.
const NEVER: i64 = i64::MAX;
const STRIPES: usize = 256;
/// A guess of the partitions a cache holds, to size its tables at first.
const ESTIMATED_PARTITIONS: usize = 4096;

/// What a missing or expired partition reads as.
static EMPTY: LazyLock<TokenCache> = LazyLock::new(TokenCache::new);

struct Part {
    cache: TokenCache,
    /// Unix seconds (msal's clock) after which it holds nothing usable; [`NEVER`].
    expires_at: i64,
    /// Its serialized size plus its key's, for the bound.
    weight: u64,
}

#[derive(Clone)]
struct ByWeight;

impl Weighter<String, Arc<Part>> for ByWeight {
    fn weight(&self, _: &String, part: &Arc<Part>) -> u64 {
        part.weight
    }
}

type Map = Cache<String, Arc<Part>, ByWeight, foldhash::fast::RandomState>;

/// The parsed partitions of one confidential client.
pub(super) struct Partitions {
    /// App tokens and user partitions apart, as the hooks' `is_app_cache`.
    app: Map,
    user: Map,
    stripes: Box<[Mutex<()>]>,
    clock: Arc<dyn Clock>,
}

fn build(max_bytes: u64) -> Map {
    Cache::with(
        ESTIMATED_PARTITIONS,
        max_bytes.max(1),
        ByWeight,
        foldhash::fast::RandomState::default(),
        Default::default(),
    )
}

impl Partitions {
    pub(super) fn new(max_bytes: u64, clock: Arc<dyn Clock>) -> Self {
        // Each of the two maps may hold half the budget.
        let half = max_bytes / 2;
        Self {
            app: build(half),
            user: build(half),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            clock,
        }
    }

    fn map(&self, p: Partition<'_>) -> &Map {
        if p.is_app_cache {
            &self.app
        } else {
            &self.user
        }
    }

    fn usable(&self, part: &Part) -> bool {
        part.expires_at == NEVER || self.clock.unix_now() < part.expires_at
    }

    pub(super) fn read<R>(&self, p: Partition<'_>, op: impl FnOnce(&TokenCache) -> R) -> R {
        let key = p.key.unwrap_or("");
        let map = self.map(p);
        match map.get(key) {
            Some(part) if self.usable(&part) => op(&part.cache),
            Some(_) => {
                map.remove(key);
                op(&EMPTY)
            }
            None => op(&EMPTY),
        }
    }

    pub(super) async fn access<R>(
        &self,
        p: Partition<'_>,
        op: impl FnOnce(&mut TokenCache) -> Result<R>,
    ) -> Result<R> {
        let key = p.key.unwrap_or("");
        let map = self.map(p);
        let stripe = &self.stripes[stripe_of(key, p.is_app_cache)];
        let _held = stripe.lock().unwrap_or_else(|e| e.into_inner());
        let mut cache = match map.get(key) {
            Some(part) if self.usable(&part) => part.cache.clone(),
            _ => TokenCache::new(),
        };
        cache.mark_unchanged();
        let result = op(&mut cache);
        if !cache.has_state_changed() {
            return result;
        }
        cache.mark_unchanged();
        let expires_at = match suggested_expiry(&cache) {
            None => NEVER,
            Some(at) => at
                .duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(NEVER))
                .unwrap_or(0),
        };
        if expires_at != NEVER && expires_at <= self.clock.unix_now() {
            // Nothing usable left (an emptied partition, expired tokens).
            map.remove(key);
            return result;
        }
        let weight = u64::try_from(cache.serialize().len().saturating_add(key.len()))
            .unwrap_or(u64::MAX)
            .max(1);
        map.insert(
            key.to_owned(),
            Arc::new(Part {
                cache,
                expires_at,
                weight,
            }),
        );
        result
    }
}

fn stripe_of(key: &str, app: bool) -> usize {
    use std::hash::BuildHasher;
    let h = foldhash::fast::FixedState::with_seed(0x6d73_616c).hash_one((key, app));
    // The remainder is < STRIPES, so it fits in usize.
    usize::try_from(h % STRIPES as u64).unwrap_or(0)
}
