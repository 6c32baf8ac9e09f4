//! The `client_info` of a token response: base64url JSON with `uid` and `utid`.

use crate::error::Error;
use crate::protocol::id_token::decode_json_object;

/// Decoded `client_info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The user's object id in the home tenant.
    pub uid: Option<String>,
    /// The home tenant id.
    pub utid: Option<String>,
}

impl ClientInfo {
    /// `<uid>.<utid>` when both are present.
    pub fn home_account_id(&self) -> Option<String> {
        match (&self.uid, &self.utid) {
            (Some(uid), Some(utid)) => Some(format!("{uid}.{utid}")),
            _ => None,
        }
    }
}

fn as_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Decodes a `client_info` value.
///
/// # Errors
/// [`Error::Protocol`] when it is not base64url JSON object.
pub fn decode(client_info: &str) -> Result<ClientInfo, Error> {
    let map = decode_json_object(client_info)
        .ok_or_else(|| Error::protocol("client_info is not base64url-encoded JSON"))?;
    Ok(ClientInfo {
        uid: map.get("uid").and_then(as_text),
        utid: map.get("utid").and_then(as_text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_spec_example() {
        let ci = decode("eyJ1aWQiOiIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMGExMWMiLCJ1dGlkIjoiMDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMGYxIn0").unwrap();
        assert_eq!(
            ci.home_account_id().unwrap(),
            "00000000-0000-0000-0000-00000000a11c.00000000-0000-0000-0000-0000000000f1"
        );
    }

    #[test]
    fn partial_and_bad_values() {
        use base64::Engine as _;
        let only_uid = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"uid":"u"}"#);
        let ci = decode(&only_uid).unwrap();
        assert_eq!(ci.uid.as_deref(), Some("u"));
        assert_eq!(ci.home_account_id(), None);
        assert!(decode("not base64!").is_err());
        let array = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"[1]");
        assert!(decode(&array).is_err());
    }
}
