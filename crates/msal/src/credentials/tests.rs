use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::*;
use crate::Error;

const KEY: &str = include_str!("../../tests/fixtures/confidential/app.key");
const RSA_KEY: &str = include_str!("../../tests/fixtures/confidential/app.rsa.key");
const CERT: &str = include_str!("../../tests/fixtures/confidential/app.pem");
const CA: &str = include_str!("../../tests/fixtures/confidential/ca.pem");
const PUBLIC: &str = include_str!("../../tests/fixtures/confidential/app.pub.pem");
/// `openssl x509 -fingerprint -sha256` / `-sha1` of app.pem, in base64url.
const X5T_S256: &str = "WNBjnHVxIcMqbd1TSdgRBhkHYYUaQ1BseU6_DqnMq6M";
const X5T_SHA1: &str = "uyOZsgBs2eVYHGCjkwmQu2Mbc8w";
const ENDPOINT: &str =
    "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token";
const T0: u64 = 1_700_000_000;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn endpoint() -> Url {
    Url::parse(ENDPOINT).unwrap()
}

fn field(fields: &Fields, name: &str) -> String {
    fields
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str().to_owned())
        .unwrap_or_else(|| panic!("no field {name}"))
}

fn part(jwt: &str, i: usize) -> Value {
    let p = jwt.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

/// Checks the signature with the public key and returns the claims.
fn verify(jwt: &str, alg: Algorithm) -> Value {
    let mut v = Validation::new(alg);
    v.set_audience(&[ENDPOINT]);
    v.validate_exp = false; // the test clock is in 2023
    v.validate_nbf = false;
    let key = DecodingKey::from_rsa_pem(PUBLIC.as_bytes()).unwrap();
    jsonwebtoken::decode::<Value>(jwt, &key, &v).unwrap().claims
}

fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

async fn assertion_of(auth: &ClientAuth, now: u64) -> String {
    let f = auth.fields(&endpoint(), at(now)).await.unwrap();
    assert_eq!(
        field(&f, "client_assertion_type"),
        JWT_BEARER_ASSERTION_TYPE
    );
    assert_eq!(f.len(), 2);
    field(&f, "client_assertion")
}

#[tokio::test]
async fn certificate_assertion_is_a_ps256_jwt_for_the_token_endpoint() {
    let cert = Certificate::from_pem(KEY, CERT).unwrap();
    assert_eq!(cert.thumbprint_sha256(), X5T_S256);
    assert_eq!(
        cert.thumbprint_sha1_hex(),
        "BB2399B2006CD9E5581C60A3930990BB631B73CC"
    );
    let auth = ClientAuth::new("my-client", ClientCredential::certificate(cert));
    let jwt = assertion_of(&auth, T0).await;
    let header = part(&jwt, 0);
    assert_eq!(header["alg"], "PS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["x5t#S256"], X5T_S256);
    assert!(
        header.get("x5c").is_none() && header.get("x5t").is_none(),
        "{header}"
    );
    let claims = verify(&jwt, Algorithm::PS256);
    assert_eq!(claims["aud"], ENDPOINT);
    assert_eq!(claims["iss"], "my-client");
    assert_eq!(claims["sub"], "my-client");
    assert_eq!(claims["nbf"], T0);
    assert_eq!(claims["iat"], T0);
    assert_eq!(claims["exp"], T0 + 600);
    let jti = claims["jti"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(jti).unwrap().get_version_num(), 4);
}

#[tokio::test]
async fn x5c_rs256_and_pkcs1_keys() {
    let cert = Certificate::from_pem(RSA_KEY, format!("{CERT}\n{CA}"))
        .unwrap()
        .with_x5c(true)
        .with_algorithm(SigningAlgorithm::Rs256);
    assert_eq!(cert.chain_der().len(), 2);
    let auth = ClientAuth::new("cid", ClientCredential::certificate(cert));
    let jwt = assertion_of(&auth, T0).await;
    let header = part(&jwt, 0);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["x5t"], X5T_SHA1);
    assert_eq!(header["x5t#S256"], X5T_S256);
    // Standard base64 (not url-safe) DER, leaf first: exactly the PEM bodies.
    assert_eq!(
        header["x5c"],
        serde_json::json!([pem_body(CERT), pem_body(CA)])
    );
    assert_eq!(verify(&jwt, Algorithm::RS256)["iss"], "cid");
}

#[tokio::test]
async fn signed_assertions_are_reused_until_five_minutes_before_expiry() {
    let auth = ClientAuth::new(
        "cid",
        ClientCredential::certificate(Certificate::from_pem(KEY, CERT).unwrap()),
    );
    let first = assertion_of(&auth, T0).await;
    assert_eq!(assertion_of(&auth, T0 + 299).await, first);
    let second = assertion_of(&auth, T0 + 300).await;
    assert_ne!(second, first);
    assert_eq!(part(&second, 1)["nbf"], T0 + 300);
    // Another tenant's endpoint gets its own audience.
    let other =
        Url::parse("https://login.microsoftonline.com/fabrikam.com/oauth2/v2.0/token").unwrap();
    let f = auth.fields(&other, at(T0 + 301)).await.unwrap();
    assert_eq!(
        part(&field(&f, "client_assertion"), 1)["aud"],
        other.as_str()
    );
    // A clock set back re-signs instead of sending a not-yet-valid assertion.
    let back = assertion_of(&auth, T0 - 1000).await;
    assert_eq!(part(&back, 1)["nbf"], T0 - 1000);
}

#[test]
fn bad_keys_and_certificates_are_config_errors_without_key_material() {
    let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkq\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let ec = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBqQ0kZ3l0SECRETSECRET\n-----END EC PRIVATE KEY-----\n";
    let body: String = pem_body(KEY);
    let truncated = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        &body[..body.len() / 2]
    );
    let cases: Vec<(String, String, &str)> = vec![
        (encrypted.into(), CERT.into(), "encrypted"),
        (ec.into(), CERT.into(), "not an RSA key"),
        ("garbage".into(), CERT.into(), "not an RSA key"),
        (truncated, CERT.into(), "key"),
        (
            KEY.into(),
            "no certificate here".into(),
            "no -----BEGIN CERTIFICATE-----",
        ),
        (
            KEY.into(),
            "-----BEGIN CERTIFICATE-----\nAAAA".into(),
            "no -----END CERTIFICATE-----",
        ),
        (
            KEY.into(),
            "-----BEGIN CERTIFICATE-----\n*not base64*\n-----END CERTIFICATE-----".into(),
            "not valid base64",
        ),
        (
            KEY.into(),
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----".into(),
            "not a DER certificate",
        ),
    ];
    for (key, cert, says) in cases {
        let e = Certificate::from_pem(&key, &cert).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::Config(_)), "{msg}");
        assert!(msg.contains(says), "{says:?} not in {msg:?}");
        assert!(
            !msg.contains("SECRET") && !msg.contains(&body[10..40]),
            "{msg}"
        );
    }
}

#[tokio::test]
async fn secret_and_static_assertion_fields() {
    let auth = ClientAuth::new("cid", ClientCredential::secret(ClientSecret::new("s3cr3t")));
    let f = auth.fields(&endpoint(), at(T0)).await.unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(field(&f, "client_secret"), "s3cr3t");
    let auth = ClientAuth::new("cid", ClientCredential::assertion(Assertion::new("a.b.c")));
    assert_eq!(assertion_of(&auth, T0).await, "a.b.c");
}

#[tokio::test]
async fn the_callback_is_asked_for_each_request_with_client_id_and_endpoint() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = calls.clone();
    let auth = ClientAuth::new(
        "cid",
        ClientCredential::assertion_callback(move |req: AssertionRequest| {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                Ok(Assertion::new(format!(
                    "{}|{}|{n}",
                    req.client_id, req.token_endpoint
                )))
            }
        }),
    );
    assert_eq!(assertion_of(&auth, T0).await, format!("cid|{ENDPOINT}|0"));
    assert_eq!(assertion_of(&auth, T0).await, format!("cid|{ENDPOINT}|1"));
    let failing = ClientAuth::new(
        "cid",
        ClientCredential::assertion_callback(|_| async { Err(Error::config("vault is down")) }),
    );
    let e = failing.fields(&endpoint(), at(T0)).await.unwrap_err();
    assert!(e.to_string().contains("vault is down"));
}

#[tokio::test]
async fn workload_identity_reads_the_current_token_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "fed-token-1\n").unwrap();
    let auth = ClientAuth::new("cid", ClientCredential::federated_token_file(&file));
    assert_eq!(assertion_of(&auth, T0).await, "fed-token-1");
    std::fs::write(&file, "fed-token-two").unwrap();
    assert_eq!(assertion_of(&auth, T0).await, "fed-token-two");
    std::fs::remove_file(&file).unwrap();
    let e = auth.fields(&endpoint(), at(T0)).await.unwrap_err();
    assert!(matches!(e, Error::Config(_)) && e.to_string().contains("federated token file"));
}

#[test]
fn debug_never_shows_secrets() {
    let shown = [
        format!(
            "{:?}",
            ClientCredential::secret(ClientSecret::new("s3cr3t"))
        ),
        format!(
            "{:?}",
            ClientCredential::assertion(Assertion::new("s3cr3t"))
        ),
        format!(
            "{:?}",
            ClientCredential::assertion_callback(|_| async { Ok(Assertion::new("s3cr3t")) })
        ),
        format!(
            "{:?}",
            ClientCredential::certificate(Certificate::from_pem(KEY, CERT).unwrap())
        ),
        format!(
            "{:?}",
            ClientAuth::new("cid", ClientCredential::secret(ClientSecret::new("s3cr3t")))
        ),
    ];
    let key_line = KEY.lines().nth(1).unwrap();
    for s in shown {
        assert!(!s.contains("s3cr3t") && !s.contains(key_line), "{s}");
    }
    assert!(format!("{:?}", Certificate::from_pem(KEY, CERT).unwrap()).contains(X5T_S256));
}
