//! The default cache of a confidential client: its partitions kept parsed in
//! memory, so that a hit reads an index and parses nothing.
//!
//! Bounded like [`MemoryStore`](crate::storage::MemoryStore), with the same
//! two clocks: moka evicts by weight (the partition's serialized size) and
//! frees expired partitions in the background by real time, while whether a
//! partition still holds anything usable is decided by msal's [`Clock`].
//!
//! A stored partition is never changed: a write copies it, changes the copy
//! and stores that in its place, so hits take no lock at all. Writes to one
//! partition are serialized by a lock stripe held from the partition's
//! look-up to its replacement, so no write is lost between the two.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use moka::Expiry;
use moka::sync::Cache;

use super::cache_io::{Partition, suggested_expiry};
use crate::cache::TokenCache;
use crate::clock::Clock;
use crate::error::Result;

/// `expires_at` of a partition that holds a refresh token: never.
const NEVER: i64 = i64::MAX;
/// Longest lifetime handed to moka (it panics beyond 1000 years).
const MAX_LIFETIME: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
const STRIPES: usize = 256;

/// What a missing or expired partition reads as.
static EMPTY: LazyLock<TokenCache> = LazyLock::new(TokenCache::new);

struct Part {
    cache: TokenCache,
    /// Unix seconds after which it holds nothing usable; [`NEVER`].
    expires_at: i64,
    /// Its serialized size, for moka's weigher.
    weight: u32,
    /// `expires_at` as a duration from the write (by msal's clock), for
    /// moka's eviction; `None`: never.
    ttl: Option<Duration>,
}

/// Feeds each partition's own lifetime to moka; a replacement starts the
/// new partition's lifetime.
struct PerPartExpiry;

impl Expiry<String, Arc<Part>> for PerPartExpiry {
    fn expire_after_create(&self, _: &String, part: &Arc<Part>, _: Instant) -> Option<Duration> {
        part.ttl
    }

    fn expire_after_update(
        &self,
        _: &String,
        part: &Arc<Part>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        part.ttl
    }
}

/// The parsed partitions of one confidential client.
pub(super) struct Partitions {
    /// App tokens and user partitions apart, as the hooks' `is_app_cache`.
    app: Cache<String, Arc<Part>>,
    user: Cache<String, Arc<Part>>,
    stripes: Box<[Mutex<()>]>,
    clock: Arc<dyn Clock>,
}

fn build(max_bytes: u64) -> Cache<String, Arc<Part>> {
    Cache::builder()
        .max_capacity(max_bytes)
        .weigher(|key: &String, part: &Arc<Part>| {
            part.weight
                .saturating_add(u32::try_from(key.len()).unwrap_or(u32::MAX))
        })
        .expire_after(PerPartExpiry)
        .build()
}

impl Partitions {
    pub(super) fn new(max_bytes: u64, clock: Arc<dyn Clock>) -> Self {
        // Each of the two maps may hold the whole budget's half.
        let half = (max_bytes / 2).max(1);
        Self {
            app: build(half),
            user: build(half),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            clock,
        }
    }

    fn map(&self, p: Partition<'_>) -> &Cache<String, Arc<Part>> {
        if p.is_app_cache {
            &self.app
        } else {
            &self.user
        }
    }

    fn usable(&self, part: &Part) -> bool {
        let at = part.expires_at;
        at == NEVER || self.clock.unix_now() < at
    }

    pub(super) fn read<R>(&self, p: Partition<'_>, op: impl FnOnce(&TokenCache) -> R) -> R {
        let key = p.key.unwrap_or("");
        match self.map(p).get(key) {
            Some(part) if self.usable(&part) => op(&part.cache),
            _ => op(&EMPTY),
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
        let part = map.get(key).filter(|part| self.usable(part));
        let mut cache = match &part {
            Some(part) => part.cache.clone(),
            None => TokenCache::new(),
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
        let now = self.clock.unix_now();
        if expires_at != NEVER && expires_at <= now {
            map.invalidate(key);
            return result;
        }
        let ttl = (expires_at != NEVER).then(|| {
            Duration::from_secs(u64::try_from(expires_at - now).unwrap_or(0)).min(MAX_LIFETIME)
        });
        let weight = u32::try_from(cache.serialize().len()).unwrap_or(u32::MAX);
        let fresh = Arc::new(Part {
            cache,
            expires_at,
            weight,
            ttl,
        });
        map.insert(key.to_owned(), fresh);
        result
    }
}

fn stripe_of(key: &str, app: bool) -> usize {
    use std::hash::BuildHasher;
    let h = foldhash::fast::FixedState::with_seed(0x6d73_616c).hash_one((key, app));
    // The remainder is < STRIPES, so it fits in usize.
    usize::try_from(h % STRIPES as u64).unwrap_or(0)
}
