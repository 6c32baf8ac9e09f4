//! Caches in the shapes MSAL.NET and MSAL Go write (spec §1, §2.3, §10),
//! hand-made from the spec: their key formats (a family refresh token keyed
//! by the family id, .NET's Account key not lower-cased, Go's keys without
//! trailing slots and missing empty sections), .NET's nested objects,
//! omitted `token_type`, `kid` and `ext_expires_on`, Go's `keyid`. msal-rs
//! lists the account, serves the access token silently, refreshes with the
//! family refresh token, signs the user out completely, and keeps what it
//! does not understand.

mod public_support;

use std::time::Duration;

use msal::TokenSource;
use msal_test_support::Reply;
use public_support::*;
use serde_json::{Value, json};

const ENV: &str = "login.windows.net";

fn hai(tenant: &str) -> String {
    format!("{UID}.{tenant}")
}

/// What MSAL.NET (FOCI on) writes after an interactive sign-in with
/// `/organizations`, plus an unrelated user who must survive the sign-out.
fn dotnet_cache(tenant: &str) -> Value {
    let h = hai(tenant);
    let ci = client_info(UID, tenant);
    let idt = id_token(tenant, None);
    json!({
        "AccessToken": {
            format!("{h}-{ENV}-accesstoken-{CLIENT_ID}-{tenant}-user.read openid profile"): {
                "credential_type": "AccessToken", "secret": "DOTNET-AT", "home_account_id": h,
                "environment": ENV, "client_id": CLIENT_ID, "realm": tenant,
                "target": "User.Read openid profile", "cached_at": NOW.to_string(),
                "expires_on": (NOW + 3600).to_string(), "extended_expires_on": "0",
                "ext_expires_on": (NOW + 7200).to_string(), "client_info": ci,
                "persisted_cache_parameters": {"k": "v"}
            },
            format!("{h}-{ENV}-accesstoken_with_authscheme-{CLIENT_ID}-{tenant}-user.read-pop"): {
                "credential_type": "AccessToken", "secret": "DOTNET-POP-AT", "home_account_id": h,
                "environment": ENV, "client_id": CLIENT_ID, "realm": tenant, "target": "User.Read",
                "token_type": "pop", "kid": "key-1", "cached_at": NOW.to_string(),
                "expires_on": (NOW + 3600).to_string(), "extended_expires_on": (NOW + 3600).to_string()
            }
        },
        "RefreshToken": {
            format!("{h}-{ENV}-refreshtoken-1--"): {
                "credential_type": "RefreshToken", "secret": "DOTNET-FRT", "home_account_id": h,
                "environment": ENV, "client_id": CLIENT_ID, "family_id": "1", "client_info": ci,
                "ext": {"x": 1}
            },
            format!("other.{tenant}-{ENV}-refreshtoken-{CLIENT_ID}--"): {
                "credential_type": "RefreshToken", "secret": "OTHER-RT", "home_account_id": format!("other.{tenant}"),
                "environment": ENV, "client_id": CLIENT_ID
            }
        },
        "IdToken": {
            format!("{h}-{ENV}-idtoken-{CLIENT_ID}-{tenant}-"): {
                "credential_type": "IdToken", "secret": idt, "home_account_id": h,
                "environment": ENV, "client_id": CLIENT_ID, "realm": tenant
            }
        },
        "Account": {
            // .NET does not lower-case Account keys.
            format!("{}-{ENV}-{tenant}", h.to_uppercase()): {
                "home_account_id": h, "environment": ENV, "realm": tenant,
                "local_account_id": UID, "username": "ada@contoso.example",
                "authority_type": "MSSTS", "account_source": "device_code_flow",
                "wam_account_ids": {"a": "b"}
            }
        },
        "AppMetadata": {
            format!("appmetadata-{ENV}-{CLIENT_ID}"): {
                "client_id": CLIENT_ID, "environment": ENV, "family_id": "1"
            }
        },
        "SomethingNew": {"kept": [1, 2, 3]}
    })
}

#[tokio::test]
async fn a_dotnet_cache_serves_silent_calls_refreshes_with_its_frt_and_signs_out() {
    let tenant = unique_tenant();
    let hooks = RecordingHooks::with_doc(&dotnet_cache(&tenant).to_string());
    let s = setup_with_hooks(hooks.clone(), Some(&format!("{HOST}/organizations")));
    let accounts = s.app.accounts().await.unwrap();
    assert_eq!(accounts.len(), 1);
    let account = accounts[0].clone();
    assert_eq!(account.username(), "ada@contoso.example");

    // The Bearer token (no token_type), never the PoP one; .NET's legacy
    // ext_expires_on stands in for extended_expires_on "0".
    let r = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "DOTNET-AT");
    assert_eq!(r.source(), TokenSource::Cache);
    assert_eq!(s.http.request_count(), 0);

    // Expired: the family refresh token (keyed by the family id) is redeemed.
    s.clock.advance(Duration::from_secs(3600));
    expect_metadata(&s.http, "organizations");
    s.http.expect(
        refresh_post("organizations", "DOTNET-FRT"),
        Reply::json(
            200,
            &token_json("NEW-AT", "NEW-FRT", &tenant, 3600, None)
                .replace("\"token_type\"", "\"foci\":\"1\",\"token_type\""),
        ),
    );
    let r = s
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "NEW-AT");
    let saved: Value =
        serde_json::from_slice(hooks.doc.lock().unwrap().as_deref().unwrap()).unwrap();
    let frt = &saved["RefreshToken"][format!("{}-{ENV}-refreshtoken-1--", hai(&tenant))];
    assert_eq!(
        frt["secret"], "NEW-FRT",
        "rotated in place under .NET's key"
    );
    assert_eq!(frt["ext"], json!({"x": 1}), "unknown nested fields kept");
    assert_eq!(saved["SomethingNew"], json!({"kept": [1, 2, 3]}));

    // Sign-out: every entry of this user goes, whoever's key format; the
    // other user's refresh token and the app metadata stay.
    s.app.remove_account(&account).await.unwrap();
    assert!(s.app.accounts().await.unwrap().is_empty());
    let saved: Value =
        serde_json::from_slice(hooks.doc.lock().unwrap().as_deref().unwrap()).unwrap();
    let h = hai(&tenant);
    for section in ["AccessToken", "RefreshToken", "IdToken", "Account"] {
        let left: Vec<&String> = saved[section]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, e)| e["home_account_id"] == json!(h))
                    .map(|(k, _)| k)
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.is_empty(), "{section}: {left:?} left behind");
    }
    assert_eq!(saved["RefreshToken"].as_object().unwrap().len(), 1);
    // AppMetadata is never removed (.NET's, and the one the refresh wrote
    // under the configured host).
    assert!(
        saved["AppMetadata"]
            .get(format!("appmetadata-{ENV}-{CLIENT_ID}"))
            .is_some()
    );
    s.http.assert_consumed();
}

/// What MSAL Go writes: no empty sections, keys without trailing slots,
/// `keyid`, an old upper-case key, numbers as strings.
#[tokio::test]
async fn a_go_cache_lists_the_account_and_serves_its_token() {
    let tenant = unique_tenant();
    let env = "login.microsoftonline.com";
    let h = hai(&tenant);
    let doc = json!({
        "AccessToken": {
            format!("{h}-{env}-accesstoken-{CLIENT_ID}-{tenant}-user.read"): {
                "credential_type": "AccessToken", "secret": "GO-AT", "home_account_id": h,
                "environment": env, "client_id": CLIENT_ID, "realm": tenant, "target": "User.Read",
                "token_type": "Bearer", "cached_at": NOW.to_string(),
                "expires_on": (NOW + 3600).to_string(), "extended_expires_on": (NOW + 3600).to_string()
            },
            format!("{h}-{env}-accesstoken-{CLIENT_ID}-{tenant}-user.read-pop"): {
                "credential_type": "AccessToken", "secret": "GO-POP-AT", "home_account_id": h,
                "environment": env, "client_id": CLIENT_ID, "realm": tenant, "target": "User.Read",
                "token_type": "pop", "keyid": "key-1", "cached_at": NOW.to_string(),
                "expires_on": (NOW + 3600).to_string(), "extended_expires_on": (NOW + 3600).to_string()
            }
        },
        "RefreshToken": {
            format!("{}-{env}-refreshtoken-{CLIENT_ID}", h.to_uppercase()): {
                "credential_type": "RefreshToken", "secret": "GO-RT", "home_account_id": h,
                "environment": env, "client_id": CLIENT_ID, "realm": ""
            }
        },
        "Account": {
            format!("{h}-{env}-{tenant}"): {
                "home_account_id": h, "environment": env, "realm": tenant,
                "local_account_id": UID, "username": "ada@contoso.example", "authority_type": "MSSTS"
            }
        }
    });
    let hooks = RecordingHooks::with_doc(&doc.to_string());
    let s = setup_with_hooks(hooks, Some(&format!("{HOST}/{tenant}")));
    let account = s.app.accounts().await.unwrap().remove(0);
    let r = s
        .app
        .acquire_token_silent(&["user.read"], &account)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "GO-AT");
    s.app.remove_account(&account).await.unwrap();
    assert!(s.app.accounts().await.unwrap().is_empty());
    let e = s
        .app
        .acquire_token_silent(&["user.read"], &account)
        .await
        .unwrap_err();
    assert!(
        e.is_ui_required(),
        "the upper-case-keyed RT survived: {e:?}"
    );
    assert_eq!(s.http.request_count(), 0);
}
