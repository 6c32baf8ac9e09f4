//! Endpoints (for counters and faults) and the faults an admin can inject
//! into the next N requests to an endpoint.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::entra_error::EntraError;
use crate::routes::ctx::RequestCtx;

/// An emulator endpoint, as counted and faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Endpoint {
    /// `/{tenant}/v2.0/.well-known/openid-configuration`.
    OpenidConfiguration,
    /// `/{tenant}/discovery/instance` (and `/common/discovery/instance`).
    InstanceDiscovery,
    /// `/{tenant}/discovery/v2.0/keys`.
    Keys,
    /// `/common/userrealm/{username}`.
    UserRealm,
    /// `/{tenant}/oauth2/v2.0/authorize`.
    Authorize,
    /// The sign-in and consent form posts (`/_signin/...`).
    SignIn,
    /// `/{tenant}/oauth2/v2.0/devicecode`.
    DeviceCode,
    /// `/devicelogin` (the verification page).
    DeviceLogin,
    /// `/{tenant}/oauth2/v2.0/token`.
    Token,
    /// `/{tenant}/oauth2/v2.0/logout`.
    Logout,
    /// The managed-identity endpoints of every emulated Azure host (IMDS,
    /// Azure Arc, Service Fabric, App Service, Cloud Shell, Azure ML; see
    /// [`crate::managed_identity`]). While none is queued here, faults
    /// queued under [`Endpoint::Other`] apply to them too, as they did
    /// before this endpoint existed.
    ManagedIdentity,
    /// Anything else (404s). Admin requests are not counted.
    Other,
}

impl Endpoint {
    /// Every endpoint, in a fixed order.
    pub const ALL: [Endpoint; 12] = [
        Endpoint::OpenidConfiguration,
        Endpoint::InstanceDiscovery,
        Endpoint::Keys,
        Endpoint::UserRealm,
        Endpoint::Authorize,
        Endpoint::SignIn,
        Endpoint::DeviceCode,
        Endpoint::DeviceLogin,
        Endpoint::Token,
        Endpoint::Logout,
        Endpoint::ManagedIdentity,
        Endpoint::Other,
    ];

    /// The snake_case name used by the HTTP admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::OpenidConfiguration => "openid_configuration",
            Endpoint::InstanceDiscovery => "instance_discovery",
            Endpoint::Keys => "keys",
            Endpoint::UserRealm => "user_realm",
            Endpoint::Authorize => "authorize",
            Endpoint::SignIn => "sign_in",
            Endpoint::DeviceCode => "device_code",
            Endpoint::DeviceLogin => "device_login",
            Endpoint::Token => "token",
            Endpoint::Logout => "logout",
            Endpoint::ManagedIdentity => "managed_identity",
            Endpoint::Other => "other",
        }
    }

    /// Classifies a request path. `None` for the admin API.
    pub(crate) fn classify(path: &str) -> Option<Endpoint> {
        // Exact paths: a trailing slash is a 404 there, counted as `Other`.
        if crate::managed_identity::PATHS.contains(&path) {
            return Some(Endpoint::ManagedIdentity);
        }
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let ep = match segs.as_slice() {
            ["_admin", ..] => return None,
            [_, "v2.0", ".well-known", "openid-configuration"]
            | [_, ".well-known", "openid-configuration"] => Endpoint::OpenidConfiguration,
            [_, "discovery", "instance"] => Endpoint::InstanceDiscovery,
            [_, "discovery", "v2.0", "keys"] | [_, "discovery", "keys"] => Endpoint::Keys,
            [_, "userrealm", ..] => Endpoint::UserRealm,
            [_, "oauth2", "v2.0", "authorize"] => Endpoint::Authorize,
            ["_signin", ..] => Endpoint::SignIn,
            [_, "oauth2", "v2.0", "devicecode"] => Endpoint::DeviceCode,
            ["devicelogin"] => Endpoint::DeviceLogin,
            [_, "oauth2", "v2.0", "token"] => Endpoint::Token,
            [_, "oauth2", "v2.0", "logout"] => Endpoint::Logout,
            _ => Endpoint::Other,
        };
        Some(ep)
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Endpoint::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| format!("unknown endpoint {s:?}"))
    }
}

/// What an injected fault does to a request. JSON form (admin API):
/// `{"kind": "too_many_requests", "retry_after_secs": 5}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Fault {
    /// HTTP 429 with `Retry-After` and an Entra throttling body.
    TooManyRequests {
        /// Seconds in `Retry-After`.
        retry_after_secs: u64,
    },
    /// HTTP 500 with an Entra `server_error` body.
    InternalServerError,
    /// HTTP 503 with a `temporarily_unavailable` body and, when given,
    /// `Retry-After`.
    ServiceUnavailable {
        /// Seconds in `Retry-After`.
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    /// HTTP 200, `application/json`, with a truncated JSON body.
    MalformedJson,
    /// HTTP 200, `application/json`, with a syntactically valid JSON body of
    /// about `bytes` bytes (a huge string member).
    LargeBody {
        /// Body size.
        bytes: usize,
    },
    /// Waits, then answers normally.
    Delay {
        /// How long.
        millis: u64,
    },
    /// Any status with an Entra error body (`error` defaults to
    /// `server_error`).
    Status {
        /// HTTP status.
        status: u16,
        /// `Retry-After` seconds.
        #[serde(default)]
        retry_after_secs: Option<u64>,
        /// OAuth error code in the body.
        #[serde(default)]
        error: Option<String>,
    },
}

/// Largest body a `LargeBody` fault builds (64 MiB), so a typo cannot
/// exhaust memory.
const MAX_LARGE_BODY: usize = 64 << 20;

/// Statuses a `Status` fault may answer with.
const FAULT_STATUSES: std::ops::RangeInclusive<u16> = 200..=599;

impl Fault {
    /// The delay to apply before answering normally, for `Delay`.
    pub(crate) fn delay(&self) -> Option<Duration> {
        match self {
            Fault::Delay { millis } => Some(Duration::from_millis(*millis)),
            _ => None,
        }
    }

    /// Why this fault cannot be served as asked, if it cannot: a `Status`
    /// outside 200..=599 (1xx are not final responses; below 100 and above
    /// 599 are not HTTP statuses clients handle).
    pub(crate) fn check(&self) -> Result<(), String> {
        match self {
            Fault::Status { status, .. } if !FAULT_STATUSES.contains(status) => Err(format!(
                "fault status {status} is out of range: a status fault must be between 200 and 599"
            )),
            _ => Ok(()),
        }
    }

    /// The response replacing the normal one (`None` for `Delay`).
    pub(crate) fn response(&self, ctx: &RequestCtx) -> Option<Response> {
        let json = |status: StatusCode, body: String| {
            let mut r = (status, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            ctx.add_headers(r.headers_mut());
            r
        };
        let err = match self {
            Fault::Delay { .. } => return None,
            Fault::MalformedJson => {
                return Some(json(
                    StatusCode::OK,
                    r#"{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0eX"#.into(),
                ));
            }
            Fault::LargeBody { bytes } => {
                let n = (*bytes).min(MAX_LARGE_BODY);
                let mut body = String::with_capacity(n + 32);
                body.push_str(r#"{"padding":""#);
                body.extend(std::iter::repeat_n('a', n.saturating_sub(14)));
                body.push_str(r#""}"#);
                return Some(json(StatusCode::OK, body));
            }
            Fault::TooManyRequests { retry_after_secs } => {
                let mut e = EntraError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "temporarily_unavailable",
                    90055,
                    "TenantThrottlingError - There are too many incoming requests. This exception is thrown for blocked tenants.",
                );
                e.retry_after = Some(*retry_after_secs);
                e
            }
            Fault::InternalServerError => EntraError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                50000,
                "There was an error issuing a token or an issue with our sign-in service.",
            ),
            Fault::ServiceUnavailable { retry_after_secs } => {
                let mut e = EntraError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    90033,
                    "A transient error has occurred. Please try again.",
                );
                e.retry_after = *retry_after_secs;
                e
            }
            Fault::Status {
                status,
                retry_after_secs,
                error,
            } => {
                // `Admin::inject_fault` queues unchecked faults: an out-of-range
                // status answers 500 rather than an invalid response.
                let status = StatusCode::from_u16(*status)
                    .ok()
                    .filter(|s| FAULT_STATUSES.contains(&s.as_u16()))
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut e = EntraError::new(
                    status,
                    error.as_deref().unwrap_or("server_error"),
                    50000,
                    "Injected fault.",
                );
                e.retry_after = *retry_after_secs;
                e
            }
        };
        Some(err.response(ctx))
    }
}

/// One request the emulator served (admin API `requests`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RequestRecord {
    /// Sequence number (increasing).
    pub id: u64,
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// HTTP method.
    pub method: String,
    /// Host header (tells aliases apart).
    pub host: String,
    /// Path, without the query.
    pub path: String,
    /// `grant_type` of a token request.
    pub grant_type: Option<String>,
    /// `client_id` of a token request.
    pub client_id: Option<String>,
    /// The status answered (0 while still being handled).
    pub status: u16,
    /// True when an injected fault answered.
    pub faulted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified() {
        let c = Endpoint::classify;
        assert_eq!(
            c("/common/v2.0/.well-known/openid-configuration"),
            Some(Endpoint::OpenidConfiguration)
        );
        assert_eq!(
            c("/common/discovery/instance"),
            Some(Endpoint::InstanceDiscovery)
        );
        assert_eq!(c("/x/discovery/v2.0/keys"), Some(Endpoint::Keys));
        assert_eq!(c("/x/oauth2/v2.0/token"), Some(Endpoint::Token));
        assert_eq!(c("/x/oauth2/v2.0/devicecode"), Some(Endpoint::DeviceCode));
        assert_eq!(c("/devicelogin"), Some(Endpoint::DeviceLogin));
        assert_eq!(c("/_admin/counters"), None);
        assert_eq!(c("/nope"), Some(Endpoint::Other));
        for p in crate::managed_identity::PATHS {
            assert_eq!(c(p), Some(Endpoint::ManagedIdentity), "{p}");
            assert_eq!(c(&format!("{p}/")), Some(Endpoint::Other), "{p}/");
        }
        for e in Endpoint::ALL {
            assert_eq!(e.as_str().parse::<Endpoint>().unwrap(), e);
        }
    }

    #[test]
    fn faults_round_trip_as_json() {
        let f: Fault =
            serde_json::from_str(r#"{"kind":"too_many_requests","retry_after_secs":7}"#).unwrap();
        assert_eq!(
            f,
            Fault::TooManyRequests {
                retry_after_secs: 7
            }
        );
        let f: Fault = serde_json::from_str(r#"{"kind":"service_unavailable"}"#).unwrap();
        assert_eq!(
            f,
            Fault::ServiceUnavailable {
                retry_after_secs: None
            }
        );
    }
}
