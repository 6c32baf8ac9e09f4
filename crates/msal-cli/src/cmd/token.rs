//! `msal token`: an access token for scripts, silently from the cache.

use std::io::IsTerminal;

use msal::{AuthenticationResult, TokenSource};
use serde_json::{Value, json};

use crate::cli::{DEFAULT_SCOPES, OutputFormat, TokenArgs};
use crate::cmd::azure_cli::{ARM_SCOPE, az_token_json};
use crate::cmd::select::select;
use crate::context::Ctx;
use crate::error::CliResult;
use crate::output::say;
use crate::output::{Out, account_json, now_unix, relative, rfc3339};

/// Prints a token for `--scopes`: a cached one, or one redeemed with the
/// cached refresh token. Exit code 2 when only a new sign-in can help.
pub(crate) async fn run(ctx: &Ctx, args: &TokenArgs) -> CliResult {
    let out = Out::new(ctx.g.output, args.json);
    let az = ctx.g.output == OutputFormat::Az;
    // Like `az account get-access-token`: Azure Resource Manager by default.
    let default: &[&str] = if az || ctx.g.azure_cli {
        &[ARM_SCOPE]
    } else {
        DEFAULT_SCOPES
    };
    let scopes = args.scopes.scopes_or(default);
    let app = ctx.public_app()?;
    let accounts = app.accounts().await?;
    let wanted = match (&args.account, &ctx.g.azure) {
        (Some(a), _) => Some(a.as_str()),
        (None, Some(azure)) => azure.user()?,
        (None, None) => None,
    };
    let account = select(&accounts, wanted, true)?;
    let result = app
        .acquire_token_silent(&scopes, account)
        .force_refresh(args.force_refresh)
        .await?;
    if az {
        out.json(&az_json(ctx, &result));
    } else if out.json {
        out.json(&token_json(&result, true));
    } else {
        say!("{}", result.access_token().expose_secret());
        if std::io::stderr().is_terminal() {
            eprintln!("{}", summary(&result));
        }
    }
    Ok(())
}

/// `result` as `az account get-access-token` prints it; the subscription
/// is the Azure CLI's default one when the token is for its tenant.
pub(crate) fn az_json(ctx: &Ctx, r: &AuthenticationResult) -> Value {
    let profile = ctx.g.azure.as_ref();
    let tenant = r
        .tenant_id()
        .or_else(|| profile.and_then(|p| p.tenant.as_deref()));
    let subscription = profile
        .filter(|p| matches!((&p.tenant, tenant), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b)))
        .and_then(|p| p.subscription.as_deref());
    az_token_json(
        r.access_token().expose_secret(),
        r.token_type(),
        r.expires_on_unix(),
        tenant,
        subscription,
    )
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
