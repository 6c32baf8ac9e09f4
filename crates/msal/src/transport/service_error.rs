//! Reading an OAuth error body (RFC 6749 §5.2 plus Entra's extra fields) into
//! a [`ServiceError`], with the correlation id the server echoed.

use serde::Deserialize;

use super::engine::CLIENT_REQUEST_ID;
use super::throttle::retry_after;
use crate::error::ServiceError;
use crate::http::HttpResponse;

#[derive(Deserialize)]
struct Body {
    error: Option<String>,
    error_description: Option<String>,
    suberror: Option<String>,
    #[serde(default)]
    error_codes: Vec<i64>,
    correlation_id: Option<String>,
    trace_id: Option<String>,
    claims: Option<String>,
}

/// The OAuth error in `response`, if its body is one (`{"error": "..."}`).
///
/// The correlation id comes from the body, or else from the echoed
/// `client-request-id` header; `retry_after` from the `Retry-After` header.
/// Returns `None` for a body that is not an OAuth error, so the caller can
/// report the status instead.
pub fn service_error(response: &HttpResponse, now: std::time::SystemTime) -> Option<ServiceError> {
    let body: Body = serde_json::from_slice(response.body()).ok()?;
    let code = body.error?;
    let echoed = response
        .headers()
        .get(CLIENT_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut e = ServiceError::new(code);
    e.status = Some(response.status().as_u16());
    e.description = body.error_description;
    e.suberror = body.suberror;
    e.error_codes = body.error_codes;
    e.correlation_id = body.correlation_id.or(echoed);
    e.trace_id = body.trace_id;
    e.claims = body.claims;
    // An HTTP-date is read against msal's clock, as every other time is.
    e.retry_after = retry_after(response.headers(), now);
    Some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_entra_error_fields_and_echoed_correlation_id() {
        let r = http::Response::builder()
            .status(400)
            .header(CLIENT_REQUEST_ID, "c0ffee")
            .header("retry-after", "3")
            .body(br#"{"error":"invalid_grant","error_description":"AADSTS70008: expired","suberror":"bad_token","error_codes":[70008],"claims":"{}"}"#.to_vec())
            .expect("valid");
        let e = service_error(&r, std::time::SystemTime::now()).expect("an OAuth error");
        assert_eq!(e.error, "invalid_grant");
        assert_eq!(e.status, Some(400));
        assert_eq!(e.suberror.as_deref(), Some("bad_token"));
        assert_eq!(e.error_codes, vec![70008]);
        assert_eq!(e.correlation_id.as_deref(), Some("c0ffee"));
        assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(3)));
        assert!(e.to_string().contains("(correlation id c0ffee)"));
    }

    #[test]
    fn non_oauth_bodies_are_not_service_errors() {
        let r = http::Response::builder()
            .status(502)
            .body(b"<html>bad gateway</html>".to_vec())
            .expect("valid");
        assert!(service_error(&r, std::time::SystemTime::now()).is_none());
    }
}
