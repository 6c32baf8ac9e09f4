//! Managed-identity tokens in the app-token cache.
//!
//! Entries are what MSAL Python writes for a managed identity
//! (`msal/managed_identity.py`, spec §7.1): an AccessToken (and AppMetadata)
//! with `client_id` = the identity's cache id
//! ([`ManagedIdentity::cache_client_id`](super::ManagedIdentity::cache_client_id)),
//! `environment` = [`CACHE_ENVIRONMENT`], `realm` = [`CACHE_REALM`],
//! `target` = the resource and `home_account_id` null. So one identity never
//! finds another's token, and MSAL Python reads them (and we read its).
//!
//! With [`CacheAccess`] hooks, every access runs between `before_access`
//! and `after_access` on the partition
//! [`ManagedIdentity::cache_partition_key`](super::ManagedIdentity::cache_partition_key)
//! (spec §7.3), with the cache locked in between.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cache::{
    AccessTokenQuery, AuthorityType, CachedAccessToken, TokenCache, TokenResponse,
    TokenResponseRecord,
};
use crate::error::Error;
use crate::storage::{CacheAccess, CacheAccessArgs};

use super::ManagedIdentity;
use super::response::ParsedToken;

/// The `environment` MSAL Python stores managed-identity tokens under.
pub const CACHE_ENVIRONMENT: &str = "localhost";
/// The `realm` MSAL Python stores managed-identity tokens under.
pub const CACHE_REALM: &str = "managed_identity";

/// The cache of one application, and the hooks around it.
pub(crate) struct Store {
    /// An async lock: it is held across the hooks, which may await I/O.
    cache: tokio::sync::Mutex<TokenCache>,
    access: Option<Arc<dyn CacheAccess>>,
    client_id: String,
    partition: String,
}

impl Store {
    pub(crate) fn new(identity: &ManagedIdentity, access: Option<Arc<dyn CacheAccess>>) -> Self {
        Self {
            cache: tokio::sync::Mutex::new(TokenCache::new()),
            access,
            client_id: identity.cache_client_id().to_owned(),
            partition: identity.cache_partition_key(),
        }
    }

    /// The suggested partition key handed to the hooks.
    pub(crate) fn partition(&self) -> &str {
        &self.partition
    }

    /// The unexpired token for `resource` with the latest expiry, if any.
    pub(crate) async fn find(
        &self,
        resource: &str,
        now: i64,
    ) -> Result<Option<CachedAccessToken>, Error> {
        let environments = [CACHE_ENVIRONMENT];
        let realms = [CACHE_REALM];
        let scopes = [resource];
        let query = AccessTokenQuery {
            client_id: &self.client_id,
            home_account_id: None,
            environments: &environments,
            realms: &realms,
            scopes: &scopes,
            ..AccessTokenQuery::default()
        };
        self.access(|cache| Ok(cache.find_access_token(&query, now)))
            .await
    }

    /// Caches `token` for `resource`, received at `now`; an older token for
    /// the same resource is replaced (same key).
    pub(crate) async fn add(
        &self,
        resource: &str,
        token: &ParsedToken,
        now: i64,
    ) -> Result<(), Error> {
        let response = TokenResponse {
            access_token: Some(token.access_token.clone()),
            token_type: Some(token.token_type.clone()),
            expires_in: Some(token.expires_in),
            refresh_in: token.refresh_on.map(|r| r.saturating_sub(now)),
            ..TokenResponse::default()
        };
        let requested = [resource.to_owned()];
        let record = TokenResponseRecord {
            client_id: &self.client_id,
            environment: CACHE_ENVIRONMENT,
            realm: CACHE_REALM,
            authority_type: AuthorityType::Mssts,
            requested_scopes: &requested,
            response: &response,
            account_source: None,
            username_hint: None,
            user_assertion_hash: None,
            refresh_token_to_rotate: None,
            now,
        };
        self.access(|cache| cache.add(&record).map(|_| ())).await
    }

    /// Runs `op` on the cache between the hooks, the cache locked throughout.
    ///
    /// `before_access` may replace the cache with the stored document (a
    /// document that does not parse fails the call and nothing is written);
    /// `after_access` is always called, with the new document when `op`
    /// changed the cache. A failing `after_access` fails the call and leaves
    /// the change flagged, so the next access saves it.
    async fn access<R>(
        &self,
        op: impl FnOnce(&mut TokenCache) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let mut cache = self.cache.lock().await;
        let Some(access) = &self.access else {
            return op(&mut cache);
        };
        let args = CacheAccessArgs::new(Some(&self.partition), true);
        let loaded = match access.before_access(args).await {
            Ok(Some(doc)) => TokenCache::deserialize_owned(doc)
                .map(|c| *cache = c)
                .map_err(Error::from),
            Ok(None) => Ok(()),
            Err(e) => Err(Error::from(e)),
        };
        let result = loaded.and_then(|()| op(&mut cache));
        let changed = cache.has_state_changed();
        let document = changed.then(|| cache.serialize());
        let expiry = (!cache.has_refresh_tokens())
            .then(|| cache.latest_access_token_expiry())
            .flatten()
            .and_then(|s| u64::try_from(s).ok())
            .map(|s| UNIX_EPOCH + Duration::from_secs(s));
        let after: Option<SystemTime> = expiry;
        access
            .after_access(args.after(changed, after), document.as_deref())
            .await?;
        if changed {
            cache.mark_unchanged();
        }
        result
    }
}
