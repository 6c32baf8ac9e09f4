//! What a successful token acquisition returns.
//!
//! A result is cheap to build and to clone: the token is shared with the
//! cache (not copied), the scopes and the token type are shared strings, and
//! the ID token's claims are decoded only when asked for.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cache::{Account, SharedToken};
use crate::protocol::id_token::IdTokenClaims;
use crate::secret::{AccessTokenSecret, IdTokenSecret};

/// Where a token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// The token cache.
    Cache,
    /// A fresh response from the identity provider (or, for managed
    /// identity, the host's identity endpoint).
    IdentityProvider,
}

/// A token and what goes with it. Every flow of every kind of application
/// returns one.
///
/// `Debug` redacts the tokens; ID token claims show their names only.
#[derive(Debug, Clone)]
pub struct AuthenticationResult {
    /// Shared with the cache entry it came from (decoded once per entry).
    pub(crate) token: Arc<SharedToken>,
    pub(crate) account: Option<Account>,
    pub(crate) id_token: Option<IdTokenSecret>,
    /// Decoded on first use (a cached ID token is not decoded on every hit);
    /// set at once for a fresh token, whose claims were checked.
    pub(crate) claims: OnceLock<Option<IdTokenClaims>>,
    pub(crate) source: TokenSource,
}

fn at(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

impl AuthenticationResult {
    /// A result with no account and no ID token (app tokens).
    pub(crate) fn app_token(token: Arc<SharedToken>, source: TokenSource) -> Self {
        Self {
            token,
            account: None,
            id_token: None,
            claims: OnceLock::new(),
            source,
        }
    }

    /// Unix seconds at which the token expires.
    pub(crate) fn expires_on_secs(&self) -> i64 {
        self.token.expires_on
    }

    /// Unix seconds after which a proactive refresh is due.
    pub(crate) fn refresh_on_secs(&self) -> Option<i64> {
        self.token.refresh_on
    }

    /// The access token.
    pub fn access_token(&self) -> &AccessTokenSecret {
        &self.token.secret
    }

    /// The token type (`Bearer` unless the provider said otherwise).
    pub fn token_type(&self) -> &str {
        &self.token.token_type
    }

    /// When the access token expires.
    pub fn expires_on(&self) -> SystemTime {
        at(self.token.expires_on)
    }

    /// When the access token expires, in Unix seconds.
    pub fn expires_on_unix(&self) -> i64 {
        self.token.expires_on
    }

    /// When msal will proactively refresh the token, if the provider said
    /// (`refresh_in`) or, for long-lived managed identity tokens, half way
    /// through their life.
    pub fn refresh_on(&self) -> Option<SystemTime> {
        self.token.refresh_on.map(at)
    }

    /// When msal will proactively refresh the token, in Unix seconds.
    pub fn refresh_on_unix(&self) -> Option<i64> {
        self.token.refresh_on
    }

    /// The scopes the token was granted for (for managed identity: the
    /// resource).
    pub fn scopes(&self) -> &[String] {
        &self.token.scopes
    }

    /// The tenant that issued the token: the ID token's `tid`, else the
    /// tenant it was requested from.
    pub fn tenant_id(&self) -> Option<&str> {
        self.id_token_claims()
            .and_then(IdTokenClaims::tenant_id)
            .or(self.token.realm.as_deref())
    }

    /// The signed-in account (none for app tokens).
    pub fn account(&self) -> Option<&Account> {
        self.account.as_ref()
    }

    /// The raw ID token, if one came with the token.
    pub fn id_token(&self) -> Option<&IdTokenSecret> {
        self.id_token.as_ref()
    }

    /// The ID token's claims (checked for audience and issuer when the token
    /// is fresh; decoded without checks from the cache).
    pub fn id_token_claims(&self) -> Option<&IdTokenClaims> {
        self.claims
            .get_or_init(|| {
                self.id_token
                    .as_ref()
                    .and_then(|t| IdTokenClaims::decode(t.expose_secret()).ok())
            })
            .as_ref()
    }

    /// Whether the token came from the cache or the identity provider.
    pub fn source(&self) -> TokenSource {
        self.source
    }
}
