//! `msal logout`: remove accounts and their tokens from the cache.
//!
//! Removing an account from the cache does not end the user's session in
//! the browser (a cookie of the identity provider): the next browser sign-in
//! may complete without a password. The command says so and prints the
//! sign-out page that ends that session too.

use std::sync::Arc;

use msal::Account;
use msal::authority::{Authority, AuthorityKind};
use msal::cache::TokenCache;
use msal::storage::{CacheAccess, CacheAccessArgs};
use msal_cache_file::FileCache;
use serde_json::json;

use crate::cli::LogoutArgs;
use crate::cmd::select::{distinct, select};
use crate::context::{Ctx, OneCopy};
use crate::error::{CliError, CliResult};
use crate::output::say;
use crate::output::{Out, account_json};

/// Removes the account `--account` names, the only one, or `--all`.
pub(crate) async fn run(ctx: &Ctx, args: &LogoutArgs) -> CliResult {
    let out = Out::new(ctx.g.output, args.json);
    let file = ctx.file_cache()?;
    let app = ctx
        .public_app_base()?
        .cache_access(Arc::new(OneCopy(file.clone())))
        .build()?;
    let accounts = app.accounts().await?;
    let targets: Vec<Account> = if args.all {
        distinct(&accounts).into_iter().cloned().collect()
    } else {
        vec![select(&accounts, args.account.as_deref(), false)?.clone()]
    };
    match targets.as_slice() {
        [] => {}
        [one] => app.remove_account(one).await?,
        several => remove_all(ctx, &file, several).await?,
    }
    let url = sign_out_url(app.authority());
    if out.json {
        out.json(&json!({
            "removed": targets.iter().map(account_json).collect::<Vec<_>>(),
            "browser_session_removed": false,
            "sign_out_url": url,
        }));
        return Ok(());
    }
    if targets.is_empty() {
        say!("No account is signed in; the token cache holds no account.");
        return Ok(());
    }
    let mut text = String::new();
    for a in &targets {
        text.push_str(&format!(
            "Signed out {}: its tokens are removed from the token cache.\n",
            a.username()
        ));
    }
    say!("{}", text.trim_end_matches('\n'));
    match url {
        Some(u) => say!(
            "The browser's session cookie is not removed: to end the browser session too, open {u}"
        ),
        None => say!(
            "The browser's session cookie is not removed: end it at your provider's sign-out page \
             (end_session_endpoint in {}/.well-known/openid-configuration)",
            app.authority().as_str()
        ),
    }
    Ok(())
}

/// Removes every account of `targets` with one read and one write of the
/// file, under its lock: the app's own removals would each take the lock,
/// hand the whole document over again and write the whole file
/// (quadratic in the number of accounts).
async fn remove_all(ctx: &Ctx, file: &FileCache, targets: &[Account]) -> CliResult {
    // A clone tracks nothing yet: its first access hands over the document.
    let handle = file.clone();
    let args = CacheAccessArgs::new(None, false);
    let doc = handle
        .before_access(args)
        .await
        .map_err(|e| CliError::from(msal::Error::Storage(e)))?;
    // The lock is held from here to after_access, which always runs.
    let removed: CliResult<Vec<u8>> = async {
        let cache = match doc {
            Some(doc) => TokenCache::deserialize_owned(doc).map_err(msal::Error::from)?,
            None => TokenCache::new(),
        };
        let app = ctx.public_app_base()?.token_cache(cache).build()?;
        for a in targets {
            app.remove_account(a).await?;
        }
        Ok(app.serialize_token_cache().await?)
    }
    .await;
    let after = match &removed {
        Ok(doc) => handle.after_access(args.after(true, None), Some(doc)).await,
        Err(_) => handle.after_access(args, None).await,
    };
    removed?;
    after.map_err(|e| CliError::from(msal::Error::Storage(e)))
}

/// The page that ends the browser session, when it can be known without a
/// request (logout must work offline).
pub(crate) fn sign_out_url(authority: &Authority) -> Option<String> {
    let base = authority.as_str().trim_end_matches('/');
    match authority.kind() {
        AuthorityKind::Entra | AuthorityKind::B2c | AuthorityKind::Ciam => {
            Some(format!("{base}/oauth2/v2.0/logout"))
        }
        AuthorityKind::Adfs => Some(format!("{base}/oauth2/logout")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_out_urls_per_kind_of_authority() {
        let url = |a: &str| sign_out_url(&Authority::parse(a).unwrap());
        assert_eq!(
            url("https://login.microsoftonline.com/organizations").as_deref(),
            Some("https://login.microsoftonline.com/organizations/oauth2/v2.0/logout")
        );
        assert_eq!(
            url("https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signin").as_deref(),
            Some(
                "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signin/oauth2/v2.0/logout"
            )
        );
        assert_eq!(
            url("https://sts.contoso.com/adfs").as_deref(),
            Some("https://sts.contoso.com/adfs/oauth2/logout")
        );
        assert_eq!(
            sign_out_url(&Authority::oidc("https://issuer.example").unwrap()),
            None
        );
    }
}
