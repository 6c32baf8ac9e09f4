//! Proof Key for Code Exchange (RFC 7636) with the `S256` method, and the
//! random `state` and `nonce` values of the authorization request.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::secret::PkceVerifier;

/// A fresh PKCE pair: the secret verifier (kept until the code is redeemed)
/// and the challenge sent with the authorization request.
#[derive(Debug)]
pub struct Pkce {
    /// The verifier: 43 characters from 32 random bytes.
    pub verifier: PkceVerifier,
    /// `BASE64URL(SHA256(verifier))`.
    pub challenge: String,
}

/// The only challenge method msal-rs uses.
pub const CHALLENGE_METHOD: &str = "S256";

impl Pkce {
    /// A new random verifier and its `S256` challenge.
    pub fn new() -> Self {
        let verifier = random_token(32);
        let challenge = challenge_of(&verifier);
        Self {
            verifier: PkceVerifier::new(verifier),
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// The `S256` challenge of `verifier`.
pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// `bytes` random bytes from the OS-seeded generator, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        assert_eq!(
            challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn fresh_pairs_are_random_and_well_formed() {
        let a = Pkce::new();
        let b = Pkce::new();
        assert_eq!(a.verifier.expose_secret().len(), 43);
        assert!(
            a.verifier
                .expose_secret()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(a.verifier.expose_secret(), b.verifier.expose_secret());
        assert_eq!(a.challenge, challenge_of(a.verifier.expose_secret()));
        assert!(!format!("{a:?}").contains(a.verifier.expose_secret()));
    }
}
