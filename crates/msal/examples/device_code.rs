//! Device-code sign-in: show the code, wait for the user.

include!("support/app.rs");

#[tokio::main]
async fn main() -> msal::Result<()> {
    let app = app()?;
    let token = app
        .acquire_token_with_device_code(&["User.Read"], |info| eprintln!("{}", info.message))
        .await?;
    println!(
        "signed in as {:?}; token expires {:?}",
        token.account().map(|a| a.username().to_owned()),
        token.expires_on()
    );
    Ok(())
}
