// Shared by the examples (included with `include!`): build the app from the environment.

fn app() -> msal::Result<msal::PublicClientApplication> {
    let client_id = std::env::var("MSAL_CLIENT_ID")
        .unwrap_or_else(|_| "00000000-0000-0000-0000-00000000c1d0".into());
    let authority = std::env::var("MSAL_AUTHORITY")
        .unwrap_or_else(|_| "https://login.microsoftonline.com/organizations".into());
    msal::PublicClientApplication::builder(client_id)
        .authority(authority)
        .build()
}
