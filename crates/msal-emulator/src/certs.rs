//! Certificates registered for confidential apps (client assertions are
//! verified against them), and [`ClientCertificate`], a generator tests use
//! to make a certificate credential and register it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};

const RSA_ENCRYPTION_OID: &str = "1.2.840.113549.1.1.1";

/// A certificate registered for an app, reduced to what assertion checks
/// need.
#[derive(Clone)]
pub(crate) struct RegisteredCert {
    /// SHA-1 of the DER (the `x5t` header).
    pub(crate) sha1: [u8; 20],
    /// SHA-256 of the DER (the `x5t#S256` header).
    pub(crate) sha256: [u8; 32],
    /// The RSA public key as PKCS#1 DER.
    pub(crate) rsa_public_der: Vec<u8>,
}

impl RegisteredCert {
    /// Parses the first `CERTIFICATE` block of a PEM text. Only RSA keys are
    /// accepted, as Entra accepts only RSA certificate credentials.
    pub(crate) fn from_pem(pem: &str) -> Result<Self, String> {
        let begin = "-----BEGIN CERTIFICATE-----";
        let end = "-----END CERTIFICATE-----";
        let start = pem.find(begin).ok_or("no CERTIFICATE block")?;
        let stop = pem[start..]
            .find(end)
            .ok_or("unterminated CERTIFICATE block")?;
        let block = &pem[start..start + stop + end.len()];
        let cert = Certificate::from_pem(block.as_bytes()).map_err(|e| e.to_string())?;
        let spki = &cert.tbs_certificate.subject_public_key_info;
        if spki.algorithm.oid.to_string() != RSA_ENCRYPTION_OID {
            return Err("not an RSA certificate".into());
        }
        let der = cert.to_der().map_err(|e| e.to_string())?;
        Ok(Self {
            sha1: Sha1::digest(&der).into(),
            sha256: Sha256::digest(&der).into(),
            rsa_public_der: spki.subject_public_key.raw_bytes().to_vec(),
        })
    }

    /// True when a JWT header's thumbprints name this certificate: `x5t`
    /// (base64url SHA-1), `x5t#S256` (base64url SHA-256) or a `kid` holding
    /// the SHA-1 in hex, as MSAL.NET and older MSALs send.
    pub(crate) fn matches(
        &self,
        x5t: Option<&str>,
        x5t_s256: Option<&str>,
        kid: Option<&str>,
    ) -> bool {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let hex: String = self.sha1.iter().map(|b| format!("{b:02x}")).collect();
        x5t_s256.is_some_and(|t| t.trim_end_matches('=') == b64(&self.sha256))
            || x5t.is_some_and(|t| t.trim_end_matches('=') == b64(&self.sha1))
            || kid.is_some_and(|k| k.eq_ignore_ascii_case(&hex))
    }
}

/// A self-signed RSA certificate and its private key, for tests that use a
/// certificate credential: register [`ClientCertificate::cert_pem`] for an
/// app (config `certificates` or `Admin::register_certificate`), sign
/// assertions with [`ClientCertificate::key_pem`].
pub struct ClientCertificate {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The PKCS#8 private key, PEM.
    pub key_pem: String,
    /// SHA-1 thumbprint of the DER, upper-case hex (what portals show).
    pub thumbprint_sha1_hex: String,
    /// SHA-256 of the DER, base64url without padding (the `x5t#S256` value).
    pub x5t_s256: String,
    /// SHA-1 of the DER, base64url without padding (the `x5t` value).
    pub x5t: String,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("thumbprint_sha1_hex", &self.thumbprint_sha1_hex)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// Generates an RSA-2048 key and a self-signed certificate named
    /// `CN=<common_name>`.
    ///
    /// # Errors
    /// [`crate::EmulatorError::Crypto`] when key generation fails.
    pub fn generate(common_name: &str) -> crate::Result<Self> {
        let crypto = |e: rcgen::Error| crate::EmulatorError::Crypto(e.to_string());
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(crypto)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(crypto)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        let cert = params.self_signed(&key).map_err(crypto)?;
        let der = cert.der().to_vec();
        let sha1: [u8; 20] = Sha1::digest(&der).into();
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            thumbprint_sha1_hex: sha1.iter().map(|b| format!("{b:02X}")).collect(),
            x5t_s256: URL_SAFE_NO_PAD.encode(Sha256::digest(&der)),
            x5t: URL_SAFE_NO_PAD.encode(sha1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_registers_and_matches_its_thumbprints() {
        let c = ClientCertificate::generate("test").unwrap();
        let r = RegisteredCert::from_pem(&format!("{}\n{}", c.key_pem, c.cert_pem)).unwrap();
        assert!(r.matches(None, Some(&c.x5t_s256), None));
        assert!(r.matches(Some(&c.x5t), None, None));
        assert!(r.matches(None, None, Some(&c.thumbprint_sha1_hex.to_lowercase())));
        assert!(!r.matches(Some("AAAA"), Some("BBBB"), Some("00")));
        assert!(RegisteredCert::from_pem("garbage").is_err());
    }

    #[test]
    fn non_rsa_certificates_are_refused() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["x".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let e = RegisteredCert::from_pem(&cert.pem()).err().unwrap();
        assert!(e.contains("RSA"), "{e}");
    }
}
