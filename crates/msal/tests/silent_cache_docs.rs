//! Silent calls on cache documents written by other MSALs (loaded through
//! the cache hooks): FOCI family refresh tokens (spec §5.3), Node's
//! environment and realm choices (spec §11), and the hooks' partition keys.

mod public_support;

use std::sync::Arc;

use msal::TokenSource;
use msal_test_support::Reply;
use public_support::*;
use serde_json::json;

const OTHER_APP: &str = "00000000-0000-0000-0000-0000000f0c10";

fn hai(tenant: &str) -> String {
    format!("{UID}.{tenant}")
}

fn account_entry(env: &str, tenant: &str) -> serde_json::Value {
    json!({
        "home_account_id": hai(tenant), "environment": env, "realm": tenant,
        "local_account_id": UID, "username": "ada@contoso.example", "authority_type": "MSSTS"
    })
}

fn rt_entry(
    env: &str,
    tenant: &str,
    client: &str,
    secret: &str,
    family: Option<&str>,
) -> serde_json::Value {
    let mut e = json!({
        "credential_type": "RefreshToken", "secret": secret, "home_account_id": hai(tenant),
        "environment": env, "client_id": client, "target": "User.Read", "last_modification_time": NOW.to_string()
    });
    if let Some(f) = family {
        e["family_id"] = json!(f);
    }
    e
}

fn at_entry(
    env: &str,
    realm: &str,
    tenant: &str,
    secret: &str,
    expires_on: u64,
) -> serde_json::Value {
    json!({
        "credential_type": "AccessToken", "secret": secret, "home_account_id": hai(tenant), "environment": env,
        "client_id": CLIENT_ID, "realm": realm, "target": "User.Read openid profile",
        "token_type": "Bearer", "cached_at": NOW.to_string(), "expires_on": expires_on.to_string(),
        "extended_expires_on": expires_on.to_string()
    })
}

#[tokio::test]
async fn a_family_refresh_token_of_another_app_is_used_when_family_status_is_unknown() {
    let tenant = unique_tenant();
    let env = "login.microsoftonline.com";
    let doc = json!({
        "Account": { format!("{}-{env}-{tenant}", hai(&tenant)): account_entry(env, &tenant) },
        "RefreshToken": { "frt": rt_entry(env, &tenant, OTHER_APP, "FAMILY-RT", Some("1")) },
        "AppMetadata": { format!("appmetadata-{env}-{OTHER_APP}"): { "client_id": OTHER_APP, "environment": env, "family_id": "1" } }
    });
    let hooks = RecordingHooks::with_doc(&doc.to_string());
    let s = setup_with_hooks(hooks.clone(), Some(&format!("{HOST}/{tenant}")));
    let accounts = s.app.accounts().await.unwrap();
    assert_eq!(
        accounts.len(),
        1,
        "accounts of other apps sharing the cache are listed"
    );
    expect_metadata(&s.http, &tenant);
    let mut body: serde_json::Value =
        serde_json::from_str(&token_json("AT-F", "FAMILY-RT-2", &tenant, 3600, None)).unwrap();
    body["foci"] = json!("1");
    s.http.expect(
        refresh_post(&tenant, "FAMILY-RT"),
        Reply::json(200, &body.to_string()),
    );
    let r = s
        .app
        .acquire_token_silent(&["User.Read"], &accounts[0])
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "AT-F");
    let saved: serde_json::Value = serde_json::from_str(&hooks.doc_text()).unwrap();
    // This app joined the family, and the FRT was rotated in place (still the other app's entry).
    assert_eq!(
        saved["AppMetadata"][format!("appmetadata-{env}-{CLIENT_ID}")]["family_id"],
        "1"
    );
    assert_eq!(saved["RefreshToken"]["frt"]["secret"], "FAMILY-RT-2");
    assert_eq!(saved["RefreshToken"]["frt"]["client_id"], OTHER_APP);
    // Partition keys: none for accounts(), the home account id for silent.
    let calls = hooks.calls();
    assert_eq!(calls[0], ("before", None, false, false));
    assert_eq!(calls[1], ("after", None, false, false));
    assert!(
        calls[2..]
            .iter()
            .all(|c| c.1.as_deref() == Some(hai(&tenant).as_str())),
        "{calls:?}"
    );
    assert!(
        calls.iter().any(|c| c.0 == "after" && c.2 && c.3),
        "the refresh was saved: {calls:?}"
    );
    s.http.assert_consumed();
}

#[tokio::test]
async fn an_app_known_outside_the_family_uses_only_its_own_rt() {
    let tenant = unique_tenant();
    let env = "login.microsoftonline.com";
    let doc = json!({
        "Account": { "a": account_entry(env, &tenant) },
        "RefreshToken": {
            "frt": rt_entry(env, &tenant, OTHER_APP, "FAMILY-RT", Some("1")),
            "own": rt_entry(env, &tenant, CLIENT_ID, "OWN-RT", None)
        },
        "AppMetadata": { format!("appmetadata-{env}-{CLIENT_ID}"): { "client_id": CLIENT_ID, "environment": env } }
    });
    let hooks = RecordingHooks::with_doc(&doc.to_string());
    let s = setup_with_hooks(hooks.clone(), Some(&format!("{HOST}/{tenant}")));
    let account = s.app.accounts().await.unwrap().remove(0);
    expect_metadata(&s.http, &tenant);
    s.http.expect(
        refresh_post(&tenant, "OWN-RT"),
        Reply::json(200, &token_json("AT-O", "OWN-RT-2", &tenant, 3600, None)),
    );
    let r = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "AT-O");
    s.http.assert_consumed();
}

#[tokio::test]
async fn a_family_failure_falls_back_to_the_own_rt_and_client_mismatch_stops_the_family() {
    let tenant = unique_tenant();
    let env = "login.microsoftonline.com";
    let mut frt2 = rt_entry(
        env,
        &tenant,
        "00000000-0000-0000-0000-0000000f0c11",
        "FAMILY-RT-B",
        Some("1"),
    );
    frt2["last_modification_time"] = json!((NOW - 10).to_string());
    let doc = json!({
        "Account": { "a": account_entry(env, &tenant) },
        "RefreshToken": {
            "frt": rt_entry(env, &tenant, OTHER_APP, "FAMILY-RT", Some("1")),
            "frt2": frt2,
            "own": rt_entry(env, &tenant, CLIENT_ID, "OWN-RT", None)
        }
    });
    let hooks = RecordingHooks::with_doc(&doc.to_string());
    let s = setup_with_hooks(hooks, Some(&format!("{HOST}/{tenant}")));
    let account = s.app.accounts().await.unwrap().remove(0);
    expect_metadata(&s.http, &tenant);
    s.http.expect(
        refresh_post(&tenant, "FAMILY-RT"),
        Reply::json(
            400,
            r#"{"error":"invalid_grant","suberror":"client_mismatch"}"#,
        ),
    );
    // FAMILY-RT-B is skipped after client_mismatch; the own RT is next.
    s.http.expect(
        refresh_post(&tenant, "OWN-RT"),
        Reply::json(200, &token_json("AT-O", "OWN-RT-2", &tenant, 3600, None)),
    );
    let r = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "AT-O");
    s.http.assert_consumed();
}

#[tokio::test]
async fn tokens_node_wrote_under_login_windows_net_and_the_home_tenant_are_hits_for_organizations()
{
    // MSAL Node: environment login.windows.net, realm = tid; app configured with /organizations.
    let tenant = unique_tenant();
    let env = "login.windows.net";
    let doc = json!({
        "Account": { "a": account_entry(env, &tenant) },
        "AccessToken": { "at": at_entry(env, &tenant, &tenant, "NODE-AT", NOW + 3600) },
        "RefreshToken": { "rt": rt_entry(env, &tenant, CLIENT_ID, "NODE-RT", None) }
    });
    let hooks = RecordingHooks::with_doc(&doc.to_string());
    let s = setup_with_hooks(
        hooks,
        Some("https://login.microsoftonline.com/organizations"),
    );
    let accounts = s.app.accounts().await.unwrap();
    assert_eq!(
        accounts.len(),
        1,
        "an alias environment's accounts are listed"
    );
    let r = s
        .app
        .acquire_token_silent(&["User.Read"], &accounts[0])
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "NODE-AT");
    assert_eq!(r.source(), TokenSource::Cache);
    assert_eq!(s.http.request_count(), 0);
}

#[tokio::test]
async fn another_tenant_redeems_the_same_rt_and_stores_a_new_tenant_profile() {
    // Signed in at tenant A; an app configured for tenant B gets a token silently.
    let home = unique_tenant();
    let guest = unique_tenant();
    let env = "login.microsoftonline.com";
    let doc = json!({
        "Account": { "a": account_entry(env, &home) },
        "AccessToken": { "at": at_entry(env, &home, &home, "HOME-AT", NOW + 3600) },
        "RefreshToken": { "rt": rt_entry(env, &home, CLIENT_ID, "HOME-RT", None) }
    });
    let hooks = RecordingHooks::with_doc(&doc.to_string());
    let s = setup_with_hooks(hooks.clone(), Some(&format!("{HOST}/{guest}")));
    let account = s.app.accounts().await.unwrap().remove(0);
    expect_metadata(&s.http, &guest);
    let mut body: serde_json::Value =
        serde_json::from_str(&token_json("GUEST-AT", "HOME-RT-2", &guest, 3600, None)).unwrap();
    body["client_info"] = json!(client_info(UID, &home));
    s.http.expect(
        refresh_post(&guest, "HOME-RT"),
        Reply::json(200, &body.to_string()),
    );
    let r = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "GUEST-AT");
    assert_eq!(r.tenant_id(), Some(guest.as_str()));
    let saved: serde_json::Value = serde_json::from_str(&hooks.doc_text()).unwrap();
    let realms: Vec<&str> = saved["IdToken"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|v| v["realm"].as_str())
        .collect();
    assert!(realms.contains(&guest.as_str()), "{realms:?}");
    assert_eq!(
        saved["Account"].as_object().unwrap().len(),
        1,
        "silent refresh writes no Account entry"
    );
    s.http.assert_consumed();
}

#[tokio::test]
async fn hooks_are_called_around_every_access_and_failures_surface() {
    let hooks = Arc::new(RecordingHooks::default());
    let s = setup_with_hooks(hooks.clone(), None);
    let (_, account) = sign_in(&s, true, &token_json("AT-1", "RT-1", &s.tenant, 3600, None)).await;
    let calls = hooks.calls();
    assert_eq!(
        calls[0],
        ("before", None, false, false),
        "sign-in: no partition key"
    );
    assert_eq!(
        calls[1],
        ("after", None, true, true),
        "sign-in saved the document"
    );
    assert!(hooks.doc_text().contains("\"AccessToken\""));

    // A corrupt stored document: a typed error, after_access still called, nothing written.
    *hooks.doc.lock().unwrap() = Some(b"{not json".to_vec());
    let before = hooks.calls().len();
    let e = s.app.accounts().await.unwrap_err();
    assert!(matches!(e, msal::Error::CacheFormat(_)), "{e:?}");
    assert_eq!(
        &hooks.calls()[before..],
        &[
            ("before", None, false, false),
            ("after", None, false, false)
        ]
    );
    assert_eq!(hooks.doc_text(), "{not json");

    // A store that is down: Storage error, after_access still called.
    hooks
        .fail_before
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let e = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap_err();
    assert!(matches!(e, msal::Error::Storage(_)), "{e:?}");
    assert_eq!(hooks.calls().last().unwrap().0, "after");
    hooks
        .fail_before
        .store(false, std::sync::atomic::Ordering::SeqCst);

    // Another process emptied the cache: the loaded document wins.
    *hooks.doc.lock().unwrap() = Some(b"{}".to_vec());
    assert!(s.app.accounts().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_save_fails_the_call_and_is_retried_on_the_next_access() {
    let hooks = Arc::new(RecordingHooks::default());
    let s = setup_with_hooks(hooks.clone(), None);
    let (_, account) = sign_in(&s, true, &token_json("AT-1", "RT-1", &s.tenant, 3600, None)).await;
    hooks
        .fail_after
        .store(true, std::sync::atomic::Ordering::SeqCst);
    // remove_account changes the cache; the save fails.
    *hooks.doc.lock().unwrap() = None; // keep the in-memory state
    let e = s.app.remove_account(&account).await.unwrap_err();
    assert!(matches!(e, msal::Error::Storage(_)), "{e:?}");
    hooks
        .fail_after
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let stale = hooks.doc_text();
    assert!(stale.is_empty());
    // The next access (even a read) saves the pending change.
    assert!(s.app.accounts().await.unwrap().is_empty());
    let last = hooks.calls().last().cloned().unwrap();
    assert_eq!(last, ("after", None, true, true));
    assert!(!hooks.doc_text().contains("RT-1"));
}

#[tokio::test]
async fn a_throttling_server_is_not_asked_again_with_the_next_refresh_token() {
    let tenant = unique_tenant();
    let env = "login.microsoftonline.com";
    let doc = json!({
        "Account": { "a": account_entry(env, &tenant) },
        "RefreshToken": {
            "frt": rt_entry(env, &tenant, OTHER_APP, "FAMILY-RT", Some("1")),
            "own": rt_entry(env, &tenant, CLIENT_ID, "OWN-RT", None)
        }
    });
    let hooks = RecordingHooks::with_doc(&doc.to_string());
    let s = setup_with_hooks(hooks, Some(&format!("{HOST}/{tenant}")));
    let account = s.app.accounts().await.unwrap().remove(0);
    expect_metadata(&s.http, &tenant);
    s.http.expect(
        refresh_post(&tenant, "FAMILY-RT"),
        Reply::json(429, r#"{"error":"temporarily_unavailable"}"#).header("retry-after", "120"),
    );
    let e = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    assert!(
        s.http
            .requests()
            .iter()
            .all(|r| r.form_value("refresh_token").as_deref() != Some("OWN-RT")),
        "the busy server got the next refresh token too"
    );
    s.http.assert_consumed();
}

#[tokio::test]
async fn silent_without_scopes_is_a_configuration_error() {
    let tenant = unique_tenant();
    let env = "login.microsoftonline.com";
    let doc = json!({
        "Account": { "a": account_entry(env, &tenant) },
        "AccessToken": { "at": at_entry(env, &tenant, &tenant, "SOME-AT", NOW + 3600) }
    });
    let hooks = RecordingHooks::with_doc(&doc.to_string());
    let s = setup_with_hooks(hooks, Some(&format!("{HOST}/{tenant}")));
    let account = s.app.accounts().await.unwrap().remove(0);
    let none: [&str; 0] = [];
    let e = s
        .app
        .acquire_token_silent(&none, &account)
        .await
        .unwrap_err();
    assert!(matches!(e, msal::Error::Config(_)), "{e:?}");
    assert_eq!(s.http.request_count(), 0);
}

#[tokio::test]
async fn sign_out_removes_the_account_under_every_alias_silent_calls_would_use() {
    // MSAL Python wrote the user under login.microsoftonline.com, MSAL Node
    // under login.windows.net: both serve silent calls, so both must go.
    let tenant = unique_tenant();
    let (py, node) = ("login.microsoftonline.com", "login.windows.net");
    let doc = json!({
        "Account": { "a": account_entry(py, &tenant), "b": account_entry(node, &tenant) },
        "AccessToken": {
            "at1": at_entry(py, &tenant, &tenant, "PY-AT", NOW + 3600),
            "at2": at_entry(node, &tenant, &tenant, "NODE-AT", NOW + 3600)
        },
        "RefreshToken": {
            "rt1": rt_entry(py, &tenant, CLIENT_ID, "PY-RT", None),
            "rt2": rt_entry(node, &tenant, CLIENT_ID, "NODE-RT", None)
        }
    });
    let hooks = RecordingHooks::with_doc(&doc.to_string());
    let s = setup_with_hooks(hooks.clone(), Some(&format!("{HOST}/{tenant}")));
    let accounts = s.app.accounts().await.unwrap();
    assert_eq!(accounts.len(), 1, "one home account, deduplicated");
    s.app.remove_account(&accounts[0]).await.unwrap();
    assert!(s.app.accounts().await.unwrap().is_empty());
    let e = s
        .app
        .acquire_token_silent(&["User.Read"], &accounts[0])
        .await
        .unwrap_err();
    assert!(e.is_ui_required(), "{e:?}");
    let saved: serde_json::Value =
        serde_json::from_slice(hooks.doc.lock().unwrap().as_deref().unwrap()).unwrap();
    for section in ["Account", "AccessToken", "RefreshToken"] {
        assert!(
            saved[section].as_object().is_none_or(|m| m.is_empty()),
            "{section} left behind: {}",
            saved[section]
        );
    }
    assert_eq!(s.http.request_count(), 0);
}

#[tokio::test]
async fn a_token_dotnet_stored_under_the_configured_domain_is_a_hit() {
    // MSAL.NET with https://login.microsoftonline.com/<domain> stores the
    // domain as the realm; the token endpoint names the tenant id.
    let tenant = unique_tenant();
    let domain = format!("d{}.example", &tenant[..8]);
    let env = "login.microsoftonline.com";
    let doc = json!({
        "Account": { "a": account_entry(env, &tenant) },
        "AccessToken": { "at": at_entry(env, &domain, &tenant, "DOTNET-AT", NOW + 3600) },
        "RefreshToken": { "rt": rt_entry(env, &tenant, CLIENT_ID, "DOTNET-RT", None) }
    });
    let hooks = RecordingHooks::with_doc(&doc.to_string());
    let s = setup_with_hooks(hooks, Some(&format!("{HOST}/{domain}")));
    s.http.expect(
        msal_test_support::Expect::get(&format!(
            "{HOST}/{domain}/v2.0/.well-known/openid-configuration"
        )),
        Reply::json(200, &metadata_json(&tenant)),
    );
    let account = s.app.accounts().await.unwrap().remove(0);
    let r = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "DOTNET-AT");
    assert_eq!(r.source(), TokenSource::Cache);
    s.http.assert_consumed();
}
