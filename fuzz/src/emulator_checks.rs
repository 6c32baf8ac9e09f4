//! What the emulator's fuzz target does with one input: send it to the
//! token endpoint through the real router (no socket) and check the answer.
//!
//! Compiled into the `emulator_token` fuzz target (via the `msal_fuzz`
//! library) and into `crates/msal-emulator/tests/fuzz_corpus_replay.rs`.

use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use msal_emulator::{EmulatorConfig, EmulatorState, defaults, router};
use tower::ServiceExt as _;

/// The emulator's fuzz target by name (its corpus directory).
pub const TARGET: &str = "emulator_token";

/// Tenant path segments the first byte picks from (known, multi-tenant,
/// unknown, malformed).
const TENANTS: [&str; 8] = [
    defaults::TENANT_ID,
    defaults::TENANT_DOMAIN,
    "common",
    "organizations",
    "consumers",
    defaults::SECOND_TENANT_ID,
    "00000000-0000-0000-0000-000000000000",
    "no%20such%2Ftenant",
];

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    static STATE: EmulatorState = EmulatorState::new(
        EmulatorConfig::default(),
        &"http://127.0.0.1:1".parse().expect("a URL"),
    )
    .expect("the default emulator state");
}

/// Sends one token request. First byte: bits 0-2 the tenant, bit 3: the
/// body's first line is an `Authorization` header (client_secret_basic),
/// bit 4: a GET instead of a POST, bit 5: no form content type. The rest is
/// the form body.
///
/// Whatever it is, the emulator answers like Entra: never a 5xx, always a
/// JSON body that is a token response (200) or an Entra error (4xx) with
/// `error`, `error_description` and `error_codes`.
pub fn token_request(data: &[u8]) {
    let (flags, rest) = match data.split_first() {
        Some((&b, rest)) => (b, rest),
        None => (0, &[][..]),
    };
    let tenant = TENANTS[usize::from(flags & 7)];
    let (authorization, body) = if flags & 8 != 0 {
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (Some(rest), &[][..]),
        }
    } else {
        (None, rest)
    };
    let method = if flags & 16 != 0 {
        Method::GET
    } else {
        Method::POST
    };
    let mut req = Request::builder()
        .method(method)
        .uri(format!("/{tenant}/oauth2/v2.0/token"))
        .header(header::HOST, "127.0.0.1:1");
    if flags & 32 == 0 {
        req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    if let Some(a) = authorization {
        match http::HeaderValue::from_bytes(a) {
            Ok(v) => req = req.header(header::AUTHORIZATION, v),
            // Not a header value: nothing a client could send.
            Err(_) => return,
        }
    }
    let req = req.body(Body::from(body.to_vec())).expect("a request");
    let (status, bytes) = STATE.with(|state| {
        RUNTIME.with(|rt| {
            rt.block_on(async {
                let resp = router(state.clone())
                    .oneshot(req)
                    .await
                    .expect("the router is infallible");
                let status = resp.status();
                let bytes = to_bytes(resp.into_body(), 16 << 20)
                    .await
                    .expect("a readable body");
                (status, bytes)
            })
        })
    });
    assert!(
        !status.is_server_error(),
        "HTTP {status} for a client's request: {}",
        String::from_utf8_lossy(&bytes)
    );
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("HTTP {status} with a body that is not JSON ({e})"));
    if status == StatusCode::OK {
        assert!(
            v["access_token"].is_string() || v["id_token"].is_string(),
            "a 200 without a token: {v}"
        );
        assert_eq!(v["token_type"], "Bearer");
    } else {
        assert!(status.is_client_error(), "HTTP {status}");
        assert!(v["error"].is_string(), "an error without `error`: {v}");
        assert!(v["error_description"].is_string(), "{v}");
        assert!(v["error_codes"].is_array(), "{v}");
    }
}
