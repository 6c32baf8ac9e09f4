//! Reading what an identity endpoint answers: a token (whose lifetime comes
//! as `expires_in` or `expires_on`, numbers or numeric strings, or for
//! `expires_on` the date string of App Service's and Azure ML's 2017-09-01
//! API, depending on the source) or an error in one of the sources' own
//! shapes.
//!
//! Nothing here panics or echoes a token: the parser is fuzzed
//! (`tests/managed_identity_parser.rs`).

// Items here are crate-internal unless the `test-internals` feature
// exposes them to msal's own tests.
#![cfg_attr(not(feature = "test-internals"), allow(unreachable_pub))]

use serde_json::{Map, Value};

use crate::error::{Error, ServiceError};
use crate::http::HttpResponse;
use crate::secret::AccessTokenSecret;

use super::Source;

/// A token response, normalized.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[cfg_attr(not(feature = "test-internals"), allow(dead_code))]
pub struct ParsedToken {
    /// The access token.
    pub access_token: AccessTokenSecret,
    /// `Bearer` unless the endpoint said otherwise.
    pub token_type: String,
    /// `expires_in`, in seconds from `now` (from `expires_on` when the source
    /// sends only that): always positive, at most [`MAX_LIFETIME_SECS`].
    pub expires_in: i64,
    /// Unix seconds after which the token should be refreshed: `now +
    /// refresh_in` when sent, else half the lifetime when that is two hours
    /// or more (as MSAL computes it for managed identity), else `None`.
    pub refresh_on: Option<i64>,
    /// The resource the endpoint says the token is for, if it says.
    pub resource: Option<String>,
}

/// A lifetime beyond this (ten years) is taken as this: no identity endpoint
/// issues such tokens, and caching one for longer would only outlive its
/// revocation.
pub const MAX_LIFETIME_SECS: i64 = 10 * 365 * 86_400;

/// Parses a successful token response received at `now` (Unix seconds).
///
/// `expires_on` may be Unix seconds (a number or a numeric string) or a
/// date string as App Service's and Azure ML's 2017-09-01 API sends it
/// (`06/20/2019 02:57:58 +00:00`, or `6/20/2019 2:57:58 PM +00:00`). A
/// lifetime longer than [`MAX_LIFETIME_SECS`] is clamped to it.
///
/// # Errors
/// [`Error::Protocol`] when the body is not a JSON object, has no
/// `access_token`, no usable `expires_in` / `expires_on`, or a token that
/// has already expired (which no cache should keep and no caller can use).
/// The message never contains the body.
pub fn parse_token_response(body: &[u8], now: i64) -> Result<ParsedToken, Error> {
    let map = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => {
            return Err(Error::protocol(
                "the managed identity endpoint answered JSON that is not an object",
            ));
        }
        Err(e) => {
            return Err(Error::protocol(format!(
                "the managed identity endpoint answered something that is not JSON (line {}, column {})",
                e.line(),
                e.column()
            )));
        }
    };
    let access_token = match map.get("access_token") {
        Some(Value::String(s)) if !s.is_empty() => AccessTokenSecret::new(s.as_str()),
        _ => {
            return Err(Error::protocol(
                "the managed identity endpoint's answer has no access_token",
            ));
        }
    };
    let (expires_in, field) = match (seconds(&map, "expires_in")?, expiry_time(&map)?) {
        (Some(i), _) => (i, "expires_in"),
        (None, Some(on)) => (on.saturating_sub(now), "expires_on"),
        (None, None) => {
            return Err(Error::protocol(
                "the managed identity endpoint's answer has neither expires_in nor expires_on",
            ));
        }
    };
    if expires_in <= 0 {
        return Err(Error::protocol(format!(
            "the managed identity endpoint answered a token that has already expired \
             (its {field} is {expires_in} s from now); check the host's clock"
        )));
    }
    let expires_in = expires_in.min(MAX_LIFETIME_SECS);
    let refresh_on = match seconds(&map, "refresh_in")? {
        // Never later than the expiry.
        Some(r) if r > 0 => Some(now.saturating_add(r.min(expires_in))),
        _ if expires_in >= 7200 => Some(now.saturating_add(expires_in / 2)),
        _ => None,
    };
    let token_type = match map.get("token_type") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => "Bearer".to_owned(),
    };
    let resource = match map.get("resource") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    Ok(ParsedToken {
        access_token,
        token_type,
        expires_in,
        refresh_on,
        resource,
    })
}

/// `expires_on` as Unix seconds: a number, a numeric string or a date string.
fn expiry_time(map: &Map<String, Value>) -> Result<Option<i64>, Error> {
    const FIELD: &str = "expires_on";
    match map.get(FIELD) {
        Some(Value::String(s)) if s.trim().parse::<f64>().is_err() && !s.trim().is_empty() => {
            date_time(s.trim()).map(Some).ok_or_else(|| {
                Error::protocol(
                    "the managed identity endpoint's expires_on is neither a number of seconds \
                     nor a date like 06/20/2019 02:57:58 +00:00",
                )
            })
        }
        _ => seconds(map, FIELD),
    }
}

/// Unix seconds of `M/D/YYYY H:MM:SS [AM|PM] ±HH:MM` (the form .NET's
/// `DateTimeOffset` prints in the invariant culture, which App Service and
/// Azure ML send for `expires_on` on the 2017-09-01 API); `None` for
/// anything else, an impossible date included. The calendar work is the
/// `time` crate's; only the two layouts and the range checks are ours.
fn date_time(s: &str) -> Option<i64> {
    use std::sync::LazyLock;
    use time::format_description::{self, BorrowedFormatItem};
    type Layout = Vec<BorrowedFormatItem<'static>>;
    static LAYOUTS: LazyLock<Vec<Layout>> = LazyLock::new(|| {
        [
            "[month padding:none]/[day padding:none]/[year repr:full] \
             [hour repr:12 padding:none]:[minute]:[second] [period case_sensitive:false] \
             [offset_hour sign:mandatory]:[offset_minute]",
            "[month padding:none]/[day padding:none]/[year repr:full] \
             [hour padding:none]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]",
        ]
        .iter()
        .filter_map(|f| format_description::parse_borrowed::<1>(f).ok())
        .collect()
    });
    // One space between fields, as the layouts expect; ASCII digits only
    // (`time` would take none other, but say so before it looks).
    let text = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if !text.is_ascii() {
        return None;
    }
    let at = LAYOUTS
        .iter()
        .find_map(|layout| time::OffsetDateTime::parse(&text, layout).ok())?;
    // Four-digit years from 1970, offsets real zones use (UTC-12 to UTC+14).
    let offset_ok = (-12 * 3600..=14 * 3600).contains(&at.offset().whole_seconds());
    (offset_ok && (1970..=9999).contains(&at.year())).then(|| at.unix_timestamp())
}

/// A whole number of seconds, sent as a number or a numeric string.
fn seconds(map: &Map<String, Value>, field: &str) -> Result<Option<i64>, Error> {
    let bad = || {
        Error::protocol(format!(
            "the managed identity endpoint's {field} is not a number of seconds"
        ))
    };
    // Beyond this a value is nonsense, and arithmetic on it could overflow.
    const LIMIT: f64 = 1e15;
    let n = match map.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64().ok_or_else(bad)?,
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => s.trim().parse::<f64>().map_err(|_| bad())?,
        Some(_) => return Err(bad()),
    };
    if !n.is_finite() || n.abs() > LIMIT {
        return Err(bad());
    }
    Ok(Some(n.trunc() as i64))
}

/// The error a non-success answer from `source` stands for. Understands the
/// OAuth shape (IMDS, Arc: `error`, `error_description`), App Service's
/// (`statusCode`, `message`) and Service Fabric's (`error: {code, message}`);
/// any other body is carried as text (trimmed and capped).
pub(crate) fn error_from_response(
    source: Source,
    response: &HttpResponse,
    now: std::time::SystemTime,
) -> Error {
    let status = response.status().as_u16();
    let (code, message) = describe(response.body());
    let mut e =
        ServiceError::new(code.unwrap_or_else(|| "managed_identity_request_failed".to_owned()));
    e.status = Some(status);
    e.description = Some(match message {
        Some(m) => format!("{source} answered HTTP {status}: {m}"),
        None => format!("{source} answered HTTP {status}"),
    });
    e.correlation_id = response
        .headers()
        .get("x-ms-request-id")
        .or_else(|| response.headers().get("x-ms-client-request-id"))
        .and_then(|v| v.to_str().ok())
        .map(|s| shown_text(s, 100));
    // An HTTP-date is read against msal's clock, as every other time is.
    e.retry_after = crate::transport::throttle::retry_after(response.headers(), now);
    Error::Service(Box::new(e))
}

/// The error code and message in an error body, if it has them.
fn describe(body: &[u8]) -> (Option<String>, Option<String>) {
    let text = |v: Option<&Value>| -> Option<String> {
        match v? {
            Value::String(s) if !s.trim().is_empty() => Some(shown_text(s, 1000)),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        let raw = String::from_utf8_lossy(body);
        return (
            None,
            (!raw.trim().is_empty()).then(|| shown_text(&raw, 1000)),
        );
    };
    let get = |k: &str| {
        map.get(k).or_else(|| {
            map.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v)
        })
    };
    match get("error") {
        // Service Fabric: {"error": {"code": "...", "message": "..."}}
        Some(Value::Object(inner)) => {
            let code = text(inner.get("code"));
            let oauth = code.as_deref().map(|c| match c {
                "SecretHeaderNotFound" => "unauthorized_client",
                "ManagedIdentityNotFound" => "invalid_client",
                "ArgumentNullOrEmpty" => "invalid_scope",
                _ => "invalid_request",
            });
            let message = match (code.as_deref(), text(inner.get("message"))) {
                (Some(c), Some(m)) => Some(format!("{c}: {m}")),
                (c, m) => m.or(c.map(str::to_owned)),
            };
            (oauth.map(str::to_owned), message)
        }
        Some(v) => (
            text(Some(v)),
            text(get("error_description")).or_else(|| text(get("message"))),
        ),
        // App Service: {"statusCode": 400, "message": "..."}
        None => (
            None,
            text(get("message")).or_else(|| text(get("error_description"))),
        ),
    }
}

/// `s` without control characters, at most `max` characters.
fn shown_text(s: &str, max: usize) -> String {
    let cleaned: String = s
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max + 1)
        .collect();
    if cleaned.chars().count() > max {
        let mut cut: String = cleaned.chars().take(max).collect();
        cut.push('…');
        cut
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn lifetimes_as_numbers_or_strings() {
        let t =
            parse_token_response(br#"{"access_token":"at","expires_in":3599}"#, NOW).expect("ok");
        assert_eq!(
            (t.expires_in, t.token_type.as_str(), t.refresh_on),
            (3599, "Bearer", None)
        );
        let t = parse_token_response(
            br#"{"access_token":"at","expires_in":"3599","token_type":"Bearer"}"#,
            NOW,
        )
        .expect("ok");
        assert_eq!(t.expires_in, 3599);
        let t = parse_token_response(
            br#"{"access_token":"at","expires_on":"1700003600","resource":"r"}"#,
            NOW,
        )
        .expect("ok");
        assert_eq!((t.expires_in, t.resource.as_deref()), (3600, Some("r")));
        let t = parse_token_response(br#"{"access_token":"at","expires_on":1700003600.0}"#, NOW)
            .expect("ok");
        assert_eq!(t.expires_in, 3600);
    }

    /// `expires_on` as a date string, received an hour before it.
    fn with_date(expires_on: &str, now: i64) -> Result<ParsedToken, Error> {
        let body = format!(r#"{{"access_token":"at","expires_on":"{expires_on}"}}"#);
        parse_token_response(body.as_bytes(), now)
    }

    #[test]
    fn expires_on_as_the_2017_09_01_date_string() {
        // 2019-06-20T02:57:58Z and 14:57:58Z.
        const MORNING: i64 = 1_560_999_478;
        const AFTERNOON: i64 = 1_561_042_678;
        for (text, at) in [
            ("06/20/2019 02:57:58 +00:00", MORNING),
            ("6/20/2019 2:57:58 AM +00:00", MORNING),
            ("6/20/2019 2:57:58 PM +00:00", AFTERNOON),
            ("6/20/2019 2:57:58 pm +00:00", AFTERNOON),
            ("06/20/2019 14:57:58 +00:00", AFTERNOON),
            ("  06/20/2019  04:57:58  +02:00 ", MORNING),
            ("06/19/2019 10:57:58 PM -04:00", MORNING),
            ("6/20/2019 12:57:58 PM +00:00", AFTERNOON - 2 * 3600),
            ("6/20/2019 12:57:58 AM +00:00", MORNING - 2 * 3600),
        ] {
            let t = with_date(text, at - 3600).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(t.expires_in, 3600, "{text}");
        }
        // A leap day.
        assert_eq!(
            with_date("2/29/2024 0:00:00 +00:00", 1_709_164_800 - 60)
                .expect("leap day")
                .expires_in,
            60
        );
    }

    #[test]
    fn impossible_or_foreign_dates_are_protocol_errors() {
        for text in [
            "13/20/2019 02:57:58 +00:00",
            "02/29/2019 02:57:58 +00:00",
            "06/31/2019 02:57:58 +00:00",
            "06/20/2019 24:00:00 +00:00",
            "06/20/2019 13:00:00 PM +00:00",
            "06/20/2019 0:00:00 AM +00:00",
            "06/20/2019 02:60:58 +00:00",
            "06/20/2019 02:57:58",
            "06/20/2019 02:57:58 UTC",
            "06/20/2019 02:57:58 +15:00",
            "06/20/2019 02:57:58 +00:00 extra",
            "2019-06-20T02:57:58Z",
            "06/20/19 02:57:58 +00:00",
            "06/20/2019 02:57 +00:00",
            "06/20/2019 ٠٢:57:58 +00:00",
            "tomorrow",
        ] {
            let e = with_date(text, 0).expect_err(text);
            assert!(matches!(e, Error::Protocol(_)), "{text}: {e:?}");
        }
    }

    #[test]
    fn an_expired_token_is_a_protocol_error() {
        for body in [
            r#"{"access_token":"s3cr3t","expires_in":0}"#.to_owned(),
            r#"{"access_token":"s3cr3t","expires_in":"-60"}"#.to_owned(),
            format!(r#"{{"access_token":"s3cr3t","expires_on":{}}}"#, NOW - 1),
            format!(r#"{{"access_token":"s3cr3t","expires_on":"{NOW}"}}"#),
            r#"{"access_token":"s3cr3t","expires_on":"06/20/2019 02:57:58 +00:00"}"#.to_owned(),
        ] {
            let e = parse_token_response(body.as_bytes(), NOW).expect_err(&body);
            assert!(matches!(e, Error::Protocol(_)), "{body}: {e:?}");
            assert!(e.to_string().contains("already expired"), "{e}");
            assert!(!e.to_string().contains("s3cr3t"), "{e}");
        }
    }

    #[test]
    fn absurd_lifetimes_are_clamped_without_overflow() {
        for body in [
            r#"{"access_token":"at","expires_in":100000000000000}"#.to_owned(),
            r#"{"access_token":"at","expires_on":"12/31/9999 11:59:59 PM +00:00"}"#.to_owned(),
            r#"{"access_token":"at","expires_on":"999999999999999"}"#.to_owned(),
        ] {
            let t = parse_token_response(body.as_bytes(), NOW).expect(&body);
            assert_eq!(t.expires_in, MAX_LIFETIME_SECS, "{body}");
            assert_eq!(t.refresh_on, Some(NOW + MAX_LIFETIME_SECS / 2), "{body}");
        }
        let t = parse_token_response(
            br#"{"access_token":"at","expires_in":600,"refresh_in":900000000000}"#,
            NOW,
        )
        .expect("ok");
        assert_eq!(
            t.refresh_on,
            Some(NOW + 600),
            "refresh_on is never after the expiry"
        );
        // At the far end of time, nothing overflows.
        let t = parse_token_response(br#"{"access_token":"at","expires_in":3600}"#, i64::MAX)
            .expect("ok");
        assert_eq!(t.expires_in, 3600);
        let e = parse_token_response(br#"{"access_token":"at","expires_on":5}"#, i64::MIN)
            .expect("a lifetime beyond i64 is clamped");
        assert_eq!(e.expires_in, MAX_LIFETIME_SECS);
    }

    #[test]
    fn refresh_on_from_refresh_in_or_half_a_long_lifetime() {
        let t = parse_token_response(
            br#"{"access_token":"at","expires_in":86399,"refresh_in":"600"}"#,
            NOW,
        )
        .expect("ok");
        assert_eq!(t.refresh_on, Some(NOW + 600));
        let t =
            parse_token_response(br#"{"access_token":"at","expires_in":86400}"#, NOW).expect("ok");
        assert_eq!(t.refresh_on, Some(NOW + 43200));
        let t =
            parse_token_response(br#"{"access_token":"at","expires_in":7199}"#, NOW).expect("ok");
        assert_eq!(t.refresh_on, None);
    }

    #[test]
    fn malformed_bodies_are_protocol_errors_without_the_body() {
        for body in [
            &b"not json s3cr3t"[..],
            b"[]",
            br#"{"expires_in":10}"#,
            br#"{"access_token":"s3cr3t"}"#,
            br#"{"access_token":"s3cr3t","expires_in":"soon"}"#,
            br#"{"access_token":"s3cr3t","expires_in":1e300}"#,
            br#"{"access_token":"s3cr3t","expires_on":[1]}"#,
            br#"{"access_token":7,"expires_in":1}"#,
        ] {
            let e = parse_token_response(body, NOW).expect_err("malformed");
            assert!(matches!(e, Error::Protocol(_)), "{e:?}");
            assert!(!e.to_string().contains("s3cr3t"), "{e}");
        }
    }

    fn response(status: u16, body: &str) -> HttpResponse {
        http::Response::builder()
            .status(status)
            .body(body.as_bytes().to_vec())
            .expect("valid")
    }

    fn err(source: Source, response: &HttpResponse) -> Error {
        error_from_response(source, response, std::time::SystemTime::now())
    }

    #[test]
    fn a_retry_after_date_is_read_against_msal_s_clock() {
        let mut r = response(429, r#"{"error":"too_many_requests"}"#);
        r.headers_mut().insert(
            "retry-after",
            http::HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        // A clock standing 30 s before that date (784111777 s after 1970).
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(784_111_777 - 30);
        let e = service(error_from_response(Source::AppService, &r, now));
        assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(30)));
    }

    fn service(e: Error) -> ServiceError {
        match e {
            Error::Service(s) => *s,
            other => panic!("not a service error: {other:?}"),
        }
    }

    #[test]
    fn error_shapes_of_each_source() {
        let e = service(err(
            Source::Imds,
            &response(
                400,
                r#"{"error":"invalid_resource","error_description":"AADSTS500011: not found"}"#,
            ),
        ));
        assert_eq!(
            (e.error.as_str(), e.status),
            ("invalid_resource", Some(400))
        );
        assert_eq!(
            e.description.as_deref(),
            Some("IMDS answered HTTP 400: AADSTS500011: not found")
        );

        let e = service(err(
            Source::AppService,
            &response(
                500,
                r#"{"statusCode":500,"message":"An unexpected error occured while fetching the AAD Token."}"#,
            ),
        ));
        assert_eq!(e.error, "managed_identity_request_failed");
        assert!(
            e.description
                .as_deref()
                .is_some_and(|d| d.contains("unexpected error occured")),
            "{e:?}"
        );

        let e = service(err(
            Source::ServiceFabric,
            &response(
                401,
                r#"{"error":{"code":"SecretHeaderNotFound","message":"Secret is not found in the request headers."}}"#,
            ),
        ));
        assert_eq!(e.error, "unauthorized_client");
        assert!(
            e.description
                .as_deref()
                .is_some_and(|d| d.contains("SecretHeaderNotFound: Secret is not found")),
            "{e:?}"
        );

        let e = service(err(
            Source::CloudShell,
            &response(503, "<html>\n busy </html>"),
        ));
        assert_eq!(
            e.description.as_deref(),
            Some("Cloud Shell answered HTTP 503: <html>  busy </html>")
        );
        let long = "x".repeat(5000);
        let e = service(err(Source::Imds, &response(500, &long)));
        assert!(e.description.as_deref().is_some_and(|d| d.len() < 1100));
    }
}
