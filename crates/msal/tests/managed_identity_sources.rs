//! Service Fabric (certificate pinned to IDENTITY_SERVER_THUMBPRINT), Azure
//! Arc (the key-file challenge and its checks), Cloud Shell and Azure ML,
//! each against a test server of its own named through the host's variables.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use msal::Error;
use msal::TokenSource;
use msal::clock::ManualClock;
use msal::http::TransportErrorKind;
use msal::managed_identity::{
    Environment, ManagedIdentity, ManagedIdentityApplication, Source, UserAssignedId,
};
use msal_test_support::{Canned, SeenRequest, TestServer};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha1::{Digest, Sha1};

const NOW: u64 = 1_700_000_000;
const VAULT: &str = "https://vault.azure.net";
const VAULT_Q: &str = "resource=https%3A%2F%2Fvault.azure.net";

fn env(pairs: &[(&str, String)]) -> Environment {
    Environment::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .arc_agent_path(None)
}

fn build(identity: ManagedIdentity, env: Environment) -> Result<ManagedIdentityApplication, Error> {
    ManagedIdentityApplication::builder(identity)
        .environment(env)
        .clock(Arc::new(ManualClock::at_unix(NOW)))
        .build()
}

fn token_expires_on(at: &str) -> Canned {
    Canned::json(
        200,
        &format!(
            r#"{{"access_token":"{at}","expires_on":{},"token_type":"Bearer","resource":"{VAULT}"}}"#,
            NOW + 3600
        ),
    )
}

/// A self-signed certificate like the one Service Fabric's endpoint serves,
/// its TLS configuration, and its SHA-1 thumbprint in upper-case hex.
fn service_fabric_cert() -> (Arc<rustls::ServerConfig>, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["sf-node.invalid".to_owned()])
        .expect("certificate");
    let der: CertificateDer<'static> = certified.cert.der().clone();
    let thumbprint: String = Sha1::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .expect("server config");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (Arc::new(config), thumbprint)
}

fn service_fabric_env(server: &TestServer, thumbprint: &str) -> Environment {
    env(&[
        (
            "IDENTITY_ENDPOINT",
            format!(
                "https://127.0.0.1:{}/metadata/identity/oauth2/token",
                server.port()
            ),
        ),
        ("IDENTITY_HEADER", "sf-s3cr3t".to_owned()),
        ("IDENTITY_SERVER_THUMBPRINT", thumbprint.to_owned()),
    ])
}

#[tokio::test]
async fn service_fabric_trusts_the_pinned_certificate_only() {
    let (tls, thumbprint) = service_fabric_cert();
    let server = TestServer::https(tls, |r| {
        if r.header("secret") == Some("sf-s3cr3t") {
            token_expires_on("sf-at")
        } else {
            Canned::status(401)
        }
    })
    .await;
    // Lower case with colons, as some tools print thumbprints, is the same pin.
    let colons: String = thumbprint
        .to_ascii_lowercase()
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let app = build(
        ManagedIdentity::SystemAssigned,
        service_fabric_env(&server, &colons),
    )
    .expect("builds");
    assert_eq!(app.source(), Source::ServiceFabric);
    let t = app.acquire_token_for_resource(VAULT).await.expect("token");
    assert_eq!(
        (t.access_token().expose_secret(), t.expires_on_unix()),
        ("sf-at", NOW as i64 + 3600)
    );
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].target,
        format!("/metadata/identity/oauth2/token?api-version=2019-07-01-preview&{VAULT_Q}")
    );
    assert_eq!(seen[0].header("secret"), Some("sf-s3cr3t"));
    assert_eq!(seen[0].header("accept"), Some("application/json"));

    // Another thumbprint: the handshake is refused before anything is sent.
    let mut other = thumbprint.into_bytes();
    other[0] = if other[0] == b'0' { b'1' } else { b'0' };
    let other = String::from_utf8(other).expect("hex");
    let app = build(
        ManagedIdentity::SystemAssigned,
        service_fabric_env(&server, &other),
    )
    .expect("builds");
    let e = app
        .acquire_token_for_resource(VAULT)
        .await
        .expect_err("wrong certificate");
    let Error::Transport(t) = &e else {
        panic!("not a transport error: {e:?}")
    };
    assert_eq!(t.kind, TransportErrorKind::Tls);
    assert!(
        t.message.contains("IDENTITY_SERVER_THUMBPRINT"),
        "{}",
        t.message
    );
    assert_eq!(server.requests().len(), 1, "nothing reached the impostor");
}

#[tokio::test]
async fn service_fabric_is_told_capabilities_and_which_token_a_claims_challenge_rejected() {
    let (tls, thumbprint) = service_fabric_cert();
    let server = TestServer::https(tls, |_| token_expires_on("sf-at-1")).await;
    let app = ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned)
        .environment(service_fabric_env(&server, &thumbprint))
        .clock(Arc::new(ManualClock::at_unix(NOW)))
        .client_capabilities(["cp1", "cp2"])
        .build()
        .expect("builds");
    app.acquire_token_for_resource(VAULT).await.expect("token");
    app.acquire_token_for_resource(VAULT)
        .claims(r#"{"access_token":{"nbf":{"essential":true}}}"#)
        .await
        .expect("token");
    let seen = server.requests();
    let base = format!("/metadata/identity/oauth2/token?api-version=2019-07-01-preview&{VAULT_Q}");
    assert_eq!(seen[0].target, format!("{base}&xms_cc=cp1%2Ccp2"));
    // SHA-256 of "sf-at-1", in hex.
    let hash: String = sha2::Sha256::digest(b"sf-at-1")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        seen[1].target,
        format!("{base}&token_sha256_to_refresh={hash}&xms_cc=cp1%2Ccp2")
    );
}

#[tokio::test]
async fn service_fabric_refuses_a_user_assigned_identity_and_plain_http() {
    let e = build(
        ManagedIdentity::UserAssigned(UserAssignedId::ClientId("c".into())),
        env(&[
            ("IDENTITY_ENDPOINT", "https://127.0.0.1:1/t".to_owned()),
            ("IDENTITY_HEADER", "h".to_owned()),
            ("IDENTITY_SERVER_THUMBPRINT", "a".repeat(40)),
        ]),
    )
    .expect_err("user-assigned");
    assert!(
        e.to_string()
            .contains("Service Fabric does not support user-assigned"),
        "{e}"
    );
    let e = build(
        ManagedIdentity::SystemAssigned,
        env(&[
            ("IDENTITY_ENDPOINT", "https://127.0.0.1:1/t".to_owned()),
            ("IDENTITY_HEADER", "h".to_owned()),
            ("IDENTITY_SERVER_THUMBPRINT", "not-a-thumbprint".to_owned()),
        ]),
    )
    .expect_err("bad thumbprint");
    assert!(e.to_string().contains("IDENTITY_SERVER_THUMBPRINT"), "{e}");
}

/// An Arc agent: a 401 naming `key_path` without credentials, a token when
/// the request carries `Basic <key>`.
async fn arc_agent(key_path: PathBuf, key: &'static str) -> TestServer {
    TestServer::http(move |r: &SeenRequest| match r.header("authorization") {
        None => Canned::status(401).header(
            "www-authenticate",
            &format!("Basic realm={}", key_path.display()),
        ),
        Some(a) if a == format!("Basic {key}") => Canned::json(
            200,
            r#"{"access_token":"arc-at","expires_in":"3599","token_type":"Bearer"}"#,
        ),
        Some(_) => Canned::json(
            401,
            r#"{"error":"unauthorized","error_description":"wrong key"}"#,
        ),
    })
    .await
}

fn arc_env(server: &TestServer, key_dir: &Path) -> Environment {
    env(&[
        (
            "IDENTITY_ENDPOINT",
            format!("{}/metadata/identity/oauth2/token", server.url()),
        ),
        ("IMDS_ENDPOINT", server.url()),
    ])
    .arc_key_directory(key_dir)
}

fn key_dir() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("tokens");
    std::fs::create_dir(&dir).expect("mkdir");
    (root, dir)
}

#[tokio::test]
async fn arc_answers_the_key_file_challenge() {
    let (_root, dir) = key_dir();
    let key_path = dir.join("7f3c.key");
    std::fs::write(&key_path, "arc-key-s3cr3t\n").expect("write");
    let server = arc_agent(key_path, "arc-key-s3cr3t").await;
    let app = build(ManagedIdentity::SystemAssigned, arc_env(&server, &dir)).expect("builds");
    assert_eq!(app.source(), Source::AzureArc);
    let t = app.acquire_token_for_resource(VAULT).await.expect("token");
    assert_eq!(
        (t.access_token().expose_secret(), t.expires_on_unix()),
        ("arc-at", NOW as i64 + 3599)
    );
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    for r in &seen {
        assert_eq!(
            r.target,
            format!("/metadata/identity/oauth2/token?api-version=2020-06-01&{VAULT_Q}")
        );
        assert_eq!(r.header("metadata"), Some("true"));
    }
    assert_eq!(seen[0].header("authorization"), None);
    assert_eq!(
        seen[1].header("authorization"),
        Some("Basic arc-key-s3cr3t")
    );
    assert_eq!(
        app.acquire_token_for_resource(VAULT)
            .await
            .expect("cached")
            .source(),
        TokenSource::Cache
    );
    assert_eq!(server.requests().len(), 2);
}

async fn arc_refusal(make: impl FnOnce(&Path, &Path) -> PathBuf) -> (String, usize) {
    let (root, dir) = key_dir();
    let key_path = make(root.path(), &dir);
    let server = arc_agent(key_path, "k").await;
    let app = build(ManagedIdentity::SystemAssigned, arc_env(&server, &dir)).expect("builds");
    let e = app
        .acquire_token_for_resource(VAULT)
        .await
        .expect_err("refused");
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    (e.to_string(), server.requests().len())
}

#[tokio::test]
async fn arc_refuses_a_key_file_outside_the_directory() {
    let (m, n) = arc_refusal(|root, _| {
        let p = root.join("elsewhere.key");
        std::fs::write(&p, "k").expect("write");
        p
    })
    .await;
    assert!(m.contains("not in the expected directory"), "{m}");
    assert_eq!(n, 1, "no second request");
}

#[tokio::test]
async fn arc_refuses_a_key_file_with_another_extension() {
    let (m, n) = arc_refusal(|_, dir| {
        let p = dir.join("passwd");
        std::fs::write(&p, "k").expect("write");
        p
    })
    .await;
    assert!(m.contains("does not have the .key extension"), "{m}");
    assert_eq!(n, 1);
}

#[tokio::test]
async fn arc_refuses_an_oversized_key_file() {
    let (m, n) = arc_refusal(|_, dir| {
        let p = dir.join("big.key");
        std::fs::write(&p, vec![b'k'; 4097]).expect("write");
        p
    })
    .await;
    assert!(m.contains("4097 bytes") && m.contains("4096"), "{m}");
    assert_eq!(n, 1);
}

#[tokio::test]
async fn arc_refuses_a_challenge_that_is_not_basic_realm() {
    let (_root, dir) = key_dir();
    let server =
        TestServer::http(|_| Canned::status(401).header("www-authenticate", "Bearer realm=x"))
            .await;
    let app = build(ManagedIdentity::SystemAssigned, arc_env(&server, &dir)).expect("builds");
    let e = app
        .acquire_token_for_resource(VAULT)
        .await
        .expect_err("refused");
    assert!(e.to_string().contains("Basic realm=<key file>"), "{e}");
}

#[tokio::test]
async fn arc_refuses_user_assigned_identities() {
    let (_root, dir) = key_dir();
    let server = TestServer::http(|_| Canned::status(500)).await;
    let e = build(
        ManagedIdentity::UserAssigned(UserAssignedId::ClientId("c".into())),
        arc_env(&server, &dir),
    )
    .expect_err("user-assigned");
    assert!(
        e.to_string()
            .contains("Azure Arc does not support user-assigned"),
        "{e}"
    );
}

#[tokio::test]
async fn cloud_shell_posts_a_form() {
    let server = TestServer::http(|r| {
        let ok = r.method == "POST"
            && r.header("metadata") == Some("true")
            && r.header("content-type") == Some("application/x-www-form-urlencoded");
        if ok {
            token_expires_on("cs-at")
        } else {
            Canned::status(400)
        }
    })
    .await;
    let app = build(
        ManagedIdentity::SystemAssigned,
        env(&[("MSI_ENDPOINT", format!("{}/oauth2/token", server.url()))]),
    )
    .expect("builds");
    assert_eq!(app.source(), Source::CloudShell);
    let t = app
        .acquire_token_for_resource("https://vault.azure.net/.default")
        .await
        .expect("token");
    assert_eq!(t.access_token().expose_secret(), "cs-at");
    let seen = server.requests();
    assert_eq!(seen[0].target, "/oauth2/token");
    assert_eq!(seen[0].body, VAULT_Q.as_bytes());
    let e = build(
        ManagedIdentity::UserAssigned(UserAssignedId::ObjectId("o".into())),
        env(&[("MSI_ENDPOINT", server.url())]),
    )
    .expect_err("user-assigned");
    assert!(
        e.to_string()
            .contains("Cloud Shell does not support user-assigned"),
        "{e}"
    );
}

#[tokio::test]
async fn azure_ml_sends_its_secret_and_clientid() {
    let server = TestServer::http(|r| {
        if r.header("secret") == Some("ml-s3cr3t") {
            token_expires_on("ml-at")
        } else {
            Canned::status(401)
        }
    })
    .await;
    let ml_env = || {
        env(&[
            ("MSI_ENDPOINT", format!("{}/msi/token", server.url())),
            ("MSI_SECRET", "ml-s3cr3t".to_owned()),
            ("DEFAULT_IDENTITY_CLIENT_ID", "default-cid".to_owned()),
        ])
    };
    let app = build(ManagedIdentity::SystemAssigned, ml_env()).expect("builds");
    assert_eq!(app.source(), Source::AzureMl);
    app.acquire_token_for_resource(VAULT).await.expect("token");
    let app = build(
        ManagedIdentity::UserAssigned(UserAssignedId::ClientId("ua-cid".into())),
        ml_env(),
    )
    .expect("builds");
    app.acquire_token_for_resource(VAULT).await.expect("token");
    let seen = server.requests();
    assert_eq!(
        seen[0].target,
        format!("/msi/token?api-version=2017-09-01&{VAULT_Q}&clientid=default-cid")
    );
    assert_eq!(
        seen[1].target,
        format!("/msi/token?api-version=2017-09-01&{VAULT_Q}&clientid=ua-cid")
    );
}

#[tokio::test]
async fn service_errors_of_other_sources_are_retried_by_their_rules() {
    // App Service: a 503 is retried after its Retry-After (on the clock); a 502 is not.
    let n = std::sync::atomic::AtomicUsize::new(0);
    let server =
        TestServer::http(
            move |_| match n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => Canned::status(503).header("retry-after", "3"),
                1 => Canned::json(502, r#"{"statusCode":502,"message":"bad gateway"}"#),
                _ => token_expires_on("never"),
            },
        )
        .await;
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let app = ManagedIdentityApplication::builder(ManagedIdentity::SystemAssigned)
        .environment(env(&[
            ("IDENTITY_ENDPOINT", format!("{}/msi/token", server.url())),
            ("IDENTITY_HEADER", "h".to_owned()),
        ]))
        .clock(clock.clone())
        .build()
        .expect("builds");
    let e = app
        .acquire_token_for_resource(VAULT)
        .await
        .expect_err("502");
    assert!(e.to_string().contains("bad gateway"), "{e}");
    assert_eq!(server.requests().len(), 2);
    use msal::clock::Clock;
    assert_eq!(clock.unix_now(), NOW as i64 + 3);
}
