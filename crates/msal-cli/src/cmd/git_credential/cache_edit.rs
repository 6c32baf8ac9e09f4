//! Removing one access token from a cache document, every other byte left
//! as it was written (the other MSALs and the Azure CLI may share the file,
//! and its writers keep a key order and layout of their own).

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::value::RawValue;
use zeroize::Zeroizing;

/// A JSON object's members in document order, values unparsed.
struct Ordered<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Ordered<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Ordered<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &'a RawValue>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

#[derive(Deserialize)]
struct Secret<'a> {
    #[serde(borrow)]
    secret: Option<std::borrow::Cow<'a, str>>,
}

/// Where `inner` lies in `outer` (it is a slice of it).
fn span(outer: &str, inner: &str) -> Option<(usize, usize)> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    let end = start.checked_add(inner.len())?;
    (end <= outer.len()).then_some((start, end))
}

/// `doc` without the `AccessToken` entries whose secret is `secret`;
/// `None` when it holds none (or is not a cache document).
pub(crate) fn without_access_token(doc: &[u8], secret: &str) -> Option<Zeroizing<Vec<u8>>> {
    let text = std::str::from_utf8(doc).ok()?;
    let top: Ordered<'_> = serde_json::from_str(text).ok()?;
    let (_, section) = top.0.iter().find(|(k, _)| k == "AccessToken")?;
    let entries: Ordered<'_> = serde_json::from_str(section.get()).ok()?;
    let (sec_start, sec_end) = span(text, section.get())?;
    // Each entry's value span, in the whole document.
    let mut values = Vec::with_capacity(entries.0.len());
    for (_, v) in &entries.0 {
        // Every slice borrows from `text`.
        values.push(span(text, v.get())?);
    }
    let keep: Vec<bool> = entries
        .0
        .iter()
        .map(|(_, v)| {
            serde_json::from_str::<Secret<'_>>(v.get())
                .ok()
                .and_then(|s| s.secret)
                .is_none_or(|s| s != secret)
        })
        .collect();
    if keep.iter().all(|k| *k) {
        return None;
    }
    // Where each entry's key starts: the first byte after the previous
    // value (or the brace) that is not white space or a comma.
    let bytes = text.as_bytes();
    let key_start = |from: usize| -> usize {
        let mut i = from;
        while i < sec_end && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
            i += 1;
        }
        i
    };
    let mut starts = Vec::with_capacity(values.len());
    let mut from = sec_start + 1;
    for (_, end) in &values {
        starts.push(key_start(from));
        from = *end;
    }
    let mut section_out = String::from("{");
    let kept: Vec<usize> = (0..values.len()).filter(|i| keep[*i]).collect();
    if !kept.is_empty() {
        // The layout around the entries, as written: after the brace,
        // between two entries, before the closing brace.
        let lead = &text[sec_start + 1..starts[0]];
        let between = if values.len() > 1 {
            &text[values[0].1..starts[1]]
        } else {
            ","
        };
        let trail = &text[values[values.len() - 1].1..sec_end - 1];
        section_out.push_str(lead);
        for (n, i) in kept.iter().enumerate() {
            if n > 0 {
                section_out.push_str(between);
            }
            section_out.push_str(&text[starts[*i]..values[*i].1]);
        }
        section_out.push_str(trail);
    }
    section_out.push('}');
    let mut out = Zeroizing::new(Vec::with_capacity(doc.len()));
    out.extend_from_slice(&bytes[..sec_start]);
    out.extend_from_slice(section_out.as_bytes());
    out.extend_from_slice(&bytes[sec_end..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MSAL Python's layout (indent 4, its key order).
    const DOC: &str = r#"{
    "AccessToken": {
        "k1": {
            "credential_type": "AccessToken",
            "secret": "tok-1",
            "target": "499b84ac-1321-427f-aa17-267ca6975798/.default"
        },
        "k2": {
            "credential_type": "AccessToken",
            "secret": "tok-2"
        },
        "k3": {
            "credential_type": "AccessToken",
            "secret": "tok-3"
        }
    },
    "RefreshToken": {
        "r": {
            "secret": "tok-1"
        }
    },
    "AppMetadata": {}
}"#;

    fn without(doc: &str, secret: &str) -> Option<String> {
        without_access_token(doc.as_bytes(), secret).map(|d| String::from_utf8(d.to_vec()).unwrap())
    }

    #[test]
    fn one_entry_goes_and_every_other_byte_stays() {
        for (gone, key) in [("tok-1", "k1"), ("tok-2", "k2"), ("tok-3", "k3")] {
            let out = without(DOC, gone).unwrap();
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert!(v["AccessToken"].get(key).is_none(), "{out}");
            assert_eq!(v["AccessToken"].as_object().unwrap().len(), 2);
            assert_eq!(
                v["RefreshToken"]["r"]["secret"], "tok-1",
                "only access tokens go"
            );
            // Byte for byte what Python would write for the smaller cache.
            let mut expected: serde_json::Value = serde_json::from_str(DOC).unwrap();
            expected["AccessToken"].as_object_mut().unwrap().remove(key);
            assert_eq!(v, expected);
            assert!(out.contains("\n        \"k"), "layout kept: {out}");
            assert!(
                !out.contains(",\n    }") && !out.contains("{\n        ,"),
                "{out}"
            );
        }
        assert_eq!(without(DOC, "tok-9"), None);
        assert_eq!(without(DOC, "tok-"), None, "whole secrets only");
    }

    #[test]
    fn the_last_entry_leaves_an_empty_section() {
        let one = r#"{"AccessToken": {"k": {"secret": "s"}}, "Account": {}}"#;
        assert_eq!(
            without(one, "s").unwrap(),
            r#"{"AccessToken": {}, "Account": {}}"#
        );
        let compact =
            r#"{"AccessToken":{"a":{"secret":"x"},"b":{"secret":"s"},"c":{"secret":"y"}}}"#;
        assert_eq!(
            without(compact, "s").unwrap(),
            r#"{"AccessToken":{"a":{"secret":"x"},"c":{"secret":"y"}}}"#
        );
        let two_gone = r#"{"AccessToken": {"a": {"secret": "s"}, "b": {"secret": "s"}, "c": {}}}"#;
        assert_eq!(
            without(two_gone, "s").unwrap(),
            r#"{"AccessToken": {"c": {}}}"#
        );
    }

    #[test]
    fn what_is_not_a_cache_is_left_alone() {
        for bad in [
            "",
            "[]",
            "{\"AccessToken\": []}",
            "{\"AccessToken\": {\"k\": 1",
            "\u{0}",
        ] {
            assert_eq!(without(bad, "s"), None, "{bad:?}");
        }
    }
}
