//! Extended access-token entries (`atext`, spec `extended-keys.md`) in the
//! shapes MSAL.NET 4.86 (`"credential_type": "ATExt"`, the parts under
//! `ext`, the key suffixed with its `k1v1k2v2` hash) and MSAL Go 1.9 /
//! Python 1.39 (`"credential_type": "AccessToken"`, the lower-cased
//! length-prefixed hash in `ext_cache_key` and the key) write them,
//! hand-made from the documented formats. Every entry is found by the
//! request that owns it and by no other (a request without parts finds
//! only the plain token), and is kept unchanged when msal-rs saves.

use msal::cache::ext_key::{CLIENT_CLAIMS, ExtCacheKey, FMI_PATH};
use msal::cache::{
    AccessTokenQuery, AuthorityType, TokenCache, TokenResponse, TokenResponseRecord,
};
use msal::secret::AccessTokenSecret;
use serde_json::{Value, json};

const CID: &str = "my-client-id";
const TENANT: &str = "my-tenant";
const TARGET: &str = "api://resource/.default";
const NOW: i64 = 1_796_669_090;
const FMI: &str = "SomeFmiPath/FmiCredentialPath";
const UMLAUT: &str = "pfad/\u{fc}ber";
const CC: &str = r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#;
const ACR: &str = r#"{"id_token":{"acr":null}}"#;

/// The requests of these tests: a name and the parts they send.
fn requests() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    vec![
        ("plain", vec![]),
        ("fmi", vec![(FMI_PATH, FMI)]),
        ("umlaut", vec![(FMI_PATH, UMLAUT)]),
        ("client claims", vec![(CLIENT_CLAIMS, CC)]),
        (
            "fmi A/B + acr",
            vec![(FMI_PATH, "A/B"), (CLIENT_CLAIMS, ACR)],
        ),
        ("fmi A/B", vec![(FMI_PATH, "A/B")]),
        ("other fmi", vec![(FMI_PATH, "Other/Path")]),
    ]
}

fn key_of(parts: &[(&str, &str)]) -> Option<ExtCacheKey> {
    ExtCacheKey::from_parts(parts.iter().copied())
}

fn times() -> Value {
    json!({
        "cached_at": NOW.to_string(),
        "expires_on": (NOW + 3600).to_string(),
        "extended_expires_on": (NOW + 3600).to_string(),
    })
}

fn with_times(mut v: Value) -> Value {
    for (k, t) in times().as_object().unwrap() {
        v[k] = t.clone();
    }
    v
}

/// MSAL.NET 4.86: `ATExt`, parts under `ext`, no `home_account_id`, no
/// `ext_cache_key`; key suffix = the legacy hash, lower-cased with the key.
/// One entry (`NET-KEY-ONLY`) is extended by its key alone.
fn dotnet_cache(env: &str) -> Value {
    let mut ats = serde_json::Map::new();
    ats.insert(
        format!("-{env}-accesstoken-{CID}-{TENANT}-{TARGET}"),
        with_times(json!({
            "credential_type": "AccessToken", "secret": "NET-PLAIN", "environment": env,
            "client_id": CID, "realm": TENANT, "target": TARGET
        })),
    );
    for (secret, parts) in [
        ("NET-FMI", vec![(FMI_PATH, FMI)]),
        ("NET-UMLAUT", vec![(FMI_PATH, UMLAUT)]),
        ("NET-CC", vec![(CLIENT_CLAIMS, CC)]),
    ] {
        let legacy = key_of(&parts).unwrap().legacy().to_lowercase();
        let ext: serde_json::Map<String, Value> =
            parts.iter().map(|(k, v)| ((*k).into(), json!(v))).collect();
        ats.insert(
            format!("-{env}-atext-{CID}-{TENANT}-{TARGET}-{legacy}"),
            with_times(json!({
                "credential_type": "ATExt", "secret": secret, "environment": env,
                "client_id": CID, "realm": TENANT, "target": TARGET, "ext": ext
            })),
        );
    }
    let legacy = key_of(&[(FMI_PATH, "A/B")])
        .unwrap()
        .legacy()
        .to_lowercase();
    ats.insert(
        format!("-{env}-atext-{CID}-{TENANT}-{TARGET}-{legacy}"),
        with_times(json!({
            "credential_type": "ATExt", "secret": "NET-KEY-ONLY", "environment": env,
            "client_id": CID, "realm": TENANT, "target": TARGET
        })),
    );
    json!({
        "AccessToken": ats,
        "AppMetadata": {
            format!("appmetadata-{env}-{CID}"): {"client_id": CID, "environment": env}
        }
    })
}

/// MSAL Go 1.9: `AccessToken` + `ext_cache_key` (the lower-cased current
/// hash), `atext` in the key, no `home_account_id`.
fn go_cache(env: &str) -> Value {
    let mut ats = serde_json::Map::new();
    ats.insert(
        format!("-{env}-accesstoken-{CID}-{TENANT}-{TARGET}"),
        with_times(json!({
            "credential_type": "AccessToken", "secret": "GO-PLAIN", "environment": env,
            "client_id": CID, "realm": TENANT, "target": TARGET, "token_type": "Bearer"
        })),
    );
    for (secret, parts) in [
        ("GO-FMI", vec![(FMI_PATH, FMI)]),
        ("GO-UMLAUT", vec![(FMI_PATH, UMLAUT)]),
        ("GO-CC", vec![(CLIENT_CLAIMS, CC)]),
        ("GO-BOTH", vec![(FMI_PATH, "A/B"), (CLIENT_CLAIMS, ACR)]),
    ] {
        let hash = key_of(&parts).unwrap().hash().to_owned();
        ats.insert(
            format!("-{env}-atext-{CID}-{TENANT}-{TARGET}-{hash}"),
            with_times(json!({
                "credential_type": "AccessToken", "secret": secret, "environment": env,
                "client_id": CID, "realm": TENANT, "target": TARGET, "token_type": "Bearer",
                "ext_cache_key": hash
            })),
        );
    }
    json!({"AccessToken": ats})
}

/// The secret each request finds.
fn found(cache: &TokenCache, env: &str) -> Vec<(&'static str, Option<String>)> {
    requests()
        .into_iter()
        .map(|(name, parts)| {
            let ext = key_of(&parts);
            let q = AccessTokenQuery {
                client_id: CID,
                environments: &[env],
                realms: &[TENANT],
                scopes: &[TARGET],
                ext_cache_key: ext.as_ref().map(ExtCacheKey::hash),
                ext_cache_key_legacy: ext.as_ref().map(ExtCacheKey::legacy),
                ..AccessTokenQuery::default()
            };
            let secret = cache
                .find_access_token(&q, NOW)
                .map(|t| t.secret.expose_secret().to_owned());
            (name, secret)
        })
        .collect()
}

fn expect(pairs: &[(&'static str, Option<&str>)]) -> Vec<(&'static str, Option<String>)> {
    pairs
        .iter()
        .map(|(n, s)| (*n, s.map(str::to_owned)))
        .collect()
}

fn load(doc: &Value) -> TokenCache {
    TokenCache::deserialize(doc.to_string().as_bytes()).unwrap()
}

fn saved(cache: &TokenCache) -> Value {
    serde_json::from_slice(&cache.serialize()).unwrap()
}

#[test]
fn dotnet_entries_are_found_by_their_own_request_only() {
    let env = "login.windows.net";
    let doc = dotnet_cache(env);
    let cache = load(&doc);
    assert_eq!(
        found(&cache, env),
        expect(&[
            ("plain", Some("NET-PLAIN")),
            ("fmi", Some("NET-FMI")),
            ("umlaut", Some("NET-UMLAUT")),
            ("client claims", Some("NET-CC")),
            ("fmi A/B + acr", None),
            ("fmi A/B", Some("NET-KEY-ONLY")),
            ("other fmi", None),
        ])
    );
    assert_eq!(saved(&cache), doc, "kept unchanged on save");
}

#[test]
fn go_entries_are_found_by_their_own_request_only() {
    let env = "login.microsoftonline.com";
    let doc = go_cache(env);
    let cache = load(&doc);
    assert_eq!(
        found(&cache, env),
        expect(&[
            ("plain", Some("GO-PLAIN")),
            ("fmi", Some("GO-FMI")),
            ("umlaut", Some("GO-UMLAUT")),
            ("client claims", Some("GO-CC")),
            ("fmi A/B + acr", Some("GO-BOTH")),
            ("fmi A/B", None),
            ("other fmi", None),
        ])
    );
    assert_eq!(saved(&cache), doc, "kept unchanged on save");
}

#[test]
fn the_credential_type_is_read_case_insensitively_and_any_marker_makes_an_entry_extended() {
    let env = "login.microsoftonline.com";
    let fmi = key_of(&[(FMI_PATH, FMI)]).unwrap();
    for (credential_type, extra, key_descriptor) in [
        // `atext` in any case, with nothing else.
        ("atext", json!({}), "atext"),
        ("ATEXT", json!({}), "atext"),
        // An `AccessToken` with .NET's parts object.
        (
            "AccessToken",
            json!({"ext": {"fmi_path": FMI}}),
            "accesstoken",
        ),
        // An `AccessToken` whose key alone says `atext`.
        ("AccessToken", json!({}), "atext"),
        // Python's `ext_cache_key` in the legacy form.
        (
            "AccessToken",
            json!({"ext_cache_key": fmi.legacy()}),
            "accesstoken",
        ),
    ] {
        let mut entry = with_times(json!({
            "credential_type": credential_type, "secret": "EXT", "environment": env,
            "client_id": CID, "realm": TENANT, "target": TARGET
        }));
        for (k, v) in extra.as_object().unwrap() {
            entry[k] = v.clone();
        }
        let key = format!(
            "-{env}-{key_descriptor}-{CID}-{TENANT}-{TARGET}-{}",
            fmi.hash()
        );
        let doc = json!({"AccessToken": {key: entry}});
        let cache = load(&doc);
        let got = found(&cache, env);
        assert_eq!(
            got,
            expect(&[
                ("plain", None),
                ("fmi", Some("EXT")),
                ("umlaut", None),
                ("client claims", None),
                ("fmi A/B + acr", None),
                ("fmi A/B", None),
                ("other fmi", None),
            ]),
            "{credential_type} {extra}"
        );
        assert_eq!(saved(&cache), doc);
    }
}

#[test]
fn msal_rs_writes_what_msal_python_writes_and_keeps_foreign_entries() {
    let env = "login.microsoftonline.com";
    let doc = dotnet_cache(env);
    let mut cache = load(&doc);
    let fmi = key_of(&[(FMI_PATH, FMI)]).unwrap();
    let resp = TokenResponse {
        access_token: Some(AccessTokenSecret::new("RS-FMI")),
        expires_in: Some(7200),
        ext_cache_key: Some(fmi.hash().to_owned()),
        ..TokenResponse::default()
    };
    let scopes = vec![TARGET.to_owned()];
    cache
        .add(&TokenResponseRecord {
            client_id: CID,
            environment: env,
            realm: TENANT,
            authority_type: AuthorityType::Mssts,
            requested_scopes: &scopes,
            response: &resp,
            account_source: None,
            username_hint: None,
            user_assertion_hash: None,
            refresh_token_to_rotate: None,
            now: NOW,
        })
        .unwrap();
    let out = saved(&cache);
    // The entry of the spec's vector (MSAL Python 1.39), secret and times aside.
    let key = "-login.microsoftonline.com-atext-my-client-id-my-tenant-api://resource/.default-cojvfy5tzae3njpkvcebguvvx5vvmnj8hphqrbogjoi";
    let written = &out["AccessToken"][key];
    assert_eq!(written["credential_type"], "AccessToken");
    assert_eq!(
        written["ext_cache_key"],
        "cojvfy5tzae3njpkvcebguvvx5vvmnj8hphqrbogjoi"
    );
    assert_eq!(written["home_account_id"], Value::Null);
    assert_eq!(written["token_type"], "Bearer");
    // The .NET entries are still there, unchanged.
    for (k, v) in doc["AccessToken"].as_object().unwrap() {
        assert_eq!(&out["AccessToken"][k], v, "{k}");
    }
    // The new entry is the FMI request's (it lives longer), and only its.
    let got = found(&cache, env);
    assert_eq!(got[1], ("fmi", Some("RS-FMI".to_owned())));
    assert_eq!(got[0], ("plain", Some("NET-PLAIN".to_owned())));
}
