//! The default [`HttpClient`]: reqwest over rustls, redirects off, timeouts
//! and a response size cap, with the trust and proxy rules of
//! [`super::tls`] and [`super::proxy`].

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::errors::{Target, map_reqwest_error, proxy_auth_message};
use super::proxy::{Direct, ProxyConfig, ProxyRules, shown};
use crate::error::Error;
use crate::http::{
    BoxFuture, HttpClient, HttpRequest, HttpResponse, TransportError, TransportErrorKind,
};

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default total timeout of one request, body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on a response body: far above any token or discovery
/// response, far below what would hurt a process.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// The default [`HttpClient`], built on reqwest and rustls.
///
/// - Redirects are not followed (an identity provider that redirects is a
///   protocol error the caller must see).
/// - Trusts the OS store, `SSL_CERT_FILE` / `SSL_CERT_DIR` and extra roots.
/// - Uses the proxy from the environment unless told otherwise; never
///   proxies link-local (managed identity) or, unless asked, loopback.
/// - Fails with [`TransportErrorKind::BodyTooLarge`] past the size cap.
///
/// Cheap to clone.
#[derive(Clone)]
pub struct ReqwestHttpClient {
    client: reqwest::Client,
    /// The same client without any proxy, for requests marked [`Direct`].
    direct: reqwest::Client,
    rules: Arc<ProxyRules>,
    max_response_bytes: usize,
    connect_timeout: Duration,
    timeout: Duration,
}

impl std::fmt::Debug for ReqwestHttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReqwestHttpClient")
            .field("proxy", &*self.rules)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Configures a [`ReqwestHttpClient`]. Setters never fail; [`build`](Self::build) reports problems.
#[derive(Debug, Clone)]
#[must_use]
pub struct ReqwestHttpClientBuilder {
    connect_timeout: Duration,
    timeout: Duration,
    max_response_bytes: usize,
    extra_roots_pem: Vec<Vec<u8>>,
    use_env_roots: bool,
    proxy: ProxyConfig,
    proxy_loopback: bool,
    /// Replaces the trust rules (managed identity's certificate pinning).
    tls_override: Option<rustls::ClientConfig>,
    /// The TLS client certificate (mutual TLS).
    identity: Option<crate::credentials::Certificate>,
}

impl Default for ReqwestHttpClientBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            extra_roots_pem: Vec::new(),
            use_env_roots: true,
            proxy: ProxyConfig::FromEnvironment,
            proxy_loopback: false,
            tls_override: None,
            identity: None,
        }
    }
}

impl ReqwestHttpClientBuilder {
    /// How long connecting (TCP, proxy tunnel and TLS) may take. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a whole request may take, body included. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest response body accepted. Default 8 MiB.
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// Trusts the root certificate(s) in this PEM document too (a corporate
    /// root, a test CA). May be called several times.
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Self {
        self.extra_roots_pem.push(pem.to_vec());
        self
    }

    /// Whether to read `SSL_CERT_FILE` and `SSL_CERT_DIR`. Default true.
    pub fn use_env_roots(mut self, yes: bool) -> Self {
        self.use_env_roots = yes;
        self
    }

    /// Where requests go. Default [`ProxyConfig::FromEnvironment`].
    pub fn proxy(mut self, proxy: ProxyConfig) -> Self {
        self.proxy = proxy;
        self
    }

    /// Whether loopback addresses (`127.0.0.0/8`, `::1`, `localhost`) go
    /// through the proxy too. Default false: local listeners and emulators
    /// are reached directly.
    pub fn proxy_loopback(mut self, yes: bool) -> Self {
        self.proxy_loopback = yes;
        self
    }

    /// Presents `certificate` (and its chain) as the client certificate in
    /// TLS handshakes: mutual TLS, as mTLS proof-of-possession token
    /// requests need. Default: no client certificate.
    pub fn client_certificate(mut self, certificate: crate::credentials::Certificate) -> Self {
        self.identity = Some(certificate);
        self
    }

    /// Uses `config` instead of the trust rules of [`super::tls`]: for an
    /// endpoint whose certificate is pinned (Service Fabric's managed identity).
    pub(crate) fn tls_config(mut self, config: rustls::ClientConfig) -> Self {
        self.tls_override = Some(config);
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::Config`] for an unusable proxy URL (named by variable, never
    /// shown with its credentials), an unreadable `SSL_CERT_FILE` /
    /// `SSL_CERT_DIR`, a PEM without certificates, or no trusted roots at all.
    pub fn build(self) -> Result<ReqwestHttpClient, Error> {
        let rules = Arc::new(ProxyRules::from_process_env(
            &self.proxy,
            self.proxy_loopback,
        )?);
        let tls = match self.tls_override.clone() {
            Some(config) => config,
            None => super::tls::client_config(
                &self.extra_roots_pem,
                self.use_env_roots,
                self.identity.as_ref(),
            )?,
        };
        let decide = rules.clone();
        let base = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(self.connect_timeout)
                .timeout(self.timeout)
                .no_proxy()
                .tls_backend_preconfigured(tls.clone())
        };
        let failed = |e: reqwest::Error| {
            Error::config(format!("cannot build the HTTP client: {}", e.without_url()))
        };
        let client = base()
            .proxy(reqwest::Proxy::custom(move |url| {
                decide.proxy_for(url).cloned()
            }))
            .build()
            .map_err(failed)?;
        let direct = base().build().map_err(failed)?;
        Ok(ReqwestHttpClient {
            client,
            direct,
            rules,
            max_response_bytes: self.max_response_bytes,
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
        })
    }
}

impl ReqwestHttpClient {
    /// A builder with the defaults.
    pub fn builder() -> ReqwestHttpClientBuilder {
        ReqwestHttpClientBuilder::default()
    }

    /// A client with the defaults.
    ///
    /// # Errors
    /// As [`ReqwestHttpClientBuilder::build`].
    pub fn new() -> Result<Self, Error> {
        Self::builder().build()
    }

    async fn run(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let url = Url::parse(&request.uri().to_string()).map_err(|e| {
            TransportError::new(
                TransportErrorKind::Other,
                format!("invalid request URL: {e}"),
            )
        })?;
        let direct = request.extensions().get::<Direct>().is_some();
        let proxy = if direct {
            None
        } else {
            self.rules.proxy_for(&url).cloned()
        };
        let target = Target {
            url: &url,
            proxy: proxy.as_ref(),
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
        };
        tracing::trace!(
            method = %request.method(), host = url.host_str().unwrap_or(""), path = url.path(),
            proxy = proxy.as_ref().map(shown).unwrap_or_default(), "sending"
        );
        let request = reqwest::Request::try_from(request).map_err(|e| {
            TransportError::new(
                TransportErrorKind::Other,
                format!("invalid request: {}", e.without_url()),
            )
        })?;
        let client = if direct { &self.direct } else { &self.client };
        let mut response = match client.execute(request).await {
            Ok(r) => r,
            Err(e) => return Err(map_reqwest_error(e, &target).await),
        };
        let status = response.status();
        if let (Some(p), 407) = (&proxy, status.as_u16()) {
            let host = url.host_str().unwrap_or("");
            return Err(TransportError::new(
                TransportErrorKind::Proxy,
                proxy_auth_message(p, host),
            ));
        }
        let too_large = |got: String| {
            TransportError::new(
                TransportErrorKind::BodyTooLarge,
                format!(
                    "the response from {} is larger than the limit of {} bytes ({got})",
                    url.host_str().unwrap_or(""),
                    self.max_response_bytes
                ),
            )
        };
        if let Some(len) = response
            .content_length()
            .filter(|len| *len > self.max_response_bytes as u64)
        {
            return Err(too_large(format!("Content-Length {len}")));
        }
        let mut builder = http::Response::builder()
            .status(status)
            .version(response.version());
        if let Some(h) = builder.headers_mut() {
            *h = std::mem::take(response.headers_mut());
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.max_response_bytes {
                        return Err(too_large("stopped reading".to_owned()));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(map_reqwest_error(e, &target).await),
            }
        }
        tracing::trace!(status = status.as_u16(), bytes = body.len(), "received");
        builder.body(body).map_err(|e| {
            TransportError::new(TransportErrorKind::Other, format!("invalid response: {e}"))
        })
    }
}

impl HttpClient for ReqwestHttpClient {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(self.run(request))
    }
}
