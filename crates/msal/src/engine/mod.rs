//! The one token engine behind every kind of application.
//!
//! - [`acquire`]: the single path of every cached flow (silent, client
//!   credentials, on-behalf-of, managed identity): look in the cache, serve
//!   a fresh token, refresh one that is due while keeping it as a fallback,
//!   and let one caller fetch while the others wait for it.
//! - [`CacheIo`]: the cache of one application, with its hooks or its
//!   in-memory partitions, and the rules of every access (never write after
//!   a failed read, always call `after_access`).
//! - [`Engine`]: what an OAuth client adds: the authority, the transport,
//!   the client credential, and the write-through of a token response.
//!
//! A flow module (`crate::flows`) adds only its request and its cache key.

mod acquire;
mod cache_io;
mod client;
mod mtls;
mod partitions;
mod region;
mod result;
mod single_flight;
mod targets;

pub(crate) use acquire::{Found, TokenFlow, acquire, classify};
pub(crate) use cache_io::{CacheIo, Partition};
pub(crate) use client::{ClientAuthentication, Engine, EngineConfig, Store};
pub(crate) use mtls::{MTLS_POP, Mtls};
pub use result::{AuthenticationResult, TokenSource};
pub(crate) use single_flight::SingleFlight;
pub(crate) use targets::Target;

/// `<client_id>_<tenant>_AppTokenCache` (spec §7.3; `tenant` may be empty):
/// the partition key of a confidential client's app tokens in one tenant.
pub fn app_partition_key(client_id: &str, tenant: &str) -> String {
    format!("{client_id}_{tenant}_AppTokenCache")
}
