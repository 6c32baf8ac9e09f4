//! Web-app sign-in: [`AuthorizationUrlRequest`] builds the URL the user's
//! browser is sent to (with `state`, `nonce` and PKCE to keep in the
//! session), and [`AuthorizationCodeRequest`] redeems the code that comes
//! back, caching the tokens in the user's partition (`home_account_id`).

use std::future::IntoFuture;
use std::sync::Arc;

use url::Url;

use crate::cache::{TokenResponse, client_info};
use crate::engine::{AuthenticationResult, Engine, Partition, Store};
use crate::error::{Error, Result};
use crate::http::BoxFuture;
use crate::pkce::{Pkce, random_token};
use crate::protocol::authorize::{AuthorizationParams, Prompt, authorization_url};
use crate::protocol::id_token::IdTokenClaims;
use crate::protocol::token::TokenForm;
use crate::protocol::{grant, scopes};
use crate::secret::{AuthorizationCode, PkceVerifier};

/// What a web app keeps in the user's session between the redirect to the
/// identity provider and the code coming back.
#[derive(Debug)]
#[non_exhaustive]
pub struct AuthorizationRequest {
    /// Where to send the browser.
    pub url: Url,
    /// Compare with the `state` on the redirect (anti-forgery).
    pub state: String,
    /// Pass to [`AuthorizationCodeRequest::nonce`]: the ID token must echo it.
    pub nonce: String,
    /// Pass to [`AuthorizationCodeRequest::pkce_verifier`].
    pub pkce_verifier: PkceVerifier,
}

/// Builds an authorization URL; `.await` it (the authorization endpoint
/// comes from the authority's metadata).
#[must_use = "a request does nothing until awaited"]
#[derive(Debug)]
pub struct AuthorizationUrlRequest {
    engine: Arc<Engine>,
    scopes: Vec<String>,
    redirect_uri: String,
    prompt: Option<Prompt>,
    login_hint: Option<String>,
    domain_hint: Option<String>,
    claims: Option<String>,
    state: Option<String>,
    extra: Vec<(String, String)>,
}

impl AuthorizationUrlRequest {
    pub(crate) fn new(engine: Arc<Engine>, scopes: Vec<String>, redirect_uri: String) -> Self {
        Self {
            engine,
            scopes,
            redirect_uri,
            prompt: None,
            login_hint: None,
            domain_hint: None,
            claims: None,
            state: None,
            extra: Vec::new(),
        }
    }

    /// `prompt`.
    pub fn prompt(mut self, prompt: Prompt) -> Self {
        self.prompt = Some(prompt);
        self
    }

    /// `login_hint`: pre-fills the user name.
    pub fn login_hint(mut self, hint: impl Into<String>) -> Self {
        self.login_hint = Some(hint.into());
        self
    }

    /// `domain_hint`.
    pub fn domain_hint(mut self, hint: impl Into<String>) -> Self {
        self.domain_hint = Some(hint.into());
        self
    }

    /// A claims challenge.
    pub fn claims(mut self, claims: impl Into<String>) -> Self {
        let c = claims.into();
        self.claims = (!c.trim().is_empty()).then_some(c);
        self
    }

    /// Your own `state` value (default: 32 random bytes, base64url).
    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }

    /// An extra query parameter.
    pub fn extra_query_parameter(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }
}

impl IntoFuture for AuthorizationUrlRequest {
    type Output = Result<AuthorizationRequest>;
    type IntoFuture = BoxFuture<'static, Result<AuthorizationRequest>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let decorated = scopes::decorate(&self.scopes)?;
            let scope = scopes::join(&decorated);
            check_redirect_uri(&self.redirect_uri)?;
            let claims = self.engine.claims_param(self.claims.as_deref())?;
            let metadata = self.engine.resolver.metadata().await?;
            let endpoint = metadata.authorization_endpoint.clone().ok_or_else(|| {
                Error::protocol("the authority's metadata has no authorization_endpoint")
            })?;
            let state = self.state.unwrap_or_else(|| random_token(32));
            let nonce = random_token(32);
            let pkce = Pkce::new();
            let url = authorization_url(
                &endpoint,
                &AuthorizationParams {
                    client_id: &self.engine.client_id,
                    redirect_uri: &self.redirect_uri,
                    scope: &scope,
                    state: &state,
                    nonce: &nonce,
                    code_challenge: &pkce.challenge,
                    prompt: self.prompt,
                    login_hint: self.login_hint.as_deref(),
                    domain_hint: self.domain_hint.as_deref(),
                    claims: claims.as_deref(),
                    extra: &self.extra,
                    response_mode: None,
                },
            );
            Ok(AuthorizationRequest {
                url,
                state,
                nonce,
                pkce_verifier: pkce.verifier,
            })
        })
    }
}

fn check_redirect_uri(uri: &str) -> Result<()> {
    match Url::parse(uri) {
        Ok(u) if matches!(u.scheme(), "https" | "http") => Ok(()),
        _ => Err(Error::config(format!(
            "{uri:?} is not a redirect URI (an absolute http or https URL)"
        ))),
    }
}

/// Redeems an authorization code; `.await` it.
///
/// ```no_run
/// # async fn run(app: msal::ConfidentialClientApplication, session: msal::AuthorizationRequest, code: &str) -> msal::Result<()> {
/// use msal::secret::AuthorizationCode;
/// let token = app
///     .acquire_token_by_authorization_code(&["User.Read"], AuthorizationCode::new(code), "https://app.example/callback")
///     .pkce_verifier(session.pkce_verifier)
///     .nonce(session.nonce)
///     .await?;
/// let home_account_id = token.account().map(|a| a.home_account_id().to_owned()); // keep it in the session
/// # let _ = home_account_id; Ok(()) }
/// ```
#[must_use = "a request does nothing until awaited"]
#[derive(Debug)]
pub struct AuthorizationCodeRequest {
    engine: Arc<Engine>,
    scopes: Vec<String>,
    code: AuthorizationCode,
    redirect_uri: String,
    verifier: Option<PkceVerifier>,
    nonce: Option<String>,
    claims: Option<String>,
}

impl AuthorizationCodeRequest {
    pub(crate) fn new(
        engine: Arc<Engine>,
        scopes: Vec<String>,
        code: AuthorizationCode,
        redirect_uri: String,
    ) -> Self {
        Self {
            engine,
            scopes,
            code,
            redirect_uri,
            verifier: None,
            nonce: None,
            claims: None,
        }
    }

    /// The PKCE verifier of the authorization request (sent as `code_verifier`).
    pub fn pkce_verifier(mut self, verifier: PkceVerifier) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// The nonce of the authorization request: the ID token must carry it.
    pub fn nonce(mut self, nonce: impl Into<String>) -> Self {
        self.nonce = Some(nonce.into());
        self
    }

    /// A claims challenge.
    pub fn claims(mut self, claims: impl Into<String>) -> Self {
        let c = claims.into();
        self.claims = (!c.trim().is_empty()).then_some(c);
        self
    }
}

impl IntoFuture for AuthorizationCodeRequest {
    type Output = Result<AuthenticationResult>;
    type IntoFuture = BoxFuture<'static, Result<AuthenticationResult>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let e = &self.engine;
            let decorated = scopes::decorate(&self.scopes)?;
            let scope = scopes::join(&decorated);
            check_redirect_uri(&self.redirect_uri)?;
            if self.code.expose_secret().trim().is_empty() {
                return Err(Error::config("the authorization code is empty"));
            }
            let metadata = e.resolver.metadata().await?;
            let mut form = TokenForm::grant(grant::AUTHORIZATION_CODE, &e.client_id, &scope);
            form.set("code", self.code.expose_secret());
            form.set("redirect_uri", &self.redirect_uri);
            form.set_opt(
                "code_verifier",
                self.verifier.as_ref().map(PkceVerifier::expose_secret),
            );
            let claims = e.claims_param(self.claims.as_deref())?;
            form.set_opt("claims", claims.as_deref());
            let response = e
                .post_token(
                    &metadata,
                    form,
                    crate::transport::throttle::Throttle::None,
                    &[],
                )
                .await?;
            let hai = home_account_id(&response)?;
            let partition = match &hai {
                Some(h) => Partition::user(h),
                // No user in the response (a provider without client_info or ID token).
                None => Partition::UNPARTITIONED,
            };
            e.store(
                partition,
                Store {
                    response: &response,
                    metadata: &metadata,
                    environment: e.authority().host(),
                    requested_scopes: &decorated,
                    account_source: Some(grant::AUTHORIZATION_CODE),
                    username_hint: None,
                    rotate: None,
                    nonce: self.nonce.as_deref(),
                    known_account: None,
                    user_assertion_hash: None,
                },
            )
            .await
        })
    }
}

/// The `home_account_id` the cache will give the response's user: from
/// `client_info`, else the ID token's `sub` (as the cache computes it).
fn home_account_id(r: &TokenResponse) -> Result<Option<String>> {
    if let Some(ci) = &r.client_info
        && let Some(h) = client_info::decode(ci)?.home_account_id()
    {
        return Ok(Some(h));
    }
    match r
        .id_token
        .as_ref()
        .map(|t| t.expose_secret())
        .filter(|t| !t.is_empty())
    {
        Some(t) => Ok(IdTokenClaims::decode(t)?.get_str("sub").map(str::to_owned)),
        None => Ok(None),
    }
}
