//! Encryption of stored values: AES-256-GCM with a random 96-bit nonce per
//! value and the partition key as associated data.
//!
//! A sealed value is `0x01 ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`.
//! Binding the partition key means a value copied under another key (one
//! user's partition pasted over another's) fails to open instead of handing
//! out the wrong user's tokens. A wrong key, a truncated or altered value, or
//! a plaintext document where a sealed one is expected all give
//! [`StorageErrorKind::Corrupt`].
//!
//! # Key rotation
//! A [`Cipher`] seals with one primary key and opens with the primary or any
//! previous key ([`Cipher::with_previous`]), so values written before a
//! rotation stay readable until they are next saved (then under the new
//! key) or expire. Rotate in three deployments, so that no instance ever
//! meets a value it cannot open (a layered store discards such a value as a
//! miss): (1) add the new key as a previous key everywhere; (2) make it the
//! primary and the old one a previous key; (3) once values sealed with the
//! old key have been rewritten or expired, drop it.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use msal::storage::{StorageError, StorageErrorKind};
use zeroize::Zeroizing;

/// The format byte that starts every sealed value.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A 256-bit key for encrypting cache values. Zeroized on drop; `Debug`
/// prints no key material.
#[derive(Clone)]
pub struct EncryptionKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey(<redacted>)")
    }
}

impl EncryptionKey {
    /// A key from its 32 bytes (e.g. fetched from a key vault).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A key from a slice, which must be exactly 32 bytes long.
    ///
    /// # Errors
    /// [`StorageErrorKind::Other`] if the length is not 32.
    pub fn try_from_slice(bytes: &[u8]) -> Result<Self, StorageError> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| {
            StorageError::new(
                StorageErrorKind::Other,
                format!("an encryption key must be 32 bytes, got {}", bytes.len()),
            )
        })?;
        Ok(Self::from_bytes(array))
    }

    /// A fresh random key from the operating system's generator (seeded CSPRNG).
    pub fn generate() -> Self {
        Self::from_bytes(rand::random())
    }

    /// The raw key, to store it somewhere safe.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Seals values with one [`EncryptionKey`] and opens them with it or with
/// any of the previous keys it was given (see the module docs on rotation).
#[derive(Clone)]
pub struct Cipher {
    aead: Aes256Gcm,
    previous: Vec<Aes256Gcm>,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Cipher(AES-256-GCM, <key redacted>, {} previous key(s))",
            self.previous.len()
        )
    }
}

impl Cipher {
    /// A cipher using `key` alone.
    pub fn new(key: &EncryptionKey) -> Self {
        Self::with_previous(key, &[])
    }

    /// A cipher that seals with `key` and opens with `key`, then with each of
    /// `previous` in order (keys being rotated out).
    pub fn with_previous(key: &EncryptionKey, previous: &[EncryptionKey]) -> Self {
        Self {
            aead: Aes256Gcm::new(key.expose_secret().into()),
            previous: previous
                .iter()
                .map(|k| Aes256Gcm::new(k.expose_secret().into()))
                .collect(),
        }
    }

    /// Encrypts `plaintext` stored under `partition`.
    pub fn seal(&self, partition: &str, plaintext: &[u8]) -> Result<Vec<u8>, StorageError> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let nonce = Nonce::from_slice(&nonce_bytes);
        let sealed = self
            .aead
            .encrypt(
                nonce,
                Payload {
                    msg: plaintext,
                    aad: partition.as_bytes(),
                },
            )
            .map_err(|_| {
                StorageError::new(StorageErrorKind::Other, "could not encrypt the cache value")
            })?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts a value read from under `partition`, with the primary key or
    /// else a previous one.
    ///
    /// # Errors
    /// [`StorageErrorKind::Corrupt`] if the value is not a sealed value, was
    /// sealed with none of this cipher's keys or for another partition, or
    /// was altered.
    pub fn open(&self, partition: &str, sealed: &[u8]) -> Result<Vec<u8>, StorageError> {
        let corrupt = |why: &str| {
            StorageError::new(
                StorageErrorKind::Corrupt,
                format!("encrypted cache value {why}"),
            )
        };
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN {
            return Err(corrupt("is too short"));
        }
        if sealed[0] != FORMAT_V1 {
            return Err(corrupt(
                "has an unknown format (not encrypted, or by something else)",
            ));
        }
        let (nonce, body) = sealed[1..].split_at(NONCE_LEN);
        std::iter::once(&self.aead)
            .chain(&self.previous)
            .find_map(|aead| {
                aead.decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: body,
                        aad: partition.as_bytes(),
                    },
                )
                .ok()
            })
            .ok_or_else(|| corrupt("cannot be decrypted (wrong key, other partition, or altered)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> Cipher {
        Cipher::new(&EncryptionKey::from_bytes([7; 32]))
    }

    #[test]
    fn round_trips_with_a_fresh_nonce_each_time() {
        let c = cipher();
        let a = c.seal("p", b"{\"AccessToken\":{}}").unwrap();
        let b = c.seal("p", b"{\"AccessToken\":{}}").unwrap();
        assert_ne!(a, b, "same plaintext, different nonce, different bytes");
        assert_eq!(a.len(), 1 + 12 + 18 + 16);
        assert!(
            !a.windows(11).any(|w| w == b"AccessToken"),
            "plaintext must not show"
        );
        assert_eq!(c.open("p", &a).unwrap(), b"{\"AccessToken\":{}}");
        assert_eq!(c.open("p", &b).unwrap(), b"{\"AccessToken\":{}}");
        assert_eq!(c.open("p", &c.seal("p", b"").unwrap()).unwrap(), b"");
    }

    #[test]
    fn wrong_key_tampering_other_partition_and_plaintext_are_corrupt() {
        let c = cipher();
        let sealed = c.seal("user-a", b"tokens of a").unwrap();
        let other = Cipher::new(&EncryptionKey::from_bytes([8; 32]));
        assert_eq!(
            other.open("user-a", &sealed).unwrap_err().kind,
            StorageErrorKind::Corrupt
        );
        assert_eq!(
            c.open("user-b", &sealed).unwrap_err().kind,
            StorageErrorKind::Corrupt
        );
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                c.open("user-a", &bad).unwrap_err().kind,
                StorageErrorKind::Corrupt,
                "byte {i}"
            );
        }
        for len in 0..sealed.len() {
            assert_eq!(
                c.open("user-a", &sealed[..len]).unwrap_err().kind,
                StorageErrorKind::Corrupt
            );
        }
        let plain = br#"{"AccessToken":{},"RefreshToken":{},"IdToken":{},"Account":{}}"#;
        assert_eq!(
            c.open("user-a", plain).unwrap_err().kind,
            StorageErrorKind::Corrupt
        );
    }

    #[test]
    fn keys_are_checked_and_never_shown() {
        assert!(EncryptionKey::try_from_slice(&[1; 31]).is_err());
        assert!(EncryptionKey::try_from_slice(&[1; 33]).is_err());
        let key = EncryptionKey::try_from_slice(&[0xAB; 32]).unwrap();
        assert_eq!(key.expose_secret(), &[0xAB; 32]);
        let shown = format!("{key:?} {:?}", Cipher::new(&key));
        assert!(
            !shown.to_lowercase().contains("ab, ") && !shown.contains("171"),
            "{shown}"
        );
        assert!(shown.contains("redacted"));
        assert_ne!(
            EncryptionKey::generate().expose_secret(),
            EncryptionKey::generate().expose_secret()
        );
    }

    #[test]
    fn previous_keys_open_old_values_but_new_values_use_the_primary() {
        let (old, new) = (
            EncryptionKey::from_bytes([1; 32]),
            EncryptionKey::from_bytes([2; 32]),
        );
        let before = Cipher::new(&old).seal("p", b"old doc").unwrap();
        let rotated =
            Cipher::with_previous(&new, &[EncryptionKey::from_bytes([3; 32]), old.clone()]);
        assert_eq!(rotated.open("p", &before).unwrap(), b"old doc");
        let after = rotated.seal("p", b"new doc").unwrap();
        assert_eq!(Cipher::new(&new).open("p", &after).unwrap(), b"new doc");
        assert_eq!(
            Cipher::new(&old).open("p", &after).unwrap_err().kind,
            StorageErrorKind::Corrupt,
            "sealed with the primary, not a previous key"
        );
        assert_eq!(
            rotated.open("q", &before).unwrap_err().kind,
            StorageErrorKind::Corrupt,
            "a previous key still binds the partition"
        );
        let shown = format!("{rotated:?}");
        assert!(
            shown.contains("2 previous") && !shown.contains("1, 1"),
            "{shown}"
        );
    }
}
