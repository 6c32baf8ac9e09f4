//! [`ConfidentialClientApplication`]: web apps, web APIs and daemons, which
//! hold a credential ([`ClientCredential`]).
//!
//! Their cache is partitioned (spec §7.3): app tokens per client and tenant
//! (`<client_id>_<tenant>_AppTokenCache`), on-behalf-of tokens per incoming
//! assertion (its hash), a user's tokens per `home_account_id`. Each
//! partition is loaded and saved alone through the [`CacheAccess`] hooks;
//! without hooks of your own, they are kept in a [`MemoryStore`] (bounded
//! in bytes, entries expiring with their tokens).

mod auth_code;
mod client_credentials;
mod obo;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub use auth_code::{AuthorizationCodeRequest, AuthorizationRequest, AuthorizationUrlRequest};
pub use client_credentials::ClientCredentialsRequest;
pub use obo::{OnBehalfOfRequest, user_assertion_hash};

use super::cache_io::{CacheIo, Partition, app_partition_key};
use super::engine::{Engine, EngineConfig};
use super::public::to_strings;
use super::settings::{CommonSettings, common_setters};
use crate::authority::{Authority, AuthorityKind, AuthorityResolver};
use crate::cache::Account;
use crate::credentials::{ClientAuth, ClientCredential};
use crate::error::{Error, Result};
use crate::flows::SilentRequest;
use crate::managed_identity::WorkloadIdentity;
use crate::secret::{Assertion, AuthorizationCode};
use crate::storage::{CacheAccess, MemoryStore, StoreAccess};

/// A web app, web API or daemon: an app with a credential.
///
/// Cheap to clone: clones share one engine (HTTP client, cache hooks,
/// single-flight map).
///
/// ```no_run
/// # async fn run() -> msal::Result<()> {
/// use msal::ConfidentialClientApplication;
/// use msal::credentials::ClientCredential;
/// use msal::secret::ClientSecret;
/// let daemon = ConfidentialClientApplication::builder(
///     "11111111-2222-3333-4444-555555555555",
///     ClientCredential::secret(ClientSecret::new("from your key vault")),
/// )
/// .authority("https://login.microsoftonline.com/contoso.onmicrosoft.com")
/// .build()?;
/// let token = daemon.acquire_token_for_client(&["https://graph.microsoft.com/.default"]).await?;
/// # let _ = token; Ok(()) }
/// ```
#[derive(Clone)]
pub struct ConfidentialClientApplication {
    pub(crate) engine: Arc<Engine>,
    instance_discovery: bool,
    /// Resolved app-token targets per tenant (see [`Target`]).
    targets: Arc<RwLock<HashMap<String, Arc<Target>>>>,
}

/// Where app tokens of one tenant are requested and cached: resolved once,
/// so a cache hit parses no URL and takes no process-wide lock.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) resolver: AuthorityResolver,
    pub(crate) realm: String,
    pub(crate) partition_key: String,
    /// The configured host first, then its aliases.
    pub(crate) environments: Vec<String>,
}

/// More tenants than this in the target map: it starts over (a bound, not a cache policy).
const MAX_TARGETS: usize = 100_000;

impl std::fmt::Debug for ConfidentialClientApplication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfidentialClientApplication")
            .field("client_id", &self.engine.client_id)
            .field("authority", &self.engine.authority().as_str())
            .finish_non_exhaustive()
    }
}

/// Configures a [`ConfidentialClientApplication`]. Setters never fail;
/// [`build`](Self::build) reports the first problem.
#[must_use]
pub struct ConfidentialClientApplicationBuilder {
    client_id: String,
    credential: ClientCredential,
    common: CommonSettings,
}

impl std::fmt::Debug for ConfidentialClientApplicationBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfidentialClientApplicationBuilder")
            .field("client_id", &self.client_id)
            .field("credential", &self.credential)
            .field("common", &self.common)
            .finish_non_exhaustive()
    }
}

impl ConfidentialClientApplicationBuilder {
    common_setters!();

    /// The cache storage: hooks called around every cache access with the
    /// partition key, e.g. `StoreAccess::new(RedisStore)`. Each access
    /// loads its partition alone; `before_access` returning `None` means the
    /// partition is empty. Default: a [`MemoryStore`] (256 MiB).
    pub fn cache_access(mut self, hooks: Arc<dyn CacheAccess>) -> Self {
        self.common.cache_access = Some(hooks);
        self
    }

    /// Builds the app.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty client id, a bad authority, or (without
    /// the `reqwest` feature) a missing HTTP client.
    pub fn build(self) -> Result<ConfidentialClientApplication> {
        let s = self.common.resolve(&self.client_id)?;
        let hooks = s.cache_access.unwrap_or_else(|| {
            Arc::new(StoreAccess::new(
                MemoryStore::builder().clock(s.clock.clone()).build(),
            ))
        });
        let mut engine = Engine::new(EngineConfig {
            client_id: s.client_id.clone(),
            authority: s.authority,
            instance_discovery: s.instance_discovery,
            http: s.http,
            clock: s.clock,
            cache_access: None,
            client_capabilities: s.capabilities,
            pii_logging: s.pii,
            client_auth: Some(Arc::new(ClientAuth::new(s.client_id, self.credential))),
        });
        engine.cache = CacheIo::partitioned(hooks);
        Ok(ConfidentialClientApplication {
            engine: Arc::new(engine),
            instance_discovery: s.instance_discovery,
            targets: Arc::default(),
        })
    }
}

impl ConfidentialClientApplication {
    /// Starts configuring an app registered as `client_id` that proves its
    /// identity with `credential`.
    pub fn builder(
        client_id: impl Into<String>,
        credential: ClientCredential,
    ) -> ConfidentialClientApplicationBuilder {
        ConfidentialClientApplicationBuilder {
            client_id: client_id.into(),
            credential,
            common: CommonSettings::default(),
        }
    }

    /// Starts configuring an app with workload identity federation: the
    /// client id, tenant, authority host and federated token file from
    /// [`WorkloadIdentity`] (`AZURE_CLIENT_ID`, `AZURE_TENANT_ID`,
    /// `AZURE_AUTHORITY_HOST`, `AZURE_FEDERATED_TOKEN_FILE`).
    ///
    /// ```no_run
    /// # async fn run() -> msal::Result<()> {
    /// use msal::ConfidentialClientApplication;
    /// use msal::managed_identity::{Environment, WorkloadIdentity};
    /// let wi = WorkloadIdentity::from_environment(&Environment::process())?;
    /// let app = ConfidentialClientApplication::from_workload_identity(wi).build()?;
    /// let token = app.acquire_token_for_client(&["https://vault.azure.net/.default"]).await?;
    /// # let _ = token; Ok(()) }
    /// ```
    pub fn from_workload_identity(
        settings: WorkloadIdentity,
    ) -> ConfidentialClientApplicationBuilder {
        let authority = settings.authority();
        Self::builder(
            settings.client_id,
            ClientCredential::workload_identity(settings.assertion),
        )
        .authority(authority)
    }

    /// The app's client id.
    pub fn client_id(&self) -> &str {
        &self.engine.client_id
    }

    /// The configured authority.
    pub fn authority(&self) -> &Authority {
        self.engine.authority()
    }

    /// An app token (client credentials grant) for `scopes`, typically
    /// `<resource>/.default`: from the cache (partition
    /// `<client_id>_<tenant>_AppTokenCache`) while it has more than five
    /// minutes left, else from the identity provider. Concurrent calls for
    /// the same tenant and scopes share one request.
    pub fn acquire_token_for_client<S: AsRef<str>>(
        &self,
        scopes: &[S],
    ) -> ClientCredentialsRequest {
        ClientCredentialsRequest::new(self.clone(), to_strings(scopes))
    }

    /// A token for a downstream API on behalf of the user whose token
    /// (`assertion`) this web API received. Cached per assertion (partition
    /// = [`user_assertion_hash`]); an expired token is refreshed with the
    /// cached refresh token, else a new on-behalf-of request is made.
    pub fn acquire_token_on_behalf_of<S: AsRef<str>>(
        &self,
        scopes: &[S],
        assertion: Assertion,
    ) -> OnBehalfOfRequest {
        OnBehalfOfRequest::new(self.engine.clone(), to_strings(scopes), assertion)
    }

    /// The URL to send a user's browser to for sign-in (web apps), with a
    /// fresh `state`, `nonce` and PKCE pair to keep in the user's session.
    pub fn authorization_request_url<S: AsRef<str>>(
        &self,
        scopes: &[S],
        redirect_uri: &str,
    ) -> AuthorizationUrlRequest {
        AuthorizationUrlRequest::new(
            self.engine.clone(),
            to_strings(scopes),
            redirect_uri.to_owned(),
        )
    }

    /// Redeems the authorization code a web app received on its redirect
    /// URI, caching the user's tokens in their own partition
    /// (`home_account_id`).
    pub fn acquire_token_by_authorization_code<S: AsRef<str>>(
        &self,
        scopes: &[S],
        code: AuthorizationCode,
        redirect_uri: &str,
    ) -> AuthorizationCodeRequest {
        AuthorizationCodeRequest::new(
            self.engine.clone(),
            to_strings(scopes),
            code,
            redirect_uri.to_owned(),
        )
    }

    /// A token for a signed-in `account` without user interaction: from its
    /// partition of the cache, or by redeeming its refresh token.
    pub fn acquire_token_silent<S: AsRef<str>>(
        &self,
        scopes: &[S],
        account: &Account,
    ) -> SilentRequest {
        SilentRequest::new(self.engine.clone(), to_strings(scopes), account.clone())
    }

    /// The account with `home_account_id`, read from its partition.
    ///
    /// # Errors
    /// Cache and hook errors.
    pub async fn account(&self, home_account_id: &str) -> Result<Option<Account>> {
        let envs = self.engine.resolver.known_environments();
        let refs: Vec<&str> = envs.iter().map(String::as_str).collect();
        self.engine
            .cache
            .access(Partition::user(home_account_id), |c| {
                Ok(c.accounts(&refs)
                    .into_iter()
                    .find(|a| a.home_account_id.eq_ignore_ascii_case(home_account_id)))
            })
            .await
    }

    /// The accounts in the unpartitioned part of the cache (hooks called
    /// with no partition key). Web apps store each user in their own
    /// partition: use [`account`](Self::account) with the signed-in user's
    /// `home_account_id` instead.
    ///
    /// # Errors
    /// Cache and hook errors.
    pub async fn accounts(&self) -> Result<Vec<Account>> {
        self.engine.accounts().await
    }

    /// Removes `account`'s tokens from its partition (spec §6.2), e.g. when
    /// the user signs out of the web app.
    ///
    /// # Errors
    /// Cache and hook errors.
    pub async fn remove_account(&self, account: &Account) -> Result<()> {
        self.engine.remove_account(account).await
    }

    /// The app-token target of `tenant` (the configured one when `None`).
    /// Kept once the authority's metadata is known (so discovery, when it
    /// applies, has run and the environment list is final).
    ///
    /// # Errors
    /// A bad tenant; metadata errors when the realm needs a request.
    pub(crate) async fn target(&self, tenant: Option<&str>) -> Result<Arc<Target>> {
        let key = tenant
            .map(|t| t.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if let Some(t) = self
            .targets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(t.clone());
        }
        let resolver = self.resolver_for(tenant)?;
        let realm = match resolver.known_realm() {
            Some(r) => r,
            None => resolver.realm().await?,
        };
        let target = Arc::new(Target {
            partition_key: app_partition_key(&self.engine.client_id, &realm),
            environments: resolver.known_environments(),
            realm,
            resolver,
        });
        if target.resolver.cached_metadata().is_some() {
            let mut map = self.targets.write().unwrap_or_else(|p| p.into_inner());
            if map.len() >= MAX_TARGETS {
                map.clear();
            }
            map.insert(key, target.clone());
        }
        Ok(target)
    }

    /// The resolver for `tenant` (the configured authority when `None`).
    pub(crate) fn resolver_for(&self, tenant: Option<&str>) -> Result<AuthorityResolver> {
        let configured = self.engine.authority();
        let Some(t) = tenant.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(self.engine.resolver.clone());
        };
        if t.eq_ignore_ascii_case(configured.tenant()) {
            return Ok(self.engine.resolver.clone());
        }
        if !matches!(
            configured.kind(),
            AuthorityKind::Entra | AuthorityKind::Ciam
        ) {
            return Err(Error::config(
                "a per-request tenant needs an Entra ID authority (not B2C, ADFS or a generic OIDC issuer)",
            ));
        }
        if t.contains(['/', '?', '#', '\\']) || t.chars().any(char::is_whitespace) {
            return Err(Error::config(format!("{t:?} is not a tenant id or domain")));
        }
        let authority = Authority::parse(&format!("{}/{t}", configured.origin()))?;
        Ok(AuthorityResolver::new(
            authority,
            self.instance_discovery,
            self.engine.transport.clone(),
        ))
    }
}
