//! Configuration: where the file is, how it is protected, how long to wait.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use msal::clock::{Clock, SystemClock};

use crate::cache::FileCache;
use crate::envelope::CacheKey;
use crate::error::Error;
use crate::keystore::KeyringBackend;

/// msal-extensions gives up after 5 s; so do we by default.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// A lock held by this process for longer than this without `after_access`
/// is taken back by the next access (its future was dropped mid-way).
pub const DEFAULT_MAX_HOLD: Duration = Duration::from_secs(30);

/// The largest cache file read or written by default: 256 MiB, far above
/// any real token cache (thousands of accounts fit in a few MiB), so that a
/// file that is not a cache (or a link to a device) is refused instead of
/// being read whole into memory.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 256 * 1024 * 1024;

/// The keyring service name under which keys are kept by default.
pub const DEFAULT_KEYRING_SERVICE: &str = "msal-rs-cache-file";

/// How the file is protected at rest.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Encryption {
    /// AES-256-GCM with a random key kept in the best secret store here: the
    /// OS store (macOS keychain, Windows credential manager, the Secret
    /// Service on Linux) when one answers, else on Linux the kernel keyring.
    /// Fails with [`Error::Keyring`] at first use when there is none: it
    /// never falls back to plain text.
    #[default]
    Auto,
    /// AES-256-GCM with a random key kept in the given store.
    Keyring(KeyringBackend),
    /// AES-256-GCM with a key the caller keeps.
    Aes256Gcm(CacheKey),
    /// No encryption: the file is exactly the plain JSON MSAL Python,
    /// msal-extensions' `FilePersistence` and the Azure CLI write, so one file
    /// can be shared with them. Anyone who can read the file can use the
    /// tokens in it; it is still created with mode 0600. Opt in knowingly.
    Plaintext,
}

/// Builds a [`FileCache`]. Setters never fail; [`build`](Self::build) reports
/// the first problem.
#[must_use]
pub struct FileCacheBuilder {
    pub(crate) path: PathBuf,
    pub(crate) encryption: Encryption,
    pub(crate) lock_timeout: Duration,
    pub(crate) max_hold: Duration,
    pub(crate) max_file_size: u64,
    pub(crate) keyring_service: String,
    pub(crate) keyring_user: Option<String>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for FileCacheBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key inside `encryption` redacts itself.
        f.debug_struct("FileCacheBuilder")
            .field("path", &self.path)
            .field("encryption", &self.encryption)
            .field("lock_timeout", &self.lock_timeout)
            .field("max_hold", &self.max_hold)
            .field("max_file_size", &self.max_file_size)
            .field("keyring_service", &self.keyring_service)
            .field("keyring_user", &self.keyring_user)
            .finish_non_exhaustive()
    }
}

impl FileCacheBuilder {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            encryption: Encryption::Auto,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            max_hold: DEFAULT_MAX_HOLD,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            keyring_service: DEFAULT_KEYRING_SERVICE.to_owned(),
            keyring_user: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// How the file is protected (default [`Encryption::Auto`]).
    pub fn encryption(mut self, encryption: Encryption) -> Self {
        self.encryption = encryption;
        self
    }

    /// How long to wait for the cross-process lock before
    /// [`Error::LockTimeout`] (default 5 s, as msal-extensions).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// How long one access of this process may keep the lock before a later
    /// access of the same process takes it back (default 30 s). Only matters
    /// when a caller drops a cache operation between its two hooks.
    pub fn max_hold(mut self, max_hold: Duration) -> Self {
        self.max_hold = max_hold;
        self
    }

    /// The largest file, in bytes, this cache reads or writes (default
    /// [`DEFAULT_MAX_FILE_SIZE`]). A larger file is reported as
    /// [`Error::Corrupt`] ([`CorruptReason::TooLarge`]) and a larger
    /// document is not written ([`Error::TooLarge`]).
    ///
    /// [`CorruptReason::TooLarge`]: crate::CorruptReason::TooLarge
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = bytes;
        self
    }

    /// The keyring entry holding the key (default: service
    /// [`DEFAULT_KEYRING_SERVICE`], user `key:<absolute file path>`).
    pub fn keyring_entry(mut self, service: impl Into<String>, user: impl Into<String>) -> Self {
        self.keyring_service = service.into();
        self.keyring_user = Some(user.into());
        self
    }

    /// The clock used for lock deadlines and back-off sleeps (tests pass a
    /// `ManualClock`).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the configuration. Touches no file and no keyring: those are
    /// used at the first access.
    pub fn build(self) -> Result<FileCache, Error> {
        if self.path.file_name().is_none() {
            return Err(Error::Config(format!(
                "{} does not name a file",
                self.path.display()
            )));
        }
        if self.lock_timeout.is_zero() {
            return Err(Error::Config("the lock timeout must be positive".into()));
        }
        if self.keyring_service.is_empty() || self.keyring_user.as_deref() == Some("") {
            return Err(Error::Config(
                "keyring service and user must not be empty".into(),
            ));
        }
        let path =
            std::path::absolute(&self.path).map_err(|e| Error::io("resolve", &self.path, e))?;
        Ok(FileCache::from_builder(FileCacheBuilder { path, ..self }))
    }
}
