//! Device-code flow against FakeHttp and a ManualClock: polling cadence
//! (interval, slow_down), the terminal errors, cancellation.

mod public_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use msal::Error;
use msal::clock::Clock;
use msal_test_support::{Expect, Reply};
use public_support::*;

fn device_json(expires_in: u64, interval: u64) -> String {
    format!(
        r#"{{"device_code":"SECRET-DEVICE-CODE","user_code":"ABCD-EFGH","verification_uri":"https://microsoft.com/devicelogin","expires_in":{expires_in},"interval":{interval},"message":"Go to https://microsoft.com/devicelogin and enter ABCD-EFGH"}}"#
    )
}

fn devicecode_url(tenant: &str) -> String {
    format!("{HOST}/{tenant}/oauth2/v2.0/devicecode")
}

fn poll() -> Expect {
    Expect::post("") // replaced per test with the tenant's URL
}

fn poll_for(tenant: &str) -> Expect {
    let _ = poll();
    Expect::post(&token_url(tenant))
        .form("grant_type", "urn:ietf:params:oauth:grant-type:device_code")
        .form("device_code", "SECRET-DEVICE-CODE")
        .form("client_id", CLIENT_ID)
        .form("client_info", "1")
}

fn pending(code: &str) -> Reply {
    Reply::json(
        400,
        &format!(r#"{{"error":"{code}","error_description":"AADSTS70016: pending"}}"#),
    )
}

#[tokio::test]
async fn polls_on_the_interval_and_slows_down_then_succeeds() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        Expect::post(&devicecode_url(&s.tenant))
            .form("client_id", CLIENT_ID)
            .form("scope", "User.Read offline_access openid profile"),
        Reply::json(200, &device_json(900, 5)),
    );
    s.http
        .expect(poll_for(&s.tenant), pending("authorization_pending"));
    s.http.expect(poll_for(&s.tenant), pending("slow_down"));
    s.http
        .expect(poll_for(&s.tenant), pending("authorization_pending"));
    s.http.expect(
        poll_for(&s.tenant),
        Reply::json(200, &token_json("AT-1", "RT-1", &s.tenant, 3600, None)),
    );
    let shown = Arc::new(Mutex::new(None));
    let seen = shown.clone();
    let r = s
        .app
        .acquire_token_with_device_code(&["User.Read"], move |info| {
            *seen.lock().unwrap() = Some(info.clone());
        })
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "AT-1");
    let info = shown.lock().unwrap().clone().unwrap();
    assert_eq!(info.user_code, "ABCD-EFGH");
    assert_eq!(info.expires_in, Duration::from_secs(900));
    assert!(info.message.contains("ABCD-EFGH"));
    // 5 s, 5 s (slow_down answered), then 10 s twice.
    assert_eq!(s.clock.unix_now() - NOW as i64, 30);
    s.http.assert_consumed();
}

#[tokio::test]
async fn expired_and_declined_codes_are_cancellations() {
    for (code, needle) in [
        ("expired_token", "expired"),
        ("access_denied", "declined"),
        ("authorization_declined", "declined"),
    ] {
        let s = setup();
        expect_metadata(&s.http, &s.tenant);
        s.http.expect(
            Expect::post(&devicecode_url(&s.tenant)),
            Reply::json(200, &device_json(900, 1)),
        );
        s.http.expect(poll_for(&s.tenant), pending(code));
        let e = s
            .app
            .acquire_token_with_device_code(&["User.Read"], |_| {})
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Cancelled(m) if m.contains(needle)),
            "{code}: {e:?}"
        );
        s.http.assert_consumed();
    }
}

#[tokio::test]
async fn stops_polling_when_the_code_expires_locally() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        Expect::post(&devicecode_url(&s.tenant)),
        Reply::json(200, &device_json(12, 5)),
    );
    s.http
        .expect(poll_for(&s.tenant), pending("authorization_pending"));
    s.http
        .expect(poll_for(&s.tenant), pending("authorization_pending"));
    let e = s
        .app
        .acquire_token_with_device_code(&["User.Read"], |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Cancelled(m) if m.contains("expired")),
        "{e:?}"
    );
    assert_eq!(s.http.request_count(), 4, "no poll after the code expired");
    s.http.assert_consumed();
}

#[tokio::test]
async fn other_errors_map_to_typed_errors() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        Expect::post(&devicecode_url(&s.tenant)),
        Reply::json(200, &device_json(900, 1)),
    );
    s.http.expect(
        poll_for(&s.tenant),
        Reply::json(
            400,
            r#"{"error":"invalid_grant","suberror":"consent_required"}"#,
        ),
    );
    let e = s
        .app
        .acquire_token_with_device_code(&["User.Read"], |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::UiRequired { suberror: Some(x), .. } if x == "consent_required"),
        "{e:?}"
    );

    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        Expect::post(&devicecode_url(&s.tenant)),
        Reply::json(400, r#"{"error":"invalid_client","error_description":"AADSTS7000218: public client flows disabled"}"#),
    );
    let e = s
        .app
        .acquire_token_with_device_code(&["User.Read"], |_| panic!("no code to show"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Service(se) if se.error == "invalid_client"),
        "{e:?}"
    );

    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        Expect::post(&devicecode_url(&s.tenant)),
        Reply::json(200, r#"{"user_code":"X"}"#),
    );
    let e = s
        .app
        .acquire_token_with_device_code(&["User.Read"], |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
}

#[tokio::test]
async fn cancel_signal_stops_the_flow() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        Expect::post(&devicecode_url(&s.tenant)),
        Reply::json(200, &device_json(900, 5)),
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = Mutex::new(Some(tx));
    let e = s
        .app
        .acquire_token_with_device_code(&["User.Read"], move |_| {
            // The user closes the prompt as soon as it is shown.
            if let Some(tx) = tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
        })
        .cancel_on(async move {
            let _ = rx.await;
        })
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled(_)), "{e:?}");
    s.http.assert_consumed();
}

#[tokio::test]
async fn reserved_scopes_are_rejected_before_any_request() {
    let s = setup();
    let e = s
        .app
        .acquire_token_with_device_code(&["openid"], |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    assert_eq!(s.http.request_count(), 0);
}

#[tokio::test]
async fn pending_sent_with_a_200_and_short_outages_keep_the_flow_polling() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        Expect::post(&devicecode_url(&s.tenant)),
        Reply::json(200, &device_json(900, 5)),
    );
    // Some providers answer authorization_pending with a 200.
    s.http.expect(
        poll_for(&s.tenant),
        Reply::json(200, r#"{"error":"authorization_pending"}"#),
    );
    // No connection (the transport retries once), then a busy server.
    for _ in 0..2 {
        s.http.expect(
            poll_for(&s.tenant),
            Reply::fail(msal::http::TransportErrorKind::Connect, "reset"),
        );
    }
    for _ in 0..2 {
        s.http.expect(
            poll_for(&s.tenant),
            Reply::json(503, r#"{"error":"temporarily_unavailable"}"#),
        );
    }
    s.http.expect(
        poll_for(&s.tenant),
        Reply::json(200, &token_json("AT-1", "RT-1", &s.tenant, 3600, None)),
    );
    let r = s
        .app
        .acquire_token_with_device_code(&["User.Read"], |_| {})
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "AT-1");
    s.http.assert_consumed();
}

#[tokio::test]
async fn a_server_that_stays_down_ends_the_flow_with_its_error() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        Expect::post(&devicecode_url(&s.tenant)),
        Reply::json(200, &device_json(900, 5)),
    );
    for _ in 0..40 {
        s.http.expect(
            poll_for(&s.tenant),
            Reply::json(500, r#"{"error":"server_error"}"#),
        );
    }
    let e = s
        .app
        .acquire_token_with_device_code(&["User.Read"], |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Service(se) if se.status == Some(500)),
        "{e:?}"
    );
    // Polls ridden out, each retried once by the transport, then the last.
    assert!(s.http.request_count() < 2 + 40, "gave up");
}
