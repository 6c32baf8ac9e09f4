//! Scopes: validation and the decoration of user-flow requests (spec §4.1).

use crate::error::{Error, Result};

/// The scopes msal adds to every user-flow request. Passing one yourself is
/// an error, as in MSAL Python.
pub const RESERVED: [&str; 3] = ["offline_access", "openid", "profile"];

/// Checks that each scope is a non-empty string without whitespace.
///
/// # Errors
/// [`Error::Config`] naming the bad scope.
pub fn validate<S: AsRef<str>>(scopes: &[S]) -> Result<()> {
    for s in scopes {
        let s = s.as_ref();
        if s.is_empty() || s.chars().any(char::is_whitespace) {
            return Err(Error::config(format!(
                "{s:?} is not a scope: scopes are non-empty and have no spaces"
            )));
        }
    }
    Ok(())
}

/// The scopes a user flow sends: `scopes` plus `openid`, `profile` and
/// `offline_access`, sorted by code point, duplicates removed.
///
/// # Errors
/// [`Error::Config`] when a scope is malformed or is one of [`RESERVED`].
pub fn decorate<S: AsRef<str>>(scopes: &[S]) -> Result<Vec<String>> {
    validate(scopes)?;
    let mut out: Vec<String> = Vec::with_capacity(scopes.len() + 3);
    for s in scopes {
        let s = s.as_ref();
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s)) {
            return Err(Error::config(format!(
                "{s:?} is added by msal to every sign-in; do not pass openid, profile or offline_access yourself"
            )));
        }
        out.push(s.to_owned());
    }
    out.extend(RESERVED.iter().map(|r| (*r).to_owned()));
    out.sort();
    out.dedup();
    Ok(out)
}

/// The scopes an app-token request sends (no decoration), sorted.
///
/// # Errors
/// [`Error::Config`] when a scope is malformed or none is given.
pub fn plain(mut scopes: Vec<String>) -> Result<Vec<String>> {
    validate(&scopes)?;
    if scopes.is_empty() {
        return Err(Error::config(
            "at least one scope is required, e.g. https://graph.microsoft.com/.default",
        ));
    }
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// The `scope` parameter: scopes joined with single spaces.
pub fn join(scopes: &[String]) -> String {
    scopes.join(" ")
}

/// The scopes of a token: the response's `scope`, or else what was requested.
pub fn granted(scope: Option<&str>, requested: &[String]) -> Vec<String> {
    match scope.map(str::split_whitespace) {
        Some(parts) => {
            let v: Vec<String> = parts.map(str::to_owned).collect();
            if v.is_empty() { requested.to_vec() } else { v }
        }
        None => requested.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoration_adds_reserved_scopes_sorted() {
        assert_eq!(
            decorate(&["User.Read", "Mail.Read", "User.Read"]).unwrap(),
            vec![
                "Mail.Read",
                "User.Read",
                "offline_access",
                "openid",
                "profile"
            ]
        );
        assert_eq!(
            decorate::<&str>(&[]).unwrap(),
            vec!["offline_access", "openid", "profile"]
        );
        assert_eq!(
            join(&decorate(&["a"]).unwrap()),
            "a offline_access openid profile"
        );
    }

    #[test]
    fn reserved_and_malformed_scopes_are_rejected() {
        for bad in [&["openid"][..], &["Offline_Access"], &[""], &["a b"]] {
            assert!(matches!(decorate(bad), Err(Error::Config(_))), "{bad:?}");
        }
        assert!(plain(Vec::new()).is_err());
        assert_eq!(plain(vec!["b".into(), "a".into()]).unwrap(), vec!["a", "b"]);
    }

    #[test]
    fn granted_falls_back_to_requested() {
        let req = vec!["x".to_owned()];
        assert_eq!(granted(Some("a  b"), &req), vec!["a", "b"]);
        assert_eq!(granted(Some(" "), &req), req);
        assert_eq!(granted(None, &req), req);
    }
}
