//! [`UsernamePasswordRequest`]: the resource owner password grant (ROPC).

use std::future::IntoFuture;
use std::sync::Arc;

use super::{UserGrant, decorated, redeem_user_grant};
use crate::engine::{AuthenticationResult, Engine};
use crate::error::{Error, Result};
use crate::http::BoxFuture;
use crate::protocol::grant;
use crate::protocol::token::TokenForm;
use crate::secret::Password;

/// A username/password sign-in; `.await` it. Works only for cloud-only work
/// or school accounts without MFA (Microsoft discourages it).
///
/// Deprecated with
/// [`acquire_token_by_username_password`](crate::PublicClientApplication::acquire_token_by_username_password),
/// which makes it: the password grant is deprecated in every MSAL.
///
/// ```no_run
/// # #![allow(deprecated)]
/// # async fn run(app: msal::PublicClientApplication) -> msal::Result<()> {
/// use msal::secret::Password;
/// let pw = Password::new(std::env::var("PASSWORD").unwrap_or_default());
/// let token = app.acquire_token_by_username_password(&["User.Read"], "ada@contoso.com", pw).await?;
/// # let _ = token; Ok(()) }
/// ```
#[must_use = "a request does nothing until awaited"]
#[derive(Debug)]
pub struct UsernamePasswordRequest {
    engine: Arc<Engine>,
    scopes: Vec<String>,
    username: String,
    password: Password,
    claims: Option<String>,
}

impl UsernamePasswordRequest {
    pub(crate) fn new(
        engine: Arc<Engine>,
        scopes: Vec<String>,
        username: String,
        password: Password,
    ) -> Self {
        Self {
            engine,
            scopes,
            username,
            password,
            claims: None,
        }
    }

    /// A claims challenge to satisfy.
    pub fn claims(mut self, claims: impl Into<String>) -> Self {
        self.claims = Some(claims.into());
        self
    }
}

impl IntoFuture for UsernamePasswordRequest {
    type Output = Result<AuthenticationResult>;
    type IntoFuture = BoxFuture<'static, Result<AuthenticationResult>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            if self.username.trim().is_empty() {
                return Err(Error::config("the username is empty"));
            }
            let (decorated, scope) = decorated(&self.scopes)?;
            let mut form = TokenForm::grant(grant::PASSWORD, &self.engine.client_id, &scope);
            form.set("username", &self.username);
            form.set("password", self.password.expose_secret());
            form.set_opt(
                "claims",
                self.engine.claims_param(self.claims.as_deref())?.as_deref(),
            );
            let g = UserGrant {
                decorated: &decorated,
                account_source: grant::PASSWORD,
                username_hint: Some(&self.username),
                nonce: None,
            };
            redeem_user_grant(&self.engine, form, g).await
        })
    }
}
