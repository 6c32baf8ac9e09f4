//! What a successful token acquisition returns.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cache::Account;
use crate::protocol::id_token::IdTokenClaims;
use crate::secret::{AccessTokenSecret, IdTokenSecret};

/// Where a token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// The token cache.
    Cache,
    /// A fresh response from the identity provider.
    IdentityProvider,
}

/// A token and what goes with it.
///
/// `Debug` redacts the tokens; ID token claims show their names only.
#[derive(Debug, Clone)]
pub struct AuthenticationResult {
    pub(crate) access_token: AccessTokenSecret,
    pub(crate) token_type: String,
    pub(crate) expires_on: i64,
    pub(crate) refresh_on: Option<i64>,
    pub(crate) scopes: Vec<String>,
    pub(crate) tenant_id: Option<String>,
    pub(crate) account: Option<Account>,
    pub(crate) id_token: Option<IdTokenSecret>,
    pub(crate) id_token_claims: Option<IdTokenClaims>,
    pub(crate) source: TokenSource,
}

fn at(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

impl AuthenticationResult {
    /// The access token.
    pub fn access_token(&self) -> &AccessTokenSecret {
        &self.access_token
    }

    /// The token type (`Bearer` unless the provider said otherwise).
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// When the access token expires.
    pub fn expires_on(&self) -> SystemTime {
        at(self.expires_on)
    }

    /// When the access token expires, in Unix seconds.
    pub fn expires_on_unix(&self) -> i64 {
        self.expires_on
    }

    /// When msal will proactively refresh the token, if the provider said.
    pub fn refresh_on(&self) -> Option<SystemTime> {
        self.refresh_on.map(at)
    }

    /// The scopes the token was granted for.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The tenant that issued the token.
    pub fn tenant_id(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }

    /// The signed-in account (none for app tokens).
    pub fn account(&self) -> Option<&Account> {
        self.account.as_ref()
    }

    /// The raw ID token, if one came with the token.
    pub fn id_token(&self) -> Option<&IdTokenSecret> {
        self.id_token.as_ref()
    }

    /// The ID token's claims (decoded, checked for audience and issuer when fresh).
    pub fn id_token_claims(&self) -> Option<&IdTokenClaims> {
        self.id_token_claims.as_ref()
    }

    /// Whether the token came from the cache or the identity provider.
    pub fn source(&self) -> TokenSource {
        self.source
    }
}
