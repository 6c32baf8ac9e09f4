//! # msal-emulator
//!
//! A local identity provider shaped like Microsoft Entra ID (v2 endpoints),
//! for tests, the quick start and your own integration tests, the way
//! Azurite stands in for Azure Storage. It signs real RS256 JWTs, serves
//! OpenID and instance discovery, the JWKS, every grant MSAL uses
//! (authorization code with PKCE, refresh token, client credentials with a
//! secret or certificate, device code, password, on-behalf-of), an HTML
//! sign-in page with consent, and an admin API to approve device codes,
//! revoke refresh tokens, force `interaction_required`, inject faults and
//! count requests.
//!
//! ```no_run
//! # async fn demo() -> msal_emulator::Result<()> {
//! use msal_emulator::{Emulator, EmulatorConfig, Endpoint, defaults};
//!
//! let emu = Emulator::start(EmulatorConfig::default()).await?;
//! let authority = emu.authority(defaults::TENANT_ID); // http://127.0.0.1:<port>/<tenant>
//! // ... point your client at `authority` ...
//! assert_eq!(emu.admin().request_count(Endpoint::Token), 0);
//! # Ok(()) }
//! ```
//!
//! The HTTP surface and the admin API are documented in
//! `docs/dev/emulator-api.md`.

mod admin;
mod certs;
mod config;
pub mod defaults;
mod directory;
mod entra_error;
mod error;
mod faults;
mod keys;
pub mod managed_identity;
mod mtls;
mod routes;
mod scopes;
mod state;
mod tls;
mod tokens;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

pub use admin::{Admin, DEFAULT_CLAIMS_CHALLENGE, DeviceCodeInfo, InteractionRequired};
pub use certs::ClientCertificate;
pub use config::{
    ApiConfig, AppConfig, AppKind, DeviceCodeSettings, EmulatorConfig, MAX_LIFETIME_SECS,
    ServerConfig, TenantConfig, TlsSettings, TokenSettings, UserConfig,
};
pub use error::{EmulatorError, Result};
pub use faults::{Endpoint, Fault, RequestRecord};
pub use routes::router;
pub use state::EmulatorState;
pub use tls::{DEFAULT_TLS_NAMES, EmulatorCa};

/// Starts emulators.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Starts an emulator in this process on `127.0.0.1` (or
    /// `config.server.bind`) and a free port (or `config.server.port`).
    /// It stops when the handle is dropped or [`EmulatorHandle::shutdown`]
    /// is called. Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// [`EmulatorError::InvalidConfig`], [`EmulatorError::Bind`],
    /// [`EmulatorError::Crypto`], [`EmulatorError::CertWrite`].
    pub async fn start(config: EmulatorConfig) -> Result<EmulatorHandle> {
        let bind = config
            .server
            .bind
            .clone()
            .unwrap_or_else(|| "127.0.0.1".into());
        // A bare IPv6 address needs brackets before the port.
        let bind = if bind.parse::<std::net::Ipv6Addr>().is_ok() {
            format!("[{bind}]")
        } else {
            bind
        };
        let addr = format!("{bind}:{}", config.server.port.unwrap_or(0));
        let tcp = TcpListener::bind(&addr)
            .await
            .map_err(|source| EmulatorError::Bind {
                addr: addr.clone(),
                source,
            })?;
        let local = tcp.local_addr().map_err(|source| EmulatorError::Bind {
            addr: addr.clone(),
            source,
        })?;
        let tls = config.server.tls.clone().filter(|t| t.enabled);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let host = if local.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else if local.is_ipv6() {
            format!("[{}]", local.ip())
        } else {
            local.ip().to_string()
        };
        let base = Url::parse(&format!("{scheme}://{host}:{}", local.port()))
            .map_err(|e| EmulatorError::InvalidConfig(format!("base URL: {e}")))?;
        let state = EmulatorState::new(config, &base)?;
        let app = router(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = rx.await;
        };
        let mut tasks = Vec::new();
        let mut ca = None;
        let mut ca_path = None;
        match tls {
            Some(t) => {
                let authority = EmulatorCa::generate()?;
                let mut names: Vec<String> =
                    DEFAULT_TLS_NAMES.iter().map(|s| s.to_string()).collect();
                names.extend(t.extra_names.iter().cloned());
                names.extend(state.0.config.server.extra_hosts.iter().map(|h| {
                    h.rsplit_once(':')
                        .map_or(h.as_str(), |(b, _)| b)
                        .to_string()
                }));
                names.sort();
                names.dedup();
                let server_config = authority.server_config(&names)?;
                if let Some(path) = &t.cert_out {
                    std::fs::write(path, authority.pem()).map_err(|source| {
                        EmulatorError::CertWrite {
                            path: path.clone(),
                            source,
                        }
                    })?;
                    ca_path = Some(path.clone());
                }
                let (listener, accept_task) =
                    tls::TlsListener::start(tcp, server_config).map_err(|source| {
                        EmulatorError::Bind {
                            addr: addr.clone(),
                            source,
                        }
                    })?;
                tasks.push(accept_task);
                if t.mtls {
                    let mtls_addr = format!("{bind}:0");
                    let bind_err = |source| EmulatorError::Bind {
                        addr: mtls_addr.clone(),
                        source,
                    };
                    let mtls_tcp = TcpListener::bind(&mtls_addr).await.map_err(bind_err)?;
                    let port = mtls_tcp.local_addr().map_err(bind_err)?.port();
                    let config = authority.mtls_server_config(&names)?;
                    let (listener, accept_task) =
                        mtls::MtlsListener::start(mtls_tcp, config).map_err(bind_err)?;
                    let _ = state.0.mtls_origin.set(format!("https://{host}:{port}"));
                    let service = routes::mtls_router(state.clone())
                        .into_make_service_with_connect_info::<mtls::MtlsPeer>();
                    tasks.push(accept_task);
                    tasks.push(tokio::spawn(async move {
                        let _ = axum::serve(listener, service).await;
                    }));
                }
                tasks.push(tokio::spawn(async move {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await;
                }));
                ca = Some(Arc::new(authority));
            }
            None => {
                tasks.push(tokio::spawn(async move {
                    let _ = axum::serve(tcp, app).with_graceful_shutdown(shutdown).await;
                }));
            }
        }
        let base_url = base.as_str().trim_end_matches('/').to_string();
        tracing::info!(%base_url, "msal-emulator listening");
        Ok(EmulatorHandle {
            state,
            addr: local,
            base_url,
            ca,
            ca_path,
            shutdown: Some(tx),
            tasks,
        })
    }
}

/// A running emulator. Dropping it stops the server.
pub struct EmulatorHandle {
    state: EmulatorState,
    addr: SocketAddr,
    base_url: String,
    ca: Option<Arc<EmulatorCa>>,
    ca_path: Option<PathBuf>,
    shutdown: Option<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("base_url", &self.base_url)
            .field("tls", &self.ca.is_some())
            .finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    /// `http://127.0.0.1:<port>` (or `https://…`), no trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The same server under its alias host name,
    /// `http://localhost:<port>`: a different "environment" for token
    /// caches, listed with the primary host in instance discovery.
    pub fn alias_base_url(&self) -> String {
        format!("{}://localhost:{}", self.state.0.scheme, self.addr.port())
    }

    /// `<base_url>/<tenant>` (tenant: GUID, domain, `common`,
    /// `organizations` or `consumers`).
    pub fn authority(&self, tenant: &str) -> String {
        format!("{}/{}", self.base_url, tenant)
    }

    /// `<alias_base_url>/<tenant>`.
    pub fn alias_authority(&self, tenant: &str) -> String {
        format!("{}/{}", self.alias_base_url(), tenant)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The admin API.
    pub fn admin(&self) -> Admin {
        self.state.admin()
    }

    /// The shared state (for [`router`]).
    pub fn state(&self) -> &EmulatorState {
        &self.state
    }

    /// The CA in TLS mode.
    pub fn ca(&self) -> Option<&EmulatorCa> {
        self.ca.as_deref()
    }

    /// The CA certificate PEM in TLS mode.
    pub fn ca_pem(&self) -> Option<String> {
        self.ca.as_ref().map(|c| c.pem())
    }

    /// Where the CA PEM was written (`tls.cert_out`).
    pub fn ca_path(&self) -> Option<&Path> {
        self.ca_path.as_deref()
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.state.store().arc_keys.clear();
        let tasks = std::mem::take(&mut self.tasks);
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        for t in &self.tasks {
            t.abort();
        }
        // Connections still open keep the state alive for a while; the key
        // files in the shared temp dir go now (and any written later when
        // the state itself is dropped).
        self.state.store().arc_keys.clear();
    }
}
