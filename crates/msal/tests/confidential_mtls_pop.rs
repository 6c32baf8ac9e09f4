//! Certificate-bound (mTLS proof-of-possession) app tokens against
//! msal-emulator's mutual-TLS token endpoint: the request goes over mutual
//! TLS with the app's certificate, the token carries that certificate's
//! SHA-256 thumbprint in `cnf.x5t#S256`, its type is `mtls_pop`, and the
//! cache keeps it apart from Bearer tokens.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal::credentials::{Certificate, ClientCredential};
use msal::http::TransportErrorKind;
use msal::secret::ClientSecret;
use msal::transport::{ProxyConfig, ReqwestHttpClient};
use msal::{ConfidentialClientApplication, Error, TokenSource};
use msal_emulator::defaults::{DAEMON_APP_ID, DAEMON_SECRET, TENANT_ID};
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Endpoint};
use serde_json::Value;
use sha2::Digest;

const SCOPE: &str = "api://msal-emulator-web-api/.default";

fn claims(jwt: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

fn client(emu: &EmulatorHandle, identity: Option<&Certificate>) -> Arc<ReqwestHttpClient> {
    let mut b = ReqwestHttpClient::builder()
        .proxy(ProxyConfig::None)
        .use_env_roots(false)
        .add_root_certificate_pem(emu.ca_pem().unwrap().as_bytes());
    if let Some(c) = identity {
        b = b.client_certificate(c.clone());
    }
    Arc::new(b.build().unwrap())
}

/// An emulator with the mTLS endpoint, and a certificate registered for
/// the daemon app (an X.509 v3 one: TLS takes no other).
async fn emulator() -> (EmulatorHandle, Certificate) {
    let emu = Emulator::start(EmulatorConfig::default().with_mtls())
        .await
        .unwrap();
    let generated = msal_emulator::ClientCertificate::generate("daemon-mtls").unwrap();
    emu.admin()
        .register_certificate(DAEMON_APP_ID, &generated.cert_pem)
        .unwrap();
    let cert = Certificate::from_pem(&generated.key_pem, &generated.cert_pem).unwrap();
    (emu, cert)
}

#[tokio::test]
async fn an_mtls_pop_token_is_bound_to_the_certificate_and_cached_apart_from_bearer() {
    let (emu, cert) = emulator().await;
    let app = ConfidentialClientApplication::builder(
        DAEMON_APP_ID,
        ClientCredential::certificate(cert.clone()),
    )
    .authority(emu.authority(TENANT_ID))
    .http_client(client(&emu, None))
    .mtls_http_client(client(&emu, Some(&cert)))
    .build()
    .unwrap();

    let pop = app
        .acquire_token_for_client(&[SCOPE])
        .mtls_proof_of_possession(true)
        .await
        .unwrap();
    assert_eq!(pop.source(), TokenSource::IdentityProvider);
    assert_eq!(pop.token_type(), "mtls_pop");
    // cnf.x5t#S256: base64url(SHA-256 of the certificate's DER), computed here
    // from the PEM the test holds.
    let der = cert.chain_der()[0].clone();
    let thumbprint = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der));
    let c = claims(pop.access_token().expose_secret());
    assert_eq!(c["cnf"]["x5t#S256"], thumbprint.as_str(), "{c}");
    assert_eq!(thumbprint, cert.thumbprint_sha256());
    assert_eq!(c["azpacr"], "2");
    assert_eq!(emu.admin().mtls_token_requests(), 1);
    let mtls_host = emu
        .mtls_origin()
        .unwrap()
        .trim_start_matches("https://")
        .to_owned();
    let token_hosts: Vec<String> = emu
        .admin()
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::Token)
        .map(|r| r.host)
        .collect();
    assert_eq!(token_hosts, [mtls_host], "over the mTLS listener");

    // A Bearer request does not get the PoP token: it makes its own request
    // (to the ordinary endpoint), and its token has no cnf.
    let bearer = app.acquire_token_for_client(&[SCOPE]).await.unwrap();
    assert_eq!(bearer.source(), TokenSource::IdentityProvider);
    assert_eq!(bearer.token_type(), "Bearer");
    assert!(claims(bearer.access_token().expose_secret())["cnf"].is_null());
    assert_ne!(
        bearer.access_token().expose_secret(),
        pop.access_token().expose_secret()
    );

    // Both are cached, each under its own scheme.
    let pop_again = app
        .acquire_token_for_client(&[SCOPE])
        .mtls_proof_of_possession(true)
        .await
        .unwrap();
    assert_eq!(pop_again.source(), TokenSource::Cache);
    assert_eq!(pop_again.token_type(), "mtls_pop");
    assert_eq!(
        pop_again.access_token().expose_secret(),
        pop.access_token().expose_secret()
    );
    let bearer_again = app.acquire_token_for_client(&[SCOPE]).await.unwrap();
    assert_eq!(bearer_again.source(), TokenSource::Cache);
    assert_eq!(
        bearer_again.access_token().expose_secret(),
        bearer.access_token().expose_secret()
    );
    assert_eq!(emu.admin().request_count(Endpoint::Token), 2);
    assert_eq!(emu.admin().mtls_token_requests(), 1);
}

#[tokio::test]
async fn without_the_certificate_the_mtls_endpoint_refuses() {
    let (emu, cert) = emulator().await;
    // An mTLS client that presents no certificate: the handshake fails.
    let app = ConfidentialClientApplication::builder(
        DAEMON_APP_ID,
        ClientCredential::certificate(cert.clone()),
    )
    .authority(emu.authority(TENANT_ID))
    .http_client(client(&emu, None))
    .mtls_http_client(client(&emu, None))
    .build()
    .unwrap();
    let e = app
        .acquire_token_for_client(&[SCOPE])
        .mtls_proof_of_possession(true)
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::Transport(_)), "{e:?}");
    if let Error::Transport(t) = &e {
        assert!(
            matches!(
                t.kind,
                TransportErrorKind::Tls | TransportErrorKind::Other | TransportErrorKind::Connect
            ),
            "{t:?}"
        );
    }
    assert_eq!(emu.admin().mtls_token_requests(), 0);

    // A certificate the app does not have registered: invalid_client.
    let other = msal_emulator::ClientCertificate::generate("not-registered").unwrap();
    let stranger = Certificate::from_pem(&other.key_pem, &other.cert_pem).unwrap();
    let app = ConfidentialClientApplication::builder(
        DAEMON_APP_ID,
        ClientCredential::certificate(stranger.clone()),
    )
    .authority(emu.authority(TENANT_ID))
    .http_client(client(&emu, None))
    .mtls_http_client(client(&emu, Some(&stranger)))
    .build()
    .unwrap();
    let e = app
        .acquire_token_for_client(&[SCOPE])
        .mtls_proof_of_possession(true)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Service(s) if s.error == "invalid_client"),
        "{e:?}"
    );

    // A secret cannot make certificate-bound tokens.
    let app = ConfidentialClientApplication::builder(
        DAEMON_APP_ID,
        ClientCredential::secret(ClientSecret::new(DAEMON_SECRET)),
    )
    .authority(emu.authority(TENANT_ID))
    .http_client(client(&emu, None))
    .build()
    .unwrap();
    let e = app
        .acquire_token_for_client(&[SCOPE])
        .mtls_proof_of_possession(true)
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::Config(_)), "{e:?}");
    assert_eq!(emu.admin().mtls_token_requests(), 0);
}
