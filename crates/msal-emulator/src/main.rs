//! `msal-emulator`: runs the emulator until Ctrl-C. Prints its base URL as
//! the first line of standard output, so scripts can read it.

use std::io::Write as _;
use std::net::SocketAddr;
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
    /// Address to bind; overrides `server.bind` from the configuration file
    /// (127.0.0.1 when neither is given).
    #[arg(long)]
    bind: Option<String>,
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

/// Lays the command-line options over the configuration: an option given
/// wins, an option left out keeps the file's value.
fn apply_args(config: &mut EmulatorConfig, args: &Args) {
    if let Some(port) = args.port {
        config.server.port = Some(port);
    }
    if let Some(bind) = &args.bind {
        config.server.bind = Some(bind.clone());
    }
    if args.tls || args.cert_out.is_some() || !args.tls_names.is_empty() {
        let mut tls: TlsSettings = config.server.tls.take().unwrap_or_default();
        tls.enabled = true;
        if args.cert_out.is_some() {
            tls.cert_out = args.cert_out.clone();
        }
        tls.extra_names.extend(args.tls_names.iter().cloned());
        config.server.tls = Some(tls);
    }
}

/// The warning for a listening address other machines may reach: the admin
/// API has no authentication.
fn exposure_warning(addr: SocketAddr) -> Option<String> {
    (!addr.ip().is_loopback()).then(|| {
        format!(
            "msal-emulator: WARNING: listening on {addr}, which is not a loopback address: anyone who can reach it can use the unauthenticated admin API (/_admin) to approve sign-ins, register certificates and move the clock"
        )
    })
}

async fn run(args: Args) -> msal_emulator::Result<()> {
    let mut config = match &args.config {
        Some(path) => EmulatorConfig::from_file(path)?,
        None => EmulatorConfig::default(),
    };
    apply_args(&mut config, &args);
    let handle = Emulator::start(config).await?;
    if let Some(w) = exposure_warning(handle.addr()) {
        eprintln!("{w}");
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file_config() -> EmulatorConfig {
        EmulatorConfig::from_toml_str("[server]\nbind = \"0.0.0.0\"\nport = 4000\n").unwrap()
    }

    #[test]
    fn the_config_bind_stands_without_the_flag() {
        let mut config = file_config();
        apply_args(&mut config, &Args::parse_from(["msal-emulator"]));
        assert_eq!(config.server.bind.as_deref(), Some("0.0.0.0"));
        assert_eq!(config.server.port, Some(4000));
        assert!(config.server.tls.is_none());
    }

    #[test]
    fn flags_override_the_config() {
        let mut config = file_config();
        let args = Args::parse_from(["msal-emulator", "--bind", "127.0.0.2", "--port", "0"]);
        apply_args(&mut config, &args);
        assert_eq!(config.server.bind.as_deref(), Some("127.0.0.2"));
        assert_eq!(config.server.port, Some(0));
    }

    #[test]
    fn neither_flag_nor_config_leaves_bind_unset() {
        let mut config = EmulatorConfig::default();
        apply_args(&mut config, &Args::parse_from(["msal-emulator"]));
        // `Emulator::start` then binds 127.0.0.1.
        assert_eq!(config.server.bind, None);
    }

    #[test]
    fn only_non_loopback_addresses_are_warned_about() {
        for a in ["127.0.0.1:1", "[::1]:1"] {
            assert_eq!(exposure_warning(a.parse().unwrap()), None, "{a}");
        }
        for a in ["0.0.0.0:1", "192.168.1.10:1", "[::]:1"] {
            let w = exposure_warning(a.parse().unwrap()).expect(a);
            assert!(w.contains("/_admin") && w.contains("loopback"), "{w}");
        }
    }
}
