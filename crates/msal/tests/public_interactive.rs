//! Interactive flow with a scripted browser: PKCE, state, nonce, the
//! loopback redirect, errors, timeout and cancellation.

mod public_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use msal::browser::BrowserError;
use msal::protocol::authorize::Prompt;
use msal::{Error, PublicClientApplication};
use msal_test_support::{Expect, FakeHttp, Reply};
use public_support::*;
use url::Url;

/// What the scripted browser does once it has the authorization URL.
#[derive(Clone, Copy)]
enum Idp {
    /// Signs in: queues the code redemption (ID token with `nonce`) and redirects with the code.
    SignIn { echo_nonce: bool },
    /// A local process hits the redirect listener with a state that is not
    /// ours, then the real sign-in completes.
    WrongStateFirst,
    /// Redirects with `error=access_denied`.
    Declined,
    /// Never comes back.
    Silent,
}

struct Run {
    app: PublicClientApplication,
    http: Arc<FakeHttp>,
    seen_url: Arc<Mutex<Option<Url>>>,
    page: Arc<Mutex<Option<tokio::task::JoinHandle<String>>>>,
}

fn run(idp: Idp) -> Run {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    let http = s.http.clone();
    let tenant = s.tenant.clone();
    let seen_url = Arc::new(Mutex::new(None));
    let page = Arc::new(Mutex::new(None));
    let (seen, pg) = (seen_url.clone(), page.clone());
    let app = PublicClientApplication::builder(CLIENT_ID)
        .authority(format!("{HOST}/{tenant}"))
        .http_client(s.http.clone())
        .clock(s.clock.clone())
        .browser(move |url: &Url| -> Result<(), BrowserError> {
            *seen.lock().unwrap() = Some(url.clone());
            let redirect = query(url, "redirect_uri").unwrap();
            let state = query(url, "state").unwrap();
            let nonce = query(url, "nonce").unwrap();
            let target = match idp {
                Idp::SignIn { .. } | Idp::WrongStateFirst => {
                    let echo_nonce = !matches!(idp, Idp::SignIn { echo_nonce: false });
                    let n = if echo_nonce { nonce } else { "someone-elses-nonce".to_owned() };
                    http.expect(
                        Expect::post(&token_url(&tenant))
                            .form("grant_type", "authorization_code")
                            .form("code", "SECRET-AUTH-CODE")
                            .form("redirect_uri", &redirect)
                            .form("client_info", "1")
                            .form("scope", "User.Read offline_access openid profile"),
                        Reply::json(200, &token_json("AT-I", "RT-I", &tenant, 3600, Some(&n))),
                    );
                    format!("{redirect}?code=SECRET-AUTH-CODE&state={state}&session_state=x")
                }
                Idp::Declined => format!("{redirect}?error=access_denied&error_description=the+user+said+no&state={state}"),
                Idp::Silent => return Ok(()),
            };
            let forged = matches!(idp, Idp::WrongStateFirst)
                .then(|| format!("{redirect}?code=FORGED-CODE&state=forged"));
            *pg.lock().unwrap() = Some(tokio::spawn(async move {
                let mut pages = String::new();
                if let Some(forged) = forged {
                    pages = raw_get(&forged).await;
                }
                pages + &raw_get(&target).await
            }));
            Ok(())
        })
        .build()
        .unwrap();
    Run {
        app,
        http: s.http,
        seen_url,
        page,
    }
}

#[tokio::test]
async fn signs_in_with_pkce_state_and_nonce() {
    let r = run(Idp::SignIn { echo_nonce: true });
    let token = r
        .app
        .acquire_token_interactive(&["User.Read"])
        .login_hint("ada@contoso.example")
        .domain_hint("organizations")
        .prompt(Prompt::SelectAccount)
        .await
        .unwrap();
    assert_eq!(token.access_token().expose_secret(), "AT-I");
    assert_eq!(
        token
            .id_token_claims()
            .unwrap()
            .get_str("preferred_username"),
        Some("ada@contoso.example")
    );

    let url = r.seen_url.lock().unwrap().clone().unwrap();
    assert!(url.as_str().starts_with(&format!("{HOST}/")));
    assert_eq!(query(&url, "response_type").as_deref(), Some("code"));
    assert_eq!(
        query(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query(&url, "login_hint").as_deref(),
        Some("ada@contoso.example")
    );
    assert_eq!(query(&url, "domain_hint").as_deref(), Some("organizations"));
    assert_eq!(query(&url, "prompt").as_deref(), Some("select_account"));
    assert!(
        query(&url, "redirect_uri")
            .unwrap()
            .starts_with("http://localhost:")
    );
    assert!(query(&url, "state").unwrap().len() >= 32);
    // The verifier redeemed matches the challenge sent.
    let redeem = r.http.requests().into_iter().last().unwrap();
    let verifier = redeem.form_value("code_verifier").unwrap();
    assert_eq!(
        msal::pkce::challenge_of(&verifier),
        query(&url, "code_challenge").unwrap()
    );
    assert!(!url.as_str().contains(&verifier));
    let handle = r.page.lock().unwrap().take().unwrap();
    let page = handle.await.unwrap();
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("Authentication complete"),
        "{page}"
    );
    r.http.assert_consumed();
}

#[tokio::test]
async fn an_id_token_for_another_nonce_is_rejected() {
    let r = run(Idp::SignIn { echo_nonce: false });
    let e = r
        .app
        .acquire_token_interactive(&["User.Read"])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Protocol(p) if p.message.contains("nonce")),
        "{e:?}"
    );
    assert!(
        r.app.accounts().await.unwrap().is_empty(),
        "nothing cached from a rejected response"
    );
}

#[tokio::test]
async fn a_forged_state_is_refused_and_does_not_end_the_sign_in() {
    let r = run(Idp::WrongStateFirst);
    let token = r
        .app
        .acquire_token_interactive(&["User.Read"])
        .await
        .unwrap();
    assert_eq!(token.access_token().expose_secret(), "AT-I");
    let handle = r.page.lock().unwrap().take().unwrap();
    let pages = handle.await.unwrap();
    assert!(
        pages.starts_with("HTTP/1.1 400") && pages.contains("does not belong to this sign-in"),
        "{pages}"
    );
    assert!(pages.contains("Authentication complete"), "{pages}");
    // Only the real code was redeemed: metadata, then one redemption.
    assert_eq!(r.http.request_count(), 2);
    assert!(
        r.http
            .requests()
            .iter()
            .all(|q| q.form_value("code").as_deref() != Some("FORGED-CODE"))
    );
    r.http.assert_consumed();
}

#[tokio::test]
async fn the_user_declining_is_a_cancellation() {
    let r = run(Idp::Declined);
    let e = r
        .app
        .acquire_token_interactive(&["User.Read"])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled(_)), "{e:?}");
}

#[tokio::test(start_paused = true)]
async fn no_answer_times_out() {
    let r = run(Idp::Silent);
    let e = r
        .app
        .acquire_token_interactive(&["User.Read"])
        .timeout(Duration::from_secs(120))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Cancelled(m) if m.contains("120")),
        "{e:?}"
    );
}

#[tokio::test]
async fn cancel_signal_stops_waiting() {
    let r = run(Idp::Silent);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let call = r
        .app
        .acquire_token_interactive(&["User.Read"])
        .cancel_on(async move {
            let _ = rx.await;
        });
    let task = tokio::spawn(call.into_future());
    tokio::task::yield_now().await;
    tx.send(()).unwrap();
    let e = task.await.unwrap().unwrap_err();
    assert!(matches!(e, Error::Cancelled(_)), "{e:?}");
}

#[tokio::test]
async fn a_browser_that_cannot_open_is_a_config_error() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    let e = s
        .app
        .acquire_token_interactive(&["User.Read"])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Config(c) if c.message.contains("browser")),
        "{e:?}"
    );
}

#[tokio::test]
async fn redirect_uri_must_be_loopback_http() {
    let s = setup();
    expect_metadata(&s.http, &s.tenant);
    let e = s
        .app
        .acquire_token_interactive(&["User.Read"])
        .redirect_uri("https://app.example/cb")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
}

use std::future::IntoFuture;
