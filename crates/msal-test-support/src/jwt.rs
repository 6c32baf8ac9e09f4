//! Hand-made token parts for tests that script a server: base64url text, unsigned
//! JWTs and `client_info`. msal checks an ID token's claims, never its signature
//! (as every MSAL), so `alg: none` tokens are enough wherever no emulator signs.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// Base64url without padding, as JWT segments and `client_info` use.
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Base64url of a JSON value's compact text.
pub fn b64url_json(value: &Value) -> String {
    b64url(value.to_string())
}

/// An unsecured JWT (`alg: none`, empty signature) carrying `claims`.
pub fn unsigned_jwt(claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64url(r#"{"alg":"none","typ":"JWT"}"#),
        b64url_json(claims)
    )
}

/// The `client_info` Entra returns: base64url of `{"uid":..,"utid":..}`.
pub fn client_info(uid: &str, utid: &str) -> String {
    b64url(format!(r#"{{"uid":"{uid}","utid":"{utid}"}}"#))
}

/// Seconds since the Unix epoch on the real clock.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
