//! [`RequestCtx`]: per-request facts every handler needs (host the client
//! used, tenant path segment, correlation and trace ids, cookies, time).

use std::collections::HashMap;
use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};

use crate::entra_error::{EntraError, format_timestamp};
use crate::state::EmulatorState;

/// Facts about one request.
pub(crate) struct RequestCtx {
    pub(crate) state: EmulatorState,
    /// `host[:port]` as the client addressed us (an alias tells itself
    /// apart here).
    pub(crate) host: String,
    /// First path segment, percent-decoded (the tenant for protocol routes).
    pub(crate) tenant_segment: String,
    pub(crate) correlation_id: String,
    pub(crate) trace_id: String,
    pub(crate) now: u64,
    pub(crate) cookies: HashMap<String, String>,
    /// The `Authorization` header, if any (client_secret_basic).
    pub(crate) authorization: Option<String>,
    pub(crate) query: Option<String>,
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

impl RequestCtx {
    pub(crate) fn from_parts(parts: &Parts, state: &EmulatorState) -> Self {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
            .map(|h| h.to_ascii_lowercase())
            .filter(|h| valid_host(h))
            .unwrap_or_else(|| state.0.hosts[0].clone());
        let first = parts
            .uri
            .path()
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("");
        let tenant_segment = percent_decode(first);
        let correlation_id = parts
            .headers
            .get("client-request-id")
            .and_then(|h| h.to_str().ok())
            .and_then(|s| uuid::Uuid::parse_str(s.trim()).ok())
            .unwrap_or_else(uuid::Uuid::new_v4)
            .to_string();
        let mut cookies = HashMap::new();
        for v in parts.headers.get_all(header::COOKIE) {
            if let Ok(s) = v.to_str() {
                for pair in s.split(';') {
                    if let Some((k, v)) = pair.trim().split_once('=') {
                        cookies.insert(k.to_string(), v.to_string());
                    }
                }
            }
        }
        Self {
            state: state.clone(),
            host,
            tenant_segment,
            correlation_id,
            trace_id: uuid::Uuid::new_v4().to_string(),
            now: state.now(),
            cookies,
            authorization: parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string),
            query: parts.uri.query().map(str::to_string),
        }
    }

    /// Entra's timestamp for this request.
    pub(crate) fn timestamp(&self) -> String {
        format_timestamp(self.now)
    }

    /// `scheme://host` as the client addressed us.
    pub(crate) fn base_url(&self) -> String {
        format!("{}://{}", self.state.0.scheme, self.host)
    }

    /// Adds `x-ms-request-id`, `client-request-id` and `x-ms-ests-server`.
    pub(crate) fn add_headers(&self, h: &mut HeaderMap) {
        if let Ok(v) = HeaderValue::from_str(&self.trace_id) {
            h.insert("x-ms-request-id", v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.correlation_id) {
            h.insert("client-request-id", v);
        }
        h.insert(
            "x-ms-ests-server",
            HeaderValue::from_static("msal-emulator"),
        );
    }

    /// The query string as parameters (see [`parse_params`]).
    pub(crate) fn query_params(&self) -> Result<Params, EntraError> {
        parse_params(self.query.as_deref().unwrap_or("").as_bytes())
    }
}

impl FromRequestParts<EmulatorState> for RequestCtx {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &EmulatorState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts, state))
    }
}

/// Percent-decodes a path segment (lossy UTF-8).
pub(crate) fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Form or query parameters, each name at most once.
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    /// A parameter, treating an empty value as absent (as Entra does).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A required parameter, or AADSTS900144.
    pub(crate) fn require(&self, name: &str) -> Result<&str, EntraError> {
        self.get(name).ok_or_else(|| EntraError::missing(name))
    }
}

/// Parses `application/x-www-form-urlencoded` bytes. Invalid UTF-8 is
/// replaced; a parameter given twice is AADSTS9000411, as Entra answers.
pub(crate) fn parse_params(bytes: &[u8]) -> Result<Params, EntraError> {
    let mut map = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(bytes) {
        if k.is_empty() {
            continue;
        }
        if map.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(EntraError::bad_request(
                "invalid_request",
                9000411,
                format!(
                    "The request is not properly formatted. The parameter '{k}' is duplicated."
                ),
            ));
        }
    }
    Ok(Params(map))
}
