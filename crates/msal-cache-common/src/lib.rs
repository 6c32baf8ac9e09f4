//! What the shared-store crates (`msal-cache-redis`, `msal-cache-postgres`)
//! have in common, written and tested once:
//!
//! - [`Layered`]: a [`CacheStore`](msal::storage::CacheStore) made of an
//!   optional in-memory L1 ([`MemoryStore`](msal::storage::MemoryStore)) in
//!   front of a shared [`RemoteBackend`], configured by [`LayerConfig`];
//! - [`crypto`]: AES-256-GCM encryption of stored values ([`EncryptionKey`]);
//! - [`Health`]: rides out an unavailable server, logging the outage once.
//!
//! Why a crate of its own rather than a module of `msal`: the core stays free
//! of cryptography dependencies and of feature flags that only server stores
//! need, and both backends (and any third-party one) share one tested
//! implementation of the failure policy instead of two copies.

pub mod crypto;
pub mod health;
pub mod layered;

pub use crypto::{Cipher, EncryptionKey};
pub use health::Health;
pub use layered::{
    DEFAULT_OPERATION_TIMEOUT, DEFAULT_RETRY_INTERVAL, LayerConfig, Layered, RemoteBackend, Stored,
};
