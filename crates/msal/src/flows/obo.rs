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

use smallvec::SmallVec;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::Digest as _;

use super::silent::home_tenant;
use crate::cache::{AccessTokenQuery, Account, CachedRefreshToken, RefreshTokenQuery, TokenCache};
use crate::engine::{
    AuthenticationResult, CacheIo, Engine, Partition, SingleFlight, Store, TokenFlow, TokenSource,
    acquire,
};
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
    pub(crate) fn new(engine: Arc<Engine>, scopes: Vec<String>, assertion: Assertion) -> Self {
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
            acquire(Call {
                decorated: scopes::decorate(&self.scopes)?,
                hash: user_assertion_hash(&self.assertion),
                claims: self.engine.claims_param(self.claims.as_deref())?,
                challenged: self.claims.is_some(),
                force_refresh: self.force_refresh,
                environments: self.engine.resolver.environments(),
                realms: self.engine.resolver.base_realms(),
                engine: self.engine,
                assertion: self.assertion,
            })
            .await
        })
    }
}

/// One on-behalf-of call, as the engine runs it.
struct Call {
    engine: Arc<Engine>,
    assertion: Assertion,
    hash: String,
    /// The decorated scopes (`openid profile offline_access` added).
    decorated: Vec<String>,
    claims: Option<String>,
    force_refresh: bool,
    challenged: bool,
    environments: Arc<[String]>,
    /// The authority's realms; an owner's home tenant is added for
    /// multi-tenant authorities.
    realms: Arc<[String]>,
}

impl Call {
    /// The scopes a cached token must carry (the reserved ones never are).
    fn wanted(&self) -> SmallVec<[&str; 8]> {
        self.decorated
            .iter()
            .map(String::as_str)
            .filter(|s| !scopes::RESERVED.contains(s))
            .collect()
    }

    /// The downstream users the partition holds (normally one), then `None`
    /// for a token stored without one.
    fn owners(c: &TokenCache, envs: &[&str]) -> Vec<Option<Account>> {
        let mut owners: Vec<Option<Account>> = c.accounts(envs).into_iter().map(Some).collect();
        owners.push(None);
        owners
    }

    /// The assertion's refresh token and its user.
    fn refresh_token(
        &self,
        c: &TokenCache,
        envs: &[&str],
    ) -> Option<(Account, CachedRefreshToken)> {
        Self::owners(c, envs).into_iter().flatten().find_map(|a| {
            let rq = RefreshTokenQuery {
                home_account_id: a.home_account_id(),
                environments: envs,
                client_id: Some(&self.engine.client_id),
                family_id: None,
                user_assertion_hash: Some(&self.hash),
            };
            let rt = c.find_refresh_tokens(&rq).into_iter().next()?;
            Some((a, rt))
        })
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

impl TokenFlow for Call {
    fn cache(&self) -> &CacheIo {
        &self.engine.cache
    }

    fn flights(&self) -> &SingleFlight {
        &self.engine.flights
    }

    fn now(&self) -> i64 {
        self.engine.now()
    }

    fn partition(&self) -> Partition<'_> {
        Partition::user(&self.hash)
    }

    fn skip_cache(&self) -> bool {
        self.force_refresh || self.challenged
    }

    fn flight_key(&self) -> String {
        let mut s: Vec<String> = self.decorated.iter().map(|x| x.to_lowercase()).collect();
        s.sort();
        format!(
            "\0on_behalf_of\n{}\n{}\n{}\n{}",
            self.hash,
            s.join(" "),
            self.claims.as_deref().unwrap_or(""),
            self.force_refresh
        )
    }

    /// The assertion partition's access token for the scopes: any downstream
    /// user, but only entries carrying this assertion's hash.
    fn find(&self, c: &TokenCache, now: i64) -> Option<AuthenticationResult> {
        let e = &self.engine;
        let envs: SmallVec<[&str; 8]> = self.environments.iter().map(String::as_str).collect();
        let wanted = self.wanted();
        for owner in Self::owners(c, &envs) {
            let hai = owner.as_ref().map(Account::home_account_id);
            let home = hai
                .and_then(home_tenant)
                .filter(|_| e.authority().is_multi_tenant())
                .map(str::to_ascii_lowercase);
            let mut realm_refs: SmallVec<[&str; 8]> =
                self.realms.iter().map(String::as_str).collect();
            realm_refs.extend(home.as_deref());
            let q = AccessTokenQuery {
                client_id: &e.client_id,
                home_account_id: hai,
                environments: &envs,
                realms: &realm_refs,
                scopes: &wanted,
                user_assertion_hash: Some(&self.hash),
                ..AccessTokenQuery::default()
            };
            if let Some(token) = c.find_shared_token(&q, now) {
                let id = hai.and_then(|h| {
                    c.find_shared_id_token(h, &envs, &e.client_id, token.realm.as_deref())
                });
                return Some(AuthenticationResult {
                    token,
                    account: owner,
                    id_token: id,
                    claims: std::sync::OnceLock::new(),
                    source: TokenSource::Cache,
                });
            }
        }
        None
    }

    /// The assertion's refresh token if there is one, else (or when it is
    /// refused) a new on-behalf-of request.
    async fn fetch(&self) -> Result<AuthenticationResult> {
        let refresh = if self.skip_cache() {
            None
        } else {
            let envs: Vec<&str> = self.environments.iter().map(String::as_str).collect();
            self.engine
                .cache
                .read(self.partition(), |c| self.refresh_token(c, &envs))
                .await?
        };
        match refresh {
            Some((account, rt)) => match self.refresh(&account, &rt).await {
                Ok(r) => Ok(r),
                Err(e) if is_answer(&e) => {
                    tracing::debug!(error = %e, "on-behalf-of: the refresh token was refused; asking again with the assertion");
                    self.obo_grant().await
                }
                Err(e) => Err(e),
            },
            None => self.obo_grant().await,
        }
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
