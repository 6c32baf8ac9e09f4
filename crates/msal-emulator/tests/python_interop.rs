//! The real MSAL Python (`$MSAL_PYTHON`, else /work/main/.venv/bin/python)
//! against the emulator in TLS mode: client credentials (then from the
//! cache), device code approved through the admin API, a silent call that
//! makes no request, and a forced refresh. Fails if Python or msal is
//! missing.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use msal_emulator::{Emulator, EmulatorConfig, Endpoint};
use serde_json::{Value, json};

fn python() -> String {
    let py =
        std::env::var("MSAL_PYTHON").unwrap_or_else(|_| "/work/main/.venv/bin/python".to_string());
    let ok = Command::new(&py)
        .args(["-c", "import msal, requests"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "no python with msal at {py}: run scripts/test.sh (it creates .venv) or set MSAL_PYTHON"
    );
    py
}

#[tokio::test(flavor = "multi_thread")]
async fn msal_python_client_credentials_device_code_silent_and_refresh() {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("emulator-ca.pem");
    let mut config = EmulatorConfig::default().with_tls(Some(ca.clone()));
    config.device_code.interval_secs = 1; // MSAL Python really sleeps between polls
    let emu = Emulator::start(config).await.unwrap();
    let cfg = json!({
        "base_url": emu.base_url(),
        "ca_file": ca,
        "tenant_id": TENANT_ID,
        "daemon_id": DAEMON_APP_ID,
        "daemon_secret": DAEMON_SECRET,
        "api_default_scope": format!("{WEB_API_URI}/.default"),
        "cli_id": CLI_APP_ID,
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/msal_interop.py");
    let mut child = Command::new(py)
        .arg(script)
        .arg(cfg.to_string())
        .env("REQUESTS_CA_BUNDLE", &ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut result = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while let Ok(Some(line)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        if let Some(code) = line.strip_prefix("USER_CODE ") {
            let info = emu.admin().device_codes();
            assert_eq!(info.last().unwrap().status, "pending");
            emu.admin().approve_device_code(code, USER).unwrap();
        } else if let Some(json) = line.strip_prefix("RESULT ") {
            result = Some(serde_json::from_str::<Value>(json).unwrap());
        }
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "MSAL Python failed: {stderr}");
    let r = result.unwrap_or_else(|| panic!("no RESULT line; stderr: {stderr}"));

    // Client credentials: a verified token, then the cache.
    assert_eq!(r["cc_first"]["token_source"], "identity_provider", "{r}");
    let at = verify_jwt(
        &emu,
        r["cc_first"]["access_token"].as_str().unwrap(),
        WEB_API_APP_ID,
        TENANT_ID,
    )
    .await;
    assert_eq!(at["roles"], json!(["Data.Read.All"]));
    assert_eq!(r["cc_second_source"], "cache");
    assert_eq!(r["cc_same_token"], true);
    let admin = emu.admin();
    assert_eq!(admin.token_requests_with_grant("client_credentials"), 1);
    assert!(
        admin.request_count(Endpoint::InstanceDiscovery) >= 1,
        "MSAL Python used our instance discovery"
    );

    // Device code.
    assert_eq!(r["device"]["token_source"], "identity_provider", "{r}");
    assert_eq!(r["device_id_token_claims"]["preferred_username"], USER);
    verify_jwt(
        &emu,
        r["device"]["access_token"].as_str().unwrap(),
        GRAPH_APP_ID,
        TENANT_ID,
    )
    .await;
    assert_eq!(admin.device_codes().last().unwrap().status, "redeemed");

    // The account MSAL Python built from client_info.
    let home = format!("{USER_OBJECT_ID}.{TENANT_ID}");
    assert_eq!(r["accounts"][0]["home_account_id"], home.as_str());
    assert_eq!(r["accounts"][0]["username"], USER);
    assert_eq!(
        r["accounts"][0]["environment"], "127.0.0.1",
        "MSAL Python keys by host name, port dropped"
    );

    // Silent: from the cache, no request of any kind.
    assert_eq!(r["silent_source"], "cache");
    assert_eq!(r["silent_same_token"], true);
    assert_eq!(r["counters_unchanged_by_silent"], true);

    // Refresh through the family refresh token.
    assert_eq!(r["refreshed"]["token_source"], "identity_provider", "{r}");
    assert_ne!(r["refreshed"]["access_token"], r["device"]["access_token"]);
    let refreshed = verify_jwt(
        &emu,
        r["refreshed"]["access_token"].as_str().unwrap(),
        GRAPH_APP_ID,
        TENANT_ID,
    )
    .await;
    assert_eq!(refreshed["oid"], USER_OBJECT_ID);
    assert_eq!(admin.token_requests_with_grant("refresh_token"), 1);

    // The cache document MSAL Python wrote from our responses.
    let cache = &r["cache"];
    let rts: Vec<&Value> = cache["RefreshToken"]
        .as_object()
        .unwrap()
        .values()
        .collect();
    assert_eq!(rts.len(), 1, "the rotated RT replaced the old one: {cache}");
    assert_eq!(rts[0]["family_id"], "1");
    assert_eq!(rts[0]["home_account_id"], home.as_str());
    let meta: Vec<&Value> = cache["AppMetadata"].as_object().unwrap().values().collect();
    assert_eq!(meta[0]["family_id"], "1");
    let ats = cache["AccessToken"].as_object().unwrap();
    assert!(
        ats.values()
            .any(|a| a["realm"] == "organizations" && a["target"] == "User.Read openid profile"),
        "{cache}"
    );
}
