//! Shared test helpers: a minimal stand-in for the engine's use of the hooks,
//! MSAL-Python-shaped token entries, and child processes.
#![allow(dead_code, unreachable_pub)]

pub mod idp;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use msal::storage::{CacheAccess, CacheAccessArgs, StorageError};
use msal_cache_file::FileCache;
use serde_json::{Value, json};

pub const CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

/// What the engine does around a cache operation: before_access, replace the
/// in-memory document if told to, run the operation, after_access (always).
pub struct MiniEngine {
    pub cache: FileCache,
    pub doc: Value,
}

impl MiniEngine {
    pub fn new(cache: FileCache) -> Self {
        Self {
            cache,
            doc: json!({}),
        }
    }

    /// Runs `op` on the in-memory document under the hooks; `op` returns
    /// whether it changed the document.
    pub async fn access(
        &mut self,
        partition: Option<&str>,
        op: impl FnOnce(&mut Value) -> bool,
    ) -> Result<(), StorageError> {
        let args = CacheAccessArgs::new(partition, false);
        match self.cache.before_access(args).await {
            Ok(Some(bytes)) => {
                self.doc = serde_json::from_slice(&bytes).expect("the hooks hand over valid JSON")
            }
            Ok(None) => {}
            Err(e) => {
                self.cache
                    .after_access(args.after(false, None), None)
                    .await?;
                return Err(e);
            }
        }
        let changed = op(&mut self.doc);
        // Compact, unlike MSAL Python's indent=4: the multi-process tests
        // rewrite large documents thousands of times in debug builds.
        let bytes = serde_json::to_vec(&self.doc).unwrap();
        self.cache
            .after_access(args.after(changed, None), changed.then_some(&bytes[..]))
            .await
    }

    /// Adds one access token (as MSAL Python would store it).
    pub async fn add_token(&mut self, secret: &str) -> Result<(), StorageError> {
        let secret = secret.to_owned();
        self.access(None, move |doc| {
            insert_access_token(doc, &secret);
            true
        })
        .await
    }
}

/// Inserts an AccessToken entry shaped and keyed as MSAL Python does, with
/// `secret` as the token and a scope of its own.
pub fn insert_access_token(doc: &mut Value, secret: &str) {
    let target = format!("api://{secret}/.default");
    let key = format!("-login.microsoftonline.com-accesstoken-{CLIENT_ID}-common-{target}");
    let entry = json!({
        "credential_type": "AccessToken",
        "secret": secret,
        "home_account_id": null,
        "environment": "login.microsoftonline.com",
        "client_id": CLIENT_ID,
        "target": target,
        "realm": "common",
        "token_type": "Bearer",
        "cached_at": "1700000000",
        "expires_on": "1700003600",
        "extended_expires_on": "1700003600",
    });
    let obj = doc.as_object_mut().expect("a JSON object");
    let section = obj.entry("AccessToken").or_insert_with(|| json!({}));
    section
        .as_object_mut()
        .expect("an AccessToken object")
        .insert(key, entry);
}

/// Every access-token secret in a document.
pub fn access_token_secrets(doc: &[u8]) -> BTreeSet<String> {
    let v: Value = serde_json::from_slice(doc).expect("the cache file parses as JSON");
    v.get("AccessToken")
        .and_then(Value::as_object)
        .map(|m| {
            m.values()
                .filter_map(|e| e.get("secret").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The token of an `ACK <token>` line. With `--nocapture` libtest prints
/// `test <name> ... ` without a newline before the test runs, so the first
/// ack shares its line.
pub fn ack_of(line: &str) -> Option<&str> {
    let rest = &line[line.find("ACK ")? + 4..];
    rest.split_whitespace().next()
}

/// Starts this test binary again, running only `test` as a child (see
/// msal_test_support::child), with `envs`, stdout piped.
pub fn spawn_child(test: &str, envs: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(msal_test_support::child::CHILD_VAR, test)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// The python with msal and msal-extensions: $MSAL_PYTHON, else the repo's
/// .venv. Panics (the test fails) when there is none.
pub fn msal_python() -> String {
    let python = std::env::var("MSAL_PYTHON").unwrap_or_else(|_| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let local = repo.join(".venv/bin/python");
        if local.exists() {
            local.display().to_string()
        } else {
            "/work/main/.venv/bin/python".to_owned()
        }
    });
    let ok = Command::new(&python)
        .args(["-c", "import msal, msal_extensions"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "no python with msal and msal-extensions at {python} (set MSAL_PYTHON; scripts/test.sh creates .venv)"
    );
    python
}
