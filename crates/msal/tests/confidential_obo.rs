//! `acquire_token_on_behalf_of`: the exact OBO form, tokens cached per
//! incoming assertion (hash on AT and RT, partition = hash), refresh with
//! the assertion's RT once the AT expired, and a new OBO request when that
//! RT is refused.

mod confidential_support;

use std::time::Duration;

use confidential_support::*;
use msal::secret::Assertion;
use msal::storage::user_assertion_hash;
use msal::{Error, TokenSource};
use msal_test_support::{Expect, Reply};

const DOWNSTREAM: &str = "https://downstream.example/Data.Read";
const DECORATED: &str = "https://downstream.example/Data.Read offline_access openid profile";
const UID: &str = "00000000-0000-0000-0000-0000000000a1";

fn obo_post(tenant: &str, assertion: &str) -> Expect {
    Expect::post(&token_url(tenant))
        .form("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
        .form("requested_token_use", "on_behalf_of")
        .form("assertion", assertion)
        .form("scope", DECORATED)
        .form("client_id", CLIENT_ID)
        .form("client_secret", SECRET)
        .form("client_info", "1")
}

fn refresh_post(tenant: &str, rt: &str) -> Expect {
    Expect::post(&token_url(tenant))
        .form("grant_type", "refresh_token")
        .form("refresh_token", rt)
        .form("scope", DECORATED)
        .form("client_secret", SECRET)
        .no_form("assertion")
}

#[tokio::test]
async fn obo_form_cache_per_assertion_and_refresh_with_the_assertions_refresh_token() {
    let s = setup();
    let a = Assertion::new("incoming.user.token-A");
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        obo_post(&s.tenant, "incoming.user.token-A"),
        Reply::json(
            200,
            &user_token_json("at-A1", "rt-A1", UID, &s.tenant, 3600),
        ),
    );
    let r = s
        .app
        .acquire_token_on_behalf_of(&[DOWNSTREAM], a.clone())
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "at-A1");
    let hai = format!("{UID}.{}", s.tenant);
    assert_eq!(r.account().unwrap().home_account_id(), hai);

    // Same assertion: from the cache, with the downstream user's account.
    let hit = s
        .app
        .acquire_token_on_behalf_of(&[DOWNSTREAM], a.clone())
        .await
        .unwrap();
    assert_eq!(
        (hit.access_token().expose_secret(), hit.source()),
        ("at-A1", TokenSource::Cache)
    );
    assert_eq!(hit.account().unwrap().home_account_id(), hai);
    assert!(hit.id_token().is_some());

    // Another assertion of the same user never gets A's token.
    s.http.expect(
        obo_post(&s.tenant, "incoming.user.token-B"),
        Reply::json(
            200,
            &user_token_json("at-B1", "rt-B1", UID, &s.tenant, 3600),
        ),
    );
    let b = s
        .app
        .acquire_token_on_behalf_of(&[DOWNSTREAM], Assertion::new("incoming.user.token-B"))
        .await
        .unwrap();
    assert_eq!(b.access_token().expose_secret(), "at-B1");

    // A's token expired: A's own refresh token is redeemed (and rotated).
    s.clock.advance(Duration::from_secs(3600 - 299));
    s.http.expect(
        refresh_post(&s.tenant, "rt-A1"),
        Reply::json(
            200,
            &user_token_json("at-A2", "rt-A2", UID, &s.tenant, 3600),
        ),
    );
    let r = s
        .app
        .acquire_token_on_behalf_of(&[DOWNSTREAM], a.clone())
        .await
        .unwrap();
    assert_eq!(
        (r.access_token().expose_secret(), r.source()),
        ("at-A2", TokenSource::IdentityProvider)
    );
    assert_eq!(r.account().unwrap().home_account_id(), hai);
    let doc = s.hooks.stored(&user_assertion_hash(&a)).await.unwrap();
    let rts: Vec<&serde_json::Value> = doc["RefreshToken"].as_object().unwrap().values().collect();
    assert_eq!(rts.len(), 1);
    assert_eq!(rts[0]["secret"], "rt-A2");
    assert_eq!(rts[0]["user_assertion_hash"], user_assertion_hash(&a));

    // The rotated RT is refused: a new OBO request with the assertion.
    s.clock.advance(Duration::from_secs(3600));
    s.http.expect(
        refresh_post(&s.tenant, "rt-A2"),
        Reply::json(
            400,
            r#"{"error":"invalid_grant","error_description":"AADSTS70043: expired"}"#,
        ),
    );
    s.http.expect(
        obo_post(&s.tenant, "incoming.user.token-A"),
        Reply::json(
            200,
            &user_token_json("at-A3", "rt-A3", UID, &s.tenant, 3600),
        ),
    );
    let r = s
        .app
        .acquire_token_on_behalf_of(&[DOWNSTREAM], a.clone())
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "at-A3");
    s.http.assert_consumed();
}

#[tokio::test]
async fn force_refresh_and_claims_make_a_new_obo_request() {
    let s = setup();
    let a = Assertion::new("incoming-A");
    expect_metadata(&s.http, &s.tenant);
    for at in ["at-1", "at-2"] {
        s.http.expect(
            obo_post(&s.tenant, "incoming-A"),
            Reply::json(200, &user_token_json(at, "rt", UID, &s.tenant, 3600)),
        );
    }
    s.http.expect(
        obo_post(&s.tenant, "incoming-A").form(
            "claims",
            r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#,
        ),
        Reply::json(200, &user_token_json("at-3", "rt", UID, &s.tenant, 3600)),
    );
    s.app
        .acquire_token_on_behalf_of(&[DOWNSTREAM], a.clone())
        .await
        .unwrap();
    let r = s
        .app
        .acquire_token_on_behalf_of(&[DOWNSTREAM], a.clone())
        .force_refresh(true)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "at-2");
    let r = s
        .app
        .acquire_token_on_behalf_of(&[DOWNSTREAM], a.clone())
        .claims(r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "at-3");
    s.http.assert_consumed();
}

#[tokio::test]
async fn errors_interaction_required_and_bad_input() {
    let s = setup();
    let e = s
        .app
        .acquire_token_on_behalf_of(&["openid"], Assertion::new("x"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    let e = s
        .app
        .acquire_token_on_behalf_of(&[DOWNSTREAM], Assertion::new(" "))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        obo_post(&s.tenant, "incoming-A"),
        Reply::json(
            400,
            r#"{"error":"interaction_required","error_description":"AADSTS50076: MFA","suberror":"basic_action","claims":"{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"p\"]}}}"}"#,
        ),
    );
    let e = s
        .app
        .acquire_token_on_behalf_of(&[DOWNSTREAM], Assertion::new("incoming-A"))
        .await
        .unwrap_err();
    match e {
        Error::UiRequired {
            claims, suberror, ..
        } => {
            assert!(claims.unwrap().contains("capolids"));
            assert_eq!(suberror.as_deref(), Some("basic_action"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        s.hooks
            .stored(&user_assertion_hash(&Assertion::new("incoming-A")))
            .await
            .is_none()
    );
    s.http.assert_consumed();
}

#[tokio::test]
async fn concurrent_obo_calls_for_one_assertion_share_one_request() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        obo_post(&s.tenant, "incoming-A"),
        Reply::json(200, &user_token_json("at-1", "rt", UID, &s.tenant, 3600)),
    );
    let calls = (0..16).map(|_| {
        s.app
            .acquire_token_on_behalf_of(&[DOWNSTREAM], Assertion::new("incoming-A"))
            .into_future()
    });
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.unwrap().access_token().expose_secret(), "at-1");
    }
    s.http.assert_consumed();
}

use std::future::IntoFuture as _;
