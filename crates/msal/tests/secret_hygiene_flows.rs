//! Every flow against msal-emulator with tracing at TRACE (msal's logs and
//! those of reqwest, hyper and rustls): no secret that crossed the wire
//! appears in the log or in the `Debug` of anything the app handed out.
//!
//! "Every secret" is collected, not listed by hand: the app's HTTP client is
//! wrapped in a tap that records each secret-bearing form field it sends
//! (password, client_secret, client_assertion, OBO assertion, refresh token,
//! authorization code, PKCE verifier, device code), each credential header
//! (client_secret_basic, managed identity secret headers, the Azure Arc key)
//! and each token it receives (access, refresh, ID). Personal data (user
//! names, object ids, display names, account ids) stays out of the log too,
//! unless the app turned on `enable_pii_logging`.
//!
//! The emulator and the scripted "browser" run on threads of their own, so
//! the capture holds only what the app under test logged.
// The password grant is deprecated; this still exercises it.
#![allow(deprecated)]
#![cfg(feature = "reqwest")]

use std::collections::BTreeSet;
use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use msal::clock::ManualClock;
use msal::credentials::{Certificate, ClientCredential};
use msal::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse, TransportError};
use msal::managed_identity::{Environment, ManagedIdentity, ManagedIdentityApplication};
use msal::secret::{Assertion, ClientSecret, Password, RefreshTokenSecret};
use msal::transport::ReqwestHttpClient;
use msal::{ConfidentialClientApplication, PublicClientApplication};
use msal_emulator::managed_identity::Host;
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, defaults::*};
use msal_test_support::LogCapture;

const KEY: &str = include_str!("fixtures/confidential/app.key");
const CERT: &str = include_str!("fixtures/confidential/app.pem");
const WEB_API_DEFAULT: &str = "api://msal-emulator-web-api/.default";
const SCOPES: &[&str] = &["User.Read"];

/// Form fields and headers whose values are secrets.
const SECRET_FIELDS: &[&str] = &[
    "password",
    "client_secret",
    "client_assertion",
    "assertion",
    "refresh_token",
    "code",
    "code_verifier",
    "device_code",
];
const SECRET_HEADERS: &[&str] = &["authorization", "x-identity-header", "secret"];
const RESPONSE_TOKENS: &[&str] = &["access_token", "refresh_token", "id_token", "device_code"];

/// The app's HTTP client, recording every secret that goes through it.
struct Tap {
    inner: ReqwestHttpClient,
    secrets: Arc<Mutex<BTreeSet<String>>>,
    last_refresh_token: Arc<Mutex<Option<String>>>,
}

impl Tap {
    fn record(&self, v: &str) {
        // Short values ("1", "Bearer") are not secrets and would match anywhere.
        if v.len() >= 8 {
            self.secrets.lock().unwrap().insert(v.to_owned());
        }
    }
}

impl HttpClient for Tap {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        for (k, v) in url::form_urlencoded::parse(request.body()) {
            if SECRET_FIELDS.contains(&k.as_ref()) {
                self.record(&v);
            }
        }
        for (name, value) in request.headers() {
            if SECRET_HEADERS.contains(&name.as_str()) {
                let v = value.to_str().unwrap_or_default();
                self.record(v);
                if let Some((_, cred)) = v.split_once(' ') {
                    self.record(cred);
                    // client_secret_basic: base64("id:secret").
                    if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(cred)
                        && let Some((_, s)) = String::from_utf8_lossy(&raw).split_once(':')
                    {
                        self.record(s);
                    }
                }
            }
        }
        Box::pin(async move {
            let response = self.inner.execute(request).await?;
            if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice(response.body()) {
                for k in RESPONSE_TOKENS {
                    if let Some(v) = m.get(*k).and_then(|v| v.as_str()) {
                        self.record(v);
                    }
                }
                if let Some(rt) = m.get("refresh_token").and_then(|v| v.as_str()) {
                    *self.last_refresh_token.lock().unwrap() = Some(rt.to_owned());
                }
            }
            Ok(response)
        })
    }
}

/// The log capture, the tapped secrets and the collected Debug output of one test.
struct Watch {
    logs: LogCapture,
    secrets: Arc<Mutex<BTreeSet<String>>>,
    last_refresh_token: Arc<Mutex<Option<String>>>,
    debug: String,
}

impl Watch {
    fn new() -> Self {
        Self {
            logs: LogCapture::new(),
            secrets: Arc::default(),
            last_refresh_token: Arc::default(),
            debug: String::new(),
        }
    }

    fn tap(&self) -> Arc<Tap> {
        Arc::new(Tap {
            inner: ReqwestHttpClient::builder().build().unwrap(),
            secrets: self.secrets.clone(),
            last_refresh_token: self.last_refresh_token.clone(),
        })
    }

    fn secret(&self, s: &str) {
        self.secrets.lock().unwrap().insert(s.to_owned());
    }

    fn show(&mut self, v: &impl std::fmt::Debug) {
        self.debug.push_str(&format!("{v:?}\n"));
    }

    /// No secret (nor a long piece of a JWT) in the log or the Debug output;
    /// none of `pii` in the log.
    fn check(&self, at_least: usize, pii: &[&str]) {
        let log = self.logs.contents();
        assert!(
            log.contains("TRACE") && log.contains("DEBUG"),
            "the capture works at TRACE: {}",
            &log[..log.len().min(2000)]
        );
        let secrets = self.secrets.lock().unwrap();
        assert!(
            secrets.len() >= at_least,
            "only {} secrets were seen on the wire",
            secrets.len()
        );
        for s in secrets.iter() {
            let parts = s.split('.').filter(|p| p.len() >= 16);
            for piece in std::iter::once(s.as_str()).chain(parts) {
                assert!(
                    !log.contains(piece),
                    "a secret ({}…) is in the TRACE log",
                    &piece[..6]
                );
                assert!(
                    !self.debug.contains(piece),
                    "a secret ({}…) is in Debug output",
                    &piece[..6]
                );
            }
        }
        for p in pii {
            assert!(
                !log.contains(p),
                "personal data ({p}) in the log without opt-in"
            );
        }
    }
}

use msal_test_support::jwt::unix_now as now;

/// The emulator on a runtime of its own (its threads log elsewhere).
struct Emu {
    handle: EmulatorHandle,
    _rt: tokio::runtime::Runtime,
}

fn emulator() -> Emu {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let handle = rt
        .block_on(Emulator::start(EmulatorConfig::default()))
        .unwrap();
    Emu { handle, _rt: rt }
}

/// The code under test: a current-thread runtime, so its logs are captured.
fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The value of `<input ... name="NAME" value="...">` in the emulator's pages.
fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].replace("&amp;", "&"))
}

/// A browser that signs the user in with plain HTTP requests on a thread of
/// its own: the authorize page, the sign-in form, the consent page if one
/// comes, then the redirect back to the app's loopback listener.
fn scripted_browser(
    base: String,
    user: &'static str,
    password: &'static str,
) -> impl Fn(&url::Url) -> Result<(), msal::browser::BrowserError> + Send + Sync + 'static {
    move |url: &url::Url| {
        let (url, base) = (url.clone(), base.clone());
        std::thread::spawn(move || {
            run(async move {
                let http = ReqwestHttpClient::builder().build().unwrap();
                let get = |u: String| http::Request::get(u).body(Vec::new()).unwrap();
                let post = |u: String, form: &[(&str, &str)]| {
                    let body = url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(form)
                        .finish();
                    http::Request::post(u)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body.into_bytes())
                        .unwrap()
                };
                let page = http.execute(get(url.to_string())).await.unwrap();
                let page = String::from_utf8(page.into_body()).unwrap();
                let flow = input_value(&page, "flow").expect("the sign-in form");
                let mut r = http
                    .execute(post(
                        format!("{base}/_signin/login"),
                        &[("flow", &flow), ("loginfmt", user), ("passwd", password)],
                    ))
                    .await
                    .unwrap();
                let is_form_post = |r: &http::Response<Vec<u8>>| {
                    r.status() == 200 && String::from_utf8_lossy(r.body()).contains("hiddenform")
                };
                if r.status() == 200 && !is_form_post(&r) {
                    let consent = String::from_utf8(r.body().clone()).unwrap();
                    let flow = input_value(&consent, "flow").expect("the consent form");
                    r = http
                        .execute(post(
                            format!("{base}/_signin/consent"),
                            &[("flow", &flow), ("consent", "accept")],
                        ))
                        .await
                        .unwrap();
                }
                // response_mode=form_post: the page's form goes to the loopback listener.
                assert!(is_form_post(&r), "the sign-in ends in a form_post page");
                let page = String::from_utf8(r.body().clone()).unwrap();
                let at = page.find("action=\"").unwrap() + 8;
                let action = page[at..at + page[at..].find('"').unwrap()].replace("&amp;", "&");
                let fields: Vec<(&str, String)> = ["code", "state", "client_info", "session_state"]
                    .into_iter()
                    .filter_map(|k| input_value(&page, k).map(|v| (k, v)))
                    .collect();
                let fields: Vec<(&str, &str)> =
                    fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                http.execute(post(action, &fields)).await.unwrap();
            })
        });
        Ok(())
    }
}

/// The personal data of the default user that may not be logged.
fn ada_pii(home_account_id: &str) -> Vec<String> {
    vec![
        USER.to_owned(),
        USER_OBJECT_ID.to_owned(),
        USER_DISPLAY_NAME.to_owned(),
        home_account_id.to_owned(),
    ]
}

#[test]
fn public_client_flows_leak_no_secret_or_personal_data() {
    let emu = emulator();
    let mut w = Watch::new();
    let _guard = w.logs.set_default();
    let emu_h = &emu.handle;
    let clock = Arc::new(ManualClock::at_unix(now()));
    let app = PublicClientApplication::builder(CLI_APP_ID)
        .authority(emu_h.authority(TENANT_ID))
        .http_client(w.tap())
        .clock(clock.clone())
        .browser(scripted_browser(
            emu_h.base_url().to_owned(),
            USER,
            USER_PASSWORD,
        ))
        .build()
        .unwrap();
    w.secret(USER_PASSWORD);
    let admin = emu_h.admin();
    let account = run(async {
        // Interactive: auth code + PKCE through the loopback redirect.
        let request = app
            .acquire_token_interactive(SCOPES)
            .timeout(Duration::from_secs(30));
        w.show(&request);
        let r = request.await.unwrap();
        w.show(&r);
        let account = r.account().unwrap().clone();
        // Silent from the cache, then forced through the refresh token.
        w.show(&app.acquire_token_silent(SCOPES, &account).await.unwrap());
        let request = app
            .acquire_token_silent(SCOPES, &account)
            .force_refresh(true);
        w.show(&request);
        w.show(&request.await.unwrap());
        // Username/password.
        let request =
            app.acquire_token_by_username_password(SCOPES, USER, Password::new(USER_PASSWORD));
        w.show(&request);
        let r = request.await.unwrap();
        w.show(&r);
        // A refresh token from elsewhere (migration): the one just received.
        let rt = w
            .last_refresh_token
            .lock()
            .unwrap()
            .clone()
            .expect("a refresh token was received");
        let request = app.acquire_token_by_refresh_token(SCOPES, RefreshTokenSecret::new(rt));
        w.show(&request);
        w.show(&request.await.unwrap());
        // Device code, approved by the admin API as the user would.
        let request = app.acquire_token_with_device_code(SCOPES, move |i| {
            admin.approve_device_code(&i.user_code, USER).unwrap();
        });
        w.show(&request);
        w.show(&request.await.unwrap());
        // A refused refresh (revoked): its error.
        assert!(emu_h.admin().revoke_refresh_tokens(USER).unwrap() > 0);
        clock.advance(Duration::from_secs(7200));
        let e = app
            .acquire_token_silent(SCOPES, &account)
            .await
            .unwrap_err();
        w.show(&e);
        w.show(&app);
        w.show(&app.accounts().await.unwrap());
        app.remove_account(&account).await.unwrap();
        account
    });
    let pii = ada_pii(account.home_account_id());
    w.check(10, &pii.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn personal_data_is_logged_only_with_the_opt_in() {
    let emu = emulator();
    let w = Watch::new();
    let _guard = w.logs.set_default();
    let app = PublicClientApplication::builder(CLI_APP_ID)
        .authority(emu.handle.authority(TENANT_ID))
        .http_client(w.tap())
        .clock(Arc::new(ManualClock::at_unix(now())))
        .enable_pii_logging(true)
        .build()
        .unwrap();
    w.secret(USER_PASSWORD);
    let account = run(async {
        let r = app
            .acquire_token_by_username_password(SCOPES, USER, Password::new(USER_PASSWORD))
            .await
            .unwrap();
        let account = r.account().unwrap().clone();
        app.acquire_token_silent(SCOPES, &account).await.unwrap();
        account
    });
    let log = w.logs.contents();
    assert!(
        log.contains(account.home_account_id()),
        "with the opt-in, the account is named in the log"
    );
    // Secrets stay out even then.
    w.check(3, &[]);
}

#[test]
fn confidential_client_flows_leak_no_secret_or_personal_data() {
    let emu = emulator();
    let mut w = Watch::new();
    let _guard = w.logs.set_default();
    let emu_h = &emu.handle;
    emu_h
        .admin()
        .register_certificate(DAEMON_APP_ID, CERT)
        .unwrap();
    w.secret(DAEMON_SECRET);
    w.secret(WEB_API_SECRET);
    w.secret(USER_PASSWORD);
    for line in KEY
        .lines()
        .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
    {
        w.secret(line);
    }
    let clock = Arc::new(ManualClock::at_unix(now()));
    let confidential = |client_id: &str, credential: ClientCredential| {
        let b = ConfidentialClientApplication::builder(client_id, credential)
            .authority(emu_h.authority(TENANT_ID))
            .http_client(w.tap())
            .clock(clock.clone());
        let shown = format!("{b:?}\n");
        (b.build().unwrap(), shown)
    };
    let (by_secret, s1) = confidential(
        DAEMON_APP_ID,
        ClientCredential::secret(ClientSecret::new(DAEMON_SECRET)),
    );
    let (by_cert, s2) = confidential(
        DAEMON_APP_ID,
        ClientCredential::certificate(Certificate::from_pem(KEY, CERT).unwrap().with_x5c(true)),
    );
    let (api, s3) = confidential(
        WEB_API_APP_ID,
        ClientCredential::secret(ClientSecret::new(WEB_API_SECRET)),
    );
    w.debug.push_str(&(s1 + &s2 + &s3));
    // The user token the web API receives (its OBO assertion).
    let user_app = PublicClientApplication::builder(CLI_APP_ID)
        .authority(emu_h.authority(TENANT_ID))
        .http_client(w.tap())
        .build()
        .unwrap();
    run(async {
        for app in [&by_secret, &by_cert] {
            let r = app
                .acquire_token_for_client(&[WEB_API_DEFAULT])
                .await
                .unwrap();
            w.show(&r);
            let hit = app
                .acquire_token_for_client(&[WEB_API_DEFAULT])
                .await
                .unwrap();
            w.show(&hit);
            w.show(app);
        }
        let user = user_app
            .acquire_token_by_username_password(
                &["api://msal-emulator-web-api/access_as_user"],
                USER,
                Password::new(USER_PASSWORD),
            )
            .await
            .unwrap();
        let assertion = user.access_token().expose_secret().to_owned();
        let request = api.acquire_token_on_behalf_of(SCOPES, Assertion::new(assertion.clone()));
        w.show(&request);
        w.show(&request.await.unwrap());
        // From the cache, then through the OBO refresh token.
        w.show(
            &api.acquire_token_on_behalf_of(SCOPES, Assertion::new(assertion.clone()))
                .await
                .unwrap(),
        );
        clock.advance(Duration::from_secs(3600));
        emu_h.admin().advance_clock(Duration::from_secs(3600));
        let e = api
            .acquire_token_on_behalf_of(SCOPES, Assertion::new("not-a-token-of-ours".repeat(3)))
            .await
            .unwrap_err();
        w.show(&e);
        w.show(&api);
    });
    // Client assertions are signed per request: the tap saw at least two.
    w.check(8, &[USER, USER_OBJECT_ID, USER_DISPLAY_NAME]);
}

#[test]
fn managed_identity_leaks_no_secret() {
    let emu = emulator();
    let mut w = Watch::new();
    let _guard = w.logs.set_default();
    let emu_h = &emu.handle;
    let hosts = [Host::AppService, Host::AzureArc, Host::Imds, Host::AzureMl];
    let vars: Vec<Vec<(String, String)>> = hosts
        .iter()
        .map(|h| run(emu_h.managed_identity_env(*h)).expect("variables"))
        .collect();
    for (k, v) in vars.iter().flatten() {
        if k.contains("HEADER") || k.contains("SECRET") {
            w.secret(v);
        }
    }
    run(async {
        for v in &vars {
            let app = ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned)
                .environment(
                    Environment::from_vars(v.clone())
                        .arc_agent_path(None)
                        .arc_key_directory(emu_h.admin().arc_key_directory()),
                )
                .http_client(w.tap())
                .clock(Arc::new(ManualClock::at_unix(now())))
                .build()
                .unwrap();
            w.show(&app);
            let request = app.acquire_token_for_resource("https://vault.azure.net");
            w.show(&request);
            let t = request.into_future().await.unwrap();
            w.show(&t);
            w.show(
                &app.acquire_token_for_resource("https://vault.azure.net")
                    .await
                    .unwrap(),
            );
        }
    });
    // Four tokens, the identity headers and the Arc key.
    w.check(6, &[]);
}
