//! `msal quickstart`: the whole loop, without network, against msal-emulator
//! running inside this process.
//!
//! It is a demonstration and a smoke test at once: each step checks what it
//! shows (the silent call really made no request, the cache really is empty
//! at the end) and fails with a clear line if not.

use std::sync::Arc;
use std::time::Duration;

use msal::PublicClientApplication;
use msal::transport::{ProxyConfig, ReqwestHttpClient};
use msal_cache_file::{CacheKey, Encryption, FileCache};
use msal_emulator::{Emulator, EmulatorConfig, defaults};

use crate::cmd::cache::{Facts, read};
use crate::cmd::login::{device_code, signed_in_text};
use crate::cmd::logout::sign_out_url;
use crate::cmd::token::summary;
use crate::context::Ctx;
use crate::error::{CliError, CliResult};
use crate::output::account_line;
use crate::output::say;

/// The scope the quick start asks for (the emulator's Graph look-alike).
const SCOPES: [&str; 1] = ["User.Read"];

fn step(n: u32, title: &str) {
    say!("\n[{n}/6] {title}");
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
pub(crate) async fn run(_ctx: &Ctx) -> CliResult {
    say!("msal quickstart: sign in, get a token silently and sign out, against msal-emulator,");
    say!(
        "a local stand-in for Microsoft Entra ID running inside this process. No network is used."
    );

    step(1, "Start the emulator and a token cache");
    let mut config = EmulatorConfig::default();
    // Entra asks clients to poll every 5 s; one second keeps the demo short.
    config.device_code.interval_secs = 1;
    let emu = Emulator::start(config)
        .await
        .map_err(|e| CliError::other(format!("cannot start the emulator: {e}")))?;
    let authority = emu.authority("organizations");
    say!("  emulator   {} (signs real RS256 JWTs)", emu.base_url());
    say!("  authority  {authority}");
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
    say!(
        "  cache      {} (AES-256-GCM, deleted at the end)",
        cache.path().display()
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

    step(
        2,
        "Sign in with the device code flow (msal login --device-code)",
    );
    let admin = emu.admin();
    let (code_tx, code_rx) = tokio::sync::oneshot::channel::<String>();
    let user = tokio::spawn(async move {
        let code = code_rx.await.ok()?;
        // Give the reader a moment to see the message and the countdown.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        admin.approve_device_code(&code, defaults::USER).ok()
    });
    let signed_in = device_code(&app, &SCOPES.map(String::from), move |info| {
        say!("  The identity provider says:");
        say!("    {}", info.message);
        say!(
            "  (Here the demo user {} does that: the emulator approves the code through its",
            defaults::USER
        );
        say!("  admin API, as if she had entered it in a browser and signed in.)");
        let _ = code_tx.send(info.user_code.clone());
    })
    .await?;
    check(
        user.await.ok().flatten().is_some(),
        "the emulator did not approve the code",
    )?;
    for line in signed_in_text(&signed_in).lines() {
        say!("  {line}");
    }

    step(3, "List the accounts in the cache (msal accounts)");
    let accounts = app.accounts().await?;
    check(accounts.len() == 1, "exactly one account after the sign-in")?;
    for a in &accounts {
        say!("  {}", account_line(a));
    }

    step(4, "Get a token silently (msal token)");
    emu.admin().reset_counters();
    let silent = app.acquire_token_silent(&SCOPES, &accounts[0]).await?;
    let requests = emu.admin().total_requests();
    say!("  {}", summary(&silent));
    say!("  requests the emulator received for it: {requests}");
    check(
        silent.source() == msal::TokenSource::Cache && requests == 0,
        "the silent call should have been answered from the cache without a request",
    )?;
    let facts = read(&cache).await?;
    print_counts(&facts);

    step(5, "Sign out: clear the cache (msal logout --all)");
    for a in &accounts {
        app.remove_account(a).await?;
        say!("  removed {}", a.username);
    }
    if let Some(url) = sign_out_url(app.authority()) {
        say!("  (the browser's session cookie is not touched; its sign-out page is {url})");
    }

    step(
        6,
        "Check that the cache is empty (msal accounts, msal cache inspect)",
    );
    let left = app.accounts().await?;
    say!("  accounts: {}", left.len());
    let facts = read(&cache).await?;
    print_counts(&facts);
    let r = &facts.report;
    let tokens = r.sections.get("AccessToken").copied().unwrap_or(0)
        + r.sections.get("RefreshToken").copied().unwrap_or(0)
        + r.sections.get("IdToken").copied().unwrap_or(0)
        + r.sections.get("Account").copied().unwrap_or(0);
    check(
        left.is_empty() && tokens == 0,
        "no account and no token left after sign-out",
    )?;

    emu.shutdown().await;
    drop(dir);
    say!("\nDone: the same commands work against Microsoft Entra ID:");
    say!("  msal login --device-code     # sign in (default authority: work and school accounts)");
    say!(
        "  msal token --json            # a token for scripts, silently (exit code 2: sign in again)"
    );
    say!("  msal accounts; msal cache inspect; msal logout --all");
    Ok(())
}

fn print_counts(f: &Facts) {
    let r = &f.report;
    let n = |s: &str| r.sections.get(s).copied().unwrap_or(0);
    say!(
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
    );
}
