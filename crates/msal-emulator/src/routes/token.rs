//! `POST /{tenant}/oauth2/v2.0/token`: parses the form and dispatches on
//! `grant_type`. Every failure is an Entra-shaped error, never a panic.

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::AuthorityTenant;
use super::ctx::{RequestCtx, parse_params};
use super::grants;
use crate::entra_error::{EntraError, json_response};

/// The device code grant type.
pub(crate) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The on-behalf-of grant type.
pub(crate) const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The token endpoint.
pub(crate) async fn token(ctx: RequestCtx, method: Method, body: Bytes) -> Response {
    match handle(&ctx, &method, &body) {
        Ok(v) => json_response(StatusCode::OK, &v, &ctx),
        Err(e) => {
            tracing::debug!(error = %e.error, code = e.code, "token request refused");
            e.response(&ctx)
        }
    }
}

/// Entra's answer to a method other than POST.
pub(crate) fn post_only(method: &Method) -> EntraError {
    EntraError::bad_request(
        "invalid_request",
        900561,
        format!("The endpoint only accepts POST, OPTIONS requests. Received a {method} request."),
    )
}

fn handle(ctx: &RequestCtx, method: &Method, body: &[u8]) -> Result<Value, EntraError> {
    if method != Method::POST {
        return Err(post_only(method));
    }
    let params = parse_params(body)?;
    let tenant = AuthorityTenant::resolve(&ctx.state, &ctx.tenant_segment)?;
    let grant_type = params.require("grant_type")?;
    match grant_type {
        "authorization_code" => grants::authorization_code(ctx, &params, &tenant),
        "refresh_token" => grants::refresh_token(ctx, &params, &tenant),
        "client_credentials" => grants::client_credentials(ctx, &params, &tenant),
        DEVICE_CODE_GRANT | "device_code" => grants::device_code(ctx, &params, &tenant),
        "password" => grants::password(ctx, &params, &tenant),
        JWT_BEARER_GRANT => grants::on_behalf_of(ctx, &params, &tenant),
        other => Err(EntraError::bad_request(
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{other}'."),
        )),
    }
}
