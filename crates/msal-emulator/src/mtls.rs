//! The mutual-TLS token endpoint (mTLS proof of possession, RFC 8705): a
//! second TLS listener that asks every client for a certificate and hands
//! it to the handler, which issues certificate-bound app tokens
//! (`token_type: mtls_pop`, `cnf.x5t#S256` = the certificate's SHA-256
//! thumbprint) to apps that present a certificate registered for them.
//! The OpenID configuration names it in `mtls_endpoint_aliases`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Who connected: the address and the client certificate (DER) presented.
#[derive(Clone, Debug)]
pub(crate) struct MtlsPeer {
    pub(crate) addr: SocketAddr,
    pub(crate) certificate: Option<Vec<u8>>,
}

impl Connected<IncomingStream<'_, MtlsListener>> for MtlsPeer {
    fn connect_info(stream: IncomingStream<'_, MtlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// Takes any client certificate (the handler checks it against the app's
/// registered ones, as Entra does for self-signed app certificates), but
/// requires one and checks the handshake signature made with its key.
#[derive(Debug)]
struct AnyClientCert(Arc<CryptoProvider>);

impl ClientCertVerifier for AnyClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A server configuration that requires a client certificate.
pub(crate) fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(AnyClientCert(provider)))
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepted mutual-TLS connections, with the client certificate of each.
pub(crate) struct MtlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, MtlsPeer)>,
    local: SocketAddr,
}

impl MtlsListener {
    /// Starts accepting on `tcp`; the returned task is the accept loop.
    pub(crate) fn start(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
    ) -> io::Result<(Self, JoinHandle<()>)> {
        let local = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, addr)) = tcp.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let accepted =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                            .await;
                    match accepted {
                        Ok(Ok(tls)) => {
                            let certificate = tls
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .map(|c| c.as_ref().to_vec());
                            let _ = tx.send((tls, MtlsPeer { addr, certificate })).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "mTLS handshake failed"),
                        Err(_) => tracing::debug!("mTLS handshake timed out"),
                    }
                });
            }
        });
        Ok((Self { rx, local }, task))
    }
}

impl axum::serve::Listener for MtlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = MtlsPeer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(MtlsPeer {
            addr: self.local,
            certificate: None,
        })
    }
}

impl crate::Admin {
    /// How many tokens the mutual-TLS token endpoint issued.
    pub fn mtls_token_requests(&self) -> u64 {
        self.0.store().mtls_token_requests
    }
}

impl crate::EmulatorHandle {
    /// The mutual-TLS listener's origin (`https://127.0.0.1:<port>`), when
    /// started with [`EmulatorConfig::with_mtls`](crate::EmulatorConfig::with_mtls).
    pub fn mtls_origin(&self) -> Option<&str> {
        self.state().0.mtls_origin.get().map(String::as_str)
    }
}
