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

use crate::cli::{CacheCommand, Cli, Command};
use crate::context::Ctx;
use crate::error::CliResult;

/// Runs the command `cli` names.
pub(crate) async fn run(cli: Cli) -> CliResult {
    // The options as given (what `msal kubeconfig` writes into the stanza),
    // then as the command uses them (--azure-cli's profile, a detected
    // OpenID Connect issuer).
    let given = cli.global.clone();
    let ctx = Ctx::new(prepare::globals(cli.global, &cli.command).await?);
    match cli.command {
        Command::Login(args) => login::run(&ctx, &args).await,
        Command::Token(args) => token::run(&ctx, &args).await,
        Command::Accounts(args) => accounts::run(&ctx, args.json).await,
        Command::Logout(args) => logout::run(&ctx, &args).await,
        Command::AppToken(args) => app_token::run(&ctx, &args).await,
        Command::Cache(CacheCommand::Inspect(args)) => cache::inspect(&ctx, args.json).await,
        Command::Quickstart(args) => quickstart::run(&ctx, args.json).await,
        Command::KubeCredential(args) => kube::credential(&ctx, &args).await,
        Command::Kubeconfig(args) => kube::kubeconfig(&ctx, &given, &args).await,
        Command::GitCredential(args) => git_credential::run(&ctx, &args).await,
        Command::Completion(args) => completion::completion(&args),
        Command::Man(args) => completion::man(&args),
    }
}
