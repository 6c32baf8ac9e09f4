//! SignedInUserCredential against msal-emulator: tokens from the file the
//! CLI's code path wrote, the cache, the 5-minute rule, one request for
//! concurrent calls, and errors that say what to do.

mod common;

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use common::*;
use msal_azure_identity::SignedInUserCredential;
use msal_emulator::{Endpoint, defaults};

fn credential(
    emu: &msal_emulator::EmulatorHandle,
    file: &std::path::Path,
) -> msal_azure_identity::SignedInUserCredentialBuilder {
    SignedInUserCredential::builder()
        .client_id(defaults::CLI_APP_ID)
        .authority(emu.authority("organizations"))
        .cache_path(file)
        .plaintext(true)
}

#[tokio::test]
async fn the_users_token_comes_from_the_file_then_from_the_cache() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache.json");
    sign_in_ada(&emu, &file).await;
    let cred = credential(&emu, &file).build().unwrap();
    assert_eq!(cred.cache_path(), file.as_path());
    emu.admin().reset_counters();

    // The scope the sign-in asked for: the token in the file, no request.
    let first = cred.get_token(&[API_USER_SCOPE], None).await.unwrap();
    assert_eq!(emu.admin().request_count(Endpoint::Token), 0);
    let c = claims(first.token.secret());
    assert_eq!(c["aud"], defaults::WEB_API_APP_ID);
    assert_eq!(c["preferred_username"], defaults::USER);

    // `.default`, as the SDK asks: one refresh, then the cache.
    let default = cred.get_token(&[API_SCOPE], None).await.unwrap();
    assert_eq!(emu.admin().token_requests_with_grant("refresh_token"), 1);
    for _ in 0..3 {
        let again = cred.get_token(&[API_SCOPE], None).await.unwrap();
        assert!(again.token == default.token, "the cached token");
        assert_eq!(again.expires_on, default.expires_on);
    }
    assert_eq!(
        emu.admin().request_count(Endpoint::Token),
        1,
        "the second and later calls are served from the cache file"
    );
    // Through the trait object the SDK holds.
    let dynamic: Arc<dyn TokenCredential> = cred.clone();
    let via_dyn = dynamic.get_token(&[API_SCOPE], None).await.unwrap();
    assert!(via_dyn.token == default.token);
    assert_eq!(emu.admin().request_count(Endpoint::Token), 1);

    // No token in Debug.
    let debug = format!("{cred:?} {default:?}");
    assert!(!debug.contains(default.token.secret()), "{debug}");
    assert!(debug.contains("cache.json"), "{debug}");
}

#[tokio::test]
async fn within_five_minutes_of_expiry_the_token_is_refreshed_not_handed_out_again() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache.json");
    sign_in_ada(&emu, &file).await;
    let clock = clock_now();
    let cred = credential(&emu, &file)
        .clock(clock.clone())
        .build()
        .unwrap();
    let first = cred.get_token(&[API_USER_SCOPE], None).await.unwrap();
    emu.admin().reset_counters();

    // 6 minutes left: still served from the cache.
    clock.advance(Duration::from_secs(LIFETIME - 360));
    let still = cred.get_token(&[API_USER_SCOPE], None).await.unwrap();
    assert!(still.token == first.token, "still the first token");
    assert_eq!(emu.admin().request_count(Endpoint::Token), 0);

    // 4 minutes left: the SDK's bearer policy would ask again at once; a
    // refreshed token comes back, with the full lifetime ahead.
    clock.advance(Duration::from_secs(120));
    let refreshed = cred.get_token(&[API_USER_SCOPE], None).await.unwrap();
    assert!(refreshed.token != first.token, "a new token");
    assert_eq!(emu.admin().token_requests_with_grant("refresh_token"), 1);
    let left = refreshed.expires_on.unix_timestamp() - clock_unix(&clock);
    assert!(
        left >= msal_azure_identity::MIN_LIFETIME_SECS,
        "{left} s left"
    );
    // And it is the one served from now on.
    let again = cred.get_token(&[API_USER_SCOPE], None).await.unwrap();
    assert!(again.token == refreshed.token, "the refreshed token");
    assert_eq!(emu.admin().request_count(Endpoint::Token), 1);
}

fn clock_unix(clock: &msal::clock::ManualClock) -> i64 {
    use msal::clock::Clock;
    clock.unix_now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_for_the_same_scopes_make_one_request() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache.json");
    sign_in_ada(&emu, &file).await;
    let cred: Arc<dyn TokenCredential> = credential(&emu, &file).build().unwrap();
    emu.admin().reset_counters();
    // Nothing cached for `.default` yet: every call needs the refresh token.
    let calls = (0..24).map(|_| {
        let cred = cred.clone();
        tokio::spawn(async move { cred.get_token(&[API_SCOPE], None).await })
    });
    let tokens: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap().token.secret().to_owned())
        .collect();
    assert_eq!(emu.admin().token_requests_with_grant("refresh_token"), 1);
    assert!(tokens.iter().all(|t| t == &tokens[0]));
}

#[tokio::test]
async fn a_user_who_must_sign_in_again_is_told_to_run_msal_login() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();

    // Nobody signed in.
    let empty = dir.path().join("empty.json");
    let e = credential(&emu, &empty)
        .build()
        .unwrap()
        .get_token(&[API_SCOPE], None)
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Credential);
    let text = e.to_string();
    assert!(
        text.starts_with("SignedInUserCredential: no account is signed in")
            && text.ends_with("run `msal login`")
            && text.contains("empty.json"),
        "{text}"
    );

    // Signed in, but the refresh token was revoked: msal's message and the hint.
    let file = dir.path().join("cache.json");
    sign_in_ada(&emu, &file).await;
    emu.admin().revoke_refresh_tokens(defaults::USER).unwrap();
    let cred = credential(&emu, &file).build().unwrap();
    let e = cred.get_token(&[API_SCOPE], None).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Credential);
    let text = e.to_string();
    assert!(
        text.starts_with("SignedInUserCredential: user interaction required")
            && text.ends_with("run `msal login`"),
        "{text}"
    );
    let inner = e
        .downcast_ref::<msal::Error>()
        .expect("msal's error as the source");
    assert!(inner.is_ui_required());

    // After a new sign-in the same credential works again.
    sign_in_ada(&emu, &file).await;
    cred.get_token(&[API_USER_SCOPE], None).await.unwrap();
}

#[tokio::test]
async fn with_several_accounts_one_is_chosen_by_name() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache.json");
    sign_in_ada(&emu, &file).await;
    sign_in(
        &emu,
        &file,
        defaults::CLI_APP_ID,
        &emu.authority("organizations"),
        defaults::SECOND_USER,
        defaults::SECOND_USER_PASSWORD,
        &[API_USER_SCOPE],
    )
    .await;
    let e = credential(&emu, &file)
        .build()
        .unwrap()
        .get_token(&[API_USER_SCOPE], None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("several accounts are signed in")
            && e.contains(defaults::USER)
            && e.contains(defaults::SECOND_USER),
        "{e}"
    );
    let bob = credential(&emu, &file)
        .username(defaults::SECOND_USER.to_uppercase())
        .build()
        .unwrap()
        .get_token(&[API_USER_SCOPE], None)
        .await
        .unwrap();
    assert_eq!(
        claims(bob.token.secret())["preferred_username"],
        defaults::SECOND_USER
    );
}

#[tokio::test]
async fn the_clis_variables_configure_it() {
    use msal::managed_identity::Environment;
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache.json");
    sign_in_ada(&emu, &file).await;
    let env = Environment::from_vars([
        ("MSAL_AUTHORITY", emu.authority("organizations")),
        ("MSAL_CLIENT_ID", defaults::CLI_APP_ID.to_owned()),
        ("MSAL_CACHE", file.display().to_string()),
        ("MSAL_PLAINTEXT", "true".to_owned()),
    ]);
    let cred = SignedInUserCredential::builder()
        .environment(&env)
        .build()
        .unwrap();
    let t = cred.get_token(&[API_USER_SCOPE], None).await.unwrap();
    assert_eq!(
        claims(t.token.secret())["preferred_username"],
        defaults::USER
    );

    // A value the CLI would refuse is refused here too.
    let bad = Environment::from_vars([("MSAL_PLAINTEXT", "maybe")]);
    let e = SignedInUserCredential::builder()
        .environment(&bad)
        .build()
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Credential);
    assert!(e.to_string().contains("MSAL_PLAINTEXT=\"maybe\""), "{e}");
}

#[tokio::test]
async fn a_token_handed_out_before_is_not_handed_out_again_once_the_file_changed() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache.json");
    sign_in_ada(&emu, &file).await;
    // Let the file settle, so the credential may answer from what it handed
    // out last while the file stays as it was.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let cred = credential(&emu, &file).build().unwrap();
    let first = cred.get_token(&[API_USER_SCOPE], None).await.unwrap();
    assert!(cred.get_token(&[API_USER_SCOPE], None).await.unwrap().token == first.token);

    // Another process refreshes the token in the file: the new one is handed out.
    let other = msal::PublicClientApplication::builder(defaults::CLI_APP_ID)
        .authority(emu.authority("organizations").as_str())
        .cache_access(Arc::new(plain_file(&file)))
        .build()
        .unwrap();
    let account = other.accounts().await.unwrap().remove(0);
    let newer = other
        .acquire_token_silent(&[API_USER_SCOPE], &account)
        .force_refresh(true)
        .await
        .unwrap();
    let seen = cred.get_token(&[API_USER_SCOPE], None).await.unwrap();
    assert!(
        seen.token.secret() == newer.access_token().expose_secret(),
        "the refreshed token"
    );

    // The user signs out in another process: no token any more.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert!(cred.get_token(&[API_USER_SCOPE], None).await.unwrap().token == seen.token);
    other.remove_account(&account).await.unwrap();
    let e = cred
        .get_token(&[API_USER_SCOPE], None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("run `msal login`"), "{e}");
}
