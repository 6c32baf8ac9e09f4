//! ID token claims, decoded without validation (as every MSAL does for the
//! cache: the token came straight from the token endpoint over TLS).

use crate::error::Error;

/// The claims (payload) of a JWT.
///
/// # Errors
/// [`Error::Protocol`] when the value is not three dot-separated parts with
/// a base64url JSON object in the middle.
pub fn claims(jwt: &str) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    let mut parts = jwt.split('.');
    let payload = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(p), Some(_), None) => p,
        _ => return Err(Error::protocol("id_token is not a JWT")),
    };
    super::client_info::decode_json_object(payload)
        .ok_or_else(|| Error::protocol("id_token payload is not base64url-encoded JSON"))
}

/// A string claim.
pub(crate) fn str_claim<'a>(
    claims: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'a str> {
    claims.get(name).and_then(serde_json::Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_spec_example() {
        let jwt = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJhdWQiOiIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMGMxZDAiLCJpc3MiOiJodHRwczovL2xvZ2luLm1pY3Jvc29mdG9ubGluZS5jb20vMDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMGYxL3YyLjAiLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNjAwLCJuYW1lIjoiQWxpY2UgRXhhbXBsZSIsIm9pZCI6IjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwYTExYyIsInByZWZlcnJlZF91c2VybmFtZSI6ImFsaWNlQGNvbnRvc28uZXhhbXBsZSIsInN1YiI6ImZha2UtcGFpcndpc2Utc3ViamVjdCIsInRpZCI6IjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDBmMSIsInZlciI6IjIuMCJ9.";
        let c = claims(jwt).unwrap();
        assert_eq!(
            str_claim(&c, "preferred_username"),
            Some("alice@contoso.example")
        );
        assert_eq!(
            str_claim(&c, "oid"),
            Some("00000000-0000-0000-0000-00000000a11c")
        );
        assert_eq!(c.get("iat").and_then(|v| v.as_i64()), Some(1_700_000_000));
    }

    #[test]
    fn rejects_non_jwts() {
        assert!(claims("abc").is_err());
        assert!(claims("a.b").is_err());
        assert!(claims("a.!!!.c").is_err());
        assert!(claims("a.b.c.d").is_err());
    }
}
