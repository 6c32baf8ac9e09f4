//! The HTTP surface: [`router`] wires the protocol routes, the sign-in
//! pages and the admin API, behind a layer that counts requests and applies
//! injected faults, itself behind one that turns a panic into a 500.

pub(crate) mod admin_http;
pub(crate) mod authorize;
pub(crate) mod client_auth;
pub(crate) mod ctx;
pub(crate) mod device;
pub(crate) mod discovery;
pub(crate) mod grants;
pub(crate) mod html;
pub(crate) mod mtls_token;
pub(crate) mod signin;
pub(crate) mod token;

use std::panic::AssertUnwindSafe;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::{any, get};
use futures::FutureExt as _;

use crate::directory::User;
use crate::entra_error::EntraError;
use crate::faults::{Endpoint, RequestRecord};
use crate::state::EmulatorState;
use ctx::RequestCtx;

/// Largest request body read (token requests are a few KiB).
const BODY_LIMIT: usize = 1 << 20;

/// The emulator's axum router over `state`: every protocol route, the
/// sign-in pages and `/_admin`. Use it with `tower::ServiceExt::oneshot` to
/// test without a socket, or serve it yourself.
pub fn router(state: EmulatorState) -> Router {
    router_with(state, Router::new())
}

/// The mutual-TLS listener's router: its token endpoint, under the same
/// layers (counted as [`Endpoint::Token`], faults applied).
pub(crate) fn mtls_router(state: EmulatorState) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", any(mtls_token::token))
        .layer(from_fn_with_state(state.clone(), observe))
        .layer(from_fn_with_state(state.clone(), catch_panic))
        .with_state(state)
}

/// [`router`] with `extra` routes merged in, under the same layers.
fn router_with(state: EmulatorState, extra: Router<EmulatorState>) -> Router {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            any(discovery::openid_configuration),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            any(discovery::openid_configuration),
        )
        .route("/{tenant}/discovery/instance", any(discovery::instance))
        .route("/{tenant}/discovery/v2.0/keys", any(discovery::keys))
        .route("/{tenant}/discovery/keys", any(discovery::keys))
        .route("/{tenant}/userrealm/{username}", any(discovery::user_realm))
        .route("/{tenant}/oauth2/v2.0/authorize", any(authorize::authorize))
        .route("/_signin/login", any(signin::login))
        .route("/_signin/consent", any(signin::consent))
        .route("/{tenant}/oauth2/v2.0/devicecode", any(device::devicecode))
        .route("/devicelogin", any(device::devicelogin))
        .route("/{tenant}/oauth2/v2.0/token", any(token::token))
        .route("/{tenant}/oauth2/v2.0/logout", any(signin::logout))
        .route("/", get(html::home))
        .nest("/_admin", admin_http::router())
        .merge(crate::managed_identity::routes())
        .merge(extra)
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), observe))
        .layer(from_fn_with_state(state.clone(), catch_panic))
        .with_state(state)
}

/// Answers Entra's 500 `server_error` when anything below panics, so a bug
/// costs the client one failed request, not a dropped connection.
async fn catch_panic(State(state): State<EmulatorState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let ctx = RequestCtx::from_parts(&parts, &state);
    let run = next.run(Request::from_parts(parts, body));
    // The future is not polled again after a panic, so no broken invariant
    // inside it can be observed; shared state behind a mutex recovers from
    // poisoning (see `EmulatorState::store`).
    match AssertUnwindSafe(run).catch_unwind().await {
        Ok(resp) => resp,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %what, trace_id = %ctx.trace_id, "request handler panicked");
            EntraError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                50000,
                "There was an error issuing a token or an issue with our sign-in service.",
            )
            .response(&ctx)
        }
    }
}

async fn not_found(ctx: RequestCtx) -> Response {
    EntraError::new(
        StatusCode::NOT_FOUND,
        "invalid_request",
        90100,
        "The requested path does not exist on this server.",
    )
    .response(&ctx)
}

/// Counts the request, records it, and applies the next injected fault for
/// its endpoint, if any.
async fn observe(State(state): State<EmulatorState>, req: Request, next: Next) -> Response {
    let Some(endpoint) = Endpoint::classify(req.uri().path()) else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let ctx = RequestCtx::from_parts(&parts, &state);
    let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
        let mut e = EntraError::malformed();
        e.status = StatusCode::PAYLOAD_TOO_LARGE;
        return e.response(&ctx);
    };
    let (grant_type, client_id) = if endpoint == Endpoint::Token {
        let p = ctx::parse_params(&bytes).unwrap_or_default();
        (
            p.get("grant_type").map(str::to_string),
            p.get("client_id").map(str::to_string),
        )
    } else {
        (None, None)
    };
    let (fault, id) = {
        let mut s = state.store();
        let n = s.counters.entry(endpoint).or_default();
        *n = n.saturating_add(1);
        let fault = s.take_fault(endpoint);
        let id = s.next_request_id();
        s.record(RequestRecord {
            id,
            endpoint,
            method: parts.method.to_string(),
            host: ctx.host.clone(),
            path: parts.uri.path().to_string(),
            grant_type,
            client_id,
            status: 0,
            faulted: false,
        });
        (fault, id)
    };
    tracing::debug!(endpoint = %endpoint, method = %parts.method, "request");
    if let Some(fault) = fault {
        match fault.delay() {
            Some(d) => tokio::time::sleep(d).await,
            None => {
                if let Some(resp) = fault.response(&ctx) {
                    state
                        .store()
                        .finish_record(id, resp.status().as_u16(), true);
                    return resp;
                }
            }
        }
    }
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    state
        .store()
        .finish_record(id, resp.status().as_u16(), false);
    resp
}

/// The tenant part of an authority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AuthorityTenant {
    /// A tenant by id (the path held its id or one of its domains).
    Tenant(String),
    Common,
    Organizations,
    Consumers,
}

impl AuthorityTenant {
    /// Resolves a path segment, or Entra's AADSTS90002 / AADSTS900023.
    pub(crate) fn resolve(state: &EmulatorState, segment: &str) -> Result<Self, EntraError> {
        match segment.to_ascii_lowercase().as_str() {
            "common" => return Ok(Self::Common),
            "organizations" => return Ok(Self::Organizations),
            "consumers" => return Ok(Self::Consumers),
            _ => {}
        }
        if let Some(t) = state.0.dir.tenant_by_name(segment) {
            return Ok(Self::Tenant(t.id.clone()));
        }
        if uuid::Uuid::parse_str(segment).is_ok() || segment.contains('.') {
            Err(EntraError::bad_request(
                "invalid_tenant",
                90002,
                format!(
                    "Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
                ),
            ))
        } else {
            Err(EntraError::bad_request(
                "invalid_request",
                900023,
                format!(
                    "Specified tenant identifier '{segment}' is neither a valid DNS name, nor a valid external domain."
                ),
            ))
        }
    }

    /// The path segment discovery documents advertise (the GUID for a
    /// domain-name tenant, as Entra's do).
    pub(crate) fn path_segment(&self) -> &str {
        match self {
            Self::Tenant(id) => id,
            Self::Common => "common",
            Self::Organizations => "organizations",
            Self::Consumers => "consumers",
        }
    }

    /// The tenant a user's token is issued in through this authority, or
    /// `None` when the user may not sign in here.
    pub(crate) fn tenant_for(&self, state: &EmulatorState, user: &User) -> Option<String> {
        let home_is_consumers = state
            .0
            .dir
            .tenant(&user.home_tenant)
            .is_some_and(|t| t.consumers);
        match self {
            Self::Tenant(id) if user.member_of(id) => Some(id.clone()),
            Self::Tenant(_) => None,
            Self::Common => Some(user.home_tenant.clone()),
            Self::Organizations if !home_is_consumers => Some(user.home_tenant.clone()),
            Self::Consumers if home_is_consumers => Some(user.home_tenant.clone()),
            _ => None,
        }
    }

    /// The AADSTS50020 error for a user who may not sign in here.
    pub(crate) fn user_not_in_tenant(&self, user: &User, client_id: &str) -> EntraError {
        EntraError::bad_request(
            "invalid_grant",
            50020,
            format!(
                "User account '{}' from identity provider 'https://sts.windows.net/{}/' does not exist in tenant '{}' and cannot access the application '{}' in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Azure Active Directory user account.",
                user.username,
                user.home_tenant,
                self.path_segment(),
                client_id
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn a_panicking_handler_answers_an_entra_500() {
        let state = EmulatorState::new(
            crate::EmulatorConfig::default(),
            &"http://127.0.0.1:1".parse().unwrap(),
        )
        .unwrap();
        let extra = Router::new().route(
            "/_test/boom",
            get(|| async {
                let v: Vec<u8> = Vec::new();
                // Out of bounds: a handler bug.
                v[usize::from(v.is_empty())].to_string()
            }),
        );
        let app = router_with(state.clone(), extra);
        let req = Request::builder()
            .uri("/_test/boom")
            .header("client-request-id", "5f4a9c4e-1111-4222-8333-444455556666")
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(resp.into_body(), 1 << 16).await.unwrap()).unwrap();
        assert_eq!(body["error"], "server_error", "{body}");
        assert_eq!(body["error_codes"][0], 50000, "{body}");
        assert_eq!(
            body["correlation_id"], "5f4a9c4e-1111-4222-8333-444455556666",
            "{body}"
        );
        let desc = body["error_description"].as_str().unwrap();
        assert!(desc.starts_with("AADSTS50000: "), "{desc}");
        for k in ["trace_id", "timestamp"] {
            assert!(body[k].is_string(), "{k} in {body}");
        }
        // The server keeps serving, the store included.
        let req = Request::builder()
            .uri("/common/discovery/v2.0/keys")
            .body(Body::empty())
            .unwrap();
        assert_eq!(app.oneshot(req).await.unwrap().status(), StatusCode::OK);
        assert_eq!(state.admin().request_count(crate::Endpoint::Keys), 1);
    }
}
