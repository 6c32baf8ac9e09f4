//! Scope strings: what is stored as `target`, and how a request matches it.

/// Splits a space-separated scope string (any run of whitespace, as
/// Python's `str.split()`).
pub fn split(scope: &str) -> impl Iterator<Item = &str> {
    scope.split_whitespace()
}

/// The stored `target`: scopes sorted by code point (case-sensitively, as
/// MSAL Python does), joined with single spaces, duplicates kept.
pub fn target<S: AsRef<str>>(scopes: &[S]) -> String {
    let mut v: Vec<&str> = scopes.iter().map(AsRef::as_ref).collect();
    v.sort_unstable();
    v.join(" ")
}

/// Whether every requested scope is in `target`, ignoring ASCII case (a
/// deliberate difference from MSAL Python, spec section 11), Graph's
/// scopes qualified or bare ([`same_scope`]).
pub fn is_subset(requested: &[&str], target: &str) -> bool {
    requested.iter().all(|r| {
        split(target).any(|t| t.eq_ignore_ascii_case(r))
            || graph_scope(r).is_some_and(|g| split(target).any(|t| same_graph_scope(g, t)))
    })
}

/// Graph's resource URIs (every cloud's) and its app id, as a scope's prefix.
const GRAPH_RESOURCES: [&str; 6] = [
    "https://graph.microsoft.com/",
    "https://graph.microsoft.us/",
    "https://dod-graph.microsoft.us/",
    "https://microsoftgraph.chinacloudapi.cn/",
    "https://canary.graph.microsoft.com/",
    "00000003-0000-0000-c000-000000000000/",
];

/// The OpenID Connect scopes: never Graph's, whatever their spelling.
const OIDC: [&str; 4] = ["openid", "profile", "offline_access", "email"];

/// A scope as (Graph resource it is qualified with, its bare name); `None`
/// for a scope that is not Graph's. Bare scopes are Graph's (Graph is
/// Entra's default resource); the app id stands for Graph in any cloud,
/// written `Some("")` like a bare scope.
fn graph_scope(scope: &str) -> Option<(&str, &str)> {
    if !scope.contains('/') && !scope.contains(':') {
        let oidc = OIDC.iter().any(|o| o.eq_ignore_ascii_case(scope));
        return (!oidc && !scope.is_empty()).then_some(("", scope));
    }
    GRAPH_RESOURCES.iter().find_map(|prefix| {
        let head = scope.get(..prefix.len())?;
        let name = scope.get(prefix.len()..)?;
        let bare = !name.is_empty()
            && !name.contains('/')
            && !name.starts_with('.')
            && !OIDC.iter().any(|o| o.eq_ignore_ascii_case(name));
        (head.eq_ignore_ascii_case(prefix) && bare).then(|| {
            let resource = if prefix.starts_with("https://") { head } else { "" };
            (resource, name)
        })
    })
}

/// Whether a requested scope is a stored one: the same ASCII
/// case-insensitively, or the same Graph scope, one spelled bare
/// (`User.Read`) or with Graph's app id and the other qualified with any of
/// Graph's resource URIs (`https://graph.microsoft.com/User.Read`), or both
/// with the same URI. Entra answers a request for
/// `https://graph.microsoft.com/User.Read` with `"scope": "User.Read"`, so
/// without this every later silent call for the qualified scope would miss.
/// Nothing else matches loosely: other resources' scopes, `.default`, and
/// the OpenID Connect scopes compare exactly.
// The lookups apply the rule to whole scope sets; this one-scope form states
// it for the tests.
#[cfg_attr(not(test), allow(dead_code))]
pub fn same_scope(requested: &str, stored: &str) -> bool {
    if requested.eq_ignore_ascii_case(stored) {
        return true;
    }
    graph_scope(requested).is_some_and(|g| same_graph_scope(g, stored))
}

/// Whether `stored` is the Graph scope `(resource, name)` of [`graph_scope`].
fn same_graph_scope((ra, rn): (&str, &str), stored: &str) -> bool {
    graph_scope(stored).is_some_and(|(sa, sn)| {
        rn.eq_ignore_ascii_case(sn)
            && (ra.is_empty() || sa.is_empty() || ra.eq_ignore_ascii_case(sa))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_sorts_by_code_point() {
        assert_eq!(
            target(&["User.Read", "Mail.Read", "openid", "profile", "email"]),
            "Mail.Read User.Read email openid profile"
        );
        assert_eq!(target(&["b", "a", "b"]), "a b b");
        assert_eq!(target::<&str>(&[]), "");
    }

    #[test]
    fn subset_ignores_case_and_order() {
        assert!(is_subset(
            &["user.read", "MAIL.READ"],
            "Mail.Read User.Read email"
        ));
        assert!(is_subset(&[], "x"));
        assert!(!is_subset(&["Files.Read"], "Mail.Read User.Read"));
        assert!(!is_subset(&["read"], "Mail.Read"));
    }

    #[test]
    fn graph_scopes_match_qualified_or_bare_and_nothing_else_does() {
        for (requested, stored) in [
            ("https://graph.microsoft.com/User.Read", "User.Read"),
            ("User.Read", "https://graph.microsoft.com/User.Read"),
            ("HTTPS://GRAPH.MICROSOFT.COM/user.read", "User.Read"),
            ("https://graph.microsoft.us/User.Read", "User.Read"),
            ("https://dod-graph.microsoft.us/Mail.Read", "mail.read"),
            ("https://microsoftgraph.chinacloudapi.cn/User.Read", "User.Read"),
            ("https://canary.graph.microsoft.com/User.Read", "User.Read"),
            ("00000003-0000-0000-c000-000000000000/User.Read", "User.Read"),
            (
                "00000003-0000-0000-c000-000000000000/User.Read",
                "https://graph.microsoft.us/User.Read",
            ),
            ("User.Read", "https://canary.graph.microsoft.com/User.Read"),
        ] {
            assert!(same_scope(requested, stored), "{requested} ~ {stored}");
            assert!(
                is_subset(&[requested], &format!("openid {stored} profile")),
                "{requested} in {stored}"
            );
        }
        for (requested, stored) in [
            // Another resource, or Graph's host in another cloud.
            ("api://contoso/User.Read", "User.Read"),
            ("https://contoso.com/User.Read", "User.Read"),
            ("https://graph.microsoft.com/User.Read", "api://contoso/User.Read"),
            ("https://graph.microsoft.com/User.Read", "https://graph.microsoft.us/User.Read"),
            // A look-alike host, a path, a missing slash.
            ("https://graph.microsoft.com.evil/User.Read", "User.Read"),
            ("https://graph.microsoft.comUser.Read", "User.Read"),
            ("https://graph.microsoft.com/v1/User.Read", "User.Read"),
            ("http://graph.microsoft.com/User.Read", "User.Read"),
            // .default and the OpenID Connect scopes stay exact.
            ("https://graph.microsoft.com/.default", ".default"),
            ("https://graph.microsoft.com/openid", "openid"),
            ("openid", "https://graph.microsoft.com/openid"),
            ("https://graph.microsoft.com/", ""),
            // Another scope.
            ("https://graph.microsoft.com/User.Read", "User.ReadWrite"),
        ] {
            assert!(!same_scope(requested, stored), "{requested} !~ {stored}");
            assert!(!same_scope(stored, requested), "{stored} !~ {requested}");
        }
    }
}
