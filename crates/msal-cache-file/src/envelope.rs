//! The encrypted file format.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "MSALRSEC"
//!      8     1  format version (1)
//!      9     1  algorithm (1 = AES-256-GCM)
//!     10     2  reserved, zero
//!     12     4  key id: the first 4 bytes of SHA-256("msal-rs file cache key id\0" || key)
//!     16    12  nonce (random for every write)
//!     28     …  ciphertext of the UTF-8 JSON document, then the 16-byte GCM tag
//! ```
//!
//! The 28 header bytes are the associated data, so a changed header fails
//! authentication. The key id tells "another key" apart from "damaged" and
//! reveals nothing usable about the key.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{CorruptReason, Error};

/// The first bytes of every encrypted cache file.
pub const MAGIC: &[u8; 8] = b"MSALRSEC";
/// The format version this build writes and reads.
pub const VERSION: u8 = 1;
const ALG_AES_256_GCM: u8 = 1;
/// Length of the header (the associated data).
pub const HEADER_LEN: usize = 28;
const TAG_LEN: usize = 16;

/// A 256-bit key for the cache file. `Debug` shows only its id; the bytes are
/// wiped on drop.
#[derive(Clone)]
pub struct CacheKey(Zeroizing<[u8; 32]>);

impl CacheKey {
    /// Wraps 32 key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        use rand::TryRngCore;
        let mut bytes = Zeroizing::new([0u8; 32]);
        // The OS source only fails when the OS cannot give randomness at all;
        // the thread generator (itself seeded from the OS) is the fallback.
        if rand::rngs::OsRng.try_fill_bytes(bytes.as_mut()).is_err() {
            rand::RngCore::fill_bytes(&mut rand::rng(), bytes.as_mut());
        }
        Self(bytes)
    }

    /// Parses standard base64 (how the key is kept in a keyring).
    pub fn from_base64(text: &str) -> Option<Self> {
        use base64::Engine;
        let raw = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .ok()?,
        );
        let bytes: [u8; 32] = raw.as_slice().try_into().ok()?;
        Some(Self::from_bytes(bytes))
    }

    /// The key as standard base64. Handle with care: this is the secret.
    pub fn expose_base64(&self) -> Zeroizing<String> {
        use base64::Engine;
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.0.as_ref()))
    }

    /// The 4-byte key id written into the header.
    pub fn id(&self) -> [u8; 4] {
        let mut h = Sha256::new();
        h.update(b"msal-rs file cache key id\0");
        h.update(self.0.as_ref());
        let digest = h.finalize();
        [digest[0], digest[1], digest[2], digest[3]]
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.as_ref().into())
    }
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = self.id();
        write!(
            f,
            "CacheKey(id {:02x}{:02x}{:02x}{:02x}, <redacted>)",
            id[0], id[1], id[2], id[3]
        )
    }
}

/// Whether `bytes` start like one of our encrypted files.
pub fn looks_encrypted(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// The key id recorded in an encrypted file's header.
pub fn key_id_of(bytes: &[u8]) -> Option<[u8; 4]> {
    if bytes.len() < HEADER_LEN || !looks_encrypted(bytes) {
        return None;
    }
    bytes[12..16].try_into().ok()
}

/// Encrypts `plaintext` into the file format.
///
/// # Errors
/// [`Error::Encrypt`] when AES-GCM refuses the input (64 GiB and more).
pub fn seal(key: &CacheKey, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[VERSION, ALG_AES_256_GCM, 0, 0]);
    out.extend_from_slice(&key.id());
    let nonce: [u8; 12] = rand::random();
    out.extend_from_slice(&nonce);
    // Only fails for inputs of 64 GiB and more; an empty result written as
    // the file would be unreadable, so the failure is reported.
    let sealed = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &out[..HEADER_LEN],
            },
        )
        .map_err(|_| Error::Encrypt {
            len: u64::try_from(plaintext.len()).unwrap_or(u64::MAX),
        })?;
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts a file produced by [`seal`].
pub fn open(key: &CacheKey, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, CorruptReason> {
    if !looks_encrypted(bytes) {
        return Err(CorruptReason::PlaintextButEncryptionConfigured);
    }
    if bytes.len() < HEADER_LEN + TAG_LEN {
        return Err(CorruptReason::BadHeader);
    }
    if bytes[8] != VERSION || bytes[9] != ALG_AES_256_GCM {
        return Err(CorruptReason::UnsupportedVersion(bytes[8]));
    }
    if bytes[12..16] != key.id() {
        return Err(CorruptReason::WrongKey);
    }
    let (header, body) = bytes.split_at(HEADER_LEN);
    key.cipher()
        .decrypt(
            Nonce::from_slice(&header[16..28]),
            Payload {
                msg: body,
                aad: header,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CorruptReason::DecryptionFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_failure_is_typed() {
        let key = CacheKey::generate();
        let sealed = seal(&key, b"{\"AccessToken\":{}}").unwrap();
        assert!(looks_encrypted(&sealed));
        assert_eq!(sealed.len(), HEADER_LEN + 18 + TAG_LEN);
        assert_eq!(
            open(&key, &sealed).unwrap().as_slice(),
            b"{\"AccessToken\":{}}"
        );
        // Nonces differ, so two writes of one document differ.
        assert_ne!(seal(&key, b"x").unwrap(), seal(&key, b"x").unwrap());

        assert_eq!(
            open(&CacheKey::generate(), &sealed).unwrap_err(),
            CorruptReason::WrongKey
        );
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(
            open(&key, &flipped).unwrap_err(),
            CorruptReason::DecryptionFailed
        );
        let mut header = sealed.clone();
        header[10] = 7; // reserved byte is authenticated
        assert_eq!(
            open(&key, &header).unwrap_err(),
            CorruptReason::DecryptionFailed
        );
        let mut version = sealed.clone();
        version[8] = 9;
        assert_eq!(
            open(&key, &version).unwrap_err(),
            CorruptReason::UnsupportedVersion(9)
        );
        assert_eq!(
            open(&key, &sealed[..20]).unwrap_err(),
            CorruptReason::BadHeader
        );
        assert_eq!(
            open(&key, b"{}").unwrap_err(),
            CorruptReason::PlaintextButEncryptionConfigured
        );
    }

    #[test]
    fn key_text_round_trip_and_redaction() {
        let key = CacheKey::generate();
        let back = CacheKey::from_base64(&key.expose_base64()).unwrap();
        assert_eq!(back.id(), key.id());
        assert!(CacheKey::from_base64("c2hvcnQ=").is_none());
        let shown = format!("{key:?}");
        assert!(shown.contains("redacted") && !shown.contains(key.expose_base64().as_str()));
    }
}
