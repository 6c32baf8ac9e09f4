//! OpenID Connect discovery, instance discovery (with alias groups), the
//! JWKS and user-realm discovery.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use url::Url;

use super::AuthorityTenant;
use super::ctx::{RequestCtx, percent_decode};
use crate::entra_error::{EntraError, json_response};

/// Alias groups of the clouds Entra serves, as instance discovery publishes
/// them: (preferred_network, preferred_cache, aliases).
const CLOUDS: [(&str, &str, &[&str]); 4] = [
    (
        "login.microsoftonline.com",
        "login.windows.net",
        &[
            "login.microsoftonline.com",
            "login.windows.net",
            "login.microsoft.com",
            "sts.windows.net",
        ],
    ),
    (
        "login.partner.microsoftonline.cn",
        "login.partner.microsoftonline.cn",
        &["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"],
    ),
    (
        "login.microsoftonline.de",
        "login.microsoftonline.de",
        &["login.microsoftonline.de"],
    ),
    (
        "login.microsoftonline.us",
        "login.microsoftonline.us",
        &["login.microsoftonline.us", "login.usgovcloudapi.net"],
    ),
];

fn issuer_for(ctx: &RequestCtx, tenant: &AuthorityTenant) -> String {
    let s = &ctx.state;
    match tenant {
        AuthorityTenant::Tenant(id) => s.issuer(id),
        _ => format!("{}://{}/{{tenantid}}/v2.0", s.0.scheme, s.0.issuer_host),
    }
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub(crate) async fn openid_configuration(ctx: RequestCtx) -> Response {
    let tenant = match AuthorityTenant::resolve(&ctx.state, &ctx.tenant_segment) {
        Ok(t) => t,
        Err(e) => return e.response(&ctx),
    };
    let base = format!("{}/{}", ctx.base_url(), tenant.path_segment());
    let mut body = json!({
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer_for(&ctx, &tenant),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{}/oidc/userinfo", ctx.base_url()),
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{base}/kerberos"),
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    });
    // RFC 8705 §5: where mutual-TLS clients send token requests.
    if let Some(origin) = ctx.state.0.mtls_origin.get() {
        body["mtls_endpoint_aliases"] = json!({
            "token_endpoint": format!("{origin}/{}/oauth2/v2.0/token", tenant.path_segment()),
        });
        body["tls_client_certificate_bound_access_tokens"] = json!(true);
    }
    json_response(StatusCode::OK, &body, &ctx)
}

/// The emulator's own alias group: every host it answers for, with and
/// without port (MSAL Python compares host names without the port).
fn own_group(ctx: &RequestCtx) -> Value {
    let hosts = &ctx.state.0.hosts;
    let mut aliases: Vec<String> = hosts.clone();
    for h in hosts {
        if let Some((bare, _)) = h.rsplit_once(':')
            && !bare.ends_with(']')
            && !aliases.iter().any(|a| a == bare)
        {
            aliases.push(bare.to_string());
        }
    }
    json!({
        "preferred_network": hosts[0],
        "preferred_cache": hosts.get(1).unwrap_or(&hosts[0]),
        "aliases": aliases,
    })
}

fn known_host(ctx: &RequestCtx, host: &str) -> bool {
    let bare = host.rsplit_once(':').map_or(host, |(b, _)| b);
    ctx.state.is_own_host(host)
        || ctx
            .state
            .0
            .hosts
            .iter()
            .any(|h| h.rsplit_once(':').map_or(h.as_str(), |(b, _)| b) == bare)
        || CLOUDS.iter().any(|(_, _, a)| a.contains(&bare))
}

/// MSAL Python builds `authorization_endpoint` from the host name without
/// the port; point such a bare own host back at the port we listen on.
fn with_own_port(ctx: &RequestCtx, host: String) -> String {
    if ctx.state.is_own_host(&host) || host.contains(':') {
        return host;
    }
    ctx.state
        .0
        .hosts
        .iter()
        .find(|h| h.rsplit_once(':').is_some_and(|(bare, _)| bare == host))
        .cloned()
        .unwrap_or(host)
}

/// `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=…`.
pub(crate) async fn instance(ctx: RequestCtx) -> Response {
    let params = match ctx.query_params() {
        Ok(p) => p,
        Err(e) => return e.response(&ctx),
    };
    let (host, tenant) = match params.get("authorization_endpoint") {
        Some(ep) => {
            let parsed = Url::parse(ep).ok().and_then(|u| {
                let host = u.host_str()?.to_ascii_lowercase();
                let host = match u.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host,
                };
                let tenant = u.path_segments()?.next()?.to_string();
                Some((host, tenant))
            });
            match parsed {
                Some((h, t)) if known_host(&ctx, &h) => {
                    (with_own_port(&ctx, h), percent_decode(&t))
                }
                _ => {
                    return EntraError::bad_request(
                        "invalid_instance",
                        50049,
                        "Unknown or invalid instance.",
                    )
                    .response(&ctx);
                }
            }
        }
        None => (ctx.host.clone(), "common".to_string()),
    };
    let mut metadata = vec![own_group(&ctx)];
    for (network, cache, aliases) in CLOUDS {
        metadata.push(
            json!({"preferred_network": network, "preferred_cache": cache, "aliases": aliases}),
        );
    }
    let body = json!({
        "tenant_discovery_endpoint": format!("{}://{}/{}/v2.0/.well-known/openid-configuration", ctx.state.0.scheme, host, tenant),
        "api-version": params.get("api-version").unwrap_or("1.1"),
        "metadata": metadata,
    });
    json_response(StatusCode::OK, &body, &ctx)
}

/// `GET /{tenant}/discovery/v2.0/keys`.
pub(crate) async fn keys(ctx: RequestCtx) -> Response {
    let tenant = match AuthorityTenant::resolve(&ctx.state, &ctx.tenant_segment) {
        Ok(t) => t,
        Err(e) => return e.response(&ctx),
    };
    let body = json!({"keys": [ctx.state.0.key.jwk(&issuer_for(&ctx, &tenant))]});
    json_response(StatusCode::OK, &body, &ctx)
}

/// `GET /common/userrealm/{username}?api-version=1.0`: `Managed` for users
/// of a configured tenant, `MSA` for personal accounts, else `Unknown`.
pub(crate) async fn user_realm(ctx: RequestCtx, uri: axum::http::Uri) -> Response {
    let username = percent_decode(uri.path().rsplit('/').next().unwrap_or(""));
    let dir = &ctx.state.0.dir;
    let domain = username
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase());
    let tenant = dir
        .user(&username)
        .and_then(|u| dir.tenant(&u.home_tenant))
        .or_else(|| domain.as_deref().and_then(|d| dir.tenant_by_name(d)));
    let body = match tenant {
        Some(t) if t.consumers => json!({
            "ver": "1.0", "account_type": "MSA", "domain_name": domain.unwrap_or_default(),
            "cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        }),
        Some(t) => json!({
            "ver": "1.0", "account_type": "Managed",
            "domain_name": t.domains.first().cloned().unwrap_or_else(|| t.id.clone()),
            "cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        }),
        None => json!({
            "ver": "1.0", "account_type": "Unknown",
            "cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        }),
    };
    json_response(StatusCode::OK, &body, &ctx)
}
