//! `msal token`: an access token for scripts, silently from the cache.

use std::io::IsTerminal;

use msal::{AuthenticationResult, TokenSource};
use serde_json::{Value, json};

use crate::cli::TokenArgs;
use crate::cmd::select::select;
use crate::context::Ctx;
use crate::error::CliResult;
use crate::output::say;
use crate::output::{Out, account_json, now_unix, relative, rfc3339};

/// Prints a token for `--scopes`: a cached one, or one redeemed with the
/// cached refresh token. Exit code 2 when only a new sign-in can help.
pub(crate) async fn run(ctx: &Ctx, args: &TokenArgs) -> CliResult {
    let out = Out::new(ctx.g.output, args.json);
    let scopes = args.scopes.scopes();
    let app = ctx.public_app()?;
    let accounts = app.accounts().await?;
    let account = select(&accounts, args.account.as_deref(), true)?;
    let result = app
        .acquire_token_silent(&scopes, account)
        .force_refresh(args.force_refresh)
        .await?;
    if out.json {
        out.json(&token_json(&result, true));
    } else {
        say!("{}", result.access_token().expose_secret());
        if std::io::stderr().is_terminal() {
            eprintln!("{}", summary(&result));
        }
    }
    Ok(())
}

/// A result as JSON; the token itself only when `with_token`.
pub(crate) fn token_json(r: &AuthenticationResult, with_token: bool) -> Value {
    let mut v = json!({
        "token_type": r.token_type(),
        "expires_on": r.expires_on_unix(),
        "expires_at": rfc3339(r.expires_on_unix()),
        "scopes": r.scopes(),
        "tenant_id": r.tenant_id(),
        "account": r.account().map(account_json),
        "from_cache": r.source() == TokenSource::Cache,
    });
    if with_token {
        v["access_token"] = Value::String(r.access_token().expose_secret().to_owned());
    }
    v
}

/// "from the cache; User.Read; expires 2024-… (in 59 min)".
pub(crate) fn summary(r: &AuthenticationResult) -> String {
    let from = match r.source() {
        TokenSource::Cache => "from the cache",
        _ => "from the identity provider",
    };
    format!(
        "{from}; scopes {}; expires {} ({})",
        r.scopes().join(" "),
        rfc3339(r.expires_on_unix()),
        relative(r.expires_on_unix(), now_unix())
    )
}
