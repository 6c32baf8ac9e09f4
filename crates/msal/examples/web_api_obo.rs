//! A web API calling another API on behalf of its caller (on-behalf-of).
//! The API received `Authorization: Bearer <token>` for itself; it trades
//! that token for one to the downstream API, cached per incoming token.
//!
//! `MSAL_CLIENT_ID`, `MSAL_CLIENT_SECRET`, `MSAL_AUTHORITY` (the API's
//! tenant), `MSAL_INCOMING_TOKEN` (the caller's token) and
//! `MSAL_DOWNSTREAM_SCOPE` (default Graph `User.Read`).

use msal::ConfidentialClientApplication;
use msal::credentials::ClientCredential;
use msal::secret::{Assertion, ClientSecret};

#[tokio::main]
async fn main() -> msal::Result<()> {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let api = ConfidentialClientApplication::builder(
        var("MSAL_CLIENT_ID"),
        ClientCredential::secret(ClientSecret::new(var("MSAL_CLIENT_SECRET"))),
    )
    .authority(var("MSAL_AUTHORITY"))
    .build()?;
    let scope = std::env::var("MSAL_DOWNSTREAM_SCOPE")
        .unwrap_or_else(|_| "https://graph.microsoft.com/User.Read".to_owned());
    // In a real API this is the bearer token of the request being served.
    let incoming = Assertion::new(var("MSAL_INCOMING_TOKEN"));
    let downstream = api
        .acquire_token_on_behalf_of(&[scope.as_str()], incoming)
        .await?;
    println!(
        "token for {:?} on behalf of {:?}",
        downstream.scopes(),
        downstream.account().map(|a| a.username().to_owned())
    );
    Ok(())
}
