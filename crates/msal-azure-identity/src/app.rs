//! App tokens (client credentials grant): [`ConfidentialClientCredential`]
//! (secret, certificate, assertion), [`EnvironmentCredential`] (a service
//! principal from `AZURE_*` variables) and [`WorkloadIdentityCredential`]
//! (a federated token file, as AKS and CI systems provide).

use std::path::PathBuf;
use std::sync::Arc;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use msal::ConfidentialClientApplication;
use msal::ConfidentialClientApplicationBuilder;
use msal::clock::{Clock, SystemClock};
use msal::credentials::{Certificate, ClientCredential};
use msal::http::HttpClient;
use msal::managed_identity::Environment;
use msal::secret::ClientSecret;
use msal::storage::CacheAccess;
use zeroize::Zeroizing;

use crate::env;
use crate::error::{Failure, config_error};
use crate::memo::Memo;
use crate::token::{access_token, check_scopes, unix};

/// What every app credential's builder can set besides its identity.
#[derive(Default)]
pub(crate) struct AppOptions {
    pub(crate) http: Option<Arc<dyn HttpClient>>,
    pub(crate) clock: Option<Arc<dyn Clock>>,
    pub(crate) cache: Option<Arc<dyn CacheAccess>>,
    pub(crate) capabilities: Vec<String>,
}

impl AppOptions {
    /// Applies the options to `b`, and returns the clock they use.
    fn apply(
        self,
        mut b: ConfidentialClientApplicationBuilder,
    ) -> (ConfidentialClientApplicationBuilder, Arc<dyn Clock>) {
        if let Some(http) = self.http {
            b = b.http_client(http);
        }
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        b = b.clock(clock.clone());
        if let Some(cache) = self.cache {
            b = b.cache_access(cache);
        }
        if !self.capabilities.is_empty() {
            b = b.client_capabilities(self.capabilities);
        }
        (b, clock)
    }

    /// Builds the app for `b` and wraps it under `name`.
    fn build(
        self,
        b: ConfidentialClientApplicationBuilder,
        name: &'static str,
    ) -> Result<AppTokens, msal::Error> {
        let (b, clock) = self.apply(b);
        Ok(AppTokens {
            app: b.build()?,
            name,
            memo: Some(Memo::new(clock)),
        })
    }
}

/// Setters of [`AppOptions`] on a builder with an `options` field.
macro_rules! app_setters {
    () => {
        /// The HTTP client (default: msal's, with the OS's roots and the
        /// `HTTPS_PROXY`/`NO_PROXY` variables).
        pub fn http_client(mut self, http: std::sync::Arc<dyn msal::http::HttpClient>) -> Self {
            self.options.http = Some(http);
            self
        }

        /// The clock deciding token expiry (default: the system clock).
        pub fn clock(mut self, clock: std::sync::Arc<dyn msal::clock::Clock>) -> Self {
            self.options.clock = Some(clock);
            self
        }

        /// Where app tokens are cached (default: in memory, for this
        /// process). Give a [`msal_cache_file::FileCache`] (or any
        /// `CacheAccess`, e.g. a `StoreAccess` over Redis) so that the next
        /// run of the program, or another process, is served from it.
        pub fn cache_access(
            mut self,
            cache: std::sync::Arc<dyn msal::storage::CacheAccess>,
        ) -> Self {
            self.options.cache = Some(cache);
            self
        }

        /// Client capabilities (`cp1`: the program handles claims
        /// challenges), fixed for the credential's life.
        pub fn client_capabilities<I, S>(mut self, capabilities: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.options.capabilities = capabilities.into_iter().map(Into::into).collect();
            self
        }
    };
}

/// An app, the name its errors carry, and the tokens it handed out (none
/// for an app configured by hand, whose clock is not known here).
pub(crate) struct AppTokens {
    app: ConfidentialClientApplication,
    name: &'static str,
    memo: Option<Memo>,
}

impl AppTokens {
    /// A token for `scopes` (as given; the SDK passes `<resource>/.default`):
    /// from the cache while it has five minutes left, else from the identity
    /// provider, concurrent calls sharing one request.
    pub(crate) async fn token(&self, scopes: &[&str]) -> Result<AccessToken, Failure> {
        check_scopes(scopes)?;
        let key = Memo::key(scopes);
        if let Some(t) = self.memo.as_ref().and_then(|m| m.get(&key, None, false)) {
            return Ok(t);
        }
        let r = self
            .app
            .acquire_token_for_client(scopes)
            .await
            .map_err(|e| Failure::msal(e, None))?;
        tracing::debug!(
            target: "msal_azure_identity",
            credential = self.name,
            from_cache = r.source() == msal::TokenSource::Cache,
            expires_on = r.expires_on_unix(),
            "app token"
        );
        let t = access_token(r.access_token().expose_secret(), r.expires_on_unix())?;
        if let Some(m) = &self.memo {
            // An app token is the app's whatever the cache holds: no file to watch.
            m.put(key, &t, r.refresh_on().map(unix), None);
        }
        Ok(t)
    }

    fn debug(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(self.name)
            .field("client_id", &self.app.client_id())
            .field("authority", &self.app.authority().as_str())
            .finish_non_exhaustive()
    }
}

/// The authority for `tenant` on `host` (default: the public cloud).
fn authority(host: Option<&str>, tenant: &str) -> String {
    format!(
        "{}/{}",
        host.unwrap_or(env::PUBLIC_CLOUD_HOST).trim_end_matches('/'),
        tenant.trim()
    )
}

// ---------------------------------------------------------------------------

const CONFIDENTIAL: &str = "ConfidentialClientCredential";

/// A confidential client (an app registration or service principal) proving
/// who it is with a secret, a certificate or a signed assertion
/// ([`ClientCredential`]), as a `TokenCredential` for app tokens.
///
/// ```no_run
/// # async fn run() -> azure_core::Result<()> {
/// use azure_core::credentials::TokenCredential;
/// use msal::credentials::ClientCredential;
/// use msal::secret::ClientSecret;
/// use msal_azure_identity::ConfidentialClientCredential;
///
/// let credential = ConfidentialClientCredential::builder(
///     "contoso.onmicrosoft.com",
///     "11111111-2222-3333-4444-555555555555",
///     ClientCredential::secret(ClientSecret::new("from your secret store")),
/// )
/// .build()?;
/// let token = credential.get_token(&["https://vault.azure.net/.default"], None).await?;
/// # let _ = token; Ok(()) }
/// ```
///
/// # Errors
/// `get_token` fails with an error of kind `Credential` carrying msal's
/// message: the identity provider's answer (`invalid_client`, an AADSTS
/// code), an unreachable provider, or a cache that cannot be read.
pub struct ConfidentialClientCredential {
    inner: AppTokens,
}

impl std::fmt::Debug for ConfidentialClientCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.debug(f)
    }
}

/// Configures a [`ConfidentialClientCredential`]. Setters never fail;
/// [`build`](Self::build) reports the first problem.
#[must_use]
pub struct ConfidentialClientCredentialBuilder {
    tenant_id: String,
    client_id: String,
    credential: ClientCredential,
    authority_host: Option<String>,
    authority: Option<String>,
    options: AppOptions,
}

impl std::fmt::Debug for ConfidentialClientCredentialBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `ClientCredential`'s Debug redacts the secret itself.
        f.debug_struct("ConfidentialClientCredentialBuilder")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("credential", &self.credential)
            .field("authority_host", &self.authority_host)
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl ConfidentialClientCredential {
    /// Starts configuring the app `client_id` of tenant `tenant_id` (an id
    /// or a domain), proving itself with `credential`. The tenant is fixed
    /// for the credential's life.
    pub fn builder(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        credential: ClientCredential,
    ) -> ConfidentialClientCredentialBuilder {
        ConfidentialClientCredentialBuilder {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            credential,
            authority_host: None,
            authority: None,
            options: AppOptions::default(),
        }
    }

    /// A credential over an application configured by hand (its authority,
    /// cache and HTTP client), sharing its cache with other uses of it.
    pub fn from_application(app: ConfidentialClientApplication) -> Arc<Self> {
        Arc::new(Self {
            inner: AppTokens {
                app,
                name: CONFIDENTIAL,
                memo: None,
            },
        })
    }

    /// The application it uses.
    pub fn application(&self) -> &ConfidentialClientApplication {
        &self.inner.app
    }
}

impl ConfidentialClientCredentialBuilder {
    app_setters!();

    /// The authority host (default `https://login.microsoftonline.com`):
    /// another cloud, or a test identity provider.
    pub fn authority_host(mut self, host: impl Into<String>) -> Self {
        self.authority_host = Some(host.into());
        self
    }

    /// A whole authority URL instead of host and tenant (an ADFS, B2C or
    /// CIAM authority).
    pub fn authority(mut self, authority: impl Into<String>) -> Self {
        self.authority = Some(authority.into());
        self
    }

    /// Builds the credential.
    ///
    /// # Errors
    /// An error of kind `Credential` for an empty tenant or client id or an
    /// authority msal refuses.
    pub fn build(self) -> azure_core::Result<Arc<ConfidentialClientCredential>> {
        if self.authority.is_none() && self.tenant_id.trim().is_empty() {
            return Err(config_error(CONFIDENTIAL, "the tenant id is empty"));
        }
        let authority = self
            .authority
            .unwrap_or_else(|| authority(self.authority_host.as_deref(), &self.tenant_id));
        let inner = self
            .options
            .build(
                ConfidentialClientApplication::builder(self.client_id, self.credential)
                    .authority(authority.as_str()),
                CONFIDENTIAL,
            )
            .map_err(|e| config_error(CONFIDENTIAL, e))?;
        Ok(Arc::new(ConfidentialClientCredential { inner }))
    }
}

#[async_trait::async_trait]
impl TokenCredential for ConfidentialClientCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.inner
            .token(scopes)
            .await
            .map_err(|f| f.into_azure(CONFIDENTIAL))
    }
}

// ---------------------------------------------------------------------------

const ENVIRONMENT: &str = "EnvironmentCredential";

/// A service principal described by environment variables, as every Azure
/// SDK reads them: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, and either
/// `AZURE_CLIENT_SECRET` or `AZURE_CLIENT_CERTIFICATE_PATH` (a PEM file
/// holding the certificate and its unencrypted private key;
/// `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN=true` sends the chain for subject
/// name / issuer authentication); `AZURE_AUTHORITY_HOST` for another cloud.
/// The variables are read when it is built.
///
/// # Errors
/// Building fails when a variable is missing (the message names them all),
/// the certificate file cannot be read or is not PEM, or
/// `AZURE_CLIENT_CERTIFICATE_PASSWORD` is set (encrypted keys are not
/// supported). `get_token` fails as
/// [`ConfidentialClientCredential`]'s does.
pub struct EnvironmentCredential {
    inner: AppTokens,
}

impl std::fmt::Debug for EnvironmentCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.debug(f)
    }
}

/// Configures an [`EnvironmentCredential`].
#[must_use]
#[derive(Default)]
pub struct EnvironmentCredentialBuilder {
    env: Option<Environment>,
    options: AppOptions,
}

impl std::fmt::Debug for EnvironmentCredentialBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Environment's Debug shows variable names only.
        f.debug_struct("EnvironmentCredentialBuilder")
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

impl EnvironmentCredential {
    /// Starts configuring the credential (variables from the process
    /// environment unless [`environment`](EnvironmentCredentialBuilder::environment) says otherwise).
    pub fn builder() -> EnvironmentCredentialBuilder {
        EnvironmentCredentialBuilder::default()
    }

    /// The variables' settings, or why they are absent (`Unavailable`) or
    /// unusable (`Failed`).
    pub(crate) fn open(env: &Environment, options: AppOptions) -> Result<Self, Failure> {
        let missing: Vec<&str> = [env::AZURE_TENANT_ID, env::AZURE_CLIENT_ID]
            .into_iter()
            .filter(|v| env.var(v).is_none())
            .collect();
        let secret = env.var(env::AZURE_CLIENT_SECRET);
        let cert_path = env.var(env::AZURE_CLIENT_CERTIFICATE_PATH);
        if !missing.is_empty() || (secret.is_none() && cert_path.is_none()) {
            let mut not_set = missing;
            if secret.is_none() && cert_path.is_none() {
                not_set.push("AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH");
            }
            return Err(Failure::unavailable(format!(
                "not configured ({} not set)",
                not_set.join(", ")
            )));
        }
        let tenant = env.var(env::AZURE_TENANT_ID).unwrap_or_default();
        let client_id = env.var(env::AZURE_CLIENT_ID).unwrap_or_default();
        let credential = match (secret, cert_path) {
            (Some(secret), _) => ClientCredential::secret(ClientSecret::new(secret)),
            (None, Some(path)) => {
                if env.var(env::AZURE_CLIENT_CERTIFICATE_PASSWORD).is_some() {
                    return Err(Failure::failed(
                        "AZURE_CLIENT_CERTIFICATE_PASSWORD is set, but only unencrypted PEM keys are supported: give AZURE_CLIENT_CERTIFICATE_PATH a PEM file with the certificate and its unencrypted private key",
                    ));
                }
                let pem = std::fs::read(&path).map(Zeroizing::new).map_err(|e| {
                    Failure::failed(format!(
                        "cannot read AZURE_CLIENT_CERTIFICATE_PATH {path}: {e}"
                    ))
                })?;
                if !pem.windows(11).any(|w| w == b"-----BEGIN ") {
                    return Err(Failure::failed(format!(
                        "AZURE_CLIENT_CERTIFICATE_PATH {path} is not PEM (a PFX/PKCS#12 file? convert it with `openssl pkcs12 -in cert.pfx -out cert.pem -nodes`)"
                    )));
                }
                let send_chain = env::boolish(env, env::AZURE_CLIENT_SEND_CERTIFICATE_CHAIN)
                    .map_err(Failure::failed)?;
                let key = private_key_block(&pem).ok_or_else(|| {
                    Failure::failed(format!(
                        "AZURE_CLIENT_CERTIFICATE_PATH {path} holds no unencrypted private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)"
                    ))
                })?;
                let cert = Certificate::from_pem(key, &*pem)
                    .map_err(|e| {
                        Failure::failed(format!("AZURE_CLIENT_CERTIFICATE_PATH {path}: {e}"))
                    })?
                    .with_x5c(send_chain);
                ClientCredential::certificate(cert)
            }
            (None, None) => return Err(Failure::unavailable("not configured")),
        };
        let host = env::authority_host(env);
        let inner = options
            .build(
                ConfidentialClientApplication::builder(client_id, credential)
                    .authority(authority(host.as_deref(), &tenant).as_str()),
                ENVIRONMENT,
            )
            .map_err(|e| Failure::msal(e, None))?;
        Ok(Self { inner })
    }

    pub(crate) async fn token(&self, scopes: &[&str]) -> Result<AccessToken, Failure> {
        self.inner.token(scopes).await
    }
}

impl EnvironmentCredentialBuilder {
    app_setters!();

    /// Where the variables are read (default: the process environment).
    pub fn environment(mut self, env: Environment) -> Self {
        self.env = Some(env);
        self
    }

    /// Reads the variables and builds the credential.
    ///
    /// # Errors
    /// See [`EnvironmentCredential`].
    pub fn build(self) -> azure_core::Result<Arc<EnvironmentCredential>> {
        let env = self.env.unwrap_or_else(Environment::process);
        EnvironmentCredential::open(&env, self.options)
            .map(Arc::new)
            .map_err(|f| f.into_azure(ENVIRONMENT))
    }
}

#[async_trait::async_trait]
impl TokenCredential for EnvironmentCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.token(scopes)
            .await
            .map_err(|f| f.into_azure(ENVIRONMENT))
    }
}

/// The first private key block of a PEM file holding a certificate and its
/// key in any order.
fn private_key_block(pem: &[u8]) -> Option<&[u8]> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut at = 0;
    while let Some(start) = find(&pem[at..], BEGIN).map(|i| i + at) {
        let line_end = find(&pem[start..], b"\n").map_or(pem.len(), |i| i + start);
        let label = &pem[start + BEGIN.len()..line_end];
        let end_marker = [b"-----END ".as_slice(), label].concat();
        let end = find(&pem[line_end..], &end_marker).map(|i| i + line_end + end_marker.len())?;
        if label.starts_with(b"PRIVATE KEY") || label.starts_with(b"RSA PRIVATE KEY") {
            return Some(&pem[start..end]);
        }
        at = end;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------

const WORKLOAD: &str = "WorkloadIdentityCredential";

/// Workload identity federation: the platform (AKS, GitHub Actions, any
/// OIDC issuer Entra trusts) writes a token to a file, which serves as the
/// app's client assertion; the file is re-read whenever the platform
/// rotates it. Settings from `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`,
/// `AZURE_FEDERATED_TOKEN_FILE` and `AZURE_AUTHORITY_HOST`, each changeable
/// on the builder.
///
/// # Errors
/// Building fails when a setting is missing (the message names them);
/// `get_token` fails as [`ConfidentialClientCredential`]'s does, or when
/// the token file cannot be read.
pub struct WorkloadIdentityCredential {
    inner: AppTokens,
}

impl std::fmt::Debug for WorkloadIdentityCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.debug(f)
    }
}

/// Configures a [`WorkloadIdentityCredential`].
#[must_use]
#[derive(Default)]
pub struct WorkloadIdentityCredentialBuilder {
    env: Option<Environment>,
    client_id: Option<String>,
    tenant_id: Option<String>,
    token_file: Option<PathBuf>,
    authority_host: Option<String>,
    options: AppOptions,
}

impl std::fmt::Debug for WorkloadIdentityCredentialBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadIdentityCredentialBuilder")
            .field("env", &self.env)
            .field("client_id", &self.client_id)
            .field("tenant_id", &self.tenant_id)
            .field("token_file", &self.token_file)
            .finish_non_exhaustive()
    }
}

/// Workload identity settings as given, before their defaults.
#[derive(Default)]
pub(crate) struct WorkloadSettings {
    pub(crate) client_id: Option<String>,
    pub(crate) tenant_id: Option<String>,
    pub(crate) token_file: Option<PathBuf>,
    pub(crate) authority_host: Option<String>,
}

impl WorkloadIdentityCredential {
    /// Starts configuring the credential.
    pub fn builder() -> WorkloadIdentityCredentialBuilder {
        WorkloadIdentityCredentialBuilder::default()
    }

    pub(crate) fn open(
        env: &Environment,
        given: WorkloadSettings,
        options: AppOptions,
    ) -> Result<Self, Failure> {
        let client_id = given.client_id.or_else(|| env.var(env::AZURE_CLIENT_ID));
        let tenant_id = given.tenant_id.or_else(|| env.var(env::AZURE_TENANT_ID));
        let token_file = given
            .token_file
            .or_else(|| env.var(env::AZURE_FEDERATED_TOKEN_FILE).map(PathBuf::from));
        let (Some(client_id), Some(tenant_id), Some(token_file)) =
            (client_id.clone(), tenant_id.clone(), token_file.clone())
        else {
            let not_set: Vec<&str> = [
                (token_file.is_none(), env::AZURE_FEDERATED_TOKEN_FILE),
                (client_id.is_none(), env::AZURE_CLIENT_ID),
                (tenant_id.is_none(), env::AZURE_TENANT_ID),
            ]
            .into_iter()
            .filter_map(|(missing, name)| missing.then_some(name))
            .collect();
            return Err(Failure::unavailable(format!(
                "not configured ({} not set)",
                not_set.join(", ")
            )));
        };
        let host = given.authority_host.or_else(|| env::authority_host(env));
        let inner = options
            .build(
                ConfidentialClientApplication::builder(
                    client_id.trim(),
                    ClientCredential::federated_token_file(token_file),
                )
                .authority(authority(host.as_deref(), &tenant_id).as_str()),
                WORKLOAD,
            )
            .map_err(|e| Failure::msal(e, None))?;
        Ok(Self { inner })
    }

    pub(crate) async fn token(&self, scopes: &[&str]) -> Result<AccessToken, Failure> {
        self.inner.token(scopes).await
    }
}

impl WorkloadIdentityCredentialBuilder {
    app_setters!();

    /// Where the `AZURE_*` variables are read (default: the process environment).
    pub fn environment(mut self, env: Environment) -> Self {
        self.env = Some(env);
        self
    }

    /// The client id of the app (or user-assigned identity) federated with
    /// the platform (default `AZURE_CLIENT_ID`).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The tenant (default `AZURE_TENANT_ID`), fixed for the credential's life.
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }

    /// The federated token file (default `AZURE_FEDERATED_TOKEN_FILE`).
    pub fn token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.token_file = Some(path.into());
        self
    }

    /// The authority host (default `AZURE_AUTHORITY_HOST`, else the public cloud).
    pub fn authority_host(mut self, host: impl Into<String>) -> Self {
        self.authority_host = Some(host.into());
        self
    }

    /// Builds the credential.
    ///
    /// # Errors
    /// See [`WorkloadIdentityCredential`].
    pub fn build(self) -> azure_core::Result<Arc<WorkloadIdentityCredential>> {
        let env = self.env.unwrap_or_else(Environment::process);
        let given = WorkloadSettings {
            client_id: self.client_id,
            tenant_id: self.tenant_id,
            token_file: self.token_file,
            authority_host: self.authority_host,
        };
        WorkloadIdentityCredential::open(&env, given, self.options)
            .map(Arc::new)
            .map_err(|f| f.into_azure(WORKLOAD))
    }
}

#[async_trait::async_trait]
impl TokenCredential for WorkloadIdentityCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.token(scopes).await.map_err(|f| f.into_azure(WORKLOAD))
    }
}

#[cfg(test)]
mod tests {
    use super::private_key_block;

    #[test]
    fn the_key_is_found_before_or_after_the_certificate() {
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let key = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----";
        let rsa = "-----BEGIN RSA PRIVATE KEY-----\nMIIC\n-----END RSA PRIVATE KEY-----";
        for pem in [format!("{cert}{key}\n"), format!("{key}\n{cert}")] {
            assert_eq!(private_key_block(pem.as_bytes()), Some(key.as_bytes()));
        }
        let both = format!("{cert}{rsa}");
        assert_eq!(private_key_block(both.as_bytes()), Some(rsa.as_bytes()));
        assert_eq!(private_key_block(cert.as_bytes()), None);
        assert_eq!(
            private_key_block(b"-----BEGIN PRIVATE KEY-----\nno end"),
            None
        );
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n-----END ENCRYPTED PRIVATE KEY-----";
        assert_eq!(private_key_block(encrypted.as_bytes()), None);
    }
}
