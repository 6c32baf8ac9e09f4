//! The HTTP seam: every request msal makes goes through one [`HttpClient`].
//!
//! The trait speaks the `http` crate's types so that tests (and users with
//! their own stack) can swap the transport without depending on reqwest.

use std::future::Future;
use std::pin::Pin;

#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use crate::transport::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, ReqwestHttpClient,
    ReqwestHttpClientBuilder,
};
pub use crate::transport::{Direct, ProxyConfig};

/// A boxed, `Send` future: the return type of the I/O traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An outgoing request with its whole body.
pub type HttpRequest = http::Request<Vec<u8>>;

/// A response with its whole body (already capped in size by the client).
pub type HttpResponse = http::Response<Vec<u8>>;

/// Sends one request. Implementations must not follow redirects: a redirect
/// from an identity provider is a protocol error the caller must see.
pub trait HttpClient: Send + Sync + 'static {
    /// Sends `request` and returns the response, whatever its status.
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>>;
}

/// What went wrong below HTTP: the request never produced a response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("{kind}: {message}")]
pub struct TransportError {
    /// The class of failure, for retry decisions.
    pub kind: TransportErrorKind,
    /// A human-readable message. Never contains a request body or query.
    pub message: String,
    /// The underlying error, if any.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TransportError {
    /// Builds an error of `kind` with a message.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Whether trying again may help (connection failures and timeouts).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            TransportErrorKind::Connect | TransportErrorKind::Timeout
        )
    }
}

/// Classes of transport failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// Could not connect (refused, DNS, unreachable).
    Connect,
    /// The connect or total timeout passed.
    Timeout,
    /// TLS failed (untrusted certificate, handshake).
    Tls,
    /// A proxy refused or wants credentials.
    Proxy,
    /// The response body was larger than allowed.
    BodyTooLarge,
    /// Anything else.
    Other,
}

impl std::fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Connect => "connection failed",
            Self::Timeout => "timed out",
            Self::Tls => "TLS failure",
            Self::Proxy => "proxy failure",
            Self::BodyTooLarge => "response too large",
            Self::Other => "transport failure",
        })
    }
}
