//! The sign-in and consent form posts shared by the authorize flow and the
//! device login page, and the logout endpoint.

use axum::body::Bytes;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use url::Url;

use super::AuthorityTenant;
use super::authorize::{SESSION_COOKIE, redirect_error, respond_to_app};
use super::ctx::{RequestCtx, parse_params};
use super::grants::satisfy_interaction;
use super::html;
use crate::directory::App;
use crate::entra_error::EntraError;
use crate::scopes;
use crate::state::{
    AuthCode, DeviceCodeStatus, EmulatorState, FlowKind, Session, SignInFlow, random_string,
};

/// Sign-in flows older than this are refused.
const FLOW_LIFETIME: u64 = 3600;

/// Scopes (api app id, scope) the user has not consented to for `app`.
pub(crate) fn missing_permissions(
    state: &EmulatorState,
    app: &App,
    username: &str,
    scope: &str,
) -> Vec<(String, String)> {
    let Ok(set) = scopes::parse(&state.0.dir, app, scope, true) else {
        return Vec::new();
    };
    let mut wanted: Vec<(String, Vec<String>)> = set.other_resources.clone();
    if let Some(api) = &set.api {
        wanted.insert(0, (api.clone(), set.scopes.clone()));
    }
    let store = state.store();
    let user_consents = store
        .consents
        .get(&(username.to_string(), app.client_id.clone()));
    let mut missing = Vec::new();
    for (api, names) in wanted {
        let have = scopes::consented(app, &api, user_consents.and_then(|m| m.get(&api)));
        for n in names {
            if !have.contains(&n) {
                missing.push((api.clone(), n));
            }
        }
    }
    missing
}

fn with_cookie(mut r: Response, cookie: Option<&str>) -> Response {
    if let Some(c) = cookie
        && let Ok(v) = HeaderValue::from_str(c)
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

fn expired_flow(ctx: &RequestCtx) -> Response {
    html::error_page(
        StatusCode::BAD_REQUEST,
        ctx,
        50058,
        "The sign-in session was not found or has expired. Start the sign-in again from the application.",
    )
}

fn permission_labels(
    state: &EmulatorState,
    scope: &str,
    missing: &[(String, String)],
) -> Vec<String> {
    let mut out = Vec::new();
    let lower = scope.to_ascii_lowercase();
    if lower
        .split_whitespace()
        .any(|s| s == "openid" || s == "profile")
    {
        out.push("Sign you in and read your profile".to_string());
    }
    if lower.split_whitespace().any(|s| s == "offline_access") {
        out.push("Maintain access to data you have given it access to".to_string());
    }
    for (api, name) in missing {
        let api_name = state
            .0
            .dir
            .api(api)
            .map(|a| a.name.clone())
            .unwrap_or_default();
        out.push(format!("{api_name}: {name}"));
    }
    out
}

/// After the user is known: the consent page when needed (or asked with
/// `prompt=consent`), else the flow completes.
pub(crate) fn after_sign_in(
    ctx: &RequestCtx,
    flow_id: String,
    mut flow: SignInFlow,
    username: &str,
    cookie: Option<String>,
) -> Response {
    let Some(app) = ctx.state.0.dir.app(&flow.client_id).cloned() else {
        return expired_flow(ctx);
    };
    flow.username = Some(username.to_string());
    let missing = missing_permissions(&ctx.state, &app, username, &flow.scope);
    let forced =
        matches!(&flow.kind, FlowKind::Authorize(r) if r.prompt.as_deref() == Some("consent"));
    if missing.is_empty() && !forced {
        return complete(ctx, flow, username, cookie);
    }
    let labels = permission_labels(&ctx.state, &flow.scope, &missing);
    ctx.state.store().flows.insert(flow_id.clone(), flow);
    with_cookie(
        html::consent_page(&flow_id, &app.name, username, &labels),
        cookie.as_deref(),
    )
}

/// Finishes a flow: a code redirect for authorize, an approved device code
/// for device login.
pub(crate) fn complete(
    ctx: &RequestCtx,
    flow: SignInFlow,
    username: &str,
    cookie: Option<String>,
) -> Response {
    let state = &ctx.state;
    let (Some(user), Ok(tenant)) = (
        state.0.dir.user(username).cloned(),
        AuthorityTenant::resolve(state, &flow.tenant_segment),
    ) else {
        return expired_flow(ctx);
    };
    let Some(tenant_id) = tenant.tenant_for(state, &user) else {
        return expired_flow(ctx);
    };
    satisfy_interaction(state, &user.username);
    let app_name = state
        .0
        .dir
        .app(&flow.client_id)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    let response = match flow.kind {
        FlowKind::Authorize(req) => {
            let code = format!("1.A{}", random_string(64));
            state.store().auth_codes.insert(
                code.clone(),
                AuthCode {
                    client_id: req.client_id.clone(),
                    redirect_uri: req.redirect_uri.clone(),
                    username: user.username.clone(),
                    tenant_id,
                    scope: req.scope.clone(),
                    nonce: req.nonce.clone(),
                    code_challenge: req.code_challenge.clone(),
                    code_challenge_method: req.code_challenge_method.clone(),
                    issued_at: ctx.now,
                    redeemed: false,
                },
            );
            let mut fields = vec![("code", code)];
            if let Some(s) = &req.state {
                fields.push(("state", s.clone()));
            }
            fields.push(("session_state", random_string(16)));
            respond_to_app(&req, &fields)
        }
        FlowKind::Device { user_code } => {
            let mut store = state.store();
            if let Some(rec) = store
                .device_codes
                .iter_mut()
                .find(|d| d.user_code == user_code)
                && rec.status == DeviceCodeStatus::Pending
            {
                rec.status = DeviceCodeStatus::Approved {
                    username: user.username.clone(),
                    tenant_id,
                };
            }
            html::device_done_page(&app_name, true)
        }
    };
    with_cookie(response, cookie.as_deref())
}

/// `POST /_signin/login` (`flow`, `loginfmt`, `passwd`).
pub(crate) async fn login(ctx: RequestCtx, body: Bytes) -> Response {
    let Ok(params) = parse_params(&body) else {
        return expired_flow(&ctx);
    };
    let flow_id = params.get("flow").unwrap_or("").to_string();
    let flow = ctx.state.store().flows.get(&flow_id).cloned();
    let Some(flow) = flow.filter(|f| f.created.saturating_add(FLOW_LIFETIME) > ctx.now) else {
        return expired_flow(&ctx);
    };
    let app_name = ctx
        .state
        .0
        .dir
        .app(&flow.client_id)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    let typed = params.get("loginfmt").unwrap_or("").trim().to_string();
    let retry = |msg: &str| html::signin_page(&flow_id, &app_name, Some(&typed), Some(msg));
    let user = match ctx.state.0.dir.user(&typed) {
        Some(u) if Some(u.password.as_str()) == params.get("passwd") => u.clone(),
        Some(_) => {
            return retry(
                "Your account or password is incorrect. (AADSTS50126: Error validating credentials due to invalid username or password.)",
            );
        }
        None => {
            return retry(
                "This username may be incorrect. (AADSTS50034: The user account does not exist in the directory.)",
            );
        }
    };
    let allowed = AuthorityTenant::resolve(&ctx.state, &flow.tenant_segment)
        .ok()
        .and_then(|t| t.tenant_for(&ctx.state, &user));
    if allowed.is_none() {
        return retry(
            "AADSTS50020: This account does not exist in the tenant of this sign-in request. Use another account.",
        );
    }
    ctx.state.store().flows.remove(&flow_id);
    let session = random_string(24);
    ctx.state.store().sessions.insert(
        session.clone(),
        Session {
            username: user.username.clone(),
        },
    );
    let cookie = format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax");
    after_sign_in(&ctx, flow_id, flow, &user.username, Some(cookie))
}

/// `POST /_signin/consent` (`flow`, `consent=accept|cancel`).
pub(crate) async fn consent(ctx: RequestCtx, body: Bytes) -> Response {
    let Ok(params) = parse_params(&body) else {
        return expired_flow(&ctx);
    };
    let flow_id = params.get("flow").unwrap_or("").to_string();
    let flow = ctx.state.store().flows.remove(&flow_id);
    let Some(flow) = flow.filter(|f| f.created.saturating_add(FLOW_LIFETIME) > ctx.now) else {
        return expired_flow(&ctx);
    };
    let Some(username) = flow.username.clone() else {
        return expired_flow(&ctx);
    };
    if params.get("consent") != Some("accept") {
        return match &flow.kind {
            FlowKind::Authorize(req) => {
                let e = EntraError::bad_request(
                    "access_denied",
                    65004,
                    "User declined to consent to access the app.",
                );
                redirect_error(&ctx, req, &e)
            }
            FlowKind::Device { user_code } => {
                if let Some(rec) = ctx
                    .state
                    .store()
                    .device_codes
                    .iter_mut()
                    .find(|d| d.user_code == *user_code)
                {
                    rec.status = DeviceCodeStatus::Denied;
                }
                html::device_done_page("", false)
            }
        };
    }
    if let Some(app) = ctx.state.0.dir.app(&flow.client_id).cloned() {
        record_consent(&ctx.state, &app, &username, &flow.scope);
    }
    complete(&ctx, flow, &username, None)
}

/// Records that `username` consented to the scopes in `scope` for `app`.
pub(crate) fn record_consent(state: &EmulatorState, app: &App, username: &str, scope: &str) {
    let missing = missing_permissions(state, app, username, scope);
    let mut store = state.store();
    let entry = store
        .consents
        .entry((username.to_string(), app.client_id.clone()))
        .or_default();
    for (api, name) in missing {
        entry.entry(api).or_default().insert(name);
    }
}

/// `GET|POST /{tenant}/oauth2/v2.0/logout`: ends the browser session and
/// redirects to `post_logout_redirect_uri` when given.
pub(crate) async fn logout(ctx: RequestCtx, method: Method, body: Bytes) -> Response {
    let params = if method == Method::POST {
        parse_params(&body)
    } else {
        ctx.query_params()
    };
    let params = params.unwrap_or_default();
    if let Some(id) = ctx.cookies.get(SESSION_COOKIE) {
        ctx.state.store().sessions.remove(id);
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    let target = params
        .get("post_logout_redirect_uri")
        .and_then(|u| Url::parse(u).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    let r = match target {
        Some(mut url) => {
            if let Some(s) = params.get("state") {
                url.query_pairs_mut().append_pair("state", s);
            }
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(url.as_str()) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        None => html::signed_out_page(),
    };
    with_cookie(r, Some(&clear))
}
