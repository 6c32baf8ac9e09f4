//! Certificate credentials: client assertions signed with a certificate
//! registered for the app (RS256 / PS256, `x5t#S256` / `x5t` / `kid`).

mod common;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use msal_emulator::{AppConfig, ClientCertificate, EmulatorConfig, EmulatorHandle};
use serde_json::{Value, json};

const CERT_APP_ID: &str = "ce47ce47-0000-4000-8000-00000000ce47";

fn assertion(cert: &ClientCertificate, alg: Algorithm, header_kind: &str, claims: Value) -> String {
    let mut h = Header::new(alg);
    match header_kind {
        "x5t#S256" => h.x5t_s256 = Some(cert.x5t_s256.clone()),
        "x5t" => h.x5t = Some(cert.x5t.clone()),
        _ => h.kid = Some(cert.thumbprint_sha1_hex.clone()),
    }
    let key = EncodingKey::from_rsa_pem(cert.key_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&h, &claims, &key).unwrap()
}

fn claims(emu: &EmulatorHandle, aud: &str, exp_offset: i64) -> Value {
    let now = emu.admin().now_unix() as i64;
    json!({"aud": aud, "iss": CERT_APP_ID, "sub": CERT_APP_ID, "jti": uuid_like(), "nbf": now, "iat": now, "exp": now + exp_offset})
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

async fn client_credentials(emu: &EmulatorHandle, jwt: &str) -> (u16, Value) {
    post_form(
        &token_url(emu, TENANT_ID),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CERT_APP_ID),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", jwt),
            ("scope", "api://msal-emulator-web-api/.default"),
        ],
    )
    .await
}

#[tokio::test]
async fn certificate_assertions_rs256_ps256_and_every_thumbprint_header() {
    let cert = ClientCertificate::generate("cert-app").unwrap();
    let mut config = EmulatorConfig::default();
    let mut app = AppConfig::confidential(CERT_APP_ID, "Cert app", "unused-secret");
    app.secrets.clear();
    app.certificates.push(cert.cert_pem.clone());
    app.application_permissions
        .insert(WEB_API_URI.into(), vec!["Data.Write.All".into()]);
    config.apps.push(app);
    let emu = start_with(config).await;
    let aud = token_url(&emu, TENANT_ID);
    for (alg, kind) in [
        (Algorithm::PS256, "x5t#S256"),
        (Algorithm::RS256, "x5t"),
        (Algorithm::RS256, "kid"),
    ] {
        let jwt = assertion(&cert, alg, kind, claims(&emu, &aud, 600));
        let (s, body) = client_credentials(&emu, &jwt).await;
        assert_eq!(s, 200, "{alg:?} {kind}: {body}");
        let at = verify_jwt(
            &emu,
            body["access_token"].as_str().unwrap(),
            WEB_API_APP_ID,
            TENANT_ID,
        )
        .await;
        assert_eq!(at["azpacr"], "2");
        assert_eq!(at["roles"], json!(["Data.Write.All"]));
    }
    // The v1 token endpoint and the issuer are accepted audiences too; the
    // alias host as well.
    for aud in [
        format!("{}/oauth2/token", emu.authority(TENANT_ID)),
        format!("{}/{}/v2.0", emu.base_url(), TENANT_ID),
        format!("{}/oauth2/v2.0/token", emu.alias_authority(TENANT_DOMAIN)),
    ] {
        let (s, b) = client_credentials(
            &emu,
            &assertion(&cert, Algorithm::PS256, "x5t#S256", claims(&emu, &aud, 600)),
        )
        .await;
        assert_eq!(s, 200, "{aud}: {b}");
    }
}

#[tokio::test]
async fn bad_assertions_are_refused_with_entra_errors() {
    let cert = ClientCertificate::generate("cert-app").unwrap();
    let other = ClientCertificate::generate("stranger").unwrap();
    let mut config = EmulatorConfig::default();
    let mut app = AppConfig::confidential(CERT_APP_ID, "Cert app", "x");
    app.secrets.clear();
    config.apps.push(app);
    let emu = start_with(config).await;
    let aud = token_url(&emu, TENANT_ID);
    // Not registered yet.
    let (s, b) = client_credentials(
        &emu,
        &assertion(&cert, Algorithm::PS256, "x5t#S256", claims(&emu, &aud, 600)),
    )
    .await;
    assert_eq!(s, 401);
    assert_entra_error(&b, "invalid_client", 700027);
    let r = http()
        .post(format!("{}/_admin/certificates", emu.base_url()))
        .json(&json!({"client_id": CERT_APP_ID, "pem": cert.cert_pem}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        emu.admin()
            .register_certificate(CERT_APP_ID, "not a pem")
            .is_err()
    );
    let (s, _) = client_credentials(
        &emu,
        &assertion(&cert, Algorithm::PS256, "x5t#S256", claims(&emu, &aud, 600)),
    )
    .await;
    assert_eq!(s, 200);
    // Signed by another key but naming the registered certificate.
    let mut h = Header::new(Algorithm::RS256);
    h.x5t_s256 = Some(cert.x5t_s256.clone());
    let forged = jsonwebtoken::encode(
        &h,
        &claims(&emu, &aud, 600),
        &EncodingKey::from_rsa_pem(other.key_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    let (_, b) = client_credentials(&emu, &forged).await;
    assert_entra_error(&b, "invalid_client", 700027);
    // Wrong audience, expired, wrong issuer, garbage, HS256.
    let (_, b) = client_credentials(
        &emu,
        &assertion(
            &cert,
            Algorithm::PS256,
            "x5t#S256",
            claims(&emu, "https://elsewhere.example/token", 600),
        ),
    )
    .await;
    assert_entra_error(&b, "invalid_client", 700212);
    let (_, b) = client_credentials(
        &emu,
        &assertion(
            &cert,
            Algorithm::PS256,
            "x5t#S256",
            claims(&emu, &aud, -400),
        ),
    )
    .await;
    assert_entra_error(&b, "invalid_client", 700024);
    let mut c = claims(&emu, &aud, 600);
    c["iss"] = json!(DAEMON_APP_ID);
    let (_, b) = client_credentials(&emu, &assertion(&cert, Algorithm::PS256, "x5t#S256", c)).await;
    assert_entra_error(&b, "invalid_client", 700021);
    let (_, b) = client_credentials(&emu, "a.b.c").await;
    assert_entra_error(&b, "invalid_client", 50027);
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(&emu, &aud, 600),
        &EncodingKey::from_secret(b"k"),
    )
    .unwrap();
    let (_, b) = client_credentials(&emu, &hs).await;
    assert_eq!(b["error"], "invalid_client");
    // A public client may not present one.
    let (s, b) = post_form(
        &token_url(&emu, TENANT_ID),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLI_APP_ID),
            ("client_assertion", "x"),
            ("refresh_token", "y"),
        ],
    )
    .await;
    assert_eq!(s, 401);
    assert_entra_error(&b, "invalid_client", 700025);
}
