//! [`SignedInUserCredential`]: the user signed in with `msal login`.

use std::path::PathBuf;
use std::sync::Arc;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use msal::PublicClientApplication;
use msal::clock::{Clock, SystemClock};
use msal::http::HttpClient;
use msal::http::ProxyConfig;
use msal::managed_identity::Environment;
use msal_cache_file::{Encryption, FileCache};

use crate::env;
use crate::error::{Failure, config_error};
use crate::session::Session;

/// The `msal` command line's default client id (the Azure CLI's public
/// client, pre-authorized for Microsoft Graph and Azure Resource Manager in
/// every tenant), used when none is configured.
pub const MSAL_CLI_CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

/// The `msal` command line's default authority: any work or school account.
pub const MSAL_CLI_AUTHORITY: &str = "https://login.microsoftonline.com/organizations";

const NAME: &str = "SignedInUserCredential";
const HINT: &str = "run `msal login`";

/// The user signed in with the `msal` command line (`msal login`), as a
/// `TokenCredential`: tokens come silently from the CLI's cache file, and
/// are refreshed with the user's refresh token when they have less than
/// five minutes left. No process is spawned: while the file is unchanged, a
/// token handed out before is handed out again after one `stat` of the
/// file; otherwise msal reads the file under its lock (a millisecond, not
/// the second `az account get-access-token` takes).
///
/// It uses the CLI's settings: client id, authority and cache file
/// (encrypted `cache.bin` or, with `plaintext`, `cache.json` in the user's
/// data directory; see [`msal_cache_file::cli_default_cache_path`]), each
/// changeable on the builder or read from the CLI's own variables with
/// [`environment`](SignedInUserCredentialBuilder::environment).
///
/// ```no_run
/// # async fn run() -> azure_core::Result<()> {
/// use azure_core::credentials::TokenCredential;
/// use msal_azure_identity::SignedInUserCredential;
///
/// // After `msal login --scopes https://vault.azure.net/user_impersonation`:
/// let credential = SignedInUserCredential::builder().build()?;
/// let token = credential.get_token(&["https://vault.azure.net/.default"], None).await?;
/// # let _ = token; Ok(()) }
/// ```
///
/// # Errors
/// `get_token` fails with an error of kind `Credential` when nobody is
/// signed in, several accounts are and none was chosen, or the refresh token
/// no longer works (each says to run `msal login`), and with msal's message
/// for anything else (cache file, identity provider).
pub struct SignedInUserCredential {
    session: Session,
    cache_path: PathBuf,
}

impl std::fmt::Debug for SignedInUserCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(NAME)
            .field("client_id", &self.session.app.client_id())
            .field("authority", &self.session.app.authority().as_str())
            .field("cache_path", &self.cache_path)
            .field("username", &self.session.wanted())
            .finish_non_exhaustive()
    }
}

/// Configures a [`SignedInUserCredential`]. Setters never fail;
/// [`build`](Self::build) reports the first problem.
#[must_use]
#[derive(Default)]
pub struct SignedInUserCredentialBuilder {
    client_id: Option<String>,
    authority: Option<String>,
    oidc: bool,
    authority_host: Option<String>,
    cache_path: Option<PathBuf>,
    plaintext: bool,
    file_cache: Option<FileCache>,
    username: Option<String>,
    ca_file: Option<PathBuf>,
    proxy: Option<String>,
    http: Option<Arc<dyn HttpClient>>,
    clock: Option<Arc<dyn Clock>>,
    problem: Option<String>,
}

impl std::fmt::Debug for SignedInUserCredentialBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedInUserCredentialBuilder")
            .field("client_id", &self.client_id)
            .field("authority", &self.authority)
            .field("cache_path", &self.cache_path)
            .field("plaintext", &self.plaintext)
            .field("username", &self.username)
            // A proxy URL may carry a password.
            .field("proxy", &self.proxy.as_ref().map(|_| "set"))
            .finish_non_exhaustive()
    }
}

impl SignedInUserCredential {
    /// Starts configuring the credential with the `msal` command line's
    /// defaults.
    pub fn builder() -> SignedInUserCredentialBuilder {
        SignedInUserCredentialBuilder::default()
    }

    /// The cache file it reads.
    pub fn cache_path(&self) -> &std::path::Path {
        &self.cache_path
    }

    /// The application it uses (to list accounts, say).
    pub fn application(&self) -> &PublicClientApplication {
        &self.session.app
    }

    pub(crate) async fn token(&self, scopes: &[&str]) -> Result<AccessToken, Failure> {
        self.session.token(scopes).await
    }
}

#[async_trait::async_trait]
impl TokenCredential for SignedInUserCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.token(scopes).await.map_err(|f| f.into_azure(NAME))
    }
}

impl SignedInUserCredentialBuilder {
    /// Reads the `msal` command line's variables from `env`: `MSAL_AUTHORITY`,
    /// `MSAL_OIDC`, `MSAL_CLIENT_ID`, `MSAL_CACHE`, `MSAL_PLAINTEXT`,
    /// `MSAL_CA_FILE` and `MSAL_PROXY`; also `AZURE_AUTHORITY_HOST` (moves the
    /// default authority to another cloud; an `MSAL_AUTHORITY` is kept as
    /// given, since the cache was written for it) and `AZURE_USERNAME` (which
    /// account, when several are signed in). Setters called afterwards win.
    pub fn environment(mut self, vars: &Environment) -> Self {
        if let Some(v) = vars.var(env::MSAL_AUTHORITY) {
            self.authority = Some(v.trim().to_owned());
        }
        match env::boolish(vars, env::MSAL_OIDC) {
            Ok(b) => self.oidc = b,
            Err(e) => self.problem = self.problem.or(Some(e)),
        }
        if let Some(v) = vars.var(env::MSAL_CLIENT_ID) {
            self.client_id = Some(v.trim().to_owned());
        }
        if let Some(v) = vars.var(env::MSAL_CACHE) {
            self.cache_path = Some(PathBuf::from(v));
        }
        match env::boolish(vars, env::MSAL_PLAINTEXT) {
            Ok(b) => self.plaintext = b,
            Err(e) => self.problem = self.problem.or(Some(e)),
        }
        if let Some(v) = vars.var(env::MSAL_CA_FILE) {
            self.ca_file = Some(PathBuf::from(v));
        }
        if let Some(v) = vars.var(env::MSAL_PROXY) {
            self.proxy = Some(v);
        }
        if let Some(h) = env::authority_host(vars) {
            self.authority_host = Some(h);
        }
        if let Some(u) = vars.var(env::AZURE_USERNAME) {
            self.username = Some(u.trim().to_owned());
        }
        self
    }

    /// The app's client id (default [`MSAL_CLI_CLIENT_ID`], as the CLI).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The authority the user signed in with (default
    /// [`MSAL_CLI_AUTHORITY`]). Tokens are for the tenant it names, fixed
    /// for the credential's life.
    pub fn authority(mut self, authority: impl Into<String>) -> Self {
        self.authority = Some(authority.into());
        self.oidc = false;
        self
    }

    /// A generic OpenID Connect issuer as the authority (the CLI's `--oidc`).
    pub fn oidc_authority(mut self, issuer: impl Into<String>) -> Self {
        self.authority = Some(issuer.into());
        self.oidc = true;
        self
    }

    /// Moves the default authority to another cloud's host
    /// (`https://login.microsoftonline.us`), as `AZURE_AUTHORITY_HOST` does.
    pub fn authority_host(mut self, host: impl Into<String>) -> Self {
        self.authority_host = Some(host.into().trim_end_matches('/').to_owned());
        self
    }

    /// The cache file (default: the CLI's, see
    /// [`msal_cache_file::cli_default_cache_path`]).
    pub fn cache_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.cache_path = Some(path.into());
        self
    }

    /// Whether the file is plain JSON (the CLI's `--plaintext`) rather than
    /// encrypted with a key from the OS keyring (default `false`).
    pub fn plaintext(mut self, plaintext: bool) -> Self {
        self.plaintext = plaintext;
        self
    }

    /// A cache file configured by hand (path, encryption, lock timeout);
    /// replaces `cache_path` and `plaintext`.
    pub fn file_cache(mut self, cache: FileCache) -> Self {
        self.file_cache = Some(cache);
        self
    }

    /// The account to use (user name or home account id) when several are
    /// signed in. Default: the only one.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The HTTP client for refreshes (default: msal's, with the CA file and
    /// proxy from the CLI's variables).
    pub fn http_client(mut self, http: Arc<dyn HttpClient>) -> Self {
        self.http = Some(http);
        self
    }

    /// The clock deciding token expiry (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Builds the credential. Touches no file yet.
    ///
    /// # Errors
    /// An error of kind `Credential` for a bad variable (`MSAL_PLAINTEXT=maybe`),
    /// no data directory to find the default cache file in, an unreadable CA
    /// file, or an authority msal refuses.
    pub fn build(self) -> azure_core::Result<Arc<SignedInUserCredential>> {
        if let Some(p) = self.problem {
            return Err(config_error(NAME, p));
        }
        let client_id = self
            .client_id
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| MSAL_CLI_CLIENT_ID.to_owned());
        let authority = match (self.authority, &self.authority_host) {
            (Some(a), _) => a,
            (None, Some(host)) => env::move_host(MSAL_CLI_AUTHORITY, host),
            (None, None) => MSAL_CLI_AUTHORITY.to_owned(),
        };
        let file = match self.file_cache {
            Some(f) => f,
            None => {
                let path = match self.cache_path {
                    Some(p) => p,
                    None => msal_cache_file::cli_default_cache_path(self.plaintext).ok_or_else(|| {
                        config_error(
                            NAME,
                            "cannot find the user's data directory (is HOME set?); set MSAL_CACHE",
                        )
                    })?,
                };
                let encryption = if self.plaintext {
                    Encryption::Plaintext
                } else {
                    Encryption::Auto
                };
                FileCache::builder(&path)
                    .encryption(encryption)
                    .build()
                    .map_err(|e| {
                        config_error(NAME, format!("cache file {}: {e}", path.display()))
                    })?
            }
        };
        let cache_path = file.path().to_owned();
        let builder = PublicClientApplication::builder(client_id);
        let mut builder = if self.oidc {
            builder.oidc_authority(&authority)
        } else {
            builder.authority(authority.as_str())
        };
        if let Some(http) = self.http {
            builder = builder.http_client(http);
        } else {
            if let Some(path) = &self.ca_file {
                let pem = std::fs::read(path).map_err(|e| {
                    config_error(
                        NAME,
                        format!("cannot read MSAL_CA_FILE {}: {e}", path.display()),
                    )
                })?;
                builder = builder.add_root_certificate_pem(&pem);
            }
            if let Some(proxy) = self.proxy.as_deref().map(str::trim) {
                builder = builder.proxy(if proxy.eq_ignore_ascii_case("none") {
                    ProxyConfig::None
                } else {
                    ProxyConfig::Url(proxy.to_owned())
                });
            }
        }
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        builder = builder.clock(clock.clone());
        let app = builder
            .cache_access(Arc::new(file))
            .build()
            .map_err(|e| config_error(NAME, e))?;
        Ok(Arc::new(SignedInUserCredential {
            session: Session::new(
                app,
                self.username.filter(|u| !u.is_empty()),
                HINT,
                cache_path.clone(),
                clock,
            ),
            cache_path,
        }))
    }
}
