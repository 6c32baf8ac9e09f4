//! Injected faults (Rust and HTTP admin API) and malformed requests.

mod common;

use std::time::Instant;

use common::*;
use msal_emulator::{Endpoint, Fault};
use serde_json::{Value, json};

fn cc_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", DAEMON_APP_ID),
        ("client_secret", DAEMON_SECRET),
        ("scope", "https://graph.microsoft.com/.default"),
    ]
}

async fn raw_token(emu: &msal_emulator::EmulatorHandle) -> reqwest::Response {
    http()
        .post(token_url(emu, TENANT_ID))
        .form(&cc_form())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn throttling_and_server_errors_then_recovery() {
    let emu = start().await;
    let admin = emu.admin();
    admin.inject_fault(
        Endpoint::Token,
        Fault::TooManyRequests {
            retry_after_secs: 7,
        },
        2,
    );
    admin.inject_fault(
        Endpoint::Token,
        Fault::ServiceUnavailable {
            retry_after_secs: Some(3),
        },
        1,
    );
    admin.inject_fault(Endpoint::Token, Fault::InternalServerError, 1);
    for _ in 0..2 {
        let r = raw_token(&emu).await;
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "7");
        let b: Value = r.json().await.unwrap();
        assert_entra_error(&b, "temporarily_unavailable", 90055);
    }
    let r = raw_token(&emu).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "3");
    let r = raw_token(&emu).await;
    assert_eq!(r.status(), 500);
    let b: Value = r.json().await.unwrap();
    assert_entra_error(&b, "server_error", 50000);
    assert_eq!(raw_token(&emu).await.status(), 200, "faults are used up");
    assert_eq!(admin.request_count(Endpoint::Token), 5);
    assert_eq!(admin.requests().iter().filter(|r| r.faulted).count(), 4);
    assert_eq!(admin.pending_faults(Endpoint::Token), 0);
}

#[tokio::test]
async fn malformed_json_large_body_and_delay() {
    let emu = start().await;
    let admin = emu.admin();
    admin.inject_fault(Endpoint::Token, Fault::MalformedJson, 1);
    let r = raw_token(&emu).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let text = r.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    admin.inject_fault(
        Endpoint::OpenidConfiguration,
        Fault::LargeBody { bytes: 5 << 20 },
        1,
    );
    let r = http()
        .get(format!(
            "{}/v2.0/.well-known/openid-configuration",
            emu.authority("common")
        ))
        .send()
        .await
        .unwrap();
    let bytes = r.bytes().await.unwrap();
    assert!(
        bytes.len() >= 5 << 20 && bytes.len() < (5 << 20) + 64,
        "{}",
        bytes.len()
    );
    assert!(serde_json::from_slice::<Value>(&bytes).is_ok());

    admin.inject_fault(Endpoint::Token, Fault::Delay { millis: 300 }, 1);
    let t = Instant::now();
    assert_eq!(
        raw_token(&emu).await.status(),
        200,
        "a delay then a normal answer"
    );
    assert!(t.elapsed().as_millis() >= 300);

    admin.inject_fault(
        Endpoint::Keys,
        Fault::Status {
            status: 502,
            retry_after_secs: None,
            error: None,
        },
        1,
    );
    let (s, _) = get_json(&format!("{}/discovery/v2.0/keys", emu.authority("common"))).await;
    assert_eq!(s, 502);
    admin.inject_fault(Endpoint::Keys, Fault::InternalServerError, 3);
    admin.clear_faults();
    let (s, _) = get_json(&format!("{}/discovery/v2.0/keys", emu.authority("common"))).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn admin_http_api_drives_faults_devices_revocation_and_clock() {
    let emu = start().await;
    let admin_url = |p: &str| format!("{}/_admin{p}", emu.base_url());
    let c = http();
    let r = c.post(admin_url("/faults")).json(&json!({"endpoint": "token", "fault": {"kind": "too_many_requests", "retry_after_secs": 2}, "times": 1})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(raw_token(&emu).await.status(), 429);
    let r = c
        .post(admin_url("/faults"))
        .json(&json!({"endpoint": "nope", "fault": {"kind": "delay", "millis": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .post(admin_url("/faults"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Device code approval over HTTP.
    let (_, dc) = post_form(
        &format!("{}/oauth2/v2.0/devicecode", emu.authority(TENANT_ID)),
        &[
            ("client_id", CLI_APP_ID),
            ("scope", "openid offline_access User.Read"),
        ],
    )
    .await;
    let (_, list) = get_json(&admin_url("/device-codes")).await;
    assert_eq!(list[0]["status"], "pending");
    let r = c
        .post(admin_url("/device-codes/approve"))
        .json(&json!({"username": USER}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let approved: Value = r.json().await.unwrap();
    assert_eq!(approved["user_code"], dc["user_code"]);
    let r = c
        .post(admin_url("/device-codes/approve"))
        .json(&json!({"username": USER}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "nothing pending any more");
    let (s, tokens) = post_form(
        &token_url(&emu, TENANT_ID),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", CLI_APP_ID),
            ("device_code", dc["device_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(s, 200);

    // Revocation over HTTP.
    let r = c
        .post(admin_url(&format!("/users/{USER}/revoke")))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["revoked"], 1);
    let (_, b) = post_form(
        &token_url(&emu, TENANT_ID),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLI_APP_ID),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_entra_error(&b, "invalid_grant", 50173);
    let r = c
        .post(admin_url("/users/nobody@x/revoke"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Forced interaction over HTTP, then cleared.
    let fresh = ada_tokens(&emu, "offline_access User.Read").await;
    let rt = fresh["refresh_token"].as_str().unwrap();
    c.post(admin_url("/interaction-required"))
        .json(&json!({"username": USER, "claims": "{\"id_token\":{\"acr\":{\"essential\":true}}}"}))
        .send()
        .await
        .unwrap();
    let (_, b) = post_form(
        &token_url(&emu, TENANT_ID),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLI_APP_ID),
            ("refresh_token", rt),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_eq!(b["error"], "interaction_required");
    assert_eq!(b["claims"], "{\"id_token\":{\"acr\":{\"essential\":true}}}");
    c.delete(admin_url("/interaction-required"))
        .send()
        .await
        .unwrap();
    let (s, _) = post_form(
        &token_url(&emu, TENANT_ID),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLI_APP_ID),
            ("refresh_token", rt),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_eq!(s, 200);

    // Clock.
    let before = emu.admin().now_unix();
    let r = c
        .post(admin_url("/clock/advance"))
        .json(&json!({"seconds": 1000}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert!(v["now"].as_u64().unwrap() >= before + 1000);

    // Counters and reset.
    let (_, counters) = get_json(&admin_url("/counters")).await;
    assert!(counters["counters"]["token"].as_u64().unwrap() >= 4);
    c.post(admin_url("/counters/reset")).send().await.unwrap();
    let (_, counters) = get_json(&admin_url("/counters")).await;
    assert_eq!(counters["total"], 0);
}

#[tokio::test]
async fn malformed_token_requests_get_entra_400s() {
    let emu = start().await;
    let url = token_url(&emu, TENANT_ID);
    let send = |body: &'static [u8], ct: &'static str| {
        let url = url.clone();
        async move {
            let r = http()
                .post(url)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let form = "application/x-www-form-urlencoded";
    let (s, b) = send(b"", form).await;
    assert_eq!(s, 400);
    assert_entra_error(&b, "invalid_request", 900144);
    let (_, b) = send(b"grant_type=password&grant_type=password", form).await;
    assert_entra_error(&b, "invalid_request", 9000411);
    let (_, b) = send(b"grant_type=magic", form).await;
    assert_entra_error(&b, "unsupported_grant_type", 70003);
    let (_, b) = send(b"grant_type=password&client_id=\xff\xfe", form).await;
    assert_eq!(b["error"], "unauthorized_client");
    let (_, b) = send(
        br#"{"grant_type":"client_credentials"}"#,
        "application/json",
    )
    .await;
    assert_entra_error(&b, "invalid_request", 900144);
    let (_, b) = send(
        b"grant_type=refresh_token&client_id=c11c11c1-0000-4000-8000-00000000c11a",
        form,
    )
    .await;
    assert_entra_error(&b, "invalid_request", 900144);
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .contains("'refresh_token'")
    );
    let (_, b) = send(
        b"grant_type=authorization_code&client_id=c11c11c1-0000-4000-8000-00000000c11a&code=nope",
        form,
    )
    .await;
    assert_entra_error(&b, "invalid_grant", 70000);
    // A client-request-id GUID is echoed as the correlation id.
    let r = http()
        .post(&url)
        .header("client-request-id", "0c1d2e3f-0000-4000-8000-000000000abc")
        .form(&[("grant_type", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["client-request-id"],
        "0c1d2e3f-0000-4000-8000-000000000abc"
    );
    assert!(r.headers().contains_key("x-ms-request-id"));
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["correlation_id"], "0c1d2e3f-0000-4000-8000-000000000abc");
}
