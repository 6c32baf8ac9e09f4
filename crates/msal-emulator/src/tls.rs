//! HTTPS: [`EmulatorCa`], a CA generated at start-up (rcgen) that signs the
//! server certificate and can be written out as PEM for clients to trust;
//! and a listener that completes TLS handshakes off the accept loop.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::error::{EmulatorError, Result};

/// Names always on the server certificate.
pub const DEFAULT_TLS_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A certificate authority made for one emulator run.
pub struct EmulatorCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl std::fmt::Debug for EmulatorCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorCa").finish_non_exhaustive()
    }
}

fn crypto(e: impl std::fmt::Display) -> EmulatorError {
    EmulatorError::Crypto(e.to_string())
}

impl EmulatorCa {
    /// A fresh root `CN=msal-emulator test CA`.
    ///
    /// # Errors
    /// [`EmulatorError::Crypto`].
    pub fn generate() -> Result<Self> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(crypto)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params
            .distinguished_name
            .push(DnType::CommonName, "msal-emulator test CA");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "msal-rs");
        let key = KeyPair::generate().map_err(crypto)?;
        let cert = params.self_signed(&key).map_err(crypto)?;
        Ok(Self { cert, key })
    }

    /// The root certificate, PEM (what `SSL_CERT_FILE` should point at).
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf certificate for `names` (DNS names or IP addresses) signed by
    /// this CA: `(certificate PEM, PKCS#8 key PEM)`. A TLS-inspecting test
    /// proxy uses this to impersonate `login.microsoftonline.com`.
    ///
    /// # Errors
    /// [`EmulatorError::Crypto`] for names rcgen refuses.
    pub fn issue_leaf(&self, names: &[String]) -> Result<(String, String)> {
        let (cert, key) = self.leaf(names)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    fn leaf(&self, names: &[String]) -> Result<(rcgen::Certificate, KeyPair)> {
        let mut params = CertificateParams::new(names.to_vec()).map_err(crypto)?;
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().map_err(crypto)?;
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .map_err(crypto)?;
        Ok((cert, key))
    }

    /// Like [`server_config`](Self::server_config), requiring a client
    /// certificate (the mutual-TLS token endpoint).
    pub(crate) fn mtls_server_config(&self, names: &[String]) -> Result<Arc<rustls::ServerConfig>> {
        let (leaf, key) = self.leaf(names)?;
        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), self.cert.der().clone()];
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        crate::mtls::server_config(chain, private).map_err(crypto)
    }

    /// A rustls server configuration presenting a leaf for `names` (plus
    /// the CA in the chain), HTTP/1.1.
    ///
    /// # Errors
    /// [`EmulatorError::Crypto`].
    pub fn server_config(&self, names: &[String]) -> Result<Arc<rustls::ServerConfig>> {
        let (leaf, key) = self.leaf(names)?;
        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), self.cert.der().clone()];
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(crypto)?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(crypto)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Accepted TLS connections, handshaken in their own tasks so one slow
/// client does not hold up the others.
pub(crate) struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
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
                let (stream, peer) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::debug!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
        });
        Ok((Self { rx, local }, task))
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            // The accept loop ended (shutdown): never yield again.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
