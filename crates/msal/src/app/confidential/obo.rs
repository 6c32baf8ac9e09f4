//! [`OnBehalfOfRequest`]: `acquire_token_on_behalf_of` (spec §7.2, §7.3).
//!
//! Tokens are cached in the partition of the incoming assertion's hash and
//! carry it as `user_assertion_hash` (MSAL.NET and Node's format: base64url
//! without padding of SHA-256), so a token is only ever handed back for the
//! same incoming assertion. Order: a cached access token; else the cached
//! refresh token of that assertion; else (or when it is refused) a new
//! on-behalf-of request.

use std::future::IntoFuture;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::Digest as _;

use crate::app::cache_io::Partition;
use crate::app::engine::{EXPIRY_BUFFER_SECS, Engine, Store};
use crate::app::result::AuthenticationResult;
use crate::app::silent::home_tenant;
use crate::cache::{AccessTokenQuery, Account, CachedRefreshToken, RefreshTokenQuery};
use crate::error::{Error, Result};
use crate::http::BoxFuture;
use crate::protocol::token::TokenForm;
use crate::protocol::{grant, scopes};
use crate::secret::Assertion;

/// The partition key and `user_assertion_hash` of an incoming assertion:
/// base64url without padding of SHA-256 over its UTF-8 bytes (43 characters).
pub fn user_assertion_hash(assertion: &Assertion) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(assertion.expose_secret().as_bytes()))
}

/// An on-behalf-of request; `.await` it.
///
/// ```no_run
/// # async fn run(app: msal::ConfidentialClientApplication, incoming: &str) -> msal::Result<()> {
/// use msal::secret::Assertion;
/// let token = app
///     .acquire_token_on_behalf_of(&["https://graph.microsoft.com/User.Read"], Assertion::new(incoming))
///     .await?;
/// # let _ = token; Ok(()) }
/// ```
#[must_use = "a request does nothing until awaited"]
#[derive(Debug)]
pub struct OnBehalfOfRequest {
    engine: Arc<Engine>,
    scopes: Vec<String>,
    assertion: Assertion,
    force_refresh: bool,
    claims: Option<String>,
}

impl OnBehalfOfRequest {
    pub(super) fn new(engine: Arc<Engine>, scopes: Vec<String>, assertion: Assertion) -> Self {
        Self {
            engine,
            scopes,
            assertion,
            force_refresh: false,
            claims: None,
        }
    }

    /// Skip the cache and make a new on-behalf-of request.
    pub fn force_refresh(mut self, force: bool) -> Self {
        self.force_refresh = force;
        self
    }

    /// A claims challenge from the downstream API (skips the cache).
    pub fn claims(mut self, claims: impl Into<String>) -> Self {
        let c = claims.into();
        self.claims = (!c.trim().is_empty()).then_some(c);
        self
    }
}

impl IntoFuture for OnBehalfOfRequest {
    type Output = Result<AuthenticationResult>;
    type IntoFuture = BoxFuture<'static, Result<AuthenticationResult>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            if self.assertion.expose_secret().trim().is_empty() {
                return Err(Error::config("the on-behalf-of assertion is empty"));
            }
            let call = Arc::new(Call {
                decorated: scopes::decorate(&self.scopes)?,
                hash: user_assertion_hash(&self.assertion),
                claims: self.engine.claims_param(self.claims.as_deref())?,
                skip_cache: self.force_refresh || self.claims.is_some(),
                engine: self.engine,
                assertion: self.assertion,
            });
            let mut found = None;
            if !call.skip_cache {
                found = call.lookup().await?;
                if let Some(Found {
                    token: Some((r, false)),
                    ..
                }) = found
                {
                    return Ok(r);
                }
            }
            let key = call.flight_key(self.force_refresh);
            let flight = call.clone();
            call.engine
                .flights
                .run(key, move || {
                    Box::pin(async move { flight.fly(found).await })
                })
                .await
        })
    }
}

struct Call {
    engine: Arc<Engine>,
    assertion: Assertion,
    hash: String,
    /// The decorated scopes (`openid profile offline_access` added).
    decorated: Vec<String>,
    claims: Option<String>,
    skip_cache: bool,
}

/// What the assertion's partition holds.
struct Found {
    /// A usable access token, and whether it is due for a refresh.
    token: Option<(AuthenticationResult, bool)>,
    /// The downstream user and the assertion's refresh token.
    refresh: Option<(Account, CachedRefreshToken)>,
}

impl Call {
    fn partition(&self) -> Partition<'_> {
        Partition::user(&self.hash)
    }

    fn flight_key(&self, force: bool) -> String {
        let mut s: Vec<String> = self.decorated.iter().map(|x| x.to_lowercase()).collect();
        s.sort();
        format!(
            "\0on_behalf_of\n{}\n{}\n{}\n{force}",
            self.hash,
            s.join(" "),
            self.claims.as_deref().unwrap_or("")
        )
    }

    /// Reads the assertion's partition: its access token for the scopes (any
    /// downstream user, but only entries carrying this assertion's hash) and
    /// its refresh token.
    async fn lookup(&self) -> Result<Option<Found>> {
        let e = &self.engine;
        let envs = e.resolver.known_environments();
        let env_refs: Vec<&str> = envs.iter().map(String::as_str).collect();
        let wanted: Vec<&str> = self
            .decorated
            .iter()
            .map(String::as_str)
            .filter(|s| !scopes::RESERVED.contains(s))
            .collect();
        let now = e.now();
        let found = e
            .cache
            .access(self.partition(), |c| {
                // The partition normally holds one downstream user; the hash
                // filter below keeps out anything else it may hold.
                let mut owners: Vec<Option<Account>> =
                    c.accounts(&env_refs).into_iter().map(Some).collect();
                owners.push(None);
                let mut token = None;
                let mut refresh = None;
                for owner in owners {
                    let hai = owner.as_ref().map(|a| a.home_account_id.as_str());
                    let realms = e.resolver.lookup_realms(hai.and_then(home_tenant));
                    let realm_refs: Vec<&str> = realms.iter().map(String::as_str).collect();
                    let q = AccessTokenQuery {
                        client_id: &e.client_id,
                        home_account_id: hai,
                        environments: &env_refs,
                        realms: &realm_refs,
                        scopes: &wanted,
                        token_type: None,
                        key_id: None,
                        ext_cache_key: None,
                        user_assertion_hash: Some(&self.hash),
                    };
                    c.remove_expired_access_tokens(&q, now);
                    if token.is_none() {
                        if let Some(at) = c.find_access_token(&q, now) {
                            let id = hai.and_then(|h| {
                                c.find_id_token(h, &env_refs, &e.client_id, Some(&at.realm))
                            });
                            token = Some((at, owner.clone(), id));
                        }
                    }
                    if let (None, Some(a)) = (&refresh, &owner) {
                        let rq = RefreshTokenQuery {
                            home_account_id: &a.home_account_id,
                            environments: &env_refs,
                            client_id: Some(&e.client_id),
                            family_id: None,
                            user_assertion_hash: Some(&self.hash),
                        };
                        refresh = c
                            .find_refresh_tokens(&rq)
                            .into_iter()
                            .next()
                            .map(|rt| (a.clone(), rt));
                    }
                }
                Ok((token, refresh))
            })
            .await?;
        let (token, refresh) = found;
        let token = token
            .filter(|(at, _, _)| at.expires_on.saturating_sub(now) >= EXPIRY_BUFFER_SECS)
            .map(|(at, account, id)| {
                let due = at.refresh_on.is_some_and(|r| r <= now);
                (e.cached_result(at, account, id), due)
            });
        if token.is_none() && refresh.is_none() {
            return Ok(None);
        }
        Ok(Some(Found { token, refresh }))
    }

    /// The network part: the refresh token if there is one, else (or when it
    /// is refused) a new on-behalf-of request. A still-valid token due for
    /// refresh wins over any error.
    async fn fly(&self, found: Option<Found>) -> Result<AuthenticationResult> {
        let found = match found {
            // A flight that just landed may have cached the token meanwhile.
            None if !self.skip_cache => self.lookup().await?,
            other => other,
        };
        let (fallback, refresh) = match found {
            Some(Found {
                token: Some((r, false)),
                ..
            }) => return Ok(r),
            Some(Found { token, refresh }) => (token.map(|(r, _)| r), refresh),
            None => (None, None),
        };
        let outcome = match refresh.filter(|_| !self.skip_cache) {
            Some((account, rt)) => match self.refresh(&account, &rt).await {
                Ok(r) => Ok(r),
                Err(e) if is_answer(&e) => {
                    tracing::debug!(error = %e, "on-behalf-of: the refresh token was refused; asking again with the assertion");
                    self.obo_grant().await
                }
                Err(e) => Err(e),
            },
            None => self.obo_grant().await,
        };
        match (outcome, fallback) {
            (Ok(r), _) => Ok(r),
            (Err(e), Some(f)) => {
                tracing::debug!(error = %e, "on-behalf-of: refresh failed, the cached token is still valid");
                Ok(f)
            }
            (Err(e), None) => Err(e),
        }
    }

    async fn refresh(
        &self,
        account: &Account,
        rt: &CachedRefreshToken,
    ) -> Result<AuthenticationResult> {
        let e = &self.engine;
        let metadata = e.resolver.metadata().await?;
        let scope = scopes::join(&self.decorated);
        let mut form = TokenForm::grant(grant::REFRESH_TOKEN, &e.client_id, &scope);
        form.set("refresh_token", rt.secret.expose_secret());
        form.set_opt("claims", self.claims.as_deref());
        let throttle = e.throttle(
            &metadata,
            &[grant::REFRESH_TOKEN, &scope, rt.secret.expose_secret()],
        );
        tracing::debug!("on-behalf-of: redeeming the cached refresh token");
        let response = e.post_token(&metadata, form, throttle, &[]).await?;
        e.store(
            self.partition(),
            Store {
                response: &response,
                metadata: &metadata,
                environment: e.authority().host(),
                requested_scopes: &self.decorated,
                account_source: None,
                username_hint: None,
                rotate: Some(&rt.handle),
                nonce: None,
                known_account: Some(account),
                user_assertion_hash: Some(&self.hash),
            },
        )
        .await
    }

    async fn obo_grant(&self) -> Result<AuthenticationResult> {
        let e = &self.engine;
        let metadata = e.resolver.metadata().await?;
        let scope = scopes::join(&self.decorated);
        let mut form = TokenForm::grant(grant::JWT_BEARER, &e.client_id, &scope);
        form.set("requested_token_use", "on_behalf_of");
        form.set("assertion", self.assertion.expose_secret());
        form.set_opt("claims", self.claims.as_deref());
        let throttle = e.throttle(
            &metadata,
            &[
                grant::JWT_BEARER,
                &scope,
                &self.hash,
                self.claims.as_deref().unwrap_or(""),
            ],
        );
        tracing::debug!("on-behalf-of: requesting a token with the incoming assertion");
        let response = e.post_token(&metadata, form, throttle, &[]).await?;
        e.store(
            self.partition(),
            Store {
                response: &response,
                metadata: &metadata,
                environment: e.authority().host(),
                requested_scopes: &self.decorated,
                account_source: Some(grant::JWT_BEARER),
                username_hint: None,
                rotate: None,
                nonce: None,
                known_account: None,
                user_assertion_hash: Some(&self.hash),
            },
        )
        .await
    }
}

/// Whether an error is the server's answer (try the next way) rather than
/// not reaching it.
fn is_answer(e: &Error) -> bool {
    matches!(
        e,
        Error::UiRequired { .. } | Error::Service(_) | Error::Protocol(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_unpadded_base64url_sha256() {
        // printf %s abc | openssl dgst -sha256 -binary | basenc --base64url
        assert_eq!(
            user_assertion_hash(&Assertion::new("abc")),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
        assert_eq!(user_assertion_hash(&Assertion::new("x.y.z")).len(), 43);
    }
}
