//! A daemon (service, scheduled job): an app token with the client
//! credentials grant. The secret comes from the environment, never from
//! source code; a certificate works the same way
//! (`ClientCredential::certificate(Certificate::from_pem(key, cert)?)`).
//!
//! `MSAL_CLIENT_ID`, `MSAL_CLIENT_SECRET`, `MSAL_AUTHORITY`
//! (`https://login.microsoftonline.com/<tenant id>`: client credentials need
//! a specific tenant) and `MSAL_SCOPE` (default Microsoft Graph's `.default`).

use msal::ConfidentialClientApplication;
use msal::credentials::ClientCredential;
use msal::secret::ClientSecret;

#[tokio::main]
async fn main() -> msal::Result<()> {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let secret = ClientSecret::new(var("MSAL_CLIENT_SECRET"));
    let scope = std::env::var("MSAL_SCOPE")
        .unwrap_or_else(|_| "https://graph.microsoft.com/.default".to_owned());
    let app = ConfidentialClientApplication::builder(
        var("MSAL_CLIENT_ID"),
        ClientCredential::secret(secret),
    )
    .authority(var("MSAL_AUTHORITY"))
    .build()?;
    let token = app.acquire_token_for_client(&[scope.as_str()]).await?;
    // The second call is served from the app-token cache.
    let again = app.acquire_token_for_client(&[scope.as_str()]).await?;
    println!(
        "app token for {:?}, expires {:?}; second call from {:?}",
        token.scopes(),
        token.expires_on(),
        again.source()
    );
    Ok(())
}
