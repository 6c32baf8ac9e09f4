//! Every grant of the token endpoint over a real socket with a plain HTTP
//! client; tokens verified with jsonwebtoken against the emulator's JWKS.

mod common;

use std::time::Duration;

use common::*;
use msal_emulator::{EmulatorConfig, Endpoint, InteractionRequired};
use serde_json::Value;

#[tokio::test]
async fn client_credentials_with_a_secret_issues_an_app_token_with_roles() {
    let emu = start().await;
    let (s, body) = post_form(
        &token_url(&emu, TENANT_DOMAIN),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DAEMON_APP_ID),
            ("client_secret", DAEMON_SECRET),
            ("scope", "api://msal-emulator-web-api/.default"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    assert!(
        body.get("scope").is_none(),
        "Entra sends no scope for client credentials"
    );
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let claims = verify_jwt(
        &emu,
        body["access_token"].as_str().unwrap(),
        WEB_API_APP_ID,
        TENANT_ID,
    )
    .await;
    assert_eq!(claims["roles"], serde_json::json!(["Data.Read.All"]));
    assert_eq!(claims["tid"], TENANT_ID);
    assert_eq!(claims["azp"], DAEMON_APP_ID);
    assert_eq!(claims["azpacr"], "1");
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["ver"], "2.0");
    assert!(claims.get("scp").is_none());
}

#[tokio::test]
async fn client_credentials_with_an_fmi_path_reflects_it_in_the_token() {
    let emu = start().await;
    let form = |path: &'static str| {
        [
            ("grant_type", "client_credentials"),
            ("client_id", DAEMON_APP_ID),
            ("client_secret", DAEMON_SECRET),
            ("scope", "api://msal-emulator-web-api/.default"),
            ("fmi_path", path),
        ]
    };
    let (s, body) = post_form(&token_url(&emu, TENANT_ID), &form("Agents/Alpha")).await;
    assert_eq!(s, 200, "{body}");
    let claims = verify_jwt(
        &emu,
        body["access_token"].as_str().unwrap(),
        WEB_API_APP_ID,
        TENANT_ID,
    )
    .await;
    assert_eq!(claims["fmi_path"], "Agents/Alpha");
    assert_eq!(
        claims["sub"],
        format!("{}/Agents/Alpha", claims["oid"].as_str().unwrap())
    );
    // An empty path is no path.
    let (s, body) = post_form(&token_url(&emu, TENANT_ID), &form("")).await;
    assert_eq!(s, 200, "{body}");
    let claims = verify_jwt(
        &emu,
        body["access_token"].as_str().unwrap(),
        WEB_API_APP_ID,
        TENANT_ID,
    )
    .await;
    assert!(claims.get("fmi_path").is_none());
    assert_eq!(claims["sub"], claims["oid"]);
}

#[tokio::test]
async fn client_credentials_errors_are_entra_shaped() {
    let emu = start().await;
    let url = token_url(&emu, TENANT_ID);
    let base = [
        ("grant_type", "client_credentials"),
        ("client_id", DAEMON_APP_ID),
    ];
    let (s, b) = post_form(
        &url,
        &[
            base[0],
            base[1],
            ("client_secret", "wrong"),
            ("scope", "api://msal-emulator-web-api/.default"),
        ],
    )
    .await;
    assert_eq!(s, 401);
    assert_entra_error(&b, "invalid_client", 7000215);
    let (s, b) = post_form(
        &url,
        &[
            base[0],
            base[1],
            ("scope", "api://msal-emulator-web-api/.default"),
        ],
    )
    .await;
    assert_eq!(s, 401);
    assert_entra_error(&b, "invalid_client", 7000218);
    let (s, b) = post_form(
        &url,
        &[
            base[0],
            base[1],
            ("client_secret", DAEMON_SECRET),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_eq!(s, 400);
    assert_entra_error(&b, "invalid_scope", 1002012);
    let (s, b) = post_form(
        &token_url(&emu, "common"),
        &[
            base[0],
            base[1],
            ("client_secret", DAEMON_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(s, 400);
    assert_entra_error(&b, "invalid_request", 50059);
    let (s, b) = post_form(
        &url,
        &[
            base[0],
            ("client_id", "00000000-0000-0000-0000-000000000001"),
            ("client_secret", "x"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(s, 400);
    assert_entra_error(&b, "unauthorized_client", 700016);
}

#[tokio::test]
async fn client_secret_basic_is_accepted() {
    let emu = start().await;
    let r = http()
        .post(token_url(&emu, TENANT_ID))
        .basic_auth(DAEMON_APP_ID, Some(DAEMON_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let claims = verify_jwt(
        &emu,
        body["access_token"].as_str().unwrap(),
        GRAPH_APP_ID,
        TENANT_ID,
    )
    .await;
    assert_eq!(claims["roles"], serde_json::json!(["User.Read.All"]));
}

#[tokio::test]
async fn password_grant_issues_access_id_and_refresh_tokens_and_client_info() {
    let emu = start().await;
    let body = ada_tokens(&emu, "openid profile offline_access User.Read").await;
    assert_eq!(body["scope"], "User.Read openid profile");
    assert_eq!(body["foci"], "1", "the CLI app is in family 1");
    let at = verify_jwt(
        &emu,
        body["access_token"].as_str().unwrap(),
        GRAPH_APP_ID,
        TENANT_ID,
    )
    .await;
    assert_eq!(at["scp"], "User.Read");
    assert_eq!(at["oid"], USER_OBJECT_ID);
    assert_eq!(at["preferred_username"], USER);
    assert_eq!(at["name"], USER_DISPLAY_NAME);
    assert!(at["exp"].as_u64().unwrap() > at["iat"].as_u64().unwrap());
    let id = verify_jwt(
        &emu,
        body["id_token"].as_str().unwrap(),
        CLI_APP_ID,
        TENANT_ID,
    )
    .await;
    assert_eq!(id["oid"], USER_OBJECT_ID);
    assert_eq!(id["tid"], TENANT_ID);
    assert_ne!(id["sub"], at["sub"], "sub is pairwise per app");
    let ci = decode_client_info(body["client_info"].as_str().unwrap());
    assert_eq!(
        ci,
        serde_json::json!({"uid": USER_OBJECT_ID, "utid": TENANT_ID})
    );
    assert!(body["refresh_token"].as_str().unwrap().len() > 64);

    let (s, b) = post_form(
        &token_url(&emu, TENANT_ID),
        &[
            ("grant_type", "password"),
            ("client_id", CLI_APP_ID),
            ("username", USER),
            ("password", "nope"),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_eq!(s, 400);
    assert_entra_error(&b, "invalid_grant", 50126);
    let (_, b) = post_form(
        &token_url(&emu, TENANT_ID),
        &[
            ("grant_type", "password"),
            ("client_id", CLI_APP_ID),
            ("username", "nobody@contoso.onmicrosoft.com"),
            ("password", "x"),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_entra_error(&b, "invalid_grant", 50034);
    // Grace lives in Fabrikam: not at Contoso's authority.
    let (_, b) = post_form(
        &token_url(&emu, TENANT_ID),
        &[
            ("grant_type", "password"),
            ("client_id", CLI_APP_ID),
            ("username", FABRIKAM_USER),
            ("password", FABRIKAM_USER_PASSWORD),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_entra_error(&b, "invalid_grant", 50020);
    // Mail.Read was never consented for the CLI app.
    let (_, b) = post_form(
        &token_url(&emu, TENANT_ID),
        &[
            ("grant_type", "password"),
            ("client_id", CLI_APP_ID),
            ("username", USER),
            ("password", USER_PASSWORD),
            ("scope", "Mail.Read"),
        ],
    )
    .await;
    assert_entra_error(&b, "invalid_grant", 65001);
    assert_eq!(b["suberror"], "consent_required");
}

#[tokio::test]
async fn guest_and_common_authorities_pick_the_right_tenant() {
    let emu = start().await;
    let (s, body) = post_form(
        &token_url(&emu, SECOND_TENANT_DOMAIN),
        &[
            ("grant_type", "password"),
            ("client_id", CLI_APP_ID),
            ("username", USER),
            ("password", USER_PASSWORD),
            ("scope", "openid User.Read"),
            ("client_info", "1"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let id = verify_jwt(
        &emu,
        body["id_token"].as_str().unwrap(),
        CLI_APP_ID,
        SECOND_TENANT_ID,
    )
    .await;
    assert_eq!(id["tid"], SECOND_TENANT_ID);
    assert_ne!(id["oid"], USER_OBJECT_ID, "a guest has another object id");
    let ci = decode_client_info(body["client_info"].as_str().unwrap());
    assert_eq!(ci["utid"], TENANT_ID, "client_info names the home tenant");
    assert_eq!(ci["uid"], USER_OBJECT_ID);

    let (s, body) = post_form(
        &token_url(&emu, "organizations"),
        &[
            ("grant_type", "password"),
            ("client_id", CLI_APP_ID),
            ("username", FABRIKAM_USER),
            ("password", FABRIKAM_USER_PASSWORD),
            ("scope", "openid User.Read"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (_, b) = post_form(
        &token_url(&emu, "consumers"),
        &[
            ("grant_type", "password"),
            ("client_id", CLI_APP_ID),
            ("username", USER),
            ("password", USER_PASSWORD),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_entra_error(&b, "invalid_grant", 50020);
    let (s, _) = post_form(
        &token_url(&emu, "consumers"),
        &[
            ("grant_type", "password"),
            ("client_id", CLI_APP_ID),
            ("username", CONSUMER_USER),
            ("password", CONSUMER_USER_PASSWORD),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_eq!(s, 200);
}

async fn refresh(
    emu: &msal_emulator::EmulatorHandle,
    client_id: &str,
    rt: &str,
    scope: &str,
) -> (u16, Value) {
    post_form(
        &token_url(emu, TENANT_ID),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", rt),
            ("scope", scope),
            ("client_info", "1"),
        ],
    )
    .await
}

#[tokio::test]
async fn refresh_tokens_rotate_work_across_the_family_and_can_be_revoked() {
    let emu = start().await;
    let first = ada_tokens(&emu, "openid profile offline_access User.Read").await;
    let rt1 = first["refresh_token"].as_str().unwrap();
    let (s, second) = refresh(
        &emu,
        CLI_APP_ID,
        rt1,
        "openid profile offline_access User.Read",
    )
    .await;
    assert_eq!(s, 200, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2, "refresh tokens rotate");
    verify_jwt(
        &emu,
        second["access_token"].as_str().unwrap(),
        GRAPH_APP_ID,
        TENANT_ID,
    )
    .await;
    // Entra keeps the old one valid.
    let (s, _) = refresh(&emu, CLI_APP_ID, rt1, "User.Read").await;
    assert_eq!(s, 200);
    // FOCI: another family app redeems it; a non-family app gets client_mismatch.
    let (s, fam) = refresh(&emu, FAMILY_APP_ID, rt2, "openid offline_access User.Read").await;
    assert_eq!(s, 200, "{fam}");
    assert_eq!(fam["foci"], "1");
    let (s, b) = refresh(&emu, DESKTOP_APP_ID, rt2, "User.Read").await;
    assert_eq!(s, 400);
    assert_entra_error(&b, "invalid_grant", 70000);
    assert_eq!(b["suberror"], "client_mismatch");
    assert_eq!(
        b["error_additional_info"],
        serde_json::json!(["client_mismatch"])
    );
    // Revocation.
    let n = emu.admin().revoke_refresh_tokens(USER).unwrap();
    assert!(n >= 3, "{n}");
    let (_, b) = refresh(&emu, CLI_APP_ID, rt2, "User.Read").await;
    assert_entra_error(&b, "invalid_grant", 50173);
    let (_, b) = refresh(&emu, CLI_APP_ID, "garbage", "User.Read").await;
    assert_entra_error(&b, "invalid_grant", 9002313);
}

#[tokio::test]
async fn single_use_refresh_tokens_and_expiry() {
    let mut config = EmulatorConfig::default();
    config.tokens.single_use_refresh_tokens = true;
    let emu = start_with(config).await;
    let first = ada_tokens(&emu, "offline_access User.Read").await;
    let rt1 = first["refresh_token"].as_str().unwrap();
    let (s, second) = refresh(&emu, CLI_APP_ID, rt1, "User.Read").await;
    assert_eq!(s, 200);
    let (_, b) = refresh(&emu, CLI_APP_ID, rt1, "User.Read").await;
    assert_entra_error(&b, "invalid_grant", 70000);
    emu.admin()
        .advance_clock(Duration::from_secs(91 * 24 * 3600));
    let (_, b) = refresh(
        &emu,
        CLI_APP_ID,
        second["refresh_token"].as_str().unwrap(),
        "User.Read",
    )
    .await;
    assert_entra_error(&b, "invalid_grant", 700082);
}

#[tokio::test]
async fn long_lived_access_tokens_carry_refresh_in() {
    let mut config = EmulatorConfig::default();
    config.tokens.access_token_lifetime_secs = 24 * 3600;
    config.tokens.ext_expires_extra_secs = 3600;
    let emu = start_with(config).await;
    let body = ada_tokens(&emu, "User.Read").await;
    assert_eq!(body["expires_in"], 86400);
    assert_eq!(body["ext_expires_in"], 90000);
    assert_eq!(body["refresh_in"], 43200);
    let short = start().await;
    assert!(
        ada_tokens(&short, "User.Read")
            .await
            .get("refresh_in")
            .is_none()
    );
}

async fn start_device_flow(emu: &msal_emulator::EmulatorHandle, tenant: &str) -> Value {
    let (s, dc) = post_form(
        &format!("{}/oauth2/v2.0/devicecode", emu.authority(tenant)),
        &[
            ("client_id", CLI_APP_ID),
            ("scope", "openid profile offline_access User.Read"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{dc}");
    dc
}

async fn poll(emu: &msal_emulator::EmulatorHandle, tenant: &str, dc: &Value) -> (u16, Value) {
    post_form(
        &token_url(emu, tenant),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", CLI_APP_ID),
            ("device_code", dc["device_code"].as_str().unwrap()),
            ("client_info", "1"),
        ],
    )
    .await
}

#[tokio::test]
async fn device_code_flow_pending_approved_redeemed() {
    let emu = start().await;
    let dc = start_device_flow(&emu, "organizations").await;
    let code = dc["user_code"].as_str().unwrap();
    assert_eq!(code.len(), 9);
    assert_eq!(
        dc["verification_uri"],
        format!("{}/devicelogin", emu.base_url())
    );
    assert_eq!(dc["expires_in"], 900);
    assert_eq!(dc["interval"], 5);
    assert!(dc["message"].as_str().unwrap().contains(code));
    let (s, b) = poll(&emu, "organizations", &dc).await;
    assert_eq!(s, 400);
    assert_entra_error(&b, "authorization_pending", 70016);
    assert_eq!(emu.admin().device_codes()[0].status, "pending");
    emu.admin()
        .approve_device_code(&code.to_lowercase(), USER)
        .unwrap();
    let (s, tokens) = poll(&emu, "organizations", &dc).await;
    assert_eq!(s, 200, "{tokens}");
    let id = verify_jwt(
        &emu,
        tokens["id_token"].as_str().unwrap(),
        CLI_APP_ID,
        TENANT_ID,
    )
    .await;
    assert_eq!(id["preferred_username"], USER);
    assert!(tokens["refresh_token"].is_string() && tokens["client_info"].is_string());
    let (_, b) = poll(&emu, "organizations", &dc).await;
    assert_entra_error(&b, "invalid_grant", 54005);
    assert!(
        emu.admin().approve_device_code(code, USER).is_err(),
        "not pending any more"
    );
}

#[tokio::test]
async fn device_code_denied_expired_and_slow_down() {
    let emu = start().await;
    let dc = start_device_flow(&emu, TENANT_ID).await;
    emu.admin()
        .deny_device_code(dc["user_code"].as_str().unwrap())
        .unwrap();
    let (_, b) = poll(&emu, TENANT_ID, &dc).await;
    assert_entra_error(&b, "access_denied", 65004);

    let dc = start_device_flow(&emu, TENANT_ID).await;
    emu.admin().advance_clock(Duration::from_secs(901));
    let (_, b) = poll(&emu, TENANT_ID, &dc).await;
    assert_entra_error(&b, "expired_token", 70020);
    assert!(emu.admin().approve_latest_device_code(USER).is_err());

    let mut config = EmulatorConfig::default();
    config.device_code.enforce_interval = true;
    let strict = start_with(config).await;
    let dc = start_device_flow(&strict, TENANT_ID).await;
    let (_, b) = poll(&strict, TENANT_ID, &dc).await;
    assert_eq!(b["error"], "authorization_pending");
    let (_, b) = poll(&strict, TENANT_ID, &dc).await;
    assert_entra_error(&b, "slow_down", 70016);
    strict.admin().advance_clock(Duration::from_secs(5));
    let (_, b) = poll(&strict, TENANT_ID, &dc).await;
    assert_eq!(b["error"], "authorization_pending");
}

#[tokio::test]
async fn forced_interaction_required_carries_claims_until_an_interactive_sign_in() {
    let emu = start().await;
    let first = ada_tokens(&emu, "offline_access User.Read").await;
    emu.admin()
        .require_interaction(InteractionRequired::mfa(USER));
    let (s, b) = refresh(
        &emu,
        CLI_APP_ID,
        first["refresh_token"].as_str().unwrap(),
        "User.Read",
    )
    .await;
    assert_eq!(s, 400);
    assert_entra_error(&b, "interaction_required", 50076);
    assert_eq!(b["suberror"], "basic_action");
    let claims: Value = serde_json::from_str(b["claims"].as_str().unwrap()).unwrap();
    assert!(
        claims["access_token"]["capolids"]["essential"]
            .as_bool()
            .unwrap()
    );
    // Bob is not affected.
    let (s, _) = post_form(
        &token_url(&emu, TENANT_ID),
        &[
            ("grant_type", "password"),
            ("client_id", CLI_APP_ID),
            ("username", SECOND_USER),
            ("password", SECOND_USER_PASSWORD),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    // An interactive sign-in (device code) satisfies it.
    let dc = start_device_flow(&emu, TENANT_ID).await;
    emu.admin().approve_latest_device_code(USER).unwrap();
    let (s, _) = poll(&emu, TENANT_ID, &dc).await;
    assert_eq!(s, 200);
    let (s, _) = refresh(
        &emu,
        CLI_APP_ID,
        first["refresh_token"].as_str().unwrap(),
        "User.Read",
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn on_behalf_of_exchanges_a_user_token_for_a_downstream_one() {
    let emu = start().await;
    let user = ada_tokens(&emu, "api://msal-emulator-web-api/access_as_user").await;
    assert_eq!(user["scope"], "api://msal-emulator-web-api/access_as_user");
    let assertion = user["access_token"].as_str().unwrap();
    let at = verify_jwt(&emu, assertion, WEB_API_APP_ID, TENANT_ID).await;
    assert_eq!(at["scp"], "access_as_user");
    let form = |assertion: &str, secret: &str| {
        vec![
            (
                "grant_type".to_string(),
                "urn:ietf:params:oauth:grant-type:jwt-bearer".to_string(),
            ),
            ("client_id".into(), WEB_API_APP_ID.into()),
            ("client_secret".into(), secret.to_string()),
            ("assertion".into(), assertion.to_string()),
            ("requested_token_use".into(), "on_behalf_of".into()),
            (
                "scope".into(),
                "https://graph.microsoft.com/User.Read offline_access".into(),
            ),
        ]
    };
    let send = |f: Vec<(String, String)>| {
        let url = token_url(&emu, TENANT_ID);
        async move {
            let r = http().post(url).form(&f).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, obo) = send(form(assertion, WEB_API_SECRET)).await;
    assert_eq!(s, 200, "{obo}");
    let down = verify_jwt(
        &emu,
        obo["access_token"].as_str().unwrap(),
        GRAPH_APP_ID,
        TENANT_ID,
    )
    .await;
    assert_eq!(down["oid"], USER_OBJECT_ID);
    assert_eq!(down["azp"], WEB_API_APP_ID);
    assert!(down["scp"].as_str().unwrap().contains("User.Read"));
    assert!(obo["refresh_token"].is_string());
    // The assertion must be for the calling API.
    let graph_token = ada_tokens(&emu, "User.Read").await;
    let (_, b) = send(form(
        graph_token["access_token"].as_str().unwrap(),
        WEB_API_SECRET,
    ))
    .await;
    assert_entra_error(&b, "invalid_grant", 50013);
    let (_, b) = send(form("not.a.jwt", WEB_API_SECRET)).await;
    assert_entra_error(&b, "invalid_grant", 50013);
    let (s, b) = send(form(assertion, "wrong")).await;
    assert_eq!(s, 401);
    assert_entra_error(&b, "invalid_client", 7000215);
    emu.admin().advance_clock(Duration::from_secs(3599 + 301));
    let (_, b) = send(form(assertion, WEB_API_SECRET)).await;
    assert_entra_error(&b, "invalid_grant", 500133);
}

#[tokio::test]
async fn counters_count_every_endpoint_and_admin_calls_are_not_counted() {
    let emu = start().await;
    let admin = emu.admin();
    assert_eq!(admin.total_requests(), 0);
    get_json(&format!(
        "{}/v2.0/.well-known/openid-configuration",
        emu.authority("common")
    ))
    .await;
    ada_tokens(&emu, "User.Read").await;
    ada_tokens(&emu, "User.Read").await;
    assert_eq!(admin.request_count(Endpoint::OpenidConfiguration), 1);
    assert_eq!(admin.request_count(Endpoint::Token), 2);
    assert_eq!(admin.token_requests_with_grant("password"), 2);
    let (s, counters) = get_json(&format!("{}/_admin/counters", emu.base_url())).await;
    assert_eq!(s, 200);
    assert_eq!(counters["counters"]["token"], 2);
    assert_eq!(counters["total"], 3);
    let log = admin.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[1].client_id.as_deref(), Some(CLI_APP_ID));
    assert_eq!(log[1].status, 200);
    admin.reset_counters();
    assert_eq!(admin.total_requests(), 0);
}
