//! What the emulated identity endpoints share: error shapes, parameter
//! checks, identities and token minting.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Identity, SYSTEM_ASSIGNED, TOKEN_LIFETIME_SECS, USER_ASSIGNED};
use crate::defaults::TENANT_ID;
use crate::state::{EmulatorState, random_string};

/// An error in the shape of a source.
pub(super) enum Shape {
    /// `{"error": code, "error_description": message}` (IMDS, Arc, Cloud Shell).
    OAuth,
    /// `{"statusCode": n, "message": message}` (App Service, Azure ML).
    StatusMessage,
    /// `{"error": {"code": code, "message": message}}` (Service Fabric).
    Nested,
}

pub(super) fn refuse(shape: Shape, status: StatusCode, code: &str, message: &str) -> Response {
    let body = match shape {
        Shape::OAuth => json!({"error": code, "error_description": message}),
        Shape::StatusMessage => json!({"statusCode": status.as_u16(), "message": message}),
        Shape::Nested => json!({"error": {"code": code, "message": message}}),
    };
    json_response(status, &body)
}

pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

pub(super) fn header_is(headers: &HeaderMap, name: &str, value: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == value)
}

/// The query (or form) parameters, refusing repeats and names outside `allowed`.
pub(super) fn params(raw: &str, allowed: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        if !allowed.contains(&k.as_ref()) {
            return Err(format!("Unknown parameter '{k}'."));
        }
        if out.iter().any(|(n, _)| *n == k) {
            return Err(format!("Parameter '{k}' appears more than once."));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

pub(super) fn get<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The resource, or why it is refused (AADSTS500011 as Entra says it).
pub(super) fn resource(p: &[(String, String)]) -> Result<String, String> {
    match get(p, "resource").map(str::trim) {
        None | Some("") => Err("Required audience parameter not specified".to_owned()),
        Some(r) if r.ends_with("/.default") || r.contains(' ') => Err(format!(
            "AADSTS500011: The resource principal named {r} was not found in the tenant. A managed identity asks for a resource, not a scope."
        )),
        Some(r) => Ok(r.to_owned()),
    }
}

/// The identity `p` names through `names` (client id, resource id, object id
/// parameter names), the system-assigned one if none.
pub(super) fn identity(
    p: &[(String, String)],
    names: [&str; 3],
    extra_object_id: Option<&str>,
) -> Result<Identity, String> {
    let [cid, rid, oid] = names;
    let mut asked: Vec<(usize, &str)> = Vec::new();
    for (i, n) in [cid, rid, oid]
        .into_iter()
        .chain(extra_object_id)
        .enumerate()
    {
        if let Some(v) = get(p, n) {
            asked.push((i.min(2), v));
        }
    }
    match asked.as_slice() {
        [] => Ok(SYSTEM_ASSIGNED),
        [(kind, value)] => USER_ASSIGNED
            .into_iter()
            .find(|id| match kind {
                0 => id.client_id.eq_ignore_ascii_case(value),
                1 => id.resource_id.eq_ignore_ascii_case(value),
                _ => id.object_id.eq_ignore_ascii_case(value),
            })
            .ok_or_else(|| "Identity not found".to_owned()),
        _ => Err("Only one of the identity parameters may be given.".to_owned()),
    }
}

/// A signed token for `id` and `resource`, in the common fields.
pub(super) fn mint(
    state: &EmulatorState,
    id: Identity,
    resource: &str,
) -> Option<(String, u64, u64)> {
    let now = state.now();
    let exp = now.saturating_add(TOKEN_LIFETIME_SECS);
    let claims = json!({
        "aud": resource,
        "iss": format!("https://sts.windows.net/{TENANT_ID}/"),
        "iat": now,
        "nbf": now,
        "exp": exp,
        "aio": random_string(24),
        "appid": id.client_id,
        "appidacr": "2",
        "idp": format!("https://sts.windows.net/{TENANT_ID}/"),
        "idtyp": "app",
        "oid": id.object_id,
        "rh": "0.emulator",
        "sub": id.object_id,
        "tid": TENANT_ID,
        "uti": random_string(16),
        "ver": "1.0",
        "xms_mirid": id.resource_id,
    });
    match state.0.key.sign(&claims) {
        Ok(t) => Some((t, now, exp)),
        Err(e) => {
            tracing::error!(error = %e, "managed identity token signing failed");
            None
        }
    }
}

pub(super) fn signing_failed() -> Response {
    refuse(
        Shape::OAuth,
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "signing failed",
    )
}
