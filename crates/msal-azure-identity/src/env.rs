//! The variables the credentials read, and small helpers over
//! [`Environment`] (the process environment, or a map in tests).

use std::path::PathBuf;

use msal::managed_identity::Environment;

pub(crate) const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
pub(crate) const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
pub(crate) const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
pub(crate) const AZURE_CLIENT_CERTIFICATE_PATH: &str = "AZURE_CLIENT_CERTIFICATE_PATH";
pub(crate) const AZURE_CLIENT_CERTIFICATE_PASSWORD: &str = "AZURE_CLIENT_CERTIFICATE_PASSWORD";
pub(crate) const AZURE_CLIENT_SEND_CERTIFICATE_CHAIN: &str = "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN";
pub(crate) const AZURE_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";
pub(crate) const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
pub(crate) const AZURE_USERNAME: &str = "AZURE_USERNAME";
pub(crate) const AZURE_CONFIG_DIR: &str = "AZURE_CONFIG_DIR";
pub(crate) const AZURE_POD_IDENTITY_AUTHORITY_HOST: &str = "AZURE_POD_IDENTITY_AUTHORITY_HOST";
pub(crate) const MSAL_AUTHORITY: &str = "MSAL_AUTHORITY";
pub(crate) const MSAL_OIDC: &str = "MSAL_OIDC";
pub(crate) const MSAL_CLIENT_ID: &str = "MSAL_CLIENT_ID";
pub(crate) const MSAL_CACHE: &str = "MSAL_CACHE";
pub(crate) const MSAL_PLAINTEXT: &str = "MSAL_PLAINTEXT";
pub(crate) const MSAL_CA_FILE: &str = "MSAL_CA_FILE";
pub(crate) const MSAL_PROXY: &str = "MSAL_PROXY";
pub(crate) const HOME: &str = "HOME";

/// Entra's public cloud.
pub(crate) const PUBLIC_CLOUD_HOST: &str = "https://login.microsoftonline.com";

/// `AZURE_AUTHORITY_HOST`, without a trailing `/`.
pub(crate) fn authority_host(env: &Environment) -> Option<String> {
    env.var(AZURE_AUTHORITY_HOST)
        .map(|h| h.trim().trim_end_matches('/').to_owned())
}

/// A yes/no variable read as the `msal` command line reads it (clap's
/// "boolish" values): `1`, `true`, `yes`, `y`, `on`, `t` and `0`, `false`,
/// `no`, `n`, `off`, `f`, in any case.
pub(crate) fn boolish(env: &Environment, name: &str) -> Result<bool, String> {
    let Some(value) = env.var(name) else {
        return Ok(false);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "y" | "on" | "t" => Ok(true),
        "0" | "false" | "no" | "n" | "off" | "f" => Ok(false),
        _ => Err(format!(
            "{name}={value:?} is neither yes (1, true, yes, on) nor no (0, false, no, off)"
        )),
    }
}

/// The user's home directory: `HOME` from `env`, else the OS's idea of it.
pub(crate) fn home_dir(env: &Environment) -> Option<PathBuf> {
    env.var(HOME).map(PathBuf::from).or_else(dirs::home_dir)
}

/// `authority` with its scheme and host replaced by `host`
/// (`https://login.microsoftonline.com/organizations` →
/// `<host>/organizations`).
pub(crate) fn move_host(authority: &str, host: &str) -> String {
    let rest = authority
        .split_once("://")
        .map_or(authority, |(_, after)| after);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    format!("{}{path}", host.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boolish_reads_like_the_cli() {
        let env = Environment::from_vars([("A", "Yes"), ("B", "off"), ("C", "maybe")]);
        assert_eq!(boolish(&env, "A"), Ok(true));
        assert_eq!(boolish(&env, "B"), Ok(false));
        assert_eq!(boolish(&env, "UNSET"), Ok(false));
        assert!(boolish(&env, "C").unwrap_err().contains("C=\"maybe\""));
    }

    #[test]
    fn the_host_moves_and_the_tenant_stays() {
        assert_eq!(
            move_host(
                "https://login.microsoftonline.com/organizations",
                "https://login.microsoftonline.us/"
            ),
            "https://login.microsoftonline.us/organizations"
        );
        assert_eq!(
            move_host("https://login.microsoftonline.com", "http://127.0.0.1:9"),
            "http://127.0.0.1:9"
        );
    }
}
