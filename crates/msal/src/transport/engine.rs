//! [`Transport`]: what the engine sends every request through.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use url::Url;

use super::service_error::service_error;
use super::throttle::{Throttle, ThrottleCache, key_of, retry_after};
use crate::clock::Clock;
use crate::error::Error;
use crate::http::{HttpClient, HttpRequest, HttpResponse, TransportError};

/// The correlation header MSAL sends and Entra echoes.
pub const CLIENT_REQUEST_ID: &str = "client-request-id";
/// Asks the server to echo [`CLIENT_REQUEST_ID`] in its response.
pub const RETURN_CLIENT_REQUEST_ID: &str = "return-client-request-id";
/// The library identifier header.
/// (Used by msal's own tests.)
#[cfg_attr(not(feature = "test-internals"), allow(dead_code))]
pub const CLIENT_SKU: &str = "x-client-SKU";
/// The library version header.
#[cfg_attr(not(feature = "test-internals"), allow(dead_code))]
pub const CLIENT_VER: &str = "x-client-VER";
/// The value of [`CLIENT_SKU`].
pub const SKU: &str = "msal.rust";

/// A 5xx with a `Retry-After` longer than this is not retried in the same call:
/// the call fails and later calls are throttled instead of holding the caller.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

/// Sends requests for the engine: adds the correlation and library headers,
/// retries once on a 5xx or a connection failure, and applies MSAL-style
/// throttling (see [`crate::transport::throttle`]).
///
/// Cheap to clone: clones share the HTTP client and the throttle cache.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    http: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
    throttle: ThrottleCache,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport").finish_non_exhaustive()
    }
}

impl Transport {
    /// A transport over `http`, reading time (throttle expiry, retry waits) from `clock`.
    /// The HTTP client under this transport (a request of its own shape,
    /// e.g. the IMDS region probe, without retries or library headers).
    pub(crate) fn http(&self) -> &Arc<dyn HttpClient> {
        &self.inner.http
    }

    pub fn new(http: Arc<dyn HttpClient>, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                http,
                clock,
                throttle: ThrottleCache::default(),
            }),
        }
    }

    /// The throttle key of a token request made of `parts` (authority, client
    /// id, scopes, account...): an opaque hash, so keys never hold a user name.
    pub fn throttle_key(parts: &[&str]) -> String {
        key_of(parts)
    }

    /// Sends `request` and returns the response whatever its status.
    ///
    /// Adds `client-request-id` (a new UUID unless the caller set one),
    /// `return-client-request-id`, `x-client-SKU` and `x-client-VER`. Retries
    /// once on a 5xx (after its `Retry-After`, when that is at most
    /// [`MAX_RETRY_WAIT`], waiting on the clock) and once on a connection
    /// failure or timeout; never on a 4xx, a TLS or a proxy failure.
    ///
    /// # Errors
    /// [`Error::Throttled`] when an earlier answer to the same token request
    /// still throttles it (nothing is sent); [`Error::Transport`] when no
    /// response came back, with the correlation id in its message.
    pub async fn send(
        &self,
        mut request: HttpRequest,
        throttle: Throttle,
    ) -> Result<HttpResponse, Error> {
        let key = match &throttle {
            Throttle::Token { key } => Some(key.as_str()),
            Throttle::None => None,
        };
        if let Some(answer) = key.and_then(|k| self.inner.throttle.check(k, self.inner.clock.now()))
        {
            tracing::debug!(
                host = host_of(&request),
                path = request.uri().path(),
                "answered from the throttle cache"
            );
            return answer;
        }
        let correlation_id = add_headers(&mut request);
        let response = self.send_with_retry(request, &correlation_id).await?;
        if let Some(key) = key {
            self.inner
                .throttle
                .observe(key, self.inner.clock.now(), &response);
        }
        Ok(response)
    }

    async fn send_with_retry(
        &self,
        request: HttpRequest,
        correlation_id: &str,
    ) -> Result<HttpResponse, Error> {
        let retry_copy = copy_request(&request);
        let first = self.send_once(request, correlation_id, 1).await;
        let wait = match &first {
            Ok(r) if r.status().is_server_error() => {
                match retry_after(r.headers(), self.inner.clock.now()) {
                    Some(w) if w > MAX_RETRY_WAIT => return first,
                    Some(w) => w,
                    None => Duration::ZERO,
                }
            }
            Err(Error::Transport(e)) if e.is_retryable() => Duration::ZERO,
            _ => return first,
        };
        if !wait.is_zero() {
            self.inner.clock.sleep(wait).await;
        }
        self.send_once(retry_copy, correlation_id, 2).await
    }

    async fn send_once(
        &self,
        request: HttpRequest,
        correlation_id: &str,
        attempt: u8,
    ) -> Result<HttpResponse, Error> {
        let method = request.method().clone();
        let host = host_of(&request).to_owned();
        let path = request.uri().path().to_owned();
        let started = self.inner.clock.now();
        match self.inner.http.execute(request).await {
            Ok(response) => {
                tracing::debug!(
                    %method, host, path, attempt, status = response.status().as_u16(),
                    elapsed_ms = elapsed_ms(started, self.inner.clock.now()), correlation_id,
                    "http response"
                );
                Ok(response)
            }
            Err(e) => {
                tracing::debug!(%method, host, path, attempt, kind = %e.kind, correlation_id, "http request failed");
                Err(Error::Transport(with_correlation(e, correlation_id)))
            }
        }
    }

    /// GETs a JSON document (instance discovery, OpenID configuration).
    ///
    /// # Errors
    /// [`Error::Service`] when the server answers an OAuth error,
    /// [`Error::Protocol`] for any other non-2xx status or a body that is not
    /// the expected JSON, plus whatever [`Transport::send`] returns.
    pub async fn get_json<T: DeserializeOwned>(&self, url: &Url) -> Result<T, Error> {
        let request = http::Request::get(url.as_str())
            .header(ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| {
                Error::config(format!(
                    "cannot build a request to {}: {e}",
                    url_for_humans(url)
                ))
            })?;
        let response = self.send(request, Throttle::None).await?;
        if !response.status().is_success() {
            return Err(error_for_status(url, &response, self.inner.clock.now()));
        }
        serde_json::from_slice(response.body()).map_err(|e| {
            Error::protocol(format!(
                "the JSON from {} does not have the expected shape: {e}",
                url_for_humans(url)
            ))
        })
    }

    /// POSTs an `application/x-www-form-urlencoded` form (token and device-code
    /// endpoints) with extra `headers`, and returns the response whatever its
    /// status: the caller reads the token or error body.
    ///
    /// # Errors
    /// As [`Transport::send`].
    pub async fn post_form(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        headers: &[(&str, String)],
        throttle: Throttle,
    ) -> Result<HttpResponse, Error> {
        let body = serde_urlencoded::to_string(form).map_err(|e| {
            Error::config(format!(
                "cannot encode the form for {}: {e}",
                url_for_humans(url)
            ))
        })?;
        let mut builder = http::Request::post(url.as_str())
            .header(
                CONTENT_TYPE,
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .header(ACCEPT, "application/json");
        for (name, value) in headers {
            builder = builder.header(*name, value.as_str());
        }
        // The error names the header, never its value (it may be a credential).
        let request = builder.body(body.into_bytes()).map_err(|_| {
            let names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
            Error::config(format!(
                "invalid header among {names:?} for {}",
                url_for_humans(url)
            ))
        })?;
        self.send(request, throttle).await
    }
}

/// Adds the correlation and library headers; returns the correlation id.
fn add_headers(request: &mut HttpRequest) -> String {
    let headers = request.headers_mut();
    let id = match headers.get(CLIENT_REQUEST_ID).and_then(|v| v.to_str().ok()) {
        Some(existing) => existing.to_owned(),
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            if let Ok(v) = HeaderValue::from_str(&id) {
                headers.insert(HeaderName::from_static(CLIENT_REQUEST_ID), v);
            }
            id
        }
    };
    headers.insert(
        HeaderName::from_static(RETURN_CLIENT_REQUEST_ID),
        HeaderValue::from_static("true"),
    );
    headers.insert(
        HeaderName::from_static("x-client-sku"),
        HeaderValue::from_static(SKU),
    );
    headers.insert(
        HeaderName::from_static("x-client-ver"),
        HeaderValue::from_static(env!("CARGO_PKG_VERSION")),
    );
    id
}

/// A copy of `request` for the retry (requests are not `Clone`).
fn copy_request(request: &HttpRequest) -> HttpRequest {
    let mut copy = http::Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    copy
}

fn with_correlation(mut e: TransportError, correlation_id: &str) -> TransportError {
    e.message = format!("{} (correlation id {correlation_id})", e.message);
    e
}

fn host_of(request: &HttpRequest) -> &str {
    request.uri().host().unwrap_or("")
}

fn elapsed_ms(from: SystemTime, to: SystemTime) -> u64 {
    to.duration_since(from)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A URL as errors show it: scheme, host, port and path, never the query.
pub(crate) fn url_for_humans(url: &Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    shown
}

fn error_for_status(url: &Url, response: &HttpResponse, now: SystemTime) -> Error {
    let status = response.status();
    if let Some(e) = service_error(response, now) {
        return Error::Service(Box::new(e));
    }
    let echoed = response
        .headers()
        .get(CLIENT_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(|id| format!(" (correlation id {id})"))
        .unwrap_or_default();
    Error::protocol(format!(
        "{} answered HTTP {status}{echoed}",
        url_for_humans(url)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_for_humans_drop_the_query_and_credentials() {
        let u = Url::parse(
            "https://user:pw@login.example:8443/t/v2.0/.well-known/openid-configuration?x=secret",
        )
        .expect("valid");
        assert_eq!(
            url_for_humans(&u),
            "https://login.example:8443/t/v2.0/.well-known/openid-configuration"
        );
    }

    #[test]
    fn headers_keep_a_caller_correlation_id() {
        let mut r = http::Request::get("https://h/")
            .header(CLIENT_REQUEST_ID, "abc")
            .body(Vec::new())
            .expect("ok");
        assert_eq!(add_headers(&mut r), "abc");
        assert_eq!(r.headers()["x-client-sku"], SKU);
        let mut r = http::Request::get("https://h/")
            .body(Vec::new())
            .expect("ok");
        let id = add_headers(&mut r);
        assert_eq!(
            uuid::Uuid::parse_str(&id).map(|u| u.get_version_num()).ok(),
            Some(4)
        );
        assert_eq!(r.headers()[CLIENT_REQUEST_ID], id.as_str());
    }
}
