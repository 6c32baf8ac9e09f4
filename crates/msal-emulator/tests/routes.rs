//! `router()` driven with `oneshot` (no socket), and property tests: no
//! request body, query or path makes any endpoint answer 5xx or panic.

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use msal_emulator::{EmulatorConfig, EmulatorState, Endpoint, defaults, router};
use proptest::prelude::*;
use serde_json::Value;
use tower::ServiceExt as _;

fn state() -> EmulatorState {
    EmulatorState::new(
        EmulatorConfig::default(),
        &"http://127.0.0.1:1".parse().unwrap(),
    )
    .unwrap()
}

async fn call(state: &EmulatorState, req: Request<Body>) -> (StatusCode, Vec<u8>) {
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    (
        status,
        to_bytes(resp.into_body(), 128 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
}

fn post(path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header("host", "127.0.0.1:1")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.into())
        .unwrap()
}

#[tokio::test]
async fn oneshot_client_credentials_and_counters() {
    let s = state();
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
        defaults::DAEMON_APP_ID,
        defaults::DAEMON_SECRET
    );
    let (status, bytes) = call(
        &s,
        post(&format!("/{}/oauth2/v2.0/token", defaults::TENANT_ID), body),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(v["access_token"].as_str().unwrap().split('.').count() == 3);
    assert_eq!(s.admin().request_count(Endpoint::Token), 1);
    let req = Request::get("/common/v2.0/.well-known/openid-configuration")
        .header("host", "login.example:8443")
        .body(Body::empty())
        .unwrap();
    let (status, bytes) = call(&s, req).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        v["token_endpoint"], "http://login.example:8443/common/oauth2/v2.0/token",
        "endpoints follow the Host header"
    );
    // A hostile Host header is not reflected.
    let req = Request::get("/common/v2.0/.well-known/openid-configuration")
        .header("host", "a\"b<c>")
        .body(Body::empty())
        .unwrap();
    let (_, bytes) = call(&s, req).await;
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        v["token_endpoint"],
        "http://127.0.0.1:1/common/oauth2/v2.0/token"
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused_cleanly() {
    let s = state();
    let (status, bytes) = call(&s, post("/common/oauth2/v2.0/token", vec![b'a'; 2 << 20])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS")
    );
}

const PATHS: [&str; 9] = [
    "/common/oauth2/v2.0/token",
    "/5f2c7a1e-3b9d-4c6a-8e4f-1a2b3c4d5e6f/oauth2/v2.0/token",
    "/organizations/oauth2/v2.0/devicecode",
    "/common/oauth2/v2.0/authorize",
    "/_signin/login",
    "/_signin/consent",
    "/devicelogin",
    "/common/oauth2/v2.0/logout",
    "/common/discovery/instance",
];

fn param_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("grant_type".to_string()),
        Just("client_id".to_string()),
        Just("client_secret".to_string()),
        Just("scope".to_string()),
        Just("code".to_string()),
        Just("refresh_token".to_string()),
        Just("device_code".to_string()),
        Just("username".to_string()),
        Just("password".to_string()),
        Just("assertion".to_string()),
        Just("client_assertion".to_string()),
        Just("client_assertion_type".to_string()),
        Just("requested_token_use".to_string()),
        Just("redirect_uri".to_string()),
        Just("code_verifier".to_string()),
        Just("response_type".to_string()),
        Just("flow".to_string()),
        Just("otc".to_string()),
        "[a-z_]{0,12}",
    ]
}

fn param_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("client_credentials".to_string()),
        Just("refresh_token".to_string()),
        Just("authorization_code".to_string()),
        Just("password".to_string()),
        Just("urn:ietf:params:oauth:grant-type:device_code".to_string()),
        Just("urn:ietf:params:oauth:grant-type:jwt-bearer".to_string()),
        Just("urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string()),
        Just(defaults::CLI_APP_ID.to_string()),
        Just(defaults::DAEMON_APP_ID.to_string()),
        Just(defaults::WEB_API_APP_ID.to_string()),
        Just(defaults::DAEMON_SECRET.to_string()),
        Just(defaults::USER.to_string()),
        Just("openid offline_access User.Read".to_string()),
        Just("api://msal-emulator-web-api/.default".to_string()),
        Just("eyJhbGciOiJSUzI1NiJ9.e30.AAAA".to_string()),
        Just("on_behalf_of".to_string()),
        Just("code".to_string()),
        ".{0,40}",
    ]
}

fn form_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::collection::vec((param_name(), param_value()), 0..8).prop_map(|pairs| {
            url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes()
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..300),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn no_request_makes_the_emulator_fail(path_i in 0..PATHS.len(), body in form_body(), get in any::<bool>(), q in proptest::collection::vec((param_name(), param_value()), 0..6)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let s = STATE.with(|s| s.clone());
            let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(q).finish();
            let uri = format!("{}?{}", PATHS[path_i], query);
            let req = if get {
                Request::get(&uri).header("host", "127.0.0.1:1").body(Body::empty()).unwrap()
            } else {
                post(&uri, body.clone())
            };
            let (status, bytes) = call(&s, req).await;
            prop_assert!(!status.is_server_error(), "{status} for {uri}: {}", String::from_utf8_lossy(&bytes));
            if (status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED)
                && let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                    let desc = v["error_description"].as_str().unwrap_or("");
                    prop_assert!(desc.starts_with("AADSTS"), "{v}");
                    prop_assert!(v["error"].is_string() && v["error_codes"].is_array());
                }
            Ok(())
        })?;
    }
}

thread_local! {
    // One state per test thread: key generation is the slow part.
    static STATE: EmulatorState = state();
}
