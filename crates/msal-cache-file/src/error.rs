//! The one error type of this crate, and its mapping onto msal's
//! [`StorageError`](msal::storage::StorageError).

use std::path::PathBuf;
use std::time::Duration;

use msal::storage::{StorageError, StorageErrorKind};

/// Everything that can go wrong with a cache file.
///
/// Messages name files, never a token or key. Through the msal hooks each
/// variant arrives as a [`StorageError`] whose `kind` says what to do
/// ([`StorageErrorKind::LockTimeout`], [`StorageErrorKind::Corrupt`], …) and
/// whose `source` is this error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another process held the lock for longer than the configured timeout.
    #[error("timed out after {waited:?} waiting for the cache lock {}{}", lock_path.display(), holder_note(*holder_pid))]
    LockTimeout {
        /// The lock file.
        lock_path: PathBuf,
        /// How long we waited.
        waited: Duration,
        /// The pid written in the lock file, when it could be read.
        holder_pid: Option<u32>,
    },
    /// The cache file cannot be read as a cache. It is left untouched: call
    /// [`FileCache::quarantine`](crate::FileCache::quarantine) to move it
    /// aside and start empty.
    #[error("the cache file {} is unusable: {reason}", path.display())]
    Corrupt {
        /// The cache file.
        path: PathBuf,
        /// What is wrong with it.
        reason: CorruptReason,
    },
    /// A file system operation failed.
    #[error("{op} {} failed: {source}", path.display())]
    Io {
        /// What was being done ("read", "rename", …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The keyring holding the encryption key could not be used.
    #[error("keyring: {message}")]
    Keyring {
        /// What failed (no secret in it).
        message: String,
        /// The keyring crate's error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Another process changed the file after this partition was last read,
    /// and the hooks were called out of order (`after_access` without a
    /// matching `before_access`): writing would lose that change, so nothing
    /// was written.
    #[error("the cache file {} changed since it was last read; the change was not written", path.display())]
    Conflict {
        /// The cache file.
        path: PathBuf,
    },
    /// The document to write is larger than the configured maximum file
    /// size ([`FileCacheBuilder::max_file_size`](crate::FileCacheBuilder::max_file_size));
    /// the file was left as it was.
    #[error("the cache document for {} is {len} bytes, over the {limit}-byte limit; nothing was written", path.display())]
    TooLarge {
        /// The cache file.
        path: PathBuf,
        /// The size of what would have been written.
        len: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The document could not be encrypted (AES-GCM refuses inputs of
    /// 64 GiB and more); nothing was written.
    #[error("a cache document of {len} bytes could not be encrypted")]
    Encrypt {
        /// The size of the document.
        len: u64,
    },
    /// The cache path names something other than a regular file (a FIFO,
    /// a socket, a device, a directory): it is not opened, since reading a
    /// FIFO or a device could wait forever or never end.
    #[error("the cache path {} is {kind}, not a regular file", path.display())]
    NotAFile {
        /// The cache file's path.
        path: PathBuf,
        /// What it is instead ("a FIFO", "a socket", "a character device", …).
        kind: &'static str,
    },
    /// The builder was given something unusable.
    #[error("invalid file cache configuration: {0}")]
    Config(String),
}

fn holder_note(pid: Option<u32>) -> String {
    pid.map(|p| format!(" (held by pid {p})"))
        .unwrap_or_default()
}

/// Why a cache file is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptReason {
    /// Plain-text mode, and the content is not a JSON object.
    NotJson,
    /// Plain-text mode, and the JSON stops early (a write was cut off).
    Truncated,
    /// Plain-text mode, but the file is one of our encrypted files.
    EncryptedButPlaintextConfigured,
    /// Encryption is configured, but the file is plain text (for example a
    /// file shared with MSAL Python); it is never converted silently.
    PlaintextButEncryptionConfigured,
    /// The encrypted header is cut short or its magic is wrong.
    BadHeader,
    /// The encrypted file has a format version this build does not know.
    UnsupportedVersion(u8),
    /// The file was encrypted with another key.
    WrongKey,
    /// The file is larger than the configured maximum file size, so it was
    /// not read.
    TooLarge {
        /// The configured limit, in bytes.
        limit: u64,
    },
    /// The key the file was encrypted with is no longer in the keyring (for
    /// example the kernel keyring was cleared by a reboot).
    KeyMissing,
    /// The ciphertext failed authentication (tampered with or damaged).
    DecryptionFailed,
}

impl std::fmt::Display for CorruptReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotJson => f.write_str("not a JSON object"),
            Self::Truncated => f.write_str("truncated JSON (an interrupted write?)"),
            Self::EncryptedButPlaintextConfigured => {
                f.write_str("the file is encrypted but the cache is configured for plain text")
            }
            Self::PlaintextButEncryptionConfigured => {
                f.write_str("the file is plain text but the cache is configured for encryption")
            }
            Self::BadHeader => f.write_str("the encrypted header is damaged"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported encrypted format version {v}"),
            Self::WrongKey => f.write_str("encrypted with a different key"),
            Self::TooLarge { limit } => write!(f, "larger than the {limit}-byte limit"),
            Self::KeyMissing => f.write_str("its encryption key is no longer in the keyring"),
            Self::DecryptionFailed => f.write_str("the ciphertext failed authentication"),
        }
    }
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: CorruptReason) -> Self {
        Self::Corrupt {
            path: path.into(),
            reason,
        }
    }

    /// The msal storage class of this error.
    pub fn storage_kind(&self) -> StorageErrorKind {
        match self {
            Self::LockTimeout { .. } => StorageErrorKind::LockTimeout,
            Self::Corrupt { .. } => StorageErrorKind::Corrupt,
            Self::Io { .. } | Self::NotAFile { .. } => StorageErrorKind::Io,
            Self::Keyring { .. } => StorageErrorKind::Unavailable,
            Self::Conflict { .. }
            | Self::TooLarge { .. }
            | Self::Encrypt { .. }
            | Self::Config(_) => StorageErrorKind::Other,
        }
    }

    /// Whether this is [`Error::Corrupt`] (the caller may quarantine the file).
    pub fn is_corrupt(&self) -> bool {
        matches!(self, Self::Corrupt { .. })
    }
}

impl From<Error> for StorageError {
    fn from(e: Error) -> Self {
        StorageError::new(e.storage_kind(), e.to_string()).with_source(e)
    }
}

/// The [`Error`] behind a [`StorageError`] returned by the hooks, if it came
/// from this crate.
pub fn file_cache_error(e: &StorageError) -> Option<&Error> {
    e.source.as_deref().and_then(|s| s.downcast_ref::<Error>())
}
