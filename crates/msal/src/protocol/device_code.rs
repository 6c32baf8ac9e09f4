//! The device authorization response (RFC 8628 §3.2).

use std::time::Duration;

use serde::Deserialize;

use super::errors;
use crate::error::{Error, Result};
use crate::http::HttpResponse;
use crate::secret::DeviceCodeSecret;

/// What to show the user of a device-code sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceCodeInfo {
    /// The code the user types at [`DeviceCodeInfo::verification_uri`].
    pub user_code: String,
    /// Where the user signs in.
    pub verification_uri: String,
    /// A ready-made instruction for the user, from the identity provider.
    pub message: String,
    /// How long the code is valid.
    pub expires_in: Duration,
    /// How often msal polls the token endpoint.
    pub interval: Duration,
}

/// The device authorization response: the public part and the device code.
#[derive(Debug)]
pub struct DeviceAuthorization {
    /// What the user sees.
    pub info: DeviceCodeInfo,
    /// The code msal redeems (secret).
    pub device_code: DeviceCodeSecret,
}

#[derive(Deserialize)]
struct Raw {
    device_code: Option<String>,
    user_code: Option<String>,
    verification_uri: Option<String>,
    // Older Entra endpoints spell it verification_url.
    verification_url: Option<String>,
    message: Option<String>,
    expires_in: Option<serde_json::Value>,
    interval: Option<serde_json::Value>,
}

/// The default polling interval (RFC 8628 §3.2).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

fn seconds(v: Option<&serde_json::Value>) -> Option<u64> {
    match v? {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Parses the device authorization endpoint's answer.
///
/// # Errors
/// The mapped OAuth error for a non-success status; [`Error::Protocol`] when
/// a required field is missing.
pub fn parse(response: &HttpResponse, now: std::time::SystemTime) -> Result<DeviceAuthorization> {
    if !response.status().is_success() {
        return Err(errors::from_response(
            response,
            "device authorization endpoint",
            now,
        ));
    }
    let raw: Raw = serde_json::from_slice(response.body()).map_err(|_| {
        Error::protocol("the device authorization response is not the expected JSON")
    })?;
    let missing =
        |f: &str| Error::protocol(format!("the device authorization response has no {f}"));
    let device_code = raw
        .device_code
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("device_code"))?;
    let user_code = raw
        .user_code
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("user_code"))?;
    let verification_uri = raw
        .verification_uri
        .or(raw.verification_url)
        .ok_or_else(|| missing("verification_uri"))?;
    let expires_in = seconds(raw.expires_in.as_ref()).ok_or_else(|| missing("expires_in"))?;
    let interval = seconds(raw.interval.as_ref())
        .filter(|i| *i > 0)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_INTERVAL);
    let message = raw.message.unwrap_or_else(|| {
        format!("To sign in, open {verification_uri} and enter the code {user_code}.")
    });
    Ok(DeviceAuthorization {
        info: DeviceCodeInfo {
            user_code,
            verification_uri,
            message,
            expires_in: Duration::from_secs(expires_in),
            interval,
        },
        device_code: DeviceCodeSecret::new(device_code),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_now(r: &HttpResponse) -> Result<DeviceAuthorization> {
        parse(r, std::time::SystemTime::now())
    }

    fn ok(body: &str) -> HttpResponse {
        http::Response::builder()
            .status(200)
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    #[test]
    fn parses_entra_and_rfc_shapes() {
        let d = parse_now(&ok(r#"{"device_code":"DC","user_code":"ABC","verification_uri":"https://microsoft.com/devicelogin","expires_in":"900","interval":"5","message":"go"}"#)).unwrap();
        assert_eq!(d.info.user_code, "ABC");
        assert_eq!(d.info.expires_in, Duration::from_secs(900));
        assert_eq!(d.device_code.expose_secret(), "DC");
        assert!(!format!("{d:?}").contains("\"DC\""));
        let d = parse_now(&ok(r#"{"device_code":"DC","user_code":"X","verification_url":"https://v","expires_in":60}"#)).unwrap();
        assert_eq!(d.info.interval, DEFAULT_INTERVAL);
        assert!(d.info.message.contains("https://v") && d.info.message.contains('X'));
    }

    #[test]
    fn missing_fields_and_errors() {
        assert!(matches!(
            parse_now(&ok(r#"{"user_code":"X"}"#)),
            Err(Error::Protocol(_))
        ));
        let r = http::Response::builder()
            .status(400)
            .body(br#"{"error":"invalid_client"}"#.to_vec())
            .unwrap();
        assert!(matches!(parse_now(&r), Err(Error::Service(_))));
    }
}
