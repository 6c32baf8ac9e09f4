//! What public and confidential apps are configured with alike: one struct,
//! one set of builder setters ([`common_setters!`]) and one way of filling
//! in the defaults, so the two builders cannot drift apart.

use std::sync::Arc;

use crate::authority::{Authority, DEFAULT_AUTHORITY};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::storage::CacheAccess;

/// The settings both app builders share.
pub(crate) struct CommonSettings {
    pub(crate) authority: Option<Result<Authority>>,
    pub(crate) instance_discovery: bool,
    pub(crate) http: Option<Arc<dyn HttpClient>>,
    pub(crate) clock: Option<Arc<dyn Clock>>,
    pub(crate) cache_access: Option<Arc<dyn CacheAccess>>,
    pub(crate) capabilities: Vec<String>,
    pub(crate) pii: bool,
    /// For the default HTTP client only: the proxy, and extra PEM roots.
    pub(crate) proxy: Option<crate::transport::ProxyConfig>,
    pub(crate) extra_roots_pem: Vec<Vec<u8>>,
}

impl Default for CommonSettings {
    fn default() -> Self {
        Self {
            authority: None,
            instance_discovery: true,
            http: None,
            clock: None,
            cache_access: None,
            capabilities: Vec::new(),
            pii: false,
            proxy: None,
            extra_roots_pem: Vec::new(),
        }
    }
}

impl std::fmt::Debug for CommonSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommonSettings")
            .field("instance_discovery", &self.instance_discovery)
            .field("http", &self.http.as_ref().map(|_| "set"))
            .field("cache_access", &self.cache_access.as_ref().map(|_| "set"))
            .finish_non_exhaustive()
    }
}

/// [`CommonSettings`] with every default filled in, checked.
pub(crate) struct Resolved {
    pub(crate) client_id: String,
    pub(crate) authority: Authority,
    pub(crate) instance_discovery: bool,
    pub(crate) http: Arc<dyn HttpClient>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) cache_access: Option<Arc<dyn CacheAccess>>,
    pub(crate) capabilities: Vec<String>,
    pub(crate) pii: bool,
}

impl CommonSettings {
    /// Checks the client id and fills in the defaults: the `common`
    /// authority, the reqwest HTTP client, the system clock.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty client id, a bad authority, or
    /// (without the `reqwest` feature) a missing HTTP client.
    pub(crate) fn resolve(self, client_id: &str) -> Result<Resolved> {
        let client_id = client_id.trim().to_owned();
        if client_id.is_empty() {
            return Err(Error::config("the client id is empty"));
        }
        let authority = match self.authority {
            Some(a) => a?,
            None => Authority::parse(DEFAULT_AUTHORITY)?,
        };
        let network_settings = self.proxy.is_some() || !self.extra_roots_pem.is_empty();
        let http = match self.http {
            Some(_) if network_settings => {
                return Err(Error::config(
                    "proxy() and add_root_certificate_pem() configure msal's own HTTP client; with http_client(), set them on that client",
                ));
            }
            Some(h) => h,
            None => default_http(self.proxy, self.extra_roots_pem)?,
        };
        Ok(Resolved {
            client_id,
            authority,
            instance_discovery: self.instance_discovery,
            http,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            cache_access: self.cache_access,
            capabilities: self.capabilities,
            pii: self.pii,
        })
    }
}

#[cfg(feature = "reqwest")]
fn default_http(
    proxy: Option<crate::transport::ProxyConfig>,
    extra_roots_pem: Vec<Vec<u8>>,
) -> Result<Arc<dyn HttpClient>> {
    let mut builder = crate::transport::ReqwestHttpClient::builder();
    if let Some(proxy) = proxy {
        builder = builder.proxy(proxy);
    }
    for pem in &extra_roots_pem {
        builder = builder.add_root_certificate_pem(pem);
    }
    Ok(Arc::new(builder.build()?))
}

#[cfg(not(feature = "reqwest"))]
fn default_http(
    proxy: Option<crate::transport::ProxyConfig>,
    extra_roots_pem: Vec<Vec<u8>>,
) -> Result<Arc<dyn HttpClient>> {
    let _ = (proxy, extra_roots_pem);
    Err(Error::config(
        "no HTTP client: enable the `reqwest` feature or pass one with http_client()",
    ))
}

/// The builder setters both apps share, on a `common: CommonSettings` field.
/// (`cache_access` stays with each builder: it means a whole cache for a
/// public client and one partition at a time for a confidential one.)
macro_rules! common_setters {
    () => {
        /// The authority: an Entra tenant (`https://login.microsoftonline.com/<tenant
        /// id, domain, common, organizations or consumers>`, any cloud; app
        /// tokens need a specific tenant), a B2C URL with its policy, an ADFS
        /// URL (`https://<host>/adfs`), a CIAM URL, or an
        /// [`Authority`](crate::authority::Authority).
        /// Default: `https://login.microsoftonline.com/common`.
        pub fn authority(mut self, authority: impl crate::authority::IntoAuthority) -> Self {
            self.common.authority = Some(authority.into_authority());
            self
        }

        /// A generic OpenID Connect provider, by its issuer URL.
        pub fn oidc_authority(mut self, issuer: &str) -> Self {
            self.common.authority = Some(crate::authority::Authority::oidc(issuer));
            self
        }

        /// Whether to ask the authority's host for its aliases when it is not a
        /// well-known Entra host (default `true`). Turn it off for private
        /// deployments; no discovery request is made then.
        pub fn instance_discovery(mut self, enabled: bool) -> Self {
            self.common.instance_discovery = enabled;
            self
        }

        /// The HTTP client (default: [`ReqwestHttpClient`](crate::http::ReqwestHttpClient)
        /// with the system's proxy settings, when the `reqwest` feature is on).
        pub fn http_client(mut self, http: std::sync::Arc<dyn crate::http::HttpClient>) -> Self {
            self.common.http = Some(http);
            self
        }

        /// Where msal's own HTTP client sends requests: a proxy URL
        /// ([`ProxyConfig::Url`](crate::transport::ProxyConfig::Url), credentials
        /// allowed and never shown), none, or (the default) `HTTPS_PROXY`,
        /// `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` as curl reads them.
        /// Loopback is never proxied. Not combinable with `http_client`.
        pub fn proxy(mut self, proxy: crate::transport::ProxyConfig) -> Self {
            self.common.proxy = Some(proxy);
            self
        }

        /// Trusts the root certificate(s) in this PEM document as well as the
        /// operating system's store and `SSL_CERT_FILE` / `SSL_CERT_DIR` (a
        /// company's TLS-inspecting proxy, a test CA). May be called several
        /// times. Not combinable with `http_client`.
        pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Self {
            self.common.extra_roots_pem.push(pem.to_vec());
            self
        }

        /// The clock (default: the system clock).
        pub fn clock(mut self, clock: std::sync::Arc<dyn crate::clock::Clock>) -> Self {
            self.common.clock = Some(clock);
            self
        }

        /// Client capabilities announced to Entra (e.g. `cp1` for continuous
        /// access evaluation), sent as `xms_cc` claims with every token request.
        pub fn client_capabilities<I, S>(mut self, capabilities: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.common.capabilities = capabilities.into_iter().map(Into::into).collect();
            self
        }

        /// Whether logs may carry personal data (account ids, user names).
        /// Tokens and secrets are never logged. Default `false`.
        pub fn enable_pii_logging(mut self, enabled: bool) -> Self {
            self.common.pii = enabled;
            self
        }
    };
}

pub(crate) use common_setters;
