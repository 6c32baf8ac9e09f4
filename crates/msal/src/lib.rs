//! # msal: the Microsoft Authentication Library for Rust
//!
//! Sign users and apps in against Microsoft Entra ID (and B2C, ADFS, CIAM or
//! any OpenID Connect provider), cache their tokens in the unified MSAL cache
//! format shared with MSAL Python, .NET, Node and Go, and hand them back
//! silently.
//!
//! The package is `msal-core`; code imports it as `msal`:
//!
//! ```toml
//! [dependencies]
//! msal = { package = "msal-core", version = "0.1" }
//! ```
//!
//! ## One kind of application at a time
//!
//! **Desktop and command-line apps** ([`PublicClientApplication`]): the
//! system browser with a loopback redirect and PKCE, the device code flow,
//! silent tokens from the cache.
//!
//! ```no_run
//! # async fn run() -> msal::Result<()> {
//! let app = msal::PublicClientApplication::builder("11111111-2222-3333-4444-555555555555")
//!     .authority("https://login.microsoftonline.com/organizations")
//!     .build()?;
//! let token = match app.accounts().await?.first() {
//!     Some(account) => match app.acquire_token_silent(&["User.Read"], account).await {
//!         Ok(t) => t,
//!         Err(e) if e.is_ui_required() => app.acquire_token_interactive(&["User.Read"]).await?,
//!         Err(e) => return Err(e),
//!     },
//!     None => app.acquire_token_with_device_code(&["User.Read"], |i| eprintln!("{}", i.message)).await?,
//! };
//! # let _ = token; Ok(()) }
//! ```
//!
//! **Daemons and services** ([`ConfidentialClientApplication`], client
//! credentials with a secret, a certificate or an assertion):
//!
//! ```no_run
//! # async fn run(secret: String) -> msal::Result<()> {
//! use msal::ConfidentialClientApplication;
//! use msal::credentials::ClientCredential;
//! use msal::secret::ClientSecret;
//! let app = ConfidentialClientApplication::builder(
//!     "11111111-2222-3333-4444-555555555555",
//!     ClientCredential::secret(ClientSecret::new(secret)),
//! )
//! .authority("https://login.microsoftonline.com/contoso.onmicrosoft.com")
//! .build()?;
//! let token = app.acquire_token_for_client(&["https://graph.microsoft.com/.default"]).await?;
//! # let _ = token; Ok(()) }
//! ```
//!
//! **Web APIs calling other APIs** (on-behalf-of, cached per incoming token):
//!
//! ```no_run
//! # async fn run(app: msal::ConfidentialClientApplication, incoming: String) -> msal::Result<()> {
//! use msal::secret::Assertion;
//! let token = app
//!     .acquire_token_on_behalf_of(&["https://graph.microsoft.com/User.Read"], Assertion::new(incoming))
//!     .await?;
//! # let _ = token; Ok(()) }
//! ```
//!
//! **Code running on Azure** ([`managed_identity`]: managed identity and
//! workload identity, no secret):
//!
//! ```no_run
//! # async fn run() -> msal::Result<()> {
//! use msal::managed_identity::{ManagedIdentity, ManagedIdentityApplication};
//! let app = ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned).build()?;
//! let token = app.acquire_token_for_resource("https://vault.azure.net").await?;
//! # let _ = token; Ok(()) }
//! ```
//!
//! Every flow returns an [`AuthenticationResult`]; every failure is an
//! [`Error`] whose variant says what to do next.
//!
//! ## Where tokens are kept
//! A public client keeps its cache in memory unless given
//! [`storage::CacheAccess`] hooks (the `msal-cache-file` crate keeps a file
//! shared with MSAL Python and the Azure CLI). A confidential client keeps
//! its partitions in memory, bounded, unless given a store
//! ([`storage::StoreAccess`] over `msal-cache-redis`, `msal-cache-postgres` or
//! your own [`storage::CacheStore`]).
//!
//! ## Features
//! - `reqwest` (default): the HTTP client ([`http::ReqwestHttpClient`]:
//!   reqwest with rustls, the OS trust store, proxies). Without it, pass an
//!   [`http::HttpClient`] of your own to every builder.
//! - `test-internals`: **not part of the API**. It exposes msal's internals
//!   to its own integration tests, with no semver guarantee; never enable it.
//!
//! ## Stability
//! The public API is listed in `api/msal-core.txt` in the repository and
//! checked in CI: every change to it is a decision. Types that may grow are
//! `#[non_exhaustive]`.

#![cfg_attr(docsrs, feature(doc_cfg))]

/// Declares a module that is crate-private, except with the
/// `test-internals` feature, where msal's own integration tests reach it.
macro_rules! internal_mod {
    ($(#[$attr:meta])* $name:ident) => {
        $(#[$attr])*
        #[cfg(feature = "test-internals")]
        #[doc(hidden)]
        #[allow(missing_docs, unreachable_pub)]
        pub mod $name;
        $(#[$attr])*
        #[cfg(not(feature = "test-internals"))]
        #[allow(unreachable_pub)]
        pub(crate) mod $name;
    };
}

/// A `use` that is crate-private, except with the `test-internals` feature.
macro_rules! internal_use {
    ($($path:tt)*) => {
        #[cfg(feature = "test-internals")]
        #[doc(hidden)]
        pub use $($path)*;
        #[cfg(not(feature = "test-internals"))]
        #[allow(unused_imports)]
        pub(crate) use $($path)*;
    };
}
pub(crate) use {internal_mod, internal_use};

mod app;
pub mod authority;
pub mod browser;
pub mod cache;
pub mod clock;
pub mod credentials;
mod engine;
pub mod error;
mod flows;
pub mod http;
pub mod managed_identity;
pub mod secret;
pub mod storage;

internal_mod!(pkce);
internal_mod!(protocol);
internal_mod!(transport);

pub use app::{
    ConfidentialClientApplication, ConfidentialClientApplicationBuilder, PublicClientApplication,
    PublicClientApplicationBuilder,
};
pub use authority::Authority;
pub use cache::Account;
pub use engine::{AuthenticationResult, TokenSource};
pub use error::{Error, Result};
pub use flows::{
    AuthorizationCodeRequest, AuthorizationRequest, AuthorizationUrlRequest,
    ClientCredentialsRequest, DEFAULT_INTERACTIVE_TIMEOUT, DeviceCodeRequest, InteractiveRequest,
    OnBehalfOfRequest, RefreshTokenRequest, SilentRequest, UsernamePasswordRequest,
};
pub use protocol::authorize::{Prompt, ResponseMode};
pub use protocol::device_code::DeviceCodeInfo;
pub use protocol::id_token::IdTokenClaims;
