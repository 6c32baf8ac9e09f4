//! Username/password (ROPC). Discouraged; shown for completeness.

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
