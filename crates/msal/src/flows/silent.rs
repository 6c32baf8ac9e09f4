//! [`SilentRequest`]: `acquire_token_silent`.

use std::future::IntoFuture;
use std::sync::Arc;

use crate::app::{AuthenticationResult, Engine, SilentParams};
use crate::cache::Account;
use crate::error::Result;
use crate::http::BoxFuture;

/// A silent token request; `.await` it.
///
/// ```no_run
/// # async fn run(app: msal::PublicClientApplication, account: msal::cache::Account) -> msal::Result<()> {
/// let token = app.acquire_token_silent(&["User.Read"], &account).force_refresh(true).await?;
/// # let _ = token; Ok(()) }
/// ```
#[must_use = "a request does nothing until awaited"]
#[derive(Debug)]
pub struct SilentRequest {
    engine: Arc<Engine>,
    params: SilentParams,
}

impl SilentRequest {
    pub(crate) fn new(engine: Arc<Engine>, scopes: Vec<String>, account: Account) -> Self {
        Self {
            engine,
            params: SilentParams {
                scopes,
                account,
                force_refresh: false,
                claims: None,
            },
        }
    }

    /// Skip the cached access token and redeem the refresh token.
    pub fn force_refresh(mut self, force: bool) -> Self {
        self.params.force_refresh = force;
        self
    }

    /// A claims challenge from a resource (skips the cached access token).
    pub fn claims(mut self, claims: impl Into<String>) -> Self {
        let c = claims.into();
        self.params.claims = (!c.trim().is_empty()).then_some(c);
        self
    }
}

impl IntoFuture for SilentRequest {
    type Output = Result<AuthenticationResult>;
    type IntoFuture = BoxFuture<'static, Result<AuthenticationResult>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.engine.acquire_silent(self.params).await })
    }
}
