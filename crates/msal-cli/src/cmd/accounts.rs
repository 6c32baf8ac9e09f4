//! `msal accounts`: who is signed in.

use serde_json::Value;

use crate::cmd::select::distinct;
use crate::context::Ctx;
use crate::error::CliResult;
use crate::output::say;
use crate::output::{Out, account_json, account_line};

/// Lists the accounts in the cache for `--authority`'s cloud.
pub(crate) async fn run(ctx: &Ctx, json: bool) -> CliResult {
    let out = Out::new(ctx.g.output, json);
    let app = ctx.public_app()?;
    let accounts = app.accounts().await?;
    let list = distinct(&accounts);
    if out.json {
        out.json(&Value::Array(
            list.iter().map(|a| account_json(a)).collect(),
        ));
    } else if list.is_empty() {
        say!("No account is signed in. Sign in with `msal login`.");
    } else {
        // One write, not one per account.
        let mut text = String::new();
        for a in list {
            text.push_str(&account_line(a));
            text.push('\n');
        }
        say!("{}", text.trim_end_matches('\n'));
    }
    Ok(())
}
