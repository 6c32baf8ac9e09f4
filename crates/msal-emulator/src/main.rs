//! `msal-emulator`: runs the emulator until Ctrl-C. Prints its base URL as
//! the first line of standard output, so scripts can read it.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use msal_emulator::{Emulator, EmulatorConfig, TlsSettings};

/// A local Microsoft Entra ID emulator for tests.
#[derive(Parser, Debug)]
#[command(name = "msal-emulator", version)]
struct Args {
    /// Configuration file (TOML, or JSON when it ends in .json). Without it
    /// the built-in demo directory is served.
    #[arg(long, env = "MSAL_EMULATOR_CONFIG")]
    config: Option<PathBuf>,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "MSAL_EMULATOR_PORT")]
    port: Option<u16>,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Serve HTTPS with a certificate from a generated CA.
    #[arg(long)]
    tls: bool,
    /// Write the generated CA certificate (PEM) here; implies --tls.
    #[arg(long)]
    cert_out: Option<PathBuf>,
    /// Extra DNS name for the TLS certificate (repeatable).
    #[arg(long = "tls-name")]
    tls_names: Vec<String>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "msal_emulator=info".into()),
        )
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("msal-emulator: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            eprintln!("msal-emulator: {msg}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> msal_emulator::Result<()> {
    let mut config = match &args.config {
        Some(path) => EmulatorConfig::from_file(path)?,
        None => EmulatorConfig::default(),
    };
    if let Some(port) = args.port {
        config.server.port = Some(port);
    }
    config.server.bind = Some(args.bind.clone());
    if args.tls || args.cert_out.is_some() || !args.tls_names.is_empty() {
        let mut tls: TlsSettings = config.server.tls.take().unwrap_or_default();
        tls.enabled = true;
        if args.cert_out.is_some() {
            tls.cert_out = args.cert_out.clone();
        }
        tls.extra_names.extend(args.tls_names.iter().cloned());
        config.server.tls = Some(tls);
    }
    let handle = Emulator::start(config).await?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", handle.base_url());
        let _ = out.flush();
    }
    if let Some(p) = handle.ca_path() {
        eprintln!("msal-emulator: CA certificate written to {}", p.display());
    }
    eprintln!(
        "msal-emulator: listening on {} (alias {}); admin API at {}/_admin; Ctrl-C to stop",
        handle.base_url(),
        handle.alias_base_url(),
        handle.base_url()
    );
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
    Ok(())
}
