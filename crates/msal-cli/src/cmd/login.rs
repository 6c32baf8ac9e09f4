//! `msal login`: sign a user in with the system browser or the device code.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use msal::DeviceCodeInfo;
use msal::browser::{BrowserError, BrowserOpener, SystemBrowser};
use msal::{AuthenticationResult, PublicClientApplication};
use serde_json::json;
use url::Url;

use crate::cli::LoginArgs;
use crate::cmd::token::token_json;
use crate::context::Ctx;
use crate::error::{CliError, CliResult};
use crate::output::say;
use crate::output::{Out, account_line_named, now_unix, relative, rfc3339};

/// Signs in and prints who; the token itself is not printed (`msal token`).
pub(crate) async fn run(ctx: &Ctx, args: &LoginArgs) -> CliResult {
    let out = Out::new(ctx.g.output, args.json);
    let scopes = args.scopes.scopes();
    let app = ctx
        .public_app_builder()?
        .browser(AnnouncingBrowser)
        .build()?;
    let result = if args.device_code {
        device_code(&app, &scopes, |info| eprintln!("{}", info.message)).await?
    } else {
        match app.acquire_token_interactive(&scopes).await {
            Err(msal::Error::Config(c)) if is_no_browser(&c.message) => {
                if args.browser {
                    return Err(CliError::other(format!(
                        "{}; sign in with --device-code instead",
                        c.message
                    )));
                }
                eprintln!(
                    "No browser could be started ({}); using a device code instead.",
                    c.message
                );
                device_code(&app, &scopes, |info| eprintln!("{}", info.message)).await?
            }
            other => other?,
        }
    };
    if out.json {
        out.json(&json!({ "signed_in": token_json(&result, false) }));
    } else {
        say!("{}", signed_in_text(&result));
    }
    Ok(())
}

fn is_no_browser(message: &str) -> bool {
    message.contains("could not open a browser")
}

/// The system browser, and a line on stderr once it has started (not
/// before: when it cannot start, the error is the only line).
struct AnnouncingBrowser;

impl BrowserOpener for AnnouncingBrowser {
    fn open(&self, url: &Url) -> Result<(), BrowserError> {
        SystemBrowser.open(url)?;
        eprintln!("Opened the browser: sign in there. Waiting up to 5 minutes (Ctrl-C to cancel).");
        Ok(())
    }
}

/// "Signed in as ...; token for ... valid until ...".
pub(crate) fn signed_in_text(r: &AuthenticationResult) -> String {
    let who = match r.account() {
        Some(a) => {
            // The Account entry has no display name; the ID token does.
            let name = a
                .name()
                .or_else(|| r.id_token_claims().and_then(|c| c.get_str("name")));
            account_line_named(a, name)
        }
        None => "an account without an Account entry".into(),
    };
    format!(
        "Signed in as {who}\nToken for {} valid until {} ({}).",
        r.scopes().join(" "),
        rfc3339(r.expires_on_unix()),
        relative(r.expires_on_unix(), now_unix())
    )
}

/// The device code flow: `show` presents the identity provider's message,
/// then a live countdown runs on stderr (when it is a terminal) until the
/// user has signed in or the code expires.
pub(crate) async fn device_code(
    app: &PublicClientApplication,
    scopes: &[String],
    show: impl FnOnce(&DeviceCodeInfo) + Send + 'static,
) -> msal::Result<AuthenticationResult> {
    let countdown: Arc<Mutex<Option<Countdown>>> = Arc::default();
    let slot = countdown.clone();
    let result = app
        .acquire_token_with_device_code(scopes, move |info: &DeviceCodeInfo| {
            show(info);
            if let Ok(mut s) = slot.lock() {
                *s = Some(Countdown::start(info.expires_in));
            }
        })
        .await;
    if let Some(c) = countdown.lock().ok().and_then(|mut s| s.take()) {
        c.finish();
    }
    result
}

/// A spinner with the time the code has left; indicatif hides it when
/// stderr is not a terminal.
struct Countdown {
    bar: ProgressBar,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Countdown {
    fn drop(&mut self) {
        // A flow given up on (its future dropped) must not leave the spinner
        // drawing; the ticker ends by itself once the bar is finished.
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}

impl Countdown {
    fn start(valid_for: Duration) -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} Waiting for the sign-in; the code expires in {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let deadline = Instant::now() + valid_for;
        bar.set_message(mmss(valid_for.as_secs()));
        bar.enable_steady_tick(Duration::from_millis(120));
        let ticking = bar.clone();
        let ticker = std::thread::spawn(move || {
            while !ticking.is_finished() {
                let left = deadline.saturating_duration_since(Instant::now()).as_secs();
                ticking.set_message(mmss(left));
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        Self {
            bar,
            ticker: Some(ticker),
        }
    }

    fn finish(mut self) {
        self.bar.finish_and_clear();
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}

/// `14:59`.
fn mmss(secs: u64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}
