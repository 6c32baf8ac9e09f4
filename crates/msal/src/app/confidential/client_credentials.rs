//! [`ClientCredentialsRequest`]: `acquire_token_for_client` (spec §5.1
//! "client credentials", §7.1, §7.3).
//!
//! Cache first, in the app partition of the tenant; on a miss, one flight
//! per (authority host, tenant, scopes, claims, force) key makes the
//! request, so thousands of concurrent callers across many tenants cause
//! exactly one request per tenant. Hits never enter the flight map.

use std::future::IntoFuture;
use std::sync::Arc;

use super::{ConfidentialClientApplication, Target};
use crate::app::cache_io::Partition;
use crate::app::engine::{EXPIRY_BUFFER_SECS, Engine, Store};
use crate::app::result::AuthenticationResult;
use crate::cache::AccessTokenQuery;
use crate::error::Result;
use crate::http::BoxFuture;
use crate::protocol::token::TokenForm;
use crate::protocol::{grant, scopes};

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
    app: ConfidentialClientApplication,
    scopes: Vec<String>,
    force_refresh: bool,
    claims: Option<String>,
    tenant: Option<String>,
}

impl ClientCredentialsRequest {
    pub(super) fn new(app: ConfidentialClientApplication, scopes: Vec<String>) -> Self {
        Self {
            app,
            scopes,
            force_refresh: false,
            claims: None,
            tenant: None,
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

    /// Acts in `tenant` (a tenant id or domain) instead of the configured
    /// authority's tenant, on the same host.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
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

/// What one call works with, shared by its flight.
struct Call {
    engine: Arc<Engine>,
    target: Arc<Target>,
    scopes: Vec<String>,
    /// The `claims` parameter: the challenge merged with client capabilities.
    claims: Option<String>,
    /// Skip the cached token (force_refresh or a claims challenge).
    skip_cache: bool,
}

/// A cached token: usable as is, or due for a proactive refresh.
enum Hit {
    Fresh(AuthenticationResult),
    RefreshDue(AuthenticationResult),
}

impl ClientCredentialsRequest {
    async fn run(self) -> Result<AuthenticationResult> {
        let scopes = scopes::plain(&self.scopes)?;
        let engine = self.app.engine.clone();
        let target = self.app.target(self.tenant.as_deref()).await?;
        let call = Arc::new(Call {
            claims: engine.claims_param(self.claims.as_deref())?,
            skip_cache: self.force_refresh || self.claims.is_some(),
            engine,
            target,
            scopes,
        });
        let mut fallback = None;
        if !call.skip_cache {
            match call.lookup().await? {
                Some(Hit::Fresh(r)) => return Ok(r),
                Some(Hit::RefreshDue(r)) => fallback = Some(r),
                None => {}
            }
        }
        let key = call.flight_key(self.force_refresh);
        let flight = call.clone();
        call.engine
            .flights
            .run(key, move || {
                Box::pin(async move { flight.fly(fallback).await })
            })
            .await
    }
}

impl Call {
    /// Same host, tenant, scopes (any order or case), claims and force flag
    /// = same flight. The leading NUL keeps these apart from silent keys.
    fn flight_key(&self, force: bool) -> String {
        let mut s: Vec<String> = self.scopes.iter().map(|x| x.to_lowercase()).collect();
        s.sort();
        s.dedup();
        format!(
            "\0client_credentials\n{}\n{}\n{}\n{}\n{force}",
            self.target.resolver.authority().host(),
            self.target.realm,
            s.join(" "),
            self.claims.as_deref().unwrap_or("")
        )
    }

    /// The cached app token for these scopes, if one is usable.
    async fn lookup(&self) -> Result<Option<Hit>> {
        let e = &self.engine;
        let env_refs: Vec<&str> = self
            .target
            .environments
            .iter()
            .map(String::as_str)
            .collect();
        let scope_refs: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
        let realms = [self.target.realm.as_str()];
        let now = e.now();
        let q = AccessTokenQuery {
            client_id: &e.client_id,
            home_account_id: None,
            environments: &env_refs,
            realms: &realms,
            scopes: &scope_refs,
            token_type: None,
            key_id: None,
            ext_cache_key: None,
            user_assertion_hash: None,
        };
        let found = e
            .cache
            .access(Partition::app(&self.target.partition_key), |c| {
                c.remove_expired_access_tokens(&q, now);
                Ok(c.find_access_token(&q, now))
            })
            .await?;
        let Some(at) = found.filter(|at| at.expires_on.saturating_sub(now) >= EXPIRY_BUFFER_SECS)
        else {
            return Ok(None);
        };
        let due = at.refresh_on.is_some_and(|r| r <= now);
        let result = e.cached_result(at, None, None);
        Ok(Some(if due {
            Hit::RefreshDue(result)
        } else {
            Hit::Fresh(result)
        }))
    }

    /// The flight: look again (a flight that just landed may have cached
    /// the token), then request it. A still-valid token due for refresh is
    /// returned when the request fails.
    async fn fly(&self, fallback: Option<AuthenticationResult>) -> Result<AuthenticationResult> {
        if !self.skip_cache && fallback.is_none() {
            if let Some(Hit::Fresh(r)) = self.lookup().await? {
                return Ok(r);
            }
        }
        match self.request().await {
            Ok(r) => Ok(r),
            Err(e) => match fallback {
                Some(f) => {
                    tracing::debug!(error = %e, "client credentials: refresh failed, the cached token is still valid");
                    Ok(f)
                }
                None => Err(e),
            },
        }
    }

    async fn request(&self) -> Result<AuthenticationResult> {
        let e = &self.engine;
        let metadata = self.target.resolver.metadata().await?;
        let scope = scopes::join(&self.scopes);
        let mut form = TokenForm::grant(grant::CLIENT_CREDENTIALS, &e.client_id, &scope);
        form.set_opt("claims", self.claims.as_deref());
        let throttle = e.throttle(
            &metadata,
            &[
                grant::CLIENT_CREDENTIALS,
                &scope,
                self.claims.as_deref().unwrap_or(""),
            ],
        );
        tracing::debug!(tenant = %self.target.realm, "client credentials: requesting an app token");
        let response = e.post_token(&metadata, form, throttle, &[]).await?;
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
