//! Service Fabric's identity endpoint serves a self-signed certificate; the
//! host publishes its SHA-1 thumbprint in `IDENTITY_SERVER_THUMBPRINT`. The
//! client here trusts exactly that certificate (compared in constant time)
//! and nothing else, and still checks that the server holds its key.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use sha1::{Digest, Sha1};

use crate::error::Error;
use crate::http::{
    BoxFuture, HttpClient, HttpRequest, HttpResponse, TransportError, TransportErrorKind,
};
use crate::transport::{ProxyConfig, ReqwestHttpClient};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The certificate presented was not the pinned one.
#[derive(Clone)]
struct ThumbprintMismatch {
    presented: [u8; 20],
}

impl std::fmt::Display for ThumbprintMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the Service Fabric identity endpoint presented a certificate with SHA-1 thumbprint {}, \
             which is not the one IDENTITY_SERVER_THUMBPRINT names; the connection was refused",
            hex(&self.presented)
        )
    }
}

impl std::fmt::Debug for ThumbprintMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl StdError for ThumbprintMismatch {}

/// Accepts the one certificate whose SHA-1 is `pin`; hostname and chain do
/// not matter (the certificate is self-signed and issued for the node).
#[derive(Debug)]
struct PinnedThumbprint {
    pin: [u8; 20],
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedThumbprint {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented: [u8; 20] = Sha1::digest(end_entity.as_ref()).into();
        if crate::secret::constant_time_eq(&presented, &self.pin) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(ThumbprintMismatch { presented })),
            )))
        }
    }

    // The handshake signatures are still checked against the pinned
    // certificate's key, so a copy of the certificate alone is worth nothing.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// An HTTP client that trusts only the certificate with SHA-1 thumbprint
/// `pin`, never uses a proxy, and follows no redirect.
///
/// # Errors
/// [`Error::Config`] if TLS cannot be set up.
pub(crate) fn pinned_client(
    pin: [u8; 20],
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<Arc<dyn HttpClient>, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = PinnedThumbprint {
        pin,
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config(format!("TLS setup failed: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let inner = ReqwestHttpClient::builder()
        .proxy(ProxyConfig::None)
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .tls_config(config)
        .build()?;
    Ok(Arc::new(Pinned { inner }))
}

/// Rewrites a thumbprint refusal into a message that says so plainly.
struct Pinned {
    inner: ReqwestHttpClient,
}

impl HttpClient for Pinned {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            self.inner
                .execute(request)
                .await
                .map_err(|e| match mismatch_in(&e) {
                    Some(m) => {
                        TransportError::new(TransportErrorKind::Tls, m.to_string()).with_source(e)
                    }
                    None => e,
                })
        })
    }
}

fn mismatch_in(e: &TransportError) -> Option<ThumbprintMismatch> {
    let mut next: Option<&(dyn StdError + 'static)> =
        e.source.as_deref().map(|s| s as &(dyn StdError + 'static));
    let mut depth = 0;
    while let Some(cur) = next {
        if let Some(rustls::Error::InvalidCertificate(CertificateError::Other(other))) =
            cur.downcast_ref::<rustls::Error>()
        {
            return other.0.downcast_ref::<ThumbprintMismatch>().cloned();
        }
        next = match cur
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => cur.source(),
        };
        depth += 1;
        if depth > 32 {
            break;
        }
    }
    None
}
