//! The token cache of the App Service and Service Fabric identity endpoints,
//! and their token revocation: like the real ones, they answer from a cache
//! of their own, and a request whose `token_sha256_to_refresh` is the
//! SHA-256 (lower-case hex) of the cached token replaces it (a resource
//! rejected it with a claims challenge). Every request is recorded with the
//! hash and the client capabilities (`xms_cc`) it carried.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::wire::mint;
use super::{Host, Identity};
use crate::Admin;
use crate::state::EmulatorState;

/// A cached token is served while it has this long left.
const MIN_LEFT_SECS: u64 = 300;

/// A request to the App Service or Service Fabric identity endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostTokenRequest {
    /// Which host answered.
    pub host: Host,
    /// The resource asked for.
    pub resource: String,
    /// The identity's client id.
    pub client_id: String,
    /// `token_sha256_to_refresh`, as sent.
    pub token_sha256_to_refresh: Option<String>,
    /// `xms_cc`, as sent (comma-separated capabilities).
    pub xms_cc: Option<String>,
    /// True when a new token was issued in place of the cached one the hash
    /// named (a revocation).
    pub replaced: bool,
    /// True when the hash named no cached token (the cached one was served).
    pub hash_mismatch: bool,
}

/// The cached tokens (client id, resource) → (token, expiry) and the log.
#[derive(Debug, Default)]
pub(crate) struct HostCache {
    tokens: HashMap<(String, String), (String, u64)>,
    log: Vec<HostTokenRequest>,
}

/// At most this many requests are kept in the log.
const MAX_LOG: usize = 1024;

/// Lower-case hex SHA-256 of `token`.
pub(crate) fn token_sha256(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The token for `id` and `resource` on `host`: the cached one, or a new one
/// when none is cached or `hash` names the cached one. `None` when signing fails.
pub(super) fn host_token(
    state: &EmulatorState,
    host: Host,
    id: Identity,
    resource: &str,
    hash: Option<&str>,
    xms_cc: Option<&str>,
) -> Option<(String, u64)> {
    let now = state.now();
    let key = (id.client_id.to_owned(), resource.to_owned());
    let cached = state
        .store()
        .host_cache
        .tokens
        .get(&key)
        .filter(|(_, exp)| *exp > now.saturating_add(MIN_LEFT_SECS))
        .cloned();
    let named = |t: &str| hash.is_some_and(|h| h.eq_ignore_ascii_case(&token_sha256(t)));
    let (answer, replaced, mismatch) = match cached {
        Some((t, exp)) if !named(&t) => ((t, exp), false, hash.is_some()),
        other => {
            let (t, _, exp) = mint(state, id, resource)?;
            let replaced = other.is_some();
            ((t, exp), replaced, false)
        }
    };
    let mut store = state.store();
    let hc = &mut store.host_cache;
    hc.tokens.insert(key, answer.clone());
    if hc.log.len() >= MAX_LOG {
        hc.log.remove(0);
    }
    hc.log.push(HostTokenRequest {
        host,
        resource: resource.to_owned(),
        client_id: id.client_id.to_owned(),
        token_sha256_to_refresh: hash.map(ToOwned::to_owned),
        xms_cc: xms_cc.map(ToOwned::to_owned),
        replaced,
        hash_mismatch: mismatch,
    });
    Some(answer)
}

impl Admin {
    /// The requests the App Service and Service Fabric identity endpoints
    /// answered, oldest first (the last 1024), with the revocation
    /// parameters they carried.
    pub fn host_token_requests(&self) -> Vec<HostTokenRequest> {
        self.0.store().host_cache.log.clone()
    }

    /// Empties the App Service and Service Fabric endpoints' token cache (a
    /// host restart): the next request to each gets a new token.
    pub fn clear_host_token_cache(&self) {
        self.0.store().host_cache.tokens.clear();
    }
}
