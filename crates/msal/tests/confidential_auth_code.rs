//! Web apps: the authorization URL (state, nonce, PKCE), code redemption
//! with the client credential, then silent calls, `account` and
//! `remove_account` in the user's partition.

mod confidential_support;

use std::time::Duration;

use confidential_support::*;
use msal::protocol::authorize::Prompt;
use msal::secret::AuthorizationCode;
use msal::{Error, TokenSource};
use msal_test_support::{Expect, Reply};

const REDIRECT: &str = "https://app.example/callback";
const UID: &str = "00000000-0000-0000-0000-0000000000b2";

fn query(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn authorization_url_carries_state_nonce_and_pkce() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    let req = s
        .app
        .authorization_request_url(&["User.Read"], REDIRECT)
        .prompt(Prompt::SelectAccount)
        .login_hint("ada@contoso.example")
        .extra_query_parameter("msafed", "0")
        .await
        .unwrap();
    let u = &req.url;
    assert_eq!(
        u.as_str().split('?').next().unwrap(),
        format!("{HOST}/{}/oauth2/v2.0/authorize", s.tenant)
    );
    assert_eq!(query(u, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(query(u, "response_type").as_deref(), Some("code"));
    assert_eq!(query(u, "redirect_uri").as_deref(), Some(REDIRECT));
    assert_eq!(
        query(u, "scope").as_deref(),
        Some("User.Read offline_access openid profile")
    );
    assert_eq!(query(u, "state"), Some(req.state.clone()));
    assert_eq!(query(u, "nonce"), Some(req.nonce.clone()));
    assert_eq!(query(u, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(
        query(u, "code_challenge").unwrap(),
        msal::pkce::challenge_of(req.pkce_verifier.expose_secret())
    );
    assert_eq!(query(u, "prompt").as_deref(), Some("select_account"));
    assert_eq!(
        query(u, "login_hint").as_deref(),
        Some("ada@contoso.example")
    );
    assert_eq!(query(u, "msafed").as_deref(), Some("0"));
    assert!(
        !u.as_str().contains(SECRET) && !u.as_str().contains(req.pkce_verifier.expose_secret())
    );
    assert!(req.state.len() >= 43 && req.nonce.len() >= 43);
    let custom = s
        .app
        .authorization_request_url(&["User.Read"], REDIRECT)
        .state("my-state")
        .await
        .unwrap();
    assert_eq!(custom.state, "my-state");
    assert_ne!(custom.nonce, req.nonce);
    let e = s
        .app
        .authorization_request_url(&["User.Read"], "not a url")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)));
    s.http.assert_consumed();
}

#[tokio::test]
async fn code_redemption_then_silent_account_and_remove_in_the_users_partition() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    let req = s
        .app
        .authorization_request_url(&["User.Read"], REDIRECT)
        .await
        .unwrap();
    s.http.expect(
        Expect::post(&token_url(&s.tenant))
            .form("grant_type", "authorization_code")
            .form("code", "the-code")
            .form("redirect_uri", REDIRECT)
            .form("code_verifier", req.pkce_verifier.expose_secret())
            .form("scope", "User.Read offline_access openid profile")
            .form("client_secret", SECRET)
            .form("client_info", "1"),
        Reply::json(
            200,
            &user_token_json_nonce("at-1", "rt-1", UID, &s.tenant, 3600, Some(&req.nonce)),
        ),
    );
    let nonce = req.nonce.clone();
    let r = s
        .app
        .acquire_token_by_authorization_code(
            &["User.Read"],
            AuthorizationCode::new("the-code"),
            REDIRECT,
        )
        .pkce_verifier(req.pkce_verifier)
        .nonce(nonce)
        .await
        .unwrap();
    let hai = format!("{UID}.{}", s.tenant);
    assert_eq!(r.account().unwrap().home_account_id(), hai);
    assert!(r.id_token_claims().is_some());

    // Web apps find the user by id in its own partition; the unpartitioned list is empty.
    let account = s
        .app
        .account(&hai)
        .await
        .unwrap()
        .expect("account in its partition");
    assert_eq!(account.username(), format!("{UID}@contoso.example"));
    assert!(s.app.account("someone.else").await.unwrap().is_none());
    assert!(s.app.accounts().await.unwrap().is_empty());

    let hit = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap();
    assert_eq!(
        (hit.access_token().expose_secret(), hit.source()),
        ("at-1", TokenSource::Cache)
    );
    s.clock.advance(Duration::from_secs(3600));
    s.http.expect(
        Expect::post(&token_url(&s.tenant))
            .form("grant_type", "refresh_token")
            .form("refresh_token", "rt-1")
            .form("client_secret", SECRET),
        Reply::json(200, &user_token_json("at-2", "rt-2", UID, &s.tenant, 3600)),
    );
    let r = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "at-2");

    s.app.remove_account(&account).await.unwrap();
    let e = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap_err();
    assert!(e.is_ui_required(), "{e:?}");
    assert!(s.app.account(&hai).await.unwrap().is_none());
    s.http.assert_consumed();
}

#[tokio::test]
async fn a_wrong_nonce_is_a_protocol_error_and_nothing_is_cached() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        Expect::post(&token_url(&s.tenant)).form("grant_type", "authorization_code"),
        Reply::json(
            200,
            &user_token_json_nonce("at-1", "rt-1", UID, &s.tenant, 3600, Some("other")),
        ),
    );
    let e = s
        .app
        .acquire_token_by_authorization_code(&["User.Read"], AuthorizationCode::new("c"), REDIRECT)
        .nonce("expected")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    assert!(
        s.app
            .account(&format!("{UID}.{}", s.tenant))
            .await
            .unwrap()
            .is_none()
    );
    let e = s
        .app
        .acquire_token_by_authorization_code(&["User.Read"], AuthorizationCode::new(""), REDIRECT)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)));
    s.http.assert_consumed();
}
