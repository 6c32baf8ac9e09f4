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
/// deliberate difference from MSAL Python, spec section 11).
pub fn is_subset(requested: &[&str], target: &str) -> bool {
    requested
        .iter()
        .all(|r| split(target).any(|t| t.eq_ignore_ascii_case(r)))
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
}
