//! A token for the managed identity of the Azure resource this runs on (App
//! Service, Functions, Container Apps, a VM, AKS, Arc, Service Fabric, Cloud
//! Shell). No secret: the platform vouches for the code.
//!
//! `MSAL_MI_CLIENT_ID` selects a user-assigned identity; `MSAL_RESOURCE`
//! the resource (default Azure Resource Manager).

use msal::managed_identity::{ManagedIdentity, ManagedIdentityApplication, UserAssignedId};

#[tokio::main]
async fn main() -> msal::Result<()> {
    let identity = match std::env::var("MSAL_MI_CLIENT_ID") {
        Ok(id) if !id.is_empty() => ManagedIdentity::UserAssigned(UserAssignedId::ClientId(id)),
        _ => ManagedIdentity::SystemAssigned,
    };
    let resource = std::env::var("MSAL_RESOURCE")
        .unwrap_or_else(|_| "https://management.azure.com".to_owned());
    let app = ManagedIdentityApplication::builder(identity).build()?;
    println!("identity endpoint: {:?}", app.source());
    let token = app.acquire_token_for_resource(resource.as_str()).await?;
    // The second call is served from the app's token cache.
    let again = app.acquire_token_for_resource(resource.as_str()).await?;
    println!(
        "token for {} expires at {} (second call: {:?})",
        token.scopes()[0],
        token.expires_on_unix(),
        again.source()
    );
    Ok(())
}
