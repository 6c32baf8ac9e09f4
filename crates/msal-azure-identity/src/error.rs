//! How failures reach the Azure SDK: every error is an `azure_core::Error` of
//! kind [`ErrorKind::Credential`], its message starting with the credential's
//! name and keeping msal's own message, and the msal error as its source.
//!
//! Inside the crate a failure also says whether the source is merely absent
//! here ([`Failure::Unavailable`]: the chain tries the next one) or present
//! and failing ([`Failure::Failed`]).

use azure_core::error::ErrorKind;

use crate::chain::ChainStep;

/// A failure inside the crate, before it becomes an `azure_core::Error`.
#[derive(Debug)]
pub(crate) enum Failure {
    /// This source does not exist here (not configured, nobody signed in,
    /// no endpoint): a chain moves on to the next one.
    Unavailable(String),
    /// The source exists and failed.
    Failed {
        message: String,
        source: Option<msal::Error>,
    },
}

impl Failure {
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable(message.into())
    }

    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self::Failed {
            message: message.into(),
            source: None,
        }
    }

    /// A failed call into msal; `hint` (e.g. "run `msal login`") is added
    /// when interaction is required.
    pub(crate) fn msal(e: msal::Error, hint: Option<&str>) -> Self {
        let message = match hint {
            Some(h) if e.is_ui_required() => format!("{e}; {h}"),
            _ => e.to_string(),
        };
        Self::Failed {
            message,
            source: Some(e),
        }
    }

    /// The message, without the credential's name.
    pub(crate) fn message(&self) -> &str {
        match self {
            Self::Unavailable(m) | Self::Failed { message: m, .. } => m,
        }
    }

    /// A developer tool's failure never stops a chain: whatever went wrong,
    /// the tool is unavailable.
    pub(crate) fn into_unavailable(self) -> Self {
        match self {
            Self::Failed { message, .. } => Self::Unavailable(message),
            other => other,
        }
    }

    /// The `azure_core::Error` the SDK sees: kind `Credential`, message
    /// `"<credential>: <message>"`, the msal error as its source.
    pub(crate) fn into_azure(self, credential: &str) -> azure_core::Error {
        match self {
            Self::Unavailable(m) => {
                azure_core::Error::with_message(ErrorKind::Credential, format!("{credential}: {m}"))
            }
            Self::Failed {
                message,
                source: Some(e),
            } => azure_core::Error::with_error(
                ErrorKind::Credential,
                e,
                format!("{credential}: {message}"),
            ),
            Self::Failed {
                message,
                source: None,
            } => azure_core::Error::with_message(
                ErrorKind::Credential,
                format!("{credential}: {message}"),
            ),
        }
    }
}

/// A credential's configuration could not be used: the error its builder
/// returns.
pub(crate) fn config_error(credential: &str, message: impl std::fmt::Display) -> azure_core::Error {
    azure_core::Error::with_message(
        ErrorKind::Credential,
        format!("{credential}: invalid configuration: {message}"),
    )
}

/// What every source of a [`DefaultCredential`](crate::DefaultCredential)
/// said when none gave a token: the source of the `azure_core::Error` it
/// returns, so a caller can list the attempts
/// (`error.downcast_ref::<ChainError>()`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChainError {
    /// Each source tried, in order, with what it said.
    pub attempts: Vec<ChainAttempt>,
    /// The source that was configured but failed and so ended the chain
    /// (the chain does not fall through to another identity), if any.
    pub stopped_at: Option<ChainStep>,
}

/// One source's answer in a [`ChainError`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChainAttempt {
    /// The source.
    pub step: ChainStep,
    /// Whether the source exists here (it was configured or detected) but
    /// failed, rather than being absent.
    pub failed: bool,
    /// What it said (never a token or a secret).
    pub message: String,
}

impl std::fmt::Display for ChainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.stopped_at {
            Some(step) => write!(
                f,
                "{step} is configured but failed, so the chain stopped there (it does not fall through to another identity)"
            )?,
            None if self.attempts.is_empty() => f.write_str("every source is excluded")?,
            None => f.write_str("no source gave a token")?,
        }
        for a in &self.attempts {
            write!(f, "\n  {}: {}", a.step, a.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ChainError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_required_gets_the_hint_and_keeps_msals_message() {
        let e = msal::Error::UiRequired {
            reason: msal::error::UiRequiredReason::NoTokensFound,
            suberror: None,
            claims: None,
        };
        let az = Failure::msal(e, Some("run `msal login`")).into_azure("SignedInUserCredential");
        assert_eq!(*az.kind(), ErrorKind::Credential);
        let text = az.to_string();
        assert!(
            text.starts_with("SignedInUserCredential: user interaction required (no tokens found in the cache); run `msal login`"),
            "{text}"
        );
        assert!(
            az.downcast_ref::<msal::Error>().is_some(),
            "msal's error is the source"
        );
    }

    #[test]
    fn the_chain_error_lists_every_attempt() {
        let e = ChainError {
            attempts: vec![
                ChainAttempt {
                    step: ChainStep::Environment,
                    failed: false,
                    message: "not configured".into(),
                },
                ChainAttempt {
                    step: ChainStep::MsalCli,
                    failed: false,
                    message: "no account is signed in".into(),
                },
            ],
            stopped_at: None,
        };
        assert_eq!(
            e.to_string(),
            "no source gave a token\n  environment: not configured\n  msal_cli: no account is signed in"
        );
    }
}
