//! Hostile or careless input never crashes the emulator nor drops a
//! connection: overflowing assertion times, clock offsets and lifetimes,
//! out-of-range fault statuses; the Arc agent's key files stay bounded and
//! are cleaned up; managed-identity requests have their own endpoint for
//! counters and faults.

mod common;

use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use msal_emulator::managed_identity::{APP_SERVICE_PATH, IMDS_PATH};
use msal_emulator::{
    AppConfig, ClientCertificate, Emulator, EmulatorConfig, EmulatorError, EmulatorHandle,
    EmulatorState, Endpoint, Fault, MAX_LIFETIME_SECS,
};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const CERT_APP_ID: &str = "ce47ce47-0000-4000-8000-0000000000ab";
const HUNDRED_YEARS: u64 = 100 * 365 * 24 * 3600;

fn system_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn admin_post(emu: &EmulatorHandle, path: &str, body: Value) -> (u16, Value) {
    let r = http()
        .post(format!("{}/_admin/{path}", emu.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn client_credentials_with_secret(emu: &EmulatorHandle) -> (u16, Value) {
    post_form(
        &token_url(emu, TENANT_ID),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DAEMON_APP_ID),
            ("client_secret", DAEMON_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await
}

fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwt.split('.').nth(1).unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

// 1. Client assertion times.

#[tokio::test]
async fn assertion_times_past_u64_arithmetic_get_an_entra_error() {
    let cert = ClientCertificate::generate("overflow").unwrap();
    let mut config = EmulatorConfig::default();
    let mut app = AppConfig::confidential(CERT_APP_ID, "Cert app", "x");
    app.secrets.clear();
    app.application_permissions
        .insert(WEB_API_URI.into(), vec!["Data.Write.All".into()]);
    config.apps.push(app);
    let emu = start_with(config).await;
    // Registered the way an outside test would: over the admin API.
    let (s, b) = admin_post(
        &emu,
        "certificates",
        json!({"client_id": CERT_APP_ID, "pem": cert.cert_pem}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let aud = token_url(&emu, TENANT_ID);
    let now = emu.admin().now_unix();
    let sign = |exp: Value, nbf: Value| {
        let mut h = Header::new(Algorithm::RS256);
        h.x5t_s256 = Some(cert.x5t_s256.clone());
        let claims = json!({"aud": aud, "iss": CERT_APP_ID, "sub": CERT_APP_ID, "jti": "j", "nbf": nbf, "iat": now, "exp": exp});
        let key = EncodingKey::from_rsa_pem(cert.key_pem.as_bytes()).unwrap();
        jsonwebtoken::encode(&h, &claims, &key).unwrap()
    };
    let post = |jwt: String| {
        let url = aud.clone();
        async move {
            post_form(
                &url,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", CERT_APP_ID),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &jwt),
                    ("scope", "api://msal-emulator-web-api/.default"),
                ],
            )
            .await
        }
    };
    for (exp, nbf) in [
        (json!(u64::MAX), json!(now)),
        (json!(u64::MAX - 1), json!(now)),
        // Year 10000: beyond any time Entra represents.
        (json!(253_402_300_800u64), json!(now)),
        (json!(now + 600), json!(u64::MAX)),
    ] {
        let (s, b) = post(sign(exp.clone(), nbf.clone())).await;
        assert_eq!(s, 400, "exp {exp} nbf {nbf}: {b}");
        assert_entra_error(&b, "invalid_client", 700024);
    }
    // The server is still up, and a sane assertion still works.
    let (s, b) = post(sign(json!(now + 600), json!(now))).await;
    assert_eq!(s, 200, "{b}");
}

// 2. The clock.

#[tokio::test]
async fn a_clock_advance_past_100_years_is_refused_and_the_server_keeps_working() {
    let emu = start().await;
    let before = emu.admin().now_unix();
    let (s, b) = admin_post(&emu, "clock/advance", json!({"seconds": u64::MAX})).await;
    assert_eq!(s, 400, "{b}");
    let msg = b["error"].as_str().unwrap();
    assert!(msg.contains("100 years"), "{msg}");
    let (s, b) = admin_post(&emu, "clock/advance", json!({"seconds": HUNDRED_YEARS + 1})).await;
    assert_eq!(s, 400, "{b}");
    // Nothing moved.
    assert!(emu.admin().now_unix() < before + 60);
    let (s, b) = client_credentials_with_secret(&emu).await;
    assert_eq!(s, 200, "{b}");

    // Steps adding up past the limit are refused too; up to it they work.
    let (s, b) = admin_post(&emu, "clock/advance", json!({"seconds": HUNDRED_YEARS / 2})).await;
    assert_eq!(s, 200, "{b}");
    let now = b["now"].as_u64().unwrap();
    assert!(now >= before + HUNDRED_YEARS / 2, "{b}");
    let (s, _) = admin_post(
        &emu,
        "clock/advance",
        json!({"seconds": HUNDRED_YEARS / 2 + 1000}),
    )
    .await;
    assert_eq!(s, 400);
    assert!(emu.admin().now_unix() < now + 60);
    let e = emu
        .admin()
        .try_advance_clock(Duration::from_secs(u64::MAX))
        .unwrap_err();
    assert!(matches!(e, EmulatorError::InvalidRequest(_)), "{e:?}");

    // The infallible call saturates at the limit.
    emu.admin().advance_clock(Duration::MAX);
    let at_limit = emu.admin().now_unix();
    assert!(
        at_limit >= system_now() + HUNDRED_YEARS - 60 && at_limit <= system_now() + HUNDRED_YEARS,
        "{at_limit}"
    );
    let (s, b) = client_credentials_with_secret(&emu).await;
    assert_eq!(s, 200, "{b}");
    let exp = jwt_claims(b["access_token"].as_str().unwrap())["exp"]
        .as_u64()
        .unwrap();
    assert!(exp > at_limit, "{exp}");
}

// 5a. Fault statuses.

#[tokio::test]
async fn status_faults_must_be_final_http_statuses() {
    let emu = start().await;
    for status in [0u16, 100, 103, 199, 600, 999, u16::MAX] {
        let (s, b) = admin_post(
            &emu,
            "faults",
            json!({"endpoint": "token", "fault": {"kind": "status", "status": status}}),
        )
        .await;
        assert_eq!(s, 400, "{status}: {b}");
        let msg = b["error"].as_str().unwrap();
        assert!(msg.contains("between 200 and 599"), "{msg}");
    }
    assert_eq!(emu.admin().pending_faults(Endpoint::Token), 0);
    let e = emu
        .admin()
        .try_inject_fault(
            Endpoint::Token,
            Fault::Status {
                status: 101,
                retry_after_secs: None,
                error: None,
            },
            1,
        )
        .unwrap_err();
    assert!(matches!(e, EmulatorError::InvalidRequest(_)), "{e:?}");

    for status in [200u16, 599] {
        let (s, b) = admin_post(
            &emu,
            "faults",
            json!({"endpoint": "token", "fault": {"kind": "status", "status": status, "error": "x"}}),
        )
        .await;
        assert_eq!(s, 200, "{status}: {b}");
        let (s, b) = client_credentials_with_secret(&emu).await;
        assert_eq!(s, status, "{b}");
        assert_eq!(b["error"], "x");
    }
    // The unchecked in-process call answers 500 instead of a 1xx.
    emu.admin().inject_fault(
        Endpoint::Token,
        Fault::Status {
            status: 100,
            retry_after_secs: None,
            error: None,
        },
        1,
    );
    let (s, b) = client_credentials_with_secret(&emu).await;
    assert_eq!(s, 500, "{b}");
    assert_entra_error(&b, "server_error", 50000);
}

#[tokio::test]
async fn a_huge_fault_count_is_a_count_not_copies() {
    let emu = start().await;
    let (s, b) = admin_post(
        &emu,
        "faults",
        json!({"endpoint": "keys", "fault": {"kind": "internal_server_error"}, "times": u32::MAX}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["pending"].as_u64(), Some(u64::from(u32::MAX)));
    let (s, _) = get_json(&format!("{}/discovery/v2.0/keys", emu.authority(TENANT_ID))).await;
    assert_eq!(s, 500);
    assert_eq!(
        emu.admin().pending_faults(Endpoint::Keys),
        usize::try_from(u32::MAX - 1).unwrap()
    );
}

// 5b. Lifetimes in the configuration.

#[test]
fn lifetimes_out_of_range_are_config_errors_naming_the_field() {
    let cases = [
        ("tokens", "access_token_lifetime_secs", u64::MAX),
        ("tokens", "access_token_lifetime_secs", 0),
        ("tokens", "id_token_lifetime_secs", MAX_LIFETIME_SECS + 1),
        ("tokens", "refresh_token_lifetime_secs", u64::MAX),
        ("tokens", "auth_code_lifetime_secs", 0),
        ("tokens", "ext_expires_extra_secs", u64::MAX),
        ("device_code", "lifetime_secs", u64::MAX),
        ("device_code", "interval_secs", u64::MAX),
    ];
    for (table, field, value) in cases {
        let name = format!("{table}.{field}");
        // TOML integers stop at i64::MAX.
        let toml_value = value.min(i64::MAX.unsigned_abs());
        let toml = format!("include_defaults = true\n[{table}]\n{field} = {toml_value}\n");
        let json = format!(r#"{{"include_defaults": true, "{table}": {{"{field}": {value}}}}}"#);
        for (r, value) in [
            (EmulatorConfig::from_toml_str(&toml), toml_value),
            (EmulatorConfig::from_json_str(&json), value),
        ] {
            match r {
                Err(EmulatorError::InvalidConfig(m)) => {
                    assert!(m.contains(&name) && m.contains(&value.to_string()), "{m}")
                }
                other => panic!("{name} = {value}: {other:?}"),
            }
        }
    }
    // A file's error names the file too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("emulator.toml");
    std::fs::write(&path, "[tokens]\nid_token_lifetime_secs = 0\n").unwrap();
    let m = EmulatorConfig::from_file(&path).unwrap_err().to_string();
    assert!(
        m.contains("emulator.toml") && m.contains("tokens.id_token_lifetime_secs"),
        "{m}"
    );
    // Both ends of the range are fine.
    let ok = format!(
        "[tokens]\naccess_token_lifetime_secs = {MAX_LIFETIME_SECS}\nauth_code_lifetime_secs = 1\next_expires_extra_secs = 0\n[device_code]\ninterval_secs = 0\n"
    );
    EmulatorConfig::from_toml_str(&ok).unwrap();
}

#[test]
fn a_file_starts_empty_and_include_defaults_lists_the_demo_once() {
    let c = EmulatorConfig::from_toml_str("[server]\nport = 0\n").unwrap();
    assert!(c.tenants.is_empty() && c.users.is_empty() && c.apps.is_empty());
    let c = EmulatorConfig::from_json_str(r#"{"include_defaults": true}"#).unwrap();
    assert_eq!(
        c.tenants.len(),
        EmulatorConfig::default().tenants.len(),
        "{:?}",
        c.tenants
    );
    EmulatorState::new(c, &"http://127.0.0.1:1".parse().unwrap()).unwrap();
}

#[tokio::test]
async fn configs_built_in_code_are_checked_at_start() {
    let mut config = EmulatorConfig::default();
    config.tokens.refresh_token_lifetime_secs = u64::MAX;
    match Emulator::start(config).await {
        Err(EmulatorError::InvalidConfig(m)) => {
            assert!(m.contains("tokens.refresh_token_lifetime_secs"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    // The longest lifetimes, 100 years ahead: nothing overflows.
    let mut config = EmulatorConfig::default();
    config.tokens.access_token_lifetime_secs = MAX_LIFETIME_SECS;
    config.tokens.ext_expires_extra_secs = MAX_LIFETIME_SECS;
    let emu = start_with(config).await;
    emu.admin().advance_clock(Duration::MAX);
    let (s, b) = client_credentials_with_secret(&emu).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["ext_expires_in"].as_u64(), Some(2 * MAX_LIFETIME_SECS));
}

// 4. server.bind from the configuration file.

#[tokio::test]
async fn the_binary_binds_the_configured_address_without_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bind.toml");
    // 127.0.0.2 is loopback on Linux but not the flag's default.
    std::fs::write(
        &path,
        "include_defaults = true\n[server]\nbind = \"127.0.0.2\"\nport = 0\n",
    )
    .unwrap();
    let (_child, base) = start_binary([std::ffi::OsStr::new("--config"), path.as_os_str()]).await;
    let base = base.as_str();
    assert!(base.starts_with("http://127.0.0.2:"), "{base:?}");
    let (s, _) = get_json(&format!("{base}/common/discovery/v2.0/keys")).await;
    assert_eq!(s, 200);
}

// 6. Azure Arc key files.

fn key_files(dir: &Path) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "key"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

async fn arc_get(emu: &EmulatorHandle, key: Option<&str>) -> reqwest::Response {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut r = client
        .get(format!(
            "{}{IMDS_PATH}?api-version=2020-06-01&resource=https%3A%2F%2Fvault.azure.net",
            emu.base_url()
        ))
        .header("Metadata", "true");
    if let Some(k) = key {
        r = r.header("Authorization", format!("Basic {k}"));
    }
    r.send().await.unwrap()
}

/// The key file a 401 challenge names.
fn challenged_file(r: &reqwest::Response) -> std::path::PathBuf {
    assert_eq!(r.status(), 401);
    let h = r.headers()["www-authenticate"].to_str().unwrap();
    h.strip_prefix("Basic realm=").unwrap().into()
}

#[tokio::test]
async fn arc_key_files_are_capped_used_once_expired_and_removed_at_shutdown() {
    let emu = start().await;
    let dir = emu.admin().arc_key_directory();
    let first = challenged_file(&arc_get(&emu, None).await);
    let first_key = std::fs::read_to_string(&first).unwrap();
    for _ in 0..69 {
        challenged_file(&arc_get(&emu, None).await);
    }
    assert_eq!(key_files(&dir).len(), 64, "at most 64 pending key files");
    assert!(!first.exists(), "the oldest went first");
    assert_eq!(arc_get(&emu, Some(&first_key)).await.status(), 401);

    // A used key's file is removed.
    let f = challenged_file(&arc_get(&emu, None).await);
    let key = std::fs::read_to_string(&f).unwrap();
    assert_eq!(arc_get(&emu, Some(&key)).await.status(), 200);
    assert!(!f.exists());
    assert_eq!(key_files(&dir).len(), 63);

    // Expired keys are refused, and their files go at the next challenge.
    let stale = challenged_file(&arc_get(&emu, None).await);
    let stale_key = std::fs::read_to_string(&stale).unwrap();
    emu.admin().advance_clock(Duration::from_secs(301));
    assert_eq!(arc_get(&emu, Some(&stale_key)).await.status(), 401);
    let fresh = challenged_file(&arc_get(&emu, None).await);
    assert_eq!(key_files(&dir), vec![fresh.clone()]);

    // Shutting down removes the files and the directory.
    drop(emu);
    assert!(!fresh.exists());
    assert!(!dir.exists(), "{}", dir.display());
}

#[tokio::test]
async fn arc_key_files_go_with_the_state_when_served_without_a_socket() {
    let state = EmulatorState::new(
        EmulatorConfig::default(),
        &"http://127.0.0.1:1".parse().unwrap(),
    )
    .unwrap();
    let dir = state.admin().arc_key_directory();
    let app = msal_emulator::router(state.clone());
    let req = axum::http::Request::builder()
        .uri(format!(
            "{IMDS_PATH}?api-version=2020-06-01&resource=https%3A%2F%2Fvault.azure.net"
        ))
        .header("Metadata", "true")
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(key_files(&dir).len(), 1);
    drop(app);
    drop(state);
    assert!(key_files(&dir).is_empty());
    assert!(!dir.exists());
}

// 7. Managed identity as its own endpoint.

#[tokio::test]
async fn managed_identity_requests_have_their_own_counter_and_faults() {
    let emu = start().await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let imds = format!(
        "{}{IMDS_PATH}?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net",
        emu.base_url()
    );
    let imds_get = || client.get(&imds).header("Metadata", "true").send();
    let (s, b) = admin_post(
        &emu,
        "faults",
        json!({"endpoint": "managed_identity", "fault": {"kind": "service_unavailable", "retry_after_secs": 2}}),
    )
    .await;
    assert_eq!((s, b["pending"].as_u64()), (200, Some(1)), "{b}");
    // Other endpoints do not take it.
    let (s, _) = get_json(&format!("{}/nope", emu.base_url())).await;
    assert_eq!(s, 404);
    assert_eq!(emu.admin().pending_faults(Endpoint::ManagedIdentity), 1);
    let r = imds_get().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "2");
    assert_eq!(imds_get().await.unwrap().status(), 200);

    // Faults queued under `Other` still reach them while none of their own is queued.
    emu.admin()
        .inject_fault(Endpoint::Other, Fault::InternalServerError, 1);
    assert_eq!(imds_get().await.unwrap().status(), 500);
    assert_eq!(imds_get().await.unwrap().status(), 200);

    assert_eq!(emu.admin().request_count(Endpoint::ManagedIdentity), 4);
    assert_eq!(emu.admin().managed_identity_requests(), 4);
    assert_eq!(emu.admin().request_count(Endpoint::Other), 1);
    let (_, counters) = get_json(&format!("{}/_admin/counters", emu.base_url())).await;
    assert_eq!(counters["counters"]["managed_identity"], 4, "{counters}");
    let records = emu.admin().requests();
    assert!(
        records
            .iter()
            .filter(|r| r.endpoint == Endpoint::ManagedIdentity)
            .all(|r| r.path == IMDS_PATH)
    );
}

#[tokio::test]
async fn the_managed_identity_counter_is_not_capped_like_the_request_log() {
    let state = EmulatorState::new(
        EmulatorConfig::default(),
        &"http://127.0.0.1:1".parse().unwrap(),
    )
    .unwrap();
    let app = msal_emulator::router(state.clone());
    let n = 10_050;
    for _ in 0..n {
        // No identity header: App Service's cheap 401.
        let req = axum::http::Request::builder()
            .uri(format!("{APP_SERVICE_PATH}?api-version=2019-08-01"))
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 401);
    }
    let admin = state.admin();
    assert_eq!(admin.requests().len(), 10_000);
    assert_eq!(admin.managed_identity_requests(), n);
    assert_eq!(admin.request_count(Endpoint::ManagedIdentity), n as u64);
}
