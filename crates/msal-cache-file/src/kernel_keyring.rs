//! Linux: the key in the kernel key store, in the user's persistent keyring.
//!
//! Not the keyring crate's keyutils store: that one adds keys to the calling
//! process's session keyring, which a process started outside a login
//! session (a service, a container, a test runner) may not have, and which
//! another process of the same user cannot search. The persistent keyring is
//! one per user, reachable from every process of that user, survives logout,
//! and expires after `/proc/sys/kernel/keys/persistent_keyring_expiry`
//! seconds unused (3 days by default); nothing in it survives a reboot.

use linux_keyutils::{KeyError, KeyPermissionsBuilder, KeyRing, KeyRingIdentifier, Permission};

fn ring() -> Result<KeyRing, KeyError> {
    // Linked into the user keyring so that it stays reachable; where the
    // kernel has no persistent keyrings, the user keyring itself.
    KeyRing::get_persistent(KeyRingIdentifier::User)
        .or_else(|_| KeyRing::from_special_id(KeyRingIdentifier::User, true))
}

fn describe(e: KeyError) -> String {
    format!("kernel keyring: {e:?}")
}

/// The stored secret, `None` if there is none.
pub(crate) fn load(description: &str) -> Result<Option<Vec<u8>>, String> {
    let ring = ring().map_err(describe)?;
    match ring.search(description) {
        Ok(key) => key.read_to_vec().map(Some).map_err(describe),
        Err(KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked) => Ok(None),
        Err(e) => Err(describe(e)),
    }
}

/// Stores `secret`, replacing an earlier one. Processes of the same user may
/// read it (as they may read the 0600 cache file); nobody else.
pub(crate) fn store(description: &str, secret: &[u8]) -> Result<(), String> {
    let ring = ring().map_err(describe)?;
    let key = ring.add_key(description, secret).map_err(describe)?;
    let perms = KeyPermissionsBuilder::builder()
        .posessor(Permission::ALL)
        .user(
            Permission::VIEW
                | Permission::READ
                | Permission::SEARCH
                | Permission::WRITE
                | Permission::SETATTR,
        )
        .build();
    key.set_perms(perms).map_err(describe)
}

/// Removes the secret (absent is fine).
pub(crate) fn delete(description: &str) -> Result<(), String> {
    let ring = ring().map_err(describe)?;
    match ring.search(description) {
        Ok(key) => key.invalidate().map_err(describe),
        Err(KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked) => Ok(()),
        Err(e) => Err(describe(e)),
    }
}
