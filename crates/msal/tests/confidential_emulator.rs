//! End to end against msal-emulator (real sockets, real signed JWTs):
//! client credentials with a secret and with a certificate the emulator
//! verifies, on-behalf-of with a user token the emulator issued (cache,
//! then refresh with the OBO refresh token), and a web app's auth code
//! sign-in driven through the emulator's sign-in page.
// The password grant is deprecated; this still exercises it.
#![allow(deprecated)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal::clock::ManualClock;
use msal::credentials::{Certificate, ClientCredential, SigningAlgorithm};
use msal::secret::{Assertion, AuthorizationCode, ClientSecret, Password};
use msal::{ConfidentialClientApplication, Error, PublicClientApplication, TokenSource};
use msal_emulator::defaults::*;
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Endpoint};
use serde_json::Value;

const KEY: &str = include_str!("fixtures/confidential/app.key");
const CERT: &str = include_str!("fixtures/confidential/app.pem");
const WEB_API_DEFAULT: &str = "api://msal-emulator-web-api/.default";

async fn emulator() -> EmulatorHandle {
    Emulator::start(EmulatorConfig::default()).await.unwrap()
}

fn claims(jwt: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

fn app(
    emu: &EmulatorHandle,
    client_id: &str,
    credential: ClientCredential,
) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(client_id, credential)
        .authority(emu.authority(TENANT_ID))
        .build()
        .unwrap()
}

fn token_count(emu: &EmulatorHandle) -> u64 {
    emu.admin().request_count(Endpoint::Token)
}

#[tokio::test]
async fn client_credentials_with_a_secret_then_from_the_cache() {
    let emu = emulator().await;
    let daemon = app(
        &emu,
        DAEMON_APP_ID,
        ClientCredential::secret(ClientSecret::new(DAEMON_SECRET)),
    );
    let r = daemon
        .acquire_token_for_client(&[WEB_API_DEFAULT])
        .await
        .unwrap();
    let c = claims(r.access_token().expose_secret());
    assert_eq!(c["aud"], WEB_API_APP_ID);
    assert_eq!(c["tid"], TENANT_ID);
    assert_eq!(c["idtyp"], "app");
    assert_eq!(c["roles"], serde_json::json!(["Data.Read.All"]));
    assert_eq!(r.tenant_id(), Some(TENANT_ID));
    let hit = daemon
        .acquire_token_for_client(&[WEB_API_DEFAULT])
        .await
        .unwrap();
    assert_eq!(hit.source(), TokenSource::Cache);
    assert_eq!(
        hit.access_token().expose_secret(),
        r.access_token().expose_secret()
    );
    assert_eq!(token_count(&emu), 1);
    // The same daemon in the second tenant: its own request and token.
    let other = daemon
        .acquire_token_for_client(&[WEB_API_DEFAULT])
        .tenant(SECOND_TENANT_ID)
        .await
        .unwrap();
    assert_eq!(
        claims(other.access_token().expose_secret())["tid"],
        SECOND_TENANT_ID
    );
    assert_eq!(token_count(&emu), 2);

    let wrong = app(
        &emu,
        DAEMON_APP_ID,
        ClientCredential::secret(ClientSecret::new("wrong")),
    );
    match wrong
        .acquire_token_for_client(&[WEB_API_DEFAULT])
        .await
        .unwrap_err()
    {
        Error::Service(s) => {
            assert_eq!((s.error.as_str(), s.status), ("invalid_client", Some(401)))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn client_credentials_with_a_certificate_the_emulator_verifies() {
    let emu = emulator().await;
    let unregistered = app(
        &emu,
        DAEMON_APP_ID,
        ClientCredential::certificate(Certificate::from_pem(KEY, CERT).unwrap()),
    );
    let e = unregistered
        .acquire_token_for_client(&[WEB_API_DEFAULT])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Service(s) if s.error == "invalid_client"),
        "{e:?}"
    );
    emu.admin()
        .register_certificate(DAEMON_APP_ID, CERT)
        .unwrap();
    for cert in [
        Certificate::from_pem(KEY, CERT).unwrap(),
        Certificate::from_pem(KEY, CERT)
            .unwrap()
            .with_x5c(true)
            .with_algorithm(SigningAlgorithm::Rs256),
    ] {
        let daemon = app(&emu, DAEMON_APP_ID, ClientCredential::certificate(cert));
        let r = daemon
            .acquire_token_for_client(&[WEB_API_DEFAULT])
            .await
            .unwrap();
        assert_eq!(
            claims(r.access_token().expose_secret())["azpacr"],
            "2",
            "certificate authentication"
        );
    }
}

/// A user token for the web API, from the public CLI app (password grant).
async fn user_token_for_web_api(emu: &EmulatorHandle, user: &str, password: &str) -> String {
    let cli = PublicClientApplication::builder(CLI_APP_ID)
        .authority(emu.authority(TENANT_ID))
        .build()
        .unwrap();
    let r = cli
        .acquire_token_by_username_password(
            &["api://msal-emulator-web-api/access_as_user"],
            user,
            Password::new(password),
        )
        .await
        .unwrap();
    r.access_token().expose_secret().to_owned()
}

#[tokio::test]
async fn on_behalf_of_cached_per_assertion_then_refreshed_with_its_refresh_token() {
    let emu = emulator().await;
    let ada = user_token_for_web_api(&emu, USER, USER_PASSWORD).await;
    let bob = user_token_for_web_api(&emu, SECOND_USER, SECOND_USER_PASSWORD).await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let clock = Arc::new(ManualClock::at_unix(now));
    let api = ConfidentialClientApplication::builder(
        WEB_API_APP_ID,
        ClientCredential::secret(ClientSecret::new(WEB_API_SECRET)),
    )
    .authority(emu.authority(TENANT_ID))
    .clock(clock.clone())
    .build()
    .unwrap();
    let before = token_count(&emu);
    let r = api
        .acquire_token_on_behalf_of(&["User.Read"], Assertion::new(ada.clone()))
        .await
        .unwrap();
    let c = claims(r.access_token().expose_secret());
    assert_eq!(
        (c["aud"].as_str(), c["oid"].as_str()),
        (Some(GRAPH_APP_ID), Some(USER_OBJECT_ID))
    );
    assert!(
        c["scp"]
            .as_str()
            .unwrap()
            .split(' ')
            .any(|s| s == "User.Read")
    );
    assert_eq!(r.account().unwrap().username(), USER);
    let hit = api
        .acquire_token_on_behalf_of(&["User.Read"], Assertion::new(ada.clone()))
        .await
        .unwrap();
    assert_eq!(hit.source(), TokenSource::Cache);
    let b = api
        .acquire_token_on_behalf_of(&["User.Read"], Assertion::new(bob))
        .await
        .unwrap();
    assert_eq!(
        claims(b.access_token().expose_secret())["oid"],
        SECOND_USER_OBJECT_ID
    );
    assert_eq!(token_count(&emu) - before, 2);
    assert_eq!(
        emu.admin()
            .token_requests_with_grant("urn:ietf:params:oauth:grant-type:jwt-bearer"),
        2
    );

    // An hour later Ada's downstream token has expired: her OBO refresh token renews it.
    clock.advance(Duration::from_secs(3600));
    emu.admin().advance_clock(Duration::from_secs(3600));
    let r2 = api
        .acquire_token_on_behalf_of(&["User.Read"], Assertion::new(ada))
        .await
        .unwrap();
    assert_eq!(r2.source(), TokenSource::IdentityProvider);
    assert_eq!(
        claims(r2.access_token().expose_secret())["oid"],
        USER_OBJECT_ID
    );
    assert_eq!(emu.admin().token_requests_with_grant("refresh_token"), 1);
}

fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].replace("&amp;", "&"))
}

#[tokio::test]
async fn web_app_sign_in_with_the_authorization_code_then_silent() {
    let emu = emulator().await;
    let web = app(
        &emu,
        WEB_APP_ID,
        ClientCredential::secret(ClientSecret::new(WEB_APP_SECRET)),
    );
    let redirect = "http://localhost/callback";
    let session = web
        .authorization_request_url(&["User.Read"], redirect)
        .login_hint(USER)
        .await
        .unwrap();
    // The browser's part, with a client that does not follow redirects.
    let http = msal::transport::default_http_client().unwrap();
    let page = http
        .execute(
            http::Request::get(session.url.as_str())
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let page = String::from_utf8(page.into_body()).unwrap();
    let flow = input_value(&page, "flow").expect("the sign-in form");
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("flow", flow.as_str()),
            ("loginfmt", USER),
            ("passwd", USER_PASSWORD),
        ])
        .finish();
    let done = http
        .execute(
            http::Request::post(format!("{}/_signin/login", emu.base_url()))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.into_bytes())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(done.status(), 302);
    let to = url::Url::parse(done.headers()["location"].to_str().unwrap()).unwrap();
    let q = |k: &str| {
        to.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(q("state"), Some(session.state.clone()));
    let code = q("code").unwrap();

    let r = web
        .acquire_token_by_authorization_code(&["User.Read"], AuthorizationCode::new(code), redirect)
        .pkce_verifier(session.pkce_verifier)
        .nonce(session.nonce)
        .await
        .unwrap();
    let account = r.account().unwrap().clone();
    assert_eq!(account.username(), USER);
    assert_eq!(
        claims(r.access_token().expose_secret())["aud"],
        GRAPH_APP_ID
    );
    let found = web
        .account(account.home_account_id())
        .await
        .unwrap()
        .unwrap();
    let hit = web
        .acquire_token_silent(&["User.Read"], &found)
        .await
        .unwrap();
    assert_eq!(hit.source(), TokenSource::Cache);
    let refreshed = web
        .acquire_token_silent(&["User.Read"], &found)
        .force_refresh(true)
        .await
        .unwrap();
    assert_eq!(refreshed.source(), TokenSource::IdentityProvider);
    assert_eq!(emu.admin().token_requests_with_grant("refresh_token"), 1);
}
