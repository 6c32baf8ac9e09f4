//! What every command builds from the global options: the HTTP client (extra
//! roots, proxy), the cache file and the application.
//!
//! Only what a command uses is built: the HTTP client (reqwest, with the
//! system's root certificates read from disk) is made at the first request,
//! so `accounts`, `logout` and a `token` served from the cache never build
//! it; the cache file's keyring is opened by msal-cache-file when a key is
//! first needed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use msal::error::{TransportError, TransportErrorKind};
use msal::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse};
use msal::http::{ProxyConfig, ReqwestHttpClient, ReqwestHttpClientBuilder};
use msal::storage::{CacheAccess, CacheAccessArgs, StorageError};
use msal::{PublicClientApplication, PublicClientApplicationBuilder};
use msal_cache_file::{Encryption, FileCache};

use crate::cli::{DEFAULT_CLIENT_ID, GlobalOpts};
use crate::error::{CliError, CliResult};

/// The global options, and what is built from them.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// The options as given.
    pub(crate) g: GlobalOpts,
    /// How many HTTP clients this context's commands actually built.
    http_built: Arc<AtomicUsize>,
}

impl Ctx {
    /// A context for `g`.
    pub(crate) fn new(g: GlobalOpts) -> Self {
        Self {
            g,
            http_built: Arc::default(),
        }
    }

    /// How many HTTP clients were built so far (each at its first request).
    #[cfg(test)]
    pub(crate) fn http_clients_built(&self) -> usize {
        self.http_built.load(Ordering::SeqCst)
    }

    /// The client id: `--client-id`, else the default public client.
    pub(crate) fn client_id(&self) -> &str {
        self.g
            .client_id
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .unwrap_or(DEFAULT_CLIENT_ID)
    }

    /// The HTTP client: the OS roots plus `SSL_CERT_FILE`/`SSL_CERT_DIR` plus
    /// `--ca-file`; the proxy from `--proxy` or the environment. `--ca-file`
    /// is checked now (a small file); the client itself, with its root
    /// store, is built at the first request.
    pub(crate) fn http_client(&self) -> CliResult<Arc<dyn HttpClient>> {
        let mut extra_root = None;
        if let Some(path) = &self.g.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                CliError::other(format!("cannot read --ca-file {}: {e}", path.display()))
            })?;
            if !contains(&pem, b"-----BEGIN CERTIFICATE-----") {
                return Err(CliError::other(format!(
                    "--ca-file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    path.display()
                )));
            }
            extra_root = Some(pem);
        }
        let proxy = match self.g.proxy.as_deref().map(str::trim) {
            None => None,
            Some(p) if p.eq_ignore_ascii_case("none") => Some(ProxyConfig::None),
            Some(p) => {
                check_proxy(p)?;
                Some(ProxyConfig::Url(p.to_owned()))
            }
        };
        Ok(Arc::new(LazyHttpClient {
            extra_root,
            proxy,
            client: OnceLock::new(),
            built: self.http_built.clone(),
        }))
    }

    /// A builder of the client [`http_client`](Self::http_client) makes
    /// (`--ca-file`, `--proxy`), for a command that adds to it (a TLS client
    /// certificate) and so builds its own client at once.
    pub(crate) fn http_client_builder(&self) -> CliResult<ReqwestHttpClientBuilder> {
        let mut builder = ReqwestHttpClient::builder();
        if let Some(path) = &self.g.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                CliError::other(format!("cannot read --ca-file {}: {e}", path.display()))
            })?;
            if !contains(&pem, b"-----BEGIN CERTIFICATE-----") {
                return Err(CliError::other(format!(
                    "--ca-file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    path.display()
                )));
            }
            builder = builder.add_root_certificate_pem(&pem);
        }
        match self.g.proxy.as_deref().map(str::trim) {
            None => {}
            Some(p) if p.eq_ignore_ascii_case("none") => builder = builder.proxy(ProxyConfig::None),
            Some(p) => {
                check_proxy(p)?;
                builder = builder.proxy(ProxyConfig::Url(p.to_owned()));
            }
        }
        Ok(builder)
    }

    /// `--cache`, else `msal/cache.bin` (`cache.json` with `--plaintext`) in
    /// the user's local data directory (the location is shared through
    /// msal-cache-file so that other programs find the CLI's cache).
    pub(crate) fn cache_path(&self) -> CliResult<PathBuf> {
        if let Some(p) = &self.g.cache {
            return Ok(p.clone());
        }
        msal_cache_file::cli_default_cache_path(self.g.plaintext).ok_or_else(|| {
            CliError::other(
                "cannot find the user's data directory (is HOME set?); pass --cache PATH",
            )
        })
    }

    /// The cache file: encrypted with a key from the OS keyring, or plain
    /// JSON with `--plaintext`.
    pub(crate) fn file_cache(&self) -> CliResult<FileCache> {
        let encryption = if self.g.plaintext {
            Encryption::Plaintext
        } else {
            Encryption::Auto
        };
        let path = self.cache_path()?;
        FileCache::builder(&path)
            .encryption(encryption)
            .build()
            .map_err(|e| CliError::other(format!("cache file {}: {e}", path.display())))
    }

    /// The public client application for `--authority` and `--client-id`,
    /// caching in the cache file.
    pub(crate) fn public_app(&self) -> CliResult<PublicClientApplication> {
        self.public_app_builder()?.build().map_err(CliError::from)
    }

    /// The builder of [`public_app`](Self::public_app), for a command that
    /// sets more (the browser of `login`).
    pub(crate) fn public_app_builder(&self) -> CliResult<PublicClientApplicationBuilder> {
        Ok(self
            .public_app_base()?
            .cache_access(Arc::new(OneCopy(self.file_cache()?))))
    }

    /// The builder for `--authority` and `--client-id` with the HTTP client
    /// and no cache: the caller says where the cache is.
    pub(crate) fn public_app_base(&self) -> CliResult<PublicClientApplicationBuilder> {
        let builder = PublicClientApplication::builder(self.client_id());
        let builder = if self.g.oidc {
            builder.oidc_authority(&self.g.authority)
        } else {
            builder.authority(self.g.authority.as_str())
        };
        Ok(builder.http_client(self.http_client()?))
    }
}

/// The cache file as the hooks of a public client, which keeps one copy of
/// the whole cache in memory: every access is tracked as the unpartitioned
/// one. (The file tracks each partition key on its own, so a `token` or
/// `logout --account` after the account listing would be handed the whole
/// document again, and parse it again, for the account's partition.)
pub(crate) struct OneCopy(pub(crate) FileCache);

impl OneCopy {
    fn unpartitioned(args: CacheAccessArgs<'_>) -> CacheAccessArgs<'static> {
        CacheAccessArgs::new(None, args.is_app_cache)
            .with_partitioned(args.partitioned)
            .after(args.has_state_changed, args.suggested_expiry)
    }
}

impl CacheAccess for OneCopy {
    fn before_access<'a>(
        &'a self,
        args: CacheAccessArgs<'a>,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        self.0.before_access(Self::unpartitioned(args))
    }

    fn after_access<'a>(
        &'a self,
        args: CacheAccessArgs<'a>,
        document: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        self.0.after_access(Self::unpartitioned(args), document)
    }
}

/// A reqwest client built at its first request (building one reads the
/// system's root certificates: tens of files).
struct LazyHttpClient {
    extra_root: Option<Vec<u8>>,
    proxy: Option<ProxyConfig>,
    /// The client, or why it could not be built.
    client: OnceLock<Result<ReqwestHttpClient, String>>,
    /// Counts builds, for the context.
    built: Arc<AtomicUsize>,
}

impl LazyHttpClient {
    fn get(&self) -> Result<&ReqwestHttpClient, TransportError> {
        self.client
            .get_or_init(|| {
                self.built.fetch_add(1, Ordering::SeqCst);
                let mut builder = ReqwestHttpClient::builder();
                if let Some(pem) = &self.extra_root {
                    builder = builder.add_root_certificate_pem(pem);
                }
                if let Some(proxy) = &self.proxy {
                    builder = builder.proxy(proxy.clone());
                }
                builder.build().map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| TransportError::new(TransportErrorKind::Other, e.clone()))
    }
}

impl HttpClient for LazyHttpClient {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        match self.get() {
            Ok(client) => client.execute(request),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
}

/// `--proxy` is checked now, as the client will read it (`host:port` means
/// `http://host:port`), so that a bad value fails every command, also one
/// that makes no request. The message never shows the value: it may hold a
/// password.
fn check_proxy(raw: &str) -> CliResult {
    let url = if raw.contains("://") {
        url::Url::parse(raw)
    } else {
        url::Url::parse(&format!("http://{raw}"))
    };
    match url {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(u) if matches!(u.scheme(), "http" | "https") => Err(CliError::other(
            "--proxy (MSAL_PROXY) has no host; expected http://host:port",
        )),
        Ok(u) => Err(CliError::other(format!(
            "--proxy (MSAL_PROXY) uses the scheme {:?}, which msal does not support; use an http:// or https:// proxy",
            u.scheme()
        ))),
        Err(e) => Err(CliError::other(format!(
            "--proxy (MSAL_PROXY) is not a usable proxy URL ({e}); expected http://host:port"
        ))),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_proxy_is_refused_without_showing_it() {
        assert!(check_proxy("http://proxy.corp:3128").is_ok());
        assert!(check_proxy("proxy.corp:3128").is_ok());
        for bad in [
            "http://user:hunter2@[::1",
            "socks5://user:hunter2@h:1",
            "http://",
        ] {
            let e = check_proxy(bad).unwrap_err();
            assert!(!e.message.contains("hunter2"), "{}", e.message);
            assert!(e.message.contains("--proxy"), "{}", e.message);
        }
    }
}
