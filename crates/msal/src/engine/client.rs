//! What an OAuth client adds to the engine: configuration, the authority
//! resolver, the transport, the client credential, and the two pieces every
//! OAuth flow is made of: "redeem at the token endpoint" and "write the
//! response through to the cache".
//!
//! Public and confidential applications wrap one [`Engine`] each.

use std::sync::Arc;
use std::time::SystemTime;

use url::Url;

use super::cache_io::{CacheIo, Partition};
use super::result::{AuthenticationResult, TokenSource};
use super::single_flight::SingleFlight;
use super::targets::Targets;
use crate::authority::{Authority, AuthorityKind, AuthorityResolver, OidcMetadata};
use crate::cache::{
    AccessTokenQuery, Account, AuthorityType, EntryHandle, SharedToken, TokenResponse,
    TokenResponseRecord,
};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::http::{BoxFuture, HttpClient};
use crate::protocol::id_token::{self, Expectations, IdTokenClaims};
use crate::protocol::token::{self, TokenForm};
use crate::protocol::{claims, scopes};
use crate::storage::CacheAccess;
use crate::transport::Transport;
use crate::transport::throttle::Throttle;

/// The lifetime assumed when a response gives no `expires_in` (MSAL Python).
pub(crate) const DEFAULT_LIFETIME_SECS: i64 = 600;

/// Adds a confidential client's credentials to every token-endpoint form
/// (client secret, signed assertion, ...). Public clients have none.
pub(crate) trait ClientAuthentication: Send + Sync + 'static {
    /// Adds the credential fields to `form`, bound for `token_endpoint`.
    fn apply<'a>(
        &'a self,
        form: &'a mut TokenForm,
        token_endpoint: &'a Url,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<()>>;
}

/// What an engine is built from.
pub(crate) struct EngineConfig {
    pub(crate) client_id: String,
    pub(crate) authority: Authority,
    pub(crate) instance_discovery: bool,
    pub(crate) http: Arc<dyn HttpClient>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) cache_access: Option<Arc<dyn CacheAccess>>,
    pub(crate) client_capabilities: Vec<String>,
    pub(crate) pii_logging: bool,
    pub(crate) client_auth: Option<Arc<dyn ClientAuthentication>>,
}

/// The shared engine. Always used through an `Arc`.
pub(crate) struct Engine {
    pub(crate) client_id: String,
    pub(crate) resolver: AuthorityResolver,
    pub(crate) transport: Transport,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) cache: CacheIo,
    pub(crate) capabilities: Vec<String>,
    pub(crate) pii: bool,
    client_auth: Option<Arc<dyn ClientAuthentication>>,
    pub(crate) flights: SingleFlight,
    /// Confidential clients: where each tenant's app tokens live.
    pub(crate) targets: Targets,
    /// Confidential clients: the region of app-token requests (ESTS-R).
    pub(crate) region: Option<crate::authority::Region>,
    /// The region, once resolved (`None`: the global endpoint).
    pub(crate) region_resolved: tokio::sync::OnceCell<Option<String>>,
    /// Certificate apps: mTLS proof-of-possession requests.
    pub(crate) mtls: Option<Box<super::Mtls>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("client_id", &self.client_id)
            .field("authority", &self.resolver.authority().as_str())
            .field("client_auth", &self.client_auth.as_ref().map(|_| "set"))
            .finish_non_exhaustive()
    }
}

/// What [`Engine::store`] writes.
pub(crate) struct Store<'a> {
    pub(crate) response: &'a TokenResponse,
    pub(crate) metadata: &'a OidcMetadata,
    /// The host to store under (the configured one, spec §3.3).
    pub(crate) environment: &'a str,
    /// What was sent (decorated for user flows).
    pub(crate) requested_scopes: &'a [String],
    /// The grant; `None` = write no Account entry (silent refresh).
    pub(crate) account_source: Option<&'a str>,
    pub(crate) username_hint: Option<&'a str>,
    pub(crate) rotate: Option<&'a EntryHandle>,
    /// The nonce an interactive sign-in sent (the ID token must echo it).
    pub(crate) nonce: Option<&'a str>,
    /// The account to report when the cache writes none (silent refresh).
    pub(crate) known_account: Option<&'a Account>,
    pub(crate) user_assertion_hash: Option<&'a str>,
}

impl Engine {
    /// Builds the engine.
    pub(crate) fn new(c: EngineConfig) -> Self {
        let transport = Transport::new(c.http, c.clock.clone());
        Self {
            client_id: c.client_id,
            resolver: AuthorityResolver::new(c.authority, c.instance_discovery, transport.clone()),
            transport,
            clock: c.clock,
            cache: CacheIo::new(c.cache_access),
            capabilities: c.client_capabilities,
            pii: c.pii_logging,
            client_auth: c.client_auth,
            flights: SingleFlight::default(),
            targets: Targets::new(c.instance_discovery),
            region: None,
            region_resolved: tokio::sync::OnceCell::new(),
            mtls: None,
        }
    }

    /// The configured authority.
    pub(crate) fn authority(&self) -> &Authority {
        self.resolver.authority()
    }

    /// Now, in Unix seconds.
    pub(crate) fn now(&self) -> i64 {
        self.clock.unix_now()
    }

    /// `value` for a log line: itself with PII logging on, else a placeholder.
    pub(crate) fn pii<'a>(&self, value: &'a str) -> &'a str {
        if self.pii { value } else { "<pii>" }
    }

    /// The `claims` parameter: `challenge` merged with the client capabilities.
    ///
    /// # Errors
    /// [`Error::Config`] when `challenge` is not a JSON object.
    pub(crate) fn claims_param(&self, challenge: Option<&str>) -> Result<Option<String>> {
        claims::merge(challenge, &self.capabilities)
    }

    /// POSTs `form` to the token endpoint (adding the client credential, if
    /// any) and parses the answer.
    ///
    /// # Errors
    /// Transport errors, [`Error::Throttled`], and the mapped OAuth error.
    pub(crate) async fn post_token(
        &self,
        metadata: &OidcMetadata,
        form: TokenForm,
        throttle: Throttle,
        headers: &[(&str, String)],
    ) -> Result<TokenResponse> {
        self.post_token_to(&metadata.token_endpoint, form, throttle, headers)
            .await
    }

    /// [`post_token`](Self::post_token) to `endpoint` (a regional form of
    /// the token endpoint); client assertions are addressed to it.
    pub(crate) async fn post_token_to(
        &self,
        endpoint: &Url,
        mut form: TokenForm,
        throttle: Throttle,
        headers: &[(&str, String)],
    ) -> Result<TokenResponse> {
        if let Some(auth) = &self.client_auth {
            auth.apply(&mut form, endpoint, self.clock.now()).await?;
        }
        let response = self
            .transport
            .post_form(endpoint, &form.pairs(), headers, throttle)
            .await?;
        token::parse_response(&response, self.clock.now())
    }

    /// The throttle key of a token request made of `parts` (hashed).
    pub(crate) fn throttle(&self, metadata: &OidcMetadata, parts: &[&str]) -> Throttle {
        let mut all = vec![metadata.token_endpoint.as_str(), self.client_id.as_str()];
        all.extend_from_slice(parts);
        Throttle::token(Transport::throttle_key(&all))
    }

    /// Hosts an Entra issuer may name (the configured host and its aliases).
    fn issuer_hosts(&self) -> Vec<String> {
        match self.authority().kind() {
            AuthorityKind::Entra | AuthorityKind::Ciam => self.resolver.known_environments(),
            _ => Vec::new(),
        }
    }

    /// Checks a fresh response's ID token (audience, issuer, nonce), writes
    /// the response through to the cache in `partition`, and builds the result.
    ///
    /// # Errors
    /// [`Error::Protocol`] when the ID token fails a check (nothing is
    /// written) or the response has no access token (the rest is written);
    /// cache and hook errors.
    pub(crate) async fn store(
        &self,
        partition: Partition<'_>,
        s: Store<'_>,
    ) -> Result<AuthenticationResult> {
        let hosts = self.issuer_hosts();
        let claims: Option<IdTokenClaims> = match &s.response.id_token {
            Some(jwt) => Some(id_token::validate(
                jwt.expose_secret(),
                &Expectations {
                    client_id: &self.client_id,
                    issuer: s.metadata.issuer.as_deref(),
                    entra_hosts: &hosts,
                    nonce: s.nonce,
                },
            )?),
            None if s.nonce.is_some() => {
                return Err(Error::protocol(
                    "the sign-in response has no ID token, so its nonce cannot be checked",
                ));
            }
            None => None,
        };
        let realm = s
            .metadata
            .realm()
            .unwrap_or_else(|| self.authority().tenant().to_owned());
        let now = self.now();
        let record = TokenResponseRecord {
            client_id: &self.client_id,
            environment: s.environment,
            realm: &realm,
            authority_type: authority_type(self.authority().kind()),
            requested_scopes: s.requested_scopes,
            response: s.response,
            account_source: s.account_source,
            username_hint: s.username_hint,
            user_assertion_hash: s.user_assertion_hash,
            refresh_token_to_rotate: s.rotate,
            now,
        };
        let written = self
            .cache
            .access(partition, |c| {
                // Hits only read, so the owner's expired tokens go before a
                // write (MSAL Python drops them while it searches).
                if let Some(owner) = s.known_account.map(Account::home_account_id) {
                    c.remove_expired_access_tokens(
                        &AccessTokenQuery {
                            client_id: &self.client_id,
                            home_account_id: Some(owner),
                            environments: &[s.environment],
                            user_assertion_hash: s.user_assertion_hash,
                            ..AccessTokenQuery::default()
                        },
                        now,
                    );
                }
                if s.account_source.is_none() && s.known_account.is_none() {
                    // An app token: its owner is the app.
                    c.remove_expired_access_tokens(
                        &AccessTokenQuery {
                            client_id: &self.client_id,
                            environments: &[s.environment],
                            ext_cache_key: s.response.ext_cache_key.as_deref(),
                            ..AccessTokenQuery::default()
                        },
                        now,
                    );
                }
                c.add(&record)
            })
            .await?;
        let account = written.or_else(|| s.known_account.cloned());
        let Some(access_token) = s.response.access_token.clone() else {
            return Err(Error::protocol("the token response has no access token"));
        };
        let expires_on = match (s.response.expires_in, s.response.expires_on) {
            (Some(i), _) => now.saturating_add(i),
            (None, Some(on)) => on,
            (None, None) => now.saturating_add(DEFAULT_LIFETIME_SECS),
        };
        tracing::debug!(
            account = self.pii(account.as_ref().map(Account::home_account_id).unwrap_or("")),
            expires_in = expires_on.saturating_sub(now),
            "token acquired from the identity provider"
        );
        let token = SharedToken {
            secret: access_token,
            token_type: s.response.token_type.as_deref().unwrap_or("Bearer").into(),
            expires_on,
            refresh_on: s.response.refresh_in.map(|r| now.saturating_add(r)),
            scopes: scopes::granted(s.response.scope.as_deref(), s.requested_scopes).into(),
            realm: Some(realm.into()),
        };
        Ok(AuthenticationResult {
            token: Arc::new(token),
            account,
            id_token: s.response.id_token.clone(),
            claims: std::sync::OnceLock::from(claims),
            source: TokenSource::IdentityProvider,
        })
    }

    /// The accounts in the cache for this authority's environments (spec §6.1).
    ///
    /// # Errors
    /// Cache and hook errors.
    pub(crate) async fn accounts(&self) -> Result<Vec<Account>> {
        let envs = self.resolver.known_environments();
        let found = self.accounts_in(&envs).await?;
        if !found.is_empty() {
            return Ok(found);
        }
        // None under the known hosts: discovery may name more aliases (as MSAL
        // Python does). Listing never fails for want of the network.
        match self.resolver.discovered_environments().await {
            Ok(more) if more != envs => self.accounts_in(&more).await,
            Ok(_) => Ok(found),
            Err(e) => {
                tracing::debug!(error = %e, "accounts: instance discovery failed; listing the known hosts only");
                Ok(found)
            }
        }
    }

    async fn accounts_in(&self, envs: &[String]) -> Result<Vec<Account>> {
        let refs: Vec<&str> = envs.iter().map(String::as_str).collect();
        self.cache
            .access(Partition::UNPARTITIONED, |c| Ok(c.accounts(&refs)))
            .await
    }

    /// Removes `account`'s tokens (spec §6.2) in its own partition, under
    /// its environment and every alias of it: silent calls find tokens under
    /// any alias (Node and .NET write `login.windows.net`), so a sign-out that
    /// left them would not sign the user out. (MSAL Python removes the exact
    /// environment only; .NET every environment.)
    ///
    /// # Errors
    /// Cache and hook errors.
    pub(crate) async fn remove_account(&self, account: &Account) -> Result<()> {
        let mut envs = self.resolver.known_environments();
        if !envs
            .iter()
            .any(|e| e.eq_ignore_ascii_case(account.environment()))
        {
            envs = crate::authority::aliases::environments_of(account.environment());
        }
        self.cache
            .access(Partition::user(account.home_account_id()), |c| {
                for env in &envs {
                    c.remove_account(&account.clone().with_environment(env), &self.client_id);
                }
                Ok(())
            })
            .await?;
        tracing::debug!(
            account = self.pii(account.home_account_id()),
            "account removed from the cache"
        );
        Ok(())
    }
}

/// The cache's authority type for `kind`.
pub(crate) fn authority_type(kind: AuthorityKind) -> AuthorityType {
    match kind {
        AuthorityKind::Adfs => AuthorityType::Adfs,
        AuthorityKind::Oidc => AuthorityType::Generic,
        _ => AuthorityType::Mssts,
    }
}
