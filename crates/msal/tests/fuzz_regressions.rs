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

/// cargo-fuzz `authority`: a CIAM authority without a tenant in its path
/// takes the tenant from its host, and a URL host may hold characters a
/// path percent-encodes (`` ` ``, `{`, `}`, `"`). `https://o`o.ciamlogin.com/`
/// became `https://o`o.ciamlogin.com/o`o.onmicrosoft.com`, which parses to
/// the tenant `o%60o.onmicrosoft.com`: the canonical form named another
/// tenant. Such a host names no tenant and is refused; a tenant in the path
/// still works.
#[test]
fn ciam_host_that_names_no_tenant_is_refused() {
    use msal::Error;
    use msal::authority::{Authority, AuthorityKind};

    for bad in [
        "https://o`o.ciamlogin.com/",
        "https://o{o.ciamlogin.com",
        "https://o}o.ciamlogin.com/",
        "https://o\"o.ciamlogin.com/",
        "https://o_o.ciamlogin.com/",
    ] {
        match Authority::parse(bad) {
            Err(Error::Config(_)) => {}
            other => panic!("{bad}: {other:?}"),
        }
    }
    let a = Authority::parse("https://Contoso-2.ciamlogin.com/").unwrap();
    assert_eq!(a.kind(), AuthorityKind::Ciam);
    assert_eq!(
        a.as_str(),
        "https://contoso-2.ciamlogin.com/contoso-2.onmicrosoft.com"
    );
    assert_eq!(Authority::parse(a.as_str()).unwrap(), a);
    // A tenant in the path does not depend on the host's first label.
    let a = Authority::parse("https://o`o.ciamlogin.com/contoso.onmicrosoft.com").unwrap();
    assert_eq!(a.tenant(), "contoso.onmicrosoft.com");
    assert_eq!(Authority::parse(a.as_str()).unwrap(), a);
}
