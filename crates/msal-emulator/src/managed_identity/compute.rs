//! IMDS's instance metadata, the part a client reads its region from:
//! `GET /metadata/instance/compute?api-version=...` with `Metadata: true`
//! answers the VM's compute metadata, `location` included.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::json;

use super::SYSTEM_ASSIGNED;
use super::wire::{Shape, header_is, json_response, refuse};
use crate::Admin;
use crate::state::EmulatorState;

/// The path.
pub const IMDS_COMPUTE_PATH: &str = "/metadata/instance/compute";
/// The VM's location until [`Admin::set_imds_location`] changes it.
pub const DEFAULT_LOCATION: &str = "westus2";

pub(super) async fn compute(
    State(state): State<EmulatorState>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if method != Method::GET {
        return refuse(
            Shape::OAuth,
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "Only GET is supported.",
        );
    }
    if !header_is(&headers, "metadata", "true") {
        return refuse(
            Shape::OAuth,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required metadata header not specified",
        );
    }
    let has_version = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .any(|(k, v)| k == "api-version" && !v.is_empty());
    if !has_version {
        return refuse(
            Shape::OAuth,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Bad request. api-version was not specified.",
        );
    }
    let location = state.store().imds_location.clone();
    match location.unwrap_or_else(|| Some(DEFAULT_LOCATION.to_owned())) {
        Some(location) => json_response(
            StatusCode::OK,
            &json!({
                "azEnvironment": "AzurePublicCloud",
                "location": location,
                "name": "vm1",
                "osType": "Linux",
                "resourceId": SYSTEM_ASSIGNED.resource_id,
                "vmId": "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
            }),
        ),
        None => refuse(
            Shape::OAuth,
            StatusCode::NOT_FOUND,
            "not_found",
            "Instance metadata is not available on this host.",
        ),
    }
}

impl Admin {
    /// The `location` IMDS's instance metadata answers (default
    /// [`DEFAULT_LOCATION`]); `None`: it answers 404, as off a VM.
    pub fn set_imds_location(&self, location: Option<&str>) {
        self.0.store().imds_location = Some(location.map(ToOwned::to_owned));
    }
}
