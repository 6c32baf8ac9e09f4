//! [`Certificate`]: a private key and its X.509 certificate, which sign the
//! client assertions a confidential client presents instead of a secret.
//!
//! The assertion is a JWT (RFC 7523) as Entra ID expects it:
//! header `alg` (PS256 by default, RS256 on request), `typ: JWT`,
//! `x5t#S256` = base64url(SHA-256 of the DER certificate) and, on request,
//! `x5c` = the base64 DER chain (subject name + issuer authentication);
//! claims `aud` = the token endpoint, `iss` = `sub` = the client id, a random
//! `jti`, `iat` = `nbf` = now and `exp` = now + 10 minutes.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sha2::Digest as _;

use crate::error::{Error, Result};
use crate::secret::Assertion;

/// How long a signed client assertion is valid (MSAL Python, MSAL.NET).
pub(crate) const ASSERTION_LIFETIME_SECS: i64 = 600;

/// The signature algorithm of client assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// RSASSA-PSS with SHA-256 (what MSAL.NET, Node and Python send to Entra ID).
    #[default]
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (ADFS and older servers). The header
    /// then also carries the SHA-1 thumbprint (`x5t`).
    Rs256,
}

/// A client certificate: an RSA private key and the certificate (chain) that
/// the app registration knows. Cheap to clone.
///
/// ```
/// # fn load(key_pem: &str, cert_pem: &str) -> msal::Result<()> {
/// use msal::credentials::{Certificate, ClientCredential};
/// let cert = Certificate::from_pem(key_pem, cert_pem)?.with_x5c(true);
/// let credential = ClientCredential::certificate(cert);
/// # let _ = credential; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Certificate {
    inner: Arc<Inner>,
    x5c: bool,
    algorithm: SigningAlgorithm,
}

struct Inner {
    key: EncodingKey,
    /// The private key's PEM, for mutual TLS (wiped on drop).
    key_pem: zeroize::Zeroizing<Vec<u8>>,
    /// DER certificates, the app's own first.
    chain: Vec<Vec<u8>>,
    x5t_s256: String,
    x5t: String,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Thumbprints are public (they are in every assertion); the key is not shown.
        f.debug_struct("Certificate")
            .field("x5t#S256", &self.inner.x5t_s256)
            .field("chain_len", &self.inner.chain.len())
            .field("x5c", &self.x5c)
            .field("algorithm", &self.algorithm)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl Certificate {
    /// Reads an unencrypted RSA private key (PEM: PKCS#8 `PRIVATE KEY` or
    /// PKCS#1 `RSA PRIVATE KEY`) and the certificate in PEM. When
    /// `certificate_pem` holds several certificates, the first is the app's
    /// and the rest its chain (sent with [`with_x5c`](Self::with_x5c)).
    ///
    /// # Errors
    /// [`Error::Config`] when the key is not an unencrypted RSA key in PEM,
    /// cannot sign, or when no certificate is found. Messages never contain
    /// key material.
    pub fn from_pem(
        private_key_pem: impl AsRef<[u8]>,
        certificate_pem: impl AsRef<[u8]>,
    ) -> Result<Self> {
        let key_pem = private_key_pem.as_ref();
        if contains(key_pem, b"ENCRYPTED PRIVATE KEY") {
            return Err(Error::config(
                "the certificate's private key is encrypted; decrypt it first (msal takes an unencrypted PKCS#8 or PKCS#1 RSA key)",
            ));
        }
        let key = EncodingKey::from_rsa_pem(key_pem).map_err(|e| {
            Error::config(format!(
                "the certificate's private key is not an RSA key in PEM (PKCS#8 or PKCS#1): {}",
                e.kind_name()
            ))
        })?;
        let chain = pem_certificates(certificate_pem.as_ref())?;
        let leaf = chain.first().ok_or_else(|| {
            Error::config("no -----BEGIN CERTIFICATE----- block in the certificate PEM")
        })?;
        let x5t_s256 = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(leaf));
        let x5t = URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(leaf));
        let cert = Self {
            inner: Arc::new(Inner {
                key,
                key_pem: zeroize::Zeroizing::new(key_pem.to_vec()),
                chain,
                x5t_s256,
                x5t,
            }),
            x5c: false,
            algorithm: SigningAlgorithm::default(),
        };
        // A key that parses may still not sign (a truncated modulus): say so now, not at the first token request.
        cert.sign("probe", "https://probe.invalid/token", 0)
            .map_err(|_| {
                Error::config(
                    "the certificate's private key cannot sign (is it a complete RSA key?)",
                )
            })?;
        Ok(cert)
    }

    /// Whether to send the certificate chain in the `x5c` header, which
    /// Entra ID needs for subject name + issuer (SNI) authentication.
    /// Default `false`.
    pub fn with_x5c(mut self, send: bool) -> Self {
        self.x5c = send;
        self
    }

    /// The signature algorithm (default [`SigningAlgorithm::Ps256`]).
    pub fn with_algorithm(mut self, algorithm: SigningAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The certificate's SHA-256 thumbprint, base64url without padding (the
    /// `x5t#S256` header).
    pub fn thumbprint_sha256(&self) -> &str {
        &self.inner.x5t_s256
    }

    /// The certificate's SHA-1 thumbprint as the upper-case hex string the
    /// Azure portal shows.
    pub fn thumbprint_sha1_hex(&self) -> String {
        URL_SAFE_NO_PAD
            .decode(&self.inner.x5t)
            .unwrap_or_default()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }

    /// The private key's PEM (mutual TLS).
    #[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
    pub(crate) fn key_pem(&self) -> &[u8] {
        &self.inner.key_pem
    }

    /// The DER certificates read from the PEM, the app's own first.
    pub fn chain_der(&self) -> &[Vec<u8>] {
        &self.inner.chain
    }

    /// Signs a client assertion for `client_id` at `audience` (the token
    /// endpoint), valid from `now` (Unix seconds) for 10 minutes.
    pub(crate) fn sign(&self, client_id: &str, audience: &str, now: i64) -> Result<Assertion> {
        let mut header = Header::new(match self.algorithm {
            SigningAlgorithm::Ps256 => Algorithm::PS256,
            SigningAlgorithm::Rs256 => Algorithm::RS256,
        });
        header.x5t_s256 = Some(self.inner.x5t_s256.clone());
        if self.algorithm == SigningAlgorithm::Rs256 {
            header.x5t = Some(self.inner.x5t.clone());
        }
        if self.x5c {
            header.x5c = Some(
                self.inner
                    .chain
                    .iter()
                    .map(|der| STANDARD.encode(der))
                    .collect(),
            );
        }
        let claims = serde_json::json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now,
            "nbf": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        jsonwebtoken::encode(&header, &claims, &self.inner.key)
            .map(Assertion::new)
            .map_err(|e| {
                Error::config(format!(
                    "signing the client assertion failed: {}",
                    e.kind_name()
                ))
            })
    }
}

/// A short name for a jsonwebtoken error that cannot carry key material.
trait KindName {
    fn kind_name(&self) -> String;
}

impl KindName for jsonwebtoken::errors::Error {
    fn kind_name(&self) -> String {
        use jsonwebtoken::errors::ErrorKind as K;
        match self.kind() {
            K::InvalidKeyFormat => "invalid key format".to_owned(),
            K::InvalidRsaKey(_) => "invalid RSA key".to_owned(),
            K::InvalidAlgorithm => "algorithm does not fit the key".to_owned(),
            K::Base64(_) => "bad base64".to_owned(),
            K::RsaFailedSigning | K::Signing(_) => "signature failed".to_owned(),
            _ => "malformed key".to_owned(),
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every `CERTIFICATE` block of a PEM text, decoded to DER.
///
/// # Errors
/// [`Error::Config`] when the text is not UTF-8, a block is unterminated or
/// its base64 is malformed.
pub(crate) fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text =
        std::str::from_utf8(pem).map_err(|_| Error::config("the certificate PEM is not text"))?;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let body_start = start + BEGIN.len();
        let Some(len) = rest[body_start..].find(END) else {
            return Err(Error::config(format!(
                "certificate #{} in the PEM has no -----END CERTIFICATE----- line",
                out.len() + 1
            )));
        };
        let body: String = rest[body_start..body_start + len]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = STANDARD.decode(body.as_bytes()).map_err(|_| {
            Error::config(format!(
                "certificate #{} in the PEM is not valid base64",
                out.len() + 1
            ))
        })?;
        if der.first() != Some(&0x30) {
            return Err(Error::config(format!(
                "certificate #{} in the PEM is not a DER certificate",
                out.len() + 1
            )));
        }
        out.push(der);
        rest = &rest[body_start + len + END.len()..];
    }
    Ok(out)
}
