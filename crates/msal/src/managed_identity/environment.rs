//! Where the managed-identity settings come from, and which source they name.
//!
//! Azure hosts announce their identity endpoint through environment
//! variables. [`Environment`] reads them from the process, or from a map
//! (tests, or an app that keeps its settings elsewhere), so nothing needs to
//! change the process environment.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Variable names, as Azure hosts set them.
pub(crate) mod vars {
    pub(crate) const IDENTITY_ENDPOINT: &str = "IDENTITY_ENDPOINT";
    pub(crate) const IDENTITY_HEADER: &str = "IDENTITY_HEADER";
    pub(crate) const IDENTITY_SERVER_THUMBPRINT: &str = "IDENTITY_SERVER_THUMBPRINT";
    pub(crate) const IMDS_ENDPOINT: &str = "IMDS_ENDPOINT";
    pub(crate) const MSI_ENDPOINT: &str = "MSI_ENDPOINT";
    pub(crate) const MSI_SECRET: &str = "MSI_SECRET";
    pub(crate) const DEFAULT_IDENTITY_CLIENT_ID: &str = "DEFAULT_IDENTITY_CLIENT_ID";
    /// Overrides the IMDS host (MSAL Python honours it; AKS pod identity sets it).
    pub(crate) const AZURE_POD_IDENTITY_AUTHORITY_HOST: &str = "AZURE_POD_IDENTITY_AUTHORITY_HOST";
    pub(crate) const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
    pub(crate) const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
    pub(crate) const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
    pub(crate) const AZURE_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";
}

/// The identity endpoint a host offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// Azure App Service, Functions, Container Apps, Automation.
    AppService,
    /// Service Fabric (the endpoint's certificate is pinned).
    ServiceFabric,
    /// Azure Machine Learning compute.
    AzureMl,
    /// Azure Cloud Shell.
    CloudShell,
    /// Azure Arc-enabled servers (the local `himds` agent).
    AzureArc,
    /// The Instance Metadata Service of VMs, scale sets and AKS nodes: the
    /// default when nothing else is detected.
    Imds,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::AppService => "App Service",
            Self::ServiceFabric => "Service Fabric",
            Self::AzureMl => "Azure Machine Learning",
            Self::CloudShell => "Cloud Shell",
            Self::AzureArc => "Azure Arc",
            Self::Imds => "IMDS",
        })
    }
}

/// Environment variables and the Azure Arc agent's well-known paths.
///
/// [`Environment::process`] (the default) reads the process environment when
/// asked; [`Environment::from_vars`] reads only the given map. The Arc paths
/// default to the agent's install locations and can be moved (tests, unusual
/// installs).
#[derive(Clone)]
pub struct Environment {
    vars: Option<HashMap<String, String>>,
    arc_agent_path: Option<PathBuf>,
    arc_key_directory: Option<PathBuf>,
}

impl std::fmt::Debug for Environment {
    // Values may be secrets (IDENTITY_HEADER, MSI_SECRET): only names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Option<Vec<&String>> = self.vars.as_ref().map(|m| {
            let mut n: Vec<&String> = m.keys().collect();
            n.sort();
            n
        });
        f.debug_struct("Environment")
            .field(
                "vars",
                &names.map_or("<process>".to_owned(), |n| format!("{n:?}")),
            )
            .field("arc_agent_path", &self.arc_agent_path)
            .field("arc_key_directory", &self.arc_key_directory)
            .finish()
    }
}

impl Default for Environment {
    fn default() -> Self {
        Self::process()
    }
}

impl Environment {
    /// The process environment.
    pub fn process() -> Self {
        Self {
            vars: None,
            arc_agent_path: default_arc_agent_path(),
            arc_key_directory: default_arc_key_directory(),
        }
    }

    /// Only these variables; the process environment is not read.
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: Some(
                vars.into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
            ..Self::process()
        }
    }

    /// Where the Arc agent's executable is looked for when `IDENTITY_ENDPOINT`
    /// and `IMDS_ENDPOINT` are not set (`None`: never). Default
    /// `/opt/azcmagent/bin/himds` on Linux,
    /// `%ProgramFiles%\AzureConnectedMachineAgent\himds.exe` on Windows (the
    /// agent's install directory, as MSAL Python looks for it; only its key
    /// files are under `%ProgramData%`).
    #[must_use]
    pub fn arc_agent_path(mut self, path: Option<PathBuf>) -> Self {
        self.arc_agent_path = path;
        self
    }

    /// The only directory an Arc key-file challenge may name. Default
    /// `/var/opt/azcmagent/tokens` on Linux,
    /// `%ProgramData%\AzureConnectedMachineAgent\Tokens` on Windows, none
    /// elsewhere (Arc then fails with a clear error).
    #[must_use]
    pub fn arc_key_directory(mut self, dir: impl Into<PathBuf>) -> Self {
        self.arc_key_directory = Some(dir.into());
        self
    }

    /// The value of `name`; an empty value counts as unset, as in MSAL Go.
    pub fn var(&self, name: &str) -> Option<String> {
        let v = match &self.vars {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        v.filter(|v| !v.trim().is_empty())
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.var(name).is_some()
    }

    pub(crate) fn key_directory(&self) -> Option<&Path> {
        self.arc_key_directory.as_deref()
    }

    fn arc_agent_installed(&self) -> bool {
        self.arc_agent_path.as_deref().is_some_and(Path::is_file)
    }
}

fn default_arc_agent_path() -> Option<PathBuf> {
    if cfg!(target_os = "linux") {
        Some(PathBuf::from("/opt/azcmagent/bin/himds"))
    } else if cfg!(windows) {
        windows_arc_agent_path(std::env::var_os("ProgramFiles"))
    } else {
        None
    }
}

fn default_arc_key_directory() -> Option<PathBuf> {
    if cfg!(target_os = "linux") {
        Some(PathBuf::from("/var/opt/azcmagent/tokens"))
    } else if cfg!(windows) {
        windows_arc_key_directory(std::env::var_os("ProgramData"))
    } else {
        None
    }
}

/// The agent executable under `%ProgramFiles%` (where the agent installs;
/// MSAL Python's `_get_arc_endpoint` looks there too).
fn windows_arc_agent_path(program_files: Option<std::ffi::OsString>) -> Option<PathBuf> {
    program_files.filter(|p| !p.is_empty()).map(|p| {
        Path::new(&p)
            .join("AzureConnectedMachineAgent")
            .join("himds.exe")
    })
}

/// The key files' directory under `%ProgramData%` (the agent's data, not
/// its install directory).
fn windows_arc_key_directory(program_data: Option<std::ffi::OsString>) -> Option<PathBuf> {
    program_data.filter(|p| !p.is_empty()).map(|p| {
        Path::new(&p)
            .join("AzureConnectedMachineAgent")
            .join("Tokens")
    })
}

/// The source `env` names, in MSAL's order: Service Fabric, App Service,
/// Azure ML, Cloud Shell, Azure Arc, then IMDS.
pub fn detect_source(env: &Environment) -> Source {
    use vars::*;
    if env.has(IDENTITY_ENDPOINT) && env.has(IDENTITY_HEADER) {
        if env.has(IDENTITY_SERVER_THUMBPRINT) {
            return Source::ServiceFabric;
        }
        return Source::AppService;
    }
    if env.has(MSI_ENDPOINT) {
        return if env.has(MSI_SECRET) {
            Source::AzureMl
        } else {
            Source::CloudShell
        };
    }
    if (env.has(IDENTITY_ENDPOINT) && env.has(IMDS_ENDPOINT)) || env.arc_agent_installed() {
        return Source::AzureArc;
    }
    Source::Imds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_vars(pairs.iter().map(|(k, v)| (*k, *v))).arc_agent_path(None)
    }

    #[test]
    fn detection_follows_msal_order() {
        let e = "http://127.0.0.1:1/token";
        assert_eq!(detect_source(&env(&[])), Source::Imds);
        assert_eq!(
            detect_source(&env(&[("IDENTITY_ENDPOINT", e), ("IDENTITY_HEADER", "h")])),
            Source::AppService
        );
        assert_eq!(
            detect_source(&env(&[
                ("IDENTITY_ENDPOINT", e),
                ("IDENTITY_HEADER", "h"),
                ("IDENTITY_SERVER_THUMBPRINT", "t")
            ])),
            Source::ServiceFabric
        );
        assert_eq!(
            detect_source(&env(&[("MSI_ENDPOINT", e)])),
            Source::CloudShell
        );
        assert_eq!(
            detect_source(&env(&[("MSI_ENDPOINT", e), ("MSI_SECRET", "s")])),
            Source::AzureMl
        );
        assert_eq!(
            detect_source(&env(&[("IDENTITY_ENDPOINT", e), ("IMDS_ENDPOINT", e)])),
            Source::AzureArc
        );
        // IDENTITY_ENDPOINT alone names nothing; empty values count as unset.
        assert_eq!(
            detect_source(&env(&[("IDENTITY_ENDPOINT", e)])),
            Source::Imds
        );
        assert_eq!(
            detect_source(&env(&[("IDENTITY_ENDPOINT", e), ("IDENTITY_HEADER", " ")])),
            Source::Imds
        );
        // App Service wins over Arc and Cloud Shell.
        assert_eq!(
            detect_source(&env(&[
                ("IDENTITY_ENDPOINT", e),
                ("IDENTITY_HEADER", "h"),
                ("IMDS_ENDPOINT", e),
                ("MSI_ENDPOINT", e)
            ])),
            Source::AppService
        );
    }

    #[test]
    fn an_installed_arc_agent_is_detected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let agent = dir.path().join("himds");
        let e = env(&[]).arc_agent_path(Some(agent.clone()));
        assert_eq!(detect_source(&e), Source::Imds);
        std::fs::write(&agent, b"").expect("write");
        assert_eq!(detect_source(&e), Source::AzureArc);
    }

    #[test]
    fn on_windows_the_agent_is_under_program_files_and_its_keys_under_program_data() {
        let agent = windows_arc_agent_path(Some(r"C:\Program Files".into())).expect("a path");
        let keys = windows_arc_key_directory(Some(r"C:\ProgramData".into())).expect("a path");
        let shown = |p: &Path| p.to_string_lossy().replace('/', "\\");
        assert_eq!(
            shown(&agent),
            r"C:\Program Files\AzureConnectedMachineAgent\himds.exe"
        );
        assert_eq!(
            shown(&keys),
            r"C:\ProgramData\AzureConnectedMachineAgent\Tokens"
        );
        assert_eq!(windows_arc_agent_path(None), None);
        assert_eq!(windows_arc_agent_path(Some("".into())), None);
        assert_eq!(windows_arc_key_directory(Some("".into())), None);
    }

    #[test]
    fn debug_shows_names_not_values() {
        let shown = format!("{:?}", env(&[("IDENTITY_HEADER", "s3cr3t")]));
        assert!(
            shown.contains("IDENTITY_HEADER") && !shown.contains("s3cr3t"),
            "{shown}"
        );
    }
}
