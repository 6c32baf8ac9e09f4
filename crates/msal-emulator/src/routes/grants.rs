//! The grants of the token endpoint: authorization code (PKCE), refresh
//! token (rotation, FOCI, revocation), client credentials, device code,
//! password and on-behalf-of.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::AuthorityTenant;
use super::client_auth::{self, ClientAuth};
use super::ctx::{Params, RequestCtx};
use crate::directory::{App, User};
use crate::entra_error::EntraError;
use crate::scopes::{self, ScopeSet};
use crate::state::{DeviceCodeStatus, EmulatorState};
use crate::tokens::{self, UserGrant};

fn invalid_grant(code: u32, message: impl Into<String>) -> EntraError {
    EntraError::bad_request("invalid_grant", code, message)
}

/// Refuses a confidential client without a credential, unless the grant is
/// a public-client flow the app allows.
fn require_credential(app: &App, auth: ClientAuth, public_flow: bool) -> Result<(), EntraError> {
    if app.is_public() || auth != ClientAuth::None || (public_flow && app.allow_public_client_flows)
    {
        Ok(())
    } else {
        Err(client_auth::credential_required())
    }
}

/// A forced `interaction_required` that applies to this user and client.
pub(crate) fn check_interaction(
    state: &EmulatorState,
    user: &User,
    client_id: &str,
) -> Result<(), EntraError> {
    let store = state.store();
    let rule = store.interaction_rules.iter().find(|r| {
        r.username.as_deref().is_none_or(|u| u == user.username)
            && r.client_id
                .as_deref()
                .is_none_or(|c| c.eq_ignore_ascii_case(client_id))
            && !r.satisfied.contains(&user.username)
    });
    let Some(rule) = rule else { return Ok(()) };
    let message = match rule.code {
        50079 => "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access the resource.".to_string(),
        53003 => "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.".to_string(),
        50076 => format!("Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{client_id}'."),
        _ => "The user must sign in interactively.".to_string(),
    };
    let mut e = EntraError::bad_request("interaction_required", rule.code, message)
        .with_claims(rule.claims.clone());
    if let Some(s) = &rule.suberror {
        e = e.with_suberror(s);
    }
    Err(e)
}

/// Marks forced interaction as satisfied for `username` (an interactive
/// sign-in happened).
pub(crate) fn satisfy_interaction(state: &EmulatorState, username: &str) {
    for r in state.store().interaction_rules.iter_mut() {
        if r.username.as_deref().is_none_or(|u| u == username)
            && !r.satisfied.iter().any(|s| s == username)
        {
            r.satisfied.push(username.to_string());
        }
    }
}

fn wants_client_info(params: &Params) -> bool {
    params.get("client_info") == Some("1")
}

/// Issues a user token; `who` is the user and the tenant of the token.
fn issue(
    ctx: &RequestCtx,
    params: &Params,
    (user, tenant_id): (&User, String),
    (app, auth): (&App, ClientAuth),
    set: &ScopeSet,
    nonce: Option<String>,
) -> Result<Value, EntraError> {
    tokens::user_token_response(
        &ctx.state,
        &UserGrant {
            user,
            tenant_id,
            client: app,
            set,
            nonce,
            client_info: wants_client_info(params),
            azpacr: auth.azpacr(),
        },
    )
}

fn user_by_name<'a>(state: &'a EmulatorState, username: &str) -> Result<&'a User, EntraError> {
    state.0.dir.user(username).ok_or_else(|| {
        invalid_grant(
            50034,
            "The user account {EUII Hidden} does not exist in the directory. To sign into this application, the account must be added to the directory.",
        )
    })
}

/// `grant_type=authorization_code`.
pub(crate) fn authorization_code(
    ctx: &RequestCtx,
    params: &Params,
    tenant: &AuthorityTenant,
) -> Result<Value, EntraError> {
    let (app, auth) = client_auth::authenticate(ctx, params, tenant)?;
    require_credential(&app, auth, false)?;
    let code = params.require("code")?;
    let record = {
        let mut store = ctx.state.store();
        let rec = store.auth_codes.get_mut(code).ok_or_else(|| {
            invalid_grant(
                70000,
                "The provided value for the 'code' parameter is not valid.",
            )
        })?;
        if rec.redeemed {
            return Err(invalid_grant(
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
            ));
        }
        if rec
            .issued_at
            .saturating_add(ctx.state.0.config.tokens.auth_code_lifetime_secs)
            <= ctx.now
        {
            return Err(invalid_grant(
                70008,
                "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
            ));
        }
        if !rec.client_id.eq_ignore_ascii_case(&app.client_id) {
            return Err(invalid_grant(
                70000,
                "The provided value for the 'code' parameter is not valid. The code was not issued to this client.",
            ));
        }
        if let Some(uri) = params.get("redirect_uri")
            && uri != rec.redirect_uri
        {
            return Err(invalid_grant(
                500112,
                format!(
                    "The reply address '{uri}' does not match the reply address '{}' provided when requesting Authorization code.",
                    rec.redirect_uri
                ),
            ));
        }
        if let Some(challenge) = &rec.code_challenge {
            let verifier = params.require("code_verifier")?;
            let ok = match rec.code_challenge_method.as_deref() {
                Some("S256") => {
                    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == *challenge
                }
                _ => verifier == challenge,
            };
            if !ok {
                return Err(invalid_grant(
                    50148,
                    "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
                ));
            }
        }
        rec.redeemed = true;
        rec.clone()
    };
    let user = user_by_name(&ctx.state, &record.username)?;
    if let AuthorityTenant::Tenant(id) = tenant
        && *id != record.tenant_id
    {
        return Err(invalid_grant(
            700005,
            "Provided Authorization Code is intended to use against other tenant, thus rejected.",
        ));
    }
    let scope = params.get("scope").unwrap_or(&record.scope);
    let mut set = scopes::parse(&ctx.state.0.dir, &app, scope, true)?;
    set.other_resources.clear();
    let who = (user, record.tenant_id.clone());
    issue(ctx, params, who, (&app, auth), &set, record.nonce.clone())
}

/// `grant_type=refresh_token`.
pub(crate) fn refresh_token(
    ctx: &RequestCtx,
    params: &Params,
    tenant: &AuthorityTenant,
) -> Result<Value, EntraError> {
    let (app, auth) = client_auth::authenticate(ctx, params, tenant)?;
    require_credential(&app, auth, true)?;
    let rt = params.require("refresh_token")?;
    let single_use = ctx.state.0.config.tokens.single_use_refresh_tokens;
    let record = {
        let mut store = ctx.state.store();
        let rec = store.refresh_tokens.get_mut(rt).ok_or_else(|| {
            invalid_grant(9002313, "Invalid request. Request is malformed or invalid.")
        })?;
        if rec.revoked {
            return Err(invalid_grant(
                50173,
                "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
            ));
        }
        if rec.expires_at <= ctx.now {
            return Err(invalid_grant(
                700082,
                "The refresh token has expired due to inactivity. The token was issued too long ago and was inactive.",
            ));
        }
        if single_use && rec.redeemed {
            return Err(invalid_grant(
                70000,
                "Provided grant is invalid or malformed. The refresh token was already redeemed.",
            ));
        }
        let same_client = rec.client_id.eq_ignore_ascii_case(&app.client_id);
        let family = rec.family_id.is_some() && rec.family_id == app.family_id;
        if !same_client && !family {
            return Err(
                invalid_grant(70000, "Provided grant is invalid or malformed.")
                    .with_suberror("client_mismatch")
                    .with_additional_info("client_mismatch"),
            );
        }
        if single_use {
            rec.redeemed = true;
        }
        rec.clone()
    };
    let user = user_by_name(&ctx.state, &record.username)?;
    let tenant_id = tenant
        .tenant_for(&ctx.state, user)
        .ok_or_else(|| tenant.user_not_in_tenant(user, &app.client_id))?;
    check_interaction(&ctx.state, user, &app.client_id)?;
    let scope = params
        .get("scope")
        .unwrap_or("openid profile offline_access");
    let mut set = scopes::parse(&ctx.state.0.dir, &app, scope, false)?;
    // A refresh always rotates: Entra returns a new refresh token.
    if !set.has("offline_access") {
        set.oidc.push("offline_access".into());
    }
    issue(ctx, params, (user, tenant_id), (&app, auth), &set, None)
}

/// `grant_type=client_credentials`.
pub(crate) fn client_credentials(
    ctx: &RequestCtx,
    params: &Params,
    tenant: &AuthorityTenant,
) -> Result<Value, EntraError> {
    let (app, auth) = client_auth::authenticate(ctx, params, tenant)?;
    if auth == ClientAuth::None {
        return Err(client_auth::credential_required());
    }
    let AuthorityTenant::Tenant(tenant_id) = tenant else {
        return Err(EntraError::bad_request(
            "invalid_request",
            50059,
            "No tenant-identifying information found in either the request or implied by any provided credentials.",
        ));
    };
    let scope = params.require("scope")?;
    let set = scopes::parse(&ctx.state.0.dir, &app, scope, false)?;
    // A federated managed identity path (Entra's FMI): reflected in the token.
    let fmi_path = params.get("fmi_path").filter(|p| !p.is_empty());
    tokens::app_token_response(&ctx.state, &app, tenant_id, &set, auth.azpacr(), fmi_path)
}

/// `grant_type=urn:ietf:params:oauth:grant-type:device_code`.
pub(crate) fn device_code(
    ctx: &RequestCtx,
    params: &Params,
    tenant: &AuthorityTenant,
) -> Result<Value, EntraError> {
    let (app, auth) = client_auth::authenticate(ctx, params, tenant)?;
    require_credential(&app, auth, true)?;
    let code = params
        .get("device_code")
        .or(params.get("code"))
        .ok_or_else(|| EntraError::missing("device_code"))?;
    let settings = &ctx.state.0.config.device_code;
    let (username, tenant_id, scope) = {
        let mut store = ctx.state.store();
        let rec = store
            .device_codes
            .iter_mut()
            .find(|d| d.device_code == code && d.client_id.eq_ignore_ascii_case(&app.client_id))
            .ok_or_else(|| {
                EntraError::bad_request(
                    "bad_verification_code",
                    70000,
                    "The provided value for the input parameter 'device_code' is not valid.",
                )
            })?;
        if rec.expires_at <= ctx.now && rec.status != DeviceCodeStatus::Redeemed {
            return Err(EntraError::bad_request(
                "expired_token",
                70020,
                "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
            ));
        }
        match rec.status.clone() {
            DeviceCodeStatus::Pending => {
                let too_soon = settings.enforce_interval
                    && rec
                        .last_poll
                        .is_some_and(|t| t.saturating_add(settings.interval_secs) > ctx.now);
                rec.last_poll = Some(ctx.now);
                return Err(if too_soon {
                    EntraError::bad_request(
                        "slow_down",
                        70016,
                        "OAuth 2.0 device flow error. Polling too frequently; increase the interval between requests.",
                    )
                } else {
                    EntraError::bad_request(
                        "authorization_pending",
                        70016,
                        "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                    )
                });
            }
            DeviceCodeStatus::Denied => {
                return Err(EntraError::bad_request(
                    "access_denied",
                    65004,
                    "User declined to consent to access the app.",
                ));
            }
            DeviceCodeStatus::Redeemed => {
                return Err(invalid_grant(
                    54005,
                    "OAuth2 device code was already redeemed, please retry with a new valid code or use an existing refresh token.",
                ));
            }
            DeviceCodeStatus::Approved {
                username,
                tenant_id,
            } => {
                rec.status = DeviceCodeStatus::Redeemed;
                (username, tenant_id, rec.scope.clone())
            }
        }
    };
    let user = user_by_name(&ctx.state, &username)?;
    let set = scopes::parse(&ctx.state.0.dir, &app, &scope, false)?;
    issue(ctx, params, (user, tenant_id), (&app, auth), &set, None)
}

/// `grant_type=password` (resource owner password credentials).
pub(crate) fn password(
    ctx: &RequestCtx,
    params: &Params,
    tenant: &AuthorityTenant,
) -> Result<Value, EntraError> {
    let (app, auth) = client_auth::authenticate(ctx, params, tenant)?;
    require_credential(&app, auth, true)?;
    let username = params.require("username")?;
    let password = params.require("password")?;
    let user = user_by_name(&ctx.state, username)?;
    if user.password != password {
        return Err(invalid_grant(
            50126,
            "Error validating credentials due to invalid username or password.",
        ));
    }
    let tenant_id = tenant
        .tenant_for(&ctx.state, user)
        .ok_or_else(|| tenant.user_not_in_tenant(user, &app.client_id))?;
    check_interaction(&ctx.state, user, &app.client_id)?;
    let scope = params.require("scope")?;
    let set = scopes::parse(&ctx.state.0.dir, &app, scope, false)?;
    issue(ctx, params, (user, tenant_id), (&app, auth), &set, None)
}

/// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` with
/// `requested_token_use=on_behalf_of`.
pub(crate) fn on_behalf_of(
    ctx: &RequestCtx,
    params: &Params,
    tenant: &AuthorityTenant,
) -> Result<Value, EntraError> {
    let (app, auth) = client_auth::authenticate(ctx, params, tenant)?;
    if auth == ClientAuth::None {
        return Err(client_auth::credential_required());
    }
    if params.require("requested_token_use")? != "on_behalf_of" {
        return Err(EntraError::bad_request(
            "invalid_request",
            90013,
            "Invalid input received from the user: 'requested_token_use' must be 'on_behalf_of'.",
        ));
    }
    let assertion = params.require("assertion")?;
    let claims = client_auth::verify_user_assertion(ctx, &app, assertion)?;
    let username = claims
        .get("preferred_username")
        .and_then(Value::as_str)
        .unwrap_or("");
    let user = user_by_name(&ctx.state, username)?;
    let assertion_tid = claims
        .get("tid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let tenant_id = match tenant {
        AuthorityTenant::Tenant(id) if user.member_of(id) => id.clone(),
        AuthorityTenant::Tenant(_) => return Err(tenant.user_not_in_tenant(user, &app.client_id)),
        _ => assertion_tid,
    };
    check_interaction(&ctx.state, user, &app.client_id)?;
    let scope = params.require("scope")?;
    let set = scopes::parse(&ctx.state.0.dir, &app, scope, false)?;
    issue(ctx, params, (user, tenant_id), (&app, auth), &set, None)
}
