//! `Transport` over a scripted `FakeHttp` and a `ManualClock`: headers,
//! retries, throttling, JSON errors. No sockets, no real sleeps.

use std::sync::Arc;
use std::time::Duration;

use msal::Error;
use msal::clock::{Clock, ManualClock};
use msal::http::TransportErrorKind;
use msal::transport::{Throttle, Transport};
use msal_test_support::{Expect, FakeHttp, Reply};
use url::Url;

const TOKEN_URL: &str = "https://login.example/tenant/oauth2/v2.0/token";

fn setup() -> (Arc<FakeHttp>, Arc<ManualClock>, Transport) {
    let http = FakeHttp::new();
    let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
    let transport = Transport::new(http.clone(), clock.clone());
    (http, clock, transport)
}

fn key(user: &str) -> Throttle {
    Throttle::token(Transport::throttle_key(&[
        "https://login.example/tenant",
        "client",
        "User.Read",
        user,
    ]))
}

async fn post(t: &Transport, throttle: Throttle) -> Result<msal::http::HttpResponse, Error> {
    let url = Url::parse(TOKEN_URL).expect("valid");
    t.post_form(
        &url,
        &[("grant_type", "refresh_token"), ("scope", "User.Read")],
        &[],
        throttle,
    )
    .await
}

#[tokio::test]
async fn every_request_carries_correlation_and_library_headers() {
    let (http, _, t) = setup();
    http.expect(
        Expect::post(TOKEN_URL)
            .form("grant_type", "refresh_token")
            .header("x-client-sku", "msal.rust")
            .header("x-client-ver", env!("CARGO_PKG_VERSION"))
            .header("return-client-request-id", "true")
            .header(
                "content-type",
                "application/x-www-form-urlencoded;charset=utf-8",
            ),
        Reply::json(200, "{}"),
    );
    let url = Url::parse(TOKEN_URL).expect("valid");
    let r = t
        .post_form(
            &url,
            &[("grant_type", "refresh_token")],
            &[("x-extra", "1".into())],
            Throttle::None,
        )
        .await;
    assert_eq!(r.expect("sent").status(), 200);
    http.assert_consumed();
    let sent = &http.requests()[0];
    let id = sent
        .header("client-request-id")
        .expect("correlation id sent");
    assert_eq!(
        uuid::Uuid::parse_str(id).expect("a UUID").get_version_num(),
        4
    );
    assert_eq!(sent.header("x-extra"), Some("1"));
}

#[tokio::test]
async fn a_5xx_is_retried_once_with_the_same_correlation_id() {
    let (http, clock, t) = setup();
    http.expect(
        Expect::post(TOKEN_URL),
        Reply::status(503).header("retry-after", "2"),
    );
    http.expect(
        Expect::post(TOKEN_URL).form("grant_type", "refresh_token"),
        Reply::json(200, "{}"),
    );
    let before = clock.now();
    let r = post(&t, Throttle::None)
        .await
        .expect("second attempt answers");
    assert_eq!(r.status(), 200);
    http.assert_consumed();
    assert_eq!(
        clock.now().duration_since(before).expect("forward"),
        Duration::from_secs(2),
        "waited on the clock"
    );
    let seen = http.requests();
    assert_eq!(
        seen[0].header("client-request-id"),
        seen[1].header("client-request-id")
    );
}

#[tokio::test]
async fn a_second_5xx_is_returned_not_retried_again() {
    let (http, _, t) = setup();
    http.expect(Expect::post(TOKEN_URL), Reply::status(500));
    http.expect(
        Expect::post(TOKEN_URL),
        Reply::json(502, r#"{"error":"temporarily_unavailable"}"#),
    );
    let r = post(&t, Throttle::None).await.expect("a response");
    assert_eq!(r.status(), 502);
    http.assert_consumed();
}

#[tokio::test]
async fn a_long_retry_after_is_not_waited_for_in_the_call() {
    let (http, clock, t) = setup();
    http.expect(
        Expect::post(TOKEN_URL),
        Reply::status(503).header("retry-after", "30"),
    );
    let before = clock.now();
    assert_eq!(
        post(&t, Throttle::None).await.expect("a response").status(),
        503
    );
    assert_eq!(clock.now(), before);
    http.assert_consumed();
}

#[tokio::test]
async fn connection_failures_and_timeouts_are_retried_once() {
    for kind in [TransportErrorKind::Connect, TransportErrorKind::Timeout] {
        let (http, _, t) = setup();
        http.expect(Expect::post(TOKEN_URL), Reply::fail(kind, "first"));
        http.expect(Expect::post(TOKEN_URL), Reply::json(200, "{}"));
        assert_eq!(
            post(&t, Throttle::None).await.expect("retried").status(),
            200
        );
        http.assert_consumed();

        let (http, _, t) = setup();
        http.expect(Expect::post(TOKEN_URL), Reply::fail(kind, "first"));
        http.expect(Expect::post(TOKEN_URL), Reply::fail(kind, "second"));
        match post(&t, Throttle::None).await {
            Err(Error::Transport(e)) => {
                assert_eq!(e.kind, kind);
                assert!(
                    e.message.contains("second") && e.message.contains("correlation id"),
                    "{}",
                    e.message
                );
            }
            other => panic!("expected a transport error, got {other:?}"),
        }
        http.assert_consumed();
    }
}

#[tokio::test]
async fn tls_proxy_and_4xx_are_never_retried() {
    for kind in [
        TransportErrorKind::Tls,
        TransportErrorKind::Proxy,
        TransportErrorKind::BodyTooLarge,
    ] {
        let (http, _, t) = setup();
        http.expect(Expect::post(TOKEN_URL), Reply::fail(kind, "no"));
        assert!(
            matches!(post(&t, Throttle::None).await, Err(Error::Transport(e)) if e.kind == kind)
        );
        http.assert_consumed();
    }
    let (http, _, t) = setup();
    http.expect(
        Expect::post(TOKEN_URL),
        Reply::json(400, r#"{"error":"invalid_request"}"#),
    );
    assert_eq!(
        post(&t, Throttle::None).await.expect("a response").status(),
        400
    );
    http.assert_consumed();
}

#[tokio::test]
async fn a_429_throttles_the_same_token_request_until_retry_after() {
    let (http, clock, t) = setup();
    http.expect(
        Expect::post(TOKEN_URL),
        Reply::json(429, r#"{"error":"too_many"}"#).header("retry-after", "30"),
    );
    assert_eq!(
        post(&t, key("ada")).await.expect("the 429 itself").status(),
        429
    );
    clock.advance(Duration::from_secs(10));
    match post(&t, key("ada")).await {
        Err(e @ Error::Throttled { .. }) => {
            assert_eq!(e.retry_after(), Some(Duration::from_secs(20)));
            assert!(e.is_retryable());
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
    assert_eq!(http.request_count(), 1, "the server was not called again");

    // Another account is not throttled by ada's answer.
    http.expect(Expect::post(TOKEN_URL), Reply::json(200, "{}"));
    assert_eq!(post(&t, key("bob")).await.expect("sent").status(), 200);
    // Requests that are not token requests are not throttled either.
    http.expect(Expect::post(TOKEN_URL), Reply::json(200, "{}"));
    assert_eq!(post(&t, Throttle::None).await.expect("sent").status(), 200);

    clock.advance(Duration::from_secs(20));
    http.expect(Expect::post(TOKEN_URL), Reply::json(200, "{}"));
    assert_eq!(
        post(&t, key("ada")).await.expect("throttle over").status(),
        200
    );
    http.assert_consumed();
}

#[tokio::test]
async fn clones_share_the_throttle_cache() {
    let (http, _, t) = setup();
    http.expect(
        Expect::post(TOKEN_URL),
        Reply::status(429).header("retry-after", "5"),
    );
    let _ = post(&t, key("ada")).await;
    assert!(matches!(
        post(&t.clone(), key("ada")).await,
        Err(Error::Throttled { .. })
    ));
    http.assert_consumed();
}

#[tokio::test]
async fn a_5xx_without_retry_after_throttles_for_60_seconds_after_the_retry() {
    let (http, clock, t) = setup();
    http.expect(Expect::post(TOKEN_URL), Reply::status(503));
    http.expect(Expect::post(TOKEN_URL), Reply::status(503));
    assert_eq!(
        post(&t, key("ada")).await.expect("a response").status(),
        503
    );
    assert_eq!(
        post(&t, key("ada"))
            .await
            .expect_err("throttled")
            .retry_after(),
        Some(Duration::from_secs(60))
    );
    clock.advance(Duration::from_secs(60));
    http.expect(Expect::post(TOKEN_URL), Reply::json(200, "{}"));
    assert_eq!(post(&t, key("ada")).await.expect("sent").status(), 200);
    http.assert_consumed();
}

#[tokio::test]
async fn a_retry_after_of_days_is_capped_at_one_hour() {
    let (http, _, t) = setup();
    http.expect(
        Expect::post(TOKEN_URL),
        Reply::status(429).header("retry-after", "864000"),
    );
    let _ = post(&t, key("ada")).await;
    assert_eq!(
        post(&t, key("ada"))
            .await
            .expect_err("throttled")
            .retry_after(),
        Some(Duration::from_secs(3600))
    );
    http.assert_consumed();
}

#[tokio::test]
async fn invalid_grant_is_replayed_for_two_minutes_without_calling_the_server() {
    let (http, clock, t) = setup();
    let body = r#"{"error":"invalid_grant","error_description":"AADSTS70043: expired","suberror":"bad_token"}"#;
    http.expect(Expect::post(TOKEN_URL), Reply::json(400, body));
    let first = post(&t, key("ada")).await.expect("the 400 itself");
    clock.advance(Duration::from_secs(119));
    let replayed = post(&t, key("ada")).await.expect("replayed");
    assert_eq!(
        (replayed.status(), replayed.body()),
        (first.status(), first.body())
    );
    assert_eq!(http.request_count(), 1);
    clock.advance(Duration::from_secs(1));
    http.expect(Expect::post(TOKEN_URL), Reply::json(200, "{}"));
    assert_eq!(post(&t, key("ada")).await.expect("sent").status(), 200);
    http.assert_consumed();
}

#[tokio::test]
async fn other_400s_are_not_throttled() {
    let (http, _, t) = setup();
    for _ in 0..2 {
        http.expect(
            Expect::post(TOKEN_URL),
            Reply::json(400, r#"{"error":"authorization_pending"}"#),
        );
        assert_eq!(post(&t, key("ada")).await.expect("sent").status(), 400);
    }
    http.assert_consumed();
}

#[tokio::test]
async fn get_json_maps_statuses_to_typed_errors() {
    #[derive(serde::Deserialize, Debug)]
    struct Doc {
        issuer: String,
    }
    let url =
        Url::parse("https://login.example/tenant/v2.0/.well-known/openid-configuration?secret=1")
            .expect("ok");
    let (http, _, t) = setup();
    http.expect(
        Expect::get(url.as_str()).header("accept", "application/json"),
        Reply::json(200, r#"{"issuer":"x"}"#),
    );
    assert_eq!(t.get_json::<Doc>(&url).await.expect("parsed").issuer, "x");

    http.expect(
        Expect::get(url.as_str()),
        Reply::json(
            400,
            r#"{"error":"invalid_tenant","error_description":"AADSTS90002"}"#,
        )
        .header("client-request-id", "echoed-id"),
    );
    match t.get_json::<Doc>(&url).await {
        Err(Error::Service(e)) => {
            assert_eq!(
                (e.error.as_str(), e.status, e.correlation_id.as_deref()),
                ("invalid_tenant", Some(400), Some("echoed-id"))
            );
        }
        other => panic!("expected a service error, got {other:?}"),
    }

    http.expect(
        Expect::get(url.as_str()),
        Reply::status(404)
            .header("client-request-id", "id-404")
            .body(b"<html/>"),
    );
    let e = t.get_json::<Doc>(&url).await.expect_err("404");
    let m = e.to_string();
    assert!(
        matches!(e, Error::Protocol(_)) && m.contains("404") && m.contains("id-404"),
        "{m}"
    );
    assert!(!m.contains("secret"), "no query in errors: {m}");

    http.expect(
        Expect::get(url.as_str()),
        Reply::status(302).header("location", "https://elsewhere/"),
    );
    assert!(
        matches!(t.get_json::<Doc>(&url).await, Err(Error::Protocol(_))),
        "redirects are not followed"
    );

    http.expect(Expect::get(url.as_str()), Reply::json(200, r#"{"nope":1}"#));
    assert!(matches!(
        t.get_json::<Doc>(&url).await,
        Err(Error::Protocol(_))
    ));
    http.assert_consumed();
}

#[tokio::test]
async fn logs_hold_no_body_query_or_form() {
    let logs = msal_test_support::LogCapture::new();
    let (http, _, t) = setup();
    let _guard = logs.set_default();
    http.expect(
        Expect::post(TOKEN_URL),
        Reply::json(200, r#"{"access_token":"eyJ-token-in-body"}"#),
    );
    let url = Url::parse(&format!("{TOKEN_URL}?query=q-secret")).expect("ok");
    let r = t
        .post_form(
            &url,
            &[("refresh_token", "rt-secret-value")],
            &[],
            key("ada"),
        )
        .await;
    assert_eq!(r.expect("sent").status(), 200);
    let captured = logs.contents();
    assert!(
        captured.contains("login.example"),
        "something was logged: {captured}"
    );
    for secret in ["eyJ-token-in-body", "q-secret", "rt-secret-value"] {
        assert!(
            !captured.contains(secret),
            "{secret} leaked into logs: {captured}"
        );
    }
}
