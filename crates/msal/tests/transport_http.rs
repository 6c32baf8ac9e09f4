//! `ReqwestHttpClient` against plain HTTP servers of the test's own on
//! 127.0.0.1: round trip, timeouts, the size cap, redirects not followed,
//! and `Transport` end to end over a real socket.

use std::sync::Arc;
use std::time::Duration;

use msal::clock::SystemClock;
use msal::http::{HttpClient, TransportErrorKind};
use msal::transport::{ProxyConfig, ReqwestHttpClient, Throttle, Transport};
use msal_test_support::{Canned, TestServer};

fn client() -> ReqwestHttpClient {
    ReqwestHttpClient::builder()
        .proxy(ProxyConfig::None)
        .build()
        .expect("client builds")
}

fn get(url: &str) -> msal::http::HttpRequest {
    http::Request::get(url)
        .body(Vec::new())
        .expect("valid request")
}

#[tokio::test]
async fn round_trip_keeps_method_headers_and_body() {
    let server = TestServer::http(|r| {
        Canned::json(
            201,
            &format!(r#"{{"got":"{}"}}"#, String::from_utf8_lossy(&r.body)),
        )
        .header("x-echo", "yes")
    })
    .await;
    let request = http::Request::post(format!("{}/tenant/token?x=1", server.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-custom", "abc")
        .body(b"a=b".to_vec())
        .expect("valid");
    let r = client().execute(request).await.expect("answered");
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-echo"], "yes");
    assert_eq!(r.body().as_slice(), br#"{"got":"a=b"}"#);
    let seen = &server.requests()[0];
    assert_eq!(
        (seen.method.as_str(), seen.target.as_str()),
        ("POST", "/tenant/token?x=1")
    );
    assert_eq!(seen.header("x-custom"), Some("abc"));
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let server = TestServer::http(|r| {
        if r.target == "/start" {
            Canned::status(302).header("location", "/elsewhere")
        } else {
            Canned::json(200, "{}")
        }
    })
    .await;
    let r = client()
        .execute(get(&format!("{}/start", server.url())))
        .await
        .expect("answered");
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/elsewhere");
    assert_eq!(server.requests().len(), 1, "the redirect was not followed");
}

#[tokio::test]
async fn a_slow_drip_trips_the_total_timeout() {
    let server =
        TestServer::http(|_| Canned::json(200, &"x".repeat(100)).drip(Duration::from_millis(50)))
            .await;
    let c = ReqwestHttpClient::builder()
        .proxy(ProxyConfig::None)
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client builds");
    let e = c
        .execute(get(&format!("{}/slow", server.url())))
        .await
        .expect_err("timed out");
    assert_eq!(e.kind, TransportErrorKind::Timeout, "{e}");
    assert!(
        e.message.contains("127.0.0.1") && e.message.contains("300ms"),
        "{}",
        e.message
    );
    assert!(e.is_retryable());
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let e = client()
        .execute(get(&format!("http://127.0.0.1:{port}/x?secret=1")))
        .await
        .expect_err("refused");
    assert_eq!(e.kind, TransportErrorKind::Connect, "{e}");
    assert!(
        e.message.contains(&format!("127.0.0.1:{port}")),
        "{}",
        e.message
    );
    assert!(!e.to_string().contains("secret"), "no query in errors: {e}");
}

#[tokio::test]
async fn a_declared_gigantic_body_is_refused_before_reading() {
    let server = TestServer::http(|_| Canned::status(200).body(&vec![b'a'; 300 * 1024])).await;
    let c = ReqwestHttpClient::builder()
        .proxy(ProxyConfig::None)
        .max_response_bytes(64 * 1024)
        .build()
        .expect("client builds");
    let e = c.execute(get(&server.url())).await.expect_err("too large");
    assert_eq!(e.kind, TransportErrorKind::BodyTooLarge);
    assert!(
        e.message.contains("65536") && e.message.contains("Content-Length 307200"),
        "{}",
        e.message
    );
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn a_streamed_gigantic_body_is_cut_at_the_cap() {
    let server = TestServer::http(|_| Canned::status(200).chunked_zeros(64 * 1024 * 1024)).await;
    let c = ReqwestHttpClient::builder()
        .proxy(ProxyConfig::None)
        .max_response_bytes(1024 * 1024)
        .build()
        .expect("client builds");
    let e = c.execute(get(&server.url())).await.expect_err("too large");
    assert_eq!(e.kind, TransportErrorKind::BodyTooLarge, "{e}");
    // A body just under the cap passes.
    let small = TestServer::http(|_| Canned::status(200).chunked_zeros(1024 * 1024)).await;
    assert_eq!(
        c.execute(get(&small.url()))
            .await
            .expect("at the cap")
            .body()
            .len(),
        1024 * 1024
    );
}

#[tokio::test]
async fn transport_over_a_real_socket_retries_a_503_then_succeeds() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let server = TestServer::http(move |_| {
        if counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Canned::status(503)
        } else {
            Canned::json(200, r#"{"ok":true}"#)
        }
    })
    .await;
    let t = Transport::new(Arc::new(client()), Arc::new(SystemClock));
    let url = url::Url::parse(&format!("{}/token", server.url())).expect("valid");
    let r = t
        .post_form(
            &url,
            &[("grant_type", "client_credentials")],
            &[],
            Throttle::None,
        )
        .await
        .expect("answered");
    assert_eq!(r.status(), 200);
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    let id = seen[0].header("client-request-id").expect("sent");
    assert_eq!(seen[1].header("client-request-id"), Some(id));
    assert_eq!(seen[0].header("x-client-sku"), Some("msal.rust"));
    assert_eq!(seen[1].body, b"grant_type=client_credentials");
}

#[tokio::test]
async fn default_client_builds_and_debug_is_short() {
    let c = msal::transport::default_http_client();
    assert!(c.is_ok(), "{:?}", c.err());
    let shown = format!("{:?}", client());
    assert!(
        shown.contains("max_response_bytes: 8388608") && shown.contains("timeout: 30s"),
        "{shown}"
    );
}

#[tokio::test]
async fn trace_logs_hold_no_query_form_or_response_token() {
    let logs = msal_test_support::LogCapture::new();
    let _guard = logs.set_default();
    let server =
        TestServer::http(|_| Canned::json(200, r#"{"access_token":"at-secret-from-server"}"#))
            .await;
    let t = Transport::new(Arc::new(client()), Arc::new(SystemClock));
    let url = url::Url::parse(&format!("{}/token?code=query-secret", server.url())).expect("valid");
    let r = t
        .post_form(
            &url,
            &[("refresh_token", "rt-secret-in-form")],
            &[("authorization", "Bearer hdr-secret".into())],
            Throttle::None,
        )
        .await
        .expect("answered");
    assert!(String::from_utf8_lossy(r.body()).contains("at-secret-from-server"));
    let captured = logs.contents();
    assert!(
        captured.contains("127.0.0.1") && captured.contains("TRACE"),
        "the capture works: {captured}"
    );
    for secret in [
        "at-secret-from-server",
        "query-secret",
        "rt-secret-in-form",
        "hdr-secret",
    ] {
        assert!(
            !captured.contains(secret),
            "{secret} leaked into logs:\n{captured}"
        );
    }
}
