//! Managed identity against test servers of its own, pointed at through the
//! variables an Azure host sets (passed as an explicit [`Environment`], so no
//! test changes the process environment): App Service, IMDS, the cache,
//! proactive refresh, retries and the proxy rule.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use msal::Error;
use msal::TokenSource;
use msal::clock::{Clock, ManualClock};
use msal::http::HttpClient;
use msal::managed_identity::{
    Environment, ManagedIdentity, ManagedIdentityApplication, Source, UserAssignedId,
};
use msal::transport::{ProxyConfig, ReqwestHttpClient};
use msal_test_support::{
    Canned, LogCapture, ProxyBehaviour, SeenRequest, TestProxy, TestServer, child,
};

const NOW: u64 = 1_700_000_000;
const VAULT: &str = "https://vault.azure.net";
const VAULT_Q: &str = "resource=https%3A%2F%2Fvault.azure.net";

fn env(pairs: &[(&str, String)]) -> Environment {
    Environment::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .arc_agent_path(None)
}

fn app_service_env(server: &TestServer) -> Environment {
    env(&[
        ("IDENTITY_ENDPOINT", format!("{}/msi/token", server.url())),
        ("IDENTITY_HEADER", "id-header-s3cr3t".to_owned()),
    ])
}

fn build(
    identity: ManagedIdentity,
    env: Environment,
    clock: &Arc<ManualClock>,
) -> ManagedIdentityApplication {
    ManagedIdentityApplication::builder(identity)
        .environment(env)
        .clock(clock.clone())
        .build()
        .expect("builds")
}

/// An App Service endpoint: checks the header, answers `expires_on` as a string.
fn app_service_reply(r: &SeenRequest) -> Canned {
    if r.header("x-identity-header") != Some("id-header-s3cr3t") {
        return Canned::json(
            401,
            r#"{"statusCode":401,"message":"No X-IDENTITY-HEADER"}"#,
        );
    }
    Canned::json(
        200,
        &format!(
            r#"{{"access_token":"at-{}","expires_on":"{}","resource":"{VAULT}","token_type":"Bearer","client_id":"x"}}"#,
            r.target.len(),
            NOW + 3600
        ),
    )
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_unix(NOW))
}

#[tokio::test]
async fn app_service_wire_shape_cache_and_second_call() {
    let server = TestServer::http(app_service_reply).await;
    let clock = clock();
    let app = build(
        ManagedIdentity::SystemAssigned,
        app_service_env(&server),
        &clock,
    );
    assert_eq!(app.source(), Source::AppService);

    let t = app.acquire_token_for_resource(VAULT).await.expect("token");
    assert_eq!(t.source(), TokenSource::IdentityProvider);
    assert_eq!(
        (t.expires_on_unix(), t.token_type(), t.scopes()[0].as_str()),
        (NOW as i64 + 3600, "Bearer", VAULT)
    );
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(
        seen[0].target,
        format!("/msi/token?api-version=2019-08-01&{VAULT_Q}")
    );
    assert_eq!(
        seen[0].header("x-identity-header"),
        Some("id-header-s3cr3t")
    );
    assert_eq!(seen[0].header("metadata"), Some("true"));
    assert_eq!(seen[0].header("authorization"), None);

    // Second call, and the `.default` scope of the same resource: the cache.
    for r in [VAULT, "https://vault.azure.net/.default"] {
        let again = app.acquire_token_for_resource(r).await.expect("cached");
        assert_eq!(again.source(), TokenSource::Cache);
        assert_eq!(
            again.access_token().expose_secret(),
            t.access_token().expose_secret()
        );
    }
    assert_eq!(server.requests().len(), 1, "no request for a cached token");

    // force_refresh asks again.
    let forced = app
        .acquire_token_for_resource(VAULT)
        .force_refresh(true)
        .await
        .expect("forced");
    assert_eq!(forced.source(), TokenSource::IdentityProvider);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn app_service_names_user_assigned_identities_its_own_way() {
    let server = TestServer::http(app_service_reply).await;
    let clock = clock();
    for (id, q) in [
        (UserAssignedId::ClientId("cid-1".into()), "client_id=cid-1"),
        (
            UserAssignedId::ResourceId("/subscriptions/s/id".into()),
            "mi_res_id=%2Fsubscriptions%2Fs%2Fid",
        ),
        (UserAssignedId::ObjectId("oid-1".into()), "object_id=oid-1"),
    ] {
        let app = build(
            ManagedIdentity::UserAssigned(id),
            app_service_env(&server),
            &clock,
        );
        app.acquire_token_for_resource(VAULT).await.expect("token");
        let last = server.requests().pop().expect("a request");
        assert_eq!(
            last.target,
            format!("/msi/token?api-version=2019-08-01&{VAULT_Q}&{q}")
        );
    }
}

#[tokio::test]
async fn app_service_errors_carry_the_message_and_are_not_cached() {
    let server = TestServer::http(|_| {
        Canned::json(
            400,
            r#"{"statusCode":400,"message":"Unable to load the proper Managed Identity."}"#,
        )
    })
    .await;
    let clock = clock();
    let app = build(
        ManagedIdentity::SystemAssigned,
        app_service_env(&server),
        &clock,
    );
    let e = app
        .acquire_token_for_resource(VAULT)
        .await
        .expect_err("400");
    let Error::Service(s) = &e else {
        panic!("not a service error: {e:?}")
    };
    assert_eq!(s.status, Some(400));
    assert!(
        e.to_string()
            .contains("Unable to load the proper Managed Identity"),
        "{e}"
    );
    assert_eq!(server.requests().len(), 1, "a 400 is not retried");
}

#[tokio::test]
async fn malformed_success_bodies_are_protocol_errors() {
    for body in [
        "not json",
        r#"{"access_token":"at"}"#,
        r#"{"expires_on":"1"}"#,
        r#"{"access_token":"at","expires_on":{}}"#,
    ] {
        let b = body.to_owned();
        let server = TestServer::http(move |_| Canned::status(200).body(b.as_bytes())).await;
        let clock = clock();
        let app = build(
            ManagedIdentity::SystemAssigned,
            app_service_env(&server),
            &clock,
        );
        let e = app.acquire_token_for_resource(VAULT).await.expect_err(body);
        assert!(matches!(e, Error::Protocol(_)), "{body}: {e:?}");
    }
}

fn imds_env(server: &TestServer) -> Environment {
    env(&[("AZURE_POD_IDENTITY_AUTHORITY_HOST", server.url())])
}

fn imds_token(expires_in: &str) -> Canned {
    Canned::json(
        200,
        &format!(
            r#"{{"access_token":"imds-at","expires_in":{expires_in},"expires_on":"1","token_type":"Bearer"}}"#
        ),
    )
}

#[tokio::test]
async fn imds_wire_shape() {
    let server = TestServer::http(|_| imds_token(r#""3599""#)).await;
    let clock = clock();
    let app = build(
        ManagedIdentity::UserAssigned(UserAssignedId::ResourceId("/sub/rg/mi".into())),
        imds_env(&server),
        &clock,
    );
    assert_eq!(app.source(), Source::Imds);
    let t = app
        .acquire_token_for_resource("https://management.azure.com/.default")
        .await
        .expect("token");
    assert_eq!(
        t.expires_on_unix(),
        NOW as i64 + 3599,
        "expires_in wins over expires_on"
    );
    let seen = server.requests();
    assert_eq!(
        seen[0].target,
        "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com&msi_res_id=%2Fsub%2Frg%2Fmi"
    );
    assert_eq!(seen[0].header("metadata"), Some("true"));
    assert_eq!(seen[0].header("x-client-sku"), Some("msal.rust"));
    assert_eq!(
        seen[0].header("x-client-ver"),
        Some(env!("CARGO_PKG_VERSION"))
    );
    let id = seen[0]
        .header("x-ms-client-request-id")
        .expect("a request id");
    assert_eq!(uuid_version(id), Some(4), "{id}");
}

fn uuid_version(s: &str) -> Option<u8> {
    let parts: Vec<&str> = s.split('-').collect();
    (parts.len() == 5 && parts[2].len() == 4)
        .then(|| u8::from_str_radix(&parts[2][..1], 16).ok())
        .flatten()
}

/// A server that answers `statuses` in turn, then a token.
async fn sequence(statuses: &'static [u16]) -> TestServer {
    let n = AtomicUsize::new(0);
    TestServer::http(
        move |_| match statuses.get(n.fetch_add(1, Ordering::SeqCst)) {
            Some(s) => Canned::json(
                *s,
                r#"{"error":"temporarily_unavailable","error_description":"IMDS is updating"}"#,
            ),
            None => imds_token("3599"),
        },
    )
    .await
}

#[tokio::test]
async fn imds_410_then_200_succeeds_after_waiting_on_the_clock() {
    let server = sequence(&[410]).await;
    let clock = clock();
    let app = build(ManagedIdentity::SystemAssigned, imds_env(&server), &clock);
    let t = app
        .acquire_token_for_resource(VAULT)
        .await
        .expect("retried");
    assert_eq!(server.requests().len(), 2);
    assert_eq!(clock.unix_now(), NOW as i64 + 10, "a 410 waits 10 s");
    assert_eq!(t.expires_on_unix(), NOW as i64 + 10 + 3599);
}

#[tokio::test]
async fn imds_5xx_backs_off_1_2_4_then_gives_up_with_the_message() {
    let server = sequence(&[500, 503, 504, 500, 500]).await;
    let clock = clock();
    let app = build(ManagedIdentity::SystemAssigned, imds_env(&server), &clock);
    let e = app
        .acquire_token_for_resource(VAULT)
        .await
        .expect_err("gives up");
    assert_eq!(server.requests().len(), 4, "one try and three retries");
    assert_eq!(clock.unix_now(), NOW as i64 + 7);
    assert!(e.to_string().contains("IMDS is updating"), "{e}");
}

#[tokio::test]
async fn imds_permanent_400_fails_at_once_with_the_service_message() {
    let server = TestServer::http(|_| {
        Canned::json(
            400,
            r#"{"error":"invalid_request","error_description":"Identity not found"}"#,
        )
    })
    .await;
    let clock = clock();
    let app = build(ManagedIdentity::SystemAssigned, imds_env(&server), &clock);
    let e = app
        .acquire_token_for_resource(VAULT)
        .await
        .expect_err("400");
    let Error::Service(s) = &e else {
        panic!("{e:?}")
    };
    assert_eq!((s.error.as_str(), s.status), ("invalid_request", Some(400)));
    assert!(
        s.description
            .as_deref()
            .is_some_and(|d| d.contains("Identity not found")),
        "{s:?}"
    );
    assert_eq!(server.requests().len(), 1);
    assert_eq!(clock.unix_now(), NOW as i64, "no wait");
}

/// A transport that fails every request with `kind`, the cause given as
/// `io_kind` (how a connect timeout is recognized), and counts them.
struct Failing {
    kind: msal::http::TransportErrorKind,
    io_kind: std::io::ErrorKind,
    calls: AtomicUsize,
}

impl HttpClient for Failing {
    fn execute(
        &self,
        _: msal::http::HttpRequest,
    ) -> msal::http::BoxFuture<'_, Result<msal::http::HttpResponse, msal::http::TransportError>>
    {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let e = msal::http::TransportError::new(
            self.kind,
            "no answer from 169.254.169.254:80 within the connect timeout of 2s",
        )
        .with_source(std::io::Error::new(self.io_kind, "simulated"));
        Box::pin(async move { Err(e) })
    }
}

async fn off_azure(
    kind: msal::http::TransportErrorKind,
    io_kind: std::io::ErrorKind,
) -> (Error, usize, i64) {
    let clock = clock();
    let http = Arc::new(Failing {
        kind,
        io_kind,
        calls: AtomicUsize::new(0),
    });
    let app = ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned)
        .environment(env(&[]))
        .clock(clock.clone())
        .http_client(http.clone())
        .build()
        .expect("builds");
    assert_eq!(app.source(), Source::Imds);
    let e = app
        .acquire_token_for_resource(VAULT)
        .await
        .expect_err("nothing answers");
    (
        e,
        http.calls.load(Ordering::SeqCst),
        clock.unix_now() - NOW as i64,
    )
}

#[tokio::test]
async fn off_azure_an_imds_connect_timeout_fails_at_once_and_says_so() {
    use msal::http::TransportErrorKind as K;
    let (e, calls, waited) = off_azure(K::Timeout, std::io::ErrorKind::TimedOut).await;
    assert_eq!((calls, waited), (1, 0), "no retry, no wait: {e}");
    let Error::Transport(t) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(t.kind, K::Timeout);
    assert!(
        t.message
            .starts_with("no managed identity endpoint reachable (IMDS at 169.254.169.254)")
            && t.message.contains("not running on Azure?"),
        "{e}"
    );
    // A refusal is final too, and explained the same way.
    let (e, calls, waited) = off_azure(K::Connect, std::io::ErrorKind::ConnectionRefused).await;
    assert_eq!((calls, waited), (1, 0), "{e}");
    assert!(e.to_string().contains("not running on Azure?"), "{e}");
    // A timeout waiting for IMDS's answer is retried after 1, 2 and 4 s (of the clock).
    let (e, calls, waited) = off_azure(K::Timeout, std::io::ErrorKind::Other).await;
    assert_eq!((calls, waited), (4, 7), "{e}");
    assert!(!e.to_string().contains("not running on Azure"), "{e}");
}

#[tokio::test]
async fn an_expired_token_is_refused_and_not_cached() {
    let n = Arc::new(AtomicUsize::new(0));
    let seen = n.clone();
    let server = TestServer::http(move |_| {
        // First an already expired token, then a good one.
        let expires_on = if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            NOW - 10
        } else {
            NOW + 3600
        };
        Canned::json(
            200,
            &format!(r#"{{"access_token":"at-{expires_on}","expires_on":"{expires_on}"}}"#),
        )
    })
    .await;
    let clock = clock();
    let app = build(
        ManagedIdentity::SystemAssigned,
        app_service_env(&server),
        &clock,
    );
    let e = app
        .acquire_token_for_resource(VAULT)
        .await
        .expect_err("expired");
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    assert!(e.to_string().contains("already expired"), "{e}");
    let t = app.acquire_token_for_resource(VAULT).await.expect("token");
    assert_eq!(
        (t.source(), t.expires_on_unix()),
        (TokenSource::IdentityProvider, NOW as i64 + 3600),
        "the expired token was not cached"
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn azure_ml_date_string_expiry_is_understood_and_cached() {
    // 2019-06-20T14:57:58Z, as Azure ML's 2017-09-01 API writes it.
    const EXPIRES: u64 = 1_561_042_678;
    let server = TestServer::http(|_| {
        Canned::json(
            200,
            r#"{"access_token":"ml-at","expires_on":"6/20/2019 2:57:58 PM +00:00","resource":"https://vault.azure.net","token_type":"Bearer"}"#,
        )
    })
    .await;
    let clock = Arc::new(ManualClock::at_unix(EXPIRES - 3600));
    let app = ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned)
        .environment(env(&[
            ("MSI_ENDPOINT", format!("{}/msi/token", server.url())),
            ("MSI_SECRET", "ml-s3cr3t".to_owned()),
        ]))
        .clock(clock.clone())
        .build()
        .expect("builds");
    assert_eq!(app.source(), Source::AzureMl);
    let t = app.acquire_token_for_resource(VAULT).await.expect("token");
    assert_eq!(t.expires_on_unix(), EXPIRES as i64);
    let again = app.acquire_token_for_resource(VAULT).await.expect("cached");
    assert_eq!(again.source(), TokenSource::Cache);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn the_builder_can_point_imds_elsewhere() {
    let server = TestServer::http(|_| imds_token("3599")).await;
    let clock = clock();
    let app = ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned)
        .environment(env(&[(
            "AZURE_POD_IDENTITY_AUTHORITY_HOST",
            "http://127.0.0.1:1".to_owned(),
        )]))
        .imds_endpoint(format!("{}/custom/token", server.url()))
        .clock(clock.clone())
        .build()
        .expect("builds");
    app.acquire_token_for_resource(VAULT).await.expect("token");
    assert!(
        server.requests()[0]
            .target
            .starts_with("/custom/token?api-version=2018-02-01&")
    );
}

#[tokio::test]
async fn tokens_near_expiry_are_fetched_again() {
    let server = TestServer::http(|_| imds_token("3600")).await;
    let clock = clock();
    let app = build(ManagedIdentity::SystemAssigned, imds_env(&server), &clock);
    app.acquire_token_for_resource(VAULT).await.expect("token");
    clock.advance(Duration::from_secs(3600 - 301));
    assert_eq!(
        app.acquire_token_for_resource(VAULT)
            .await
            .expect("cached")
            .source(),
        TokenSource::Cache
    );
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        app.acquire_token_for_resource(VAULT)
            .await
            .expect("fresh")
            .source(),
        TokenSource::IdentityProvider
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn long_lived_tokens_are_refreshed_at_half_life_and_kept_if_that_fails() {
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = fail.clone();
    let server = TestServer::http(move |_| {
        if f.load(Ordering::SeqCst) {
            Canned::json(
                400,
                r#"{"error":"invalid_request","error_description":"down"}"#,
            )
        } else {
            imds_token("86400")
        }
    })
    .await;
    let clock = clock();
    let app = build(ManagedIdentity::SystemAssigned, imds_env(&server), &clock);
    let t = app.acquire_token_for_resource(VAULT).await.expect("token");
    assert_eq!(t.refresh_on_unix(), Some(NOW as i64 + 43200));
    clock.advance(Duration::from_secs(43199));
    assert_eq!(
        app.acquire_token_for_resource(VAULT)
            .await
            .expect("cached")
            .source(),
        TokenSource::Cache
    );
    clock.advance(Duration::from_secs(2));
    let refreshed = app
        .acquire_token_for_resource(VAULT)
        .await
        .expect("refreshed");
    assert_eq!(refreshed.source(), TokenSource::IdentityProvider);
    assert_eq!(server.requests().len(), 2);
    // Past refresh_on again, with the endpoint failing: the still-valid token is served.
    clock.advance(Duration::from_secs(43201));
    fail.store(true, Ordering::SeqCst);
    let kept = app.acquire_token_for_resource(VAULT).await.expect("kept");
    assert_eq!(kept.source(), TokenSource::Cache);
    assert_eq!(server.requests().len(), 3);
    // But force_refresh surfaces the failure.
    assert!(
        app.acquire_token_for_resource(VAULT)
            .force_refresh(true)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn claims_skip_the_cache() {
    let server = TestServer::http(|_| imds_token("3600")).await;
    let clock = clock();
    let app = build(ManagedIdentity::SystemAssigned, imds_env(&server), &clock);
    app.acquire_token_for_resource(VAULT).await.expect("token");
    let t = app
        .acquire_token_for_resource(VAULT)
        .claims(r#"{"access_token":{"nbf":{"essential":true}}}"#)
        .await
        .expect("token");
    assert_eq!(t.source(), TokenSource::IdentityProvider);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn concurrent_misses_make_one_request() {
    let server = TestServer::http(|_| imds_token("3600")).await;
    let clock = clock();
    let app = build(ManagedIdentity::SystemAssigned, imds_env(&server), &clock);
    let calls: Vec<_> = (0..8)
        .map(|_| app.acquire_token_for_resource(VAULT).into_future())
        .collect();
    for r in futures::future::join_all(calls).await {
        r.expect("token");
    }
    assert_eq!(server.requests().len(), 1);
}

use std::future::IntoFuture;

#[tokio::test]
async fn concurrent_misses_make_one_request_per_resource() {
    let server = TestServer::http(|_| imds_token("3600")).await;
    let clock = clock();
    let app = build(ManagedIdentity::SystemAssigned, imds_env(&server), &clock);
    let calls: Vec<_> = (0..8)
        .map(|i| {
            app.acquire_token_for_resource(if i % 2 == 0 {
                VAULT
            } else {
                "https://storage.azure.com"
            })
            .into_future()
        })
        .collect();
    for r in futures::future::join_all(calls).await {
        r.expect("token");
    }
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn bad_configuration_is_refused_at_build() {
    let e = ManagedIdentityApplication::builder(ManagedIdentity::UserAssigned(
        UserAssignedId::ClientId(" ".into()),
    ))
    .environment(env(&[]))
    .build()
    .expect_err("empty id");
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    let e = ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned)
        .environment(env(&[
            ("IDENTITY_ENDPOINT", "::".to_owned()),
            ("IDENTITY_HEADER", "h".to_owned()),
        ]))
        .build()
        .expect_err("bad endpoint");
    assert!(e.to_string().contains("IDENTITY_ENDPOINT"), "{e}");
    let app = build(ManagedIdentity::SystemAssigned, env(&[]), &clock());
    let e = app
        .acquire_token_for_resource(" /.default")
        .await
        .expect_err("empty resource");
    assert!(matches!(e, Error::Config(_)), "{e:?}");
}

#[tokio::test]
async fn requests_bypass_a_configured_proxy() {
    let server = TestServer::http(|_| imds_token("3600")).await;
    let proxy = TestProxy::start(ProxyBehaviour::default()).await;
    // A client that would send even loopback requests through the proxy.
    let http = ReqwestHttpClient::builder()
        .proxy(ProxyConfig::Url(proxy.url()))
        .proxy_loopback(true)
        .build()
        .expect("client");
    // Control: a plain request from this client does go through the proxy.
    let plain = http::Request::get(format!("{}/control", server.url()))
        .body(Vec::new())
        .expect("request");
    http.execute(plain).await.expect("via the proxy");
    assert_eq!(proxy.seen().len(), 1);

    let app = ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned)
        .environment(imds_env(&server))
        .http_client(Arc::new(http))
        .clock(clock())
        .build()
        .expect("builds");
    app.acquire_token_for_resource(VAULT).await.expect("token");
    assert_eq!(
        proxy.seen().len(),
        1,
        "the managed identity request did not go through the proxy"
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn https_proxy_in_the_environment_is_ignored() {
    const NAME: &str = "https_proxy_in_the_environment_is_ignored";
    if child::is_child(NAME) {
        let endpoint = child::var("MSAL_TEST_ENDPOINT");
        // The proxy variables are set in this process; the client honours them
        // for everything (loopback included), except Direct requests.
        let http = ReqwestHttpClient::builder()
            .proxy_loopback(true)
            .build()
            .expect("client");
        let app = ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned)
            .environment(Environment::process().arc_agent_path(None))
            .http_client(Arc::new(http))
            // The server's tokens expire an hour after NOW.
            .clock(clock())
            .build()
            .expect("builds");
        assert_eq!(app.source(), Source::AppService);
        let t = app
            .acquire_token_for_resource(VAULT)
            .await
            .expect("token, directly");
        assert!(t.access_token().expose_secret().starts_with("at-"));
        // And the default client (no http_client) ignores them too.
        let app = ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned)
            .clock(clock())
            .build()
            .expect("builds");
        app.acquire_token_for_resource(VAULT)
            .force_refresh(true)
            .await
            .expect("token, directly");
        assert!(!endpoint.is_empty());
        return;
    }
    let server = TestServer::http(app_service_reply).await;
    let proxy = TestProxy::start(ProxyBehaviour::default()).await;
    let endpoint = format!("{}/msi/token", server.url());
    child::run(
        NAME,
        &[
            ("HTTPS_PROXY", proxy.url()),
            ("HTTP_PROXY", proxy.url()),
            ("ALL_PROXY", proxy.url()),
            ("IDENTITY_ENDPOINT", endpoint.clone()),
            ("IDENTITY_HEADER", "id-header-s3cr3t".to_owned()),
            ("MSAL_TEST_ENDPOINT", endpoint),
        ],
    )
    .await;
    assert_eq!(proxy.seen().len(), 0, "{:?}", proxy.seen());
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn no_secret_or_token_in_trace_logs() {
    let logs = LogCapture::new();
    let _guard = logs.set_default();
    let server = TestServer::http(app_service_reply).await;
    let clock = clock();
    let app = build(
        ManagedIdentity::SystemAssigned,
        app_service_env(&server),
        &clock,
    );
    let t = app.acquire_token_for_resource(VAULT).await.expect("token");
    app.acquire_token_for_resource(VAULT).await.expect("cached");
    let shown = format!("{t:?} {app:?}");
    let text = logs.contents();
    assert!(text.contains("127.0.0.1"), "something was logged: {text}");
    for secret in ["id-header-s3cr3t", t.access_token().expose_secret()] {
        assert!(!text.contains(secret), "{secret} in the logs:\n{text}");
        assert!(!shown.contains(secret), "{secret} in Debug: {shown}");
    }
}
