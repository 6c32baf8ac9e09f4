//! Hostile input never panics: token responses, device authorization
//! responses, error bodies, redirects, ID tokens and authority URLs of any
//! shape give a value or a typed error.

use msal::Error;
use msal::authority::Authority;
use msal::protocol::authorize::parse_redirect;
use msal::protocol::id_token::{Expectations, IdTokenClaims, validate};
use msal::protocol::{claims, device_code, scopes, token};
use proptest::prelude::*;

fn response(status: u16, body: Vec<u8>) -> msal::http::HttpResponse {
    http::Response::builder().status(status).body(body).unwrap()
}

/// JSON-ish values with the fields the parsers look at, of every type.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)
            .unwrap_or_default()),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop::collection::vec(inner, 0..3).prop_map(serde_json::Value::from)
    })
}

fn token_like() -> impl Strategy<Value = Vec<u8>> {
    let fields = prop::sample::subsequence(
        vec![
            "access_token",
            "token_type",
            "expires_in",
            "ext_expires_in",
            "refresh_in",
            "expires_on",
            "refresh_token",
            "scope",
            "foci",
            "id_token",
            "client_info",
            "error",
            "error_description",
            "suberror",
            "error_codes",
            "claims",
            "device_code",
            "user_code",
            "verification_uri",
            "interval",
            "message",
        ],
        0..10,
    );
    (fields, prop::collection::vec(json_value(), 10)).prop_map(|(names, values)| {
        let mut m = serde_json::Map::new();
        for (n, v) in names.into_iter().zip(values) {
            m.insert(n.to_owned(), v);
        }
        serde_json::Value::Object(m).to_string().into_bytes()
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![token_like(), prop::collection::vec(any::<u8>(), 0..64)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn token_and_device_responses_never_panic(status in prop::sample::select(vec![200u16, 400, 401, 429, 500, 503]), body in body()) {
        let r = response(status, body);
        match token::parse_response(&r, std::time::SystemTime::now()) {
            Ok(t) => prop_assert!(t.access_token.is_some() || t.id_token.is_some() || t.refresh_token.is_some()),
            Err(e) => {
                let typed = matches!(e, Error::Protocol(_) | Error::Service(_) | Error::UiRequired { .. });
                prop_assert!(typed, "{:?}", e);
            }
        }
        let _ = device_code::parse(&r, std::time::SystemTime::now());
    }

    #[test]
    fn redirects_id_tokens_and_claims_never_panic(query in ".{0,80}", jwt in "[A-Za-z0-9_.=-]{0,80}", c in ".{0,40}") {
        let _ = parse_redirect(&query);
        let _ = IdTokenClaims::decode(&jwt);
        let _ = validate(&jwt, &Expectations { client_id: "c", issuer: Some("https://x/{tenantid}/v2.0"), entra_hosts: &[], nonce: Some("n") });
        let _ = claims::merge(Some(&c), &["cp1".to_owned()]);
        let _ = scopes::decorate(&[c.as_str()]);
    }

    #[test]
    fn authorities_parse_or_fail_with_config(s in "(https?://)?[a-zA-Z0-9.:@/?#_-]{0,40}") {
        match Authority::parse(&s) {
            Ok(a) => {
                prop_assert!(a.as_str().starts_with("http"));
                prop_assert!(!a.host().is_empty());
                // Canonical form parses to itself.
                prop_assert_eq!(Authority::parse(a.as_str()).unwrap(), a);
            }
            Err(e) => prop_assert!(matches!(e, Error::Config(_))),
        }
    }
}
