//! `ReqwestHttpClient` against TLS servers of the test's own, with a test CA
//! made by rcgen: untrusted certificates fail with an error naming host and
//! issuer; the CA is trusted when added explicitly, through SSL_CERT_FILE or
//! through SSL_CERT_DIR (those run in a child process: env vars are global).

use std::sync::Arc;

use msal::Error;
use msal::clock::ManualClock;
use msal::http::{HttpClient, TransportErrorKind};
use msal::transport::{ProxyConfig, ReqwestHttpClient, Throttle, Transport};
use msal_test_support::{Canned, TestCa, TestServer, child};

fn get(url: &str) -> msal::http::HttpRequest {
    http::Request::get(url)
        .body(Vec::new())
        .expect("valid request")
}

async fn server(ca: &TestCa) -> TestServer {
    TestServer::https(ca.server_config(&["127.0.0.1", "localhost"]), |_| {
        Canned::json(200, r#"{"ok":1}"#)
    })
    .await
}

#[tokio::test]
async fn an_untrusted_certificate_names_host_issuer_and_remedy() {
    let ca = TestCa::new("Contoso Inspection CA");
    let server = server(&ca).await;
    let c = ReqwestHttpClient::builder()
        .proxy(ProxyConfig::None)
        .use_env_roots(false)
        .build()
        .expect("builds");
    let e = c
        .execute(get(&format!("{}/token?q=secret", server.url())))
        .await
        .expect_err("untrusted");
    assert_eq!(e.kind, TransportErrorKind::Tls, "{e}");
    let m = e.to_string();
    for needed in [
        "127.0.0.1",
        "not trusted",
        "CN=Contoso Inspection CA, O=msal-rs tests",
        "SSL_CERT_FILE",
        "add_root_certificate_pem",
    ] {
        assert!(m.contains(needed), "missing {needed:?} in: {m}");
    }
    assert!(!m.contains("secret"), "{m}");
    assert!(!e.is_retryable());
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn tls_failures_are_not_retried_by_the_transport() {
    let ca = TestCa::new("Untrusted Root");
    let server = server(&ca).await;
    let c = ReqwestHttpClient::builder()
        .proxy(ProxyConfig::None)
        .use_env_roots(false)
        .build()
        .expect("builds");
    let t = Transport::new(Arc::new(c), Arc::new(ManualClock::at_unix(1_800_000_000)));
    let url = url::Url::parse(&format!("{}/token", server.url())).expect("valid");
    match t.post_form(&url, &[("a", "b")], &[], Throttle::None).await {
        Err(Error::Transport(e)) => {
            assert_eq!(e.kind, TransportErrorKind::Tls);
            assert!(e.message.contains("correlation id"), "{}", e.message);
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_added_root_is_trusted() {
    let ca = TestCa::new("Contoso Root");
    let server = server(&ca).await;
    let c = ReqwestHttpClient::builder()
        .proxy(ProxyConfig::None)
        .add_root_certificate_pem(ca.pem().as_bytes())
        .build()
        .expect("builds");
    let r = c
        .execute(get(&format!("{}/x", server.url())))
        .await
        .expect("trusted");
    assert_eq!(
        (r.status().as_u16(), r.body().as_slice()),
        (200, &br#"{"ok":1}"#[..])
    );
    // Also by name, not only by IP.
    let r = c
        .execute(get(&format!("https://localhost:{}/x", server.port())))
        .await
        .expect("trusted");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_certificate_for_another_name_says_so() {
    let ca = TestCa::new("Contoso Root");
    let server = TestServer::https(ca.server_config(&["login.other.example"]), |_| {
        Canned::status(200)
    })
    .await;
    let c = ReqwestHttpClient::builder()
        .proxy(ProxyConfig::None)
        .add_root_certificate_pem(ca.pem().as_bytes())
        .build()
        .expect("builds");
    let e = c.execute(get(&server.url())).await.expect_err("wrong name");
    assert_eq!(e.kind, TransportErrorKind::Tls);
    assert!(
        e.message.contains("another name") && e.message.contains("login.other.example"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn a_pem_without_certificates_is_a_config_error() {
    let e = ReqwestHttpClient::builder()
        .add_root_certificate_pem(b"not a pem")
        .build()
        .expect_err("bad pem");
    assert!(
        matches!(e, Error::Config(_)) && e.to_string().contains("add_root_certificate_pem"),
        "{e}"
    );
}

#[tokio::test]
async fn ssl_cert_file_adds_a_root() {
    if child::is_child("ssl_cert_file_adds_a_root") {
        let c = ReqwestHttpClient::builder()
            .proxy(ProxyConfig::None)
            .build()
            .expect("builds");
        let r = c
            .execute(get(&child::var("MSAL_TEST_URL")))
            .await
            .expect("trusted through SSL_CERT_FILE");
        assert_eq!(r.status(), 200);
        let ignored = ReqwestHttpClient::builder()
            .proxy(ProxyConfig::None)
            .use_env_roots(false)
            .build()
            .expect("ok");
        let e = ignored
            .execute(get(&child::var("MSAL_TEST_URL")))
            .await
            .expect_err("env roots off");
        assert_eq!(e.kind, TransportErrorKind::Tls);
        return;
    }
    let ca = TestCa::new("Corporate Root");
    let server = server(&ca).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let pem = ca.write_pem(dir.path(), "corp.pem");
    child::run(
        "ssl_cert_file_adds_a_root",
        &[
            ("SSL_CERT_FILE", pem.display().to_string()),
            ("MSAL_TEST_URL", format!("{}/x", server.url())),
        ],
    )
    .await;
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn ssl_cert_dir_adds_a_root() {
    if child::is_child("ssl_cert_dir_adds_a_root") {
        let c = ReqwestHttpClient::builder()
            .proxy(ProxyConfig::None)
            .build()
            .expect("builds");
        let r = c
            .execute(get(&child::var("MSAL_TEST_URL")))
            .await
            .expect("trusted through SSL_CERT_DIR");
        assert_eq!(r.status(), 200);
        return;
    }
    let ca = TestCa::new("Corporate Root");
    let server = server(&ca).await;
    let dir = tempfile::tempdir().expect("temp dir");
    ca.write_pem(dir.path(), "corp.pem");
    child::run(
        "ssl_cert_dir_adds_a_root",
        &[
            ("SSL_CERT_DIR", dir.path().display().to_string()),
            ("MSAL_TEST_URL", format!("{}/x", server.url())),
        ],
    )
    .await;
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn an_unreadable_ssl_cert_file_is_a_config_error_naming_it() {
    if child::is_child("an_unreadable_ssl_cert_file_is_a_config_error_naming_it") {
        let e = ReqwestHttpClient::builder()
            .build()
            .expect_err("missing file");
        let m = e.to_string();
        assert!(
            matches!(e, Error::Config(_)) && m.contains("SSL_CERT_FILE=/nonexistent/corp.pem"),
            "{m}"
        );
        return;
    }
    child::run(
        "an_unreadable_ssl_cert_file_is_a_config_error_naming_it",
        &[("SSL_CERT_FILE", "/nonexistent/corp.pem".to_owned())],
    )
    .await;
}
