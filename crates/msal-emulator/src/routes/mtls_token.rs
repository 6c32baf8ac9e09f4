//! `POST /{tenant}/oauth2/v2.0/token` on the mutual-TLS listener: client
//! credentials with `token_type=mtls_pop`, the app authenticated by the TLS
//! client certificate it presented (registered for it), answered with a
//! certificate-bound token.

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::AuthorityTenant;
use super::ctx::{RequestCtx, parse_params};
use super::token::post_only;
use crate::entra_error::{EntraError, json_response};
use crate::mtls::MtlsPeer;
use crate::{scopes, tokens};

pub(crate) async fn token(
    ctx: RequestCtx,
    ConnectInfo(peer): ConnectInfo<MtlsPeer>,
    method: Method,
    body: Bytes,
) -> Response {
    match handle(&ctx, &peer, &method, &body) {
        Ok(v) => json_response(StatusCode::OK, &v, &ctx),
        Err(e) => {
            tracing::debug!(peer = %peer.addr, error = %e.error, "mTLS token request refused");
            e.response(&ctx)
        }
    }
}

fn invalid_client(code: u32, message: impl Into<String>) -> EntraError {
    EntraError::new(StatusCode::UNAUTHORIZED, "invalid_client", code, message)
}

fn handle(
    ctx: &RequestCtx,
    peer: &MtlsPeer,
    method: &Method,
    body: &[u8],
) -> Result<Value, EntraError> {
    if method != Method::POST {
        return Err(post_only(method));
    }
    let params = parse_params(body)?;
    let tenant = AuthorityTenant::resolve(&ctx.state, &ctx.tenant_segment)?;
    let grant = params.require("grant_type")?;
    if grant != "client_credentials" {
        return Err(EntraError::bad_request(
            "unsupported_grant_type",
            70003,
            format!("The mTLS endpoint serves client credentials only, not '{grant}'."),
        ));
    }
    if params.get("token_type") != Some("mtls_pop") {
        return Err(EntraError::bad_request(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'token_type' (mtls_pop).",
        ));
    }
    let cert = peer.certificate.as_deref().ok_or_else(|| {
        invalid_client(
            700027,
            "No client certificate was presented in the TLS handshake.",
        )
    })?;
    let client_id = params.require("client_id")?;
    let app = ctx.state.0.dir.app(client_id).cloned().ok_or_else(|| {
        EntraError::bad_request(
            "unauthorized_client",
            700016,
            format!("Application with identifier '{client_id}' was not found in the directory."),
        )
    })?;
    let x5t = URL_SAFE_NO_PAD.encode(Sha256::digest(cert));
    let extra = ctx
        .state
        .store()
        .extra_certs
        .get(&app.client_id)
        .cloned()
        .unwrap_or_default();
    if !app
        .certificates
        .iter()
        .chain(extra.iter())
        .any(|c| c.matches(None, Some(&x5t), None))
    {
        return Err(invalid_client(
            700027,
            format!(
                "The TLS client certificate (thumbprint '{x5t}') is not registered for app '{}'.",
                app.client_id
            ),
        ));
    }
    let AuthorityTenant::Tenant(tenant_id) = tenant else {
        return Err(EntraError::bad_request(
            "invalid_request",
            50059,
            "No tenant-identifying information found in either the request or implied by any provided credentials.",
        ));
    };
    let set = scopes::parse(&ctx.state.0.dir, &app, params.require("scope")?, false)?;
    ctx.state.store().mtls_token_requests += 1;
    let fmi_path = params.get("fmi_path").filter(|p| !p.is_empty());
    tokens::app_token_response_bound(
        &ctx.state,
        &app,
        &tenant_id,
        &set,
        "2",
        fmi_path,
        Some(&x5t),
    )
}
