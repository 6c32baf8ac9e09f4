//! Applications: what a developer builds and calls, one home each.
//!
//! - [`PublicClientApplication`]: desktop, CLI and mobile apps (no secret).
//! - [`ConfidentialClientApplication`]: web apps, web APIs and daemons (with a credential).
//! - Managed identity has its own home, [`crate::managed_identity`].
//!
//! Each wraps the one engine ([`crate::engine`]); its flows are in
//! [`crate::flows`].

mod confidential;
mod public;
mod settings;

pub use confidential::{ConfidentialClientApplication, ConfidentialClientApplicationBuilder};
pub use public::{PublicClientApplication, PublicClientApplicationBuilder};

pub(crate) fn to_strings<S: AsRef<str>>(scopes: &[S]) -> Vec<String> {
    scopes.iter().map(|s| s.as_ref().to_owned()).collect()
}
