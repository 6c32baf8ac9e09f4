//! Concurrent silent calls for the same account and scopes make one
//! network refresh, and every caller gets its result (or its error).
// The password grant is deprecated; this still exercises it.
#![allow(deprecated)]

mod public_support;

use std::sync::Arc;
use std::time::Duration;

use msal::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse, TransportError};
use msal::{Error, PublicClientApplication};
use msal_test_support::{FakeHttp, Reply};
use public_support::*;
use tokio::sync::watch;

/// Holds every request until the gate opens, then lets FakeHttp answer.
struct GatedHttp {
    inner: Arc<FakeHttp>,
    gate: watch::Receiver<bool>,
}

impl HttpClient for GatedHttp {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let mut gate = self.gate.clone();
        Box::pin(async move {
            let _ = gate.wait_for(|open| *open).await;
            self.inner.execute(request).await
        })
    }
}

async fn gated_app() -> (Setup, watch::Sender<bool>, msal::Account) {
    let http = FakeHttp::new();
    let (open, gate) = watch::channel(true);
    let clock = Arc::new(msal::clock::ManualClock::at_unix(NOW));
    let tenant = unique_tenant();
    let app = PublicClientApplication::builder(CLIENT_ID)
        .authority(format!("{HOST}/{tenant}"))
        .http_client(Arc::new(GatedHttp {
            inner: http.clone(),
            gate,
        }))
        .clock(clock.clone())
        .build()
        .unwrap();
    let s = Setup {
        http,
        clock,
        tenant,
        app,
    };
    let (_, account) = sign_in(&s, true, &token_json("AT-1", "RT-1", &s.tenant, 3600, None)).await;
    (s, open, account)
}

#[tokio::test]
async fn eight_concurrent_calls_share_one_refresh() {
    let (s, open, account) = gated_app().await;
    s.clock.advance(Duration::from_secs(3601));
    open.send(false).unwrap();
    s.http.expect(
        refresh_post(&s.tenant, "RT-1"),
        Reply::json(200, &token_json("AT-2", "RT-2", &s.tenant, 3600, None)),
    );
    let calls: Vec<_> = (0..8)
        .map(|i| {
            // Scopes in another case and order still share the flight.
            let scopes: &[&str] = if i % 2 == 0 {
                &["User.Read"]
            } else {
                &["user.read"]
            };
            tokio::spawn(s.app.acquire_token_silent(scopes, &account).into_future())
        })
        .collect();
    // Let every call reach the gate (or join the flight) before the answer comes.
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    open.send(true).unwrap();
    for c in calls {
        let r = c.await.unwrap().unwrap();
        assert_eq!(r.access_token().expose_secret(), "AT-2");
    }
    assert_eq!(s.http.request_count(), 3, "metadata, sign-in, ONE refresh");
    s.http.assert_consumed();
}

#[tokio::test]
async fn every_waiter_gets_the_shared_error() {
    let (s, open, account) = gated_app().await;
    s.clock.advance(Duration::from_secs(3601));
    open.send(false).unwrap();
    s.http.expect(
        refresh_post(&s.tenant, "RT-1"),
        Reply::json(
            400,
            r#"{"error":"invalid_grant","suberror":"basic_action"}"#,
        ),
    );
    let calls: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(
                s.app
                    .acquire_token_silent(&["User.Read"], &account)
                    .into_future(),
            )
        })
        .collect();
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    open.send(true).unwrap();
    for c in calls {
        let e = c.await.unwrap().unwrap_err();
        assert!(
            matches!(&e, Error::UiRequired { suberror: Some(x), .. } if x == "basic_action"),
            "{e:?}"
        );
    }
    s.http.assert_consumed();
}

#[tokio::test]
async fn different_scopes_do_not_share_a_flight() {
    let (s, open, account) = gated_app().await;
    s.clock.advance(Duration::from_secs(3601));
    open.send(false).unwrap();
    let a = tokio::spawn(
        s.app
            .acquire_token_silent(&["User.Read"], &account)
            .into_future(),
    );
    let b = tokio::spawn(
        s.app
            .acquire_token_silent(&["Mail.Read"], &account)
            .into_future(),
    );
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    // Both reach the network on their own (in either order).
    let mut body: serde_json::Value =
        serde_json::from_str(&token_json("AT-2", "RT-2", &s.tenant, 3600, None)).unwrap();
    body["scope"] = "Mail.Read User.Read openid profile offline_access".into();
    for _ in 0..2 {
        let any_refresh = msal_test_support::Expect::post(&token_url(&s.tenant))
            .form("grant_type", "refresh_token");
        s.http
            .expect(any_refresh, Reply::json(200, &body.to_string()));
    }
    open.send(true).unwrap();
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    assert_eq!(s.http.request_count(), 4);
}

#[test]
fn public_futures_are_send() {
    fn is_send<T: Send>(_: &T) {}
    let s = setup();
    let account = msal::Account::new("u.t", "login.microsoftonline.com")
        .with_realm("t")
        .with_local_account_id("u")
        .with_username(String::new());
    is_send(&s.app.acquire_token_silent(&["a"], &account).into_future());
    is_send(&s.app.acquire_token_interactive(&["a"]).into_future());
    is_send(
        &s.app
            .acquire_token_with_device_code(&["a"], |_| {})
            .into_future(),
    );
    is_send(
        &s.app
            .acquire_token_by_username_password(&["a"], "u", msal::secret::Password::new("p"))
            .into_future(),
    );
    is_send(
        &s.app
            .acquire_token_by_refresh_token(&["a"], msal::secret::RefreshTokenSecret::new("r"))
            .into_future(),
    );
    is_send(&s.app.accounts());
    is_send(&s.app.remove_account(&account));
}

use std::future::IntoFuture;

#[tokio::test]
async fn a_caller_giving_up_does_not_start_a_second_refresh() {
    let (s, open, account) = gated_app().await;
    s.clock.advance(Duration::from_secs(3601));
    open.send(false).unwrap();
    s.http.expect(
        refresh_post(&s.tenant, "RT-1"),
        Reply::json(200, &token_json("AT-2", "RT-2", &s.tenant, 3600, None)),
    );
    let first = tokio::spawn(
        s.app
            .acquire_token_silent(&["User.Read"], &account)
            .into_future(),
    );
    let second = tokio::spawn(
        s.app
            .acquire_token_silent(&["User.Read"], &account)
            .into_future(),
    );
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    // The first caller gives up (its own timeout, say) while the refresh is out.
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    // A newcomer joins the flight still in the air instead of starting another.
    let third = tokio::spawn(
        s.app
            .acquire_token_silent(&["User.Read"], &account)
            .into_future(),
    );
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    open.send(true).unwrap();
    for c in [second, third] {
        let r = c.await.unwrap().unwrap();
        assert_eq!(r.access_token().expose_secret(), "AT-2");
    }
    assert_eq!(s.http.request_count(), 3, "metadata, sign-in, ONE refresh");
    s.http.assert_consumed();
}
