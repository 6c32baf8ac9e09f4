//! What each msal fuzz target does with one input: feed it to the parser
//! and check the properties that must hold for any input.
//!
//! The same file is compiled into the fuzz targets (`fuzz/fuzz_targets/*.rs`,
//! via the `msal_fuzz` library) and into `crates/msal/tests/fuzz_corpus_replay.rs`,
//! which replays the committed corpus on stable Rust under `cargo test`.
//! So a corpus file that once crashed a target fails the test suite too.
//!
//! A check panics (with a message) when a property is broken; the parsers
//! themselves must never panic.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal::Error;
use msal::authority::Authority;
use msal::cache::{AuthorityType, TokenCache, TokenResponseRecord};
use msal::clock::ManualClock;
use msal::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse, TransportError};
use msal::managed_identity::{
    Environment, ManagedIdentity, ManagedIdentityApplication, UserAssignedId, parse_token_response,
};
use msal::protocol::id_token::{Expectations, IdTokenClaims, validate};
use msal::protocol::{device_code, token};

/// What a target does with one input.
pub type Check = fn(&[u8]);

/// The fuzz targets of the `msal` crate by name (the corpus directory under
/// `fuzz/corpus/`), and what each does with an input.
pub const TARGETS: &[(&str, Check)] = &[
    ("cache", cache),
    ("token_response", token_response),
    ("id_token", id_token),
    ("client_info", client_info),
    ("authority", authority),
    ("device_code", device_code),
    ("managed_identity", managed_identity),
];

/// "Now" for every check: expiries are computed from it.
const NOW: i64 = 1_700_000_000;

/// Statuses a target picks from with its first byte: successes, OAuth
/// errors, throttling, server errors, and odd ones.
const STATUSES: [u16; 16] = [
    200, 200, 200, 200, 201, 204, 400, 400, 401, 403, 404, 429, 500, 503, 302, 299,
];

fn response(status: u16, body: &[u8]) -> HttpResponse {
    let mut r = http::Response::new(body.to_vec());
    *r.status_mut() = http::StatusCode::from_u16(status).expect("a valid status");
    r
}

/// Splits off the first byte (a mode or status selector) from the rest.
fn split(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&b, rest)) => (b, rest),
        None => (0, &[]),
    }
}

/// Errors a wire parser may return for a bad reply from a server.
fn is_reply_error(e: &Error) -> bool {
    matches!(
        e,
        Error::Protocol(_) | Error::Service(_) | Error::UiRequired { .. } | Error::Throttled { .. }
    )
}

/// Whether `text` is JSON that serde_json reads (some documents the cache
/// accepts, such as Python's `NaN`, are not), with every zero made `0`:
/// serde_json reads the integer `-0` as the float `-0.0`, where Python (and
/// so the cache) reads the integer 0 and writes `0`.
fn serde_value(text: &[u8]) -> Option<serde_json::Value> {
    fn zeros(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Number(n) if n.as_f64() == Some(0.0) => *v = 0.into(),
            serde_json::Value::Array(items) => items.iter_mut().for_each(zeros),
            serde_json::Value::Object(map) => map.values_mut().for_each(zeros),
            _ => {}
        }
    }
    let mut v = serde_json::from_slice(text).ok()?;
    zeros(&mut v);
    Some(v)
}

/// Everything a cache exposes without knowing what is in it.
fn meaning(c: &TokenCache) -> String {
    format!(
        "{:?} {:?} {} {:?}",
        c.entry_counts(),
        c.accounts(&[]),
        c.has_refresh_tokens(),
        c.latest_access_token_expiry()
    )
}

/// Loads a cache document. When it loads: both loaders agree, it
/// serializes to a document that loads to the same cache and serializes
/// to the same bytes (a fixed point), and it keeps the JSON meaning.
pub fn cache(data: &[u8]) {
    let loaded = TokenCache::deserialize(data);
    let owned = TokenCache::deserialize_owned(data.to_vec());
    let c = match (loaded, owned) {
        (Ok(c), Ok(o)) => {
            assert_eq!(
                c.serialize(),
                o.serialize(),
                "deserialize and deserialize_owned disagree"
            );
            c
        }
        (Err(a), Err(b)) => {
            assert_eq!(
                a.to_string(),
                b.to_string(),
                "the two loaders report different errors"
            );
            return;
        }
        (a, b) => panic!(
            "one loader accepts, the other refuses: {:?} / {:?}",
            a.err(),
            b.err()
        ),
    };
    assert!(!c.has_state_changed(), "loading is not a change");
    let first = c.serialize();
    let again = TokenCache::deserialize(&first)
        .unwrap_or_else(|e| panic!("the cache's own output does not load: {e}"));
    let second = again.serialize();
    assert!(first == second, "serialize is not a fixed point");
    assert_eq!(
        meaning(&c),
        meaning(&again),
        "a round trip changed the cache"
    );
    if let (Some(input), Some(output)) = (serde_value(data), serde_value(&first)) {
        assert_eq!(
            input, output,
            "serializing changed the document's JSON meaning"
        );
    }
    // A cache that is written to stays loadable.
    let mut c = c;
    let scopes = vec!["openid".to_owned(), "User.Read".to_owned()];
    let resp = token_response_with("at-fuzz", Some("rt-fuzz"));
    let _ = c.add(&record(&scopes, &resp));
    let written = c.serialize();
    TokenCache::deserialize(&written)
        .unwrap_or_else(|e| panic!("a cache written to does not load: {e}"));
}

fn token_response_with(at: &str, rt: Option<&str>) -> msal::cache::TokenResponse {
    msal::cache::TokenResponse {
        access_token: Some(msal::secret::AccessTokenSecret::new(at)),
        expires_in: Some(3600),
        refresh_token: rt.map(msal::secret::RefreshTokenSecret::new),
        client_info: Some(URL_SAFE_NO_PAD.encode(br#"{"uid":"u","utid":"t"}"#)),
        ..Default::default()
    }
}

fn record<'a>(
    scopes: &'a [String],
    response: &'a msal::cache::TokenResponse,
) -> TokenResponseRecord<'a> {
    TokenResponseRecord {
        client_id: "fuzz-client",
        environment: "login.microsoftonline.com",
        realm: "common",
        authority_type: AuthorityType::Mssts,
        requested_scopes: scopes,
        response,
        account_source: Some("authorization_code"),
        username_hint: Some("user@example.com"),
        user_assertion_hash: None,
        refresh_token_to_rotate: None,
        now: NOW,
    }
}

/// Parses a token endpoint reply (first byte: the status, the rest: the
/// body). A success holds a token and can be stored: the cache it is added
/// to serializes to a loadable document. A failure is a typed reply error.
pub fn token_response(data: &[u8]) {
    let (selector, body) = split(data);
    let r = response(STATUSES[usize::from(selector % 16)], body);
    match token::parse_response(&r, std::time::SystemTime::now()) {
        Ok(t) => {
            assert!(
                t.access_token.is_some() || t.id_token.is_some() || t.refresh_token.is_some(),
                "a token response without any token was accepted"
            );
            let mut c = TokenCache::new();
            let scopes = vec![
                "openid".to_owned(),
                "offline_access".to_owned(),
                "User.Read".to_owned(),
            ];
            // Whatever the response holds, the cache either stores it or says why.
            let added = c.add(&record(&scopes, &t));
            if added.is_ok() {
                let text = c.serialize();
                let back = TokenCache::deserialize(&text)
                    .unwrap_or_else(|e| panic!("a stored response does not load back: {e}"));
                assert_eq!(
                    meaning(&c),
                    meaning(&back),
                    "a stored response changed on reload"
                );
                assert!(
                    back.serialize() == text,
                    "a stored response is not a fixed point"
                );
            }
        }
        Err(e) => assert!(is_reply_error(&e), "untyped error: {e:?}"),
    }
    // The error mapper alone, on any status.
    let e = msal::protocol::errors::from_response(&r, "fuzz", std::time::SystemTime::now());
    let _ = (
        e.to_string(),
        format!("{e:?}"),
        e.is_retryable(),
        e.retry_after(),
    );
}

/// Decodes ID tokens. First byte even: the input is the whole JWT; odd: it
/// is the payload JSON, wrapped into a JWT so the claims logic is reached.
pub fn id_token(data: &[u8]) {
    let (mode, rest) = split(data);
    let jwt = if mode % 2 == 0 {
        match std::str::from_utf8(rest) {
            Ok(s) => s.to_owned(),
            Err(_) => return,
        }
    } else {
        format!("eyJhbGciOiJub25lIn0.{}.sig", URL_SAFE_NO_PAD.encode(rest))
    };
    // One decoder for the protocol and the cache (the cache's
    // `CachedIdToken::claims` calls it too).
    let decoded = IdTokenClaims::decode(&jwt);
    if let Ok(c) = &decoded {
        let _ = (c.tenant_id(), c.object_id(), c.username(), c.audiences());
        assert!(!format!("{c:?}").contains('@') || c.as_map().keys().any(|k| k.contains('@')));
    } else if let Err(e) = &decoded {
        assert!(matches!(e, Error::Protocol(_)), "untyped error: {e:?}");
    }
    let hosts = [
        "login.microsoftonline.com".to_owned(),
        "login.windows.net".to_owned(),
    ];
    for expect in [
        Expectations {
            client_id: "fuzz-client",
            issuer: Some("https://login.microsoftonline.com/{tenantid}/v2.0"),
            entra_hosts: &hosts,
            nonce: Some("fuzz-nonce"),
        },
        Expectations {
            client_id: "fuzz-client",
            issuer: None,
            entra_hosts: &[],
            nonce: None,
        },
    ] {
        match validate(&jwt, &expect) {
            Ok(c) => {
                assert!(decoded.is_ok(), "validate accepts what decode refuses");
                assert!(
                    c.audiences()
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case("fuzz-client")),
                    "validated an ID token for another audience"
                );
                if let Some(n) = expect.nonce {
                    assert_eq!(c.get_str("nonce"), Some(n), "validated a wrong nonce");
                }
            }
            Err(e) => assert!(matches!(e, Error::Protocol(_)), "untyped error: {e:?}"),
        }
    }
}

/// Decodes `client_info`. First byte even: raw text; odd: the rest is
/// JSON, base64url-encoded first.
pub fn client_info(data: &[u8]) {
    let (mode, rest) = split(data);
    let text = if mode % 2 == 0 {
        match std::str::from_utf8(rest) {
            Ok(s) => s.to_owned(),
            Err(_) => return,
        }
    } else {
        URL_SAFE_NO_PAD.encode(rest)
    };
    match msal::cache::client_info::decode(&text) {
        Ok(ci) => match (&ci.uid, &ci.utid, ci.home_account_id()) {
            (Some(u), Some(t), Some(h)) => assert_eq!(h, format!("{u}.{t}")),
            (Some(_), Some(_), None) => panic!("uid and utid but no home_account_id"),
            (_, _, Some(_)) => panic!("a home_account_id without uid and utid"),
            _ => {}
        },
        Err(e) => assert!(matches!(e, Error::Protocol(_)), "untyped error: {e:?}"),
    }
}

/// Parses authority URLs. An accepted one has a canonical form that parses
/// to itself, a lower-case host, and URLs that parse.
pub fn authority(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The part after the first newline is a host to move the authority to.
    let (input, other_host) = text.split_once('\n').unwrap_or((text, "login.windows.net"));
    match Authority::parse(input) {
        Ok(a) => {
            assert!(a.as_str().starts_with("http"), "{}", a.as_str());
            assert!(!a.host().is_empty());
            assert_eq!(a.host(), a.host().to_ascii_lowercase());
            let again = Authority::parse(a.as_str())
                .unwrap_or_else(|e| panic!("the canonical form does not parse: {e}"));
            assert_eq!(again, a, "the canonical form parses to another authority");
            url::Url::parse(&a.metadata_url())
                .unwrap_or_else(|e| panic!("the metadata URL does not parse: {e}"));
            let _ = (
                a.kind(),
                a.tenant(),
                a.policy(),
                a.is_multi_tenant(),
                a.static_realm(),
            );
            let moved = a.with_host(other_host);
            assert_eq!(moved.kind(), a.kind());
            let _ = (moved.as_str(), moved.host(), a.to_string());
        }
        Err(e) => assert!(matches!(e, Error::Config(_)), "untyped error: {e:?}"),
    }
    match Authority::oidc(input) {
        Ok(a) => {
            url::Url::parse(&a.metadata_url())
                .unwrap_or_else(|e| panic!("an OIDC metadata URL does not parse: {e}"));
        }
        Err(e) => assert!(matches!(e, Error::Config(_)), "untyped error: {e:?}"),
    }
}

/// Parses a device authorization reply (first byte: the status).
pub fn device_code(data: &[u8]) {
    let (selector, body) = split(data);
    let r = response(STATUSES[usize::from(selector % 16)], body);
    match device_code::parse(&r, std::time::SystemTime::now()) {
        Ok(d) => {
            assert!(r.status().is_success());
            assert!(!d.info.user_code.is_empty());
            assert!(!d.device_code.expose_secret().is_empty());
            assert!(d.info.interval > Duration::ZERO, "a zero polling interval");
            assert!(!format!("{d:?}").contains(&format!("{:?}", d.device_code.expose_secret())));
        }
        Err(e) => assert!(is_reply_error(&e), "untyped error: {e:?}"),
    }
}

/// Answers every request with one status and body.
struct Canned {
    status: u16,
    body: Vec<u8>,
}

impl HttpClient for Canned {
    fn execute(&self, _: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let r = response(self.status, &self.body);
        Box::pin(async move { Ok(r) })
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
}

/// Parses a managed identity endpoint's reply. First byte: bits 0-3 the
/// status, bits 4-6 the source (App Service, IMDS, Service Fabric, Cloud
/// Shell, Azure ML) and identity; bit 7: run the whole application on the
/// reply (its error mapping and retries) instead of the parser alone.
pub fn managed_identity(data: &[u8]) {
    let (selector, body) = split(data);
    let status = STATUSES[usize::from(selector % 16)];
    match parse_token_response(body, NOW) {
        Ok(t) => {
            assert!(!t.access_token.expose_secret().is_empty());
            assert!(!t.token_type.trim().is_empty());
            if let Some(r) = t.refresh_on {
                assert!(r > NOW, "refresh_on in the past");
            }
        }
        Err(e) => assert!(matches!(e, Error::Protocol(_)), "untyped error: {e:?}"),
    }
    if selector & 0x80 == 0 {
        return;
    }
    let vars: &[(&str, &str)] = match (selector >> 4) & 0x7 {
        0 | 1 => &[
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token"),
            ("IDENTITY_HEADER", "h"),
        ],
        2 => &[
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/sf"),
            ("IDENTITY_HEADER", "h"),
            ("IDENTITY_SERVER_THUMBPRINT", "00"),
        ],
        3 => &[("MSI_ENDPOINT", "http://127.0.0.1:1/oauth2/token")],
        4 => &[
            ("MSI_ENDPOINT", "http://127.0.0.1:1/azureml"),
            ("MSI_SECRET", "s"),
        ],
        _ => &[],
    };
    let identity = if selector & 0x10 == 0 {
        ManagedIdentity::SystemAssigned
    } else {
        ManagedIdentity::UserAssigned(UserAssignedId::ClientId("fuzz-client".into()))
    };
    let app = ManagedIdentityApplication::builder(identity)
        .environment(Environment::from_vars(vars.iter().copied()))
        .http_client(Arc::new(Canned {
            status,
            body: body.to_vec(),
        }))
        .clock(Arc::new(ManualClock::at_unix(NOW as u64)))
        .build();
    let Ok(app) = app else {
        return;
    };
    let result = RUNTIME.with(|rt| {
        rt.block_on(
            app.acquire_token_for_resource("https://management.azure.com")
                .into_future(),
        )
    });
    match result {
        Ok(t) => {
            assert!((200..300).contains(&status), "a token from HTTP {status}");
            assert!(!t.access_token().expose_secret().is_empty());
        }
        Err(e) => {
            let _ = (e.to_string(), format!("{e:?}"));
        }
    }
}
