//! [`PublicClientApplication`]: the app type of desktop, CLI and mobile apps.

use std::sync::Arc;

use super::cache_io::Partition;
use super::engine::{Engine, EngineConfig};
use crate::authority::{Authority, DEFAULT_AUTHORITY, IntoAuthority};
use crate::browser::{BrowserOpener, SystemBrowser};
use crate::cache::{Account, TokenCache};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::flows::{
    DeviceCodeRequest, InteractiveRequest, RefreshTokenRequest, SilentRequest,
    UsernamePasswordRequest,
};
use crate::http::HttpClient;
use crate::protocol::device_code::DeviceCodeInfo;
use crate::secret::{Password, RefreshTokenSecret};
use crate::storage::CacheAccess;

/// An app that signs users in and holds no secret: desktop, CLI, mobile.
///
/// Cheap to clone: clones share one engine (cache, HTTP client, metadata).
///
/// ```no_run
/// # async fn run() -> msal::Result<()> {
/// use msal::PublicClientApplication;
/// let app = PublicClientApplication::builder("11111111-2222-3333-4444-555555555555")
///     .authority("https://login.microsoftonline.com/organizations")
///     .build()?;
/// let token = match app.accounts().await?.first() {
///     Some(account) => match app.acquire_token_silent(&["User.Read"], account).await {
///         Ok(t) => t,
///         Err(e) if e.is_ui_required() => app.acquire_token_interactive(&["User.Read"]).await?,
///         Err(e) => return Err(e),
///     },
///     None => app.acquire_token_interactive(&["User.Read"]).await?,
/// };
/// println!("expires {:?}", token.expires_on());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PublicClientApplication {
    pub(crate) engine: Arc<Engine>,
    pub(crate) browser: Arc<dyn BrowserOpener>,
}

impl std::fmt::Debug for PublicClientApplication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicClientApplication")
            .field("client_id", &self.engine.client_id)
            .field("authority", &self.engine.authority().as_str())
            .finish_non_exhaustive()
    }
}

/// Configures a [`PublicClientApplication`]. Setters never fail;
/// [`build`](Self::build) reports the first problem.
#[must_use]
pub struct PublicClientApplicationBuilder {
    client_id: String,
    authority: Option<Result<Authority>>,
    instance_discovery: bool,
    http: Option<Arc<dyn HttpClient>>,
    clock: Option<Arc<dyn Clock>>,
    browser: Option<Arc<dyn BrowserOpener>>,
    cache_access: Option<Arc<dyn CacheAccess>>,
    token_cache: Option<TokenCache>,
    capabilities: Vec<String>,
    pii: bool,
}

impl std::fmt::Debug for PublicClientApplicationBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicClientApplicationBuilder")
            .field("client_id", &self.client_id)
            .field("instance_discovery", &self.instance_discovery)
            .field("http", &self.http.as_ref().map(|_| "set"))
            .field("cache_access", &self.cache_access.as_ref().map(|_| "set"))
            .finish_non_exhaustive()
    }
}

impl PublicClientApplicationBuilder {
    /// The authority: an Entra tenant (`https://login.microsoftonline.com/<tenant
    /// id, domain, common, organizations or consumers>`, any cloud), a B2C URL
    /// with its policy, an ADFS URL (`https://<host>/adfs`), a CIAM URL, or an
    /// [`Authority`]. Default: `https://login.microsoftonline.com/common`.
    pub fn authority(mut self, authority: impl IntoAuthority) -> Self {
        self.authority = Some(authority.into_authority());
        self
    }

    /// A generic OpenID Connect provider, by its issuer URL.
    pub fn oidc_authority(mut self, issuer: &str) -> Self {
        self.authority = Some(Authority::oidc(issuer));
        self
    }

    /// Whether to ask the authority's host for its aliases when it is not a
    /// well-known Entra host (default `true`). Turn it off for private
    /// deployments; no discovery request is made then.
    pub fn instance_discovery(mut self, enabled: bool) -> Self {
        self.instance_discovery = enabled;
        self
    }

    /// The HTTP client (default: [`crate::transport::default_http_client`]).
    pub fn http_client(mut self, http: Arc<dyn HttpClient>) -> Self {
        self.http = Some(http);
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// How interactive sign-ins open the browser (default: [`SystemBrowser`]).
    pub fn browser(mut self, opener: impl BrowserOpener) -> Self {
        self.browser = Some(Arc::new(opener));
        self
    }

    /// Hooks called around every cache access: load and persist the cache
    /// (a file, Redis, ...). Default: the cache lives in memory only.
    pub fn cache_access(mut self, hooks: Arc<dyn CacheAccess>) -> Self {
        self.cache_access = Some(hooks);
        self
    }

    /// The cache the app starts with, e.g. one read from a file another MSAL
    /// wrote ([`TokenCache::deserialize`]), as MSAL Python's `token_cache=`.
    /// Read it back with [`PublicClientApplication::serialize_token_cache`].
    /// Hooks set with [`cache_access`](Self::cache_access) still run, and a
    /// document they hand over replaces it.
    pub fn token_cache(mut self, cache: TokenCache) -> Self {
        self.token_cache = Some(cache);
        self
    }

    /// Client capabilities announced to Entra (e.g. `cp1` for continuous
    /// access evaluation), sent as `xms_cc` claims.
    pub fn client_capabilities<I, S>(mut self, capabilities: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.capabilities = capabilities.into_iter().map(Into::into).collect();
        self
    }

    /// Whether logs may carry personal data (account ids, user names).
    /// Tokens and secrets are never logged. Default `false`.
    pub fn enable_pii_logging(mut self, enabled: bool) -> Self {
        self.pii = enabled;
        self
    }

    /// Builds the app.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty client id, a bad authority, or (without
    /// the `reqwest` feature) a missing HTTP client; errors building the
    /// default HTTP client.
    pub fn build(self) -> Result<PublicClientApplication> {
        let client_id = self.client_id.trim().to_owned();
        if client_id.is_empty() {
            return Err(Error::config("the client id is empty"));
        }
        let authority = match self.authority {
            Some(a) => a?,
            None => Authority::parse(DEFAULT_AUTHORITY)?,
        };
        let http = match self.http {
            Some(h) => h,
            None => default_http()?,
        };
        let mut engine = Engine::new(EngineConfig {
            client_id,
            authority,
            instance_discovery: self.instance_discovery,
            http,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            cache_access: self.cache_access,
            client_capabilities: self.capabilities,
            pii_logging: self.pii,
            client_auth: None,
        });
        if let Some(cache) = self.token_cache {
            engine.cache.seed(cache);
        }
        Ok(PublicClientApplication {
            engine: Arc::new(engine),
            browser: self.browser.unwrap_or_else(|| Arc::new(SystemBrowser)),
        })
    }
}

#[cfg(feature = "reqwest")]
fn default_http() -> Result<Arc<dyn HttpClient>> {
    crate::transport::default_http_client()
}

#[cfg(not(feature = "reqwest"))]
fn default_http() -> Result<Arc<dyn HttpClient>> {
    Err(Error::config(
        "no HTTP client: enable the `reqwest` feature or pass one with http_client()",
    ))
}

impl PublicClientApplication {
    /// Starts configuring an app registered as `client_id`.
    pub fn builder(client_id: impl Into<String>) -> PublicClientApplicationBuilder {
        PublicClientApplicationBuilder {
            client_id: client_id.into(),
            authority: None,
            instance_discovery: true,
            http: None,
            clock: None,
            browser: None,
            cache_access: None,
            token_cache: None,
            capabilities: Vec::new(),
            pii: false,
        }
    }

    /// The app's client id.
    pub fn client_id(&self) -> &str {
        &self.engine.client_id
    }

    /// The configured authority.
    pub fn authority(&self) -> &Authority {
        self.engine.authority()
    }

    /// The accounts in the cache (one per home account, for this
    /// authority's cloud; spec §6.1). Calls the cache hooks with no
    /// partition key.
    ///
    /// # Errors
    /// Cache and hook errors.
    pub async fn accounts(&self) -> Result<Vec<Account>> {
        self.engine.accounts().await
    }

    /// The app's whole token cache in the unified format, byte for byte as
    /// MSAL Python would write it: what to save where no
    /// [`cache_access`](PublicClientApplicationBuilder::cache_access) hooks
    /// do it. Calls the hooks with no partition key.
    ///
    /// # Errors
    /// Cache and hook errors.
    pub async fn serialize_token_cache(&self) -> Result<Vec<u8>> {
        self.engine
            .cache
            .access(Partition::UNPARTITIONED, |c| Ok(c.serialize()))
            .await
    }

    /// Signs `account` out of this app's cache: its access and ID tokens,
    /// its accounts, and this app's (and its family's) refresh tokens
    /// (spec §6.2). The browser's session cookie is untouched. Calls the
    /// hooks with the account's `home_account_id` as partition key.
    ///
    /// # Errors
    /// Cache and hook errors.
    pub async fn remove_account(&self, account: &Account) -> Result<()> {
        self.engine.remove_account(account).await
    }

    /// A token for `account` without user interaction: from the cache, or
    /// by redeeming its refresh token. Await the returned request, after
    /// optional settings ([`SilentRequest::force_refresh`], [`SilentRequest::claims`]).
    ///
    /// Fails with [`Error::UiRequired`] when the user must sign in again.
    pub fn acquire_token_silent<S: AsRef<str>>(
        &self,
        scopes: &[S],
        account: &Account,
    ) -> SilentRequest {
        SilentRequest::new(self.engine.clone(), to_strings(scopes), account.clone())
    }

    /// An interactive sign-in: the system browser, the authorization code
    /// flow with PKCE, and a loopback redirect on 127.0.0.1.
    pub fn acquire_token_interactive<S: AsRef<str>>(&self, scopes: &[S]) -> InteractiveRequest {
        InteractiveRequest::new(
            self.engine.clone(),
            self.browser.clone(),
            to_strings(scopes),
        )
    }

    /// A device-code sign-in: `show` gets the code and URL to give the user;
    /// msal then polls until the user has signed in elsewhere.
    pub fn acquire_token_with_device_code<S, F>(&self, scopes: &[S], show: F) -> DeviceCodeRequest
    where
        S: AsRef<str>,
        F: FnOnce(&DeviceCodeInfo) + Send + 'static,
    {
        DeviceCodeRequest::new(self.engine.clone(), to_strings(scopes), Box::new(show))
    }

    /// A sign-in with a username and password (ROPC). Discouraged: it does
    /// not work with MFA, federated or personal accounts.
    pub fn acquire_token_by_username_password<S: AsRef<str>>(
        &self,
        scopes: &[S],
        username: &str,
        password: Password,
    ) -> UsernamePasswordRequest {
        UsernamePasswordRequest::new(
            self.engine.clone(),
            to_strings(scopes),
            username.to_owned(),
            password,
        )
    }

    /// Redeems a refresh token obtained elsewhere (migration from another
    /// library) and caches the result, account included.
    pub fn acquire_token_by_refresh_token<S: AsRef<str>>(
        &self,
        scopes: &[S],
        refresh_token: RefreshTokenSecret,
    ) -> RefreshTokenRequest {
        RefreshTokenRequest::new(self.engine.clone(), to_strings(scopes), refresh_token)
    }
}

pub(crate) fn to_strings<S: AsRef<str>>(scopes: &[S]) -> Vec<String> {
    scopes.iter().map(|s| s.as_ref().to_owned()).collect()
}
