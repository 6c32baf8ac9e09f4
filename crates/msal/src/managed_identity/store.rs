//! Where managed-identity tokens are cached.
//!
//! Entries are keyed as MSAL Python keys them (spec §7.1 and
//! `msal/managed_identity.py`): `client_id` = the identity's cache id
//! ([`ManagedIdentity::cache_client_id`](super::ManagedIdentity::cache_client_id)),
//! `environment` = `localhost`, `realm` = `managed_identity`,
//! `target` = the resource, `home_account_id` = none.

use std::collections::HashMap;

use crate::secret::AccessTokenSecret;

/// The `environment` MSAL Python stores managed-identity tokens under.
pub const CACHE_ENVIRONMENT: &str = "localhost";
/// The `realm` MSAL Python stores managed-identity tokens under.
pub const CACHE_REALM: &str = "managed_identity";

/// A cached token.
#[derive(Clone)]
pub(crate) struct Cached {
    pub(crate) secret: AccessTokenSecret,
    pub(crate) token_type: String,
    pub(crate) expires_on: i64,
    pub(crate) refresh_on: Option<i64>,
}

/// The app-token entries of one application.
#[derive(Default)]
pub(crate) struct Store {
    entries: HashMap<(String, String), Cached>,
}

fn key(client_id: &str, resource: &str) -> (String, String) {
    // Targets compare case-insensitively, as scopes do in every MSAL.
    (client_id.to_owned(), resource.to_ascii_lowercase())
}

impl Store {
    /// The unexpired token of `client_id` for `resource`, if any.
    pub(crate) fn find(&self, client_id: &str, resource: &str, now: i64) -> Option<Cached> {
        self.entries
            .get(&key(client_id, resource))
            .filter(|c| c.expires_on > now)
            .cloned()
    }

    /// Stores a token, replacing the previous one for the same key.
    pub(crate) fn add(&mut self, client_id: &str, resource: &str, token: Cached) {
        self.entries.insert(key(client_id, resource), token);
    }
}
