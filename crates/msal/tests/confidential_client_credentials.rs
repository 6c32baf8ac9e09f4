//! `acquire_token_for_client`: exact forms per credential, cache first,
//! expiry buffer, force refresh, claims, per-request tenants, errors, and
//! one request per tenant under heavy concurrency.

mod confidential_support;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use confidential_support::*;
use msal::credentials::{AssertionRequest, Certificate, ClientCredential};
use msal::secret::{Assertion, ClientSecret};
use msal::{ConfidentialClientApplication, Error, TokenSource};
use msal_test_support::{Expect, Reply};

const KEY: &str = include_str!("fixtures/confidential/app.key");
const CERT: &str = include_str!("fixtures/confidential/app.pem");

fn jwt_part(jwt: &str, i: usize) -> serde_json::Value {
    let p = jwt.split('.').nth(i).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn secret_request_form_then_cache_hits_until_five_minutes_before_expiry() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    // Scopes are sent undecorated (no openid/profile/offline_access), sorted.
    s.http.expect(
        cc_post(
            &s.tenant,
            "api://b/.default https://graph.microsoft.com/.default",
        )
        .form("client_info", "1"),
        Reply::json(200, &app_token_json("at-1", 3600)),
    );
    let r = s
        .app
        .acquire_token_for_client(&[GRAPH, "api://b/.default"])
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "at-1");
    assert_eq!(r.source(), TokenSource::IdentityProvider);
    assert_eq!(r.expires_on_unix(), NOW as i64 + 3600);
    assert!(r.account().is_none());
    assert_eq!(r.tenant_id(), Some(s.tenant.as_str()));
    let form = s.http.requests()[1].form();
    let names: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "grant_type",
            "client_id",
            "scope",
            "client_info",
            "client_secret"
        ]
    );

    // Any subset, any order or case: from the cache, no request.
    for scopes in [&[GRAPH][..], &["API://B/.default", GRAPH]] {
        let hit = s.app.acquire_token_for_client(scopes).await.unwrap();
        assert_eq!(hit.access_token().expose_secret(), "at-1");
        assert_eq!(hit.source(), TokenSource::Cache);
    }
    s.clock.advance(Duration::from_secs(3600 - 300));
    assert_eq!(
        s.app
            .acquire_token_for_client(&[GRAPH])
            .await
            .unwrap()
            .source(),
        TokenSource::Cache,
        "exactly 5 minutes left is still usable"
    );
    s.clock.advance(Duration::from_secs(1));
    s.http.expect(
        cc_post(&s.tenant, GRAPH),
        Reply::json(200, &app_token_json("at-2", 3600)),
    );
    let r = s.app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    assert_eq!(r.access_token().expose_secret(), "at-2");
    s.http.assert_consumed();
}

#[tokio::test]
async fn force_refresh_and_claims_skip_the_cache_and_claims_carry_capabilities() {
    let s = setup_with(ClientCredential::secret(ClientSecret::new(SECRET)), |b| {
        b.client_capabilities(["cp1"])
    });
    expect_metadata(&s.http, &s.tenant);
    let cc = r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#;
    s.http.expect(
        cc_post(&s.tenant, GRAPH).form("claims", cc),
        Reply::json(200, &app_token_json("at-1", 3600)),
    );
    s.app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    s.http.expect(
        cc_post(&s.tenant, GRAPH),
        Reply::json(200, &app_token_json("at-2", 3600)),
    );
    let r = s
        .app
        .acquire_token_for_client(&[GRAPH])
        .force_refresh(true)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "at-2");
    let challenge = r#"{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}"#;
    s.http.expect(
        cc_post(&s.tenant, GRAPH),
        Reply::json(200, &app_token_json("at-3", 3600)),
    );
    let r = s
        .app
        .acquire_token_for_client(&[GRAPH])
        .claims(challenge)
        .await
        .unwrap();
    assert_eq!(r.access_token().expose_secret(), "at-3");
    let sent: serde_json::Value =
        serde_json::from_str(&s.http.requests()[3].form_value("claims").unwrap()).unwrap();
    assert_eq!(sent["access_token"]["nbf"]["value"], "1700000000");
    assert_eq!(sent["access_token"]["xms_cc"]["values"][0], "cp1");
    // The newest token is what the cache now serves.
    let hit = s.app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    assert_eq!(
        (hit.access_token().expose_secret(), hit.source()),
        ("at-3", TokenSource::Cache)
    );
    s.http.assert_consumed();
}

#[tokio::test]
async fn certificate_credential_sends_a_signed_assertion_for_the_token_endpoint() {
    let cert = Certificate::from_pem(KEY, CERT).unwrap().with_x5c(true);
    let s = setup_with(ClientCredential::certificate(cert), |b| b);
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        Expect::post(&token_url(&s.tenant))
            .form("grant_type", "client_credentials")
            .form(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            )
            .no_form("client_secret"),
        Reply::json(200, &app_token_json("at-c", 3600)),
    );
    s.app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    s.http.assert_consumed();
    let jwt = s.http.requests()[1].form_value("client_assertion").unwrap();
    let (h, c) = (jwt_part(&jwt, 0), jwt_part(&jwt, 1));
    assert_eq!(h["alg"], "PS256");
    assert_eq!(h["x5t#S256"], "WNBjnHVxIcMqbd1TSdgRBhkHYYUaQ1BseU6_DqnMq6M");
    assert_eq!(h["x5c"].as_array().unwrap().len(), 1);
    assert_eq!(c["aud"], token_url(&s.tenant));
    assert_eq!(
        (c["iss"].as_str(), c["sub"].as_str()),
        (Some(CLIENT_ID), Some(CLIENT_ID))
    );
    assert_eq!(c["exp"], NOW + 600);
}

#[tokio::test]
async fn assertion_and_callback_credentials() {
    let s = setup_with(
        ClientCredential::assertion(Assertion::new("static.jwt.value")),
        |b| b,
    );
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        Expect::post(&token_url(&s.tenant)).form("client_assertion", "static.jwt.value"),
        Reply::json(200, &app_token_json("at", 3600)),
    );
    s.app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    s.http.assert_consumed();

    let cb = ClientCredential::assertion_callback(|req: AssertionRequest| async move {
        Ok(Assertion::new(format!(
            "cb:{}:{}",
            req.client_id, req.token_endpoint
        )))
    });
    let s = setup_with(cb, |b| b);
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        Expect::post(&token_url(&s.tenant)).form(
            "client_assertion",
            &format!("cb:{CLIENT_ID}:{}", token_url(&s.tenant)),
        ),
        Reply::json(200, &app_token_json("at", 3600)),
    );
    s.app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    s.http.assert_consumed();

    // A failing callback fails the call before anything is sent.
    let failing = ClientCredential::assertion_callback(|_| async {
        Err(Error::Config(msal::error::ConfigError::new("vault down")))
    });
    let s = setup_with(failing, |b| b);
    expect_metadata(&s.http, &s.tenant);
    let e = s.app.acquire_token_for_client(&[GRAPH]).await.unwrap_err();
    assert!(e.to_string().contains("vault down"), "{e}");
    s.http.assert_consumed();
}

#[tokio::test]
async fn a_per_request_tenant_uses_its_own_endpoint_and_partition() {
    let s = setup();
    let other = unique_tenant();
    expect_metadata(&s.http, &other);
    s.http.expect(
        cc_post(&other, GRAPH),
        Reply::json(200, &app_token_json("at-other", 3600)),
    );
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        cc_post(&s.tenant, GRAPH),
        Reply::json(200, &app_token_json("at-home", 3600)),
    );
    let r = s
        .app
        .acquire_token_for_client(&[GRAPH])
        .tenant(other.as_str())
        .await
        .unwrap();
    assert_eq!(
        (r.access_token().expose_secret(), r.tenant_id()),
        ("at-other", Some(other.as_str()))
    );
    // The configured tenant does not see the other tenant's token.
    let r = s.app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    assert_eq!(r.access_token().expose_secret(), "at-home");
    let r = s
        .app
        .acquire_token_for_client(&[GRAPH])
        .tenant(other.to_uppercase())
        .await
        .unwrap();
    assert_eq!(
        (r.access_token().expose_secret(), r.source()),
        ("at-other", TokenSource::Cache)
    );
    s.http.assert_consumed();
    for bad in ["a/b", "x y", "t?x=1"] {
        let e = s
            .app
            .acquire_token_for_client(&[GRAPH])
            .tenant(bad)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{bad}: {e:?}");
    }
}

#[tokio::test]
async fn bad_scopes_are_config_errors_and_service_errors_cache_nothing() {
    let s = setup();
    for bad in [&[][..], &[""], &["a b"]] {
        let e = s.app.acquire_token_for_client(bad).await.unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{bad:?}: {e:?}");
    }
    expect_metadata(&s.http, &s.tenant);
    s.http.expect(
        cc_post(&s.tenant, GRAPH),
        Reply::json(401, r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#),
    );
    let e = s.app.acquire_token_for_client(&[GRAPH]).await.unwrap_err();
    match &e {
        Error::Service(se) => assert_eq!(se.error, "invalid_client"),
        other => panic!("{other:?}"),
    }
    assert!(!e.to_string().contains(SECRET));
    s.http.expect(
        cc_post(&s.tenant, GRAPH),
        Reply::json(200, &app_token_json("at", 3600)),
    );
    assert_eq!(
        s.app
            .acquire_token_for_client(&[GRAPH])
            .await
            .unwrap()
            .source(),
        TokenSource::IdentityProvider
    );
    s.http.assert_consumed();
}

#[tokio::test]
async fn refresh_in_triggers_a_proactive_refresh_and_failure_keeps_the_cached_token() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    let with_refresh_in =
        r#"{"token_type":"Bearer","expires_in":7200,"refresh_in":3600,"access_token":"at-1"}"#;
    s.http
        .expect(cc_post(&s.tenant, GRAPH), Reply::json(200, with_refresh_in));
    s.app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    s.clock.advance(Duration::from_secs(3600));
    s.http.expect(
        cc_post(&s.tenant, GRAPH),
        Reply::json(400, r#"{"error":"invalid_request"}"#),
    );
    let r = s.app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    assert_eq!(
        (r.access_token().expose_secret(), r.source()),
        ("at-1", TokenSource::Cache)
    );
    s.http.expect(
        cc_post(&s.tenant, GRAPH),
        Reply::json(200, &app_token_json("at-2", 3600)),
    );
    let r = s.app.acquire_token_for_client(&[GRAPH]).await.unwrap();
    assert_eq!(
        (r.access_token().expose_secret(), r.source()),
        ("at-2", TokenSource::IdentityProvider)
    );
    s.http.assert_consumed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_concurrent_calls_over_a_thousand_tenants_make_one_request_per_tenant() {
    let idp = Idp::new();
    let home = unique_tenant();
    let app = ConfidentialClientApplication::builder(
        CLIENT_ID,
        ClientCredential::secret(ClientSecret::new(SECRET)),
    )
    .authority(format!("{HOST}/{home}"))
    .http_client(idp.clone())
    .clock(Arc::new(msal::clock::ManualClock::at_unix(NOW)))
    .build()
    .unwrap();
    let tenants: Vec<String> = (0..1000).map(|_| unique_tenant()).collect();
    let mut tasks = Vec::new();
    for i in 0..5000 {
        let app = app.clone();
        let tenant = tenants[(i * 7) % 1000].clone();
        tasks.push(tokio::spawn(async move {
            let r = app
                .acquire_token_for_client(&[GRAPH])
                .tenant(tenant.as_str())
                .await
                .unwrap();
            (tenant, r.access_token().expose_secret().to_owned())
        }));
    }
    for t in tasks {
        let (tenant, at) = t.await.unwrap();
        assert_eq!(
            at,
            format!("at-{tenant}-1"),
            "every caller got its own tenant's first token"
        );
    }
    assert_eq!(idp.token_requests(), 1000);
    assert_eq!(idp.metadata_requests(), 1000);
    assert!(idp.tokens.lock().unwrap().values().all(|&n| n == 1));
    // All cached now: another round makes no request.
    for t in &tenants[..50] {
        app.acquire_token_for_client(&[GRAPH])
            .tenant(t.as_str())
            .await
            .unwrap();
    }
    assert_eq!(idp.total.load(std::sync::atomic::Ordering::SeqCst), 2000);
}
