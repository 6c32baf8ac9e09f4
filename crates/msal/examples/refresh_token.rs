//! Migrating a refresh token obtained by another library into msal's cache.

include!("support/app.rs");

#[tokio::main]
async fn main() -> msal::Result<()> {
    let app = app()?;
    let rt = msal::secret::RefreshTokenSecret::new(
        std::env::var("MSAL_REFRESH_TOKEN").unwrap_or_default(),
    );
    let token = app
        .acquire_token_by_refresh_token(&["User.Read"], rt)
        .await?;
    let account = token
        .account()
        .expect("the migrated token has an account")
        .clone();
    let silent = app.acquire_token_silent(&["User.Read"], &account).await?;
    println!("migrated; the next call came from {:?}", silent.source());
    Ok(())
}
