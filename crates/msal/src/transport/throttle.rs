//! MSAL-style throttling: remember what the identity provider told us and stop
//! asking it the same thing until that has passed.
//!
//! Three rules, as MSAL.NET and MSAL Python apply them to token requests:
//!
//! | the server answered | we remember for | later identical requests get |
//! |---|---|---|
//! | 429 or 5xx with `Retry-After` | the header's delay, capped at [`MAX_RETRY_AFTER`] | [`Error::Throttled`] with the time left |
//! | 429 or 5xx without `Retry-After` | [`DEFAULT_RETRY_AFTER`] (60 s) | [`Error::Throttled`] with the time left |
//! | 400 with `invalid_grant` / `interaction_required` | [`UI_REQUIRED_WINDOW`] (120 s) | the same 400 response again |
//!
//! Why the third rule replays the response instead of answering `Throttled`:
//! the caller maps that 400 to [`Error::UiRequired`], and what it must do next
//! is sign the user in, not wait. Answering `Throttled` would send a well-written
//! app (`if e.is_ui_required() { interactive } else if e.is_retryable() { wait }`)
//! into a two-minute wait before the same `UiRequired`. Replaying keeps the
//! answer identical while sparing the server a request it will refuse again
//! (MSAL.NET's `UiRequiredProvider` does the same with its exception).
//!
//! Only requests sent with [`Throttle::Token`] are remembered; discovery and
//! metadata requests are not. The key names the request (authority, client,
//! scopes, account), so one user's refusal does not throttle another's.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::http::HttpResponse;

/// Longest `Retry-After` honoured; a larger value is capped so that a
/// misconfigured server cannot lock an app out for days (MSAL.NET caps at one hour).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// How long a 429 or 5xx without `Retry-After` throttles the same token request
/// (the default of MSAL.NET's `HttpStatusProvider` and MSAL Python).
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How long an `invalid_grant` / `interaction_required` answer is replayed for
/// the same token request (MSAL.NET's `UiRequiredProvider`).
pub const UI_REQUIRED_WINDOW: Duration = Duration::from_secs(120);

/// Entries kept at most; past this, expired entries and then the ones that
/// end soonest are dropped, so a long-running service cannot grow it forever.
const MAX_ENTRIES: usize = 4096;

/// Whether and how a request takes part in throttling.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Throttle {
    /// Never throttled (discovery, metadata, device-code polling).
    None,
    /// A token request, identified by `key` (see [`crate::transport::Transport::throttle_key`]).
    Token {
        /// What identifies "the same request".
        key: String,
    },
}

impl Throttle {
    /// A token request throttled under `key`.
    pub fn token(key: impl Into<String>) -> Self {
        Self::Token { key: key.into() }
    }
}

/// What a throttle entry answers with.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// `Error::Throttled` with the time left.
    Throttled,
    /// The remembered 400 response.
    Replay(Box<StoredResponse>),
}

/// A response kept to be replayed. Only OAuth error bodies are stored here,
/// never a token response.
#[derive(Debug, Clone)]
pub(crate) struct StoredResponse {
    status: http::StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl StoredResponse {
    pub(crate) fn of(response: &HttpResponse) -> Self {
        Self {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.body().clone(),
        }
    }

    pub(crate) fn to_response(&self) -> HttpResponse {
        let mut r = http::Response::new(self.body.clone());
        *r.status_mut() = self.status;
        *r.headers_mut() = self.headers.clone();
        r
    }
}

#[derive(Debug)]
struct Entry {
    until: SystemTime,
    answer: Answer,
}

/// The throttle cache, keyed by [`Throttle::Token`] keys.
#[derive(Debug, Default)]
pub(crate) struct ThrottleCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl ThrottleCache {
    /// What to answer for `key` at `now` instead of calling the server, if anything.
    pub(crate) fn check(&self, key: &str, now: SystemTime) -> Option<Result<HttpResponse, Error>> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let entry = entries.get(key)?;
        let Ok(left) = entry.until.duration_since(now) else {
            entries.remove(key);
            return None;
        };
        if left.is_zero() {
            entries.remove(key);
            return None;
        }
        Some(match &entry.answer {
            Answer::Throttled => Err(Error::Throttled { retry_after: left }),
            Answer::Replay(stored) => Ok(stored.to_response()),
        })
    }

    /// Looks at a final response (after retries) and remembers it if a rule applies.
    pub(crate) fn observe(&self, key: &str, now: SystemTime, response: &HttpResponse) {
        let Some((for_how_long, answer)) = rule_for(response, now) else {
            return;
        };
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(key) {
            entries.retain(|_, e| e.until > now);
            if entries.len() >= MAX_ENTRIES {
                let soonest = entries
                    .iter()
                    .min_by_key(|(_, e)| e.until)
                    .map(|(k, _)| k.clone());
                if let Some(k) = soonest {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(
            key.to_owned(),
            Entry {
                until: now + for_how_long,
                answer,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Which rule of the table above applies to `response`, if any.
fn rule_for(response: &HttpResponse, now: SystemTime) -> Option<(Duration, Answer)> {
    let status = response.status().as_u16();
    if status == 429 || (500..600).contains(&status) {
        let wait = retry_after(response.headers(), now)
            .unwrap_or(DEFAULT_RETRY_AFTER)
            .min(MAX_RETRY_AFTER);
        return (!wait.is_zero()).then_some((wait, Answer::Throttled));
    }
    if status == 400 && is_ui_required_body(response.body()) {
        return Some((
            UI_REQUIRED_WINDOW,
            Answer::Replay(Box::new(StoredResponse::of(response))),
        ));
    }
    None
}

/// Whether an OAuth error body says the user must sign in again.
fn is_ui_required_body(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct OAuthError {
        error: Option<String>,
    }
    match serde_json::from_slice::<OAuthError>(body) {
        Ok(OAuthError { error: Some(e) }) => e == "invalid_grant" || e == "interaction_required",
        _ => false,
    }
}

/// Parses `Retry-After`: delta seconds or an HTTP date (RFC 9110 §10.2.3).
/// A date in the past means "now" (zero).
pub(crate) fn retry_after(headers: &http::HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses an HTTP date (IMF-fixdate and the two obsolete forms RFC 9110
/// still asks recipients to read) with `httpdate`, which also refuses years
/// past 9999, so a hostile header cannot overflow the arithmetic.
fn parse_http_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s).ok()
}

/// A stable, opaque key from the parts that identify a token request. Parts are
/// length-prefixed before hashing so that `["ab", "c"]` and `["a", "bc"]` differ.
pub(crate) fn key_of(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        let mut b = http::Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(body.as_bytes().to_vec())
            .expect("valid test response")
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn http_dates_parse() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(at(784_111_777))
        );
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(at(0))
        );
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(parse_http_date("garbage"), None);
        assert_eq!(parse_http_date("Sun, 32 Nov 1994 08:49:37 GMT"), None);
        // A hostile year neither overflows nor parses.
        assert_eq!(
            parse_http_date("Mon, 01 Jan 99999999999999999 00:00:00 GMT"),
            None
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(at(784_111_777))
        );
    }

    #[test]
    fn retry_after_in_seconds_date_or_past() {
        let now = at(784_111_700);
        let h = |v: &str| {
            let mut m = http::HeaderMap::new();
            m.insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_str(v).expect("ascii"),
            );
            m
        };
        assert_eq!(retry_after(&h("7"), now), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after(&h("Sun, 06 Nov 1994 08:49:37 GMT"), now),
            Some(Duration::from_secs(77))
        );
        assert_eq!(
            retry_after(&h("Sun, 06 Nov 1994 08:00:00 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&h("soon"), now), None);
        assert_eq!(retry_after(&http::HeaderMap::new(), now), None);
    }

    #[test]
    fn rules() {
        let now = at(1000);
        let c = ThrottleCache::default();
        c.observe("a", now, &response(429, &[("retry-after", "30")], ""));
        c.observe("b", now, &response(503, &[], ""));
        c.observe("c", now, &response(500, &[("retry-after", "999999")], ""));
        c.observe(
            "d",
            now,
            &response(400, &[], r#"{"error":"invalid_grant"}"#),
        );
        c.observe(
            "e",
            now,
            &response(400, &[], r#"{"error":"authorization_pending"}"#),
        );
        c.observe("f", now, &response(200, &[("retry-after", "30")], "{}"));
        c.observe("g", now, &response(429, &[("retry-after", "0")], ""));
        assert_eq!(c.len(), 4, "only a, b, c and d are remembered");
        let throttled = |k: &str, t| match c.check(k, t) {
            Some(Err(Error::Throttled { retry_after })) => Some(retry_after),
            _ => None,
        };
        assert_eq!(throttled("a", at(1010)), Some(Duration::from_secs(20)));
        assert!(c.check("a", at(1030)).is_none(), "over at the deadline");
        assert_eq!(throttled("b", now), Some(DEFAULT_RETRY_AFTER));
        assert_eq!(throttled("c", now), Some(MAX_RETRY_AFTER));
        match c.check("d", at(1119)) {
            Some(Ok(r)) => assert_eq!(
                (r.status().as_u16(), r.body().as_slice()),
                (400, &br#"{"error":"invalid_grant"}"#[..])
            ),
            other => panic!("expected a replay, got {other:?}"),
        }
        assert!(c.check("d", at(1120)).is_none());
        assert!(c.check("e", now).is_none());
    }

    #[test]
    fn keys_are_length_prefixed_and_stable() {
        assert_ne!(key_of(&["ab", "c"]), key_of(&["a", "bc"]));
        assert_eq!(key_of(&["x", "y"]), key_of(&["x", "y"]));
        assert_eq!(key_of(&["x"]).len(), 64);
    }

    #[test]
    fn cache_is_bounded() {
        let c = ThrottleCache::default();
        for i in 0..(MAX_ENTRIES + 10) {
            c.observe(
                &format!("k{i}"),
                at(i as u64),
                &response(429, &[("retry-after", "5")], ""),
            );
        }
        assert!(c.len() <= MAX_ENTRIES);
        assert!(
            c.check(
                &format!("k{}", MAX_ENTRIES + 9),
                at((MAX_ENTRIES + 9) as u64)
            )
            .is_some()
        );
    }
}
