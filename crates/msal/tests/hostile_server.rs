//! A hostile identity provider (a raw HTTP server of the test's own) against
//! the real HTTP client with short timeouts: wrong content type, truncated
//! JSON, gigantic and endless bodies, a slow drip, a redirect to another
//! host, ID tokens with a wrong audience, issuer or nonce, a loopback
//! redirect with a foreign `state` (refused; the sign-in then times out). Each
//! call ends in a typed error well
//! before the test's hang guard, and the cache document is exactly what it
//! was (no save happened). A token response without `expires_in` is not an
//! error: the access token gets the cache format's default lifetime (spec
//! §8: `expires_on` from the response if present, else 600 s).
// The password grant is deprecated; this still exercises it.
#![allow(deprecated)]
#![cfg(feature = "reqwest")]

mod hostile_support;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hostile_support::*;
use msal::clock::ManualClock;
use msal::http::TransportErrorKind;
use msal::secret::Password;
use msal::{Account, Error, PublicClientApplication, TokenSource};
use msal_test_support::{Canned, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Signed {
    idp: Idp,
    hooks: Arc<DocHooks>,
    app: PublicClientApplication,
    account: Account,
}

/// A user signed in through `idp` (one honest token response: AT-1, RT-1).
async fn signed_in() -> Signed {
    let idp = Idp::start().await;
    let hooks = Arc::new(DocHooks::default());
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let app = app(&idp, &hooks, &clock);
    idp.then(reply(&idp.token_json("SECRET-AT-1", "SECRET-RT-1")));
    let r = app
        .acquire_token_by_username_password(SCOPES, "ada@contoso.example", Password::new("pw"))
        .await
        .unwrap();
    let account = r.account().unwrap().clone();
    assert_eq!(hooks.snapshot().1, 1, "the sign-in was saved");
    Signed {
        idp,
        hooks,
        app,
        account,
    }
}

/// Runs `call`, which must fail: in time, with nothing saved, and with the
/// cached token still served afterwards. Returns the error.
async fn fails_cleanly<T: std::fmt::Debug>(
    s: &Signed,
    call: impl Future<Output = msal::Result<T>>,
) -> Error {
    let before = s.hooks.snapshot();
    let e = tokio::time::timeout(HANG, call)
        .await
        .expect("the call hung past its timeouts")
        .expect_err("a hostile reply was accepted");
    assert_eq!(s.hooks.snapshot(), before, "the cache changed: {e:?}");
    let cached = s
        .app
        .acquire_token_silent(SCOPES, &s.account)
        .await
        .unwrap();
    assert_eq!(cached.source(), TokenSource::Cache);
    assert_eq!(cached.access_token().expose_secret(), "SECRET-AT-1");
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("SECRET"), "a token in the error: {shown}");
    e
}

fn refresh(s: &Signed) -> impl Future<Output = msal::Result<msal::AuthenticationResult>> + '_ {
    s.app
        .acquire_token_silent(SCOPES, &s.account)
        .force_refresh(true)
        .into_future()
}

use std::future::IntoFuture;

#[tokio::test]
async fn an_html_page_instead_of_json_is_a_protocol_error() {
    let s = signed_in().await;
    // A captive portal's login page, with a 200.
    s.idp.then(
        Canned::status(200)
            .header("content-type", "text/html; charset=utf-8")
            .body(b"<!doctype html><title>Hotel Wi-Fi</title><form>Room number</form>"),
    );
    let e = fails_cleanly(&s, refresh(&s)).await;
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    // The same token JSON labelled text/plain is still the token endpoint's
    // answer (MSALs do not insist on the content type), but an HTML error page
    // with a gateway status carries no OAuth error: a protocol error.
    s.idp.then(
        Canned::status(502)
            .header("content-type", "text/html")
            .body(b"<html>Bad Gateway</html>"),
    );
    s.idp.then(
        Canned::status(502)
            .header("content-type", "text/html")
            .body(b"<html>Bad Gateway</html>"),
    );
    let e = fails_cleanly(&s, refresh(&s)).await;
    assert!(
        matches!(&e, Error::Protocol(_) | Error::Service(_)),
        "{e:?}"
    );
}

#[tokio::test]
async fn truncated_json_is_a_protocol_error_that_does_not_echo_the_body() {
    let s = signed_in().await;
    let full = s.idp.token_json("SECRET-AT-2", "SECRET-RT-2");
    for cut in [1, full.len() / 3, full.len() - 1] {
        s.idp.then(reply(&full[..cut]));
        let e = fails_cleanly(&s, refresh(&s)).await;
        assert!(matches!(e, Error::Protocol(_)), "{cut}: {e:?}");
    }
}

#[tokio::test]
async fn gigantic_bodies_are_refused_at_the_cap() {
    let s = signed_in().await;
    // Declared up front (Content-Length larger than the cap).
    let padding = "x".repeat(MAX_BODY * 4);
    let big = format!(r#"{{"access_token":"SECRET-AT-2","expires_in":3599,"pad":"{padding}"}}"#);
    s.idp.then(reply(&big));
    let e = fails_cleanly(&s, refresh(&s)).await;
    assert!(
        matches!(&e, Error::Transport(t) if t.kind == TransportErrorKind::BodyTooLarge),
        "{e:?}"
    );
    // Streamed without a length, 64 MiB of zeros: cut at the cap, not buffered.
    s.idp.then(Canned::status(200).chunked_zeros(64 << 20));
    let e = fails_cleanly(&s, refresh(&s)).await;
    assert!(
        matches!(&e, Error::Transport(t) if t.kind == TransportErrorKind::BodyTooLarge),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_slow_drip_ends_in_a_timeout() {
    let s = signed_in().await;
    // One byte every 50 ms: the whole answer would take minutes.
    let body = s.idp.token_json("SECRET-AT-2", "SECRET-RT-2");
    for _ in 0..2 {
        s.idp.then(reply(&body).drip(Duration::from_millis(50)));
    }
    let e = fails_cleanly(&s, refresh(&s)).await;
    assert!(
        matches!(&e, Error::Transport(t) if t.kind == TransportErrorKind::Timeout),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed() {
    let s = signed_in().await;
    let elsewhere = TestServer::http(|_| Canned::json(200, r#"{"access_token":"stolen"}"#)).await;
    for status in [302, 307, 308] {
        s.idp
            .then(Canned::status(status).header("location", &format!("{}/steal", elsewhere.url())));
        let e = fails_cleanly(&s, refresh(&s)).await;
        assert!(
            matches!(e, Error::Protocol(_) | Error::Service(_)),
            "{status}: {e:?}"
        );
    }
    assert!(
        elsewhere.requests().is_empty(),
        "the refresh token was sent to the other host"
    );
}

#[tokio::test]
async fn an_id_token_for_another_audience_or_issuer_is_refused() {
    let s = signed_in().await;
    let mut wrong_aud = s.idp.id_token();
    wrong_aud["aud"] = "99999999-2222-4333-8444-555555555555".into();
    let mut wrong_iss = s.idp.id_token();
    wrong_iss["iss"] = "https://evil.example/5f2c7a1e-3b9d-4c6a-8e4f-1a2b3c4d5e6f/v2.0".into();
    let mut no_iss = s.idp.id_token();
    no_iss.as_object_mut().unwrap().remove("iss");
    for claims in [&wrong_aud, &wrong_iss, &no_iss] {
        s.idp.then(reply(&s.idp.token_json_with(
            "SECRET-AT-2",
            "SECRET-RT-2",
            claims,
        )));
        let e = fails_cleanly(&s, refresh(&s)).await;
        assert!(matches!(e, Error::Protocol(_)), "{claims}: {e:?}");
    }
    // A first sign-in with such a token stores nothing either.
    let idp = Idp::start().await;
    let hooks = Arc::new(DocHooks::default());
    let app = hostile_support::app(&idp, &hooks, &Arc::new(ManualClock::at_unix(NOW)));
    let mut bad = idp.id_token();
    bad["aud"] = "someone-else".into();
    idp.then(reply(&idp.token_json_with(
        "SECRET-AT-3",
        "SECRET-RT-3",
        &bad,
    )));
    let e = app
        .acquire_token_by_username_password(SCOPES, "ada@contoso.example", Password::new("pw"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    assert_eq!(hooks.snapshot(), (Vec::new(), 0));
    assert!(app.accounts().await.unwrap().is_empty());
}

/// A browser that completes the sign-in at once: it GETs the loopback
/// redirect URI with a code and the given `state` (`None`: the one sent).
fn scripted_browser(
    state: Option<&'static str>,
) -> impl Fn(&url::Url) -> Result<(), msal::browser::BrowserError> + Send + Sync + 'static {
    move |url: &url::Url| {
        let q = |n: &str| {
            url.query_pairs()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let redirect = url::Url::parse(&q("redirect_uri")).unwrap();
        let state = state.map(str::to_owned).unwrap_or_else(|| q("state"));
        tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", redirect.port().unwrap()))
                .await
                .unwrap();
            let target = format!("{}?code=SECRET-CODE&state={state}", redirect.path());
            s.write_all(format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out).await;
        });
        Ok(())
    }
}

fn interactive_app(
    idp: &Idp,
    hooks: &Arc<DocHooks>,
    state: Option<&'static str>,
) -> PublicClientApplication {
    PublicClientApplication::builder(CLIENT_ID)
        .authority(format!("{}/{TENANT}", idp.base))
        .instance_discovery(false)
        .http_client(http_client())
        .clock(Arc::new(ManualClock::at_unix(NOW)))
        .cache_access(hooks.clone())
        .browser(scripted_browser(state))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_redirect_with_a_foreign_state_is_refused_and_never_redeemed() {
    let idp = Idp::start().await;
    let hooks = Arc::new(DocHooks::default());
    let app = interactive_app(&idp, &hooks, Some("forged-state"));
    idp.then(reply(&idp.token_json("SECRET-AT-1", "SECRET-RT-1")));
    let e = tokio::time::timeout(
        HANG,
        app.acquire_token_interactive(SCOPES)
            .timeout(Duration::from_secs(2))
            .into_future(),
    )
    .await
    .expect("hung")
    .unwrap_err();
    // The forged redirect is refused; the sign-in waits for ours until its timeout.
    assert!(matches!(e, Error::Cancelled(_)), "{e:?}");
    assert_eq!(idp.posts(), 0, "the code was redeemed anyway");
    assert_eq!(hooks.snapshot(), (Vec::new(), 0));
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    let idp = Idp::start().await;
    let hooks = Arc::new(DocHooks::default());
    let app = interactive_app(&idp, &hooks, None);
    let mut claims = idp.id_token();
    claims["nonce"] = "a-nonce-from-another-sign-in".into();
    idp.then(reply(&idp.token_json_with(
        "SECRET-AT-1",
        "SECRET-RT-1",
        &claims,
    )));
    let e = tokio::time::timeout(
        HANG,
        app.acquire_token_interactive(SCOPES)
            .timeout(Duration::from_secs(10))
            .into_future(),
    )
    .await
    .expect("hung")
    .unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    assert_eq!(idp.posts(), 1, "the code was redeemed once");
    assert_eq!(hooks.snapshot(), (Vec::new(), 0));
    // No nonce at all is refused the same way.
    claims.as_object_mut().unwrap().remove("nonce");
    idp.then(reply(&idp.token_json_with(
        "SECRET-AT-1",
        "SECRET-RT-1",
        &claims,
    )));
    let e = app.acquire_token_interactive(SCOPES).await.unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    assert!(app.accounts().await.unwrap().is_empty());
}

/// The `expires_on` the cache document holds for the only access token.
fn cached_expiry(hooks: &DocHooks) -> i64 {
    let doc: serde_json::Value = serde_json::from_slice(&hooks.snapshot().0).unwrap();
    let ats = doc["AccessToken"].as_object().unwrap();
    assert_eq!(ats.len(), 1);
    let at = ats.values().next().unwrap();
    at["expires_on"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_token_response_without_expires_in_gets_the_default_lifetime() {
    let idp = Idp::start().await;
    let hooks = Arc::new(DocHooks::default());
    let app = hostile_support::app(&idp, &hooks, &Arc::new(ManualClock::at_unix(NOW)));
    let mut body: serde_json::Value =
        serde_json::from_str(&idp.token_json("SECRET-AT-1", "SECRET-RT-1")).unwrap();
    body.as_object_mut().unwrap().remove("expires_in");
    body.as_object_mut().unwrap().remove("ext_expires_in");
    idp.then(reply(&body.to_string()));
    app.acquire_token_by_username_password(SCOPES, "ada@contoso.example", Password::new("pw"))
        .await
        .unwrap();
    assert_eq!(cached_expiry(&hooks), NOW as i64 + 600);

    // With `expires_on` (managed-identity style), that is the expiry.
    let idp = Idp::start().await;
    let hooks = Arc::new(DocHooks::default());
    let app = hostile_support::app(&idp, &hooks, &Arc::new(ManualClock::at_unix(NOW)));
    body["expires_on"] = (NOW + 1234).to_string().into();
    idp.then(reply(&body.to_string()));
    app.acquire_token_by_username_password(SCOPES, "ada@contoso.example", Password::new("pw"))
        .await
        .unwrap();
    assert_eq!(cached_expiry(&hooks), NOW as i64 + 1234);
}

#[tokio::test]
async fn absurd_lifetimes_are_clamped_not_overflowed() {
    // i64::MAX seconds, as a number and as a string, a negative lifetime and
    // an expires_on far in the past: no overflow (tests build with overflow
    // checks, so one would panic here), and the stored values stay sane.
    const TEN_YEARS: i64 = 10 * 365 * 24 * 3600;
    for (field, value, expected) in [
        (
            "expires_in",
            serde_json::json!(i64::MAX),
            NOW as i64 + TEN_YEARS,
        ),
        (
            "expires_in",
            serde_json::json!(i64::MAX.to_string()),
            NOW as i64 + TEN_YEARS,
        ),
        ("expires_in", serde_json::json!(-5), NOW as i64),
        ("refresh_in", serde_json::json!(i64::MAX), NOW as i64 + 3599),
        (
            "ext_expires_in",
            serde_json::json!(i64::MIN),
            NOW as i64 + 3599,
        ),
    ] {
        let idp = Idp::start().await;
        let hooks = Arc::new(DocHooks::default());
        let app = hostile_support::app(&idp, &hooks, &Arc::new(ManualClock::at_unix(NOW)));
        let mut body: serde_json::Value =
            serde_json::from_str(&idp.token_json("SECRET-AT-1", "SECRET-RT-1")).unwrap();
        body["expires_in"] = serde_json::json!(3599);
        body[field] = value.clone();
        idp.then(reply(&body.to_string()));
        app.acquire_token_by_username_password(SCOPES, "ada@contoso.example", Password::new("pw"))
            .await
            .unwrap();
        assert_eq!(cached_expiry(&hooks), expected, "{field} = {value}");
    }
    let idp = Idp::start().await;
    let hooks = Arc::new(DocHooks::default());
    let app = hostile_support::app(&idp, &hooks, &Arc::new(ManualClock::at_unix(NOW)));
    let mut body: serde_json::Value =
        serde_json::from_str(&idp.token_json("SECRET-AT-1", "SECRET-RT-1")).unwrap();
    body.as_object_mut().unwrap().remove("expires_in");
    body["expires_on"] = serde_json::json!(i64::MIN);
    idp.then(reply(&body.to_string()));
    app.acquire_token_by_username_password(SCOPES, "ada@contoso.example", Password::new("pw"))
        .await
        .unwrap();
    assert!(
        cached_expiry(&hooks) <= NOW as i64,
        "an expiry in the past stays expired"
    );
}

/// A manual clock that remembers every sleep it was asked for.
#[derive(Default)]
struct SleepLog {
    now: std::sync::Mutex<u64>,
    sleeps: std::sync::Mutex<Vec<Duration>>,
}

impl msal::clock::Clock for SleepLog {
    fn now(&self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + Duration::from_secs(NOW + *self.now.lock().unwrap())
    }
    fn sleep(&self, d: Duration) -> msal::http::BoxFuture<'_, ()> {
        self.sleeps.lock().unwrap().push(d);
        let mut now = self.now.lock().unwrap();
        *now = now.saturating_add(d.as_secs()).min(u64::from(u32::MAX));
        Box::pin(async {})
    }
}

#[tokio::test]
async fn a_device_code_polling_interval_beyond_its_expiry_does_not_stall_the_flow() {
    for interval in ["4000000000", "18446744073709551615"] {
        let idp = Idp::start().await;
        let hooks = Arc::new(DocHooks::default());
        let clock = Arc::new(SleepLog::default());
        let app = PublicClientApplication::builder(CLIENT_ID)
            .authority(format!("{}/{TENANT}", idp.base))
            .instance_discovery(false)
            .http_client(http_client())
            .clock(clock.clone())
            .cache_access(hooks.clone())
            .build()
            .unwrap();
        idp.then(reply(&format!(
            r#"{{"device_code":"SECRET-DC","user_code":"UC","verification_uri":"https://v","expires_in":900,"interval":{interval}}}"#
        )));
        let e = tokio::time::timeout(
            HANG,
            app.acquire_token_with_device_code(SCOPES, |_| {})
                .into_future(),
        )
        .await
        .expect("hung")
        .unwrap_err();
        assert!(matches!(e, Error::Cancelled(_)), "{e:?}");
        let longest = clock.sleeps.lock().unwrap().iter().max().copied().unwrap();
        assert!(
            longest <= Duration::from_secs(900),
            "waited {longest:?} for a code valid 900 s"
        );
        assert_eq!(hooks.snapshot(), (Vec::new(), 0));
    }
}
