//! Managed identity: tokens for code running on Azure, with no secret.
//!
//! A [`ManagedIdentityApplication`] asks the identity endpoint of the host it
//! runs on for a token for a resource, caches it in the app-token cache and
//! hands it back until it needs refreshing. Which endpoint, and how to talk
//! to it, is detected from the environment as every MSAL does
//! ([`detect_source`]):
//!
//! | Source | Detected by | Request |
//! |---|---|---|
//! | [`Source::ServiceFabric`] | `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` + `IDENTITY_SERVER_THUMBPRINT` | `GET`, header `Secret`, server certificate pinned to the thumbprint |
//! | [`Source::AppService`] (and Functions, Container Apps) | `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` | `GET`, header `X-IDENTITY-HEADER` |
//! | [`Source::AzureMl`] | `MSI_ENDPOINT` + `MSI_SECRET` | `GET`, header `secret` |
//! | [`Source::CloudShell`] | `MSI_ENDPOINT` | `POST` form `resource=` |
//! | [`Source::AzureArc`] | `IDENTITY_ENDPOINT` + `IMDS_ENDPOINT`, or the Arc agent installed | `GET`, then a 401 challenge names a key file whose content authenticates the second `GET` |
//! | [`Source::Imds`] (VMs, scale sets, AKS nodes) | none of the above | `GET http://169.254.169.254/metadata/identity/oauth2/token`, retried on 404, 408, 410, 429 and 5xx |
//!
//! Requests to these endpoints never go through a proxy: they are local
//! agents no corporate proxy can reach (each request carries
//! [`Direct`](crate::transport::Direct)).
//!
//! ```no_run
//! # async fn run() -> Result<(), msal::Error> {
//! use msal::managed_identity::{ManagedIdentity, ManagedIdentityApplication, UserAssignedId};
//!
//! // The identity of the VM / App Service / container this runs on.
//! let app = ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned).build()?;
//! let token = app.acquire_token_for_resource("https://vault.azure.net").await?;
//! println!("expires at {:?}", token.expires_on());
//! // token.access_token().expose_secret() goes in the Authorization header.
//!
//! // A user-assigned identity, named by its client id; a `.default` scope works too.
//! let app = ManagedIdentityApplication::builder(ManagedIdentity::UserAssigned(
//!     UserAssignedId::ClientId("00000000-0000-0000-0000-000000000001".into()),
//! ))
//! .build()?;
//! let token = app
//!     .acquire_token_for_resource("https://management.azure.com/.default")
//!     .force_refresh(true)
//!     .await?;
//! # let _ = token;
//! # Ok(()) }
//! ```

mod app;
mod arc;
mod cache;
mod environment;
mod response;
mod retry;
#[cfg(feature = "reqwest")]
mod service_fabric;
mod sources;
mod workload;

pub use app::{
    AcquireTokenForResource, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, ManagedIdentityApplication,
    ManagedIdentityApplicationBuilder,
};
crate::internal_use!(cache::{CACHE_ENVIRONMENT, CACHE_REALM});
pub use environment::{Environment, Source, detect_source};
crate::internal_use!(response::{MAX_LIFETIME_SECS, ParsedToken, parse_token_response});
pub use workload::{DEFAULT_AUTHORITY_HOST, WorkloadIdentity, WorkloadIdentityAssertion};

/// Which managed identity to get tokens for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ManagedIdentity {
    /// The identity Azure created for this resource.
    SystemAssigned,
    /// An identity created on its own and assigned to this resource.
    UserAssigned(UserAssignedId),
}

/// How a user-assigned identity is named.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UserAssignedId {
    /// Its client (application) id.
    ClientId(String),
    /// Its Azure resource id (`/subscriptions/.../userAssignedIdentities/name`).
    ResourceId(String),
    /// Its object (principal) id.
    ObjectId(String),
}

impl UserAssignedId {
    /// The id itself.
    pub fn value(&self) -> &str {
        match self {
            Self::ClientId(v) | Self::ResourceId(v) | Self::ObjectId(v) => v,
        }
    }
}

impl ManagedIdentity {
    /// The `client_id` its tokens are cached under: the user-assigned id
    /// (whichever kind it is), or `""` for the system-assigned identity,
    /// stored as `null` (MSAL Python 1.39 writes exactly these). So one
    /// identity never finds another's token, and MSAL Python shares them.
    pub fn cache_client_id(&self) -> &str {
        match self {
            Self::SystemAssigned => "",
            Self::UserAssigned(id) => id.value(),
        }
    }

    /// The suggested partition key of its app-token cache:
    /// `<id>_managed_identity_AppTokenCache`, with
    /// `system_assigned_managed_identity` as the system-assigned id (the
    /// name MSAL Go and .NET give it).
    pub fn cache_partition_key(&self) -> String {
        let id = match self {
            Self::SystemAssigned => "system_assigned_managed_identity",
            Self::UserAssigned(id) => id.value(),
        };
        format!("{id}_managed_identity_AppTokenCache")
    }
}

/// The resource a `resource` or `<resource>/.default` scope names.
pub(crate) fn resource_of(resource_or_scope: &str) -> &str {
    let trimmed = resource_or_scope.trim();
    trimmed.strip_suffix("/.default").unwrap_or(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scope_becomes_the_resource() {
        assert_eq!(
            resource_of("https://vault.azure.net/.default"),
            "https://vault.azure.net"
        );
        assert_eq!(
            resource_of(" https://vault.azure.net "),
            "https://vault.azure.net"
        );
        assert_eq!(resource_of("api://x"), "api://x");
    }

    #[test]
    fn identities_cache_under_distinct_ids() {
        assert_eq!(ManagedIdentity::SystemAssigned.cache_client_id(), "");
        assert_eq!(
            ManagedIdentity::SystemAssigned.cache_partition_key(),
            "system_assigned_managed_identity_managed_identity_AppTokenCache"
        );
        let ua = ManagedIdentity::UserAssigned(UserAssignedId::ObjectId("oid".into()));
        assert_eq!(ua.cache_client_id(), "oid");
    }
}
