//! Scope parsing as Entra v2 does it: OpenID scopes, scopes of one resource
//! (qualified `api://x/scope`, or bare names of the default resource, as
//! bare names mean Microsoft Graph), `<resource>/.default`; and consent.

use std::collections::BTreeSet;

use crate::directory::{Api, App, Directory};
use crate::entra_error::EntraError;

/// OpenID Connect scopes Entra handles itself.
const OIDC: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// A parsed `scope` parameter.
#[derive(Clone, Debug, Default)]
pub(crate) struct ScopeSet {
    /// OpenID scopes, lower case, in request order.
    pub(crate) oidc: Vec<String>,
    /// The resource's app id, if any resource scope was asked.
    pub(crate) api: Option<String>,
    /// Resource scope names, canonical case (empty with `.default`).
    pub(crate) scopes: Vec<String>,
    /// `<resource>/.default` was asked.
    pub(crate) default: bool,
    /// That `.default` scope as the request spelled it: Entra echoes it in
    /// the response's `scope`, which is what clients cache and look up.
    pub(crate) default_scope: Option<String>,
    /// Further resources (authorize only: consented, not issued).
    pub(crate) other_resources: Vec<(String, Vec<String>)>,
}

impl ScopeSet {
    pub(crate) fn has(&self, oidc: &str) -> bool {
        self.oidc.iter().any(|s| s == oidc)
    }
}

fn invalid_scope(code: u32, message: String) -> EntraError {
    EntraError::bad_request("invalid_scope", code, message)
}

/// Parses a scope string. `multi_resource` allows several resources (the
/// authorize endpoint consents to all and issues for the first); the token
/// endpoint refuses them with AADSTS28000 as Entra does.
pub(crate) fn parse(
    dir: &Directory,
    client: &App,
    raw: &str,
    multi_resource: bool,
) -> Result<ScopeSet, EntraError> {
    let mut set = ScopeSet::default();
    for s in raw.split_whitespace() {
        let lower = s.to_ascii_lowercase();
        if OIDC.contains(&lower.as_str()) {
            if !set.oidc.contains(&lower) {
                set.oidc.push(lower);
            }
            continue;
        }
        let (api, name): (&Api, Option<String>) = if let Some(resource) =
            s.strip_suffix("/.default")
        {
            let api = dir
                .api_by_resource(resource)
                .ok_or_else(|| resource_not_found(resource, client))?;
            (api, None)
        } else if let Some((resource, name)) = s.rsplit_once('/') {
            let api = dir
                .api_by_resource(resource)
                .ok_or_else(|| resource_not_found(resource, client))?;
            (api, Some(name.to_string()))
        } else {
            let api = dir.default_api().ok_or_else(|| {
                invalid_scope(
                    70011,
                    format!("The provided value for the input parameter 'scope' is not valid. The scope '{s}' is not valid."),
                )
            })?;
            (api, Some(s.to_string()))
        };
        let canonical = match &name {
            Some(n) => Some(
                api.scope(n)
                    .ok_or_else(|| {
                        invalid_scope(
                            650053,
                            format!(
                                "The application '{}' asked for scope '{}' that doesn't exist on the resource '{}'. Contact the app vendor.",
                                client.name, n, api.app_id
                            ),
                        )
                    })?
                    .to_string(),
            ),
            None => None,
        };
        match &set.api {
            None => {
                set.api = Some(api.app_id.clone());
                push_scope(&mut set, canonical, s)?;
            }
            Some(current) if *current == api.app_id => push_scope(&mut set, canonical, s)?,
            Some(_) if multi_resource => {
                let entry = match set
                    .other_resources
                    .iter_mut()
                    .find(|(a, _)| *a == api.app_id)
                {
                    Some(e) => e,
                    None => {
                        set.other_resources.push((api.app_id.clone(), Vec::new()));
                        let last = set.other_resources.len() - 1;
                        &mut set.other_resources[last]
                    }
                };
                if let Some(c) = canonical {
                    entry.1.push(c);
                }
            }
            Some(_) => {
                return Err(invalid_scope(
                    28000,
                    format!(
                        "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope {raw} is not valid."
                    ),
                ));
            }
        }
    }
    Ok(set)
}

fn push_scope(set: &mut ScopeSet, canonical: Option<String>, raw: &str) -> Result<(), EntraError> {
    match canonical {
        None => {
            set.default = true;
            if set.default_scope.is_none() {
                set.default_scope = Some(raw.to_owned());
            }
        }
        Some(c) => {
            if !set.scopes.contains(&c) {
                set.scopes.push(c);
            }
        }
    }
    if set.default && !set.scopes.is_empty() {
        return Err(invalid_scope(
            70011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope '{raw}' cannot be combined with the '/.default' scope of the same resource."
            ),
        ));
    }
    Ok(())
}

fn resource_not_found(resource: &str, client: &App) -> EntraError {
    EntraError::bad_request(
        "invalid_resource",
        500011,
        format!(
            "The resource principal named {resource} was not found in the tenant. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant. (app '{}')",
            client.client_id
        ),
    )
}

/// Delegated scopes already granted to `client` for `api` (admin consent
/// plus what `user_consents` recorded).
pub(crate) fn consented(
    client: &App,
    api: &str,
    user_consents: Option<&BTreeSet<String>>,
) -> BTreeSet<String> {
    let mut s: BTreeSet<String> = client
        .delegated
        .get(api)
        .map(|v| v.iter().cloned().collect())
        .unwrap_or_default();
    if let Some(u) = user_consents {
        s.extend(u.iter().cloned());
    }
    s
}

/// The scopes of `set` not yet consented.
pub(crate) fn missing_consent(set: &ScopeSet, granted: &BTreeSet<String>) -> Vec<String> {
    set.scopes
        .iter()
        .filter(|s| !granted.contains(*s))
        .cloned()
        .collect()
}

/// `scope` as the token response spells it: the granted resource scopes
/// (bare for the default resource, qualified otherwise), the `.default`
/// scope as requested (Entra echoes it:
/// `https://management.core.windows.net//user_impersonation https://management.core.windows.net//.default`),
/// then the OpenID scopes asked for, except `offline_access`.
pub(crate) fn response_scope(
    api: Option<&Api>,
    granted: &[String],
    default_scope: Option<&str>,
    oidc: &[String],
) -> String {
    let mut out: Vec<String> = Vec::new();
    if let Some(api) = api {
        for s in granted {
            if api.default_resource {
                out.push(s.clone());
            } else {
                out.push(format!("{}/{}", api.primary_uri().trim_end_matches('/'), s));
            }
        }
        if let Some(d) = default_scope {
            out.push(d.to_owned());
        }
    }
    for o in oidc {
        if o != "offline_access" {
            out.push(o.clone());
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EmulatorConfig;
    use crate::defaults::*;

    fn setup() -> Directory {
        Directory::build(&EmulatorConfig::default()).unwrap()
    }

    #[test]
    fn scopes_resolve_to_one_resource() {
        let dir = setup();
        let app = dir.app(CLI_APP_ID).unwrap().clone();
        let s = parse(&dir, &app, "openid profile offline_access user.read", false).unwrap();
        assert_eq!(s.api.as_deref(), Some(GRAPH_APP_ID));
        assert_eq!(s.scopes, vec!["User.Read"]);
        assert_eq!(s.oidc, vec!["openid", "profile", "offline_access"]);
        let s = parse(&dir, &app, "api://msal-emulator-web-api/.default", false).unwrap();
        assert!(s.default);
        assert_eq!(s.api.as_deref(), Some(WEB_API_APP_ID));
        let e = parse(
            &dir,
            &app,
            "User.Read api://msal-emulator-web-api/access_as_user",
            false,
        )
        .unwrap_err();
        assert_eq!(e.code, 28000);
        let e = parse(&dir, &app, "Nope.Read", false).unwrap_err();
        assert_eq!(e.code, 650053);
        let e = parse(&dir, &app, "api://unknown/x", false).unwrap_err();
        assert_eq!(e.error, "invalid_resource");
        let multi = parse(
            &dir,
            &app,
            "User.Read api://msal-emulator-web-api/access_as_user",
            true,
        )
        .unwrap();
        assert_eq!(multi.other_resources.len(), 1);
    }

    #[test]
    fn response_scope_is_spelled_like_entra() {
        let dir = setup();
        let graph = dir.api(GRAPH_APP_ID).unwrap();
        let oidc = vec![
            "openid".to_string(),
            "offline_access".to_string(),
            "profile".to_string(),
        ];
        assert_eq!(
            response_scope(Some(graph), &["User.Read".into()], None, &oidc),
            "User.Read openid profile"
        );
        let api = dir.api(WEB_API_APP_ID).unwrap();
        assert_eq!(
            response_scope(Some(api), &["access_as_user".into()], None, &[]),
            "api://msal-emulator-web-api/access_as_user"
        );
        // A `.default` request is echoed as it was spelled.
        let app = dir.app(CLI_APP_ID).unwrap().clone();
        let set = parse(
            &dir,
            &app,
            "openid API://msal-emulator-web-api/.default",
            false,
        )
        .unwrap();
        assert_eq!(
            set.default_scope.as_deref(),
            Some("API://msal-emulator-web-api/.default")
        );
        assert_eq!(
            response_scope(
                Some(api),
                &["access_as_user".into()],
                set.default_scope.as_deref(),
                &set.oidc
            ),
            "api://msal-emulator-web-api/access_as_user API://msal-emulator-web-api/.default openid"
        );
    }
}
