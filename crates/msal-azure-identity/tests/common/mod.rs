//! What the tests share: an emulator whose directory also knows Key Vault
//! and the `msal` CLI's default client id, users signed in through the same
//! cache-file code path the CLI uses, assertions signed for the daemon app,
//! and the `msal` binary.
// The password grant is deprecated; this still exercises it.
#![allow(deprecated)]
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use msal::PublicClientApplication;
use msal::clock::ManualClock;
use msal::secret::Password;
use msal_cache_file::{Encryption, FileCache};
use msal_emulator::{ClientCertificate, EmulatorConfig, EmulatorHandle, defaults};

/// Key Vault's identifier URI and resource.
pub const VAULT: &str = "https://vault.azure.net";
/// The scope the Key Vault SDK asks for.
pub const VAULT_SCOPE: &str = "https://vault.azure.net/.default";
/// Key Vault's app id (the `aud` of v2 tokens for it).
pub const KEYVAULT_APP_ID: &str = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093";
/// The emulator's web API, as a `.default` scope.
pub const API_SCOPE: &str = "api://msal-emulator-web-api/.default";
/// The delegated scope the CLI app is pre-consented to.
pub const API_USER_SCOPE: &str = "api://msal-emulator-web-api/access_as_user";
/// Emulated access token lifetime.
pub const LIFETIME: u64 = 3599;

/// The built-in directory plus Key Vault (delegated `user_impersonation`,
/// an app role for the daemon) and a public app with the `msal` CLI's
/// default client id.
pub fn config() -> EmulatorConfig {
    let mut c = EmulatorConfig::default();
    c.device_code.interval_secs = 1;
    let mut kv = c.apis[1].clone();
    kv.app_id = KEYVAULT_APP_ID.into();
    kv.name = "Azure Key Vault".into();
    kv.identifier_uris = vec![VAULT.into()];
    kv.scopes = vec!["user_impersonation".into()];
    kv.app_roles = vec!["Secrets.Read".into()];
    kv.default_resource = false;
    c.apis.push(kv);
    for app in &mut c.apps {
        if app.client_id == defaults::CLI_APP_ID {
            app.delegated_permissions
                .insert(VAULT.into(), vec!["user_impersonation".into()]);
        }
        if app.client_id == defaults::DAEMON_APP_ID {
            app.application_permissions
                .insert(VAULT.into(), vec!["Secrets.Read".into()]);
        }
    }
    let cli = c
        .apps
        .iter()
        .find(|a| a.client_id == defaults::CLI_APP_ID)
        .cloned()
        .expect("the CLI app");
    let mut default_cli = cli;
    default_cli.client_id = msal_azure_identity::MSAL_CLI_CLIENT_ID.into();
    default_cli.name = "Azure CLI (emulated)".into();
    default_cli.family_id = None;
    c.apps.push(default_cli);
    c
}

/// An emulator with [`config`].
pub async fn emulator() -> EmulatorHandle {
    msal_emulator::Emulator::start(config())
        .await
        .expect("emulator")
}

/// A manual clock standing at the real time (the emulator's tokens are
/// valid from now).
pub fn clock_now() -> Arc<ManualClock> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    Arc::new(ManualClock::at_unix(now))
}

/// The cache file as the `msal` CLI opens it with `--plaintext`.
pub fn plain_file(path: &Path) -> FileCache {
    FileCache::builder(path)
        .encryption(Encryption::Plaintext)
        .build()
        .expect("file cache")
}

/// Signs `user` in with `client_id` through `authority` into the plain
/// cache file at `path` (the password grant; the CLI's device-code sign-in
/// writes the same entries), asking for `scopes`.
pub async fn sign_in(
    emu: &EmulatorHandle,
    path: &Path,
    client_id: &str,
    authority: &str,
    user: &str,
    password: &str,
    scopes: &[&str],
) {
    let _ = emu;
    let app = PublicClientApplication::builder(client_id)
        .authority(authority)
        .cache_access(Arc::new(plain_file(path)))
        .build()
        .expect("app");
    app.acquire_token_by_username_password(scopes, user, Password::new(password))
        .await
        .expect("sign-in");
}

/// Ada signed in to the CLI app, organizations authority, with the web API
/// and Key Vault scopes consented.
pub async fn sign_in_ada(emu: &EmulatorHandle, path: &Path) {
    sign_in(
        emu,
        path,
        defaults::CLI_APP_ID,
        &emu.authority("organizations"),
        defaults::USER,
        defaults::USER_PASSWORD,
        &[API_USER_SCOPE],
    )
    .await;
}

/// A certificate registered for the daemon app.
pub fn daemon_certificate(emu: &EmulatorHandle) -> ClientCertificate {
    let cert = ClientCertificate::generate("msal-azure-identity test").expect("certificate");
    emu.admin()
        .register_certificate(defaults::DAEMON_APP_ID, &cert.cert_pem)
        .expect("register");
    cert
}

/// A client assertion for the daemon app, signed with `cert`, for the token
/// endpoint of `tenant`: what a platform writes to a federated token file.
pub fn daemon_assertion(emu: &EmulatorHandle, cert: &ClientCertificate, tenant: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t_s256 = Some(cert.x5t_s256.clone());
    let claims = serde_json::json!({
        "aud": format!("{}/oauth2/v2.0/token", emu.authority(tenant)),
        "iss": defaults::DAEMON_APP_ID,
        "sub": defaults::DAEMON_APP_ID,
        "jti": format!("jti-{now}-{}", std::process::id()),
        "nbf": now - 60,
        "iat": now - 60,
        "exp": now + 3600,
    });
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(cert.key_pem.as_bytes()).expect("key");
    jsonwebtoken::encode(&header, &claims, &key).expect("sign")
}

/// The claims of a JWT, unverified (the tests that verify do so with the
/// emulator's keys).
pub fn claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// A built binary of this workspace (`msal`, or `examples/token`), next to
/// this test's executable in the target directory.
pub fn workspace_binary(relative: &str, how_to_build: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/<test> → target/<profile>
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile directory");
    let path = profile.join(format!("{relative}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is not built; run `{how_to_build}` first (scripts/test.sh builds every target before running the tests)",
        path.display()
    );
    path
}

/// An environment for a child process holding nothing of the developer's
/// Azure or msal settings.
pub fn clean_command(program: &Path, home: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(program);
    for (k, _) in std::env::vars_os() {
        let upper = k.to_string_lossy().to_ascii_uppercase();
        if upper.starts_with("MSAL_")
            || upper.starts_with("AZURE_")
            || upper.starts_with("IDENTITY_")
            || upper.starts_with("MSI_")
            || upper == "IMDS_ENDPOINT"
            || upper.ends_with("_PROXY")
            || upper == "RUST_LOG"
        {
            c.env_remove(&k);
        }
    }
    c.env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("LOCALAPPDATA", home.join("data"))
        .stdin(std::process::Stdio::null());
    c
}

/// Runs `cmd` to the end off the runtime's threads, so servers in this
/// process keep serving it.
pub async fn output(mut cmd: std::process::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run the child process")
}
