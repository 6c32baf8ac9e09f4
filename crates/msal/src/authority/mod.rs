//! Authorities: which identity provider (and tenant) an app signs in against.
//!
//! - [`Authority`] parses and canonicalizes an authority URL and knows its
//!   kind ([`AuthorityKind`]): Entra ID (any cloud, any tenant), Azure AD B2C
//!   (with its policy), ADFS, Entra External ID (CIAM), or any OpenID Connect
//!   issuer.
//! - [`aliases`]: the built-in cloud alias table (spec §3.3).
//! - [`metadata`]: the OpenID configuration and instance discovery, fetched
//!   once per process and per authority, and the realm and environment lists
//!   the cache is searched with (spec §3.4, §11).

pub mod aliases;
pub mod metadata;
mod parse;

pub use metadata::{AuthorityResolver, OidcMetadata};
pub use parse::{Authority, AuthorityKind, AzureCloud, IntoAuthority};

/// The tenant id of personal Microsoft accounts.
pub const MSA_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// The default authority: any work, school or personal Microsoft account.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com/common";
