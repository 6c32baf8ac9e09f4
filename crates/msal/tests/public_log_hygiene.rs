//! Every token, secret and code a flow handles stays out of the TRACE log
//! and out of every Debug output; personal data too unless PII logging is on.
// The password grant is deprecated; this still exercises it.
#![allow(deprecated)]

mod public_support;

use std::time::Duration;

use msal::PublicClientApplication;
use msal_test_support::{Expect, LogCapture, Reply};
use public_support::*;

const SECRETS: &[&str] = &[
    "SECRET-AT-1",
    "SECRET-RT-1",
    "SECRET-AT-2",
    "SECRET-RT-2",
    "SECRET-PASSWORD",
    "SECRET-DEVICE-CODE",
];

#[tokio::test]
async fn no_secret_reaches_logs_or_debug_output() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let s = setup();
    let mut debug = String::new();

    // Username/password sign-in.
    expect_metadata(&s.http, &s.tenant);
    let first_body = token_json("SECRET-AT-1", "SECRET-RT-1", &s.tenant, 3600, None);
    let id_token = serde_json::from_str::<serde_json::Value>(&first_body).unwrap()["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    s.http.expect(
        Expect::post(&token_url(&s.tenant)),
        Reply::json(200, &first_body),
    );
    let request = s.app.acquire_token_by_username_password(
        &["User.Read"],
        "ada@contoso.example",
        msal::secret::Password::new("SECRET-PASSWORD"),
    );
    debug.push_str(&format!("{request:?}"));
    let r = request.await.unwrap();
    debug.push_str(&format!("{r:?}{:?}{:?}", r.id_token(), r.id_token_claims()));
    let account = r.account().unwrap().clone();

    // Silent refresh, then a refused one.
    s.clock.advance(Duration::from_secs(3601));
    s.http.expect(
        refresh_post(&s.tenant, "SECRET-RT-1"),
        Reply::json(
            200,
            &token_json("SECRET-AT-2", "SECRET-RT-2", &s.tenant, 3600, None),
        ),
    );
    let request = s.app.acquire_token_silent(&["User.Read"], &account);
    debug.push_str(&format!("{request:?}"));
    debug.push_str(&format!("{:?}", request.await.unwrap()));
    s.clock.advance(Duration::from_secs(3601));
    s.http.expect(
        refresh_post(&s.tenant, "SECRET-RT-2"),
        Reply::json(400, r#"{"error":"invalid_grant","error_description":"AADSTS700082: expired","suberror":"bad_token"}"#),
    );
    debug.push_str(&format!(
        "{:?}",
        s.app
            .acquire_token_silent(&["User.Read"], &account)
            .await
            .unwrap_err()
    ));

    // Device code: the device code is a secret; polling errors are logged.
    s.http.expect(
        Expect::post(&format!("{HOST}/{}/oauth2/v2.0/devicecode", s.tenant)),
        Reply::json(200, r#"{"device_code":"SECRET-DEVICE-CODE","user_code":"UC","verification_uri":"https://v","expires_in":60,"interval":1}"#),
    );
    s.http.expect(
        Expect::post(&token_url(&s.tenant)),
        Reply::json(400, r#"{"error":"authorization_pending"}"#),
    );
    s.http.expect(
        Expect::post(&token_url(&s.tenant)),
        Reply::json(400, r#"{"error":"expired_token"}"#),
    );
    let e = s
        .app
        .acquire_token_with_device_code(&["User.Read"], |_| {})
        .await
        .unwrap_err();
    debug.push_str(&format!(
        "{e:?}{:?}{:?}",
        s.app,
        s.app.accounts().await.unwrap()
    ));
    s.http.assert_consumed();

    let log = logs.contents();
    assert!(log.contains("http response"), "the capture works: {log}");
    for secret in SECRETS.iter().copied().chain([id_token.as_str()]) {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
        assert!(
            !debug.contains(secret),
            "{secret} in Debug output:\n{debug}"
        );
    }
    // No PII in logs without opt-in.
    assert!(!log.contains("ada@contoso.example"), "{log}");
    assert!(!log.contains(UID), "{log}");
}

#[tokio::test]
async fn pii_logging_is_opt_in() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let s = setup();
    let app = PublicClientApplication::builder(CLIENT_ID)
        .authority(format!("{HOST}/{}", s.tenant))
        .http_client(s.http.clone())
        .clock(s.clock.clone())
        .enable_pii_logging(true)
        .build()
        .unwrap();
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        Expect::post(&token_url(&s.tenant)),
        Reply::json(
            200,
            &token_json("SECRET-AT-1", "SECRET-RT-1", &s.tenant, 3600, None),
        ),
    );
    let r = app
        .acquire_token_by_username_password(
            &["User.Read"],
            "ada@contoso.example",
            msal::secret::Password::new("SECRET-PASSWORD"),
        )
        .await
        .unwrap();
    let account = r.account().unwrap().clone();
    app.acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap();
    let log = logs.contents();
    assert!(log.contains(account.home_account_id()), "{log}");
    for secret in SECRETS {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}
