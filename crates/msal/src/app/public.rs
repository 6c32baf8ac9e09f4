//! [`PublicClientApplication`]: the app type of desktop, CLI and mobile apps.

use std::sync::Arc;

use super::settings::{CommonSettings, common_setters};
use super::to_strings;
use crate::authority::Authority;
use crate::browser::{BrowserOpener, SystemBrowser};
use crate::cache::{Account, TokenCache};
use crate::engine::{Engine, EngineConfig, Partition};
use crate::error::Result;
use crate::flows::{
    DeviceCodeRequest, InteractiveRequest, RefreshTokenRequest, SilentRequest,
    UsernamePasswordRequest,
};
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
    common: CommonSettings,
    browser: Option<Arc<dyn BrowserOpener>>,
    token_cache: Option<TokenCache>,
}

impl std::fmt::Debug for PublicClientApplicationBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicClientApplicationBuilder")
            .field("client_id", &self.client_id)
            .field("common", &self.common)
            .finish_non_exhaustive()
    }
}

impl PublicClientApplicationBuilder {
    common_setters!();

    /// How interactive sign-ins open the browser (default: [`SystemBrowser`]).
    pub fn browser(mut self, opener: impl BrowserOpener) -> Self {
        self.browser = Some(Arc::new(opener));
        self
    }

    /// Hooks called around every cache access: load and persist the cache
    /// (a file, Redis, ...). Default: the cache lives in memory only.
    pub fn cache_access(mut self, hooks: Arc<dyn CacheAccess>) -> Self {
        self.common.cache_access = Some(hooks);
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

    /// Builds the app.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) for an empty client id, a bad
    /// authority, or (without the `reqwest` feature) a missing HTTP client; errors building the
    /// default HTTP client.
    pub fn build(self) -> Result<PublicClientApplication> {
        let s = self.common.resolve(&self.client_id)?;
        let mut engine = Engine::new(EngineConfig {
            client_id: s.client_id,
            authority: s.authority,
            instance_discovery: s.instance_discovery,
            http: s.http,
            clock: s.clock,
            cache_access: s.cache_access,
            client_capabilities: s.capabilities,
            pii_logging: s.pii,
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

impl PublicClientApplication {
    /// Starts configuring an app registered as `client_id`.
    pub fn builder(client_id: impl Into<String>) -> PublicClientApplicationBuilder {
        PublicClientApplicationBuilder {
            client_id: client_id.into(),
            common: CommonSettings::default(),
            browser: None,
            token_cache: None,
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
    /// Fails with [`Error::UiRequired`](crate::Error::UiRequired) when the user must sign in again.
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
    ///
    /// **Deprecated**, as in every MSAL (2025): Entra's mandatory MFA ends
    /// it for most tenants. It keeps working where the tenant still allows
    /// it; use [`acquire_token_interactive`](Self::acquire_token_interactive)
    /// or [`acquire_token_with_device_code`](Self::acquire_token_with_device_code)
    /// instead (a confidential client: client credentials or a managed
    /// identity).
    #[deprecated(
        since = "0.1.0",
        note = "the password grant is deprecated in every MSAL (it fails with MFA): use interactive or device-code sign-in"
    )]
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
