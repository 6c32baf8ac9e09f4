//! Building token responses: RS256 access and ID tokens with Entra's
//! claims, `client_info`, rotating opaque refresh tokens, `expires_in`,
//! `ext_expires_in`, `refresh_in`, `foci` and `scope`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::directory::{App, User, derived_guid};
use crate::entra_error::EntraError;
use crate::scopes::{self, ScopeSet};
use crate::state::{EmulatorState, RefreshRecord, random_string};

/// Access tokens at least this long get `refresh_in` (half their lifetime),
/// as Entra does for long-lived tokens.
const REFRESH_IN_THRESHOLD: u64 = 2 * 3600;

/// A user token to issue.
pub(crate) struct UserGrant<'a> {
    pub(crate) user: &'a User,
    /// The tenant the token is for (`tid`).
    pub(crate) tenant_id: String,
    pub(crate) client: &'a App,
    pub(crate) set: &'a ScopeSet,
    pub(crate) nonce: Option<String>,
    /// The request had `client_info=1`.
    pub(crate) client_info: bool,
    /// `0` public, `1` secret, `2` certificate.
    pub(crate) azpacr: &'static str,
}

fn signing_failed(e: crate::EmulatorError) -> EntraError {
    tracing::error!(error = %e, "token signing failed");
    EntraError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        50000,
        "There was an error issuing a token.",
    )
}

/// Entra's `sub` is pairwise: the same user has a different `sub` in each
/// app.
fn pairwise_sub(oid: &str, app: &str) -> String {
    let d = Sha256::digest(format!("sub:{oid}:{app}").as_bytes());
    URL_SAFE_NO_PAD.encode(d)[..43].to_string()
}

/// `client_info`: base64url (no padding) of `{"uid":…,"utid":…}` with the
/// user's home object id and home tenant.
pub(crate) fn client_info(user: &User) -> String {
    URL_SAFE_NO_PAD.encode(json!({"uid": user.object_id, "utid": user.home_tenant}).to_string())
}

/// The consent-required error (AADSTS65001).
pub(crate) fn consent_required(client: &App) -> EntraError {
    EntraError::bad_request(
        "invalid_grant",
        65001,
        format!(
            "The user or administrator has not consented to use the application with ID '{}' named '{}'. Send an interactive authorization request for this user and resource.",
            client.client_id, client.name
        ),
    )
    .with_suberror("consent_required")
}

fn lifetimes(state: &EmulatorState, out: &mut Map<String, Value>) -> u64 {
    let t = &state.0.config.tokens;
    let life = t.access_token_lifetime_secs;
    out.insert("expires_in".into(), json!(life));
    out.insert(
        "ext_expires_in".into(),
        json!(life.saturating_add(t.ext_expires_extra_secs)),
    );
    if life >= REFRESH_IN_THRESHOLD {
        out.insert("refresh_in".into(), json!(life / 2));
    }
    life
}

/// Issues a user token response (JSON object), recording a refresh token
/// when `offline_access` was asked. Fails with `consent_required` when a
/// requested scope was never consented.
pub(crate) fn user_token_response(
    state: &EmulatorState,
    g: &UserGrant<'_>,
) -> Result<Value, EntraError> {
    let dir = &state.0.dir;
    let now = state.now();
    let api = match &g.set.api {
        Some(id) => dir.api(id),
        None => dir.default_api(),
    };
    let granted: Vec<String> = match api {
        Some(api) => {
            let user_consents = state
                .store()
                .consents
                .get(&(g.user.username.clone(), g.client.client_id.clone()))
                .and_then(|m| m.get(&api.app_id))
                .cloned();
            let have = scopes::consented(g.client, &api.app_id, user_consents.as_ref());
            if !scopes::missing_consent(g.set, &have).is_empty()
                || (g.set.default && have.is_empty())
            {
                return Err(consent_required(g.client));
            }
            let mut all: Vec<String> = g.set.scopes.clone();
            for s in have {
                if !all.contains(&s) {
                    all.push(s);
                }
            }
            all
        }
        None => Vec::new(),
    };
    let oid = g.user.object_id_in(&g.tenant_id);
    let iss = state.issuer(&g.tenant_id);
    let mut out = Map::new();
    out.insert("token_type".into(), json!("Bearer"));
    out.insert(
        "scope".into(),
        json!(scopes::response_scope(
            api,
            &granted,
            g.set.default_scope.as_deref(),
            &g.set.oidc
        )),
    );
    let life = lifetimes(state, &mut out);
    let aud = api.map_or(g.client.client_id.as_str(), |a| a.app_id.as_str());
    let scp = if granted.is_empty() {
        g.set
            .oidc
            .iter()
            .filter(|s| *s != "offline_access")
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        granted.join(" ")
    };
    let at = json!({
        "aud": aud,
        "iss": iss,
        "iat": now,
        "nbf": now,
        "exp": now.saturating_add(life),
        "aio": random_string(24),
        "azp": g.client.client_id,
        "azpacr": g.azpacr,
        "name": g.user.display_name,
        "oid": oid,
        "preferred_username": g.user.username,
        "rh": "0.emulator",
        "scp": scp,
        "sub": pairwise_sub(&oid, aud),
        "tid": g.tenant_id,
        "uti": random_string(16),
        "ver": "2.0",
    });
    out.insert(
        "access_token".into(),
        json!(state.0.key.sign(&at).map_err(signing_failed)?),
    );
    if g.set.has("offline_access") {
        let rt = format!("1.A{}", random_string(96));
        state.store().refresh_tokens.insert(
            rt.clone(),
            RefreshRecord {
                username: g.user.username.clone(),
                client_id: g.client.client_id.clone(),
                family_id: g.client.family_id.clone(),
                expires_at: now.saturating_add(state.0.config.tokens.refresh_token_lifetime_secs),
                revoked: false,
                redeemed: false,
            },
        );
        out.insert("refresh_token".into(), json!(rt));
    }
    if g.set.has("openid") {
        let mut id = json!({
            "aud": g.client.client_id,
            "iss": state.issuer(&g.tenant_id),
            "iat": now,
            "nbf": now,
            "exp": now.saturating_add(state.0.config.tokens.id_token_lifetime_secs),
            "name": g.user.display_name,
            "oid": oid,
            "preferred_username": g.user.username,
            "rh": "0.emulator",
            "sub": pairwise_sub(&oid, &g.client.client_id),
            "tid": g.tenant_id,
            "uti": random_string(16),
            "ver": "2.0",
        });
        if let Some(n) = &g.nonce {
            id["nonce"] = json!(n);
        }
        if g.set.has("email")
            && let Some(e) = &g.user.email
        {
            id["email"] = json!(e);
        }
        out.insert(
            "id_token".into(),
            json!(state.0.key.sign(&id).map_err(signing_failed)?),
        );
    }
    if g.client_info {
        out.insert("client_info".into(), json!(client_info(g.user)));
    }
    if let Some(f) = &g.client.family_id {
        out.insert("foci".into(), json!(f));
    }
    Ok(Value::Object(out))
}

/// Issues an app-only token (client credentials): `roles` from the app's
/// application permissions, no `scope` member, as Entra answers. With a
/// federated managed identity path the token carries it as its `fmi_path`
/// claim, and its subject is the path under the app's service principal.
pub(crate) fn app_token_response(
    state: &EmulatorState,
    client: &App,
    tenant_id: &str,
    set: &ScopeSet,
    azpacr: &'static str,
    fmi_path: Option<&str>,
) -> Result<Value, EntraError> {
    app_token_response_bound(state, client, tenant_id, set, azpacr, fmi_path, None)
}

/// [`app_token_response`], bound to a TLS client certificate when
/// `x5t_s256` is given: `cnf: {"x5t#S256": ...}` and `token_type: mtls_pop`.
pub(crate) fn app_token_response_bound(
    state: &EmulatorState,
    client: &App,
    tenant_id: &str,
    set: &ScopeSet,
    azpacr: &'static str,
    fmi_path: Option<&str>,
    x5t_s256: Option<&str>,
) -> Result<Value, EntraError> {
    let api_id = match (&set.api, set.default, set.scopes.is_empty()) {
        (Some(api), true, true) if set.oidc.is_empty() => api.clone(),
        _ => {
            return Err(EntraError::bad_request(
                "invalid_scope",
                1002012,
                "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
            ));
        }
    };
    let now = state.now();
    let oid = derived_guid(&format!("sp:{}:{}", client.client_id, tenant_id));
    let mut out = Map::new();
    out.insert(
        "token_type".into(),
        json!(if x5t_s256.is_some() {
            "mtls_pop"
        } else {
            "Bearer"
        }),
    );
    let life = lifetimes(state, &mut out);
    let mut at = json!({
        "aud": api_id,
        "iss": state.issuer(tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now.saturating_add(life),
        "aio": random_string(24),
        "azp": client.client_id,
        "azpacr": azpacr,
        "idtyp": "app",
        "oid": oid,
        "rh": "0.emulator",
        "sub": oid,
        "tid": tenant_id,
        "uti": random_string(16),
        "ver": "2.0",
    });
    if let Some(roles) = client.application.get(&api_id)
        && !roles.is_empty()
    {
        at["roles"] = json!(roles);
    }
    if let Some(x5t) = x5t_s256 {
        at["cnf"] = json!({ "x5t#S256": x5t });
    }
    if let Some(path) = fmi_path {
        at["fmi_path"] = json!(path);
        at["sub"] = json!(format!("{oid}/{path}"));
    }
    out.insert(
        "access_token".into(),
        json!(state.0.key.sign(&at).map_err(signing_failed)?),
    );
    Ok(Value::Object(out))
}
