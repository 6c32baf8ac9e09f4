//! Where the encryption key lives: the OS secret store, through the keyring
//! crate. Every call here blocks (D-Bus, keychain, kernel); the cache makes
//! them on a blocking thread with the file lock held, so two processes never
//! create two keys for one file.

use crate::envelope::CacheKey;
use crate::error::Error;

/// Which secret store keeps the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyringBackend {
    /// The platform's store: the macOS keychain, the Windows credential
    /// manager, the Secret Service (GNOME Keyring, KWallet) on Linux.
    Platform,
    /// Linux only: the kernel key store (keyutils), in the user's persistent
    /// keyring under the description `<service>:<user>`, readable by that
    /// user's processes only. Works headless, without D-Bus, but does not
    /// survive a reboot (and expires after a few days unused,
    /// `/proc/sys/kernel/keys/persistent_keyring_expiry`).
    /// When the key is gone, the file reports
    /// [`CorruptReason::KeyMissing`](crate::CorruptReason::KeyMissing).
    KernelKeyring,
}

/// A keyring entry: which store, and the service/user names in it.
#[derive(Debug, Clone)]
pub(crate) struct KeyringSlot {
    pub(crate) backend: KeyringBackend,
    pub(crate) service: String,
    pub(crate) user: String,
}

impl KeyringSlot {
    /// The kernel key's description: `<service>:<user>`.
    pub(crate) fn description(&self) -> String {
        format!("{}:{}", self.service, self.user)
    }

    fn kernel(&self) -> bool {
        self.backend == KeyringBackend::KernelKeyring
    }

    fn entry(&self) -> Result<keyring::Entry, Error> {
        #[cfg(target_os = "linux")]
        let built = match self.backend {
            KeyringBackend::Platform => keyring::secret_service::SsCredential::new_with_target(
                None,
                &self.service,
                &self.user,
            )
            .map(|c| keyring::Entry::new_with_credential(Box::new(c))),
            KeyringBackend::KernelKeyring => {
                return Err(Error::Config(
                    "the kernel keyring is not used through the keyring crate".into(),
                ));
            }
        };
        #[cfg(not(target_os = "linux"))]
        let built = match self.backend {
            KeyringBackend::Platform => keyring::Entry::new(&self.service, &self.user),
            KeyringBackend::KernelKeyring => {
                return Err(Error::Config(
                    "the kernel keyring backend exists only on Linux".into(),
                ));
            }
        };
        built.map_err(|e| keyring_error("cannot open the keyring entry", e))
    }

    /// The stored key, `None` if the entry does not exist.
    pub(crate) fn load(&self) -> Result<Option<CacheKey>, Error> {
        #[cfg(target_os = "linux")]
        if self.kernel() {
            let raw =
                crate::kernel_keyring::load(&self.description()).map_err(|m| Error::Keyring {
                    message: m,
                    source: None,
                })?;
            return match raw {
                None => Ok(None),
                Some(raw) => {
                    let text = zeroize::Zeroizing::new(raw);
                    let key = std::str::from_utf8(&text)
                        .ok()
                        .and_then(CacheKey::from_base64);
                    key.map(Some).ok_or_else(|| Error::Keyring {
                        message: format!(
                            "the kernel key {} does not hold a cache key",
                            self.description()
                        ),
                        source: None,
                    })
                }
            };
        }
        match self.entry()?.get_password() {
            Ok(text) => {
                let text = zeroize::Zeroizing::new(text);
                CacheKey::from_base64(&text)
                    .map(Some)
                    .ok_or_else(|| Error::Keyring {
                        message: format!(
                            "the keyring entry {}/{} does not hold a cache key",
                            self.service, self.user
                        ),
                        source: None,
                    })
            }
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_error("cannot read the cache key", e)),
        }
    }

    /// Stores `key`, replacing any previous one.
    pub(crate) fn store(&self, key: &CacheKey) -> Result<(), Error> {
        #[cfg(target_os = "linux")]
        if self.kernel() {
            return crate::kernel_keyring::store(
                &self.description(),
                key.expose_base64().as_bytes(),
            )
            .map_err(|m| Error::Keyring {
                message: m,
                source: None,
            });
        }
        self.entry()?
            .set_password(&key.expose_base64())
            .map_err(|e| keyring_error("cannot store the cache key", e))
    }

    /// Deletes the entry (absent is fine).
    pub(crate) fn delete(&self) -> Result<(), Error> {
        #[cfg(target_os = "linux")]
        if self.kernel() {
            return crate::kernel_keyring::delete(&self.description()).map_err(|m| {
                Error::Keyring {
                    message: m,
                    source: None,
                }
            });
        }
        match self.entry()?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_error("cannot delete the cache key", e)),
        }
    }
}

/// Whether `backend` answers here (a store that only says "no such entry"
/// counts as answering).
pub(crate) fn probe(backend: KeyringBackend) -> bool {
    let slot = KeyringSlot {
        backend,
        service: "msal-rs".into(),
        user: "probe".into(),
    };
    if slot.kernel() {
        return slot.load().is_ok();
    }
    match slot.entry().map(|e| e.get_password()) {
        Ok(Ok(_)) | Ok(Err(keyring::Error::NoEntry)) => true,
        Ok(Err(e)) => {
            tracing::debug!(?backend, error = %e, "keyring backend unavailable");
            false
        }
        Err(_) => false,
    }
}

/// The backend [`Encryption::Auto`](crate::Encryption::Auto) uses: the
/// platform store where it answers, else (Linux) the kernel keyring.
pub(crate) fn auto_backend() -> Result<KeyringBackend, Error> {
    #[cfg(target_os = "linux")]
    {
        // Without a session bus there is no Secret Service; skip the D-Bus
        // connection attempt.
        if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() && probe(KeyringBackend::Platform)
        {
            return Ok(KeyringBackend::Platform);
        }
        if probe(KeyringBackend::KernelKeyring) {
            return Ok(KeyringBackend::KernelKeyring);
        }
    }
    #[cfg(not(target_os = "linux"))]
    if probe(KeyringBackend::Platform) {
        return Ok(KeyringBackend::Platform);
    }
    Err(Error::Keyring {
        message: "no OS secret store is available for the cache key; supply a key (Encryption::Aes256Gcm) \
                  or opt in to plain text (Encryption::Plaintext)"
            .into(),
        source: None,
    })
}

fn keyring_error(what: &str, e: keyring::Error) -> Error {
    Error::Keyring {
        message: format!("{what}: {e}"),
        source: Some(Box::new(e)),
    }
}
