//! What the shared-store crates (`msal-cache-redis`, `msal-cache-postgres`)
//! have in common, written and tested once:
//!
//! - [`Layered`]: a [`CacheStore`](msal::storage::CacheStore) made of an
//!   optional in-memory L1 ([`MemoryStore`](msal::storage::MemoryStore)) in
//!   front of a shared [`RemoteBackend`], configured by [`LayerConfig`];
//! - [`crypto`]: AES-256-GCM encryption of stored values ([`EncryptionKey`]);
//! - [`Health`]: rides out an unavailable server, logging the outage once;
//! - [`coherence`]: keeps the L1s of several instances coherent, from an
//!   [`InvalidationListener`] each backend provides;
//! - [`time`]: overflow-free expiry arithmetic and the [`MAX_TTL`] cap.
//!
//! Why a crate of its own rather than a module of `msal`: the core stays free
//! of cryptography dependencies and of feature flags that only server stores
//! need, and both backends (and any third-party one) share one tested
//! implementation of the failure policy instead of two copies.

pub mod coherence;
pub mod crypto;
pub mod health;
pub mod layered;
pub mod time;

pub use coherence::{InvalidationListener, InvalidationSink, InvalidationStatus};
pub use crypto::{Cipher, EncryptionKey};
pub use health::Health;
pub use layered::{
    DEFAULT_OPERATION_TIMEOUT, DEFAULT_RETRY_INTERVAL, LayerConfig, Layered, RemoteBackend, Stored,
};
pub use time::MAX_TTL;

/// The [`LayerConfig`] setters of a store builder that keeps its layer
/// settings in a `layers: LayerConfig` field, so every backend's builder
/// offers the same ones with the same meaning. `$server` names the shared
/// store in the docs (`"Redis"`, `"the database"`).
#[macro_export]
macro_rules! layer_setters {
    ($server:literal) => {
        #[doc = concat!("Puts an in-memory L1 in front of ", $server, " (see [`LayerConfig::l1`](", "msal_cache_common::LayerConfig::l1)).")]
        pub fn l1(mut self, l1: ::msal::storage::MemoryStore) -> Self {
            self.layers = self.layers.l1(l1);
            self
        }

        #[doc = concat!("Encrypts the values stored in ", $server, " (AES-256-GCM, a random nonce per value, the partition key bound as associated data).")]
        pub fn encryption_key(mut self, key: $crate::EncryptionKey) -> Self {
            self.layers = self.layers.encryption_key(key);
            self
        }

        #[doc = concat!("Also decrypts values in ", $server, " with `key`, a key being rotated out (new values are sealed with the [`encryption_key`](Self::encryption_key)); call once per old key. See [`crypto`](msal_cache_common::crypto) for the rotation steps.")]
        pub fn previous_encryption_key(mut self, key: $crate::EncryptionKey) -> Self {
            self.layers = self.layers.previous_encryption_key(key);
            self
        }

        /// msal's clock, for expiries and the retry interval (default: the system clock).
        pub fn clock(mut self, clock: ::std::sync::Arc<dyn ::msal::clock::Clock>) -> Self {
            self.layers = self.layers.clock(clock);
            self
        }

        #[doc = concat!("The longest one call to ", $server, " may take (default 2 s).")]
        pub fn operation_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.layers = self.layers.operation_timeout(timeout);
            self
        }

        #[doc = concat!("While ", $server, " is unreachable, how often a call tries it again (default 5 s).")]
        pub fn retry_interval(mut self, interval: ::std::time::Duration) -> Self {
            self.layers = self.layers.retry_interval(interval);
            self
        }

        /// `true` (default): ride out an outage; `false`: report it as
        /// [`StorageErrorKind::Unavailable`](msal::storage::StorageErrorKind::Unavailable).
        pub fn fail_open(mut self, fail_open: bool) -> Self {
            self.layers = self.layers.fail_open(fail_open);
            self
        }
    };
}

/// Implements [`CacheStore`](msal::storage::CacheStore) for a store type
/// that is a [`Layered`] in a `layered` field: every call goes through the
/// layers (L1, encryption, outage policy).
#[macro_export]
macro_rules! layered_cache_store {
    ($store:ty) => {
        impl ::msal::storage::CacheStore for $store {
            fn load(
                &self,
                partition: &str,
            ) -> ::msal::http::BoxFuture<
                '_,
                ::std::result::Result<Option<Vec<u8>>, ::msal::storage::StorageError>,
            > {
                self.layered.load(partition)
            }

            fn save(
                &self,
                partition: &str,
                document: Vec<u8>,
                hint: ::msal::storage::SaveHint,
            ) -> ::msal::http::BoxFuture<'_, ::std::result::Result<(), ::msal::storage::StorageError>>
            {
                self.layered.save(partition, document, hint)
            }

            fn remove(
                &self,
                partition: &str,
            ) -> ::msal::http::BoxFuture<'_, ::std::result::Result<(), ::msal::storage::StorageError>>
            {
                self.layered.remove(partition)
            }
        }
    };
}
