//! The emulator's configuration: tenants, users, apps, APIs, token lifetimes
//! and server options. Read from TOML or JSON (`EmulatorConfig::from_file`),
//! or built in code. `EmulatorConfig::default()` is the built-in demo
//! directory described in `defaults.rs`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{EmulatorError, Result};

/// Longest lifetime (or interval) a configuration may set: 10 years. Longer
/// values test nothing a 10-year one does not, and keep every expiry the
/// emulator computes far from integer limits.
pub const MAX_LIFETIME_SECS: u64 = 10 * 365 * 24 * 3600;

/// Everything the emulator serves. Unknown fields in a file are rejected so
/// a typo does not silently fall back to a default.
#[derive(Clone, Debug, Serialize, Deserialize)]
// Defaults per field, not `Default::default()` (the demo directory): a file
// starts empty, and `include_defaults` must not list the demo twice.
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct EmulatorConfig {
    /// When true, the built-in demo tenant, users, apps and APIs are added
    /// to the ones listed here. A file starts empty unless it sets this.
    #[serde(default)]
    pub include_defaults: bool,
    /// Directory tenants.
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    /// Users who can sign in.
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// Client applications.
    #[serde(default)]
    pub apps: Vec<AppConfig>,
    /// Resources (web APIs) with delegated scopes and app roles.
    #[serde(default)]
    pub apis: Vec<ApiConfig>,
    /// Token and code lifetimes.
    #[serde(default)]
    pub tokens: TokenSettings,
    /// Device code flow settings.
    #[serde(default)]
    pub device_code: DeviceCodeSettings,
    /// Listening socket, host names and TLS.
    #[serde(default)]
    pub server: ServerConfig,
}

impl Default for EmulatorConfig {
    /// The built-in demo directory (see [`crate::defaults`]).
    fn default() -> Self {
        crate::defaults::default_config()
    }
}

impl EmulatorConfig {
    /// A configuration with no tenants, users, apps or APIs and default
    /// settings, to fill in code.
    pub fn empty() -> Self {
        Self {
            include_defaults: false,
            tenants: Vec::new(),
            users: Vec::new(),
            apps: Vec::new(),
            apis: Vec::new(),
            tokens: TokenSettings::default(),
            device_code: DeviceCodeSettings::default(),
            server: ServerConfig::default(),
        }
    }

    /// Reads a configuration file: JSON when the name ends in `.json`, TOML
    /// otherwise. `include_defaults = true` merges the built-in directory.
    ///
    /// # Errors
    /// [`EmulatorError::ConfigRead`], [`EmulatorError::ConfigParse`], or
    /// [`EmulatorError::InvalidConfig`] (prefixed with the path) from
    /// [`EmulatorConfig::validate`].
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| EmulatorError::ConfigRead {
            path: path.to_path_buf(),
            source,
        })?;
        let is_json = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let parsed = if is_json {
            Self::from_json_str(&text)
        } else {
            Self::from_toml_str(&text)
        };
        parsed.map_err(|e| match e {
            EmulatorError::ConfigParse { message, .. } => EmulatorError::ConfigParse {
                path: path.to_path_buf(),
                message,
            },
            EmulatorError::InvalidConfig(message) => {
                EmulatorError::InvalidConfig(format!("{}: {message}", path.display()))
            }
            other => other,
        })
    }

    /// Checks the settings no directory lookup covers: token, code and
    /// device-code lifetimes must lie in 1 s ..= [`MAX_LIFETIME_SECS`]
    /// (10 years), `ext_expires_extra_secs` and the device-code interval in
    /// 0 ..= 10 years. Done by the file readers and by
    /// [`crate::EmulatorState::new`].
    ///
    /// # Errors
    /// [`EmulatorError::InvalidConfig`] naming the first field out of range.
    pub fn validate(&self) -> Result<()> {
        let t = &self.tokens;
        let d = &self.device_code;
        let checks: [(&str, u64, u64); 7] = [
            (
                "tokens.access_token_lifetime_secs",
                t.access_token_lifetime_secs,
                1,
            ),
            ("tokens.id_token_lifetime_secs", t.id_token_lifetime_secs, 1),
            (
                "tokens.refresh_token_lifetime_secs",
                t.refresh_token_lifetime_secs,
                1,
            ),
            (
                "tokens.auth_code_lifetime_secs",
                t.auth_code_lifetime_secs,
                1,
            ),
            ("tokens.ext_expires_extra_secs", t.ext_expires_extra_secs, 0),
            ("device_code.lifetime_secs", d.lifetime_secs, 1),
            ("device_code.interval_secs", d.interval_secs, 0),
        ];
        for (field, value, min) in checks {
            if !(min..=MAX_LIFETIME_SECS).contains(&value) {
                return Err(EmulatorError::InvalidConfig(format!(
                    "{field} = {value} is out of range: it must be between {min} and {MAX_LIFETIME_SECS} seconds (10 years)"
                )));
            }
        }
        Ok(())
    }

    /// Parses TOML text (see [`EmulatorConfig::from_file`]).
    ///
    /// # Errors
    /// [`EmulatorError::ConfigParse`] with an empty path;
    /// [`EmulatorError::InvalidConfig`] from [`EmulatorConfig::validate`].
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let config: Self = toml::from_str(text).map_err(|e| EmulatorError::ConfigParse {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        let config = config.with_defaults_if_asked();
        config.validate()?;
        Ok(config)
    }

    /// Parses JSON text (see [`EmulatorConfig::from_file`]).
    ///
    /// # Errors
    /// [`EmulatorError::ConfigParse`] with an empty path;
    /// [`EmulatorError::InvalidConfig`] from [`EmulatorConfig::validate`].
    pub fn from_json_str(text: &str) -> Result<Self> {
        let config: Self = serde_json::from_str(text).map_err(|e| EmulatorError::ConfigParse {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        let config = config.with_defaults_if_asked();
        config.validate()?;
        Ok(config)
    }

    fn with_defaults_if_asked(mut self) -> Self {
        if self.include_defaults {
            let d = crate::defaults::default_config();
            self.tenants.extend(d.tenants);
            self.users.extend(d.users);
            self.apps.extend(d.apps);
            self.apis.extend(d.apis);
            self.include_defaults = false;
        }
        self
    }

    /// HTTPS (see [`with_tls`](Self::with_tls)) plus a mutual-TLS token
    /// endpoint for certificate-bound (mTLS PoP) tokens.
    #[must_use]
    pub fn with_mtls(self) -> Self {
        let mut c = self.with_tls(None);
        if let Some(t) = c.server.tls.as_mut() {
            t.mtls = true;
        }
        c
    }

    /// Serves HTTPS with a certificate from a freshly generated CA whose PEM
    /// is written to `cert_out` (when given). Builder-style helper.
    #[must_use]
    pub fn with_tls(mut self, cert_out: Option<PathBuf>) -> Self {
        let mut tls = self.server.tls.take().unwrap_or_default();
        tls.enabled = true;
        if cert_out.is_some() {
            tls.cert_out = cert_out;
        }
        self.server.tls = Some(tls);
        self
    }
}

/// A directory tenant.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TenantConfig {
    /// Tenant id (a GUID; compared case-insensitively).
    pub id: String,
    /// Domain names that also name this tenant in an authority URL
    /// (`contoso.onmicrosoft.com`).
    #[serde(default)]
    pub domains: Vec<String>,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// True for the personal-accounts tenant reached by `/consumers`.
    #[serde(default)]
    pub consumers: bool,
}

impl TenantConfig {
    /// A tenant with an id and one domain.
    pub fn new(id: impl Into<String>, domain: impl Into<String>) -> Self {
        let domain = domain.into();
        Self {
            id: id.into(),
            name: domain.clone(),
            domains: vec![domain],
            consumers: false,
        }
    }
}

/// A user who can sign in with a password.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UserConfig {
    /// Sign-in name (`preferred_username`), compared case-insensitively.
    pub username: String,
    /// Password for the sign-in page and the password grant.
    pub password: String,
    /// Display name (`name` claim).
    #[serde(default)]
    pub display_name: String,
    /// Home tenant: its id or one of its domains.
    pub tenant: String,
    /// Object id in the home tenant; derived from the username when absent.
    #[serde(default)]
    pub object_id: Option<String>,
    /// Other tenants the user is a guest of (ids or domains).
    #[serde(default)]
    pub guest_tenants: Vec<String>,
    /// E-mail address (`email` claim when the `email` scope is asked).
    #[serde(default)]
    pub email: Option<String>,
}

impl UserConfig {
    /// A user with a password in a tenant (id or domain).
    pub fn new(
        username: impl Into<String>,
        password: impl Into<String>,
        display_name: impl Into<String>,
        tenant: impl Into<String>,
    ) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            display_name: display_name.into(),
            tenant: tenant.into(),
            object_id: None,
            guest_tenants: Vec::new(),
            email: None,
        }
    }
}

impl fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            username,
            password: _,
            display_name,
            tenant,
            object_id,
            guest_tenants,
            email,
        } = self;
        f.debug_struct("UserConfig")
            .field("username", username)
            .field("password", &"<redacted>")
            .field("display_name", display_name)
            .field("tenant", tenant)
            .field("object_id", object_id)
            .field("guest_tenants", guest_tenants)
            .field("email", email)
            .finish()
    }
}

/// Public (no credential) or confidential (secret or certificate).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AppKind {
    /// A native / CLI / desktop app: PKCE required, no credential.
    Public,
    /// A web app, daemon or web API with a secret or certificate.
    Confidential,
}

/// A client application registration.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AppConfig {
    /// Application (client) id.
    pub client_id: String,
    /// Display name shown on the consent page.
    #[serde(default)]
    pub name: String,
    /// Public or confidential.
    pub kind: AppKind,
    /// Client secrets (confidential apps).
    #[serde(default)]
    pub secrets: Vec<String>,
    /// PEM certificates (RSA) whose keys may sign client assertions.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Registered redirect URIs. For `http://localhost` and
    /// `http://127.0.0.1` the port is ignored, as Entra does for loopback.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Family id (`"1"` for the Microsoft family): the app's refresh tokens
    /// are family refresh tokens and the response carries `foci`.
    #[serde(default)]
    pub family_id: Option<String>,
    /// Device code and password grants without a credential. Defaults to
    /// true for public apps and false for confidential ones.
    #[serde(default)]
    pub allow_public_client_flows: Option<bool>,
    /// Delegated permissions an administrator consented to, per resource
    /// (identifier URI or app id) → scope names. Other scopes need the
    /// user's consent on the consent page.
    #[serde(default)]
    pub delegated_permissions: std::collections::BTreeMap<String, Vec<String>>,
    /// Application permissions (app roles) granted, per resource → role
    /// names; they become the `roles` claim of client-credentials tokens.
    #[serde(default)]
    pub application_permissions: std::collections::BTreeMap<String, Vec<String>>,
}

impl AppConfig {
    /// A public client with redirect URIs.
    pub fn public(client_id: impl Into<String>, name: impl Into<String>) -> Self {
        Self::new(client_id, name, AppKind::Public)
    }

    /// A confidential client with one secret.
    pub fn confidential(
        client_id: impl Into<String>,
        name: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        let mut app = Self::new(client_id, name, AppKind::Confidential);
        app.secrets.push(secret.into());
        app
    }

    fn new(client_id: impl Into<String>, name: impl Into<String>, kind: AppKind) -> Self {
        Self {
            client_id: client_id.into(),
            name: name.into(),
            kind,
            secrets: Vec::new(),
            certificates: Vec::new(),
            redirect_uris: Vec::new(),
            family_id: None,
            allow_public_client_flows: None,
            delegated_permissions: Default::default(),
            application_permissions: Default::default(),
        }
    }
}

impl fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            client_id,
            name,
            kind,
            secrets,
            certificates,
            redirect_uris,
            family_id,
            allow_public_client_flows,
            delegated_permissions,
            application_permissions,
        } = self;
        f.debug_struct("AppConfig")
            .field("client_id", client_id)
            .field("name", name)
            .field("kind", kind)
            .field("secrets", &format_args!("<{} redacted>", secrets.len()))
            .field("certificates", &certificates.len())
            .field("redirect_uris", redirect_uris)
            .field("family_id", family_id)
            .field("allow_public_client_flows", allow_public_client_flows)
            .field("delegated_permissions", delegated_permissions)
            .field("application_permissions", application_permissions)
            .finish()
    }
}

/// A resource (web API) tokens can be issued for.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ApiConfig {
    /// The API's application id: the `aud` of its v2 access tokens.
    pub app_id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Identifier URIs (`api://…`, `https://graph.microsoft.com`).
    #[serde(default)]
    pub identifier_uris: Vec<String>,
    /// Delegated scopes (`access_as_user`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// App roles (`Data.Read.All`).
    #[serde(default)]
    pub app_roles: Vec<String>,
    /// When true, unqualified scopes (`User.Read`) name this API, as they
    /// name Microsoft Graph in Entra.
    #[serde(default)]
    pub default_resource: bool,
}

impl ApiConfig {
    /// An API with an app id and a display name, and no identifier URI,
    /// scope or app role yet (fill those in).
    pub fn new(app_id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            app_id: app_id.into(),
            name: name.into(),
            identifier_uris: Vec::new(),
            scopes: Vec::new(),
            app_roles: Vec::new(),
            default_resource: false,
        }
    }
}

/// Token and code lifetimes, in seconds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct TokenSettings {
    /// Access token lifetime (`expires_in`). At 2 hours or more the response
    /// also carries `refresh_in` (half the lifetime), as Entra does for
    /// long-lived tokens.
    pub access_token_lifetime_secs: u64,
    /// Added to the access token lifetime to give `ext_expires_in`.
    pub ext_expires_extra_secs: u64,
    /// ID token lifetime.
    pub id_token_lifetime_secs: u64,
    /// Refresh token lifetime (inactivity window).
    pub refresh_token_lifetime_secs: u64,
    /// Authorization code lifetime.
    pub auth_code_lifetime_secs: u64,
    /// When true a refresh token works once: redeeming it invalidates it
    /// (Entra keeps old refresh tokens valid; turn this on to prove a client
    /// stores the rotated one).
    pub single_use_refresh_tokens: bool,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            access_token_lifetime_secs: 3599,
            ext_expires_extra_secs: 0,
            id_token_lifetime_secs: 3600,
            refresh_token_lifetime_secs: 90 * 24 * 3600,
            auth_code_lifetime_secs: 600,
            single_use_refresh_tokens: false,
        }
    }
}

/// Device code flow settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct DeviceCodeSettings {
    /// Lifetime of a device code (`expires_in`).
    pub lifetime_secs: u64,
    /// Polling interval announced (`interval`).
    pub interval_secs: u64,
    /// When true, polling again sooner than `interval_secs` (emulator clock)
    /// answers `slow_down`. Off by default so tests can poll freely.
    pub enforce_interval: bool,
}

impl Default for DeviceCodeSettings {
    fn default() -> Self {
        Self {
            lifetime_secs: 900,
            interval_secs: 5,
            enforce_interval: false,
        }
    }
}

/// Listening socket, host names and TLS.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Port; 0 or absent picks a free one.
    pub port: Option<u16>,
    /// Address to bind; `127.0.0.1` when absent.
    pub bind: Option<String>,
    /// Host (with port if any) used in the `iss` claim; the bound
    /// `127.0.0.1:<port>` when absent. Entra's issuer does not depend on
    /// which alias a client used, and neither does the emulator's.
    pub issuer_host: Option<String>,
    /// Extra host names this emulator answers for and lists as aliases in
    /// instance discovery (besides `127.0.0.1:<port>` and `localhost:<port>`).
    pub extra_hosts: Vec<String>,
    /// HTTPS settings; plain HTTP when absent or disabled.
    pub tls: Option<TlsSettings>,
}

/// HTTPS with a generated CA.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct TlsSettings {
    /// Serve HTTPS.
    pub enabled: bool,
    /// Where to write the generated CA certificate (PEM), for clients to
    /// trust (`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, `--ca-file`).
    pub cert_out: Option<PathBuf>,
    /// Extra DNS names for the server certificate besides `localhost`,
    /// `127.0.0.1` and `::1` (e.g. `login.microsoftonline.com` behind a
    /// TLS-inspecting test proxy).
    pub extra_names: Vec<String>,
    /// Also serve a mutual-TLS token endpoint (mTLS proof of possession) on
    /// a port of its own, named in the OpenID configuration's
    /// `mtls_endpoint_aliases`.
    pub mtls: bool,
}
