//! The authorization request (the URL the browser opens) and the redirect
//! that comes back with a code or an error.

use url::Url;

use crate::error::{Error, ServiceError};
use crate::pkce::CHALLENGE_METHOD;
use crate::secret::AuthorizationCode;

/// The `prompt` of an interactive sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Prompt {
    /// No prompt when a session exists (`prompt=none`): fails instead of asking.
    None,
    /// Always ask for credentials (`prompt=login`).
    Login,
    /// Let the user pick an account (`prompt=select_account`).
    SelectAccount,
    /// Ask for consent again (`prompt=consent`).
    Consent,
    /// Offer to create an account (`prompt=create`).
    Create,
}

impl Prompt {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Login => "login",
            Self::SelectAccount => "select_account",
            Self::Consent => "consent",
            Self::Create => "create",
        }
    }
}

/// How the identity provider sends the code back to the loopback listener
/// (`response_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResponseMode {
    /// In the redirect URL's query (`response_mode=query`): the code shows in
    /// the browser's address bar and history. For providers that cannot post.
    Query,
    /// In the body of a POST the browser makes to the redirect URI
    /// (`response_mode=form_post`): the code never appears in a URL. The
    /// default of the interactive flow.
    #[default]
    FormPost,
}

impl ResponseMode {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::FormPost => "form_post",
        }
    }
}

/// What goes into the authorization URL.
#[derive(Debug, Clone, Default)]
pub struct AuthorizationParams<'a> {
    /// The app.
    pub client_id: &'a str,
    /// Where the code comes back.
    pub redirect_uri: &'a str,
    /// The decorated scopes, space-joined.
    pub scope: &'a str,
    /// The anti-forgery value echoed in the redirect.
    pub state: &'a str,
    /// Echoed in the ID token.
    pub nonce: &'a str,
    /// The PKCE `S256` challenge.
    pub code_challenge: &'a str,
    /// `prompt`.
    pub prompt: Option<Prompt>,
    /// `login_hint`.
    pub login_hint: Option<&'a str>,
    /// `domain_hint`.
    pub domain_hint: Option<&'a str>,
    /// `claims` (already merged with client capabilities).
    pub claims: Option<&'a str>,
    /// Extra query parameters.
    pub extra: &'a [(String, String)],
    /// `response_mode`; `None` sends `query`.
    pub response_mode: Option<ResponseMode>,
}

/// The authorization URL for `params` on `endpoint` (its own query kept).
pub fn authorization_url(endpoint: &Url, p: &AuthorizationParams<'_>) -> Url {
    let mut url = endpoint.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", p.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", p.redirect_uri)
            .append_pair("scope", p.scope)
            .append_pair("state", p.state)
            .append_pair("nonce", p.nonce)
            .append_pair("code_challenge", p.code_challenge)
            .append_pair("code_challenge_method", CHALLENGE_METHOD)
            .append_pair(
                "response_mode",
                p.response_mode.unwrap_or(ResponseMode::Query).as_str(),
            )
            .append_pair("client_info", "1");
        if let Some(pr) = p.prompt {
            q.append_pair("prompt", pr.as_str());
        }
        for (k, v) in [
            ("login_hint", p.login_hint),
            ("domain_hint", p.domain_hint),
            ("claims", p.claims),
        ] {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
        for (k, v) in p.extra {
            q.append_pair(k, v);
        }
    }
    url
}

/// What the redirect carried.
#[derive(Debug)]
pub enum Redirect {
    /// A code to redeem.
    Code {
        /// The authorization code.
        code: AuthorizationCode,
        /// The echoed state.
        state: Option<String>,
    },
    /// The identity provider refused (or the user cancelled).
    Error {
        /// The OAuth error.
        error: Box<ServiceError>,
        /// The echoed state.
        state: Option<String>,
    },
    /// Neither a code nor an error (a favicon request, a stray visit).
    Other,
}

/// Reads a redirect's query string.
pub fn parse_redirect(query: &str) -> Redirect {
    let mut code = None;
    let mut state = None;
    let mut err = None;
    let mut description = None;
    let mut suberror = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => state = Some(v.into_owned()),
            "error" => err = Some(v.into_owned()),
            "error_description" => description = Some(v.into_owned()),
            "error_subcode" | "suberror" => suberror = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some(e) = err {
        let mut se = ServiceError::new(e);
        se.description = description;
        se.suberror = suberror;
        return Redirect::Error {
            error: Box::new(se),
            state,
        };
    }
    match code {
        Some(c) if !c.is_empty() => Redirect::Code {
            code: AuthorizationCode::new(c),
            state,
        },
        _ => Redirect::Other,
    }
}

/// The error for a redirect that carried an OAuth error: the user declining
/// (`access_denied`) is a cancellation, `interaction_required` & co. with
/// `prompt=none` are [`Error::UiRequired`], the rest service errors.
///
/// Azure AD B2C also answers `access_denied` when a user flow asks the app
/// to act, e.g. `AADB2C90118` (the user chose "forgot password": start the
/// password-reset flow). Those stay [`Error::Service`] with their description
/// so the app can read the code; B2C's own cancel (`AADB2C90091`) is a
/// cancellation.
pub fn redirect_error(e: ServiceError) -> Error {
    if e.error == "access_denied" {
        let description = e.description.as_deref().unwrap_or("");
        if description.contains("AADB2C") && !description.contains("AADB2C90091") {
            return super::errors::from_service(e);
        }
        return Error::Cancelled(if description.is_empty() {
            "the user declined the sign-in (access_denied)".into()
        } else {
            format!("the user declined the sign-in (access_denied: {description})")
        });
    }
    super::errors::from_service(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b2c_forgot_password_stays_a_service_error() {
        let redirect = |q: &str| match parse_redirect(q) {
            Redirect::Error { error, .. } => redirect_error(*error),
            _ => panic!("not an error redirect: {q}"),
        };
        let e = redirect(
            "error=access_denied&error_description=AADB2C90118%3A+The+user+has+forgotten+their+password.&state=s",
        );
        assert!(
            matches!(&e, Error::Service(s) if s.description.as_deref().is_some_and(|d| d.starts_with("AADB2C90118"))),
            "{e:?}"
        );
        let e = redirect(
            "error=access_denied&error_description=AADB2C90091%3A+The+user+has+cancelled+entering+self-asserted+information.&state=s",
        );
        assert!(
            matches!(&e, Error::Cancelled(m) if m.contains("AADB2C90091")),
            "{e:?}"
        );
        let e = redirect("error=access_denied&state=s");
        assert!(matches!(&e, Error::Cancelled(_)), "{e:?}");
    }

    #[test]
    fn url_has_pkce_state_nonce_and_hints() {
        let ep = Url::parse("https://login.example/t/oauth2/v2.0/authorize?x=1").unwrap();
        let extra = vec![("slice".to_owned(), "a b".to_owned())];
        let u = authorization_url(
            &ep,
            &AuthorizationParams {
                client_id: "cid",
                redirect_uri: "http://localhost:1234",
                scope: "User.Read openid",
                state: "st",
                nonce: "no",
                code_challenge: "ch",
                prompt: Some(Prompt::SelectAccount),
                login_hint: Some("ada@contoso.com"),
                domain_hint: None,
                claims: None,
                extra: &extra,
                response_mode: None,
            },
        );
        let q: Vec<(String, String)> = u.query_pairs().into_owned().collect();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("x"), Some("1"));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(get("prompt"), Some("select_account"));
        assert_eq!(get("login_hint"), Some("ada@contoso.com"));
        assert_eq!(get("redirect_uri"), Some("http://localhost:1234"));
        assert_eq!(get("slice"), Some("a b"));
        assert_eq!(get("domain_hint"), None);
        assert_eq!(get("response_mode"), Some("query"));
    }

    #[test]
    fn redirects() {
        match parse_redirect("code=abc&state=s1&session_state=x") {
            Redirect::Code { code, state } => {
                assert_eq!(code.expose_secret(), "abc");
                assert_eq!(state.as_deref(), Some("s1"));
            }
            other => panic!("{other:?}"),
        }
        match parse_redirect("error=access_denied&error_description=User+cancelled&state=s") {
            Redirect::Error { error, .. } => {
                assert!(matches!(redirect_error(*error), Error::Cancelled(_)));
            }
            other => panic!("{other:?}"),
        }
        match parse_redirect("error=interaction_required") {
            Redirect::Error { error, .. } => assert!(redirect_error(*error).is_ui_required()),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_redirect(""), Redirect::Other));
        assert!(matches!(parse_redirect("code="), Redirect::Other));
    }
}
