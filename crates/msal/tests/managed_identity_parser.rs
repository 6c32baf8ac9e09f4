//! Fuzzing what identity endpoints answer: no body, status or header makes
//! the parser or the application panic, and no error repeats the token.

use std::sync::Arc;

use msal::clock::ManualClock;
use msal::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse, TransportError};
use msal::managed_identity::{
    Environment, MAX_LIFETIME_SECS, ManagedIdentity, ManagedIdentityApplication,
    parse_token_response,
};
use proptest::prelude::*;

const NOW: i64 = 1_700_000_000;

/// Answers every request with the same status and body.
struct Canned {
    status: u16,
    body: Vec<u8>,
}

impl HttpClient for Canned {
    fn execute(&self, _: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let r = http::Response::builder()
            .status(self.status)
            .body(self.body.clone())
            .expect("valid response");
        Box::pin(async move { Ok(r) })
    }
}

fn json_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        "[0-9]{0,20}".prop_map(|s| format!("\"{s}\"")),
        "[ -~]{0,12}".prop_map(|s| serde_json::to_string(&s).expect("string")),
        Just("{}".to_owned()),
        Just(r#"{"code":"SecretHeaderNotFound","message":7}"#.to_owned()),
        Just("[1,\"2\"]".to_owned()),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let fields = prop::sample::subsequence(
        vec![
            "access_token",
            "expires_in",
            "expires_on",
            "refresh_in",
            "token_type",
            "resource",
            "error",
            "error_description",
            "message",
            "statusCode",
            "Message",
        ],
        0..8,
    );
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        (fields, prop::collection::vec(json_value(), 8)).prop_map(|(names, values)| {
            let pairs: Vec<String> = names
                .iter()
                .zip(values)
                .map(|(n, v)| format!("\"{n}\":{v}"))
                .collect();
            format!("{{{}}}", pairs.join(",")).into_bytes()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_parser_never_panics(body in body()) {
        let _ = parse_token_response(&body, NOW);
    }

    #[test]
    fn a_parsed_lifetime_never_overflows(expires in any::<i64>(), refresh in any::<i64>()) {
        let body = format!(r#"{{"access_token":"t","expires_in":{expires},"refresh_in":"{refresh}"}}"#);
        match parse_token_response(body.as_bytes(), NOW) {
            Ok(t) => {
                prop_assert!(expires > 0, "an expired token is refused: {}", expires);
                prop_assert_eq!(t.expires_in, expires.min(MAX_LIFETIME_SECS));
                let expires_on = NOW.saturating_add(t.expires_in);
                if let Some(r) = t.refresh_on {
                    prop_assert!(r > NOW && r <= expires_on, "{} {}", r, expires_on);
                }
            }
            Err(_) => prop_assert!(expires <= 0 || expires.unsigned_abs() > 1_000_000_000_000_000),
        }
    }

    #[test]
    fn the_application_never_panics_and_never_echoes_the_token(status in 100u16..600, body in body()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let marker = "fuzz-token-s3cr3t";
        let mut with_token = body.clone();
        // Half the cases carry a token the error must not repeat.
        if status % 2 == 0 {
            with_token = format!(r#"{{"access_token":"{marker}","expires_in":"soon"}}"#).into_bytes();
        }
        let app = ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned)
            .environment(Environment::from_vars([("IDENTITY_ENDPOINT", "http://127.0.0.1:1/t"), ("IDENTITY_HEADER", "h")]))
            .http_client(Arc::new(Canned { status, body: with_token }))
            .clock(Arc::new(ManualClock::at_unix(NOW as u64)))
            .build()
            .expect("builds");
        match rt.block_on(app.acquire_token_for_resource("https://r").into_future()) {
            Ok(t) => prop_assert!((200..300).contains(&status), "{t:?}"),
            Err(e) => prop_assert!(!e.to_string().contains(marker) && !format!("{e:?}").contains(marker), "{e}"),
        }
    }
}

use std::future::IntoFuture;
