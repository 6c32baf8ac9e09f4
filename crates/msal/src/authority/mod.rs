//! Authorities: which identity provider (and tenant) an app signs in against.
//!
//! - [`Authority`] parses and canonicalizes an authority URL and knows its
//!   kind ([`AuthorityKind`]): Entra ID (any cloud, any tenant), Azure AD B2C
//!   (with its policy), ADFS, Entra External ID (CIAM), or any OpenID Connect
//!   issuer.
//!
//! The OpenID configuration and instance discovery are fetched once per
//! process and per authority (crate-internal `metadata`), with the built-in
//! cloud alias table (spec §3.3) sparing the request for known clouds.

crate::internal_mod!(aliases);
crate::internal_mod!(metadata);
mod parse;
mod region;

crate::internal_use!(metadata::{AuthorityResolver, OidcMetadata});
pub use parse::{Authority, AuthorityKind, AzureCloud, IntoAuthority};
pub use region::{DEFAULT_IMDS_ORIGIN, REGION_NAME_VAR, Region};
pub(crate) use region::{normalize as normalize_region, regional_token_endpoint};

/// The tenant id of personal Microsoft accounts.
pub const MSA_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// The default authority: any work, school or personal Microsoft account.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com/common";
