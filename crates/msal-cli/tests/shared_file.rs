//! One cache file for users and applications: `msal app-token` on the file
//! `msal login` wrote keeps the signed-in user.

mod support;

use msal_emulator::defaults;
use support::run;

#[tokio::test(flavor = "multi_thread")]
async fn an_app_token_on_the_shared_cache_file_keeps_the_signed_in_user() {
    let h = support::Harness::start().await;
    h.login(defaults::USER, &[]).await.ok();
    let before = h.run(&["accounts", "--json"]).await.json();
    assert_eq!(before.as_array().map(Vec::len), Some(1), "{before}");

    let scope = format!("{}/.default", defaults::WEB_API_URI);
    let app_token = || {
        h.daemon_app_token(&[
            "--scopes",
            &scope,
            "--client-secret-env",
            "DAEMON_SECRET_VAR",
            "--json",
        ])
    };
    let first = run(app_token()).await.json();
    assert_eq!(first["from_cache"], false, "{first}");
    let second = run(app_token()).await.json();
    assert_eq!(second["from_cache"], true, "{second}");
    assert_eq!(second["access_token"], first["access_token"]);

    // The user is still signed in, and their token still comes from the file.
    let after = h.run(&["accounts", "--json"]).await.json();
    assert_eq!(after, before);
    assert_eq!(after[0]["username"], defaults::USER);
    h.admin().reset_counters();
    let token = h.run(&["token", "--json"]).await.json();
    assert_eq!(token["from_cache"], true, "{token}");
    assert_eq!(
        h.admin().token_requests_with_grant("refresh_token"),
        0,
        "no refresh for the user's token"
    );
}
