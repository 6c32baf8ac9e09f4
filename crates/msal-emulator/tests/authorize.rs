//! The authorize endpoint, sign-in and consent pages, device login page
//! and logout, driven with a plain HTTP client (the same pages are driven
//! by real Chromium in browser.rs).

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use msal_emulator::EmulatorHandle;
use reqwest::Url;
use serde_json::Value;
use sha2::{Digest, Sha256};

const VERIFIER: &str = "a-very-long-pkce-code-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
const REDIRECT: &str = "http://localhost:43210";

fn challenge(v: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()))
}

fn authorize_url(emu: &EmulatorHandle, client_id: &str, extra: &[(&str, &str)]) -> String {
    let ch = challenge(VERIFIER);
    let mut params: Vec<(&str, &str)> = vec![
        ("client_id", client_id),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile offline_access User.Read"),
        ("state", "st-123"),
        ("nonce", "nonce-456"),
        ("code_challenge", &ch),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        params.retain(|(pk, _)| pk != k);
        params.push((k, v));
    }
    params.retain(|(_, v)| !v.is_empty());
    Url::parse_with_params(
        &format!("{}/oauth2/v2.0/authorize", emu.authority("organizations")),
        &params,
    )
    .unwrap()
    .to_string()
}

/// The value of `<input ... name="NAME" value="...">`.
fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].replace("&amp;", "&"))
}

fn location(r: &reqwest::Response) -> Url {
    Url::parse(r.headers()["location"].to_str().unwrap()).unwrap()
}

fn query(u: &Url, k: &str) -> Option<String> {
    u.query_pairs()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.into_owned())
}

async fn sign_in(
    c: &reqwest::Client,
    emu: &EmulatorHandle,
    page: &str,
    user: &str,
    pw: &str,
) -> reqwest::Response {
    let flow = input_value(page, "flow").expect("a sign-in form");
    c.post(format!("{}/_signin/login", emu.base_url()))
        .form(&[("flow", flow.as_str()), ("loginfmt", user), ("passwd", pw)])
        .send()
        .await
        .unwrap()
}

async fn redeem(emu: &EmulatorHandle, client_id: &str, code: &str, verifier: &str) -> (u16, Value) {
    post_form(
        &token_url(emu, "organizations"),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
            ("client_info", "1"),
        ],
    )
    .await
}

#[tokio::test]
async fn sign_in_redirects_with_a_code_that_redeems_once_with_pkce() {
    let emu = start().await;
    let c = http();
    let page = c
        .get(authorize_url(&emu, CLI_APP_ID, &[("login_hint", USER)]))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("id=\"i0116\"") && page.contains(&format!("value=\"{USER}\"")),
        "login_hint pre-fills"
    );
    let wrong = sign_in(&c, &emu, &page, USER, "nope").await;
    assert_eq!(wrong.status(), 200);
    let wrong = wrong.text().await.unwrap();
    assert!(wrong.contains("passwordError") && wrong.contains("AADSTS50126"));
    let r = sign_in(&c, &emu, &wrong, USER, USER_PASSWORD).await;
    assert_eq!(
        r.status(),
        302,
        "the CLI app is pre-consented: no consent page"
    );
    let to = location(&r);
    assert_eq!(
        format!(
            "{}://{}:{}",
            to.scheme(),
            to.host_str().unwrap(),
            to.port().unwrap()
        ),
        REDIRECT
    );
    assert_eq!(query(&to, "state").as_deref(), Some("st-123"));
    assert!(query(&to, "session_state").is_some());
    let code = query(&to, "code").unwrap();
    let (s, b) = redeem(
        &emu,
        CLI_APP_ID,
        &code,
        "wrong-verifier-wrong-verifier-wrong-verifier-000",
    )
    .await;
    assert_eq!(s, 400);
    assert_entra_error(&b, "invalid_grant", 50148);
    let (s, tokens) = redeem(&emu, CLI_APP_ID, &code, VERIFIER).await;
    assert_eq!(s, 200, "{tokens}");
    let id = verify_jwt(
        &emu,
        tokens["id_token"].as_str().unwrap(),
        CLI_APP_ID,
        TENANT_ID,
    )
    .await;
    assert_eq!(id["nonce"], "nonce-456");
    assert_eq!(id["preferred_username"], USER);
    assert_eq!(tokens["scope"], "User.Read openid profile");
    let (_, b) = redeem(&emu, CLI_APP_ID, &code, VERIFIER).await;
    assert_entra_error(&b, "invalid_grant", 54005);

    // SSO: the session cookie makes prompt=none succeed, and skips the form.
    let r = c
        .get(authorize_url(&emu, CLI_APP_ID, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(query(&location(&r), "code").is_some());
    let r = c
        .get(authorize_url(&emu, CLI_APP_ID, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "signed in already");
    // A forced interaction_required: prompt=none answers it, the form clears it.
    emu.admin()
        .require_interaction(msal_emulator::InteractionRequired::mfa(USER));
    let r = c
        .get(authorize_url(&emu, CLI_APP_ID, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query(&location(&r), "error").as_deref(),
        Some("interaction_required")
    );
    let page = c
        .get(authorize_url(&emu, CLI_APP_ID, &[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = sign_in(&c, &emu, &page, USER, USER_PASSWORD).await;
    assert!(query(&location(&r), "code").is_some());
    let r = c
        .get(authorize_url(&emu, CLI_APP_ID, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert!(
        query(&location(&r), "code").is_some(),
        "satisfied by the sign-in"
    );
    // prompt=login always shows the form; a hint for another user too.
    let r = c
        .get(authorize_url(&emu, CLI_APP_ID, &[("prompt", "login")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(authorize_url(
            &emu,
            CLI_APP_ID,
            &[("login_hint", SECOND_USER)],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Without the cookie, prompt=none is login_required.
    let r = http()
        .get(authorize_url(&emu, CLI_APP_ID, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    let to = location(&r);
    assert_eq!(query(&to, "error").as_deref(), Some("login_required"));
    assert!(
        query(&to, "error_description")
            .unwrap()
            .starts_with("AADSTS50058: ")
    );
    assert_eq!(query(&to, "state").as_deref(), Some("st-123"));
    // Logout ends the session.
    let r = c
        .get(format!("{}/oauth2/v2.0/logout?post_logout_redirect_uri=http%3A%2F%2Flocalhost%3A43210%2Fbye&state=s9", emu.authority("organizations")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r).as_str(), "http://localhost:43210/bye?state=s9");
    let r = c
        .get(authorize_url(&emu, CLI_APP_ID, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query(&location(&r), "error").as_deref(),
        Some("login_required")
    );
    let r = c
        .get(format!("{}/oauth2/v2.0/logout", emu.authority("common")))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("signedOut"));
}

#[tokio::test]
async fn consent_page_cancel_and_accept_and_form_post() {
    let emu = start().await;
    let c = http();
    let url = authorize_url(&emu, DESKTOP_APP_ID, &[("response_mode", "form_post")]);
    let page = c.get(&url).send().await.unwrap().text().await.unwrap();
    let consent = sign_in(&c, &emu, &page, USER, USER_PASSWORD).await;
    assert_eq!(consent.status(), 200);
    let consent = consent.text().await.unwrap();
    assert!(
        consent.contains("idBtn_Accept") && consent.contains("Microsoft Graph: User.Read"),
        "{consent}"
    );
    let flow = input_value(&consent, "flow").unwrap();
    let r = c
        .post(format!("{}/_signin/consent", emu.base_url()))
        .form(&[("flow", flow.as_str()), ("consent", "cancel")])
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(
        html.contains(&format!("action=\"{REDIRECT}\"")),
        "form_post targets the redirect URI"
    );
    assert_eq!(
        input_value(&html, "error").as_deref(),
        Some("access_denied")
    );
    assert!(
        input_value(&html, "error_description")
            .unwrap()
            .starts_with("AADSTS65004: ")
    );
    assert_eq!(input_value(&html, "state").as_deref(), Some("st-123"));

    // Again (signed in: straight to consent), accept this time.
    let consent = c.get(&url).send().await.unwrap().text().await.unwrap();
    let flow = input_value(&consent, "flow").expect("consent form");
    let r = c
        .post(format!("{}/_signin/consent", emu.base_url()))
        .form(&[("flow", flow.as_str()), ("consent", "accept")])
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    let code = input_value(&html, "code").expect("a code in the form_post page");
    let (s, tokens) = redeem(&emu, DESKTOP_APP_ID, &code, VERIFIER).await;
    assert_eq!(s, 200, "{tokens}");
    assert!(tokens.get("foci").is_none(), "not a family app");
    // Consent is remembered: the password grant now works for this app too.
    let (s, _) = post_form(
        &token_url(&emu, TENANT_ID),
        &[
            ("grant_type", "password"),
            ("client_id", DESKTOP_APP_ID),
            ("username", USER),
            ("password", USER_PASSWORD),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    // prompt=consent asks again even so.
    let r = c
        .get(authorize_url(
            &emu,
            DESKTOP_APP_ID,
            &[("prompt", "consent")],
        ))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("idBtn_Accept"));
}

#[tokio::test]
async fn request_errors_go_to_a_page_or_to_the_redirect_uri() {
    let emu = start().await;
    let c = http();
    let r = c
        .get(authorize_url(
            &emu,
            "00000000-0000-4000-8000-000000000000",
            &[],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS700016"));
    let r = c
        .get(authorize_url(
            &emu,
            CLI_APP_ID,
            &[("redirect_uri", "https://evil.example/cb")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS50011"));
    let r = c
        .get(authorize_url(
            &emu,
            CLI_APP_ID,
            &[("code_challenge", ""), ("code_challenge_method", "")],
        ))
        .send()
        .await
        .unwrap();
    let to = location(&r);
    assert_eq!(
        query(&to, "error").as_deref(),
        Some("invalid_request"),
        "public clients need PKCE"
    );
    assert!(
        query(&to, "error_description")
            .unwrap()
            .starts_with("AADSTS9002325: ")
    );
    let r = c
        .get(authorize_url(
            &emu,
            CLI_APP_ID,
            &[("code_challenge_method", "plain")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query(&location(&r), "error").as_deref(),
        Some("invalid_request")
    );
    let r = c
        .get(authorize_url(
            &emu,
            CLI_APP_ID,
            &[("scope", "openid Nope.Read")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query(&location(&r), "error").as_deref(),
        Some("invalid_scope")
    );
    let r = c
        .get(authorize_url(
            &emu,
            CLI_APP_ID,
            &[("response_type", "token")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query(&location(&r), "error").as_deref(),
        Some("unsupported_response_type")
    );
    let r = c
        .get(authorize_url(
            &emu,
            CLI_APP_ID,
            &[("response_mode", "fragment"), ("response_type", "token")],
        ))
        .send()
        .await
        .unwrap();
    let frag = location(&r).fragment().unwrap().to_string();
    assert!(frag.contains("error=unsupported_response_type"), "{frag}");
    let r = c
        .get(format!(
            "{}/oauth2/v2.0/authorize?client_id=%ZZ&&&=",
            emu.authority("common")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .post(format!("{}/_signin/login", emu.base_url()))
        .form(&[("flow", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn confidential_web_app_needs_its_secret_to_redeem() {
    let emu = start().await;
    let c = http();
    let url = Url::parse_with_params(
        &format!("{}/oauth2/v2.0/authorize", emu.authority(TENANT_ID)),
        &[
            ("client_id", WEB_APP_ID),
            ("response_type", "code"),
            ("redirect_uri", "http://localhost/callback"),
            ("scope", "openid User.Read"),
        ],
    )
    .unwrap();
    let page = c.get(url).send().await.unwrap().text().await.unwrap();
    let r = sign_in(&c, &emu, &page, SECOND_USER, SECOND_USER_PASSWORD).await;
    let code = query(&location(&r), "code").unwrap();
    let form = |secret: &'static str| {
        vec![
            ("grant_type", "authorization_code"),
            ("client_id", WEB_APP_ID),
            ("code", code.as_str()),
            ("redirect_uri", "http://localhost/callback"),
            ("client_secret", secret),
        ]
    };
    let mut no_secret = form("");
    no_secret.pop();
    let (s, b) = post_form(&token_url(&emu, TENANT_ID), &no_secret).await;
    assert_eq!(s, 401);
    assert_entra_error(&b, "invalid_client", 7000218);
    let (s, tokens) = post_form(&token_url(&emu, TENANT_ID), &form(WEB_APP_SECRET)).await;
    assert_eq!(s, 200, "{tokens}");
    let at = verify_jwt(
        &emu,
        tokens["access_token"].as_str().unwrap(),
        GRAPH_APP_ID,
        TENANT_ID,
    )
    .await;
    assert_eq!(at["azpacr"], "1");
    assert_eq!(at["preferred_username"], SECOND_USER);
}

#[tokio::test]
async fn device_login_page_signs_the_user_in() {
    let emu = start().await;
    let c = http();
    let (_, dc) = post_form(
        &format!("{}/oauth2/v2.0/devicecode", emu.authority("organizations")),
        &[
            ("client_id", CLI_APP_ID),
            ("scope", "openid offline_access User.Read"),
        ],
    )
    .await;
    let page = c
        .get(dc["verification_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"otc\""));
    let r = c
        .post(format!("{}/devicelogin", emu.base_url()))
        .form(&[("otc", "WRONGCODE")])
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("That code didn"));
    let code = dc["user_code"].as_str().unwrap();
    let typed = format!("{}-{}", &code[..4].to_lowercase(), &code[4..]);
    let page = c
        .post(format!("{}/devicelogin", emu.base_url()))
        .form(&[("otc", typed.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let done = sign_in(&c, &emu, &page, FABRIKAM_USER, FABRIKAM_USER_PASSWORD)
        .await
        .text()
        .await
        .unwrap();
    assert!(done.contains("deviceDone"), "{done}");
    let (s, tokens) = post_form(
        &token_url(&emu, "organizations"),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", CLI_APP_ID),
            ("device_code", dc["device_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(s, 200, "{tokens}");
    verify_jwt(
        &emu,
        tokens["id_token"].as_str().unwrap(),
        CLI_APP_ID,
        SECOND_TENANT_ID,
    )
    .await;

    // Declining consent on the page denies the device code.
    let (_, dc) = post_form(
        &format!("{}/oauth2/v2.0/devicecode", emu.authority(TENANT_ID)),
        &[("client_id", DESKTOP_APP_ID), ("scope", "User.Read")],
    )
    .await;
    let page = c
        .post(format!("{}/devicelogin", emu.base_url()))
        .form(&[("otc", dc["user_code"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let consent = sign_in(&c, &emu, &page, USER, USER_PASSWORD)
        .await
        .text()
        .await
        .unwrap();
    let flow = input_value(&consent, "flow").unwrap();
    c.post(format!("{}/_signin/consent", emu.base_url()))
        .form(&[("flow", flow.as_str()), ("consent", "cancel")])
        .send()
        .await
        .unwrap();
    let (_, b) = post_form(
        &token_url(&emu, TENANT_ID),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", DESKTOP_APP_ID),
            ("device_code", dc["device_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_entra_error(&b, "access_denied", 65004);
}
