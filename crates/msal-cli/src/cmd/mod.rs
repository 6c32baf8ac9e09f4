//! One module per command; [`run`] dispatches.

mod accounts;
mod app_token;
pub(crate) mod azure_cli;
mod cache;
pub(crate) mod completion;
pub(crate) mod git_credential;
pub(crate) mod kube;
mod login;
mod logout;
mod prepare;
mod quickstart;
mod select;
mod token;

use crate::cli::{CacheCommand, Cli, Command, GlobalOpts};
use crate::context::Ctx;
use crate::error::CliResult;

/// Runs the command `cli` names.
pub(crate) async fn run(cli: Cli) -> CliResult {
    // The options as given (what `msal kubeconfig` writes into the stanza),
    // then as the command uses them (--azure-cli's profile, a detected
    // OpenID Connect issuer).
    let given = cli.global.clone();
    let ctx = Ctx::new(prepare::globals(cli.global, &cli.command).await?);
    dispatch(&ctx, &given, cli.command).await
}

/// Runs `command` in `ctx` (`given`: the global options as given).
async fn dispatch(ctx: &Ctx, given: &GlobalOpts, command: Command) -> CliResult {
    match command {
        Command::Login(args) => login::run(ctx, &args).await,
        Command::Token(args) => token::run(ctx, &args).await,
        Command::Accounts(args) => accounts::run(ctx, args.json).await,
        Command::Logout(args) => logout::run(ctx, &args).await,
        Command::AppToken(args) => app_token::run(ctx, &args).await,
        Command::Cache(CacheCommand::Inspect(args)) => cache::inspect(ctx, args.json).await,
        Command::Quickstart(args) => quickstart::run(ctx, args.json).await,
        Command::KubeCredential(args) => kube::credential(ctx, &args).await,
        Command::Kubeconfig(args) => kube::kubeconfig(ctx, given, &args).await,
        Command::GitCredential(args) => git_credential::run(ctx, &args).await,
        Command::Completion(args) => completion::completion(&args),
        Command::Man(args) => completion::man(&args),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::{Value, json};

    use super::*;
    use crate::cli::{DEFAULT_CLIENT_ID, parse_from};

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const ENV: &str = "login.microsoftonline.com";

    /// A unified-format cache of `n` users signed in to the CLI's default
    /// client, each with a valid access token for `mail.read user.read`.
    fn cache_of(n: usize) -> Value {
        let now = crate::output::now_unix();
        let (mut at, mut rt, mut acc) = (json!({}), json!({}), json!({}));
        for i in 0..n {
            let uid = format!("{:08x}-0000-4000-8000-{i:012x}", 0x1000_0000 + i);
            let home = format!("{uid}.{TENANT}");
            let target = "mail.read user.read";
            at[format!("{home}-{ENV}-accesstoken-{DEFAULT_CLIENT_ID}-{TENANT}-{target}")] = json!({
                "credential_type": "AccessToken", "secret": format!("at-secret-{i}"),
                "home_account_id": home, "environment": ENV, "client_id": DEFAULT_CLIENT_ID,
                "target": target, "realm": TENANT, "token_type": "Bearer",
                "cached_at": now.to_string(), "expires_on": (now + 3600).to_string(),
                "extended_expires_on": (now + 3600).to_string(),
            });
            rt[format!("{home}-{ENV}-refreshtoken-{DEFAULT_CLIENT_ID}--{target}")] = json!({
                "credential_type": "RefreshToken", "secret": format!("rt-secret-{i}"),
                "home_account_id": home, "environment": ENV, "client_id": DEFAULT_CLIENT_ID,
                "target": target,
            });
            acc[format!("{home}-{ENV}-{TENANT}")] = json!({
                "home_account_id": home, "environment": ENV, "realm": TENANT,
                "local_account_id": uid, "username": format!("user{i:06}@contoso.example"),
                "authority_type": "MSSTS",
            });
        }
        json!({"AccessToken": at, "RefreshToken": rt, "Account": acc})
    }

    /// Runs `args` (after `msal --cache <path> --plaintext`) in a fresh
    /// context and returns how many HTTP clients it built.
    async fn built_by(path: &Path, args: &[&str]) -> (CliResult, usize) {
        let mut argv = vec!["msal", "--cache", path.to_str().unwrap(), "--plaintext"];
        argv.extend_from_slice(args);
        let cli = parse_from(argv).unwrap();
        let ctx = Ctx::new(cli.global.clone());
        let r = dispatch(&ctx, &cli.global, cli.command).await;
        (r, ctx.http_clients_built())
    }

    fn usernames(path: &Path) -> Vec<String> {
        let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let mut names: Vec<String> = doc["Account"]
            .as_object()
            .map(|m| {
                m.values()
                    .map(|a| a["username"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cache_only_commands_build_no_http_client() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&cache_of(4)).unwrap()).unwrap();

        let (r, built) = built_by(&path, &["accounts", "--json"]).await;
        assert!(r.is_ok(), "{:?}", r.err().map(|e| e.message));
        assert_eq!(built, 0, "accounts built an HTTP client");

        let token = ["token", "--account", "user000001@contoso.example"];
        let (r, built) = built_by(&path, &[&token[..], &["--scopes", "user.read"]].concat()).await;
        assert!(r.is_ok(), "{:?}", r.err().map(|e| e.message));
        assert_eq!(built, 0, "a token from the cache built an HTTP client");

        let (r, built) = built_by(
            &path,
            &["logout", "--account", "user000002@contoso.example"],
        )
        .await;
        assert!(r.is_ok(), "{:?}", r.err().map(|e| e.message));
        assert_eq!(built, 0, "logout built an HTTP client");
        assert_eq!(
            usernames(&path),
            [
                "user000000@contoso.example",
                "user000001@contoso.example",
                "user000003@contoso.example"
            ]
        );

        // A scope with no cached token needs the identity provider: the
        // client is built then (the request fails: the proxy is closed).
        let (r, built) = built_by(
            &path,
            &[
                &["--proxy", "http://127.0.0.1:9"][..],
                &token[..],
                &["--scopes", "files.read"],
            ]
            .concat(),
        )
        .await;
        assert!(r.is_err());
        assert_eq!(built, 1, "a refresh must build the HTTP client");

        let (r, built) = built_by(&path, &["logout", "--all"]).await;
        assert!(r.is_ok(), "{:?}", r.err().map(|e| e.message));
        assert_eq!(built, 0, "logout --all built an HTTP client");
        assert!(usernames(&path).is_empty());
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["AccessToken"].as_object().map(|m| m.len()), Some(0));
        assert_eq!(doc["RefreshToken"].as_object().map(|m| m.len()), Some(0));
    }

    /// `logout --all` on many accounts: one read and one write of the file
    /// (the app's per-account removals would rewrite the file each time).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn logout_all_of_many_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        std::fs::write(&path, serde_json::to_vec(&cache_of(2000)).unwrap()).unwrap();
        let (r, _) = built_by(&path, &["logout", "--all", "--json"]).await;
        assert!(r.is_ok(), "{:?}", r.err().map(|e| e.message));
        assert!(usernames(&path).is_empty());
    }
}
