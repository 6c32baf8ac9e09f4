//! What the CLI reports when something fails: one line on stderr and an exit
//! code a script can branch on.

use std::process::ExitCode;

use msal::error::{StorageErrorKind, TransportErrorKind};

/// Exit code: anything that failed, bad arguments included.
pub(crate) const EXIT_ERROR: u8 = 1;
/// Exit code: a new interactive sign-in is needed (`msal login`).
pub(crate) const EXIT_SIGN_IN_REQUIRED: u8 = 2;

/// A failure of a command.
#[derive(Debug)]
pub(crate) struct CliError {
    /// The exit code.
    pub(crate) code: u8,
    /// What to print (one line; newlines are flattened when printed).
    pub(crate) message: String,
}

/// A command's result.
pub(crate) type CliResult<T = ()> = Result<T, CliError>;

impl CliError {
    /// A failure with exit code 1.
    pub(crate) fn other(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_ERROR,
            message: message.into(),
        }
    }

    /// "Sign in again", exit code 2.
    pub(crate) fn sign_in_required(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_SIGN_IN_REQUIRED,
            message: message.into(),
        }
    }

    /// The single line printed on stderr.
    pub(crate) fn line(&self) -> String {
        one_line(&format!("msal: {}", self.message))
    }

    /// Prints the line and returns the exit code.
    pub(crate) fn report(&self) -> ExitCode {
        eprintln!("{}", self.line());
        ExitCode::from(self.code)
    }
}

/// `text` with line breaks and runs of white space folded into single spaces.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl From<msal::Error> for CliError {
    fn from(e: msal::Error) -> Self {
        use msal::Error as E;
        match &e {
            E::UiRequired {
                reason, suberror, ..
            } => {
                let sub = suberror
                    .as_deref()
                    .map(|s| format!(" [{s}]"))
                    .unwrap_or_default();
                Self::sign_in_required(format!(
                    "sign-in required: {reason}{sub}; run `msal login` (with the same --scopes)"
                ))
            }
            E::Throttled { retry_after } => Self::other(format!(
                "the identity provider asked to wait {}s before trying again",
                retry_after.as_secs().max(1)
            )),
            E::Service(s) => Self::other(format!("the identity provider refused: {s}")),
            E::Transport(t) => Self::other(transport_message(t)),
            E::Protocol(p) => Self::other(format!("the identity provider broke the protocol: {p}")),
            E::CacheFormat(c) => Self::other(format!(
                "the token cache is not a valid MSAL cache ({c}); move the cache file aside to start empty"
            )),
            E::Storage(s) => Self::other(storage_message(s)),
            E::Config(c) => Self::other(format!("invalid configuration: {c}")),
            E::Cancelled(why) => Self::other(format!("sign-in did not complete: {why}")),
            _ => Self::other(e.to_string()),
        }
    }
}

/// The message for a transport failure, with what to do about it.
fn transport_message(t: &msal::error::TransportError) -> String {
    match t.kind {
        TransportErrorKind::Connect => format!(
            "cannot reach the identity provider: {}; check the network, --authority and --proxy / HTTPS_PROXY",
            t.message
        ),
        TransportErrorKind::Timeout => format!(
            "the identity provider did not answer in time: {}",
            t.message
        ),
        // The transport's TLS and proxy messages already say what to do.
        _ => format!("cannot reach the identity provider: {}", t.message),
    }
}

/// The message for a cache storage failure.
fn storage_message(s: &msal::error::StorageError) -> String {
    use msal_cache_file::{CorruptReason, Error as FileError};
    if let Some(FileError::Corrupt { reason, .. }) = msal_cache_file::file_cache_error(s) {
        match reason {
            CorruptReason::EncryptedButPlaintextConfigured => {
                return format!("{}; drop --plaintext to read it", s.message);
            }
            CorruptReason::PlaintextButEncryptionConfigured => {
                return format!(
                    "{}; pass --plaintext to use it as plain JSON (as MSAL Python and the Azure CLI do)",
                    s.message
                );
            }
            _ => {}
        }
    }
    match s.kind {
        StorageErrorKind::Corrupt => format!(
            "{}; move the file aside (or delete it) to start with an empty cache",
            s.message
        ),
        StorageErrorKind::Unavailable => format!(
            "the token cache cannot be used: {}; without an OS keyring, use --plaintext \
             (a plain JSON file, mode 0600) or --cache on a machine that has one",
            s.message
        ),
        StorageErrorKind::LockTimeout => format!(
            "the token cache is locked by another process: {}",
            s.message
        ),
        _ => format!("the token cache failed: {}", s.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_required_is_exit_code_2() {
        let e: CliError = msal::Error::UiRequired {
            reason: msal::error::UiRequiredReason::NoTokensFound,
            suberror: None,
            claims: Some("{\"secret-ish\":1}".into()),
        }
        .into();
        assert_eq!(e.code, EXIT_SIGN_IN_REQUIRED);
        assert!(e.message.contains("msal login"), "{}", e.message);
        assert!(!e.message.contains("secret-ish"), "claims are not shown");
    }

    #[test]
    fn other_errors_are_exit_code_1_on_one_line() {
        let mut s = msal::error::ServiceError::new("invalid_client");
        s.description = Some("AADSTS7000215: bad\r\nsecret.\n Trace ID: x".into());
        let e: CliError = msal::Error::Service(Box::new(s)).into();
        assert_eq!(e.code, EXIT_ERROR);
        let line = e.line();
        assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
        assert!(
            line.starts_with("msal: the identity provider refused: invalid_client: AADSTS7000215")
        );
    }

    #[test]
    fn a_corrupt_cache_says_what_to_do() {
        let s = msal::error::StorageError::new(
            StorageErrorKind::Corrupt,
            "the cache file /x is unusable",
        );
        let e: CliError = msal::Error::Storage(s).into();
        assert_eq!(e.code, EXIT_ERROR);
        assert!(e.message.contains("/x is unusable") && e.message.contains("move the file aside"));
    }
}
