//! # `msal`: the command-line face of msal-rs
//!
//! Sign in, get tokens for scripts, see and clear the token cache:
//!
//! ```text
//! msal login [--device-code | --browser] [--scopes ...]
//! msal token [--scopes ...] [--account USER] [--json]     # exit code 2: sign in again
//! msal accounts [--json]
//! msal logout [--account USER | --all]
//! msal app-token --scopes ... (--client-secret-env VAR | --certificate PEM | --managed-identity | --workload-identity) [--fmi-path PATH]
//! msal cache inspect [--json]
//! msal quickstart [--json]                                 # the whole loop against an embedded emulator
//! ```
//!
//! Every global option also reads an `MSAL_*` variable (`msal --help`).
//! Failures print one line on stderr and exit with 1, or 2 when a new
//! sign-in is required; never a backtrace.

mod cli;
mod cmd;
mod context;
mod error;
mod inspect;
mod output;

use std::process::ExitCode;

use crate::error::{CliError, EXIT_ERROR, one_line};

fn main() -> ExitCode {
    // A bug must still end with one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        eprintln!(
            "{}",
            one_line(&format!(
                "msal: internal error ({what}); please report it with the command you ran"
            ))
        );
    }));

    let cli = match cli::parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return CliError::other(format!("cannot start the async runtime: {e}")).report(),
    };
    let result = runtime.block_on(cmd::run(cli));
    // Do not wait for stray tasks (an emulator's connections, a countdown).
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report(),
    }
}

/// Help and version go to stdout with exit code 0; an argument error is one
/// line on stderr and exit code 1 (2 is reserved for "sign in again").
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(EXIT_ERROR)
        }
        _ => {
            // The first paragraph: the error and, for missing arguments,
            // the indented list of them; not the usage that follows.
            let rendered = e.render().to_string();
            let first: Vec<&str> = rendered
                .lines()
                .skip_while(|l| l.trim().is_empty())
                .take_while(|l| !l.trim().is_empty())
                .collect();
            let first = one_line(&first.join(" "));
            let first = first.strip_prefix("error: ").unwrap_or(&first);
            let first = if first.is_empty() {
                "invalid arguments"
            } else {
                first
            };
            eprintln!("msal: {first} (see `msal --help`)");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// `RUST_LOG` turns on logs (stderr). msal's logs carry no token.
fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
}
