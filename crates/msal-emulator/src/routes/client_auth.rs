//! Client authentication at the token endpoint: none (public clients),
//! `client_secret` (form or HTTP Basic), or a `client_assertion` JWT signed
//! with a certificate registered for the app (RS256 or PS256; the
//! certificate is named by `x5t#S256`, `x5t` or a hex `kid`). Also verifies
//! on-behalf-of user assertions against the emulator's own key.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use super::AuthorityTenant;
use super::ctx::{Params, RequestCtx};
use crate::directory::App;
use crate::entra_error::EntraError;

/// The `client_assertion_type` for JWT client assertions.
pub(crate) const JWT_BEARER_ASSERTION: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Clock skew Entra tolerates on assertions.
const SKEW: u64 = 300;

/// 9999-12-31 23:59:59Z, the latest instant Entra's clock can represent
/// (.NET's `DateTime.MaxValue`). An assertion's `exp` or `nbf` beyond it is
/// refused as out of range.
const MAX_JWT_TIME: u64 = 253_402_300_799;

/// How the client proved itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    None,
    Secret,
    Certificate,
}

impl ClientAuth {
    /// The `azpacr` claim.
    pub(crate) fn azpacr(self) -> &'static str {
        match self {
            ClientAuth::None => "0",
            ClientAuth::Secret => "1",
            ClientAuth::Certificate => "2",
        }
    }
}

fn invalid_client(code: u32, message: impl Into<String>) -> EntraError {
    EntraError::new(StatusCode::UNAUTHORIZED, "invalid_client", code, message)
}

fn digest_eq(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

/// `(client_id, secret)` from an `Authorization: Basic` header.
fn basic_credentials(ctx: &RequestCtx) -> Option<(String, String)> {
    let v = ctx.authorization.as_deref()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| super::ctx::percent_decode(s);
    Some((dec(id), dec(secret)))
}

/// Finds the app and checks its credential. A confidential app that sent
/// none comes back with [`ClientAuth::None`]; the grant decides whether
/// that is allowed.
pub(crate) fn authenticate(
    ctx: &RequestCtx,
    params: &Params,
    tenant: &AuthorityTenant,
) -> Result<(App, ClientAuth), EntraError> {
    let basic = basic_credentials(ctx);
    let client_id = params
        .get("client_id")
        .map(str::to_string)
        .or_else(|| basic.as_ref().map(|b| b.0.clone()))
        .ok_or_else(|| EntraError::missing("client_id"))?;
    let app = ctx.state.0.dir.app(&client_id).cloned().ok_or_else(|| {
        EntraError::bad_request(
            "unauthorized_client",
            700016,
            format!("Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", tenant.path_segment()),
        )
    })?;
    let secret = params
        .get("client_secret")
        .map(str::to_string)
        .or_else(|| basic.map(|b| b.1));
    let assertion = params.get("client_assertion");
    if app.is_public() {
        if secret.is_some() || assertion.is_some() {
            return Err(invalid_client(
                700025,
                "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
            ));
        }
        return Ok((app, ClientAuth::None));
    }
    if let Some(secret) = secret {
        if app.secrets.iter().any(|s| digest_eq(s, &secret)) {
            return Ok((app, ClientAuth::Secret));
        }
        return Err(invalid_client(
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                app.client_id
            ),
        ));
    }
    if let Some(assertion) = assertion {
        if params.get("client_assertion_type") != Some(JWT_BEARER_ASSERTION) {
            return Err(invalid_client(
                7000218,
                format!("The value of 'client_assertion_type' must be '{JWT_BEARER_ASSERTION}'."),
            ));
        }
        verify_client_assertion(ctx, &app, assertion, tenant)?;
        return Ok((app, ClientAuth::Certificate));
    }
    Ok((app, ClientAuth::None))
}

/// The error for a confidential client that sent no credential.
pub(crate) fn credential_required() -> EntraError {
    invalid_client(
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    )
}

fn check_times(ctx: &RequestCtx, claims: &Value, code: u32, what: &str) -> Result<(), EntraError> {
    let now = ctx.now;
    let exp = claims.get("exp").and_then(Value::as_u64);
    let nbf = claims.get("nbf").and_then(Value::as_u64);
    // A time past what Entra can represent is no time at all: refused
    // rather than treated as "never expires".
    let representable = |t: u64| t <= MAX_JWT_TIME;
    let ok = exp.is_some_and(|e| representable(e) && e.saturating_add(SKEW) > now)
        && nbf.is_none_or(|n| representable(n) && n <= now.saturating_add(SKEW));
    if ok {
        Ok(())
    } else {
        Err(EntraError::bad_request(
            "invalid_client",
            code,
            format!(
                "{what} is not within its valid time range. Current time: {}, expiry time of assertion {}.",
                ctx.timestamp(),
                exp.map(crate::entra_error::format_timestamp)
                    .unwrap_or_default()
            ),
        ))
    }
}

fn no_time_validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v
}

fn verify_client_assertion(
    ctx: &RequestCtx,
    app: &App,
    assertion: &str,
    tenant: &AuthorityTenant,
) -> Result<(), EntraError> {
    let malformed = || invalid_client(50027, "JWT token is invalid or malformed.");
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| malformed())?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(invalid_client(
            5002738,
            "Invalid JWT token. Client assertions must be signed with RS256 or PS256.",
        ));
    }
    let extra = ctx
        .state
        .store()
        .extra_certs
        .get(&app.client_id)
        .cloned()
        .unwrap_or_default();
    let cert = app
        .certificates
        .iter()
        .chain(extra.iter())
        .find(|c| c.matches(header.x5t.as_deref(), header.x5t_s256.as_deref(), header.kid.as_deref()))
        .ok_or_else(|| {
            invalid_client(
                700027,
                format!("Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '{}'. Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]",
                    header.x5t_s256.as_deref().or(header.x5t.as_deref()).or(header.kid.as_deref()).unwrap_or(""), app.client_id),
            )
        })?;
    let data = jsonwebtoken::decode::<Value>(
        assertion,
        &DecodingKey::from_rsa_der(&cert.rsa_public_der),
        &no_time_validation(header.alg),
    )
    .map_err(|_| invalid_client(700027, "Client assertion failed signature validation."))?;
    let claims = data.claims;
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    if !iss.eq_ignore_ascii_case(&app.client_id) || !sub.eq_ignore_ascii_case(&app.client_id) {
        return Err(invalid_client(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
        ));
    }
    let auds: Vec<&str> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !auds.iter().any(|a| audience_ok(ctx, a, tenant)) {
        return Err(invalid_client(
            700212,
            "Client assertion audience claim does not match the token endpoint of the tenant. The audience must be the token endpoint URL.",
        ));
    }
    check_times(ctx, &claims, 700024, "Client assertion")
}

/// An assertion's `aud` must be this tenant's token endpoint (v2 or v1) or
/// its v2 issuer, on one of the emulator's host names or a public-cloud
/// alias.
fn audience_ok(ctx: &RequestCtx, aud: &str, tenant: &AuthorityTenant) -> bool {
    let Ok(u) = Url::parse(aud) else { return false };
    let Some(host) = u.host_str() else {
        return false;
    };
    let host = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let host_ok = ctx.state.is_own_host(&host) || host.starts_with("login.");
    let segs: Vec<&str> = u.path().trim_matches('/').split('/').collect();
    let path_ok = matches!(
        segs.as_slice(),
        [_, "oauth2", "v2.0", "token"] | [_, "oauth2", "token"] | [_, "v2.0"]
    );
    let tenant_ok = segs
        .first()
        .and_then(|s| AuthorityTenant::resolve(&ctx.state, s).ok())
        .is_some_and(|t| t == *tenant);
    host_ok && path_ok && tenant_ok
}

/// Verifies an on-behalf-of assertion: a user access token this emulator
/// signed, still valid, whose audience is the calling app.
pub(crate) fn verify_user_assertion(
    ctx: &RequestCtx,
    app: &App,
    assertion: &str,
) -> Result<Value, EntraError> {
    let bad = |code: u32, m: &str| EntraError::bad_request("invalid_grant", code, m.to_string());
    let data = jsonwebtoken::decode::<Value>(
        assertion,
        &ctx.state.0.key.decoding_key(),
        &no_time_validation(Algorithm::RS256),
    )
    .map_err(|_| {
        bad(
            50013,
            "Assertion failed signature validation. [Reason - The key was not found.]",
        )
    })?;
    let claims = data.claims;
    let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
    if exp.saturating_add(SKEW) <= ctx.now {
        return Err(bad(
            500133,
            "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token.",
        ));
    }
    let aud = claims.get("aud").and_then(Value::as_str).unwrap_or("");
    let api_uris = ctx
        .state
        .0
        .dir
        .api(&app.client_id)
        .map(|a| a.identifier_uris.clone())
        .unwrap_or_default();
    if !aud.eq_ignore_ascii_case(&app.client_id) && !api_uris.iter().any(|u| u == aud) {
        return Err(bad(
            50013,
            "Assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value., Assertion audience does not match the Client app presenting the assertion.]",
        ));
    }
    if claims.get("scp").is_none() || claims.get("preferred_username").is_none() {
        return Err(bad(
            50013,
            "Assertion is not a user token: an on-behalf-of assertion must carry a user's delegated token.",
        ));
    }
    Ok(claims)
}
