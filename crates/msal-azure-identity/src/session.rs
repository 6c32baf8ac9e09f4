//! A signed-in user's tokens, silently: what [`SignedInUserCredential`] and
//! [`AzureCliCacheCredential`] share.
//!
//! [`SignedInUserCredential`]: crate::SignedInUserCredential
//! [`AzureCliCacheCredential`]: crate::AzureCliCacheCredential

use std::sync::Mutex;

use azure_core::credentials::AccessToken;
use msal::{Account, PublicClientApplication};

use crate::error::Failure;
use crate::token::{access_token, check_scopes, pick_account};

/// A public client on a shared cache file, and the account it works for.
pub(crate) struct Session {
    pub(crate) app: PublicClientApplication,
    /// The account asked for (user name or home account id), if any.
    wanted: Option<String>,
    /// The account chosen at the first call, until a call finds it gone.
    chosen: Mutex<Option<Account>>,
    /// What to tell the user to do when they must sign in.
    hint: &'static str,
    /// The cache file, for messages.
    place: String,
}

impl Session {
    pub(crate) fn new(
        app: PublicClientApplication,
        wanted: Option<String>,
        hint: &'static str,
        place: String,
    ) -> Self {
        Self {
            app,
            wanted,
            chosen: Mutex::new(None),
            hint,
            place,
        }
    }

    pub(crate) fn wanted(&self) -> Option<&str> {
        self.wanted.as_deref()
    }

    /// A token for `scopes`: from the cache file while it has five minutes
    /// left, else redeemed with the account's refresh token (concurrent
    /// calls for the same scopes share one request: msal's single flight).
    pub(crate) async fn token(&self, scopes: &[&str]) -> Result<AccessToken, Failure> {
        check_scopes(scopes)?;
        let account = self.account().await?;
        match self.app.acquire_token_silent(scopes, &account).await {
            Ok(r) => {
                tracing::debug!(
                    target: "msal_azure_identity",
                    from_cache = r.source() == msal::TokenSource::Cache,
                    expires_on = r.expires_on_unix(),
                    "user token"
                );
                access_token(r.access_token().expose_secret(), r.expires_on_unix())
            }
            Err(e) => {
                if e.is_ui_required() {
                    // Signed out, or another user signed in: choose again next time.
                    *self.chosen.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
                Err(Failure::msal(e, Some(self.hint)))
            }
        }
    }

    async fn account(&self) -> Result<Account, Failure> {
        if let Some(a) = self
            .chosen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(a);
        }
        let accounts = self
            .app
            .accounts()
            .await
            .map_err(|e| Failure::msal(e, None))?;
        let account = pick_account(&accounts, self.wanted.as_deref()).map_err(|m| {
            Failure::unavailable(format!("{m} (cache file {}); {}", self.place, self.hint))
        })?;
        *self.chosen.lock().unwrap_or_else(|p| p.into_inner()) = Some(account.clone());
        Ok(account)
    }
}
