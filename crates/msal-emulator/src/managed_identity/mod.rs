//! The identity endpoints of Azure hosts, for managed-identity clients:
//! IMDS (VMs), App Service, Service Fabric, Azure Arc, Cloud Shell and Azure
//! Machine Learning, each with its own wire shape and its own errors, as the
//! real ones answer (facts from MSAL Python's `managed_identity.py`, MSAL Go's
//! `apps/managedidentity` and the Azure docs).
//!
//! | Source | Path | Checks |
//! |---|---|---|
//! | IMDS | `GET /metadata/identity/oauth2/token?api-version=2018-02-01` | `Metadata: true`, no `X-Forwarded-For` (a proxied request), one of `client_id` / `msi_res_id` / `object_id` |
//! | Azure Arc | same path, `api-version=2020-06-01` | `Metadata: true`; without `Authorization` a 401 names a fresh key file in [`Admin::arc_key_directory`]; `Authorization: Basic <its content>` gets the token (once) |
//! | Service Fabric | same path, `api-version=2019-07-01-preview` | `Secret: <`[`IDENTITY_HEADER`]`>`; serve the emulator over TLS and pin its certificate |
//! | App Service | `GET /msi/token?api-version=2019-08-01` | `X-IDENTITY-HEADER: <`[`IDENTITY_HEADER`]`>`, one of `client_id` / `mi_res_id` / `object_id` / `principal_id`; optional `token_sha256_to_refresh`, `xms_cc` |
//! | IMDS instance metadata | `GET /metadata/instance/compute?api-version=...` | `Metadata: true`; JSON with the VM's `location` ([`Admin::set_imds_location`]), where regional clients read their region |
//! | Cloud Shell | `POST /oauth2/token`, form `resource=` | `Metadata: true` |
//! | Azure ML | `GET /azureml/msi/token?api-version=2017-09-01` | `secret: <`[`MSI_SECRET`]`>`, optional `clientid` |
//!
//! App Service and Service Fabric answer from a token cache of their own, as
//! the real hosts do; a request whose `token_sha256_to_refresh` is the
//! lower-case hex SHA-256 of the cached token gets a new one (token
//! revocation after a claims challenge). [`Admin::host_token_requests`]
//! lists their requests with those parameters.
//!
//! Anything else (another api-version, an unknown or repeated parameter, a
//! `/.default` resource, an unknown identity) is refused with that source's
//! error shape. Tokens are RS256 JWTs signed with the emulator's key: `aud`
//! = the resource, `appid` = the identity's client id, `oid` = its object
//! id, `xms_mirid` = its resource id, valid for [`TOKEN_LIFETIME_SECS`].
//! [`EmulatorHandle::managed_identity_env`] gives the variables a host sets.
//! Requests count under
//! [`Endpoint::ManagedIdentity`](crate::Endpoint::ManagedIdentity) and take
//! the faults injected there (or, while none is queued there, those queued
//! under [`Endpoint::Other`](crate::Endpoint::Other)).

use std::path::PathBuf;

use axum::Router;
use axum::routing::any;

use crate::state::EmulatorState;
use crate::{Admin, EmulatorHandle};

mod arc_keys;
mod compute;
mod handlers;
mod host_cache;
mod probe;
mod wire;

pub(crate) use arc_keys::ArcKeys;
pub use compute::{DEFAULT_LOCATION, IMDS_COMPUTE_PATH};
use handlers::{app_service, azure_ml, cloud_shell, imds_like};
pub(crate) use host_cache::HostCache;
pub use host_cache::HostTokenRequest;
use probe::server_thumbprint;

/// The `IDENTITY_HEADER` secret App Service and Service Fabric requests must carry.
pub const IDENTITY_HEADER: &str = "emulator-identity-header-6b1f";
/// The `MSI_SECRET` Azure ML requests must carry.
pub const MSI_SECRET: &str = "emulator-msi-secret-92ad";
/// Lifetime of managed-identity tokens (a day, as Azure's).
pub const TOKEN_LIFETIME_SECS: u64 = 86_399;
/// The IMDS path (also Arc's and Service Fabric's).
pub const IMDS_PATH: &str = "/metadata/identity/oauth2/token";
/// App Service's path.
pub const APP_SERVICE_PATH: &str = "/msi/token";
/// Cloud Shell's path.
pub const CLOUD_SHELL_PATH: &str = "/oauth2/token";
/// Azure ML's path.
pub const AZURE_ML_PATH: &str = "/azureml/msi/token";

/// Every managed-identity path, counted and faulted as
/// [`Endpoint::ManagedIdentity`](crate::Endpoint::ManagedIdentity).
pub(crate) const PATHS: [&str; 4] = [IMDS_PATH, APP_SERVICE_PATH, CLOUD_SHELL_PATH, AZURE_ML_PATH];

/// A managed identity the emulated hosts know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// Client (application) id.
    pub client_id: &'static str,
    /// Object (principal) id.
    pub object_id: &'static str,
    /// Azure resource id (`xms_mirid`).
    pub resource_id: &'static str,
}

/// The host's system-assigned identity.
pub const SYSTEM_ASSIGNED: Identity = Identity {
    client_id: "5a1f0c2e-7d3b-4e6a-9c8d-0000000051a1",
    object_id: "5a1f0c2e-7d3b-4e6a-9c8d-0000000051a0",
    resource_id: "/subscriptions/0b1c2d3e-4f50-4617-8283-949596979899/resourceGroups/emulator/providers/Microsoft.Compute/virtualMachines/vm1",
};

/// The user-assigned identities assigned to the host.
pub const USER_ASSIGNED: [Identity; 2] = [
    Identity {
        client_id: "6b2a1d3f-8e4c-4f7b-8d9e-00000000da11",
        object_id: "6b2a1d3f-8e4c-4f7b-8d9e-00000000da10",
        resource_id: "/subscriptions/0b1c2d3e-4f50-4617-8283-949596979899/resourceGroups/emulator/providers/Microsoft.ManagedIdentity/userAssignedIdentities/first",
    },
    Identity {
        client_id: "7c3b2e4a-9f5d-4a8c-9eaf-00000000da21",
        object_id: "7c3b2e4a-9f5d-4a8c-9eaf-00000000da20",
        resource_id: "/subscriptions/0b1c2d3e-4f50-4617-8283-949596979899/resourceGroups/emulator/providers/Microsoft.ManagedIdentity/userAssignedIdentities/second",
    },
];

/// An emulated Azure host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Host {
    /// A VM (IMDS).
    Imds,
    /// App Service, Functions, Container Apps.
    AppService,
    /// Service Fabric (the emulator must serve TLS).
    ServiceFabric,
    /// An Arc-enabled server.
    AzureArc,
    /// Cloud Shell.
    CloudShell,
    /// Azure Machine Learning.
    AzureMl,
}

/// The routes, merged into [`crate::router`].
pub(crate) fn routes() -> Router<EmulatorState> {
    Router::new()
        .route(IMDS_PATH, any(imds_like))
        .route(IMDS_COMPUTE_PATH, any(compute::compute))
        .route(APP_SERVICE_PATH, any(app_service))
        .route(CLOUD_SHELL_PATH, any(cloud_shell))
        .route(AZURE_ML_PATH, any(azure_ml))
}

impl Admin {
    /// Where the emulated Arc agent writes its challenge key files (one
    /// directory per emulator). Give it to the client as its Arc key directory.
    /// At most 64 files are there at once (the oldest go first); each is
    /// removed once used or after 5 minutes (emulator clock), and all of them,
    /// with the directory when it is left empty, when the emulator stops.
    pub fn arc_key_directory(&self) -> PathBuf {
        // One directory per emulator: named after its (random) signing key.
        let jwk = self.0.0.key.jwk("");
        let kid = jwk["kid"].as_str().unwrap_or("default");
        std::env::temp_dir().join(format!("msal-emulator-arc-{}", sanitize(kid)))
    }

    /// How many requests reached the managed-identity endpoints (faulted
    /// ones included) since start or the last counter reset: the
    /// [`Endpoint::ManagedIdentity`](crate::Endpoint::ManagedIdentity)
    /// counter, which, unlike the request log, has no cap.
    pub fn managed_identity_requests(&self) -> usize {
        usize::try_from(self.request_count(crate::Endpoint::ManagedIdentity)).unwrap_or(usize::MAX)
    }
}

impl EmulatorHandle {
    /// The variables `host` sets for its managed identity, pointing at this
    /// emulator. For Service Fabric (TLS only) `IDENTITY_SERVER_THUMBPRINT`
    /// is the SHA-1 of the certificate the emulator serves, read with a
    /// handshake; `None` without TLS.
    pub async fn managed_identity_env(&self, host: Host) -> Option<Vec<(String, String)>> {
        let base = self.base_url();
        let v = |k: &str, val: String| (k.to_owned(), val);
        Some(match host {
            Host::Imds => vec![v("AZURE_POD_IDENTITY_AUTHORITY_HOST", base.to_owned())],
            Host::AppService => vec![
                v("IDENTITY_ENDPOINT", format!("{base}{APP_SERVICE_PATH}")),
                v("IDENTITY_HEADER", IDENTITY_HEADER.to_owned()),
            ],
            Host::ServiceFabric => vec![
                v("IDENTITY_ENDPOINT", format!("{base}{IMDS_PATH}")),
                v("IDENTITY_HEADER", IDENTITY_HEADER.to_owned()),
                v(
                    "IDENTITY_SERVER_THUMBPRINT",
                    server_thumbprint(self.addr()).await?,
                ),
            ],
            Host::AzureArc => vec![
                v("IDENTITY_ENDPOINT", format!("{base}{IMDS_PATH}")),
                v("IMDS_ENDPOINT", base.to_owned()),
            ],
            Host::CloudShell => vec![v("MSI_ENDPOINT", format!("{base}{CLOUD_SHELL_PATH}"))],
            Host::AzureMl => vec![
                v("MSI_ENDPOINT", format!("{base}{AZURE_ML_PATH}")),
                v("MSI_SECRET", MSI_SECRET.to_owned()),
            ],
        })
        .filter(|_| host != Host::ServiceFabric || base.starts_with("https://"))
    }
}

pub(crate) fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect()
}
