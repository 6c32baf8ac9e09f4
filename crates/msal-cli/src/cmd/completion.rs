//! `msal completion SHELL` and `msal man`: generated from the command
//! definitions, so they list every command and option there is.

use std::path::PathBuf;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::{CliError, CliResult};
use crate::output::say;

/// `msal completion`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Install, for example:\n  \
bash:        msal completion bash > ~/.local/share/bash-completion/completions/msal\n  \
zsh:         msal completion zsh > \"${fpath[1]}/_msal\"\n  \
fish:        msal completion fish > ~/.config/fish/completions/msal.fish\n  \
PowerShell:  msal completion powershell | Out-String | Invoke-Expression")]
pub(crate) struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: Shell,
}

/// `msal man`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ManArgs {
    /// Write `msal.1` and one page per command (`msal-token.1`, ...) into
    /// this directory instead of printing `msal.1`.
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
}

/// Prints the completion script for `args.shell`.
pub(crate) fn completion(args: &CompletionArgs) -> CliResult {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "msal", &mut out);
    print(&out)
}

/// Prints the man page, or writes all of them into `--dir`.
pub(crate) fn man(args: &ManArgs) -> CliResult {
    match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| CliError::other(format!("cannot create {}: {e}", dir.display())))?;
            clap_mangen::generate_to(Cli::command(), dir).map_err(|e| {
                CliError::other(format!(
                    "cannot write the man pages into {}: {e}",
                    dir.display()
                ))
            })?;
            say!("Wrote the man pages into {}.", dir.display());
            Ok(())
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(|e| CliError::other(format!("cannot render the man page: {e}")))?;
            print(&out)
        }
    }
}

/// Writes `bytes` to stdout; a closed pipe is not an error.
fn print(bytes: &[u8]) -> CliResult {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::other(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}
