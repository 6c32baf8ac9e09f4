//! [`TestCa`]: a throwaway certificate authority (rcgen) for TLS tests: a
//! root to trust or not, and server certificates it signs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A root certificate and its key, made fresh for a test.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// A root named `CN=<common_name>, O=msal-rs tests`.
    pub fn new(common_name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("empty SAN list");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "msal-rs tests");
        let key = KeyPair::generate().expect("key generation");
        let cert = params.self_signed(&key).expect("self-signed root");
        Self { cert, key }
    }

    /// The root in PEM, to trust.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// Writes the root as `<dir>/<file_name>` and returns the path.
    pub fn write_pem(&self, dir: &Path, file_name: &str) -> PathBuf {
        let path = dir.join(file_name);
        std::fs::write(&path, self.pem()).expect("write the test root");
        path
    }

    /// A rustls server configuration with a certificate for `names` (DNS
    /// names or IP addresses) signed by this root; HTTP/1.1 only.
    pub fn server_config(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("valid names");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        let key = KeyPair::generate().expect("key generation");
        let leaf = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("signed leaf");
        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone()];
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .expect("server certificate");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}
