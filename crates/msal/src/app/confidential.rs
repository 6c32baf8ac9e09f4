//! [`ConfidentialClientApplication`]: web apps, web APIs and daemons, which
//! hold a credential ([`ClientCredential`]).
//!
//! Their cache is partitioned (spec §7.3): app tokens per client and tenant
//! (`<client_id>_<tenant>_AppTokenCache`), on-behalf-of tokens per incoming
//! assertion (its hash), a user's tokens per `home_account_id`. Each
//! partition is loaded and saved alone through the [`CacheAccess`] hooks;
//! without hooks of your own, they are kept in a [`MemoryStore`] (bounded
//! in bytes, entries expiring with their tokens).

use std::sync::Arc;

use super::settings::{CommonSettings, common_setters};
use super::to_strings;
use crate::authority::{Authority, Region};
use crate::cache::Account;
use crate::credentials::{ClientAuth, ClientCredential};
use crate::engine::{CacheIo, Engine, EngineConfig, Mtls, Partition};
use crate::error::Result;
use crate::flows::{
    AuthorizationCodeRequest, AuthorizationUrlRequest, ClientCredentialsRequest, OnBehalfOfRequest,
    SilentRequest,
};
use crate::http::HttpClient;
use crate::managed_identity::WorkloadIdentity;
use crate::secret::{Assertion, AuthorizationCode};
use crate::storage::{CacheAccess, DEFAULT_MAX_BYTES};

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
}

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
    region: Option<Region>,
    mtls_http: Option<Arc<dyn HttpClient>>,
}

impl std::fmt::Debug for ConfidentialClientApplicationBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfidentialClientApplicationBuilder")
            .field("client_id", &self.client_id)
            .field("credential", &self.credential)
            .field("common", &self.common)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl ConfidentialClientApplicationBuilder {
    common_setters!();

    /// The cache storage: hooks called around every cache access with the
    /// partition key, e.g. `StoreAccess::new(RedisStore)`. Each access
    /// loads its partition alone; `before_access` returning `None` means the
    /// partition is empty. Default: partitions kept parsed in memory, 256
    /// MiB at most (weighed by serialized size), each dropped once it holds
    /// nothing usable, as a [`MemoryStore`](crate::storage::MemoryStore)
    /// would keep them but with nothing to parse on a hit.
    pub fn cache_access(mut self, hooks: Arc<dyn CacheAccess>) -> Self {
        self.common.cache_access = Some(hooks);
        self
    }

    /// Sends app-token requests ([`acquire_token_for_client`]) to the
    /// regional endpoint of `region` (ESTS-R: `<region>.login.microsoft.com`,
    /// or `<region>.<host>` in a national cloud), for apps that run on Azure.
    /// With [`Region::auto_detect`] the region is `REGION_NAME` or the VM's
    /// location from IMDS; when none is found, or the regional request fails
    /// at the transport level, the global endpoint is used. Tokens are
    /// cached under the global environment, so regional and global tokens
    /// are one. Other flows are not regional.
    ///
    /// [`acquire_token_for_client`]: ConfidentialClientApplication::acquire_token_for_client
    pub fn azure_region(mut self, region: Region) -> Self {
        self.region = Some(region);
        self
    }

    /// The HTTP client of mTLS proof-of-possession token requests
    /// ([`ClientCredentialsRequest::mtls_proof_of_possession`]); it must
    /// present the app's certificate as its TLS client certificate (e.g. a
    /// [`ReqwestHttpClient`](crate::http::ReqwestHttpClient) built with
    /// `client_certificate`). Default: a `ReqwestHttpClient` with the
    /// certificate of the app's credential and the platform's roots.
    pub fn mtls_http_client(mut self, http: Arc<dyn HttpClient>) -> Self {
        self.mtls_http = Some(http);
        self
    }

    /// Builds the app.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) for an empty client id, a bad authority, or (without
    /// the `reqwest` feature) a missing HTTP client.
    pub fn build(self) -> Result<ConfidentialClientApplication> {
        let s = self.common.resolve(&self.client_id)?;
        let cache = match s.cache_access {
            Some(hooks) => CacheIo::stored(hooks),
            None => CacheIo::memory_partitions(DEFAULT_MAX_BYTES, s.clock.clone()),
        };
        let mtls = self
            .credential
            .as_certificate()
            .map(|c| Box::new(Mtls::new(c.clone(), self.mtls_http)));
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
        engine.cache = cache;
        engine.region = self.region;
        engine.mtls = mtls;
        Ok(ConfidentialClientApplication {
            engine: Arc::new(engine),
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
            region: None,
            mtls_http: None,
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
        ClientCredentialsRequest::new(self.engine.clone(), to_strings(scopes))
    }

    /// A token for a downstream API on behalf of the user whose token
    /// (`assertion`) this web API received. Cached per assertion (partition
    /// = [`user_assertion_hash`](crate::storage::user_assertion_hash)); an expired token is refreshed with the
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
        let envs = self.engine.resolver.environments();
        let refs: Vec<&str> = envs.iter().map(String::as_str).collect();
        self.engine
            .cache
            .read(Partition::user(home_account_id), |c| {
                c.accounts(&refs)
                    .into_iter()
                    .find(|a| a.home_account_id().eq_ignore_ascii_case(home_account_id))
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
}
