//! How a confidential client proves who it is at the token endpoint.
//!
//! | credential | form fields sent |
//! |---|---|
//! | [`ClientCredential::secret`] | `client_secret` |
//! | [`ClientCredential::certificate`] | `client_assertion_type` + `client_assertion` (a JWT msal signs, reused until 5 minutes before it expires) |
//! | [`ClientCredential::assertion`] | `client_assertion_type` + `client_assertion` (yours, as is) |
//! | [`ClientCredential::assertion_callback`] | `client_assertion_type` + `client_assertion` (your callback's, asked for each request) |
//! | [`ClientCredential::workload_identity`] | `client_assertion_type` + `client_assertion` (the federated token file, re-read when it changes) |

mod certificate;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use url::Url;
use zeroize::Zeroizing;

pub use certificate::{Certificate, SigningAlgorithm};

use crate::engine::ClientAuthentication;
use crate::error::Result;
use crate::http::BoxFuture;
use crate::managed_identity::WorkloadIdentityAssertion;
use crate::protocol::token::TokenForm;
use crate::secret::{Assertion, ClientSecret};

/// The `client_assertion_type` of a JWT client assertion (RFC 7523).
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A cached signed assertion is re-signed when it has less than this left.
const RESIGN_MARGIN_SECS: i64 = 300;

/// What an assertion callback is asked for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AssertionRequest {
    /// The app's client id (the assertion's `iss` and `sub`).
    pub client_id: String,
    /// The token endpoint the assertion is for (its `aud`).
    pub token_endpoint: Url,
}

type Callback = dyn Fn(AssertionRequest) -> BoxFuture<'static, Result<Assertion>> + Send + Sync;

/// A confidential client's credential. Cheap to clone; `Debug` names the
/// kind only.
#[derive(Clone)]
pub struct ClientCredential {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Secret(ClientSecret),
    Certificate(Certificate),
    Assertion(Assertion),
    Callback(Arc<Callback>),
    Workload(Arc<WorkloadIdentityAssertion>),
}

impl std::fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Secret(_) => f.write_str("ClientCredential::Secret(<redacted>)"),
            Kind::Certificate(c) => f
                .debug_tuple("ClientCredential::Certificate")
                .field(c)
                .finish(),
            Kind::Assertion(_) => f.write_str("ClientCredential::Assertion(<redacted>)"),
            Kind::Callback(_) => f.write_str("ClientCredential::AssertionCallback"),
            Kind::Workload(w) => f
                .debug_tuple("ClientCredential::WorkloadIdentity")
                .field(&w.path())
                .finish(),
        }
    }
}

impl ClientCredential {
    /// A client secret (sent as `client_secret`).
    pub fn secret(secret: ClientSecret) -> Self {
        Self {
            kind: Kind::Secret(secret),
        }
    }

    /// The certificate of a certificate credential.
    pub(crate) fn as_certificate(&self) -> Option<&Certificate> {
        match &self.kind {
            Kind::Certificate(c) => Some(c),
            _ => None,
        }
    }

    /// A certificate: msal signs a client assertion with its key.
    pub fn certificate(certificate: Certificate) -> Self {
        Self {
            kind: Kind::Certificate(certificate),
        }
    }

    /// A client assertion you signed yourself, sent as is with every request.
    /// It must outlive the app's use of it; prefer
    /// [`assertion_callback`](Self::assertion_callback) for assertions that expire.
    pub fn assertion(assertion: Assertion) -> Self {
        Self {
            kind: Kind::Assertion(assertion),
        }
    }

    /// A callback that returns a fresh client assertion, called for every
    /// token request with the client id and token endpoint (cache inside the
    /// callback if signing is costly).
    ///
    /// ```
    /// use msal::credentials::{AssertionRequest, ClientCredential};
    /// use msal::secret::Assertion;
    /// let credential = ClientCredential::assertion_callback(|req: AssertionRequest| async move {
    ///     // e.g. ask a key vault to sign a JWT for req.token_endpoint
    ///     Ok(Assertion::new(format!("signed-for-{}", req.client_id)))
    /// });
    /// # let _ = credential;
    /// ```
    pub fn assertion_callback<F, Fut>(callback: F) -> Self
    where
        F: Fn(AssertionRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Assertion>> + Send + 'static,
    {
        let boxed: Arc<Callback> = Arc::new(move |req| Box::pin(callback(req)));
        Self {
            kind: Kind::Callback(boxed),
        }
    }

    /// A federated token (workload identity: AKS, GitHub Actions, ...) used
    /// as the client assertion, read from its file and re-read whenever the
    /// platform rotates it.
    pub fn workload_identity(assertion: WorkloadIdentityAssertion) -> Self {
        Self {
            kind: Kind::Workload(Arc::new(assertion)),
        }
    }

    /// [`workload_identity`](Self::workload_identity) with the token file at `path`.
    pub fn federated_token_file(path: impl Into<PathBuf>) -> Self {
        Self::workload_identity(WorkloadIdentityAssertion::new(path))
    }
}

/// A signed assertion kept for reuse.
#[derive(Clone)]
struct Signed {
    expires_on: i64,
    assertion: Assertion,
}

/// A credential bound to an app: adds the credential's fields to each
/// token-endpoint form.
pub(crate) struct ClientAuth {
    client_id: String,
    credential: ClientCredential,
    /// Signed certificate assertions per token endpoint (several tenants).
    signed: moka::sync::Cache<String, Signed>,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuth")
            .field("client_id", &self.client_id)
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

/// The form fields of a credential. Values are wiped on drop.
pub(crate) type Fields = Vec<(&'static str, Zeroizing<String>)>;

impl ClientAuth {
    /// Binds `credential` to `client_id`.
    pub(crate) fn new(client_id: impl Into<String>, credential: ClientCredential) -> Self {
        Self {
            client_id: client_id.into(),
            credential,
            signed: moka::sync::Cache::builder().max_capacity(4096).build(),
        }
    }

    /// The form fields for a request to `token_endpoint` at `now`.
    ///
    /// # Errors
    /// The callback's error; [`crate::Error::Config`] when the workload
    /// identity token file cannot be read or signing fails.
    pub(crate) async fn fields(&self, token_endpoint: &Url, now: SystemTime) -> Result<Fields> {
        let assertion = match &self.credential.kind {
            Kind::Secret(s) => {
                return Ok(vec![(
                    "client_secret",
                    Zeroizing::new(s.expose_secret().to_owned()),
                )]);
            }
            Kind::Assertion(a) => a.clone(),
            Kind::Certificate(c) => self.certificate_assertion(c, token_endpoint, unix(now))?,
            Kind::Callback(cb) => {
                cb(AssertionRequest {
                    client_id: self.client_id.clone(),
                    token_endpoint: token_endpoint.clone(),
                })
                .await?
            }
            Kind::Workload(w) => w.assertion()?,
        };
        Ok(vec![
            (
                "client_assertion_type",
                Zeroizing::new(JWT_BEARER_ASSERTION_TYPE.to_owned()),
            ),
            (
                "client_assertion",
                Zeroizing::new(assertion.expose_secret().to_owned()),
            ),
        ])
    }

    /// A signed assertion for `token_endpoint`, reused while it has more
    /// than five minutes left.
    fn certificate_assertion(
        &self,
        cert: &Certificate,
        token_endpoint: &Url,
        now: i64,
    ) -> Result<Assertion> {
        let aud = token_endpoint.as_str();
        // A clock moved backwards (remaining > lifetime) also re-signs.
        let fresh = |s: &Signed| {
            let left = s.expires_on - now;
            left > RESIGN_MARGIN_SECS && left <= certificate::ASSERTION_LIFETIME_SECS
        };
        if let Some(s) = self.signed.get(aud).filter(fresh) {
            return Ok(s.assertion);
        }
        let assertion = cert.sign(&self.client_id, aud, now)?;
        self.signed.insert(
            aud.to_owned(),
            Signed {
                expires_on: now + certificate::ASSERTION_LIFETIME_SECS,
                assertion: assertion.clone(),
            },
        );
        Ok(assertion)
    }
}

impl ClientAuthentication for ClientAuth {
    fn apply<'a>(
        &'a self,
        form: &'a mut TokenForm,
        token_endpoint: &'a Url,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for (name, value) in self.fields(token_endpoint, now).await? {
                form.set(name, &value);
            }
            Ok(())
        })
    }
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
