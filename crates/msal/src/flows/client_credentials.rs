//! [`ClientCredentialsRequest`]: `acquire_token_for_client` (spec §5.1
//! "client credentials", §7.1, §7.3).
//!
//! Cache first, in the app partition of the tenant; on a miss, one flight
//! per (authority host, tenant, scopes, claims, force) key makes the
//! request, so thousands of concurrent callers across many tenants cause
//! exactly one request per tenant. Hits never enter the flight map.

use std::future::IntoFuture;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::cache::ext_key::{CLIENT_CLAIMS, ExtCacheKey, FMI_PATH};
use crate::cache::{AccessTokenQuery, TokenCache};
use crate::engine::{
    AuthenticationResult, CacheIo, Engine, MTLS_POP, Partition, SingleFlight, Store, Target,
    TokenFlow, TokenSource, acquire,
};
use crate::error::Result;
use crate::http::BoxFuture;
use crate::protocol::token::TokenForm;
use crate::protocol::{claims, grant, scopes};

/// An app-token request; `.await` it.
///
/// ```no_run
/// # async fn run(app: msal::ConfidentialClientApplication) -> msal::Result<()> {
/// let token = app
///     .acquire_token_for_client(&["https://graph.microsoft.com/.default"])
///     .tenant("fabrikam.onmicrosoft.com") // a multi-tenant daemon acting in a customer's tenant
///     .await?;
/// # let _ = token; Ok(()) }
/// ```
#[must_use = "a request does nothing until awaited"]
#[derive(Debug)]
pub struct ClientCredentialsRequest {
    engine: Arc<Engine>,
    scopes: Vec<String>,
    force_refresh: bool,
    claims: Option<String>,
    client_claims: Option<String>,
    fmi_path: Option<String>,
    tenant: Option<String>,
    mtls_pop: bool,
}

impl ClientCredentialsRequest {
    pub(crate) fn new(engine: Arc<Engine>, scopes: Vec<String>) -> Self {
        Self {
            engine,
            scopes,
            force_refresh: false,
            claims: None,
            client_claims: None,
            fmi_path: None,
            tenant: None,
            mtls_pop: false,
        }
    }

    /// Skip the cached token and ask the identity provider.
    pub fn force_refresh(mut self, force: bool) -> Self {
        self.force_refresh = force;
        self
    }

    /// A claims challenge from a resource (skips the cached token).
    pub fn claims(mut self, claims: impl Into<String>) -> Self {
        let c = claims.into();
        self.claims = (!c.trim().is_empty()).then_some(c);
        self
    }

    /// Claims the app itself asks for (a JSON object, e.g.
    /// `{"access_token":{"xms_cc":{"values":["cp1"]}}}`), sent merged into
    /// the `claims` parameter. Unlike a [`claims`](Self::claims) challenge
    /// they do not skip the cache: they become part of the token's identity
    /// in it (an extended `atext` entry, as MSAL.NET's `WithClaimsFromClient`
    /// and MSAL Python's `forwarded_client_claims` store it), so the token
    /// is found again only by requests that send the same claims.
    pub fn client_claims(mut self, claims: impl Into<String>) -> Self {
        let c = claims.into();
        self.client_claims = (!c.trim().is_empty()).then_some(c);
        self
    }

    /// A federated managed identity path (`fmi_path`): asks for a token of
    /// the federated identity under this path of the app (Entra's FMI). The
    /// path is sent as the `fmi_path` parameter and becomes part of the
    /// token's identity in the cache (an extended `atext` entry, keyed as
    /// MSAL Python 1.39 and Go 1.9 key it), so a request without the path,
    /// or with another one, never gets this token.
    pub fn fmi_path(mut self, path: impl Into<String>) -> Self {
        let p = path.into();
        self.fmi_path = (!p.is_empty()).then_some(p);
        self
    }

    /// Acts in `tenant` (a tenant id or domain) instead of the configured
    /// authority's tenant, on the same host.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Asks for a certificate-bound token (mTLS proof of possession): the
    /// request goes over mutual TLS with the app's certificate to the
    /// authority's mTLS endpoint, and the token carries the certificate's
    /// SHA-256 thumbprint (`cnf.x5t#S256`), has token type `mtls_pop` and
    /// is only accepted from a caller that presents the same certificate.
    /// Such tokens are cached apart from Bearer tokens: a Bearer request
    /// never gets one, nor the reverse. Needs a certificate credential
    /// ([`Error::Config`](crate::Error::Config) otherwise).
    pub fn mtls_proof_of_possession(mut self, yes: bool) -> Self {
        self.mtls_pop = yes;
        self
    }
}

impl IntoFuture for ClientCredentialsRequest {
    type Output = Result<AuthenticationResult>;
    type IntoFuture = BoxFuture<'static, Result<AuthenticationResult>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// One app-token call, as the engine runs it.
struct Call {
    engine: Arc<Engine>,
    target: Arc<Target>,
    scopes: Vec<String>,
    /// The `claims` parameter: the challenge merged with client capabilities.
    claims: Option<String>,
    force_refresh: bool,
    /// A claims challenge was given (skips the cached token).
    challenged: bool,
    /// mTLS PoP: the certificate's `x5t#S256`, which the token is bound to.
    mtls_key: Option<String>,
    fmi_path: Option<String>,
    /// The extra cache-key parts (FMI path, client claims), hashed.
    ext: Option<ExtCacheKey>,
}

impl ClientCredentialsRequest {
    async fn run(self) -> Result<AuthenticationResult> {
        let scopes = scopes::plain(self.scopes)?;
        let target = self.engine.target(self.tenant.as_deref()).await?;
        let mtls_key = if self.mtls_pop {
            Some(
                self.engine
                    .mtls()?
                    .certificate
                    .thumbprint_sha256()
                    .to_owned(),
            )
        } else {
            None
        };
        let mut claims = self.engine.claims_param(self.claims.as_deref())?;
        if let Some(client) = &self.client_claims {
            claims = Some(claims::with_client_claims(client, claims.as_deref())?);
        }
        let ext = ExtCacheKey::from_parts([
            (FMI_PATH, self.fmi_path.as_deref().unwrap_or("")),
            (CLIENT_CLAIMS, self.client_claims.as_deref().unwrap_or("")),
        ]);
        acquire(Call {
            mtls_key,
            claims,
            challenged: self.claims.is_some(),
            fmi_path: self.fmi_path,
            ext,
            force_refresh: self.force_refresh,
            engine: self.engine,
            target,
            scopes,
        })
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
        Partition::app(&self.target.partition_key)
    }

    fn skip_cache(&self) -> bool {
        self.force_refresh || self.challenged
    }

    /// Same host, tenant, scopes (any order or case), claims, extra key
    /// parts and force flag = same flight.
    fn flight_key(&self) -> String {
        let mut s: Vec<String> = self.scopes.iter().map(|x| x.to_lowercase()).collect();
        s.sort();
        s.dedup();
        format!(
            "\0client_credentials\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.target.resolver.authority().host(),
            self.target.realm,
            s.join(" "),
            self.claims.as_deref().unwrap_or(""),
            self.ext.as_ref().map_or("", ExtCacheKey::hash),
            self.force_refresh,
            self.mtls_key.as_deref().unwrap_or("")
        )
    }

    fn find(&self, cache: &TokenCache, now: i64) -> Option<AuthenticationResult> {
        let envs: SmallVec<[&str; 8]> = self
            .target
            .environments
            .iter()
            .map(String::as_str)
            .collect();
        let scope_refs: SmallVec<[&str; 8]> = self.scopes.iter().map(String::as_str).collect();
        let q = AccessTokenQuery {
            client_id: &self.engine.client_id,
            home_account_id: None,
            environments: &envs,
            realms: &[self.target.realm.as_str()],
            scopes: &scope_refs,
            token_type: self.mtls_key.as_ref().map(|_| MTLS_POP),
            key_id: self.mtls_key.as_deref(),
            ext_cache_key: self.ext.as_ref().map(ExtCacheKey::hash),
            ext_cache_key_legacy: self.ext.as_ref().map(ExtCacheKey::legacy),
            ..AccessTokenQuery::default()
        };
        cache
            .find_shared_token(&q, now)
            .map(|t| AuthenticationResult::app_token(t, TokenSource::Cache))
    }

    async fn fetch(&self) -> Result<AuthenticationResult> {
        let e = &self.engine;
        let metadata = self.target.resolver.metadata().await?;
        let scope = scopes::join(&self.scopes);
        let mut form = TokenForm::grant(grant::CLIENT_CREDENTIALS, &e.client_id, &scope);
        form.set_opt("claims", self.claims.as_deref());
        if self.mtls_key.is_some() {
            form.set("token_type", MTLS_POP);
        }
        form.set_opt("fmi_path", self.fmi_path.as_deref());
        let throttle = e.throttle(
            &metadata,
            &[
                grant::CLIENT_CREDENTIALS,
                &scope,
                self.claims.as_deref().unwrap_or(""),
                self.fmi_path.as_deref().unwrap_or(""),
                self.mtls_key.as_deref().unwrap_or(""),
            ],
        );
        tracing::debug!(tenant = %self.target.realm, mtls_pop = self.mtls_key.is_some(), "client credentials: requesting an app token");
        let mut response = if self.mtls_key.is_some() {
            let region = e.region().await;
            e.post_mtls_pop(&metadata, form, throttle, region).await?
        } else {
            e.post_app_token(&metadata, form, throttle).await?
        };
        // An app token belongs to no account, even when the response carries
        // a `client_info` (Entra's `client_info=2`): stored without a
        // `home_account_id`, where app-token lookups find it.
        response.client_info = None;
        response.ext_cache_key = self.ext.as_ref().map(|x| x.hash().to_owned());
        e.store(
            Partition::app(&self.target.partition_key),
            Store {
                response: &response,
                metadata: &metadata,
                environment: self.target.resolver.authority().host(),
                requested_scopes: &self.scopes,
                account_source: None,
                username_hint: None,
                rotate: None,
                nonce: None,
                known_account: None,
                user_assertion_hash: None,
            },
        )
        .await
    }
}
