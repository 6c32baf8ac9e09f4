//! Encryption at rest: AES-256-GCM with a caller key, with a key in the
//! Linux kernel keyring (keyutils), and `Auto`.

mod common;

use std::path::Path;

use common::{MiniEngine, access_token_secrets};
use msal::storage::{CacheAccess, CacheAccessArgs, StorageErrorKind};
use msal_cache_file::envelope::{self, MAGIC};
use msal_cache_file::{
    CacheKey, CorruptReason, Encryption, Error, FileCache, KeyringBackend, file_cache_error,
};
use msal_test_support::child;

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
/// The key as the kernel keeps it (`<service>:<user>` in the user's
/// persistent keyring), read the way another tool of the user would.
fn kernel_key(service: &str, user: &str) -> Option<CacheKey> {
    use linux_keyutils::{KeyRing, KeyRingIdentifier};
    let ring = KeyRing::get_persistent(KeyRingIdentifier::User).unwrap();
    let key = ring.search(&format!("{service}:{user}")).ok()?;
    CacheKey::from_base64(std::str::from_utf8(&key.read_to_vec().unwrap()).unwrap())
}

fn drop_kernel_key(service: &str, user: &str) {
    use linux_keyutils::{KeyRing, KeyRingIdentifier};
    let ring = KeyRing::get_persistent(KeyRingIdentifier::User).unwrap();
    ring.search(&format!("{service}:{user}"))
        .unwrap()
        .invalidate()
        .unwrap();
}

fn unique_user(label: &str) -> String {
    format!(
        "test-{label}-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    )
}

#[tokio::test]
async fn key_in_the_kernel_keyring_is_shared_with_another_process_and_its_loss_is_reported() {
    let name = "key_in_the_kernel_keyring_is_shared_with_another_process_and_its_loss_is_reported";
    let kernel = Encryption::Keyring(KeyringBackend::KernelKeyring);
    if child::is_child(name) {
        let cache = FileCache::builder(child::var("CACHE_PATH"))
            .encryption(kernel)
            .keyring_entry("msal-rs-test", child::var("KEY_USER"))
            .build()
            .unwrap();
        let doc = cache.read_document().await.unwrap().unwrap();
        assert_eq!(
            access_token_secrets(&doc),
            ["from-parent".to_owned()].into()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.bin");
    let user = unique_user("kernel");
    let cache = FileCache::builder(&path)
        .encryption(kernel.clone())
        .keyring_entry("msal-rs-test", &user)
        .build()
        .unwrap();
    let mut e = MiniEngine::new(cache.clone());
    e.add_token("from-parent").await.unwrap();

    // The key is a random 256-bit key in the kernel keyring, and it is the
    // one the file names.
    let key =
        kernel_key("msal-rs-test", &user).expect("a 32-byte key, base64, in the kernel keyring");
    assert_eq!(
        envelope::key_id_of(&std::fs::read(&path).unwrap()),
        Some(key.id())
    );

    // Another process finds the key and reads the file.
    child::run(
        name,
        &[
            ("CACHE_PATH", path.display().to_string()),
            ("KEY_USER", user.clone()),
        ],
    )
    .await;

    // The key is gone (a reboot clears the kernel keyring): the file is
    // reported, not overwritten with a new key.
    drop_kernel_key("msal-rs-test", &user);
    let before = std::fs::read(&path).unwrap();
    let fresh = FileCache::builder(&path)
        .encryption(kernel)
        .keyring_entry("msal-rs-test", &user)
        .build()
        .unwrap();
    let mut f = MiniEngine::new(fresh.clone());
    assert_eq!(
        reason(&f.add_token("x").await.unwrap_err()),
        CorruptReason::KeyMissing
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // Moved aside, the cache starts again with a new key.
    fresh.quarantine().await.unwrap().unwrap();
    f.add_token("new-start").await.unwrap();
    let new_key = kernel_key("msal-rs-test", &user).unwrap();
    assert_ne!(new_key.id(), key.id());
    // delete() removes the file and the key.
    fresh.delete().await.unwrap();
    assert!(!path.exists());
    assert!(kernel_key("msal-rs-test", &user).is_none());
}

#[tokio::test]
async fn auto_encrypts_with_a_key_kept_in_a_secret_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.bin");
    let user = unique_user("auto");
    let cache = FileCache::builder(&path)
        .keyring_entry("msal-rs-test", &user)
        .build()
        .unwrap();
    let mut e = MiniEngine::new(cache.clone());
    e.add_token("auto-token").await.unwrap();
    let raw = std::fs::read(&path).unwrap();
    assert!(raw.starts_with(MAGIC), "Auto never writes plain text");
    let again = FileCache::builder(&path)
        .keyring_entry("msal-rs-test", &user)
        .build()
        .unwrap();
    let doc = again.read_document().await.unwrap().unwrap();
    assert_eq!(access_token_secrets(&doc), ["auto-token".to_owned()].into());
    // Without a Secret Service on the session bus (this machine, CI), the
    // key is in the kernel keyring.
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        let key = kernel_key("msal-rs-test", &user).unwrap();
        assert_eq!(envelope::key_id_of(&raw), Some(key.id()));
    }
    cache.delete().await.unwrap();
}

/// A private D-Bus session bus with GNOME Keyring's Secret Service on it,
/// unlocked, in a throw-away home: what a desktop session provides. Both
/// daemons are killed on drop (also when the test fails).
struct SecretService {
    bus: std::process::Child,
    keyring: std::process::Child,
    address: String,
    home: tempfile::TempDir,
}

impl SecretService {
    fn start() -> Self {
        use std::io::{BufRead, Write};
        use std::process::{Command, Stdio};
        let missing = "dbus-daemon and gnome-keyring-daemon must be installed \
                       (bash scripts/test.sh installs Debian's dbus-daemon and gnome-keyring)";
        let home = tempfile::tempdir().unwrap();
        let runtime = home.path().join("run");
        std::fs::create_dir(&runtime).unwrap();
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{missing}: {e}"));
        let mut address = String::new();
        std::io::BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_owned();
        assert!(address.starts_with("unix:"), "dbus-daemon said {address:?}");
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--components=secrets", "--unlock"])
            .env("HOME", home.path())
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{missing}: {e}"));
        // The login keyring's password, then EOF: created and unlocked.
        let mut stdin = keyring.stdin.take().unwrap();
        stdin.write_all(b"test-login-password").unwrap();
        drop(stdin);
        let me = Self {
            bus,
            keyring,
            address,
            home,
        };
        for _ in 0..100 {
            if me.has_secret_service() {
                return me;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("gnome-keyring-daemon did not take org.freedesktop.secrets on the bus");
    }

    fn has_secret_service(&self) -> bool {
        let out = std::process::Command::new("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .output()
            .expect("dbus-send (Debian's dbus-bin)");
        String::from_utf8_lossy(&out.stdout).contains("boolean true")
    }

    /// The secret stored under `service`/`username`, read with libsecret's
    /// `secret-tool`, the way another program of the desktop would.
    fn lookup(&self, service: &str, user: &str) -> Option<String> {
        let out = std::process::Command::new("secret-tool")
            .args(["lookup", "service", service, "username", user])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("HOME", self.home.path())
            .output()
            .expect("secret-tool (Debian's libsecret-tools)");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .filter(|s| !s.is_empty())
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        let _ = self.keyring.kill();
        let _ = self.keyring.wait();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

#[tokio::test]
async fn auto_keeps_the_key_in_a_running_secret_service() {
    let name = "auto_keeps_the_key_in_a_running_secret_service";
    if child::is_child(name) {
        // A desktop session: Auto finds the Secret Service on the bus.
        let path = std::path::PathBuf::from(child::var("CACHE_PATH"));
        let user = child::var("KEY_USER");
        let cache = FileCache::builder(&path)
            .keyring_entry("msal-rs-test", &user)
            .build()
            .unwrap();
        let mut e = MiniEngine::new(cache.clone());
        e.add_token("in-secret-service").await.unwrap();
        assert!(std::fs::read(&path).unwrap().starts_with(MAGIC));
        assert!(
            kernel_key("msal-rs-test", &user).is_none(),
            "with a Secret Service, the kernel keyring is not used"
        );
        // Another instance, naming the platform store, reads the file.
        let again = FileCache::builder(&path)
            .encryption(Encryption::Keyring(KeyringBackend::Platform))
            .keyring_entry("msal-rs-test", &user)
            .build()
            .unwrap();
        let doc = again.read_document().await.unwrap().unwrap();
        assert_eq!(
            access_token_secrets(&doc),
            ["in-secret-service".to_owned()].into()
        );
        return;
    }
    let service = tokio::task::spawn_blocking(SecretService::start)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.bin");
    let user = unique_user("secret-service");
    child::run(
        name,
        &[
            ("CACHE_PATH", path.display().to_string()),
            ("KEY_USER", user.clone()),
            ("DBUS_SESSION_BUS_ADDRESS", service.address.clone()),
        ],
    )
    .await;
    // The key the file names is the one in the Secret Service.
    let stored = service
        .lookup("msal-rs-test", &user)
        .expect("the key is in the Secret Service");
    let key = CacheKey::from_base64(&stored).expect("a base64 256-bit key");
    assert_eq!(
        envelope::key_id_of(&std::fs::read(&path).unwrap()),
        Some(key.id())
    );
}
