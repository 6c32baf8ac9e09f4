//! The admin API over HTTP (`/_admin/...`), a JSON face of [`crate::Admin`]
//! for tests in other languages and for the binary.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::admin::InteractionRequired;
use crate::error::EmulatorError;
use crate::faults::{Endpoint, Fault};
use crate::state::EmulatorState;

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn fail(e: &EmulatorError) -> Response {
    let status = match e {
        EmulatorError::NotFound(_) => StatusCode::NOT_FOUND,
        EmulatorError::Refused(_) => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    reply(status, json!({"error": e.to_string()}))
}

#[allow(clippy::result_large_err)] // an error response, built once
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        reply(
            StatusCode::BAD_REQUEST,
            json!({"error": format!("bad JSON: {e}")}),
        )
    })
}

pub(crate) fn router() -> Router<EmulatorState> {
    Router::new()
        .route("/counters", get(counters))
        .route("/counters/reset", post(reset_counters))
        .route("/requests", get(requests))
        .route("/faults", post(inject_fault).delete(clear_faults))
        .route("/device-codes", get(device_codes))
        .route("/device-codes/approve", post(approve_device_code))
        .route("/device-codes/deny", post(deny_device_code))
        .route("/users/{username}/revoke", post(revoke))
        .route(
            "/interaction-required",
            post(require_interaction).delete(clear_interaction),
        )
        .route("/certificates", post(register_certificate))
        .route("/clock/advance", post(advance_clock))
}

async fn counters(State(s): State<EmulatorState>) -> Response {
    let admin = s.admin();
    let map: serde_json::Map<String, Value> = admin
        .counters()
        .into_iter()
        .map(|(k, v)| (k.as_str().to_string(), json!(v)))
        .collect();
    reply(
        StatusCode::OK,
        json!({"counters": map, "total": admin.total_requests()}),
    )
}

async fn reset_counters(State(s): State<EmulatorState>) -> Response {
    s.admin().reset_counters();
    reply(StatusCode::OK, json!({}))
}

async fn requests(State(s): State<EmulatorState>) -> Response {
    reply(StatusCode::OK, json!(s.admin().requests()))
}

#[derive(Deserialize)]
struct FaultBody {
    endpoint: Endpoint,
    fault: Fault,
    #[serde(default = "one")]
    times: u32,
}

fn one() -> u32 {
    1
}

async fn inject_fault(State(s): State<EmulatorState>, body: Bytes) -> Response {
    match parse::<FaultBody>(&body) {
        Ok(f) => match s.admin().try_inject_fault(f.endpoint, f.fault, f.times) {
            Ok(()) => reply(
                StatusCode::OK,
                json!({"pending": s.admin().pending_faults(f.endpoint)}),
            ),
            Err(e) => fail(&e),
        },
        Err(r) => r,
    }
}

async fn clear_faults(State(s): State<EmulatorState>) -> Response {
    s.admin().clear_faults();
    reply(StatusCode::OK, json!({}))
}

async fn device_codes(State(s): State<EmulatorState>) -> Response {
    reply(StatusCode::OK, json!(s.admin().device_codes()))
}

#[derive(Deserialize)]
struct ApproveBody {
    #[serde(default)]
    user_code: Option<String>,
    username: String,
}

async fn approve_device_code(State(s): State<EmulatorState>, body: Bytes) -> Response {
    let b = match parse::<ApproveBody>(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let admin = s.admin();
    let result = match &b.user_code {
        Some(code) => admin
            .approve_device_code(code, &b.username)
            .map(|()| code.clone()),
        None => admin.approve_latest_device_code(&b.username),
    };
    match result {
        Ok(code) => reply(StatusCode::OK, json!({"user_code": code})),
        Err(e) => fail(&e),
    }
}

#[derive(Deserialize)]
struct DenyBody {
    user_code: String,
}

async fn deny_device_code(State(s): State<EmulatorState>, body: Bytes) -> Response {
    match parse::<DenyBody>(&body) {
        Ok(b) => match s.admin().deny_device_code(&b.user_code) {
            Ok(()) => reply(StatusCode::OK, json!({})),
            Err(e) => fail(&e),
        },
        Err(r) => r,
    }
}

async fn revoke(State(s): State<EmulatorState>, Path(username): Path<String>) -> Response {
    match s.admin().revoke_refresh_tokens(&username) {
        Ok(n) => reply(StatusCode::OK, json!({"revoked": n})),
        Err(e) => fail(&e),
    }
}

async fn require_interaction(State(s): State<EmulatorState>, body: Bytes) -> Response {
    let body: &[u8] = if body.is_empty() { b"{}" } else { &body };
    match parse::<InteractionRequired>(body) {
        Ok(rule) => {
            s.admin().require_interaction(rule);
            reply(StatusCode::OK, json!({}))
        }
        Err(r) => r,
    }
}

async fn clear_interaction(State(s): State<EmulatorState>) -> Response {
    s.admin().clear_interaction_required();
    reply(StatusCode::OK, json!({}))
}

#[derive(Deserialize)]
struct CertBody {
    client_id: String,
    pem: String,
}

async fn register_certificate(State(s): State<EmulatorState>, body: Bytes) -> Response {
    match parse::<CertBody>(&body) {
        Ok(b) => match s.admin().register_certificate(&b.client_id, &b.pem) {
            Ok(()) => reply(StatusCode::OK, json!({})),
            Err(e) => fail(&e),
        },
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct ClockBody {
    seconds: u64,
}

async fn advance_clock(State(s): State<EmulatorState>, body: Bytes) -> Response {
    match parse::<ClockBody>(&body) {
        Ok(b) => match s.admin().try_advance_clock(Duration::from_secs(b.seconds)) {
            Ok(now) => reply(StatusCode::OK, json!({"now": now})),
            Err(e) => fail(&e),
        },
        Err(r) => r,
    }
}
