//! [`ManagedIdentityCredential`]: the identity of the Azure host the program
//! runs on, and the short probe that tells whether a VM's IMDS is there.

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use msal::clock::{Clock, SystemClock};
use msal::http::HttpClient;
use msal::managed_identity::{
    Environment, ManagedIdentity, ManagedIdentityApplication, Source, UserAssignedId,
};
use msal::storage::CacheAccess;

use crate::env;
use crate::error::{Failure, config_error};
use crate::memo::Memo;
use crate::token::{access_token, check_scopes};

const NAME: &str = "ManagedIdentityCredential";

/// How long the default chain waits for IMDS to answer before deciding
/// there is none.
pub const DEFAULT_IMDS_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The identity of the Azure resource the program runs on (a VM, App
/// Service, Functions, Container Apps, AKS node, Arc server, Cloud Shell,
/// Azure ML, Service Fabric), as a `TokenCredential`. The host's identity
/// endpoint is found from its environment variables, as every MSAL does;
/// without any, the VM's IMDS is used.
///
/// A managed identity token is for one resource: `get_token` takes exactly
/// one scope, `<resource>/.default` (or the resource itself).
///
/// ```no_run
/// # async fn run() -> azure_core::Result<()> {
/// use azure_core::credentials::TokenCredential;
/// use msal_azure_identity::ManagedIdentityCredential;
///
/// let credential = ManagedIdentityCredential::builder().build()?; // system-assigned
/// let token = credential.get_token(&["https://vault.azure.net/.default"], None).await?;
/// # let _ = token; Ok(()) }
/// ```
///
/// # Errors
/// `get_token` fails with an error of kind `Credential` for anything but one
/// scope, and with msal's message when the endpoint refuses or cannot be
/// reached.
pub struct ManagedIdentityCredential {
    app: ManagedIdentityApplication,
    memo: Memo,
}

impl std::fmt::Debug for ManagedIdentityCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(NAME)
            .field("identity", self.app.identity())
            .field("source", &self.app.source())
            .finish_non_exhaustive()
    }
}

/// Configures a [`ManagedIdentityCredential`].
#[must_use]
pub struct ManagedIdentityCredentialBuilder {
    identity: ManagedIdentity,
    env: Option<Environment>,
    http: Option<Arc<dyn HttpClient>>,
    clock: Option<Arc<dyn Clock>>,
    cache: Option<Arc<dyn CacheAccess>>,
}

impl std::fmt::Debug for ManagedIdentityCredentialBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedIdentityCredentialBuilder")
            .field("identity", &self.identity)
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

impl ManagedIdentityCredential {
    /// Starts configuring the credential for the system-assigned identity.
    pub fn builder() -> ManagedIdentityCredentialBuilder {
        ManagedIdentityCredentialBuilder {
            identity: ManagedIdentity::SystemAssigned,
            env: None,
            http: None,
            clock: None,
            cache: None,
        }
    }

    /// The endpoint found when it was built.
    pub fn source(&self) -> Source {
        self.app.source()
    }

    pub(crate) async fn token(&self, scopes: &[&str]) -> Result<AccessToken, Failure> {
        check_scopes(scopes)?;
        let [scope] = scopes else {
            return Err(Failure::failed(format!(
                "a managed identity token is for one resource, but {} scopes were given ({})",
                scopes.len(),
                scopes.join(" ")
            )));
        };
        let key = Memo::key(scopes);
        if let Some(t) = self.memo.get(&key, None, false) {
            return Ok(t);
        }
        let t = self
            .app
            .acquire_token_for_resource(*scope)
            .await
            .map_err(|e| Failure::msal(e, None))?;
        tracing::debug!(
            target: "msal_azure_identity",
            from_cache = t.source() == msal::TokenSource::Cache,
            expires_on = t.expires_on_unix(),
            "managed identity token"
        );
        let token = access_token(t.access_token().expose_secret(), t.expires_on_unix())?;
        self.memo.put(key, &token, t.refresh_on_unix(), None);
        Ok(token)
    }
}

impl ManagedIdentityCredentialBuilder {
    /// Which identity (default: system-assigned).
    pub fn identity(mut self, identity: ManagedIdentity) -> Self {
        self.identity = identity;
        self
    }

    /// A user-assigned identity, by client id, resource id or object id.
    pub fn user_assigned(mut self, id: UserAssignedId) -> Self {
        self.identity = ManagedIdentity::UserAssigned(id);
        self
    }

    /// Where the host's variables are read (default: the process environment).
    pub fn environment(mut self, env: Environment) -> Self {
        self.env = Some(env);
        self
    }

    /// The HTTP client (default: msal's, never through a proxy, with short
    /// connect timeouts).
    pub fn http_client(mut self, http: Arc<dyn HttpClient>) -> Self {
        self.http = Some(http);
        self
    }

    /// The clock deciding token expiry (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Where tokens are cached (default: in memory). A
    /// [`msal_cache_file::FileCache`] keeps them for the next run of the
    /// program (a CLI, a cron job): managed identity endpoints are
    /// rate-limited, and a token lives for a day.
    pub fn cache_access(mut self, cache: Arc<dyn CacheAccess>) -> Self {
        self.cache = Some(cache);
        self
    }

    pub(crate) fn build_inner(self) -> Result<ManagedIdentityCredential, msal::Error> {
        let mut b = ManagedIdentityApplication::builder(self.identity);
        if let Some(env) = self.env {
            b = b.environment(env);
        }
        if let Some(http) = self.http {
            b = b.http_client(http);
        }
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        b = b.clock(clock.clone());
        if let Some(cache) = self.cache {
            b = b.cache_access(cache);
        }
        Ok(ManagedIdentityCredential {
            app: b.build()?,
            memo: Memo::new(clock),
        })
    }

    /// Finds the endpoint and builds the credential; nothing is sent yet.
    ///
    /// # Errors
    /// An error of kind `Credential` when the host's variables are unusable
    /// or name a source that cannot serve the identity asked for.
    pub fn build(self) -> azure_core::Result<Arc<ManagedIdentityCredential>> {
        self.build_inner()
            .map(Arc::new)
            .map_err(|e| config_error(NAME, e))
    }
}

#[async_trait::async_trait]
impl TokenCredential for ManagedIdentityCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.token(scopes).await.map_err(|f| f.into_azure(NAME))
    }
}

/// The IMDS host: `AZURE_POD_IDENTITY_AUTHORITY_HOST`, else the link-local address.
pub(crate) fn imds_base(env: &Environment) -> String {
    env.var(env::AZURE_POD_IDENTITY_AUTHORITY_HOST)
        .map(|h| h.trim().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| "http://169.254.169.254".to_owned())
}

/// Whether IMDS answers at all: one request without the `Metadata` header
/// (so no token is issued), any HTTP answer within `timeout` counting.
pub(crate) async fn probe_imds(
    http: &dyn HttpClient,
    base: &str,
    timeout: Duration,
) -> Result<(), String> {
    let url = format!("{base}/metadata/identity/oauth2/token?api-version=2018-02-01");
    let request = http::Request::get(&url)
        .body(Vec::new())
        .map_err(|e| format!("bad IMDS address {base}: {e}"))?;
    match tokio::time::timeout(timeout, http.execute(request)).await {
        Ok(Ok(response)) => {
            tracing::debug!(target: "msal_azure_identity", status = response.status().as_u16(), "IMDS answered the probe");
            Ok(())
        }
        Ok(Err(e)) => Err(format!(
            "no managed identity endpoint: IMDS at {base} is unreachable ({e})"
        )),
        Err(_) => Err(format!(
            "no managed identity endpoint: IMDS at {base} did not answer within {} ms",
            timeout.as_millis()
        )),
    }
}

/// The default client for the probe: no proxy, the timeout as connect timeout.
pub(crate) fn probe_client(timeout: Duration) -> Result<Arc<dyn HttpClient>, String> {
    msal::http::ReqwestHttpClient::builder()
        .proxy(msal::http::ProxyConfig::None)
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
        .map(|c| Arc::new(c) as Arc<dyn HttpClient>)
        .map_err(|e| format!("cannot build the IMDS probe's HTTP client: {e}"))
}

/// Whether `source` was announced by the host's variables (rather than
/// being the IMDS fallback, which needs the probe).
pub(crate) fn announced(source: Source) -> bool {
    source != Source::Imds
}
