//! The `claims` request parameter: a claims challenge from a resource, merged
//! with the app's client capabilities (`xms_cc`), as every MSAL does.

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// The `claims` parameter to send, if any: `challenge` (a JSON object) with
/// `{"access_token":{"xms_cc":{"values":[capabilities]}}}` merged in.
///
/// # Errors
/// [`Error::Config`] when `challenge` is not a JSON object.
pub fn merge(challenge: Option<&str>, capabilities: &[String]) -> Result<Option<String>> {
    let mut root = match challenge.map(str::trim).filter(|c| !c.is_empty()) {
        None => Map::new(),
        Some(c) => match serde_json::from_str::<Value>(c) {
            Ok(Value::Object(m)) => m,
            _ => return Err(Error::config("the claims challenge is not a JSON object")),
        },
    };
    if !capabilities.is_empty() {
        let at = root
            .entry("access_token")
            .or_insert_with(|| Value::Object(Map::new()));
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        if let Value::Object(at) = at {
            at.insert("xms_cc".to_owned(), json!({ "values": capabilities }));
        }
    }
    if root.is_empty() {
        Ok(None)
    } else {
        Ok(Some(Value::Object(root).to_string()))
    }
}

/// The `claims` parameter for claims the client sends itself (`client`, a
/// JSON object) with `merged` (a challenge and the capabilities, from
/// [`merge`]) laid over it member by member.
///
/// # Errors
/// [`Error::Config`] when `client` is not a JSON object.
pub fn with_client_claims(client: &str, merged: Option<&str>) -> Result<String> {
    let Ok(Value::Object(mut root)) = serde_json::from_str::<Value>(client.trim()) else {
        return Err(Error::config("the client claims are not a JSON object"));
    };
    if let Some(Ok(Value::Object(over))) = merged.map(serde_json::from_str::<Value>) {
        for (name, value) in over {
            match (root.get_mut(&name), value) {
                (Some(Value::Object(mine)), Value::Object(theirs)) => mine.extend(theirs),
                (_, value) => {
                    root.insert(name, value);
                }
            }
        }
    }
    Ok(Value::Object(root).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_alone_and_merged_with_a_challenge() {
        assert_eq!(merge(None, &[]).unwrap(), None);
        let caps = vec!["cp1".to_owned()];
        assert_eq!(
            merge(None, &caps).unwrap().unwrap(),
            r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#
        );
        let challenge = r#"{"access_token":{"nbf":{"essential":true,"value":"1700000000"}},"id_token":{"x":null}}"#;
        let merged: Value =
            serde_json::from_str(&merge(Some(challenge), &caps).unwrap().unwrap()).unwrap();
        assert_eq!(merged["access_token"]["nbf"]["value"], "1700000000");
        assert_eq!(merged["access_token"]["xms_cc"]["values"][0], "cp1");
        assert!(merged["id_token"].is_object());
        assert_eq!(
            merge(Some(challenge), &[])
                .unwrap()
                .map(|s| s.contains("nbf")),
            Some(true)
        );
    }

    #[test]
    fn a_challenge_that_is_not_an_object_is_rejected() {
        assert!(matches!(merge(Some("[1]"), &[]), Err(Error::Config(_))));
        assert!(matches!(merge(Some("{"), &[]), Err(Error::Config(_))));
    }

    #[test]
    fn client_claims_with_capabilities_and_a_challenge() {
        let client = r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#;
        assert_eq!(with_client_claims(client, None).unwrap(), client);
        let merged = merge(Some(r#"{"id_token":{"acr":null}}"#), &["cp2".to_owned()])
            .unwrap()
            .unwrap();
        let v: Value =
            serde_json::from_str(&with_client_claims(client, Some(&merged)).unwrap()).unwrap();
        assert_eq!(v["access_token"]["xms_cc"]["values"][0], "cp2");
        assert!(v["id_token"]["acr"].is_null());
        assert!(v["id_token"].as_object().unwrap().contains_key("acr"));
        assert!(matches!(
            with_client_claims("[]", None),
            Err(Error::Config(_))
        ));
    }
}
