//! The handlers, one per source.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::json;

use super::host_cache::host_token;
use super::wire::{
    Shape, get, header_is, identity, json_response, mint, params, refuse, resource, signing_failed,
};
use super::{
    Host, IDENTITY_HEADER, MSI_SECRET, SYSTEM_ASSIGNED, TOKEN_LIFETIME_SECS, USER_ASSIGNED,
};
use crate::state::EmulatorState;

/// IMDS, Azure Arc and Service Fabric share a path; the api-version says which.
pub(super) async fn imds_like(
    State(state): State<EmulatorState>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let raw = uri.query().unwrap_or("");
    let version = url::form_urlencoded::parse(raw.as_bytes())
        .find(|(k, _)| k == "api-version")
        .map(|(_, v)| v.into_owned());
    match version.as_deref() {
        Some("2018-02-01") => imds(&state, &method, &headers, raw),
        Some("2020-06-01") => arc(&state, &method, &headers, raw),
        Some("2019-07-01-preview") => service_fabric(&state, &method, &headers, raw),
        _ => refuse(
            Shape::OAuth,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Bad request. api-version is invalid or was not specified.",
        ),
    }
}

fn imds(state: &EmulatorState, method: &Method, headers: &HeaderMap, raw: &str) -> Response {
    let bad = |m: &str| refuse(Shape::OAuth, StatusCode::BAD_REQUEST, "invalid_request", m);
    if method != Method::GET {
        return refuse(
            Shape::OAuth,
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "Only GET is supported.",
        );
    }
    if !header_is(headers, "metadata", "true") {
        return bad("Required metadata header not specified");
    }
    if headers.contains_key("x-forwarded-for") {
        return bad(
            "Request contains X-Forwarded-For: IMDS does not accept requests through a proxy",
        );
    }
    let p = match params(
        raw,
        &[
            "api-version",
            "resource",
            "client_id",
            "msi_res_id",
            "object_id",
            "bypass_cache",
        ],
    ) {
        Ok(p) => p,
        Err(m) => return bad(&m),
    };
    let r = match resource(&p) {
        Ok(r) => r,
        Err(m) if m.starts_with("AADSTS") => {
            return refuse(
                Shape::OAuth,
                StatusCode::BAD_REQUEST,
                "invalid_resource",
                &m,
            );
        }
        Err(m) => return bad(&m),
    };
    let id = match identity(&p, ["client_id", "msi_res_id", "object_id"], None) {
        Ok(id) => id,
        Err(m) => return bad(&m),
    };
    match mint(state, id, &r) {
        Some((token, now, exp)) => json_response(
            StatusCode::OK,
            &json!({
                "access_token": token, "refresh_token": "", "expires_in": TOKEN_LIFETIME_SECS.to_string(),
                "expires_on": exp.to_string(), "ext_expires_in": TOKEN_LIFETIME_SECS.to_string(),
                "not_before": now.to_string(), "resource": r, "token_type": "Bearer",
            }),
        ),
        None => signing_failed(),
    }
}

fn arc(state: &EmulatorState, method: &Method, headers: &HeaderMap, raw: &str) -> Response {
    let bad = |m: &str| refuse(Shape::OAuth, StatusCode::BAD_REQUEST, "invalid_request", m);
    if method != Method::GET {
        return refuse(
            Shape::OAuth,
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "Only GET is supported.",
        );
    }
    if !header_is(headers, "metadata", "true") {
        return bad("Required metadata header not specified");
    }
    let p = match params(raw, &["api-version", "resource"]) {
        Ok(p) => p,
        Err(m) => return bad(&m),
    };
    let r = match resource(&p) {
        Ok(r) => r,
        Err(m) => return bad(&m),
    };
    let dir = state.admin().arc_key_directory();
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(str::trim);
    let Some(secret) = presented else {
        let issued = state.store().arc_keys.issue(&dir, state.now());
        return match issued {
            Ok(path) => {
                let mut resp = refuse(
                    Shape::OAuth,
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "Authorization required",
                );
                if let Ok(v) = HeaderValue::from_str(&format!("Basic realm={}", path.display())) {
                    resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                resp
            }
            Err(e) => refuse(
                Shape::OAuth,
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                &format!("cannot write the key file: {e}"),
            ),
        };
    };
    let redeemed = state.store().arc_keys.redeem(secret, state.now());
    if !redeemed {
        return refuse(
            Shape::OAuth,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "The key presented is not valid",
        );
    }
    match mint(state, SYSTEM_ASSIGNED, &r) {
        Some((token, now, exp)) => json_response(
            StatusCode::OK,
            &json!({
                "access_token": token, "expires_in": TOKEN_LIFETIME_SECS.to_string(), "expires_on": exp.to_string(),
                "not_before": now.to_string(), "resource": r, "token_type": "Bearer",
            }),
        ),
        None => signing_failed(),
    }
}

fn service_fabric(
    state: &EmulatorState,
    method: &Method,
    headers: &HeaderMap,
    raw: &str,
) -> Response {
    let bad = |m: &str| {
        refuse(
            Shape::Nested,
            StatusCode::BAD_REQUEST,
            "ArgumentNullOrEmpty",
            m,
        )
    };
    if method != Method::GET {
        return refuse(
            Shape::Nested,
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "Only GET is supported.",
        );
    }
    if !header_is(headers, "secret", IDENTITY_HEADER) {
        return refuse(
            Shape::Nested,
            StatusCode::UNAUTHORIZED,
            "SecretHeaderNotFound",
            "Secret is not found in the request headers.",
        );
    }
    let p = match params(
        raw,
        &[
            "api-version",
            "resource",
            "token_sha256_to_refresh",
            "xms_cc",
        ],
    ) {
        Ok(p) => p,
        Err(m) => return bad(&m),
    };
    let r = match resource(&p) {
        Ok(r) => r,
        Err(m) => return bad(&m),
    };
    let revoked = get(&p, "token_sha256_to_refresh");
    match host_token(
        state,
        Host::ServiceFabric,
        SYSTEM_ASSIGNED,
        &r,
        revoked,
        get(&p, "xms_cc"),
    ) {
        // Service Fabric sends expires_on as a number.
        Some((token, exp)) => json_response(
            StatusCode::OK,
            &json!({"token_type": "Bearer", "access_token": token, "expires_on": exp, "resource": r}),
        ),
        None => signing_failed(),
    }
}

pub(super) async fn app_service(
    State(state): State<EmulatorState>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let bad = |m: &str| refuse(Shape::StatusMessage, StatusCode::BAD_REQUEST, "", m);
    if method != Method::GET {
        return refuse(
            Shape::StatusMessage,
            StatusCode::METHOD_NOT_ALLOWED,
            "",
            "Only GET is supported.",
        );
    }
    if !header_is(&headers, "x-identity-header", IDENTITY_HEADER) {
        return refuse(
            Shape::StatusMessage,
            StatusCode::UNAUTHORIZED,
            "",
            "The X-IDENTITY-HEADER header is missing or wrong.",
        );
    }
    let p = match params(
        uri.query().unwrap_or(""),
        &[
            "api-version",
            "resource",
            "client_id",
            "mi_res_id",
            "object_id",
            "principal_id",
            "token_sha256_to_refresh",
            "xms_cc",
        ],
    ) {
        Ok(p) => p,
        Err(m) => return bad(&m),
    };
    if get(&p, "api-version") != Some("2019-08-01") {
        return bad(
            "The api-version is invalid or was not specified; this endpoint serves 2019-08-01.",
        );
    }
    let r = match resource(&p) {
        Ok(r) => r,
        Err(m) => return bad(&m),
    };
    // App Service spells the resource id `mi_res_id` (IMDS's `msi_res_id` is unknown here).
    let id = match identity(
        &p,
        ["client_id", "mi_res_id", "object_id"],
        Some("principal_id"),
    ) {
        Ok(id) => id,
        Err(m) => return bad(&m),
    };
    match host_token(
        &state,
        Host::AppService,
        id,
        &r,
        get(&p, "token_sha256_to_refresh"),
        get(&p, "xms_cc"),
    ) {
        Some((token, exp)) => json_response(
            StatusCode::OK,
            &json!({"access_token": token, "expires_on": exp.to_string(), "resource": r, "token_type": "Bearer", "client_id": id.client_id}),
        ),
        None => signing_failed(),
    }
}

pub(super) async fn cloud_shell(
    State(state): State<EmulatorState>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let bad = |m: &str| refuse(Shape::OAuth, StatusCode::BAD_REQUEST, "invalid_request", m);
    if method != Method::POST {
        return refuse(
            Shape::OAuth,
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "Only POST is supported.",
        );
    }
    if !header_is(&headers, "metadata", "true") {
        return bad("Required metadata header not specified");
    }
    if uri.query().is_some_and(|q| !q.is_empty()) {
        return bad("Parameters go in the form body.");
    }
    let form = std::str::from_utf8(&body).unwrap_or("\u{fffd}");
    let p = match params(form, &["resource"]) {
        Ok(p) => p,
        Err(m) => return bad(&m),
    };
    let r = match resource(&p) {
        Ok(r) => r,
        Err(m) => return bad(&m),
    };
    match mint(&state, SYSTEM_ASSIGNED, &r) {
        Some((token, now, exp)) => json_response(
            StatusCode::OK,
            &json!({
                "access_token": token, "refresh_token": "", "expires_in": TOKEN_LIFETIME_SECS.to_string(),
                "expires_on": exp.to_string(), "not_before": now.to_string(), "resource": r, "token_type": "Bearer",
            }),
        ),
        None => signing_failed(),
    }
}

pub(super) async fn azure_ml(
    State(state): State<EmulatorState>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let bad = |m: &str| refuse(Shape::StatusMessage, StatusCode::BAD_REQUEST, "", m);
    if method != Method::GET {
        return refuse(
            Shape::StatusMessage,
            StatusCode::METHOD_NOT_ALLOWED,
            "",
            "Only GET is supported.",
        );
    }
    if !header_is(&headers, "secret", MSI_SECRET) {
        return refuse(
            Shape::StatusMessage,
            StatusCode::UNAUTHORIZED,
            "",
            "The secret header is missing or wrong.",
        );
    }
    let p = match params(
        uri.query().unwrap_or(""),
        &["api-version", "resource", "clientid"],
    ) {
        Ok(p) => p,
        Err(m) => return bad(&m),
    };
    if get(&p, "api-version") != Some("2017-09-01") {
        return bad(
            "The api-version is invalid or was not specified; this endpoint serves 2017-09-01.",
        );
    }
    let r = match resource(&p) {
        Ok(r) => r,
        Err(m) => return bad(&m),
    };
    let id = match get(&p, "clientid") {
        None => SYSTEM_ASSIGNED,
        Some(c) if c.eq_ignore_ascii_case(SYSTEM_ASSIGNED.client_id) => SYSTEM_ASSIGNED,
        Some(c) => match USER_ASSIGNED
            .into_iter()
            .find(|i| i.client_id.eq_ignore_ascii_case(c))
        {
            Some(i) => i,
            None => return bad("Identity not found"),
        },
    };
    match mint(&state, id, &r) {
        Some((token, _, exp)) => json_response(
            StatusCode::OK,
            &json!({"access_token": token, "expires_on": exp.to_string(), "resource": r, "token_type": "Bearer", "clientid": id.client_id}),
        ),
        None => signing_failed(),
    }
}
