//! The sign-in, consent and device login pages completed by real headless
//! Chromium (driven through chromedriver with fantoccini), redirecting to a
//! real loopback listener. Needs `chromium` and `chromedriver` (Debian
//! packages `chromium`, `chromium-driver`; scripts/test.sh installs them);
//! `CHROMIUM` / `CHROMEDRIVER` override the paths. Fails if they are
//! missing.

mod common;

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

const VERIFIER: &str = "browser-test-pkce-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
const WAIT: Duration = Duration::from_secs(30);

fn tool(env: &str, default: &str) -> String {
    let path = std::env::var(env).unwrap_or_else(|_| default.to_string());
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} not found: install Debian's chromium and chromium-driver (scripts/test.sh does) or set {env}"
    );
    path
}

struct Driver {
    process: Child,
    _profile: tempfile::TempDir,
    client: Option<Client>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

async fn chromium() -> Driver {
    let chromium = tool("CHROMIUM", "/usr/bin/chromium");
    let chromedriver = tool("CHROMEDRIVER", "/usr/bin/chromedriver");
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let process = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let mut driver = Driver {
        process,
        _profile: profile,
        client: None,
    };
    let args = vec![
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        format!("--user-data-dir={}", driver._profile.path().display()),
    ];
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"binary": chromium, "args": args}),
    );
    let url = format!("http://127.0.0.1:{port}");
    // chromedriver needs a moment to listen; retry the session for a while.
    let mut last = None;
    for _ in 0..100 {
        match ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => {
                driver.client = Some(c);
                return driver;
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not start a Chromium session: {last:?}");
}

/// A loopback "app" that receives the redirect (GET query or form_post
/// body) and hands the parameters to the test.
async fn loopback_app() -> (u16, mpsc::UnboundedReceiver<Vec<(String, String)>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let tx2 = tx.clone();
    let app = axum::Router::new().route(
        "/",
        get(move |RawQuery(q): RawQuery| {
            let tx = tx.clone();
            async move {
                let pairs = url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
                    .into_owned()
                    .collect();
                let _ = tx.send(pairs);
                "Authentication complete. You can close this window."
            }
        })
        .post(move |body: Bytes| {
            let tx = tx2.clone();
            async move {
                let pairs = url::form_urlencoded::parse(&body).into_owned().collect();
                let _ = tx.send(pairs);
                "Authentication complete (form_post)."
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, rx)
}

fn param(pairs: &[(String, String)], k: &str) -> Option<String> {
    pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

async fn sign_in(c: &Client, user: &str, password: &str) {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Id("i0116"))
        .await
        .unwrap();
    let name = c.find(Locator::Id("i0116")).await.unwrap();
    name.clear().await.unwrap();
    name.send_keys(user).await.unwrap();
    c.find(Locator::Id("i0118"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.find(Locator::Id("idSIButton9"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn accept_consent(c: &Client) {
    let accept = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("idBtn_Accept"))
        .await
        .unwrap();
    let perms = c
        .find(Locator::Id("permissions"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(perms.contains("Microsoft Graph: User.Read"), "{perms}");
    accept.click().await.unwrap();
}

fn authorize_url(
    emu: &msal_emulator::EmulatorHandle,
    redirect: &str,
    extra: &[(&str, &str)],
) -> String {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let mut params = vec![
        ("client_id", DESKTOP_APP_ID),
        ("response_type", "code"),
        ("redirect_uri", redirect),
        ("scope", "openid profile offline_access User.Read"),
        ("state", "browser-state"),
        ("nonce", "browser-nonce"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    reqwest::Url::parse_with_params(
        &format!("{}/oauth2/v2.0/authorize", emu.authority("organizations")),
        &params,
    )
    .unwrap()
    .to_string()
}

async fn redeem(
    emu: &msal_emulator::EmulatorHandle,
    code: &str,
    redirect: &str,
) -> serde_json::Value {
    let (s, tokens) = post_form(
        &token_url(emu, "organizations"),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", DESKTOP_APP_ID),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", VERIFIER),
            ("client_info", "1"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{tokens}");
    tokens
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_signs_in_consents_and_lands_on_the_loopback_redirect() {
    let emu = start().await;
    let (port, mut rx) = loopback_app().await;
    let redirect = format!("http://127.0.0.1:{port}");
    let mut driver = chromium().await;
    let c = driver.client.take().unwrap();

    // 1. Query mode: sign-in page, wrong password, right password, consent.
    c.goto(&authorize_url(&emu, &redirect, &[("login_hint", USER)]))
        .await
        .unwrap();
    let hint = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("i0116"))
        .await
        .unwrap();
    assert_eq!(hint.prop("value").await.unwrap().as_deref(), Some(USER));
    sign_in(&c, USER, "wrong password").await;
    let err = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("passwordError"))
        .await
        .unwrap();
    assert!(err.text().await.unwrap().contains("AADSTS50126"));
    sign_in(&c, USER, USER_PASSWORD).await;
    accept_consent(&c).await;
    let got = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(param(&got, "state").as_deref(), Some("browser-state"));
    let tokens = redeem(&emu, &param(&got, "code").unwrap(), &redirect).await;
    let id = verify_jwt(
        &emu,
        tokens["id_token"].as_str().unwrap(),
        DESKTOP_APP_ID,
        TENANT_ID,
    )
    .await;
    assert_eq!(id["preferred_username"], USER);
    assert_eq!(id["nonce"], "browser-nonce");
    let body = c
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("Authentication complete"),
        "the browser landed on the app: {body}"
    );

    // 2. SSO through the session cookie: no form at all.
    c.goto(&authorize_url(&emu, &redirect, &[("prompt", "none")]))
        .await
        .unwrap();
    let got = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(param(&got, "code").is_some(), "{got:?}");

    // 3. form_post with another user (prompt=login), who must consent too.
    c.goto(&authorize_url(
        &emu,
        &redirect,
        &[("prompt", "login"), ("response_mode", "form_post")],
    ))
    .await
    .unwrap();
    sign_in(&c, SECOND_USER, SECOND_USER_PASSWORD).await;
    accept_consent(&c).await;
    let got = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(param(&got, "state").as_deref(), Some("browser-state"));
    let tokens = redeem(&emu, &param(&got, "code").unwrap(), &redirect).await;
    let at = verify_jwt(
        &emu,
        tokens["access_token"].as_str().unwrap(),
        GRAPH_APP_ID,
        TENANT_ID,
    )
    .await;
    assert_eq!(at["preferred_username"], SECOND_USER);
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_completes_the_device_login_page() {
    let emu = start().await;
    let (s, dc) = post_form(
        &format!("{}/oauth2/v2.0/devicecode", emu.authority("organizations")),
        &[
            ("client_id", CLI_APP_ID),
            ("scope", "openid offline_access User.Read"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    let url = token_url(&emu, "organizations");
    let device_code = dc["device_code"].as_str().unwrap().to_string();
    let poll = || {
        let (url, device_code) = (url.clone(), device_code.clone());
        async move {
            post_form(
                &url,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("client_id", CLI_APP_ID),
                    ("device_code", device_code.as_str()),
                ],
            )
            .await
        }
    };
    assert_eq!(poll().await.1["error"], "authorization_pending");
    let mut driver = chromium().await;
    let c = driver.client.take().unwrap();
    c.goto(dc["verification_uri"].as_str().unwrap())
        .await
        .unwrap();
    let otc = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("otc"))
        .await
        .unwrap();
    otc.send_keys(dc["user_code"].as_str().unwrap())
        .await
        .unwrap();
    c.find(Locator::Id("idSIButton9"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    sign_in(&c, FABRIKAM_USER, FABRIKAM_USER_PASSWORD).await;
    let done = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("deviceDone"))
        .await
        .unwrap();
    assert!(done.text().await.unwrap().contains("You have signed in"));
    let (s, tokens) = poll().await;
    assert_eq!(s, 200, "{tokens}");
    let id = verify_jwt(
        &emu,
        tokens["id_token"].as_str().unwrap(),
        CLI_APP_ID,
        SECOND_TENANT_ID,
    )
    .await;
    assert_eq!(id["preferred_username"], FABRIKAM_USER);
    c.close().await.unwrap();
}
