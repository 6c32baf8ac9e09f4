//! The OAuth 2.0 / OpenID Connect wire protocol, and nothing else: request
//! bodies, response parsing, error bodies, ID token claims. No cache, no
//! network (the engine sends what this module builds).
//!
//! - [`scopes`]: scope validation and decoration (spec §4.1).
//! - [`claims`]: claims requests merged with client capabilities (`xms_cc`).
//! - [`token`]: token request forms and token response parsing.
//! - [`errors`]: OAuth error bodies mapped to [`crate::Error`].
//! - [`device_code`]: the device authorization response.
//! - [`authorize`]: the authorization URL and the redirect it comes back on.
//! - [`id_token`]: ID token claims and their checks.

pub mod authorize;
pub mod claims;
pub mod device_code;
pub mod errors;
pub mod id_token;
pub mod scopes;
pub mod token;

/// `grant_type` values.
pub mod grant {
    /// Authorization code (interactive sign-in).
    pub const AUTHORIZATION_CODE: &str = "authorization_code";
    /// Refresh token.
    pub const REFRESH_TOKEN: &str = "refresh_token";
    /// Username and password (ROPC).
    pub const PASSWORD: &str = "password";
    /// Device code (RFC 8628).
    pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
    /// Client credentials.
    pub const CLIENT_CREDENTIALS: &str = "client_credentials";
    /// On-behalf-of (JWT bearer).
    pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
}
