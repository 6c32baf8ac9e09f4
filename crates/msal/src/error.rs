//! The one error type of the `msal` crate.
//!
//! Variants are grouped by what a caller does next: sign the user in again
//! ([`Error::UiRequired`]), wait ([`Error::Throttled`]), retry
//! ([`Error::is_retryable`]), or fix something ([`Error::Config`],
//! [`Error::CacheFormat`]). No variant carries a request body, a raw token
//! response, a token, or a URL query.

use std::time::Duration;

pub use crate::http::{TransportError, TransportErrorKind};
pub use crate::storage::{StorageError, StorageErrorKind};

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `msal`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The user must sign in interactively (no usable refresh token, consent
    /// missing, MFA or a claims challenge).
    #[error("user interaction required ({reason})")]
    UiRequired {
        /// Why.
        reason: UiRequiredReason,
        /// The identity provider's `suberror`, if any (e.g. `basic_action`).
        suberror: Option<String>,
        /// A claims challenge to pass to the next interactive request.
        claims: Option<String>,
    },
    /// The identity provider asked us to back off; no request was sent.
    #[error("throttled; retry after {retry_after:?}")]
    Throttled {
        /// How long to wait.
        retry_after: Duration,
    },
    /// The identity provider answered with an OAuth error.
    #[error("identity provider error: {0}")]
    Service(Box<ServiceError>),
    /// The identity provider could not be reached.
    #[error("could not reach the identity provider: {0}")]
    Transport(#[source] TransportError),
    /// The identity provider's reply broke the protocol.
    #[error("identity provider broke the protocol: {0}")]
    Protocol(ProtocolError),
    /// A cache document is malformed.
    #[error("cache document is malformed: {0}")]
    CacheFormat(CacheFormatError),
    /// Cache storage failed.
    #[error("cache storage failed: {0}")]
    Storage(#[source] StorageError),
    /// The application is misconfigured, or a call's arguments are invalid.
    #[error("invalid configuration: {0}")]
    Config(ConfigError),
    /// The user or the caller cancelled the flow, or it timed out.
    #[error("the flow was cancelled: {0}")]
    Cancelled(String),
}

impl Error {
    /// Whether the caller should fall back to an interactive sign-in.
    pub fn is_ui_required(&self) -> bool {
        matches!(self, Self::UiRequired { .. })
    }

    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Throttled { .. } => true,
            Self::Transport(t) => t.is_retryable(),
            Self::Service(s) => s.status.map(|c| c >= 500 || c == 429).unwrap_or(false),
            Self::Storage(s) => {
                s.kind == StorageErrorKind::Unavailable || s.kind == StorageErrorKind::LockTimeout
            }
            _ => false,
        }
    }

    /// How long to wait before retrying, when the server said so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after } => Some(*retry_after),
            Self::Service(s) => s.retry_after,
            _ => None,
        }
    }

    /// Shorthand for a protocol error.
    pub(crate) fn protocol(message: impl Into<String>) -> Self {
        Self::Protocol(ProtocolError {
            message: message.into(),
        })
    }

    /// Shorthand for a configuration error.
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::Config(ConfigError {
            message: message.into(),
        })
    }
}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Self {
        Self::Transport(e)
    }
}

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        Self::Storage(e)
    }
}

impl From<CacheFormatError> for Error {
    fn from(e: CacheFormatError) -> Self {
        Self::CacheFormat(e)
    }
}

/// Why interaction is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UiRequiredReason {
    /// Nothing usable in the cache for this account.
    NoTokensFound,
    /// The refresh token was rejected (`invalid_grant`).
    InvalidGrant,
    /// The provider said `interaction_required` / `consent_required` / `login_required`.
    InteractionRequired,
    /// A claims challenge must be satisfied interactively.
    ClaimsChallenge,
}

impl std::fmt::Display for UiRequiredReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NoTokensFound => "no tokens found in the cache",
            Self::InvalidGrant => "the refresh token was rejected",
            Self::InteractionRequired => "the identity provider requires interaction",
            Self::ClaimsChallenge => "a claims challenge must be satisfied",
        })
    }
}

/// An OAuth error response from the identity provider.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ServiceError {
    /// HTTP status, if the error came with one.
    pub status: Option<u16>,
    /// The `error` code (`invalid_grant`, `invalid_client`, ...).
    pub error: String,
    /// The `error_description` (often starts with an AADSTS code).
    pub description: Option<String>,
    /// The `suberror`.
    pub suberror: Option<String>,
    /// The `error_codes`.
    pub error_codes: Vec<i64>,
    /// The `correlation_id`.
    pub correlation_id: Option<String>,
    /// The `trace_id`.
    pub trace_id: Option<String>,
    /// A `claims` challenge, if the provider sent one.
    pub claims: Option<String>,
    /// The `Retry-After` the provider sent, if any.
    pub retry_after: Option<Duration>,
}

impl ServiceError {
    /// A service error with just a code.
    pub fn new(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            ..Self::default()
        }
    }
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error)?;
        if let Some(d) = &self.description {
            write!(f, ": {d}")?;
        }
        if let Some(c) = &self.correlation_id {
            write!(f, " (correlation id {c})")?;
        }
        Ok(())
    }
}

/// The identity provider's reply did not follow the protocol.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProtocolError {
    /// What was wrong (never the body itself).
    pub message: String,
}

impl ProtocolError {
    /// A protocol error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A configuration or argument problem.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConfigError {
    /// What was wrong.
    pub message: String,
}

impl ConfigError {
    /// A configuration error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A cache document could not be read.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CacheFormatError {
    /// Where: a JSON path such as `$` or `$.AccessToken`, with line and column.
    pub path: String,
    /// What was wrong.
    pub message: String,
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// 1-based column of the problem, when known.
    pub column: Option<usize>,
}

impl CacheFormatError {
    /// A format error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            line: None,
            column: None,
        }
    }
}

impl std::fmt::Display for CacheFormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at {}", self.path)?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, " (line {l}, column {c})")?;
        }
        write!(f, ": {}", self.message)
    }
}
