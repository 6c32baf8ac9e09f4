//! Error responses shaped exactly like Microsoft Entra ID's: `error`,
//! `error_description` starting with an AADSTS code and ending with the
//! trace id, correlation id and timestamp, `error_codes`, `timestamp`,
//! `trace_id`, `correlation_id`, `error_uri`, and `suberror`, `claims`,
//! `error_additional_info` where relevant.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::routes::ctx::RequestCtx;

/// One protocol error, rendered by [`EntraError::response`]. Boxed: it
/// travels in `Result`s through every handler.
#[derive(Clone, Debug)]
pub(crate) struct EntraError(Box<ErrorFields>);

/// The fields of an [`EntraError`].
#[derive(Clone, Debug)]
pub(crate) struct ErrorFields {
    pub(crate) status: StatusCode,
    pub(crate) error: String,
    pub(crate) code: u32,
    pub(crate) message: String,
    pub(crate) suberror: Option<String>,
    pub(crate) claims: Option<String>,
    pub(crate) additional_info: Vec<String>,
    pub(crate) retry_after: Option<u64>,
}

impl std::ops::Deref for EntraError {
    type Target = ErrorFields;
    fn deref(&self) -> &ErrorFields {
        &self.0
    }
}

impl std::ops::DerefMut for EntraError {
    fn deref_mut(&mut self) -> &mut ErrorFields {
        &mut self.0
    }
}

impl EntraError {
    /// An error with an HTTP status, an OAuth error code, an AADSTS number
    /// and its message (without the `AADSTSnnn: ` prefix).
    pub(crate) fn new(
        status: StatusCode,
        error: &str,
        code: u32,
        message: impl Into<String>,
    ) -> Self {
        Self(Box::new(ErrorFields {
            status,
            error: error.to_string(),
            code,
            message: message.into(),
            suberror: None,
            claims: None,
            additional_info: Vec::new(),
            retry_after: None,
        }))
    }

    /// HTTP 400.
    pub(crate) fn bad_request(error: &str, code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, code, message)
    }

    /// Sets `suberror`.
    pub(crate) fn with_suberror(mut self, s: &str) -> Self {
        self.suberror = Some(s.to_string());
        self
    }

    /// Sets `claims` (a JSON text).
    pub(crate) fn with_claims(mut self, claims: Option<String>) -> Self {
        self.claims = claims;
        self
    }

    /// Adds an `error_additional_info` entry (MSAL Python's FOCI probe reads
    /// `client_mismatch` there).
    pub(crate) fn with_additional_info(mut self, s: &str) -> Self {
        self.additional_info.push(s.to_string());
        self
    }

    /// `invalid_request` / AADSTS900144 for a missing parameter.
    pub(crate) fn missing(param: &str) -> Self {
        Self::bad_request(
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{param}'."),
        )
    }

    /// `invalid_request` / AADSTS9002313 for a request that cannot be read.
    pub(crate) fn malformed() -> Self {
        Self::bad_request(
            "invalid_request",
            9002313,
            "Invalid request. Request is malformed or invalid.",
        )
    }

    /// The full `error_description`.
    pub(crate) fn description(&self, ctx: &RequestCtx) -> String {
        format!(
            "AADSTS{}: {} Trace ID: {} Correlation ID: {} Timestamp: {}",
            self.code,
            self.message,
            ctx.trace_id,
            ctx.correlation_id,
            ctx.timestamp()
        )
    }

    /// The JSON body.
    pub(crate) fn body(&self, ctx: &RequestCtx) -> Value {
        let mut m = Map::new();
        m.insert("error".into(), json!(self.error));
        m.insert("error_description".into(), json!(self.description(ctx)));
        m.insert("error_codes".into(), json!([self.code]));
        m.insert("timestamp".into(), json!(ctx.timestamp()));
        m.insert("trace_id".into(), json!(ctx.trace_id));
        m.insert("correlation_id".into(), json!(ctx.correlation_id));
        m.insert(
            "error_uri".into(),
            json!(format!("{}/error?code={}", ctx.base_url(), self.code)),
        );
        if let Some(s) = &self.suberror {
            m.insert("suberror".into(), json!(s));
        }
        if let Some(c) = &self.claims {
            m.insert("claims".into(), json!(c));
        }
        if !self.additional_info.is_empty() {
            m.insert("error_additional_info".into(), json!(self.additional_info));
        }
        Value::Object(m)
    }

    /// The HTTP response, with Entra's headers.
    pub(crate) fn response(&self, ctx: &RequestCtx) -> Response {
        let mut r = json_response(self.status, &self.body(ctx), ctx);
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

/// A JSON response with `Cache-Control: no-store`, `x-ms-request-id` and the
/// echoed `client-request-id`, as Entra sends.
pub(crate) fn json_response(status: StatusCode, body: &Value, ctx: &RequestCtx) -> Response {
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    ctx.add_headers(h);
    r
}

/// `YYYY-MM-DD HH:MM:SSZ`, Entra's timestamp format.
pub(crate) fn format_timestamp(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_formatted_like_entra() {
        assert_eq!(format_timestamp(0), "1970-01-01 00:00:00Z");
        assert_eq!(format_timestamp(1_700_000_000), "2023-11-14 22:13:20Z");
        assert_eq!(format_timestamp(951_782_400), "2000-02-29 00:00:00Z");
    }
}
