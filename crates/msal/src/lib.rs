//! # msal: the Microsoft Authentication Library for Rust
//!
//! Sign users and apps in against Microsoft Entra ID (and B2C, ADFS, CIAM or
//! any OpenID Connect provider), cache their tokens in the unified MSAL cache
//! format shared with MSAL Python, .NET, Node and Go, and hand them back
//! silently.
//!
//! ## Map of the crate
//! - [`cache`]: the token cache (entries, keys, indexes, the JSON document).
//! - [`storage`]: where serialized caches live ([`storage::CacheStore`]).
//! - [`http`], [`clock`]: the I/O seams, swapped in tests.
//! - [`secret`]: types that redact tokens and secrets.
//! - [`managed_identity`]: tokens for code running on Azure (managed and workload identity).
//! - [`error`]: the [`Error`] type.

pub mod cache;
pub mod clock;
pub mod error;
pub mod http;
pub mod managed_identity;
pub mod secret;
pub mod storage;
pub mod transport;

pub use error::{Error, Result};
