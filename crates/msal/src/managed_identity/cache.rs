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
//! The cache itself is the engine's ([`crate::engine::CacheIo`]), with the
//! hooks' partition key
//! [`ManagedIdentity::cache_partition_key`](super::ManagedIdentity::cache_partition_key)
//! (spec §7.3) and its rules on failed reads.

// Items here are crate-internal unless the `test-internals` feature
// exposes them to msal's own tests.
#![cfg_attr(not(feature = "test-internals"), allow(unreachable_pub))]

use std::sync::Arc;

use crate::cache::{
    AccessTokenQuery, AuthorityType, SharedToken, TokenCache, TokenResponse, TokenResponseRecord,
};
use crate::error::Error;

use super::response::ParsedToken;

/// The `environment` MSAL Python stores managed-identity tokens under.
pub const CACHE_ENVIRONMENT: &str = "localhost";
/// The `realm` MSAL Python stores managed-identity tokens under.
pub const CACHE_REALM: &str = "managed_identity";

/// The unexpired token of identity `client_id` for `resource` with the
/// latest expiry, if any.
pub(crate) fn find(
    cache: &TokenCache,
    client_id: &str,
    resource: &str,
    now: i64,
) -> Option<Arc<SharedToken>> {
    let query = AccessTokenQuery {
        client_id,
        home_account_id: None,
        environments: &[CACHE_ENVIRONMENT],
        realms: &[CACHE_REALM],
        scopes: &[resource],
        ..AccessTokenQuery::default()
    };
    cache.find_shared_token(&query, now)
}

/// Caches `token` of identity `client_id` for `resource`, received at `now`;
/// an older token for the same resource is replaced (same key).
pub(crate) fn add(
    cache: &mut TokenCache,
    client_id: &str,
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
    cache
        .add(&TokenResponseRecord {
            client_id,
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
        })
        .map(|_| ())
}
