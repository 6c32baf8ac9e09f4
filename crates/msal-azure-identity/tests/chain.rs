//! DefaultCredential against msal-emulator: each step answers in its turn,
//! the chain remembers the source that worked, a configured source that
//! fails ends it, and when nothing answers one error lists every source.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use common::*;
use msal::managed_identity::Environment;
use msal_azure_identity::{ChainError, ChainStep, DefaultCredential};
use msal_emulator::managed_identity::{Host, SYSTEM_ASSIGNED};
use msal_emulator::{EmulatorHandle, defaults};
use tokio::net::TcpListener;

/// Variables under which no source exists: no `AZURE_*` service principal,
/// IMDS on a port that refuses connections, no msal or Azure CLI files.
fn nothing_here(home: &std::path::Path) -> Vec<(String, String)> {
    vec![
        ("HOME".into(), home.display().to_string()),
        (
            "AZURE_POD_IDENTITY_AUTHORITY_HOST".into(),
            "http://127.0.0.1:1".into(),
        ),
        (
            "MSAL_CACHE".into(),
            home.join("msal-cache.json").display().to_string(),
        ),
        ("MSAL_PLAINTEXT".into(), "1".into()),
    ]
}

fn env(vars: Vec<(String, String)>) -> Environment {
    Environment::from_vars(vars).arc_agent_path(None)
}

fn with(mut vars: Vec<(String, String)>, extra: &[(&str, String)]) -> Vec<(String, String)> {
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push(((*k).to_owned(), v.clone()));
    }
    vars
}

#[tokio::test]
async fn when_nothing_answers_one_error_lists_what_each_source_said() {
    let home = tempfile::tempdir().unwrap();
    let chain = DefaultCredential::builder()
        .environment(env(nothing_here(home.path())))
        .build()
        .unwrap();
    let e = chain.get_token(&[VAULT_SCOPE], None).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Credential);
    let text = e.to_string();
    assert!(
        text.starts_with("DefaultCredential: no source gave a token\n"),
        "{text}"
    );
    let c = e.downcast_ref::<ChainError>().expect("the attempts");
    let steps: Vec<ChainStep> = c.attempts.iter().map(|a| a.step).collect();
    assert_eq!(steps, ChainStep::ALL.to_vec());
    assert!(c.attempts.iter().all(|a| !a.failed) && c.stopped_at.is_none());
    let said = |i: usize| c.attempts[i].message.as_str();
    assert!(said(0).contains("AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH not set"), "{}", said(0));
    assert!(
        said(1).contains("AZURE_FEDERATED_TOKEN_FILE"),
        "{}",
        said(1)
    );
    assert!(
        said(2).contains("IMDS at http://127.0.0.1:1"),
        "{}",
        said(2)
    );
    assert!(
        said(3).starts_with("no account is signed in") && said(3).ends_with("run `msal login`"),
        "{}",
        said(3)
    );
    assert!(
        said(4).contains("azureProfile.json not found; run `az login`"),
        "{}",
        said(4)
    );
    for a in &c.attempts {
        assert!(
            text.contains(&format!("\n  {}: {}", a.step, a.message)),
            "{text}"
        );
    }
    assert_eq!(chain.source(), None);
}

#[tokio::test]
async fn the_environment_step_answers_first_and_is_remembered() {
    let emu = emulator().await;
    let home = tempfile::tempdir().unwrap();
    let vars = with(
        nothing_here(home.path()),
        &[
            ("AZURE_TENANT_ID", defaults::TENANT_ID.to_owned()),
            ("AZURE_CLIENT_ID", defaults::DAEMON_APP_ID.to_owned()),
            ("AZURE_CLIENT_SECRET", defaults::DAEMON_SECRET.to_owned()),
            ("AZURE_AUTHORITY_HOST", emu.base_url().to_owned()),
        ],
    );
    let chain = DefaultCredential::builder()
        .environment(env(vars))
        .build()
        .unwrap();
    emu.admin().reset_counters();
    let t = chain.get_token(&[VAULT_SCOPE], None).await.unwrap();
    assert_eq!(chain.source(), Some(ChainStep::Environment));
    assert_eq!(claims(t.token.secret())["azp"], defaults::DAEMON_APP_ID);
    chain.get_token(&[VAULT_SCOPE], None).await.unwrap();
    assert_eq!(
        emu.admin().token_requests_with_grant("client_credentials"),
        1
    );
}

#[tokio::test]
async fn workload_identity_answers_when_the_token_file_is_set() {
    let emu = emulator().await;
    let home = tempfile::tempdir().unwrap();
    let cert = daemon_certificate(&emu);
    let file = home.path().join("federated-token");
    std::fs::write(&file, daemon_assertion(&emu, &cert, defaults::TENANT_ID)).unwrap();
    let vars = with(
        nothing_here(home.path()),
        &[
            ("AZURE_TENANT_ID", defaults::TENANT_ID.to_owned()),
            ("AZURE_CLIENT_ID", defaults::DAEMON_APP_ID.to_owned()),
            ("AZURE_FEDERATED_TOKEN_FILE", file.display().to_string()),
            ("AZURE_AUTHORITY_HOST", emu.base_url().to_owned()),
        ],
    );
    let chain = DefaultCredential::builder()
        .environment(env(vars))
        .build()
        .unwrap();
    let t = chain.get_token(&[API_SCOPE], None).await.unwrap();
    assert_eq!(chain.source(), Some(ChainStep::WorkloadIdentity));
    assert_eq!(claims(t.token.secret())["azp"], defaults::DAEMON_APP_ID);
}

#[tokio::test]
async fn managed_identity_answers_where_imds_answers_the_probe_or_the_host_announces_it() {
    let emu = emulator().await;
    let home = tempfile::tempdir().unwrap();
    // A VM: only IMDS, found by the probe.
    let imds = emu.managed_identity_env(Host::Imds).await.unwrap();
    let vars = with(
        nothing_here(home.path()),
        &[(imds[0].0.as_str(), imds[0].1.clone())],
    );
    let chain = DefaultCredential::builder()
        .environment(env(vars))
        .build()
        .unwrap();
    emu.admin().reset_counters();
    let t = chain.get_token(&[VAULT_SCOPE], None).await.unwrap();
    assert_eq!(chain.source(), Some(ChainStep::ManagedIdentity));
    assert_eq!(claims(t.token.secret())["appid"], SYSTEM_ASSIGNED.client_id);
    assert_eq!(
        emu.admin().managed_identity_requests(),
        2,
        "the probe, then the token"
    );
    chain.get_token(&[VAULT_SCOPE], None).await.unwrap();
    assert_eq!(emu.admin().managed_identity_requests(), 2, "then the cache");

    // App Service: announced by its variables, no probe.
    let mut vars = nothing_here(home.path());
    vars.extend(emu.managed_identity_env(Host::AppService).await.unwrap());
    let chain = DefaultCredential::builder()
        .environment(env(vars))
        .build()
        .unwrap();
    emu.admin().reset_counters();
    chain.get_token(&[VAULT_SCOPE], None).await.unwrap();
    assert_eq!(chain.source(), Some(ChainStep::ManagedIdentity));
    assert_eq!(emu.admin().managed_identity_requests(), 1);
}

/// A TCP listener that accepts and never answers, counting connections.
async fn silent_imds() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
            if held.len() > 64 {
                held.remove(0);
            }
        }
    });
    (url, seen)
}

#[tokio::test]
async fn the_msal_cli_user_answers_and_the_chain_does_not_walk_again() {
    let emu = emulator().await;
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("msal-cache.json");
    sign_in_ada(&emu, &file).await;
    // IMDS that never answers: the probe gives up after its timeout, once.
    let (imds, probes) = silent_imds().await;
    let vars = with(
        nothing_here(home.path()),
        &[
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST", imds),
            ("MSAL_AUTHORITY", emu.authority("organizations")),
            ("MSAL_CLIENT_ID", defaults::CLI_APP_ID.to_owned()),
        ],
    );
    let chain = DefaultCredential::builder()
        .environment(env(vars))
        .imds_probe_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let t = chain.get_token(&[API_USER_SCOPE], None).await.unwrap();
    assert_eq!(chain.source(), Some(ChainStep::MsalCli));
    assert_eq!(
        claims(t.token.secret())["preferred_username"],
        defaults::USER
    );
    assert_eq!(probes.load(Ordering::SeqCst), 1);
    for _ in 0..3 {
        chain.get_token(&[API_SCOPE], None).await.unwrap();
    }
    assert_eq!(
        probes.load(Ordering::SeqCst),
        1,
        "later calls go straight to msal_cli"
    );
    assert!(
        format!("{chain:?}").contains("source: Some(MsalCli)"),
        "{chain:?}"
    );

    // A source that worked and then fails is reported as itself.
    emu.admin().revoke_refresh_tokens(defaults::USER).unwrap();
    let e = chain
        .get_token(&["api://msal-emulator-web-api/Data.Read"], None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("DefaultCredential (msal_cli): "), "{e}");
    assert!(e.ends_with("run `msal login`"), "{e}");
}

#[tokio::test]
async fn a_configured_source_that_fails_ends_the_chain() {
    let emu = emulator().await;
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("msal-cache.json");
    sign_in_ada(&emu, &file).await;
    let vars = with(
        nothing_here(home.path()),
        &[
            ("AZURE_TENANT_ID", defaults::TENANT_ID.to_owned()),
            ("AZURE_CLIENT_ID", defaults::DAEMON_APP_ID.to_owned()),
            ("AZURE_CLIENT_SECRET", "wrong-secret-0815".to_owned()),
            ("AZURE_AUTHORITY_HOST", emu.base_url().to_owned()),
            ("MSAL_AUTHORITY", emu.authority("organizations")),
            ("MSAL_CLIENT_ID", defaults::CLI_APP_ID.to_owned()),
        ],
    );
    let chain = DefaultCredential::builder()
        .environment(env(vars))
        .build()
        .unwrap();
    emu.admin().reset_counters();
    let e = chain.get_token(&[API_USER_SCOPE], None).await.unwrap_err();
    let c = e.downcast_ref::<ChainError>().expect("the attempts");
    assert_eq!(c.stopped_at, Some(ChainStep::Environment));
    assert_eq!(c.attempts.len(), 1);
    assert!(c.attempts[0].failed && c.attempts[0].message.contains("invalid_client"));
    let text = e.to_string();
    assert!(
        text.contains("environment is configured but failed"),
        "{text}"
    );
    assert!(!text.contains("wrong-secret-0815"));
    assert_eq!(
        chain.source(),
        None,
        "the signed-in user was not used instead"
    );
    assert_eq!(emu.admin().token_requests_with_grant("refresh_token"), 0);
}

#[tokio::test]
async fn the_azure_cli_files_answer_last_and_azure_authority_host_moves_every_step() {
    let emu = emulator().await;
    let home = tempfile::tempdir().unwrap();
    let azure = home.path().join(".azure");
    std::fs::create_dir_all(&azure).unwrap();
    // What `az login` leaves: the profile (with a byte order mark) and
    // MSAL Python's cache, here written by msal for the Azure CLI's client id.
    std::fs::write(
        azure.join("azureProfile.json"),
        format!(
            "\u{feff}{}",
            serde_json::json!({"installationId": "i", "subscriptions": [{
                "id": "0b1c2d3e-4f50-4617-8283-949596979899", "name": "Emulated",
                "state": "Enabled", "isDefault": true, "tenantId": defaults::TENANT_ID,
                "environmentName": "AzureCloud", "homeTenantId": defaults::TENANT_ID,
                "user": {"name": defaults::USER, "type": "user"}, "managedByTenants": []
            }]})
        ),
    )
    .unwrap();
    sign_in(
        &emu,
        &azure.join("msal_token_cache.json"),
        msal_azure_identity::AZURE_CLI_CLIENT_ID,
        &emu.authority(defaults::TENANT_ID),
        defaults::USER,
        defaults::USER_PASSWORD,
        &[API_USER_SCOPE],
    )
    .await;
    let vars = with(
        nothing_here(home.path()),
        &[("AZURE_AUTHORITY_HOST", emu.base_url().to_owned())],
    );
    let chain = DefaultCredential::builder()
        .environment(env(vars))
        .build()
        .unwrap();
    emu.admin().reset_counters();
    let t = chain.get_token(&[API_SCOPE], None).await.unwrap();
    assert_eq!(chain.source(), Some(ChainStep::AzureCli));
    let c = claims(t.token.secret());
    assert_eq!(c["preferred_username"], defaults::USER);
    assert_eq!(c["azp"], msal_azure_identity::AZURE_CLI_CLIENT_ID);
    chain.get_token(&[API_SCOPE], None).await.unwrap();
    assert_eq!(emu.admin().token_requests_with_grant("refresh_token"), 1);
    // The refreshed token went back into the Azure CLI's file, under its lock.
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(azure.join("msal_token_cache.json")).unwrap())
            .unwrap();
    let targets: Vec<&str> = doc["AccessToken"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|at| at["target"].as_str())
        .collect();
    assert!(
        targets.iter().any(|t| t.contains("/.default")),
        "{targets:?}"
    );
    assert!(
        !azure.join("msal_token_cache.json.lockfile").exists(),
        "the lock is released"
    );
}

#[tokio::test]
async fn the_token_example_prints_the_source_and_expiry_and_never_the_token() {
    let emu = emulator().await;
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("msal-cache.json");
    sign_in_ada(&emu, &file).await;
    let example = workspace_binary(
        "examples/token",
        "cargo build -p msal-azure-identity --example token",
    );
    let mut cmd = clean_command(&example, home.path());
    cmd.arg(API_SCOPE)
        .env("MSAL_AUTHORITY", emu.authority("organizations"))
        .env("MSAL_CLIENT_ID", defaults::CLI_APP_ID)
        .env("MSAL_CACHE", &file)
        .env("MSAL_PLAINTEXT", "1")
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:1")
        .env("RUST_LOG", "trace");
    let out = output(cmd).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["source"], "msal_cli");
    let unix = v["expires_on_unix"].as_i64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(unix - now > 300 && unix - now <= LIFETIME as i64, "{v}");
    assert!(v["expires_on"].as_str().unwrap().ends_with('Z'), "{v}");
    // The token the example got is in the file; it is not on the output.
    let doc = std::fs::read_to_string(&file).unwrap();
    let cache: serde_json::Value = serde_json::from_str(&doc).unwrap();
    for at in cache["AccessToken"].as_object().unwrap().values() {
        let secret = at["secret"].as_str().unwrap();
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }

    // Usage and failure: exit codes 2 and 1, one line on stderr.
    let usage = output(clean_command(&example, home.path())).await;
    assert_eq!(usage.status.code(), Some(2));
    let mut cmd = clean_command(&example, home.path());
    cmd.arg(API_SCOPE)
        .env("MSAL_CACHE", home.path().join("none.json"))
        .env("MSAL_PLAINTEXT", "1")
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:1");
    let fail = output(cmd).await;
    assert_eq!(fail.status.code(), Some(1));
    let err = String::from_utf8_lossy(&fail.stderr);
    assert!(
        err.starts_with("token: DefaultCredential: no source gave a token"),
        "{err}"
    );
}

#[tokio::test]
async fn excluded_steps_are_not_tried() {
    let emu: EmulatorHandle = emulator().await;
    let home = tempfile::tempdir().unwrap();
    let imds = emu.managed_identity_env(Host::Imds).await.unwrap();
    let vars = with(
        nothing_here(home.path()),
        &[(imds[0].0.as_str(), imds[0].1.clone())],
    );
    let chain = DefaultCredential::builder()
        .environment(env(vars))
        .exclude(ChainStep::ManagedIdentity)
        .exclude(ChainStep::AzureCli)
        .build()
        .unwrap();
    emu.admin().reset_counters();
    let e = chain.get_token(&[VAULT_SCOPE], None).await.unwrap_err();
    let c = e.downcast_ref::<ChainError>().unwrap();
    let steps: Vec<ChainStep> = c.attempts.iter().map(|a| a.step).collect();
    assert_eq!(
        steps,
        [
            ChainStep::Environment,
            ChainStep::WorkloadIdentity,
            ChainStep::MsalCli
        ]
    );
    assert_eq!(
        emu.admin().managed_identity_requests(),
        0,
        "not even probed"
    );
}
