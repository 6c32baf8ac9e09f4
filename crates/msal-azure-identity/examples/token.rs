//! Gets a token with the default chain, the way any Azure SDK client would,
//! and prints one JSON line saying which source answered and when the token
//! expires (never the token itself):
//!
//! ```text
//! $ cargo run -p msal-azure-identity --example token -- https://vault.azure.net/.default
//! {"source":"msal_cli","expires_on":"2026-12-02T11:34:05Z","expires_on_unix":1796211245}
//! ```
//!
//! The chain reads the usual variables (`AZURE_*`, `MSAL_*`); with none set
//! on a laptop, `msal login` first makes the `msal_cli` source answer.
//! Errors go to stderr, with exit code 1 (2 for a usage error).

use std::process::ExitCode;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use msal_azure_identity::DefaultCredential;

#[tokio::main]
async fn main() -> ExitCode {
    let scopes: Vec<String> = std::env::args().skip(1).collect();
    if scopes.is_empty() || scopes.iter().any(|s| s.starts_with('-')) {
        eprintln!("usage: token <scope>... (e.g. https://vault.azure.net/.default)");
        return ExitCode::from(2);
    }
    let chain = match DefaultCredential::new() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("token: {e}");
            return ExitCode::FAILURE;
        }
    };
    // What an SDK client holds.
    let credential: Arc<dyn TokenCredential> = chain.clone();
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    match credential.get_token(&scopes, None).await {
        Ok(token) => {
            let line = serde_json::json!({
                "source": chain.source().map(|s| s.name()),
                "expires_on": azure_core::time::to_rfc3339(&token.expires_on),
                "expires_on_unix": token.expires_on.unix_timestamp(),
            });
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("token: {e}");
            ExitCode::FAILURE
        }
    }
}
