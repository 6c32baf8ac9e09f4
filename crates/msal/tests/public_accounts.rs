//! accounts() and remove_account(), and the seed scenario: sign-outs until
//! no account is left, then acquire_token_silent is UiRequired with no
//! request made.
// The password grant is deprecated; this still exercises it.
#![allow(deprecated)]

mod public_support;

use std::sync::Arc;

use msal::Error;
use msal::error::UiRequiredReason;
use msal_test_support::{Expect, Reply};
use public_support::*;
use serde_json::json;

const UID2: &str = "00000000-0000-0000-0000-00000000b0b0";

fn second_user(tenant: &str) -> String {
    let mut b: serde_json::Value =
        serde_json::from_str(&token_json("AT-B", "RT-B", tenant, 3600, None)).unwrap();
    b["client_info"] = json!(client_info(UID2, tenant));
    b["id_token"] = json!(jwt(&json!({
        "aud": CLIENT_ID, "iss": format!("{HOST}/{tenant}/v2.0"), "tid": tenant, "oid": UID2, "preferred_username": "bob@contoso.example"
    })));
    b.to_string()
}

#[tokio::test]
async fn seed_scenario_remove_every_account_then_silent_is_ui_required() {
    let hooks = Arc::new(RecordingHooks::default());
    let s = setup_with_hooks(hooks.clone(), None);
    let (_, ada) = sign_in(&s, true, &token_json("AT-A", "RT-A", &s.tenant, 3600, None)).await;
    s.http.expect(
        Expect::post(&token_url(&s.tenant)).form("grant_type", "password"),
        Reply::json(200, &second_user(&s.tenant)),
    );
    s.app
        .acquire_token_by_username_password(
            &["User.Read"],
            "ada@contoso.example",
            msal::secret::Password::new("pw"),
        )
        .await
        .unwrap();
    let before = s.http.request_count();

    let mut removed = 0;
    loop {
        let accounts = s.app.accounts().await.unwrap();
        let Some(first) = accounts.first() else { break };
        s.app.remove_account(first).await.unwrap();
        removed += 1;
        assert!(removed <= 2, "remove_account did not remove {first:?}");
    }
    assert_eq!(removed, 2);
    let e = s
        .app
        .acquire_token_silent(&["User.Read"], &ada)
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
    assert_eq!(
        s.http.request_count(),
        before,
        "listing, removing and the silent call made no request"
    );
    let doc = hooks.doc_text();
    for secret in ["AT-A", "RT-A", "AT-B", "RT-B"] {
        assert!(!doc.contains(secret), "{secret} left in the saved cache");
    }
    // remove_account was called with the account's home_account_id as partition key.
    assert!(
        hooks
            .calls()
            .iter()
            .any(|c| c.1.as_deref() == Some(ada.home_account_id()) && c.2)
    );
    s.http.assert_consumed();
}

#[tokio::test]
async fn remove_account_keeps_other_apps_non_family_refresh_tokens() {
    let tenant = unique_tenant();
    let env = "login.microsoftonline.com";
    let hai = format!("{UID}.{tenant}");
    let rt = |client: &str, secret: &str| json!({"credential_type":"RefreshToken","secret":secret,"home_account_id":hai,"environment":env,"client_id":client});
    let doc = json!({
        "Account": { "a": {"home_account_id": hai, "environment": env, "realm": tenant, "local_account_id": UID, "username": "ada@contoso.example", "authority_type": "MSSTS"} },
        "RefreshToken": { "mine": rt(CLIENT_ID, "MY-RT"), "theirs": rt("00000000-0000-0000-0000-0000000000ff", "THEIR-RT") },
        "AppMetadata": { "appmetadata-x": {"client_id": "00000000-0000-0000-0000-0000000000ff", "environment": env} }
    });
    let hooks = RecordingHooks::with_doc(&doc.to_string());
    let s = setup_with_hooks(hooks.clone(), Some(&format!("{HOST}/{tenant}")));
    let account = s.app.accounts().await.unwrap().remove(0);
    s.app.remove_account(&account).await.unwrap();
    let saved = hooks.doc_text();
    assert!(!saved.contains("MY-RT"));
    assert!(saved.contains("THEIR-RT"), "another app's RT keeps its SSO");
    assert!(
        saved.contains("appmetadata-x"),
        "AppMetadata is never removed"
    );
    assert!(s.app.accounts().await.unwrap().is_empty());
    assert_eq!(s.http.request_count(), 0);
}

#[tokio::test]
async fn adfs_accounts_use_sub_and_the_adfs_realm() {
    let http = msal_test_support::FakeHttp::new();
    let n = unique_tenant().replace('-', "");
    let adfs = format!("https://fs{n}.contoso.example/adfs");
    let app = msal::PublicClientApplication::builder(CLIENT_ID)
        .authority(adfs.as_str())
        .http_client(http.clone())
        .clock(Arc::new(msal::clock::ManualClock::at_unix(NOW)))
        .build()
        .unwrap();
    http.expect(
        Expect::get(&format!("{adfs}/.well-known/openid-configuration")),
        Reply::json(
            200,
            &format!(r#"{{"issuer":"{adfs}","token_endpoint":"{adfs}/oauth2/token"}}"#),
        ),
    );
    let idt = jwt(
        &json!({"aud": CLIENT_ID, "iss": adfs, "sub": "adfs-sub", "upn": "ada@contoso.example"}),
    );
    http.expect(
        Expect::post(&format!("{adfs}/oauth2/token")),
        Reply::json(200, &json!({"access_token":"AT","token_type":"Bearer","expires_in":3600,"refresh_token":"RT","id_token":idt}).to_string()),
    );
    let r = app
        .acquire_token_by_username_password(
            &["User.Read"],
            "ada@contoso.example",
            msal::secret::Password::new("pw"),
        )
        .await
        .unwrap();
    let a = r.account().unwrap();
    assert_eq!(
        (a.home_account_id(), a.realm(), a.authority_type()),
        ("adfs-sub", "adfs", "ADFS")
    );
    let again = app
        .acquire_token_silent(&["User.Read"], &app.accounts().await.unwrap()[0])
        .await
        .unwrap();
    assert_eq!(again.access_token().expose_secret(), "AT");
    http.assert_consumed();
}

#[tokio::test]
async fn an_id_token_for_another_app_or_issuer_is_rejected() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    let mut b: serde_json::Value =
        serde_json::from_str(&token_json("AT", "RT", &s.tenant, 3600, None)).unwrap();
    b["id_token"] = json!(jwt(
        &json!({"aud": "someone-else", "iss": format!("{HOST}/{}/v2.0", s.tenant), "tid": s.tenant})
    ));
    s.http.expect(
        Expect::post(&token_url(&s.tenant)),
        Reply::json(200, &b.to_string()),
    );
    let e = s
        .app
        .acquire_token_by_username_password(
            &["User.Read"],
            "ada@contoso.example",
            msal::secret::Password::new("pw"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Protocol(p) if p.message.contains("another app")),
        "{e:?}"
    );
    b["id_token"] = json!(jwt(
        &json!({"aud": CLIENT_ID, "iss": "https://evil.example/x/v2.0", "tid": s.tenant})
    ));
    s.http.expect(
        Expect::post(&token_url(&s.tenant)),
        Reply::json(200, &b.to_string()),
    );
    let e = s
        .app
        .acquire_token_by_username_password(
            &["User.Read"],
            "ada@contoso.example",
            msal::secret::Password::new("pw"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Protocol(p) if p.message.contains("issuer")),
        "{e:?}"
    );
    assert!(
        s.app.accounts().await.unwrap().is_empty(),
        "nothing cached from rejected responses"
    );
    s.http.assert_consumed();
}

#[tokio::test]
async fn accounts_under_an_alias_are_found_after_discovery_and_discovery_is_not_repeated() {
    let n = unique_tenant().replace('-', "");
    let host = format!("login{n}.example");
    let alias = format!("alias{n}.example");
    let tenant = unique_tenant();
    let doc = json!({"Account": {"a": {"home_account_id": format!("{UID}.{tenant}"), "environment": alias, "realm": tenant,
        "local_account_id": UID, "username": "ada@contoso.example", "authority_type": "MSSTS"}}});
    let hooks = RecordingHooks::with_doc(&doc.to_string());
    let s = setup_with_hooks(hooks, Some(&format!("https://{host}/{tenant}")));
    s.http.expect(
        Expect::get("https://login.microsoftonline.com/common/discovery/instance"),
        Reply::json(
            200,
            &format!(r#"{{"metadata":[{{"aliases":["{host}","{alias}"]}}]}}"#),
        ),
    );
    assert_eq!(s.app.accounts().await.unwrap().len(), 1);
    assert_eq!(s.app.accounts().await.unwrap().len(), 1);
    s.http.assert_consumed();

    // Discovery failing never fails the listing.
    let other = format!("down{n}.example");
    let s = setup_with_hooks(
        Arc::new(RecordingHooks::default()),
        Some(&format!("https://{other}/{tenant}")),
    );
    s.http.expect(
        Expect::get("https://login.microsoftonline.com/common/discovery/instance"),
        Reply::fail(msal::http::TransportErrorKind::Connect, "down"),
    );
    s.http.expect(
        Expect::get("https://login.microsoftonline.com/common/discovery/instance"),
        Reply::fail(msal::http::TransportErrorKind::Connect, "down"),
    );
    assert!(s.app.accounts().await.unwrap().is_empty());
    s.http.assert_consumed();
}

/// A cache handed over at build time (MSAL Python's `token_cache=`) serves
/// accounts and silent tokens with no request; `serialize_token_cache`
/// gives it back, without what remove_account removed.
#[tokio::test]
async fn an_initial_token_cache_serves_silent_calls_and_serializes_back() {
    let s = setup();
    let (_, _) = sign_in(&s, true, &token_json("AT-A", "RT-A", &s.tenant, 3600, None)).await;
    let saved = s.app.serialize_token_cache().await.unwrap();
    assert!(String::from_utf8_lossy(&saved).contains("AT-A"));

    let http = msal_test_support::FakeHttp::new();
    let app = msal::PublicClientApplication::builder(CLIENT_ID)
        .authority(format!("{HOST}/{}", s.tenant))
        .http_client(http.clone())
        .clock(s.clock.clone())
        .token_cache(msal::cache::TokenCache::deserialize(&saved).unwrap())
        .build()
        .unwrap();
    assert_eq!(app.serialize_token_cache().await.unwrap(), saved);
    let accounts = app.accounts().await.unwrap();
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    expect_metadata(&http, &s.tenant);
    let r = app
        .acquire_token_silent(&["User.Read"], &accounts[0])
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "AT-A");
    assert_eq!(r.source(), msal::TokenSource::Cache);
    assert!(
        http.requests()
            .iter()
            .all(|r| r.method == http::Method::GET),
        "no token request"
    );

    app.remove_account(&accounts[0]).await.unwrap();
    let left = String::from_utf8(app.serialize_token_cache().await.unwrap()).unwrap();
    assert!(!left.contains("AT-A") && !left.contains("RT-A"), "{left}");
    assert!(app.accounts().await.unwrap().is_empty());
}
