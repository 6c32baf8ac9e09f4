//! Workload identity federation (AKS, GitHub Actions and other CI): the
//! platform writes a signed token to a file (`AZURE_FEDERATED_TOKEN_FILE`)
//! and refreshes it in place; that token is the client assertion of an app
//! registration (`AZURE_CLIENT_ID` in `AZURE_TENANT_ID`).
//!
//! [`WorkloadIdentityAssertion`] reads the file and reads it again whenever
//! it changes (modification time or length), so a long-running process
//! always presents the current token.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use super::environment::{Environment, vars};
use crate::error::Error;
use crate::secret::Assertion;

/// A token file larger than this is not a token.
const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

/// The default authority host when `AZURE_AUTHORITY_HOST` is not set.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

/// The client assertion in a federated token file.
pub struct WorkloadIdentityAssertion {
    path: PathBuf,
    last: Mutex<Option<Snapshot>>,
}

struct Snapshot {
    modified: Option<SystemTime>,
    len: u64,
    assertion: Assertion,
}

impl std::fmt::Debug for WorkloadIdentityAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadIdentityAssertion")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl WorkloadIdentityAssertion {
    /// The assertion in the file at `path` (read on first use).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            last: Mutex::new(None),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current assertion: the file's content, read again if the file
    /// changed since the last call.
    ///
    /// # Errors
    /// [`Error::Config`] when the file cannot be read, is empty, is larger
    /// than 64 KiB or is not UTF-8; the message names the file, never its content.
    pub fn assertion(&self) -> Result<Assertion, Error> {
        let shown = self.path.display();
        let meta = std::fs::metadata(&self.path).map_err(|e| {
            Error::config(format!("cannot read the federated token file {shown}: {e}"))
        })?;
        let modified = meta.modified().ok();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = last
            .as_ref()
            .filter(|s| s.modified == modified && s.len == meta.len() && modified.is_some())
        {
            return Ok(s.assertion.clone());
        }
        if meta.len() > MAX_TOKEN_FILE_BYTES {
            return Err(Error::config(format!(
                "the federated token file {shown} holds {} bytes, more than a token ({MAX_TOKEN_FILE_BYTES})",
                meta.len()
            )));
        }
        let bytes = zeroize::Zeroizing::new(std::fs::read(&self.path).map_err(|e| {
            Error::config(format!("cannot read the federated token file {shown}: {e}"))
        })?);
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| {
                Error::config(format!(
                    "the federated token file {shown} is not UTF-8 text"
                ))
            })?
            .trim();
        if text.is_empty() {
            return Err(Error::config(format!(
                "the federated token file {shown} is empty"
            )));
        }
        let assertion = Assertion::new(text);
        *last = Some(Snapshot {
            modified,
            len: meta.len(),
            assertion: assertion.clone(),
        });
        Ok(assertion)
    }
}

/// Workload identity settings, as AKS and federated CI set them.
#[derive(Debug)]
#[non_exhaustive]
pub struct WorkloadIdentity {
    /// `AZURE_CLIENT_ID`: the app registration (or user-assigned identity) federated with the platform.
    pub client_id: String,
    /// `AZURE_TENANT_ID`.
    pub tenant_id: String,
    /// `AZURE_AUTHORITY_HOST`, default [`DEFAULT_AUTHORITY_HOST`], without a trailing `/`.
    pub authority_host: String,
    /// `AZURE_FEDERATED_TOKEN_FILE`.
    pub assertion: WorkloadIdentityAssertion,
}

impl WorkloadIdentity {
    /// Reads the settings from `env`.
    ///
    /// # Errors
    /// [`Error::Config`] naming every variable that is missing.
    pub fn from_environment(env: &Environment) -> Result<Self, Error> {
        let missing: Vec<&str> = [
            vars::AZURE_FEDERATED_TOKEN_FILE,
            vars::AZURE_CLIENT_ID,
            vars::AZURE_TENANT_ID,
        ]
        .into_iter()
        .filter(|v| !env.has(v))
        .collect();
        if !missing.is_empty() {
            return Err(Error::config(format!(
                "workload identity needs {}; not set: {}",
                "AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID and AZURE_TENANT_ID",
                missing.join(", ")
            )));
        }
        let host = env
            .var(vars::AZURE_AUTHORITY_HOST)
            .unwrap_or_else(|| DEFAULT_AUTHORITY_HOST.to_owned());
        Ok(Self {
            client_id: env
                .var(vars::AZURE_CLIENT_ID)
                .unwrap_or_default()
                .trim()
                .to_owned(),
            tenant_id: env
                .var(vars::AZURE_TENANT_ID)
                .unwrap_or_default()
                .trim()
                .to_owned(),
            authority_host: host.trim().trim_end_matches('/').to_owned(),
            assertion: WorkloadIdentityAssertion::new(
                env.var(vars::AZURE_FEDERATED_TOKEN_FILE)
                    .unwrap_or_default()
                    .trim(),
            ),
        })
    }

    /// The authority: `<authority_host>/<tenant_id>`.
    pub fn authority(&self) -> String {
        format!("{}/{}", self.authority_host, self.tenant_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rereads_the_file_when_it_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        std::fs::write(&file, "first.jwt\n").expect("write");
        let a = WorkloadIdentityAssertion::new(&file);
        assert_eq!(a.assertion().expect("read").expose_secret(), "first.jwt");
        // Same length, so only the modification time tells them apart.
        std::fs::write(&file, "later.jwt").expect("write");
        let f = std::fs::File::options()
            .write(true)
            .open(&file)
            .expect("open");
        f.set_modified(SystemTime::now() + std::time::Duration::from_secs(60))
            .expect("mtime");
        assert_eq!(a.assertion().expect("read").expose_secret(), "later.jwt");
        // A different length is noticed even within the same mtime tick.
        std::fs::write(&file, "the-third-token.jwt").expect("write");
        assert_eq!(
            a.assertion().expect("read").expose_secret(),
            "the-third-token.jwt"
        );
    }

    #[test]
    fn unusable_files_are_config_errors_without_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = WorkloadIdentityAssertion::new(dir.path().join("nope"));
        assert!(
            missing
                .assertion()
                .expect_err("missing")
                .to_string()
                .contains("nope")
        );
        let empty = dir.path().join("empty");
        std::fs::write(&empty, " \n").expect("write");
        assert!(
            WorkloadIdentityAssertion::new(&empty)
                .assertion()
                .expect_err("empty")
                .to_string()
                .contains("empty")
        );
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; 70_000]).expect("write");
        let e = WorkloadIdentityAssertion::new(&big)
            .assertion()
            .expect_err("big")
            .to_string();
        assert!(e.contains("70000 bytes") && !e.contains("aaaa"), "{e}");
    }

    #[test]
    fn settings_from_the_environment() {
        let env = Environment::from_vars([
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                "/var/run/secrets/azure/tokens/azure-identity-token",
            ),
            ("AZURE_CLIENT_ID", "cid"),
            ("AZURE_TENANT_ID", "tid"),
            ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/"),
        ]);
        let w = WorkloadIdentity::from_environment(&env).expect("complete");
        assert_eq!(w.authority(), "https://login.microsoftonline.us/tid");
        assert_eq!(
            w.assertion.path(),
            Path::new("/var/run/secrets/azure/tokens/azure-identity-token")
        );
        let e = WorkloadIdentity::from_environment(&Environment::from_vars([(
            "AZURE_CLIENT_ID",
            "cid",
        )]))
        .expect_err("incomplete");
        assert!(
            e.to_string()
                .contains("not set: AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID"),
            "{e}"
        );
    }
}
