//! Setting one user's exec stanza in a kubeconfig file, and nothing else.
//!
//! The file is read into an order-keeping YAML tree (serde_norway, the
//! maintained fork of serde_yaml), the one user entry is changed, and the
//! tree is written back: every other key, value and list entry is kept, in
//! its order (clusters, contexts, preferences, extensions, other users,
//! fields msal does not know). What a YAML tree does not hold is not kept,
//! as with `kubectl config`, which rewrites the file the same way: comments,
//! quoting and flow style, anchors and aliases (written out expanded). The
//! write takes kubectl's lock (`<file>.lock`, created exclusively) and goes
//! through a temporary file renamed over the original, which keeps its
//! permissions (0600 for a new file).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_norway::{Mapping, Value};

use super::ExecApiVersion;
use crate::error::{CliError, CliResult};

/// The credentials the exec stanza replaces in the user entry: kubectl
/// would send them along with, or instead of, msal's token.
const REPLACED: [&str; 5] = [
    "token",
    "tokenFile",
    "auth-provider",
    "username",
    "password",
];

/// What kubectl is told to run.
#[derive(Debug, Clone)]
pub(crate) struct ExecStanza {
    /// The ExecCredential version kubectl asks for.
    pub(crate) api_version: ExecApiVersion,
    /// The program.
    pub(crate) command: String,
    /// Its arguments.
    pub(crate) args: Vec<String>,
}

impl ExecStanza {
    fn to_yaml(&self) -> Value {
        let mut m = Mapping::new();
        m.insert(s("apiVersion"), s(self.api_version.as_str()));
        m.insert(s("command"), s(&self.command));
        m.insert(
            s("args"),
            Value::Sequence(self.args.iter().map(|a| s(a)).collect()),
        );
        m.insert(
            s("installHint"),
            s("msal provides this user's token: install it (cargo install msal-cli) and sign in with `msal login`"),
        );
        m.insert(s("interactiveMode"), s("IfAvailable"));
        m.insert(s("provideClusterInfo"), Value::Bool(false));
        Value::Mapping(m)
    }
}

fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

/// What [`set_user_exec`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edit {
    /// The new file text.
    pub(crate) text: String,
    /// The user entry was added.
    pub(crate) created_user: bool,
    /// Credentials removed from the user entry.
    pub(crate) removed: Vec<String>,
    /// The original had comments, which are not kept.
    pub(crate) had_comments: bool,
}

/// `text` (a kubeconfig, or nothing) with user `name`'s credential set to
/// `stanza`, the user entry added when missing.
///
/// # Errors
/// Not YAML, or not shaped like a kubeconfig where it matters (the top
/// level, `users`, the user entry).
pub(crate) fn set_user_exec(
    text: Option<&str>,
    name: &str,
    stanza: &ExecStanza,
) -> Result<Edit, String> {
    let mut doc: Value = match text {
        Some(t) if !t.trim().is_empty() => {
            serde_norway::from_str(t).map_err(|e| format!("not YAML: {e}"))?
        }
        _ => new_config(),
    };
    let root = doc
        .as_mapping_mut()
        .ok_or("not a kubeconfig: the top level is not a mapping")?;
    let users = root.entry(s("users")).or_insert(Value::Null);
    if users.is_null() {
        *users = Value::Sequence(Vec::new());
    }
    let users = users
        .as_sequence_mut()
        .ok_or("not a kubeconfig: `users` is not a list")?;
    let position = users
        .iter()
        .position(|u| u.get("name").and_then(Value::as_str) == Some(name));
    let created_user = position.is_none();
    let entry = match position {
        Some(i) => &mut users[i],
        None => {
            let mut m = Mapping::new();
            m.insert(s("name"), s(name));
            m.insert(s("user"), Value::Mapping(Mapping::new()));
            users.push(Value::Mapping(m));
            users.last_mut().ok_or("the new user entry vanished")?
        }
    };
    let entry = entry
        .as_mapping_mut()
        .ok_or_else(|| format!("not a kubeconfig: the entry of user {name:?} is not a mapping"))?;
    let user = entry.entry(s("user")).or_insert(Value::Null);
    if user.is_null() {
        *user = Value::Mapping(Mapping::new());
    }
    let user = user
        .as_mapping_mut()
        .ok_or_else(|| format!("not a kubeconfig: `user` of {name:?} is not a mapping"))?;
    let mut removed = Vec::new();
    for key in REPLACED {
        if user.remove(key).is_some() {
            removed.push(key.to_owned());
        }
    }
    // An existing `exec` keeps its place among the user's keys.
    user.insert(s("exec"), stanza.to_yaml());
    let text_out = serde_norway::to_string(&doc).map_err(|e| format!("cannot write YAML: {e}"))?;
    Ok(Edit {
        text: text_out,
        created_user,
        removed,
        had_comments: text.is_some_and(has_comments),
    })
}

/// The smallest file kubectl reads as a kubeconfig.
fn new_config() -> Value {
    let mut m = Mapping::new();
    m.insert(s("apiVersion"), s("v1"));
    m.insert(s("kind"), s("Config"));
    m.insert(s("users"), Value::Sequence(Vec::new()));
    Value::Mapping(m)
}

/// Whether `text` has a comment line (a `#` that starts a line's content;
/// one after a value may be inside a quoted string, and is not looked for).
fn has_comments(text: &str) -> bool {
    text.lines().any(|l| l.trim_start().starts_with('#'))
}

/// Whether the kubeconfig at `path` has a user `name`.
fn defines_user(path: &Path, name: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let Ok(doc) = serde_norway::from_str::<Value>(&text) else {
        return false;
    };
    doc.get("users")
        .and_then(Value::as_sequence)
        .is_some_and(|users| {
            users
                .iter()
                .any(|u| u.get("name").and_then(Value::as_str) == Some(name))
        })
}

/// The file to change: `explicit`, else the file of `KUBECONFIG` that
/// defines user `name` (kubectl's rule for changing an existing entry),
/// else `KUBECONFIG`'s first file, else `~/.kube/config`.
///
/// # Errors
/// No home directory to find `~/.kube/config` in.
pub(crate) fn path_for(explicit: Option<&Path>, name: &str) -> CliResult<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let paths: Vec<PathBuf> = std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if let Some(p) = paths.iter().find(|p| defines_user(p, name)) {
            return Ok(p.clone());
        }
        if let Some(first) = paths.into_iter().next() {
            return Ok(first);
        }
    }
    dirs::home_dir()
        .map(|h| h.join(".kube").join("config"))
        .ok_or_else(|| CliError::other("cannot find the home directory; pass --kubeconfig FILE"))
}

/// What [`write_user_exec`] did.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    /// The user entry was added.
    pub(crate) created_user: bool,
    /// Credentials removed from the user entry.
    pub(crate) removed: Vec<String>,
    /// The original had comments, which are not kept.
    pub(crate) had_comments: bool,
}

/// Sets user `name`'s exec stanza in the file at `path` (created when
/// missing), under kubectl's lock, atomically.
///
/// # Errors
/// The file cannot be read, parsed or written; the lock is held by another
/// process for more than 5 s ([`LOCK_WAIT`]).
pub(crate) fn write_user_exec(path: &Path, name: &str, stanza: &ExecStanza) -> CliResult<Written> {
    write_waiting(path, name, stanza, LOCK_WAIT)
}

/// How long to wait for kubectl's lock.
const LOCK_WAIT: Duration = Duration::from_secs(5);

fn write_waiting(
    path: &Path,
    name: &str,
    stanza: &ExecStanza,
    lock_wait: Duration,
) -> CliResult<Written> {
    let fail = |what: String| CliError::other(format!("kubeconfig {}: {what}", path.display()));
    // A symbolic link is followed: its target is the file to change.
    let path = match std::fs::canonicalize(path) {
        Ok(real) => real,
        Err(_) => path.to_path_buf(),
    };
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| fail(format!("cannot create its directory: {e}")))?;
    let _lock = Lock::take(&path, lock_wait).map_err(fail)?;
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(fail(format!("cannot read it: {e}"))),
    };
    let edit = set_user_exec(text.as_deref(), name, stanza).map_err(fail)?;
    let mode = existing_mode(&path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".msal-kubeconfig")
        .tempfile_in(&dir)
        .map_err(|e| fail(format!("cannot write next to it: {e}")))?;
    set_mode(tmp.as_file(), mode).map_err(|e| fail(format!("cannot set its permissions: {e}")))?;
    tmp.write_all(edit.text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| fail(format!("cannot write it: {e}")))?;
    tmp.persist(&path)
        .map_err(|e| fail(format!("cannot replace it: {}", e.error)))?;
    Ok(Written {
        created_user: edit.created_user,
        removed: edit.removed,
        had_comments: edit.had_comments,
    })
}

#[cfg(unix)]
fn existing_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o600)
}

#[cfg(not(unix))]
fn existing_mode(_path: &Path) -> u32 {
    0
}

#[cfg(unix)]
fn set_mode(file: &std::fs::File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &std::fs::File, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// kubectl's lock on a kubeconfig file: `<file>.lock`, created exclusively,
/// removed when done.
struct Lock(PathBuf);

impl Lock {
    fn take(path: &Path, wait: Duration) -> Result<Self, String> {
        let mut name = path.as_os_str().to_owned();
        name.push(".lock");
        let lock = PathBuf::from(name);
        let deadline = Instant::now() + wait;
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
            {
                Ok(_) => return Ok(Self(lock)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if Instant::now() >= deadline {
                        return Err(format!(
                            "locked by another process ({} exists; remove it if no kubectl or msal is running)",
                            lock.display()
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(format!("cannot take its lock {}: {e}", lock.display())),
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stanza() -> ExecStanza {
        ExecStanza {
            api_version: ExecApiVersion::V1beta1,
            command: "msal".into(),
            args: vec![
                "kube-credential".into(),
                "--account".into(),
                "ada@contoso.com".into(),
            ],
        }
    }

    /// A kubeconfig as `az aks get-credentials` writes it, with a second
    /// user, an extension and a field kubectl adds.
    const AKS: &str = "\
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    server: https://dev-aks-abc123.hcp.westeurope.azmk8s.io:443
  name: dev-aks
contexts:
- context:
    cluster: dev-aks
    namespace: team-a
    user: clusterUser_rg_dev-aks
  name: dev-aks
current-context: dev-aks
kind: Config
preferences: {}
users:
- name: other
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
- name: clusterUser_rg_dev-aks
  user:
    auth-provider:
      config:
        apiserver-id: 6dae42f8-4368-4678-94ff-3960e28e3630
        client-id: 80faf920-1908-4b52-b5ef-a8e7bedfc67a
        environment: AzurePublicCloud
        tenant-id: 72f988bf-0000-0000-0000-2d7cd011db47
      name: azure
    x-custom: keep me
extensions:
- name: kept
  extension:
    answer: '42'
";

    #[test]
    fn only_the_named_user_changes() {
        let e = set_user_exec(Some(AKS), "clusterUser_rg_dev-aks", &stanza()).unwrap();
        assert!(!e.created_user);
        assert_eq!(e.removed, ["auth-provider"]);
        assert!(!e.had_comments);
        let before: Value = serde_norway::from_str(AKS).unwrap();
        let after: Value = serde_norway::from_str(&e.text).unwrap();
        // Everything else is equal, in the same order.
        for key in [
            "apiVersion",
            "clusters",
            "contexts",
            "current-context",
            "kind",
            "preferences",
            "extensions",
        ] {
            assert_eq!(before.get(key), after.get(key), "{key}");
        }
        let keys = |v: &Value| -> Vec<String> {
            v.as_mapping()
                .unwrap()
                .keys()
                .map(|k| k.as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(keys(&before), keys(&after), "top-level order");
        assert_eq!(before["users"][0], after["users"][0], "the other user");
        let user = &after["users"][1]["user"];
        assert_eq!(user["x-custom"], "keep me");
        assert!(user.get("auth-provider").is_none());
        let exec = &user["exec"];
        assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1beta1");
        assert_eq!(exec["command"], "msal");
        assert_eq!(exec["args"][2], "ada@contoso.com");
        assert_eq!(exec["interactiveMode"], "IfAvailable");
        // The '42' stays a string.
        assert!(e.text.contains("answer: '42'"), "{}", e.text);
        // Idempotent: a second run changes nothing more.
        let again = set_user_exec(Some(&e.text), "clusterUser_rg_dev-aks", &stanza()).unwrap();
        assert_eq!(again.text, e.text);
        assert!(again.removed.is_empty());
    }

    #[test]
    fn a_missing_user_or_file_is_created_and_comments_are_reported() {
        let e = set_user_exec(None, "aks", &stanza()).unwrap();
        assert!(e.created_user);
        let v: Value = serde_norway::from_str(&e.text).unwrap();
        assert_eq!(v["kind"], "Config");
        assert_eq!(v["users"][0]["name"], "aks");
        assert_eq!(v["users"][0]["user"]["exec"]["command"], "msal");

        let commented = "# my clusters\napiVersion: v1\nkind: Config\nusers: null\n";
        let e = set_user_exec(Some(commented), "aks", &stanza()).unwrap();
        assert!(e.created_user && e.had_comments);
        assert_eq!(
            serde_norway::from_str::<Value>(&e.text).unwrap()["users"][0]["name"],
            "aks"
        );
    }

    #[test]
    fn what_is_not_a_kubeconfig_is_refused() {
        for bad in [
            "- a\n- b\n",
            "users: 3\n",
            "users:\n- name: aks\n  user: [1]\n",
            "a: [b\n",
        ] {
            assert!(set_user_exec(Some(bad), "aks", &stanza()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_file_is_written_under_the_lock_and_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, AKS).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        }
        let w = write_user_exec(&path, "clusterUser_rg_dev-aks", &stanza()).unwrap();
        assert_eq!(w.removed, ["auth-provider"]);
        assert!(
            !dir.path().join("config.lock").exists(),
            "the lock is released"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o640);
        }
        // Held by someone else: a clear error after the bounded wait.
        std::fs::write(dir.path().join("config.lock"), b"").unwrap();
        let e = write_waiting(&path, "x", &stanza(), Duration::from_millis(100)).unwrap_err();
        assert!(e.message.contains("config.lock"), "{}", e.message);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 2, "no temporary file left: {left:?}");
    }
}
