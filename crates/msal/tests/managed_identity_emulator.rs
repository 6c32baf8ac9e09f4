//! End to end against msal-emulator's identity endpoints, one test per
//! source, each pointed at through the variables the real Azure host sets.
//! The emulator refuses anything but each source's exact shape (method,
//! path, api-version, headers, parameter names), signs real JWTs for the
//! identity asked for, and counts requests.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use msal::Error;
use msal::clock::ManualClock;
use msal::http::{BoxFuture, TransportErrorKind};
use msal::managed_identity::{
    Environment, ManagedIdentity, ManagedIdentityApplication, Source, UserAssignedId,
};
use msal::storage::{CacheAccess, CacheAccessArgs, StorageError};
use msal::transport::{ProxyConfig, ReqwestHttpClient};
use msal::{AuthenticationResult, TokenSource};
use msal_emulator::managed_identity::{Host, SYSTEM_ASSIGNED, USER_ASSIGNED};
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Endpoint, Fault};
use msal_test_support::{ProxyBehaviour, TestProxy};
use serde_json::Value;

const VAULT: &str = "https://vault.azure.net";

use msal_test_support::jwt::unix_now as now;

async fn env(emu: &EmulatorHandle, host: Host) -> Environment {
    let vars = emu
        .managed_identity_env(host)
        .await
        .expect("variables for this host");
    Environment::from_vars(vars)
        .arc_agent_path(None)
        .arc_key_directory(emu.admin().arc_key_directory())
}

async fn app(emu: &EmulatorHandle, host: Host, id: ManagedIdentity) -> ManagedIdentityApplication {
    ManagedIdentityApplication::builder(id)
        .environment(env(emu, host).await)
        // Real time (the emulator's tokens are), moved only by retry waits.
        .clock(Arc::new(ManualClock::at_unix(now())))
        .build()
        .expect("builds")
}

/// The token's claims (the emulator signs real JWTs).
fn claims(t: &AuthenticationResult) -> Value {
    let payload = t
        .access_token()
        .expose_secret()
        .split('.')
        .nth(1)
        .expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

fn ua_client(i: usize) -> ManagedIdentity {
    ManagedIdentity::UserAssigned(UserAssignedId::ClientId(USER_ASSIGNED[i].client_id.into()))
}

/// Gets a token for `id`, checks whose it is, then that a second call is served from the cache.
async fn token_then_cache(emu: &EmulatorHandle, app: &ManagedIdentityApplication, oid: &str) {
    let before = emu.admin().managed_identity_requests();
    let t = app.acquire_token_for_resource(VAULT).await.expect("token");
    assert_eq!(t.source(), TokenSource::IdentityProvider);
    let c = claims(&t);
    assert_eq!(
        (c["aud"].as_str(), c["oid"].as_str()),
        (Some(VAULT), Some(oid)),
        "{c}"
    );
    assert!(
        (t.expires_on_unix() - now() as i64 - 86_399).abs() <= 5,
        "a day: {}",
        t.expires_on_unix()
    );
    let fetched = emu.admin().managed_identity_requests() - before;
    let again = app
        .acquire_token_for_resource(format!("{VAULT}/.default"))
        .await
        .expect("cached");
    assert_eq!(again.source(), TokenSource::Cache);
    assert_eq!(
        emu.admin().managed_identity_requests() - before,
        fetched,
        "no request for the cached token"
    );
}

#[tokio::test]
async fn imds_system_and_user_assigned() {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator");
    let sa = app(&emu, Host::Imds, ManagedIdentity::SystemAssigned).await;
    assert_eq!(sa.source(), Source::Imds);
    token_then_cache(&emu, &sa, SYSTEM_ASSIGNED.object_id).await;
    for (id, oid) in [
        (ua_client(0), USER_ASSIGNED[0].object_id),
        (
            ManagedIdentity::UserAssigned(UserAssignedId::ResourceId(
                USER_ASSIGNED[1].resource_id.into(),
            )),
            USER_ASSIGNED[1].object_id,
        ),
        (
            ManagedIdentity::UserAssigned(UserAssignedId::ObjectId(
                USER_ASSIGNED[0].object_id.into(),
            )),
            USER_ASSIGNED[0].object_id,
        ),
    ] {
        let a = app(&emu, Host::Imds, id).await;
        token_then_cache(&emu, &a, oid).await;
    }
    assert_eq!(emu.admin().managed_identity_requests(), 4);
}

#[tokio::test]
async fn imds_unknown_identity_fails_at_once_with_the_service_message() {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator");
    let a = app(
        &emu,
        Host::Imds,
        ManagedIdentity::UserAssigned(UserAssignedId::ClientId(
            "00000000-0000-0000-0000-0000000000aa".into(),
        )),
    )
    .await;
    let e = a
        .acquire_token_for_resource(VAULT)
        .await
        .expect_err("unknown identity");
    let Error::Service(s) = &e else {
        panic!("{e:?}")
    };
    assert_eq!((s.status, s.error.as_str()), (Some(400), "invalid_request"));
    assert!(e.to_string().contains("Identity not found"), "{e}");
    assert_eq!(
        emu.admin().managed_identity_requests(),
        1,
        "a 400 is not retried"
    );
}

#[tokio::test]
async fn imds_410_then_200() {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator");
    emu.admin().inject_fault(
        Endpoint::Other,
        Fault::Status {
            status: 410,
            retry_after_secs: None,
            error: None,
        },
        1,
    );
    let clock = Arc::new(ManualClock::at_unix(now()));
    let a = ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned)
        .environment(env(&emu, Host::Imds).await)
        .clock(clock.clone())
        .build()
        .expect("builds");
    a.acquire_token_for_resource(VAULT)
        .await
        .expect("after the retry");
    assert_eq!(emu.admin().managed_identity_requests(), 2);
    use msal::clock::Clock;
    assert!(
        clock.unix_now() >= now() as i64 + 9,
        "waited 10 s on the clock, not for real"
    );
}

#[tokio::test]
async fn app_service_system_and_user_assigned() {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator");
    let sa = app(&emu, Host::AppService, ManagedIdentity::SystemAssigned).await;
    assert_eq!(sa.source(), Source::AppService);
    token_then_cache(&emu, &sa, SYSTEM_ASSIGNED.object_id).await;
    // The emulator knows App Service's `mi_res_id` only (not IMDS's `msi_res_id`).
    let by_resource = ManagedIdentity::UserAssigned(UserAssignedId::ResourceId(
        USER_ASSIGNED[1].resource_id.into(),
    ));
    let a = app(&emu, Host::AppService, by_resource).await;
    token_then_cache(&emu, &a, USER_ASSIGNED[1].object_id).await;
}

/// One document for every partition (a shared cache file).
#[derive(Default)]
struct OneDocument(Mutex<Option<Vec<u8>>>);

impl CacheAccess for OneDocument {
    fn before_access<'a>(
        &'a self,
        _: CacheAccessArgs<'a>,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        let doc = self.0.lock().expect("lock").clone();
        Box::pin(async move { Ok(doc) })
    }
    fn after_access<'a>(
        &'a self,
        _: CacheAccessArgs<'a>,
        document: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        if let Some(d) = document {
            *self.0.lock().expect("lock") = Some(d.to_vec());
        }
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn a_user_assigned_identity_never_gets_the_system_assigned_token() {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator");
    let shared: Arc<OneDocument> = Arc::default();
    let with_cache = |id: ManagedIdentity, env: Environment| {
        ManagedIdentityApplication::builder(id)
            .environment(env)
            .clock(Arc::new(ManualClock::at_unix(now())))
            .cache_access(shared.clone())
            .build()
            .expect("builds")
    };
    let sa = with_cache(
        ManagedIdentity::SystemAssigned,
        env(&emu, Host::AppService).await,
    );
    let ua = with_cache(ua_client(0), env(&emu, Host::AppService).await);
    let t = sa
        .acquire_token_for_resource(VAULT)
        .await
        .expect("system-assigned");
    assert_eq!(claims(&t)["oid"], SYSTEM_ASSIGNED.object_id);
    let t = ua
        .acquire_token_for_resource(VAULT)
        .await
        .expect("user-assigned");
    assert_eq!(
        (t.source(), claims(&t)["oid"].as_str()),
        (
            TokenSource::IdentityProvider,
            Some(USER_ASSIGNED[0].object_id)
        )
    );
    // And the other way round: each finds only its own.
    let t = sa.acquire_token_for_resource(VAULT).await.expect("cached");
    assert_eq!(
        (t.source(), claims(&t)["oid"].as_str()),
        (TokenSource::Cache, Some(SYSTEM_ASSIGNED.object_id))
    );
    let t = ua.acquire_token_for_resource(VAULT).await.expect("cached");
    assert_eq!(
        (t.source(), claims(&t)["oid"].as_str()),
        (TokenSource::Cache, Some(USER_ASSIGNED[0].object_id))
    );
    assert_eq!(emu.admin().managed_identity_requests(), 2);
}

#[tokio::test]
async fn azure_arc_key_file_challenge() {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator");
    let a = app(&emu, Host::AzureArc, ManagedIdentity::SystemAssigned).await;
    assert_eq!(a.source(), Source::AzureArc);
    token_then_cache(&emu, &a, SYSTEM_ASSIGNED.object_id).await;
    assert_eq!(
        emu.admin().managed_identity_requests(),
        2,
        "the challenge, then the token"
    );
    // Trusting another directory, the same challenge is refused before any key is sent.
    let other = tempfile::tempdir().expect("tempdir");
    let strict = ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned)
        .environment(
            env(&emu, Host::AzureArc)
                .await
                .arc_key_directory(other.path()),
        )
        .build()
        .expect("builds");
    let e = strict
        .acquire_token_for_resource("https://management.azure.com")
        .await
        .expect_err("refused");
    assert!(
        e.to_string().contains("not in the expected directory"),
        "{e}"
    );
    assert_eq!(emu.admin().managed_identity_requests(), 3);
}

#[tokio::test]
async fn cloud_shell() {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator");
    let a = app(&emu, Host::CloudShell, ManagedIdentity::SystemAssigned).await;
    assert_eq!(a.source(), Source::CloudShell);
    token_then_cache(&emu, &a, SYSTEM_ASSIGNED.object_id).await;
}

#[tokio::test]
async fn azure_ml() {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator");
    let a = app(&emu, Host::AzureMl, ua_client(1)).await;
    assert_eq!(a.source(), Source::AzureMl);
    token_then_cache(&emu, &a, USER_ASSIGNED[1].object_id).await;
}

#[tokio::test]
async fn service_fabric_over_tls_with_the_pinned_certificate() {
    let emu = Emulator::start(EmulatorConfig::default().with_tls(None))
        .await
        .expect("emulator");
    let a = app(&emu, Host::ServiceFabric, ManagedIdentity::SystemAssigned).await;
    assert_eq!(a.source(), Source::ServiceFabric);
    token_then_cache(&emu, &a, SYSTEM_ASSIGNED.object_id).await;
    // The same endpoint with another pin: refused during the handshake.
    let mut vars = emu
        .managed_identity_env(Host::ServiceFabric)
        .await
        .expect("vars");
    for (k, v) in &mut vars {
        if k == "IDENTITY_SERVER_THUMBPRINT" {
            *v = "00".repeat(20);
        }
    }
    let wrong = ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned)
        .environment(Environment::from_vars(vars).arc_agent_path(None))
        .build()
        .expect("builds");
    let before = emu.admin().managed_identity_requests();
    let e = wrong
        .acquire_token_for_resource(VAULT)
        .await
        .expect_err("wrong pin");
    let Error::Transport(t) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(t.kind, TransportErrorKind::Tls, "{e}");
    assert_eq!(emu.admin().managed_identity_requests(), before);
}

#[tokio::test]
async fn requests_never_go_through_a_proxy() {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator");
    let proxy = TestProxy::start(ProxyBehaviour::default()).await;
    let http = ReqwestHttpClient::builder()
        .proxy(ProxyConfig::Url(proxy.url()))
        .proxy_loopback(true)
        .build()
        .expect("client");
    for host in [
        Host::Imds,
        Host::AppService,
        Host::AzureArc,
        Host::CloudShell,
        Host::AzureMl,
    ] {
        let a = ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned)
            .environment(env(&emu, host).await)
            .http_client(Arc::new(http.clone()))
            .build()
            .expect("builds");
        a.acquire_token_for_resource(VAULT).await.expect("token");
    }
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
    assert_eq!(emu.admin().managed_identity_requests(), 6);
}
