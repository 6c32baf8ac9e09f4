//! `msal quickstart`: the whole loop, without network, against msal-emulator
//! running inside this process.
//!
//! It is a demonstration and a smoke test at once: each step checks what it
//! shows (the silent call really made no request, the cache really is empty
//! at the end) and fails with a clear line if not. With `--output json` each
//! step is one JSON object on its own line (JSON Lines), for scripts that
//! check an installation.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use msal::DeviceCodeInfo;
use msal::http::{ProxyConfig, ReqwestHttpClient};
use msal::{AuthenticationResult, PublicClientApplication};
use msal_cache_file::{CacheKey, Encryption, FileCache};
use msal_emulator::{Admin, Emulator, EmulatorConfig, defaults};
use serde_json::{Map, Value, json};

use crate::cmd::cache::{Facts, read};
use crate::cmd::login::{device_code, signed_in_text};
use crate::cmd::logout::sign_out_url;
use crate::cmd::token::{summary, token_json};
use crate::context::Ctx;
use crate::error::{CliError, CliResult};
use crate::output::say;
use crate::output::{Out, account_json, account_line};

/// The scope the quick start asks for (the emulator's Graph look-alike).
const SCOPES: [&str; 1] = ["User.Read"];
/// How many steps there are.
const STEPS: u32 = 6;

/// Where the steps are reported: text for people, or one JSON object per
/// step for programs.
struct Report {
    json: bool,
}

impl Report {
    /// A line of text (nothing in JSON mode).
    fn line(&self, text: &str) {
        if !self.json {
            say!("{text}");
        }
    }

    /// The start of step `n`.
    fn start(&self, n: u32, title: &str) {
        self.line(&format!("\n[{n}/{STEPS}] {title}"));
    }

    /// The end of step `n`: in JSON mode, its line with `details`.
    fn done(&self, n: u32, title: &str, details: Value) {
        if !self.json {
            return;
        }
        let mut v = Map::new();
        v.insert("step".into(), json!(n));
        v.insert("of".into(), json!(STEPS));
        v.insert("title".into(), json!(title));
        if let Value::Object(d) = details {
            v.extend(d);
        }
        say!("{}", Value::Object(v));
    }
}

fn check(ok: bool, what: &str) -> CliResult {
    if ok {
        Ok(())
    } else {
        Err(CliError::other(format!("quickstart check failed: {what}")))
    }
}

/// Runs the six steps. Global options other than `--output` do not apply:
/// everything happens against the embedded emulator and a temporary cache.
pub(crate) async fn run(ctx: &Ctx, json_flag: bool) -> CliResult {
    let r = Report {
        json: Out::new(ctx.g.output, json_flag).json,
    };
    r.line("msal quickstart: sign in, get a token silently and sign out, against msal-emulator,");
    r.line(
        "a local stand-in for Microsoft Entra ID running inside this process. No network is used.",
    );

    let title = "Start the emulator and a token cache";
    r.start(1, title);
    let mut config = EmulatorConfig::default();
    // Entra asks clients to poll every 5 s; one second keeps the demo short.
    config.device_code.interval_secs = 1;
    let emu = Emulator::start(config)
        .await
        .map_err(|e| CliError::other(format!("cannot start the emulator: {e}")))?;
    let authority = emu.authority("organizations");
    r.line(&format!(
        "  emulator   {} (signs real RS256 JWTs)",
        emu.base_url()
    ));
    r.line(&format!("  authority  {authority}"));
    let dir = tempfile::Builder::new()
        .prefix("msal-quickstart-")
        .tempdir()
        .map_err(|e| CliError::other(format!("cannot create a temporary directory: {e}")))?;
    // Encrypted like the default cache, with a key kept in memory for this
    // run instead of the OS keyring, so the demo needs no keyring.
    let cache = FileCache::builder(dir.path().join("cache.bin"))
        .encryption(Encryption::Aes256Gcm(CacheKey::generate()))
        .build()
        .map_err(crate::cmd::cache::file_error)?;
    r.line(&format!(
        "  cache      {} (AES-256-GCM, deleted at the end)",
        cache.path().display()
    ));
    r.done(
        1,
        title,
        json!({
            "emulator": emu.base_url(),
            "authority": authority,
            "cache": cache.path().display().to_string(),
        }),
    );
    // Loopback is never proxied anyway; `None` also keeps a broken
    // HTTPS_PROXY in the environment from failing the demo's client set-up.
    let http = ReqwestHttpClient::builder()
        .proxy(ProxyConfig::None)
        .build()?;
    let app = PublicClientApplication::builder(defaults::CLI_APP_ID)
        .authority(authority.as_str())
        .http_client(Arc::new(http))
        .cache_access(Arc::new(cache.clone()))
        .build()?;

    let title = "Sign in with the device code flow (msal login --device-code)";
    r.start(2, title);
    let shown = Arc::new(Mutex::new(None::<String>));
    let keep = shown.clone();
    let text = !r.json;
    let signed_in = sign_in(
        &app,
        emu.admin(),
        defaults::USER,
        // Give the reader a moment to see the message and the countdown.
        Duration::from_millis(1500),
        move |info| {
            if text {
                say!("  The identity provider says:");
                say!("    {}", info.message);
                say!(
                    "  (Here the demo user {} does that: the emulator approves the code through its",
                    defaults::USER
                );
                say!("  admin API, as if she had entered it in a browser and signed in.)");
            }
            if let Ok(mut m) = keep.lock() {
                *m = Some(info.message.clone());
            }
        },
    )
    .await?;
    for line in signed_in_text(&signed_in).lines() {
        r.line(&format!("  {line}"));
    }
    let message = shown.lock().ok().and_then(|mut m| m.take());
    r.done(
        2,
        title,
        json!({ "message": message, "signed_in": token_json(&signed_in, false) }),
    );

    let title = "List the accounts in the cache (msal accounts)";
    r.start(3, title);
    let accounts = app.accounts().await?;
    check(accounts.len() == 1, "exactly one account after the sign-in")?;
    for a in &accounts {
        r.line(&format!("  {}", account_line(a)));
    }
    r.done(
        3,
        title,
        json!({ "accounts": accounts.iter().map(account_json).collect::<Vec<_>>() }),
    );

    let title = "Get a token silently (msal token)";
    r.start(4, title);
    emu.admin().reset_counters();
    let silent = app.acquire_token_silent(&SCOPES, &accounts[0]).await?;
    let requests = emu.admin().total_requests();
    r.line(&format!("  {}", summary(&silent)));
    r.line(&format!(
        "  requests the emulator received for it: {requests}"
    ));
    check(
        silent.source() == msal::TokenSource::Cache && requests == 0,
        "the silent call should have been answered from the cache without a request",
    )?;
    let facts = read(&cache).await?;
    print_counts(&r, &facts);
    r.done(
        4,
        title,
        json!({
            "token": token_json(&silent, false),
            "requests": requests,
            "cache": counts_json(&facts),
        }),
    );

    let title = "Sign out: clear the cache (msal logout --all)";
    r.start(5, title);
    let mut removed = Vec::new();
    for a in &accounts {
        app.remove_account(a).await?;
        r.line(&format!("  removed {}", a.username()));
        removed.push(a.username().to_owned());
    }
    let sign_out = sign_out_url(app.authority());
    if let Some(url) = &sign_out {
        r.line(&format!(
            "  (the browser's session cookie is not touched; its sign-out page is {url})"
        ));
    }
    r.done(
        5,
        title,
        json!({ "removed": removed, "sign_out_url": sign_out }),
    );

    let title = "Check that the cache is empty (msal accounts, msal cache inspect)";
    r.start(6, title);
    let left = app.accounts().await?;
    r.line(&format!("  accounts: {}", left.len()));
    let facts = read(&cache).await?;
    print_counts(&r, &facts);
    let rep = &facts.report;
    let tokens = rep.sections.get("AccessToken").copied().unwrap_or(0)
        + rep.sections.get("RefreshToken").copied().unwrap_or(0)
        + rep.sections.get("IdToken").copied().unwrap_or(0)
        + rep.sections.get("Account").copied().unwrap_or(0);
    check(
        left.is_empty() && tokens == 0,
        "no account and no token left after sign-out",
    )?;
    r.done(
        6,
        title,
        json!({ "accounts": left.len(), "cache": counts_json(&facts) }),
    );

    emu.shutdown().await;
    drop(dir);
    if r.json {
        say!("{}", json!({ "done": true }));
        return Ok(());
    }
    say!("\nDone: the same commands work against Microsoft Entra ID:");
    say!("  msal login --device-code     # sign in (default authority: work and school accounts)");
    say!(
        "  msal token --json            # a token for scripts, silently (exit code 2: sign in again)"
    );
    say!("  msal accounts; msal cache inspect; msal logout --all");
    Ok(())
}

/// The device code flow with `user` approving the code through the
/// emulator's admin API after `pause`. If the approval fails, the flow is
/// cancelled at once (it would otherwise poll until the code expires, 15
/// minutes later) and the failure reported.
async fn sign_in(
    app: &PublicClientApplication,
    admin: Admin,
    user: &str,
    pause: Duration,
    show: impl FnOnce(&DeviceCodeInfo) + Send + 'static,
) -> CliResult<AuthenticationResult> {
    let (code_tx, code_rx) = tokio::sync::oneshot::channel::<String>();
    let user = user.to_owned();
    let approval = tokio::spawn(async move {
        let code = code_rx
            .await
            .map_err(|_| "no device code was shown".to_owned())?;
        tokio::time::sleep(pause).await;
        admin
            .approve_device_code(&code, &user)
            .map_err(|e| e.to_string())
    });
    let scopes = SCOPES.map(String::from);
    let flow = device_code(app, &scopes, move |info| {
        show(info);
        let _ = code_tx.send(info.user_code.clone());
    });
    unless_refused(flow, approval).await
}

/// `flow`'s result, or the approval's failure as soon as it fails (then
/// `flow` is dropped, which stops its polling).
async fn unless_refused(
    flow: impl Future<Output = msal::Result<AuthenticationResult>>,
    mut approval: tokio::task::JoinHandle<Result<(), String>>,
) -> CliResult<AuthenticationResult> {
    let refused = |why: String| {
        CliError::other(format!(
            "quickstart: the emulator did not approve the device code ({why}); the sign-in was cancelled"
        ))
    };
    tokio::pin!(flow);
    tokio::select! {
        result = &mut flow => {
            approval.abort();
            Ok(result?)
        }
        approved = &mut approval => match approved {
            Ok(Ok(())) => Ok(flow.await?),
            Ok(Err(why)) => Err(refused(why)),
            Err(e) => Err(refused(e.to_string())),
        },
    }
}

fn print_counts(r: &Report, f: &Facts) {
    let rep = &f.report;
    let n = |s: &str| rep.sections.get(s).copied().unwrap_or(0);
    r.line(&format!(
        "  cache file: {} bytes, {}; {} account(s), {} access, {} refresh, {} ID token(s)",
        f.size.unwrap_or(0),
        if f.encrypted {
            "encrypted"
        } else {
            "plain JSON"
        },
        n("Account"),
        n("AccessToken"),
        n("RefreshToken"),
        n("IdToken"),
    ));
}

fn counts_json(f: &Facts) -> Value {
    json!({
        "size_bytes": f.size.unwrap_or(0),
        "encrypted": f.encrypted,
        "sections": f.report.sections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_approval_cancels_the_sign_in_at_once() {
        let mut config = EmulatorConfig::default();
        config.device_code.interval_secs = 1;
        let emu = Emulator::start(config).await.expect("emulator");
        let http = ReqwestHttpClient::builder()
            .proxy(ProxyConfig::None)
            .build()
            .expect("client");
        let app = PublicClientApplication::builder(defaults::CLI_APP_ID)
            .authority(emu.authority("organizations").as_str())
            .http_client(Arc::new(http))
            .build()
            .expect("app");
        // The code lives 15 minutes; the test would time out long before.
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(
            Duration::from_secs(60),
            sign_in(
                &app,
                emu.admin(),
                "nobody@nowhere.invalid",
                Duration::ZERO,
                |_| {},
            ),
        )
        .await
        .expect("the flow ended without waiting for the code to expire");
        let e = result.expect_err("nobody approved the code");
        assert!(
            e.message.contains("did not approve the device code")
                && e.message.contains("nobody@nowhere.invalid"),
            "{}",
            e.message
        );
        assert!(started.elapsed() < Duration::from_secs(30));
        emu.shutdown().await;
    }
}
