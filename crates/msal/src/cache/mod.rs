//! The token cache: the unified MSAL cache format, indexed in memory.
//!
//! [`TokenCache`] holds one cache document (the JSON that MSAL Python,
//! .NET, Node and Go share; spec: `cache-format.md`). What it writes is what
//! MSAL Python writes, entry for entry and byte for byte; what it reads it
//! tolerates from every MSAL. The API contract with the engine is
//! `docs/dev/cache-api.md`.
//!
//! # How it is fast on large caches
//! Loading does not decode entries: one validating pass records where each
//! entry's text lies and the few fields lookups need (as spans), and builds
//! hash indexes on them. Lookups probe those indexes, so their cost does not
//! grow with the number of accounts. Saving copies the text of every entry
//! that nobody changed, and re-formats only entries that were written in
//! another layout.
//!
//! # Example
//! Read a cache another MSAL wrote, list its accounts, write it back:
//! ```
//! use msal::cache::TokenCache;
//!
//! let text = br#"{"Account": {"uid.utid-login.microsoftonline.com-utid": {
//!     "home_account_id": "uid.utid", "environment": "login.microsoftonline.com",
//!     "realm": "utid", "local_account_id": "uid", "username": "ada@contoso.com",
//!     "authority_type": "MSSTS"}}}"#;
//! let cache = TokenCache::deserialize(text)?;
//! let accounts = cache.accounts(&[]);
//! assert_eq!(accounts[0].username(), "ada@contoso.com");
//! // What MSAL Python would write for the same cache:
//! let again = TokenCache::deserialize(&cache.serialize())?;
//! assert_eq!(again.accounts(&[]), accounts);
//! # Ok::<(), msal::Error>(())
//! ```

crate::internal_mod!(client_info);
crate::internal_mod!(ext_key);
crate::internal_mod!(keys);
crate::internal_mod!(scopes);

mod add;
mod document;
mod index;
mod json;
mod lookup;
mod model;
mod remove;
mod store;

use std::sync::atomic::{AtomicI64, Ordering};

pub use model::Account;
crate::internal_use!(model::{
    AccessTokenQuery, AppMetadata, AuthorityType, CachedAccessToken, CachedIdToken,
    CachedRefreshToken, EntryHandle, RefreshTokenQuery, TokenResponse, TokenResponseRecord,
});
pub(crate) use model::SharedToken;

use document::{Top, Unknown};
use index::{AccFields, AppFields, AtFields, IdtFields, RtFields};
use store::{Section, Seed};

/// Sentinel of `TokenCache::max_expiry`: not computed since the last change.
const EXPIRY_UNKNOWN: i64 = i64::MIN;
/// Sentinel of `TokenCache::max_expiry`: no access token.
const EXPIRY_NONE: i64 = i64::MIN + 1;

/// An in-memory token cache with indexes, in the unified MSAL format.
///
/// Not internally locked: share it behind a `Mutex`.
pub struct TokenCache {
    /// The text of the last loaded document; unchanged entries point into it.
    src: String,
    /// Top-level members in document order.
    order: Vec<Top>,
    /// Top-level members msal does not know.
    unknown: Vec<Unknown>,
    at: Section<AtFields>,
    rt: Section<RtFields>,
    idt: Section<IdtFields>,
    acc: Section<AccFields>,
    app: Section<AppFields>,
    seed: Seed,
    changed: bool,
    /// Memo of `latest_access_token_expiry` (a sentinel when unknown).
    max_expiry: AtomicI64,
    /// The answer to the first access-token query since the last change:
    /// repeated hits on one partition skip the index (see `lookup.rs`).
    hot: std::sync::OnceLock<Box<lookup::QueryMemo>>,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for TokenCache {
    fn clone(&self) -> Self {
        Self {
            src: self.src.clone(),
            order: self.order.clone(),
            unknown: self.unknown.clone(),
            at: self.at.clone(),
            rt: self.rt.clone(),
            idt: self.idt.clone(),
            acc: self.acc.clone(),
            app: self.app.clone(),
            seed: self.seed,
            changed: self.changed,
            max_expiry: AtomicI64::new(self.max_expiry.load(Ordering::Relaxed)),
            hot: self.hot.clone(),
        }
    }
}

impl std::fmt::Debug for TokenCache {
    // Counts only: entries hold tokens and account ids.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("access_tokens", &self.at.live)
            .field("refresh_tokens", &self.rt.live)
            .field("id_tokens", &self.idt.live)
            .field("accounts", &self.acc.live)
            .field("app_metadata", &self.app.live)
            .field("unknown_members", &self.unknown.len())
            .field("changed", &self.changed)
            .finish()
    }
}

impl TokenCache {
    /// An empty cache (serializes as `{}`).
    pub fn new() -> Self {
        let seed = Seed::default();
        Self {
            src: String::new(),
            order: Vec::new(),
            unknown: Vec::new(),
            at: Section::new(seed),
            rt: Section::new(seed),
            idt: Section::new(seed),
            acc: Section::new(seed),
            app: Section::new(seed),
            seed,
            changed: false,
            max_expiry: AtomicI64::new(EXPIRY_NONE),
            hot: std::sync::OnceLock::new(),
        }
    }

    /// Whether the cache changed since it was created, loaded or
    /// [`mark_unchanged`](Self::mark_unchanged) was called.
    pub fn has_state_changed(&self) -> bool {
        self.changed
    }

    /// Records that the current state has been saved.
    pub fn mark_unchanged(&mut self) {
        self.changed = false;
    }

    /// Number of live entries per section: access tokens, refresh tokens,
    /// ID tokens, accounts, app metadata (unusable entries included).
    #[cfg_attr(feature = "test-internals", visibility::make(pub))]
    pub(crate) fn entry_counts(&self) -> [usize; 5] {
        [
            self.at.live,
            self.rt.live,
            self.idt.live,
            self.acc.live,
            self.app.live,
        ]
    }

    fn touched_access_tokens(&mut self) {
        self.max_expiry.store(EXPIRY_UNKNOWN, Ordering::Relaxed);
        self.hot = std::sync::OnceLock::new();
    }
}
