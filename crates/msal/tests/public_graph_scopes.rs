//! Graph's scopes, qualified or bare, against msal-emulator: Entra (and the
//! emulator) answer a request for `https://graph.microsoft.com/User.Read`
//! with `"scope": "User.Read openid profile"`, so the cached target is bare.
//! Silent calls for the scope in any of Graph's spellings are served from
//! the cache, and so are bare requests for a token cached qualified; other
//! resources' scopes are not matched loosely.
// The password grant is deprecated; this still exercises it.
#![allow(deprecated)]
#![cfg(feature = "reqwest")]

use std::sync::Arc;

use msal::cache::TokenCache;
use msal::clock::ManualClock;
use msal::secret::Password;
use msal::{PublicClientApplication, TokenSource};
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Endpoint, defaults};
use msal_test_support::jwt::unix_now as now;
use serde_json::Value;

const QUALIFIED: &str = "https://graph.microsoft.com/User.Read";

fn app(emu: &EmulatorHandle, cache: Option<TokenCache>) -> PublicClientApplication {
    let mut b = PublicClientApplication::builder(defaults::CLI_APP_ID)
        .authority(emu.authority(defaults::TENANT_ID))
        .clock(Arc::new(ManualClock::at_unix(now())));
    if let Some(c) = cache {
        b = b.token_cache(c);
    }
    b.build().unwrap()
}

fn token_requests(emu: &EmulatorHandle) -> u64 {
    emu.admin().request_count(Endpoint::Token)
}

#[tokio::test]
async fn graph_scopes_qualified_or_bare_are_served_from_the_cache() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let a = app(&emu, None);
    let first = a
        .acquire_token_by_username_password(
            &[QUALIFIED],
            defaults::USER,
            Password::new(defaults::USER_PASSWORD),
        )
        .await
        .unwrap();
    assert_eq!(first.source(), TokenSource::IdentityProvider);
    let account = first.account().unwrap().clone();
    let doc: Value = serde_json::from_slice(&a.serialize_token_cache().await.unwrap()).unwrap();
    let targets: Vec<&str> = doc["AccessToken"]
        .as_object()
        .unwrap()
        .values()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        ["User.Read openid profile"],
        "the emulator answers bare"
    );
    let requests = token_requests(&emu);

    for spelling in [
        QUALIFIED,
        "User.Read",
        "HTTPS://GRAPH.MICROSOFT.COM/user.read",
        "00000003-0000-0000-c000-000000000000/User.Read",
        "https://graph.microsoft.us/User.Read",
        "https://canary.graph.microsoft.com/User.Read",
    ] {
        // Twice: the second call is the cache's query memo's.
        for _ in 0..2 {
            let r = a.acquire_token_silent(&[spelling], &account).await.unwrap();
            assert_eq!(r.source(), TokenSource::Cache, "{spelling}");
            assert_eq!(
                r.access_token().expose_secret(),
                first.access_token().expose_secret()
            );
        }
    }
    assert_eq!(token_requests(&emu), requests, "no request");

    // Another resource's scope of the same name is not Graph's.
    let other = a
        .acquire_token_silent(&["api://msal-emulator-web-api/User.Read"], &account)
        .await;
    assert!(
        other.is_err()
            || other
                .as_ref()
                .is_ok_and(|r| r.source() != TokenSource::Cache),
        "{other:?}"
    );
    assert!(
        token_requests(&emu) > requests,
        "it asked the identity provider"
    );

    // The reverse: the token cached under the qualified spelling (as a
    // response without `scope` stores it) serves a bare request.
    let text = String::from_utf8(a.serialize_token_cache().await.unwrap()).unwrap();
    let text = text.replace(
        "\"target\": \"User.Read openid profile\"",
        &format!("\"target\": \"{QUALIFIED} openid profile\""),
    );
    assert!(text.contains(&format!("{QUALIFIED} openid profile")));
    let b = app(
        &emu,
        Some(TokenCache::deserialize(text.as_bytes()).unwrap()),
    );
    let requests = token_requests(&emu);
    for spelling in ["User.Read", QUALIFIED] {
        let r = b.acquire_token_silent(&[spelling], &account).await.unwrap();
        assert_eq!(r.source(), TokenSource::Cache, "{spelling}");
        assert_eq!(
            r.access_token().expose_secret(),
            first.access_token().expose_secret()
        );
    }
    assert_eq!(token_requests(&emu), requests, "no request");
}
