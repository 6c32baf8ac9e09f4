//! Helpers for the emulator's integration tests: a plain HTTP client and
//! JWT verification against the emulator's JWKS.
#![allow(dead_code, unreachable_pub)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use serde_json::Value;

pub use msal_emulator::defaults::*;

pub async fn start() -> EmulatorHandle {
    Emulator::start(EmulatorConfig::default()).await.unwrap()
}

pub async fn start_with(config: EmulatorConfig) -> EmulatorHandle {
    Emulator::start(config).await.unwrap()
}

/// A client that does not follow redirects and keeps cookies.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

pub async fn post_form(url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = http().post(url).form(form).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, v)
}

pub async fn get_json(url: &str) -> (u16, Value) {
    let r = http().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

pub fn token_url(emu: &EmulatorHandle, tenant: &str) -> String {
    format!("{}/oauth2/v2.0/token", emu.authority(tenant))
}

/// Asserts an Entra-shaped error body with this `error` and AADSTS code.
pub fn assert_entra_error(body: &Value, error: &str, code: u64) {
    assert_eq!(body["error"], error, "{body}");
    let desc = body["error_description"].as_str().unwrap();
    assert!(desc.starts_with(&format!("AADSTS{code}: ")), "{desc}");
    assert!(
        desc.contains("Trace ID: ")
            && desc.contains("Correlation ID: ")
            && desc.contains("Timestamp: "),
        "{desc}"
    );
    assert_eq!(body["error_codes"][0].as_u64(), Some(code), "{body}");
    for k in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
        assert!(body[k].is_string(), "{k} missing in {body}");
    }
}

/// Verifies `jwt` with jsonwebtoken against the emulator's JWKS for
/// `tenant`, checking `aud` and `iss`; returns the claims.
pub async fn verify_jwt(emu: &EmulatorHandle, jwt: &str, aud: &str, tid: &str) -> Value {
    let mut client = reqwest::Client::builder();
    if let Some(pem) = emu.ca_pem() {
        client = client.tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()]);
    }
    let jwks: Value = client
        .build()
        .unwrap()
        .get(format!("{}/discovery/v2.0/keys", emu.authority(tid)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("kid in JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[aud]);
    v.set_issuer(&[format!("{}/{}/v2.0", emu.base_url(), tid)]);
    jsonwebtoken::decode::<Value>(jwt, &key, &v).unwrap().claims
}

pub fn decode_client_info(ci: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(ci).unwrap()).unwrap()
}

/// A password-grant token response for Ada through the CLI app.
pub async fn ada_tokens(emu: &EmulatorHandle, scope: &str) -> Value {
    let (s, body) = post_form(
        &token_url(emu, TENANT_ID),
        &[
            ("grant_type", "password"),
            ("client_id", CLI_APP_ID),
            ("username", USER),
            ("password", USER_PASSWORD),
            ("scope", scope),
            ("client_info", "1"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    body
}

/// The `msal-emulator` binary started with `args`, killed when dropped.
pub struct EmulatorProcess(std::process::Child);

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary with `args` and returns it with the base URL it
/// prints as its first line.
pub async fn start_binary<I, S>(args: I) -> (EmulatorProcess, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};
    let mut child = EmulatorProcess(
        Command::new(env!("CARGO_BIN_EXE_msal-emulator"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    (child, line.trim().to_owned())
}
