//! Entry keys exactly as MSAL Python builds them (spec section 2.2).
//!
//! Components are joined with `-`, a missing one is the empty string, and
//! the whole key is lower-cased (Unicode), except the AppMetadata key.

fn join_lower(parts: &[&str]) -> String {
    parts.join("-").to_lowercase()
}

/// `<hai>-<env>-accesstoken-<cid>-<realm>-<target>`, or with an extra
/// cache-key hash `<hai>-<env>-atext-<cid>-<realm>-<target>-<hash>`.
pub fn access_token(
    home_account_id: Option<&str>,
    environment: &str,
    client_id: &str,
    realm: &str,
    target: &str,
    ext_cache_key: Option<&str>,
) -> String {
    let hai = home_account_id.unwrap_or("");
    match ext_cache_key.filter(|k| !k.is_empty()) {
        Some(ext) => join_lower(&[hai, environment, "atext", client_id, realm, target, ext]),
        None => join_lower(&[hai, environment, "AccessToken", client_id, realm, target]),
    }
}

/// The key of an access token of another scheme than Bearer (`mtls_pop`,
/// `pop`, `ssh-cert`), as MSAL.NET keys them:
/// `<hai>-<env>-accesstoken_with_authscheme-<cid>-<realm>-<target>-<token_type>`.
/// A Bearer lookup never meets it, nor overwrites it.
pub fn access_token_with_auth_scheme(
    home_account_id: Option<&str>,
    environment: &str,
    client_id: &str,
    realm: &str,
    target: &str,
    token_type: &str,
) -> String {
    join_lower(&[
        home_account_id.unwrap_or(""),
        environment,
        ACCESS_TOKEN_WITH_AUTH_SCHEME,
        client_id,
        realm,
        target,
        token_type,
    ])
}

/// The credential type of an access token of another scheme than Bearer.
pub const ACCESS_TOKEN_WITH_AUTH_SCHEME: &str = "AccessToken_With_AuthScheme";

/// Whether `token_type` is another scheme than Bearer (keyed by
/// [`access_token_with_auth_scheme`]).
pub fn is_auth_scheme(token_type: Option<&str>) -> bool {
    token_type.is_some_and(|t| !t.is_empty() && !t.eq_ignore_ascii_case("bearer"))
}

/// `<hai>-<env>-refreshtoken-<cid>--<target>` (the realm slot is always empty).
pub fn refresh_token(
    home_account_id: Option<&str>,
    environment: &str,
    client_id: &str,
    target: Option<&str>,
) -> String {
    join_lower(&[
        home_account_id.unwrap_or(""),
        environment,
        "RefreshToken",
        client_id,
        "",
        target.unwrap_or(""),
    ])
}

/// `<hai>-<env>-idtoken-<cid>-<realm>-` (a trailing empty target slot).
pub fn id_token(
    home_account_id: Option<&str>,
    environment: &str,
    client_id: &str,
    realm: &str,
) -> String {
    join_lower(&[
        home_account_id.unwrap_or(""),
        environment,
        "IdToken",
        client_id,
        realm,
        "",
    ])
}

/// `<hai>-<env>-<realm>`.
pub fn account(home_account_id: Option<&str>, environment: &str, realm: &str) -> String {
    join_lower(&[home_account_id.unwrap_or(""), environment, realm])
}

/// `appmetadata-<env>-<cid>`, not lower-cased.
pub fn app_metadata(environment: &str, client_id: &str) -> String {
    format!("appmetadata-{environment}-{client_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HAI: &str = "00000000-0000-0000-0000-00000000a11c.00000000-0000-0000-0000-0000000000f1";
    const ENV: &str = "login.microsoftonline.com";
    const CID: &str = "00000000-0000-0000-0000-00000000c1d0";
    const REALM: &str = "00000000-0000-0000-0000-0000000000f1";
    const TARGET: &str = "Mail.Read User.Read email openid profile";

    #[test]
    fn access_token_key() {
        assert_eq!(
            access_token(Some(HAI), ENV, CID, REALM, TARGET, None),
            "00000000-0000-0000-0000-00000000a11c.00000000-0000-0000-0000-0000000000f1-login.microsoftonline.com-accesstoken-00000000-0000-0000-0000-00000000c1d0-00000000-0000-0000-0000-0000000000f1-mail.read user.read email openid profile"
        );
    }

    #[test]
    fn app_access_token_key_starts_with_a_dash() {
        assert_eq!(
            access_token(
                None,
                ENV,
                CID,
                REALM,
                "https://graph.microsoft.com/.default",
                None
            ),
            "-login.microsoftonline.com-accesstoken-00000000-0000-0000-0000-00000000c1d0-00000000-0000-0000-0000-0000000000f1-https://graph.microsoft.com/.default"
        );
    }

    #[test]
    fn access_token_key_with_ext_cache_key() {
        assert_eq!(
            access_token(Some("U.T"), ENV, "C", "R", "a B", Some("HaSh")),
            "u.t-login.microsoftonline.com-atext-c-r-a b-hash"
        );
        assert_eq!(
            access_token(Some("U.T"), ENV, "C", "R", "a B", Some("")),
            "u.t-login.microsoftonline.com-accesstoken-c-r-a b"
        );
    }

    #[test]
    fn refresh_token_key() {
        assert_eq!(
            refresh_token(Some(HAI), ENV, CID, Some(TARGET)),
            "00000000-0000-0000-0000-00000000a11c.00000000-0000-0000-0000-0000000000f1-login.microsoftonline.com-refreshtoken-00000000-0000-0000-0000-00000000c1d0--mail.read user.read email openid profile"
        );
        assert_eq!(
            refresh_token(Some("u.t"), ENV, "c", None),
            "u.t-login.microsoftonline.com-refreshtoken-c--"
        );
    }

    #[test]
    fn id_token_key() {
        assert_eq!(
            id_token(Some(HAI), ENV, CID, REALM),
            "00000000-0000-0000-0000-00000000a11c.00000000-0000-0000-0000-0000000000f1-login.microsoftonline.com-idtoken-00000000-0000-0000-0000-00000000c1d0-00000000-0000-0000-0000-0000000000f1-"
        );
    }

    #[test]
    fn account_key() {
        assert_eq!(
            account(Some(HAI), ENV, REALM),
            "00000000-0000-0000-0000-00000000a11c.00000000-0000-0000-0000-0000000000f1-login.microsoftonline.com-00000000-0000-0000-0000-0000000000f1"
        );
    }

    #[test]
    fn app_metadata_key_keeps_case() {
        assert_eq!(
            app_metadata(ENV, CID),
            "appmetadata-login.microsoftonline.com-00000000-0000-0000-0000-00000000c1d0"
        );
        assert_eq!(
            app_metadata(ENV, "MyApp"),
            "appmetadata-login.microsoftonline.com-MyApp"
        );
    }

    #[test]
    fn unicode_lowercase_like_python() {
        // Python applies Final_Sigma too: "\u{c9}Z.\u{3a3}-H-R".lower() == "\u{e9}z.\u{3c2}-h-r".
        assert_eq!(
            account(Some("\u{c9}Z.\u{3a3}"), "H", "R"),
            "\u{e9}z.\u{3c2}-h-r"
        );
        assert_eq!(account(Some("\u{3a3}"), "", ""), "\u{3c3}--");
    }
}
