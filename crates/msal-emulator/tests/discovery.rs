//! OpenID discovery, instance discovery (aliases), JWKS, user realm, and
//! the two host names of one emulator.

mod common;

use common::*;
use msal_emulator::Endpoint;
use serde_json::Value;

#[tokio::test]
async fn openid_configuration_for_tenant_domain_and_common() {
    let emu = start().await;
    let (s, doc) = get_json(&format!(
        "{}/v2.0/.well-known/openid-configuration",
        emu.authority(TENANT_DOMAIN)
    ))
    .await;
    assert_eq!(s, 200);
    let base = emu.base_url();
    assert_eq!(
        doc["token_endpoint"],
        format!("{base}/{TENANT_ID}/oauth2/v2.0/token"),
        "a domain tenant advertises its GUID"
    );
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{base}/{TENANT_ID}/oauth2/v2.0/authorize")
    );
    assert_eq!(
        doc["device_authorization_endpoint"],
        format!("{base}/{TENANT_ID}/oauth2/v2.0/devicecode")
    );
    assert_eq!(
        doc["end_session_endpoint"],
        format!("{base}/{TENANT_ID}/oauth2/v2.0/logout")
    );
    assert_eq!(
        doc["jwks_uri"],
        format!("{base}/{TENANT_ID}/discovery/v2.0/keys")
    );
    assert_eq!(doc["issuer"], format!("{base}/{TENANT_ID}/v2.0"));
    let (_, common) = get_json(&format!(
        "{}/v2.0/.well-known/openid-configuration",
        emu.authority("common")
    ))
    .await;
    assert_eq!(
        common["token_endpoint"],
        format!("{base}/common/oauth2/v2.0/token")
    );
    assert_eq!(common["issuer"], format!("{base}/{{tenantid}}/v2.0"));
    // Through the alias host, endpoints follow the host; the issuer does not.
    let (_, alias) = get_json(&format!(
        "{}/v2.0/.well-known/openid-configuration",
        emu.alias_authority(TENANT_ID)
    ))
    .await;
    assert_eq!(
        alias["token_endpoint"],
        format!("{}/{TENANT_ID}/oauth2/v2.0/token", emu.alias_base_url())
    );
    assert_eq!(alias["issuer"], doc["issuer"]);

    let (s, err) = get_json(&format!(
        "{}/v2.0/.well-known/openid-configuration",
        emu.authority("nowhere.onmicrosoft.com")
    ))
    .await;
    assert_eq!(s, 400);
    assert_entra_error(&err, "invalid_tenant", 90002);
    let (s, err) = get_json(&format!(
        "{}/v2.0/.well-known/openid-configuration",
        emu.authority("not_a_tenant")
    ))
    .await;
    assert_eq!(s, 400);
    assert_entra_error(&err, "invalid_request", 900023);
}

#[tokio::test]
async fn instance_discovery_lists_the_public_cloud_and_the_emulator_aliases() {
    let emu = start().await;
    let ep = format!("{}/oauth2/v2.0/authorize", emu.alias_authority(TENANT_ID));
    let url = reqwest::Url::parse_with_params(
        &format!("{}/common/discovery/instance", emu.base_url()),
        &[
            ("api-version", "1.1"),
            ("authorization_endpoint", ep.as_str()),
        ],
    )
    .unwrap();
    let (s, body) = get_json(url.as_str()).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["api-version"], "1.1");
    assert_eq!(
        body["tenant_discovery_endpoint"],
        format!(
            "{}/v2.0/.well-known/openid-configuration",
            emu.alias_authority(TENANT_ID)
        )
    );
    let groups = body["metadata"].as_array().unwrap();
    let port = emu.port();
    let own = &groups[0];
    assert_eq!(own["preferred_network"], format!("127.0.0.1:{port}"));
    assert_eq!(own["preferred_cache"], format!("localhost:{port}"));
    let aliases: Vec<&str> = own["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for a in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "127.0.0.1".into(),
        "localhost".into(),
    ] {
        assert!(
            aliases.contains(&a.as_str()),
            "{a} missing from {aliases:?}"
        );
    }
    let public = groups
        .iter()
        .find(|g| g["preferred_network"] == "login.microsoftonline.com")
        .unwrap();
    assert_eq!(public["preferred_cache"], "login.windows.net");
    assert_eq!(
        public["aliases"],
        serde_json::json!([
            "login.microsoftonline.com",
            "login.windows.net",
            "login.microsoft.com",
            "sts.windows.net"
        ])
    );
    // MSAL Python sends the host without its port: it gets ours back.
    let url = reqwest::Url::parse_with_params(
        &format!("{}/common/discovery/instance", emu.base_url()),
        &[(
            "authorization_endpoint",
            format!("https://127.0.0.1/{TENANT_ID}/oauth2/v2.0/authorize"),
        )],
    )
    .unwrap();
    let (_, body) = get_json(url.as_str()).await;
    assert_eq!(
        body["tenant_discovery_endpoint"],
        format!("http://127.0.0.1:{port}/{TENANT_ID}/v2.0/.well-known/openid-configuration")
    );
    // Public-cloud hosts are known; anything else is invalid_instance.
    let url = reqwest::Url::parse_with_params(
        &format!("{}/common/discovery/instance", emu.base_url()),
        &[(
            "authorization_endpoint",
            "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        )],
    )
    .unwrap();
    let (s, body) = get_json(url.as_str()).await;
    assert_eq!(s, 200);
    assert_eq!(
        body["tenant_discovery_endpoint"],
        "http://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"
    );
    let url = reqwest::Url::parse_with_params(
        &format!("{}/common/discovery/instance", emu.base_url()),
        &[(
            "authorization_endpoint",
            "https://evil.example/common/oauth2/v2.0/authorize",
        )],
    )
    .unwrap();
    let (s, body) = get_json(url.as_str()).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "invalid_instance", 50049);
    assert_eq!(emu.admin().request_count(Endpoint::InstanceDiscovery), 4);
}

#[tokio::test]
async fn jwks_verifies_tokens_and_carries_the_issuer() {
    let emu = start().await;
    let (s, jwks) = get_json(&format!("{}/discovery/v2.0/keys", emu.authority(TENANT_ID))).await;
    assert_eq!(s, 200);
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["kid"], key["x5t"]);
    assert_eq!(
        key["issuer"],
        format!("{}/{TENANT_ID}/v2.0", emu.base_url())
    );
    // A token through the alias host verifies with the same key and issuer.
    let (s, body) = post_form(
        &format!("{}/oauth2/v2.0/token", emu.alias_authority(TENANT_ID)),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DAEMON_APP_ID),
            ("client_secret", DAEMON_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    let claims = verify_jwt(
        &emu,
        body["access_token"].as_str().unwrap(),
        GRAPH_APP_ID,
        TENANT_ID,
    )
    .await;
    assert_eq!(claims["tid"], TENANT_ID);
    let hosts: Vec<String> = emu
        .admin()
        .requests()
        .iter()
        .map(|r| r.host.clone())
        .collect();
    assert!(
        hosts.contains(&format!("localhost:{}", emu.port())),
        "{hosts:?}"
    );
}

#[tokio::test]
async fn user_realm_discovery() {
    let emu = start().await;
    let realm = |u: &str| format!("{}/common/userrealm/{u}?api-version=1.0", emu.base_url());
    let (s, v) = get_json(&realm(USER)).await;
    assert_eq!(s, 200);
    assert_eq!(v["account_type"], "Managed");
    assert_eq!(v["domain_name"], TENANT_DOMAIN);
    let (_, v) = get_json(&realm(CONSUMER_USER)).await;
    assert_eq!(v["account_type"], "MSA");
    let (_, v): (u16, Value) = get_json(&realm("someone@elsewhere.example")).await;
    assert_eq!(v["account_type"], "Unknown");
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_get_entra_errors() {
    let emu = start().await;
    let (s, v) = get_json(&format!("{}/nothing/here", emu.base_url())).await;
    assert_eq!(s, 404);
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS")
    );
    let (s, v) = get_json(&token_url(&emu, TENANT_ID)).await;
    assert_eq!(s, 400);
    assert_entra_error(&v, "invalid_request", 900561);
    let (s, v) = get_json(&format!(
        "{}/oauth2/v2.0/devicecode",
        emu.authority(TENANT_ID)
    ))
    .await;
    assert_eq!(s, 400);
    assert_entra_error(&v, "invalid_request", 900561);
}
