//! ID tokens: reading their claims, and the checks MSAL makes on a fresh one.
//!
//! The token comes straight from the token endpoint over TLS, so, like every
//! MSAL, msal does not verify its signature; it checks that it was issued for
//! this app (`aud`), by this authority (`iss`) and, for an interactive
//! sign-in, for this very request (`nonce`).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value};
use url::Url;

use crate::error::{Error, Result};

/// The claims of an ID token (decoded, not verified).
#[derive(Clone, PartialEq)]
pub struct IdTokenClaims(Map<String, Value>);

impl std::fmt::Debug for IdTokenClaims {
    // Claims are personal data: show which are present, not their values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTokenClaims")
            .field("claims", &self.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl IdTokenClaims {
    /// Decodes the payload of a JWT.
    ///
    /// # Errors
    /// [`Error::Protocol`] when `jwt` is not three dot-separated base64url
    /// parts with a JSON object in the middle.
    pub fn decode(jwt: &str) -> Result<Self> {
        let mut parts = jwt.split('.');
        let (Some(_), Some(payload), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::protocol("the ID token is not a JWT"));
        };
        decode_json_object(payload)
            .map(Self)
            .ok_or_else(|| Error::protocol("the ID token payload is not base64url-encoded JSON"))
    }

    /// Every claim, owned.
    pub(crate) fn into_map(self) -> Map<String, Value> {
        self.0
    }

    /// A string claim.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// Every claim.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// `tid`: the tenant that issued the token.
    pub fn tenant_id(&self) -> Option<&str> {
        self.get_str("tid")
    }

    /// `oid`, else `sub`: the user's id in that tenant.
    pub fn object_id(&self) -> Option<&str> {
        self.get_str("oid").or_else(|| self.get_str("sub"))
    }

    /// `preferred_username`, else `upn`, else the first of `emails`.
    pub fn username(&self) -> Option<&str> {
        self.get_str("preferred_username")
            .or_else(|| self.get_str("upn"))
            .or_else(|| {
                self.0
                    .get("emails")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(Value::as_str)
            })
    }

    /// The audiences (`aud`, a string or an array).
    pub fn audiences(&self) -> Vec<&str> {
        match self.0.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

/// Decodes base64url (padded or not; MSAL.NET tolerates the standard
/// alphabet too) JSON that must be an object: a JWT payload, a
/// `client_info`. The one decoder of both.
pub(crate) fn decode_json_object(part: &str) -> Option<Map<String, Value>> {
    let trimmed = part.trim().trim_end_matches('=');
    let bytes = URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| STANDARD_NO_PAD.decode(trimmed))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// What a fresh ID token is checked against.
#[derive(Debug, Clone, Default)]
pub struct Expectations<'a> {
    /// The app's client id (`aud` must contain it).
    pub client_id: &'a str,
    /// The issuer from the authority's metadata (`{tenantid}` is replaced by `tid`).
    pub issuer: Option<&'a str>,
    /// Hosts of the authority's cloud: an Entra issuer on any of them with
    /// path `/<tid>/v2.0` (or `/<tid>/`, v1) is accepted, as MSAL.NET does.
    pub entra_hosts: &'a [String],
    /// The nonce sent with an interactive sign-in.
    pub nonce: Option<&'a str>,
}

/// Decodes `jwt` and checks audience, issuer and nonce.
///
/// # Errors
/// [`Error::Protocol`] saying which check failed.
pub fn validate(jwt: &str, expect: &Expectations<'_>) -> Result<IdTokenClaims> {
    let claims = IdTokenClaims::decode(jwt)?;
    let auds = claims.audiences();
    if !auds
        .iter()
        .any(|a| a.eq_ignore_ascii_case(expect.client_id))
    {
        return Err(Error::protocol(format!(
            "the ID token was issued for another app (aud {auds:?}, expected {})",
            expect.client_id
        )));
    }
    if let Some(issuer) = expect.issuer {
        let iss = claims
            .get_str("iss")
            .ok_or_else(|| Error::protocol("the ID token has no issuer (iss)"))?;
        if !issuer_matches(iss, issuer, claims.tenant_id(), expect.entra_hosts) {
            return Err(Error::protocol(format!(
                "the ID token's issuer {iss} does not match the authority's issuer {issuer}"
            )));
        }
    }
    if let Some(nonce) = expect.nonce
        && claims.get_str("nonce") != Some(nonce) {
            return Err(Error::protocol(
                "the ID token's nonce does not match the sign-in request: it was not issued for this sign-in",
            ));
        }
    Ok(claims)
}

fn issuer_matches(iss: &str, expected: &str, tid: Option<&str>, entra_hosts: &[String]) -> bool {
    let norm = |s: &str| s.trim_end_matches('/').to_ascii_lowercase();
    let expected = match tid {
        Some(t) => expected.replace("{tenantid}", t),
        None => expected.to_owned(),
    };
    if norm(iss) == norm(&expected) {
        return true;
    }
    let (Some(tid), Ok(url)) = (tid, Url::parse(iss)) else {
        return false;
    };
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    if !entra_hosts.contains(&host) {
        return false;
    }
    let path = url.path().trim_end_matches('/').to_ascii_lowercase();
    let tid = tid.to_ascii_lowercase();
    path == format!("/{tid}/v2.0") || path == format!("/{tid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!("eyJhbGciOiJub25lIn0.{}.", URL_SAFE_NO_PAD.encode(claims))
    }

    #[test]
    fn claims_and_their_fallbacks() {
        let c = IdTokenClaims::decode(&jwt(r#"{"sub":"s","upn":"u@x","tid":"t","aud":["a","b"]}"#))
            .unwrap();
        assert_eq!(
            (c.object_id(), c.username(), c.tenant_id()),
            (Some("s"), Some("u@x"), Some("t"))
        );
        assert_eq!(c.audiences(), vec!["a", "b"]);
        let c = IdTokenClaims::decode(&jwt(r#"{"emails":["e@x"]}"#)).unwrap();
        assert_eq!(c.username(), Some("e@x"));
        assert!(!format!("{c:?}").contains("e@x"));
        for bad in [
            "a.b",
            "a.!!!.c",
            &format!("a.{}.c", URL_SAFE_NO_PAD.encode("[1]")),
        ] {
            assert!(IdTokenClaims::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn audience_issuer_and_nonce_checks() {
        let hosts = vec![
            "login.microsoftonline.com".to_owned(),
            "login.windows.net".to_owned(),
        ];
        let token = jwt(
            r#"{"aud":"cid","iss":"https://login.windows.net/tid-1/v2.0","tid":"tid-1","nonce":"n1"}"#,
        );
        let ok = Expectations {
            client_id: "CID",
            issuer: Some("https://login.microsoftonline.com/{tenantid}/v2.0"),
            entra_hosts: &hosts,
            nonce: Some("n1"),
        };
        assert!(validate(&token, &ok).is_ok());
        let e = validate(
            &token,
            &Expectations {
                nonce: Some("n2"),
                ..ok.clone()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("nonce"), "{e}");
        let e = validate(
            &token,
            &Expectations {
                client_id: "other",
                ..ok.clone()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("another app"), "{e}");
        let e = validate(
            &token,
            &Expectations {
                entra_hosts: &[],
                ..ok.clone()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("issuer"), "{e}");
        let exact = Expectations {
            issuer: Some("https://login.windows.net/tid-1/v2.0/"),
            entra_hosts: &[],
            ..ok.clone()
        };
        assert!(validate(&token, &exact).is_ok());
        let wrong_tenant = jwt(
            r#"{"aud":"cid","iss":"https://login.windows.net/evil/v2.0","tid":"tid-1","nonce":"n1"}"#,
        );
        assert!(validate(&wrong_tenant, &ok).is_err());
    }
}
