//! A real Azure SDK client, `azure_security_keyvault_secrets::SecretClient`,
//! reads a secret from a loopback fake of Key Vault with each credential.
//! The fake speaks HTTPS (the SDK's bearer policy refuses plain HTTP) with a
//! certificate from a test CA the client's transport trusts, answers the
//! first request with Key Vault's authentication challenge, and checks every
//! bearer token's RS256 signature against the emulator's JWKS and its
//! audience against Key Vault's.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, Transport};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use common::*;
use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use msal::credentials::ClientCredential;
use msal::managed_identity::Environment;
use msal::secret::ClientSecret;
use msal_azure_identity::{
    ChainStep, ConfidentialClientCredential, DefaultCredential, ManagedIdentityCredential,
    SignedInUserCredential,
};
use msal_emulator::managed_identity::{Host, SYSTEM_ASSIGNED};
use msal_emulator::{EmulatorCa, EmulatorHandle, defaults};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

const SECRET_NAME: &str = "db-password";
const SECRET_VALUE: &str = "correct horse battery staple";

/// What the fake saw: the verified claims of every authorized request, and
/// how many requests it refused.
#[derive(Default)]
struct Seen {
    authorized: Vec<serde_json::Value>,
    challenged: usize,
    refused: Vec<String>,
}

#[derive(Clone)]
struct Vault {
    keys: Arc<HashMap<String, DecodingKey>>,
    authority: String,
    seen: Arc<Mutex<Seen>>,
}

impl Vault {
    /// The bearer token's claims when its signature (the emulator's key) and
    /// audience (Key Vault: its app id in v2 tokens, its URI in managed
    /// identity tokens) hold, and it has not expired.
    fn verify(&self, token: &str) -> Result<serde_json::Value, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("header: {e}"))?;
        let kid = header.kid.ok_or("no kid")?;
        let key = self
            .keys
            .get(&kid)
            .ok_or_else(|| format!("unknown key {kid}"))?;
        let mut v = Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&[KEYVAULT_APP_ID, VAULT]);
        v.set_required_spec_claims(&["exp", "aud"]);
        jsonwebtoken::decode::<serde_json::Value>(token, key, &v)
            .map(|d| d.claims)
            .map_err(|e| format!("{e}"))
    }
}

async fn get_secret(
    State(vault): State<Vault>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let challenge = || {
        (
            StatusCode::UNAUTHORIZED,
            [(
                "www-authenticate",
                format!(
                    "Bearer authorization=\"{}\", resource=\"{VAULT}\"",
                    vault.authority
                ),
            )],
        )
            .into_response()
    };
    let Some(auth) = headers.get("authorization").and_then(|h| h.to_str().ok()) else {
        vault.seen.lock().unwrap().challenged += 1;
        return challenge();
    };
    let Some(token) = auth.strip_prefix("Bearer ") else {
        vault
            .seen
            .lock()
            .unwrap()
            .refused
            .push("not a bearer token".into());
        return challenge();
    };
    match vault.verify(token) {
        Ok(claims) => {
            vault.seen.lock().unwrap().authorized.push(claims);
            if name != SECRET_NAME {
                return (
                    StatusCode::NOT_FOUND,
                    axum::Json(
                        serde_json::json!({"error": {"code": "SecretNotFound", "message": name}}),
                    ),
                )
                    .into_response();
            }
            axum::Json(serde_json::json!({
                "value": SECRET_VALUE,
                "id": format!("https://vault.local/secrets/{name}/0123456789abcdef"),
                "attributes": {"enabled": true, "created": 1_700_000_000, "updated": 1_700_000_000, "recoveryLevel": "Recoverable+Purgeable"}
            }))
            .into_response()
        }
        Err(e) => {
            vault.seen.lock().unwrap().refused.push(e);
            challenge()
        }
    }
}

/// Accepted TLS connections for axum.
struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// The fake vault at `https://127.0.0.1:<port>/`, and the PEM of the CA its
/// certificate chains to.
async fn fake_vault(emu: &EmulatorHandle) -> (String, String, Arc<Mutex<Seen>>) {
    let body = reqwest::get(format!(
        "{}/discovery/v2.0/keys",
        emu.authority(defaults::TENANT_ID)
    ))
    .await
    .unwrap()
    .bytes()
    .await
    .unwrap();
    let jwks: JwkSet = serde_json::from_slice(&body).unwrap();
    let keys: HashMap<String, DecodingKey> = jwks
        .keys
        .iter()
        .map(|k| {
            (
                k.common.key_id.clone().unwrap(),
                DecodingKey::from_jwk(k).unwrap(),
            )
        })
        .collect();
    assert!(!keys.is_empty(), "the emulator publishes its keys");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let vault = Vault {
        keys: Arc::new(keys),
        authority: emu.authority(defaults::TENANT_ID),
        seen: seen.clone(),
    };
    let app = axum::Router::new()
        .route("/secrets/{name}", get(get_secret))
        .route("/secrets/{name}/", get(get_secret))
        .with_state(vault);
    let ca = EmulatorCa::generate().unwrap();
    let config = ca
        .server_config(&["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = tcp.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((stream, peer)) = tcp.accept().await {
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(stream).await {
                    let _ = tx.send((tls, peer)).await;
                }
            });
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(TlsListener { rx, local }, app).await;
    });
    (
        format!("https://127.0.0.1:{}/", local.port()),
        ca.pem(),
        seen,
    )
}

/// A Key Vault client on `credential`, whose transport trusts only `ca_pem`.
fn secret_client(url: &str, ca_pem: &str, credential: Arc<dyn TokenCredential>) -> SecretClient {
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let options = SecretClientOptions {
        client_options: ClientOptions {
            transport: Some(Transport::new(Arc::new(http))),
            ..ClientOptions::default()
        },
        // The challenge names vault.azure.net; this vault is on 127.0.0.1.
        verify_challenge_resource: Some(false),
        ..SecretClientOptions::default()
    };
    SecretClient::new(url, credential, Some(options)).unwrap()
}

/// Reads the secret twice with `credential`; returns the claims the vault
/// verified.
async fn read_twice(
    url: &str,
    ca: &str,
    seen: &Arc<Mutex<Seen>>,
    credential: Arc<dyn TokenCredential>,
) -> serde_json::Value {
    *seen.lock().unwrap() = Seen::default();
    let client = secret_client(url, ca, credential);
    for _ in 0..2 {
        let secret = client
            .get_secret(SECRET_NAME, None)
            .await
            .unwrap()
            .into_model()
            .unwrap();
        assert_eq!(secret.value.as_deref(), Some(SECRET_VALUE));
    }
    let s = seen.lock().unwrap();
    assert_eq!(s.challenged, 1, "one challenge, then the bearer token");
    assert!(s.refused.is_empty(), "{:?}", s.refused);
    assert_eq!(s.authorized.len(), 2);
    s.authorized[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_vault_client_reads_a_secret_with_each_credential() {
    let emu = emulator().await;
    let (url, ca, seen) = fake_vault(&emu).await;

    // A service principal.
    let sp = ConfidentialClientCredential::builder(
        defaults::TENANT_ID,
        defaults::DAEMON_APP_ID,
        ClientCredential::secret(ClientSecret::new(defaults::DAEMON_SECRET)),
    )
    .authority_host(emu.base_url())
    .build()
    .unwrap();
    emu.admin().reset_counters();
    let c = read_twice(&url, &ca, &seen, sp).await;
    assert_eq!(
        (c["aud"].as_str(), c["azp"].as_str()),
        (Some(KEYVAULT_APP_ID), Some(defaults::DAEMON_APP_ID))
    );
    assert_eq!(c["roles"], serde_json::json!(["Secrets.Read"]));
    assert_eq!(
        emu.admin().token_requests_with_grant("client_credentials"),
        1
    );

    // The VM's managed identity.
    let imds = Environment::from_vars(emu.managed_identity_env(Host::Imds).await.unwrap())
        .arc_agent_path(None);
    let mi = ManagedIdentityCredential::builder()
        .environment(imds)
        .build()
        .unwrap();
    emu.admin().reset_counters();
    let c = read_twice(&url, &ca, &seen, mi).await;
    assert_eq!(
        (c["aud"].as_str(), c["appid"].as_str()),
        (Some(VAULT), Some(SYSTEM_ASSIGNED.client_id))
    );
    assert_eq!(emu.admin().managed_identity_requests(), 1);

    // The signed-in user, from the cache file; and the chain finding them.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache.json");
    sign_in_ada(&emu, &file).await;
    let user = SignedInUserCredential::builder()
        .client_id(defaults::CLI_APP_ID)
        .authority(emu.authority("organizations"))
        .cache_path(&file)
        .plaintext(true)
        .build()
        .unwrap();
    emu.admin().reset_counters();
    let c = read_twice(&url, &ca, &seen, user).await;
    assert_eq!(c["aud"], KEYVAULT_APP_ID);
    assert_eq!(c["scp"], "user_impersonation");
    assert_eq!(c["preferred_username"], defaults::USER);
    assert_eq!(emu.admin().token_requests_with_grant("refresh_token"), 1);

    let chain = DefaultCredential::builder()
        .environment(
            Environment::from_vars([
                ("HOME", dir.path().display().to_string()),
                (
                    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
                    "http://127.0.0.1:1".to_owned(),
                ),
                ("MSAL_AUTHORITY", emu.authority("organizations")),
                ("MSAL_CLIENT_ID", defaults::CLI_APP_ID.to_owned()),
                ("MSAL_CACHE", file.display().to_string()),
                ("MSAL_PLAINTEXT", "1".to_owned()),
            ])
            .arc_agent_path(None),
        )
        .build()
        .unwrap();
    emu.admin().reset_counters();
    let c = read_twice(&url, &ca, &seen, chain.clone()).await;
    assert_eq!(chain.source(), Some(ChainStep::MsalCli));
    assert_eq!(c["preferred_username"], defaults::USER);
    assert_eq!(
        emu.admin().token_requests_with_grant("refresh_token"),
        0,
        "the token the user credential cached in the file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_vault_refuses_a_token_for_another_audience_or_with_a_forged_signature() {
    let emu = emulator().await;
    let (url, ca, seen) = fake_vault(&emu).await;
    let sp = ConfidentialClientCredential::builder(
        defaults::TENANT_ID,
        defaults::DAEMON_APP_ID,
        ClientCredential::secret(ClientSecret::new(defaults::DAEMON_SECRET)),
    )
    .authority_host(emu.base_url())
    .build()
    .unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let call = |token: String| {
        let http = http.clone();
        let url = format!("{url}secrets/{SECRET_NAME}?api-version=7.6");
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let good = sp.get_token(&[VAULT_SCOPE], None).await.unwrap();
    assert_eq!(call(good.token.secret().to_owned()).await, 200);
    // Signed by the emulator, but for the web API.
    let other = sp.get_token(&[API_SCOPE], None).await.unwrap();
    assert_eq!(call(other.token.secret().to_owned()).await, 401);
    // Key Vault's token with one character of its signature changed (not
    // the last, whose low bits are padding).
    let jwt = good.token.secret();
    let at = jwt.rfind('.').unwrap() + 10;
    let swapped = if &jwt[at..=at] == "A" { "B" } else { "A" };
    let forged = format!("{}{swapped}{}", &jwt[..at], &jwt[at + 1..]);
    assert_eq!(call(forged).await, 401);
    let s = seen.lock().unwrap();
    assert_eq!(s.refused.len(), 2, "{:?}", s.refused);
    assert!(s.refused[0].contains("InvalidAudience"), "{:?}", s.refused);
    assert!(s.refused[1].contains("InvalidSignature"), "{:?}", s.refused);
}
