//! OAuth error bodies mapped to [`Error`]: what needs the user becomes
//! [`Error::UiRequired`], the rest [`Error::Service`].

use crate::error::{Error, ServiceError, UiRequiredReason};
use crate::http::HttpResponse;
use crate::transport::{CLIENT_REQUEST_ID, service_error};

/// Maps an OAuth error to the error a caller acts on.
///
/// `invalid_grant` → [`UiRequiredReason::InvalidGrant`]; `interaction_required`,
/// `consent_required`, `login_required` → [`UiRequiredReason::InteractionRequired`];
/// both carry the `suberror` and `claims`. Anything else stays a
/// [`Error::Service`] with every field.
pub fn from_service(e: ServiceError) -> Error {
    let reason = match e.error.as_str() {
        "invalid_grant" => UiRequiredReason::InvalidGrant,
        "interaction_required" | "consent_required" | "login_required" => {
            UiRequiredReason::InteractionRequired
        }
        _ => return Error::Service(Box::new(e)),
    };
    // The description and codes are lost in UiRequired; keep them in the log
    // (codes only: descriptions may name the user).
    tracing::debug!(
        error = %e.error, suberror = e.suberror.as_deref().unwrap_or(""), codes = ?e.error_codes,
        correlation_id = e.correlation_id.as_deref().unwrap_or(""), "identity provider requires interaction"
    );
    Error::UiRequired {
        reason,
        suberror: e.suberror,
        claims: e.claims,
    }
}

/// The error for a non-success `response` from a token-style endpoint.
pub fn from_response(response: &HttpResponse, what: &str, now: std::time::SystemTime) -> Error {
    match service_error(response, now) {
        Some(e) => from_service(e),
        None => {
            let echoed = response
                .headers()
                .get(CLIENT_REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .map(|id| format!(" (correlation id {id})"))
                .unwrap_or_default();
            Error::protocol(format!(
                "the {what} answered HTTP {} without an OAuth error body{echoed}",
                response.status()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_response_now(r: &HttpResponse, what: &str) -> Error {
        from_response(r, what, std::time::SystemTime::now())
    }

    #[test]
    fn a_retry_after_date_is_read_against_msal_s_clock() {
        let mut r = resp(429, r#"{"error":"temporarily_unavailable"}"#);
        r.headers_mut().insert(
            "retry-after",
            http::HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        // msal's clock stands 30 s before that date (784111777 s after 1970).
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(784_111_777 - 30);
        match from_response(&r, "token endpoint", now) {
            Error::Service(e) => {
                assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(30)));
            }
            other => panic!("{other:?}"),
        }
    }

    fn resp(status: u16, body: &str) -> HttpResponse {
        http::Response::builder()
            .status(status)
            .header(CLIENT_REQUEST_ID, "cid-1")
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    #[test]
    fn ui_required_codes_carry_suberror_and_claims() {
        let e = from_response_now(
            &resp(
                400,
                r#"{"error":"invalid_grant","suberror":"basic_action","claims":"{\"a\":1}"}"#,
            ),
            "token endpoint",
        );
        match e {
            Error::UiRequired {
                reason,
                suberror,
                claims,
            } => {
                assert_eq!(reason, UiRequiredReason::InvalidGrant);
                assert_eq!(suberror.as_deref(), Some("basic_action"));
                assert_eq!(claims.as_deref(), Some("{\"a\":1}"));
            }
            other => panic!("{other:?}"),
        }
        for code in ["interaction_required", "consent_required", "login_required"] {
            let e = from_response_now(
                &resp(400, &format!(r#"{{"error":"{code}"}}"#)),
                "token endpoint",
            );
            assert!(
                matches!(
                    e,
                    Error::UiRequired {
                        reason: UiRequiredReason::InteractionRequired,
                        ..
                    }
                ),
                "{code}"
            );
        }
    }

    #[test]
    fn other_codes_are_service_errors_and_junk_is_a_protocol_error() {
        let e = from_response_now(
            &resp(
                401,
                r#"{"error":"invalid_client","error_description":"AADSTS7000215"}"#,
            ),
            "token endpoint",
        );
        assert!(matches!(&e, Error::Service(s) if s.error == "invalid_client"), "{e:?}");
        let e = from_response_now(&resp(502, "<html>"), "token endpoint");
        assert!(
            matches!(&e, Error::Protocol(p) if p.message.contains("502") && p.message.contains("cid-1")),
            "{e:?}"
        );
    }
}
