//! # msal-cache-file: a token cache file shared between processes
//!
//! Desktop and command-line apps keep their MSAL token cache in a file, often
//! one file shared by several processes and by tools built on other MSALs
//! (MSAL Python with msal-extensions, the Azure CLI's
//! `msal_token_cache.json`). [`FileCache`] plugs into msal's cache access
//! hooks and keeps that file safe:
//!
//! - **One writer at a time, across processes and languages.** The lock is
//!   `<file>.lockfile`, taken by exclusive creation *and* `flock`, holding
//!   `"<pid> <argv[0]>"` and deleted on release: the protocol of
//!   msal-extensions, with or without `portalocker`. It is held from
//!   `before_access` to `after_access`, so a read-modify-write is whole.
//!   Waiting is bounded ([`Error::LockTimeout`]); a lock file left by a
//!   process that died is taken over.
//! - **No lost or torn writes.** A write goes to a temporary file in the same
//!   directory, is fsynced and renamed over the file; the directory is
//!   fsynced. Readers never see half a file. A write never follows a read
//!   that failed: a corrupt or truncated file is reported
//!   ([`Error::Corrupt`], with the path) and left alone until the caller
//!   moves it aside with [`FileCache::quarantine`].
//! - **Python sees our writes.** After the rename the file's mtime is set
//!   (slightly ahead of) now, because msal-extensions reloads only when the
//!   mtime is newer than its last read.
//! - **Private.** The file is created 0600, a missing directory 0700.
//! - **Encrypted at rest by default** ([`Encryption::Auto`]): AES-256-GCM
//!   with a random key kept in the OS secret store (see [`Encryption`] and
//!   [`KeyringBackend`]); the file format is in [`envelope`]. Plain text only
//!   when asked for ([`Encryption::Plaintext`]), and then it is byte for
//!   byte the JSON that MSAL Python and the Azure CLI write.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use msal::storage::{CacheAccess, CacheAccessArgs};
//! use msal_cache_file::{Encryption, FileCache};
//!
//! // Shared with the Azure CLI: plain text, by explicit choice.
//! let cache = FileCache::builder("/home/ada/.azure/msal_token_cache.json")
//!     .encryption(Encryption::Plaintext)
//!     .build()?;
//! // What the engine does around every cache access:
//! let args = CacheAccessArgs::new(None, false);
//! let reloaded = cache.before_access(args).await?; // Some(json) if another process wrote
//! // ... read or change the in-memory cache ...
//! cache.after_access(args.after(true, None), Some(b"{}")).await?; // written, lock released
//! # Ok(()) }
//! ```
//!
//! What was tested on which platform is listed in this crate's section of the
//! repository README.

mod buf;
mod builder;
mod cache;
mod default_path;
pub mod envelope;
mod error;
mod fsio;
mod hooks;
#[cfg(target_os = "linux")]
mod kernel_keyring;
mod keystore;
mod lock;

pub use builder::{
    DEFAULT_KEYRING_SERVICE, DEFAULT_LOCK_TIMEOUT, DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_HOLD,
    Encryption, FileCacheBuilder,
};
pub use cache::FileCache;
pub use default_path::{
    CLI_CACHE_DIR, CLI_CACHE_FILE, CLI_PLAINTEXT_CACHE_FILE, cli_default_cache_path,
};
pub use envelope::CacheKey;
pub use error::{CorruptReason, Error, file_cache_error};
pub use keystore::KeyringBackend;
