//! Which certificates msal trusts, and errors a person can act on when a
//! server's certificate is not one of them.
//!
//! Trusted roots are the union of:
//! - the operating system's store (the platform verifier on Windows and
//!   Apple systems; the distribution's CA bundle, as OpenSSL finds it,
//!   elsewhere);
//! - the PEM files named by `SSL_CERT_FILE` and the directories in
//!   `SSL_CERT_DIR`, when set (added to the OS store, not replacing it, so
//!   that pointing them at a corporate root does not break public sites);
//! - roots passed to
//!   [`ReqwestHttpClientBuilder::add_root_certificate_pem`](super::ReqwestHttpClientBuilder::add_root_certificate_pem).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};

use super::der::issuer_and_subject;
use crate::error::Error;

/// The rustls configuration of a client.
pub(crate) fn client_config(
    extra_pem: &[Vec<u8>],
    use_env: bool,
    identity: Option<&crate::credentials::Certificate>,
) -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut extra = Vec::new();
    for (i, pem) in extra_pem.iter().enumerate() {
        extra.extend(pem_certificates(
            pem,
            &format!(
                "root certificate #{} passed to add_root_certificate_pem",
                i + 1
            ),
        )?);
    }
    if use_env {
        extra.extend(env_roots()?);
    }
    let inner = os_verifier(extra, provider.clone())?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config(format!("TLS setup failed: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ExplainingVerifier { inner }));
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(cert) => {
            let chain = cert
                .chain_der()
                .iter()
                .map(|d| CertificateDer::from(d.clone()))
                .collect();
            let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(cert.key_pem())
                .map_err(|_| {
                    Error::config("the certificate's private key cannot be used for mutual TLS")
                })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::config(format!("mutual TLS setup failed: {e}")))?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The certificates in a PEM document; `what` names it in errors.
fn pem_certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::config(format!("{what} is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::config(format!(
            "{what} holds no -----BEGIN CERTIFICATE----- block"
        )));
    }
    Ok(certs)
}

/// Roots from `SSL_CERT_FILE` and `SSL_CERT_DIR`. A variable that names
/// something unreadable is an error: silently ignoring it would turn into an
/// "untrusted certificate" error far from its cause.
fn env_roots() -> Result<Vec<CertificateDer<'static>>, Error> {
    let mut roots = Vec::new();
    if let Some(file) = std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(file);
        roots.extend(load_paths(Some(&path), None, "SSL_CERT_FILE")?);
    }
    if let Some(dirs) = std::env::var_os("SSL_CERT_DIR").filter(|v| !v.is_empty()) {
        for dir in std::env::split_paths(&dirs).filter(|p| !p.as_os_str().is_empty()) {
            roots.extend(load_paths(None, Some(&dir), "SSL_CERT_DIR")?);
        }
    }
    Ok(roots)
}

fn load_paths(
    file: Option<&Path>,
    dir: Option<&Path>,
    var: &str,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let result = rustls_native_certs::load_certs_from_paths(file, dir);
    if let Some(e) = result.errors.first() {
        let shown = file
            .or(dir)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        return Err(Error::config(format!(
            "{var}={shown}: cannot load certificates: {e}"
        )));
    }
    Ok(result.certs)
}

/// Distribution CA bundles, in the order OpenSSL-based tools look for them.
#[cfg(not(any(windows, target_vendor = "apple")))]
const OS_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/usr/local/share/certs/ca-root-nss.crt",
    "/etc/openssl/certs/ca-certificates.crt",
];

#[cfg(not(any(windows, target_vendor = "apple")))]
fn os_verifier(
    extra: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, Error> {
    let mut store = rustls::RootCertStore::empty();
    for cert in extra {
        store.add(cert).map_err(|e| {
            Error::config(format!("a configured root certificate is unusable: {e}"))
        })?;
    }
    if let Some(bundle) = OS_BUNDLES.iter().map(Path::new).find(|p| p.is_file()) {
        // A broken certificate in the system bundle must not stop the others from working.
        let result = rustls_native_certs::load_certs_from_paths(Some(bundle), None);
        let (_added, ignored) = store.add_parsable_certificates(result.certs);
        if ignored > 0 {
            tracing::debug!(ignored, bundle = %bundle.display(), "ignored unparsable system root certificates");
        }
    }
    if store.is_empty() {
        return Err(Error::config(
            "no trusted root certificates: the system CA bundle was not found and none were configured; \
             install ca-certificates, set SSL_CERT_FILE to a PEM bundle, or add one with add_root_certificate_pem",
        ));
    }
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
            .build()
            .map_err(|e| Error::config(format!("TLS setup failed: {e}")))?;
    Ok(verifier)
}

#[cfg(any(windows, target_vendor = "apple"))]
fn os_verifier(
    extra: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, Error> {
    let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider)
        .map_err(|e| Error::config(format!("the system certificate store is unusable: {e}")))?;
    Ok(Arc::new(verifier))
}

/// Why a server certificate was refused, with the names a person needs.
/// Travels inside `rustls::Error` and is turned into the transport error's message.
#[derive(Debug, Clone)]
pub(crate) struct CertificateProblem {
    pub(crate) host: String,
    pub(crate) issuer: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) error: CertificateError,
}

impl std::fmt::Display for CertificateProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = &self.host;
        let issuer = self.issuer.as_deref().unwrap_or("an unknown issuer");
        match &self.error {
            CertificateError::UnknownIssuer => write!(
                f,
                "the certificate of {host} is not trusted: it was issued by \"{issuer}\", which is not among \
                 this machine's trusted roots. If your network inspects TLS (a corporate proxy), add that \
                 organisation's root certificate: set SSL_CERT_FILE to a PEM file holding it, or pass it with \
                 add_root_certificate_pem (msal --ca-file)"
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                write!(
                    f,
                    "the certificate presented for {host} is for another name ({}); something between you and \
                 the server may be intercepting the connection",
                    self.subject.as_deref().unwrap_or("unknown subject")
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                write!(
                    f,
                    "the certificate of {host} (issued by \"{issuer}\") has expired; check this machine's clock"
                )
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => write!(
                f,
                "the certificate of {host} (issued by \"{issuer}\") is not valid yet; check this machine's clock"
            ),
            other => write!(
                f,
                "the certificate of {host} (issued by \"{issuer}\") was refused: {other:?}"
            ),
        }
    }
}

impl std::error::Error for CertificateProblem {}

/// Delegates to the real verifier and, when it refuses, names the host,
/// issuer and subject in the error.
#[derive(Debug)]
struct ExplainingVerifier {
    inner: Arc<dyn ServerCertVerifier>,
}

impl ServerCertVerifier for ExplainingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(error)) => {
                // The issuer to trust is the one above the highest certificate the server sent.
                let top = intermediates.last().unwrap_or(end_entity);
                let issuer = issuer_and_subject(top).map(|(issuer, _)| issuer);
                let subject = issuer_and_subject(end_entity).map(|(_, subject)| subject);
                let problem = CertificateProblem {
                    host: server_name.to_str().into_owned(),
                    issuer,
                    subject,
                    error,
                };
                Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                    OtherError(Arc::new(problem)),
                )))
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pem_is_a_config_error_naming_the_source() {
        let e = pem_certificates(b"hello", "root certificate #1").expect_err("no certificate");
        assert!(e.to_string().contains("root certificate #1"), "{e}");
    }

    #[test]
    fn untrusted_message_names_host_issuer_and_remedy() {
        let p = CertificateProblem {
            host: "login.example".into(),
            issuer: Some("CN=Contoso Inspection CA".into()),
            subject: None,
            error: CertificateError::UnknownIssuer,
        };
        let m = p.to_string();
        assert!(
            m.contains("login.example")
                && m.contains("CN=Contoso Inspection CA")
                && m.contains("SSL_CERT_FILE")
        );
    }
}
