//! Username/password (ROPC). Deprecated in every MSAL; shown for completeness.
// The password grant is deprecated; this still exercises it.
#![allow(deprecated)]

include!("support/app.rs");

#[tokio::main]
async fn main() -> msal::Result<()> {
    let app = app()?;
    let username = std::env::var("MSAL_USERNAME").unwrap_or_default();
    let password = msal::secret::Password::new(std::env::var("MSAL_PASSWORD").unwrap_or_default());
    let token = app
        .acquire_token_by_username_password(&["User.Read"], &username, password)
        .await?;
    println!(
        "token for {:?} expires {:?}",
        token.account().map(|a| a.username().to_owned()),
        token.expires_on()
    );
    Ok(())
}
