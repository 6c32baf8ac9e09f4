//! One `msal login` gives every Rust program on the machine silent tokens:
//! the real `msal` binary signs a user in (device code, approved through
//! the emulator), the credential finds the user's token in the file the CLI
//! wrote, and `msal token` then finds the token the credential refreshed.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use common::*;
use msal::managed_identity::Environment;
use msal_azure_identity::{
    ChainStep, DefaultCredential, MSAL_CLI_CLIENT_ID, SignedInUserCredential,
};
use msal_emulator::{Admin, defaults};

/// Runs `msal login --device-code`; when the CLI shows the code, `user`
/// approves it through the admin API.
async fn login(mut cmd: std::process::Command, admin: Admin, user: &str) -> std::process::Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn msal");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut tx = Some(tx);
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
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
    let shown = tokio::time::timeout(Duration::from_secs(60), rx).await;
    if matches!(shown, Ok(Ok(()))) {
        admin.approve_latest_device_code(user).expect("approve");
    }
    let mut out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait for msal");
    out.stderr = reader.join().expect("stderr reader").into_bytes();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_signed_in_with_the_msal_cli_is_found_by_every_program() {
    let emu = emulator().await;
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("cache.json");
    let msal = workspace_binary("msal", "cargo build -p msal-cli");
    // The CLI's own defaults: its client id and `organizations`, on the
    // emulator's host; a plain-text file so the test can look inside.
    let cli = |args: &[&str]| {
        let mut c = clean_command(&msal, home.path());
        c.env("MSAL_AUTHORITY", emu.authority("organizations"))
            .env("MSAL_CACHE", &file)
            .env("MSAL_PLAINTEXT", "1")
            .args(args);
        c
    };
    let out = login(
        cli(&["login", "--device-code", "--scopes", API_USER_SCOPE]),
        emu.admin(),
        defaults::USER,
    )
    .await;
    assert!(
        out.status.success(),
        "msal login: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The chain, configured by the same variables.
    let vars = [
        ("HOME", home.path().display().to_string()),
        ("MSAL_AUTHORITY", emu.authority("organizations")),
        ("MSAL_CACHE", file.display().to_string()),
        ("MSAL_PLAINTEXT", "1".to_owned()),
        (
            "AZURE_POD_IDENTITY_AUTHORITY_HOST",
            "http://127.0.0.1:1".to_owned(),
        ),
    ];
    let chain = DefaultCredential::builder()
        .environment(Environment::from_vars(vars).arc_agent_path(None))
        .build()
        .unwrap();
    emu.admin().reset_counters();
    let user_token = chain.get_token(&[API_USER_SCOPE], None).await.unwrap();
    assert_eq!(chain.source(), Some(ChainStep::MsalCli));
    assert_eq!(
        emu.admin().token_requests_with_grant("refresh_token"),
        0,
        "the token `msal login` cached"
    );
    let c = claims(user_token.token.secret());
    assert_eq!(c["azp"], MSAL_CLI_CLIENT_ID, "the CLI's default client id");
    assert_eq!(c["preferred_username"], defaults::USER);

    // `.default`, as the SDK asks: refreshed once, written to the CLI's file...
    let default = chain.get_token(&[API_SCOPE], None).await.unwrap();
    assert_eq!(emu.admin().token_requests_with_grant("refresh_token"), 1);
    // ...where `msal token` finds it.
    let out = output(cli(&["token", "--scopes", API_SCOPE, "--json"])).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["from_cache"], true, "{}", v["from_cache"]);
    assert!(
        v["access_token"].as_str() == Some(default.token.secret()),
        "the same token"
    );
    assert_eq!(emu.admin().token_requests_with_grant("refresh_token"), 1);

    // AZURE_AUTHORITY_HOST alone moves the CLI's default authority
    // (`organizations`) to the emulator: the same account is found.
    let moved = SignedInUserCredential::builder()
        .environment(&Environment::from_vars([
            ("AZURE_AUTHORITY_HOST", emu.base_url().to_owned()),
            ("MSAL_CACHE", file.display().to_string()),
            ("MSAL_PLAINTEXT", "1".to_owned()),
        ]))
        .build()
        .unwrap();
    let t = moved.get_token(&[API_SCOPE], None).await.unwrap();
    assert!(t.token == default.token);
    assert_eq!(emu.admin().token_requests_with_grant("refresh_token"), 1);
}
