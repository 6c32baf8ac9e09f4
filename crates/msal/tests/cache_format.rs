//! The cache document: MSAL Python's exact bytes for the spec's examples,
//! round trips of unknown data, tolerance of odd entries, typed errors.

use msal::cache::{
    AccessTokenQuery, AuthorityType, RefreshTokenQuery, TokenCache, TokenResponse,
    TokenResponseRecord,
};
use msal::secret::{AccessTokenSecret, IdTokenSecret, RefreshTokenSecret};

const SPEC_9_1: &str = include_str!("fixtures/cache/spec_9_1.json");
const SPEC_9_2: &str = include_str!("fixtures/cache/spec_9_2.json");
const HAI: &str = "00000000-0000-0000-0000-00000000a11c.00000000-0000-0000-0000-0000000000f1";
const CID: &str = "00000000-0000-0000-0000-00000000c1d0";
const TID: &str = "00000000-0000-0000-0000-0000000000f1";
const ENV: &str = "login.microsoftonline.com";
const NOW: i64 = 1_700_000_000;
const ID_TOKEN: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJhdWQiOiIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMGMxZDAiLCJpc3MiOiJodHRwczovL2xvZ2luLm1pY3Jvc29mdG9ubGluZS5jb20vMDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMGYxL3YyLjAiLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNjAwLCJuYW1lIjoiQWxpY2UgRXhhbXBsZSIsIm9pZCI6IjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwYTExYyIsInByZWZlcnJlZF91c2VybmFtZSI6ImFsaWNlQGNvbnRvc28uZXhhbXBsZSIsInN1YiI6ImZha2UtcGFpcndpc2Utc3ViamVjdCIsInRpZCI6IjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDBmMSIsInZlciI6IjIuMCJ9.";
const CLIENT_INFO: &str = "eyJ1aWQiOiIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMGExMWMiLCJ1dGlkIjoiMDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMGYxIn0";

fn user_response() -> TokenResponse {
    TokenResponse {
        access_token: Some(AccessTokenSecret::new("FAKE-ACCESS-TOKEN")),
        token_type: Some("Bearer".into()),
        expires_in: Some(3599),
        ext_expires_in: Some(3599),
        refresh_in: Some(1800),
        refresh_token: Some(RefreshTokenSecret::new("FAKE-REFRESH-TOKEN")),
        scope: Some("User.Read Mail.Read openid profile email".into()),
        id_token: Some(IdTokenSecret::new(ID_TOKEN)),
        client_info: Some(CLIENT_INFO.into()),
        ..TokenResponse::default()
    }
}

fn record<'a>(
    response: &'a TokenResponse,
    scopes: &'a [String],
    source: Option<&'a str>,
) -> TokenResponseRecord<'a> {
    TokenResponseRecord {
        client_id: CID,
        environment: ENV,
        realm: TID,
        authority_type: AuthorityType::Mssts,
        requested_scopes: scopes,
        response,
        account_source: source,
        username_hint: None,
        user_assertion_hash: None,
        refresh_token_to_rotate: None,
        now: NOW,
    }
}

fn text(cache: &TokenCache) -> String {
    String::from_utf8(cache.serialize()).unwrap()
}

#[test]
fn spec_9_1_user_sign_in_is_byte_identical_to_msal_python() {
    let mut cache = TokenCache::new();
    let response = user_response();
    let scopes: Vec<String> = [
        "User.Read",
        "Mail.Read",
        "openid",
        "profile",
        "offline_access",
    ]
    .map(String::from)
    .to_vec();
    let account = cache
        .add(&record(&response, &scopes, Some("authorization_code")))
        .unwrap()
        .unwrap();
    assert_eq!(text(&cache), SPEC_9_1);
    assert_eq!(account.home_account_id(), HAI);
    assert_eq!(account.username(), "alice@contoso.example");
    assert_eq!(
        account.local_account_id(),
        "00000000-0000-0000-0000-00000000a11c"
    );
    assert_eq!(cache.accounts(&[ENV]), vec![account]);
}

#[test]
fn spec_9_2_app_token_is_byte_identical_to_msal_python() {
    let mut cache = TokenCache::new();
    let response = TokenResponse {
        access_token: Some(AccessTokenSecret::new("FAKE-APP-ACCESS-TOKEN")),
        token_type: Some("Bearer".into()),
        expires_in: Some(3599),
        ext_expires_in: Some(3599),
        ..TokenResponse::default()
    };
    let scopes = vec!["https://graph.microsoft.com/.default".to_owned()];
    assert!(
        cache
            .add(&record(&response, &scopes, None))
            .unwrap()
            .is_none()
    );
    assert_eq!(text(&cache), SPEC_9_2);
}

#[test]
fn spec_examples_round_trip_byte_for_byte_and_are_found() {
    for doc in [SPEC_9_1, SPEC_9_2] {
        let cache = TokenCache::deserialize(doc.as_bytes()).unwrap();
        assert_eq!(text(&cache), doc);
        assert!(!cache.has_state_changed());
    }
    let cache = TokenCache::deserialize(SPEC_9_1.as_bytes()).unwrap();
    let q = AccessTokenQuery {
        client_id: CID,
        home_account_id: Some(HAI),
        environments: &[ENV],
        realms: &[TID],
        scopes: &["user.read"],
        ..AccessTokenQuery::default()
    };
    let at = cache.find_access_token(&q, NOW + 10).unwrap();
    assert_eq!(at.secret.expose_secret(), "FAKE-ACCESS-TOKEN");
    assert_eq!(
        (at.expires_on, at.extended_expires_on, at.refresh_on),
        (NOW + 3599, NOW + 3599, Some(NOW + 1800))
    );
    assert_eq!(at.home_account_id.as_deref(), Some(HAI));
    assert!(
        cache.find_access_token(&q, NOW + 3599).is_none(),
        "expired at expires_on"
    );
    let rts = cache.find_refresh_tokens(&RefreshTokenQuery {
        home_account_id: HAI,
        environments: &[ENV],
        client_id: Some(CID),
        ..RefreshTokenQuery::default()
    });
    assert_eq!(rts.len(), 1);
    assert_eq!(rts[0].secret.expose_secret(), "FAKE-REFRESH-TOKEN");
    assert_eq!(rts[0].family_id, None);
    let idt = cache.find_id_token(HAI, &[ENV], CID, Some(TID)).unwrap();
    assert_eq!(idt.claims().unwrap().get_str("name"), Some("Alice Example"));
    assert_eq!(cache.app_metadata(&[ENV], CID).unwrap().family_id, None);

    let app = TokenCache::deserialize(SPEC_9_2.as_bytes()).unwrap();
    let q = AccessTokenQuery {
        client_id: CID,
        environments: &[ENV],
        realms: &[TID],
        scopes: &["https://graph.microsoft.com/.default"],
        ..AccessTokenQuery::default()
    };
    assert_eq!(
        app.find_access_token(&q, NOW)
            .unwrap()
            .secret
            .expose_secret(),
        "FAKE-APP-ACCESS-TOKEN"
    );
    assert!(app.accounts(&[ENV]).is_empty());
}

#[test]
fn foci_response_marks_rt_and_app_metadata() {
    let mut cache = TokenCache::new();
    let mut response = user_response();
    response.foci = Some("1".into());
    cache
        .add(&record(&response, &[], Some("authorization_code")))
        .unwrap();
    let expected = SPEC_9_1
        .replace(
            "\"last_modification_time\": \"1700000000\"\n",
            "\"last_modification_time\": \"1700000000\",\n            \"family_id\": \"1\"\n",
        )
        .replace(
            "\"environment\": \"login.microsoftonline.com\"\n        }\n    }\n}",
            "\"environment\": \"login.microsoftonline.com\",\n            \"family_id\": \"1\"\n        }\n    }\n}",
        );
    assert_ne!(expected, SPEC_9_1);
    assert_eq!(text(&cache), expected);
    assert_eq!(
        cache
            .app_metadata(&[ENV], CID)
            .unwrap()
            .family_id
            .as_deref(),
        Some("1")
    );
}

#[test]
fn unknown_members_entries_and_fields_survive_in_python_layout() {
    let input = r#"{"Zeta": {"nested": [1, 2.50, -0, "caf\u00E9"]},
      "AccessToken": {"weird-key": 42, "k2": {"credential_type": "AccessToken", "extra": {"a": []}, "secret": "s"}},
      "AppMetadata": {}, "Alpha": null}"#;
    let cache = TokenCache::deserialize(input.as_bytes()).unwrap();
    let out = text(&cache);
    let expected = "{\n    \"Zeta\": {\n        \"nested\": [\n            1,\n            2.5,\n            0,\n            \"caf\\u00e9\"\n        ]\n    },\n    \"AccessToken\": {\n        \"weird-key\": 42,\n        \"k2\": {\n            \"credential_type\": \"AccessToken\",\n            \"extra\": {\n                \"a\": []\n            },\n            \"secret\": \"s\"\n        }\n    },\n    \"AppMetadata\": {},\n    \"Alpha\": null\n}";
    assert_eq!(out, expected);
    // Python-layout text is now stable.
    assert_eq!(
        text(&TokenCache::deserialize(out.as_bytes()).unwrap()),
        expected
    );
}

#[test]
fn repeated_keys_behave_like_python_json_loads() {
    let input =
        r#"{"AccessToken": {"a": 1, "b": 2, "a": 3}, "X": 1, "AccessToken": {"c": 4}, "X": 2}"#;
    let out = text(&TokenCache::deserialize(input.as_bytes()).unwrap());
    assert_eq!(
        out,
        "{\n    \"AccessToken\": {\n        \"c\": 4\n    },\n    \"X\": 2\n}"
    );
}

#[test]
fn empty_input_is_an_empty_cache_and_new_cache_is_braces() {
    assert_eq!(text(&TokenCache::deserialize(b"").unwrap()), "{}");
    assert_eq!(text(&TokenCache::new()), "{}");
    assert_eq!(
        text(&TokenCache::deserialize(b"\xEF\xBB\xBF{}").unwrap()),
        "{}"
    );
}

#[test]
fn malformed_documents_give_typed_errors_with_a_location() {
    let cases: &[(&[u8], &str, usize, usize)] = &[
        (b"not json", "$", 1, 1),
        (b"[1, 2]", "$", 1, 1),
        (
            b"{\n  \"AccessToken\": {\n    \"k\": {\"secret\": }\n  }\n}",
            "$.AccessToken[0].secret",
            3,
            21,
        ),
        (b"{\"AccessToken\": []}", "$.AccessToken", 1, 17),
        (b"{\"a\": 1} x", "$", 1, 10),
        (b"{\"a\": 1", "$", 1, 8),
        (b"{\"a\": \"\xff\"}", "$", 1, 8),
        (b"   ", "$", 1, 4),
    ];
    for (input, path, line, column) in cases {
        let e = TokenCache::deserialize(input).unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.line, e.column),
            (*path, Some(*line), Some(*column)),
            "{}: {e}",
            String::from_utf8_lossy(input)
        );
        assert!(!e.message.is_empty());
    }
    let deep = format!("{{\"x\": {}}}", "[".repeat(10_000));
    let e = TokenCache::deserialize(deep.as_bytes()).unwrap_err();
    assert!(e.message.contains("deep"), "{e}");
}
