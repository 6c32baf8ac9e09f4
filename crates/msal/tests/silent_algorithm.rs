//! acquire_token_silent against FakeHttp + ManualClock (spec §5.1):
//! cache hit, the 5-minute buffer, proactive refresh with fallback,
//! force_refresh, claims, invalid_grant, RT rotation, empty cache.
// The password grant is deprecated; this still exercises it.
#![allow(deprecated)]

mod public_support;

use std::time::Duration;

use msal::error::UiRequiredReason;
use msal::{Error, TokenSource};
use msal_test_support::Reply;
use public_support::*;

#[tokio::test]
async fn a_valid_cached_token_needs_no_request() {
    let s = setup();
    let (first, account) =
        sign_in(&s, true, &token_json("AT-1", "RT-1", &s.tenant, 3600, None)).await;
    assert_eq!(first.source(), TokenSource::IdentityProvider);
    assert_eq!(account.username(), "ada@contoso.example");
    assert_eq!(account.home_account_id(), format!("{UID}.{}", s.tenant));
    s.clock.advance(Duration::from_secs(3600 - 300));
    let r = s
        .app
        .acquire_token_silent(&["user.read"], &account)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "AT-1");
    assert_eq!(r.source(), TokenSource::Cache);
    assert_eq!(
        r.account().unwrap().home_account_id(),
        account.home_account_id()
    );
    assert_eq!(r.tenant_id(), Some(s.tenant.as_str()));
    assert!(r.id_token_claims().is_some());
    assert_eq!(s.http.request_count(), 2, "metadata + sign-in only");
    s.http.assert_consumed();
}

#[tokio::test]
async fn inside_the_buffer_the_refresh_token_is_redeemed_and_rotated() {
    let s = setup();
    let (_, account) = sign_in(&s, true, &token_json("AT-1", "RT-1", &s.tenant, 3600, None)).await;
    s.clock.advance(Duration::from_secs(3600 - 299));
    s.http.expect(
        refresh_post(&s.tenant, "RT-1")
            .header("x-anchormailbox", &format!("Oid:{UID}@{}", s.tenant)),
        Reply::json(200, &token_json("AT-2", "RT-2", &s.tenant, 3600, None)),
    );
    let r = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "AT-2");
    assert_eq!(r.source(), TokenSource::IdentityProvider);
    // The next refresh uses the rotated RT.
    s.clock.advance(Duration::from_secs(3600));
    s.http.expect(
        refresh_post(&s.tenant, "RT-2"),
        Reply::json(200, &token_json("AT-3", "RT-3", &s.tenant, 3600, None)),
    );
    let r = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "AT-3");
    assert_eq!(s.app.accounts().await.unwrap().len(), 1);
    s.http.assert_consumed();
}

#[tokio::test]
async fn after_refresh_on_a_failed_refresh_returns_the_old_token() {
    let s = setup();
    let mut body: serde_json::Value =
        serde_json::from_str(&token_json("AT-1", "RT-1", &s.tenant, 3600, None)).unwrap();
    body["refresh_in"] = 1800.into();
    let (first, account) = sign_in(&s, true, &body.to_string()).await;
    assert_eq!(
        first.refresh_on(),
        Some(std::time::UNIX_EPOCH + Duration::from_secs(NOW + 1800))
    );
    s.clock.advance(Duration::from_secs(1801));
    s.http.expect(
        refresh_post(&s.tenant, "RT-1"),
        Reply::json(400, r#"{"error":"invalid_grant","suberror":"bad_token"}"#),
    );
    let r = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "AT-1");
    assert_eq!(r.source(), TokenSource::Cache);
    // A successful proactive refresh replaces it.
    s.clock.advance(Duration::from_secs(200)); // past the 120 s invalid_grant replay window
    s.http.expect(
        refresh_post(&s.tenant, "RT-1"),
        Reply::json(200, &token_json("AT-2", "RT-2", &s.tenant, 3600, None)),
    );
    let r = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "AT-2");
    s.http.assert_consumed();
}

#[tokio::test]
async fn force_refresh_and_claims_skip_the_cached_token() {
    let s = setup();
    let (_, account) = sign_in(&s, true, &token_json("AT-1", "RT-1", &s.tenant, 3600, None)).await;
    s.http.expect(
        refresh_post(&s.tenant, "RT-1").no_form("claims"),
        Reply::json(200, &token_json("AT-2", "RT-2", &s.tenant, 3600, None)),
    );
    let r = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .force_refresh(true)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "AT-2");
    let challenge = r#"{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}"#;
    s.http.expect(
        refresh_post(&s.tenant, "RT-2").form("claims", challenge),
        Reply::json(200, &token_json("AT-3", "RT-3", &s.tenant, 3600, None)),
    );
    let r = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .claims(challenge)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "AT-3");
    s.http.assert_consumed();
}

#[tokio::test]
async fn client_capabilities_ride_in_the_claims_of_every_request() {
    let http = msal_test_support::FakeHttp::new();
    let tenant = unique_tenant();
    let app = msal::PublicClientApplication::builder(CLIENT_ID)
        .authority(format!("{HOST}/{tenant}"))
        .http_client(http.clone())
        .clock(std::sync::Arc::new(msal::clock::ManualClock::at_unix(NOW)))
        .client_capabilities(["cp1"])
        .build()
        .unwrap();
    let s = Setup {
        http,
        clock: std::sync::Arc::new(msal::clock::ManualClock::at_unix(NOW)),
        tenant: tenant.clone(),
        app,
    };
    expect_metadata(&s.http, &tenant);
    s.http.expect(
        msal_test_support::Expect::post(&token_url(&tenant)).form(
            "claims",
            r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#,
        ),
        Reply::json(200, &token_json("AT-1", "RT-1", &tenant, 3600, None)),
    );
    let r = s
        .app
        .acquire_token_by_username_password(
            &["User.Read"],
            "ada@contoso.example",
            msal::secret::Password::new("pw"),
        )
        .await
        .unwrap();
    let account = r.account().unwrap().clone();
    s.http.expect(
        refresh_post(&tenant, "RT-1").form(
            "claims",
            r#"{"access_token":{"nbf":1,"xms_cc":{"values":["cp1"]}}}"#,
        ),
        Reply::json(200, &token_json("AT-2", "RT-2", &tenant, 3600, None)),
    );
    let r = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .claims(r#"{"access_token":{"nbf":1}}"#)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "AT-2");
    s.http.assert_consumed();
}

#[tokio::test]
async fn invalid_grant_is_ui_required_with_suberror_and_claims_and_keeps_the_rt() {
    let s = setup();
    let (_, account) = sign_in(&s, true, &token_json("AT-1", "RT-1", &s.tenant, 3600, None)).await;
    s.clock.advance(Duration::from_secs(4000));
    s.http.expect(
        refresh_post(&s.tenant, "RT-1"),
        Reply::json(400, r#"{"error":"invalid_grant","error_description":"AADSTS50076: MFA","suberror":"basic_action","claims":"{\"access_token\":{\"capolids\":{\"essential\":true}}}"}"#),
    );
    let e = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap_err();
    match &e {
        Error::UiRequired {
            reason,
            suberror,
            claims,
        } => {
            assert_eq!(*reason, UiRequiredReason::InvalidGrant);
            assert_eq!(suberror.as_deref(), Some("basic_action"));
            assert!(claims.as_deref().unwrap().contains("capolids"));
        }
        other => panic!("{other:?}"),
    }
    // Replayed from the throttle cache within 120 s: same error, no request.
    let e2 = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap_err();
    assert!(e2.is_ui_required());
    assert_eq!(s.http.request_count(), 3);
    // The RT was kept: once the window passes it is tried again.
    s.clock.advance(Duration::from_secs(121));
    s.http.expect(
        refresh_post(&s.tenant, "RT-1"),
        Reply::json(400, r#"{"error":"interaction_required"}"#),
    );
    let e3 = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e3,
            Error::UiRequired {
                reason: UiRequiredReason::InteractionRequired,
                ..
            }
        ),
        "{e3:?}"
    );
    s.http.assert_consumed();
}

#[tokio::test]
async fn other_failures_are_typed_and_never_panics() {
    let s = setup();
    let (_, account) = sign_in(&s, true, &token_json("AT-1", "RT-1", &s.tenant, 3600, None)).await;
    s.clock.advance(Duration::from_secs(4000));
    // 503 with Retry-After: the transport retries once, then the call is throttled.
    s.http.expect(
        refresh_post(&s.tenant, "RT-1"),
        Reply::json(503, "{}").header("retry-after", "1"),
    );
    s.http.expect(
        refresh_post(&s.tenant, "RT-1"),
        Reply::json(503, "{}").header("retry-after", "30"),
    );
    let e = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Protocol(_)) || matches!(e, Error::Service(_)),
        "{e:?}"
    );
    let e = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Throttled { .. }), "{e:?}");
    s.clock.advance(Duration::from_secs(31));
    s.http.expect(
        refresh_post(&s.tenant, "RT-1"),
        Reply::fail(msal::http::TransportErrorKind::Connect, "refused"),
    );
    s.http.expect(
        refresh_post(&s.tenant, "RT-1"),
        Reply::fail(msal::http::TransportErrorKind::Connect, "refused"),
    );
    let e = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    s.http.expect(
        refresh_post(&s.tenant, "RT-1"),
        Reply::json(200, r#"{"access_token":7}"#),
    );
    let e = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    s.http.assert_consumed();
}

#[tokio::test]
async fn an_empty_cache_is_ui_required_without_a_request() {
    let s = setup();
    let account = msal::Account::new(format!("{UID}.{}", s.tenant), "login.microsoftonline.com")
        .with_realm(s.tenant)
        .with_local_account_id(UID)
        .with_username("ada@contoso.example");
    let e = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::UiRequired {
                reason: UiRequiredReason::NoTokensFound,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(s.http.request_count(), 0);
    let e = s
        .app
        .acquire_token_silent(&["openid"], &account)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::UiRequired { .. } | Error::Config(_)),
        "{e:?}"
    );
}

#[tokio::test]
async fn refresh_token_migration_creates_an_account_for_later_silent_calls() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        refresh_post(&s.tenant, "LEGACY-RT"),
        Reply::json(200, &token_json("AT-1", "RT-1", &s.tenant, 3600, None)),
    );
    let r = s
        .app
        .acquire_token_by_refresh_token(
            &["User.Read"],
            msal::secret::RefreshTokenSecret::new("LEGACY-RT"),
        )
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "AT-1");
    let accounts = s.app.accounts().await.unwrap();
    assert_eq!(accounts.len(), 1);
    let again = s
        .app
        .acquire_token_silent(&["User.Read"], &accounts[0])
        .await
        .unwrap();
    assert_eq!(again.source(), TokenSource::Cache);
    s.http.assert_consumed();
}
