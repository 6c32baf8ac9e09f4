//! Applications: what a developer builds and calls.
//!
//! - [`PublicClientApplication`]: desktop, CLI and mobile apps (no secret).
//! - [`ConfidentialClientApplication`]: web apps, web APIs and daemons (with a credential).
//! - [`AuthenticationResult`]: what every flow returns.
//! - The shared engine (crate-internal): token endpoint + cache write-through,
//!   the silent lookup, the cache hooks and single-flight refreshes, reused
//!   by the confidential client and managed identity.

mod cache_io;
mod confidential;
mod engine;
mod public;
mod result;
mod settings;
mod silent;
mod single_flight;

pub use cache_io::app_partition_key;
pub use confidential::{
    AuthorizationCodeRequest, AuthorizationRequest, AuthorizationUrlRequest,
    ClientCredentialsRequest, ConfidentialClientApplication, ConfidentialClientApplicationBuilder,
    OnBehalfOfRequest, user_assertion_hash,
};
pub use public::{PublicClientApplication, PublicClientApplicationBuilder};
pub use result::{AuthenticationResult, TokenSource};

#[allow(unused_imports)]
pub(crate) use cache_io::{CacheIo, Partition};
#[allow(unused_imports)]
pub(crate) use engine::{ClientAuthentication, Engine, EngineConfig, Store};
pub(crate) use silent::SilentParams;
