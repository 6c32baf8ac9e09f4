//! The token-signing key: RSA-2048 generated at start-up (aws-lc, fast in
//! debug builds too), RS256 JWTs, and its JWKS entry.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{EmulatorError, Result};

/// The emulator's signing key.
pub(crate) struct SigningKey {
    pair: RsaKeyPair,
    rng: SystemRandom,
    kid: String,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl SigningKey {
    /// A fresh RSA-2048 key; its `kid` is derived from the modulus.
    pub(crate) fn generate() -> Result<Self> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|e| EmulatorError::Crypto(format!("RSA key generation: {e}")))?;
        let components = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        // Entra's key ids look like 27 base64url characters (a SHA-1); a
        // truncated SHA-256 of the modulus has the same shape.
        let digest = Sha256::digest(&components.n);
        let kid = URL_SAFE_NO_PAD.encode(&digest[..20]);
        Ok(Self {
            pair,
            rng: SystemRandom::new(),
            kid,
            n: components.n,
            e: components.e,
        })
    }

    /// The key id (`kid` and `x5t` headers).
    #[cfg(test)]
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` as an RS256 JWT with `typ`, `alg`, `kid` and `x5t`
    /// headers, as Entra's tokens have.
    pub(crate) fn sign(&self, claims: &Value) -> Result<String> {
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": self.kid, "x5t": self.kid});
        let mut input = URL_SAFE_NO_PAD.encode(header.to_string());
        input.push('.');
        input.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, input.as_bytes(), &mut sig)
            .map_err(|e| EmulatorError::Crypto(format!("signing: {e}")))?;
        input.push('.');
        input.push_str(&URL_SAFE_NO_PAD.encode(sig));
        Ok(input)
    }

    /// The JWKS entry, with Entra's `issuer` member.
    pub(crate) fn jwk(&self, issuer: &str) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "x5t": self.kid,
            "n": URL_SAFE_NO_PAD.encode(&self.n),
            "e": URL_SAFE_NO_PAD.encode(&self.e),
            "issuer": issuer,
        })
    }

    /// A jsonwebtoken key to verify tokens this key signed (on-behalf-of
    /// assertions).
    pub(crate) fn decoding_key(&self) -> jsonwebtoken::DecodingKey {
        jsonwebtoken::DecodingKey::from_rsa_raw_components(&self.n, &self.e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_verify_with_jsonwebtoken_and_tampering_fails() {
        let key = SigningKey::generate().unwrap();
        let jwt = key
            .sign(&json!({"sub": "x", "aud": "a", "exp": 4_000_000_000u64}))
            .unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&["a"]);
        let data = jsonwebtoken::decode::<Value>(&jwt, &key.decoding_key(), &v).unwrap();
        assert_eq!(data.claims["sub"], "x");
        assert_eq!(data.header.kid.as_deref(), Some(key.kid()));
        let mut parts: Vec<&str> = jwt.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(r#"{"sub":"y","aud":"a","exp":4000000000}"#);
        parts[1] = &forged;
        assert!(jsonwebtoken::decode::<Value>(&parts.join("."), &key.decoding_key(), &v).is_err());
    }
}
