//! TLS mode (generated CA written as PEM), configuration files, and the
//! `msal-emulator` binary.

mod common;

use std::process::Command;

use common::*;
use msal_emulator::{Emulator, EmulatorConfig, EmulatorError};
use serde_json::Value;

fn client_trusting(pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem).unwrap()])
        .build()
        .unwrap()
}

#[tokio::test]
async fn tls_mode_serves_https_with_a_ca_written_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    let mut config = EmulatorConfig::default().with_tls(Some(ca_file.clone()));
    config
        .server
        .tls
        .as_mut()
        .unwrap()
        .extra_names
        .push("login.microsoftonline.com".into());
    let emu = Emulator::start(config).await.unwrap();
    assert!(emu.base_url().starts_with("https://127.0.0.1:"));
    let pem = std::fs::read(&ca_file).unwrap();
    assert_eq!(String::from_utf8_lossy(&pem), emu.ca_pem().unwrap());
    let c = client_trusting(&pem);
    for base in [emu.base_url().to_string(), emu.alias_base_url()] {
        let v: Value = c
            .get(format!(
                "{base}/{TENANT_ID}/v2.0/.well-known/openid-configuration"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            v["token_endpoint"],
            format!("{base}/{TENANT_ID}/oauth2/v2.0/token")
        );
        assert!(
            v["issuer"]
                .as_str()
                .unwrap()
                .starts_with("https://127.0.0.1:")
        );
    }
    // The certificate covers the extra name: resolve it to the emulator.
    let pinned = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .resolve("login.microsoftonline.com", emu.addr())
        .build()
        .unwrap();
    let r = pinned
        .get(format!(
            "https://login.microsoftonline.com:{}/common/discovery/v2.0/keys",
            emu.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Without trusting the CA, the handshake fails.
    let plain = reqwest::Client::builder()
        .tls_certs_only([])
        .build()
        .unwrap();
    assert!(plain.get(emu.base_url()).send().await.is_err());
    // A leaf for a proxy, signed by the same CA.
    let (cert, key) = emu
        .ca()
        .unwrap()
        .issue_leaf(&["login.windows.net".to_string()])
        .unwrap();
    assert!(cert.contains("BEGIN CERTIFICATE") && key.contains("PRIVATE KEY"));
}

#[tokio::test]
async fn config_files_in_toml_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let toml_path = dir.path().join("emu.toml");
    std::fs::write(
        &toml_path,
        r#"
[[tenants]]
id = "11111111-2222-4333-8444-555555555555"
domains = ["example.onmicrosoft.com"]

[[users]]
username = "eve@example.onmicrosoft.com"
password = "pw"
display_name = "Eve"
tenant = "example.onmicrosoft.com"

[[apis]]
app_id = "22222222-2222-4333-8444-555555555555"
identifier_uris = ["api://example"]
scopes = ["read"]
app_roles = ["Read.All"]

[[apps]]
client_id = "33333333-2222-4333-8444-555555555555"
kind = "public"
redirect_uris = ["http://localhost"]
delegated_permissions = { "api://example" = ["read"] }

[tokens]
access_token_lifetime_secs = 600
"#,
    )
    .unwrap();
    let config = EmulatorConfig::from_file(&toml_path).unwrap();
    assert_eq!(config.users.len(), 1);
    let emu = Emulator::start(config).await.unwrap();
    let (s, body) = post_form(
        &token_url(&emu, "example.onmicrosoft.com"),
        &[
            ("grant_type", "password"),
            ("client_id", "33333333-2222-4333-8444-555555555555"),
            ("username", "eve@example.onmicrosoft.com"),
            ("password", "pw"),
            ("scope", "api://example/read openid"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "api://example/read openid");
    let at = verify_jwt(
        &emu,
        body["access_token"].as_str().unwrap(),
        "22222222-2222-4333-8444-555555555555",
        "11111111-2222-4333-8444-555555555555",
    )
    .await;
    assert_eq!(at["scp"], "read");

    let json_path = dir.path().join("emu.json");
    std::fs::write(
        &json_path,
        r#"{"include_defaults": true, "tokens": {"single_use_refresh_tokens": true}}"#,
    )
    .unwrap();
    let config = EmulatorConfig::from_file(&json_path).unwrap();
    assert!(config.tokens.single_use_refresh_tokens);
    assert!(
        config.users.iter().any(|u| u.username == USER),
        "defaults merged"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[users]]\nusername = 'x'\npasword = 'typo'\n").unwrap();
    match EmulatorConfig::from_file(&bad) {
        Err(EmulatorError::ConfigParse { path, message }) => {
            assert_eq!(path, bad);
            assert!(
                message.contains("pasword") || message.contains("unknown"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        EmulatorConfig::from_file(&dir.path().join("missing.toml")),
        Err(EmulatorError::ConfigRead { .. })
    ));
    std::fs::write(
        &bad,
        "[[users]]\nusername = 'x'\npassword = 'p'\ntenant = 'nowhere'\n",
    )
    .unwrap();
    let e = Emulator::start(EmulatorConfig::from_file(&bad).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, EmulatorError::InvalidConfig(_)), "{e}");
    // Secrets stay out of Debug.
    let dbg = format!("{:?}", EmulatorConfig::default());
    assert!(!dbg.contains(USER_PASSWORD) && !dbg.contains(DAEMON_SECRET));
}

#[tokio::test]
async fn the_binary_prints_its_base_url_and_serves_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let (_child, base) = start_binary([
        std::ffi::OsStr::new("--port"),
        "0".as_ref(),
        "--tls".as_ref(),
        "--cert-out".as_ref(),
        ca.as_os_str(),
    ])
    .await;
    let base = base.as_str();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let c = client_trusting(&std::fs::read(&ca).unwrap());
    let r = c
        .post(format!("{base}/{TENANT_ID}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DAEMON_APP_ID),
            ("client_secret", DAEMON_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let out = Command::new(env!("CARGO_BIN_EXE_msal-emulator"))
        .args(["--config", "/nonexistent/x.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the configuration file"));
}
