//! [`ManagedIdentityApplication`]: cache first, then the detected source.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use url::Url;

use super::environment::{Environment, Source, detect_source};
use super::response::{error_from_response, parse_token_response};
use super::retry::{self, RetryPolicy};
use super::sources::{Extras, Resolved, resolve};
use super::{ManagedIdentity, arc, cache, resource_of};
use crate::cache::{SharedToken, TokenCache};
use crate::clock::{Clock, SystemClock};
use crate::engine::{
    AuthenticationResult, CacheIo, Partition, SingleFlight, TokenFlow, TokenSource, acquire,
};
use crate::error::Error;
use crate::http::{BoxFuture, HttpClient, HttpResponse};
use crate::storage::CacheAccess;
/// Connect timeout of the default client: identity endpoints are on the host
/// or its link, so a connection that takes longer is not coming.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Total timeout of one request with the default client.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Configures a [`ManagedIdentityApplication`].
#[must_use]
pub struct ManagedIdentityApplicationBuilder {
    identity: ManagedIdentity,
    http: Option<Arc<dyn HttpClient>>,
    clock: Option<Arc<dyn Clock>>,
    env: Environment,
    source: Option<Source>,
    imds_endpoint: Option<String>,
    connect_timeout: Duration,
    timeout: Duration,
    cache_access: Option<Arc<dyn CacheAccess>>,
    client_capabilities: Vec<String>,
}

impl std::fmt::Debug for ManagedIdentityApplicationBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedIdentityApplicationBuilder")
            .field("identity", &self.identity)
            .field("env", &self.env)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl ManagedIdentityApplicationBuilder {
    /// The HTTP client for every source but Service Fabric (which always uses
    /// a client of its own that trusts only the pinned certificate). Requests
    /// carry [`Direct`](crate::transport::Direct): a client that honours it
    /// never sends them through a proxy. Default: a
    /// [`ReqwestHttpClient`](crate::transport::ReqwestHttpClient) without
    /// proxy, with [`DEFAULT_CONNECT_TIMEOUT`] and [`DEFAULT_TIMEOUT`].
    pub fn http_client(mut self, http: Arc<dyn HttpClient>) -> Self {
        self.http = Some(http);
        self
    }

    /// The clock (token expiry, retry waits). Default: the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Where the source's variables are read. Default: the process environment.
    pub fn environment(mut self, env: Environment) -> Self {
        self.env = env;
        self
    }

    /// Uses `source` instead of detecting it from the environment (its
    /// variables are still read from the environment).
    pub fn source(mut self, source: Source) -> Self {
        self.source = Some(source);
        self
    }

    /// The IMDS token endpoint (default
    /// `http://169.254.169.254/metadata/identity/oauth2/token`, or
    /// `$AZURE_POD_IDENTITY_AUTHORITY_HOST/metadata/identity/oauth2/token`).
    pub fn imds_endpoint(mut self, url: impl Into<String>) -> Self {
        self.imds_endpoint = Some(url.into());
        self
    }

    /// Hooks around every cache access, to keep tokens beyond this process
    /// (a [`StoreAccess`](crate::storage::StoreAccess) over any store). The
    /// suggested partition key is
    /// [`ManagedIdentity::cache_partition_key`], with `is_app_cache`.
    /// Default: memory only.
    pub fn cache_access(mut self, access: Arc<dyn CacheAccess>) -> Self {
        self.cache_access = Some(access);
        self
    }

    /// Client capabilities (`"cp1"`: this app handles claims challenges),
    /// sent to App Service and Service Fabric as `xms_cc` (comma-separated),
    /// as MSAL .NET, Go and Python do.
    pub fn client_capabilities<I, S>(mut self, capabilities: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.client_capabilities = capabilities.into_iter().map(Into::into).collect();
        self
    }

    /// Connect timeout of the default HTTP client. Default [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Total timeout of one request of the default HTTP client. Default [`DEFAULT_TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Detects the source and builds the application. Nothing is sent yet.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty user-assigned id, an unusable endpoint
    /// or secret in the environment, a user-assigned identity on a source that
    /// cannot serve one (Service Fabric, Cloud Shell, Azure Arc; Azure ML
    /// takes client ids only), a bad Service Fabric thumbprint or a non-HTTPS
    /// Service Fabric endpoint, or no HTTP client (without the `reqwest` feature).
    pub fn build(self) -> Result<ManagedIdentityApplication, Error> {
        if let ManagedIdentity::UserAssigned(id) = &self.identity
            && id.value().trim().is_empty()
        {
            return Err(Error::config(
                "the user-assigned managed identity's id is empty",
            ));
        }
        let source = self.source.unwrap_or_else(|| detect_source(&self.env));
        let imds = self
            .imds_endpoint
            .as_deref()
            .map(|u| {
                Url::parse(u).map_err(|e| {
                    Error::config(format!("the IMDS endpoint {u:?} is not a URL: {e}"))
                })
            })
            .transpose()?;
        let resolved = resolve(source, &self.env, &self.identity, imds.as_ref())?;
        let http = match (source, self.http) {
            (Source::ServiceFabric, _) => {
                service_fabric_client(&resolved, self.connect_timeout, self.timeout)?
            }
            (_, Some(http)) => http,
            (_, None) => default_client(self.connect_timeout, self.timeout)?,
        };
        tracing::debug!(target: "msal::managed_identity", %source, "managed identity source");
        Ok(ManagedIdentityApplication {
            inner: Arc::new(Inner {
                cache: CacheIo::new(self.cache_access),
                flights: SingleFlight::default(),
                cache_client_id: self.identity.cache_client_id().to_owned(),
                partition: self.identity.cache_partition_key(),
                identity: self.identity,
                resolved,
                http,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                key_directory: self.env.key_directory().map(ToOwned::to_owned),
                client_capabilities: self.client_capabilities,
            }),
        })
    }
}

#[cfg(feature = "reqwest")]
fn service_fabric_client(
    r: &Resolved,
    connect: Duration,
    total: Duration,
) -> Result<Arc<dyn HttpClient>, Error> {
    let pin = r
        .thumbprint
        .ok_or_else(|| Error::config("Service Fabric needs IDENTITY_SERVER_THUMBPRINT"))?;
    super::service_fabric::pinned_client(pin, connect, total)
}

#[cfg(not(feature = "reqwest"))]
fn service_fabric_client(
    _: &Resolved,
    _: Duration,
    _: Duration,
) -> Result<Arc<dyn HttpClient>, Error> {
    Err(Error::config(
        "Service Fabric managed identity needs msal's `reqwest` feature (its certificate is pinned)",
    ))
}

#[cfg(feature = "reqwest")]
fn default_client(connect: Duration, total: Duration) -> Result<Arc<dyn HttpClient>, Error> {
    let client = crate::transport::ReqwestHttpClient::builder()
        .proxy(crate::transport::ProxyConfig::None)
        .connect_timeout(connect)
        .timeout(total)
        .build()?;
    Ok(Arc::new(client))
}

#[cfg(not(feature = "reqwest"))]
fn default_client(_: Duration, _: Duration) -> Result<Arc<dyn HttpClient>, Error> {
    Err(Error::config(
        "no HTTP client: pass one with http_client() or enable msal's `reqwest` feature",
    ))
}

/// Gets tokens for a managed identity from the identity endpoint of the
/// Azure host it runs on. Cheap to clone; clones share the cache.
///
/// See the [module documentation](super) for the sources and an example.
#[derive(Clone)]
pub struct ManagedIdentityApplication {
    inner: Arc<Inner>,
}

struct Inner {
    identity: ManagedIdentity,
    resolved: Resolved,
    http: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
    key_directory: Option<std::path::PathBuf>,
    /// The engine's cache, with the hooks' rules (never write after a failed
    /// read) and its partition key.
    cache: CacheIo,
    /// One request per resource at a time: callers that miss the cache
    /// together share the first one's.
    flights: SingleFlight,
    /// The `client_id` its tokens are cached under.
    cache_client_id: String,
    /// The suggested partition key of its cache hooks.
    partition: String,
    /// Sent to Service Fabric as `xms_cc`.
    client_capabilities: Vec<String>,
}

impl std::fmt::Debug for ManagedIdentityApplication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedIdentityApplication")
            .field("identity", &self.inner.identity)
            .field("source", &self.inner.resolved.source)
            .finish_non_exhaustive()
    }
}

impl ManagedIdentityApplication {
    /// A builder for `identity`.
    pub fn builder(identity: ManagedIdentity) -> ManagedIdentityApplicationBuilder {
        ManagedIdentityApplicationBuilder {
            identity,
            http: None,
            clock: None,
            env: Environment::process(),
            source: None,
            imds_endpoint: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            cache_access: None,
            client_capabilities: Vec::new(),
        }
    }

    /// The identity this application gets tokens for.
    pub fn identity(&self) -> &ManagedIdentity {
        &self.inner.identity
    }

    /// The partition key its cache hooks are given
    /// ([`ManagedIdentity::cache_partition_key`]).
    pub fn cache_partition_key(&self) -> &str {
        &self.inner.partition
    }

    /// The source detected (or chosen) when it was built.
    pub fn source(&self) -> Source {
        self.inner.resolved.source
    }

    /// A token for `resource` (`https://vault.azure.net`), or for a
    /// `<resource>/.default` scope. Await it, optionally after
    /// [`force_refresh`](AcquireTokenForResource::force_refresh) or
    /// [`claims`](AcquireTokenForResource::claims).
    pub fn acquire_token_for_resource(
        &self,
        resource: impl Into<String>,
    ) -> AcquireTokenForResource<'_> {
        AcquireTokenForResource {
            app: self,
            resource: resource.into(),
            force_refresh: false,
            claims: None,
        }
    }

    /// The token of the cache entry shared by this call's results.
    fn result(&self, token: Arc<SharedToken>, source: TokenSource) -> AuthenticationResult {
        AuthenticationResult::app_token(token, source)
    }

    async fn fetch(
        &self,
        resource: &str,
        rejected_sha256: Option<&str>,
    ) -> Result<AuthenticationResult, Error> {
        let inner = &self.inner;
        let source = inner.resolved.source;
        let response = if source == Source::AzureArc {
            self.fetch_arc(resource).await?
        } else {
            let policy = if source == Source::Imds {
                RetryPolicy::Imds
            } else {
                RetryPolicy::Default
            };
            let extras = Extras {
                token_sha256_to_refresh: rejected_sha256,
                client_capabilities: &inner.client_capabilities,
                arc_key: None,
            };
            let make = || inner.resolved.request(&inner.identity, resource, &extras);
            retry::send(&inner.http, &inner.clock, policy, &make).await?
        };
        if !response.status().is_success() {
            return Err(error_from_response(source, &response, inner.clock.now()));
        }
        let now = inner.clock.unix_now();
        let parsed = parse_token_response(response.body(), now)?;
        let expires_on = now.saturating_add(parsed.expires_in);
        inner
            .cache
            .access(Partition::app(&inner.partition), |c| {
                cache::add(c, &inner.cache_client_id, resource, &parsed, now)
            })
            .await?;
        tracing::debug!(target: "msal::managed_identity", %source, expires_on, "token from the identity endpoint");
        let token = SharedToken {
            secret: parsed.access_token,
            token_type: parsed.token_type.into(),
            expires_on,
            refresh_on: parsed.refresh_on,
            scopes: Box::new([resource.to_owned()]),
            realm: None,
        };
        Ok(self.result(Arc::new(token), TokenSource::IdentityProvider))
    }

    /// Arc: a first request, the key-file challenge, then the real request.
    async fn fetch_arc(&self, resource: &str) -> Result<HttpResponse, Error> {
        let inner = &self.inner;
        let first = {
            let make = || {
                inner
                    .resolved
                    .request(&inner.identity, resource, &Extras::default())
            };
            retry::send(&inner.http, &inner.clock, RetryPolicy::Default, &make).await?
        };
        if first.status() != 401 && !first.status().is_success() {
            return Err(error_from_response(
                Source::AzureArc,
                &first,
                inner.clock.now(),
            ));
        }
        let path = arc::challenge_path(&first)?;
        let key = arc::read_key(&path, inner.key_directory.as_deref())?;
        let extras = Extras {
            arc_key: Some(key.as_str()),
            ..Extras::default()
        };
        let make = || inner.resolved.request(&inner.identity, resource, &extras);
        retry::send(&inner.http, &inner.clock, RetryPolicy::Default, &make).await
    }
}

fn hex_sha256(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A pending [`ManagedIdentityApplication::acquire_token_for_resource`]; await it.
#[must_use = "a token request does nothing until awaited"]
pub struct AcquireTokenForResource<'a> {
    app: &'a ManagedIdentityApplication,
    resource: String,
    force_refresh: bool,
    claims: Option<String>,
}

impl std::fmt::Debug for AcquireTokenForResource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcquireTokenForResource")
            .field("resource", &self.resource)
            .field("force_refresh", &self.force_refresh)
            .field("claims", &self.claims.is_some())
            .finish()
    }
}

impl<'a> AcquireTokenForResource<'a> {
    /// Skips the cache and asks the endpoint (the new token is cached).
    pub fn force_refresh(mut self, yes: bool) -> Self {
        self.force_refresh = yes;
        self
    }

    /// A claims challenge from a resource that rejected the cached token
    /// (token revocation): skips the cache, and on App Service and Service
    /// Fabric sends the rejected token's SHA-256 (lower-case hex) as
    /// `token_sha256_to_refresh` with the app's client capabilities as
    /// `xms_cc`, so the host replaces the token instead of serving it from
    /// its own cache. The new token replaces the old one in the cache.
    pub fn claims(mut self, claims: impl Into<String>) -> Self {
        self.claims = Some(claims.into()).filter(|c| !c.trim().is_empty());
        self
    }
}

impl<'a> IntoFuture for AcquireTokenForResource<'a> {
    type Output = Result<AuthenticationResult, Error>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let resource = resource_of(&self.resource).to_owned();
            if resource.is_empty() {
                return Err(Error::config("the resource is empty"));
            }
            acquire(Call {
                app: self.app.clone(),
                resource,
                force_refresh: self.force_refresh,
                claims: self.claims,
            })
            .await
        })
    }
}

/// One managed-identity call, as the engine runs it.
struct Call {
    app: ManagedIdentityApplication,
    resource: String,
    force_refresh: bool,
    claims: Option<String>,
}

impl TokenFlow for Call {
    fn cache(&self) -> &CacheIo {
        &self.app.inner.cache
    }

    fn flights(&self) -> &SingleFlight {
        &self.app.inner.flights
    }

    fn now(&self) -> i64 {
        self.app.inner.clock.unix_now()
    }

    fn partition(&self) -> Partition<'_> {
        Partition::app(&self.app.inner.partition)
    }

    fn skip_cache(&self) -> bool {
        self.force_refresh || self.claims.is_some()
    }

    fn flight_key(&self) -> String {
        format!(
            "\0managed_identity\n{}\n{}\n{}",
            self.resource.to_ascii_lowercase(),
            self.claims.as_deref().unwrap_or(""),
            self.force_refresh
        )
    }

    fn find(&self, c: &TokenCache, now: i64) -> Option<AuthenticationResult> {
        cache::find(c, &self.app.inner.cache_client_id, &self.resource, now)
            .map(|t| self.app.result(t, TokenSource::Cache))
    }

    async fn fetch(&self) -> Result<AuthenticationResult, Error> {
        // A claims challenge rejected the cached token: the endpoint is told
        // which one (token_sha256_to_refresh on App Service and Service Fabric).
        let rejected = match &self.claims {
            Some(_) => {
                let now = self.now();
                self.cache()
                    .read(self.partition(), |c| {
                        crate::engine::classify(self.find(c, now), now)
                    })
                    .await?
                    .map(|f| {
                        let (crate::engine::Found::Fresh(r) | crate::engine::Found::Due(r)) = f;
                        hex_sha256(r.access_token().expose_secret())
                    })
            }
            None => None,
        };
        self.app.fetch(&self.resource, rejected.as_deref()).await
    }
}
