//! [`EmulatorError`]: what can go wrong when configuring or starting the
//! emulator. Protocol errors are not Rust errors: they are Entra-shaped HTTP
//! responses (see `entra_error.rs`).

use std::path::PathBuf;

/// Errors from loading a configuration, starting the server or calling the
/// in-process admin API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {path}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML or JSON for the schema.
    #[error("the configuration file {path} is malformed: {message}")]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// The parser's message (line and column included).
        message: String,
    },
    /// The configuration parsed but is inconsistent (duplicate ids, a user in
    /// an unknown tenant, a certificate that is not an RSA certificate...).
    #[error("invalid emulator configuration: {0}")]
    InvalidConfig(String),
    /// Binding the listening socket failed.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Generating a key or certificate failed.
    #[error("key or certificate generation failed: {0}")]
    Crypto(String),
    /// Writing the CA certificate failed.
    #[error("cannot write the CA certificate to {path}")]
    CertWrite {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An admin call named something that does not exist (a user, a pending
    /// device code, an app).
    #[error("not found: {0}")]
    NotFound(String),
    /// An admin call was given a value out of range (a clock offset past
    /// 100 years, a fault status outside 200..=599, too many queued faults).
    #[error("invalid admin request: {0}")]
    InvalidRequest(String),
    /// An admin call was refused (for example approving a device code that
    /// was already redeemed).
    #[error("admin request refused: {0}")]
    Refused(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = EmulatorError> = std::result::Result<T, E>;
