//! Managed-identity token revocation against msal-emulator: a resource
//! rejects the cached token with a claims challenge, the app passes the
//! claims, msal skips its cache and tells the host which token was rejected
//! (`token_sha256_to_refresh`, the token's SHA-256 in lower-case hex) with
//! the app's client capabilities (`xms_cc`); the host, which otherwise
//! answers from a cache of its own, issues a new token.

use std::sync::Arc;

use msal::TokenSource;
use msal::clock::ManualClock;
use msal::managed_identity::{Environment, ManagedIdentity, ManagedIdentityApplication};
use msal_emulator::managed_identity::Host;
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use msal_test_support::jwt::unix_now as now;
use sha2::Digest;

const VAULT: &str = "https://vault.azure.net";
const CHALLENGE: &str = r#"{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}"#;

fn sha256_hex(s: &str) -> String {
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn app(emu: &EmulatorHandle, host: Host, caps: &[&str]) -> ManagedIdentityApplication {
    let vars = emu.managed_identity_env(host).await.expect("variables");
    ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned)
        .environment(Environment::from_vars(vars).arc_agent_path(None))
        .clock(Arc::new(ManualClock::at_unix(now())))
        .client_capabilities(caps.iter().copied())
        .build()
        .expect("builds")
}

/// The whole revocation round on `host`.
async fn revoked_token_is_replaced(emu: &EmulatorHandle, host: Host) {
    let a = app(emu, host, &["cp1", "cp2"]).await;
    let old = a.acquire_token_for_resource(VAULT).await.expect("token");
    assert_eq!(old.source(), TokenSource::IdentityProvider);
    let old = old.access_token().expose_secret().to_owned();

    // The host caches too: another app on it (no msal cache) gets the same
    // token, which is why the host must be told which one was rejected.
    let other = app(emu, host, &[]).await;
    let same = other
        .acquire_token_for_resource(VAULT)
        .await
        .expect("token");
    assert_eq!(same.access_token().expose_secret(), old);

    // A force refresh without claims skips msal's cache but not the host's.
    let forced = a
        .acquire_token_for_resource(VAULT)
        .force_refresh(true)
        .await
        .expect("token");
    assert_eq!(forced.source(), TokenSource::IdentityProvider);
    assert_eq!(forced.access_token().expose_secret(), old);

    // The resource rejected `old` with a claims challenge.
    let fresh = a
        .acquire_token_for_resource(VAULT)
        .claims(CHALLENGE)
        .await
        .expect("a new token");
    assert_eq!(fresh.source(), TokenSource::IdentityProvider);
    let fresh = fresh.access_token().expose_secret().to_owned();
    assert_ne!(fresh, old, "the revoked token was replaced");

    let log = emu.admin().host_token_requests();
    let last = log.last().expect("recorded");
    assert_eq!(last.host, host);
    assert_eq!(
        last.token_sha256_to_refresh.as_deref(),
        Some(sha256_hex(&old).as_str()),
        "the old token's SHA-256, lower-case hex"
    );
    assert_eq!(last.xms_cc.as_deref(), Some("cp1,cp2"));
    assert!(last.replaced && !last.hash_mismatch, "{last:?}");
    // Only the claims call named a token.
    assert_eq!(
        log.iter()
            .filter(|r| r.token_sha256_to_refresh.is_some())
            .count(),
        1
    );
    assert_eq!(
        log[1].xms_cc, None,
        "the app without capabilities sends none"
    );

    // msal's cache now holds the new token, and so does the host's.
    let cached = a.acquire_token_for_resource(VAULT).await.expect("token");
    assert_eq!(cached.source(), TokenSource::Cache);
    assert_eq!(cached.access_token().expose_secret(), fresh);
    let host_now = other
        .acquire_token_for_resource(VAULT)
        .force_refresh(true)
        .await
        .expect("token");
    assert_eq!(host_now.access_token().expose_secret(), fresh);

    // Another app's challenge replaces the host's token again...
    let again = other
        .acquire_token_for_resource(VAULT)
        .claims(CHALLENGE)
        .await
        .expect("token");
    let again = again.access_token().expose_secret().to_owned();
    let last = emu.admin().host_token_requests().pop().expect("recorded");
    assert_eq!(
        last.token_sha256_to_refresh.as_deref(),
        Some(sha256_hex(&fresh).as_str())
    );
    assert!(last.replaced);
    assert_ne!(again, fresh);
    // ...so a challenge naming `fresh` names a token the host no longer
    // holds: it answers with its current one instead of minting another.
    let current = a
        .acquire_token_for_resource(VAULT)
        .claims(CHALLENGE)
        .await
        .expect("token");
    assert_eq!(current.access_token().expose_secret(), again);
    let last = emu.admin().host_token_requests().pop().expect("recorded");
    assert!(last.hash_mismatch && !last.replaced, "{last:?}");
}

#[tokio::test]
async fn app_service_replaces_a_revoked_token() {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator");
    revoked_token_is_replaced(&emu, Host::AppService).await;
}

#[tokio::test]
async fn service_fabric_replaces_a_revoked_token() {
    let emu = Emulator::start(EmulatorConfig::default().with_tls(None))
        .await
        .expect("emulator");
    revoked_token_is_replaced(&emu, Host::ServiceFabric).await;
}

#[tokio::test]
async fn imds_is_not_sent_the_revocation_parameters() {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator");
    let a = app(&emu, Host::Imds, &["cp1"]).await;
    let old = a.acquire_token_for_resource(VAULT).await.expect("token");
    // IMDS refuses unknown parameters: the claims call succeeding shows none was sent.
    let fresh = a
        .acquire_token_for_resource(VAULT)
        .claims(CHALLENGE)
        .await
        .expect("token");
    assert_eq!(fresh.source(), TokenSource::IdentityProvider);
    assert_ne!(
        fresh.access_token().expose_secret(),
        old.access_token().expose_secret()
    );
    assert!(emu.admin().host_token_requests().is_empty());
}
