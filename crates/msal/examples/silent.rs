//! The usual shape of an app: silent first, interactive when the cache cannot help,
//! then sign everyone out.

include!("support/app.rs");

#[tokio::main]
async fn main() -> msal::Result<()> {
    let app = app()?;
    let scopes = ["User.Read"];
    let token = match app.accounts().await?.into_iter().next() {
        Some(account) => match app.acquire_token_silent(&scopes, &account).await {
            Ok(t) => t,
            Err(e) if e.is_ui_required() => {
                app.acquire_token_with_device_code(&scopes, |i| eprintln!("{}", i.message))
                    .await?
            }
            Err(e) => return Err(e),
        },
        None => {
            app.acquire_token_with_device_code(&scopes, |i| eprintln!("{}", i.message))
                .await?
        }
    };
    println!("token from {:?}", token.source());
    let again = app
        .acquire_token_silent(
            &scopes,
            token.account().expect("a user token has an account"),
        )
        .await?;
    println!("second call from {:?}", again.source());
    for account in app.accounts().await? {
        app.remove_account(&account).await?;
    }
    Ok(())
}
