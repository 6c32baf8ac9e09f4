//! [`AzureCliCacheCredential`]: the user signed in with `az login`, read
//! from the Azure CLI's own files without running `az`.
//!
//! The Azure CLI keeps its accounts in `azureProfile.json` (written with a
//! UTF-8 byte order mark) and its MSAL Python token cache in
//! `msal_token_cache.json`, plain JSON on Linux and macOS, under the lock
//! protocol of msal-extensions (`<file>.lockfile`), in `~/.azure` or
//! `$AZURE_CONFIG_DIR`. Its public client id is the one the `msal` CLI uses
//! by default.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use msal::PublicClientApplication;
use msal::clock::{Clock, SystemClock};
use msal::http::HttpClient;
use msal::managed_identity::Environment;
use msal_cache_file::{Encryption, FileCache};
use serde::Deserialize;

use crate::env;
use crate::error::{Failure, config_error};
use crate::session::Session;

/// The Azure CLI's public client id.
pub const AZURE_CLI_CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
/// The Azure CLI's profile (accounts and subscriptions).
pub const AZURE_PROFILE_FILE: &str = "azureProfile.json";
/// The Azure CLI's token cache on Linux and macOS (plain JSON).
pub const AZURE_CLI_TOKEN_CACHE_FILE: &str = "msal_token_cache.json";

const NAME: &str = "AzureCliCacheCredential";
const HINT: &str = "run `az login`";

/// The user signed in with `az login`, as a `TokenCredential`, read from
/// the Azure CLI's files: the account and tenant of the default
/// subscription (or the one chosen) in `azureProfile.json`, its tokens in
/// `msal_token_cache.json`, refreshed with its refresh token when needed
/// (the refreshed tokens are written back, under the Azure CLI's lock, for
/// `az` to use too). No `az` process is started.
///
/// The files are read at the first call (and again after `az login` or
/// `az logout` invalidated what was read), so a program may start before the
/// user signs in.
///
/// ```no_run
/// # async fn run() -> azure_core::Result<()> {
/// use azure_core::credentials::TokenCredential;
/// use msal_azure_identity::AzureCliCacheCredential;
///
/// let credential = AzureCliCacheCredential::builder().build()?;
/// let token = credential.get_token(&["https://management.azure.com/.default"], None).await?;
/// # let _ = token; Ok(()) }
/// ```
///
/// # Errors
/// `get_token` fails with an error of kind `Credential` when the files are
/// missing or unreadable, the Azure CLI is signed in as a service principal
/// or managed identity (their secrets are not in these files: use
/// [`EnvironmentCredential`](crate::EnvironmentCredential) or
/// [`ManagedIdentityCredential`](crate::ManagedIdentityCredential)), on
/// Windows (where the token cache is encrypted with DPAPI), or when the
/// refresh token no longer works (run `az login`).
pub struct AzureCliCacheCredential {
    config_dir: PathBuf,
    subscription: Option<String>,
    tenant: Option<String>,
    authority_host: Option<String>,
    username: Option<String>,
    http: Option<Arc<dyn HttpClient>>,
    clock: Option<Arc<dyn Clock>>,
    /// What the files said at the last successful read.
    session: Mutex<Option<Arc<Session>>>,
}

impl std::fmt::Debug for AzureCliCacheCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(NAME)
            .field("config_dir", &self.config_dir)
            .field("subscription", &self.subscription)
            .field("tenant", &self.tenant)
            .field("authority_host", &self.authority_host)
            .finish_non_exhaustive()
    }
}

/// Configures an [`AzureCliCacheCredential`]. Setters never fail.
#[must_use]
#[derive(Default)]
pub struct AzureCliCacheCredentialBuilder {
    config_dir: Option<PathBuf>,
    subscription: Option<String>,
    tenant: Option<String>,
    authority_host: Option<String>,
    username: Option<String>,
    http: Option<Arc<dyn HttpClient>>,
    clock: Option<Arc<dyn Clock>>,
}

impl std::fmt::Debug for AzureCliCacheCredentialBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureCliCacheCredentialBuilder")
            .field("config_dir", &self.config_dir)
            .field("subscription", &self.subscription)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl AzureCliCacheCredentialBuilder {
    /// Reads `AZURE_CONFIG_DIR` (else `$HOME/.azure`), `AZURE_AUTHORITY_HOST`
    /// and `AZURE_USERNAME` from `env`. Setters called afterwards win.
    pub fn environment(mut self, vars: &Environment) -> Self {
        self.config_dir = vars
            .var(env::AZURE_CONFIG_DIR)
            .map(PathBuf::from)
            .or_else(|| env::home_dir(vars).map(|h| h.join(".azure")))
            .or(self.config_dir);
        if let Some(h) = env::authority_host(vars) {
            self.authority_host = Some(h);
        }
        if let Some(u) = vars.var(env::AZURE_USERNAME) {
            self.username = Some(u.trim().to_owned());
        }
        self
    }

    /// The Azure CLI's configuration directory (default `$AZURE_CONFIG_DIR`,
    /// else `~/.azure`).
    pub fn config_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config_dir = Some(dir.into());
        self
    }

    /// The subscription (id or name) whose account and tenant to use
    /// (default: the Azure CLI's default subscription, `az account set`).
    pub fn subscription(mut self, subscription: impl Into<String>) -> Self {
        self.subscription = Some(subscription.into());
        self
    }

    /// The tenant to get tokens for (default: the subscription's), fixed for
    /// the credential's life.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The authority host (default: `AZURE_AUTHORITY_HOST`, else the
    /// subscription's cloud: public, US Government or China).
    pub fn authority_host(mut self, host: impl Into<String>) -> Self {
        self.authority_host = Some(host.into().trim_end_matches('/').to_owned());
        self
    }

    /// The account (user name) to use when the cache holds several
    /// (default: the subscription's user).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The HTTP client for refreshes (default: msal's).
    pub fn http_client(mut self, http: Arc<dyn HttpClient>) -> Self {
        self.http = Some(http);
        self
    }

    /// The clock deciding token expiry (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Builds the credential; the files are read at the first call.
    ///
    /// # Errors
    /// An error of kind `Credential` when no configuration directory is
    /// given and no home directory is known.
    pub fn build(self) -> azure_core::Result<Arc<AzureCliCacheCredential>> {
        let config_dir = match self.config_dir {
            Some(d) => d,
            None => Self::default()
                .environment(&Environment::process())
                .config_dir
                .ok_or_else(|| {
                    config_error(NAME, "no home directory is known; set AZURE_CONFIG_DIR")
                })?,
        };
        Ok(Arc::new(AzureCliCacheCredential {
            config_dir,
            subscription: self.subscription,
            tenant: self.tenant,
            authority_host: self.authority_host,
            username: self.username,
            http: self.http,
            clock: self.clock,
            session: Mutex::new(None),
        }))
    }
}

impl AzureCliCacheCredential {
    /// Starts configuring the credential.
    pub fn builder() -> AzureCliCacheCredentialBuilder {
        AzureCliCacheCredentialBuilder::default()
    }

    /// The Azure CLI configuration directory it reads.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    pub(crate) async fn token(&self, scopes: &[&str]) -> Result<AccessToken, Failure> {
        let session = self.session()?;
        let result = session.token(scopes).await;
        if matches!(&result, Err(Failure::Unavailable(_)))
            || matches!(&result, Err(Failure::Failed { source: Some(e), .. }) if e.is_ui_required())
        {
            // `az login` may have changed the files: read them again next time.
            *self.session.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        result
    }

    fn session(&self) -> Result<Arc<Session>, Failure> {
        let mut slot = self.session.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let s = Arc::new(self.open()?);
        *slot = Some(s.clone());
        Ok(s)
    }

    /// Reads the profile and opens the token cache.
    fn open(&self) -> Result<Session, Failure> {
        let dir = self.config_dir.as_path();
        let profile_path = dir.join(AZURE_PROFILE_FILE);
        let sub =
            read_profile(&profile_path)?.choose(self.subscription.as_deref(), &profile_path)?;
        let cache_path = dir.join(AZURE_CLI_TOKEN_CACHE_FILE);
        if !cache_path.exists() {
            let bin = dir.join("msal_token_cache.bin");
            if bin.exists() {
                return Err(Failure::unavailable(format!(
                    "{} is encrypted with Windows DPAPI, which this credential cannot read",
                    bin.display()
                )));
            }
            return Err(Failure::unavailable(format!(
                "{} not found; {HINT}",
                cache_path.display()
            )));
        }
        let file = FileCache::builder(&cache_path)
            .encryption(Encryption::Plaintext)
            .build()
            .map_err(|e| Failure::failed(format!("{}: {e}", cache_path.display())))?;
        let host = self
            .authority_host
            .clone()
            .unwrap_or_else(|| cloud_host(sub.environment_name.as_deref()).to_owned());
        let tenant = self
            .tenant
            .clone()
            .or_else(|| Some(sub.tenant_id.clone()).filter(|t| !t.is_empty()))
            .unwrap_or_else(|| "organizations".to_owned());
        let mut builder = PublicClientApplication::builder(AZURE_CLI_CLIENT_ID)
            .authority(format!("{host}/{tenant}").as_str());
        if let Some(http) = &self.http {
            builder = builder.http_client(http.clone());
        }
        let clock: Arc<dyn Clock> = self.clock.clone().unwrap_or_else(|| Arc::new(SystemClock));
        builder = builder.clock(clock.clone());
        let app = builder
            .cache_access(Arc::new(file))
            .build()
            .map_err(|e| Failure::msal(e, None))?;
        let username = self.username.clone().or(Some(sub.user.name));
        Ok(Session::new(app, username, HINT, cache_path, clock))
    }
}

#[async_trait::async_trait]
impl TokenCredential for AzureCliCacheCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.token(scopes).await.map_err(|f| f.into_azure(NAME))
    }
}

/// The login host of an Azure CLI cloud (`environmentName`).
fn cloud_host(environment_name: Option<&str>) -> &'static str {
    match environment_name {
        Some(n) if n.eq_ignore_ascii_case("AzureUSGovernment") => {
            "https://login.microsoftonline.us"
        }
        Some(n) if n.eq_ignore_ascii_case("AzureChinaCloud") => "https://login.chinacloudapi.cn",
        _ => env::PUBLIC_CLOUD_HOST,
    }
}

/// The part of `azureProfile.json` read here.
#[derive(Debug, Deserialize)]
struct Profile {
    #[serde(default)]
    subscriptions: Vec<Subscription>,
}

#[derive(Debug, Clone, Deserialize)]
struct Subscription {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(rename = "tenantId", default)]
    tenant_id: String,
    #[serde(rename = "isDefault", default)]
    is_default: bool,
    #[serde(rename = "environmentName", default)]
    environment_name: Option<String>,
    user: ProfileUser,
}

#[derive(Debug, Clone, Deserialize)]
struct ProfileUser {
    name: String,
    #[serde(rename = "type", default)]
    kind: String,
}

/// The largest profile read (it lists subscriptions; thousands fit in a MiB).
const MAX_PROFILE_BYTES: u64 = 16 * 1024 * 1024;

fn read_profile(path: &Path) -> Result<Profile, Failure> {
    let bytes = match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_PROFILE_BYTES => {
            return Err(Failure::failed(format!(
                "{} is larger than {MAX_PROFILE_BYTES} bytes",
                path.display()
            )));
        }
        Ok(_) => std::fs::read(path),
        Err(e) => Err(e),
    }
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Failure::unavailable(format!("{} not found; {HINT}", path.display()))
        }
        _ => Failure::failed(format!("cannot read {}: {e}", path.display())),
    })?;
    parse_profile(&bytes).map_err(|e| Failure::failed(format!("{}: {e}", path.display())))
}

/// Parses a profile; the Azure CLI writes it with a UTF-8 byte order mark.
fn parse_profile(bytes: &[u8]) -> Result<Profile, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    serde_json::from_slice(bytes).map_err(|e| format!("not an Azure CLI profile: {e}"))
}

impl Profile {
    /// The subscription named `wanted` (id or name), else the default one.
    fn choose(self, wanted: Option<&str>, path: &Path) -> Result<Subscription, Failure> {
        let found = match wanted {
            Some(w) => self
                .subscriptions
                .into_iter()
                .find(|s| s.id.eq_ignore_ascii_case(w) || s.name == w)
                .ok_or_else(|| {
                    Failure::unavailable(format!("no subscription {w:?} in {}", path.display()))
                })?,
            None => self
                .subscriptions
                .into_iter()
                .find(|s| s.is_default)
                .ok_or_else(|| {
                    Failure::unavailable(format!(
                        "no default subscription in {} (nobody is signed in); {HINT}",
                        path.display()
                    ))
                })?,
        };
        if !found.user.kind.eq_ignore_ascii_case("user") {
            return Err(Failure::unavailable(format!(
                "the Azure CLI is signed in as a {} ({}), whose secret is not in its token cache; use EnvironmentCredential or ManagedIdentityCredential",
                if found.user.kind.is_empty() {
                    "non-user"
                } else {
                    &found.user.kind
                },
                found.user.name
            )));
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = "\u{feff}{\"installationId\": \"x\", \"subscriptions\": [\
        {\"id\": \"s1\", \"name\": \"Dev\", \"state\": \"Enabled\", \"user\": {\"name\": \"ada@contoso.com\", \"type\": \"user\"}, \"isDefault\": false, \"tenantId\": \"t1\", \"environmentName\": \"AzureCloud\"},\
        {\"id\": \"s2\", \"name\": \"Prod\", \"state\": \"Enabled\", \"user\": {\"name\": \"ada@contoso.com\", \"type\": \"user\"}, \"isDefault\": true, \"tenantId\": \"t2\", \"environmentName\": \"AzureUSGovernment\"},\
        {\"id\": \"s3\", \"name\": \"Robot\", \"user\": {\"name\": \"0000-app\", \"type\": \"servicePrincipal\"}, \"isDefault\": false, \"tenantId\": \"t3\"}]}";

    #[test]
    fn reads_the_default_subscription_past_the_byte_order_mark() {
        let p = parse_profile(PROFILE.as_bytes()).expect("parse");
        let s = p.choose(None, Path::new("p")).expect("default");
        assert_eq!((s.id.as_str(), s.tenant_id.as_str()), ("s2", "t2"));
        assert_eq!(
            cloud_host(s.environment_name.as_deref()),
            "https://login.microsoftonline.us"
        );
    }

    #[test]
    fn a_chosen_subscription_by_name_or_id_and_no_service_principals() {
        let p = || parse_profile(PROFILE.as_bytes()).expect("parse");
        assert_eq!(
            p().choose(Some("Dev"), Path::new("p")).unwrap().tenant_id,
            "t1"
        );
        assert_eq!(
            p().choose(Some("S1"), Path::new("p")).unwrap().tenant_id,
            "t1"
        );
        let e = p().choose(Some("Robot"), Path::new("p")).unwrap_err();
        assert!(e.message().contains("servicePrincipal"), "{}", e.message());
        let e = p().choose(Some("nope"), Path::new("p")).unwrap_err();
        assert!(matches!(e, Failure::Unavailable(_)));
    }

    #[test]
    fn nobody_signed_in_and_garbage() {
        let empty = parse_profile(b"{\"subscriptions\": []}").expect("parse");
        let e = empty.choose(None, Path::new("p")).unwrap_err();
        assert!(e.message().contains("az login"), "{}", e.message());
        assert!(parse_profile(b"\xEF\xBB\xBFnot json").is_err());
        assert!(parse_profile(b"{\"subscriptions\": [{\"id\": 1}]}").is_err());
    }
}
