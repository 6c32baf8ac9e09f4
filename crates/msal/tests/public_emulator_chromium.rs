//! The interactive flow end to end: msal opens the authorization URL in real
//! headless Chromium, the user signs in on the emulator's pages, and Chromium
//! follows the redirect to msal's loopback listener on 127.0.0.1.
#![cfg(feature = "reqwest")]

mod public_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use msal::InteractiveRequest;
use msal::protocol::authorize::Prompt;
use msal::{Error, PublicClientApplication, ResponseMode, TokenSource};
use msal_emulator::{Emulator, EmulatorConfig, InteractionRequired, defaults};
use public_support::chromium::{Chromium, Driving};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Longest a sign-in may take before the test fails (not hangs).
const WAIT: Duration = Duration::from_secs(90);

/// What the "user" does in the browser.
#[derive(Clone, Copy, Debug)]
enum User {
    /// Types user name and password (and accepts consent if asked).
    SignsIn(&'static str, &'static str),
    /// Nothing: the session cookie is expected to finish the sign-in.
    Nothing,
}

/// Flags a browser script that panicked, so the sign-in stops at once.
struct FailFlag(watch::Sender<bool>);

impl Drop for FailFlag {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.send(true);
        }
    }
}

struct Harness {
    app: PublicClientApplication,
    user: Arc<Mutex<User>>,
    runs: Arc<Mutex<Vec<JoinHandle<String>>>>,
    failed: watch::Receiver<bool>,
    _chromium: Chromium,
}

/// Returns the authorization URL, the URL Chromium ended on and its page, one a line.
async fn script(helper: Driving, url: String, who: User) -> String {
    helper.client.goto(&url).await.unwrap();
    if let User::SignsIn(name, password) = who {
        helper.fill("#i0116", name).await;
        helper.fill("#i0118", password).await;
        helper.click("#idSIButton9").await;
        // A consent page comes for apps without pre-consent.
        let (page, _) = helper
            .wait_for_any(&["idBtn_Accept", "Authentication complete"])
            .await;
        if page == 0 {
            helper.click("#idBtn_Accept").await;
        }
    }
    let page = helper.wait_for_text("Authentication complete").await;
    let landed = helper.client.current_url().await.unwrap();
    format!("{url}\n{landed}\n{page}")
}

impl Harness {
    async fn new(emu: &msal_emulator::EmulatorHandle, client_id: &str) -> Self {
        let chromium = Chromium::start().await;
        let client = chromium.client.clone();
        let user = Arc::new(Mutex::new(User::Nothing));
        let runs: Arc<Mutex<Vec<JoinHandle<String>>>> = Arc::default();
        let (fail_tx, failed) = watch::channel(false);
        let fail_tx = Arc::new(fail_tx);
        let (u, r) = (user.clone(), runs.clone());
        let app = PublicClientApplication::builder(client_id)
            .authority(emu.authority(defaults::TENANT_ID))
            .browser(
                move |url: &url::Url| -> Result<(), msal::browser::BrowserError> {
                    let helper = Chromium::driving(client.clone());
                    let (url, who, flag) = (
                        url.to_string(),
                        *u.lock().unwrap(),
                        FailFlag((*fail_tx).clone()),
                    );
                    r.lock().unwrap().push(tokio::spawn(async move {
                        let _flag = flag;
                        script(helper, url, who).await
                    }));
                    Ok(())
                },
            )
            .build()
            .unwrap();
        Self {
            app,
            user,
            runs,
            failed,
            _chromium: chromium,
        }
    }

    fn user(&self, u: User) {
        *self.user.lock().unwrap() = u;
    }

    /// An interactive request that fails fast if the browser script fails.
    fn interactive(&self) -> InteractiveRequest {
        let mut failed = self.failed.clone();
        self.app
            .acquire_token_interactive(&["User.Read"])
            .timeout(WAIT)
            .cancel_on(async move {
                let _ = failed.wait_for(|f| *f).await;
            })
    }

    async fn quit(self) {
        self._chromium.quit().await;
    }

    /// The page Chromium ended on in the last run.
    async fn last_page(&self) -> String {
        let h = self.runs.lock().unwrap().pop().unwrap();
        h.await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_through_the_loopback_redirect() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let h = Harness::new(&emu, defaults::CLI_APP_ID).await;
    h.user(User::SignsIn(defaults::USER, defaults::USER_PASSWORD));
    let token = h.interactive().login_hint(defaults::USER).await.unwrap();
    let page = h.last_page().await;
    assert!(page.contains("You can close this window"), "{page}");
    let account = token.account().unwrap().clone();
    assert_eq!(account.username(), defaults::USER);
    assert_eq!(account.account_source(), Some("authorization_code"));
    assert_eq!(
        token.id_token_claims().unwrap().get_str("oid"),
        Some(defaults::USER_OBJECT_ID)
    );
    // The session is cached: silent needs nothing more.
    let again = h
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .await
        .unwrap();
    assert_eq!(again.source(), TokenSource::Cache);
    let reqs = emu.admin().requests();
    assert_eq!(
        reqs.iter()
            .filter(|r| r.grant_type.as_deref() == Some("authorization_code"))
            .count(),
        1
    );

    // Signing out of the cache leaves the browser session: the next sign-in
    // completes without the form, unless prompt=login asks for it.
    h.app.remove_account(&account).await.unwrap();
    assert!(h.app.accounts().await.unwrap().is_empty());
    h.user(User::Nothing);
    let sso = h.interactive().await.unwrap();
    assert_eq!(sso.account().unwrap().username(), defaults::USER);
    h.last_page().await;
    h.user(User::SignsIn(
        defaults::SECOND_USER,
        defaults::SECOND_USER_PASSWORD,
    ));
    let bob = h.interactive().prompt(Prompt::Login).await.unwrap();
    assert_eq!(bob.account().unwrap().username(), defaults::SECOND_USER);
    h.last_page().await;
    assert_eq!(h.app.accounts().await.unwrap().len(), 2);
    h.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_page_and_a_claims_challenge_satisfied_interactively() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let h = Harness::new(&emu, defaults::DESKTOP_APP_ID).await;
    h.user(User::SignsIn(defaults::USER, defaults::USER_PASSWORD));
    let token = h.interactive().await.unwrap();
    h.last_page().await;
    let account = token.account().unwrap().clone();

    // The tenant now demands MFA: silent says why, with the claims to satisfy.
    emu.admin()
        .require_interaction(InteractionRequired::mfa(defaults::USER));
    let e = h
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .force_refresh(true)
        .await
        .unwrap_err();
    let Error::UiRequired {
        claims: Some(claims),
        ..
    } = e
    else {
        panic!("{e:?}")
    };
    let fresh = h
        .interactive()
        .claims(claims)
        .prompt(Prompt::Login)
        .await
        .unwrap();
    h.last_page().await;
    assert_eq!(fresh.source(), TokenSource::IdentityProvider);
    let silent = h
        .app
        .acquire_token_silent(&["User.Read"], &account)
        .force_refresh(true)
        .await
        .unwrap();
    assert_eq!(silent.source(), TokenSource::IdentityProvider);
    h.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_post_keeps_the_code_out_of_every_url() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let h = Harness::new(&emu, defaults::CLI_APP_ID).await;
    h.user(User::SignsIn(defaults::USER, defaults::USER_PASSWORD));
    // The default: the emulator answers with a form that Chromium posts to
    // the loopback listener; the code travels in the body.
    let token = h.interactive().login_hint(defaults::USER).await.unwrap();
    let run = h.last_page().await;
    let mut lines = run.lines();
    let (asked, landed) = (lines.next().unwrap(), lines.next().unwrap());
    let asked = url::Url::parse(asked).unwrap();
    assert!(
        asked
            .query_pairs()
            .any(|(k, v)| k == "response_mode" && v == "form_post"),
        "{asked}"
    );
    let landed = url::Url::parse(landed).unwrap();
    assert_eq!(landed.host_str(), Some("localhost"), "{landed}");
    assert_eq!(landed.query(), None, "nothing in the URL: {landed}");
    assert!(run.contains("You can close this window"), "{run}");
    assert_eq!(token.account().unwrap().username(), defaults::USER);
    let history = h.app.accounts().await.unwrap();
    assert_eq!(history.len(), 1);

    // Query mode for providers that cannot post: the code is in the URL
    // Chromium lands on (the reason form_post is the default).
    let q = h
        .interactive()
        .response_mode(ResponseMode::Query)
        .prompt(Prompt::Login)
        .await
        .unwrap();
    let run = h.last_page().await;
    let mut lines = run.lines();
    let (asked, landed) = (lines.next().unwrap(), lines.next().unwrap());
    assert!(asked.contains("response_mode=query"), "{asked}");
    let landed = url::Url::parse(landed).unwrap();
    assert!(
        landed.query_pairs().any(|(k, _)| k == "code"),
        "the query carries the code: {landed}"
    );
    assert_eq!(q.account().unwrap().username(), defaults::USER);
    assert_eq!(
        emu.admin().token_requests_with_grant("authorization_code"),
        2
    );
    h.quit().await;
}
