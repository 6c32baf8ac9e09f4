//! Format details of the other MSALs in 2026 (spec `extended-keys.md`,
//! "Related facts"): MSAL Go up to 1.8 wrote the ID-token credential type
//! `IDToken`; MSAL Node keeps an `apiId` on its Account entries; an app
//! token's response may carry `client_info` (Entra's `client_info=2`)
//! without making the token a user's. Also the fixed form of the FMI wire
//! request (`fmi_path`, `claims`).

mod confidential_support;

use confidential_support::*;
use msal::TokenSource;
use msal::cache::TokenCache;
use msal_test_support::Reply;
use serde_json::{Value, json};

const ENV: &str = "login.microsoftonline.com";
const CID: &str = "00000000-0000-0000-0000-00000000c1d0";
const REALM: &str = "00000000-0000-0000-0000-0000000000f1";
const HAI: &str = "00000000-0000-0000-0000-00000000a11c.00000000-0000-0000-0000-0000000000f1";

fn idt_doc(credential_type: &str) -> Value {
    let jwt =
        unsigned_jwt(&json!({"oid": "x", "tid": REALM, "preferred_username": "ada@contoso.com"}));
    json!({
        "IdToken": {
            // Go's key: no trailing empty slot.
            format!("{HAI}-{ENV}-idtoken-{CID}-{REALM}"): {
                "credential_type": credential_type, "secret": jwt, "home_account_id": HAI,
                "environment": ENV, "realm": REALM, "client_id": CID
            }
        }
    })
}

#[test]
fn the_id_token_credential_type_is_read_in_any_case() {
    for credential_type in ["IdToken", "IDToken", "idtoken"] {
        let doc = idt_doc(credential_type);
        let cache = TokenCache::deserialize(doc.to_string().as_bytes()).unwrap();
        let found = cache
            .find_id_token(HAI, &[ENV], CID, Some(REALM))
            .unwrap_or_else(|| panic!("{credential_type} not found"));
        assert_eq!(found.realm, REALM);
        assert_eq!(found.claims().unwrap().username(), Some("ada@contoso.com"));
        let saved: Value = serde_json::from_slice(&cache.serialize()).unwrap();
        assert_eq!(saved, doc, "kept as written");
    }
    // Another credential type is not an ID token.
    let cache = TokenCache::deserialize(idt_doc("AccessToken").to_string().as_bytes()).unwrap();
    assert!(cache.find_id_token(HAI, &[ENV], CID, Some(REALM)).is_none());
}

#[test]
fn node_accounts_keep_their_api_id() {
    let doc = json!({
        "Account": {
            format!("{HAI}-{ENV}-{REALM}"): {
                "home_account_id": HAI, "environment": ENV, "realm": REALM,
                "local_account_id": "00000000-0000-0000-0000-00000000a11c",
                "username": "ada@contoso.com", "authority_type": "MSSTS", "name": "Ada",
                "apiId": 3, "tenantProfiles": [], "lastUpdatedAt": "1796669090"
            }
        }
    });
    let cache = TokenCache::deserialize(doc.to_string().as_bytes()).unwrap();
    let accounts = cache.accounts(&[ENV]);
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].username(), "ada@contoso.com");
    assert_eq!(accounts[0].name(), Some("Ada"));
    let saved: Value = serde_json::from_slice(&cache.serialize()).unwrap();
    assert_eq!(saved, doc);
    assert_eq!(saved["Account"][format!("{HAI}-{ENV}-{REALM}")]["apiId"], 3);
}

#[tokio::test]
async fn an_app_token_with_client_info_is_still_an_app_token() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    let mut body: Value = serde_json::from_str(&app_token_json("at-ci", 3600)).unwrap();
    body["client_info"] = json!(client_info("sp-object-id", &s.tenant));
    s.http.expect(
        cc_post(&s.tenant, GRAPH),
        Reply::json(200, &body.to_string()),
    );
    let r = s.app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    assert_eq!(r.source(), TokenSource::IdentityProvider);
    assert!(r.account().is_none());
    let again = s.app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    assert_eq!(again.source(), TokenSource::Cache);
    assert_eq!(again.access_token().expose_secret(), "at-ci");
    let doc = s
        .hooks
        .after()
        .into_iter()
        .filter_map(|x| x.document)
        .next_back()
        .unwrap();
    let doc: Value = serde_json::from_slice(&doc).unwrap();
    let ats = doc["AccessToken"].as_object().unwrap();
    assert_eq!(ats.len(), 1);
    let (key, at) = ats.iter().next().unwrap();
    assert!(key.starts_with('-'), "an app token's key: {key}");
    assert_eq!(at["home_account_id"], Value::Null);
    assert!(doc.get("Account").is_none());
}

#[tokio::test]
async fn the_fmi_request_form_and_its_cache_entry() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    let cc = r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#;
    s.http.expect(
        cc_post(&s.tenant, GRAPH)
            .form("fmi_path", "SomeFmiPath/FmiCredentialPath")
            .form("claims", cc),
        Reply::json(200, &app_token_json("at-fmi", 3600)),
    );
    let r = s
        .app
        .acquire_token_for_client(&[GRAPH])
        .fmi_path("SomeFmiPath/FmiCredentialPath")
        .client_claims(cc)
        .await
        .unwrap();
    assert_eq!(r.source(), TokenSource::IdentityProvider);
    let doc = s
        .hooks
        .after()
        .into_iter()
        .filter_map(|x| x.document)
        .next_back()
        .unwrap();
    let doc: Value = serde_json::from_slice(&doc).unwrap();
    let (key, at) = doc["AccessToken"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    let hash = msal::cache::ext_key::ExtCacheKey::from_parts([
        ("fmi_path", "SomeFmiPath/FmiCredentialPath"),
        ("client_claims", cc),
    ])
    .unwrap();
    assert_eq!(at["ext_cache_key"], hash.hash());
    assert!(key.ends_with(&format!("-{}", hash.hash())), "{key}");
    assert!(key.contains("-atext-"), "{key}");
    // Same parts: from the cache; a claims challenge still skips it.
    let hit = s
        .app
        .acquire_token_for_client(&[GRAPH])
        .client_claims(cc)
        .fmi_path("SomeFmiPath/FmiCredentialPath")
        .await
        .unwrap();
    assert_eq!(hit.source(), TokenSource::Cache);
    assert_eq!(s.http.requests().len(), 2);
}
