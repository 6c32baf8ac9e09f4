//! App credentials against msal-emulator: confidential client (secret,
//! certificate, assertion), environment, workload identity and managed
//! identity each answer, serve the second call from the cache, refresh a
//! token within 5 minutes of expiry, make one request for concurrent
//! calls, keep tokens across "runs" in a cache file, and fail with
//! msal's message and no secret.

mod common;

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use common::*;
use msal::credentials::{Certificate, ClientCredential};
use msal::managed_identity::{Environment, UserAssignedId};
use msal::secret::{Assertion, ClientSecret};
use msal_azure_identity::{
    ConfidentialClientCredential, EnvironmentCredential, ManagedIdentityCredential,
    WorkloadIdentityCredential,
};
use msal_emulator::managed_identity::{Host, SYSTEM_ASSIGNED, TOKEN_LIFETIME_SECS, USER_ASSIGNED};
use msal_emulator::{EmulatorHandle, Endpoint, Fault, defaults};

fn secret_credential(
    emu: &EmulatorHandle,
) -> msal_azure_identity::ConfidentialClientCredentialBuilder {
    ConfidentialClientCredential::builder(
        defaults::TENANT_ID,
        defaults::DAEMON_APP_ID,
        ClientCredential::secret(ClientSecret::new(defaults::DAEMON_SECRET)),
    )
    .authority_host(emu.base_url())
}

fn client_credentials(emu: &EmulatorHandle) -> usize {
    emu.admin().token_requests_with_grant("client_credentials")
}

/// Asks `cred` twice: the first call reaches the emulator once, the second
/// is served from the cache. Returns the token's claims.
async fn once_then_cached(
    emu: &EmulatorHandle,
    cred: &dyn TokenCredential,
    scope: &str,
    requests: fn(&EmulatorHandle) -> usize,
) -> serde_json::Value {
    emu.admin().reset_counters();
    let first = cred.get_token(&[scope], None).await.unwrap();
    assert_eq!(requests(emu), 1, "the first call asks the emulator");
    let second = cred.get_token(&[scope], None).await.unwrap();
    assert_eq!(requests(emu), 1, "the second call is served from the cache");
    assert!(second.token == first.token && second.expires_on == first.expires_on);
    let debug = format!("{cred:?}");
    assert!(
        !debug.contains(first.token.secret()),
        "no token in Debug: {debug}"
    );
    claims(first.token.secret())
}

#[tokio::test]
async fn a_secret_a_certificate_and_an_assertion_each_get_an_app_token() {
    let emu = emulator().await;
    let cred = secret_credential(&emu).build().unwrap();
    let c = once_then_cached(&emu, cred.as_ref(), API_SCOPE, client_credentials).await;
    assert_eq!(
        (c["aud"].as_str(), c["azp"].as_str()),
        (
            Some(defaults::WEB_API_APP_ID),
            Some(defaults::DAEMON_APP_ID)
        )
    );
    assert_eq!(c["azpacr"], "1", "authenticated with a secret");
    assert_eq!(c["tid"], defaults::TENANT_ID);

    let cert = daemon_certificate(&emu);
    let certificate = Certificate::from_pem(&cert.key_pem, &cert.cert_pem).unwrap();
    let cred = ConfidentialClientCredential::builder(
        defaults::TENANT_ID,
        defaults::DAEMON_APP_ID,
        ClientCredential::certificate(certificate),
    )
    .authority_host(emu.base_url())
    .build()
    .unwrap();
    let c = once_then_cached(&emu, cred.as_ref(), VAULT_SCOPE, client_credentials).await;
    assert_eq!(c["aud"], KEYVAULT_APP_ID);
    assert_eq!(c["azpacr"], "2", "authenticated with a certificate");

    let assertion = daemon_assertion(&emu, &cert, defaults::TENANT_ID);
    let cred = ConfidentialClientCredential::builder(
        defaults::TENANT_ID,
        defaults::DAEMON_APP_ID,
        ClientCredential::assertion(Assertion::new(assertion.clone())),
    )
    .authority_host(emu.base_url())
    .build()
    .unwrap();
    let c = once_then_cached(&emu, cred.as_ref(), API_SCOPE, client_credentials).await;
    assert_eq!(c["azp"], defaults::DAEMON_APP_ID);
    assert!(
        !format!("{cred:?}").contains(&assertion),
        "no assertion in Debug"
    );
}

#[tokio::test]
async fn within_five_minutes_of_expiry_an_app_token_is_refreshed() {
    let emu = emulator().await;
    let clock = clock_now();
    let cred = secret_credential(&emu)
        .clock(clock.clone())
        .build()
        .unwrap();
    let first = cred.get_token(&[API_SCOPE], None).await.unwrap();
    emu.admin().reset_counters();
    clock.advance(Duration::from_secs(LIFETIME - 360));
    let still = cred.get_token(&[API_SCOPE], None).await.unwrap();
    assert!(still.token == first.token);
    assert_eq!(client_credentials(&emu), 0);
    clock.advance(Duration::from_secs(120));
    let refreshed = cred.get_token(&[API_SCOPE], None).await.unwrap();
    assert!(
        refreshed.token != first.token,
        "not the nearly expired token"
    );
    assert_eq!(client_credentials(&emu), 1);
    let left = refreshed.expires_on.unix_timestamp() - unix(&clock);
    assert!(
        left >= msal_azure_identity::MIN_LIFETIME_SECS,
        "{left} s left"
    );
}

fn unix(clock: &msal::clock::ManualClock) -> i64 {
    use msal::clock::Clock;
    clock.unix_now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_app_token_calls_make_one_request() {
    let emu = emulator().await;
    let cred: Arc<dyn TokenCredential> = secret_credential(&emu).build().unwrap();
    emu.admin().reset_counters();
    let calls = (0..32).map(|_| {
        let cred = cred.clone();
        tokio::spawn(async move { cred.get_token(&[API_SCOPE], None).await })
    });
    let tokens: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert_eq!(client_credentials(&emu), 1);
    assert!(tokens.iter().all(|t| t.token == tokens[0].token));
}

#[tokio::test]
async fn a_wrong_secret_is_a_credential_error_with_msals_message_and_no_secret() {
    let emu = emulator().await;
    let cred = ConfidentialClientCredential::builder(
        defaults::TENANT_ID,
        defaults::DAEMON_APP_ID,
        ClientCredential::secret(ClientSecret::new("not-the-secret-4711")),
    )
    .authority_host(emu.base_url())
    .build()
    .unwrap();
    let e = cred.get_token(&[API_SCOPE], None).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Credential);
    let text = format!("{e} {e:?} {cred:?}");
    assert!(
        text.starts_with("ConfidentialClientCredential: identity provider error: invalid_client")
            && text.contains("AADSTS7000215"),
        "{text}"
    );
    assert!(!text.contains("not-the-secret-4711"), "{text}");
    // No scopes is refused before any request.
    let e = cred.get_token(&[], None).await.unwrap_err();
    assert!(e.to_string().contains("no scopes were given"), "{e}");
}

#[tokio::test]
async fn app_tokens_outlive_the_process_in_a_cache_file() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app-tokens.json");
    emu.admin().reset_counters();
    // Two "runs" of a program: separate credentials, one file.
    for run in 0..2 {
        let cred = secret_credential(&emu)
            .cache_access(Arc::new(plain_file(&file)))
            .build()
            .unwrap();
        cred.get_token(&[API_SCOPE], None).await.unwrap();
        assert_eq!(client_credentials(&emu), 1, "run {run}");
    }
    let mi = |file: &std::path::Path, env: Environment| {
        ManagedIdentityCredential::builder()
            .environment(env)
            .cache_access(Arc::new(plain_file(file)))
            .build()
            .unwrap()
    };
    let env = imds_env(&emu).await;
    for run in 0..2 {
        mi(&file, env.clone())
            .get_token(&[VAULT_SCOPE], None)
            .await
            .unwrap();
        assert_eq!(
            emu.admin().managed_identity_requests(),
            1,
            "managed identity run {run}"
        );
    }
}

#[tokio::test]
async fn the_environment_names_a_secret_or_a_certificate() {
    let emu = emulator().await;
    let env = Environment::from_vars([
        ("AZURE_TENANT_ID", defaults::TENANT_ID),
        ("AZURE_CLIENT_ID", defaults::DAEMON_APP_ID),
        ("AZURE_CLIENT_SECRET", defaults::DAEMON_SECRET),
        ("AZURE_AUTHORITY_HOST", emu.base_url()),
    ]);
    let cred = EnvironmentCredential::builder()
        .environment(env)
        .build()
        .unwrap();
    let c = once_then_cached(&emu, cred.as_ref(), API_SCOPE, client_credentials).await;
    assert_eq!(c["azpacr"], "1");

    let cert = daemon_certificate(&emu);
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("sp.pem");
    std::fs::write(&pem, format!("{}{}", cert.cert_pem, cert.key_pem)).unwrap();
    let vars = |extra: &[(&str, &str)]| {
        let mut v = vec![
            ("AZURE_TENANT_ID", defaults::TENANT_ID.to_owned()),
            ("AZURE_CLIENT_ID", defaults::DAEMON_APP_ID.to_owned()),
            ("AZURE_CLIENT_CERTIFICATE_PATH", pem.display().to_string()),
            ("AZURE_AUTHORITY_HOST", emu.base_url().to_owned()),
        ];
        v.extend(extra.iter().map(|(k, val)| (*k, (*val).to_owned())));
        Environment::from_vars(v)
    };
    let cred = EnvironmentCredential::builder()
        .environment(vars(&[]))
        .build()
        .unwrap();
    let c = once_then_cached(&emu, cred.as_ref(), API_SCOPE, client_credentials).await;
    assert_eq!(c["azpacr"], "2");

    // Half configured: the message names what is missing.
    let e = EnvironmentCredential::builder()
        .environment(Environment::from_vars([("AZURE_CLIENT_ID", "x")]))
        .build()
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "EnvironmentCredential: not configured (AZURE_TENANT_ID, AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH not set)"
    );
    let e = EnvironmentCredential::builder()
        .environment(vars(&[("AZURE_CLIENT_CERTIFICATE_PASSWORD", "pw")]))
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("only unencrypted PEM keys"), "{e}");
    std::fs::write(&pem, [0x30u8, 0x82, 0x01, 0x00]).unwrap();
    let e = EnvironmentCredential::builder()
        .environment(vars(&[]))
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not PEM"), "{e}");
}

#[tokio::test]
async fn workload_identity_sends_the_federated_token_file() {
    let emu = emulator().await;
    let cert = daemon_certificate(&emu);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("azure-identity-token");
    std::fs::write(
        &token_file,
        daemon_assertion(&emu, &cert, defaults::TENANT_ID),
    )
    .unwrap();
    let env = Environment::from_vars([
        ("AZURE_TENANT_ID", defaults::TENANT_ID.to_owned()),
        ("AZURE_CLIENT_ID", defaults::DAEMON_APP_ID.to_owned()),
        (
            "AZURE_FEDERATED_TOKEN_FILE",
            token_file.display().to_string(),
        ),
        ("AZURE_AUTHORITY_HOST", format!("{}/", emu.base_url())),
    ]);
    let cred = WorkloadIdentityCredential::builder()
        .environment(env)
        .build()
        .unwrap();
    let c = once_then_cached(&emu, cred.as_ref(), API_SCOPE, client_credentials).await;
    assert_eq!(c["azp"], defaults::DAEMON_APP_ID);
    let seen = emu.admin().requests();
    assert!(
        seen.iter()
            .any(|r| r.grant_type.as_deref() == Some("client_credentials")),
        "{seen:?}"
    );
    let e = WorkloadIdentityCredential::builder()
        .environment(Environment::from_vars([("AZURE_TENANT_ID", "t")]))
        .build()
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "WorkloadIdentityCredential: not configured (AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID not set)"
    );
}

async fn imds_env(emu: &EmulatorHandle) -> Environment {
    Environment::from_vars(
        emu.managed_identity_env(Host::Imds)
            .await
            .expect("IMDS variables"),
    )
    .arc_agent_path(None)
}

fn mi_requests(emu: &EmulatorHandle) -> usize {
    emu.admin().managed_identity_requests()
}

#[tokio::test]
async fn managed_identity_on_imds_and_app_service_system_and_user_assigned() {
    let emu = emulator().await;
    let cred = ManagedIdentityCredential::builder()
        .environment(imds_env(&emu).await)
        .build()
        .unwrap();
    assert_eq!(cred.source(), msal::managed_identity::Source::Imds);
    let c = once_then_cached(&emu, cred.as_ref(), VAULT_SCOPE, mi_requests).await;
    assert_eq!(c["aud"], VAULT, "one scope, its resource");
    assert_eq!(c["appid"], SYSTEM_ASSIGNED.client_id);

    let app_service =
        Environment::from_vars(emu.managed_identity_env(Host::AppService).await.unwrap())
            .arc_agent_path(None);
    let cred = ManagedIdentityCredential::builder()
        .environment(app_service)
        .user_assigned(UserAssignedId::ClientId(USER_ASSIGNED[0].client_id.into()))
        .build()
        .unwrap();
    assert_eq!(cred.source(), msal::managed_identity::Source::AppService);
    let c = once_then_cached(&emu, cred.as_ref(), VAULT_SCOPE, mi_requests).await;
    assert_eq!(c["appid"], USER_ASSIGNED[0].client_id);

    let e = cred
        .get_token(&[VAULT_SCOPE, API_SCOPE], None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("ManagedIdentityCredential: a managed identity token is for one resource, but 2 scopes were given"),
        "{e}"
    );
}

#[tokio::test]
async fn within_five_minutes_of_expiry_a_managed_identity_token_is_never_handed_out() {
    let emu = emulator().await;
    let clock = clock_now();
    let cred = ManagedIdentityCredential::builder()
        .environment(imds_env(&emu).await)
        .clock(clock.clone())
        .build()
        .unwrap();
    let first = cred.get_token(&[VAULT_SCOPE], None).await.unwrap();
    emu.admin().reset_counters();
    clock.advance(Duration::from_secs(3600));
    assert!(cred.get_token(&[VAULT_SCOPE], None).await.unwrap().token == first.token);
    assert_eq!(mi_requests(&emu), 0, "an hour later: the cache");

    // 6 minutes left (past the half-life at which msal refreshes ahead):
    // the endpoint fails, and the cached token, still good for more than
    // 5 minutes, is handed out.
    clock.advance(Duration::from_secs(TOKEN_LIFETIME_SECS - 3600 - 360));
    emu.admin()
        .inject_fault(Endpoint::ManagedIdentity, Fault::MalformedJson, 1);
    assert!(cred.get_token(&[VAULT_SCOPE], None).await.unwrap().token == first.token);
    assert_eq!(mi_requests(&emu), 1, "a refresh was tried");

    // 4 minutes left: the nearly expired token is not handed out again,
    // even when the endpoint fails.
    clock.advance(Duration::from_secs(120));
    emu.admin()
        .inject_fault(Endpoint::ManagedIdentity, Fault::MalformedJson, 1);
    let e = cred.get_token(&[VAULT_SCOPE], None).await.unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::Credential);
    assert!(
        e.to_string().starts_with("ManagedIdentityCredential: "),
        "{e}"
    );
    let refreshed = cred.get_token(&[VAULT_SCOPE], None).await.unwrap();
    assert!(refreshed.token != first.token);
    let left = refreshed.expires_on.unix_timestamp() - unix(&clock);
    assert!(
        left >= msal_azure_identity::MIN_LIFETIME_SECS,
        "{left} s left"
    );
    assert!(cred.get_token(&[VAULT_SCOPE], None).await.unwrap().token == refreshed.token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_managed_identity_calls_make_one_request() {
    let emu = emulator().await;
    let cred: Arc<dyn TokenCredential> = ManagedIdentityCredential::builder()
        .environment(imds_env(&emu).await)
        .build()
        .unwrap();
    emu.admin().reset_counters();
    let calls = (0..32).map(|_| {
        let cred = cred.clone();
        tokio::spawn(async move { cred.get_token(&[VAULT_SCOPE], None).await })
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap().unwrap();
    }
    assert_eq!(mi_requests(&emu), 1);
}

#[tokio::test]
async fn no_token_or_secret_reaches_the_logs() {
    let logs = msal_test_support::LogCapture::new();
    let _guard = logs.set_default();
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache.json");
    sign_in_ada(&emu, &file).await;
    let user = msal_azure_identity::SignedInUserCredential::builder()
        .client_id(defaults::CLI_APP_ID)
        .authority(emu.authority("organizations"))
        .cache_path(&file)
        .plaintext(true)
        .build()
        .unwrap();
    let chain = msal_azure_identity::DefaultCredential::builder()
        .environment(
            Environment::from_vars([
                ("AZURE_TENANT_ID", defaults::TENANT_ID.to_owned()),
                ("AZURE_CLIENT_ID", defaults::DAEMON_APP_ID.to_owned()),
                ("AZURE_CLIENT_SECRET", defaults::DAEMON_SECRET.to_owned()),
                ("AZURE_AUTHORITY_HOST", emu.base_url().to_owned()),
            ])
            .arc_agent_path(None),
        )
        .build()
        .unwrap();
    let mi = ManagedIdentityCredential::builder()
        .environment(imds_env(&emu).await)
        .build()
        .unwrap();
    let mut tokens = Vec::new();
    for _ in 0..2 {
        tokens.push(user.get_token(&[API_SCOPE], None).await.unwrap());
        tokens.push(chain.get_token(&[API_SCOPE], None).await.unwrap());
        tokens.push(mi.get_token(&[VAULT_SCOPE], None).await.unwrap());
    }
    let refresh_tokens: Vec<String> = {
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        doc["RefreshToken"]
            .as_object()
            .unwrap()
            .values()
            .map(|rt| rt["secret"].as_str().unwrap().to_owned())
            .collect()
    };
    let text = logs.contents();
    assert!(
        text.contains("msal_azure_identity") && text.contains("from_cache=true"),
        "the capture sees this crate's logs: {text}"
    );
    assert!(
        text.contains("DefaultCredential: using this source from now on"),
        "{text}"
    );
    for t in &tokens {
        assert!(
            !text.contains(t.token.secret()),
            "an access token in the logs"
        );
    }
    for rt in &refresh_tokens {
        assert!(!text.contains(rt.as_str()), "a refresh token in the logs");
    }
    assert!(
        !text.contains(defaults::DAEMON_SECRET),
        "the client secret in the logs"
    );
}
