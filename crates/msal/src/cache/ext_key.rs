//! Extended access-token keys (`atext`): the hash of a request's extra
//! cache-key parts (spec `extended-keys.md`).
//!
//! A token acquired with extra parts (a federated managed identity path,
//! claims the client sends) is stored as an extended entry: key
//! `<usual key>-<hash>`, `ext_cache_key` = the hash. Two hash forms exist:
//! the current one (MSAL Python >= 1.35, Go >= 1.8, Java 1.25.1), which
//! msal-rs writes, and MSAL.NET's (4.86), which msal-rs also accepts on read.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::Digest as _;

/// The name MSAL Python hashes a federated managed identity path under.
pub const FMI_PATH: &str = "fmi_path";
/// The name MSAL Python hashes the claims the client sends under.
pub const CLIENT_CLAIMS: &str = "client_claims";

/// The extra cache-key parts of one request, hashed in both forms.
#[derive(Clone, PartialEq, Eq)]
pub struct ExtCacheKey {
    hash: String,
    legacy: String,
}

impl std::fmt::Debug for ExtCacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtCacheKey")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl ExtCacheKey {
    /// The key of `parts` (name, value); `None` when every value is empty
    /// (no parts = a normal entry). A name given twice keeps its last value.
    pub fn from_parts<'a>(parts: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<Self> {
        let mut sorted: Vec<(&str, &str)> = Vec::new();
        for (k, v) in parts {
            sorted.retain(|(x, _)| *x != k);
            if !v.is_empty() {
                sorted.push((k, v));
            }
        }
        if sorted.is_empty() {
            return None;
        }
        // `str`'s order is UTF-8 byte order, which is code-point order.
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Some(Self {
            hash: hash(&sorted),
            legacy: legacy_hash(&sorted),
        })
    }

    /// The current form, as written in `ext_cache_key` and the key.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// MSAL.NET 4.86's form (case kept; lower-cased only inside a key).
    pub fn legacy(&self) -> &str {
        &self.legacy
    }
}

fn sha256_b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(text.as_bytes()))
}

/// `"{len(k)}:{k}{len(v)}:{v}"` over sorted parts (UTF-8 byte lengths),
/// SHA-256, base64url without padding, lower-cased.
pub fn hash(sorted: &[(&str, &str)]) -> String {
    let mut pre = String::new();
    for (k, v) in sorted {
        pre.push_str(&format!("{}:{k}{}:{v}", k.len(), v.len()));
    }
    sha256_b64(&pre).to_ascii_lowercase()
}

/// MSAL.NET: `k1v1k2v2` over sorted parts, SHA-256, base64url without padding.
pub fn legacy_hash(sorted: &[(&str, &str)]) -> String {
    let mut pre = String::new();
    for (k, v) in sorted {
        pre.push_str(k);
        pre.push_str(v);
    }
    sha256_b64(&pre)
}

/// The current-form hash of an entry's parts object (MSAL.NET's `ext`,
/// MSAL Node's `additionalCacheKeyComponents`): string members as they are,
/// other values as their JSON text. `None` for an empty or unreadable object.
pub(crate) fn hash_of_object(text: &str) -> Option<String> {
    let serde_json::Value::Object(map) = serde_json::from_str(text).ok()? else {
        return None;
    };
    let owned: Vec<(String, String)> = map
        .into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect();
    ExtCacheKey::from_parts(owned.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map(|e| e.hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vectors_of_msal_python_and_dotnet() {
        let fmi = ExtCacheKey::from_parts([(FMI_PATH, "SomeFmiPath/FmiCredentialPath")]).unwrap();
        assert_eq!(fmi.hash(), "cojvfy5tzae3njpkvcebguvvx5vvmnj8hphqrbogjoi");
        assert_eq!(fmi.legacy(), "zm2n0E62zwTsnNsozptLsoOoB_C7i-GfpxHYQQINJUw");
        let umlaut = ExtCacheKey::from_parts([(FMI_PATH, "pfad/über")]).unwrap();
        assert_eq!(umlaut.hash(), "ohqubbdkpcyhj90wjnd1oxwxuuztuhoiizv1p7c-fai");
        assert_eq!(
            umlaut.legacy(),
            "zpOhQqveO8wiWlMyenqG5BdrXKKywwjU47KcBDhuup4"
        );
        let claims = r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#;
        let cc = ExtCacheKey::from_parts([(CLIENT_CLAIMS, claims)]).unwrap();
        assert_eq!(cc.hash(), "ufkrp6x6uqhekqstpnte50ge_vuyadeoxl5le6sdweo");
        assert_eq!(cc.legacy(), "UDKl_PANbIDaPzNdE2wmdz_mqGLJljaOy1L-nl9DJKQ");
        // Two parts, given in either order: sorted by name first.
        let acr = r#"{"id_token":{"acr":null}}"#;
        for parts in [
            [(FMI_PATH, "A/B"), (CLIENT_CLAIMS, acr)],
            [(CLIENT_CLAIMS, acr), (FMI_PATH, "A/B")],
        ] {
            let both = ExtCacheKey::from_parts(parts).unwrap();
            assert_eq!(both.hash(), "eyxcifpjab5et-vvhum7u33mj0p6tyqu5wp6mdrm5zk");
            assert_eq!(both.legacy(), "aBMZOLlGg4UbiXvgZ5OtOxTfwXOTtcyhUB6R-wobZ9o");
        }
    }

    #[test]
    fn empty_values_are_dropped_and_no_parts_is_no_key() {
        assert_eq!(ExtCacheKey::from_parts([(FMI_PATH, "")]), None);
        assert_eq!(ExtCacheKey::from_parts([]), None);
        assert_eq!(
            ExtCacheKey::from_parts([(FMI_PATH, "x"), (CLIENT_CLAIMS, "")]),
            ExtCacheKey::from_parts([(FMI_PATH, "x")])
        );
        // Lengths keep `ab`+`c` and `a`+`bc` apart in the current form.
        assert_ne!(
            ExtCacheKey::from_parts([("ab", "c")]).unwrap().hash(),
            ExtCacheKey::from_parts([("a", "bc")]).unwrap().hash()
        );
    }

    #[test]
    fn a_parts_object_hashes_like_the_request() {
        assert_eq!(
            hash_of_object(r#"{"fmi_path": "SomeFmiPath/FmiCredentialPath"}"#).as_deref(),
            Some("cojvfy5tzae3njpkvcebguvvx5vvmnj8hphqrbogjoi")
        );
        assert_eq!(hash_of_object("{}"), None);
        assert_eq!(hash_of_object("[1]"), None);
    }

    #[test]
    fn the_query_memo_tells_requests_with_and_without_parts_apart() {
        use crate::cache::{AccessTokenQuery, TokenCache};
        let fmi = ExtCacheKey::from_parts([(FMI_PATH, "A/B")]).unwrap();
        let doc = format!(
            r#"{{"AccessToken": {{"-h-atext-c-r-s-{h}": {{"credential_type": "AccessToken",
            "secret": "EXT", "environment": "h", "client_id": "c", "realm": "r", "target": "s",
            "expires_on": "2000", "ext_cache_key": "{h}"}}}}}}"#,
            h = fmi.hash()
        );
        let cache = TokenCache::deserialize(doc.as_bytes()).unwrap();
        let plain = AccessTokenQuery {
            client_id: "c",
            environments: &["h"],
            realms: &["r"],
            scopes: &["s"],
            ..AccessTokenQuery::default()
        };
        let with = AccessTokenQuery {
            ext_cache_key: Some(fmi.hash()),
            ..plain
        };
        let legacy_only = AccessTokenQuery {
            ext_cache_key_legacy: Some(fmi.legacy()),
            ..plain
        };
        // Each query right after the other: the first is memoized.
        assert!(cache.find_shared_token(&plain, 1000).is_none());
        assert!(cache.find_shared_token(&with, 1000).is_some());
        assert!(cache.find_shared_token(&plain, 1000).is_none());
        let cache = TokenCache::deserialize(doc.as_bytes()).unwrap();
        assert!(cache.find_shared_token(&with, 1000).is_some());
        assert!(cache.find_shared_token(&plain, 1000).is_none());
        assert!(cache.find_shared_token(&legacy_only, 1000).is_none());
    }
}
