//! `ReqwestHttpClient` through an HTTP proxy of the test's own. The proxy
//! sends every target to 127.0.0.1, so `login.test` only resolves through it:
//! a request that reaches the server went through the proxy.
//! Tests that need proxy variables run in a child process (env vars are global).

use std::time::Duration;

use msal::http::{HttpClient, TransportErrorKind};
use msal::transport::{ProxyConfig, ReqwestHttpClient};
use msal_test_support::{Canned, LogCapture, ProxyBehaviour, TestCa, TestProxy, TestServer, child};

const NAMES: &[&str] = &["login.test", "other.test", "127.0.0.1"];

fn get(url: &str) -> msal::http::HttpRequest {
    http::Request::get(url)
        .body(Vec::new())
        .expect("valid request")
}

async fn tls_server(ca: &TestCa) -> TestServer {
    TestServer::https(ca.server_config(NAMES), |r| {
        Canned::json(200, &format!(r#"{{"path":"{}"}}"#, r.target))
    })
    .await
}

fn via(proxy: String, ca: &TestCa) -> ReqwestHttpClient {
    ReqwestHttpClient::builder()
        .proxy(ProxyConfig::Url(proxy))
        .add_root_certificate_pem(ca.pem().as_bytes())
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("client builds")
}

#[tokio::test]
async fn an_explicit_proxy_tunnels_https() {
    let ca = TestCa::new("Root");
    let server = tls_server(&ca).await;
    let proxy = TestProxy::start(ProxyBehaviour::default()).await;
    let r = via(proxy.url(), &ca)
        .execute(get(&format!(
            "https://login.test:{}/t/token",
            server.port()
        )))
        .await;
    assert_eq!(
        r.expect("through the proxy").body().as_slice(),
        br#"{"path":"/t/token"}"#
    );
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.clone()),
        ("CONNECT", format!("login.test:{}", server.port()))
    );
    assert_eq!(seen[0].proxy_authorization, None);
}

#[tokio::test]
async fn https_proxy_from_the_environment_is_used_and_no_proxy_respected() {
    if child::is_child("https_proxy_from_the_environment_is_used_and_no_proxy_respected") {
        let port = child::var("MSAL_TEST_PORT");
        let pem = child::var("MSAL_TEST_CA");
        let c = ReqwestHttpClient::builder()
            .add_root_certificate_pem(pem.as_bytes())
            .build()
            .expect("builds");
        let r = c
            .execute(get(&format!("https://login.test:{port}/via-proxy")))
            .await
            .expect("through the proxy");
        assert_eq!(r.status(), 200);
        // NO_PROXY lists other.test: it is tried directly, and does not resolve.
        let e = c
            .execute(get(&format!("https://other.test:{port}/direct")))
            .await
            .expect_err("direct");
        assert_eq!(e.kind, TransportErrorKind::Connect, "{e}");
        assert!(!e.message.contains("proxy"), "{}", e.message);
        return;
    }
    let ca = TestCa::new("Root");
    let server = tls_server(&ca).await;
    let proxy = TestProxy::start(ProxyBehaviour::default()).await;
    child::run(
        "https_proxy_from_the_environment_is_used_and_no_proxy_respected",
        &[
            ("https_proxy", proxy.url()),
            ("NO_PROXY", "example.com, .other.test".to_owned()),
            ("MSAL_TEST_PORT", server.port().to_string()),
            ("MSAL_TEST_CA", ca.pem()),
        ],
    )
    .await;
    let targets: Vec<String> = proxy.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(targets, vec![format!("login.test:{}", server.port())]);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn upper_case_variables_and_all_proxy_work_too() {
    if child::is_child("upper_case_variables_and_all_proxy_work_too") {
        let port = child::var("MSAL_TEST_PORT");
        let c = ReqwestHttpClient::builder()
            .add_root_certificate_pem(child::var("MSAL_TEST_CA").as_bytes())
            .build()
            .expect("builds");
        let r = c
            .execute(get(&format!("https://login.test:{port}/")))
            .await
            .expect("through ALL_PROXY");
        assert_eq!(r.status(), 200);
        return;
    }
    let ca = TestCa::new("Root");
    let server = tls_server(&ca).await;
    let proxy = TestProxy::start(ProxyBehaviour::default()).await;
    child::run(
        "upper_case_variables_and_all_proxy_work_too",
        &[
            ("ALL_PROXY", proxy.url()),
            ("MSAL_TEST_PORT", server.port().to_string()),
            ("MSAL_TEST_CA", ca.pem()),
        ],
    )
    .await;
    assert_eq!(proxy.seen().len(), 1);
}

#[tokio::test]
async fn loopback_is_not_proxied_unless_asked() {
    if child::is_child("loopback_is_not_proxied_unless_asked") {
        let url = child::var("MSAL_TEST_URL");
        let c = ReqwestHttpClient::builder().build().expect("builds");
        assert_eq!(c.execute(get(&url)).await.expect("direct").status(), 200);
        let localhost = url.replace("127.0.0.1", "localhost");
        assert_eq!(
            c.execute(get(&localhost)).await.expect("direct").status(),
            200
        );
        return;
    }
    let server = TestServer::http(|_| Canned::json(200, "{}")).await;
    let proxy = TestProxy::start(ProxyBehaviour::default()).await;
    child::run(
        "loopback_is_not_proxied_unless_asked",
        &[
            ("HTTP_PROXY", proxy.url()),
            ("HTTPS_PROXY", proxy.url()),
            ("MSAL_TEST_URL", format!("{}/emulator", server.url())),
        ],
    )
    .await;
    assert!(
        proxy.seen().is_empty(),
        "loopback went through the proxy: {:?}",
        proxy.seen()
    );
    assert_eq!(server.requests().len(), 2);

    // Asked for: plain HTTP is forwarded in absolute form.
    let c = ReqwestHttpClient::builder()
        .proxy(ProxyConfig::Url(proxy.url()))
        .proxy_loopback(true)
        .build()
        .expect("builds");
    assert_eq!(
        c.execute(get(&format!("{}/asked", server.url())))
            .await
            .expect("via proxy")
            .status(),
        200
    );
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.clone()),
        ("GET", format!("{}/asked", server.url()))
    );
}

#[tokio::test]
async fn a_proxy_wanting_credentials_says_so_and_credentials_in_the_url_work() {
    let ca = TestCa::new("Root");
    let server = tls_server(&ca).await;
    let behaviour = ProxyBehaviour {
        require_credentials: Some(("alice".into(), "s3cr3t-pw".into())),
        ..Default::default()
    };
    let proxy = TestProxy::start(behaviour).await;
    let url = format!("https://login.test:{}/", server.port());

    let e = via(proxy.url(), &ca)
        .execute(get(&url))
        .await
        .expect_err("407");
    assert_eq!(e.kind, TransportErrorKind::Proxy, "{e}");
    let m = e.to_string();
    assert!(
        m.contains("wants credentials") && m.contains("407") && m.contains(&proxy.url()),
        "{m}"
    );
    assert!(!e.is_retryable());

    let with_creds = format!("http://alice:s3cr3t-pw@127.0.0.1:{}", proxy.port());
    let r = via(with_creds, &ca)
        .execute(get(&url))
        .await
        .expect("authenticated");
    assert_eq!(r.status(), 200);
    let last = proxy.seen().pop().expect("seen");
    assert_eq!(
        last.proxy_authorization.as_deref(),
        Some("Basic YWxpY2U6czNjcjN0LXB3")
    );

    // Plain HTTP through the proxy: the 407 comes back as a response, and is reported the same way.
    let plain = TestServer::http(|_| Canned::status(200)).await;
    let c = ReqwestHttpClient::builder()
        .proxy(ProxyConfig::Url(proxy.url()))
        .proxy_loopback(true)
        .build()
        .expect("builds");
    let e = c.execute(get(&plain.url())).await.expect_err("407");
    assert_eq!(e.kind, TransportErrorKind::Proxy, "{e}");
    assert!(e.message.contains("wants credentials"), "{}", e.message);
}

#[tokio::test]
async fn a_refused_connect_names_the_proxy_and_its_status() {
    let ca = TestCa::new("Root");
    let server = tls_server(&ca).await;
    let proxy = TestProxy::start(ProxyBehaviour {
        refuse_with: Some(403),
        ..Default::default()
    })
    .await;
    let e = via(proxy.url(), &ca)
        .execute(get(&format!("https://login.test:{}/", server.port())))
        .await;
    let e = e.expect_err("refused");
    assert_eq!(e.kind, TransportErrorKind::Proxy, "{e}");
    let m = e.to_string();
    assert!(
        m.contains(&proxy.url()) && m.contains("HTTP 403") && m.contains("login.test"),
        "{m}"
    );
    assert!(!e.is_retryable(), "a refusal is not retried");
}

#[tokio::test]
async fn an_unreachable_proxy_is_a_connect_error_naming_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let ca = TestCa::new("Root");
    let e = via(format!("http://bob:pw-in-url@127.0.0.1:{port}"), &ca)
        .execute(get("https://login.test/"))
        .await
        .expect_err("unreachable");
    assert_eq!(e.kind, TransportErrorKind::Connect, "{e}");
    assert!(
        e.message
            .contains(&format!("proxy http://***@127.0.0.1:{port}")),
        "{}",
        e.message
    );
    assert!(!format!("{e} {e:?}").contains("pw-in-url"));
}

#[tokio::test]
async fn proxy_credentials_appear_in_no_log_debug_or_error() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let ca = TestCa::new("Root");
    let server = tls_server(&ca).await;
    let behaviour = ProxyBehaviour {
        require_credentials: Some(("carol".into(), "hunter2-pw".into())),
        ..Default::default()
    };
    let proxy = TestProxy::start(behaviour).await;
    let url = format!("https://login.test:{}/", server.port());
    let good = format!("http://carol:hunter2-pw@127.0.0.1:{}", proxy.port());
    let bad = format!("http://carol:wrong-hunter2-pw@127.0.0.1:{}", proxy.port());

    let ok = via(good.clone(), &ca);
    assert_eq!(
        ok.execute(get(&url)).await.expect("authenticated").status(),
        200
    );
    let refused = via(bad.clone(), &ca)
        .execute(get(&url))
        .await
        .expect_err("wrong password");
    assert_eq!(refused.kind, TransportErrorKind::Proxy);
    assert!(
        refused
            .message
            .contains("refused the ones in the proxy URL"),
        "{}",
        refused.message
    );

    let captured = logs.contents();
    assert!(
        captured.contains("login.test"),
        "the capture works: {captured}"
    );
    let shown = [
        captured,
        format!("{refused} {refused:?}"),
        format!("{ok:?}"),
        format!("{:?} {:?}", ProxyConfig::Url(good), ProxyConfig::Url(bad)),
    ]
    .join("\n");
    // The password, and the Basic header that carries it.
    for secret in ["hunter2-pw", "Y2Fyb2w6aHVudGVyMi1wdw", "carol:"] {
        assert!(!shown.contains(secret), "{secret} leaked:\n{shown}");
    }
}

#[tokio::test]
async fn requests_marked_direct_skip_even_an_explicit_proxy() {
    // What managed-identity requests do: their local agent is never behind a proxy.
    let server = TestServer::http(|_| Canned::json(200, "{}")).await;
    let proxy = TestProxy::start(ProxyBehaviour::default()).await;
    let c = ReqwestHttpClient::builder()
        .proxy(ProxyConfig::Url(proxy.url()))
        .proxy_loopback(true)
        .build()
        .expect("builds");
    let mut request = get(&format!("{}/msi/token", server.url()));
    request.extensions_mut().insert(msal::transport::Direct);
    assert_eq!(c.execute(request).await.expect("direct").status(), 200);
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
    assert_eq!(
        c.execute(get(&format!("{}/other", server.url())))
            .await
            .expect("proxied")
            .status(),
        200
    );
    assert_eq!(
        proxy.seen().len(),
        1,
        "unmarked requests still use the proxy"
    );
}

/// The app builders configure msal's own client: a proxy and an extra root,
/// with no HTTP client of the app's.
#[tokio::test]
async fn the_app_builders_take_a_proxy_and_an_extra_root() {
    use msal::credentials::ClientCredential;
    use msal::secret::ClientSecret;
    let ca = TestCa::new("Corporate Root");
    let port_cell = std::sync::Arc::new(std::sync::OnceLock::<u16>::new());
    let port_of = port_cell.clone();
    let server = TestServer::https(ca.server_config(NAMES), move |r| {
        let port = port_of.get().copied().unwrap_or(0);
        if r.target.contains("openid-configuration") {
            Canned::json(
                200,
                &format!(
                    r#"{{"issuer":"https://login.test:{port}/t1/v2.0","token_endpoint":"https://login.test:{port}/t1/oauth2/v2.0/token"}}"#
                ),
            )
        } else {
            Canned::json(
                200,
                r#"{"token_type":"Bearer","expires_in":3600,"access_token":"APP-AT"}"#,
            )
        }
    })
    .await;
    port_cell.set(server.port()).unwrap();
    let proxy = TestProxy::start(ProxyBehaviour::default()).await;
    let build = |with_root: bool| {
        let mut b = msal::ConfidentialClientApplication::builder(
            "11111111-2222-3333-4444-555555555555",
            ClientCredential::secret(ClientSecret::new("s3cret")),
        )
        .authority(format!("https://login.test:{}/t1", server.port()))
        .instance_discovery(false)
        .proxy(ProxyConfig::Url(proxy.url()));
        if with_root {
            b = b.add_root_certificate_pem(ca.pem().as_bytes());
        }
        b.build().expect("app builds")
    };
    let token = build(true)
        .acquire_token_for_client(&["api://x/.default"])
        .await
        .expect("token through the proxy");
    assert_eq!(token.access_token().expose_secret(), "APP-AT");
    assert!(
        proxy.seen().iter().all(|s| s.method == "CONNECT") && !proxy.seen().is_empty(),
        "{:?}",
        proxy.seen()
    );
    // Without the root, the same call fails on trust (naming the host).
    let e = build(false)
        .acquire_token_for_client(&["api://x/.default"])
        .await
        .expect_err("untrusted");
    assert!(e.to_string().contains("login.test"), "{e}");
    // Both settings configure msal's own client: not with an app's client.
    let e = msal::ConfidentialClientApplication::builder(
        "11111111-2222-3333-4444-555555555555",
        ClientCredential::secret(ClientSecret::new("s3cret")),
    )
    .http_client(msal_test_support::FakeHttp::new())
    .proxy(ProxyConfig::None)
    .build()
    .expect_err("conflicting settings");
    assert!(matches!(e, msal::Error::Config(_)), "{e:?}");
}
