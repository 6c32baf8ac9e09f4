//! One test per defect the fuzz targets found (`fuzz/`), through the public
//! API, so each stays fixed even if the corpus file that found it changes.

use msal::cache::TokenCache;

/// cargo-fuzz `cache`: a number too large for a float (`1e400`) was written
/// back as Python writes it (`Infinity`), and the reader refused that
/// document, so the whole cache failed to load after one save. Python's
/// json.loads reads `NaN`, `Infinity` and `-Infinity`, and so must we (an
/// MSAL Python save can hold them).
#[test]
fn python_non_finite_numbers_survive_a_round_trip() {
    let doc = br#"{"AccessToken":{},"Unknown":[1e400,-1e400]}"#;
    let c = TokenCache::deserialize(doc).unwrap();
    let text = String::from_utf8(c.serialize()).unwrap();
    assert!(
        text.contains("Infinity") && text.contains("-Infinity"),
        "{text}"
    );
    let again = TokenCache::deserialize(text.as_bytes()).unwrap();
    assert_eq!(again.serialize(), text.as_bytes());
    let python = b"{\n    \"x\": [\n        NaN,\n        Infinity,\n        -Infinity\n    ]\n}";
    assert_eq!(
        TokenCache::deserialize(python).unwrap().serialize(),
        python.to_vec()
    );
    for bad in [&b"{\"x\": Nan}"[..], b"{\"x\": -Inf}", b"{\"x\": infinity}"] {
        assert!(TokenCache::deserialize(bad).is_err());
    }
}
