//! Running `msal` as a process against an emulator started by the test.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use msal_emulator::{Admin, EmulatorConfig, EmulatorHandle, defaults};

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

/// `msal` with an environment that holds nothing of the developer's:
/// no MSAL_*, proxy or certificate variables, HOME and the data directory
/// inside `home`.
pub fn msal_command(home: &Path) -> Command {
    let mut c = Command::cargo_bin("msal").expect("the msal binary");
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
            if line.contains("enter the code") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(());
                }
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
