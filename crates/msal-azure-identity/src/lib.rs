//! # msal-azure-identity: msal credentials for the Azure SDK for Rust
//!
//! Every Azure SDK for Rust client (Key Vault, Storage, Cosmos DB, ...)
//! takes an `Arc<dyn azure_core::credentials::TokenCredential>`. This crate
//! gives it msal's flows and msal's persistent, shared token cache:
//!
//! | Credential | Tokens of | From |
//! |---|---|---|
//! | [`SignedInUserCredential`] | the user signed in with `msal login` | the `msal` CLI's cache file, silently (no process spawned) |
//! | [`AzureCliCacheCredential`] | the user signed in with `az login` | the Azure CLI's own files, under its lock protocol |
//! | [`ConfidentialClientCredential`] | an app: secret, certificate or assertion | the identity provider, cached |
//! | [`EnvironmentCredential`] | a service principal from `AZURE_*` variables | the same |
//! | [`WorkloadIdentityCredential`] | a federated token file (AKS, CI) | the same |
//! | [`ManagedIdentityCredential`] | the Azure host's managed identity | its identity endpoint (IMDS, App Service, ...) |
//! | [`DefaultCredential`] | the first of the above that is there | see [`ChainStep`] |
//!
//! What the SDK relies on holds for all of them:
//! - scopes are passed on as given (the SDK asks for `<resource>/.default`;
//!   a managed identity takes exactly one);
//! - a token handed out has at least five minutes left ([`MIN_LIFETIME_SECS`]):
//!   the SDK's bearer policy asks again under five minutes, and gets a
//!   refreshed token, never the nearly expired one again;
//! - tenant and claims-related settings (client capabilities) are fixed when
//!   the credential is built: `TokenRequestOptions` carries neither;
//! - concurrent `get_token` calls for the same scopes make one request;
//! - a token handed out is handed out again, without going through msal's
//!   cache, only while all of the above still holds for it and (for a
//!   signed-in user) the shared cache file is unchanged since it was read,
//!   so a sign-out or a refresh by another process is seen at once;
//! - errors are `azure_core::Error`s of kind `Credential` whose message
//!   starts with the credential's name and keeps msal's own (a user who must
//!   sign in again is told to run `msal login` or `az login`);
//! - no token or secret reaches a log, `Debug` or an error.
//!
//! ```no_run
//! use std::sync::Arc;
//! use azure_core::credentials::TokenCredential;
//! use azure_security_keyvault_secrets::SecretClient;
//! use msal_azure_identity::DefaultCredential;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // On a laptop after `msal login`, in CI with AZURE_* variables, on an
//! // Azure VM with its managed identity: the same code.
//! let credential: Arc<dyn TokenCredential> = DefaultCredential::new()?;
//! let client = SecretClient::new("https://contoso.vault.azure.net/", credential, None)?;
//! let secret = client.get_secret("db-password", None).await?;
//! # let _ = secret; Ok(()) }
//! ```
//!
//! Tokens outlive the process: a user's live in the `msal` CLI's (or the
//! Azure CLI's) cache file, and app and managed identity tokens go to a
//! [`msal_cache_file::FileCache`] when one is given (`cache_access`,
//! [`DefaultCredentialBuilder::app_token_cache`]), so the next run of a CLI
//! or cron job makes no request.

mod app;
mod azure_cli;
mod chain;
mod env;
mod error;
mod managed;
mod memo;
mod session;
mod token;
mod user;

pub use app::{
    ConfidentialClientCredential, ConfidentialClientCredentialBuilder, EnvironmentCredential,
    EnvironmentCredentialBuilder, WorkloadIdentityCredential, WorkloadIdentityCredentialBuilder,
};
pub use azure_cli::{
    AZURE_CLI_CLIENT_ID, AZURE_CLI_TOKEN_CACHE_FILE, AZURE_PROFILE_FILE, AzureCliCacheCredential,
    AzureCliCacheCredentialBuilder,
};
pub use chain::{ChainStep, DefaultCredential, DefaultCredentialBuilder};
pub use error::{ChainAttempt, ChainError};
pub use managed::{
    DEFAULT_IMDS_PROBE_TIMEOUT, ManagedIdentityCredential, ManagedIdentityCredentialBuilder,
};
pub use token::MIN_LIFETIME_SECS;
pub use user::{
    MSAL_CLI_AUTHORITY, MSAL_CLI_CLIENT_ID, SignedInUserCredential, SignedInUserCredentialBuilder,
};

/// The msal crate this one is built on (for [`msal::credentials::ClientCredential`],
/// [`msal::managed_identity::Environment`], the HTTP and clock seams).
pub use msal;
/// The cache file crate (for [`msal_cache_file::FileCache`]).
pub use msal_cache_file;
