//! Token requests (forms) and token responses.

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::errors;
use crate::cache::TokenResponse;
use crate::error::{Error, Result};
use crate::http::HttpResponse;
use crate::secret::{AccessTokenSecret, IdTokenSecret, RefreshTokenSecret};

/// A form for the token or device endpoint. Values may be secrets (codes,
/// refresh tokens, passwords, client secrets), so they are wiped on drop and
/// `Debug` shows field names only.
#[derive(Default, Clone)]
pub struct TokenForm {
    fields: Vec<(String, Zeroizing<String>)>,
}

impl std::fmt::Debug for TokenForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenForm")
            .field("fields", &self.names())
            .finish()
    }
}

impl TokenForm {
    /// An empty form.
    pub fn new() -> Self {
        Self::default()
    }

    /// A form for `grant_type` from `client_id`, asking for `client_info`
    /// (so Entra returns the home account id) with `scope`.
    pub fn grant(grant_type: &str, client_id: &str, scope: &str) -> Self {
        let mut f = Self::new();
        f.set("grant_type", grant_type);
        f.set("client_id", client_id);
        if !scope.is_empty() {
            f.set("scope", scope);
        }
        f.set("client_info", "1");
        f
    }

    /// Sets `name` to `value`, replacing an earlier value.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.fields.retain(|(n, _)| n != name);
        self.fields
            .push((name.to_owned(), Zeroizing::new(value.to_owned())));
        self
    }

    /// Sets `name` when `value` is `Some`.
    pub fn set_opt(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.set(name, v);
        }
        self
    }

    /// The value of `name`.
    #[cfg_attr(not(feature = "test-internals"), allow(dead_code))]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The field names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.fields.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The fields as borrowed pairs, for [`crate::transport::Transport::post_form`].
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.fields
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }
}

/// Parses a token endpoint response: a success into [`TokenResponse`], an
/// OAuth error via [`errors::from_service`].
///
/// Numbers (`expires_in`, `ext_expires_in`, `refresh_in`, `expires_on`) are
/// accepted as JSON numbers or numeric strings; `foci` as a string or number.
///
/// # Errors
/// [`Error::UiRequired`] / [`Error::Service`] for an OAuth error,
/// [`Error::Protocol`] for a body that is not a token response. No error
/// carries the body.
pub fn parse_response(response: &HttpResponse, now: std::time::SystemTime) -> Result<TokenResponse> {
    if !response.status().is_success() {
        return Err(errors::from_response(response, "token endpoint", now));
    }
    let map = match serde_json::from_slice::<Value>(response.body()) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(Error::protocol(format!(
                "the token endpoint answered HTTP {} with a body that is not a JSON object",
                response.status()
            )));
        }
    };
    if map.get("error").and_then(Value::as_str).is_some() {
        // Some providers send OAuth errors with a 200.
        return Err(errors::from_response(
            &with_status(response, 400),
            "token endpoint",
            now,
        ));
    }
    parse_map(&map)
}

fn with_status(response: &HttpResponse, status: u16) -> HttpResponse {
    let mut r = http::Response::new(response.body().clone());
    *r.headers_mut() = response.headers().clone();
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
    r
}

/// Reads a token response object.
///
/// # Errors
/// [`Error::Protocol`] naming a field of the wrong type.
pub fn parse_map(map: &Map<String, Value>) -> Result<TokenResponse> {
    let access_token = string(map, "access_token")?;
    let expires_in = lifetime(map, "expires_in")?;
    let expires_on = number(map, "expires_on")?.map(|on| on.clamp(1, LAST_EXPIRY));
    if access_token.is_some() && expires_in.is_none() && expires_on.is_none() {
        tracing::debug!(
            "token response without expires_in; the cache assumes the default lifetime"
        );
    }
    let foci = match map.get("foci") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(type_error("foci")),
    };
    let r = TokenResponse {
        access_token: access_token.map(AccessTokenSecret::new),
        token_type: string(map, "token_type")?,
        expires_in,
        ext_expires_in: lifetime(map, "ext_expires_in")?,
        refresh_in: lifetime(map, "refresh_in")?,
        expires_on,
        refresh_token: string(map, "refresh_token")?.map(RefreshTokenSecret::new),
        scope: string(map, "scope")?,
        foci,
        id_token: string(map, "id_token")?.map(IdTokenSecret::new),
        client_info: string(map, "client_info")?,
        ..TokenResponse::default()
    };
    if r.access_token.is_none() && r.id_token.is_none() && r.refresh_token.is_none() {
        return Err(Error::protocol(
            "the token response has no access_token, id_token or refresh_token",
        ));
    }
    Ok(r)
}

fn type_error(field: &str) -> Error {
    Error::protocol(format!("the token response's {field} has the wrong type"))
}

fn string(map: &Map<String, Value>, field: &str) -> Result<Option<String>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(type_error(field)),
    }
}

/// The longest lifetime taken from a response, in seconds (ten years, where
/// MSAL.NET also draws the line). A hostile or broken server's larger value
/// would otherwise overflow `now + expires_in` or keep a token forever.
pub(crate) const MAX_LIFETIME_SECS: i64 = 10 * 365 * 24 * 3600;

/// The latest absolute expiry taken from a response: 9999-12-31T23:59:59Z.
/// The earliest is 1 s after the epoch: 0 means "absent" in the cache format.
pub(crate) const LAST_EXPIRY: i64 = 253_402_300_799;

/// A lifetime in seconds, clamped to `0..=MAX_LIFETIME_SECS`: a negative one
/// means the token is already expired.
fn lifetime(map: &Map<String, Value>, field: &str) -> Result<Option<i64>> {
    Ok(number(map, field)?.map(|n| n.clamp(0, MAX_LIFETIME_SECS)))
}

/// A whole number given as a JSON number or a numeric string.
fn number(map: &Map<String, Value>, field: &str) -> Result<Option<i64>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 1e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| type_error(field)),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| type_error(field)),
        Some(_) => Err(type_error(field)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_response_now(r: &HttpResponse) -> Result<TokenResponse> {
        parse_response(r, std::time::SystemTime::now())
    }

    fn ok(body: &str) -> HttpResponse {
        http::Response::builder()
            .status(200)
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    #[test]
    fn numbers_as_numbers_or_strings_and_foci_either_way() {
        let r = parse_response_now(&ok(
            r#"{"access_token":"at-1","token_type":"Bearer","expires_in":"3599","ext_expires_in":3599,"refresh_in":1800,"refresh_token":"rt","foci":1,"scope":"a b","client_info":"ci","id_token":"x.y.z"}"#,
        ))
        .unwrap();
        assert_eq!(r.access_token.as_ref().unwrap().expose_secret(), "at-1");
        assert_eq!(
            (r.expires_in, r.ext_expires_in, r.refresh_in),
            (Some(3599), Some(3599), Some(1800))
        );
        assert_eq!(r.foci.as_deref(), Some("1"));
        assert_eq!(r.scope.as_deref(), Some("a b"));
        let r = parse_response_now(&ok(
            r#"{"access_token":"a","expires_on":"1700000000","foci":""}"#,
        ))
        .unwrap();
        assert_eq!((r.expires_on, r.foci), (Some(1_700_000_000), None));
    }

    #[test]
    fn wrong_types_and_empty_responses_are_protocol_errors_without_the_body() {
        for body in [
            r#"{"access_token":"SECRET-AT","expires_in":"soon"}"#,
            r#"{"access_token":5}"#,
            r#"{"token_type":"Bearer"}"#,
            "[]",
            "SECRET-AT",
        ] {
            let e = parse_response_now(&ok(body)).unwrap_err();
            assert!(matches!(e, Error::Protocol(_)), "{body}: {e:?}");
            assert!(!e.to_string().contains("SECRET-AT"));
        }
    }

    #[test]
    fn an_error_body_with_200_is_still_an_error() {
        let e = parse_response_now(&ok(r#"{"error":"invalid_grant"}"#)).unwrap_err();
        assert!(e.is_ui_required());
    }

    #[test]
    fn forms_redact_values_and_replace_fields() {
        let mut f = TokenForm::grant("refresh_token", "cid", "a b");
        f.set("refresh_token", "SECRET-RT")
            .set("refresh_token", "SECRET-RT2")
            .set_opt("claims", None);
        assert_eq!(f.get("refresh_token"), Some("SECRET-RT2"));
        assert_eq!(
            f.names(),
            vec![
                "grant_type",
                "client_id",
                "scope",
                "client_info",
                "refresh_token"
            ]
        );
        assert!(!format!("{f:?}").contains("SECRET"));
    }
}
