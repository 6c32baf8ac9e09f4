//! The HTTP layer: the default client ([`ReqwestHttpClient`]) and what the
//! engine sends every request through ([`Transport`]).
//!
//! ```text
//! engine ──▶ Transport ──▶ dyn HttpClient ──▶ network
//!            │ client-request-id, x-client-SKU/VER
//!            │ one retry on 5xx / connection failure
//!            └ throttle cache (429, 5xx, invalid_grant)
//! ```
//!
//! - [`Transport`] works over any [`HttpClient`](crate::http::HttpClient), so
//!   tests use a fake and users may bring their own stack.
//! - [`ReqwestHttpClient`] (feature `reqwest`, on by default) adds timeouts,
//!   a response size cap, corporate-network trust ([`tls`]: OS store,
//!   `SSL_CERT_FILE`, `SSL_CERT_DIR`, extra PEM roots) and proxies
//!   ([`proxy`]: `HTTPS_PROXY` & co., explicit, or none).
//! - Logs (`tracing`, target `msal::transport`) carry method, host, path,
//!   status and correlation id: never a body, a query string, a token or
//!   proxy credentials.

mod engine;
mod service_error;
pub mod throttle;

#[cfg(feature = "reqwest")]
mod der;
#[cfg(feature = "reqwest")]
mod errors;
// Without reqwest only `ProxyConfig` (a builder setting) is used.
#[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
pub mod proxy;
#[cfg(feature = "reqwest")]
mod reqwest_client;
#[cfg(feature = "reqwest")]
pub mod tls;

#[allow(unused_imports)] // for msal's own tests (test-internals)
pub use engine::{
    CLIENT_REQUEST_ID, CLIENT_SKU, CLIENT_VER, MAX_RETRY_WAIT, RETURN_CLIENT_REQUEST_ID, SKU,
    Transport,
};
#[allow(unused_imports)] // ProxyRules: for msal's own tests
pub use proxy::{Direct, ProxyConfig, ProxyRules};
#[cfg(feature = "reqwest")]
pub use reqwest_client::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, ReqwestHttpClient,
    ReqwestHttpClientBuilder,
};
pub use service_error::service_error;
#[allow(unused_imports)] // for msal's own tests
pub use throttle::Throttle;

/// The default HTTP client ([`ReqwestHttpClient::new`]) behind the trait.
///
/// # Errors
/// As [`ReqwestHttpClientBuilder::build`].
#[cfg(feature = "reqwest")]
#[cfg_attr(not(feature = "test-internals"), allow(dead_code))]
pub fn default_http_client() -> Result<std::sync::Arc<dyn crate::http::HttpClient>, crate::Error> {
    Ok(std::sync::Arc::new(ReqwestHttpClient::new()?))
}
