//! Encryption at rest: AES-256-GCM with a caller key, with a key in the
//! Linux kernel keyring (keyutils), and `Auto`.

mod common;

use std::path::Path;

use common::{MiniEngine, access_token_secrets};
use msal::storage::{CacheAccess, CacheAccessArgs, StorageErrorKind};
use msal_cache_file::envelope::{self, MAGIC};
use msal_cache_file::{CacheKey, CorruptReason, Encryption, Error, FileCache, file_cache_error};

fn with(path: &Path, encryption: Encryption) -> FileCache {
    FileCache::builder(path)
        .encryption(encryption)
        .build()
        .unwrap()
}

fn reason(e: &msal::storage::StorageError) -> CorruptReason {
    assert_eq!(e.kind, StorageErrorKind::Corrupt, "{e}");
    match file_cache_error(e) {
        Some(Error::Corrupt { reason, .. }) => *reason,
        other => panic!("{other:?}"),
    }
}

async fn read_with(
    path: &Path,
    encryption: Encryption,
) -> Result<Vec<u8>, msal::storage::StorageError> {
    let cache = with(path, encryption);
    let args = CacheAccessArgs::new(None, false);
    let r = cache.before_access(args).await;
    cache.after_access(args, None).await.unwrap();
    r.map(|d| d.expect("a first access hands the document over"))
}

#[tokio::test]
async fn aes_gcm_round_trip_and_every_wrong_reading_is_a_typed_corrupt_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.bin");
    let key = CacheKey::generate();
    let mut e = MiniEngine::new(with(&path, Encryption::Aes256Gcm(key.clone())));
    e.add_token("secret-token-1").await.unwrap();
    e.add_token("secret-token-2").await.unwrap();

    let raw = std::fs::read(&path).unwrap();
    assert!(raw.starts_with(MAGIC));
    assert_eq!(envelope::key_id_of(&raw), Some(key.id()));
    assert!(
        !raw.windows(b"secret-token".len())
            .any(|w| w == b"secret-token"),
        "no plaintext token in the file"
    );
    assert_eq!(
        envelope::open(&key, &raw).unwrap().as_slice(),
        serde_json::to_vec(&e.doc).unwrap()
    );

    // Another instance (as another process) with the same key.
    let doc = read_with(&path, Encryption::Aes256Gcm(key.clone()))
        .await
        .unwrap();
    assert_eq!(access_token_secrets(&doc).len(), 2);

    // Wrong key, plain-text reader, damaged bytes: Corrupt, file untouched.
    let err = read_with(&path, Encryption::Aes256Gcm(CacheKey::generate()))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), CorruptReason::WrongKey);
    assert!(err.message.contains(&path.display().to_string()));
    let err = read_with(&path, Encryption::Plaintext).await.unwrap_err();
    assert_eq!(reason(&err), CorruptReason::EncryptedButPlaintextConfigured);
    let mut damaged = raw.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x40;
    std::fs::write(&path, &damaged).unwrap();
    let mut other = MiniEngine::new(with(&path, Encryption::Aes256Gcm(key.clone())));
    assert_eq!(
        reason(&other.add_token("x").await.unwrap_err()),
        CorruptReason::DecryptionFailed
    );
    assert_eq!(std::fs::read(&path).unwrap(), damaged, "never overwritten");
    std::fs::write(&path, &raw[..raw.len() - 5]).unwrap();
    assert_eq!(
        reason(&other.add_token("x").await.unwrap_err()),
        CorruptReason::DecryptionFailed
    );
    std::fs::write(&path, &raw[..40]).unwrap();
    assert_eq!(
        reason(&other.add_token("x").await.unwrap_err()),
        CorruptReason::BadHeader
    );

    // A plain-text file (say the Azure CLI's) is never converted silently.
    std::fs::write(&path, br#"{"AccessToken": {}}"#).unwrap();
    assert_eq!(
        reason(&other.add_token("x").await.unwrap_err()),
        CorruptReason::PlaintextButEncryptionConfigured
    );
    assert_eq!(std::fs::read(&path).unwrap(), br#"{"AccessToken": {}}"#);
    other.cache.quarantine().await.unwrap().unwrap();
    other.add_token("after-quarantine").await.unwrap();
    let doc = read_with(&path, Encryption::Aes256Gcm(key)).await.unwrap();
    assert_eq!(
        access_token_secrets(&doc),
        ["after-quarantine".to_owned()].into()
    );
}
