//! One module per command; [`run`] dispatches.

mod accounts;
mod app_token;
mod cache;
mod login;
mod logout;
mod quickstart;
mod select;
mod token;

use crate::cli::{CacheCommand, Cli, Command};
use crate::context::Ctx;
use crate::error::CliResult;

/// Runs the command `cli` names.
pub(crate) async fn run(cli: Cli) -> CliResult {
    let ctx = Ctx::new(cli.global);
    match cli.command {
        Command::Login(args) => login::run(&ctx, &args).await,
        Command::Token(args) => token::run(&ctx, &args).await,
        Command::Accounts(args) => accounts::run(&ctx, args.json).await,
        Command::Logout(args) => logout::run(&ctx, &args).await,
        Command::AppToken(args) => app_token::run(&ctx, &args).await,
        Command::Cache(CacheCommand::Inspect(args)) => cache::inspect(&ctx, args.json).await,
        Command::Quickstart(args) => quickstart::run(&ctx, args.json).await,
    }
}
