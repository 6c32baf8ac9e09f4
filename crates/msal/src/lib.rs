//! # msal: the Microsoft Authentication Library for Rust
//!
//! Sign users and apps in against Microsoft Entra ID (and B2C, ADFS, CIAM or
//! any OpenID Connect provider), cache their tokens in the unified MSAL cache
//! format shared with MSAL Python, .NET, Node and Go, and hand them back
//! silently.
//!
//! ## Map of the crate
//! - [`PublicClientApplication`] ([`app`]): desktop, CLI and mobile apps;
//!   every flow is a request value in [`flows`] that you `.await`.
//! - [`ConfidentialClientApplication`] ([`app`]): web apps, web APIs and
//!   daemons (client credentials, on-behalf-of, auth code), with a cache
//!   partitioned per tenant, assertion and user on any [`storage`] backend.
//! - [`authority`]: Entra (any cloud/tenant), B2C, ADFS, CIAM, OIDC issuers;
//!   metadata and instance discovery.
//! - [`protocol`]: the OAuth wire format (no cache, no network);
//!   [`pkce`], [`browser`]: pieces of the interactive flow.
//! - [`cache`]: the token cache (entries, keys, indexes, the JSON document).
//! - [`storage`]: where serialized caches live ([`storage::CacheStore`]).
//! - [`http`], [`clock`]: the I/O seams, swapped in tests.
//! - [`secret`]: types that redact tokens and secrets.
//! - [`credentials`]: how a confidential client proves who it is (secret, certificate, assertion).
//! - [`managed_identity`]: tokens for code running on Azure (managed and workload identity).
//! - [`error`]: the [`Error`] type.
//!
//! ## The usual shape of an app
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

pub mod app;
pub mod authority;
pub mod browser;
pub mod cache;
pub mod clock;
pub mod credentials;
pub mod error;
pub mod flows;
pub mod http;
pub mod managed_identity;
pub mod pkce;
pub mod protocol;
pub mod secret;
pub mod storage;
pub mod transport;

pub use app::{
    AuthenticationResult, ConfidentialClientApplication, ConfidentialClientApplicationBuilder,
    PublicClientApplication, PublicClientApplicationBuilder, TokenSource,
};
pub use authority::Authority;
pub use cache::Account;
pub use error::{Error, Result};
