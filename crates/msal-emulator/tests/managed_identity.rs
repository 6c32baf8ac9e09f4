//! The emulated identity endpoints refuse every request that is not exactly
//! their source's shape, with that source's error body, and answer the
//! right one with a token for the identity asked for.

use msal_emulator::managed_identity::{
    APP_SERVICE_PATH, AZURE_ML_PATH, CLOUD_SHELL_PATH, IDENTITY_HEADER, IMDS_PATH, MSI_SECRET,
    SYSTEM_ASSIGNED, USER_ASSIGNED,
};
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use serde_json::Value;

const R: &str = "resource=https%3A%2F%2Fvault.azure.net";

async fn get(
    emu: &EmulatorHandle,
    path_query: &str,
    headers: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut r = client.get(format!("{}{path_query}", emu.base_url()));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, body, headers)
}

fn oid(token_body: &Value) -> String {
    use base64::Engine as _;
    let jwt = token_body["access_token"].as_str().unwrap();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwt.split('.').nth(1).unwrap())
        .unwrap();
    let claims: Value = serde_json::from_slice(&payload).unwrap();
    claims["oid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn imds_shape() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let md = [("Metadata", "true")];
    let (s, b, _) = get(
        &emu,
        &format!("{IMDS_PATH}?api-version=2018-02-01&{R}"),
        &md,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(oid(&b), SYSTEM_ASSIGNED.object_id);
    assert!(
        b["expires_in"].is_string() && b["expires_on"].is_string(),
        "IMDS sends strings: {b}"
    );
    let (s, b, _) = get(
        &emu,
        &format!(
            "{IMDS_PATH}?api-version=2018-02-01&{R}&msi_res_id={}",
            USER_ASSIGNED[0].resource_id
        ),
        &md,
    )
    .await;
    assert_eq!((s, oid(&b)), (200, USER_ASSIGNED[0].object_id.to_owned()));
    for (query, headers, says) in [
        (
            format!("api-version=2018-02-01&{R}"),
            vec![],
            "metadata header",
        ),
        (
            format!("api-version=2018-02-01&{R}"),
            vec![("Metadata", "true"), ("X-Forwarded-For", "10.0.0.1")],
            "proxy",
        ),
        (
            format!("api-version=2019-01-01&{R}"),
            vec![("Metadata", "true")],
            "api-version",
        ),
        (
            format!("api-version=2018-02-01&{R}&mi_res_id=x"),
            vec![("Metadata", "true")],
            "Unknown parameter 'mi_res_id'",
        ),
        (
            format!("api-version=2018-02-01&{R}&{R}"),
            vec![("Metadata", "true")],
            "more than once",
        ),
        (
            "api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net%2F.default".to_owned(),
            vec![("Metadata", "true")],
            "AADSTS500011",
        ),
        (
            format!("api-version=2018-02-01&{R}&client_id=nobody"),
            vec![("Metadata", "true")],
            "Identity not found",
        ),
        (
            format!(
                "api-version=2018-02-01&{R}&client_id={}&object_id={}",
                USER_ASSIGNED[0].client_id, USER_ASSIGNED[0].object_id
            ),
            vec![("Metadata", "true")],
            "Only one",
        ),
    ] {
        let (s, b, _) = get(&emu, &format!("{IMDS_PATH}?{query}"), &headers).await;
        assert_eq!(s, 400, "{query}: {b}");
        let d = b["error_description"].as_str().unwrap_or("");
        assert!(d.contains(says), "{query}: {b}");
    }
}

#[tokio::test]
async fn app_service_and_azure_ml_shapes() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let h = [("X-IDENTITY-HEADER", IDENTITY_HEADER)];
    let (s, b, _) = get(
        &emu,
        &format!(
            "{APP_SERVICE_PATH}?api-version=2019-08-01&{R}&principal_id={}",
            USER_ASSIGNED[1].object_id
        ),
        &h,
    )
    .await;
    assert_eq!(
        (s, oid(&b)),
        (200, USER_ASSIGNED[1].object_id.to_owned()),
        "{b}"
    );
    assert!(b["expires_on"].is_string(), "{b}");
    let (s, b, _) = get(
        &emu,
        &format!("{APP_SERVICE_PATH}?api-version=2019-08-01&{R}"),
        &[("X-IDENTITY-HEADER", "wrong")],
    )
    .await;
    assert_eq!((s, b["statusCode"].as_u64()), (401, Some(401)), "{b}");
    let (s, b, _) = get(
        &emu,
        &format!("{APP_SERVICE_PATH}?api-version=2019-08-01&{R}&msi_res_id=x"),
        &h,
    )
    .await;
    assert_eq!(s, 400);
    assert!(b["message"].as_str().unwrap().contains("msi_res_id"), "{b}");
    let (s, _, _) = get(
        &emu,
        &format!("{APP_SERVICE_PATH}?api-version=2018-02-01&{R}"),
        &h,
    )
    .await;
    assert_eq!(s, 400);

    let ml = [("secret", MSI_SECRET)];
    let (s, b, _) = get(
        &emu,
        &format!(
            "{AZURE_ML_PATH}?api-version=2017-09-01&{R}&clientid={}",
            USER_ASSIGNED[0].client_id
        ),
        &ml,
    )
    .await;
    assert_eq!(
        (s, oid(&b)),
        (200, USER_ASSIGNED[0].object_id.to_owned()),
        "{b}"
    );
    let (s, _, _) = get(
        &emu,
        &format!("{AZURE_ML_PATH}?api-version=2017-09-01&{R}&client_id=x"),
        &ml,
    )
    .await;
    assert_eq!(s, 400);
    let (s, _, _) = get(
        &emu,
        &format!("{AZURE_ML_PATH}?api-version=2017-09-01&{R}"),
        &[],
    )
    .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn service_fabric_error_shape() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let (s, b, _) = get(
        &emu,
        &format!("{IMDS_PATH}?api-version=2019-07-01-preview&{R}"),
        &[],
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("SecretHeaderNotFound")),
        "{b}"
    );
    let (s, b, _) = get(
        &emu,
        &format!("{IMDS_PATH}?api-version=2019-07-01-preview&{R}&xms_cc=cp1"),
        &[("Secret", IDENTITY_HEADER)],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(
        b["expires_on"].is_u64(),
        "Service Fabric sends a number: {b}"
    );
}

#[tokio::test]
async fn arc_challenge_and_single_use_key() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let md = [("Metadata", "true")];
    let url = format!("{IMDS_PATH}?api-version=2020-06-01&{R}");
    let (s, _, headers) = get(&emu, &url, &md).await;
    assert_eq!(s, 401);
    let challenge = headers["www-authenticate"].to_str().unwrap().to_owned();
    let path = challenge
        .strip_prefix("Basic realm=")
        .expect("Basic realm=<path>");
    let path = std::path::Path::new(path);
    assert_eq!(
        path.parent(),
        Some(emu.admin().arc_key_directory().as_path())
    );
    assert_eq!(path.extension().and_then(|e| e.to_str()), Some("key"));
    let key = std::fs::read_to_string(path).unwrap();
    let auth = format!("Basic {key}");
    let (s, b, _) = get(
        &emu,
        &url,
        &[("Metadata", "true"), ("Authorization", &auth)],
    )
    .await;
    assert_eq!(
        (s, oid(&b)),
        (200, SYSTEM_ASSIGNED.object_id.to_owned()),
        "{b}"
    );
    let (s, _, _) = get(
        &emu,
        &url,
        &[("Metadata", "true"), ("Authorization", &auth)],
    )
    .await;
    assert_eq!(s, 401, "a key works once");
    let (s, _, _) = get(
        &emu,
        &format!("{url}&client_id={}", USER_ASSIGNED[0].client_id),
        &md,
    )
    .await;
    assert_eq!(s, 400, "Arc serves the system-assigned identity only");
}

#[tokio::test]
async fn cloud_shell_takes_a_form() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("{}{CLOUD_SHELL_PATH}", emu.base_url());
    let r = client
        .post(&url)
        .header("Metadata", "true")
        .form(&[("resource", "https://vault.azure.net")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .post(&url)
        .form(&[("resource", "https://vault.azure.net")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = client
        .get(format!("{url}?{R}"))
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
}
