//! Interactive sign-in with the system browser and a loopback redirect.

include!("support/app.rs");

#[tokio::main]
async fn main() -> msal::Result<()> {
    let app = app()?;
    let token = app
        .acquire_token_interactive(&["User.Read"])
        .prompt(msal::protocol::authorize::Prompt::SelectAccount)
        .timeout(std::time::Duration::from_secs(180))
        .await?;
    println!(
        "signed in as {:?}",
        token.account().map(|a| a.username().to_owned())
    );
    Ok(())
}
