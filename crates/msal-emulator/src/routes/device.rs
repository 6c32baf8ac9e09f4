//! The device authorization endpoint and the `/devicelogin` verification
//! page where a user types the code and signs in.

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use rand::Rng as _;
use serde_json::{Value, json};

use super::AuthorityTenant;
use super::client_auth;
use super::ctx::{RequestCtx, parse_params};
use super::html;
use crate::entra_error::{EntraError, json_response};
use crate::scopes;
use crate::state::{DeviceCodeRecord, DeviceCodeStatus, FlowKind, SignInFlow, random_string};

/// Characters of user codes (no 0/O, 1/I).
const USER_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

fn user_code() -> String {
    let mut rng = rand::rng();
    (0..9)
        .map(|_| USER_CODE_ALPHABET[rng.random_range(0..USER_CODE_ALPHABET.len())] as char)
        .collect()
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub(crate) async fn devicecode(ctx: RequestCtx, method: Method, body: Bytes) -> Response {
    match handle(&ctx, &method, &body) {
        Ok(v) => json_response(StatusCode::OK, &v, &ctx),
        Err(e) => e.response(&ctx),
    }
}

fn handle(ctx: &RequestCtx, method: &Method, body: &[u8]) -> Result<Value, EntraError> {
    if method != Method::POST {
        return Err(super::token::post_only(method));
    }
    let params = parse_params(body)?;
    let tenant = AuthorityTenant::resolve(&ctx.state, &ctx.tenant_segment)?;
    let (app, _) = client_auth::authenticate(ctx, &params, &tenant)?;
    let scope = params.require("scope")?;
    scopes::parse(&ctx.state.0.dir, &app, scope, false)?;
    let settings = &ctx.state.0.config.device_code;
    let device_code = random_string(48);
    let code = user_code();
    let uri = format!("{}/devicelogin", ctx.base_url());
    ctx.state.store().device_codes.push(DeviceCodeRecord {
        device_code: device_code.clone(),
        user_code: code.clone(),
        client_id: app.client_id.clone(),
        tenant_segment: ctx.tenant_segment.clone(),
        scope: scope.to_string(),
        expires_at: ctx.now.saturating_add(settings.lifetime_secs),
        last_poll: None,
        status: DeviceCodeStatus::Pending,
    });
    Ok(json!({
        "user_code": code,
        "device_code": device_code,
        "verification_uri": uri,
        "expires_in": settings.lifetime_secs,
        "interval": settings.interval_secs,
        "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {code} to authenticate."),
    }))
}

/// Normalises what a user typed as a code.
pub(crate) fn normalise_code(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// `GET /devicelogin` shows the code form; `POST` with `otc` starts the
/// sign-in for that code.
pub(crate) async fn devicelogin(ctx: RequestCtx, method: Method, body: Bytes) -> Response {
    if method != Method::POST {
        return html::device_code_page(None);
    }
    let Ok(params) = parse_params(&body) else {
        return html::device_code_page(Some("The request was malformed."));
    };
    let typed = normalise_code(params.get("otc").unwrap_or(""));
    let found = {
        let store = ctx.state.store();
        store
            .device_codes
            .iter()
            .find(|d| {
                d.user_code == typed
                    && d.status == DeviceCodeStatus::Pending
                    && d.expires_at > ctx.now
            })
            .cloned()
    };
    let Some(rec) = found else {
        return html::device_code_page(Some(
            "That code didn't work. Check the code and try again.",
        ));
    };
    let app_name = ctx
        .state
        .0
        .dir
        .app(&rec.client_id)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    let flow_id = random_string(24);
    ctx.state.store().flows.insert(
        flow_id.clone(),
        SignInFlow {
            kind: FlowKind::Device {
                user_code: rec.user_code.clone(),
            },
            tenant_segment: rec.tenant_segment.clone(),
            client_id: rec.client_id.clone(),
            scope: rec.scope.clone(),
            username: None,
            created: ctx.now,
        },
    );
    html::signin_page(&flow_id, &app_name, None, None)
}
