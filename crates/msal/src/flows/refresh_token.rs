//! [`RefreshTokenRequest`]: redeem a refresh token from another library.

use std::future::IntoFuture;
use std::sync::Arc;

use super::{UserGrant, decorated, redeem_user_grant};
use crate::engine::{AuthenticationResult, Engine};
use crate::error::Result;
use crate::http::BoxFuture;
use crate::protocol::grant;
use crate::protocol::token::TokenForm;
use crate::secret::RefreshTokenSecret;

/// Redeems a refresh token obtained outside msal and caches the result
/// (account included), so later calls can be silent; `.await` it.
///
/// ```no_run
/// # async fn run(app: msal::PublicClientApplication) -> msal::Result<()> {
/// use msal::secret::RefreshTokenSecret;
/// let old_rt = RefreshTokenSecret::new(std::env::var("LEGACY_RT").unwrap_or_default());
/// let token = app.acquire_token_by_refresh_token(&["User.Read"], old_rt).await?;
/// assert!(token.account().is_some());
/// # Ok(()) }
/// ```
#[must_use = "a request does nothing until awaited"]
#[derive(Debug)]
pub struct RefreshTokenRequest {
    engine: Arc<Engine>,
    scopes: Vec<String>,
    refresh_token: RefreshTokenSecret,
    claims: Option<String>,
}

impl RefreshTokenRequest {
    pub(crate) fn new(
        engine: Arc<Engine>,
        scopes: Vec<String>,
        refresh_token: RefreshTokenSecret,
    ) -> Self {
        Self {
            engine,
            scopes,
            refresh_token,
            claims: None,
        }
    }

    /// A claims challenge to satisfy.
    pub fn claims(mut self, claims: impl Into<String>) -> Self {
        self.claims = Some(claims.into());
        self
    }
}

impl IntoFuture for RefreshTokenRequest {
    type Output = Result<AuthenticationResult>;
    type IntoFuture = BoxFuture<'static, Result<AuthenticationResult>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let (decorated, scope) = decorated(&self.scopes)?;
            let mut form = TokenForm::grant(grant::REFRESH_TOKEN, &self.engine.client_id, &scope);
            form.set("refresh_token", self.refresh_token.expose_secret());
            form.set_opt(
                "claims",
                self.engine.claims_param(self.claims.as_deref())?.as_deref(),
            );
            let g = UserGrant {
                decorated: &decorated,
                account_source: grant::REFRESH_TOKEN,
                username_hint: None,
                nonce: None,
            };
            redeem_user_grant(&self.engine, form, g).await
        })
    }
}
