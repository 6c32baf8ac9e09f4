//! Cost of the token endpoint through `router()` (no socket): an app token
//! (one RS256 signature) and a user token with ID and refresh tokens (two
//! signatures), plus emulator start-up (RSA key generation).
#![allow(missing_docs)]

use axum::body::{Body, to_bytes};
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use msal_emulator::{EmulatorConfig, EmulatorState, defaults, router};
use tower::ServiceExt as _;

fn form(body: String) -> Request<Body> {
    Request::post(format!("/{}/oauth2/v2.0/token", defaults::TENANT_ID))
        .header("host", "127.0.0.1:1")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = "http://127.0.0.1:1".parse().unwrap();
    let state = EmulatorState::new(EmulatorConfig::default(), &base).unwrap();
    let app = router(state);
    let cc = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
        defaults::DAEMON_APP_ID,
        defaults::DAEMON_SECRET
    );
    let ropc = format!(
        "grant_type=password&client_id={}&username={}&password={}&scope=openid%20profile%20offline_access%20User.Read&client_info=1",
        defaults::CLI_APP_ID,
        defaults::USER,
        defaults::USER_PASSWORD
    );
    c.bench_function("client_credentials", |b| {
        b.to_async(&rt).iter(|| async {
            let r = app.clone().oneshot(form(cc.clone())).await.unwrap();
            assert!(r.status().is_success());
            to_bytes(r.into_body(), 1 << 20).await.unwrap()
        })
    });
    c.bench_function("password_with_id_and_refresh_token", |b| {
        b.to_async(&rt).iter(|| async {
            let r = app.clone().oneshot(form(ropc.clone())).await.unwrap();
            assert!(r.status().is_success());
            to_bytes(r.into_body(), 1 << 20).await.unwrap()
        })
    });
    let mut g = c.benchmark_group("startup");
    g.sample_size(10);
    g.bench_function("state_with_new_rsa_key", |b| {
        b.iter(|| EmulatorState::new(EmulatorConfig::default(), &base).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
