//! What every command builds from the global options: the HTTP client (extra
//! roots, proxy), the cache file and the application.

use std::path::PathBuf;
use std::sync::Arc;

use msal::http::HttpClient;
use msal::http::{ProxyConfig, ReqwestHttpClient, ReqwestHttpClientBuilder};
use msal::{PublicClientApplication, PublicClientApplicationBuilder};
use msal_cache_file::{Encryption, FileCache};

use crate::cli::{DEFAULT_CLIENT_ID, GlobalOpts};
use crate::error::{CliError, CliResult};

/// The global options, and what is built from them.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// The options as given.
    pub(crate) g: GlobalOpts,
}

impl Ctx {
    /// A context for `g`.
    pub(crate) fn new(g: GlobalOpts) -> Self {
        Self { g }
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
    /// `--ca-file`; the proxy from `--proxy` or the environment.
    pub(crate) fn http_client(&self) -> CliResult<Arc<dyn HttpClient>> {
        let client = self
            .http_client_builder()?
            .build()
            .map_err(CliError::from)?;
        Ok(Arc::new(client))
    }

    /// The builder of [`http_client`](Self::http_client) (`--ca-file`,
    /// `--proxy`), to add to (a TLS client certificate).
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
        if let Some(proxy) = &self.g.proxy {
            let proxy = proxy.trim();
            builder = builder.proxy(if proxy.eq_ignore_ascii_case("none") {
                ProxyConfig::None
            } else {
                ProxyConfig::Url(proxy.to_owned())
            });
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
        let builder = PublicClientApplication::builder(self.client_id());
        let builder = if self.g.oidc {
            builder.oidc_authority(&self.g.authority)
        } else {
            builder.authority(self.g.authority.as_str())
        };
        Ok(builder
            .http_client(self.http_client()?)
            .cache_access(Arc::new(self.file_cache()?)))
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
