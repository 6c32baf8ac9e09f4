//! A signed-in user's tokens, silently: what [`SignedInUserCredential`] and
//! [`AzureCliCacheCredential`] share.
//!
//! [`SignedInUserCredential`]: crate::SignedInUserCredential
//! [`AzureCliCacheCredential`]: crate::AzureCliCacheCredential

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use azure_core::credentials::AccessToken;
use msal::clock::Clock;
use msal::{Account, PublicClientApplication};

use crate::error::Failure;
use crate::memo::{Memo, Stamp};
use crate::token::{access_token, check_scopes, pick_account, unix};

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
    /// The cache file, for its stamp.
    path: PathBuf,
    /// Tokens handed out while the file stays as it was.
    memo: Memo,
}

impl Session {
    pub(crate) fn new(
        app: PublicClientApplication,
        wanted: Option<String>,
        hint: &'static str,
        path: PathBuf,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            app,
            wanted,
            chosen: Mutex::new(None),
            hint,
            place: path.display().to_string(),
            path,
            memo: Memo::new(clock),
        }
    }

    pub(crate) fn wanted(&self) -> Option<&str> {
        self.wanted.as_deref()
    }

    /// A token for `scopes`: from the cache file while it has five minutes
    /// left, else redeemed with the account's refresh token (concurrent
    /// calls for the same scopes share one request: msal's single flight).
    /// While the file has not changed since the read that gave the last
    /// token for these scopes, that token is handed out again without the
    /// lock and the read (see [`Memo`]).
    pub(crate) async fn token(&self, scopes: &[&str]) -> Result<AccessToken, Failure> {
        check_scopes(scopes)?;
        let key = Memo::key(scopes);
        // Taken before msal reads the file: any later change, ours included,
        // makes the next call read it again.
        let stamp = Stamp::settled(&self.path);
        if let Some(t) = self.memo.get(&key, stamp, true) {
            return Ok(t);
        }
        let account = self.account().await?;
        match self.app.acquire_token_silent(scopes, &account).await {
            Ok(r) => {
                tracing::debug!(
                    target: "msal_azure_identity",
                    from_cache = r.source() == msal::TokenSource::Cache,
                    expires_on = r.expires_on_unix(),
                    "user token"
                );
                let t = access_token(r.access_token().expose_secret(), r.expires_on_unix())?;
                self.memo.put(key, &t, r.refresh_on().map(unix), stamp);
                Ok(t)
            }
            Err(e) => {
                if e.is_ui_required() {
                    // Signed out, or another user signed in: choose again next time.
                    *self.chosen.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    self.memo.clear();
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
