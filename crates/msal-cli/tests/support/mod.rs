//! Running `msal` as a process against an emulator started by the test.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use msal_emulator::{Admin, ApiConfig, AppConfig, EmulatorConfig, EmulatorHandle, defaults};

/// What one run of `msal` produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The run succeeded; returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "msal failed: {self:#?}");
        &self.stdout
    }

    /// stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
    }

    /// The run failed with `code` and exactly one line on stderr, which is returned.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "{self:#?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr: {self:#?}");
        assert!(lines[0].starts_with("msal: "), "{self:#?}");
        for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "src/"] {
            assert!(!self.stderr.contains(bad), "{bad} on stderr: {self:#?}");
        }
        lines[0]
    }
}

/// An emulator for one test, and a directory for its files.
pub struct Harness {
    pub emu: EmulatorHandle,
    pub dir: tempfile::TempDir,
}

/// The emulator's built-in directory, polled every second.
pub fn config() -> EmulatorConfig {
    let mut c = EmulatorConfig::default();
    c.device_code.interval_secs = 1;
    c
}

/// The AKS server application (Entra ID integration): the `aud` of kubectl tokens.
pub const AKS_APP_ID: &str = "6dae42f8-4368-4678-94ff-3960e28e3630";
/// Azure DevOps: the `aud` of git tokens.
pub const DEVOPS_APP_ID: &str = "499b84ac-1321-427f-aa17-267ca6975798";
/// Azure Resource Manager.
pub const ARM_APP_ID: &str = "797f4846-ba00-4fd7-ba43-dac1f8f63013";
/// The Azure CLI's public client (msal's default client id).
pub const AZURE_CLI_APP_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

/// The built-in directory plus what the tools ask for: the AKS server
/// application, Azure DevOps and Azure Resource Manager as APIs, the Azure
/// CLI's public client, and the CLI app pre-consented to them.
pub fn tools_config() -> EmulatorConfig {
    let mut c = config();
    let mut aks = ApiConfig::new(AKS_APP_ID, "Azure Kubernetes Service AAD Server");
    aks.scopes = vec!["user.read".into()];
    let mut devops = ApiConfig::new(DEVOPS_APP_ID, "Azure DevOps");
    devops.scopes = vec!["user_impersonation".into()];
    let mut arm = ApiConfig::new(ARM_APP_ID, "Windows Azure Service Management API");
    arm.identifier_uris = vec![
        "https://management.core.windows.net/".into(),
        "https://management.azure.com/".into(),
    ];
    arm.scopes = vec!["user_impersonation".into()];
    c.apis.extend([aks, devops, arm]);
    let grants = [
        (AKS_APP_ID, "user.read"),
        (DEVOPS_APP_ID, "user_impersonation"),
        ("https://management.core.windows.net/", "user_impersonation"),
        (defaults::GRAPH_URI, "User.Read"),
    ];
    let mut az = AppConfig::public(AZURE_CLI_APP_ID, "Microsoft Azure CLI (emulated)");
    az.redirect_uris = vec!["http://localhost".into()];
    for app in c
        .apps
        .iter_mut()
        .filter(|a| a.client_id == defaults::CLI_APP_ID)
    {
        for (api, scope) in grants {
            app.delegated_permissions
                .entry(api.into())
                .or_default()
                .push(scope.into());
        }
    }
    for (api, scope) in grants {
        az.delegated_permissions
            .entry(api.into())
            .or_default()
            .push(scope.into());
    }
    c.apps.push(az);
    c
}

/// Checks access tokens as a resource server would: RS256 signature with a
/// key of the emulator's JWKS, audience, expiry.
#[derive(Clone)]
pub struct TokenCheck {
    keys: Vec<jsonwebtoken::DecodingKey>,
    validation: jsonwebtoken::Validation,
}

impl TokenCheck {
    /// Fetches the emulator's signing keys; tokens must be for `audience`.
    pub async fn new(emu: &EmulatorHandle, audience: &str) -> Self {
        let url = format!("{}/discovery/v2.0/keys", emu.authority(defaults::TENANT_ID));
        let body = reqwest::get(&url)
            .await
            .expect("the JWKS")
            .bytes()
            .await
            .expect("the JWKS body");
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(&body).expect("JWKS JSON");
        let keys: Vec<_> = set
            .keys
            .iter()
            .map(|k| jsonwebtoken::DecodingKey::from_jwk(k).expect("an RSA key"))
            .collect();
        assert!(!keys.is_empty(), "the emulator publishes a key");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        Self { keys, validation }
    }

    /// Whether `token` is signed by the emulator, for the audience, unexpired.
    pub fn accepts(&self, token: &str) -> bool {
        self.keys
            .iter()
            .any(|k| jsonwebtoken::decode::<serde_json::Value>(token, k, &self.validation).is_ok())
    }
}

/// The claims of a JWT, unverified.
pub fn claims(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// `msal` with an environment that holds nothing of the developer's:
/// no MSAL_*, proxy or certificate variables, HOME and the data directory
/// inside `home`.
pub fn msal_command(home: &Path) -> Command {
    let c = Command::cargo_bin("msal").expect("the msal binary");
    clean(c, home)
}

/// The path of the `msal` binary under test.
pub fn msal_path() -> PathBuf {
    PathBuf::from(msal_command(Path::new("/")).get_program())
}

/// `program` (kubectl, git) with the same clean environment as
/// [`msal_command`]: the `msal` it runs sees only what the test sets.
pub fn tool_command(program: &str, home: &Path) -> Command {
    clean(Command::new(program), home)
}

fn clean(mut c: Command, home: &Path) -> Command {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        let upper = k.to_ascii_uppercase();
        if upper.starts_with("MSAL_")
            || upper.ends_with("_PROXY")
            || upper.starts_with("SSL_CERT")
            || upper == "BROWSER"
            || upper == "RUST_LOG"
            || upper.starts_with("AZURE_")
            || upper.starts_with("IDENTITY_")
            || upper.starts_with("MSI_")
            || upper == "IMDS_ENDPOINT"
            || upper.starts_with("KUBE")
            || upper.starts_with("GIT_")
        {
            c.env_remove(&k);
        }
    }
    c.env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("LOCALAPPDATA", home.join("data"))
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null());
    c
}

impl Harness {
    pub async fn start() -> Self {
        Self::with(config()).await
    }

    pub async fn with(config: EmulatorConfig) -> Self {
        let emu = msal_emulator::Emulator::start(config)
            .await
            .expect("emulator");
        Self {
            emu,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn admin(&self) -> Admin {
        self.emu.admin()
    }

    /// The plain-text cache file the commands share.
    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("cache.json")
    }

    /// `msal` pointed at the emulator, the CLI app and the plain cache file.
    pub fn msal(&self) -> Command {
        let mut c = msal_command(self.dir.path());
        c.arg("--authority")
            .arg(self.emu.authority("organizations"))
            .arg("--client-id")
            .arg(defaults::CLI_APP_ID)
            .arg("--cache")
            .arg(self.cache())
            .arg("--plaintext");
        c
    }

    /// `msal app-token <args>` as the emulator's daemon app, on the same
    /// plain cache file, its secret in `DAEMON_SECRET_VAR`.
    pub fn daemon_app_token(&self, args: &[&str]) -> Command {
        let mut c = msal_command(self.dir.path());
        c.arg("--authority")
            .arg(self.emu.authority(defaults::TENANT_ID))
            .args([
                "--client-id",
                defaults::DAEMON_APP_ID,
                "--plaintext",
                "--cache",
            ])
            .arg(self.cache())
            .env("DAEMON_SECRET_VAR", defaults::DAEMON_SECRET)
            .arg("app-token")
            .args(args);
        c
    }

    /// Runs `msal <args>` to the end.
    pub async fn run(&self, args: &[&str]) -> Run {
        let mut c = self.msal();
        c.args(args);
        run(c).await
    }

    /// `msal login --device-code <extra>`, with `user` approving the code
    /// once the CLI has shown the message.
    pub async fn login(&self, user: &str, extra: &[&str]) -> Run {
        let mut c = self.msal();
        c.args(["login", "--device-code"]).args(extra);
        run_device_code(c, self.admin(), user).await
    }
}

/// Runs `cmd` to the end (off the runtime's threads, so in-process servers
/// keep serving).
pub async fn run(mut cmd: Command) -> Run {
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run msal");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs a device-code sign-in: when the message appears on stderr, `user`
/// approves the latest code through the emulator's admin API.
pub async fn run_device_code(mut cmd: Command, admin: Admin, user: &str) -> Run {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn msal");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut tx = Some(tx);
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains("enter the code")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    // The message (or the end of stderr, when the command failed early).
    let shown = tokio::time::timeout(Duration::from_secs(60), rx).await;
    if matches!(shown, Ok(Ok(()))) {
        admin
            .approve_latest_device_code(user)
            .expect("approve the device code");
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait for msal");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: reader.join().expect("stderr reader"),
    }
}

/// Every `"secret"` value in a plain cache file.
pub fn secrets_in(cache: &Path) -> Vec<String> {
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cache).expect("read cache")).expect("cache JSON");
    let mut out = Vec::new();
    for section in doc.as_object().expect("object").values() {
        if let Some(entries) = section.as_object() {
            for e in entries.values() {
                if let Some(s) = e.get("secret").and_then(|s| s.as_str()) {
                    out.push(s.to_owned());
                }
            }
        }
    }
    out
}
