//! [`InteractiveRequest`]: the authorization code flow with PKCE through the
//! system browser and a loopback redirect.

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use super::loopback::Loopback;
use super::{Cancel, UserGrant, cancellable, decorated, redeem_user_grant};
use crate::browser::BrowserOpener;
use crate::engine::{AuthenticationResult, Engine};
use crate::error::{Error, Result};
use crate::http::BoxFuture;
use crate::pkce::{Pkce, random_token};
use crate::protocol::authorize::{AuthorizationParams, Prompt, ResponseMode, authorization_url};
use crate::protocol::grant;
use crate::protocol::token::TokenForm;

/// How long the flow waits for the browser by default.
pub const DEFAULT_INTERACTIVE_TIMEOUT: Duration = Duration::from_secs(300);

/// An interactive sign-in; `.await` it.
///
/// Opens the authorization URL with the app's [`BrowserOpener`], listens on
/// a random 127.0.0.1 port for the redirect (by default a `form_post`: see
/// [`InteractiveRequest::response_mode`]), checks `state`, redeems the
/// code with the PKCE verifier and checks the ID token's `nonce`.
///
/// ```no_run
/// # async fn run(app: msal::PublicClientApplication) -> msal::Result<()> {
/// use msal::Prompt;
/// let token = app
///     .acquire_token_interactive(&["User.Read"])
///     .login_hint("ada@contoso.com")
///     .prompt(Prompt::SelectAccount)
///     .timeout(std::time::Duration::from_secs(120))
///     .await?;
/// # let _ = token; Ok(()) }
/// ```
#[must_use = "a request does nothing until awaited"]
pub struct InteractiveRequest {
    engine: Arc<Engine>,
    browser: Arc<dyn BrowserOpener>,
    scopes: Vec<String>,
    prompt: Option<Prompt>,
    login_hint: Option<String>,
    domain_hint: Option<String>,
    claims: Option<String>,
    redirect_uri: String,
    timeout: Duration,
    extra: Vec<(String, String)>,
    response_mode: ResponseMode,
    cancel: Cancel,
}

impl std::fmt::Debug for InteractiveRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InteractiveRequest")
            .field("scopes", &self.scopes)
            .field("prompt", &self.prompt)
            .field("redirect_uri", &self.redirect_uri)
            .field("timeout", &self.timeout)
            .field("response_mode", &self.response_mode)
            .finish_non_exhaustive()
    }
}

impl InteractiveRequest {
    pub(crate) fn new(
        engine: Arc<Engine>,
        browser: Arc<dyn BrowserOpener>,
        scopes: Vec<String>,
    ) -> Self {
        Self {
            engine,
            browser,
            scopes,
            prompt: None,
            login_hint: None,
            domain_hint: None,
            claims: None,
            redirect_uri: "http://localhost".to_owned(),
            timeout: DEFAULT_INTERACTIVE_TIMEOUT,
            extra: Vec::new(),
            response_mode: ResponseMode::default(),
            cancel: None,
        }
    }

    /// The `prompt` (e.g. [`Prompt::SelectAccount`], or [`Prompt::Login`]
    /// to ignore the browser's session after a sign-out).
    pub fn prompt(mut self, prompt: Prompt) -> Self {
        self.prompt = Some(prompt);
        self
    }

    /// Pre-fills the user name.
    pub fn login_hint(mut self, hint: impl Into<String>) -> Self {
        self.login_hint = Some(hint.into());
        self
    }

    /// Skips home-realm discovery (`consumers`, `organizations` or a domain).
    pub fn domain_hint(mut self, hint: impl Into<String>) -> Self {
        self.domain_hint = Some(hint.into());
        self
    }

    /// A claims challenge to satisfy.
    pub fn claims(mut self, claims: impl Into<String>) -> Self {
        self.claims = Some(claims.into());
        self
    }

    /// The loopback redirect URI: `http://localhost` (default) or
    /// `http://127.0.0.1`, optionally with a fixed port and a path.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = uri.into();
        self
    }

    /// How the code comes back: [`ResponseMode::FormPost`] (default; the
    /// browser posts it to the loopback listener, so it never appears in a
    /// URL, the browser's history or a proxy's log) or [`ResponseMode::Query`]
    /// for identity providers that cannot post. Either way the listener takes
    /// only a response that carries this sign-in's `state`.
    pub fn response_mode(mut self, mode: ResponseMode) -> Self {
        self.response_mode = mode;
        self
    }

    /// How long to wait for the user (default [`DEFAULT_INTERACTIVE_TIMEOUT`]); then
    /// [`Error::Cancelled`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// An extra query parameter for the authorization URL.
    pub fn extra_query_parameter(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }

    /// Stops waiting with [`Error::Cancelled`] when `signal` completes.
    pub fn cancel_on(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.cancel = Some(Box::pin(signal));
        self
    }

    async fn run(self) -> Result<AuthenticationResult> {
        let engine = &self.engine;
        let (decorated, scope) = decorated(&self.scopes)?;
        let claims = engine.claims_param(self.claims.as_deref())?;
        let metadata = engine.resolver.metadata().await?;
        let endpoint = metadata.authorization_endpoint.clone().ok_or_else(|| {
            Error::config(format!(
                "{} has no authorization endpoint",
                engine.authority()
            ))
        })?;
        let loopback = Loopback::bind(&self.redirect_uri).await?;
        let redirect_uri = loopback.redirect_uri().to_owned();
        let pkce = Pkce::new();
        let state = random_token(24);
        let nonce = random_token(24);
        let url = authorization_url(
            &endpoint,
            &AuthorizationParams {
                client_id: &engine.client_id,
                redirect_uri: &redirect_uri,
                scope: &scope,
                state: &state,
                nonce: &nonce,
                code_challenge: &pkce.challenge,
                prompt: self.prompt,
                login_hint: self.login_hint.as_deref(),
                domain_hint: self.domain_hint.as_deref(),
                claims: claims.as_deref(),
                extra: &self.extra,
                response_mode: Some(self.response_mode),
            },
        );
        tracing::debug!(redirect_uri = %redirect_uri, "interactive: opening the browser");
        self.browser
            .open(&url)
            .map_err(|e| Error::config(e.to_string()))?;
        let code = tokio::time::timeout(self.timeout, loopback.wait(&state))
            .await
            .map_err(|_| {
                Error::Cancelled(format!("no sign-in response within {:?}", self.timeout))
            })??;
        let mut form = TokenForm::grant(grant::AUTHORIZATION_CODE, &engine.client_id, &scope);
        form.set("code", code.expose_secret())
            .set("redirect_uri", &redirect_uri)
            .set("code_verifier", pkce.verifier.expose_secret())
            .set_opt("claims", claims.as_deref());
        let g = UserGrant {
            decorated: &decorated,
            account_source: grant::AUTHORIZATION_CODE,
            username_hint: None,
            nonce: Some(&nonce),
        };
        redeem_user_grant(engine, form, g).await
    }
}

impl IntoFuture for InteractiveRequest {
    type Output = Result<AuthenticationResult>;
    type IntoFuture = BoxFuture<'static, Result<AuthenticationResult>>;

    fn into_future(mut self) -> Self::IntoFuture {
        let cancel = self.cancel.take();
        Box::pin(async move { cancellable(self.run(), cancel).await })
    }
}
