//! `--azure-cli`: the Azure CLI's own token cache, and its default account.
//!
//! The Azure CLI (MSAL Python underneath) keeps its tokens in
//! `msal_token_cache.json` in its configuration directory (`$AZURE_CONFIG_DIR`,
//! else `~/.azure`), plain JSON on Linux and macOS, under msal-extensions'
//! `<file>.lockfile` protocol, which `msal-cache-file` speaks. Which account
//! and tenant `az` uses is in `azureProfile.json` next to it (written with a
//! UTF-8 byte order mark): the subscription marked `isDefault`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::{DEFAULT_AUTHORITY, GlobalOpts};
use crate::error::{CliError, CliResult};

/// The scope `az account get-access-token` asks for by default: Azure
/// Resource Manager's, as the Azure CLI spells it (resource + `/.default`).
pub(crate) const ARM_SCOPE: &str = "https://management.core.windows.net//.default";

/// The Azure CLI's token cache file name.
pub(crate) const CACHE_FILE: &str = "msal_token_cache.json";
/// The Azure CLI's profile file name.
pub(crate) const PROFILE_FILE: &str = "azureProfile.json";

/// What the Azure CLI's default subscription says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AzureDefaults {
    /// The signed-in user (`user.name`) when the account is a user's.
    pub(crate) user: Option<String>,
    /// `user.type` (`user`, `servicePrincipal`), as written.
    pub(crate) user_type: String,
    /// The subscription's tenant.
    pub(crate) tenant: Option<String>,
    /// The subscription id.
    pub(crate) subscription: Option<String>,
    /// The sign-in host of the subscription's cloud (`environmentName`).
    pub(crate) login_host: &'static str,
}

impl AzureDefaults {
    /// The account to use when `--account` is not given, or why none.
    ///
    /// # Errors
    /// The default account is not a user (a service principal or a managed
    /// identity), whose tokens `msal token` cannot get.
    pub(crate) fn user(&self) -> CliResult<Option<&str>> {
        match self.user.as_deref() {
            Some(u) => Ok(Some(u)),
            None if self.user_type.is_empty() => Ok(None),
            None => Err(CliError::other(format!(
                "the Azure CLI's default account is a {} (in {PROFILE_FILE}), not a user: \
                 use `msal app-token` for it, or pass --account",
                self.user_type
            ))),
        }
    }
}

/// What `az account get-access-token` prints for a token (knack's JSON
/// output: keys sorted, two-space indent): `accessToken`, `expiresOn` (local
/// time, `YYYY-MM-DD HH:MM:SS.ffffff`), `expires_on` (Unix seconds),
/// `subscription` (only when known), `tenant`, `tokenType`.
pub(crate) fn az_token_json(
    access_token: &str,
    token_type: &str,
    expires_on: i64,
    tenant: Option<&str>,
    subscription: Option<&str>,
) -> serde_json::Value {
    let mut v = serde_json::json!({
        "accessToken": access_token,
        "expiresOn": local_time(expires_on),
        "expires_on": expires_on,
        "tenant": tenant,
        // The Azure CLI always says Bearer (PoP tokens are not printed by it).
        "tokenType": if token_type.is_empty() { "Bearer" } else { token_type },
    });
    if let Some(s) = subscription {
        v["subscription"] = serde_json::Value::String(s.to_owned());
    }
    v
}

/// `unix` in the local time zone as Python's
/// `datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S.%f")` writes it.
pub(crate) fn local_time(unix: i64) -> String {
    use chrono::TimeZone as _;
    match chrono::Local.timestamp_opt(unix, 0).single() {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        // Out of chrono's range (not an expiry a server sends): UTC from our own arithmetic.
        None => {
            crate::output::rfc3339(unix)
                .trim_end_matches('Z')
                .replace('T', " ")
                + ".000000"
        }
    }
}

/// `$AZURE_CONFIG_DIR`, else `~/.azure`.
///
/// # Errors
/// Neither the variable nor a home directory is set.
pub(crate) fn config_dir() -> CliResult<PathBuf> {
    if let Some(dir) = std::env::var_os("AZURE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::home_dir().map(|h| h.join(".azure")).ok_or_else(|| {
        CliError::other("--azure-cli: cannot find the home directory; set AZURE_CONFIG_DIR")
    })
}

/// Points `g` at the Azure CLI's cache (plain JSON) and records its default
/// account; the tenant of the default subscription becomes the authority's
/// when `--authority` was left at its default.
///
/// # Errors
/// A profile that is there but not readable as the Azure CLI writes it.
pub(crate) fn apply(g: &mut GlobalOpts) -> CliResult {
    let dir = config_dir()?;
    g.cache = Some(dir.join(CACHE_FILE));
    g.plaintext = true;
    let defaults = read_profile(&dir.join(PROFILE_FILE))?.unwrap_or_default();
    if g.authority == DEFAULT_AUTHORITY
        && let Some(tenant) = &defaults.tenant
    {
        g.authority = format!("https://{}/{tenant}", defaults.login_host);
    }
    g.azure = Some(defaults);
    Ok(())
}

/// The default subscription in the profile at `path`; `None` when there is
/// no profile (`az login` was never run).
///
/// # Errors
/// The file cannot be read or is not the Azure CLI's profile.
pub(crate) fn read_profile(path: &Path) -> CliResult<Option<AzureDefaults>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CliError::other(format!(
                "cannot read the Azure CLI profile {}: {e}",
                path.display()
            )));
        }
    };
    parse_profile(&bytes).map(Some).map_err(|why| {
        CliError::other(format!(
            "the Azure CLI profile {} is not readable ({why}); run `az login` again or drop --azure-cli",
            path.display()
        ))
    })
}

#[derive(Deserialize)]
struct RawProfile {
    #[serde(default)]
    subscriptions: Vec<RawSubscription>,
}

#[derive(Deserialize)]
struct RawSubscription {
    id: Option<String>,
    #[serde(rename = "isDefault", default)]
    is_default: bool,
    #[serde(rename = "tenantId")]
    tenant_id: Option<String>,
    #[serde(rename = "environmentName")]
    environment_name: Option<String>,
    user: Option<RawUser>,
}

#[derive(Deserialize)]
struct RawUser {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Parses `azureProfile.json` (with or without its byte order mark).
pub(crate) fn parse_profile(bytes: &[u8]) -> Result<AzureDefaults, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(AzureDefaults::default());
    }
    let raw: RawProfile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let Some(sub) = raw.subscriptions.into_iter().find(|s| s.is_default) else {
        return Ok(AzureDefaults::default());
    };
    let (name, kind) = match sub.user {
        Some(u) => (u.name, u.kind.unwrap_or_default()),
        None => (None, String::new()),
    };
    let is_user = kind.eq_ignore_ascii_case("user");
    Ok(AzureDefaults {
        user: name.filter(|n| is_user && !n.is_empty()),
        user_type: kind,
        tenant: sub.tenant_id.filter(|t| !t.is_empty()),
        subscription: sub.id.filter(|s| !s.is_empty()),
        login_host: login_host(sub.environment_name.as_deref().unwrap_or("AzureCloud")),
    })
}

/// The sign-in host of an Azure CLI cloud name; the public cloud's for a
/// name it does not know (a custom cloud's endpoints are in its own config:
/// pass --authority).
fn login_host(environment: &str) -> &'static str {
    match environment {
        "AzureChinaCloud" => "login.chinacloudapi.cn",
        "AzureUSGovernment" => "login.microsoftonline.us",
        _ => "login.microsoftonline.com",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A profile as `az login` writes it: BOM, two subscriptions, the second the default.
    const PROFILE: &str = "\u{feff}{\"installationId\": \"9d4c1b0e-0000-11ee-8c99-0242ac120002\", \"subscriptions\": [\
{\"id\": \"11111111-0000-0000-0000-000000000001\", \"name\": \"Dev\", \"state\": \"Enabled\", \
\"user\": {\"name\": \"bob@contoso.com\", \"type\": \"user\"}, \"isDefault\": false, \
\"tenantId\": \"aaaaaaaa-0000-0000-0000-00000000000a\", \"environmentName\": \"AzureCloud\", \
\"homeTenantId\": \"aaaaaaaa-0000-0000-0000-00000000000a\", \"managedByTenants\": []}, \
{\"id\": \"22222222-0000-0000-0000-000000000002\", \"name\": \"Prod\", \"state\": \"Enabled\", \
\"user\": {\"name\": \"ada@contoso.com\", \"type\": \"user\"}, \"isDefault\": true, \
\"tenantId\": \"bbbbbbbb-0000-0000-0000-00000000000b\", \"environmentName\": \"AzureUSGovernment\", \
\"homeTenantId\": \"bbbbbbbb-0000-0000-0000-00000000000b\", \"managedByTenants\": []}]}";

    #[test]
    fn the_default_subscription_names_user_tenant_and_cloud() {
        let d = parse_profile(PROFILE.as_bytes()).unwrap();
        assert_eq!(d.user.as_deref(), Some("ada@contoso.com"));
        assert_eq!(
            d.tenant.as_deref(),
            Some("bbbbbbbb-0000-0000-0000-00000000000b")
        );
        assert_eq!(
            d.subscription.as_deref(),
            Some("22222222-0000-0000-0000-000000000002")
        );
        assert_eq!(d.login_host, "login.microsoftonline.us");
        assert_eq!(d.user().unwrap(), Some("ada@contoso.com"));
        // The same without the byte order mark.
        let plain = PROFILE.trim_start_matches('\u{feff}');
        assert_eq!(parse_profile(plain.as_bytes()).unwrap(), d);
    }

    #[test]
    fn a_service_principal_is_no_user_and_an_empty_profile_names_nobody() {
        let sp = r#"{"subscriptions":[{"id":"s","isDefault":true,"tenantId":"t",
            "environmentName":"AzureCloud","user":{"name":"0000-app","type":"servicePrincipal"}}]}"#;
        let d = parse_profile(sp.as_bytes()).unwrap();
        assert_eq!(d.user, None);
        assert!(d.user().unwrap_err().message.contains("servicePrincipal"));
        let empty = parse_profile(b"\xEF\xBB\xBF{\"subscriptions\": []}").unwrap();
        assert_eq!(empty, AzureDefaults::default());
        assert_eq!(empty.user().unwrap(), None);
        assert_eq!(
            parse_profile(b"\xEF\xBB\xBF").unwrap(),
            AzureDefaults::default()
        );
        assert!(parse_profile(b"{\"subscriptions\": 3}").is_err());
    }
}
