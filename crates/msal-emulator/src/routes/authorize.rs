//! `/{tenant}/oauth2/v2.0/authorize`: validates the request, signs the user
//! in (session cookie for SSO, `prompt`, `login_hint`), asks for consent,
//! and redirects to the app with `code` and `state` (`response_mode`
//! query, fragment or form_post).

use axum::body::Bytes;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use url::Url;

use super::AuthorityTenant;
use super::ctx::{Params, RequestCtx, parse_params};
use super::html;
use super::signin;
use crate::directory::App;
use crate::entra_error::EntraError;
use crate::scopes;
use crate::state::{FlowKind, SignInFlow, random_string};

/// The session cookie (SSO across authorize requests).
pub(crate) const SESSION_COOKIE: &str = "msalemu_session";

/// A validated authorize request.
#[derive(Clone, Debug)]
pub(crate) struct AuthorizeRequest {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) response_mode: ResponseMode,
    pub(crate) state: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) scope: String,
    pub(crate) code_challenge: Option<String>,
    pub(crate) code_challenge_method: Option<String>,
    pub(crate) prompt: Option<String>,
    pub(crate) login_hint: Option<String>,
}

/// How the code goes back to the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

fn is_loopback(u: &Url) -> bool {
    matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// Entra's redirect URI match: exact, except that the port of a loopback
/// URI is ignored (RFC 8252 7.3) and an empty path equals `/`.
pub(crate) fn redirect_matches(registered: &str, given: &str) -> bool {
    if registered == given {
        return true;
    }
    let (Ok(r), Ok(g)) = (Url::parse(registered), Url::parse(given)) else {
        return false;
    };
    let port_ok = r.port() == g.port() || (is_loopback(&r) && r.scheme() == "http");
    r.scheme() == g.scheme()
        && r.host_str() == g.host_str()
        && port_ok
        && r.path().trim_end_matches('/') == g.path().trim_end_matches('/')
        && r.query() == g.query()
}

/// The user-facing error page, with Entra's wording.
fn page_error(ctx: &RequestCtx, e: &EntraError) -> Response {
    html::error_page(StatusCode::BAD_REQUEST, ctx, e.code, &e.message)
}

/// Sends the app an error through its redirect URI.
pub(crate) fn redirect_error(ctx: &RequestCtx, req: &AuthorizeRequest, e: &EntraError) -> Response {
    let mut fields = vec![
        ("error", e.error.clone()),
        ("error_description", e.description(ctx)),
        (
            "error_uri",
            format!("{}/error?code={}", ctx.base_url(), e.code),
        ),
    ];
    if let Some(s) = &e.suberror {
        fields.push(("suberror", s.clone()));
    }
    if let Some(s) = &req.state {
        fields.push(("state", s.clone()));
    }
    respond_to_app(req, &fields)
}

/// Delivers fields to the app's redirect URI in its response mode.
pub(crate) fn respond_to_app(req: &AuthorizeRequest, fields: &[(&str, String)]) -> Response {
    if req.response_mode == ResponseMode::FormPost {
        return html::form_post_page(&req.redirect_uri, fields);
    }
    let Ok(mut url) = Url::parse(&req.redirect_uri) else {
        return html::page(
            StatusCode::BAD_REQUEST,
            "Sign in",
            "<p class=\"error\">Invalid redirect URI.</p>",
        );
    };
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    match req.response_mode {
        ResponseMode::Fragment => url.set_fragment(Some(&encoded)),
        _ => {
            url.query_pairs_mut()
                .extend_pairs(fields.iter().map(|(k, v)| (*k, v.as_str())));
        }
    }
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(url.as_str()) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// A request that passed the client and redirect URI checks: valid, or an
/// error to send to the redirect URI.
type Checked = Result<(App, AuthorizeRequest), (AuthorizeRequest, EntraError)>;

/// Checks the client and redirect URI (errors shown as a page), then the
/// rest (errors sent to the redirect URI).
fn validate(ctx: &RequestCtx, p: &Params) -> Result<Checked, EntraError> {
    let client_id = p.require("client_id")?;
    let app = ctx.state.0.dir.app(client_id).cloned().ok_or_else(|| {
        EntraError::bad_request("unauthorized_client", 700016, format!("Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", ctx.tenant_segment))
    })?;
    let redirect_uri = match p.get("redirect_uri") {
        Some(given) => {
            if !app.redirect_uris.iter().any(|r| redirect_matches(r, given)) {
                return Err(EntraError::bad_request(
                    "invalid_request",
                    50011,
                    format!(
                        "The redirect URI '{given}' specified in the request does not match the redirect URIs configured for the application '{}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.",
                        app.client_id
                    ),
                ));
            }
            given.to_string()
        }
        None => app.redirect_uris.first().cloned().ok_or_else(|| {
            EntraError::bad_request(
                "invalid_request",
                500113,
                "No reply address is registered for the application.",
            )
        })?,
    };
    let mut req = AuthorizeRequest {
        client_id: app.client_id.clone(),
        redirect_uri,
        response_mode: ResponseMode::Query,
        state: p.get("state").map(str::to_string),
        nonce: p.get("nonce").map(str::to_string),
        scope: String::new(),
        code_challenge: p.get("code_challenge").map(str::to_string),
        code_challenge_method: p.get("code_challenge_method").map(str::to_string),
        prompt: p.get("prompt").map(str::to_ascii_lowercase),
        login_hint: p.get("login_hint").map(str::to_string),
    };
    let invalid = |code: u32, m: String| EntraError::bad_request("invalid_request", code, m);
    match p.get("response_mode") {
        None | Some("query") => {}
        Some("fragment") => req.response_mode = ResponseMode::Fragment,
        Some("form_post") => req.response_mode = ResponseMode::FormPost,
        Some(other) => {
            let e = invalid(
                90023,
                format!(
                    "Invalid response_mode '{other}'. Supported values are query, fragment and form_post."
                ),
            );
            return Ok(Err((req, e)));
        }
    }
    let rest = (|| {
        match p.get("response_type") {
            Some(t) if t.split_whitespace().any(|x| x == "code") => {}
            Some(t) => {
                return Err(EntraError::bad_request(
                    "unsupported_response_type",
                    700054,
                    format!("response_type '{t}' is not enabled for the application."),
                ));
            }
            None => return Err(EntraError::missing("response_type")),
        }
        let scope = p.require("scope")?;
        scopes::parse(&ctx.state.0.dir, &app, scope, true)?;
        req.scope = scope.to_string();
        match (
            req.code_challenge.is_some(),
            req.code_challenge_method.as_deref(),
        ) {
            (_, Some(m)) if m != "S256" && m != "plain" => {
                return Err(invalid(
                    501491,
                    format!(
                        "Invalid code_challenge_method '{m}'. Supported values are S256 and plain."
                    ),
                ));
            }
            (false, _) if app.is_public() => {
                return Err(invalid(9002325, "Proof Key for Code Exchange is required for public clients: send code_challenge with code_challenge_method=S256.".into()));
            }
            (true, m) if app.is_public() && m != Some("S256") => {
                return Err(invalid(
                    9002325,
                    "Public clients must use code_challenge_method=S256.".into(),
                ));
            }
            _ => {}
        }
        if let Some(prompt) = &req.prompt
            && !matches!(
                prompt.as_str(),
                "none" | "login" | "consent" | "select_account" | "create"
            )
        {
            return Err(invalid(90023, format!("Invalid prompt value '{prompt}'.")));
        }
        Ok(())
    })();
    Ok(match rest {
        Ok(()) => Ok((app, req)),
        Err(e) => Err((req, e)),
    })
}

/// `GET|POST /{tenant}/oauth2/v2.0/authorize`.
pub(crate) async fn authorize(ctx: RequestCtx, method: Method, body: Bytes) -> Response {
    let params = if method == Method::POST {
        parse_params(&body)
    } else {
        ctx.query_params()
    };
    let params = match params {
        Ok(p) => p,
        Err(e) => return page_error(&ctx, &e),
    };
    let tenant = match AuthorityTenant::resolve(&ctx.state, &ctx.tenant_segment) {
        Ok(t) => t,
        Err(e) => return page_error(&ctx, &e),
    };
    let (app, req) = match validate(&ctx, &params) {
        Err(e) => return page_error(&ctx, &e),
        Ok(Err((req, e))) => return redirect_error(&ctx, &req, &e),
        Ok(Ok(v)) => v,
    };
    let session_user = ctx
        .cookies
        .get(SESSION_COOKIE)
        .and_then(|id| {
            ctx.state
                .store()
                .sessions
                .get(id)
                .map(|s| s.username.clone())
        })
        .and_then(|u| ctx.state.0.dir.user(&u).cloned())
        .filter(|u| tenant.tenant_for(&ctx.state, u).is_some());
    let prompt = req.prompt.clone().unwrap_or_default();
    let hint_matches = |u: &crate::directory::User| {
        req.login_hint
            .as_deref()
            .is_none_or(|h| h.eq_ignore_ascii_case(&u.username))
    };
    let session_user = session_user.filter(|u| hint_matches(u));
    // A forced interaction_required needs the form, whatever the session.
    let challenge = session_user
        .as_ref()
        .and_then(|u| super::grants::check_interaction(&ctx.state, u, &app.client_id).err());
    let sso_user = session_user.filter(|_| prompt != "login" && challenge.is_none());
    let flow = SignInFlow {
        kind: FlowKind::Authorize(Box::new(req.clone())),
        tenant_segment: ctx.tenant_segment.clone(),
        client_id: app.client_id.clone(),
        scope: req.scope.clone(),
        username: sso_user.as_ref().map(|u| u.username.clone()),
        created: ctx.now,
    };
    if prompt == "none" {
        if let Some(e) = challenge {
            return redirect_error(&ctx, &req, &e);
        }
        let Some(user) = sso_user else {
            let e = EntraError::bad_request(
                "login_required",
                50058,
                "A silent sign-in request was sent but no user is signed in. The cookies used to represent the user's session were not sent in the request to Azure AD.",
            );
            return redirect_error(&ctx, &req, &e);
        };
        if !signin::missing_permissions(&ctx.state, &app, &user.username, &req.scope).is_empty() {
            return redirect_error(
                &ctx,
                &req,
                &crate::tokens::consent_required(&app).with_suberror("consent_required"),
            );
        }
        return signin::complete(&ctx, flow, &user.username, None);
    }
    let flow_id = random_string(24);
    if let Some(user) = sso_user {
        // Signed in already: go straight to consent or the redirect.
        return signin::after_sign_in(&ctx, flow_id, flow, &user.username, None);
    }
    ctx.state.store().flows.insert(flow_id.clone(), flow);
    html::signin_page(&flow_id, &app.name, req.login_hint.as_deref(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_ignore_the_port_only() {
        assert!(redirect_matches(
            "http://localhost",
            "http://localhost:51234"
        ));
        assert!(redirect_matches(
            "http://localhost",
            "http://localhost:51234/"
        ));
        assert!(redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:9/cb"
        ));
        assert!(!redirect_matches(
            "http://localhost/cb",
            "http://localhost:9/other"
        ));
        assert!(!redirect_matches(
            "https://app.example/cb",
            "https://app.example:8443/cb"
        ));
        assert!(!redirect_matches(
            "http://localhost",
            "http://evil.example:80"
        ));
        assert!(!redirect_matches("http://localhost", "not a url"));
    }
}
