//! [`SilentRequest`]: `acquire_token_silent` (spec §5.1, §5.3, §11): the
//! account's cached access token, else a refresh with its own or its
//! family's refresh token. The engine's one path does the rest.

use std::future::IntoFuture;
use std::sync::Arc;

use crate::cache::{AccessTokenQuery, Account, CachedRefreshToken, RefreshTokenQuery, TokenCache};
use crate::engine::{
    AuthenticationResult, CacheIo, Engine, Found, Partition, SingleFlight, Store, TokenFlow,
    acquire,
};
use crate::error::{Error, Result, UiRequiredReason};
use crate::http::BoxFuture;
use crate::protocol::token::TokenForm;
use crate::protocol::{grant, scopes};

/// A silent token request; `.await` it.
///
/// ```no_run
/// # async fn run(app: msal::PublicClientApplication, account: msal::Account) -> msal::Result<()> {
/// let token = app.acquire_token_silent(&["User.Read"], &account).force_refresh(true).await?;
/// # let _ = token; Ok(()) }
/// ```
#[must_use = "a request does nothing until awaited"]
#[derive(Debug)]
pub struct SilentRequest {
    engine: Arc<Engine>,
    scopes: Vec<String>,
    account: Account,
    force_refresh: bool,
    claims: Option<String>,
}

impl SilentRequest {
    pub(crate) fn new(engine: Arc<Engine>, scopes: Vec<String>, account: Account) -> Self {
        Self {
            engine,
            scopes,
            account,
            force_refresh: false,
            claims: None,
        }
    }

    /// Skip the cached access token and redeem the refresh token.
    pub fn force_refresh(mut self, force: bool) -> Self {
        self.force_refresh = force;
        self
    }

    /// A claims challenge from a resource (skips the cached access token).
    pub fn claims(mut self, claims: impl Into<String>) -> Self {
        let c = claims.into();
        self.claims = (!c.trim().is_empty()).then_some(c);
        self
    }
}

impl IntoFuture for SilentRequest {
    type Output = Result<AuthenticationResult>;
    type IntoFuture = BoxFuture<'static, Result<AuthenticationResult>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(run(self))
    }
}

async fn run(r: SilentRequest) -> Result<AuthenticationResult> {
    scopes::validate(&r.scopes)?;
    if r.scopes.is_empty() {
        // Any cached token would match an empty list: name the resource.
        return Err(Error::config(
            "acquire_token_silent needs at least one scope",
        ));
    }
    if r.account.home_account_id().is_empty() {
        return Err(Error::config("the account has no home_account_id"));
    }
    if r.engine.authority().static_realm().is_none() {
        // Domain-name tenants and OIDC issuers: the realm is in the metadata.
        r.engine.resolver.metadata().await?;
    }
    // Only a multi-tenant authority searches the home tenant too.
    let home_tenant = home_tenant(r.account.home_account_id())
        .or(Some(r.account.realm()))
        .filter(|t| !t.is_empty() && r.engine.authority().is_multi_tenant())
        .map(str::to_ascii_lowercase);
    acquire(Silent {
        environments: r.engine.resolver.environments(),
        realms: r.engine.resolver.base_realms(),
        home_tenant,
        engine: r.engine,
        scopes: r.scopes,
        account: r.account,
        force_refresh: r.force_refresh,
        claims: r.claims,
    })
    .await
}

/// The home tenant in a `home_account_id` (`<uid>.<utid>`).
pub(crate) fn home_tenant(home_account_id: &str) -> Option<&str> {
    home_account_id
        .rsplit_once('.')
        .map(|(_, t)| t)
        .filter(|t| !t.is_empty())
}

/// Borrowed environments, realms or scopes of one lookup: on the stack.
type Refs<'a> = smallvec::SmallVec<[&'a str; 8]>;

/// Which refresh-token list a candidate came from (spec §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Family,
    Own,
}

/// One silent call, as the engine runs it.
struct Silent {
    engine: Arc<Engine>,
    scopes: Vec<String>,
    account: Account,
    force_refresh: bool,
    claims: Option<String>,
    /// The configured host first, then its aliases (shared per app).
    environments: Arc<[String]>,
    /// The authority's realms (shared per app); the home tenant is added for
    /// multi-tenant authorities.
    realms: Arc<[String]>,
    home_tenant: Option<String>,
}

impl Silent {
    fn realm_refs(&self) -> Refs<'_> {
        let mut v: Refs<'_> = self.realms.iter().map(String::as_str).collect();
        if let Some(t) = self.home_tenant.as_deref()
            && !v.contains(&t)
        {
            v.push(t);
        }
        v
    }

    /// The account's access token for the scopes under `envs`.
    fn find_in(&self, c: &TokenCache, envs: &[&str], now: i64) -> Option<AuthenticationResult> {
        let hai = self.account.home_account_id();
        let realms = self.realm_refs();
        let scope_refs: Refs<'_> = self.scopes.iter().map(String::as_str).collect();
        let q = AccessTokenQuery {
            client_id: &self.engine.client_id,
            home_account_id: Some(hai),
            environments: envs,
            realms: &realms,
            scopes: &scope_refs,
            ..AccessTokenQuery::default()
        };
        let token = c.find_shared_token(&q, now)?;
        let id_token =
            c.find_shared_id_token(hai, envs, &self.engine.client_id, token.realm.as_deref());
        Some(AuthenticationResult {
            token,
            account: Some(self.account.clone()),
            id_token,
            claims: std::sync::OnceLock::new(),
            source: crate::engine::TokenSource::Cache,
        })
    }

    /// The refresh-token candidates under `envs`, family first (spec §5.3).
    fn candidates(&self, c: &TokenCache, envs: &[&str]) -> Vec<(Phase, CachedRefreshToken)> {
        let hai = self.account.home_account_id();
        let own = RefreshTokenQuery {
            home_account_id: hai,
            environments: envs,
            client_id: Some(&self.engine.client_id),
            family_id: None,
            user_assertion_hash: None,
        };
        let family = match c.app_metadata(envs, &self.engine.client_id) {
            // Family status unknown: any family RT may work (Python, .NET).
            None => Some("1".to_owned()),
            Some(m) => m.family_id.filter(|f| !f.is_empty()),
        };
        let mut list: Vec<(Phase, CachedRefreshToken)> = Vec::new();
        if let Some(f) = &family {
            let q = RefreshTokenQuery {
                family_id: Some(f),
                client_id: None,
                ..own
            };
            list.extend(
                c.find_refresh_tokens(&q)
                    .into_iter()
                    .map(|rt| (Phase::Family, rt)),
            );
        }
        for rt in c.find_refresh_tokens(&own) {
            if !list.iter().any(|(_, x)| x.handle == rt.handle) {
                list.push((Phase::Own, rt));
            }
        }
        list
    }

    /// Tries the candidates in order (spec §5.3): the first success, else
    /// the most relevant error.
    async fn redeem(
        &self,
        candidates: Vec<(Phase, CachedRefreshToken)>,
    ) -> Result<AuthenticationResult> {
        let mut own_err = None;
        let mut family_err = None;
        let mut skip_family = false;
        for (phase, rt) in candidates {
            if phase == Phase::Family && skip_family {
                continue;
            }
            match self.refresh_with(&rt).await {
                Ok(r) => return Ok(r),
                // Not reached, or throttled: the next candidate would go to
                // the same server. (The engine falls back to a still-valid
                // cached token.)
                Err(e) if !is_answer(&e) => return Err(e),
                Err(e) => {
                    let mismatch = matches!(&e, Error::UiRequired { suberror: Some(s), .. } if s == "client_mismatch");
                    match phase {
                        Phase::Family => {
                            skip_family |= mismatch;
                            family_err = Some(e);
                        }
                        Phase::Own => own_err = Some(e),
                    }
                }
            }
        }
        Err(own_err.or(family_err).unwrap_or_else(no_tokens))
    }

    /// One refresh-token redemption at the configured authority.
    async fn refresh_with(&self, rt: &CachedRefreshToken) -> Result<AuthenticationResult> {
        let e = &self.engine;
        let metadata = e.resolver.metadata().await?;
        let decorated = scopes::decorate(&self.scopes)?;
        let scope = scopes::join(&decorated);
        let mut form = TokenForm::grant(grant::REFRESH_TOKEN, &e.client_id, &scope);
        form.set("refresh_token", rt.secret.expose_secret());
        let claims = e.claims_param(self.claims.as_deref())?;
        form.set_opt("claims", claims.as_deref());
        let hai = self.account.home_account_id();
        let mut headers = Vec::new();
        if let Some((uid, utid)) = hai.rsplit_once('.') {
            headers.push(("X-AnchorMailbox", format!("Oid:{uid}@{utid}")));
        }
        let throttle = e.throttle(
            &metadata,
            &[
                &scope,
                hai,
                rt.secret.expose_secret(),
                claims.as_deref().unwrap_or(""),
            ],
        );
        tracing::debug!(
            account = e.pii(hai),
            family = rt.family_id.is_some(),
            "silent: redeeming a refresh token"
        );
        let response = e.post_token(&metadata, form, throttle, &headers).await?;
        e.store(
            Partition::user(hai),
            Store {
                response: &response,
                metadata: &metadata,
                environment: e.authority().host(),
                requested_scopes: &decorated,
                account_source: None,
                username_hint: None,
                rotate: Some(&rt.handle),
                nonce: None,
                known_account: Some(&self.account),
                user_assertion_hash: None,
            },
        )
        .await
    }
}

fn no_tokens() -> Error {
    Error::UiRequired {
        reason: UiRequiredReason::NoTokensFound,
        suberror: None,
        claims: None,
    }
}

/// Whether an error came from the server's answer (try the next candidate)
/// rather than from not reaching it (stop: the next one would fail too).
/// A 429 or 5xx is not an answer about this refresh token: the next
/// candidate would go to the same busy server, so stop there.
fn is_answer(e: &Error) -> bool {
    match e {
        Error::Service(_) => !e.is_retryable(),
        _ => matches!(e, Error::UiRequired { .. } | Error::Protocol(_)),
    }
}

impl TokenFlow for Silent {
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
        Partition::user(self.account.home_account_id())
    }

    fn skip_cache(&self) -> bool {
        self.force_refresh || self.claims.is_some()
    }

    /// Same account, scopes (any order or case), claims and force flag =
    /// same flight.
    fn flight_key(&self) -> String {
        let mut s: Vec<String> = self.scopes.iter().map(|x| x.to_lowercase()).collect();
        s.sort();
        s.dedup();
        format!(
            "\0silent\n{}\n{}\n{}\n{}\n{}",
            self.account.home_account_id(),
            self.account.environment(),
            s.join(" "),
            self.claims.as_deref().unwrap_or(""),
            self.force_refresh
        )
    }

    fn find(&self, cache: &TokenCache, now: i64) -> Option<AuthenticationResult> {
        let envs: Refs<'_> = self.environments.iter().map(String::as_str).collect();
        self.find_in(cache, &envs, now)
    }

    async fn fetch(&self) -> Result<AuthenticationResult> {
        let mut envs = self.environments.clone();
        let mut discovered = false;
        loop {
            let refs: Vec<&str> = envs.iter().map(String::as_str).collect();
            let now = self.now();
            let (found, candidates) = self
                .engine
                .cache
                .read(self.partition(), |c| {
                    let found = if discovered && !self.skip_cache() {
                        self.find_in(c, &refs, now)
                    } else {
                        None
                    };
                    (found, self.candidates(c, &refs))
                })
                .await?;
            // Found under an alias that discovery named.
            match crate::engine::classify(found, now) {
                Some(Found::Fresh(r)) => return Ok(r),
                Some(Found::Due(r)) if candidates.is_empty() => return Ok(r),
                Some(Found::Due(r)) => return Ok(self.redeem(candidates).await.unwrap_or(r)),
                None => {}
            }
            if !candidates.is_empty() {
                return self.redeem(candidates).await;
            }
            // Nothing under these environments: discovery may know more
            // aliases (spec §5.1 step 3).
            if discovered {
                break;
            }
            discovered = true;
            let more: Arc<[String]> = self.engine.resolver.discovered_environments().await?.into();
            if more == envs {
                break;
            }
            envs = more;
        }
        tracing::debug!(
            account = self.engine.pii(self.account.home_account_id()),
            "silent: no token in the cache for this account"
        );
        Err(no_tokens())
    }
}
