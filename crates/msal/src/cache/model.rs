//! The public values of the cache API: what lookups return, what queries
//! and writes take.

// Items here are crate-internal unless the `test-internals` feature
// exposes them to msal's own tests.
#![cfg_attr(not(feature = "test-internals"), allow(unreachable_pub))]

use crate::secret::{AccessTokenSecret, IdTokenSecret, RefreshTokenSecret};

/// A signed-in account, as `accounts()` lists it (MSAL Python's
/// `get_accounts` dict). Cheap to clone: clones share one copy.
#[derive(Clone, PartialEq, Eq)]
pub struct Account(std::sync::Arc<AccountData>);

/// The fields of an [`Account`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct AccountData {
    pub(crate) home_account_id: String,
    pub(crate) environment: String,
    pub(crate) realm: String,
    pub(crate) local_account_id: String,
    pub(crate) username: String,
    pub(crate) authority_type: String,
    pub(crate) account_source: Option<String>,
    pub(crate) name: Option<String>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<AccountData> for Account {
    fn from(data: AccountData) -> Self {
        Self(std::sync::Arc::new(data))
    }
}

impl Account {
    /// An account known by its `home_account_id` and the host it signed in
    /// at (`login.microsoftonline.com`): what a web app keeps in the user's
    /// session to call `acquire_token_silent` later. The other fields are
    /// empty; [`accounts`](crate::PublicClientApplication::accounts) lists
    /// complete ones.
    pub fn new(home_account_id: impl Into<String>, environment: impl Into<String>) -> Self {
        AccountData {
            home_account_id: home_account_id.into(),
            environment: environment.into(),
            authority_type: "MSSTS".to_owned(),
            ..AccountData::default()
        }
        .into()
    }

    /// The same account with its tenant (`realm`) set.
    pub fn with_realm(self, realm: impl Into<String>) -> Self {
        let mut d = self.into_data();
        d.realm = realm.into();
        d.into()
    }

    /// The same account with its username set.
    pub fn with_username(self, username: impl Into<String>) -> Self {
        let mut d = self.into_data();
        d.username = username.into();
        d.into()
    }

    /// The same account with its object id in its tenant set.
    pub fn with_local_account_id(self, local_account_id: impl Into<String>) -> Self {
        let mut d = self.into_data();
        d.local_account_id = local_account_id.into();
        d.into()
    }

    /// The same account under another host (an alias of its cloud).
    pub(crate) fn with_environment(self, environment: &str) -> Self {
        let mut d = self.into_data();
        d.environment = environment.to_owned();
        d.into()
    }

    fn into_data(self) -> AccountData {
        std::sync::Arc::try_unwrap(self.0).unwrap_or_else(|shared| (*shared).clone())
    }

    /// `<uid>.<utid>` (or the ID token's `sub` for ADFS): the key of the
    /// account's tokens in the cache, the same in every tenant.
    pub fn home_account_id(&self) -> &str {
        &self.0.home_account_id
    }

    /// The host the account signed in at (`login.microsoftonline.com`).
    pub fn environment(&self) -> &str {
        &self.0.environment
    }

    /// The tenant of the Account entry listed.
    pub fn realm(&self) -> &str {
        &self.0.realm
    }

    /// The object id in that tenant (`oid`, else `sub`); empty if unknown.
    pub fn local_account_id(&self) -> &str {
        &self.0.local_account_id
    }

    /// `preferred_username`/`upn`; empty if unknown. Personal data: do not log it.
    pub fn username(&self) -> &str {
        &self.0.username
    }

    /// `MSSTS`, `ADFS` or `Generic`.
    pub fn authority_type(&self) -> &str {
        &self.0.authority_type
    }

    /// The grant that created the account (`authorization_code`, ...).
    pub fn account_source(&self) -> Option<&str> {
        self.0.account_source.as_deref()
    }

    /// The display name, when the entry has one (MSAL Node and .NET write it).
    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
}

/// An access token as every result served from one cache entry shares it.
#[derive(Debug)]
pub(crate) struct SharedToken {
    pub(crate) secret: AccessTokenSecret,
    pub(crate) token_type: Box<str>,
    pub(crate) expires_on: i64,
    pub(crate) refresh_on: Option<i64>,
    /// The scopes it was issued for, in the order stored.
    pub(crate) scopes: Box<[String]>,
    /// The tenant it belongs to, when known (the result's `tenant_id`
    /// unless an ID token names one).
    pub(crate) realm: Option<Box<str>>,
}

/// A cached access token found by [`TokenCache::find_access_token`](super::TokenCache::find_access_token).
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "test-internals"), allow(dead_code))]
pub struct CachedAccessToken {
    /// The token.
    pub secret: AccessTokenSecret,
    /// `Bearer` unless stored otherwise.
    pub token_type: String,
    /// The scopes it was issued for (space separated, as stored).
    pub target: String,
    /// Unix seconds.
    pub expires_on: i64,
    /// Unix seconds (falls back to `ext_expires_on`, then `expires_on`).
    pub extended_expires_on: i64,
    /// Unix seconds after which a proactive refresh is due.
    pub refresh_on: Option<i64>,
    /// The tenant it was stored under.
    pub realm: String,
    /// The host it was stored under.
    pub environment: String,
    /// The account it belongs to; `None` for an app token.
    pub home_account_id: Option<String>,
}

/// A cached refresh token found by [`TokenCache::find_refresh_tokens`](super::TokenCache::find_refresh_tokens).
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "test-internals"), allow(dead_code))]
pub struct CachedRefreshToken {
    /// The token.
    pub secret: RefreshTokenSecret,
    /// The app that received it (another app of the family for an FRT).
    pub client_id: String,
    /// `Some("1")` for a family refresh token.
    pub family_id: Option<String>,
    /// Which stored entry this is; pass it back in
    /// [`TokenResponseRecord::refresh_token_to_rotate`] to rotate it in place.
    pub handle: EntryHandle,
}

/// Identifies one stored refresh token by the key it is stored under, so
/// that a rotation replaces exactly that entry (also a foreign-keyed one)
/// even after the cache was reloaded from storage.
#[derive(Clone, PartialEq, Eq)]
pub struct EntryHandle {
    pub(crate) key: String,
    /// SHA-256 of the secret it held, to find the same token again if
    /// another MSAL re-keyed it meanwhile (.NET recomputes every key on
    /// save, Go lower-cases them).
    pub(crate) secret_digest: [u8; 32],
}

impl EntryHandle {
    pub(crate) fn new(key: String, secret: &str) -> Self {
        Self {
            key,
            secret_digest: secret_digest(secret),
        }
    }
}

/// The SHA-256 of a stored secret's text.
pub(crate) fn secret_digest(secret: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(secret.as_bytes()).into()
}

impl std::fmt::Debug for EntryHandle {
    // The key holds the account id: not for logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EntryHandle(..)")
    }
}

/// A cached ID token found by [`TokenCache::find_id_token`](super::TokenCache::find_id_token).
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "test-internals"), allow(dead_code))]
pub struct CachedIdToken {
    /// The raw JWT.
    pub secret: IdTokenSecret,
    /// The tenant it was issued in.
    pub realm: String,
    /// The host it was stored under.
    pub environment: String,
    /// The app it was issued to.
    pub client_id: String,
}

#[cfg_attr(not(feature = "test-internals"), allow(dead_code))]
impl CachedIdToken {
    /// The token's claims, decoded without validation (it came from the
    /// token endpoint over TLS); `None` if it is not a decodable JWT.
    pub fn claims(&self) -> Option<crate::protocol::id_token::IdTokenClaims> {
        crate::protocol::id_token::IdTokenClaims::decode(self.secret.expose_secret()).ok()
    }
}

/// An AppMetadata entry: whether an app belongs to the Microsoft app family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppMetadata {
    /// The app.
    pub client_id: String,
    /// The host.
    pub environment: String,
    /// `Some("1")` when the app is in the family.
    pub family_id: Option<String>,
}

/// What to look for in [`TokenCache::find_access_token`](super::TokenCache::find_access_token).
///
/// Strings compare ASCII case-insensitively; scopes are a case-insensitive
/// subset match. Entries stored by other MSALs match too: an app token's
/// `home_account_id` may be null, absent or `""`, and the query lists every
/// environment alias and realm it accepts.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessTokenQuery<'a> {
    /// The app.
    pub client_id: &'a str,
    /// The account; `None` = an app token.
    pub home_account_id: Option<&'a str>,
    /// Accepted hosts, the configured one first.
    pub environments: &'a [&'a str],
    /// Accepted tenants, e.g. `["common", "<home tid>"]` for `/common`.
    pub realms: &'a [&'a str],
    /// Scopes the token must carry (undecorated).
    pub scopes: &'a [&'a str],
    /// `None` = Bearer.
    pub token_type: Option<&'a str>,
    /// The PoP / SSH key id, if the request binds one.
    pub key_id: Option<&'a str>,
    /// The extra cache-key hash in its current form
    /// ([`ExtCacheKey::hash`](super::ext_key::ExtCacheKey::hash)); `None`
    /// (with no legacy hash) also excludes every extended entry: one with
    /// `ext_cache_key`, `ext` parts, credential type `atext` or an `atext` key.
    pub ext_cache_key: Option<&'a str>,
    /// The same parts hashed as MSAL.NET 4.86 does
    /// ([`ExtCacheKey::legacy`](super::ext_key::ExtCacheKey::legacy)),
    /// accepted on read.
    pub ext_cache_key_legacy: Option<&'a str>,
    /// OBO partition; `None` also excludes entries that have one.
    pub user_assertion_hash: Option<&'a str>,
}

/// What to look for in [`TokenCache::find_refresh_tokens`](super::TokenCache::find_refresh_tokens).
#[derive(Debug, Clone, Copy, Default)]
pub struct RefreshTokenQuery<'a> {
    /// The account.
    pub home_account_id: &'a str,
    /// Accepted hosts, the configured one first.
    pub environments: &'a [&'a str],
    /// `Some` = only RTs received by this app.
    pub client_id: Option<&'a str>,
    /// `Some("1")` = only family RTs.
    pub family_id: Option<&'a str>,
    /// OBO partition; `None` also excludes entries that have one.
    pub user_assertion_hash: Option<&'a str>,
}

/// The kind of authority a response came from (decides `authority_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AuthorityType {
    /// Microsoft Entra ID (work/school and personal accounts), B2C, CIAM.
    #[default]
    Mssts,
    /// AD FS.
    Adfs,
    /// Any other OpenID Connect provider. Written as `MSSTS`, as MSAL Python
    /// does, so that MSAL Python lists the account.
    Generic,
}

/// One successful token response, as the engine hands it to
/// [`TokenCache::add`](super::TokenCache::add).
#[derive(Debug, Clone, Copy)]
pub struct TokenResponseRecord<'a> {
    /// The app.
    pub client_id: &'a str,
    /// The host to store under (lower-cased on write).
    pub environment: &'a str,
    /// The tenant to store under (spec 3.4: the token endpoint's tenant).
    pub realm: &'a str,
    /// The authority's kind.
    pub authority_type: AuthorityType,
    /// The scopes sent (decorated for user flows); the stored target when
    /// the response has no `scope`.
    pub requested_scopes: &'a [String],
    /// The wire response.
    pub response: &'a TokenResponse,
    /// The grant (`authorization_code`, `password`,
    /// `urn:ietf:params:oauth:grant-type:device_code`, `broker`, `user_fic`,
    /// or any other grant such as OBO's jwt-bearer). `None` = write no
    /// Account entry (silent refresh). Only the five grants above are
    /// recorded as the entry's `account_source`, as MSAL Python does.
    pub account_source: Option<&'a str>,
    /// The ROPC username, the fallback for `username`.
    pub username_hint: Option<&'a str>,
    /// OBO partition written on the AT and RT (MSAL Python writes none).
    pub user_assertion_hash: Option<&'a str>,
    /// Silent refresh: rotate this RT in place instead of adding a new one.
    pub refresh_token_to_rotate: Option<&'a EntryHandle>,
    /// Unix seconds: `cached_at`, and the base of every expiry.
    pub now: i64,
}

/// A token endpoint response (the fields the cache consumes). Lives here so
/// the cache does not depend on the protocol module, which parses JSON into it.
#[derive(Debug, Clone, Default)]
pub struct TokenResponse {
    /// `access_token`.
    pub access_token: Option<AccessTokenSecret>,
    /// `token_type` (default Bearer).
    pub token_type: Option<String>,
    /// `expires_in` seconds.
    pub expires_in: Option<i64>,
    /// `ext_expires_in` seconds.
    pub ext_expires_in: Option<i64>,
    /// `refresh_in` seconds.
    pub refresh_in: Option<i64>,
    /// `expires_on` Unix seconds (managed identity style), used when
    /// `expires_in` is absent.
    pub expires_on: Option<i64>,
    /// `refresh_token`.
    pub refresh_token: Option<RefreshTokenSecret>,
    /// `scope`, space separated.
    pub scope: Option<String>,
    /// `foci` (`"1"` for a family refresh token).
    pub foci: Option<String>,
    /// `id_token`.
    pub id_token: Option<IdTokenSecret>,
    /// `client_info` (base64url JSON with `uid` and `utid`).
    pub client_info: Option<String>,
    /// The PoP/SSH key id the request carried (stored as `key_id`).
    pub key_id: Option<String>,
    /// The extra cache-key hash of the request (stored as `ext_cache_key`).
    pub ext_cache_key: Option<String>,
}
